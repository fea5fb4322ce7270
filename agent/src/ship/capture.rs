//! The agent's capture loop: the shared [`crate::runner`] with one [`AnalysisSink`] per worker,
//! windows ([`Window`]) sealed by packet time (or on an idle link) and handed to the shipper.
//!
//! Workers seal a window when packet time has moved `window_secs` past its start, and when no
//! packet arrived for `idle_flush` (wall time as an I/O timeout only: on an idle link packet time
//! stands still, and what was seen must still leave).

use super::aggregator::Window;
use super::shipper::ShipHandle;
use crate::analysis::AnalysisSink;
use crate::metrics::AgentMetrics;
use crate::pipeline::{Pipeline, PipelineConfig, PipelineStats};
use crate::runner::{self, CaptureSource, Progress, RunConfig, RunSummary, WorkerHooks};
use crate::source::afpacket::{AfPacketConfig, AfPacketSource, AfPacketStopHandle};
use crate::source::{LiveStats, SourceError};
use analyzer::inventory::InventoryLimits;
use analyzer::observe::Observer;
use analyzer::time::Timestamp;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct CaptureConfig {
    /// Worker threads (at least 1).
    pub workers: usize,
    /// Packet-time length of an aggregation window.
    pub window_secs: u64,
    /// Seal the open window after this long without packets.
    pub idle_flush: Duration,
    /// Batches of packets queued per worker.
    pub queue_batches: usize,
    /// Wait for a full worker queue instead of dropping (file replay).
    pub block_when_full: bool,
    pub pipeline: PipelineConfig,
    pub inventory: InventoryLimits,
    /// Seed of the flow hash (random per run: steering flows needs knowing it).
    pub shard_seed: u64,
}

impl Default for CaptureConfig {
    fn default() -> Self {
        CaptureConfig {
            workers: 1,
            window_secs: 60,
            idle_flush: Duration::from_secs(5),
            queue_batches: 8,
            block_when_full: false,
            pipeline: PipelineConfig::default(),
            inventory: InventoryLimits::default(),
            shard_seed: 0x5eed,
        }
    }
}

/// One worker's windows: seal on packet time or idleness, ship, publish metrics.
struct Windows {
    window: Window,
    ship: ShipHandle,
    metrics: AgentMetrics,
    /// Counters already published: flows, exchanges, observed exchanges, anomalies.
    seen: (u64, u64, u64, u64),
    /// This worker's capture statistics already published (own-ring workers).
    capture: LiveStats,
    dirty: bool,
}

impl Windows {
    fn new(window_secs: u64, ship: &ShipHandle, metrics: &AgentMetrics) -> Windows {
        Windows {
            window: Window::new(window_secs),
            ship: ship.clone(),
            metrics: metrics.clone(),
            seen: (0, 0, 0, 0),
            capture: LiveStats::default(),
            dirty: false,
        }
    }
}

impl Windows {
    fn publish(&mut self, s: &PipelineStats) {
        let anomalies: u64 = s.anomalies.values().sum();
        let m = &self.metrics;
        m.flows.inc_by(s.tcp_flows.saturating_sub(self.seen.0));
        m.exchanges
            .inc_by(s.http_exchanges.saturating_sub(self.seen.1));
        let observed = s.http_exchanges.saturating_sub(s.unobserved_exchanges);
        m.observations.inc_by(observed.saturating_sub(self.seen.2));
        m.anomalies.inc_by(anomalies.saturating_sub(self.seen.3));
        self.seen = (s.tcp_flows, s.http_exchanges, observed, anomalies);
    }

    fn seal(&mut self, p: &mut Pipeline<AnalysisSink<'_>>) {
        let stats = p.stats();
        self.publish(&stats);
        self.ship.ship(self.window.seal(p.sink_mut(), &stats));
        self.dirty = false;
    }
}

impl<'o> WorkerHooks<AnalysisSink<'o>> for Windows {
    fn packet(&mut self, p: &mut Pipeline<AnalysisSink<'o>>, ts: Timestamp) {
        self.dirty = true;
        if self.window.due(ts) {
            self.seal(p);
        }
    }

    fn idle(&mut self, p: &mut Pipeline<AnalysisSink<'o>>) {
        if self.dirty {
            self.seal(p);
        }
    }

    fn finished(&mut self, sink: &mut AnalysisSink<'o>, stats: &PipelineStats) {
        self.publish(stats);
        self.ship.ship(self.window.seal(sink, stats));
    }

