//! The PostgreSQL schema, as numbered migrations applied at start in one transaction under an
//! advisory lock (two collectors starting together apply each once). `schema_version` holds
//! one row per migration applied; a database newer than this binary is refused, not guessed at.
//!
//! Records are the serde JSON of the sled store's records, in `jsonb`: a new optional field of
//! a record flows through without a migration. Keys are text; an endpoint's key is the JSON of
//! its [`analyzer::observation::EndpointKey`], as in sled.

use super::conn::Pool;
use crate::store::StoreError;
use postgres::Client;

/// Advisory lock key of migrations ("shadowtap" schema).
const MIGRATION_LOCK: i64 = 0x5348_4144_0001;

/// The migrations, in order: (version, SQL). Never edit one that has shipped: add the next.
pub(super) const MIGRATIONS: &[(i32, &str)] = &[
    (
        1,
        "CREATE TABLE endpoints (key text PRIMARY KEY, record jsonb NOT NULL);
     CREATE TABLE hosts (name text PRIMARY KEY, record jsonb NOT NULL);
     CREATE TABLE tls_hosts (name text PRIMARY KEY, record jsonb NOT NULL);
     CREATE TABLE agents (id text PRIMARY KEY, state jsonb NOT NULL);
     CREATE TABLE numbers (name text PRIMARY KEY, value bigint NOT NULL);
     CREATE TABLE documents (name text PRIMARY KEY, value jsonb NOT NULL);
     CREATE TABLE reviews (finding text PRIMARY KEY, record jsonb NOT NULL);
     CREATE TABLE review_events (
         finding text NOT NULL, at bigint NOT NULL, seq bigint NOT NULL, event jsonb NOT NULL,
         PRIMARY KEY (finding, at, seq));
     CREATE SEQUENCE review_event_seq;
     CREATE TABLE imports (digest text PRIMARY KEY, at timestamptz NOT NULL DEFAULT now());",
    ),
    // The Kafka consumers' positions (see `offsets.rs`). Before this migration the first
    // consuming collector created the table itself, hence IF NOT EXISTS.
    (
        2,
        "CREATE TABLE IF NOT EXISTS kafka_offsets (
             grp text NOT NULL, topic text NOT NULL, part integer NOT NULL,
             next_offset bigint NOT NULL, PRIMARY KEY (grp, topic, part));",
    ),
    // The catalogue each collector serves (`catalogue_stamp.rs`).
    (
        3,
        "CREATE TABLE collector_catalogues (name text PRIMARY KEY, stamp jsonb NOT NULL);",
    ),
];

/// Bring the database to the newest schema; returns the version it is at.
pub(super) fn migrate(pool: &Pool, client: &mut Client) -> Result<i32, StoreError> {
    let err = |what: &str, e| pool.err(what, e);
    let mut tx = client
        .transaction()
        .map_err(|e| err("begin the migration", e))?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .map_err(|e| err("lock for the migration", e))?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_version (
             version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
    )
    .map_err(|e| err("create table schema_version", e))?;
    let current: Option<i32> = tx
        .query_one("SELECT max(version) FROM schema_version", &[])
        .map_err(|e| err("read table schema_version", e))?
        .get(0);
    let current = current.unwrap_or(0);
    let newest = MIGRATIONS.last().map_or(0, |m| m.0);
    if current > newest {
        return Err(StoreError::Corrupt {
            what: format!("PostgreSQL schema at {}", pool.url()),
            message: format!(
                "table schema_version says version {current}, newer than this shadowtap \
                 knows ({newest}): run a newer shadowtap"
            ),
        });
    }
    for (version, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
        tx.batch_execute(sql)
            .map_err(|e| err(&format!("apply schema migration {version}"), e))?;
        tx.execute(
            "INSERT INTO schema_version (version) VALUES ($1)",
            &[version],
        )
        .map_err(|e| err("write table schema_version", e))?;
    }
    tx.commit().map_err(|e| err("commit the migration", e))?;
    Ok(newest)
}
