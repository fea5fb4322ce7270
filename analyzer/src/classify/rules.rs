//! The rules-file model (TOML) and its validation into compiled class rules.
//!
//! Raw serde structs are read first, then checked one class at a time, so every error names the
//! file and the class it is about (`rules/custom.toml: class "pan": pattern 2: invalid regex`).
//! The file format is documented for rule authors in `rules/README.md`.

use super::mask::MaskStyle;
use super::validators::Validator;
use regex::{Regex, RegexBuilder};
use serde::Deserialize;
use std::fmt;

/// Most patterns one class may have.
pub const MAX_PATTERNS_PER_CLASS: usize = 16;
/// Most classes a rule set may have.
pub const MAX_CLASSES: usize = 256;
/// Compiled size limit per regex: bounds what an override file can cost (bytes of program).
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// How sensitive a class is (one severity scale for rules and findings).
pub use crate::finding::Severity;

/// A rules file or rule that cannot be used: which file, which class, and why.
#[derive(Debug)]
pub struct RuleError {
    /// The file name as given by the caller, e.g. `rules/custom.toml`.
    pub file: String,
    /// The class the error is about, when it is about one.
    pub class: Option<String>,
    pub kind: RuleErrorKind,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.file)?;
        if let Some(c) = &self.class {
            write!(f, "class {c:?}: ")?;
        }
        write!(f, "{}", self.kind)
    }
}

impl std::error::Error for RuleError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.kind)
    }
}

/// What is wrong with a rules file or rule.
#[derive(Debug, thiserror::Error)]
pub enum RuleErrorKind {
    /// The file is not valid TOML, or its top level is not `[[class]]` tables.
    #[error("invalid TOML: {0}")]
    Toml(String),
    /// A class table has a missing, mistyped or unknown field.
    #[error("{0}")]
    Field(String),
    /// Class names are labels in reports and APIs: `[a-z][a-z0-9_]*`, at most 64 bytes.
    #[error("invalid class name (expected [a-z][a-z0-9_]*, at most 64 characters)")]
    InvalidName,
    /// A pattern does not compile (or exceeds the compiled size limit).
    #[error("pattern {index}: invalid regex: {message}")]
    InvalidRegex { index: usize, message: String },
    /// `requires_hint = true` with no field hints to satisfy it: the pattern could never fire.
    #[error("pattern {index}: requires_hint but the class has no field_hints")]
    HintWithoutHints { index: usize },
    #[error("unknown validator {0:?} (expected one of {names})", names = Validator::NAMES.join(", "))]
    UnknownValidator(String),
    #[error("unknown mask {0:?} (expected one of {names})", names = MaskStyle::NAMES.join(", "))]
    UnknownMask(String),
    #[error("unknown severity {0:?} (expected low, medium, high or critical)")]
    UnknownSeverity(String),
    #[error("unknown hint_position {0:?} (expected anywhere or end)")]
    UnknownHintPosition(String),
    #[error("unknown place {0:?} (expected query, header, body or path)")]
    UnknownPlace(String),
    #[error("no patterns")]
    NoPatterns,
    #[error("{0} patterns (at most {MAX_PATTERNS_PER_CLASS})")]
    TooManyPatterns(usize),
    /// The same class name twice in one rule set (overrides replace; they do not duplicate).
    #[error("defined twice (also in {0})")]
    Duplicate(String),
    #[error("more than {MAX_CLASSES} classes")]
    TooManyClasses,
    /// All patterns together exceed a combined size limit. Kept for API compatibility: the
    /// classifier no longer compiles a combined set, so this is not produced.
    #[error("rule set too large to compile: {0}")]
    SetTooLarge(String),
}

/// One `[[class]]` table as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClass {
    name: String,
    #[serde(default)]
    description: String,
    severity: String,
    #[serde(default)]
    patterns: Vec<RawPattern>,
    #[serde(default = "default_validator")]
    validator: String,
    #[serde(default)]
    field_hints: Vec<String>,
    #[serde(default)]
    hint_position: Option<String>,
    #[serde(default)]
    places: Option<Vec<String>>,
    mask: String,
    #[serde(default)]
    suppressed_by: Vec<String>,
    #[serde(default = "default_true")]
    enabled: bool,
}

fn default_validator() -> String {
    "none".into()
}

fn default_true() -> bool {
    true
}

/// A pattern: a bare regex string, or a table with options.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawPattern {
    Regex(String),
    Table {
        regex: String,
        #[serde(default)]
        requires_hint: bool,
        #[serde(default)]
        field_hints: Option<Vec<String>>,
    },
}

/// Places a class may be found in, as a bit set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlaceSet(u8);

impl PlaceSet {
    pub const QUERY: u8 = 1;
    pub const HEADER: u8 = 2;
    pub const BODY: u8 = 4;
    pub const PATH: u8 = 8;
    const ALL: PlaceSet = PlaceSet(15);

    pub fn contains(self, bit: u8) -> bool {
        self.0 & bit != 0
    }
}

