//! HTTP/2 sessions replayed from the real captures in `fixtures/http2` (see its README), whole,
//! byte by byte and split at every offset of every segment, through the same
//! [`HttpConnection`](crate::http::HttpConnection) every capture goes through.

use crate::http::transcript::{replay, replay_all, Outcome, Split, Transcript};
use crate::http::HttpLimits;
use analyzer::exchange::{Anomaly, HttpExchange};

/// The TCP payloads of a legacy pcap (Ethernet) in capture order, as transcript steps;
/// `server_port` tells the directions apart.
fn transcript(name: &str, server_port: u16) -> Transcript {
    let path = format!("{}/../fixtures/http2/{name}", env!("CARGO_MANIFEST_DIR"));
    let bytes = std::fs::read(&path).unwrap();
    let mut t = Transcript::default();
    let mut at = 24;
    while let Some(rec) = bytes.get(at..at + 16) {
        let incl = u32::from_le_bytes(rec[8..12].try_into().unwrap()) as usize;
        let frame = &bytes[at + 16..at + 16 + incl];
        at += 16 + incl;
        let p = etherparse::SlicedPacket::from_ethernet(frame).unwrap();
        let Some(etherparse::TransportSlice::Tcp(tcp)) = p.transport else {
            continue;
        };
        if tcp.payload().is_empty() {
            continue;
        }
        t = if tcp.destination_port() == server_port {
            t.client(tcp.payload())
        } else {
            t.server(tcp.payload())
        };
    }
    t
}

fn line(e: &HttpExchange) -> String {
    let req = e.request.as_ref();
    let host = req
        .and_then(|r| {
            r.headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("host"))
        })
        .and_then(|h| h.value_str())
        .unwrap_or("-");
    format!(
        "{} {} {} -> {}",
        host,
        req.map_or("-", |r| r.method.as_str()),
        req.map_or("-", |r| r.target.as_str()),
        e.response.as_ref().map_or(0, |r| r.status)
    )
}

fn lines(o: &Outcome) -> Vec<String> {
    o.exchanges.iter().map(line).collect()
}

fn port_of(name: &str) -> u16 {
    match name {
        n if n.starts_with("h2c_prior") => 18081,
        n if n.starts_with("h2c_upgrade") => 18083,
        _ => 18082,
    }
}

#[test]
fn prior_knowledge_curl_against_nghttpd() {
    let t = transcript("h2c_prior_knowledge.pcap", 18081);
    let o = replay_all(&t, &HttpLimits::default());
    assert_eq!(
        lines(&o),
        ["127.0.0.1:18081 GET /hello.txt -> 200"],
        "{:#?} {:?}",
        o.stats,
        t.steps
    );
    let ex = &o.exchanges[0];
    assert!(ex.anomalies.is_empty(), "{:?}", ex.anomalies);
    assert_eq!(ex.response_body.sample, b"hello over h2c\n");
    assert_eq!(o.stats.h2.prior_knowledge, 1);
    assert_eq!(o.stats.h2.exchanges, 1);
    assert_eq!(o.stats.requests, 0, "no HTTP/1 request was parsed");
}

#[test]
fn upgrade_curl_against_hypercorn() {
    let t = transcript("h2c_upgrade.pcap", 18083);
    let o = replay_all(&t, &HttpLimits::default());
    // The HTTP/1.1 request is stream 1's; the 101 is not an exchange of its own.
    assert_eq!(lines(&o), ["127.0.0.1:18083 GET /accounts/acc-1 -> 200"]);
    let ex = &o.exchanges[0];
    assert_eq!(
        ex.response_body.sample,
        br#"{"account":"acc-1","status":"open"}"#
    );
    assert_eq!(o.stats.h2.upgrades, 1);
    assert!(ex.anomalies.is_empty(), "{:?}", ex.anomalies);
}

#[test]
fn grpc_calls_are_one_exchange_per_stream() {
    let t = transcript("grpc_calls.pcap", 18082);
    let o = replay(&t, Split::Whole, &HttpLimits::default());
    let svc = "127.0.0.1:18082 POST /demo.bank.Accounts";
    assert_eq!(
        lines(&o),
        [
            format!("{svc}/GetAccount -> 200"),
            format!("{svc}/GetAccount -> 200"),
            format!("{svc}/GetAccount -> 200"),
            format!("{svc}/ListTransactions -> 200"),
            format!("{svc}/UploadPayments -> 200"),
            format!("{svc}/Exchange -> 200"),
        ]
    );
    // grpc-status arrives in trailers; the NOT_FOUND call says 5.
    let grpc_status = |e: &HttpExchange| {
        e.response
            .as_ref()
            .and_then(|r| r.headers.iter().rev().find(|h| h.name == "grpc-status"))
            .and_then(|h| h.value_str().map(str::to_owned))
    };
    let statuses: Vec<_> = o.exchanges.iter().map(grpc_status).collect();
    assert_eq!(statuses[2].as_deref(), Some("5"));
    assert_eq!(statuses[0].as_deref(), Some("0"));
    assert!(o.exchanges.iter().all(|e| e.anomalies.is_empty()));
}

