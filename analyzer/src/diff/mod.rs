//! Inventory x catalogue -> findings.
//!
//! Every finding is aggregated per endpoint and kind (one `drift_status` per endpoint listing
//! the undeclared codes with counts, not one per request) and carries a stable id, a severity
//! with a one-line reason, evidence and a confidence.
//!
//! Submodules: `body` (request/response field drift and media types), `classes` (data classes
//! the declaration does not admit), `baseline` (review baselines: what is new, changed, fixed).
//! This module holds the endpoint-level kinds (shadow, zombie, orphaned, params, status, auth).

pub mod baseline;
mod body;
mod classes;
mod evidence;
mod soap;

pub use evidence::{FindingPolicy, QuietCounts};
pub use soap::ISO20022_EXTENSION;

use crate::catalogue::{Catalogue, Operation, ParamLocation, Security};
use crate::consumer::{is_credential_location, API_KEY_HEADERS, API_KEY_PARAMS};
use crate::finding::{finding_id, Evidence, Finding, FindingKind, Severity};
use crate::host::host_matches;
use crate::inventory::{EndpointRecord, Inventory};
use crate::observation::EndpointKey;
use std::collections::{BTreeMap, BTreeSet};

/// How sensitive a data class is; supplied by the classifier's rules.
pub type ClassSeverity<'a> = &'a dyn Fn(&str) -> Severity;

/// Compare traffic with the declaration under the default [`FindingPolicy`]. Findings come out
/// sorted by severity (highest first), then kind, host, method and path, so output is
/// deterministic.
pub fn diff(
    inventory: &Inventory,
    catalogue: &Catalogue,
    class_severity: ClassSeverity<'_>,
) -> Vec<Finding> {
    diff_with(
        inventory,
        catalogue,
        class_severity,
        &FindingPolicy::default(),
    )
    .findings
}

/// What [`diff_with`] found, and what it kept quiet.
#[derive(Debug, Clone, Default)]
pub struct Diff {
    pub findings: Vec<Finding>,
    pub quiet: QuietCounts,
}

impl QuietCounts {
    /// As report counters (`findings.quiet_preflight`, `findings.quiet_head`).
    pub fn counters(&self) -> [(String, u64); 2] {
        [
            ("findings.quiet_preflight".to_string(), self.preflight),
            ("findings.quiet_head".to_string(), self.head),
        ]
    }
}

/// [`diff`] under `policy`: preflights and HEADs on declared paths kept quiet, shadow
/// endpoints without enough evidence reported as `unconfirmed_endpoint`.
pub fn diff_with(
    inventory: &Inventory,
    catalogue: &Catalogue,
    class_severity: ClassSeverity<'_>,
    policy: &FindingPolicy,
) -> Diff {
    let mut quiet = QuietCounts::default();
    let mut findings = Vec::new();
    let mut used_ops: BTreeSet<usize> = BTreeSet::new();
    let mut used_soap = soap::UsedSoap::new();
    let mut shadow_hosts: BTreeMap<&str, Vec<(&EndpointKey, &EndpointRecord)>> = BTreeMap::new();
    let op_index: BTreeMap<*const Operation, usize> = catalogue
        .operations
        .iter()
        .enumerate()
        .map(|(i, op)| (op as *const Operation, i))
        .collect();

    for (key, rec) in &inventory.endpoints {
        // A GraphQL endpoint no OpenAPI operation declares is judged by its operations against
        // the GraphQL schema (below), not as an undeclared HTTP endpoint.
        if rec.graphql.is_some()
            && !catalogue.graphql.is_empty()
            && catalogue
                .find_operation(&key.host, &key.method, &key.path)
                .is_none()
        {
            continue;
        }
        if !catalogue.covers_host(&key.host) {
            shadow_hosts
                .entry(key.host.as_str())
                .or_default()
                .push((key, rec));
            continue;
        }
        let Some(op) = catalogue.find_operation(&key.host, &key.method, &key.path) else {
            match evidence::quiet(policy, catalogue, key) {
                Some(evidence::Quiet::Preflight) => quiet.preflight += 1,
                Some(evidence::Quiet::Head(get)) => {
                    quiet.head += 1;
                    used_ops.extend(get);
                }
                None => findings.push(shadow_endpoint(key, rec, class_severity, policy)),
            }
            continue;
        };
        if let Some(i) = op_index.get(&(op as *const Operation)) {
            used_ops.insert(*i);
        }
        let declared_in = declared_in(catalogue, op);
        let retired = catalogue.apis.get(op.api).is_some_and(|a| a.retired);
        if op.deprecated || retired {
            findings.push(zombie(key, rec, op, &declared_in, retired, class_severity));
        }
        findings.extend(drift_status(key, rec, op));
        findings.extend(soap::endpoint(key, rec, op, catalogue, &mut used_soap));
        if catalogue.is_soap_endpoint(op) {
            // A WSDL declares no parameters, security or schemas this diff reads: the SOAP
            // operations and message types are its contract (`diff::soap`).
            findings.extend(body::drift_content_type(key, rec, op));
            continue;
        }
        findings.extend(drift_param(key, rec, op, class_severity));
        findings.extend(drift_auth(key, rec, op, class_severity));
        findings.extend(body::drift_fields(
            key,
            rec,
            op,
            catalogue,
            true,
            class_severity,
        ));
        findings.extend(body::drift_fields(
            key,
            rec,
            op,
            catalogue,
            false,
            class_severity,
        ));
        findings.extend(body::drift_content_type(key, rec, op));
        findings.extend(classes::drift_data_class(
            key,
            rec,
            op,
            catalogue,
            class_severity,
        ));
    }

    for (host, endpoints) in shadow_hosts {
        findings.push(shadow_host(host, &endpoints, class_severity));
    }

    let window = inventory.window();
    for (i, op) in catalogue.operations.iter().enumerate() {
        // An uncalled WSDL endpoint is said per operation (`orphaned_soap_operation`).
        if !used_ops.contains(&i) && !catalogue.is_soap_endpoint(op) {
            findings.push(orphaned(op, catalogue, inventory, window));
        }
    }
    findings.extend(soap::orphaned(catalogue, inventory, &used_soap));

    findings.extend(crate::graphql::findings::findings(
        inventory,
        &catalogue.graphql,
    ));
    sort_findings(&mut findings);
    Diff { findings, quiet }
}

