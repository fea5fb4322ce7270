//! TLS metadata of encrypted connections, as an inventory of hosts (pure).
//!
//! The agent reads a connection's ClientHello (SNI, ALPN, a JA4-style fingerprint) and, when
//! TLS 1.2 sends them in clear, the certificate subjects of the server and of the client (mTLS:
//! open-banking consumers are identified by their certificate). Each connection becomes one
//! [`TlsObservation`]; a [`TlsInventory`] folds them by SNI, mergeable like the HTTP
//! [`Inventory`] (commutative sums, set unions, min/max times), bounded by [`TlsLimits`] with
//! counters of what the caps dropped.
//!
//! [`tls_findings`] makes encrypted hosts count for `shadow_host`: an SNI no catalogue server
//! covers is a shadow host, unless the HTTP inventory already has that host (the HTTP-level
//! finding then covers it, with endpoints as evidence).
//!
//! Not here: decryption, certificate validation, anything about the bytes after the handshake.

use crate::catalogue::Catalogue;
use crate::finding::{finding_id, Evidence, Finding, FindingKind, Severity};
use crate::inventory::Inventory;
use crate::openbanking::handshake::{HandshakeTpp, TlsTppStat};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// What one TLS connection showed in clear.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsObservation {
    /// Timestamp of the ClientHello packet.
    pub ts: Timestamp,
    /// server_name (RFC 6066 section 3), lowercased; `None` when the client sent none.
    pub sni: Option<String>,
    /// application_layer_protocol_negotiation offers (RFC 7301), in client order.
    pub alpn: Vec<String>,
    /// JA4-style fingerprint of the ClientHello.
    pub ja4: String,
    /// Subject of the server's end-entity certificate (TLS 1.2 only; 1.3 encrypts it).
    pub server_cert_subject: Option<String>,
    /// Subject of the client's certificate (mTLS, TLS 1.2 only).
    pub client_cert_subject: Option<String>,
    /// The consumer: a keyed fingerprint or address the caller chose (never a raw secret).
    pub consumer: String,
    /// The protocol the server chose by ALPN (TLS 1.2 ServerHello; 1.3 encrypts it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_alpn: Option<String>,
}

/// Caps of a [`TlsInventory`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsLimits {
    /// Distinct SNI hosts kept.
    pub max_hosts: usize,
    /// Per host: distinct ALPN values, JA4s, certificate subjects and consumers each.
    pub max_names: usize,
}

impl Default for TlsLimits {
    fn default() -> Self {
        TlsLimits {
            max_hosts: 16_384,
            max_names: 256,
        }
    }
}

/// One SNI host.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsHostRecord {
    pub connections: u64,
    pub alpn: BTreeSet<String>,
    pub ja4: BTreeSet<String>,
    pub server_cert_subjects: BTreeSet<String>,
    pub client_cert_subjects: BTreeSet<String>,
    /// Consumer -> connections.
    pub consumers: BTreeMap<String, u64>,
    pub first_seen: Option<Timestamp>,
    pub last_seen: Option<Timestamp>,
    /// Names not recorded because a per-host set was full.
    pub dropped_names: u64,
    /// Connections whose server chose `h2` by ALPN: the host speaks HTTP/2.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub http2: u64,
    /// TPPs named by the clients' TLS 1.2 certificates (eIDAS, open banking), by label.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tpps: BTreeMap<String, TlsTppStat>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn insert_capped(set: &mut BTreeSet<String>, v: &str, cap: usize, dropped: &mut u64) {
    if set.contains(v) {
        return;
    }
    if set.len() >= cap {
        *dropped += 1;
        return;
    }
    set.insert(v.to_string());
}

impl TlsHostRecord {
    /// Fold `o` in, keeping at most `cap` names per set (the rest counted in `dropped_names`).
    pub fn merge(&mut self, o: &TlsHostRecord, cap: usize) {
        self.connections = self.connections.saturating_add(o.connections);
        self.http2 = self.http2.saturating_add(o.http2);
        let mut dropped = 0;
        for (mine, theirs) in [
            (&mut self.alpn, &o.alpn),
            (&mut self.ja4, &o.ja4),
            (&mut self.server_cert_subjects, &o.server_cert_subjects),
            (&mut self.client_cert_subjects, &o.client_cert_subjects),
        ] {
            for v in theirs {
                insert_capped(mine, v, cap, &mut dropped);
            }
        }
        for (t, stat) in &o.tpps {
            let room = self.tpps.len() < cap;
            match self.tpps.get_mut(t) {
                Some(mine) => mine.merge(stat),
                None if room => {
                    self.tpps.insert(t.clone(), stat.clone());
                }
                None => dropped += 1,
            }
        }
        for (c, n) in &o.consumers {
            let room = self.consumers.len() < cap;
            match self.consumers.get_mut(c) {
                Some(v) => *v = v.saturating_add(*n),
                None if room => {
                    self.consumers.insert(c.clone(), *n);
                }
                None => dropped += 1,
            }
        }
        self.dropped_names = self
            .dropped_names
            .saturating_add(o.dropped_names)
            .saturating_add(dropped);
        self.first_seen = match (self.first_seen, o.first_seen) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.last_seen = match (self.last_seen, o.last_seen) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }
}

