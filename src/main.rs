//! `shadowtap`: thin glue over the agent, collector and analyzer crates.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    cli::main()
}
