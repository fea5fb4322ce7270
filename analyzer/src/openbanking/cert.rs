//! eIDAS QWAC / QSealC certificates as open banking uses them to name a TPP (third-party
//! provider): the organisation identifier (ETSI EN 319 412-1 5.1.4, attribute 2.5.4.97, e.g.
//! `PSDGB-FCA-123456`), the PSD2 QCStatement (ETSI TS 119 495 5.1: roles of the PSP, the name
//! and id of the competent authority) inside the qcStatements extension (RFC 3739
//! 1.3.6.1.5.5.7.1.3), the validity period and the SHA-256 thumbprint (RFC 8705
//! `x5t#S256`, compared with sender-constrained tokens).
//!
//! Only labels fit for a report leave this module ([`crate::consumer::safe_label`]); the
//! certificate itself is parsed in memory and dropped. Not here: chain or signature checks (a
//! passive sensor has no trust anchors to check against; what it reports is what was presented).

use super::der;
use crate::consumer::{safe_label, MAX_LABEL};
use std::collections::BTreeSet;

/// Largest certificate parsed (bytes of DER).
pub const MAX_CERT_BYTES: usize = 16 * 1024;

/// id-pe-qcStatements (RFC 3739 3.2.6).
const QC_STATEMENTS: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 1, 3];
/// id-etsi-psd2-qcStatement (ETSI TS 119 495 5.1).
const PSD2_STATEMENT: &[u64] = &[0, 4, 0, 19495, 2];
/// id-psd2-role-psp-as .. -ic (ETSI TS 119 495 5.1), in arc order 1..=4.
pub const ROLES: [&str; 4] = ["PSP_AS", "PSP_PI", "PSP_AI", "PSP_IC"];
/// organizationIdentifier (X.520).
const ORGANISATION_IDENTIFIER: &str = "2.5.4.97";

/// What a TPP certificate says, as labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TppCert {
    /// `PSDGB-FCA-123456`, when present and fit to show.
    pub organisation_id: Option<String>,
    /// The subject's O attribute, when fit to show.
    pub organisation: Option<String>,
    /// The certificate carries the PSD2 QCStatement.
    pub psd2: bool,
    /// PSD2 roles named by the statement (`PSP_AS`, `PSP_PI`, `PSP_AI`, `PSP_IC`).
    pub roles: BTreeSet<String>,
    /// Competent authority (`Financial Conduct Authority`, `GB-FCA`).
    pub nca_name: Option<String>,
    pub nca_id: Option<String>,
    /// Validity, seconds since the Unix epoch.
    pub not_before: i64,
    pub not_after: i64,
    /// SHA-256 of the DER (RFC 8705 3.1 `x5t#S256`). Stays in memory: compared, not shown.
    pub sha256: [u8; 32],
}

impl TppCert {
    /// Parse a DER certificate; `None` when it is not one (or is larger than
    /// [`MAX_CERT_BYTES`]).
    pub fn parse(der_bytes: &[u8]) -> Option<TppCert> {
        if der_bytes.len() > MAX_CERT_BYTES {
            return None;
        }
        let (_, cert) = x509_parser::parse_x509_certificate(der_bytes).ok()?;
        let subject = cert.subject();
        let text = |a: &x509_parser::x509::AttributeTypeAndValue<'_>| {
            a.as_str()
                .ok()
                .and_then(|s| safe_label(s.trim(), MAX_LABEL))
        };
        let organisation_id = subject
            .iter_attributes()
            .find(|a| a.attr_type().to_id_string() == ORGANISATION_IDENTIFIER)
            .and_then(text);
        let organisation = subject.iter_organization().next().and_then(text);
        let qc = der::oid_content(QC_STATEMENTS);
        let statement = cert
            .extensions()
            .iter()
            .find(|e| e.oid.as_bytes() == qc.as_slice())
            .and_then(|e| psd2_statement(e.value));
        let sha256 = ring::digest::digest(&ring::digest::SHA256, der_bytes);
        let mut thumb = [0u8; 32];
        thumb.copy_from_slice(sha256.as_ref());
        let validity = cert.validity();
        let (psd2, roles, nca_name, nca_id) = match statement {
            Some(s) => (true, s.roles, s.nca_name, s.nca_id),
            None => (false, BTreeSet::new(), None, None),
        };
        Some(TppCert {
            organisation_id,
            organisation,
            psd2,
            roles,
            nca_name,
            nca_id,
            not_before: validity.not_before.timestamp(),
            not_after: validity.not_after.timestamp(),
            sha256: thumb,
        })
    }

    /// The TPP this certificate names: `tpp:<organisation id>`, else `tpp:<O>`, else `None`
    /// (the caller fingerprints the certificate instead).
    pub fn tpp_label(&self) -> Option<String> {
        self.organisation_id
            .as_ref()
            .or(self.organisation.as_ref())
            .map(|o| format!("tpp:{o}"))
    }
}

