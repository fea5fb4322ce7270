//! The plain-text report printed by default: summary, findings by severity, endpoint table.

use super::{by_severity, finding_target, human_bytes, thousands, EndpointView, ScanReport};
use std::fmt::Write;

pub fn render_text(r: &ScanReport) -> String {
    let s = &r.summary;
    let mut o = String::new();
    let _ = writeln!(o, "shadowtap scan report");
    let _ = writeln!(o, "=====================");
    if let Some(full) = &s.incomplete {
        let _ = writeln!(o, "WARNING    {}", full.message);
    }
    if let Some(warning) = &s.catalogue.warning {
        let _ = writeln!(o, "WARNING    {warning}");
    }
    let _ = writeln!(
        o,
        "Captures   {} ({})",
        s.captures,
        s.capture_files.join(", ")
    );
    if let (Some(a), Some(b)) = (&s.window_start, &s.window_end) {
        let _ = writeln!(o, "Window     {a} .. {b} (packet time)");
    }
    let _ = writeln!(
        o,
        "Traffic    {} packets, {}, {} TCP flows, {} HTTP exchanges",
        thousands(s.packets),
        human_bytes(s.bytes),
        thousands(s.tcp_flows),
        thousands(s.http_exchanges)
    );
    if let Some(line) = super::http2_opaque_line(&s.counters) {
        let _ = writeln!(o, "Quality    {line}");
    }
    let _ = writeln!(
        o,
        "Inventory  {} hosts, {} endpoints ({} declared, {} undeclared)",
        s.hosts,
        s.endpoints,
        s.declared_endpoints,
        s.endpoints - s.declared_endpoints
    );
    if s.tls_hosts.count > 0 || s.tls_hosts.without_sni > 0 {
        let _ = writeln!(o, "TLS        {}", s.tls_hosts.one_line());
    }
    if s.bodies.total() > 0 {
        let _ = writeln!(o, "Learning   {}", super::learning_line(&s.bodies));
    }
    let _ = writeln!(
        o,
        "Catalogue  {} APIs, {} operations",
        s.catalogue.apis, s.catalogue.operations
    );
    let counts: Vec<String> = s
        .findings_by_severity
        .iter()
        .rev()
        .map(|(sev, n)| format!("{n} {sev}"))
        .collect();
    let _ = writeln!(
        o,
        "Findings   {}{}",
        s.findings,
        if counts.is_empty() {
            String::new()
        } else {
            format!(" ({})", counts.join(", "))
        }
    );
    if !r.capabilities.is_empty() {
        let _ = writeln!(o, "\nExposure per capability");
        for c in &r.capabilities {
            let _ = writeln!(
                o,
                "  {:<22} endpoints {}/{}/{} (declared/shadow/zombie), {} exchanges, {} TPPs, \
                 classes [{}], policy {}",
                c.capability,
                c.declared,
                c.shadow,
                c.zombie,
                c.exchanges,
                c.tpps,
                c.data_classes
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", "),
                c.policy_text()
            );
        }
        let tpps = crate::openbanking::exposure::tpps(&r.capabilities);
        if !tpps.is_empty() {
            let _ = writeln!(o, "\nTPPs");
        }
        for t in &tpps {
            let _ = writeln!(
                o,
                "  {:<22} {}, {} endpoint{} in {}",
                t.tpp,
                t.roles_text(),
                t.endpoints,
                if t.endpoints == 1 { "" } else { "s" },
                t.capabilities
                    .iter()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        let _ = writeln!(o);
    }
    for p in &s.catalogue.problems {
        let _ = writeln!(o, "  catalogue problem: {p}");
    }
    for e in &s.capture_errors {
        let _ = writeln!(o, "  capture error: {e}");
    }

    let _ = writeln!(o, "\nFINDINGS");
    if r.findings.is_empty() {
        let _ = writeln!(o, "  none");
    }
    for (severity, findings) in by_severity(&r.findings) {
        let _ = writeln!(o, "\n[{}]", severity.as_str().to_uppercase());
        for f in findings {
            let tag = r
                .baseline
                .as_ref()
                .and_then(|b| b.status_of(&f.id))
                .map(|s| format!(" [{s}]"))
                .unwrap_or_default();
            let _ = writeln!(o, "  {:<20} {}{tag}", f.kind.as_str(), finding_target(f));
            let _ = writeln!(o, "    {}", f.detail);
            let _ = writeln!(
                o,
                "    severity: {}; confidence {:.0}%; id {}",
                f.severity_reason,
                f.confidence * 100.0,
                f.id
            );
            if !f.evidence.data_classes.is_empty() {
                let _ = writeln!(o, "    data: {}", f.evidence.data_classes.join(", "));
            }
            if let Some(n) = r.review_of(&f.id) {
                let _ = writeln!(o, "    review: {}", n.one_line());
            }
        }
    }

    if let Some(b) = &r.baseline {
        let _ = writeln!(o, "\nBASELINE");
        let _ = writeln!(
            o,
            "  compared with {} ({} reviewed findings): {} new, {} changed, {} unchanged (not shown), {} fixed",
            b.source,
            b.baseline_findings,
            b.new.len(),
            b.changed.len(),
            b.unchanged,
            b.fixed.len()
        );
        for e in &b.fixed {
            let _ = writeln!(
                o,
                "  fixed  {:<20} {} (was {}; id {})",
                e.kind.as_str(),
                e.target,
                e.severity,
                e.id
            );
        }
    }

    let _ = writeln!(o, "\nENDPOINTS");
    let rows: Vec<[String; 8]> = r
        .endpoints
        .iter()
        .map(|e| {
            let mut classes: Vec<&str> = e.data_classes.iter().map(|d| d.class.as_str()).collect();
            classes.dedup();
            [
                e.host.clone(),
                e.method.clone(),
                e.path.clone(),
                if e.declared {
                    "yes".into()
                } else {
                    "NO".into()
                },
                thousands(e.exchanges),
                match &e.grpc {
                    // A gRPC call's status is its `grpc-status` (the HTTP status is 200).
                    Some(g) => format!(
                        "grpc {} {}",
                        g.streaming.as_str(),
                        g.statuses.keys().cloned().collect::<Vec<_>>().join(",")
                    ),
                    None => e.statuses.keys().cloned().collect::<Vec<_>>().join(","),
                },
                if classes.is_empty() {
                    "-".into()
                } else {
                    classes.join(",")
                },
                if e.bodies.total() == 0 {
                    "-".into()
                } else {
                    format!("{:.0}%", e.body_coverage * 100.0)
                },
            ]
        })
        .collect();
    let header = [
        "HOST",
        "METHOD",
        "PATH",
        "DECLARED",
        "EXCHANGES",
        "STATUS",
        "DATA",
        "LEARNED",
    ]
    .map(String::from);
    let widths: Vec<usize> = (0..8)
        .map(|i| {
            rows.iter()
                .chain(std::iter::once(&header))
                .map(|r| r[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in std::iter::once(&header).chain(rows.iter()) {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        let _ = writeln!(o, "  {}", line.join("  ").trim_end());
    }

    let with_documents: Vec<&EndpointView> = r
        .endpoints
        .iter()
        .filter(|e| !e.messages.is_empty() || !e.soap_actions.is_empty() || e.soap.is_some())
        .collect();
    if !with_documents.is_empty() {
        // SOAP operations and ISO 20022 message types hide behind one path each.
        let _ = writeln!(o, "\nSOAP AND XML");
        let listed = |m: &std::collections::BTreeMap<String, u64>| {
            m.iter()
                .map(|(k, n)| format!("{k} ({})", thousands(*n)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        for e in with_documents {
            let _ = writeln!(o, "  {} {} {}", e.host, e.method, e.path);
            if let Some(soap) = &e.soap {
                let _ = writeln!(o, "    {}", crate::soap::summary(soap));
            }
            if !e.soap_actions.is_empty() {
                let _ = writeln!(
                    o,
                    "    SOAP actions (exchanges): {}",
                    listed(&e.soap_actions)
                );
            }
            if !e.messages.is_empty() {
                let _ = writeln!(o, "    documents (learned bodies): {}", listed(&e.messages));
            }
        }
    }

    let graphql = super::graphql_rows(&r.endpoints);
    if !graphql.is_empty() {
        // One POST /graphql hides many operations: one line each.
        let _ = writeln!(o, "\nGRAPHQL OPERATIONS");
        let mut last = "";
        for row in &graphql {
            if row.endpoint != last {
                let _ = writeln!(o, "  {}", row.endpoint);
                last = &row.endpoint;
            }
            let _ = writeln!(
                o,
                "    {:<40} {:<32} calls {:>6}  statuses {}  errors {}",
                row.operation,
                row.root_fields,
                thousands(row.calls),
                row.statuses,
                row.errors
            );
        }
    }

    if !s.anomalies.is_empty() {
        let _ = writeln!(o, "\nCAPTURE QUALITY");
        let parts: Vec<String> = s
            .anomalies
            .iter()
            .map(|(k, v)| format!("{k} {}", thousands(*v)))
            .collect();
        let _ = writeln!(o, "  {}", parts.join(", "));
    }
    o
}
