//! What an access token says about its binding and its consent, read without verifying the
//! signature (a passive sensor holds no keys; the values are compared, never trusted):
//! `cnf.x5t#S256` (RFC 8705 3.1: the thumbprint of the certificate the token is bound to) and
//! the consent it was issued for (`consentId`, UK OB `openbanking_intent_id`).

use base64::engine::{general_purpose::GeneralPurpose, DecodePaddingMode, GeneralPurposeConfig};
use base64::Engine;

const B64URL: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The claims of a JWT access token this lens reads. Raw consent ids stay here, in memory,
/// until the caller fingerprints them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenClaims {
    /// `cnf.x5t#S256`, decoded (32 bytes when well-formed).
    pub x5t_s256: Option<Vec<u8>>,
    /// The token carries a `cnf` claim at all.
    pub has_cnf: bool,
    pub consent: Option<String>,
}

/// The claims of a JWT (`None`: not a readable JWT, or longer than
/// [`crate::consumer::MAX_JWT_BYTES`]).
pub fn claims(token: &[u8]) -> Option<TokenClaims> {
    if token.len() > crate::consumer::MAX_JWT_BYTES {
        return None;
    }
    let mut parts = token.split(|b| *b == b'.');
    let (_, payload) = (parts.next()?, parts.next()?);
    parts.next()?;
    let claims: serde_json::Value = serde_json::from_slice(&B64URL.decode(payload).ok()?).ok()?;
    let cnf = claims.get("cnf");
    let x5t_s256 = cnf
        .and_then(|c| c.get("x5t#S256"))
        .and_then(|v| v.as_str())
        .and_then(|v| B64URL.decode(v).ok());
    let consent = ["consentId", "openbanking_intent_id", "consent_id"]
        .iter()
        .find_map(|c| claims.get(c).and_then(|v| v.as_str()))
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    Some(TokenClaims {
        x5t_s256,
        has_cnf: cnf.is_some(),
        consent,
    })
}

/// A JWT with these claims (unsigned, `alg` none): for tests and the demo generator.
pub fn unsigned_jwt(claims: &serde_json::Value) -> String {
    let header = B64URL.encode(br#"{"alg":"none","typ":"JWT"}"#);
    format!("{header}.{}.", B64URL.encode(claims.to_string()))
}

/// RFC 8705 `x5t#S256` text for a SHA-256 thumbprint.
pub fn x5t_s256(thumbprint: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(thumbprint)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_binding_and_consent() {
        let t = unsigned_jwt(&serde_json::json!({
            "client_id": "c", "cnf": {"x5t#S256": x5t_s256(&[7u8; 32])},
            "openbanking_intent_id": "urn-alphabank-intent-88379"
        }));
        let c = claims(t.as_bytes()).unwrap();
        assert_eq!(c.x5t_s256, Some(vec![7u8; 32]));
        assert!(c.has_cnf);
        assert_eq!(c.consent.as_deref(), Some("urn-alphabank-intent-88379"));
        let plain = unsigned_jwt(&serde_json::json!({"sub": "x"}));
        assert_eq!(claims(plain.as_bytes()), Some(TokenClaims::default()));
    }

    #[test]
    fn opaque_and_malformed_tokens_are_none() {
        for t in ["opaque", "a.b", "a.!!!.c", "e30.bm90IGpzb24.x"] {
            assert!(claims(t.as_bytes()).is_none(), "{t}");
        }
    }
}
