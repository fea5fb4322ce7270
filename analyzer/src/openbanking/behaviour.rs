//! Each consumer against its own history (`consumer_anomaly`): per endpoint and consumer, the
//! activity of every time bucket (packet time / `bucket_secs`): exchanges, error responses,
//! client addresses and user agents (keyed fingerprints); and per bearer token the addresses it
//! came from. Buckets are kept in the endpoint's [`super::record::ObRecord`] and merge as sums
//! and unions, so a baseline grows across a capture in `scan` and across windows and agents on
//! the collector, and both derive the same findings.
//!
//! Checks, each with the baseline and the observed values side by side:
//! - `new_consumer`: a consumer first seen on a sensitive capability after the endpoint already
//!   had `baseline_buckets` buckets of history without it;
//! - `volume_jump`: a bucket with at least `min_volume` exchanges and `volume_factor` times the
//!   consumer's mean over at least `baseline_buckets` earlier active buckets;
//! - `new_data_class`: a data class in the responses of a bucket that the consumer's history
//!   (at least `baseline_buckets` active buckets and `min_looked` classified responses) never
//!   showed; under sampled learning a class the consumer pulls only now and then can be missed
//!   in its history;
//! - `token_many_addresses`: one bearer token from more than `max_token_addresses` client
//!   addresses on one host (sharing or theft).

use super::capability::capability_of;
use super::ObSettings;
use crate::finding::{finding_id, Evidence, Finding, FindingKind, Severity};
use crate::inventory::Inventory;
use crate::observation::EndpointKey;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Consumers tracked per endpoint.
pub const MAX_CONSUMERS: usize = 256;
/// Buckets kept per consumer and endpoint (the newest; a week of hours).
pub const MAX_BUCKETS: usize = 168;
/// Addresses and user agents kept per bucket.
pub const MAX_ADDRESSES: usize = 64;
pub const MAX_AGENTS: usize = 16;
/// Data classes kept per bucket.
pub const MAX_CLASSES: usize = 32;
/// Tokens tracked per endpoint.
pub const MAX_TOKENS: usize = 4096;

/// `[findings.openbanking.anomaly]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnomalySettings {
    pub enabled: bool,
    /// Width of a baseline bucket, seconds of packet time.
    pub bucket_secs: u32,
    /// Buckets of history needed before a consumer is judged (and before a newcomer counts
    /// as new).
    pub baseline_buckets: u32,
    /// A bucket this many times the consumer's mean is a jump...
    pub volume_factor: u32,
    /// ...when it also has at least this many exchanges.
    pub min_volume: u64,
    /// More client addresses than this for one token is an anomaly.
    pub max_token_addresses: u32,
    /// Classified responses a consumer's history needs before a data class new to it counts.
    pub min_looked: u64,
    /// Capabilities where a new consumer is a finding.
    pub sensitive: Vec<String>,
}

impl Default for AnomalySettings {
    fn default() -> Self {
        AnomalySettings {
            enabled: false,
            bucket_secs: 3600,
            baseline_buckets: 3,
            volume_factor: 5,
            min_volume: 20,
            max_token_addresses: 5,
            min_looked: 3,
            sensitive: [
                "payment_initiation",
                "vrp",
                "funds_confirmation",
                "account_information",
            ]
            .map(String::from)
            .to_vec(),
        }
    }
}

/// One consumer's activity in one bucket on one endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Activity {
    pub exchanges: u64,
    /// Responses 4xx/5xx (the status mix).
    pub errors: u64,
    /// Keyed fingerprints of client addresses and user agents.
    pub addresses: BTreeSet<String>,
    pub agents: BTreeSet<String>,
    /// Exchanges whose response was classified, and the data classes found in those.
    pub looked: u64,
    pub classes: BTreeSet<String>,
    /// Addresses or agents that did not fit.
    pub overflow: u64,
}

/// A bearer token's use on one endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TokenUse {
    /// The consumers that presented it (normally one).
    pub consumers: BTreeSet<String>,
    pub addresses: BTreeSet<String>,
    pub exchanges: u64,
}

