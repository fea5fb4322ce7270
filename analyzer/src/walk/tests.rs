//! The streaming walk against the serde-based walk it replaces (kept here as the oracle), on
//! random documents, plus the limits, truncation and escapes.

use super::*;
use proptest::prelude::*;
use std::collections::BTreeSet;

/// What a walk saw: shapes, and the (name, text) of every classified scalar.
#[derive(Debug, Default, PartialEq)]
struct Seen {
    shapes: BTreeSet<(String, FieldType)>,
    scalars: Vec<(String, String)>,
}

/// The serde-based walk of `observe.rs` before the rework (`JsonWalk`), with the classifier
/// call replaced by recording what it would have classified.
mod oracle {
    use super::*;

    pub fn walk(body: &[u8], limits: &WalkLimits) -> Option<Seen> {
        let value = serde_json::from_slice::<serde_json::Value>(body).ok()?;
        let mut seen = Seen::default();
        visit(&value, &mut String::new(), None, 0, limits, &mut seen);
        Some(seen)
    }

    fn visit(
        value: &serde_json::Value,
        path: &mut String,
        name: Option<&str>,
        depth: usize,
        limits: &WalkLimits,
        seen: &mut Seen,
    ) {
        use serde_json::Value;
        if depth > limits.max_depth || seen.shapes.len() >= limits.max_fields {
            return;
        }
        let ty = match value {
            Value::Null => FieldType::Null,
            Value::Bool(_) => FieldType::Boolean,
            Value::Number(n) if n.is_i64() || n.is_u64() => FieldType::Integer,
            Value::Number(_) => FieldType::Number,
            Value::String(_) => FieldType::String,
            Value::Array(_) => FieldType::Array,
            Value::Object(_) => FieldType::Object,
        };
        if !path.is_empty() {
            seen.shapes.insert((path.clone(), ty));
        }
        let field = name.unwrap_or("").to_string();
        match value {
            Value::String(s) => seen.scalars.push((field, s.clone())),
            Value::Number(n) => seen.scalars.push((field, n.to_string())),
            Value::Array(items) => {
                let len = path.len();
                path.push_str("[]");
                for item in items {
                    if seen.shapes.len() >= limits.max_fields {
                        break;
                    }
                    visit(item, path, name, depth + 1, limits, seen);
                }
                path.truncate(len);
            }
            Value::Object(map) => {
                for (key, item) in map {
                    let len = path.len();
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(key);
                    visit(item, path, Some(key), depth + 1, limits, seen);
                    path.truncate(len);
                }
            }
            Value::Null | Value::Bool(_) => {}
        }
    }
}

/// Collects what the streaming walk reports, numbers canonicalised the way serde's walk
/// printed them (only floats differ: serde re-formatted them).
#[derive(Default)]
struct Collect {
    seen: Seen,
    fields: Vec<(PathId, String)>,
}

fn canonical(ty: FieldType, scalar: &[u8]) -> String {
    let text = String::from_utf8_lossy(scalar).into_owned();
    match ty {
        FieldType::Number => serde_json::from_slice::<serde_json::Number>(scalar)
            .map(|n| n.to_string())
            .unwrap_or(text),
        _ => text,
    }
}

impl Visitor for Collect {
    fn field(&mut self, f: &Field<'_>) {
        self.seen.shapes.insert((f.text.to_string(), f.ty));
        self.fields.push((f.path, f.text.to_string()));
        if let Some(s) = f.scalar {
            self.seen
                .scalars
                .push((f.name.to_string(), canonical(f.ty, s)));
        }
    }

    fn root_scalar(&mut self, ty: FieldType, scalar: &[u8]) {
        self.seen
            .scalars
            .push((String::new(), canonical(ty, scalar)));
    }
}

fn walk(body: &[u8], limits: &WalkLimits) -> Result<Seen, WalkError> {
    let mut paths = Paths::default();
    let mut c = Collect::default();
    walk_json(body, &mut paths, limits, &mut c)?;
    for (id, text) in &c.fields {
        assert_eq!(paths.text(*id), text);
    }
    Ok(c.seen)
}

fn sorted(mut s: Seen) -> Seen {
    s.scalars.sort();
    s
}

const BIG: WalkLimits = WalkLimits {
    max_depth: 1000,
    max_fields: 1 << 20,
};

