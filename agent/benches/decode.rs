//! Criterion benchmark of frame decoding: every frame of the demo capture
//! (`fixtures/demo/openbanking.pcap`, held in memory) through [`agent::decode::decode`]
//! (stateless) and through a [`Decoder`] (with IP reassembly), reported as bytes/s.
//!
//! ns per frame = time per iteration / frames (printed once at start).

use agent::decode::{decode, DecodeStats, Decoder};
use agent::source::{read_all, FileSource, OwnedFrame};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;
use std::path::PathBuf;

fn demo_frames() -> Vec<OwnedFrame> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/demo/openbanking.pcap");
    let mut source = FileSource::open(&path).expect("demo capture");
    read_all(&mut source).expect("read demo")
}

fn bench_decode(c: &mut Criterion) {
    let frames = demo_frames();
    let bytes: u64 = frames.iter().map(|f| f.data.len() as u64).sum();
    println!("decode: {} frames, {} bytes", frames.len(), bytes);
    let mut group = c.benchmark_group("decode");
    group.throughput(Throughput::Bytes(bytes));
    group.bench_function("stateless", |b| {
        b.iter(|| {
            let mut stats = DecodeStats::default();
            for f in &frames {
                black_box(decode(&f.as_frame(), &mut stats));
            }
            stats.decoded
        })
    });
    group.bench_function("decoder", |b| {
        b.iter(|| {
            let mut d = Decoder::default();
            for f in &frames {
                black_box(d.decode(&f.as_frame()));
            }
            d.stats.decoded
        })
    });
    group.finish();
}

criterion_group!(benches, bench_decode);
criterion_main!(benches);
