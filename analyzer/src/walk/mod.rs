//! Streaming body walks: JSON field shapes and `a=1&b=2` pairs without building values.
//!
//! [`walk_json`] reads a JSON document once, iteratively (an explicit stack, no recursion) and
//! reports every field to a [`Visitor`]: its interned path ([`PathId`]), its
//! [`FieldType`], the last object key in scope (the field name classification uses) and, for
//! strings and numbers, the scalar bytes. No `serde_json::Value` tree is built, no path string
//! is cloned per node, no number is re-formatted: strings are unescaped into a scratch buffer
//! only when they contain a backslash, numbers are passed as written.
//!
//! Paths are interned in [`Paths`] (keyed by parent id and key bytes); the text `a.b[].c` is
//! built once, when a path is first seen. The interner is bounded: past its limits new paths
//! are not recorded (their subtrees are skipped, still validated) and counted in
//! [`Paths::overflow`].
//!
//! Semantics are those of the serde-based walk it replaces (`observe.rs` `JsonWalk`):
//!
//! - object keys join with `.`, array elements add `[]` (a root array's elements are `[]`),
//!   the root itself is not a field (a root string or number is reported to
//!   [`Visitor::root_scalar`], as today it was classified with no name);
//! - a field at depth > `max_depth` (root children are depth 1) is not reported, nor is its
//!   subtree; once `max_fields` distinct (path, type) shapes are recorded, nothing more is;
//! - `Integer` exactly when serde_json's number is `i64` or `u64` (no fraction or exponent, in
//!   range; `-0` is a `Number`), else `Number`;
//! - the input must be a JSON document serde_json accepts: the same grammar, UTF-8 strings,
//!   escapes and surrogate pairs, numbers in `f64` range, at most [`NESTING_LIMIT`] open
//!   containers, nothing but whitespace after the root. Anything else (a truncated sample)
//!   returns `Err`, and the caller discards what it saw, as a failed parse gave no shapes.
//!
//! Differences, by design: fields are reported in document order (serde's map iterated keys
//! sorted), so when `max_fields` cuts a body the recorded subset can differ; a key repeated in
//! one object is reported each time (serde kept the last value); numbers are reported as
//! written (serde's walk classified its re-formatting: `1.50` was `1.5`; integers are
//! identical).
//!
//! [`pairs`] iterates `name=value` pairs of a query string or form body as raw slices, with
//! [`Decoder`] decoding (`+` and percent escapes, lossy UTF-8) into a reused buffer only when a
//! component needs it; same pairs, same order and same decoded text as `observe.rs`
//! `parse_pairs`.
//!
//! This module does not classify values or store them: a visitor sees scalars only for the
//! duration of its call.

pub mod xml;

pub use xml::{walk_xml, XmlSummary};

use crate::observation::FieldType;
use crate::FastMap;
use std::hash::BuildHasher;

/// Most containers open at once, as serde_json allows (its recursion limit of 128 fails the
/// 128th).
pub const NESTING_LIMIT: usize = 127;

/// An interned field path of one [`Paths`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PathId(u32);

impl PathId {
    /// The document root (text `""`).
    pub const ROOT: PathId = PathId(0);

    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// Bounds on a [`Paths`] interner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathLimits {
    /// Most distinct paths (the root included).
    pub max_paths: usize,
    /// Most bytes of path text and key bytes, together.
    pub max_bytes: usize,
}

impl Default for PathLimits {
    fn default() -> Self {
        PathLimits {
            max_paths: 1 << 16,
            max_bytes: 8 << 20,
        }
    }
}

#[derive(Debug, Clone)]
struct PathNode {
    parent: u32,
    /// `u32::MAX` for an array element, else the start of the key in `keys`.
    key_start: u32,
    key_len: u32,
    /// The path text in `text`.
    text_start: u32,
    text_len: u32,
    /// The name in scope (last object key) in `text`.
    name_start: u32,
    name_len: u32,
    /// Next node with the same hash (`u32::MAX`: none).
    next: u32,
    /// Children in the order they were first seen (`u32::MAX`: none).
    first_child: u32,
    last_child: u32,
    next_sibling: u32,
}

