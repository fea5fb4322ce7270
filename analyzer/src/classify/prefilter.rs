//! A body prefilter for rare sensitive data: does a body the engine did *not* walk carry a
//! context-free data class at all?
//!
//! [`BodyScan`] is fed a body's raw bytes in pieces of any size ([`BodyScan::push`]) and says,
//! at [`BodyScan::finish`], which classes it saw as a [`ClassSet`]. The engine walks a skipped
//! body anyway when a class appears that the endpoint has not shown before. So the scan must
//! (a) find every token of a context-free class that the classifier would find in a JSON value,
//! (b) stay quiet on ordinary JSON (amounts, ISO dates and timestamps, epoch milliseconds,
//! 8-digit account numbers, UUIDs, bare sort codes): a false light only costs a walk, and
//! (c) run at several GB/s, so it never looks at most bytes twice.
//!
//! How: three cheap passes find *triggers*, and only triggers are looked at closely.
//!
//! - **Digit shapes** (card numbers, IBANs, US SSNs, UK NINOs, sort code + account): one SWAR
//!   pass turns every 8 bytes into 8 digit bits; bit-parallel tests over the last 64 bytes find
//!   positions where a run of 8+ digits starts, two 4-digit groups, `ddd-dd-dddd`,
//!   `dd-dd-dd` + account, `AB 12 34 56 C` or a 6-digit run after two letters (the letters are
//!   checked later). Dates, times, amounts and short ids do not have these shapes.
//! - **`@` and `+`** (emails, international phone numbers): `memchr2`.
//! - **Literal anchors** (`eyJ` of a JWT, `-----BEGIN ` of a PEM key, provider key prefixes
//!   such as `sk_live_`, and any custom pattern's prefix literal of 3+ bytes): one byte regex
//!   over the literal alternation (a vectorised literal search).
//!
//! A trigger takes a window around it (at most [`BACK`] bytes before, [`FWD`] from it, cut at
//! JSON string delimiters) and, after a structural precheck with the validators (a card-scheme
//! prefix, an IBAN start, two letters before a NINO's digits...), classifies that window with
//! the classifier's own rules (body place, no field hints) and lights the classes found. A JWT
//! is judged on its header (decoded, with `alg`), since the whole token rarely fits the window.
//!
//! Which classes can be lit ([`Classifier::prefilter_classes`]): classes allowed in bodies
//! with at least one pattern without `requires_hint`, whose validator is one of the shapes
//! above (`luhn_card`, `iban_mod97`, `us_ssn`, `uk_nino`, `uk_sort_code_account`, `email`,
//! `e164_phone`, `jwt`) or whose pattern starts with a literal of 3+ bytes (the prefix literals
//! are derived from the regex). Other classes, e.g. a custom class of bare 10-digit references,
//! are never lit: they are found only in bodies the engine walks (`rules/README.md` says so
//! too).
//!
//! Limits (over-approximations cost a walk; misses are the documented cases): a token written
//! with JSON `\u` escapes inside it is not recognised; an email whose local part exceeds
//! [`EMAIL_BACK`] bytes or whose domain exceeds [`FWD`] bytes may be missed; a NINO is
//! recognised written `AB123456C` or `AB 12 34 56 C`; a base64url run of [`FWD`]+ bytes
//! starting `eyJ` that decodes to a JSON object lights `jwt` even without dots.
//!
//! Privacy: the scan keeps class bits, counters, the digit/non-digit pattern of the last 64
//! bytes and a seam of at most [`SEAM`] raw bytes (the body's tail, so a token split across two
//! pieces is still seen). The seam lives only for the duration of the scan: [`BodyScan::finish`]
//! zeroes it. Windows are stack copies that do not outlive a trigger.

use super::validators::{self, Validator};
use super::{features, ClassId, ClassSet, Classifier, FieldHints, PlaceKind};
use base64::Engine as _;
use regex_syntax::hir::literal::{ExtractKind, Extractor};

/// Raw bytes of the body kept between pieces: enough for any trigger window. A digit shape is
/// tested at most 59 positions after it starts (see `BAND_TOP`) and looks [`BACK`] bytes
/// before it (83 in all); a trigger whose window is not complete waits for the next piece,
/// needing at most [`EMAIL_BACK`] + [`FWD`] bytes (88).
pub const SEAM: usize = 96;
/// Window bytes before a trigger (an IBAN's country code before its first long digit run, a
/// card number's leading context).
pub const BACK: usize = 24;
/// Window bytes from a trigger on (a printed IBAN is at most 42 bytes).
pub const FWD: usize = 48;
/// Window bytes before an `@` (an email's local part).
pub const EMAIL_BACK: usize = 40;
/// The digit history holds 64 positions (bit 63 the newest). A position is tested once it sits
/// below `BAND_TOP`: 18 positions of lookahead (the longest shape test, a sort code's account)
/// and at least 3 of lookbehind remain around it.
const BAND_TOP: u32 = 45;
/// Positions shifted per step of the fast loop (five words); tested as one band.
const BLOCK: u32 = 40;
/// Partial steps (piece edges, the end of a body) test a band once this many positions are in.
const STEP_AT: u32 = 24;
/// Triggers waiting for the rest of their window (the next piece).
const MAX_PENDING: usize = 64;
/// Longest literal anchor kept (longer prefixes are cut to this).
const MAX_ANCHOR: usize = 32;
/// Most prefix literals taken from one pattern.
const MAX_LITERALS: usize = 32;

