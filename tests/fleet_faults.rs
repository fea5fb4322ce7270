//! Fleet fault tests: identities the collector must refuse, hostile requests it must survive,
//! a collector that is down for a while (the agent spools, then drains), and a collector killed
//! with SIGKILL mid-stream and restarted (nothing acknowledged lost, nothing counted twice).

mod fleet_support;

use analyzer::wire::{Ack, AckStatus, INGEST_PATH};
use fleet_support::*;
use std::io::Write;
use std::net::TcpListener;
use std::time::Duration;

fn post(c: &mut agent::ship::client::HttpsClient, body: &[u8]) -> agent::ship::client::Response {
    c.request(
        "POST",
        INGEST_PATH,
        &[("Content-Type", "application/json")],
        body,
    )
    .expect("the collector answers")
}

#[test]
fn refused_identities_and_hostile_requests_leave_the_collector_serving() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki_dir = dir.path().join("pki");
    let other = dir.path().join("other-pki");
    pki(&pki_dir, &["a1", "a2"]);
    pki(&other, &["a1"]);
    let c = Collector::start(
        &pki_dir,
        &dir.path().join("data"),
        "127.0.0.1:0",
        &["--max-batch-bytes", "65536"],
    );
    let ca = pki_dir.join("ca.pem");
    let id = |p: &std::path::Path, a: &str| {
        (
            p.join(format!("agents/{a}.pem")),
            p.join(format!("agents/{a}.key")),
        )
    };

    // No client certificate: the handshake completes, the ingest route refuses.
    let mut anon = client(c.addr, &ca, None);
    let r = post(&mut anon, &small_batch("a1", 0));
    assert_eq!(r.status, 401);
    assert!(
        r.error_text().contains("client certificate"),
        "{}",
        r.error_text()
    );

    // A certificate from another CA: the TLS handshake is refused (after connect returned).
    let (cert, key) = id(&other, "a1");
    let mut foreign = client(c.addr, &ca, Some((&cert, &key)));
    let e = foreign
        .request("POST", INGEST_PATH, &[], &small_batch("a1", 0))
        .expect_err("a foreign certificate must not get an answer");
    eprintln!("foreign CA refused: {e}");

    // A genuine agent claiming another agent's id.
    let (cert, key) = id(&pki_dir, "a2");
    let mut a2 = client(c.addr, &ca, Some((&cert, &key)));
    let r = post(&mut a2, &small_batch("a1", 0));
    assert_eq!(r.status, 403);
    assert!(r.error_text().contains("\"a1\""), "{}", r.error_text());

    // Garbage and oversized bodies: refused with a reason, on that connection only.
    let r = post(&mut a2, b"\x00\x01garbage{{{");
    assert_eq!(r.status, 400);
    assert!(
        r.error_text().contains("not valid JSON"),
        "{}",
        r.error_text()
    );
    let r = post(&mut a2, &vec![b' '; 200_000]);
    assert_eq!(r.status, 413);
    assert!(r.error_text().contains("65536"), "{}", r.error_text());
    // A raw TCP client sending nonsense instead of TLS.
    if let Ok(mut s) = std::net::TcpStream::connect(c.addr) {
        let _ = s.write_all(b"GET / HTTP/1.1\r\n\r\n\xff\xff\xff");
    }

    // The collector still serves, and the genuine batch of a1 is accepted once.
    let (cert, key) = id(&pki_dir, "a1");
    let mut a1 = client(c.addr, &ca, Some((&cert, &key)));
    for expected in [AckStatus::Accepted, AckStatus::Duplicate] {
        let r = post(&mut a1, &small_batch("a1", 0));
        assert_eq!(r.status, 200, "{}", r.error_text());
        let ack: Ack = serde_json::from_slice(&r.body).expect("ack");
        assert_eq!((ack.status, ack.seq), (expected, 0));
    }
    let inv = api_get(c.addr, &pki_dir, "/v1/inventory");
    let inv: serde_json::Value = serde_json::from_slice(&inv.body).expect("json");
    assert_eq!(inv["endpoints"].as_array().map(Vec::len), Some(1));
    assert_eq!(inv["endpoints"][0]["record"]["exchanges"], 1);
    let refused = "shadowtap_collector_batches_total{result=\"refused\"";
    let metrics = {
        let mut m = client(c.addr, &ca, None);
        String::from_utf8_lossy(
            &m.request("GET", "/metrics", &[], b"")
                .expect("metrics")
                .body,
        )
        .to_string()
    };
    // At least once each: a refused body may be sent twice, since the collector closes the
    // connection on a 413 and the client retries a request that died on a reused connection.
    for reason in ["no_certificate", "wrong_agent", "malformed", "too_large"] {
        let line = format!("{refused},reason=\"{reason}\"}} ");
        let n: u64 = metrics
            .lines()
            .find_map(|l| l.strip_prefix(&line))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        assert!(n >= 1, "{reason}: {metrics}");
    }
    assert!(
        metric(
            c.addr,
            &pki_dir,
            "shadowtap_collector_tls_handshake_failures_total"
        ) >= 1
    );
}

