//! Who called: client address, credential kind, and the identity the credential names.
//!
//! A consumer id is `kind:value`, one of (first that applies):
//!
//! | id | from | shown |
//! |---|---|---|
//! | `tls:<subject>` | TLS client certificate subject, when the capture layer saw the handshake ([`identify_with_tls`]) | the subject, when it passes [`safe_label`]; else `tls:#<fingerprint>` |
//! | `oauth:<client>@<issuer host>` | a JWT bearer token's `client_id` / `azp` / `cid` / `appid` and `iss` claims, read **without verifying the signature** (flagged `unverified` in reports) | the client id, when it passes [`safe_label`]; else `oauth:#<fingerprint>`. A token naming only `sub` (possibly a person) is always fingerprinted |
//! | `basic:<fp>`, `bearer:<fp>`, `digest:<fp>`, `auth:<fp>`, `key:<fp>`, `cookie:<fp>` | the credential itself (Basic: the user name only, so a password change keeps the consumer) | never: keyed fingerprint only |
//! | `addr:<ip>` | no credential: the client address (the trusted forwarded client when configured) | the address |
//!
//! So a partner whose tokens rotate stays one consumer, and the id names it where the token
//! does. Basic-auth user names are fingerprinted, not shown: they are often e-mail addresses or
//! people's names, and a report is read by more people than the credential's owner.
//!
//! Fingerprints are keyed BLAKE3 hashes under a per-site secret, so the same API key gives the
//! same consumer id across agents of one site while the key itself never leaves the sensor and
//! cannot be confirmed by anyone without the secret. [`describe`] turns an id back into kind,
//! label and verification status for reports.

use crate::exchange::{find_header, HeaderLike, RequestHead};
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
///
/// ```toml
/// [consumers]
/// trust_forwarded = true                          # read X-Forwarded-For / Forwarded
/// trusted_proxies = ["10.0.0.0/8", "192.0.2.7"]   # only from these peers, skipping these hops
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsumerSettings {
    /// Take the client address from X-Forwarded-For / Forwarded (sensor behind a trusted proxy).
    #[serde(default)]
    pub trust_forwarded: bool,
    /// Proxy addresses or CIDR blocks. When set, forwarded headers are read only on requests
    /// whose TCP peer is one of them, and the client is the rightmost forwarded address that is
    /// not (RFC 7239 section 7.4: the left of the list is whatever the client wrote). Empty: any
    /// peer is trusted and the leftmost address is the client.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
}

impl ConsumerSettings {
    /// `trusted_proxies`, parsed.
    pub fn proxies(&self) -> Result<Vec<IpNet>, ConsumerSettingsError> {
        if self.trusted_proxies.len() > MAX_TRUSTED_PROXIES {
            return Err(ConsumerSettingsError::TooManyProxies);
        }
        self.trusted_proxies
            .iter()
            .map(|p| IpNet::parse(p).ok_or_else(|| ConsumerSettingsError::BadProxy(p.clone())))
            .collect()
    }
}

/// Most entries of a `trusted_proxies` list.
pub const MAX_TRUSTED_PROXIES: usize = 1024;
/// Most forwarded hops looked at per request.
const MAX_FORWARDED_HOPS: usize = 32;
/// Longest JWT (bytes) whose claims are read; longer ones are fingerprinted as opaque tokens.
pub const MAX_JWT_BYTES: usize = 8192;
/// Longest label shown for a consumer.
pub const MAX_LABEL: usize = 64;

/// An address block: an IP and a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl IpNet {
    /// `10.0.0.0/8`, `2001:db8::/32` or a bare address (a single host).
    pub fn parse(s: &str) -> Option<IpNet> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a.parse::<IpAddr>().ok()?, p.parse::<u8>().ok()?),
            None => {
                let a = s.parse::<IpAddr>().ok()?;
                (a, if a.is_ipv4() { 32 } else { 128 })
            }
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        (prefix <= max).then_some(IpNet { addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let (net, ip, bits) = match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(i)) => {
                (u128::from(u32::from(n)), u128::from(u32::from(i)), 32)
            }
            (IpAddr::V6(n), IpAddr::V6(i)) => (u128::from(n), u128::from(i), 128),
            // An IPv4-mapped IPv6 peer is the IPv4 host it maps.
            (IpAddr::V4(n), IpAddr::V6(i)) => match i.to_ipv4_mapped() {
                Some(i) => (u128::from(u32::from(n)), u128::from(u32::from(i)), 32),
                None => return false,
            },
            (IpAddr::V6(_), IpAddr::V4(_)) => return false,
        };
        let shift = bits - u32::from(self.prefix);
        shift >= bits || (net >> shift) == (ip >> shift)
    }
}

