//! The shipper: a spooler thread (sealed windows -> numbered batches in the spool) and a sender
//! thread (spool -> collector, oldest first, removed only on the collector's acknowledgement).
//!
//! Failures back off exponentially between `retry_min` and `retry_max` (wall time: an I/O
//! timer, not data time). A batch the collector refuses as invalid (400/413) is dropped and
//! counted, since resending the same bytes cannot succeed; anything else (down, TLS refused,
//! 401/403/5xx) is retried, so fixing a certificate lets the spool drain.

use super::aggregator::Sealed;
use super::client::{CollectorUrl, HttpsClient};
use super::spool::{Spool, SpoolError, SpoolLimits, SpoolStats};
use crate::metrics::AgentMetrics;
use analyzer::wire::{Ack, Batch, CONTENT_TYPE, INGEST_PATH};
use rustls::ClientConfig;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct ShipperConfig {
    pub agent_id: String,
    pub url: CollectorUrl,
    pub tls: Arc<ClientConfig>,
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
}

/// What the shipper did, returned by [`Shipper::finish`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShipReport {
    pub sent: u64,
    pub duplicate: u64,
    pub failed: u64,
    pub rejected: u64,
    pub spool: SpoolStats,
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
        let mut dropped = 0;
        update_spool_gauges(&metrics, &spool, &mut dropped);
        let sender = {
            let (spool, metrics, closing, config) = (
                Arc::clone(&spool),
                metrics.clone(),
                Arc::clone(&closing),
                config.clone(),
            );
            std::thread::Builder::new()
                .name("shadowtap-sender".into())
                .spawn(move || send_loop(config, spool, metrics, closing))
                .map_err(|e| SpoolError::Db(sled::Error::Io(e)))?
        };
        let spooler = {
            let (spool, metrics, agent_id) =
                (Arc::clone(&spool), metrics.clone(), config.agent_id.clone());
            let wake = sender.thread().clone();
            std::thread::Builder::new()
                .name("shadowtap-spooler".into())
                .spawn(move || spool_loop(rx, spool, metrics, agent_id, wake))
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

    /// Stop: spool what is queued, try to drain the spool for `drain_timeout`, join threads.
    /// Every [`ShipHandle`] must have been dropped first, or the spooler waits for them.
    pub fn finish(mut self) -> ShipReport {
        drop(self.tx.take());
        if let Some(s) = self.spooler.take() {
            let _ = s.join();
        }
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

fn spool_loop(
    rx: Receiver<Sealed>,
    spool: Arc<Spool>,
    metrics: AgentMetrics,
    agent_id: String,
    wake: std::thread::Thread,
) {
    let mut dropped = 0;
    // Capture-level losses (libpcap's kernel and interface drops, full worker queues) ride on
    // the next batch as deltas, so the collector's report shows what the capture missed.
    let mut shipped_losses = [0u64; 3];
    while let Ok(mut sealed) = rx.recv() {
        if sealed.is_empty() {
            continue;
        }
        let losses = [
            u64::try_from(metrics.capture_drops.get()).unwrap_or(0),
            u64::try_from(metrics.capture_if_drops.get()).unwrap_or(0),
            metrics.dispatch_drops.get(),
        ];
        let names = [
            "capture.kernel_drops",
            "capture.interface_drops",
            "capture.queue_drops",
        ];
        for ((name, now), before) in names.iter().zip(losses).zip(shipped_losses) {
            if now > before {
                *sealed.counters.entry((*name).to_string()).or_default() += now - before;
            }
        }
        shipped_losses = losses;
        let pushed = spool.push(|epoch, seq| {
            Batch::new(
                &agent_id,
                epoch,
                seq,
                &sealed.inventory,
                sealed.counters.clone(),
            )
        });
        match pushed {
            Ok(_) => {
                metrics.windows_sealed.inc();
            }
            Err(e) => {
                metrics.windows_dropped.inc();
                tracing::warn!("spooling a batch failed, window dropped: {e}");
            }
        }
        update_spool_gauges(&metrics, &spool, &mut dropped);
        wake.unpark();
    }
}

fn send_loop(
    config: ShipperConfig,
    spool: Arc<Spool>,
    metrics: AgentMetrics,
    closing: Arc<AtomicBool>,
) -> ShipReport {
    let mut client = HttpsClient::new(config.url.clone(), Arc::clone(&config.tls), config.timeout);
    let mut report = ShipReport::default();
    let mut backoff = config.retry_min;
    let mut next_try = Instant::now();
    let mut drain_deadline: Option<Instant> = None;
    let mut dropped = 0;
    loop {
        let now = Instant::now();
        if closing.load(Ordering::SeqCst) {
            let deadline = *drain_deadline.get_or_insert(now + config.drain_timeout);
            if now >= deadline || spool.stats().batches == 0 {
                break;
            }
        }
        if now < next_try {
            let wait = next_try - now;
            let wait = drain_deadline.map_or(wait, |d| wait.min(d.saturating_duration_since(now)));
            std::thread::park_timeout(wait.max(Duration::from_millis(1)));
            continue;
        }
        let batch = match spool.oldest() {
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
        let sent = client.request(
            "POST",
            INGEST_PATH,
            &[("Content-Type", CONTENT_TYPE)],
            &batch.bytes,
        );
        match sent {
            Ok(r) if r.status == 200 => match serde_json::from_slice::<Ack>(&r.body) {
                Ok(ack) if ack.epoch == batch.epoch && ack.seq == batch.seq => {
                    match ack.status {
                        analyzer::wire::AckStatus::Accepted => {
                            report.sent += 1;
                            metrics.batches_sent.inc();
                        }
                        analyzer::wire::AckStatus::Duplicate => {
                            report.duplicate += 1;
                            metrics.batches_duplicate.inc();
                        }
                    }
                    if let Err(e) = spool.remove(batch.epoch, batch.seq) {
                        tracing::warn!("removing an acknowledged batch from the spool: {e}");
                    }
                    backoff = config.retry_min;
                }
                other => {
                    report.failed += 1;
                    metrics.batches_failed.inc();
                    tracing::warn!(
                            "collector answered 200 without a matching acknowledgement ({other:?}); will retry"
                        );
                    next_try = Instant::now() + backoff;
                    backoff = (backoff * 2).min(config.retry_max);
                }
            },
            Ok(r) if r.status == 400 || r.status == 413 => {
                report.rejected += 1;
                metrics.batches_rejected.inc();
                tracing::warn!(
                    "collector refused batch ({}, {}) as invalid, dropping it: {} {}",
                    batch.epoch,
                    batch.seq,
                    r.status,
                    r.error_text()
                );
                let _ = spool.remove(batch.epoch, batch.seq);
            }
            Ok(r) => {
                report.failed += 1;
                metrics.batches_failed.inc();
                tracing::warn!(
                    "collector refused batch ({}, {}): {} {}; will retry",
                    batch.epoch,
                    batch.seq,
                    r.status,
                    r.error_text()
                );
                next_try = Instant::now() + backoff;
                backoff = (backoff * 2).min(config.retry_max);
            }
            Err(e) => {
                report.failed += 1;
                metrics.batches_failed.inc();
                tracing::warn!(
                    "sending batch ({}, {}): {e}; will retry",
                    batch.epoch,
                    batch.seq
                );
                next_try = Instant::now() + backoff;
                backoff = (backoff * 2).min(config.retry_max);
            }
        }
        update_spool_gauges(&metrics, &spool, &mut dropped);
    }
    update_spool_gauges(&metrics, &spool, &mut dropped);
    report
}
