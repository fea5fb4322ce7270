//! GraphQL over HTTP as operations of their own. One `POST /graphql` carries many queries and
//! mutations; the endpoint stays the HTTP one, and its record gains a [`GraphqlRecord`]: every
//! operation seen, identified by (type, name), or by the hash of its normalised document when
//! it is anonymous, with its root fields, the field paths it selects, its calls, HTTP statuses
//! and the responses that carried `errors`.
//!
//! Requests are read from POST JSON bodies (`{query, operationName, variables, extensions}`,
//! or a batched array of them), `application/graphql` bodies, and GET query strings (`query`,
//! `operationName`, `extensions`). A persisted query sent by hash alone
//! (`extensions.persistedQuery.sha256Hash`) is identified by its hash.
//!
//! The document never leaves the sensor: it is parsed here (`lexer`, `document`, bounded), and
//! only names, field paths and the normalised hash (literals replaced, so it carries no value)
//! are kept. Variables are the body's fields: the learn path walks them like any JSON body.
//!
//! - `schema`: declared schemas from SDL files and introspection results (the catalogue).
//! - `findings`: operations against the declared schema.

pub mod document;
pub mod findings;
pub mod lexer;
pub mod report;
pub mod schema;

use document::{OpKind, Operation};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Operations kept per endpoint (the rest counted in [`GraphqlRecord::overflow`]).
pub const MAX_OPERATIONS: usize = 256;
/// Requests read from one batched array.
pub const MAX_BATCH: usize = 64;
/// Distinct HTTP statuses kept per operation.
const MAX_STATUSES: usize = 16;
/// Longest operation name kept from `operationName` (a GraphQL name; longer ones are read as
/// absent).
const MAX_NAME: usize = 128;

/// Whether a request may carry GraphQL and its body should be read for it: an
/// `application/graphql` body, or a JSON POST to a path whose last segment says `graphql`
/// (`/graphql`, `/api/graphql`, `/v1/GraphQL`). GET requests are recognised by their query
/// string instead ([`from_query_string`]).
pub fn body_candidate(method: &str, path: &str, content_type: Option<&[u8]>) -> bool {
    let ct = content_type.map(media_type).unwrap_or_default();
    if ct.eq_ignore_ascii_case(b"application/graphql") {
        return true;
    }
    method == "POST"
        && (ct.eq_ignore_ascii_case(b"application/json") || ct.is_empty())
        && path
            .rsplit('/')
            .find(|s| !s.is_empty())
            .is_some_and(|last| {
                // No allocation: every JSON POST passes here.
                last.as_bytes()
                    .windows(7)
                    .any(|w| w.eq_ignore_ascii_case(b"graphql"))
            })
}

fn media_type(v: &[u8]) -> &[u8] {
    let end = v.iter().position(|c| *c == b';').unwrap_or(v.len());
    v.get(..end).unwrap_or_default().trim_ascii()
}

/// One operation of one request, as counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpFacts {
    /// `query`, `mutation`, `subscription`, or `persisted` (sent by hash, document unseen).
    pub kind: &'static str,
    pub name: Option<String>,
    /// The normalised document's hash, or the persisted query's (first 16 hex digits).
    pub hash: Option<String>,
    pub root_fields: BTreeSet<String>,
    pub paths: BTreeSet<String>,
    pub paths_cut: u64,
}

impl OpFacts {
    /// The operation's key in its endpoint's record: `query GetAccount`, or the hash for an
    /// anonymous one (`query #3f2a…`).
    pub fn key(&self) -> String {
        match (&self.name, &self.hash) {
            (Some(n), _) => format!("{} {n}", self.kind),
            (None, Some(h)) => format!("{} #{h}", self.kind),
            (None, None) => self.kind.to_string(),
        }
    }

    fn of(op: &Operation, hash: &str) -> OpFacts {
        OpFacts {
            kind: op.kind.as_str(),
            name: op.name.clone(),
            hash: Some(hash.to_string()),
            root_fields: op.root_fields.clone(),
            paths: op.paths.clone(),
            paths_cut: op.paths_cut,
        }
    }
}