/// A `[consumers]` setting that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConsumerSettingsError {
    #[error("consumers.trusted_proxies: {0:?} is not an IP address or CIDR block")]
    BadProxy(String),
    #[error("consumers.trusted_proxies: more than {MAX_TRUSTED_PROXIES} entries")]
    TooManyProxies,
}

/// How consumers are identified at this site.
#[derive(Clone)]
pub struct ConsumerConfig {
    /// Derived key for credential fingerprints (from the site secret).
    key: [u8; 32],
    /// Take the client address from X-Forwarded-For / Forwarded (the sensor sits behind a
    /// trusted proxy). Off by default: those headers are attacker-controlled otherwise.
    pub trust_forwarded: bool,
    /// See [`ConsumerSettings::trusted_proxies`].
    pub trusted_proxies: Vec<IpNet>,
}

impl std::fmt::Debug for ConsumerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsumerConfig")
            .field("key", &"<redacted>")
            .field("trust_forwarded", &self.trust_forwarded)
            .field("trusted_proxies", &self.trusted_proxies)
            .finish()
    }
}

impl ConsumerConfig {
    pub fn new(site_secret: &[u8], trust_forwarded: bool) -> Self {
        ConsumerConfig {
            key: blake3::derive_key("shadowtap 2026 consumer fingerprint v1", site_secret),
            trust_forwarded,
            trusted_proxies: Vec::new(),
        }
    }

    /// The site secret plus the `[consumers]` section, validated.
    pub fn from_settings(
        site_secret: &[u8],
        settings: &ConsumerSettings,
    ) -> Result<Self, ConsumerSettingsError> {
        Ok(ConsumerConfig {
            trusted_proxies: settings.proxies()?,
            ..ConsumerConfig::new(site_secret, settings.trust_forwarded)
        })
    }

    fn is_trusted_proxy(&self, ip: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|n| n.contains(ip))
    }

    /// A seed for in-process hash tables keyed by credentials (derived from the site secret, so
    /// nobody without it can steer collisions).
    pub fn hash_seed(&self) -> u64 {
        let k = blake3::derive_key("shadowtap 2026 worker hash seed v1", &self.key);
        u64::from_le_bytes([k[0], k[1], k[2], k[3], k[4], k[5], k[6], k[7]])
    }

    /// Keyed fingerprint of a credential: `kind:` + 16 hex digits.
    pub fn fingerprint(&self, kind: &str, credential: &[u8]) -> String {
        format!("{kind}:{}", self.hex_fingerprint(credential))
    }

    /// 16 hex digits of the keyed hash of `data`.
    fn hex_fingerprint(&self, data: &[u8]) -> String {
        let hash = blake3::keyed_hash(&self.key, data);
        crate::hex::encode(&hash.as_bytes()[..8])
    }
}

/// Where a request presented its credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CredentialSource {
    /// The `Authorization` header (the scheme token is in [`RawCredential::scheme`]).
    Authorization,
    /// One of [`API_KEY_HEADERS`].
    ApiKeyHeader,
    /// One of [`API_KEY_PARAMS`] in the query string (the value still percent-encoded).
    ApiKeyQuery,
    Cookie,
}

/// A credential as the request carries it, borrowed from the head: found cheaply on every
/// request, turned into a consumer id ([`resolve_credential`]) only when a cache has not seen
/// it. Never stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawCredential<'a> {
    pub source: CredentialSource,
    /// The Authorization scheme token as sent (empty for other sources).
    pub scheme: &'a [u8],
    /// The credential bytes as sent (Basic: the base64 token; query: still encoded).
    pub secret: &'a [u8],
}

