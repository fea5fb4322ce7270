//! What a page shows, read once per request off the async threads, and small shared renderers.

use crate::review::{now_secs, ReviewRecord, ReviewState};
use crate::state::{blocking, capture_totals, AppState};
use analyzer::catalogue::Catalogue;
use analyzer::finding::Finding;
use analyzer::inventory::Inventory;
use analyzer::report::ScanReport;
use axum::response::Response;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Everything a page needs, computed once per request off the async threads.
pub(super) struct View {
    pub(super) report: ScanReport,
    pub(super) inventory: Inventory,
    pub(super) catalogue: Arc<Catalogue>,
    pub(super) reviews: BTreeMap<String, ReviewRecord>,
    pub(super) agents: usize,
    pub(super) now: u64,
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
    let s = Arc::clone(st);
    blocking(move || {
        let (inventory, catalogue, findings) = s.findings()?;
        let agents = s.store.agents()?;
        let totals = capture_totals(&s.store.counters()?, &agents);
        let report = ScanReport::build(totals, &inventory, &catalogue, findings);
        Ok(View {
            report,
            inventory,
            catalogue,
            reviews: s.store.reviews()?,
            agents: agents.len(),
            now: now_secs(),
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

/// Unix seconds -> `2026-03-02 09:00 UTC` (civil date from days since the epoch).
pub(super) fn wall_time(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rem / 3600,
        (rem % 3600) / 60
    )
}
