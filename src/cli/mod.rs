//! Command-line interface: parse arguments, wire the crates together, map outcomes to exit codes.
//!
//! Exit codes: 0 success; 1 error; 2 usage error; 3 `--fail-on` threshold reached;
//! 4 an input capture was damaged (read up to the damage; the report was still written), or
//! the collector's store was (`store export` wrote what was readable; `store check`);
//! 5 `scan`: a catalogue file failed to load (the report was still written; wins over 3 and 4;
//! `--allow-partial-catalogue` accepts it).

mod agent;
mod baseline;
mod catalog;
mod collector;
mod common;
mod config;
mod conformance;
mod exchanges;
mod export;
mod pki;
mod report;
mod scan;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "shadowtap",
    version,
    about = "Passive API discovery and shadow-API detection"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Read captures, build the API inventory and diff it against the declared catalogue.
    Scan(scan::ScanArgs),
    /// Print one JSON line per HTTP exchange found in the captures (forensic view).
    Exchanges(exchanges::ExchangesArgs),
    /// Export a saved inventory for asset tools: CSV, NDJSON, OpenAPI, CycloneDX, Backstage.
    Export(export::ExportArgs),
    /// Replay the shared conformance corpus and compare with what its peers state.
    Conformance(conformance::ConformanceArgs),
    /// Work with OpenAPI catalogues.
    #[command(subcommand)]
    Catalog(catalog::CatalogCommand),
    /// Write a review baseline: the current findings, so later scans show only what changed.
    Baseline(baseline::BaselineArgs),
    /// Capture on a span port (or replay a capture) and ship batches to a collector over mTLS.
    Agent(agent::AgentArgs),
    /// Receive agents' batches over mTLS, store them, serve findings (JSON API) and metrics.
    Collector(collector::CollectorArgs),
    /// Export or import the collector's store as JSON lines; check a damaged one.
    #[command(subcommand)]
    Store(collector::StoreCommand),
    /// Certificates for a first deployment (CA, collector, agents).
    #[command(subcommand)]
    Pki(pki::PkiCommand),
    /// Print the scan report computed by a collector.
    Report(report::ReportArgs),
}

pub const EXIT_ERROR: u8 = 1;
pub const EXIT_FAIL_ON: u8 = 3;
pub const EXIT_DAMAGED_INPUT: u8 = 4;
pub const EXIT_CATALOGUE_FAILED: u8 = 5;

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SHADOWTAP_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
        Command::Scan(args) => scan::run(args),
        Command::Exchanges(args) => exchanges::run(args),
        Command::Export(args) => export::run(args),
        Command::Conformance(args) => conformance::run(args),
        Command::Catalog(cmd) => catalog::run(cmd),
        Command::Baseline(args) => baseline::run(args),
        Command::Agent(args) => agent::run(args),
        Command::Collector(args) => collector::run(args),
        Command::Store(cmd) => collector::run_store(cmd),
        Command::Pki(cmd) => pki::run(cmd),
        Command::Report(args) => report::run(args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("shadowtap: error: {e:#}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}
