//! Data classification: which sensitive data classes a value carries, and a masked preview.
//!
//! The classes are data, not code: `rules/*.toml` (format in `rules/README.md`) are embedded at
//! build time and can be replaced or extended from a directory ([`Classifier::with_overrides`]).
//! A class is a set of regex patterns, a structural [`validators::Validator`] (Luhn, mod-97...),
//! field-name hints, the places it may occur and a [`mask::MaskStyle`].
//!
//! How one value is classified ([`Classifier::classify`]):
//!
//! 1. The value is trimmed and cut to [`MAX_SCAN_BYTES`] (at a character boundary): work per
//!    value is bounded whatever the traffic sends.
//! 2. One [`regex::RegexSet`] over every pattern of every class says which patterns match at
//!    all, in a single pass; only those are looked at again.
//! 3. For each matching pattern (class order, then pattern order): the place must be allowed and,
//!    when the pattern `requires_hint`, the field name must match a hint. Then up to
//!    [`MAX_CANDIDATES_PER_PATTERN`] matches are validated; the first valid one is the class's
//!    detection, masked. One detection per class, at most [`MAX_DETECTIONS`] per value.
//! 4. A class whose `suppressed_by` names a class detected on an overlapping part of the value
//!    is dropped (a `Bearer` token that is a JWT is reported as `jwt` only).
//!
//! Privacy by construction: [`Detection`] holds a class label and a masked preview, nothing
//! else; the raw value is never copied out, logged or stored here.
//!
//! This module does not decide finding severity; it exposes each class's declared
//! [`Severity`] for the diff to use.

pub mod mask;
pub mod rules;
pub mod validators;

#[cfg(test)]
mod eval;

pub use rules::{ClassRule, RuleError, RuleErrorKind, Severity};

use regex::{RegexSet, RegexSetBuilder};
use rules::{name_words, Hint, PlaceSet};
use std::sync::OnceLock;

/// Longest prefix of a value that is scanned; the rest is ignored (a 1 MiB body field costs the
/// same as a 4 KiB one).
pub const MAX_SCAN_BYTES: usize = 4096;
/// Most detections returned for one value.
pub const MAX_DETECTIONS: usize = 8;
/// Most regex matches validated per pattern and value (bounds validator work on values full of
/// near-misses, e.g. a list of order numbers).
pub const MAX_CANDIDATES_PER_PATTERN: usize = 16;
/// Compiled size limit for the combined pre-filter.
const SET_SIZE_LIMIT: usize = 32 << 20;

/// Where a value was found; gives the rules their context (field-name hints, allowed places).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place<'a> {
    /// A query parameter value; `name` is the parameter name.
    Query { name: &'a str },
    /// A request or response header value.
    Header { name: &'a str },
    /// A JSON or form body field; `name` is the last field name of its path.
    BodyField { name: &'a str },
    /// A path segment.
    PathSegment,
}

impl Place<'_> {
    fn bit(self) -> u8 {
        match self {
            Place::Query { .. } => PlaceSet::QUERY,
            Place::Header { .. } => PlaceSet::HEADER,
            Place::BodyField { .. } => PlaceSet::BODY,
            Place::PathSegment => PlaceSet::PATH,
        }
    }

    fn field_name(&self) -> &str {
        match self {
            Place::Query { name } | Place::Header { name } | Place::BodyField { name } => name,
            Place::PathSegment => "",
        }
    }
}

/// One detection: the class label and a masked preview (never the raw value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detection {
    pub class: String,
    pub preview: String,
}

/// The rules shipped with shadowtap: `(file name, TOML text)`, embedded at build time.
pub const BUILTIN_SOURCES: &[(&str, &str)] = &[
    (
        "rules/cards.toml",
        include_str!("../../../rules/cards.toml"),
    ),
    (
        "rules/banking.toml",
        include_str!("../../../rules/banking.toml"),
    ),
    (
        "rules/identity.toml",
        include_str!("../../../rules/identity.toml"),
    ),
    (
        "rules/credentials.toml",
        include_str!("../../../rules/credentials.toml"),
    ),
];

/// The compiled rule set.
#[derive(Debug, Clone)]
pub struct Classifier {
    classes: Vec<ClassRule>,
    /// Pre-filter over every pattern; index `i` is `patterns[i]`.
    set: RegexSet,
    /// `(class index, pattern index)` for each pattern of `set`.
    patterns: Vec<(usize, usize)>,
}

impl Default for Classifier {
    fn default() -> Self {
        Classifier::builtin()
    }
}

impl Classifier {
    /// The rules shipped in `rules/` (embedded at build time).
    pub fn builtin() -> Self {
        static BUILTIN: OnceLock<Classifier> = OnceLock::new();
        BUILTIN
            .get_or_init(|| {
                Classifier::from_sources(BUILTIN_SOURCES)
                    // The embedded rules are compile-time constants checked by the
                    // `builtin_rules_compile` test, so this cannot fail on input.
                    .expect("embedded rules/*.toml compile (see classify::tests::builtin_rules_compile)")
            })
            .clone()
    }

    /// Compile rules from `(file name, TOML text)` pairs. A class name may appear only once
    /// across all sources.
    pub fn from_sources<N: AsRef<str>, T: AsRef<str>>(
        sources: &[(N, T)],
    ) -> Result<Self, RuleError> {
        let classes = parse_all(sources)?;
        Self::compile(classes)
    }

