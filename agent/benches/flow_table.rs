//! Criterion benchmark of the flow table and TCP reassembly: the decoded packets of the demo
//! capture (`fixtures/demo/openbanking.pcap`, decoded once up front) fed into a
//! [`FlowTable`] whose handler only counts delivered bytes, then `finish`. Reported as
//! bytes/s of captured frames; ns per frame = time per iteration / frames (printed at start).
//!
//! `decode+flow_table` runs both stages per iteration, as the pipeline does.

use agent::decode::{decode, DecodeStats, Packet};
use agent::flow::table::{FlowLimits, FlowTable};
use agent::flow::{ConnInfo, Interest, StreamEvent, StreamHandler};
use agent::source::{read_all, FileSource, OwnedFrame};
use analyzer::time::Timestamp;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::path::PathBuf;

/// A handler that only counts delivered bytes (into the table's context).
struct CountBytes;

impl StreamHandler for CountBytes {
    type Ctx = u64;

    fn open(_: &ConnInfo, _: &mut u64) -> CountBytes {
        CountBytes
    }

    fn on_event(&mut self, event: StreamEvent<'_>, delivered: &mut u64) -> Interest {
        if let StreamEvent::Data { bytes, .. } = event {
            *delivered += bytes.len() as u64;
        }
        Interest::Continue
    }
}

fn demo_frames() -> Vec<OwnedFrame> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/demo/openbanking.pcap");
    let mut source = FileSource::open(&path).expect("demo capture");
    read_all(&mut source).expect("read demo")
}

fn feed(packets: &[Packet<'_>]) -> u64 {
    let mut table: FlowTable<CountBytes> = FlowTable::new(FlowLimits::default());
    let mut delivered = 0u64;
    for p in packets {
        table.process(p, &mut delivered);
    }
    table.finish(Timestamp(i64::MAX), &mut delivered);
    delivered
}

fn bench_flow_table(c: &mut Criterion) {
    let frames = demo_frames();
    let bytes: u64 = frames.iter().map(|f| f.data.len() as u64).sum();
    let mut stats = DecodeStats::default();
    let packets: Vec<Packet<'_>> = frames
        .iter()
        .filter_map(|f| decode(&f.as_frame(), &mut stats))
        .collect();
    let delivered = feed(&packets);
    println!(
        "flow_table: {} frames, {} packets, {} bytes, {} delivered",
        frames.len(),
        packets.len(),
        bytes,
        delivered
    );
    let mut group = c.benchmark_group("flow_table");
    group.throughput(Throughput::Bytes(bytes));
    group.bench_function("reassembly", |b| b.iter(|| feed(&packets)));
    group.bench_function("decode+flow_table", |b| {
        b.iter(|| {
            let mut stats = DecodeStats::default();
            let mut table: FlowTable<CountBytes> = FlowTable::new(FlowLimits::default());
            let mut delivered = 0u64;
            for f in &frames {
                if let Some(p) = decode(&f.as_frame(), &mut stats) {
                    table.process(&p, &mut delivered);
                }
            }
            table.finish(Timestamp(i64::MAX), &mut delivered);
            delivered
        })
    });
    group.finish();
}

criterion_group!(benches, bench_flow_table);
criterion_main!(benches);
