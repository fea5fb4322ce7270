//! `shadowtap scan`: captures + catalogue -> inventory, findings and a report.

use super::common;
use super::{EXIT_CATALOGUE_FAILED, EXIT_DAMAGED_INPUT, EXIT_FAIL_ON};
use analyzer::report::{ScanReport, TlsHostsSummary};
use anyhow::{Context, Result};
use clap::Args;
use std::path::PathBuf;

#[derive(Args)]
pub struct ScanArgs {
    /// Capture files (pcap or pcapng, optionally gzip-compressed), read in order; `-` reads
    /// standard input.
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
    #[command(flatten)]
    output: common::OutputArgs,
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
    /// Also write the inventory with its catalogue matches (JSON) for `shadowtap export`.
    #[arg(long, value_name = "FILE")]
    save_inventory: Option<PathBuf>,
    #[command(flatten)]
    analysis: common::AnalysisArgs,
}

pub fn run(args: ScanArgs) -> Result<u8> {
    let config = super::config::Config::load(args.config.as_deref())?;
    // Check what can fail fast before the captures are read: outputs, then the baseline.
    args.output.check()?;
    if let Some(path) = &args.save_inventory {
        common::check_output(path)?;
    }
    let baseline = args.output.load_baseline()?;
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
    common::with_openbanking(&mut observer, &config.findings.openbanking)?;
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
    let rules = &config.findings.openbanking.capabilities;
    if !rules.is_empty() {
        // Configured capability overrides apply to the exposure table as to the findings.
        report = report.with_capability_rules(&inventory, rules);
    }
    report.baseline = comparison;
    report.summary.tls_hosts = TlsHostsSummary::from_inventory(&tls_inventory);
    if let Some(path) = &args.save_inventory {
        let snapshot = analyzer::export::Snapshot::build(&inventory, &catalogue);
        std::fs::write(path, snapshot.to_json() + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let fail_on_reached = args.output.emit(&report, &catalogue)?;
    // A catalogue that failed makes every other answer doubtful (its endpoints show as
    // shadow); the report is written either way.
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
    }
    Ok(exit_status(
        catalogue_failed > 0 && !args.allow_partial_catalogue,
        fail_on_reached,
        damaged,
    ))
}

/// A failed catalogue (5) wins over `--fail-on` (3), which wins over damaged input (4): a
/// failed catalogue makes every other answer doubtful, and the gate is what a CI job tests.
/// What a code hides is in the report's summary either way, and said here.
pub fn exit_status(catalogue_failed: bool, fail_on_reached: bool, damaged: bool) -> u8 {
    let mut hidden = Vec::new();
    let code = if catalogue_failed {
        if fail_on_reached {
            hidden.push(format!("--fail-on was reached (exit {EXIT_FAIL_ON})"));
        }
        EXIT_CATALOGUE_FAILED
    } else if fail_on_reached {
        EXIT_FAIL_ON
    } else if damaged {
        return EXIT_DAMAGED_INPUT;
    } else {
        return 0;
    };
    if damaged {
        hidden.push(format!(
            "the input was also damaged (exit {EXIT_DAMAGED_INPUT} otherwise)"
        ));
    }
    if !hidden.is_empty() {
        eprintln!(
            "shadowtap: exit {code}; {}: see the report's summary",
            hidden.join("; ")
        );
    }
    code
}