/// What kind of trigger a position is (bit flags: one position can be several digit shapes).
type Kinds = u16;
const RUN8: Kinds = 1;
const GROUP4: Kinds = 1 << 1;
const SSN: Kinds = 1 << 2;
const SORT: Kinds = 1 << 3;
const NINO_SPACED: Kinds = 1 << 4;
const SIX: Kinds = 1 << 5;
const AT: Kinds = 1 << 6;
const PLUS: Kinds = 1 << 7;
const LITERAL: Kinds = 1 << 8;
const JWT: Kinds = 1 << 9;

/// What the prefilter needs from a classifier, derived once when the rules are compiled.
#[derive(Debug, Clone, Default)]
pub(crate) struct Plan {
    /// Classes a scan may light.
    understood: ClassSet,
    /// Classes lit by the JWT header check.
    jwt: ClassSet,
    /// The classes each trigger family is for (by validator), and the literal-anchored ones.
    card: ClassSet,
    iban: ClassSet,
    ssn: ClassSet,
    nino: ClassSet,
    sort: ClassSet,
    email: ClassSet,
    phone: ClassSet,
    anchored: ClassSet,
    /// Per kind bit, the classes a trigger of that kind is for.
    kind_targets: [ClassSet; 10],
    /// `eyJ` is also the anchor of a class that is not judged by the JWT check.
    eyj_anchor: bool,
    /// Digit shapes are looked for at all.
    digits: bool,
    /// The alternation of every literal anchor (and `eyJ` when `jwt` is non-empty).
    literals: Option<aho_corasick::AhoCorasick>,
    /// Longest literal anchor (a literal split across pieces is found in a join of this size).
    max_literal: usize,
}

impl Plan {
    pub(crate) fn build(c: &Classifier) -> Plan {
        let mut plan = Plan::default();
        let mut anchors: Vec<Vec<u8>> = Vec::new();
        for (ci, class) in c.classes.iter().enumerate() {
            let id = ClassId(ci as u16);
            if !class.places.contains(PlaceKind::Body.bit()) {
                continue;
            }
            let free: Vec<&super::rules::Pattern> =
                class.patterns.iter().filter(|p| !p.requires_hint).collect();
            if free.is_empty() {
                continue;
            }
            let family = match class.validator {
                Validator::LuhnCard => Some(&mut plan.card),
                Validator::IbanMod97 => Some(&mut plan.iban),
                Validator::UsSsn => Some(&mut plan.ssn),
                Validator::UkNino => Some(&mut plan.nino),
                Validator::UkSortCodeAccount => Some(&mut plan.sort),
                Validator::Email => Some(&mut plan.email),
                Validator::E164Phone => Some(&mut plan.phone),
                Validator::Jwt => Some(&mut plan.jwt),
                _ => None,
            };
            let family = family.map(|set| set.insert(id)).is_some();
            let mut anchored = false;
            if class.validator != Validator::Jwt {
                for p in &free {
                    if let Some(lits) = prefix_literals(&p.source) {
                        plan.eyj_anchor |= lits.iter().any(|l| l.starts_with(b"eyJ"));
                        anchors.extend(lits);
                        anchored = true;
                    }
                }
            }
            if anchored {
                plan.anchored.insert(id);
            }
            if family || anchored {
                plan.understood.insert(id);
            }
        }
        plan.digits = !plan
            .card
            .union(plan.iban)
            .union(plan.ssn)
            .union(plan.nino)
            .union(plan.sort)
            .is_empty();
        if !plan.jwt.is_empty() {
            anchors.push(b"eyJ".to_vec());
        }
        // Anchors are prefixes: a shorter one finds the same places (and fits the seam join).
        for a in &mut anchors {
            a.truncate(MAX_ANCHOR);
        }
        anchors.sort();
        anchors.dedup();
        plan.index_targets();
        plan.max_literal = anchors.iter().map(Vec::len).max().unwrap_or(0);
        if !anchors.is_empty() {
            // Leftmost-first in sorted order: the same matches as the alternation regex of
            // these literals, without a regex search's per-call setup (heads are many short
            // pushes).
            plan.literals = aho_corasick::AhoCorasick::builder()
                .match_kind(aho_corasick::MatchKind::LeftmostFirst)
                .build(&anchors)
                .ok();
        }
        plan
    }

    /// The classes a scan can light under this rule set.
    pub(crate) fn understood(&self) -> ClassSet {
        self.understood
    }
}

