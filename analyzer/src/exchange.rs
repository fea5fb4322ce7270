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

/// Case-insensitive lookup of the first header with `name`.
pub fn find_header<'a>(headers: &'a [Header], name: &str) -> Option<&'a Header> {
    headers.iter().find(|h| h.name.eq_ignore_ascii_case(name))
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
}

impl HttpVersion {
    pub fn as_str(self) -> &'static str {
        match self {
            HttpVersion::Http09 => "0.9",
            HttpVersion::Http10 => "1.0",
            HttpVersion::Http11 => "1.1",
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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    pub status: u16,
    pub version: HttpVersion,
    pub headers: Vec<Header>,
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
