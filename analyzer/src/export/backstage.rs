//! Backstage catalog entities (YAML, one document per entity), for developer portals.
//!
//! - `kind: API` per declared API (its definition: an OpenAPI document with the declared spec's
//!   `info` and servers; the spec file itself is named in an annotation) and per host with
//!   undeclared endpoints (its definition: the OpenAPI 3.1 shadowtap infers, see
//!   [`super::render_openapi`]), so shadow APIs show up in the portal with their shapes.
//! - `kind: Component` / `kind: System` where the spec names them (`x-component`, `x-system`).
//!
//! YAML safety: every string is written double-quoted with every non-printable and non-ASCII
//! character escaped, so no hostile host or path can end a scalar, start a document (`---`) or
//! add a key. Definitions are literal blocks of ASCII-escaped JSON, indented under their key.

use super::openapi::openapi_value;
use super::Snapshot;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

const API_VERSION: &str = "backstage.io/v1alpha1";

/// OpenAPI `paths` of a declared API: every operation it declares (or, for snapshots without
/// the list, every declared operation observed), with its operationId and deprecation, and
/// whether traffic was seen (`x-shadowtap-observed`). Responses are not in the snapshot: the
/// spec file named in the annotations has them; `default` keeps the document valid.
/// A gRPC API's Backstage definition: its service and rpcs as declared (the message types
/// are in the catalogue file named).
fn grpc_definition(api: &super::ApiRef) -> String {
    let (package, service) = api.title.rsplit_once('.').unwrap_or(("", &api.title));
    let mut out = format!(
        "// Declared in {} (gRPC); message types as declared there.\n",
        api.source
    );
    if !package.is_empty() {
        out.push_str(&format!("package {package};\n"));
    }
    out.push_str(&format!("service {service} {{\n"));
    for o in &api.operations {
        let method = o.path.rsplit('/').next().unwrap_or_default();
        out.push_str(&format!("  rpc {method};\n"));
    }
    out.push_str("}\n");
    out
}

fn declared_paths(api: &super::ApiRef, endpoints: &[&super::SnapshotEndpoint]) -> Value {
    let observed: BTreeSet<(&str, &str)> = endpoints
        .iter()
        .filter_map(|e| {
            e.declared
                .as_ref()
                .map(|d| (d.path.as_str(), e.key.method.as_str()))
        })
        .collect();
    // (key under `paths`, full template, method, operationId, deprecated)
    type Op = (String, String, String, Option<String>, bool);
    let mut ops: Vec<Op> = api
        .operations
        .iter()
        .map(|o| {
            let key = if o.spec_path.is_empty() {
                &o.path
            } else {
                &o.spec_path
            };
            (
                key.clone(),
                o.path.clone(),
                o.method.clone(),
                o.operation_id.clone(),
                o.deprecated,
            )
        })
        .collect();
    if ops.is_empty() {
        for e in endpoints {
            if let Some(d) = &e.declared {
                let m = e.key.method.clone();
                ops.push((
                    d.path.clone(),
                    d.path.clone(),
                    m,
                    d.operation_id.clone(),
                    d.deprecated,
                ));
            }
        }
    }
    let mut paths = serde_json::Map::new();
    for (key, full, method, operation_id, deprecated) in ops {
        let seen = observed.contains(&(full.as_str(), method.as_str()));
        let item = paths
            .entry(key)
            .or_insert_with(|| Value::Object(serde_json::Map::new()));
        let mut op = json!({
            "responses": {"default": {"description": "see the declared spec"}},
            "x-shadowtap-observed": seen,
        });
        if let Some(id) = operation_id {
            op["operationId"] = Value::String(id);
        }
        if deprecated {
            op["deprecated"] = Value::Bool(true);
        }
        if let Value::Object(m) = item {
            m.insert(method.to_ascii_lowercase(), op);
        }
    }
    Value::Object(paths)
}

/// The TPPs (open-banking lens) that called any of `endpoints`, `; `-separated.
fn tpps_of<'a>(endpoints: impl Iterator<Item = &'a super::SnapshotEndpoint>) -> String {
    let tpps: BTreeSet<String> = endpoints.flat_map(|e| e.tpps()).collect();
    tpps.into_iter().collect::<Vec<_>>().join("; ")
}

