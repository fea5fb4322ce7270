//! Who called: client address, credential kind, and a keyed fingerprint of the credential.
//!
//! The fingerprint is a keyed BLAKE3 hash under a per-site secret, so the same API key gives
//! the same consumer id across agents of one site while the key itself never leaves the sensor
//! and cannot be confirmed by anyone without the secret.

use crate::exchange::{find_header, Header, RequestHead};
use crate::observation::{AuthScheme, Consumer};
use std::borrow::Cow;
use std::net::IpAddr;

/// Header names that carry API keys by convention (lowercase).
pub const API_KEY_HEADERS: &[&str] = &[
    "x-api-key",
    "api-key",
    "apikey",
    "x-apikey",
    "x-auth-token",
    "x-access-token",
    "ocp-apim-subscription-key",
];

/// Query parameter names that carry API keys by convention (lowercase).
pub const API_KEY_PARAMS: &[&str] = &["api_key", "apikey", "api-key", "key", "access_token"];

/// Whether a data-class location is where the request presents its own credential
/// (`request.header.authorization`, an API-key header or query parameter). A token found there
/// is how the caller authenticates, not data the endpoint exposes.
pub fn is_credential_location(location: &str) -> bool {
    if let Some(name) = location.strip_prefix("request.header.") {
        return name == "authorization"
            || name == "proxy-authorization"
            || name == "cookie"
            || API_KEY_HEADERS.contains(&name);
    }
    location
        .strip_prefix("request.query.")
        .is_some_and(|name| API_KEY_PARAMS.iter().any(|p| name.eq_ignore_ascii_case(p)))
}

/// The `[consumers]` section of the configuration file.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsumerSettings {
    /// Take the client address from X-Forwarded-For / Forwarded (sensor behind a trusted proxy).
    #[serde(default)]
    pub trust_forwarded: bool,
}

/// How consumers are identified at this site.
#[derive(Clone)]
pub struct ConsumerConfig {
    /// Derived key for credential fingerprints (from the site secret).
    key: [u8; 32],
    /// Take the client address from X-Forwarded-For / Forwarded (the sensor sits behind a
    /// trusted proxy). Off by default: those headers are attacker-controlled otherwise.
    pub trust_forwarded: bool,
}

impl std::fmt::Debug for ConsumerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsumerConfig")
            .field("key", &"<redacted>")
            .field("trust_forwarded", &self.trust_forwarded)
            .finish()
    }
}

impl ConsumerConfig {
    pub fn new(site_secret: &[u8], trust_forwarded: bool) -> Self {
        ConsumerConfig {
            key: blake3::derive_key("shadowtap 2026 consumer fingerprint v1", site_secret),
            trust_forwarded,
        }
    }

    /// Keyed fingerprint of a credential: `kind:` + 16 hex digits.
    pub fn fingerprint(&self, kind: &str, credential: &[u8]) -> String {
        let hash = blake3::keyed_hash(&self.key, credential);
        let hex: String = hash.as_bytes()[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("{kind}:{hex}")
    }
}

/// Where the credential was found, with its raw bytes (borrowed; never stored).
struct Credential<'a> {
    scheme: AuthScheme,
    kind: &'static str,
    secret: Cow<'a, [u8]>,
}

/// Identify the caller and the authentication scheme of a request.
pub fn identify(
    req: &RequestHead,
    query: &[(String, String)],
    peer: IpAddr,
    cfg: &ConsumerConfig,
) -> (Consumer, AuthScheme) {
    let address = if cfg.trust_forwarded {
        forwarded_client(&req.headers).unwrap_or_else(|| peer.to_string())
    } else {
        peer.to_string()
    };
    match credential(req, query) {
        Some(c) => (
            Consumer {
                address,
                credential: Some(cfg.fingerprint(c.kind, &c.secret)),
            },
            c.scheme,
        ),
        None => (
            Consumer {
                address,
                credential: None,
            },
            AuthScheme::None,
        ),
    }
}