const ELEMENT: u32 = u32::MAX;
const NONE: u32 = u32::MAX;

/// Interned field paths: `(parent, key)` -> [`PathId`], with each path's text and name.
/// Meant to live as long as the worker that walks bodies (ids are stable across walks).
#[derive(Debug, Clone)]
pub struct Paths {
    nodes: Vec<PathNode>,
    heads: FastMap<u64, u32>,
    hasher: foldhash::fast::RandomState,
    keys: Vec<u8>,
    text: String,
    limits: PathLimits,
    overflow: u64,
    /// Per path, the walk that last recorded a shape on it and the types it recorded.
    seen: Vec<(u32, u8)>,
    walk: u32,
    shapes: usize,
    /// Unescaped key and string scratch.
    key_buf: Vec<u8>,
    str_buf: Vec<u8>,
}

impl Default for Paths {
    fn default() -> Self {
        Paths::new(PathLimits::default())
    }
}

impl Paths {
    pub fn new(limits: PathLimits) -> Paths {
        Paths {
            nodes: vec![PathNode {
                parent: NONE,
                key_start: 0,
                key_len: 0,
                text_start: 0,
                text_len: 0,
                name_start: 0,
                name_len: 0,
                next: NONE,
                first_child: NONE,
                last_child: NONE,
                next_sibling: NONE,
            }],
            heads: FastMap::default(),
            hasher: foldhash::fast::RandomState::default(),
            keys: Vec::new(),
            text: String::new(),
            limits,
            overflow: 0,
            seen: vec![(0, 0)],
            walk: 0,
            shapes: 0,
            key_buf: Vec::new(),
            str_buf: Vec::new(),
        }
    }

