use super::*;

#[derive(Default)]
struct Seen(Vec<String>, Vec<String>);

impl Visitor for Seen {
    fn field(&mut self, f: &Field<'_>) {
        let shape = format!("{}:{:?}", f.text, f.ty);
        if !self.0.contains(&shape) {
            self.0.push(shape);
        }
        if let Some(s) = f.scalar {
            self.1.push(String::from_utf8_lossy(s).into_owned());
        }
    }
}

fn key(number: u32, wire: u8) -> Vec<u8> {
    let mut v = Vec::new();
    put_varint(&mut v, u64::from(number) << 3 | u64::from(wire));
    v
}

fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn string(number: u32, s: &[u8]) -> Vec<u8> {
    let mut v = key(number, 2);
    put_varint(&mut v, s.len() as u64);
    v.extend_from_slice(s);
    v
}

fn int(number: u32, n: u64) -> Vec<u8> {
    let mut v = key(number, 0);
    put_varint(&mut v, n);
    v
}

/// demo.bank.Account as grpcio sends it (bank.proto in fixtures/http2).
fn account() -> Vec<u8> {
    [
        string(1, b"acc-1"),
        string(2, b"GB82WEST12345698765432"),
        string(3, b"Ada"),
        int(4, 1234),
    ]
    .concat()
}

fn walk(bytes: &[u8]) -> (Result<(), ProtoError>, Seen) {
    let mut seen = Seen::default();
    let mut paths = Paths::default();
    let r = walk_protobuf::<NoSchema>(bytes, &mut paths, &WalkLimits::default(), None, &mut seen);
    (r, seen)
}

#[test]
fn flat_message_by_field_number() {
    let (r, seen) = walk(&account());
    assert_eq!(r, Ok(()));
    assert_eq!(seen.0, ["1:String", "2:String", "3:String", "4:Integer"]);
    assert_eq!(seen.1, ["acc-1", "GB82WEST12345698765432", "Ada"]);
}

#[test]
fn nested_messages_fixed_and_bytes() {
    let inner = [string(1, b"x"), int(2, 5)].concat();
    let mut fixed = key(4, 1);
    fixed.extend_from_slice(&7u64.to_le_bytes());
    let mut fixed32 = key(5, 5);
    fixed32.extend_from_slice(&1f32.to_le_bytes());
    let msg = [
        string(1, &inner),
        string(2, b"text"),
        string(3, b"\xff\xfe\x00"),
        fixed,
        fixed32,
        string(6, &account()),
    ]
    .concat();
    let (r, seen) = walk(&msg);
    assert_eq!(r, Ok(()));
    assert_eq!(
        seen.0,
        [
            "1:Object",
            "1.1:String",
            "1.2:Integer",
            "2:String",
            "3:String",
            "4:Number",
            "5:Number",
            "6:Object",
            "6.1:String",
            "6.2:String",
            "6.3:String",
            "6.4:Integer"
        ]
    );
    // Bytes that are not UTF-8 are no value to classify; text that parses as a message stays
    // text ("text" is not a message; "\n\x01x" would be, but is not text).
    assert_eq!(
        seen.1,
        ["x", "text", "acc-1", "GB82WEST12345698765432", "Ada"]
    );
}

struct Bank;

impl Schema for Bank {
    fn field(&self, message: &str, number: u32) -> Option<SchemaField<'_>> {
        let (name, ty) = match (message, number) {
            ("demo.bank.Account", 1) => ("account_id", FieldType::String),
            ("demo.bank.Account", 2) => ("iban", FieldType::String),
            ("demo.bank.Account", 4) => ("balance_cents", FieldType::Integer),
            _ => return None,
        };
        Some(SchemaField {
            name,
            ty,
            message: None,
        })
    }
}

#[test]
fn a_schema_names_declared_fields_and_leaves_others_numbered() {
    let mut seen = Seen::default();
    let mut paths = Paths::default();
    let r = walk_protobuf(
        &account(),
        &mut paths,
        &WalkLimits::default(),
        Some((&Bank, "demo.bank.Account")),
        &mut seen,
    );
    assert_eq!(r, Ok(()));
    assert_eq!(
        seen.0,
        [
            "account_id:String",
            "iban:String",
            "3:String",
            "balance_cents:Integer"
        ]
    );
}

#[test]
fn garbage_is_an_error_naming_the_offset() {
    assert_eq!(walk(b"\x00\x01").0, Err(ProtoError::FieldNumber(0)));
    assert_eq!(walk(b"\x08\x01\x0b").0, Err(ProtoError::WireType(2, 3)));
    assert_eq!(walk(b"\x0a\x05ab").0, Err(ProtoError::Length(0)));
    assert_eq!(walk(&[0xff; 11]).0, Err(ProtoError::Varint(0)));
    // A length near u64::MAX does not overflow.
    let mut huge = key(1, 2);
    put_varint(&mut huge, u64::MAX);
    assert_eq!(walk(&huge).0, Err(ProtoError::Length(0)));
    assert_eq!(walk(b"").0, Ok(()));
}

#[test]
fn deep_nesting_is_followed_only_to_the_limit() {
    let mut msg = string(1, b"bottom");
    for _ in 0..200 {
        msg = string(1, &msg);
    }
    let (r, seen) = walk(&msg);
    assert_eq!(r, Ok(()));
    assert_eq!(seen.0.len(), WalkLimits::default().max_depth);
    assert!(seen.1.is_empty());
}

#[test]
fn many_fields_are_capped() {
    let msg: Vec<u8> = (1..5000).flat_map(|n| int(n, 1)).collect();
    let (r, seen) = walk(&msg);
    assert_eq!(r, Ok(()));
    assert_eq!(seen.0.len(), WalkLimits::default().max_fields);
}

/// Every truncation, and one flipped byte at every offset (each bit value), of a message with
/// nesting: the walk ends (Ok or an error), never panics, and reports nothing but numbered
/// paths.
#[test]
fn hostile_truncations_and_flips_never_panic() {
    let inner = [string(1, b"x"), int(2, 300), string(3, &account())].concat();
    let msg = [
        string(1, &inner),
        string(2, b"GB82WEST12345698765432"),
        int(9, 1),
    ]
    .concat();
    let check = |bytes: &[u8]| {
        let (r, seen) = walk(bytes);
        if r.is_ok() {
            for shape in &seen.0 {
                let path = shape.split(':').next().unwrap_or_default();
                assert!(path.split('.').all(|n| n.parse::<u32>().is_ok()), "{shape}");
            }
        }
    };
    for cut in 0..=msg.len() {
        check(&msg[..cut]);
    }
    for at in 0..msg.len() {
        for flip in [0x01u8, 0x80, 0xff, 0x07, 0x40] {
            let mut m = msg.clone();
            m[at] ^= flip;
            check(&m);
        }
    }
    // Pseudo-random bytes (a fixed LCG: reproducible).
    let mut x = 0x2545_f491_4f6c_dd1du64;
    for len in 0..2000usize {
        let bytes: Vec<u8> = (0..len % 97)
            .map(|_| {
                x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                (x >> 56) as u8
            })
            .collect();
        check(&bytes);
    }
}
