//! One analysis, two transports: the same traffic gives the same report offline (`scan`) and
//! through the fleet (two agents, each replaying half of the flows, into one collector), for
//! the committed demo capture and a second generated one (another seed). Findings (the TLS
//! `shadow_host` ones included), endpoints and the summary (TLS hosts line included) must be
//! equal; `/v1/findings` must equal `scan`'s findings.

mod fleet_support;

use fleet_support::*;
use serde_json::Value;
use std::path::Path;

/// Summary fields that describe the traffic (everything but where it was read from).
const SUMMARY: &[&str] = &[
    "packets",
    "bytes",
    "tcp_flows",
    "http_exchanges",
    "endpoints",
    "declared_endpoints",
    "hosts",
    "findings",
    "findings_by_severity",
    "findings_by_kind",
    "window_start",
    "window_end",
    "anomalies",
    "catalogue",
    "tls_hosts",
    "bodies",
];

/// Counters that measure how the work was divided (per-worker caches, peaks of one process),
/// not the traffic: two agents legitimately differ from one scan there.
fn describes_the_work(name: &str) -> bool {
    name.contains("route_cache") || name.ends_with("_peak")
}

/// Non-zero traffic counters (the fleet ships deltas and omits zeros).
fn traffic_counters(report: &Value) -> Vec<(String, u64)> {
    report["summary"]["counters"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, v)| !describes_the_work(k) && v.as_u64().unwrap_or(0) > 0)
                .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0)))
                .collect()
        })
        .unwrap_or_default()
}

/// Replay `capture` split in two halves by flow through agents e1 and e2, and compare the
/// collector's report with `scan` of the whole capture.
fn both_ways(capture: &Path, dir: &Path) {
    let scan = scan_json_of(capture);
    let pki_dir = dir.join("pki");
    pki(&pki_dir, &["e1", "e2"]);
    let halves = split_by_flow(capture, dir, 2);
    let collector = Collector::start(&pki_dir, &dir.join("data"), "127.0.0.1:0", &[]);
    for (agent, half) in ["e1", "e2"].iter().zip(&halves) {
        let out = agent_replay_of(dir, &pki_dir, agent, &collector.url(), half)
            .output()
            .expect("run agent");
        let log = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "agent {agent} failed: {log}");
        assert!(log.contains("spool left 0"), "agent {agent}: {log}");
    }
    let fleet = report_json(&collector, &pki_dir);
    let count = |r: &Value, k: &str| r[k].as_array().map_or(0, Vec::len);
    eprintln!(
        "{}: scan {} findings / {} endpoints, fleet {} findings / {} endpoints",
        capture.display(),
        count(&scan, "findings"),
        count(&scan, "endpoints"),
        count(&fleet, "findings"),
        count(&fleet, "endpoints")
    );
    assert!(count(&scan, "findings") > 0 && count(&scan, "endpoints") > 0);
    assert_eq!(fleet["findings"], scan["findings"], "findings differ");
    assert_eq!(fleet["endpoints"], scan["endpoints"], "endpoints differ");
    for k in SUMMARY {
        assert_eq!(
            fleet["summary"][k], scan["summary"][k],
            "summary.{k} differs"
        );
    }
    assert_eq!(
        traffic_counters(&fleet),
        traffic_counters(&scan),
        "counters"
    );
    assert_eq!(
        fleet["summary"]["capture_files"],
        serde_json::json!(["agent e1", "agent e2"])
    );
    // The capture has TLS handshakes, and the fleet reports them.
    assert!(
        scan["summary"]["tls_hosts"]["connections"]
            .as_u64()
            .unwrap_or(0)
            > 0,
        "{}",
        scan["summary"]["tls_hosts"]
    );
    let api = api_get(collector.addr, &pki_dir, "/v1/findings");
    let mut api: Value = serde_json::from_slice(&api.body).expect("json");
    // The API adds each finding's review state (all open here); the rest is scan's finding.
    for f in api.as_array_mut().into_iter().flatten() {
        if let Some(f) = f.as_object_mut() {
            assert_eq!(f.remove("review_state"), Some(Value::from("open")));
            assert_eq!(f.remove("review"), None);
        }
    }
    assert_eq!(api, scan["findings"], "/v1/findings differs from scan");
}

#[test]
fn the_demo_capture_gives_the_same_report_offline_and_through_two_agents() {
    let dir = tempfile::tempdir().expect("tempdir");
    both_ways(&demo_pcap(), dir.path());
}

#[test]
fn a_second_generated_capture_gives_the_same_report_both_ways() {
    let dir = tempfile::tempdir().expect("tempdir");
    let capture = dir.path().join("seed7.pcap");
    let cfg = demogen::Config {
        seed: 7,
        ..demogen::Config::default()
    };
    let mut out = std::io::BufWriter::new(std::fs::File::create(&capture).expect("create"));
    demogen::generate(&cfg, &mut out).expect("generate");
    drop(out);
    both_ways(&capture, dir.path());
}

/// The TLS-only part: an SNI host no catalogue covers is a `shadow_host` finding at the
/// collector as in `scan` (the demo's TLS host is covered; this one is not).
#[test]
fn an_uncovered_tls_host_is_a_fleet_finding_as_in_scan() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki_dir = dir.path().join("pki");
    pki(&pki_dir, &["e1"]);
    let collector = Collector::start(&pki_dir, &dir.path().join("data"), "127.0.0.1:0", &[]);
    let inv = analyzer::inventory::Inventory::default();
    let mut tls = analyzer::tls::TlsInventory::default();
    tls.add(&analyzer::tls::TlsObservation {
        ts: analyzer::time::Timestamp(1_700_000_000_000_000),
        sni: Some("hidden.bank.test".into()),
        alpn: vec!["h2".into()],
        ja4: "t13d".into(),
        server_cert_subject: None,
        client_cert_subject: None,
        consumer: "addr:10.0.0.1".into(),
        server_alpn: None,
    });
    let batch = analyzer::wire::Batch::of_payload(
        "e1",
        1,
        0,
        analyzer::wire::Payload {
            inventory: inv,
            tls,
            counters: std::collections::BTreeMap::from([("packets".to_string(), 3)]),
        },
    );
    let mut c = client(
        collector.addr,
        &pki_dir.join("ca.pem"),
        Some((
            &pki_dir.join("agents/e1.pem"),
            &pki_dir.join("agents/e1.key"),
        )),
    );
    let r = c
        .request("POST", analyzer::wire::INGEST_PATH, &[], &batch.encode())
        .expect("post");
    assert_eq!(r.status, 200, "{}", r.error_text());
    let report = report_json(&collector, &pki_dir);
    let hidden: Vec<&Value> = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["host"] == "hidden.bank.test")
        .collect();
    assert_eq!(hidden.len(), 1, "{report}");
    assert_eq!(hidden[0]["kind"], "shadow_host");
    assert_eq!(
        hidden[0]["severity_reason"],
        "undeclared API host reached over TLS (content not visible)"
    );
    assert_eq!(report["summary"]["tls_hosts"]["count"], 1);
}
