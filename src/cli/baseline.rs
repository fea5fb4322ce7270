//! `shadowtap baseline`: write the current findings as a review baseline.
//!
//! From captures (scanned exactly as `scan` does) or from a saved JSON scan report. A later
//! `scan --baseline FILE` then reports only new and changed findings and lists the fixed ones
//! (see `analyzer::diff::baseline`).

use super::common;
use analyzer::catalogue::{Catalogue, CatalogueConfig};
use analyzer::diff::baseline::Baseline;
use anyhow::{Context, Result};
use clap::Args;
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct BaselineArgs {
    /// Capture files (pcap or pcapng, optionally gzip-compressed), read in order.
    captures: Vec<PathBuf>,
    /// OpenAPI documents or directories of them.
    #[arg(long = "catalog", value_name = "FILE|DIR")]
    catalog: Vec<PathBuf>,
    /// Extra folder the catalogue's `$ref`s may read from, besides the catalogue's own folders
    /// (repeatable). References that resolve anywhere else are refused.
    #[arg(long = "catalog-root", value_name = "DIR")]
    catalog_root: Vec<PathBuf>,
    /// Build the baseline from a saved JSON scan report instead of captures.
    #[arg(long, value_name = "REPORT", conflicts_with = "captures")]
    from_report: Option<PathBuf>,
    /// Where to write the baseline (JSON).
    #[arg(long, value_name = "PATH")]
    out: PathBuf,
    /// Configuration file (TOML), as for `scan`.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Directory of data-classification rules (TOML) overriding the built-in ones.
    #[arg(long, value_name = "DIR")]
    rules: Option<PathBuf>,
    /// Take the client address from X-Forwarded-For/Forwarded.
    #[arg(long)]
    trust_forwarded: bool,
    #[command(flatten)]
    analysis: common::AnalysisArgs,
}

/// Read a baseline (or saved report) file; errors name the file and the JSON pointer.
pub fn load(path: &Path) -> Result<Baseline> {
    let text = common::read_input(path, "baseline")?;
    Baseline::from_json(&text).with_context(|| format!("baseline {}", path.display()))
}

/// Apply the `[catalogue]` config section, warning about entries that matched nothing.
pub fn apply_catalogue_config(catalogue: &mut Catalogue, config: &CatalogueConfig) {
    for w in catalogue.apply_config(config) {
        eprintln!("shadowtap: warning: config: {w}");
    }
}

pub fn run(args: BaselineArgs) -> Result<u8> {
    common::check_output(&args.out)?;
    let baseline = match (&args.from_report, args.captures.is_empty()) {
        (Some(report), _) => load(report)?,
        (None, true) => super::usage!("give capture files, or --from-report REPORT"),
        (None, false) => {
            let config = super::config::Config::load(args.config.as_deref())?;
            let mut catalogue = common::load_catalogue(&args.catalog, &args.catalog_root)?;
            apply_catalogue_config(&mut catalogue, &config.catalogue);
            let classifier = common::load_classifier(args.rules.as_deref())?;
            let mut observer = common::observer_with(
                &catalogue,
                classifier,
                &config.consumers,
                args.trust_forwarded,
            )?;
            observer.learn = args.analysis.learn_mode();
            common::with_openbanking(&mut observer, &config.findings.openbanking)?;
            let workers = args.analysis.workers();
            let analysis = common::analyse(
                &args.captures,
                &catalogue,
                &observer,
                &config,
                workers,
                false,
            )?;
            Baseline::from_findings(&analysis.findings)
        }
    };
    std::fs::write(&args.out, baseline.to_json() + "\n")
        .with_context(|| format!("writing {}", args.out.display()))?;
    eprintln!(
        "shadowtap: baseline of {} findings written to {}",
        baseline.findings.len(),
        args.out.display()
    );
    Ok(0)
}
