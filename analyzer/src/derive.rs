//! What a merged inventory means: the one step `scan` and the collector both run, so the
//! fleet's report equals the offline one for the same traffic.
//!
//! Input: the HTTP [`Inventory`] and the [`TlsInventory`] of everything counted (one process's,
//! or every agent's batches merged: both are commutative sums). Output: the inventory after
//! cardinality learning (it needs every sibling at once, so it runs on the merged whole, never
//! per batch), every finding (HTTP diff plus TLS `shadow_host`) in diff order, and the counters
//! the report's summary shows for these steps.

use crate::catalogue::Catalogue;
use crate::diff::{diff_with, sort_findings, ClassSeverity, FindingPolicy};
use crate::finding::Finding;
use crate::inventory::Inventory;
use crate::template::TemplateConfig;
use crate::tls::{tls_findings, TlsInventory};
use std::collections::BTreeMap;

/// The result of [`derive`].
#[derive(Debug, Clone, Default)]
pub struct Derived {
    /// The inventory with learned high-cardinality positions collapsed.
    pub inventory: Inventory,
    pub tls: TlsInventory,
    /// Sorted: severity (highest first), kind, host, method, path.
    pub findings: Vec<Finding>,
    /// `tls.hosts_dropped`, `tls.names_dropped`, the `templating.*` counters and what the
    /// finding policy kept quiet (`findings.quiet_*`).
    pub counters: BTreeMap<String, u64>,
}

/// Collapse, diff against `catalogue` under `policy`, and add the TLS hosts' findings.
pub fn derive(
    mut inventory: Inventory,
    tls: TlsInventory,
    catalogue: &Catalogue,
    templating: &TemplateConfig,
    policy: &FindingPolicy,
    class_severity: ClassSeverity<'_>,
) -> Derived {
    let mut counters = BTreeMap::from([
        ("tls.hosts_dropped".to_string(), tls.dropped_hosts),
        ("tls.names_dropped".to_string(), tls.dropped_names()),
    ]);
    let collapsed = crate::cardinality::collapse(&mut inventory, templating);
    counters.extend(collapsed.counters());
    let diffed = diff_with(&inventory, catalogue, class_severity, policy);
    counters.extend(diffed.quiet.counters());
    let mut findings = diffed.findings;
    findings.extend(tls_findings(&tls, &inventory, catalogue));
    if policy.openbanking.enabled {
        findings.extend(crate::openbanking::findings::findings(
            &inventory,
            &tls,
            &policy.openbanking,
        ));
    }
    sort_findings(&mut findings);
    Derived {
        inventory,
        tls,
        findings,
        counters,
    }
}
