//! Open-banking findings from the lens's per-endpoint records:
//!
//! | kind | when |
//! |---|---|
//! | `tpp_role_mismatch` | a TPP called a capability its PSD2 roles do not allow (payment initiation without `PSP_PI`, ...) |
//! | `tpp_certificate_invalid` | a TPP presented a certificate expired or not yet valid at packet time (one per host and TPP) |
//! | `drift_fapi` | FAPI posture broken on an endpoint, each check with its count: interaction id missing / not a UUID / not echoed, `x-jws-signature` missing where signing is required, bearer tokens without `cnf` on FAPI endpoints, token bound to another certificate |
//! | `consent_misuse` | a consent used on an endpoint by a TPP other than the one whose request created it (one per endpoint and consent) |
//! | `consumer_anomaly` | a consumer unlike its own history ([`super::behaviour`]) |
//! | `consent_missing` | calls on a consent-bound endpoint (`consent_paths`) that named no consent |

use super::capability::{capability_of, required_role};
use super::record::ObRecord;
use super::ObSettings;
use crate::finding::{finding_id, Evidence, Finding, FindingKind, Severity};
use crate::inventory::{EndpointRecord, Inventory};
use crate::observation::EndpointKey;
use crate::tls::TlsInventory;
use std::collections::BTreeMap;

/// Every open-banking finding of `inv` and of the TPPs `tls` saw in TLS 1.2 handshakes
/// (unsorted).
pub fn findings(inv: &Inventory, tls: &TlsInventory, settings: &ObSettings) -> Vec<Finding> {
    let mut out = Vec::new();
    // (host, tpp) -> (expired, not yet valid, endpoints)
    let mut invalid: BTreeMap<(&str, &str), (u64, u64, Vec<String>)> = BTreeMap::new();
    for (host, rec) in &tls.hosts {
        for (tpp, stat) in &rec.tpps {
            if stat.expired + stat.not_yet_valid > 0 {
                // No endpoint: the certificate was read from the handshake, before any HTTP.
                let e = invalid.entry((host, tpp)).or_default();
                e.0 += stat.expired;
                e.1 += stat.not_yet_valid;
            }
        }
    }
    for (key, rec) in &inv.endpoints {
        let Some(ob) = rec.openbanking.as_deref() else {
            continue;
        };
        let capability = capability_of(&settings.capabilities, &key.method, &key.path);
        if let Some(cap) = &capability {
            role_mismatches(key, rec, ob, cap, &mut out);
            if let Some(f) = fapi_drift(key, rec, ob, cap, settings) {
                out.push(f);
            }
        }
        for (tpp, stat) in &ob.tpps {
            if stat.expired + stat.not_yet_valid > 0 {
                let e = invalid.entry((&key.host, tpp)).or_default();
                e.0 += stat.expired;
                e.1 += stat.not_yet_valid;
                e.2.push(format!("{} {}", key.method, key.path));
            }
        }
    }
    consent_findings(inv, settings, &mut out);
    out.extend(super::behaviour::anomalies(inv, settings));
    for ((host, tpp), (expired, early, endpoints)) in invalid {
        let mut counts = BTreeMap::new();
        if expired > 0 {
            counts.insert("expired".to_string(), expired);
        }
        if early > 0 {
            counts.insert("not_yet_valid".to_string(), early);
        }
        let what = if expired > 0 {
            "expired"
        } else {
            "not yet valid"
        };
        out.push(Finding {
            id: finding_id(FindingKind::TppCertificateInvalid, host, None, None, tpp),
            kind: FindingKind::TppCertificateInvalid,
            severity: Severity::High,
            host: host.to_string(),
            method: None,
            path: None,
            operation_id: None,
            detail: if endpoints.is_empty() {
                format!("{tpp} presented a certificate {what} at packet time in TLS handshakes")
            } else {
                format!(
                    "{tpp} presented a certificate {what} at packet time on {} endpoint(s)",
                    endpoints.len()
                )
            },
            severity_reason: "high: a TPP certificate outside its validity still reached the API"
                .into(),
            confidence: 1.0,
            evidence: Evidence {
                exchanges: Some(expired + early),
                endpoints,
                tpps: BTreeMap::from([(tpp.to_string(), expired + early)]),
                counts,
                ..Evidence::default()
            },
        });
    }
    out
}

