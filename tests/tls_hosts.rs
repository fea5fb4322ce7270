//! TLS hosts in `shadowtap scan`: an SNI host no catalogue server covers becomes a
//! `shadow_host` finding, a covered one does not, and both are listed in the summary's
//! `tls_hosts` (JSON, and one line in text).
//!
//! The capture is built here: Ethernet/IPv4/TCP frames around a hand-built ClientHello
//! (RFC 8446 section 4.1.2, with server_name per RFC 6066 section 3 and ALPN per RFC 7301),
//! written as a legacy pcap into a temporary directory. Checksums stay zero: shadowtap never
//! validates them.

use serde_json::Value;
use std::path::Path;
use std::process::Command;

/// Ethernet + IPv4 + TCP (20-byte header) with the given flags, checksums zero.
fn tcp_frame(
    src: ([u8; 4], u16),
    dst: ([u8; 4], u16),
    seq: u32,
    ack: u32,
    flags: u8,
    payload: &[u8],
) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
    let total = u16::try_from(20 + 20 + payload.len()).expect("fits");
    f.extend_from_slice(&[0x45, 0]);
    f.extend_from_slice(&total.to_be_bytes());
    f.extend_from_slice(&[0, 1, 0x40, 0, 64, 6, 0, 0]);
    f.extend_from_slice(&src.0);
    f.extend_from_slice(&dst.0);
    f.extend_from_slice(&src.1.to_be_bytes());
    f.extend_from_slice(&dst.1.to_be_bytes());
    f.extend_from_slice(&seq.to_be_bytes());
    f.extend_from_slice(&ack.to_be_bytes());
    f.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    f.extend_from_slice(payload);
    f
}

/// A ClientHello record offering TLS 1.3 with `sni` and ALPN h2, http/1.1.
fn client_hello(sni: &str) -> Vec<u8> {
    let mut exts = Vec::new();
    let mut push = |ty: u16, data: &[u8]| {
        exts.extend_from_slice(&ty.to_be_bytes());
        exts.extend_from_slice(&u16::try_from(data.len()).expect("fits").to_be_bytes());
        exts.extend_from_slice(data);
    };
    let name_len = u16::try_from(sni.len()).expect("fits");
    let mut sn = (name_len + 3).to_be_bytes().to_vec();
    sn.push(0);
    sn.extend_from_slice(&name_len.to_be_bytes());
    sn.extend_from_slice(sni.as_bytes());
    push(0, &sn);
    push(16, b"\x00\x0c\x02h2\x08http/1.1");
    push(43, b"\x02\x03\x04");
    let mut body = vec![0x03, 0x03];
    body.extend_from_slice(&[9; 32]);
    body.push(0);
    body.extend_from_slice(&[0x00, 0x04, 0x13, 0x01, 0x13, 0x02, 1, 0]);
    body.extend_from_slice(&u16::try_from(exts.len()).expect("fits").to_be_bytes());
    body.extend_from_slice(&exts);
    let mut hs = vec![1, 0];
    hs.extend_from_slice(&u16::try_from(body.len()).expect("fits").to_be_bytes());
    hs.extend_from_slice(&body);
    let mut rec = vec![0x16, 0x03, 0x01];
    rec.extend_from_slice(&u16::try_from(hs.len()).expect("fits").to_be_bytes());
    rec.extend_from_slice(&hs);
    rec
}

