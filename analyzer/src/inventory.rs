//! The API inventory: mergeable per-endpoint records built from observations.
//!
//! Merging is commutative and associative (sums, unions, min/max), so inventories from many
//! capture workers, agents or collectors combine in any order to the same result. Every map is
//! bounded by [`InventoryLimits`]; what did not fit is counted in `overflow`.

use crate::observation::{EndpointKey, FieldType, Observation, TemplateSource};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Caps that keep a hostile stream of distinct names from growing the inventory without bound.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryLimits {
    pub max_endpoints: usize,
    /// Per endpoint: distinct parameter names, field paths, consumers, data-class locations.
    pub max_names: usize,
}

impl Default for InventoryLimits {
    fn default() -> Self {
        InventoryLimits {
            max_endpoints: 100_000,
            max_names: 1_000,
        }
    }
}

/// One data class at one location: how often, and one masked preview.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClassStat {
    pub count: u64,
    /// The lexicographically smallest preview seen (deterministic under merge).
    pub preview: String,
}

/// Why a path parameter was learned at inventory level ([`crate::cardinality`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateParamStat {
    /// `cardinality` (many distinct literal values at the position), `override` (a
    /// `[templating]` pattern), `typed` (a typed parameter that cardinality values joined);
    /// several when records learned differently were merged.
    pub reasons: BTreeSet<String>,
    /// Distinct literal values seen at the position when it collapsed (largest under merge).
    pub distinct: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EndpointRecord {
    pub template_source: TemplateSource,
    pub exchanges: u64,
    /// Exchanges the capture saw whole (no gap, truncation or missing half).
    pub complete_exchanges: u64,
    /// Status code -> count (exchanges without a response are counted in `no_response`).
    pub statuses: BTreeMap<u16, u64>,
    pub no_response: u64,
    pub query_params: BTreeMap<String, u64>,
    pub header_params: BTreeMap<String, u64>,
    /// Field path -> observed types.
    pub request_fields: BTreeMap<String, BTreeSet<FieldType>>,
    pub response_fields: BTreeMap<String, BTreeSet<FieldType>>,
    pub request_content_types: BTreeMap<String, u64>,
    pub response_content_types: BTreeMap<String, u64>,
    /// Class -> location -> stat.
    pub data_classes: BTreeMap<String, BTreeMap<String, ClassStat>>,
    /// Consumer id -> exchanges.
    pub consumers: BTreeMap<String, u64>,
    /// Auth scheme label -> exchanges.
    pub auth: BTreeMap<String, u64>,
    pub anomalies: BTreeMap<String, u64>,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    /// Names that did not fit under the caps.
    pub overflow: u64,
    /// Path parameter name -> why cardinality learning or an override made it one. Parameters
    /// typed per segment or declared are explained by `template_source` and are not listed.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub template_params: BTreeMap<String, TemplateParamStat>,
    /// How many bodies were learned (decoded and walked) and how many only framed, per side:
    /// field shapes and data classes come from the learned ones.
    #[serde(default, skip_serializing_if = "BodyStats::is_empty")]
    pub bodies: BodyStats,
    /// What the open-banking lens saw (TPPs, FAPI posture, consents), when it is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub openbanking: Option<Box<crate::openbanking::record::ObRecord>>,
    /// Kinds of XML document the learned bodies were -> bodies: an ISO 20022 message type
    /// (`iso20022:pain.001.001.03`), a SOAP operation (`soap1.1:{urn:bank}GetBalance`), else
    /// the document element (`xml:{ns}root`). Counts are of learned bodies, not exchanges.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub messages: BTreeMap<String, u64>,
    /// SOAP actions requests named -> exchanges (every exchange: read from the request head,
    /// `SOAPAction` for SOAP 1.1, the `action` content-type parameter for SOAP 1.2).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub soap_actions: BTreeMap<String, u64>,
    /// gRPC calls of the endpoint (`POST /package.Service/Method` over HTTP/2 with a gRPC
    /// content type): present only on gRPC endpoints, the protocol marker the outputs read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grpc: Option<Box<crate::grpc::GrpcRecord>>,
    /// SOAP calls of the endpoint by operation (see `analyzer::soap`): present only on
    /// endpoints that carried SOAP, the protocol marker the outputs read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub soap: Option<Box<crate::soap::SoapRecord>>,
    /// GraphQL operations the endpoint carried (`analyzer::graphql`): present only on GraphQL
    /// endpoints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graphql: Option<Box<crate::graphql::GraphqlRecord>>,
}

