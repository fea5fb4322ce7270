//! The collector server: mTLS batch ingest, the token-authenticated JSON API and `/metrics`,
//! on one HTTPS listener (tokio + rustls + hyper, routes in axum).
//!
//! | route | auth | what |
//! |---|---|---|
//! | `POST /v1/batches` | agent client certificate | apply one [`Batch`]; answers an [`Ack`] |
//! | `GET /v1/inventory` | bearer token | the merged inventory ([`InventoryDoc`]) |
//! | `GET /v1/findings` | bearer token | findings against the current catalogue (HTTP and TLS), with review state |
//! | `GET/POST /v1/report?format=...` | bearer token | the `scan` report ([`crate::report_api`]) |
//! | `GET /v1/agents` | bearer token | each agent's high-water mark and totals |
//! | `GET /v1/reviews` | bearer token | every review record with its state in force |
//! | `POST /v1/findings/{id}/review` | bearer token | acknowledge, suppress, accept, reopen |
//! | `GET /v1/reviews/{id}/history` | bearer token | one finding's review trail |
//! | `GET /v1/reviews/export?format=csv\|ndjson` | bearer token | the whole trail, for auditors |
//! | `GET/POST /ui/...` | session cookie (+ CSRF token on POST) | the dashboard ([`crate::ui`]) |
//! | `GET /metrics`, `GET /healthz` | none | Prometheus text; liveness |
//!
//! Hostile input: every connection has a handshake and header timeout, the connection count is
//! capped with a reserve for agents and a per-address handshake cap ([`crate::admission`]), a
//! batch body is read with a byte cap and a timeout, and a refusal names its reason in
//! an [`ErrorBody`]. One agent's bad batch is answered on its own connection and touches no
//! shared state. Wall time is used for I/O timeouts and polling only; data carries packet time.

use crate::admission::Admission;
use crate::catalogue_files::{CatalogueOptions, CatalogueReloader};
use crate::catalogue_stamp::{disagreeing, CatalogueStamp};
use crate::config::CollectorSettings;
use crate::handshake_log;
use crate::store::pg::PgStore;
use crate::store::{SledStore, Store, StoreError};
use crate::tls;
use analyzer::catalogue::Catalogue;
use analyzer::classify::Classifier;
use analyzer::wire::{Ack, AckStatus, Batch, InventoryDoc, WireError, MAX_BATCH_HEADER};
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceExt;

use crate::state::{authorized, blocking, refuse, stamps, CatalogueState};
pub use crate::state::{capture_totals, AppState};

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

/// The sled store in `data`, or the PostgreSQL database `store` names. Opened on a blocking
/// thread: every store call is blocking I/O (the PostgreSQL client runs its own runtime).
async fn open_store(settings: &CollectorSettings) -> Result<Arc<dyn Store>, ServerError> {
    let (url, data, limits) = (
        settings.store.clone(),
        settings.data.clone(),
        settings.store_limits(),
    );
    let opened = tokio::task::spawn_blocking(move || -> Result<Arc<dyn Store>, StoreError> {
        Ok(match url {
            Some(url) => Arc::new(PgStore::open(&url, limits)?),
            None => Arc::new(SledStore::open(&data, limits)?),
        })
    })
    .await;
    match opened {
        Ok(r) => Ok(r?),
        Err(e) => Err(ServerError::Store(StoreError::Corrupt {
            what: "store".into(),
            message: format!("opening it failed: {e}"),
        })),
    }
}

/// Open the store, load the catalogue, bind, and serve until [`Running::shutdown`].
pub async fn start(
    settings: CollectorSettings,
    classifier: Classifier,
) -> Result<Running, ServerError> {
    let store = open_store(&settings).await?;
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
    let state = AppState::new(settings, classifier, store, catalogue);
    let st = Arc::clone(&state);
    let _ = tokio::task::spawn_blocking(move || {
        if let Ok(agents) = st.store.agents() {
            st.metrics.agents.set(agents.len() as i64);
        }
        if let Ok(n) = st.store.endpoint_count() {
            st.metrics.endpoints.set(n as i64);
        }
    })
    .await;
    state.metrics.catalogue_loaded(reloader.status(), 0, false);
    let _ = state
        .name
        .set(crate::catalogue_stamp::collector_name(addr.port()));
    let (st, failed) = (Arc::clone(&state), reloader.status().failed.len());
    let _ = tokio::task::spawn_blocking(move || record_catalogue(&st, failed)).await;
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
                    st.bump_generation();
                    tracing::info!("catalogue reloaded");
                    record_catalogue(&st, reloader.status().failed.len());
                    let _ = st.analysis();
                }
                Err(e) => tracing::warn!("catalogue reload failed, keeping the old one: {e}"),
            }
        })
        .await;
    }
}