/// The credential a request presents, in precedence order: `Authorization`, an API-key header,
/// an API-key query parameter (`query` yields raw name/value pairs), a cookie.
pub fn find_credential<'a, H: HeaderLike>(
    headers: &'a [H],
    query: impl Iterator<Item = (&'a str, &'a str)>,
) -> Option<RawCredential<'a>> {
    if let Some(h) = find_header(headers, "authorization") {
        let value = trim_ascii(h.value());
        let (scheme, rest) = match value.iter().position(|b| *b == b' ') {
            Some(i) => (&value[..i], trim_ascii(&value[i + 1..])),
            None => (value, &value[value.len()..]),
        };
        return Some(RawCredential {
            source: CredentialSource::Authorization,
            scheme,
            secret: rest,
        });
    }
    for name in API_KEY_HEADERS {
        if let Some(h) = find_header(headers, name) {
            return Some(RawCredential {
                source: CredentialSource::ApiKeyHeader,
                scheme: &[],
                secret: h.value(),
            });
        }
    }
    for (name, value) in query {
        let name = crate::engine::target::decode_component(name);
        if API_KEY_PARAMS.iter().any(|p| name.eq_ignore_ascii_case(p)) && !value.is_empty() {
            return Some(RawCredential {
                source: CredentialSource::ApiKeyQuery,
                scheme: &[],
                secret: value.as_bytes(),
            });
        }
    }
    find_header(headers, "cookie").map(|h| RawCredential {
        source: CredentialSource::Cookie,
        scheme: &[],
        secret: h.value(),
    })
}

/// The consumer id a credential gives (`oauth:...` for a readable JWT bearer token, else a
/// keyed fingerprint) and the authentication scheme. This is the costly step (base64, JSON,
/// BLAKE3): the count path caches its result per credential.
pub fn resolve_credential(cfg: &ConsumerConfig, raw: &RawCredential<'_>) -> (String, AuthScheme) {
    let (scheme, kind) = match raw.source {
        CredentialSource::Authorization => {
            let token = String::from_utf8_lossy(raw.scheme).to_ascii_lowercase();
            match token.as_str() {
                "basic" => (AuthScheme::Basic, "basic"),
                "bearer" => (AuthScheme::Bearer, "bearer"),
                "digest" => (AuthScheme::Digest, "digest"),
                // Keep odd scheme tokens short and printable: they come from the wire.
                _ => (AuthScheme::Other(sanitize_scheme(&token)), "auth"),
            }
        }
        CredentialSource::ApiKeyHeader | CredentialSource::ApiKeyQuery => {
            (AuthScheme::ApiKey, "key")
        }
        CredentialSource::Cookie => (AuthScheme::Cookie, "cookie"),
    };
    let secret: Cow<'_, [u8]> = match raw.source {
        // Basic: fingerprint the user name only, so a password change keeps the consumer.
        CredentialSource::Authorization if scheme == AuthScheme::Basic => {
            basic_user(raw.secret).map_or(Cow::Borrowed(raw.secret), Cow::Owned)
        }
        CredentialSource::ApiKeyQuery => {
            let text = String::from_utf8_lossy(raw.secret);
            Cow::Owned(
                crate::engine::target::decode_component(&text)
                    .into_owned()
                    .into_bytes(),
            )
        }
        _ => Cow::Borrowed(raw.secret),
    };
    let id = match scheme {
        AuthScheme::Bearer => oauth_client(&secret, cfg),
        _ => None,
    }
    .unwrap_or_else(|| cfg.fingerprint(kind, &secret));
    (id, scheme)
}

/// The client address a request is attributed to: the TCP peer, or the forwarded client when
/// the configuration trusts forwarded headers (from these peers).
pub fn client_address<H: HeaderLike>(headers: &[H], peer: IpAddr, cfg: &ConsumerConfig) -> String {
    if cfg.trust_forwarded {
        forwarded_client(headers, peer, cfg).unwrap_or_else(|| peer.to_string())
    } else {
        peer.to_string()
    }
}

/// Identify the caller and the authentication scheme of a request.
pub fn identify(
    req: &RequestHead,
    query: &[(String, String)],
    peer: IpAddr,
    cfg: &ConsumerConfig,
) -> (Consumer, AuthScheme) {
    identify_with_tls(req, query, peer, None, cfg)
}