/// A JSON printer that picks, per character, how to write it: raw, `\u` escaped (surrogate
/// pairs beyond the BMP, upper or lower hex), `\/`; and numbers in several spellings.
fn print(v: &serde_json::Value, style: &mut impl Iterator<Item = u8>, out: &mut String) {
    use serde_json::Value;
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            let s = style.next().unwrap_or(0);
            match (n.as_u64(), n.as_i64(), n.as_f64()) {
                (Some(u), _, _) if s.is_multiple_of(5) && u < 1 << 52 => {
                    // Same value, float spelling: a Number, no longer an Integer.
                    out.push_str(&format!("{u}.0"));
                }
                (_, _, Some(f)) if s % 5 == 1 && n.as_u64().is_none() && n.as_i64().is_none() => {
                    out.push_str(&format!("{f:e}"));
                }
                _ => out.push_str(&n.to_string()),
            }
        }
        Value::String(s) => print_str(s, style, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                if style.next().unwrap_or(0).is_multiple_of(7) {
                    out.push_str(" \n\t");
                }
                print(item, style, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                print_str(k, style, out);
                out.push_str(if style.next().unwrap_or(0).is_multiple_of(3) {
                    " : "
                } else {
                    ":"
                });
                print(item, style, out);
            }
            out.push('}');
        }
    }
}

