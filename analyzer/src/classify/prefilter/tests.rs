//! The body prefilter: recall on every eval positive of a context-free class, quiet on ordinary
//! banking JSON, the same answer whatever the piece sizes, the seam cleared at finish.

use super::*;
use proptest::prelude::*;

#[path = "../../../benches/support/mix.rs"]
mod mix;

fn scan(c: &Classifier, body: &[u8], piece: usize) -> ClassSet {
    let mut s = BodyScan::new();
    for p in body.chunks(piece.max(1)) {
        s.push(c, p);
    }
    s.finish(c)
}

fn names(c: &Classifier, set: ClassSet) -> Vec<&str> {
    set.iter().map(|id| c.class_name(id)).collect()
}

struct Case {
    value: String,
    expect: Vec<String>,
}

fn eval_cases() -> Vec<Case> {
    include_str!("../../../../fixtures/classify/eval.jsonl")
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| {
            Some(Case {
                value: v.get("value")?.as_str()?.to_string(),
                expect: v
                    .get("expect")?
                    .as_array()?
                    .iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect(),
            })
        })
        .collect()
}

/// The bodies a value is tried in: alone, in a demo-like transaction, and (digits) as a number.
fn bodies(value: &str) -> Vec<Vec<u8>> {
    let s = serde_json::Value::String(value.to_string()).to_string();
    let around = mix::transactions_body(600, false, 3);
    let mut out = vec![
        format!("{{\"note\":{s}}}").into_bytes(),
        format!("[{s}]").into_bytes(),
        format!(
            "{{\"Data\":{},\"Risk\":{{\"Ref\":{s},\"Code\":\"X\"}},\"More\":{}}}",
            around, around
        )
        .into_bytes(),
    ];
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) && !value.starts_with('0') {
        out.push(format!("{{\"n\":{value},\"m\":1}}").into_bytes());
    }
    out
}

#[test]
fn every_context_free_eval_positive_lights_its_class() {
    let c = Classifier::builtin();
    let understood = c.prefilter_classes();
    let want_understood = [
        "pan",
        "iban",
        "uk_sort_code_account",
        "email",
        "phone",
        "us_ssn",
        "uk_nino",
        "jwt",
        "api_key",
        "private_key",
    ];
    assert_eq!(names(&c, understood), want_understood);
    let mut checked = 0;
    for case in eval_cases() {
        // What the classifier finds in the value with no field name: the context-free part.
        let free = c
            .classes_in(case.value.as_bytes(), PlaceKind::Body, &FieldHints::NONE)
            .intersection(understood);
        for class in free.iter() {
            assert!(
                case.expect.iter().any(|e| e == c.class_name(class)),
                "{}: the classifier itself finds it",
                c.class_name(class)
            );
        }
        if free.is_empty() {
            continue;
        }
        for body in bodies(&case.value) {
            // Every alignment of the 40-byte cadence and of 8-byte words, and common sizes.
            let sizes = (1..=41).chain([61, 64, 97, 1460, body.len()]);
            for piece in sizes {
                let lit = scan(&c, &body, piece);
                let missed = free.difference(lit);
                assert!(
                    missed.is_empty(),
                    "missed {:?} in a body of {} bytes fed in pieces of {piece} ({} chars)",
                    names(&c, missed),
                    body.len(),
                    case.value.len()
                );
            }
            checked += 1;
        }
    }
    assert!(checked > 200, "{checked}");
}

