//! Per-endpoint aggregates keyed by ids: what every exchange adds on the count path (and what
//! learned messages add on the learn path), turned into the string-keyed [`Inventory`] only
//! when a window or a scan ends.
//!
//! The rules are [`Inventory::add`]'s, applied to ids: sums, unions, min/max, and every
//! per-endpoint map capped at `max_names` with the excess counted in `overflow`, in the same
//! order, so the conversion gives the record `Inventory::add` would have built from the same
//! exchanges.

use crate::inventory::{ClassStat, EndpointRecord, HostRecord, Inventory, InventoryLimits};
use crate::observation::{FieldType, TemplateSource};
use crate::time::Timestamp;
use crate::walk::PathId;
use crate::FastMap;
use std::collections::{BTreeMap, BTreeSet};

/// A small map of ids to counts in first-seen order, capped like the inventory's name maps.
#[derive(Debug, Clone, Default)]
pub struct Counts<K> {
    entries: Vec<(K, u64)>,
}

impl<K: PartialEq + Copy> Counts<K> {
    /// Add `n` to `key`; returns 1 when the key is new and `cap` entries exist already.
    pub fn bump(&mut self, key: K, n: u64, cap: usize) -> u64 {
        if let Some(e) = self.entries.iter_mut().find(|e| e.0 == key) {
            e.1 += n;
            0
        } else if self.entries.len() < cap {
            self.entries.push((key, n));
            0
        } else {
            1
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (K, u64)> + '_ {
        self.entries.iter().copied()
    }
}

/// Body accounting of one side of an endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BodyCounts {
    /// Bodies decoded and walked.
    pub learned: u64,
    /// Bodies framed (and scanned) but not walked.
    pub skipped: u64,
    /// Of the skipped ones, bodies the prefilter sent to the walk after all.
    pub prefiltered: u64,
    /// Body bytes on the wire (after transfer decoding).
    pub bytes: u64,
}

#[derive(Debug, Clone)]
pub struct EndpointAgg {
    pub template_source: TemplateSource,
    pub exchanges: u64,
    pub complete: u64,
    pub no_response: u64,
    pub statuses: Counts<u16>,
    pub param_sets: Counts<u32>,
    pub request_media: Counts<u32>,
    pub response_media: Counts<u32>,
    /// SOAP actions the requests named (`SOAPAction`, or SOAP 1.2's `action` parameter).
    pub soap_actions: Counts<u32>,
    pub consumers: FastMap<u32, u64>,
    pub consumer_order: Vec<u32>,
    pub auth: Counts<u32>,
    pub anomalies: [u64; 24],
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    pub overflow: u64,
    pub request_fields: FastMap<PathId, BTreeSet<FieldType>>,
    pub response_fields: FastMap<PathId, BTreeSet<FieldType>>,
    /// (class id, location id) -> stat, and the number of locations per class.
    pub classes: FastMap<(u32, u32), ClassStat>,
    pub class_locations: usize,
    pub request_bodies: BodyCounts,
    pub response_bodies: BodyCounts,
    /// Sum and count of response delays seen, microseconds.
    pub delay_sum: i64,
    pub delay_count: u64,
    pub delay_max: i64,
    /// The open-banking lens's record, when the lens is on.
    pub openbanking: Option<Box<crate::openbanking::record::ObRecord>>,
    /// Document kinds learned bodies showed (see `Learned::messages`) -> bodies.
    pub messages: BTreeMap<String, u64>,
    /// gRPC calls, on gRPC endpoints.
    pub grpc: Option<Box<crate::grpc::GrpcRecord>>,
    /// SOAP calls by operation, on SOAP endpoints.
    pub soap: Option<Box<crate::soap::SoapRecord>>,
    /// GraphQL operations, on GraphQL endpoints.
    pub graphql: Option<Box<crate::graphql::GraphqlRecord>>,
}

