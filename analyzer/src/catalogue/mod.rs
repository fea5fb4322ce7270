//! The declared API catalogue: OpenAPI 2.0 / 3.0 / 3.1 documents turned into operations.
//!
//! A document (YAML or JSON text, chosen by content) is read into a `serde_json::Value` and
//! dispatched on its `swagger` / `openapi` field; no typed OpenAPI crate covers all three
//! versions. Each declared operation becomes one [`Operation`] per distinct server prefix, with
//! the hosts it is served on, its merged parameters, responses, media types and security.
//! Anything in a document that cannot be used becomes a [`Problem`] and the rest still loads;
//! only a document that cannot be read at all is a [`CatalogueError`].
//!
//! This module is pure: text in, values out. Reading files (and the files a `$ref` names) is the
//! collector's job (`collector::catalogue_files`), which hands the text in.
//!
//! Submodules: `servers` (hosts, server URLs), `refs` (`$ref` resolution), `operations`
//! (what 2.0 and 3.x share), `openapi2`, `openapi3`, `schema` (body schemas compiled for field
//! checks), `config` (the `[catalogue]` section: host mapping, retired versions), `index`
//! (lookup for `find_operation`).

mod config;
mod graphql;
mod grpc;
mod index;
mod json;
mod openapi2;
mod openapi3;
mod operations;
mod refs;
pub mod schema;
mod servers;
#[cfg(test)]
mod tests;
mod wsdl;

pub use config::{ApiSelector, CatalogueConfig, HostMapping, OwnerOverride};
pub use graphql::{is_graphql_introspection, is_graphql_sdl};
pub use grpc::GrpcFileKind;
pub use schema::{SchemaId, Schemas};
pub use servers::normalize_host;
pub use wsdl::{is_wsdl_file, DeclaredSoapPort, MAX_WSDL_DOCUMENTS};

use crate::host::host_matches;
use crate::template::DeclaredRoute;
use index::{path_shape, RouteIndex};
use operations::Ctx;
use refs::{collect_refs, join_relative, pointer_get, Doc, DocSet, Location, MAX_DOCUMENTS};
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashSet};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum SpecVersion {
    #[serde(rename = "2.0")]
    Swagger2,
    #[serde(rename = "3.0")]
    OpenApi30,
    #[serde(rename = "3.1")]
    OpenApi31,
    /// gRPC services from a FileDescriptorSet or `.proto` source (`catalogue/grpc.rs`).
    #[serde(rename = "grpc")]
    Grpc,
    /// SOAP ports from a WSDL 1.1 document (`catalogue/wsdl.rs`).
    #[serde(rename = "wsdl")]
    Wsdl,
}

