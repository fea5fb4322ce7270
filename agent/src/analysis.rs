//! The analysis sink of a capture worker: every exchange counted (and the chosen ones learned)
//! into an inventory by the analyzer's [`InventoryBuilder`], every TLS handshake into the TLS
//! inventory. `scan` reads both at the end; the agent seals them per window.

use crate::http::{ConnMeta, ExchangeInfo, ExchangeSink};
use analyzer::engine::{InventoryBuilder, Message};
use analyzer::exchange::{BodyDepth, BodyEnd, BodyShape, RequestView, ResponseView};
use analyzer::inventory::InventoryLimits;
use analyzer::observe::Observer;
use analyzer::time::Timestamp;
use analyzer::tls::{TlsInventory, TlsLimits, TlsObservation};

#[derive(Debug)]
pub struct AnalysisSink<'o> {
    pub builder: InventoryBuilder<'o>,
    pub tls: TlsInventory,
}

impl<'o> AnalysisSink<'o> {
    pub fn new(observer: &'o Observer, limits: InventoryLimits) -> Self {
        AnalysisSink {
            builder: InventoryBuilder::new(observer, limits),
            tls: TlsInventory::new(TlsLimits::default()),
        }
    }

    /// The HTTP inventory of everything counted (the TLS inventory is in `tls`).
    pub fn into_inventory(self) -> analyzer::inventory::Inventory {
        self.builder.finish()
    }
}

impl ExchangeSink for AnalysisSink<'_> {
    type Message = Message;

    fn request(
        &mut self,
        conn: &ConnMeta,
        head: &RequestView<'_>,
        body: BodyShape,
        ts: Timestamp,
    ) -> (Message, BodyDepth) {
        self.builder
            .request(conn.client.ip(), conn.server, head, body, ts)
    }

    fn response(
        &mut self,
        _conn: &ConnMeta,
        request: Option<&Message>,
        head: &ResponseView<'_>,
        body: BodyShape,
        ts: Timestamp,
    ) -> (Message, BodyDepth) {
        self.builder.response(request, head, body, ts)
    }

    fn body_data(&mut self, message: &mut Message, bytes: &[u8]) {
        self.builder.body_data(message, bytes);
    }

    fn body_end(&mut self, message: &mut Message, end: &BodyEnd<'_>) {
        self.builder.body_end(message, end);
    }

    fn trailers(&mut self, message: &mut Message, fields: &[httparse::Header<'_>]) {
        self.builder.trailers(message, fields);
    }

    fn exchange(
        &mut self,
        _conn: &ConnMeta,
        request: Option<Message>,
        response: Option<Message>,
        info: &ExchangeInfo,
    ) {
        self.builder.exchange(
            request,
            response,
            info.ts,
            info.anomalies,
            info.response_delay_micros,
        );
    }

    fn tls(&mut self, observation: TlsObservation) {
        self.tls.add(&observation);
    }

    fn tls_tpp(
        &mut self,
        observation: &TlsObservation,
        tpp: &analyzer::openbanking::handshake::HandshakeTpp,
    ) {
        // Merged onto the host entry `tls` makes from the same observation (order-free).
        self.tls.add_tpp(observation, tpp);
    }
}
