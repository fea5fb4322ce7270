//! The fleet through Kafka, end to end with the real binary, a real PostgreSQL 15 and a real
//! Kafka-protocol broker (Tansu) on loopback: agents publish batches to a topic, collectors
//! consume it as one consumer group into one database, committing each batch with its offset.

mod fleet_support;
mod kafka_support;
#[path = "../collector/tests/pg_support/mod.rs"]
mod pg_support;

use collector::store::pg::PgStore;
use fleet_support::*;
use kafka_support::{free_port, Broker};
use pg_support::PgServer;
use std::ffi::OsStr;
use std::path::Path;
use std::time::{Duration, Instant};

const TOPIC: &str = "shadowtap-batches";
const GROUP: &str = "collectors";

/// What most tests here start with: PostgreSQL with database `kafka`, a broker with the topic
/// in 4 partitions, scan's report of the demo capture, and a PKI for `agents` in `dir`.
struct Rig {
    dir: tempfile::TempDir,
    pg: PgServer,
    url: String,
    broker: Broker,
    scan: serde_json::Value,
    pki_dir: std::path::PathBuf,
}

fn rig(agents: &[&str]) -> Rig {
    let dir = tempfile::tempdir().expect("tempdir");
    let pg = PgServer::start();
    let url = pg.database("kafka");
    let broker = Broker::start(TOPIC, 4);
    let scan = scan_json();
    let pki_dir = dir.path().join("pki");
    pki(&pki_dir, agents);
    Rig {
        dir,
        pg,
        url,
        broker,
        scan,
        pki_dir,
    }
}

fn consuming_collector(pki: &Path, url: &str, broker: &Broker) -> Collector {
    let store = [OsStr::new("--store"), OsStr::new(url)];
    let brokers = broker.brokers();
    let kafka = [
        "--kafka-brokers",
        brokers.as_str(),
        "--kafka-topic",
        TOPIC,
        "--kafka-group",
        GROUP,
    ];
    Collector::start_on(pki, &store, "127.0.0.1:0", &demo_catalog(), &kafka)
}

/// Replay `capture` as `agent` into the topic; the number of batches the broker acknowledged.
fn publish(dir: &Path, pki: &Path, agent: &str, capture: &Path, broker: &Broker) -> u64 {
    let out = agent_replay_of(dir, pki, agent, "", capture)
        .args(["--kafka-brokers", &broker.brokers(), "--kafka-topic", TOPIC])
        .output()
        .expect("run agent");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "agent {agent}: {log}");
    assert!(
        log.contains("spool left 0 (dropped 0)"),
        "agent {agent}: {log}"
    );
    batches_sent(&log)
}

/// Messages of the topic consumed into the database (the sum of the stored next offsets: Tansu
/// numbers each partition from 0).
fn consumed(store: &PgStore) -> u64 {
    store
        .consumed_offsets(GROUP, TOPIC)
        .expect("read consumed offsets")
        .values()
        .map(|n| *n as u64)
        .sum()
}

fn accepted(c: &Collector, pki: &Path) -> u64 {
    metric(
        c.addr,
        pki,
        "shadowtap_collector_batches_total{result=\"accepted\",reason=\"\"}",
    )
}

#[test]
fn two_agents_two_collectors_in_one_group_report_what_scan_reports() {
    let Rig {
        dir,
        pg: _pg,
        url,
        broker,
        scan,
        pki_dir,
    } = rig(&["e1", "e2"]);
    let halves = split_by_flow(&demo_pcap(), dir.path(), 2);
    let one = consuming_collector(&pki_dir, &url, &broker);
    let two = consuming_collector(&pki_dir, &url, &broker);
    let started = Instant::now();
    let sent: u64 = ["e1", "e2"]
        .iter()
        .zip(&halves)
        .map(|(agent, half)| publish(dir.path(), &pki_dir, agent, half, &broker))
        .sum();
    let published = started.elapsed();
    let store = PgStore::open(&url, Default::default()).expect("open the store");
    wait_until("every message consumed", Duration::from_secs(180), || {
        consumed(&store) == sent
    });
    // A figure for the README, not an assertion.
    eprintln!(
        "measured: {sent} batches published in {published:?}, all in PostgreSQL after {:?}",
        started.elapsed()
    );
    // Every batch applied exactly once, by one collector or the other.
    assert_eq!(accepted(&one, &pki_dir) + accepted(&two, &pki_dir), sent);
    assert_matches_scan(&report_json(&one, &pki_dir), &scan);
    assert_matches_scan(&report_json(&two, &pki_dir), &scan);
}