/// A field-name hint, stored as its words joined (`api_key`, `apiKey`, `x-api-key` all hold
/// `apikey`), so one spelling in a rules file matches every naming convention.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hint(String);

/// Split a field name into lowercase words: separators (`-`, `_`, `.`, space...) and camelCase
/// humps (`customerSSN` -> customer, ssn; `XApiKey` -> x, api, key).
pub fn name_words(name: &str) -> Vec<String> {
    let chars: Vec<char> = name.chars().take(128).collect();
    let mut words = Vec::new();
    let mut cur = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_alphanumeric() {
            if !cur.is_empty() {
                words.push(std::mem::take(&mut cur));
            }
            continue;
        }
        let prev = i.checked_sub(1).map(|j| chars[j]);
        let next = chars.get(i + 1).copied();
        let hump = c.is_uppercase()
            && prev.is_some_and(|p| {
                p.is_lowercase() || (p.is_uppercase() && next.is_some_and(char::is_lowercase))
            });
        if hump && !cur.is_empty() {
            words.push(std::mem::take(&mut cur));
        }
        cur.extend(c.to_lowercase());
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    words
}

impl Hint {
    pub fn new(hint: &str) -> Self {
        Hint(name_words(hint).concat())
    }

    /// Whether some run of consecutive words of the field name spells this hint; with
    /// `at_end`, only a run that ends the name (`newPassword` yes, `password_changed_at` no).
    pub fn matches(&self, words: &[String], at_end: bool) -> bool {
        if self.0.is_empty() {
            return false;
        }
        // Walk the words from each start, consuming the hint as a prefix (no allocation:
        // this runs for every classified value with a hinted pattern).
        (0..words.len()).any(|i| {
            let mut rest = self.0.as_str();
            for (k, w) in words[i..].iter().enumerate() {
                match rest.strip_prefix(w.as_str()) {
                    Some("") => return !at_end || i + k + 1 == words.len(),
                    Some(r) => rest = r,
                    None => return false,
                }
            }
            false
        })
    }
}

/// A compiled pattern.
#[derive(Debug, Clone)]
pub struct Pattern {
    pub source: String,
    pub regex: Regex,
    /// Whether the regex has a `(?P<v>...)` group naming the candidate inside the match.
    pub has_value_group: bool,
    pub requires_hint: bool,
    /// Pattern-specific hints; `None` uses the class's.
    pub hints: Option<Vec<Hint>>,
}

/// A compiled data class.
#[derive(Debug, Clone)]
pub struct ClassRule {
    pub name: String,
    pub description: String,
    pub severity: Severity,
    pub validator: Validator,
    pub mask: MaskStyle,
    pub places: PlaceSet,
    pub hints: Vec<Hint>,
    /// Hints must end the field name (`hint_position = "end"`).
    pub hints_at_end: bool,
    pub patterns: Vec<Pattern>,
    pub suppressed_by: Vec<String>,
    pub enabled: bool,
    /// The file it came from, for duplicate and override messages.
    pub file: String,
}

fn valid_name(n: &str) -> bool {
    let b = n.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
}

/// Parse and compile every class of one rules file.
pub fn parse_file(file: &str, text: &str) -> Result<Vec<ClassRule>, RuleError> {
    let err = |class: Option<String>, kind| RuleError {
        file: file.to_string(),
        class,
        kind,
    };
    let table: toml::Table = toml::from_str(text)
        .map_err(|e| err(None, RuleErrorKind::Toml(e.message().to_string())))?;
    let mut out = Vec::new();
    for (key, value) in table {
        if key != "class" {
            return Err(err(
                None,
                RuleErrorKind::Toml(format!(
                    "unexpected top-level key {key:?} (expected [[class]] tables)"
                )),
            ));
        }
        let toml::Value::Array(items) = value else {
            return Err(err(
                None,
                RuleErrorKind::Toml("`class` must be an array of tables ([[class]])".into()),
            ));
        };
        for item in items {
            let label = item
                .get("name")
                .and_then(|n| n.as_str())
                .map(str::to_string);
            let raw: RawClass = item.try_into().map_err(|e: toml::de::Error| {
                err(label.clone(), RuleErrorKind::Field(e.message().to_string()))
            })?;
            let rule = compile(file, raw).map_err(|kind| err(label.clone(), kind))?;
            out.push(rule);
        }
    }
    Ok(out)
}

