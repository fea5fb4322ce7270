//! One HTTP request/response exchange as the capture side reconstructed it.
//!
//! This is the boundary between reconstruction (agent) and understanding (analyzer): plain data,
//! no parsing state. Either half may be missing (capture started mid-connection, a gap swallowed
//! it, the server never answered); what went wrong travels along as [`Anomaly`] flags instead of
//! the exchange being dropped.

use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

/// A header as seen on the wire. Names are kept as sent; compare them case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub name: String,
    /// Raw value bytes: HTTP allows obs-text, so this is not guaranteed UTF-8.
    pub value: Vec<u8>,
}

impl Header {
    pub fn new(name: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        Header {
            name: name.into(),
            value: value.into(),
        }
    }

    /// The value as text when it is valid UTF-8, trimmed of surrounding whitespace.
    pub fn value_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.value).ok().map(str::trim)
    }
}

/// A header as a name and raw value: the owned [`Header`] and httparse's borrowed one alike, so
/// header logic (framing, consumers, classification) runs on whichever the caller holds.
pub trait HeaderLike {
    fn name(&self) -> &str;
    fn value(&self) -> &[u8];
}

impl HeaderLike for Header {
    fn name(&self) -> &str {
        &self.name
    }
    fn value(&self) -> &[u8] {
        &self.value
    }
}

impl HeaderLike for httparse::Header<'_> {
    fn name(&self) -> &str {
        self.name
    }
    fn value(&self) -> &[u8] {
        self.value
    }
}

/// Case-insensitive lookup of the first header with `name`.
pub fn find_header<'a, H: HeaderLike>(headers: &'a [H], name: &str) -> Option<&'a H> {
    headers.iter().find(|h| h.name().eq_ignore_ascii_case(name))
}

/// The raw value of the first header with `name` (case-insensitive).
pub fn header_value<'a, H: HeaderLike>(headers: &'a [H], name: &str) -> Option<&'a [u8]> {
    find_header(headers, name).map(HeaderLike::value)
}

/// A request head as the HTTP layer parsed it, borrowing the bytes it came from: what the
/// count path reads without copying. [`RequestHead`] is its owned form.
#[derive(Debug, Clone, Copy)]
pub struct RequestView<'a> {
    pub method: &'a str,
    /// The request target exactly as sent.
    pub target: &'a str,
    pub version: HttpVersion,
    pub headers: &'a [httparse::Header<'a>],
}

/// A response head, borrowed; see [`RequestView`].
#[derive(Debug, Clone, Copy)]
pub struct ResponseView<'a> {
    pub status: u16,
    pub version: HttpVersion,
    pub headers: &'a [httparse::Header<'a>],
}

/// httparse's borrowed headers over owned ones, to build a view of an owned head.
pub fn borrow_headers(headers: &[Header]) -> Vec<httparse::Header<'_>> {
    headers
        .iter()
        .map(|h| httparse::Header {
            name: &h.name,
            value: &h.value,
        })
        .collect()
}

fn own_headers(headers: &[httparse::Header<'_>]) -> Vec<Header> {
    headers
        .iter()
        .map(|h| Header::new(h.name, h.value))
        .collect()
}

/// HTTP version of a message head.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum HttpVersion {
    #[serde(rename = "0.9")]
    Http09,
    #[serde(rename = "1.0")]
    Http10,
    #[serde(rename = "1.1")]
    Http11,
    /// HTTP/2 (RFC 9113): one exchange per stream.
    #[serde(rename = "2")]
    Http2,
}

impl HttpVersion {
    pub fn as_str(self) -> &'static str {
        match self {
            HttpVersion::Http09 => "0.9",
            HttpVersion::Http10 => "1.0",
            HttpVersion::Http11 => "1.1",
            HttpVersion::Http2 => "2",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    pub method: String,
    /// The request target exactly as sent (origin-form, absolute-form, authority-form or `*`).
    pub target: String,
    pub version: HttpVersion,
    pub headers: Vec<Header>,
}

impl RequestHead {
    /// An owned copy of a borrowed head.
    pub fn from_view(view: &RequestView<'_>) -> RequestHead {
        RequestHead {
            method: view.method.to_string(),
            target: view.target.to_string(),
            version: view.version,
            headers: own_headers(view.headers),
        }
    }

