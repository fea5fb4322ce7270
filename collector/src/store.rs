//! The collector's store: the merged inventory, capture totals and each agent's high-water mark.
//!
//! [`Store`] is the seam (ARCHITECTURE.md section 4): [`SledStore`] is the implementation, and
//! [`Store::export_jsonl`] / [`Store::import_jsonl`] move the whole store between backends.
//!
//! Exactly-once effect: [`Store::apply`] merges a batch and raises the agent's high-water mark
//! `(epoch, seq)` in one sled transaction, and a batch at or below the mark changes nothing. The
//! store is flushed to disk before `apply` returns, so an acknowledged batch survives a SIGKILL.
//!
//! Review state (`reviews` tree) is kept by finding id, one [`ReviewRecord`] each, capped by
//! [`StoreLimits::max_reviews`]; beside it the append-only trail (`review_events` tree, keyed by
//! finding id, time and sequence, capped by [`StoreLimits::max_review_events`]) holds every
//! [`ReviewEvent`]. Both are exported and imported with the rest; importing an event already
//! there changes nothing.
//!
//! TLS hosts (SNI -> [`TlsHostRecord`]) have their own tree, merged like HTTP hosts, so the
//! collector derives the same TLS findings as `scan`.
//!
//! Beside the merged trees, sled's `contributions` tree keeps what each agent added, written in
//! the same transaction, so one agent's data can be audited and removed ([`contrib`]).
//!
//! Not here: findings (computed from the inventory against the catalogue by the server).

use crate::catalogue_stamp::CatalogueStamp;
use crate::review::{EventAction, ReviewEvent, ReviewRecord};
use analyzer::inventory::{EndpointRecord, Inventory, InventoryLimits};
use analyzer::observation::EndpointKey;
use analyzer::time::Timestamp;
use analyzer::tls::{TlsInventory, TlsLimits};
use analyzer::wire::{AckStatus, Batch, InventoryShell};
use serde::{Deserialize, Serialize};
use sled::transaction::{
    ConflictableTransactionError, TransactionError, Transactional, TransactionalTree,
};
use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::Path;
use std::sync::Mutex;

pub mod contrib;
mod jsonl;
mod merge;
pub mod pg;
pub mod salvage;

use merge::{
    AgentUpdate, Delta, Table, AGED_OUT, COUNTER_PREFIX, META_DROPPED, META_ENDPOINTS, META_HOSTS,
    META_LAST_SWEEP, META_TLS_DROPPED, META_TLS_WITHOUT_SNI,
};

/// What the store keeps per agent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentState {
    /// The `(epoch, seq)` of the last batch applied; the high-water mark for batches without a
    /// run id (agents that predate run ids).
    pub epoch: u64,
    pub seq: u64,
    pub batches: u64,
    pub observations: u64,
    /// Packet time of the newest window applied.
    pub last_window_end: Timestamp,
    /// High-water mark per agent run (run id -> mark): a batch at or below its run's mark is
    /// a resend. The newest [`MAX_RUNS_PER_AGENT`] runs by epoch are kept.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub runs: BTreeMap<String, RunMark>,
}

/// The highest batch applied from one agent run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunMark {
    pub epoch: u64,
    pub seq: u64,
}

/// Runs remembered per agent. An agent's spool holds batches of its last few runs at most (it
/// sends oldest first), so a batch from a run this far back cannot still be waiting to be
/// resent; the cap keeps a restart loop from growing the record.
pub const MAX_RUNS_PER_AGENT: usize = 256;

impl AgentState {
    /// Record `(epoch, seq)` of `run` as applied, unless it is at or below the mark that
    /// orders it (its run's, or for run-less batches the agent's `(epoch, seq)`): then `false`.
    pub fn advance(&mut self, run: &str, epoch: u64, seq: u64) -> bool {
        if run.is_empty() {
            if self.batches > 0 && (epoch, seq) <= (self.epoch, self.seq) {
                return false;
            }
        } else {
            if self.runs.get(run).is_some_and(|m| seq <= m.seq) {
                return false;
            }
            self.runs.insert(run.to_string(), RunMark { epoch, seq });
            while self.runs.len() > MAX_RUNS_PER_AGENT {
                let oldest = self
                    .runs
                    .iter()
                    .min_by_key(|(id, m)| (m.epoch, m.seq, *id))
                    .map(|(id, _)| id.clone());
                match oldest {
                    Some(id) => self.runs.remove(&id),
                    None => break,
                };
            }
        }
        self.epoch = epoch;
        self.seq = seq;
        true
    }

    /// Fold in the state of the same agent from another store (import): the higher marks win.
    fn absorb(&mut self, other: &AgentState) {
        if (other.epoch, other.seq) > (self.epoch, self.seq) {
            self.epoch = other.epoch;
            self.seq = other.seq;
        }
        for (run, m) in &other.runs {
            let mine = self.runs.entry(run.clone()).or_default();
            if (m.epoch, m.seq) > (mine.epoch, mine.seq) {
                *mine = *m;
            }
        }
        self.batches = self.batches.saturating_add(other.batches);
        self.observations = self.observations.saturating_add(other.observations);
        self.last_window_end = self.last_window_end.max(other.last_window_end);
    }
}

/// Caps of the store, each with a counter when reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreLimits {
    pub inventory: InventoryLimits,
    /// TLS hosts kept (a new one past `max_hosts` is counted in the TLS `dropped_hosts`) and
    /// names per TLS host.
    pub tls: TlsLimits,
    /// Distinct agents (a new agent past this is refused).
    pub max_agents: usize,
    /// Review records (one per reviewed finding); a new one past this is refused.
    pub max_reviews: usize,
    /// Events of the review trail; a new review action past this is refused (the trail is
    /// append-only: nothing is dropped to make room).
    pub max_review_events: usize,
    /// Distinct hosts kept; a new host past this is shed and counted (`store.hosts_shed`).
    pub max_hosts: usize,
    /// New hosts one batch may add: one agent (a valid certificate on a compromised or
    /// misconfigured sensor) cannot fill the host table in one window. The rest are shed and
    /// counted like hosts over the cap.
    pub max_new_hosts_per_batch: usize,
    /// At the endpoint cap, endpoints not seen for this long (packet time) are aged out to
    /// make room, so a full store recovers instead of freezing on what filled it.
    pub endpoint_max_age_secs: u64,
    /// Records of the per-agent contributions (see [`contrib`]), all agents together. Past it
    /// a record is kept unattributed: counted in its agent's audit, not removable with it.
    /// 0 keeps no contributions at all (half the writes; no audit, no removal).
    pub max_contribution_records: usize,
}

