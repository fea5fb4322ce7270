//! A bounded parser of executable GraphQL documents: what each operation is (type, name), which
//! root fields it selects and which field paths below them, with named fragments inlined.
//! Argument values, variable defaults and directive arguments are read past, never kept. The
//! normalised hash ([`Document::hash`]) is taken over the tokens with every literal replaced,
//! so two calls that differ only in inlined values (or whitespace, commas, comments) hash the
//! same, and the hash carries no value.

use super::lexer::{tokens, LexError, Tok};
use std::collections::{BTreeMap, BTreeSet};

/// Deepest nesting of selection sets, lists and input objects.
pub const MAX_DEPTH: usize = 48;
/// Most field paths kept per operation (the rest are counted in `Operation::paths_cut`).
pub const MAX_PATHS: usize = 128;
/// Most selections visited while inlining fragments for one operation (fragments that spread
/// each other can multiply a small document into a huge tree).
pub const MAX_VISITS: usize = 4096;
/// Most operations read from one document.
pub const MAX_OPERATIONS: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OpKind {
    Query,
    Mutation,
    Subscription,
}

impl OpKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OpKind::Query => "query",
            OpKind::Mutation => "mutation",
            OpKind::Subscription => "subscription",
        }
    }

    fn of(name: &str) -> Option<OpKind> {
        match name {
            "query" => Some(OpKind::Query),
            "mutation" => Some(OpKind::Mutation),
            "subscription" => Some(OpKind::Subscription),
            _ => None,
        }
    }
}

/// One operation of a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    pub kind: OpKind,
    pub name: Option<String>,
    /// Fields selected at the root (names, not aliases).
    pub root_fields: BTreeSet<String>,
    /// Every field path selected, dot-joined from the root (`account.owner.name`).
    pub paths: BTreeSet<String>,
    /// Paths past [`MAX_PATHS`] or [`MAX_VISITS`], or deeper than [`MAX_DEPTH`].
    pub paths_cut: u64,
}

/// A parsed document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    pub operations: Vec<Operation>,
    /// Hash of the normalised document (16 hex digits).
    pub hash: String,
}

/// Why a document was not read (the byte offset where it went wrong).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    Lex(LexError),
    Syntax(usize),
    TooDeep(usize),
    /// No operation (fragments only, or empty).
    NoOperation,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParseError::Lex(e) => e.fmt(f),
            ParseError::Syntax(at) => write!(f, "syntax error at byte {at}"),
            ParseError::TooDeep(at) => write!(f, "nesting deeper than {MAX_DEPTH} at byte {at}"),
            ParseError::NoOperation => f.write_str("no operation in the document"),
        }
    }
}