/// The one order of findings in every output: severity (highest first), kind, host, method,
/// path. Callers that add findings from elsewhere (TLS hosts) sort again with this.
pub fn sort_findings(findings: &mut [Finding]) {
    findings.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(a.kind.cmp(&b.kind))
            .then_with(|| a.host.cmp(&b.host))
            .then_with(|| a.method.cmp(&b.method))
            .then_with(|| a.path.cmp(&b.path))
    });
}

fn declared_in(catalogue: &Catalogue, op: &Operation) -> String {
    match catalogue.apis.get(op.api) {
        Some(api) => format!("{} ({} {})", api.source, api.title, api.version),
        None => String::new(),
    }
}

pub(super) fn is_write(method: &str) -> bool {
    matches!(method, "POST" | "PUT" | "PATCH" | "DELETE")
}

/// The most sensitive data class an endpoint carries, with its label. The caller's own
/// credential (Authorization, API-key header) is how it authenticates, not exposed data.
fn sensitivity<'r>(
    rec: &'r EndpointRecord,
    class_severity: ClassSeverity<'_>,
) -> Option<(Severity, &'r str)> {
    rec.data_classes
        .iter()
        .filter(|(_, locs)| locs.keys().any(|l| !is_credential_location(l)))
        .map(|(c, _)| (class_severity(c), c.as_str()))
        .max()
}

fn data_class_evidence(rec: &EndpointRecord) -> Vec<String> {
    rec.data_classes
        .iter()
        .flat_map(|(class, locs)| locs.keys().map(move |loc| format!("{class}@{loc}")))
        .collect()
}

/// What varies between findings about one endpoint; [`endpoint_finding`] fills in the rest.
pub(super) struct EndpointFinding<'a> {
    pub kind: FindingKind,
    pub key: &'a EndpointKey,
    pub operation_id: Option<String>,
    pub severity: Severity,
    pub severity_reason: String,
    pub detail: String,
    pub confidence: f64,
    pub evidence: Evidence,
}

/// A finding about one endpoint, with its stable id (one per kind and endpoint: repeated
/// occurrences aggregate into the evidence rather than new findings).
pub(super) fn endpoint_finding(f: EndpointFinding<'_>) -> Finding {
    let key = f.key;
    Finding {
        id: finding_id(f.kind, &key.host, Some(&key.method), Some(&key.path), ""),
        kind: f.kind,
        severity: f.severity,
        host: key.host.clone(),
        method: Some(key.method.clone()),
        path: Some(key.path.clone()),
        operation_id: f.operation_id,
        detail: f.detail,
        severity_reason: f.severity_reason,
        confidence: f.confidence,
        evidence: f.evidence,
    }
}