#[test]
fn eval_negatives_stay_dark_in_json() {
    let c = Classifier::builtin();
    let understood = c.prefilter_classes();
    let mut lit_any = Vec::new();
    for case in eval_cases() {
        let expect: ClassSet =
            case.expect
                .iter()
                .filter_map(|e| c.class_id(e))
                .fold(ClassSet::EMPTY, |mut s, id| {
                    s.insert(id);
                    s
                });
        let body = format!(
            "{{\"v\":{}}}",
            serde_json::Value::String(case.value.clone())
        );
        let lit = scan(&c, body.as_bytes(), body.len());
        // Only classes the value really carries (by its own rules, or as a hinted class
        // whose token is also context-free) may light.
        let extra = lit.difference(expect).intersection(understood);
        if !extra.is_empty() {
            lit_any.push(format!(
                "{:?} ({} chars)",
                names(&c, extra),
                case.value.len()
            ));
        }
    }
    assert!(lit_any.is_empty(), "{lit_any:#?}");
}

#[test]
fn quiet_on_banking_json_without_sensitive_data() {
    let c = Classifier::builtin();
    for seed in 1..20 {
        let body = mix::transactions_body(20_000, false, seed);
        assert!(
            scan(&c, body.as_bytes(), body.len()).is_empty(),
            "seed {seed}"
        );
        assert!(scan(&c, body.as_bytes(), 1000).is_empty(), "seed {seed}");
    }
    let ordinary = br#"{"amount":"1234.56","value":98765.4321,"date":"2026-02-03","ts":"2026-02-03T10:11:12+00:00",
        "local":"2026-02-03 10:11:12","utc":"2026-02-03T10:11:12.123Z","epochMs":1769904000000,"epoch":1769904000,
        "accountNumber":"12345678","sortCode":"20-00-00","sort":"200000","customerId":482913,
        "id":"3fa85f64-5717-4562-b3fc-2c963f66afa6","ref":"NB3A7F09C2D1","cursor":"eyJwYWdlIjoyLCJzaXplIjo1MH0",
        "offset":"+05:30","version":"v3.1","ip":"10.20.1.11","phone":"07700 900123","list":[1,2,3,4,5,6,7,8,9,10],
        "bic":"NWBKGB2L","ccy":"GBP","postcode":"EC2A 4NE","year":2026,"orderNo":"ORD-2024-000123"}"#;
    assert!(
        scan(&c, ordinary, ordinary.len()).is_empty(),
        "{:?}",
        names(&c, scan(&c, ordinary, ordinary.len()))
    );
}

#[test]
fn demo_bodies_light_what_they_carry() {
    let c = Classifier::builtin();
    let accounts = mix::accounts_body(8, 5);
    assert_eq!(names(&c, scan(&c, accounts.as_bytes(), 4096)), ["iban"]);
    let tx = mix::transactions_body(20_000, true, 9);
    assert_eq!(names(&c, scan(&c, tx.as_bytes(), 1500)), ["iban"]);
    let customer = br#"{"customerId":482913,"name":"Alex Example","email":"alex.example913@example.com","phone":"+447700900123","locked":false}"#;
    assert_eq!(names(&c, scan(&c, customer, 50)), ["email", "phone"]);
    let export = br#"{"Data":{"Card":[{"CardNumber":"4111111111111111","ExpiryDate":"03/29","maskedPan":"411111******1111"}]}}"#;
    assert_eq!(names(&c, scan(&c, export, 3)), ["pan"]);
}

#[test]
fn seam_is_cleared_and_pushes_after_finish_are_ignored() {
    let c = Classifier::builtin();
    let mut s = BodyScan::new();
    s.push(&c, b"{\"a\":\"jane@exam");
    s.push(&c, b"ple.com\"}");
    assert!(s.seam[..s.seam_len].iter().any(|&b| b != 0));
    let lit = s.finish(&c);
    assert_eq!(names(&c, lit), ["email"]);
    assert_eq!(s.seam_len, 0);
    assert!(s.seam.iter().all(|&b| b == 0));
    assert!(s.pending.is_empty());
    s.push(&c, b"4111111111111111");
    assert_eq!(s.finish(&c), lit);
    assert_eq!(s.classes(), lit);
}