    /// Call `f` with a borrowed view of this head.
    pub fn with_view<R>(&self, f: impl FnOnce(&RequestView<'_>) -> R) -> R {
        let headers = borrow_headers(&self.headers);
        f(&RequestView {
            method: &self.method,
            target: &self.target,
            version: self.version,
            headers: &headers,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    pub status: u16,
    pub version: HttpVersion,
    pub headers: Vec<Header>,
}

impl ResponseHead {
    /// An owned copy of a borrowed head.
    pub fn from_view(view: &ResponseView<'_>) -> ResponseHead {
        ResponseHead {
            status: view.status,
            version: view.version,
            headers: own_headers(view.headers),
        }
    }

    /// Call `f` with a borrowed view of this head.
    pub fn with_view<R>(&self, f: impl FnOnce(&ResponseView<'_>) -> R) -> R {
        let headers = borrow_headers(&self.headers);
        f(&ResponseView {
            status: self.status,
            version: self.version,
            headers: &headers,
        })
    }
}

/// A message body after transfer decoding (chunked) and content decoding (gzip, deflate, ...).
///
/// Only a bounded prefix is kept (`sample`) for field-shape learning and classification; the
/// full decoded length is still counted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Body {
    /// Decoded bytes, at most the configured sample cap.
    pub sample: Vec<u8>,
    /// Decoded length seen in total (may exceed `sample.len()`).
    pub decoded_len: u64,
    /// Length on the wire (after transfer decoding, before content decoding).
    pub wire_len: u64,
    /// True when `sample` is not the whole body (cap reached, gap, or decoding stopped).
    pub truncated: bool,
}

/// How far the HTTP layer goes with one body, decided by the exchange's consumer at the
/// message head (retina's "parse depth"): every body is framed so the connection stays in
/// sync; only bodies someone will learn from are decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BodyDepth {
    /// Framed only: nothing copied, decoded or handed over.
    Frame,
    /// Framed, and its bytes after transfer decoding (chunked) handed over as they arrive,
    /// still content-coded: for a cheap scan of identity bodies.
    Scan,
    /// Framed, content-decoded (gzip, deflate, br) into a bounded sample, handed over at its end.
    Learn,
}

/// What a message head says about its body, for the depth decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyShape {
    /// The framing gives the message a body (a length above zero, chunked, or until close).
    pub present: bool,
    /// No content coding: the bytes on the wire (after chunked) are the content.
    pub identity: bool,
}

/// A body that ended, complete or cut short.
#[derive(Debug, Clone, Copy)]
pub struct BodyEnd<'a> {
    /// Body bytes on the wire after transfer decoding (gaps included).
    pub wire_len: u64,
    /// The framing completed normally.
    pub complete: bool,
    /// The decoded body, for [`BodyDepth::Learn`].
    pub decoded: Option<&'a Body>,
}

/// Something the reconstruction noticed. Exchanges carry these instead of failing; each one
/// also feeds a per-capture counter of the same name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Anomaly {
    /// Bytes of this exchange were never captured (a hole in the TCP stream).
    Gap,
    /// A response with no request seen for it (capture started mid-connection, or request lost).
    UnpairedResponse,
    /// A request whose response was never seen.
    UnpairedRequest,
    /// A message head that did not complete before the stream ended or the head cap was reached.
    TruncatedHead,
    /// The head exceeded the head-size cap.
    HeadTooLarge,
    /// Body bytes beyond the sample cap were counted but not kept.
    BodySampleCapped,
    /// Decompression stopped at the output-size or ratio cap (possible decompression bomb).
    DecompressionCapped,
    /// The body claimed a content encoding that failed to decode.
    DecompressionFailed,
    /// An unknown content encoding; the body was kept as is.
    UnknownEncoding,
    /// Both Transfer-Encoding and Content-Length (RFC 9112 section 6.3: a smuggling signal).
    ContentLengthWithTransferEncoding,
    /// Several Content-Length values that disagree.
    ConflictingContentLength,
    /// A Content-Length value that is not a valid non-negative integer.
    InvalidContentLength,
    /// Transfer-Encoding present but chunked is not the final coding.
    InvalidTransferEncoding,
    /// A malformed chunk size line or chunk framing.
    InvalidChunk,
    /// A header line continued with obsolete line folding.
    ObsoleteLineFolding,
    /// Lines ended with a bare LF instead of CRLF.
    BareLf,
    /// The message head could not be parsed; the parser skipped to the next plausible start.
    Desync,
    /// The connection switched protocols (101) or became a CONNECT tunnel; parsing stopped.
    Tunnel,
    /// The stream ended (FIN/RST/expiry) in the middle of a body.
    BodyIncomplete,
    /// The capture snaplen cut packets of this exchange.
    SnaplenTruncated,
    /// TCP retransmission carrying bytes that differ from the first copy (first copy kept).
    OverlapConflict,
    /// Requests were sent before earlier responses arrived (pipelining).
    Pipelined,
    /// Too many exchanges on one connection; later ones were counted but not parsed.
    ExchangeCapReached,
    /// A header line that could not be parsed was skipped (the rest of the head was kept).
    InvalidHeader,
}

impl Anomaly {
    pub fn as_str(self) -> &'static str {
        match self {
            Anomaly::Gap => "gap",
            Anomaly::UnpairedResponse => "unpaired_response",
            Anomaly::UnpairedRequest => "unpaired_request",
            Anomaly::TruncatedHead => "truncated_head",
            Anomaly::HeadTooLarge => "head_too_large",
            Anomaly::BodySampleCapped => "body_sample_capped",
            Anomaly::DecompressionCapped => "decompression_capped",
            Anomaly::DecompressionFailed => "decompression_failed",
            Anomaly::UnknownEncoding => "unknown_encoding",
            Anomaly::ContentLengthWithTransferEncoding => "content_length_with_transfer_encoding",
            Anomaly::ConflictingContentLength => "conflicting_content_length",
            Anomaly::InvalidContentLength => "invalid_content_length",
            Anomaly::InvalidTransferEncoding => "invalid_transfer_encoding",
            Anomaly::InvalidChunk => "invalid_chunk",
            Anomaly::ObsoleteLineFolding => "obsolete_line_folding",
            Anomaly::BareLf => "bare_lf",
            Anomaly::Desync => "desync",
            Anomaly::Tunnel => "tunnel",
            Anomaly::BodyIncomplete => "body_incomplete",
            Anomaly::SnaplenTruncated => "snaplen_truncated",
            Anomaly::OverlapConflict => "overlap_conflict",
            Anomaly::Pipelined => "pipelined",
            Anomaly::ExchangeCapReached => "exchange_cap_reached",
            Anomaly::InvalidHeader => "invalid_header",
        }
    }

