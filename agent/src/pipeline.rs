//! The capture pipeline: frames -> decode -> TCP flows -> HTTP -> observations -> sink.
//!
//! One `Pipeline` is one shared-nothing worker. It owns its flow table and counters and pushes
//! each observation into an [`ObservationSink`] (an in-process inventory for `scan`, a shipper
//! for the live agent). Time is packet time: flow expiry runs when packet time advances.

use crate::decode::Decoder;
use crate::defrag::DefragLimits;
use crate::flow::table::{FlowLimits, FlowTable};
use crate::http::{HttpConnection, HttpCtx, HttpLimits};
use crate::source::{Frame, FrameSource, SourceError};
use analyzer::exchange::HttpExchange;
use analyzer::inventory::Inventory;
use analyzer::observation::Observation;
use analyzer::observe::Observer;
use analyzer::time::Timestamp;
use std::collections::BTreeMap;

/// Where observations go. `exchange` is an optional hook for forensic views (`exchanges`).
pub trait ObservationSink {
    fn observation(&mut self, obs: Observation);

    /// Called for every exchange before it is observed, including lone responses.
    fn exchange(&mut self, _exchange: &HttpExchange) {}

    /// Called for every TLS connection whose ClientHello was read (SNI, ALPN, fingerprint).
    fn tls(&mut self, _obs: analyzer::tls::TlsObservation) {}
}

impl ObservationSink for Inventory {
    fn observation(&mut self, obs: Observation) {
        self.add(&obs);
    }
}

#[derive(Debug, Clone, Default)]
pub struct PipelineConfig {
    pub flows: FlowLimits,
    pub http: HttpLimits,
    pub defrag: DefragLimits,
}

/// Packet-time interval between idle-flow sweeps.
const EXPIRY_SWEEP_MICROS: i64 = 10 * Timestamp::MICROS_PER_SEC;

/// Counters of one pipeline run, by stage.
#[derive(Debug, Clone, Default)]
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

pub struct Pipeline<'o, S: ObservationSink> {
    observer: &'o Observer,
    sink: S,
    decoder: Decoder,
    flows: FlowTable<HttpConnection>,
    http: HttpCtx,
    packets: u64,
    bytes: u64,
    exchanges: u64,
    unobserved: u64,
    anomalies: BTreeMap<&'static str, u64>,
    last_sweep: Option<Timestamp>,
    latest: Timestamp,
}

impl<'o, S: ObservationSink> Pipeline<'o, S> {
    pub fn new(config: PipelineConfig, observer: &'o Observer, sink: S) -> Self {
        Pipeline {
            observer,
            sink,
            decoder: Decoder::new(config.defrag),
            flows: FlowTable::new(config.flows),
            http: HttpCtx::new(config.http),
            packets: 0,
            bytes: 0,
            exchanges: 0,
            unobserved: 0,
            anomalies: BTreeMap::new(),
            last_sweep: None,
            latest: Timestamp(0),
        }
    }

    /// Feed one frame.
    pub fn feed(&mut self, frame: &Frame<'_>) {
        self.packets += 1;
        self.bytes += u64::from(frame.wire_len);
        self.latest = self.latest.max(frame.ts);
        if let Some(packet) = self.decoder.decode(frame) {
            self.flows.process(&packet, &mut self.http);
        }
        self.sweep_idle(frame.ts);
        self.drain();
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

    fn sweep_idle(&mut self, now: Timestamp) {
        match self.last_sweep {
            None => self.last_sweep = Some(now),
            Some(last) if now.since(last) >= EXPIRY_SWEEP_MICROS => {
                self.flows.expire(now, &mut self.http);
                self.last_sweep = Some(now);
            }
            Some(_) => {}
        }
    }

    fn drain(&mut self) {
        for obs in std::mem::take(&mut self.http.tls) {
            self.sink.tls(obs);
        }
        for ex in std::mem::take(&mut self.http.exchanges) {
            self.exchanges += 1;
            for a in &ex.anomalies {
                *self.anomalies.entry(a.as_str()).or_default() += 1;
            }
            self.sink.exchange(&ex);
            match self.observer.observe(&ex) {
                Some(obs) => self.sink.observation(obs),
                None => self.unobserved += 1,
            }
        }
    }

    /// The sink, e.g. for the live agent to seal an aggregation window between frames.
    pub fn sink_mut(&mut self) -> &mut S {
        &mut self.sink
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
        PipelineStats {
            packets: self.packets,
            bytes: self.bytes,
            tcp_flows: self.flows.stats().flows_created,
            http_exchanges: self.exchanges,
            unobserved_exchanges: self.unobserved,
            anomalies: self
                .anomalies
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect(),
            counters,
        }
    }

    /// Close every flow (end of capture), observe what they still held, and hand back the sink.
    pub fn finish(mut self) -> (S, PipelineStats) {
        self.flows.finish(self.latest, &mut self.http);
        self.drain();
        let stats = self.stats();
        (self.sink, stats)
    }
}
