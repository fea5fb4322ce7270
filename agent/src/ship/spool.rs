//! The on-disk spool of unsent batches (sled), bounded in batches and bytes, drop-oldest.
//!
//! Keys are `(epoch, seq)` big-endian, so iteration order is sending order. The spool also keeps
//! the agent's epoch: each open bumps it to `max(stored + 1, unix seconds)`, so a restarted agent
//! (or one whose spool was wiped) never reuses an `(epoch, seq)` the collector already holds.
//!
//! Each open also draws a random run id that every batch of the run carries: epochs order
//! batches, but only the run id tells the collector that a wiped spool restarted within the same
//! second is a new run rather than a resend.
//!
//! A full spool drops its *oldest* batch and counts it ([`SpoolStats::dropped`]): the newest
//! traffic is the most useful after a long outage, and capture must never wait.
//!
//! A batch the collector refuses for good (malformed, or too large and impossible to split) is
//! moved to the `set_aside` tree (bounded, counted in [`SpoolStats::set_aside`]) so it never
//! blocks the queue and can still be inspected; a batch refused as too large is replaced by its
//! parts ([`Spool::replace`]).

use analyzer::contain::contained;
use analyzer::wire::Batch;
use sled::transaction::{ConflictableTransactionError, TransactionError, Transactional};
use std::path::Path;
use std::sync::Mutex;

/// Refused batches kept for inspection; older ones are deleted (still counted).
pub const MAX_SET_ASIDE: usize = 64;

/// Capture files remembered as replayed into one spool.
pub const MAX_REPLAYS: usize = 10_000;
const REPLAY_PREFIX: &str = "replayed:";

/// What identifies a capture file for [`Spool::replayed_before`]: SHA-256 over its size and its
/// first MiB, so a copy or a rename of the same capture is the same replay.
pub fn capture_identity(path: &Path) -> std::io::Result<String> {
    use std::io::Read as _;
    let file = std::fs::File::open(path)?;
    let size = file.metadata()?.len();
    let mut head = Vec::with_capacity(1 << 20);
    file.take(1 << 20).read_to_end(&mut head)?;
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(&size.to_be_bytes());
    ctx.update(&head);
    Ok(analyzer::hex::encode(ctx.finish().as_ref()))
}

#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("spool at {path}: {source}")]
    Open { path: String, source: sled::Error },
    #[error("spool database: {0}")]
    Db(#[from] sled::Error),
    /// The spool's files are damaged (truncated, deleted, overwritten).
    #[error(
        "agent spool at {path} is damaged: {what}. It only holds batches not yet sent: move \
         the directory aside (or delete it) and start the agent again; the batches in it are \
         lost, everything the collector acknowledged is safe there"
    )]
    Damaged { path: String, what: String },
    #[error(
        "agent spool at {path} is in use by another agent process: give each agent its own \
         --spool directory"
    )]
    InUse { path: String },
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
    /// Batches the collector refused for good, moved out of the queue.
    pub set_aside: u64,
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
    set_aside: sled::Tree,
    limits: SpoolLimits,
    epoch: u64,
    run_id: String,
    state: Mutex<State>,
}

/// A spool transaction's error (the closures never abort, so only storage errors occur).
fn tx_error(e: TransactionError<()>) -> SpoolError {
    match e {
        TransactionError::Storage(e) => SpoolError::Db(e),
        TransactionError::Abort(()) => SpoolError::Db(sled::Error::ReportableBug(
            "spool transaction aborted".into(),
        )),
    }
}

