//! Swagger 2.0 documents (<https://swagger.io/specification/v2/>).
//!
//! `host` + `basePath` give the one server (no `host`: any host, "the host serving the
//! documentation"); `schemes` only choose http/https, which shadowtap does not tell apart.
//! `body` and `formData` parameters describe the request body, so they are not query/header
//! parameters; the body's media types come from `consumes`.

use super::operations::{
    at, merge_parameters, push_strings, response_keys, security, Ctx, Draft, PathItem, METHODS,
};
use super::refs::Location;
use super::schema::{compile, compile_form};
use super::servers::{clean_prefix, normalize_host};
use super::{Operation, ServerBase};
use serde_json::Value;

/// Load every operation of a Swagger 2.0 document; returns the document's servers.
pub(crate) fn load(ctx: &mut Ctx<'_>, api: usize, out: &mut Vec<Operation>) -> Vec<ServerBase> {
    let set = ctx.set;
    let root = set.root();
    let root_loc = Location {
        doc: 0,
        pointer: String::new(),
    };

    let host = match root.get("host") {
        None => None,
        Some(Value::String(h)) if !h.trim().is_empty() => Some(normalize_host(h)),
        Some(_) => {
            ctx.problem(&at(&root_loc, "host"), "host is not a non-empty string");
            None
        }
    };
    let prefix = root
        .get("basePath")
        .and_then(Value::as_str)
        .map(clean_prefix)
        .unwrap_or_default();
    let servers = vec![ServerBase { host, prefix }];

    let schemes = root.get("securityDefinitions").and_then(Value::as_object);
    let global_security = root.get("security").map(|v| (at(&root_loc, "security"), v));
    let global_consumes = root.get("consumes");
    let global_produces = root.get("produces");

    let Some(paths) = root.get("paths") else {
        ctx.problem(&root_loc, "document has no `paths`");
        return servers;
    };
    let paths_loc = at(&root_loc, "paths");
    let Some(paths) = paths.as_object() else {
        ctx.problem(&paths_loc, "paths is not a mapping");
        return servers;
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
            let (params, body_params, param_schemas) = merge_parameters(ctx, &lists);
            draft.parameters = params;
            draft.param_schemas = param_schemas;

            // `consumes`/`produces` on the operation replace the global lists, even when empty.
            push_strings(
                &mut draft.request_content_types,
                op.get("consumes").or(global_consumes),
            );
            push_strings(
                &mut draft.response_content_types,
                op.get("produces").or(global_produces),
            );
            let form: Vec<_> = body_params
                .iter()
                .filter(|(_, p)| p.get("in").and_then(Value::as_str) == Some("formData"))
                .cloned()
                .collect();
            if !form.is_empty() {
                let id = compile_form(ctx, &form);
                let types = if draft.request_content_types.is_empty() {
                    vec![
                        "application/x-www-form-urlencoded".to_string(),
                        "multipart/form-data".to_string(),
                    ]
                } else {
                    draft.request_content_types.clone()
                };
                for ct in types {
                    draft.request_body.insert(ct, id);
                }
            }
            for (loc, p) in &body_params {
                if let Some(schema) = p.get("schema") {
                    let id = compile(ctx, &at(loc, "schema"), schema);
                    for ct in media_keys(&draft.request_content_types) {
                        draft.request_schemas.insert(ct.clone(), schema.clone());
                        draft.request_body.insert(ct, id);
                    }
                }
            }

            let responses_loc = at(&op_loc, "responses");
            match op.get("responses").map(Value::as_object) {
                Some(Some(responses)) => {
                    draft.responses = response_keys(responses);
                    for (status, response) in responses {
                        if status.starts_with("x-") {
                            continue;
                        }
                        let r_loc = at(&responses_loc, status);
                        let Some((loc, r)) = ctx.object(&r_loc, response, "response") else {
                            continue;
                        };
                        if let Some(schema) = r.get("schema") {
                            let id = compile(ctx, &at(&loc, "schema"), schema);
                            let by_type = draft.response_schemas.entry(status.clone()).or_default();
                            for ct in media_keys(&draft.response_content_types) {
                                by_type.insert(ct.clone(), schema.clone());
                                draft
                                    .response_body
                                    .entry(status.clone())
                                    .or_default()
                                    .insert(ct, id);
                            }
                        }
                    }
                }
                Some(None) => ctx.problem(&responses_loc, "responses is not a mapping"),
                // Required by the spec, but an operation without them is still a route.
                None => {}
            }

            draft.security = security(
                ctx,
                op.get("security").map(|v| (at(&op_loc, "security"), v)),
                global_security.clone(),
                schemes,
            );
            draft.emit(api, &servers, out);
        }
    }
    servers
}

/// Media types a Swagger 2.0 schema applies to: the declared ones, or `*/*` when none are.
fn media_keys(types: &[String]) -> Vec<String> {
    if types.is_empty() {
        vec!["*/*".to_string()]
    } else {
        types.to_vec()
    }
}
