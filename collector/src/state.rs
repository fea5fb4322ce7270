//! What every request handler shares: the [`AppState`] (store, catalogue in force, metrics,
//! sessions, settings) and the small helpers that answer from it (refusals, bearer-token check,
//! store work off the async threads). The API ([`crate::server`]) and the dashboard
//! ([`crate::ui`]) both build on this module; it depends on neither.

use crate::config::CollectorSettings;
use crate::handshake_log::{HandshakeLog, Refusal};
use crate::metrics::CollectorMetrics;
use crate::store::{Store, StoreError};
use analyzer::catalogue::Catalogue;
use analyzer::classify::Classifier;
use analyzer::finding::{Finding, Severity};
use analyzer::inventory::Inventory;
use analyzer::report::{CaptureTotals, ScanReport, TlsHostsSummary};
use analyzer::tls::TlsInventory;
use analyzer::wire::{ErrorBody, WireLimits};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
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
    /// Bumped by every applied batch and catalogue reload: what [`AppState::analysis`] was
    /// computed at tells whether it is still current.
    generation: AtomicU64,
    /// The last analysis; its mutex also makes concurrent pages wait for one computation
    /// instead of each running their own.
    analysis: Mutex<Option<Arc<FleetAnalysis>>>,
    /// Refused handshakes logged lately (once per peer and reason a minute).
    handshakes: HandshakeLog,
    /// This collector's name among collectors sharing its store (host and port), set once
    /// it listens; its catalogue stamp is recorded under it.
    pub(crate) name: std::sync::OnceLock<String>,
}

/// What the collector derives from its store against the catalogue in force, the same step
/// `scan` runs ([`analyzer::derive`]), computed once per store generation and shared by the
/// API, the report and the dashboard.
#[derive(Debug)]
pub struct FleetAnalysis {
    /// The store generation it was computed at.
    pub generation: u64,
    /// The shared store's revision it was computed at (see [`Store::revision`]).
    pub revision: Option<u64>,
    /// The merged inventory after cardinality learning.
    pub inventory: Inventory,
    pub tls: TlsInventory,
    pub catalogue: Arc<Catalogue>,
    /// Sorted as `scan` sorts them.
    pub findings: Vec<Finding>,
    /// The derivation's summary counters (`tls.*`, `templating.*`).
    pub counters: BTreeMap<String, u64>,
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
            generation: AtomicU64::new(0),
            analysis: Mutex::new(None),
            handshakes: HandshakeLog::default(),
            name: std::sync::OnceLock::new(),
        })
    }

    /// Count a refused handshake, and log it unless this peer had it logged within a minute.
    pub(crate) fn refused_handshake(&self, peer: SocketAddr, refusal: &Refusal) {
        self.metrics.tls_handshake_failures.inc();
        CollectorMetrics::bump(
            &self.metrics.handshake_refusals,
            &[("reason", refusal.label)],
        );
        let now = std::time::Instant::now();
        if self.handshakes.should_log(peer.ip(), refusal.label, now) {
            tracing::warn!(
                "refused TLS handshake from {}: {} (logged once a minute per address)",
                peer.ip(),
                refusal.why
            );
        } else {
            self.metrics.handshake_logs_suppressed.inc();
        }
    }

    /// The store or the catalogue changed: the next [`AppState::analysis`] recomputes.
    pub fn bump_generation(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// The current analysis: cached until the next applied batch or catalogue reload, so pages
    /// and API calls between two batches never rebuild the inventory or diff again.
    pub fn analysis(&self) -> Result<Arc<FleetAnalysis>, StoreError> {
        let mut cached = self.analysis.lock().unwrap_or_else(|p| p.into_inner());
        // Read before the store: a batch applied while computing leaves the result stale
        // (older generation), never newer than its label.
        let generation = self.generation.load(Ordering::SeqCst);
        // Another collector sharing the store may have applied batches too.
        let revision = self.store.revision()?;
        if let Some(a) = cached
            .as_ref()
            .filter(|a| a.generation == generation && a.revision == revision)
        {
            self.metrics.analysis_cache(true);
            return Ok(Arc::clone(a));
        }
        self.metrics.analysis_cache(false);
        let inventory = self.store.inventory()?;
        let tls = self.store.tls()?;
        let catalogue = self.catalogue();
        let sev = |class: &str| self.classifier.severity(class).unwrap_or(Severity::Low);
        let d = analyzer::derive::derive(
            inventory,
            tls,
            &catalogue,
            &self.settings.templating,
            &self.settings.findings,
            &sev,
        );
        self.metrics.findings.set(d.findings.len() as i64);
        self.metrics
            .endpoints
            .set(d.inventory.endpoints.len() as i64);
        let a = Arc::new(FleetAnalysis {
            generation,
            revision,
            inventory: d.inventory,
            tls: d.tls,
            catalogue,
            findings: d.findings,
            counters: d.counters,
        });
        *cached = Some(Arc::clone(&a));
        Ok(a)
    }

    /// The `scan` report of the fleet for `findings` (the analysis's, or a baseline's view of
    /// them): the analysis with the capture totals of every batch.
    pub fn report_of(
        &self,
        a: &FleetAnalysis,
        findings: Vec<Finding>,
    ) -> Result<ScanReport, StoreError> {
        let mut totals = capture_totals(&self.store.counters()?, &self.store.agents()?);
        totals
            .counters
            .extend(a.counters.iter().map(|(k, v)| (k.clone(), *v)));
        let mut report = ScanReport::build(totals, &a.inventory, &a.catalogue, findings);
        let rules = &self.settings.findings.openbanking.capabilities;
        if !rules.is_empty() {
            // Configured capability overrides apply to the exposure table as to the findings.
            report = report.with_capability_rules(&a.inventory, rules);
        }
        report.summary.tls_hosts = TlsHostsSummary::from_inventory(&a.tls);
        Ok(report)
    }

    /// The `scan` report of the fleet, every finding.
    pub fn report(&self) -> Result<ScanReport, StoreError> {
        let a = self.analysis()?;
        self.report_of(&a, a.findings.clone())
    }

    pub(crate) fn catalogue(&self) -> Arc<Catalogue> {
        let guard = self.catalogue.read().unwrap_or_else(|p| p.into_inner());
        Arc::clone(&guard.catalogue)
    }

    /// Inventory and findings against the current catalogue, copied out of
    /// [`AppState::analysis`] (callers that only read should use that and copy nothing).
    pub fn findings(&self) -> Result<(Inventory, Arc<Catalogue>, Vec<Finding>), StoreError> {
        let a = self.analysis()?;
        Ok((
            a.inventory.clone(),
            Arc::clone(&a.catalogue),
            a.findings.clone(),
        ))
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