/// What one exchange adds.
#[derive(Debug, Clone, Default)]
pub struct Sighting<'a> {
    pub bucket: i64,
    pub consumer: &'a str,
    pub error: bool,
    pub address: Option<&'a str>,
    pub agent: Option<&'a str>,
    pub token: Option<&'a str>,
    pub looked: bool,
    pub classes: &'a [&'a str],
}

/// The behaviour part of an endpoint's lens record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Behaviour {
    /// Consumer -> bucket -> activity.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub consumers: BTreeMap<String, BTreeMap<i64, Activity>>,
    /// Keyed token fingerprint -> use.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub tokens: BTreeMap<String, TokenUse>,
    /// Consumers, buckets or tokens that did not fit.
    #[serde(skip_serializing_if = "is_zero")]
    pub overflow: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn add_capped(
    set: &mut BTreeSet<String>,
    items: impl IntoIterator<Item = String>,
    cap: usize,
) -> u64 {
    let mut over = 0;
    for v in items {
        if set.len() < cap || set.contains(&v) {
            set.insert(v);
        } else {
            over += 1;
        }
    }
    over
}

impl Activity {
    fn merge(&mut self, o: &Activity) {
        self.exchanges = self.exchanges.saturating_add(o.exchanges);
        self.errors = self.errors.saturating_add(o.errors);
        self.looked = self.looked.saturating_add(o.looked);
        let over = add_capped(
            &mut self.addresses,
            o.addresses.iter().cloned(),
            MAX_ADDRESSES,
        ) + add_capped(&mut self.agents, o.agents.iter().cloned(), MAX_AGENTS)
            + add_capped(&mut self.classes, o.classes.iter().cloned(), MAX_CLASSES);
        self.overflow = self
            .overflow
            .saturating_add(o.overflow)
            .saturating_add(over);
    }
}

impl Behaviour {
    pub fn is_empty(&self) -> bool {
        *self == Behaviour::default()
    }

    /// Add one exchange.
    pub fn add(&mut self, s: &Sighting<'_>) {
        let mut one = Behaviour::default();
        let mut a = Activity {
            exchanges: 1,
            errors: u64::from(s.error),
            ..Activity::default()
        };
        a.addresses.extend(s.address.map(str::to_string));
        a.agents.extend(s.agent.map(str::to_string));
        a.looked = u64::from(s.looked);
        a.classes
            .extend(s.classes.iter().take(MAX_CLASSES).map(|c| c.to_string()));
        one.consumers
            .insert(s.consumer.to_string(), BTreeMap::from([(s.bucket, a)]));
        if let Some(t) = s.token {
            let mut u = TokenUse {
                exchanges: 1,
                ..TokenUse::default()
            };
            u.consumers.insert(s.consumer.to_string());
            u.addresses.extend(s.address.map(str::to_string));
            one.tokens.insert(t.to_string(), u);
        }
        self.merge(&one);
    }

    /// Fold `other` in (commutative and associative: sums, unions, and for buckets the newest
    /// [`MAX_BUCKETS`] kept, which any order of merges agrees on).
    pub fn merge(&mut self, other: &Behaviour) {
        let mut over = other.overflow;
        for (consumer, buckets) in &other.consumers {
            if !self.consumers.contains_key(consumer) && self.consumers.len() >= MAX_CONSUMERS {
                over += 1;
                continue;
            }
            let mine = self.consumers.entry(consumer.clone()).or_default();
            for (b, a) in buckets {
                mine.entry(*b).or_default().merge(a);
            }
            while mine.len() > MAX_BUCKETS {
                mine.pop_first();
                over += 1;
            }
        }
        for (token, u) in &other.tokens {
            if !self.tokens.contains_key(token) && self.tokens.len() >= MAX_TOKENS {
                over += 1;
                continue;
            }
            let mine = self.tokens.entry(token.clone()).or_default();
            mine.exchanges = mine.exchanges.saturating_add(u.exchanges);
            over += add_capped(&mut mine.consumers, u.consumers.iter().cloned(), MAX_AGENTS);
            over += add_capped(
                &mut mine.addresses,
                u.addresses.iter().cloned(),
                MAX_ADDRESSES,
            );
        }
        self.overflow = self.overflow.saturating_add(over);
    }
}

