//! SARIF 2.1.0 for code-scanning dashboards (<https://docs.oasis-open.org/sarif/sarif/v2.1.0/>).
//!
//! One rule per finding kind, one result per finding. Levels from severity (critical and high:
//! `error`, medium: `warning`, low and info: `note`), plus the numeric `security-severity`
//! property code-scanning dashboards sort by. `partialFingerprints` carry the stable finding id,
//! so a dashboard tracks one problem across scans. Locations are logical (host, then method and
//! path) and, when a catalogue operation declares the endpoint, physical: the spec file.
//! Findings a reviewer suppressed or accepted (collector reports) carry SARIF `suppressions`.

use super::review::ReviewNote;
use super::ScanReport;
use crate::catalogue::Catalogue;
use crate::finding::{Finding, FindingKind, Severity};
use serde_json::{json, Value};
use std::collections::BTreeMap;

const SCHEMA: &str =
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";

/// The report as a SARIF 2.1.0 log (pretty JSON). `catalogue` locates declared operations.
pub fn render_sarif(r: &ScanReport, catalogue: &Catalogue) -> String {
    let mut kinds: BTreeMap<FindingKind, usize> = BTreeMap::new();
    for f in &r.findings {
        let next = kinds.len();
        kinds.entry(f.kind).or_insert(next);
    }
    let mut rules: Vec<(usize, Value)> = kinds.iter().map(|(k, i)| (*i, rule(*k))).collect();
    rules.sort_by_key(|(i, _)| *i);
    let results: Vec<Value> = r
        .findings
        .iter()
        .map(|f| {
            let mut v = result(f, kinds[&f.kind], catalogue);
            if let Some(n) = r.review_of(&f.id) {
                review(&mut v, n);
            }
            v
        })
        .collect();
    let log = json!({
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "shadowtap",
                "version": env!("CARGO_PKG_VERSION"),
                "semanticVersion": env!("CARGO_PKG_VERSION"),
                "rules": rules.into_iter().map(|(_, r)| r).collect::<Vec<_>>(),
            }},
            "columnKind": "unicodeCodePoints",
            "invocations": [invocation(r)],
            "results": results,
            "properties": {
                "windowStart": r.summary.window_start,
                "windowEnd": r.summary.window_end,
                "httpExchanges": r.summary.http_exchanges,
                "endpoints": r.summary.endpoints,
            },
        }],
    });
    serde_json::to_string_pretty(&log).unwrap_or_default() + "\n"
}

/// The run's invocation: successful, with a warning notification when the inventory was full
/// (SARIF viewers show notifications next to the results).
fn invocation(r: &ScanReport) -> Value {
    let mut notes: Vec<Value> = r
        .summary
        .incomplete
        .iter()
        .map(|full| {
            json!({
                "level": "warning",
                "message": {"text": full.message},
                "descriptor": {"id": "inventory-full"},
            })
        })
        .collect();
    // A catalogue file that failed is an error about the run's input: located in the file, at
    // the line and column when the parser gave them.
    for f in &r.summary.catalogue.failed_files {
        let mut region = serde_json::Map::new();
        if let Some(line) = f.line {
            region.insert("startLine".into(), json!(line));
        }
        if let Some(column) = f.column {
            region.insert("startColumn".into(), json!(column));
        }
        let mut location = json!({"physicalLocation": {"artifactLocation": {"uri": f.file}}});
        if !region.is_empty() {
            location["physicalLocation"]["region"] = Value::Object(region);
        }
        notes.push(json!({
            "level": if f.stale { "warning" } else { "error" },
            "message": {"text": format!("catalogue file failed to load: {}", f.message)},
            "descriptor": {"id": "catalogue-file-failed"},
            "locations": [location],
        }));
    }
    if r.summary.catalogue.failed_files.is_empty() {
        if let Some(warning) = &r.summary.catalogue.warning {
            notes.push(json!({
                "level": "warning",
                "message": {"text": warning},
                "descriptor": {"id": "no-catalogue"},
            }));
        }
    }
    json!({
        "executionSuccessful": true,
        "toolExecutionNotifications": notes,
    })
}

/// SARIF level of a severity.
pub fn sarif_level(s: Severity) -> &'static str {
    match s {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "note",
    }
}

