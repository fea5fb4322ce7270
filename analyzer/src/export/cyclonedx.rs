//! CycloneDX 1.6 JSON: the observed APIs as `services`, for SBOM and asset tooling.
//!
//! One service per declared API (named by its title) and one per host for undeclared
//! endpoints, each with its endpoints as URLs (`{` `}` percent-encoded: endpoints are IRI
//! references), `authenticated` (credentials seen, or security declared),
//! `x-trust-boundary` (true: every service here was called over the network by other parties,
//! which is what the sensor sees), data flows with a classification per data class (`inbound`
//! when found in requests, `outbound` in responses), and shadowtap facts as `properties`.
//!
//! Deterministic: the serial number is derived from the content and the timestamp is the end
//! of the observation window (the analyzer reads no clock).

use super::{endpoint_url, Snapshot, SnapshotEndpoint};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

/// The inventory as a CycloneDX 1.6 BOM (pretty JSON).
pub fn render_cyclonedx(snap: &Snapshot) -> String {
    // Group: declared endpoints by API, undeclared ones by host.
    let mut groups: BTreeMap<(u8, String), Vec<&SnapshotEndpoint>> = BTreeMap::new();
    for e in &snap.endpoints {
        let key = match &e.declared {
            Some(d) => (0, format!("api:{}", d.api)),
            None => (1, e.key.host.clone()),
        };
        groups.entry(key).or_default().push(e);
    }
    let services: Vec<Value> = groups
        .iter()
        .map(|((kind, key), endpoints)| service(snap, *kind == 0, key, endpoints))
        .collect();

    let mut bom = json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "version": 1,
        "metadata": {
            "tools": {
                "components": [{
                    "type": "application",
                    "name": "shadowtap",
                    "version": env!("CARGO_PKG_VERSION"),
                    "description": "Passive API discovery and shadow-API detection"
                }]
            },
            "properties": [
                {"name": "shadowtap:window_start",
                 "value": snap.window().map(|w| w.0.rfc3339()).unwrap_or_default()},
                {"name": "shadowtap:window_end",
                 "value": snap.window().map(|w| w.1.rfc3339()).unwrap_or_default()},
            ]
        },
        "services": services,
    });
    if let Some((_, end)) = snap.window() {
        // RFC 3339 with a `Z`: what the schema's `date-time` format expects.
        bom["metadata"]["timestamp"] = Value::String(end.rfc3339());
    }
    let body = serde_json::to_string(&bom).unwrap_or_default();
    bom["serialNumber"] = Value::String(serial_number(&body));
    serde_json::to_string_pretty(&bom).unwrap_or_default() + "\n"
}

