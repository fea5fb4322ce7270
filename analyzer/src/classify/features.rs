//! Cheap per-value features and per-pattern necessary conditions: the classifier's prefilter.
//!
//! A value is read once ([`ValueFeatures::scan`]): its length, how many digits, upper- and
//! lowercase letters it has, which ASCII bytes occur in it, and whether it is ASCII at all. Each
//! pattern carries a [`Condition`] derived once, when the rules are compiled, from the regex's
//! syntax tree (`regex-syntax` HIR): the shortest match, the fewest digits / letters any match
//! holds, bytes every match contains (`@` for an email, `+` for a phone number), sets of bytes of
//! which every match holds one, and the longest literal every match contains (`eyJ`,
//! `PRIVATE KEY-----`). When those hold, a second, lazy pass ([`RunFeatures`]) is made only if
//! the pattern asks for it: how many digits lie in runs of at least 2, 3 and 4 digits (a card
//! number has 12+ digits in runs of 4+, a timestamp 4) and which adjacent byte-class pairs occur
//! (`+` then a non-zero digit for an E.164 number, an uppercase letter then a digit for an
//! IBAN). A pattern runs only when the value meets its condition, so a value like `Booked`,
//! `GBP` or `2026-02-03T10:11:12+00:00` runs no regex at all.
//!
//! Conditions are *necessary*, never sufficient: they are lower bounds computed over every way
//! the regex can match, so skipping a pattern whose condition fails never changes a result.
//! They hold for ASCII values matched by the pattern's ASCII (unicode-off) compilation; values
//! with other bytes take the classifier's Unicode path, which does not consult them. A pattern
//! whose tree cannot be analysed gets [`Condition::always`] and simply always runs.
//!
//! This module does not run regexes or validators; it only decides which patterns may.

use memchr::memmem;
use regex_syntax::hir::{Class, Hir, HirKind};

/// Per-byte counters packed into one `u64`: digits in bits 0..16, uppercase in 16..32,
/// lowercase in 32..48 (values are at most `MAX_SCAN_BYTES` long, so 16 bits never overflow).
static COUNT: [u64; 256] = {
    let mut t = [0u64; 256];
    let mut b = 0;
    while b < 256 {
        t[b] = match b as u8 {
            b'0'..=b'9' => 1,
            b'A'..=b'Z' => 1 << 16,
            b'a'..=b'z' => 1 << 32,
            _ => 0,
        };
        b += 1;
    }
    t
};

/// What one pass over a value (trimmed, clipped) says about it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ValueFeatures {
    pub len: u32,
    pub digits: u32,
    pub upper: u32,
    pub lower: u32,
    /// Bit `b` set when ASCII byte `b` occurs.
    pub present: u128,
    /// A byte >= 0x80 occurs: the value takes the Unicode path.
    pub non_ascii: bool,
}

impl ValueFeatures {
    /// One pass over `v`.
    pub fn scan(v: &[u8]) -> Self {
        let mut counts = 0u64;
        let mut present = 0u128;
        let mut high = 0u8;
        for &b in v {
            counts += COUNT[usize::from(b)];
            present |= 1u128 << (b & 0x7f);
            high |= b;
        }
        ValueFeatures {
            len: u32::try_from(v.len()).unwrap_or(u32::MAX),
            digits: (counts & 0xffff) as u32,
            upper: ((counts >> 16) & 0xffff) as u32,
            lower: ((counts >> 32) & 0xffff) as u32,
            present,
            non_ascii: high & 0x80 != 0,
        }
    }
}

/// The pair alphabet: `0`, `1-9`, `A-Z`, `a-z`, space, `-`, `+`, `.`, `_`, anything else.
const ALPHABET: usize = 10;