    /// Distinct paths interned (the root included).
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.len() <= 1
    }

    /// Paths that could not be interned because a limit was reached.
    pub fn overflow(&self) -> u64 {
        self.overflow
    }

    /// The path text: `Data.Account[].Iban`, `[]` for a root array's elements, `""` for the root.
    pub fn text(&self, id: PathId) -> &str {
        self.nodes.get(id.index()).map_or("", |n| {
            &self.text[n.text_start as usize..(n.text_start + n.text_len) as usize]
        })
    }

    /// The name in scope at `id`: its last object key (array elements inherit their array's).
    pub fn name(&self, id: PathId) -> &str {
        self.nodes.get(id.index()).map_or("", |n| {
            &self.text[n.name_start as usize..(n.name_start + n.name_len) as usize]
        })
    }

    /// The parent path (`None` for the root).
    pub fn parent(&self, id: PathId) -> Option<PathId> {
        self.nodes
            .get(id.index())
            .and_then(|n| (n.parent != NONE).then_some(PathId(n.parent)))
    }

    /// The id of `parent`'s child under object key `key`, interning it if new.
    pub fn key(&mut self, parent: PathId, key: &str) -> Option<PathId> {
        self.child(parent, Some(key.as_bytes()))
    }

    /// The id of `parent`'s array elements, interning it if new.
    pub fn element(&mut self, parent: PathId) -> Option<PathId> {
        self.child(parent, None)
    }

    /// [`Paths::child`] for object keys, trying first the child after `cursor` (the previous
    /// key of this object; objects of one array repeat their keys in order), then the hash.
    fn key_after(&mut self, parent: PathId, key: &[u8], cursor: &mut u32) -> Option<PathId> {
        let guess = match *cursor {
            NONE => self
                .nodes
                .get(parent.index())
                .map_or(NONE, |n| n.first_child),
            c => self.nodes.get(c as usize).map_or(NONE, |n| n.next_sibling),
        };
        if let Some(n) = self.nodes.get(guess as usize) {
            if n.key_start != ELEMENT
                && &self.keys[n.key_start as usize..(n.key_start + n.key_len) as usize] == key
            {
                *cursor = guess;
                return Some(PathId(guess));
            }
        }
        let id = self.child(parent, Some(key));
        if let Some(id) = id {
            *cursor = id.0;
        }
        id
    }

    /// Find or intern a child; `None` when a limit stops it (counted in `overflow`). `key`
    /// must be UTF-8 (the walk validates before interning).
    fn child(&mut self, parent: PathId, key: Option<&[u8]>) -> Option<PathId> {
        let p = parent.0;
        let h = self.hasher.hash_one((p, key));
        let mut at = self.heads.get(&h).copied().unwrap_or(NONE);
        while at != NONE {
            let n = &self.nodes[at as usize];
            let same = n.parent == p
                && match key {
                    None => n.key_start == ELEMENT,
                    Some(k) => {
                        n.key_start != ELEMENT
                            && &self.keys[n.key_start as usize..(n.key_start + n.key_len) as usize]
                                == k
                    }
                };
            if same {
                return Some(PathId(at));
            }
            at = n.next;
        }
        self.intern(p, key, h)
    }

    fn intern(&mut self, p: u32, key: Option<&[u8]>, h: u64) -> Option<PathId> {
        let parent = self.nodes.get(p as usize)?.clone();
        let key_text = match key {
            Some(k) => std::str::from_utf8(k).ok()?,
            None => "",
        };
        let parent_text = (parent.text_start as usize, parent.text_len as usize);
        let grow = key_text.len() * 2 + parent_text.1 + 2;
        if self.nodes.len() >= self.limits.max_paths
            || self.keys.len() + self.text.len() + grow > self.limits.max_bytes
            || self.text.len() + grow > u32::MAX as usize
        {
            self.overflow += 1;
            return None;
        }
        let text_start = self.text.len() as u32;
        self.text
            .extend_from_within(parent_text.0..parent_text.0 + parent_text.1);
        let (key_start, key_len, name_start, name_len) = match key {
            Some(_) => {
                // Joined with `.` unless the parent's text is empty (the root, or a root key
                // that is itself empty: `{"": {"x": 1}}` gives `x`, as serde's walk did).
                if parent_text.1 != 0 {
                    self.text.push('.');
                }
                let name_start = self.text.len() as u32;
                self.text.push_str(key_text);
                let key_start = self.keys.len() as u32;
                self.keys.extend_from_slice(key_text.as_bytes());
                (
                    key_start,
                    key_text.len() as u32,
                    name_start,
                    key_text.len() as u32,
                )
            }
            None => {
                self.text.push_str("[]");
                (ELEMENT, 0, parent.name_start, parent.name_len)
            }
        };
        let id = self.nodes.len() as u32;
        let next = self.heads.insert(h, id).unwrap_or(NONE);
        self.nodes.push(PathNode {
            parent: p,
            key_start,
            key_len,
            text_start,
            text_len: self.text.len() as u32 - text_start,
            name_start,
            name_len,
            next,
            first_child: NONE,
            last_child: NONE,
            next_sibling: NONE,
        });
        let last = self.nodes[p as usize].last_child;
        if last == NONE {
            self.nodes[p as usize].first_child = id;
        } else {
            self.nodes[last as usize].next_sibling = id;
        }
        self.nodes[p as usize].last_child = id;
        self.seen.push((0, 0));
        Some(PathId(id))
    }

    /// Start a walk: forget the shapes of the previous one.
    fn begin(&mut self) {
        self.walk = self.walk.wrapping_add(1);
        if self.walk == 0 {
            // Wrapped: clear the stamps so an old walk is never taken for this one.
            self.seen.iter_mut().for_each(|s| *s = (0, 0));
            self.walk = 1;
        }
        self.shapes = 0;
    }

    /// Record the shape (id, ty) for this walk; counts it when new.
    fn record(&mut self, id: PathId, ty: FieldType) {
        let bit = 1u8 << type_index(ty);
        let walk = self.walk;
        if let Some(slot) = self.seen.get_mut(id.index()) {
            if slot.0 != walk {
                *slot = (walk, 0);
            }
            if slot.1 & bit == 0 {
                slot.1 |= bit;
                self.shapes += 1;
            }
        }
    }
}

fn type_index(ty: FieldType) -> u8 {
    match ty {
        FieldType::String => 0,
        FieldType::Integer => 1,
        FieldType::Number => 2,
        FieldType::Boolean => 3,
        FieldType::Null => 4,
        FieldType::Object => 5,
        FieldType::Array => 6,
    }
}

