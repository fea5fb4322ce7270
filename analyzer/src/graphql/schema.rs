//! Declared GraphQL schemas: SDL files (`.graphql`, `.graphqls`, `.gql`) and introspection
//! results (`{"data": {"__schema": ...}}` or `{"__schema": ...}`), read into the object and
//! interface types with their fields' named types and `@deprecated` marks, and the root types
//! of query, mutation and subscription. Bounded like the document parser (it shares the
//! lexer): a schema over the lexer's caps is refused with its offset.

use super::document::{Cursor, OpKind, ParseError};
use super::lexer::{tokens, Tok};
use serde::Serialize;
use std::collections::BTreeMap;

/// Most types kept from one file.
pub const MAX_TYPES: usize = 4096;

/// A field of an object or interface type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldDef {
    /// The named type the field returns (list and non-null wrappers taken off).
    pub ty: String,
    pub deprecated: bool,
}

/// Declared types and roots, merged over every GraphQL file of the catalogue.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct GraphqlSchema {
    /// Object and interface types: type name -> field name -> declaration.
    pub types: BTreeMap<String, BTreeMap<String, FieldDef>>,
    /// Root type names by operation type (defaults `Query`, `Mutation`, `Subscription`).
    pub roots: BTreeMap<String, String>,
    /// The files the declarations came from.
    pub sources: Vec<String>,
}

impl GraphqlSchema {
    pub fn is_empty(&self) -> bool {
        self.sources.is_empty()
    }

    /// The root type of an operation type.
    pub fn root(&self, kind: OpKind) -> &str {
        self.roots
            .get(kind.as_str())
            .map(String::as_str)
            .unwrap_or(match kind {
                OpKind::Query => "Query",
                OpKind::Mutation => "Mutation",
                OpKind::Subscription => "Subscription",
            })
    }

    /// The root fields an operation type declares.
    pub fn root_fields(&self, kind: OpKind) -> impl Iterator<Item = &str> {
        self.types
            .get(self.root(kind))
            .into_iter()
            .flat_map(|f| f.keys().map(String::as_str))
    }

    /// Whether a root field is declared (the introspection fields always are).
    pub fn declares_root(&self, kind: OpKind, field: &str) -> bool {
        field.starts_with("__")
            || self
                .types
                .get(self.root(kind))
                .is_some_and(|f| f.contains_key(field))
    }

    /// The deprecated fields a selected path goes through, as `Type.field`, following the
    /// declared types from the root; a step the schema cannot follow (an unknown field, or a
    /// type reached through an inline fragment on another type) ends the walk.
    pub fn deprecated_on_path(&self, kind: OpKind, path: &str) -> Vec<String> {
        let mut ty = self.root(kind);
        let mut out = Vec::new();
        for step in path.split('.') {
            let Some(field) = self.types.get(ty).and_then(|f| f.get(step)) else {
                break;
            };
            if field.deprecated {
                out.push(format!("{ty}.{step}"));
            }
            ty = &field.ty;
        }
        out
    }

    /// Add another file's declarations (`extend type` and repeated files add fields).
    pub fn merge(&mut self, other: GraphqlSchema) {
        for (ty, fields) in other.types {
            if self.types.len() >= MAX_TYPES && !self.types.contains_key(&ty) {
                continue;
            }
            self.types.entry(ty).or_default().extend(fields);
        }
        for (k, v) in other.roots {
            self.roots.insert(k, v);
        }
        self.sources.extend(other.sources);
    }
}

/// Read an SDL document.
pub fn parse_sdl(source: &str, text: &str) -> Result<GraphqlSchema, String> {
    let toks = tokens(text).map_err(|e| e.to_string())?;
    let mut c = Cursor::new(&toks, text.len());
    let mut schema = GraphqlSchema {
        sources: vec![source.to_string()],
        ..GraphqlSchema::default()
    };
    sdl(&mut c, &mut schema).map_err(|e| e.to_string())?;
    Ok(schema)
}

fn skip_description(c: &mut Cursor<'_, '_>) {
    if let Some(Tok::Str(_)) = c.peek() {
        c.bump();
    }
}

