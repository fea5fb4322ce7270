//! The merge of one batch or import record into a store's tables, written once for every
//! backend: sled runs it inside a sled transaction, PostgreSQL inside a SQL transaction held
//! under the store's write lock. Each backend gives [`MergeTables`] over its own tables; the
//! rules (caps, counters, what is summed, unioned or kept) live here only, so the two stores
//! cannot drift apart.

use super::{dec, enc, AgentState, StoreError, StoreLimits};
use analyzer::inventory::{EndpointRecord, HostRecord, TIMELINE_MINUTES};
use analyzer::observation::EndpointKey;
use analyzer::time::Timestamp;
use analyzer::tls::{TlsHostRecord, TlsInventory};
use analyzer::wire::{Batch, InventoryShell};
use std::collections::BTreeMap;

/// The keyed record tables a merge touches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Table {
    /// JSON of the [`EndpointKey`] -> [`EndpointRecord`].
    Endpoints,
    /// Host name -> [`HostRecord`].
    Hosts,
    /// SNI -> [`TlsHostRecord`].
    Tls,
    /// Agent id -> [`AgentState`].
    Agents,
}

/// Meta numbers: counts kept beside the tables, and capture counters under
/// [`COUNTER_PREFIX`].
pub(crate) const META_ENDPOINTS: &str = "endpoint_count";
pub(crate) const META_DROPPED: &str = "dropped_observations";
pub(crate) const META_HOSTS: &str = "host_count";
pub(crate) const META_TLS_HOSTS: &str = "tls_host_count";
pub(crate) const META_TLS_WITHOUT_SNI: &str = "tls_without_sni";
pub(crate) const META_TLS_DROPPED: &str = "tls_dropped_hosts";
/// Packet time (µs) of the last age-out sweep.
pub(crate) const META_LAST_SWEEP: &str = "last_age_out";
pub(crate) const COUNTER_PREFIX: &str = "counter:";
/// Counter of hosts not kept (over `max_hosts` or `max_new_hosts_per_batch`).
pub(crate) const HOSTS_SHED: &str = "store.hosts_shed";

/// One backend's tables inside one open transaction.
pub(crate) trait MergeTables {
    type Error;
    type Bytes: AsRef<[u8]>;
    /// Turn a store error (a corrupt record, a cap) into an abort of the transaction.
    fn abort(e: StoreError) -> Self::Error;
    fn get(&mut self, table: Table, key: &[u8]) -> Result<Option<Self::Bytes>, Self::Error>;
    fn put(&mut self, table: Table, key: &[u8], value: &[u8]) -> Result<(), Self::Error>;
    /// A meta number, 0 when absent.
    fn number(&mut self, name: &str) -> Result<u64, Self::Error>;
    fn set_number(&mut self, name: &str, value: u64) -> Result<(), Self::Error>;
    /// The numbers about to be read, in one go where the backend gains from it (a database
    /// round trip each otherwise).
    fn prefetch_numbers(&mut self, _names: &[String]) -> Result<(), Self::Error> {
        Ok(())
    }
    /// The inventory shell (the timeline), as JSON.
    fn shell(&mut self) -> Result<Option<Self::Bytes>, Self::Error>;
    fn set_shell(&mut self, value: &[u8]) -> Result<(), Self::Error>;

    /// What the merge kept of the delta, record by record, in the same transaction: a
    /// backend that keeps per-agent contributions writes them here (sled, see
    /// [`super::contrib`]); others keep nothing.
    fn kept(&mut self, _what: Kept<'_>) -> Result<(), Self::Error> {
        Ok(())
    }

    fn add_number(&mut self, name: &str, v: u64) -> Result<(), Self::Error> {
        if v > 0 {
            let old = self.number(name)?;
            self.set_number(name, old.saturating_add(v))?;
        }
        Ok(())
    }
}

/// One thing [`merge`] kept (or shed) of a delta, told to [`MergeTables::kept`].
pub(crate) enum Kept<'a> {
    /// An endpoint record merged or inserted (its encoded key).
    Endpoint(&'a [u8], &'a EndpointRecord),
    Host(&'a str, &'a HostRecord),
    /// A TLS host record merged or inserted, with its names capped as stored.
    TlsHost(&'a str, &'a TlsHostRecord),
    /// Observations dropped: the delta's own and those of records shed at a cap.
    Dropped(u64),
    Timeline(&'a BTreeMap<i64, u64>),
    TlsTallies {
        without_sni: u64,
        dropped: u64,
    },
    Counter(&'a str, u64),
}

/// How [`merge`] updates an agent's state: `None` means "duplicate, change nothing".
pub(crate) type AgentUpdate<'a> = (
    &'a str,
    &'a dyn Fn(Option<AgentState>) -> Option<AgentState>,
);

