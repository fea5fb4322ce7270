//! The head prefilter: does a head the policy did not pick show a data class its endpoint's
//! heads have not shown before? Then the engine classifies that head anyway.
//!
//! Most header values repeat (`Host`, `User-Agent`, `Accept`, `Server`, a consumer's
//! `Content-Type`): a value already scanned for the same endpoint, side and header put its
//! classes into the endpoint's known set then, so it cannot show a new one. Such values are
//! recognised by a keyed 64-bit hash and not scanned again; only values new to the
//! (endpoint, side, header) are. Each (endpoint, side) keeps a small memo: 16 slots chosen by a
//! hash of the header name, each holding the hashes of the last 4 values scanned under it,
//! never the values. A header whose value changes every time (a request id) only cycles its
//! own slot, so it does not push the repeating ones out, and the memo of one head is a few
//! cache lines (a worker-wide map of every value seen cost a cache miss per header). At most
//! [`MAX_MEMOS`] memos are kept; when that many are full they are all emptied (counted) and
//! refill from the next heads.

use super::learn;
use super::policy::Side;
use crate::classify::prefilter::BodyScan;
use crate::classify::{ClassSet, Classifier};
use crate::exchange::HeaderLike;
use crate::FastMap;
use std::hash::{BuildHasher, Hasher};

/// Header-name slots per (endpoint, side): two header names sharing a slot only cost scans.
const SLOTS: usize = 16;
/// Memos kept per worker (half a KiB each): 4 MiB at most, however many endpoints there are.
const MAX_MEMOS: usize = 8192;
/// Values remembered per slot (the last ones scanned): a header that takes a few values in
/// turn (each consumer's `User-Agent`) is not scanned again each time it changes.
const WAYS: usize = 4;

/// The header values the heads of one endpoint and side showed last.
#[derive(Debug, Clone)]
struct ValueMemo {
    /// Per header-name slot, the hashes of the values last scanned there, newest first (0:
    /// none).
    values: [[u64; WAYS]; SLOTS],
}

impl Default for ValueMemo {
    fn default() -> Self {
        ValueMemo {
            values: [[0; WAYS]; SLOTS],
        }
    }
}

impl ValueMemo {
    /// Whether `value_hash` is among the values last scanned in slot `slot`; it is the newest
    /// afterwards. Counts a value that pushed the oldest out in `replaced`.
    fn repeats(&mut self, slot: u64, value_hash: u64, replaced: &mut u64) -> bool {
        // 0 marks an empty way.
        let value_hash = value_hash.max(1);
        let Some(ways) = self.values.get_mut(slot as usize % SLOTS) else {
            return false;
        };
        if let Some(i) = ways.iter().position(|&v| v == value_hash) {
            // Most recent first: a value still in use stays in.
            ways[..=i].rotate_right(1);
            return true;
        }
        if ways[WAYS - 1] != 0 {
            *replaced += 1;
        }
        ways.rotate_right(1);
        ways[0] = value_hash;
        false
    }
}

#[derive(Debug)]
pub(super) struct HeadScanner {
    scan: BodyScan,
    /// Classes the prefilter has seen in heads per (endpoint, side).
    known: FastMap<(u32, Side), ClassSet>,
    /// Per (endpoint, side), the values its heads showed last (at most [`MAX_MEMOS`]).
    memos: FastMap<(u32, Side), ValueMemo>,
    seed: foldhash::fast::FixedState,
    /// Scratch for the values one scan reads (zeroed after each scan).
    values: Vec<u8>,
    /// Values not scanned because their endpoint's heads showed them before.
    pub(super) values_repeated: u64,
    /// Values that replaced another one in their memo slot.
    pub(super) values_replaced: u64,
    /// Times every memo was emptied because [`MAX_MEMOS`] were kept.
    pub(super) memo_resets: u64,
}

impl HeadScanner {
    pub(super) fn new(seed: u64) -> Self {
        HeadScanner {
            scan: BodyScan::new(),
            known: FastMap::default(),
            memos: FastMap::default(),
            seed: foldhash::fast::FixedState::with_seed(seed),
            values: Vec::new(),
            values_repeated: 0,
            values_replaced: 0,
            memo_resets: 0,
        }
    }

