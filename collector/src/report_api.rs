//! What the fleet reports, built the way `scan` builds it: `/v1/report` (every `scan` format,
//! a baseline, `--fail-on`) and `/v1/findings`, both carrying the review state in force.
//!
//! | route | what |
//! |---|---|
//! | `GET /v1/report?format=text\|json\|markdown\|html\|sarif&fail_on=SEVERITY` | the report |
//! | `POST /v1/report?...&baseline_source=NAME` (body: a baseline file) | only new and changed findings, fixed ones listed |
//! | `GET /v1/findings` | every finding, each with `review_state` and the `review` (who, when, why) |
//! | `GET /v1/export/{format}` | the inventory for asset tools, as `shadowtap export` writes it: `csv`, `ndjson`, `openapi`, `cyclonedx`, `backstage`, `inventory` (the `scan --save-inventory` file, for `compare`) |
//!
//! With `fail_on`, the answer says in the [`FAIL_ON_HEADER`] header whether a finding at or
//! above that severity exists that no reviewer suppressed or accepted
//! ([`ScanReport::has_findings_at`]): the CLI turns it into `scan`'s exit status.

use crate::review::{now_secs, ReviewRecord};
use crate::reviewing::note_expiries;
use crate::state::{authorized, blocking, refuse, AppState, FleetAnalysis};
use crate::store::StoreError;
use analyzer::diff::baseline::Baseline;
use analyzer::export::Snapshot;
use analyzer::finding::{Finding, Severity};
use analyzer::report::review::{ReviewNote, ReviewState};
use analyzer::report::{Format, ScanReport};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Answer header of `/v1/report?fail_on=...`: `tripped` or `clear`.
pub const FAIL_ON_HEADER: &str = "x-shadowtap-fail-on";
/// Largest baseline a `POST /v1/report` reads.
pub const MAX_BASELINE_BYTES: usize = 64 << 20;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route(
            "/v1/report",
            get(report)
                .post(report)
                .layer(DefaultBodyLimit::max(MAX_BASELINE_BYTES)),
        )
        .route("/v1/findings", get(findings))
        .route("/v1/export/{format}", get(export))
}

/// The export formats of `shadowtap export`, by name.
pub const EXPORT_FORMATS: [&str; 6] = [
    "csv",
    "ndjson",
    "openapi",
    "cyclonedx",
    "backstage",
    "inventory",
];

/// The fleet's inventory in an export format: the same [`Snapshot`] (inventory plus catalogue)
/// and renderers as `shadowtap export` on a `scan --save-inventory` file. `None`: unknown format.
pub fn render_export(snapshot: &Snapshot, format: &str) -> Option<(String, &'static str)> {
    use analyzer::export::{
        render_backstage, render_csv, render_cyclonedx, render_ndjson, render_openapi,
    };
    Some(match format {
        "csv" => (render_csv(snapshot), "text/csv; charset=utf-8"),
        "ndjson" => (render_ndjson(snapshot), "application/x-ndjson"),
        "openapi" => (render_openapi(snapshot), "application/json"),
        "cyclonedx" => (render_cyclonedx(snapshot), "application/vnd.cyclonedx+json"),
        "backstage" => (render_backstage(snapshot), "application/yaml"),
        // The snapshot itself, as `scan --save-inventory` writes it: what `compare` reads.
        "inventory" => (snapshot.to_json(), "application/json"),
        _ => return None,
    })
}

async fn export(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    axum::extract::Path(format): axum::extract::Path<String>,
) -> Response {
    if let Err(r) = authorized(&st, &headers) {
        return r;
    }
    if !EXPORT_FORMATS.contains(&format.as_str()) {
        return refuse(
            StatusCode::NOT_FOUND,
            format!(
                "unknown export format {:?} ({})",
                crate::review::clean_text(&format, 40),
                EXPORT_FORMATS.join(", ")
            ),
        );
    }
    let s = Arc::clone(&st);
    let snapshot = blocking(move || {
        let inv = s.store.inventory()?;
        Ok(Snapshot::build(&inv, &s.catalogue()))
    })
    .await;
    match snapshot.map(|snap| render_export(&snap, &format)) {
        Ok(Some((body, ct))) => ([(header::CONTENT_TYPE, ct)], body).into_response(),
        Ok(None) => refuse(StatusCode::NOT_FOUND, "unknown export format"),
        Err(r) => r,
    }
}

