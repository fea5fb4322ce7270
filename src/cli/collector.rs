//! `shadowtap collector`: the mTLS ingest server with its store, findings API and metrics;
//! `shadowtap store export|import`: move the store as JSONL.

use super::common;
use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use collector::config::CollectorSettings;
use collector::store::{SledStore, Store};
use std::path::PathBuf;

#[derive(Args)]
pub struct CollectorArgs {
    /// Listen address of the HTTPS server (ingest, API, metrics).
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// Store directory (sled).
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// OpenAPI catalogue (files or directories); reloaded when a file changes.
    #[arg(long = "catalog", value_name = "FILE|DIR")]
    catalog: Vec<PathBuf>,
    /// Extra folder the catalogue's `$ref`s may read from, besides the catalogue's own folders
    /// (repeatable). References that resolve anywhere else are refused.
    #[arg(long = "catalog-root", value_name = "DIR")]
    catalog_root: Vec<PathBuf>,
    /// Collector certificate chain (PEM).
    #[arg(long, value_name = "FILE")]
    cert: Option<PathBuf>,
    /// Collector private key (PEM).
    #[arg(long, value_name = "FILE")]
    key: Option<PathBuf>,
    /// CA that signs agent certificates (PEM).
    #[arg(long, value_name = "FILE")]
    ca: Option<PathBuf>,
    /// File holding the API bearer token (else $SHADOWTAP_API_TOKEN; without one the API is off).
    #[arg(long, value_name = "FILE")]
    api_token_file: Option<PathBuf>,
    /// Largest batch body accepted, in bytes.
    #[arg(long, value_name = "BYTES")]
    max_batch_bytes: Option<usize>,
    /// Directory of data-classification rules (TOML) overriding the built-in ones.
    #[arg(long, value_name = "DIR")]
    rules: Option<PathBuf>,
    /// Configuration file (TOML) with a [collector] section.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

pub fn settings(args: &CollectorArgs) -> Result<CollectorSettings> {
    let config = super::config::Config::load(args.config.as_deref())?;
    let mut s = config.collector.clone();
    if let Some(v) = &args.listen {
        s.listen = v.clone();
    }
    if let Some(v) = &args.data {
        s.data = v.clone();
    }
    if !args.catalog.is_empty() {
        s.catalog = args.catalog.clone();
    }
    if !args.catalog_root.is_empty() {
        s.catalog_root = args.catalog_root.clone();
    }
    if let Some(v) = &args.cert {
        s.cert = v.clone();
    }
    if let Some(v) = &args.key {
        s.key = v.clone();
    }
    if let Some(v) = &args.ca {
        s.ca = v.clone();
    }
    if let Some(v) = &args.api_token_file {
        s.api_token_file = Some(v.clone());
    }
    if let Some(v) = args.max_batch_bytes {
        s.max_batch_bytes = v;
    }
    s.api_token = match &s.api_token_file {
        Some(f) => Some(read_token(f)?),
        None => std::env::var("SHADOWTAP_API_TOKEN")
            .ok()
            .filter(|t| !t.is_empty()),
    };
    if let Some(t) = s.api_token.as_deref().filter(|t| t.len() < MIN_TOKEN_BYTES) {
        // Throttling slows guessing; only length makes it hopeless.
        eprintln!(
            "shadowtap collector: warning: the API token is {} bytes; use at least {MIN_TOKEN_BYTES} random bytes (head -c32 /dev/urandom | base64)",
            t.len()
        );
    }
    Ok(s)
}

/// Shortest API token accepted without a warning.
const MIN_TOKEN_BYTES: usize = 32;

/// The first line of a token file, trimmed.
pub fn read_token(path: &std::path::Path) -> Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading API token file {}", path.display()))?;
    let token = text.lines().next().unwrap_or("").trim().to_string();
    if token.is_empty() {
        anyhow::bail!("API token file {} is empty", path.display());
    }
    Ok(token)
}

pub fn run(args: CollectorArgs) -> Result<u8> {
    let s = settings(&args)?;
    let classifier = common::load_classifier(args.rules.as_deref())?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("shadowtap-collector")
        .build()
        .context("collector: starting the async runtime")?;
    rt.block_on(async move {
        let running = collector::server::start(s, classifier).await?;
        // Tests and service managers read this line to learn the bound port.
        eprintln!("shadowtap collector listening on {}", running.addr);
        eprintln!(
            "dashboard: https://{}/ui (sign in with the API token)",
            running.addr
        );
        wait_for_signal().await;
        running.shutdown().await;
        Ok::<u8, anyhow::Error>(0)
    })
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

#[derive(Subcommand)]
pub enum StoreCommand {
    /// Write the whole store as JSON lines (endpoints, hosts, agents, counters).
    Export {
        /// Store directory (the collector must be stopped: sled allows one process).
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        /// Output file (default stdout).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Merge JSON lines written by `export` into a store.
    Import {
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        file: PathBuf,
    },
}

pub fn run_store(cmd: StoreCommand) -> Result<u8> {
    match cmd {
        StoreCommand::Export { data, out } => {
            let store = SledStore::open(&data, Default::default())?;
            let n = match out {
                Some(path) => {
                    let f = std::fs::File::create(&path)
                        .with_context(|| format!("creating {}", path.display()))?;
                    store.export_jsonl(&mut std::io::BufWriter::new(f))?
                }
                None => store.export_jsonl(&mut std::io::stdout().lock())?,
            };
            eprintln!("exported {n} records");
        }
        StoreCommand::Import { data, file } => {
            let store = SledStore::open(&data, Default::default())?;
            let f = std::fs::File::open(&file)
                .with_context(|| format!("opening {}", file.display()))?;
            let n = store.import_jsonl(&mut std::io::BufReader::new(f))?;
            eprintln!("imported {n} lines");
        }
    }
    Ok(0)
}
