//! Which catalogue each collector serves, kept in a shared store.
//!
//! Collectors on one PostgreSQL database diff the same inventory, and must diff it against the
//! same declarations, or two of them report different shadow APIs with nobody seeing why (one
//! host's `specs/` updated, another's not). Each collector records a stamp of the catalogue in
//! force at start and at every reload; `GET /v1/catalogues` lists them and says whether they
//! agree, and a collector that sees a peer serving another catalogue says so in its log and in
//! `shadowtap_collector_catalogue_peers_disagreeing`. The sled store has one collector, so it
//! keeps none.

use analyzer::catalogue::Catalogue;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Stamps kept per database: the most recently loaded ones (collectors come and go; each
/// restart on another port is a new name).
pub const MAX_STAMPS: usize = 64;

/// What one collector serves as its catalogue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogueStamp {
    /// SHA-256 over the declared APIs (title, version, file name) and operations: the same
    /// specs give the same digest wherever they sit on disk.
    pub digest: String,
    pub apis: u64,
    pub operations: u64,
    /// Catalogue files that failed at the last load (served from their last good version or
    /// missing from the catalogue).
    pub failed_files: u64,
    /// When it was loaded (Unix seconds, wall clock: a collector's action, not traffic time).
    pub loaded_at: u64,
}

impl CatalogueStamp {
    pub fn of(catalogue: &Catalogue, failed_files: usize, loaded_at: u64) -> CatalogueStamp {
        let apis: Vec<(&str, &str, &str)> = catalogue
            .apis
            .iter()
            .map(|a| {
                let file = a.source.rsplit('/').next().unwrap_or(&a.source);
                (a.title.as_str(), a.version.as_str(), file)
            })
            .collect();
        // Serialising the declarations cannot fail (strings, numbers, maps with string keys);
        // an empty text would still give a digest, just not a useful one.
        let text = serde_json::to_vec(&(apis, &catalogue.operations)).unwrap_or_default();
        let digest = ring::digest::digest(&ring::digest::SHA256, &text);
        CatalogueStamp {
            digest: analyzer::hex::encode(digest.as_ref()),
            apis: catalogue.apis.len() as u64,
            operations: catalogue.operations.len() as u64,
            failed_files: failed_files as u64,
            loaded_at,
        }
    }
}

/// This collector's name among its peers: the host name and the port it listens on.
pub fn collector_name(port: u16) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "collector".into());
    format!("{host}:{port}")
}

/// The peers of `me` whose catalogue differs from its own.
pub fn disagreeing<'a>(
    me: &str,
    stamps: &'a BTreeMap<String, CatalogueStamp>,
) -> Vec<(&'a str, &'a CatalogueStamp)> {
    let Some(mine) = stamps.get(me) else {
        return Vec::new();
    };
    stamps
        .iter()
        .filter(|(name, s)| name.as_str() != me && s.digest != mine.digest)
        .map(|(name, s)| (name.as_str(), s))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalogue(text: &str, path: &str) -> Catalogue {
        let mut c = Catalogue::default();
        c.add_document(path, text).expect("spec");
        c
    }

    const SPEC: &str = "openapi: 3.0.0\ninfo: {title: Accounts, version: '1'}\npaths:\n  /accounts:\n    get:\n      responses: {'200': {description: ok}}\n";

    #[test]
    fn the_same_specs_anywhere_on_disk_give_one_digest_and_a_change_another() {
        let a = CatalogueStamp::of(&catalogue(SPEC, "/srv/a/specs/accounts.yaml"), 0, 1);
        let b = CatalogueStamp::of(&catalogue(SPEC, "/opt/b/accounts.yaml"), 0, 2);
        assert_eq!(a.digest, b.digest);
        assert_eq!((a.apis, a.operations), (1, 1));
        let changed = SPEC.replace("/accounts:", "/accounts/{id}:");
        let c = CatalogueStamp::of(&catalogue(&changed, "/srv/a/specs/accounts.yaml"), 0, 3);
        assert_ne!(a.digest, c.digest);
        let stamps = BTreeMap::from([
            ("h:1".to_string(), a.clone()),
            ("h:2".to_string(), b),
            ("h:3".to_string(), c),
        ]);
        let off: Vec<&str> = disagreeing("h:1", &stamps)
            .iter()
            .map(|(n, _)| *n)
            .collect();
        assert_eq!(off, ["h:3"]);
        assert!(disagreeing("unknown", &stamps).is_empty());
    }
}