impl Default for StoreLimits {
    fn default() -> Self {
        StoreLimits {
            inventory: InventoryLimits::default(),
            tls: TlsLimits::default(),
            max_agents: 10_000,
            max_reviews: 100_000,
            max_review_events: 1_000_000,
            max_hosts: 50_000,
            max_new_hosts_per_batch: 5_000,
            endpoint_max_age_secs: 30 * 24 * 3600,
            max_contribution_records: 400_000,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store database at {path}: {source}")]
    Open { path: String, source: sled::Error },
    #[error("store database: {0}")]
    Db(#[from] sled::Error),
    #[error("store record {what} is corrupt: {message}")]
    Corrupt { what: String, message: String },
    #[error("agent limit of {0} reached: refusing a new agent")]
    TooManyAgents(usize),
    #[error("store export/import I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("batch inventory: {0}")]
    Wire(#[from] analyzer::wire::WireError),
    #[error("review limit of {0} records reached: refusing a new one")]
    TooManyReviews(usize),
    #[error("review trail limit of {0} events reached: refusing a new review action")]
    TooManyReviewEvents(usize),
    #[error("store import line {line}: {message}")]
    Import { line: u64, message: String },
    /// The store cannot be opened as it is: its files are damaged (truncated, deleted,
    /// overwritten). The message says what to do, since the operator reads nothing else.
    #[error(
        "store at {path} is damaged: {what}. It cannot be used as it is. \
         Restore the last `shadowtap store export` backup into an empty directory \
         (`shadowtap store import --data NEW_DIR BACKUP.jsonl`), or see what is left with \
         `shadowtap store check {path}` and save it with \
         `shadowtap store export --data {path} --salvage --out FILE`"
    )]
    Damaged { path: String, what: String },
    #[error(
        "store at {path} is in use by another process (a running collector?): sled lets one \
         process open it at a time. Stop that process, or read a running collector through its \
         API (`shadowtap report --collector`)"
    )]
    InUse { path: String },
    /// A PostgreSQL store's call failed: `url` is without its password, `what` names the
    /// table or step.
    #[error("PostgreSQL store at {url}: {what}: {error}")]
    Postgres {
        url: String,
        what: String,
        error: postgres::Error,
    },
    /// A PostgreSQL store URL whose settings cannot be used as given (TLS modes, files).
    #[error("PostgreSQL store at {url}: {message}")]
    PostgresSettings { url: String, message: String },
    #[error(
        "no agent or import named {owner:?} contributed to this store (see `shadowtap store agents`)"
    )]
    NoContribution { owner: String },
    #[error("{path} is not a collector store (no sled `db` or `conf` file in it)")]
    NotAStore { path: String },
    /// Not named `source`: that would make it the error's source too, printed twice by `{:#}`.
    #[error("{path}: {error}")]
    File { path: String, error: std::io::Error },
}

/// Storage of the collector's state. Implementations must make `apply` atomic and durable.
pub trait Store: Send + Sync {
    /// Merge `batch` unless it is at or below its agent's high-water mark.
    fn apply(&self, batch: &Batch) -> Result<AckStatus, StoreError>;
    /// The merged inventory.
    fn inventory(&self) -> Result<Inventory, StoreError>;
    /// The merged TLS hosts.
    fn tls(&self) -> Result<TlsInventory, StoreError>;
    /// Summed capture counters of every applied batch.
    fn counters(&self) -> Result<BTreeMap<String, u64>, StoreError>;
    fn agents(&self) -> Result<BTreeMap<String, AgentState>, StoreError>;
    /// Distinct endpoints stored.
    fn endpoint_count(&self) -> Result<u64, StoreError>;
    /// Write every record as one JSON line; returns the number of lines.
    fn export_jsonl(&self, out: &mut dyn Write) -> Result<u64, StoreError>;
    /// Merge records written by `export_jsonl` (sums, unions, the higher high-water mark).
    fn import_jsonl(&self, input: &mut dyn BufRead) -> Result<u64, StoreError>;
    /// Every review record by finding id.
    fn reviews(&self) -> Result<BTreeMap<String, ReviewRecord>, StoreError>;
    /// Append `event` to the review trail and make its outcome the finding's current record,
    /// in one transaction; durable when it returns. Returns the event with its sequence number.
    fn record_review(&self, event: &ReviewEvent) -> Result<ReviewEvent, StoreError>;
    /// The review trail, oldest first: one finding's, or with `None` every finding's (ordered
    /// by time, then sequence).
    fn review_events(&self, finding: Option<&str>) -> Result<Vec<ReviewEvent>, StoreError>;
    /// Record an [`EventAction::Expire`] event for every suppression run out by `now` that has
    /// none yet; returns how many were recorded.
    fn expire_reviews(&self, now: u64) -> Result<usize, StoreError>;
    /// A number that changes whenever the inventory changes, from any process: for a store
    /// shared by several collectors, so each one's cached analysis sees the others' batches.
    /// `None` for a store only this process writes (its own applied batches say it all).
    fn revision(&self) -> Result<Option<u64>, StoreError> {
        Ok(None)
    }
    /// Record the catalogue collector `name` serves (see [`crate::catalogue_stamp`]). A store
    /// only one collector uses keeps nothing.
    fn record_catalogue(&self, _name: &str, _stamp: &CatalogueStamp) -> Result<(), StoreError> {
        Ok(())
    }
    /// The catalogue each collector using this store last recorded, by collector name.
    fn catalogues(&self) -> Result<BTreeMap<String, CatalogueStamp>, StoreError> {
        Ok(BTreeMap::new())
    }
}

/// One line of the JSONL export: `{"endpoint": {...}}`, `{"agent": {...}}`, ...
///
/// Externally tagged on purpose: an internally tagged enum buffers its content, and buffered
/// maps cannot read the integer keys (status codes) that the records hold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExportRecord {
    Endpoint {
        key: EndpointKey,
        record: Box<EndpointRecord>,
    },
    /// Every inventory field but the endpoints (hosts, timeline, ...), as the inventory
    /// serialises them.
    Inventory {
        fields: InventoryShell,
    },
    /// The TLS hosts and their counts.
    Tls {
        inventory: Box<TlsInventory>,
    },
    Agent {
        id: String,
        state: AgentState,
    },
    Counter {
        name: String,
        value: u64,
    },
    Review {
        id: String,
        record: ReviewRecord,
    },
    /// One event of the review trail (after the records, so an import of an older export,
    /// which has none, migrates its records into first events instead).
    ReviewEvent {
        event: ReviewEvent,
    },
    /// One record of an agent's contribution ([`contrib`]), written before the merged
    /// records. A store that keeps no contributions (PostgreSQL) skips them.
    Contribution {
        owner: String,
        part: contrib::Part,
    },
}

/// The sled implementation: trees `endpoints` (one record per key), `agents`, and `meta`
/// (counters, the endpoint, host and TLS host counts, the import marks, and the inventory
/// shell: the timeline, as a typed [`InventoryShell`]). Hosts and TLS hosts have their own
/// trees: a batch rewrites only the records it touches, merged one by one (no inventory is
/// built in between).
pub struct SledStore {
    db: sled::Db,
    endpoints: sled::Tree,
    /// Host name -> `HostRecord`, merged one host at a time (a batch touches only its own).
    hosts: sled::Tree,
    /// SNI -> `TlsHostRecord`.
    tls: sled::Tree,
    agents: sled::Tree,
    meta: sled::Tree,
    reviews: sled::Tree,
    /// The append-only review trail: key `finding id | at (8 bytes BE) | seq (8 bytes BE)`.
    review_events: sled::Tree,
    /// What each agent added, so it can be audited and removed ([`contrib`]).
    contributions: sled::Tree,
    limits: StoreLimits,
    /// Serialises writers: sled transactions would retry on conflict anyway, and one writer
    /// keeps the endpoint count exact and the flush-before-ack simple.
    write: Mutex<()>,
}

