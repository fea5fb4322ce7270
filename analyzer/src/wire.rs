//! The agent -> collector batch format (version 1), the one definition both ends use.
//!
//! A [`Batch`] is one agent's aggregate of one packet-time window: an [`Inventory`] flattened to
//! a list (JSON maps need string keys, [`EndpointKey`] is a struct), the window's TLS hosts
//! ([`TlsInventory`], so the collector derives the same `shadow_host` findings as `scan`) and
//! capture counter deltas. The TLS part is optional on the wire: batches from older agents
//! still decode (version 1 is unchanged, only extended).
//! It carries `(agent_id, epoch, seq)`: the collector applies a batch only when that pair is
//! above the agent's high-water mark, so resending is harmless (at-least-once delivery,
//! exactly-once effect). Like every inventory, a batch holds names, shapes, labels, counts,
//! masked previews and keyed fingerprints only: never a raw value.
//!
//! This module is pure (serde types, encoding, validation). Transport, TLS and storage live in
//! the agent and collector crates. Decoding is for hostile input: size is capped by the caller
//! before parsing, and [`Batch::validate`] checks every count against [`WireLimits`].

use crate::inventory::{EndpointRecord, HostRecord, Inventory, InventoryLimits};
use crate::observation::EndpointKey;
use crate::time::Timestamp;
use crate::tls::{TlsInventory, TlsLimits};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The batch format version this build writes and reads.
pub const WIRE_VERSION: u32 = 1;

/// Path of the ingest endpoint on the collector.
pub const INGEST_PATH: &str = "/v1/batches";

/// Content type of an encoded batch.
pub const CONTENT_TYPE: &str = "application/json";

/// Response header in which the collector states its largest accepted batch in bytes, so agents
/// split their batches to fit rather than learn it from a refusal.
pub const MAX_BATCH_HEADER: &str = "x-shadowtap-max-batch-bytes";

/// Bounds a decoded batch must respect (the collector refuses the rest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireLimits {
    /// Largest accepted encoded batch in bytes (checked by the transport before parsing).
    pub max_bytes: usize,
    pub max_endpoints: usize,
    pub max_hosts: usize,
    /// Per endpoint: names in any one map (params, fields, consumers, classes...).
    pub max_names: usize,
    /// Longest string anywhere a name is expected (host, path, parameter, agent id...).
    pub max_name_len: usize,
    pub max_counters: usize,
    /// Largest count any one batch may claim (exchanges, statuses, bytes of bodies, hits...).
    /// 2^40 is a day of a 100 Gbit/s link at ten million exchanges a second; a claim above it
    /// is a hostile or broken agent, and merging it could push shared totals to overflow.
    pub max_count: u64,
    /// Largest capture counter (packets, bytes...) in one batch: 2^56 bytes is a year at
    /// 100 Gbit/s.
    pub max_counter_value: u64,
}

impl Default for WireLimits {
    fn default() -> Self {
        let inv = InventoryLimits::default();
        WireLimits {
            max_bytes: 16 << 20,
            max_endpoints: inv.max_endpoints,
            max_hosts: inv.max_endpoints,
            max_names: inv.max_names,
            max_name_len: 4096,
            max_counters: 256,
            max_count: 1 << 40,
            max_counter_value: 1 << 56,
        }
    }
}

/// One endpoint of the inventory, flattened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EndpointEntry {
    pub key: EndpointKey,
    pub record: EndpointRecord,
}

/// Every inventory field but the endpoints, typed: the same JSON keys [`Inventory`] writes.
/// Also the collector's export record of them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InventoryShell {
    #[serde(default)]
    pub hosts: BTreeMap<String, HostRecord>,
    #[serde(default)]
    pub dropped_observations: u64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub timeline: BTreeMap<i64, u64>,
}

impl InventoryShell {
    /// The shell of `inv` (copies its hosts and timeline).
    pub fn of(inv: &Inventory) -> InventoryShell {
        InventoryShell {
            hosts: inv.hosts.clone(),
            dropped_observations: inv.dropped_observations,
            timeline: inv.timeline.clone(),
        }
    }
}

