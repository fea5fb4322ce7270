//! SOAP operations and ISO 20022 message types against their declarations.
//!
//! - On an endpoint a WSDL port declares, every operation its [`SoapRecord`] counted (a SOAP
//!   action, else the `Body` child `{namespace}Local`) must be one of the ports' operations
//!   (same `soapAction`, or same input element): else `shadow_soap_operation`, one per
//!   operation. Declared operations nothing called are `orphaned_soap_operation`.
//! - An endpoint whose declaration names ISO 20022 message types (the namespaces of a WSDL and
//!   the schemas it imports, or an OpenAPI operation's `x-iso20022-messages` list) and whose
//!   learned bodies carried another type gets `undeclared_iso20022_message`, one per type. A
//!   WSDL endpoint always names its types (possibly none); an OpenAPI one only when it has the
//!   list, so REST endpoints that never declared their XML are not flagged wholesale.
//!
//! [`SoapRecord`]: crate::soap::SoapRecord

use super::{
    counted, declared_in, endpoint_finding, orphaned_confidence, orphaned_evidence,
    traffic_evidence, EndpointFinding, ORPHANED_REASON,
};
use crate::catalogue::{Catalogue, Operation};
use crate::finding::{finding_id, Evidence, Finding, FindingKind, Severity};
use crate::host::host_matches;
use crate::inventory::{EndpointRecord, Inventory};
use crate::observation::EndpointKey;
use std::collections::{BTreeMap, BTreeSet};

/// The OpenAPI extension listing the ISO 20022 message types an operation accepts or returns
/// (`x-iso20022-messages: [pain.001.001.03, pain.002.001.03]`).
pub const ISO20022_EXTENSION: &str = "x-iso20022-messages";

/// Declared SOAP operations that were called: (index into `Catalogue::soap`, operation index).
pub(super) type UsedSoap = BTreeSet<(usize, usize)>;

/// The SOAP and ISO 20022 findings of one declared endpoint; marks the operations it called.
pub(super) fn endpoint(
    key: &EndpointKey,
    rec: &EndpointRecord,
    op: &Operation,
    catalogue: &Catalogue,
    used: &mut UsedSoap,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    let ports = catalogue.soap_ports_of(op);
    if let Some(soap) = rec.soap.as_deref() {
        for (name, stat) in &soap.operations {
            let mut found = false;
            for &p in &ports {
                for (i, decl) in catalogue.soap[p].port.operations.iter().enumerate() {
                    if decl.answers(name) {
                        used.insert((p, i));
                        found = true;
                    }
                }
            }
            if !found && !ports.is_empty() {
                findings.push(shadow(key, rec, op, catalogue, &ports, name, stat));
            }
        }
    }
    let declared: Option<BTreeSet<String>> = if ports.is_empty() {
        iso_extension(op)
    } else {
        Some(
            ports
                .iter()
                .flat_map(|&p| catalogue.soap[p].port.iso20022.iter().cloned())
                .chain(iso_extension(op).into_iter().flatten())
                .collect(),
        )
    };
    if let Some(declared) = declared {
        for (label, n) in &rec.messages {
            let Some(kind) = label.strip_prefix("iso20022:") else {
                continue;
            };
            if !declared.contains(kind) {
                findings.push(undeclared_message(
                    key, rec, op, catalogue, &declared, kind, *n,
                ));
            }
        }
    }
    findings
}

/// The operation's `x-iso20022-messages` list, when it has one.
fn iso_extension(op: &Operation) -> Option<BTreeSet<String>> {
    let list = op.extensions.get(ISO20022_EXTENSION)?.as_array()?;
    Some(
        list.iter()
            .filter_map(|v| v.as_str())
            .map(|s| {
                s.trim()
                    .trim_start_matches(crate::soap::wsdl::ISO20022_NS_PREFIX)
                    .to_string()
            })
            .collect(),
    )
}