/// A selection as parsed (aliases and arguments dropped).
#[derive(Debug)]
enum Sel<'a> {
    Field(&'a str, Vec<Sel<'a>>),
    Spread(&'a str),
    Inline(Vec<Sel<'a>>),
}

/// Parse an executable document.
pub fn parse(text: &str) -> Result<Document, ParseError> {
    let toks = tokens(text).map_err(ParseError::Lex)?;
    let mut p = Parser {
        toks: &toks,
        at: 0,
        end: text.len(),
    };
    let mut ops: Vec<(OpKind, Option<&str>, Vec<Sel<'_>>)> = Vec::new();
    let mut fragments: BTreeMap<&str, Vec<Sel<'_>>> = BTreeMap::new();
    while p.at < toks.len() {
        match p.peek() {
            Some(Tok::Punct(b'{')) => {
                let set = p.selection_set(0)?;
                ops.push((OpKind::Query, None, set));
            }
            Some(Tok::Name("fragment")) => {
                p.at += 1;
                let name = p.name()?;
                p.keyword("on")?;
                p.name()?;
                p.directives(0)?;
                let set = p.selection_set(0)?;
                fragments.insert(name, set);
            }
            Some(Tok::Name(word)) => {
                let kind = OpKind::of(word).ok_or(ParseError::Syntax(p.offset()))?;
                p.at += 1;
                let name = match p.peek() {
                    Some(Tok::Name(n)) => {
                        p.at += 1;
                        Some(n)
                    }
                    _ => None,
                };
                if p.eat(b'(') {
                    p.variable_definitions()?;
                }
                p.directives(0)?;
                let set = p.selection_set(0)?;
                ops.push((kind, name, set));
            }
            _ => return Err(ParseError::Syntax(p.offset())),
        }
        if ops.len() + fragments.len() > MAX_OPERATIONS * 8 {
            return Err(ParseError::Syntax(p.offset()));
        }
    }
    if ops.is_empty() {
        return Err(ParseError::NoOperation);
    }
    let operations = ops
        .iter()
        .take(MAX_OPERATIONS)
        .map(|(kind, name, set)| {
            let mut flat = Flatten {
                fragments: &fragments,
                visits: 0,
                op: Operation {
                    kind: *kind,
                    name: name.map(str::to_string),
                    root_fields: BTreeSet::new(),
                    paths: BTreeSet::new(),
                    paths_cut: 0,
                },
            };
            flat.walk(set, "", 0);
            flat.op
        })
        .collect();
    Ok(Document {
        operations,
        hash: normalised_hash(&toks),
    })
}

/// BLAKE3 over the tokens, literals replaced by `?`, separated by one space.
fn normalised_hash(toks: &[(usize, Tok<'_>)]) -> String {
    let mut h = blake3::Hasher::new();
    h.update(b"shadowtap graphql document v1\0");
    for (_, t) in toks {
        match t {
            Tok::Punct(c) => h.update(&[*c]),
            Tok::Spread => h.update(b"..."),
            Tok::Name(n) => h.update(n.as_bytes()),
            Tok::Number(_) | Tok::Str(_) => h.update(b"?"),
        };
        h.update(b" ");
    }
    crate::hex::encode(&h.finalize().as_bytes()[..8])
}

struct Flatten<'f, 'a> {
    fragments: &'f BTreeMap<&'a str, Vec<Sel<'a>>>,
    visits: usize,
    op: Operation,
}

impl Flatten<'_, '_> {
    fn walk(&mut self, set: &[Sel<'_>], prefix: &str, depth: usize) {
        for sel in set {
            self.visits += 1;
            if self.visits > MAX_VISITS || depth > MAX_DEPTH {
                self.op.paths_cut += 1;
                return;
            }
            match sel {
                Sel::Field(name, children) => {
                    let path = if prefix.is_empty() {
                        self.op.root_fields.insert((*name).to_string());
                        (*name).to_string()
                    } else {
                        format!("{prefix}.{name}")
                    };
                    if !self.op.paths.contains(&path) {
                        if self.op.paths.len() >= MAX_PATHS {
                            self.op.paths_cut += 1;
                            continue;
                        }
                        self.op.paths.insert(path.clone());
                    }
                    self.walk(children, &path, depth + 1);
                }
                Sel::Inline(children) => self.walk(children, prefix, depth + 1),
                Sel::Spread(name) => {
                    if let Some(children) = self.fragments.get(name) {
                        self.walk(children, prefix, depth + 1);
                    }
                }
            }
        }
    }
}

struct Parser<'t, 'a> {
    toks: &'t [(usize, Tok<'a>)],
    at: usize,
    end: usize,
}

impl<'a> Parser<'_, 'a> {
    fn peek(&self) -> Option<Tok<'a>> {
        self.toks.get(self.at).map(|(_, t)| *t)
    }

    fn offset(&self) -> usize {
        self.toks.get(self.at).map_or(self.end, |(o, _)| *o)
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(Tok::Punct(c)) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: u8) -> Result<(), ParseError> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(ParseError::Syntax(self.offset()))
        }
    }

    fn name(&mut self) -> Result<&'a str, ParseError> {
        match self.peek() {
            Some(Tok::Name(n)) => {
                self.at += 1;
                Ok(n)
            }
            _ => Err(ParseError::Syntax(self.offset())),
        }
    }

    fn keyword(&mut self, word: &str) -> Result<(), ParseError> {
        match self.peek() {
            Some(Tok::Name(n)) if n == word => {
                self.at += 1;
                Ok(())
            }
            _ => Err(ParseError::Syntax(self.offset())),
        }
    }

    fn deeper(&self, depth: usize) -> Result<usize, ParseError> {
        if depth >= MAX_DEPTH {
            Err(ParseError::TooDeep(self.offset()))
        } else {
            Ok(depth + 1)
        }
    }

    fn selection_set(&mut self, depth: usize) -> Result<Vec<Sel<'a>>, ParseError> {
        let depth = self.deeper(depth)?;
        self.expect(b'{')?;
        let mut out = Vec::new();
        loop {
            if self.eat(b'}') {
                return if out.is_empty() {
                    Err(ParseError::Syntax(self.offset()))
                } else {
                    Ok(out)
                };
            }
            out.push(self.selection(depth)?);
        }
    }

    fn selection(&mut self, depth: usize) -> Result<Sel<'a>, ParseError> {
        if self.peek() == Some(Tok::Spread) {
            self.at += 1;
            return match self.peek() {
                Some(Tok::Name("on")) => {
                    self.at += 1;
                    self.name()?;
                    self.directives(depth)?;
                    Ok(Sel::Inline(self.selection_set(depth)?))
                }
                Some(Tok::Name(n)) => {
                    self.at += 1;
                    self.directives(depth)?;
                    Ok(Sel::Spread(n))
                }
                _ => {
                    self.directives(depth)?;
                    Ok(Sel::Inline(self.selection_set(depth)?))
                }
            };
        }
        let mut name = self.name()?;
        if self.eat(b':') {
            name = self.name()?;
        }
        if self.eat(b'(') {
            self.arguments(depth)?;
        }
        self.directives(depth)?;
        let children = if self.peek() == Some(Tok::Punct(b'{')) {
            self.selection_set(depth)?
        } else {
            Vec::new()
        };
        Ok(Sel::Field(name, children))
    }

    /// `name: value` pairs up to `)` (the `(` already read).
    fn arguments(&mut self, depth: usize) -> Result<(), ParseError> {
        loop {
            if self.eat(b')') {
                return Ok(());
            }
            self.name()?;
            self.expect(b':')?;
            self.value(depth)?;
        }
    }

    fn directives(&mut self, depth: usize) -> Result<(), ParseError> {
        while self.eat(b'@') {
            self.name()?;
            if self.eat(b'(') {
                self.arguments(depth)?;
            }
        }
        Ok(())
    }

    /// `($v: Type = default @dir ...)` (the `(` already read).
    fn variable_definitions(&mut self) -> Result<(), ParseError> {
        loop {
            if self.eat(b')') {
                return Ok(());
            }
            self.expect(b'$')?;
            self.name()?;
            self.expect(b':')?;
            self.type_ref(0)?;
            if self.eat(b'=') {
                self.value(0)?;
            }
            self.directives(0)?;
        }
    }

    /// A type reference (`Name`, `[Type]`, with `!`); returns the named type inside.
    pub(super) fn type_ref(&mut self, depth: usize) -> Result<&'a str, ParseError> {
        let depth = self.deeper(depth)?;
        let name = if self.eat(b'[') {
            let inner = self.type_ref(depth)?;
            self.expect(b']')?;
            inner
        } else {
            self.name()?
        };
        self.eat(b'!');
        Ok(name)
    }

    /// A value, read past: variables, literals, enum names, lists, input objects.
    fn value(&mut self, depth: usize) -> Result<(), ParseError> {
        let depth = self.deeper(depth)?;
        match self.peek() {
            Some(Tok::Punct(b'$')) => {
                self.at += 1;
                self.name()?;
            }
            Some(Tok::Number(_) | Tok::Str(_) | Tok::Name(_)) => self.at += 1,
            Some(Tok::Punct(b'[')) => {
                self.at += 1;
                while !self.eat(b']') {
                    self.value(depth)?;
                }
            }
            Some(Tok::Punct(b'{')) => {
                self.at += 1;
                while !self.eat(b'}') {
                    self.name()?;
                    self.expect(b':')?;
                    self.value(depth)?;
                }
            }
            _ => return Err(ParseError::Syntax(self.offset())),
        }
        Ok(())
    }
}

