//! Who called, on the count path: the credential a request presents is found by a scan of its
//! headers, and turned into a consumer id (a JWT decoded, a keyed BLAKE3 fingerprint taken)
//! only the first time a worker sees that credential. The cache is keyed by a keyed 64-bit
//! hash of the credential, so the credential itself is never kept.

use super::intern::{HashCache, Interner};
use crate::consumer::{client_address, find_credential, resolve_credential, ConsumerConfig};
use crate::exchange::HeaderLike;
use crate::observation::AuthScheme;
use crate::FastMap;
use std::hash::{BuildHasher, Hasher};
use std::net::IpAddr;

/// Distinct credentials remembered per worker (the cache empties when full).
const CREDENTIAL_CACHE: usize = 1 << 16;
/// Distinct consumer ids and client addresses per worker.
const MAX_CONSUMERS: usize = 1 << 18;
const MAX_ADDRESSES: usize = 1 << 16;
/// Auth scheme labels per worker (odd scheme tokens are labels of their own).
const MAX_AUTH: usize = 256;

/// A consumer that did not fit the table: not counted per consumer (the overflow is counted).
pub const UNTRACKED: u32 = u32::MAX;

#[derive(Debug)]
pub struct Consumers {
    credentials: HashCache<(u32, u32)>,
    addresses: FastMap<IpAddr, u32>,
    names: Interner,
    auth: Interner,
    seed: foldhash::fast::FixedState,
    none: u32,
}

impl Consumers {
    pub fn new(cfg: &ConsumerConfig) -> Self {
        let mut auth = Interner::new(MAX_AUTH);
        let none = auth.intern(&AuthScheme::None.label()).unwrap_or(0);
        Consumers {
            credentials: HashCache::new(CREDENTIAL_CACHE),
            addresses: FastMap::default(),
            names: Interner::new(MAX_CONSUMERS),
            auth,
            seed: foldhash::fast::FixedState::with_seed(cfg.hash_seed()),
            none,
        }
    }

    /// (consumer id, auth scheme id) of a request from `peer`.
    pub fn of<H: HeaderLike>(
        &mut self,
        cfg: &ConsumerConfig,
        headers: &[H],
        query: &str,
        max_params: usize,
        peer: IpAddr,
    ) -> (u32, u32) {
        let pairs = super::target::raw_pairs(query, max_params);
        match find_credential(headers, pairs) {
            Some(raw) => {
                let mut h = self.seed.build_hasher();
                h.write_u8(raw.source as u8);
                h.write(raw.scheme);
                h.write_u8(0);
                h.write(raw.secret);
                let key = h.finish();
                if let Some(ids) = self.credentials.get(key) {
                    return ids;
                }
                let (id, scheme) = resolve_credential(cfg, &raw);
                let ids = (
                    self.names.intern(&id).unwrap_or(UNTRACKED),
                    self.auth.intern(&scheme.label()).unwrap_or(self.none),
                );
                self.credentials.insert(key, ids);
                ids
            }
            None if cfg.trust_forwarded => {
                let address = client_address(headers, peer, cfg);
                let id = self.names.intern(&format!("addr:{address}"));
                (id.unwrap_or(UNTRACKED), self.none)
            }
            None => {
                if let Some(&id) = self.addresses.get(&peer) {
                    return (id, self.none);
                }
                let id = self
                    .names
                    .intern(&format!("addr:{peer}"))
                    .unwrap_or(UNTRACKED);
                if self.addresses.len() < MAX_ADDRESSES {
                    self.addresses.insert(peer, id);
                }
                (id, self.none)
            }
        }
    }

    /// The id of a consumer named by something other than its credential (an open-banking
    /// TPP's certificate).
    pub fn named(&mut self, name: &str) -> u32 {
        self.names.intern(name).unwrap_or(UNTRACKED)
    }

    pub fn name(&self, id: u32) -> &str {
        self.names.get(id)
    }

    pub fn auth_label(&self, id: u32) -> &str {
        self.auth.get(id)
    }

    pub fn cache_resets(&self) -> u64 {
        self.credentials.resets
    }

    pub fn overflow(&self) -> u64 {
        self.names.overflow + self.auth.overflow
    }
}
