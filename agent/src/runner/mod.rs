//! One runner for `scan` and the agent: frames from sources, N shared-nothing workers, each a
//! [`Pipeline`] with its own sink.
//!
//! Two ways to feed the workers:
//!
//! - **Dispatch** ([`run`]): one thread reads the sources in order (rotated files continue
//!   each other's connections), decodes every frame once, reassembles IP fragments, and hands
//!   each packet to the worker its connection hashes to (a symmetric hash: both directions
//!   meet in one worker; a fragmented datagram is sharded once it is whole). Packets travel
//!   in batches that reference the source's read block (`source::block`) rather than copying
//!   it. When the sources are files (`inline_first`), the reading thread is also worker 0:
//!   its share is fed in place and only the other shares cross threads, so N workers use N
//!   threads (on N cores, none waits behind a dispatcher); with one worker that is the whole
//!   run, with no thread and no hand-over.
//! - **Own sources** ([`run_sources`]): each worker reads a source of its own, e.g. one
//!   AF_PACKET ring of a fanout group, where the kernel already sharded by flow.
//!
//! A full worker queue makes the dispatcher wait when reading a file (`block_when_full`:
//! nothing is lost by reading more slowly) and drop the batch, counted as
//! `runner.dispatch_dropped_frames`, when capturing live (capture must never wait).
//!
//! Per-worker [`WorkerHooks`] let the agent seal aggregation windows by packet time and on idle
//! links. The result is each worker's sink and the counters of the whole run.

mod batch;

use crate::decode::Decoder;
use crate::http::ExchangeSink;
use crate::pipeline::{Pipeline, PipelineConfig, PipelineStats};
use crate::source::{block::SharedBlock, FrameSource, LiveStats, SourceError};
use analyzer::time::Timestamp;
use batch::Batch;
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::time::Duration;

/// How the workers are arranged.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// Worker threads (at least 1).
    pub workers: usize,
    /// Batches queued per worker.
    pub queue_batches: usize,
    /// Packets per batch at most.
    pub batch_packets: usize,
    /// Wait for a full worker queue instead of dropping (file replay).
    pub block_when_full: bool,
    /// Run worker 0 on the thread that reads the sources (with one worker: no other thread).
    /// Right for files; a live source whose reads can block forever needs a dispatcher of its
    /// own so every worker can still act on idle timeouts.
    pub inline_first: bool,
    /// Wake a worker that received nothing for this long ([`WorkerHooks::idle`]).
    pub idle: Option<Duration>,
    pub pipeline: PipelineConfig,
    /// Seed of the flow hash (random per run: steering flows onto one worker needs it).
    pub shard_seed: u64,
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig {
            workers: 1,
            queue_batches: 4,
            batch_packets: 1024,
            block_when_full: true,
            inline_first: true,
            idle: None,
            pipeline: PipelineConfig::default(),
            shard_seed: 0x5eed,
        }
    }
}

/// What a worker does besides feeding its pipeline. One value per worker.
pub trait WorkerHooks<S: ExchangeSink> {
    /// After each packet, at packet time `ts`.
    fn packet(&mut self, _pipeline: &mut Pipeline<S>, _ts: Timestamp) {}
    /// Nothing arrived for [`RunConfig::idle`].
    fn idle(&mut self, _pipeline: &mut Pipeline<S>) {}
    /// The pipeline finished: its sink and final counters.
    fn finished(&mut self, _sink: &mut S, _stats: &PipelineStats) {}
    /// The capture's statistics so far (cumulative), for a worker reading its own source.
    fn capture(&mut self, _stats: &LiveStats) {}
}

/// A source one worker reads by itself: one ring of an AF_PACKET fanout group.
pub trait WorkerSource: Send {
    /// The next frame, or [`Next::Idle`] when none came within `idle` (the stream goes on).
    fn next(&mut self, idle: Option<Duration>) -> Result<Next<'_>, SourceError>;
    /// The capture's statistics so far (cumulative).
    fn capture_stats(&mut self) -> Option<LiveStats>;
}