/// A server base: the host it names (`None`: relative URL, any host) and the path prefix.
///
/// `host` is normalised ([`normalize_host`]); `prefix` is empty or starts with `/`, and never
/// ends with `/`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServerBase {
    pub host: Option<String>,
    pub prefix: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiInfo {
    pub title: String,
    pub version: String,
    pub spec_version: SpecVersion,
    /// The file (or name) the document came from.
    pub source: String,
    /// Every server base the document names: the document-level ones first, then any that only
    /// path items or operations name.
    pub servers: Vec<ServerBase>,
    /// Marked retired by configuration (`[catalogue] retired`): every call to it is a zombie.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub retired: bool,
    /// The servers were replaced by a `[catalogue] hosts` mapping.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub host_mapped: bool,
    /// Who owns the API, for asset exports: `[[catalogue.owners]]` in the config, else
    /// `info.x-shadowtap-owner`, else `info.x-owner`, else `info.contact` (name, else email).
    /// An operation's own `x-owner` still wins for that operation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// `owner` comes from `[[catalogue.owners]]` or `info.x-shadowtap-owner`: it then wins
    /// over operations' `x-owner` too.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub owner_overridden: bool,
    /// `info.x-system`, or the config override.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    /// The document's `tags` names, or the config override.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ParamLocation {
    Query,
    Header,
    Path,
    Cookie,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ParamSpec {
    pub name: String,
    pub location: ParamLocation,
    pub required: bool,
}

/// What the declaration says about credentials.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Security {
    /// No security requirement (none declared, an explicit empty list, or only `{}`).
    None,
    /// At least one of these schemes is required (scheme names as in the document).
    Required(Vec<String>),
    /// Alternatives include the empty requirement `{}`: credentials optional.
    Optional(Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Operation {
    /// Index into `Catalogue::apis`.
    pub api: usize,
    pub operation_id: Option<String>,
    /// Upper-case method.
    pub method: String,
    /// Full template including the server prefix.
    pub path: String,
    /// The path key as written in the document.
    pub spec_path: String,
    /// Normalised hosts this operation is served on; empty means any host.
    pub hosts: Vec<String>,
    pub deprecated: bool,
    /// The operation's `tags`, as written.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Path-level and operation-level parameters merged (operation wins), `$ref`s resolved.
    /// Swagger 2.0 `body`/`formData` parameters are not here (they are the request body).
    pub parameters: Vec<ParamSpec>,
    /// Declared response keys as written: `200`, `4XX`, `default`.
    pub responses: Vec<String>,
    pub security: Security,
    pub request_content_types: Vec<String>,
    pub response_content_types: Vec<String>,
    /// The operation's `x-` extensions, as written.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub extensions: BTreeMap<String, Value>,
    /// Request body schema by media type, as written (`$ref`s left in place, relative to
    /// `ApiInfo::source`). Swagger 2.0 keys the body schema by each `consumes` type (`*/*` if
    /// none). Kept for field-drift checks.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub request_schemas: BTreeMap<String, Value>,
    /// Response schema by response key, then media type, as written (see `request_schemas`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub response_schemas: BTreeMap<String, BTreeMap<String, Value>>,
    /// Request body schema by media type, compiled into `Catalogue::schemas` (`$ref`s resolved).
    /// Not serialised: the ids mean nothing without the arena, which is not either.
    #[serde(skip)]
    pub request_body: BTreeMap<String, SchemaId>,
    /// Response schema by response key, then media type, compiled into `Catalogue::schemas`.
    #[serde(skip)]
    pub response_body: BTreeMap<String, BTreeMap<String, SchemaId>>,
    /// Query and header parameter schemas (`query:name`, `header:name` lowercased), compiled,
    /// for data-class checks.
    #[serde(skip)]
    pub param_schemas: BTreeMap<String, SchemaId>,
}

impl Default for Operation {
    /// An empty `GET /` on any host: a base for building operations in tests with `..`.
    fn default() -> Self {
        Operation {
            api: 0,
            operation_id: None,
            method: "GET".to_string(),
            path: "/".to_string(),
            spec_path: "/".to_string(),
            hosts: Vec::new(),
            deprecated: false,
            tags: Vec::new(),
            parameters: Vec::new(),
            responses: Vec::new(),
            security: Security::None,
            request_content_types: Vec::new(),
            response_content_types: Vec::new(),
            extensions: BTreeMap::new(),
            request_schemas: BTreeMap::new(),
            response_schemas: BTreeMap::new(),
            request_body: BTreeMap::new(),
            response_body: BTreeMap::new(),
            param_schemas: BTreeMap::new(),
        }
    }
}

/// Something in a document that could not be used; the rest still loads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub source: String,
    /// JSON pointer into the document, e.g. `/paths/~1accounts/get/parameters/0`.
    pub pointer: String,
    pub message: String,
}

/// A whole document that could not be read at all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{source_name}{}: {message}", if pointer.is_empty() { String::new() } else { format!(" at {pointer}") })]
pub struct CatalogueError {
    pub source_name: String,
    /// JSON pointer, or `line N column M` for syntax errors.
    pub pointer: String,
    pub message: String,
}

impl CatalogueError {
    fn new(source: &str, pointer: &str, message: impl Into<String>) -> Self {
        CatalogueError {
            source_name: source.to_string(),
            pointer: pointer.to_string(),
            message: message.into(),
        }
    }

    /// Whether the text parsed but is not an OpenAPI document at all (no `openapi` or
    /// `swagger` field): a directory walk meets such files (shared fragments that other
    /// documents `$ref`, unrelated YAML) and may treat them differently from broken specs.
    pub fn is_not_openapi(&self) -> bool {
        self.pointer == "/openapi" && self.message.starts_with(NOT_OPENAPI)
    }

    /// Line and column (1-based) of a syntax error, when the parser gave them.
    pub fn line_column(&self) -> Option<(u64, u64)> {
        let rest = self.pointer.strip_prefix("line ")?;
        let (line, column) = rest.split_once(" column ")?;
        Some((line.parse().ok()?, column.parse().ok()?))
    }
}

/// How the catalogue's files loaded, filled in by whoever read them from disk
/// (`collector::catalogue_files`). Reports show it: a file that failed to load is a finding
/// about the catalogue, since every endpoint it declares then looks undeclared.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LoadStatus {
    /// Catalogue paths given (files or folders); 0 with no APIs means no catalogue at all.
    pub paths_given: usize,
    /// Documents that loaded (possibly with problems).
    pub files_loaded: usize,
    /// Files that could not be read or parsed at all, each with why and where.
    pub failed: Vec<CatalogueError>,
    /// Files that failed now but are served from their last good version (collector reload).
    pub stale: Vec<String>,
}

