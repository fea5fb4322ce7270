//! What the lens keeps per endpoint: the TPPs that called it (labels, roles, certificate
//! fingerprints, validity counts), the FAPI posture counts, and consents by keyed fingerprint.
//! Mergeable like the rest of the inventory (sums, unions; every map capped, the rest counted
//! in `overflow`).

use super::behaviour::Behaviour;
use crate::inventory::bump;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// TPPs per endpoint.
pub const MAX_TPPS: usize = 256;
/// OAuth clients and certificates listed per TPP.
pub const MAX_CLIENTS: usize = 32;
pub const MAX_CERTIFICATES: usize = 16;
/// Consents per endpoint.
pub const MAX_CONSENTS: usize = 4096;

/// One TPP on one endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TppStat {
    pub exchanges: u64,
    /// A certificate with the PSD2 QCStatement was presented.
    pub psd2: bool,
    /// PSD2 roles of the presented certificates.
    pub roles: BTreeSet<String>,
    /// `name (id)` of the competent authority.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nca: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organisation: Option<String>,
    /// Consumer ids (OAuth clients, credential fingerprints) that came with the TPP's
    /// certificate -> exchanges.
    pub clients: BTreeMap<String, u64>,
    /// Keyed fingerprints of the certificates presented (`cert:...`).
    pub certificates: BTreeSet<String>,
    /// Exchanges whose certificate was expired, or not yet valid, at packet time.
    pub expired: u64,
    pub not_yet_valid: u64,
}

/// FAPI posture counts of one endpoint, over the exchanges the lens saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FapiStats {
    pub exchanges: u64,
    pub interaction_id_missing: u64,
    pub interaction_id_invalid: u64,
    /// Valid interaction id, answered by a response that did not carry it back.
    pub interaction_id_not_echoed: u64,
    /// Requests with `x-jws-signature`.
    pub signed: u64,
    /// Bearer tokens readable as JWTs, and of those the ones without `cnf`.
    pub bearer_jwt: u64,
    pub bearer_unbound: u64,
    /// Bound tokens whose `x5t#S256` matched / did not match the presented certificate.
    pub binding_match: u64,
    pub binding_mismatch: u64,
    /// Requests with no consent reference (`Consent-ID`, token claim).
    pub without_consent: u64,
}

impl FapiStats {
    pub fn is_empty(&self) -> bool {
        *self == FapiStats::default()
    }

    fn merge(&mut self, o: &FapiStats) {
        let pairs = [
            (&mut self.exchanges, o.exchanges),
            (&mut self.interaction_id_missing, o.interaction_id_missing),
            (&mut self.interaction_id_invalid, o.interaction_id_invalid),
            (
                &mut self.interaction_id_not_echoed,
                o.interaction_id_not_echoed,
            ),
            (&mut self.signed, o.signed),
            (&mut self.bearer_jwt, o.bearer_jwt),
            (&mut self.bearer_unbound, o.bearer_unbound),
            (&mut self.binding_match, o.binding_match),
            (&mut self.binding_mismatch, o.binding_mismatch),
            (&mut self.without_consent, o.without_consent),
        ];
        for (mine, theirs) in pairs {
            *mine = mine.saturating_add(theirs);
        }
    }
}

/// Who created and who used one consent (by keyed fingerprint) on one endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConsentStat {
    #[serde(skip_serializing_if = "BTreeSet::is_empty")]
    pub created_by: BTreeSet<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub used_by: BTreeMap<String, u64>,
}

/// The lens's record of one endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ObRecord {
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub tpps: BTreeMap<String, TppStat>,
    #[serde(skip_serializing_if = "FapiStats::is_empty")]
    pub fapi: FapiStats,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub consents: BTreeMap<String, ConsentStat>,
    /// TPPs, clients, certificates or consents that did not fit.
    #[serde(skip_serializing_if = "is_zero")]
    pub overflow: u64,
    /// First and last exchange the lens saw (packet time).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_seen: Option<Timestamp>,
    /// Each consumer's activity by time bucket, for `consumer_anomaly` (anomaly checks on).
    #[serde(skip_serializing_if = "Behaviour::is_empty")]
    pub behaviour: Behaviour,
}

/// The smaller of two optional labels (deterministic under merge).
fn min_opt(a: Option<String>, b: Option<String>) -> Option<String> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Insert into a capped set; 1 when it did not fit.
fn insert_capped(set: &mut BTreeSet<String>, v: &str, cap: usize) -> u64 {
    if set.contains(v) {
        0
    } else if set.len() < cap {
        set.insert(v.to_string());
        0
    } else {
        1
    }
}

