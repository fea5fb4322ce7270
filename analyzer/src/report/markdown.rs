//! Markdown report for tickets and wikis. Traffic-derived text is escaped so a hostile path or
//! host cannot break the table or inject links.

use super::{by_severity, finding_target, human_bytes, thousands, ScanReport};
use std::fmt::Write;

/// Escape Markdown and HTML metacharacters in text that came from traffic.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '|' | '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '#' | '!' | '(' | ')' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

pub fn render_markdown(r: &ScanReport) -> String {
    let s = &r.summary;
    let mut o = String::new();
    let _ = writeln!(o, "# shadowtap scan report\n");
    if let Some(full) = &s.incomplete {
        let _ = writeln!(o, "> **Warning:** {}\n", esc(&full.message));
    }
    if let Some(warning) = &s.catalogue.warning {
        let _ = writeln!(o, "> **Warning:** {}\n", esc(warning));
    }
    let _ = writeln!(o, "| | |\n|---|---|");
    let _ = writeln!(
        o,
        "| Captures | {} ({}) |",
        s.captures,
        esc(&s.capture_files.join(", "))
    );
    if let (Some(a), Some(b)) = (&s.window_start, &s.window_end) {
        let _ = writeln!(o, "| Window | {a} .. {b} |");
    }
    let _ = writeln!(
        o,
        "| Traffic | {} packets, {}, {} TCP flows, {} HTTP exchanges |",
        thousands(s.packets),
        human_bytes(s.bytes),
        thousands(s.tcp_flows),
        thousands(s.http_exchanges)
    );
    let _ = writeln!(o, "| Learning | {} |", super::learning_line(&s.bodies));
    let _ = writeln!(
        o,
        "| Inventory | {} hosts, {} endpoints ({} declared) |",
        s.hosts, s.endpoints, s.declared_endpoints
    );
    let _ = writeln!(
        o,
        "| Catalogue | {} APIs, {} operations |",
        s.catalogue.apis, s.catalogue.operations
    );
    if s.tls_hosts.count > 0 || s.tls_hosts.without_sni > 0 {
        let _ = writeln!(o, "| TLS | {} |", esc(&s.tls_hosts.one_line()));
    }
    let _ = writeln!(o, "| Findings | {} |", s.findings);
    if !s.catalogue.problems.is_empty() {
        let _ = writeln!(o, "\n## Catalogue problems\n");
        for p in &s.catalogue.problems {
            let _ = writeln!(o, "- {}", esc(p));
        }
    }

    if !r.capabilities.is_empty() {
        let _ = writeln!(o, "\n## Exposure per capability\n");
        o.push_str(&crate::openbanking::exposure::markdown_table(
            &r.capabilities,
            &esc,
        ));
        let tpps = crate::openbanking::exposure::markdown_tpps(&r.capabilities, &esc);
        if !tpps.is_empty() {
            let _ = writeln!(o, "\n### TPPs\n");
            o.push_str(&tpps);
        }
    }
    let _ = writeln!(o, "\n## Findings\n");
    for (severity, findings) in by_severity(&r.findings) {
        let _ = writeln!(o, "### {} ({})\n", severity.as_str(), findings.len());
        let _ = writeln!(
            o,
            "| kind | target | detail | why this severity | review | id |\n|---|---|---|---|---|---|"
        );
        for f in findings {
            let tag = r
                .baseline
                .as_ref()
                .and_then(|b| b.status_of(&f.id))
                .map(|s| format!(" ({s})"))
                .unwrap_or_default();
            let _ = writeln!(
                o,
                "| {}{tag} | {} | {} | {} | {} | `{}` |",
                f.kind.as_str(),
                esc(&finding_target(f)),
                esc(&f.detail),
                esc(&f.severity_reason),
                r.review_of(&f.id)
                    .map_or_else(|| "open".to_string(), |n| esc(&n.one_line())),
                f.id
            );
        }
        let _ = writeln!(o);
    }

    if let Some(b) = &r.baseline {
        let _ = writeln!(o, "## Baseline\n");
        let _ = writeln!(
            o,
            "Compared with {} ({} reviewed findings): {} new, {} changed, {} unchanged (not shown), {} fixed.\n",
            esc(&b.source),
            b.baseline_findings,
            b.new.len(),
            b.changed.len(),
            b.unchanged,
            b.fixed.len()
        );
        if !b.fixed.is_empty() {
            let _ = writeln!(o, "| fixed | target | was | id |\n|---|---|---|---|");
            for e in &b.fixed {
                let _ = writeln!(
                    o,
                    "| {} | {} | {} | `{}` |",
                    e.kind.as_str(),
                    esc(&e.target),
                    e.severity,
                    esc(&e.id)
                );
            }
            let _ = writeln!(o);
        }
    }

    let _ = writeln!(o, "## Endpoints\n");
    let _ = writeln!(o, "| host | method | path | declared | exchanges | statuses | data classes |\n|---|---|---|---|---|---|---|");
    for e in &r.endpoints {
        let mut classes: Vec<&str> = e.data_classes.iter().map(|d| d.class.as_str()).collect();
        classes.dedup();
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} | {} |",
            esc(&e.host),
            esc(&e.method),
            esc(&e.path),
            if e.declared { "yes" } else { "**no**" },
            thousands(e.exchanges),
            e.statuses.keys().cloned().collect::<Vec<_>>().join(", "),
            esc(&classes.join(", "))
        );
    }
    let soap: Vec<_> = r.endpoints.iter().filter(|e| e.soap.is_some()).collect();
    if !soap.is_empty() {
        let _ = writeln!(o, "\n## SOAP operations\n");
        for e in soap {
            if let Some(rec) = &e.soap {
                let _ = writeln!(
                    o,
                    "- {} {} {}: {}",
                    esc(&e.host),
                    esc(&e.method),
                    esc(&e.path),
                    esc(&crate::soap::summary(rec))
                );
            }
        }
    }
    let graphql = super::graphql_rows(&r.endpoints);
    if !graphql.is_empty() {
        let _ = writeln!(o, "\n## GraphQL operations\n");
        let _ = writeln!(
            o,
            "| endpoint | operation | root fields | calls | statuses | errors |\n|---|---|---|---|---|---|"
        );
        for row in &graphql {
            let _ = writeln!(
                o,
                "| {} | `{}` | {} | {} | {} | {} |",
                esc(&row.endpoint),
                esc(&row.operation),
                esc(&row.root_fields),
                thousands(row.calls),
                row.statuses,
                row.errors
            );
        }
    }
    let opaque = super::http2_opaque_line(&s.counters);
    if !s.anomalies.is_empty() || opaque.is_some() {
        let _ = writeln!(o, "\n## Capture quality\n");
        for (k, v) in &s.anomalies {
            let _ = writeln!(o, "- {k}: {}", thousands(*v));
        }
        if let Some(line) = opaque {
            let _ = writeln!(o, "- {line}");
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::esc;

    #[test]
    fn hostile_text_cannot_break_tables_or_inject_markup() {
        assert_eq!(esc("a|b"), "a\\|b");
        assert_eq!(esc("<script>"), "\\<script\\>");
        assert_eq!(esc("[x](javascript:y)"), "\\[x\\]\\(javascript:y\\)");
        assert_eq!(esc("l1\nl2"), "l1 l2");
    }
}
