//! Scan reports: one data model ([`ScanReport`]) and pure renderers (text, JSON, markdown).
//!
//! The JSON field names are a contract other tools read: add fields, never rename them.

pub mod html;
mod markdown;
pub mod review;
mod sarif;
mod text;

use crate::catalogue::Catalogue;
use crate::finding::{Finding, Severity};
use crate::inventory::{EndpointRecord, Inventory};
use crate::observation::{EndpointKey, TemplateSource};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;

pub use html::render_html;
pub use markdown::render_markdown;
pub use sarif::render_sarif;
pub use text::render_text;

/// What the capture side measured, filled in by the caller.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CaptureTotals {
    pub capture_files: Vec<String>,
    pub packets: u64,
    pub bytes: u64,
    pub tcp_flows: u64,
    pub http_exchanges: u64,
    /// Anomaly name -> count (gaps, unpaired halves, smuggling signals, ...).
    pub anomalies: BTreeMap<String, u64>,
    /// Every other capture counter (decode errors by layer, caps reached, ...).
    pub counters: BTreeMap<String, u64>,
    /// Capture files that ended in an error after part of them was read: `file: error`.
    pub errors: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CatalogueSummary {
    pub apis: usize,
    pub operations: usize,
    /// Problems while loading (file, pointer, message); the rest loaded. Files that failed to
    /// load at all come first (`file at line L column C: why`), then problems inside documents.
    pub problems: Vec<String>,
    /// Catalogue documents that loaded.
    pub files_loaded: usize,
    /// Catalogue files that could not be read or parsed at all: their APIs are missing, so
    /// their endpoints show as shadow (or their hosts as shadow hosts).
    pub failed_files: Vec<FailedFile>,
    /// Set when the catalogue cannot be trusted as a whole: files failed, or none was given
    /// (then every endpoint is reported as shadow). Every output shows it as a banner.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

/// One catalogue file that failed to load.
#[derive(Debug, Clone, Serialize)]
pub struct FailedFile {
    pub file: String,
    /// 1-based line and column of a syntax error, when the parser gave them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<u64>,
    /// JSON pointer of the failing field (`/openapi`), when not a syntax error.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub pointer: String,
    pub message: String,
    /// Served from its last good version (collector hot reload): its APIs are still there.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub stale: bool,
}

impl CatalogueSummary {
    pub fn of(catalogue: &Catalogue) -> CatalogueSummary {
        let load = &catalogue.load;
        let failed_files: Vec<FailedFile> = load
            .failed
            .iter()
            .map(|e| {
                let place = e.line_column();
                FailedFile {
                    file: e.source_name.clone(),
                    line: place.map(|(l, _)| l),
                    column: place.map(|(_, c)| c),
                    pointer: if place.is_some() {
                        String::new()
                    } else {
                        e.pointer.clone()
                    },
                    message: e.message.clone(),
                    stale: load.stale.contains(&e.source_name),
                }
            })
            .collect();
        let mut problems: Vec<String> = load.failed.iter().map(|e| e.to_string()).collect();
        problems.extend(
            catalogue
                .problems
                .iter()
                .map(|p| format!("{} at {}: {}", p.source, p.pointer, p.message)),
        );
        let missing = failed_files.iter().filter(|f| !f.stale).count();
        let warning = if load.paths_given == 0 && catalogue.apis.is_empty() {
            Some(
                "no catalogue was given (--catalog): nothing is declared, so every endpoint is \
                 reported as shadow"
                    .to_string(),
            )
        } else if !failed_files.is_empty() {
            let names: Vec<&str> = failed_files.iter().map(|f| f.file.as_str()).collect();
            Some(format!(
                "{} catalogue file{} failed to load ({}){}",
                failed_files.len(),
                if failed_files.len() == 1 { "" } else { "s" },
                names.join(", "),
                if missing > 0 {
                    ": the APIs they declare are missing, so their endpoints show as shadow"
                } else {
                    ": served from their last good version"
                }
            ))
        } else {
            None
        };
        CatalogueSummary {
            apis: catalogue.apis.len(),
            operations: catalogue.operations.len(),
            problems,
            files_loaded: load.files_loaded,
            failed_files,
            warning,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub captures: usize,
    pub capture_files: Vec<String>,
    pub packets: u64,
    pub bytes: u64,
    pub tcp_flows: u64,
    pub http_exchanges: u64,
    pub endpoints: usize,
    pub declared_endpoints: usize,
    pub hosts: usize,
    pub findings: usize,
    pub findings_by_severity: BTreeMap<Severity, usize>,
    pub findings_by_kind: BTreeMap<String, usize>,
    pub window_start: Option<String>,
    pub window_end: Option<String>,
    pub anomalies: BTreeMap<String, u64>,
    pub counters: BTreeMap<String, u64>,
    pub capture_errors: Vec<String>,
    pub catalogue: CatalogueSummary,
    /// Hosts seen only through TLS handshakes (SNI), filled in by the caller that kept a
    /// [`crate::tls::TlsInventory`]; empty otherwise.
    pub tls_hosts: TlsHostsSummary,
    /// Bodies learned from (decoded and walked) and only framed, over every endpoint: field
    /// shapes and data classes come from the learned ones.
    pub bodies: crate::inventory::BodyStats,
    /// Set when the inventory reached its endpoint cap and exchanges went unrecorded: every
    /// output shows it as a banner, and orphaned findings are uncertain.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incomplete: Option<Incomplete>,
}

/// The inventory was full: what was shed.
#[derive(Debug, Clone, Serialize)]
pub struct Incomplete {
    /// Exchanges whose endpoint did not fit under the cap (counted, not recorded).
    pub exchanges_not_recorded: u64,
    pub endpoint_cap: usize,
    /// The banner, one sentence.
    pub message: String,
}

impl Incomplete {
    /// `Some` when `inventory` shed exchanges at its endpoint cap.
    pub fn of(inventory: &Inventory) -> Option<Incomplete> {
        let shed = inventory.dropped_observations;
        (shed > 0).then(|| {
            let cap = inventory.limits.max_endpoints;
            Incomplete {
                exchanges_not_recorded: shed,
                endpoint_cap: cap,
                message: format!(
                    "the inventory is full; results are incomplete: {} exchanges of endpoints \
                     beyond the cap of {} were counted but not recorded, so shadow endpoints may \
                     be missing and orphaned findings are uncertain",
                    thousands(shed),
                    thousands(cap as u64)
                ),
            }
        })
    }
}

/// TLS hosts by SNI, with the handshake metadata that identifies clients and servers.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TlsHostsSummary {
    /// Distinct SNI hosts recorded.
    pub count: usize,
    /// TLS connections with SNI.
    pub connections: u64,
    /// ClientHellos without server_name (counted, not listed).
    pub without_sni: u64,
    /// Connections not recorded because the host cap was reached.
    pub dropped_hosts: u64,
    pub hosts: Vec<TlsHostView>,
}

/// One SNI host.
#[derive(Debug, Clone, Serialize)]
pub struct TlsHostView {
    pub host: String,
    pub connections: u64,
    pub alpn: Vec<String>,
    pub ja4: Vec<String>,
    pub server_subjects: Vec<String>,
    pub client_subjects: Vec<String>,
    pub consumers: usize,
    pub first_seen: Option<String>,
    pub last_seen: Option<String>,
    /// Connections whose server chose `h2` by ALPN (the host speaks HTTP/2).
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub http2: u64,
    /// TPPs named by clients' TLS 1.2 certificates (eIDAS, open banking).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tpps: Vec<TlsTppView>,
}

/// One TPP on a TLS host, from the client certificates of its handshakes.
#[derive(Debug, Clone, Serialize)]
pub struct TlsTppView {
    pub tpp: String,
    pub connections: u64,
    pub psd2: bool,
    pub roles: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nca: Option<String>,
    pub valid_from: Option<String>,
    pub valid_until: Option<String>,
    /// Connections whose certificate was expired, or not yet valid, at packet time.
    pub expired: u64,
    pub not_yet_valid: u64,
}

fn is_zero_u64(n: &u64) -> bool {
    *n == 0
}

impl TlsHostsSummary {
    pub fn from_inventory(tls: &crate::tls::TlsInventory) -> Self {
        TlsHostsSummary {
            count: tls.hosts.len(),
            connections: tls.connections(),
            without_sni: tls.without_sni,
            dropped_hosts: tls.dropped_hosts,
            hosts: tls
                .hosts
                .iter()
                .map(|(host, r)| TlsHostView {
                    host: host.clone(),
                    connections: r.connections,
                    alpn: r.alpn.iter().cloned().collect(),
                    ja4: r.ja4.iter().cloned().collect(),
                    server_subjects: r.server_cert_subjects.iter().cloned().collect(),
                    client_subjects: r.client_cert_subjects.iter().cloned().collect(),
                    consumers: r.consumers.len(),
                    first_seen: r.first_seen.map(crate::time::Timestamp::rfc3339),
                    last_seen: r.last_seen.map(crate::time::Timestamp::rfc3339),
                    http2: r.http2,
                    tpps: r
                        .tpps
                        .iter()
                        .map(|(tpp, t)| TlsTppView {
                            tpp: tpp.clone(),
                            connections: t.connections,
                            psd2: t.psd2,
                            roles: t.roles.iter().cloned().collect(),
                            nca: t.nca.clone(),
                            valid_from: t.valid_from.map(crate::time::Timestamp::rfc3339),
                            valid_until: t.valid_until.map(crate::time::Timestamp::rfc3339),
                            expired: t.expired,
                            not_yet_valid: t.not_yet_valid,
                        })
                        .collect(),
                })
                .collect(),
        }
    }

    /// One line: `2 TLS hosts (5 connections): a.example [h2,http/1.1; 1 JA4], ...`.
    pub fn one_line(&self) -> String {
        let hosts: Vec<String> = self
            .hosts
            .iter()
            .map(|h| {
                let tpps: Vec<String> = h
                    .tpps
                    .iter()
                    .map(|t| {
                        let mut one = format!("{} {}", t.tpp, t.roles.join("+"));
                        if t.expired > 0 {
                            one.push_str(" (expired)");
                        }
                        if t.not_yet_valid > 0 {
                            one.push_str(" (not yet valid)");
                        }
                        one.trim_end().to_string()
                    })
                    .collect();
                format!(
                    "{}{} [{}; {} JA4{}]",
                    h.host,
                    if h.http2 > 0 { " (HTTP/2)" } else { "" },
                    if h.alpn.is_empty() {
                        "no ALPN".to_string()
                    } else {
                        h.alpn.join(",")
                    },
                    h.ja4.len(),
                    if tpps.is_empty() {
                        String::new()
                    } else {
                        format!("; TPP {}", tpps.join(", "))
                    }
                )
            })
            .collect();
        let mut line = format!(
            "{} TLS host{} ({} connection{})",
            self.count,
            if self.count == 1 { "" } else { "s" },
            self.connections,
            if self.connections == 1 { "" } else { "s" }
        );
        if !hosts.is_empty() {
            line.push_str(": ");
            line.push_str(&hosts.join(", "));
        }
        line
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct DataClassView {
    pub class: String,
    pub location: String,
    pub count: u64,
    pub preview: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct EndpointView {
    pub host: String,
    pub method: String,
    pub path: String,
    pub declared: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation_id: Option<String>,
    pub template_source: TemplateSource,
    pub exchanges: u64,
    pub statuses: BTreeMap<String, u64>,
    /// Query and header parameter names together (see `query_params`, `header_params`).
    pub params: Vec<String>,
    pub query_params: Vec<String>,
    pub header_params: Vec<String>,
    pub data_classes: Vec<DataClassView>,
    pub consumers: usize,
    /// The consumers themselves, most exchanges first (at most [`MAX_CONSUMERS_LISTED`]).
    pub consumer_list: Vec<ConsumerView>,
    /// Consumers beyond [`MAX_CONSUMERS_LISTED`], not listed.
    #[serde(skip_serializing_if = "is_zero")]
    pub consumers_not_listed: usize,
    /// Why each path parameter is one, in path order.
    pub template_params: Vec<TemplateParamView>,
    pub auth: Vec<String>,
    pub first_seen: String,
    pub last_seen: String,
    /// Share of exchanges the capture saw whole.
    pub confidence: f64,
    /// Bodies learned and skipped per side.
    pub bodies: crate::inventory::BodyStats,
    /// Share of bodies with content that were learned ([`crate::inventory::BodyStats::coverage`]):
    /// what the endpoint's field shapes and data classes rest on.
    pub body_coverage: f64,
    /// Kinds of XML document the learned bodies were (SOAP operations, ISO 20022 message
    /// types) -> learned bodies.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub messages: BTreeMap<String, u64>,
    /// SOAP actions requests named -> exchanges.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub soap_actions: BTreeMap<String, u64>,
    /// A gRPC endpoint's calls: service, method, streaming kind, messages, `grpc-status`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grpc: Option<crate::grpc::GrpcRecord>,
    /// A SOAP endpoint's calls by operation (`analyzer::soap`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub soap: Option<crate::soap::SoapRecord>,
    /// A GraphQL endpoint's operations: type, name or hash, root fields, calls, errors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graphql: Option<crate::graphql::GraphqlRecord>,
    /// TPPs that called the endpoint (open-banking lens) -> their PSD2 roles.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tpps: BTreeMap<String, Vec<String>>,
}

/// The GraphQL operation rows of a report's endpoints (text and Markdown sections).
pub fn graphql_rows(endpoints: &[EndpointView]) -> Vec<crate::graphql::report::Row> {
    crate::graphql::report::rows(endpoints.iter().filter_map(|e| {
        e.graphql
            .as_ref()
            .map(|g| (format!("{} {} {}", e.host, e.method, e.path), g))
    }))
}

/// Most consumers listed per endpoint in a report.
pub const MAX_CONSUMERS_LISTED: usize = 100;

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// One consumer of an endpoint (see `analyzer::consumer` for the id forms).
#[derive(Debug, Clone, Serialize)]
pub struct ConsumerView {
    /// Stable id: `oauth:<client>@<issuer>`, `tls:<subject>`, `key:<fingerprint>`, `addr:<ip>`...
    pub id: String,
    /// Readable identity when the id carries one (never a credential).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// `oauth_client`, `tls_client`, `api_key`, `basic`, `bearer`, `cookie`, `address`...
    pub kind: String,
    pub exchanges: u64,
    /// The identity comes from token claims read without verifying the signature.
    pub unverified: bool,
}

/// Why a path parameter is a parameter.
#[derive(Debug, Clone, Serialize)]
pub struct TemplateParamView {
    pub name: String,
    /// `declared` (catalogue), `typed` (the segment's own shape: integer, uuid, date, ...),
    /// `cardinality` (many distinct literal values at the position), `override` (config), or
    /// several joined with `+`.
    pub reason: String,
    /// Distinct literal values seen at the position, for `cardinality`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distinct: Option<u64>,
}

/// The report formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    Markdown,
    /// One self-contained HTML file (inline CSS and SVG, no script, no external reference).
    Html,
    /// SARIF 2.1.0 for code-scanning dashboards.
    Sarif,
}

impl Format {
    pub const ALL: [Format; 5] = [
        Format::Text,
        Format::Json,
        Format::Markdown,
        Format::Html,
        Format::Sarif,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Text => "text",
            Format::Json => "json",
            Format::Markdown => "markdown",
            Format::Html => "html",
            Format::Sarif => "sarif",
        }
    }

    /// The HTTP content type of a rendered report.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => "text/plain; charset=utf-8",
            Format::Json => "application/json",
            Format::Markdown => "text/markdown; charset=utf-8",
            Format::Html => "text/html; charset=utf-8",
            Format::Sarif => "application/sarif+json",
        }
    }
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Format::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| {
                format!("unknown report format {s:?} (text, json, markdown, html, sarif)")
            })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ScanReport {
    pub summary: Summary,
    pub endpoints: Vec<EndpointView>,
    pub findings: Vec<Finding>,
    /// Exchanges per packet-time minute (minutes since the Unix epoch), for charts.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub timeline: BTreeMap<i64, u64>,
    /// Set when the scan was compared with a review baseline: `findings` then holds only the
    /// new and changed ones, and this says which is which and what was fixed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline: Option<crate::diff::baseline::BaselineComparison>,
    /// Review decisions in force, by finding id (the collector's; an offline scan has none).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub reviews: BTreeMap<String, review::ReviewNote>,
    /// Exposure per open-banking capability (`analyzer::openbanking::exposure`): empty unless
    /// the open-banking lens saw traffic.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub capabilities: Vec<crate::openbanking::exposure::CapabilityExposure>,
}

impl ScanReport {
    pub fn build(
        totals: CaptureTotals,
        inventory: &Inventory,
        catalogue: &Catalogue,
        findings: Vec<Finding>,
    ) -> Self {
        let endpoints: Vec<EndpointView> = inventory
            .endpoints
            .iter()
            .map(|(k, r)| endpoint_view(k, r, catalogue))
            .collect();
        let mut by_severity = BTreeMap::new();
        let mut by_kind = BTreeMap::new();
        for f in &findings {
            *by_severity.entry(f.severity).or_insert(0) += 1;
            *by_kind.entry(f.kind.as_str().to_string()).or_insert(0) += 1;
        }
        let window = inventory.window();
        let summary = Summary {
            captures: totals.capture_files.len(),
            capture_files: totals.capture_files,
            packets: totals.packets,
            bytes: totals.bytes,
            tcp_flows: totals.tcp_flows,
            http_exchanges: totals.http_exchanges,
            endpoints: endpoints.len(),
            declared_endpoints: endpoints.iter().filter(|e| e.declared).count(),
            hosts: inventory.hosts.len(),
            findings: findings.len(),
            findings_by_severity: by_severity,
            findings_by_kind: by_kind,
            window_start: window.map(|(a, _)| a.rfc3339()),
            window_end: window.map(|(_, b)| b.rfc3339()),
            anomalies: totals.anomalies,
            counters: totals.counters,
            capture_errors: totals.errors,
            catalogue: CatalogueSummary::of(catalogue),
            tls_hosts: TlsHostsSummary::default(),
            bodies: inventory.endpoints.values().fold(
                crate::inventory::BodyStats::default(),
                |mut acc, r| {
                    acc.merge(&r.bodies);
                    acc
                },
            ),
            incomplete: Incomplete::of(inventory),
        };
        // Built-in capability families; `with_capability_rules` applies configured overrides.
        let capabilities = crate::openbanking::exposure::exposure(inventory, &findings, &[]);
        ScanReport {
            capabilities,
            summary,
            endpoints,
            findings,
            baseline: None,
            timeline: inventory.timeline.clone(),
            reviews: BTreeMap::new(),
        }
    }

    /// Recompute the exposure per capability with configured capability overrides.
    pub fn with_capability_rules(
        mut self,
        inventory: &Inventory,
        rules: &[crate::openbanking::capability::CapabilityRule],
    ) -> Self {
        self.capabilities =
            crate::openbanking::exposure::exposure(inventory, &self.findings, rules);
        self
    }

    /// Whether any finding is at or above `threshold`, not counting findings a reviewer
    /// suppressed or accepted (`--fail-on` then fails on what still needs a decision).
    pub fn has_findings_at(&self, threshold: Severity) -> bool {
        self.findings
            .iter()
            .any(|f| f.severity >= threshold && !self.hidden_by_review(&f.id))
    }

    /// The review decision in force on finding `id`, if any.
    pub fn review_of(&self, id: &str) -> Option<&review::ReviewNote> {
        self.reviews.get(id)
    }

    /// Whether a reviewer suppressed or accepted finding `id`.
    pub fn hidden_by_review(&self, id: &str) -> bool {
        self.review_of(id)
            .is_some_and(|n| n.state.hidden_by_default())
    }

    /// The report in `format`: the one rendering path of `scan`, `report --collector` and the
    /// collector's `/v1/report`. `catalogue` locates declared operations for SARIF.
    pub fn render(&self, format: Format, catalogue: &Catalogue) -> String {
        match format {
            Format::Text => render_text(self),
            Format::Json => self.to_json() + "\n",
            Format::Markdown => render_markdown(self),
            Format::Html => render_html(self),
            Format::Sarif => render_sarif(self, catalogue),
        }
    }

    pub fn to_json(&self) -> String {
        // Serialising plain data with string keys cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}

fn endpoint_view(key: &EndpointKey, rec: &EndpointRecord, catalogue: &Catalogue) -> EndpointView {
    let op = catalogue.find_operation(&key.host, &key.method, &key.path);
    let query_params: Vec<String> = rec.query_params.keys().cloned().collect();
    let header_params: Vec<String> = rec.header_params.keys().cloned().collect();
    let mut params: Vec<String> = query_params.iter().chain(&header_params).cloned().collect();
    params.sort();
    params.dedup();
    EndpointView {
        host: key.host.clone(),
        method: key.method.clone(),
        path: key.path.clone(),
        declared: op.is_some(),
        operation_id: op.and_then(|o| o.operation_id.clone()),
        template_source: rec.template_source,
        exchanges: rec.exchanges,
        statuses: rec
            .statuses
            .iter()
            .map(|(s, n)| (s.to_string(), *n))
            .collect(),
        params,
        query_params,
        header_params,
        data_classes: rec
            .data_classes
            .iter()
            .flat_map(|(class, locs)| {
                locs.iter().map(move |(loc, stat)| DataClassView {
                    class: class.clone(),
                    location: loc.clone(),
                    count: stat.count,
                    preview: stat.preview.clone(),
                })
            })
            .collect(),
        consumers: rec.consumers.len(),
        consumer_list: consumer_list(rec),
        consumers_not_listed: rec.consumers.len().saturating_sub(MAX_CONSUMERS_LISTED),
        template_params: template_params(&key.path, rec),
        auth: rec.auth.keys().cloned().collect(),
        first_seen: rec.first_seen.rfc3339(),
        last_seen: rec.last_seen.rfc3339(),
        confidence: rec.confidence(),
        bodies: rec.bodies,
        body_coverage: rec.bodies.coverage(),
        messages: rec.messages.clone(),
        soap_actions: rec.soap_actions.clone(),
        grpc: rec.grpc.as_deref().cloned(),
        soap: rec.soap.as_deref().cloned(),
        graphql: rec.graphql.as_deref().cloned(),
        tpps: rec
            .openbanking
            .as_deref()
            .map(|ob| ob.tpp_roles())
            .unwrap_or_default(),
    }
}

/// Consumers by exchanges (most first), then id; at most [`MAX_CONSUMERS_LISTED`].
fn consumer_list(rec: &EndpointRecord) -> Vec<ConsumerView> {
    let mut list: Vec<(&String, &u64)> = rec.consumers.iter().collect();
    list.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
    list.into_iter()
        .take(MAX_CONSUMERS_LISTED)
        .map(|(id, n)| {
            let info = crate::consumer::describe(id);
            ConsumerView {
                id: id.clone(),
                label: info.label,
                kind: info.kind.to_string(),
                exchanges: *n,
                unverified: info.unverified,
            }
        })
        .collect()
}

/// Every `{name}` of the path template with the reason it is a parameter.
fn template_params(path: &str, rec: &EndpointRecord) -> Vec<TemplateParamView> {
    let mut out = Vec::new();
    let mut rest = path;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}').map(|c| open + c) else {
            break;
        };
        let name = &rest[open + 1..close];
        rest = &rest[close + 1..];
        let (reason, distinct) = match (rec.template_source, rec.template_params.get(name)) {
            (TemplateSource::Declared, _) => ("declared".to_string(), None),
            (TemplateSource::Learned, Some(stat)) => {
                let reasons: Vec<&str> = stat.reasons.iter().map(String::as_str).collect();
                let distinct = stat
                    .reasons
                    .contains(crate::cardinality::REASON_CARDINALITY)
                    .then_some(stat.distinct);
                (reasons.join("+"), distinct)
            }
            (TemplateSource::Learned, None) => ("typed".to_string(), None),
        };
        out.push(TemplateParamView {
            name: name.to_string(),
            reason,
            distinct,
        });
    }
    out
}