    /// Every anomaly, in declaration (and `Ord`) order; [`Anomaly::index`] is the position.
    pub const ALL: [Anomaly; 24] = [
        Anomaly::Gap,
        Anomaly::UnpairedResponse,
        Anomaly::UnpairedRequest,
        Anomaly::TruncatedHead,
        Anomaly::HeadTooLarge,
        Anomaly::BodySampleCapped,
        Anomaly::DecompressionCapped,
        Anomaly::DecompressionFailed,
        Anomaly::UnknownEncoding,
        Anomaly::ContentLengthWithTransferEncoding,
        Anomaly::ConflictingContentLength,
        Anomaly::InvalidContentLength,
        Anomaly::InvalidTransferEncoding,
        Anomaly::InvalidChunk,
        Anomaly::ObsoleteLineFolding,
        Anomaly::BareLf,
        Anomaly::Desync,
        Anomaly::Tunnel,
        Anomaly::BodyIncomplete,
        Anomaly::SnaplenTruncated,
        Anomaly::OverlapConflict,
        Anomaly::Pipelined,
        Anomaly::ExchangeCapReached,
        Anomaly::InvalidHeader,
    ];

    /// Position in [`Anomaly::ALL`] (exhaustive: a new variant fails to compile until listed).
    pub fn index(self) -> usize {
        match self {
            Anomaly::Gap => 0,
            Anomaly::UnpairedResponse => 1,
            Anomaly::UnpairedRequest => 2,
            Anomaly::TruncatedHead => 3,
            Anomaly::HeadTooLarge => 4,
            Anomaly::BodySampleCapped => 5,
            Anomaly::DecompressionCapped => 6,
            Anomaly::DecompressionFailed => 7,
            Anomaly::UnknownEncoding => 8,
            Anomaly::ContentLengthWithTransferEncoding => 9,
            Anomaly::ConflictingContentLength => 10,
            Anomaly::InvalidContentLength => 11,
            Anomaly::InvalidTransferEncoding => 12,
            Anomaly::InvalidChunk => 13,
            Anomaly::ObsoleteLineFolding => 14,
            Anomaly::BareLf => 15,
            Anomaly::Desync => 16,
            Anomaly::Tunnel => 17,
            Anomaly::BodyIncomplete => 18,
            Anomaly::SnaplenTruncated => 19,
            Anomaly::OverlapConflict => 20,
            Anomaly::Pipelined => 21,
            Anomaly::ExchangeCapReached => 22,
            Anomaly::InvalidHeader => 23,
        }
    }

