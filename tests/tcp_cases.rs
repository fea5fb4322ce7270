//! TCP cases end to end through `shadowtap exchanges`, from small captures this test
//! generates deterministically (and checks against the committed copies in fixtures/pcap;
//! regenerate them with `SHADOWTAP_WRITE_FIXTURES=1 cargo test --test tcp_cases`).
//!
//! - `tcp_fast_open.pcap`: the request rides on the SYN (RFC 7413 section 3); it must reach
//!   the HTTP layer as the first bytes of the client stream (the SYN's sequence number plus
//!   one, RFC 9293 section 3.4).
//! - `ipv4_fragmented_request.pcap`: the request segment arrives as three IPv4 fragments, the
//!   last one first (RFC 791 section 3.2); the exchange must be seen whole.

use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;

const CLIENT: ([u8; 4], u16) = ([10, 1, 0, 7], 41_000);
const SERVER: ([u8; 4], u16) = ([10, 2, 0, 1], 80);

fn ipv4(src: [u8; 4], dst: [u8; 4], id: u16, frag: u16, payload: &[u8]) -> Vec<u8> {
    let total = u16::try_from(20 + payload.len()).expect("fits");
    let mut h = vec![0x45, 0];
    h.extend_from_slice(&total.to_be_bytes());
    h.extend_from_slice(&id.to_be_bytes());
    h.extend_from_slice(&frag.to_be_bytes());
    h.extend_from_slice(&[64, 6, 0, 0]);
    h.extend_from_slice(&src);
    h.extend_from_slice(&dst);
    h.extend_from_slice(payload);
    h
}

fn tcp_header(src: u16, dst: u16, seq: u32, ack: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut t = Vec::new();
    t.extend_from_slice(&src.to_be_bytes());
    t.extend_from_slice(&dst.to_be_bytes());
    t.extend_from_slice(&seq.to_be_bytes());
    t.extend_from_slice(&ack.to_be_bytes());
    t.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    t.extend_from_slice(payload);
    t
}

fn eth(ip: &[u8]) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
    f.extend_from_slice(ip);
    f
}

fn seg(to_server: bool, seq: u32, ack: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    let (s, d) = if to_server {
        (CLIENT, SERVER)
    } else {
        (SERVER, CLIENT)
    };
    eth(&ipv4(
        s.0,
        d.0,
        1,
        0x4000,
        &tcp_header(s.1, d.1, seq, ack, flags, payload),
    ))
}

fn pcap(frames: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for v in [0xa1b2_c3d4u32, 0x0004_0002, 0, 0, 65_535, 1] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    for (i, f) in frames.iter().enumerate() {
        let len = u32::try_from(f.len()).expect("small");
        let usec = u32::try_from(i).expect("few") * 1000;
        for v in [1_763_700_000, usec, len, len] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(f);
    }
    out
}

const REQ: &[u8] =
    b"GET /open-banking/v3.1/aisp/accounts HTTP/1.1\r\nHost: api.northbank.example\r\n\r\n";
const RESP: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}";

const SYN: u8 = 0x02;
const SYN_ACK: u8 = 0x12;
const ACK: u8 = 0x10;
const PSH_ACK: u8 = 0x18;
const FIN_ACK: u8 = 0x11;

fn fast_open() -> Vec<u8> {
    let n = u32::try_from(REQ.len()).expect("short");
    let r = u32::try_from(RESP.len()).expect("short");
    pcap(&[
        seg(true, 100, 0, SYN, REQ),
        seg(false, 900, 101 + n, SYN_ACK, b""),
        seg(true, 101 + n, 901, ACK, b""),
        seg(false, 901, 101 + n, PSH_ACK, RESP),
        seg(true, 101 + n, 901 + r, FIN_ACK, b""),
        seg(false, 901 + r, 102 + n, FIN_ACK, b""),
    ])
}

fn fragmented_request() -> Vec<u8> {
    let n = u32::try_from(REQ.len()).expect("short");
    let r = u32::try_from(RESP.len()).expect("short");
    let segment = tcp_header(CLIENT.1, SERVER.1, 101, 901, PSH_ACK, REQ);
    // Cut at 24 and 64 bytes (multiples of 8, RFC 791): MF on all but the last.
    let parts = [(0usize, 24usize), (24, 64), (64, segment.len())];
    let frag = |i: usize| {
        let (s, e) = parts[i];
        let mf = if e < segment.len() { 0x2000 } else { 0 };
        let word = u16::try_from(s / 8).expect("fits") | mf;
        eth(&ipv4(CLIENT.0, SERVER.0, 77, word, &segment[s..e]))
    };
    pcap(&[
        seg(true, 100, 0, SYN, b""),
        seg(false, 900, 101, SYN_ACK, b""),
        seg(true, 101, 901, ACK, b""),
        frag(2),
        frag(0),
        frag(1),
        seg(false, 901, 101 + n, PSH_ACK, RESP),
        seg(true, 101 + n, 901 + r, FIN_ACK, b""),
        seg(false, 901 + r, 102 + n, FIN_ACK, b""),
    ])
}

fn fixture(name: &str, bytes: &[u8]) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/pcap")
        .join(name);
    if std::env::var_os("SHADOWTAP_WRITE_FIXTURES").is_some() {
        std::fs::write(&path, bytes).expect("write fixture");
    }
    let committed = std::fs::read(&path).expect("committed fixture (see module docs)");
    assert_eq!(committed, bytes, "{name} differs from its generator");
    path
}

fn exchanges(path: &PathBuf) -> Vec<Value> {
    let out = Command::new(env!("CARGO_BIN_EXE_shadowtap"))
        .arg("exchanges")
        .arg(path)
        .env("SHADOWTAP_SITE_SECRET", "tcp-cases")
        .output()
        .expect("run shadowtap");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect()
}

fn assert_one_clean_exchange(lines: &[Value]) {
    assert_eq!(lines.len(), 1, "{lines:#?}");
    let ex = &lines[0];
    assert_eq!(ex["method"], "GET");
    assert_eq!(ex["uri"], "/open-banking/v3.1/aisp/accounts");
    assert_eq!(ex["status"], 200);
    assert_eq!(ex["anomalies"], serde_json::json!([]), "{ex:#}");
}

#[test]
fn data_on_the_syn_reaches_http() {
    let path = fixture("tcp_fast_open.pcap", &fast_open());
    assert_one_clean_exchange(&exchanges(&path));
}

#[test]
fn a_request_in_ipv4_fragments_is_reassembled() {
    let path = fixture("ipv4_fragmented_request.pcap", &fragmented_request());
    assert_one_clean_exchange(&exchanges(&path));
}
