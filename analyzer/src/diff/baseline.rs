//! Review baselines: the findings a team has reviewed, so the next scan shows only what is new
//! or changed, and what was fixed.
//!
//! A baseline entry is a finding's stable id, kind, target and severity plus a *fingerprint*:
//! a hash of the evidence that defines the problem, not of the counts that move with traffic.
//! For `drift_param` it is the set of undeclared and missing parameter names; for
//! `drift_status` the undeclared codes; for the field kinds the undeclared and mistyped paths;
//! and so on (see [`fingerprint`]). A finding whose id is in the baseline with the same
//! fingerprint is unchanged and hidden; with another fingerprint it is *changed* (a new
//! undeclared parameter on an already-reviewed endpoint); an id not in the baseline is *new*;
//! a baseline id absent from the scan is *fixed*.
//!
//! The file is JSON (`{"version": 1, "findings": [...]}`); it can also be made from a saved JSON
//! scan report. Parse errors name the JSON pointer of the offending value.

use crate::finding::{Finding, FindingKind, Severity};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

pub const BASELINE_VERSION: u64 = 1;

/// Most entries a baseline file may hold; a larger file is refused rather than read whole.
pub const MAX_BASELINE_ENTRIES: usize = 1_000_000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BaselineEntry {
    pub id: String,
    pub kind: FindingKind,
    /// `METHOD host/path`, or the host for host-level findings (for people reading the file).
    pub target: String,
    pub severity: Severity,
    pub fingerprint: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Baseline {
    pub version: u64,
    pub findings: Vec<BaselineEntry>,
}

/// A baseline file that cannot be used, with where in the JSON the problem is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", if pointer.is_empty() { "document" } else { pointer.as_str() })]
pub struct BaselineError {
    /// JSON pointer (`/findings/3/kind`), or `line N column M` for syntax errors.
    pub pointer: String,
    pub message: String,
}

fn err(pointer: impl Into<String>, message: impl Into<String>) -> BaselineError {
    BaselineError {
        pointer: pointer.into(),
        message: message.into(),
    }
}

/// What comparing a scan with a baseline found.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct BaselineComparison {
    /// Where the baseline came from (file name), for the report header.
    pub source: String,
    pub baseline_findings: usize,
    /// Ids of findings not in the baseline.
    pub new: Vec<String>,
    /// Ids of findings in the baseline whose fingerprint differs.
    pub changed: Vec<String>,
    /// Findings in the baseline and unchanged (hidden from the report).
    pub unchanged: usize,
    /// Baseline entries no longer found.
    pub fixed: Vec<BaselineEntry>,
}

impl BaselineComparison {
    /// `new`, `changed` or `None` (unchanged, or not compared) for a finding id.
    pub fn status_of(&self, id: &str) -> Option<&'static str> {
        if self.new.iter().any(|i| i == id) {
            Some("new")
        } else if self.changed.iter().any(|i| i == id) {
            Some("changed")
        } else {
            None
        }
    }
}

fn target(f: &Finding) -> String {
    match (&f.method, &f.path) {
        (Some(m), Some(p)) => format!("{m} {}{p}", f.host),
        _ => f.host.clone(),
    }
}