/// The literals every match of `source` (its `v` group, when it has one) starts with, when
/// there are few and each has at least 3 bytes: `sk_live_`..., `AKIA`/`ASIA`, `-----BEGIN `.
fn prefix_literals(source: &str) -> Option<Vec<Vec<u8>>> {
    let hir = features::parse_ascii(source)?;
    let target = features::named_group(&hir, "v").unwrap_or(&hir);
    let seq = Extractor::new().kind(ExtractKind::Prefix).extract(target);
    let usable = |lits: &[regex_syntax::hir::literal::Literal]| {
        !lits.is_empty() && lits.len() <= MAX_LITERALS && lits.iter().all(|l| l.len() >= 3)
    };
    if let Some(lits) = seq.literals() {
        if usable(lits) {
            return Some(lits.iter().map(|l| l.as_bytes().to_vec()).collect());
        }
        // Too many (a literal followed by a small class): shorten to a common head.
        let longest = lits.iter().map(|l| l.len()).max().unwrap_or(0);
        for keep in (3..longest).rev() {
            let mut short = seq.clone();
            short.keep_first_bytes(keep);
            short.dedup();
            if let Some(l) = short.literals() {
                if usable(l) {
                    return Some(l.iter().map(|l| l.as_bytes().to_vec()).collect());
                }
            }
        }
    }
    None
}

/// A scan of one body: feed it the body's bytes with [`BodyScan::push`] (pieces of any size, in
/// order), then call [`BodyScan::finish`] for the classes seen.
#[derive(Debug, Clone)]
pub struct BodyScan {
    lit: ClassSet,
    /// Bytes pushed so far.
    consumed: u64,
    /// Digit bits of the last 64 positions shifted in (bit 63 = newest).
    digits: u64,
    /// Positions shifted into `digits` (bytes, plus padding at finish).
    shifted: u64,
    /// Positions shifted in since the last band test.
    since: u32,
    /// The last bytes of the body (at most [`SEAM`]); zeroed at finish.
    seam: [u8; SEAM],
    seam_len: usize,
    /// Triggers whose window is not complete yet: (absolute position, kinds).
    pending: Vec<(u64, Kinds)>,
    finished: bool,
}

impl Default for BodyScan {
    fn default() -> Self {
        BodyScan::new()
    }
}

/// The bytes available to a trigger window: the seam (the body before this piece) and the
/// piece, as absolute positions.
struct Avail<'a> {
    seam: &'a [u8],
    piece: &'a [u8],
    /// Absolute position of `piece[0]` (= end of the seam).
    base: u64,
    /// No byte follows the piece.
    last: bool,
}

impl Avail<'_> {
    fn start(&self) -> u64 {
        self.base - self.seam.len() as u64
    }

    fn end(&self) -> u64 {
        self.base + self.piece.len() as u64
    }

    fn byte(&self, abs: u64) -> Option<u8> {
        if abs >= self.base {
            self.piece.get((abs - self.base) as usize).copied()
        } else {
            abs.checked_sub(self.start())
                .and_then(|i| self.seam.get(i as usize).copied())
        }
    }

    /// Copy `[lo, hi)` (within `start()..end()`) into `buf`; returns the length.
    fn copy(&self, lo: u64, hi: u64, buf: &mut [u8]) -> usize {
        let mut n = 0;
        for abs in lo..hi {
            let b = if abs < self.base {
                self.seam[(abs - self.start()) as usize]
            } else {
                self.piece[(abs - self.base) as usize]
            };
            if let Some(slot) = buf.get_mut(n) {
                *slot = b;
                n += 1;
            }
        }
        n
    }
}

impl BodyScan {
    pub fn new() -> BodyScan {
        BodyScan {
            lit: ClassSet::EMPTY,
            consumed: 0,
            digits: 0,
            shifted: 0,
            since: 0,
            seam: [0; SEAM],
            seam_len: 0,
            pending: Vec::new(),
            finished: false,
        }
    }

    /// A scan that takes `known` as lit already: triggers that could only light known classes
    /// are dropped unexamined, and [`BodyScan::finish`] returns `known` plus what is new.
    pub fn seeded(known: ClassSet) -> BodyScan {
        BodyScan {
            lit: known,
            ..BodyScan::new()
        }
    }

    /// Start over for another body, as [`BodyScan::seeded`] with `known`, keeping the
    /// allocation of the pending triggers.
    pub fn restart(&mut self, known: ClassSet) {
        let mut pending = std::mem::take(&mut self.pending);
        pending.clear();
        *self = BodyScan {
            pending,
            ..BodyScan::seeded(known)
        };
    }

    /// The classes lit so far. Triggers near the end of the bytes pushed so far are settled by
    /// the next push or by [`BodyScan::finish`].
    pub fn classes(&self) -> ClassSet {
        self.lit
    }

