//! Criterion benchmark of the capture pipeline over the demo capture held in memory:
//! decode + reassembly + HTTP + observation + inventory, reported as bytes/s.
//! For the 200 MB end-to-end figure (file reading and report included) see scripts/bench.sh.

use agent::pipeline::{Pipeline, PipelineConfig};
use agent::source::file::FileSource;
use agent::source::memory::{read_all, MemorySource};
use analyzer::classify::Classifier;
use analyzer::consumer::ConsumerConfig;
use analyzer::observe::Observer;
use analyzer::template::Templater;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::path::PathBuf;

fn pipeline(c: &mut Criterion) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let loaded = collector::catalogue_files::load_catalogue(&[root.join("fixtures/demo/catalog")])
        .expect("catalogue");
    let mut source =
        FileSource::open(&root.join("fixtures/demo/openbanking.pcap")).expect("demo capture");
    let frames = read_all(&mut source).expect("read demo");
    let bytes: u64 = frames.iter().map(|f| f.data.len() as u64).sum();
    let observer = Observer::new(
        Templater::new(loaded.catalogue.routes()),
        Classifier::builtin(),
        ConsumerConfig::new(b"bench", false),
    );
    let mut group = c.benchmark_group("scan");
    group.throughput(Throughput::Bytes(bytes));
    group.sample_size(20);
    group.bench_function("demo_capture_pipeline", |b| {
        b.iter(|| {
            let sink = agent::analysis::AnalysisSink::new(
                &observer,
                analyzer::inventory::InventoryLimits::default(),
            );
            let mut p = Pipeline::new(PipelineConfig::default(), sink);
            let mut src = MemorySource::new(frames.clone());
            p.run(&mut src, &mut |_| {}).expect("memory source");
            p.finish().0.into_inventory()
        })
    });
    group.finish();
}

criterion_group!(benches, pipeline);
criterion_main!(benches);
