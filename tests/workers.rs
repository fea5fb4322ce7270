//! One runner, any number of workers: the inventory does not depend on how many workers the
//! capture is sharded across, through both hand-over paths (a file's shared blocks, and copied
//! payloads for sources without them) and with IP fragments, which must reach the worker of
//! their connection once reassembled.
//!
//! Learning is `All` where whole inventories are compared: which bodies a sampled run learns
//! depends on the order each worker sees exchanges in. The sampled run is checked on what it
//! promises: the same counts for every endpoint and the demo's planted findings, whatever N.

mod frames_support;

use agent::analysis::AnalysisSink;
use agent::pipeline::PipelineStats;
use agent::runner::{self, CaptureSource, NoHooks, RunConfig};
use agent::source::file::FileSource;
use agent::source::memory::{MemorySource, OwnedFrame};
use analyzer::engine::policy::LearnMode;
use analyzer::inventory::{Inventory, InventoryLimits};
use analyzer::observe::Observer;
use frames_support::{demo_frames, fragment_all, vxlan, wrap};
use std::collections::BTreeSet;
use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn observer(learn: LearnMode) -> (Observer, analyzer::catalogue::Catalogue) {
    let loaded =
        collector::catalogue_files::load_catalogue(&[root().join("fixtures/demo/catalog")])
            .expect("catalogue");
    let mut o = Observer::new(
        analyzer::template::Templater::new(loaded.catalogue.routes()),
        analyzer::classify::Classifier::builtin(),
        analyzer::consumer::ConsumerConfig::new(b"workers", false),
    );
    o.learn = learn;
    (o, loaded.catalogue)
}

/// Run `source` through `workers` workers; the merged inventory and counters.
fn run(
    source: &mut dyn CaptureSource,
    observer: &Observer,
    workers: usize,
) -> (Inventory, PipelineStats) {
    let config = RunConfig {
        workers,
        batch_packets: 64,
        ..RunConfig::default()
    };
    let sinks = (0..workers)
        .map(|_| AnalysisSink::new(observer, InventoryLimits::default()))
        .collect();
    let mut hooks = vec![NoHooks; workers];
    let (result, finished, summary) = runner::run(&config, sinks, &mut hooks, |feeder| {
        feeder.source(source, &mut |_| {})
    });
    result.expect("source reads to its end");
    assert_eq!(finished.len(), workers, "every worker finished");
    let mut inventory = Inventory::new(InventoryLimits::default());
    let mut stats = PipelineStats::default();
    for f in finished {
        stats.merge(&f.stats);
        inventory.merge(&f.sink.into_inventory());
    }
    assert_eq!(stats.packets, summary.frames, "every frame counted once");
    (inventory, stats)
}

fn memory(frames: &[OwnedFrame]) -> MemorySource {
    MemorySource::new(frames.to_vec())
}

fn counter(stats: &PipelineStats, name: &str) -> u64 {
    stats.counters.get(name).copied().unwrap_or(0)
}

#[test]
fn the_inventory_is_the_same_for_any_number_of_workers() {
    let (observer, _) = observer(LearnMode::All);
    let demo = demo_frames();
    let cases: Vec<(&str, Vec<OwnedFrame>)> = vec![
        ("demo", demo.clone()),
        ("IPv4 fragments", fragment_all(&demo, 256)),
        (
            "fragmented VXLAN",
            fragment_all(&wrap(&demo, |d, _| vxlan(d)), 512),
        ),
    ];
    // What the generator planted (fixtures/demo/expected.json), so regenerating the demo does
    // not need this test edited.
    let expected: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo/expected.json"),
        )
        .unwrap_or_else(|e| panic!("expected.json: {e}")),
    )
    .unwrap_or_else(|e| panic!("expected.json: {e}"));
    let planted = expected["http_exchanges"].as_u64().unwrap_or(0);
    assert!(planted > 1_900, "expected.json http_exchanges: {planted}");
    for (name, frames) in cases {
        let (one, one_stats) = run(&mut memory(&frames), &observer, 1);
        assert_eq!(one_stats.http_exchanges, planted, "{name}");
        for workers in 2..=4 {
            let (inv, stats) = run(&mut memory(&frames), &observer, workers);
            assert_eq!(inv, one, "{name}: {workers} workers");
            assert_eq!(stats.http_exchanges, one_stats.http_exchanges, "{name}");
            assert_eq!(stats.tcp_flows, one_stats.tcp_flows, "{name}");
            assert_eq!(
                counter(&stats, "decode.decode_frames"),
                counter(&one_stats, "decode.decode_frames"),
                "{name}: every frame decoded once"
            );
            assert_eq!(
                counter(&stats, "decode.decode_defrag_reassembled"),
                counter(&one_stats, "decode.decode_defrag_reassembled"),
                "{name}"
            );
        }
    }
    // The file path: frames handed to workers by reference into the reader's blocks.
    let (one, _) = run(&mut memory(&demo), &observer, 1);
    let path = root().join("fixtures/demo/openbanking.pcap");
    for workers in 1..=3 {
        let mut file = FileSource::open(&path).expect("demo capture");
        let (inv, _) = run(&mut file, &observer, workers);
        assert_eq!(inv, one, "file, {workers} workers");
    }
}

#[test]
fn sampled_runs_count_the_same_and_find_the_planted_findings_for_any_number_of_workers() {
    let (observer, catalogue) = observer(LearnMode::default());
    let expected: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("fixtures/demo/expected.json")).expect("expected"),
    )
    .expect("expected.json");
    let want: BTreeSet<(String, String)> = expected["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            let s = |k: &str| f[k].as_str().unwrap_or_default().to_string();
            (
                s("kind"),
                format!("{} {} {}", s("host"), s("method"), s("path")),
            )
        })
        .collect();
    let demo = demo_frames();
    let counts = |inv: &Inventory| {
        inv.endpoints
            .iter()
            .map(|(k, r)| {
                (
                    k.clone(),
                    r.exchanges,
                    r.statuses.clone(),
                    r.consumers.clone(),
                )
            })
            .collect::<Vec<_>>()
    };
    let (one, _) = run(&mut memory(&demo), &observer, 1);
    for workers in 1..=4 {
        let (inv, _) = run(&mut memory(&demo), &observer, workers);
        assert_eq!(counts(&inv), counts(&one), "{workers} workers");
        let severity = |c: &str| {
            observer
                .classifier
                .severity(c)
                .unwrap_or(analyzer::finding::Severity::Low)
        };
        let got: BTreeSet<(String, String)> = analyzer::diff::diff(&inv, &catalogue, &severity)
            .iter()
            .map(|f| {
                (
                    f.kind.as_str().to_string(),
                    format!(
                        "{} {} {}",
                        f.host,
                        f.method.clone().unwrap_or_default(),
                        f.path.clone().unwrap_or_default()
                    ),
                )
            })
            .collect();
        assert_eq!(got, want, "{workers} workers: findings");
    }
}