const NOT_OPENAPI: &str = "not an OpenAPI document";

#[derive(Debug, Clone, Default, Serialize)]
pub struct Catalogue {
    pub apis: Vec<ApiInfo>,
    pub operations: Vec<Operation>,
    pub problems: Vec<Problem>,
    /// Compiled body and parameter schemas, indexed by the `SchemaId`s of operations.
    #[serde(skip)]
    pub schemas: Schemas,
    /// Which files loaded and which failed (set by the file loader; empty for text added
    /// directly).
    #[serde(skip)]
    pub load: LoadStatus,
    /// Lookup for `find_operation`, kept up to date by `add_document*`.
    #[serde(skip)]
    index: RouteIndex,
    /// Declared gRPC services and messages (`catalogue/grpc.rs`): names message fields.
    #[serde(skip)]
    pub grpc: crate::grpc::schema::GrpcSchema,
    /// Declared SOAP ports and their operations (`catalogue/wsdl.rs`).
    #[serde(skip)]
    pub soap: Vec<DeclaredSoapPort>,
    /// Declared GraphQL schema (`catalogue/graphql.rs`): SDL files and introspection results.
    #[serde(skip)]
    pub graphql: crate::graphql::schema::GraphqlSchema,
}

impl Catalogue {
    /// Parse one document (YAML or JSON text) and add its operations.
    ///
    /// `$ref`s to other files are not followed (they become problems); use
    /// [`Catalogue::add_document_set`] for multi-file documents.
    pub fn add_document(&mut self, source: &str, text: &str) -> Result<(), CatalogueError> {
        self.add(source, text, None)
    }

    /// Like [`Catalogue::add_document`], following `$ref`s into other files.
    ///
    /// `load` is given a document name (a file `$ref` joined to the name of the document that
    /// holds it: `specs/api.yaml` + `common/params.yaml#/X` -> `specs/common/params.yaml`) and
    /// returns its text, or `None` if it cannot be read (which becomes a problem). Absolute URLs
    /// are never requested. At most 64 documents are pulled in per call, and the whole set
    /// parses to at most [`MAX_SET_NODES`] nodes.
    pub fn add_document_set(
        &mut self,
        source: &str,
        text: &str,
        load: impl Fn(&str) -> Option<String>,
    ) -> Result<(), CatalogueError> {
        self.add_document_set_with(source, text, |name| {
            load(name).ok_or_else(|| format!("document `{name}` cannot be read"))
        })
    }

    /// Like [`Catalogue::add_document_set`], with a loader that says why a document was not
    /// read (`Err("document `x` is outside the catalogue roots")`): the reason becomes the
    /// problem's message after the `$ref` it answers.
    pub fn add_document_set_with(
        &mut self,
        source: &str,
        text: &str,
        load: impl Fn(&str) -> Result<String, String>,
    ) -> Result<(), CatalogueError> {
        self.add(source, text, Some(&load))
    }

