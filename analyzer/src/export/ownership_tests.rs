//! Exports a CMDB can use: owner, system and tags from where specs really put them, distinct
//! consumers, Backstage lifecycle and paths from every operation of an API.

use super::testutil::obs;
use super::*;
use crate::catalogue::{ApiSelector, CatalogueConfig, OwnerOverride};
use crate::observation::Consumer;

/// Three operations, one deprecated; owner only in `info`; document tags; no `x-owner`.
const SPEC: &str = r#"
openapi: 3.0.3
info:
  title: Cards
  version: "2.0"
  x-owner: team-cards
  x-system: card-platform
  contact: {name: Card Desk, email: cards@bank.example}
servers: [{url: "https://cards.bank.example/v2"}]
tags: [{name: cards}, {name: pci}]
paths:
  /cards/{id}:
    get: {operationId: getCard, tags: [lookup], responses: {"200": {description: ok}}}
  /cards/{id}/block:
    post: {operationId: blockCard, deprecated: true, responses: {"204": {description: ok}}}
  /cards/{id}/limits:
    put: {operationId: setLimits, responses: {"204": {description: ok}}}
"#;

const CONTACT_ONLY: &str = r#"
openapi: 3.0.3
info: {title: Loans, version: "1", contact: {email: loans@bank.example}}
servers: [{url: "https://loans.bank.example"}]
paths:
  /loans:
    get: {responses: {"200": {description: ok}}}
"#;

fn at(consumer: &str, method: &str, path: &str, ts: i64) -> crate::observation::Observation {
    let mut o = obs("cards.bank.example", method, path, ts);
    o.consumer = Consumer {
        address: consumer.into(),
        credential: None,
    };
    o
}

fn snapshot(config: Option<&CatalogueConfig>) -> Snapshot {
    let mut cat = Catalogue::default();
    cat.add_document("cards.yaml", SPEC)
        .unwrap_or_else(|e| panic!("{e}"));
    cat.add_document("loans.yaml", CONTACT_ONLY)
        .unwrap_or_else(|e| panic!("{e}"));
    if let Some(c) = config {
        cat.apply_config(c);
    }
    let mut inv = Inventory::default();
    // The same two consumers on both endpoints, a third only on one: 3 distinct, 5 summed.
    for (who, method, path) in [
        ("10.0.0.1", "GET", "/v2/cards/{id}"),
        ("10.0.0.2", "GET", "/v2/cards/{id}"),
        ("10.0.0.3", "GET", "/v2/cards/{id}"),
        ("10.0.0.1", "POST", "/v2/cards/{id}/block"),
        ("10.0.0.2", "POST", "/v2/cards/{id}/block"),
    ] {
        inv.add(&at(who, method, path, 60_000_000));
    }
    inv.add(&obs("loans.bank.example", "GET", "/loans", 60_000_000));
    Snapshot::build(&inv, &cat)
}

#[test]
fn owner_system_and_tags_come_from_info_contact_and_document_tags() {
    let snap = snapshot(None);
    let csv = render_csv(&snap);
    let rows: Vec<&str> = csv.lines().collect();
    let row = |needle: &str| {
        rows.iter()
            .find(|r| r.contains(needle))
            .unwrap_or_else(|| panic!("no row with {needle}: {csv}"))
            .to_string()
    };
    // info.x-owner and info.x-system, though no operation says x-owner.
    let get = row("/v2/cards/{id},");
    assert!(get.contains(",team-cards,card-platform,lookup,"), "{get}");
    // An operation without tags takes the document's.
    let block = row("/v2/cards/{id}/block");
    assert!(
        block.contains(",team-cards,card-platform,cards;pci,"),
        "{block}"
    );
    // info.contact when nothing else names an owner.
    let loans = row("loans.bank.example");
    assert!(loans.contains(",loans@bank.example,"), "{loans}");
}

#[test]
fn config_overrides_win_over_the_specs() {
    let config = CatalogueConfig {
        owners: vec![OwnerOverride {
            spec: ApiSelector("cards.yaml".into()),
            owner: Some("payments-ops".into()),
            system: Some("cards-core".into()),
            tags: Some(vec!["tier-1".into()]),
        }],
        ..CatalogueConfig::default()
    };
    let snap = snapshot(Some(&config));
    let csv = render_csv(&snap);
    let block = csv
        .lines()
        .find(|r| r.contains("/v2/cards/{id}/block"))
        .unwrap_or_default();
    assert!(
        block.contains(",payments-ops,cards-core,tier-1,"),
        "{block}"
    );

    // The same override written in the spec itself.
    let mut cat = Catalogue::default();
    let spec = SPEC.replace("x-owner: team-cards", "x-shadowtap-owner: platform-team");
    cat.add_document("cards.yaml", &spec)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cat.apis[0].owner.as_deref(), Some("platform-team"));
    assert!(cat.apis[0].owner_overridden);
}

#[test]
fn cyclonedx_counts_distinct_consumers() {
    let snap = snapshot(None);
    assert_eq!(snap.endpoints.iter().map(|e| e.consumers).sum::<u64>(), 6);
    let bom: Value = serde_json::from_str(&render_cyclonedx(&snap)).unwrap_or_default();
    let cards = bom["services"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["name"] == "Cards"))
        .cloned()
        .unwrap_or_default();
    let consumers = cards["properties"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["name"] == "shadowtap:consumers"))
        .map(|p| p["value"].clone());
    assert_eq!(consumers, Some(Value::String("3".into())), "{cards}");
    // Survives the file round trip and a re-match (consumer numbers, never ids, are kept).
    let back = Snapshot::from_json(&snap.to_json()).unwrap_or_else(|e| panic!("{e}"));
    let json = snap.to_json();
    assert!(!json.contains("10.0.0.1"), "consumer identities leaked");
    assert_eq!(
        Snapshot::distinct_consumers(
            back.endpoints
                .iter()
                .filter(|e| e.key.host.starts_with("cards"))
        ),
        3
    );
}

#[test]
fn backstage_lifecycle_and_paths_come_from_every_operation() {
    let snap = snapshot(None);
    let yaml = render_backstage(&snap);
    let docs: Vec<&str> = yaml.split("\n---").collect();
    let cards = docs
        .iter()
        .find(|d| d.contains("title: \"Cards\""))
        .unwrap_or_else(|| panic!("no Cards entity: {yaml}"));
    // One deprecated operation of three: the API is still in production.
    assert!(cards.contains("lifecycle: \"production\""), "{cards}");
    let cards_api = &snap.apis[0];
    assert_eq!(cards_api.all_deprecated(), Some(false));
    assert_eq!(cards_api.operations.len(), 3);
    // Every declared operation in `paths`, the unobserved PUT too, relative to the servers.
    for needle in [
        "/cards/{id}/limits",
        "setLimits",
        "blockCard",
        "\\\"deprecated\\\": true",
    ] {
        assert!(
            cards.contains(needle) || cards.contains(&needle.replace("\\\"", "\"")),
            "{needle} missing: {cards}"
        );
    }

    // All operations deprecated: the API is.
    let mut all = snap.clone();
    for op in &mut all.apis[0].operations {
        op.deprecated = true;
    }
    let yaml = render_backstage(&all);
    let cards = yaml
        .split("\n---")
        .find(|d| d.contains("title: \"Cards\""))
        .unwrap_or_default()
        .to_string();
    assert!(cards.contains("lifecycle: \"deprecated\""), "{cards}");
}