static ALPH: [u8; 128] = {
    let mut t = [9u8; 128];
    let mut b = 0;
    while b < 128 {
        t[b] = match b as u8 {
            b'0' => 0,
            b'1'..=b'9' => 1,
            b'A'..=b'Z' => 2,
            b'a'..=b'z' => 3,
            b' ' => 4,
            b'-' => 5,
            b'+' => 6,
            b'.' => 7,
            b'_' => 8,
            _ => 9,
        };
        b += 1;
    }
    t
};

/// What a second pass over an ASCII value says, computed only when a pattern needs it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct RunFeatures {
    /// Digits lying in maximal digit runs of at least 2, 3 and 4 digits.
    pub runs: [u32; 3],
    /// Bit `a * 10 + b`: a byte of alphabet class `a` is directly followed by one of class `b`.
    pub pairs: u128,
}

impl RunFeatures {
    pub fn scan(v: &[u8]) -> Self {
        let mut out = RunFeatures::default();
        let mut run = 0u32;
        let mut prev: Option<usize> = None;
        let close = |run: u32, runs: &mut [u32; 3]| {
            for (k, slot) in runs.iter_mut().enumerate() {
                if run >= k as u32 + 2 {
                    *slot += run;
                }
            }
        };
        for &b in v {
            let c = usize::from(ALPH[usize::from(b & 0x7f)]);
            if let Some(p) = prev {
                out.pairs |= 1u128 << (p * ALPHABET + c);
            }
            prev = Some(c);
            if c <= 1 {
                run += 1;
            } else {
                close(run, &mut out.runs);
                run = 0;
            }
        }
        close(run, &mut out.runs);
        out
    }
}

/// ASCII byte sets as bit masks (bit `b` = byte `b`).
fn range_mask(lo: u8, hi: u8) -> u128 {
    (lo..=hi).fold(0u128, |m, b| m | (1u128 << b))
}

fn digit_mask() -> u128 {
    range_mask(b'0', b'9')
}

fn upper_mask() -> u128 {
    range_mask(b'A', b'Z')
}

fn lower_mask() -> u128 {
    range_mask(b'a', b'z')
}

/// Most `any_of` clauses and byte counts kept per pattern (the strongest ones).
const MAX_CLAUSES: usize = 6;
const MAX_COUNTS: usize = 4;
/// Clauses wider than this say too little to be worth checking.
const MAX_CLAUSE_WIDTH: u32 = 40;

/// A necessary condition for a pattern to match an ASCII value: when [`Condition::admits`] is
/// false, the pattern cannot match.
#[derive(Debug, Clone)]
pub(crate) struct Condition {
    min_len: u32,
    min_digits: u32,
    min_upper: u32,
    min_lower: u32,
    min_alnum: u32,
    /// Every one of these bytes occurs in every match.
    required: u128,
    /// Every match holds at least one byte of each mask.
    any_of: Vec<u128>,
    /// Bytes every match holds at least `n >= 2` times.
    counts: Vec<(u8, u32)>,
    /// A literal every match contains.
    literal: Option<memmem::Finder<'static>>,
    /// Fewest digits any match holds in runs of at least 2, 3 and 4 digits ([`RunFeatures`]).
    min_runs: [u32; 3],
    /// Every match holds an adjacent pair from each mask ([`RunFeatures::pairs`]).
    pairs: Vec<u128>,
}

impl Condition {
    /// No condition: the pattern always runs.
    pub fn always() -> Self {
        Condition {
            min_len: 0,
            min_digits: 0,
            min_upper: 0,
            min_lower: 0,
            min_alnum: 0,
            required: 0,
            any_of: Vec::new(),
            counts: Vec::new(),
            literal: None,
            min_runs: [0; 3],
            pairs: Vec::new(),
        }
    }

