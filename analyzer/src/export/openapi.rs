//! OpenAPI 3.1 for what traffic showed but the catalogue lacks: every undeclared endpoint
//! (on declared hosts and on shadow hosts), so the teams running them can adopt them.
//!
//! What is written is what was observed, nothing guessed: paths from the templates, parameters
//! from the query and header names seen (path parameters from the template), request and
//! response schemas from the field shapes (`a.b[].c` paths with their type sets), one response
//! per status code seen, credentials seen as security schemes, data classes as
//! `x-data-classes`, traffic facts as `x-shadowtap`. Hosts become `servers` (`https://` assumed:
//! the sensor often sits behind a TLS-offloading balancer).
//!
//! The document is JSON (which is also YAML), validates against the OpenAPI 3.1 schema and loads
//! back through [`crate::catalogue::Catalogue`] with no problem: a round trip the tests check.

use super::{encode_host, Snapshot, SnapshotEndpoint};
use crate::observation::FieldType;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// Header parameters OpenAPI says to ignore (they are described elsewhere in the document).
const RESERVED_HEADERS: [&str; 3] = ["accept", "content-type", "authorization"];

/// An OpenAPI 3.1 document (pretty JSON) describing the undeclared endpoints of `snap`.
pub fn render_openapi(snap: &Snapshot) -> String {
    serde_json::to_string_pretty(&openapi_value(snap)).unwrap_or_default() + "\n"
}

/// One path + method, merged over the hosts serving it.
#[derive(Default)]
struct OpAgg<'a> {
    endpoints: Vec<&'a SnapshotEndpoint>,
}

/// The document as a value (for embedding, e.g. in Backstage entities).
pub(crate) fn openapi_value(snap: &Snapshot) -> Value {
    // Shape (placeholders emptied) -> the first template seen, so `/a/{x}` on one host and
    // `/a/{y}` on another become one path, as OpenAPI requires.
    let mut templates: BTreeMap<String, String> = BTreeMap::new();
    // Template -> method -> endpoints.
    let mut paths: BTreeMap<String, BTreeMap<String, OpAgg<'_>>> = BTreeMap::new();
    for e in snap.endpoints.iter().filter(|e| e.declared.is_none()) {
        // OpenAPI paths start with `/`; `*` (OPTIONS *) and absolute forms have no place here.
        // gRPC methods are not REST operations: they go to the exports with API types of their
        // own (CSV `protocol`, CycloneDX `shadowtap:protocol`, Backstage `grpc`), and so are SOAP
        // and GraphQL endpoints (Backstage `wsdl` and `graphql`).
        if !e.key.path.starts_with('/')
            || e.record.grpc.is_some()
            || e.record.soap.is_some()
            || e.record.graphql.is_some()
        {
            continue;
        }
        let template = templates
            .entry(shape(&e.key.path))
            .or_insert_with(|| e.key.path.clone())
            .clone();
        paths
            .entry(template)
            .or_default()
            .entry(e.key.method.to_ascii_lowercase())
            .or_default()
            .endpoints
            .push(e);
    }
    let all_hosts: BTreeSet<&str> = paths
        .values()
        .flat_map(|m| m.values())
        .flat_map(|a| a.endpoints.iter().map(|e| e.key.host.as_str()))
        .collect();

    let mut schemes = Map::new();
    let mut used_ids = BTreeSet::new();
    let mut out_paths = Map::new();
    for (template, methods) in &paths {
        let mut item = Map::new();
        let hosts: BTreeSet<&str> = methods
            .values()
            .flat_map(|a| a.endpoints.iter().map(|e| e.key.host.as_str()))
            .collect();
        if hosts != all_hosts {
            item.insert("servers".into(), servers(&hosts));
        }
        for (method, agg) in methods {
            // Only the methods OpenAPI has fields for; others (PROPFIND...) cannot be described.
            if !matches!(
                method.as_str(),
                "get" | "put" | "post" | "delete" | "options" | "head" | "patch" | "trace"
            ) {
                continue;
            }
            let op = operation(template, method, agg, &mut schemes, &mut used_ids);
            item.insert(method.clone(), op);
        }
        if item.keys().any(|k| k != "servers") {
            out_paths.insert(template.clone(), Value::Object(item));
        }
    }

    let (first, last) = snap
        .window()
        .map(|(a, b)| (a.rfc3339(), b.rfc3339()))
        .unwrap_or_default();
    let mut doc = json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Undeclared APIs observed by shadowtap",
            "version": if last.is_empty() { "observed".to_string() } else { format!("observed-{}", &last[..10]) },
            "description": format!(
                "Endpoints seen in traffic between {first} and {last} that no catalogue \
                 operation declares. Shapes, parameters and status codes are as observed; \
                 review before adopting."
            ),
        },
        "servers": servers(&all_hosts),
        "paths": out_paths,
    });
    if !schemes.is_empty() {
        doc["components"] = json!({ "securitySchemes": schemes });
    }
    doc
}

