//! The head prefilter: does a head the policy did not pick show a data class its endpoint's
//! heads have not shown before? Then the engine classifies that head anyway.
//!
//! Most header values repeat (`Host`, `User-Agent`, `Accept`, `Server`, a consumer's
//! `Content-Type`): a value already scanned for the same endpoint, side and header put its
//! classes into the endpoint's known set then, so it cannot show a new one. Such values are
//! recognised by a keyed 64-bit hash and not scanned again; only values new to the
//! (endpoint, side, header) are. The hashes live in a bounded cache (emptied when full, the
//! resets counted), never the values.

use super::intern::HashCache;
use super::learn;
use super::policy::Side;
use crate::classify::prefilter::BodyScan;
use crate::classify::{ClassSet, Classifier};
use crate::exchange::HeaderLike;
use crate::FastMap;
use std::hash::{BuildHasher, Hasher};

/// Distinct (endpoint, side, header, value) hashes remembered per worker.
const SEEN_VALUES: usize = 1 << 16;

#[derive(Debug)]
pub(super) struct HeadScanner {
    scan: BodyScan,
    /// Classes the prefilter has seen in heads per (endpoint, side).
    known: FastMap<(u32, Side), ClassSet>,
    /// Hashes of the values already scanned for an (endpoint, side, header).
    seen: HashCache<()>,
    seed: foldhash::fast::FixedState,
    /// Scratch for the values one scan reads (zeroed after each scan).
    values: Vec<u8>,
    /// Values not scanned because their endpoint's heads showed them before.
    pub(super) values_repeated: u64,
}

impl HeadScanner {
    pub(super) fn new(seed: u64) -> Self {
        HeadScanner {
            scan: BodyScan::new(),
            known: FastMap::default(),
            seen: HashCache::new(SEEN_VALUES),
            seed: foldhash::fast::FixedState::with_seed(seed),
            values: Vec::new(),
            values_repeated: 0,
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
        // One push of every new value, each ended by a separator no token spans: a scan costs
        // per push, and heads have many short values.
        self.values.clear();
        for h in headers.iter().take(max_values) {
            if !skipped(h.name()) && self.first_time(endpoint, side, h.name(), h.value()) {
                self.values.extend_from_slice(h.value());
                self.values.push(b'\n');
            }
        }
        if !query.is_empty() && self.first_time(endpoint, side, "?", query.as_bytes()) {
            self.values.extend_from_slice(query.as_bytes());
        }
        if self.values.is_empty() {
            return false;
        }
        // Seeded with the classes heads of this endpoint showed: a trigger for a known class
        // is dropped unexamined.
        let known = self.known.entry((endpoint, side)).or_default();
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
        self.seen.clear();
    }

    pub(super) fn seen_resets(&self) -> u64 {
        self.seen.resets
    }

    /// Whether this is the first time `value` appears under `name` in heads of `endpoint` and
    /// `side` (as far as the bounded cache remembers); remembers it.
    fn first_time(&mut self, endpoint: u32, side: Side, name: &str, value: &[u8]) -> bool {
        let mut h = self.seed.build_hasher();
        h.write_u32(endpoint);
        h.write_u8(side as u8);
        // Header names are case-insensitive; most senders use one case per header anyway, so
        // a name in another case only costs one more scan.
        h.write(name.as_bytes());
        h.write_u8(0);
        h.write(value);
        let key = h.finish();
        if self.seen.get(key).is_some() {
            self.values_repeated += 1;
            return false;
        }
        self.seen.insert(key, ());
        true
    }
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