/// Body accounting of one side (request or response) of an endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BodySide {
    /// Bodies decoded and walked for field shapes and data classes.
    pub learned: u64,
    /// Bodies framed (and, when not content-coded, scanned by the prefilter) but not walked.
    pub skipped: u64,
    /// Of the learned ones, bodies walked because the prefilter saw a data class new to the
    /// endpoint in them.
    #[serde(default)]
    pub prefiltered: u64,
    /// Body bytes on the wire (after transfer decoding).
    #[serde(default)]
    pub bytes: u64,
}

impl BodySide {
    pub fn merge(&mut self, other: &BodySide) {
        // Saturating: counts come from other agents' batches (see `wire::Batch::validate`).
        self.learned = self.learned.saturating_add(other.learned);
        self.skipped = self.skipped.saturating_add(other.skipped);
        self.prefiltered = self.prefiltered.saturating_add(other.prefiltered);
        self.bytes = self.bytes.saturating_add(other.bytes);
    }
}

/// [`BodySide`] for requests and responses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BodyStats {
    pub request: BodySide,
    pub response: BodySide,
}

impl BodyStats {
    pub fn is_empty(&self) -> bool {
        *self == BodyStats::default()
    }

    pub fn merge(&mut self, other: &BodyStats) {
        self.request.merge(&other.request);
        self.response.merge(&other.response);
    }

    /// Bodies with content, learned or not.
    pub fn total(&self) -> u64 {
        self.request.learned + self.request.skipped + self.response.learned + self.response.skipped
    }

    pub fn learned(&self) -> u64 {
        self.request.learned + self.response.learned
    }

    pub fn prefiltered(&self) -> u64 {
        self.request.prefiltered + self.response.prefiltered
    }

    /// Bodies with content that were learned, out of all bodies with content, 0.0..=1.0 (1.0
    /// when there were none): how much of what the endpoint's bodies carried was looked at.
    pub fn coverage(&self) -> f64 {
        let learned = self.request.learned + self.response.learned;
        let all = learned + self.request.skipped + self.response.skipped;
        if all == 0 {
            1.0
        } else {
            learned as f64 / all as f64
        }
    }
}

impl EndpointRecord {
    fn new(obs: &Observation) -> Self {
        EndpointRecord {
            template_source: obs.template_source,
            exchanges: 0,
            complete_exchanges: 0,
            statuses: BTreeMap::new(),
            no_response: 0,
            query_params: BTreeMap::new(),
            header_params: BTreeMap::new(),
            request_fields: BTreeMap::new(),
            response_fields: BTreeMap::new(),
            request_content_types: BTreeMap::new(),
            response_content_types: BTreeMap::new(),
            data_classes: BTreeMap::new(),
            consumers: BTreeMap::new(),
            auth: BTreeMap::new(),
            anomalies: BTreeMap::new(),
            first_seen: obs.ts,
            last_seen: obs.ts,
            overflow: 0,
            template_params: BTreeMap::new(),
            bodies: BodyStats::default(),
            openbanking: None,
            messages: BTreeMap::new(),
            soap_actions: BTreeMap::new(),
            grpc: None,
            soap: None,
            graphql: None,
        }
    }

    /// Share of exchanges seen whole, 0.0..=1.0.
    pub fn confidence(&self) -> f64 {
        if self.exchanges == 0 {
            return 0.0;
        }
        self.complete_exchanges as f64 / self.exchanges as f64
    }