/// The inventory shell in `meta` (the numbers are named in [`merge`]).
const META_SHELL: &[u8] = b"inventory_shell";
/// Records in the `contributions` tree.
const META_CONTRIBUTIONS: &str = "contribution_count";
/// Set while a removal rebuilds the merged trees from the contributions: an open that finds it
/// finishes the rebuild.
const META_REBUILD: &str = "rebuild_pending";

fn enc<T: Serialize>(v: &T) -> Vec<u8> {
    // Plain data with string keys: serialisation cannot fail.
    serde_json::to_vec(v).unwrap_or_default()
}

fn dec<T: for<'de> Deserialize<'de>>(what: &str, bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt {
        what: what.to_string(),
        message: e.to_string(),
    })
}

/// Trail key: finding id, then time and sequence big-endian, so one finding's events are one
/// prefix scan, in order.
fn event_key(e: &ReviewEvent) -> Vec<u8> {
    let mut k = Vec::with_capacity(e.finding.len() + 16);
    k.extend_from_slice(e.finding.as_bytes());
    k.extend_from_slice(&e.at.to_be_bytes());
    k.extend_from_slice(&e.seq.to_be_bytes());
    k
}

fn u64_of(bytes: Option<sled::IVec>) -> u64 {
    bytes
        .and_then(|b| <[u8; 8]>::try_from(b.as_ref()).ok())
        .map(u64::from_be_bytes)
        .unwrap_or(0)
}

type TxResult<T> = Result<T, ConflictableTransactionError<StoreError>>;

impl SledStore {
    /// Open (or create) the store in `dir`. A damaged store is a [`StoreError::Damaged`]
    /// naming the directory, never a panic: see [`salvage::open_guarded`].
    pub fn open(dir: &Path, limits: StoreLimits) -> Result<SledStore, StoreError> {
        salvage::open_guarded(dir, || {
            let store = SledStore::open_unguarded(dir, limits)?;
            salvage::verify(&store).map_err(|what| StoreError::Damaged {
                path: dir.display().to_string(),
                what,
            })?;
            Ok(store)
        })
    }

    /// Every tree by name (salvage and verification walk them all).
    fn trees(&self) -> [(&'static str, &sled::Tree); 8] {
        [
            ("meta", &self.meta),
            ("hosts", &self.hosts),
            ("tls", &self.tls),
            ("endpoints", &self.endpoints),
            ("agents", &self.agents),
            ("reviews", &self.reviews),
            ("review_events", &self.review_events),
            ("contributions", &self.contributions),
        ]
    }

    /// [`SledStore::open`] without the damage checks and panic containment.
    fn open_unguarded(dir: &Path, limits: StoreLimits) -> Result<SledStore, StoreError> {
        let open = |e| match e {
            // sled holds an exclusive lock on its files; its error prints as `Os { code: 11 .. }`.
            sled::Error::Io(io) if analyzer::contain::is_lock_conflict(&io) => StoreError::InUse {
                path: dir.display().to_string(),
            },
            e => StoreError::Open {
                path: dir.display().to_string(),
                source: e,
            },
        };
        let db = open_waiting_for_lock(dir).map_err(open)?;
        let store = SledStore {
            endpoints: db.open_tree("endpoints")?,
            hosts: db.open_tree("hosts")?,
            tls: db.open_tree("tls")?,
            agents: db.open_tree("agents")?,
            meta: db.open_tree("meta")?,
            reviews: db.open_tree("reviews")?,
            review_events: db.open_tree("review_events")?,
            contributions: db.open_tree("contributions")?,
            db,
            limits,
            write: Mutex::new(()),
        };
        store.move_hosts_out_of_the_shell()?;
        store.migrate_reviews_into_the_trail()?;
        if store.meta.contains_key(META_REBUILD.as_bytes())? {
            // A removal was cut short: its records are gone, the merged trees not yet rebuilt.
            let _w = store.lock();
            store.rebuild()?;
        }
        Ok(store)
    }

    /// Review records with no event in the trail (kept before the trail existed, or imported
    /// from an export without one) get their first event, once: the trail then starts with
    /// what was known, who decided it and when.
    fn migrate_reviews_into_the_trail(&self) -> Result<usize, StoreError> {
        let mut migrated = 0;
        for (id, record) in self.reviews()? {
            if self
                .review_events
                .scan_prefix(id.as_bytes())
                .next()
                .transpose()?
                .is_none()
            {
                self.append_event(ReviewEvent::migrated(&id, &record))?;
                migrated += 1;
            }
        }
        if migrated > 0 {
            self.review_events.flush()?;
        }
        Ok(migrated)
    }

    /// Put `event` in the trail under a fresh sequence number (no cap, no record update: the
    /// migration and expiry events, bounded by the records themselves).
    fn append_event(&self, mut event: ReviewEvent) -> Result<ReviewEvent, StoreError> {
        event.seq = self.db.generate_id()?;
        self.review_events.insert(event_key(&event), enc(&event))?;
        Ok(event)
    }

    fn last_event(&self, finding: &str) -> Result<Option<ReviewEvent>, StoreError> {
        match self
            .review_events
            .scan_prefix(finding.as_bytes())
            .next_back()
        {
            Some(kv) => Ok(Some(dec("review event", &kv?.1)?)),
            None => Ok(None),
        }
    }

    /// Stores written before hosts had their own tree kept them inside the shell, rewritten
    /// whole on every batch: move them, once, with the shell update in the same transaction.
    fn move_hosts_out_of_the_shell(&self) -> Result<(), StoreError> {
        let Some(b) = self.meta.get(META_SHELL)? else {
            return Ok(());
        };
        let shell: InventoryShell = dec("inventory shell", &b)?;
        if shell.hosts.is_empty() {
            return Ok(());
        }
        let rest = InventoryShell {
            hosts: BTreeMap::new(),
            ..shell.clone()
        };
        let r = (&self.hosts, &self.meta).transaction(|(hosts, meta)| -> TxResult<()> {
            let mut count = u64_of(meta.get(META_HOSTS.as_bytes())?);
            for (name, rec) in &shell.hosts {
                if hosts.insert(name.as_bytes(), enc(rec))?.is_none() {
                    count += 1;
                }
            }
            meta.insert(META_HOSTS.as_bytes(), &count.to_be_bytes())?;
            meta.insert(META_SHELL, enc(&rest))?;
            Ok(())
        });
        match r {
            Ok(()) => Ok(()),
            Err(TransactionError::Abort(e)) => Err(e),
            Err(TransactionError::Storage(e)) => Err(StoreError::Db(e)),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        // A writer that panicked left no partial transaction behind (sled aborts it): go on.
        self.write.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Merge `d` and optionally an agent state, in one transaction (see [`merge::merge`]); with
    /// an owner, what the merge kept is added to its contribution in the same transaction.
    fn merge_tx(
        &self,
        agent: Option<AgentUpdate<'_>>,
        owner: Option<&str>,
        d: &Delta<'_>,
    ) -> Result<bool, StoreError> {
        let agents_before = self.agents.len();
        let max_contrib = self.limits.max_contribution_records as u64;
        let owner = owner.filter(|_| max_contrib > 0);
        let trees = (
            &self.endpoints,
            &self.agents,
            &self.meta,
            &self.hosts,
            &self.tls,
            &self.contributions,
        );
        let r = trees.transaction(|(endpoints, agents, meta, hosts, tls, contributions)| {
            let contrib = match owner {
                Some(o) => {
                    let count = u64_of(meta.get(META_CONTRIBUTIONS.as_bytes())?);
                    Some(contrib::Writer::open(
                        contributions,
                        o,
                        count,
                        &self.limits,
                    )?)
                }
                None => None,
            };
            let mut t = SledTx {
                endpoints,
                agents,
                meta,
                hosts,
                tls,
                contrib,
            };
            let applied = merge::merge(&mut t, &self.limits, agents_before, agent, d)?;
            if let (true, Some(w)) = (applied, t.contrib) {
                let n = w.close()?;
                meta.insert(META_CONTRIBUTIONS.as_bytes(), &n.to_be_bytes())?;
            }
            Ok(applied)
        });
        match r {
            Ok(applied) => Ok(applied),
            Err(TransactionError::Abort(e)) => Err(e),
            Err(TransactionError::Storage(e)) => Err(StoreError::Db(e)),
        }
    }
}

/// The sled trees of one transaction, as [`merge::MergeTables`], with the contribution the
/// merge is written to (if any).
struct SledTx<'a> {
    endpoints: &'a TransactionalTree,
    agents: &'a TransactionalTree,
    meta: &'a TransactionalTree,
    hosts: &'a TransactionalTree,
    tls: &'a TransactionalTree,
    contrib: Option<contrib::Writer<'a>>,
}

impl SledTx<'_> {
    fn tree(&self, table: Table) -> &TransactionalTree {
        match table {
            Table::Endpoints => self.endpoints,
            Table::Hosts => self.hosts,
            Table::Tls => self.tls,
            Table::Agents => self.agents,
        }
    }
}

impl merge::MergeTables for SledTx<'_> {
    type Error = ConflictableTransactionError<StoreError>;
    type Bytes = sled::IVec;
    fn abort(e: StoreError) -> Self::Error {
        ConflictableTransactionError::Abort(e)
    }
    fn get(&mut self, table: Table, key: &[u8]) -> Result<Option<sled::IVec>, Self::Error> {
        Ok(self.tree(table).get(key)?)
    }
    fn put(&mut self, table: Table, key: &[u8], value: &[u8]) -> Result<(), Self::Error> {
        self.tree(table).insert(key, value)?;
        Ok(())
    }
    fn number(&mut self, name: &str) -> Result<u64, Self::Error> {
        Ok(u64_of(self.meta.get(name.as_bytes())?))
    }
    fn set_number(&mut self, name: &str, value: u64) -> Result<(), Self::Error> {
        self.meta.insert(name.as_bytes(), &value.to_be_bytes())?;
        Ok(())
    }
    fn shell(&mut self) -> Result<Option<sled::IVec>, Self::Error> {
        Ok(self.meta.get(META_SHELL)?)
    }
    fn set_shell(&mut self, value: &[u8]) -> Result<(), Self::Error> {
        self.meta.insert(META_SHELL, value)?;
        Ok(())
    }
    fn kept(&mut self, what: merge::Kept<'_>) -> Result<(), Self::Error> {
        match self.contrib.as_mut() {
            Some(w) => w.kept(what),
            None => Ok(()),
        }
    }
}

