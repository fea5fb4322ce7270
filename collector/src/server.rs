//! The collector server: mTLS batch ingest, the token-authenticated JSON API and `/metrics`,
//! on one HTTPS listener (tokio + rustls + hyper, routes in axum).
//!
//! | route | auth | what |
//! |---|---|---|
//! | `POST /v1/batches` | agent client certificate | apply one [`Batch`]; answers an [`Ack`] |
//! | `GET /v1/inventory` | bearer token | the merged inventory ([`InventoryDoc`]) |
//! | `GET /v1/findings` | bearer token | findings against the current catalogue |
//! | `GET /v1/report?format=text\|json\|markdown` | bearer token | the `scan` report |
//! | `GET /v1/agents` | bearer token | each agent's high-water mark and totals |
//! | `GET /v1/reviews` | bearer token | every review record with its state in force |
//! | `POST /v1/findings/{id}/review` | bearer token | acknowledge, suppress, accept, reopen |
//! | `GET/POST /ui/...` | session cookie (+ CSRF token on POST) | the dashboard ([`crate::dashboard`]) |
//! | `GET /metrics`, `GET /healthz` | none | Prometheus text; liveness |
//!
//! Hostile input: every connection has a handshake and header timeout, the connection count is
//! capped with a reserve for agents and a per-address handshake cap ([`crate::admission`]), a
//! batch body is read with a byte cap and a timeout, and a refusal names its reason in
//! an [`ErrorBody`]. One agent's bad batch is answered on its own connection and touches no
//! shared state. Wall time is used for I/O timeouts and polling only; data carries packet time.

use crate::admission::Admission;
use crate::catalogue_files::{CatalogueOptions, CatalogueReloader};
use crate::config::CollectorSettings;
use crate::metrics::CollectorMetrics;
use crate::store::{SledStore, Store, StoreError};
use crate::tls;
use analyzer::catalogue::Catalogue;
use analyzer::classify::Classifier;
use analyzer::diff::diff;
use analyzer::finding::{Finding, Severity};
use analyzer::inventory::Inventory;
use analyzer::report::{render_markdown, render_text, CaptureTotals, ScanReport};
use analyzer::wire::{
    Ack, AckStatus, Batch, ErrorBody, InventoryDoc, WireError, WireLimits, MAX_BATCH_HEADER,
};
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceExt;

/// The client certificate identity of the connection a request came on.
#[derive(Debug, Clone)]
pub struct Peer(pub Option<String>);

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("collector TLS: {0}")]
    Tls(#[from] tls::TlsError),
    /// Not `#[from]`: that makes the store error the source too, and `{:#}` (the CLI's error
    /// line) would print it twice.
    #[error("collector store: {0}")]
    Store(StoreError),
    #[error("collector listen on {addr}: {source}")]
    Listen {
        addr: String,
        source: std::io::Error,
    },
    #[error("collector catalogue: {0}")]
    Catalogue(String),
}

impl From<StoreError> for ServerError {
    fn from(e: StoreError) -> Self {
        ServerError::Store(e)
    }
}

/// The catalogue in force, with the file stamps it was loaded from.
struct CatalogueState {
    catalogue: Arc<Catalogue>,
    stamps: Vec<(PathBuf, Option<SystemTime>, u64)>,
}

pub struct AppState {
    pub store: Arc<dyn Store>,
    pub metrics: CollectorMetrics,
    pub(crate) sessions: crate::dashboard::Sessions,
    pub(crate) settings: CollectorSettings,
    pub(crate) throttle: crate::throttle::Throttle,
    wire: WireLimits,
    classifier: Classifier,
    catalogue: RwLock<CatalogueState>,
}

