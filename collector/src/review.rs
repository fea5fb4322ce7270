//! Review state: what a reviewer decided about a finding, by whom and when, and the trail of
//! every decision ([`ReviewEvent`]).
//!
//! Pure types and rules; the sled trees that keep them are in [`crate::store`], the forms and the
//! JSON API that change them are in [`crate::ui`] and [`crate::server`].
//!
//! The trail is append-only: each action (and the expiry of a suppression) is one event, never
//! rewritten; the current [`ReviewRecord`] is what the latest event left, kept beside the trail
//! so a page does not replay history. Records from before the trail existed become one
//! [`EventAction::Migrate`] event each when the store is opened.
//!
//! A record is keyed by the finding's stable id (`analyzer::finding::finding_id`), so a decision
//! holds for as long as the same problem keeps being found, across restarts and catalogue
//! reloads. Times here are wall-clock Unix seconds: they are audit times (when a person acted),
//! not traffic times, so they do not come from packets.

use serde::{Deserialize, Serialize};
use std::str::FromStr;

/// Largest form or JSON body the dashboard and the review API read.
pub const MAX_FORM_BYTES: usize = 16 * 1024;
/// Longest reason kept; longer ones are cut (at a character boundary).
pub const MAX_REASON_CHARS: usize = 500;
/// Longest reviewer label kept.
pub const MAX_WHO_CHARS: usize = 64;
/// Longest suppression: a year. A suppression has to come back eventually.
pub const MAX_SUPPRESS_SECS: u64 = 366 * 24 * 3600;

pub use analyzer::report::review::ReviewState;

/// One decision, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewRecord {
    pub state: ReviewState,
    /// Why (required for a suppression); empty otherwise allowed.
    #[serde(default)]
    pub reason: String,
    /// Suppressions only: Unix seconds after which the finding is open again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<u64>,
    /// Who acted: the dashboard session's user, or `api` for the JSON API.
    pub by: String,
    /// When (Unix seconds, wall clock).
    pub at: u64,
}

impl ReviewRecord {
    /// The state in force at `now`: an expired suppression is open again.
    pub fn effective(&self, now: u64) -> ReviewState {
        match (self.state, self.expires) {
            (ReviewState::Suppressed, Some(e)) if e <= now => ReviewState::Open,
            (s, _) => s,
        }
    }
}

/// What a reviewer asks for (form or JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewAction {
    Acknowledge,
    /// Needs a reason and a duration.
    Suppress,
    Accept,
    /// Forget the decision: open again.
    Reopen,
}

impl FromStr for ReviewAction {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "acknowledge" => Ok(ReviewAction::Acknowledge),
            "suppress" => Ok(ReviewAction::Suppress),
            "accept" => Ok(ReviewAction::Accept),
            "reopen" => Ok(ReviewAction::Reopen),
            other => Err(format!(
                "unknown review action {other:?} (acknowledge, suppress, accept, reopen)"
            )),
        }
    }
}

/// What happened in one event of the trail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventAction {
    Acknowledge,
    Suppress,
    Accept,
    Reopen,
    /// A suppression ran out (recorded by the collector, `by` is [`SYSTEM_ACTOR`]).
    Expire,
    /// The last-action record kept before the trail existed, turned into its first event.
    Migrate,
}

impl EventAction {
    pub fn as_str(self) -> &'static str {
        match self {
            EventAction::Acknowledge => "acknowledge",
            EventAction::Suppress => "suppress",
            EventAction::Accept => "accept",
            EventAction::Reopen => "reopen",
            EventAction::Expire => "expire",
            EventAction::Migrate => "migrate",
        }
    }
}

impl From<&ReviewAction> for EventAction {
    fn from(a: &ReviewAction) -> Self {
        match a {
            ReviewAction::Acknowledge => EventAction::Acknowledge,
            ReviewAction::Suppress => EventAction::Suppress,
            ReviewAction::Accept => EventAction::Accept,
            ReviewAction::Reopen => EventAction::Reopen,
        }
    }
}

/// Who expiry events are recorded as.
pub const SYSTEM_ACTOR: &str = "shadowtap";