/// [`identify`], plus the subject of the TLS client certificate when the capture layer saw the
/// handshake (TLS 1.2 and earlier send it in clear). The certificate outranks every header
/// credential: presenting it proved possession of its key, which no header claim does.
///
/// Hook for the reconstruction layer: pass the subject (RFC 4514 string) once the exchange
/// carries TLS metadata; until then callers pass `None`.
pub fn identify_with_tls(
    req: &RequestHead,
    query: &[(String, String)],
    peer: IpAddr,
    tls_client_subject: Option<&str>,
    cfg: &ConsumerConfig,
) -> (Consumer, AuthScheme) {
    let address = client_address(&req.headers, peer, cfg);
    let cert = tls_client_subject
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| match safe_label(s, MAX_LABEL * 2) {
            Some(label) => format!("tls:{label}"),
            None => format!("tls:#{}", cfg.hex_fingerprint(s.as_bytes())),
        });
    // `query` holds decoded pairs; encode what decoding would change so that the raw-pair
    // lookup sees them as a request would carry them.
    let encoded: Vec<(String, String)> = query
        .iter()
        .map(|(k, v)| (encode_component(k), encode_component(v)))
        .collect();
    let pairs = encoded.iter().map(|(k, v)| (k.as_str(), v.as_str()));
    match find_credential(&req.headers, pairs) {
        Some(raw) => {
            let (id, scheme) = resolve_credential(cfg, &raw);
            let credential = Some(cert.unwrap_or(id));
            (
                Consumer {
                    address,
                    credential,
                },
                scheme,
            )
        }
        None => (
            Consumer {
                address,
                credential: cert,
            },
            AuthScheme::None,
        ),
    }
}

