//! End to end: the demo capture scanned against its catalogue reports exactly the planted
//! findings of fixtures/demo/expected.json, whatever the interleaving of its flows.

use agent::decode::{decode, DecodeStats};
use agent::pipeline::{Pipeline, PipelineConfig};
use agent::source::file::FileSource;
use agent::source::memory::{read_all, MemorySource, OwnedFrame};
use analyzer::catalogue::Catalogue;
use analyzer::classify::Classifier;
use analyzer::consumer::ConsumerConfig;
use analyzer::diff::diff;
use analyzer::inventory::Inventory;
use analyzer::observe::Observer;
use analyzer::template::Templater;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn demo(p: &str) -> PathBuf {
    root().join("fixtures/demo").join(p)
}

type Key = (String, String, Option<String>, Option<String>);

fn expected() -> (BTreeSet<Key>, Value) {
    let text = std::fs::read_to_string(demo("expected.json")).expect("fixtures/demo/expected.json");
    let v: Value = serde_json::from_str(&text).expect("expected.json parses");
    let keys = v["findings"]
        .as_array()
        .expect("findings array")
        .iter()
        .map(finding_key)
        .collect();
    (keys, v)
}

fn finding_key(f: &Value) -> Key {
    let s = |k: &str| f[k].as_str().map(str::to_string);
    (
        s("kind").unwrap_or_default(),
        s("host").unwrap_or_default(),
        s("method"),
        s("path"),
    )
}

/// (host, method, path, declared) of every endpoint in a report or in expected.json.
fn endpoint_set(endpoints: &Value) -> BTreeSet<(String, String, String, bool)> {
    let text = |e: &Value, k: &str| {
        e[k].as_str()
            .unwrap_or_else(|| panic!("endpoint.{k}"))
            .to_string()
    };
    endpoints
        .as_array()
        .expect("endpoints array")
        .iter()
        .map(|e| {
            (
                text(e, "host"),
                text(e, "method"),
                text(e, "path"),
                e["declared"].as_bool().expect("declared"),
            )
        })
        .collect()
}