/// What one request carried.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extracted {
    pub ops: Vec<OpFacts>,
    /// Requests (batch elements) whose document did not parse or named no operation.
    pub unparsed: u64,
    pub batched: bool,
}

impl Extracted {
    pub fn is_graphql(&self) -> bool {
        !self.ops.is_empty() || self.unparsed > 0
    }
}

/// Whether `s` is a GraphQL name (what `operationName` must be to be kept).
fn is_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_NAME
        && (b[0] == b'_' || b[0].is_ascii_alphabetic())
        && b.iter().all(|c| *c == b'_' || c.is_ascii_alphanumeric())
}

/// The operation a request runs: the one named `operation_name`, else the only one.
fn pick(text: &str, operation_name: Option<&str>, out: &mut Extracted) {
    let Ok(doc) = document::parse(text) else {
        out.unparsed += 1;
        return;
    };
    let op = match operation_name {
        Some(name) => doc
            .operations
            .iter()
            .find(|o| o.name.as_deref() == Some(name)),
        None if doc.operations.len() == 1 => doc.operations.first(),
        None => None,
    };
    match op {
        Some(op) => out.ops.push(OpFacts::of(op, &doc.hash)),
        None => out.unparsed += 1,
    }
}

/// A persisted query's hash from `extensions` (`persistedQuery.sha256Hash`), shortened.
fn persisted_hash(extensions: Option<&serde_json::Value>) -> Option<String> {
    let h = extensions?
        .get("persistedQuery")?
        .get("sha256Hash")?
        .as_str()?;
    (h.len() >= 16 && h.bytes().all(|c| c.is_ascii_hexdigit()))
        .then(|| h.get(..16).unwrap_or(h).to_ascii_lowercase())
}

fn one_request(
    query: Option<&str>,
    operation_name: Option<&str>,
    extensions: Option<&serde_json::Value>,
    out: &mut Extracted,
) {
    let operation_name = operation_name.filter(|n| is_name(n));
    match (query, persisted_hash(extensions)) {
        (Some(q), _) => pick(q, operation_name, out),
        (None, Some(hash)) => out.ops.push(OpFacts {
            kind: "persisted",
            name: operation_name.map(str::to_string),
            hash: Some(hash),
            root_fields: BTreeSet::new(),
            paths: BTreeSet::new(),
            paths_cut: 0,
        }),
        (None, None) => out.unparsed += 1,
    }
}

/// One request object (`query`, `operationName`, `extensions`; variables are left to the
/// body walk).
fn from_json_request(v: &serde_json::Value, out: &mut Extracted) {
    let text = |key: &str| v.get(key).and_then(serde_json::Value::as_str);
    one_request(
        text("query"),
        text("operationName"),
        v.get("extensions"),
        out,
    );
}

/// The operations of a request body (`content_type` as sent). A body that is neither an
/// `application/graphql` document nor JSON shaped like a GraphQL request gives nothing.
pub fn from_body(content_type: Option<&[u8]>, body: &[u8]) -> Extracted {
    let mut out = Extracted::default();
    let ct = content_type.map(media_type).unwrap_or_default();
    if ct.eq_ignore_ascii_case(b"application/graphql") {
        match std::str::from_utf8(body) {
            Ok(text) => pick(text, None, &mut out),
            Err(_) => out.unparsed += 1,
        }
        return out;
    }
    // serde_json bounds its own recursion (128); the body is at most the sample cap.
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
        return out;
    };
    match &value {
        serde_json::Value::Array(items) => {
            out.batched = true;
            for item in items.iter().take(MAX_BATCH) {
                if looks_like_request(item) {
                    from_json_request(item, &mut out);
                } else {
                    out.unparsed += 1;
                }
            }
        }
        obj if looks_like_request(obj) => from_json_request(obj, &mut out),
        _ => {}
    }
    out
}

fn looks_like_request(v: &serde_json::Value) -> bool {
    v.get("query").is_some_and(|q| q.is_string())
        || v.get("extensions")
            .and_then(|e| e.get("persistedQuery"))
            .is_some()
}

