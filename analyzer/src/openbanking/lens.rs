//! The capture side of the lens: what one exchange says about TPP identity, FAPI posture and
//! consent, found in its heads, and added to the endpoint's [`ObRecord`].
//!
//! Certificates and tokens are parsed once per distinct value per worker (bounded caches keyed
//! by a keyed hash, so the value itself is not kept); interaction ids and consent ids are
//! compared and fingerprinted in memory, never stored raw.

use super::cert::TppCert;
use super::record::ObRecord;
use super::{consent, forwarded, token, Lens};
use crate::consumer::ConsumerConfig;
use crate::exchange::{find_header, header_value, HeaderLike};
use crate::time::Timestamp;
use crate::FastMap;
use std::hash::{BuildHasher, Hasher};
use std::net::IpAddr;
use std::sync::Arc;

/// Distinct certificate header values and tokens remembered per worker (emptied when full).
const CACHE: usize = 4096;

/// A parsed certificate as the lens keeps it: labels and a thumbprint only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    pub cert: TppCert,
    /// `tpp:<organisation id>`, or `tpp:#<fingerprint>` when the certificate names none fit
    /// to show.
    pub tpp: String,
    /// `cert:<keyed fingerprint>`.
    pub fingerprint: String,
}

/// What a request's interaction id was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interaction {
    Missing,
    Invalid,
    /// A UUID; its keyed hash, to compare with the response's.
    Valid(u64),
}

/// How a bearer token is bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binding {
    /// No bearer JWT (another scheme, or an opaque token nothing can be said of).
    NotJwt,
    Unbound,
    /// Bound; whether it matched the presented certificate (`None`: no certificate seen).
    Bound(Option<bool>),
}

/// One exchange's open-banking facts, from the request head and then the response head.
#[derive(Debug, Clone)]
pub struct Facts {
    pub cert: Option<Arc<CertInfo>>,
    /// The consumer id the request's credential gave, kept under the TPP.
    pub client: Option<String>,
    pub interaction: Interaction,
    pub echoed: Option<bool>,
    pub signed: bool,
    pub binding: Binding,
    /// Keyed fingerprint of the consent referenced (header, path, token claim; a request
    /// body's once it has been read).
    pub consent: Option<String>,
    /// The request creates a consent ([`consent::creates_consent`]): its response body is read.
    pub creates_consent: bool,
    /// Keyed fingerprint of the consent the response created.
    pub created: Option<String>,
    /// What the behaviour baseline needs (anomaly checks on only).
    pub track: Option<Box<Track>>,
}

/// An exchange's part in its consumer's behaviour baseline: keyed fingerprints only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Track {
    pub bucket_secs: u32,
    pub address: String,
    pub agent: Option<String>,
    pub token: Option<String>,
}

/// Per-worker lens state: the caches and their counters.
#[derive(Debug)]
pub struct LensState {
    lens: Arc<Lens>,
    certs: FastMap<u64, Option<Arc<CertInfo>>>,
    tokens: FastMap<u64, Option<token::TokenClaims>>,
    seed: foldhash::fast::FixedState,
    /// Certificate headers ignored because the peer is not a trusted proxy.
    pub untrusted_headers: u64,
    /// Certificate headers that did not decode or parse.
    pub bad_certificates: u64,
    pub cache_resets: u64,
}

impl LensState {
    pub fn new(lens: Arc<Lens>, cfg: &ConsumerConfig) -> Self {
        LensState {
            lens,
            certs: FastMap::default(),
            tokens: FastMap::default(),
            seed: foldhash::fast::FixedState::with_seed(cfg.hash_seed()),
            untrusted_headers: 0,
            bad_certificates: 0,
            cache_resets: 0,
        }
    }

    fn hash(&self, parts: &[&[u8]]) -> u64 {
        let mut h = self.seed.build_hasher();
        for p in parts {
            h.write(p);
            h.write_u8(0xff);
        }
        h.finish()
    }

