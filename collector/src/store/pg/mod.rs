//! The PostgreSQL store: `shadowtap collector --store postgres://...`. The same records and
//! rules as [`super::SledStore`] (the merge is [`super::merge::merge`], shared), in tables that
//! several collectors can share: each write runs in one transaction holding a transaction-level
//! advisory lock ([`WRITE_LOCK`]), so writers from every collector are serialised exactly as
//! the sled store's writer mutex serialises its own; reads run in a repeatable-read snapshot
//! and take no lock. A batch and its agent's high-water mark commit together, and the commit
//! returns before the agent is acknowledged (`synchronous_commit` as the server sets it: keep
//! it `on`).
//!
//! TLS to the server is configured by libpq's settings in the URL (`tls.rs`).

mod catalogues;
mod conn;
mod offsets;
mod reviews;
mod schema;
mod tables;
mod tls;

use super::merge::{self, Delta, META_DROPPED, META_ENDPOINTS};
use super::{dec, jsonl, AgentState, ExportRecord, ImportOutcome, Store, StoreError, StoreLimits};
use crate::catalogue_stamp::CatalogueStamp;
use crate::review::{ReviewEvent, ReviewRecord};
use analyzer::inventory::Inventory;
use analyzer::tls::TlsInventory;
use analyzer::wire::{AckStatus, Batch, InventoryShell};
use conn::{Conn, Pool};
use postgres::IsolationLevel;
use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::Path;
use tables::{from_db, PgTx};

pub use conn::redact;
pub use offsets::{Consumed, Position};

/// Advisory lock key held by every writing transaction.
const WRITE_LOCK: i64 = 0x5348_4144_0002;
/// The number raised by every applied batch and import (see [`Store::revision`]).
const REVISION: &str = "revision";

/// Whether `s` names a PostgreSQL database rather than a directory.
pub fn is_postgres_url(s: &str) -> bool {
    s.starts_with("postgres://") || s.starts_with("postgresql://")
}

pub struct PgStore {
    pool: Pool,
    limits: StoreLimits,
}

impl PgStore {
    /// Connect to `url` and bring its schema up to date.
    pub fn open(url: &str, limits: StoreLimits) -> Result<PgStore, StoreError> {
        let pool = Pool::new(url)?;
        let mut client = pool.connect()?;
        schema::migrate(&pool, &mut client)?;
        Ok(PgStore { pool, limits })
    }

    /// The URL without its password.
    pub fn url(&self) -> &str {
        self.pool.url()
    }

