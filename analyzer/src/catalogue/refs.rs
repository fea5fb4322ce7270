//! `$ref` resolution over a set of already-parsed documents.
//!
//! A [`DocSet`] holds the document being added (index 0) and any documents it references by
//! relative file name, already read by the caller (the analyzer does no I/O: the collector hands
//! in a loader closure, see `Catalogue::add_document_set`). References are JSON pointers in URI
//! fragments (RFC 6901, section 6): `~1` is `/`, `~0` is `~`, percent-encoding is decoded first.
//!
//! Resolution follows a chain of nodes that are themselves `$ref`s iteratively, with a visited
//! set and a depth cap, so a circular chain ends in an error instead of a loop or a stack
//! overflow. Recursive *schemas* (a schema whose properties refer back to it) are legal and are
//! never walked here: only the node a reference lands on is returned.

use percent_encoding::percent_decode_str;
use serde_json::Value;

/// Longest `$ref` chain followed (a `$ref` to a node that is itself a `$ref`, and so on).
/// Real documents chain two or three deep; anything longer is a mistake or an attack.
pub(crate) const MAX_REF_DEPTH: usize = 32;

/// Most documents one `add_document_set` call pulls in through relative `$ref`s.
pub(crate) const MAX_DOCUMENTS: usize = 64;

/// One parsed document and the name it is known by (file path or other label).
#[derive(Debug)]
pub(crate) struct Doc {
    pub name: String,
    pub root: Value,
}

/// The document being loaded (index 0) plus the documents its relative `$ref`s pulled in.
#[derive(Debug)]
pub(crate) struct DocSet {
    pub docs: Vec<Doc>,
}

/// Where a resolved node lives: the document index and its JSON pointer there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Location {
    pub doc: usize,
    pub pointer: String,
}

impl Location {
    /// The root of the document being loaded.
    pub fn root() -> Self {
        Location {
            doc: 0,
            pointer: String::new(),
        }
    }
}

impl DocSet {
    pub fn single(name: &str, root: Value) -> Self {
        DocSet {
            docs: vec![Doc {
                name: name.to_string(),
                root,
            }],
        }
    }

    pub fn root(&self) -> &Value {
        &self.docs[0].root
    }

    pub fn name(&self, doc: usize) -> &str {
        self.docs.get(doc).map_or("", |d| d.name.as_str())
    }

    fn find(&self, name: &str) -> Option<usize> {
        self.docs.iter().position(|d| d.name == name)
    }

    /// Follow `value` (found at `at`) through any chain of `$ref`s to the node it stands for.
    ///
    /// A node that is not a reference resolves to itself. Sibling keys next to `$ref` are
    /// ignored: OpenAPI 3.0 says they are, and the only siblings 3.1 honours on reference
    /// objects (`summary`, `description`) carry nothing the catalogue keeps.
    pub fn resolve<'a>(
        &'a self,
        at: &Location,
        value: &'a Value,
    ) -> Result<(Location, &'a Value), String> {
        let mut here = at.clone();
        let mut node = value;
        let mut visited: Vec<(usize, String)> = Vec::new();
        while let Some(reference) = ref_of(node) {
            if visited.len() >= MAX_REF_DEPTH {
                return Err(format!(
                    "$ref chain longer than {MAX_REF_DEPTH} links, starting at `{reference}`"
                ));
            }
            let target = self.target(here.doc, reference)?;
            let key = (target.doc, target.pointer.clone());
            if visited.contains(&key) {
                return Err(format!("circular $ref `{reference}`"));
            }
            visited.push(key);
            node = self.lookup(&target)?;
            here = target;
        }
        Ok((here, node))
    }

    /// Which document and pointer a `$ref` string written in document `from` names.
    pub fn target(&self, from: usize, reference: &str) -> Result<Location, String> {
        let (file, fragment) = match reference.split_once('#') {
            Some((f, frag)) => (f, frag),
            None => (reference, ""),
        };
        let doc = if file.is_empty() {
            from
        } else {
            let name = join_relative(self.name(from), file).ok_or_else(|| {
                format!("external $ref `{reference}` is not followed (not a relative file)")
            })?;
            self.find(&name).ok_or_else(|| {
                format!("external $ref `{reference}`: document `{name}` is not loaded")
            })?
        };
        let pointer = percent_decode_str(fragment)
            .decode_utf8_lossy()
            .into_owned();
        if !pointer.is_empty() && !pointer.starts_with('/') {
            // Plain-name fragments (`#foo`) address `$anchor`s in JSON Schema; not supported.
            return Err(format!("$ref `{reference}` is not a JSON pointer"));
        }
        Ok(Location { doc, pointer })
    }

    fn lookup(&self, at: &Location) -> Result<&Value, String> {
        let root = &self
            .docs
            .get(at.doc)
            .ok_or("document index out of range")?
            .root;
        pointer_get(root, &at.pointer).ok_or_else(|| {
            let name = self.name(at.doc);
            if at.doc == 0 {
                format!("$ref target `#{}` does not exist", at.pointer)
            } else {
                format!("$ref target `{name}#{}` does not exist", at.pointer)
            }
        })
    }
}