    /// Whether the values of a head (its headers, at most `max_values`, and a request's raw
    /// query) show a class new to heads of `endpoint` and `side`. Credentials (whose classes
    /// are the caller's own) and headers that cannot carry data are not scanned.
    pub(super) fn shows_new_class<H: HeaderLike>(
        &mut self,
        classifier: &Classifier,
        endpoint: u32,
        side: Side,
        headers: &[H],
        query: &str,
        max_values: usize,
    ) -> bool {
        let key = (endpoint, side);
        if self.memos.len() >= MAX_MEMOS && !self.memos.contains_key(&key) {
            self.memos.clear();
            self.memo_resets += 1;
        }
        let memo = self.memos.entry(key).or_default();
        // One push of every new value, each ended by a separator no token spans: a scan costs
        // per push, and heads have many short values.
        self.values.clear();
        let named = headers
            .iter()
            .take(max_values)
            .filter(|h| !skipped(h.name()))
            .map(|h| (h.name(), h.value()));
        let query = (!query.is_empty()).then_some(("?", query.as_bytes()));
        for (name, value) in named.chain(query) {
            // Header names are case-insensitive; most senders use one case per header anyway,
            // so a name in another case only costs one more scan.
            let slot = name_slot(name);
            let mut h = self.seed.build_hasher();
            h.write_u64(slot);
            h.write(value);
            if memo.repeats(slot, h.finish(), &mut self.values_replaced) {
                self.values_repeated += 1;
            } else {
                self.values.extend_from_slice(value);
                self.values.push(b'\n');
            }
        }
        if self.values.is_empty() {
            return false;
        }
        // Seeded with the classes heads of this endpoint showed: a trigger for a known class
        // is dropped unexamined.
        let known = self.known.entry(key).or_default();
        self.scan.restart(*known);
        self.scan.push(classifier, &self.values);
        let classes = self.scan.finish(classifier);
        self.values.fill(0);
        self.values.clear();
        let new = !classes.difference(*known).is_empty();
        *known = known.union(classes);
        new
    }

    /// The classes the prefilter sees in `bytes` alone (a name kept as written must not be a
    /// value).
    pub(super) fn classes_in(&mut self, classifier: &Classifier, bytes: &[u8]) -> ClassSet {
        self.scan.restart(ClassSet::default());
        self.scan.push(classifier, bytes);
        self.scan.finish(classifier)
    }

    /// Forget every endpoint (their ids are about to be reused).
    pub(super) fn clear(&mut self) {
        self.known.clear();
        self.memos.clear();
    }
}

/// The memo slot of a header name (modulo [`SLOTS`]). Not keyed: which names share a slot is
/// then the same in every run, so the counters are too; names are not secret, and a shared
/// slot only costs scans. The value hashes are keyed.
fn name_slot(name: &str) -> u64 {
    foldhash::fast::FixedState::with_seed(0).hash_one(name)
}