/// An entity with the `shadowtap.io/tpps` annotation when any TPP called it.
fn with_tpps(tpps: String, mut entity: Value) -> Value {
    if !tpps.is_empty() {
        entity["metadata"]["annotations"]["shadowtap.io/tpps"] = Value::String(tpps);
    }
    entity
}

/// The inventory as Backstage catalog entities (multi-document YAML).
pub fn render_backstage(snap: &Snapshot) -> String {
    let mut names = BTreeSet::new();
    let mut entities: Vec<Value> = Vec::new();
    let mut systems: BTreeMap<String, (String, String)> = BTreeMap::new();
    let mut components: BTreeMap<String, (String, Option<String>, Vec<String>)> = BTreeMap::new();

    for (i, api) in snap.apis.iter().enumerate() {
        let endpoints: Vec<_> = snap
            .endpoints
            .iter()
            .filter(|e| e.declared.as_ref().is_some_and(|d| d.api == i))
            .collect();
        let name = unique_name(&mut names, &api.title, "api");
        let owner = api.owner.clone().unwrap_or_else(|| "unassigned".into());
        let exchanges: u64 = endpoints.iter().map(|e| e.record.exchanges).sum();
        // Deprecated only when every operation of the API is: one deprecated operation among
        // live ones is a zombie finding, not a retired API. (Snapshots without the operation
        // list: the observed declared endpoints decide, all of them.)
        let deprecated = api.all_deprecated().unwrap_or_else(|| {
            !endpoints.is_empty()
                && endpoints
                    .iter()
                    .all(|e| e.declared.as_ref().is_some_and(|d| d.deprecated))
        });
        let mut classes: BTreeSet<&str> = BTreeSet::new();
        for e in &endpoints {
            classes.extend(e.data_classes());
        }
        let definition = json!({
            "openapi": "3.1.0",
            "info": {"title": api.title, "version": api.version,
                     "description": format!("Declared in {} (OpenAPI {}).", api.source, api.spec_version)},
            "servers": api.servers.iter().filter(|s| !s.starts_with('*'))
                .map(|s| json!({"url": format!("https://{}", super::encode_host(s.split('/').next().unwrap_or("")) + &super::encode_path(&s[s.find('/').unwrap_or(s.len())..]))}))
                .collect::<Vec<_>>(),
            "paths": declared_paths(api, &endpoints),
        });
        let mut spec = json!({
            "type": "openapi",
            "lifecycle": if deprecated { "deprecated" } else { "production" },
            "owner": owner,
            "definition": ascii_json(&definition),
        });
        if api.spec_version == "grpc" {
            // Backstage's `grpc` API type: the definition is protobuf text.
            spec["type"] = Value::String("grpc".into());
            spec["definition"] = Value::String(grpc_definition(api));
        }
        if api.spec_version == "wsdl" {
            // A SOAP port: `type: wsdl`, the definition names the WSDL it is declared in.
            spec["type"] = Value::String("wsdl".into());
            spec["definition"] = Value::String(format!(
                "<!-- Declared in {} (WSDL 1.1): port {} ({}), operations as declared there. -->\n",
                api.source.replace("--", "- -"),
                api.title.replace("--", "- -"),
                api.version
            ));
        }
        if let Some(sys) = &api.system {
            let sys_name = unique_key(&mut systems, sys, &owner);
            spec["system"] = Value::String(sys_name);
        }
        if let Some(c) = &api.component {
            let entry = components
                .entry(c.clone())
                .or_insert_with(|| (owner.clone(), api.system.clone(), Vec::new()));
            entry.2.push(name.clone());
        }
        let mut tags = vec!["shadowtap".to_string(), "declared".to_string()];
        tags.extend(api.tags.iter().map(|t| tag(t)));
        tags.extend(classes.iter().map(|c| tag(c)));
        let tpps = tpps_of(endpoints.iter().copied());
        entities.push(with_tpps(tpps, json!({
            "apiVersion": API_VERSION,
            "kind": "API",
            "metadata": {
                "name": name,
                "title": api.title,
                "description": format!("{} {} as declared in {}; {} exchanges observed on {} endpoints.",
                    api.title, api.version, api.source, exchanges, endpoints.len()),
                "annotations": {
                    "shadowtap.io/declared": "true",
                    "shadowtap.io/spec-source": api.source,
                    "shadowtap.io/exchanges": exchanges.to_string(),
                },
                "tags": dedup(tags),
            },
            "spec": spec,
        })));
    }

    // Undeclared endpoints, one API per host.
    let hosts: BTreeSet<&str> = snap
        .endpoints
        .iter()
        .filter(|e| e.declared.is_none())
        .map(|e| e.key.host.as_str())
        .collect();
    for host in hosts {
        let mut sub = snap.clone();
        sub.endpoints.retain(|e| e.key.host == host);
        let exchanges: u64 = sub
            .endpoints
            .iter()
            .filter(|e| e.declared.is_none())
            .map(|e| e.record.exchanges)
            .sum();
        let undeclared = sub
            .endpoints
            .iter()
            .filter(|e| e.declared.is_none())
            .count();
        let mut classes: BTreeSet<&str> = BTreeSet::new();
        for e in snap
            .endpoints
            .iter()
            .filter(|e| e.key.host == host && e.declared.is_none())
        {
            classes.extend(e.data_classes());
        }
        let host_declared = sub.endpoints.iter().any(|e| e.host_declared);
        let name = unique_name(&mut names, &format!("shadow-{host}"), "shadow-api");
        let mut tags = vec!["shadowtap".to_string(), "shadow-api".to_string()];
        tags.extend(classes.iter().map(|c| tag(c)));
        let tpps = tpps_of(sub.endpoints.iter().filter(|e| e.declared.is_none()));
        entities.push(with_tpps(tpps, json!({
            "apiVersion": API_VERSION,
            "kind": "API",
            "metadata": {
                "name": name,
                "title": format!("Undeclared endpoints on {host}"),
                "description": format!(
                    "{undeclared} endpoints seen in traffic on {host} that no catalogue operation \
                     declares ({exchanges} exchanges){}. Definition inferred by shadowtap from \
                     observed traffic: review before adopting.",
                    if host_declared { "" } else { "; the host itself is undeclared" }),
                "annotations": {
                    "shadowtap.io/declared": "false",
                    "shadowtap.io/host": host,
                    "shadowtap.io/exchanges": exchanges.to_string(),
                },
                "tags": dedup(tags),
            },
            "spec": {
                "type": "openapi",
                "lifecycle": "production",
                "owner": "unassigned",
                "definition": ascii_json(&openapi_value(&sub)),
            },
        })));
    }

    // GraphQL endpoints: an API of Backstage's `graphql` type each, its definition the root
    // fields observed (SDL; field types are not observed, only names).
    for e in snap.endpoints.iter().filter(|e| e.record.graphql.is_some()) {
        let Some(g) = e.record.graphql.as_deref() else {
            continue;
        };
        let host = e.key.host.as_str();
        let name = unique_name(&mut names, &format!("graphql-{host}"), "graphql-api");
        entities.push(json!({
            "apiVersion": API_VERSION,
            "kind": "API",
            "metadata": {
                "name": name,
                "title": format!("GraphQL {} {} on {host}", e.key.method, e.key.path),
                "description": format!(
                    "{} GraphQL operations seen in {} exchanges. Definition inferred by \
                     shadowtap from observed traffic: review before adopting.",
                    g.operations.len(), e.record.exchanges),
                "annotations": {
                    "shadowtap.io/declared": e.declared.is_some().to_string(),
                    "shadowtap.io/host": host,
                    "shadowtap.io/exchanges": e.record.exchanges.to_string(),
                },
                "tags": ["shadowtap", "graphql"],
            },
            "spec": {
                "type": "graphql",
                "lifecycle": "production",
                "owner": "unassigned",
                "definition": crate::graphql::report::observed_sdl(g),
            },
        }));
    }

    for (sys, (name, owner)) in &systems {
        entities.push(json!({
            "apiVersion": API_VERSION,
            "kind": "System",
            "metadata": {"name": name, "title": sys,
                         "annotations": {"shadowtap.io/declared": "true"}},
            "spec": {"owner": owner},
        }));
    }
    for (comp, (owner, system, apis)) in &components {
        let name = unique_name(&mut names, comp, "component");
        let mut spec = json!({
            "type": "service",
            "lifecycle": "production",
            "owner": owner,
            "providesApis": apis,
        });
        if let Some(s) = system.as_ref().and_then(|s| systems.get(s)) {
            spec["system"] = Value::String(s.0.clone());
        }
        entities.push(json!({
            "apiVersion": API_VERSION,
            "kind": "Component",
            "metadata": {"name": name, "title": comp},
            "spec": spec,
        }));
    }

    let mut out = String::new();
    for e in &entities {
        out.push_str("---\n");
        yaml(e, 0, &mut out);
    }
    out
}

