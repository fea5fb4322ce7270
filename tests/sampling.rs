//! Sampled learning keeps its promises: every exchange is counted whatever is learned, the
//! inventory says how many bodies were learned and skipped, and a data class that appears in
//! one body in 200 of an endpoint is still reported (the prefilter sends that body to the walk).

mod frames_support;

use agent::analysis::AnalysisSink;
use agent::pipeline::{Pipeline, PipelineConfig};
use agent::source::memory::{MemorySource, OwnedFrame};
use analyzer::engine::policy::LearnMode;
use analyzer::inventory::{EndpointRecord, Inventory, InventoryLimits};
use analyzer::observe::Observer;
use frames_support::{http_connection, json_response};

const CLIENT: [u8; 4] = [10, 20, 0, 7];
const SERVER: [u8; 4] = [10, 10, 0, 5];
/// Exchanges on the endpoint, and the one whose response carries a card number.
const EXCHANGES: usize = 400;
const RARE: usize = 317;

/// 400 orders over 20 keep-alive connections; order 317's response also carries a card number.
fn traffic() -> Vec<OwnedFrame> {
    let mut frames = Vec::new();
    for conn in 0..20 {
        let exchanges: Vec<(Vec<u8>, Vec<u8>)> = (0..EXCHANGES / 20)
            .map(|i| {
                let n = conn * (EXCHANGES / 20) + i;
                let request = format!(
                    "GET /v1/orders/{} HTTP/1.1\r\nHost: shop.bank.example\r\nX-Api-Key: k-{conn}\r\n\r\n",
                    10_000 + n
                );
                let card = if n == RARE {
                    r#","paidWith":"4111 1111 1111 1111""#
                } else {
                    ""
                };
                let body = format!(
                    r#"{{"orderId":"ord-{n:06}","amount":"{}.{:02}","currency":"GBP","placedAt":"2026-03-02T09:{:02}:00Z","items":[{{"sku":"A-{n}","qty":1}}]{card}}}"#,
                    10 + n % 90,
                    n % 100,
                    n % 60
                );
                (request.into_bytes(), json_response(&body))
            })
            .collect();
        let t0 = 1_772_442_000_000_000 + (conn as i64) * 30_000_000;
        frames.extend(http_connection(
            (CLIENT, 40_000 + conn as u16),
            (SERVER, 80),
            &exchanges,
            t0,
        ));
    }
    frames
}

fn scan(frames: Vec<OwnedFrame>, learn: LearnMode) -> Inventory {
    let mut observer = Observer::new(
        analyzer::template::Templater::default(),
        analyzer::classify::Classifier::builtin(),
        analyzer::consumer::ConsumerConfig::new(b"sampling", false),
    );
    observer.learn = learn;
    let sink = AnalysisSink::new(&observer, InventoryLimits::default());
    let mut p = Pipeline::new(PipelineConfig::default(), sink);
    p.run(&mut MemorySource::new(frames), &mut |_| {})
        .expect("memory source");
    p.finish().0.into_inventory()
}

fn orders(inv: &Inventory) -> &EndpointRecord {
    let (key, rec) = inv.endpoints.iter().next().expect("the orders endpoint");
    assert_eq!(
        (inv.endpoints.len(), key.path.as_str()),
        (1, "/v1/orders/{orderId}")
    );
    rec
}

#[test]
fn a_class_in_one_body_in_200_is_reported_under_sampling() {
    let inv = scan(traffic(), LearnMode::default());
    let rec = orders(&inv);
    assert_eq!(rec.exchanges, EXCHANGES as u64, "every exchange counted");
    let pan = rec
        .data_classes
        .get("pan")
        .and_then(|locations| locations.get("response.body.paidWith"));
    let pan = pan.expect("the rare card number is reported at its field");
    assert_eq!(pan.count, 1);
    assert_eq!(pan.preview, "**** **** **** 1111");
    let bodies = rec.bodies.response;
    assert!(
        bodies.skipped > 0,
        "sampling skipped some bodies: {bodies:?}"
    );
    assert!(
        bodies.prefiltered >= 1,
        "the prefilter sent the rare body to the walk: {bodies:?}"
    );
    assert_eq!(bodies.learned + bodies.skipped, EXCHANGES as u64);
    // Field shapes: the sampled run knows every field of the endpoint.
    let fields: Vec<&str> = rec.response_fields.keys().map(String::as_str).collect();
    assert!(
        fields.contains(&"paidWith") && fields.contains(&"items[].sku"),
        "{fields:?}"
    );
}

#[test]
fn the_accounting_of_a_sampled_run_and_of_learn_all() {
    let sampled = scan(traffic(), LearnMode::default());
    let all = scan(traffic(), LearnMode::All);
    let (s, a) = (orders(&sampled), orders(&all));
    // The count path does not depend on learning.
    assert_eq!(
        (
            s.exchanges,
            &s.statuses,
            &s.consumers,
            &s.query_params,
            &s.header_params
        ),
        (
            a.exchanges,
            &a.statuses,
            &a.consumers,
            &a.query_params,
            &a.header_params
        )
    );
    // Learn all: every body learned, nothing skipped; request bodies: none had content.
    assert_eq!(a.bodies.response.learned, EXCHANGES as u64);
    assert_eq!(
        (a.bodies.response.skipped, a.bodies.response.prefiltered),
        (0, 0)
    );
    assert_eq!(a.bodies.request.learned + a.bodies.request.skipped, 0);
    // Sampled: fewer learned, the rest skipped, and the same data classes found.
    assert!(
        s.bodies.response.learned < a.bodies.response.learned / 2,
        "{:?}",
        s.bodies
    );
    assert_eq!(
        s.bodies.response.learned + s.bodies.response.skipped,
        a.bodies.response.learned
    );
    assert_eq!(
        s.data_classes.keys().collect::<Vec<_>>(),
        a.data_classes.keys().collect::<Vec<_>>()
    );
    assert_eq!(s.response_fields, a.response_fields);
    // Wire bytes are counted for every body, learned or not.
    assert_eq!(s.bodies.response.bytes, a.bodies.response.bytes);
    assert!(s.bodies.response.bytes > 0);
}
