//! `drift_data_class`: a sensitive data class observed where the declaration does not admit it.
//!
//! What a declaration admits, most explicit first:
//! 1. `x-data-classes: [iban, ...]` on the operation (anywhere in it), or on the field's or
//!    parameter's schema (then exactly those classes, nothing else);
//! 2. the schema's `format` (`iban`, `email`, `phone`, `card-number`...);
//! 3. the field or parameter name (`Iban`, `email`, `mobilePhone`, `cardNumber`...), which is how
//!    most specs say it.
//!
//! A location whose field is not declared at all is judged by its name too: `drift_*_field`
//! already reports the field, this finding reports the data. The caller's own credential
//! (Authorization, API key) is how it authenticates, not exposed data, and is skipped.

use super::{endpoint_finding, traffic_evidence, ClassSeverity, EndpointFinding};
use crate::catalogue::schema::{parse_field_path, Lookup, SchemaId, Segment};
use crate::catalogue::{Catalogue, Operation};
use crate::consumer::is_credential_location;
use crate::finding::{Finding, FindingKind, Severity};
use crate::inventory::EndpointRecord;
use crate::observation::EndpointKey;
use serde_json::Value;
use std::collections::BTreeMap;

/// Name fragments (lowercase, `_`/`-` removed) and formats that declare each class.
fn hints(class: &str) -> (&'static [&'static str], &'static [&'static str]) {
    match class {
        "iban" => (&["iban"], &["iban"]),
        "pan" => (
            &["pan", "cardnumber", "primaryaccountnumber", "cardno"],
            &["pan", "card-number", "credit-card", "creditcard"],
        ),
        "email" => (&["email", "mail"], &["email", "idn-email"]),
        "phone" => (
            &["phone", "mobile", "msisdn", "telephone"],
            &["phone", "tel", "e164", "phone-number"],
        ),
        "jwt" | "bearer_token" => (
            &["token", "jwt", "assertion"],
            &["jwt", "token", "password"],
        ),
        "api_key" => (&["apikey", "key"], &["password"]),
        "password" => (&["password", "secret", "passwd", "pwd"], &["password"]),
        "private_key" => (&["privatekey"], &["password"]),
        "us_ssn" => (&["ssn", "socialsecurity"], &["ssn"]),
        "uk_nino" => (&["nino", "nationalinsurance"], &["nino"]),
        "date_of_birth" => (&["birth", "dob"], &[]),
        "uk_sort_code_account" => (
            &["sortcode", "accountnumber", "identification"],
            &["sort-code-account"],
        ),
        "aba_routing" => (&["routing", "aba"], &["aba-routing"]),
        _ => (&[], &[]),
    }
}

fn name_admits(class: &str, name: &str) -> bool {
    let norm: String = name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    // Short fragments (`pan`, `dob`, `ssn`) only as the end of the name: `maskedPan`, not
    // `companyName`.
    !norm.is_empty()
        && hints(class).0.iter().any(|h| {
            if h.len() <= 3 {
                norm.ends_with(h)
            } else {
                norm.contains(h)
            }
        })
}

fn format_admits(class: &str, formats: &[String]) -> bool {
    formats
        .iter()
        .any(|f| hints(class).1.iter().any(|h| f.eq_ignore_ascii_case(h)))
}

/// `x-data-classes` on the operation object.
fn operation_classes(op: &Operation) -> Option<Vec<String>> {
    let list = op.extensions.get("x-data-classes")?.as_array()?;
    Some(
        list.iter()
            .filter_map(Value::as_str)
            .map(str::to_ascii_lowercase)
            .collect(),
    )
}

/// Whether the schemas `ids` (the declared node(s) of the location) admit `class`; `name` is
/// the field or parameter name.
fn schema_admits(catalogue: &Catalogue, ids: &[SchemaId], class: &str, name: &str) -> bool {
    let (formats, classes, explicit) = catalogue.schemas.annotations(ids);
    if explicit {
        return classes.iter().any(|c| c == class);
    }
    format_admits(class, &formats) || name_admits(class, name)
}