/// A system's entity name, once per system text.
fn unique_key(systems: &mut BTreeMap<String, (String, String)>, sys: &str, owner: &str) -> String {
    let taken: BTreeSet<String> = systems.values().map(|v| v.0.clone()).collect();
    systems
        .entry(sys.to_string())
        .or_insert_with(|| {
            let mut names = taken;
            (unique_name(&mut names, sys, "system"), owner.to_string())
        })
        .0
        .clone()
}

/// A Backstage name (`[a-zA-Z0-9]+([-_.][a-zA-Z0-9]+)*`, at most 63 characters), unique here.
fn unique_name(taken: &mut BTreeSet<String>, text: &str, fallback: &str) -> String {
    let mut base = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            base.push(c.to_ascii_lowercase());
        } else if !base.is_empty() && !base.ends_with('-') {
            base.push('-');
        }
    }
    base.truncate(56);
    let base = base.trim_end_matches('-').to_string();
    let base = if base.is_empty() {
        fallback.to_string()
    } else {
        base
    };
    let mut name = base.clone();
    let mut n = 2;
    while !taken.insert(name.clone()) {
        name = format!("{base}-{n}");
        n += 1;
    }
    name
}

/// A tag (`[a-z0-9:+#]+(-[a-z0-9:+#]+)*`, at most 63 characters).
fn tag(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_alphanumeric() || matches!(c, ':' | '+' | '#') {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    out.truncate(63);
    let t = out.trim_end_matches('-');
    if t.is_empty() {
        "data".into()
    } else {
        t.into()
    }
}

fn dedup(mut v: Vec<String>) -> Vec<String> {
    let mut seen = BTreeSet::new();
    v.retain(|t| seen.insert(t.clone()));
    v
}

/// Pretty JSON with every non-ASCII character escaped, so it can stand in a literal block.
fn ascii_json(v: &Value) -> String {
    let text = serde_json::to_string_pretty(v).unwrap_or_default();
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut buf = [0u16; 2];
            for unit in c.encode_utf16(&mut buf) {
                let _ = write!(out, "\\u{unit:04x}");
            }
        }
    }
    out
}