/// Bounds on one walk (the same meaning as `ObserveLimits`' fields of those names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalkLimits {
    /// Deepest field reported (root children are depth 1).
    pub max_depth: usize,
    /// Distinct (path, type) shapes recorded per walk; nothing is reported past it.
    pub max_fields: usize,
}

impl Default for WalkLimits {
    fn default() -> Self {
        WalkLimits {
            max_depth: 24,
            max_fields: 512,
        }
    }
}

/// One field as the walk reports it. Borrowed for the duration of the visitor call only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field<'a> {
    pub path: PathId,
    /// The path text (`a.b[].c`).
    pub text: &'a str,
    pub ty: FieldType,
    /// The last object key in scope (array elements inherit their array's key); `""` under a
    /// root array.
    pub name: &'a str,
    /// A string's value (unescaped, UTF-8) or a number as written; `None` for other types.
    pub scalar: Option<&'a [u8]>,
}

/// Receives what [`walk_json`] sees.
pub trait Visitor {
    /// A field: every node but the root, in document order, within the limits.
    fn field(&mut self, field: &Field<'_>);

    /// The root when it is a string or number (its value, as for [`Field::scalar`]).
    fn root_scalar(&mut self, _ty: FieldType, _scalar: &[u8]) {}
}

/// Why a body is not a JSON document serde_json would accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WalkError {
    #[error("invalid JSON at byte {0}")]
    Syntax(usize),
    #[error("JSON ends early")]
    Eof,
    #[error("JSON nested deeper than {NESTING_LIMIT} at byte {0}")]
    Nesting(usize),
    #[error("number out of range at byte {0}")]
    NumberOutOfRange(usize),
    #[error("invalid UTF-8 or escape in a string at byte {0}")]
    String(usize),
}

/// An open container.
#[derive(Debug, Clone, Copy)]
struct Frame {
    object: bool,
    /// The container's path when its fields are recorded (None: skipped subtree).
    path: Option<PathId>,
    depth: usize,
    /// No element yet (`[` or `{` just read).
    empty: bool,
    /// An array's element path, once looked up.
    element: Option<Option<PathId>>,
    /// An object's previous key's path (a guess for the next one).
    cursor: u32,
}

/// Walk `bytes` as one JSON document, reporting fields to `visitor` (see the module docs).
/// A node whose path cannot be interned (a [`Paths`] limit) is not reported, nor its subtree.
/// On `Err` the caller should discard what the visitor saw.
pub fn walk_json(
    bytes: &[u8],
    paths: &mut Paths,
    limits: &WalkLimits,
    visitor: &mut impl Visitor,
) -> Result<(), WalkError> {
    paths.begin();
    let result = walk(bytes, paths, limits, visitor);
    // Unescaped strings passed through the scratch buffer: none outlives the walk.
    if !paths.str_buf.is_empty() {
        zero(&mut paths.str_buf);
    }
    result
}

/// Zero a scratch buffer's whole allocation, then empty it.
fn zero(buf: &mut Vec<u8>) {
    buf.resize(buf.capacity(), 0);
    buf.fill(0);
    buf.clear();
}

