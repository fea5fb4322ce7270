//! Behaviour of the classifier as a whole: rule loading, places, hints, bounds, overrides and
//! the privacy contract. Per-class accuracy is measured by `eval`.

use super::*;

fn classes(c: &Classifier, value: &str, place: Place<'_>) -> Vec<String> {
    c.classify(value, place)
        .into_iter()
        .map(|d| d.class)
        .collect()
}

const BODY: Place<'static> = Place::BodyField { name: "note" };

#[test]
fn builtin_rules_compile() {
    let c = Classifier::from_sources(BUILTIN_SOURCES);
    assert!(c.is_ok(), "{:?}", c.err().map(|e| e.to_string()));
    let names: Vec<String> = Classifier::builtin()
        .classes()
        .map(str::to_string)
        .collect();
    for want in [
        "pan",
        "iban",
        "email",
        "phone",
        "jwt",
        "bearer_token",
        "api_key",
        "us_ssn",
        "password",
    ] {
        assert!(names.iter().any(|n| n == want), "missing {want}");
    }
}

#[test]
fn severity_is_exposed() {
    let c = Classifier::builtin();
    assert_eq!(c.severity("pan"), Some(Severity::Critical));
    assert_eq!(c.severity("email").map(Severity::as_str), Some("medium"));
    assert_eq!(c.severity("nope"), None);
}

#[test]
fn pan_found_in_text_and_masked() {
    let c = Classifier::builtin();
    let d = c.classify("card 4111 1111 1111 1111 exp 12/29", BODY);
    assert_eq!(
        d,
        vec![Detection {
            class: "pan".into(),
            preview: "**** **** **** 1111".into()
        }]
    );
    assert!(
        classes(&c, "41111111111111111", BODY).is_empty(),
        "17 digits, Luhn fails"
    );
    assert!(classes(&c, "1700000000123", BODY).is_empty(), "timestamp");
}

#[test]
fn phone_needs_plus_or_hint() {
    let c = Classifier::builtin();
    assert_eq!(classes(&c, "+44 7700 900123", BODY), ["phone"]);
    assert!(classes(&c, "4155550123", Place::BodyField { name: "customerId" }).is_empty());
    assert_eq!(
        classes(
            &c,
            "4155550123",
            Place::BodyField {
                name: "mobileNumber"
            }
        ),
        ["phone"]
    );
    assert_eq!(classes(&c, "+447700900123", Place::PathSegment), ["phone"]);
}

#[test]
fn places_restrict_classes() {
    let c = Classifier::builtin();
    // A password field does not exist in a path.
    assert!(classes(&c, "hunter2", Place::PathSegment).is_empty());
    assert_eq!(
        classes(&c, "hunter2", Place::Query { name: "password" }),
        ["password"]
    );
    assert!(
        classes(&c, "true", Place::BodyField { name: "password" }).is_empty(),
        "placeholder"
    );
    assert!(classes(
        &c,
        "2024-01-01",
        Place::BodyField {
            name: "password_changed_at"
        }
    )
    .is_empty());
}

#[test]
fn bearer_jwt_is_reported_once_as_jwt() {
    let c = Classifier::builtin();
    let jwt = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";
    let auth = Place::Header {
        name: "Authorization",
    };
    let d = c.classify(&format!("Bearer {jwt}"), auth);
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0].class, "jwt");
    assert_eq!(d[0].preview, format!("eyJh… ({} chars)", jwt.len()));
    assert_eq!(
        classes(&c, "Bearer 2YotnFZFEjr1zCsicMWpAA", auth),
        ["bearer_token"]
    );
    // Provider key formats are assembled at run time so secret scanners do not flag the source.
    let stripe = concat!("Bearer sk", "_live_", "4eC39HqLyjWDarjtT1zdp7dc");
    assert_eq!(classes(&c, stripe, auth), ["api_key"]);
}