fn sdl(c: &mut Cursor<'_, '_>, schema: &mut GraphqlSchema) -> Result<(), ParseError> {
    while !c.done() {
        skip_description(c);
        let mut word = c.name()?;
        if word == "extend" {
            word = c.name()?;
        }
        match word {
            "schema" => {
                c.directive_names()?;
                if c.eat(b'{') {
                    while !c.eat(b'}') {
                        let op = c.name()?;
                        c.expect(b':')?;
                        let ty = c.name()?;
                        schema.roots.insert(op.to_string(), ty.to_string());
                    }
                }
            }
            "scalar" => {
                c.name()?;
                c.directive_names()?;
            }
            "type" | "interface" => {
                let name = c.name()?;
                if c.peek() == Some(Tok::Name("implements")) {
                    c.bump();
                    c.eat(b'&');
                    c.name()?;
                    while c.eat(b'&') {
                        c.name()?;
                    }
                }
                c.directive_names()?;
                let fields = fields_definition(c)?;
                if schema.types.len() < MAX_TYPES || schema.types.contains_key(name) {
                    schema
                        .types
                        .entry(name.to_string())
                        .or_default()
                        .extend(fields);
                }
            }
            "union" => {
                c.name()?;
                c.directive_names()?;
                if c.eat(b'=') {
                    c.eat(b'|');
                    c.name()?;
                    while c.eat(b'|') {
                        c.name()?;
                    }
                }
            }
            "enum" => {
                c.name()?;
                c.directive_names()?;
                if c.eat(b'{') {
                    while !c.eat(b'}') {
                        skip_description(c);
                        c.name()?;
                        c.directive_names()?;
                    }
                }
            }
            "input" => {
                c.name()?;
                c.directive_names()?;
                if c.eat(b'{') {
                    while !c.eat(b'}') {
                        input_value(c)?;
                    }
                }
            }
            "directive" => {
                c.expect(b'@')?;
                c.name()?;
                if c.eat(b'(') {
                    while !c.eat(b')') {
                        input_value(c)?;
                    }
                }
                if c.peek() == Some(Tok::Name("repeatable")) {
                    c.bump();
                }
                if c.peek() != Some(Tok::Name("on")) {
                    return Err(ParseError::Syntax(c.offset()));
                }
                c.bump();
                c.eat(b'|');
                c.name()?;
                while c.eat(b'|') {
                    c.name()?;
                }
            }
            _ => return Err(ParseError::Syntax(c.offset())),
        }
    }
    Ok(())
}

/// `description? name: Type = default @directives`
fn input_value(c: &mut Cursor<'_, '_>) -> Result<(), ParseError> {
    skip_description(c);
    c.name()?;
    c.expect(b':')?;
    c.type_ref()?;
    if c.eat(b'=') {
        c.value()?;
    }
    c.directive_names()?;
    Ok(())
}

/// `{ description? name(args): Type @directives ... }`, when present.
fn fields_definition(c: &mut Cursor<'_, '_>) -> Result<BTreeMap<String, FieldDef>, ParseError> {
    let mut out = BTreeMap::new();
    // `{` after a type name opens its fields only if a field follows (`type A` with no
    // fields may be followed by a new definition, never by `{`).
    if !c.eat(b'{') {
        return Ok(out);
    }
    while !c.eat(b'}') {
        skip_description(c);
        let name = c.name()?;
        if c.eat(b'(') {
            while !c.eat(b')') {
                input_value(c)?;
            }
        }
        c.expect(b':')?;
        let ty = c.type_ref()?;
        let deprecated = c.directive_names()?.contains(&"deprecated");
        out.insert(
            name.to_string(),
            FieldDef {
                ty: ty.to_string(),
                deprecated,
            },
        );
    }
    Ok(out)
}

/// Whether JSON text is an introspection result (it has a `__schema` object).
pub fn is_introspection(value: &serde_json::Value) -> bool {
    introspection_root(value).is_some()
}

fn introspection_root(value: &serde_json::Value) -> Option<&serde_json::Value> {
    value
        .get("__schema")
        .or_else(|| value.get("data").and_then(|d| d.get("__schema")))
        .filter(|s| s.is_object())
}

