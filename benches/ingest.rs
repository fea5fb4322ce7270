//! Criterion benchmark of collector ingest: how many batches and observations per second the
//! collector stores, (a) through the whole HTTPS + mTLS path from one agent connection, and
//! (b) into the sled store alone. Every batch is made durable (fsync) before its acknowledgement,
//! so these are honest "acknowledged as stored" rates.
//!
//! Batches are the demo capture aggregated per 1 s window (about 430 batches of ~4.5
//! observations) and the whole capture as one batch (1,940 observations), the two ends of the
//! window-length trade-off. Observations/s = batches/s x observations per batch (printed).
//!
//! (c) The same window batches merged into PostgreSQL (a real PostgreSQL 15 started for the
//! bench, as the tests start one), by one collector's store and by two stores on one database
//! writing at once from two threads, as two collectors of a fleet do: every write holds the
//! database's advisory write lock, so the second collector buys availability, not merges/s.
//! Skipped, with a message, where PostgreSQL 15 is not installed.

use agent::analysis::AnalysisSink;
use agent::pipeline::{Pipeline, PipelineConfig};
use agent::ship::aggregator::{Sealed, Window};
use agent::ship::client::{client_config, CollectorUrl, HttpsClient};
use agent::source::file::FileSource;
use agent::source::FrameSource;
use analyzer::classify::Classifier;
use analyzer::consumer::ConsumerConfig;
use analyzer::inventory::{Inventory, InventoryLimits};
use analyzer::observe::Observer;
use analyzer::template::Templater;
use analyzer::wire::{Batch, INGEST_PATH};
use collector::config::CollectorSettings;
use collector::store::{SledStore, Store, StoreLimits};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The demo capture as per-second windows, and as one window.
fn windows() -> (Vec<Inventory>, Inventory) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let loaded = collector::catalogue_files::load_catalogue(&[root.join("fixtures/demo/catalog")])
        .expect("catalogue");
    let observer = Observer::new(
        Templater::new(loaded.catalogue.routes()),
        Classifier::builtin(),
        ConsumerConfig::new(b"bench", false),
    );
    let mut source =
        FileSource::open(&root.join("fixtures/demo/openbanking.pcap")).expect("demo capture");
    let mut window = Window::new(1);
    let sink = AnalysisSink::new(&observer, InventoryLimits::default());
    let mut p = Pipeline::new(PipelineConfig::default(), sink);
    let mut out = Vec::new();
    while let Some(frame) = source.next_frame().expect("read") {
        p.feed(&frame);
        if window.due(frame.ts) {
            let stats = p.stats();
            let Sealed { inventory, .. } = window.seal(p.sink_mut(), &stats);
            out.push(inventory);
        }
    }
    let (mut sink, stats) = p.finish();
    out.push(window.seal(&mut sink, &stats).inventory);
    out.retain(|i| !i.endpoints.is_empty());
    let mut whole = Inventory::default();
    for w in &out {
        whole.merge(w);
    }
    (out, whole)
}

