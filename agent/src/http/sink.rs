//! Where the HTTP layer's results go: the [`ExchangeSink`] contract, and [`Recorder`], the sink
//! that keeps every exchange whole (forensic views, tests, the conformance harness).
//!
//! The contract is push-style with borrowed data and feedback (ripgrep's `Sink`): at each
//! message head the sink gets a borrowed view and answers how deep to parse the body
//! ([`BodyDepth`]); it keeps whatever it wants about the message in a value of its own
//! ([`ExchangeSink::Message`]) that the connection carries until the exchange completes. Nothing
//! is copied unless a sink copies it, so a sink that only counts pays for no allocation.
//!
//! Order of calls for one exchange: `request` (head), `body_data`* (only for
//! [`BodyDepth::Scan`]), `body_end` (always, once per message, also for empty bodies), the same
//! for the response (`response` is called with the request it answers, or `None` for a response
//! with no request), then `exchange` once both halves are complete or the connection closed.
//! A request whose exchange cannot be tracked (pending queue full) gets no calls at all.

use analyzer::exchange::{
    AnomalySet, Body, BodyDepth, BodyEnd, BodyShape, Header, HttpExchange, RequestHead,
    RequestView, ResponseHead, ResponseView,
};
use analyzer::time::Timestamp;
use analyzer::tls::TlsObservation;
use std::net::SocketAddr;

/// The endpoints of a connection, as the HTTP layer settled them (client sends requests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnMeta {
    pub client: SocketAddr,
    pub server: SocketAddr,
}

/// What the connection knows about a finished exchange beyond its messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExchangeInfo {
    /// Timestamp of the first packet of the request (or of the response when unpaired).
    pub ts: Timestamp,
    pub anomalies: AnomalySet,
    /// Time from the end of the request to the start of the response, when both were seen.
    pub response_delay_micros: Option<i64>,
    /// Interim (1xx other than 101) responses that preceded the final one: `100 Continue`,
    /// `103 Early Hints` belong to the exchange they precede (RFC 9110 section 15.2).
    pub interim_responses: u16,
}

/// The consumer of one capture worker's HTTP exchanges; see the module docs for the order of
/// calls.
pub trait ExchangeSink {
    /// What the sink keeps about one message until its exchange completes.
    type Message;

    /// A request head. Returns the message's state and how deep to parse its body.
    fn request(
        &mut self,
        conn: &ConnMeta,
        head: &RequestView<'_>,
        body: BodyShape,
        ts: Timestamp,
    ) -> (Self::Message, BodyDepth);

    /// A final response head, with the request it answers (`None`: no request was seen).
    fn response(
        &mut self,
        conn: &ConnMeta,
        request: Option<&Self::Message>,
        head: &ResponseView<'_>,
        body: BodyShape,
        ts: Timestamp,
    ) -> (Self::Message, BodyDepth);

    /// Body bytes after transfer decoding, for [`BodyDepth::Scan`], in order.
    fn body_data(&mut self, _message: &mut Self::Message, _bytes: &[u8]) {}