    /// Exchanges that carried no credential.
    pub fn unauthenticated(&self) -> u64 {
        self.auth.get("none").copied().unwrap_or(0)
    }

    /// Exchanges that carried some credential.
    pub fn authenticated(&self) -> u64 {
        self.exchanges - self.unauthenticated().min(self.exchanges)
    }

    fn add(&mut self, obs: &Observation, cap: usize) {
        self.exchanges += 1;
        if obs.complete() {
            self.complete_exchanges += 1;
        }
        match obs.status {
            Some(s) => *self.statuses.entry(s).or_default() += 1,
            None => self.no_response += 1,
        }
        let mut overflow = 0;
        for p in &obs.query_params {
            overflow += bump(&mut self.query_params, p, 1, cap);
        }
        for p in &obs.header_params {
            overflow += bump(&mut self.header_params, p, 1, cap);
        }
        for f in &obs.request_fields {
            overflow += add_type(&mut self.request_fields, &f.path, f.ty, cap);
        }
        for f in &obs.response_fields {
            overflow += add_type(&mut self.response_fields, &f.path, f.ty, cap);
        }
        if let Some(ct) = &obs.request_content_type {
            overflow += bump(&mut self.request_content_types, ct, 1, cap);
        }
        if let Some(ct) = &obs.response_content_type {
            overflow += bump(&mut self.response_content_types, ct, 1, cap);
        }
        for hit in &obs.data_classes {
            let stat = ClassStat {
                count: 1,
                preview: hit.preview.clone(),
            };
            overflow += add_class(&mut self.data_classes, &hit.class, &hit.location, stat, cap);
        }
        overflow += bump(&mut self.consumers, &obs.consumer.id(), 1, cap);
        overflow += bump(&mut self.auth, &obs.auth.label(), 1, cap);
        for a in &obs.anomalies {
            overflow += bump(&mut self.anomalies, a.as_str(), 1, cap);
        }
        self.first_seen = self.first_seen.min(obs.ts);
        self.last_seen = self.last_seen.max(obs.ts);
        self.overflow += overflow;
    }

    /// Fold `other` into this record (commutative; `cap` bounds every name map).
    pub fn merge(&mut self, other: &EndpointRecord, cap: usize) {
        // Declared wins: the catalogue spoke for this endpoint somewhere.
        if other.template_source == TemplateSource::Declared {
            self.template_source = TemplateSource::Declared;
        }
        // Saturating throughout: a merged count that wraps would turn a real endpoint's count
        // into a small one; one that saturates stays visibly huge.
        self.exchanges = self.exchanges.saturating_add(other.exchanges);
        self.complete_exchanges = self
            .complete_exchanges
            .saturating_add(other.complete_exchanges);
        self.no_response = self.no_response.saturating_add(other.no_response);
        for (s, n) in &other.statuses {
            let v = self.statuses.entry(*s).or_default();
            *v = v.saturating_add(*n);
        }
        let mut overflow = other.overflow;
        for (map, theirs) in [
            (&mut self.query_params, &other.query_params),
            (&mut self.header_params, &other.header_params),
            (
                &mut self.request_content_types,
                &other.request_content_types,
            ),
            (
                &mut self.response_content_types,
                &other.response_content_types,
            ),
            (&mut self.consumers, &other.consumers),
            (&mut self.auth, &other.auth),
            (&mut self.anomalies, &other.anomalies),
            (&mut self.messages, &other.messages),
            (&mut self.soap_actions, &other.soap_actions),
        ] {
            for (k, n) in theirs {
                overflow += bump(map, k, *n, cap);
            }
        }
        for (mine, theirs) in [
            (&mut self.request_fields, &other.request_fields),
            (&mut self.response_fields, &other.response_fields),
        ] {
            for (path, types) in theirs {
                for ty in types {
                    overflow += add_type(mine, path, *ty, cap);
                }
            }
        }
        for (class, locations) in &other.data_classes {
            for (location, stat) in locations {
                overflow += add_class(&mut self.data_classes, class, location, stat.clone(), cap);
            }
        }
        self.first_seen = self.first_seen.min(other.first_seen);
        self.last_seen = self.last_seen.max(other.last_seen);
        self.overflow = self.overflow.saturating_add(overflow);
        self.bodies.merge(&other.bodies);
        if let Some(theirs) = &other.openbanking {
            self.openbanking.get_or_insert_default().merge(theirs);
        }
        if let Some(theirs) = &other.grpc {
            self.grpc.get_or_insert_default().merge(theirs);
        }
        if let Some(theirs) = &other.soap {
            self.soap.get_or_insert_default().merge(theirs);
        }
        if let Some(theirs) = &other.graphql {
            self.graphql.get_or_insert_default().merge(theirs);
        }
        // Bounded by the template's parameter count, itself bounded by `MAX_SEGMENTS`.
        for (name, stat) in &other.template_params {
            let mine =
                self.template_params
                    .entry(name.clone())
                    .or_insert_with(|| TemplateParamStat {
                        reasons: BTreeSet::new(),
                        distinct: 0,
                    });
            mine.reasons.extend(stat.reasons.iter().cloned());
            mine.distinct = mine.distinct.max(stat.distinct);
        }
    }
}

