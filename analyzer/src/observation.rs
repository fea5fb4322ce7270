//! What one exchange says about an endpoint, with every raw sensitive value already removed.
//!
//! An [`Observation`] is the unit that leaves the reconstruction layer: names, shapes, labels,
//! counts and masked previews only. Nothing in it may hold a raw body, token or card number.

use crate::exchange::Anomaly;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// The identity of an endpoint in the inventory.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct EndpointKey {
    /// Normalised host: lowercase, no trailing dot, default port (80/443) removed.
    pub host: String,
    /// Upper-case method as sent.
    pub method: String,
    /// Path template, e.g. `/accounts/{AccountId}/balances`.
    pub path: String,
}

/// JSON type of a body field, as observed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    String,
    Integer,
    Number,
    Boolean,
    Null,
    Object,
    Array,
}

impl FieldType {
    /// The JSON Schema name of the type (`string`, `integer`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            FieldType::String => "string",
            FieldType::Integer => "integer",
            FieldType::Number => "number",
            FieldType::Boolean => "boolean",
            FieldType::Null => "null",
            FieldType::Object => "object",
            FieldType::Array => "array",
        }
    }
}

/// A body field path and its observed type, e.g. `Data.Account[].AccountId: string`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct FieldShape {
    pub path: String,
    pub ty: FieldType,
}

/// A data class found in an exchange, with where it was found and a masked preview.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct DataClassHit {
    /// Class label from the rules, e.g. `pan`, `iban`, `email`.
    pub class: String,
    /// Place, e.g. `request.query.card`, `request.header.authorization`,
    /// `response.body.Data.Account[].Iban`.
    pub location: String,
    /// Masked preview, e.g. `**** **** **** 4242`. Never the raw value.
    pub preview: String,
}

/// How the caller authenticated, as far as the traffic shows it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthScheme {
    None,
    Basic,
    Bearer,
    Digest,
    /// An API key in a header (name given) or query parameter.
    ApiKey,
    /// A session cookie and nothing else.
    Cookie,
    /// Another Authorization scheme (the scheme token is kept, lowercased).
    Other(String),
}

impl AuthScheme {
    pub fn label(&self) -> String {
        match self {
            AuthScheme::None => "none".into(),
            AuthScheme::Basic => "basic".into(),
            AuthScheme::Bearer => "bearer".into(),
            AuthScheme::Digest => "digest".into(),
            AuthScheme::ApiKey => "api_key".into(),
            AuthScheme::Cookie => "cookie".into(),
            AuthScheme::Other(s) => s.clone(),
        }
    }

    /// The scheme a [`AuthScheme::label`] names.
    pub fn from_label(label: &str) -> AuthScheme {
        match label {
            "none" => AuthScheme::None,
            "basic" => AuthScheme::Basic,
            "bearer" => AuthScheme::Bearer,
            "digest" => AuthScheme::Digest,
            "api_key" => AuthScheme::ApiKey,
            "cookie" => AuthScheme::Cookie,
            other => AuthScheme::Other(other.to_string()),
        }
    }

    /// Whether the request carried any credential at all.
    pub fn has_credentials(&self) -> bool {
        !matches!(self, AuthScheme::None)
    }
}

/// Who called: the client address plus, when a credential was presented, a salted fingerprint
/// of it (never the credential) and the identity the credential names, where readable.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Consumer {
    /// Client address (the trusted forwarded address when configured, else the TCP peer).
    pub address: String,
    /// Keyed fingerprint of the credential, e.g. `key:3fa9c1d2e4b5a697`.
    pub credential: Option<String>,
}

impl Consumer {
    /// One stable label per consumer: the credential fingerprint when present, else the address.
    pub fn id(&self) -> String {
        match &self.credential {
            Some(c) => c.clone(),
            None => format!("addr:{}", self.address),
        }
    }
}

/// Whether the path template came from the catalogue or was learned from traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TemplateSource {
    Declared,
    Learned,
}

/// Everything one exchange says about its endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    pub ts: Timestamp,
    pub endpoint: EndpointKey,
    pub template_source: TemplateSource,
    /// Response status; `None` when the response was not seen.
    pub status: Option<u16>,
    /// Media type without parameters, lowercased (e.g. `application/json`).
    pub request_content_type: Option<String>,
    pub response_content_type: Option<String>,
    /// Names only, sorted and de-duplicated.
    pub query_params: Vec<String>,
    /// Non-standard request header names (lowercased), sorted and de-duplicated.
    pub header_params: Vec<String>,
    pub request_fields: Vec<FieldShape>,
    pub response_fields: Vec<FieldShape>,
    pub data_classes: Vec<DataClassHit>,
    pub auth: AuthScheme,
    pub consumer: Consumer,
    /// Decoded body lengths.
    pub request_body_len: u64,
    pub response_body_len: u64,
    /// Sorted anomalies carried over from the exchange.
    pub anomalies: Vec<Anomaly>,
}

impl Observation {
    /// An observation of `endpoint` at `ts` by `consumer` with nothing else seen: no response,
    /// no parameters, fields or data classes, no credentials. Synthetic inputs (tests, benches)
    /// start from it and set what they need.
    pub fn bare(ts: Timestamp, endpoint: EndpointKey, consumer: Consumer) -> Self {
        Observation {
            ts,
            endpoint,
            template_source: TemplateSource::Learned,
            status: None,
            request_content_type: None,
            response_content_type: None,
            query_params: Vec::new(),
            header_params: Vec::new(),
            request_fields: Vec::new(),
            response_fields: Vec::new(),
            data_classes: Vec::new(),
            auth: AuthScheme::None,
            consumer,
            request_body_len: 0,
            response_body_len: 0,
            anomalies: Vec::new(),
        }
    }

    /// False when the capture missed part of this exchange.
    pub fn complete(&self) -> bool {
        !self.anomalies.iter().any(|a| a.lowers_confidence())
    }
}