    /// The message's body ended (every message gets this once, empty bodies too).
    fn body_end(&mut self, _message: &mut Self::Message, _end: &BodyEnd<'_>) {}

    /// Trailer fields that followed a message's body (HTTP/2 trailers, such as gRPC's
    /// `grpc-status`); pseudo-header fields are not among them.
    fn trailers(&mut self, _message: &mut Self::Message, _fields: &[httparse::Header<'_>]) {}

    /// The exchange is done.
    fn exchange(
        &mut self,
        conn: &ConnMeta,
        request: Option<Self::Message>,
        response: Option<Self::Message>,
        info: &ExchangeInfo,
    );

    /// The handshake metadata of a TLS connection.
    fn tls(&mut self, _observation: TlsObservation) {}

    /// The TPP the client certificate of a TLS 1.2 connection named (called just before
    /// [`Self::tls`] with the same observation).
    fn tls_tpp(
        &mut self,
        _observation: &TlsObservation,
        _tpp: &analyzer::openbanking::handshake::HandshakeTpp,
    ) {
    }
}

/// One message as the [`Recorder`] keeps it.
#[derive(Debug)]
pub enum Recorded {
    Request(RequestHead, Body),
    Response(ResponseHead, Body),
}

/// A sink that keeps everything: every exchange as an owned [`HttpExchange`] (bodies decoded
/// into their samples) and every TLS observation, in completion order.
#[derive(Debug, Default)]
pub struct Recorder {
    pub exchanges: Vec<HttpExchange>,
    pub tls: Vec<TlsObservation>,
    /// [`ExchangeInfo::interim_responses`] of each exchange, in the same order.
    pub interim: Vec<u16>,
}

/// Like [`Recorder`], but each exchange goes to a closure as it completes (bounded memory for
/// streaming views such as `exchanges`); TLS observations are dropped.
pub struct Forensic<F: FnMut(HttpExchange)>(pub F);

/// The recorded form of a request head: its owned copy, every body learned.
fn record_request(head: &RequestView<'_>) -> (Recorded, BodyDepth) {
    (
        Recorded::Request(RequestHead::from_view(head), Body::default()),
        BodyDepth::Learn,
    )
}

fn record_response(head: &ResponseView<'_>) -> (Recorded, BodyDepth) {
    (
        Recorded::Response(ResponseHead::from_view(head), Body::default()),
        BodyDepth::Learn,
    )
}

fn record_body(message: &mut Recorded, end: &BodyEnd<'_>) {
    let body = match message {
        Recorded::Request(_, b) | Recorded::Response(_, b) => b,
    };
    if let Some(decoded) = end.decoded {
        *body = decoded.clone();
    }
}

fn assemble(
    conn: &ConnMeta,
    request: Option<Recorded>,
    response: Option<Recorded>,
    info: &ExchangeInfo,
) -> HttpExchange {
    let mut ex = HttpExchange {
        client: conn.client,
        server: conn.server,
        ts: info.ts,
        request: None,
        response: None,
        request_body: Body::default(),
        response_body: Body::default(),
        response_delay_micros: info.response_delay_micros,
        anomalies: info.anomalies.iter().collect(),
    };
    for m in [request, response].into_iter().flatten() {
        match m {
            Recorded::Request(head, body) => {
                ex.request = Some(head);
                ex.request_body = body;
            }
            Recorded::Response(head, body) => {
                ex.response = Some(head);
                ex.response_body = body;
            }
        }
    }
    ex
}

/// The sink methods of a recording sink, given how it hands exchanges and TLS on.
macro_rules! recording_sink {
    () => {
        type Message = Recorded;

        fn request(
            &mut self,
            _conn: &ConnMeta,
            head: &RequestView<'_>,
            _body: BodyShape,
            _ts: Timestamp,
        ) -> (Recorded, BodyDepth) {
            record_request(head)
        }

        fn response(
            &mut self,
            _conn: &ConnMeta,
            _request: Option<&Recorded>,
            head: &ResponseView<'_>,
            _body: BodyShape,
            _ts: Timestamp,
        ) -> (Recorded, BodyDepth) {
            record_response(head)
        }

        fn body_end(&mut self, message: &mut Recorded, end: &BodyEnd<'_>) {
            record_body(message, end);
        }

        fn trailers(&mut self, message: &mut Recorded, fields: &[httparse::Header<'_>]) {
            // Kept after the head's fields, as HTTP/1 chunked trailers would be read.
            let head = match message {
                Recorded::Request(h, _) => &mut h.headers,
                Recorded::Response(h, _) => &mut h.headers,
            };
            head.extend(fields.iter().map(|f| Header::new(f.name, f.value)));
        }
    };
}

impl ExchangeSink for Recorder {
    recording_sink!();

    fn exchange(
        &mut self,
        conn: &ConnMeta,
        request: Option<Recorded>,
        response: Option<Recorded>,
        info: &ExchangeInfo,
    ) {
        self.exchanges.push(assemble(conn, request, response, info));
        self.interim.push(info.interim_responses);
    }

    fn tls(&mut self, observation: TlsObservation) {
        self.tls.push(observation);
    }
}

impl<F: FnMut(HttpExchange)> ExchangeSink for Forensic<F> {
    recording_sink!();

    fn exchange(
        &mut self,
        conn: &ConnMeta,
        request: Option<Recorded>,
        response: Option<Recorded>,
        info: &ExchangeInfo,
    ) {
        (self.0)(assemble(conn, request, response, info));
    }
}
