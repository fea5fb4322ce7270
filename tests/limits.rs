//! Caps and counters under hostile traffic, through the real pipeline: every bounded structure
//! (flow table, pending-request queue, head buffer, out-of-order buffers, fragment table)
//! stays at its cap, and a counter that reaches the scan summary reports the excess.
//!
//! Frames are built by hand (Ethernet, IPv4, TCP; checksums zero, which shadowtap never
//! validates). Limits are set small so each flood is a few hundred frames.

use agent::defrag::DefragLimits;
use agent::flow::table::FlowLimits;
use agent::http::HttpLimits;
use agent::pipeline::{Pipeline, PipelineConfig, PipelineStats};
use agent::source::memory::OwnedFrame;
use agent::source::LinkType;
use analyzer::catalogue::Catalogue;
use analyzer::classify::Classifier;
use analyzer::consumer::ConsumerConfig;
use analyzer::observe::Observer;
use analyzer::template::Templater;
use analyzer::time::Timestamp;

const CLIENT: [u8; 4] = [10, 1, 0, 7];
const SERVER: [u8; 4] = [10, 2, 0, 1];

/// IPv4 header (20 bytes) with identification `id` and flags/offset word `frag`.
fn ipv4(src: [u8; 4], dst: [u8; 4], proto: u8, id: u16, frag: u16, payload_len: usize) -> Vec<u8> {
    let total = u16::try_from(20 + payload_len).expect("fits");
    let mut h = vec![0x45, 0];
    h.extend_from_slice(&total.to_be_bytes());
    h.extend_from_slice(&id.to_be_bytes());
    h.extend_from_slice(&frag.to_be_bytes());
    h.extend_from_slice(&[64, proto, 0, 0]);
    h.extend_from_slice(&src);
    h.extend_from_slice(&dst);
    h
}

/// An Ethernet frame: client port `cport` <-> server port 80, `to_server` picks the direction.
fn tcp(to_server: bool, cport: u16, seq: u32, ack: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    let (src, dst, sp, dp) = if to_server {
        (CLIENT, SERVER, cport, 80)
    } else {
        (SERVER, CLIENT, 80, cport)
    };
    let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
    f.extend_from_slice(&ipv4(src, dst, 6, 1, 0x4000, 20 + payload.len()));
    f.extend_from_slice(&sp.to_be_bytes());
    f.extend_from_slice(&dp.to_be_bytes());
    f.extend_from_slice(&seq.to_be_bytes());
    f.extend_from_slice(&ack.to_be_bytes());
    f.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    f.extend_from_slice(payload);
    f
}

const SYN: u8 = 0x02;
const SYN_ACK: u8 = 0x12;
const ACK: u8 = 0x10;
const PSH_ACK: u8 = 0x18;

/// Three-way handshake for client port `cport` (client ISN 100, server ISN 900).
fn handshake(cport: u16) -> Vec<Vec<u8>> {
    vec![
        tcp(true, cport, 100, 0, SYN, b""),
        tcp(false, cport, 900, 101, SYN_ACK, b""),
        tcp(true, cport, 101, 901, ACK, b""),
    ]
}

fn config() -> PipelineConfig {
    PipelineConfig {
        flows: FlowLimits {
            max_flows: 64,
            max_ooo_bytes_per_dir: 4096,
            max_ooo_segments_per_dir: 16,
            ..FlowLimits::default()
        },
        http: HttpLimits {
            max_pending_requests: 4,
            max_head_bytes: 1024,
            ..HttpLimits::default()
        },
        defrag: DefragLimits {
            max_datagrams: 8,
            max_total_bytes: 8 * 1024,
            ..DefragLimits::default()
        },
    }
}

