//! Per-agent contributions: what each agent added to the merged inventory, kept beside it so
//! one agent's data can be audited (`shadowtap store agents`) and removed
//! (`shadowtap store remove-agent`), e.g. an agent found misconfigured, compromised or
//! replaying the wrong capture.
//!
//! The merged trees stay the read path; the `contributions` tree is the record of who added
//! what. Each batch writes both in one transaction, record by record, exactly as the merged
//! trees took it: an endpoint or host the merged store shed (over a cap) is in no
//! contribution either, only counted in the owner's totals. Removing an owner deletes its
//! records and rebuilds the merged trees from the remaining contributions, so the store ends
//! as if that agent had never reported (the store's own `store.*` counters excepted).
//!
//! Owners are agent ids, [`IMPORT_OWNER`] for records imported from an export that carries no
//! contributions (exports written before they existed, or salvaged ones), and
//! [`UNATTRIBUTED_OWNER`] for records the contribution cap had no room for: their agent's
//! audit counts them as shed, and removing it cannot take them out.
//!
//! Key: owner length (4 bytes BE), owner, kind byte, then the record's name (the encoded
//! endpoint key, the host name, the SNI; nothing for totals). One owner is one prefix.

use super::merge::{Delta, Kept, META_TLS_HOSTS};
use super::{
    dec, enc, u64_of, ExportRecord, SledStore, StoreError, StoreLimits, TxResult, COUNTER_PREFIX,
    META_CONTRIBUTIONS, META_DROPPED, META_ENDPOINTS, META_HOSTS, META_REBUILD, META_SHELL,
    META_TLS_DROPPED, META_TLS_WITHOUT_SNI,
};
use analyzer::inventory::{EndpointRecord, HostRecord, TIMELINE_MINUTES};
use analyzer::observation::EndpointKey;
use analyzer::tls::{TlsHostRecord, TlsInventory};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sled::transaction::{
    ConflictableTransactionError, TransactionError, Transactional, TransactionalTree,
};
use std::collections::{BTreeMap, HashSet};

/// Owner of records imported from an export without contributions.
pub const IMPORT_OWNER: &str = "(import)";
/// Owner of records kept in the merged store for which the contribution cap had no room.
pub const UNATTRIBUTED_OWNER: &str = "(unattributed)";

/// What a record of the `contributions` tree is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Endpoint,
    Host,
    TlsHost,
    Totals,
}

impl Kind {
    fn byte(self) -> u8 {
        match self {
            Kind::Endpoint => b'e',
            Kind::Host => b'h',
            Kind::TlsHost => b't',
            Kind::Totals => b's',
        }
    }

    fn of(byte: u8) -> Option<Kind> {
        [Kind::Endpoint, Kind::Host, Kind::TlsHost, Kind::Totals]
            .into_iter()
            .find(|k| k.byte() == byte)
    }
}

/// The prefix of every record of `owner`.
pub fn owner_prefix(owner: &str) -> Vec<u8> {
    let len = u32::try_from(owner.len()).unwrap_or(u32::MAX);
    let mut k = Vec::with_capacity(4 + owner.len() + 1);
    k.extend_from_slice(&len.to_be_bytes());
    k.extend_from_slice(owner.as_bytes());
    k
}

pub fn key(owner: &str, kind: Kind, name: &[u8]) -> Vec<u8> {
    let mut k = owner_prefix(owner);
    k.push(kind.byte());
    k.extend_from_slice(name);
    k
}

/// Split a key into owner, kind and name; `None` for a key this module did not write.
pub fn split(key: &[u8]) -> Option<(String, Kind, &[u8])> {
    let len = u32::from_be_bytes(key.get(..4)?.try_into().ok()?) as usize;
    let owner = key.get(4..4usize.checked_add(len)?)?;
    let kind = Kind::of(*key.get(4 + len)?)?;
    let name = key.get(4 + len + 1..)?;
    Some((String::from_utf8_lossy(owner).into_owned(), kind, name))
}