/// The parser's token cursor, for the SDL reader (`schema.rs`), which shares the type,
/// directive and value grammar.
pub(super) struct Cursor<'t, 'a>(Parser<'t, 'a>);

impl<'t, 'a> Cursor<'t, 'a> {
    pub fn new(toks: &'t [(usize, Tok<'a>)], end: usize) -> Self {
        Cursor(Parser { toks, at: 0, end })
    }
    pub fn peek(&self) -> Option<Tok<'a>> {
        self.0.peek()
    }
    pub fn bump(&mut self) {
        self.0.at += 1;
    }
    pub fn offset(&self) -> usize {
        self.0.offset()
    }
    pub fn done(&self) -> bool {
        self.0.at >= self.0.toks.len()
    }
    pub fn eat(&mut self, c: u8) -> bool {
        self.0.eat(c)
    }
    pub fn expect(&mut self, c: u8) -> Result<(), ParseError> {
        self.0.expect(c)
    }
    pub fn name(&mut self) -> Result<&'a str, ParseError> {
        self.0.name()
    }
    pub fn type_ref(&mut self) -> Result<&'a str, ParseError> {
        self.0.type_ref(0)
    }
    pub fn value(&mut self) -> Result<(), ParseError> {
        self.0.value(0)
    }
    /// Directives, returning their names.
    pub fn directive_names(&mut self) -> Result<Vec<&'a str>, ParseError> {
        let mut names = Vec::new();
        while self.0.eat(b'@') {
            names.push(self.0.name()?);
            if self.0.eat(b'(') {
                self.0.arguments(0)?;
            }
        }
        Ok(names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn operations_root_fields_and_paths_with_fragments_inlined() {
        let doc = parse(
            "query Acc($id: ID! = \"x\", $n: [Int!]) @live { a: account(id: $id) { ...F \
             ... on Account { owner { name } } } ping } \
             fragment F on Account { iban balance(currency: EUR) { amount } } \
             mutation { pay(input: {amount: 10, to: [\"x\"]}) { id } }",
        )
        .unwrap();
        assert_eq!(doc.operations.len(), 2);
        let q = &doc.operations[0];
        assert_eq!((q.kind, q.name.as_deref()), (OpKind::Query, Some("Acc")));
        assert_eq!(q.root_fields, set(&["account", "ping"]));
        assert_eq!(
            q.paths,
            set(&[
                "account",
                "account.iban",
                "account.balance",
                "account.balance.amount",
                "account.owner",
                "account.owner.name",
                "ping"
            ])
        );
        let m = &doc.operations[1];
        assert_eq!((m.kind, m.name.as_deref()), (OpKind::Mutation, None));
        assert_eq!(m.root_fields, set(&["pay"]));
    }

    #[test]
    fn the_hash_ignores_literals_layout_and_comments_but_not_fields() {
        let a = parse("{ account(id: \"GB82WEST12345698765432\") { iban } }").unwrap();
        let b = parse("# x\n{account(id:\"DE89370400440532013000\"),{iban}}").unwrap();
        let c = parse("{ account(id: \"GB82WEST12345698765432\") { bic } }").unwrap();
        assert_eq!(a.hash, b.hash);
        assert_ne!(a.hash, c.hash);
        assert_eq!(a.hash.len(), 16);
    }

    #[test]
    fn hostile_documents_are_errors_not_panics() {
        assert!(matches!(parse("{ a { b "), Err(ParseError::Syntax(_))));
        assert_eq!(parse("fragment F on X { a }"), Err(ParseError::NoOperation));
        assert_eq!(parse(""), Err(ParseError::NoOperation));
        assert!(matches!(parse("query { }"), Err(ParseError::Syntax(_))));
        let deep = format!("{}{}", "{ a ".repeat(200), "}".repeat(200));
        assert!(matches!(parse(&deep), Err(ParseError::TooDeep(_))));
        let list = format!("{{ a(x: {}1{}) }}", "[".repeat(200), "]".repeat(200));
        assert!(matches!(parse(&list), Err(ParseError::TooDeep(_))));
        // Fragments spreading each other twice per level: 2^20 selections unrolled.
        let mut text = String::from("{ ...F0 }");
        for i in 0..20 {
            text.push_str(&format!(
                " fragment F{i} on Q {{ a ...F{} ...F{} }}",
                i + 1,
                i + 1
            ));
        }
        text.push_str(" fragment F20 on Q { z }");
        let doc = parse(&text).unwrap();
        assert!(doc.operations[0].paths_cut > 0);
        // A fragment that spreads itself.
        let doc = parse("{ ...F } fragment F on Q { a { ...F } }").unwrap();
        assert!(doc.operations[0].paths_cut > 0);
        // Every cut of a real document parses or fails cleanly.
        let full = "query Q($a: Int = 1) { x(a: $a) @skip(if: false) { ... on T { y } } }";
        for cut in 0..full.len() {
            let _ = parse(&full[..cut]);
        }
    }
}
