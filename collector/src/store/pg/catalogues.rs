//! The catalogue each collector sharing the database serves (table `collector_catalogues`,
//! schema migration 3): one row per collector name, the most recent [`MAX_STAMPS`] kept.

use super::conn::text_safe;
use super::{read_map, PgStore};
use crate::catalogue_stamp::{CatalogueStamp, MAX_STAMPS};
use crate::store::StoreError;
use std::collections::BTreeMap;

const PUT: &str = "INSERT INTO collector_catalogues (name, stamp) VALUES ($1, $2::text::jsonb)
     ON CONFLICT (name) DO UPDATE SET stamp = EXCLUDED.stamp";
/// Past the cap, the stamps loaded longest ago go (collectors stopped or moved ports).
const TRIM: &str = "DELETE FROM collector_catalogues WHERE name NOT IN (
     SELECT name FROM collector_catalogues
     ORDER BY (stamp->>'loaded_at')::bigint DESC, name LIMIT $1)";
const ALL: &str = "SELECT name, stamp::text FROM collector_catalogues";

pub(super) fn record(
    store: &PgStore,
    name: &str,
    stamp: &CatalogueStamp,
) -> Result<(), StoreError> {
    let json = serde_json::to_string(stamp).map_err(|e| StoreError::Corrupt {
        what: "catalogue stamp".into(),
        message: e.to_string(),
    })?;
    let name = text_safe(name);
    let keep = MAX_STAMPS as i64;
    // Safe to repeat: an upsert of the same row, then the same trim.
    store.write(true, |t| {
        t.execute(
            PUT,
            &[&name.as_ref(), &json],
            "write table collector_catalogues",
        )?;
        t.execute(TRIM, &[&keep], "trim table collector_catalogues")?;
        Ok(((), true))
    })
}

pub(super) fn read(store: &PgStore) -> Result<BTreeMap<String, CatalogueStamp>, StoreError> {
    store.read(|t| read_map(t, ALL, "catalogue stamp", "collector_catalogues"))
}