/// What a [`WorkerSource`] gave.
#[derive(Debug, Clone, Copy)]
pub enum Next<'a> {
    Frame(crate::source::Frame<'a>),
    Idle,
    End,
}

impl WorkerSource for crate::source::AfPacketSource {
    fn next(&mut self, idle: Option<Duration>) -> Result<Next<'_>, SourceError> {
        use crate::source::afpacket::NextFrame;
        let got = match idle {
            Some(t) => self.next_frame_timeout(t)?,
            None => match self.next_frame()? {
                Some(f) => NextFrame::Frame(f),
                None => NextFrame::Stopped,
            },
        };
        Ok(match got {
            NextFrame::Frame(f) => Next::Frame(f),
            NextFrame::Idle => Next::Idle,
            NextFrame::Stopped => Next::End,
        })
    }

    fn capture_stats(&mut self) -> Option<LiveStats> {
        self.stats().ok().map(|s| LiveStats {
            received: s.packets,
            dropped: s.drops,
            if_dropped: 0,
        })
    }
}

/// Capture counters as pipeline counters, for the report and the agent's batches.
fn capture_counters(now: &LiveStats, before: &LiveStats) -> PipelineStats {
    let mut c = PipelineStats::default();
    for (name, now, before) in [
        ("capture.received", now.received, before.received),
        ("capture.kernel_drops", now.dropped, before.dropped),
        ("capture.interface_drops", now.if_dropped, before.if_dropped),
    ] {
        if now > before {
            c.counters.insert(name.to_string(), now - before);
        }
    }
    c
}

/// Hooks that do nothing (`scan`).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoHooks;

impl<S: ExchangeSink> WorkerHooks<S> for NoHooks {}

/// A worker's result.
#[derive(Debug)]
pub struct Finished<S> {
    pub sink: S,
    pub stats: PipelineStats,
}

/// What a run saw beyond each worker's pipeline.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunSummary {
    pub frames: u64,
    /// Bytes of those frames on the wire.
    pub bytes: u64,
    /// Frames dropped because a worker's queue was full (live capture only).
    pub dispatch_drops: u64,
    /// The capture library's last statistics, for live sources.
    pub capture: Option<LiveStats>,
}

/// A frame source that may have capture statistics (libpcap's or the kernel's counters).
pub trait CaptureSource: FrameSource {
    fn capture_stats(&mut self) -> Option<LiveStats> {
        None
    }
}

impl CaptureSource for crate::source::LiveSource {
    fn capture_stats(&mut self) -> Option<LiveStats> {
        self.stats().ok()
    }
}

impl CaptureSource for crate::source::FileSource {}
impl CaptureSource for crate::source::MemorySource {}

/// How far a source has been read: every few thousand frames and at its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Bytes of input consumed (file bytes on disk; compressed bytes for gzip).
    pub consumed: u64,
    /// Frames and wire bytes of the whole run so far.
    pub frames: u64,
    pub bytes: u64,
    pub dispatch_drops: u64,
    pub capture: Option<LiveStats>,
}

/// Hands frames to the workers; see [`run`].
pub struct Feeder<'a, S: ExchangeSink, H: WorkerHooks<S>> {
    mode: Mode<'a, S, H>,
    config: RunConfig,
    summary: RunSummary,
}

enum Mode<'a, S: ExchangeSink, H: WorkerHooks<S>> {
    Inline {
        pipeline: Box<Pipeline<S>>,
        hooks: &'a mut H,
    },
    Dispatch {
        dispatcher: Box<Dispatcher>,
        /// Worker 0, run on the reading thread (`inline_first`); its queue is then unused.
        local: Option<(Box<Pipeline<S>>, &'a mut H)>,
    },
}

