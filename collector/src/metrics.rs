//! Collector metrics in the Prometheus text format (served at `/metrics`).
//!
//! One struct of named counters and gauges, registered once; handlers bump them. Labels are
//! fixed vocabularies (`result`, `reason`), never agent-supplied strings, so the series count is
//! bounded.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

type Labels = Vec<(&'static str, &'static str)>;

pub struct CollectorMetrics {
    registry: Registry,
    /// Batches by `result` (accepted, duplicate, refused) and `reason` for refusals.
    pub batches: Family<Labels, Counter>,
    pub observations: Counter,
    pub request_bytes: Counter,
    pub endpoints: Gauge,
    pub findings: Gauge,
    pub agents: Gauge,
    pub connections_open: Gauge,
    /// Connections closed at once because `max_connections` was reached.
    pub connections_refused: Counter,
    pub tls_handshake_failures: Counter,
    /// Failed handshakes by `reason` (certificate_unknown_ca, certificate_expired,
    /// certificate_invalid, client_refused_ours, not_tls, timeout, other).
    pub handshake_refusals: Family<Labels, Counter>,
    /// Refused-handshake log lines not written: that address and reason was already logged in
    /// the last minute, or the table of logged peers was full.
    pub handshake_logs_suppressed: Counter,
    /// Fleet analyses by `result` (computed: rebuilt and diffed; cached: served as they were).
    pub analyses: Family<Labels, Counter>,
    /// Requests answered 429 because their address failed authentication too often.
    pub auth_throttled: Counter,
    /// Failed authentications not tracked because the throttle table was full of live entries.
    pub auth_untracked: Counter,
    pub catalogue_reloads: Counter,
    /// Catalogue (re)loads in which a file failed (served from its last good version if it had
    /// one) or the whole catalogue could not be read.
    pub catalogue_reload_failures: Counter,
    /// Catalogue files failing at the last (re)load.
    pub catalogue_files_failed: Gauge,
    /// Dashboard logins by `result` (ok, refused).
    pub logins: Family<Labels, Counter>,
    /// Review actions applied, by `action` and `via` (dashboard, api).
    pub reviews: Family<Labels, Counter>,
    /// Review requests refused, by `reason` (csrf, invalid, unknown_finding, cap).
    pub reviews_refused: Family<Labels, Counter>,
    pub sessions: Gauge,
    /// Sessions ended early because `max_sessions` was reached.
    pub sessions_evicted: Counter,
    /// Kafka messages whose apply to the store failed (PostgreSQL down or restarting) and was
    /// retried; the partition waits meanwhile.
    pub kafka_store_retries: Counter,
    /// Other collectors on this store serving a different catalogue, as last seen.
    pub catalogue_peers_disagreeing: Gauge,
}