/// The operation of a GET query string (`query=...&operationName=...&extensions=...`), or
/// nothing when it names no GraphQL document.
pub fn from_query_string(query: &str) -> Extracted {
    let mut out = Extracted::default();
    let (mut doc, mut name, mut ext) = (None, None, None);
    for pair in query.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let decode = || {
            let plus = v.replace('+', " ");
            percent_encoding::percent_decode_str(&plus)
                .decode_utf8()
                .ok()
                .map(|s| s.into_owned())
        };
        match k {
            "query" => doc = decode(),
            "operationName" => name = decode(),
            "extensions" => ext = decode().and_then(|e| serde_json::from_str(&e).ok()),
            _ => {}
        }
    }
    // A `query=` that is not a document (a search API's `?query=shoes`) is not GraphQL.
    if let Some(text) = doc.as_deref() {
        if document::parse(text).is_err() {
            return out;
        }
    } else if persisted_hash(ext.as_ref()).is_none() {
        return out;
    }
    one_request(doc.as_deref(), name.as_deref(), ext.as_ref(), &mut out);
    out
}

/// Whether each response of a (possibly batched) GraphQL response body reported `errors`
/// (a non-empty top-level `errors` list), in order; empty when the body is not JSON.
pub fn response_errors(body: &[u8]) -> Vec<bool> {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
        return Vec::new();
    };
    let has = |v: &serde_json::Value| {
        v.get("errors")
            .and_then(|e| e.as_array())
            .is_some_and(|e| !e.is_empty())
    };
    match &value {
        serde_json::Value::Array(items) => items.iter().take(MAX_BATCH).map(has).collect(),
        v => vec![has(v)],
    }
}

/// One operation of an endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperationRecord {
    /// `query`, `mutation`, `subscription` or `persisted`.
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Normalised document hash (or the persisted query's), 16 hex digits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
    pub root_fields: BTreeSet<String>,
    /// Field paths selected (`account.owner.name`), at most [`document::MAX_PATHS`].
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub fields: BTreeSet<String>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub fields_cut: u64,
    pub calls: u64,
    /// HTTP status -> calls.
    pub statuses: BTreeMap<String, u64>,
    /// Calls whose response (its element, in a batch) carried a non-empty `errors` list.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub errors: u64,
    /// Calls whose response body was read for `errors` (learned, or the whole body kept).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub responses_read: u64,
}

/// What one endpoint's GraphQL requests showed. Merges commutatively like the rest of the
/// record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GraphqlRecord {
    /// Operation key ([`OpFacts::key`]) -> record.
    pub operations: BTreeMap<String, OperationRecord>,
    /// Exchanges that carried GraphQL.
    pub requests: u64,
    /// Requests that were batched arrays.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub batched: u64,
    /// Requests (or batch elements) whose document did not parse (over a cap, broken) or
    /// named no operation to run.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub unparsed: u64,
    /// Operations past [`MAX_OPERATIONS`].
    #[serde(default, skip_serializing_if = "is_zero")]
    pub overflow: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl OperationRecord {
    fn merge(&mut self, other: &OperationRecord) {
        if self.kind.is_empty() {
            self.kind.clone_from(&other.kind);
            self.name.clone_from(&other.name);
        }
        if self.hash.is_none() || other.hash < self.hash && other.hash.is_some() {
            // Named operations sent with different documents keep the smallest hash, so the
            // merge does not depend on order.
            self.hash.clone_from(&other.hash);
        }
        self.root_fields.extend(other.root_fields.iter().cloned());
        // The smallest paths in order are kept: the same set whatever the merge order.
        self.fields.extend(other.fields.iter().cloned());
        while self.fields.len() > document::MAX_PATHS {
            self.fields.pop_last();
        }
        self.fields_cut = self.fields_cut.saturating_add(other.fields_cut);
        self.calls = self.calls.saturating_add(other.calls);
        self.errors = self.errors.saturating_add(other.errors);
        self.responses_read = self.responses_read.saturating_add(other.responses_read);
        for (s, n) in &other.statuses {
            if let Some(c) = self.statuses.get_mut(s) {
                *c = c.saturating_add(*n);
            } else if self.statuses.len() < MAX_STATUSES {
                self.statuses.insert(s.clone(), *n);
            }
        }
    }
}

