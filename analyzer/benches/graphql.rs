//! Criterion benchmark of GraphQL request parsing (`cargo bench -p analyzer --bench graphql`),
//! with its throughput: the request bodies of the fixture capture (`fixtures/graphql`, the
//! gql/requests clients' JSON bodies as sent, a batch among them) through
//! `graphql::from_body`, which is what the engine runs on every GraphQL request body (JSON
//! parse, document lex and parse, fragments inlined, normalised hash), and the documents alone
//! through `graphql::document::parse`.

use analyzer::graphql;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;

const BODIES: &[&str] = &[
    r#"{"query": "query GetAccount($id: ID!) {\n  account(id: $id) {\n    id\n    iban\n    owner\n  }\n}", "operationName": "GetAccount", "variables": {"id": "acc-1"}}"#,
    r#"{"query": "query LegacyNumbers {\n  accounts {\n    ...Legacy\n  }\n}\n\nfragment Legacy on Account {\n  id\n  number\n}", "operationName": "LegacyNumbers"}"#,
    r#"{"query": "mutation Pay($input: PayInput!) {\n  pay(input: $input) {\n    id\n    status\n  }\n}", "operationName": "Pay", "variables": {"input": {"fromId": "acc-1", "toIban": "FR1420041010050500013M02606", "amount": 12.5}}}"#,
    r#"{"query": "{ account(id: \"acc-2\") { iban } }"}"#,
    r#"[{"query": "query GetAccount($id: ID!) { account(id: $id) { id } }", "variables": {"id": "acc-1"}}, {"query": "{ accounts { id } }"}]"#,
];

fn bench(c: &mut Criterion) {
    let bytes: usize = BODIES.iter().map(|b| b.len()).sum();
    let mut g = c.benchmark_group("graphql");
    g.throughput(Throughput::Bytes(bytes as u64));
    g.bench_function("from_body", |b| {
        b.iter(|| {
            for body in BODIES {
                black_box(graphql::from_body(None, black_box(body.as_bytes())));
            }
        })
    });
    let docs: Vec<String> = BODIES
        .iter()
        .filter_map(|b| serde_json::from_str::<serde_json::Value>(b).ok())
        .filter_map(|v| v.get("query").and_then(|q| q.as_str()).map(str::to_string))
        .collect();
    let doc_bytes: usize = docs.iter().map(String::len).sum();
    g.throughput(Throughput::Bytes(doc_bytes as u64));
    g.bench_function("document_parse", |b| {
        b.iter(|| {
            for d in &docs {
                let _ = black_box(graphql::document::parse(black_box(d)));
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