/// Every `consumer_anomaly` finding of `inv`.
pub fn anomalies(inv: &Inventory, settings: &ObSettings) -> Vec<Finding> {
    let a = &settings.anomaly;
    let mut out = Vec::new();
    if !a.enabled {
        return out;
    }
    // host -> token -> (consumers, addresses, endpoints)
    type TokenSpread<'i> = (BTreeSet<&'i str>, BTreeSet<&'i str>, BTreeSet<String>, u64);
    let mut tokens: BTreeMap<&str, BTreeMap<&str, TokenSpread<'_>>> = BTreeMap::new();
    for (key, rec) in &inv.endpoints {
        let Some(b) = rec.openbanking.as_deref().map(|ob| &ob.behaviour) else {
            continue;
        };
        let capability = capability_of(&settings.capabilities, &key.method, &key.path);
        let sensitive = capability
            .as_deref()
            .is_some_and(|c| a.sensitive.iter().any(|s| s == c));
        let endpoint_first = b.consumers.values().filter_map(|m| m.keys().next()).min();
        for (consumer, buckets) in &b.consumers {
            let ctx = Ctx {
                key,
                consumer,
                capability: capability.as_deref().unwrap_or("none"),
                settings: a,
            };
            if let (true, Some(&first), Some(&ep_first)) =
                (sensitive, buckets.keys().next(), endpoint_first)
            {
                if first - ep_first >= i64::from(a.baseline_buckets) {
                    out.push(ctx.new_consumer(buckets, b, first, ep_first));
                }
            }
            out.extend(ctx.volume_jump(buckets));
            out.extend(ctx.new_data_class(buckets));
        }
        for (token, u) in &b.tokens {
            let e = tokens
                .entry(&key.host)
                .or_default()
                .entry(token)
                .or_default();
            e.0.extend(u.consumers.iter().map(String::as_str));
            e.1.extend(u.addresses.iter().map(String::as_str));
            e.2.insert(format!("{} {}", key.method, key.path));
            e.3 += u.exchanges;
        }
    }
    for (host, by_token) in tokens {
        for (token, (consumers, addresses, endpoints, n)) in by_token {
            if addresses.len() > a.max_token_addresses as usize {
                let spread = Spread {
                    token,
                    consumers: &consumers,
                    addresses: addresses.len(),
                    exchanges: n,
                };
                out.push(token_spread(host, &spread, endpoints, a));
            }
        }
    }
    out
}

struct Ctx<'a> {
    key: &'a EndpointKey,
    consumer: &'a str,
    capability: &'a str,
    settings: &'a AnomalySettings,
}

fn bucket_start(bucket: i64, secs: u32) -> String {
    Timestamp::from_secs_micros(bucket.saturating_mul(i64::from(secs)), 0).rfc3339()
}

/// Sum of a bucket range's activity.
fn summary<'a>(activities: impl Iterator<Item = &'a Activity>) -> (u64, u64, usize, usize, u64) {
    let mut addresses = BTreeSet::new();
    let mut agents = BTreeSet::new();
    let (mut n, mut errors, mut buckets) = (0u64, 0u64, 0u64);
    for a in activities {
        n += a.exchanges;
        errors += a.errors;
        buckets += 1;
        addresses.extend(a.addresses.iter());
        agents.extend(a.agents.iter());
    }
    (n, errors, addresses.len(), agents.len(), buckets)
}