#[test]
fn no_preview_contains_the_raw_value() {
    let c = Classifier::builtin();
    let cases: &[(&str, Place<'_>)] = &[
        ("4111111111111111", BODY),
        ("GB82WEST12345698765432", BODY),
        ("jane.doe@example.com", BODY),
        ("123-45-6789", BODY),
        ("+442079460958", BODY),
        (
            concat!("AKIA", "IOSFODNN7EXAMPLE"),
            Place::Header { name: "x-amz" },
        ),
        (
            "correct horse battery",
            Place::BodyField { name: "password" },
        ),
        (
            "1990-05-17",
            Place::BodyField {
                name: "dateOfBirth",
            },
        ),
        ("AB123456C", BODY),
    ];
    for (value, place) in cases {
        let d = c.classify(value, *place);
        assert!(!d.is_empty(), "{value} not detected");
        for det in d {
            assert!(
                !det.preview.contains(value),
                "{} leaks {value}: {}",
                det.class,
                det.preview
            );
            let shown = det.preview.chars().filter(char::is_ascii_digit).count();
            assert!(
                shown <= 4,
                "{} shows {shown} digits: {}",
                det.class,
                det.preview
            );
        }
    }
}

#[test]
fn work_is_bounded() {
    let c = Classifier::builtin();
    // A card beyond the scan cap is not seen: the cap is real.
    let long = format!("{}4111111111111111", "x ".repeat(MAX_SCAN_BYTES));
    assert!(classes(&c, &long, BODY).is_empty());
    // Many near-miss candidates before a real one: only the first few are validated.
    let many = format!(
        "{} 4111111111111111",
        "4111111111111112 ".repeat(MAX_CANDIDATES_PER_PATTERN)
    );
    assert!(classes(&c, &many, BODY).is_empty());
    let few = format!("{} 4111111111111111", "4111111111111112 ".repeat(3));
    assert_eq!(classes(&c, &few, BODY), ["pan"]);
    // A multi-byte character at the cut is not split.
    let emoji = "é".repeat(MAX_SCAN_BYTES);
    assert!(c.classify(&emoji, BODY).is_empty());
}

#[test]
fn overrides_replace_builtin_classes_by_name() {
    // Replace `email` with a rule that only fires for one domain; add a new class; drop `phone`.
    let custom = r#"
[[class]]
name = "email"
severity = "low"
validator = "email"
mask = "email"
patterns = ['[a-z.]+@bank\.example\b']

[[class]]
name = "customer_ref"
description = "Internal customer reference"
severity = "high"
mask = "last4"
patterns = ['^CR-[0-9]{8}$']

[[class]]
name = "phone"
severity = "low"
mask = "last4"
enabled = false
"#;
    let c = match Classifier::with_overrides(&[("rules.d/custom.toml", custom)]) {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(c.severity("email"), Some(Severity::Low));
    assert!(
        classes(&c, "jane@example.com", BODY).is_empty(),
        "builtin email replaced"
    );
    assert_eq!(classes(&c, "jane@bank.example", BODY), ["email"]);
    assert_eq!(classes(&c, "CR-12345678", BODY), ["customer_ref"]);
    assert!(
        classes(&c, "+44 7700 900123", BODY).is_empty(),
        "phone disabled"
    );
    assert_eq!(
        classes(&c, "4111111111111111", BODY),
        ["pan"],
        "other builtins kept"
    );
}

#[test]
fn duplicate_classes_are_errors_naming_both_files() {
    let a = "[[class]]\nname = \"x\"\nseverity = \"low\"\nmask = \"full\"\npatterns = ['a']\n";
    let e = Classifier::from_sources(&[("a.toml", a), ("b.toml", a)])
        .err()
        .map(|e| e.to_string());
    assert_eq!(
        e.as_deref(),
        Some("b.toml: class \"x\": defined twice (also in a.toml)")
    );
    let e = Classifier::with_overrides(&[(
        "rules/custom.toml",
        "[[class]]\nname = \"pan\"\nseverity = \"high\"\nmask = \"last4\"\npatterns = ['[']\n",
    )])
    .err()
    .map(|e| e.to_string())
    .unwrap_or_default();
    assert!(
        e.starts_with("rules/custom.toml: class \"pan\": pattern 1: invalid regex"),
        "{e}"
    );
}

#[test]
fn from_sources_accepts_owned_strings() {
    let src = vec![(
        "r.toml".to_string(),
        "[[class]]\nname = \"k\"\nseverity = \"low\"\nmask = \"full\"\npatterns = ['^k$']\n"
            .to_string(),
    )];
    let c = Classifier::from_sources(&src)
        .map(|c| classes(&c, "k", BODY))
        .unwrap_or_default();
    assert_eq!(c, ["k"]);
}

/// Today's classifier before the rework, kept as the oracle: one `RegexSet` over every
/// pattern, field names split per value, Unicode `str` regexes.
mod oracle {
    use super::super::rules::{name_words, Hint};
    use super::super::*;
    use regex::RegexSet;

    pub struct Oracle {
        classes: Vec<ClassRule>,
        set: RegexSet,
        patterns: Vec<(usize, usize)>,
    }

    impl Oracle {
        pub fn new(c: &Classifier) -> Oracle {
            let classes = c.classes.clone();
            let mut sources = Vec::new();
            let mut patterns = Vec::new();
            for (ci, class) in classes.iter().enumerate() {
                for (pi, p) in class.patterns.iter().enumerate() {
                    sources.push(p.source.clone());
                    patterns.push((ci, pi));
                }
            }
            let set = match RegexSet::new(&sources) {
                Ok(s) => s,
                Err(e) => panic!("{e}"),
            };
            Oracle {
                classes,
                set,
                patterns,
            }
        }

        fn bit(place: Place<'_>) -> u8 {
            match place {
                Place::Query { .. } => rules::PlaceSet::QUERY,
                Place::Header { .. } => rules::PlaceSet::HEADER,
                Place::BodyField { .. } => rules::PlaceSet::BODY,
                Place::PathSegment => rules::PlaceSet::PATH,
            }
        }

        pub fn classify(&self, value: &str, place: Place<'_>) -> Vec<Detection> {
            let value = clip(value.trim(), MAX_SCAN_BYTES);
            if value.is_empty() {
                return Vec::new();
            }
            let words = std::cell::OnceCell::new();
            let hinted = |hints: &[Hint], at_end: bool| {
                let words = words.get_or_init(|| name_words(place.name()));
                hints.iter().any(|h| h.matches(words, at_end))
            };
            let mut found: Vec<(usize, String, std::ops::Range<usize>)> = Vec::new();
            for idx in self.set.matches(value).iter() {
                let (ci, pi) = self.patterns[idx];
                if found.iter().any(|(c, _, _)| *c == ci) {
                    continue;
                }
                let class = &self.classes[ci];
                if !class.places.contains(Self::bit(place)) {
                    continue;
                }
                let pattern = &class.patterns[pi];
                if pattern.requires_hint
                    && !hinted(
                        pattern.hints.as_deref().unwrap_or(&class.hints),
                        class.hints_at_end,
                    )
                {
                    continue;
                }
                if let Some(range) = first_valid_str(class, pattern, value) {
                    found.push((ci, class.mask.apply(&value[range.clone()]), range));
                    if found.len() >= MAX_DETECTIONS {
                        break;
                    }
                }
            }
            let suppressed = |ci: usize, range: &std::ops::Range<usize>| {
                self.classes[ci].suppressed_by.iter().any(|s| {
                    found.iter().any(|(other, _, r)| {
                        self.classes[*other].name == *s
                            && r.start < range.end
                            && range.start < r.end
                    })
                })
            };
            let mut out: Vec<(usize, Detection)> = found
                .iter()
                .filter(|(ci, _, range)| !suppressed(*ci, range))
                .map(|(ci, preview, _)| {
                    (
                        *ci,
                        Detection {
                            class: self.classes[*ci].name.clone(),
                            preview: preview.clone(),
                        },
                    )
                })
                .collect();
            out.sort_by_key(|(ci, _)| *ci);
            out.into_iter().map(|(_, d)| d).collect()
        }
    }
}

/// Field names the equivalence tests try: every hint spelling style, near misses, none.
const NAMES: &[&str] = &[
    "",
    "note",
    "cardNumber",
    "card_number",
    "pan",
    "iban",
    "routing_number",
    "sort_code",
    "accountNumber",
    "acctNo",
    "email",
    "phoneNumber",
    "mobile",
    "hotel",
    "customerSSN",
    "ni_number",
    "dateOfBirth",
    "password_changed_at",
    "newPassword",
    "client_secret",
    "x-api-key",
    "api_key_id",
    "Authorization",
    "access_token",
    "pin",
    "DebtorAccount",
];

fn places(name: &str) -> [Place<'_>; 4] {
    [
        Place::Query { name },
        Place::Header { name },
        Place::BodyField { name },
        Place::PathSegment,
    ]
}

fn eval_values() -> Vec<String> {
    include_str!("../../../fixtures/classify/eval.jsonl")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v.get("value").and_then(|s| s.as_str()).map(str::to_string))
        .collect()
}

#[test]
fn classify_matches_the_oracle_on_every_eval_value_place_and_name() {
    let c = Classifier::builtin();
    let o = oracle::Oracle::new(&c);
    let values = eval_values();
    assert!(values.len() > 500);
    let mut compared = 0;
    for v in &values {
        for name in NAMES {
            for place in places(name) {
                assert_eq!(
                    c.classify(v, place),
                    o.classify(v, place),
                    "{place:?} ({} chars)",
                    v.len()
                );
                compared += 1;
            }
        }
    }
    assert_eq!(compared, values.len() * NAMES.len() * 4);
}

#[test]
fn classify_into_agrees_with_classify_and_cached_hints() {
    let c = Classifier::builtin();
    let values = eval_values();
    for name in NAMES {
        let hints = c.field_hints(name);
        for place in places(name) {
            let hints = if place == Place::PathSegment {
                FieldHints::NONE
            } else {
                hints.clone()
            };
            for v in &values {
                let mut hits = Vec::new();
                c.classify_into(v.as_bytes(), place.kind(), &hints, &mut hits);
                let as_detections: Vec<Detection> = hits
                    .iter()
                    .map(|h| Detection {
                        class: c.class_name(h.class).to_string(),
                        preview: h.preview.clone(),
                    })
                    .collect();
                assert_eq!(as_detections, c.classify(v, place));
                let set = c.classes_in(v.as_bytes(), place.kind(), &hints);
                assert_eq!(set.len(), hits.len());
                assert!(hits.iter().all(|h| set.contains(h.class)));
            }
        }
    }
}

#[test]
fn class_ids_round_trip_and_hints_are_per_name() {
    let c = Classifier::builtin();
    for (i, name) in c.classes().enumerate() {
        let id = c.class_id(name);
        assert_eq!(id.map(ClassId::index), Some(i));
        assert_eq!(id.map(|id| c.class_name(id)), Some(name));
    }
    assert_eq!(c.class_id("nope"), None);
    assert!(c.field_hints("note").is_empty());
    assert!(c.field_hints("").is_empty());
    assert!(!c.field_hints("x-api-key").is_empty());
    assert_eq!(c.field_hints("apiKey"), c.field_hints("API_KEY"));
    // A hinted pattern fires only with the hints of its name.
    let mut hits = Vec::new();
    c.classify_into(b"hunter2", PlaceKind::Body, &FieldHints::NONE, &mut hits);
    assert!(hits.is_empty());
    c.classify_into(
        b"hunter2",
        PlaceKind::Body,
        &c.field_hints("password"),
        &mut hits,
    );
    assert_eq!(hits.len(), 1);
    assert_eq!(c.class_name(hits[0].class), "password");
    assert_eq!(hits[0].preview, "********");
}

#[test]
fn non_utf8_values_classify_as_their_lossy_text() {
    let c = Classifier::builtin();
    let mut hits = Vec::new();
    let mut v = b"card 4111 1111 1111 1111 \xff\xfe".to_vec();
    c.classify_into(&v, PlaceKind::Body, &FieldHints::NONE, &mut hits);
    assert_eq!(hits.len(), 1);
    assert_eq!(c.class_name(hits[0].class), "pan");
    hits.clear();
    v.truncate(4);
    c.classify_into(&v, PlaceKind::Body, &FieldHints::NONE, &mut hits);
    assert!(hits.is_empty());
}

#[test]
fn custom_classes_need_no_derivable_condition() {
    // A Unicode-only pattern (no ASCII compilation, no condition) and a never-ASCII literal.
    let custom = r#"
[[class]]
name = "greek_ref"
severity = "low"
mask = "full"
patterns = ['\p{Greek}{3}-[0-9]{4}']

[[class]]
name = "cafe"
severity = "low"
mask = "full"
patterns = ['café']
"#;
    let c = match Classifier::with_overrides(&[("custom.toml", custom)]) {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    };
    let o = oracle::Oracle::new(&c);
    for v in [
        "αβγ-1234",
        "abc-1234",
        "un café",
        "un cafe",
        "4111111111111111",
    ] {
        assert_eq!(c.classify(v, BODY), o.classify(v, BODY), "{v}");
    }
    assert_eq!(classes(&c, "αβγ-1234", BODY), ["greek_ref"]);
    assert_eq!(classes(&c, "un café", BODY), ["cafe"]);
}

mod equivalence {
    use super::super::*;
    use super::{oracle, NAMES};
    use proptest::prelude::*;

    /// Pieces that make the rules' shapes and near misses: digits, groups, separators, letters,
    /// `@`, `+`, JWT and key prefixes, Unicode letters and spaces, case-folding oddities.
    fn piece() -> impl Strategy<Value = String> {
        prop_oneof![
            "[0-9]{1,19}",
            "[0-9]{4}[ -][0-9]{4}[ -][0-9]{4}[ -][0-9]{4}",
            "[A-Z]{2}[0-9]{2}[A-Z0-9 ]{8,30}",
            "[A-Z]{2} ?[0-9]{2} ?[0-9]{2} ?[0-9]{2} ?[A-D]",
            "[0-9]{3}-[0-9]{2}-[0-9]{4}",
            "[0-9]{2}-[0-9]{2}-[0-9]{2}[ ,/][0-9]{8}",
            "[a-z.]{1,10}@[a-z]{1,8}\\.(com|png|io)",
            "\\+[0-9 ().-]{6,18}",
            "(Bearer|bearer|BEARER) [A-Za-z0-9._~+/-]{4,30}",
            "eyJ[A-Za-z0-9_-]{2,30}\\.[A-Za-z0-9_-]{0,20}\\.[A-Za-z0-9_-]{0,10}",
            "(sk|rk)_(live|test)_[A-Za-z0-9]{10,20}",
            "(AKIA|ASIA)[0-9A-Z]{14,18}",
            "-----BEGIN (RSA )?PRIVATE KEY-----",
            "[0-9]{4}[-/.][0-9]{2}[-/.][0-9]{2}(T[0-9:]{8}Z)?",
            "[ \\t\\n\\x0b]{1,3}",
            "[a-zA-Z]{1,8}",
            "(é|ſ|K|\u{a0}|\u{3000}|ß|日本|٣|𝟙)",
            "[\\x20-\\x7e]{1,12}",
            "(true|null|redacted|\\*\\*\\*|•••)",
        ]
    }

    fn value() -> impl Strategy<Value = String> {
        proptest::collection::vec(piece(), 1..5).prop_map(|parts| parts.join(""))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        #[test]
        fn fast_path_is_the_old_classifier(v in value(), n in 0..NAMES.len(), p in 0..4usize) {
            static BOTH: std::sync::OnceLock<(Classifier, oracle::Oracle)> =
                std::sync::OnceLock::new();
            let (c, o) = BOTH.get_or_init(|| {
                let c = Classifier::builtin();
                let o = oracle::Oracle::new(&c);
                (c, o)
            });
            let name = NAMES[n];
            let place = super::places(name)[p];
            prop_assert_eq!(c.classify(&v, place), o.classify(&v, place));
        }
    }
}
