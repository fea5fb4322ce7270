//! The `[agent]` section of `shadowtap.toml`: everything the `shadowtap agent` flags say, as
//! serde with defaults (flags override the file). Validated into the runtime pieces by the CLI.
//!
//! ```toml
//! [agent]
//! interface = "ens5f1"          # the span / mirror port
//! bpf = "tcp"                   # optional capture filter
//! snaplen = 65535
//! promiscuous = true
//! buffer_mib = 64               # kernel capture buffer
//! workers = 2                   # capture workers (default: cores - 1)
//! collector = "https://collector.bank.internal:7443"   # or "https://c1:7443,https://c2:7443"
//! cert = "/etc/shadowtap/pki/agent.pem"
//! key = "/etc/shadowtap/pki/agent.key"
//! ca = "/etc/shadowtap/pki/ca.pem"
//! spool = "/var/lib/shadowtap/spool"
//! spool_max_batches = 10000
//! spool_max_mib = 1024
//! window_secs = 60
//! idle_flush_ms = 5000
//! metrics_listen = "127.0.0.1:9781"
//! catalog = ["/etc/shadowtap/catalog"]
//! catalog_root = ["/etc/shadowtap/shared-schemas"]   # extra folders `$ref`s may read from
//! ```

use serde::Deserialize;
use std::path::PathBuf;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgentSettings {
    pub interface: Option<String>,
    pub bpf: Option<String>,
    pub snaplen: u32,
    pub promiscuous: bool,
    pub buffer_mib: u32,
    /// Capture workers; 0 means "cores - 1, at least 1".
    pub workers: usize,
    pub queue_frames: usize,
    pub collector: Option<String>,
    /// Agent id; by default the client certificate's CN.
    pub agent_id: Option<String>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    pub ca: Option<PathBuf>,
    pub spool: PathBuf,
    pub spool_max_batches: u64,
    pub spool_max_mib: u64,
    pub window_secs: u64,
    pub idle_flush_ms: u64,
    pub timeout_ms: u64,
    pub retry_min_ms: u64,
    pub retry_max_ms: u64,
    pub drain_timeout_ms: u64,
    pub metrics_listen: Option<String>,
    pub catalog: Vec<PathBuf>,
    /// Extra folders the catalogue's `$ref`s may read from (see the collector's `catalog_root`).
    pub catalog_root: Vec<PathBuf>,
    pub rules: Option<PathBuf>,
}

impl Default for AgentSettings {
    fn default() -> Self {
        AgentSettings {
            interface: None,
            bpf: None,
            snaplen: 65_535,
            promiscuous: true,
            buffer_mib: 64,
            workers: 0,
            queue_frames: 8192,
            collector: None,
            agent_id: None,
            cert: None,
            key: None,
            ca: None,
            spool: PathBuf::from("/var/lib/shadowtap/spool"),
            spool_max_batches: 10_000,
            spool_max_mib: 1024,
            window_secs: 60,
            idle_flush_ms: 5_000,
            timeout_ms: 10_000,
            retry_min_ms: 200,
            retry_max_ms: 30_000,
            drain_timeout_ms: 10_000,
            metrics_listen: None,
            catalog: Vec::new(),
            catalog_root: Vec::new(),
            rules: None,
        }
    }
}

impl AgentSettings {
    /// `queue_frames` as batches of the runner (packets travel to workers in batches).
    pub fn queue_batches(&self) -> usize {
        (self.queue_frames / crate::runner::RunConfig::default().batch_packets).max(2)
    }

    /// Workers to run: the setting, or one less than the cores (the capture thread needs one).
    pub fn worker_count(&self) -> usize {
        if self.workers > 0 {
            return self.workers;
        }
        std::thread::available_parallelism()
            .map(|n| n.get().saturating_sub(1))
            .unwrap_or(1)
            .max(1)
    }
}

/// The agent id a client certificate (PEM file) names: its CN, else its first DNS SAN.
pub fn cert_identity(pem: &std::path::Path) -> Option<String> {
    use rustls_pki_types::pem::PemObject;
    let der = rustls_pki_types::CertificateDer::pem_file_iter(pem)
        .ok()?
        .next()?
        .ok()?;
    let (_, parsed) = x509_parser::parse_x509_certificate(der.as_ref()).ok()?;
    if let Some(cn) = parsed
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
    {
        return Some(cn.to_string());
    }
    let san = parsed.subject_alternative_name().ok()??;
    san.value.general_names.iter().find_map(|n| match n {
        x509_parser::extensions::GeneralName::DNSName(d) => Some(d.to_string()),
        _ => None,
    })
}