/// The dispatching side: one decoder, one open batch and one queue per worker.
struct Dispatcher {
    decoder: Decoder,
    senders: Vec<SyncSender<Batch>>,
    open: Vec<Batch>,
    /// Serial of the block the open batches reference.
    block: Option<u64>,
    /// Frames and bytes read since the counters were last reported.
    frames: u64,
    bytes: u64,
    /// Frames dropped because a worker queue was full.
    drops: u64,
    /// The source's capture statistics, as last polled.
    capture: Option<LiveStats>,
    /// Worker 0 runs on this thread: nothing is sent to queue 0, and the dispatcher's
    /// counters are handed to it at the end.
    local_first: bool,
    /// Counters at the last report, to send deltas.
    reported: PipelineStats,
}

impl<S: ExchangeSink, H: WorkerHooks<S>> Feeder<'_, S, H> {
    /// Feed a whole source. On a read error everything read before it is fed and the error is
    /// returned; `progress` gets the source's bytes consumed so far.
    pub fn source(
        &mut self,
        source: &mut dyn CaptureSource,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<(), SourceError> {
        let mut n: u64 = 0;
        let result = loop {
            let shared = match source.next_shared() {
                Ok(Some(f)) => f,
                Ok(None) => break Ok(()),
                Err(e) => break Err(e),
            };
            self.summary.frames += 1;
            self.summary.bytes += u64::from(shared.frame.wire_len);
            match &mut self.mode {
                Mode::Inline { pipeline, hooks } => {
                    pipeline.feed(&shared.frame);
                    hooks.packet(pipeline, shared.frame.ts);
                }
                Mode::Dispatch {
                    dispatcher: d,
                    local,
                } => {
                    d.frames += 1;
                    d.bytes += u64::from(shared.frame.wire_len);
                    let block = shared.block;
                    if let Some((serial, _)) = block {
                        if d.block != Some(serial) {
                            // A batch references one block: close them all.
                            d.flush_all(&self.config, &mut self.summary);
                            d.block = Some(serial);
                        }
                    }
                    d.dispatch(
                        &shared.frame,
                        block.map(|(_, b)| b),
                        &self.config,
                        &mut self.summary,
                        local,
                    );
                }
            }
            n += 1;
            if n.is_multiple_of(4096) {
                self.report(source, progress);
            }
        };
        if let Mode::Dispatch { dispatcher: d, .. } = &mut self.mode {
            d.flush_all(&self.config, &mut self.summary);
            d.block = None;
        }
        self.report(source, progress);
        result
    }

    fn report(&mut self, source: &mut dyn CaptureSource, progress: &mut dyn FnMut(Progress)) {
        if let Some(c) = source.capture_stats() {
            self.summary.capture = Some(c);
            if let Mode::Dispatch { dispatcher: d, .. } = &mut self.mode {
                d.capture = Some(c);
            }
        }
        progress(Progress {
            consumed: source.bytes_consumed(),
            frames: self.summary.frames,
            bytes: self.summary.bytes,
            dispatch_drops: self.summary.dispatch_drops,
            capture: self.summary.capture,
        });
    }
}

impl Dispatcher {
    fn dispatch<S: ExchangeSink, H: WorkerHooks<S>>(
        &mut self,
        frame: &crate::source::Frame<'_>,
        block: Option<&SharedBlock>,
        config: &RunConfig,
        summary: &mut RunSummary,
        local: &mut Option<(Box<Pipeline<S>>, &mut H)>,
    ) {
        let (workers, local_first) = (self.senders.len(), self.local_first);
        let Some(packet) = self.decoder.decode(frame) else {
            return;
        };
        let i = shard_of(packet.shard_hash(config.shard_seed), workers, local_first);
        if let (0, Some((pipeline, hooks))) = (i, local.as_mut()) {
            pipeline.feed_packet(&packet);
            hooks.packet(pipeline, packet.ts);
            return;
        }
        let Some(batch) = self.open.get_mut(i) else {
            return;
        };
        batch.push(&packet, block);
        if batch.len() >= config.batch_packets {
            self.send(i, config, summary);
        }
    }