/// An inventory as a JSON-friendly document (also the collector's `/v1/inventory` body):
/// `endpoints` flattened to a list, the other inventory fields under their own names, and the
/// TLS hosts of the same traffic under `tls` (absent when none: batches of agents that predate
/// it read the same).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InventoryDoc {
    pub endpoints: Vec<EndpointEntry>,
    #[serde(default)]
    pub hosts: BTreeMap<String, HostRecord>,
    #[serde(default)]
    pub dropped_observations: u64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub timeline: BTreeMap<i64, u64>,
    #[serde(default, skip_serializing_if = "TlsInventory::is_empty")]
    pub tls: TlsInventory,
}

impl InventoryDoc {
    /// The document of `inv` and `tls`, moved (no copy of the records).
    pub fn new(inv: Inventory, tls: TlsInventory) -> InventoryDoc {
        InventoryDoc {
            endpoints: inv
                .endpoints
                .into_iter()
                .map(|(key, record)| EndpointEntry { key, record })
                .collect(),
            hosts: inv.hosts,
            dropped_observations: inv.dropped_observations,
            timeline: inv.timeline,
            tls,
        }
    }

    /// The document of `inv` without TLS hosts (copies the records).
    pub fn from_inventory(inv: &Inventory) -> InventoryDoc {
        InventoryDoc::new(inv.clone(), TlsInventory::default())
    }

    /// Rebuild the inventory under `limits`. Everything is merged (not inserted), so a document
    /// listing one endpoint twice still gives one record, and the caps still hold.
    pub fn to_inventory(&self, limits: InventoryLimits) -> Inventory {
        let mut out = Inventory::new(limits);
        for (name, rec) in &self.hosts {
            out.merge_host(name, rec);
        }
        out.dropped_observations = self.dropped_observations;
        for (minute, n) in &self.timeline {
            out.merge_minute(*minute, *n);
        }
        for e in &self.endpoints {
            out.merge_endpoint(&e.key, &e.record);
        }
        out
    }

    /// The TLS hosts under `limits` (merged, so the caps hold).
    pub fn to_tls(&self, limits: TlsLimits) -> TlsInventory {
        let mut out = TlsInventory::new(limits);
        out.merge(&self.tls);
        out
    }
}

/// What one batch carries, before it is numbered: the inventory of a window, its TLS hosts,
/// and the capture counter deltas. [`split_to_fit`] cuts it into parts that add up to it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Payload {
    pub inventory: Inventory,
    pub tls: TlsInventory,
    pub counters: BTreeMap<String, u64>,
}

/// One agent's aggregate of one window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Batch {
    pub version: u32,
    /// The sending agent; must equal the identity of its client certificate.
    pub agent_id: String,
    /// Incremented each time the agent starts (persisted in its spool).
    pub epoch: u64,
    /// Per epoch, from 0, one per batch made.
    pub seq: u64,
    /// 32 hex digits drawn at random each time the agent starts: the collector keeps one
    /// high-water mark per run, so a restarted agent whose spool was wiped (or whose clock went
    /// back, repeating an epoch) never has its new batches taken for resends. Empty from agents
    /// that predate it (then `(epoch, seq)` alone orders).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub run_id: String,
    /// Packet-time window the observations fall in.
    pub window_start: Timestamp,
    pub window_end: Timestamp,
    /// Observations aggregated into this batch.
    pub observations: u64,
    pub inventory: InventoryDoc,
    /// Capture counter deltas for the window (packets, bytes, drops, flows, ...).
    pub counters: BTreeMap<String, u64>,
}

/// Why an encoded batch was refused. Every variant names what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("batch is {size} bytes, over the {max}-byte limit")]
    TooLarge { size: usize, max: usize },
    #[error("batch is not valid JSON for wire version {WIRE_VERSION}: {0}")]
    Malformed(String),
    #[error("batch has wire version {0}, this build reads version {WIRE_VERSION}")]
    Version(u32),
    #[error("batch {what} is {got}, over the limit of {max}")]
    OverLimit {
        what: &'static str,
        got: usize,
        max: usize,
    },
    #[error("batch agent id is invalid: {0}")]
    AgentId(String),
    #[error("batch run id {0:?} is not 32 lowercase hex digits")]
    RunId(String),
    #[error("batch {what} claims {got}, over the plausible maximum of {max} for one batch")]
    Implausible {
        what: &'static str,
        got: u64,
        max: u64,
    },
}