fn base_evidence(rec: &EndpointRecord, capability: &str) -> Evidence {
    Evidence {
        first_seen: Some(rec.first_seen.rfc3339()),
        last_seen: Some(rec.last_seen.rfc3339()),
        capability: Some(capability.to_string()),
        ..Evidence::default()
    }
}

fn role_mismatches(
    key: &EndpointKey,
    rec: &EndpointRecord,
    ob: &ObRecord,
    capability: &str,
    out: &mut Vec<Finding>,
) {
    let Some(role) = required_role(capability) else {
        return;
    };
    for (tpp, stat) in &ob.tpps {
        if stat.roles.contains(role) {
            continue;
        }
        let held = if stat.psd2 {
            format!("roles {}", join(stat.roles.iter()))
        } else {
            "no PSD2 QCStatement".to_string()
        };
        let payments = matches!(capability, "payment_initiation" | "vrp");
        out.push(Finding {
            id: finding_id(
                FindingKind::TppRoleMismatch,
                &key.host,
                Some(&key.method),
                Some(&key.path),
                tpp,
            ),
            kind: FindingKind::TppRoleMismatch,
            severity: if payments {
                Severity::Critical
            } else {
                Severity::High
            },
            host: key.host.clone(),
            method: Some(key.method.clone()),
            path: Some(key.path.clone()),
            operation_id: None,
            detail: format!("{tpp} called {capability} ({held}; needs {role})"),
            severity_reason: format!(
                "{}: a TPP without the PSD2 role for {capability} reached it",
                if payments { "critical" } else { "high" }
            ),
            confidence: rec.confidence(),
            evidence: Evidence {
                exchanges: Some(stat.exchanges),
                tpps: BTreeMap::from([(tpp.clone(), stat.exchanges)]),
                roles: stat.roles.iter().cloned().collect(),
                ..base_evidence(rec, capability)
            },
        });
    }
}

fn fapi_drift(
    key: &EndpointKey,
    rec: &EndpointRecord,
    ob: &ObRecord,
    capability: &str,
    settings: &ObSettings,
) -> Option<Finding> {
    let f = &ob.fapi;
    let prefixed = |list: &[String]| list.iter().any(|p| key.path.starts_with(p.as_str()));
    let mut counts = BTreeMap::new();
    // The authorisation server's endpoints are OAuth, not FAPI resource APIs: no
    // interaction id is expected there.
    if capability != "token" {
        counts.insert("interaction_id_missing", f.interaction_id_missing);
        counts.insert("interaction_id_invalid", f.interaction_id_invalid);
        counts.insert("interaction_id_not_echoed", f.interaction_id_not_echoed);
    }
    if prefixed(&settings.signing_paths) {
        counts.insert(
            "jws_signature_missing",
            f.exchanges.saturating_sub(f.signed),
        );
    }
    if prefixed(&settings.fapi_paths) {
        counts.insert("bearer_without_cnf", f.bearer_unbound);
    }
    counts.insert("token_bound_to_other_certificate", f.binding_mismatch);
    counts.retain(|_, n| *n > 0);
    if counts.is_empty() {
        return None;
    }
    let bad_binding = f.binding_mismatch > 0;
    let severity = if bad_binding {
        Severity::High
    } else {
        Severity::Medium
    };
    let detail = format!(
        "FAPI posture drift on {capability}: {}",
        join(counts.iter().map(|(k, n)| format!("{k} {n}")))
    );
    Some(Finding {
        id: finding_id(
            FindingKind::DriftFapi,
            &key.host,
            Some(&key.method),
            Some(&key.path),
            "",
        ),
        kind: FindingKind::DriftFapi,
        severity,
        host: key.host.clone(),
        method: Some(key.method.clone()),
        path: Some(key.path.clone()),
        operation_id: None,
        detail,
        severity_reason: if bad_binding {
            "high: a sender-constrained token was presented with another certificate".into()
        } else {
            "medium: FAPI headers or token binding missing".into()
        },
        confidence: rec.confidence(),
        evidence: Evidence {
            exchanges: Some(f.exchanges),
            counts: counts
                .into_iter()
                .map(|(k, n)| (k.to_string(), n))
                .collect(),
            ..base_evidence(rec, capability)
        },
    })
}