pub(super) fn traffic_evidence(rec: &EndpointRecord) -> Evidence {
    Evidence {
        exchanges: Some(rec.exchanges),
        consumers: Some(rec.consumers.len() as u64),
        first_seen: Some(rec.first_seen.rfc3339()),
        last_seen: Some(rec.last_seen.rfc3339()),
        ..Evidence::default()
    }
}

/// Severity of undeclared exposure: medium; writes and unauthenticated access raise it;
/// sensitive data sets the floor at its own level.
fn exposure_severity(
    rec: &EndpointRecord,
    method: &str,
    class_severity: ClassSeverity<'_>,
) -> (Severity, String) {
    let mut severity = Severity::Medium;
    let mut why = vec!["undeclared API surface".to_string()];
    if let Some((s, class)) = sensitivity(rec, class_severity) {
        if s >= Severity::High {
            severity = severity.max(s);
            why.push(format!("carries {class}"));
        }
    }
    if is_write(method) {
        severity = severity.max(Severity::High);
        why.push(format!("{method} writes"));
    }
    if rec.unauthenticated() > 0
        && (severity >= Severity::High || sensitivity(rec, class_severity).is_some())
    {
        severity = severity.raised();
        why.push("reachable without credentials".into());
    }
    (severity, why.join(", "))
}

fn shadow_endpoint(
    key: &EndpointKey,
    rec: &EndpointRecord,
    class_severity: ClassSeverity<'_>,
    policy: &FindingPolicy,
) -> Finding {
    let (mut severity, mut reason) = exposure_severity(rec, &key.method, class_severity);
    let mut evidence = traffic_evidence(rec);
    evidence.data_classes = data_class_evidence(rec);
    let called = format!(
        "{} {} is called ({}, {}) but no catalogue operation declares it",
        key.method,
        key.path,
        counted(rec.exchanges, "exchange"),
        counted(rec.consumers.len() as u64, "consumer")
    );
    let (kind, detail) = match policy.unconfirmed_because(rec) {
        None => (FindingKind::ShadowEndpoint, called),
        Some(why) => {
            // Too little evidence for the full severity: kept visible, low, and said why.
            let served = rec.statuses.keys().any(|s| (200..400).contains(s));
            let full = severity;
            severity = if served {
                Severity::Low
            } else {
                Severity::Info
            };
            reason = format!("unconfirmed: {why}; {full} if confirmed ({reason})");
            (
                FindingKind::UnconfirmedEndpoint,
                format!("{called}; unconfirmed: {why}"),
            )
        }
    };
    endpoint_finding(EndpointFinding {
        kind,
        key,
        operation_id: None,
        severity,
        severity_reason: reason,
        detail,
        confidence: rec.confidence(),
        evidence,
    })
}

fn shadow_host(
    host: &str,
    endpoints: &[(&EndpointKey, &EndpointRecord)],
    class_severity: ClassSeverity<'_>,
) -> Finding {
    let mut severity = Severity::Medium;
    let mut reason = String::from("undeclared API host");
    let mut exchanges = 0;
    let mut complete = 0;
    let mut consumers = BTreeSet::new();
    let mut classes = BTreeSet::new();
    let (mut first, mut last) = (None, None);
    for (key, rec) in endpoints {
        let (s, r) = exposure_severity(rec, &key.method, class_severity);
        if s > severity {
            severity = s;
            reason = format!("undeclared API host; {} {}: {r}", key.method, key.path);
        }
        exchanges += rec.exchanges;
        complete += rec.complete_exchanges;
        consumers.extend(rec.consumers.keys());
        classes.extend(data_class_evidence(rec));
        first = Some(first.map_or(rec.first_seen, |f: crate::time::Timestamp| {
            f.min(rec.first_seen)
        }));
        last = Some(last.map_or(rec.last_seen, |l: crate::time::Timestamp| {
            l.max(rec.last_seen)
        }));
    }
    let evidence = Evidence {
        exchanges: Some(exchanges),
        consumers: Some(consumers.len() as u64),
        first_seen: first.map(|t| t.rfc3339()),
        last_seen: last.map(|t| t.rfc3339()),
        data_classes: classes.into_iter().collect(),
        endpoints: endpoints
            .iter()
            .map(|(k, _)| format!("{} {}", k.method, k.path))
            .collect(),
        ..Evidence::default()
    };
    Finding {
        id: finding_id(FindingKind::ShadowHost, host, None, None, ""),
        kind: FindingKind::ShadowHost,
        severity,
        host: host.to_string(),
        method: None,
        path: None,
        operation_id: None,
        detail: format!(
            "host {host} serves {} endpoints ({exchanges} exchanges) and no catalogue server covers it",
            endpoints.len()
        ),
        severity_reason: reason,
        confidence: if exchanges == 0 { 0.0 } else { complete as f64 / exchanges as f64 },
        evidence,
    }
}