    /// Whether a value with features `f` (and bytes `v`, for the counted bytes, the literal and
    /// the second pass, made at most once per value into `runs`) may match.
    #[inline]
    pub fn admits(&self, f: &ValueFeatures, v: &[u8], runs: &mut Option<RunFeatures>) -> bool {
        let cheap = f.len >= self.min_len
            && f.digits >= self.min_digits
            && f.upper >= self.min_upper
            && f.lower >= self.min_lower
            && f.digits + f.upper + f.lower >= self.min_alnum
            && f.present & self.required == self.required
            && self.any_of.iter().all(|m| f.present & m != 0)
            && self
                .counts
                .iter()
                .all(|&(b, n)| count_at_least(v, b, n as usize));
        if !cheap {
            return false;
        }
        if self.min_runs != [0; 3] || !self.pairs.is_empty() {
            let r = runs.get_or_insert_with(|| RunFeatures::scan(v));
            if r.runs
                .iter()
                .zip(&self.min_runs)
                .any(|(have, need)| have < need)
                || !self.pairs.iter().all(|m| r.pairs & m != 0)
            {
                return false;
            }
        }
        self.literal.as_ref().is_none_or(|l| l.find(v).is_some())
    }

    /// The condition of a pattern parsed in ASCII mode (see the module docs).
    pub fn derive(hir: &Hir) -> Self {
        let min_len = hir
            .properties()
            .minimum_len()
            .map_or(u32::MAX, |n| u32::try_from(n).unwrap_or(u32::MAX));
        let mut clauses = clauses(hir);
        clauses.sort_by_key(|m| (m.count_ones(), *m));
        clauses.dedup();
        // Drop a clause implied by a narrower one (a superset says nothing more).
        let mut kept: Vec<u128> = Vec::new();
        for c in clauses {
            if !kept.iter().any(|k| k & c == *k) && c.count_ones() <= MAX_CLAUSE_WIDTH {
                kept.push(c);
            }
        }
        let required = kept
            .iter()
            .filter(|m| m.count_ones() == 1)
            .fold(0u128, |a, m| a | m);
        let any_of: Vec<u128> = kept
            .iter()
            .copied()
            // A clause of 0 bytes (a non-ASCII literal) is unsatisfiable and stays: the pattern
            // cannot match an ASCII value at all.
            .filter(|m| m.count_ones() != 1)
            .take(MAX_CLAUSES)
            .collect();
        let mut counts: Vec<(u8, u32)> = (0u8..128)
            .filter(|b| required & (1u128 << b) != 0)
            .filter_map(|b| {
                let n = min_count(hir, 1u128 << b);
                (n >= 2).then_some((b, n))
            })
            .collect();
        counts.sort_by_key(|&(_, n)| std::cmp::Reverse(n));
        counts.truncate(MAX_COUNTS);
        let literal = required_literal(hir)
            .filter(|l| l.len() >= 2)
            .map(|l| memmem::Finder::new(&l).into_owned());
        Condition {
            min_len,
            min_digits: min_count(hir, digit_mask()),
            min_upper: min_count(hir, upper_mask()),
            min_lower: min_count(hir, lower_mask()),
            min_alnum: min_count(hir, digit_mask() | upper_mask() | lower_mask()),
            required,
            any_of,
            counts,
            literal,
            min_runs: [2, 3, 4].map(|k| closed_run_digits(&run_summary(hir, k), k)),
            pairs: pair_clauses(hir),
        }
    }
}

fn count_at_least(v: &[u8], b: u8, n: usize) -> bool {
    memchr::memchr_iter(b, v).nth(n.saturating_sub(1)).is_some()
}

/// The ASCII bytes a class can match (bytes >= 0x80 never occur in an ASCII value).
fn class_mask(c: &Class) -> u128 {
    let mut m = 0u128;
    match c {
        Class::Bytes(b) => {
            for r in b.ranges() {
                if r.start() < 0x80 {
                    m |= range_mask(r.start(), r.end().min(0x7f));
                }
            }
        }
        Class::Unicode(u) => {
            for r in u.ranges() {
                let (lo, hi) = (u32::from(r.start()), u32::from(r.end()));
                if lo < 0x80 {
                    m |= range_mask(lo as u8, hi.min(0x7f) as u8);
                }
            }
        }
    }
    m
}

