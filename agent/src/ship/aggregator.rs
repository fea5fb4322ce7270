//! Per-window aggregation: one [`Inventory`] and one [`TlsInventory`] per packet-time window
//! (the worker's [`AnalysisSink`] sealed at each window end), plus the pipeline's counter deltas
//! for that window: everything `scan` derives its report from, so the collector can derive
//! the same.
//!
//! A window closes when packet time has advanced `window` past its start (or, in live mode,
//! when the worker has been idle: that is an I/O timeout, not data time). The inventory is
//! mergeable and commutative, so windows from many workers and agents add up at the collector
//! to exactly what one process would have counted.

use crate::analysis::AnalysisSink;
use crate::pipeline::PipelineStats;
use analyzer::inventory::Inventory;
use analyzer::time::Timestamp;
use analyzer::tls::TlsInventory;
use analyzer::wire::Payload;
use std::collections::BTreeMap;

/// A closed window: what gets spooled and shipped.
#[derive(Debug, Clone, PartialEq)]
pub struct Sealed {
    pub inventory: Inventory,
    /// TLS handshakes of the window, by SNI.
    pub tls: TlsInventory,
    /// Counter deltas for the window (`packets`, `bytes`, `tcp_flows`, `http_exchanges`,
    /// `anomaly.<name>`, `<stage>.<counter>`).
    pub counters: BTreeMap<String, u64>,
}

impl Sealed {
    pub fn is_empty(&self) -> bool {
        self.inventory.endpoints.is_empty()
            && self.inventory.dropped_observations == 0
            && self.tls.is_empty()
            && self.counters.values().all(|v| *v == 0)
    }

    /// What the window's batches carry.
    pub fn into_payload(self) -> Payload {
        Payload {
            inventory: self.inventory,
            tls: self.tls,
            counters: self.counters,
        }
    }
}

/// Flatten pipeline stats into the counter names batches carry.
pub fn flatten(stats: &PipelineStats) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    out.insert("packets".to_string(), stats.packets);
    out.insert("bytes".to_string(), stats.bytes);
    out.insert("tcp_flows".to_string(), stats.tcp_flows);
    out.insert("http_exchanges".to_string(), stats.http_exchanges);
    out.insert(
        "unobserved_exchanges".to_string(),
        stats.unobserved_exchanges,
    );
    for (k, v) in &stats.anomalies {
        out.insert(format!("anomaly.{k}"), *v);
    }
    for (k, v) in &stats.counters {
        out.insert(k.clone(), *v);
    }
    out
}

/// A packet-time aggregation window over one worker's [`AnalysisSink`].
#[derive(Debug)]
pub struct Window {
    length_micros: i64,
    start: Option<Timestamp>,
    /// Counters at the last seal, to compute deltas.
    last: BTreeMap<String, u64>,
}

impl Window {
    pub fn new(window_secs: u64) -> Window {
        let secs =
            i64::try_from(window_secs.max(1)).unwrap_or(i64::MAX / Timestamp::MICROS_PER_SEC);
        Window {
            length_micros: secs.saturating_mul(Timestamp::MICROS_PER_SEC),
            start: None,
            last: BTreeMap::new(),
        }
    }

    /// Whether the window that started earlier has run its length at packet time `now`.
    pub fn due(&mut self, now: Timestamp) -> bool {
        match self.start {
            None => {
                self.start = Some(now);
                false
            }
            Some(start) => now.since(start) >= self.length_micros,
        }
    }

    /// Close the window: the sink's inventory so far and the counter deltas since the last
    /// seal (the pipeline's `stats` and the sink's own engine counters).
    pub fn seal(&mut self, sink: &mut AnalysisSink<'_>, stats: &PipelineStats) -> Sealed {
        let mut now = flatten(stats);
        for (name, v) in sink.builder.counters() {
            now.insert(format!("engine.{name}"), v);
        }
        let counters = now
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    v.saturating_sub(self.last.get(k).copied().unwrap_or(0)),
                )
            })
            .filter(|(_, v)| *v > 0)
            .collect();
        self.last = now;
        self.start = None;
        let tls = TlsInventory::new(sink.tls.limits);
        Sealed {
            inventory: sink.builder.take(),
            tls: std::mem::replace(&mut sink.tls, tls),
            counters,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_close_by_packet_time_and_deltas_add_up() {
        let observer = analyzer::observe::Observer::new(
            analyzer::template::Templater::default(),
            analyzer::classify::Classifier::builtin(),
            analyzer::consumer::ConsumerConfig::new(b"t", false),
        );
        let mut sink =
            AnalysisSink::new(&observer, analyzer::inventory::InventoryLimits::default());
        let mut a = Window::new(10);
        let s = |p: u64| PipelineStats {
            packets: p,
            ..PipelineStats::default()
        };
        assert!(!a.due(Timestamp(0)));
        assert!(!a.due(Timestamp(9_999_999)));
        assert!(a.due(Timestamp(10_000_000)));
        let first = a.seal(&mut sink, &s(5));
        assert_eq!(first.counters.get("packets"), Some(&5));
        // A new window starts at the next packet.
        assert!(!a.due(Timestamp(50_000_000)));
        let second = a.seal(&mut sink, &s(12));
        assert_eq!(second.counters.get("packets"), Some(&7));
        let third = a.seal(&mut sink, &s(12));
        assert!(third.is_empty());
    }
}