fn zombie(
    key: &EndpointKey,
    rec: &EndpointRecord,
    op: &Operation,
    declared_in: &str,
    retired: bool,
    class_severity: ClassSeverity<'_>,
) -> Finding {
    let mut severity = Severity::Medium;
    let mut reason = if retired {
        "retired API version still in use".to_string()
    } else {
        "deprecated operation still in use".to_string()
    };
    if let Some((s, class)) = sensitivity(rec, class_severity) {
        if s >= Severity::High {
            severity = Severity::High;
            reason.push_str(&format!(", carries {class}"));
        }
    }
    if is_write(&key.method) {
        severity = severity.max(Severity::High);
        reason.push_str(&format!(", {} writes", key.method));
    }
    let mut evidence = traffic_evidence(rec);
    evidence.data_classes = data_class_evidence(rec);
    evidence.declared_in = Some(declared_in.to_string());
    evidence.retired = retired.then_some(true);
    endpoint_finding(EndpointFinding {
        kind: FindingKind::Zombie,
        key,
        operation_id: op.operation_id.clone(),
        severity,
        severity_reason: reason,
        detail: format!(
            "{} {} is {} but was called {} by {}",
            key.method,
            key.path,
            if retired {
                "in an API version marked retired"
            } else {
                "declared deprecated"
            },
            counted(rec.exchanges, "time"),
            counted(rec.consumers.len() as u64, "consumer")
        ),
        confidence: rec.confidence(),
        evidence,
    })
}

/// Whether a declared response key (`200`, `2XX`, `default`) covers `status`.
pub(super) fn status_declared(responses: &[String], status: u16) -> bool {
    responses.iter().any(|r| {
        let r = r.trim();
        if r.eq_ignore_ascii_case("default") {
            return true;
        }
        if let Ok(code) = r.parse::<u16>() {
            return code == status;
        }
        let b = r.as_bytes();
        b.len() == 3
            && b[1..].eq_ignore_ascii_case(b"XX")
            && (b[0] as char).to_digit(10) == Some(u32::from(status / 100))
    })
}

fn drift_status(key: &EndpointKey, rec: &EndpointRecord, op: &Operation) -> Option<Finding> {
    if op.responses.is_empty() {
        return None;
    }
    let undeclared: BTreeMap<String, u64> = rec
        .statuses
        .iter()
        .filter(|(s, _)| !status_declared(&op.responses, **s))
        .map(|(s, n)| (s.to_string(), *n))
        .collect();
    if undeclared.is_empty() {
        return None;
    }
    let server_errors = undeclared.keys().any(|s| s.starts_with('5'));
    let total: u64 = undeclared.values().sum();
    let mut evidence = traffic_evidence(rec);
    evidence.statuses = undeclared;
    let codes: Vec<&str> = evidence.statuses.keys().map(String::as_str).collect();
    Some(endpoint_finding(EndpointFinding {
        kind: FindingKind::DriftStatus,
        key,
        operation_id: op.operation_id.clone(),
        severity: Severity::Low,
        severity_reason: if server_errors {
            "behaviour differs from the contract; undeclared server errors".into()
        } else {
            "behaviour differs from the contract".into()
        },
        detail: format!(
            "{} {} answered undeclared status {} in {total} exchanges (declared: {})",
            key.method,
            key.path,
            codes.join(", "),
            op.responses.join(", ")
        ),
        confidence: rec.confidence(),
        evidence,
    }))
}

