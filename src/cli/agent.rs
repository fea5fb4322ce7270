//! `shadowtap agent`: capture on an interface (or replay a capture file), aggregate per window,
//! spool, and ship batches to the collector over mutual TLS.

use super::common;
use agent::metrics::AgentMetrics;
use agent::ship::capture::{self, CaptureConfig};
use agent::ship::client::client_config;
use agent::ship::failover::parse_collectors;
use agent::ship::settings::{cert_identity, AgentSettings};
use agent::ship::shipper::{Shipper, ShipperConfig};
use agent::ship::spool::SpoolLimits;
use agent::source::afpacket::AfPacketConfig;
use agent::source::{FileSource, LiveConfig, LiveSource};
use analyzer::inventory::InventoryLimits;
use anyhow::{bail, Context, Result};
use clap::Args;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

#[derive(Args)]
pub struct AgentArgs {
    /// Interface to capture on (the span / mirror port).
    #[arg(long, value_name = "IF", conflicts_with = "read")]
    interface: Option<String>,
    /// Replay a capture file into the collector instead of capturing live.
    #[arg(long, value_name = "FILE")]
    read: Option<PathBuf>,
    /// Replay a file this spool has replayed before (its traffic is counted again).
    #[arg(long, requires = "read")]
    force_replay: bool,
    /// BPF capture filter (tcpdump syntax).
    #[arg(long, value_name = "FILTER")]
    bpf: Option<String>,
    /// Collector URL, https://HOST:PORT. Repeat it (or give a comma-separated list) for
    /// collectors sharing one PostgreSQL store: the agent stays on one that works and moves
    /// to the next when a send fails.
    #[arg(long, value_name = "URL")]
    collector: Vec<String>,
    /// This agent's certificate (PEM), signed by the agent CA.
    #[arg(long, value_name = "FILE")]
    cert: Option<PathBuf>,
    /// This agent's private key (PEM).
    #[arg(long, value_name = "FILE")]
    key: Option<PathBuf>,
    /// CA certificate that signed the collector's certificate (PEM).
    #[arg(long, value_name = "FILE")]
    ca: Option<PathBuf>,
    /// Agent id (default: the certificate's CN).
    #[arg(long, value_name = "ID")]
    agent_id: Option<String>,
    /// Spool directory for unsent batches.
    #[arg(long, value_name = "DIR")]
    spool: Option<PathBuf>,
    /// Capture worker threads (default: cores - 1).
    #[arg(long, value_name = "N")]
    workers: Option<usize>,
    /// Packet-time seconds per aggregation window.
    #[arg(long, value_name = "SECS")]
    window_secs: Option<u64>,
    /// Ship the open window after this many idle milliseconds.
    #[arg(long, value_name = "MS")]
    idle_flush_ms: Option<u64>,
    /// Serve Prometheus metrics at http://ADDR/metrics.
    #[arg(long, value_name = "ADDR")]
    metrics_listen: Option<String>,
    /// OpenAPI catalogue used to template paths as the collector will (files or directories).
    #[arg(long = "catalog", value_name = "FILE|DIR")]
    catalog: Vec<PathBuf>,
    /// Extra folder the catalogue's `$ref`s may read from, besides the catalogue's own folders
    /// (repeatable). References that resolve anywhere else are refused.
    #[arg(long = "catalog-root", value_name = "DIR")]
    catalog_root: Vec<PathBuf>,
    /// Configuration file (TOML) with an [agent] section.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Take the client address from X-Forwarded-For/Forwarded.
    #[arg(long)]
    trust_forwarded: bool,
    /// Which exchanges are learned from (field shapes, data classes); every exchange is
    /// counted either way.
    #[arg(long, value_enum, default_value = "sampled")]
    learn: common::Learn,
    /// Live capture engine: one AF_PACKET ring per worker in a fanout group (Linux), or one
    /// libpcap handle whose frames are dispatched to the workers. `afpacket` falls back to
    /// libpcap (with a warning) when the rings cannot be opened.
    #[arg(long, value_enum, default_value = "afpacket")]
    capture: CaptureEngine,
    #[command(flatten)]
    kafka: common::KafkaArgs,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum CaptureEngine {
    Afpacket,
    Pcap,
}

fn required<T: Clone>(v: &Option<T>, what: &str) -> Result<T> {
    match v {
        Some(v) => Ok(v.clone()),
        None => super::usage!("agent: {what} is required (flag or [agent] in the config file)"),
    }
}

pub fn run(args: AgentArgs) -> Result<u8> {
    let config = super::config::Config::load(args.config.as_deref())?;
    let mut s: AgentSettings = config.agent.clone();
    macro_rules! over {
        ($($f:ident),*) => { $( if args.$f.is_some() { s.$f = args.$f.clone(); } )* };
    }
    over!(interface, bpf, cert, key, ca, agent_id, metrics_listen);
    // `--collector ""` names none (with --kafka-brokers the agent needs none).
    if args.collector.iter().any(|c| !c.trim().is_empty()) {
        s.collector = Some(args.collector.join(","));
    }
    if let Some(v) = &args.spool {
        s.spool = v.clone();
    }
    if let Some(v) = args.workers {
        s.workers = v;
    }
    if let Some(v) = args.window_secs {
        s.window_secs = v;
    }
    if let Some(v) = args.idle_flush_ms {
        s.idle_flush_ms = v;
    }
    if !args.catalog.is_empty() {
        s.catalog = args.catalog.clone();
    }
    if !args.catalog_root.is_empty() {
        s.catalog_root = args.catalog_root.clone();
    }
    let kafka = args.kafka.options();
    let urls = match (&kafka, &s.collector) {
        (Some(_), None) => Vec::new(),
        _ => parse_collectors(&[required(&s.collector, "--collector or --kafka-brokers")?])?,
    };
    let sink = match &kafka {
        Some(options) => Some(Arc::new(
            agent::ship::kafka::KafkaSink::new(options, Duration::from_millis(s.timeout_ms.max(1)))
                .map_err(|e| anyhow::anyhow!("agent: {e}"))?,
        )),
        None => None,
    };
    let (cert, key, ca) = (
        required(&s.cert, "--cert")?,
        required(&s.key, "--key")?,
        required(&s.ca, "--ca")?,
    );
    let tls = client_config(&ca, Some((&cert, &key)))?;
    let agent_id = match &s.agent_id {
        Some(id) => id.clone(),
        None => cert_identity(&cert).with_context(|| {
            format!(
                "agent: no CN or DNS name in {}; pass --agent-id",
                cert.display()
            )
        })?,
    };
    if !analyzer::wire::valid_agent_id(&agent_id) {
        super::usage!("agent: agent id {agent_id:?} is not valid (A-Z a-z 0-9 . _ - : @)");
    }

    if !common::has_site_secret() {
        // An agent ships to a collector, where other agents (and this one's next run) report
        // too: consumer fingerprints must be keyed alike everywhere or they never match.
        eprintln!(
            "shadowtap agent {agent_id}: warning: SHADOWTAP_SITE_SECRET is not set: consumer \
             fingerprints use a random secret of this run only, so the collector counts the same \
             API key (or token) as a different consumer for each agent and each run, and \
             API-key consumers are double counted. Set the same secret on every agent of the site"
        );
    }
    let catalogue = common::load_catalogue(&s.catalog, &s.catalog_root)?;
    let classifier = common::load_classifier(s.rules.as_deref())?;
    let mut observer = common::observer(
        &catalogue,
        classifier,
        args.trust_forwarded || config.consumers.trust_forwarded,
    );
    common::with_openbanking(&mut observer, &config.findings.openbanking)?;
    let metrics = AgentMetrics::default();
    let stop_metrics = Arc::new(AtomicBool::new(false));
    if let Some(addr) = &s.metrics_listen {
        let listener = std::net::TcpListener::bind(addr)
            .with_context(|| format!("agent: metrics listener on {addr}"))?;
        let (m, stop) = (metrics.clone(), Arc::clone(&stop_metrics));
        std::thread::Builder::new()
            .name("shadowtap-metrics".into())
            .spawn(move || agent::metrics::serve(listener, m, stop))
            .context("agent: starting the metrics thread")?;
    }
    let mut shipper = Shipper::start(
        ShipperConfig {
            agent_id: agent_id.clone(),
            urls,
            kafka: sink,
            tls,
            ca_file: ca.clone(),
            spool_dir: s.spool.clone(),
            spool: SpoolLimits {
                max_batches: s.spool_max_batches,
                max_bytes: s.spool_max_mib.saturating_mul(1 << 20),
            },
            timeout: Duration::from_millis(s.timeout_ms.max(1)),
            retry_min: Duration::from_millis(s.retry_min_ms.max(1)),
            retry_max: Duration::from_millis(s.retry_max_ms.max(s.retry_min_ms).max(1)),
            drain_timeout: Duration::from_millis(s.drain_timeout_ms),
            queue: 256,
            // Kafka's default message.max.bytes is 1 MiB.
            max_batch_bytes: if kafka.is_some() {
                900 << 10
            } else {
                agent::ship::shipper::DEFAULT_MAX_BATCH_BYTES
            },
        },
        metrics.clone(),
    )
    .with_context(|| format!("agent: spool {}", s.spool.display()))?;
    // Own rings need no dispatcher thread: one worker per core. Otherwise one core reads.
    let workers =
        if s.workers == 0 && args.read.is_none() && args.capture == CaptureEngine::Afpacket {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            s.worker_count()
        };
    // Each worker sees its share of the flows: sampling is shared across them.
    observer.learn = args.learn.mode().per_worker(workers);
    let run_config = CaptureConfig {
        workers,
        window_secs: s.window_secs,
        idle_flush: Duration::from_millis(s.idle_flush_ms.max(1)),
        queue_batches: s.queue_batches(),
        block_when_full: args.read.is_some(),
        inventory: InventoryLimits::default(),
        shard_seed: std::collections::hash_map::RandomState::new().hash_one(0u8),
        ..CaptureConfig::default()
    };
    let left = shipper.spool().stats().batches;
    if left > 0 {
        eprintln!(
            "shadowtap agent {agent_id}: the spool holds {left} batch(es) from an earlier run; they are sent first (the collector ignores any it already stored)"
        );
    }
    // A file replayed into this spool before is not read again: what is left of it in the
    // spool is delivered (the collector ignores batches it already stored), and nothing is
    // counted twice.
    let mut deliver_only = false;
    if let Some(path) = &args.read {
        let identity = agent::ship::spool::capture_identity(path)
            .with_context(|| format!("agent: reading {}", path.display()))?;
        let spool = shipper.spool();
        if let Some(epoch) = spool.replayed_before(&identity)? {
            if args.force_replay {
                eprintln!(
                    "shadowtap agent {agent_id}: warning: replaying {} again (--force-replay): its traffic is counted twice",
                    path.display()
                );
            } else if left > 0 {
                deliver_only = true;
                eprintln!(
                    "shadowtap agent {agent_id}: {} was replayed into spool {} before (run epoch {epoch}): it is not read again; the {left} batch(es) left in the spool are delivered",
                    path.display(),
                    s.spool.display()
                );
            } else {
                bail!(
                    "agent: {} was already replayed into spool {} (run epoch {epoch}) and all of it was delivered; replaying it again would count its traffic twice at the collector. Pass --force-replay to do it anyway",
                    path.display(),
                    s.spool.display()
                );
            }
        }
        if !deliver_only && !spool.record_replay(&identity)? {
            eprintln!("shadowtap agent {agent_id}: warning: this spool remembers too many replays; this one is not recorded");
        }
    }
    eprintln!(
        "shadowtap agent {agent_id}: epoch {}, {} worker(s), shipping to {}",
        shipper.epoch(),
        run_config.workers,
        match &kafka {
            Some(k) => format!("Kafka topic {} at {}", k.topic, k.brokers),
            None => s.collector.clone().unwrap_or_default(),
        }
    );
    let summary = if deliver_only {
        Ok(agent::runner::RunSummary::default())
    } else if let Some(path) = &args.read {
        let mut source = FileSource::open(path)?;
        capture::run(
            &mut source,
            &observer,
            &run_config,
            // A file waits for the spooler rather than dropping windows.
            shipper.handle().waiting(),
            metrics.clone(),
        )
    } else {
        let interface = required(&s.interface, "--interface or --read")?;
        let live = LiveConfig {
            interface: interface.clone(),
            snaplen: s.snaplen,
            promiscuous: s.promiscuous,
            buffer_size: s.buffer_mib.saturating_mul(1 << 20),
            bpf: s.bpf.clone(),
            ..LiveConfig::new(interface.clone())
        };
        let rings = match args.capture {
            CaptureEngine::Afpacket => {
                let ring = AfPacketConfig {
                    snaplen: s.snaplen,
                    promiscuous: s.promiscuous,
                    bpf: s.bpf.clone(),
                    ..AfPacketConfig::new(interface.clone())
                };
                match capture::open_rings(&ring, run_config.workers) {
                    Ok(r) => Some(r),
                    Err(e) => {
                        eprintln!("shadowtap agent: warning: AF_PACKET rings unavailable ({e}); capturing with libpcap");
                        None
                    }
                }
            }
            CaptureEngine::Pcap => None,
        };
        match rings {
            Some((sources, stop)) => {
                ctrlc::set_handler(move || stop.stop())
                    .context("agent: installing signal handler")?;
                eprintln!(
                    "shadowtap agent {agent_id}: capturing on {interface} with {} AF_PACKET ring(s)",
                    sources.len()
                );
                capture::run_rings(
                    sources,
                    &observer,
                    &run_config,
                    shipper.handle(),
                    metrics.clone(),
                )
            }
            None => {
                let mut source = LiveSource::open(live)?;
                let stop = source.stop_handle();
                ctrlc::set_handler(move || stop.stop())
                    .context("agent: installing signal handler")?;
                eprintln!("shadowtap agent {agent_id}: capturing on {interface} with libpcap");
                capture::run(
                    &mut source,
                    &observer,
                    &run_config,
                    shipper.handle(),
                    metrics.clone(),
                )
            }
        }
    };
    // Every window on disk before saying so: what follows is delivery, and may be interrupted
    // without losing anything.
    shipper.spool_all();
    if let (Some(path), Ok(done), false) = (&args.read, &summary, deliver_only) {
        eprintln!(
            "shadowtap agent {agent_id}: {} read ({} frames), all windows spooled; sending",
            path.display(),
            done.frames
        );
    }
    let report = shipper.finish();
    stop_metrics.store(true, std::sync::atomic::Ordering::Relaxed);
    let summary = summary?;
    eprintln!(
        "shadowtap agent {agent_id}: {} frames, {} dispatch drops{}, windows dropped {}; batches sent {}, duplicate {}, failed attempts {}, split {}, set aside {}; spool left {} (dropped {})",
        summary.frames,
        summary.dispatch_drops,
        summary
            .capture
            .map(|c| format!(", kernel drops {}, interface drops {}", c.dropped, c.if_dropped))
            .unwrap_or_default(),
        metrics.windows_dropped.get(),
        report.sent,
        report.duplicate,
        report.failed,
        report.split,
        report.rejected,
        report.spool.batches,
        report.spool.dropped
    );
    let undelivered = report.spool.batches.saturating_add(report.rejected);
    if undelivered > 0 {
        eprintln!(
            "shadowtap agent {agent_id}: error: {undelivered} batch(es) not delivered ({} left in spool {}, {} refused for good and set aside): {} (exit {})",
            report.spool.batches,
            s.spool.display(),
            report.rejected,
            report
                .last_error
                .as_deref()
                .unwrap_or("the drain timeout ended before the collector took them"),
            super::EXIT_UNDELIVERED
        );
        return Ok(super::EXIT_UNDELIVERED);
    }
    Ok(0)
}

use std::hash::BuildHasher;
