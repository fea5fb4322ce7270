//! What Swagger 2.0 and OpenAPI 3.x share once parsed: the load context (problems, `$ref`
//! resolution), path items, parameter merging, security requirements, and turning one declared
//! operation into `Operation`s (one per distinct server prefix).

use super::refs::{child, DocSet, Location};
use super::schema::{SchemaBuilder, SchemaId};
use super::servers::scalar_string;
use super::{Operation, ParamLocation, ParamSpec, Problem, Security, ServerBase, SpecVersion};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashSet};

/// Path item keys that are operations. `trace` exists only from 3.0 on but is harmless to accept
/// in 2.0 (nobody writes it there by accident). 3.2's `query` is not listed: 3.2 documents are
/// refused at dispatch, and in 3.0/3.1 a `query` key is not an operation.
pub(crate) const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// State for loading one document set: where problems go and how references resolve.
pub(crate) struct Ctx<'a> {
    pub set: &'a DocSet,
    pub version: SpecVersion,
    pub problems: Vec<Problem>,
    /// Body and parameter schemas compiled so far (appended to the catalogue's arena).
    pub schemas: SchemaBuilder,
    /// The same dangling `$ref` is met by the whole-document check and again by the operation
    /// that uses it; report it once.
    seen: HashSet<(String, String, String), foldhash::fast::RandomState>,
}

impl<'a> Ctx<'a> {
    pub fn new(set: &'a DocSet, version: SpecVersion) -> Self {
        Ctx {
            set,
            version,
            problems: Vec::new(),
            schemas: SchemaBuilder::default(),
            seen: HashSet::default(),
        }
    }

    pub fn problem(&mut self, at: &Location, message: impl Into<String>) {
        let p = Problem {
            source: self.set.name(at.doc).to_string(),
            pointer: at.pointer.clone(),
            message: message.into(),
        };
        if self
            .seen
            .insert((p.source.clone(), p.pointer.clone(), p.message.clone()))
        {
            self.problems.push(p);
        }
    }

    /// Resolve a possibly-`$ref` node; a failure becomes a problem at `at` and `None`.
    pub fn resolve(&mut self, at: &Location, value: &'a Value) -> Option<(Location, &'a Value)> {
        match self.set.resolve(at, value) {
            Ok(found) => Some(found),
            Err(message) => {
                // A reference already reported here (say, to a file that could not be read)
                // needs no second wording of the same failure.
                let source = self.set.name(at.doc);
                if !self
                    .problems
                    .iter()
                    .any(|p| p.pointer == at.pointer && p.source == source)
                {
                    self.problem(at, message);
                }
                None
            }
        }
    }

    /// Resolve and require an object; anything else is a problem.
    pub fn object(
        &mut self,
        at: &Location,
        value: &'a Value,
        what: &str,
    ) -> Option<(Location, &'a Map<String, Value>)> {
        let (loc, v) = self.resolve(at, value)?;
        match v.as_object() {
            Some(map) => Some((loc, map)),
            None => {
                self.problem(at, format!("{what} is not a mapping"));
                None
            }
        }
    }
}

pub(crate) fn at(loc: &Location, token: &str) -> Location {
    Location {
        doc: loc.doc,
        pointer: child(&loc.pointer, token),
    }
}

