//! `shadowtap completions SHELL` and `shadowtap man DIR`: generated from the same clap
//! definitions that parse the command line, so they cannot drift from it.

use anyhow::{Context, Result};
use clap::{Args, CommandFactory};
use clap_complete::Shell;
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct CompletionsArgs {
    /// The shell: bash, zsh, fish, elvish or powershell.
    shell: Shell,
}

#[derive(Args)]
pub struct ManArgs {
    /// Directory to write the pages into (created if missing), e.g. /usr/local/share/man/man1.
    dir: PathBuf,
}

pub fn completions<C: CommandFactory>(args: CompletionsArgs) -> Result<u8> {
    let mut cmd = C::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "shadowtap", &mut script);
    super::write_stdout(&script)?;
    Ok(0)
}

pub fn man<C: CommandFactory>(args: ManArgs) -> Result<u8> {
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("creating {}", args.dir.display()))?;
    let mut cmd = C::command();
    cmd.build();
    let written = write_pages(&cmd, "shadowtap", &args.dir)?;
    for path in &written {
        println!("{}", path.display());
    }
    Ok(0)
}

/// One page for `cmd` (named `name`, e.g. `shadowtap-store-export`) and one per subcommand,
/// depth first. Returns the files written.
fn write_pages(cmd: &clap::Command, name: &str, dir: &Path) -> Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    let page = cmd.clone().name(name.to_string());
    let mut text = Vec::new();
    clap_mangen::Man::new(page)
        .render(&mut text)
        .with_context(|| format!("rendering the man page of {name}"))?;
    let path = dir.join(format!("{name}.1"));
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    written.push(path);
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        written.extend(write_pages(
            sub,
            &format!("{name}-{}", sub.get_name()),
            dir,
        )?);
    }
    Ok(written)
}
