//! `shadowtap catalog check`: what a catalogue holds, and what could not be used.
//!
//! Per document: the API (title, version, spec version), where it is served (hosts and path
//! prefixes, after any `[catalogue] hosts` mapping), every operation with its flags, and every
//! part that was skipped with the JSON pointer and the reason. Exit status 1 when anything was
//! skipped or a file could not be loaded, so the command works as a CI gate for spec changes.

use analyzer::catalogue::{Catalogue, Operation, Security, SpecVersion};
use anyhow::Result;
use clap::Subcommand;
use std::collections::BTreeSet;
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum CatalogCommand {
    /// List the APIs, operations and hosts loaded, and everything skipped with the reason.
    Check {
        #[arg(required = true, value_name = "FILE|DIR")]
        paths: Vec<PathBuf>,
        /// Extra folder the documents' `$ref`s may read from, besides the folders given and
        /// those of the files given (repeatable). References that resolve anywhere else are
        /// refused.
        #[arg(long = "catalog-root", value_name = "DIR")]
        catalog_root: Vec<PathBuf>,
        /// Configuration file (TOML) whose `[catalogue]` section (host mapping, retired
        /// versions) is applied before listing.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Only the per-API summary, not every operation.
        #[arg(long)]
        brief: bool,
    },
}

fn spec_label(v: SpecVersion) -> &'static str {
    match v {
        SpecVersion::Swagger2 => "Swagger 2.0",
        SpecVersion::OpenApi30 => "OpenAPI 3.0",
        SpecVersion::OpenApi31 => "OpenAPI 3.1",
        SpecVersion::Grpc => "gRPC (protobuf)",
        SpecVersion::Wsdl => "WSDL 1.1 (SOAP)",
    }
}

fn operation_line(op: &Operation) -> String {
    let mut flags = Vec::new();
    if op.deprecated {
        flags.push("deprecated".to_string());
    }
    match &op.security {
        Security::None => flags.push("no auth".into()),
        Security::Required(s) => flags.push(format!("auth {}", s.join("|"))),
        Security::Optional(s) => flags.push(format!("auth optional {}", s.join("|"))),
    }
    if !op.request_body.is_empty() {
        flags.push(format!(
            "request {}",
            op.request_body
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(",")
        ));
    }
    let hosts = if op.hosts.is_empty() {
        "*".to_string()
    } else {
        op.hosts.join(",")
    };
    format!(
        "{:<7} {}  [{}]{}  on {hosts}",
        op.method,
        op.path,
        flags.join("; "),
        op.operation_id
            .as_deref()
            .map(|id| format!(" ({id})"))
            .unwrap_or_default(),
    )
}

fn print_catalogue(cat: &Catalogue, brief: bool) {
    for (i, api) in cat.apis.iter().enumerate() {
        let ops: Vec<&Operation> = cat.operations.iter().filter(|o| o.api == i).collect();
        println!("{}", api.source);
        println!(
            "  API        {} {} ({}){}{}",
            api.title,
            api.version,
            spec_label(api.spec_version),
            if api.retired { ", RETIRED" } else { "" },
            if api.host_mapped {
                ", hosts mapped by config"
            } else {
                ""
            }
        );
        let servers: Vec<String> = api
            .servers
            .iter()
            .map(|s| format!("{}{}", s.host.as_deref().unwrap_or("*"), s.prefix))
            .collect();
        println!("  servers    {}", servers.join("  "));
        if api.servers.iter().any(|s| s.host.is_none()) {
            println!(
                "             (* = relative server URL: matches any host; name the real hosts \
                 with [[catalogue.hosts]] in the config)"
            );
        }
        let deprecated = ops.iter().filter(|o| o.deprecated).count();
        println!(
            "  operations {}{}",
            ops.len(),
            if deprecated > 0 {
                format!(" ({deprecated} deprecated)")
            } else {
                String::new()
            }
        );
        if !brief {
            for op in &ops {
                println!("    {}", operation_line(op));
            }
        }
        let skipped: Vec<_> = cat
            .problems
            .iter()
            .filter(|p| p.source == api.source)
            .collect();
        if !skipped.is_empty() {
            println!("  skipped    {}", skipped.len());
            for p in skipped {
                println!("    {}: {}", p.pointer, p.message);
            }
        }
    }
}

pub fn run(cmd: CatalogCommand) -> Result<u8> {
    match cmd {
        CatalogCommand::Check {
            paths,
            catalog_root,
            config,
            brief,
        } => {
            let cfg = super::config::Config::load(config.as_deref())?;
            let mut loaded = collector::catalogue_files::load_catalogue_with(
                &paths,
                &super::common::catalogue_options(&catalog_root),
            )?;
            super::baseline::apply_catalogue_config(&mut loaded.catalogue, &cfg.catalogue);
            let cat = &loaded.catalogue;
            print_catalogue(cat, brief);
            // Problems in documents pulled in through `$ref` belong to no API line above.
            let sources: BTreeSet<&str> = cat.apis.iter().map(|a| a.source.as_str()).collect();
            for p in cat
                .problems
                .iter()
                .filter(|p| !sources.contains(p.source.as_str()))
            {
                println!("skipped: {} at {}: {}", p.source, p.pointer, p.message);
            }
            for e in &loaded.errors {
                println!("not loaded: {e}");
            }
            let hosts = cat.hosts();
            println!(
                "\n{} APIs, {} operations, {} hosts ({}); {} skipped, {} files not loaded",
                cat.apis.len(),
                cat.operations.len(),
                hosts.len(),
                if hosts.is_empty() {
                    "none named: every server is relative".to_string()
                } else {
                    hosts.iter().cloned().collect::<Vec<_>>().join(", ")
                },
                cat.problems.len(),
                loaded.errors.len()
            );
            Ok(if cat.problems.is_empty() && loaded.errors.is_empty() {
                0
            } else {
                super::EXIT_ERROR
            })
        }
    }
}