/// The CVSS-like score code-scanning dashboards read from `security-severity`.
fn security_severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "3.0",
        Severity::Info => "0.0",
    }
}

fn rule(kind: FindingKind) -> Value {
    let (name, short, full) = match kind {
        FindingKind::ShadowEndpoint => (
            "ShadowEndpoint",
            "Undeclared endpoint in use",
            "An observed (host, method, path template) that no catalogue operation declares.",
        ),
        FindingKind::UnconfirmedEndpoint => (
            "UnconfirmedEndpoint",
            "Undeclared endpoint, too little evidence yet",
            "An undeclared endpoint seen too rarely, by too few consumers or never answered \
             with success to be reported as a shadow endpoint; the finding says what is missing.",
        ),
        FindingKind::ShadowHost => (
            "ShadowHost",
            "Undeclared API host in use",
            "An observed API host that no catalogue server covers.",
        ),
        FindingKind::Orphaned => (
            "OrphanedOperation",
            "Declared operation without traffic",
            "A declared operation with no traffic in the observation window.",
        ),
        FindingKind::Zombie => (
            "ZombieOperation",
            "Deprecated operation still called",
            "An operation declared deprecated (or in a retired version) that is still called.",
        ),
        FindingKind::DriftParam => (
            "DriftParameter",
            "Parameter differs from the declaration",
            "An undeclared query or header parameter, or a declared required one missing.",
        ),
        FindingKind::DriftStatus => (
            "DriftStatus",
            "Undeclared status code",
            "A response status code the operation does not declare.",
        ),
        FindingKind::DriftAuth => (
            "DriftAuth",
            "Authentication differs from the declaration",
            "Declared security but traffic without credentials, or credentials where none is \
             declared.",
        ),
        FindingKind::TppRoleMismatch => (
            "TppRoleMismatch",
            "TPP outside its PSD2 roles",
            "A TPP called an open-banking capability its PSD2 roles (ETSI TS 119 495) do not \
             allow.",
        ),
        FindingKind::TppCertificateInvalid => (
            "TppCertificateInvalid",
            "TPP certificate outside its validity",
            "A TPP presented a certificate expired or not yet valid at capture time.",
        ),
        FindingKind::DriftFapi => (
            "DriftFapi",
            "FAPI posture differs from the profile",
            "FAPI interaction id missing, invalid or not echoed; message signature missing where \
             required; bearer token not certificate-bound, or bound to another certificate.",
        ),
        FindingKind::ConsentMisuse => (
            "ConsentMisuse",
            "Consent used by another TPP",
            "A consent was used by a TPP other than the one that created it.",
        ),
        FindingKind::ConsentMissing => (
            "ConsentMissing",
            "Consent-bound endpoint called without consent",
            "Calls on an endpoint configured as consent-bound named no consent (header, path, \
             body or token claim).",
        ),
        FindingKind::ConsumerAnomaly => (
            "ConsumerAnomaly",
            "Consumer behaves unlike its own history",
            "A consumer new on a sensitive capability, a volume jump beyond its own baseline, \
             or one token used from many client addresses.",
        ),
        FindingKind::ShadowSoapOperation => (
            "ShadowSoapOperation",
            "SOAP operation the WSDL does not declare",
            "A SOAP action or body element called on a WSDL-declared endpoint that none of its \
             ports declares.",
        ),
        FindingKind::OrphanedSoapOperation => (
            "OrphanedSoapOperation",
            "Declared SOAP operation not called",
            "A SOAP operation a WSDL declares saw no traffic in the observation window.",
        ),
        FindingKind::UndeclaredIso20022Message => (
            "UndeclaredIso20022Message",
            "ISO 20022 message type not declared",
            "An endpoint carried an ISO 20022 message type its declaration (WSDL schemas or \
             x-iso20022-messages) does not name.",
        ),
        FindingKind::GraphqlShadowField => (
            "GraphqlShadowField",
            "GraphQL root field not in the schema",
            "A GraphQL query, mutation or subscription root field was called that the declared \
             schema (SDL or introspection) does not have.",
        ),
        FindingKind::GraphqlDeprecatedField => (
            "GraphqlDeprecatedField",
            "Deprecated GraphQL field still selected",
            "A GraphQL field the schema marks @deprecated is still selected by operations.",
        ),
        FindingKind::GraphqlOrphanedField => (
            "GraphqlOrphanedField",
            "GraphQL root field without traffic",
            "A root field the GraphQL schema declares was not called in the observation window.",
        ),
        #[allow(unreachable_patterns)]
        _ => (
            "Drift",
            "Behaviour differs from the declaration",
            "Observed behaviour differs from what the catalogue declares.",
        ),
    };
    json!({
        "id": kind.as_str(),
        "name": name,
        "shortDescription": {"text": short},
        "fullDescription": {"text": full},
        "help": {"text": format!("{full} See the finding's detail and evidence; review, then \
                                  declare, fix or suppress it by its id.")},
        "properties": {"tags": ["security", "api", "shadowtap"]},
    })
}