    /// Whether this anomaly means part of the exchange was not seen, lowering confidence in
    /// what the exchange says about its endpoint.
    pub fn lowers_confidence(self) -> bool {
        matches!(
            self,
            Anomaly::Gap
                | Anomaly::UnpairedResponse
                | Anomaly::UnpairedRequest
                | Anomaly::TruncatedHead
                | Anomaly::HeadTooLarge
                | Anomaly::Desync
                | Anomaly::BodyIncomplete
                | Anomaly::SnaplenTruncated
                | Anomaly::OverlapConflict
                | Anomaly::InvalidHeader
        )
    }
}

/// A set of [`Anomaly`] flags, one bit each: what the hot path carries instead of a `Vec`.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct AnomalySet(u32);

impl AnomalySet {
    pub const EMPTY: AnomalySet = AnomalySet(0);

    pub fn of(anomaly: Anomaly) -> AnomalySet {
        AnomalySet(1 << anomaly.index())
    }

    pub fn insert(&mut self, anomaly: Anomaly) {
        self.0 |= 1 << anomaly.index();
    }

    pub fn contains(self, anomaly: Anomaly) -> bool {
        self.0 & (1 << anomaly.index()) != 0
    }

    pub fn extend(&mut self, other: AnomalySet) {
        self.0 |= other.0;
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The members in `Ord` order (the order [`HttpExchange::anomalies`] keeps).
    pub fn iter(self) -> impl Iterator<Item = Anomaly> {
        Anomaly::ALL.into_iter().filter(move |a| self.contains(*a))
    }

    /// Whether part of the exchange was not seen ([`Anomaly::lowers_confidence`]).
    pub fn lowers_confidence(self) -> bool {
        self.iter().any(Anomaly::lowers_confidence)
    }
}

impl std::fmt::Debug for AnomalySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl FromIterator<Anomaly> for AnomalySet {
    fn from_iter<I: IntoIterator<Item = Anomaly>>(iter: I) -> Self {
        let mut set = AnomalySet::EMPTY;
        iter.into_iter().for_each(|a| set.insert(a));
        set
    }
}

/// One request/response pair (or a lone half) on one TCP connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpExchange {
    pub client: SocketAddr,
    pub server: SocketAddr,
    /// Timestamp of the first packet of the request (or of the response when unpaired).
    pub ts: Timestamp,
    pub request: Option<RequestHead>,
    pub response: Option<ResponseHead>,
    pub request_body: Body,
    pub response_body: Body,
    /// Time from the end of the request to the start of the response, when both were seen.
    pub response_delay_micros: Option<i64>,
    /// Sorted, de-duplicated.
    pub anomalies: Vec<Anomaly>,
}

impl HttpExchange {
    pub fn flag(&mut self, anomaly: Anomaly) {
        if let Err(pos) = self.anomalies.binary_search(&anomaly) {
            self.anomalies.insert(pos, anomaly);
        }
    }
}