impl TppStat {
    fn merge(&mut self, o: &TppStat) -> u64 {
        self.exchanges = self.exchanges.saturating_add(o.exchanges);
        self.psd2 |= o.psd2;
        // Roles are a closed set of four names (`cert::ROLES`).
        self.roles.extend(o.roles.iter().cloned());
        self.nca = min_opt(self.nca.take(), o.nca.clone());
        self.organisation = min_opt(self.organisation.take(), o.organisation.clone());
        self.expired = self.expired.saturating_add(o.expired);
        self.not_yet_valid = self.not_yet_valid.saturating_add(o.not_yet_valid);
        let mut overflow = 0;
        for (c, n) in &o.clients {
            overflow += bump(&mut self.clients, c, *n, MAX_CLIENTS);
        }
        for c in &o.certificates {
            overflow += insert_capped(&mut self.certificates, c, MAX_CERTIFICATES);
        }
        overflow
    }
}

impl ObRecord {
    /// Fold `other` in (commutative and associative).
    pub fn merge(&mut self, other: &ObRecord) {
        let mut overflow = other.overflow;
        for (tpp, stat) in &other.tpps {
            if let Some(mine) = self.tpps.get_mut(tpp) {
                overflow += mine.merge(stat);
            } else if self.tpps.len() < MAX_TPPS {
                self.tpps.insert(tpp.clone(), stat.clone());
            } else {
                overflow += 1;
            }
        }
        self.fapi.merge(&other.fapi);
        for (id, stat) in &other.consents {
            if !self.consents.contains_key(id) && self.consents.len() >= MAX_CONSENTS {
                overflow += 1;
                continue;
            }
            let mine = self.consents.entry(id.clone()).or_default();
            for c in &stat.created_by {
                overflow += insert_capped(&mut mine.created_by, c, MAX_CLIENTS);
            }
            for (u, n) in &stat.used_by {
                overflow += bump(&mut mine.used_by, u, *n, MAX_CLIENTS);
            }
        }
        self.behaviour.merge(&other.behaviour);
        self.first_seen = match (self.first_seen, other.first_seen) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.overflow = self.overflow.saturating_add(overflow);
    }

    /// Each TPP that called the endpoint with its PSD2 roles: the identity every output shows.
    pub fn tpp_roles(&self) -> BTreeMap<String, Vec<String>> {
        self.tpps
            .iter()
            .map(|(t, s)| (t.clone(), s.roles.iter().cloned().collect()))
            .collect()
    }

    /// The TPP entry for `tpp`, created when it fits (`None` counts an overflow).
    pub fn tpp(&mut self, tpp: &str) -> Option<&mut TppStat> {
        if !self.tpps.contains_key(tpp) {
            if self.tpps.len() >= MAX_TPPS {
                self.overflow += 1;
                return None;
            }
            self.tpps.insert(tpp.to_string(), TppStat::default());
        }
        self.tpps.get_mut(tpp)
    }

    /// Record a consent use (or creation) by `actor`.
    pub fn consent(&mut self, id: &str, actor: &str, created: bool) {
        if !self.consents.contains_key(id) && self.consents.len() >= MAX_CONSENTS {
            self.overflow += 1;
            return;
        }
        let stat = self.consents.entry(id.to_string()).or_default();
        self.overflow += if created {
            insert_capped(&mut stat.created_by, actor, MAX_CLIENTS)
        } else {
            bump(&mut stat.used_by, actor, 1, MAX_CLIENTS)
        };
    }

    /// Add a client id under a TPP, capped.
    pub fn client(&mut self, tpp: &str, client: &str) {
        let mut overflow = 0;
        if let Some(stat) = self.tpps.get_mut(tpp) {
            overflow = bump(&mut stat.clients, client, 1, MAX_CLIENTS);
        }
        self.overflow += overflow;
    }

    /// Add a certificate fingerprint under a TPP, capped.
    pub fn certificate(&mut self, tpp: &str, fingerprint: &str) {
        let mut overflow = 0;
        if let Some(stat) = self.tpps.get_mut(tpp) {
            overflow = insert_capped(&mut stat.certificates, fingerprint, MAX_CERTIFICATES);
        }
        self.overflow += overflow;
    }
}