#[test]
fn custom_classes_light_only_when_understood() {
    let custom = r#"
[[class]]
name = "customer_ref"
severity = "high"
mask = "last4"
patterns = ['^CR-[0-9]{8}$']

[[class]]
name = "ten_digits"
severity = "low"
mask = "last4"
patterns = ['^[0-9]{10}$']
"#;
    let c = match Classifier::with_overrides(&[("custom.toml", custom)]) {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    };
    let understood = names(&c, c.prefilter_classes());
    assert!(understood.contains(&"customer_ref"));
    assert!(!understood.contains(&"ten_digits"));
    let body = br#"{"ref":"CR-12345678","n":"1234567890"}"#;
    assert_eq!(names(&c, scan(&c, body, 5)), ["customer_ref"]);
    assert!(scan(&c, br#"{"ref":"CR-1234567"}"#, 64).is_empty());
}

proptest! {
    /// Piece sizes never change the answer.
    #[test]
    fn pieces_do_not_matter(seed in 0u64..1000, cuts in proptest::collection::vec(1usize..200, 1..40)) {
        let c = Classifier::builtin();
        let mut body = mix::transactions_body(3000, seed % 2 == 0, seed).into_bytes();
        let insert = br#","x":{"e":"jo.doe@example.org","p":"call +44 7700 900123","c":"4111 1111 1111 1111","k":"sk_live_4eC39HqLyjWDarjtT1zdp7dc","t":"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln"}}"#;
        body.truncate(body.len() - 1);
        body.extend_from_slice(insert);
        let whole = scan(&c, &body, body.len());
        let mut s = BodyScan::new();
        let mut at = 0;
        for cut in cuts.iter().cycle() {
            if at >= body.len() {
                break;
            }
            let end = (at + cut).min(body.len());
            s.push(&c, &body[at..end]);
            at = end;
        }
        prop_assert_eq!(s.finish(&c), whole);
        prop_assert_eq!(
            names(&c, whole).into_iter().filter(|n| *n != "iban").collect::<Vec<_>>(),
            vec!["pan", "email", "phone", "jwt", "api_key"]
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(5000))]

    /// The cheap gate never hides a shape the full test finds.
    #[test]
    fn gate_is_sound(
        d in prop_oneof![
            any::<u64>(),
            (any::<u64>(), any::<u64>()).prop_map(|(a, b)| a & b),
            (any::<u64>(), any::<u64>(), any::<u64>()).prop_map(|(a, b, c)| a & (b | c)),
        ],
        since in STEP_AT..=BLOCK,
    ) {
        let band = ((1u64 << since) - 1) << (BAND_TOP - since);
        let full = shape_kinds(d).iter().fold(0, |m, (mask, _)| m | mask) & band;
        prop_assert_eq!(shapes(d, band), full);
    }
}

#[test]
fn digit_bits_match_the_bytes() {
    let word = *b"a1b23c45";
    let x = u64::from_le_bytes(word);
    assert_eq!(digit_bits(x), 0b1101_1010);
    for b in 0..=255u8 {
        let x = u64::from_le_bytes([b, 0, b'9', 0x80, b'0', b'/', b':', b]);
        let want = (0..8).fold(0u64, |m, i| {
            m | (u64::from(x.to_le_bytes()[i].is_ascii_digit()) << i)
        });
        assert_eq!(digit_bits(x), want, "{b}");
    }
}

#[test]
fn the_32_byte_digit_mask_matches_the_bytes() {
    for b in 0..=255u8 {
        let mut block = [0u8; 32];
        for (i, slot) in block.iter_mut().enumerate() {
            // Every byte value at every position, among digits, bounds and high bytes.
            *slot = [
                b,
                b'0',
                b'9',
                b'/',
                b':',
                0x80,
                0xff,
                b.wrapping_add(i as u8),
            ][i % 8];
        }
        let want = block
            .iter()
            .enumerate()
            .fold(0u64, |m, (i, c)| m | (u64::from(c.is_ascii_digit()) << i));
        assert_eq!(digit_mask32(&block), want, "{b}");
    }
}