    /// Scan the next piece of the body. Pieces after [`BodyScan::finish`] are ignored.
    pub fn push(&mut self, c: &Classifier, bytes: &[u8]) {
        if self.finished || bytes.is_empty() {
            return;
        }
        let plan = &c.prefilter;
        let seam = self.seam;
        let avail = Avail {
            seam: &seam[..self.seam_len],
            piece: bytes,
            base: self.consumed,
            last: false,
        };
        if !self.all_lit(plan) {
            self.settle_pending(c, &avail);
            self.literal_triggers(c, &avail);
            self.rare_byte_triggers(c, &avail);
            let digit_classes = plan.targets(RUN8 | GROUP4 | SSN | SORT | SIX);
            if plan.digits && !digit_classes.difference(self.lit).is_empty() {
                self.digit_triggers(c, &avail);
            } else {
                // Nothing left to find by digits: keep the position only.
                self.shifted += bytes.len() as u64;
            }
        }
        self.consumed += bytes.len() as u64;
        // Keep the body's tail: the last SEAM bytes of seam ++ piece.
        if bytes.len() >= SEAM {
            self.seam.copy_from_slice(&bytes[bytes.len() - SEAM..]);
            self.seam_len = SEAM;
        } else {
            let keep = (SEAM - bytes.len()).min(self.seam_len);
            self.seam
                .copy_within(self.seam_len - keep..self.seam_len, 0);
            self.seam[keep..keep + bytes.len()].copy_from_slice(bytes);
            self.seam_len = keep + bytes.len();
        }
    }

    /// Settle every trigger with the end of the body, zero the seam and return the classes
    /// seen.
    pub fn finish(&mut self, c: &Classifier) -> ClassSet {
        if !self.finished {
            let seam = self.seam;
            let avail = Avail {
                seam: &seam[..self.seam_len],
                piece: &[],
                base: self.consumed,
                last: true,
            };
            if c.prefilter.digits && self.digits != 0 {
                // Non-digits after the end: every position still in flight is tested (with no
                // digit in flight, no shape can start).
                let mut flushed = 0;
                while flushed < 64 {
                    let n = BLOCK - self.since;
                    self.shift(c, &avail, n, 0);
                    flushed += n;
                }
            }
            self.settle_pending(c, &avail);
            self.finished = true;
        }
        self.seam = [0; SEAM];
        self.seam_len = 0;
        self.digits = 0;
        self.pending.clear();
        self.lit
    }

    fn all_lit(&self, plan: &Plan) -> bool {
        plan.understood.difference(self.lit).is_empty()
    }

    fn settle_pending(&mut self, c: &Classifier, avail: &Avail<'_>) {
        if self.pending.is_empty() {
            return;
        }
        let pending = std::mem::take(&mut self.pending);
        for (abs, kinds) in pending {
            self.trigger(c, avail, abs, kinds);
        }
    }

    /// Literal anchors in the piece, and those split between the seam and the piece.
    fn literal_triggers(&mut self, c: &Classifier, avail: &Avail<'_>) {
        let Some(re) = &c.prefilter.literals else {
            return;
        };
        let overlap = c.prefilter.max_literal.saturating_sub(1);
        if overlap > 0 && !avail.seam.is_empty() {
            let head = avail.seam.len().min(overlap);
            let tail = avail.piece.len().min(overlap);
            let mut join = [0u8; 64];
            if head + tail <= join.len() {
                join[..head].copy_from_slice(&avail.seam[avail.seam.len() - head..]);
                join[head..head + tail].copy_from_slice(&avail.piece[..tail]);
                let join = &join[..head + tail];
                for m in re.find_iter(join) {
                    if m.start() < head && m.end() > head {
                        let abs = avail.base - (head - m.start()) as u64;
                        let kinds = literal_kind(&c.prefilter, &join[m.range()]);
                        self.trigger(c, avail, abs, kinds);
                    }
                }
            }
        }
        for m in re.find_iter(avail.piece) {
            let kinds = literal_kind(&c.prefilter, &avail.piece[m.range()]);
            self.trigger(c, avail, avail.base + m.start() as u64, kinds);
        }
    }

    /// `@` (emails) and `+` (international phone numbers).
    fn rare_byte_triggers(&mut self, c: &Classifier, avail: &Avail<'_>) {
        let plan = &c.prefilter;
        let (at, plus) = match (!plan.email.is_empty(), !plan.phone.is_empty()) {
            (false, false) => return,
            (true, false) => (b'@', b'@'),
            (false, true) => (b'+', b'+'),
            (true, true) => (b'@', b'+'),
        };
        for i in memchr::memchr2_iter(at, plus, avail.piece) {
            let kinds = if avail.piece[i] == b'@' { AT } else { PLUS };
            // `+0...` (a UTC offset) is never an E.164 number: skip without a window.
            if kinds == PLUS
                && avail
                    .piece
                    .get(i + 1)
                    .is_some_and(|b| !(b'1'..=b'9').contains(b))
            {
                continue;
            }
            self.trigger(c, avail, avail.base + i as u64, kinds);
        }
    }