/// An owner's sums that are not per record: capture counters, the timeline, what the merged
/// store shed of its records, and TLS tallies.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub counters: BTreeMap<String, u64>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub timeline: BTreeMap<i64, u64>,
    /// Observations dropped: by the agent (its own caps) or by the merged store (its caps).
    #[serde(default)]
    pub dropped: u64,
    #[serde(default)]
    pub tls_without_sni: u64,
    #[serde(default)]
    pub tls_dropped: u64,
    /// Exchanges of records kept in the merged store but not attributed to this owner (the
    /// contribution cap was reached): removing the owner cannot take them out.
    #[serde(default)]
    pub unattributed_exchanges: u64,
}

impl Totals {
    pub fn merge(&mut self, other: &Totals) {
        for (name, v) in &other.counters {
            let c = self.counters.entry(name.clone()).or_default();
            *c = c.saturating_add(*v);
        }
        self.add_timeline(&other.timeline);
        self.dropped = self.dropped.saturating_add(other.dropped);
        self.tls_without_sni = self.tls_without_sni.saturating_add(other.tls_without_sni);
        self.tls_dropped = self.tls_dropped.saturating_add(other.tls_dropped);
        self.unattributed_exchanges = self
            .unattributed_exchanges
            .saturating_add(other.unattributed_exchanges);
    }

    pub fn add_timeline(&mut self, timeline: &BTreeMap<i64, u64>) {
        for (minute, n) in timeline {
            let v = self.timeline.entry(*minute).or_default();
            *v = v.saturating_add(*n);
        }
        while self.timeline.len() > TIMELINE_MINUTES {
            self.timeline.pop_first();
        }
    }
}

/// One owner's whole contribution, read back (for a rebuild or an export).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Contribution {
    pub endpoints: BTreeMap<EndpointKey, EndpointRecord>,
    pub hosts: BTreeMap<String, HostRecord>,
    pub tls: TlsInventory,
    pub totals: Totals,
}

/// One record of a contribution, as the JSONL export writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Part {
    Endpoint {
        key: EndpointKey,
        record: Box<EndpointRecord>,
    },
    Host {
        name: String,
        record: HostRecord,
    },
    TlsHost {
        sni: String,
        record: Box<TlsHostRecord>,
    },
    Totals(Box<Totals>),
}

/// The audit view of one owner.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub endpoints: u64,
    /// Exchanges over its endpoint records.
    pub exchanges: u64,
    pub hosts: u64,
    pub tls_hosts: u64,
    pub dropped: u64,
    pub unattributed_exchanges: u64,
}

impl Contribution {
    /// Add one stored record (`kind`, `name`, encoded `value`) to the contribution.
    pub fn add_stored(&mut self, kind: Kind, name: &[u8], value: &[u8]) -> Result<(), StoreError> {
        match kind {
            Kind::Endpoint => {
                self.endpoints.insert(
                    dec("contribution endpoint key", name)?,
                    dec("contribution endpoint", value)?,
                );
            }
            Kind::Host => {
                self.hosts.insert(
                    String::from_utf8_lossy(name).into_owned(),
                    dec("contribution host", value)?,
                );
            }
            Kind::TlsHost => {
                self.tls.hosts.insert(
                    String::from_utf8_lossy(name).into_owned(),
                    dec("contribution TLS host", value)?,
                );
            }
            Kind::Totals => {
                self.totals = dec("contribution totals", value)?;
                self.tls.without_sni = self.totals.tls_without_sni;
                self.tls.dropped_hosts = self.totals.tls_dropped;
            }
        }
        Ok(())
    }

    pub fn summary(&self) -> Summary {
        Summary {
            endpoints: self.endpoints.len() as u64,
            exchanges: self
                .endpoints
                .values()
                .fold(0u64, |n, r| n.saturating_add(r.exchanges)),
            hosts: self.hosts.len() as u64,
            tls_hosts: self.tls.hosts.len() as u64,
            dropped: self.totals.dropped,
            unattributed_exchanges: self.totals.unattributed_exchanges,
        }
    }

    /// The records of the contribution, as the export writes them (totals last).
    pub fn into_parts(self) -> impl Iterator<Item = Part> {
        let endpoints = self.endpoints.into_iter().map(|(key, r)| Part::Endpoint {
            key,
            record: Box::new(r),
        });
        let hosts = self
            .hosts
            .into_iter()
            .map(|(name, record)| Part::Host { name, record });
        let tls = self.tls.hosts.into_iter().map(|(sni, r)| Part::TlsHost {
            sni,
            record: Box::new(r),
        });
        endpoints
            .chain(hosts)
            .chain(tls)
            .chain(std::iter::once(Part::Totals(Box::new(self.totals))))
    }
}