fn run_scan(extra: &[&str]) -> (std::process::ExitStatus, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_shadowtap"))
        .arg("scan")
        .arg(demo("openbanking.pcap"))
        .arg("--catalog")
        .arg(demo("catalog"))
        .args(extra)
        .env("SHADOWTAP_SITE_SECRET", "demo-test")
        .output()
        .expect("run shadowtap");
    assert!(
        out.stderr.is_empty() || !String::from_utf8_lossy(&out.stderr).contains("error"),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        out.status,
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn demo_scan_reports_exactly_the_planted_findings() {
    let (want, expected) = expected();
    let (status, stdout) = run_scan(&["--format", "json"]);
    assert!(status.success(), "exit {status:?}");
    let report: Value = serde_json::from_str(&stdout).expect("JSON report");
    let got: BTreeSet<Key> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(finding_key)
        .collect();
    let missing: Vec<_> = want.difference(&got).collect();
    let spurious: Vec<_> = got.difference(&want).collect();
    assert!(
        missing.is_empty() && spurious.is_empty(),
        "missing {missing:#?}\nspurious {spurious:#?}"
    );

    // Every exchange the generator made is seen and paired.
    let summary = &report["summary"];
    assert_eq!(
        summary["http_exchanges"], expected["http_exchanges"],
        "summary {summary:#}"
    );

    // The inventory holds exactly the endpoints the traffic exercised: nothing over- or
    // under-merged by templating.
    let endpoints = endpoint_set(&report["endpoints"]);
    let want_endpoints = endpoint_set(&expected["endpoints"]);
    assert_eq!(endpoints, want_endpoints);

    // JSON contract field names.
    for k in [
        "captures",
        "packets",
        "bytes",
        "tcp_flows",
        "http_exchanges",
        "endpoints",
        "findings",
        "anomalies",
    ] {
        assert!(summary.get(k).is_some(), "summary.{k} missing");
    }
    let e = &report["endpoints"][0];
    for k in [
        "host",
        "method",
        "path",
        "declared",
        "exchanges",
        "statuses",
        "params",
        "data_classes",
        "consumers",
        "auth",
        "first_seen",
        "last_seen",
    ] {
        assert!(e.get(k).is_some(), "endpoint.{k} missing");
    }
    let f = &report["findings"][0];
    for k in [
        "id", "kind", "severity", "host", "method", "path", "detail", "evidence",
    ] {
        assert!(f.get(k).is_some(), "finding.{k} missing");
    }
    assert!(summary["window_start"]
        .as_str()
        .unwrap()
        .starts_with("2026-03-02T09:"));

    // The demo shows every finding kind of the vocabulary.
    let kinds: BTreeSet<&str> = want.iter().map(|k| k.0.as_str()).collect();
    for kind in analyzer::finding::FindingKind::ALL {
        assert!(kinds.contains(kind.as_str()), "demo lacks {kind}");
    }
}

#[test]
fn baseline_hides_reviewed_findings_and_lists_new_changed_and_fixed() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.json");
    let (status, _) = run_scan(&["--format", "json", "--out", report.to_str().unwrap()]);
    assert!(status.success());
    let baseline = dir.path().join("baseline.json");
    let out = Command::new(env!("CARGO_BIN_EXE_shadowtap"))
        .args(["baseline", "--from-report"])
        .arg(&report)
        .arg("--out")
        .arg(&baseline)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut b: Value = serde_json::from_slice(&std::fs::read(&baseline).unwrap()).unwrap();
    let total = b["findings"].as_array().unwrap().len();

    // Everything reviewed: nothing to show.
    let (status, stdout) =
        run_scan(&["--format", "json", "--baseline", baseline.to_str().unwrap()]);
    assert!(status.success());
    let r: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(r["findings"].as_array().unwrap().len(), 0);
    assert_eq!(r["baseline"]["unchanged"].as_u64(), Some(total as u64));

    // Forget one finding (new), alter another's evidence (changed), add a stale one (fixed).
    let list = b["findings"].as_array_mut().unwrap();
    let forgotten = list.remove(0)["id"].as_str().unwrap().to_string();
    list[0]["fingerprint"] = Value::from("0000000000000000");
    let changed = list[0]["id"].as_str().unwrap().to_string();
    list.push(
        serde_json::json!({"id": "feedfacefeedface", "kind": "shadow_endpoint",
        "target": "GET api.northbank.example/old", "severity": "medium",
        "fingerprint": "0000000000000000"}),
    );
    std::fs::write(&baseline, b.to_string()).unwrap();
    let (_, stdout) = run_scan(&["--format", "json", "--baseline", baseline.to_str().unwrap()]);
    let r: Value = serde_json::from_str(&stdout).unwrap();
    let ids: BTreeSet<&str> = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, BTreeSet::from([forgotten.as_str(), changed.as_str()]));
    assert_eq!(r["baseline"]["new"][0].as_str(), Some(forgotten.as_str()));
    assert_eq!(r["baseline"]["changed"][0].as_str(), Some(changed.as_str()));
    assert_eq!(
        r["baseline"]["fixed"][0]["id"].as_str(),
        Some("feedfacefeedface")
    );
    let (_, text) = run_scan(&["--baseline", baseline.to_str().unwrap()]);
    assert!(text.contains("BASELINE") && text.contains("[new]") && text.contains("fixed  "));
    let (_, md) = run_scan(&[
        "--format",
        "markdown",
        "--baseline",
        baseline.to_str().unwrap(),
    ]);
    assert!(md.contains("## Baseline") && md.contains("(changed)"));

    // A broken baseline names the file and the JSON pointer.
    std::fs::write(&baseline, r#"{"version": 1, "findings": [{"id": 3}]}"#).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_shadowtap"))
        .arg("scan")
        .arg(demo("openbanking.pcap"))
        .arg("--baseline")
        .arg(&baseline)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("baseline.json") && stderr.contains("/findings/0"),
        "{stderr}"
    );
}

