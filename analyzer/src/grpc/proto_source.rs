//! `.proto` sources (proto2, proto3, editions) read for what the catalogue needs: the package,
//! messages (nested, with `oneof` and `map` fields), enums (as integer types) and services with
//! their rpcs and `stream` markers. Options, imports, reserved ranges and extensions are
//! skipped. Not a compiler: type names resolve within the file (innermost scope first, as
//! protoc does), and a name no declaration of the file matches is kept as written (an import's
//! fully qualified type). Bounded: at most [`MAX_TOKENS`] tokens and [`MAX_NESTING`] levels.

use super::schema::{qualify, scalar_type, FieldDecl, GrpcSchema, MethodDecl};
use crate::observation::FieldType;
use std::collections::{BTreeMap, BTreeSet};

pub const MAX_TOKENS: usize = 2_000_000;
pub const MAX_NESTING: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Word(String),
    Str,
    Sym(char),
}

fn tokens(text: &str) -> Result<Vec<(Tok, usize)>, String> {
    let mut out = Vec::new();
    let mut line = 1;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if out.len() >= MAX_TOKENS {
            return Err(format!("line {line}: more than {MAX_TOKENS} tokens"));
        }
        match c {
            '\n' => line += 1,
            c if c.is_whitespace() => {}
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        line += 1;
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut star = false;
                loop {
                    match chars.next() {
                        None => return Err(format!("line {line}: comment not closed")),
                        Some('/') if star => break,
                        Some(c) => {
                            line += usize::from(c == '\n');
                            star = c == '*';
                        }
                    }
                }
            }
            '"' | '\'' => {
                let start = line;
                let mut escaped = false;
                loop {
                    match chars.next() {
                        None => return Err(format!("line {start}: string not closed")),
                        Some(q) if q == c && !escaped => break,
                        Some(x) => {
                            line += usize::from(x == '\n');
                            escaped = x == '\\' && !escaped;
                        }
                    }
                }
                out.push((Tok::Str, start));
            }
            c if c.is_alphanumeric() || c == '_' || c == '.' => {
                let mut w = String::from(c);
                while let Some(&n) = chars.peek() {
                    if n.is_alphanumeric() || n == '_' || n == '.' {
                        w.push(n);
                        chars.next();
                    } else {
                        break;
                    }
                }
                out.push((Tok::Word(w), line));
            }
            c => out.push((Tok::Sym(c), line)),
        }
    }
    Ok(out)
}

struct RawField {
    name: String,
    number: u32,
    /// Type name as written (`None` for a map).
    ty: Option<String>,
}

/// An rpc as written: `rpc method ([stream] input) returns ([stream] output)`.
struct RawRpc {
    method: String,
    input: (bool, String),
    output: (bool, String),
}

struct Parser {
    toks: Vec<(Tok, usize)>,
    at: usize,
    package: String,
    enums: BTreeSet<String>,
    messages: Vec<(String, Vec<RawField>)>,
    services: Vec<(String, Vec<RawRpc>)>,
}

impl Parser {
    fn line(&self) -> usize {
        self.toks
            .get(self.at)
            .or(self.toks.last())
            .map_or(0, |t| t.1)
    }