fn shadow(
    key: &EndpointKey,
    rec: &EndpointRecord,
    op: &Operation,
    catalogue: &Catalogue,
    ports: &[usize],
    name: &str,
    stat: &crate::soap::SoapOperationStat,
) -> Finding {
    let declared: Vec<String> = ports
        .iter()
        .flat_map(|&p| &catalogue.soap[p].port.operations)
        .map(|d| d.name.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let answered = stat.calls.saturating_sub(stat.faults);
    let (severity, reason) = if answered > 0 {
        (
            Severity::Medium,
            "undeclared SOAP operation answered on a declared endpoint".to_string(),
        )
    } else {
        (
            Severity::Low,
            "undeclared SOAP operation, every call answered with a fault".to_string(),
        )
    };
    let mut evidence = traffic_evidence(rec);
    evidence.exchanges = Some(stat.calls);
    evidence.counts = BTreeMap::from([
        ("calls".to_string(), stat.calls),
        ("faults".to_string(), stat.faults),
    ]);
    evidence.declared_in = Some(declared_in(catalogue, op));
    evidence.declared = declared;
    let mut f = endpoint_finding(EndpointFinding {
        kind: FindingKind::ShadowSoapOperation,
        key,
        operation_id: Some(name.to_string()),
        severity,
        severity_reason: reason,
        detail: format!(
            "SOAP operation {name} is called on {} {} ({}, {} faults) but the WSDL ports of the \
             endpoint do not declare it",
            key.method,
            key.path,
            counted(stat.calls, "call"),
            stat.faults
        ),
        confidence: rec.confidence(),
        evidence,
    });
    f.id = finding_id(
        FindingKind::ShadowSoapOperation,
        &key.host,
        Some(&key.method),
        Some(&key.path),
        name,
    );
    f
}

fn undeclared_message(
    key: &EndpointKey,
    rec: &EndpointRecord,
    op: &Operation,
    catalogue: &Catalogue,
    declared: &BTreeSet<String>,
    kind: &str,
    bodies: u64,
) -> Finding {
    // Payment initiation and interbank clearing move money; other families report on it.
    let payment = kind.starts_with("pain.") || kind.starts_with("pacs.");
    let (severity, reason) = if payment {
        (Severity::High, "undeclared payment message type")
    } else {
        (Severity::Medium, "undeclared ISO 20022 message type")
    };
    let mut evidence = traffic_evidence(rec);
    evidence.counts = BTreeMap::from([(kind.to_string(), bodies)]);
    evidence.declared_in = Some(declared_in(catalogue, op));
    evidence.declared = declared.iter().cloned().collect();
    let list = if declared.is_empty() {
        "none".to_string()
    } else {
        evidence.declared.join(", ")
    };
    let mut f = endpoint_finding(EndpointFinding {
        kind: FindingKind::UndeclaredIso20022Message,
        key,
        operation_id: op.operation_id.clone(),
        severity,
        severity_reason: reason.to_string(),
        detail: format!(
            "{} {} carried ISO 20022 {kind} in {} but its declaration names {list}",
            key.method,
            key.path,
            counted(bodies, "learned body"),
        ),
        confidence: rec.confidence(),
        evidence,
    });
    f.id = finding_id(
        FindingKind::UndeclaredIso20022Message,
        &key.host,
        Some(&key.method),
        Some(&key.path),
        kind,
    );
    f
}

/// One `orphaned_soap_operation` per declared operation no endpoint called.
pub(super) fn orphaned(
    catalogue: &Catalogue,
    inventory: &Inventory,
    used: &UsedSoap,
) -> Vec<Finding> {
    let window = inventory.window();
    let mut out = Vec::new();
    for (p, declared) in catalogue.soap.iter().enumerate() {
        let Some(op) = catalogue.operations.get(declared.operation) else {
            continue;
        };
        let host_seen = if op.hosts.is_empty() {
            !inventory.hosts.is_empty()
        } else {
            op.hosts
                .iter()
                .any(|h| inventory.hosts.keys().any(|s| host_matches(h, s)))
        };
        let host = op.hosts.first().cloned().unwrap_or_else(|| "*".to_string());
        for (i, decl) in declared.port.operations.iter().enumerate() {
            if used.contains(&(p, i)) {
                continue;
            }
            let name = format!(
                "{}.{}/{}",
                declared.port.service, declared.port.port, decl.name
            );
            let full = inventory.dropped_observations > 0;
            out.push(Finding {
                id: finding_id(
                    FindingKind::OrphanedSoapOperation,
                    &host,
                    Some(&op.method),
                    Some(&op.path),
                    &name,
                ),
                kind: FindingKind::OrphanedSoapOperation,
                severity: Severity::Info,
                host: host.clone(),
                method: Some(op.method.clone()),
                path: Some(op.path.clone()),
                operation_id: Some(name.clone()),
                detail: format!(
                    "SOAP operation {name} ({} {}) is declared but was not called{}",
                    op.method,
                    op.path,
                    if host_seen {
                        ", while its host carried traffic"
                    } else {
                        "; its host carried no traffic in the capture, so coverage is unknown"
                    }
                ),
                severity_reason: ORPHANED_REASON.into(),
                confidence: orphaned_confidence(full, host_seen),
                evidence: Evidence {
                    declared: decl
                        .soap_action
                        .iter()
                        .chain(&decl.input)
                        .cloned()
                        .collect(),
                    ..orphaned_evidence(catalogue, op, window, host_seen)
                },
            });
        }
    }
    out
}
