//! Quiet findings: what is not a shadow endpoint, and how much evidence makes one.
//!
//! Peers' users drown in "shadow" endpoints that are nothing of the kind: CORS preflights
//! (`OPTIONS`) and `HEAD` requests on paths whose other methods are declared, scanners probing
//! paths that answer 404, one health check. So, by default:
//! - `OPTIONS` on a path with a declared operation is a preflight, not a shadow endpoint;
//! - `HEAD` on such a path is not either, and counts as use of the declared `GET` (RFC 9110
//!   9.3.2: HEAD is GET without the content), so that `GET` is not reported orphaned;
//! - a shadow endpoint is reported at its full severity only with evidence: enough exchanges,
//!   from enough distinct consumers or over enough time, and at least one 2xx/3xx answer (the
//!   endpoint exists and serves). Below that it is an `unconfirmed_endpoint` at low severity
//!   (info when nothing ever succeeded), saying what is missing ("3 exchanges, all 404:
//!   probing?").
//!
//! Every threshold is configurable (`[findings]` in the configuration file).

use crate::catalogue::Catalogue;
use crate::inventory::EndpointRecord;
use crate::observation::EndpointKey;
use serde::{Deserialize, Serialize};

/// `[findings]`: how traffic is judged before it becomes a shadow finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FindingPolicy {
    /// Report `OPTIONS` on a path with a declared operation as a shadow endpoint (default no:
    /// it is a CORS preflight).
    pub preflight_is_shadow: bool,
    /// Report `HEAD` on a path with a declared operation as a shadow endpoint (default no: it
    /// counts toward the declared `GET`).
    pub head_is_shadow: bool,
    /// Exchanges a shadow endpoint needs before it is confirmed.
    pub min_exchanges: u64,
    /// Distinct consumers that confirm it (either this or `min_spread_secs`).
    pub min_consumers: u64,
    /// Packet-time span, first to last exchange, that confirms it (either this or
    /// `min_consumers`).
    pub min_spread_secs: u64,
    /// At least one 2xx or 3xx response is needed to confirm it.
    pub require_success: bool,
    /// `[findings.openbanking]`: the open-banking lens (off by default).
    pub openbanking: crate::openbanking::ObSettings,
}

impl Default for FindingPolicy {
    fn default() -> Self {
        FindingPolicy {
            preflight_is_shadow: false,
            head_is_shadow: false,
            min_exchanges: 5,
            min_consumers: 2,
            min_spread_secs: 300,
            require_success: true,
            openbanking: crate::openbanking::ObSettings::default(),
        }
    }
}

impl FindingPolicy {
    /// Everything undeclared is a shadow endpoint at full severity (the behaviour before the
    /// policy existed): for tests and for users who want the raw shadow set.
    pub fn raw() -> Self {
        FindingPolicy {
            preflight_is_shadow: true,
            head_is_shadow: true,
            min_exchanges: 0,
            min_consumers: 0,
            min_spread_secs: 0,
            require_success: false,
            openbanking: crate::openbanking::ObSettings::default(),
        }
    }

    /// `None` when `rec` is evidence enough for a shadow endpoint, else why not (one line).
    pub fn unconfirmed_because(&self, rec: &EndpointRecord) -> Option<String> {
        let mut missing = Vec::new();
        if rec.exchanges < self.min_exchanges {
            missing.push(format!(
                "{} (fewer than {})",
                counted(rec.exchanges, "exchange"),
                self.min_exchanges
            ));
        }
        let consumers = rec.consumers.len() as u64;
        let spread = rec.last_seen.since(rec.first_seen).max(0) as u64 / 1_000_000;
        if consumers < self.min_consumers && spread < self.min_spread_secs {
            missing.push(format!(
                "{} over {spread} s (needs {} consumers or {} s)",
                counted(consumers, "consumer"),
                self.min_consumers,
                self.min_spread_secs
            ));
        }
        let success = rec.statuses.keys().any(|s| (200..400).contains(s));
        if self.require_success && !success {
            missing.push(no_success(rec));
        }
        (!missing.is_empty()).then(|| missing.join(", "))
    }
}

