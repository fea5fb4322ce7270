//! Data classification: which sensitive data classes a value carries, and a masked preview.
//!
//! The classes are data, not code: `rules/*.toml` (format in `rules/README.md`) are embedded at
//! build time and can be replaced or extended from a directory ([`Classifier::with_overrides`]).
//! A class is a set of regex patterns, a structural [`validators::Validator`] (Luhn, mod-97...),
//! field-name hints, the places it may occur and a [`mask::MaskStyle`].
//!
//! How one value is classified ([`Classifier::classify_into`]):
//!
//! 1. The value is trimmed and cut to [`MAX_SCAN_BYTES`] (at a character boundary): work per
//!    value is bounded whatever the traffic sends.
//! 2. One pass over its bytes gives cheap features (length, digit and letter counts, which bytes
//!    occur). Each pattern carries a necessary condition derived from its regex when the rules
//!    are compiled (`features.rs`); only patterns whose condition the value meets run, so most
//!    values run no regex at all.
//! 3. Candidate patterns are taken in class order, then pattern order: the place must be allowed
//!    and, when the pattern `requires_hint`, the field name must match a hint. Field names are
//!    matched against hints once per distinct name ([`Classifier::field_hints`]; callers cache
//!    the [`FieldHints`]), never per value. Then up to [`MAX_CANDIDATES_PER_PATTERN`] matches are
//!    validated; the first valid one is the class's detection, masked. One detection per class,
//!    at most [`MAX_DETECTIONS`] per value.
//! 4. A class whose `suppressed_by` names a class detected on an overlapping part of the value
//!    is dropped (a `Bearer` token that is a JWT is reported as `jwt` only).
//!
//! ASCII values (nearly all of them) are matched by each pattern's ASCII byte regex (Unicode
//! off: no UTF-8 validation, smaller automata); a value with other bytes is decoded (invalid
//! UTF-8 replaced) and matched by the Unicode regexes, exactly as the rules are written. On an
//! ASCII value both compilations give the same matches, so results do not depend on the path.
//!
//! Besides values, [`prefilter::BodyScan`] decides cheaply whether a body the caller did not
//! walk carries a context-free class at all.
//!
//! Privacy by construction: [`Hit`] and [`Detection`] hold a class and a masked preview,
//! nothing else; the raw value is never copied out, logged or stored here.
//!
//! This module does not decide finding severity; it exposes each class's declared
//! [`Severity`] for the diff to use.

mod features;
pub mod mask;
pub mod prefilter;
pub mod rules;
pub mod validators;

#[cfg(test)]
mod eval;

pub use rules::{ClassRule, RuleError, RuleErrorKind, Severity};

use features::{Condition, ValueFeatures};
use rules::{name_words, Hint, PlaceSet};
use std::ops::Range;
use std::sync::OnceLock;

/// Longest prefix of a value that is scanned; the rest is ignored (a 1 MiB body field costs the
/// same as a 4 KiB one).
pub const MAX_SCAN_BYTES: usize = 4096;
/// Most detections returned for one value.
pub const MAX_DETECTIONS: usize = 8;
/// Most regex matches validated per pattern and value (bounds validator work on values full of
/// near-misses, e.g. a list of order numbers).
pub const MAX_CANDIDATES_PER_PATTERN: usize = 16;
/// Names whose hints [`Classifier::classify`] keeps per thread.
pub const HINT_CACHE_NAMES: usize = 1024;
/// Compiled size limit per byte regex (the same bound as the rules' own regexes).
const REGEX_SIZE_LIMIT: usize = 1 << 20;

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
    /// The kind of place, without the name.
    pub fn kind(self) -> PlaceKind {
        match self {
            Place::Query { .. } => PlaceKind::Query,
            Place::Header { .. } => PlaceKind::Header,
            Place::BodyField { .. } => PlaceKind::Body,
            Place::PathSegment => PlaceKind::Path,
        }
    }

    /// The parameter, header or field name (`""` for a path segment).
    pub fn name(&self) -> &str {
        match self {
            Place::Query { name } | Place::Header { name } | Place::BodyField { name } => name,
            Place::PathSegment => "",
        }
    }
}

