//! HTTP/1.x over reassembled TCP streams: probe, parse, pair requests with responses.
//!
//! [`HttpConnection`] is the flow table's [`StreamHandler`](crate::flow::StreamHandler): it
//! receives each connection's bytes in packet order across both directions and hands every
//! message head, body and finished exchange to the worker's [`ExchangeSink`] (`sink.rs`), which
//! decides per body how deep to parse it: framed only, scanned, or decoded for learning.
//!
//! - Probing looks at the payload, never the port (`connection.rs`): the first line of a
//!   direction must be a request line (any token method) or an `HTTP/1.x` status line, or the
//!   connection is dropped with `Interest::Stop`.
//! - Heads are parsed with httparse where they lie when whole in one segment, else accumulated
//!   per direction up to [`HttpLimits::max_head_bytes`] (`parser.rs`); framing follows RFC 9112
//!   section 6 (`body.rs`); bodies the sink learns from are content decoded incrementally under
//!   size and ratio caps (`decode.rs`).
//! - Nothing hostile traffic can send makes this layer fail: oddities become
//!   [`Anomaly`](analyzer::exchange::Anomaly) flags on the exchange they touch, and lost framing
//!   (gaps, garbage) is recovered by resyncing to the next plausible start line.
//!
//! HTTP/2 and what follows a 101 Upgrade are out of scope here. A CONNECT tunnel's content is
//! probed like a new connection: HTTP/1 inside it is parsed, TLS goes to the TLS inventory.

pub(crate) mod body;
mod chunked;
mod connection;
pub(crate) mod decode;
mod lenient;
mod parser;
mod peel;
pub mod sink;
#[cfg(test)]
mod tests;
#[cfg(test)]
pub(crate) mod transcript;

pub use connection::{BufferUsage, HttpConnection};
pub use parser::looks_like_http_datagram;
pub use sink::{ConnMeta, ExchangeInfo, ExchangeSink, Forensic, Recorder};

use analyzer::exchange::{Anomaly, AnomalySet};

/// Caps applied per connection and per message. Each one has a counter in [`HttpStats`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpLimits {
    /// Longest message head (start line + fields) buffered; beyond it: `HeadTooLarge`.
    pub max_head_bytes: usize,
    /// Decoded body bytes kept per body (`Body::sample`).
    pub max_body_sample: usize,
    /// Decoded bytes counted per body before decoding stops (`DecompressionCapped`).
    pub max_decompressed: u64,
    /// Decoded bytes allowed per wire byte (beyond one sample's worth) before decoding stops.
    pub max_decompression_ratio: u64,
    /// Requests awaiting a response (pipelining); later ones are parsed but not paired.
    pub max_pending_requests: usize,
    /// Exchanges emitted per connection; then the connection is dropped from parsing.
    pub max_exchanges_per_conn: u64,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            max_head_bytes: 64 * 1024,
            max_body_sample: 64 * 1024,
            max_decompressed: 8 * 1024 * 1024,
            max_decompression_ratio: 200,
            max_pending_requests: 64,
            max_exchanges_per_conn: 10_000,
        }
    }
}

/// How many variants [`Anomaly`] has.
const ANOMALY_COUNT: usize = Anomaly::ALL.len();

/// Counter names for anomalies, in [`Anomaly::index`] order.
const ANOMALY_COUNTER_NAMES: [&str; ANOMALY_COUNT] = [
    "http_anomaly_gap",
    "http_anomaly_unpaired_response",
    "http_anomaly_unpaired_request",
    "http_anomaly_truncated_head",
    "http_anomaly_head_too_large",
    "http_anomaly_body_sample_capped",
    "http_anomaly_decompression_capped",
    "http_anomaly_decompression_failed",
    "http_anomaly_unknown_encoding",
    "http_anomaly_content_length_with_transfer_encoding",
    "http_anomaly_conflicting_content_length",
    "http_anomaly_invalid_content_length",
    "http_anomaly_invalid_transfer_encoding",
    "http_anomaly_invalid_chunk",
    "http_anomaly_obsolete_line_folding",
    "http_anomaly_bare_lf",
    "http_anomaly_desync",
    "http_anomaly_tunnel",
    "http_anomaly_body_incomplete",
    "http_anomaly_snaplen_truncated",
    "http_anomaly_overlap_conflict",
    "http_anomaly_pipelined",
    "http_anomaly_exchange_cap_reached",
    "http_anomaly_invalid_header",
];