#[test]
fn grpc_calls_split_anywhere_read_the_same() {
    let t = transcript("grpc_calls.pcap", port_of("grpc_calls.pcap"));
    let whole = replay(&t, Split::Whole, &HttpLimits::default());
    let bytewise = replay(&t, Split::ByteByByte, &HttpLimits::default());
    assert_eq!(whole.exchanges, bytewise.exchanges);
}

#[test]
fn mid_stream_grpc_reports_nothing_it_cannot_know() {
    let mut t = transcript("grpc_mid_stream.pcap", 18082);
    t.orientation_known = false;
    let o = replay_all(&t, &HttpLimits::default());
    // The call's :path and :authority are HPACK entries from before capture start.
    assert!(o.exchanges.is_empty(), "{:#?}", lines(&o));
    assert_eq!(o.stats.h2.mid_stream, 1);
    assert!(o.stats.h2.mid_stream_bytes > 0);
    assert!(o.stats.h2.opaque_streams >= 1);
    assert!(o.stats.h2.hpack.unknown_dynamic_refs > 0);
}

#[test]
fn a_gap_stops_the_direction_and_flags_open_streams() {
    let t = transcript("h2c_prior_knowledge.pcap", 18081);
    // Keep the client's bytes, replace the server's by a gap: the request is unanswered.
    let mut cut = Transcript::default();
    for s in t.steps {
        cut.steps.push(match s {
            crate::http::transcript::Step::Data(crate::flow::Dir::ToClient, b) => {
                crate::http::transcript::Step::Gap(crate::flow::Dir::ToClient, b.len() as u64)
            }
            other => other,
        });
    }
    let o = replay(&cut, Split::Whole, &HttpLimits::default());
    assert_eq!(lines(&o), ["127.0.0.1:18081 GET /hello.txt -> 0"]);
    assert!(o.exchanges[0].anomalies.contains(&Anomaly::Gap));
    assert!(o.exchanges[0].anomalies.contains(&Anomaly::UnpairedRequest));
    assert_eq!(o.stats.h2.gap_stops, 1);
}

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let mut f = (payload.len() as u32).to_be_bytes()[1..].to_vec();
    f.extend_from_slice(&[kind, flags]);
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

#[test]
fn stream_flood_and_huge_header_blocks_stay_bounded() {
    use crate::http2::frame::{CONTINUATION, HEADERS, PREFACE};
    let limits = HttpLimits::default();
    let max = crate::http2::H2Limits::default().max_streams;
    // 300 open streams (GET /, no END_STREAM): beyond the cap they are counted, not tracked.
    let mut flood = PREFACE.to_vec();
    for i in 0..300u32 {
        flood.extend(frame(HEADERS, 0x4, 2 * i + 1, &[0x82, 0x84]));
    }
    let o = replay(&Transcript::default().client(&flood), Split::Whole, &limits);
    assert_eq!(o.stats.h2.streams, max as u64);
    assert_eq!(o.stats.h2.stream_cap_drops, 300 - max as u64);
    // Closed at the end: every tracked stream leaves once, unanswered.
    assert_eq!(o.exchanges.len(), max);
    assert!(o.exchanges[0].anomalies.contains(&Anomaly::UnpairedRequest));

    // A header block of 100 CONTINUATIONs of 1 KiB: over the 64 KiB cap, the block and the
    // direction's HPACK state are lost; a later request is not guessed.
    let mut huge = PREFACE.to_vec();
    huge.extend(frame(HEADERS, 0, 1, &[0x82]));
    for i in 0..100 {
        let flags = if i == 99 { 0x4 } else { 0 };
        huge.extend(frame(CONTINUATION, flags, 1, &[0x40; 1024]));
    }
    huge.extend(frame(HEADERS, 0x5, 3, &[0x82, 0x84]));
    let o = replay(&Transcript::default().client(&huge), Split::Whole, &limits);
    assert_eq!(o.stats.h2.header_blocks_capped, 1);
    assert_eq!(o.stats.h2.header_directions_lost, 1);
    assert!(o.exchanges.is_empty(), "{:?}", lines(&o));
    assert!(o.stats.h2.undecodable_blocks >= 2);
}
