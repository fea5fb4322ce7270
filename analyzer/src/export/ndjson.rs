//! NDJSON: one JSON object per endpoint per line, for log pipelines and data lakes.
//!
//! serde_json escapes every control character, so a hostile name cannot start a new record.

use super::Snapshot;
use serde_json::{json, Map, Value};

/// The inventory as newline-delimited JSON, one endpoint per line.
pub fn render_ndjson(snap: &Snapshot) -> String {
    let mut out = String::new();
    for e in &snap.endpoints {
        let r = &e.record;
        let api = snap.api_of(e);
        let fields = |m: &std::collections::BTreeMap<_, std::collections::BTreeSet<_>>| {
            Value::Object(
                m.iter()
                    .map(|(k, v): (&String, _)| (k.clone(), json!(v)))
                    .collect::<Map<_, _>>(),
            )
        };
        let data_classes: Vec<Value> = r
            .data_classes
            .iter()
            .flat_map(|(class, locs)| {
                locs.iter().map(move |(loc, stat)| {
                    json!({"class": class, "location": loc, "count": stat.count,
                           "preview": stat.preview})
                })
            })
            .collect();
        let line = json!({
            "host": e.key.host,
            "method": e.key.method,
            "path": e.key.path,
            "declared": e.declared.is_some(),
            "host_declared": e.host_declared,
            "api": api.map(|a| json!({"title": a.title, "version": a.version,
                                      "source": a.source})),
            "operation_id": e.declared.as_ref().and_then(|d| d.operation_id.clone()),
            "declared_path": e.declared.as_ref().map(|d| d.path.clone()),
            "deprecated": e.declared.as_ref().is_some_and(|d| d.deprecated),
            "owner": e.owner(snap),
            "system": api.and_then(|a| a.system.clone()),
            "tags": e.declared.as_ref().map(|d| d.tags.clone()).unwrap_or_default(),
            "exchanges": r.exchanges,
            "complete_exchanges": r.complete_exchanges,
            "consumers": e.consumers,
            "first_seen": r.first_seen.rfc3339(),
            "last_seen": r.last_seen.rfc3339(),
            "statuses": r.statuses.iter().map(|(s, n)| (s.to_string(), json!(n)))
                .collect::<Map<_, _>>(),
            "no_response": r.no_response,
            "query_params": r.query_params,
            "header_params": r.header_params,
            "request_content_types": r.request_content_types,
            "response_content_types": r.response_content_types,
            "request_fields": fields(&r.request_fields),
            "response_fields": fields(&r.response_fields),
            "data_classes": data_classes,
            "auth": r.auth,
            "anomalies": r.anomalies,
            "confidence": r.confidence(),
        });
        let mut line = line;
        let tpps = e.tpps();
        if !tpps.is_empty() {
            line["tpps"] = json!(tpps);
        }
        out.push_str(&line.to_string());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::testutil::fixture;
    use super::*;

    #[test]
    fn one_object_per_line() {
        let (inv, cat) = fixture();
        let text = render_ndjson(&Snapshot::build(&inv, &cat));
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("each line is JSON"))
            .collect();
        assert_eq!(lines.len(), inv.endpoints.len());
        let declared = lines.iter().find(|l| l["declared"] == true).unwrap();
        assert_eq!(declared["operation_id"], "getAccount");
        assert_eq!(declared["owner"], "team-accounts");
        assert_eq!(
            declared["response_fields"]["items[].iban"],
            json!(["string"])
        );
        assert_eq!(declared["data_classes"][0]["preview"], "GB** **** 1234");
    }
}