    /// The dispatcher's counters since the last report: frames read and decode outcomes.
    fn counters_delta(&mut self) -> Option<Box<PipelineStats>> {
        let mut now = PipelineStats {
            packets: self.frames,
            bytes: self.bytes,
            ..PipelineStats::default()
        };
        for (name, v) in self.decoder.counters() {
            now.counters.insert(format!("decode.{name}"), v);
        }
        if self.drops > 0 {
            now.counters
                .insert("runner.dispatch_dropped_frames".into(), self.drops);
        }
        if let Some(c) = &self.capture {
            now.merge(&capture_counters(c, &LiveStats::default()));
        }
        let mut delta = PipelineStats {
            packets: now.packets - self.reported.packets,
            bytes: now.bytes - self.reported.bytes,
            ..PipelineStats::default()
        };
        for (k, v) in &now.counters {
            let before = self.reported.counters.get(k).copied().unwrap_or(0);
            if *v > before {
                delta.counters.insert(k.clone(), v - before);
            }
        }
        self.reported = now;
        (delta.packets > 0 || !delta.counters.is_empty()).then(|| Box::new(delta))
    }

    fn send(&mut self, i: usize, config: &RunConfig, summary: &mut RunSummary) {
        if i == 0 && self.local_first {
            return;
        }
        let Some(slot) = self.open.get_mut(i) else {
            return;
        };
        let mut batch = std::mem::take(slot);
        if i == 0 {
            batch.counters = self.counters_delta();
        }
        if batch.is_empty() {
            return;
        }
        let Some(tx) = self.senders.get(i) else {
            return;
        };
        let frames = batch.len() as u64;
        if config.block_when_full {
            // A worker that died has dropped its receiver: nothing left to feed.
            let _ = tx.send(batch);
        } else {
            match tx.try_send(batch) {
                Ok(()) | Err(TrySendError::Disconnected(_)) => {}
                Err(TrySendError::Full(mut batch)) => {
                    summary.dispatch_drops += frames;
                    self.drops += frames;
                    // The dispatcher's counters are not frames: keep them for the next report.
                    if let Some(c) = batch.counters.take() {
                        self.reported.packets -= c.packets;
                        self.reported.bytes -= c.bytes;
                        for (k, v) in &c.counters {
                            if let Some(r) = self.reported.counters.get_mut(k) {
                                *r -= v;
                            }
                        }
                    }
                }
            }
        }
    }

    fn flush_all(&mut self, config: &RunConfig, summary: &mut RunSummary) {
        for i in 0..self.open.len() {
            self.send(i, config, summary);
        }
    }
}

/// The worker of `workers` a flow hash belongs to. When worker 0 shares the reading thread
/// (`local_first`: it also reads and decodes every frame), it takes half the share of each
/// other worker (one of `2N - 1` hash slots, the others two each), so the reading thread is
/// not the one every other waits for.
fn shard_of(hash: u64, workers: usize, local_first: bool) -> usize {
    let n = workers.max(1) as u64;
    if local_first && n > 1 {
        (hash % (2 * n - 1)).div_ceil(2) as usize
    } else {
        (hash % n) as usize
    }
}

