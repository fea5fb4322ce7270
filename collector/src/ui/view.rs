//! What a page shows, read once per request off the async threads, and small shared renderers.

use crate::report_api::build_report;
pub(super) use crate::review::wall_time;
use crate::review::{now_secs, ReviewEvent, ReviewRecord, ReviewState};
use crate::state::{blocking, AppState, FleetAnalysis};
use analyzer::finding::Finding;
use analyzer::report::ScanReport;
use axum::response::Response;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Everything a page needs, computed once per request off the async threads.
pub(super) struct View {
    pub(super) report: ScanReport,
    /// The inventory and catalogue the report was built from (shared, not copied).
    pub(super) analysis: Arc<FleetAnalysis>,
    pub(super) reviews: BTreeMap<String, ReviewRecord>,
    pub(super) agents: usize,
    pub(super) now: u64,
    /// The review trail of the one finding a page shows (empty on other pages).
    pub(super) trail: Vec<ReviewEvent>,
}

impl View {
    pub(super) fn state_of(&self, id: &str) -> ReviewState {
        self.reviews
            .get(id)
            .map(|r| r.effective(self.now))
            .unwrap_or(ReviewState::Open)
    }
}

#[allow(clippy::result_large_err)]
pub(super) async fn load(st: &Arc<AppState>) -> Result<View, Response> {
    load_with_trail(st, None).await
}

/// [`load`], plus the review trail of finding `trail_of`.
#[allow(clippy::result_large_err)]
pub(super) async fn load_with_trail(
    st: &Arc<AppState>,
    trail_of: Option<String>,
) -> Result<View, Response> {
    let s = Arc::clone(st);
    blocking(move || {
        let (report, analysis) = build_report(&s, None)?;
        let trail = match &trail_of {
            Some(id) => s.store.review_events(Some(id))?,
            None => Vec::new(),
        };
        let agents = s.store.agents()?.len();
        Ok(View {
            report,
            analysis,
            reviews: s.store.reviews()?,
            agents,
            now: now_secs(),
            trail,
        })
    })
    .await
}

/// Data classes a finding's evidence names (`class@location` -> `class`).
pub(super) fn finding_classes(f: &Finding) -> Vec<String> {
    let mut out: Vec<String> = f
        .evidence
        .data_classes
        .iter()
        .chain(f.evidence.undeclared_data_classes.keys())
        .map(|c| c.split('@').next().unwrap_or(c).to_string())
        .collect();
    out.sort();
    out.dedup();
    out
}

pub(super) fn state_chip(s: ReviewState) -> String {
    format!("<span class=\"state st-{0}\">{0}</span>", s.as_str())
}