    fn begin<'c>(
        pool: &Pool,
        client: &'c mut postgres::Client,
        read_only: bool,
    ) -> Result<postgres::Transaction<'c>, StoreError> {
        client
            .build_transaction()
            .isolation_level(if read_only {
                IsolationLevel::RepeatableRead
            } else {
                IsolationLevel::ReadCommitted
            })
            .read_only(read_only)
            .start()
            .map_err(|e| pool.err("begin a transaction", e))
    }

    /// Run `f` in a read-only snapshot (retried once on a lost connection).
    fn read<T>(
        &self,
        mut f: impl FnMut(&mut PgTx<'_, '_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let pool = &self.pool;
        pool.with_retry(|c: &mut Conn| {
            let mut tx = Self::begin(pool, &mut c.client, true)?;
            let mut t = PgTx::new(&mut tx, &mut c.stmts, pool);
            let v = f(&mut t)?;
            tx.commit().map_err(|e| pool.err("end a read", e))?;
            Ok(v)
        })
    }

    /// Run `f` in a transaction holding the write lock, committed when `f` returns `Ok(_, true)`
    /// (rolled back on `false`). `retry`: the call is safe to repeat after a lost connection.
    fn write<T>(
        &self,
        retry: bool,
        mut f: impl FnMut(&mut PgTx<'_, '_>) -> Result<(T, bool), StoreError>,
    ) -> Result<T, StoreError> {
        let pool = &self.pool;
        let once = |c: &mut Conn| {
            let mut tx = Self::begin(pool, &mut c.client, false)?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK])
                .map_err(|e| pool.err("take the store's write lock", e))?;
            let mut t = PgTx::new(&mut tx, &mut c.stmts, pool);
            let (v, commit) = f(&mut t)?;
            if commit {
                t.flush_numbers()?;
                tx.commit().map_err(|e| pool.err("commit", e))?;
            } else {
                tx.rollback().map_err(|e| pool.err("roll back", e))?;
            }
            Ok(v)
        };
        if retry {
            pool.with_retry(once)
        } else {
            pool.with(once)
        }
    }

    /// Merge `batch` and raise its agent's mark in the open transaction; false when it is at or
    /// below the mark (nothing changed).
    fn apply_in(&self, t: &mut PgTx<'_, '_>, batch: &Batch) -> Result<bool, StoreError> {
        let update = merge::batch_update(batch);
        let delta = Delta::of_batch(batch);
        let full_before = number(t, META_ENDPOINTS)? >= self.limits.inventory.max_endpoints as u64;
        let applied = self.merge(t, Some((&batch.agent_id, &update)), &delta)?;
        if applied && full_before {
            t.age_out(batch.window_end, &self.limits)?;
        }
        if applied {
            merge::MergeTables::add_number(t, REVISION, 1)?;
        }
        Ok(applied)
    }

    fn agent_count(t: &mut PgTx<'_, '_>) -> Result<usize, StoreError> {
        let rows = t.query("SELECT count(*) FROM agents", &[], "count table agents")?;
        Ok(rows.first().map_or(0, |r| from_db(r.get(0)) as usize))
    }

    fn merge(
        &self,
        t: &mut PgTx<'_, '_>,
        agent: Option<merge::AgentUpdate<'_>>,
        d: &Delta<'_>,
    ) -> Result<bool, StoreError> {
        let agents = if agent.is_some() {
            Self::agent_count(t)?
        } else {
            0
        };
        merge::merge(t, &self.limits, agents, agent, d)
    }

    /// Whether the database holds anything (endpoints, hosts, TLS hosts, agents or reviews).
    pub fn holds_data(&self) -> Result<bool, StoreError> {
        self.read(|t| {
            let rows = t.query(
                "SELECT EXISTS (SELECT 1 FROM endpoints) OR EXISTS (SELECT 1 FROM hosts)
                 OR EXISTS (SELECT 1 FROM tls_hosts) OR EXISTS (SELECT 1 FROM agents)
                 OR EXISTS (SELECT 1 FROM reviews)",
                &[],
                "check whether the tables hold data",
            )?;
            Ok(rows.first().is_some_and(|r| r.get::<_, bool>(0)))
        })
    }

    /// Import the export at `path` unless an export with the same content was imported
    /// before (table `imports`), in one transaction with its mark.
    pub fn import_file(&self, path: &Path) -> Result<ImportOutcome, StoreError> {
        let digest = jsonl::file_digest(path)?;
        let file = || {
            std::fs::File::open(path).map_err(|error| StoreError::File {
                path: path.display().to_string(),
                error,
            })
        };
        self.write(false, |t| {
            let there = t.query(
                "SELECT 1 FROM imports WHERE digest = $1",
                &[&digest],
                "read table imports",
            )?;
            if !there.is_empty() {
                return Ok((ImportOutcome::AlreadyImported, false));
            }
            let n = self.import_in(t, &mut std::io::BufReader::new(file()?))?;
            t.execute(
                "INSERT INTO imports (digest) VALUES ($1)",
                &[&digest],
                "write table imports",
            )?;
            Ok((ImportOutcome::Imported(n), true))
        })
    }

    fn import_in(&self, t: &mut PgTx<'_, '_>, input: &mut dyn BufRead) -> Result<u64, StoreError> {
        let n = jsonl::read(input, &mut |rec| {
            let mut counter = BTreeMap::new();
            match rec {
                ExportRecord::Review { id, record } => {
                    reviews::import_record(t, &self.limits, id, record)?
                }
                ExportRecord::ReviewEvent { event } => {
                    reviews::import_event(t, &self.limits, event)?
                }
                ExportRecord::Agent { id, state } => {
                    let update = jsonl::absorb(state);
                    self.merge(t, Some((id, &update)), &Delta::default())?;
                }
                // PostgreSQL keeps no per-agent contributions (yet): the merged records that
                // follow carry the same data.
                ExportRecord::Contribution { .. } => {}
                _ => {
                    self.merge(t, None, &Delta::of_record(rec, &mut counter))?;
                }
            }
            Ok(())
        })?;
        reviews::migrate_into_trail(t)?;
        merge::MergeTables::add_number(t, REVISION, 1)?;
        Ok(n)
    }
}

/// Rows of `(name, jsonb)` read into a map.
fn read_map<T: for<'de> serde::Deserialize<'de>>(
    t: &mut PgTx<'_, '_>,
    sql: &'static str,
    what: &str,
    table: &str,
) -> Result<BTreeMap<String, T>, StoreError> {
    let mut out = BTreeMap::new();
    for row in t.query(sql, &[], &format!("read table {table}"))? {
        out.insert(row.get(0), dec(what, row.get::<_, &str>(1).as_bytes())?);
    }
    Ok(out)
}

