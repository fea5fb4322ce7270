//! Command-line interface: parse arguments, wire the crates together, map outcomes to exit codes.
//!
//! Exit codes: 0 success; 1 error; 2 usage error; 3 `--fail-on` threshold reached;
//! 4 an input capture was damaged (read up to the damage; the report was still written).

mod catalog;
mod common;
mod config;
mod exchanges;
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
    /// Work with OpenAPI catalogues.
    #[command(subcommand)]
    Catalog(catalog::CatalogCommand),
}

pub const EXIT_ERROR: u8 = 1;
pub const EXIT_FAIL_ON: u8 = 3;
pub const EXIT_DAMAGED_INPUT: u8 = 4;

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
        Command::Catalog(cmd) => catalog::run(cmd),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("shadowtap: error: {e:#}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}
