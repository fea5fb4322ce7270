//! HTTP/2 and gRPC end to end through `shadowtap exchanges` and `scan`, from the captures in
//! fixtures/http2 made with real clients and servers (curl, nghttpd, hypercorn, grpcio; see
//! its README and make.sh). Each capture's expected inventory is asserted exactly.

use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/http2")
        .join(name)
}

fn run(args: &[&str], name: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_shadowtap"))
        .args(args)
        .arg(fixture(name))
        .env("SHADOWTAP_SITE_SECRET", "http2-fixtures")
        .output()
        .expect("run shadowtap");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `exchanges` as `host method uri status version` lines.
fn exchanges(name: &str) -> Vec<String> {
    run(&["exchanges"], name)
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("JSON line");
            assert_eq!(v["anomalies"], serde_json::json!([]), "{v:#}");
            format!(
                "{} {} {} {} {}",
                v["host"].as_str().unwrap_or("-"),
                v["method"].as_str().unwrap_or("-"),
                v["uri"].as_str().unwrap_or("-"),
                v["status"],
                v["version"].as_str().unwrap_or("-"),
            )
        })
        .collect()
}

/// The scan inventory as `host method path exchanges statuses` lines.
fn inventory(name: &str) -> (Vec<String>, Value) {
    let report: Value =
        serde_json::from_str(&run(&["scan", "--format", "json"], name)).expect("JSON report");
    let lines = report["endpoints"]
        .as_array()
        .expect("endpoints")
        .iter()
        .map(|e| {
            format!(
                "{} {} {} {} {}",
                e["host"].as_str().unwrap_or("-"),
                e["method"].as_str().unwrap_or("-"),
                e["path"].as_str().unwrap_or("-"),
                e["exchanges"],
                e["statuses"]
            )
        })
        .collect();
    (lines, report)
}

#[test]
fn prior_knowledge_exchange() {
    assert_eq!(
        exchanges("h2c_prior_knowledge.pcap"),
        ["127.0.0.1:18081 GET /hello.txt 200 2"]
    );
}

#[test]
fn upgraded_request_is_stream_one() {
    // The request went as HTTP/1.1; its answer came on HTTP/2 stream 1. The 101 is no
    // exchange of its own.
    assert_eq!(
        exchanges("h2c_upgrade.pcap"),
        ["127.0.0.1:18083 GET /accounts/acc-1 200 1.1"]
    );
}

#[test]
fn grpc_calls_inventory() {
    let svc = "127.0.0.1:18082 POST /demo.bank.Accounts";
    assert_eq!(
        exchanges("grpc_calls.pcap"),
        [
            format!("{svc}/GetAccount 200 2"),
            format!("{svc}/GetAccount 200 2"),
            format!("{svc}/GetAccount 200 2"),
            format!("{svc}/ListTransactions 200 2"),
            format!("{svc}/UploadPayments 200 2"),
            format!("{svc}/Exchange 200 2"),
        ]
    );
    let (lines, report) = inventory("grpc_calls.pcap");
    assert_eq!(
        lines,
        [
            format!("{svc}/Exchange 1 {{\"200\":1}}"),
            format!("{svc}/GetAccount 3 {{\"200\":3}}"),
            format!("{svc}/ListTransactions 1 {{\"200\":1}}"),
            format!("{svc}/UploadPayments 1 {{\"200\":1}}"),
        ]
    );
    assert_eq!(report["summary"]["counters"]["http.http2_exchanges"], 6);
}

#[test]
fn mid_stream_connection_is_reported_opaque_not_guessed() {
    assert!(exchanges("grpc_mid_stream.pcap").is_empty());
    let (lines, report) = inventory("grpc_mid_stream.pcap");
    assert!(lines.is_empty(), "{lines:?}");
    let c = &report["summary"]["counters"];
    assert_eq!(c["http.http2_mid_stream_connections"], 1, "{c:#}");
    assert_eq!(c["http.http2_opaque_streams"], 1);
    assert!(c["http.http2_mid_stream_bytes"].as_u64().unwrap_or(0) > 0);
    let text = run(&["scan"], "grpc_mid_stream.pcap");
    assert!(
        text.contains("Quality    HTTP/2, opaque since capture start: 1 connections"),
        "{text}"
    );
}
