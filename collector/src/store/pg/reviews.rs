//! Review records and the append-only review trail in PostgreSQL: the same rules as the sled
//! store (caps, expiry events written once, the newer imported decision wins), each action in
//! the write transaction it is called in.

use super::tables::{from_db, to_db, PgTx};
use crate::review::{EventAction, ReviewEvent, ReviewRecord, ReviewState};
use crate::store::{dec, enc, StoreError, StoreLimits};
use std::collections::BTreeMap;

fn count(t: &mut PgTx<'_, '_>, sql: &'static str, what: &str) -> Result<usize, StoreError> {
    let rows = t.query(sql, &[], what)?;
    Ok(rows.first().map_or(0, |r| from_db(r.get(0)) as usize))
}

pub(super) fn all(t: &mut PgTx<'_, '_>) -> Result<BTreeMap<String, ReviewRecord>, StoreError> {
    let mut out = BTreeMap::new();
    for row in t.query(
        "SELECT finding, record::text FROM reviews",
        &[],
        "read table reviews",
    )? {
        out.insert(row.get(0), dec("review", row.get::<_, &str>(1).as_bytes())?);
    }
    Ok(out)
}

fn record(t: &mut PgTx<'_, '_>, id: &str) -> Result<Option<ReviewRecord>, StoreError> {
    let rows = t.query(
        "SELECT record::text FROM reviews WHERE finding = $1",
        &[&id],
        "read table reviews",
    )?;
    rows.first()
        .map(|r| dec("review", r.get::<_, &str>(0).as_bytes()))
        .transpose()
}

fn put_record(
    t: &mut PgTx<'_, '_>,
    id: &str,
    record: Option<&ReviewRecord>,
) -> Result<(), StoreError> {
    match record {
        Some(r) => t.execute(
            "INSERT INTO reviews (finding, record) VALUES ($1, $2::text::jsonb)
             ON CONFLICT (finding) DO UPDATE SET record = EXCLUDED.record",
            &[&id, &String::from_utf8_lossy(&enc(r)).as_ref()],
            "write table reviews",
        )?,
        None => t.execute(
            "DELETE FROM reviews WHERE finding = $1",
            &[&id],
            "write table reviews",
        )?,
    };
    Ok(())
}

pub(super) fn events(
    t: &mut PgTx<'_, '_>,
    finding: Option<&str>,
) -> Result<Vec<ReviewEvent>, StoreError> {
    let rows = match finding {
        Some(f) => t.query(
            "SELECT event::text FROM review_events WHERE finding = $1 ORDER BY at, seq",
            &[&f],
            "read table review_events",
        )?,
        None => t.query(
            "SELECT event::text FROM review_events ORDER BY at, seq, finding",
            &[],
            "read table review_events",
        )?,
    };
    rows.iter()
        .map(|r| dec("review event", r.get::<_, &str>(0).as_bytes()))
        .collect()
}

fn last_event(t: &mut PgTx<'_, '_>, finding: &str) -> Result<Option<ReviewEvent>, StoreError> {
    let rows = t.query(
        "SELECT event::text FROM review_events WHERE finding = $1
         ORDER BY at DESC, seq DESC LIMIT 1",
        &[&finding],
        "read table review_events",
    )?;
    rows.first()
        .map(|r| dec("review event", r.get::<_, &str>(0).as_bytes()))
        .transpose()
}

/// Insert `event` as it is (its `seq` kept); an event already there changes nothing.
fn insert_event(t: &mut PgTx<'_, '_>, event: &ReviewEvent) -> Result<(), StoreError> {
    t.execute(
        "INSERT INTO review_events (finding, at, seq, event) VALUES ($1, $2, $3, $4::text::jsonb)
         ON CONFLICT DO NOTHING",
        &[
            &event.finding,
            &to_db(event.at),
            &to_db(event.seq),
            &String::from_utf8_lossy(&enc(event)).as_ref(),
        ],
        "write table review_events",
    )?;
    Ok(())
}

/// Put `event` in the trail under a fresh sequence number.
fn append_event(t: &mut PgTx<'_, '_>, mut event: ReviewEvent) -> Result<ReviewEvent, StoreError> {
    let rows = t.query(
        "SELECT nextval('review_event_seq')",
        &[],
        "draw from sequence review_event_seq",
    )?;
    event.seq = rows.first().map_or(0, |r| from_db(r.get(0)));
    insert_event(t, &event)?;
    Ok(event)
}

