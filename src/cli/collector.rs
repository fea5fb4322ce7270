//! `shadowtap collector`: the mTLS ingest server with its store, findings API and metrics;
//! `shadowtap store export|import|check`: move the store as JSONL, check a damaged one;
//! `shadowtap store agents|remove-agent`: audit and remove what one agent contributed.

use super::common;
use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use collector::config::CollectorSettings;
use collector::store::pg::PgStore;
use collector::store::{salvage, ImportOutcome, SledStore, Store, StoreError};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

#[derive(Args)]
pub struct CollectorArgs {
    /// Listen address of the HTTPS server (ingest, API, metrics).
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// Store directory (sled).
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// Keep the inventory in PostgreSQL instead of --data (`postgres://USER@HOST:PORT/DB`);
    /// several collectors may share one database.
    #[arg(long, value_name = "URL", conflicts_with = "data")]
    store: Option<String>,
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
    #[command(flatten)]
    kafka: common::KafkaArgs,
    /// Consume batches from --kafka-topic as this consumer group (needs --store postgres://...:
    /// each batch commits with its offset there).
    #[arg(long, value_name = "GROUP", requires = "kafka_brokers")]
    kafka_group: Option<String>,
}

pub fn settings(args: &CollectorArgs) -> Result<CollectorSettings> {
    let config = super::config::Config::load(args.config.as_deref())?;
    let mut s = config.collector.clone();
    s.templating = config.templating.clone();
    s.findings = config.findings.clone();
    if let Some(v) = &args.listen {
        s.listen = v.clone();
    }
    if let Some(v) = &args.data {
        s.data = v.clone();
    }
    if let Some(v) = &args.store {
        s.store = Some(v.clone());
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
    let kafka = match (args.kafka.options(), &args.kafka_group, &s.store) {
        (None, None, _) => None,
        (Some(options), Some(group), Some(url)) => Some(collector::kafka::KafkaConsumerConfig {
            options,
            group: group.clone(),
            store_url: url.clone(),
            limits: s.store_limits(),
        }),
        (Some(_), Some(_), None) => super::usage!(
            "collector: consuming from Kafka needs --store postgres://... (each batch commits with its offset there)"
        ),
        _ => super::usage!("collector: --kafka-brokers and --kafka-group go together"),
    };
    let classifier = common::load_classifier(args.rules.as_deref())?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("shadowtap-collector")
        .build()
        .context("collector: starting the async runtime")?;
    rt.block_on(async move {
        let running = collector::server::start(s, classifier).await?;
        let stop_kafka = Arc::new(AtomicBool::new(false));
        let consumer = match kafka {
            Some(k) => {
                let (group, topic) = (k.group.clone(), k.options.topic.clone());
                let state = Arc::clone(&running.state);
                let stop = Arc::clone(&stop_kafka);
                let handle =
                    tokio::task::spawn_blocking(move || collector::kafka::spawn(k, state, stop))
                        .await
                        .context("collector: starting the Kafka consumer")?
                        .map_err(|e| anyhow::anyhow!("collector: {e}"))?;
                eprintln!("shadowtap collector: consuming topic {topic} as group {group}");
                Some(handle)
            }
            None => None,
        };
        // Tests and service managers read this line to learn the bound port.
        eprintln!("shadowtap collector listening on {}", running.addr);
        eprintln!(
            "dashboard: https://{}/ui (sign in with the API token)",
            running.addr
        );
        wait_for_signal().await;
        stop_kafka.store(true, Ordering::SeqCst);
        if let Some(h) = consumer {
            let _ = tokio::task::spawn_blocking(move || h.join()).await;
        }
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
    /// Write the whole store as JSON lines (endpoints, hosts, agents, counters). Records that
    /// do not read or decode are skipped and counted: exit 4 when anything was lost (the
    /// readable part is still written).
    Export {
        /// Store directory (the collector must be stopped: sled allows one process).
        #[arg(long, value_name = "DIR", required_unless_present = "store")]
        data: Option<PathBuf>,
        /// A PostgreSQL store instead (`postgres://...`; collectors may keep running).
        #[arg(long, value_name = "URL", conflicts_with_all = ["data", "salvage"])]
        store: Option<String>,
        /// Output file (default stdout).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// For a store that no longer opens: work on a scratch copy (in $TMPDIR, the size of
        /// the store) and give up as little of it as it takes to open it.
        #[arg(long)]
        salvage: bool,
    },
    /// Load JSON lines written by `export` into a store (an empty one, unless --merge).
    Import {
        #[arg(long, value_name = "DIR", required_unless_present = "store")]
        data: Option<PathBuf>,
        /// A PostgreSQL store instead (`postgres://...`): migrate a sled export into it.
        #[arg(long, value_name = "URL", conflicts_with = "data")]
        store: Option<String>,
        file: PathBuf,
        /// Merge into a store that already holds data (counts are summed). The same export
        /// is merged once: importing it again changes nothing.
        #[arg(long)]
        merge: bool,
    },
    /// What each agent contributed to the store (endpoints, exchanges, hosts), to audit one
    /// before removing it.
    Agents {
        /// Store directory (stop the collector first).
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
    },
    /// Remove everything one agent contributed (e.g. a misconfigured or compromised sensor):
    /// the store ends as if it had never reported. Its high-water marks stay, so its old
    /// batches stay duplicates; revoke its certificate to refuse new ones.
    RemoveAgent {
        /// Store directory (stop the collector first).
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        /// Agent id as `store agents` lists it (`(import)` for imported records).
        agent: String,
    },
    /// Check a store's integrity on a scratch copy (the store is not changed): exit 0 clean,
    /// 4 damaged.
    Check {
        /// Store directory (stop the collector first).
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
}

/// The salvage summary, on stderr.
fn print_losses(report: &salvage::Report, how: Option<&salvage::Recovery>) -> bool {
    let problems = report.problems();
    let how_lost = how.is_some_and(|h| *h != salvage::Recovery::AsIs);
    if let Some(h) = how.filter(|_| how_lost) {
        eprintln!("store: {h}");
    }
    for p in &problems {
        eprintln!("store: lost: {p}");
    }
    problems.is_empty() && !how_lost
}

pub fn run_store(cmd: StoreCommand) -> Result<u8> {
    match cmd {
        StoreCommand::Export {
            store: Some(url),
            out,
            ..
        } => {
            let store = PgStore::open(&url, Default::default())?;
            let lines = match out {
                Some(path) => {
                    let f = std::fs::File::create(&path)
                        .with_context(|| format!("creating {}", path.display()))?;
                    store
                        .export_jsonl(&mut std::io::BufWriter::new(f))
                        .with_context(|| format!("writing {}", path.display()))?
                }
                None => store
                    .export_jsonl(&mut std::io::stdout().lock())
                    .map_err(|e| super::broken_pipe_is_closed_stdout(e.into()))?,
            };
            eprintln!("exported {lines} records");
        }
        StoreCommand::Import {
            store: Some(url),
            file,
            merge,
            ..
        } => {
            let store = PgStore::open(&url, Default::default())?;
            let shown = store.url().to_string();
            import_into(&store, &shown, &file, merge)?;
        }
        StoreCommand::Export {
            data, out, salvage, ..
        } => {
            let data = data.unwrap_or_default();
            salvage::require_store(&data)?;
            let recovered;
            let opened;
            let (store, how) = if salvage {
                recovered = salvage::recover(&data, Default::default())?;
                for f in &recovered.failures {
                    eprintln!("store: could not open it {f}");
                }
                (&recovered.store, Some(&recovered.how))
            } else {
                opened = SledStore::open(&data, Default::default())?;
                (&opened, None)
            };
            // A store that opened whole keeps who contributed what; a salvaged one cannot
            // vouch for it (see `salvage::export_jsonl`).
            let attributed = !salvage;
            let export = |out: &mut dyn std::io::Write| -> Result<salvage::Report> {
                let mut written = 0;
                if attributed {
                    written = store.export_contributions(out)?;
                }
                let mut report = salvage::export_jsonl(store, out)?;
                report.written += written;
                Ok(report)
            };
            let report = match out {
                Some(path) => {
                    let f = std::fs::File::create(&path)
                        .with_context(|| format!("creating {}", path.display()))?;
                    export(&mut std::io::BufWriter::new(f))
                        .with_context(|| format!("writing {}", path.display()))?
                }
                None => export(&mut std::io::stdout().lock())
                    .map_err(super::broken_pipe_is_closed_stdout)?,
            };
            let clean = print_losses(&report, how);
            eprintln!("exported {} records", report.written);
            if !clean {
                eprintln!(
                    "store export: {} is damaged: the export holds what was readable, not all \
                     of it (exit {})",
                    data.display(),
                    super::EXIT_DAMAGED_INPUT
                );
                return Ok(super::EXIT_DAMAGED_INPUT);
            }
        }
        StoreCommand::Import {
            data, file, merge, ..
        } => {
            let data = data.unwrap_or_default();
            let store = SledStore::open(&data, Default::default())?;
            import_into(&store, &data.display().to_string(), &file, merge)?;
        }
        StoreCommand::Check { dir } => return check(&dir),
        StoreCommand::Agents { data } => {
            salvage::require_store(&data)?;
            let store = SledStore::open(&data, Default::default())?;
            print_contributions(&store)?;
        }
        StoreCommand::RemoveAgent { data, agent } => {
            salvage::require_store(&data)?;
            let store = SledStore::open(&data, Default::default())?;
            let gone = store.remove_owner(&agent)?;
            eprintln!(
                "removed {agent}: {} endpoints ({} exchanges), {} hosts, {} TLS hosts{}",
                gone.endpoints,
                gone.exchanges,
                gone.hosts,
                gone.tls_hosts,
                if gone.unattributed_exchanges > 0 {
                    format!(
                        "; {} of its exchanges were kept unattributed (the contribution cap \
                         was reached) and stay",
                        gone.unattributed_exchanges
                    )
                } else {
                    String::new()
                }
            );
        }
    }
    Ok(0)
}

/// What `store import` needs of a store, sled or PostgreSQL.
trait Importable {
    fn holds_data(&self) -> Result<bool, StoreError>;
    fn import_file(&self, file: &Path) -> Result<ImportOutcome, StoreError>;
}

impl Importable for SledStore {
    fn holds_data(&self) -> Result<bool, StoreError> {
        SledStore::holds_data(self)
    }
    fn import_file(&self, file: &Path) -> Result<ImportOutcome, StoreError> {
        SledStore::import_file(self, file)
    }
}

impl Importable for PgStore {
    fn holds_data(&self) -> Result<bool, StoreError> {
        PgStore::holds_data(self)
    }
    fn import_file(&self, file: &Path) -> Result<ImportOutcome, StoreError> {
        PgStore::import_file(self, file)
    }
}

/// `store import`: into an empty store unless `merge`, each export once.
fn import_into(store: &dyn Importable, shown: &str, file: &Path, merge: bool) -> Result<()> {
    if !merge && store.holds_data()? {
        anyhow::bail!(
            "store import: the store at {shown} already holds data; importing {} would add \
             its counts to it. Import into an empty store, or pass --merge to sum them",
            file.display()
        );
    }
    match store.import_file(file)? {
        ImportOutcome::Imported(n) => eprintln!("imported {n} lines"),
        ImportOutcome::AlreadyImported => eprintln!(
            "store import: {} was imported into {shown} before: nothing changed",
            file.display()
        ),
    }
    Ok(())
}

/// `store agents`: one line per contributor.
fn print_contributions(store: &SledStore) -> Result<()> {
    use collector::store::Store;
    let agents = store.agents()?;
    let mut out = String::from(
        "contributor\tbatches\tendpoints\texchanges\thosts\ttls_hosts\tdropped\tunattributed\n",
    );
    for (owner, c) in store.contributions()? {
        let batches = agents
            .get(&owner)
            .map_or("-".to_string(), |a| a.batches.to_string());
        out.push_str(&format!(
            "{owner}\t{batches}\t{}\t{}\t{}\t{}\t{}\t{}\n",
            c.endpoints, c.exchanges, c.hosts, c.tls_hosts, c.dropped, c.unattributed_exchanges
        ));
    }
    super::write_stdout(out.as_bytes())?;
    Ok(())
}

/// `store check DIR`: the report on stdout, the verdict its last line.
fn check(dir: &std::path::Path) -> Result<u8> {
    salvage::require_store(dir)?;
    println!("store {} (checked on a scratch copy)", dir.display());
    let recovered = match salvage::recover(dir, Default::default()) {
        Ok(r) => r,
        Err(StoreError::Damaged { what, .. }) => {
            println!("verdict: DAMAGED: {what}");
            return Ok(super::EXIT_DAMAGED_INPUT);
        }
        Err(e) => return Err(e.into()),
    };
    for f in &recovered.failures {
        println!("could not open it {f}");
    }
    println!("{}", recovered.how);
    let report = salvage::walk(&recovered.store, &mut |_| Ok(()))?;
    for name in salvage::TREES {
        let t = report.trees.get(name).cloned().unwrap_or_default();
        println!(
            "tree {name}: {} records, {} undecodable, {} failed reads{}",
            t.records,
            t.undecodable,
            t.unreadable,
            if t.stopped { ", rest unreadable" } else { "" }
        );
    }
    let count = |tree: &str| report.trees.get(tree).map(|t| t.records).unwrap_or(0);
    let stored = |n: Option<u64>| n.map_or("missing".to_string(), |n| n.to_string());
    println!(
        "endpoints: stored count {}, records {}",
        stored(report.stored_endpoints),
        count("endpoints")
    );
    println!(
        "hosts: stored count {}, records {}",
        stored(report.stored_hosts),
        count("hosts")
    );
    for (id, a) in &report.agents {
        println!(
            "agent {id}: high-water mark epoch {} seq {}, {} runs marked, {} batches",
            a.epoch,
            a.seq,
            a.runs.len(),
            a.batches
        );
    }
    let mut problems = report.problems();
    if recovered.how != salvage::Recovery::AsIs {
        problems.insert(0, recovered.how.to_string());
    }
    if problems.is_empty() {
        println!(
            "verdict: OK: {} endpoints, {} hosts, {} agents",
            count("endpoints"),
            count("hosts"),
            report.agents.len()
        );
        Ok(0)
    } else {
        println!("verdict: DAMAGED: {}", problems.join("; "));
        Ok(super::EXIT_DAMAGED_INPUT)
    }
}