/// Headers the head prefilter does not scan: the caller's own credential (found on every
/// request; its class is not data the endpoint exposes) and headers whose grammar cannot
/// carry data ([`learn::NEVER_CLASSIFIED`]).
fn skipped(name: &str) -> bool {
    /// Every listed name is shorter than this.
    const LONGEST: usize = 32;
    // The names by length: a header is compared with the one or two names of its length only
    // (this runs for every header of every message).
    static BY_LEN: std::sync::OnceLock<Vec<Vec<&'static [u8]>>> = std::sync::OnceLock::new();
    let by_len = BY_LEN.get_or_init(|| {
        const CREDENTIALS: &[&str] = &["authorization", "proxy-authorization", "cookie"];
        let mut table = vec![Vec::new(); LONGEST];
        for n in CREDENTIALS
            .iter()
            .chain(crate::consumer::API_KEY_HEADERS)
            .chain(learn::NEVER_CLASSIFIED)
        {
            if let Some(slot) = table.get_mut(n.len()) {
                slot.push(n.as_bytes());
            }
        }
        table
    });
    let Some(candidates) = by_len.get(name.len()) else {
        return false;
    };
    candidates
        .iter()
        .any(|n| n.eq_ignore_ascii_case(name.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(pairs: &[(&'static str, &'static str)]) -> Vec<httparse::Header<'static>> {
        pairs
            .iter()
            .map(|(name, value)| httparse::Header {
                name,
                value: value.as_bytes(),
            })
            .collect()
    }

    #[test]
    fn repeated_values_are_not_scanned_again_and_new_ones_still_flag() {
        let c = Classifier::builtin();
        let mut heads = HeadScanner::new(7);
        let plain = head(&[("User-Agent", "client/1.0"), ("X-Trace", "abc")]);
        assert!(!heads.shows_new_class(&c, 1, Side::Request, &plain, "", 64));
        assert_eq!(heads.values_repeated, 0);
        // The same values again: nothing to scan.
        assert!(!heads.shows_new_class(&c, 1, Side::Request, &plain, "", 64));
        assert_eq!(heads.values_repeated, 2);
        // A header that repeated before now carries an email: scanned, and new.
        let email = head(&[
            ("User-Agent", "client/1.0"),
            ("X-Trace", "jane@example.com"),
        ]);
        assert!(heads.shows_new_class(&c, 1, Side::Request, &email, "", 64));
        // Known now, whether repeated or not.
        assert!(!heads.shows_new_class(&c, 1, Side::Request, &email, "", 64));
        // Another endpoint, and the other side of the same one, have seen nothing yet.
        assert!(heads.shows_new_class(&c, 2, Side::Request, &email, "", 64));
        assert!(heads.shows_new_class(&c, 1, Side::Response, &email, "", 64));
        // The query is one more value.
        assert!(heads.shows_new_class(&c, 3, Side::Request, &plain, "to=jane@example.com", 64));
        assert!(!heads.shows_new_class(&c, 3, Side::Request, &plain, "to=jane@example.com", 64));
    }

    #[test]
    fn a_header_whose_value_changes_does_not_push_out_the_repeating_ones() {
        let c = Classifier::builtin();
        let mut heads = HeadScanner::new(7);
        // The two names have slots of their own (a shared slot would push the user agent out
        // after WAYS request ids).
        let slot = |name: &str| name_slot(name) as usize % SLOTS;
        assert_ne!(slot("User-Agent"), slot("X-Request-Id"));
        for id in 0..50 {
            let trace = format!("req-{id}");
            let h = [
                httparse::Header {
                    name: "User-Agent",
                    value: b"client/1.0",
                },
                httparse::Header {
                    name: "X-Request-Id",
                    value: trace.as_bytes(),
                },
            ];
            assert!(!heads.shows_new_class(&c, 1, Side::Request, &h, "", 64));
        }
        // The user agent was scanned once; every request id was new.
        assert_eq!(heads.values_repeated, 49);
        assert_eq!(heads.values_replaced, 50 - WAYS as u64);
    }

    #[test]
    fn memos_are_bounded_and_emptied_when_full() {
        let c = Classifier::builtin();
        let mut heads = HeadScanner::new(7);
        let plain = head(&[("User-Agent", "client/1.0")]);
        for endpoint in 0..MAX_MEMOS as u32 {
            assert!(!heads.shows_new_class(&c, endpoint, Side::Request, &plain, "", 64));
        }
        assert_eq!((heads.memos.len(), heads.memo_resets), (MAX_MEMOS, 0));
        // A known endpoint does not make room; a new one empties them all.
        assert!(!heads.shows_new_class(&c, 0, Side::Request, &plain, "", 64));
        assert_eq!((heads.values_repeated, heads.memo_resets), (1, 0));
        assert!(!heads.shows_new_class(&c, u32::MAX, Side::Request, &plain, "", 64));
        assert_eq!((heads.memos.len(), heads.memo_resets), (1, 1));
        // The value is scanned again for a forgotten endpoint; classes seen are still known.
        let email = head(&[("X-Contact", "jane@example.com")]);
        assert!(heads.shows_new_class(&c, 5, Side::Request, &email, "", 64));
        for endpoint in 0..MAX_MEMOS as u32 {
            heads.shows_new_class(&c, endpoint + 10, Side::Response, &plain, "", 64);
        }
        assert_eq!(heads.memo_resets, 2);
        assert!(!heads.shows_new_class(&c, 5, Side::Request, &email, "", 64));
        assert_eq!(heads.values_repeated, 1);
    }

    #[test]
    fn forgetting_endpoints_scans_their_values_again() {
        let c = Classifier::builtin();
        let mut heads = HeadScanner::new(7);
        let email = head(&[("X-Contact", "jane@example.com")]);
        assert!(heads.shows_new_class(&c, 1, Side::Request, &email, "", 64));
        heads.clear();
        // Endpoint 1 may now be another endpoint: its values are news again.
        assert!(heads.shows_new_class(&c, 1, Side::Request, &email, "", 64));
    }

    #[test]
    fn credentials_and_data_free_headers_are_not_scanned() {
        let c = Classifier::builtin();
        let mut heads = HeadScanner::new(7);
        let h = head(&[
            ("Authorization", "Bearer jane@example.com"),
            ("content-length", "4111111111111111"),
        ]);
        assert!(!heads.shows_new_class(&c, 1, Side::Request, &h, "", 64));
        assert!(skipped("AUTHORIZATION") && skipped("Date") && !skipped("X-Contact"));
    }
}