/// The review notes in force for `findings` (an expired suppression reads `open`).
pub fn review_notes(
    records: &BTreeMap<String, ReviewRecord>,
    findings: &[Finding],
    now: u64,
) -> BTreeMap<String, ReviewNote> {
    findings
        .iter()
        .filter_map(|f| {
            let r = records.get(&f.id)?;
            Some((
                f.id.clone(),
                ReviewNote {
                    state: r.effective(now),
                    by: r.by.clone(),
                    at: r.at,
                    reason: r.reason.clone(),
                    expires: r.expires,
                },
            ))
        })
        .collect()
}

/// The report `scan` would print for the fleet's traffic: findings (compared with `baseline`
/// when given), totals from every agent, and the review decisions in force; with the
/// catalogue and inventory it was built from. Blocking.
pub fn build_report(
    st: &AppState,
    baseline: Option<&(String, Baseline)>,
) -> Result<(ScanReport, Arc<FleetAnalysis>), StoreError> {
    note_expiries(st)?;
    let a = st.analysis()?;
    let findings = a.findings.clone();
    let (findings, comparison) = match baseline {
        Some((source, b)) => {
            let (shown, cmp) = b.compare(source, findings);
            (shown, Some(cmp))
        }
        None => (findings, None),
    };
    let mut report = st.report_of(&a, findings)?;
    report.baseline = comparison;
    report.reviews = review_notes(&st.store.reviews()?, &report.findings, now_secs());
    Ok((report, a))
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct ReportQuery {
    format: Option<String>,
    fail_on: Option<String>,
    /// The baseline's name, for the report's "compared with" line.
    baseline_source: Option<String>,
}

async fn report(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    q: Result<Query<ReportQuery>, axum::extract::rejection::QueryRejection>,
    body: Bytes,
) -> Response {
    if let Err(r) = authorized(&st, &headers) {
        return r;
    }
    let Ok(Query(q)) = q else {
        return refuse(StatusCode::BAD_REQUEST, "unreadable report query");
    };
    let format = match q.format.as_deref().unwrap_or("text").parse::<Format>() {
        Ok(f) => f,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, e),
    };
    let fail_on = match q.fail_on.as_deref().map(str::parse::<Severity>) {
        None => None,
        Some(Ok(s)) => Some(s),
        Some(Err(_)) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "fail_on: unknown severity (info, low, medium, high, critical)",
            )
        }
    };
    let baseline = if body.is_empty() {
        None
    } else {
        let source = q.baseline_source.unwrap_or_else(|| "baseline".into());
        let text = match std::str::from_utf8(&body) {
            Ok(t) => t,
            Err(e) => {
                return refuse(
                    StatusCode::BAD_REQUEST,
                    format!("baseline {source}: not UTF-8 at byte {}", e.valid_up_to()),
                )
            }
        };
        match Baseline::from_json(text) {
            Ok(b) => Some((source, b)),
            Err(e) => return refuse(StatusCode::BAD_REQUEST, format!("baseline {source}: {e}")),
        }
    };
    let s = Arc::clone(&st);
    let built = blocking(move || build_report(&s, baseline.as_ref())).await;
    let (report, analysis) = match built {
        Ok(r) => r,
        Err(r) => return r,
    };
    let mut r = (
        [(header::CONTENT_TYPE, format.content_type())],
        report.render(format, &analysis.catalogue),
    )
        .into_response();
    if let Some(t) = fail_on {
        let v = if report.has_findings_at(t) {
            "tripped"
        } else {
            "clear"
        };
        r.headers_mut()
            .insert(FAIL_ON_HEADER, HeaderValue::from_static(v));
    }
    r
}

/// One finding of `/v1/findings`: the finding's own fields plus its review.
#[derive(serde::Serialize)]
struct ReviewedFinding<'a> {
    #[serde(flatten)]
    finding: &'a Finding,
    review_state: ReviewState,
    #[serde(skip_serializing_if = "Option::is_none")]
    review: Option<&'a ReviewNote>,
}

async fn findings(State(st): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Err(r) = authorized(&st, &headers) {
        return r;
    }
    let s = Arc::clone(&st);
    let read = blocking(move || {
        note_expiries(&s)?;
        let a = s.analysis()?;
        let notes = review_notes(&s.store.reviews()?, &a.findings, now_secs());
        Ok((a, notes))
    })
    .await;
    match read {
        Ok((analysis, notes)) => {
            let out: Vec<ReviewedFinding<'_>> = analysis
                .findings
                .iter()
                .map(|f| {
                    let review = notes.get(&f.id);
                    ReviewedFinding {
                        finding: f,
                        review_state: review.map_or(ReviewState::Open, |n| n.state),
                        review,
                    }
                })
                .collect();
            Json(out).into_response()
        }
        Err(r) => r,
    }
}