fn values(pairs: &[(&str, String)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

impl Ctx<'_> {
    fn finding(
        &self,
        check: &str,
        severity: Severity,
        detail: String,
        reason: &str,
        (baseline, observed): (BTreeMap<String, String>, BTreeMap<String, String>),
        exchanges: u64,
    ) -> Finding {
        let key = self.key;
        Finding {
            id: finding_id(
                FindingKind::ConsumerAnomaly,
                &key.host,
                Some(&key.method),
                Some(&key.path),
                &format!("{}|{check}", self.consumer),
            ),
            kind: FindingKind::ConsumerAnomaly,
            severity,
            host: key.host.clone(),
            method: Some(key.method.clone()),
            path: Some(key.path.clone()),
            operation_id: None,
            detail,
            severity_reason: reason.to_string(),
            confidence: 1.0,
            evidence: Evidence {
                exchanges: Some(exchanges),
                capability: Some(self.capability.to_string()),
                tpps: BTreeMap::from([(self.consumer.to_string(), exchanges)]),
                counts: BTreeMap::from([(check.to_string(), 1)]),
                consumer: Some(self.consumer.to_string()),
                baseline,
                observed,
                ..Evidence::default()
            },
        }
    }

    fn new_consumer(
        &self,
        buckets: &BTreeMap<i64, Activity>,
        b: &Behaviour,
        first: i64,
        ep_first: i64,
    ) -> Finding {
        let before = b
            .consumers
            .values()
            .filter(|m| m.keys().next().is_some_and(|f| *f < first))
            .count();
        let (n, errors, addresses, agents, active) = summary(buckets.values());
        let secs = self.settings.bucket_secs;
        self.finding(
            "new_consumer",
            Severity::High,
            format!(
                "{} is new on {} ({}): first seen {}, after {} bucket(s) of history with \
                 {before} other consumer(s)",
                self.consumer,
                self.capability,
                self.key.path,
                bucket_start(first, secs),
                first - ep_first
            ),
            "high: a consumer never seen before reached a sensitive capability",
            (
                values(&[
                    ("endpoint_since", bucket_start(ep_first, secs)),
                    ("history_buckets", (first - ep_first).to_string()),
                    ("consumers", before.to_string()),
                    ("this_consumer_exchanges", "0".into()),
                ]),
                values(&[
                    ("first_seen", bucket_start(first, secs)),
                    ("active_buckets", active.to_string()),
                    ("exchanges", n.to_string()),
                    ("errors", errors.to_string()),
                    ("addresses", addresses.to_string()),
                    ("user_agents", agents.to_string()),
                ]),
            ),
            n,
        )
    }

    /// The first bucket with a data class the consumer's history never showed.
    fn new_data_class(&self, buckets: &BTreeMap<i64, Activity>) -> Option<Finding> {
        let s = self.settings;
        let (list, need) = judged(buckets, s);
        for (i, (bucket, act)) in list.iter().enumerate().skip(need) {
            let history = list.get(..i)?;
            let looked: u64 = history.iter().map(|(_, a)| a.looked).sum();
            if looked < s.min_looked {
                continue;
            }
            let known: BTreeSet<&str> = history
                .iter()
                .flat_map(|(_, a)| a.classes.iter().map(String::as_str))
                .collect();
            let new: Vec<&str> = act
                .classes
                .iter()
                .map(String::as_str)
                .filter(|c| !known.contains(c))
                .collect();
            if new.is_empty() {
                continue;
            }
            let secs = s.bucket_secs;
            let before = if known.is_empty() {
                "none".to_string()
            } else {
                known.iter().copied().collect::<Vec<_>>().join(", ")
            };
            return Some(self.finding(
                "new_data_class",
                Severity::High,
                format!(
                    "{} pulled {} in the bucket from {}, never seen in its {looked} classified \
                     response(s) before",
                    self.consumer,
                    new.join(", "),
                    bucket_start(**bucket, secs)
                ),
                "high: a consumer suddenly receives a data class it never did",
                (
                    values(&[
                        ("since", bucket_start(*history[0].0, secs)),
                        ("classified_responses", looked.to_string()),
                        ("classes", before),
                    ]),
                    values(&[
                        ("bucket", bucket_start(**bucket, secs)),
                        ("new_classes", new.join(", ")),
                        ("classified_responses", act.looked.to_string()),
                        ("exchanges", act.exchanges.to_string()),
                    ]),
                ),
                act.exchanges,
            ));
        }
        None
    }

    /// The first bucket whose volume jumps beyond the consumer's own history.
    fn volume_jump(&self, buckets: &BTreeMap<i64, Activity>) -> Option<Finding> {
        let s = self.settings;
        let (list, need) = judged(buckets, s);
        for (i, (bucket, act)) in list.iter().enumerate().skip(need) {
            let history = list.get(..i)?;
            let total: u64 = history.iter().map(|(_, a)| a.exchanges).sum();
            let mean_x = total.div_ceil(history.len() as u64).max(1);
            if act.exchanges < s.min_volume
                || act.exchanges < mean_x.saturating_mul(u64::from(s.volume_factor))
            {
                continue;
            }
            let (n, errors, addresses, agents, active) = summary(history.iter().map(|(_, a)| *a));
            let max = history.iter().map(|(_, a)| a.exchanges).max().unwrap_or(0);
            let mean = n as f64 / active.max(1) as f64;
            let secs = s.bucket_secs;
            return Some(self.finding(
                "volume_jump",
                Severity::Medium,
                format!(
                    "{} made {} call(s) in the bucket from {}, against a mean of {mean:.1} \
                     (max {max}) over its {active} earlier bucket(s)",
                    self.consumer,
                    act.exchanges,
                    bucket_start(**bucket, secs)
                ),
                "medium: a consumer far beyond its own history (bulk harvesting, a leaked \
                 credential)",
                (
                    values(&[
                        ("active_buckets", active.to_string()),
                        ("since", bucket_start(*history[0].0, secs)),
                        ("mean_per_bucket", format!("{mean:.1}")),
                        ("max_per_bucket", max.to_string()),
                        ("errors", errors.to_string()),
                        ("addresses", addresses.to_string()),
                        ("user_agents", agents.to_string()),
                    ]),
                    values(&[
                        ("bucket", bucket_start(**bucket, secs)),
                        ("exchanges", act.exchanges.to_string()),
                        ("errors", act.errors.to_string()),
                        ("addresses", act.addresses.len().to_string()),
                        ("user_agents", act.agents.len().to_string()),
                    ]),
                ),
                act.exchanges,
            ));
        }
        None
    }
}

/// A consumer's buckets in time order, and the index from which a bucket has enough history
/// (`baseline_buckets` earlier active buckets) to be judged.
fn judged<'b>(
    buckets: &'b BTreeMap<i64, Activity>,
    s: &AnomalySettings,
) -> (Vec<(&'b i64, &'b Activity)>, usize) {
    let need = usize::try_from(s.baseline_buckets)
        .unwrap_or(usize::MAX)
        .max(1);
    (buckets.iter().collect(), need)
}

