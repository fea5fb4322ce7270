//! Fleet end to end without root: `pki init`, a collector, an agent replaying the demo capture
//! over mTLS, and `report --collector` giving the same report as `scan`; the store survives a
//! restart and round-trips through JSONL export/import.

mod fleet_support;

use fleet_support::*;
use std::process::Command;
use std::time::Duration;

#[test]
fn replayed_capture_gives_the_scan_report_and_the_store_round_trips() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki_dir = dir.path().join("pki");
    pki(&pki_dir, &["edge-1"]);
    let data = dir.path().join("data");
    let scan = scan_json();

    let collector = Collector::start(&pki_dir, &data, "127.0.0.1:0", &[]);
    let out = agent_replay(dir.path(), &pki_dir, "edge-1", &collector.url())
        .output()
        .expect("run agent");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "agent failed: {log}");
    assert!(
        log.contains("spool left 0"),
        "agent drained its spool: {log}"
    );
    let report = report_json(&collector, &pki_dir);
    assert_matches_scan(&report, &scan);
    assert_eq!(report["summary"]["capture_files"][0], "agent edge-1");

    // The same report as text, as `scan` prints it (the capture line names the agent instead).
    let text = Command::new(bin())
        .args(["report", "--collector", &collector.url(), "--ca"])
        .arg(pki_dir.join("ca.pem"))
        .env("SHADOWTAP_API_TOKEN", TOKEN)
        .output()
        .expect("report text");
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("FINDINGS") && text.contains("shadow_host"),
        "{text}"
    );

    // Wrong token: refused with a reason.
    let mut c = client(collector.addr, &pki_dir.join("ca.pem"), None);
    let r = c
        .request(
            "GET",
            "/v1/findings",
            &[("Authorization", "Bearer nope")],
            b"",
        )
        .expect("request");
    assert_eq!(r.status, 401, "{}", r.error_text());
    let findings = api_get(collector.addr, &pki_dir, "/v1/findings");
    assert_eq!(findings.status, 200);
    let findings: serde_json::Value = serde_json::from_slice(&findings.body).expect("json");
    assert_eq!(findings, scan["findings"]);

    // Restart: the store is on disk.
    collector.kill();
    let collector = Collector::start(&pki_dir, &data, "127.0.0.1:0", &[]);
    assert_matches_scan(&report_json(&collector, &pki_dir), &scan);
    collector.kill();

    // Export, import into a fresh store, serve it: same report.
    let jsonl = dir.path().join("store.jsonl");
    let st = Command::new(bin())
        .args(["store", "export", "--data"])
        .arg(&data)
        .arg("--out")
        .arg(&jsonl)
        .status()
        .expect("export");
    assert!(st.success());
    let data2 = dir.path().join("data2");
    let st = Command::new(bin())
        .args(["store", "import", "--data"])
        .arg(&data2)
        .arg(&jsonl)
        .status()
        .expect("import");
    assert!(st.success());
    let collector = Collector::start(&pki_dir, &data2, "127.0.0.1:0", &[]);
    assert_matches_scan(&report_json(&collector, &pki_dir), &scan);
    let agents = api_get(collector.addr, &pki_dir, "/v1/agents");
    let agents: serde_json::Value = serde_json::from_slice(&agents.body).expect("json");
    assert!(
        agents["edge-1"]["batches"].as_u64().unwrap_or(0) > 1,
        "{agents}"
    );
}

#[test]
fn the_sample_config_parses_for_agent_and_collector() {
    let sample = repo().join("deploy/shadowtap.toml");
    // Both commands get past parsing the file and stop at the first file it names that this
    // machine lacks: proof that every key in the sample is known and well typed.
    let out = Command::new(bin())
        .arg("collector")
        .arg("--config")
        .arg(&sample)
        .output()
        .expect("collector");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("/etc/shadowtap/api-token"), "{err}");
    let out = Command::new(bin())
        .arg("agent")
        .arg("--config")
        .arg(&sample)
        .output()
        .expect("agent");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("/etc/shadowtap/pki/ca.pem"), "{err}");
    // A misspelt key is named.
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[agent]\nwindow_sec = 5\n").expect("write");
    let out = Command::new(bin())
        .arg("agent")
        .arg("--config")
        .arg(&bad)
        .output()
        .expect("agent");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("window_sec"), "{err}");
}

#[test]
fn the_collector_reloads_a_changed_catalogue() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki_dir = dir.path().join("pki");
    pki(&pki_dir, &["a1"]);
    let catalog = dir.path().join("catalog");
    std::fs::create_dir(&catalog).expect("mkdir");
    let spec = |host: &str| {
        format!(
            "openapi: 3.0.3\ninfo: {{title: t, version: '1'}}\nservers: [{{url: 'https://{host}'}}]\n\
             paths:\n  /ping:\n    get:\n      responses: {{'200': {{description: ok}}}}\n"
        )
    };
    std::fs::write(catalog.join("other.yaml"), spec("other.test")).expect("write spec");
    let config = dir.path().join("c.toml");
    std::fs::write(&config, "[collector]\ncatalogue_poll_ms = 100\n").expect("write");
    let config = config.display().to_string();
    let c = Collector::start_with(
        &pki_dir,
        &dir.path().join("data"),
        "127.0.0.1:0",
        &catalog,
        &["--config", &config],
    );
    let mut a1 = client(
        c.addr,
        &pki_dir.join("ca.pem"),
        Some((
            &pki_dir.join("agents/a1.pem"),
            &pki_dir.join("agents/a1.key"),
        )),
    );
    let r = a1
        .request(
            "POST",
            analyzer::wire::INGEST_PATH,
            &[],
            &small_batch("a1", 0),
        )
        .expect("post");
    assert_eq!(r.status, 200, "{}", r.error_text());
    let kinds = || -> Vec<String> {
        let r = api_get(c.addr, &pki_dir, "/v1/findings");
        let f: serde_json::Value = serde_json::from_slice(&r.body).unwrap_or_default();
        f.as_array()
            .map(|a| {
                a.iter()
                    .map(|f| f["kind"].as_str().unwrap_or("").to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(kinds(), vec!["shadow_host", "orphaned"]);
    std::fs::write(catalog.join("test.yaml"), spec("api.test")).expect("write spec");
    wait_until("the catalogue reload", Duration::from_secs(60), || {
        metric(
            c.addr,
            &pki_dir,
            "shadowtap_collector_catalogue_reloads_total",
        ) >= 1
    });
    // api.test is declared now; other.test's operation is still unused.
    assert_eq!(kinds(), vec!["orphaned"]);
}