#[test]
fn collector_down_for_a_while_the_agent_spools_then_drains_exactly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki_dir = dir.path().join("pki");
    pki(&pki_dir, &["edge-1"]);
    let scan = scan_json();
    // A port with nobody listening (reserved, then released for the collector).
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let listen = format!("127.0.0.1:{port}");
    let metrics_port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let agent = agent_replay(dir.path(), &pki_dir, "edge-1", &format!("https://{listen}"))
        .args(["--metrics-listen", &format!("127.0.0.1:{metrics_port}")])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn agent");
    // The agent captures everything into its spool while the collector is away.
    let agent_metric = |name: &str| agent_metric(metrics_port, name);
    wait_until(
        "the agent to spool and fail sends",
        Duration::from_secs(120),
        || {
            agent_metric("shadowtap_agent_spool_batches ") > 100
                && agent_metric("shadowtap_agent_batches_failed_total ") >= 3
        },
    );
    let c = Collector::start(&pki_dir, &dir.path().join("data"), &listen, &[]);
    let out = agent.wait_with_output().expect("agent exits");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("spool left 0 (dropped 0)"), "{log}");
    assert_matches_scan(&report_json(&c, &pki_dir), &scan);
}

#[test]
fn collector_killed_mid_stream_loses_nothing_acknowledged_and_counts_nothing_twice() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki_dir = dir.path().join("pki");
    pki(&pki_dir, &["edge-1"]);
    let scan = scan_json();
    let data = dir.path().join("data");
    let c = Collector::start(&pki_dir, &data, "127.0.0.1:0", &[]);
    let listen = c.addr.to_string();
    let agent = agent_replay(dir.path(), &pki_dir, "edge-1", &c.url())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn agent");
    let accepted = "shadowtap_collector_batches_total{result=\"accepted\",reason=\"\"}";
    wait_until("some batches stored", Duration::from_secs(120), || {
        metric(c.addr, &pki_dir, accepted) >= 20
    });
    let before = metric(c.addr, &pki_dir, accepted);
    c.kill();
    eprintln!("collector SIGKILLed after acknowledging at least {before} batches");
    let c = Collector::start(&pki_dir, &data, &listen, &[]);
    let out = agent.wait_with_output().expect("agent exits");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("spool left 0 (dropped 0)"), "{log}");
    // The kill hit the stream: the agent saw sends fail and retried them.
    assert!(!log.contains("failed attempts 0,"), "{log}");
    // Exactly the scan's numbers: every batch applied once, none lost, none twice.
    assert_matches_scan(&report_json(&c, &pki_dir), &scan);
    let agents = api_get(c.addr, &pki_dir, "/v1/agents");
    let agents: serde_json::Value = serde_json::from_slice(&agents.body).expect("json");
    eprintln!("agents after restart: {agents}; agent log: {log}");
}

#[test]
fn a_batch_over_the_collectors_limit_is_split_to_fit_and_nothing_is_lost() {
    // A window whose batch is larger than the collector accepts used to be resent at the head
    // of the queue forever (413, or "broken pipe" when the collector closed mid-body), so no
    // later batch was ever delivered. Now the agent splits it to the advertised limit.
    let dir = tempfile::tempdir().expect("tempdir");
    let pki_dir = dir.path().join("pki");
    pki(&pki_dir, &["edge-1"]);
    let scan = scan_json();
    let limit = 8 * 1024;
    let c = Collector::start(
        &pki_dir,
        &dir.path().join("data"),
        "127.0.0.1:0",
        &["--max-batch-bytes", &limit.to_string()],
    );
    // One window for the whole capture: one batch of the demo's whole inventory, far over
    // the limit.
    let out = agent_replay(dir.path(), &pki_dir, "edge-1", &c.url())
        .args(["--window-secs", "100000"])
        .output()
        .expect("run agent");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("spool left 0 (dropped 0)"), "{log}");
    assert!(log.contains("set aside 0;"), "{log}");
    assert!(!log.contains(" split 0,"), "the batch was split: {log}");
    assert_matches_scan(&report_json(&c, &pki_dir), &scan);
    let too_large = "shadowtap_collector_batches_total{result=\"refused\",reason=\"too_large\"}";
    assert!(
        metric(c.addr, &pki_dir, too_large) >= 1,
        "refused once first"
    );
}