/// A double-quoted YAML scalar: printable ASCII as is, everything else escaped.
pub(crate) fn yaml_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            ' '..='~' => out.push(c),
            c if (c as u32) <= 0xffff => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => {
                let _ = write!(out, "\\U{:08x}", c as u32);
            }
        }
    }
    out.push('"');
    out
}

/// Keys we write are plain identifiers; anything else is quoted.
fn yaml_key(k: &str) -> String {
    let plain = k.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '/' | '-'));
    if plain {
        k.to_string()
    } else {
        yaml_str(k)
    }
}

/// Block-style YAML for a JSON value, at `indent` spaces.
fn yaml(v: &Value, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                let _ = write!(out, "{pad}{}:", yaml_key(k));
                value_after_key(v, indent, out);
            }
        }
        Value::Array(items) => {
            for item in items {
                let _ = write!(out, "{pad}-");
                match item {
                    Value::Object(m) if !m.is_empty() => {
                        // `- key: v` then the rest of the mapping aligned under the first key.
                        let mut first = true;
                        for (k, v) in m {
                            if first {
                                let _ = write!(out, " {}:", yaml_key(k));
                                first = false;
                            } else {
                                let _ = write!(out, "{pad}  {}:", yaml_key(k));
                            }
                            value_after_key(v, indent + 2, out);
                        }
                    }
                    other => {
                        out.push(' ');
                        scalar(other, indent + 2, out);
                    }
                }
            }
        }
        other => {
            out.push_str(&pad);
            scalar(other, indent, out);
        }
    }
}

