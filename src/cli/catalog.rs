//! `shadowtap catalog check`: what a catalogue holds, and what could not be used.

use anyhow::Result;
use clap::Subcommand;
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum CatalogCommand {
    /// List the APIs, operations and hosts loaded, and everything skipped with the reason.
    Check {
        #[arg(required = true, value_name = "FILE|DIR")]
        paths: Vec<PathBuf>,
    },
}

pub fn run(cmd: CatalogCommand) -> Result<u8> {
    match cmd {
        CatalogCommand::Check { paths } => {
            let loaded = collector::catalogue_files::load_catalogue(&paths)?;
            let cat = &loaded.catalogue;
            for (i, api) in cat.apis.iter().enumerate() {
                let ops = cat.operations.iter().filter(|o| o.api == i).count();
                let servers: Vec<String> = api
                    .servers
                    .iter()
                    .map(|s| format!("{}{}", s.host.as_deref().unwrap_or("*"), s.prefix))
                    .collect();
                println!(
                    "{} {} ({}): {ops} operations, servers {}",
                    api.title,
                    api.version,
                    api.source,
                    servers.join(" ")
                );
            }
            println!(
                "{} APIs, {} operations",
                cat.apis.len(),
                cat.operations.len()
            );
            for p in &cat.problems {
                println!("skipped: {} at {}: {}", p.source, p.pointer, p.message);
            }
            for e in &loaded.errors {
                println!("not loaded: {e}");
            }
            Ok(if cat.problems.is_empty() && loaded.errors.is_empty() {
                0
            } else {
                super::EXIT_ERROR
            })
        }
    }
}
