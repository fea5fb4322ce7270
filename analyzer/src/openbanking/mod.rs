//! The open-banking lens: who each TPP (third-party provider) is, what it touches, under which
//! consent, and whether the FAPI security profile holds.
//!
//! - capture side ([`lens`]): TPP identity from forwarded client certificates (trusted only
//!   from configured proxies, [`forwarded`], [`cert`]), FAPI headers, token binding
//!   ([`token`]) and consent references of each exchange, kept per endpoint in an
//!   [`record::ObRecord`] that travels inside the inventory (and so through the fleet);
//! - analysis side ([`capability`], [`findings`]): endpoints mapped to open-banking
//!   capabilities, and the findings that follow (`tpp_role_mismatch`,
//!   `tpp_certificate_invalid`, `drift_fapi`).
//!
//! Off unless `[findings.openbanking] enabled = true`: none of this runs, and nothing is added
//! to the inventory, on other traffic.
//!
//! ```toml
//! [findings.openbanking]
//! enabled = true
//! trusted_proxies = ["10.0.0.5"]             # certificate headers believed only from these
//! certificate_headers = ["x-forwarded-client-cert", "x-ssl-client-cert", "ssl-client-cert",
//!                        "tpp-signature-certificate"]   # the default
//! fapi_paths = ["/open-banking/"]            # bearer tokens here must be certificate-bound
//! signing_paths = ["/open-banking/v3.1/pisp/"]   # requests here must carry x-jws-signature
//! consent_paths = ["/open-banking/v3.1/aisp/accounts"]  # every call here must name a consent
//! [findings.openbanking.anomaly]             # consumer_anomaly (off by default)
//! enabled = true
//! bucket_secs = 3600                         # baseline bucket, packet time
//! baseline_buckets = 3                       # history before a consumer is judged
//! volume_factor = 5                          # a bucket >= 5x the consumer's mean...
//! min_volume = 20                            # ...and >= 20 exchanges is a jump
//! max_token_addresses = 5                    # more addresses for one token is one
//! [[findings.openbanking.capabilities]]      # overrides, first match wins, before built-ins
//! path = "/internal/loyalty/"
//! capability = "bank_defined:loyalty"
//! ```

pub mod behaviour;
pub mod capability;
pub mod cert;
pub mod consent;
pub mod der;
pub mod exposure;
pub mod findings;
pub mod forwarded;
pub mod handshake;
pub mod lens;
pub mod record;
pub mod token;

use crate::consumer::IpNet;
use serde::{Deserialize, Serialize};

/// `[findings.openbanking]` as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ObSettings {
    pub enabled: bool,
    /// Request headers that carry the TPP's certificate (case-insensitive).
    pub certificate_headers: Vec<String>,
    /// Peers (addresses or CIDR blocks) whose certificate headers are believed. Empty: none.
    pub trusted_proxies: Vec<String>,
    /// Template prefixes of FAPI endpoints: bearer tokens there must be certificate-bound.
    pub fapi_paths: Vec<String>,
    /// Template prefixes where requests must be signed (`x-jws-signature`).
    pub signing_paths: Vec<String>,
    /// Template prefixes of consent-bound endpoints: every call there must name a consent
    /// (`Consent-ID`, the path, a body `ConsentId`, a token claim).
    pub consent_paths: Vec<String>,
    /// Capability overrides, before the built-in UK OB and Berlin Group path families.
    pub capabilities: Vec<capability::CapabilityRule>,
    /// `[findings.openbanking.anomaly]`: each consumer against its own baseline.
    pub anomaly: behaviour::AnomalySettings,
}

impl Default for ObSettings {
    fn default() -> Self {
        ObSettings {
            enabled: false,
            certificate_headers: [
                "x-forwarded-client-cert",
                "x-ssl-client-cert",
                "ssl-client-cert",
                "tpp-signature-certificate",
            ]
            .map(String::from)
            .to_vec(),
            trusted_proxies: Vec::new(),
            fapi_paths: Vec::new(),
            signing_paths: Vec::new(),
            consent_paths: Vec::new(),
            capabilities: Vec::new(),
            anomaly: behaviour::AnomalySettings::default(),
        }
    }
}

/// A `[findings.openbanking]` setting that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ObSettingsError {
    #[error("findings.openbanking.trusted_proxies: {0:?} is not an IP address or CIDR block")]
    BadProxy(String),
    #[error("findings.openbanking.{field}: more than {MAX_LIST} entries")]
    TooMany { field: &'static str },
    #[error("findings.openbanking.anomaly.bucket_secs: must be at least 1")]
    ZeroBucket,
}

/// Most entries of each list setting.
pub const MAX_LIST: usize = 1024;

/// What the capture side needs, validated: built once, shared by every worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lens {
    /// Lowercase header names.
    pub certificate_headers: Vec<String>,
    pub trusted_proxies: Vec<IpNet>,
    /// Width of a behaviour bucket (seconds) when `consumer_anomaly` is on.
    pub anomaly_bucket_secs: Option<u32>,
}

impl Lens {
    /// The lens for these settings; `None` when the lens is off.
    pub fn from_settings(s: &ObSettings) -> Result<Option<Lens>, ObSettingsError> {
        for (field, len) in [
            ("certificate_headers", s.certificate_headers.len()),
            ("trusted_proxies", s.trusted_proxies.len()),
            ("fapi_paths", s.fapi_paths.len()),
            ("signing_paths", s.signing_paths.len()),
            ("consent_paths", s.consent_paths.len()),
            ("capabilities", s.capabilities.len()),
            ("anomaly.sensitive", s.anomaly.sensitive.len()),
        ] {
            if len > MAX_LIST {
                return Err(ObSettingsError::TooMany { field });
            }
        }
        if s.anomaly.enabled && s.anomaly.bucket_secs == 0 {
            return Err(ObSettingsError::ZeroBucket);
        }
        let trusted_proxies = s
            .trusted_proxies
            .iter()
            .map(|p| IpNet::parse(p).ok_or_else(|| ObSettingsError::BadProxy(p.clone())))
            .collect::<Result<_, _>>()?;
        Ok(s.enabled.then(|| Lens {
            certificate_headers: s
                .certificate_headers
                .iter()
                .map(|h| h.trim().to_ascii_lowercase())
                .collect(),
            trusted_proxies,
            anomaly_bucket_secs: s.anomaly.enabled.then_some(s.anomaly.bucket_secs),
        }))
    }

    fn trusts(&self, peer: std::net::IpAddr) -> bool {
        self.trusted_proxies.iter().any(|n| n.contains(peer))
    }
}

#[cfg(test)]
mod tests;