/// One entry of the append-only review trail: who did what to which finding, when and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewEvent {
    /// The finding's stable id.
    pub finding: String,
    /// Store-assigned, increasing: orders events of the same second.
    #[serde(default)]
    pub seq: u64,
    pub action: EventAction,
    /// The state the finding is in after this event.
    pub state: ReviewState,
    pub by: String,
    /// Unix seconds, wall clock (for an expiry: when the suppression ran out).
    pub at: u64,
    #[serde(default)]
    pub reason: String,
    /// Suppressions: when they end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<u64>,
}

impl ReviewEvent {
    /// The event of a decision (`record` `None`: a reopen, whose `reason` is kept here only).
    pub fn of_decision(
        finding: &str,
        action: &ReviewAction,
        record: Option<&ReviewRecord>,
        by: &str,
        reason: &str,
        now: u64,
    ) -> ReviewEvent {
        ReviewEvent {
            finding: finding.to_string(),
            seq: 0,
            action: action.into(),
            state: record.map_or(ReviewState::Open, |r| r.state),
            by: record.map_or_else(|| clean_who(by), |r| r.by.clone()),
            at: record.map_or(now, |r| r.at),
            reason: record.map_or_else(
                || clean_text(reason, MAX_REASON_CHARS),
                |r| r.reason.clone(),
            ),
            expires: record.and_then(|r| r.expires),
        }
    }

    /// The first event of a record kept before the trail existed.
    pub fn migrated(finding: &str, r: &ReviewRecord) -> ReviewEvent {
        ReviewEvent {
            finding: finding.to_string(),
            seq: 0,
            action: EventAction::Migrate,
            state: r.state,
            by: r.by.clone(),
            at: r.at,
            reason: r.reason.clone(),
            expires: r.expires,
        }
    }

    /// The expiry of the suppression `r` (which must have an `expires`).
    pub fn expiry(finding: &str, r: &ReviewRecord) -> ReviewEvent {
        ReviewEvent {
            finding: finding.to_string(),
            seq: 0,
            action: EventAction::Expire,
            state: ReviewState::Open,
            by: SYSTEM_ACTOR.to_string(),
            at: r.expires.unwrap_or(r.at),
            reason: format!("suppression by {} ran out", r.by),
            expires: None,
        }
    }

    /// The current record this event leaves (`None`: no decision in force). An expiry leaves
    /// the expired suppression in place: its effective state is already open, and the page
    /// shows what expired.
    pub fn record_after(&self, before: Option<ReviewRecord>) -> Option<ReviewRecord> {
        match self.action {
            EventAction::Reopen => None,
            EventAction::Expire => before,
            _ => Some(ReviewRecord {
                state: self.state,
                reason: self.reason.clone(),
                expires: self.expires,
                by: self.by.clone(),
                at: self.at,
            }),
        }
    }
}

fn clean_who(by: &str) -> String {
    let by = clean_text(by, MAX_WHO_CHARS);
    if by.is_empty() {
        "unknown".into()
    } else {
        by
    }
}

/// Why a review request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReviewError {
    #[error("a suppression needs a reason")]
    NoReason,
    #[error("a suppression needs an expiry between 1 second and {MAX_SUPPRESS_SECS} seconds")]
    BadExpiry,
    #[error("{0}")]
    BadAction(String),
}

/// Keep printable characters only, at most `max` of them: labels and reasons end up in pages.
pub fn clean_text(s: &str, max: usize) -> String {
    s.chars()
        .filter(|c| !c.is_control() || *c == ' ')
        .take(max)
        .collect::<String>()
        .trim()
        .to_string()
}

/// Turn an action into the record to store (`None`: remove the record, i.e. reopen).
pub fn decide(
    action: &ReviewAction,
    reason: &str,
    suppress_secs: Option<u64>,
    by: &str,
    now: u64,
) -> Result<Option<ReviewRecord>, ReviewError> {
    let reason = clean_text(reason, MAX_REASON_CHARS);
    let by = clean_text(by, MAX_WHO_CHARS);
    let record = |state, expires| ReviewRecord {
        state,
        reason: reason.clone(),
        expires,
        by: if by.is_empty() {
            "unknown".into()
        } else {
            by.clone()
        },
        at: now,
    };
    Ok(match action {
        ReviewAction::Reopen => None,
        ReviewAction::Acknowledge => Some(record(ReviewState::Acknowledged, None)),
        ReviewAction::Accept => Some(record(ReviewState::Accepted, None)),
        ReviewAction::Suppress => {
            if reason.is_empty() {
                return Err(ReviewError::NoReason);
            }
            let secs = suppress_secs
                .filter(|s| (1..=MAX_SUPPRESS_SECS).contains(s))
                .ok_or(ReviewError::BadExpiry)?;
            Some(record(
                ReviewState::Suppressed,
                Some(now.saturating_add(secs)),
            ))
        }
    })
}

