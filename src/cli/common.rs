//! Pieces shared by subcommands: catalogue loading, observer setup, capture reading.

use agent::analysis::AnalysisSink;
use agent::http::ExchangeSink;
use agent::pipeline::PipelineStats;
use agent::runner::{self, NoHooks, Progress, RunConfig};
use agent::source::file::FileSource;
use analyzer::catalogue::Catalogue;
use analyzer::classify::Classifier;
use analyzer::consumer::ConsumerConfig;
use analyzer::observe::Observer;
use analyzer::report::CaptureTotals;
use analyzer::template::Templater;
use analyzer::tls::TlsInventory;
use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

/// Report formats (`analyzer::report::Format`) on the command line.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum ReportFormat {
    Text,
    Json,
    Markdown,
    /// One self-contained HTML file (inline CSS and SVG, no script, no external reference).
    Html,
    /// SARIF 2.1.0 for code-scanning dashboards.
    Sarif,
}

impl From<ReportFormat> for analyzer::report::Format {
    fn from(f: ReportFormat) -> Self {
        use analyzer::report::Format;
        match f {
            ReportFormat::Text => Format::Text,
            ReportFormat::Json => Format::Json,
            ReportFormat::Markdown => Format::Markdown,
            ReportFormat::Html => Format::Html,
            ReportFormat::Sarif => Format::Sarif,
        }
    }
}

/// How a report is written, shared by `scan` and `report --collector`.
#[derive(clap::Args)]
pub struct OutputArgs {
    #[arg(long, value_enum, default_value = "text")]
    pub format: ReportFormat,
    /// Write the report here instead of stdout.
    #[arg(long, value_name = "PATH")]
    pub out: Option<PathBuf>,
    /// Exit with status 3 when a finding at or above this severity exists. Findings a reviewer
    /// suppressed or accepted on the collector do not count.
    #[arg(long, value_name = "SEVERITY")]
    pub fail_on: Option<analyzer::finding::Severity>,
    /// Review baseline (from `shadowtap baseline`, or a saved JSON report): report only the
    /// findings that are new or changed since, and list the fixed ones.
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
}

impl OutputArgs {
    /// The baseline file, read and checked (before any long work starts), with its name.
    pub fn load_baseline(&self) -> Result<Option<(String, analyzer::diff::baseline::Baseline)>> {
        self.baseline
            .as_ref()
            .map(|p| Ok((p.display().to_string(), super::baseline::load(p)?)))
            .transpose()
    }

    /// Fail now if `--out` cannot be written, before any long work.
    pub fn check(&self) -> Result<()> {
        self.out.as_deref().map_or(Ok(()), check_output)
    }

    /// Write the rendered report to `--out` or stdout.
    pub fn write(&self, rendered: &[u8]) -> Result<()> {
        write_output(self.out.as_deref(), rendered)
    }

    /// Render `report` in `--format` and write it: the one output path of `scan` (the
    /// collector renders with the same `ScanReport::render` for `report --collector`).
    /// Returns whether `--fail-on` is tripped.
    pub fn emit(
        &self,
        report: &analyzer::report::ScanReport,
        catalogue: &Catalogue,
    ) -> Result<bool> {
        self.write(report.render(self.format.into(), catalogue).as_bytes())?;
        Ok(self.fail_on.is_some_and(|t| report.has_findings_at(t)))
    }
}

/// Captures above this size get a progress bar (when stderr is a terminal).
const PROGRESS_MIN_BYTES: u64 = 8 * 1024 * 1024;

/// Load the catalogue; problems in single documents are printed and the rest still loads.
/// `roots`: extra folders `$ref`s may read from (`--catalog-root`).
pub fn load_catalogue(paths: &[PathBuf], roots: &[PathBuf]) -> Result<Catalogue> {
    if paths.is_empty() {
        return Ok(Catalogue::default());
    }
    let loaded = collector::catalogue_files::load_catalogue_with(paths, &catalogue_options(roots))?;
    for e in &loaded.errors {
        eprintln!("shadowtap: ERROR: catalogue file failed to load: {e}");
    }
    Ok(loaded.catalogue)
}

/// Catalogue loading options with the extra roots of `--catalog-root`.
pub fn catalogue_options(roots: &[PathBuf]) -> collector::catalogue_files::CatalogueOptions {
    collector::catalogue_files::CatalogueOptions {
        extra_roots: roots.to_vec(),
        ..Default::default()
    }
}