/// 128 random bits as 32 lowercase hex digits.
fn new_run_id() -> Result<String, SpoolError> {
    use ring::rand::SecureRandom as _;
    let mut bytes = [0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| SpoolError::Db(sled::Error::Unsupported("no system randomness".into())))?;
    Ok(analyzer::hex::encode(&bytes))
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
    /// Open (or create) the spool and start a new epoch. A damaged spool is a
    /// [`SpoolError::Damaged`] naming the directory, never a panic.
    pub fn open(dir: &Path, limits: SpoolLimits) -> Result<Spool, SpoolError> {
        let damaged = |what: String| SpoolError::Damaged {
            path: dir.display().to_string(),
            what,
        };
        // sled recreates a missing `db` file and would open an empty spool over its old
        // `conf`/snapshot (or panic on the snapshot): say so instead.
        let db_file = dir.join("db");
        let has_snapshot = std::fs::read_dir(dir).is_ok_and(|entries| {
            entries
                .filter_map(|e| e.ok())
                .any(|e| e.file_name().to_string_lossy().starts_with("snap."))
        });
        if !db_file.exists() && (dir.join("conf").exists() || has_snapshot) {
            return Err(damaged(format!(
                "its database file {} is missing",
                db_file.display()
            )));
        }
        match contained(|| Spool::open_unguarded(dir, limits)) {
            Ok(Err(SpoolError::Open {
                source: sled::Error::Corruption { .. },
                ..
            }))
            | Ok(Err(SpoolError::Db(sled::Error::Corruption { .. }))) => Err(damaged(
                "sled found corrupt or missing data in its log (truncated or overwritten)".into(),
            )),
            Ok(r) => r,
            Err(panic) => Err(damaged(format!(
                "sled failed while recovering its log: {panic}"
            ))),
        }
    }

    fn open_unguarded(dir: &Path, limits: SpoolLimits) -> Result<Spool, SpoolError> {
        // A spool this process closed a moment ago can still be locked by sled's writer.
        let db = analyzer::contain::retry_lock_conflict(
            || sled::Config::new().path(dir).open(),
            |e| matches!(e, sled::Error::Io(io) if analyzer::contain::is_lock_conflict(io)),
        )
        .map_err(|source| match source {
            // sled's exclusive file lock; its error prints as `Os { code: 11 .. }`.
            sled::Error::Io(io) if analyzer::contain::is_lock_conflict(&io) => SpoolError::InUse {
                path: dir.display().to_string(),
            },
            source => SpoolError::Open {
                path: dir.display().to_string(),
                source,
            },
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
        let set_aside = db.open_tree("set_aside")?;
        let mut stats = SpoolStats::default();
        for kv in batches.iter() {
            let (_, v) = kv?;
            stats.batches += 1;
            stats.bytes += v.len() as u64;
        }
        Ok(Spool {
            db,
            batches,
            set_aside,
            limits,
            epoch,
            run_id: new_run_id()?,
            state: Mutex::new(State { stats, next_seq: 0 }),
        })
    }

    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// This run's id (see the module docs).
    pub fn run_id(&self) -> &str {
        &self.run_id
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

    /// Replace the batch `(epoch, seq)` by `parts` (numbered after every batch of this run, in
    /// one transaction: a crash leaves either the batch or all its parts). `make` builds part
    /// `i` for the given `(epoch, seq)`. Returns how many parts were stored.
    pub fn replace(
        &self,
        epoch: u64,
        seq: u64,
        parts: usize,
        mut make: impl FnMut(usize, u64, u64) -> Batch,
    ) -> Result<usize, SpoolError> {
        let mut st = self.lock();
        let first = st.next_seq;
        let encoded: Vec<([u8; 16], Vec<u8>)> = (0..parts)
            .map(|i| {
                let seq = first + i as u64;
                (key(self.epoch, seq), make(i, self.epoch, seq).encode())
            })
            .collect();
        let old = self
            .batches
            .transaction(|tx| {
                let old = tx.remove(&key(epoch, seq)[..])?;
                for (k, v) in &encoded {
                    tx.insert(&k[..], v.as_slice())?;
                }
                Ok::<_, ConflictableTransactionError<()>>(old)
            })
            .map_err(tx_error)?;
        st.next_seq += parts as u64;
        if let Some(v) = old {
            st.stats.batches -= 1;
            st.stats.bytes = st.stats.bytes.saturating_sub(v.len() as u64);
        }
        st.stats.batches += parts as u64;
        st.stats.bytes += encoded.iter().map(|(_, v)| v.len() as u64).sum::<u64>();
        self.db.flush()?;
        Ok(parts)
    }

    /// Move a batch the collector refused for good out of the queue, keeping the newest
    /// [`MAX_SET_ASIDE`] for inspection.
    pub fn set_aside(&self, epoch: u64, seq: u64) -> Result<(), SpoolError> {
        let mut st = self.lock();
        let k = key(epoch, seq);
        let moved = (&self.batches, &self.set_aside)
            .transaction(|(queue, aside)| {
                let old = queue.remove(&k[..])?;
                if let Some(v) = &old {
                    aside.insert(&k[..], v.clone())?;
                }
                Ok::<_, ConflictableTransactionError<()>>(old)
            })
            .map_err(tx_error)?;
        if let Some(v) = moved {
            st.stats.batches -= 1;
            st.stats.bytes = st.stats.bytes.saturating_sub(v.len() as u64);
            st.stats.set_aside += 1;
        }
        while self.set_aside.len() > MAX_SET_ASIDE {
            if self.set_aside.pop_min()?.is_none() {
                break;
            }
        }
        self.db.flush()?;
        Ok(())
    }

    /// Batches set aside and still kept, oldest first.
    pub fn set_aside_batches(&self) -> Result<Vec<Spooled>, SpoolError> {
        let mut out = Vec::new();
        for kv in self.set_aside.iter() {
            let (k, v) = kv?;
            let (epoch, seq) = unkey(&k);
            out.push(Spooled {
                epoch,
                seq,
                bytes: v.to_vec(),
            });
        }
        Ok(out)
    }

    /// The epoch of the run that first replayed the capture `identity` into this spool, if one
    /// did: replaying the same file again would count its traffic twice at the collector.
    pub fn replayed_before(&self, identity: &str) -> Result<Option<u64>, SpoolError> {
        let key = format!("{REPLAY_PREFIX}{identity}");
        Ok(self
            .db
            .open_tree("meta")?
            .get(key.as_bytes())?
            .and_then(|b| <[u8; 8]>::try_from(b.as_ref()).ok())
            .map(u64::from_be_bytes))
    }

    /// Remember that this run replays the capture `identity` (at most [`MAX_REPLAYS`] kept).
    pub fn record_replay(&self, identity: &str) -> Result<bool, SpoolError> {
        let meta = self.db.open_tree("meta")?;
        if meta.scan_prefix(REPLAY_PREFIX.as_bytes()).count() >= MAX_REPLAYS {
            return Ok(false);
        }
        let key = format!("{REPLAY_PREFIX}{identity}");
        meta.insert(key.as_bytes(), &self.epoch.to_be_bytes())?;
        self.db.flush()?;
        Ok(true)
    }

    /// Remove a batch once the collector acknowledged it.
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
    fn a_spool_open_in_another_agent_is_said_to_be_in_use() {
        let dir = tempfile::tempdir().expect("tempdir");
        let limits = SpoolLimits {
            max_batches: 3,
            max_bytes: u64::MAX,
        };
        let _first = Spool::open(dir.path(), limits).expect("open");
        let second = Spool::open(dir.path(), limits);
        assert!(
            matches!(second, Err(SpoolError::InUse { .. })),
            "{:?}",
            second.err()
        );
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
    fn replace_and_set_aside_take_a_batch_out_of_the_queue_head() {
        let dir = tempfile::tempdir().expect("tempdir");
        let spool = Spool::open(dir.path(), SpoolLimits::default()).expect("open");
        for _ in 0..3 {
            spool.push(make).expect("push");
        }
        let head = spool.oldest().expect("read").expect("some");
        assert_eq!(head.seq, 0);
        assert_eq!(
            spool
                .replace(head.epoch, head.seq, 2, |_, e, s| make(e, s))
                .expect("replace"),
            2
        );
        // The parts go after every batch of the run; the head is now the next batch.
        let seqs: Vec<u64> = std::iter::from_fn(|| {
            let b = spool.oldest().expect("read")?;
            spool.remove(b.epoch, b.seq).expect("remove");
            Some(b.seq)
        })
        .collect();
        assert_eq!(seqs, vec![1, 2, 3, 4]);
        spool.push(make).expect("push");
        let head = spool.oldest().expect("read").expect("some");
        spool.set_aside(head.epoch, head.seq).expect("set aside");
        assert_eq!(spool.oldest().expect("read").map(|b| b.seq), None);
        let st = spool.stats();
        assert_eq!((st.batches, st.set_aside), (0, 1));
        assert_eq!(spool.set_aside_batches().expect("aside")[0].seq, 5);
    }

    #[test]
    fn a_replayed_capture_is_remembered_across_runs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let capture = dir.path().join("c.pcap");
        std::fs::write(&capture, b"some capture bytes").expect("write");
        let copy = dir.path().join("copy.pcap");
        std::fs::copy(&capture, &copy).expect("copy");
        let id = capture_identity(&capture).expect("identity");
        assert_eq!(
            id,
            capture_identity(&copy).expect("identity"),
            "content, not name"
        );
        let first = {
            let spool =
                Spool::open(&dir.path().join("spool"), SpoolLimits::default()).expect("open");
            assert_eq!(spool.replayed_before(&id).expect("read"), None);
            assert!(spool.record_replay(&id).expect("record"));
            spool.epoch()
        };
        let spool = Spool::open(&dir.path().join("spool"), SpoolLimits::default()).expect("reopen");
        assert_eq!(spool.replayed_before(&id).expect("read"), Some(first));
        std::fs::write(&copy, b"other capture bytes").expect("write");
        let other = capture_identity(&copy).expect("identity");
        assert_eq!(spool.replayed_before(&other).expect("read"), None);
    }

    #[test]
    fn every_open_draws_a_new_run_id_even_in_the_same_second() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = Spool::open(dir.path(), SpoolLimits::default())
            .expect("open")
            .run_id()
            .to_string();
        let wiped = tempfile::tempdir().expect("tempdir");
        let b = Spool::open(wiped.path(), SpoolLimits::default()).expect("open");
        assert!(analyzer::wire::valid_run_id(&a), "{a}");
        assert_ne!(a, b.run_id());
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

    /// Open once the previous handle is gone: sled's background threads may hold the `db`
    /// file's lock a moment after the spool is dropped.
    fn open_unlocked(dir: &Path) -> Result<Spool, SpoolError> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            match Spool::open(dir, SpoolLimits::default()) {
                Err(e)
                    if e.to_string().contains("could not acquire lock")
                        && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                r => return r,
            }
        }
    }

    /// A spool written by two runs (sled writes its snapshot on open), then damaged.
    fn damaged_spool(damage: impl Fn(&Path, u64)) -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().expect("tempdir");
        for _ in 0..2 {
            let spool = open_unlocked(dir.path()).expect("open");
            for _ in 0..400 {
                spool.push(make).expect("push");
            }
        }
        let len = std::fs::metadata(dir.path().join("db")).expect("db").len();
        damage(dir.path(), len);
        let msg = match open_unlocked(dir.path()) {
            Ok(_) => panic!("a damaged spool opened (db of {len} bytes)"),
            Err(e @ SpoolError::Damaged { .. }) => e.to_string(),
            Err(e) => panic!("not reported as damaged: {e}"),
        };
        assert!(msg.contains(&dir.path().display().to_string()), "{msg}");
        assert!(msg.contains("move the directory aside"), "{msg}");
        (dir, msg)
    }

    #[test]
    fn a_damaged_spool_is_a_clear_error_not_a_panic() {
        let (dir, msg) = damaged_spool(|dir, _| std::fs::remove_file(dir.join("db")).expect("rm"));
        assert!(msg.contains("is missing"), "{msg}");
        assert!(
            !dir.path().join("db").exists(),
            "sled recreated the db file"
        );
        damaged_spool(|dir, len| {
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(dir.join("db"))
                .expect("db");
            f.set_len(len / 4).expect("truncate");
        });
        damaged_spool(|dir, len| {
            use std::io::{Seek, SeekFrom, Write};
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .open(dir.join("db"))
                .expect("db");
            f.seek(SeekFrom::Start(len * 2 / 10)).expect("seek");
            f.write_all(&vec![0xAB; (len * 4 / 10) as usize])
                .expect("write");
        });
    }
}
