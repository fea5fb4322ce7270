//! Capture-only rate measurement for the AF_PACKET source (used by `scripts/live-bench.sh`).
//!
//! Opens N `AfPacketSource` workers in one fanout group on an interface, reads frames in one
//! thread per worker (counting frames and bytes and touching each frame's header bytes, no
//! decoding), and stops once frames stop arriving (`--idle-exit-ms` after the last one) or
//! after `--max-secs`. Prints one `key=value` line on stdout with the totals and the kernel's
//! counters. This measures capture alone, not the decode/flow/HTTP pipeline.
//!
//! With `--pipeline`, each worker instead runs the agent's whole live path: the runner's
//! own-source mode (`runner::run_sources`, as `shadowtap agent --capture afpacket`) with one
//! analysis pipeline per ring (decode, flows and reassembly, HTTP, the count and learn paths,
//! sampled learning as the agent's default) and also prints the HTTP exchanges counted. Only
//! shipping to a collector is left out.
//!
//! ```text
//! afpacket_rate --interface IF [--workers N] [--group ID] [--bpf EXPR] [--pipeline]
//!               [--block-size BYTES] [--block-count N] [--block-timeout-ms MS]
//!               [--idle-exit-ms MS] [--max-secs S] [--ready-file PATH]
//! ```

use agent::analysis::AnalysisSink;
use agent::http::ExchangeSink;
use agent::pipeline::{Pipeline, PipelineStats};
use agent::runner::{self, RunConfig, WorkerHooks};
use agent::source::afpacket::{AfPacketConfig, AfPacketSource, AfPacketStats, NextFrame};
use analyzer::classify::Classifier;
use analyzer::consumer::ConsumerConfig;
use analyzer::inventory::InventoryLimits;
use analyzer::observe::Observer;
use analyzer::template::Templater;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Args {
    config: AfPacketConfig,
    workers: usize,
    idle_exit: Duration,
    max: Duration,
    ready_file: Option<String>,
    pipeline: bool,
}

const USAGE: &str =
    "usage: afpacket_rate --interface IF [--workers N] [--group ID] [--bpf EXPR] [--pipeline] \
[--block-size BYTES] [--block-count N] [--block-timeout-ms MS] [--idle-exit-ms MS] \
[--max-secs S] [--ready-file PATH]";

