//! `shadowtap scan`: captures + catalogue -> inventory, findings and a report.

use super::common;
use super::{EXIT_CATALOGUE_FAILED, EXIT_DAMAGED_INPUT, EXIT_FAIL_ON};
use analyzer::finding::Severity;
use analyzer::report::{render_markdown, render_text, ScanReport, TlsHostsSummary};
use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use std::path::PathBuf;

#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    Text,
    Json,
    Markdown,
    /// One self-contained HTML file (inline CSS and SVG, no script, no external reference).
    Html,
    /// SARIF 2.1.0 for code-scanning dashboards.
    Sarif,
}

#[derive(Args)]
pub struct ScanArgs {
    /// Capture files (pcap or pcapng, optionally gzip-compressed), read in order.
    #[arg(required = true)]
    captures: Vec<PathBuf>,
    /// OpenAPI documents or directories of them (2.0, 3.0, 3.1; YAML or JSON).
    #[arg(long = "catalog", value_name = "FILE|DIR")]
    catalog: Vec<PathBuf>,
    /// Extra folder the catalogue's `$ref`s may read from, besides the catalogue's own folders
    /// (repeatable). References that resolve anywhere else are refused.
    #[arg(long = "catalog-root", value_name = "DIR")]
    catalog_root: Vec<PathBuf>,
    /// Exit 0 (not 5) when some catalogue files failed to load: the report still lists them,
    /// and their endpoints still show as shadow.
    #[arg(long)]
    allow_partial_catalogue: bool,
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// Write the report here instead of stdout.
    #[arg(long, value_name = "PATH")]
    out: Option<PathBuf>,
    /// Exit with status 3 when a finding at or above this severity exists.
    #[arg(long, value_name = "SEVERITY")]
    fail_on: Option<Severity>,
    /// Configuration file (TOML): templating, consumers, catalogue sections.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Directory of data-classification rules (TOML) overriding the built-in ones.
    #[arg(long, value_name = "DIR")]
    rules: Option<PathBuf>,
    /// Take the client address from X-Forwarded-For/Forwarded (sensor behind a trusted proxy).
    #[arg(long)]
    trust_forwarded: bool,
    /// Never show a progress bar.
    #[arg(long)]
    no_progress: bool,
    /// Review baseline (from `shadowtap baseline`, or a saved JSON report): report only the
    /// findings that are new or changed since, and list the fixed ones.
    #[arg(long, value_name = "FILE")]
    baseline: Option<PathBuf>,
    /// Also write the inventory with its catalogue matches (JSON) for `shadowtap export`.
    #[arg(long, value_name = "FILE")]
    save_inventory: Option<PathBuf>,
    #[command(flatten)]
    analysis: common::AnalysisArgs,
}

pub fn run(args: ScanArgs) -> Result<u8> {
    let config = super::config::Config::load(args.config.as_deref())?;
    // Read the baseline first: a bad file should stop the scan before the captures are read.
    let baseline = match &args.baseline {
        Some(path) => Some((path.display().to_string(), super::baseline::load(path)?)),
        None => None,
    };
    let mut catalogue = common::load_catalogue(&args.catalog, &args.catalog_root)?;
    if args.catalog.is_empty() {
        eprintln!(
            "shadowtap: WARNING: no --catalog given: nothing is declared, so every endpoint \
             will be reported as shadow"
        );
    }
    let catalogue_failed = catalogue.load.failed.len();
    super::baseline::apply_catalogue_config(&mut catalogue, &config.catalogue);
    let classifier = common::load_classifier(args.rules.as_deref())?;
    let mut observer = common::observer_with(
        &catalogue,
        classifier,
        &config.consumers,
        args.trust_forwarded,
    )?;
    observer.learn = args.analysis.learn_mode();
    let common::Analysis {
        inventory,
        tls: tls_inventory,
        findings,
        totals,
    } = common::analyse(
        &args.captures,
        &catalogue,
        &observer,
        &config,
        args.analysis.workers(),
        !args.no_progress,
    )?;
    let damaged = !totals.errors.is_empty();
    let (findings, comparison) = match &baseline {
        Some((source, b)) => {
            let (shown, cmp) = b.compare(source, findings);
            (shown, Some(cmp))
        }
        None => (findings, None),
    };
    let mut report = ScanReport::build(totals, &inventory, &catalogue, findings);
    report.baseline = comparison;
    report.summary.tls_hosts = TlsHostsSummary::from_inventory(&tls_inventory);
    let rendered = match args.format {
        Format::Text => render_text(&report),
        Format::Json => report.to_json() + "\n",
        Format::Markdown => render_markdown(&report),
        Format::Html => analyzer::report::render_html(&report),
        Format::Sarif => analyzer::report::render_sarif(&report, &catalogue),
    };
    if let Some(path) = &args.save_inventory {
        let snapshot = analyzer::export::Snapshot::build(&inventory, &catalogue);
        std::fs::write(path, snapshot.to_json() + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
    }
    match &args.out {
        Some(path) => {
            std::fs::write(path, rendered).with_context(|| format!("writing {}", path.display()))?
        }
        None => print!("{rendered}"),
    }
    // A catalogue that failed makes every other answer doubtful (its endpoints show as
    // shadow), so it wins over --fail-on and damage; the report is written either way.
    if catalogue_failed > 0 {
        eprintln!(
            "shadowtap: ERROR: {catalogue_failed} catalogue file{} failed to load (listed above \
             and in the report){}",
            if catalogue_failed == 1 { "" } else { "s" },
            if args.allow_partial_catalogue {
                "; accepted by --allow-partial-catalogue"
            } else {
                "; exit 5 (--allow-partial-catalogue accepts it)"
            }
        );
        if !args.allow_partial_catalogue {
            return Ok(EXIT_CATALOGUE_FAILED);
        }
    }
    if args.fail_on.is_some_and(|t| report.has_findings_at(t)) {
        return Ok(EXIT_FAIL_ON);
    }
    Ok(if damaged { EXIT_DAMAGED_INPUT } else { 0 })
}