    fn err(&self, what: &str) -> String {
        format!("line {}: expected {what}", self.line())
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.at).map(|t| t.0.clone());
        self.at += 1;
        t
    }

    fn peek_is(&self, c: char) -> bool {
        matches!(self.toks.get(self.at), Some((Tok::Sym(s), _)) if *s == c)
    }

    fn word(&mut self, what: &str) -> Result<String, String> {
        match self.next() {
            Some(Tok::Word(w)) => Ok(w),
            _ => {
                self.at -= 1;
                Err(self.err(what))
            }
        }
    }

    fn sym(&mut self, c: char) -> Result<(), String> {
        match self.next() {
            Some(Tok::Sym(s)) if s == c => Ok(()),
            _ => {
                self.at -= 1;
                Err(self.err(&format!("`{c}`")))
            }
        }
    }

    /// Skip to the end of a statement: past the next `;` at this level, or past a `{...}`.
    fn skip_statement(&mut self) -> Result<(), String> {
        let mut depth = 0usize;
        loop {
            match self.next() {
                None => return Err(self.err("`;` or `}`")),
                Some(Tok::Sym(';')) if depth == 0 => return Ok(()),
                Some(Tok::Sym('{' | '[' | '(')) => depth += 1,
                Some(Tok::Sym('}' | ']' | ')')) => {
                    depth = depth
                        .checked_sub(1)
                        .ok_or_else(|| self.err("a statement"))?;
                    if depth == 0
                        && self.toks.get(self.at - 1).map(|t| &t.0) == Some(&Tok::Sym('}'))
                    {
                        return Ok(());
                    }
                }
                Some(_) => {}
            }
        }
    }

    fn file(&mut self) -> Result<(), String> {
        while self.at < self.toks.len() {
            match self.next() {
                Some(Tok::Word(w)) => match w.as_str() {
                    "package" => {
                        self.package = self.word("a package name")?;
                        self.sym(';')?;
                    }
                    "message" => self.message(&self.package.clone(), 0)?,
                    "enum" => {
                        let name = self.word("an enum name")?;
                        self.enums.insert(qualify(&self.package, &name));
                        self.skip_statement()?;
                    }
                    "service" => self.service()?,
                    _ => self.skip_statement()?,
                },
                Some(Tok::Sym(';')) => {}
                _ => {
                    self.at -= 1;
                    return Err(self.err("a declaration"));
                }
            }
        }
        Ok(())
    }

    fn message(&mut self, scope: &str, depth: usize) -> Result<(), String> {
        if depth > MAX_NESTING {
            return Err(self.err(&format!("at most {MAX_NESTING} levels of messages")));
        }
        let name = qualify(scope, &self.word("a message name")?);
        self.sym('{')?;
        let mut fields = Vec::new();
        self.body(&name, depth, &mut fields)?;
        self.messages.push((name, fields));
        Ok(())
    }

    /// The declarations of a message (or a `oneof`) up to its closing `}`.
    fn body(&mut self, name: &str, depth: usize, fields: &mut Vec<RawField>) -> Result<(), String> {
        loop {
            match self.next() {
                None => return Err(self.err("`}`")),
                Some(Tok::Sym('}')) => return Ok(()),
                Some(Tok::Sym(';')) => {}
                Some(Tok::Word(w)) => match w.as_str() {
                    "message" => self.message(name, depth + 1)?,
                    "enum" => {
                        let e = self.word("an enum name")?;
                        self.enums.insert(qualify(name, &e));
                        self.skip_statement()?;
                    }
                    "oneof" => {
                        self.word("a oneof name")?;
                        self.sym('{')?;
                        self.body(name, depth + 1, fields)?;
                    }
                    "option" | "reserved" | "extensions" | "extend" | "group" => {
                        self.skip_statement()?
                    }
                    "map" => {
                        self.sym('<')?;
                        self.word("a map key type")?;
                        self.sym(',')?;
                        self.word("a map value type")?;
                        self.sym('>')?;
                        self.field_rest(None, fields)?;
                    }
                    "repeated" | "optional" | "required" => {
                        let ty = self.word("a field type")?;
                        self.field_rest(Some(ty), fields)?;
                    }
                    _ => self.field_rest(Some(w), fields)?,
                },
                Some(_) => {
                    self.at -= 1;
                    return Err(self.err("a field or `}`"));
                }
            }
        }
    }

    /// `name = number [options];` after a field's type.
    fn field_rest(&mut self, ty: Option<String>, fields: &mut Vec<RawField>) -> Result<(), String> {
        let name = self.word("a field name")?;
        self.sym('=')?;
        let number = self.word("a field number")?;
        let number = number
            .parse::<u32>()
            .ok()
            .or_else(|| u32::from_str_radix(number.strip_prefix("0x")?, 16).ok())
            .ok_or_else(|| self.err("a field number"))?;
        if self.peek_is('[') {
            self.skip_statement()?;
        } else {
            self.sym(';')?;
        }
        fields.push(RawField { name, number, ty });
        Ok(())
    }

    fn service(&mut self) -> Result<(), String> {
        let word = self.word("a service name")?;
        let name = qualify(&self.package, &word);
        self.sym('{')?;
        let mut rpcs = Vec::new();
        loop {
            match self.next() {
                None => return Err(self.err("`}`")),
                Some(Tok::Sym('}')) => break,
                Some(Tok::Sym(';')) => {}
                Some(Tok::Word(w)) if w == "rpc" => {
                    let method = self.word("an rpc name")?;
                    let input = self.rpc_type()?;
                    if self.word("`returns`")? != "returns" {
                        self.at -= 1;
                        return Err(self.err("`returns`"));
                    }
                    let output = self.rpc_type()?;
                    if self.peek_is('{') {
                        self.skip_statement()?;
                    } else {
                        self.sym(';')?;
                    }
                    rpcs.push(RawRpc {
                        method,
                        input,
                        output,
                    });
                }
                Some(Tok::Word(_)) => self.skip_statement()?,
                Some(_) => {
                    self.at -= 1;
                    return Err(self.err("`rpc` or `}`"));
                }
            }
        }
        self.services.push((name, rpcs));
        Ok(())
    }

    /// `( [stream] Type )`.
    fn rpc_type(&mut self) -> Result<(bool, String), String> {
        self.sym('(')?;
        let mut ty = self.word("a message type")?;
        let stream = ty == "stream" && !self.peek_is(')');
        if stream {
            ty = self.word("a message type")?;
        }
        self.sym(')')?;
        Ok((stream, ty))
    }
}

