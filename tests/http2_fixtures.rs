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

/// The gRPC record of each endpoint of grpc_calls.pcap: service and method, streaming kind
/// inferred from the message counts, `grpc-status` (from trailers, and the NOT_FOUND call's
/// trailers-only answer). The call made with gzip compression carries `grpc-encoding: gzip`,
/// but grpcio sent its small messages uncompressed (flag 0: compressing would not shrink
/// them), so no message counts as compressed.
#[test]
fn grpc_operations_of_each_method() {
    let (_, report) = inventory("grpc_calls.pcap");
    let lines: Vec<String> = report["endpoints"]
        .as_array()
        .expect("endpoints")
        .iter()
        .map(|e| {
            let g = &e["grpc"];
            format!(
                "{} {} {} calls={} messages={}/{} max={}/{} compressed={} statuses={}",
                g["service"].as_str().unwrap_or("-"),
                g["method"].as_str().unwrap_or("-"),
                g["streaming"].as_str().unwrap_or("-"),
                g["calls"],
                g["request_messages"],
                g["response_messages"],
                g["max_request_messages"],
                g["max_response_messages"],
                g["compressed_messages"],
                g["statuses"],
            )
        })
        .collect();
    assert_eq!(
        lines,
        [
            "demo.bank.Accounts Exchange bidi calls=1 messages=2/2 max=2/2 compressed=null statuses={\"OK\":1}",
            "demo.bank.Accounts GetAccount unary calls=3 messages=3/2 max=1/1 compressed=null statuses={\"NOT_FOUND\":1,\"OK\":2}",
            "demo.bank.Accounts ListTransactions server_streaming calls=1 messages=1/3 max=1/3 compressed=null statuses={\"OK\":1}",
            "demo.bank.Accounts UploadPayments client_streaming calls=1 messages=2/1 max=2/1 compressed=null statuses={\"OK\":1}",
        ]
    );
}

/// Without descriptors the messages are walked by wire type: field numbers as names, and the
/// IBAN in `Account.iban` (field 2) and `Payment.iban` (field 1) classified, its value masked.
#[test]
fn grpc_messages_walked_by_field_number() {
    let dir = std::env::temp_dir().join(format!("shadowtap-h2-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let saved = dir.join("inventory.json");
    let saved_arg = saved.to_string_lossy().into_owned();
    run(&["scan", "--save-inventory", &saved_arg], "grpc_calls.pcap");
    let text = std::fs::read_to_string(&saved).expect("saved inventory");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(!text.contains("GB82WEST12345698765432"), "raw IBAN saved");
    let inv: Value = serde_json::from_str(&text).expect("inventory JSON");
    let endpoints = inv["endpoints"].as_array().expect("endpoints");
    let find = |path: &str| {
        endpoints
            .iter()
            .find(|e| e["path"] == path)
            .map(|e| &e["record"])
            .unwrap_or_else(|| panic!("no {path} in {text}"))
    };
    let get = find("/demo.bank.Accounts/GetAccount");
    let keys = |v: &Value| -> Vec<String> {
        v.as_object()
            .map(|o| o.iter().map(|(k, t)| format!("{k}:{t}")).collect())
            .unwrap_or_default()
    };
    assert_eq!(keys(&get["request_fields"]), ["1:[\"string\"]"]);
    assert_eq!(
        keys(&get["response_fields"]),
        [
            "1:[\"string\"]",
            "2:[\"string\"]",
            "3:[\"string\"]",
            "4:[\"integer\"]"
        ]
    );
    assert!(
        get["data_classes"]["iban"]["response.body.2"].is_object(),
        "{get:#}"
    );
    let upload = find("/demo.bank.Accounts/UploadPayments");
    assert!(
        upload["data_classes"]["iban"]["request.body.1"].is_object(),
        "{upload:#}"
    );
}

/// `scan` with a catalogue path: the findings as sorted `kind path` lines, and the report.
fn findings_with(catalog: &str) -> (Vec<String>, Value) {
    let catalog = fixture(catalog);
    let catalog = catalog.to_string_lossy().into_owned();
    let report: Value = serde_json::from_str(&run(
        &["scan", "--format", "json", "--catalog", &catalog],
        "grpc_calls.pcap",
    ))
    .expect("JSON report");
    let mut lines: Vec<String> = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            format!(
                "{} {}",
                f["kind"].as_str().unwrap_or("-"),
                f["path"].as_str().unwrap_or("-")
            )
        })
        .collect();
    lines.sort();
    (lines, report)
}

/// The FileDescriptorSet protoc writes for bank.proto declares every method: nothing is shadow,
/// and the messages' fields are walked under their declared names.
#[test]
fn descriptor_set_catalogue_declares_every_method() {
    let (findings, report) = findings_with("catalog/bank.pb");
    let endpoints = report["endpoints"].as_array().expect("endpoints");
    assert_eq!(endpoints.len(), 4);
    assert!(
        endpoints.iter().all(|e| e["declared"] == true),
        "{endpoints:#?}"
    );
    assert_eq!(findings, Vec::<String>::new());
    let get = endpoints
        .iter()
        .find(|e| e["path"] == "/demo.bank.Accounts/GetAccount")
        .expect("GetAccount");
    let locations: Vec<&str> = get["data_classes"]
        .as_array()
        .expect("data classes")
        .iter()
        .filter(|d| d["class"] == "iban")
        .filter_map(|d| d["location"].as_str())
        .collect();
    assert_eq!(locations, ["response.body.iban"]);
}

/// A partial `.proto`: the undeclared methods are shadow surface, the declared rpc nobody
/// called is orphaned, and the field the declared Account lacks (`owner`, number 3) is drift.
#[test]
fn partial_proto_catalogue_gives_grpc_findings() {
    let (findings, report) = findings_with("catalog_partial");
    assert_eq!(
        findings,
        [
            "drift_response_field /demo.bank.Accounts/GetAccount",
            "orphaned /demo.bank.Accounts/CloseAccount",
            "unconfirmed_endpoint /demo.bank.Accounts/Exchange",
            "unconfirmed_endpoint /demo.bank.Accounts/ListTransactions",
            "unconfirmed_endpoint /demo.bank.Accounts/UploadPayments",
        ]
    );
    let drift = report["findings"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f["kind"] == "drift_response_field"))
        .expect("drift");
    assert!(
        drift["detail"]
            .as_str()
            .unwrap_or("")
            .ends_with("response body: undeclared 3"),
        "{drift:#}"
    );
}

/// A server reflection dump (grpcio-reflection, see make_reflection.sh) as the catalogue
/// declares every method, as the descriptor set does: nothing is shadow or orphaned.
#[test]
fn reflection_dump_catalogue_declares_every_method() {
    let (findings, report) = findings_with("catalog_reflection");
    assert_eq!(findings, Vec::<String>::new());
    let endpoints = report["endpoints"].as_array().expect("endpoints");
    assert_eq!(endpoints.len(), 4);
    assert!(
        endpoints.iter().all(|e| e["declared"] == true),
        "{endpoints:#?}"
    );
}