/// Percent-encode `%` and `+` so that [`crate::engine::target::decode_component`] gives `s`
/// back.
fn encode_component(s: &str) -> String {
    s.replace('%', "%25").replace('+', "%2B")
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

/// The original client from `Forwarded: for=` (RFC 7239) or `X-Forwarded-For`.
///
/// Without a proxy list: the first (leftmost) address. With one: nothing unless the TCP peer
/// is a listed proxy; then the rightmost hop that is not a listed proxy, since only the hops
/// our own proxies appended can be believed. A hop that is not an address (`unknown`, an
/// obfuscated identifier) stops the walk: what is left of it cannot be attributed.
fn forwarded_client<H: HeaderLike>(
    headers: &[H],
    peer: IpAddr,
    cfg: &ConsumerConfig,
) -> Option<String> {
    let mut hops: Vec<Option<IpAddr>> = Vec::new();
    let text = |name: &str| {
        find_header(headers, name)
            .and_then(|h| std::str::from_utf8(h.value()).ok())
            .map(str::trim)
    };
    if let Some(v) = text("forwarded") {
        for element in v.split(',').take(MAX_FORWARDED_HOPS) {
            for part in element.split(';') {
                let part = part.trim();
                if part.len() > 4 && part[..4].eq_ignore_ascii_case("for=") {
                    hops.push(parse_forwarded_addr(part[4..].trim_matches('"')));
                }
            }
        }
    }
    if hops.is_empty() {
        let v = text("x-forwarded-for")?;
        hops = v
            .split(',')
            .take(MAX_FORWARDED_HOPS)
            .map(|h| parse_forwarded_addr(h.trim()))
            .collect();
    }
    if cfg.trusted_proxies.is_empty() {
        return hops.into_iter().find_map(|h| h).map(|ip| ip.to_string());
    }
    if !cfg.is_trusted_proxy(peer) {
        return None;
    }
    let mut last = None;
    for hop in hops.iter().rev() {
        let ip = (*hop)?;
        last = Some(ip);
        if !cfg.is_trusted_proxy(ip) {
            break;
        }
    }
    last.map(|ip| ip.to_string())
}

/// The OAuth client a JWT bearer token names, read without verifying the signature:
/// `oauth:<client>@<issuer host>` when the client id is a safe label, else a keyed fingerprint
/// of issuer and client (or issuer and `sub` when no client claim exists: `sub` may be a
/// person). `None` when the token is not a readable JWT.
fn oauth_client(token: &[u8], cfg: &ConsumerConfig) -> Option<String> {
    use base64::engine::{
        general_purpose::GeneralPurpose, DecodePaddingMode, GeneralPurposeConfig,
    };
    use base64::Engine;
    const B64URL: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::URL_SAFE,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    if token.len() > MAX_JWT_BYTES {
        return None;
    }
    let mut parts = token.split(|b| *b == b'.');
    let (header, payload) = (parts.next()?, parts.next()?);
    parts.next()?;
    let header: serde_json::Value = serde_json::from_slice(&B64URL.decode(header).ok()?).ok()?;
    header.get("alg")?.as_str()?;
    let claims: serde_json::Value = serde_json::from_slice(&B64URL.decode(payload).ok()?).ok()?;
    let claim = |name: &str| {
        claims
            .get(name)
            .and_then(|v| v.as_str())
            .filter(|s| !s.is_empty())
    };
    let iss = claim("iss").unwrap_or("");
    let client = ["client_id", "azp", "cid", "appid"]
        .iter()
        .find_map(|c| claim(c));
    match client {
        Some(client) => {
            let issuer = issuer_host(iss).and_then(|h| safe_label(h, MAX_LABEL));
            match (safe_label(client, MAX_LABEL), issuer) {
                (Some(c), Some(i)) => Some(format!("oauth:{c}@{i}")),
                (Some(c), None) if iss.is_empty() => Some(format!("oauth:{c}")),
                _ => Some(format!(
                    "oauth:#{}",
                    cfg.hex_fingerprint(format!("{iss}\0{client}").as_bytes())
                )),
            }
        }
        None => {
            let sub = claim("sub")?;
            Some(format!(
                "oauth:#{}",
                cfg.hex_fingerprint(format!("{iss}\0sub\0{sub}").as_bytes())
            ))
        }
    }
}

/// `https://auth.bank.example/realms/x` -> `auth.bank.example`.
fn issuer_host(iss: &str) -> Option<&str> {
    let rest = iss.split_once("://").map_or(iss, |(_, r)| r);
    let host = rest.split(['/', '?', '#']).next()?;
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    (!host.is_empty()).then_some(host)
}

/// `s` when it is fit to appear in a report as a consumer label: printable ASCII from a small
/// set (letters, digits, space and `._:,=/+-_`), at most `max` bytes, no `@` (e-mail addresses
/// are personal data) and no run of 8 or more digits (account, card and phone numbers need
/// that many). Anything else is fingerprinted instead: a label is wire data chosen by the
/// caller, and a caller could put anything in a claim.
pub fn safe_label(s: &str, max: usize) -> Option<String> {
    let ok_chars = s
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b" ._:,=/+-_".contains(&b));
    let mut run = 0usize;
    let long_digits = s.bytes().any(|b| {
        run = if b.is_ascii_digit() { run + 1 } else { 0 };
        run >= 8
    });
    (!s.is_empty() && s.len() <= max && ok_chars && !long_digits).then(|| s.to_string())
}

/// What a consumer id says, for reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerInfo {
    /// `tls_client`, `oauth_client`, `api_key`, `basic`, `bearer`, `digest`, `cookie`,
    /// `other_auth`, `address` (or `unknown` for ids from elsewhere).
    pub kind: &'static str,
    /// The readable identity (client id and issuer, certificate subject, address), when the id
    /// carries one; `None` for fingerprints.
    pub label: Option<String>,
    /// The identity comes from claims nobody checked (a JWT read without its signature).
    pub unverified: bool,
}

/// Kind, label and verification status of a consumer id made by [`identify_with_tls`].
pub fn describe(id: &str) -> ConsumerInfo {
    let (prefix, value) = id.split_once(':').unwrap_or(("", id));
    let kind = match prefix {
        "tls" => "tls_client",
        "oauth" => "oauth_client",
        "key" => "api_key",
        "basic" => "basic",
        "bearer" => "bearer",
        "digest" => "digest",
        "cookie" => "cookie",
        "auth" => "other_auth",
        "addr" => "address",
        // An open-banking TPP named by its certificate (`analyzer::openbanking`).
        "tpp" => "tpp",
        _ => "unknown",
    };
    let label = match kind {
        "tls_client" | "oauth_client" | "address" | "tpp" if !value.starts_with('#') => {
            Some(value.to_string())
        }
        _ => None,
    };
    ConsumerInfo {
        kind,
        label,
        unverified: kind == "oauth_client",
    }
}

