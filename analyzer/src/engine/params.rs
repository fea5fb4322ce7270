//! A request's parameter names (query parameters and non-standard request headers) as one
//! interned set, found through a fingerprint of the raw names: a request shaped like one seen
//! before costs a hash of its names, no decoding, lowercasing or allocation.

use super::intern::{HashCache, Interner};
use super::target::{decode_component, raw_pairs};
use std::hash::{BuildHasher, Hasher};

/// Request headers that are part of HTTP itself, not of an API's interface; they are not
/// reported as parameters (lowercase, sorted for binary search).
pub const STANDARD_HEADERS: &[&str] = &[
    "accept",
    "accept-charset",
    "accept-encoding",
    "accept-language",
    "authorization",
    "cache-control",
    "connection",
    "content-encoding",
    "content-length",
    "content-type",
    "cookie",
    "date",
    "expect",
    "forwarded",
    // gRPC's protocol headers (PROTOCOL-HTTP2.md): the transport's, not the API's parameters.
    "grpc-accept-encoding",
    "grpc-encoding",
    "grpc-message-type",
    "grpc-timeout",
    "host",
    "if-match",
    "if-modified-since",
    "if-none-match",
    "if-range",
    "if-unmodified-since",
    "keep-alive",
    "origin",
    "pragma",
    "proxy-authorization",
    "proxy-connection",
    "range",
    "referer",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "user-agent",
    "via",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-port",
    "x-forwarded-proto",
    "x-real-ip",
    "x-request-id",
];

/// One set of parameter names, sorted and de-duplicated.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ParamSet {
    /// Query parameter name ids (into [`ParamSets::names`]).
    pub query: Vec<u32>,
    /// Header parameter name ids, lowercase.
    pub headers: Vec<u32>,
}

pub type ParamSetId = u32;

/// Distinct parameter sets and names per worker.
const MAX_SETS: usize = 1 << 16;
const MAX_NAMES: usize = 1 << 16;
const FINGERPRINT_CACHE: usize = 1 << 16;

#[derive(Debug)]
pub struct ParamSets {
    cache: HashCache<ParamSetId>,
    sets: Vec<ParamSet>,
    index: crate::FastMap<ParamSet, ParamSetId>,
    pub names: Interner,
    seed: foldhash::fast::FixedState,
    /// Sets refused because the table was full.
    pub overflow: u64,
}

impl ParamSets {
    pub fn new(seed: u64) -> Self {
        ParamSets {
            cache: HashCache::new(FINGERPRINT_CACHE),
            sets: Vec::new(),
            index: crate::FastMap::default(),
            names: Interner::new(MAX_NAMES),
            seed: foldhash::fast::FixedState::with_seed(seed),
            overflow: 0,
        }
    }

    /// The set of a request with this raw `query` and these `headers` (at most `max` of
    /// each considered). `None` when the set table is full.
    pub fn of<H: crate::exchange::HeaderLike>(
        &mut self,
        query: &str,
        headers: &[H],
        max: usize,
    ) -> Option<ParamSetId> {
        let mut h = self.seed.build_hasher();
        for (name, _) in raw_pairs(query, max) {
            h.write(name.as_bytes());
            h.write_u8(0xff);
        }
        h.write_u8(0xfe);
        for header in headers.iter().take(max) {
            h.write(header.name().as_bytes());
            h.write_u8(0xff);
        }
        let fingerprint = h.finish();
        if let Some(id) = self.cache.get(fingerprint) {
            return Some(id);
        }
        let id = self.resolve(query, headers, max)?;
        self.cache.insert(fingerprint, id);
        Some(id)
    }

    fn resolve<H: crate::exchange::HeaderLike>(
        &mut self,
        query: &str,
        headers: &[H],
        max: usize,
    ) -> Option<ParamSetId> {
        let mut set = ParamSet::default();
        for (name, _) in raw_pairs(query, max) {
            let name = decode_component(name);
            if name.is_empty() {
                continue;
            }
            if let Some(id) = self.names.intern(&name) {
                set.query.push(id);
            }
        }
        for header in headers.iter().take(max) {
            let name = header.name().to_ascii_lowercase();
            if STANDARD_HEADERS.binary_search(&name.as_str()).is_err() {
                if let Some(id) = self.names.intern(&name) {
                    set.headers.push(id);
                }
            }
        }
        let names = &self.names;
        for list in [&mut set.query, &mut set.headers] {
            list.sort_unstable_by(|a, b| names.get(*a).cmp(names.get(*b)));
            list.dedup();
        }
        if let Some(&id) = self.index.get(&set) {
            return Some(id);
        }
        if self.sets.len() >= MAX_SETS {
            self.overflow += 1;
            return None;
        }
        let id = ParamSetId::try_from(self.sets.len()).ok()?;
        self.index.insert(set.clone(), id);
        self.sets.push(set);
        Some(id)
    }

    pub fn get(&self, id: ParamSetId) -> Option<&ParamSet> {
        self.sets.get(id as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exchange::Header;

    #[test]
    fn names_are_decoded_sorted_and_standard_headers_skipped() {
        let mut p = ParamSets::new(7);
        let headers = [
            Header::new("Host", "h"),
            Header::new("X-Fapi-Id", "1"),
            Header::new("Accept", "*/*"),
        ];
        let id = p
            .of("limit=10&from+date=2024", &headers, 128)
            .expect("fits");
        let set = p.get(id).expect("set").clone();
        let names = |ids: &[u32]| {
            ids.iter()
                .map(|i| p.names.get(*i).to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(names(&set.query), vec!["from date", "limit"]);
        assert_eq!(names(&set.headers), vec!["x-fapi-id"]);
        // Same names, other values: the same set, from the cache.
        assert_eq!(p.of("limit=99&from+date=x", &headers, 128), Some(id));
        assert_eq!(p.sets.len(), 1);
    }
}