#[test]
fn a_batch_the_collector_refuses_as_malformed_is_set_aside_and_the_queue_moves_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki_dir = dir.path().join("pki");
    pki(&pki_dir, &["edge-1"]);
    let c = Collector::start(&pki_dir, &dir.path().join("data"), "127.0.0.1:0", &[]);
    // A spool whose oldest batch claims an absurd count (as a broken or hostile agent would
    // write it), followed by a good one.
    let spool_dir = dir.path().join("spool-edge-1");
    {
        let spool = agent::ship::spool::Spool::open(&spool_dir, Default::default()).expect("spool");
        for absurd in [true, false] {
            spool
                .push(|epoch, seq| {
                    let bytes = small_batch("edge-1", seq);
                    let mut b: analyzer::wire::Batch =
                        serde_json::from_slice(&bytes).expect("batch");
                    b.epoch = epoch;
                    if absurd {
                        b.inventory.endpoints[0].record.exchanges = u64::MAX - 57;
                    }
                    b
                })
                .expect("push");
        }
    }
    let out = agent_replay(dir.path(), &pki_dir, "edge-1", &c.url())
        .output()
        .expect("run agent");
    let log = String::from_utf8_lossy(&out.stderr);
    // The refused batch was not delivered: the agent says so and exits 6 (the rest went).
    assert_eq!(out.status.code(), Some(6), "{log}");
    assert!(
        log.contains("1 batch(es) not delivered (0 left in spool")
            && log.contains("1 refused for good and set aside")
            && log.contains("over the plausible maximum"),
        "{log}"
    );
    assert!(log.contains("set aside 1;"), "{log}");
    assert!(log.contains("spool left 0 (dropped 0)"), "{log}");
    let spool = agent::ship::spool::Spool::open(&spool_dir, Default::default()).expect("spool");
    assert_eq!(spool.set_aside_batches().expect("aside").len(), 1);
    // The good batch after it and the whole replay arrived: the demo plus the one ping.
    let report = report_json(&c, &pki_dir);
    let endpoints = report["endpoints"].as_array().expect("endpoints");
    assert!(
        endpoints
            .iter()
            .any(|e| e["host"] == "api.test" && e["exchanges"] == 1),
        "{report}"
    );
}

#[test]
fn a_large_body_over_the_limit_is_refused_before_it_is_sent() {
    // With `Expect: 100-continue` the collector answers 413 from the head alone: the agent
    // reads a refusal (and the limit) instead of "broken pipe" when the collector closes.
    let dir = tempfile::tempdir().expect("tempdir");
    let pki_dir = dir.path().join("pki");
    pki(&pki_dir, &["edge-1"]);
    let c = Collector::start(
        &pki_dir,
        &dir.path().join("data"),
        "127.0.0.1:0",
        &["--max-batch-bytes", "65536"],
    );
    let agents = pki_dir.join("agents");
    let mut client = client(
        c.addr,
        &pki_dir.join("ca.pem"),
        Some((&agents.join("edge-1.pem"), &agents.join("edge-1.key"))),
    );
    let huge = vec![b' '; 64 << 20];
    let started = std::time::Instant::now();
    let r = post(&mut client, &huge);
    assert_eq!(r.status, 413, "{}", r.error_text());
    assert_eq!(
        r.header(analyzer::wire::MAX_BATCH_HEADER),
        Some("65536"),
        "the limit is advertised"
    );
    eprintln!("64 MiB body refused in {:?}", started.elapsed());
    // The same client goes on working.
    let r = post(&mut client, &small_batch("edge-1", 0));
    assert_eq!(r.status, 200, "{}", r.error_text());
}