fn number(t: &mut PgTx<'_, '_>, name: &str) -> Result<u64, StoreError> {
    merge::MergeTables::number(t, name)
}

impl Store for PgStore {
    fn apply(&self, batch: &Batch) -> Result<AckStatus, StoreError> {
        self.write(true, |t| {
            let applied = self.apply_in(t, batch)?;
            Ok((applied, applied))
        })
        .map(|applied| {
            if applied {
                AckStatus::Accepted
            } else {
                AckStatus::Duplicate
            }
        })
    }

    fn inventory(&self) -> Result<Inventory, StoreError> {
        self.read(|t| {
            let mut inv = Inventory::new(self.limits.inventory.clone());
            if let Some(s) = merge::MergeTables::shell(t)? {
                inv.timeline = dec::<InventoryShell>("inventory shell", s.as_bytes())?.timeline;
            }
            for row in t.query(
                "SELECT key, record::text FROM endpoints",
                &[],
                "read table endpoints",
            )? {
                inv.endpoints.insert(
                    dec("endpoint key", row.get::<_, &str>(0).as_bytes())?,
                    dec("endpoint", row.get::<_, &str>(1).as_bytes())?,
                );
            }
            inv.hosts = read_map(t, "SELECT name, record::text FROM hosts", "host", "hosts")?;
            inv.dropped_observations = number(t, META_DROPPED)?;
            Ok(inv)
        })
    }

    fn tls(&self) -> Result<TlsInventory, StoreError> {
        self.read(|t| {
            let mut out = TlsInventory::new(self.limits.tls);
            out.hosts = read_map(
                t,
                "SELECT name, record::text FROM tls_hosts",
                "TLS host",
                "tls_hosts",
            )?;
            out.without_sni = number(t, merge::META_TLS_WITHOUT_SNI)?;
            out.dropped_hosts = number(t, merge::META_TLS_DROPPED)?;
            Ok(out)
        })
    }

    fn counters(&self) -> Result<BTreeMap<String, u64>, StoreError> {
        self.read(|t| {
            let rows = t.query(
                "SELECT substr(name, length('counter:') + 1), value FROM numbers
                 WHERE starts_with(name, 'counter:')",
                &[],
                "read table numbers",
            )?;
            Ok(rows.iter().map(|r| (r.get(0), from_db(r.get(1)))).collect())
        })
    }

    fn agents(&self) -> Result<BTreeMap<String, AgentState>, StoreError> {
        self.read(|t| read_map(t, "SELECT id, state::text FROM agents", "agent", "agents"))
    }

    fn endpoint_count(&self) -> Result<u64, StoreError> {
        self.read(|t| number(t, META_ENDPOINTS))
    }

    fn export_jsonl(&self, out: &mut dyn Write) -> Result<u64, StoreError> {
        jsonl::export(self, out)
    }

    fn import_jsonl(&self, input: &mut dyn BufRead) -> Result<u64, StoreError> {
        // One transaction: an import that fails half-way leaves nothing behind.
        let mut input = Some(input);
        self.write(false, |t| match input.take() {
            Some(i) => Ok((self.import_in(t, i)?, true)),
            None => Ok((0, false)),
        })
    }

    fn reviews(&self) -> Result<BTreeMap<String, ReviewRecord>, StoreError> {
        self.read(reviews::all)
    }

    fn record_review(&self, event: &ReviewEvent) -> Result<ReviewEvent, StoreError> {
        self.write(false, |t| {
            Ok((reviews::record_review(t, &self.limits, event)?, true))
        })
    }

    fn review_events(&self, finding: Option<&str>) -> Result<Vec<ReviewEvent>, StoreError> {
        self.read(|t| reviews::events(t, finding))
    }

    fn revision(&self) -> Result<Option<u64>, StoreError> {
        self.read(|t| number(t, REVISION)).map(Some)
    }

    fn record_catalogue(&self, name: &str, stamp: &CatalogueStamp) -> Result<(), StoreError> {
        catalogues::record(self, name, stamp)
    }

    fn catalogues(&self) -> Result<BTreeMap<String, CatalogueStamp>, StoreError> {
        catalogues::read(self)
    }

    fn expire_reviews(&self, now: u64) -> Result<usize, StoreError> {
        self.write(false, |t| {
            let n = reviews::expire(t, now)?;
            Ok((n, n > 0))
        })
    }
}