/// What one batch or import record adds to the store, borrowed: merged record by record into
/// the tables, with no inventory built in between.
#[derive(Default)]
pub(crate) struct Delta<'a> {
    pub endpoints: Vec<(&'a EndpointKey, &'a EndpointRecord)>,
    pub hosts: Option<&'a BTreeMap<String, HostRecord>>,
    pub timeline: Option<&'a BTreeMap<i64, u64>>,
    pub dropped: u64,
    pub tls: Option<&'a TlsInventory>,
    pub counters: Option<&'a BTreeMap<String, u64>>,
    /// An agent's batch: the per-batch caps apply (`max_new_hosts_per_batch`). Not to an
    /// import or a rebuild, which carry a whole store's records at once.
    pub per_batch_caps: bool,
}

impl<'a> Delta<'a> {
    pub fn of_batch(batch: &'a Batch) -> Delta<'a> {
        let doc = &batch.inventory;
        Delta {
            endpoints: doc.endpoints.iter().map(|e| (&e.key, &e.record)).collect(),
            hosts: Some(&doc.hosts),
            timeline: Some(&doc.timeline),
            dropped: doc.dropped_observations,
            tls: Some(&doc.tls),
            counters: Some(&batch.counters),
            per_batch_caps: true,
        }
    }
}

/// The agent update of one batch: raise its high-water mark (see [`AgentState::advance`]) and
/// add its totals, or `None` for a resend.
pub(crate) fn batch_update(
    batch: &Batch,
) -> impl Fn(Option<AgentState>) -> Option<AgentState> + '_ {
    move |old: Option<AgentState>| {
        let mut s = old.unwrap_or_default();
        if !s.advance(&batch.run_id, batch.epoch, batch.seq) {
            return None;
        }
        s.batches = s.batches.saturating_add(1);
        s.observations = s.observations.saturating_add(batch.observations);
        s.last_window_end = s.last_window_end.max(batch.window_end);
        Some(s)
    }
}

