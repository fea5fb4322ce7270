//! GraphQL operations against the declared schema (`Catalogue::graphql`):
//! - `graphql_shadow_field`: a root field called that the schema does not declare, one finding
//!   per endpoint and root field (`mutation.closeAccount`);
//! - `graphql_deprecated_field`: a field declared `@deprecated` still selected, per endpoint and
//!   field (`Account.number`);
//! - `graphql_orphaned_field`: a declared root field no GraphQL endpoint called.
//!
//! Operations sent as a persisted hash alone cannot be checked (their document was not seen).
//! Without a GraphQL schema in the catalogue there are no GraphQL findings, and a GraphQL
//! endpoint is then judged as an HTTP one (shadow or declared by OpenAPI).

use super::op_kind;
use super::schema::GraphqlSchema;
use super::GraphqlRecord;
use crate::finding::{finding_id, Evidence, Finding, FindingKind, Severity};
use crate::inventory::{EndpointRecord, Inventory};
use crate::observation::EndpointKey;
use std::collections::{BTreeMap, BTreeSet};

/// Per subject (`mutation.pay`, `Account.number`): operation key -> calls.
type BySubject = BTreeMap<String, BTreeMap<String, u64>>;

/// Every GraphQL finding of `inventory` against `schema`.
pub fn findings(inventory: &Inventory, schema: &GraphqlSchema) -> Vec<Finding> {
    if schema.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut called: BTreeSet<String> = BTreeSet::new();
    let mut hosts: BTreeSet<&str> = BTreeSet::new();
    for (key, rec) in &inventory.endpoints {
        let Some(g) = rec.graphql.as_deref() else {
            continue;
        };
        hosts.insert(&key.host);
        let (shadow, deprecated) = check(g, schema, &mut called);
        for (subject, ops) in shadow {
            out.push(shadow_field(key, rec, schema, &subject, ops));
        }
        for (subject, ops) in deprecated {
            out.push(deprecated_field(key, rec, schema, &subject, ops));
        }
    }
    for kind in [
        super::document::OpKind::Query,
        super::document::OpKind::Mutation,
        super::document::OpKind::Subscription,
    ] {
        for field in schema.root_fields(kind) {
            let subject = format!("{}.{field}", kind.as_str());
            if !called.contains(&subject) {
                out.push(orphaned_field(&hosts, schema, &subject));
            }
        }
    }
    out
}

/// The undeclared root fields and deprecated fields one endpoint's operations use; `called`
/// gains every root field called.
fn check(
    g: &GraphqlRecord,
    schema: &GraphqlSchema,
    called: &mut BTreeSet<String>,
) -> (BySubject, BySubject) {
    let mut shadow = BySubject::new();
    let mut deprecated = BySubject::new();
    for (op_key, op) in &g.operations {
        let Some(kind) = op_kind(&op.kind) else {
            continue;
        };
        for root in &op.root_fields {
            let subject = format!("{}.{root}", kind.as_str());
            if schema.declares_root(kind, root) {
                called.insert(subject);
            } else {
                *shadow
                    .entry(subject)
                    .or_default()
                    .entry(op_key.clone())
                    .or_default() += op.calls;
            }
        }
        let mut seen = BTreeSet::new();
        for path in op.fields.iter().chain(op.root_fields.iter()) {
            for field in schema.deprecated_on_path(kind, path) {
                if seen.insert(field.clone()) {
                    *deprecated
                        .entry(field)
                        .or_default()
                        .entry(op_key.clone())
                        .or_default() += op.calls;
                }
            }
        }
    }
    (shadow, deprecated)
}

fn declared_in(schema: &GraphqlSchema) -> String {
    schema.sources.join(", ")
}

fn endpoint_finding(
    kind: FindingKind,
    key: &EndpointKey,
    rec: &EndpointRecord,
    subject: &str,
    (severity, reason): (Severity, String),
    detail: String,
    evidence: Evidence,
) -> Finding {
    Finding {
        id: finding_id(kind, &key.host, Some(&key.method), Some(&key.path), subject),
        kind,
        severity,
        host: key.host.clone(),
        method: Some(key.method.clone()),
        path: Some(key.path.clone()),
        operation_id: Some(subject.to_string()),
        detail,
        severity_reason: reason,
        confidence: rec.confidence(),
        evidence,
    }
}

