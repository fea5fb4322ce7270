//! Agent metrics: named counters and gauges shared by the capture, worker and shipper threads,
//! rendered in the Prometheus text format by a tiny blocking HTTP listener (`/metrics`).
//!
//! Counters are atomics (prometheus-client), so bumping them from the capture path is one
//! relaxed add. The listener is plain std on its own thread: the agent has no async runtime.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

macro_rules! agent_metrics {
    ($( $(#[$doc:meta])* $name:ident : $ty:ty = $help:literal ),* $(,)?) => {
        /// Every agent metric; clone-cheap handles (atomics behind `Arc`).
        #[derive(Debug, Default, Clone)]
        pub struct AgentMetrics {
            $( $(#[$doc])* pub $name: $ty, )*
        }

        impl AgentMetrics {
            fn register(&self, registry: &mut Registry) {
                $( registry.register(stringify!($name), $help, self.$name.clone()); )*
            }
        }
    };
}

agent_metrics! {
    packets: Counter = "Frames captured",
    bytes: Counter = "Bytes on the wire of captured frames",
    /// Kernel drops from libpcap's statistics (the capture read too slowly).
    capture_drops: Gauge = "Frames dropped by the kernel (pcap_stats ps_drop, cumulative)",
    capture_if_drops: Gauge = "Frames dropped by the interface (pcap_stats ps_ifdrop, cumulative)",
    /// Frames not handed to a worker because its queue was full (capture never waits).
    dispatch_drops: Counter = "Frames dropped because a worker queue was full",
    flows: Counter = "TCP flows created",
    exchanges: Counter = "HTTP exchanges reconstructed",
    observations: Counter = "Observations aggregated",
    anomalies: Counter = "Exchanges flagged with an anomaly (gaps, unpaired halves, ...)",
    windows_sealed: Counter = "Aggregation windows sealed into batches",
    /// A sealed window could not be handed to the spooler (its queue was full).
    windows_dropped: Counter = "Sealed windows dropped because the spool queue was full",
    spool_batches: Gauge = "Batches waiting in the on-disk spool",
    spool_bytes: Gauge = "Bytes of batches waiting in the spool",
    spool_dropped: Counter = "Oldest batches dropped because the spool was full",
    batches_sent: Counter = "Batches the collector acknowledged as stored",
    batches_duplicate: Counter = "Batches the collector acknowledged as already stored",
    batches_failed: Counter = "Batch sends that failed (will be retried)",
    batches_rejected: Counter = "Batches the collector refused as invalid (dropped, not retried)",
    /// The sender moved to the next of several collector URLs after a failed send.
    collector_failovers: Counter = "Times the sender moved to the next collector URL after a failure",
    /// The brokers refused the producer itself (fenced, unknown id or epoch), or librdkafka
    /// marked it fatal: a new one took over.
    kafka_producers_replaced: Counter = "Kafka producers replaced because they could not deliver any more",
}

impl AgentMetrics {
    /// The Prometheus text of all metrics.
    pub fn render(&self) -> String {
        let mut registry = Registry::with_prefix("shadowtap_agent");
        self.register(&mut registry);
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &registry);
        out
    }
}

/// Serve `/metrics` on `listener` until `stop` is set. One request per connection, bounded
/// request size and timeouts: a slow or hostile scraper cannot hold the thread.
pub fn serve(listener: TcpListener, metrics: AgentMetrics, stop: Arc<AtomicBool>) {
    let _ = listener.set_nonblocking(false);
    for conn in listener.incoming() {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        if let Ok(stream) = conn {
            let _ = answer(stream, &metrics);
        }
    }
}

fn answer(mut stream: TcpStream, metrics: &AgentMetrics) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    stream.set_write_timeout(Some(Duration::from_secs(2)))?;
    let mut head = [0u8; 2048];
    let n = stream.read(&mut head)?;
    let line = head[..n].split(|b| *b == b'\n').next().unwrap_or(&[]);
    let (status, body) = if line.starts_with(b"GET /metrics ") {
        ("200 OK", metrics.render())
    } else {
        (
            "404 Not Found",
            "only GET /metrics is served here\n".to_string(),
        )
    };
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_names_every_metric_with_its_value() {
        let m = AgentMetrics::default();
        m.packets.inc_by(7);
        m.spool_batches.set(3);
        let text = m.render();
        assert!(text.contains("shadowtap_agent_packets_total 7"), "{text}");
        assert!(text.contains("shadowtap_agent_spool_batches 3"), "{text}");
        assert!(
            text.contains("shadowtap_agent_batches_failed_total 0"),
            "{text}"
        );
    }
}
