//! The Kafka transport's pure parts, shared by the agent (producer) and the collector
//! (consumer): the client properties a bank's cluster needs (TLS, mTLS, SASL/SCRAM), and the
//! route family that keys a batch, so that one family (host and first path segment) always
//! lands on one partition.
//!
//! Merges are commutative (hits summed, sets unioned, first/last seen min/max), so where a
//! record travels never changes the result; keying by family keeps one family's records on one
//! consumer, and keeps each agent run's batches of one family in order on one partition, which
//! the collector's per-partition high-water mark relies on.

use crate::inventory::Inventory;
use crate::tls::TlsInventory;
use crate::wire::{Batch, Payload};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// How to reach and authenticate to the cluster. Empty options mean plaintext without SASL
/// (a test broker on loopback).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KafkaOptions {
    /// `HOST:PORT,...`
    pub brokers: String,
    pub topic: String,
    /// CA bundle (PEM) that signed the brokers' certificates: turns TLS on.
    pub ca: Option<PathBuf>,
    /// Client certificate and key (PEM) for mTLS.
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// `SCRAM-SHA-256` or `SCRAM-SHA-512`; with `sasl_user` and the password file.
    pub sasl_mechanism: Option<String>,
    pub sasl_user: Option<String>,
    /// A file holding the SASL password (first line), so it is not on the command line.
    pub sasl_password_file: Option<PathBuf>,
}

impl KafkaOptions {
    /// The librdkafka properties these options set, or what is missing or wrong.
    pub fn properties(&self) -> Result<Vec<(&'static str, String)>, String> {
        if self.brokers.trim().is_empty() {
            return Err("--kafka-brokers is empty".into());
        }
        if self.topic.trim().is_empty() {
            return Err("--kafka-topic is empty".into());
        }
        let path = |p: &PathBuf| p.display().to_string();
        let mut props = vec![("bootstrap.servers", self.brokers.clone())];
        let tls = self.ca.is_some() || self.cert.is_some();
        match (&self.cert, &self.key) {
            (Some(c), Some(k)) => {
                props.push(("ssl.certificate.location", path(c)));
                props.push(("ssl.key.location", path(k)));
            }
            (None, None) => {}
            _ => return Err("--kafka-cert and --kafka-key go together".into()),
        }
        if let Some(ca) = &self.ca {
            props.push(("ssl.ca.location", path(ca)));
        }
        let sasl = match (&self.sasl_user, &self.sasl_password_file) {
            (Some(user), Some(file)) => {
                let mechanism = self.sasl_mechanism.as_deref().unwrap_or("SCRAM-SHA-512");
                if !matches!(mechanism, "SCRAM-SHA-256" | "SCRAM-SHA-512") {
                    return Err(format!(
                        "--kafka-sasl-mechanism {mechanism:?}: use SCRAM-SHA-256 or SCRAM-SHA-512"
                    ));
                }
                let text = std::fs::read_to_string(file)
                    .map_err(|e| format!("reading the SASL password from {}: {e}", path(file)))?;
                let password = text.lines().next().unwrap_or("").to_string();
                if password.is_empty() {
                    return Err(format!(
                        "{}: the first line (the password) is empty",
                        path(file)
                    ));
                }
                props.push(("sasl.mechanism", mechanism.to_string()));
                props.push(("sasl.username", user.clone()));
                props.push(("sasl.password", password));
                true
            }
            (None, None) if self.sasl_mechanism.is_none() => false,
            _ => {
                return Err(
                    "SASL needs --kafka-sasl-user and --kafka-sasl-password-file together".into(),
                )
            }
        };
        let protocol = match (tls, sasl) {
            (false, false) => "plaintext",
            (true, false) => "ssl",
            (false, true) => "sasl_plaintext",
            (true, true) => "sasl_ssl",
        };
        props.push(("security.protocol", protocol.to_string()));
        Ok(props)
    }
}

/// The route family of an endpoint: its host and first path segment (`api.bank/accounts`).
pub fn route_family(host: &str, path: &str) -> String {
    let first = path
        .trim_start_matches('/')
        .split(['/', '?'])
        .next()
        .unwrap_or("");
    format!("{host}/{first}")
}

/// The message key of a batch made by [`split_by_family`]: the family of its first endpoint,
/// else its first host, else its first TLS host, else the agent id (counters only).
pub fn batch_key(batch: &Batch) -> String {
    if let Some(e) = batch.inventory.endpoints.first() {
        return route_family(&e.key.host, &e.key.path);
    }
    if let Some(h) = batch.inventory.hosts.keys().next() {
        return format!("{h}/");
    }
    if let Some(h) = batch.inventory.tls.hosts.keys().next() {
        return format!("{h}/");
    }
    batch.agent_id.clone()
}

