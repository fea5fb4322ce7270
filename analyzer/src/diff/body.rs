//! Body drift: `drift_request_field`, `drift_response_field` and `drift_content_type`.
//!
//! Observed field paths and types (the inventory's `request_fields` / `response_fields`) are
//! looked up in the operation's compiled schemas (`catalogue::schema`). The inventory merges
//! response fields over every status, so a response field is judged against the union of all
//! declared response schemas of the media types seen: a field is undeclared only when no
//! response of the operation declares it (the 404 body's `Errors[]` is not drift of the 200).
//!
//! Only the outermost undeclared field is reported (`Data.Debtor`, not also `Data.Debtor.Name`),
//! and a field whose type differs hides the fields below it, which would otherwise all read as
//! undeclared.

use super::{endpoint_finding, status_declared, traffic_evidence, ClassSeverity, EndpointFinding};
use crate::catalogue::schema::{parse_field_path, render_field_path, Lookup, SchemaId, TypeSet};
use crate::catalogue::{Catalogue, Operation};
use crate::finding::{Finding, FindingKind, Severity};
use crate::inventory::EndpointRecord;
use crate::observation::{EndpointKey, FieldType};
use std::collections::{BTreeMap, BTreeSet};

/// `application/json; charset=utf-8` -> `application/json`.
pub(super) fn bare_media_type(ct: &str) -> String {
    ct.split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Whether declared media type (or range) `declared` covers observed `observed`
/// (RFC 9110 section 12.5.1 ranges: `*/*`, `type/*`).
pub(super) fn media_matches(declared: &str, observed: &str) -> bool {
    let d = bare_media_type(declared);
    let o = bare_media_type(observed);
    if d == "*/*" || d == o {
        return true;
    }
    match d.strip_suffix("/*") {
        Some(ty) => o.split('/').next() == Some(ty),
        None => false,
    }
}

/// The schemas of `by_type` whose media type covers one of the observed types.
fn roots_for<'a>(
    by_type: impl Iterator<Item = (&'a String, &'a SchemaId)>,
    observed: &BTreeMap<String, u64>,
) -> Vec<SchemaId> {
    let mut out = Vec::new();
    for (ct, id) in by_type {
        if observed.keys().any(|o| media_matches(ct, o)) && !out.contains(id) {
            out.push(*id);
        }
    }
    out
}

fn observed_label(types: &BTreeSet<FieldType>) -> String {
    types
        .iter()
        .map(|t| t.as_str())
        .collect::<Vec<_>>()
        .join("|")
}

/// Whether `path` lies at or below `prefix` (`a.b` covers `a.b`, `a.b.c`, `a.b[]`).
fn under(path: &str, prefix: &str) -> bool {
    path.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('.') || rest.starts_with('['))
}

/// What the field check found for one direction.
#[derive(Debug, Default)]
struct FieldDrift {
    undeclared: BTreeMap<String, String>,
    mismatched: BTreeMap<String, String>,
    /// Observed paths at or below an undeclared field.
    below_undeclared: usize,
}

fn check_fields(
    catalogue: &Catalogue,
    roots: &[SchemaId],
    fields: &BTreeMap<String, BTreeSet<FieldType>>,
) -> FieldDrift {
    let schemas = &catalogue.schemas;
    let mut drift = FieldDrift::default();
    let mut hidden: Vec<String> = Vec::new();
    // BTreeMap order puts a path before everything below it.
    for (path, types) in fields {
        if hidden.iter().any(|p| under(path, p)) {
            if drift.undeclared.keys().any(|p| under(path, p)) {
                drift.below_undeclared += 1;
            }
            continue;
        }
        let segs = parse_field_path(path);
        if segs.is_empty() {
            continue;
        }
        let mut declared: Vec<SchemaId> = Vec::new();
        let mut open = false;
        let mut furthest = 0;
        for root in roots {
            match schemas.lookup(*root, &segs) {
                Lookup::Open => open = true,
                Lookup::Declared(ids) => declared.extend(ids),
                Lookup::Undeclared { at } => furthest = furthest.max(at),
            }
        }
        if open {
            // Free-form below here in some schema: nothing under it can be judged.
            hidden.push(path.clone());
            continue;
        }
        if declared.is_empty() {
            let prefix = render_field_path(&segs[..=furthest.min(segs.len() - 1)]);
            if prefix != *path && fields.contains_key(&prefix) {
                // The parent exists and was judged declared; the step that failed is `[]`
                // on a non-array, which the parent's type mismatch already says.
                hidden.push(prefix);
                continue;
            }
            drift
                .undeclared
                .insert(prefix.clone(), observed_label(types));
            hidden.push(prefix);
            continue;
        }
        let admitted: TypeSet = schemas.admitted_types(&declared);
        let bad: BTreeSet<FieldType> = types
            .iter()
            .copied()
            .filter(|t| !admitted.admits(*t))
            .collect();
        if !bad.is_empty() {
            drift.mismatched.insert(
                path.clone(),
                format!("{} (declared: {})", observed_label(&bad), admitted.label()),
            );
            hidden.push(path.clone());
        }
    }
    drift
}

