//! The shipper: a spooler thread (sealed windows -> numbered batches in the spool) and a sender
//! thread (spool -> collector, oldest first, removed only on the collector's acknowledgement).
//!
//! Failures back off exponentially between `retry_min` and `retry_max` (wall time: an I/O
//! timer, not data time). Resending the same bytes cannot cure a refusal of the bytes
//! themselves, so such a batch never stays at the head of the queue: one refused as too large
//! (413) is split into halves that take its place at the end of the queue (until the parts fit),
//! one refused as malformed or implausible (400), or too large with nothing left to split, is
//! set aside in the spool and counted. Anything else (down, TLS refused, 401/403/5xx) is
//! retried, so fixing a certificate lets the spool drain. With several collector URLs a retried
//! failure moves to the next one at once, and the back-off starts only when all of them failed
//! in a row ([`super::failover`]).
//!
//! Windows are split before spooling to fit `max_batch_bytes`, lowered to what the collector
//! advertises in [`MAX_BATCH_HEADER`] on its answers.

use super::aggregator::Sealed;
use super::client::{CollectorUrl, HttpsClient};
use super::failover::Rotation;
use super::kafka::KafkaSink;
use super::spool::{Spool, SpoolError, SpoolLimits, SpoolStats, Spooled};
use crate::metrics::AgentMetrics;
use analyzer::inventory::InventoryLimits;
use analyzer::tls::TlsLimits;
use analyzer::wire::{
    split_to_fit, Ack, Batch, Payload, WireLimits, CONTENT_TYPE, INGEST_PATH, MAX_BATCH_HEADER,
};
use rustls::ClientConfig;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct ShipperConfig {
    pub agent_id: String,
    /// Collectors to send to, first tried first; see [`super::failover`] for the policy.
    pub urls: Vec<CollectorUrl>,
    /// Publish to Kafka instead of the collectors (`urls` is then unused): windows are spooled
    /// as one batch per route family, each sent as one message keyed by its family.
    pub kafka: Option<Arc<KafkaSink>>,
    pub tls: Arc<ClientConfig>,
    /// The `--ca` file, named when the collector's certificate does not chain to it.
    pub ca_file: PathBuf,
    pub spool_dir: PathBuf,
    pub spool: SpoolLimits,
    /// Connect, read and write timeout of one request.
    pub timeout: Duration,
    pub retry_min: Duration,
    pub retry_max: Duration,
    /// At shutdown, how long to keep trying to empty the spool (the rest stays spooled).
    pub drain_timeout: Duration,
    /// Sealed windows waiting to be spooled.
    pub queue: usize,
    /// Largest batch to send; lowered to the collector's advertised limit when it says one.
    pub max_batch_bytes: usize,
}

/// Default [`ShipperConfig::max_batch_bytes`]: half the collector's default limit, so a default
/// fleet never meets a refusal, with room for a collector configured lower.
pub const DEFAULT_MAX_BATCH_BYTES: usize = 8 << 20;

/// What the shipper did, returned by [`Shipper::finish`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShipReport {
    pub sent: u64,
    pub duplicate: u64,
    pub failed: u64,
    /// Batches refused for good and set aside (malformed, implausible, or too large and
    /// impossible to split).
    pub rejected: u64,
    /// Batches refused as too large and replaced by smaller parts.
    pub split: u64,
    pub spool: SpoolStats,
    /// Why the last attempt that did not deliver failed (what to fix), if one did.
    pub last_error: Option<String>,
}

/// Hands sealed windows to the shipper. Live capture never blocks on it (full queue: drop and
/// count `windows_dropped`); a file replay waits instead ([`ShipHandle::waiting`]): reading
/// more slowly loses nothing.
#[derive(Debug, Clone)]
pub struct ShipHandle {
    tx: SyncSender<Sealed>,
    metrics: AgentMetrics,
    wait: bool,
}

impl ShipHandle {
    /// This handle waits for room in the queue rather than dropping a window.
    pub fn waiting(self) -> ShipHandle {
        ShipHandle { wait: true, ..self }
    }