/// TLS hosts keyed by SNI; connections without SNI are only counted.
///
/// Its serde form (hosts and counts, never the limits: the receiver applies its own) is what
/// agent batches carry ([`crate::wire::InventoryDoc::tls`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsInventory {
    #[serde(skip)]
    pub limits: TlsLimits,
    #[serde(default)]
    pub hosts: BTreeMap<String, TlsHostRecord>,
    /// ClientHellos without server_name.
    #[serde(default)]
    pub without_sni: u64,
    /// Observations not recorded because `max_hosts` was reached.
    #[serde(default)]
    pub dropped_hosts: u64,
}

impl TlsInventory {
    pub fn new(limits: TlsLimits) -> Self {
        TlsInventory {
            limits,
            ..TlsInventory::default()
        }
    }

    pub fn add(&mut self, obs: &TlsObservation) {
        let Some(sni) = obs.sni.as_deref() else {
            self.without_sni += 1;
            return;
        };
        let mut one = TlsHostRecord {
            connections: 1,
            http2: u64::from(obs.server_alpn.as_deref() == Some("h2")),
            first_seen: Some(obs.ts),
            last_seen: Some(obs.ts),
            ..TlsHostRecord::default()
        };
        one.alpn.extend(obs.alpn.iter().cloned());
        one.ja4.insert(obs.ja4.clone());
        one.server_cert_subjects
            .extend(obs.server_cert_subject.iter().cloned());
        one.client_cert_subjects
            .extend(obs.client_cert_subject.iter().cloned());
        one.consumers.insert(obs.consumer.clone(), 1);
        let mut single = TlsInventory::new(self.limits);
        single.hosts.insert(sni.to_ascii_lowercase(), one);
        self.merge(&single);
    }

    /// The TPP the client certificate of `obs`'s connection named (after [`Self::add`] of the
    /// same observation): kept on its SNI host, capped like the host's other names.
    pub fn add_tpp(&mut self, obs: &TlsObservation, tpp: &HandshakeTpp) {
        let Some(sni) = obs.sni.as_deref() else {
            return;
        };
        let one = TlsHostRecord {
            tpps: BTreeMap::from([(tpp.tpp.clone(), TlsTppStat::of(tpp, obs.ts))]),
            ..TlsHostRecord::default()
        };
        let mut single = TlsInventory::new(self.limits);
        single.hosts.insert(sni.to_ascii_lowercase(), one);
        self.merge(&single);
    }

    /// Fold another inventory in (order-independent).
    pub fn merge(&mut self, other: &TlsInventory) {
        // Saturating: merged counts come from agents' batches (validated, but summed).
        self.without_sni = self.without_sni.saturating_add(other.without_sni);
        self.dropped_hosts = self.dropped_hosts.saturating_add(other.dropped_hosts);
        let cap = self.limits.max_names;
        for (host, rec) in &other.hosts {
            let room = self.hosts.len() < self.limits.max_hosts;
            match self.hosts.get_mut(host) {
                Some(mine) => mine.merge(rec, cap),
                None if room => {
                    let mut fresh = TlsHostRecord::default();
                    fresh.merge(rec, cap);
                    self.hosts.insert(host.clone(), fresh);
                }
                None => self.dropped_hosts = self.dropped_hosts.saturating_add(rec.connections),
            }
        }
    }

    /// Nothing seen (no host, no count).
    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty() && self.without_sni == 0 && self.dropped_hosts == 0
    }

    /// Names dropped by the per-host caps, over every host.
    pub fn dropped_names(&self) -> u64 {
        self.hosts.values().map(|h| h.dropped_names).sum()
    }

    /// TLS connections recorded (with SNI).
    pub fn connections(&self) -> u64 {
        self.hosts.values().map(|h| h.connections).sum()
    }
}