    /// The digit pass over the piece: [`BLOCK`] bytes per step, then one test of the
    /// [`BLOCK`] positions that now have enough lookahead. The piece's first bytes complete
    /// the previous piece's partial band, its last bytes start the next one.
    fn digit_triggers(&mut self, c: &Classifier, avail: &Avail<'_>) {
        let piece = avail.piece;
        let mut i = 0;
        if self.since != 0 {
            let n = (BLOCK - self.since).min(piece.len() as u32);
            self.shift_bytes(c, avail, &piece[..n as usize]);
            i = n as usize;
        }
        let mut blocks = piece[i..].chunks_exact(BLOCK as usize);
        // The history and position live in registers through the loop.
        let mut digits = self.digits;
        let mut shifted = self.shifted;
        let band = ((1u64 << BLOCK) - 1) << (BAND_TOP - BLOCK);
        for block in &mut blocks {
            let bits = digit_mask32(block) | digit_bits(load(&block[32..])) << 32;
            digits = (digits >> BLOCK) | (bits << (64 - BLOCK));
            shifted += u64::from(BLOCK);
            let hits = shapes(digits, band);
            if hits != 0 {
                self.digits = digits;
                self.shifted = shifted;
                self.fire(c, avail, hits);
            }
        }
        self.digits = digits;
        self.shifted = shifted;
        let rest = blocks.remainder();
        if !rest.is_empty() {
            self.shift_bytes(c, avail, rest);
        }
    }

    /// Shift the digit bits of `bytes` (fewer than [`BLOCK`] - `since`) into the history.
    fn shift_bytes(&mut self, c: &Classifier, avail: &Avail<'_>, bytes: &[u8]) {
        let mut padded = [0u8; BLOCK as usize];
        let n = bytes.len().min(padded.len());
        padded[..n].copy_from_slice(&bytes[..n]);
        let bits = digit_mask32(&padded) | digit_bits(load(&padded[32..])) << 32;
        self.shift(c, avail, n as u32, bits);
    }

    /// Shift `n` positions (at most [`BLOCK`] - `since`) with digit bits `bits` (bit i =
    /// position i of the group; bits from `n` on are ignored) into the history, and test the
    /// positions that now have enough lookahead.
    #[inline]
    fn shift(&mut self, c: &Classifier, avail: &Avail<'_>, n: u32, bits: u64) {
        debug_assert!(n >= 1 && self.since + n <= BLOCK);
        let bits = bits & ((1u64 << n) - 1);
        self.digits = (self.digits >> n) | (bits << (64 - n));
        self.shifted += u64::from(n);
        self.since += n;
        if self.since >= STEP_AT {
            let band = ((1u64 << self.since) - 1) << (BAND_TOP - self.since);
            self.since = 0;
            let hits = shapes(self.digits, band);
            if hits != 0 {
                self.fire(c, avail, hits);
            }
        }
    }

    /// Look at the digit-shape starts `hits` (bits of the history) one by one.
    #[cold]
    #[inline(never)]
    fn fire(&mut self, c: &Classifier, avail: &Avail<'_>, mut hits: u64) {
        let kinds_of = shape_kinds(self.digits);
        while hits != 0 {
            let i = hits.trailing_zeros();
            hits &= hits - 1;
            let bit = 1u64 << i;
            let kinds = kinds_of
                .iter()
                .filter(|(mask, _)| mask & bit != 0)
                .fold(0, |k, (_, kind)| k | kind);
            let abs = (self.shifted + u64::from(i)).saturating_sub(64);
            self.trigger(c, avail, abs, kinds);
        }
    }

    /// Look at a trigger now if its window is complete (or the body ended), else later.
    fn trigger(&mut self, c: &Classifier, avail: &Avail<'_>, abs: u64, kinds: Kinds) {
        let plan = &c.prefilter;
        let want = plan.targets(kinds).difference(self.lit);
        if want.is_empty() {
            // Every class this trigger could light is lit already.
            return;
        }
        if kinds & !(RUN8 | GROUP4) == 0 && !card_or_iban_start(avail, abs) {
            return;
        }
        let back = if kinds & AT != 0 { EMAIL_BACK } else { BACK } as u64;
        let want_end = abs + FWD as u64;
        if want_end > avail.end() && !avail.last && self.pending.len() < MAX_PENDING {
            self.pending.push((abs, kinds));
            return;
        }
        let lo = abs.saturating_sub(back).max(avail.start());
        let hi = want_end.min(avail.end());
        if abs < lo || abs >= hi {
            return;
        }
        let mut buf = [0u8; EMAIL_BACK + FWD];
        let raw: &[u8] = if lo >= avail.base {
            // Within the piece: no copy.
            &avail.piece[(lo - avail.base) as usize..(hi - avail.base) as usize]
        } else {
            let n = avail.copy(lo, hi, &mut buf);
            &buf[..n]
        };
        let at = (abs - lo) as usize;
        let mut lit = self.lit;
        let targets = precheck(plan, want, raw, at, kinds);
        let wants_jwt = kinds & JWT != 0 && !plan.jwt.difference(lit).is_empty();
        if targets.difference(lit).is_empty() && !wants_jwt {
            return;
        }
        let (start, end) = token(raw, at);
        let window = &raw[start..end];
        let at = at - start;
        // The token ran into the window's limit (not a delimiter, not the end of the body).
        let cut = end == raw.len() && hi == want_end;
        if wants_jwt && jwt_shape(&window[at..], at == 0 || !is_b64url(window[at - 1]), cut) {
            lit = lit.union(plan.jwt);
        }
        if !targets.difference(lit).is_empty() {
            let found = c.classes_in(window, PlaceKind::Body, &FieldHints::NONE);
            lit = lit.union(found.intersection(plan.understood));
        }
        self.lit = lit;
    }
}