/// The classifier: built-in rules, optionally overridden from a directory of TOML files.
pub fn load_classifier(rules_dir: Option<&Path>) -> Result<Classifier> {
    let Some(dir) = rules_dir else {
        return Ok(Classifier::builtin());
    };
    let mut sources = Vec::new();
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading rules directory {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    entries.sort();
    for path in entries {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        sources.push((path.display().to_string(), text));
    }
    Ok(Classifier::with_overrides(&sources)?)
}

/// Whether `SHADOWTAP_SITE_SECRET` is set (non-empty).
pub fn has_site_secret() -> bool {
    std::env::var("SHADOWTAP_SITE_SECRET").is_ok_and(|s| !s.is_empty())
}

/// The site secret keys consumer fingerprints. Without one, a random per-run secret is used:
/// fingerprints are then comparable within this run only.
pub fn consumer_config(trust_forwarded: bool) -> ConsumerConfig {
    match std::env::var("SHADOWTAP_SITE_SECRET") {
        Ok(secret) if !secret.is_empty() => ConsumerConfig::new(secret.as_bytes(), trust_forwarded),
        _ => {
            use std::hash::{BuildHasher, Hasher};
            // RandomState is seeded from the OS; two of them give 128 unpredictable bits.
            let mut seed = Vec::with_capacity(16);
            for _ in 0..2 {
                let mut h = std::collections::hash_map::RandomState::new().build_hasher();
                h.write_u8(0);
                seed.extend_from_slice(&h.finish().to_le_bytes());
            }
            ConsumerConfig::new(&seed, trust_forwarded)
        }
    }
}

/// The consumer configuration from the `[consumers]` section (`trust_forwarded` also set by the
/// command-line flag), keyed like [`consumer_config`].
pub fn consumer_config_from(
    settings: &analyzer::consumer::ConsumerSettings,
    trust_forwarded_flag: bool,
) -> Result<ConsumerConfig> {
    let mut cfg = consumer_config(settings.trust_forwarded || trust_forwarded_flag);
    cfg.trusted_proxies = settings.proxies()?;
    Ok(cfg)
}

/// The observer for a catalogue and the `[consumers]` section.
pub fn observer_with(
    catalogue: &Catalogue,
    classifier: Classifier,
    consumers: &analyzer::consumer::ConsumerSettings,
    trust_forwarded_flag: bool,
) -> Result<Observer> {
    Ok(Observer::new(
        Templater::new(catalogue.routes()),
        classifier,
        consumer_config_from(consumers, trust_forwarded_flag)?,
    )
    .with_grpc_schema(catalogue))
}

/// Turn the open-banking lens on when `[findings.openbanking]` says so.
pub fn with_openbanking(
    observer: &mut Observer,
    settings: &analyzer::openbanking::ObSettings,
) -> Result<()> {
    observer.openbanking =
        analyzer::openbanking::Lens::from_settings(settings)?.map(std::sync::Arc::new);
    Ok(())
}

pub fn observer(catalogue: &Catalogue, classifier: Classifier, trust_forwarded: bool) -> Observer {
    Observer::new(
        Templater::new(catalogue.routes()),
        classifier,
        consumer_config(trust_forwarded),
    )
    .with_grpc_schema(catalogue)
}

/// How much of the traffic is learned from (`--learn`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Learn {
    /// Dense at first, then sampled while nothing new appears; a prefilter sends bodies with a
    /// data class new to their endpoint to the walk anyway.
    Sampled,
    /// Every body decoded and walked, every header value classified (slowest).
    All,
}

/// Options of the analysis shared by `scan` and `baseline`.
#[derive(clap::Args, Clone, Debug)]
pub struct AnalysisArgs {
    /// Worker threads (default: one per core). Connections are sharded by a symmetric hash.
    #[arg(long, value_name = "N")]
    pub workers: Option<usize>,
    /// Which exchanges are learned from (field shapes, data classes); every exchange is
    /// counted either way.
    #[arg(long, value_enum, default_value = "sampled")]
    pub learn: Learn,
}

impl AnalysisArgs {
    pub fn workers(&self) -> usize {
        self.workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
            .max(1)
    }

    /// The learn mode of each worker (sampling is shared across them).
    pub fn learn_mode(&self) -> analyzer::engine::policy::LearnMode {
        self.learn.mode().per_worker(self.workers())
    }
}

impl Learn {
    pub fn mode(self) -> analyzer::engine::policy::LearnMode {
        match self {
            Learn::Sampled => analyzer::engine::policy::LearnMode::default(),
            Learn::All => analyzer::engine::policy::LearnMode::All,
        }
    }
}