fn walk(
    bytes: &[u8],
    paths: &mut Paths,
    limits: &WalkLimits,
    visitor: &mut impl Visitor,
) -> Result<(), WalkError> {
    let mut p = Parser { b: bytes, i: 0 };
    let mut stack: Vec<Frame> = Vec::new();
    // The value about to be read: its path (when recorded) and depth.
    let root_recorded = limits.max_fields > 0;
    let mut next: (Option<PathId>, usize) = (root_recorded.then_some(PathId::ROOT), 0);
    loop {
        // Read one value.
        p.skip_ws();
        let (path, depth) = next;
        let at = p.i;
        let c = p.peek().ok_or(WalkError::Eof)?;
        let recorded =
            path.filter(|_| depth <= limits.max_depth && paths.shapes < limits.max_fields);
        match c {
            b'{' | b'[' => {
                p.i += 1;
                if stack.len() >= NESTING_LIMIT {
                    return Err(WalkError::Nesting(at));
                }
                let object = c == b'{';
                let ty = if object {
                    FieldType::Object
                } else {
                    FieldType::Array
                };
                if let Some(id) = recorded {
                    report(paths, visitor, id, depth, ty, None);
                }
                stack.push(Frame {
                    object,
                    path: recorded,
                    depth,
                    empty: true,
                    element: None,
                    cursor: NONE,
                });
            }
            b'"' => {
                let scalar = p.string(&mut paths.str_buf)?;
                if let Some(id) = recorded {
                    let s = std::mem::take(&mut paths.str_buf);
                    let text = match scalar {
                        Some(r) => &bytes[r],
                        None => &s[..],
                    };
                    report(paths, visitor, id, depth, FieldType::String, Some(text));
                    paths.str_buf = s;
                }
            }
            b'-' | b'0'..=b'9' => {
                let (r, ty) = p.number()?;
                if let Some(id) = recorded {
                    report(paths, visitor, id, depth, ty, Some(&bytes[r]));
                }
            }
            b't' | b'f' | b'n' => {
                let ty = p.literal()?;
                if let Some(id) = recorded {
                    report(paths, visitor, id, depth, ty, None);
                }
            }
            _ => return Err(WalkError::Syntax(at)),
        }
        // After a value, or inside a container just opened: find the next value to read.
        loop {
            let Some(top) = stack.last_mut() else {
                p.skip_ws();
                return if p.i == bytes.len() {
                    Ok(())
                } else {
                    Err(WalkError::Syntax(p.i))
                };
            };
            p.skip_ws();
            let c = p.peek().ok_or(WalkError::Eof)?;
            let close = if top.object { b'}' } else { b']' };
            if c == close {
                p.i += 1;
                stack.pop();
                continue;
            }
            if !top.empty {
                if c != b',' {
                    return Err(WalkError::Syntax(p.i));
                }
                p.i += 1;
                p.skip_ws();
            }
            top.empty = false;
            let (parent, depth) = (top.path, top.depth + 1);
            if top.object {
                // A key, then `:`.
                if p.peek() != Some(b'"') {
                    return Err(p.peek().map_or(WalkError::Eof, |_| WalkError::Syntax(p.i)));
                }
                let key = p.string(&mut paths.key_buf)?;
                let child = match parent {
                    Some(parent) => {
                        let kb = std::mem::take(&mut paths.key_buf);
                        let k = match key {
                            Some(r) => &bytes[r],
                            None => &kb[..],
                        };
                        let id = paths.key_after(parent, k, &mut top.cursor);
                        paths.key_buf = kb;
                        id
                    }
                    None => None,
                };
                p.skip_ws();
                match p.peek() {
                    Some(b':') => p.i += 1,
                    Some(_) => return Err(WalkError::Syntax(p.i)),
                    None => return Err(WalkError::Eof),
                }
                next = (child, depth);
            } else {
                let element = *top
                    .element
                    .get_or_insert_with(|| parent.and_then(|id| paths.element(id)));
                next = (element, depth);
            }
            break;
        }
    }
}

/// Record a shape and hand the field to the visitor (the root only when it is a scalar).
fn report(
    paths: &mut Paths,
    visitor: &mut impl Visitor,
    id: PathId,
    depth: usize,
    ty: FieldType,
    scalar: Option<&[u8]>,
) {
    let Some(n) = paths.nodes.get(id.index()) else {
        return;
    };
    if depth == 0 || n.text_len == 0 {
        // The root, or a node whose path text is empty (an empty key at the root): no shape,
        // as in serde's walk, but a scalar is still classified, with no name.
        if let Some(s) = scalar {
            visitor.root_scalar(ty, s);
        }
        return;
    }
    let n = n.clone();
    paths.record(id, ty);
    let text = &paths.text[n.text_start as usize..(n.text_start + n.text_len) as usize];
    let name = &paths.text[n.name_start as usize..(n.name_start + n.name_len) as usize];
    visitor.field(&Field {
        path: id,
        text,
        ty,
        name,
        scalar,
    });
}

