//! `shadowtap export`: a saved inventory (from `scan --save-inventory`), or the fleet's from a
//! collector (`--collector URL`), in the formats asset tools import. The input is "an inventory
//! plus a catalogue" (`analyzer::export::Snapshot`); the collector's `/v1/export/{format}` runs
//! the same renderers on its merged inventory and catalogue.

use super::common;
use analyzer::export::{
    render_backstage, render_csv, render_cyclonedx, render_ndjson, render_openapi, Snapshot,
};
use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use std::path::PathBuf;

#[derive(Clone, Copy, ValueEnum)]
pub enum ExportFormat {
    /// One row per endpoint for CMDB imports (RFC 4180, formula-safe).
    Csv,
    /// One JSON object per endpoint per line.
    Ndjson,
    /// OpenAPI 3.1 (JSON) describing the undeclared endpoints, to adopt shadow APIs.
    Openapi,
    /// CycloneDX 1.6 JSON with the APIs as services.
    Cyclonedx,
    /// Backstage catalog entities (multi-document YAML).
    Backstage,
    /// The inventory file itself, as `scan --save-inventory` writes it (what `compare` reads).
    Inventory,
}

#[derive(Args)]
pub struct ExportArgs {
    #[arg(long, value_enum)]
    format: ExportFormat,
    /// Inventory saved by `shadowtap scan --save-inventory` (`-` reads standard input).
    #[arg(
        long,
        value_name = "FILE",
        required_unless_present = "collector",
        conflicts_with = "collector"
    )]
    inventory: Option<PathBuf>,
    /// Export the fleet's inventory from this collector (https://HOST:PORT) instead, matched
    /// against the collector's catalogue. Needs --ca and the API token.
    #[arg(long, value_name = "URL", requires = "ca")]
    collector: Option<String>,
    /// With --collector: CA certificate that signed the collector's certificate (PEM).
    #[arg(long, value_name = "FILE")]
    ca: Option<PathBuf>,
    /// With --collector: file holding the API bearer token (else $SHADOWTAP_API_TOKEN).
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// Re-match against these OpenAPI documents instead of the catalogue used at scan time.
    #[arg(
        long = "catalog",
        value_name = "FILE|DIR",
        conflicts_with = "collector"
    )]
    catalog: Vec<PathBuf>,
    /// Extra folder the catalogue's `$ref`s may read from, besides the catalogue's own folders
    /// (repeatable). References that resolve anywhere else are refused.
    #[arg(long = "catalog-root", value_name = "DIR")]
    catalog_root: Vec<PathBuf>,
    /// Configuration file (TOML): its `[catalogue]` section (host mappings, retired versions,
    /// `[[catalogue.owners]]` overrides) applies to the catalogue given with `--catalog`.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Write here instead of stdout.
    #[arg(long, value_name = "PATH")]
    out: Option<PathBuf>,
}

impl ExportFormat {
    /// The format's name, as `/v1/export/{format}` takes it.
    fn name(self) -> &'static str {
        match self {
            ExportFormat::Csv => "csv",
            ExportFormat::Ndjson => "ndjson",
            ExportFormat::Openapi => "openapi",
            ExportFormat::Cyclonedx => "cyclonedx",
            ExportFormat::Backstage => "backstage",
            ExportFormat::Inventory => "inventory",
        }
    }
}

pub fn run(args: ExportArgs) -> Result<u8> {
    if let Some(out) = &args.out {
        common::check_output(out)?;
    }
    if let (Some(url), Some(ca)) = (&args.collector, &args.ca) {
        let access = super::report::CollectorAccess {
            collector: url.clone(),
            ca: ca.clone(),
            token_file: args.token_file.clone(),
        };
        let path = format!("/v1/export/{}", args.format.name());
        let resp = access.fetch("export", "GET", &path, b"")?;
        common::write_output(args.out.as_deref(), &resp.body)?;
        return Ok(0);
    }
    let Some(inventory) = &args.inventory else {
        super::usage!("export: give --inventory FILE (or - for standard input), or --collector URL with --ca FILE");
    };
    let text = common::read_input(inventory, "inventory")?;
    let mut snapshot =
        Snapshot::from_json(&text).with_context(|| format!("reading {}", inventory.display()))?;
    if !args.catalog.is_empty() {
        let config = super::config::Config::load(args.config.as_deref())?;
        let mut catalogue = common::load_catalogue(&args.catalog, &args.catalog_root)?;
        super::baseline::apply_catalogue_config(&mut catalogue, &config.catalogue);
        snapshot = snapshot.rematch(&catalogue);
    } else if args.config.is_some() {
        anyhow::bail!(
            "--config applies to the catalogue of --catalog; without --catalog the inventory \
             keeps the catalogue (and owners) it was saved with"
        );
    }
    let rendered = match args.format {
        ExportFormat::Csv => render_csv(&snapshot),
        ExportFormat::Ndjson => render_ndjson(&snapshot),
        ExportFormat::Openapi => render_openapi(&snapshot),
        ExportFormat::Cyclonedx => render_cyclonedx(&snapshot),
        ExportFormat::Backstage => render_backstage(&snapshot),
        ExportFormat::Inventory => snapshot.to_json(),
    };
    common::write_output(args.out.as_deref(), rendered.as_bytes())?;
    Ok(0)
}
