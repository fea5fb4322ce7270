//! OpenAPI 3.0 and 3.1 documents (<https://spec.openapis.org/oas/v3.1.0>).
//!
//! The two versions differ little for a route catalogue: 3.1 adds `webhooks` (requests the API
//! *sends*, so not routes it serves: ignored), makes `paths` optional, and allows siblings next
//! to `$ref` (honoured only for `summary`/`description`, which the catalogue does not keep).
//! Servers are resolved per operation: operation `servers` override path-item `servers`, which
//! override the document's (an empty list counts as absent, as the spec says for the root).

use super::operations::{
    at, merge_parameters, push_unique, response_keys, security, Ctx, Draft, PathItem, METHODS,
};
use super::refs::Location;
use super::schema::compile;
use super::servers::{expand_server_variables, parse_server_url};
use super::{Operation, ServerBase};
use serde_json::Value;

/// Load every operation of an OpenAPI 3.0/3.1 document; returns every server base it names.
pub(crate) fn load(ctx: &mut Ctx<'_>, api: usize, out: &mut Vec<Operation>) -> Vec<ServerBase> {
    let set = ctx.set;
    let root = set.root();
    let root_loc = Location {
        doc: 0,
        pointer: String::new(),
    };

    // No `servers` (or an empty list): "a Server Object with a url value of `/`".
    let global_servers = servers(ctx, root.get("servers"), &at(&root_loc, "servers"))
        .unwrap_or_else(|| {
            vec![ServerBase {
                host: None,
                prefix: String::new(),
            }]
        });
    let mut all_servers = global_servers.clone();

    let schemes = root
        .get("components")
        .and_then(|c| c.get("securitySchemes"))
        .and_then(Value::as_object);
    let global_security = root.get("security").map(|v| (at(&root_loc, "security"), v));

    let paths_loc = at(&root_loc, "paths");
    let paths = match root.get("paths") {
        Some(Value::Object(paths)) => paths,
        Some(_) => {
            ctx.problem(&paths_loc, "paths is not a mapping");
            return all_servers;
        }
        None => return all_servers,
    };

    for (spec_path, item) in paths {
        if spec_path.starts_with("x-") {
            continue;
        }
        let item_loc = at(&paths_loc, spec_path);
        if !spec_path.starts_with('/') {
            ctx.problem(&item_loc, "path does not start with `/`");
        }
        let Some(item) = PathItem::new(ctx, item_loc, item) else {
            continue;
        };
        let path_servers = item
            .get("servers")
            .and_then(|(loc, v)| servers(ctx, Some(v), &loc));
        let path_params = item.get("parameters");
        for method in METHODS {
            let Some((op_loc, op_value)) = item.get(method) else {
                continue;
            };
            let Some((op_loc, op)) = ctx.object(&op_loc, op_value, "operation") else {
                continue;
            };
            let mut draft = Draft::new(method, spec_path, op);

            let lists: Vec<_> = path_params
                .clone()
                .into_iter()
                .chain(op.get("parameters").map(|v| (at(&op_loc, "parameters"), v)))
                .collect();
            let (params, _, param_schemas) = merge_parameters(ctx, &lists);
            draft.parameters = params;
            draft.param_schemas = param_schemas;

            if let Some(body) = op.get("requestBody") {
                let body_loc = at(&op_loc, "requestBody");
                if let Some((loc, body)) = ctx.object(&body_loc, body, "requestBody") {
                    for (ct, m_loc, media) in
                        content(ctx, body.get("content"), &at(&loc, "content"))
                    {
                        push_unique(&mut draft.request_content_types, &ct);
                        if let Some(schema) = media.get("schema") {
                            let id = compile(ctx, &at(&m_loc, "schema"), schema);
                            draft.request_body.insert(ct.clone(), id);
                            draft.request_schemas.insert(ct, schema.clone());
                        }
                    }
                }
            }

            let responses_loc = at(&op_loc, "responses");
            match op.get("responses") {
                Some(Value::Object(responses)) => {
                    draft.responses = response_keys(responses);
                    for (status, response) in responses {
                        if status.starts_with("x-") {
                            continue;
                        }
                        let r_loc = at(&responses_loc, status);
                        let Some((loc, r)) = ctx.object(&r_loc, response, "response") else {
                            continue;
                        };
                        for (ct, m_loc, media) in
                            content(ctx, r.get("content"), &at(&loc, "content"))
                        {
                            push_unique(&mut draft.response_content_types, &ct);
                            if let Some(schema) = media.get("schema") {
                                let id = compile(ctx, &at(&m_loc, "schema"), schema);
                                draft
                                    .response_body
                                    .entry(status.clone())
                                    .or_default()
                                    .insert(ct.clone(), id);
                                let by_type =
                                    draft.response_schemas.entry(status.clone()).or_default();
                                by_type.insert(ct, schema.clone());
                            }
                        }
                    }
                }
                Some(_) => ctx.problem(&responses_loc, "responses is not a mapping"),
                // Optional in 3.1, required in 3.0; either way the route exists.
                None => {}
            }

            draft.security = security(
                ctx,
                op.get("security").map(|v| (at(&op_loc, "security"), v)),
                global_security.clone(),
                schemes,
            );

            let op_servers = op
                .get("servers")
                .and_then(|v| servers(ctx, Some(v), &at(&op_loc, "servers")));
            let effective = op_servers
                .or_else(|| path_servers.clone())
                .unwrap_or_else(|| global_servers.clone());
            for s in &effective {
                if !all_servers.contains(s) {
                    all_servers.push(s.clone());
                }
            }
            draft.emit(api, &effective, out);
        }
    }
    all_servers
}