#[test]
fn a_collector_killed_mid_stream_is_taken_over_and_totals_stay_exact() {
    let Rig {
        dir,
        pg: _pg,
        url,
        broker,
        scan,
        pki_dir,
    } = rig(&["e1"]);
    // The whole capture waits in the topic before any collector runs.
    let sent = publish(dir.path(), &pki_dir, "e1", &demo_pcap(), &broker);
    let store = PgStore::open(&url, Default::default()).expect("open the store");
    let one = consuming_collector(&pki_dir, &url, &broker);
    wait_until(
        "the first collector's first batches",
        Duration::from_secs(120),
        || accepted(&one, &pki_dir) >= 5,
    );
    one.kill();
    // What the killed collector committed is final now.
    let by_one = consumed(&store);
    assert!(
        by_one < sent,
        "the kill hit the stream ({by_one} of {sent} consumed)"
    );
    let two = consuming_collector(&pki_dir, &url, &broker);
    let started = Instant::now();
    wait_until("the rest consumed", Duration::from_secs(180), || {
        consumed(&store) == sent
    });
    eprintln!(
        "measured: the second collector applied {} batches in {:?} (group join included)",
        sent - by_one,
        started.elapsed()
    );
    // The second collector applied exactly what the first had not: nothing lost, nothing twice.
    assert_eq!(accepted(&two, &pki_dir), sent - by_one);
    assert_matches_scan(&report_json(&two, &pki_dir), &scan);
}

/// The number after "batches sent " in an agent's closing log line.
fn batches_sent(log: &str) -> u64 {
    log.split("batches sent ")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("the agent says how many batches it sent: {log}"))
}

#[test]
fn a_broker_frozen_mid_stream_makes_agents_spool_then_drain_and_totals_stay_exact() {
    let Rig {
        dir,
        pg: _pg,
        url,
        broker,
        scan,
        pki_dir,
    } = rig(&["e1"]);
    // The consumer runs throughout: it sees the frozen broker too.
    let c = consuming_collector(&pki_dir, &url, &broker);
    let metrics_port = free_port();
    let agent = agent_replay_of(dir.path(), &pki_dir, "e1", "", &demo_pcap())
        .args(["--kafka-brokers", &broker.brokers(), "--kafka-topic", TOPIC])
        .args(["--metrics-listen", &format!("127.0.0.1:{metrics_port}")])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn agent");
    let agent_metric = |name: &str| agent_metric(metrics_port, name);
    wait_until(
        "the agent's first batches acknowledged",
        Duration::from_secs(120),
        || agent_metric("shadowtap_agent_batches_sent_total ") >= 20,
    );
    broker.freeze();
    let sent_before = agent_metric("shadowtap_agent_batches_sent_total ");
    // Deliveries time out (the agent's timeout is 5 s); batches wait in the spool. Two
    // failures: by the second, librdkafka's own request timeout has fired with the message in
    // flight, so it bumps the producer's epoch, which this broker answers by fencing the
    // producer once it runs again (a producer that is never replaced never delivers again).
    wait_until(
        "the agent's sends to fail against the frozen broker",
        Duration::from_secs(120),
        || agent_metric("shadowtap_agent_batches_failed_total ") >= 2,
    );
    let spooled = agent_metric("shadowtap_agent_spool_batches ");
    broker.thaw();
    let out = agent.wait_with_output().expect("agent exits");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("spool left 0 (dropped 0)"), "{log}");
    let sent = batches_sent(&log);
    assert!(
        sent_before < sent && spooled > 0,
        "the freeze hit the stream: {sent_before} of {sent} sent before it, {spooled} spooled"
    );
    let store = PgStore::open(&url, Default::default()).expect("open the store");
    // At least: a publish that timed out while the broker was frozen may have been appended
    // once it ran again, then published again (the copy is a duplicate for the store).
    wait_until("every message consumed", Duration::from_secs(180), || {
        consumed(&store) >= sent
    });
    assert_matches_scan(&report_json(&c, &pki_dir), &scan);
}