fn ran_out(r: &ReviewRecord, at: u64) -> bool {
    r.state == ReviewState::Suppressed && r.expires.is_some_and(|e| e <= at)
}

fn expiry_logged(t: &mut PgTx<'_, '_>, finding: &str) -> Result<bool, StoreError> {
    Ok(last_event(t, finding)?.is_some_and(|e| e.action == EventAction::Expire))
}

/// See [`crate::store::Store::record_review`].
pub(super) fn record_review(
    t: &mut PgTx<'_, '_>,
    limits: &StoreLimits,
    event: &ReviewEvent,
) -> Result<ReviewEvent, StoreError> {
    let events = "SELECT count(*) FROM review_events";
    if count(t, events, "count table review_events")? >= limits.max_review_events {
        return Err(StoreError::TooManyReviewEvents(limits.max_review_events));
    }
    let before = record(t, &event.finding)?;
    let after = event.record_after(before.clone());
    let reviews = "SELECT count(*) FROM reviews";
    if before.is_none()
        && after.is_some()
        && count(t, reviews, "count table reviews")? >= limits.max_reviews
    {
        return Err(StoreError::TooManyReviews(limits.max_reviews));
    }
    // A suppression that ran out before this action gets its expiry event first.
    if let Some(old) = &before {
        if ran_out(old, event.at) && !expiry_logged(t, &event.finding)? {
            append_event(t, ReviewEvent::expiry(&event.finding, old))?;
        }
    }
    let stored = append_event(t, event.clone())?;
    put_record(t, &event.finding, after.as_ref())?;
    Ok(stored)
}

/// See [`crate::store::Store::expire_reviews`].
pub(super) fn expire(t: &mut PgTx<'_, '_>, now: u64) -> Result<usize, StoreError> {
    let mut n = 0;
    for (id, r) in all(t)? {
        if ran_out(&r, now) && !expiry_logged(t, &id)? {
            append_event(t, ReviewEvent::expiry(&id, &r))?;
            n += 1;
        }
    }
    Ok(n)
}

/// An imported review record: the newer decision wins.
pub(super) fn import_record(
    t: &mut PgTx<'_, '_>,
    limits: &StoreLimits,
    id: &str,
    rec: &ReviewRecord,
) -> Result<(), StoreError> {
    let old = record(t, id)?;
    if old.as_ref().is_some_and(|o| o.at > rec.at) {
        return Ok(());
    }
    let reviews = "SELECT count(*) FROM reviews";
    if old.is_none() && count(t, reviews, "count table reviews")? >= limits.max_reviews {
        return Err(StoreError::TooManyReviews(limits.max_reviews));
    }
    put_record(t, id, Some(rec))
}

/// An imported trail event, keyed by its own content: the same event twice is one event.
pub(super) fn import_event(
    t: &mut PgTx<'_, '_>,
    limits: &StoreLimits,
    event: &ReviewEvent,
) -> Result<(), StoreError> {
    let there = t.query(
        "SELECT 1 FROM review_events WHERE finding = $1 AND at = $2 AND seq = $3",
        &[&event.finding, &to_db(event.at), &to_db(event.seq)],
        "read table review_events",
    )?;
    if !there.is_empty() {
        return Ok(());
    }
    let events = "SELECT count(*) FROM review_events";
    if count(t, events, "count table review_events")? >= limits.max_review_events {
        return Err(StoreError::TooManyReviewEvents(limits.max_review_events));
    }
    insert_event(t, event)?;
    // Later events drawn here must sort after imported ones of the same second.
    t.execute(
        "SELECT setval('review_event_seq', greatest($1, (SELECT last_value FROM review_event_seq)))",
        &[&to_db(event.seq.max(1))],
        "advance sequence review_event_seq",
    )?;
    Ok(())
}

/// Review records without a trail event (from an export made before the trail) get their
/// first event, once.
pub(super) fn migrate_into_trail(t: &mut PgTx<'_, '_>) -> Result<usize, StoreError> {
    let rows = t.query(
        "SELECT finding, record::text FROM reviews r
         WHERE NOT EXISTS (SELECT 1 FROM review_events e WHERE e.finding = r.finding)",
        &[],
        "read table reviews",
    )?;
    let mut n = 0;
    for row in rows {
        let id: String = row.get(0);
        let rec: ReviewRecord = dec("review", row.get::<_, &str>(1).as_bytes())?;
        append_event(t, ReviewEvent::migrated(&id, &rec))?;
        n += 1;
    }
    Ok(n)
}