/// The kind of place a value was found in (the name travels separately, as [`FieldHints`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PlaceKind {
    Query,
    Header,
    Body,
    Path,
}

impl PlaceKind {
    const ALL: [PlaceKind; 4] = [
        PlaceKind::Query,
        PlaceKind::Header,
        PlaceKind::Body,
        PlaceKind::Path,
    ];

    fn index(self) -> usize {
        match self {
            PlaceKind::Query => 0,
            PlaceKind::Header => 1,
            PlaceKind::Body => 2,
            PlaceKind::Path => 3,
        }
    }

    fn bit(self) -> u8 {
        match self {
            PlaceKind::Query => PlaceSet::QUERY,
            PlaceKind::Header => PlaceSet::HEADER,
            PlaceKind::Body => PlaceSet::BODY,
            PlaceKind::Path => PlaceSet::PATH,
        }
    }
}

/// A class of one [`Classifier`]: its index in rule order. Only meaningful with the classifier
/// that issued it ([`Classifier::class_id`], [`Hit::class`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClassId(u16);

impl ClassId {
    /// The index in rule order (`0..classifier.classes().count()`).
    pub fn index(self) -> usize {
        usize::from(self.0)
    }
}

/// A set of [`ClassId`]s of one classifier (a bit set over at most [`rules::MAX_CLASSES`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct ClassSet([u64; rules::MAX_CLASSES / 64]);

impl ClassSet {
    pub const EMPTY: ClassSet = ClassSet([0; rules::MAX_CLASSES / 64]);

    pub fn insert(&mut self, id: ClassId) {
        let i = id.index();
        if let Some(w) = self.0.get_mut(i / 64) {
            *w |= 1u64 << (i % 64);
        }
    }

    pub fn contains(&self, id: ClassId) -> bool {
        let i = id.index();
        self.0
            .get(i / 64)
            .is_some_and(|w| w & (1u64 << (i % 64)) != 0)
    }

    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|w| *w == 0)
    }

    pub fn len(&self) -> usize {
        self.0.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// Classes in either set.
    #[must_use]
    pub fn union(self, other: ClassSet) -> ClassSet {
        let mut out = self;
        for (a, b) in out.0.iter_mut().zip(other.0) {
            *a |= b;
        }
        out
    }

    /// Classes in both sets.
    #[must_use]
    pub fn intersection(self, other: ClassSet) -> ClassSet {
        let mut out = self;
        for (a, b) in out.0.iter_mut().zip(other.0) {
            *a &= b;
        }
        out
    }

    /// Classes in `self` but not in `other` (e.g. classes new to an endpoint).
    #[must_use]
    pub fn difference(self, other: ClassSet) -> ClassSet {
        let mut out = self;
        for (a, b) in out.0.iter_mut().zip(other.0) {
            *a &= !b;
        }
        out
    }

    /// The members, in rule order.
    pub fn iter(&self) -> impl Iterator<Item = ClassId> + '_ {
        self.0.iter().enumerate().flat_map(|(w, &bits)| {
            let mut bits = bits;
            std::iter::from_fn(move || {
                if bits == 0 {
                    return None;
                }
                let b = bits.trailing_zeros();
                bits &= bits - 1;
                Some(ClassId((w * 64) as u16 + b as u16))
            })
        })
    }
}

/// Which hinted patterns a field, parameter or header name satisfies: computed once per
/// distinct name by [`Classifier::field_hints`] and reused for every value under that name.
/// Holds pattern indices only, never the name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct FieldHints {
    /// Bit `i` of word `i / 64`: hinted pattern `i` (global pattern order) is satisfied.
    bits: Vec<u64>,
}

impl FieldHints {
    /// No hint satisfied: a name that says nothing, or a path segment (which has no name).
    pub const NONE: FieldHints = FieldHints { bits: Vec::new() };

