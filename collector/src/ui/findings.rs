//! `GET /ui/findings`: the findings list, filtered and sorted; the table other pages reuse.

use super::respond::{enc, finding_href, frame, html};
use super::session::SignedIn;
use super::view::{finding_classes, load, state_chip, View};
use super::MAX_ROWS;
use crate::review::ReviewState;
use crate::state::AppState;
use analyzer::finding::{Finding, FindingKind, Severity};
use analyzer::report::html::{escape, finding_target_text, severity_badge};
use axum::extract::{Query, State};
use axum::response::Response;
use std::fmt::Write;
use std::sync::Arc;

/// Filters and sort of the findings list (all optional; unknown values are ignored).
#[derive(serde::Deserialize, Default, Clone)]
#[serde(default)]
pub(super) struct FindingsQuery {
    kind: String,
    severity: String,
    host: String,
    class: String,
    /// `open`, `acknowledged`, `suppressed`, `accepted`, `all`; empty: everything not hidden.
    state: String,
    /// `severity` (default), `kind`, `host`, `confidence`, `state`, `exchanges`.
    sort: String,
}

impl FindingsQuery {
    fn matches(&self, v: &View, f: &Finding) -> bool {
        let state = v.state_of(&f.id);
        let state_ok = match self.state.as_str() {
            "all" => true,
            "" => !state.hidden_by_default(),
            s => s.parse::<ReviewState>().map_or(true, |want| want == state),
        };
        let kind_ok = self
            .kind
            .parse::<FindingKind>()
            .map_or(true, |k| k == f.kind);
        let sev_ok = self
            .severity
            .parse::<Severity>()
            .map_or(true, |s| s == f.severity);
        let host_ok = self.host.is_empty()
            || f.host
                .to_ascii_lowercase()
                .contains(&self.host.to_ascii_lowercase());
        let class_ok = self.class.is_empty() || finding_classes(f).contains(&self.class);
        state_ok && kind_ok && sev_ok && host_ok && class_ok
    }

    fn with_sort(&self, sort: &str) -> String {
        format!(
            "/ui/findings?kind={}&severity={}&host={}&class={}&state={}&sort={}",
            enc(&self.kind),
            enc(&self.severity),
            enc(&self.host),
            enc(&self.class),
            enc(&self.state),
            enc(sort)
        )
    }
}

pub(super) fn sort_findings(v: &View, list: &mut [&Finding], sort: &str) {
    let by_sev = |a: &&Finding, b: &&Finding| b.severity.cmp(&a.severity).then(a.id.cmp(&b.id));
    match sort {
        "kind" => list.sort_by(|a, b| a.kind.cmp(&b.kind).then(by_sev(a, b))),
        "host" => list.sort_by(|a, b| a.host.cmp(&b.host).then(by_sev(a, b))),
        "confidence" => list.sort_by(|a, b| {
            b.confidence
                .partial_cmp(&a.confidence)
                .unwrap_or(std::cmp::Ordering::Equal)
                .then(by_sev(a, b))
        }),
        "state" => {
            list.sort_by(|a, b| v.state_of(&a.id).cmp(&v.state_of(&b.id)).then(by_sev(a, b)))
        }
        "exchanges" => list.sort_by(|a, b| {
            b.evidence
                .exchanges
                .cmp(&a.evidence.exchanges)
                .then(by_sev(a, b))
        }),
        _ => list.sort_by(by_sev),
    }
}

pub(super) fn findings_table(o: &mut String, v: &View, list: &[&Finding]) {
    findings_table_with(o, v, list, None);
}