impl GraphqlRecord {
    /// Count one exchange: its operations, the HTTP status, and per operation whether its
    /// response reported errors (`None`: not read).
    pub fn exchange(&mut self, ex: &Extracted, status: Option<u16>, errors: &[bool]) {
        let mut one = GraphqlRecord {
            requests: 1,
            batched: u64::from(ex.batched),
            unparsed: ex.unparsed,
            ..GraphqlRecord::default()
        };
        for (i, op) in ex.ops.iter().enumerate() {
            // In a batch, the response list answers the requests in order; an element that did
            // not parse still has its answer, so the index is the op's among parsed ones only
            // when nothing failed. One answer to a whole batch (a server that does not take
            // batches) answers each of its operations.
            let error = match errors {
                [one] => Some(*one),
                _ if ex.unparsed == 0 => errors.get(i).copied(),
                _ => None,
            };
            let rec = OperationRecord {
                kind: op.kind.to_string(),
                name: op.name.clone(),
                hash: op.hash.clone(),
                root_fields: op.root_fields.clone(),
                fields: op.paths.clone(),
                fields_cut: op.paths_cut,
                calls: 1,
                statuses: status.map(|s| (s.to_string(), 1)).into_iter().collect(),
                errors: u64::from(error == Some(true)),
                responses_read: u64::from(error.is_some()),
            };
            one.add(op.key(), &rec);
        }
        self.merge(&one);
    }

    fn add(&mut self, key: String, rec: &OperationRecord) {
        if let Some(mine) = self.operations.get_mut(&key) {
            mine.merge(rec);
        } else if self.operations.len() < MAX_OPERATIONS {
            let mut fresh = OperationRecord::default();
            fresh.merge(rec);
            self.operations.insert(key, fresh);
        } else {
            self.overflow = self.overflow.saturating_add(rec.calls);
        }
    }

    pub fn merge(&mut self, other: &GraphqlRecord) {
        self.requests = self.requests.saturating_add(other.requests);
        self.batched = self.batched.saturating_add(other.batched);
        self.unparsed = self.unparsed.saturating_add(other.unparsed);
        self.overflow = self.overflow.saturating_add(other.overflow);
        for (k, rec) in &other.operations {
            self.add(k.clone(), rec);
        }
    }

    /// Operations, calls and errors summed: `(operations, calls, errors)`.
    pub fn totals(&self) -> (usize, u64, u64) {
        self.operations
            .values()
            .fold((self.operations.len(), 0, 0), |(n, c, e), r| {
                (n, c + r.calls, e + r.errors)
            })
    }
}

/// The operations of a whole exchange as the forensic views hold it (`shadowtap exchanges`):
/// the GET query string, or a candidate POST body's sample. `None`: not GraphQL.
pub fn of_exchange(ex: &crate::exchange::HttpExchange) -> Option<Extracted> {
    let req = ex.request.as_ref()?;
    let (path, query) = req.target.split_once('?').unwrap_or((&req.target, ""));
    let content_type = crate::exchange::header_value(&req.headers, "content-type");
    let extracted = if req.method == "GET" {
        from_query_string(query)
    } else if body_candidate(&req.method, path, content_type) {
        let mut e = if ex.request_body.truncated {
            Extracted::default()
        } else {
            from_body(content_type, &ex.request_body.sample)
        };
        if !e.is_graphql() {
            e.unparsed = 1;
        }
        e
    } else {
        return None;
    };
    extracted.is_graphql().then_some(extracted)
}

/// The query parameters of GraphQL over GET that carry the document and its values: the
/// forensic views print a GraphQL GET's target with these withheld.
pub const GET_VALUE_PARAMS: [&str; 3] = ["query", "variables", "extensions"];

/// The operation type of a record's kind (`None` for `persisted`).
pub fn op_kind(kind: &str) -> Option<OpKind> {
    match kind {
        "query" => Some(OpKind::Query),
        "mutation" => Some(OpKind::Mutation),
        "subscription" => Some(OpKind::Subscription),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