/// A legacy little-endian pcap (microseconds, Ethernet) of one TLS connection per host, each
/// a three-way handshake, the ClientHello and a RST.
fn write_capture(path: &Path, hosts: &[&str]) {
    let mut out = Vec::new();
    for v in [0xa1b2_c3d4u32, 0x0004_0002, 0, 0, 65_535, 1] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    let mut t: u32 = 0;
    for (i, host) in hosts.iter().enumerate() {
        let port = 40_000 + u16::try_from(i).expect("few hosts");
        let c = ([10, 1, 0, 7], port);
        let s = ([10, 2, 0, 1], 443);
        let hello = client_hello(host);
        let hello_len = u32::try_from(hello.len()).expect("fits");
        let frames = [
            tcp_frame(c, s, 100, 0, 0x02, b""),
            tcp_frame(s, c, 900, 101, 0x12, b""),
            tcp_frame(c, s, 101, 901, 0x10, b""),
            tcp_frame(c, s, 101, 901, 0x18, &hello),
            tcp_frame(s, c, 901, 101 + hello_len, 0x14, b""),
        ];
        for f in frames {
            t += 1;
            let len = u32::try_from(f.len()).expect("fits");
            for v in [1_763_700_000 + t, 0, len, len] {
                out.extend_from_slice(&v.to_le_bytes());
            }
            out.extend_from_slice(&f);
        }
    }
    std::fs::write(path, out).expect("write capture");
}

const CATALOGUE: &str = r#"openapi: 3.0.3
info: {title: Covered, version: "1"}
servers:
  - url: https://covered.bank.example/v1
paths:
  /accounts:
    get:
      operationId: listAccounts
      responses: {"200": {description: ok}}
"#;

fn scan(format: &str) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let capture = dir.path().join("tls.pcap");
    write_capture(&capture, &["covered.bank.example", "Hidden.Bank.Example"]);
    let catalogue = dir.path().join("covered.yaml");
    std::fs::write(&catalogue, CATALOGUE).expect("write catalogue");
    let out = Command::new(env!("CARGO_BIN_EXE_shadowtap"))
        .arg("scan")
        .arg(&capture)
        .arg("--catalog")
        .arg(&catalogue)
        .args(["--format", format, "--no-progress"])
        .env("SHADOWTAP_SITE_SECRET", "tls-test")
        .output()
        .expect("run shadowtap");
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn uncovered_sni_is_a_shadow_host_and_covered_is_not() {
    let report: Value = serde_json::from_str(&scan("json")).expect("JSON report");
    let shadow: Vec<&str> = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["kind"] == "shadow_host")
        .filter_map(|f| f["host"].as_str())
        .collect();
    assert_eq!(shadow, vec!["hidden.bank.example"]);

    let tls = &report["summary"]["tls_hosts"];
    assert_eq!(tls["count"], 2, "{tls:#}");
    assert_eq!(tls["connections"], 2);
    let hosts: Vec<&str> = tls["hosts"]
        .as_array()
        .expect("hosts")
        .iter()
        .filter_map(|h| h["host"].as_str())
        .collect();
    assert_eq!(hosts, vec!["covered.bank.example", "hidden.bank.example"]);
    let first = &tls["hosts"][0];
    assert_eq!(first["alpn"], serde_json::json!(["h2", "http/1.1"]));
    assert_eq!(first["ja4"].as_array().map(Vec::len), Some(1));
    assert!(first["ja4"][0]
        .as_str()
        .is_some_and(|j| j.starts_with("t13d0203h2_")));
    // The finding is counted in the summary like the others.
    assert_eq!(report["summary"]["findings_by_kind"]["shadow_host"], 1);
    // The caps' counters reach the summary (all zero here).
    let counters = &report["summary"]["counters"];
    for name in [
        "tls.hosts_dropped",
        "tls.names_dropped",
        "http.http_tls_flight_capped",
        "http.http_tls_flight_budget_exhausted",
        "decode.decode_defrag_evicted",
        "decode.decode_defrag_held_bytes_peak",
    ] {
        assert_eq!(counters[name], 0, "summary.counters.{name}");
    }
}

#[test]
fn text_report_has_one_tls_line() {
    let text = scan("text");
    let lines: Vec<&str> = text.lines().filter(|l| l.starts_with("TLS ")).collect();
    assert_eq!(
        lines,
        vec![
            "TLS        2 TLS hosts (2 connections): covered.bank.example [h2,http/1.1; 1 JA4], \
             hidden.bank.example [h2,http/1.1; 1 JA4]"
        ]
    );
}