pub(super) fn findings_table_with(
    o: &mut String,
    v: &View,
    list: &[&Finding],
    q: Option<&FindingsQuery>,
) {
    if list.is_empty() {
        o.push_str("<p class=\"muted\">No findings match.</p>");
        return;
    }
    let head = |key: &str, label: &str| match q {
        Some(q) => format!(
            "<a href=\"{}\">{}{}</a>",
            escape(&q.with_sort(key)),
            label,
            if q.sort == key || (q.sort.is_empty() && key == "severity") {
                " &#9662;"
            } else {
                ""
            }
        ),
        None => label.to_string(),
    };
    let _ = write!(
        o,
        "<table><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>detail</th><th>data classes</th>\
         <th>{}</th><th class=\"num\">{}</th></tr></thead><tbody>",
        head("severity", "severity"),
        head("kind", "kind"),
        head("host", "target"),
        head("state", "review"),
        head("confidence", "confidence"),
    );
    for f in list.iter().take(MAX_ROWS) {
        let classes = finding_classes(f)
            .iter()
            .map(|c| format!("<span class=\"chip\">{}</span>", escape(c)))
            .collect::<Vec<_>>()
            .join(" ");
        let _ = write!(
            o,
            "<tr><td>{}</td><td><span class=\"chip\">{}</span></td>\
             <td class=\"mono\"><a href=\"{}\">{}</a></td><td>{}</td><td>{classes}</td><td>{}</td>\
             <td class=\"num\">{:.0}%</td></tr>",
            severity_badge(f.severity),
            escape(f.kind.as_str()),
            finding_href(&f.id),
            escape(&finding_target_text(f)),
            escape(&f.detail),
            state_chip(v.state_of(&f.id)),
            f.confidence * 100.0
        );
    }
    o.push_str("</tbody></table>");
    if list.len() > MAX_ROWS {
        let _ = write!(
            o,
            "<p class=\"muted\">{} more not shown: narrow the filters.</p>",
            list.len() - MAX_ROWS
        );
    }
}

pub(super) fn select(
    o: &mut String,
    name: &str,
    label: &str,
    current: &str,
    options: &[(&str, &str)],
) {
    let _ = write!(o, "<label>{label}<select name=\"{name}\">");
    for (value, text) in options {
        let _ = write!(
            o,
            "<option value=\"{}\"{}>{}</option>",
            escape(value),
            if *value == current { " selected" } else { "" },
            escape(text)
        );
    }
    o.push_str("</select></label>");
}

pub(super) async fn findings_page(
    State(st): State<Arc<AppState>>,
    SignedIn { session: s, .. }: SignedIn,
    q: Result<Query<FindingsQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let q = q.map(|Query(q)| q).unwrap_or_default();
    let v = match load(&st).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let mut list: Vec<&Finding> = v
        .report
        .findings
        .iter()
        .filter(|f| q.matches(&v, f))
        .collect();
    sort_findings(&v, &mut list, &q.sort);
    let mut o = String::with_capacity(32 * 1024);
    let _ = write!(
        o,
        "<div class=\"pagehead\"><h1>Findings</h1><span class=\"count\">{} of {} shown</span></div>\
         <form class=\"filters\" method=\"get\" action=\"/ui/findings\">",
        list.len(),
        v.report.findings.len()
    );
    let mut kinds = vec![("", "any")];
    kinds.extend(FindingKind::every().map(|k| (k.as_str(), k.as_str())));
    select(&mut o, "kind", "kind", &q.kind, &kinds);
    let mut sevs = vec![("", "any")];
    sevs.extend(Severity::ALL.iter().map(|s| (s.as_str(), s.as_str())));
    select(&mut o, "severity", "severity", &q.severity, &sevs);
    let _ = write!(
        o,
        "<label>host<input name=\"host\" value=\"{}\" placeholder=\"contains\"></label>",
        escape(&q.host)
    );
    let mut classes: Vec<String> = v.report.findings.iter().flat_map(finding_classes).collect();
    classes.sort();
    classes.dedup();
    let mut class_opts = vec![("", "any")];
    class_opts.extend(classes.iter().map(|c| (c.as_str(), c.as_str())));
    select(&mut o, "class", "data class", &q.class, &class_opts);
    select(
        &mut o,
        "state",
        "review state",
        &q.state,
        &[
            ("", "not hidden"),
            ("open", "open"),
            ("acknowledged", "acknowledged"),
            ("suppressed", "suppressed"),
            ("accepted", "accepted"),
            ("all", "all, hidden too"),
        ],
    );
    select(
        &mut o,
        "sort",
        "sort by",
        &q.sort,
        &[
            ("", "severity"),
            ("kind", "kind"),
            ("host", "host"),
            ("confidence", "confidence"),
            ("state", "review state"),
            ("exchanges", "exchanges"),
        ],
    );
    o.push_str(
        "<button type=\"submit\">Apply</button><a class=\"btn secondary\" href=\"/ui/findings\">Reset</a></form>",
    );
    findings_table_with(&mut o, &v, &list, Some(&q));
    html(frame("Findings", "Findings", Some(&s), &o))
}