/// Counters of the HTTP layer, summed over all connections of one worker.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpStats {
    /// Connections handed to the HTTP layer.
    pub connections: u64,
    /// Connections whose payload probed as HTTP/1.x.
    pub http_connections: u64,
    /// Connections dropped because their payload was not HTTP/1.x.
    pub non_http_connections: u64,
    /// Connections that opened with the HTTP/2 preface (`PRI * HTTP/2.0`, prior knowledge):
    /// counted, not parsed as HTTP/1.
    pub http2_prefaces: u64,
    /// Of those, connections that opened with a TLS ClientHello (metadata kept).
    pub tls_client_hellos: u64,
    /// Connections whose guessed orientation was swapped because of what they carried.
    pub role_swaps: u64,
    /// Request heads parsed.
    pub requests: u64,
    /// Final response heads parsed.
    pub responses: u64,
    /// 1xx interim responses skipped (101 counts as a tunnel instead).
    pub interim_responses: u64,
    /// Exchanges handed to the sink.
    pub exchanges: u64,
    /// Responses to client bytes that were not a request (cruft after a request): framed,
    /// not reported as exchanges.
    pub responses_to_cruft: u64,
    /// Of those, exchanges without a request (a response whose request was not seen).
    pub exchanges_without_request: u64,
    /// Requests parsed while the pending queue was full: not paired, response unpaired.
    pub pending_queue_drops: u64,
    /// Connections that reached `max_exchanges_per_conn`.
    pub exchange_cap_hits: u64,
    /// Exchanges finished after the per-connection cap and not emitted.
    pub exchange_cap_drops: u64,
    /// Connections that became tunnels (CONNECT, 101).
    pub tunnels: u64,
    /// CONNECT tunnels whose content was HTTP/1 (parsed like any connection, as Suricata does).
    pub tunnels_http: u64,
    /// CONNECT tunnels whose content was TLS (handed to the TLS inventory).
    pub tunnels_tls: u64,
    /// CONNECT tunnels carrying something else (not parsed).
    pub tunnels_opaque: u64,
    /// Times a direction lost framing and started scanning for the next start line.
    pub resyncs: u64,
    /// Bytes discarded while resyncing (not counting gap bytes, which were never seen).
    pub resync_bytes_discarded: u64,
    /// Gap events received.
    pub gaps: u64,
    /// Heads too short to salvage when a gap, the head cap or the stream end cut them.
    pub lost_heads: u64,
    /// Emitted exchanges per anomaly flag, in [`Anomaly::index`] order.
    anomalies: [u64; ANOMALY_COUNT],
    /// The HTTP/2 layer's counters (connections handed over from here).
    pub h2: crate::http2::Http2Stats,
}

impl HttpStats {
    /// Emitted exchanges carrying `anomaly`.
    pub fn anomaly(&self, anomaly: Anomaly) -> u64 {
        self.anomalies.get(anomaly.index()).copied().unwrap_or(0)
    }

    pub(crate) fn count_anomalies(&mut self, set: AnomalySet) {
        for a in set.iter() {
            if let Some(c) = self.anomalies.get_mut(a.index()) {
                *c += 1;
            }
        }
    }

    /// Every counter with a stable metric name.
    pub fn counters(&self) -> Vec<(&'static str, u64)> {
        let mut out = vec![
            ("http_connections_total", self.connections),
            ("http_connections_http", self.http_connections),
            ("http_connections_non_http", self.non_http_connections),
            ("http_http2_prefaces", self.http2_prefaces),
            ("http_tls_client_hellos", self.tls_client_hellos),
            ("http_role_swaps", self.role_swaps),
            ("http_requests", self.requests),
            ("http_responses", self.responses),
            ("http_interim_responses", self.interim_responses),
            ("http_exchanges", self.exchanges),
            ("http_responses_to_cruft", self.responses_to_cruft),
            (
                "http_exchanges_without_request",
                self.exchanges_without_request,
            ),
            ("http_pending_queue_drops", self.pending_queue_drops),
            ("http_exchange_cap_hits", self.exchange_cap_hits),
            ("http_exchange_cap_drops", self.exchange_cap_drops),
            ("http_tunnels", self.tunnels),
            ("http_tunnels_http", self.tunnels_http),
            ("http_tunnels_tls", self.tunnels_tls),
            ("http_tunnels_opaque", self.tunnels_opaque),
            ("http_resyncs", self.resyncs),
            ("http_resync_bytes_discarded", self.resync_bytes_discarded),
            ("http_gaps", self.gaps),
            ("http_lost_heads", self.lost_heads),
        ];
        out.extend(
            ANOMALY_COUNTER_NAMES
                .iter()
                .copied()
                .zip(self.anomalies.iter().copied()),
        );
        out.extend(self.h2.counters());
        out
    }
}

/// Shared by all connections of one capture worker: limits, counters, and the sink every
/// connection reports to.
#[derive(Debug)]
pub struct HttpCtx<S> {
    pub limits: HttpLimits,
    /// Caps of each HTTP/2 connection.
    pub h2_limits: crate::http2::H2Limits,
    pub sink: S,
    pub stats: HttpStats,
    /// Buffers of TLS handshake flights still being read (certificate subjects).
    pub tls_flights: crate::tls::flight::FlightStats,
    /// Scratch space for heads that need normalising before httparse reads them.
    norm: Vec<u8>,
}

/// Bytes of TLS handshake flights buffered at once across all connections of a worker:
/// 1024 connections mid-handshake with a full [`crate::tls::flight::MAX_FLIGHT_BYTES`] each.
pub const MAX_TLS_FLIGHT_BUDGET: usize = 1024 * crate::tls::flight::MAX_FLIGHT_BYTES;

impl<S: Default> Default for HttpCtx<S> {
    fn default() -> Self {
        HttpCtx::new(HttpLimits::default(), S::default())
    }
}

impl<S> HttpCtx<S> {
    pub fn new(limits: HttpLimits, sink: S) -> Self {
        HttpCtx {
            limits,
            h2_limits: crate::http2::H2Limits::default(),
            sink,
            stats: HttpStats::default(),
            tls_flights: crate::tls::flight::FlightStats {
                budget: MAX_TLS_FLIGHT_BUDGET,
                ..Default::default()
            },
            norm: Vec::new(),
        }
    }
}