/// The fewest bytes from `set` any match of `h` holds (on an ASCII haystack).
fn min_count(h: &Hir, set: u128) -> u32 {
    match h.kind() {
        HirKind::Empty | HirKind::Look(_) => 0,
        HirKind::Literal(l) => {
            l.0.iter()
                .filter(|&&b| b < 0x80 && set & (1u128 << b) != 0)
                .count() as u32
        }
        HirKind::Class(c) => {
            let m = class_mask(c);
            // An empty class (for ASCII) never matches: any bound holds; 1 is enough.
            u32::from(m & !set == 0)
        }
        HirKind::Repetition(r) => r.min.saturating_mul(min_count(&r.sub, set)),
        HirKind::Capture(c) => min_count(&c.sub, set),
        HirKind::Concat(subs) => subs
            .iter()
            .fold(0u32, |a, s| a.saturating_add(min_count(s, set))),
        HirKind::Alternation(alts) => alts.iter().map(|s| min_count(s, set)).min().unwrap_or(0),
    }
}

/// Byte sets of which every match holds at least one byte each (a conjunction of clauses).
fn clauses(h: &Hir) -> Vec<u128> {
    match h.kind() {
        HirKind::Empty | HirKind::Look(_) => Vec::new(),
        // A byte outside ASCII can never match an ASCII value: the clause 0 is unsatisfiable,
        // which is exactly right.
        HirKind::Literal(l) => {
            l.0.iter()
                .map(|&b| if b < 0x80 { 1u128 << b } else { 0 })
                .collect()
        }
        HirKind::Class(c) => vec![class_mask(c)],
        HirKind::Repetition(r) if r.min >= 1 => clauses(&r.sub),
        HirKind::Repetition(_) => Vec::new(),
        HirKind::Capture(c) => clauses(&c.sub),
        HirKind::Concat(subs) => subs.iter().flat_map(clauses).collect(),
        HirKind::Alternation(alts) => {
            // Clauses every alternative has hold as they are (`AKIA|ASIA` is `A(?:KI|SI)A`:
            // both need `I`); beyond those, the union of each alternative's narrowest clause.
            let each: Vec<Vec<u128>> = alts.iter().map(clauses).collect();
            let mut out: Vec<u128> = each
                .first()
                .map(|first| {
                    first
                        .iter()
                        .copied()
                        .filter(|c| each.iter().all(|o| o.contains(c)))
                        .collect()
                })
                .unwrap_or_default();
            let mut union = 0u128;
            for cs in &each {
                match cs.iter().copied().min_by_key(|m| m.count_ones()) {
                    Some(m) => union |= m,
                    None => return out,
                }
            }
            out.push(union);
            out
        }
    }
}

/// How a sub-pattern's matches look in terms of digit runs, for runs of at least `k` digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Runs {
    /// Every match is digits only, at least this many (zero-width nodes are `All(0)`).
    All(u32),
    /// Every match starts with at least `pre` digits and ends with at least `suf` (disjoint
    /// from each other), with at least `inner` digits in runs of `k`+ strictly between.
    Split { pre: u32, inner: u32, suf: u32 },
    /// Nothing known; it may or may not break a run (treated as a break, which can only
    /// undercount).
    Opaque,
}