/// A path item with an optional `$ref`: its own keys win over the referenced item's (OpenAPI
/// leaves the conflict undefined; the nearer declaration is the more specific one).
pub(crate) struct PathItem<'a> {
    own: (Location, &'a Map<String, Value>),
    target: Option<(Location, &'a Map<String, Value>)>,
}

impl<'a> PathItem<'a> {
    pub fn new(ctx: &mut Ctx<'a>, loc: Location, value: &'a Value) -> Option<Self> {
        let Some(own) = value.as_object() else {
            ctx.problem(&loc, "path item is not a mapping");
            return None;
        };
        let target = if let Some(reference) = own.get("$ref") {
            if !reference.is_string() {
                ctx.problem(&at(&loc, "$ref"), "$ref is not a string");
            }
            // A broken reference still leaves the sibling keys usable.
            ctx.object(&loc, value, "referenced path item")
        } else {
            None
        };
        Some(PathItem {
            own: (loc, own),
            target,
        })
    }

    pub fn get(&self, key: &str) -> Option<(Location, &'a Value)> {
        if let Some(v) = self.own.1.get(key) {
            return Some((at(&self.own.0, key), v));
        }
        let (loc, map) = self.target.as_ref()?;
        map.get(key).map(|v| (at(loc, key), v))
    }
}

/// One declared operation before it is split per server prefix.
pub(crate) struct Draft {
    pub operation_id: Option<String>,
    pub method: String,
    pub spec_path: String,
    pub deprecated: bool,
    pub tags: Vec<String>,
    pub parameters: Vec<ParamSpec>,
    pub responses: Vec<String>,
    pub security: Security,
    pub request_content_types: Vec<String>,
    pub response_content_types: Vec<String>,
    pub extensions: BTreeMap<String, Value>,
    pub request_schemas: BTreeMap<String, Value>,
    pub response_schemas: BTreeMap<String, BTreeMap<String, Value>>,
    pub request_body: BTreeMap<String, SchemaId>,
    pub response_body: BTreeMap<String, BTreeMap<String, SchemaId>>,
    pub param_schemas: BTreeMap<String, SchemaId>,
}

impl Draft {
    /// The fields every version reads the same way from an operation object.
    pub fn new(method: &str, spec_path: &str, op: &Map<String, Value>) -> Self {
        Draft {
            operation_id: op.get("operationId").and_then(scalar_string),
            method: method.to_ascii_uppercase(),
            spec_path: spec_path.to_string(),
            deprecated: op.get("deprecated") == Some(&Value::Bool(true)),
            tags: op
                .get("tags")
                .and_then(Value::as_array)
                .map(|t| t.iter().filter_map(scalar_string).collect())
                .unwrap_or_default(),
            parameters: Vec::new(),
            responses: Vec::new(),
            security: Security::None,
            request_content_types: Vec::new(),
            response_content_types: Vec::new(),
            extensions: op
                .iter()
                .filter(|(k, _)| k.starts_with("x-"))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            request_schemas: BTreeMap::new(),
            response_schemas: BTreeMap::new(),
            request_body: BTreeMap::new(),
            response_body: BTreeMap::new(),
            param_schemas: BTreeMap::new(),
        }
    }

    /// One `Operation` per distinct server prefix; the hosts of a prefix are the union of the
    /// hosts of its servers, and any relative server makes that prefix any-host (empty list).
    pub fn emit(self, api: usize, servers: &[ServerBase], out: &mut Vec<Operation>) {
        let mut prefixes: Vec<(&str, Option<Vec<String>>)> = Vec::new();
        for s in servers {
            let idx = match prefixes.iter().position(|(p, _)| *p == s.prefix) {
                Some(i) => i,
                None => {
                    prefixes.push((s.prefix.as_str(), Some(Vec::new())));
                    prefixes.len() - 1
                }
            };
            let hosts = &mut prefixes[idx].1;
            match (&s.host, hosts.as_mut()) {
                (None, _) => *hosts = None,
                (Some(h), Some(list)) if !list.contains(h) => list.push(h.clone()),
                _ => {}
            }
        }
        for (prefix, hosts) in prefixes {
            let mut hosts = hosts.unwrap_or_default();
            hosts.sort();
            let op = Operation {
                api,
                operation_id: self.operation_id.clone(),
                method: self.method.clone(),
                path: join_path(prefix, &self.spec_path),
                spec_path: self.spec_path.clone(),
                hosts,
                deprecated: self.deprecated,
                tags: self.tags.clone(),
                parameters: self.parameters.clone(),
                responses: self.responses.clone(),
                security: self.security.clone(),
                request_content_types: self.request_content_types.clone(),
                response_content_types: self.response_content_types.clone(),
                extensions: self.extensions.clone(),
                request_schemas: self.request_schemas.clone(),
                response_schemas: self.response_schemas.clone(),
                request_body: self.request_body.clone(),
                response_body: self.response_body.clone(),
                param_schemas: self.param_schemas.clone(),
            };
            out.push(op);
        }
    }
}

/// Server prefix + path key, with exactly one `/` between them.
pub(crate) fn join_path(prefix: &str, path: &str) -> String {
    let path = path.trim_start_matches('/');
    format!("{prefix}/{path}")
}

/// Swagger 2.0 `body`/`formData` parameters, where they were found.
pub(crate) type BodyParams<'a> = Vec<(Location, &'a Map<String, Value>)>;