/// The collector's answer to an accepted (or already applied) batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AckStatus {
    /// Applied now.
    Accepted,
    /// Already applied earlier (at or below the agent's high-water mark): nothing changed.
    Duplicate,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    pub status: AckStatus,
    pub agent_id: String,
    pub epoch: u64,
    pub seq: u64,
}

/// The body of every refusal: one sentence naming what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
}

/// Whether `id` may name an agent: 1..=256 bytes of `[A-Za-z0-9._:@-]`, so it is safe in keys,
/// file names, metrics labels and log lines.
pub fn valid_agent_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 256
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b':' | b'@'))
}

impl Batch {
    /// A batch of `inv` for the given header.
    pub fn new(
        agent_id: &str,
        epoch: u64,
        seq: u64,
        inv: &Inventory,
        counters: BTreeMap<String, u64>,
    ) -> Batch {
        Batch::of_payload(
            agent_id,
            epoch,
            seq,
            Payload {
                inventory: inv.clone(),
                tls: TlsInventory::default(),
                counters,
            },
        )
    }

    /// A batch of `payload` (moved: no copy of its records).
    pub fn of_payload(agent_id: &str, epoch: u64, seq: u64, payload: Payload) -> Batch {
        let inv = payload.inventory;
        // The packet-time extent of HTTP hosts and TLS handshakes alike (a window of
        // handshakes only still has one).
        let http = inv.hosts.values().flat_map(|h| [h.first_seen, h.last_seen]);
        let tls = payload
            .tls
            .hosts
            .values()
            .flat_map(|h| h.first_seen.into_iter().chain(h.last_seen));
        let (window_start, window_end) = http
            .chain(tls)
            .fold(None, |acc: Option<(Timestamp, Timestamp)>, t| match acc {
                Some((a, b)) => Some((a.min(t), b.max(t))),
                None => Some((t, t)),
            })
            .unwrap_or_default();
        Batch {
            version: WIRE_VERSION,
            agent_id: agent_id.to_string(),
            epoch,
            seq,
            run_id: String::new(),
            window_start,
            window_end,
            observations: inv.exchanges().saturating_add(inv.dropped_observations),
            inventory: InventoryDoc::new(inv, payload.tls),
            counters: payload.counters,
        }
    }

    /// The same batch, stamped with the agent's run id.
    pub fn with_run_id(mut self, run_id: &str) -> Batch {
        self.run_id = run_id.to_string();
        self
    }

    /// JSON bytes. Serialising plain data with string keys cannot fail; the fallback keeps the
    /// signature total without a panic.
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Parse and validate hostile bytes.
    pub fn decode(bytes: &[u8], limits: &WireLimits) -> Result<Batch, WireError> {
        if bytes.len() > limits.max_bytes {
            return Err(WireError::TooLarge {
                size: bytes.len(),
                max: limits.max_bytes,
            });
        }
        // Read the version first so a newer agent gets "version" rather than a field error.
        #[derive(Deserialize)]
        struct Head {
            version: u32,
        }
        let head: Head =
            serde_json::from_slice(bytes).map_err(|e| WireError::Malformed(e.to_string()))?;
        if head.version != WIRE_VERSION {
            return Err(WireError::Version(head.version));
        }
        let batch: Batch =
            serde_json::from_slice(bytes).map_err(|e| WireError::Malformed(e.to_string()))?;
        batch.validate(limits)?;
        Ok(batch)
    }