    /// Whether the name satisfies no hint at all.
    pub fn is_empty(&self) -> bool {
        self.bits.iter().all(|w| *w == 0)
    }

    fn word(&self, w: usize) -> u64 {
        self.bits.get(w).copied().unwrap_or(0)
    }
}

/// One detection: the class and a masked preview (never the raw value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    pub class: ClassId,
    pub preview: String,
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

/// One pattern as the fast path runs it.
#[derive(Debug, Clone)]
struct PatternPlan {
    class: u16,
    /// Index within the class's patterns (for the Unicode path's `rules::Pattern`).
    pattern: u16,
    /// The pattern compiled over bytes with Unicode off (or, when the pattern needs Unicode to
    /// compile, with Unicode on: identical on ASCII values).
    regex: regex::bytes::Regex,
    /// Index of the `v` group, when the pattern has one.
    v_group: Option<usize>,
    /// Necessary condition for a match on an ASCII value.
    cond: Condition,
    requires_hint: bool,
    /// The hints that satisfy `requires_hint` (the pattern's own, else its class's).
    hints: Vec<Hint>,
    hints_at_end: bool,
}

/// An accepted candidate before suppression: class, span in the scanned value, preview.
#[derive(Debug, Clone)]
struct Candidate {
    class: u16,
    range: Range<usize>,
    preview: String,
}

/// The compiled rule set.
#[derive(Debug, Clone)]
pub struct Classifier {
    classes: Vec<ClassRule>,
    /// Every pattern of every class, class order then pattern order.
    plans: Vec<PatternPlan>,
    /// Per place (index of [`PlaceKind`]): bit set of the patterns without `requires_hint`
    /// whose class may occur there.
    unhinted: [Vec<u64>; 4],
    /// Per place: bit set of the patterns with `requires_hint` whose class may occur there.
    hinted: [Vec<u64>; 4],
    /// Indices of the patterns with `requires_hint`.
    hinted_plans: Vec<usize>,
    /// Per class: the classes named by its `suppressed_by` that exist in this rule set.
    suppressors: Vec<Vec<u16>>,
    /// What [`prefilter::BodyScan`] needs, derived from the same rules.
    prefilter: prefilter::Plan,
    /// Identifies this compiled rule set (shared by its clones) for the per-thread hint cache
    /// of [`Classifier::classify`].
    id: u64,
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
        let mut plans = Vec::new();
        for (ci, class) in classes.iter().enumerate() {
            for (pi, p) in class.patterns.iter().enumerate() {
                let err = |e: regex::Error| RuleError {
                    file: class.file.clone(),
                    class: Some(class.name.clone()),
                    kind: RuleErrorKind::InvalidRegex {
                        index: pi + 1,
                        message: e.to_string(),
                    },
                };
                let ascii = regex::bytes::RegexBuilder::new(&p.source)
                    .unicode(false)
                    .size_limit(REGEX_SIZE_LIMIT)
                    .build();
                // A pattern that needs Unicode to compile (`\p{L}`, a literal `é`) keeps it; on
                // ASCII values it matches exactly the same, it just has no condition.
                let (regex, cond) = match ascii {
                    Ok(r) => {
                        let cond = features::parse_ascii(&p.source)
                            .map_or_else(Condition::always, |h| Condition::derive(&h));
                        (r, cond)
                    }
                    Err(_) => (
                        regex::bytes::RegexBuilder::new(&p.source)
                            .size_limit(REGEX_SIZE_LIMIT)
                            .build()
                            .map_err(err)?,
                        Condition::always(),
                    ),
                };
                let v_group = regex.capture_names().position(|n| n == Some("v"));
                plans.push(PatternPlan {
                    class: ci as u16,
                    pattern: pi as u16,
                    regex,
                    v_group,
                    cond,
                    requires_hint: p.requires_hint,
                    hints: p.hints.clone().unwrap_or_else(|| class.hints.clone()),
                    hints_at_end: class.hints_at_end,
                });
            }
        }
        let words = plans.len().div_ceil(64);
        let mut unhinted: [Vec<u64>; 4] = std::array::from_fn(|_| vec![0u64; words]);
        let mut hinted: [Vec<u64>; 4] = std::array::from_fn(|_| vec![0u64; words]);
        for (i, plan) in plans.iter().enumerate() {
            let places = classes[usize::from(plan.class)].places;
            for kind in PlaceKind::ALL {
                if places.contains(kind.bit()) {
                    let set = if plan.requires_hint {
                        &mut hinted[kind.index()]
                    } else {
                        &mut unhinted[kind.index()]
                    };
                    set[i / 64] |= 1u64 << (i % 64);
                }
            }
        }
        let hinted_plans = (0..plans.len())
            .filter(|&i| plans[i].requires_hint)
            .collect();
        let suppressors = classes
            .iter()
            .map(|c| {
                c.suppressed_by
                    .iter()
                    .filter_map(|s| classes.iter().position(|o| o.name == *s))
                    .map(|i| i as u16)
                    .collect()
            })
            .collect();
        static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let mut classifier = Classifier {
            classes,
            plans,
            unhinted,
            hinted,
            hinted_plans,
            suppressors,
            prefilter: prefilter::Plan::default(),
            id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        };
        classifier.prefilter = prefilter::Plan::build(&classifier);
        Ok(classifier)
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