fn op_evidence(
    rec: &EndpointRecord,
    schema: &GraphqlSchema,
    ops: BTreeMap<String, u64>,
) -> Evidence {
    Evidence {
        exchanges: Some(ops.values().sum()),
        consumers: Some(rec.consumers.len() as u64),
        first_seen: Some(rec.first_seen.rfc3339()),
        last_seen: Some(rec.last_seen.rfc3339()),
        declared_in: Some(declared_in(schema)),
        graphql_operations: ops,
        ..Evidence::default()
    }
}

/// Medium; a mutation (it writes) high.
fn severity(subject: &str, what: &str) -> (Severity, String) {
    if subject.starts_with("mutation.") {
        (Severity::High, format!("{what}, and a mutation writes"))
    } else {
        (Severity::Medium, what.to_string())
    }
}

fn calls_in(ops: &BTreeMap<String, u64>) -> String {
    let calls: u64 = ops.values().sum();
    format!(
        "{calls} call{} in {}",
        if calls == 1 { "" } else { "s" },
        ops.keys().cloned().collect::<Vec<_>>().join(", ")
    )
}

fn shadow_field(
    key: &EndpointKey,
    rec: &EndpointRecord,
    schema: &GraphqlSchema,
    subject: &str,
    ops: BTreeMap<String, u64>,
) -> Finding {
    let (kind, field) = subject.split_once('.').unwrap_or(("", subject));
    let detail = format!(
        "GraphQL {kind} root field {field} is called on {} {} ({}) but the schema does not declare it",
        key.method,
        key.path,
        calls_in(&ops)
    );
    endpoint_finding(
        FindingKind::GraphqlShadowField,
        key,
        rec,
        subject,
        severity(subject, "undeclared GraphQL surface"),
        detail,
        op_evidence(rec, schema, ops),
    )
}

fn deprecated_field(
    key: &EndpointKey,
    rec: &EndpointRecord,
    schema: &GraphqlSchema,
    subject: &str,
    ops: BTreeMap<String, u64>,
) -> Finding {
    let detail = format!(
        "GraphQL field {subject} is declared @deprecated but is still selected on {} {} ({})",
        key.method,
        key.path,
        calls_in(&ops)
    );
    let writes = ops.keys().any(|k| k.starts_with("mutation "));
    let (severity, reason) = if writes {
        (
            Severity::High,
            "deprecated GraphQL field still in use, by a mutation".to_string(),
        )
    } else {
        (
            Severity::Medium,
            "deprecated GraphQL field still in use".to_string(),
        )
    };
    endpoint_finding(
        FindingKind::GraphqlDeprecatedField,
        key,
        rec,
        subject,
        (severity, reason),
        detail,
        op_evidence(rec, schema, ops),
    )
}

fn orphaned_field(hosts: &BTreeSet<&str>, schema: &GraphqlSchema, subject: &str) -> Finding {
    let host = hosts.first().map_or("*", |h| h).to_string();
    let (kind, field) = subject.split_once('.').unwrap_or(("", subject));
    let detail = if hosts.is_empty() {
        format!("GraphQL {kind} root field {field} is declared but the capture holds no GraphQL traffic, so coverage is unknown")
    } else {
        format!("GraphQL {kind} root field {field} is declared but was not called, while GraphQL traffic was seen")
    };
    Finding {
        id: finding_id(
            FindingKind::GraphqlOrphanedField,
            &host,
            None,
            None,
            subject,
        ),
        kind: FindingKind::GraphqlOrphanedField,
        severity: Severity::Info,
        host,
        method: None,
        path: None,
        operation_id: Some(subject.to_string()),
        detail,
        severity_reason: crate::diff::ORPHANED_REASON.into(),
        confidence: if hosts.is_empty() { 0.0 } else { 1.0 },
        evidence: Evidence {
            declared_in: Some(declared_in(schema)),
            hosts: hosts.iter().map(|h| h.to_string()).collect(),
            host_seen: Some(!hosts.is_empty()),
            ..Evidence::default()
        },
    }
}
