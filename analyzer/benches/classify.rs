//! Criterion benchmarks of classification on the hot path (`cargo bench -p analyzer --bench
//! classify`), every group with its throughput:
//!
//! - `classify_mix`: the values of one demo-like round (headers, query, path segments, JSON
//!   leaves; about one in ten carries a class) through `classify_into` with field hints cached
//!   per name, as the engine calls it, and through the name-based `classify` for comparison.
//!   Bytes/s is over the values; divide the time by the value count for ns/value.
//!   `classify_misses`: the values of that round that carry no class (the common case).
//!
//! - `walk_json`: `walk::walk_json` over demo-like JSON bodies (a ~50 KB transactions page, an
//!   accounts list), no classification, against the serde walk it replaces (`Value` tree,
//!   path string per node, `to_string` per number) on the same bodies.
//! - `body_scan`: `prefilter::BodyScan` over the same kind of bodies, whole and in 1460-byte
//!   pieces (one TCP segment each), quiet bodies and bodies carrying IBANs.
//!
//! Inputs are synthetic and demo-like (`support/mix.rs`).

use analyzer::classify::prefilter::BodyScan;
use analyzer::classify::{Classifier, FieldHints, Hit, Place, PlaceKind};
use analyzer::observation::FieldType;
use analyzer::walk::{walk_json, Field, Paths, Visitor, WalkLimits};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;

#[path = "support/mix.rs"]
mod mix;
use mix::*;

fn kind(p: char) -> PlaceKind {
    match p {
        'q' => PlaceKind::Query,
        'h' => PlaceKind::Header,
        'b' => PlaceKind::Body,
        _ => PlaceKind::Path,
    }
}

fn classify_mix(c: &mut Criterion) {
    let classifier = Classifier::builtin();
    let mix = mix();
    let bytes: usize = mix.iter().map(|(_, _, v)| v.len()).sum();
    let hints: Vec<FieldHints> = mix
        .iter()
        .map(|(p, name, _)| {
            if *p == 'p' {
                FieldHints::NONE
            } else {
                classifier.field_hints(name)
            }
        })
        .collect();
    let mut g = c.benchmark_group("classify_mix");
    g.throughput(Throughput::Bytes(bytes as u64));
    g.bench_function(format!("classify_into/{}values", mix.len()), |b| {
        let mut out: Vec<Hit> = Vec::new();
        b.iter(|| {
            out.clear();
            for ((p, _, value), hints) in mix.iter().zip(&hints) {
                classifier.classify_into(black_box(value.as_bytes()), kind(*p), hints, &mut out);
            }
            out.len()
        })
    });
    g.bench_function(format!("classify/{}values", mix.len()), |b| {
        b.iter(|| {
            let mut n = 0;
            for (p, name, value) in &mix {
                let place = match *p {
                    'q' => Place::Query { name },
                    'h' => Place::Header { name },
                    'b' => Place::BodyField { name },
                    _ => Place::PathSegment,
                };
                n += classifier.classify(black_box(value), place).len();
            }
            n
        })
    });
    g.finish();

    // The same round without the values that carry a class: the cost of a miss.
    let misses: Vec<(char, String, String)> = mix
        .iter()
        .zip(&hints)
        .filter(|((p, _, v), h)| {
            let mut out = Vec::new();
            classifier.classify_into(v.as_bytes(), kind(*p), h, &mut out);
            out.is_empty()
        })
        .map(|(m, _)| m.clone())
        .collect();
    let miss_hints: Vec<FieldHints> = misses
        .iter()
        .map(|(p, name, _)| {
            if *p == 'p' {
                FieldHints::NONE
            } else {
                classifier.field_hints(name)
            }
        })
        .collect();
    let bytes: usize = misses.iter().map(|(_, _, v)| v.len()).sum();
    let mut g = c.benchmark_group("classify_misses");
    g.throughput(Throughput::Bytes(bytes as u64));
    g.bench_function(format!("classify_into/{}values", misses.len()), |b| {
        let mut out: Vec<Hit> = Vec::new();
        b.iter(|| {
            out.clear();
            for ((p, _, value), hints) in misses.iter().zip(&miss_hints) {
                classifier.classify_into(black_box(value.as_bytes()), kind(*p), hints, &mut out);
            }
            out.len()
        })
    });
    g.finish();
}