    /// The facts of a request head from `peer` (`path`: the raw path, without the query).
    pub fn request<H: HeaderLike>(
        &mut self,
        cfg: &ConsumerConfig,
        headers: &[H],
        peer: IpAddr,
        method: &str,
        path: &str,
    ) -> Facts {
        let cert = self.certificate(cfg, headers, peer);
        let interaction = match header_value(headers, "x-fapi-interaction-id") {
            None => Interaction::Missing,
            Some(v) if is_uuid(trim(v)) => Interaction::Valid(self.hash(&[trim(v)])),
            Some(_) => Interaction::Invalid,
        };
        let claims = self.bearer_claims(headers);
        let binding = match &claims {
            None => Binding::NotJwt,
            Some(c) if !c.has_cnf => Binding::Unbound,
            Some(c) => Binding::Bound(
                cert.as_ref()
                    .map(|i| c.x5t_s256.as_deref() == Some(i.cert.sha256.as_slice())),
            ),
        };
        let consent = header_value(headers, "consent-id")
            .map(trim)
            .filter(|v| !v.is_empty())
            .map(|v| cfg.fingerprint("consent", v))
            .or_else(|| consent::in_path(path).map(|c| cfg.fingerprint("consent", c.as_bytes())))
            .or_else(|| {
                claims
                    .as_ref()
                    .and_then(|c| c.consent.as_deref())
                    .map(|c| cfg.fingerprint("consent", c.as_bytes()))
            });
        Facts {
            cert,
            client: None,
            interaction,
            echoed: None,
            signed: find_header(headers, "x-jws-signature").is_some(),
            binding,
            consent,
            creates_consent: consent::creates_consent(method, path),
            created: None,
            track: self.lens.anomaly_bucket_secs.map(|bucket_secs| {
                Box::new(Track {
                    bucket_secs,
                    address: cfg.fingerprint(
                        "addr",
                        crate::consumer::client_address(headers, peer, cfg).as_bytes(),
                    ),
                    agent: header_value(headers, "user-agent").map(|v| cfg.fingerprint("ua", v)),
                    token: header_value(headers, "authorization")
                        .map(trim)
                        .filter(|v| {
                            v.get(..7)
                                .is_some_and(|s| s.eq_ignore_ascii_case(b"bearer "))
                        })
                        .map(|v| cfg.fingerprint("token", v)),
                })
            }),
        }
    }

    /// Whether the lens wants to read the body of the request that gave `facts` (to find the
    /// consent it names), or of its response (to find the consent it created).
    pub fn wants_body(facts: &Facts, response: bool) -> bool {
        if response {
            facts.creates_consent
        } else {
            facts.consent.is_none() && !facts.creates_consent
        }
    }

    /// Whether the response head answering `facts`' request echoed its interaction id
    /// (`None`: the request had no valid one to echo).
    pub fn echoed<H: HeaderLike>(&self, facts: &Facts, headers: &[H]) -> Option<bool> {
        let Interaction::Valid(sent) = facts.interaction else {
            return None;
        };
        let back = header_value(headers, "x-fapi-interaction-id").map(trim);
        Some(back.is_some_and(|b| self.hash(&[b]) == sent))
    }

    /// The certificate a trusted proxy forwarded, parsed (cached by header value).
    fn certificate<H: HeaderLike>(
        &mut self,
        cfg: &ConsumerConfig,
        headers: &[H],
        peer: IpAddr,
    ) -> Option<Arc<CertInfo>> {
        let lens = Arc::clone(&self.lens);
        let value = lens
            .certificate_headers
            .iter()
            .find_map(|name| header_value(headers, name))?;
        if !lens.trusts(peer) {
            self.untrusted_headers += 1;
            return None;
        }
        let key = self.hash(&[b"cert", value]);
        if let Some(hit) = self.certs.get(&key) {
            return hit.clone();
        }
        let info = forwarded::certificate_der(value).and_then(|der| {
            let cert = TppCert::parse(&der)?;
            let fingerprint = cfg.fingerprint("cert", &der);
            let tpp = cert
                .tpp_label()
                .unwrap_or_else(|| format!("tpp:#{}", &fingerprint["cert:".len()..]));
            Some(Arc::new(CertInfo {
                cert,
                tpp,
                fingerprint,
            }))
        });
        if info.is_none() {
            self.bad_certificates += 1;
        }
        if self.certs.len() >= CACHE {
            self.certs.clear();
            self.cache_resets += 1;
        }
        self.certs.insert(key, info.clone());
        info
    }

    /// The claims of a `Bearer` JWT (cached by token).
    fn bearer_claims<H: HeaderLike>(&mut self, headers: &[H]) -> Option<token::TokenClaims> {
        let auth = trim(header_value(headers, "authorization")?);
        let scheme = auth.get(..7)?;
        if !scheme.eq_ignore_ascii_case(b"bearer ") {
            return None;
        }
        let jwt = trim(auth.get(7..)?);
        let key = self.hash(&[b"token", jwt]);
        if let Some(hit) = self.tokens.get(&key) {
            return hit.clone();
        }
        let claims = token::claims(jwt);
        if self.tokens.len() >= CACHE {
            self.tokens.clear();
            self.cache_resets += 1;
        }
        self.tokens.insert(key, claims.clone());
        claims
    }
}

