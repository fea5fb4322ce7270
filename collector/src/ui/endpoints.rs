//! `GET /ui/endpoints`: every endpoint, optionally of one host.

use super::respond::{endpoint_href, frame, html};
use super::session::SignedIn;
use super::view::load;
use super::MAX_ROWS;
use crate::state::AppState;
use analyzer::report::html::{escape, format_count, short_time};
use analyzer::report::EndpointView;
use axum::extract::{Query, State};
use axum::response::Response;
use std::fmt::Write;
use std::sync::Arc;

#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub(super) struct EndpointsQuery {
    host: String,
}

pub(super) async fn endpoints_page(
    State(st): State<Arc<AppState>>,
    SignedIn { session: s, .. }: SignedIn,
    q: Result<Query<EndpointsQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let q = q.map(|Query(q)| q).unwrap_or_default();
    let v = match load(&st).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let list: Vec<&EndpointView> = v
        .report
        .endpoints
        .iter()
        .filter(|e| q.host.is_empty() || e.host == q.host)
        .collect();
    let mut o = String::new();
    let _ =
        write!(
        o,
        "<div class=\"pagehead\"><h1>Endpoints</h1><span class=\"count\">{} shown{}</span></div>\
         <form class=\"filters\" method=\"get\" action=\"/ui/endpoints\"><label>host\
         <input name=\"host\" value=\"{}\"></label><button type=\"submit\">Apply</button>\
         <a class=\"btn secondary\" href=\"/ui/endpoints\">Reset</a></form>",
        list.len(),
        if q.host.is_empty() { "" } else { " for one host" },
        escape(&q.host)
    );
    o.push_str(
        "<table><thead><tr><th>host</th><th>method</th><th>path</th><th>declared</th>\
         <th class=\"num\">exchanges</th><th>data classes</th><th class=\"num\">consumers</th>\
         <th>last seen</th></tr></thead><tbody>",
    );
    for e in list.iter().take(MAX_ROWS) {
        let mut classes: Vec<&str> = e.data_classes.iter().map(|d| d.class.as_str()).collect();
        classes.sort();
        classes.dedup();
        let _ = write!(
            o,
            "<tr{}><td class=\"mono\">{}</td><td><span class=\"chip\">{}</span></td>\
             <td class=\"mono\"><a href=\"{}\">{}</a></td><td>{}</td><td class=\"num\">{}</td><td>{}</td>\
             <td class=\"num\">{}</td><td>{}</td></tr>",
            if e.declared { "" } else { " class=\"undeclared\"" },
            escape(&e.host),
            escape(&e.method),
            endpoint_href(&e.host, &e.method, &e.path),
            escape(&e.path),
            yes_no(e.declared),
            format_count(e.exchanges),
            classes
                .iter()
                .map(|c| format!("<span class=\"chip\">{}</span>", escape(c)))
                .collect::<Vec<_>>()
                .join(" "),
            e.consumers,
            escape(&short_time(&e.last_seen)),
        );
    }
    o.push_str("</tbody></table>");
    if list.len() > MAX_ROWS {
        let _ = write!(
            o,
            "<p class=\"muted\">{} more not shown.</p>",
            list.len() - MAX_ROWS
        );
    }
    html(frame("Endpoints", "Endpoints", Some(&s), &o))
}

pub(super) fn yes_no(b: bool) -> &'static str {
    if b {
        "<span class=\"yes\">yes</span>"
    } else {
        "<span class=\"no\">no (shadow)</span>"
    }
}