/// Every contribution in `tree`, owner by owner (one owner in memory at a time).
pub fn for_each_owner(
    tree: &sled::Tree,
    mut each: impl FnMut(String, Contribution) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let mut current: Option<(String, Contribution)> = None;
    for kv in tree.iter() {
        let (k, v) = kv?;
        let Some((owner, kind, name)) = split(&k) else {
            return Err(StoreError::Corrupt {
                what: "contribution key".into(),
                message: format!("{} bytes in no known layout", k.len()),
            });
        };
        if current.as_ref().is_some_and(|(o, _)| *o != owner) {
            if let Some((o, c)) = current.take() {
                each(o, c)?;
            }
        }
        let (_, c) = current.get_or_insert_with(|| (owner, Contribution::default()));
        c.add_stored(kind, name, &v)?;
    }
    if let Some((o, c)) = current {
        each(o, c)?;
    }
    Ok(())
}

/// The writes of one merge into the `contributions` tree, inside its transaction.
pub(crate) struct Writer<'t> {
    tree: &'t TransactionalTree,
    owner: &'t str,
    /// Records in the tree (the cap counts every owner's).
    count: u64,
    max: u64,
    max_names: usize,
    max_tls_names: usize,
    totals: Totals,
}

impl<'t> Writer<'t> {
    pub fn open(
        tree: &'t TransactionalTree,
        owner: &'t str,
        count: u64,
        limits: &StoreLimits,
    ) -> TxResult<Writer<'t>> {
        let totals = match tree.get(key(owner, Kind::Totals, b""))? {
            Some(b) => {
                dec("contribution totals", &b).map_err(ConflictableTransactionError::Abort)?
            }
            None => Totals::default(),
        };
        Ok(Writer {
            tree,
            owner,
            count,
            max: limits.max_contribution_records as u64,
            max_names: limits.inventory.max_names,
            max_tls_names: limits.tls.max_names,
            totals,
        })
    }

    /// Add what the merge kept to the owner's contribution.
    pub(crate) fn kept(&mut self, what: Kept<'_>) -> TxResult<()> {
        let t = &mut self.totals;
        match what {
            Kept::Endpoint(k, rec) => {
                let cap = self.max_names;
                if !self.put(Kind::Endpoint, k, rec, |a, b| a.merge(b, cap))? {
                    let t = &mut self.totals;
                    t.unattributed_exchanges =
                        t.unattributed_exchanges.saturating_add(rec.exchanges);
                }
            }
            Kept::Host(name, rec) => {
                self.put(Kind::Host, name.as_bytes(), rec, |a, b| a.merge(b))?;
            }
            Kept::TlsHost(sni, rec) => {
                let cap = self.max_tls_names;
                self.put(Kind::TlsHost, sni.as_bytes(), rec, |a, b| a.merge(b, cap))?;
            }
            Kept::Dropped(n) => t.dropped = t.dropped.saturating_add(n),
            Kept::Timeline(timeline) => t.add_timeline(timeline),
            Kept::TlsTallies {
                without_sni,
                dropped,
            } => {
                t.tls_without_sni = t.tls_without_sni.saturating_add(without_sni);
                t.tls_dropped = t.tls_dropped.saturating_add(dropped);
            }
            Kept::Counter(name, v) => {
                let c = t.counters.entry(name.to_string()).or_default();
                *c = c.saturating_add(v);
            }
        }
        Ok(())
    }

    /// Merge `rec` into the owner's record `name` of `kind`; past the cap into the
    /// unattributed owner's. Returns whether it went to the owner.
    fn put<T: Serialize + DeserializeOwned + Clone>(
        &mut self,
        kind: Kind,
        name: &[u8],
        rec: &T,
        merge: impl Fn(&mut T, &T),
    ) -> TxResult<bool> {
        let mine = key(self.owner, kind, name);
        if let Some(b) = self.tree.get(&mine)? {
            let mut old: T =
                dec("contribution record", &b).map_err(ConflictableTransactionError::Abort)?;
            merge(&mut old, rec);
            self.tree.insert(mine, enc(&old))?;
            return Ok(true);
        }
        if self.count < self.max {
            self.tree.insert(mine, enc(rec))?;
            self.count += 1;
            return Ok(true);
        }
        // No room: the record still has to be somewhere, or a rebuild would lose it. The
        // unattributed owner holds at most one record per merged record, so it is bounded by
        // the merged store's own caps.
        let spare = key(UNATTRIBUTED_OWNER, kind, name);
        match self.tree.get(&spare)? {
            Some(b) => {
                let mut old: T =
                    dec("contribution record", &b).map_err(ConflictableTransactionError::Abort)?;
                merge(&mut old, rec);
                self.tree.insert(spare, enc(&old))?;
            }
            None => {
                self.tree.insert(spare, enc(rec))?;
            }
        }
        Ok(false)
    }

    /// Write the owner's totals; returns the tree's record count.
    pub fn close(mut self) -> TxResult<u64> {
        let k = key(self.owner, Kind::Totals, b"");
        if self.tree.get(&k)?.is_none() {
            // Totals never shed: one record per owner, and owners are capped (agents).
            self.count += 1;
        }
        self.tree.insert(k, enc(&self.totals))?;
        Ok(self.count)
    }
}