/// Add `n` to `map[key]`; returns 1 when the key is new and the map is full (not added).
pub(crate) fn bump(map: &mut BTreeMap<String, u64>, key: &str, n: u64, cap: usize) -> u64 {
    if let Some(v) = map.get_mut(key) {
        *v = v.saturating_add(n);
        0
    } else if map.len() < cap {
        map.insert(key.to_string(), n);
        0
    } else {
        1
    }
}

fn add_type(
    map: &mut BTreeMap<String, BTreeSet<FieldType>>,
    path: &str,
    ty: FieldType,
    cap: usize,
) -> u64 {
    if let Some(types) = map.get_mut(path) {
        types.insert(ty);
        0
    } else if map.len() < cap {
        map.insert(path.to_string(), BTreeSet::from([ty]));
        0
    } else {
        1
    }
}

fn add_class(
    map: &mut BTreeMap<String, BTreeMap<String, ClassStat>>,
    class: &str,
    location: &str,
    stat: ClassStat,
    cap: usize,
) -> u64 {
    let total: usize = map.values().map(BTreeMap::len).sum();
    let locations = map.entry(class.to_string()).or_default();
    if let Some(s) = locations.get_mut(location) {
        s.count = s.count.saturating_add(stat.count);
        if stat.preview < s.preview {
            s.preview = stat.preview;
        }
        0
    } else if total < cap {
        locations.insert(location.to_string(), stat);
        0
    } else {
        if locations.is_empty() {
            map.remove(class);
        }
        1
    }
}

/// A host seen carrying HTTP, with when and how much.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostRecord {
    pub exchanges: u64,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
}

impl HostRecord {
    pub fn merge(&mut self, other: &HostRecord) {
        self.exchanges = self.exchanges.saturating_add(other.exchanges);
        self.first_seen = self.first_seen.min(other.first_seen);
        self.last_seen = self.last_seen.max(other.last_seen);
    }
}

/// All endpoints and hosts seen.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Inventory {
    pub endpoints: BTreeMap<EndpointKey, EndpointRecord>,
    pub hosts: BTreeMap<String, HostRecord>,
    /// Observations not recorded because `max_endpoints` was reached.
    pub dropped_observations: u64,
    /// Exchanges per packet-time minute (minutes since the Unix epoch), for traffic-over-time
    /// charts. Bounded to the latest [`TIMELINE_MINUTES`] minutes; keeping the largest keys
    /// commutes with summing, so merge stays order-independent.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub timeline: BTreeMap<i64, u64>,
    #[serde(skip)]
    pub limits: InventoryLimits,
}

/// How many minutes of [`Inventory::timeline`] are kept: one week.
pub const TIMELINE_MINUTES: usize = 7 * 24 * 60;