/// Counts what the walk reports (what a caller does at least).
#[derive(Default)]
struct Count {
    fields: usize,
    scalar_bytes: usize,
}

impl Visitor for Count {
    fn field(&mut self, f: &Field<'_>) {
        self.fields += 1;
        self.scalar_bytes += f.scalar.map_or(0, <[u8]>::len);
    }
}

/// The serde walk before the rework (observe.rs `JsonWalk` without classification).
fn serde_walk(body: &[u8], limits: &WalkLimits) -> usize {
    fn visit(
        v: &serde_json::Value,
        path: &mut String,
        depth: usize,
        limits: &WalkLimits,
        shapes: &mut std::collections::BTreeSet<(String, FieldType)>,
        texts: &mut usize,
    ) {
        use serde_json::Value;
        if depth > limits.max_depth || shapes.len() >= limits.max_fields {
            return;
        }
        let ty = match v {
            Value::Null => FieldType::Null,
            Value::Bool(_) => FieldType::Boolean,
            Value::Number(n) if n.is_i64() || n.is_u64() => FieldType::Integer,
            Value::Number(_) => FieldType::Number,
            Value::String(_) => FieldType::String,
            Value::Array(_) => FieldType::Array,
            Value::Object(_) => FieldType::Object,
        };
        if !path.is_empty() {
            shapes.insert((path.clone(), ty));
        }
        match v {
            Value::String(s) => *texts += s.len(),
            Value::Number(n) => *texts += n.to_string().len(),
            Value::Array(items) => {
                let len = path.len();
                path.push_str("[]");
                for item in items {
                    visit(item, path, depth + 1, limits, shapes, texts);
                }
                path.truncate(len);
            }
            Value::Object(map) => {
                for (k, item) in map {
                    let len = path.len();
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(k);
                    visit(item, path, depth + 1, limits, shapes, texts);
                    path.truncate(len);
                }
            }
            _ => {}
        }
    }
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
        return 0;
    };
    let mut shapes = std::collections::BTreeSet::new();
    let mut texts = 0;
    visit(&v, &mut String::new(), 0, limits, &mut shapes, &mut texts);
    shapes.len() + texts
}

fn bodies() -> Vec<(&'static str, String)> {
    vec![
        ("transactions_50k", transactions_body(50_000, false, 1)),
        ("transactions_iban_50k", transactions_body(50_000, true, 2)),
        ("accounts_40", accounts_body(40, 3)),
    ]
}

fn walk(c: &mut Criterion) {
    let limits = WalkLimits::default();
    let mut g = c.benchmark_group("walk_json");
    for (name, body) in bodies() {
        g.throughput(Throughput::Bytes(body.len() as u64));
        let mut paths = Paths::default();
        g.bench_function(format!("walk_json/{name}"), |b| {
            b.iter(|| {
                let mut count = Count::default();
                let ok = walk_json(black_box(body.as_bytes()), &mut paths, &limits, &mut count);
                (ok.is_ok(), count.fields, count.scalar_bytes)
            })
        });
        g.bench_function(format!("serde_walk/{name}"), |b| {
            b.iter(|| serde_walk(black_box(body.as_bytes()), &limits))
        });
    }
    g.finish();
}

fn body_scan(c: &mut Criterion) {
    let classifier = Classifier::builtin();
    let mut g = c.benchmark_group("body_scan");
    for (name, body) in bodies() {
        g.throughput(Throughput::Bytes(body.len() as u64));
        g.bench_function(format!("whole/{name}"), |b| {
            b.iter(|| {
                let mut s = BodyScan::new();
                s.push(&classifier, black_box(body.as_bytes()));
                s.finish(&classifier)
            })
        });
        g.bench_function(format!("pieces_1460/{name}"), |b| {
            b.iter(|| {
                let mut s = BodyScan::new();
                for piece in black_box(body.as_bytes()).chunks(1460) {
                    s.push(&classifier, piece);
                }
                s.finish(&classifier)
            })
        });
    }
    g.finish();
}

criterion_group!(benches, classify_mix, walk, body_scan);
criterion_main!(benches);