/// `shadow_host` findings for SNI hosts that no catalogue server covers and that the HTTP
/// inventory does not already hold (its own shadow_host finding covers those).
pub fn tls_findings(
    tls: &TlsInventory,
    http_hosts: &Inventory,
    catalogue: &Catalogue,
) -> Vec<Finding> {
    let http: BTreeSet<String> = http_hosts
        .endpoints
        .keys()
        .map(|k| host_only(&k.host))
        .collect();
    tls.hosts
        .iter()
        .filter(|(host, _)| !catalogue.covers_host(host) && !http.contains(&host_only(host)))
        .map(|(host, rec)| {
            let evidence = Evidence {
                exchanges: Some(rec.connections),
                consumers: Some(rec.consumers.len() as u64),
                first_seen: rec.first_seen.map(Timestamp::rfc3339),
                last_seen: rec.last_seen.map(Timestamp::rfc3339),
                endpoints: rec.alpn.iter().map(|a| format!("alpn {a}")).collect(),
                ..Evidence::default()
            };
            let mtls = !rec.client_cert_subjects.is_empty();
            Finding {
                id: finding_id(FindingKind::ShadowHost, host, None, None, ""),
                kind: FindingKind::ShadowHost,
                severity: Severity::Medium,
                host: host.clone(),
                method: None,
                path: None,
                operation_id: None,
                detail: format!(
                    "TLS host {host} ({} connections{}) and no catalogue server covers it",
                    rec.connections,
                    if mtls { ", mutual TLS" } else { "" }
                ),
                severity_reason: "undeclared API host reached over TLS (content not visible)"
                    .to_string(),
                // Only the handshake was seen: the host is certain, what it serves is not.
                confidence: 1.0,
                evidence,
            }
        })
        .collect()
}

/// Host without a port, lowercased.
fn host_only(h: &str) -> String {
    let h = h.to_ascii_lowercase();
    match h.rsplit_once(':') {
        Some((name, port))
            if !name.is_empty()
                && port.bytes().all(|b| b.is_ascii_digit())
                && !h.ends_with(']') =>
        {
            name.to_string()
        }
        _ => h,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(sni: &str, ts: i64, consumer: &str) -> TlsObservation {
        TlsObservation {
            ts: Timestamp(ts),
            sni: Some(sni.to_string()),
            alpn: vec!["h2".into(), "http/1.1".into()],
            ja4: "t13d1516h2_8daaf6152771_e5627efa2ab1".into(),
            server_cert_subject: Some("CN=api.example".into()),
            client_cert_subject: None,
            consumer: consumer.into(),
            server_alpn: None,
        }
    }

    #[test]
    fn merge_is_order_independent_and_counts() {
        let (a, b, c) = (
            obs("A.example", 5, "x"),
            obs("a.example", 1, "y"),
            obs("b.example", 3, "x"),
        );
        let mut one = TlsInventory::default();
        for o in [&a, &b, &c] {
            one.add(o);
        }
        let mut two = TlsInventory::default();
        for o in [&c, &b, &a] {
            two.add(o);
        }
        assert_eq!(one, two);
        let rec = &one.hosts["a.example"];
        assert_eq!(rec.connections, 2);
        assert_eq!(
            (rec.first_seen, rec.last_seen),
            (Some(Timestamp(1)), Some(Timestamp(5)))
        );
        assert_eq!(rec.consumers.len(), 2);
    }

    #[test]
    fn caps_hold_and_count() {
        let mut inv = TlsInventory::new(TlsLimits {
            max_hosts: 2,
            max_names: 1,
        });
        for (i, h) in ["a", "b", "c", "d"].iter().enumerate() {
            inv.add(&obs(h, i as i64, &format!("c{i}")));
        }
        inv.add(&obs("a", 9, "other"));
        assert_eq!(inv.hosts.len(), 2);
        assert_eq!(inv.dropped_hosts, 2);
        assert_eq!(inv.hosts["a"].consumers.len(), 1);
        assert!(inv.hosts["a"].dropped_names >= 1);
    }

    #[test]
    fn findings_skip_covered_and_http_hosts() {
        let mut inv = TlsInventory::default();
        inv.add(&obs("hidden.example", 1, "x"));
        let catalogue = Catalogue::default();
        let f = tls_findings(&inv, &Inventory::default(), &catalogue);
        // An empty catalogue covers nothing.
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].kind, FindingKind::ShadowHost);
        assert_eq!(f[0].host, "hidden.example");
        assert_eq!(host_only("Hidden.Example:443"), "hidden.example");
    }
}