/// The `$ref` string of a reference object, if `v` is one.
pub(crate) fn ref_of(v: &Value) -> Option<&str> {
    v.as_object()?.get("$ref")?.as_str()
}

/// RFC 6901 lookup of an (already percent-decoded) JSON pointer.
pub(crate) fn pointer_get<'a>(root: &'a Value, pointer: &str) -> Option<&'a Value> {
    if pointer.is_empty() {
        return Some(root);
    }
    let mut node = root;
    for raw in pointer.strip_prefix('/')?.split('/') {
        let token = unescape(raw);
        node = match node {
            Value::Object(map) => map.get(token.as_str())?,
            Value::Array(items) => items.get(token.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(node)
}

/// `~1` -> `/` then `~0` -> `~` (this order, RFC 6901 section 4, so `~01` becomes `~1`).
pub(crate) fn unescape(token: &str) -> String {
    if token.contains('~') {
        token.replace("~1", "/").replace("~0", "~")
    } else {
        token.to_string()
    }
}

/// Escape one token for a JSON pointer: `~` -> `~0`, `/` -> `~1`.
pub(crate) fn escape(token: &str) -> String {
    if token.contains(['~', '/']) {
        token.replace('~', "~0").replace('/', "~1")
    } else {
        token.to_string()
    }
}

/// `base` pointer plus one more token.
pub(crate) fn child(base: &str, token: &str) -> String {
    format!("{base}/{}", escape(token))
}

/// Resolve `relative` (a file reference inside document `base`) to a document name, lexically.
/// Absolute URLs are refused: the analyzer never fetches anything, and the collector reads only
/// local files.
pub(crate) fn join_relative(base: &str, relative: &str) -> Option<String> {
    if relative.contains("://") {
        return None;
    }
    let joined = if relative.starts_with('/') {
        relative.to_string()
    } else {
        match base.rfind('/') {
            Some(i) => format!("{}/{relative}", &base[..i]),
            None => relative.to_string(),
        }
    };
    let absolute = joined.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in joined.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                // Going above the first directory keeps the `..`, so the name still points at
                // the file the author meant rather than at some other file.
                if matches!(parts.last(), Some(p) if *p != "..") {
                    parts.pop();
                } else if !absolute {
                    parts.push("..");
                }
            }
            p => parts.push(p),
        }
    }
    let body = parts.join("/");
    Some(if absolute { format!("/{body}") } else { body })
}

/// Maps whose keys are names the author chose (a response called `default`, a property called
/// `example`), so no key under them marks example data.
const NAMED_MAPS: [&str; 17] = [
    "properties",
    "patternProperties",
    "definitions",
    "parameters",
    "responses",
    "schemas",
    "requestBodies",
    "headers",
    "examples",
    "pathItems",
    "callbacks",
    "securitySchemes",
    "securityDefinitions",
    "links",
    "encoding",
    "content",
    "paths",
];