impl Plan {
    /// The classes a trigger of `kinds` is looked at for.
    #[inline]
    fn targets(&self, kinds: Kinds) -> ClassSet {
        let mut t = ClassSet::EMPTY;
        let mut k = kinds;
        while k != 0 {
            let bit = k.trailing_zeros() as usize;
            k &= k - 1;
            if let Some(set) = self.kind_targets.get(bit) {
                t = t.union(*set);
            }
        }
        t
    }

    /// Fill [`Plan::kind_targets`] from the family sets.
    fn index_targets(&mut self) {
        let sets = [
            (RUN8, self.card.union(self.iban)),
            (GROUP4, self.card.union(self.iban)),
            (SSN, self.ssn),
            (SORT, self.sort),
            (NINO_SPACED, self.nino),
            (SIX, self.nino),
            (AT, self.email),
            (PLUS, self.phone),
            (LITERAL, self.anchored),
            (JWT, self.jwt),
        ];
        for (kind, set) in sets {
            self.kind_targets[kind.trailing_zeros() as usize] = set;
        }
    }
}

/// The digit shapes of a history `d` (bit i = position i is a digit; bit i + 1 is the next
/// position), as start-position masks per kind. The masks are exact for digit/non-digit
/// patterns; separators and letters are checked by [`precheck`].
#[inline]
fn shape_kinds(d: u64) -> [(u64, Kinds); 6] {
    let n = !d;
    let bnd = n << 1;
    let r2 = d & (d >> 1);
    let r4 = r2 & (r2 >> 2);
    let r6 = r4 & (r2 >> 4);
    let r8 = r4 & (r4 >> 4);
    let e2 = r2 & (n >> 2);
    let e3 = r2 & (d >> 2) & (n >> 3);
    let e4 = r4 & (n >> 4);
    let two_before = (n << 1) & (n << 2);
    let triple = bnd & e2 & (e2 >> 3) & (e2 >> 6);
    [
        // 8+ digits: a card number, an IBAN's digits, an account number.
        (bnd & r8, RUN8),
        // dddd?dddd: grouped card numbers, printed IBANs.
        (bnd & e4 & (r4 >> 5), GROUP4),
        // ddd-dd-dddd
        (bnd & e3 & (e2 >> 4) & (r4 >> 7), SSN),
        // dd-dd-dd, 1-3 separators, 8 digits
        (triple & ((r8 >> 9) | (r8 >> 10) | (r8 >> 11)), SORT),
        // AB 12 34 56 C: non-digits around three pairs
        (triple & two_before & (n << 3) & (n >> 9), NINO_SPACED),
        // AB123456C: exactly six digits after two non-digits
        (two_before & r6 & (n >> 6), SIX),
    ]
}

/// The positions of `band` where a digit shape starts (0: none, most bands of ordinary JSON).
/// A cheap test first: every shape starts after a non-digit with three digits (runs, groups,
/// `ddd-dd-dddd`, six) or `dd?dd?dd` (sort codes, spaced NINOs).
#[inline]
fn shapes(d: u64, band: u64) -> u64 {
    let n = !d;
    let r2 = d & (d >> 1);
    let e2 = r2 & (n >> 2);
    if band & (n << 1) & ((r2 & (d >> 2)) | (e2 & (e2 >> 3) & (e2 >> 6))) == 0 {
        return 0;
    }
    shape_kinds(d).iter().fold(0, |m, (mask, _)| m | mask) & band
}

/// Which kinds a literal-anchor match is.
fn literal_kind(plan: &Plan, lit: &[u8]) -> Kinds {
    match (
        lit == b"eyJ" && !plan.jwt.is_empty(),
        lit != b"eyJ" || plan.eyj_anchor,
    ) {
        (true, true) => JWT | LITERAL,
        (true, false) => JWT,
        _ => LITERAL,
    }
}

/// Bytes that end a token in raw JSON: string quotes, escapes, structure, control bytes.
fn is_delimiter(b: u8) -> bool {
    matches!(b, b'"' | b'\\' | b'{' | b'}' | b'[' | b']') || b < 0x20
}

/// The token around `at` in `buf`: from after the previous delimiter to before the next one.
fn token(buf: &[u8], at: usize) -> (usize, usize) {
    let start = buf[..at]
        .iter()
        .rposition(|&b| is_delimiter(b))
        .map_or(0, |i| i + 1);
    let end = buf[at..]
        .iter()
        .position(|&b| is_delimiter(b))
        .map_or(buf.len(), |i| at + i);
    (start, end.max(start))
}

fn is_b64url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

