//! The fleet analysis (merged inventory, cardinality learning, diff, TLS findings) is computed
//! once per store generation: pages and API calls between two batches share it, an applied
//! batch (through the ingest route) makes the next call recompute, a duplicate does not.

use analyzer::catalogue::Catalogue;
use analyzer::classify::Classifier;
use analyzer::inventory::Inventory;
use analyzer::wire::{Batch, INGEST_PATH};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use collector::config::CollectorSettings;
use collector::server::{router, AppState, Peer};
use collector::store::SledStore;
use std::sync::Arc;
use tower::ServiceExt;

fn batch(seq: u64, path: &str) -> Vec<u8> {
    let obs: analyzer::observation::Observation = serde_json::from_value(serde_json::json!({
        "ts": 1_700_000_000_000_000i64 + seq as i64,
        "endpoint": {"host": "api.test", "method": "GET", "path": path},
        "template_source": "learned", "status": 200,
        "request_content_type": null, "response_content_type": null,
        "query_params": [], "header_params": [], "request_fields": [], "response_fields": [],
        "data_classes": [], "auth": "none",
        "consumer": {"address": "10.0.0.1", "credential": null},
        "request_body_len": 0, "response_body_len": 0, "anomalies": []
    }))
    .expect("observation");
    let mut inv = Inventory::default();
    inv.add(&obs);
    Batch::new("a1", 1, seq, &inv, Default::default()).encode()
}

async fn ingest(st: &Arc<AppState>, body: Vec<u8>) -> StatusCode {
    let mut req = Request::post(INGEST_PATH)
        .body(Body::from(body))
        .expect("request");
    req.extensions_mut().insert(Peer(Some("a1".into())));
    router(Arc::clone(st))
        .oneshot(req)
        .await
        .expect("infallible")
        .status()
}

fn counted(st: &AppState, result: &str) -> u64 {
    let text = st.metrics.render();
    let prefix = format!("shadowtap_collector_analyses_total{{result=\"{result}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn findings_are_computed_once_per_store_generation() {
    let dir = tempfile::tempdir().expect("tempdir");
    let settings = CollectorSettings {
        data: dir.path().to_path_buf(),
        ..CollectorSettings::default()
    };
    let store = SledStore::open(dir.path(), settings.store_limits()).expect("store");
    let st = AppState::new(
        settings,
        Classifier::builtin(),
        Arc::new(store),
        Catalogue::default(),
    );
    assert_eq!(ingest(&st, batch(0, "/a")).await, StatusCode::OK);
    let first = st.analysis().expect("analysis");
    let again = st.analysis().expect("analysis");
    assert!(Arc::ptr_eq(&first, &again), "served from the cache");
    assert_eq!((counted(&st, "computed"), counted(&st, "cached")), (1, 1));
    assert_eq!(first.inventory.endpoints.len(), 1);
    // A duplicate changes nothing: still cached.
    assert_eq!(ingest(&st, batch(0, "/a")).await, StatusCode::OK);
    assert!(Arc::ptr_eq(&first, &st.analysis().expect("analysis")));
    // A new batch: the next call sees it.
    assert_eq!(ingest(&st, batch(1, "/b")).await, StatusCode::OK);
    let fresh = st.analysis().expect("analysis");
    assert!(!Arc::ptr_eq(&first, &fresh));
    assert_eq!(fresh.inventory.endpoints.len(), 2);
    assert_ne!(fresh.findings, first.findings, "the host's evidence grew");
    assert_eq!(counted(&st, "computed"), 2);
    // The report is built from the same analysis.
    let report = st.report().expect("report");
    assert_eq!(report.findings, fresh.findings);
}
