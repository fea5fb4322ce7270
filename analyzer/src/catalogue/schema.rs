//! Body schemas compiled for field-drift and data-class checks.
//!
//! Request and response schemas are compiled once, at load time, into one arena of
//! [`SchemaNode`]s per catalogue, with every `$ref` (within and across files) resolved to a
//! node index. A schema reached through several `$ref`s is compiled once, and a recursive schema
//! (a `Node` whose `children` are `Node`s) is a cycle of indices, never an unbounded expansion.
//!
//! What is kept is what a field check needs: the JSON types a node admits (`type`, 3.0
//! `nullable`, 2.0 `x-nullable`, 3.1 type arrays), `properties`, `additionalProperties`,
//! `items`, the `allOf` / `anyOf` / `oneOf` branches, `format` and the `x-data-classes`
//! extension. Validation keywords (`minLength`, `pattern`, `enum`...) are not: shadowtap judges
//! the shape of traffic, not its values.
//!
//! Composition is read as a union: a field is declared when the node or any of its branches
//! declares it, and its admitted types are the union over those declarations. That is exact for
//! `anyOf`/`oneOf` (each alternative may carry it) and for the common `allOf` use (a base object
//! extended with more properties); it does not model the JSON Schema trap where one `allOf`
//! branch's `additionalProperties: false` forbids its siblings' properties.
//!
//! An object schema that lists `properties` without `additionalProperties` declares exactly
//! those properties: JSON Schema would admit anything else, but a contract that names its
//! fields is the list reviewers mean, and the other fields are what drift is about. An object
//! with no `properties` at all (`type: object`, `{}`) is free-form and admits everything below
//! it.

use super::operations::{at, Ctx};
use super::refs::{ref_of, Location};
use super::SpecVersion;
use crate::observation::FieldType;
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Most schema nodes one catalogue holds. The Stripe spec (4 MB) compiles to well under a tenth
/// of this; a document past it is hostile or generated, and the rest of its schemas are taken
/// as free-form (a problem says so) instead of growing memory without bound.
pub const MAX_SCHEMA_NODES: usize = 1_000_000;

/// Deepest nesting of inline schemas followed (`$ref`s do not count: they are memoised).
const MAX_INLINE_DEPTH: usize = 64;

/// Most nodes one field lookup visits; past it the field is taken as declared (unknown), so a
/// pathological composition costs bounded time per field.
const MAX_LOOKUP_VISITS: usize = 4_096;

/// Index of a node in [`Schemas`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct SchemaId(pub u32);

/// JSON types a node admits, as a bit set. Empty means the node says nothing about its type.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct TypeSet(u8);

impl TypeSet {
    const STRING: u8 = 1;
    const INTEGER: u8 = 2;
    const NUMBER: u8 = 4;
    const BOOLEAN: u8 = 8;
    const NULL: u8 = 16;
    const OBJECT: u8 = 32;
    const ARRAY: u8 = 64;