fn ingest(c: &mut Criterion) {
    let (small, whole) = windows();
    let small_obs: u64 = small.iter().map(|i| i.exchanges()).sum();
    eprintln!(
        "ingest bench: {} window batches, {:.1} observations per batch; whole-capture batch: {} observations",
        small.len(),
        small_obs as f64 / small.len() as f64,
        whole.exchanges()
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = dir.path().join("pki");
    collector::pki::init(
        &pki,
        &collector::pki::PkiPlan {
            collector_names: vec!["localhost".into(), "127.0.0.1".into()],
            agents: vec!["bench".into()],
            days: 2,
        },
    )
    .expect("pki");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let settings = CollectorSettings {
        listen: "127.0.0.1:0".into(),
        data: dir.path().join("data"),
        cert: pki.join("collector.pem"),
        key: pki.join("collector.key"),
        ca: pki.join("ca.pem"),
        ..CollectorSettings::default()
    };
    let running = rt
        .block_on(collector::server::start(settings, Classifier::builtin()))
        .expect("collector");
    let tls = client_config(
        &pki.join("ca.pem"),
        Some((&pki.join("agents/bench.pem"), &pki.join("agents/bench.key"))),
    )
    .expect("client tls");
    let url = CollectorUrl::parse(&format!("https://{}", running.addr)).expect("url");
    let mut client = HttpsClient::new(url, tls, Duration::from_secs(30));
    let seq = AtomicU64::new(0);
    let next = |inv: &Inventory| {
        Batch::new(
            "bench",
            1,
            seq.fetch_add(1, Ordering::Relaxed),
            inv,
            Default::default(),
        )
        .encode()
    };

    let mut group = c.benchmark_group("ingest");
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(8));
    group.throughput(Throughput::Elements(1));
    let mut i = 0usize;
    group.bench_function("https_mtls_window_batch", |b| {
        b.iter_batched(
            || {
                i = (i + 1) % small.len();
                next(&small[i])
            },
            |body| {
                let r = client
                    .request("POST", INGEST_PATH, &[], &body)
                    .expect("post");
                assert_eq!(r.status, 200, "{}", r.error_text());
            },
            BatchSize::SmallInput,
        )
    });
    group.bench_function("https_mtls_whole_capture_batch", |b| {
        b.iter_batched(
            || next(&whole),
            |body| {
                let r = client
                    .request("POST", INGEST_PATH, &[], &body)
                    .expect("post");
                assert_eq!(r.status, 200, "{}", r.error_text());
            },
            BatchSize::SmallInput,
        )
    });
    // With the per-agent contributions (the default) and without (`max_contribution_records
    // = 0`): what keeping them costs each batch.
    let without = StoreLimits {
        max_contribution_records: 0,
        ..StoreLimits::default()
    };
    for (name, limits) in [
        ("store_apply_window_batch", StoreLimits::default()),
        ("store_apply_window_batch_without_contributions", without),
    ] {
        let store = SledStore::open(&dir.path().join(name), limits).expect("store");
        let sseq = AtomicU64::new(0);
        group.bench_function(name, |b| {
            b.iter_batched(
                || {
                    i = (i + 1) % small.len();
                    Batch::new(
                        "bench",
                        1,
                        sseq.fetch_add(1, Ordering::Relaxed),
                        &small[i],
                        Default::default(),
                    )
                },
                |batch| store.apply(&batch).expect("apply"),
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
    rt.block_on(running.shutdown());
}

/// Opening a full store: the collector reads every record once at start (the damage check of
/// `SledStore::open`), so its start time grows with the store. Filled to the default endpoint
/// cap (100,000 endpoints over 50 hosts, one consumer each), then reopened.
fn open_full_store(c: &mut Criterion) {
    use analyzer::observation::{Consumer, EndpointKey, Observation};
    use analyzer::time::Timestamp;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("full");
    {
        let store = SledStore::open(&path, StoreLimits::default()).expect("store");
        let per_batch = 10_000;
        for seq in 0..10u64 {
            let mut inv = Inventory::new(InventoryLimits::default());
            for i in 0..per_batch {
                let n = seq * per_batch + i;
                let mut o = Observation::bare(
                    Timestamp(1_700_000_000 + n as i64),
                    EndpointKey {
                        host: format!("api{}.bank.example", n % 50),
                        method: "GET".into(),
                        path: format!("/v1/items-{n}/detail"),
                    },
                    Consumer {
                        address: format!("10.0.{}.{}", (n / 250) % 250, n % 250),
                        credential: None,
                    },
                );
                o.status = Some(200);
                inv.add(&o);
            }
            let batch = Batch::new("filler", 1, seq, &inv, Default::default());
            store.apply(&batch).expect("apply");
        }
        assert_eq!(store.endpoint_count().expect("count"), 100_000);
    }
    let size: u64 = std::fs::read_dir(&path)
        .expect("dir")
        .flatten()
        .filter_map(|e| e.metadata().ok().map(|m| m.len()))
        .sum();
    println!("full store: 100,000 endpoints, {} MiB on disk", size >> 20);
    let mut group = c.benchmark_group("collector_store");
    group.sample_size(10);
    group.bench_function("open_100k_endpoints", |b| {
        b.iter(|| SledStore::open(&path, StoreLimits::default()).expect("open"))
    });
    group.finish();
}

#[path = "../collector/tests/pg_support/mod.rs"]
mod pg_support;

fn postgres_apply(c: &mut Criterion) {
    use collector::store::pg::PgStore;
    if !std::path::Path::new("/usr/lib/postgresql/15/bin/initdb").exists()
        && std::env::var_os("SHADOWTAP_PG_BIN").is_none()
    {
        eprintln!(
            "postgres bench skipped: PostgreSQL 15 is not installed (apt-get install postgresql)"
        );
        return;
    }
    let (small, _) = windows();
    let per_batch = small.iter().map(|i| i.exchanges()).sum::<u64>() as f64 / small.len() as f64;
    eprintln!("postgres bench: window batches of {per_batch:.1} observations each");
    let pg = pg_support::PgServer::start();
    let url = pg.database("bench");
    let open = || PgStore::open(&url, StoreLimits::default()).expect("open the PostgreSQL store");
    let mut group = c.benchmark_group("postgres");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    // One iteration = one batch per collector: elements/s is batches/s.
    group.throughput(Throughput::Elements(1));
    let one = open();
    let seq = AtomicU64::new(0);
    let mut i = 0usize;
    group.bench_function("apply_window_batch_one_collector", |b| {
        b.iter_batched(
            || {
                i = (i + 1) % small.len();
                let n = seq.fetch_add(1, Ordering::Relaxed);
                Batch::new("bench-1", 1, n, &small[i], Default::default())
            },
            |batch| one.apply(&batch).expect("apply"),
            BatchSize::SmallInput,
        )
    });
    let two = [open(), open()];
    let seqs = [AtomicU64::new(0), AtomicU64::new(0)];
    group.throughput(Throughput::Elements(2));
    group.bench_function("apply_window_batches_two_collectors", |b| {
        b.iter_custom(|iters| {
            let start = std::time::Instant::now();
            std::thread::scope(|scope| {
                for (k, store) in two.iter().enumerate() {
                    let (small, seq) = (&small, &seqs[k]);
                    scope.spawn(move || {
                        for j in 0..iters {
                            let n = seq.fetch_add(1, Ordering::Relaxed);
                            let inv = &small[(j as usize + k) % small.len()];
                            let batch =
                                Batch::new(&format!("bench-2{k}"), 1, n, inv, Default::default());
                            store.apply(&batch).expect("apply");
                        }
                    });
                }
            });
            start.elapsed()
        })
    });
    group.finish();
}

criterion_group!(benches, ingest, open_full_store, postgres_apply);
criterion_main!(benches);