/// Run every capture through the runner with one sink per worker, in order (rotated files
/// continue each other's flows). A damaged capture is read up to the damage and its error
/// kept for the report. Returns the sinks, the counters of the whole run and the totals.
pub fn read_captures<S>(
    captures: &[PathBuf],
    sinks: Vec<S>,
    show_progress: bool,
) -> Result<(Vec<S>, PipelineStats, CaptureTotals)>
where
    S: ExchangeSink + Send,
    S::Message: Send,
{
    // A fixed shard seed: which worker a flow lands on decides which bodies its sampling
    // policy learns, and an offline run must give the same report every time. (The live agent
    // draws its seed from the OS so traffic cannot steer flows onto one worker; in a file,
    // steering could only unbalance the run, not hide anything.)
    let config = RunConfig {
        workers: sinks.len(),
        ..RunConfig::default()
    };
    let mut hooks = vec![NoHooks; sinks.len()];
    let (outcome, finished, _summary) = runner::run(&config, sinks, &mut hooks, |feeder| {
        let mut errors = Vec::new();
        for path in captures {
            let mut source = open_capture(path)?;
            let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
            let bar =
                (show_progress && size >= PROGRESS_MIN_BYTES && std::io::stderr().is_terminal())
                    .then(|| {
                        let bar = ProgressBar::new(size);
                        bar.set_style(
                            ProgressStyle::with_template(
                                "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
                            )
                            .unwrap_or_else(|_| ProgressStyle::default_bar()),
                        );
                        bar.set_message(path.display().to_string());
                        bar
                    });
            // Compressed inputs report uncompressed bytes; the bar then only shows movement.
            let mut progress = |p: Progress| {
                if let Some(b) = &bar {
                    b.set_position(p.consumed.min(size));
                }
            };
            if let Err(e) = feeder.source(&mut source, &mut progress) {
                eprintln!("shadowtap: warning: {e} (frames before it were analysed)");
                errors.push(e.to_string());
            }
            if let Some(b) = bar {
                b.finish_and_clear();
            }
        }
        Ok::<_, anyhow::Error>(errors)
    });
    let mut errors = outcome?;
    let mut stats = PipelineStats::default();
    let mut sinks = Vec::with_capacity(finished.len());
    for f in finished {
        stats.merge(&f.stats);
        sinks.push(f.sink);
    }
    // Frames of a link type we cannot decode are not "no traffic": without this, such a
    // capture reads as quiet and every declared operation as orphaned.
    let undecodable = stats
        .counters
        .get("decode.decode_unsupported_link")
        .copied()
        .unwrap_or(0);
    if undecodable > 0 {
        let message = format!(
            "{undecodable} of {} frames have a link type shadowtap does not decode; they were counted, not analysed",
            stats.packets
        );
        eprintln!("shadowtap: warning: {message}");
        errors.push(message);
    }
    let totals = CaptureTotals {
        capture_files: captures.iter().map(|p| p.display().to_string()).collect(),
        packets: stats.packets,
        bytes: stats.bytes,
        tcp_flows: stats.tcp_flows,
        http_exchanges: stats.http_exchanges,
        anomalies: stats.anomalies.clone(),
        counters: stats.counters.clone(),
        errors,
    };
    Ok((sinks, stats, totals))
}

/// A capture file, or standard input for `-` (`tcpdump -w - | shadowtap scan -`).
pub fn open_capture(path: &Path) -> Result<FileSource, agent::source::SourceError> {
    if path == Path::new("-") {
        return FileSource::from_reader("standard input", Box::new(std::io::stdin()));
    }
    FileSource::open(path)
}

/// The whole text of an input file, or of standard input for `-`.
pub fn read_input(path: &Path, what: &str) -> Result<String> {
    if path == Path::new("-") {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
            .with_context(|| format!("reading {what} from standard input"))?;
        return Ok(text);
    }
    std::fs::read_to_string(path).with_context(|| format!("reading {what} {}", path.display()))
}

/// Fail now, before minutes of reading captures, if `path` cannot be written: a missing
/// folder, a directory, no permission. A file that did not exist is not left behind.
pub fn check_output(path: &Path) -> Result<()> {
    let existed = path.exists();
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    if !existed {
        let _ = std::fs::remove_file(path);
    }
    Ok(())
}

/// Write `text` to `path`, or to standard output without one.
pub fn write_output(path: Option<&Path>, text: &[u8]) -> Result<()> {
    match path {
        Some(path) => {
            std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
        }
        None => super::write_stdout(text),
    }
}