    fn add(
        &mut self,
        source: &str,
        text: &str,
        load: Option<Loader<'_>>,
    ) -> Result<(), CatalogueError> {
        let mut nodes_left = MAX_SET_NODES;
        let root = parse_text(source, text, &mut nodes_left)?;
        let version = detect_version(source, &root)?;
        let mut set = DocSet::single(source, root);
        let mut problems = Vec::new();
        let refs = load_referenced(&mut set, load, &mut nodes_left, &mut problems);

        let api = self.apis.len();
        let mut ctx = Ctx::new(&set, version);
        ctx.problems = problems;
        ctx.schemas = schema::SchemaBuilder::new(self.schemas.nodes.len());
        check_refs(&mut ctx, &refs);
        let mut operations = Vec::new();
        let servers = match version {
            SpecVersion::Swagger2 => openapi2::load(&mut ctx, api, &mut operations),
            SpecVersion::OpenApi30
            | SpecVersion::OpenApi31
            | SpecVersion::Grpc
            | SpecVersion::Wsdl => openapi3::load(&mut ctx, api, &mut operations),
        };
        let info = set.root().get("info");
        let text_of = |key: &str| {
            info.and_then(|i| i.get(key))
                .and_then(servers::scalar_string)
                .unwrap_or_default()
        };
        let ownership = operations::ownership(set.root());
        self.apis.push(ApiInfo {
            title: text_of("title"),
            version: text_of("version"),
            spec_version: version,
            source: source.to_string(),
            servers,
            retired: false,
            host_mapped: false,
            owner: ownership.owner,
            owner_overridden: ownership.overridden,
            system: ownership.system,
            tags: ownership.tags,
        });
        self.schemas.nodes.append(&mut ctx.schemas.nodes);
        self.problems.append(&mut ctx.problems);
        self.operations.extend(operations);
        self.extend_index();
        Ok(())
    }

    /// Index operations added since the last call (also those pushed onto `operations` directly).
    fn extend_index(&mut self) {
        for i in self.index.indexed..self.operations.len() {
            let op = &self.operations[i];
            self.index.insert(&op.method, &op.path, i);
        }
        self.index.indexed = self.operations.len();
    }

    /// Rebuild the lookup index. Only needed after editing `operations` in place (paths or
    /// methods changed, operations removed); additions are picked up on their own.
    pub fn reindex(&mut self) {
        self.index = RouteIndex::default();
        self.extend_index();
    }

    /// Every declared template, for the templater: one per (host, path), any-host as `None`.
    pub fn routes(&self) -> Vec<DeclaredRoute> {
        let mut seen: HashSet<(Option<&str>, &str), foldhash::fast::RandomState> =
            HashSet::default();
        let mut out = Vec::new();
        for op in &self.operations {
            let hosts: Vec<Option<&str>> = if op.hosts.is_empty() {
                vec![None]
            } else {
                op.hosts.iter().map(|h| Some(h.as_str())).collect()
            };
            for host in hosts {
                if seen.insert((host, op.path.as_str())) {
                    out.push(DeclaredRoute {
                        host: host.map(str::to_string),
                        path: op.path.clone(),
                    });
                }
            }
        }
        out
    }

    /// The operation declaring `method path` on `host` (`path` is a template from the templater).
    ///
    /// The template must equal the declared one except for placeholder names (`{id}` matches
    /// `{AccountId}`). An operation naming the host wins over one served on any host; among
    /// equals, the first loaded wins.
    pub fn find_operation(&self, host: &str, method: &str, path: &str) -> Option<&Operation> {
        let host = normalize_host(host);
        if self.index.indexed == self.operations.len() {
            let ops = self
                .index
                .get(method, path)
                .iter()
                .filter_map(|&i| self.operations.get(i));
            pick_by_host(&host, ops)
        } else {
            // Someone pushed operations without going through `add_document`: scan.
            let shape = path_shape(path);
            let ops = self.operations.iter().filter(|op| {
                op.method.eq_ignore_ascii_case(method) && path_shape(&op.path) == shape
            });
            pick_by_host(&host, ops)
        }
    }

    /// Whether some server of the catalogue covers `host` (a relative server covers every host).
    pub fn covers_host(&self, host: &str) -> bool {
        let host = normalize_host(host);
        self.apis
            .iter()
            .flat_map(|a| &a.servers)
            .any(|s| match &s.host {
                None => true,
                Some(h) => host_matches(h, &host),
            })
    }

    /// Every host some server names (normalised). Any-host servers add nothing here.
    pub fn hosts(&self) -> BTreeSet<String> {
        self.apis
            .iter()
            .flat_map(|a| &a.servers)
            .filter_map(|s| s.host.clone())
            .collect()
    }
}

