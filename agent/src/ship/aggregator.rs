//! Per-window aggregation: observations -> one [`Inventory`] per packet-time window, plus the
//! pipeline's counter deltas for that window.
//!
//! A window closes when packet time has advanced `window` past its start (or, in live mode,
//! when the worker has been idle: that is an I/O timeout, not data time). The inventory is
//! mergeable and commutative, so windows from many workers and agents add up at the collector
//! to exactly what one process would have counted.

use crate::pipeline::{ObservationSink, PipelineStats};
use analyzer::inventory::{Inventory, InventoryLimits};
use analyzer::observation::Observation;
use analyzer::time::Timestamp;
use std::collections::BTreeMap;

/// A closed window: what gets spooled and shipped.
#[derive(Debug, Clone, PartialEq)]
pub struct Sealed {
    pub inventory: Inventory,
    /// Counter deltas for the window (`packets`, `bytes`, `tcp_flows`, `http_exchanges`,
    /// `anomaly.<name>`, `<stage>.<counter>`).
    pub counters: BTreeMap<String, u64>,
}

impl Sealed {
    pub fn is_empty(&self) -> bool {
        self.inventory.endpoints.is_empty()
            && self.inventory.dropped_observations == 0
            && self.counters.values().all(|v| *v == 0)
    }
}

/// The sink a worker's pipeline writes into.
#[derive(Debug)]
pub struct Aggregator {
    inventory: Inventory,
    limits: InventoryLimits,
    window_micros: i64,
    window_start: Option<Timestamp>,
    /// Counters at the last seal, to compute deltas.
    last: BTreeMap<String, u64>,
}

impl ObservationSink for Aggregator {
    fn observation(&mut self, obs: Observation) {
        self.inventory.add(&obs);
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

impl Aggregator {
    pub fn new(limits: InventoryLimits, window_secs: u64) -> Aggregator {
        let secs =
            i64::try_from(window_secs.max(1)).unwrap_or(i64::MAX / Timestamp::MICROS_PER_SEC);
        Aggregator {
            inventory: Inventory::new(limits.clone()),
            limits,
            window_micros: secs.saturating_mul(Timestamp::MICROS_PER_SEC),
            window_start: None,
            last: BTreeMap::new(),
        }
    }

    /// Whether the window that started earlier has run its length at packet time `now`.
    pub fn due(&mut self, now: Timestamp) -> bool {
        match self.window_start {
            None => {
                self.window_start = Some(now);
                false
            }
            Some(start) => now.since(start) >= self.window_micros,
        }
    }

    /// Close the window: the inventory so far and the counter deltas since the last seal.
    pub fn seal(&mut self, stats: &PipelineStats) -> Sealed {
        let now = flatten(stats);
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
        self.window_start = None;
        Sealed {
            inventory: std::mem::replace(&mut self.inventory, Inventory::new(self.limits.clone())),
            counters,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_close_by_packet_time_and_deltas_add_up() {
        let mut a = Aggregator::new(InventoryLimits::default(), 10);
        let s = |p: u64| PipelineStats {
            packets: p,
            ..PipelineStats::default()
        };
        assert!(!a.due(Timestamp(0)));
        assert!(!a.due(Timestamp(9_999_999)));
        assert!(a.due(Timestamp(10_000_000)));
        let first = a.seal(&s(5));
        assert_eq!(first.counters.get("packets"), Some(&5));
        // A new window starts at the next packet.
        assert!(!a.due(Timestamp(50_000_000)));
        let second = a.seal(&s(12));
        assert_eq!(second.counters.get("packets"), Some(&7));
        let third = a.seal(&s(12));
        assert!(third.is_empty());
    }
}