fn print_str(s: &str, style: &mut impl Iterator<Item = u8>, out: &mut String) {
    out.push('"');
    for ch in s.chars() {
        let st = style.next().unwrap_or(0);
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '/' if st.is_multiple_of(2) => out.push_str("\\/"),
            '\n' if st.is_multiple_of(2) => out.push_str("\\n"),
            c if (c as u32) < 0x20
                || st.is_multiple_of(4) && !c.is_ascii_alphanumeric()
                || st.is_multiple_of(9) =>
            {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    if st.is_multiple_of(3) {
                        out.push_str(&format!("\\u{u:04X}"));
                    } else {
                        out.push_str(&format!("\\u{u:04x}"));
                    }
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let text = prop_oneof![
        "[a-z]{0,6}",
        "[ -~]{0,12}",
        "(4111 1111 1111 1111|GB82WEST12345698765432|jane@example.com|\\+44 7700 900123)",
        ".{0,8}",
        "[\"\\\\/\\x00-\\x1f]{0,4}",
        "(é|日本|😀|\u{2028}|\u{feff})",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-1e6f64..1e6).prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        text.clone().prop_map(Value::String),
    ];
    let key = prop_oneof![
        "[a-zA-Z_]{1,6}",
        Just(String::new()),
        "[a-z.\\[\\]\"\\\\ é]{1,5}",
    ];
    leaf.prop_recursive(6, 64, 6, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map(key.clone(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1500))]

    /// Same shapes, same classified scalars, same verdict, on documents written every way.
    #[test]
    fn walk_matches_the_serde_walk(v in json_value(), style in proptest::collection::vec(any::<u8>(), 64)) {
        let mut body = String::new();
        let mut st = style.iter().copied().cycle();
        print(&v, &mut st, &mut body);
        let old = oracle::walk(body.as_bytes(), &BIG).map(sorted);
        let new = walk(body.as_bytes(), &BIG).ok().map(sorted);
        prop_assert!(old.is_some(), "serde rejects {body}");
        prop_assert_eq!(new, old, "{}", body);
    }

    /// Within the caps, the streaming walk records what the serde walk did; at the caps it
    /// records as many shapes (a different subset may be cut: document vs sorted-key order).
    #[test]
    fn caps_agree(v in json_value(), depth in 0usize..5, fields in 0usize..12) {
        let body = serde_json::to_vec(&v).unwrap_or_default();
        let limits = WalkLimits { max_depth: depth, max_fields: fields };
        let old = oracle::walk(&body, &limits).map(sorted);
        let new = walk(&body, &limits).ok().map(sorted);
        let (Some(old), Some(new)) = (old, new) else {
            return Err(TestCaseError::fail("both walks must accept a serde document"));
        };
        prop_assert!(new.shapes.len() <= fields);
        if old.shapes.len() < fields {
            prop_assert_eq!(new, old);
        } else {
            prop_assert_eq!(new.shapes.len(), old.shapes.len());
        }
    }

    /// A truncated document is rejected, like serde rejects it, whatever the cut.
    #[test]
    fn truncation_is_an_error(v in json_value(), cut in any::<prop::sample::Index>()) {
        let body = serde_json::to_vec(&serde_json::json!({"v": v})).unwrap_or_default();
        let at = cut.index(body.len());
        let prefix = &body[..at];
        prop_assert!(walk(prefix, &BIG).is_err());
        prop_assert!(serde_json::from_slice::<serde_json::Value>(prefix).is_err());
    }

    /// Arbitrary bytes: the walk accepts exactly what serde_json accepts.
    #[test]
    fn same_verdict_on_noise(body in proptest::collection::vec(
        prop_oneof![
            Just(b'{'), Just(b'}'), Just(b'['), Just(b']'), Just(b'"'), Just(b':'),
            Just(b','), Just(b'\\'), Just(b'u'), Just(b'1'), Just(b'-'), Just(b'.'),
            Just(b'e'), Just(b'0'), Just(b' '), Just(b'a'), Just(0xc3), Just(0xa9), Just(0x01),
        ], 0..24)) {
        let ok = serde_json::from_slice::<serde_json::Value>(&body).is_ok();
        prop_assert_eq!(walk(&body, &BIG).is_ok(), ok, "{:?}", String::from_utf8_lossy(&body));
    }
}

#[test]
fn paths_types_and_names_as_today() {
    let body = br#"{"amount":{"value":12.5,"currency":"GBP"},"items":[{"id":1},{"id":2,"note":null}],"ok":true,"tags":[["a"]]}"#;
    let mut paths = Paths::default();
    let mut c = Collect::default();
    assert_eq!(walk_json(body, &mut paths, &BIG, &mut c), Ok(()));
    let got: Vec<String> = c
        .seen
        .shapes
        .iter()
        .map(|(p, t)| format!("{p}:{t:?}"))
        .collect();
    assert_eq!(
        got,
        vec![
            "amount:Object",
            "amount.currency:String",
            "amount.value:Number",
            "items:Array",
            "items[]:Object",
            "items[].id:Integer",
            "items[].note:Null",
            "ok:Boolean",
            "tags:Array",
            "tags[]:Array",
            "tags[][]:String",
        ]
    );
    // Array elements inherit their array's key as the name.
    assert!(c
        .seen
        .scalars
        .contains(&("tags".to_string(), "a".to_string())));
    assert!(c
        .seen
        .scalars
        .contains(&("id".to_string(), "2".to_string())));
    let id = c.fields.iter().find(|(_, t)| t == "tags[][]").map(|f| f.0);
    assert_eq!(id.map(|id| paths.name(id)), Some("tags"));
    assert_eq!(
        id.and_then(|id| paths.parent(id)).map(|p| paths.text(p)),
        Some("tags[]")
    );
    // A root array's elements are `[]`; root scalars are classified with no name.
    let seen = walk(br#"[{"ok":true}]"#, &BIG).ok();
    assert!(seen.is_some_and(|s| s.shapes.contains(&("[]".into(), FieldType::Object))));
    let seen = walk(br#" "4111 1111 1111 1111" "#, &BIG).ok();
    assert_eq!(
        seen.map(|s| s.scalars),
        Some(vec![(String::new(), "4111 1111 1111 1111".to_string())])
    );
}

#[test]
fn ids_are_stable_across_walks_and_bounded() {
    let mut paths = Paths::new(PathLimits {
        max_paths: 4,
        max_bytes: 1 << 10,
    });
    let mut c = Collect::default();
    let body = br#"{"a":1,"b":{"c":2,"d":3}}"#;
    assert_eq!(walk_json(body, &mut paths, &BIG, &mut c), Ok(()));
    // root + a + b + b.c fit; b.d does not.
    assert_eq!(paths.len(), 4);
    assert_eq!(paths.overflow(), 1);
    let first: Vec<(PathId, String)> = c.fields.clone();
    let mut again = Collect::default();
    assert_eq!(walk_json(body, &mut paths, &BIG, &mut again), Ok(()));
    assert_eq!(again.fields, first);
    assert!(first.iter().all(|(_, t)| t != "b.d"));
}

#[test]
fn no_value_outlives_a_walk_or_a_decode() {
    let mut paths = Paths::default();
    let mut c = Collect::default();
    let body = br#"{"secret":"line\nbreak 4111 1111 1111 1111"}"#;
    assert_eq!(walk_json(body, &mut paths, &BIG, &mut c), Ok(()));
    assert_eq!(
        c.seen.scalars,
        vec![(
            "secret".to_string(),
            "line\nbreak 4111 1111 1111 1111".to_string()
        )]
    );
    assert!(paths.str_buf.is_empty());
    let mut d = Decoder::new();
    assert_eq!(d.decode(b"card=4111+1111%20x"), "card=4111 1111 x");
    assert!(!d.bytes.is_empty());
    d.clear();
    assert!(d.bytes.is_empty() && d.text.is_empty());
}

#[test]
fn escapes_in_keys_and_values() {
    let body = br#"{"a\"b":{"c\\d":"x\ty"},"\u00e9t\u00C9":"\ud83d\ude00","k\/l":"caf\u00e9"}"#;
    let seen = walk(body, &BIG).ok();
    let Some(seen) = seen else { panic!("rejected") };
    let shapes: Vec<&str> = seen.shapes.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(shapes, vec!["a\"b", "a\"b.c\\d", "k/l", "étÉ"]);
    assert!(seen
        .scalars
        .contains(&("c\\d".to_string(), "x\ty".to_string())));
    assert!(seen
        .scalars
        .contains(&("étÉ".to_string(), "😀".to_string())));
    assert!(seen
        .scalars
        .contains(&("k/l".to_string(), "café".to_string())));
    // Lone or reversed surrogates, bad escapes, raw control characters, invalid UTF-8.
    for bad in [
        &br#"{"a":"\ud83d"}"#[..],
        br#"{"a":"\ude00\ud83d"}"#,
        br#"{"a":"\ud83d\u0041"}"#,
        br#"{"a":"\x"}"#,
        b"{\"a\":\"\x01\"}",
        b"{\"a\":\"\xff\"}",
        b"{\"\xc3\":1}",
    ] {
        assert!(walk(bad, &BIG).is_err(), "{}", String::from_utf8_lossy(bad));
        assert!(serde_json::from_slice::<serde_json::Value>(bad).is_err());
    }
}

#[test]
fn numbers_integer_exactly_when_serde_says_so() {
    for (n, ty) in [
        ("0", FieldType::Integer),
        ("-0", FieldType::Number),
        ("18446744073709551615", FieldType::Integer),
        ("18446744073709551616", FieldType::Number),
        ("-9223372036854775808", FieldType::Integer),
        ("-9223372036854775809", FieldType::Number),
        ("1.0", FieldType::Number),
        ("1e2", FieldType::Number),
        ("1E+2", FieldType::Number),
        ("1e-400", FieldType::Number),
        ("123456789012345678901234567890", FieldType::Number),
    ] {
        let body = format!("{{\"n\":{n}}}");
        let seen = walk(body.as_bytes(), &BIG).ok();
        assert_eq!(
            seen.map(|s| s.shapes.into_iter().next().map(|x| x.1)),
            Some(Some(ty)),
            "{n}"
        );
        let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        let n = &v["n"];
        assert_eq!(ty == FieldType::Integer, n.is_i64() || n.is_u64(), "{n}");
    }
    for bad in [
        "1e400",
        "-1e400",
        "1e99999999999",
        "01",
        "1.",
        ".5",
        "-",
        "+1",
        "1e",
        "0x1",
    ] {
        let body = format!("{{\"n\":{bad}}}");
        assert!(walk(body.as_bytes(), &BIG).is_err(), "{bad}");
        assert!(
            serde_json::from_str::<serde_json::Value>(&body).is_err(),
            "{bad}"
        );
    }
    let long = format!("{{\"n\":1{}}}", "0".repeat(400));
    assert!(walk(long.as_bytes(), &BIG).is_err());
    assert!(serde_json::from_str::<serde_json::Value>(&long).is_err());
}

#[test]
fn depth_and_field_caps() {
    let body = br#"{"a":{"b":{"c":"deep"}},"x":"top"}"#;
    let limits = WalkLimits {
        max_depth: 2,
        max_fields: 100,
    };
    let seen = walk(body, &limits).ok();
    let Some(seen) = seen else { panic!("rejected") };
    let shapes: Vec<&str> = seen.shapes.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(shapes, vec!["a", "a.b", "x"]);
    assert_eq!(seen.scalars, vec![("x".to_string(), "top".to_string())]);
    // Fields: distinct (path, type) shapes; repeats of a shape do not count.
    let mut many = String::from("{\"list\":[");
    for i in 0..100 {
        many.push_str(&format!("{{\"id\":{i}}},"));
    }
    many.push_str("{\"id\":\"last\"}],");
    for i in 0..5000 {
        many.push_str(&format!("\"f{i}\":{i},"));
    }
    many.push_str("\"end\":0}");
    let limits = WalkLimits {
        max_depth: 24,
        max_fields: 512,
    };
    let seen = walk(many.as_bytes(), &limits).ok();
    assert_eq!(seen.as_ref().map(|s| s.shapes.len()), Some(512));
    assert!(seen.is_some_and(|s| s.shapes.contains(&("list[].id".into(), FieldType::String))));
    // A document over the caps is still validated to its end.
    let broken = format!("{}x", &many[..many.len() - 1]);
    assert!(walk(broken.as_bytes(), &limits).is_err());
}

#[test]
fn nesting_limit_is_serde_json_s() {
    for depth in [126, 127, 128, 200] {
        let body = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        let serde_ok = serde_json::from_str::<serde_json::Value>(&body).is_ok();
        assert_eq!(walk(body.as_bytes(), &BIG).is_ok(), serde_ok, "{depth}");
        assert_eq!(serde_ok, depth <= NESTING_LIMIT);
    }
    // Deep but within the limit: skipped past max_depth, validated, no recursion.
    let body = format!("{}1{}", "[".repeat(127), "]".repeat(127));
    let seen = walk(body.as_bytes(), &WalkLimits::default()).ok();
    assert_eq!(seen.map(|s| s.shapes.len()), Some(24));
}

#[test]
fn trailing_content_and_empty_input_are_errors() {
    for bad in [
        &b""[..],
        b"   ",
        b"{} {}",
        b"{}x",
        b"[1,]",
        b"{\"a\":1,}",
        b"{\"a\" 1}",
        b"[1 2]",
        b"tru",
        b"nul",
    ] {
        assert!(walk(bad, &BIG).is_err(), "{}", String::from_utf8_lossy(bad));
        assert!(serde_json::from_slice::<serde_json::Value>(bad).is_err());
    }
    assert!(walk(b" {} \n", &BIG).is_ok());
}

/// `observe.rs` `parse_pairs` / `decode_component` before the rework: the oracle.
fn old_pairs(text: &str, max: usize) -> Vec<(String, String)> {
    let decode = |s: &str| {
        let plus = s.replace('+', " ");
        percent_encoding::percent_decode_str(&plus)
            .decode_utf8_lossy()
            .into_owned()
    };
    text.split('&')
        .filter(|p| !p.is_empty())
        .take(max)
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .filter(|(k, _)| !k.is_empty())
        .collect()
}

fn new_pairs(text: &str, max: usize) -> Vec<(String, String)> {
    let mut d = Decoder::new();
    pairs(text.as_bytes(), max)
        .map(|p| {
            let name = d.decode(p.name).to_string();
            let value = d.decode(p.value).to_string();
            (name, value)
        })
        .collect()
}

proptest! {
    /// The SWAR scan stops exactly where a byte-by-byte scan does.
    #[test]
    fn plain_prefix_is_exact(s in proptest::collection::vec(prop_oneof![
        Just(b'"'), Just(b'\\'), Just(0x1f), Just(0x20), Just(0x7f), Just(0x80), Just(0xff),
        Just(b'a'), Just(b'0'), 0x21u8..0x7f, any::<u8>(),
    ], 0..40)) {
        let want = s
            .iter()
            .position(|&b| b == b'"' || b == b'\\' || !(0x20..0x80).contains(&b))
            .unwrap_or(s.len());
        prop_assert_eq!(plain_prefix(&s), want);
    }

    #[test]
    fn pairs_match_parse_pairs(text in "([a-z+ %=&é]|%[0-9a-fA-F]{2}|%[fF][fF]|%2[bB]|%C3%A9|%e9){0,24}", max in 0usize..8) {
        prop_assert_eq!(new_pairs(&text, max), old_pairs(&text, max));
    }
}

#[test]
fn pairs_borrow_when_nothing_to_decode() {
    let mut d = Decoder::new();
    let text = b"limit=10&from+date=2024-01-01&=x&q=%41%zz&&flag";
    let got: Vec<(String, String)> = pairs(text, 16)
        .map(|p| (d.decode(p.name).to_string(), d.decode(p.value).to_string()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("limit".to_string(), "10".to_string()),
            ("from date".to_string(), "2024-01-01".to_string()),
            ("q".to_string(), "A%zz".to_string()),
            ("flag".to_string(), String::new()),
        ]
    );
    let raw = b"plain";
    let s = d.decode(raw);
    assert_eq!(s.as_ptr(), raw.as_ptr(), "borrowed, not copied");
    assert_eq!(
        new_pairs("a=%ff", 4),
        vec![("a".to_string(), "\u{fffd}".to_string())]
    );
}