/// Hash of the evidence that defines a finding (see the module docs): sets of names, never
/// counts or times, so the same problem seen in more or less traffic keeps its fingerprint.
pub fn fingerprint(f: &Finding) -> String {
    let e = &f.evidence;
    let mut parts: Vec<String> = vec![f.severity.as_str().to_string()];
    let keys = |m: &BTreeMap<String, u64>| m.keys().cloned().collect::<Vec<_>>();
    match f.kind {
        FindingKind::DriftParam => {
            parts.extend(keys(&e.undeclared_params));
            parts.push("|missing".into());
            parts.extend(keys(&e.missing_params));
        }
        FindingKind::DriftStatus => parts.extend(keys(&e.statuses)),
        FindingKind::DriftRequestField | FindingKind::DriftResponseField => {
            parts.extend(e.undeclared_fields.keys().cloned());
            parts.push("|types".into());
            parts.extend(
                e.field_type_mismatches
                    .iter()
                    .map(|(k, v)| format!("{k}={v}")),
            );
        }
        FindingKind::DriftContentType => parts.extend(keys(&e.undeclared_content_types)),
        FindingKind::DriftDataClass => parts.extend(keys(&e.undeclared_data_classes)),
        FindingKind::DriftAuth => {
            parts.push(e.declared_security.clone().unwrap_or_default());
        }
        FindingKind::ShadowHost => parts.extend(e.endpoints.iter().cloned()),
        FindingKind::ShadowEndpoint | FindingKind::UnconfirmedEndpoint => {
            // Which classes, not where: a shadow endpoint that starts carrying card numbers
            // has changed; one whose IBAN moved to another field has not.
            let classes: BTreeSet<&str> = e
                .data_classes
                .iter()
                .map(|c| c.split('@').next().unwrap_or(c))
                .collect();
            parts.extend(classes.into_iter().map(str::to_string));
        }
        FindingKind::Zombie => parts.push(e.retired.unwrap_or(false).to_string()),
        FindingKind::Orphaned | FindingKind::OrphanedSoapOperation => {}
        // The operation or message type is in the id; which classes it carries is the change.
        FindingKind::ShadowSoapOperation | FindingKind::UndeclaredIso20022Message => {
            parts.extend(e.data_classes.iter().cloned());
        }
        FindingKind::TppRoleMismatch
        | FindingKind::TppCertificateInvalid
        | FindingKind::DriftFapi
        | FindingKind::ConsentMisuse
        | FindingKind::ConsentMissing
        | FindingKind::ConsumerAnomaly => {
            // Which TPPs and which checks, not how often.
            parts.extend(e.tpps.keys().cloned());
            parts.push("|checks".into());
            parts.extend(keys(&e.counts));
        }
        FindingKind::GraphqlShadowField
        | FindingKind::GraphqlDeprecatedField
        | FindingKind::GraphqlOrphanedField => {
            // Which operations, not how often (the field is in the id).
            parts.extend(keys(&e.graphql_operations));
        }
    }
    let mut h = blake3::Hasher::new();
    h.update(b"shadowtap baseline v1\0");
    h.update(f.kind.as_str().as_bytes());
    for p in parts {
        h.update(&[0]);
        h.update(p.as_bytes());
    }
    crate::hex::encode(&h.finalize().as_bytes()[..8])
}

impl Baseline {
    pub fn from_findings(findings: &[Finding]) -> Baseline {
        let mut entries: Vec<BaselineEntry> = findings
            .iter()
            .map(|f| BaselineEntry {
                id: f.id.clone(),
                kind: f.kind,
                target: target(f),
                severity: f.severity,
                fingerprint: fingerprint(f),
            })
            .collect();
        entries.sort_by(|a, b| a.id.cmp(&b.id));
        entries.dedup_by(|a, b| a.id == b.id);
        Baseline {
            version: BASELINE_VERSION,
            findings: entries,
        }
    }

