//! Criterion benchmarks of the catalogue side: loading the 4 MB Stripe spec (schemas compiled),
//! looking operations up, templating concrete paths against thousands of declared templates,
//! and the field-drift diff of a Stripe-shaped inventory.
//!
//! The lookup groups run at 100, 1,000 and 10,000 operations: the catalogue lookup is a hash
//! index on (method, path shape) and the templater a segment trie, so time per lookup stays
//! flat as the catalogue grows (sub-linear), where a scan would grow a hundredfold.
//!
//! `cargo bench -p analyzer --bench catalogue`. Without the shared corpus
//! (`/work/shared/corpus/openapi`) the Stripe groups are skipped, saying so.

use analyzer::catalogue::Catalogue;
use analyzer::diff::diff;
use analyzer::finding::Severity;
use analyzer::inventory::Inventory;
use analyzer::observation::{
    AuthScheme, Consumer, EndpointKey, FieldShape, FieldType, Observation, TemplateSource,
};
use analyzer::template::{DeclaredRoute, Templater};
use analyzer::time::Timestamp;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;

const STRIPE: &str = "/work/shared/corpus/openapi/stripe/2022-04-12/spec3.json";

fn stripe_text() -> Option<String> {
    match std::fs::read_to_string(STRIPE) {
        Ok(t) => Some(t),
        Err(e) => {
            eprintln!("SKIP stripe benchmarks: {STRIPE}: {e}");
            None
        }
    }
}

fn stripe(c: &mut Criterion) {
    let Some(text) = stripe_text() else {
        return;
    };
    let mut group = c.benchmark_group("stripe");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(text.len() as u64));
    group.bench_function("load_with_schemas", |b| {
        b.iter(|| {
            let mut cat = Catalogue::default();
            cat.add_document("spec3.json", black_box(&text))
                .expect("stripe parses");
            cat
        })
    });
    group.finish();

    let mut cat = Catalogue::default();
    cat.add_document("spec3.json", &text)
        .expect("stripe parses");
    let ops: Vec<(String, String, String)> = cat
        .operations
        .iter()
        .map(|o| (o.hosts[0].clone(), o.method.clone(), o.path.clone()))
        .collect();
    let mut group = c.benchmark_group("stripe");
    group.throughput(Throughput::Elements(ops.len() as u64));
    group.bench_function("find_every_operation", |b| {
        b.iter(|| {
            ops.iter()
                .filter(|(h, m, p)| cat.find_operation(h, m, p).is_some())
                .count()
        })
    });

    // A Stripe-shaped inventory: every operation called once, its responses carrying the
    // fields of the customer object plus one undeclared field, so the diff walks schemas.
    let mut inv = Inventory::default();
    for (i, (h, m, p)) in ops.iter().enumerate() {
        inv.add(&observation(h, m, p, i as i64));
    }
    let severity = |_: &str| Severity::Medium;
    group.throughput(Throughput::Elements(ops.len() as u64));
    group.bench_function("diff_every_operation_with_fields", |b| {
        b.iter(|| diff(black_box(&inv), &cat, &severity))
    });
    group.finish();
}

fn observation(host: &str, method: &str, path: &str, ts: i64) -> Observation {
    let field = |p: &str, ty| FieldShape {
        path: p.to_string(),
        ty,
    };
    Observation {
        template_source: TemplateSource::Declared,
        status: Some(200),
        response_content_type: Some("application/json".into()),
        response_fields: vec![
            field("id", FieldType::String),
            field("object", FieldType::String),
            field("email", FieldType::String),
            field("metadata", FieldType::Object),
            field("metadata.order", FieldType::String),
            field("invoice_settings", FieldType::Object),
            field("invoice_settings.default_payment_method", FieldType::Null),
            field("data", FieldType::Array),
            field("data[]", FieldType::Object),
            field("data[].id", FieldType::String),
            field("internal_risk", FieldType::Integer),
        ],
        auth: AuthScheme::Bearer,
        ..Observation::bare(
            Timestamp(ts),
            EndpointKey {
                host: host.into(),
                method: method.into(),
                path: path.into(),
            },
            Consumer {
                address: "10.0.0.1".into(),
                credential: Some("key:1".into()),
            },
        )
    }
}

/// `n` operations over `n / 10` resources with ten sub-routes each, like a large bank's
/// catalogue: `/v1/r{i}/{id}/s{j}`.
fn synthetic(n: usize) -> (Catalogue, Vec<DeclaredRoute>) {
    let mut yaml = String::from(
        "openapi: 3.0.3\ninfo: {title: synthetic, version: '1'}\nservers: [{url: 'https://api.bank.example'}]\npaths:\n",
    );
    for i in 0..n / 10 {
        for j in 0..10 {
            yaml.push_str(&format!(
                "  /v1/r{i}/{{id}}/s{j}:\n    get:\n      responses: {{'200': {{description: ok}}}}\n"
            ));
        }
    }
    let mut cat = Catalogue::default();
    cat.add_document("synthetic.yaml", &yaml)
        .expect("synthetic spec parses");
    let routes = cat.routes();
    (cat, routes)
}

fn scaling(c: &mut Criterion) {
    let mut group = c.benchmark_group("lookup_scaling");
    for n in [100usize, 1_000, 10_000] {
        let (cat, routes) = synthetic(n);
        assert_eq!(cat.operations.len(), n);
        let templater = Templater::new(routes);
        // The last resource: a scan would visit every operation before it.
        let last = n / 10 - 1;
        let template = format!("/v1/r{last}/{{id}}/s9");
        let concrete = format!("/v1/r{last}/8123/s9");
        group.throughput(Throughput::Elements(1));
        group.bench_with_input(
            BenchmarkId::new("catalogue_find_operation", n),
            &n,
            |b, _| {
                b.iter(|| {
                    cat.find_operation(black_box("api.bank.example"), "GET", black_box(&template))
                })
            },
        );
        group.bench_with_input(BenchmarkId::new("templater_template", n), &n, |b, _| {
            b.iter(|| templater.template(black_box("api.bank.example"), black_box(&concrete)))
        });
    }
    group.finish();
}

criterion_group!(benches, stripe, scaling);
criterion_main!(benches);
