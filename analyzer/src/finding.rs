//! Findings: the one vocabulary of what the diff reports (ARCHITECTURE.md section 5).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// Observed (host, method, template) that no catalogue operation declares.
    ShadowEndpoint,
    /// Observed API host that no catalogue server covers.
    ShadowHost,
    /// Undeclared endpoint seen with too little evidence to be reported as a shadow endpoint
    /// (few exchanges, one consumer in a short time, no successful response): low severity,
    /// with why (`analyzer::diff::FindingPolicy`).
    UnconfirmedEndpoint,
    /// Declared operation with no traffic in the observation window.
    Orphaned,
    /// Declared deprecated, still called.
    Zombie,
    /// Undeclared query/header parameter, or a declared required one missing.
    DriftParam,
    /// Undeclared status code.
    DriftStatus,
    /// Declared security but traffic without credentials, or the reverse.
    DriftAuth,
    /// Request body fields the request schema does not declare, or of another type.
    DriftRequestField,
    /// Response body fields no response schema declares, or of another type.
    DriftResponseField,
    /// Request or response media type the operation does not declare.
    DriftContentType,
    /// Sensitive data class in a field or parameter whose declaration does not admit it.
    DriftDataClass,
    /// A TPP called an open-banking capability its PSD2 roles do not allow
    /// (`analyzer::openbanking`).
    TppRoleMismatch,
    /// A TPP presented a certificate expired or not yet valid at packet time.
    TppCertificateInvalid,
    /// FAPI posture broken: interaction id, message signing or token binding.
    DriftFapi,
    /// A consent used by a TPP other than the one that created it.
    ConsentMisuse,
    /// Calls on a consent-bound endpoint that name no consent.
    ConsentMissing,
    /// A consumer behaving unlike its own history (or new where that matters).
    ConsumerAnomaly,
    /// A SOAP operation called on a WSDL-declared endpoint whose ports do not declare it.
    ShadowSoapOperation,
    /// A SOAP operation a WSDL declares and no traffic called.
    OrphanedSoapOperation,
    /// An ISO 20022 message type on an endpoint whose declaration names other ones.
    UndeclaredIso20022Message,
    /// A GraphQL root field called that the declared schema does not have (`analyzer::graphql`).
    GraphqlShadowField,
    /// A GraphQL field declared `@deprecated`, still selected.
    GraphqlDeprecatedField,
    /// A GraphQL root field declared in the schema and never called.
    GraphqlOrphanedField,
}

