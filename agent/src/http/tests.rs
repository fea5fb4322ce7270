//! Transcript tests of the HTTP layer: every transcript is replayed whole, byte by byte and
//! split at every offset (see `transcript.rs`), then its exchanges are checked once.

use super::transcript::{
    replay, replay_all, replay_with, Outcome, Split, Step, Transcript, STEP_MICROS, T0,
};
use super::{HttpConnection, HttpLimits, Recorder};
use crate::flow::Dir;
use analyzer::exchange::{find_header, Anomaly, HttpExchange, HttpVersion};
use analyzer::time::Timestamp;
use proptest::prelude::*;
use std::io::Write;

/// `transcript!(test_name, "file.t", |outcome| { asserts })`: one input, one block of asserts
/// (httparse's `req!` style), run under every split of the transcript.
macro_rules! transcript {
    ($name:ident, $file:expr, |$o:ident| $body:block) => {
        #[test]
        fn $name() {
            let $o = replay_all(&Transcript::load($file), &HttpLimits::default());
            $body
        }
    };
}

fn method(ex: &HttpExchange) -> &str {
    ex.request.as_ref().map_or("", |r| r.method.as_str())
}

fn target(ex: &HttpExchange) -> &str {
    ex.request.as_ref().map_or("", |r| r.target.as_str())
}

fn status(ex: &HttpExchange) -> u16 {
    ex.response.as_ref().map_or(0, |r| r.status)
}

fn summary(o: &Outcome) -> Vec<(String, String, u16)> {
    o.exchanges
        .iter()
        .map(|e| (method(e).to_string(), target(e).to_string(), status(e)))
        .collect()
}

fn s(m: &str, t: &str, st: u16) -> (String, String, u16) {
    (m.to_string(), t.to_string(), st)
}

/// Anomalies in the order `HttpExchange::flag` keeps them.
fn flags(list: &[Anomaly]) -> Vec<Anomaly> {
    let mut v = list.to_vec();
    v.sort_unstable();
    v.dedup();
    v
}

fn ts(step: i64) -> Timestamp {
    Timestamp(T0 + step * STEP_MICROS)
}