/// `all 404: probing?`, `no 2xx/3xx response (404 x2, 500 x1)`, `no response`.
fn no_success(rec: &EndpointRecord) -> String {
    let answered: u64 = rec.statuses.values().sum();
    if answered == 0 {
        return "no response at all".to_string();
    }
    if rec.statuses.len() == 1 {
        if let Some((status, _)) = rec.statuses.iter().next() {
            let hint = match status {
                404 | 405 | 410 => ": probing?",
                401 | 403 => ": refused",
                _ => "",
            };
            return format!("all {status}{hint}");
        }
    }
    let codes: Vec<String> = rec
        .statuses
        .iter()
        .map(|(s, n)| format!("{s} x{n}"))
        .collect();
    format!("no 2xx/3xx response ({})", codes.join(", "))
}

fn counted(n: u64, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

/// Why an undeclared endpoint is not a shadow endpoint at all, if it is not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quiet {
    /// `OPTIONS` on a declared path: a CORS preflight.
    Preflight,
    /// `HEAD` on a declared path; `Some(i)`: the index of the declared `GET` it counts toward.
    Head(Option<usize>),
}

/// Methods checked when asking whether a path has any declared operation.
const METHODS: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

/// Whether `key` (undeclared) is a preflight or HEAD the policy keeps quiet.
pub fn quiet(policy: &FindingPolicy, catalogue: &Catalogue, key: &EndpointKey) -> Option<Quiet> {
    let declared_path = || {
        METHODS
            .iter()
            .any(|m| catalogue.find_operation(&key.host, m, &key.path).is_some())
    };
    match key.method.as_str() {
        "OPTIONS" if !policy.preflight_is_shadow && declared_path() => Some(Quiet::Preflight),
        "HEAD" if !policy.head_is_shadow => {
            let get = catalogue.find_operation(&key.host, "GET", &key.path);
            match get {
                Some(op) => {
                    let index = catalogue
                        .operations
                        .iter()
                        .position(|o| std::ptr::eq(o, op));
                    Some(Quiet::Head(index))
                }
                None if declared_path() => Some(Quiet::Head(None)),
                None => None,
            }
        }
        _ => None,
    }
}

