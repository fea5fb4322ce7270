//! Review state: what a reviewer decided about a finding, by whom and when.
//!
//! Pure types and rules; the sled tree that keeps them is in [`crate::store`], the forms and the
//! JSON API that change them are in [`crate::ui`] and [`crate::server`].
//!
//! A record is keyed by the finding's stable id (`analyzer::finding::finding_id`), so a decision
//! holds for as long as the same problem keeps being found, across restarts and catalogue
//! reloads. Times here are wall-clock Unix seconds: they are audit times (when a person acted),
//! not traffic times, so they do not come from packets.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Largest form or JSON body the dashboard and the review API read.
pub const MAX_FORM_BYTES: usize = 16 * 1024;
/// Longest reason kept; longer ones are cut (at a character boundary).
pub const MAX_REASON_CHARS: usize = 500;
/// Longest reviewer label kept.
pub const MAX_WHO_CHARS: usize = 64;
/// Longest suppression: a year. A suppression has to come back eventually.
pub const MAX_SUPPRESS_SECS: u64 = 366 * 24 * 3600;

/// The decision on a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewState {
    /// Nobody decided yet (or a suppression expired).
    Open,
    /// Seen and being handled; still shown.
    Acknowledged,
    /// Hidden until `expires`, with a reason.
    Suppressed,
    /// Accepted into the baseline: expected behaviour, hidden.
    Accepted,
}

impl ReviewState {
    pub const ALL: [ReviewState; 4] = [
        ReviewState::Open,
        ReviewState::Acknowledged,
        ReviewState::Suppressed,
        ReviewState::Accepted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReviewState::Open => "open",
            ReviewState::Acknowledged => "acknowledged",
            ReviewState::Suppressed => "suppressed",
            ReviewState::Accepted => "accepted",
        }
    }

    /// Hidden from the default findings view.
    pub fn hidden_by_default(self) -> bool {
        matches!(self, ReviewState::Suppressed | ReviewState::Accepted)
    }
}

impl fmt::Display for ReviewState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ReviewState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ReviewState::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown review state {s:?}"))
    }
}

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