impl EndpointAgg {
    pub fn new(template_source: TemplateSource, ts: Timestamp) -> Self {
        EndpointAgg {
            template_source,
            exchanges: 0,
            complete: 0,
            no_response: 0,
            statuses: Counts::default(),
            param_sets: Counts::default(),
            request_media: Counts::default(),
            response_media: Counts::default(),
            soap_actions: Counts::default(),
            consumers: FastMap::default(),
            consumer_order: Vec::new(),
            auth: Counts::default(),
            anomalies: [0; 24],
            first_seen: ts,
            last_seen: ts,
            overflow: 0,
            request_fields: FastMap::default(),
            response_fields: FastMap::default(),
            classes: FastMap::default(),
            class_locations: 0,
            request_bodies: BodyCounts::default(),
            response_bodies: BodyCounts::default(),
            delay_sum: 0,
            delay_count: 0,
            delay_max: 0,
            openbanking: None,
            messages: BTreeMap::new(),
            grpc: None,
            soap: None,
            graphql: None,
        }
    }

    pub fn consumer(&mut self, id: u32, cap: usize) {
        if id == super::consumers::UNTRACKED {
            self.overflow += 1;
        } else if let Some(n) = self.consumers.get_mut(&id) {
            *n += 1;
        } else if self.consumers.len() < cap {
            self.consumers.insert(id, 1);
            self.consumer_order.push(id);
        } else {
            self.overflow += 1;
        }
    }

    /// Count a learned body's document kind; returns whether it is new for this endpoint.
    pub fn message(&mut self, label: &str, cap: usize) -> bool {
        if let Some(n) = self.messages.get_mut(label) {
            *n += 1;
            false
        } else if self.messages.len() < cap {
            self.messages.insert(label.to_string(), 1);
            true
        } else {
            self.overflow += 1;
            false
        }
    }

    /// Returns whether the (path, type) pair is new for this endpoint.
    pub fn field(&mut self, response: bool, path: PathId, ty: FieldType, cap: usize) -> bool {
        let map = if response {
            &mut self.response_fields
        } else {
            &mut self.request_fields
        };
        if let Some(types) = map.get_mut(&path) {
            types.insert(ty)
        } else if map.len() < cap {
            map.insert(path, BTreeSet::from([ty]));
            true
        } else {
            self.overflow += 1;
            false
        }
    }

    /// Returns whether the (class, location) is new for this endpoint.
    pub fn class(&mut self, class: u32, location: u32, preview: &str, cap: usize) -> bool {
        if let Some(s) = self.classes.get_mut(&(class, location)) {
            s.count += 1;
            if preview < s.preview.as_str() {
                s.preview = preview.to_string();
            }
            false
        } else if self.class_locations < cap {
            self.classes.insert(
                (class, location),
                ClassStat {
                    count: 1,
                    preview: preview.to_string(),
                },
            );
            self.class_locations += 1;
            true
        } else {
            self.overflow += 1;
            false
        }
    }
}

/// Names the ids of an aggregate stand for.
pub trait Names {
    fn param_set(&self, id: u32) -> (Vec<&str>, Vec<&str>);
    fn media(&self, id: u32) -> &str;
    fn soap_action(&self, id: u32) -> &str;
    fn consumer(&self, id: u32) -> &str;
    fn auth(&self, id: u32) -> &str;
    fn path(&self, id: PathId) -> &str;
    fn location(&self, id: u32) -> &str;
    fn class(&self, id: u32) -> &str;
}

fn bump(map: &mut BTreeMap<String, u64>, key: &str, n: u64, cap: usize) -> u64 {
    if let Some(v) = map.get_mut(key) {
        *v += n;
        0
    } else if map.len() < cap {
        map.insert(key.to_string(), n);
        0
    } else {
        // `n` exchanges each carried a name that did not fit.
        n
    }
}

