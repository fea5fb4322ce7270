//! `GET /ui`: hosts, endpoints, declared vs shadow, open findings by kind and severity, traffic.

use super::findings::findings_table;
use super::respond::{enc, frame, html};
use super::session::SignedIn;
use super::view::{load, View};
use super::MAX_ROWS;
use crate::state::AppState;
use analyzer::finding::{Finding, Severity};
use analyzer::report::html::{
    column_chart, escape, format_bytes, format_count, hbar_chart, incomplete_banner, minute_label,
    severity_color, short_time,
};
use axum::extract::State;
use axum::response::Response;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Arc;

pub(super) async fn overview(
    State(st): State<Arc<AppState>>,
    SignedIn { session: s, .. }: SignedIn,
) -> Response {
    let v = match load(&st).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    html(frame("Overview", "Overview", Some(&s), &overview_body(&v)))
}

pub(super) fn card(o: &mut String, k: &str, value: &str, note: &str, href: Option<&str>) {
    let inner = format!(
        "<div class=\"k\">{}</div><div class=\"v\">{}</div><div class=\"n\">{}</div>",
        escape(k),
        escape(value),
        escape(note)
    );
    match href {
        Some(h) => {
            let _ = write!(o, "<a class=\"card\" href=\"{}\">{inner}</a>", escape(h));
        }
        None => {
            let _ = write!(o, "<div class=\"card\">{inner}</div>");
        }
    }
}

pub(super) fn overview_body(v: &View) -> String {
    let r = &v.report;
    let s = &r.summary;
    let mut o = String::with_capacity(32 * 1024);
    let window = match (&s.window_start, &s.window_end) {
        (Some(a), Some(b)) => format!("{} to {}", short_time(a), short_time(b)),
        _ => "no traffic yet".to_string(),
    };
    let _ = write!(
        o,
        "<div class=\"pagehead\"><h1>Overview</h1><span class=\"muted\">traffic {} &middot; {} agent{}</span></div>",
        escape(&window),
        v.agents,
        if v.agents == 1 { "" } else { "s" }
    );
    o.push_str(&incomplete_banner(s));
    let visible: Vec<&Finding> = r
        .findings
        .iter()
        .filter(|f| !v.state_of(&f.id).hidden_by_default())
        .collect();
    let hidden = r.findings.len() - visible.len();
    let high = visible
        .iter()
        .filter(|f| f.severity >= Severity::High)
        .count();
    let shadow = s.endpoints - s.declared_endpoints;
    o.push_str("<div class=\"cards\">");
    card(
        &mut o,
        "Hosts",
        &format_count(s.hosts as u64),
        "seen carrying HTTP",
        None,
    );
    card(
        &mut o,
        "Endpoints",
        &format_count(s.endpoints as u64),
        &format!("{} declared, {shadow} shadow", s.declared_endpoints),
        Some("/ui/endpoints"),
    );
    card(
        &mut o,
        "Open findings",
        &format_count(visible.len() as u64),
        &format!("{high} high or critical, {hidden} suppressed or accepted"),
        Some("/ui/findings"),
    );
    card(
        &mut o,
        "HTTP exchanges",
        &format_count(s.http_exchanges),
        &format!(
            "{} packets, {}",
            format_count(s.packets),
            format_bytes(s.bytes)
        ),
        None,
    );
    card(
        &mut o,
        "Catalogue",
        &format!("{} APIs", s.catalogue.apis),
        &format!("{} operations", s.catalogue.operations),
        None,
    );
    o.push_str("</div>");

    let sev_rows: Vec<(String, u64, &str)> = Severity::ALL
        .iter()
        .map(|sev| {
            (
                sev.as_str().to_string(),
                visible.iter().filter(|f| f.severity == *sev).count() as u64,
                severity_color(*sev),
            )
        })
        .collect();
    let mut kinds: BTreeMap<&str, u64> = BTreeMap::new();
    for f in &visible {
        *kinds.entry(f.kind.as_str()).or_default() += 1;
    }
    let mut kind_rows: Vec<(String, u64, &str)> = kinds
        .into_iter()
        .map(|(k, n)| (k.to_string(), n, "#1565c0"))
        .collect();
    kind_rows.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let declared_rows = vec![
        (
            "declared".to_string(),
            s.declared_endpoints as u64,
            "#2e7d32",
        ),
        ("shadow".to_string(), shadow as u64, "#c62828"),
    ];
    let points: Vec<(String, u64)> = r
        .timeline
        .iter()
        .map(|(m, n)| (minute_label(*m), *n))
        .collect();
    let _ = write!(
        o,
        "<div class=\"charts\">\
         <div class=\"chart\"><h3>Open findings by severity</h3>{}</div>\
         <div class=\"chart\"><h3>Open findings by kind</h3>{}</div>\
         <div class=\"chart\"><h3>Endpoints: declared vs shadow</h3>{}</div>\
         <div class=\"chart\"><h3>Exchanges per minute (UTC, packet time)</h3>{}</div></div>",
        hbar_chart(&sev_rows),
        hbar_chart(&kind_rows),
        hbar_chart(&declared_rows),
        column_chart(&points, "#1565c0")
    );

    // The most severe open findings.
    let mut top = visible.clone();
    top.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.id.cmp(&b.id)));
    o.push_str("<h2>Most severe open findings</h2>");
    findings_table(&mut o, v, &top[..top.len().min(10)]);
    let _ = write!(
        o,
        "<p><a class=\"btn secondary\" href=\"/ui/findings\">All findings</a></p>"
    );

    // Hosts.
    let mut hosts: BTreeMap<&str, (u64, u64, u64, usize)> = BTreeMap::new();
    for e in &r.endpoints {
        let h = hosts.entry(e.host.as_str()).or_default();
        h.0 += 1;
        if e.declared {
            h.1 += 1;
        }
        h.2 += e.exchanges;
    }
    for f in &visible {
        if let Some(h) = hosts.get_mut(f.host.as_str()) {
            h.3 += 1;
        }
    }
    o.push_str(
        "<h2>Hosts</h2><table><thead><tr><th>host</th><th class=\"num\">endpoints</th>\
         <th class=\"num\">declared</th><th class=\"num\">shadow</th><th class=\"num\">exchanges</th>\
         <th class=\"num\">open findings</th></tr></thead><tbody>",
    );
    for (host, (n, declared, ex, fs)) in hosts.iter().take(MAX_ROWS) {
        let _ = write!(
            o,
            "<tr{}><td class=\"mono\"><a href=\"{}\">{}</a></td><td class=\"num\">{n}</td><td class=\"num\">{declared}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\"><a href=\"{}\">{fs}</a></td></tr>",
            if declared == &0 { " class=\"undeclared\"" } else { "" },
            escape(&format!("/ui/endpoints?host={}", enc(host))),
            escape(host),
            n - declared,
            format_count(*ex),
            escape(&format!("/ui/findings?host={}", enc(host))),
        );
    }
    o.push_str("</tbody></table>");
    o
}