    /// Check every count and name length against `limits`.
    pub fn validate(&self, limits: &WireLimits) -> Result<(), WireError> {
        if !valid_agent_id(&self.agent_id) {
            return Err(WireError::AgentId(format!(
                "{:?} (1-256 characters of A-Z a-z 0-9 . _ - : @)",
                truncate(&self.agent_id, 64)
            )));
        }
        if !self.run_id.is_empty() && !valid_run_id(&self.run_id) {
            return Err(WireError::RunId(truncate(&self.run_id, 64).to_string()));
        }
        let over = |what: &'static str, got: usize, max: usize| {
            if got > max {
                Err(WireError::OverLimit { what, got, max })
            } else {
                Ok(())
            }
        };
        over(
            "endpoint count",
            self.inventory.endpoints.len(),
            limits.max_endpoints,
        )?;
        let doc = &self.inventory;
        over("host count", doc.hosts.len(), limits.max_hosts)?;
        over("TLS host count", doc.tls.hosts.len(), limits.max_hosts)?;
        over("counter count", self.counters.len(), limits.max_counters)?;
        self.check_counts(limits)?;
        let len = limits.max_name_len;
        for name in doc
            .hosts
            .keys()
            .chain(self.counters.keys())
            .chain(doc.tls.hosts.keys())
        {
            over("name length", name.len(), len)?;
        }
        for h in doc.tls.hosts.values() {
            let names = limits.max_names;
            for (what, n) in [
                ("ALPN values per TLS host", h.alpn.len()),
                ("JA4 fingerprints per TLS host", h.ja4.len()),
                (
                    "server certificates per TLS host",
                    h.server_cert_subjects.len(),
                ),
                (
                    "client certificates per TLS host",
                    h.client_cert_subjects.len(),
                ),
                ("consumers per TLS host", h.consumers.len()),
            ] {
                over(what, n, names)?;
            }
            let all = h
                .alpn
                .iter()
                .chain(&h.ja4)
                .chain(&h.server_cert_subjects)
                .chain(&h.client_cert_subjects)
                .chain(h.consumers.keys());
            for name in all {
                over("name length", name.len(), len)?;
            }
        }
        for e in &self.inventory.endpoints {
            let k = &e.key;
            for s in [&k.host, &k.method, &k.path] {
                over("endpoint key length", s.len(), len)?;
            }
            let r = &e.record;
            let names = limits.max_names;
            for (what, n) in [
                ("statuses per endpoint", r.statuses.len()),
                ("query params per endpoint", r.query_params.len()),
                ("header params per endpoint", r.header_params.len()),
                ("request fields per endpoint", r.request_fields.len()),
                ("response fields per endpoint", r.response_fields.len()),
                (
                    "request content types per endpoint",
                    r.request_content_types.len(),
                ),
                (
                    "response content types per endpoint",
                    r.response_content_types.len(),
                ),
                ("data classes per endpoint", r.data_classes.len()),
                ("consumers per endpoint", r.consumers.len()),
                ("auth schemes per endpoint", r.auth.len()),
                ("anomalies per endpoint", r.anomalies.len()),
                ("message kinds per endpoint", r.messages.len()),
                ("SOAP actions per endpoint", r.soap_actions.len()),
                (
                    "SOAP operations per endpoint",
                    r.soap.as_ref().map_or(0, |s| s.operations.len()),
                ),
                (
                    "SOAP versions per endpoint",
                    r.soap.as_ref().map_or(0, |s| s.versions.len()),
                ),
            ] {
                over(what, n, names)?;
            }
            let locations: usize = r.data_classes.values().map(BTreeMap::len).sum();
            over("data-class locations per endpoint", locations, names)?;
            let all_names = r
                .query_params
                .keys()
                .chain(r.header_params.keys())
                .chain(r.request_fields.keys())
                .chain(r.response_fields.keys())
                .chain(r.request_content_types.keys())
                .chain(r.response_content_types.keys())
                .chain(r.consumers.keys())
                .chain(r.auth.keys())
                .chain(r.anomalies.keys())
                .chain(r.messages.keys())
                .chain(r.soap_actions.keys())
                .chain(
                    r.soap
                        .iter()
                        .flat_map(|s| s.operations.keys().chain(s.versions.keys())),
                )
                .chain(r.data_classes.keys());
            for name in all_names {
                over("name length", name.len(), len)?;
            }
            for locs in r.data_classes.values() {
                for (loc, stat) in locs {
                    over("name length", loc.len(), len)?;
                    over("preview length", stat.preview.len(), len)?;
                }
            }
        }
        Ok(())
    }

    /// Every count against `limits.max_count` (capture counters against
    /// `max_counter_value`): counts are summed across agents at the collector, so one agent's
    /// absurd claim must be refused before it can saturate or skew everyone's totals.
    fn check_counts(&self, limits: &WireLimits) -> Result<(), WireError> {
        let doc = &self.inventory;
        let most = |what: &'static str, got: u64, max: u64| {
            if got > max {
                Err(WireError::Implausible { what, got, max })
            } else {
                Ok(())
            }
        };
        let max = limits.max_count;
        most("observations", self.observations, max)?;
        most("dropped observations", doc.dropped_observations, max)?;
        for v in self.counters.values() {
            most("capture counter", *v, limits.max_counter_value)?;
        }
        for h in doc.hosts.values() {
            most("host exchanges", h.exchanges, max)?;
        }
        for v in doc.timeline.values() {
            most("timeline exchanges", *v, max)?;
        }
        most("TLS connections without SNI", doc.tls.without_sni, max)?;
        most("TLS hosts dropped", doc.tls.dropped_hosts, max)?;
        for h in doc.tls.hosts.values() {
            most("TLS host connections", h.connections, max)?;
            most("TLS names dropped", h.dropped_names, max)?;
            for v in h.consumers.values() {
                most("per-name count", *v, max)?;
            }
        }
        for e in &self.inventory.endpoints {
            let r = &e.record;
            for (what, v) in [
                ("endpoint exchanges", r.exchanges),
                ("complete exchanges", r.complete_exchanges),
                ("exchanges without response", r.no_response),
                ("name overflow", r.overflow),
                ("request bodies learned", r.bodies.request.learned),
                ("request bodies skipped", r.bodies.request.skipped),
                ("request bodies prefiltered", r.bodies.request.prefiltered),
                ("request body bytes", r.bodies.request.bytes),
                ("response bodies learned", r.bodies.response.learned),
                ("response bodies skipped", r.bodies.response.skipped),
                ("response bodies prefiltered", r.bodies.response.prefiltered),
                ("response body bytes", r.bodies.response.bytes),
            ] {
                // Body bytes may exceed exchanges by far; the byte bound still applies.
                let bound = if what.ends_with("bytes") {
                    limits.max_counter_value
                } else {
                    max
                };
                most(what, v, bound)?;
            }
            let per_name = r
                .statuses
                .values()
                .chain(r.query_params.values())
                .chain(r.header_params.values())
                .chain(r.request_content_types.values())
                .chain(r.response_content_types.values())
                .chain(r.consumers.values())
                .chain(r.auth.values())
                .chain(r.anomalies.values())
                .chain(
                    r.data_classes
                        .values()
                        .flat_map(|locs| locs.values().map(|s| &s.count)),
                );
            for v in per_name {
                most("per-name count", *v, max)?;
            }
        }
        Ok(())
    }

    /// The batch's inventory under `limits`.
    pub fn to_inventory(&self, limits: InventoryLimits) -> Inventory {
        self.inventory.to_inventory(limits)
    }

    /// The batch's whole payload (inventory, TLS hosts, counters) under the given limits.
    pub fn to_payload(&self, limits: InventoryLimits, tls: TlsLimits) -> Payload {
        Payload {
            inventory: self.inventory.to_inventory(limits),
            tls: self.inventory.to_tls(tls),
            counters: self.counters.clone(),
        }
    }
}

