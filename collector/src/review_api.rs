//! The review API ([`routes`]): the state in force, decisions, and the append-only trail.
//!
//! | route | what |
//! |---|---|
//! | `GET /v1/reviews` | every review record with its state in force |
//! | `POST /v1/findings/{id}/review` | acknowledge, suppress (reason, `expires_in_secs`), accept, reopen |
//! | `GET /v1/reviews/{id}/history` | one finding's trail, oldest first, with its state now |
//! | `GET /v1/reviews/export?format=csv\|ndjson` | every event of every finding, for auditors |
//!
//! All take the bearer token. Expiries that are due are recorded before anything is read, so
//! the trail never lags what the state says.

use crate::metrics::CollectorMetrics;
use crate::review::{now_secs, trail_csv, trail_ndjson, valid_finding_id, MAX_FORM_BYTES};
use crate::reviewing::note_expiries;
use crate::state::{authorized, blocking, refuse, AppState};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use std::collections::BTreeMap;
use std::sync::Arc;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/v1/reviews", get(reviews))
        .route("/v1/reviews/export", get(export))
        .route("/v1/reviews/{id}/history", get(history))
        .route(
            "/v1/findings/{id}/review",
            post(api_review).layer(axum::extract::DefaultBodyLimit::max(MAX_FORM_BYTES)),
        )
}

/// Every review record with the state in force now (an expired suppression reads `open`).
async fn reviews(State(st): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Err(r) = authorized(&st, &headers) {
        return r;
    }
    let s = Arc::clone(&st);
    match blocking(move || {
        note_expiries(&s)?;
        s.store.reviews()
    })
    .await
    {
        Ok(all) => {
            let now = now_secs();
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
    Path(id): Path<String>,
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
    crate::reviewing::apply_review(
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

/// `GET /v1/reviews/{id}/history`: `{"id", "state", "record", "events": [...]}`.
async fn history(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Err(r) = authorized(&st, &headers) {
        return r;
    }
    if !valid_finding_id(&id) {
        return refuse(
            StatusCode::BAD_REQUEST,
            "not a finding id (16 lower-case hex digits)",
        );
    }
    let s = Arc::clone(&st);
    let id2 = id.clone();
    let read = blocking(move || {
        note_expiries(&s)?;
        let record = s.store.reviews()?.remove(&id2);
        Ok((record, s.store.review_events(Some(&id2))?))
    })
    .await;
    match read {
        Ok((record, events)) => {
            let state = record
                .as_ref()
                .map_or(crate::review::ReviewState::Open, |r| {
                    r.effective(now_secs())
                });
            Json(serde_json::json!({
                "id": id, "state": state, "record": record, "events": events
            }))
            .into_response()
        }
        Err(r) => r,
    }
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct ExportQuery {
    format: String,
}

/// `GET /v1/reviews/export?format=csv|ndjson`: the whole trail, ordered by time.
async fn export(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    q: Result<Query<ExportQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    if let Err(r) = authorized(&st, &headers) {
        return r;
    }
    let format = q.map(|Query(q)| q.format).unwrap_or_default();
    if !matches!(format.as_str(), "csv" | "ndjson") {
        return refuse(
            StatusCode::BAD_REQUEST,
            format!("unknown trail export format {format:?} (csv, ndjson)"),
        );
    }
    let s = Arc::clone(&st);
    let events = match blocking(move || {
        note_expiries(&s)?;
        s.store.review_events(None)
    })
    .await
    {
        Ok(e) => e,
        Err(r) => return r,
    };
    let (body, ct) = if format == "csv" {
        (trail_csv(&events), "text/csv; charset=utf-8")
    } else {
        (trail_ndjson(&events), "application/x-ndjson")
    };
    ([(header::CONTENT_TYPE, ct)], body).into_response()
}
