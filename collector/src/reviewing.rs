//! Applying a review action: validated, checked against the current findings, stored, counted.
//! The dashboard's forms and the JSON API both come through here; each accepted action is one
//! event of the append-only trail ([`crate::store::Store::record_review`]).

use crate::metrics::CollectorMetrics;
use crate::review::{
    clean_text, decide, now_secs, valid_finding_id, ReviewAction, ReviewEvent, ReviewRecord,
    ReviewState,
};
use crate::state::{blocking, refuse, AppState};
use axum::http::StatusCode;
use axum::response::Response;
use std::sync::Arc;

/// Returns the state in force and the stored record (`None` after a reopen), or the refusal.
pub async fn apply_review(
    st: &Arc<AppState>,
    id: &str,
    action: &str,
    reason: &str,
    suppress_secs: Option<u64>,
    by: &str,
    via: &'static str,
) -> Result<(ReviewState, Option<ReviewRecord>), Response> {
    let invalid = |msg: String| {
        CollectorMetrics::bump(&st.metrics.reviews_refused, &[("reason", "invalid")]);
        refuse(StatusCode::BAD_REQUEST, msg)
    };
    if !valid_finding_id(id) {
        return Err(invalid(format!(
            "{:?} is not a finding id (16 hex digits)",
            clean_text(id, 40)
        )));
    }
    let action: ReviewAction = action.parse().map_err(invalid)?;
    let now = now_secs();
    let record =
        decide(&action, reason, suppress_secs, by, now).map_err(|e| invalid(e.to_string()))?;
    let event = ReviewEvent::of_decision(id, &action, record.as_ref(), by, reason, now);
    let s = Arc::clone(st);
    let id2 = id.to_string();
    let stored = blocking(move || {
        if !s.analysis()?.findings.iter().any(|f| f.id == id2) {
            return Ok(false);
        }
        s.store.record_review(&event)?;
        Ok(true)
    })
    .await;
    match stored {
        Ok(true) => {}
        Ok(false) => {
            CollectorMetrics::bump(
                &st.metrics.reviews_refused,
                &[("reason", "unknown_finding")],
            );
            return Err(refuse(
                StatusCode::NOT_FOUND,
                format!("no current finding has id {id}"),
            ));
        }
        Err(r) => {
            if r.status() == StatusCode::SERVICE_UNAVAILABLE {
                CollectorMetrics::bump(&st.metrics.reviews_refused, &[("reason", "store")]);
            }
            return Err(r);
        }
    }
    let label = match action {
        ReviewAction::Acknowledge => "acknowledge",
        ReviewAction::Suppress => "suppress",
        ReviewAction::Accept => "accept",
        ReviewAction::Reopen => "reopen",
    };
    CollectorMetrics::bump(&st.metrics.reviews, &[("action", label), ("via", via)]);
    let state = record
        .as_ref()
        .map(|r| r.effective(now))
        .unwrap_or(ReviewState::Open);
    Ok((state, record))
}

/// Record the expiry of every suppression run out by now (idempotent), so the trail and what
/// is read from it agree; called before the trail or the review state is read.
pub fn note_expiries(st: &AppState) -> Result<(), crate::store::StoreError> {
    st.store.expire_reviews(now_secs()).map(|_| ())
}
