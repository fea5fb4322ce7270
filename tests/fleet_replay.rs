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
    let mut findings: serde_json::Value = serde_json::from_slice(&findings.body).expect("json");
    // Each finding carries its review state; without a review it is open.
    for f in findings.as_array_mut().expect("array") {
        let f = f.as_object_mut().expect("object");
        assert_eq!(f.remove("review_state"), Some("open".into()));
        assert_eq!(f.remove("review"), None);
    }
    assert_eq!(findings, scan["findings"]);

    // The fleet's exports equal the offline ones for the same traffic.
    assert_fleet_exports_match_offline(dir.path(), &collector, &pki_dir);

    // Review state reaches every report format; suppressed and accepted findings do not trip
    // --fail-on; the trail survives the restart and the store export/import below.
    let reviewed = review_everything(&collector, &pki_dir, &scan);

    // Restart: the store is on disk.
    collector.kill();
    let collector = Collector::start(&pki_dir, &data, "127.0.0.1:0", &[]);
    assert_matches_scan(&report_json(&collector, &pki_dir), &scan);
    assert_eq!(
        trail(&collector, &pki_dir, &reviewed),
        2,
        "trail after restart"
    );
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
    assert_eq!(
        trail(&collector, &pki_dir, &reviewed),
        2,
        "trail after import"
    );
    let agents = api_get(collector.addr, &pki_dir, "/v1/agents");
    let agents: serde_json::Value = serde_json::from_slice(&agents.body).expect("json");
    assert!(
        agents["edge-1"]["batches"].as_u64().unwrap_or(0) > 1,
        "{agents}"
    );
    let stored = |c: &Collector| {
        let inv = api_get(c.addr, &pki_dir, "/v1/inventory");
        let inv: serde_json::Value = serde_json::from_slice(&inv.body).expect("json");
        inv["endpoints"].as_array().map_or(0, Vec::len)
    };
    let endpoints = stored(&collector);
    assert!(endpoints > 0);
    collector.kill();

    // The export kept who contributed what: the audit names the agent, and removing it
    // leaves a store with nothing from it (its marks stay).
    let store = |args: &[&str]| {
        let out = Command::new(bin())
            .arg("store")
            .args(args)
            .arg("--data")
            .arg(&data2)
            .output()
            .expect("store");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        (out.status.code(), text, err)
    };
    let (code, audit, _) = store(&["agents"]);
    assert_eq!(code, Some(0));
    let line = audit
        .lines()
        .find(|l| l.starts_with("edge-1\t"))
        .unwrap_or_else(|| panic!("edge-1 audited: {audit}"));
    let cols: Vec<&str> = line.split('\t').collect();
    assert_eq!(cols[2], endpoints.to_string(), "{audit}");
    let (code, _, err) = store(&["remove-agent", "edge-9"]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("\"edge-9\"") && err.contains("store agents"),
        "{err}"
    );
    let (code, _, err) = store(&["remove-agent", "edge-1"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        err.contains(&format!("removed edge-1: {endpoints} endpoints")),
        "{err}"
    );
    let collector = Collector::start(&pki_dir, &data2, "127.0.0.1:0", &[]);
    assert_eq!(stored(&collector), 0);
    let agents = api_get(collector.addr, &pki_dir, "/v1/agents");
    let agents: serde_json::Value = serde_json::from_slice(&agents.body).expect("json");
    assert!(
        agents["edge-1"]["seq"].as_u64().is_some(),
        "marks kept: {agents}"
    );
}

/// `scan --save-inventory` + `export` against `export --collector`, every format.
fn assert_fleet_exports_match_offline(dir: &std::path::Path, c: &Collector, pki: &std::path::Path) {
    let inv = dir.join("offline-inventory.json");
    let out = Command::new(bin())
        .arg("scan")
        .arg(demo_pcap())
        .arg("--catalog")
        .arg(demo_catalog())
        .args(["--format", "json", "--learn", "all", "--out"])
        .arg(dir.join("offline.json"))
        .arg("--save-inventory")
        .arg(&inv)
        .env("SHADOWTAP_SITE_SECRET", SECRET)
        .output()
        .expect("scan");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for format in ["csv", "ndjson", "openapi", "cyclonedx", "backstage"] {
        let offline = Command::new(bin())
            .args(["export", "--format", format, "--inventory"])
            .arg(&inv)
            .output()
            .expect("export offline");
        assert!(
            offline.status.success(),
            "{}",
            String::from_utf8_lossy(&offline.stderr)
        );
        let fleet = Command::new(bin())
            .args([
                "export",
                "--format",
                format,
                "--collector",
                &c.url(),
                "--ca",
            ])
            .arg(pki.join("ca.pem"))
            .env("SHADOWTAP_API_TOKEN", TOKEN)
            .output()
            .expect("export fleet");
        assert!(
            fleet.status.success(),
            "{}",
            String::from_utf8_lossy(&fleet.stderr)
        );
        assert!(!offline.stdout.is_empty(), "{format}: empty export");
        assert_eq!(
            String::from_utf8_lossy(&fleet.stdout),
            String::from_utf8_lossy(&offline.stdout),
            "{format}: the fleet's export differs from the offline one"
        );
    }
    let r = api_get(c.addr, pki, "/v1/export/xml");
    assert_eq!(r.status, 404, "{}", r.error_text());
}

