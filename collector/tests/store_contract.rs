//! One contract, both stores: the same batches, resends, caps, reviews and imports give the
//! same results in the sled store and in PostgreSQL (a real server, started by
//! `pg_support`). Then what only a shared database can do: two collectors' stores writing at
//! once agree, and a server restarted mid-stream loses nothing that was acknowledged.

mod pg_support;

use analyzer::inventory::{Inventory, InventoryLimits};
use analyzer::observation::{Consumer, EndpointKey, Observation};
use analyzer::time::Timestamp;
use analyzer::tls::{TlsInventory, TlsObservation};
use analyzer::wire::{AckStatus, Batch, Payload};
use collector::review::{EventAction, ReviewEvent, ReviewState};
use collector::store::pg::PgStore;
use collector::store::{ImportOutcome, SledStore, Store, StoreError, StoreLimits};
use pg_support::PgServer;
use std::collections::BTreeMap;

fn obs(host: &str, path: &str, ts: i64, who: &str, status: u16) -> Observation {
    Observation {
        status: Some(status),
        ..Observation::bare(
            Timestamp(ts),
            EndpointKey {
                host: host.into(),
                method: "GET".into(),
                path: path.into(),
            },
            Consumer {
                address: who.into(),
                credential: None,
            },
        )
    }
}

fn batch(agent: &str, epoch: u64, seq: u64, paths: &[&str]) -> Batch {
    let mut inv = Inventory::default();
    for (i, p) in paths.iter().enumerate() {
        let status = if p.contains("missing") { 404 } else { 200 };
        inv.add(&obs(
            "api.bank",
            p,
            1_000 + (seq * 10 + i as u64) as i64,
            agent,
            status,
        ));
    }
    let counters = BTreeMap::from([("packets".to_string(), 10), ("bytes".to_string(), 999)]);
    Batch::new(agent, epoch, seq, &inv, counters)
}

fn tls_batch(agent: &str, seq: u64, hosts: &[&str]) -> Batch {
    let mut tls = TlsInventory::default();
    for (i, h) in hosts.iter().enumerate() {
        tls.add(&TlsObservation {
            ts: Timestamp(2_000 + i as i64),
            sni: Some((*h).to_string()),
            alpn: vec!["h2".into()],
            ja4: "t13d".into(),
            server_cert_subject: None,
            client_cert_subject: None,
            consumer: "addr:10.0.0.1".into(),
            server_alpn: None,
        });
    }
    Batch::of_payload(
        agent,
        1,
        seq,
        Payload {
            tls,
            ..Default::default()
        },
    )
}

fn review(id: &str, action: EventAction, at: u64) -> ReviewEvent {
    ReviewEvent {
        finding: id.into(),
        seq: 0,
        action,
        state: match action {
            EventAction::Reopen => ReviewState::Open,
            EventAction::Suppress => ReviewState::Suppressed,
            _ => ReviewState::Accepted,
        },
        by: "ana".into(),
        at,
        reason: "pen test".into(),
        expires: (action == EventAction::Suppress).then_some(at + 50),
    }
}

/// What a store shows: everything the API, dashboard and reports read. Trail sequence
/// numbers are the store's own, so they are left out.
#[derive(Debug, PartialEq)]
struct View {
    inventory: Inventory,
    tls: TlsInventory,
    counters: BTreeMap<String, u64>,
    agents: BTreeMap<String, collector::store::AgentState>,
    endpoints: u64,
    reviews: BTreeMap<String, collector::review::ReviewRecord>,
    trail: Vec<(String, EventAction, u64, String)>,
}

fn view(s: &dyn Store) -> View {
    View {
        inventory: s.inventory().expect("inventory"),
        tls: s.tls().expect("tls"),
        counters: s.counters().expect("counters"),
        agents: s.agents().expect("agents"),
        endpoints: s.endpoint_count().expect("count"),
        reviews: s.reviews().expect("reviews"),
        trail: s
            .review_events(None)
            .expect("trail")
            .into_iter()
            .map(|e| (e.finding, e.action, e.at, e.by))
            .collect(),
    }
}

/// Outcome of one step, comparable across stores (errors by their message).
fn outcome<T: std::fmt::Debug>(r: Result<T, StoreError>) -> String {
    match r {
        Ok(v) => format!("ok {v:?}"),
        Err(e) => format!("err {e}"),
    }
}

