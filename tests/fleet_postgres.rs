//! The fleet on PostgreSQL, end to end with the real binary and a real PostgreSQL 15 on
//! loopback: two agents, each with half the demo capture (split by flow), deliver to two
//! collectors sharing one database; each collector's report equals `scan`. The database is
//! exported with `store export --store`, imported into another with `store import --store`,
//! and a collector on that one reports the same.

mod fleet_support;
#[path = "../collector/tests/pg_support/mod.rs"]
mod pg_support;

use fleet_support::*;
use pg_support::PgServer;
use std::ffi::OsStr;
use std::process::Command;
use std::time::Duration;

fn collector_on(pki: &std::path::Path, url: &str) -> Collector {
    let store = [OsStr::new("--store"), OsStr::new(url)];
    Collector::start_on(pki, &store, "127.0.0.1:0", &demo_catalog(), &[])
}

#[test]
fn two_collectors_on_one_database_report_what_scan_reports() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pg = PgServer::start();
    let url = pg.database("fleet");
    let scan = scan_json();
    let pki_dir = dir.path().join("pki");
    pki(&pki_dir, &["e1", "e2"]);
    let halves = split_by_flow(&demo_pcap(), dir.path(), 2);
    let (one, two) = (collector_on(&pki_dir, &url), collector_on(&pki_dir, &url));
    for ((agent, half), c) in ["e1", "e2"].iter().zip(&halves).zip([&one, &two]) {
        let out = agent_replay_of(dir.path(), &pki_dir, agent, &c.url(), half)
            .output()
            .expect("run agent");
        let log = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "agent {agent} failed: {log}");
        assert!(log.contains("spool left 0"), "agent {agent}: {log}");
    }
    assert_matches_scan(&report_json(&one, &pki_dir), &scan);
    assert_matches_scan(&report_json(&two, &pki_dir), &scan);
    one.kill();

    // Migrate: export from the shared database, import into a new one, serve from it.
    let jsonl = dir.path().join("store.jsonl");
    let out = Command::new(bin())
        .args(["store", "export", "--store", &url, "--out"])
        .arg(&jsonl)
        .output()
        .expect("export");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let moved = pg.database("moved");
    let import = || {
        Command::new(bin())
            .args(["store", "import", "--store", &moved])
            .arg(&jsonl)
            .output()
            .expect("import")
    };
    let out = import();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let again = import();
    let log = String::from_utf8_lossy(&again.stderr);
    assert!(
        !again.status.success() && log.contains("already holds data"),
        "{log}"
    );
    let three = collector_on(&pki_dir, &moved);
    assert_matches_scan(&report_json(&three, &pki_dir), &scan);
    two.kill();
    three.kill();
}

/// Accepted batches of one collector, from its `/metrics`.
fn accepted(c: &Collector, pki: &std::path::Path) -> u64 {
    metric(
        c.addr,
        pki,
        "shadowtap_collector_batches_total{result=\"accepted\",reason=\"\"}",
    )
}

#[test]
fn agents_fail_over_between_collectors_sharing_one_database() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pg = PgServer::start();
    let url = pg.database("failover");
    let scan = scan_json();
    let pki_dir = dir.path().join("pki");
    pki(&pki_dir, &["e1", "e2"]);
    let halves = split_by_flow(&demo_pcap(), dir.path(), 2);
    let (one, two) = (collector_on(&pki_dir, &url), collector_on(&pki_dir, &url));
    let two_url = two.url();

    // e1 lists both as one comma list and sends to the first; the first is SIGKILLed mid-stream
    // and e1 moves to the second without losing or repeating anything.
    let list = format!("{},{}", one.url(), two.url());
    let e1 = agent_replay_of(dir.path(), &pki_dir, "e1", &list, &halves[0])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn agent e1");
    wait_until(
        "e1's first batches stored",
        Duration::from_secs(120),
        || accepted(&one, &pki_dir) >= 20,
    );
    assert_eq!(accepted(&two, &pki_dir), 0, "e1 starts on the first URL");
    let dead = one.url();
    one.kill();
    let out = e1.wait_with_output().expect("agent e1 exits");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("spool left 0 (dropped 0)"), "{log}");
    assert!(
        !log.contains("failed attempts 0,"),
        "the kill hit e1's stream: {log}"
    );
    let took_over = accepted(&two, &pki_dir);
    assert!(took_over > 0, "the second collector took e1's batches");

    // e2 repeats --collector, the first one down from the start: everything goes to the second.
    let out = agent_replay_of(dir.path(), &pki_dir, "e2", &dead, &halves[1])
        .args(["--collector", &two_url])
        .output()
        .expect("run agent e2");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("spool left 0 (dropped 0)"), "{log}");
    assert!(accepted(&two, &pki_dir) > took_over);
    // Exactly the scan's numbers: every batch applied once, none lost, none twice.
    assert_matches_scan(&report_json(&two, &pki_dir), &scan);
}

/// `GET /v1/catalogues` of collector `c`, parsed.
fn catalogues(c: &Collector, pki: &std::path::Path) -> serde_json::Value {
    let r = api_get(c.addr, pki, "/v1/catalogues");
    assert_eq!(r.status, 200, "{}", r.error_text());
    serde_json::from_slice(&r.body).expect("catalogues JSON")
}

#[test]
fn collectors_sharing_one_database_see_whether_they_serve_the_same_catalogue() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pg = PgServer::start();
    let url = pg.database("catalogues");
    let pki_dir = dir.path().join("pki");
    pki(&pki_dir, &[]);
    let one = collector_on(&pki_dir, &url);
    let two = collector_on(&pki_dir, &url);
    let doc = catalogues(&two, &pki_dir);
    let names: Vec<&String> = doc["collectors"].as_object().expect("map").keys().collect();
    assert_eq!(names.len(), 2, "{doc}");
    assert!(
        doc["this"]
            .as_str()
            .is_some_and(|t| t.ends_with(&format!(":{}", two.addr.port()))),
        "{doc}"
    );
    assert_eq!(doc["agree"], true, "the same specs: {doc}");
    let digests: Vec<&serde_json::Value> = doc["collectors"]
        .as_object()
        .expect("map")
        .values()
        .map(|s| &s["digest"])
        .collect();
    assert_eq!(digests[0], digests[1]);
    assert!(
        doc["collectors"][doc["this"].as_str().expect("this")]["operations"].as_u64() > Some(0)
    );
    // A third collector with other specs: every collector now sees the disagreement.
    let store = [OsStr::new("--store"), OsStr::new(url.as_str())];
    let other = repo().join("fixtures/catalogue/petstore-v2.json");
    let three = Collector::start_on(&pki_dir, &store, "127.0.0.1:0", &other, &[]);
    let doc = catalogues(&three, &pki_dir);
    assert_eq!(doc["agree"], false, "{doc}");
    assert_eq!(doc["collectors"].as_object().map(|m| m.len()), Some(3));
    assert_eq!(catalogues(&one, &pki_dir)["agree"], false);
    assert_eq!(
        metric(
            three.addr,
            &pki_dir,
            "shadowtap_collector_catalogue_peers_disagreeing "
        ),
        2
    );
}