    pub fn ship(&self, sealed: Sealed) {
        if sealed.is_empty() {
            return;
        }
        if self.wait {
            if self.tx.send(sealed).is_err() {
                self.metrics.windows_dropped.inc();
            }
            return;
        }
        match self.tx.try_send(sealed) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.metrics.windows_dropped.inc();
            }
        }
    }
}

pub struct Shipper {
    tx: Option<SyncSender<Sealed>>,
    spooler: Option<JoinHandle<()>>,
    sender: Option<JoinHandle<ShipReport>>,
    closing: Arc<AtomicBool>,
    spool: Arc<Spool>,
    metrics: AgentMetrics,
}

impl std::fmt::Debug for Shipper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shipper").finish_non_exhaustive()
    }
}

fn update_spool_gauges(metrics: &AgentMetrics, spool: &Spool, last_dropped: &mut u64) {
    let st = spool.stats();
    metrics.spool_batches.set(st.batches as i64);
    metrics.spool_bytes.set(st.bytes as i64);
    if st.dropped > *last_dropped {
        metrics.spool_dropped.inc_by(st.dropped - *last_dropped);
        *last_dropped = st.dropped;
    }
}

impl Shipper {
    /// Open the spool (starting a new epoch) and start both threads.
    pub fn start(config: ShipperConfig, metrics: AgentMetrics) -> Result<Shipper, SpoolError> {
        let spool = Arc::new(Spool::open(&config.spool_dir, config.spool)?);
        let (tx, rx) = sync_channel::<Sealed>(config.queue.max(1));
        let closing = Arc::new(AtomicBool::new(false));
        let limit = Arc::new(AtomicUsize::new(config.max_batch_bytes.max(1)));
        let mut dropped = 0;
        update_spool_gauges(&metrics, &spool, &mut dropped);
        let sender = {
            let sender = Sender {
                config: config.clone(),
                spool: Arc::clone(&spool),
                metrics: metrics.clone(),
                limit: Arc::clone(&limit),
            };
            let closing = Arc::clone(&closing);
            std::thread::Builder::new()
                .name("shadowtap-sender".into())
                .spawn(move || sender.run(closing))
                .map_err(|e| SpoolError::Db(sled::Error::Io(e)))?
        };
        let spooler = {
            let spooler = Spooler {
                spool: Arc::clone(&spool),
                metrics: metrics.clone(),
                agent_id: config.agent_id.clone(),
                limit,
                by_family: config.kafka.is_some(),
            };
            let wake = sender.thread().clone();
            std::thread::Builder::new()
                .name("shadowtap-spooler".into())
                .spawn(move || spooler.run(rx, wake))
                .map_err(|e| SpoolError::Db(sled::Error::Io(e)))?
        };
        Ok(Shipper {
            tx: Some(tx),
            spooler: Some(spooler),
            sender: Some(sender),
            closing,
            spool,
            metrics,
        })
    }

    pub fn handle(&self) -> ShipHandle {
        ShipHandle {
            // `tx` is only taken by `finish`, which consumes self.
            tx: self.tx.clone().unwrap_or_else(|| sync_channel(1).0),
            metrics: self.metrics.clone(),
            wait: false,
        }
    }

    pub fn epoch(&self) -> u64 {
        self.spool.epoch()
    }

    /// The spool (what earlier runs left, replay records).
    pub fn spool(&self) -> &Spool {
        &self.spool
    }

    /// Spool every window still queued and stop taking new ones: when this returns, all
    /// windows handed over are on disk (a crash from here on loses nothing). Every
    /// [`ShipHandle`] must have been dropped first, or the spooler waits for them.
    pub fn spool_all(&mut self) {
        drop(self.tx.take());
        if let Some(s) = self.spooler.take() {
            let _ = s.join();
        }
    }

    /// Stop: spool what is queued, try to drain the spool for `drain_timeout`, join threads.
    /// Every [`ShipHandle`] must have been dropped first, or the spooler waits for them.
    pub fn finish(mut self) -> ShipReport {
        self.spool_all();
        self.closing.store(true, Ordering::SeqCst);
        let report = match self.sender.take() {
            Some(s) => {
                s.thread().unpark();
                s.join().unwrap_or_default()
            }
            None => ShipReport::default(),
        };
        let _ = self.spool.flush();
        ShipReport {
            spool: self.spool.stats(),
            ..report
        }
    }
}