impl SledStore {
    /// Every owner's audit view: agents, the import and the unattributed records.
    pub fn contributions(&self) -> Result<BTreeMap<String, Summary>, StoreError> {
        let mut out = BTreeMap::new();
        for_each_owner(&self.contributions, |owner, c| {
            out.insert(owner, c.summary());
            Ok(())
        })?;
        Ok(out)
    }

    /// Write every contribution as export lines (before the merged records, so an import
    /// attributes them; see [`crate::store::ExportRecord::Contribution`]). Returns the lines.
    pub fn export_contributions(&self, out: &mut dyn std::io::Write) -> Result<u64, StoreError> {
        let mut lines = 0;
        for_each_owner(&self.contributions, |owner, c| {
            for part in c.into_parts() {
                let owner = owner.clone();
                out.write_all(&enc(&ExportRecord::Contribution { owner, part }))?;
                out.write_all(b"\n")?;
                lines += 1;
            }
            Ok(())
        })?;
        Ok(lines)
    }

    /// Remove everything `owner` contributed and rebuild the merged trees from the rest.
    /// Its agent state stays (its marks and how many batches it sent), so a resend of its old
    /// batches is still a duplicate; to stop new ones, revoke its certificate. Returns what
    /// was removed.
    pub fn remove_owner(&self, owner: &str) -> Result<Summary, StoreError> {
        let _w = self.lock();
        let prefix = owner_prefix(owner);
        let mut removed = Contribution::default();
        let mut gone = sled::Batch::default();
        let mut n = 0u64;
        for kv in self.contributions.scan_prefix(&prefix) {
            let (k, v) = kv?;
            if let Some((_, kind, name)) = split(&k) {
                removed.add_stored(kind, name, &v)?;
            }
            gone.remove(k);
            n += 1;
        }
        if n == 0 {
            return Err(StoreError::NoContribution {
                owner: owner.to_string(),
            });
        }
        // The flag first: a removal cut short after this point is finished by the next open.
        self.meta
            .insert(META_REBUILD.as_bytes(), &1u64.to_be_bytes())?;
        self.db.flush()?;
        self.contributions.apply_batch(gone)?;
        self.rebuild()?;
        Ok(removed.summary())
    }

