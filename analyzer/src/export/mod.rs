//! Inventory exports for the tools asset management already runs: a CMDB (CSV), log and data
//! pipelines (NDJSON), API design tools (OpenAPI 3.1 for the shadow APIs), SBOM tooling
//! (CycloneDX 1.6 `services`) and developer portals (Backstage catalog entities).
//!
//! Every exporter is a pure function of one [`Snapshot`]: an inventory together with what the
//! catalogue says about each endpoint. A snapshot is built from an [`Inventory`] and a
//! [`Catalogue`] ([`Snapshot::build`]) wherever those live: `shadowtap scan --save-inventory`
//! writes one to disk, and a collector can build one from its store. Snapshots serialise to
//! JSON (the `--save-inventory` file) and back.
//!
//! Privacy: a snapshot holds what the inventory holds (names, shapes, counts, masked previews)
//! minus consumer identities, which become counts. Exports never carry consumer ids or raw
//! client addresses.
//!
//! Hostile text: hosts, paths, parameter and field names come from traffic. Each exporter
//! escapes for its own format (CSV quoting plus formula defence, JSON by serde, YAML by always
//! double-quoting); see the format modules.

mod backstage;
mod csv;
mod cyclonedx;
mod ndjson;
mod openapi;
#[cfg(test)]
mod ownership_tests;

pub use backstage::render_backstage;
pub use csv::{csv_cell, render_csv};
pub use cyclonedx::render_cyclonedx;
pub use ndjson::render_ndjson;
pub use openapi::render_openapi;

use crate::catalogue::{Catalogue, Security, SpecVersion};
use crate::inventory::{EndpointRecord, HostRecord, Inventory, InventoryLimits};
use crate::observation::EndpointKey;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// `format` of a saved snapshot file.
pub const SNAPSHOT_FORMAT: &str = "shadowtap-inventory";
/// Version of the snapshot file this build writes and reads.
pub const SNAPSHOT_VERSION: u32 = 1;

/// An inventory plus the catalogue's view of it: the input of every export.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Always [`SNAPSHOT_FORMAT`]; lets `export` refuse a wrong file with a clear message.
    pub format: String,
    pub version: u32,
    /// The APIs of the catalogue the endpoints were matched against.
    pub apis: Vec<ApiRef>,
    pub endpoints: Vec<SnapshotEndpoint>,
    pub hosts: BTreeMap<String, HostRecord>,
    pub dropped_observations: u64,
    /// Exchanges per packet-time minute (see `Inventory::timeline`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub timeline: BTreeMap<i64, u64>,
}

/// One API of the catalogue, with the ownership facts exports need.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiRef {
    pub title: String,
    pub version: String,
    /// `2.0`, `3.0` or `3.1`.
    pub spec_version: String,
    /// The file the document came from.
    pub source: String,
    /// Server bases as `host/prefix` (`*` for any host).
    pub servers: Vec<String>,
    /// Owner named by the spec (`x-owner` on its operations), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// `x-system` named by the spec's operations, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    /// `x-component` named by the spec's operations, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component: Option<String>,
    /// `owner` is an override (`[[catalogue.owners]]`, `info.x-shadowtap-owner`): it wins over
    /// operations' `x-owner`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub owner_overridden: bool,
    /// The document's tags (or the config override): the tags of endpoints whose operation
    /// names none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Every operation the API declares, observed or not (lifecycle and Backstage `paths`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub operations: Vec<ApiOperation>,
}

/// One declared operation of an API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiOperation {
    pub method: String,
    /// The template as declared, server prefix included.
    pub path: String,
    /// The path key as written in the spec (relative to its servers).
    #[serde(default)]
    pub spec_path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_id: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deprecated: bool,
}

impl ApiRef {
    /// Deprecated as a whole only when every operation it declares is (one deprecated
    /// operation among live ones does not retire the API). `None` when the snapshot does not
    /// list the operations (files from before they were kept).
    pub fn all_deprecated(&self) -> Option<bool> {
        (!self.operations.is_empty()).then(|| self.operations.iter().all(|o| o.deprecated))
    }
}