/// One token's use across a host.
struct Spread<'a> {
    token: &'a str,
    consumers: &'a BTreeSet<&'a str>,
    addresses: usize,
    exchanges: u64,
}

fn token_spread(
    host: &str,
    spread: &Spread<'_>,
    endpoints: BTreeSet<String>,
    s: &AnomalySettings,
) -> Finding {
    let Spread {
        token,
        consumers,
        addresses,
        exchanges,
    } = *spread;
    let who = consumers.iter().copied().collect::<Vec<_>>().join(", ");
    Finding {
        id: finding_id(FindingKind::ConsumerAnomaly, host, None, None, token),
        kind: FindingKind::ConsumerAnomaly,
        severity: Severity::High,
        host: host.to_string(),
        method: None,
        path: None,
        operation_id: None,
        detail: format!(
            "one token of {who} was presented from {addresses} client addresses (more than {})",
            s.max_token_addresses
        ),
        severity_reason: "high: one token from many addresses is shared or stolen".into(),
        confidence: 1.0,
        evidence: Evidence {
            exchanges: Some(exchanges),
            endpoints: endpoints.into_iter().collect(),
            tpps: consumers
                .iter()
                .map(|c| (c.to_string(), exchanges))
                .collect(),
            counts: BTreeMap::from([("token_many_addresses".to_string(), 1)]),
            consumer: consumers.iter().next().map(|c| c.to_string()),
            baseline: values(&[("max_addresses_per_token", s.max_token_addresses.to_string())]),
            observed: values(&[
                ("token", token.to_string()),
                ("addresses", addresses.to_string()),
            ]),
            ..Evidence::default()
        },
    }
}