impl EndpointAgg {
    /// The string-keyed record these ids stand for.
    pub fn record(&self, names: &dyn Names, cap: usize) -> EndpointRecord {
        let mut overflow = self.overflow;
        let mut query_params = BTreeMap::new();
        let mut header_params = BTreeMap::new();
        for (set, n) in self.param_sets.iter() {
            let (query, headers) = names.param_set(set);
            for q in query {
                overflow += bump(&mut query_params, q, n, cap);
            }
            for h in headers {
                overflow += bump(&mut header_params, h, n, cap);
            }
        }
        fn counts<'n>(c: &Counts<u32>, name: impl Fn(u32) -> &'n str) -> BTreeMap<String, u64> {
            c.iter().map(|(k, n)| (name(k).to_string(), n)).collect()
        }
        let anomalies = crate::exchange::Anomaly::ALL
            .iter()
            .zip(self.anomalies.iter())
            .filter(|(_, n)| **n > 0)
            .map(|(a, n)| (a.as_str().to_string(), *n))
            .collect();
        let fields = |map: &FastMap<PathId, BTreeSet<FieldType>>| {
            map.iter()
                .map(|(p, types)| (names.path(*p).to_string(), types.clone()))
                .collect::<BTreeMap<_, _>>()
        };
        let mut data_classes: BTreeMap<String, BTreeMap<String, ClassStat>> = BTreeMap::new();
        for ((class, location), stat) in &self.classes {
            data_classes
                .entry(names.class(*class).to_string())
                .or_default()
                .insert(names.location(*location).to_string(), stat.clone());
        }
        EndpointRecord {
            template_source: self.template_source,
            exchanges: self.exchanges,
            complete_exchanges: self.complete,
            statuses: self.statuses.iter().collect(),
            no_response: self.no_response,
            query_params,
            header_params,
            request_fields: fields(&self.request_fields),
            response_fields: fields(&self.response_fields),
            request_content_types: counts(&self.request_media, |k| names.media(k)),
            response_content_types: counts(&self.response_media, |k| names.media(k)),
            soap_actions: counts(&self.soap_actions, |k| names.soap_action(k)),
            data_classes,
            consumers: self
                .consumer_order
                .iter()
                .map(|c| {
                    (
                        names.consumer(*c).to_string(),
                        self.consumers.get(c).copied().unwrap_or(0),
                    )
                })
                .collect(),
            auth: counts(&self.auth, |k| names.auth(k)),
            anomalies,
            first_seen: self.first_seen,
            last_seen: self.last_seen,
            overflow,
            template_params: BTreeMap::new(),
            bodies: crate::inventory::BodyStats {
                request: body_side(&self.request_bodies),
                response: body_side(&self.response_bodies),
            },
            openbanking: self.openbanking.clone(),
            messages: self.messages.clone(),
            grpc: self.grpc.clone(),
            soap: self.soap.clone(),
            graphql: self.graphql.clone(),
        }
    }
}

fn body_side(b: &BodyCounts) -> crate::inventory::BodySide {
    crate::inventory::BodySide {
        learned: b.learned,
        skipped: b.skipped,
        prefiltered: b.prefiltered,
        bytes: b.bytes,
    }
}

/// Hosts and the timeline, id-keyed like the endpoints.
#[derive(Debug, Clone, Default)]
pub struct HostAgg {
    pub exchanges: u64,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
}

/// Assemble an inventory from converted parts.
pub fn inventory(
    limits: &InventoryLimits,
    endpoints: impl Iterator<Item = (crate::observation::EndpointKey, EndpointRecord)>,
    hosts: impl Iterator<Item = (String, HostAgg)>,
    timeline: &FastMap<i64, u64>,
    dropped: u64,
) -> Inventory {
    let mut inv = Inventory::new(limits.clone());
    inv.endpoints = endpoints.collect();
    inv.hosts = hosts
        .map(|(name, h)| {
            (
                name,
                HostRecord {
                    exchanges: h.exchanges,
                    first_seen: h.first_seen,
                    last_seen: h.last_seen,
                },
            )
        })
        .collect();
    inv.timeline = timeline.iter().map(|(k, v)| (*k, *v)).collect();
    crate::inventory::trim_timeline(&mut inv.timeline);
    inv.dropped_observations = dropped;
    inv
}