fn value_after_key(v: &Value, indent: usize, out: &mut String) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            yaml(v, indent + 2, out);
        }
        Value::Array(a) if !a.is_empty() => {
            out.push('\n');
            yaml(v, indent + 2, out);
        }
        other => {
            out.push(' ');
            scalar(other, indent + 2, out);
        }
    }
}

/// A scalar (or empty collection) and its newline. Multi-line ASCII text becomes a literal
/// block indented under its key; everything else is quoted.
fn scalar(v: &Value, indent: usize, out: &mut String) {
    match v {
        Value::Null => out.push_str("null\n"),
        Value::Bool(b) => {
            let _ = writeln!(out, "{b}");
        }
        Value::Number(n) => {
            let _ = writeln!(out, "{n}");
        }
        Value::Object(_) => out.push_str("{}\n"),
        Value::Array(_) => out.push_str("[]\n"),
        Value::String(s) if is_block_safe(s) => {
            out.push_str("|-\n");
            let pad = " ".repeat(indent);
            for line in s.lines() {
                let _ = writeln!(out, "{pad}{line}");
            }
        }
        Value::String(s) => {
            out.push_str(&yaml_str(s));
            out.push('\n');
        }
    }
}

/// Literal blocks only for text that reads back exactly: printable ASCII lines, the first not
/// indented (no indentation indicator needed), no trailing spaces or blank lines.
fn is_block_safe(s: &str) -> bool {
    s.contains('\n')
        && !s.starts_with(' ')
        && !s.ends_with('\n')
        && s.lines().all(|l| {
            !l.is_empty() && !l.ends_with(' ') && l.chars().all(|c| (' '..='~').contains(&c))
        })
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{fixture, FORMULA_HOST, HOSTILE_HOST, HOSTILE_PATH};
    use super::*;

    #[test]
    fn names_and_tags_follow_backstage_rules() {
        let mut taken = BTreeSet::new();
        assert_eq!(
            unique_name(&mut taken, "Accounts API v1", "x"),
            "accounts-api-v1"
        );
        assert_eq!(
            unique_name(&mut taken, "Accounts API v1", "x"),
            "accounts-api-v1-2"
        );
        assert_eq!(unique_name(&mut taken, "<>", "api"), "api");
        assert_eq!(tag("uk_sort_code"), "uk-sort-code");
    }

    #[test]
    fn hostile_text_stays_inside_quoted_scalars() {
        assert_eq!(
            yaml_str("a\"b\\c\n---\nkind: x"),
            r#""a\"b\\c\n---\nkind: x""#
        );
        assert_eq!(yaml_str("é\u{2028}"), r#""\u00e9\u2028""#);
        let (inv, cat) = fixture();
        let text = render_backstage(&Snapshot::build(&inv, &cat));
        // Only our own document separators start a line with `---`.
        let docs = text.matches("\n---\n").count() + usize::from(text.starts_with("---\n"));
        assert_eq!(docs, text.lines().filter(|l| *l == "---").count());
        for hostile in [HOSTILE_HOST, HOSTILE_PATH, FORMULA_HOST] {
            for line in text.lines() {
                assert!(
                    !line.trim_start().starts_with(hostile),
                    "unquoted hostile text: {line}"
                );
            }
        }
        // Every entity parses back, and the hostile host comes back intact as an annotation.
        let docs: Vec<Value> = text
            .split("---\n")
            .filter(|d| !d.trim().is_empty())
            .map(|d| serde_saphyr::from_str::<Value>(d).expect("valid YAML"))
            .collect();
        assert!(docs
            .iter()
            .any(|d| d["metadata"]["annotations"]["shadowtap.io/host"] == HOSTILE_HOST));
        let kinds: Vec<&str> = docs.iter().filter_map(|d| d["kind"].as_str()).collect();
        assert_eq!(kinds.iter().filter(|k| **k == "API").count(), 4);
        assert!(kinds.contains(&"System"));
        let shadow = docs
            .iter()
            .find(|d| d["metadata"]["annotations"]["shadowtap.io/host"] == "api.bank.example")
            .unwrap();
        let def: Value =
            serde_json::from_str(shadow["spec"]["definition"].as_str().unwrap()).unwrap();
        assert!(def["paths"]["/v1/accounts/{id}/export"]["post"].is_object());
    }
}