fn run_summary(h: &Hir, k: u32) -> Runs {
    let digit = digit_mask();
    let closed = |n: u32| if n >= k { n } else { 0 };
    match h.kind() {
        HirKind::Empty | HirKind::Look(_) => Runs::All(0),
        HirKind::Literal(l) => {
            let b = &l.0;
            let is_d = |x: &u8| x.is_ascii_digit();
            if b.iter().all(is_d) {
                return Runs::All(b.len() as u32);
            }
            let pre = b.iter().take_while(|x| is_d(x)).count();
            let suf = b.iter().rev().take_while(|x| is_d(x)).count();
            let mut inner = 0;
            let mut run = 0;
            for x in &b[pre..b.len() - suf] {
                if is_d(x) {
                    run += 1;
                } else {
                    inner += closed(run);
                    run = 0;
                }
            }
            inner += closed(run);
            Runs::Split {
                pre: pre as u32,
                inner,
                suf: suf as u32,
            }
        }
        HirKind::Class(c) => {
            let m = class_mask(c);
            if m != 0 && m & !digit == 0 {
                Runs::All(1)
            } else if m & digit == 0 {
                Runs::Split {
                    pre: 0,
                    inner: 0,
                    suf: 0,
                }
            } else {
                Runs::Opaque
            }
        }
        HirKind::Capture(c) => run_summary(&c.sub, k),
        HirKind::Repetition(r) => match run_summary(&r.sub, k) {
            Runs::All(m) => Runs::All(r.min.saturating_mul(m)),
            Runs::Split { pre, inner, suf } if r.min >= 1 => {
                let joins = r.min - 1;
                Runs::Split {
                    pre,
                    inner: inner
                        .saturating_mul(r.min)
                        .saturating_add(joins.saturating_mul(closed(suf.saturating_add(pre)))),
                    suf,
                }
            }
            _ => Runs::Opaque,
        },
        HirKind::Concat(subs) => {
            // Fold left to right: `open` is the digit run still open at the right edge.
            let mut head: Option<u32> = None; // the leading run, once closed by a split
            let mut inner = 0u32;
            let mut open = 0u32;
            for s in subs {
                match run_summary(s, k) {
                    Runs::All(m) => open = open.saturating_add(m),
                    Runs::Split { pre, inner: i, suf } => {
                        let run = open.saturating_add(pre);
                        match head {
                            None => head = Some(run),
                            Some(_) => inner = inner.saturating_add(closed(run)),
                        }
                        inner = inner.saturating_add(i);
                        open = suf;
                    }
                    Runs::Opaque => {
                        match head {
                            None => head = Some(open),
                            Some(_) => inner = inner.saturating_add(closed(open)),
                        }
                        open = 0;
                    }
                }
            }
            match head {
                None => Runs::All(open),
                Some(pre) => Runs::Split {
                    pre,
                    inner,
                    suf: open,
                },
            }
        }
        HirKind::Alternation(alts) => {
            let each: Vec<Runs> = alts.iter().map(|a| run_summary(a, k)).collect();
            if let Some(min) = each
                .iter()
                .map(|r| match r {
                    Runs::All(m) => Some(*m),
                    _ => None,
                })
                .collect::<Option<Vec<u32>>>()
                .and_then(|v| v.into_iter().min())
            {
                return Runs::All(min);
            }
            let splits: Option<Vec<(u32, u32, u32)>> = each
                .iter()
                .map(|r| match r {
                    Runs::Split { pre, inner, suf } => Some((*pre, *inner, *suf)),
                    _ => None,
                })
                .collect();
            match splits {
                Some(v) if !v.is_empty() => Runs::Split {
                    pre: v.iter().map(|x| x.0).min().unwrap_or(0),
                    inner: v.iter().map(|x| x.1).min().unwrap_or(0),
                    suf: v.iter().map(|x| x.2).min().unwrap_or(0),
                },
                // Mixed: a lower bound of the runs each alternative closes on its own.
                _ => {
                    let least = each
                        .iter()
                        .map(|r| closed_run_digits(r, k))
                        .min()
                        .unwrap_or(0);
                    Runs::Split {
                        pre: 0,
                        inner: least,
                        suf: 0,
                    }
                }
            }
        }
    }
}

/// Digits in runs of `k`+ that a match holds by itself (its edges closing its runs).
fn closed_run_digits(r: &Runs, k: u32) -> u32 {
    let closed = |n: u32| if n >= k { n } else { 0 };
    match *r {
        Runs::All(m) => closed(m),
        Runs::Split { pre, inner, suf } => closed(pre)
            .saturating_add(inner)
            .saturating_add(closed(suf)),
        Runs::Opaque => 0,
    }
}

