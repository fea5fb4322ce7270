//! Criterion benchmark of HTTP framing and head parsing (`cargo bench -p agent --bench
//! http_heads`): the demo capture (`fixtures/demo/openbanking.pcap`, read once up front) through
//! decode, flows and reassembly and the HTTP layer (framing, heads parsed in place, pairing)
//! into a sink that only counts (every body framed, none decoded). Reported as bytes/s of
//! captured frames; divide the time by the exchanges (printed at start) for the cost per
//! exchange.
//!
//! The difference to `flow_table`'s `decode+flow_table` is what HTTP costs on the count path
//! before the engine (routes, consumers, policy) runs; `cargo bench --bench scan` adds that.

use agent::http::{ConnMeta, ExchangeInfo, ExchangeSink};
use agent::pipeline::{Pipeline, PipelineConfig};
use agent::source::{read_all, FileSource};
use analyzer::exchange::{BodyDepth, BodyShape, RequestView, ResponseView};
use analyzer::time::Timestamp;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;
use std::path::PathBuf;

/// Counts heads and exchanges; frames every body without decoding it.
#[derive(Default)]
struct CountHeads {
    heads: u64,
    header_bytes: u64,
    exchanges: u64,
}

impl ExchangeSink for CountHeads {
    type Message = ();

    fn request(
        &mut self,
        _conn: &ConnMeta,
        head: &RequestView<'_>,
        _body: BodyShape,
        _ts: Timestamp,
    ) -> ((), BodyDepth) {
        self.heads += 1;
        self.header_bytes += head.headers.len() as u64;
        ((), BodyDepth::Frame)
    }

    fn response(
        &mut self,
        _conn: &ConnMeta,
        _request: Option<&()>,
        head: &ResponseView<'_>,
        _body: BodyShape,
        _ts: Timestamp,
    ) -> ((), BodyDepth) {
        self.heads += 1;
        self.header_bytes += head.headers.len() as u64;
        ((), BodyDepth::Frame)
    }

    fn exchange(
        &mut self,
        _conn: &ConnMeta,
        _request: Option<()>,
        _response: Option<()>,
        _info: &ExchangeInfo,
    ) {
        self.exchanges += 1;
    }
}

fn http_heads(c: &mut Criterion) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut source =
        FileSource::open(&root.join("fixtures/demo/openbanking.pcap")).expect("demo capture");
    let frames = read_all(&mut source).expect("read demo");
    let bytes: u64 = frames.iter().map(|f| f.data.len() as u64).sum();
    let run = || {
        let mut pipeline = Pipeline::new(PipelineConfig::default(), CountHeads::default());
        for f in &frames {
            pipeline.feed(&f.as_frame());
        }
        let (sink, _) = pipeline.finish();
        sink
    };
    let sink = run();
    eprintln!(
        "http_heads: {} frames, {} heads, {} exchanges per iteration",
        frames.len(),
        sink.heads,
        sink.exchanges
    );
    let mut group = c.benchmark_group("http_heads");
    group.throughput(Throughput::Bytes(bytes));
    group.sample_size(20);
    group.bench_function("demo_capture_count_only", |b| {
        b.iter(|| black_box(run().exchanges))
    });
    group.finish();
}

criterion_group!(benches, http_heads);
criterion_main!(benches);