fn service(snap: &Snapshot, declared: bool, key: &str, endpoints: &[&SnapshotEndpoint]) -> Value {
    let api = endpoints.first().and_then(|e| snap.api_of(e));
    let hosts: BTreeSet<&str> = endpoints.iter().map(|e| e.key.host.as_str()).collect();
    let name = match api {
        Some(a) if !a.title.is_empty() => a.title.clone(),
        _ => key.to_string(),
    };
    let urls: BTreeSet<String> = endpoints
        .iter()
        .map(|e| endpoint_url(&e.key.host, &e.key.path))
        .collect();
    let authenticated = endpoints.iter().any(|e| {
        e.record.authenticated() > 0 || e.declared.as_ref().is_some_and(|d| !d.security.is_empty())
    });
    // Class -> (in requests, in responses).
    let mut flows: BTreeMap<&str, (bool, bool)> = BTreeMap::new();
    for e in endpoints {
        for (class, locs) in &e.record.data_classes {
            let f = flows.entry(class).or_default();
            for loc in locs.keys() {
                if loc.starts_with("response") {
                    f.1 = true;
                } else {
                    f.0 = true;
                }
            }
        }
    }
    let data: Vec<Value> = flows
        .iter()
        .map(|(class, dir)| {
            let flow = match dir {
                (true, true) => "bi-directional",
                (true, false) => "inbound",
                (false, true) => "outbound",
                (false, false) => "unknown",
            };
            json!({ "flow": flow, "classification": class })
        })
        .collect();
    let exchanges: u64 = endpoints.iter().map(|e| e.record.exchanges).sum();
    // Distinct: one consumer calling every endpoint of the API is one consumer.
    let consumers = Snapshot::distinct_consumers(endpoints.iter().copied());
    let first = endpoints.iter().map(|e| e.record.first_seen).min();
    let last = endpoints.iter().map(|e| e.record.last_seen).max();
    let mut props = vec![
        prop("shadowtap:declared", declared.to_string()),
        prop("shadowtap:exchanges", exchanges.to_string()),
        prop("shadowtap:consumers", consumers.to_string()),
        prop(
            "shadowtap:hosts",
            hosts.iter().copied().collect::<Vec<_>>().join(" "),
        ),
    ];
    // gRPC methods (their own API type): `package.Service/Method kind`, one per endpoint.
    let grpc: BTreeSet<String> = endpoints
        .iter()
        .filter_map(|e| e.record.grpc.as_deref())
        .map(|g| format!("{}/{} {}", g.service, g.method, g.streaming.as_str()))
        .collect();
    if !grpc.is_empty() {
        props.push(prop("shadowtap:protocol", "grpc".to_string()));
        props.push(prop(
            "shadowtap:grpc_methods",
            grpc.into_iter().collect::<Vec<_>>().join(" "),
        ));
    }
    // SOAP operations (their own API type), over every SOAP endpoint of the API.
    let soap: BTreeSet<&str> = endpoints
        .iter()
        .filter_map(|e| e.record.soap.as_deref())
        .flat_map(|s| s.operations.keys().map(String::as_str))
        .collect();
    if endpoints.iter().any(|e| e.record.soap.is_some()) {
        props.push(prop("shadowtap:protocol", "soap".to_string()));
        props.push(prop(
            "shadowtap:soap_operations",
            soap.into_iter().collect::<Vec<_>>().join(" "),
        ));
    }
    // GraphQL operations (their own API type): `type name` or `type #hash`.
    let graphql: BTreeSet<&str> = endpoints
        .iter()
        .filter_map(|e| e.record.graphql.as_deref())
        .flat_map(|g| g.operations.keys().map(String::as_str))
        .collect();
    if endpoints.iter().any(|e| e.record.graphql.is_some()) {
        props.push(prop("shadowtap:protocol", "graphql".to_string()));
        props.push(prop(
            "shadowtap:graphql_operations",
            graphql.into_iter().collect::<Vec<_>>().join(";"),
        ));
    }
    // TPPs that called the service's endpoints (open-banking lens), with their PSD2 roles.
    let tpps: BTreeSet<String> = endpoints.iter().flat_map(|e| e.tpps()).collect();
    if !tpps.is_empty() {
        props.push(prop(
            "shadowtap:tpps",
            tpps.into_iter().collect::<Vec<_>>().join("; "),
        ));
    }
    if let (Some(a), Some(b)) = (first, last) {
        props.push(prop("shadowtap:first_seen", a.rfc3339()));
        props.push(prop("shadowtap:last_seen", b.rfc3339()));
    }
    if let Some(a) = api {
        props.push(prop("shadowtap:spec_source", a.source.clone()));
        if let Some(o) = &a.owner {
            props.push(prop("shadowtap:owner", o.clone()));
        }
        if let Some(s) = &a.system {
            props.push(prop("shadowtap:system", s.clone()));
        }
    }
    let mut s = json!({
        "bom-ref": format!("service:{}", if declared { key.to_string() } else { format!("host:{key}") }),
        "name": name,
        "description": if declared {
            "Declared API, observed in traffic".to_string()
        } else {
            format!("Undeclared endpoints observed on {key}")
        },
        "endpoints": urls,
        "authenticated": authenticated,
        "x-trust-boundary": true,
        "properties": props,
    });
    if let Some(a) = api {
        if !a.version.is_empty() {
            s["version"] = Value::String(a.version.clone());
        }
        if let Some(o) = &a.owner {
            s["provider"] = json!({ "name": o });
        }
        if let Some(g) = &a.system {
            s["group"] = Value::String(g.clone());
        }
    }
    if !data.is_empty() {
        s["data"] = Value::Array(data);
    }
    s
}

fn prop(name: &str, value: String) -> Value {
    json!({ "name": name, "value": value })
}

/// `urn:uuid:` + a version-8 (custom) UUID from BLAKE3 over the BOM: the same inventory gives
/// the same serial number, a different one a different number.
fn serial_number(body: &str) -> String {
    let h = blake3::hash(body.as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&h.as_bytes()[..16]);
    b[6] = (b[6] & 0x0f) | 0x80; // version 8
    b[8] = (b[8] & 0x3f) | 0x80; // RFC 4122 variant
    let hex = crate::hex::encode(&b);
    format!(
        "urn:uuid:{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

#[cfg(test)]
mod tests {
    use super::super::testutil::fixture;
    use super::*;

    #[test]
    fn services_with_encoded_endpoints_and_flows() {
        let (inv, cat) = fixture();
        let snap = Snapshot::build(&inv, &cat);
        let text = render_cyclonedx(&snap);
        assert_eq!(text, render_cyclonedx(&snap), "deterministic");
        let bom: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(bom["specVersion"], "1.6");
        let services = bom["services"].as_array().unwrap();
        let accounts = services.iter().find(|s| s["name"] == "Accounts").unwrap();
        assert_eq!(
            accounts["endpoints"][0],
            "https://api.bank.example/v1/accounts/%7BAccountId%7D"
        );
        assert_eq!(accounts["authenticated"], true);
        assert_eq!(
            accounts["data"][0],
            json!({"flow": "outbound", "classification": "iban"})
        );
        assert_eq!(accounts["provider"]["name"], "team-accounts");
        let serial = bom["serialNumber"].as_str().unwrap();
        assert_eq!(serial.len(), "urn:uuid:".len() + 36);
    }
}