/// Cheap structural checks before a window is classified: the shape a trigger claims is there,
/// with the validator's own check where it is cheap (a card scheme and Luhn, an IBAN start,
/// SSN ranges), for the families in `want` (classes still dark). Returns the classes still
/// plausible (empty: do not classify).
fn precheck(plan: &Plan, want: ClassSet, w: &[u8], at: usize, kinds: Kinds) -> ClassSet {
    let mut t = ClassSet::EMPTY;
    // Only families with a class still dark are worth checking.
    let wants = |set: ClassSet| !set.intersection(want).is_empty();
    let byte = |i: usize| w.get(i).copied().unwrap_or(0);
    let digits = |from: usize, n: usize| {
        w.get(from..from + n)
            .is_some_and(|d| d.iter().all(u8::is_ascii_digit))
    };
    if kinds & LITERAL != 0 {
        t = t.union(plan.anchored);
    }
    if kinds & AT != 0
        && at > 0
        && (byte(at - 1).is_ascii_alphanumeric() || b"._%+-".contains(&byte(at - 1)))
        && byte(at + 1).is_ascii_alphanumeric()
    {
        t = t.union(plan.email);
    }
    if kinds & PLUS != 0 && (b'1'..=b'9').contains(&byte(at + 1)) {
        t = t.union(plan.phone);
    }
    if kinds & (SIX | NINO_SPACED) != 0 && at >= 2 {
        // Two letters right before the digits, or before a space before them.
        let (a, b) = if byte(at - 1) == b' ' && at >= 3 {
            (at - 3, at - 2)
        } else {
            (at - 2, at - 1)
        };
        if byte(a).is_ascii_uppercase() && byte(b).is_ascii_uppercase() {
            t = t.union(plan.nino);
        }
    }
    if kinds & SSN != 0 && byte(at + 3) == b'-' && byte(at + 6) == b'-' {
        if let Ok(s) = std::str::from_utf8(&w[at..(at + 11).min(w.len())]) {
            if validators::is_us_ssn(s) {
                t = t.union(plan.ssn);
            }
        }
    }
    if kinds & SORT != 0
        && byte(at + 2) == b'-'
        && byte(at + 5) == b'-'
        && (9..=11)
            .any(|i| digits(at + i, 8) && w[at + 8..at + i].iter().all(|b| b" ,/".contains(b)))
    {
        t = t.union(plan.sort);
    }
    if kinds & (RUN8 | GROUP4) != 0 {
        let run = w[at..].iter().take_while(|b| b.is_ascii_digit()).count();
        let card = wants(plan.card)
            && if kinds & RUN8 != 0 {
                card_digits(&w[at..at + run])
            } else {
                grouped_card(w, at)
            };
        if card {
            t = t.union(plan.card);
        }
        if wants(plan.iban) && iban_start_before(w, at) {
            t = t.union(plan.iban);
        }
    }
    t
}

/// Whether digits at `abs` can start a card number (a scheme's first digit) or continue an
/// IBAN (a letter or a space before them): most long digit runs in JSON (epoch milliseconds,
/// ids) are neither, and are dropped before a window is taken.
#[inline]
fn card_or_iban_start(avail: &Avail<'_>, abs: u64) -> bool {
    let first = avail.byte(abs);
    let before = abs.checked_sub(1).and_then(|a| avail.byte(a));
    matches!(first, Some(b'2'..=b'6') | None) || matches!(before, Some(b'A'..=b'Z' | b' ') | None)
}

/// A contiguous run of 12-19 digits with a card scheme prefix and a valid Luhn digit.
fn card_digits(run: &[u8]) -> bool {
    if !(12..=19).contains(&run.len()) {
        return false;
    }
    let mut d = [0u8; 19];
    for (slot, b) in d.iter_mut().zip(run) {
        *slot = b - b'0';
    }
    let d = &d[..run.len()];
    validators::card_scheme(d).is_some() && validators::luhn(d)
}

/// A card number in groups (4-4-4-4, 4-4-4-4-3, 4-6-5, 4-6-4) with one separator kind.
fn grouped_card(w: &[u8], at: usize) -> bool {
    let sep = w.get(at + 4).copied().unwrap_or(0);
    if sep != b' ' && sep != b'-' {
        return false;
    }
    let group = |from: usize, n: usize, last: bool| {
        w.get(from..from + n)
            .is_some_and(|d| d.iter().all(u8::is_ascii_digit))
            && match w.get(from + n) {
                Some(b) if last => !b.is_ascii_alphanumeric() && *b != b'_',
                Some(&b) => b == sep,
                None => last,
            }
    };
    let valid = |len: usize| std::str::from_utf8(&w[at..at + len]).is_ok_and(validators::is_card);
    let four = group(at + 5, 4, false) && group(at + 10, 4, false);
    (four && group(at + 15, 4, true) && valid(19))
        || (four && group(at + 15, 4, false) && group(at + 20, 3, true) && valid(23))
        || (group(at + 5, 6, false) && group(at + 12, 5, true) && valid(17))
        || (group(at + 5, 6, false) && group(at + 12, 4, true) && valid(16))
}

/// Whether an IBAN (`[A-Z]{2}[0-9]{2}` at a word start, registered country) begins at or before
/// `at` within a run of `[A-Z0-9 ]`.
fn iban_start_before(w: &[u8], at: usize) -> bool {
    let mut p = at;
    loop {
        if p + 4 <= w.len()
            && w[p].is_ascii_uppercase()
            && w[p + 1].is_ascii_uppercase()
            && w[p + 2].is_ascii_digit()
            && w[p + 3].is_ascii_digit()
            && (p == 0 || !w[p - 1].is_ascii_alphanumeric())
        {
            let cc = [w[p], w[p + 1]];
            if std::str::from_utf8(&cc)
                .ok()
                .and_then(validators::iban_length)
                .is_some()
            {
                return true;
            }
        }
        if p == 0 || !matches!(w[p - 1], b'A'..=b'Z' | b'0'..=b'9' | b' ') {
            return false;
        }
        p -= 1;
    }
}