/// `1234567` -> `1,234,567`.
/// `12,345 of 380,000 bodies learned (3.2%, 120 flagged by the prefilter)`.
/// HTTP/2 connections picked up after they started: their HPACK state predates the capture,
/// so only streams whose endpoint was certain are in the inventory. `None` when there were none.
pub(crate) fn http2_opaque_line(counters: &BTreeMap<String, u64>) -> Option<String> {
    let get = |k: &str| counters.get(k).copied().unwrap_or(0);
    let conns = get("http.http2_mid_stream_connections");
    (conns > 0).then(|| {
        format!(
            "HTTP/2, opaque since capture start: {} connections, {} ({} streams not reported)",
            thousands(conns),
            human_bytes(get("http.http2_mid_stream_bytes")),
            thousands(get("http.http2_opaque_streams"))
        )
    })
}

pub(crate) fn learning_line(b: &crate::inventory::BodyStats) -> String {
    let (learned, total) = (b.learned(), b.total());
    let share = learned as f64 * 100.0 / total.max(1) as f64;
    let mut line = format!(
        "{} of {} bodies learned ({share:.1}%",
        thousands(learned),
        thousands(total)
    );
    if b.prefiltered() > 0 {
        let _ = write!(
            line,
            ", {} flagged by the prefilter",
            thousands(b.prefiltered())
        );
    }
    line.push(')');
    if learned < total {
        line.push_str("; the rest were counted, framed and scanned; --learn all learns every body");
    }
    line
}