    fn capture(&mut self, now: &LiveStats) {
        let m = &self.metrics;
        let reached = |s: &LiveStats| s.received.saturating_sub(s.dropped);
        m.packets
            .inc_by(reached(now).saturating_sub(reached(&self.capture)));
        m.capture_drops
            .inc_by(now.dropped.saturating_sub(self.capture.dropped) as i64);
        self.capture = *now;
    }
}

/// The sinks and window hooks of `n` workers.
fn workers<'o>(
    n: usize,
    observer: &'o Observer,
    config: &CaptureConfig,
    ship: ShipHandle,
    metrics: &AgentMetrics,
) -> (Vec<AnalysisSink<'o>>, Vec<Windows>) {
    let sinks = (0..n)
        .map(|_| AnalysisSink::new(observer, config.inventory.clone()))
        .collect();
    let hooks = (0..n)
        .map(|_| Windows::new(config.window_secs, &ship, metrics))
        .collect();
    (sinks, hooks)
}

/// Run `source` to its end (a file) or until it is stopped (live).
pub fn run(
    source: &mut dyn CaptureSource,
    observer: &Observer,
    config: &CaptureConfig,
    ship: ShipHandle,
    metrics: AgentMetrics,
) -> Result<RunSummary, SourceError> {
    let n = config.workers.max(1);
    let run_config = RunConfig {
        workers: n,
        queue_batches: config.queue_batches,
        block_when_full: config.block_when_full,
        // A live read can block on an idle link: keep the worker free to seal on idleness.
        inline_first: false,
        idle: Some(config.idle_flush),
        pipeline: config.pipeline.clone(),
        shard_seed: config.shard_seed,
        ..RunConfig::default()
    };
    let (sinks, mut hooks) = workers(n, observer, config, ship, &metrics);
    let mut published = Progress {
        consumed: 0,
        frames: 0,
        bytes: 0,
        dispatch_drops: 0,
        capture: None,
    };
    let (result, _finished, summary) = runner::run(&run_config, sinks, &mut hooks, |feeder| {
        feeder.source(source, &mut |p: Progress| {
            metrics.packets.inc_by(p.frames - published.frames);
            metrics.bytes.inc_by(p.bytes - published.bytes);
            metrics
                .dispatch_drops
                .inc_by(p.dispatch_drops - published.dispatch_drops);
            if let Some(c) = p.capture {
                metrics.capture_drops.set(c.dropped as i64);
                metrics.capture_if_drops.set(c.if_dropped as i64);
            }
            published = p;
        })
    });
    result.map(|()| summary)
}

/// Live capture on `interface` with one AF_PACKET ring per worker in one fanout group (the
/// kernel shards flows, defragmenting first). Returns `Err` without capturing when the rings
/// cannot be opened, so the caller can fall back to libpcap.
pub fn open_rings(
    ring: &AfPacketConfig,
    workers: usize,
) -> Result<(Vec<AfPacketSource>, AfPacketStopHandle), SourceError> {
    let sources = AfPacketSource::open_group(ring, workers.max(1))?;
    let stop = sources
        .first()
        .map(AfPacketSource::stop_handle)
        .ok_or_else(|| {
            SourceError::new(
                ring.interface.as_str(),
                0,
                crate::source::SourceErrorKind::Capture("no worker".into()),
            )
        })?;
    Ok((sources, stop))
}

/// Run the agent's workers over their own rings (see [`open_rings`]) until stopped.
pub fn run_rings(
    sources: Vec<AfPacketSource>,
    observer: &Observer,
    config: &CaptureConfig,
    ship: ShipHandle,
    metrics: AgentMetrics,
) -> Result<RunSummary, SourceError> {
    let n = sources.len();
    let run_config = RunConfig {
        workers: n,
        idle: Some(config.idle_flush),
        pipeline: config.pipeline.clone(),
        ..RunConfig::default()
    };
    let (sinks, mut hooks) = workers(n, observer, config, ship, &metrics);
    let results = runner::run_sources(&run_config, sources, sinks, &mut hooks);
    let mut summary = RunSummary::default();
    let mut capture = LiveStats::default();
    for h in &hooks {
        capture.received += h.capture.received;
        capture.dropped += h.capture.dropped;
    }
    summary.capture = Some(capture);
    summary.frames = capture.received;
    let mut first_error = None;
    for (finished, result) in results {
        summary.bytes += finished.stats.bytes;
        if let Err(e) = result {
            first_error.get_or_insert(e);
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(summary),
    }
}