/// The server bases of a `servers` list; `None` when absent, empty, or wholly unusable, so the
/// caller falls back to the enclosing level.
fn servers(ctx: &mut Ctx<'_>, value: Option<&Value>, loc: &Location) -> Option<Vec<ServerBase>> {
    let list = match value? {
        Value::Array(list) => list,
        _ => {
            ctx.problem(loc, "servers is not a list");
            return None;
        }
    };
    let mut out: Vec<ServerBase> = Vec::new();
    for (i, server) in list.iter().enumerate() {
        let s_loc = at(loc, &i.to_string());
        let Some(url) = server.get("url").and_then(Value::as_str) else {
            ctx.problem(&s_loc, "server has no `url`");
            continue;
        };
        let urls = match expand_server_variables(url, server.get("variables")) {
            Ok((urls, truncated)) => {
                if let Some(message) = truncated {
                    ctx.problem(&at(&s_loc, "variables"), message);
                }
                urls
            }
            Err(message) => {
                ctx.problem(&at(&s_loc, "url"), message);
                continue;
            }
        };
        for u in urls {
            match parse_server_url(&u) {
                Ok(base) if !out.contains(&base) => out.push(base),
                Ok(_) => {}
                Err(message) => ctx.problem(&at(&s_loc, "url"), message),
            }
        }
    }
    (!out.is_empty()).then_some(out)
}

/// The media types of a `content` map with their Media Type Objects, `$ref`-free, and where
/// each was found (after `$ref`s), so schema references inside resolve from the right place.
fn content<'a>(
    ctx: &mut Ctx<'a>,
    value: Option<&'a Value>,
    loc: &Location,
) -> Vec<(String, Location, &'a serde_json::Map<String, Value>)> {
    let Some(value) = value else {
        return Vec::new();
    };
    let Some(map) = value.as_object() else {
        ctx.problem(loc, "content is not a mapping");
        return Vec::new();
    };
    let mut out = Vec::with_capacity(map.len());
    for (ct, media) in map {
        if let Some((m_loc, media)) = ctx.object(&at(loc, ct), media, "media type") {
            out.push((ct.clone(), m_loc, media));
        }
    }
    out
}