/// The contract: a sequence of batches (with resends, older seqs, a second run, TLS hosts, a
/// NUL-free hostile-looking path), caps, and review actions, applied to `s`. Returns each
/// step's outcome, for comparing stores.
fn run_contract(s: &dyn Store) -> Vec<String> {
    let mut out = Vec::new();
    let b0 = batch("a1", 1, 0, &["/accounts", "/accounts", "/cards/{id}"]);
    out.push(outcome(s.apply(&b0)));
    out.push(outcome(s.apply(&b0))); // resend: a no-op
    out.push(outcome(s.apply(&batch(
        "a1",
        1,
        1,
        &["/accounts", "/missing1"],
    ))));
    out.push(outcome(s.apply(&batch("a1", 0, 9, &["/old"])))); // older epoch: a no-op
    let mut run = batch("a1", 2, 0, &["/payments", "/x'; DROP TABLE endpoints;--"]);
    run.run_id = "0123456789abcdef0123456789abcdef".into();
    out.push(outcome(s.apply(&run)));
    out.push(outcome(s.apply(&run)));
    out.push(outcome(s.apply(&batch("a2", 1, 0, &["/accounts", "/fx"]))));
    out.push(outcome(s.apply(&tls_batch(
        "a2",
        1,
        &["api.bank", "sso.bank"],
    ))));
    out.push(outcome(s.apply(&tls_batch("a2", 2, &["api.bank"]))));
    // Past the endpoint cap (4 in the limits below): shed and counted.
    out.push(outcome(s.apply(&batch(
        "a2",
        1,
        3,
        &["/e1", "/e2", "/accounts"],
    ))));
    // Past the agent cap (2).
    out.push(outcome(s.apply(&batch("a3", 1, 0, &["/accounts"]))));
    // Reviews: the cap (2 records), replacing, reopening, expiry.
    let (f1, f2, f3) = ("1111111111111111", "2222222222222222", "3333333333333333");
    out.push(outcome(
        s.record_review(&review(f1, EventAction::Accept, 10))
            .map(|_| ()),
    ));
    out.push(outcome(
        s.record_review(&review(f2, EventAction::Suppress, 11))
            .map(|_| ()),
    ));
    out.push(outcome(
        s.record_review(&review(f3, EventAction::Accept, 12))
            .map(|_| ()),
    ));
    out.push(outcome(
        s.record_review(&review(f1, EventAction::Reopen, 13))
            .map(|_| ()),
    ));
    out.push(outcome(
        s.record_review(&review(f3, EventAction::Accept, 14))
            .map(|_| ()),
    ));
    out.push(outcome(s.expire_reviews(30)));
    out.push(outcome(s.expire_reviews(100)));
    out.push(outcome(s.expire_reviews(200)));
    out
}

fn limits() -> StoreLimits {
    StoreLimits {
        inventory: InventoryLimits {
            max_endpoints: 4,
            max_names: 10,
        },
        max_agents: 2,
        max_reviews: 2,
        ..StoreLimits::default()
    }
}

