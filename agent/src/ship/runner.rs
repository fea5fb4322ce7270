//! The agent's capture loop: one capture thread reading a [`FrameSource`], N worker threads each
//! running a shared-nothing [`Pipeline`] into an [`Aggregator`], sealed windows to a
//! [`ShipHandle`].
//!
//! Frames are dispatched by the symmetric flow hash ([`FlowTuple::shard_hash`]), so both
//! directions of a connection meet in one worker. Live capture never waits: a full worker queue
//! drops the frame and counts it (`dispatch_drops`); a file replay (`block_when_full`) waits
//! instead, because nothing is lost by reading a file more slowly.
//!
//! Workers seal a window when packet time has moved `window_secs` past its start, and when no
//! frame arrived for `idle_flush` (wall time as an I/O timeout only: on an idle link packet time
//! stands still, and what was seen must still leave).

use super::aggregator::Aggregator;
use super::shipper::ShipHandle;
use crate::decode::{decode, DecodeStats, Transport};
use crate::flow::key::FlowTuple;
use crate::metrics::AgentMetrics;
use crate::pipeline::{Pipeline, PipelineConfig};
use crate::source::{
    FileSource, FrameSource, LiveSource, LiveStats, MemorySource, OwnedFrame, SourceError,
};
use analyzer::inventory::InventoryLimits;
use analyzer::observe::Observer;
use std::net::SocketAddr;
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct RunConfig {
    /// Worker threads (at least 1).
    pub workers: usize,
    /// Packet-time length of an aggregation window.
    pub window_secs: u64,
    /// Seal the open window after this long without frames.
    pub idle_flush: Duration,
    /// Frames queued per worker.
    pub queue_frames: usize,
    /// Wait for a full worker queue instead of dropping (file replay).
    pub block_when_full: bool,
    pub pipeline: PipelineConfig,
    pub inventory: InventoryLimits,
    /// Seed of the flow hash (random per run: steering flows needs knowing it).
    pub shard_seed: u64,
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig {
            workers: 1,
            window_secs: 60,
            idle_flush: Duration::from_secs(5),
            queue_frames: 8192,
            block_when_full: false,
            pipeline: PipelineConfig::default(),
            inventory: InventoryLimits::default(),
            shard_seed: 0x5eed,
        }
    }
}

/// What the capture loop saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunSummary {
    pub frames: u64,
    pub dispatch_drops: u64,
    /// Last libpcap statistics, for live sources.
    pub capture: Option<LiveStats>,
}

/// A frame source that may have capture statistics (libpcap's counters for live sources).
pub trait CaptureSource: FrameSource {
    fn capture_stats(&mut self) -> Option<LiveStats> {
        None
    }
}

impl CaptureSource for LiveSource {
    fn capture_stats(&mut self) -> Option<LiveStats> {
        self.stats().ok()
    }
}

impl CaptureSource for FileSource {}
impl CaptureSource for MemorySource {}

/// The worker a frame belongs to: by its connection's symmetric hash (non-TCP/UDP frames go
/// to worker 0).
fn shard(frame: &OwnedFrame, workers: usize, seed: u64, stats: &mut DecodeStats) -> usize {
    if workers <= 1 {
        return 0;
    }
    let Some(pkt) = decode(&frame.as_frame(), stats) else {
        return 0;
    };
    let (sp, dp) = match pkt.transport {
        Transport::Tcp(seg) => (seg.src_port, seg.dst_port),
        Transport::Udp {
            src_port, dst_port, ..
        } => (src_port, dst_port),
        _ => return 0,
    };
    let t = FlowTuple::new(SocketAddr::new(pkt.src, sp), SocketAddr::new(pkt.dst, dp));
    (t.shard_hash(seed) % workers as u64) as usize
}