/// `drift_request_field` or `drift_response_field` for one endpoint.
pub(super) fn drift_fields(
    key: &EndpointKey,
    rec: &EndpointRecord,
    op: &Operation,
    catalogue: &Catalogue,
    request: bool,
    class_severity: ClassSeverity<'_>,
) -> Option<Finding> {
    let (fields, roots) = if request {
        (
            &rec.request_fields,
            roots_for(op.request_body.iter(), &rec.request_content_types),
        )
    } else {
        (
            &rec.response_fields,
            roots_for(
                op.response_body.values().flat_map(|m| m.iter()),
                &rec.response_content_types,
            ),
        )
    };
    // No schema for the media types seen: nothing to compare (an undeclared media type is
    // drift_content_type's to say).
    if fields.is_empty() || roots.is_empty() {
        return None;
    }
    let drift = check_fields(catalogue, &roots, fields);
    if drift.undeclared.is_empty() && drift.mismatched.is_empty() {
        return None;
    }
    let (kind, side) = if request {
        (FindingKind::DriftRequestField, "request")
    } else {
        (FindingKind::DriftResponseField, "response")
    };

    // Severity: a body that differs from its contract is low; undeclared input on a write is
    // accepted and acted on (mass assignment), so medium; sensitive data in an undeclared
    // field sets the floor at its class's level (capped at high: drift_data_class speaks for
    // the class itself).
    let mut severity = Severity::Low;
    let mut why = vec![format!("{side} body differs from the contract")];
    if request && !drift.undeclared.is_empty() && super::is_write(&key.method) {
        severity = Severity::Medium;
        why = vec![format!("undeclared input accepted by a {}", key.method)];
    }
    let body_prefix = format!("{side}.body");
    let sensitive = rec
        .data_classes
        .iter()
        .filter(|(_, locs)| {
            locs.keys().any(|l| {
                l.strip_prefix(&body_prefix).is_some_and(|p| {
                    let p = p.strip_prefix('.').unwrap_or(p);
                    drift.undeclared.keys().any(|u| under(p, u))
                })
            })
        })
        .map(|(c, _)| (class_severity(c), c.as_str()))
        .max();
    if let Some((s, class)) = sensitive {
        if s >= Severity::Medium {
            severity = severity.max(s.min(Severity::High));
            why.push(format!("an undeclared field carries {class}"));
        }
    }

    let mut parts = Vec::new();
    if !drift.undeclared.is_empty() {
        let mut list: Vec<&str> = drift.undeclared.keys().map(String::as_str).collect();
        list.truncate(8);
        let more = drift.undeclared.len().saturating_sub(list.len());
        parts.push(format!(
            "undeclared {}{}{}",
            list.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            },
            if drift.below_undeclared > 0 {
                format!(" (with {} fields below)", drift.below_undeclared)
            } else {
                String::new()
            }
        ));
    }
    if !drift.mismatched.is_empty() {
        let list: Vec<String> = drift
            .mismatched
            .iter()
            .take(8)
            .map(|(p, t)| format!("{p}: {t}"))
            .collect();
        parts.push(format!("type differs {}", list.join(", ")));
    }
    let mut evidence = traffic_evidence(rec);
    evidence.undeclared_fields = drift.undeclared;
    evidence.field_type_mismatches = drift.mismatched;
    Some(endpoint_finding(EndpointFinding {
        kind,
        key,
        operation_id: op.operation_id.clone(),
        severity,
        severity_reason: why.join(", "),
        detail: format!(
            "{} {} {side} body: {}",
            key.method,
            key.path,
            parts.join("; ")
        ),
        confidence: rec.confidence(),
        evidence,
    }))
}