/// A JWS-looking token at the start of `w` (which starts `eyJ`), preceded by a boundary:
/// a base64url header that decodes to JSON with `alg`, a dot and a payload; or, when the header
/// runs past the window, a header whose decoded start is a JSON object.
fn jwt_shape(w: &[u8], boundary: bool, cut: bool) -> bool {
    if !boundary {
        return false;
    }
    let run = w.iter().take_while(|&&b| is_b64url(b)).count();
    if run < 7 {
        return false;
    }
    let mut i = run;
    while i < w.len() && i < run + 2 && w[i] == b'=' {
        i += 1;
    }
    if i == w.len() {
        if !cut {
            // The token ended right after its first segment: no dots, not a JWS.
            return false;
        }
        // The header does not fit the window: judge it by its decoded start.
        let take = run / 4 * 4;
        return base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&w[..take])
            .is_ok_and(|h| h.starts_with(b"{\"") && h.iter().all(|b| (0x20..0x7f).contains(b)));
    }
    if w[i] != b'.' || !std::str::from_utf8(&w[..run]).is_ok_and(validators::is_jws_header) {
        return false;
    }
    // A payload, then (unless the window ends inside it) a second dot.
    let start = i + 1;
    let payload = w[start..].iter().take_while(|&&b| is_b64url(b)).count();
    let mut j = start + payload;
    if j == w.len() {
        return cut;
    }
    if payload == 0 {
        return false;
    }
    while j < w.len() && j < start + payload + 2 && w[j] == b'=' {
        j += 1;
    }
    j == w.len() && cut || w.get(j) == Some(&b'.')
}

/// Digit bits of the first 32 bytes of `b` (at least 32 long): bit i set when byte i is an
/// ASCII digit. Two 16-byte compares and byte masks (SSE2, part of every x86_64).
#[cfg(target_arch = "x86_64")]
#[inline]
fn digit_mask32(b: &[u8]) -> u64 {
    use std::arch::x86_64::{
        _mm_and_si128, _mm_cmpgt_epi8, _mm_cmplt_epi8, _mm_loadu_si128, _mm_movemask_epi8,
        _mm_set1_epi8,
    };
    let b = &b[..32];
    // SAFETY: SSE2 is in the x86_64 baseline, so these intrinsics are available on every CPU
    // this code runs on; both unaligned loads read 16 bytes inside `b` (32 bytes, checked by
    // the slice above). Signed compares: bytes >= 0x80 are negative, below '0' like every
    // other non-digit.
    let (lo, hi) = unsafe {
        let above = _mm_set1_epi8((b'0' - 1) as i8);
        let below = _mm_set1_epi8((b'9' + 1) as i8);
        let lo = _mm_loadu_si128(b.as_ptr().cast());
        let hi = _mm_loadu_si128(b.as_ptr().add(16).cast());
        let lo = _mm_and_si128(_mm_cmpgt_epi8(lo, above), _mm_cmplt_epi8(lo, below));
        let hi = _mm_and_si128(_mm_cmpgt_epi8(hi, above), _mm_cmplt_epi8(hi, below));
        (_mm_movemask_epi8(lo), _mm_movemask_epi8(hi))
    };
    let (lo, hi) = (u64::from(lo as u16), u64::from(hi as u16));
    lo | hi << 16
}

/// Digit bits of the first 32 bytes of `b` (at least 32 long), a word at a time.
#[cfg(not(target_arch = "x86_64"))]
#[inline]
fn digit_mask32(b: &[u8]) -> u64 {
    digit_bits(load(b))
        | digit_bits(load(&b[8..])) << 8
        | digit_bits(load(&b[16..])) << 16
        | digit_bits(load(&b[24..])) << 24
}

/// The first 8 bytes of `b` (at least 8 long) as a little-endian word.
#[inline]
fn load(b: &[u8]) -> u64 {
    u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
}

/// Digit bits of 8 bytes: bit i set when byte i (little-endian order) is an ASCII digit.
#[inline]
fn digit_bits(x: u64) -> u64 {
    const HI: u64 = 0x8080_8080_8080_8080;
    // Digits become 0..=9; with each byte's top bit set, subtracting 10 borrows within the
    // byte exactly when it was below 10 (no borrow crosses bytes).
    let y = x ^ 0x3030_3030_3030_3030;
    let z = (y | HI).wrapping_sub(0x0a0a_0a0a_0a0a_0a0a);
    let d = !(z | y) & HI;
    // Gather bit 7 of each byte into the top byte, byte i at bit 56 + i.
    d.wrapping_mul(0x0002_0408_1020_4081) >> 56
}

#[cfg(test)]
mod tests;