/// Alphabet classes (bit per [`ALPHABET`] class) of a byte set.
fn alphabet_of(mask: u128) -> u16 {
    (0u8..128)
        .filter(|b| mask & (1u128 << b) != 0)
        .fold(0u16, |a, b| a | (1 << ALPH[usize::from(b)]))
}

/// All pairs (a, b) with a in `last`, b in `first`, as a pair mask.
fn pair_mask(last: u16, first: u16) -> u128 {
    let mut m = 0u128;
    for a in 0..ALPHABET {
        for b in 0..ALPHABET {
            if last & (1 << a) != 0 && first & (1 << b) != 0 {
                m |= 1u128 << (a * ALPHABET + b);
            }
        }
    }
    m
}

/// How a sub-pattern's matches begin and end, for adjacent pairs.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Edges {
    /// Zero-width (looks, empty): transparent between its neighbours.
    Zero,
    /// At least one byte: the classes the first and last byte can have, and pair clauses
    /// every match satisfies inside.
    Bytes {
        first: u16,
        last: u16,
        clauses: Vec<u128>,
    },
    /// May be empty or is not understood: breaks adjacency, says nothing.
    Opaque(Vec<u128>),
}

fn edges(h: &Hir) -> Edges {
    match h.kind() {
        HirKind::Empty | HirKind::Look(_) => Edges::Zero,
        HirKind::Literal(l) => {
            let b = &l.0;
            let cls = |x: u8| 1u16 << ALPH[usize::from(x & 0x7f)];
            match (b.first(), b.last()) {
                (Some(&f), Some(&z)) => Edges::Bytes {
                    first: cls(f),
                    last: cls(z),
                    clauses: b
                        .windows(2)
                        .map(|w| pair_mask(cls(w[0]), cls(w[1])))
                        .collect(),
                },
                _ => Edges::Zero,
            }
        }
        HirKind::Class(c) => {
            let a = alphabet_of(class_mask(c));
            Edges::Bytes {
                first: a,
                last: a,
                clauses: Vec::new(),
            }
        }
        HirKind::Capture(c) => edges(&c.sub),
        HirKind::Repetition(r) => match edges(&r.sub) {
            Edges::Bytes {
                first,
                last,
                mut clauses,
            } if r.min >= 1 => {
                if r.min >= 2 {
                    clauses.push(pair_mask(last, first));
                }
                Edges::Bytes {
                    first,
                    last,
                    clauses,
                }
            }
            Edges::Zero => Edges::Zero,
            Edges::Bytes { clauses, .. } | Edges::Opaque(clauses) if r.min >= 1 => {
                Edges::Opaque(clauses)
            }
            _ => Edges::Opaque(Vec::new()),
        },
        HirKind::Concat(subs) => {
            let mut clauses = Vec::new();
            let mut first: Option<Option<u16>> = None; // Some(None): starts opaque
            let mut prev_last: Option<u16> = None; // last classes of the previous byte-node
            for s in subs {
                match edges(s) {
                    Edges::Zero => {}
                    Edges::Bytes {
                        first: f,
                        last,
                        clauses: c,
                    } => {
                        if let Some(l) = prev_last {
                            clauses.push(pair_mask(l, f));
                        }
                        first.get_or_insert(Some(f));
                        clauses.extend(c);
                        prev_last = Some(last);
                    }
                    Edges::Opaque(c) => {
                        first.get_or_insert(None);
                        clauses.extend(c);
                        prev_last = None;
                    }
                }
            }
            match (first, prev_last) {
                (None, _) => Edges::Zero,
                (Some(Some(f)), Some(l)) => Edges::Bytes {
                    first: f,
                    last: l,
                    clauses,
                },
                _ => Edges::Opaque(clauses),
            }
        }
        HirKind::Alternation(alts) => {
            let each: Vec<Edges> = alts.iter().map(edges).collect();
            let clause_list = |e: &Edges| match e {
                Edges::Zero => Vec::new(),
                Edges::Bytes { clauses, .. } | Edges::Opaque(clauses) => clauses.clone(),
            };
            let lists: Vec<Vec<u128>> = each.iter().map(clause_list).collect();
            let common: Vec<u128> = lists
                .first()
                .map(|f| {
                    f.iter()
                        .copied()
                        .filter(|c| lists.iter().all(|l| l.contains(c)))
                        .collect()
                })
                .unwrap_or_default();
            let mut first = 0u16;
            let mut last = 0u16;
            for e in &each {
                match e {
                    Edges::Bytes {
                        first: f, last: l, ..
                    } => {
                        first |= f;
                        last |= l;
                    }
                    _ => return Edges::Opaque(common),
                }
            }
            Edges::Bytes {
                first,
                last,
                clauses: common,
            }
        }
    }
}

