//! `shadowtap pki init DIR`: a CA, a collector certificate and agent certificates for a first
//! deployment. See collector::pki for the layout and for using the bank's own PKI instead.

use anyhow::Result;
use clap::Subcommand;
use collector::pki::{init, PkiPlan};
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum PkiCommand {
    /// Create DIR/ca.pem, DIR/collector.{pem,key} and DIR/agents/<id>.{pem,key}.
    Init {
        dir: PathBuf,
        /// Number of agent certificates, named agent-1 .. agent-N (ignored with --agent).
        #[arg(long, default_value_t = 1)]
        agents: usize,
        /// Agent ids to issue (repeatable).
        #[arg(long = "agent", value_name = "ID")]
        agent_ids: Vec<String>,
        /// DNS names or IP addresses the collector is reached at (repeatable).
        #[arg(long = "collector-name", value_name = "NAME")]
        collector_names: Vec<String>,
        /// Validity in days.
        #[arg(long, default_value_t = 825)]
        days: u32,
    },
}

pub fn run(cmd: PkiCommand) -> Result<u8> {
    match cmd {
        PkiCommand::Init {
            dir,
            agents,
            agent_ids,
            collector_names,
            days,
        } => {
            let agents = if agent_ids.is_empty() {
                (1..=agents).map(|i| format!("agent-{i}")).collect()
            } else {
                agent_ids
            };
            let collector_names = if collector_names.is_empty() {
                vec!["localhost".into(), "127.0.0.1".into()]
            } else {
                collector_names
            };
            let files = init(
                &dir,
                &PkiPlan {
                    collector_names,
                    agents,
                    days,
                },
            )?;
            println!("CA:        {}", files.ca.display());
            println!(
                "collector: {} {}",
                files.collector_cert.display(),
                files.collector_key.display()
            );
            for (id, c, k) in &files.agents {
                println!("agent {id}: {} {}", c.display(), k.display());
            }
            println!(
                "keep {} offline: it signs every certificate",
                dir.join("ca.key").display()
            );
            Ok(0)
        }
    }
}
