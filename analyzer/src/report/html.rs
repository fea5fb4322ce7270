//! Self-contained HTML report: one file a reviewer can mail or attach to a ticket.
//!
//! Inline CSS and inline SVG charts only: no script, no font, image or stylesheet from
//! anywhere, no URL of any kind, so it renders the same offline, in a mail client's sandbox or
//! behind a proxy, and leaks nothing when opened. Everything that came from traffic or a spec
//! (hosts, paths, parameter names, titles, details) goes through [`escape`].
//!
//! The building blocks are public so a server-rendered dashboard can reuse them: the
//! [`STYLESHEET`], [`escape`], [`severity_badge`], [`hbar_chart`], [`column_chart`],
//! [`finding_card`], [`short_time`], [`minute_label`], [`format_count`] and [`format_bytes`].

use super::{by_severity, finding_target, human_bytes, thousands, ScanReport};
use crate::finding::{Finding, Severity};
use std::fmt::Write;

/// The report's stylesheet (also usable by a dashboard): system fonts, print-friendly.
pub const STYLESHEET: &str = r#"
:root{--ink:#1b2430;--muted:#5b6676;--line:#dfe3ea;--bg:#f5f7fa;--card:#fff;--navy:#14213d;
--crit:#7b1fa2;--high:#c62828;--med:#ef6c00;--low:#f9a825;--info:#607d8b;--ok:#2e7d32;--accent:#1565c0}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);font:14px/1.45 -apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
header.top{background:var(--navy);color:#fff;padding:20px 32px}
header.top h1{margin:0;font-size:22px;font-weight:600;letter-spacing:.2px}
header.top .sub{color:#c9d3e3;margin-top:4px;font-size:13px}
main{padding:24px 32px;max-width:1400px}
h2{font-size:17px;margin:28px 0 12px;padding-bottom:6px;border-bottom:2px solid var(--line)}
h3{font-size:15px;margin:18px 0 8px}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(180px,1fr));gap:12px}
.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:14px 16px}
.card .k{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.6px}
.card .v{font-size:26px;font-weight:600;margin-top:2px}
.card .n{color:var(--muted);font-size:12px}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(380px,1fr));gap:12px;margin-top:12px}
.chart{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:12px 16px}
.chart h3{margin:0 0 8px;font-size:13px;color:var(--muted);text-transform:uppercase;letter-spacing:.6px}
.chart svg{display:block;width:100%;height:auto}
.chart svg text{font:12px -apple-system,"Segoe UI",Roboto,Arial,sans-serif;fill:var(--ink)}
.chart svg .axis{fill:var(--muted);font-size:11px}
.badge{display:inline-block;border-radius:10px;padding:1px 9px;font-size:12px;font-weight:600;color:#fff;white-space:nowrap}
.sev-critical{background:var(--crit)}.sev-high{background:var(--high)}.sev-medium{background:var(--med)}
.sev-low{background:var(--low);color:#3b2f00}.sev-info{background:var(--info)}
.chip{display:inline-block;border:1px solid var(--line);border-radius:4px;padding:0 6px;font-size:12px;background:#eef2f7;color:#2d3a4b}
.finding{background:var(--card);border:1px solid var(--line);border-left:5px solid var(--info);border-radius:6px;padding:10px 14px;margin:8px 0}
.finding.critical{border-left-color:var(--crit)}.finding.high{border-left-color:var(--high)}
.finding.medium{border-left-color:var(--med)}.finding.low{border-left-color:var(--low)}
.finding .head{display:flex;gap:8px;align-items:center;flex-wrap:wrap}
.finding .target{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:13px;word-break:break-all}
.finding .detail{margin:6px 0 2px}
.finding .why{color:var(--muted)}
.finding .meta{color:var(--muted);font-size:12px;margin-top:4px}
.finding dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;margin:6px 0 0;font-size:12px}
.finding dt{color:var(--muted)}.finding dd{margin:0;word-break:break-all}
table{border-collapse:collapse;width:100%;background:var(--card);border:1px solid var(--line);border-radius:6px;font-size:13px}
th,td{text-align:left;padding:6px 10px;border-bottom:1px solid var(--line);vertical-align:top}
th{background:#eef2f7;font-weight:600;font-size:12px;color:#2d3a4b}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
td.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px;word-break:break-all}
tr.undeclared td{background:#fff6f5}
.yes{color:var(--ok);font-weight:600}.no{color:var(--high);font-weight:600}
.muted{color:var(--muted)}
.banner{border:2px solid #b42318;background:#fef3f2;color:#7a271a;padding:.6em .9em;border-radius:6px}
footer{color:var(--muted);font-size:12px;padding:16px 32px 32px}
@media print{body{background:#fff}.card,.chart,.finding,table{break-inside:avoid}}
"#;

/// Escape text for HTML element content and double- or single-quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Controls have no business in a report; keep the text readable.
            c if c.is_control() && c != '\n' && c != '\t' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// CSS colour of a severity (the `--crit`.. variables' values, for SVG fills).
pub fn severity_color(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "#7b1fa2",
        Severity::High => "#c62828",
        Severity::Medium => "#ef6c00",
        Severity::Low => "#f9a825",
        Severity::Info => "#607d8b",
    }
}

/// `<span class="badge sev-high">high</span>`.
pub fn severity_badge(s: Severity) -> String {
    format!("<span class=\"badge sev-{0}\">{0}</span>", s.as_str())
}

/// A horizontal bar chart: one row per (label, value, colour). Labels are escaped.
pub fn hbar_chart(rows: &[(String, u64, &str)]) -> String {
    if rows.is_empty() {
        return "<p class=\"muted\">Nothing to chart.</p>".to_string();
    }
    let max = rows.iter().map(|r| r.1).max().unwrap_or(1).max(1);
    let (label_w, bar_w, row_h) = (150.0, 300.0, 26.0);
    let height = rows.len() as f64 * row_h + 4.0;
    let mut s = format!(
        "<svg viewBox=\"0 0 {} {height}\" role=\"img\">",
        label_w + bar_w + 60.0
    );
    for (i, (label, value, color)) in rows.iter().enumerate() {
        let y = i as f64 * row_h + 2.0;
        let w = (*value as f64 / max as f64 * bar_w).max(2.0);
        let _ = write!(
            s,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\
             <rect x=\"{label_w}\" y=\"{}\" width=\"{w:.1}\" height=\"{}\" rx=\"3\" fill=\"{}\"/>\
             <text x=\"{:.1}\" y=\"{}\">{}</text>",
            label_w - 8.0,
            y + 16.0,
            escape(label),
            y + 3.0,
            row_h - 8.0,
            escape(color),
            label_w + w + 6.0,
            y + 16.0,
            thousands(*value)
        );
    }
    s.push_str("</svg>");
    s
}

/// A column chart over time: (label, value) per bucket, labels shown at a few ticks.
pub fn column_chart(points: &[(String, u64)], color: &str) -> String {
    if points.is_empty() {
        return "<p class=\"muted\">No timed traffic.</p>".to_string();
    }
    let max = points.iter().map(|p| p.1).max().unwrap_or(1).max(1);
    let (left, width, height, bottom) = (48.0, 420.0, 150.0, 22.0);
    let step = width / points.len() as f64;
    let bar = (step * 0.8).max(1.0);
    let mut s = format!(
        "<svg viewBox=\"0 0 {} {}\" role=\"img\">\
         <line x1=\"{left}\" y1=\"{height}\" x2=\"{}\" y2=\"{height}\" stroke=\"#dfe3ea\"/>\
         <text class=\"axis\" x=\"{}\" y=\"12\" text-anchor=\"end\">{}</text>\
         <text class=\"axis\" x=\"{}\" y=\"{height}\" text-anchor=\"end\">0</text>",
        left + width + 10.0,
        height + bottom,
        left + width,
        left - 6.0,
        thousands(max),
        left - 6.0,
    );
    let ticks = points.len().div_ceil(6).max(1);
    for (i, (label, value)) in points.iter().enumerate() {
        let h = *value as f64 / max as f64 * (height - 16.0);
        let x = left + i as f64 * step + (step - bar) / 2.0;
        let _ = write!(
            s,
            "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{bar:.1}\" height=\"{h:.1}\" fill=\"{}\"><title>{}: {}</title></rect>",
            height - h,
            escape(color),
            escape(label),
            thousands(*value)
        );
        if i % ticks == 0 {
            let _ = write!(
                s,
                "<text class=\"axis\" x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
                x + bar / 2.0,
                height + 15.0,
                escape(label)
            );
        }
    }
    s.push_str("</svg>");
    s
}

/// `1234567` -> `1,234,567`.
pub fn format_count(n: u64) -> String {
    thousands(n)
}

/// Bytes in human units (MB = 10^6 bytes).
pub fn format_bytes(n: u64) -> String {
    human_bytes(n)
}

/// `GET api.bank/accounts`, or the host alone for host-level findings (not escaped).
pub fn finding_target_text(f: &Finding) -> String {
    finding_target(f)
}

/// The whole report as one HTML document.
/// The "inventory is full" and "catalogue failed" banners when the summary says so, else
/// nothing (report and dashboard).
pub fn incomplete_banner(s: &super::Summary) -> String {
    s.incomplete
        .as_ref()
        .map(|full| full.message.as_str())
        .into_iter()
        .chain(s.catalogue.warning.as_deref())
        .map(|message| {
            format!(
                "<p class=\"banner\" role=\"alert\"><strong>Warning:</strong> {}</p>",
                escape(message)
            )
        })
        .collect()
}

pub fn render_html(r: &ScanReport) -> String {
    let s = &r.summary;
    let mut o = String::with_capacity(64 * 1024);
    let window = match (&s.window_start, &s.window_end) {
        (Some(a), Some(b)) => format!("{} to {}", short_time(a), short_time(b)),
        _ => "no traffic".to_string(),
    };
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"referrer\" content=\"no-referrer\">\
         <title>shadowtap scan report</title><style>{STYLESHEET}</style></head><body>\
         <header class=\"top\"><h1>shadowtap scan report</h1><div class=\"sub\">{} &middot; {}</div></header><main>",
        escape(&s.capture_files.join(", ")),
        escape(&window)
    );
    o.push_str(&incomplete_banner(s));

    // Summary cards.
    let undeclared = s.endpoints - s.declared_endpoints;
    let top = s
        .findings_by_severity
        .iter()
        .filter(|(sev, _)| **sev >= Severity::High)
        .map(|(_, n)| n)
        .sum::<usize>();
    o.push_str("<h2>Summary</h2><div class=\"cards\">");
    card(
        &mut o,
        "HTTP exchanges",
        &thousands(s.http_exchanges),
        &format!("{} packets, {}", thousands(s.packets), human_bytes(s.bytes)),
    );
    card(
        &mut o,
        "Bodies learned",
        &thousands(s.bodies.learned()),
        &super::learning_line(&s.bodies),
    );
    card(
        &mut o,
        "Endpoints",
        &thousands(s.endpoints as u64),
        &format!("{} declared, {undeclared} undeclared", s.declared_endpoints),
    );
    card(
        &mut o,
        "Hosts",
        &thousands(s.hosts as u64),
        "seen carrying HTTP",
    );
    card(
        &mut o,
        "Findings",
        &thousands(s.findings as u64),
        &format!("{top} high or critical"),
    );
    card(
        &mut o,
        "Catalogue",
        &format!("{} APIs", s.catalogue.apis),
        &format!(
            "{} operations, {} problems",
            s.catalogue.operations,
            s.catalogue.problems.len()
        ),
    );
    o.push_str("</div>");

    // Charts.
    let sev_rows: Vec<(String, u64, &str)> = Severity::ALL
        .iter()
        .map(|sev| {
            (
                sev.as_str().to_string(),
                s.findings_by_severity.get(sev).copied().unwrap_or(0) as u64,
                severity_color(*sev),
            )
        })
        .collect();
    let mut kind_rows: Vec<(String, u64, &str)> = s
        .findings_by_kind
        .iter()
        .map(|(k, n)| (k.clone(), *n as u64, "#1565c0"))
        .collect();
    kind_rows.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let points: Vec<(String, u64)> = r
        .timeline
        .iter()
        .map(|(minute, n)| (minute_label(*minute), *n))
        .collect();
    let _ = write!(
        o,
        "<div class=\"charts\"><div class=\"chart\"><h3>Findings by severity</h3>{}</div>\
         <div class=\"chart\"><h3>Findings by kind</h3>{}</div>\
         <div class=\"chart\"><h3>Exchanges per minute (UTC)</h3>{}</div></div>",
        hbar_chart(&sev_rows),
        hbar_chart(&kind_rows),
        column_chart(&points, "#1565c0")
    );

    if !r.capabilities.is_empty() {
        o.push_str("<h2>Exposure per capability</h2>");
        o.push_str(&capability_table(&r.capabilities));
        o.push_str(&tpp_table(&r.capabilities));
    }
    // Findings.
    o.push_str("<h2>Findings</h2>");
    if r.findings.is_empty() {
        o.push_str("<p class=\"muted\">No findings.</p>");
    }
    for (severity, findings) in by_severity(&r.findings) {
        let _ = write!(
            o,
            "<h3>{} <span class=\"muted\">{} finding{}</span></h3>",
            severity_badge(severity),
            findings.len(),
            if findings.len() == 1 { "" } else { "s" }
        );
        for f in findings {
            finding_card(&mut o, f);
            if let Some(n) = r.review_of(&f.id) {
                let _ = write!(
                    o,
                    "<p class=\"review st-{}\"><strong>review:</strong> {}</p>",
                    n.state.as_str(),
                    escape(&n.one_line())
                );
            }
        }
    }

    // Endpoints.
    o.push_str(
        "<h2>Endpoints</h2><table><thead><tr><th>host</th><th>method</th><th>path</th>\
         <th>declared</th><th class=\"num\">exchanges</th><th>statuses</th><th>data classes</th>\
         <th class=\"num\">consumers</th><th>auth</th><th class=\"num\">confidence</th></tr></thead><tbody>",
    );
    for e in &r.endpoints {
        let mut classes: Vec<&str> = e.data_classes.iter().map(|d| d.class.as_str()).collect();
        classes.dedup();
        let statuses: Vec<String> = e
            .statuses
            .iter()
            .map(|(code, n)| format!("{code}&times;{}", thousands(*n)))
            .collect();
        let _ = write!(
            o,
            "<tr{}><td class=\"mono\">{}</td><td><span class=\"chip\">{}</span></td><td class=\"mono\">{}</td>\
             <td>{}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td>{}</td><td class=\"num\">{:.0}%</td></tr>",
            if e.declared { "" } else { " class=\"undeclared\"" },
            escape(&e.host),
            escape(&e.method),
            escape(&e.path),
            if e.declared {
                "<span class=\"yes\">yes</span>"
            } else {
                "<span class=\"no\">no</span>"
            },
            thousands(e.exchanges),
            statuses.join(" "),
            classes
                .iter()
                .map(|c| format!("<span class=\"chip\">{}</span>", escape(c)))
                .collect::<Vec<_>>()
                .join(" "),
            e.consumers,
            escape(&e.auth.join(", ")),
            e.confidence * 100.0
        );
    }
    o.push_str("</tbody></table>");

    // Capture quality.
    o.push_str("<h2>Capture quality</h2>");
    o.push_str(
        "<p class=\"muted\">What the capture could not show. A quiet report is only as good as \
         the traffic it saw.</p>",
    );
    let mut rows: Vec<(String, String)> = Vec::new();
    if let Some(line) = super::http2_opaque_line(&s.counters) {
        rows.push(("HTTP/2".into(), line));
    }
    for (k, v) in &s.anomalies {
        rows.push((format!("anomaly: {k}"), thousands(*v)));
    }
    for (k, v) in s.counters.iter().filter(|(_, v)| **v > 0) {
        rows.push((k.clone(), thousands(*v)));
    }
    for e in &s.capture_errors {
        rows.push(("capture error".into(), e.clone()));
    }
    for p in &s.catalogue.problems {
        rows.push(("catalogue problem".into(), p.clone()));
    }
    if rows.is_empty() {
        o.push_str("<p>No gaps, caps or damage recorded.</p>");
    } else {
        o.push_str("<table><thead><tr><th>what</th><th>count or detail</th></tr></thead><tbody>");
        for (k, v) in rows {
            let _ = write!(
                o,
                "<tr><td>{}</td><td class=\"mono\">{}</td></tr>",
                escape(&k),
                escape(&v)
            );
        }
        o.push_str("</tbody></table>");
    }
    let _ = writeln!(
        o,
        "</main><footer>Generated by shadowtap {} from packet timestamps. Self-contained: this \
         file loads nothing from anywhere. Values are masked previews and keyed fingerprints \
         only.</footer></body></html>",
        env!("CARGO_PKG_VERSION")
    );
    o
}

fn card(o: &mut String, k: &str, v: &str, note: &str) {
    let _ = write!(
        o,
        "<div class=\"card\"><div class=\"k\">{}</div><div class=\"v\">{}</div><div class=\"n\">{}</div></div>",
        escape(k),
        escape(v),
        escape(note)
    );
}

/// One finding as a card (severity stripe, badge, target, detail, why, evidence), escaped.
pub fn finding_card(o: &mut String, f: &Finding) {
    let _ = write!(
        o,
        "<div class=\"finding {sev}\"><div class=\"head\">{badge} <span class=\"chip\">{kind}</span> \
         <span class=\"target\">{target}</span></div><div class=\"detail\">{detail}</div>\
         <div class=\"why\">Why {sev}: {why}</div>\
         <div class=\"meta\">confidence {conf:.0}% &middot; id <code>{id}</code></div>",
        sev = f.severity.as_str(),
        badge = severity_badge(f.severity),
        kind = escape(f.kind.as_str()),
        target = escape(&finding_target(f)),
        detail = escape(&f.detail),
        why = escape(&f.severity_reason),
        conf = f.confidence * 100.0,
        id = escape(&f.id),
    );
    // Evidence as a definition list, whatever fields the kind fills in.
    if let Ok(serde_json::Value::Object(ev)) = serde_json::to_value(&f.evidence) {
        if !ev.is_empty() {
            o.push_str("<dl>");
            for (k, v) in ev {
                let text = match v {
                    serde_json::Value::String(s) => s,
                    serde_json::Value::Array(items) => items
                        .iter()
                        .map(|i| i.as_str().map(str::to_string).unwrap_or(i.to_string()))
                        .collect::<Vec<_>>()
                        .join(", "),
                    serde_json::Value::Object(m) => m
                        .iter()
                        .map(|(k, v)| format!("{k}: {v}"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    other => other.to_string(),
                };
                let _ = write!(
                    o,
                    "<dt>{}</dt><dd>{}</dd>",
                    escape(&k.replace('_', " ")),
                    escape(&text)
                );
            }
            o.push_str("</dl>");
        }
    }
    o.push_str("</div>");
}

/// `2026-03-02T09:00:00.000000Z` -> `2026-03-02 09:00:00 UTC`.
pub fn short_time(t: &str) -> String {
    match (t.get(..10), t.get(11..19)) {
        (Some(d), Some(h)) => format!("{d} {h} UTC"),
        _ => t.to_string(),
    }
}

/// Minutes since the epoch -> `HH:MM`.
pub fn minute_label(minute: i64) -> String {
    let m = minute.rem_euclid(24 * 60);
    format!("{:02}:{:02}", m / 60, m % 60)
}

/// The TPPs of the exposure table with their roles and reach (empty when none was identified).
pub fn tpp_table(rows: &[crate::openbanking::exposure::CapabilityExposure]) -> String {
    let tpps = crate::openbanking::exposure::tpps(rows);
    if tpps.is_empty() {
        return String::new();
    }
    let mut o = String::from(
        "<h3>TPPs</h3><table><thead><tr><th>TPP</th><th>PSD2 roles</th><th>capabilities</th>\
         <th class=\"num\">endpoints</th></tr></thead><tbody>",
    );
    for t in &tpps {
        o.push_str(&format!(
            "<tr><td class=\"mono\">{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td></tr>",
            escape(&t.tpp),
            escape(&t.roles_text()),
            escape(
                &t.capabilities
                    .iter()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            t.endpoints
        ));
    }
    o.push_str("</tbody></table>");
    o
}

/// The exposure-per-capability table (the report's section and the dashboard's page).
pub fn capability_table(rows: &[crate::openbanking::exposure::CapabilityExposure]) -> String {
    let mut o = String::from(
        "<table><thead><tr><th>capability</th>\
         <th>declared</th><th>shadow</th><th>zombie</th><th>exchanges</th>\
         <th>data classes</th><th>TPPs</th><th>policy</th></tr></thead><tbody>",
    );
    for c in rows {
        let classes: Vec<String> = c
            .data_classes
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        let policy = c.policy_text();
        o.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{}</td></tr>",
            escape(&c.capability),
            c.declared,
            c.shadow,
            c.zombie,
            c.exchanges,
            escape(&classes.join(", ")),
            c.tpps,
            escape(&policy)
        ));
    }
    o.push_str("</tbody></table>");
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_attributes() {
        assert_eq!(
            escape("<script>alert(1)</script>"),
            "&lt;script&gt;alert(1)&lt;/script&gt;"
        );
        assert_eq!(
            escape("\"><img onerror='x'>"),
            "&quot;&gt;&lt;img onerror=&#39;x&#39;&gt;"
        );
        assert_eq!(escape("a&b\u{0}"), "a&amp;b\u{fffd}");
    }

    #[test]
    fn charts_escape_labels_and_scale() {
        let svg = hbar_chart(&[("<b>".into(), 10, "#000"), ("x".into(), 5, "#000")]);
        assert!(svg.contains("&lt;b&gt;") && !svg.contains("<b>"));
        assert!(svg.contains("width=\"300.0\"") && svg.contains("width=\"150.0\""));
        let col = column_chart(&[("09:00".into(), 3), ("09:01".into(), 6)], "#123");
        assert_eq!(col.matches("<rect").count(), 2);
        assert_eq!(minute_label(29_532_060), "09:00");
    }
}