#[test]
fn postgresql_restarted_under_a_consuming_collector_loses_nothing_and_counts_nothing_twice() {
    let Rig {
        dir,
        pg,
        url,
        broker,
        scan,
        pki_dir,
    } = rig(&["e1"]);
    let sent = publish(dir.path(), &pki_dir, "e1", &demo_pcap(), &broker);
    let c = consuming_collector(&pki_dir, &url, &broker);
    wait_until(
        "the collector's first batches",
        Duration::from_secs(120),
        || accepted(&c, &pki_dir) >= 5,
    );
    // A crash: no clean shutdown, recovery from the WAL on the next start.
    pg.down(false);
    let retries = || {
        metric(
            c.addr,
            &pki_dir,
            "shadowtap_collector_kafka_store_retries_total ",
        )
    };
    wait_until(
        "the consumer to retry against the stopped database",
        Duration::from_secs(60),
        || retries() >= 3,
    );
    pg.up();
    let store = PgStore::open(&url, Default::default()).expect("open the store");
    wait_until("every message consumed", Duration::from_secs(180), || {
        consumed(&store) == sent
    });
    // Nothing lost and nothing counted twice: the totals are exactly scan's. (A batch whose
    // commit the crash hid from the collector is "consumed before" on its retry, so the
    // collector's own accepted count may be lower than `sent`, never higher.)
    assert!(accepted(&c, &pki_dir) <= sent);
    assert_matches_scan(&report_json(&c, &pki_dir), &scan);
}

#[test]
fn agents_spool_while_the_broker_is_away_then_drain_and_totals_stay_exact() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pg = PgServer::start();
    let url = pg.database("kafka");
    let scan = scan_json();
    let pki_dir = dir.path().join("pki");
    pki(&pki_dir, &["e1"]);
    let port = free_port();
    let metrics_port = free_port();
    let agent = agent_replay_of(dir.path(), &pki_dir, "e1", "", &demo_pcap())
        .args(["--kafka-brokers", &format!("127.0.0.1:{port}")])
        .args(["--kafka-topic", TOPIC])
        .args(["--metrics-listen", &format!("127.0.0.1:{metrics_port}")])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn agent");
    let agent_metric = |name: &str| agent_metric(metrics_port, name);
    // No broker yet: the agent spools everything and its sends fail.
    wait_until(
        "the agent to spool and fail sends",
        Duration::from_secs(120),
        || {
            agent_metric("shadowtap_agent_spool_batches ") > 20
                && agent_metric("shadowtap_agent_batches_failed_total ") >= 2
        },
    );
    let broker = Broker::start_at(port, TOPIC, 4);
    let out = agent.wait_with_output().expect("agent exits");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("spool left 0 (dropped 0)"), "{log}");
    let sent = batches_sent(&log);
    let c = consuming_collector(&pki_dir, &url, &broker);
    let store = PgStore::open(&url, Default::default()).expect("open the store");
    // At least: a publish whose acknowledgement timed out as the broker came up may have been
    // appended and then published again (the copy is a duplicate for the store).
    wait_until("every message consumed", Duration::from_secs(180), || {
        consumed(&store) >= sent
    });
    assert_matches_scan(&report_json(&c, &pki_dir), &scan);
}