/// Whether `id` has the shape of a finding id (16 lower-case hex digits): anything else is
/// refused before it reaches the store.
pub fn valid_finding_id(id: &str) -> bool {
    id.len() == 16 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Wall-clock Unix seconds (audit time).
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Unix seconds -> `2026-03-02 09:00 UTC`.
pub use analyzer::report::review::utc_minute as wall_time;

/// Columns of the auditors' CSV export of the trail.
pub const TRAIL_CSV_HEADER: &str =
    "finding,seq,at,at_utc,action,state,by,reason,expires,expires_utc";

/// The trail as CSV for auditors (RFC 4180, formula-safe cells), one row per event.
pub fn trail_csv(events: &[ReviewEvent]) -> String {
    use analyzer::export::csv_cell;
    let mut o = String::with_capacity(64 + events.len() * 96);
    o.push_str(TRAIL_CSV_HEADER);
    o.push_str("\r\n");
    for e in events {
        let cells = [
            csv_cell(&e.finding),
            e.seq.to_string(),
            e.at.to_string(),
            wall_time(e.at),
            e.action.as_str().to_string(),
            e.state.as_str().to_string(),
            csv_cell(&e.by),
            csv_cell(&e.reason),
            e.expires.map(|x| x.to_string()).unwrap_or_default(),
            e.expires.map(wall_time).unwrap_or_default(),
        ];
        o.push_str(&cells.join(","));
        o.push_str("\r\n");
    }
    o
}

/// The trail as NDJSON, one event per line (serde escapes every control character).
pub fn trail_ndjson(events: &[ReviewEvent]) -> String {
    let mut o = String::with_capacity(events.len() * 160);
    for e in events {
        o.push_str(&serde_json::to_string(e).unwrap_or_default());
        o.push('\n');
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suppression_needs_reason_and_expiry_and_expires() {
        let a = ReviewAction::Suppress;
        assert_eq!(
            decide(&a, " ", Some(60), "ana", 100),
            Err(ReviewError::NoReason)
        );
        assert_eq!(
            decide(&a, "x", None, "ana", 100),
            Err(ReviewError::BadExpiry)
        );
        assert_eq!(
            decide(&a, "x", Some(0), "ana", 100),
            Err(ReviewError::BadExpiry)
        );
        assert_eq!(
            decide(&a, "x", Some(MAX_SUPPRESS_SECS + 1), "ana", 100),
            Err(ReviewError::BadExpiry)
        );
        let r = decide(&a, "pen test", Some(60), "ana", 100)
            .expect("ok")
            .expect("record");
        assert_eq!(r.expires, Some(160));
        assert_eq!(r.effective(159), ReviewState::Suppressed);
        assert_eq!(r.effective(160), ReviewState::Open);
    }

    #[test]
    fn text_is_cleaned_and_capped_and_reopen_removes() {
        let r = decide(&ReviewAction::Accept, &"a\u{0}b\n".repeat(400), None, "", 1)
            .expect("ok")
            .expect("record");
        assert_eq!(r.reason.chars().count(), MAX_REASON_CHARS);
        assert!(!r.reason.contains('\n') && !r.reason.contains('\u{0}'));
        assert_eq!(r.by, "unknown");
        assert_eq!(r.effective(u64::MAX), ReviewState::Accepted);
        assert_eq!(
            decide(&ReviewAction::Reopen, "", None, "x", 1).expect("ok"),
            None
        );
        assert!(valid_finding_id("0123456789abcdef"));
        assert!(!valid_finding_id("0123456789ABCDEF"));
        assert!(!valid_finding_id("<script>"));
        assert_eq!("accepted".parse::<ReviewState>(), Ok(ReviewState::Accepted));
    }
}