    /// Make the merged trees the sum of the contributions again (the writer lock held).
    /// Capture counters come from the contributions; the store's own (`store.*`) stay.
    pub(super) fn rebuild(&self) -> Result<(), StoreError> {
        self.meta
            .insert(META_REBUILD.as_bytes(), &1u64.to_be_bytes())?;
        self.endpoints.clear()?;
        self.hosts.clear()?;
        self.tls.clear()?;
        for k in [
            META_ENDPOINTS,
            META_HOSTS,
            META_TLS_HOSTS,
            META_TLS_WITHOUT_SNI,
            META_TLS_DROPPED,
            META_DROPPED,
        ] {
            self.meta.remove(k.as_bytes())?;
        }
        self.meta.remove(META_SHELL)?;
        for kv in self.meta.scan_prefix(COUNTER_PREFIX.as_bytes()) {
            let (k, _) = kv?;
            if !k[COUNTER_PREFIX.len()..].starts_with(b"store.") {
                self.meta.remove(k)?;
            }
        }
        for_each_owner(&self.contributions, |_, c| {
            let delta = Delta {
                endpoints: c.endpoints.iter().collect(),
                hosts: Some(&c.hosts),
                timeline: Some(&c.totals.timeline),
                dropped: c.totals.dropped,
                tls: Some(&c.tls),
                counters: Some(&c.totals.counters),
                per_batch_caps: false,
            };
            self.merge_tx(None, None, &delta).map(|_| ())
        })?;
        let records = self.contributions.len() as u64;
        self.meta
            .insert(META_CONTRIBUTIONS.as_bytes(), &records.to_be_bytes())?;
        self.meta.remove(META_REBUILD.as_bytes())?;
        self.db.flush()?;
        Ok(())
    }

    /// Merge one exported contribution record into `owner`'s contribution.
    pub(super) fn import_part(&self, owner: &str, part: &Part) -> Result<(), StoreError> {
        let max = self.limits.max_contribution_records as u64;
        if max == 0 {
            return Ok(());
        }
        let r = (&self.contributions, &self.meta).transaction(|(tree, meta)| -> TxResult<()> {
            let count = u64_of(meta.get(META_CONTRIBUTIONS.as_bytes())?);
            let mut w = Writer::open(tree, owner, count, &self.limits)?;
            match part {
                Part::Endpoint { key, record } => w.kept(Kept::Endpoint(&enc(key), record))?,
                Part::Host { name, record } => w.kept(Kept::Host(name, record))?,
                Part::TlsHost { sni, record } => w.kept(Kept::TlsHost(sni, record))?,
                Part::Totals(t) => w.totals.merge(t),
            }
            let n = w.close()?;
            meta.insert(META_CONTRIBUTIONS.as_bytes(), &n.to_be_bytes())?;
            Ok(())
        });
        match r {
            Ok(()) => Ok(()),
            Err(TransactionError::Abort(e)) => Err(e),
            Err(TransactionError::Storage(e)) => Err(StoreError::Db(e)),
        }
    }

    /// Remove the endpoint records of `stale` (encoded endpoint keys the merged store ages
    /// out) from every contribution, so a later rebuild does not bring them back.
    pub(super) fn forget_endpoints(&self, stale: &[sled::IVec]) -> Result<(), StoreError> {
        if stale.is_empty() {
            return Ok(());
        }
        let stale: HashSet<&[u8]> = stale.iter().map(|k| k.as_ref()).collect();
        let mut gone = sled::Batch::default();
        let mut n = 0u64;
        for kv in self.contributions.iter() {
            let (k, _) = kv?;
            if let Some((_, Kind::Endpoint, name)) = split(&k) {
                if stale.contains(name) {
                    gone.remove(k.clone());
                    n += 1;
                }
            }
        }
        self.contributions.apply_batch(gone)?;
        let left = u64_of(self.meta.get(META_CONTRIBUTIONS.as_bytes())?).saturating_sub(n);
        self.meta
            .insert(META_CONTRIBUTIONS.as_bytes(), &left.to_be_bytes())?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Store, StoreLimits};
    use analyzer::inventory::{Inventory, InventoryLimits};
    use analyzer::observation::{Consumer, Observation};
    use analyzer::time::Timestamp;
    use analyzer::tls::TlsObservation;
    use analyzer::wire::{Batch, Payload};