/// Undeclared endpoints kept quiet, by reason: they appear in the endpoint list, not as
/// findings; the report counts them (`findings.quiet_*` counters).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QuietCounts {
    pub preflight: u64,
    pub head: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::{diff_with, Diff};
    use crate::finding::{FindingKind, Severity};
    use crate::inventory::{Inventory, InventoryLimits};
    use crate::observation::{Consumer, Observation};
    use crate::time::Timestamp;

    fn catalogue() -> Catalogue {
        let mut c = Catalogue::default();
        c.add_document(
            "api.yaml",
            "openapi: 3.0.3\ninfo: {title: t, version: '1'}\n\
             servers: [{url: 'https://api.bank'}]\n\
             paths:\n  /accounts:\n    get:\n      responses: {'200': {description: ok}}\n\
             \x20 /orders:\n    post:\n      responses: {'201': {description: ok}}\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        c
    }

    /// `n` exchanges of `method path`, `secs` apart, from `consumers` addresses in turn.
    fn traffic(
        inv: &mut Inventory,
        method: &str,
        path: &str,
        n: i64,
        secs: i64,
        status: u16,
        consumers: i64,
    ) {
        for i in 0..n {
            inv.add(&Observation {
                status: Some(status),
                ..Observation::bare(
                    Timestamp(1_000_000 + i * secs * 1_000_000),
                    EndpointKey {
                        host: "api.bank".into(),
                        method: method.into(),
                        path: path.into(),
                    },
                    Consumer {
                        address: format!("10.0.0.{}", i % consumers.max(1)),
                        credential: None,
                    },
                )
            });
        }
    }

    fn run(inv: &Inventory, policy: &FindingPolicy) -> Diff {
        diff_with(inv, &catalogue(), &|_| Severity::Medium, policy)
    }

    fn kinds(d: &Diff, path: &str) -> Vec<(FindingKind, String)> {
        d.findings
            .iter()
            .filter(|f| f.path.as_deref() == Some(path))
            .map(|f| (f.kind, f.method.clone().unwrap_or_default()))
            .collect()
    }

    #[test]
    fn preflights_and_head_on_declared_paths_are_quiet_and_head_counts_toward_get() {
        let mut inv = Inventory::new(InventoryLimits::default());
        traffic(&mut inv, "OPTIONS", "/accounts", 20, 60, 204, 3);
        traffic(&mut inv, "OPTIONS", "/orders", 20, 60, 204, 3);
        traffic(&mut inv, "HEAD", "/accounts", 20, 60, 200, 3);
        traffic(&mut inv, "HEAD", "/orders", 20, 60, 200, 3);
        // OPTIONS on a path nothing declares is not a preflight of anything declared.
        traffic(&mut inv, "OPTIONS", "/elsewhere", 20, 60, 204, 3);
        let d = run(&inv, &FindingPolicy::default());
        assert_eq!(
            d.quiet,
            QuietCounts {
                preflight: 2,
                head: 2
            }
        );
        assert!(kinds(&d, "/accounts").is_empty(), "{:?}", d.findings);
        // Only HEAD was seen on /accounts: its GET is in use, not orphaned. POST /orders is.
        assert!(kinds(&d, "/orders").contains(&(FindingKind::Orphaned, "POST".into())));
        assert_eq!(
            kinds(&d, "/elsewhere"),
            vec![(FindingKind::ShadowEndpoint, "OPTIONS".into())]
        );

        // Configured back on: they are shadow endpoints again, and GET /accounts is orphaned.
        let loud = FindingPolicy {
            preflight_is_shadow: true,
            head_is_shadow: true,
            ..FindingPolicy::default()
        };
        let d = run(&inv, &loud);
        assert_eq!(d.quiet, QuietCounts::default());
        let accounts = kinds(&d, "/accounts");
        assert!(accounts.contains(&(FindingKind::ShadowEndpoint, "OPTIONS".into())));
        assert!(accounts.contains(&(FindingKind::ShadowEndpoint, "HEAD".into())));
        assert!(accounts.contains(&(FindingKind::Orphaned, "GET".into())));
    }

    #[test]
    fn a_shadow_endpoint_needs_evidence_else_it_is_unconfirmed_and_says_why() {
        let mut inv = Inventory::new(InventoryLimits::default());
        // A scanner: 3 exchanges in 2 seconds, all 404.
        traffic(&mut inv, "GET", "/actuator/env", 3, 1, 404, 1);
        // Served, but one consumer for a minute only.
        traffic(&mut inv, "GET", "/brief", 10, 6, 200, 1);
        // Served, one consumer, over ten minutes: confirmed by time.
        traffic(&mut inv, "GET", "/steady", 10, 60, 200, 1);
        // Served, three consumers within seconds: confirmed by consumers.
        traffic(&mut inv, "GET", "/shared", 6, 1, 200, 3);
        let d = run(&inv, &FindingPolicy::default());
        let find = |path: &str| {
            d.findings
                .iter()
                .find(|f| f.path.as_deref() == Some(path))
                .unwrap_or_else(|| panic!("no finding for {path}: {:?}", d.findings))
        };
        let probe = find("/actuator/env");
        assert_eq!(probe.kind, FindingKind::UnconfirmedEndpoint);
        assert_eq!(probe.severity, Severity::Info);
        assert!(
            probe.detail.contains("3 exchanges (fewer than 5)"),
            "{}",
            probe.detail
        );
        assert!(
            probe.detail.contains("all 404: probing?"),
            "{}",
            probe.detail
        );
        assert!(
            probe.severity_reason.contains("medium if confirmed"),
            "{}",
            probe.severity_reason
        );
        let brief = find("/brief");
        assert_eq!(brief.kind, FindingKind::UnconfirmedEndpoint);
        assert_eq!(brief.severity, Severity::Low);
        assert!(
            brief.detail.contains("1 consumer over 54 s"),
            "{}",
            brief.detail
        );
        assert_eq!(find("/steady").kind, FindingKind::ShadowEndpoint);
        assert_eq!(find("/shared").kind, FindingKind::ShadowEndpoint);
        assert_eq!(find("/steady").severity, Severity::Medium);

        // The raw policy reports every undeclared endpoint as a shadow endpoint.
        let raw = run(&inv, &FindingPolicy::raw());
        assert!(raw
            .findings
            .iter()
            .filter(
                |f| f.path.as_deref() != Some("/accounts") && f.path.as_deref() != Some("/orders")
            )
            .all(|f| f.kind == FindingKind::ShadowEndpoint));
    }

    #[test]
    fn the_policy_reads_from_toml_and_refuses_unknown_keys() {
        let p: FindingPolicy = toml::from_str("min_exchanges = 2\npreflight_is_shadow = true\n")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.min_exchanges, 2);
        assert!(p.preflight_is_shadow && !p.head_is_shadow);
        assert_eq!(p.min_spread_secs, FindingPolicy::default().min_spread_secs);
        assert!(toml::from_str::<FindingPolicy>("min_exchange = 2\n").is_err());
    }
}