/// How many bytes a batch of this agent run would encode to, for [`split_to_fit`]: the
/// largest `(epoch, seq)` stands in for the real ones, so the estimate is never short.
fn encoded_size<'a>(agent_id: &'a str, run_id: &'a str) -> impl Fn(&Payload) -> usize + 'a {
    move |payload| {
        Batch::of_payload(agent_id, u64::MAX, u64::MAX, payload.clone())
            .with_run_id(run_id)
            .encode()
            .len()
    }
}

/// Turns sealed windows into spooled batches.
struct Spooler {
    spool: Arc<Spool>,
    metrics: AgentMetrics,
    agent_id: String,
    /// The batch size to fit, shared with the sender (which learns the collector's limit).
    limit: Arc<AtomicUsize>,
    /// One batch per route family (Kafka: each is keyed by its family).
    by_family: bool,
}

/// Capture-level loss counters that ride on the next batch as deltas, so the collector's report
/// shows what this agent's capture missed (name in the batch, current cumulative value).
fn capture_losses(metrics: &AgentMetrics) -> [(&'static str, u64); 4] {
    [
        (
            "capture.kernel_drops",
            u64::try_from(metrics.capture_drops.get()).unwrap_or(0),
        ),
        (
            "capture.interface_drops",
            u64::try_from(metrics.capture_if_drops.get()).unwrap_or(0),
        ),
        ("capture.queue_drops", metrics.dispatch_drops.get()),
        // Windows shed because the spooler fell behind (live capture only): their exchanges
        // are lost, and the collector must be able to say so.
        ("capture.windows_dropped", metrics.windows_dropped.get()),
    ]
}

impl Spooler {
    fn run(self, rx: Receiver<Sealed>, wake: std::thread::Thread) {
        let mut dropped = 0;
        let mut shipped_losses = [0u64; 4];
        while let Ok(mut sealed) = rx.recv() {
            if sealed.is_empty() {
                continue;
            }
            let losses = capture_losses(&self.metrics);
            for ((name, now), before) in losses.iter().zip(shipped_losses.iter_mut()) {
                if *now > *before {
                    *sealed.counters.entry((*name).to_string()).or_default() += *now - *before;
                }
                *before = *now;
            }
            let run_id = self.spool.run_id().to_string();
            let size = encoded_size(&self.agent_id, &run_id);
            let limit = self.limit.load(Ordering::Relaxed);
            let payload = sealed.into_payload();
            let families = if self.by_family {
                analyzer::kafka::split_by_family(payload)
            } else {
                vec![payload]
            };
            let parts = families
                .into_iter()
                .flat_map(|p| split_to_fit(p, limit, &size));
            for part in parts {
                let pushed = self.spool.push(|epoch, seq| {
                    Batch::of_payload(&self.agent_id, epoch, seq, part).with_run_id(&run_id)
                });
                if let Err(e) = pushed {
                    self.metrics.windows_dropped.inc();
                    tracing::warn!("spooling a batch failed, window part dropped: {e}");
                }
            }
            self.metrics.windows_sealed.inc();
            update_spool_gauges(&self.metrics, &self.spool, &mut dropped);
            wake.unpark();
        }
    }
}

/// Sends spooled batches, oldest first.
struct Sender {
    config: ShipperConfig,
    spool: Arc<Spool>,
    metrics: AgentMetrics,
    limit: Arc<AtomicUsize>,
}

/// What to do with a batch after one attempt.
enum Outcome {
    /// Acknowledged (stored or already stored): removed from the spool.
    Done,
    /// Not delivered this time: try again after a back-off.
    Retry,
    /// Refused for good and dealt with (split or set aside): go on with the next one.
    Handled,
}

impl Sender {
    fn run(self, closing: Arc<AtomicBool>) -> ShipReport {
        let config = &self.config;
        let mut clients: Vec<HttpsClient> = config
            .urls
            .iter()
            .map(|url| {
                HttpsClient::new(url.clone(), Arc::clone(&config.tls), config.timeout)
                    .naming_ca(&config.ca_file)
            })
            .collect();
        let mut rotation = Rotation::new(clients.len());
        let mut report = ShipReport::default();
        let mut backoff = config.retry_min;
        let mut next_try = Instant::now();
        let mut drain_deadline: Option<Instant> = None;
        let mut dropped = 0;
        loop {
            let now = Instant::now();
            if closing.load(Ordering::SeqCst) {
                let deadline = *drain_deadline.get_or_insert(now + config.drain_timeout);
                if now >= deadline || self.spool.stats().batches == 0 {
                    break;
                }
            }
            if now < next_try {
                let wait = next_try - now;
                let wait =
                    drain_deadline.map_or(wait, |d| wait.min(d.saturating_duration_since(now)));
                std::thread::park_timeout(wait.max(Duration::from_millis(1)));
                continue;
            }
            let batch = match self.spool.oldest() {
                Ok(Some(b)) => b,
                Ok(None) => {
                    if closing.load(Ordering::SeqCst) {
                        break;
                    }
                    // Woken by the spooler on every push; the timeout only re-checks `closing`.
                    std::thread::park_timeout(Duration::from_millis(500));
                    continue;
                }
                Err(e) => {
                    tracing::warn!("reading the spool failed: {e}");
                    next_try = Instant::now() + config.retry_max;
                    continue;
                }
            };
            let outcome = match (&config.kafka, clients.get_mut(rotation.current())) {
                (Some(sink), _) => self.publish(sink, &batch, &mut report),
                (None, Some(client)) => self.send(client, &batch, &mut report),
                (None, None) => break,
            };
            match outcome {
                Outcome::Done => {
                    rotation.succeeded();
                    backoff = config.retry_min;
                }
                Outcome::Handled => {}
                Outcome::Retry => {
                    report.failed += 1;
                    self.metrics.batches_failed.inc();
                    let round_failed = rotation.failed();
                    if rotation.several() && config.kafka.is_none() {
                        self.metrics.collector_failovers.inc();
                        if let Some(next) = config.urls.get(rotation.current()) {
                            tracing::warn!(
                                "moving to collector https://{}:{}",
                                next.host,
                                next.port
                            );
                        }
                    }
                    if round_failed {
                        next_try = Instant::now() + backoff;
                        backoff = (backoff * 2).min(config.retry_max);
                    }
                }
            }
            update_spool_gauges(&self.metrics, &self.spool, &mut dropped);
        }
        update_spool_gauges(&self.metrics, &self.spool, &mut dropped);
        report
    }

    fn send(&self, client: &mut HttpsClient, batch: &Spooled, report: &mut ShipReport) -> Outcome {
        let id = (batch.epoch, batch.seq);
        let sent = client.request(
            "POST",
            INGEST_PATH,
            &[("Content-Type", CONTENT_TYPE)],
            &batch.bytes,
        );
        let r = match sent {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!("sending batch {id:?}: {e}; will retry");
                report.last_error = Some(e.to_string());
                return Outcome::Retry;
            }
        };
        if let Some(max) = r
            .header(MAX_BATCH_HEADER)
            .and_then(|v| v.parse::<usize>().ok())
        {
            let ours = self.config.max_batch_bytes.min(max).max(1);
            if self.limit.swap(ours, Ordering::Relaxed) != ours {
                tracing::info!("batches are split to at most {ours} bytes (collector limit {max})");
            }
        }
        match r.status {
            200 => match serde_json::from_slice::<Ack>(&r.body) {
                Ok(ack) if (ack.epoch, ack.seq) == id => {
                    match ack.status {
                        analyzer::wire::AckStatus::Accepted => {
                            report.sent += 1;
                            self.metrics.batches_sent.inc();
                        }
                        analyzer::wire::AckStatus::Duplicate => {
                            report.duplicate += 1;
                            self.metrics.batches_duplicate.inc();
                        }
                    }
                    if let Err(e) = self.spool.remove(batch.epoch, batch.seq) {
                        tracing::warn!("removing an acknowledged batch from the spool: {e}");
                    }
                    Outcome::Done
                }
                other => {
                    tracing::warn!(
                        "collector answered 200 without a matching acknowledgement ({other:?}); will retry"
                    );
                    report.last_error =
                        Some("the collector answered without a matching acknowledgement".into());
                    Outcome::Retry
                }
            },
            413 => {
                let limit = self.limit.load(Ordering::Relaxed);
                // Halve at least once: a batch under the byte limit can be refused for a count
                // over the collector's caps (endpoints, hosts), which halving also cures.
                let target = limit.min(batch.bytes.len() / 2).max(1);
                match self.split(batch, target) {
                    Ok(parts) if parts > 1 => {
                        report.split += 1;
                        tracing::warn!(
                            "collector refused batch {id:?} as too large ({}): split into {parts} parts",
                            r.error_text()
                        );
                        Outcome::Handled
                    }
                    Ok(_) => self.set_aside(batch, report, &r.error_text()),
                    Err(e) => {
                        tracing::warn!("splitting batch {id:?}: {e}");
                        self.set_aside(batch, report, &r.error_text())
                    }
                }
            }
            400 => self.set_aside(batch, report, &r.error_text()),
            status => {
                tracing::warn!(
                    "collector refused batch {id:?}: {status} {}; will retry",
                    r.error_text()
                );
                report.last_error = Some(format!(
                    "the collector refused batches: {status} {}",
                    r.error_text()
                ));
                Outcome::Retry
            }
        }
    }

    /// Publish `batch` to Kafka; removed from the spool once the brokers acknowledged it.
    fn publish(&self, sink: &KafkaSink, batch: &Spooled, report: &mut ShipReport) -> Outcome {
        match sink.send(&batch.bytes) {
            Ok(()) => {
                report.sent += 1;
                self.metrics.batches_sent.inc();
                if let Err(e) = self.spool.remove(batch.epoch, batch.seq) {
                    tracing::warn!("removing an acknowledged batch from the spool: {e}");
                }
                Outcome::Done
            }
            Err(e) => {
                if e.producer_replaced {
                    self.metrics.kafka_producers_replaced.inc();
                }
                tracing::warn!(
                    "publishing batch ({}, {}): {}; will retry",
                    batch.epoch,
                    batch.seq,
                    e.message
                );
                report.last_error = Some(e.message);
                Outcome::Retry
            }
        }
    }

    /// Replace `batch` in the spool by parts that fit `target` bytes; the number of parts (1
    /// when it cannot be split).
    fn split(&self, batch: &Spooled, target: usize) -> Result<usize, String> {
        // Our own bytes, but read back from disk: decode them as the collector would, with
        // room for the size that was refused.
        let limits = WireLimits {
            max_bytes: usize::MAX,
            ..WireLimits::default()
        };
        let whole = Batch::decode(&batch.bytes, &limits).map_err(|e| e.to_string())?;
        let payload = whole.to_payload(InventoryLimits::default(), TlsLimits::default());
        let size = encoded_size(&whole.agent_id, &whole.run_id);
        let mut parts: Vec<Option<Payload>> = split_to_fit(payload, target, &size)
            .into_iter()
            .map(Some)
            .collect();
        if parts.len() < 2 {
            return Ok(1);
        }
        let run_id = self.spool.run_id().to_string();
        self.spool
            .replace(batch.epoch, batch.seq, parts.len(), |i, epoch, seq| {
                let payload = parts.get_mut(i).and_then(Option::take).unwrap_or_default();
                Batch::of_payload(&whole.agent_id, epoch, seq, payload).with_run_id(&run_id)
            })
            .map_err(|e| e.to_string())
    }

    fn set_aside(&self, batch: &Spooled, report: &mut ShipReport, why: &str) -> Outcome {
        report.rejected += 1;
        report.last_error = Some(format!("the collector refused a batch for good: {why}"));
        self.metrics.batches_rejected.inc();
        tracing::warn!(
            "collector refused batch ({}, {}) for good, set aside in the spool: {why}",
            batch.epoch,
            batch.seq
        );
        if let Err(e) = self.spool.set_aside(batch.epoch, batch.seq) {
            tracing::warn!("setting a refused batch aside: {e}; removing it");
            let _ = self.spool.remove(batch.epoch, batch.seq);
        }
        Outcome::Handled
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use analyzer::inventory::Inventory;
    use std::collections::BTreeMap;

    fn spooler(dir: &std::path::Path, limit: usize) -> (Spooler, Arc<Spool>, AgentMetrics) {
        let spool = Arc::new(Spool::open(dir, SpoolLimits::default()).expect("spool"));
        let metrics = AgentMetrics::default();
        let s = Spooler {
            spool: Arc::clone(&spool),
            metrics: metrics.clone(),
            agent_id: "edge-1".into(),
            limit: Arc::new(AtomicUsize::new(limit)),
            by_family: false,
        };
        (s, spool, metrics)
    }

    fn window(hosts: usize) -> Sealed {
        let mut inventory = Inventory::default();
        for i in 0..hosts {
            let obs: analyzer::observation::Observation =
                serde_json::from_value(serde_json::json!({
                    "ts": 1_700_000_000_000_000i64 + i as i64,
                    "endpoint": {"host": format!("h{i}.test"), "method": "GET", "path": "/"},
                    "template_source": "learned", "status": 200,
                    "request_content_type": null, "response_content_type": null,
                    "query_params": [], "header_params": [], "request_fields": [],
                    "response_fields": [], "data_classes": [], "auth": "none",
                    "consumer": {"address": "10.0.0.1", "credential": null},
                    "request_body_len": 0, "response_body_len": 0, "anomalies": []
                }))
                .expect("observation");
            inventory.add(&obs);
        }
        Sealed {
            inventory,
            tls: Default::default(),
            counters: BTreeMap::from([("packets".to_string(), 7)]),
        }
    }

    fn spooled(spool: &Spool) -> Vec<Batch> {
        std::iter::from_fn(|| {
            let b = spool.oldest().expect("read")?;
            spool.remove(b.epoch, b.seq).expect("remove");
            Some(Batch::decode(&b.bytes, &WireLimits::default()).expect("valid batch"))
        })
        .collect()
    }

    #[test]
    fn shed_windows_ride_on_the_next_batch() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (s, spool, metrics) = spooler(dir.path(), DEFAULT_MAX_BATCH_BYTES);
        // Live capture shed three windows (full queue): the handle counts them...
        let (tx, rx) = sync_channel(1);
        let handle = ShipHandle {
            tx: tx.clone(),
            metrics: metrics.clone(),
            wait: false,
        };
        handle.ship(window(1));
        for _ in 0..3 {
            handle.ship(window(1));
        }
        assert_eq!(metrics.windows_dropped.get(), 3);
        drop((handle, tx));
        // ...and the next batch tells the collector.
        s.run(rx, std::thread::current());
        let batches = spooled(&spool);
        assert_eq!(batches.len(), 1);
        assert_eq!(batches[0].counters.get("capture.windows_dropped"), Some(&3));
        assert!(batches.iter().all(|b| b.run_id == spool.run_id()));
    }

    #[test]
    fn a_window_over_the_batch_limit_is_spooled_in_parts_that_fit() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (s, spool, _) = spooler(dir.path(), 16 * 1024);
        let (tx, rx) = sync_channel(1);
        let whole = window(2_000);
        let expected = whole.inventory.clone();
        tx.send(whole).expect("send");
        drop(tx);
        s.run(rx, std::thread::current());
        let batches = spooled(&spool);
        assert!(batches.len() > 10, "{} parts", batches.len());
        let mut sum = Inventory::default();
        for b in &batches {
            assert!(b.encode().len() <= 16 * 1024);
            sum.merge(&b.to_inventory(Default::default()));
        }
        assert_eq!(sum, expected);
        let packets: u64 = batches
            .iter()
            .filter_map(|b| b.counters.get("packets"))
            .sum();
        assert_eq!(packets, 7);
    }
}