/// The first operation naming `host`, else the first served on any host.
fn pick_by_host<'a>(host: &str, ops: impl Iterator<Item = &'a Operation>) -> Option<&'a Operation> {
    let mut any_host = None;
    for op in ops {
        if op.hosts.is_empty() {
            any_host = any_host.or(Some(op));
        } else if op.hosts.iter().any(|h| host_matches(h, host)) {
            return Some(op);
        }
    }
    any_host
}

/// Most nodes (mappings, sequences, keys and scalars) one document set parses to: the document
/// and everything its `$ref`s pull in, YAML and JSON counted alike.
///
/// A parsed node costs 32 bytes and up (a one-key mapping is a whole B-tree node, ~650 bytes),
/// so the node count, not the text size, is what bounds memory: 38 MB of `{"a":0}` objects
/// took 3.3 GB before JSON had a budget. Stripe's 4 MB spec is 142k nodes and a large spec in
/// YAML has over a million; 4M leaves room for those and stops a runaway document at about a
/// gigabyte in the worst shape. Shared across the set so that 64 referenced documents cannot
/// each take the whole budget.
pub const MAX_SET_NODES: usize = 4_000_000;

/// YAML or JSON, chosen by content: JSON text starts with `{` or `[` (after a byte-order mark
/// and whitespace), and serde_json's errors say more about broken JSON than a YAML parser's.
///
/// Both readers refuse duplicate keys, cap nesting at the YAML reader's default depth, and draw
/// on `nodes_left` (see [`MAX_SET_NODES`]), which is lowered by what the document used.
fn parse_text(source: &str, text: &str, nodes_left: &mut usize) -> Result<Value, CatalogueError> {
    let body = text.strip_prefix('\u{feff}').unwrap_or(text);
    let first = body.trim_start().chars().next();
    let mut options = serde_saphyr::Options::default();
    // One depth for both formats: the YAML reader's default (64; real specs nest about 25).
    let max_depth = options.budget.as_ref().map_or(64, |b| b.max_depth);
    if matches!(first, Some('{' | '[')) {
        let limits = json::JsonLimits {
            max_nodes: MAX_SET_NODES,
            max_depth,
        };
        return json::from_str(body, nodes_left, limits).map_err(|e| {
            CatalogueError::new(
                source,
                &format!("line {} column {}", e.line(), e.column()),
                format!("invalid JSON: {e}"),
            )
        });
    }
    // The snippet is for terminals; the error carries line and column instead.
    options.with_snippet = false;
    if let Some(budget) = options.budget.as_mut() {
        // The defaults suit config files (250k nodes); specs need more (see MAX_SET_NODES).
        // Still bounded, so a runaway document stops.
        budget.max_nodes = *nodes_left;
        budget.max_events = 2 * MAX_SET_NODES;
    }
    // Specs use anchors for shared snippets, replayed a few thousand events at most; an alias
    // bomb replays without end. Stop it early (the default of 1M costs seconds to reach).
    options.alias_limits.max_total_replayed_events = 100_000;
    let value = serde_saphyr::from_str_with_options::<Value>(body, options).map_err(|e| {
        let pointer = e
            .location()
            .map(|l| format!("line {} column {}", l.line(), l.column()))
            .unwrap_or_default();
        CatalogueError::new(source, &pointer, format!("invalid YAML: {e}"))
    })?;
    // The YAML reader does not say what it used; the value says it (aliases included).
    *nodes_left = nodes_left.saturating_sub(count_nodes(&value));
    Ok(value)
}