pub(crate) fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Bytes in human units (MB = 10^6 bytes, as network tools count).
pub(crate) fn human_bytes(n: u64) -> String {
    match n {
        n if n >= 1_000_000_000 => format!("{:.1} GB", n as f64 / 1e9),
        n if n >= 1_000_000 => format!("{:.1} MB", n as f64 / 1e6),
        n if n >= 1_000 => format!("{:.1} kB", n as f64 / 1e3),
        n => format!("{n} B"),
    }
}

/// Findings grouped by severity, highest first.
pub(crate) fn by_severity(findings: &[Finding]) -> Vec<(Severity, Vec<&Finding>)> {
    Severity::ALL
        .iter()
        .map(|s| {
            (
                *s,
                findings
                    .iter()
                    .filter(|f| f.severity == *s)
                    .collect::<Vec<_>>(),
            )
        })
        .filter(|(_, v)| !v.is_empty())
        .collect()
}

/// `GET api.bank /accounts` or just the host for host-level findings.
pub(crate) fn finding_target(f: &Finding) -> String {
    match (&f.method, &f.path) {
        (Some(m), Some(p)) => format!("{m} {}{p}", f.host),
        _ => f.host.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_formatting() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(4_200_000), "4.2 MB");
    }
}

#[cfg(test)]
mod full_inventory_tests {
    use super::*;
    use crate::finding::FindingKind;
    use crate::inventory::InventoryLimits;
    use crate::observation::{Consumer, Observation};
    use crate::time::Timestamp;

