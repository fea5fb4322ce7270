//! Exposure per capability: for each open-banking capability, its endpoints (declared, shadow,
//! zombie), the data classes they carry and how often, the TPPs per endpoint, and whether the
//! endpoints of one capability share one security policy (auth schemes, FAPI headers). The
//! "exposure surface per business capability" a bank's CISO asks for.

use super::capability::{capability_of, CapabilityRule};
use crate::finding::{Finding, FindingKind};
use crate::inventory::Inventory;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// FAPI and PSD2 request headers whose presence is compared across a capability.
const POLICY_HEADERS: [&str; 4] = [
    "x-fapi-interaction-id",
    "x-jws-signature",
    "x-fapi-auth-date",
    "x-fapi-customer-ip-address",
];

/// One endpoint of a capability.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExposedEndpoint {
    pub host: String,
    pub method: String,
    pub path: String,
    /// `declared`, `shadow` or `zombie`.
    pub status: &'static str,
    pub exchanges: u64,
    /// TPP -> PSD2 roles.
    pub tpps: BTreeMap<String, Vec<String>>,
    pub auth: Vec<String>,
    /// Of [`POLICY_HEADERS`], those the endpoint's requests were seen with.
    pub fapi_headers: Vec<String>,
}

/// One capability's exposure.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CapabilityExposure {
    pub capability: String,
    pub declared: usize,
    pub shadow: usize,
    pub zombie: usize,
    pub exchanges: u64,
    /// Data class -> occurrences across the capability's endpoints.
    pub data_classes: BTreeMap<String, u64>,
    /// Distinct TPPs across the capability.
    pub tpps: usize,
    /// Every endpoint uses the same auth schemes and the same FAPI headers.
    pub consistent_policy: bool,
    /// What differs, when not consistent (`auth: bearer | none`, ...).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub policy_differences: Vec<String>,
    pub endpoints: Vec<ExposedEndpoint>,
}

impl CapabilityExposure {
    /// `consistent`, or `differs (what differs)`: the policy column of every rendering.
    pub fn policy_text(&self) -> String {
        if self.consistent_policy {
            "consistent".to_string()
        } else {
            format!("differs ({})", self.policy_differences.join("; "))
        }
    }
}

/// The exposure of every capability the inventory's lens-observed endpoints fall in (empty
/// when the lens saw nothing).
pub fn exposure(
    inv: &Inventory,
    findings: &[Finding],
    rules: &[CapabilityRule],
) -> Vec<CapabilityExposure> {
    let mut status: BTreeMap<(&str, &str, &str), &'static str> = BTreeMap::new();
    // A host no catalogue server covers is one `shadow_host` finding, not one per endpoint:
    // every endpoint on it is shadow.
    let shadow_hosts: BTreeSet<&str> = findings
        .iter()
        .filter(|f| f.kind == FindingKind::ShadowHost)
        .map(|f| f.host.as_str())
        .collect();
    for f in findings {
        let s = match f.kind {
            FindingKind::ShadowEndpoint | FindingKind::UnconfirmedEndpoint => "shadow",
            FindingKind::Zombie => "zombie",
            _ => continue,
        };
        if let (Some(m), Some(p)) = (&f.method, &f.path) {
            status.insert((f.host.as_str(), m.as_str(), p.as_str()), s);
        }
    }
    let mut out: BTreeMap<String, CapabilityExposure> = BTreeMap::new();
    for (key, rec) in &inv.endpoints {
        let Some(ob) = rec.openbanking.as_deref() else {
            continue;
        };
        let Some(cap) = capability_of(rules, &key.method, &key.path) else {
            continue;
        };
        let st = status
            .get(&(key.host.as_str(), key.method.as_str(), key.path.as_str()))
            .copied()
            .unwrap_or(if shadow_hosts.contains(key.host.as_str()) {
                "shadow"
            } else {
                "declared"
            });
        let e = out
            .entry(cap.clone())
            .or_insert_with(|| CapabilityExposure {
                capability: cap,
                declared: 0,
                shadow: 0,
                zombie: 0,
                exchanges: 0,
                data_classes: BTreeMap::new(),
                tpps: 0,
                consistent_policy: true,
                policy_differences: Vec::new(),
                endpoints: Vec::new(),
            });
        match st {
            "shadow" => e.shadow += 1,
            "zombie" => e.zombie += 1,
            _ => e.declared += 1,
        }
        e.exchanges = e.exchanges.saturating_add(rec.exchanges);
        for (class, locations) in &rec.data_classes {
            let n: u64 = locations.values().map(|s| s.count).sum();
            let v = e.data_classes.entry(class.clone()).or_default();
            *v = v.saturating_add(n);
        }
        e.endpoints.push(ExposedEndpoint {
            host: key.host.clone(),
            method: key.method.clone(),
            path: key.path.clone(),
            status: st,
            exchanges: rec.exchanges,
            tpps: ob.tpp_roles(),
            auth: rec.auth.keys().cloned().collect(),
            fapi_headers: POLICY_HEADERS
                .iter()
                .filter(|h| rec.header_params.contains_key(**h))
                .map(|h| h.to_string())
                .collect(),
        });
    }
    for e in out.values_mut() {
        let tpps: BTreeSet<&String> = e.endpoints.iter().flat_map(|x| x.tpps.keys()).collect();
        e.tpps = tpps.len();
        let auths: BTreeSet<&Vec<String>> = e.endpoints.iter().map(|x| &x.auth).collect();
        let headers: BTreeSet<&Vec<String>> = e.endpoints.iter().map(|x| &x.fapi_headers).collect();
        if auths.len() > 1 {
            e.policy_differences
                .push(format!("auth: {}", variants(auths.into_iter())));
        }
        if headers.len() > 1 {
            e.policy_differences
                .push(format!("fapi headers: {}", variants(headers.into_iter())));
        }
        e.consistent_policy = e.policy_differences.is_empty();
    }
    out.into_values().collect()
}