/// Open the sled database in `dir`, waiting out this process's own lock (see
/// [`analyzer::contain::retry_lock_conflict`]).
fn open_waiting_for_lock(dir: &Path) -> Result<sled::Db, sled::Error> {
    analyzer::contain::retry_lock_conflict(
        || sled::Config::new().path(dir).open(),
        |e| matches!(e, sled::Error::Io(io) if analyzer::contain::is_lock_conflict(io)),
    )
}

/// Prefix of the meta keys recording each imported export (by content digest).
const IMPORT_PREFIX: &str = "import:";

/// What [`SledStore::import_file`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportOutcome {
    /// Merged: lines read.
    Imported(u64),
    /// This export (same content) was imported before: nothing changed.
    AlreadyImported,
}

impl SledStore {
    /// Whether the store holds anything (endpoints, hosts, TLS hosts, agents or reviews).
    pub fn holds_data(&self) -> Result<bool, StoreError> {
        for (name, tree) in self.trees() {
            if name != "meta" && !tree.is_empty() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Import the export at `path` unless an export with the same content was imported
    /// before: merging sums counts, so a second import of one export would double them. The
    /// digest is recorded once the whole file is merged.
    pub fn import_file(&self, path: &Path) -> Result<ImportOutcome, StoreError> {
        let file_err = |error| StoreError::File {
            path: path.display().to_string(),
            error,
        };
        let digest = jsonl::file_digest(path)?;
        let mark = format!("{IMPORT_PREFIX}{digest}");
        if self.meta.contains_key(mark.as_bytes())? {
            return Ok(ImportOutcome::AlreadyImported);
        }
        let f = std::fs::File::open(path).map_err(file_err)?;
        let n = self.import_jsonl(&mut std::io::BufReader::new(f))?;
        self.meta.insert(mark.as_bytes(), &1u64.to_be_bytes())?;
        self.db.flush()?;
        Ok(ImportOutcome::Imported(n))
    }
}

impl SledStore {
    /// Remove endpoints quiet for `endpoint_max_age_secs` (probe-like ones after an hour) as of
    /// packet time `now`, at most once per hour of packet time. Called when the store is at its
    /// endpoint cap, so it makes room instead of shedding every new endpoint forever.
    fn age_out(&self, now: Timestamp) -> Result<(), StoreError> {
        if !merge::sweep_due(u64_of(self.meta.get(META_LAST_SWEEP.as_bytes())?), now) {
            return Ok(());
        }
        let mut stale = Vec::new();
        for kv in self.endpoints.iter() {
            let (k, v) = kv?;
            if merge::is_stale(&dec("endpoint", &v)?, now, &self.limits) {
                stale.push(k);
            }
        }
        let removed = stale.len() as u64;
        self.forget_endpoints(&stale)?;
        let r = (&self.endpoints, &self.meta).transaction(|(endpoints, meta)| -> TxResult<()> {
            let mut gone = 0u64;
            for k in &stale {
                if endpoints.remove(k)?.is_some() {
                    gone += 1;
                }
            }
            let count = u64_of(meta.get(META_ENDPOINTS.as_bytes())?).saturating_sub(gone);
            meta.insert(META_ENDPOINTS.as_bytes(), &count.to_be_bytes())?;
            let k = format!("{COUNTER_PREFIX}{AGED_OUT}");
            let old = u64_of(meta.get(k.as_bytes())?);
            meta.insert(k.as_bytes(), &old.saturating_add(gone).to_be_bytes())?;
            meta.insert(
                META_LAST_SWEEP.as_bytes(),
                &now.micros().max(1).to_be_bytes(),
            )?;
            Ok(())
        });
        match r {
            Ok(()) => {
                if removed > 0 {
                    tracing::info!("endpoint cap reached: aged out {removed} quiet endpoints");
                }
                Ok(())
            }
            Err(TransactionError::Abort(e)) => Err(e),
            Err(TransactionError::Storage(e)) => Err(StoreError::Db(e)),
        }
    }
}

impl Store for SledStore {
    fn apply(&self, batch: &Batch) -> Result<AckStatus, StoreError> {
        let w = self.lock();
        let update = merge::batch_update(batch);
        let full_before = self.endpoint_count()? >= self.limits.inventory.max_endpoints as u64;
        let delta = Delta::of_batch(batch);
        let applied = self.merge_tx(
            Some((&batch.agent_id, &update)),
            Some(&batch.agent_id),
            &delta,
        )?;
        if applied && full_before {
            self.age_out(batch.window_end)?;
        }
        drop(w);
        // Durable before the agent hears "stored" (a duplicate too: its first copy may still
        // be in another request's flush). Flushed outside the writer lock, so the next batch's
        // transaction overlaps this fsync, and one flush may cover several batches.
        self.db.flush()?;
        Ok(if applied {
            AckStatus::Accepted
        } else {
            AckStatus::Duplicate
        })
    }

    fn inventory(&self) -> Result<Inventory, StoreError> {
        let mut inv = Inventory::new(self.limits.inventory.clone());
        if let Some(b) = self.meta.get(META_SHELL)? {
            inv.timeline = dec::<InventoryShell>("inventory shell", &b)?.timeline;
        }
        for kv in self.endpoints.iter() {
            let (k, v) = kv?;
            inv.endpoints
                .insert(dec("endpoint key", &k)?, dec("endpoint", &v)?);
        }
        for kv in self.hosts.iter() {
            let (k, v) = kv?;
            inv.hosts
                .insert(String::from_utf8_lossy(&k).into_owned(), dec("host", &v)?);
        }
        inv.dropped_observations = u64_of(self.meta.get(META_DROPPED.as_bytes())?);
        Ok(inv)
    }

    fn tls(&self) -> Result<TlsInventory, StoreError> {
        let mut out = TlsInventory::new(self.limits.tls);
        for kv in self.tls.iter() {
            let (k, v) = kv?;
            out.hosts.insert(
                String::from_utf8_lossy(&k).into_owned(),
                dec("TLS host", &v)?,
            );
        }
        out.without_sni = u64_of(self.meta.get(META_TLS_WITHOUT_SNI.as_bytes())?);
        out.dropped_hosts = u64_of(self.meta.get(META_TLS_DROPPED.as_bytes())?);
        Ok(out)
    }

    fn counters(&self) -> Result<BTreeMap<String, u64>, StoreError> {
        let mut out = BTreeMap::new();
        for kv in self.meta.scan_prefix(COUNTER_PREFIX.as_bytes()) {
            let (k, v) = kv?;
            let name = String::from_utf8_lossy(&k[COUNTER_PREFIX.len()..]).into_owned();
            out.insert(name, u64_of(Some(v)));
        }
        Ok(out)
    }

    fn agents(&self) -> Result<BTreeMap<String, AgentState>, StoreError> {
        let mut out = BTreeMap::new();
        for kv in self.agents.iter() {
            let (k, v) = kv?;
            out.insert(String::from_utf8_lossy(&k).into_owned(), dec("agent", &v)?);
        }
        Ok(out)
    }

    fn endpoint_count(&self) -> Result<u64, StoreError> {
        Ok(u64_of(self.meta.get(META_ENDPOINTS.as_bytes())?))
    }

    fn export_jsonl(&self, out: &mut dyn Write) -> Result<u64, StoreError> {
        // First, so an import knows the merged records that follow are attributed.
        let contributions = self.export_contributions(out)?;
        Ok(contributions + jsonl::export(self, out)?)
    }

    fn import_jsonl(&self, input: &mut dyn BufRead) -> Result<u64, StoreError> {
        let _w = self.lock();
        let mut attributed = false;
        let n = jsonl::read(input, &mut |rec| {
            let mut counter = BTreeMap::new();
            match rec {
                ExportRecord::Review { id, record } => {
                    // The newer decision wins.
                    let old = self.reviews.get(id.as_bytes())?;
                    let keep_old = match &old {
                        Some(b) => dec::<ReviewRecord>("review", b)?.at > record.at,
                        None => false,
                    };
                    if !keep_old {
                        if old.is_none() && self.reviews.len() >= self.limits.max_reviews {
                            return Err(StoreError::TooManyReviews(self.limits.max_reviews));
                        }
                        self.reviews.insert(id.as_bytes(), enc(record))?;
                    }
                }
                ExportRecord::ReviewEvent { event } => {
                    // Keyed by its own content: the same event imported twice is one event.
                    let key = event_key(event);
                    if !self.review_events.contains_key(&key)? {
                        if self.review_events.len() >= self.limits.max_review_events {
                            return Err(StoreError::TooManyReviewEvents(
                                self.limits.max_review_events,
                            ));
                        }
                        self.review_events.insert(key, enc(&event))?;
                    }
                }
                ExportRecord::Agent { id, state } => {
                    let update = jsonl::absorb(state);
                    self.merge_tx(Some((id, &update)), None, &Delta::default())?;
                }
                ExportRecord::Contribution { owner, part } => {
                    attributed = true;
                    self.import_part(owner, part)?;
                }
                _ => {
                    // An export with contributions says whose its records are (they come
                    // first); one without (older, or salvaged) is attributed to the import.
                    let owner = (!attributed).then_some(contrib::IMPORT_OWNER);
                    self.merge_tx(None, owner, &Delta::of_record(rec, &mut counter))?;
                }
            }
            Ok(())
        })?;
        self.migrate_reviews_into_the_trail()?;
        self.db.flush()?;
        Ok(n)
    }

    fn reviews(&self) -> Result<BTreeMap<String, ReviewRecord>, StoreError> {
        let mut out = BTreeMap::new();
        for kv in self.reviews.iter() {
            let (k, v) = kv?;
            out.insert(String::from_utf8_lossy(&k).into_owned(), dec("review", &v)?);
        }
        Ok(out)
    }

    fn record_review(&self, event: &ReviewEvent) -> Result<ReviewEvent, StoreError> {
        let w = self.lock();
        // Under the writer lock, so the counts cannot race past the caps.
        if self.review_events.len() >= self.limits.max_review_events {
            return Err(StoreError::TooManyReviewEvents(
                self.limits.max_review_events,
            ));
        }
        let id = event.finding.as_bytes();
        let before: Option<ReviewRecord> = match self.reviews.get(id)? {
            Some(b) => Some(dec("review", &b)?),
            None => None,
        };
        let had = before.is_some();
        let after = event.record_after(before.clone());
        if !had && after.is_some() && self.reviews.len() >= self.limits.max_reviews {
            return Err(StoreError::TooManyReviews(self.limits.max_reviews));
        }
        // A suppression that ran out before this action gets its expiry event first, so the
        // trail reads in the order things happened.
        if let Some(old) = &before {
            let ran_out = old.state == crate::review::ReviewState::Suppressed
                && old.expires.is_some_and(|e| e <= event.at);
            let logged = self
                .last_event(&event.finding)?
                .is_some_and(|e| e.action == EventAction::Expire);
            if ran_out && !logged {
                self.append_event(ReviewEvent::expiry(&event.finding, old))?;
            }
        }
        let mut event = event.clone();
        event.seq = self.db.generate_id()?;
        let key = event_key(&event);
        let value = enc(&event);
        let record = after.as_ref().map(enc);
        (&self.review_events, &self.reviews)
            .transaction(|(events, reviews)| {
                events.insert(key.as_slice(), value.as_slice())?;
                match &record {
                    Some(r) => reviews.insert(id, r.as_slice())?,
                    None => reviews.remove(id)?,
                };
                Ok::<_, ConflictableTransactionError<StoreError>>(())
            })
            .map_err(|e| match e {
                TransactionError::Abort(e) => e,
                TransactionError::Storage(e) => StoreError::from(e),
            })?;
        drop(w);
        // A reviewer's decision is acknowledged only once it is on disk, like a batch.
        self.db.flush()?;
        Ok(event)
    }

    fn review_events(&self, finding: Option<&str>) -> Result<Vec<ReviewEvent>, StoreError> {
        let mut out: Vec<ReviewEvent> = Vec::new();
        let iter = match finding {
            Some(f) => self.review_events.scan_prefix(f.as_bytes()),
            None => self.review_events.iter(),
        };
        for kv in iter {
            out.push(dec("review event", &kv?.1)?);
        }
        if finding.is_none() {
            out.sort_by(|a, b| (a.at, a.seq, &a.finding).cmp(&(b.at, b.seq, &b.finding)));
        }
        Ok(out)
    }

    fn expire_reviews(&self, now: u64) -> Result<usize, StoreError> {
        let _w = self.lock();
        let mut n = 0;
        for (id, r) in self.reviews()? {
            let ran_out = r.state == crate::review::ReviewState::Suppressed
                && r.expires.is_some_and(|e| e <= now);
            if ran_out
                && !self
                    .last_event(&id)?
                    .is_some_and(|e| e.action == EventAction::Expire)
            {
                self.append_event(ReviewEvent::expiry(&id, &r))?;
                n += 1;
            }
        }
        if n > 0 {
            self.review_events.flush()?;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use analyzer::observation::{Consumer, Observation};

    fn obs(path: &str, ts: i64, who: &str) -> Observation {
        Observation {
            status: Some(200),
            ..Observation::bare(
                Timestamp(ts),
                EndpointKey {
                    host: "api.bank".into(),
                    method: "GET".into(),
                    path: path.into(),
                },
                Consumer {
                    address: who.into(),
                    credential: None,
                },
            )
        }
    }

    fn batch(agent: &str, epoch: u64, seq: u64, paths: &[&str]) -> Batch {
        let mut inv = Inventory::default();
        for (i, p) in paths.iter().enumerate() {
            inv.add(&obs(p, 1_000 + i as i64, agent));
        }
        let counters = BTreeMap::from([("packets".to_string(), 10)]);
        Batch::new(agent, epoch, seq, &inv, counters)
    }

    fn tls_batch(seq: u64, hosts: &[&str]) -> Batch {
        let mut tls = TlsInventory::default();
        for (i, h) in hosts.iter().enumerate() {
            tls.add(&analyzer::tls::TlsObservation {
                ts: Timestamp(2_000 + i as i64),
                sni: Some((*h).to_string()),
                alpn: vec!["h2".into()],
                ja4: "t13d".into(),
                server_cert_subject: None,
                client_cert_subject: None,
                consumer: "addr:10.0.0.1".into(),
                server_alpn: None,
            });
        }
        Batch::of_payload(
            "a1",
            7,
            seq,
            analyzer::wire::Payload {
                tls,
                ..Default::default()
            },
        )
    }

    #[test]
    fn tls_hosts_merge_cap_dedupe_and_survive_export_import() {
        let dir = tempfile::tempdir().expect("tempdir");
        let limits = StoreLimits {
            tls: TlsLimits {
                max_hosts: 2,
                max_names: 8,
            },
            ..StoreLimits::default()
        };
        let store = SledStore::open(dir.path(), limits.clone()).expect("open");
        store
            .apply(&tls_batch(0, &["a.test", "b.test"]))
            .expect("apply");
        assert_eq!(
            store
                .apply(&tls_batch(0, &["a.test", "b.test"]))
                .expect("apply"),
            AckStatus::Duplicate
        );
        store
            .apply(&tls_batch(1, &["a.test", "c.test"]))
            .expect("apply");
        let tls = store.tls().expect("tls");
        assert_eq!(tls.hosts.len(), 2, "capped at two hosts");
        assert_eq!(tls.hosts["a.test"].connections, 2);
        assert_eq!(tls.dropped_hosts, 1, "c.test counted, not kept");
        let mut out = Vec::new();
        store.export_jsonl(&mut out).expect("export");
        let dir2 = tempfile::tempdir().expect("tempdir");
        let copy = SledStore::open(dir2.path(), limits).expect("open");
        copy.import_jsonl(&mut out.as_slice()).expect("import");
        assert_eq!(copy.tls().expect("tls"), tls);
    }

    #[test]
    fn a_store_open_elsewhere_is_said_to_be_in_use() {
        let dir = tempfile::tempdir().expect("tempdir");
        let _first = SledStore::open(dir.path(), StoreLimits::default()).expect("open");
        let second = SledStore::open(dir.path(), StoreLimits::default());
        assert!(
            matches!(second, Err(StoreError::InUse { .. })),
            "{:?}",
            second.err()
        );
    }

    #[test]
    fn resent_and_older_batches_change_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SledStore::open(dir.path(), StoreLimits::default()).expect("open");
        let b0 = batch("a1", 5, 0, &["/x", "/y"]);
        let b1 = batch("a1", 5, 1, &["/x"]);
        assert_eq!(store.apply(&b0).expect("apply"), AckStatus::Accepted);
        assert_eq!(store.apply(&b1).expect("apply"), AckStatus::Accepted);
        assert_eq!(store.apply(&b0).expect("apply"), AckStatus::Duplicate);
        assert_eq!(store.apply(&b1).expect("apply"), AckStatus::Duplicate);
        let inv = store.inventory().expect("inventory");
        assert_eq!(inv.exchanges(), 3);
        assert_eq!(store.counters().expect("counters")["packets"], 20);
        // A new epoch (agent restarted) starts its seq again and is accepted.
        assert_eq!(
            store.apply(&batch("a1", 6, 0, &["/z"])).expect("apply"),
            AckStatus::Accepted
        );
        let agents = store.agents().expect("agents");
        assert_eq!((agents["a1"].epoch, agents["a1"].seq), (6, 0));
        assert_eq!(agents["a1"].batches, 3);
        assert_eq!(store.endpoint_count().expect("count"), 3);
    }

    #[test]
    fn a_restarted_agent_with_a_wiped_spool_is_not_taken_for_a_resend() {
        // Before run ids, the epoch was the only thing telling runs apart: an agent whose spool
        // was wiped and that restarted within the same second (or with its clock set back)
        // reused `(epoch, 0)` and its new batches were acknowledged as duplicates and lost.
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SledStore::open(dir.path(), StoreLimits::default()).expect("open");
        let run1 = "0123456789abcdef0123456789abcdef";
        let run2 = "fedcba9876543210fedcba9876543210";
        let first = batch("a1", 1_700_000_000, 0, &["/x"]).with_run_id(run1);
        let again = batch("a1", 1_700_000_000, 0, &["/y"]).with_run_id(run2);
        assert_eq!(store.apply(&first).expect("apply"), AckStatus::Accepted);
        assert_eq!(store.apply(&again).expect("apply"), AckStatus::Accepted);
        assert_eq!(store.inventory().expect("inv").exchanges(), 2);
        // Resends within either run are still no-ops, even after the other run moved on.
        assert_eq!(store.apply(&first).expect("apply"), AckStatus::Duplicate);
        let later = batch("a1", 1_700_000_000, 1, &["/y"]).with_run_id(run2);
        assert_eq!(store.apply(&later).expect("apply"), AckStatus::Accepted);
        assert_eq!(store.apply(&again).expect("apply"), AckStatus::Duplicate);
        assert_eq!(store.inventory().expect("inv").exchanges(), 3);
        let agents = store.agents().expect("agents");
        assert_eq!(agents["a1"].runs.len(), 2);
        assert_eq!(agents["a1"].batches, 3);
    }

    #[test]
    fn runs_remembered_per_agent_are_capped_oldest_first() {
        let mut state = AgentState::default();
        for i in 0..(MAX_RUNS_PER_AGENT as u64 + 10) {
            assert!(state.advance(&format!("{i:032x}"), i, 0));
        }
        assert_eq!(state.runs.len(), MAX_RUNS_PER_AGENT);
        assert!(!state.runs.contains_key(&format!("{:032x}", 0)));
        let newest = format!("{:032x}", MAX_RUNS_PER_AGENT as u64 + 9);
        assert!(!state.advance(&newest, 0, 0), "a resend of a kept run");
    }

    #[test]
    fn hosts_are_capped_per_store_and_per_batch_and_a_batch_touches_only_its_own() {
        let dir = tempfile::tempdir().expect("tempdir");
        let limits = StoreLimits {
            max_hosts: 25,
            max_new_hosts_per_batch: 10,
            ..StoreLimits::default()
        };
        let store = SledStore::open(dir.path(), limits).expect("open");
        let hosts_batch = |seq: u64, from: usize, n: usize| {
            let mut inv = Inventory::default();
            for i in from..from + n {
                let mut o = obs("/x", 1_000 + i as i64, "10.0.0.1");
                o.endpoint.host = format!("h{i}.test");
                inv.add(&o);
            }
            Batch::new("a1", 1, seq, &inv, BTreeMap::new())
        };
        // 30 new hosts in one batch: 10 kept, 20 shed and counted.
        store.apply(&hosts_batch(0, 0, 30)).expect("apply");
        assert_eq!(store.inventory().expect("inv").hosts.len(), 10);
        assert_eq!(store.counters().expect("counters")["store.hosts_shed"], 20);
        // Known hosts still merge; the cap of 25 holds across batches. (Kept first, in name
        // order: h0, h1, h10..h17; then h2..h9 are new (18 hosts), then 7 of h100..h109 fit
        // and 3 are shed, then all of h200..h209 are shed.)
        store.apply(&hosts_batch(1, 0, 10)).expect("apply");
        assert_eq!(store.inventory().expect("inv").hosts.len(), 18);
        store.apply(&hosts_batch(2, 100, 10)).expect("apply");
        store.apply(&hosts_batch(3, 200, 10)).expect("apply");
        let inv = store.inventory().expect("inv");
        assert_eq!(inv.hosts.len(), 25);
        assert_eq!(inv.hosts["h0.test"].exchanges, 2);
        assert_eq!(
            store.counters().expect("counters")["store.hosts_shed"],
            20 + 3 + 10
        );
        // Hosts live in their own tree: the shell no longer carries them.
        let shell = store.meta.get(META_SHELL).expect("read").expect("shell");
        assert!(!String::from_utf8_lossy(&shell).contains("h0.test"));
    }

    #[test]
    fn a_store_with_hosts_in_its_shell_moves_them_to_the_host_tree_on_open() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let store = SledStore::open(dir.path(), StoreLimits::default()).expect("open");
            let mut old = Inventory::default();
            old.add(&obs("/x", 1_000, "10.0.0.1"));
            old.endpoints.clear();
            store
                .meta
                .insert(META_SHELL, enc(&InventoryShell::of(&old)))
                .expect("write an old-style shell");
        }
        let store = SledStore::open(dir.path(), StoreLimits::default()).expect("reopen");
        assert_eq!(store.hosts.len(), 1);
        assert_eq!(store.inventory().expect("inv").hosts.len(), 1);
        let shell = store.meta.get(META_SHELL).expect("read").expect("shell");
        assert!(!String::from_utf8_lossy(&shell).contains("api."));
    }

    #[test]
    fn a_full_store_ages_out_quiet_and_probe_endpoints_instead_of_freezing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let limits = StoreLimits {
            inventory: InventoryLimits {
                max_endpoints: 3,
                ..InventoryLimits::default()
            },
            ..StoreLimits::default()
        };
        let store = SledStore::open(dir.path(), limits).expect("open");
        let hour = 3600 * Timestamp::MICROS_PER_SEC;
        let at = |seq: u64, ts: i64, path: &str, status: u16| {
            let mut inv = Inventory::default();
            let mut o = obs(path, ts, "10.0.0.1");
            o.status = Some(status);
            inv.add(&o);
            Batch::new("a1", 1, seq, &inv, BTreeMap::new())
        };
        // A probe flood fills the store: one 404 each.
        store.apply(&at(0, 0, "/probe1", 404)).expect("apply");
        store.apply(&at(1, 0, "/probe2", 404)).expect("apply");
        store.apply(&at(2, 0, "/real", 200)).expect("apply");
        // Full: the next new endpoint is shed, but two hours later the probes are aged out.
        store.apply(&at(3, 2 * hour, "/new1", 200)).expect("apply");
        assert_eq!(store.endpoint_count().expect("count"), 1);
        let counters = store.counters().expect("counters");
        assert_eq!(counters["store.endpoints_aged_out"], 2);
        store.apply(&at(4, 2 * hour, "/new2", 200)).expect("apply");
        let inv = store.inventory().expect("inv");
        let paths: Vec<&str> = inv.endpoints.keys().map(|k| k.path.as_str()).collect();
        assert_eq!(paths, ["/new2", "/real"]);
        assert_eq!(inv.dropped_observations, 1, "the shed one stays counted");
    }