    /// The builtin rules with `overrides` (e.g. every `*.toml` of a rules directory, read by the
    /// caller) layered on top: a class whose name matches a builtin class **replaces** it
    /// entirely (patterns, hints, mask... nothing is merged); a new name adds a class; a class
    /// with `enabled = false` removes the builtin class of that name. Within `overrides` a name
    /// may appear only once.
    pub fn with_overrides<N: AsRef<str>, T: AsRef<str>>(
        overrides: &[(N, T)],
    ) -> Result<Self, RuleError> {
        let mut classes = parse_all(BUILTIN_SOURCES)?;
        for rule in parse_all(overrides)? {
            match classes.iter_mut().find(|c| c.name == rule.name) {
                Some(slot) => *slot = rule,
                None => classes.push(rule),
            }
        }
        Self::compile(classes)
    }

    fn compile(classes: Vec<ClassRule>) -> Result<Self, RuleError> {
        let classes: Vec<ClassRule> = classes.into_iter().filter(|c| c.enabled).collect();
        if classes.len() > rules::MAX_CLASSES {
            return Err(RuleError {
                file: classes.last().map(|c| c.file.clone()).unwrap_or_default(),
                class: None,
                kind: RuleErrorKind::TooManyClasses,
            });
        }
        let mut sources = Vec::new();
        let mut patterns = Vec::new();
        for (ci, class) in classes.iter().enumerate() {
            for (pi, p) in class.patterns.iter().enumerate() {
                sources.push(p.source.as_str());
                patterns.push((ci, pi));
            }
        }
        let set = RegexSetBuilder::new(&sources)
            .size_limit(SET_SIZE_LIMIT)
            .build()
            .map_err(|e| RuleError {
                file: "<rule set>".into(),
                class: None,
                kind: RuleErrorKind::SetTooLarge(e.to_string()),
            })?;
        Ok(Classifier {
            classes,
            set,
            patterns,
        })
    }

    /// Names of the classes in this rule set, in rule order.
    pub fn classes(&self) -> impl Iterator<Item = &str> {
        self.classes.iter().map(|c| c.name.as_str())
    }

    /// The declared severity of a class.
    pub fn severity(&self, class: &str) -> Option<Severity> {
        self.rule(class).map(|c| c.severity)
    }

    /// The compiled rule of a class (description, places, mask...).
    pub fn rule(&self, class: &str) -> Option<&ClassRule> {
        self.classes.iter().find(|c| c.name == class)
    }

    /// Every data class `value` carries at `place`, in rule order, with masked previews.
    pub fn classify(&self, value: &str, place: Place<'_>) -> Vec<Detection> {
        let value = clip(value.trim(), MAX_SCAN_BYTES);
        if value.is_empty() {
            return Vec::new();
        }
        // Split the field name only when a hinted pattern needs it: most values match no
        // pattern at all.
        let words = std::cell::OnceCell::new();
        let hinted = |hints: &[Hint], at_end: bool| {
            let words = words.get_or_init(|| name_words(place.field_name()));
            hints.iter().any(|h| h.matches(words, at_end))
        };
        // (class index, preview, byte range of the accepted candidate in `value`)
        let mut found: Vec<(usize, String, std::ops::Range<usize>)> = Vec::new();
        for idx in self.set.matches(value).iter() {
            let (ci, pi) = self.patterns[idx];
            if found.iter().any(|(c, _, _)| *c == ci) {
                continue;
            }
            let class = &self.classes[ci];
            if !class.places.contains(place.bit()) {
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
            if let Some(range) = first_valid(class, pattern, value) {
                found.push((ci, class.mask.apply(&value[range.clone()]), range));
                if found.len() >= MAX_DETECTIONS {
                    break;
                }
            }
        }
        // Suppression is by overlap: the digits of a printed IBAN can look like a spaced card
        // number, but a card elsewhere in the same value is still reported.
        let suppressed = |ci: usize, range: &std::ops::Range<usize>| {
            self.classes[ci].suppressed_by.iter().any(|s| {
                found.iter().any(|(other, _, r)| {
                    self.classes[*other].name == *s && r.start < range.end && range.start < r.end
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

/// The byte range in `value` of the first candidate of `pattern` that the class's validator
/// accepts (the validator may narrow the candidate to a prefix of itself).
fn first_valid(
    class: &ClassRule,
    pattern: &rules::Pattern,
    value: &str,
) -> Option<std::ops::Range<usize>> {
    let check = |m: regex::Match<'_>| {
        let s = m.as_str();
        if s.is_empty() {
            return None;
        }
        class
            .validator
            .check(s)
            .map(|ok| m.start()..m.start() + ok.len())
    };
    if pattern.has_value_group {
        pattern
            .regex
            .captures_iter(value)
            .take(MAX_CANDIDATES_PER_PATTERN)
            .filter_map(|c| c.name("v"))
            .find_map(check)
    } else {
        pattern
            .regex
            .find_iter(value)
            .take(MAX_CANDIDATES_PER_PATTERN)
            .find_map(check)
    }
}

/// Parse every source, rejecting a class name defined twice.
fn parse_all<N: AsRef<str>, T: AsRef<str>>(
    sources: &[(N, T)],
) -> Result<Vec<ClassRule>, RuleError> {
    let mut classes: Vec<ClassRule> = Vec::new();
    for (file, text) in sources {
        for rule in rules::parse_file(file.as_ref(), text.as_ref())? {
            if let Some(prev) = classes.iter().find(|c| c.name == rule.name) {
                return Err(RuleError {
                    file: rule.file.clone(),
                    class: Some(rule.name.clone()),
                    kind: RuleErrorKind::Duplicate(prev.file.clone()),
                });
            }
            classes.push(rule);
        }
    }
    Ok(classes)
}

/// The longest prefix of `s` no longer than `max` bytes that ends on a character boundary.
fn clip(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests;
