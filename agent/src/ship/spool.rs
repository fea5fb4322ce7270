//! The on-disk spool of unsent batches (sled), bounded in batches and bytes, drop-oldest.
//!
//! Keys are `(epoch, seq)` big-endian, so iteration order is sending order. The spool also keeps
//! the agent's epoch: each open bumps it to `max(stored + 1, unix seconds)`, so a restarted agent
//! (or one whose spool was wiped) never reuses an `(epoch, seq)` the collector already holds.
//!
//! A full spool drops its *oldest* batch and counts it ([`SpoolStats::dropped`]): the newest
//! traffic is the most useful after a long outage, and capture must never wait.

use analyzer::wire::Batch;
use std::path::Path;
use std::sync::Mutex;

#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("spool at {path}: {source}")]
    Open { path: String, source: sled::Error },
    #[error("spool database: {0}")]
    Db(#[from] sled::Error),
}

/// Bounds of the spool; whichever is reached first evicts the oldest batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpoolLimits {
    pub max_batches: u64,
    pub max_bytes: u64,
}

impl Default for SpoolLimits {
    fn default() -> Self {
        SpoolLimits {
            max_batches: 10_000,
            max_bytes: 1 << 30,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SpoolStats {
    pub batches: u64,
    pub bytes: u64,
    /// Batches evicted because the spool was full.
    pub dropped: u64,
}

/// A spooled batch: its key and encoded bytes.
#[derive(Debug, Clone)]
pub struct Spooled {
    pub epoch: u64,
    pub seq: u64,
    pub bytes: Vec<u8>,
}

#[derive(Debug)]
struct State {
    stats: SpoolStats,
    next_seq: u64,
}

#[derive(Debug)]
pub struct Spool {
    db: sled::Db,
    batches: sled::Tree,
    limits: SpoolLimits,
    epoch: u64,
    state: Mutex<State>,
}

fn key(epoch: u64, seq: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&epoch.to_be_bytes());
    k[8..].copy_from_slice(&seq.to_be_bytes());
    k
}

fn unkey(k: &[u8]) -> (u64, u64) {
    let part = |r: std::ops::Range<usize>| {
        k.get(r)
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map(u64::from_be_bytes)
            .unwrap_or(0)
    };
    (part(0..8), part(8..16))
}

impl Spool {
    /// Open (or create) the spool and start a new epoch.
    pub fn open(dir: &Path, limits: SpoolLimits) -> Result<Spool, SpoolError> {
        let db = sled::Config::new()
            .path(dir)
            .open()
            .map_err(|source| SpoolError::Open {
                path: dir.display().to_string(),
                source,
            })?;
        let meta = db.open_tree("meta")?;
        let stored = meta
            .get(b"epoch")?
            .and_then(|b| <[u8; 8]>::try_from(b.as_ref()).ok())
            .map(u64::from_be_bytes)
            .unwrap_or(0);
        // Wall time only names the epoch (an identifier), it never dates data.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let epoch = (stored + 1).max(now);
        meta.insert(b"epoch", &epoch.to_be_bytes())?;
        db.flush()?;
        let batches = db.open_tree("batches")?;
        let mut stats = SpoolStats::default();
        for kv in batches.iter() {
            let (_, v) = kv?;
            stats.batches += 1;
            stats.bytes += v.len() as u64;
        }
        Ok(Spool {
            db,
            batches,
            limits,
            epoch,
            state: Mutex::new(State { stats, next_seq: 0 }),
        })
    }

    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn stats(&self) -> SpoolStats {
        self.lock().stats
    }

    /// Number the batch (this epoch, next seq), store it, evict the oldest past the limits.
    /// `make` builds the batch for the given `(epoch, seq)`.
    pub fn push(&self, make: impl FnOnce(u64, u64) -> Batch) -> Result<(u64, u64), SpoolError> {
        let mut st = self.lock();
        let seq = st.next_seq;
        st.next_seq += 1;
        let bytes = make(self.epoch, seq).encode();
        let len = bytes.len() as u64;
        self.batches.insert(key(self.epoch, seq), bytes)?;
        st.stats.batches += 1;
        st.stats.bytes += len;
        while st.stats.batches > self.limits.max_batches.max(1)
            || (st.stats.bytes > self.limits.max_bytes && st.stats.batches > 1)
        {
            let Some((k, v)) = self.batches.pop_min()? else {
                break;
            };
            let _ = k;
            st.stats.batches -= 1;
            st.stats.bytes = st.stats.bytes.saturating_sub(v.len() as u64);
            st.stats.dropped += 1;
        }
        // Written through so a crash of the agent loses at most the window being built.
        self.db.flush()?;
        Ok((self.epoch, seq))
    }

    /// The oldest batch, if any (not removed).
    pub fn oldest(&self) -> Result<Option<Spooled>, SpoolError> {
        Ok(self.batches.first()?.map(|(k, v)| {
            let (epoch, seq) = unkey(&k);
            Spooled {
                epoch,
                seq,
                bytes: v.to_vec(),
            }
        }))
    }

    /// Remove a batch once the collector acknowledged it (or refused it for good).
    pub fn remove(&self, epoch: u64, seq: u64) -> Result<(), SpoolError> {
        let mut st = self.lock();
        if let Some(v) = self.batches.remove(key(epoch, seq))? {
            st.stats.batches -= 1;
            st.stats.bytes = st.stats.bytes.saturating_sub(v.len() as u64);
        }
        Ok(())
    }

    pub fn flush(&self) -> Result<(), SpoolError> {
        self.db.flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use analyzer::inventory::Inventory;
    use std::collections::BTreeMap;

    fn make(e: u64, s: u64) -> Batch {
        Batch::new("a", e, s, &Inventory::default(), BTreeMap::new())
    }

    #[test]
    fn fifo_order_and_drop_oldest_when_full() {
        let dir = tempfile::tempdir().expect("tempdir");
        let spool = Spool::open(
            dir.path(),
            SpoolLimits {
                max_batches: 3,
                max_bytes: u64::MAX,
            },
        )
        .expect("open");
        for _ in 0..5 {
            spool.push(make).expect("push");
        }
        let st = spool.stats();
        assert_eq!((st.batches, st.dropped), (3, 2));
        let first = spool.oldest().expect("read").expect("some");
        assert_eq!(first.seq, 2, "the two oldest were dropped");
        spool.remove(first.epoch, first.seq).expect("remove");
        assert_eq!(spool.oldest().expect("read").expect("some").seq, 3);
        assert_eq!(spool.stats().batches, 2);
    }

    #[test]
    fn reopening_keeps_batches_and_starts_a_higher_epoch() {
        let dir = tempfile::tempdir().expect("tempdir");
        let e1 = {
            let spool = Spool::open(dir.path(), SpoolLimits::default()).expect("open");
            spool.push(make).expect("push");
            spool.epoch()
        };
        let spool = Spool::open(dir.path(), SpoolLimits::default()).expect("reopen");
        assert!(spool.epoch() > e1);
        assert_eq!(spool.stats().batches, 1);
        let old = spool.oldest().expect("read").expect("kept");
        assert_eq!((old.epoch, old.seq), (e1, 0));
        let (e2, s2) = spool.push(make).expect("push");
        assert_eq!((e2, s2), (spool.epoch(), 0));
    }
}