fn servers(hosts: &BTreeSet<&str>) -> Value {
    Value::Array(
        hosts
            .iter()
            .map(|h| json!({ "url": format!("https://{}", encode_host(h)) }))
            .collect(),
    )
}

/// `/a/{x}/b` -> `/a/{}/b`.
fn shape(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut in_param = false;
    for c in path.chars() {
        match c {
            '{' if !in_param => {
                in_param = true;
                out.push('{');
            }
            '}' if in_param => {
                in_param = false;
                out.push('}');
            }
            _ if in_param => {}
            c => out.push(c),
        }
    }
    out
}

/// Placeholder names of a template, in order, without duplicates.
fn path_params(template: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else {
            break;
        };
        let name = &rest[open + 1..open + close];
        if !name.is_empty() && !out.iter().any(|n| n == name) {
            out.push(name.to_string());
        }
        rest = &rest[open + close + 1..];
    }
    out
}

fn operation(
    template: &str,
    method: &str,
    agg: &OpAgg<'_>,
    schemes: &mut Map<String, Value>,
    used_ids: &mut BTreeSet<String>,
) -> Value {
    let mut query = BTreeSet::new();
    let mut headers = BTreeSet::new();
    let mut req_fields: BTreeMap<&str, BTreeSet<FieldType>> = BTreeMap::new();
    let mut resp_fields: BTreeMap<&str, BTreeSet<FieldType>> = BTreeMap::new();
    let mut statuses: BTreeMap<u16, u64> = BTreeMap::new();
    let mut req_types: BTreeMap<&str, u64> = BTreeMap::new();
    let mut resp_types: BTreeMap<&str, u64> = BTreeMap::new();
    let mut auth: BTreeMap<&str, u64> = BTreeMap::new();
    let mut classes: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    let (mut exchanges, mut no_response) = (0, 0);
    // Distinct over the merged endpoints, not summed.
    let consumers = super::Snapshot::distinct_consumers(agg.endpoints.iter().map(|e| &**e));
    let mut first = None;
    let mut last = None;
    for e in &agg.endpoints {
        let r = &e.record;
        query.extend(r.query_params.keys().map(String::as_str));
        headers.extend(
            r.header_params
                .keys()
                .map(String::as_str)
                .filter(|h| !RESERVED_HEADERS.contains(&h.to_ascii_lowercase().as_str())),
        );
        for (mine, theirs) in [
            (&mut req_fields, &r.request_fields),
            (&mut resp_fields, &r.response_fields),
        ] {
            for (path, types) in theirs {
                mine.entry(path).or_default().extend(types);
            }
        }
        for (s, n) in &r.statuses {
            *statuses.entry(*s).or_default() += n;
        }
        for (mine, theirs) in [
            (&mut req_types, &r.request_content_types),
            (&mut resp_types, &r.response_content_types),
            (&mut auth, &r.auth),
        ] {
            for (k, n) in theirs {
                *mine.entry(k.as_str()).or_default() += n;
            }
        }
        for (class, locs) in &r.data_classes {
            classes
                .entry(class)
                .or_default()
                .extend(locs.keys().map(String::as_str));
        }
        exchanges += r.exchanges;
        no_response += r.no_response;
        first = Some(first.map_or(r.first_seen, |f: crate::time::Timestamp| {
            f.min(r.first_seen)
        }));
        last = Some(last.map_or(r.last_seen, |l: crate::time::Timestamp| l.max(r.last_seen)));
    }

    let mut parameters: Vec<Value> = path_params(template)
        .into_iter()
        .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
        .collect();
    for (names, place) in [(&query, "query"), (&headers, "header")] {
        for name in names.iter() {
            parameters.push(json!({"name": name, "in": place, "schema": {"type": "string"}}));
        }
    }

    let mut op = Map::new();
    op.insert(
        "operationId".into(),
        Value::String(operation_id(method, template, used_ids)),
    );
    op.insert(
        "summary".into(),
        Value::String(format!(
            "Observed {} {template} ({exchanges} exchanges)",
            method.to_ascii_uppercase()
        )),
    );
    if !parameters.is_empty() {
        op.insert("parameters".into(), Value::Array(parameters));
    }
    if !req_fields.is_empty() || !req_types.is_empty() {
        let media = most_common(&req_types).unwrap_or("application/json");
        let mut content = Map::new();
        content.insert(media.into(), media_object(&req_fields));
        op.insert("requestBody".into(), json!({ "content": content }));
    }

    let resp_media = most_common(&resp_types).unwrap_or("application/json");
    let mut responses = Map::new();
    let mut odd = Vec::new();
    for (status, n) in &statuses {
        // The schema allows 100..599 only; anything else is kept as a fact, not a response.
        if !(100..=599).contains(status) {
            odd.push(json!({ "status": status, "count": n }));
            continue;
        }
        let mut response = Map::new();
        response.insert(
            "description".into(),
            Value::String(format!("Observed {n} times")),
        );
        // Field shapes are not kept per status: attach them to success responses only.
        if (200..300).contains(status) && *status != 204 && !resp_fields.is_empty() {
            let mut content = Map::new();
            content.insert(resp_media.into(), media_object(&resp_fields));
            response.insert("content".into(), Value::Object(content));
        }
        responses.insert(status.to_string(), Value::Object(response));
    }
    if responses.is_empty() {
        responses.insert(
            "default".into(),
            json!({"description": "No response with a standard status code was observed"}),
        );
    }
    op.insert("responses".into(), Value::Object(responses));

    // Security as seen: each credential scheme is an alternative; `{}` when some calls had none.
    let mut security = Vec::new();
    for (label, _) in auth.iter().filter(|(l, _)| **l != "none") {
        let scheme = match *label {
            "basic" => json!({"type": "http", "scheme": "basic"}),
            "bearer" => json!({"type": "http", "scheme": "bearer"}),
            "digest" => json!({"type": "http", "scheme": "digest"}),
            // The header or cookie name is not kept in the inventory: describe what is known.
            "api_key" | "cookie" => continue,
            other => json!({"type": "http", "scheme": other}),
        };
        let name = format!("observed_{}", sanitize_id(label));
        schemes.insert(name.clone(), scheme);
        security.push(json!({ name: [] }));
    }
    if !security.is_empty() {
        if auth.contains_key("none") {
            security.push(json!({}));
        }
        op.insert("security".into(), Value::Array(security));
    }
    if !classes.is_empty() {
        op.insert("x-data-classes".into(), json!(classes));
    }
    let mut facts = json!({
        "hosts": agg.endpoints.iter().map(|e| e.key.host.as_str()).collect::<Vec<_>>(),
        "exchanges": exchanges,
        "consumers": consumers,
        "no_response": no_response,
        "first_seen": first.map(|t| t.rfc3339()),
        "last_seen": last.map(|t| t.rfc3339()),
        "auth": auth,
    });
    if !odd.is_empty() {
        facts["unusual_statuses"] = Value::Array(odd);
    }
    op.insert("x-shadowtap".into(), facts);
    Value::Object(op)
}