/// One endpoint: its key, its record with consumer identities reduced to a count, and the
/// operation declaring it, if any.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotEndpoint {
    #[serde(flatten)]
    pub key: EndpointKey,
    /// Whether some catalogue server covers the host (false: a shadow host).
    pub host_declared: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub declared: Option<DeclaredRef>,
    pub consumers: u64,
    /// The consumers as numbers local to this snapshot (the same number is the same consumer
    /// on every endpoint of the file, and means nothing outside it): what counting distinct
    /// consumers over several endpoints needs, without carrying who they are.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub consumer_refs: Vec<u32>,
    pub record: EndpointRecord,
}

/// What the catalogue says about an observed endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeclaredRef {
    /// Index into [`Snapshot::apis`].
    pub api: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_id: Option<String>,
    /// The template as declared (placeholder names from the spec).
    pub path: String,
    pub deprecated: bool,
    /// Security scheme names required (empty: none declared).
    pub security: Vec<String>,
    /// `x-owner` of the operation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// `x-tags` / `tags` of the operation, as far as the catalogue keeps them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}

/// Why a saved snapshot could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("not a shadowtap inventory: {0}")]
    Parse(#[from] serde_json::Error),
    #[error("not a shadowtap inventory (format is {0:?}, expected {SNAPSHOT_FORMAT:?})")]
    Format(String),
    #[error("inventory file version {0} is not supported (this build reads {SNAPSHOT_VERSION})")]
    Version(u32),
}