/// Merge parameter lists (path level first, then operation level): a later parameter with the
/// same (location, name) replaces the earlier one in place (OpenAPI 3 "Path Item Object":
/// operation-level parameters override, and a unique parameter is name + location). Header names
/// compare case-insensitively (RFC 9110 section 5.1).
///
/// Returns the query/header/path/cookie parameters, the Swagger 2.0 `body` and `formData`
/// parameters (those describe the request body, not parameters), and each parameter's compiled
/// schema keyed `query:name` / `header:name` (header names lowercased), for data-class checks.
pub(crate) fn merge_parameters<'a>(
    ctx: &mut Ctx<'a>,
    lists: &[(Location, &'a Value)],
) -> (Vec<ParamSpec>, BodyParams<'a>, BTreeMap<String, SchemaId>) {
    let mut params: Vec<ParamSpec> = Vec::new();
    let mut schemas = BTreeMap::new();
    let mut body_params = Vec::new();
    for (list_loc, list) in lists {
        let Some(items) = list.as_array() else {
            ctx.problem(list_loc, "parameters is not a list");
            continue;
        };
        for (i, item) in items.iter().enumerate() {
            let item_loc = at(list_loc, &i.to_string());
            let Some((loc, p)) = ctx.object(&item_loc, item, "parameter") else {
                continue;
            };
            let name = p.get("name").and_then(scalar_string);
            let place = p.get("in").and_then(Value::as_str);
            let (Some(name), Some(place)) = (name, place) else {
                ctx.problem(&loc, "parameter lacks `name` or `in`");
                continue;
            };
            let location = match (place, ctx.version) {
                ("query", _) => ParamLocation::Query,
                ("header", _) => ParamLocation::Header,
                ("path", _) => ParamLocation::Path,
                ("cookie", SpecVersion::OpenApi30 | SpecVersion::OpenApi31) => {
                    ParamLocation::Cookie
                }
                ("body" | "formData", SpecVersion::Swagger2) => {
                    body_params.push((loc, p));
                    continue;
                }
                (other, _) => {
                    ctx.problem(
                        &at(&loc, "in"),
                        format!("unknown parameter location `{other}`"),
                    );
                    continue;
                }
            };
            // Path parameters are always required (OpenAPI 3 "Parameter Object", `required`).
            let required =
                location == ParamLocation::Path || p.get("required") == Some(&Value::Bool(true));
            let same = |q: &ParamSpec| {
                q.location == location
                    && if location == ParamLocation::Header {
                        q.name.eq_ignore_ascii_case(&name)
                    } else {
                        q.name == name
                    }
            };
            let spec = ParamSpec {
                name: name.clone(),
                location,
                required,
            };
            match params.iter_mut().find(|q| same(q)) {
                Some(existing) => *existing = spec,
                None => params.push(spec),
            }
            if matches!(location, ParamLocation::Query | ParamLocation::Header) {
                let key = match location {
                    ParamLocation::Header => format!("header:{}", name.to_ascii_lowercase()),
                    _ => format!("query:{name}"),
                };
                schemas.insert(key, super::schema::compile_parameter(ctx, &loc, p));
            }
        }
    }
    (params, body_params, schemas)
}

/// The security that applies to an operation: its own `security` if present (even `[]`), else
/// the document's. `[]` -> `None`; alternatives that include `{}` -> `Optional` (credentials may
/// be omitted); otherwise `Required` with every scheme name named by any alternative. Only `{}`
/// alternatives (`[{}]`) means no credentials are expected at all -> `None`.
pub(crate) fn security(
    ctx: &mut Ctx<'_>,
    op_level: Option<(Location, &Value)>,
    global: Option<(Location, &Value)>,
    schemes: Option<&Map<String, Value>>,
) -> Security {
    let Some((loc, value)) = op_level.or(global) else {
        return Security::None;
    };
    let Some(alternatives) = value.as_array() else {
        ctx.problem(&loc, "security is not a list");
        return Security::None;
    };
    let mut names: Vec<String> = Vec::new();
    let mut optional = false;
    for (i, alt) in alternatives.iter().enumerate() {
        let Some(req) = alt.as_object() else {
            ctx.problem(
                &at(&loc, &i.to_string()),
                "security requirement is not a mapping",
            );
            continue;
        };
        if req.is_empty() {
            optional = true;
        }
        for name in req.keys() {
            if !schemes.is_some_and(|s| s.contains_key(name)) {
                ctx.problem(
                    &at(&at(&loc, &i.to_string()), name),
                    format!("security scheme `{name}` is not defined"),
                );
            }
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
    }
    match (names.is_empty(), optional) {
        (true, _) => Security::None,
        (false, true) => Security::Optional(names),
        (false, false) => Security::Required(names),
    }
}

/// Response keys as written (`200`, `4XX`, `default`), skipping `x-` extensions.
pub(crate) fn response_keys(responses: &Map<String, Value>) -> Vec<String> {
    responses
        .keys()
        .filter(|k| !k.starts_with("x-"))
        .cloned()
        .collect()
}

/// Append strings from a list value, skipping non-strings and duplicates.
pub(crate) fn push_strings(out: &mut Vec<String>, value: Option<&Value>) {
    for s in value
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        if !out.iter().any(|x| x == s) {
            out.push(s.to_string());
        }
    }
}

pub(crate) fn push_unique(out: &mut Vec<String>, s: &str) {
    if !out.iter().any(|x| x == s) {
        out.push(s.to_string());
    }
}

/// Who owns a document, from its `info` and top-level `tags`.
pub(crate) struct Ownership {
    pub owner: Option<String>,
    /// From `x-shadowtap-owner`: wins over operations' `x-owner`.
    pub overridden: bool,
    pub system: Option<String>,
    pub tags: Vec<String>,
}

/// `info.x-shadowtap-owner`, else `info.x-owner`, else `info.contact` (its `name`, else its
/// `email`); `info.x-system`; the names of the top-level `tags`.
pub(crate) fn ownership(root: &Value) -> Ownership {
    let info = root.get("info");
    let text = |v: &Value| -> Option<String> {
        match v {
            Value::Object(m) => ["name", "team", "email"]
                .iter()
                .find_map(|k| m.get(*k).and_then(scalar_string)),
            other => scalar_string(other),
        }
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
    };
    let field = |key: &str| info.and_then(|i| i.get(key)).and_then(text);
    let forced = field("x-shadowtap-owner");
    Ownership {
        overridden: forced.is_some(),
        owner: forced
            .or_else(|| field("x-owner"))
            .or_else(|| field("contact")),
        system: field("x-system"),
        tags: root
            .get("tags")
            .and_then(Value::as_array)
            .map(|tags| {
                tags.iter()
                    .filter_map(|t| t.get("name").and_then(scalar_string))
                    .collect()
            })
            .unwrap_or_default(),
    }
}