/// The worker side of dispatch: batches in, packets into the pipeline.
fn work<S: ExchangeSink, H: WorkerHooks<S>>(
    rx: Receiver<Batch>,
    mut pipeline: Pipeline<S>,
    hooks: &mut H,
    idle: Option<Duration>,
) -> Finished<S> {
    loop {
        let next = match idle {
            Some(t) => rx.recv_timeout(t),
            None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        match next {
            Ok(batch) => {
                if let Some(c) = &batch.counters {
                    pipeline.add_external(c);
                }
                for packet in batch.packets() {
                    pipeline.feed_packet(&packet);
                    hooks.packet(&mut pipeline, packet.ts);
                }
            }
            Err(RecvTimeoutError::Timeout) => hooks.idle(&mut pipeline),
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    finish(pipeline, hooks)
}

fn finish<S: ExchangeSink, H: WorkerHooks<S>>(pipeline: Pipeline<S>, hooks: &mut H) -> Finished<S> {
    let (mut sink, stats) = pipeline.finish();
    hooks.finished(&mut sink, &stats);
    Finished { sink, stats }
}

/// Run one worker per sink over whatever `drive` feeds (see [`Feeder::source`]); returns
/// `drive`'s result, each worker's sink and counters (the dispatcher's frame and decode
/// counters included in worker 0's), and the run summary.
pub fn run<S, H, T>(
    config: &RunConfig,
    sinks: Vec<S>,
    hooks: &mut [H],
    drive: impl FnOnce(&mut Feeder<'_, S, H>) -> T,
) -> (T, Vec<Finished<S>>, RunSummary)
where
    S: ExchangeSink + Send,
    S::Message: Send,
    H: WorkerHooks<S> + Send,
{
    let n = sinks.len().min(hooks.len());
    let mut sinks = sinks;
    if n == 1 && config.inline_first {
        if let (Some(hook), Some(sink)) = (hooks.first_mut(), sinks.pop()) {
            let mut feeder = Feeder {
                mode: Mode::Inline {
                    pipeline: Box::new(Pipeline::new(config.pipeline.clone(), sink)),
                    hooks: hook,
                },
                config: config.clone(),
                summary: RunSummary::default(),
            };
            let out = drive(&mut feeder);
            let summary = feeder.summary.clone();
            let finished = match feeder.mode {
                Mode::Inline { pipeline, hooks } => vec![finish(*pipeline, hooks)],
                Mode::Dispatch { .. } => Vec::new(),
            };
            return (out, finished, summary);
        }
    }
    std::thread::scope(|scope| {
        let mut senders = Vec::with_capacity(n);
        let mut joins = Vec::with_capacity(n);
        let mut local = None;
        for (i, (sink, hook)) in sinks.into_iter().zip(hooks.iter_mut()).enumerate() {
            let (tx, rx) = sync_channel(config.queue_batches.max(1));
            senders.push(tx);
            let pipeline = Pipeline::new(config.pipeline.clone(), sink);
            if i == 0 && config.inline_first {
                // Worker 0 runs here; its queue stays (shard indices), unused.
                drop(rx);
                local = Some((Box::new(pipeline), hook));
                continue;
            }
            let idle = config.idle;
            let spawned = std::thread::Builder::new()
                .name(format!("shadowtap-worker-{i}"))
                .spawn_scoped(scope, move || work(rx, pipeline, hook, idle));
            match spawned {
                Ok(j) => joins.push(j),
                // Without a thread this worker's share is dropped by a closed queue; the
                // others still run. Rare enough (resource exhaustion) to leave to the summary.
                Err(_) => drop(senders.pop()),
            }
        }
        let dispatcher = Dispatcher {
            decoder: Decoder::new(config.pipeline.defrag),
            open: (0..senders.len()).map(|_| Batch::default()).collect(),
            senders,
            block: None,
            frames: 0,
            bytes: 0,
            drops: 0,
            capture: None,
            reported: PipelineStats::default(),
            local_first: local.is_some(),
        };
        let mut feeder = Feeder {
            mode: Mode::Dispatch {
                dispatcher: Box::new(dispatcher),
                local,
            },
            config: config.clone(),
            summary: RunSummary::default(),
        };
        let out = drive(&mut feeder);
        let summary = feeder.summary.clone();
        let mut finished = Vec::with_capacity(n);
        if let Mode::Dispatch {
            dispatcher: mut d,
            local,
        } = feeder.mode
        {
            // Report what is left of the dispatcher's counters, then close the queues.
            let rest = d.counters_delta();
            match local {
                Some((mut pipeline, hooks)) => {
                    d.senders.clear();
                    if let Some(c) = rest {
                        pipeline.add_external(&c);
                    }
                    finished.push(finish(*pipeline, hooks));
                }
                None => {
                    if let (Some(tx), Some(c)) = (d.senders.first(), rest) {
                        let _ = tx.send(Batch::counters_only(c));
                    }
                    d.senders.clear();
                }
            }
        }
        finished.extend(joins.into_iter().filter_map(|j| j.join().ok()));
        (out, finished, summary)
    })
}

/// Frames between two polls of a worker's capture statistics.
const CAPTURE_POLL_FRAMES: u64 = 4096;

/// Run one worker per source, each reading its own (the rings of an AF_PACKET fanout group):
/// no dispatcher, frames decoded in the worker that owns them. Each worker's result comes
/// with how its source ended.
pub fn run_sources<S, H, W>(
    config: &RunConfig,
    sources: Vec<W>,
    sinks: Vec<S>,
    hooks: &mut [H],
) -> Vec<(Finished<S>, Result<(), SourceError>)>
where
    S: ExchangeSink + Send,
    S::Message: Send,
    H: WorkerHooks<S> + Send,
    W: WorkerSource,
{
    std::thread::scope(|scope| {
        let joins: Vec<_> = sources
            .into_iter()
            .zip(sinks)
            .zip(hooks.iter_mut())
            .enumerate()
            .filter_map(|(i, ((mut source, sink), hook))| {
                let pipeline = Pipeline::new(config.pipeline.clone(), sink);
                let idle = config.idle;
                std::thread::Builder::new()
                    .name(format!("shadowtap-worker-{i}"))
                    .spawn_scoped(scope, move || read_own(&mut source, pipeline, hook, idle))
                    .ok()
            })
            .collect();
        joins.into_iter().filter_map(|j| j.join().ok()).collect()
    })
}

fn read_own<S: ExchangeSink, H: WorkerHooks<S>, W: WorkerSource>(
    source: &mut W,
    mut pipeline: Pipeline<S>,
    hook: &mut H,
    idle: Option<Duration>,
) -> (Finished<S>, Result<(), SourceError>) {
    let mut reported = LiveStats::default();
    let mut poll = |source: &mut W, pipeline: &mut Pipeline<S>, hook: &mut H| {
        if let Some(now) = source.capture_stats() {
            pipeline.add_external(&capture_counters(&now, &reported));
            hook.capture(&now);
            reported = now;
        }
    };
    let mut frames: u64 = 0;
    let result = loop {
        match source.next(idle) {
            Ok(Next::Frame(frame)) => {
                let ts = frame.ts;
                pipeline.feed(&frame);
                hook.packet(&mut pipeline, ts);
                frames += 1;
                if frames.is_multiple_of(CAPTURE_POLL_FRAMES) {
                    poll(source, &mut pipeline, hook);
                }
            }
            Ok(Next::Idle) => {
                poll(source, &mut pipeline, hook);
                hook.idle(&mut pipeline);
            }
            Ok(Next::End) => break Ok(()),
            Err(e) => break Err(e),
        }
    };
    poll(source, &mut pipeline, hook);
    (finish(pipeline, hook), result)
}

#[cfg(test)]
mod tests {
    use super::shard_of;

    #[test]
    fn a_reading_worker_takes_half_the_share_of_the_others() {
        for workers in 1..=5 {
            for local_first in [false, true] {
                let mut counts = vec![0u32; workers];
                for hash in 0..10_000u64 {
                    let i = shard_of(
                        hash.wrapping_mul(0x9e37_79b9_7f4a_7c15),
                        workers,
                        local_first,
                    );
                    counts[i] += 1;
                }
                let expect_first = if local_first && workers > 1 {
                    10_000 / (2 * workers - 1)
                } else {
                    10_000 / workers
                };
                let first = counts[0] as usize;
                assert!(
                    first.abs_diff(expect_first) <= expect_first / 10,
                    "{workers} workers, local {local_first}: {counts:?}"
                );
                for &c in &counts[1..] {
                    let other = (10_000 - first) / (workers - 1);
                    assert!((c as usize).abs_diff(other) <= other / 10, "{counts:?}");
                }
            }
        }
    }
}