impl FindingKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::ShadowEndpoint => "shadow_endpoint",
            FindingKind::ShadowHost => "shadow_host",
            FindingKind::UnconfirmedEndpoint => "unconfirmed_endpoint",
            FindingKind::Orphaned => "orphaned",
            FindingKind::Zombie => "zombie",
            FindingKind::DriftParam => "drift_param",
            FindingKind::DriftStatus => "drift_status",
            FindingKind::DriftAuth => "drift_auth",
            FindingKind::DriftRequestField => "drift_request_field",
            FindingKind::DriftResponseField => "drift_response_field",
            FindingKind::DriftContentType => "drift_content_type",
            FindingKind::DriftDataClass => "drift_data_class",
            FindingKind::TppRoleMismatch => "tpp_role_mismatch",
            FindingKind::TppCertificateInvalid => "tpp_certificate_invalid",
            FindingKind::DriftFapi => "drift_fapi",
            FindingKind::ConsentMisuse => "consent_misuse",
            FindingKind::ConsentMissing => "consent_missing",
            FindingKind::ConsumerAnomaly => "consumer_anomaly",
            FindingKind::ShadowSoapOperation => "shadow_soap_operation",
            FindingKind::OrphanedSoapOperation => "orphaned_soap_operation",
            FindingKind::UndeclaredIso20022Message => "undeclared_iso20022_message",
            FindingKind::GraphqlShadowField => "graphql_shadow_field",
            FindingKind::GraphqlDeprecatedField => "graphql_deprecated_field",
            FindingKind::GraphqlOrphanedField => "graphql_orphaned_field",
        }
    }

    /// The kinds any capture can show (the default demo shows each of them). The
    /// open-banking kinds, which need the lens on, are [`FindingKind::OPEN_BANKING`];
    /// [`FindingKind::every`] is both.
    pub const ALL: [FindingKind; 12] = [
        FindingKind::ShadowEndpoint,
        FindingKind::ShadowHost,
        FindingKind::UnconfirmedEndpoint,
        FindingKind::Orphaned,
        FindingKind::Zombie,
        FindingKind::DriftParam,
        FindingKind::DriftStatus,
        FindingKind::DriftAuth,
        FindingKind::DriftRequestField,
        FindingKind::DriftResponseField,
        FindingKind::DriftContentType,
        FindingKind::DriftDataClass,
    ];

    /// The kinds of the open-banking lens (`analyzer::openbanking`).
    pub const OPEN_BANKING: [FindingKind; 6] = [
        FindingKind::TppRoleMismatch,
        FindingKind::TppCertificateInvalid,
        FindingKind::DriftFapi,
        FindingKind::ConsentMisuse,
        FindingKind::ConsentMissing,
        FindingKind::ConsumerAnomaly,
    ];

    /// The kinds of SOAP operations and ISO 20022 messages against a WSDL (`diff::soap`).
    pub const SOAP: [FindingKind; 3] = [
        FindingKind::ShadowSoapOperation,
        FindingKind::OrphanedSoapOperation,
        FindingKind::UndeclaredIso20022Message,
    ];
    /// The kinds of GraphQL operations against a declared schema (`analyzer::graphql`).
    pub const GRAPHQL: [FindingKind; 3] = [
        FindingKind::GraphqlShadowField,
        FindingKind::GraphqlDeprecatedField,
        FindingKind::GraphqlOrphanedField,
    ];

    /// Every kind of the vocabulary.
    pub fn every() -> impl Iterator<Item = FindingKind> {
        FindingKind::ALL
            .into_iter()
            .chain(FindingKind::OPEN_BANKING)
            .chain(FindingKind::SOAP)
            .chain(FindingKind::GRAPHQL)
    }
}

impl FromStr for FindingKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        FindingKind::every()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown finding kind {s:?}"))
    }
}

impl fmt::Display for FindingKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 5] = [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Info,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// One level up, saturating at critical.
    pub fn raised(self) -> Severity {
        match self {
            Severity::Info => Severity::Low,
            Severity::Low => Severity::Medium,
            Severity::Medium => Severity::High,
            Severity::High | Severity::Critical => Severity::Critical,
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Severity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "info" => Ok(Severity::Info),
            "low" => Ok(Severity::Low),
            "medium" => Ok(Severity::Medium),
            "high" => Ok(Severity::High),
            "critical" => Ok(Severity::Critical),
            other => Err(format!(
                "unknown severity {other:?} (expected info, low, medium, high or critical)"
            )),
        }
    }
}