fn join<T: AsRef<str>>(items: impl Iterator<Item = T>) -> String {
    let v: Vec<String> = items.map(|s| s.as_ref().to_string()).collect();
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

/// `consent_misuse` and `consent_missing` over the whole inventory: a consent is created on
/// one endpoint (`POST .../consents`) and used on others, so creators are gathered first.
fn consent_findings(inv: &Inventory, settings: &ObSettings, out: &mut Vec<Finding>) {
    let mut creators: BTreeMap<(&str, &str), Vec<&str>> = BTreeMap::new();
    for (key, rec) in &inv.endpoints {
        for (id, stat) in rec.openbanking.iter().flat_map(|ob| &ob.consents) {
            let c = creators.entry((&key.host, id)).or_default();
            c.extend(stat.created_by.iter().map(String::as_str));
        }
    }
    for (key, rec) in &inv.endpoints {
        let Some(ob) = rec.openbanking.as_deref() else {
            continue;
        };
        let capability = capability_of(&settings.capabilities, &key.method, &key.path)
            .unwrap_or_else(|| "none".into());
        for (id, stat) in &ob.consents {
            let Some(made_by) = creators.get(&(key.host.as_str(), id.as_str())) else {
                continue;
            };
            if made_by.is_empty() {
                continue;
            }
            let foreign: BTreeMap<String, u64> = stat
                .used_by
                .iter()
                .filter(|(user, _)| !made_by.contains(&user.as_str()))
                .map(|(u, n)| (u.clone(), *n))
                .collect();
            if foreign.is_empty() {
                continue;
            }
            let uses = foreign.values().sum();
            out.push(Finding {
                id: finding_id(
                    FindingKind::ConsentMisuse,
                    &key.host,
                    Some(&key.method),
                    Some(&key.path),
                    id,
                ),
                kind: FindingKind::ConsentMisuse,
                severity: Severity::High,
                host: key.host.clone(),
                method: Some(key.method.clone()),
                path: Some(key.path.clone()),
                operation_id: None,
                detail: format!(
                    "consent {id} created by {} was used by {} ({uses} call(s))",
                    join(made_by.iter()),
                    join(foreign.keys())
                ),
                severity_reason: "high: a TPP acted under a consent the customer gave another"
                    .into(),
                confidence: rec.confidence(),
                evidence: Evidence {
                    exchanges: Some(uses),
                    tpps: foreign,
                    consent: Some(id.clone()),
                    created_by: made_by.iter().map(|c| c.to_string()).collect(),
                    ..base_evidence(rec, &capability)
                },
            });
        }
        let bound = settings
            .consent_paths
            .iter()
            .any(|p| key.path.starts_with(p.as_str()));
        let missing = ob.fapi.without_consent;
        if bound && missing > 0 {
            out.push(Finding {
                id: finding_id(
                    FindingKind::ConsentMissing,
                    &key.host,
                    Some(&key.method),
                    Some(&key.path),
                    "",
                ),
                kind: FindingKind::ConsentMissing,
                severity: Severity::Medium,
                host: key.host.clone(),
                method: Some(key.method.clone()),
                path: Some(key.path.clone()),
                operation_id: None,
                detail: format!(
                    "{missing} of {} call(s) on a consent-bound endpoint named no consent",
                    ob.fapi.exchanges
                ),
                severity_reason: "medium: access without a consent reference cannot be tied to \
                                  what the customer agreed to"
                    .into(),
                confidence: rec.confidence(),
                evidence: Evidence {
                    exchanges: Some(ob.fapi.exchanges),
                    counts: BTreeMap::from([("without_consent".to_string(), missing)]),
                    ..base_evidence(rec, &capability)
                },
            });
        }
    }
}