/// The PSD2 statement's content.
#[derive(Debug, Default)]
struct Psd2Statement {
    roles: BTreeSet<String>,
    nca_name: Option<String>,
    nca_id: Option<String>,
}

/// The PSD2 statement in a qcStatements extension value:
///
/// ```text
/// QCStatements ::= SEQUENCE OF QCStatement
/// QCStatement  ::= SEQUENCE { statementId OID, statementInfo ANY OPTIONAL }   -- RFC 3739
/// PSD2QcType   ::= SEQUENCE { rolesOfPSP RolesOfPSP, nCAName UTF8String, nCAId UTF8String }
/// RolesOfPSP   ::= SEQUENCE OF SEQUENCE { roleOfPspOid OID, roleOfPspName UTF8String }
/// ```
fn psd2_statement(value: &[u8]) -> Option<Psd2Statement> {
    let psd2 = der::oid_content(PSD2_STATEMENT);
    let (statements, _) = der::read(value).filter(|(t, _)| t.tag == der::SEQUENCE)?;
    let info = der::elements(statements.content)
        .filter(|s| s.tag == der::SEQUENCE)
        .find_map(|s| {
            let mut parts = der::elements(s.content);
            let id = parts.next()?;
            (id.tag == der::OID && id.content == psd2.as_slice()).then(|| parts.next())?
        })?;
    if info.tag != der::SEQUENCE {
        return None;
    }
    let mut parts = der::elements(info.content);
    let roles = parts.next().filter(|r| r.tag == der::SEQUENCE)?;
    let mut out = Psd2Statement::default();
    for role in der::elements(roles.content).filter(|r| r.tag == der::SEQUENCE) {
        if let Some(name) = role_name(role.content) {
            out.roles.insert(name.to_string());
        }
    }
    out.nca_name = parts.next().and_then(string_label);
    out.nca_id = parts.next().and_then(string_label);
    Some(out)
}

/// A role by its OID (0.4.0.19495.1.n), else by its name when it is one of [`ROLES`].
fn role_name(content: &[u8]) -> Option<&'static str> {
    let mut parts = der::elements(content);
    let oid = parts.next().filter(|o| o.tag == der::OID)?;
    let by_oid = ROLES.iter().zip(1u64..).find_map(|(name, arc)| {
        (oid.content == der::oid_content(&[0, 4, 0, 19495, 1, arc]).as_slice()).then_some(*name)
    });
    by_oid.or_else(|| {
        let name = parts
            .next()
            .and_then(|n| std::str::from_utf8(n.content).ok())?;
        ROLES.iter().copied().find(|r| *r == name)
    })
}

fn string_label(tlv: der::Tlv<'_>) -> Option<String> {
    if tlv.tag != der::UTF8_STRING && tlv.tag != der::PRINTABLE_STRING {
        return None;
    }
    std::str::from_utf8(tlv.content)
        .ok()
        .and_then(|s| safe_label(s.trim(), MAX_LABEL))
}

/// The DER value of a qcStatements extension holding one PSD2 statement: for building test
/// certificates (tests, the demo generator) with any certificate library's custom extensions.
pub fn psd2_qc_statements(roles: &[&str], nca_name: &str, nca_id: &str) -> Vec<u8> {
    let role_seq: Vec<u8> = roles
        .iter()
        .flat_map(|r| {
            let arc = ROLES
                .iter()
                .zip(1u64..)
                .find(|(n, _)| *n == r)
                .map_or(0, |(_, a)| a);
            let mut body = der::encode(der::OID, &der::oid_content(&[0, 4, 0, 19495, 1, arc]));
            body.extend(der::encode(der::UTF8_STRING, r.as_bytes()));
            der::encode(der::SEQUENCE, &body)
        })
        .collect();
    let mut info = der::encode(der::SEQUENCE, &role_seq);
    info.extend(der::encode(der::UTF8_STRING, nca_name.as_bytes()));
    info.extend(der::encode(der::UTF8_STRING, nca_id.as_bytes()));
    let mut statement = der::encode(der::OID, &der::oid_content(PSD2_STATEMENT));
    statement.extend(der::encode(der::SEQUENCE, &info));
    der::encode(der::SEQUENCE, &der::encode(der::SEQUENCE, &statement))
}

/// The arcs of id-pe-qcStatements, for a certificate library's custom extension.
pub const QC_STATEMENTS_OID: &[u64] = QC_STATEMENTS;