/// What backs a finding. Fields that do not apply to a kind are omitted from JSON.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Evidence {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exchanges: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consumers: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_seen: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<String>,
    /// Status code -> count (drift_status: the undeclared ones).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub statuses: BTreeMap<String, u64>,
    /// drift_param: undeclared parameter -> exchanges carrying it (`query:name`, `header:name`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub undeclared_params: BTreeMap<String, u64>,
    /// drift_param: declared required parameter -> exchanges missing it.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub missing_params: BTreeMap<String, u64>,
    /// drift_auth: exchanges without / with credentials.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unauthenticated: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authenticated: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub declared_security: Option<String>,
    /// Data classes carried, as `class@location`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub data_classes: Vec<String>,
    /// shadow_host: the endpoints seen on the host.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub endpoints: Vec<String>,
    /// orphaned: the observation window and whether the operation's host carried traffic.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window_start: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window_end: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_seen: Option<bool>,
    /// orphaned: every host the operation is declared on.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
    /// Where the operation is declared (`file` + API title).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub declared_in: Option<String>,
    /// drift_request_field / drift_response_field: undeclared field path -> observed types
    /// (only the outermost undeclared field; what lies below it is counted in `detail`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub undeclared_fields: BTreeMap<String, String>,
    /// drift_request_field / drift_response_field: field path -> `observed (declared: ...)`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub field_type_mismatches: BTreeMap<String, String>,
    /// drift_content_type: `request:type` / `response:type` -> exchanges.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub undeclared_content_types: BTreeMap<String, u64>,
    /// drift_content_type: the media types the operation declares (`request:`/`response:`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub declared_content_types: Vec<String>,
    /// drift_data_class: `class@location` -> occurrences, for the ones not declared.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub undeclared_data_classes: BTreeMap<String, u64>,
    /// zombie: the API version is marked retired by configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retired: Option<bool>,
    /// Open-banking findings: the capability of the endpoint (`analyzer::openbanking`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capability: Option<String>,
    /// Open-banking findings: TPP -> exchanges.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tpps: BTreeMap<String, u64>,
    /// tpp_role_mismatch: the PSD2 roles the TPP's certificates hold.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    /// drift_fapi, tpp_certificate_invalid: check -> exchanges failing it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub counts: BTreeMap<String, u64>,
    /// consent_misuse: the keyed fingerprint of the consent, and the TPPs that created it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub created_by: Vec<String>,
    /// consumer_anomaly: the consumer, what it did before (its baseline) and what it did now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consumer: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub baseline: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub observed: BTreeMap<String, String>,
    /// What the declaration names where the finding is about something it does not: the SOAP
    /// operations of a WSDL endpoint, the ISO 20022 message types of an endpoint.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub declared: Vec<String>,
    /// GraphQL findings: operation key (`query GetAccount`, `query #hash`) -> calls.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub graphql_operations: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// Stable id: a hash of kind, endpoint and subject (see [`finding_id`]).
    pub id: String,
    pub kind: FindingKind,
    pub severity: Severity,
    pub host: String,
    pub method: Option<String>,
    pub path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation_id: Option<String>,
    /// One line saying what was found.
    pub detail: String,
    /// One line saying why this severity.
    pub severity_reason: String,
    /// 0.0..=1.0: how much of the relevant traffic the capture saw whole.
    pub confidence: f64,
    pub evidence: Evidence,
}

/// Stable finding id: 16 hex digits of BLAKE3 over kind, host, method, path and subject.
pub fn finding_id(
    kind: FindingKind,
    host: &str,
    method: Option<&str>,
    path: Option<&str>,
    subject: &str,
) -> String {
    let mut h = blake3::Hasher::new();
    for part in [
        "shadowtap finding v1",
        kind.as_str(),
        host,
        method.unwrap_or(""),
        path.unwrap_or(""),
        subject,
    ] {
        h.update(part.as_bytes());
        h.update(&[0]);
    }
    crate::hex::encode(&h.finalize().as_bytes()[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_distinguish_parts() {
        let a = finding_id(FindingKind::Zombie, "h", Some("GET"), Some("/a"), "");
        assert_eq!(
            a,
            finding_id(FindingKind::Zombie, "h", Some("GET"), Some("/a"), "")
        );
        assert_eq!(a.len(), 16);
        assert_ne!(
            a,
            finding_id(FindingKind::Zombie, "h", Some("GET"), Some("/b"), "")
        );
        assert_ne!(
            a,
            finding_id(
                FindingKind::ShadowEndpoint,
                "h",
                Some("GET"),
                Some("/a"),
                ""
            )
        );
        // Field boundaries matter: ("ab","c") must differ from ("a","bc").
        assert_ne!(
            finding_id(FindingKind::Zombie, "ab", Some("c"), None, ""),
            finding_id(FindingKind::Zombie, "a", Some("bc"), None, "")
        );
    }

    #[test]
    fn severity_parses_orders_and_raises() {
        assert_eq!("HIGH".parse::<Severity>(), Ok(Severity::High));
        assert!("urgent".parse::<Severity>().is_err());
        assert!(Severity::Critical > Severity::High && Severity::Low > Severity::Info);
        assert_eq!(Severity::High.raised(), Severity::Critical);
        assert_eq!(Severity::Critical.raised(), Severity::Critical);
    }
}