/// Whether the declaration of `op` admits `class` at `location`.
fn admitted(catalogue: &Catalogue, op: &Operation, class: &str, location: &str) -> bool {
    if operation_classes(op).is_some_and(|c| c.iter().any(|c| c == class)) {
        return true;
    }
    let body = |side: &str| {
        let rest = location.strip_prefix(side)?;
        Some(rest.strip_prefix('.').unwrap_or(rest))
    };
    if let Some(path) = body("request.body") {
        let roots: Vec<SchemaId> = op.request_body.values().copied().collect();
        return body_admits(catalogue, &roots, path, class);
    }
    if let Some(path) = body("response.body") {
        let roots: Vec<SchemaId> = op
            .response_body
            .values()
            .flat_map(|m| m.values().copied())
            .collect();
        return body_admits(catalogue, &roots, path, class);
    }
    for (prefix, key) in [("request.query.", "query:"), ("request.header.", "header:")] {
        if let Some(name) = location.strip_prefix(prefix) {
            let lookup = if key == "header:" {
                format!("{key}{}", name.to_ascii_lowercase())
            } else {
                format!("{key}{name}")
            };
            return match op.param_schemas.get(&lookup) {
                Some(id) => schema_admits(catalogue, &[*id], class, name),
                None => name_admits(class, name),
            };
        }
    }
    // Response headers and other places: no declaration shadowtap reads speaks for them.
    true
}

fn body_admits(catalogue: &Catalogue, roots: &[SchemaId], path: &str, class: &str) -> bool {
    let segs = parse_field_path(path);
    let name = segs
        .iter()
        .rev()
        .find_map(|s| match s {
            Segment::Property(n) => Some(*n),
            Segment::Items => None,
        })
        .unwrap_or("");
    let mut declared = Vec::new();
    for root in roots {
        match catalogue.schemas.lookup(*root, &segs) {
            Lookup::Declared(ids) => declared.extend(ids),
            // Free-form or undeclared: only the name can speak for it.
            Lookup::Open | Lookup::Undeclared { .. } => {}
        }
    }
    if declared.is_empty() {
        return name_admits(class, name);
    }
    schema_admits(catalogue, &declared, class, name)
}

pub(super) fn drift_data_class(
    key: &EndpointKey,
    rec: &EndpointRecord,
    op: &Operation,
    catalogue: &Catalogue,
    class_severity: ClassSeverity<'_>,
) -> Option<Finding> {
    let mut undeclared: BTreeMap<String, u64> = BTreeMap::new();
    let mut worst: Option<(Severity, &str, &str)> = None;
    for (class, locations) in &rec.data_classes {
        for (location, stat) in locations {
            if is_credential_location(location) || admitted(catalogue, op, class, location) {
                continue;
            }
            undeclared.insert(format!("{class}@{location}"), stat.count);
            let s = class_severity(class);
            if worst.is_none_or(|(w, _, _)| s > w) {
                worst = Some((s, class.as_str(), location.as_str()));
            }
        }
    }
    let (class_sev, class, location) = worst?;
    let mut severity = class_sev.max(Severity::Low);
    let mut reason = format!(
        "{class} is {} data and the declaration of {location} does not admit it",
        class_sev.as_str()
    );
    if rec.unauthenticated() > 0 {
        severity = severity.raised();
        reason.push_str("; reachable without credentials");
    }
    let total: u64 = undeclared.values().sum();
    let list: Vec<String> = undeclared.keys().take(8).cloned().collect();
    let more = undeclared.len().saturating_sub(list.len());
    let mut evidence = traffic_evidence(rec);
    evidence.data_classes = undeclared.keys().cloned().collect();
    evidence.undeclared_data_classes = undeclared;
    Some(endpoint_finding(EndpointFinding {
        kind: FindingKind::DriftDataClass,
        key,
        operation_id: op.operation_id.clone(),
        severity,
        severity_reason: reason,
        detail: format!(
            "{} {} carries data the declaration does not admit: {}{} ({total} occurrences)",
            key.method,
            key.path,
            list.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        ),
        confidence: rec.confidence(),
        evidence,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_formats_declare_classes() {
        assert!(name_admits("iban", "CreditorIban"));
        assert!(name_admits("email", "contact_email"));
        assert!(name_admits("phone", "mobilePhone"));
        assert!(name_admits("pan", "cardNumber"));
        assert!(!name_admits("pan", "Reference"));
        assert!(!name_admits("pan", "CompanyName"));
        assert!(name_admits("pan", "maskedPan"));
        assert!(!name_admits("email", "Reference"));
        assert!(format_admits("email", &["email".to_string()]));
        assert!(!format_admits("iban", &["uuid".to_string()]));
    }
}
