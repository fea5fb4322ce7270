//! The Kafka consumer's positions, kept in the database beside the inventory: a consumed
//! message's batch and the partition's next offset commit in one transaction, so a collector
//! killed at any point resumes exactly after the last batch applied (no loss, no double
//! count), whatever the broker's own committed offsets say.

use super::tables::PgTx;
use super::PgStore;
use crate::store::StoreError;
use analyzer::wire::Batch;
use std::collections::BTreeMap;

/// Where a message sits: consumer group, topic, partition, offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position<'a> {
    pub group: &'a str,
    pub topic: &'a str,
    pub partition: i32,
    pub offset: i64,
}

/// What consuming one message did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consumed {
    /// The batch was merged.
    Applied,
    /// The batch was at or below its agent's mark (published twice): offset advanced only.
    Duplicate,
    /// The message was not a batch (refused): offset advanced only.
    Skipped,
    /// This offset was consumed before (redelivered after a rebalance or a restart): nothing.
    Again,
}

const GET: &str =
    "SELECT next_offset FROM kafka_offsets WHERE grp = $1 AND topic = $2 AND part = $3";
const SET: &str =
    "INSERT INTO kafka_offsets (grp, topic, part, next_offset) VALUES ($1, $2, $3, $4)
     ON CONFLICT (grp, topic, part) DO UPDATE SET next_offset = EXCLUDED.next_offset";

impl PgStore {
    /// Apply the batch of the message at `pos` (`None`: a message that is not a batch) and
    /// move the partition's position past it, in one transaction.
    pub fn apply_consumed(
        &self,
        batch: Option<&Batch>,
        pos: &Position<'_>,
    ) -> Result<Consumed, StoreError> {
        self.write(true, |t: &mut PgTx<'_, '_>| {
            let params: [&(dyn postgres::types::ToSql + Sync); 3] =
                [&pos.group, &pos.topic, &pos.partition];
            let next: Option<i64> = t
                .query(GET, &params, "read table kafka_offsets")?
                .first()
                .map(|r| r.get(0));
            if next.is_some_and(|n| pos.offset < n) {
                return Ok((Consumed::Again, false));
            }
            let outcome = match batch {
                Some(b) if self.apply_in(t, b)? => Consumed::Applied,
                Some(_) => Consumed::Duplicate,
                None => Consumed::Skipped,
            };
            let after = pos.offset.saturating_add(1);
            t.execute(
                SET,
                &[&pos.group, &pos.topic, &pos.partition, &after],
                "write table kafka_offsets",
            )?;
            Ok((outcome, true))
        })
    }

    /// The next offset to consume per partition of `topic` for `group`.
    pub fn consumed_offsets(
        &self,
        group: &str,
        topic: &str,
    ) -> Result<BTreeMap<i32, i64>, StoreError> {
        self.read(|t| {
            let rows = t.query(
                "SELECT part, next_offset FROM kafka_offsets WHERE grp = $1 AND topic = $2",
                &[&group, &topic],
                "read table kafka_offsets",
            )?;
            Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
        })
    }
}