/// Most pair clauses kept per pattern, and the widest worth checking.
const MAX_PAIR_CLAUSES: usize = 6;
const MAX_PAIR_WIDTH: u32 = 30;

/// Adjacent-pair clauses every match satisfies (narrowest first).
fn pair_clauses(h: &Hir) -> Vec<u128> {
    let mut all = match edges(h) {
        Edges::Zero => Vec::new(),
        Edges::Bytes { clauses, .. } | Edges::Opaque(clauses) => clauses,
    };
    all.retain(|m| m.count_ones() <= MAX_PAIR_WIDTH);
    all.sort_by_key(|m| (m.count_ones(), *m));
    all.dedup();
    let mut kept: Vec<u128> = Vec::new();
    for c in all {
        if !kept.iter().any(|k| k & c == *k) {
            kept.push(c);
        }
    }
    kept.truncate(MAX_PAIR_CLAUSES);
    kept
}

/// The longest literal that every match contains, found along the required spine of the
/// pattern (concatenations, captures, repetitions of at least one).
pub(crate) fn required_literal(h: &Hir) -> Option<Vec<u8>> {
    let mut all = Vec::new();
    spine_literals(h, &mut all);
    all.into_iter().max_by_key(Vec::len)
}

fn spine_literals(h: &Hir, out: &mut Vec<Vec<u8>>) {
    match h.kind() {
        HirKind::Literal(l) => out.push(l.0.to_vec()),
        HirKind::Capture(c) => spine_literals(&c.sub, out),
        HirKind::Repetition(r) if r.min >= 1 => spine_literals(&r.sub, out),
        HirKind::Concat(subs) => {
            let mut run: Vec<u8> = Vec::new();
            for s in subs {
                if let HirKind::Literal(l) = s.kind() {
                    run.extend_from_slice(&l.0);
                    continue;
                }
                if !run.is_empty() {
                    out.push(std::mem::take(&mut run));
                }
                spine_literals(s, out);
            }
            if !run.is_empty() {
                out.push(run);
            }
        }
        _ => {}
    }
}

/// The sub-tree of the capture group named `name`, if the pattern has one.
pub(crate) fn named_group<'h>(h: &'h Hir, name: &str) -> Option<&'h Hir> {
    match h.kind() {
        HirKind::Capture(c) if c.name.as_deref() == Some(name) => Some(&c.sub),
        HirKind::Capture(c) => named_group(&c.sub, name),
        HirKind::Repetition(r) => named_group(&r.sub, name),
        HirKind::Concat(subs) | HirKind::Alternation(subs) => {
            subs.iter().find_map(|s| named_group(s, name))
        }
        _ => None,
    }
}