fn credential<'a>(req: &'a RequestHead, query: &'a [(String, String)]) -> Option<Credential<'a>> {
    if let Some(h) = find_header(&req.headers, "authorization") {
        let value = trim_ascii(&h.value);
        let (scheme_token, rest) = match value.iter().position(|b| *b == b' ') {
            Some(i) => (&value[..i], trim_ascii(&value[i + 1..])),
            None => (value, &value[value.len()..]),
        };
        let scheme = String::from_utf8_lossy(scheme_token).to_ascii_lowercase();
        let (scheme, kind) = match scheme.as_str() {
            "basic" => (AuthScheme::Basic, "basic"),
            "bearer" => (AuthScheme::Bearer, "bearer"),
            "digest" => (AuthScheme::Digest, "digest"),
            // Keep odd scheme tokens short and printable: they come from the wire.
            _ => (AuthScheme::Other(sanitize_scheme(&scheme)), "auth"),
        };
        // Basic: fingerprint the user name only, so a password change keeps the consumer.
        let secret = match scheme {
            AuthScheme::Basic => basic_user(rest).map_or(Cow::Borrowed(rest), Cow::Owned),
            _ => Cow::Borrowed(rest),
        };
        return Some(Credential {
            scheme,
            kind,
            secret,
        });
    }
    for name in API_KEY_HEADERS {
        if let Some(h) = find_header(&req.headers, name) {
            return Some(Credential {
                scheme: AuthScheme::ApiKey,
                kind: "key",
                secret: Cow::Borrowed(&h.value),
            });
        }
    }
    for (name, value) in query {
        if API_KEY_PARAMS.iter().any(|p| name.eq_ignore_ascii_case(p)) && !value.is_empty() {
            return Some(Credential {
                scheme: AuthScheme::ApiKey,
                kind: "key",
                secret: Cow::Borrowed(value.as_bytes()),
            });
        }
    }
    if let Some(h) = find_header(&req.headers, "cookie") {
        return Some(Credential {
            scheme: AuthScheme::Cookie,
            kind: "cookie",
            secret: Cow::Borrowed(&h.value),
        });
    }
    None
}

/// The user name of a Basic credential (RFC 7617: base64 of `user:password`).
fn basic_user(token: &[u8]) -> Option<Vec<u8>> {
    use base64::Engine;
    let mut decoded = base64::engine::general_purpose::STANDARD
        .decode(token)
        .ok()?;
    let colon = decoded.iter().position(|b| *b == b':')?;
    decoded.truncate(colon);
    Some(decoded)
}

fn sanitize_scheme(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(24)
        .collect()
}

fn trim_ascii(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &b[start..end.max(start)]
}

/// The original client from `Forwarded: for=` (RFC 7239) or the first `X-Forwarded-For` entry.
fn forwarded_client(headers: &[Header]) -> Option<String> {
    if let Some(v) = find_header(headers, "forwarded").and_then(Header::value_str) {
        for part in v.split([';', ',']) {
            let part = part.trim();
            if part.len() > 4 && part[..4].eq_ignore_ascii_case("for=") {
                let addr = part[4..].trim_matches('"');
                if let Some(ip) = parse_forwarded_addr(addr) {
                    return Some(ip);
                }
            }
        }
    }
    let v = find_header(headers, "x-forwarded-for").and_then(Header::value_str)?;
    parse_forwarded_addr(v.split(',').next()?.trim())
}