    pub fn to_json(&self) -> String {
        // Plain data with string keys: serialising cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Read a baseline file, or a saved JSON scan report (anything with `findings` holding
    /// full findings and no `version`).
    pub fn from_json(text: &str) -> Result<Baseline, BaselineError> {
        let root: Value = serde_json::from_str(text).map_err(|e| {
            err(
                format!("line {} column {}", e.line(), e.column()),
                format!("invalid JSON: {e}"),
            )
        })?;
        let Some(obj) = root.as_object() else {
            return Err(err("", "not a JSON object"));
        };
        let Some(list) = obj.get("findings") else {
            return Err(err("/findings", "missing"));
        };
        let Some(list) = list.as_array() else {
            return Err(err("/findings", "not an array"));
        };
        if list.len() > MAX_BASELINE_ENTRIES {
            return Err(err(
                "/findings",
                format!("more than {MAX_BASELINE_ENTRIES} entries"),
            ));
        }
        match obj.get("version") {
            Some(v) if v.as_u64() == Some(BASELINE_VERSION) => {
                let mut findings = Vec::with_capacity(list.len());
                for (i, item) in list.iter().enumerate() {
                    let entry: BaselineEntry = serde_json::from_value(item.clone())
                        .map_err(|e| err(format!("/findings/{i}"), e.to_string()))?;
                    findings.push(entry);
                }
                Ok(Baseline {
                    version: BASELINE_VERSION,
                    findings,
                })
            }
            Some(v) => Err(err(
                "/version",
                format!("unsupported baseline version {v} (supported: {BASELINE_VERSION})"),
            )),
            None => {
                // A saved scan report: rebuild entries from its findings.
                let mut findings = Vec::with_capacity(list.len());
                for (i, item) in list.iter().enumerate() {
                    let f: Finding = serde_json::from_value(item.clone())
                        .map_err(|e| err(format!("/findings/{i}"), e.to_string()))?;
                    findings.push(f);
                }
                Ok(Baseline::from_findings(&findings))
            }
        }
    }

    /// Split `findings` against the baseline: the ones to show (new and changed, in their
    /// order) and the comparison.
    pub fn compare(
        &self,
        source: &str,
        findings: Vec<Finding>,
    ) -> (Vec<Finding>, BaselineComparison) {
        let by_id: BTreeMap<&str, &BaselineEntry> =
            self.findings.iter().map(|e| (e.id.as_str(), e)).collect();
        let mut cmp = BaselineComparison {
            source: source.to_string(),
            baseline_findings: self.findings.len(),
            ..BaselineComparison::default()
        };
        let mut seen: BTreeSet<String> = BTreeSet::new();
        let mut shown = Vec::new();
        for f in findings {
            seen.insert(f.id.clone());
            match by_id.get(f.id.as_str()) {
                None => {
                    cmp.new.push(f.id.clone());
                    shown.push(f);
                }
                Some(entry) if entry.fingerprint != fingerprint(&f) => {
                    cmp.changed.push(f.id.clone());
                    shown.push(f);
                }
                Some(_) => cmp.unchanged += 1,
            }
        }
        cmp.fixed = self
            .findings
            .iter()
            .filter(|e| !seen.contains(&e.id))
            .cloned()
            .collect();
        (shown, cmp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::{finding_id, Evidence};

    fn param_finding(path: &str, params: &[&str], count: u64) -> Finding {
        Finding {
            id: finding_id(FindingKind::DriftParam, "h", Some("GET"), Some(path), ""),
            kind: FindingKind::DriftParam,
            severity: Severity::Low,
            host: "h".into(),
            method: Some("GET".into()),
            path: Some(path.into()),
            operation_id: None,
            detail: String::new(),
            severity_reason: String::new(),
            confidence: 1.0,
            evidence: Evidence {
                exchanges: Some(count),
                undeclared_params: params
                    .iter()
                    .map(|p| (format!("query:{p}"), count))
                    .collect(),
                ..Evidence::default()
            },
        }
    }

    #[test]
    fn new_changed_unchanged_and_fixed() {
        let before = vec![
            param_finding("/a", &["x"], 3),
            param_finding("/b", &["y"], 3),
            param_finding("/gone", &["z"], 1),
        ];
        let baseline = Baseline::from_findings(&before);
        let text = baseline.to_json();
        let read = Baseline::from_json(&text).expect("round trip");
        assert_eq!(read, baseline);

        let after = vec![
            // Same problem, more traffic: unchanged.
            param_finding("/a", &["x"], 300),
            // A second undeclared parameter on a reviewed endpoint: changed.
            param_finding("/b", &["y", "w"], 3),
            param_finding("/c", &["v"], 1),
        ];
        let (shown, cmp) = read.compare("b.json", after);
        let paths: Vec<&str> = shown.iter().filter_map(|f| f.path.as_deref()).collect();
        assert_eq!(paths, vec!["/b", "/c"]);
        assert_eq!(cmp.unchanged, 1);
        assert_eq!(cmp.changed, vec![shown[0].id.clone()]);
        assert_eq!(cmp.new, vec![shown[1].id.clone()]);
        assert_eq!(cmp.fixed.len(), 1);
        assert_eq!(cmp.fixed[0].target, "GET h/gone");
        assert_eq!(cmp.status_of(&shown[1].id), Some("new"));
    }

    #[test]
    fn a_saved_report_is_a_baseline_too() {
        let f = param_finding("/a", &["x"], 3);
        let report = serde_json::json!({"summary": {}, "findings": [f]});
        let b = Baseline::from_json(&report.to_string()).expect("report");
        assert_eq!(b.findings.len(), 1);
        assert_eq!(b.findings[0].fingerprint, fingerprint(&f));
    }

    #[test]
    fn errors_name_the_pointer() {
        let e = Baseline::from_json(r#"{"version":1,"findings":[{"id":"x"}]}"#).unwrap_err();
        assert_eq!(e.pointer, "/findings/0");
        let e = Baseline::from_json(r#"{"version":2,"findings":[]}"#).unwrap_err();
        assert_eq!(e.pointer, "/version");
        let e = Baseline::from_json("{").unwrap_err();
        assert!(e.pointer.starts_with("line 1"));
        let e = Baseline::from_json(r#"{"findings": 3}"#).unwrap_err();
        assert_eq!(e.pointer, "/findings");
    }
}
