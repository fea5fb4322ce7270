//! Criterion benchmark of HTTP/2 parsing (`cargo bench -p agent --bench http2`): the grpcio
//! capture `fixtures/http2/grpc_calls.pcap` (six gRPC calls on one h2c connection: frames,
//! HPACK with its dynamic table, one exchange per stream) through decode, flows, reassembly and
//! the HTTP/2 layer into a sink that only counts exchanges (bodies framed, not decoded).
//! Reported as bytes/s of captured frames, comparable with `http_heads` for HTTP/1.
//! `grpc_capture_analysis` runs the same capture into the analysis sink `scan` uses (count and
//! learn paths, gRPC message counts and protobuf walks included).

use agent::http::{ConnMeta, ExchangeInfo, ExchangeSink};
use agent::pipeline::{Pipeline, PipelineConfig};
use agent::source::{read_all, FileSource};
use analyzer::exchange::{BodyDepth, BodyShape, RequestView, ResponseView};
use analyzer::time::Timestamp;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;
use std::path::PathBuf;

/// Counts exchanges; frames every body without decoding it.
#[derive(Default)]
struct CountStreams(u64);

impl ExchangeSink for CountStreams {
    type Message = ();

    fn request(
        &mut self,
        _: &ConnMeta,
        _: &RequestView<'_>,
        _: BodyShape,
        _: Timestamp,
    ) -> ((), BodyDepth) {
        ((), BodyDepth::Frame)
    }

    fn response(
        &mut self,
        _: &ConnMeta,
        _: Option<&()>,
        _: &ResponseView<'_>,
        _: BodyShape,
        _: Timestamp,
    ) -> ((), BodyDepth) {
        ((), BodyDepth::Frame)
    }

    fn exchange(&mut self, _: &ConnMeta, _: Option<()>, _: Option<()>, _: &ExchangeInfo) {
        self.0 += 1;
    }
}

fn http2(c: &mut Criterion) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut source =
        FileSource::open(&root.join("fixtures/http2/grpc_calls.pcap")).expect("grpc capture");
    let frames = read_all(&mut source).expect("read capture");
    let bytes: u64 = frames.iter().map(|f| f.data.len() as u64).sum();
    let run = || {
        let mut pipeline = Pipeline::new(PipelineConfig::default(), CountStreams::default());
        for f in &frames {
            pipeline.feed(&f.as_frame());
        }
        pipeline.finish().0 .0
    };
    let exchanges = run();
    assert_eq!(exchanges, 6, "the capture holds six gRPC calls");
    eprintln!(
        "http2: {} frames, {bytes} bytes, {exchanges} exchanges per iteration",
        frames.len()
    );
    let mut group = c.benchmark_group("http2");
    group.throughput(Throughput::Bytes(bytes));
    group.sample_size(20);
    group.bench_function("grpc_capture_count_only", |b| b.iter(|| black_box(run())));
    // The same capture through the analysis sink a scan uses (inventory engine, default
    // sampled learning): what counting and learning gRPC calls add.
    let observer = analyzer::observe::Observer::new(
        analyzer::template::Templater::default(),
        analyzer::classify::Classifier::builtin(),
        analyzer::consumer::ConsumerConfig::new(b"bench", false),
    );
    group.bench_function("grpc_capture_analysis", |b| {
        b.iter(|| {
            let sink = agent::analysis::AnalysisSink::new(
                &observer,
                analyzer::inventory::InventoryLimits::default(),
            );
            let mut pipeline = Pipeline::new(PipelineConfig::default(), sink);
            for f in &frames {
                pipeline.feed(&f.as_frame());
            }
            black_box(pipeline.finish().0.into_inventory().endpoints.len())
        })
    });
    group.finish();
}

criterion_group!(benches, http2);
criterion_main!(benches);