    /// The id of a class of this rule set.
    pub fn class_id(&self, name: &str) -> Option<ClassId> {
        self.classes
            .iter()
            .position(|c| c.name == name)
            .map(|i| ClassId(i as u16))
    }

    /// The name of a class of this rule set (`""` for an id this classifier did not issue).
    pub fn class_name(&self, id: ClassId) -> &str {
        self.classes.get(id.index()).map_or("", |c| c.name.as_str())
    }

    /// The compiled rule of a class, by id.
    pub fn class_rule(&self, id: ClassId) -> Option<&ClassRule> {
        self.classes.get(id.index())
    }

    /// The classes a [`prefilter::BodyScan`] can light under this rule set (see its docs):
    /// any other class is found only in bodies the caller walks.
    pub fn prefilter_classes(&self) -> ClassSet {
        self.prefilter.understood()
    }

    /// Which hinted patterns `name` satisfies (the name is split into words once, here).
    /// Compute it once per distinct field, parameter or header name and pass it to
    /// [`Classifier::classify_into`] for every value under that name.
    pub fn field_hints(&self, name: &str) -> FieldHints {
        if name.is_empty() || self.hinted_plans.is_empty() {
            return FieldHints::NONE;
        }
        let words = name_words(name);
        let mut bits: Vec<u64> = Vec::new();
        for &i in &self.hinted_plans {
            let plan = &self.plans[i];
            if plan
                .hints
                .iter()
                .any(|h| h.matches(&words, plan.hints_at_end))
            {
                if bits.len() <= i / 64 {
                    bits.resize(i / 64 + 1, 0);
                }
                bits[i / 64] |= 1u64 << (i % 64);
            }
        }
        FieldHints { bits }
    }

    /// Every data class `value` carries at `place`, in rule order, with masked previews.
    ///
    /// Kept for callers that hold a name rather than cached [`FieldHints`]: the hints of each
    /// name are computed once per thread and rule set (a small bounded cache of names, never of
    /// values), then [`Classifier::classify_into`] runs.
    pub fn classify(&self, value: &str, place: Place<'_>) -> Vec<Detection> {
        let hints = self.cached_hints(place.name());
        let mut found = Vec::new();
        self.detect(value.as_bytes(), place.kind(), &hints, true, &mut found);
        found
            .into_iter()
            .map(|c| Detection {
                class: self.classes[usize::from(c.class)].name.clone(),
                preview: c.preview,
            })
            .collect()
    }

