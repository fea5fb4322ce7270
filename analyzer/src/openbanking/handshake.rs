//! TPPs named by the client certificate of a TLS 1.2 handshake (mutual TLS without a
//! terminating proxy in front): the agent reads the client's Certificate message, which TLS 1.2
//! sends in clear after the server's CertificateRequest, and hands the leaf's DER here. Only
//! labels leave: the TPP, its PSD2 roles and competent authority, the validity window, and
//! whether the certificate was valid at the ClientHello's packet time.
//!
//! The TLS inventory keeps these per server host ([`TlsTppStat`]); with the lens on,
//! [`super::findings`] raises `tpp_certificate_invalid` for them as for forwarded certificates.

use super::cert::TppCert;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// What one handshake's client certificate says about its TPP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandshakeTpp {
    /// `tpp:<organisation id>` (else `tpp:<O>`).
    pub tpp: String,
    /// The certificate carries the PSD2 QCStatement.
    pub psd2: bool,
    pub roles: BTreeSet<String>,
    /// `name (id)` of the competent authority.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nca: Option<String>,
    /// Validity, seconds since the Unix epoch.
    pub not_before: i64,
    pub not_after: i64,
}

impl HandshakeTpp {
    /// The TPP of an eIDAS certificate: one with the PSD2 QCStatement or an organisation
    /// identifier. An ordinary client certificate names no TPP (`None`), nor does one that is
    /// not DER or is larger than [`super::cert::MAX_CERT_BYTES`].
    pub fn from_der(der: &[u8]) -> Option<HandshakeTpp> {
        let cert = TppCert::parse(der)?;
        if !cert.psd2 && cert.organisation_id.is_none() {
            return None;
        }
        Some(HandshakeTpp {
            tpp: cert.tpp_label()?,
            psd2: cert.psd2,
            nca: match (&cert.nca_name, &cert.nca_id) {
                (Some(n), Some(i)) => Some(format!("{n} ({i})")),
                (n, i) => n.clone().or_else(|| i.clone()),
            },
            roles: cert.roles,
            not_before: cert.not_before,
            not_after: cert.not_after,
        })
    }
}

/// One TPP on one TLS server host: connections, roles, validity window seen, and the
/// connections whose certificate was outside its validity at packet time. Mergeable.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TlsTppStat {
    pub connections: u64,
    pub psd2: bool,
    pub roles: BTreeSet<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nca: Option<String>,
    /// Earliest `notBefore` and latest `notAfter` of the certificates presented.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valid_from: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<Timestamp>,
    pub expired: u64,
    pub not_yet_valid: u64,
}

impl TlsTppStat {
    /// One connection at packet time `ts`.
    pub fn of(t: &HandshakeTpp, ts: Timestamp) -> TlsTppStat {
        let secs = ts.micros().div_euclid(Timestamp::MICROS_PER_SEC);
        TlsTppStat {
            connections: 1,
            psd2: t.psd2,
            roles: t.roles.clone(),
            nca: t.nca.clone(),
            valid_from: Some(Timestamp::from_secs_micros(t.not_before, 0)),
            valid_until: Some(Timestamp::from_secs_micros(t.not_after, 0)),
            expired: u64::from(secs > t.not_after),
            not_yet_valid: u64::from(secs < t.not_before),
        }
    }

    /// Fold `o` in (commutative and associative).
    pub fn merge(&mut self, o: &TlsTppStat) {
        self.connections = self.connections.saturating_add(o.connections);
        self.psd2 |= o.psd2;
        // Roles are a closed set of four names (`cert::ROLES`).
        self.roles.extend(o.roles.iter().cloned());
        self.nca = match (self.nca.take(), o.nca.clone()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.valid_from = match (self.valid_from, o.valid_from) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.valid_until = match (self.valid_until, o.valid_until) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        self.expired = self.expired.saturating_add(o.expired);
        self.not_yet_valid = self.not_yet_valid.saturating_add(o.not_yet_valid);
    }
}
