//! gRPC over HTTP/2 as an operation of its own: which calls went to `package.Service/Method`,
//! how many length-prefixed messages each direction carried (from which the streaming kind is
//! inferred), the `grpc-status` they ended with, and how many messages were compressed.
//!
//! - `frames`: the count path's length-prefix reader, fed every body byte of a gRPC message.
//! - `protobuf`: the learn path's walk of one message by wire type (no descriptor needed):
//!   field numbers as names, strings and bytes handed to the classifier, nested messages found
//!   heuristically, bounded and never panicking on garbage.
//!
//! The endpoint of a call stays the HTTP/2 request (`POST /pkg.Service/Method`); the record
//! below, present only on gRPC endpoints, is the protocol marker the outputs read.

pub mod frames;
pub mod proto_source;
pub mod protobuf;
pub mod reflection;
pub mod schema;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Distinct `grpc-status` values kept per endpoint (there are 17 defined codes).
const MAX_STATUSES: usize = 32;

/// Whether a `Content-Type` value is gRPC (`application/grpc`, `application/grpc+proto`, ...).
/// gRPC-Web (`application/grpc-web*`) frames its trailers differently and is not this.
pub fn is_grpc_content_type(value: &[u8]) -> bool {
    let prefix = b"application/grpc";
    let Some(head) = value.get(..prefix.len()) else {
        return false;
    };
    if !head.eq_ignore_ascii_case(prefix) {
        return false;
    }
    matches!(value.get(prefix.len()), None | Some(b'+' | b';' | b' '))
}

/// `(package.Service, Method)` of a gRPC request path `/package.Service/Method`.
pub fn service_method(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix('/')?;
    let rest = rest.split(['?', '#']).next().unwrap_or(rest);
    let (service, method) = rest.split_once('/')?;
    (!service.is_empty() && !method.is_empty() && !method.contains('/'))
        .then_some((service, method))
}

/// The name of a `grpc-status` code (gRPC's status codes), or the number for others.
pub fn status_name(code: u32) -> String {
    const NAMES: [&str; 17] = [
        "OK",
        "CANCELLED",
        "UNKNOWN",
        "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED",
        "FAILED_PRECONDITION",
        "ABORTED",
        "OUT_OF_RANGE",
        "UNIMPLEMENTED",
        "INTERNAL",
        "UNAVAILABLE",
        "DATA_LOSS",
        "UNAUTHENTICATED",
    ];
    usize::try_from(code)
        .ok()
        .and_then(|i| NAMES.get(i))
        .map_or_else(|| code.to_string(), |n| (*n).to_string())
}

/// A `grpc-status` header value as a code (`None` when it is not a number).
pub fn parse_status(value: &[u8]) -> Option<u32> {
    std::str::from_utf8(value).ok()?.trim().parse().ok()
}

/// How a method streams, as declared or as inferred from the message counts seen: a call that
/// carried two or more messages in a direction shows that direction streams. With one message
/// each way on every call the method is `unary` (a streaming method that was only ever called
/// with one message looks the same, and says so only in a catalogue).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum StreamingKind {
    #[default]
    Unary,
    ClientStreaming,
    ServerStreaming,
    Bidi,
}

impl StreamingKind {
    pub fn from_flags(client: bool, server: bool) -> StreamingKind {
        match (client, server) {
            (false, false) => StreamingKind::Unary,
            (true, false) => StreamingKind::ClientStreaming,
            (false, true) => StreamingKind::ServerStreaming,
            (true, true) => StreamingKind::Bidi,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            StreamingKind::Unary => "unary",
            StreamingKind::ClientStreaming => "client_streaming",
            StreamingKind::ServerStreaming => "server_streaming",
            StreamingKind::Bidi => "bidi",
        }
    }
}

/// What one endpoint's gRPC calls showed. Merges like the rest of the record (sums, maxima,
/// capped maps), so inventories combine in any order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrpcRecord {
    /// `package.Service` and `Method` from the path.
    pub service: String,
    pub method: String,
    /// Calls seen (exchanges of the endpoint with a gRPC content type).
    pub calls: u64,
    /// Length-prefixed messages per direction, summed over calls.
    pub request_messages: u64,
    pub response_messages: u64,
    /// Most messages one call carried per direction.
    pub max_request_messages: u64,
    pub max_response_messages: u64,
    /// Inferred from the maxima (see [`StreamingKind`]).
    pub streaming: StreamingKind,
    /// Messages sent with the compressed flag.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub compressed_messages: u64,
    /// `grpc-status` name -> calls (from trailers, or from the headers of a trailers-only
    /// response).
    pub statuses: BTreeMap<String, u64>,
    /// Calls whose `grpc-status` was not seen (stream cut, reset, status lost).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub no_status: u64,
    /// Statuses past the cap.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub overflow: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// What one finished call adds to its endpoint's [`GrpcRecord`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallFacts {
    pub request_messages: u64,
    pub response_messages: u64,
    pub compressed_messages: u64,
    pub status: Option<u32>,
}