    fn bit(name: &str) -> u8 {
        match name {
            "string" => Self::STRING,
            "integer" => Self::INTEGER,
            "number" => Self::NUMBER,
            "boolean" => Self::BOOLEAN,
            "null" => Self::NULL,
            "object" => Self::OBJECT,
            "array" => Self::ARRAY,
            // Swagger 2.0 `file` and unknown names: say nothing rather than forbid.
            _ => 0,
        }
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    fn with(self, bits: u8) -> TypeSet {
        TypeSet(self.0 | bits)
    }

    /// Whether an observed value of type `ty` fits. An integer fits a `number` (JSON Schema:
    /// integers are numbers); a number with a fraction does not fit an `integer`.
    pub fn admits(self, ty: FieldType) -> bool {
        if self.is_empty() {
            return true;
        }
        let need = match ty {
            FieldType::String => Self::STRING,
            FieldType::Integer => Self::INTEGER | Self::NUMBER,
            FieldType::Number => Self::NUMBER,
            FieldType::Boolean => Self::BOOLEAN,
            FieldType::Null => Self::NULL,
            FieldType::Object => Self::OBJECT,
            FieldType::Array => Self::ARRAY,
        };
        self.0 & need != 0
    }

    /// `string|null` style label for messages.
    pub fn label(self) -> String {
        if self.is_empty() {
            return "any".into();
        }
        let names = [
            (Self::STRING, "string"),
            (Self::INTEGER, "integer"),
            (Self::NUMBER, "number"),
            (Self::BOOLEAN, "boolean"),
            (Self::NULL, "null"),
            (Self::OBJECT, "object"),
            (Self::ARRAY, "array"),
        ];
        names
            .iter()
            .filter(|(b, _)| self.0 & b != 0)
            .map(|(_, n)| *n)
            .collect::<Vec<_>>()
            .join("|")
    }
}

/// What `additionalProperties` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Additional {
    /// Absent: only the listed properties are declared (see the module docs).
    Unspecified,
    /// `true`, `{}` or `patternProperties`: any other property is declared.
    Any,
    /// `false`.
    Forbidden,
    /// A schema every other property follows.
    Schema(SchemaId),
}

/// One compiled schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SchemaNode {
    pub types: TypeSet,
    pub properties: BTreeMap<String, SchemaId>,
    pub additional: Additional,
    pub items: Option<SchemaId>,
    /// `allOf`, `anyOf` and `oneOf` branches together (see the module docs).
    pub branches: Vec<SchemaId>,
    pub format: Option<String>,
    /// The `x-data-classes` extension: the sensitive data classes this value may carry.
    pub data_classes: Option<Vec<String>>,
    /// Nothing is known (a broken `$ref`, a cap reached, a boolean `true` schema): admits all.
    pub open: bool,
}

impl SchemaNode {
    fn open() -> Self {
        SchemaNode {
            open: true,
            ..SchemaNode::empty()
        }
    }

    fn empty() -> Self {
        SchemaNode {
            types: TypeSet::default(),
            properties: BTreeMap::new(),
            additional: Additional::Unspecified,
            items: None,
            branches: Vec::new(),
            format: None,
            data_classes: None,
            open: false,
        }
    }

    /// No structure and no type: `{}` admits anything.
    fn is_unconstrained(&self) -> bool {
        self.open
            || (self.types.is_empty()
                && self.properties.is_empty()
                && self.items.is_none()
                && self.branches.is_empty()
                && self.additional == Additional::Unspecified)
    }

    /// The types this node admits on its own, inferring `object` / `array` from structure.
    fn own_types(&self) -> TypeSet {
        if !self.types.is_empty() {
            return self.types;
        }
        let mut t = TypeSet::default();
        if !self.properties.is_empty() || self.additional != Additional::Unspecified {
            t = t.with(TypeSet::OBJECT);
        }
        if self.items.is_some() {
            t = t.with(TypeSet::ARRAY);
        }
        t
    }
}

/// Every compiled schema of a catalogue.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Schemas {
    pub nodes: Vec<SchemaNode>,
}

/// One step of an observed field path (`Data.Account[].Iban`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Segment<'a> {
    Property(&'a str),
    Items,
}

/// Split an inventory field path: `a.b[].c` -> a, b, [], c; `[].id` -> [], id; `[][]` -> [], [].
/// Field names holding `.` or ending in `[]` are ambiguous in this notation; they are read as
/// the separators they look like.
pub fn parse_field_path(path: &str) -> Vec<Segment<'_>> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let mut name = part;
        let mut arrays = 0;
        while let Some(rest) = name.strip_suffix("[]") {
            name = rest;
            arrays += 1;
        }
        if !name.is_empty() {
            out.push(Segment::Property(name));
        }
        out.extend(std::iter::repeat_n(Segment::Items, arrays));
    }
    out
}

/// Render segments back to the inventory notation.
pub fn render_field_path(segs: &[Segment<'_>]) -> String {
    let mut out = String::new();
    for s in segs {
        match s {
            Segment::Property(name) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(name);
            }
            Segment::Items => out.push_str("[]"),
        }
    }
    out
}