/// Whether `id` is a run id as agents draw them: 32 lowercase hex digits.
pub fn valid_run_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Split `payload` into parts whose encoded size, as `size` measures it, is at most
/// `max_bytes`, halving endpoints, hosts and TLS hosts until each part fits. The counters, the
/// timeline and the dropped counts ride with the first part, so the parts sum to the whole. A
/// part that cannot be split further (one endpoint, one host, one TLS host) is returned even if
/// it is still too large: the caller decides what to do with it.
pub fn split_to_fit(
    payload: Payload,
    max_bytes: usize,
    size: &dyn Fn(&Payload) -> usize,
) -> Vec<Payload> {
    let mut done = Vec::new();
    let mut todo = vec![payload];
    while let Some(p) = todo.pop() {
        let single = p.inventory.endpoints.len() <= 1
            && p.inventory.hosts.len() <= 1
            && p.tls.hosts.len() <= 1;
        if single || size(&p) <= max_bytes {
            done.push(p);
            continue;
        }
        let (first, second) = halve(p);
        // Pushed second first so parts come out in key order.
        todo.push(second);
        todo.push(first);
    }
    done
}

/// Two payloads that merge back into `p`: endpoints, hosts and TLS hosts split at their
/// middle keys; every count stays with the first.
fn halve(mut p: Payload) -> (Payload, Payload) {
    let mut second = Payload {
        inventory: Inventory::new(p.inventory.limits.clone()),
        tls: TlsInventory::new(p.tls.limits),
        counters: BTreeMap::new(),
    };
    let inv = &mut p.inventory;
    if let Some(key) = inv.endpoints.keys().nth(inv.endpoints.len() / 2).cloned() {
        second.inventory.endpoints = inv.endpoints.split_off(&key);
    }
    if let Some(key) = inv.hosts.keys().nth(inv.hosts.len() / 2).cloned() {
        second.inventory.hosts = inv.hosts.split_off(&key);
    }
    let tls = &mut p.tls;
    if let Some(key) = tls.hosts.keys().nth(tls.hosts.len() / 2).cloned() {
        second.tls.hosts = tls.hosts.split_off(&key);
    }
    (p, second)
}