impl GrpcRecord {
    pub fn new(service: &str, method: &str) -> GrpcRecord {
        GrpcRecord {
            service: service.to_string(),
            method: method.to_string(),
            ..GrpcRecord::default()
        }
    }

    /// Count one call.
    pub fn call(&mut self, facts: &CallFacts) {
        let one = GrpcRecord {
            calls: 1,
            request_messages: facts.request_messages,
            response_messages: facts.response_messages,
            max_request_messages: facts.request_messages,
            max_response_messages: facts.response_messages,
            compressed_messages: facts.compressed_messages,
            statuses: facts
                .status
                .map(|c| (status_name(c), 1))
                .into_iter()
                .collect(),
            no_status: u64::from(facts.status.is_none()),
            ..GrpcRecord::default()
        };
        self.merge(&one);
    }

    fn bump_status(&mut self, name: &str, n: u64) {
        if let Some(c) = self.statuses.get_mut(name) {
            *c = c.saturating_add(n);
        } else if self.statuses.len() < MAX_STATUSES {
            self.statuses.insert(name.to_string(), n);
        } else {
            self.overflow = self.overflow.saturating_add(1);
        }
    }

    fn infer(&mut self) {
        self.streaming = StreamingKind::from_flags(
            self.max_request_messages > 1,
            self.max_response_messages > 1,
        );
    }

    /// Merge another record of the same endpoint (counts from other agents: saturating).
    pub fn merge(&mut self, other: &GrpcRecord) {
        if self.service.is_empty() {
            self.service.clone_from(&other.service);
            self.method.clone_from(&other.method);
        }
        self.calls = self.calls.saturating_add(other.calls);
        self.request_messages = self.request_messages.saturating_add(other.request_messages);
        self.response_messages = self
            .response_messages
            .saturating_add(other.response_messages);
        self.max_request_messages = self.max_request_messages.max(other.max_request_messages);
        self.max_response_messages = self.max_response_messages.max(other.max_response_messages);
        self.compressed_messages = self
            .compressed_messages
            .saturating_add(other.compressed_messages);
        self.no_status = self.no_status.saturating_add(other.no_status);
        self.overflow = self.overflow.saturating_add(other.overflow);
        for (name, n) in &other.statuses {
            self.bump_status(name, *n);
        }
        self.infer();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_paths_and_statuses() {
        assert!(is_grpc_content_type(b"application/grpc"));
        assert!(is_grpc_content_type(b"Application/GRPC+proto"));
        assert!(!is_grpc_content_type(b"application/grpc-web+proto"));
        assert!(!is_grpc_content_type(b"application/json"));
        assert!(!is_grpc_content_type(b"appl"));
        assert_eq!(
            service_method("/demo.bank.Accounts/GetAccount"),
            Some(("demo.bank.Accounts", "GetAccount"))
        );
        assert_eq!(service_method("/a/b/c"), None);
        assert_eq!(service_method("/a/"), None);
        assert_eq!(service_method("nope"), None);
        assert_eq!(status_name(0), "OK");
        assert_eq!(status_name(5), "NOT_FOUND");
        assert_eq!(status_name(99), "99");
        assert_eq!(parse_status(b" 16 "), Some(16));
        assert_eq!(parse_status(b"x"), None);
    }

    #[test]
    fn streaming_kind_is_inferred_from_maxima_and_merges_in_any_order() {
        let call = |q, r, s| CallFacts {
            request_messages: q,
            response_messages: r,
            compressed_messages: 0,
            status: s,
        };
        let mut a = GrpcRecord::new("s.S", "M");
        a.call(&call(1, 1, Some(0)));
        a.call(&call(1, 0, Some(5)));
        assert_eq!(a.streaming, StreamingKind::Unary);
        let mut b = GrpcRecord::new("s.S", "M");
        b.call(&call(1, 3, Some(0)));
        b.call(&call(2, 1, None));
        assert_eq!(b.streaming, StreamingKind::Bidi);
        let mut ab = a.clone();
        ab.merge(&b);
        let mut ba = b.clone();
        ba.merge(&a);
        assert_eq!(ab, ba);
        assert_eq!(ab.calls, 4);
        assert_eq!(ab.statuses.get("OK"), Some(&2));
        assert_eq!(ab.statuses.get("NOT_FOUND"), Some(&1));
        assert_eq!(ab.no_status, 1);
        assert_eq!(ab.streaming, StreamingKind::Bidi);
    }
}
