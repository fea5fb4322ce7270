//! Command-line interface: parse arguments, wire the crates together, map outcomes to exit codes.
//!
//! Exit codes: 0 success; 1 error; 2 usage error; 3 `--fail-on` threshold reached
//! (`compare --fail-on-difference`: the inventories differ);
//! 4 an input capture was damaged (read up to the damage; the report was still written), or
//! the collector's store was (`store export` wrote what was readable; `store check`);
//! 5 `scan`: a catalogue file failed to load (the report was still written;
//! `--allow-partial-catalogue` accepts it); 6 `agent`: batches left undelivered.
//! Precedence when several apply: 5, then 3, then 4. 5 wins because a failed catalogue makes
//! every other answer doubtful; 3 over 4 because the gate is what CI scripts test. Whatever is
//! hidden is still said on stderr and in the report's summary.
//! A closed standard output (`| head`) ends the command quietly with 0.

mod agent;
mod baseline;
mod build_docs;
mod catalog;
mod collector;
mod common;
mod compare;
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
    /// Compare two saved inventories: endpoints, auth schemes, data classes and TPPs present in
    /// one and not the other (staging against production, last month against today).
    Compare(compare::CompareArgs),
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
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(build_docs::CompletionsArgs),
    /// Write man pages (shadowtap.1 and one per subcommand) into a directory.
    Man(build_docs::ManArgs),
}

pub const EXIT_ERROR: u8 = 1;
pub const EXIT_USAGE: u8 = 2;
pub const EXIT_FAIL_ON: u8 = 3;
pub const EXIT_DAMAGED_INPUT: u8 = 4;
/// `agent`: batches were left undelivered at the end (in the spool, or refused for good).
/// Not 5: kept free for scan's catalogue failures.
pub const EXIT_UNDELIVERED: u8 = 6;
pub const EXIT_CATALOGUE_FAILED: u8 = 5;

/// A command line that cannot work as given (a required setting missing, a bad value that clap
/// cannot check): exit 2 like clap's own usage errors, not 1.
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// `Err(UsageError)` with a formatted message.
macro_rules! usage {
    ($($arg:tt)*) => {
        return Err(anyhow::Error::new($crate::cli::UsageError(format!($($arg)*))))
    };
}
pub(crate) use usage;

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // Colour only for a person at a terminal: journald and log files get plain text.
    use std::io::IsTerminal;
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SHADOWTAP_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_ansi(colour)
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
        Command::Scan(args) => scan::run(args),
        Command::Exchanges(args) => exchanges::run(args),
        Command::Export(args) => export::run(args),
        Command::Compare(args) => compare::run(args),
        Command::Conformance(args) => conformance::run(args),
        Command::Catalog(cmd) => catalog::run(cmd),
        Command::Baseline(args) => baseline::run(args),
        Command::Agent(args) => agent::run(args),
        Command::Collector(args) => collector::run(args),
        Command::Store(cmd) => collector::run_store(cmd),
        Command::Pki(cmd) => pki::run(cmd),
        Command::Report(args) => report::run(args),
        Command::Completions(args) => build_docs::completions::<Cli>(args),
        Command::Man(args) => build_docs::man::<Cli>(args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) if closed_stdout(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("shadowtap: error: {}", describe(&e));
            if e.downcast_ref::<UsageError>().is_some() {
                ExitCode::from(EXIT_USAGE)
            } else {
                ExitCode::from(EXIT_ERROR)
            }
        }
    }
}

/// The reader of our standard output went away (`shadowtap exchanges ... | head`): what it
/// wanted it has, so this is not a failure worth a message. Only a write to stdout says so
/// (through [`stdout_written`]): a broken pipe to a collector is a real error.
#[derive(Debug)]
pub struct StdoutClosed;

impl std::fmt::Display for StdoutClosed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("standard output was closed by its reader")
    }
}

impl std::error::Error for StdoutClosed {}

fn closed_stdout(e: &anyhow::Error) -> bool {
    e.downcast_ref::<StdoutClosed>().is_some()
}

/// The outcome of writing to standard output: a closed pipe becomes [`StdoutClosed`].
pub fn stdout_written(result: std::io::Result<()>) -> anyhow::Result<()> {
    result.map_err(|e| {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            anyhow::Error::new(StdoutClosed)
        } else {
            anyhow::Error::new(e).context("writing to standard output")
        }
    })
}

/// The error and its causes joined by ": ", each said once: an error that already prints its
/// cause (`Address already in use (os error 98)`) and also returns it as its source would
/// otherwise say it twice.
fn describe(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

/// Write the whole of `bytes` to standard output (a closed pipe is an error the caller's `?`
/// passes up, and [`main`] ends quietly on it; `print!` would panic instead).
/// An error of a streaming write to standard output: a broken pipe anywhere in its causes (a
/// store or report error wrapping the I/O error) becomes [`StdoutClosed`].
pub fn broken_pipe_is_closed_stdout(e: anyhow::Error) -> anyhow::Error {
    let broken = e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    });
    if broken {
        anyhow::Error::new(StdoutClosed)
    } else {
        e
    }
}

pub fn write_stdout(bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    stdout_written(out.write_all(bytes).and_then(|()| out.flush()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("binding 0.0.0.0:7443: {0}")]
    struct Bind(#[source] std::io::Error);

    #[test]
    fn a_cause_already_in_its_parents_text_is_said_once() {
        let io = std::io::Error::new(std::io::ErrorKind::AddrInUse, "Address already in use");
        let e = anyhow::Error::new(Bind(io)).context("collector");
        assert_eq!(
            describe(&e),
            "collector: binding 0.0.0.0:7443: Address already in use"
        );
    }

    #[test]
    fn only_a_broken_pipe_on_stdout_is_a_closed_stdout() {
        let pipe = || std::io::Error::new(std::io::ErrorKind::BrokenPipe, "Broken pipe");
        let written = stdout_written(Err(pipe())).map_err(|e| e.context("report"));
        assert!(written.as_ref().is_err_and(closed_stdout));
        // The same error from a socket (a collector that hung up) is an error to report.
        assert!(!closed_stdout(
            &anyhow::Error::new(pipe()).context("sending")
        ));
        let other = stdout_written(Err(std::io::Error::other("disk full")));
        assert!(other.as_ref().is_err_and(|e| !closed_stdout(e)));
    }
}
