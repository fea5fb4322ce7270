//! One PostgreSQL transaction as [`MergeTables`]: each get and put is one prepared statement
//! (an upsert for puts). The transaction holds the store's write lock (see `super::WRITE_LOCK`),
//! so a read-merge-write of a record cannot interleave with another collector's.
//!
//! Meta numbers (counts, and the dozens of pipeline counters a batch carries) are read in one
//! statement ([`MergeTables::prefetch_numbers`]), kept in the transaction, and written back in
//! one statement before commit ([`PgTx::flush_numbers`]): two round trips a batch instead of
//! two a counter.

use super::conn::{jsonb_safe, text_safe, Pool};
use crate::store::merge::{self, MergeTables, Table, AGED_OUT, COUNTER_PREFIX, META_ENDPOINTS};
use crate::store::{dec, StoreError, StoreLimits};
use analyzer::time::Timestamp;
use postgres::types::ToSql;
use postgres::{Row, Statement, Transaction};
use std::collections::{BTreeSet, HashMap};

pub(super) struct PgTx<'a, 'c> {
    pub tx: &'a mut Transaction<'c>,
    pub stmts: &'a mut HashMap<&'static str, Statement>,
    pub pool: &'a Pool,
    /// Meta numbers read or set in this transaction (absent rows as 0).
    numbers: HashMap<String, u64>,
    /// Names in `numbers` set but not yet written.
    dirty: BTreeSet<String>,
}

fn get_sql(table: Table) -> &'static str {
    match table {
        Table::Endpoints => "SELECT record::text FROM endpoints WHERE key = $1",
        Table::Hosts => "SELECT record::text FROM hosts WHERE name = $1",
        Table::Tls => "SELECT record::text FROM tls_hosts WHERE name = $1",
        Table::Agents => "SELECT state::text FROM agents WHERE id = $1",
    }
}

fn put_sql(table: Table) -> &'static str {
    match table {
        Table::Endpoints => {
            "INSERT INTO endpoints (key, record) VALUES ($1, $2::text::jsonb)
             ON CONFLICT (key) DO UPDATE SET record = EXCLUDED.record"
        }
        Table::Hosts => {
            "INSERT INTO hosts (name, record) VALUES ($1, $2::text::jsonb)
             ON CONFLICT (name) DO UPDATE SET record = EXCLUDED.record"
        }
        Table::Tls => {
            "INSERT INTO tls_hosts (name, record) VALUES ($1, $2::text::jsonb)
             ON CONFLICT (name) DO UPDATE SET record = EXCLUDED.record"
        }
        Table::Agents => {
            "INSERT INTO agents (id, state) VALUES ($1, $2::text::jsonb)
             ON CONFLICT (id) DO UPDATE SET state = EXCLUDED.state"
        }
    }
}

pub(super) fn table_name(table: Table) -> &'static str {
    match table {
        Table::Endpoints => "endpoints",
        Table::Hosts => "hosts",
        Table::Tls => "tls_hosts",
        Table::Agents => "agents",
    }
}

const GET_NUMBER: &str = "SELECT value FROM numbers WHERE name = $1";
const GET_NUMBERS: &str = "SELECT name, value FROM numbers WHERE name = ANY($1)";
const SET_NUMBERS: &str = "INSERT INTO numbers (name, value)
     SELECT * FROM unnest($1::text[], $2::bigint[])
     ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value";
const SHELL: &str = "inventory_shell";
const GET_DOC: &str = "SELECT value::text FROM documents WHERE name = $1";
const SET_DOC: &str = "INSERT INTO documents (name, value) VALUES ($1, $2::text::jsonb)
     ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value";

/// A u64 in a `bigint` (counts this large are not reached; saturate rather than wrap).
pub(super) fn to_db(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

pub(super) fn from_db(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn key_text<'k>(table: Table, key: &'k [u8]) -> Result<std::borrow::Cow<'k, str>, StoreError> {
    let s = std::str::from_utf8(key).map_err(|e| StoreError::Corrupt {
        what: format!("key for table {}", table_name(table)),
        message: e.to_string(),
    })?;
    Ok(text_safe(s))
}

impl<'a, 'c> PgTx<'a, 'c> {
    pub fn new(
        tx: &'a mut Transaction<'c>,
        stmts: &'a mut HashMap<&'static str, Statement>,
        pool: &'a Pool,
    ) -> Self {
        PgTx {
            tx,
            stmts,
            pool,
            numbers: HashMap::new(),
            dirty: BTreeSet::new(),
        }
    }

    /// Write the numbers set in this transaction, in one statement. Before commit.
    pub fn flush_numbers(&mut self) -> Result<(), StoreError> {
        if self.dirty.is_empty() {
            return Ok(());
        }
        let names: Vec<String> = std::mem::take(&mut self.dirty).into_iter().collect();
        let values: Vec<i64> = names
            .iter()
            .map(|n| to_db(self.numbers.get(n).copied().unwrap_or(0)))
            .collect();
        self.execute(SET_NUMBERS, &[&names, &values], "write table numbers")?;
        Ok(())
    }

