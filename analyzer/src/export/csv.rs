//! CSV for CMDB imports: one row per endpoint, RFC 4180 (CRLF records, fields quoted when they
//! hold `,` `"` CR or LF, quotes doubled), with a header row.
//!
//! Formula injection: spreadsheet tools run a cell starting with `=`, `+`, `-`, `@` (and tab or
//! CR, which some of them strip first) as a formula, and a hostile path such as
//! `=cmd|' /C calc'!A0` arrives from traffic. Such cells get a leading `'` (OWASP's advice), so
//! they import as text. Numbers this export writes never start with those characters.

use super::Snapshot;

/// Column names, in order. Stable: CMDB import mappings refer to them (new columns are only
/// ever appended).
pub const CSV_COLUMNS: [&str; 28] = [
    "host",
    "method",
    "path",
    "declared",
    "host_declared",
    "api_title",
    "api_version",
    "operation_id",
    "spec_source",
    "deprecated",
    "owner",
    "system",
    "tags",
    "data_classes",
    "consumers",
    "exchanges",
    "first_seen",
    "last_seen",
    "status_codes",
    "auth_schemes",
    "query_params",
    "confidence",
    // `http` or `grpc`; for gRPC, the streaming kind and the `grpc-status` names.
    "protocol",
    "grpc_streaming",
    "grpc_status_codes",
    // `soap` endpoints: their SOAP operations (`name=calls`).
    "soap_operations",
    // For GraphQL (`protocol` = `graphql`): the operations, `type name` or `type #hash`.
    "graphql_operations",
    // TPPs that called the endpoint (open-banking lens): `label (ROLE+ROLE)`, `;`-separated.
    "tpps",
];

/// One cell, escaped for CSV and defended against formula injection.
pub fn csv_cell(text: &str) -> String {
    let guarded;
    let text = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        guarded = format!("'{text}");
        &guarded
    } else {
        text
    };
    if text.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// The inventory as CSV, one row per endpoint (sorted by host, method, path).
pub fn render_csv(snap: &Snapshot) -> String {
    let mut out = String::new();
    push_row(&mut out, CSV_COLUMNS.iter().map(|c| c.to_string()));
    for e in &snap.endpoints {
        let api = snap.api_of(e);
        let d = e.declared.as_ref();
        let r = &e.record;
        let row = [
            e.key.host.clone(),
            e.key.method.clone(),
            e.key.path.clone(),
            yes_no(d.is_some()),
            yes_no(e.host_declared),
            api.map(|a| a.title.clone()).unwrap_or_default(),
            api.map(|a| a.version.clone()).unwrap_or_default(),
            d.and_then(|d| d.operation_id.clone()).unwrap_or_default(),
            api.map(|a| a.source.clone()).unwrap_or_default(),
            yes_no(d.is_some_and(|d| d.deprecated)),
            e.owner(snap).unwrap_or_default().to_string(),
            api.and_then(|a| a.system.clone()).unwrap_or_default(),
            e.tags(snap).join(";"),
            e.data_classes().join(";"),
            e.consumers.to_string(),
            r.exchanges.to_string(),
            r.first_seen.rfc3339(),
            r.last_seen.rfc3339(),
            r.statuses
                .keys()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(";"),
            e.auth_schemes().join(";"),
            r.query_params.keys().cloned().collect::<Vec<_>>().join(";"),
            format!("{:.3}", r.confidence()),
            if r.grpc.is_some() {
                "grpc"
            } else if r.soap.is_some() {
                "soap"
            } else if r.graphql.is_some() {
                "graphql"
            } else {
                "http"
            }
            .to_string(),
            r.grpc
                .as_ref()
                .map(|g| g.streaming.as_str().to_string())
                .unwrap_or_default(),
            r.grpc
                .as_ref()
                .map(|g| g.statuses.keys().cloned().collect::<Vec<_>>().join(";"))
                .unwrap_or_default(),
            r.soap
                .as_ref()
                .map(|s| {
                    s.operations
                        .iter()
                        .map(|(op, st)| format!("{op}={}", st.calls))
                        .collect::<Vec<_>>()
                        .join(";")
                })
                .unwrap_or_default(),
            r.graphql
                .as_ref()
                .map(|g| g.operations.keys().cloned().collect::<Vec<_>>().join(";"))
                .unwrap_or_default(),
            e.tpps().join(";"),
        ];
        push_row(&mut out, row.into_iter());
    }
    out
}

fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.to_string()
}

fn push_row(out: &mut String, cells: impl Iterator<Item = String>) {
    for (i, c) in cells.enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&csv_cell(&c));
    }
    out.push_str("\r\n");
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{fixture, FORMULA_HOST};
    use super::*;

    #[test]
    fn rfc4180_quoting() {
        assert_eq!(csv_cell("plain"), "plain");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("l1\nl2"), "\"l1\nl2\"");
    }

    #[test]
    fn formulas_become_text() {
        assert_eq!(csv_cell("=cmd|' /C calc'!A0"), "'=cmd|' /C calc'!A0");
        assert_eq!(csv_cell("+1"), "'+1");
        assert_eq!(csv_cell("-2"), "'-2");
        assert_eq!(csv_cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_cell("/ok"), "/ok");
    }

    #[test]
    fn one_row_per_endpoint_with_catalogue_facts() {
        let (inv, cat) = fixture();
        let csv = render_csv(&Snapshot::build(&inv, &cat));
        let lines: Vec<&str> = csv.split("\r\n").filter(|l| !l.is_empty()).collect();
        assert_eq!(lines.len(), 5);
        assert!(lines[0].starts_with("host,method,path,declared"));
        let declared = lines
            .iter()
            .find(|l| l.contains("getAccount"))
            .expect("declared row");
        assert!(declared.contains(
            ",yes,yes,Accounts,1.2,getAccount,specs/accounts.yaml,no,team-accounts,core-banking,"
        ));
        assert!(declared.contains(",iban,1,1,"));
        // The hostile host is a text cell, not a formula.
        assert!(lines
            .iter()
            .any(|l| l.starts_with(&format!("'{FORMULA_HOST},"))));
        assert!(!lines.iter().any(|l| l.starts_with('=')));
    }
}