/// Feed frames (1 ms apart) and return the stats before and after finishing.
fn run(frames: Vec<Vec<u8>>) -> PipelineStats {
    let observer = Observer::new(
        Templater::new(Catalogue::default().routes()),
        Classifier::builtin(),
        ConsumerConfig::new(b"limits", false),
    );
    let sink = agent::analysis::AnalysisSink::new(
        &observer,
        analyzer::inventory::InventoryLimits::default(),
    );
    let mut p = Pipeline::new(config(), sink);
    let t0 = 1_763_700_000 * Timestamp::MICROS_PER_SEC;
    for (i, f) in frames.into_iter().enumerate() {
        let ts = Timestamp(t0 + i64::try_from(i).expect("few") * 1000);
        p.feed(&OwnedFrame::new(ts, LinkType::Ethernet, f).as_frame());
    }
    p.finish().1
}

fn c(stats: &PipelineStats, name: &str) -> u64 {
    *stats
        .counters
        .get(name)
        .unwrap_or_else(|| panic!("counter {name} missing"))
}

#[test]
fn flow_table_flood_evicts_at_the_cap() {
    let frames = (0..1000u16)
        .map(|i| tcp(true, 20_000 + i, 100, 0, SYN, b""))
        .collect();
    let s = run(frames);
    assert_eq!(c(&s, "flow.flow_flows_created"), 1000);
    assert_eq!(c(&s, "flow.flow_flows_peak"), 64);
    assert_eq!(c(&s, "flow.flow_flows_evicted"), 1000 - 64);
}

#[test]
fn pending_request_queue_is_capped() {
    let mut frames = handshake(30_000);
    let mut seq = 101u32;
    for i in 0..10 {
        let req = format!("GET /r/{i} HTTP/1.1\r\nHost: api.bank.example\r\n\r\n");
        frames.push(tcp(true, 30_000, seq, 901, PSH_ACK, req.as_bytes()));
        seq += u32::try_from(req.len()).expect("short");
    }
    let s = run(frames);
    assert_eq!(c(&s, "http.http_requests"), 10);
    assert_eq!(c(&s, "http.http_pending_queue_drops"), 10 - 4);
}

#[test]
fn oversized_head_is_cut_at_the_cap() {
    let mut frames = handshake(30_001);
    let head = format!(
        "GET /big HTTP/1.1\r\nHost: api.bank.example\r\nX-Pad: {}\r\n\r\n",
        "p".repeat(4000)
    );
    let mut seq = 101u32;
    for chunk in head.as_bytes().chunks(1000) {
        frames.push(tcp(true, 30_001, seq, 901, PSH_ACK, chunk));
        seq += u32::try_from(chunk.len()).expect("short");
    }
    let s = run(frames);
    assert_eq!(
        c(&s, "http.http_anomaly_head_too_large"),
        1,
        "{:#?}",
        s.counters
    );
}

#[test]
fn out_of_order_buffers_overflow_into_counted_gaps() {
    let mut frames = handshake(30_002);
    // A hole at the start, then 100 segments of 100 bytes beyond it: more than the 16-segment
    // and 4 KiB caps can hold.
    for i in 0..100u32 {
        frames.push(tcp(
            true,
            30_002,
            101 + 500 + i * 100,
            901,
            PSH_ACK,
            &[b'a'; 100],
        ));
    }
    let s = run(frames);
    assert!(c(&s, "flow.reasm_ooo_overflow") >= 1, "{:#?}", s.counters);
    assert!(c(&s, "flow.reasm_gaps") >= 1);
    assert!(c(&s, "flow.reasm_gap_bytes") >= 500);
}

#[test]
fn fragment_flood_holds_at_the_caps() {
    let mut frames = Vec::new();
    for id in 0..500u16 {
        // First fragments (MF set) of 1000 bytes that never complete.
        let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
        f.extend_from_slice(&ipv4(CLIENT, SERVER, 6, id, 0x2000, 1000));
        f.extend_from_slice(&[0u8; 1000]);
        frames.push(f);
    }
    let s = run(frames);
    assert_eq!(c(&s, "decode.decode_defrag_fragments"), 500);
    assert!(c(&s, "decode.decode_defrag_held_bytes_peak") <= 8 * 1024);
    let held = c(&s, "decode.decode_defrag_datagrams");
    assert!(held <= 8);
    assert_eq!(c(&s, "decode.decode_defrag_evicted"), 500 - held);
    assert_eq!(c(&s, "decode.decode_defrag_reassembled"), 0);
}