    /// [`Classifier::field_hints`] through a per-thread cache of at most
    /// [`HINT_CACHE_NAMES`] names (cleared when full or when another rule set uses it).
    fn cached_hints(&self, name: &str) -> FieldHints {
        type Cache = (u64, crate::FastMap<Box<str>, FieldHints>);
        thread_local! {
            static CACHE: std::cell::RefCell<Cache> = std::cell::RefCell::default();
        }
        if name.is_empty() {
            return FieldHints::NONE;
        }
        CACHE.with(|cache| {
            let mut cache = cache.borrow_mut();
            if cache.0 != self.id {
                cache.0 = self.id;
                cache.1.clear();
            }
            if let Some(h) = cache.1.get(name) {
                return h.clone();
            }
            let h = self.field_hints(name);
            if cache.1.len() >= HINT_CACHE_NAMES {
                cache.1.clear();
            }
            cache.1.insert(name.into(), h.clone());
            h
        })
    }

    /// Append to `out` every data class `value` carries at `place` under a name with `hints`,
    /// in rule order, with masked previews: the same detections as [`Classifier::classify`],
    /// computed without splitting the name and running only the patterns the value can match.
    /// `value` need not be UTF-8 (invalid sequences never match a class).
    pub fn classify_into(
        &self,
        value: &[u8],
        place: PlaceKind,
        hints: &FieldHints,
        out: &mut Vec<Hit>,
    ) {
        let mut found = Vec::new();
        self.detect(value, place, hints, true, &mut found);
        out.extend(found.into_iter().map(|c| Hit {
            class: ClassId(c.class),
            preview: c.preview,
        }));
    }

    /// The classes `value` carries at `place` (no previews are built).
    pub fn classes_in(&self, value: &[u8], place: PlaceKind, hints: &FieldHints) -> ClassSet {
        let mut found = Vec::new();
        self.detect(value, place, hints, false, &mut found);
        let mut set = ClassSet::EMPTY;
        for c in &found {
            set.insert(ClassId(c.class));
        }
        set
    }

    /// The detections of `value`, after suppression, in class order, into `found` (cleared
    /// first). Previews are built only when `previews` is set.
    fn detect(
        &self,
        value: &[u8],
        place: PlaceKind,
        hints: &FieldHints,
        previews: bool,
        found: &mut Vec<Candidate>,
    ) {
        found.clear();
        let v = trim_ascii(value);
        if v.is_empty() {
            return;
        }
        let window = &v[..v.len().min(MAX_SCAN_BYTES)];
        let features = ValueFeatures::scan(window);
        let mut runs = None;
        if features.non_ascii {
            self.detect_unicode(value, place, hints, previews, found);
        } else {
            self.for_each_candidate_plan(place, hints, |plan| {
                if found.iter().any(|c| c.class == plan.class)
                    || !plan.cond.admits(&features, window, &mut runs)
                {
                    return true;
                }
                let class = &self.classes[usize::from(plan.class)];
                if let Some(range) = first_valid_ascii(class, plan, window) {
                    let preview = if previews {
                        std::str::from_utf8(&window[range.clone()])
                            .map(|s| class.mask.apply(s))
                            .unwrap_or_default()
                    } else {
                        String::new()
                    };
                    found.push(Candidate {
                        class: plan.class,
                        range,
                        preview,
                    });
                }
                found.len() < MAX_DETECTIONS
            });
        }
        self.suppress(found);
    }

    /// The Unicode path: the value decoded (invalid UTF-8 replaced), trimmed and clipped as
    /// text, matched by the rules' Unicode regexes.
    fn detect_unicode(
        &self,
        value: &[u8],
        place: PlaceKind,
        hints: &FieldHints,
        previews: bool,
        found: &mut Vec<Candidate>,
    ) {
        let text = String::from_utf8_lossy(value);
        let v = clip(text.trim(), MAX_SCAN_BYTES);
        if v.is_empty() {
            return;
        }
        self.for_each_candidate_plan(place, hints, |plan| {
            if found.iter().any(|c| c.class == plan.class) {
                return true;
            }
            let class = &self.classes[usize::from(plan.class)];
            let pattern = &class.patterns[usize::from(plan.pattern)];
            if let Some(range) = first_valid_str(class, pattern, v) {
                let preview = if previews {
                    class.mask.apply(&v[range.clone()])
                } else {
                    String::new()
                };
                found.push(Candidate {
                    class: plan.class,
                    range,
                    preview,
                });
            }
            found.len() < MAX_DETECTIONS
        });
    }