#[test]
fn sled_and_postgres_keep_the_same_inventory_for_the_same_batches() {
    let pg = PgServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let sled = SledStore::open(dir.path(), limits()).expect("sled");
    let postgres = PgStore::open(&pg.database("contract"), limits()).expect("postgres");

    let steps_sled = run_contract(&sled);
    let steps_pg = run_contract(&postgres);
    assert_eq!(steps_sled, steps_pg, "every step has the same outcome");
    // The contract exercises what it claims to.
    assert!(steps_sled[1].contains("Duplicate") && steps_sled[3].contains("Duplicate"));
    assert!(
        steps_sled[10].contains("agent limit of 2"),
        "{}",
        steps_sled[10]
    );
    assert!(
        steps_sled[13].contains("review limit"),
        "{}",
        steps_sled[13]
    );
    let v = view(&postgres);
    assert_eq!(v, view(&sled), "identical inventories");
    assert_eq!(v.endpoints, 4);
    assert!(
        v.inventory.dropped_observations >= 2,
        "shed endpoints counted"
    );
    assert_eq!(
        v.counters["packets"], 50,
        "5 accepted batches with counters"
    );
    assert_eq!(v.tls.hosts["api.bank"].connections, 2);
    assert_eq!(
        v.trail
            .iter()
            .filter(|e| e.1 == EventAction::Expire)
            .count(),
        1,
        "one expiry, recorded once"
    );

    // The sled store migrates into PostgreSQL: export, import, same view; once only.
    let export = dir.path().join("export.jsonl");
    let mut f = std::fs::File::create(&export).expect("create");
    sled.export_jsonl(&mut f).expect("export");
    drop(f);
    let migrated = PgStore::open(&pg.database("migrated"), limits()).expect("postgres");
    assert!(!migrated.holds_data().expect("empty"));
    assert!(matches!(
        migrated.import_file(&export).expect("import"),
        ImportOutcome::Imported(_)
    ));
    assert_eq!(
        migrated.import_file(&export).expect("again"),
        ImportOutcome::AlreadyImported
    );
    assert!(migrated.holds_data().expect("full"));
    // An import adds counts, so a counter at 0 (the age-out sweep's) is not created by it,
    // in either store: compare without zeros.
    let nonzero = |mut v: View| {
        v.counters.retain(|_, n| *n > 0);
        v
    };
    assert_eq!(view(&migrated), nonzero(view(&sled)));
    // The imported marks still deduplicate.
    assert_eq!(
        migrated.apply(&batch("a2", 1, 0, &["/fx"])).expect("apply"),
        AckStatus::Duplicate
    );
    // And a PostgreSQL export is the same document as sled's, but for sled's per-agent
    // contributions (PostgreSQL keeps none yet).
    let (mut a, mut b) = (Vec::new(), Vec::new());
    sled.export_jsonl(&mut a).expect("export");
    migrated.export_jsonl(&mut b).expect("export");
    let strip_seq = |v: &[u8]| -> Vec<serde_json::Value> {
        String::from_utf8_lossy(v)
            .lines()
            .filter(|l| !(l.contains("\"counter\"") && l.contains("\"value\":0}")))
            .filter(|l| !l.starts_with("{\"contribution\""))
            .map(|l| {
                let mut j: serde_json::Value = serde_json::from_str(l).expect("json line");
                if let Some(e) = j.get_mut("review_event").and_then(|e| e.get_mut("event")) {
                    e["seq"] = 0.into();
                }
                j
            })
            .collect()
    };
    assert_eq!(strip_seq(&a), strip_seq(&b));
}

#[test]
fn postgres_schema_is_versioned_and_reopening_keeps_everything() {
    let pg = PgServer::start();
    let url = pg.database("reopen");
    {
        let s = PgStore::open(&url, StoreLimits::default()).expect("open");
        s.apply(&batch("a1", 1, 0, &["/x"])).expect("apply");
    }
    let s = PgStore::open(&url, StoreLimits::default()).expect("reopen: migrations once");
    assert_eq!(
        s.apply(&batch("a1", 1, 0, &["/x"])).expect("apply"),
        AckStatus::Duplicate
    );
    let mut c = postgres::Client::connect(&url, postgres::NoTls).expect("connect");
    let versions: Vec<i32> = c
        .query("SELECT version FROM schema_version ORDER BY version", &[])
        .expect("schema_version")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(versions, [1, 2, 3]);
    // A database at version 1 whose Kafka consumer had already created `kafka_offsets` itself
    // (as collectors before migration 2 did) takes the later migrations without error.
    c.batch_execute(
        "DELETE FROM schema_version WHERE version >= 2; DROP TABLE collector_catalogues",
    )
    .expect("back to version 1, kafka_offsets kept");
    drop(PgStore::open(&url, StoreLimits::default()).expect("migrate 1 -> 3 over the table"));
    let at: i32 = c
        .query_one("SELECT max(version) FROM schema_version", &[])
        .expect("schema_version")
        .get(0);
    assert_eq!(at, 3);
    // A database from a newer shadowtap is refused with a clear error.
    c.execute("INSERT INTO schema_version (version) VALUES (99)", &[])
        .expect("bump");
    let err = PgStore::open(&url, StoreLimits::default())
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("schema_version") && err.contains("99") && err.contains("127.0.0.1"),
        "{err}"
    );
    // A server that is not there: an error naming it, not a panic.
    let gone = format!("postgres://shadowtap:s3cret@127.0.0.1:{}/x", pg.port);
    drop(pg);
    let err = PgStore::open(&gone, StoreLimits::default())
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("127.0.0.1") && err.contains("connect"),
        "{err}"
    );
    assert!(!err.contains("s3cret"), "no password in errors: {err}");
}