fn parse_forwarded_addr(addr: &str) -> Option<String> {
    let bare = addr.trim_start_matches('[');
    let bare = bare.split(']').next().unwrap_or(bare);
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Some(ip.to_string());
    }
    // `1.2.3.4:5678`
    addr.rsplit_once(':')
        .and_then(|(ip, _)| ip.parse::<IpAddr>().ok())
        .map(|ip| ip.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exchange::HttpVersion;

    fn req(headers: &[(&str, &str)]) -> RequestHead {
        RequestHead {
            method: "GET".into(),
            target: "/".into(),
            version: HttpVersion::Http11,
            headers: headers
                .iter()
                .map(|(n, v)| Header::new(*n, v.as_bytes()))
                .collect(),
        }
    }

    fn peer() -> IpAddr {
        "10.0.0.7".parse().unwrap()
    }

    #[test]
    fn bearer_token_is_fingerprinted_never_kept() {
        let cfg = ConsumerConfig::new(b"site", false);
        let (c, auth) = identify(
            &req(&[("Authorization", "Bearer s3cr3t-token")]),
            &[],
            peer(),
            &cfg,
        );
        assert_eq!(auth, AuthScheme::Bearer);
        let fp = c.credential.unwrap();
        assert!(fp.starts_with("bearer:") && fp.len() == 7 + 16, "{fp}");
        assert!(!fp.contains("s3cr3t"));
        assert_eq!(c.address, "10.0.0.7");
    }

    #[test]
    fn fingerprints_depend_on_the_site_secret() {
        let a = ConsumerConfig::new(b"site-a", false).fingerprint("key", b"k");
        let b = ConsumerConfig::new(b"site-b", false).fingerprint("key", b"k");
        assert_ne!(a, b);
        assert_eq!(
            a,
            ConsumerConfig::new(b"site-a", false).fingerprint("key", b"k")
        );
    }

    #[test]
    fn api_key_header_query_and_cookie() {
        let cfg = ConsumerConfig::new(b"s", false);
        let (_, auth) = identify(&req(&[("X-API-Key", "abc")]), &[], peer(), &cfg);
        assert_eq!(auth, AuthScheme::ApiKey);
        let q = vec![("api_key".to_string(), "abc".to_string())];
        let (c, auth) = identify(&req(&[]), &q, peer(), &cfg);
        assert_eq!(auth, AuthScheme::ApiKey);
        assert_eq!(c.credential, Some(cfg.fingerprint("key", b"abc")));
        let (_, auth) = identify(&req(&[("Cookie", "sid=1")]), &[], peer(), &cfg);
        assert_eq!(auth, AuthScheme::Cookie);
        let (c, auth) = identify(&req(&[]), &[], peer(), &cfg);
        assert_eq!((c.credential, auth), (None, AuthScheme::None));
    }

    #[test]
    fn basic_user_keeps_consumer_across_password_changes() {
        use base64::Engine;
        let enc = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let cfg = ConsumerConfig::new(b"s", false);
        let a = identify(
            &req(&[("Authorization", &format!("Basic {}", enc("tpp:pw1")))]),
            &[],
            peer(),
            &cfg,
        );
        let b = identify(
            &req(&[("Authorization", &format!("Basic {}", enc("tpp:pw2")))]),
            &[],
            peer(),
            &cfg,
        );
        assert_eq!(a.1, AuthScheme::Basic);
        assert_eq!(a.0.credential, b.0.credential);
    }

    #[test]
    fn forwarded_headers_only_when_trusted() {
        let r = req(&[("X-Forwarded-For", "203.0.113.9, 10.0.0.1")]);
        let untrusted = ConsumerConfig::new(b"s", false);
        assert_eq!(identify(&r, &[], peer(), &untrusted).0.address, "10.0.0.7");
        let trusted = ConsumerConfig::new(b"s", true);
        assert_eq!(identify(&r, &[], peer(), &trusted).0.address, "203.0.113.9");
        let r = req(&[("Forwarded", "for=\"[2001:db8::1]:4711\";proto=https")]);
        assert_eq!(identify(&r, &[], peer(), &trusted).0.address, "2001:db8::1");
    }

    #[test]
    fn credential_locations() {
        assert!(is_credential_location("request.header.authorization"));
        assert!(is_credential_location("request.header.x-api-key"));
        assert!(is_credential_location("request.query.api_key"));
        assert!(!is_credential_location("request.query.card"));
        assert!(!is_credential_location("response.body.access_token"));
    }

    #[test]
    fn odd_scheme_tokens_are_sanitised() {
        let cfg = ConsumerConfig::new(b"s", false);
        let (_, auth) = identify(&req(&[("Authorization", "<script>x y")]), &[], peer(), &cfg);
        assert_eq!(auth, AuthScheme::Other("scriptx".into()));
    }
}