/// The outcome of looking a field path up in a schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// The path is declared; these are the nodes it may take (each with its branches).
    Declared(Vec<SchemaId>),
    /// Some node on the way is free-form (or unknown): anything below it is admitted.
    Open,
    /// Segment `at` (0-based) is not declared where the path reaches it.
    Undeclared { at: usize },
}

impl Schemas {
    pub fn get(&self, id: SchemaId) -> Option<&SchemaNode> {
        self.nodes.get(id.0 as usize)
    }

    /// `id` and every node its branches reach (each once), within the visit budget. Returns
    /// `None` when the budget ran out.
    fn closure(&self, id: SchemaId, visits: &mut usize) -> Option<Vec<SchemaId>> {
        let mut out = vec![id];
        let mut i = 0;
        while i < out.len() {
            *visits += 1;
            if *visits > MAX_LOOKUP_VISITS {
                return None;
            }
            if let Some(node) = self.get(out[i]) {
                for b in &node.branches {
                    if !out.contains(b) {
                        out.push(*b);
                    }
                }
            }
            i += 1;
        }
        Some(out)
    }

    /// Follow `segs` from `root`.
    pub fn lookup(&self, root: SchemaId, segs: &[Segment<'_>]) -> Lookup {
        let mut visits = 0;
        let mut frontier = vec![root];
        for (i, seg) in segs.iter().enumerate() {
            let mut next: Vec<SchemaId> = Vec::new();
            for &id in &frontier {
                let Some(all) = self.closure(id, &mut visits) else {
                    return Lookup::Open;
                };
                let nodes: Vec<&SchemaNode> = all.iter().filter_map(|n| self.get(*n)).collect();
                // A description-only branch (`allOf: [{$ref}, {description}]`) adds nothing;
                // only a member with no constraint anywhere in its closure is free-form.
                if nodes.len() != all.len()
                    || nodes.iter().any(|n| n.open)
                    || nodes.iter().all(|n| n.is_unconstrained())
                {
                    return Lookup::Open;
                }
                for node in nodes.into_iter().filter(|n| !n.is_unconstrained()) {
                    let step = match seg {
                        Segment::Property(name) => match node.properties.get(*name) {
                            Some(p) => Some(*p),
                            None => match node.additional {
                                Additional::Any => return Lookup::Open,
                                Additional::Schema(s) => Some(s),
                                Additional::Forbidden => None,
                                Additional::Unspecified => {
                                    // `type: object` and nothing else: a free-form map.
                                    if node.properties.is_empty()
                                        && node.branches.is_empty()
                                        && node.types.0 & TypeSet::OBJECT != 0
                                    {
                                        return Lookup::Open;
                                    }
                                    None
                                }
                            },
                        },
                        Segment::Items => match node.items {
                            Some(items) => Some(items),
                            None if node.types.0 & TypeSet::ARRAY != 0 => return Lookup::Open,
                            None => None,
                        },
                    };
                    if let Some(s) = step {
                        if !next.contains(&s) {
                            next.push(s);
                        }
                    }
                }
            }
            if next.is_empty() {
                return Lookup::Undeclared { at: i };
            }
            frontier = next;
        }
        Lookup::Declared(frontier)
    }

    /// The types the nodes of a [`Lookup::Declared`] admit together (empty: anything).
    pub fn admitted_types(&self, ids: &[SchemaId]) -> TypeSet {
        let mut visits = 0;
        let mut all = TypeSet::default();
        let mut nullable = false;
        for &id in ids {
            let Some(closure) = self.closure(id, &mut visits) else {
                return TypeSet::default();
            };
            let mut t = TypeSet::default();
            for n in closure.iter().filter_map(|n| self.get(*n)) {
                if n.open {
                    return TypeSet::default();
                }
                // A node without a type of its own (a pure `allOf` holder, a description-only
                // branch) leaves the type to the others.
                t = t.with(n.own_types().0);
                nullable |= n.types.0 & TypeSet::NULL != 0;
            }
            if t.is_empty() {
                // No node says what type the value has: it may be anything.
                return TypeSet::default();
            }
            all = all.with(t.0);
        }
        if nullable {
            all = all.with(TypeSet::NULL);
        }
        all
    }

    /// `format`s and `x-data-classes` declared on the nodes of a [`Lookup::Declared`] (and
    /// their branches): (formats, data classes, whether any node gave `x-data-classes`).
    pub fn annotations(&self, ids: &[SchemaId]) -> (Vec<String>, Vec<String>, bool) {
        let mut visits = 0;
        let (mut formats, mut classes, mut explicit) = (Vec::new(), Vec::new(), false);
        for &id in ids {
            let Some(closure) = self.closure(id, &mut visits) else {
                break;
            };
            for n in closure.iter().filter_map(|n| self.get(*n)) {
                if let Some(f) = &n.format {
                    if !formats.contains(f) {
                        formats.push(f.clone());
                    }
                }
                if let Some(list) = &n.data_classes {
                    explicit = true;
                    for c in list {
                        if !classes.contains(c) {
                            classes.push(c.clone());
                        }
                    }
                }
            }
        }
        (formats, classes, explicit)
    }
}

/// Compiles schemas of one document set into the catalogue's arena (ids continue after the
/// nodes already there).
#[derive(Debug, Default)]
pub(crate) struct SchemaBuilder {
    /// Nodes already in the catalogue before this document.
    pub base: usize,
    pub nodes: Vec<SchemaNode>,
    memo: crate::FastMap<(usize, String), SchemaId>,
    /// Schemas not compiled because `MAX_SCHEMA_NODES` was reached (they all share one
    /// free-form node, `overflow`); reported as one problem with this count.
    pub skipped: u64,
    overflow: Option<SchemaId>,
}

impl SchemaBuilder {
    pub fn new(base: usize) -> Self {
        SchemaBuilder {
            base,
            ..SchemaBuilder::default()
        }
    }