#[test]
fn two_collectors_sharing_one_database_agree_while_writing_at_once() {
    let pg = PgServer::start();
    let url = pg.database("shared");
    let one = PgStore::open(&url, StoreLimits::default()).expect("collector one");
    let two = PgStore::open(&url, StoreLimits::default()).expect("collector two");
    // Four agents, 30 batches each, overlapping endpoints; every batch is sent to both
    // collectors at once (an agent failing over resends), from eight threads.
    let agents = ["a1", "a2", "a3", "a4"];
    let batches: Vec<Batch> = agents
        .iter()
        .flat_map(|a| {
            (0..30u64).map(move |seq| {
                let p = format!("/shared/{}", seq % 7);
                let q = format!("/{a}/{}", seq % 3);
                batch(a, 1, seq, &[p.as_str(), q.as_str()])
            })
        })
        .collect();
    let accepted = std::sync::atomic::AtomicU64::new(0);
    std::thread::scope(|sc| {
        for (i, store) in [&one, &two, &one, &two, &one, &two, &one, &two]
            .into_iter()
            .enumerate()
        {
            let (batches, accepted) = (&batches, &accepted);
            sc.spawn(move || {
                // Threads of one agent go in seq order; each thread owns half an agent's
                // sends to one collector.
                for b in batches.iter().filter(|b| agents[i / 2] == b.agent_id) {
                    if store.apply(b).expect("apply") == AckStatus::Accepted {
                        accepted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            });
        }
    });
    // Each batch counted once, whichever collector took it.
    assert_eq!(
        accepted.load(std::sync::atomic::Ordering::Relaxed),
        batches.len() as u64
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let reference = SledStore::open(dir.path(), StoreLimits::default()).expect("sled");
    for b in &batches {
        reference.apply(b).expect("apply");
    }
    let v = view(&one);
    assert_eq!(v, view(&two), "ingest on one, report from the other");
    assert_eq!(v, view(&reference), "and both equal one store fed once");
    assert_eq!(v.inventory.exchanges(), 240);
}

#[test]
fn postgres_restarted_mid_stream_loses_nothing_acknowledged() {
    let pg = PgServer::start();
    let url = pg.database("restart");
    let store = PgStore::open(&url, StoreLimits::default()).expect("open");
    let batches: Vec<Batch> = (0..40u64)
        .map(|seq| {
            let p = format!("/r/{}", seq % 9);
            batch("a1", 1, seq, &[p.as_str()])
        })
        .collect();
    // An agent's loop: send, and on an error resend the same batch later (its spool).
    let mut acked = Vec::new();
    let mut failures = 0;
    let mut next = 0;
    while next < batches.len() {
        match next {
            // A clean restart: every idle connection of the pool is closed under it.
            10 if failures == 0 => {
                pg.down(true);
                pg.up();
            }
            // A crash while the store is down: calls fail with an error, then resume.
            25 if failures == 0 => pg.down(false),
            _ => {}
        }
        match store.apply(&batches[next]) {
            Ok(status) => {
                acked.push((next, status));
                next += 1;
                failures = 0;
            }
            Err(e) => {
                let msg = e.to_string();
                assert!(msg.contains("PostgreSQL store at"), "{msg}");
                failures += 1;
                assert!(failures < 3, "still failing after the restart: {msg}");
                assert!(!pg.is_up(), "a running server's restart is absorbed: {msg}");
                pg.up();
            }
        }
    }
    assert_eq!(acked.len(), 40);
    assert!(acked.iter().all(|(_, s)| *s == AckStatus::Accepted));
    let inv = store.inventory().expect("inventory");
    assert_eq!(
        inv.exchanges(),
        40,
        "every acknowledged batch is there, once"
    );
    assert_eq!(store.agents().expect("agents")["a1"].batches, 40);
}

mod served {
    //! Two collectors (their HTTP state and routes) over one database: a batch ingested
    //! through one is in the other's report, though the other had its analysis cached.

    use super::pg_support::PgServer;
    use analyzer::catalogue::Catalogue;
    use analyzer::classify::Classifier;
    use analyzer::wire::INGEST_PATH;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use collector::config::CollectorSettings;
    use collector::server::{router, AppState, Peer};
    use collector::store::pg::PgStore;
    use std::sync::Arc;
    use tower::ServiceExt;

    async fn collector(url: String) -> Arc<AppState> {
        tokio::task::spawn_blocking(move || {
            let settings = CollectorSettings::default();
            let store = PgStore::open(&url, settings.store_limits()).expect("open");
            AppState::new(
                settings,
                Classifier::builtin(),
                Arc::new(store),
                Catalogue::default(),
            )
        })
        .await
        .expect("join")
    }

    async fn report(st: &Arc<AppState>) -> serde_json::Value {
        let st = Arc::clone(st);
        tokio::task::spawn_blocking(move || {
            serde_json::to_value(st.report().expect("report")).expect("json")
        })
        .await
        .expect("join")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_batch_ingested_by_one_collector_is_reported_by_the_other() {
        let (pg, url) = tokio::task::spawn_blocking(|| {
            let pg = PgServer::start();
            let url = pg.database("fleet");
            (pg, url)
        })
        .await
        .expect("join");
        let (one, two) = (collector(url.clone()).await, collector(url).await);
        let empty = report(&two).await;
        for seq in 0..3 {
            let path = format!("/v1/accounts/{seq}/balances");
            let body = super::batch("a1", 1, seq, &[path.as_str(), "/v1/fx"]).encode();
            let mut req = Request::post(INGEST_PATH)
                .body(Body::from(body))
                .expect("request");
            req.extensions_mut().insert(Peer(Some("a1".into())));
            let status = router(Arc::clone(&one))
                .oneshot(req)
                .await
                .expect("infallible")
                .status();
            assert_eq!(status, StatusCode::OK);
        }
        let (from_one, from_two) = (report(&one).await, report(&two).await);
        assert_ne!(
            from_two, empty,
            "the other collector's cache did not hide the batches"
        );
        assert_eq!(from_one, from_two, "both collectors serve the same report");
        let text = from_two.to_string();
        assert!(text.contains("/v1/fx"), "{text}");
        tokio::task::spawn_blocking(move || drop(pg))
            .await
            .expect("join");
    }
}

/// Not a test: a measurement (`cargo test --release -p collector --test store_contract --
/// --ignored --nocapture`). Batches of 20 endpoints (a 200-endpoint working set) merged into
/// PostgreSQL by one store, then by two stores at once (two collectors), and into sled.
#[test]
#[ignore]
fn measure_batches_per_second_merged() {
    let pg = PgServer::start();
    let make = |agent: &str, n: u64| -> Vec<Batch> {
        (0..n)
            .map(|seq| {
                let paths: Vec<String> = (0..20)
                    .map(|i| format!("/m/{}", (seq * 7 + i) % 200))
                    .collect();
                let refs: Vec<&str> = paths.iter().map(String::as_str).collect();
                batch(agent, 1, seq, &refs)
            })
            .collect()
    };
    let rate = |label: &str, batches: usize, f: &dyn Fn()| {
        let t = std::time::Instant::now();
        f();
        let secs = t.elapsed().as_secs_f64();
        eprintln!(
            "{label}: {batches} batches in {secs:.2} s = {:.0} batches/s, {:.0} observations/s",
            batches as f64 / secs,
            batches as f64 * 20.0 / secs
        );
    };
    let one = PgStore::open(&pg.database("bench1"), StoreLimits::default()).expect("open");
    let b1 = make("a1", 1000);
    rate("postgres, one collector", b1.len(), &|| {
        for b in &b1 {
            one.apply(b).expect("apply");
        }
    });
    let url = pg.database("bench2");
    let stores = [
        PgStore::open(&url, StoreLimits::default()).expect("open"),
        PgStore::open(&url, StoreLimits::default()).expect("open"),
    ];
    let (ba, bb) = (make("a1", 500), make("a2", 500));
    rate("postgres, two collectors at once", 1000, &|| {
        std::thread::scope(|sc| {
            for (s, bs) in stores.iter().zip([&ba, &bb]) {
                sc.spawn(move || {
                    for b in bs.iter() {
                        s.apply(b).expect("apply");
                    }
                });
            }
        });
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let sled = SledStore::open(dir.path(), StoreLimits::default()).expect("sled");
    rate("sled (flushes each batch)", b1.len(), &|| {
        for b in &b1 {
            sled.apply(b).expect("apply");
        }
    });
}
