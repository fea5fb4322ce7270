//! `GET /ui/endpoint?host=&method=&path=`: one endpoint: statuses, parameters, fields, data
//! classes, consumers, its catalogue operation and how traffic differs from it.

use super::respond::{finding_href, frame, html, html_status};
use super::session::SignedIn;
use super::view::{load, state_chip};
use super::MAX_ROWS;
use crate::state::AppState;
use analyzer::catalogue::Security;
use analyzer::finding::Finding;
use analyzer::observation::EndpointKey;
use analyzer::report::html::{escape, format_count, severity_badge, short_time};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use std::fmt::Write;
use std::sync::Arc;

#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub(super) struct EndpointQuery {
    host: String,
    method: String,
    path: String,
}

pub(super) async fn endpoint_page(
    State(st): State<Arc<AppState>>,
    SignedIn { session: s, .. }: SignedIn,
    q: Result<Query<EndpointQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let q = q.map(|Query(q)| q).unwrap_or_default();
    let v = match load(&st).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let key = EndpointKey {
        host: q.host.clone(),
        method: q.method.clone(),
        path: q.path.clone(),
    };
    let (Some(rec), Some(view)) = (
        v.analysis.inventory.endpoints.get(&key),
        v.report
            .endpoints
            .iter()
            .find(|e| e.host == key.host && e.method == key.method && e.path == key.path),
    ) else {
        return html_status(
            StatusCode::NOT_FOUND,
            &frame(
                "Not found",
                "Endpoints",
                Some(&s),
                "<div class=\"notice\">No such endpoint in the inventory.</div>\
                 <p><a href=\"/ui/endpoints\">All endpoints</a></p>",
            ),
        );
    };
    let mut o = String::with_capacity(16 * 1024);
    let _ = write!(
        o,
        "<div class=\"crumbs\"><a href=\"/ui/endpoints\">Endpoints</a> / {}</div>\
         <div class=\"pagehead\"><h1><span class=\"chip\">{}</span> <span class=\"mono\">{}{}</span></h1>{}</div>",
        escape(&view.host),
        escape(&view.method),
        escape(&view.host),
        escape(&view.path),
        if view.declared {
            "<span class=\"badge declared\">declared</span>"
        } else {
            "<span class=\"badge shadow\">shadow</span>"
        }
    );
    o.push_str("<div class=\"grid2\"><div>");
    // Traffic facts.
    let _ = write!(
        o,
        "<div class=\"panel\"><h2>Traffic</h2><dl class=\"kv\"><dt>exchanges</dt><dd>{}</dd>\
         <dt>first seen</dt><dd>{}</dd><dt>last seen</dt><dd>{}</dd><dt>confidence</dt><dd>{:.0}%</dd>\
         <dt>statuses</dt><dd>{}</dd><dt>auth</dt><dd>{}</dd><dt>template</dt><dd>{}</dd></dl></div>",
        format_count(view.exchanges),
        escape(&short_time(&view.first_seen)),
        escape(&short_time(&view.last_seen)),
        view.confidence * 100.0,
        view.statuses
            .iter()
            .map(|(c, n)| format!("<span class=\"chip\">{} &times; {}</span>", escape(c), format_count(*n)))
            .collect::<Vec<_>>()
            .join(" "),
        escape(&view.auth.join(", ")),
        view.template_params
            .iter()
            .map(|p| format!("{{{}}}: {}", escape(&p.name), escape(&p.reason)))
            .collect::<Vec<_>>()
            .join(", "),
    );
    // SOAP operations, when the endpoint carried SOAP (one path hides many operations).
    if let Some(soap) = rec.soap.as_deref() {
        let _ = write!(
            o,
            "<div class=\"panel\"><h2>SOAP operations</h2><p class=\"muted\">SOAP {}</p>\
             <table><thead><tr><th>operation</th><th class=\"num\">calls</th><th class=\"num\">faults</th></tr></thead><tbody>",
            escape(&soap.versions.keys().cloned().collect::<Vec<_>>().join(", "))
        );
        for (name, stat) in soap.operations.iter().take(MAX_ROWS) {
            let _ = write!(
                o,
                "<tr><td class=\"mono\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                escape(name),
                format_count(stat.calls),
                format_count(stat.faults)
            );
        }
        if soap.unnamed > 0 {
            let _ = write!(
                o,
                "<tr><td class=\"muted\">(unnamed)</td><td class=\"num\">{}</td><td></td></tr>",
                format_count(soap.unnamed)
            );
        }
        o.push_str("</tbody></table></div>");
    }
    // gRPC: the method's streaming kind, messages and grpc-status names.
    if let Some(g) = rec.grpc.as_deref() {
        let statuses = g
            .statuses
            .iter()
            .map(|(name, n)| format!("{} {}", escape(name), format_count(*n)))
            .collect::<Vec<_>>()
            .join(", ");
        let _ = write!(
            o,
            "<div class=\"panel\"><h2>gRPC</h2><table><tbody>\
             <tr><th>method</th><td class=\"mono\">{}/{}</td></tr>\
             <tr><th>streaming</th><td>{}</td></tr>\
             <tr><th>calls</th><td class=\"num\">{}</td></tr>\
             <tr><th>messages (request / response)</th><td class=\"num\">{} / {}</td></tr>\
             <tr><th>grpc-status</th><td>{}</td></tr></tbody></table></div>",
            escape(&g.service),
            escape(&g.method),
            g.streaming.as_str(),
            format_count(g.calls),
            format_count(g.request_messages),
            format_count(g.response_messages),
            statuses
        );
    }
    // GraphQL operations (one path hides many operations); never the document itself.
    if let Some(gq) = rec.graphql.as_deref() {
        o.push_str(
            "<div class=\"panel\"><h2>GraphQL operations</h2><table><thead><tr><th>operation</th>\
             <th>root fields</th><th class=\"num\">calls</th><th class=\"num\">errors</th></tr></thead><tbody>",
        );
        for (key, op) in gq.operations.iter().take(MAX_ROWS) {
            let _ = write!(
                o,
                "<tr><td class=\"mono\">{}</td><td class=\"mono\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                escape(key),
                escape(&op.root_fields.iter().cloned().collect::<Vec<_>>().join(", ")),
                format_count(op.calls),
                format_count(op.errors)
            );
        }
        o.push_str("</tbody></table></div>");
    }
    // Parameters.
    o.push_str("<div class=\"panel\"><h2>Parameters</h2>");
    if rec.query_params.is_empty() && rec.header_params.is_empty() {
        o.push_str("<p class=\"muted\">None observed.</p>");
    } else {
        o.push_str("<table><thead><tr><th>in</th><th>name</th><th class=\"num\">exchanges</th></tr></thead><tbody>");
        for (loc, map) in [("query", &rec.query_params), ("header", &rec.header_params)] {
            for (name, n) in map.iter().take(MAX_ROWS) {
                let _ = write!(
                    o,
                    "<tr><td>{loc}</td><td class=\"mono\">{}</td><td class=\"num\">{}</td></tr>",
                    escape(name),
                    format_count(*n)
                );
            }
        }
        o.push_str("</tbody></table>");
    }
    o.push_str("</div>");
    // Body fields with the data classes found at them.
    o.push_str("<div class=\"panel\"><h2>Body fields</h2>");
    if rec.request_fields.is_empty() && rec.response_fields.is_empty() {
        o.push_str("<p class=\"muted\">No JSON body fields observed.</p>");
    } else {
        o.push_str("<table><thead><tr><th>in</th><th>field</th><th>types</th><th>data classes</th></tr></thead><tbody>");
        for (side, map) in [
            ("request", &rec.request_fields),
            ("response", &rec.response_fields),
        ] {
            for (path, types) in map.iter().take(MAX_ROWS) {
                let types: Vec<String> = types
                    .iter()
                    .map(|t| {
                        serde_json::to_value(t)
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_string))
                            .unwrap_or_default()
                    })
                    .collect();
                let suffix = format!(".{path}");
                let classes: Vec<String> = rec
                    .data_classes
                    .iter()
                    .filter(|(_, locs)| {
                        locs.keys()
                            .any(|l| l.starts_with(side) && l.ends_with(&suffix))
                    })
                    .map(|(c, _)| format!("<span class=\"chip\">{}</span>", escape(c)))
                    .collect();
                let _ = write!(
                    o,
                    "<tr><td>{side}</td><td class=\"mono\">{}</td><td>{}</td><td>{}</td></tr>",
                    escape(path),
                    escape(&types.join(", ")),
                    classes.join(" ")
                );
            }
        }
        o.push_str("</tbody></table>");
    }
    o.push_str("</div>");
    // Data classes.
    o.push_str("<div class=\"panel\"><h2>Data classes</h2>");
    if view.data_classes.is_empty() {
        o.push_str("<p class=\"muted\">No sensitive data classes observed.</p>");
    } else {
        o.push_str("<table><thead><tr><th>class</th><th>where</th><th class=\"num\">count</th><th>masked preview</th></tr></thead><tbody>");
        for d in view.data_classes.iter().take(MAX_ROWS) {
            let _ = write!(
                o,
                "<tr><td><span class=\"chip\">{}</span></td><td class=\"mono\">{}</td><td class=\"num\">{}</td><td class=\"mono\">{}</td></tr>",
                escape(&d.class),
                escape(&d.location),
                format_count(d.count),
                escape(&d.preview)
            );
        }
        o.push_str("</tbody></table>");
    }
    o.push_str("</div>");
    // Consumers.
    let _ = write!(
        o,
        "<div class=\"panel\"><h2>Consumers <span class=\"count\">{}</span></h2>",
        view.consumers
    );
    if view.consumer_list.is_empty() {
        o.push_str("<p class=\"muted\">None identified.</p>");
    } else {
        o.push_str("<table><thead><tr><th>consumer</th><th>kind</th><th class=\"num\">exchanges</th></tr></thead><tbody>");
        for c in &view.consumer_list {
            let _ = write!(
                o,
                "<tr><td class=\"mono\">{}{}</td><td>{}{}</td><td class=\"num\">{}</td></tr>",
                escape(c.label.as_deref().unwrap_or(&c.id)),
                if c.label.is_some() {
                    format!(" <span class=\"muted\">{}</span>", escape(&c.id))
                } else {
                    String::new()
                },
                escape(&c.kind),
                if c.unverified {
                    " (unverified claims)"
                } else {
                    ""
                },
                format_count(c.exchanges)
            );
        }
        o.push_str("</tbody></table>");
        if view.consumers_not_listed > 0 {
            let _ = write!(
                o,
                "<p class=\"muted\">{} more not listed.</p>",
                view.consumers_not_listed
            );
        }
    }
    o.push_str("</div>");
    // TPPs (open-banking lens): who they are, by certificate, and their PSD2 roles.
    if !view.tpps.is_empty() {
        let _ = write!(
            o,
            "<div class=\"panel\"><h2>TPPs <span class=\"count\">{}</span></h2><table><thead>\
             <tr><th>TPP</th><th>PSD2 roles</th></tr></thead><tbody>",
            view.tpps.len()
        );
        for (tpp, roles) in &view.tpps {
            let _ = write!(
                o,
                "<tr><td class=\"mono\">{}</td><td>{}</td></tr>",
                escape(tpp),
                escape(&roles.join(", "))
            );
        }
        o.push_str("</tbody></table></div>");
    }
    o.push_str("</div><div>");
    // The catalogue side and how traffic differs from it.
    o.push_str("<div class=\"panel\"><h2>Catalogue operation</h2>");
    match v
        .analysis
        .catalogue
        .find_operation(&key.host, &key.method, &key.path)
    {
        Some(op) => {
            let api = v.analysis.catalogue.apis.get(op.api);
            let security = match &op.security {
                Security::None => "none".to_string(),
                Security::Required(s) => format!("required: {}", s.join(", ")),
                Security::Optional(s) => format!("optional: {}", s.join(", ")),
            };
            let _ = write!(
                o,
                "<dl class=\"kv\"><dt>operation</dt><dd class=\"mono\">{}</dd><dt>API</dt><dd>{}</dd>\
                 <dt>declared in</dt><dd class=\"mono\">{}</dd><dt>spec path</dt><dd class=\"mono\">{} {}</dd>\
                 <dt>deprecated</dt><dd>{}</dd><dt>parameters</dt><dd class=\"mono\">{}</dd>\
                 <dt>responses</dt><dd>{}</dd><dt>security</dt><dd>{}</dd>\
                 <dt>request types</dt><dd>{}</dd><dt>response types</dt><dd>{}</dd></dl>",
                escape(op.operation_id.as_deref().unwrap_or("(no operationId)")),
                escape(&api.map(|a| format!("{} {}", a.title, a.version)).unwrap_or_default()),
                escape(&api.map(|a| a.source.clone()).unwrap_or_default()),
                escape(&op.method),
                escape(&op.spec_path),
                if op.deprecated { "<span class=\"no\">yes</span>" } else { "no" },
                escape(
                    &op.parameters
                        .iter()
                        .map(|p| format!(
                            "{}:{}{}",
                            serde_json::to_value(p.location)
                                .ok()
                                .and_then(|v| v.as_str().map(str::to_string))
                                .unwrap_or_default(),
                            p.name,
                            if p.required { " (required)" } else { "" }
                        ))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                escape(&op.responses.join(", ")),
                escape(&security),
                escape(&op.request_content_types.join(", ")),
                escape(&op.response_content_types.join(", ")),
            );
        }
        None => o.push_str(
            "<p><span class=\"no\">No catalogue operation matches.</span> This is a shadow \
             endpoint: traffic shows it, no spec declares it.</p>",
        ),
    }
    o.push_str("</div><div class=\"panel\"><h2>How traffic differs</h2>");
    let related: Vec<&Finding> = v
        .report
        .findings
        .iter()
        .filter(|f| {
            f.host == key.host
                && f.method.as_deref() == Some(key.method.as_str())
                && f.path.as_deref() == Some(key.path.as_str())
        })
        .collect();
    if related.is_empty() {
        o.push_str("<p class=\"muted\">No findings: traffic matches the declaration.</p>");
    } else {
        for f in related {
            let _ = write!(
                o,
                "<p>{} <span class=\"chip\">{}</span> {} <a href=\"{}\">{}</a><br>{}</p>",
                severity_badge(f.severity),
                escape(f.kind.as_str()),
                state_chip(v.state_of(&f.id)),
                finding_href(&f.id),
                escape(&f.id),
                escape(&f.detail)
            );
        }
    }
    o.push_str("</div></div></div>");
    html(frame("Endpoint", "Endpoints", Some(&s), &o))
}