#[test]
fn fail_on_exits_3_and_text_and_markdown_render() {
    let (status, text) = run_scan(&["--fail-on", "high"]);
    assert_eq!(status.code(), Some(3));
    assert!(
        text.contains("FINDINGS") && text.contains("ENDPOINTS") && text.contains("shadow_host")
    );
    let (status, md) = run_scan(&["--format", "markdown"]);
    assert!(status.success());
    assert!(md.starts_with("# shadowtap scan report") && md.contains("| kind | target |"));
}

/// Identify a frame's flow (unordered address pair) so frames can be regrouped.
fn flow_of(frame: &OwnedFrame) -> Option<(String, String)> {
    let mut stats = DecodeStats::default();
    let f = frame.as_frame();
    let p = decode(&f, &mut stats)?;
    let (a, b) = match p.transport {
        agent::decode::Transport::Tcp(t) => (
            format!("{}:{}", p.src, t.src_port),
            format!("{}:{}", p.dst, t.dst_port),
        ),
        agent::decode::Transport::Udp {
            src_port, dst_port, ..
        } => (
            format!("{}:{src_port}", p.src),
            format!("{}:{dst_port}", p.dst),
        ),
        agent::decode::Transport::Other => (p.src.to_string(), p.dst.to_string()),
    };
    Some(if a < b { (a, b) } else { (b, a) })
}

fn scan_frames(frames: Vec<OwnedFrame>, catalogue: &Catalogue) -> (Inventory, BTreeSet<Key>) {
    let mut observer = Observer::new(
        Templater::new(catalogue.routes()),
        Classifier::builtin(),
        ConsumerConfig::new(b"interleave", false),
    );
    // Which bodies a sampled run learns depends on the order exchanges complete in; this test
    // is about reconstruction, so every body is learned.
    observer.learn = analyzer::engine::policy::LearnMode::All;
    let sink = agent::analysis::AnalysisSink::new(
        &observer,
        analyzer::inventory::InventoryLimits::default(),
    );
    let mut pipeline = Pipeline::new(PipelineConfig::default(), sink);
    let mut source = MemorySource::new(frames);
    pipeline
        .run(&mut source, &mut |_| {})
        .expect("memory source");
    let (sink, _) = pipeline.finish();
    let inventory = sink.into_inventory();
    let severity = |c: &str| {
        observer
            .classifier
            .severity(c)
            .unwrap_or(analyzer::finding::Severity::Low)
    };
    let findings = diff(&inventory, catalogue, &severity);
    let keys = findings
        .iter()
        .map(|f| {
            (
                f.kind.as_str().to_string(),
                f.host.clone(),
                f.method.clone(),
                f.path.clone(),
            )
        })
        .collect();
    (inventory, keys)
}

#[test]
fn findings_do_not_depend_on_flow_interleaving() {
    let (want, _) = expected();
    let loaded = collector::catalogue_files::load_catalogue(&[demo("catalog")]).expect("catalogue");
    let mut source = FileSource::open(&demo("openbanking.pcap")).expect("open demo");
    let frames = read_all(&mut source).expect("read demo");

    let (baseline_inv, baseline) = scan_frames(frames.clone(), &loaded.catalogue);
    assert_eq!(baseline, want);

    // Group frames by flow, keeping each flow's own order, then emit the flows in other valid
    // interleavings: flows one after another in reverse order, and round-robin.
    let mut flows: BTreeMap<(String, String), Vec<OwnedFrame>> = BTreeMap::new();
    let mut other = Vec::new();
    for f in frames {
        match flow_of(&f) {
            Some(k) => flows.entry(k).or_default().push(f),
            None => other.push(f),
        }
    }
    let reversed: Vec<OwnedFrame> = flows
        .values()
        .rev()
        .flatten()
        .cloned()
        .chain(other.iter().cloned())
        .collect();
    let mut round_robin = Vec::new();
    let mut iters: Vec<_> = flows.values().map(|v| v.iter()).collect();
    loop {
        let mut any = false;
        for it in iters.iter_mut() {
            if let Some(f) = it.next() {
                round_robin.push(f.clone());
                any = true;
            }
        }
        if !any {
            break;
        }
    }
    round_robin.extend(other);

    for (name, frames) in [("reversed", reversed), ("round-robin", round_robin)] {
        let (inv, got) = scan_frames(frames, &loaded.catalogue);
        assert_eq!(got, want, "{name}: findings differ");
        let counts = |i: &Inventory| {
            i.endpoints
                .iter()
                .map(|(k, r)| (k.clone(), r.exchanges))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            counts(&inv),
            counts(&baseline_inv),
            "{name}: inventory differs"
        );
    }
}