struct Parser<'a> {
    b: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    #[inline]
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    #[inline]
    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.peek() {
            self.i += 1;
        }
    }

    /// `true`, `false` or `null`.
    fn literal(&mut self) -> Result<FieldType, WalkError> {
        let rest = &self.b[self.i..];
        for (word, ty) in [
            (&b"true"[..], FieldType::Boolean),
            (b"false", FieldType::Boolean),
            (b"null", FieldType::Null),
        ] {
            if rest.first() == word.first() {
                return if rest.starts_with(word) {
                    self.i += word.len();
                    Ok(ty)
                } else if word.starts_with(rest) {
                    Err(WalkError::Eof)
                } else {
                    Err(WalkError::Syntax(self.i))
                };
            }
        }
        Err(WalkError::Syntax(self.i))
    }

    /// A string at `"`: validated; `Some(range)` of its raw bytes when it has no escape, else
    /// `None` with the unescaped text in `buf`.
    fn string(&mut self, buf: &mut Vec<u8>) -> Result<Option<std::ops::Range<usize>>, WalkError> {
        self.i += 1;
        let start = self.i;
        let mut escaped = false;
        loop {
            let rest = &self.b[self.i..];
            // Plain bytes (printable ASCII other than `"` and `\\`) eight at a time; anything
            // else ends the scan. Control and non-ASCII bytes are rare: checked the slow way.
            let k = plain_prefix(rest);
            let Some(&end) = rest.get(k) else {
                return Err(WalkError::Eof);
            };
            let k = if end == b'"' || end == b'\\' {
                k
            } else {
                let Some(k) = memchr::memchr2(b'"', b'\\', rest) else {
                    check_segment(rest, self.i)?;
                    return Err(WalkError::Eof);
                };
                check_segment(&rest[..k], self.i)?;
                k
            };
            let seg = &rest[..k];
            if escaped {
                buf.extend_from_slice(seg);
            }
            self.i += k;
            if rest[k] == b'"' {
                self.i += 1;
                return Ok((!escaped).then_some(start..self.i - 1));
            }
            if !escaped {
                escaped = true;
                buf.clear();
                buf.extend_from_slice(&self.b[start..self.i]);
            }
            self.escape(buf)?;
        }
    }

    /// One escape at `\`, appended to `buf` (serde_json's rules: surrogates must pair).
    fn escape(&mut self, buf: &mut Vec<u8>) -> Result<(), WalkError> {
        let at = self.i;
        let c = *self.b.get(self.i + 1).ok_or(WalkError::Eof)?;
        self.i += 2;
        let byte = match c {
            b'"' => b'"',
            b'\\' => b'\\',
            b'/' => b'/',
            b'b' => 0x08,
            b'f' => 0x0c,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'u' => {
                let n = self.hex4()?;
                let ch = match n {
                    0xDC00..=0xDFFF => return Err(WalkError::String(at)),
                    0xD800..=0xDBFF => {
                        if self.b.get(self.i) != Some(&b'\\') {
                            return Err(self.eof_or(WalkError::String(at)));
                        }
                        if self.b.get(self.i + 1) != Some(&b'u') {
                            return Err(self.eof_or(WalkError::String(at)));
                        }
                        self.i += 2;
                        let n2 = self.hex4()?;
                        if !(0xDC00..=0xDFFF).contains(&n2) {
                            return Err(WalkError::String(at));
                        }
                        let cp =
                            (((u32::from(n) - 0xD800) << 10) | (u32::from(n2) - 0xDC00)) + 0x1_0000;
                        char::from_u32(cp).ok_or(WalkError::String(at))?
                    }
                    _ => char::from_u32(u32::from(n)).ok_or(WalkError::String(at))?,
                };
                let mut tmp = [0u8; 4];
                buf.extend_from_slice(ch.encode_utf8(&mut tmp).as_bytes());
                return Ok(());
            }
            _ => return Err(WalkError::String(at)),
        };
        buf.push(byte);
        Ok(())
    }

    fn eof_or(&self, e: WalkError) -> WalkError {
        if self.i + 2 > self.b.len() {
            WalkError::Eof
        } else {
            e
        }
    }

    fn hex4(&mut self) -> Result<u16, WalkError> {
        let h = self.b.get(self.i..self.i + 4).ok_or(WalkError::Eof)?;
        let mut n = 0u16;
        for &c in h {
            let d = match c {
                b'0'..=b'9' => c - b'0',
                b'a'..=b'f' => c - b'a' + 10,
                b'A'..=b'F' => c - b'A' + 10,
                _ => return Err(WalkError::String(self.i)),
            };
            n = n * 16 + u16::from(d);
        }
        self.i += 4;
        Ok(n)
    }

    /// A number: its raw range and type, with serde_json's grammar and range rules.
    fn number(&mut self) -> Result<(std::ops::Range<usize>, FieldType), WalkError> {
        let start = self.i;
        let negative = self.peek() == Some(b'-');
        if negative {
            self.i += 1;
        }
        let int_start = self.i;
        match self.peek() {
            Some(b'0') => {
                self.i += 1;
                if let Some(b'0'..=b'9') = self.peek() {
                    return Err(WalkError::Syntax(self.i));
                }
            }
            Some(b'1'..=b'9') => {
                while let Some(b'0'..=b'9') = self.peek() {
                    self.i += 1;
                }
            }
            Some(_) => return Err(WalkError::Syntax(self.i)),
            None => return Err(WalkError::Eof),
        }
        let int_digits = self.i - int_start;
        let mut float = false;
        let mut exp: Option<(bool, usize)> = None; // (negative, digits start)
        if self.peek() == Some(b'.') {
            self.i += 1;
            let f = self.i;
            while let Some(b'0'..=b'9') = self.peek() {
                self.i += 1;
            }
            if self.i == f {
                return Err(self
                    .peek()
                    .map_or(WalkError::Eof, |_| WalkError::Syntax(self.i)));
            }
            float = true;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.i += 1;
            let neg = match self.peek() {
                Some(b'-') => {
                    self.i += 1;
                    true
                }
                Some(b'+') => {
                    self.i += 1;
                    false
                }
                _ => false,
            };
            let e = self.i;
            while let Some(b'0'..=b'9') = self.peek() {
                self.i += 1;
            }
            if self.i == e {
                return Err(self
                    .peek()
                    .map_or(WalkError::Eof, |_| WalkError::Syntax(self.i)));
            }
            exp = Some((neg, e));
            float = true;
        }
        let raw = start..self.i;
        if !float {
            let digits = &self.b[int_start..self.i];
            let integer = if negative {
                // serde: i64 when 0 < magnitude <= 2^63; `-0` and larger are f64.
                parse_u64(digits).is_some_and(|m| m != 0 && m <= 1u64 << 63)
            } else {
                parse_u64(digits).is_some()
            };
            if integer {
                return Ok((raw, FieldType::Integer));
            }
        }
        // An f64: out of range is an error in serde_json. Small magnitudes cannot overflow;
        // the rest is settled by serde_json's own parser.
        let positive_exp = match exp {
            None => 0,
            Some((true, _)) => 0,
            Some((false, e)) => {
                let d = &self.b[e..self.i];
                if d.len() > 4 {
                    usize::MAX
                } else {
                    parse_u64(d).map_or(usize::MAX, |v| v as usize)
                }
            }
        };
        if int_digits.saturating_add(positive_exp) > 300
            && serde_json::from_slice::<serde_json::Number>(&self.b[raw.clone()]).is_err()
        {
            return Err(WalkError::NumberOutOfRange(start));
        }
        Ok((raw, FieldType::Number))
    }
}