impl AppState {
    /// State over an already open store and a loaded catalogue (what [`start`] builds; tests
    /// use it to drive [`router`] without sockets).
    pub fn new(
        settings: CollectorSettings,
        classifier: Classifier,
        store: Arc<dyn Store>,
        catalogue: Catalogue,
    ) -> Arc<AppState> {
        Arc::new(AppState {
            store,
            metrics: CollectorMetrics::new(),
            sessions: crate::dashboard::Sessions::new(
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

/// A running collector: its address and a way to stop it.
pub struct Running {
    pub addr: SocketAddr,
    pub state: Arc<AppState>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Stop accepting and wait for the accept loop to end.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// Every file under the catalogue paths with its mtime and size, sorted.
fn stamps(paths: &[PathBuf]) -> Vec<(PathBuf, Option<SystemTime>, u64)> {
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

/// Load (or reload) the catalogue. A file that fails is served from its last good version
/// (see [`CatalogueReloader`]) and said in a warning; `Err` keeps the previous catalogue.
fn load(reloader: &mut CatalogueReloader) -> Result<Catalogue, ServerError> {
    let catalogue = reloader
        .load()
        .map_err(|e| ServerError::Catalogue(e.to_string()))?;
    if let Some(banner) = reloader.status().banner() {
        tracing::warn!("catalogue: {banner}");
    }
    Ok(catalogue)
}

/// Open the store, load the catalogue, bind, and serve until [`Running::shutdown`].
pub async fn start(
    settings: CollectorSettings,
    classifier: Classifier,
) -> Result<Running, ServerError> {
    let store = SledStore::open(&settings.data, settings.store_limits())?;
    let tls_config = tls::server_config(&settings.cert, &settings.key, &settings.ca)?;
    let mut reloader = CatalogueReloader::new(
        &settings.catalog,
        CatalogueOptions {
            extra_roots: settings.catalog_root.clone(),
            ..CatalogueOptions::default()
        },
    );
    let catalogue = load(&mut reloader)?;
    let listener = TcpListener::bind(&settings.listen)
        .await
        .map_err(|e| ServerError::Listen {
            addr: settings.listen.clone(),
            source: e,
        })?;
    let addr = listener.local_addr().map_err(|e| ServerError::Listen {
        addr: settings.listen.clone(),
        source: e,
    })?;
    let state = AppState::new(settings, classifier, Arc::new(store), catalogue);
    if let Ok(agents) = state.store.agents() {
        state.metrics.agents.set(agents.len() as i64);
    }
    if let Ok(n) = state.store.endpoint_count() {
        state.metrics.endpoints.set(n as i64);
    }
    state.metrics.catalogue_loaded(reloader.status(), 0, false);
    let (stop, stop_rx) = watch::channel(false);
    tokio::spawn(watch_catalogue(
        Arc::clone(&state),
        stop_rx.clone(),
        reloader,
    ));
    let app = router(Arc::clone(&state));
    let acceptor = tokio_rustls::TlsAcceptor::from(tls_config);
    let task = tokio::spawn(accept_loop(
        listener,
        acceptor,
        app,
        Arc::clone(&state),
        stop_rx,
    ));
    Ok(Running {
        addr,
        state,
        stop,
        task,
    })
}

/// Reload the catalogue when a file under it changes (mtime or size), polled.
async fn watch_catalogue(
    state: Arc<AppState>,
    mut stop: watch::Receiver<bool>,
    reloader: CatalogueReloader,
) {
    let every = Duration::from_millis(state.settings.catalogue_poll_ms.max(100));
    let reloader = Arc::new(std::sync::Mutex::new(reloader));
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
        let paths = state.settings.catalog.clone();
        let reloader = Arc::clone(&reloader);
        let st = Arc::clone(&state);
        let _ = tokio::task::spawn_blocking(move || {
            let now = stamps(&paths);
            let changed = {
                let g = st.catalogue.read().unwrap_or_else(|p| p.into_inner());
                g.stamps != now
            };
            if !changed {
                return;
            }
            let mut reloader = reloader.lock().unwrap_or_else(|p| p.into_inner());
            let failed_before = reloader.status().failed_loads;
            let loaded = load(&mut reloader);
            st.metrics
                .catalogue_loaded(reloader.status(), failed_before, true);
            match loaded {
                Ok(cat) => {
                    let mut g = st.catalogue.write().unwrap_or_else(|p| p.into_inner());
                    *g = CatalogueState {
                        catalogue: Arc::new(cat),
                        stamps: now,
                    };
                    drop(g);
                    tracing::info!("catalogue reloaded");
                    let _ = st.findings();
                }
                Err(e) => tracing::warn!("catalogue reload failed, keeping the old one: {e}"),
            }
        })
        .await;
    }
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    app: Router,
    state: Arc<AppState>,
    mut stop: watch::Receiver<bool>,
) {
    let admission = Admission::new(
        state.settings.max_connections,
        state.settings.max_handshakes_per_address,
    );
    let io_timeout = Duration::from_millis(state.settings.io_timeout_ms.max(1));
    let handshake_timeout = Duration::from_millis(state.settings.handshake_timeout_ms.max(1));
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.changed() => return,
        };
        let Ok((tcp, peer_addr)) = accepted else {
            // Accept errors (EMFILE, aborted handshakes) are transient: keep serving.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let ticket = match admission.handshake(peer_addr.ip()) {
            Ok(t) => t,
            Err(why) => {
                state.metrics.connections_refused.inc();
                tracing::debug!("connection from {peer_addr} refused: {why:?}");
                drop(tcp);
                continue;
            }
        };
        let acceptor = acceptor.clone();
        let app = app.clone();
        let state = Arc::clone(&state);
        let admission = Arc::clone(&admission);
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(handshake_timeout, acceptor.accept(tcp)).await {
                Ok(Ok(s)) => s,
                _ => {
                    state.metrics.tls_handshake_failures.inc();
                    return;
                }
            };
            drop(ticket);
            let peer = Peer(
                tls.get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|c| c.first())
                    .and_then(tls::cert_identity),
            );
            let Some(_slot) = admission.stay(peer.0.is_some()) else {
                state.metrics.connections_refused.inc();
                return;
            };
            state.metrics.connections_open.inc();
            let remote = crate::throttle::RemoteAddr(peer_addr.ip());
            let svc = hyper::service::service_fn(move |mut req: hyper::Request<_>| {
                req.extensions_mut().insert(peer.clone());
                req.extensions_mut().insert(remote);
                app.clone().oneshot(req)
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(io_timeout)
                .max_buf_size(64 * 1024)
                .serve_connection(TokioIo::new(tls), svc)
                .await;
            state.metrics.connections_open.dec();
        });
    }
}

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route(analyzer::wire::INGEST_PATH, post(ingest))
        .route("/v1/inventory", get(inventory))
        .route("/v1/findings", get(findings))
        .route("/v1/report", get(report))
        .route("/v1/agents", get(agents))
        .route("/v1/reviews", get(reviews))
        .route(
            "/v1/findings/{id}/review",
            post(api_review).layer(axum::extract::DefaultBodyLimit::max(
                crate::dashboard::MAX_FORM_BYTES,
            )),
        )
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .merge(crate::dashboard::routes())
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            crate::throttle::guard,
        ))
        .with_state(state)
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

fn is_length_limit(e: &axum::Error) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if err.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        cur = err.source();
    }
    false
}