    /// A report of traffic that overflowed an inventory of two endpoints, against a
    /// catalogue declaring an operation that was not among the recorded ones.
    fn overflowing_report() -> ScanReport {
        let mut catalogue = Catalogue::default();
        catalogue
            .add_document(
                "api.yaml",
                "openapi: 3.0.3\ninfo: {title: t, version: '1'}\n\
                 servers: [{url: 'https://api.bank'}]\n\
                 paths:\n  /declared:\n    get:\n      responses: {'200': {description: ok}}\n",
            )
            .expect("catalogue");
        let mut inventory = Inventory::new(InventoryLimits {
            max_endpoints: 2,
            ..InventoryLimits::default()
        });
        for (i, path) in ["/a", "/b", "/c", "/d", "/declared"].iter().enumerate() {
            inventory.add(&Observation {
                status: Some(200),
                ..Observation::bare(
                    Timestamp(1_000 + i as i64),
                    EndpointKey {
                        host: "api.bank".into(),
                        method: "GET".into(),
                        path: (*path).into(),
                    },
                    Consumer {
                        address: "10.0.0.1".into(),
                        credential: None,
                    },
                )
            });
        }
        let findings = crate::diff::diff(&inventory, &catalogue, &|_| Severity::Medium);
        ScanReport::build(CaptureTotals::default(), &inventory, &catalogue, findings)
    }

    #[test]
    fn a_full_inventory_is_a_banner_in_every_format_and_orphans_are_uncertain() {
        let r = overflowing_report();
        let full = r.summary.incomplete.as_ref().expect("marked incomplete");
        assert_eq!((full.exchanges_not_recorded, full.endpoint_cap), (3, 2));
        let banner = "the inventory is full; results are incomplete";
        assert!(render_text(&r).contains(banner));
        assert!(render_markdown(&r).contains(banner));
        assert!(render_html(&r).contains(banner));
        assert!(r.to_json().contains(banner));
        let catalogue = Catalogue::default();
        assert!(render_sarif(&r, &catalogue).contains(banner));
        let orphan = r
            .findings
            .iter()
            .find(|f| f.kind == FindingKind::Orphaned)
            .expect("the declared operation was shed, so it looks orphaned");
        assert_eq!(orphan.confidence, 0.0);
        assert!(orphan.detail.contains("uncertain"), "{}", orphan.detail);
    }
}