/// Every `$ref` string in a document with the pointer of the object holding it.
///
/// Iterative (documents can be deep), and skipping subtrees that hold example data or vendor
/// extensions, where a `$ref` key is just data.
pub(crate) fn collect_refs(root: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut stack: Vec<(&Value, String, bool)> = vec![(root, String::new(), false)];
    while let Some((node, pointer, named)) = stack.pop() {
        match node {
            Value::Object(map) => {
                if let Some(r) = map.get("$ref").and_then(Value::as_str) {
                    out.push((pointer.clone(), r.to_string()));
                }
                for (k, v) in map {
                    if !v.is_object() && !v.is_array() {
                        continue;
                    }
                    let data_only = !named
                        && (k.starts_with("x-")
                            || matches!(k.as_str(), "example" | "enum" | "default" | "const")
                            || (k == "examples" && v.is_array()));
                    if !data_only {
                        let names_inside = !named && NAMED_MAPS.contains(&k.as_str());
                        stack.push((v, child(&pointer, k), names_inside));
                    }
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    if v.is_object() || v.is_array() {
                        stack.push((v, format!("{pointer}/{i}"), false));
                    }
                }
            }
            _ => {}
        }
    }
    // The stack visits in reverse; sort so problems come out in a stable, readable order.
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at0() -> Location {
        Location {
            doc: 0,
            pointer: String::new(),
        }
    }

    #[test]
    fn pointer_unescaping() {
        let doc = json!({"paths": {"/a/{id}": {"x~y": [10, 20]}}, "%": 1});
        assert_eq!(
            pointer_get(&doc, "/paths/~1a~1{id}/x~0y/1"),
            Some(&json!(20))
        );
        assert_eq!(pointer_get(&doc, ""), Some(&doc));
        assert_eq!(pointer_get(&doc, "/paths/nope"), None);
        assert_eq!(unescape("~01"), "~1");
        assert_eq!(escape("/a~b"), "~1a~0b");
        let set = DocSet::single("d.json", doc);
        // Percent-encoding in the URI fragment is decoded before the pointer is read.
        let r = set.target(0, "#/%25").map(|l| l.pointer);
        assert_eq!(r, Ok("/%".to_string()));
    }

    #[test]
    fn resolves_chains_and_reports_cycles_and_dangling() {
        let doc = json!({
            "components": {"parameters": {
                "A": {"$ref": "#/components/parameters/B"},
                "B": {"name": "b", "in": "query"},
                "Loop1": {"$ref": "#/components/parameters/Loop2"},
                "Loop2": {"$ref": "#/components/parameters/Loop1"},
                "Self": {"$ref": "#/components/parameters/Self"}
            }}
        });
        let set = DocSet::single("d.json", doc);
        let r = |s: &str| {
            let holder = json!({ "$ref": s });
            set.resolve(&at0(), &holder)
                .map(|(loc, v)| (loc, v.clone()))
        };
        let (loc, v) = r("#/components/parameters/A").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(loc.pointer, "/components/parameters/B");
        assert_eq!(v["name"], "b");
        assert!(matches!(r("#/components/parameters/Loop1"), Err(e) if e.contains("circular")));
        assert!(matches!(r("#/components/parameters/Self"), Err(e) if e.contains("circular")));
        assert!(
            matches!(r("#/components/parameters/Nope"), Err(e) if e.contains("does not exist"))
        );
        assert!(matches!(r("other.yaml#/x"), Err(e) if e.contains("not loaded")));
        assert!(matches!(r("https://x/y.json#/x"), Err(e) if e.contains("not followed")));
    }

    #[test]
    fn long_chains_stop_at_the_depth_cap() {
        let mut params = serde_json::Map::new();
        for i in 0..100 {
            params.insert(format!("P{i}"), json!({"$ref": format!("#/p/P{}", i + 1)}));
        }
        params.insert("P100".into(), json!({"name": "end"}));
        let set = DocSet::single("d", json!({ "p": params }));
        let start = json!({"$ref": "#/p/P0"});
        assert!(matches!(set.resolve(&at0(), &start), Err(e) if e.contains("longer than")));
    }

    #[test]
    fn relative_names_join_lexically() {
        assert_eq!(
            join_relative("specs/api.yaml", "common.yaml"),
            Some("specs/common.yaml".into())
        );
        assert_eq!(
            join_relative("specs/api.yaml", "./a/../b.yaml"),
            Some("specs/b.yaml".into())
        );
        assert_eq!(
            join_relative("/srv/specs/api.yaml", "../c.yaml"),
            Some("/srv/c.yaml".into())
        );
        assert_eq!(
            join_relative("api.yaml", "../c.yaml"),
            Some("../c.yaml".into())
        );
        assert_eq!(
            join_relative("api.yaml", "/abs/c.yaml"),
            Some("/abs/c.yaml".into())
        );
        assert_eq!(
            join_relative("api.yaml", "https://example.com/c.yaml"),
            None
        );
    }

    #[test]
    fn collect_refs_skips_example_data() {
        let doc = json!({
            "a": {"$ref": "#/b"},
            "b": {"example": {"$ref": "not-a-ref"}, "x-vendor": {"$ref": "nor-this"}},
            "c": [{"$ref": "#/a"}]
        });
        let refs = collect_refs(&doc);
        assert_eq!(
            refs,
            vec![
                ("/a".to_string(), "#/b".to_string()),
                ("/c/0".into(), "#/a".into())
            ]
        );
    }
}