#[test]
fn clients_that_never_finish_tls_do_not_lock_agents_out() {
    // 1,100 sockets that connect and say nothing used to hold every connection slot for the
    // whole I/O timeout (30 s), refusing real agents. Now one address gets a few handshake
    // slots at most, handshakes time out sooner, and agents have a reserve.
    let dir = tempfile::tempdir().expect("tempdir");
    let pki_dir = dir.path().join("pki");
    pki(&pki_dir, &["edge-1"]);
    let config = dir.path().join("collector.toml");
    std::fs::write(&config, "[collector]\nmax_connections = 64\n").expect("config");
    let c = Collector::start(
        &pki_dir,
        &dir.path().join("data"),
        "127.0.0.1:0",
        &["--config", config.to_str().expect("utf-8 path")],
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // The flood comes from another loopback address than the agent.
    let flood: Vec<tokio::net::TcpStream> = rt.block_on(async {
        let mut held = Vec::new();
        for _ in 0..1_100 {
            let sock = tokio::net::TcpSocket::new_v4().expect("socket");
            sock.bind("127.0.0.2:0".parse().expect("addr"))
                .expect("bind");
            if let Ok(s) = sock.connect(c.addr).await {
                held.push(s);
            }
        }
        held
    });
    assert!(flood.len() > 64, "{} flood sockets connected", flood.len());
    let refused = "shadowtap_collector_connections_refused_total";
    wait_until("the flood is turned away", Duration::from_secs(30), || {
        // The API client is not part of the flood: it comes from 127.0.0.1.
        metric(c.addr, &pki_dir, refused) >= 1_000
    });
    let agents = pki_dir.join("agents");
    let mut client = client(
        c.addr,
        &pki_dir.join("ca.pem"),
        Some((&agents.join("edge-1.pem"), &agents.join("edge-1.key"))),
    );
    let r = post(&mut client, &small_batch("edge-1", 0));
    assert_eq!(r.status, 200, "{}", r.error_text());
    drop(flood);
}

#[test]
fn guessing_the_api_token_is_throttled_per_address() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki_dir = dir.path().join("pki");
    pki(&pki_dir, &["edge-1"]);
    let c = Collector::start(&pki_dir, &dir.path().join("data"), "127.0.0.1:0", &[]);
    let mut guesser = client(c.addr, &pki_dir.join("ca.pem"), None);
    let statuses: Vec<u16> = (0..15)
        .map(|i| {
            let auth = format!("Bearer wrong-guess-{i}");
            guesser
                .request("GET", "/v1/inventory", &[("Authorization", &auth)], b"")
                .expect("answer")
                .status
        })
        .collect();
    assert_eq!(&statuses[..10], &[401; 10], "{statuses:?}");
    assert!(statuses[10..].iter().all(|s| *s == 429), "{statuses:?}");
    // The right token from the same address waits out the window too: that is the point.
    let r = api_get(c.addr, &pki_dir, "/v1/inventory");
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), Some("60"));
    assert!(metric(c.addr, &pki_dir, "shadowtap_collector_auth_throttled_total") >= 5);
}

#[test]
fn replaying_the_same_capture_into_the_same_spool_is_refused_without_force() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki_dir = dir.path().join("pki");
    pki(&pki_dir, &["edge-1"]);
    let scan = scan_json();
    let c = Collector::start(&pki_dir, &dir.path().join("data"), "127.0.0.1:0", &[]);
    let first = agent_replay(dir.path(), &pki_dir, "edge-1", &c.url())
        .output()
        .expect("run agent");
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    // Again: it used to resend everything as a new run, doubling every count.
    let again = agent_replay(dir.path(), &pki_dir, "edge-1", &c.url())
        .output()
        .expect("run agent");
    let log = String::from_utf8_lossy(&again.stderr);
    assert_eq!(again.status.code(), Some(1), "{log}");
    assert!(
        log.contains("already replayed") && log.contains("--force-replay"),
        "{log}"
    );
    assert_matches_scan(&report_json(&c, &pki_dir), &scan);
    let forced = agent_replay(dir.path(), &pki_dir, "edge-1", &c.url())
        .arg("--force-replay")
        .output()
        .expect("run agent");
    let log = String::from_utf8_lossy(&forced.stderr);
    assert!(forced.status.success(), "{log}");
    assert!(log.contains("counted twice"), "{log}");
    let report = report_json(&c, &pki_dir);
    assert_eq!(
        report["summary"]["http_exchanges"].as_u64(),
        scan["summary"]["http_exchanges"].as_u64().map(|n| 2 * n)
    );
}