impl SnapshotEndpoint {
    /// The TPPs that called the endpoint (open-banking lens), each as `label (ROLE+ROLE)`, the
    /// way every export names them.
    pub fn tpps(&self) -> Vec<String> {
        self.record
            .openbanking
            .as_deref()
            .map(|ob| {
                ob.tpp_roles()
                    .into_iter()
                    .map(|(tpp, roles)| {
                        if roles.is_empty() {
                            tpp
                        } else {
                            format!("{tpp} ({})", roles.join("+"))
                        }
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Snapshot {
    /// Match every endpoint of `inventory` against `catalogue`.
    pub fn build(inventory: &Inventory, catalogue: &Catalogue) -> Snapshot {
        // Consumer id -> its number in this snapshot (ids never leave this function).
        let mut consumer_numbers: BTreeMap<String, u32> = BTreeMap::new();
        let apis = catalogue
            .apis
            .iter()
            .enumerate()
            .map(|(i, api)| {
                let ops: Vec<_> = catalogue.operations.iter().filter(|o| o.api == i).collect();
                let first_ext = |name: &str| {
                    ops.iter()
                        .find_map(|o| o.extensions.get(name).and_then(extension_text))
                };
                // An override wins; else an operation's x-owner (the spec's older habit); else
                // the document's info.x-owner / info.contact.
                let owner = if api.owner_overridden {
                    api.owner.clone()
                } else {
                    first_ext("x-owner").or_else(|| api.owner.clone())
                };
                let mut operations: Vec<ApiOperation> = ops
                    .iter()
                    .map(|o| ApiOperation {
                        method: o.method.clone(),
                        path: o.path.clone(),
                        spec_path: o.spec_path.clone(),
                        operation_id: o.operation_id.clone(),
                        deprecated: o.deprecated,
                    })
                    .collect();
                // One per (spec path, method): an operation served under several prefixes is
                // one operation of the document.
                operations
                    .sort_by(|a, b| (&a.spec_path, &a.method).cmp(&(&b.spec_path, &b.method)));
                operations.dedup_by(|a, b| a.spec_path == b.spec_path && a.method == b.method);
                ApiRef {
                    title: api.title.clone(),
                    version: api.version.clone(),
                    spec_version: match api.spec_version {
                        SpecVersion::Swagger2 => "2.0",
                        SpecVersion::OpenApi30 => "3.0",
                        SpecVersion::OpenApi31 => "3.1",
                        SpecVersion::Grpc => "grpc",
                        SpecVersion::Wsdl => "wsdl",
                    }
                    .to_string(),
                    source: api.source.clone(),
                    servers: api
                        .servers
                        .iter()
                        .map(|s| format!("{}{}", s.host.as_deref().unwrap_or("*"), s.prefix))
                        .collect(),
                    owner,
                    system: if api.owner_overridden || api.system.is_some() {
                        api.system.clone().or_else(|| first_ext("x-system"))
                    } else {
                        first_ext("x-system")
                    },
                    component: first_ext("x-component"),
                    owner_overridden: api.owner_overridden,
                    tags: api.tags.clone(),
                    operations,
                }
            })
            .collect();
        let endpoints = inventory
            .endpoints
            .iter()
            .map(|(key, rec)| {
                let declared = catalogue
                    .find_operation(&key.host, &key.method, &key.path)
                    .map(|op| DeclaredRef {
                        api: op.api,
                        operation_id: op.operation_id.clone(),
                        path: op.path.clone(),
                        deprecated: op.deprecated,
                        security: match &op.security {
                            Security::None => Vec::new(),
                            Security::Required(s) | Security::Optional(s) => s.clone(),
                        },
                        owner: op.extensions.get("x-owner").and_then(extension_text),
                        tags: {
                            let mut tags = op.tags.clone();
                            tags.extend(
                                op.extensions
                                    .get("x-tags")
                                    .map(extension_list)
                                    .unwrap_or_default(),
                            );
                            tags.dedup();
                            tags
                        },
                    });
                let mut record = rec.clone();
                // Exports carry how many consumers, never who: each becomes a number local to
                // this snapshot.
                let consumers = record.consumers.len() as u64;
                let mut consumer_refs: Vec<u32> = record
                    .consumers
                    .keys()
                    .map(|id| {
                        let next = consumer_numbers.len() as u32;
                        *consumer_numbers.entry(id.clone()).or_insert(next)
                    })
                    .collect();
                consumer_refs.sort_unstable();
                record.consumers.clear();
                if let Some(ob) = record.openbanking.as_deref_mut() {
                    // The lens keeps consumer ids too: the OAuth clients under each TPP become
                    // this snapshot's numbers; the per-consumer baselines and the consent
                    // actors serve findings, not exports, and are left out.
                    for stat in ob.tpps.values_mut() {
                        stat.clients = std::mem::take(&mut stat.clients)
                            .into_iter()
                            .map(|(id, n)| {
                                let next = consumer_numbers.len() as u32;
                                let num = *consumer_numbers.entry(id).or_insert(next);
                                (format!("consumer#{num}"), n)
                            })
                            .collect();
                    }
                    ob.behaviour = Default::default();
                    ob.consents.clear();
                }
                SnapshotEndpoint {
                    key: key.clone(),
                    host_declared: catalogue.covers_host(&key.host),
                    declared,
                    consumers,
                    consumer_refs,
                    record,
                }
            })
            .collect();
        Snapshot {
            format: SNAPSHOT_FORMAT.to_string(),
            version: SNAPSHOT_VERSION,
            apis,
            endpoints,
            hosts: inventory.hosts.clone(),
            dropped_observations: inventory.dropped_observations,
            timeline: inventory.timeline.clone(),
        }
    }

    /// Read a saved snapshot (the `--save-inventory` file).
    pub fn from_json(text: &str) -> Result<Snapshot, SnapshotError> {
        // Check the envelope first so a wrong file gets a clear message, not a missing field.
        let head: Value = serde_json::from_str(text)?;
        match head.get("format").and_then(Value::as_str) {
            Some(SNAPSHOT_FORMAT) => {}
            other => return Err(SnapshotError::Format(other.unwrap_or("").to_string())),
        }
        match head.get("version").and_then(Value::as_u64) {
            Some(v) if v == u64::from(SNAPSHOT_VERSION) => {}
            other => return Err(SnapshotError::Version(other.unwrap_or(0) as u32)),
        }
        Ok(serde_json::from_value(head)?)
    }

    pub fn to_json(&self) -> String {
        // Plain data with string keys: serialising cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// The inventory back, under `limits` (merged, so the caps hold whatever the file says).
    /// Consumer identities were reduced to counts and do not come back.
    pub fn to_inventory(&self, limits: InventoryLimits) -> Inventory {
        let mut out = Inventory::new(limits.clone());
        let mut part = Inventory::new(limits);
        for e in &self.endpoints {
            part.endpoints.clear();
            part.endpoints.insert(e.key.clone(), e.record.clone());
            out.merge(&part);
        }
        part.endpoints.clear();
        part.hosts = self.hosts.clone();
        part.dropped_observations = self.dropped_observations;
        part.timeline = self.timeline.clone();
        out.merge(&part);
        out
    }

    /// Re-match against another catalogue, keeping consumer counts from this snapshot.
    pub fn rematch(&self, catalogue: &Catalogue) -> Snapshot {
        let mut out = Snapshot::build(&self.to_inventory(InventoryLimits::default()), catalogue);
        let counts: BTreeMap<&EndpointKey, (u64, &Vec<u32>)> = self
            .endpoints
            .iter()
            .map(|e| (&e.key, (e.consumers, &e.consumer_refs)))
            .collect();
        for e in &mut out.endpoints {
            if let Some((n, refs)) = counts.get(&e.key) {
                e.consumers = *n;
                e.consumer_refs = (*refs).clone();
            } else {
                e.consumers = 0;
            }
        }
        out
    }

    /// Distinct consumers over `endpoints` (one consumer calling five endpoints is one).
    /// Endpoints from a file without consumer numbers add their own count (an upper bound).
    pub fn distinct_consumers<'a>(
        endpoints: impl IntoIterator<Item = &'a SnapshotEndpoint>,
    ) -> u64 {
        let mut seen = std::collections::BTreeSet::new();
        let mut unnumbered = 0;
        for e in endpoints {
            if e.consumer_refs.is_empty() {
                unnumbered += e.consumers;
            } else {
                seen.extend(e.consumer_refs.iter().copied());
            }
        }
        seen.len() as u64 + unnumbered
    }

    /// First and last packet time of any endpoint.
    pub fn window(&self) -> Option<(Timestamp, Timestamp)> {
        let first = self.hosts.values().map(|h| h.first_seen).min()?;
        let last = self.hosts.values().map(|h| h.last_seen).max()?;
        Some((first, last))
    }

    /// The API declaring an endpoint, if any.
    pub fn api_of(&self, e: &SnapshotEndpoint) -> Option<&ApiRef> {
        e.declared.as_ref().and_then(|d| self.apis.get(d.api))
    }
}

/// A scalar extension value as text (`x-owner: team-payments`).
fn extension_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        // `x-owner: {name: ..., email: ...}` (contact-like objects): take the name.
        Value::Object(m) => m.get("name").and_then(extension_text),
        _ => None,
    }
}

/// A list-or-scalar extension value as a list of texts.
fn extension_list(v: &Value) -> Vec<String> {
    match v {
        Value::Array(items) => items.iter().filter_map(extension_text).collect(),
        other => extension_text(other).into_iter().collect(),
    }
}

impl SnapshotEndpoint {
    /// Data classes carried, deduplicated, sorted.
    pub fn data_classes(&self) -> Vec<&str> {
        self.record
            .data_classes
            .keys()
            .map(String::as_str)
            .collect()
    }

    /// Auth scheme labels seen (`none` included when some exchanges carried no credential).
    pub fn auth_schemes(&self) -> Vec<&str> {
        self.record.auth.keys().map(String::as_str).collect()
    }

    /// Owner: an override of the API's (config, `info.x-shadowtap-owner`), else the
    /// operation's `x-owner`, else the API's (`info.x-owner`, `info.contact`, or the first
    /// operation's `x-owner`).
    pub fn owner<'a>(&'a self, snap: &'a Snapshot) -> Option<&'a str> {
        let api = snap.api_of(self);
        if let Some(a) = api.filter(|a| a.owner_overridden) {
            return a.owner.as_deref();
        }
        self.declared
            .as_ref()
            .and_then(|d| d.owner.as_deref())
            .or_else(|| api.and_then(|a| a.owner.as_deref()))
    }

    /// Tags: the operation's (`tags`, `x-tags`), else the API's.
    pub fn tags<'a>(&'a self, snap: &'a Snapshot) -> &'a [String] {
        match self.declared.as_ref() {
            Some(d) if !d.tags.is_empty() => &d.tags,
            _ => snap.api_of(self).map_or(&[], |a| a.tags.as_slice()),
        }
    }
}

/// Percent-encode what may not stand in a URL path, `{` and `}` included, keeping `/`.
///
/// CycloneDX `endpoints` are IRI references, where template braces are invalid; hostile paths
/// may hold spaces, quotes or angle brackets.
pub(crate) fn encode_path(path: &str) -> String {
    use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};
    const PATH: &AsciiSet = &CONTROLS
        .add(b' ')
        .add(b'"')
        .add(b'#')
        .add(b'%')
        .add(b'<')
        .add(b'>')
        .add(b'?')
        .add(b'[')
        .add(b'\\')
        .add(b']')
        .add(b'^')
        .add(b'`')
        .add(b'{')
        .add(b'|')
        .add(b'}')
        .add(b'\'');
    utf8_percent_encode(path, PATH).to_string()
}

/// A host as it may stand in a URL authority: hostname characters, `:` port and IPv6 brackets
/// kept, anything else percent-encoded (a hostile Host header cannot end the authority).
pub(crate) fn encode_host(host: &str) -> String {
    let mut out = String::with_capacity(host.len());
    for b in host.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':' | b'[' | b']') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `https://host` + encoded path: where an endpoint is served. The scheme is an assumption:
/// the sensor often sees plaintext behind a TLS-offloading balancer that clients reach by HTTPS.
pub(crate) fn endpoint_url(host: &str, path: &str) -> String {
    format!("https://{}{}", encode_host(host), encode_path(path))
}

#[cfg(test)]
pub(crate) mod testutil {
    //! A small inventory + catalogue with one declared and one shadow endpoint, and a hostile
    //! host/path, shared by the exporters' tests.

    use crate::catalogue::Catalogue;
    use crate::inventory::Inventory;
    use crate::observation::{
        AuthScheme, Consumer, DataClassHit, EndpointKey, FieldShape, FieldType, Observation,
        TemplateSource,
    };
    use crate::time::Timestamp;

    pub const SPEC: &str = r#"
openapi: 3.0.3
info: {title: Accounts, version: "1.2"}
servers: [{url: "https://api.bank.example/v1"}]
paths:
  /accounts/{AccountId}:
    get:
      operationId: getAccount
      x-owner: team-accounts
      x-system: core-banking
      security: [{oauth: []}]
      responses: {"200": {description: ok}}
components:
  securitySchemes:
    oauth: {type: http, scheme: bearer}
"#;

    pub const HOSTILE_HOST: &str = "\"><img src=x onerror=alert(1)>.example";
    pub const HOSTILE_PATH: &str = "/=cmd|' /C calc'!A0/<script>alert(1)</script>";
    pub const FORMULA_HOST: &str = "=cmd|' /C calc'!A0";

    pub fn obs(host: &str, method: &str, path: &str, ts: i64) -> Observation {
        Observation {
            status: Some(200),
            request_content_type: Some("application/json".into()),
            response_content_type: Some("application/json".into()),
            query_params: vec!["limit".into()],
            header_params: vec!["x-request-id".into()],
            request_fields: vec![FieldShape {
                path: "amount.value".into(),
                ty: FieldType::Number,
            }],
            response_fields: vec![
                FieldShape {
                    path: "items".into(),
                    ty: FieldType::Array,
                },
                FieldShape {
                    path: "items[]".into(),
                    ty: FieldType::Object,
                },
                FieldShape {
                    path: "items[].iban".into(),
                    ty: FieldType::String,
                },
            ],
            data_classes: vec![DataClassHit {
                class: "iban".into(),
                location: "response.body.items[].iban".into(),
                preview: "GB** **** 1234".into(),
            }],
            auth: AuthScheme::Bearer,
            request_body_len: 10,
            response_body_len: 20,
            ..Observation::bare(
                Timestamp(ts),
                EndpointKey {
                    host: host.into(),
                    method: method.into(),
                    path: path.into(),
                },
                Consumer {
                    address: "10.0.0.7".into(),
                    credential: Some("key:0011223344556677".into()),
                },
            )
        }
    }

    pub fn fixture() -> (Inventory, Catalogue) {
        let mut cat = Catalogue::default();
        cat.add_document("specs/accounts.yaml", SPEC).unwrap();
        let mut inv = Inventory::default();
        let mut declared = obs(
            "api.bank.example",
            "GET",
            "/v1/accounts/{AccountId}",
            60_000_000,
        );
        declared.template_source = TemplateSource::Declared;
        inv.add(&declared);
        inv.add(&obs(
            "api.bank.example",
            "POST",
            "/v1/accounts/{id}/export",
            120_000_000,
        ));
        inv.add(&obs(HOSTILE_HOST, "GET", HOSTILE_PATH, 180_000_000));
        inv.add(&obs(FORMULA_HOST, "GET", "/x", 180_000_000));
        (inv, cat)
    }
}

#[cfg(test)]
mod tests {
    use super::testutil::fixture;
    use super::*;

    #[test]
    fn snapshot_matches_catalogue_and_forgets_consumer_identities() {
        let (inv, cat) = fixture();
        let snap = Snapshot::build(&inv, &cat);
        assert_eq!(snap.apis.len(), 1);
        assert_eq!(snap.apis[0].owner.as_deref(), Some("team-accounts"));
        assert_eq!(snap.apis[0].system.as_deref(), Some("core-banking"));
        let declared: Vec<bool> = snap
            .endpoints
            .iter()
            .map(|e| e.declared.is_some())
            .collect();
        assert_eq!(declared.iter().filter(|d| **d).count(), 1);
        for e in &snap.endpoints {
            assert!(e.record.consumers.is_empty());
            assert_eq!(e.consumers, 1);
        }
        let text = snap.to_json();
        assert!(!text.contains("0011223344556677") && !text.contains("10.0.0.7"));
        let back = Snapshot::from_json(&text).unwrap();
        assert_eq!(back, snap);
        assert_eq!(back.rematch(&cat), snap);
    }

    #[test]
    fn wrong_files_are_refused_with_a_reason() {
        assert!(matches!(
            Snapshot::from_json(r#"{"format":"other","version":1}"#),
            Err(SnapshotError::Format(f)) if f == "other"
        ));
        assert!(matches!(
            Snapshot::from_json(r#"{"format":"shadowtap-inventory","version":9}"#),
            Err(SnapshotError::Version(9))
        ));
    }

    #[test]
    fn urls_encode_braces_and_hostile_text() {
        assert_eq!(
            endpoint_url("api.example:8443", "/a/{id}"),
            "https://api.example:8443/a/%7Bid%7D"
        );
        let u = endpoint_url("\"><x", "/<script> x");
        assert!(
            !u.contains('<') && !u.contains('"') && !u.contains(' '),
            "{u}"
        );
    }
}