    fn stmt(&mut self, sql: &'static str, what: &str) -> Result<Statement, StoreError> {
        if let Some(s) = self.stmts.get(sql) {
            return Ok(s.clone());
        }
        let s = self.tx.prepare(sql).map_err(|e| self.pool.err(what, e))?;
        self.stmts.insert(sql, s.clone());
        Ok(s)
    }

    pub fn query(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
        what: &str,
    ) -> Result<Vec<Row>, StoreError> {
        let st = self.stmt(sql, what)?;
        self.tx
            .query(&st, params)
            .map_err(|e| self.pool.err(what, e))
    }

    pub fn execute(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
        what: &str,
    ) -> Result<u64, StoreError> {
        let st = self.stmt(sql, what)?;
        self.tx
            .execute(&st, params)
            .map_err(|e| self.pool.err(what, e))
    }

    fn text_of(
        &mut self,
        sql: &'static str,
        key: &str,
        what: &str,
    ) -> Result<Option<String>, StoreError> {
        let rows = self.query(sql, &[&key], what)?;
        Ok(rows.first().map(|r| r.get::<_, String>(0)))
    }

    /// Remove endpoints gone stale by packet time `now` (see [`merge::is_stale`]), at most
    /// once per sweep interval: run when the store was at its endpoint cap.
    pub fn age_out(&mut self, now: Timestamp, limits: &StoreLimits) -> Result<(), StoreError> {
        if !merge::sweep_due(self.number(merge::META_LAST_SWEEP)?, now) {
            return Ok(());
        }
        let rows = self.query(
            "SELECT key, record::text FROM endpoints",
            &[],
            "read table endpoints for the age-out sweep",
        )?;
        let mut stale: Vec<String> = Vec::new();
        for row in rows {
            let rec = dec("endpoint", row.get::<_, &str>(1).as_bytes())?;
            if merge::is_stale(&rec, now, limits) {
                stale.push(row.get(0));
            }
        }
        let gone = self.execute(
            "DELETE FROM endpoints WHERE key = ANY($1)",
            &[&stale],
            "age out rows of table endpoints",
        )?;
        let count = self.number(META_ENDPOINTS)?.saturating_sub(gone);
        self.set_number(META_ENDPOINTS, count)?;
        // Written even when 0, as the sled store does: a sweep ran.
        let aged = format!("{COUNTER_PREFIX}{AGED_OUT}");
        let before = self.number(&aged)?;
        self.set_number(&aged, before.saturating_add(gone))?;
        self.set_number(merge::META_LAST_SWEEP, now.micros().max(1) as u64)?;
        if gone > 0 {
            tracing::info!("endpoint cap reached: aged out {gone} quiet endpoints");
        }
        Ok(())
    }
}

impl MergeTables for PgTx<'_, '_> {
    type Error = StoreError;
    type Bytes = String;

    fn abort(e: StoreError) -> StoreError {
        e
    }

    fn get(&mut self, table: Table, key: &[u8]) -> Result<Option<String>, StoreError> {
        let key = key_text(table, key)?;
        let what = format!("read table {}", table_name(table));
        self.text_of(get_sql(table), &key, &what)
    }

    fn put(&mut self, table: Table, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        let key = key_text(table, key)?;
        let value = jsonb_safe(value)?;
        let what = format!("write table {}", table_name(table));
        self.execute(put_sql(table), &[&key.as_ref(), &value.as_ref()], &what)?;
        Ok(())
    }

    fn prefetch_numbers(&mut self, names: &[String]) -> Result<(), StoreError> {
        let missing: Vec<&str> = names
            .iter()
            .map(String::as_str)
            .filter(|n| !self.numbers.contains_key(*n))
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        for row in self.query(GET_NUMBERS, &[&missing], "read table numbers")? {
            self.numbers.insert(row.get(0), from_db(row.get(1)));
        }
        for n in missing {
            self.numbers.entry(n.to_string()).or_insert(0);
        }
        Ok(())
    }

    fn number(&mut self, name: &str) -> Result<u64, StoreError> {
        if let Some(v) = self.numbers.get(name) {
            return Ok(*v);
        }
        let rows = self.query(GET_NUMBER, &[&name], "read table numbers")?;
        let v = rows.first().map_or(0, |r| from_db(r.get(0)));
        self.numbers.insert(name.to_string(), v);
        Ok(v)
    }

    fn set_number(&mut self, name: &str, value: u64) -> Result<(), StoreError> {
        self.numbers.insert(name.to_string(), value);
        self.dirty.insert(name.to_string());
        Ok(())
    }

    fn shell(&mut self) -> Result<Option<String>, StoreError> {
        self.text_of(GET_DOC, SHELL, "read table documents")
    }

    fn set_shell(&mut self, value: &[u8]) -> Result<(), StoreError> {
        let value = jsonb_safe(value)?;
        self.execute(SET_DOC, &[&SHELL, &value.as_ref()], "write table documents")?;
        Ok(())
    }
}