/// Read an introspection result.
pub fn from_introspection(
    source: &str,
    value: &serde_json::Value,
) -> Result<GraphqlSchema, String> {
    let root =
        introspection_root(value).ok_or("no `__schema` object at /__schema or /data/__schema")?;
    let mut schema = GraphqlSchema {
        sources: vec![source.to_string()],
        ..GraphqlSchema::default()
    };
    for (op, key) in [
        ("query", "queryType"),
        ("mutation", "mutationType"),
        ("subscription", "subscriptionType"),
    ] {
        if let Some(name) = root
            .get(key)
            .and_then(|t| t.get("name"))
            .and_then(|n| n.as_str())
        {
            schema.roots.insert(op.to_string(), name.to_string());
        }
    }
    let types = root
        .get("types")
        .and_then(|t| t.as_array())
        .ok_or("`__schema.types` is not a list")?;
    for (i, t) in types.iter().enumerate().take(MAX_TYPES) {
        let Some(name) = t.get("name").and_then(|n| n.as_str()) else {
            return Err(format!("`__schema.types[{i}].name` is missing"));
        };
        let Some(fields) = t.get("fields").and_then(|f| f.as_array()) else {
            continue;
        };
        let entry = schema.types.entry(name.to_string()).or_default();
        for f in fields {
            let Some(field) = f.get("name").and_then(|n| n.as_str()) else {
                continue;
            };
            entry.insert(
                field.to_string(),
                FieldDef {
                    ty: named_type(f.get("type")).unwrap_or_default(),
                    deprecated: f.get("isDeprecated").and_then(|d| d.as_bool()) == Some(true),
                },
            );
        }
    }
    Ok(schema)
}

/// The named type inside an introspection type reference (`ofType` chains, bounded).
fn named_type(mut t: Option<&serde_json::Value>) -> Option<String> {
    for _ in 0..16 {
        let v = t?;
        if let Some(name) = v.get("name").and_then(|n| n.as_str()) {
            return Some(name.to_string());
        }
        t = v.get("ofType");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const SDL: &str = r#"
        """The bank."""
        schema { query: Root mutation: Mutation }
        directive @auth(role: String = "x") repeatable on FIELD_DEFINITION | OBJECT
        scalar Money @specifiedBy(url: "https://example.com")
        type Root { account(id: ID!): Account ping: String @deprecated(reason: "gone") }
        type Account implements Node & Named @key(fields: "id") {
          "the id" id: ID!
          number: String @deprecated
          owners(first: Int = 10): [Person!]!
        }
        interface Node { id: ID! }
        union Thing = | Account | Person
        enum Currency { "euro" EUR GBP @deprecated }
        input PayInput { amount: Money! = 0, to: [String!] }
        type Mutation { pay(input: PayInput!): Account }
        extend type Root { rates: [String] }
    "#;

    #[test]
    fn sdl_roots_fields_types_and_deprecations() {
        let s = parse_sdl("bank.graphql", SDL).unwrap();
        assert_eq!(s.root(OpKind::Query), "Root");
        let roots: Vec<&str> = s.root_fields(OpKind::Query).collect();
        assert_eq!(roots, ["account", "ping", "rates"]);
        assert!(s.declares_root(OpKind::Mutation, "pay"));
        assert!(s.declares_root(OpKind::Query, "__schema"));
        assert!(!s.declares_root(OpKind::Query, "pay"));
        assert_eq!(
            s.deprecated_on_path(OpKind::Query, "account.number"),
            ["Account.number"]
        );
        assert_eq!(s.deprecated_on_path(OpKind::Query, "ping"), ["Root.ping"]);
        assert!(s
            .deprecated_on_path(OpKind::Query, "account.owners.x")
            .is_empty());
    }

    #[test]
    fn introspection_reads_like_sdl() {
        let json = serde_json::json!({"data": {"__schema": {
        "queryType": {"name": "Query"}, "mutationType": null,
        "types": [
            {"kind": "OBJECT", "name": "Query", "fields": [
                {"name": "account", "isDeprecated": false,
                 "type": {"kind": "NON_NULL", "name": null, "ofType": {"kind": "OBJECT", "name": "Account"}}}]},
            {"kind": "OBJECT", "name": "Account", "fields": [
                {"name": "number", "isDeprecated": true, "type": {"kind": "SCALAR", "name": "String"}}]},
            {"kind": "SCALAR", "name": "String", "fields": null}
        ]}}});
        assert!(is_introspection(&json));
        let s = from_introspection("i.json", &json).unwrap();
        assert_eq!(
            s.deprecated_on_path(OpKind::Query, "account.number"),
            ["Account.number"]
        );
        assert!(!is_introspection(&serde_json::json!({"openapi": "3.0.0"})));
    }

    #[test]
    fn broken_sdl_names_the_offset() {
        assert_eq!(
            parse_sdl("x", "type A { a: }").unwrap_err(),
            "syntax error at byte 12"
        );
        assert!(parse_sdl("x", "type A { a: B").is_err());
        assert!(parse_sdl("x", "bogus A").is_err());
        for cut in 0..SDL.len() {
            if SDL.is_char_boundary(cut) {
                let _ = parse_sdl("x", &SDL[..cut]);
            }
        }
    }
}