fn parse_args() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let mut interface = None;
    let mut workers = 1usize;
    let mut group = None;
    let mut bpf = None;
    let mut block_size = None;
    let mut block_count = None;
    let mut block_timeout = None;
    let mut idle_exit_ms = 1000u64;
    let mut max_secs = 120u64;
    let mut ready_file = None;
    let mut pipeline = false;
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))
        };
        fn num<T: std::str::FromStr>(flag: &str, v: String) -> Result<T, String> {
            v.parse()
                .map_err(|_| format!("{flag}: not a number: {v:?}\n{USAGE}"))
        }
        match flag.as_str() {
            "--interface" | "-i" => interface = Some(value()?),
            "--workers" | "-w" => workers = num(&flag, value()?)?,
            "--group" => group = Some(num::<u16>(&flag, value()?)?),
            "--bpf" => bpf = Some(value()?),
            "--block-size" => block_size = Some(num::<u32>(&flag, value()?)?),
            "--block-count" => block_count = Some(num::<u32>(&flag, value()?)?),
            "--block-timeout-ms" => block_timeout = Some(num::<u32>(&flag, value()?)?),
            "--idle-exit-ms" => idle_exit_ms = num(&flag, value()?)?,
            "--max-secs" => max_secs = num(&flag, value()?)?,
            "--ready-file" => ready_file = Some(value()?),
            "--pipeline" => pipeline = true,
            "--help" | "-h" => return Err(USAGE.to_string()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    let interface = interface.ok_or_else(|| format!("--interface is required\n{USAGE}"))?;
    let mut config = AfPacketConfig::new(interface);
    if let Some(g) = group {
        config.fanout_group = g;
    }
    config.bpf = bpf;
    if let Some(v) = block_size {
        config.block_size = v;
    }
    if let Some(v) = block_count {
        config.block_count = v;
    }
    if let Some(v) = block_timeout {
        config.block_timeout_ms = v;
    }
    config.validate()?;
    if workers == 0 {
        return Err("--workers must be at least 1".to_string());
    }
    Ok(Args {
        config,
        workers,
        idle_exit: Duration::from_millis(idle_exit_ms),
        max: Duration::from_secs(max_secs),
        ready_file,
        pipeline,
    })
}

struct WorkerResult {
    frames: u64,
    bytes: u64,
    touch: u64,
    stats: Result<AfPacketStats, String>,
    error: Option<String>,
}

/// User + system CPU seconds of this process so far, all threads (from /proc/self/stat;
/// clock ticks are USER_HZ, 100 on mainstream Linux architectures).
fn cpu_secs() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    let fields: Vec<&str> = rest.split_ascii_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// Counts a worker's packets for the idle-exit watch (published every 1024 and when idle).
struct Counting {
    published: Arc<AtomicU64>,
    unpublished: u64,
}

impl Counting {
    fn publish(&mut self) {
        self.published
            .fetch_add(self.unpublished, Ordering::Relaxed);
        self.unpublished = 0;
    }
}

impl<S: ExchangeSink> WorkerHooks<S> for Counting {
    fn packet(&mut self, _pipeline: &mut Pipeline<S>, _ts: analyzer::time::Timestamp) {
        self.unpublished += 1;
        if self.unpublished >= 1024 {
            self.publish();
        }
    }
    fn idle(&mut self, _pipeline: &mut Pipeline<S>) {
        self.publish();
    }
    fn finished(&mut self, _sink: &mut S, _stats: &PipelineStats) {
        self.publish();
    }
}

/// Wait until frames stop arriving (or the time is up); the time from first to last frame.
fn watch(args: &Args, published: &AtomicU64, done: impl Fn() -> bool) -> Option<Duration> {
    let start = Instant::now();
    let mut last_count = 0u64;
    let mut last_change = Instant::now();
    let mut first_frame: Option<Instant> = None;
    loop {
        std::thread::sleep(Duration::from_millis(20));
        let now = Instant::now();
        let count = published.load(Ordering::Relaxed);
        if count != last_count {
            if last_count == 0 {
                first_frame = Some(now);
            }
            last_count = count;
            last_change = now;
        }
        if (count > 0 && now.duration_since(last_change) >= args.idle_exit)
            || now.duration_since(start) >= args.max
            || done()
        {
            break;
        }
    }
    first_frame.map(|f| last_change.duration_since(f))
}

/// The agent's live path on every ring: see the module docs.
fn run_pipeline(args: &Args) -> Result<(), String> {
    let sources =
        AfPacketSource::open_group(&args.config, args.workers).map_err(|e| e.to_string())?;
    let stop = sources
        .first()
        .map(AfPacketSource::stop_handle)
        .ok_or("no worker opened")?;
    let published = Arc::new(AtomicU64::new(0));
    let workers = args.workers;
    let counting = Arc::clone(&published);
    let runner = std::thread::spawn(move || {
        let observer = Observer::new(
            Templater::default(),
            Classifier::builtin(),
            ConsumerConfig::new(b"afpacket_rate", false),
        );
        let config = RunConfig {
            workers,
            block_when_full: false,
            inline_first: false,
            idle: Some(Duration::from_millis(50)),
            ..RunConfig::default()
        };
        let sinks = (0..workers)
            .map(|_| AnalysisSink::new(&observer, InventoryLimits::default()))
            .collect();
        let mut hooks: Vec<Counting> = (0..workers)
            .map(|_| Counting {
                published: Arc::clone(&counting),
                unpublished: 0,
            })
            .collect();
        let results = runner::run_sources(&config, sources, sinks, &mut hooks);
        let mut stats = PipelineStats::default();
        let mut per_worker = Vec::new();
        let mut errors = Vec::new();
        for (finished, result) in results {
            per_worker.push(finished.stats.packets.to_string());
            stats.merge(&finished.stats);
            if let Err(e) = result {
                errors.push(e.to_string());
            }
        }
        (stats, per_worker, errors)
    });
    if let Some(path) = &args.ready_file {
        std::fs::write(path, "ready\n").map_err(|e| format!("{path}: {e}"))?;
    }
    let active = watch(args, &published, || runner.is_finished());
    stop.stop();
    let (stats, per_worker, errors) = runner.join().map_err(|_| "a worker panicked")?;
    let counter = |name: &str| stats.counters.get(name).copied().unwrap_or(0);
    println!(
        "workers={} frames={} bytes={} kernel_packets={} kernel_drops={} freeze_q=0 \
         per_worker={} active_secs={:.3} cpu_secs={:.2} exchanges={} http_gaps={}",
        args.workers,
        stats.packets,
        stats.bytes,
        counter("capture.received"),
        counter("capture.kernel_drops"),
        per_worker.join(":"),
        active.map(|d| d.as_secs_f64()).unwrap_or(0.0),
        cpu_secs().unwrap_or(0.0),
        counter("http.http_exchanges"),
        counter("http.http_gaps"),
    );
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

fn run() -> Result<(), String> {
    let args = parse_args()?;
    if args.pipeline {
        return run_pipeline(&args);
    }
    let sources =
        AfPacketSource::open_group(&args.config, args.workers).map_err(|e| e.to_string())?;
    let stop = sources
        .first()
        .map(AfPacketSource::stop_handle)
        .ok_or("no worker opened")?;
    let published = Arc::new(AtomicU64::new(0));
    let mut threads = Vec::new();
    for mut src in sources {
        let published = Arc::clone(&published);
        threads.push(std::thread::spawn(move || {
            let (mut frames, mut bytes, mut touch, mut unpublished) = (0u64, 0u64, 0u64, 0u64);
            let mut error = None;
            loop {
                match src.next_frame_timeout(Duration::from_millis(50)) {
                    Ok(NextFrame::Frame(f)) => {
                        frames += 1;
                        unpublished += 1;
                        bytes += f.data.len() as u64;
                        // Touch the header bytes a decoder would read first.
                        touch = touch.wrapping_add(u64::from(
                            f.data.get(12).copied().unwrap_or(0)
                                ^ f.data.get(23).copied().unwrap_or(0),
                        ));
                        if unpublished >= 1024 {
                            published.fetch_add(unpublished, Ordering::Relaxed);
                            unpublished = 0;
                        }
                    }
                    Ok(NextFrame::Idle) => {
                        published.fetch_add(unpublished, Ordering::Relaxed);
                        unpublished = 0;
                    }
                    Ok(NextFrame::Stopped) => break,
                    Err(e) => {
                        error = Some(e.to_string());
                        break;
                    }
                }
            }
            published.fetch_add(unpublished, Ordering::Relaxed);
            WorkerResult {
                frames,
                bytes,
                touch,
                stats: src.stats().map_err(|e| e.to_string()),
                error,
            }
        }));
    }
    if let Some(path) = &args.ready_file {
        std::fs::write(path, "ready\n").map_err(|e| format!("{path}: {e}"))?;
    }

    let active = watch(&args, &published, || {
        threads.iter().any(|t| t.is_finished())
    });
    stop.stop();

    let mut total = AfPacketStats::default();
    let (mut frames, mut bytes, mut touch) = (0u64, 0u64, 0u64);
    let mut per_worker = Vec::new();
    let mut errors = Vec::new();
    for (i, t) in threads.into_iter().enumerate() {
        let r = t.join().map_err(|_| format!("worker {i} panicked"))?;
        frames += r.frames;
        bytes += r.bytes;
        touch = touch.wrapping_add(r.touch);
        per_worker.push(r.frames.to_string());
        match r.stats {
            Ok(s) => total += s,
            Err(e) => errors.push(e),
        }
        errors.extend(r.error);
    }
    let active_secs = active.map(|d| d.as_secs_f64()).unwrap_or(0.0);
    let cpu = cpu_secs().unwrap_or(0.0);
    println!(
        "workers={} frames={frames} bytes={bytes} kernel_packets={} kernel_drops={} freeze_q={} \
         per_worker={} active_secs={active_secs:.3} cpu_secs={cpu:.2} \
         ring_bytes_per_worker={} touch={touch}",
        args.workers,
        total.packets,
        total.drops,
        total.freeze_q,
        per_worker.join(":"),
        u64::from(args.config.block_size) * u64::from(args.config.block_count),
    );
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("afpacket_rate: {e}");
            ExitCode::FAILURE
        }
    }
}
