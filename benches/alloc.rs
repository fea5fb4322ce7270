//! Allocations per exchange on the hot path, counted by a global allocator (not a timing).
//!
//! Generates demo traffic in memory (scale 4: the first round warms the worker's caches, the
//! interners and the body policy; the rounds after it are the steady state), runs it through
//! one pipeline with the analysis sink in sampled mode, and prints allocations and bytes
//! allocated per exchange over the steady-state rounds only. `cargo bench --bench alloc`.

use agent::analysis::AnalysisSink;
use agent::pipeline::{Pipeline, PipelineConfig};
use agent::source::file::FileSource;
use agent::source::FrameSource;
use analyzer::classify::Classifier;
use analyzer::consumer::ConsumerConfig;
use analyzer::inventory::InventoryLimits;
use analyzer::observe::Observer;
use analyzer::template::Templater;
use std::alloc::{GlobalAlloc, Layout, System};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        // SAFETY: the caller's contract for `alloc` is passed on as is.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(new_size as u64, Ordering::Relaxed);
        // SAFETY: the caller's contract for `realloc` is passed on as is.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let loaded = collector::catalogue_files::load_catalogue(&[root.join("fixtures/demo/catalog")])
        .expect("catalogue");
    let observer = Observer::new(
        Templater::new(loaded.catalogue.routes()),
        Classifier::builtin(),
        ConsumerConfig::new(b"bench", false),
    );
    let mut pcap = Vec::new();
    let cfg = demogen::Config {
        scale: 4,
        ..demogen::Config::default()
    };
    let stats = demogen::generate(&cfg, &mut pcap).expect("generate");
    let rounds = u64::from(cfg.scale);
    let mut source =
        FileSource::from_reader("memory", Box::new(std::io::Cursor::new(pcap))).expect("capture");
    let sink = AnalysisSink::new(&observer, InventoryLimits::default());
    let mut p = Pipeline::new(PipelineConfig::default(), sink);
    let warm_until = stats.first_ts_us + (stats.last_ts_us - stats.first_ts_us) / rounds;
    let mut measured: Option<(u64, u64, u64)> = None;
    while let Some(frame) = source.next_frame().expect("read") {
        if measured.is_none() && frame.ts.micros() as u64 >= warm_until {
            measured = Some((
                ALLOCS.load(Ordering::Relaxed),
                BYTES.load(Ordering::Relaxed),
                p.stats().http_exchanges,
            ));
        }
        p.feed(&frame);
    }
    let (a0, b0, e0) = measured.unwrap_or_default();
    let (allocs, bytes) = (
        ALLOCS.load(Ordering::Relaxed) - a0,
        BYTES.load(Ordering::Relaxed) - b0,
    );
    let exchanges = p.stats().http_exchanges - e0;
    println!(
        "steady state (rounds 2-{rounds} of the demo pattern): {exchanges} exchanges, {:.2} allocations and {:.0} bytes allocated per exchange (sampled learning included)",
        allocs as f64 / exchanges.max(1) as f64,
        bytes as f64 / exchanges.max(1) as f64,
    );
    let (sink, _) = p.finish();
    let inv = sink.into_inventory();
    let learned: u64 = inv
        .endpoints
        .values()
        .map(|r| r.bodies.request.learned + r.bodies.response.learned)
        .sum();
    println!("bodies learned over the whole run: {learned}");
}