/// Split a window's payload into one payload per route family, in family order. A host's
/// record travels with its first family (or alone when it has no endpoint); TLS hosts, the
/// counters and the window's other counts stay with the first part (as
/// [`crate::wire::split_to_fit`] keeps them), so the parts merge back into `payload`.
pub fn split_by_family(mut payload: Payload) -> Vec<Payload> {
    let mut parts: BTreeMap<String, Payload> = BTreeMap::new();
    let empty = |limits: &Inventory, tls: &TlsInventory| Payload {
        inventory: Inventory::new(limits.limits.clone()),
        tls: TlsInventory::new(tls.limits),
        counters: BTreeMap::new(),
    };
    for (key, record) in std::mem::take(&mut payload.inventory.endpoints) {
        let family = route_family(&key.host, &key.path);
        let part = parts
            .entry(family)
            .or_insert_with(|| empty(&payload.inventory, &payload.tls));
        part.inventory.endpoints.insert(key, record);
    }
    for (host, record) in std::mem::take(&mut payload.inventory.hosts) {
        let prefix = format!("{host}/");
        let family = parts
            .range(prefix.clone()..)
            .next()
            .filter(|(f, _)| f.starts_with(&prefix))
            .map_or(prefix, |(f, _)| f.clone());
        let part = parts
            .entry(family)
            .or_insert_with(|| empty(&payload.inventory, &payload.tls));
        part.inventory.hosts.insert(host, record);
    }
    let mut out: Vec<Payload> = parts.into_values().collect();
    match out.first_mut() {
        Some(first) => {
            // The first part carries the window's counts: move its records into `payload`.
            payload.inventory.endpoints = std::mem::take(&mut first.inventory.endpoints);
            payload.inventory.hosts = std::mem::take(&mut first.inventory.hosts);
            *first = payload;
        }
        None => out.push(payload),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_are_host_and_first_segment() {
        assert_eq!(
            route_family("api.bank", "/accounts/{id}/balances"),
            "api.bank/accounts"
        );
        assert_eq!(route_family("api.bank", "/"), "api.bank/");
        assert_eq!(route_family("api.bank", "/pay?x=1"), "api.bank/pay");
    }

    fn observed(inv: &mut Inventory, host: &str, path: &str) {
        let obs: crate::observation::Observation = serde_json::from_value(serde_json::json!({
            "ts": 1_700_000_000_000_000i64,
            "endpoint": {"host": host, "method": "GET", "path": path},
            "template_source": "learned", "status": 200,
            "request_content_type": null, "response_content_type": null,
            "query_params": [], "header_params": [], "request_fields": [],
            "response_fields": [], "data_classes": [], "auth": "none",
            "consumer": {"address": "10.0.0.1", "credential": null},
            "request_body_len": 0, "response_body_len": 0, "anomalies": []
        }))
        .expect("observation");
        inv.add(&obs);
    }

    #[test]
    fn a_payload_splits_into_one_part_per_family_that_merge_back_into_it() {
        let mut inventory = Inventory::default();
        for (host, path) in [
            ("a.test", "/accounts/1"),
            ("a.test", "/accounts/2/balances"),
            ("a.test", "/payments"),
            ("b.test", "/accounts"),
            ("b.test", "/"),
        ] {
            observed(&mut inventory, host, path);
        }
        let whole = Payload {
            inventory,
            tls: TlsInventory::default(),
            counters: BTreeMap::from([("packets".to_string(), 9)]),
        };
        let parts = split_by_family(whole.clone());
        let keys: Vec<String> = parts
            .iter()
            .map(|p| {
                let families: std::collections::BTreeSet<String> = p
                    .inventory
                    .endpoints
                    .keys()
                    .map(|k| route_family(&k.host, &k.path))
                    .collect();
                assert_eq!(families.len(), 1, "one family per part");
                families.into_iter().next().unwrap_or_default()
            })
            .collect();
        assert_eq!(
            keys,
            [
                "a.test/accounts",
                "a.test/payments",
                "b.test/",
                "b.test/accounts"
            ]
        );
        let mut sum = Inventory::default();
        for p in &parts {
            sum.merge(&p.inventory);
        }
        assert_eq!(sum, whole.inventory);
        let packets: u64 = parts.iter().filter_map(|p| p.counters.get("packets")).sum();
        assert_eq!(packets, 9);
        let batch = Batch::of_payload("e1", 1, 0, parts[2].clone());
        assert_eq!(batch_key(&batch), "b.test/");
    }

    #[test]
    fn options_name_the_security_protocol_and_refuse_half_settings() {
        let base = KafkaOptions {
            brokers: "b:9092".into(),
            topic: "t".into(),
            ..Default::default()
        };
        let proto = |o: &KafkaOptions| {
            o.properties()
                .expect("valid")
                .into_iter()
                .find(|(k, _)| *k == "security.protocol")
                .map(|(_, v)| v)
        };
        assert_eq!(proto(&base).as_deref(), Some("plaintext"));
        let pw = std::env::temp_dir().join(format!("shadowtap-kafka-pw-{}", std::process::id()));
        std::fs::write(&pw, "s3cret\n").expect("write");
        let scram = KafkaOptions {
            ca: Some("/ca.pem".into()),
            sasl_user: Some("shadowtap".into()),
            sasl_password_file: Some(pw.clone()),
            sasl_mechanism: Some("SCRAM-SHA-256".into()),
            ..base.clone()
        };
        assert_eq!(proto(&scram).as_deref(), Some("sasl_ssl"));
        let half = KafkaOptions {
            cert: Some("/c.pem".into()),
            ..base.clone()
        };
        assert!(half.properties().unwrap_err().contains("--kafka-key"));
        let plain = KafkaOptions {
            sasl_mechanism: Some("PLAIN".into()),
            ..scram
        };
        assert!(plain.properties().unwrap_err().contains("SCRAM"));
        let _ = std::fs::remove_file(pw);
    }
}