fn most_common<'a>(counts: &BTreeMap<&'a str, u64>) -> Option<&'a str> {
    counts
        .iter()
        .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
        .map(|(k, _)| *k)
}

fn media_object(fields: &BTreeMap<&str, BTreeSet<FieldType>>) -> Value {
    if fields.is_empty() {
        return json!({});
    }
    json!({ "schema": infer_schema(fields) })
}

/// `get` + `/accounts/{id}/export` -> `get_accounts_id_export`, unique within the document.
fn operation_id(method: &str, template: &str, used: &mut BTreeSet<String>) -> String {
    let base = format!("{method}_{}", sanitize_id(template));
    let mut id = base.clone();
    let mut n = 2;
    while !used.insert(id.clone()) {
        id = format!("{base}_{n}");
        n += 1;
    }
    id
}

/// ASCII letters and digits, other runs collapsed to `_`.
fn sanitize_id(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    let t = out.trim_matches('_');
    if t.is_empty() {
        "root".to_string()
    } else {
        t.to_string()
    }
}

/// A node of the inferred schema tree.
#[derive(Default)]
struct Node {
    types: BTreeSet<FieldType>,
    props: BTreeMap<String, Node>,
    items: Option<Box<Node>>,
}

/// A JSON Schema from observed `a.b[].c` field paths and their types.
///
/// A field name holding `.` or `[]` is indistinguishable from nesting in this notation; such
/// names come out nested, which still describes the body's shape.
pub(crate) fn infer_schema(fields: &BTreeMap<&str, BTreeSet<FieldType>>) -> Value {
    let mut root = Node::default();
    for (path, types) in fields {
        let mut node = &mut root;
        let mut rest: &str = path;
        // A path starting with `[]` means the body itself is an array.
        loop {
            if let Some(r) = rest.strip_prefix("[]") {
                root_kind(node, FieldType::Array);
                node = node.items.get_or_insert_with(Box::default);
                rest = r;
                continue;
            }
            if rest.is_empty() {
                break;
            }
            let rest_trim = rest.strip_prefix('.').unwrap_or(rest);
            let end = rest_trim
                .find(['.', '['])
                .filter(|&i| rest_trim[i..].starts_with('.') || rest_trim[i..].starts_with("[]"))
                .unwrap_or(rest_trim.len());
            let name = &rest_trim[..end];
            root_kind(node, FieldType::Object);
            node = node.props.entry(name.to_string()).or_default();
            rest = &rest_trim[end..];
        }
        node.types.extend(types);
    }
    if root.types.is_empty() {
        root.types.insert(FieldType::Object);
    }
    to_schema(&root)
}

