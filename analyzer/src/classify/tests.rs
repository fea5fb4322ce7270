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
