//! `shadowtap pki init DIR`: a CA, a collector certificate and agent certificates for a first
//! deployment; `shadowtap pki add-agent ID`: one more agent in that PKI. See collector::pki for
//! the layout and for using the bank's own PKI instead.

use anyhow::Result;
use clap::Subcommand;
use collector::pki::{add_agent, init, PkiPlan};
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
    /// Issue one more agent certificate, DIR/agents/<ID>.{pem,key}, signed by DIR's CA
    /// (DIR/ca.pem and DIR/ca.key).
    AddAgent {
        id: String,
        /// The PKI directory `pki init` wrote.
        #[arg(long, value_name = "DIR", default_value = "/etc/shadowtap/pki")]
        dir: PathBuf,
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
        PkiCommand::AddAgent { id, dir, days } => {
            let (cert, key) = add_agent(&dir, &id, days)?;
            println!("agent {id}: {} {}", cert.display(), key.display());
            println!(
                "copy {} and {} to the agent host; the collector needs no change",
                cert.display(),
                key.display()
            );
            Ok(0)
        }
    }
}