/// Mark a container as what its children say it is, unless observed otherwise already.
fn root_kind(node: &mut Node, ty: FieldType) {
    if node.types.is_empty() {
        node.types.insert(ty);
    }
}

fn to_schema(node: &Node) -> Value {
    let mut names: Vec<&str> = node.types.iter().map(|t| t.as_str()).collect();
    // An integer is a number: `[integer, number]` says no more than `number`.
    if names.contains(&"number") {
        names.retain(|n| *n != "integer");
    }
    let mut s = Map::new();
    s.insert(
        "type".into(),
        if names.len() == 1 {
            Value::String(names[0].into())
        } else {
            json!(names)
        },
    );
    if !node.props.is_empty() {
        s.insert(
            "properties".into(),
            Value::Object(
                node.props
                    .iter()
                    .map(|(k, v)| (k.clone(), to_schema(v)))
                    .collect(),
            ),
        );
    }
    if let Some(items) = &node.items {
        s.insert("items".into(), to_schema(items));
    }
    Value::Object(s)
}

#[cfg(test)]
mod tests {
    use super::super::testutil::fixture;
    use super::*;
    use crate::catalogue::Catalogue;

    #[test]
    fn schemas_follow_field_paths() {
        let fields: BTreeMap<&str, BTreeSet<FieldType>> = BTreeMap::from([
            ("amount", BTreeSet::from([FieldType::Object])),
            ("amount.value", BTreeSet::from([FieldType::Number])),
            ("items", BTreeSet::from([FieldType::Array])),
            ("items[]", BTreeSet::from([FieldType::Object])),
            (
                "items[].id",
                BTreeSet::from([FieldType::Integer, FieldType::Null]),
            ),
        ]);
        assert_eq!(
            infer_schema(&fields),
            json!({"type": "object", "properties": {
                "amount": {"type": "object", "properties": {"value": {"type": "number"}}},
                "items": {"type": "array", "items": {"type": "object", "properties": {
                    "id": {"type": ["integer", "null"]}}}}}})
        );
        let top_array = BTreeMap::from([
            ("[]", BTreeSet::from([FieldType::Object])),
            ("[].id", BTreeSet::from([FieldType::String])),
        ]);
        assert_eq!(
            infer_schema(&top_array),
            json!({"type": "array", "items": {"type": "object",
                   "properties": {"id": {"type": "string"}}}})
        );
    }

    #[test]
    fn ids_and_params() {
        let mut used = BTreeSet::new();
        assert_eq!(
            operation_id("get", "/a/{id}", &mut used),
            "get_a_id".to_string()
        );
        assert_eq!(operation_id("get", "/a/{id}/", &mut used), "get_a_id_2");
        assert_eq!(path_params("/a/{x}/b/{y}/{x}"), vec!["x", "y"]);
        assert_eq!(shape("/a/{x}/b"), "/a/{}/b");
    }

    #[test]
    fn round_trips_through_the_catalogue_loader() {
        let (inv, cat) = fixture();
        let snap = Snapshot::build(&inv, &cat);
        let text = render_openapi(&snap);
        let mut back = Catalogue::default();
        back.add_document("shadow.json", &text).unwrap();
        assert!(back.problems.is_empty(), "{:?}", back.problems);
        // Hostile hosts are percent-encoded in server URLs, so only clean ones can match back.
        let clean = |e: &&SnapshotEndpoint| encode_host(&e.key.host) == e.key.host;
        for e in snap
            .endpoints
            .iter()
            .filter(|e| e.declared.is_none())
            .filter(clean)
        {
            assert!(
                back.find_operation(&e.key.host, &e.key.method, &e.key.path)
                    .is_some(),
                "{} {} {} not found back",
                e.key.host,
                e.key.method,
                e.key.path
            );
        }
        let doc: Value = serde_json::from_str(&text).unwrap();
        let op = &doc["paths"]["/v1/accounts/{id}/export"]["post"];
        assert_eq!(
            op["x-data-classes"]["iban"][0],
            "response.body.items[].iban"
        );
        assert_eq!(op["parameters"][0]["in"], "path");
        assert_eq!(
            op["requestBody"]["content"]["application/json"]["schema"]["properties"]["amount"]
                ["properties"]["value"]["type"],
            "number"
        );
    }
}