/// `report --collector` with `args`; returns (exit code, stdout).
fn report(c: &Collector, pki: &std::path::Path, args: &[&str]) -> (i32, String) {
    let out = Command::new(bin())
        .args(["report", "--collector", &c.url(), "--ca"])
        .arg(pki.join("ca.pem"))
        .args(args)
        .env("SHADOWTAP_API_TOKEN", TOKEN)
        .output()
        .expect("report");
    assert!(
        matches!(out.status.code(), Some(0 | 3)),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn post_review(c: &Collector, pki: &std::path::Path, id: &str, body: &str) {
    let mut client = client(c.addr, &pki.join("ca.pem"), None);
    let auth = format!("Bearer {TOKEN}");
    let r = client
        .request(
            "POST",
            &format!("/v1/findings/{id}/review"),
            &[
                ("Authorization", &auth),
                ("Content-Type", "application/json"),
            ],
            body.as_bytes(),
        )
        .expect("review");
    assert_eq!(r.status, 200, "{}", r.error_text());
}

/// Events in the trail of finding `id`.
fn trail(c: &Collector, pki: &std::path::Path, id: &str) -> usize {
    let r = api_get(c.addr, pki, &format!("/v1/reviews/{id}/history"));
    assert_eq!(r.status, 200, "{}", r.error_text());
    let v: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
    v["events"].as_array().map_or(0, Vec::len)
}

/// Suppress the first finding (acknowledged first), accept the rest; check every format shows
/// it and --fail-on and --baseline behave as in `scan`. Returns the suppressed finding's id.
fn review_everything(c: &Collector, pki: &std::path::Path, scan: &serde_json::Value) -> String {
    let findings = scan["findings"].as_array().expect("findings");
    assert!(!findings.is_empty());
    let ids: Vec<&str> = findings.iter().filter_map(|f| f["id"].as_str()).collect();
    let first = ids[0];
    // Before any review: findings trip --fail-on info, as in scan.
    assert_eq!(report(c, pki, &["--fail-on", "info"]).0, 3);
    // A baseline of the same findings: nothing new, so nothing trips.
    let dir = tempfile::tempdir().expect("tempdir");
    let scan_file = dir.path().join("scan.json");
    std::fs::write(&scan_file, scan.to_string()).expect("write");
    let (code, json) = report(
        c,
        pki,
        &[
            "--format",
            "json",
            "--fail-on",
            "info",
            "--baseline",
            scan_file.to_str().unwrap_or(""),
        ],
    );
    assert_eq!(code, 0, "{json}");
    let json: serde_json::Value = serde_json::from_str(&json).expect("json");
    assert_eq!(json["findings"].as_array().map(Vec::len), Some(0));
    assert_eq!(
        json["baseline"]["unchanged"].as_u64().map(|n| n as usize),
        Some(ids.len())
    );

    post_review(c, pki, first, r#"{"action":"acknowledge","by":"ana"}"#);
    post_review(
        c,
        pki,
        first,
        r#"{"action":"suppress","reason":"pen-test window","expires_in_secs":86400,"by":"ana"}"#,
    );
    for id in &ids[1..] {
        post_review(
            c,
            pki,
            id,
            r#"{"action":"accept","reason":"expected","by":"bob"}"#,
        );
    }
    // Everything suppressed or accepted: --fail-on no longer trips.
    let (code, json) = report(c, pki, &["--format", "json", "--fail-on", "info"]);
    assert_eq!(code, 0);
    let json: serde_json::Value = serde_json::from_str(&json).expect("json");
    assert_eq!(json["reviews"][first]["state"], "suppressed");
    assert_eq!(json["reviews"][first]["by"], "api:ana");
    assert_eq!(json["reviews"][first]["reason"], "pen-test window");
    assert_eq!(json["findings"].as_array().map(Vec::len), Some(ids.len()));
    let (_, sarif) = report(c, pki, &["--format", "sarif"]);
    let sarif: serde_json::Value = serde_json::from_str(&sarif).expect("sarif");
    let results = sarif["runs"][0]["results"].as_array().expect("results");
    assert_eq!(results.len(), ids.len());
    for r in results {
        let s = &r["suppressions"][0];
        assert_eq!(s["kind"], "external", "{r}");
        assert_eq!(s["status"], "accepted");
    }
    let (_, md) = report(c, pki, &["--format", "markdown"]);
    assert!(md.contains("suppressed by api:ana at "), "{md}");
    assert!(md.contains("pen-test window"));
    let (_, html) = report(c, pki, &["--format", "html"]);
    assert!(html.contains("accepted by api:bob at "), "html review line");
    let (_, text) = report(c, pki, &[]);
    assert!(text.contains("review: suppressed by api:ana"), "{text}");
    let dir_out = dir.path().join("report.html");
    let (code, stdout) = report(
        c,
        pki,
        &["--format", "html", "--out", dir_out.to_str().unwrap_or("")],
    );
    assert_eq!((code, stdout.as_str()), (0, ""));
    assert!(std::fs::read_to_string(&dir_out).is_ok_and(|h| h.starts_with("<!DOCTYPE html>")));
    assert_eq!(trail(c, pki, first), 2);
    // The auditors' trail through the CLI: a header and one row per action.
    let (code, csv) = report(c, pki, &["--review-trail", "csv"]);
    assert_eq!(code, 0);
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows.len(), 1 + 2 + (ids.len() - 1), "{csv}");
    assert!(rows[0].starts_with("finding,seq,at,at_utc,action,state,by,reason"));
    assert!(
        rows.iter()
            .any(|r| r.starts_with(first)
                && r.contains(",suppress,suppressed,api:ana,pen-test window,")),
        "{csv}"
    );
    first.to_string()
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