/// The length of the longest prefix of `s` made of plain string bytes: printable ASCII other
/// than `"` and `\\` (SWAR, a word at a time; the lowest flagged byte of each test is exact).
#[inline]
fn plain_prefix(s: &[u8]) -> usize {
    const L: u64 = 0x0101_0101_0101_0101;
    const H: u64 = 0x8080_8080_8080_8080;
    let mut i = 0;
    while let Some(w) = s.get(i..i + 8) {
        let x = u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
        let q = x ^ (L * u64::from(b'"'));
        let b = x ^ (L * u64::from(b'\\'));
        let special = (q.wrapping_sub(L) & !q)
            | (b.wrapping_sub(L) & !b)
            | (x.wrapping_sub(L * 0x20) & !x)
            | x;
        let m = special & H;
        if m != 0 {
            return i + (m.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    i + s[i..]
        .iter()
        .position(|&b| b == b'"' || b == b'\\' || !(0x20..0x80).contains(&b))
        .unwrap_or(s.len() - i)
}

/// Control characters are not allowed raw in a string; other bytes must be UTF-8.
#[inline]
fn check_segment(seg: &[u8], at: usize) -> Result<(), WalkError> {
    let flags = seg
        .iter()
        .fold(0u8, |acc, &b| acc | u8::from(b < 0x20) | (b & 0x80));
    if flags == 0 {
        return Ok(());
    }
    if flags & 1 != 0 && seg.iter().any(|&b| b < 0x20) {
        return Err(WalkError::String(at));
    }
    match std::str::from_utf8(seg) {
        Ok(_) => Ok(()),
        Err(e) if e.error_len().is_none() => Err(WalkError::Eof),
        Err(_) => Err(WalkError::String(at)),
    }
}

fn parse_u64(digits: &[u8]) -> Option<u64> {
    digits.iter().try_fold(0u64, |acc, &d| {
        acc.checked_mul(10)?
            .checked_add(u64::from(d.wrapping_sub(b'0')))
    })
}

/// One `name=value` pair of a query string or form body, as raw (still encoded) slices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pair<'a> {
    pub name: &'a [u8],
    /// Empty when the pair has no `=`.
    pub value: &'a [u8],
}

/// The pairs of `a=1&b=2` (empty pieces skipped; at most `max` pieces looked at, then pairs
/// with an empty name dropped: `observe.rs` `parse_pairs` order of operations).
pub fn pairs(text: &[u8], max: usize) -> impl Iterator<Item = Pair<'_>> + '_ {
    text.split(|&b| b == b'&')
        .filter(|p| !p.is_empty())
        .take(max)
        .map(|piece| match memchr::memchr(b'=', piece) {
            Some(i) => Pair {
                name: &piece[..i],
                value: &piece[i + 1..],
            },
            None => Pair {
                name: piece,
                value: b"",
            },
        })
        .filter(|p| !p.name.is_empty())
}

/// Decodes pair components (`+` is a space, then percent escapes, then lossy UTF-8), reusing
/// its buffers; a component that needs no decoding is borrowed as is. The buffers hold the last
/// decoded component until the next [`Decoder::decode`]; [`Decoder::clear`] (also run on drop)
/// zeroes them: call it when done with an exchange.
#[derive(Debug, Clone, Default)]
pub struct Decoder {
    bytes: Vec<u8>,
    text: String,
}

impl Decoder {
    pub fn new() -> Decoder {
        Decoder::default()
    }

    /// Zero and empty the buffers (no decoded value outlives this call).
    pub fn clear(&mut self) {
        zero(&mut self.bytes);
        let mut text = std::mem::take(&mut self.text).into_bytes();
        zero(&mut text);
    }

    /// The decoded text of `raw` (borrowed from `raw` or from this decoder's buffer).
    pub fn decode<'a>(&'a mut self, raw: &'a [u8]) -> &'a str {
        if memchr::memchr2(b'+', b'%', raw).is_none() {
            if let Ok(s) = std::str::from_utf8(raw) {
                return s;
            }
        }
        self.bytes.clear();
        let mut i = 0;
        while i < raw.len() {
            let b = raw[i];
            let hex = |c: u8| (c as char).to_digit(16);
            if b == b'%' {
                if let (Some(h), Some(l)) = (
                    raw.get(i + 1).copied().and_then(hex),
                    raw.get(i + 2).copied().and_then(hex),
                ) {
                    self.bytes.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
            }
            self.bytes.push(if b == b'+' { b' ' } else { b });
            i += 1;
        }
        match std::str::from_utf8(&self.bytes) {
            Ok(s) => s,
            Err(_) => {
                let text = String::from_utf8_lossy(&self.bytes).into_owned();
                let mut old = std::mem::replace(&mut self.text, text).into_bytes();
                zero(&mut old);
                &self.text
            }
        }
    }
}

impl Drop for Decoder {
    fn drop(&mut self) {
        self.clear();
    }
}

#[cfg(test)]
mod tests;
