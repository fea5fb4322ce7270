//! What every request handler shares: the [`AppState`] (store, catalogue in force, metrics,
//! sessions, settings) and the small helpers that answer from it (refusals, bearer-token check,
//! store work off the async threads). The API ([`crate::server`]) and the dashboard
//! ([`crate::ui`]) both build on this module; it depends on neither.

use crate::config::CollectorSettings;
use crate::metrics::CollectorMetrics;
use crate::store::{Store, StoreError};
use analyzer::catalogue::Catalogue;
use analyzer::classify::Classifier;
use analyzer::diff::diff;
use analyzer::finding::{Finding, Severity};
use analyzer::inventory::Inventory;
use analyzer::report::CaptureTotals;
use analyzer::wire::{ErrorBody, WireLimits};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

/// The catalogue in force, with the file stamps it was loaded from.
pub(crate) struct CatalogueState {
    pub(crate) catalogue: Arc<Catalogue>,
    pub(crate) stamps: Vec<(PathBuf, Option<SystemTime>, u64)>,
}

pub struct AppState {
    pub store: Arc<dyn Store>,
    pub metrics: CollectorMetrics,
    pub(crate) sessions: crate::sessions::Sessions,
    pub(crate) settings: CollectorSettings,
    pub(crate) throttle: crate::throttle::Throttle,
    pub(crate) wire: WireLimits,
    pub(crate) classifier: Classifier,
    pub(crate) catalogue: RwLock<CatalogueState>,
}

impl AppState {
    /// State over an already open store and a loaded catalogue (what [`crate::server::start`] builds; tests
    /// use it to drive [`crate::server::router`] without sockets).
    pub fn new(
        settings: CollectorSettings,
        classifier: Classifier,
        store: Arc<dyn Store>,
        catalogue: Catalogue,
    ) -> Arc<AppState> {
        Arc::new(AppState {
            store,
            metrics: CollectorMetrics::new(),
            sessions: crate::sessions::Sessions::new(
                settings.max_sessions,
                Duration::from_secs(settings.session_ttl_secs.max(60)),
            ),
            throttle: crate::throttle::Throttle::default(),
            wire: WireLimits {
                max_bytes: settings.max_batch_bytes,
                ..WireLimits::default()
            },
            classifier,
            catalogue: RwLock::new(CatalogueState {
                catalogue: Arc::new(catalogue),
                stamps: stamps(&settings.catalog),
            }),
            settings,
        })
    }

    pub(crate) fn catalogue(&self) -> Arc<Catalogue> {
        let guard = self.catalogue.read().unwrap_or_else(|p| p.into_inner());
        Arc::clone(&guard.catalogue)
    }

    /// Inventory and findings against the current catalogue.
    pub fn findings(&self) -> Result<(Inventory, Arc<Catalogue>, Vec<Finding>), StoreError> {
        let inv = self.store.inventory()?;
        let catalogue = self.catalogue();
        let sev = |class: &str| self.classifier.severity(class).unwrap_or(Severity::Low);
        let findings = diff(&inv, &catalogue, &sev);
        self.metrics.findings.set(findings.len() as i64);
        self.metrics.endpoints.set(inv.endpoints.len() as i64);
        Ok((inv, catalogue, findings))
    }
}

/// Every file under the catalogue paths with its mtime and size, sorted.
pub(crate) fn stamps(paths: &[PathBuf]) -> Vec<(PathBuf, Option<SystemTime>, u64)> {
    fn walk(p: &std::path::Path, out: &mut Vec<(PathBuf, Option<SystemTime>, u64)>, depth: u32) {
        let Ok(meta) = std::fs::metadata(p) else {
            return;
        };
        if meta.is_dir() {
            if depth > 16 {
                return;
            }
            if let Ok(rd) = std::fs::read_dir(p) {
                for e in rd.flatten() {
                    walk(&e.path(), out, depth + 1);
                }
            }
        } else {
            out.push((p.to_path_buf(), meta.modified().ok(), meta.len()));
        }
    }
    let mut out = Vec::new();
    for p in paths {
        walk(p, &mut out, 0);
    }
    out.sort();
    out
}

pub(crate) fn refuse(status: StatusCode, message: impl Into<String>) -> Response {
    (
        status,
        Json(ErrorBody {
            error: message.into(),
        }),
    )
        .into_response()
}

/// Constant-time equality of two secrets (length is not secret).
pub(crate) fn same_secret(given: &str, expected: &str) -> bool {
    given.len() == expected.len()
        && given
            .bytes()
            .zip(expected.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// Constant-time comparison of the bearer token.
#[allow(clippy::result_large_err)]
pub(crate) fn authorized(st: &AppState, headers: &HeaderMap) -> Result<(), Response> {
    let Some(expected) = st.settings.api_token.as_deref().filter(|t| !t.is_empty()) else {
        return Err(refuse(
            StatusCode::FORBIDDEN,
            "the API is disabled: the collector has no api_token configured",
        ));
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if same_secret(given, expected) {
        Ok(())
    } else {
        Err(refuse(
            StatusCode::UNAUTHORIZED,
            "missing or wrong bearer token (Authorization: Bearer TOKEN)",
        ))
    }
}

pub(crate) fn store_err(e: StoreError) -> Response {
    refuse(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
}

// The error is the HTTP response itself, returned to the client at once: boxing it buys nothing.
#[allow(clippy::result_large_err)]
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, Response> {
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(store_err(e)),
        Err(e) => Err(refuse(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("task failed: {e}"),
        )),
    }
}

/// The capture totals a `scan` report shows, summed from every agent's batch counters.
pub fn capture_totals(
    counters: &BTreeMap<String, u64>,
    agents: &BTreeMap<String, crate::store::AgentState>,
) -> CaptureTotals {
    let get = |k: &str| counters.get(k).copied().unwrap_or(0);
    let mut totals = CaptureTotals {
        capture_files: agents.keys().map(|a| format!("agent {a}")).collect(),
        packets: get("packets"),
        bytes: get("bytes"),
        tcp_flows: get("tcp_flows"),
        http_exchanges: get("http_exchanges"),
        ..CaptureTotals::default()
    };
    for (k, v) in counters {
        if let Some(a) = k.strip_prefix("anomaly.") {
            totals.anomalies.insert(a.to_string(), *v);
        } else if !matches!(
            k.as_str(),
            "packets" | "bytes" | "tcp_flows" | "http_exchanges"
        ) {
            totals.counters.insert(k.clone(), *v);
        }
    }
    totals
}