transcript!(http_simple_get, "simple_get.t", |o| {
    assert_eq!(summary(&o), vec![s("GET", "/api/users/42?x=1", 200)]);
    let ex = &o.exchanges[0];
    assert_eq!(ex.response_body.sample, br#"{"id":42,"a"}"#);
    assert_eq!(
        (ex.response_body.wire_len, ex.response_body.decoded_len),
        (13, 13)
    );
    assert!(!ex.response_body.truncated);
    assert!(ex.anomalies.is_empty(), "{:?}", ex.anomalies);
    assert_eq!(ex.ts, ts(0));
    assert_eq!(ex.response_delay_micros, Some(STEP_MICROS));
    let req = ex
        .request
        .as_ref()
        .map(|r| r.headers.clone())
        .unwrap_or_default();
    assert_eq!(req[1].name, "User-Agent", "header names kept as sent");
    assert_eq!(o.stats.http_connections, 1);
    assert_eq!(
        (o.stats.requests, o.stats.responses, o.stats.exchanges),
        (1, 1, 1)
    );
});

transcript!(http_keepalive_three_exchanges, "keepalive.t", |o| {
    assert_eq!(
        summary(&o),
        vec![
            s("GET", "/a", 200),
            s("POST", "/b", 201),
            s("DELETE", "/c/9", 404)
        ]
    );
    assert_eq!(o.exchanges[1].request_body.sample, br#"{"b":1}"#);
    assert_eq!(o.exchanges[2].response_body.sample, b"no!");
    assert!(o.exchanges.iter().all(|e| e.anomalies.is_empty()));
    assert_eq!(o.exchanges[2].ts, ts(4));
});

transcript!(http_pipelined, "pipelined.t", |o| {
    assert_eq!(
        summary(&o),
        vec![
            s("GET", "/1", 200),
            s("GET", "/2", 200),
            s("HEAD", "/3", 200)
        ]
    );
    assert_eq!(o.exchanges[0].response_body.sample, b"r1");
    assert_eq!(o.exchanges[1].response_body.sample, b"r2");
    assert_eq!(
        o.exchanges[2].response_body.wire_len, 0,
        "HEAD response has no body"
    );
    assert!(!o.exchanges[0].anomalies.contains(&Anomaly::Pipelined));
    assert!(o.exchanges[1].anomalies.contains(&Anomaly::Pipelined));
    assert!(o.exchanges[2].anomalies.contains(&Anomaly::Pipelined));
});

transcript!(http_chunked_extensions_trailers, "chunked.t", |o| {
    assert_eq!(
        summary(&o),
        vec![s("GET", "/stream", 200), s("GET", "/after", 204)]
    );
    let body = &o.exchanges[0].response_body;
    assert_eq!(body.sample, b"hello, world");
    assert_eq!(body.wire_len, 12);
    assert!(o.exchanges.iter().all(|e| e.anomalies.is_empty()));
});

transcript!(http_head_has_no_body, "head_no_body.t", |o| {
    assert_eq!(
        summary(&o),
        vec![s("HEAD", "/file", 200), s("GET", "/next", 200)]
    );
    assert_eq!(o.exchanges[1].response_body.sample, b"ok");
});

transcript!(http_204_304_have_no_body, "no_content.t", |o| {
    assert_eq!(
        summary(&o),
        vec![
            s("PUT", "/x", 204),
            s("GET", "/x", 304),
            s("GET", "/y", 200)
        ]
    );
    assert_eq!(o.exchanges[0].request_body.sample, b"hi");
    assert_eq!(o.exchanges[2].response_body.sample, b"y");
});

transcript!(http_100_continue, "continue.t", |o| {
    assert_eq!(summary(&o), vec![s("POST", "/upload", 200)]);
    let ex = &o.exchanges[0];
    assert_eq!(ex.request_body.sample, b"12345");
    assert_eq!(ex.response_body.sample, b"done");
    assert_eq!(o.stats.interim_responses, 1);
    assert!(ex.anomalies.is_empty(), "{:?}", ex.anomalies);
    // Request ended at step 2, final response began at step 3.
    assert_eq!(ex.response_delay_micros, Some(STEP_MICROS));
});

transcript!(http_101_upgrade_is_tunnel, "upgrade.t", |o| {
    assert_eq!(summary(&o), vec![s("GET", "/chat", 101)]);
    assert_eq!(o.exchanges[0].anomalies, vec![Anomaly::Tunnel]);
    assert!(o.stopped);
    assert_eq!(o.stats.tunnels, 1);
});

transcript!(http_connect_is_tunnel, "connect.t", |o| {
    assert_eq!(summary(&o), vec![s("CONNECT", "api.example.com:443", 200)]);
    assert_eq!(o.exchanges[0].anomalies, vec![Anomaly::Tunnel]);
    assert!(o.stopped);
});

transcript!(http_te_with_cl_flagged, "te_cl.t", |o| {
    assert_eq!(
        summary(&o),
        vec![s("POST", "/login", 200), s("GET", "/admin", 403)]
    );
    assert_eq!(o.exchanges[0].request_body.sample, b"abc");
    assert!(o.exchanges[0]
        .anomalies
        .contains(&Anomaly::ContentLengthWithTransferEncoding));
    assert!(!o.exchanges[1]
        .anomalies
        .contains(&Anomaly::ContentLengthWithTransferEncoding));
});

transcript!(http_conflicting_content_length, "conflicting_cl.t", |o| {
    assert_eq!(
        summary(&o),
        vec![s("POST", "/a", 400), s("GET", "/hidden", 200)]
    );
    assert!(o.exchanges[0]
        .anomalies
        .contains(&Anomaly::ConflictingContentLength));
    assert_eq!(o.stats.resyncs, 1);
});

transcript!(http_huge_chunk_size, "huge_chunk.t", |o| {
    assert_eq!(summary(&o), vec![s("GET", "/a", 200), s("GET", "/b", 200)]);
    assert!(o.exchanges[0].anomalies.contains(&Anomaly::InvalidChunk));
    assert!(o.exchanges[0].response_body.truncated);
    assert_eq!(o.exchanges[1].response_body.sample, b"b");
});

transcript!(http_obsolete_line_folding, "obs_fold.t", |o| {
    assert_eq!(summary(&o), vec![s("GET", "/fold", 200)]);
    let ex = &o.exchanges[0];
    assert_eq!(ex.anomalies, vec![Anomaly::ObsoleteLineFolding]);
    let req = ex
        .request
        .as_ref()
        .map(|r| r.headers.clone())
        .unwrap_or_default();
    assert_eq!(
        find_header(&req, "x-folded").map(|h| h.value.clone()),
        Some(b"first second third".to_vec())
    );
    let resp = ex
        .response
        .as_ref()
        .map(|r| r.headers.clone())
        .unwrap_or_default();
    assert_eq!(
        find_header(&resp, "X-Multi").map(|h| h.value.clone()),
        Some(b"one two".to_vec())
    );
});

transcript!(http_bare_lf, "bare_lf.t", |o| {
    assert_eq!(summary(&o), vec![s("GET", "/lf", 200)]);
    assert_eq!(o.exchanges[0].anomalies, vec![Anomaly::BareLf]);
    assert_eq!(o.exchanges[0].response_body.sample, b"abc");
});

transcript!(http_response_without_request, "response_only.t", |o| {
    assert_eq!(summary(&o), vec![s("", "", 200)]);
    assert_eq!(o.exchanges[0].anomalies, vec![Anomaly::UnpairedResponse]);
    assert_eq!(o.exchanges[0].ts, ts(0));
    assert_eq!(o.exchanges[0].response_delay_micros, None);
});

transcript!(http_request_without_response, "request_only.t", |o| {
    assert_eq!(summary(&o), vec![s("GET", "/lonely", 0)]);
    assert_eq!(o.exchanges[0].anomalies, vec![Anomaly::UnpairedRequest]);
    assert!(o.exchanges[0].response.is_none());
});

transcript!(http_gap_in_body_stays_in_sync, "gap_in_body.t", |o| {
    assert_eq!(
        summary(&o),
        vec![s("GET", "/big", 200), s("GET", "/small", 200)]
    );
    let body = &o.exchanges[0].response_body;
    assert_eq!(body.sample, b"01234");
    assert_eq!(body.wire_len, 20);
    assert!(body.truncated);
    assert_eq!(o.exchanges[0].anomalies, vec![Anomaly::Gap]);
    assert_eq!(
        o.exchanges[1].anomalies,
        vec![Anomaly::Pipelined],
        "no gap on the next exchange"
    );
    assert_eq!(o.exchanges[1].response_body.sample, b"ok");
});

transcript!(http_gap_in_head_resyncs, "gap_in_head.t", |o| {
    assert_eq!(
        summary(&o),
        vec![s("GET", "/first", 200), s("POST", "/second", 201)]
    );
    assert_eq!(
        o.exchanges[0].anomalies,
        flags(&[Anomaly::Gap, Anomaly::TruncatedHead])
    );
    // The salvaged first request still awaited its response: the second is pipelined.
    assert_eq!(o.exchanges[1].anomalies, vec![Anomaly::Pipelined]);
    assert_eq!(o.exchanges[1].request_body.sample, b"ok");
    assert_eq!(o.exchanges[1].response_body.sample, b"2");
});

transcript!(http_close_delimited_body, "close_delimited.t", |o| {
    assert_eq!(summary(&o), vec![s("GET", "/old", 200)]);
    let ex = &o.exchanges[0];
    assert_eq!(ex.response_body.sample, b"line one\r\nline two\r\n");
    assert!(ex.anomalies.is_empty(), "{:?}", ex.anomalies);
    assert_eq!(
        ex.request.as_ref().map(|r| r.version),
        Some(HttpVersion::Http10)
    );
});

transcript!(http_extension_methods, "extension_method.t", |o| {
    assert_eq!(
        summary(&o),
        vec![s("QUERY", "/search", 200), s("PROPFIND", "/dav/", 207)]
    );
    assert_eq!(o.exchanges[0].request_body.sample, br#"{"q":"abc"}"#);
});

transcript!(http_ssh_is_not_http, "ssh.t", |o| {
    assert!(o.exchanges.is_empty());
    assert!(o.stopped);
    assert_eq!(
        (o.stats.non_http_connections, o.stats.http_connections),
        (1, 0)
    );
});

transcript!(http_09_request, "http09.t", |o| {
    assert_eq!(summary(&o), vec![s("GET", "/index.html", 0)]);
    let ex = &o.exchanges[0];
    assert_eq!(
        ex.request.as_ref().map(|r| r.version),
        Some(HttpVersion::Http09)
    );
    assert_eq!(
        ex.response.as_ref().map(|r| r.version),
        Some(HttpVersion::Http09)
    );
    assert_eq!(ex.response_body.sample, b"<html>old</html>\r\n");
});

transcript!(http_roles_swapped_mid_stream, "swapped.t", |o| {
    assert_eq!(summary(&o), vec![s("GET", "/next", 200)]);
    let ex = &o.exchanges[0];
    let (client, server) = super::transcript::addrs();
    // The ConnInfo guess was client->server; the payload proved the reverse.
    assert_eq!((ex.client, ex.server), (server, client));
    assert_eq!(o.stats.role_swaps, 1);
    assert_eq!(ex.response_body.sample, b"ok");
});

// ---- transcripts built in code --------------------------------------------------------------

fn encoded_response(coding: &str, body: &[u8]) -> Transcript {
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Encoding: {coding}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let mut resp = head.into_bytes();
    resp.extend_from_slice(body);
    Transcript::default()
        .client("GET /z HTTP/1.1\r\nHost: h\r\n\r\n")
        .server(resp)
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let _ = e.write_all(data);
    e.finish().unwrap_or_default()
}

const JSON: &[u8] =
    br#"{"users":[{"id":1,"email":"a@example.com"},{"id":2,"email":"b@example.com"}]}"#;

#[test]
fn http_gzip_response() {
    let o = replay_all(
        &encoded_response("gzip", &gzip(JSON)),
        &HttpLimits::default(),
    );
    let body = &o.exchanges[0].response_body;
    assert_eq!(body.sample, JSON);
    assert_eq!(body.decoded_len, JSON.len() as u64);
    assert!(o.exchanges[0].anomalies.is_empty());
}

#[test]
fn http_deflate_response_zlib_and_raw() {
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    let _ = z.write_all(JSON);
    let mut r = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    let _ = r.write_all(JSON);
    for wire in [
        z.finish().unwrap_or_default(),
        r.finish().unwrap_or_default(),
    ] {
        let o = replay_all(&encoded_response("deflate", &wire), &HttpLimits::default());
        assert_eq!(o.exchanges[0].response_body.sample, JSON);
        assert!(o.exchanges[0].anomalies.is_empty());
    }
}

#[test]
fn http_brotli_response() {
    let mut wire = Vec::new();
    {
        let mut w = brotli::CompressorWriter::new(&mut wire, 4096, 5, 22);
        let _ = w.write_all(JSON);
    }
    let o = replay_all(&encoded_response("br", &wire), &HttpLimits::default());
    assert_eq!(o.exchanges[0].response_body.sample, JSON);
    assert!(o.exchanges[0].anomalies.is_empty());
}

#[test]
fn http_gzip_bomb_is_capped() {
    let wire = gzip(&vec![b'a'; 16 << 20]);
    let limits = HttpLimits::default();
    let o = replay_all(&encoded_response("gzip", &wire), &limits);
    let ex = &o.exchanges[0];
    assert!(
        ex.anomalies.contains(&Anomaly::DecompressionCapped),
        "{:?}",
        ex.anomalies
    );
    assert!(ex.response_body.truncated);
    assert_eq!(ex.response_body.wire_len, wire.len() as u64);
    assert!(ex.response_body.decoded_len <= wire.len() as u64 * limits.max_decompression_ratio);
    assert_eq!(ex.response_body.sample.len(), limits.max_body_sample);
    assert_eq!(o.stats.anomaly(Anomaly::DecompressionCapped), 1);
}

#[test]
fn http_unknown_and_broken_encodings_keep_raw() {
    let o = replay_all(&encoded_response("zstd", b"raw!"), &HttpLimits::default());
    assert_eq!(o.exchanges[0].response_body.sample, b"raw!");
    assert_eq!(o.exchanges[0].anomalies, vec![Anomaly::UnknownEncoding]);
    let o = replay_all(
        &encoded_response("gzip", b"not gzip"),
        &HttpLimits::default(),
    );
    assert_eq!(o.exchanges[0].response_body.sample, b"not gzip");
    assert_eq!(o.exchanges[0].anomalies, vec![Anomaly::DecompressionFailed]);
}

#[test]
fn http_tls_client_hello_is_not_http() {
    let hello: &[u8] = &[
        0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00, 0x00, 0xa1, 0x03, 0x03, b'G', b'E', b'T', b' ',
        b'/',
    ];
    let o = replay_all(
        &Transcript::default()
            .client(hello)
            .server("HTTP/1.1 200 OK\r\n\r\n"),
        &HttpLimits::default(),
    );
    assert!(o.exchanges.is_empty());
    assert!(o.stopped);
    assert_eq!(o.stats.non_http_connections, 1);
}

#[test]
fn http_body_sample_cap() {
    let limits = HttpLimits {
        max_body_sample: 8,
        ..HttpLimits::default()
    };
    let t = Transcript::default()
        .client("POST /u HTTP/1.1\r\nContent-Length: 20\r\n\r\n0123456789abcdefghij");
    let o = replay_all(&t, &limits);
    let body = &o.exchanges[0].request_body;
    assert_eq!(
        (body.sample.as_slice(), body.decoded_len, body.truncated),
        (&b"01234567"[..], 20, true)
    );
    assert!(o.exchanges[0]
        .anomalies
        .contains(&Anomaly::BodySampleCapped));
}

#[test]
fn http_head_too_large_resyncs() {
    let limits = HttpLimits {
        max_head_bytes: 64,
        ..HttpLimits::default()
    };
    let long = format!("GET /big HTTP/1.1\r\nX-Pad: {}\r\n\r\n", "p".repeat(100));
    let t = Transcript::default()
        .client(format!(
            "GET /ok HTTP/1.1\r\n\r\n{long}GET /after HTTP/1.1\r\n\r\n"
        ))
        .server("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".repeat(3));
    let o = replay_all(&t, &limits);
    assert_eq!(
        summary(&o),
        vec![
            s("GET", "/ok", 200),
            s("GET", "/big", 200),
            s("GET", "/after", 200)
        ]
    );
    assert_eq!(
        o.exchanges[1].anomalies,
        flags(&[
            Anomaly::HeadTooLarge,
            Anomaly::Pipelined,
            Anomaly::TruncatedHead
        ])
    );
}

#[test]
fn http_pending_queue_cap_counts_drops() {
    let limits = HttpLimits {
        max_pending_requests: 2,
        ..HttpLimits::default()
    };
    let t = Transcript::default()
        .client("GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\nGET /3 HTTP/1.1\r\n\r\n");
    let o = replay(&t, Split::Whole, &limits);
    assert_eq!(o.stats.pending_queue_drops, 1);
    assert_eq!(summary(&o), vec![s("GET", "/1", 0), s("GET", "/2", 0)]);
}

#[test]
fn http_exchange_cap_stops_connection() {
    let limits = HttpLimits {
        max_exchanges_per_conn: 2,
        ..HttpLimits::default()
    };
    let mut t = Transcript::default();
    for i in 0..4 {
        t = t
            .client(format!("GET /{i} HTTP/1.1\r\n\r\n"))
            .server("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    }
    let o = replay(&t, Split::Whole, &limits);
    assert_eq!(o.exchanges.len(), 2);
    assert!(o.exchanges[1]
        .anomalies
        .contains(&Anomaly::ExchangeCapReached));
    assert!(o.stopped);
    assert_eq!(o.stats.exchange_cap_hits, 1);
}

#[test]
fn http_overlap_and_incomplete_body_flags() {
    let t = Transcript::default()
        .client("GET /o HTTP/1.1\r\n\r\n")
        .server("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
        .step(Step::Overlap(Dir::ToClient))
        .step(Step::End(Dir::ToClient));
    let o = replay_all(&t, &HttpLimits::default());
    assert_eq!(
        o.exchanges[0].anomalies,
        flags(&[Anomaly::BodyIncomplete, Anomaly::OverlapConflict])
    );
    assert!(o.exchanges[0].response_body.truncated);
}

#[test]
fn http_truncated_head_at_close() {
    let t = Transcript::default().client("GET /cut HTTP/1.1\r\nHost: h\r\n");
    let o = replay_all(&t, &HttpLimits::default());
    assert_eq!(summary(&o), vec![s("GET", "/cut", 0)]);
    assert_eq!(
        o.exchanges[0].anomalies,
        flags(&[Anomaly::TruncatedHead, Anomaly::UnpairedRequest])
    );
}

#[test]
fn http_garbage_between_messages_desyncs() {
    let t = Transcript::default()
        .client("GET /1 HTTP/1.1\r\n\r\n\x00\x01garbage\r\nGET /2 HTTP/1.1\r\n\r\n")
        .server("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    let o = replay_all(&t, &HttpLimits::default());
    assert_eq!(summary(&o), vec![s("GET", "/1", 200), s("GET", "/2", 200)]);
    assert!(o.exchanges[1].anomalies.contains(&Anomaly::Desync));
    assert!(o
        .stats
        .counters()
        .iter()
        .any(|&(n, v)| n == "http_anomaly_desync" && v == 1));
}

// ---- no panics, caps hold --------------------------------------------------------------------

fn within_caps(conn: &HttpConnection<Recorder>, limits: &HttpLimits) {
    let u = conn.buffer_usage();
    assert!(
        u.head_bytes.iter().all(|&b| b <= limits.max_head_bytes),
        "{u:?}"
    );
    assert!(u.pending <= limits.max_pending_requests, "{u:?}");
    // Two bodies in flight, each: decoded sample + raw sample + one compressed block.
    assert!(
        u.body_samples <= 2 * (2 * limits.max_body_sample + super::decode::DECODE_BLOCK),
        "{u:?}"
    );
}

fn step_strategy() -> impl Strategy<Value = Step> {
    let dir = prop_oneof![Just(Dir::ToServer), Just(Dir::ToClient)];
    // Bytes drawn from HTTP-ish fragments and raw noise, so the parser gets deep.
    let frag = prop_oneof![
        Just(b"GET / HTTP/1.1\r\n".to_vec()),
        Just(b"HTTP/1.1 200 OK\r\n".to_vec()),
        Just(b"HTTP/1.1 100 Continue\r\n\r\n".to_vec()),
        Just(b"Content-Length: 5\r\n".to_vec()),
        Just(b"Transfer-Encoding: chunked\r\n".to_vec()),
        Just(b"Content-Encoding: gzip, br\r\n".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"5\r\nhello\r\n0\r\n\r\n".to_vec()),
        Just(b"ffffffffffffffffff\r\n".to_vec()),
        Just(b" folded\r\n".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..40),
    ];
    let data = (dir.clone(), proptest::collection::vec(frag, 1..6))
        .prop_map(|(d, f)| Step::Data(d, f.concat()));
    prop_oneof![
        6 => data,
        1 => (dir.clone(), 0u64..50).prop_map(|(d, n)| Step::Gap(d, n)),
        1 => dir.clone().prop_map(Step::End),
        1 => dir.prop_map(Step::Overlap),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn http_arbitrary_streams_never_panic_and_respect_caps(
        steps in proptest::collection::vec(step_strategy(), 0..24),
        known in any::<bool>(),
    ) {
        let limits = HttpLimits {
            max_head_bytes: 96,
            max_body_sample: 16,
            max_pending_requests: 3,
            max_exchanges_per_conn: 8,
            ..HttpLimits::default()
        };
        let t = Transcript { steps, orientation_known: known };
        let whole = replay_with(&t, Split::Whole, &limits, &mut within_caps);
        let bytewise = replay_with(&t, Split::ByteByByte, &limits, &mut within_caps);
        prop_assert!(whole.exchanges.len() as u64 <= limits.max_exchanges_per_conn);
        for ex in &whole.exchanges {
            prop_assert!(ex.request_body.sample.len() <= limits.max_body_sample);
            prop_assert!(ex.response_body.sample.len() <= limits.max_body_sample);
        }
        prop_assert!(bytewise.exchanges.len() as u64 <= limits.max_exchanges_per_conn);
    }
}

#[test]
fn http_connection_is_send() {
    // Capture workers may build their flow table on one thread and run it on another.
    fn assert_send<T: Send>() {}
    assert_send::<HttpConnection<Recorder>>();
    assert_send::<super::HttpCtx<Recorder>>();
}

transcript!(http_overlap_conflict_flagged, "overlap_conflict.t", |o| {
    assert_eq!(summary(&o), vec![s("GET", "/balance", 200)]);
    let ex = &o.exchanges[0];
    assert!(
        ex.anomalies.contains(&Anomaly::OverlapConflict),
        "{:?}",
        ex.anomalies
    );
    assert_eq!(ex.response_body.sample, b"0123456789");
});

transcript!(http_rst_mid_body_is_incomplete, "rst_mid_body.t", |o| {
    assert_eq!(summary(&o), vec![s("GET", "/statement", 200)]);
    let ex = &o.exchanges[0];
    assert!(
        ex.anomalies.contains(&Anomaly::BodyIncomplete),
        "{:?}",
        ex.anomalies
    );
    assert_eq!(ex.response_body.sample, b"0123456789");
});

transcript!(http_half_close_still_pairs, "half_close.t", |o| {
    assert_eq!(summary(&o), vec![s("GET", "/accounts", 200)]);
    assert!(
        o.exchanges[0].anomalies.is_empty(),
        "{:?}",
        o.exchanges[0].anomalies
    );
    assert_eq!(o.exchanges[0].response_body.sample, b"ok");
});

transcript!(
    http_large_gap_resyncs_at_the_next_request,
    "large_gap_resync.t",
    |o| {
        assert_eq!(
            summary(&o),
            vec![
                s("GET", "/one", 200),
                s("POST", "/upload", 200),
                s("GET", "/three", 200)
            ],
            "{:#?}",
            o.exchanges.iter().map(|e| &e.anomalies).collect::<Vec<_>>()
        );
        assert!(o.exchanges[1].anomalies.contains(&Anomaly::Gap));
        assert!(!o.exchanges[2].anomalies.contains(&Anomaly::Gap));
        assert_eq!(o.exchanges[2].response_body.sample, b"3");
    }
);

// ---- browser-equivalent body decoding (http-evader families) ----------------------------------

/// One GET answered by `resp` then the server's close; the response body sample and flags.
fn evasion(resp: &[u8]) -> (Vec<u8>, Vec<Anomaly>, u16) {
    let t = Transcript::default()
        .client("GET /eicar.txt HTTP/1.1\r\nHost: h\r\n\r\n")
        .server(resp)
        .step(Step::End(Dir::ToClient));
    let o = replay_all(&t, &HttpLimits::default());
    assert_eq!(o.exchanges.len(), 1, "{:?}", o.exchanges);
    let ex = &o.exchanges[0];
    (
        ex.response_body.sample.clone(),
        ex.anomalies.clone(),
        status(ex),
    )
}

#[test]
fn http_bodies_decode_as_browsers_show_them() {
    let want: &[u8] = b"X5O!P%@AP[4 body";
    let gz = gzip(want);
    let mut reserved_flags = gz.clone();
    reserved_flags[3] = 0x80;
    let cases: Vec<(&str, Vec<u8>, Anomaly)> = vec![
        (
            "TE chunked on HTTP/1.0 over a body that is not chunked",
            [
                &b"HTTP/1.0 200 ok\r\nTransfer-Encoding: chunked\r\n\r\n"[..],
                want,
            ]
            .concat(),
            Anomaly::InvalidTransferEncoding,
        ),
        (
            "chunked beside Content-Length and an unknown coding",
            b"HTTP/1.1 200 ok\r\nTransfer-Encoding: lalala\r\nTransfer-Encoding: chunked\r\n\
              Content-Length: 99\r\n\r\n\r\n0x8;x\r\nX5O!P%@A\r\n8x\r\nP[4 body\r\n0\r\n\r\n"
                .to_vec(),
            Anomaly::InvalidChunk,
        ),
        (
            "a mangled Transfer-Encoding name over a chunked body",
            b"http/1.01 200 ok\r\nTransfer\x00-Encoding\x0b: chunked\r\n\r\n\
              10\r\nX5O!P%@AP[4 body\r\n0\r\n\r\n"
                .to_vec(),
            Anomaly::InvalidHeader,
        ),
        (
            "gzip with reserved flag bits under a doubled gzip coding",
            [
                &b"HTTP/1.1 200 ok\r\nContent-Encoding: gzip\r\nContent-Encoding: gzip\r\n\r\n"[..],
                &reserved_flags,
            ]
            .concat(),
            Anomaly::DecompressionFailed,
        ),
        (
            "a lone CR before Content-Encoding and a head ended by a blank line",
            [
                &b"HTTP/1.1 200\rContent-Encoding:\r gzip\r\nContent-Length: "[..],
                gz.len().to_string().as_bytes(),
                b"\n\t\n",
                &gz,
            ]
            .concat(),
            Anomaly::InvalidHeader,
        ),
    ];
    for (name, resp, flag) in cases {
        let (body, anomalies, st) = evasion(&resp);
        assert_eq!(body, want, "{name}");
        assert_eq!(st, 200, "{name}");
        assert!(anomalies.contains(&flag), "{name}: {anomalies:?}");
    }
    // Well-formed chunked framing is decoded without a flag.
    let (body, anomalies, _) = evasion(
        b"HTTP/1.1 200 ok\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nX5O!P%@AP[4 body\r\n0\r\n\r\n",
    );
    assert_eq!((body.as_slice(), anomalies), (want, vec![]));
}

// ---- informational responses ------------------------------------------------------------------

transcript!(
    http_early_hints_belong_to_the_exchange,
    "early_hints.t",
    |o| {
        assert_eq!(summary(&o), vec![s("GET", "/page", 200)]);
        let ex = &o.exchanges[0];
        assert!(ex.anomalies.is_empty(), "{:?}", ex.anomalies);
        assert_eq!(ex.response_body.sample, b"ok");
        assert!(!ex.response_body.truncated);
        assert_eq!(o.stats.interim_responses, 1);
        assert_eq!(o.interim, vec![1], "the 103 is counted on its exchange");
    }
);

transcript!(http_expect_continue_rejected, "expect_rejected.t", |o| {
    assert_eq!(
        summary(&o),
        vec![s("POST", "/upload", 400), s("GET", "/next", 200)]
    );
    assert!(o.exchanges.iter().all(|e| e.anomalies.is_empty()));
    assert_eq!(o.exchanges[0].request_body.wire_len, 0);
    assert_eq!(o.exchanges[1].response_body.sample, b"ok");
    assert_eq!(o.interim, vec![1, 0]);
});

transcript!(
    http_304_and_head_ignore_framing,
    "no_body_despite_framing.t",
    |o| {
        assert_eq!(
            summary(&o),
            vec![
                s("GET", "/a", 304),
                s("HEAD", "/b", 200),
                s("GET", "/c", 200)
            ]
        );
        assert_eq!(o.exchanges[0].response_body.wire_len, 0);
        assert_eq!(o.exchanges[1].response_body.wire_len, 0);
        assert_eq!(o.exchanges[2].response_body.sample, b"c");
        assert!(o
            .exchanges
            .iter()
            .all(|e| !e.anomalies.contains(&Anomaly::BodyIncomplete)));
    }
);

// ---- request lines lenient servers read -------------------------------------------------------

#[test]
fn http_request_lines_lenient_servers_read() {
    let cases: [(&[u8], &str, &str); 3] = [
        (
            b"GET /a b?c=d e HTTP/1.1\r\nHost: h\r\n\r\n",
            "GET",
            "/a b?c=d e",
        ),
        (b"G\x00ET /nul HTTP/1.1\r\nHost: h\r\n\r\n", "G\0ET", "/nul"),
        (
            b"PO\xc3\xa9ST  /x  y  HTTP/1.0\r\nHost: h\r\nContent-Length: 2\r\n\r\nhi",
            "PO\u{e9}ST",
            "/x  y",
        ),
    ];
    for (req, m, t) in cases {
        let tr = Transcript::default()
            .client(req)
            .server("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
        let o = replay_all(&tr, &HttpLimits::default());
        assert_eq!(summary(&o), vec![s(m, t, 400)], "{req:?}");
        assert!(
            o.exchanges[0].anomalies.contains(&Anomaly::InvalidHeader),
            "{:?}",
            o.exchanges[0].anomalies
        );
        assert_eq!(
            find_header(
                &o.exchanges[0]
                    .request
                    .as_ref()
                    .map(|r| r.headers.clone())
                    .unwrap_or_default(),
                "host"
            )
            .map(|h| h.value.clone()),
            Some(b"h".to_vec()),
            "fields still parsed"
        );
    }
    // A line that is not a request at all stays one.
    let tr = Transcript::default().client("\u{1}GET /x HTTP/1.1\r\nHost: h\r\n\r\n");
    let o = replay(&tr, Split::Whole, &HttpLimits::default());
    assert!(o.exchanges.iter().all(|e| e.request.is_none()));
}

#[test]
fn http2_preface_stops_http1_parsing() {
    let mut server = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00".to_vec();
    server.extend_from_slice(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    let tr = Transcript::default()
        .client(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x12\x04\x00\x00\x00\x00\x00")
        .server(server);
    let o = replay_all(&tr, &HttpLimits::default());
    assert!(o.exchanges.is_empty(), "{:?}", o.exchanges);
    assert!(o.stopped);
    assert_eq!(o.stats.http2_prefaces, 1);
    assert_eq!(o.stats.requests, 0);
}

// ---- CONNECT tunnels --------------------------------------------------------------------------

transcript!(http_inside_connect_tunnel, "connect_http.t", |o| {
    assert_eq!(
        summary(&o),
        vec![
            s("CONNECT", "api.example.com:80", 200),
            s("GET", "/inside", 200)
        ]
    );
    assert_eq!(o.exchanges[0].anomalies, vec![Anomaly::Tunnel]);
    assert!(
        o.exchanges[1].anomalies.is_empty(),
        "{:?}",
        o.exchanges[1].anomalies
    );
    assert_eq!(o.exchanges[1].response_body.sample, b"in");
    assert_eq!((o.stats.tunnels, o.stats.tunnels_http), (1, 1));
    assert_eq!(o.stats.http_connections, 1, "one connection, counted once");
});

#[test]
fn http_tls_inside_connect_tunnel_goes_to_tls_inventory() {
    let t = Transcript::default()
        .client("CONNECT api.example.com:443 HTTP/1.1\r\nHost: api.example.com:443\r\n\r\n")
        .server("HTTP/1.1 200 Connection Established\r\n\r\n")
        .client(crate::tls::tests::hello("api.example.com"));
    let o = replay(&t, Split::Whole, &HttpLimits::default());
    assert_eq!(summary(&o), vec![s("CONNECT", "api.example.com:443", 200)]);
    assert_eq!((o.stats.tunnels_tls, o.stats.tls_client_hellos), (1, 1));
    assert_eq!(o.stats.non_http_connections, 0);
    // Authority form with an IPv6 literal, HTTP/1.0, no fields: still a request.
    let t = Transcript::default()
        .client("CONNECT [2001:db8::1]:8443 HTTP/1.0\r\n\r\n")
        .server("HTTP/1.0 200 OK\r\n\r\n");
    let o = replay_all(&t, &HttpLimits::default());
    assert_eq!(summary(&o), vec![s("CONNECT", "[2001:db8::1]:8443", 200)]);
}

transcript!(
    http_response_to_cruft_is_not_an_exchange,
    "cruft_answered.t",
    |o| {
        assert_eq!(summary(&o), vec![s("GET", "/a", 200), s("GET", "/b", 200)]);
        assert_eq!(o.exchanges[1].response_body.sample, b"b");
        assert!(o.exchanges[1].anomalies.contains(&Anomaly::Desync));
        assert_eq!(o.stats.responses_to_cruft, 1);
        assert_eq!(o.stats.exchanges_without_request, 0);
    }
);

// ---- odd request lines and Content-Length lists ---------------------------------------------

#[test]
fn http_odd_request_lines_and_content_lengths_keep_the_request() {
    let ok = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    let cases: [(&str, &str, &str, &[u8]); 7] = [
        ("GET   /x    HTTP/1.1\r\nHost: h\r\n\r\n", "GET", "/x", b""),
        ("GET HTTP/1.1\r\nHost: h\r\n\r\n", "GET", "", b""),
        (
            "X-FOO_bar.1 /m HTTP/1.1\r\nHost: h\r\n\r\n",
            "X-FOO_bar.1",
            "/m",
            b"",
        ),
        (
            "POST /same HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
            "POST",
            "/same",
            b"abc",
        ),
        (
            "POST /list HTTP/1.1\r\nContent-Length: 3, 3\r\n\r\nabc",
            "POST",
            "/list",
            b"abc",
        ),
        (
            "POST /differ HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
            "POST",
            "/differ",
            b"",
        ),
        (
            "POST /bad HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: x\r\n\r\n",
            "POST",
            "/bad",
            b"",
        ),
    ];
    for (req, m, t, body) in cases {
        let o = replay_all(
            &Transcript::default().client(req).server(ok),
            &HttpLimits::default(),
        );
        assert_eq!(summary(&o).first(), Some(&s(m, t, 200)), "{req:?}");
        assert_eq!(o.exchanges[0].request_body.sample, body, "{req:?}");
        let conflicting = req.contains("/differ") || req.contains("/bad");
        let flagged = o.exchanges[0].anomalies.iter().any(|a| {
            matches!(
                a,
                Anomaly::ConflictingContentLength | Anomaly::InvalidContentLength
            )
        });
        assert_eq!(
            flagged, conflicting,
            "{req:?}: {:?}",
            o.exchanges[0].anomalies
        );
    }
}