fn compile(file: &str, raw: RawClass) -> Result<ClassRule, RuleErrorKind> {
    if !valid_name(&raw.name) {
        return Err(RuleErrorKind::InvalidName);
    }
    let severity = raw
        .severity
        .parse::<Severity>()
        .ok()
        .ok_or_else(|| RuleErrorKind::UnknownSeverity(raw.severity.clone()))?;
    let validator = Validator::from_name(&raw.validator)
        .ok_or_else(|| RuleErrorKind::UnknownValidator(raw.validator.clone()))?;
    let mask = MaskStyle::from_name(&raw.mask)
        .ok_or_else(|| RuleErrorKind::UnknownMask(raw.mask.clone()))?;
    let places = match &raw.places {
        None => PlaceSet::ALL,
        Some(list) => {
            let mut bits = 0;
            for p in list {
                bits |= match p.as_str() {
                    "query" => PlaceSet::QUERY,
                    "header" => PlaceSet::HEADER,
                    "body" => PlaceSet::BODY,
                    "path" => PlaceSet::PATH,
                    other => return Err(RuleErrorKind::UnknownPlace(other.to_string())),
                };
            }
            PlaceSet(bits)
        }
    };
    if raw.enabled && raw.patterns.is_empty() {
        return Err(RuleErrorKind::NoPatterns);
    }
    if raw.patterns.len() > MAX_PATTERNS_PER_CLASS {
        return Err(RuleErrorKind::TooManyPatterns(raw.patterns.len()));
    }
    let hints_at_end = match raw.hint_position.as_deref() {
        None | Some("anywhere") => false,
        Some("end") => true,
        Some(other) => return Err(RuleErrorKind::UnknownHintPosition(other.to_string())),
    };
    let hints: Vec<Hint> = raw.field_hints.iter().map(|h| Hint::new(h)).collect();
    let mut patterns = Vec::with_capacity(raw.patterns.len());
    for (i, p) in raw.patterns.into_iter().enumerate() {
        let index = i + 1;
        let (source, requires_hint, own_hints) = match p {
            RawPattern::Regex(r) => (r, false, None),
            RawPattern::Table {
                regex,
                requires_hint,
                field_hints,
            } => (
                regex,
                requires_hint,
                field_hints.map(|h| h.iter().map(|x| Hint::new(x)).collect::<Vec<_>>()),
            ),
        };
        let regex = RegexBuilder::new(&source)
            .size_limit(REGEX_SIZE_LIMIT)
            .build()
            .map_err(|e| RuleErrorKind::InvalidRegex {
                index,
                message: e.to_string(),
            })?;
        let effective = own_hints.as_ref().unwrap_or(&hints);
        if requires_hint && effective.is_empty() {
            return Err(RuleErrorKind::HintWithoutHints { index });
        }
        let has_value_group = regex.capture_names().any(|n| n == Some("v"));
        patterns.push(Pattern {
            source,
            regex,
            has_value_group,
            requires_hint,
            hints: own_hints,
        });
    }
    Ok(ClassRule {
        name: raw.name,
        description: raw.description,
        severity,
        validator,
        mask,
        places,
        hints,
        hints_at_end,
        patterns,
        suppressed_by: raw.suppressed_by,
        enabled: raw.enabled,
        file: file.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_split_every_convention() {
        assert_eq!(name_words("x-api-key"), ["x", "api", "key"]);
        assert_eq!(name_words("XApiKey"), ["x", "api", "key"]);
        assert_eq!(name_words("customerSSN"), ["customer", "ssn"]);
        assert_eq!(name_words("date_of_birth"), ["date", "of", "birth"]);
        assert_eq!(
            name_words("Data.Account[].Iban"),
            ["data", "account", "iban"]
        );
    }

    #[test]
    fn hints_match_runs_of_words_not_substrings() {
        let h = Hint::new("api_key");
        assert!(h.matches(&name_words("x-api-key"), false));
        assert!(h.matches(&name_words("apiKey"), true));
        assert!(h.matches(&name_words("APIKEY"), false));
        assert!(
            !h.matches(&name_words("api_key_id"), true),
            "at_end: the name is about an id"
        );
        assert!(h.matches(&name_words("api_key_id"), false));
        let tel = Hint::new("tel");
        assert!(tel.matches(&name_words("tel_no"), false));
        assert!(
            !tel.matches(&name_words("hotel"), false),
            "substring inside a word is not a hint"
        );
    }

    #[test]
    fn errors_name_file_class_and_cause() {
        let bad = "[[class]]\nname = \"pan\"\nseverity = \"high\"\nmask = \"last4\"\npatterns = ['(unclosed']\n";
        let e = match parse_file("rules/custom.toml", bad) {
            Err(e) => e.to_string(),
            Ok(_) => String::new(),
        };
        assert!(
            e.starts_with("rules/custom.toml: class \"pan\": pattern 1: invalid regex"),
            "{e}"
        );

        let unknown = "[[class]]\nname = \"x\"\nseverity = \"high\"\nmask = \"last4\"\nvalidator = \"crc\"\npatterns = ['a']\n";
        let e = parse_file("r.toml", unknown)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("class \"x\": unknown validator \"crc\""), "{e}");

        let missing = "[[class]]\nname = \"y\"\nmask = \"full\"\npatterns = ['a']\n";
        let e = parse_file("r.toml", missing)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("class \"y\"") && e.contains("severity"), "{e}");

        let hintless = "[[class]]\nname = \"z\"\nseverity = \"low\"\nmask = \"full\"\npatterns = [{ regex = '.+', requires_hint = true }]\n";
        let e = parse_file("r.toml", hintless)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("pattern 1: requires_hint"), "{e}");

        let e = parse_file("r.toml", "class = 3")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            e.starts_with("r.toml: ") && e.contains("array of tables"),
            "{e}"
        );
    }
}