fn parse_forwarded_addr(addr: &str) -> Option<IpAddr> {
    let bare = addr.trim_start_matches('[');
    let bare = bare.split(']').next().unwrap_or(bare);
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Some(ip);
    }
    // `1.2.3.4:5678`
    addr.rsplit_once(':')
        .and_then(|(ip, _)| ip.parse::<IpAddr>().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exchange::{Header, HttpVersion};

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

    fn jwt(claims: serde_json::Value, sig: &str) -> String {
        use base64::Engine;
        let enc = |v: &serde_json::Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
        };
        let header = serde_json::json!({"alg": "PS256", "typ": "JWT"});
        format!("{}.{}.{sig}", enc(&header), enc(&claims))
    }

    fn bearer(token: &str) -> RequestHead {
        req(&[("Authorization", &format!("Bearer {token}"))])
    }

    /// One set of claims, one closure of asserts on the consumer id.
    macro_rules! oauth {
        ($name:ident, $claims:tt, |$id:ident| $body:block) => {
            #[test]
            fn $name() {
                let cfg = ConsumerConfig::new(b"s", false);
                let (c, auth) = identify(
                    &bearer(&jwt(serde_json::json!($claims), "sig")),
                    &[],
                    peer(),
                    &cfg,
                );
                assert_eq!(auth, AuthScheme::Bearer);
                let $id = c.credential.unwrap();
                $body
            }
        };
    }

    oauth!(oauth_client_id_and_issuer_name_the_consumer,
    {"iss": "https://auth.bank.example/realm", "client_id": "acme-tpp-1", "sub": "acme-tpp-1"},
    |id| {
        assert_eq!(id, "oauth:acme-tpp-1@auth.bank.example");
        let info = describe(&id);
        assert_eq!((info.kind, info.unverified), ("oauth_client", true));
        assert_eq!(info.label.as_deref(), Some("acme-tpp-1@auth.bank.example"));
    });

    oauth!(oauth_azp_when_no_client_id, {"iss": "https://idp.example", "azp": "mobile-app"}, |id| {
        assert_eq!(id, "oauth:mobile-app@idp.example");
    });

    oauth!(oauth_sub_only_is_fingerprinted, {"iss": "https://idp.example", "sub": "jane.doe"}, |id| {
        assert!(id.starts_with("oauth:#") && !id.contains("jane"), "{id}");
        assert_eq!(describe(&id).label, None);
    });

    oauth!(oauth_unsafe_client_ids_are_fingerprinted,
    {"iss": "https://idp.example", "client_id": "4111111111111111"},
    |id| {
        assert!(id.starts_with("oauth:#") && !id.contains("4111"), "{id}");
    });

    oauth!(oauth_email_client_id_is_fingerprinted,
    {"iss": "https://idp.example", "client_id": "jane@example.com"},
    |id| {
        assert!(id.starts_with("oauth:#") && !id.contains("jane"), "{id}");
    });

    #[test]
    fn rotating_tokens_of_one_client_are_one_consumer() {
        let cfg = ConsumerConfig::new(b"s", false);
        let claims = |iat: u64| serde_json::json!({"iss": "https://a.example", "client_id": "tpp", "iat": iat});
        let a = identify(&bearer(&jwt(claims(1), "x1")), &[], peer(), &cfg).0;
        let b = identify(&bearer(&jwt(claims(2), "x2")), &[], peer(), &cfg).0;
        assert_eq!(a.id(), b.id());
        // Not a JWT, or claims without any identity: the token's own fingerprint.
        let (c, _) = identify(&bearer("opaque-token-value"), &[], peer(), &cfg);
        assert!(c.id().starts_with("bearer:"));
        let (c, _) = identify(
            &bearer(&jwt(serde_json::json!({"iat": 1}), "s")),
            &[],
            peer(),
            &cfg,
        );
        assert!(c.id().starts_with("bearer:"));
        let long = jwt(
            serde_json::json!({"client_id": "tpp", "pad": "x".repeat(MAX_JWT_BYTES)}),
            "s",
        );
        let (c, _) = identify(&bearer(&long), &[], peer(), &cfg);
        assert!(
            c.id().starts_with("bearer:"),
            "over-long tokens are not decoded"
        );
    }

    #[test]
    fn tls_client_certificate_outranks_headers() {
        let cfg = ConsumerConfig::new(b"s", false);
        let subject = Some("CN=acme-tpp,O=Acme Ltd,C=GB");
        let (c, auth) = identify_with_tls(&bearer("tok-abcdefgh"), &[], peer(), subject, &cfg);
        assert_eq!(
            (c.id().as_str(), auth),
            ("tls:CN=acme-tpp,O=Acme Ltd,C=GB", AuthScheme::Bearer)
        );
        let (c, auth) = identify_with_tls(&req(&[]), &[], peer(), subject, &cfg);
        assert_eq!(auth, AuthScheme::None);
        assert_eq!(describe(&c.id()).kind, "tls_client");
        let (c, _) = identify_with_tls(
            &req(&[]),
            &[],
            peer(),
            Some("emailAddress=a@b.example"),
            &cfg,
        );
        assert!(c.id().starts_with("tls:#"), "{}", c.id());
    }

    #[test]
    fn describe_kinds() {
        for (id, kind, label) in [
            ("addr:10.0.0.1", "address", Some("10.0.0.1")),
            ("key:0011223344556677", "api_key", None),
            ("basic:0011223344556677", "basic", None),
            ("cookie:00", "cookie", None),
            ("oauth:#0011", "oauth_client", None),
            ("weird", "unknown", None),
        ] {
            let info = describe(id);
            assert_eq!((info.kind, info.label.as_deref()), (kind, label), "{id}");
        }
    }

    #[test]
    fn trusted_proxies_limit_forwarded_headers() {
        let settings = ConsumerSettings {
            trust_forwarded: true,
            trusted_proxies: vec!["10.0.0.0/24".into(), "192.0.2.7".into()],
        };
        let cfg = ConsumerConfig::from_settings(b"s", &settings).unwrap();
        let r = req(&[("X-Forwarded-For", "198.51.100.1, 203.0.113.9, 192.0.2.7")]);
        // Peer is a listed proxy: the rightmost hop that is not one of ours.
        assert_eq!(identify(&r, &[], peer(), &cfg).0.address, "203.0.113.9");
        // Peer is not: the header could be anyone's.
        let outsider: IpAddr = "172.16.0.1".parse().unwrap();
        assert_eq!(identify(&r, &[], outsider, &cfg).0.address, "172.16.0.1");
        let r = req(&[("Forwarded", "for=198.51.100.1, for=unknown;proto=https")]);
        assert_eq!(
            identify(&r, &[], peer(), &cfg).0.address,
            "10.0.0.7",
            "unknown hop stops the walk"
        );
        let bad = ConsumerSettings {
            trust_forwarded: true,
            trusted_proxies: vec!["10.0.0.0/33".into()],
        };
        assert!(matches!(
            ConsumerConfig::from_settings(b"s", &bad),
            Err(ConsumerSettingsError::BadProxy(_))
        ));
        let net = IpNet::parse("2001:db8::/32").unwrap();
        assert!(
            net.contains("2001:db8::1".parse().unwrap())
                && !net.contains("2001:db9::1".parse().unwrap())
        );
        assert!(IpNet::parse("0.0.0.0/0")
            .unwrap()
            .contains("8.8.8.8".parse().unwrap()));
        assert!(IpNet::parse("10.0.0.7")
            .unwrap()
            .contains("::ffff:10.0.0.7".parse().unwrap()));
    }

    #[test]
    fn safe_labels() {
        assert!(safe_label("acme<tpp>", 64).is_none());
        assert_eq!(safe_label("acme_tpp", 64).as_deref(), Some("acme_tpp"));
        assert_eq!(safe_label("acme-tpp-1", 64).as_deref(), Some("acme-tpp-1"));
        assert!(safe_label("acct 12345678", 64).is_none());
        assert!(safe_label("1234567", 64).is_some());
        assert!(safe_label(&"a".repeat(65), 64).is_none());
        assert!(safe_label("x\ny", 64).is_none());
    }

    #[test]
    fn odd_scheme_tokens_are_sanitised() {
        let cfg = ConsumerConfig::new(b"s", false);
        let (_, auth) = identify(&req(&[("Authorization", "<script>x y")]), &[], peer(), &cfg);
        assert_eq!(auth, AuthScheme::Other("scriptx".into()));
    }
}