    /// Call `f` with every pattern that may fire at `place` under `hints` (patterns without
    /// `requires_hint`, and hinted ones the name satisfies), in rule order, until it returns
    /// false.
    fn for_each_candidate_plan(
        &self,
        place: PlaceKind,
        hints: &FieldHints,
        mut f: impl FnMut(&PatternPlan) -> bool,
    ) {
        let unhinted = &self.unhinted[place.index()];
        let hinted = &self.hinted[place.index()];
        for (w, (&u, &h)) in unhinted.iter().zip(hinted).enumerate() {
            let mut bits = u | (h & hints.word(w));
            while bits != 0 {
                let i = w * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                if !f(&self.plans[i]) {
                    return;
                }
            }
        }
    }

    /// Drop every candidate whose class is suppressed by a class found on an overlapping span.
    /// Suppression is by overlap: the digits of a printed IBAN can look like a spaced card
    /// number, but a card elsewhere in the same value is still reported.
    fn suppress(&self, found: &mut Vec<Candidate>) {
        if found.len() < 2 {
            return;
        }
        let mut drop = [false; MAX_DETECTIONS];
        for (k, c) in found.iter().enumerate() {
            drop[k] = self.suppressors[usize::from(c.class)].iter().any(|s| {
                found.iter().any(|o| {
                    o.class == *s && o.range.start < c.range.end && c.range.start < o.range.end
                })
            });
        }
        let mut k = 0;
        found.retain(|_| {
            k += 1;
            !drop[k - 1]
        });
    }
}

/// `value` without leading and trailing ASCII whitespace as `str::trim` sees it (tab, LF,
/// vertical tab, form feed, CR, space). Other Unicode whitespace sends the value to the
/// Unicode path, which trims it as text.
fn trim_ascii(value: &[u8]) -> &[u8] {
    let ws = |b: &u8| matches!(b, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' ');
    let start = value.iter().position(|b| !ws(b)).unwrap_or(value.len());
    let end = value.iter().rposition(|b| !ws(b)).map_or(start, |i| i + 1);
    &value[start..end.max(start)]
}

/// The byte range in `window` (ASCII) of the first candidate of `plan` that the class's
/// validator accepts (the validator may narrow the candidate to a prefix of itself). With a `v`
/// group, captures are resolved only on a match's span.
fn first_valid_ascii(class: &ClassRule, plan: &PatternPlan, window: &[u8]) -> Option<Range<usize>> {
    let check = |start: usize, end: usize| -> Option<Range<usize>> {
        if start >= end {
            return None;
        }
        let s = std::str::from_utf8(&window[start..end]).ok()?;
        class.validator.check(s).map(|ok| start..start + ok.len())
    };
    let mut locations = None;
    for m in plan
        .regex
        .find_iter(window)
        .take(MAX_CANDIDATES_PER_PATTERN)
    {
        let span = match plan.v_group {
            None => Some((m.start(), m.end())),
            Some(g) => {
                let locs = locations.get_or_insert_with(|| plan.regex.capture_locations());
                // The leftmost-first match starting at m.start() is m itself: same span, and
                // its groups are those `captures_iter` would report.
                plan.regex
                    .captures_read_at(locs, window, m.start())
                    .and_then(|_| locs.get(g))
            }
        };
        if let Some(range) = span.and_then(|(s, e)| check(s, e)) {
            return Some(range);
        }
    }
    None
}

/// [`first_valid_ascii`] for the Unicode path: the rule's own Unicode regex over text.
fn first_valid_str(
    class: &ClassRule,
    pattern: &rules::Pattern,
    value: &str,
) -> Option<Range<usize>> {
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
