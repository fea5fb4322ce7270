//! TPPs from the TLS 1.2 handshake itself: `fixtures/tls-mtls/mtls12.pcap` (openssl s_client
//! against s_server with `-Verify 1` on loopback, see its README) holds two mutual-TLS
//! handshakes whose client certificates carry an organisation identifier and the PSD2
//! QCStatement, one valid and one expired. `scan` lists both TPPs under the server's TLS host,
//! and with the open-banking lens on the expired one is a `tpp_certificate_invalid` finding.

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;

fn fixture(p: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/tls-mtls")
        .join(p)
}

fn scan(config: Option<&Path>) -> Value {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_shadowtap"));
    cmd.arg("scan")
        .arg(fixture("mtls12.pcap"))
        .args(["--format", "json", "--no-progress"])
        .env_remove("SHADOWTAP_LOG");
    if let Some(c) = config {
        cmd.arg("--config").arg(c);
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running shadowtap: {e}"));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("json: {e}"))
}

#[test]
fn tpps_of_tls12_client_certificates_are_listed_per_host() {
    let report = scan(None);
    let hosts = &report["summary"]["tls_hosts"]["hosts"];
    assert_eq!(hosts.as_array().map(Vec::len), Some(1), "{hosts}");
    let host = &hosts[0];
    assert_eq!(host["host"], "api.bank.test");
    assert_eq!(host["connections"], 2);
    assert_eq!(
        host["tpps"],
        json!([
            {"tpp": "tpp:PSDGB-FCA-123456", "connections": 1, "psd2": true,
             "roles": ["PSP_AI", "PSP_PI"], "nca": "Financial Conduct Authority (GB-FCA)",
             "valid_from": "2025-01-01T00:00:00.000000Z", "valid_until": "2035-01-01T00:00:00.000000Z",
             "expired": 0, "not_yet_valid": 0},
            {"tpp": "tpp:PSDGB-FCA-654321", "connections": 1, "psd2": true,
             "roles": ["PSP_AI", "PSP_PI"], "nca": "Financial Conduct Authority (GB-FCA)",
             "valid_from": "2020-01-01T00:00:00.000000Z", "valid_until": "2021-01-01T00:00:00.000000Z",
             "expired": 1, "not_yet_valid": 0},
        ])
    );
    // The lens is off: no open-banking finding.
    let kinds: Vec<&str> = report["findings"]
        .as_array()
        .map(|f| f.iter().filter_map(|x| x["kind"].as_str()).collect())
        .unwrap_or_default();
    assert!(!kinds.contains(&"tpp_certificate_invalid"), "{kinds:?}");
}

#[test]
fn an_expired_tpp_certificate_in_the_handshake_is_a_finding_with_the_lens_on() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let config = tmp.path().join("lens.toml");
    std::fs::write(&config, "[findings.openbanking]\nenabled = true\n")
        .unwrap_or_else(|e| panic!("{e}"));
    let report = scan(Some(&config));
    let invalid: Vec<&Value> = report["findings"]
        .as_array()
        .map(|f| {
            f.iter()
                .filter(|x| x["kind"] == "tpp_certificate_invalid")
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(invalid.len(), 1, "{invalid:?}");
    let f = invalid[0];
    assert_eq!(f["host"], "api.bank.test");
    assert_eq!(f["evidence"]["tpps"], json!({"tpp:PSDGB-FCA-654321": 1}));
    assert_eq!(f["evidence"]["counts"], json!({"expired": 1}));
    assert!(
        f["detail"]
            .as_str()
            .is_some_and(|d| d.contains("expired at packet time in TLS handshakes")),
        "{f}"
    );
}

/// The client's second flight of the first connection (ClientHello excluded): TCP payloads
/// from the client port to 44330 after its first segment, in capture order (loopback keeps
/// it in order). Legacy pcap, Ethernet, IPv4.
fn first_client_flight() -> Vec<u8> {
    let pcap = std::fs::read(fixture("mtls12.pcap")).unwrap_or_else(|e| panic!("{e}"));
    let mut at = 24;
    let mut client_port = None;
    let mut payloads = Vec::new();
    while at + 16 <= pcap.len() {
        let caplen =
            u32::from_le_bytes([pcap[at + 8], pcap[at + 9], pcap[at + 10], pcap[at + 11]]) as usize;
        let frame = &pcap[at + 16..at + 16 + caplen];
        at += 16 + caplen;
        let ihl = usize::from(frame[14] & 0x0f) * 4;
        let tcp = &frame[14 + ihl..];
        let (sport, dport) = (
            u16::from_be_bytes([tcp[0], tcp[1]]),
            u16::from_be_bytes([tcp[2], tcp[3]]),
        );
        let payload = &tcp[usize::from(tcp[12] >> 4) * 4..];
        if dport != 44330 || payload.is_empty() {
            continue;
        }
        if *client_port.get_or_insert(sport) != sport {
            break;
        }
        payloads.push(payload.to_vec());
    }
    assert!(payloads.len() >= 2, "hello and second flight");
    payloads[1..].concat()
}

#[test]
fn the_real_client_flight_parses_and_no_flipped_byte_panics() {
    use agent::tls::first_certificate_der;
    use analyzer::openbanking::handshake::HandshakeTpp;
    let flight = first_client_flight();
    let der = first_certificate_der(&flight).unwrap_or_else(|| panic!("no Certificate message"));
    let tpp = HandshakeTpp::from_der(&der).unwrap_or_else(|| panic!("no TPP"));
    assert_eq!(tpp.tpp, "tpp:PSDGB-FCA-123456");
    assert_eq!(tpp.not_before, 1_735_689_600); // 2025-01-01T00:00:00Z
                                               // Hostile bytes: every byte flipped, every truncation; parse or refuse, never panic.
    for i in 0..flight.len() {
        let mut bad = flight.clone();
        bad[i] ^= 0xff;
        if let Some(d) = first_certificate_der(&bad) {
            let _ = HandshakeTpp::from_der(&d);
        }
        if let Some(d) = first_certificate_der(&flight[..i]) {
            let _ = HandshakeTpp::from_der(&d);
        }
    }
}