/// Parse `pattern` the way the classifier compiles its ASCII form.
pub(crate) fn parse_ascii(pattern: &str) -> Option<Hir> {
    regex_syntax::ParserBuilder::new()
        .unicode(false)
        .utf8(false)
        .build()
        .parse(pattern)
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cond(p: &str) -> Condition {
        match parse_ascii(p) {
            Some(h) => Condition::derive(&h),
            None => panic!("{p} does not parse"),
        }
    }

    fn admits(p: &str, v: &str) -> bool {
        cond(p).admits(&ValueFeatures::scan(v.as_bytes()), v.as_bytes(), &mut None)
    }

    #[test]
    fn features_count_one_pass() {
        let f = ValueFeatures::scan(b"Ab1-2@");
        assert_eq!((f.len, f.digits, f.upper, f.lower), (6, 2, 1, 1));
        assert!(f.present & (1u128 << b'@') != 0);
        assert!(f.present & (1u128 << b'+') == 0);
        assert!(!f.non_ascii);
        assert!(ValueFeatures::scan("é".as_bytes()).non_ascii);
    }

    #[test]
    fn conditions_come_from_the_pattern() {
        let email = r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?\.[A-Za-z]{2,24}\b";
        assert!(admits(email, "jane@example.com"));
        assert!(!admits(email, "jane.example.com"), "no @");
        let c = cond(email);
        assert_eq!(c.required & (1u128 << b'@'), 1u128 << b'@');
        let ssn = r"\b[0-9]{3}-[0-9]{2}-[0-9]{4}\b";
        assert_eq!(cond(ssn).min_digits, 9);
        assert!(cond(ssn).counts.contains(&(b'-', 2)));
        assert!(!admits(ssn, "12-3456789"), "one dash");
        assert!(!admits(ssn, "2024-01-1"), "8 digits");
        let jwt = r"(?:^|[^A-Za-z0-9_-])(?P<v>eyJ[A-Za-z0-9_-]{4,}={0,2}\.[A-Za-z0-9_-]+={0,2}\.[A-Za-z0-9_-]*={0,2})";
        assert!(!admits(jwt, "yJe.a.b c"), "no eyJ literal");
        assert!(admits(jwt, "eyJabcd.e.f"));
        let pan = r"(?:^|[^+\w])(?P<v>\d{4}[ -]\d{4}[ -]\d{4}[ -]\d{4}(?:[ -]\d{3})?|\d{4}[ -]\d{6}[ -]\d{4,5}|\d{12,19})\b";
        assert_eq!(cond(pan).min_digits, 12);
        assert!(!admits(pan, "123.45"));
        let bearer = r"(?i)^bearer\s+(?P<v>[A-Za-z0-9._~+/-]{8,}=*)$";
        assert!(admits(bearer, "Bearer abcdefgh"));
        assert!(admits(bearer, "BEARER abcdefgh"));
        assert!(!admits(bearer, "Basic abcdefgh"), "no r");
        // Alternations: AKIA|ASIA both need A and I.
        let aws = r"(?:^|[^A-Za-z0-9])(?P<v>(?:AKIA|ASIA)[0-9A-Z]{16})(?:$|[^A-Za-z0-9])";
        assert!(!admits(aws, "AKXA0123456789ABCDEF"));
        assert_eq!(cond(aws).min_alnum, 20);
    }

    #[test]
    fn underivable_parts_only_weaken_the_condition() {
        // (?s)^.+$ says: at least one byte.
        let c = cond(r"(?s)^.+$");
        assert_eq!(c.min_len, 1);
        assert!(c.admits(&ValueFeatures::scan(b"x"), b"x", &mut None));
        // Optional parts add nothing.
        assert!(admits(r"a?b*c{0,3}", ""));
        assert!(Condition::always().admits(&ValueFeatures::scan(b""), b"", &mut None));
    }

    #[test]
    fn literals_along_the_spine() {
        let pk = r"(?P<v>-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----(?s:.*?)(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----|$))";
        let Some(h) = parse_ascii(pk) else {
            panic!("parse")
        };
        assert_eq!(
            required_literal(&h).as_deref(),
            Some(&b"PRIVATE KEY-----"[..])
        );
        assert!(named_group(&h, "v").is_some());
        assert!(named_group(&h, "w").is_none());
    }
}