    fn push(&mut self, node: SchemaNode) -> SchemaId {
        let id = SchemaId((self.base + self.nodes.len()) as u32);
        self.nodes.push(node);
        id
    }

    fn slot(&mut self, id: SchemaId) -> Option<&mut SchemaNode> {
        self.nodes.get_mut((id.0 as usize).checked_sub(self.base)?)
    }

    fn full(&self) -> bool {
        self.base + self.nodes.len() >= MAX_SCHEMA_NODES
    }
}

/// Compile the schema `value` found at `loc`.
pub(crate) fn compile(ctx: &mut Ctx<'_>, loc: &Location, value: &Value) -> SchemaId {
    compile_at(ctx, loc, value, 0)
}

/// Compile a parameter object as the schema of its value: Swagger 2.0 puts `type`/`format`
/// on the parameter itself, 3.x under `schema`; an `x-data-classes` on the parameter applies
/// either way.
pub(crate) fn compile_parameter(
    ctx: &mut Ctx<'_>,
    loc: &Location,
    param: &Map<String, Value>,
) -> SchemaId {
    if ctx.schemas.full() {
        // Past the cap: the shared free-form node, counted like every other skipped schema.
        return compile_at(ctx, loc, &Value::Null, 0);
    }
    let mut node = SchemaNode::empty();
    if ctx.version == SpecVersion::Swagger2 {
        node = build_node(ctx, loc, &Value::Object(param.clone()), 0);
        // `name`/`in` are not schema keywords; `build_node` ignored them.
    } else if let Some(list) = param.get("x-data-classes").and_then(Value::as_array) {
        node.data_classes = Some(
            list.iter()
                .filter_map(Value::as_str)
                .map(str::to_ascii_lowercase)
                .collect(),
        );
    }
    if let Some(schema) = param.get("schema") {
        let id = compile_at(ctx, &at(loc, "schema"), schema, 1);
        node.branches.push(id);
    }
    ctx.schemas.push(node)
}

/// Swagger 2.0 `formData` parameters as the object schema of a form body: one property per
/// parameter, typed by the parameter's own `type`/`format`.
pub(crate) fn compile_form(
    ctx: &mut Ctx<'_>,
    params: &[(Location, &Map<String, Value>)],
) -> SchemaId {
    if ctx.schemas.full() {
        return compile_at(
            ctx,
            &params.first().map_or_else(Location::root, |p| p.0.clone()),
            &Value::Null,
            0,
        );
    }
    let mut node = SchemaNode::empty();
    node.types = TypeSet(TypeSet::OBJECT);
    for (loc, p) in params {
        let Some(name) = p.get("name").and_then(Value::as_str) else {
            continue;
        };
        let field = build_node(ctx, loc, &Value::Object((*p).clone()), 1);
        let id = ctx.schemas.push(field);
        node.properties.insert(name.to_string(), id);
    }
    ctx.schemas.push(node)
}

fn compile_at(ctx: &mut Ctx<'_>, loc: &Location, value: &Value, depth: usize) -> SchemaId {
    if ctx.schemas.full() || ctx.schemas.overflow.is_some() {
        ctx.schemas.skipped += 1;
        if let Some(id) = ctx.schemas.overflow {
            return id;
        }
        ctx.problem(
            loc,
            format!(
                "more than {MAX_SCHEMA_NODES} schema nodes; this and later schemas are taken \
                 as free-form"
            ),
        );
        // One node past the cap, shared by everything that did not fit.
        let id = ctx.schemas.push(SchemaNode::open());
        ctx.schemas.overflow = Some(id);
        return id;
    }
    if depth > MAX_INLINE_DEPTH {
        return ctx.schemas.push(SchemaNode::open());
    }
    let set = ctx.set;
    if ref_of(value).is_none() {
        return compile_object(ctx, loc, value, depth);
    }
    // Broken references were reported by the whole-document check; the schema is unknown.
    let Ok((target_loc, target)) = set.resolve(loc, value) else {
        return ctx.schemas.push(SchemaNode::open());
    };
    let target_id = compile_by_location(ctx, &target_loc, target, depth);
    // 3.1 schemas may put keywords next to `$ref`; they apply together (an implicit allOf).
    let has_siblings = ctx.version == SpecVersion::OpenApi31
        && value.as_object().is_some_and(|m| {
            m.keys()
                .any(|k| !matches!(k.as_str(), "$ref" | "summary" | "description" | "$comment"))
        });
    if !has_siblings {
        return target_id;
    }
    let own = compile_object(ctx, loc, value, depth);
    if let Some(node) = ctx.schemas.slot(own) {
        node.branches.push(target_id);
    }
    own
}

/// Compile a node reached through a `$ref`, once per target location (cycles close here).
fn compile_by_location(ctx: &mut Ctx<'_>, loc: &Location, value: &Value, depth: usize) -> SchemaId {
    let key = (loc.doc, loc.pointer.clone());
    if let Some(id) = ctx.schemas.memo.get(&key) {
        return *id;
    }
    // Reserve the id first so a schema that refers back to itself finds it.
    let id = ctx.schemas.push(SchemaNode::empty());
    ctx.schemas.memo.insert(key, id);
    let built = build_node(ctx, loc, value, depth);
    if let Some(slot) = ctx.schemas.slot(id) {
        *slot = built;
    }
    id
}

fn compile_object(ctx: &mut Ctx<'_>, loc: &Location, value: &Value, depth: usize) -> SchemaId {
    let node = build_node(ctx, loc, value, depth);
    ctx.schemas.push(node)
}

fn build_node(ctx: &mut Ctx<'_>, loc: &Location, value: &Value, depth: usize) -> SchemaNode {
    let map: &Map<String, Value> = match value {
        Value::Object(map) => map,
        // 3.1 boolean schemas: `true` admits anything; `false` nothing, which for drift
        // purposes is best left unjudged rather than flagging every field.
        _ => return SchemaNode::open(),
    };
    let mut node = SchemaNode::empty();
    match map.get("type") {
        Some(Value::String(t)) => node.types = TypeSet(TypeSet::bit(t)),
        Some(Value::Array(list)) => {
            for t in list.iter().filter_map(Value::as_str) {
                node.types = node.types.with(TypeSet::bit(t));
            }
        }
        _ => {}
    }
    let nullable = |k: &str| map.get(k) == Some(&Value::Bool(true));
    if !node.types.is_empty() && (nullable("nullable") || nullable("x-nullable")) {
        node.types = node.types.with(TypeSet::NULL);
    }
    node.format = map
        .get("format")
        .and_then(Value::as_str)
        .map(str::to_string);
    if let Some(list) = map.get("x-data-classes").and_then(Value::as_array) {
        node.data_classes = Some(
            list.iter()
                .filter_map(Value::as_str)
                .map(str::to_ascii_lowercase)
                .collect(),
        );
    }
    if let Some(props) = map.get("properties").and_then(Value::as_object) {
        let props_loc = at(loc, "properties");
        for (name, schema) in props {
            let id = compile_at(ctx, &at(&props_loc, name), schema, depth + 1);
            node.properties.insert(name.clone(), id);
        }
    }
    node.additional = match map.get("additionalProperties") {
        Some(Value::Bool(true)) => Additional::Any,
        Some(Value::Bool(false)) => Additional::Forbidden,
        Some(v @ Value::Object(m)) if !m.is_empty() => Additional::Schema(compile_at(
            ctx,
            &at(loc, "additionalProperties"),
            v,
            depth + 1,
        )),
        Some(Value::Object(_)) => Additional::Any,
        _ if map.contains_key("patternProperties") => Additional::Any,
        _ => Additional::Unspecified,
    };
    match map.get("items") {
        Some(v @ Value::Object(_)) => {
            node.items = Some(compile_at(ctx, &at(loc, "items"), v, depth + 1));
        }
        // 2.0/3.0 never allow a list here; 3.1 tuples use `prefixItems`. Either way the
        // elements are not described one way: admit them all.
        Some(_) => node.items = Some(ctx.schemas.push(SchemaNode::open())),
        None if map.contains_key("prefixItems") => {
            node.items = Some(ctx.schemas.push(SchemaNode::open()));
        }
        None => {}
    }
    for key in ["allOf", "anyOf", "oneOf"] {
        if let Some(list) = map.get(key).and_then(Value::as_array) {
            let list_loc = at(loc, key);
            for (i, branch) in list.iter().enumerate() {
                let id = compile_at(ctx, &at(&list_loc, &i.to_string()), branch, depth + 1);
                node.branches.push(id);
            }
        }
    }
    node
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_paths_split_and_render() {
        use Segment::*;
        assert_eq!(
            parse_field_path("Data.Account[].Iban"),
            vec![
                Property("Data"),
                Property("Account"),
                Items,
                Property("Iban")
            ]
        );
        assert_eq!(parse_field_path("[].id"), vec![Items, Property("id")]);
        assert_eq!(parse_field_path("[][]"), vec![Items, Items]);
        assert_eq!(parse_field_path("a"), vec![Property("a")]);
        for p in ["Data.Account[].Iban", "[].id", "[][]", "a.b"] {
            assert_eq!(render_field_path(&parse_field_path(p)), p);
        }
    }

    #[test]
    fn integers_fit_numbers_not_the_reverse() {
        let number = TypeSet(TypeSet::NUMBER);
        let integer = TypeSet(TypeSet::INTEGER);
        assert!(number.admits(FieldType::Integer));
        assert!(!integer.admits(FieldType::Number));
        assert!(TypeSet::default().admits(FieldType::Object));
        assert_eq!(
            TypeSet(TypeSet::STRING | TypeSet::NULL).label(),
            "string|null"
        );
    }
}