/// `POST /v1/batches`: every answer states the batch size limit ([`MAX_BATCH_HEADER`]), so
/// agents split to fit instead of meeting refusals.
async fn ingest(
    state: State<Arc<AppState>>,
    peer: Extension<Peer>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let max = state.wire.max_bytes;
    let mut response = ingest_batch(state, peer, headers, body).await;
    response
        .headers_mut()
        .insert(MAX_BATCH_HEADER, header::HeaderValue::from(max));
    response
}

async fn ingest_batch(
    State(st): State<Arc<AppState>>,
    Extension(peer): Extension<Peer>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(identity) = peer.0 else {
        st.metrics.batch("refused", "no_certificate");
        return refuse(
            StatusCode::UNAUTHORIZED,
            "a client certificate signed by the agent CA is required to send batches",
        );
    };
    let max = st.wire.max_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        st.metrics.batch("refused", "too_large");
        let expects_continue = headers
            .get(header::EXPECT)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
        if !expects_continue {
            // Read (and discard) what the client is still sending, within bounds, so it is
            // not reset mid-write and can read the answer. (A client that asked to continue
            // has sent nothing yet: reading would invite the body.)
            let timeout = Duration::from_millis(st.settings.io_timeout_ms.max(1));
            let _ = tokio::time::timeout(timeout, discard(body, DRAIN_LIMIT)).await;
        }
        return refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "batch body of {} bytes is over the {max}-byte limit",
                declared.unwrap_or(0)
            ),
        );
    }
    let timeout = Duration::from_millis(st.settings.io_timeout_ms.max(1));
    let bytes = match tokio::time::timeout(timeout, axum::body::to_bytes(body, max)).await {
        Ok(Ok(b)) => b,
        Ok(Err(e)) if is_length_limit(&e) => {
            st.metrics.batch("refused", "too_large");
            return refuse(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("batch body is over the {max}-byte limit"),
            );
        }
        Ok(Err(e)) => {
            st.metrics.batch("refused", "body_error");
            return refuse(StatusCode::BAD_REQUEST, format!("reading batch body: {e}"));
        }
        Err(_) => {
            st.metrics.batch("refused", "timeout");
            return refuse(
                StatusCode::REQUEST_TIMEOUT,
                format!("batch body not received within {} ms", timeout.as_millis()),
            );
        }
    };
    st.metrics.request_bytes.inc_by(bytes.len() as u64);
    let batch = match Batch::decode(&bytes, &st.wire) {
        Ok(b) => b,
        Err(e) => {
            let (status, reason) = match e {
                WireError::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
                WireError::Version(_) => (StatusCode::BAD_REQUEST, "version"),
                WireError::OverLimit { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "over_limit"),
                WireError::Malformed(_) | WireError::AgentId(_) | WireError::RunId(_) => {
                    (StatusCode::BAD_REQUEST, "malformed")
                }
                WireError::Implausible { .. } => (StatusCode::BAD_REQUEST, "implausible"),
            };
            st.metrics.batch("refused", reason);
            return refuse(status, e.to_string());
        }
    };
    if batch.agent_id != identity {
        st.metrics.batch("refused", "wrong_agent");
        return refuse(
            StatusCode::FORBIDDEN,
            format!(
                "batch claims agent {:?} but the client certificate names {identity:?}",
                batch.agent_id
            ),
        );
    }
    let store = Arc::clone(&st.store);
    let applied = tokio::task::spawn_blocking(move || {
        let r = store.apply(&batch);
        (batch, r)
    })
    .await;
    let (batch, result) = match applied {
        Ok(x) => x,
        Err(e) => {
            st.metrics.batch("refused", "store_error");
            return refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("store task failed: {e}"),
            );
        }
    };
    match result {
        Ok(status) => {
            match status {
                AckStatus::Accepted => {
                    st.metrics.batch("accepted", "");
                    st.metrics.observations.inc_by(batch.observations);
                    if let Ok(n) = st.store.endpoint_count() {
                        st.metrics.endpoints.set(n as i64);
                    }
                    if batch.seq == 0 {
                        if let Ok(a) = st.store.agents() {
                            st.metrics.agents.set(a.len() as i64);
                        }
                    }
                }
                AckStatus::Duplicate => st.metrics.batch("duplicate", ""),
            }
            Json(Ack {
                status,
                agent_id: batch.agent_id,
                epoch: batch.epoch,
                seq: batch.seq,
            })
            .into_response()
        }
        Err(StoreError::TooManyAgents(n)) => {
            st.metrics.batch("refused", "too_many_agents");
            refuse(
                StatusCode::FORBIDDEN,
                format!("the collector's limit of {n} agents is reached"),
            )
        }
        Err(e) => {
            st.metrics.batch("refused", "store_error");
            refuse(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
        }
    }
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
fn authorized(st: &AppState, headers: &HeaderMap) -> Result<(), Response> {
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

async fn inventory(State(st): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Err(r) = authorized(&st, &headers) {
        return r;
    }
    let store = Arc::clone(&st.store);
    match blocking(move || store.inventory()).await {
        Ok(inv) => Json(InventoryDoc::from_inventory(&inv)).into_response(),
        Err(r) => r,
    }
}

async fn findings(State(st): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Err(r) = authorized(&st, &headers) {
        return r;
    }
    let s = Arc::clone(&st);
    match blocking(move || s.findings().map(|(_, _, f)| f)).await {
        Ok(f) => Json(f).into_response(),
        Err(r) => r,
    }
}

async fn agents(State(st): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Err(r) = authorized(&st, &headers) {
        return r;
    }
    let store = Arc::clone(&st.store);
    match blocking(move || store.agents()).await {
        Ok(a) => Json(a).into_response(),
        Err(r) => r,
    }
}

/// Every review record with the state in force now (an expired suppression reads `open`).
async fn reviews(State(st): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Err(r) = authorized(&st, &headers) {
        return r;
    }
    let store = Arc::clone(&st.store);
    match blocking(move || store.reviews()).await {
        Ok(all) => {
            let now = crate::review::now_secs();
            let out: BTreeMap<String, serde_json::Value> = all
                .into_iter()
                .map(|(id, r)| {
                    let state = r.effective(now);
                    (id, serde_json::json!({"state": state, "record": r}))
                })
                .collect();
            Json(out).into_response()
        }
        Err(r) => r,
    }
}

/// Body of `POST /v1/findings/{id}/review`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ApiReview {
    action: String,
    #[serde(default)]
    reason: String,
    /// Suppressions: how long, in seconds.
    #[serde(default)]
    expires_in_secs: Option<u64>,
    /// Who, for the audit record (recorded as `api:<by>`).
    #[serde(default)]
    by: Option<String>,
}

async fn api_review(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    axum::extract::Path(id): axum::extract::Path<String>,
    body: Result<Json<ApiReview>, axum::extract::rejection::JsonRejection>,
) -> Response {
    if let Err(r) = authorized(&st, &headers) {
        return r;
    }
    let Json(req) = match body {
        Ok(b) => b,
        Err(e) => {
            CollectorMetrics::bump(&st.metrics.reviews_refused, &[("reason", "invalid")]);
            return refuse(e.status(), format!("review body: {}", e.body_text()));
        }
    };
    let by = match req.by.as_deref().map(str::trim).filter(|b| !b.is_empty()) {
        Some(b) => format!("api:{b}"),
        None => "api".to_string(),
    };
    crate::dashboard::apply_review(
        &st,
        &id,
        &req.action,
        &req.reason,
        req.expires_in_secs,
        &by,
        "api",
    )
    .await
    .map(|(state, record)| {
        Json(serde_json::json!({"id": id, "state": state, "record": record})).into_response()
    })
    .unwrap_or_else(|r| r)
}

#[derive(serde::Deserialize)]
struct ReportQuery {
    format: Option<String>,
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

async fn report(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<ReportQuery>,
) -> Response {
    if let Err(r) = authorized(&st, &headers) {
        return r;
    }
    let format = q.format.unwrap_or_else(|| "text".into());
    if !matches!(format.as_str(), "text" | "json" | "markdown") {
        return refuse(
            StatusCode::BAD_REQUEST,
            format!("unknown report format {format:?} (text, json, markdown)"),
        );
    }
    let s = Arc::clone(&st);
    let built = blocking(move || {
        let (inv, catalogue, findings) = s.findings()?;
        let totals = capture_totals(&s.store.counters()?, &s.store.agents()?);
        Ok(ScanReport::build(totals, &inv, &catalogue, findings))
    })
    .await;
    let report = match built {
        Ok(r) => r,
        Err(r) => return r,
    };
    let (body, ct) = match format.as_str() {
        "json" => (report.to_json() + "\n", "application/json"),
        "markdown" => (render_markdown(&report), "text/markdown; charset=utf-8"),
        _ => (render_text(&report), "text/plain; charset=utf-8"),
    };
    ([(header::CONTENT_TYPE, ct)], body).into_response()
}

async fn metrics(State(st): State<Arc<AppState>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        st.metrics.render(),
    )
        .into_response()
}

/// Most bytes of a refused body read and discarded before answering (beyond it the
/// connection is closed under the client).
const DRAIN_LIMIT: usize = 4 << 20;

/// Read `body` to its end or to `limit` bytes, keeping nothing.
async fn discard(body: Body, limit: usize) {
    use http_body_util::BodyExt as _;
    let mut body = body;
    let mut seen = 0usize;
    while let Some(Ok(frame)) = body.frame().await {
        seen += frame.data_ref().map_or(0, |d| d.len());
        if seen > limit {
            break;
        }
    }
}