fn worker(
    rx: Receiver<OwnedFrame>,
    observer: Arc<Observer>,
    config: RunConfig,
    ship: ShipHandle,
    metrics: AgentMetrics,
) {
    let agg = Aggregator::new(config.inventory.clone(), config.window_secs);
    let mut p = Pipeline::new(config.pipeline.clone(), &observer, agg);
    let mut seen = (0u64, 0u64, 0u64, 0u64);
    let mut dirty = false;
    let mut publish = |p: &Pipeline<'_, Aggregator>| {
        let s = p.stats();
        let anomalies: u64 = s.anomalies.values().sum();
        metrics.flows.inc_by(s.tcp_flows.saturating_sub(seen.0));
        metrics
            .exchanges
            .inc_by(s.http_exchanges.saturating_sub(seen.1));
        let observed = s.http_exchanges.saturating_sub(s.unobserved_exchanges);
        metrics.observations.inc_by(observed.saturating_sub(seen.2));
        metrics.anomalies.inc_by(anomalies.saturating_sub(seen.3));
        seen = (s.tcp_flows, s.http_exchanges, observed, anomalies);
        s
    };
    loop {
        match rx.recv_timeout(config.idle_flush) {
            Ok(frame) => {
                let f = frame.as_frame();
                p.feed(&f);
                dirty = true;
                if p.sink_mut().due(f.ts) {
                    let stats = publish(&p);
                    ship.ship(p.sink_mut().seal(&stats));
                    dirty = false;
                }
            }
            Err(RecvTimeoutError::Timeout) => {
                if dirty {
                    let stats = publish(&p);
                    ship.ship(p.sink_mut().seal(&stats));
                    dirty = false;
                }
            }
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    let (mut agg, stats) = p.finish();
    let flows = stats.tcp_flows.saturating_sub(seen.0);
    metrics.flows.inc_by(flows);
    metrics
        .exchanges
        .inc_by(stats.http_exchanges.saturating_sub(seen.1));
    let observed = stats
        .http_exchanges
        .saturating_sub(stats.unobserved_exchanges);
    metrics.observations.inc_by(observed.saturating_sub(seen.2));
    ship.ship(agg.seal(&stats));
}

/// Run `source` to its end (a file) or until it is stopped (live). Capture statistics are
/// polled every few thousand frames and at the end.
pub fn run(
    source: &mut dyn CaptureSource,
    observer: Arc<Observer>,
    config: RunConfig,
    ship: ShipHandle,
    metrics: AgentMetrics,
) -> Result<RunSummary, SourceError> {
    let n = config.workers.max(1);
    let mut senders: Vec<SyncSender<OwnedFrame>> = Vec::with_capacity(n);
    let mut joins = Vec::with_capacity(n);
    for i in 0..n {
        let (tx, rx) = sync_channel(config.queue_frames.max(1));
        senders.push(tx);
        let (obs, cfg, ship, m) = (
            Arc::clone(&observer),
            config.clone(),
            ship.clone(),
            metrics.clone(),
        );
        let spawned = std::thread::Builder::new()
            .name(format!("shadowtap-worker-{i}"))
            .spawn(move || worker(rx, obs, cfg, ship, m));
        match spawned {
            Ok(j) => joins.push(j),
            Err(e) => {
                return Err(SourceError::new(
                    source.name(),
                    0,
                    crate::source::SourceErrorKind::Capture(format!(
                        "starting worker thread {i}: {e}"
                    )),
                ))
            }
        }
    }
    drop(ship);
    let mut summary = RunSummary::default();
    let mut stats = DecodeStats::default();
    let poll_stats =
        |source: &mut dyn CaptureSource, summary: &mut RunSummary, metrics: &AgentMetrics| {
            if let Some(s) = source.capture_stats() {
                metrics.capture_drops.set(s.dropped as i64);
                metrics.capture_if_drops.set(s.if_dropped as i64);
                summary.capture = Some(s);
            }
        };
    let result = loop {
        let frame = match source.next_frame() {
            Ok(Some(f)) => OwnedFrame::from_frame(&f),
            Ok(None) => break Ok(()),
            Err(e) => break Err(e),
        };
        summary.frames += 1;
        metrics.packets.inc();
        metrics.bytes.inc_by(u64::from(frame.wire_len));
        let i = shard(&frame, n, config.shard_seed, &mut stats);
        let Some(tx) = senders.get(i) else { continue };
        if config.block_when_full {
            if tx.send(frame).is_err() {
                break Ok(());
            }
        } else {
            match tx.try_send(frame) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => {
                    summary.dispatch_drops += 1;
                    metrics.dispatch_drops.inc();
                }
                Err(TrySendError::Disconnected(_)) => break Ok(()),
            }
        }
        if summary.frames.is_multiple_of(4096) {
            poll_stats(source, &mut summary, &metrics);
        }
    };
    poll_stats(source, &mut summary, &metrics);
    drop(senders);
    for j in joins {
        let _ = j.join();
    }
    result.map(|()| summary)
}