/// Record the catalogue in force under this collector's name in the store, and say so when a
/// collector sharing the store serves another one (their findings would differ). Blocking.
fn record_catalogue(st: &AppState, failed_files: usize) {
    let Some(name) = st.name.get() else {
        return;
    };
    let stamp = CatalogueStamp::of(&st.catalogue(), failed_files, crate::review::now_secs());
    if let Err(e) = st.store.record_catalogue(name, &stamp) {
        tracing::warn!("recording this collector's catalogue in the store: {e}");
        return;
    }
    match st.store.catalogues() {
        Ok(all) => {
            let off = disagreeing(name, &all);
            st.metrics.catalogue_peers_disagreeing.set(off.len() as i64);
            if !off.is_empty() {
                let peers: Vec<&str> = off.iter().map(|(n, _)| *n).collect();
                tracing::warn!(
                    "collectors on this store serve another catalogue than this one ({}): \
                     their findings differ from this collector's; give them the same specs",
                    peers.join(", ")
                );
            }
        }
        Err(e) => tracing::warn!("reading the catalogues of the store's collectors: {e}"),
    }
}

/// What `GET /v1/catalogues` answers.
#[derive(serde::Serialize)]
struct CataloguesDoc {
    /// This collector's name.
    this: String,
    /// Whether every collector recorded serves this collector's catalogue.
    agree: bool,
    collectors: std::collections::BTreeMap<String, CatalogueStamp>,
}

async fn catalogues(State(st): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Err(r) = authorized(&st, &headers) {
        return r;
    }
    let state = Arc::clone(&st);
    let read = blocking(move || {
        let collectors = state.store.catalogues()?;
        let this = state.name.get().cloned().unwrap_or_default();
        let off = disagreeing(&this, &collectors).len();
        state.metrics.catalogue_peers_disagreeing.set(off as i64);
        Ok(CataloguesDoc {
            this,
            agree: off == 0,
            collectors,
        })
    });
    match read.await {
        Ok(doc) => Json(doc).into_response(),
        Err(r) => r,
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
                failed => {
                    let refusal = match failed {
                        Ok(Err(e)) => handshake_log::classify(&e),
                        _ => handshake_log::timed_out(handshake_timeout),
                    };
                    state.refused_handshake(peer_addr, &refusal);
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
        .route("/v1/agents", get(agents))
        .route("/v1/catalogues", get(catalogues))
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .merge(crate::report_api::routes())
        .merge(crate::review_api::routes())
        .merge(crate::ui::routes())
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            crate::throttle::guard,
        ))
        .with_state(state)
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
        // The gauges, read here: store calls are blocking I/O.
        let accepted = matches!(r, Ok(AckStatus::Accepted));
        let endpoints = accepted.then(|| store.endpoint_count().ok()).flatten();
        let agents = (accepted && batch.seq == 0)
            .then(|| store.agents().ok().map(|a| a.len()))
            .flatten();
        (batch, r, endpoints, agents)
    })
    .await;
    let (batch, result, endpoints, agents) = match applied {
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
                    st.bump_generation();
                    st.metrics.batch("accepted", "");
                    st.metrics.observations.inc_by(batch.observations);
                    if let Some(n) = endpoints {
                        st.metrics.endpoints.set(n as i64);
                    }
                    if let Some(a) = agents {
                        st.metrics.agents.set(a as i64);
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

async fn inventory(State(st): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Err(r) = authorized(&st, &headers) {
        return r;
    }
    let store = Arc::clone(&st.store);
    match blocking(move || Ok(InventoryDoc::new(store.inventory()?, store.tls()?))).await {
        Ok(doc) => Json(doc).into_response(),
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
