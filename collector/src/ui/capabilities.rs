//! `GET /ui/capabilities`: exposure per open-banking capability. The report's own table
//! (`ScanReport::capabilities`, built once by `analyzer::openbanking::exposure`), then each
//! capability's endpoints: declared, shadow or zombie, traffic, the TPPs with their PSD2 roles,
//! auth schemes and FAPI headers, so a policy that differs shows where.

use super::respond::{endpoint_href, frame, html};
use super::session::SignedIn;
use super::view::load;
use crate::state::AppState;
use analyzer::openbanking::exposure::CapabilityExposure;
use analyzer::report::html::{capability_table, escape, format_count, tpp_table};
use axum::extract::State;
use axum::response::Response;
use std::fmt::Write;
use std::sync::Arc;

pub(super) async fn capabilities_page(
    State(st): State<Arc<AppState>>,
    SignedIn { session: s, .. }: SignedIn,
) -> Response {
    let v = match load(&st).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let caps = &v.report.capabilities;
    let mut o = format!(
        "<div class=\"pagehead\"><h1>Exposure per capability</h1>\
         <span class=\"count\">{} capabilit{}</span></div>",
        caps.len(),
        if caps.len() == 1 { "y" } else { "ies" }
    );
    if caps.is_empty() {
        o.push_str(
            "<p class=\"muted\">The open-banking lens saw no traffic (it is off unless \
             <code>[findings.openbanking] enabled = true</code> on the agents).</p>",
        );
        return html(frame("Capabilities", "Capabilities", Some(&s), &o));
    }
    o.push_str(&capability_table(caps));
    o.push_str(&tpp_table(caps));
    for c in caps {
        capability_section(&mut o, c);
    }
    html(frame("Capabilities", "Capabilities", Some(&s), &o))
}

fn capability_section(o: &mut String, c: &CapabilityExposure) {
    let _ = write!(
        o,
        "<h2 id=\"cap-{0}\">{0}</h2><p class=\"muted\">policy: {1}</p>\
         <table><thead><tr><th>status</th><th>method</th><th>host</th><th>path</th>\
         <th class=\"num\">exchanges</th><th>TPPs (PSD2 roles)</th><th>auth</th>\
         <th>FAPI headers</th></tr></thead><tbody>",
        escape(&c.capability),
        escape(&c.policy_text())
    );
    for e in &c.endpoints {
        let tpps: Vec<String> = e
            .tpps
            .iter()
            .map(|(tpp, roles)| {
                format!(
                    "<span class=\"chip\">{}</span>{}",
                    escape(tpp),
                    if roles.is_empty() {
                        String::new()
                    } else {
                        format!(" {}", escape(&roles.join(", ")))
                    }
                )
            })
            .collect();
        let list = |v: &[String]| {
            if v.is_empty() {
                "none".to_string()
            } else {
                escape(&v.join(", "))
            }
        };
        let _ = write!(
            o,
            "<tr{}><td>{}</td><td><span class=\"chip\">{}</span></td><td class=\"mono\">{}</td>\
             <td class=\"mono\"><a href=\"{}\">{}</a></td><td class=\"num\">{}</td><td>{}</td>\
             <td>{}</td><td>{}</td></tr>",
            if e.status == "declared" {
                ""
            } else {
                " class=\"undeclared\""
            },
            e.status,
            escape(&e.method),
            escape(&e.host),
            endpoint_href(&e.host, &e.method, &e.path),
            escape(&e.path),
            format_count(e.exchanges),
            tpps.join("<br>"),
            list(&e.auth),
            list(&e.fapi_headers),
        );
    }
    o.push_str("</tbody></table>");
}