/// Merge `d` and optionally an agent state into `t`, record by record. `agents_before` is the
/// number of agents stored (a new one past the cap is refused). Returns `false` (and changes
/// nothing) for a batch at or below its agent's mark.
pub(crate) fn merge<T: MergeTables>(
    t: &mut T,
    limits: &StoreLimits,
    agents_before: usize,
    agent: Option<AgentUpdate<'_>>,
    d: &Delta<'_>,
) -> Result<bool, T::Error> {
    let max_endpoints = limits.inventory.max_endpoints as u64;
    let cap = limits.inventory.max_names;
    let tls_limits = limits.tls;
    let (max_hosts, max_new_hosts) = (
        limits.max_hosts as u64,
        if d.per_batch_caps {
            limits.max_new_hosts_per_batch as u64
        } else {
            u64::MAX
        },
    );
    let mut names: Vec<String> = [
        META_ENDPOINTS,
        META_HOSTS,
        META_DROPPED,
        META_TLS_HOSTS,
        META_TLS_WITHOUT_SNI,
        META_TLS_DROPPED,
    ]
    .iter()
    .map(|n| n.to_string())
    .collect();
    names.push(format!("{COUNTER_PREFIX}{HOSTS_SHED}"));
    names.extend(
        d.counters
            .into_iter()
            .flatten()
            .map(|(name, _)| format!("{COUNTER_PREFIX}{name}")),
    );
    t.prefetch_numbers(&names)?;
    if let Some((id, update)) = agent {
        let old = match t.get(Table::Agents, id.as_bytes())? {
            Some(b) => Some(dec::<AgentState>("agent", b.as_ref()).map_err(T::abort)?),
            None => None,
        };
        if old.is_none() && agents_before >= limits.max_agents {
            return Err(T::abort(StoreError::TooManyAgents(limits.max_agents)));
        }
        match update(old) {
            Some(new) => t.put(Table::Agents, id.as_bytes(), &enc(&new))?,
            None => return Ok(false),
        }
    }
    let mut count = t.number(META_ENDPOINTS)?;
    let mut dropped = d.dropped;
    for (key, rec) in &d.endpoints {
        let k = enc(key);
        match t.get(Table::Endpoints, &k)? {
            Some(b) => {
                let mut mine: EndpointRecord = dec("endpoint", b.as_ref()).map_err(T::abort)?;
                mine.merge(rec, cap);
                t.put(Table::Endpoints, &k, &enc(&mine))?;
            }
            None if count < max_endpoints => {
                t.put(Table::Endpoints, &k, &enc(rec))?;
                count += 1;
            }
            None => {
                dropped = dropped.saturating_add(rec.exchanges);
                continue;
            }
        }
        t.kept(Kept::Endpoint(&k, rec))?;
    }
    let mut host_count = t.number(META_HOSTS)?;
    let (mut new_hosts, mut shed) = (0u64, 0u64);
    for (name, rec) in d.hosts.into_iter().flatten() {
        match t.get(Table::Hosts, name.as_bytes())? {
            Some(b) => {
                let mut mine: HostRecord = dec("host", b.as_ref()).map_err(T::abort)?;
                mine.merge(rec);
                t.put(Table::Hosts, name.as_bytes(), &enc(&mine))?;
            }
            None if host_count < max_hosts && new_hosts < max_new_hosts => {
                t.put(Table::Hosts, name.as_bytes(), &enc(rec))?;
                host_count += 1;
                new_hosts += 1;
            }
            None => {
                shed += 1;
                continue;
            }
        }
        t.kept(Kept::Host(name, rec))?;
    }
    t.set_number(META_HOSTS, host_count)?;
    t.add_number(&format!("{COUNTER_PREFIX}{HOSTS_SHED}"), shed)?;
    if let Some(timeline) = d.timeline.filter(|t| !t.is_empty()) {
        let mut shell: InventoryShell = match t.shell()? {
            Some(b) => dec("inventory shell", b.as_ref()).map_err(T::abort)?,
            None => InventoryShell::default(),
        };
        for (minute, n) in timeline {
            let v = shell.timeline.entry(*minute).or_default();
            *v = v.saturating_add(*n);
        }
        while shell.timeline.len() > TIMELINE_MINUTES {
            shell.timeline.pop_first();
        }
        // `dropped_observations` is kept in its own number (it also counts store caps); a
        // shell from before that moves its count there (no agent's).
        t.add_number(
            META_DROPPED,
            std::mem::take(&mut shell.dropped_observations),
        )?;
        t.set_shell(&enc(&shell))?;
        t.kept(Kept::Timeline(timeline))?;
    }
    if let Some(tls) = d.tls {
        let mut tls_count = t.number(META_TLS_HOSTS)?;
        let mut tls_dropped = tls.dropped_hosts;
        for (host, rec) in &tls.hosts {
            let mut capped = TlsHostRecord::default();
            capped.merge(rec, tls_limits.max_names);
            match t.get(Table::Tls, host.as_bytes())? {
                Some(b) => {
                    let mut mine: TlsHostRecord = dec("TLS host", b.as_ref()).map_err(T::abort)?;
                    mine.merge(rec, tls_limits.max_names);
                    t.put(Table::Tls, host.as_bytes(), &enc(&mine))?;
                }
                None if tls_count < tls_limits.max_hosts as u64 => {
                    t.put(Table::Tls, host.as_bytes(), &enc(&capped))?;
                    tls_count += 1;
                }
                None => {
                    tls_dropped = tls_dropped.saturating_add(rec.connections);
                    continue;
                }
            }
            t.kept(Kept::TlsHost(host, &capped))?;
        }
        t.set_number(META_TLS_HOSTS, tls_count)?;
        t.add_number(META_TLS_WITHOUT_SNI, tls.without_sni)?;
        t.add_number(META_TLS_DROPPED, tls_dropped)?;
        t.kept(Kept::TlsTallies {
            without_sni: tls.without_sni,
            dropped: tls_dropped,
        })?;
    }
    for (name, v) in d.counters.into_iter().flatten() {
        t.add_number(&format!("{COUNTER_PREFIX}{name}"), *v)?;
        t.kept(Kept::Counter(name, *v))?;
    }
    t.set_number(META_ENDPOINTS, count)?;
    t.add_number(META_DROPPED, dropped)?;
    t.kept(Kept::Dropped(dropped))?;
    Ok(true)
}

/// Least packet time between two age-out sweeps: a sweep reads every endpoint.
pub(crate) const SWEEP_EVERY_MICROS: i64 = 3600 * Timestamp::MICROS_PER_SEC;
/// Counter of endpoints removed by age-out sweeps.
pub(crate) const AGED_OUT: &str = "store.endpoints_aged_out";
/// Probe-like endpoints (few exchanges, none answered 2xx/3xx: scanners, random-path floods)
/// are aged out after this much quiet instead of the full age.
const PROBE_MAX_AGE_MICROS: i64 = 3600 * Timestamp::MICROS_PER_SEC;
const PROBE_MAX_EXCHANGES: u64 = 3;

/// Whether an age-out sweep at packet time `now` is due, given the last one (0: never).
pub(crate) fn sweep_due(last: u64, now: Timestamp) -> bool {
    last == 0 || now.micros().saturating_sub(last as i64) >= SWEEP_EVERY_MICROS
}

/// Whether a sweep at packet time `now` removes `rec`: quiet for `endpoint_max_age_secs`, or
/// probe-like and quiet for an hour.
pub(crate) fn is_stale(rec: &EndpointRecord, now: Timestamp, limits: &StoreLimits) -> bool {
    let max_age = i64::try_from(limits.endpoint_max_age_secs)
        .unwrap_or(i64::MAX)
        .saturating_mul(Timestamp::MICROS_PER_SEC);
    let quiet = now.since(rec.last_seen);
    let answered = rec.statuses.keys().any(|s| (200..400).contains(s));
    let probe = rec.exchanges <= PROBE_MAX_EXCHANGES && !answered;
    quiet >= max_age || (probe && quiet >= PROBE_MAX_AGE_MICROS)
}
