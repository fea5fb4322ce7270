//! One capture worker: frames -> decode -> TCP flows -> HTTP -> an [`ExchangeSink`].
//!
//! A `Pipeline` is shared-nothing: it owns its decoder, flow table, HTTP counters and sink.
//! What the sink does with exchanges (count them into an inventory, keep them whole for a
//! forensic view) is its own business; see `crate::http::sink`. Time is packet time: flow
//! expiry runs when packet time advances. The multi-worker runner decodes frames itself (once,
//! to shard them) and hands workers decoded packets through [`Pipeline::feed_packet`].

use crate::decode::{Decoder, Packet};
use crate::defrag::DefragLimits;
use crate::flow::table::{FlowLimits, FlowTable};
use crate::http::{ExchangeSink, HttpConnection, HttpCtx, HttpLimits};
use crate::source::{Frame, FrameSource, SourceError};
use analyzer::exchange::Anomaly;
use analyzer::time::Timestamp;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default)]
pub struct PipelineConfig {
    pub flows: FlowLimits,
    pub http: HttpLimits,
    pub defrag: DefragLimits,
}

/// Packet-time interval between idle-flow sweeps.
const EXPIRY_SWEEP_MICROS: i64 = 10 * Timestamp::MICROS_PER_SEC;

/// Counters of one pipeline run, by stage.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PipelineStats {
    pub packets: u64,
    pub bytes: u64,
    pub tcp_flows: u64,
    pub http_exchanges: u64,
    /// Exchanges without a request (lone responses): counted, not observed.
    pub unobserved_exchanges: u64,
    /// Anomaly name -> exchanges flagged with it.
    pub anomalies: BTreeMap<String, u64>,
    /// `stage.counter` -> value, for every other counter.
    pub counters: BTreeMap<String, u64>,
}

impl PipelineStats {
    /// Add another worker's counters (workers of one run, or the dispatcher's decode counters).
    pub fn merge(&mut self, other: &PipelineStats) {
        self.packets += other.packets;
        self.bytes += other.bytes;
        self.tcp_flows += other.tcp_flows;
        self.http_exchanges += other.http_exchanges;
        self.unobserved_exchanges += other.unobserved_exchanges;
        for (k, v) in &other.anomalies {
            *self.anomalies.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &other.counters {
            *self.counters.entry(k.clone()).or_default() += v;
        }
    }
}

pub struct Pipeline<S: ExchangeSink> {
    /// Counters of work done elsewhere for this pipeline (a dispatcher's frames and decoding).
    external: PipelineStats,
    decoder: Decoder,
    flows: FlowTable<HttpConnection<S>>,
    http: HttpCtx<S>,
    packets: u64,
    bytes: u64,
    last_sweep: Option<Timestamp>,
    latest: Timestamp,
}

impl<S: ExchangeSink> Pipeline<S> {
    pub fn new(config: PipelineConfig, sink: S) -> Self {
        Pipeline {
            external: PipelineStats::default(),
            decoder: Decoder::new(config.defrag),
            flows: FlowTable::new(config.flows),
            http: HttpCtx::new(config.http, sink),
            packets: 0,
            bytes: 0,
            last_sweep: None,
            latest: Timestamp(0),
        }
    }

    /// Feed one frame.
    pub fn feed(&mut self, frame: &Frame<'_>) {
        self.packets += 1;
        self.bytes += u64::from(frame.wire_len);
        if let Some(packet) = self.decoder.decode(frame) {
            self.flows.process(&packet, &mut self.http);
        }
        self.advance(frame.ts);
    }

    /// Feed one packet decoded elsewhere (the multi-worker runner decodes once, to shard).
    /// Frames and bytes are counted where they were read, not here.
    pub fn feed_packet(&mut self, packet: &Packet<'_>) {
        self.flows.process(packet, &mut self.http);
        self.advance(packet.ts);
    }

    /// Count work done for this pipeline elsewhere (the dispatcher's frames and decoding), so
    /// that its counters appear in [`Pipeline::stats`] and in the agent's windows.
    pub fn add_external(&mut self, stats: &PipelineStats) {
        self.external.merge(stats);
    }

    /// Packet time moved on (a frame, or a tick of a live capture): expire idle flows.
    pub fn advance(&mut self, now: Timestamp) {
        self.latest = self.latest.max(now);
        match self.last_sweep {
            None => self.last_sweep = Some(now),
            Some(last) if now.since(last) >= EXPIRY_SWEEP_MICROS => {
                self.flows.expire(now, &mut self.http);
                self.last_sweep = Some(now);
            }
            Some(_) => {}
        }
    }

    /// Feed a whole source. On a read error everything read before it stays fed and the error
    /// is returned so the caller can report it; `progress` gets bytes consumed so far.
    pub fn run(
        &mut self,
        source: &mut dyn FrameSource,
        progress: &mut dyn FnMut(u64),
    ) -> Result<(), SourceError> {
        let mut n: u64 = 0;
        while let Some(frame) = source.next_frame()? {
            self.feed(&frame);
            n += 1;
            if n.is_multiple_of(4096) {
                progress(source.bytes_consumed());
            }
        }
        progress(source.bytes_consumed());
        Ok(())
    }

    pub fn sink(&self) -> &S {
        &self.http.sink
    }

    /// The sink, e.g. for the live agent to seal an aggregation window between frames.
    pub fn sink_mut(&mut self) -> &mut S {
        &mut self.http.sink
    }

    /// Counters so far, without finishing (the live agent ships per-window deltas).
    pub fn stats(&self) -> PipelineStats {
        let mut counters = BTreeMap::new();
        for (name, v) in self.decoder.counters() {
            counters.insert(format!("decode.{name}"), v);
        }
        for (name, v) in self.flows.stats().counters() {
            counters.insert(format!("flow.{name}"), v);
        }
        for (name, v) in self.http.stats.counters() {
            counters.insert(format!("http.{name}"), v);
        }
        for (name, v) in self.http.tls_flights.counters() {
            counters.insert(format!("http.{name}"), v);
        }
        let mut anomalies: BTreeMap<String, u64> = Anomaly::ALL
            .iter()
            .map(|&a| (a.as_str().to_string(), self.http.stats.anomaly(a)))
            .filter(|(_, n)| *n > 0)
            .collect();
        // HTTP the capture carried but no exchange shows: on the capture-quality line.
        let udp_http = self.flows.stats().udp_http;
        if udp_http > 0 {
            anomalies.insert("http_over_udp".to_string(), udp_http);
        }
        let mut stats = PipelineStats {
            packets: self.packets,
            bytes: self.bytes,
            tcp_flows: self.flows.stats().flows_created,
            http_exchanges: self.http.stats.exchanges,
            unobserved_exchanges: self.http.stats.exchanges_without_request,
            anomalies,
            counters,
        };
        stats.merge(&self.external);
        stats
    }

    /// Close every flow (end of capture), hand over what they still held, and return the sink.
    pub fn finish(mut self) -> (S, PipelineStats) {
        self.flows.finish(self.latest, &mut self.http);
        let stats = self.stats();
        (self.http.sink, stats)
    }
}