/// Read one `.proto` file. Errors name the line.
pub fn parse(text: &str) -> Result<GrpcSchema, String> {
    let mut p = Parser {
        toks: tokens(text)?,
        at: 0,
        package: String::new(),
        enums: BTreeSet::new(),
        messages: Vec::new(),
        services: Vec::new(),
    };
    p.file()?;
    let known: BTreeSet<&str> = p.messages.iter().map(|(n, _)| n.as_str()).collect();
    // protoc's lookup: the innermost enclosing scope first, then outwards.
    let resolve = |scope: &str, name: &str| -> (FieldType, Option<String>) {
        if let Some(abs) = name.strip_prefix('.') {
            let ty = if p.enums.contains(abs) {
                (FieldType::Integer, None)
            } else {
                (FieldType::Object, Some(abs.to_string()))
            };
            return ty;
        }
        let mut s = scope;
        loop {
            let candidate = qualify(s, name);
            if p.enums.contains(&candidate) {
                return (FieldType::Integer, None);
            }
            if known.contains(candidate.as_str()) {
                return (FieldType::Object, Some(candidate));
            }
            if s.is_empty() {
                return (FieldType::Object, Some(name.to_string()));
            }
            s = s.rsplit_once('.').map_or("", |(head, _)| head);
        }
    };
    let mut out = GrpcSchema::default();
    for (name, raw) in &p.messages {
        let fields = raw
            .iter()
            .map(|f| {
                let (ty, message) = match &f.ty {
                    None => (FieldType::Object, None),
                    Some(t) => match scalar_type(t) {
                        Some(ty) => (ty, None),
                        None => resolve(name, t),
                    },
                };
                (
                    f.number,
                    FieldDecl {
                        name: f.name.clone(),
                        ty,
                        message,
                    },
                )
            })
            .collect();
        out.add_message(name.clone(), fields);
    }
    for (service, rpcs) in &p.services {
        let methods: BTreeMap<String, MethodDecl> = rpcs
            .iter()
            .map(|r| {
                let ty = |t: &str| resolve(&p.package, t).1.unwrap_or_else(|| t.to_string());
                (
                    r.method.clone(),
                    MethodDecl {
                        input: ty(&r.input.1),
                        output: ty(&r.output.1),
                        client_streaming: r.input.0,
                        server_streaming: r.output.0,
                    },
                )
            })
            .collect();
        out.add_service(service.clone(), methods);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BANK: &str = include_str!("../../../fixtures/http2/bank.proto");

    #[test]
    fn the_fixture_proto() {
        let s = parse(BANK).expect("bank.proto");
        let svc = &s.services["demo.bank.Accounts"];
        let kinds: Vec<String> = svc
            .iter()
            .map(|(m, d)| format!("{m} {} {} {}", d.input, d.output, d.streaming().as_str()))
            .collect();
        assert_eq!(
            kinds,
            [
                "Exchange demo.bank.Payment demo.bank.Summary bidi",
                "GetAccount demo.bank.AccountRequest demo.bank.Account unary",
                "ListTransactions demo.bank.AccountRequest demo.bank.Transaction server_streaming",
                "UploadPayments demo.bank.Payment demo.bank.Summary client_streaming",
            ]
        );
        let account = &s.messages["demo.bank.Account"];
        assert_eq!(account[&2].name, "iban");
        assert_eq!(account[&4].ty, FieldType::Integer);
    }

    #[test]
    fn nesting_oneof_map_enums_options_and_comments() {
        let text = r#"
            syntax = "proto3"; // a comment
            package p.q;
            import "google/protobuf/timestamp.proto";
            option java_package = "x";
            /* a block
               comment */
            message Outer {
              enum Kind { A = 0; B = 1; }
              message Inner { string name = 1 [deprecated = true]; }
              Inner inner = 1;
              Kind kind = 2;
              map<string, Inner> by_id = 3;
              oneof pick { string a = 4; int64 b = 5; }
              repeated .p.q.Outer children = 6;
              google.protobuf.Timestamp at = 7;
              reserved 8, 9 to 11;
            }
            service S {
              option deprecated = true;
              rpc M (Outer) returns (stream Outer.Inner) { option idempotency_level = NO_SIDE_EFFECTS; }
            }
        "#;
        let s = parse(text).expect("parses");
        let outer = &s.messages["p.q.Outer"];
        let f = |n: u32| {
            let d = &outer[&n];
            format!("{} {:?} {:?}", d.name, d.ty, d.message)
        };
        assert_eq!(f(1), "inner Object Some(\"p.q.Outer.Inner\")");
        assert_eq!(f(2), "kind Integer None");
        assert_eq!(f(3), "by_id Object None");
        assert_eq!(f(4), "a String None");
        assert_eq!(f(5), "b Integer None");
        assert_eq!(f(6), "children Object Some(\"p.q.Outer\")");
        assert_eq!(f(7), "at Object Some(\"google.protobuf.Timestamp\")");
        let m = &s.services["p.q.S"]["M"];
        assert_eq!(m.output, "p.q.Outer.Inner");
        assert!(m.server_streaming && !m.client_streaming);
    }

    #[test]
    fn broken_sources_fail_with_a_line_and_never_panic() {
        assert_eq!(
            parse("package a;\nmessage M {\n string = 1;\n}").err(),
            Some("line 3: expected a field name".to_string())
        );
        assert!(parse("message M {").is_err());
        assert!(parse("/* open").is_err());
        assert!(parse("\"open").is_err());
        let deep = "message M {".repeat(100);
        assert!(parse(&deep).is_err());
        // Every prefix of a real file, and one changed byte at every offset.
        for cut in 0..BANK.len() {
            if BANK.is_char_boundary(cut) {
                let _ = parse(&BANK[..cut]);
            }
        }
        let bytes = BANK.as_bytes();
        for at in 0..bytes.len() {
            for b in [b'{', b'}', b';', b'(', b'=', b'"', b'x'] {
                let mut v = bytes.to_vec();
                v[at] = b;
                if let Ok(text) = std::str::from_utf8(&v) {
                    let _ = parse(text);
                }
            }
        }
    }
}