fn drift_param(
    key: &EndpointKey,
    rec: &EndpointRecord,
    op: &Operation,
    class_severity: ClassSeverity<'_>,
) -> Option<Finding> {
    let declared = |loc: ParamLocation, name: &str| {
        op.parameters.iter().any(|p| {
            p.location == loc
                && if loc == ParamLocation::Header {
                    p.name.eq_ignore_ascii_case(name)
                } else {
                    p.name == name
                }
        })
    };
    let mut undeclared = BTreeMap::new();
    for (name, n) in &rec.query_params {
        // Credentials in the query are judged by drift_auth, not as parameters.
        if !declared(ParamLocation::Query, name)
            && !API_KEY_PARAMS.iter().any(|k| name.eq_ignore_ascii_case(k))
        {
            undeclared.insert(format!("query:{name}"), *n);
        }
    }
    for (name, n) in &rec.header_params {
        if !declared(ParamLocation::Header, name) && !API_KEY_HEADERS.contains(&name.as_str()) {
            undeclared.insert(format!("header:{name}"), *n);
        }
    }
    let mut missing = BTreeMap::new();
    for p in op.parameters.iter().filter(|p| p.required) {
        let seen = match p.location {
            ParamLocation::Query => rec.query_params.get(&p.name).copied(),
            ParamLocation::Header => rec.header_params.get(&p.name.to_ascii_lowercase()).copied(),
            // Path parameters are present by construction; cookies are not itemised.
            ParamLocation::Path | ParamLocation::Cookie => continue,
        }
        .unwrap_or(0);
        // Only whole exchanges can prove a parameter absent.
        let missing_in = rec.complete_exchanges.saturating_sub(seen);
        if missing_in > 0 && seen < rec.exchanges {
            missing.insert(format!("{}:{}", loc_label(p.location), p.name), missing_in);
        }
    }
    if undeclared.is_empty() && missing.is_empty() {
        return None;
    }
    let sensitive_param = rec.data_classes.iter().find_map(|(class, locs)| {
        let hit = locs.keys().any(|loc| {
            undeclared.keys().any(|u| {
                let (l, name) = u.split_once(':').unwrap_or(("", u));
                loc == &format!("request.{l}.{name}")
            })
        });
        (hit && class_severity(class) >= Severity::Medium).then_some(class.as_str())
    });
    let (severity, reason) = match sensitive_param {
        Some(class) => (
            Severity::Medium,
            format!("an undeclared parameter carries {class}"),
        ),
        None => (
            Severity::Low,
            "interface differs from the contract".to_string(),
        ),
    };
    let mut parts = Vec::new();
    if !undeclared.is_empty() {
        parts.push(format!(
            "undeclared {}",
            undeclared.keys().cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    if !missing.is_empty() {
        parts.push(format!(
            "required but missing {}",
            missing.keys().cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    let mut evidence = traffic_evidence(rec);
    evidence.undeclared_params = undeclared;
    evidence.missing_params = missing;
    Some(endpoint_finding(EndpointFinding {
        kind: FindingKind::DriftParam,
        key,
        operation_id: op.operation_id.clone(),
        severity,
        severity_reason: reason,
        detail: format!("{} {}: {}", key.method, key.path, parts.join("; ")),
        confidence: rec.confidence(),
        evidence,
    }))
}

fn loc_label(loc: ParamLocation) -> &'static str {
    match loc {
        ParamLocation::Query => "query",
        ParamLocation::Header => "header",
        ParamLocation::Path => "path",
        ParamLocation::Cookie => "cookie",
    }
}

fn drift_auth(
    key: &EndpointKey,
    rec: &EndpointRecord,
    op: &Operation,
    class_severity: ClassSeverity<'_>,
) -> Option<Finding> {
    let (severity, detail, reason, declared) = match &op.security {
        Security::Required(schemes) if rec.unauthenticated() > 0 => {
            let mut severity = Severity::High;
            let mut reason = "declared authentication not enforced on the wire".to_string();
            if let Some((s, class)) = sensitivity(rec, class_severity) {
                if s >= Severity::High {
                    severity = Severity::Critical;
                    reason.push_str(&format!("; carries {class}"));
                }
            }
            (
                severity,
                format!(
                    "{} {} declares {} but {} of {} exchanges carried no credentials",
                    key.method,
                    key.path,
                    schemes.join(" or "),
                    rec.unauthenticated(),
                    rec.exchanges
                ),
                reason,
                schemes.join(" or "),
            )
        }
        Security::None if rec.authenticated() > 0 => (
            Severity::Low,
            format!(
                "{} {} declares no security but {} of {} exchanges carried credentials",
                key.method,
                key.path,
                rec.authenticated(),
                rec.exchanges
            ),
            "credentials sent where the contract expects none".to_string(),
            "none".to_string(),
        ),
        _ => return None,
    };
    let mut evidence = traffic_evidence(rec);
    evidence.unauthenticated = Some(rec.unauthenticated());
    evidence.authenticated = Some(rec.authenticated());
    evidence.declared_security = Some(declared);
    Some(endpoint_finding(EndpointFinding {
        kind: FindingKind::DriftAuth,
        key,
        operation_id: op.operation_id.clone(),
        severity,
        severity_reason: reason,
        detail,
        confidence: rec.confidence(),
        evidence,
    }))
}

fn orphaned(
    op: &Operation,
    catalogue: &Catalogue,
    inventory: &Inventory,
    window: Option<(crate::time::Timestamp, crate::time::Timestamp)>,
) -> Finding {
    // The operation's hosts that carried any traffic; the finding names the first of them
    // (or the first declared host) and lists every declared host in the evidence.
    let seen: Vec<&String> = op
        .hosts
        .iter()
        .filter(|h| inventory.hosts.keys().any(|s| host_matches(h, s)))
        .collect();
    let host_seen = if op.hosts.is_empty() {
        !inventory.hosts.is_empty()
    } else {
        !seen.is_empty()
    };
    let host = seen
        .first()
        .copied()
        .or(op.hosts.first())
        .cloned()
        .unwrap_or_else(|| "*".to_string());
    let detail = match (window, host_seen) {
        (Some((a, b)), true) => format!(
            "{} {} is declared but was not called between {a} and {b}, while its host carried traffic",
            op.method, op.path
        ),
        (Some((a, b)), false) => format!(
            "{} {} is declared but was not called between {a} and {b}; its host carried no traffic in the capture, so coverage is unknown",
            op.method, op.path
        ),
        (None, _) => format!("{} {} is declared but the capture holds no HTTP traffic", op.method, op.path),
    };
    // At the endpoint cap, calls to this operation may be among the exchanges not recorded.
    let full = inventory.dropped_observations > 0;
    let detail = if full {
        format!(
            "{detail}; uncertain: the inventory was full and {} exchanges were not recorded, so it may have been called",
            inventory.dropped_observations
        )
    } else {
        detail
    };
    Finding {
        id: finding_id(
            FindingKind::Orphaned,
            &host,
            Some(&op.method),
            Some(&op.path),
            "",
        ),
        kind: FindingKind::Orphaned,
        severity: Severity::Info,
        host,
        method: Some(op.method.clone()),
        path: Some(op.path.clone()),
        operation_id: op.operation_id.clone(),
        detail,
        severity_reason: ORPHANED_REASON.into(),
        confidence: orphaned_confidence(full, host_seen),
        evidence: orphaned_evidence(catalogue, op, window, host_seen),
    }
}

/// The evidence of a declared operation nobody called: the capture's window, whether its
/// hosts carried traffic, which hosts it is declared on and where.
pub(crate) fn orphaned_evidence(
    catalogue: &Catalogue,
    op: &Operation,
    window: Option<(crate::time::Timestamp, crate::time::Timestamp)>,
    host_seen: bool,
) -> Evidence {
    Evidence {
        window_start: window.map(|(a, _)| a.rfc3339()),
        window_end: window.map(|(_, b)| b.rfc3339()),
        host_seen: Some(host_seen),
        hosts: op.hosts.clone(),
        declared_in: Some(declared_in(catalogue, op)),
        ..Evidence::default()
    }
}

/// `1 consumer`, `2 consumers`.
fn counted(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// Why a declared operation nobody called is reported, whatever the protocol.
pub(crate) const ORPHANED_REASON: &str =
    "unused surface: a candidate for retirement, not an exposure";

/// How sure "declared and never called" is: strong on a host the capture saw, weak on a host it
/// never saw, and no statement at all once exchanges were shed at the inventory cap (`full`).
pub(crate) fn orphaned_confidence(full: bool, host_seen: bool) -> f64 {
    match (full, host_seen) {
        (true, _) => 0.0,
        (false, true) => 1.0,
        (false, false) => 0.3,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_keys_cover_codes_ranges_and_default() {
        let r = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(status_declared(&r(&["200", "404"]), 404));
        assert!(!status_declared(&r(&["200", "404"]), 500));
        assert!(status_declared(&r(&["2XX"]), 204));
        assert!(status_declared(&r(&["4xx"]), 418));
        assert!(!status_declared(&r(&["4XX"]), 500));
        assert!(status_declared(&r(&["200", "default"]), 503));
    }
}
