//! The `[collector]` section of `shadowtap.toml`: what `shadowtap collector` flags say, as
//! serde with defaults (flags override the file).
//!
//! ```toml
//! [collector]
//! listen = "0.0.0.0:7443"
//! data = "/var/lib/shadowtap/collector"
//! catalog = ["/etc/shadowtap/catalog"]
//! catalog_root = ["/etc/shadowtap/shared-schemas"]
//! cert = "/etc/shadowtap/pki/collector.pem"
//! key = "/etc/shadowtap/pki/collector.key"
//! ca = "/etc/shadowtap/pki/agent-ca.pem"
//! api_token_file = "/etc/shadowtap/api-token"
//! max_batch_bytes = 16777216
//! max_connections = 1024
//! io_timeout_ms = 30000
//! handshake_timeout_ms = 5000
//! max_handshakes_per_address = 32
//! catalogue_poll_ms = 5000
//! max_endpoints = 100000
//! max_agents = 10000
//! max_reviews = 100000
//! max_hosts = 50000
//! max_new_hosts_per_batch = 5000
//! endpoint_max_age_days = 30
//! max_contribution_records = 400000
//! max_sessions = 256
//! session_ttl_secs = 28800
//! ```

use crate::store::StoreLimits;
use analyzer::inventory::InventoryLimits;
use serde::Deserialize;
use std::path::PathBuf;

/// Everything the collector needs to run.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CollectorSettings {
    /// Address of the HTTPS listener (ingest, API and metrics).
    pub listen: String,
    /// Directory of the sled store.
    pub data: PathBuf,
    /// A PostgreSQL URL (`postgres://USER@HOST/DB`): keep the inventory there instead of in
    /// `data` (several collectors may share one database).
    pub store: Option<String>,
    /// OpenAPI documents or directories; reloaded when a file changes.
    pub catalog: Vec<PathBuf>,
    /// Extra folders the catalogue's `$ref`s may read from, besides the `catalog` folders and
    /// the folders of the files listed there. Files only under these are not watched: a change
    /// there is picked up with the next change under `catalog`.
    pub catalog_root: Vec<PathBuf>,
    /// Collector certificate chain (PEM).
    pub cert: PathBuf,
    /// Collector private key (PEM).
    pub key: PathBuf,
    /// CA that signs agent certificates (PEM).
    pub ca: PathBuf,
    /// Bearer token of the JSON API; without one the API answers 403.
    #[serde(skip)]
    pub api_token: Option<String>,
    /// Path templating (the file's `[templating]` section, set by the CLI): cardinality
    /// learning runs on the merged inventory with it, as `scan` runs it on one capture.
    #[serde(skip)]
    pub templating: analyzer::template::TemplateConfig,
    /// Which findings are kept quiet or unconfirmed (the file's `[findings]` section, set by
    /// the CLI), as `scan` applies it.
    #[serde(skip)]
    pub findings: analyzer::diff::FindingPolicy,
    /// File holding the bearer token (first line), so it stays out of the config file.
    pub api_token_file: Option<PathBuf>,
    /// Largest batch body accepted.
    pub max_batch_bytes: usize,
    /// Open connections at once; more are closed at once and counted.
    pub max_connections: usize,
    /// Request head and body timeout.
    pub io_timeout_ms: u64,
    /// TLS handshake timeout: short, since a slot is held while a client dawdles.
    pub handshake_timeout_ms: u64,
    /// TLS handshakes one address may have in flight at once.
    pub max_handshakes_per_address: usize,
    /// How often catalogue files are checked for changes.
    pub catalogue_poll_ms: u64,
    pub max_endpoints: usize,
    /// Per endpoint: distinct names in any one map.
    pub max_names: usize,
    pub max_agents: usize,
    /// Distinct hosts kept; more are shed and counted (`store.hosts_shed`).
    pub max_hosts: usize,
    /// New hosts one batch may add (one agent cannot fill the host table at once).
    pub max_new_hosts_per_batch: usize,
    /// At the endpoint cap, endpoints quiet this long (packet time) are aged out.
    pub endpoint_max_age_days: u64,
    /// Records of the per-agent contributions (`store agents`, `store remove-agent`), all
    /// agents together; 0 keeps none (no audit or removal, half the store writes).
    pub max_contribution_records: usize,
    /// Review records kept (one per reviewed finding).
    pub max_reviews: usize,
    /// Dashboard sessions open at once; the oldest is ended to make room.
    pub max_sessions: usize,
    /// Dashboard session lifetime from login.
    pub session_ttl_secs: u64,
}

impl Default for CollectorSettings {
    fn default() -> Self {
        let inv = InventoryLimits::default();
        CollectorSettings {
            listen: "0.0.0.0:7443".into(),
            data: PathBuf::from("/var/lib/shadowtap/collector"),
            store: None,
            catalog: Vec::new(),
            catalog_root: Vec::new(),
            cert: PathBuf::from("collector.pem"),
            key: PathBuf::from("collector.key"),
            ca: PathBuf::from("ca.pem"),
            api_token: None,
            templating: analyzer::template::TemplateConfig::default(),
            findings: analyzer::diff::FindingPolicy::default(),
            api_token_file: None,
            max_batch_bytes: 16 << 20,
            max_connections: 1024,
            io_timeout_ms: 30_000,
            handshake_timeout_ms: 5_000,
            max_handshakes_per_address: 32,
            catalogue_poll_ms: 5_000,
            max_endpoints: inv.max_endpoints,
            max_names: inv.max_names,
            max_agents: 10_000,
            max_hosts: StoreLimits::default().max_hosts,
            max_new_hosts_per_batch: StoreLimits::default().max_new_hosts_per_batch,
            endpoint_max_age_days: 30,
            max_contribution_records: StoreLimits::default().max_contribution_records,
            max_reviews: 100_000,
            max_sessions: 256,
            session_ttl_secs: 8 * 3600,
        }
    }
}

impl CollectorSettings {
    pub fn store_limits(&self) -> StoreLimits {
        StoreLimits {
            inventory: InventoryLimits {
                max_endpoints: self.max_endpoints,
                max_names: self.max_names,
            },
            max_agents: self.max_agents,
            max_reviews: self.max_reviews,
            // Ten events per reviewable record: room for a long history of every decision.
            max_review_events: self.max_reviews.saturating_mul(10),
            max_hosts: self.max_hosts,
            max_new_hosts_per_batch: self.max_new_hosts_per_batch,
            endpoint_max_age_secs: self.endpoint_max_age_days.saturating_mul(24 * 3600),
            max_contribution_records: self.max_contribution_records,
            ..StoreLimits::default()
        }
    }
}