impl Default for CollectorMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl CollectorMetrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("shadowtap_collector");
        let m = CollectorMetrics {
            batches: Family::default(),
            observations: Counter::default(),
            request_bytes: Counter::default(),
            endpoints: Gauge::default(),
            findings: Gauge::default(),
            agents: Gauge::default(),
            connections_open: Gauge::default(),
            connections_refused: Counter::default(),
            tls_handshake_failures: Counter::default(),
            handshake_refusals: Family::default(),
            handshake_logs_suppressed: Counter::default(),
            analyses: Family::default(),
            auth_throttled: Counter::default(),
            auth_untracked: Counter::default(),
            catalogue_reloads: Counter::default(),
            catalogue_reload_failures: Counter::default(),
            catalogue_files_failed: Gauge::default(),
            logins: Family::default(),
            reviews: Family::default(),
            reviews_refused: Family::default(),
            sessions: Gauge::default(),
            sessions_evicted: Counter::default(),
            kafka_store_retries: Counter::default(),
            catalogue_peers_disagreeing: Gauge::default(),
            registry: Registry::default(),
        };
        registry.register("batches", "Batches received, by result", m.batches.clone());
        registry.register(
            "observations",
            "Observations in accepted batches",
            m.observations.clone(),
        );
        registry.register(
            "request_bytes",
            "Batch body bytes received",
            m.request_bytes.clone(),
        );
        registry.register(
            "endpoints",
            "Distinct endpoints stored",
            m.endpoints.clone(),
        );
        registry.register(
            "findings",
            "Findings at the last computation",
            m.findings.clone(),
        );
        registry.register("agents", "Agents known to the store", m.agents.clone());
        registry.register(
            "connections_open",
            "Open client connections",
            m.connections_open.clone(),
        );
        registry.register(
            "connections_refused",
            "Connections closed because the connection cap was reached",
            m.connections_refused.clone(),
        );
        registry.register(
            "tls_handshake_failures",
            "TLS handshakes that failed (bad or foreign client certificates, timeouts)",
            m.tls_handshake_failures.clone(),
        );
        registry.register(
            "handshake_refusals",
            "Failed TLS handshakes, by reason",
            m.handshake_refusals.clone(),
        );
        registry.register(
            "handshake_logs_suppressed",
            "Refused-handshake log lines not repeated (same peer and reason within a minute, or table full)",
            m.handshake_logs_suppressed.clone(),
        );
        registry.register(
            "analyses",
            "Fleet analyses (inventory rebuilt and diffed) by result: computed or cached",
            m.analyses.clone(),
        );
        registry.register(
            "auth_throttled",
            "Requests answered 429: their address failed authentication too often",
            m.auth_throttled.clone(),
        );
        registry.register(
            "auth_untracked",
            "Failed authentications not tracked: the throttle table was full",
            m.auth_untracked.clone(),
        );
        registry.register(
            "catalogue_reloads",
            "Catalogue reloads after a file changed",
            m.catalogue_reloads.clone(),
        );
        registry.register(
            "catalogue_reload_failures",
            "Catalogue loads in which a file failed or the catalogue could not be read",
            m.catalogue_reload_failures.clone(),
        );
        registry.register(
            "catalogue_files_failed",
            "Catalogue files failing at the last load (served from their last good version when \
             they had one)",
            m.catalogue_files_failed.clone(),
        );
        registry.register("ui_logins", "Dashboard logins, by result", m.logins.clone());
        registry.register(
            "reviews",
            "Review actions applied, by action and channel",
            m.reviews.clone(),
        );
        registry.register(
            "reviews_refused",
            "Review requests refused, by reason",
            m.reviews_refused.clone(),
        );
        registry.register("ui_sessions", "Open dashboard sessions", m.sessions.clone());
        registry.register(
            "ui_sessions_evicted",
            "Dashboard sessions ended early because the session cap was reached",
            m.sessions_evicted.clone(),
        );
        registry.register(
            "kafka_store_retries",
            "Kafka messages retried because applying them to the store failed",
            m.kafka_store_retries.clone(),
        );
        registry.register(
            "catalogue_peers_disagreeing",
            "Other collectors on this store serving a different catalogue",
            m.catalogue_peers_disagreeing.clone(),
        );
        CollectorMetrics { registry, ..m }
    }

    pub fn batch(&self, result: &'static str, reason: &'static str) {
        self.batches
            .get_or_create(&vec![("result", result), ("reason", reason)])
            .inc();
    }

    pub fn batch_count(&self, result: &'static str, reason: &'static str) -> u64 {
        self.batches
            .get_or_create(&vec![("result", result), ("reason", reason)])
            .get()
    }

    /// One analysis served from the cache (`true`) or computed.
    pub fn analysis_cache(&self, hit: bool) {
        let result = if hit { "cached" } else { "computed" };
        Self::bump(&self.analyses, &[("result", result)]);
    }

    /// Count one label set of a family (labels are fixed vocabularies).
    pub fn bump(family: &Family<Labels, Counter>, labels: &[(&'static str, &'static str)]) {
        family.get_or_create(&labels.to_vec()).inc();
    }

    /// Record a catalogue (re)load: what [`crate::catalogue_files::CatalogueReloader`] says
    /// after it ran, and whether it was a reload (the first load is not one).
    pub fn catalogue_loaded(
        &self,
        status: &crate::catalogue_files::CatalogueStatus,
        failed_before: u64,
        reload: bool,
    ) {
        // A reload that produced a catalogue counts as one, partial or not (the old meaning);
        // failures are counted besides.
        if reload && status.unusable.is_none() {
            self.catalogue_reloads.inc();
        }
        if status.failed_loads > failed_before {
            self.catalogue_reload_failures.inc();
        }
        self.catalogue_files_failed.set(status.failed.len() as i64);
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue_files::CatalogueStatus;

    #[test]
    fn catalogue_failures_are_counted_and_rendered() {
        let m = CollectorMetrics::new();
        let failed = CatalogueStatus {
            loads: 2,
            failed_loads: 1,
            failed: vec![analyzer::catalogue::CatalogueError {
                source_name: "b.json".into(),
                pointer: "line 2 column 3".into(),
                message: "invalid JSON".into(),
            }],
            ..CatalogueStatus::default()
        };
        m.catalogue_loaded(&failed, 0, true);
        assert_eq!(m.catalogue_reload_failures.get(), 1);
        assert_eq!(m.catalogue_reloads.get(), 1);
        assert_eq!(m.catalogue_files_failed.get(), 1);
        let clean = CatalogueStatus {
            loads: 3,
            failed_loads: 1,
            ..CatalogueStatus::default()
        };
        m.catalogue_loaded(&clean, 1, true);
        assert_eq!(m.catalogue_reloads.get(), 2);
        assert_eq!(m.catalogue_reload_failures.get(), 1);
        assert_eq!(m.catalogue_files_failed.get(), 0);
        let unusable = CatalogueStatus {
            failed_loads: 2,
            unusable: Some("catalogue path x does not exist".into()),
            ..CatalogueStatus::default()
        };
        m.catalogue_loaded(&unusable, 1, true);
        assert_eq!(m.catalogue_reloads.get(), 2);
        assert_eq!(m.catalogue_reload_failures.get(), 2);
        let text = m.render();
        assert!(
            text.contains("shadowtap_collector_catalogue_reload_failures_total 2"),
            "{text}"
        );
        assert!(
            text.contains("shadowtap_collector_catalogue_files_failed 0"),
            "{text}"
        );
    }
}