    fn obs(host: &str, path: &str, ts: i64, who: &str) -> Observation {
        Observation {
            status: Some(200),
            ..Observation::bare(
                Timestamp(ts),
                EndpointKey {
                    host: host.into(),
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

    /// A window of `agent`: one exchange per (host, path), a TLS handshake per SNI.
    fn window(agent: &str, seq: u64, calls: &[(&str, &str)], snis: &[&str]) -> Batch {
        let mut inventory = Inventory::default();
        for (i, (host, path)) in calls.iter().enumerate() {
            let ts = (seq as i64 * 60 + i as i64) * Timestamp::MICROS_PER_SEC;
            inventory.add(&obs(host, path, ts, agent));
        }
        let mut tls = TlsInventory::default();
        for sni in snis {
            tls.add(&TlsObservation {
                ts: Timestamp(seq as i64 * 60 * Timestamp::MICROS_PER_SEC),
                sni: Some((*sni).to_string()),
                alpn: vec![],
                ja4: "t13d".into(),
                server_cert_subject: None,
                client_cert_subject: None,
                consumer: format!("addr:{agent}"),
                server_alpn: None,
            });
        }
        let counters = BTreeMap::from([("packets".to_string(), 10 * (seq + 1))]);
        Batch::of_payload(
            agent,
            1,
            seq,
            Payload {
                inventory,
                tls,
                counters,
            },
        )
    }

    fn a1() -> Vec<Batch> {
        vec![
            window(
                "a1",
                0,
                &[("api.bank", "/shared"), ("api.bank", "/a1")],
                &["api.bank"],
            ),
            window("a1", 1, &[("api.bank", "/shared")], &[]),
        ]
    }

    fn a2() -> Vec<Batch> {
        vec![
            window(
                "a2",
                0,
                &[("api.bank", "/shared"), ("evil.test", "/x")],
                &["evil.test"],
            ),
            window("a2", 1, &[("api.bank", "/a2")], &["api.bank"]),
        ]
    }

    fn store_of(dir: &std::path::Path, limits: StoreLimits, batches: &[Batch]) -> SledStore {
        let store = SledStore::open(dir, limits).expect("open");
        for b in batches {
            store.apply(b).expect("apply");
        }
        store
    }

    /// Inventory, TLS and capture counters: what a removal must restore exactly.
    fn state(store: &SledStore) -> (Inventory, TlsInventory, BTreeMap<String, u64>) {
        let counters = store
            .counters()
            .expect("counters")
            .into_iter()
            .filter(|(k, _)| !k.starts_with("store."))
            .collect();
        (
            store.inventory().expect("inventory"),
            store.tls().expect("tls"),
            counters,
        )
    }

    /// A store fed by both agents, and one fed by a1 alone.
    fn fleet_and_only_a1(d1: &std::path::Path, d2: &std::path::Path) -> (SledStore, SledStore) {
        let both: Vec<Batch> = a1().into_iter().chain(a2()).collect();
        (
            store_of(d1, StoreLimits::default(), &both),
            store_of(d2, StoreLimits::default(), &a1()),
        )
    }

    #[test]
    fn removing_an_agent_leaves_the_store_as_if_it_never_reported() {
        let (d1, d2) = (
            tempfile::tempdir().expect("dir"),
            tempfile::tempdir().expect("dir"),
        );
        let (fleet, only_a1) = fleet_and_only_a1(d1.path(), d2.path());
        assert_ne!(state(&fleet), state(&only_a1));

        let audit = fleet.contributions().expect("audit");
        assert_eq!(audit.keys().collect::<Vec<_>>(), ["a1", "a2"]);
        let a2_audit = &audit["a2"];
        assert_eq!((a2_audit.endpoints, a2_audit.exchanges), (3, 3));
        assert_eq!((a2_audit.hosts, a2_audit.tls_hosts), (2, 2));

        let removed = fleet.remove_owner("a2").expect("remove");
        assert_eq!(&removed, a2_audit);
        assert_eq!(state(&fleet), state(&only_a1));
        assert_eq!(fleet.endpoint_count().expect("count"), 2);
        // Its marks stay: a resend is still a duplicate and changes nothing.
        assert_eq!(
            fleet.apply(&a2()[0]).expect("resend"),
            analyzer::wire::AckStatus::Duplicate
        );
        assert_eq!(state(&fleet), state(&only_a1));
        assert!(matches!(
            fleet.remove_owner("a2"),
            Err(StoreError::NoContribution { .. })
        ));
        // The store is still whole on reopen.
        drop(fleet);
        let fleet = SledStore::open(d1.path(), StoreLimits::default()).expect("reopen");
        assert_eq!(state(&fleet), state(&only_a1));
    }

    #[test]
    fn contributions_travel_through_export_and_import() {
        let dirs: Vec<_> = (0..4).map(|_| tempfile::tempdir().expect("dir")).collect();
        let both: Vec<Batch> = a1().into_iter().chain(a2()).collect();
        let fleet = store_of(dirs[0].path(), StoreLimits::default(), &both);
        let only_a1 = store_of(dirs[1].path(), StoreLimits::default(), &a1());
        let mut export = Vec::new();
        fleet.export_jsonl(&mut export).expect("export");

        let copy = SledStore::open(dirs[2].path(), StoreLimits::default()).expect("open");
        copy.import_jsonl(&mut export.as_slice()).expect("import");
        assert_eq!(state(&copy), state(&fleet));
        assert_eq!(
            copy.contributions().expect("audit"),
            fleet.contributions().expect("audit")
        );
        copy.remove_owner("a2").expect("remove");
        assert_eq!(state(&copy), state(&only_a1));

        // An export from before contributions: its records are the import's, as one owner.
        let old: Vec<u8> = String::from_utf8(export)
            .expect("utf8")
            .lines()
            .filter(|l| {
                !matches!(
                    serde_json::from_str::<ExportRecord>(l),
                    Ok(ExportRecord::Contribution { .. })
                )
            })
            .flat_map(|l| format!("{l}\n").into_bytes())
            .collect();
        let legacy = SledStore::open(dirs[3].path(), StoreLimits::default()).expect("open");
        legacy.import_jsonl(&mut old.as_slice()).expect("import");
        assert_eq!(state(&legacy), state(&fleet));
        let audit = legacy.contributions().expect("audit");
        assert_eq!(audit.keys().collect::<Vec<_>>(), [IMPORT_OWNER]);
        assert_eq!(audit[IMPORT_OWNER].endpoints, 4);
        legacy.remove_owner(IMPORT_OWNER).expect("remove");
        assert!(legacy.inventory().expect("inventory").endpoints.is_empty());
    }

    #[test]
    fn imports_and_rebuilds_keep_more_hosts_than_one_batch_may_add() {
        let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().expect("dir")).collect();
        let per_batch = StoreLimits::default().max_new_hosts_per_batch;
        let names: Vec<String> = (0..per_batch + 1000)
            .map(|i| format!("h{i}.test"))
            .collect();
        let calls = |agent: &str| -> Vec<(String, String)> {
            names
                .iter()
                .map(|h| (h.clone(), format!("/{agent}")))
                .collect()
        };
        let (c1, c2) = (calls("a1"), calls("a2"));
        fn as_refs(c: &[(String, String)]) -> Vec<(&str, &str)> {
            c.iter().map(|(h, p)| (h.as_str(), p.as_str())).collect()
        }
        let half = names.len() / 2;
        let fleet = store_of(
            dirs[0].path(),
            StoreLimits::default(),
            &[
                window("a1", 0, &as_refs(&c1[..half]), &[]),
                window("a1", 1, &as_refs(&c1[half..]), &[]),
                window("a2", 0, &as_refs(&c2[..1]), &[]),
            ],
        );
        let hosts = |s: &SledStore| s.inventory().expect("inventory").hosts.len();
        assert_eq!(hosts(&fleet), names.len());
        let mut export = Vec::new();
        fleet.export_jsonl(&mut export).expect("export");
        let copy = SledStore::open(dirs[1].path(), StoreLimits::default()).expect("open");
        copy.import_jsonl(&mut export.as_slice()).expect("import");
        assert_eq!(hosts(&copy), names.len(), "the import keeps every host");
        fleet.remove_owner("a2").expect("remove");
        assert_eq!(hosts(&fleet), names.len(), "the rebuild keeps every host");
    }

    #[test]
    fn past_the_cap_records_stay_in_the_store_unattributed() {
        let dir = tempfile::tempdir().expect("dir");
        // a1's first window takes 2 endpoints + 1 host + 1 TLS host + totals = 5 records.
        let limits = StoreLimits {
            max_contribution_records: 5,
            ..StoreLimits::default()
        };
        let both: Vec<Batch> = a1().into_iter().chain(a2()).collect();
        let fleet = store_of(dir.path(), limits.clone(), &both);
        let audit = fleet.contributions().expect("audit");
        assert_eq!(audit["a1"].endpoints, 2);
        // a2 got its totals record only: all 3 of its exchanges are unattributed.
        assert_eq!(audit["a2"].endpoints, 0);
        assert_eq!(audit["a2"].unattributed_exchanges, 3);
        assert_eq!(audit[UNATTRIBUTED_OWNER].exchanges, 3);
        let before = fleet.inventory().expect("inventory");
        fleet.remove_owner("a2").expect("remove");
        // What could not be attributed cannot be removed; nothing is lost.
        assert_eq!(
            fleet.inventory().expect("inventory").endpoints,
            before.endpoints
        );
    }

    #[test]
    fn a_removal_cut_short_is_finished_by_the_next_open() {
        let (d1, d2) = (
            tempfile::tempdir().expect("dir"),
            tempfile::tempdir().expect("dir"),
        );
        let (fleet, only_a1) = fleet_and_only_a1(d1.path(), d2.path());
        // What `remove_owner` does before its rebuild, then the process dies.
        fleet
            .meta
            .insert(META_REBUILD.as_bytes(), &1u64.to_be_bytes())
            .expect("flag");
        for kv in fleet.contributions.scan_prefix(owner_prefix("a2")) {
            let (k, _) = kv.expect("read");
            fleet.contributions.remove(k).expect("remove");
        }
        fleet.db.flush().expect("flush");
        assert_ne!(state(&fleet), state(&only_a1));
        drop(fleet);
        let fleet = SledStore::open(d1.path(), StoreLimits::default()).expect("reopen");
        assert_eq!(state(&fleet), state(&only_a1));
        assert!(!fleet
            .meta
            .contains_key(META_REBUILD.as_bytes())
            .expect("meta"));
    }

    #[test]
    fn endpoints_aged_out_of_a_full_store_do_not_come_back_with_a_removal() {
        let dir = tempfile::tempdir().expect("dir");
        let limits = StoreLimits {
            inventory: InventoryLimits {
                max_endpoints: 2,
                ..InventoryLimits::default()
            },
            endpoint_max_age_secs: 60,
            ..StoreLimits::default()
        };
        let hour = 3600;
        let fleet = store_of(
            dir.path(),
            limits,
            &[
                window(
                    "a1",
                    0,
                    &[("api.bank", "/old1"), ("api.bank", "/old2")],
                    &[],
                ),
                window("a2", 0, &[("api.bank", "/old1")], &[]),
            ],
        );
        // Full: a window two hours later ages both out.
        fleet
            .apply(&window("a1", 2 * hour, &[("api.bank", "/new")], &[]))
            .expect("apply");
        assert_eq!(fleet.contributions().expect("audit")["a2"].endpoints, 0);
        fleet.remove_owner("a2").expect("remove");
        let inv = fleet.inventory().expect("inventory");
        let paths: Vec<&str> = inv.endpoints.keys().map(|k| k.path.as_str()).collect();
        assert!(
            !paths.contains(&"/old1") && !paths.contains(&"/old2"),
            "{paths:?}"
        );
    }

    #[test]
    fn keys_split_back_and_owners_do_not_share_prefixes() {
        let k = key("agent-1", Kind::Host, b"api.bank");
        assert_eq!(
            split(&k),
            Some(("agent-1".to_string(), Kind::Host, &b"api.bank"[..]))
        );
        // "a" must not be a prefix of "ab"'s records.
        assert!(!key("ab", Kind::Totals, b"").starts_with(&owner_prefix("a")));
        assert_eq!(split(b"\0\0\0\x09short"), None);
        assert_eq!(split(&key("x", Kind::Endpoint, b"")[..5]), None);
    }

    #[test]
    fn totals_merge_saturates_and_trims_the_timeline() {
        let mut a = Totals {
            dropped: u64::MAX - 1,
            ..Totals::default()
        };
        let b = Totals {
            dropped: 5,
            timeline: (0..TIMELINE_MINUTES as i64 + 3).map(|m| (m, 1)).collect(),
            ..Totals::default()
        };
        a.merge(&b);
        assert_eq!(a.dropped, u64::MAX);
        assert_eq!(a.timeline.len(), TIMELINE_MINUTES);
        assert_eq!(a.timeline.keys().next(), Some(&3));
    }
}