/// A request body the lens wanted: the consent it names, when the head named none.
pub fn request_body(cfg: &ConsumerConfig, facts: &mut Facts, body: &[u8]) {
    if facts.consent.is_none() {
        facts.consent = consent::in_body(body).map(|id| cfg.fingerprint("consent", id));
    }
}

/// A successful response body to a consent-creating request: the consent it created.
pub fn created_consent(cfg: &ConsumerConfig, body: &[u8]) -> Option<String> {
    consent::in_body(body).map(|id| cfg.fingerprint("consent", id))
}

/// How an exchange ended, as the behaviour baseline reads it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Outcome<'a> {
    pub status: Option<u16>,
    /// The response's body (or head) was classified, learned or flagged by the prefilter.
    pub looked: bool,
    /// Data classes found in the response.
    pub classes: &'a [&'a str],
}

/// Add one exchange's facts to its endpoint's record. `actor` is the consumer the exchange is
/// attributed to (the TPP when a certificate named one).
pub fn record(
    rec: &mut ObRecord,
    facts: &Facts,
    actor: &str,
    ts: Timestamp,
    outcome: &Outcome<'_>,
) {
    rec.first_seen = Some(rec.first_seen.map_or(ts, |f| f.min(ts)));
    let f = &mut rec.fapi;
    f.exchanges += 1;
    match facts.interaction {
        Interaction::Missing => f.interaction_id_missing += 1,
        Interaction::Invalid => f.interaction_id_invalid += 1,
        Interaction::Valid(_) => {}
    }
    if facts.echoed == Some(false) {
        f.interaction_id_not_echoed += 1;
    }
    f.signed += u64::from(facts.signed);
    match facts.binding {
        Binding::NotJwt => {}
        Binding::Unbound => {
            f.bearer_jwt += 1;
            f.bearer_unbound += 1;
        }
        Binding::Bound(m) => {
            f.bearer_jwt += 1;
            match m {
                Some(true) => f.binding_match += 1,
                Some(false) => f.binding_mismatch += 1,
                None => {}
            }
        }
    }
    match &facts.consent {
        Some(c) => rec.consent(c, actor, false),
        None => rec.fapi.without_consent += 1,
    }
    if let Some(c) = &facts.created {
        rec.consent(c, actor, true);
    }
    if let Some(t) = &facts.track {
        let secs = ts.micros().div_euclid(Timestamp::MICROS_PER_SEC);
        rec.behaviour.add(&super::behaviour::Sighting {
            bucket: secs.div_euclid(i64::from(t.bucket_secs.max(1))),
            consumer: actor,
            error: outcome.status.is_some_and(|s| s >= 400),
            looked: outcome.looked,
            classes: outcome.classes,
            address: Some(&t.address),
            agent: t.agent.as_deref(),
            token: t.token.as_deref(),
        });
    }
    let Some(info) = &facts.cert else {
        return;
    };
    let secs = ts.micros().div_euclid(Timestamp::MICROS_PER_SEC);
    let Some(stat) = rec.tpp(&info.tpp) else {
        return;
    };
    stat.exchanges += 1;
    stat.psd2 |= info.cert.psd2;
    stat.roles.extend(info.cert.roles.iter().cloned());
    if stat.nca.is_none() {
        stat.nca = match (&info.cert.nca_name, &info.cert.nca_id) {
            (Some(n), Some(i)) => Some(format!("{n} ({i})")),
            (n, i) => n.clone().or(i.clone()),
        };
    }
    if stat.organisation.is_none() {
        stat.organisation.clone_from(&info.cert.organisation);
    }
    if secs > info.cert.not_after {
        stat.expired += 1;
    } else if secs < info.cert.not_before {
        stat.not_yet_valid += 1;
    }
    if let Some(client) = &facts.client {
        rec.client(&info.tpp, client);
    }
    rec.certificate(&info.tpp, &info.fingerprint);
}

fn trim(v: &[u8]) -> &[u8] {
    v.trim_ascii()
}

/// `8-4-4-4-12` hex digits (RFC 9562 4; FAPI requires an RFC 4122 UUID).
pub fn is_uuid(v: &[u8]) -> bool {
    v.len() == 36
        && v.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}