/// Nodes in a parsed value, counted as the readers count them (keys included). Iterative:
/// values can be deep.
fn count_nodes(root: &Value) -> usize {
    let mut count = 0;
    let mut stack = vec![root];
    while let Some(node) = stack.pop() {
        count += 1;
        match node {
            Value::Object(map) => {
                count += map.len();
                stack.extend(map.values());
            }
            Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    count
}

/// Which OpenAPI version a document is, from `swagger: "2.0"` or `openapi: 3.0.x / 3.1.x`.
fn detect_version(source: &str, root: &Value) -> Result<SpecVersion, CatalogueError> {
    let Some(map) = root.as_object() else {
        return Err(CatalogueError::new(
            source,
            "",
            "document root is not a mapping",
        ));
    };
    if let Some(v) = map.get("openapi") {
        let text = servers::scalar_string(v).unwrap_or_default();
        let mut parts = text.split('.');
        return match (parts.next(), parts.next()) {
            (Some("3"), Some("0")) => Ok(SpecVersion::OpenApi30),
            (Some("3"), Some("1")) => Ok(SpecVersion::OpenApi31),
            _ => Err(CatalogueError::new(
                source,
                "/openapi",
                format!("unsupported OpenAPI version `{text}` (supported: 2.0, 3.0.x, 3.1.x)"),
            )),
        };
    }
    if let Some(v) = map.get("swagger") {
        // YAML reads an unquoted `swagger: 2.0` as a number.
        let text = servers::scalar_string(v).unwrap_or_default();
        return if text == "2.0" || text == "2" {
            Ok(SpecVersion::Swagger2)
        } else {
            Err(CatalogueError::new(
                source,
                "/swagger",
                format!("unsupported Swagger version `{text}` (supported: 2.0)"),
            ))
        };
    }
    Err(CatalogueError::new(
        source,
        "/openapi",
        format!("{NOT_OPENAPI}: neither `openapi` nor `swagger` is present"),
    ))
}

/// Reads a referenced document by name, or says why not (see `Catalogue::add_document_set_with`).
type Loader<'l> = &'l dyn Fn(&str) -> Result<String, String>;

/// Every `$ref` found, per document: (document, pointer of the holder, reference).
type RefList = Vec<(usize, String, String)>;

/// Pull in the documents that relative `$ref`s name (breadth first, bounded), and list every
/// `$ref` of every document for checking.
fn load_referenced(
    set: &mut DocSet,
    load: Option<Loader<'_>>,
    nodes_left: &mut usize,
    problems: &mut Vec<Problem>,
) -> RefList {
    let mut all = Vec::new();
    let mut failed: Vec<String> = Vec::new();
    let mut doc = 0;
    while doc < set.docs.len() {
        let refs = collect_refs(&set.docs[doc].root);
        for (pointer, reference) in refs {
            let file = reference.split('#').next().unwrap_or("");
            if let (Some(load), false) = (load, file.is_empty()) {
                let from = set.name(doc).to_string();
                let problem = |message: String| Problem {
                    source: from.clone(),
                    pointer: pointer.clone(),
                    message,
                };
                match join_relative(&from, file) {
                    Some(name) if set.docs.iter().any(|d| d.name == name) => {}
                    Some(name) if failed.contains(&name) => {}
                    Some(name) if set.docs.len() >= MAX_DOCUMENTS => {
                        problems.push(problem(format!(
                            "$ref `{reference}`: more than {MAX_DOCUMENTS} documents referenced"
                        )));
                        failed.push(name);
                    }
                    Some(name) => {
                        match load(&name).map(|text| parse_text(&name, &text, nodes_left)) {
                            Ok(Ok(root)) => set.docs.push(Doc { name, root }),
                            Ok(Err(e)) => {
                                problems.push(problem(format!("$ref `{reference}`: {e}")));
                                failed.push(name);
                            }
                            Err(why) => {
                                problems.push(problem(format!("$ref `{reference}`: {why}")));
                                failed.push(name);
                            }
                        }
                    }
                    // Absolute URLs: reported by the check below.
                    None => {}
                }
            }
            all.push((doc, pointer, reference));
        }
        doc += 1;
    }
    // Refs into documents that failed to load were reported once already.
    all.retain(|(doc, _, reference)| {
        let file = reference.split('#').next().unwrap_or("");
        file.is_empty()
            || join_relative(set.name(*doc), file).is_none_or(|name| !failed.contains(&name))
    });
    all
}

/// Report every `$ref` that does not resolve (dangling, circular, too deep, external and not
/// loaded), wherever it is, including schemas the catalogue does not otherwise read.
fn check_refs(ctx: &mut Ctx<'_>, refs: &RefList) {
    let set = ctx.set;
    for (doc, pointer, _) in refs {
        let holder_loc = Location {
            doc: *doc,
            pointer: pointer.clone(),
        };
        let Some(holder) = pointer_get(&set.docs[*doc].root, pointer) else {
            continue;
        };
        if let Err(message) = set.resolve(&holder_loc, holder) {
            ctx.problem(&holder_loc, message);
        }
    }
}