#[test]
fn damaged_capture_is_read_up_to_the_damage_and_named() {
    let bytes = std::fs::read(demo("openbanking.pcap")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cut = dir.path().join("cut.pcap");
    // Cut in the middle of a record.
    std::fs::write(&cut, &bytes[..bytes.len() / 2 + 7]).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_shadowtap"))
        .args(["scan", "--format", "json", "--catalog"])
        .arg(demo("catalog"))
        .arg(&cut)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(4),
        "stderr {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cut.pcap") && stderr.contains("offset"),
        "{stderr}"
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(report["summary"]["http_exchanges"].as_u64().unwrap() > 100);
    assert_eq!(
        report["summary"]["capture_errors"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn a_capture_of_an_undecodable_link_type_is_damage_not_silence() {
    // It used to exit 0 with 0 exchanges and every declared operation orphaned.
    let mut bytes = std::fs::read(demo("openbanking.pcap")).expect("demo capture");
    // Link type field of the little-endian pcap header: 147 (LINKTYPE_USER0).
    bytes[20..24].copy_from_slice(&147u32.to_le_bytes());
    let dir = tempfile::tempdir().expect("tempdir");
    let odd = dir.path().join("user0.pcap");
    std::fs::write(&odd, &bytes).expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_shadowtap"))
        .args(["scan", "--format", "json", "--catalog"])
        .arg(demo("catalog"))
        .arg(&odd)
        .output()
        .expect("run scan");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains("link type shadowtap does not decode"),
        "{stderr}"
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("json report");
    let errors = report["summary"]["capture_errors"].to_string();
    assert!(errors.contains("11028 of 11028 frames"), "{errors}");
}

#[test]
fn unreadable_catalogue_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "openapi: 3.0.0\npaths: [unclosed\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_shadowtap"))
        .args(["scan", "--format", "json", "--catalog"])
        .arg(&bad)
        .arg(demo("openbanking.pcap"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bad.yaml"), "{stderr}");
    assert!(!Path::new(&bad).with_extension("x").exists());
}

#[test]
fn catalog_check_lists_apis_operations_hosts_and_skips() {
    let out = Command::new(env!("CARGO_BIN_EXE_shadowtap"))
        .args(["catalog", "check"])
        .arg(demo("catalog"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for want in [
        "Northbank legacy card service 1.7.2 (Swagger 2.0)",
        "(OpenAPI 3.1)",
        "POST    /v1/cards/{cardId}/block  [deprecated; auth ApiKeyAuth",
        "4 APIs, 18 operations, 4 hosts",
        "0 skipped, 0 files not loaded",
    ] {
        assert!(text.contains(want), "{want:?} missing from\n{text}");
    }
    // A broken document: the skipped parts are listed with pointer and reason, exit 1.
    let out = Command::new(env!("CARGO_BIN_EXE_shadowtap"))
        .args(["catalog", "check", "--brief"])
        .arg(root().join("fixtures/catalogue/broken/bad-refs.yaml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("/paths/~1things/get/parameters/0: $ref target"),
        "{text}"
    );
}

/// `catalog check` with the `$ref` fences: a reference into a sibling folder is skipped as
/// outside the catalogue roots until `--catalog-root` allows that folder, and a FIFO given as
/// the catalogue is an error at once, not a hang.
#[test]
fn catalog_check_keeps_refs_inside_the_roots_and_refuses_a_fifo() {
    let dir = tempfile::tempdir().unwrap();
    let specs = dir.path().join("specs");
    let shared = dir.path().join("shared");
    std::fs::create_dir_all(&specs).unwrap();
    std::fs::create_dir_all(&shared).unwrap();
    std::fs::write(
        specs.join("api.yaml"),
        "openapi: 3.0.3\ninfo: {title: Fenced, version: '1'}\npaths:\n  \
         /a: {$ref: '../shared/common.yaml#/p'}\n",
    )
    .unwrap();
    std::fs::write(
        shared.join("common.yaml"),
        "p: {get: {responses: {'200': {description: ok}}}}\n",
    )
    .unwrap();
    let check = |extra: &[&std::ffi::OsStr]| {
        Command::new(env!("CARGO_BIN_EXE_shadowtap"))
            .args(["catalog", "check"])
            .arg(&specs)
            .args(extra)
            .output()
            .unwrap()
    };
    let out = check(&[]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("/paths/~1a: $ref `../shared/common.yaml#/p`: document `")
            && text.contains("is outside the catalogue roots"),
        "{text}"
    );
    let out = check(&["--catalog-root".as_ref(), shared.as_os_str()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("1 APIs, 1 operations") && text.contains("0 skipped"),
        "{text}"
    );

    let fifo = dir.path().join("pipe.yaml");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let mut child = Command::new(env!("CARGO_BIN_EXE_shadowtap"))
        .args(["catalog", "check"])
        .arg(&fifo)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > std::time::Duration::from_secs(20) {
            let _ = child.kill();
            panic!("catalog check on a FIFO did not return within 20 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("pipe.yaml is a FIFO, not a file or folder"),
        "{stderr}"
    );
}

/// An offline run is deterministic also with several workers and sampled learning: which
/// bodies a worker learns depends on the flows it gets, and `scan` shards by a fixed seed.
#[test]
fn a_sampled_multi_worker_scan_gives_the_same_report_every_time() {
    let runs: Vec<String> = (0..3)
        .map(|_| run_scan(&["--format", "json", "--workers", "2"]).1)
        .collect();
    let first: Value = serde_json::from_str(&runs[0]).expect("JSON report");
    let learned = first["summary"]["bodies"]["response"]["learned"]
        .as_u64()
        .expect("learned count");
    let skipped = first["summary"]["bodies"]["response"]["skipped"]
        .as_u64()
        .expect("skipped count");
    assert!(
        learned > 0 && skipped > 0,
        "sampling learned some, skipped some"
    );
    for run in &runs[1..] {
        assert_eq!(run, &runs[0], "the same bytes every run");
    }
}

#[test]
fn demo_preflights_and_heads_are_quiet_and_the_scanner_probe_is_unconfirmed() {
    let (status, stdout) = run_scan(&["--format", "json"]);
    assert!(status.success(), "exit {status:?}");
    let report: Value = serde_json::from_str(&stdout).expect("JSON report");
    let findings = report["findings"].as_array().expect("findings");
    let about = |method: &str, path: &str| -> Vec<String> {
        findings
            .iter()
            .filter(|f| f["method"] == method && f["path"] == path)
            .map(|f| f["kind"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    // In the endpoint list, not findings.
    let endpoints = endpoint_set(&report["endpoints"]);
    for (host, method, path) in [
        (
            "api.northbank.example",
            "OPTIONS",
            "/open-banking/v3.1/aisp/accounts",
        ),
        ("legacy.northbank.example", "HEAD", "/v1/cards/{cardId}"),
    ] {
        assert!(
            endpoints.contains(&(host.into(), method.into(), path.into(), false)),
            "{method} {path} missing from the endpoints"
        );
        assert!(
            about(method, path).is_empty(),
            "{method} {path} is a finding"
        );
    }
    let counters = &report["summary"]["counters"];
    assert_eq!(counters["findings.quiet_preflight"], 1);
    assert_eq!(counters["findings.quiet_head"], 1);
    let probe = findings
        .iter()
        .find(|f| f["path"] == "/actuator/env")
        .expect("the probe is listed");
    assert_eq!(probe["kind"], "unconfirmed_endpoint");
    assert_eq!(probe["severity"], "info");
    let detail = probe["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("all 404: probing?"), "{detail}");
}