/// Drop the oldest minutes beyond [`TIMELINE_MINUTES`].
pub(crate) fn trim_timeline(timeline: &mut BTreeMap<i64, u64>) {
    while timeline.len() > TIMELINE_MINUTES {
        timeline.pop_first();
    }
}

impl Inventory {
    pub fn new(limits: InventoryLimits) -> Self {
        Inventory {
            limits,
            ..Inventory::default()
        }
    }

    pub fn add(&mut self, obs: &Observation) {
        let cap = self.limits.max_names;
        let minute = obs.ts.micros().div_euclid(60 * Timestamp::MICROS_PER_SEC);
        *self.timeline.entry(minute).or_default() += 1;
        trim_timeline(&mut self.timeline);
        let seen = HostRecord {
            exchanges: 1,
            first_seen: obs.ts,
            last_seen: obs.ts,
        };
        if let Some(rec) = self.endpoints.get_mut(&obs.endpoint) {
            rec.add(obs, cap);
        } else if self.endpoints.len() < self.limits.max_endpoints {
            let mut rec = EndpointRecord::new(obs);
            rec.add(obs, cap);
            self.endpoints.insert(obs.endpoint.clone(), rec);
        } else {
            self.dropped_observations += 1;
            // A host is only new with a new endpoint: past the endpoint cap, a flood of
            // distinct Host headers must not grow the host table either.
            if let Some(host) = self.hosts.get_mut(&obs.endpoint.host) {
                host.merge(&seen);
            }
            return;
        }
        match self.hosts.get_mut(&obs.endpoint.host) {
            Some(host) => host.merge(&seen),
            None => {
                self.hosts.insert(obs.endpoint.host.clone(), seen);
            }
        }
    }

    pub fn merge(&mut self, other: &Inventory) {
        for (key, rec) in &other.endpoints {
            self.merge_endpoint(key, rec);
        }
        for (name, host) in &other.hosts {
            self.merge_host(name, host);
        }
        self.dropped_observations = self
            .dropped_observations
            .saturating_add(other.dropped_observations);
        for (minute, n) in &other.timeline {
            self.merge_minute(*minute, *n);
        }
    }

    /// Fold one endpoint in (a new one past `max_endpoints` is counted as dropped).
    pub fn merge_endpoint(&mut self, key: &EndpointKey, rec: &EndpointRecord) {
        if let Some(mine) = self.endpoints.get_mut(key) {
            mine.merge(rec, self.limits.max_names);
        } else if self.endpoints.len() < self.limits.max_endpoints {
            self.endpoints.insert(key.clone(), rec.clone());
        } else {
            self.dropped_observations = self.dropped_observations.saturating_add(rec.exchanges);
        }
    }

    /// Fold one host in. Hosts are capped like endpoints (their exchanges are already counted
    /// in `dropped_observations` when their endpoints did not fit).
    pub fn merge_host(&mut self, name: &str, host: &HostRecord) {
        let room = self.hosts.len() < self.limits.max_endpoints;
        match self.hosts.get_mut(name) {
            Some(mine) => mine.merge(host),
            None if room => {
                self.hosts.insert(name.to_string(), host.clone());
            }
            None => {}
        }
    }

    /// Add `n` exchanges to one timeline minute (the oldest minutes beyond the cap go).
    pub fn merge_minute(&mut self, minute: i64, n: u64) {
        let v = self.timeline.entry(minute).or_default();
        *v = v.saturating_add(n);
        trim_timeline(&mut self.timeline);
    }

    /// First and last packet time of any observation, if any.
    pub fn window(&self) -> Option<(Timestamp, Timestamp)> {
        let first = self.hosts.values().map(|h| h.first_seen).min()?;
        let last = self.hosts.values().map(|h| h.last_seen).max()?;
        Some((first, last))
    }

