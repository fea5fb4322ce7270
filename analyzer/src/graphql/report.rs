//! The GraphQL section of the text and Markdown reports: one row per operation of each GraphQL
//! endpoint (names, hashes and field names only; never a document or a variable).

use super::GraphqlRecord;

/// One operation as the reports show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// `host METHOD path` of the endpoint.
    pub endpoint: String,
    /// `query GetAccount`, `query #3f2a…`, `persisted #ecf4…`.
    pub operation: String,
    pub root_fields: String,
    pub calls: u64,
    pub statuses: String,
    /// `errors/read` (responses carrying `errors` among those read), `-` when none was read.
    pub errors: String,
}

/// The rows of every GraphQL endpoint, in endpoint then operation order.
pub fn rows<'a>(endpoints: impl Iterator<Item = (String, &'a GraphqlRecord)>) -> Vec<Row> {
    let mut out = Vec::new();
    for (endpoint, g) in endpoints {
        for (key, op) in &g.operations {
            out.push(Row {
                endpoint: endpoint.clone(),
                operation: key.clone(),
                root_fields: if op.root_fields.is_empty() {
                    "-".to_string()
                } else {
                    op.root_fields.iter().cloned().collect::<Vec<_>>().join(",")
                },
                calls: op.calls,
                statuses: op
                    .statuses
                    .iter()
                    .map(|(s, n)| format!("{s}x{n}"))
                    .collect::<Vec<_>>()
                    .join(","),
                errors: if op.responses_read == 0 {
                    "-".to_string()
                } else {
                    format!("{}/{}", op.errors, op.responses_read)
                },
            });
        }
        if g.unparsed > 0 || g.overflow > 0 {
            out.push(Row {
                endpoint: endpoint.clone(),
                operation: format!(
                    "(unparsed {}, over the operation cap {})",
                    g.unparsed, g.overflow
                ),
                root_fields: "-".into(),
                calls: g.unparsed + g.overflow,
                statuses: String::new(),
                errors: "-".into(),
            });
        }
    }
    out
}

/// The root fields an endpoint's operations called, as SDL (`type Query { account: Observed }`)
/// for exports that want a GraphQL definition. Types are not observed: every field is of the
/// scalar `Observed`.
pub fn observed_sdl(g: &GraphqlRecord) -> String {
    use std::collections::{BTreeMap, BTreeSet};
    let mut roots: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for op in g.operations.values() {
        let ty = match op.kind.as_str() {
            "query" => "Query",
            "mutation" => "Mutation",
            "subscription" => "Subscription",
            _ => continue,
        };
        roots
            .entry(ty)
            .or_default()
            .extend(op.root_fields.iter().map(String::as_str));
    }
    let mut out = String::from(
        "# Observed by shadowtap: root fields called; their types were not observed.\nscalar Observed\n",
    );
    for (ty, fields) in roots {
        out.push_str(&format!("type {ty} {{\n"));
        for f in fields.into_iter().filter(|f| !f.starts_with("__")) {
            out.push_str(&format!("  {f}: Observed\n"));
        }
        out.push_str("}\n");
    }
    out
}
