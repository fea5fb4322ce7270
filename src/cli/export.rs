//! `shadowtap export`: a saved inventory (from `scan --save-inventory`) in the formats asset
//! tools import. The input is "an inventory plus a catalogue" (`analyzer::export::Snapshot`), so
//! a collector can feed the same exporters later.

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
}

#[derive(Args)]
pub struct ExportArgs {
    #[arg(long, value_enum)]
    format: ExportFormat,
    /// Inventory saved by `shadowtap scan --save-inventory`.
    #[arg(long, value_name = "FILE")]
    inventory: PathBuf,
    /// Re-match against these OpenAPI documents instead of the catalogue used at scan time.
    #[arg(long = "catalog", value_name = "FILE|DIR")]
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

pub fn run(args: ExportArgs) -> Result<u8> {
    let text = std::fs::read_to_string(&args.inventory)
        .with_context(|| format!("reading {}", args.inventory.display()))?;
    let mut snapshot = Snapshot::from_json(&text)
        .with_context(|| format!("reading {}", args.inventory.display()))?;
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
    };
    match &args.out {
        Some(path) => {
            std::fs::write(path, rendered).with_context(|| format!("writing {}", path.display()))?
        }
        None => print!("{rendered}"),
    }
    Ok(0)
}
