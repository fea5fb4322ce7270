//! Review state as reports carry it: what a reviewer decided about a finding (the collector's
//! review trail keeps the history; a report shows the decision in force).
//!
//! An offline `scan` has no reviews: its reports have none and nothing here changes them. The
//! collector fills [`super::ScanReport::reviews`]; every renderer then shows the state, who,
//! when and why, and a finding that is suppressed or accepted is not counted by `--fail-on`
//! ([`super::ScanReport::has_findings_at`]) and is a SARIF `suppressions` entry.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The decision on a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewState {
    /// Nobody decided yet (or a suppression expired).
    Open,
    /// Seen and being handled; still shown.
    Acknowledged,
    /// Hidden until its expiry, with a reason.
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

    /// Hidden from the default findings view, not counted by `--fail-on`, a SARIF suppression.
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

/// The decision in force on one finding, as a report shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewNote {
    /// The state in force when the report was made (an expired suppression reads `open`).
    pub state: ReviewState,
    pub by: String,
    /// Unix seconds (wall clock) of the decision.
    pub at: u64,
    #[serde(default)]
    pub reason: String,
    /// Suppressions: Unix seconds when they end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<u64>,
}

impl ReviewNote {
    /// One line: `suppressed by ana at 2026-03-02 09:00 UTC until ...: reason`.
    pub fn one_line(&self) -> String {
        let mut s = format!("{} by {} at {}", self.state, self.by, utc_minute(self.at));
        if let Some(e) = self.expires {
            s.push_str(&format!(" until {}", utc_minute(e)));
        }
        if !self.reason.is_empty() {
            s.push_str(": ");
            s.push_str(&self.reason);
        }
        s
    }
}

/// Unix seconds -> `2026-03-02 09:00 UTC` (civil date from days since the epoch).
pub fn utc_minute(secs: u64) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_read_as_one_line_and_dates_are_civil() {
        assert_eq!(utc_minute(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc_minute(1_772_442_000), "2026-03-02 09:00 UTC");
        let n = ReviewNote {
            state: ReviewState::Suppressed,
            by: "ana".into(),
            at: 0,
            reason: "pen test".into(),
            expires: Some(86_400),
        };
        assert_eq!(
            n.one_line(),
            "suppressed by ana at 1970-01-01 00:00 UTC until 1970-01-02 00:00 UTC: pen test"
        );
        assert!(ReviewState::Accepted.hidden_by_default());
        assert!(!ReviewState::Acknowledged.hidden_by_default());
        assert_eq!("accepted".parse::<ReviewState>(), Ok(ReviewState::Accepted));
    }
}