fn result(f: &Finding, rule_index: usize, catalogue: &Catalogue) -> Value {
    let mut logical = vec![json!({
        "name": f.host,
        "fullyQualifiedName": f.host,
        "kind": "namespace",
    })];
    if let (Some(m), Some(p)) = (&f.method, &f.path) {
        logical.push(json!({
            "name": format!("{m} {p}"),
            "fullyQualifiedName": format!("{}/{m} {p}", f.host),
            "kind": "resource",
        }));
    }
    // Only the innermost logical location goes on the result; the host is its parent.
    let mut location = json!({
        "logicalLocations": [logical.last().cloned().unwrap_or(Value::Null)],
    });
    if let Some(uri) = spec_uri(f, catalogue) {
        location["physicalLocation"] = json!({"artifactLocation": {"uri": uri}});
    }
    let evidence = serde_json::to_value(&f.evidence).unwrap_or(Value::Null);
    json!({
        "ruleId": f.kind.as_str(),
        "ruleIndex": rule_index,
        "level": sarif_level(f.severity),
        "message": {"text": format!("{} Severity {}: {}", f.detail, f.severity.as_str(), f.severity_reason)},
        "locations": [location],
        "partialFingerprints": {"shadowtapFindingId/v1": f.id},
        "properties": {
            "severity": f.severity.as_str(),
            "security-severity": security_severity(f.severity),
            "severityReason": f.severity_reason,
            "confidence": f.confidence,
            "host": f.host,
            "method": f.method,
            "path": f.path,
            "operationId": f.operation_id,
            "evidence": evidence,
        },
    })
}

/// A reviewer's decision on a result: suppressed and accepted findings carry an external
/// `suppressions` entry (status `accepted`, the reason as justification) so code-scanning
/// dashboards hide them; every decision is also in the result's properties.
fn review(result: &mut Value, n: &ReviewNote) {
    if n.state.hidden_by_default() {
        result["suppressions"] = json!([{
            "kind": "external",
            "status": "accepted",
            "justification": n.reason,
            "properties": {
                "state": n.state,
                "by": n.by,
                "at": n.at,
                "expires": n.expires,
            },
        }]);
    }
    result["properties"]["review"] = serde_json::to_value(n).unwrap_or(Value::Null);
}

/// The spec file declaring the finding's operation, as a URI reference.
fn spec_uri(f: &Finding, catalogue: &Catalogue) -> Option<String> {
    let (m, p) = (f.method.as_deref()?, f.path.as_deref()?);
    let op = catalogue.find_operation(&f.host, m, p)?;
    let source = &catalogue.apis.get(op.api)?.source;
    Some(file_uri(source))
}

/// A file name as a URI reference: relative names stay relative, absolute ones get `file://`;
/// anything outside the unreserved and path characters is percent-encoded.
fn file_uri(path: &str) -> String {
    let mut out = String::new();
    if path.starts_with('/') {
        out.push_str("file://");
    }
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'/' | b'.' | b'-' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_and_uris() {
        assert_eq!(sarif_level(Severity::Critical), "error");
        assert_eq!(sarif_level(Severity::Medium), "warning");
        assert_eq!(sarif_level(Severity::Info), "note");
        assert_eq!(file_uri("specs/a b.yaml"), "specs/a%20b.yaml");
        assert_eq!(file_uri("/abs/x.json"), "file:///abs/x.json");
    }
}