/// `drift_content_type`: request or response media types the operation does not declare.
///
/// An operation that declares no media type for a direction is not judged in it (Swagger 2.0
/// without `consumes`/`produces` means "whatever the API's default is"). Responses with an
/// undeclared status (reported by drift_status) are often a framework's HTML error page; when
/// the undeclared-media-type responses are no more than the undeclared-status ones, they are
/// taken to be those and not reported twice.
pub(super) fn drift_content_type(
    key: &EndpointKey,
    rec: &EndpointRecord,
    op: &Operation,
) -> Option<Finding> {
    let mut undeclared: BTreeMap<String, u64> = BTreeMap::new();
    if !op.request_content_types.is_empty() {
        for (ct, n) in &rec.request_content_types {
            if !op
                .request_content_types
                .iter()
                .any(|d| media_matches(d, ct))
            {
                undeclared.insert(format!("request:{ct}"), *n);
            }
        }
    }
    if !op.response_content_types.is_empty() {
        let mut response: BTreeMap<String, u64> = BTreeMap::new();
        for (ct, n) in &rec.response_content_types {
            if !op
                .response_content_types
                .iter()
                .any(|d| media_matches(d, ct))
            {
                response.insert(format!("response:{ct}"), *n);
            }
        }
        let unexplained: u64 = response.values().sum();
        let undeclared_statuses: u64 = if op.responses.is_empty() {
            0
        } else {
            rec.statuses
                .iter()
                .filter(|(s, _)| !status_declared(&op.responses, **s))
                .map(|(_, n)| *n)
                .sum()
        };
        if unexplained > undeclared_statuses {
            undeclared.extend(response);
        }
    }
    if undeclared.is_empty() {
        return None;
    }
    let request_side = undeclared.keys().any(|k| k.starts_with("request:"));
    let (severity, reason) = if request_side && super::is_write(&key.method) {
        (
            Severity::Medium,
            format!(
                "a {} accepts a body format the contract does not declare (parser confusion)",
                key.method
            ),
        )
    } else {
        (
            Severity::Low,
            "body format differs from the contract".to_string(),
        )
    };
    let declared: Vec<String> = op
        .request_content_types
        .iter()
        .map(|c| format!("request:{c}"))
        .chain(
            op.response_content_types
                .iter()
                .map(|c| format!("response:{c}")),
        )
        .collect();
    let total: u64 = undeclared.values().sum();
    let detail = format!(
        "{} {} used undeclared media type {} in {total} exchanges (declared: {})",
        key.method,
        key.path,
        undeclared.keys().cloned().collect::<Vec<_>>().join(", "),
        declared.join(", ")
    );
    let mut evidence = traffic_evidence(rec);
    evidence.undeclared_content_types = undeclared;
    evidence.declared_content_types = declared;
    Some(endpoint_finding(EndpointFinding {
        kind: FindingKind::DriftContentType,
        key,
        operation_id: op.operation_id.clone(),
        severity,
        severity_reason: reason,
        detail,
        confidence: rec.confidence(),
        evidence,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_ranges() {
        assert!(media_matches("application/json", "application/json"));
        assert!(media_matches(
            "application/json; charset=utf-8",
            "application/json"
        ));
        assert!(media_matches("*/*", "text/html"));
        assert!(media_matches("application/*", "application/xml"));
        assert!(!media_matches("application/json", "text/html"));
        assert!(!media_matches("application/*", "text/plain"));
    }

    #[test]
    fn under_respects_boundaries() {
        assert!(under("a.b", "a.b"));
        assert!(under("a.b.c", "a.b"));
        assert!(under("a.b[].c", "a.b"));
        assert!(!under("a.bc", "a.b"));
    }
}