    #[test]
    fn agents_have_separate_marks_and_state_survives_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let store = SledStore::open(dir.path(), StoreLimits::default()).expect("open");
            store.apply(&batch("a1", 1, 9, &["/x"])).expect("apply");
            assert_eq!(
                store.apply(&batch("a2", 1, 0, &["/x"])).expect("apply"),
                AckStatus::Accepted
            );
        }
        let store = SledStore::open(dir.path(), StoreLimits::default()).expect("reopen");
        assert_eq!(store.inventory().expect("inv").exchanges(), 2);
        assert_eq!(
            store.apply(&batch("a1", 1, 9, &["/x"])).expect("apply"),
            AckStatus::Duplicate
        );
    }

    #[test]
    fn endpoint_and_agent_caps_hold_and_count() {
        let dir = tempfile::tempdir().expect("tempdir");
        let limits = StoreLimits {
            inventory: InventoryLimits {
                max_endpoints: 2,
                max_names: 10,
            },
            max_agents: 1,
            max_reviews: 1,
            ..StoreLimits::default()
        };
        let store = SledStore::open(dir.path(), limits).expect("open");
        store
            .apply(&batch("a1", 1, 0, &["/a", "/b", "/c", "/c"]))
            .expect("apply");
        let inv = store.inventory().expect("inv");
        assert_eq!(inv.endpoints.len(), 2);
        assert_eq!(inv.dropped_observations, 2);
        let err = store.apply(&batch("a2", 1, 0, &["/a"])).expect_err("cap");
        assert!(matches!(err, StoreError::TooManyAgents(1)), "{err}");
        // Reviews: one record allowed; replacing or removing it is always fine.
        let ev = |id: &str, action, at| ReviewEvent {
            finding: id.into(),
            seq: 0,
            action,
            state: if action == EventAction::Reopen {
                crate::review::ReviewState::Open
            } else {
                crate::review::ReviewState::Accepted
            },
            by: "t".into(),
            at,
            reason: String::new(),
            expires: None,
        };
        let (a, b) = ("aaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbb");
        store
            .record_review(&ev(a, EventAction::Accept, 1))
            .expect("first");
        store
            .record_review(&ev(a, EventAction::Accept, 2))
            .expect("replace");
        let err = store
            .record_review(&ev(b, EventAction::Accept, 3))
            .expect_err("cap");
        assert!(matches!(err, StoreError::TooManyReviews(1)), "{err}");
        store
            .record_review(&ev(a, EventAction::Reopen, 4))
            .expect("remove");
        store
            .record_review(&ev(b, EventAction::Accept, 5))
            .expect("room again");
        assert_eq!(store.reviews().expect("reviews").len(), 1);
        // The trail kept every accepted action, and it is capped too.
        assert_eq!(store.review_events(Some(a)).expect("trail").len(), 3);
        assert_eq!(store.review_events(None).expect("trail").len(), 4);
    }

    #[test]
    fn review_trail_is_append_only_migrates_old_records_and_records_expiry() {
        let dir = tempfile::tempdir().expect("tempdir");
        let id = "0123456789abcdef";
        {
            // A store from before the trail: a bare last-action record.
            let store = SledStore::open(dir.path(), StoreLimits::default()).expect("open");
            let old = ReviewRecord {
                state: crate::review::ReviewState::Suppressed,
                reason: "pen test".into(),
                expires: Some(100),
                by: "ana".into(),
                at: 10,
            };
            store.reviews.insert(id, enc(&old)).expect("insert");
            store.review_events.clear().expect("clear");
        }
        let store = SledStore::open(dir.path(), StoreLimits::default()).expect("reopen");
        let trail = store.review_events(Some(id)).expect("trail");
        assert_eq!(trail.len(), 1);
        assert_eq!(trail[0].action, EventAction::Migrate);
        assert_eq!((trail[0].by.as_str(), trail[0].at), ("ana", 10));
        assert_eq!(trail[0].reason, "pen test");
        // Expiry is recorded once, at the expiry time, by the system.
        assert_eq!(store.expire_reviews(99).expect("expire"), 0);
        assert_eq!(store.expire_reviews(150).expect("expire"), 1);
        assert_eq!(store.expire_reviews(200).expect("expire"), 0);
        // A reopen with a reason leaves no record but keeps everything before it.
        let reopen = ReviewEvent::of_decision(
            id,
            &crate::review::ReviewAction::Reopen,
            None,
            "bob",
            "retest found it again",
            300,
        );
        let stored = store.record_review(&reopen).expect("reopen");
        assert!(stored.seq > 0);
        assert!(store.reviews().expect("r").is_empty());
        let trail = store.review_events(Some(id)).expect("trail");
        let actions: Vec<_> = trail.iter().map(|e| e.action).collect();
        assert_eq!(
            actions,
            [
                EventAction::Migrate,
                EventAction::Expire,
                EventAction::Reopen
            ]
        );
        assert_eq!(trail[1].at, 100);
        assert_eq!(trail[1].by, crate::review::SYSTEM_ACTOR);
        assert_eq!(
            (trail[2].by.as_str(), trail[2].reason.as_str()),
            ("bob", "retest found it again")
        );
        // Reopening the store migrates nothing more: the trail has events for it.
        drop(store);
        let store = SledStore::open(dir.path(), StoreLimits::default()).expect("reopen");
        assert_eq!(store.review_events(None).expect("trail"), trail);
    }

    #[test]
    fn jsonl_export_import_round_trips() {
        let (d1, d2) = (
            tempfile::tempdir().expect("t"),
            tempfile::tempdir().expect("t"),
        );
        let a = SledStore::open(d1.path(), StoreLimits::default()).expect("open");
        a.apply(&batch("a1", 1, 0, &["/x", "/y"])).expect("apply");
        a.apply(&batch("a2", 3, 4, &["/x"])).expect("apply");
        let review = ReviewRecord {
            state: crate::review::ReviewState::Suppressed,
            reason: "pen test".into(),
            expires: Some(99),
            by: "ana".into(),
            at: 9,
        };
        let ev = ReviewEvent {
            finding: "0123456789abcdef".into(),
            seq: 0,
            action: EventAction::Suppress,
            state: review.state,
            by: review.by.clone(),
            at: review.at,
            reason: review.reason.clone(),
            expires: review.expires,
        };
        a.record_review(&ev).expect("review");
        let mut buf = Vec::new();
        let lines = a.export_jsonl(&mut buf).expect("export");
        assert!(lines >= 5, "{lines}");
        let b = SledStore::open(d2.path(), StoreLimits::default()).expect("open");
        b.import_jsonl(&mut buf.as_slice()).expect("import");
        assert_eq!(b.inventory().expect("i"), a.inventory().expect("i"));
        assert_eq!(b.agents().expect("a"), a.agents().expect("a"));
        assert_eq!(b.counters().expect("c"), a.counters().expect("c"));
        assert_eq!(b.reviews().expect("r")["0123456789abcdef"], review);
        let trail = a.review_events(None).expect("trail");
        assert_eq!(trail.len(), 1);
        assert_eq!(b.review_events(None).expect("trail"), trail);
        // Importing the same export again adds no event.
        b.import_jsonl(&mut buf.as_slice()).expect("import again");
        assert_eq!(b.review_events(None).expect("trail"), trail);
        // The imported mark still deduplicates.
        assert_eq!(
            b.apply(&batch("a2", 3, 4, &["/x"])).expect("apply"),
            AckStatus::Duplicate
        );
        let err = b
            .import_jsonl(&mut &b"{\"type\":\"nope\"}\n"[..])
            .expect_err("bad");
        assert!(err.to_string().contains("line 1"), "{err}");
    }
}