fn truncate(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observation::{AuthScheme, Consumer, FieldShape, FieldType, Observation};

    fn obs(path: &str, ts: i64) -> Observation {
        Observation {
            status: Some(200),
            response_content_type: Some("application/json".into()),
            query_params: vec!["q".into()],
            response_fields: vec![FieldShape {
                path: "a".into(),
                ty: FieldType::String,
            }],
            auth: AuthScheme::Bearer,
            response_body_len: 3,
            ..Observation::bare(
                Timestamp(ts),
                EndpointKey {
                    host: "api.bank".into(),
                    method: "GET".into(),
                    path: path.into(),
                },
                Consumer {
                    address: "10.0.0.1".into(),
                    credential: Some("key:0123".into()),
                },
            )
        }
    }

    fn inventory() -> Inventory {
        let mut inv = Inventory::default();
        for i in 0..5 {
            inv.add(&obs(if i % 2 == 0 { "/a" } else { "/b/{id}" }, 100 + i));
        }
        inv
    }

    #[test]
    fn round_trip_keeps_the_inventory_and_header() {
        let inv = inventory();
        let counters = BTreeMap::from([("packets".to_string(), 42)]);
        let b = Batch::new("agent-1", 3, 7, &inv, counters);
        assert_eq!(
            (b.window_start, b.window_end),
            (Timestamp(100), Timestamp(104))
        );
        assert_eq!(b.observations, 5);
        let back = Batch::decode(&b.encode(), &WireLimits::default()).expect("decodes");
        assert_eq!(back, b);
        assert_eq!(back.to_inventory(InventoryLimits::default()), inv);
    }

    /// The SOAP record travels as an additive field: a batch without it (an older agent's)
    /// still decodes, one with it round-trips, and its names are held to the limits.
    #[test]
    fn soap_records_travel_and_are_bounded() {
        let mut inv = inventory();
        let mut soap = crate::soap::SoapRecord::default();
        soap.call(&crate::soap::SoapCall {
            version: "1.1",
            operation: Some("GetCustomer"),
            fault: false,
        });
        if let Some(r) = inv.endpoints.values_mut().next() {
            r.soap = Some(Box::new(soap));
        }
        let b = Batch::new("a", 0, 0, &inv, BTreeMap::new());
        let text = String::from_utf8(b.encode()).expect("utf-8");
        assert!(text.contains(r#""soap":{"versions":{"1.1":1}"#), "{text}");
        let back = Batch::decode(text.as_bytes(), &WireLimits::default()).expect("decodes");
        assert_eq!(back.to_inventory(InventoryLimits::default()), inv);
        let old = Batch::new("a", 0, 0, &inventory(), BTreeMap::new()).encode();
        assert!(!String::from_utf8_lossy(&old).contains("\"soap\""));
        assert!(Batch::decode(&old, &WireLimits::default()).is_ok());
        let long = text.replace("GetCustomer", &"x".repeat(5000));
        assert!(matches!(
            Batch::decode(long.as_bytes(), &WireLimits::default()),
            Err(WireError::OverLimit {
                what: "name length",
                ..
            })
        ));
    }

    #[test]
    fn oversized_malformed_and_future_batches_are_refused_by_name() {
        let b = Batch::new("a", 0, 0, &inventory(), BTreeMap::new()).encode();
        let small = WireLimits {
            max_bytes: 10,
            ..WireLimits::default()
        };
        assert!(matches!(
            Batch::decode(&b, &small),
            Err(WireError::TooLarge { max: 10, .. })
        ));
        assert!(matches!(
            Batch::decode(b"{not json", &WireLimits::default()),
            Err(WireError::Malformed(_))
        ));
        let future = br#"{"version": 99}"#;
        assert_eq!(
            Batch::decode(future, &WireLimits::default()),
            Err(WireError::Version(99))
        );
        let e = Batch::decode(
            br#"{"version": 1, "agent_id": "x"}"#,
            &WireLimits::default(),
        )
        .expect_err("missing fields");
        assert!(e.to_string().contains("not valid JSON"), "{e}");
    }

    #[test]
    fn limits_and_agent_ids_are_enforced() {
        let mut b = Batch::new("a", 0, 0, &inventory(), BTreeMap::new());
        let tight = WireLimits {
            max_endpoints: 1,
            ..WireLimits::default()
        };
        assert!(matches!(
            b.validate(&tight),
            Err(WireError::OverLimit {
                what: "endpoint count",
                got: 2,
                max: 1
            })
        ));
        for bad in ["", "a b", "x/../y", &"x".repeat(257)] {
            b.agent_id = bad.to_string();
            assert!(matches!(
                b.validate(&WireLimits::default()),
                Err(WireError::AgentId(_))
            ));
        }
        b.agent_id = "agent-7.dc1@bank".into();
        assert_eq!(b.validate(&WireLimits::default()), Ok(()));
    }

    #[test]
    fn implausible_counts_and_bad_run_ids_are_refused() {
        // A batch claiming 2^64-58 exchanges used to wrap a real endpoint's merged count to 0.
        let mut b = Batch::new("a", 0, 0, &inventory(), BTreeMap::new());
        b.inventory.endpoints[0].record.exchanges = u64::MAX - 57;
        let e = Batch::decode(&b.encode(), &WireLimits::default()).expect_err("refused");
        assert!(
            matches!(
                e,
                WireError::Implausible {
                    what: "endpoint exchanges",
                    ..
                }
            ),
            "{e}"
        );
        let mut b = Batch::new("a", 0, 0, &inventory(), BTreeMap::new());
        b.inventory.endpoints[1]
            .record
            .consumers
            .insert("x".into(), 1 << 50);
        assert!(matches!(
            b.validate(&WireLimits::default()),
            Err(WireError::Implausible {
                what: "per-name count",
                ..
            })
        ));
        let mut b = Batch::new("a", 0, 0, &inventory(), BTreeMap::new());
        b.counters.insert("bytes".into(), u64::MAX);
        assert!(b.validate(&WireLimits::default()).is_err());
        let b = Batch::new("a", 0, 0, &inventory(), BTreeMap::new()).with_run_id("NOT-HEX");
        assert!(matches!(
            b.validate(&WireLimits::default()),
            Err(WireError::RunId(_))
        ));
        let b = b.with_run_id("0123456789abcdef0123456789abcdef");
        assert_eq!(b.validate(&WireLimits::default()), Ok(()));
    }

    #[test]
    fn merges_saturate_instead_of_wrapping() {
        let mut a = inventory();
        let mut b = inventory();
        for r in b.endpoints.values_mut() {
            r.exchanges = u64::MAX - 1;
        }
        a.merge(&b);
        assert!(a.endpoints.values().all(|r| r.exchanges == u64::MAX));
    }

    fn tls_hosts(n: usize) -> TlsInventory {
        let mut tls = TlsInventory::default();
        for i in 0..n {
            tls.add(&crate::tls::TlsObservation {
                ts: Timestamp(50 + i as i64),
                sni: Some(format!("t{i}.bank")),
                alpn: vec!["h2".into()],
                ja4: "t13d".into(),
                server_cert_subject: None,
                client_cert_subject: None,
                consumer: "addr:10.0.0.9".into(),
                server_alpn: None,
            });
        }
        tls.add(&crate::tls::TlsObservation {
            ts: Timestamp(60),
            sni: None,
            alpn: vec![],
            ja4: "t13d".into(),
            server_cert_subject: None,
            client_cert_subject: None,
            consumer: "addr:10.0.0.9".into(),
            server_alpn: None,
        });
        tls
    }

    #[test]
    fn tls_hosts_travel_and_older_batches_still_decode() {
        let payload = Payload {
            inventory: inventory(),
            tls: tls_hosts(3),
            counters: BTreeMap::new(),
        };
        let b = Batch::of_payload("a", 0, 0, payload.clone());
        // The TLS handshakes (t=50..) widen the packet-time window of the HTTP traffic.
        assert_eq!(b.window_start, Timestamp(50));
        let back = Batch::decode(&b.encode(), &WireLimits::default()).expect("decodes");
        let got = back.to_payload(InventoryLimits::default(), TlsLimits::default());
        assert_eq!(got, payload);
        // A batch without the `tls` key (an older agent) reads as no TLS hosts.
        let mut v: serde_json::Value = serde_json::from_slice(&b.encode()).expect("json");
        v["inventory"]
            .as_object_mut()
            .expect("object")
            .remove("tls");
        let old = Batch::decode(
            &serde_json::to_vec(&v).expect("json"),
            &WireLimits::default(),
        )
        .expect("decodes");
        assert!(old.inventory.tls.is_empty());
        // TLS names and counts are bounded like the rest.
        let mut bad = b.clone();
        if let Some(h) = bad.inventory.tls.hosts.values_mut().next() {
            h.connections = u64::MAX;
        }
        assert!(matches!(
            bad.validate(&WireLimits::default()),
            Err(WireError::Implausible {
                what: "TLS host connections",
                ..
            })
        ));
        let tight = WireLimits {
            max_hosts: 2,
            ..WireLimits::default()
        };
        assert!(matches!(
            b.validate(&tight),
            Err(WireError::OverLimit {
                what: "TLS host count",
                ..
            })
        ));
    }

    #[test]
    fn split_parts_fit_and_add_up_to_the_whole() {
        let mut inv = Inventory::default();
        for i in 0..200 {
            let mut o = obs(&format!("/p{i}"), 100 + i);
            o.endpoint.host = format!("h{}.bank", i % 50);
            inv.add(&o);
        }
        let whole = Payload {
            inventory: inv,
            tls: tls_hosts(40),
            counters: BTreeMap::from([("packets".to_string(), 999)]),
        };
        let size = |p: &Payload| Batch::of_payload("a", 0, 0, p.clone()).encode().len();
        let max = size(&whole) / 7;
        let parts = split_to_fit(whole.clone(), max, &size);
        assert!(parts.len() >= 7, "{} parts", parts.len());
        let mut sum = Inventory::default();
        let mut tls = TlsInventory::default();
        let mut packets = 0;
        for part in &parts {
            assert!(size(part) <= max);
            sum.merge(&part.inventory);
            tls.merge(&part.tls);
            packets += part.counters.get("packets").copied().unwrap_or(0);
        }
        assert_eq!(sum, whole.inventory);
        assert_eq!(tls, whole.tls);
        assert_eq!(packets, 999);
        // One endpoint and one host cannot be split: returned as it is.
        let mut single = Inventory::default();
        single.add(&obs("/only", 1));
        let single = Payload {
            inventory: single,
            ..Payload::default()
        };
        let parts = split_to_fit(single.clone(), 1, &size);
        assert_eq!(parts, vec![single]);
    }

    #[test]
    fn duplicated_entries_merge_instead_of_overwriting() {
        let inv = inventory();
        let mut doc = InventoryDoc::from_inventory(&inv);
        doc.endpoints.push(doc.endpoints[0].clone());
        let back = doc.to_inventory(InventoryLimits::default());
        assert_eq!(
            back.exchanges(),
            inv.exchanges()
                + inv
                    .endpoints
                    .values()
                    .next()
                    .map(|r| r.exchanges)
                    .unwrap_or(0)
        );
    }
}
