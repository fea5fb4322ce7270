//! `shadowtap compare A B`: two saved inventories (`scan --save-inventory`, or a collector's
//! `export --format inventory`) side by side: endpoints, auth schemes, data classes and TPPs
//! present in one and not the other (`analyzer::compare`).
//!
//! Exit status: 0 compared (differences or not), 3 with `--fail-on-difference` when they
//! differ (the gate CI scripts test, as `scan --fail-on`), 1 an unreadable file, 2 usage.

use super::common;
use analyzer::compare::{compare, CompareOptions};
use analyzer::export::Snapshot;
use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, ValueEnum)]
pub enum CompareFormat {
    Text,
    Json,
}

#[derive(Args)]
pub struct CompareArgs {
    /// The first inventory (`-` reads standard input).
    a: PathBuf,
    /// The second inventory (`-` reads standard input; not both).
    b: PathBuf,
    #[arg(long, value_enum, default_value = "text")]
    format: CompareFormat,
    /// Pair endpoints by method and path only: staging and production under other host names.
    #[arg(long)]
    ignore_hosts: bool,
    /// Exit 3 when the inventories differ.
    #[arg(long)]
    fail_on_difference: bool,
    /// Write here instead of stdout.
    #[arg(long, value_name = "PATH")]
    out: Option<PathBuf>,
}

fn load(path: &Path) -> Result<Snapshot> {
    let text = common::read_input(path, "inventory")?;
    Snapshot::from_json(&text).with_context(|| format!("reading {}", path.display()))
}

pub fn run(args: CompareArgs) -> Result<u8> {
    let stdin = Path::new("-");
    if args.a == stdin && args.b == stdin {
        super::usage!("compare: standard input (-) can be only one of the two inventories");
    }
    if let Some(out) = &args.out {
        common::check_output(out)?;
    }
    let (a, b) = (load(&args.a)?, load(&args.b)?);
    let opts = CompareOptions {
        ignore_hosts: args.ignore_hosts,
    };
    let name = |p: &Path| p.display().to_string();
    let c = compare(&a, &name(&args.a), &b, &name(&args.b), opts);
    let rendered = match args.format {
        CompareFormat::Text => c.text(),
        // Plain data with string keys: serialising cannot fail.
        CompareFormat::Json => serde_json::to_string_pretty(&c).unwrap_or_default() + "\n",
    };
    common::write_output(args.out.as_deref(), rendered.as_bytes())?;
    Ok(if args.fail_on_difference && !c.is_empty() {
        super::EXIT_FAIL_ON
    } else {
        0
    })
}