/// What reading captures against a catalogue gives: the inventory (cardinality-collapsed), the
/// TLS hosts, every finding sorted, and the capture totals. `scan` and `baseline` share it so a
/// baseline holds exactly the findings a scan would report.
pub struct Analysis {
    pub inventory: analyzer::inventory::Inventory,
    pub tls: TlsInventory,
    pub findings: Vec<analyzer::finding::Finding>,
    pub totals: CaptureTotals,
}

pub fn analyse(
    captures: &[PathBuf],
    catalogue: &Catalogue,
    observer: &Observer,
    config: &super::config::Config,
    workers: usize,
    show_progress: bool,
) -> Result<Analysis> {
    use analyzer::finding::Severity;
    use analyzer::inventory::{Inventory, InventoryLimits};
    use analyzer::tls::TlsLimits;
    let sinks = (0..workers.max(1))
        .map(|_| AnalysisSink::new(observer, InventoryLimits::default()))
        .collect();
    let (sinks, _stats, mut totals) = read_captures(captures, sinks, show_progress)?;
    let mut inventory = Inventory::new(InventoryLimits::default());
    let mut tls = TlsInventory::new(TlsLimits::default());
    for sink in sinks {
        for (name, v) in sink.builder.counters() {
            *totals.counters.entry(format!("engine.{name}")).or_default() += v;
        }
        inventory.merge(&sink.builder.finish());
        tls.merge(&sink.tls);
    }
    // The step the collector runs on its merged store too (one analysis, two transports).
    let class_severity = |class: &str| observer.classifier.severity(class).unwrap_or(Severity::Low);
    let analyzer::derive::Derived {
        inventory,
        tls,
        findings,
        counters,
    } = analyzer::derive::derive(
        inventory,
        tls,
        catalogue,
        &config.templating,
        &config.findings,
        &class_severity,
    );
    totals.counters.extend(counters);
    Ok(Analysis {
        inventory,
        tls,
        findings,
        totals,
    })
}

/// The Kafka transport's flags, shared by `agent` (publish) and `collector` (consume).
#[derive(clap::Args, Clone, Debug, Default)]
pub struct KafkaArgs {
    /// Kafka brokers, HOST:PORT,... (the agent publishes batches there instead of to
    /// --collector; the collector consumes them with --kafka-group).
    #[arg(long, value_name = "HOST:PORT,...")]
    pub kafka_brokers: Option<String>,
    /// Topic of the batches.
    #[arg(long, value_name = "TOPIC", default_value = "shadowtap-batches")]
    pub kafka_topic: String,
    /// CA (PEM) that signed the brokers' certificates: turns TLS on.
    #[arg(long, value_name = "FILE")]
    pub kafka_ca: Option<PathBuf>,
    /// Client certificate (PEM) for mTLS to the brokers.
    #[arg(long, value_name = "FILE", requires = "kafka_key")]
    pub kafka_cert: Option<PathBuf>,
    /// Client key (PEM) for mTLS to the brokers.
    #[arg(long, value_name = "FILE", requires = "kafka_cert")]
    pub kafka_key: Option<PathBuf>,
    /// SASL mechanism: SCRAM-SHA-256 or SCRAM-SHA-512 (the default with a SASL user).
    #[arg(long, value_name = "MECHANISM")]
    pub kafka_sasl_mechanism: Option<String>,
    /// SASL user name.
    #[arg(long, value_name = "USER", requires = "kafka_sasl_password_file")]
    pub kafka_sasl_user: Option<String>,
    /// File whose first line is the SASL password.
    #[arg(long, value_name = "FILE", requires = "kafka_sasl_user")]
    pub kafka_sasl_password_file: Option<PathBuf>,
}

impl KafkaArgs {
    /// The options, when --kafka-brokers is given.
    pub fn options(&self) -> Option<analyzer::kafka::KafkaOptions> {
        let brokers = self.kafka_brokers.clone()?;
        Some(analyzer::kafka::KafkaOptions {
            brokers,
            topic: self.kafka_topic.clone(),
            ca: self.kafka_ca.clone(),
            cert: self.kafka_cert.clone(),
            key: self.kafka_key.clone(),
            sasl_mechanism: self.kafka_sasl_mechanism.clone(),
            sasl_user: self.kafka_sasl_user.clone(),
            sasl_password_file: self.kafka_sasl_password_file.clone(),
        })
    }
}