/// One TPP across the exposure table: who it is (label and PSD2 roles) and what it reaches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TppReach {
    pub tpp: String,
    pub roles: BTreeSet<String>,
    pub capabilities: BTreeSet<String>,
    pub endpoints: usize,
}

/// The TPPs of an exposure table, by label: read off the table already built, so the reports'
/// TPP list and the capability table cannot disagree.
pub fn tpps(rows: &[CapabilityExposure]) -> Vec<TppReach> {
    let mut out: BTreeMap<&str, TppReach> = BTreeMap::new();
    for c in rows {
        for e in &c.endpoints {
            for (tpp, roles) in &e.tpps {
                let r = out.entry(tpp).or_insert_with(|| TppReach {
                    tpp: tpp.clone(),
                    roles: BTreeSet::new(),
                    capabilities: BTreeSet::new(),
                    endpoints: 0,
                });
                r.roles.extend(roles.iter().cloned());
                r.capabilities.insert(c.capability.clone());
                r.endpoints += 1;
            }
        }
    }
    out.into_values().collect()
}

impl TppReach {
    /// `PSP_AI+PSP_PI`, or `no PSD2 roles`.
    pub fn roles_text(&self) -> String {
        if self.roles.is_empty() {
            "no PSD2 roles".to_string()
        } else {
            self.roles.iter().cloned().collect::<Vec<_>>().join("+")
        }
    }
}

fn variants<'a>(sets: impl Iterator<Item = &'a Vec<String>>) -> String {
    sets.map(|s| {
        if s.is_empty() {
            "none".to_string()
        } else {
            s.join("+")
        }
    })
    .collect::<Vec<_>>()
    .join(" | ")
}

/// The exposure as a Markdown table (reports and the README).
pub fn markdown_table(rows: &[CapabilityExposure], esc: &dyn Fn(&str) -> String) -> String {
    let mut o = String::from(
        "| capability | endpoints (declared/shadow/zombie) | exchanges | data classes | TPPs | policy |\n|---|---|---|---|---|---|\n",
    );
    for r in rows {
        let classes = if r.data_classes.is_empty() {
            "none".to_string()
        } else {
            r.data_classes
                .iter()
                .map(|(c, n)| format!("{c} {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let policy = r.policy_text();
        o.push_str(&format!(
            "| {} | {}/{}/{} | {} | {} | {} | {} |\n",
            esc(&r.capability),
            r.declared,
            r.shadow,
            r.zombie,
            r.exchanges,
            esc(&classes),
            r.tpps,
            esc(&policy)
        ));
    }
    o
}

/// The TPPs of the exposure table as a Markdown table (empty when none was identified).
pub fn markdown_tpps(rows: &[CapabilityExposure], esc: &dyn Fn(&str) -> String) -> String {
    let tpps = tpps(rows);
    if tpps.is_empty() {
        return String::new();
    }
    let mut o =
        String::from("| TPP | PSD2 roles | capabilities | endpoints |\n|---|---|---|---|\n");
    for t in &tpps {
        o.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            esc(&t.tpp),
            esc(&t.roles_text()),
            esc(&t
                .capabilities
                .iter()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")),
            t.endpoints
        ));
    }
    o
}