    pub fn exchanges(&self) -> u64 {
        self.endpoints.values().map(|e| e.exchanges).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observation::{Consumer, DataClassHit, FieldShape};

    fn obs(path: &str, ts: i64, status: u16, who: &str) -> Observation {
        Observation {
            status: Some(status),
            response_content_type: Some("application/json".into()),
            query_params: vec!["q".into()],
            response_fields: vec![FieldShape {
                path: "a".into(),
                ty: FieldType::String,
            }],
            data_classes: vec![DataClassHit {
                class: "email".into(),
                location: "response.body.a".into(),
                preview: format!("{who}***@example.com"),
            }],
            response_body_len: 10,
            ..Observation::bare(
                Timestamp(ts),
                EndpointKey {
                    host: "h".into(),
                    method: "GET".into(),
                    path: path.into(),
                },
                Consumer {
                    address: who.into(),
                    credential: None,
                },
            )
        }
    }

    #[test]
    fn add_counts_and_times() {
        let mut inv = Inventory::default();
        inv.add(&obs("/a", 5, 200, "x"));
        inv.add(&obs("/a", 3, 404, "y"));
        let rec = &inv.endpoints.values().next().unwrap();
        assert_eq!(rec.exchanges, 2);
        assert_eq!(rec.statuses, BTreeMap::from([(200, 1), (404, 1)]));
        assert_eq!(
            (rec.first_seen, rec.last_seen),
            (Timestamp(3), Timestamp(5))
        );
        assert_eq!(rec.consumers.len(), 2);
        assert_eq!(
            rec.data_classes["email"]["response.body.a"].preview,
            "x***@example.com"
        );
        assert_eq!(inv.window(), Some((Timestamp(3), Timestamp(5))));
        assert_eq!(inv.timeline, BTreeMap::from([(0, 2)]));
    }

    #[test]
    fn timeline_keeps_the_latest_minutes_whatever_the_merge_order() {
        let minute = 60 * Timestamp::MICROS_PER_SEC;
        let (mut old, mut new) = (Inventory::default(), Inventory::default());
        for m in 0..TIMELINE_MINUTES as i64 {
            old.add(&obs("/a", m * minute, 200, "x"));
        }
        new.add(&obs("/a", TIMELINE_MINUTES as i64 * minute, 200, "x"));
        new.add(&obs("/a", 5 * minute, 200, "y"));
        let mut on = old.clone();
        on.merge(&new);
        let mut no = new.clone();
        no.merge(&old);
        assert_eq!(on.timeline, no.timeline);
        assert_eq!(on.timeline.len(), TIMELINE_MINUTES);
        // Minute 0 fell off the front; minute 5 kept both of its exchanges.
        assert!(!on.timeline.contains_key(&0));
        assert_eq!(on.timeline[&5], 2);
    }

    #[test]
    fn merge_is_commutative_and_matches_adding_everything_once() {
        let all: Vec<Observation> = (0..20)
            .map(|i| {
                obs(
                    if i % 3 == 0 { "/a" } else { "/b" },
                    i,
                    200 + (i % 2) as u16,
                    &format!("c{}", i % 4),
                )
            })
            .collect();
        let mut whole = Inventory::default();
        all.iter().for_each(|o| whole.add(o));
        let (mut left, mut right) = (Inventory::default(), Inventory::default());
        all[..7].iter().for_each(|o| left.add(o));
        all[7..].iter().for_each(|o| right.add(o));
        let mut lr = left.clone();
        lr.merge(&right);
        let mut rl = right.clone();
        rl.merge(&left);
        assert_eq!(lr, rl);
        assert_eq!(lr, whole);
    }

    #[test]
    fn caps_hold_and_count() {
        let mut inv = Inventory::new(InventoryLimits {
            max_endpoints: 2,
            max_names: 3,
        });
        for i in 0..10 {
            let mut o = obs(&format!("/p{}", i % 5), i, 200, &format!("c{i}"));
            o.query_params = vec![format!("q{i}")];
            inv.add(&o);
        }
        assert_eq!(inv.endpoints.len(), 2);
        assert_eq!(inv.dropped_observations, 6);
        for rec in inv.endpoints.values() {
            assert!(rec.consumers.len() <= 3 && rec.query_params.len() <= 3);
        }
    }
}
