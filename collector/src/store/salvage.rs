//! A damaged store: clear errors instead of panics, and getting back what is still readable.
//!
//! sled 0.34 trusts its files. A truncated, deleted or overwritten `db` file is, depending on
//! where the damage is, an `Error::Corruption`, a panic inside sled's recovery ("index out of
//! bounds", "tried to serialize Uninitialized"), or a store that opens *empty* (sled recreates a
//! missing `db`). So every open of the store goes through [`open_guarded`]: the file layout is
//! checked first, then sled runs under [`contained`], and whatever goes wrong becomes
//! [`StoreError::Damaged`] naming the directory and what to do. sled reads pages lazily, so an
//! open also reads every record once ([`verify`]) and compares the stored endpoint and host
//! counts with what is there. What it cannot see: a log cut or overwritten past the last
//! snapshot, which sled recovers silently to the last intact record (as after a crash).
//!
//! Salvage ([`recover`], [`walk`]) never touches the damaged store: sled writes while it
//! recovers (a new snapshot, zeroed log tails), so it works on a scratch copy. It opens the copy
//! as it is, then without the snapshot (sled then rebuilds from the log and stops at the first
//! bad segment), then with the log cut at a segment boundary before the damage; and reads every
//! tree record by record, counting what does not read or decode instead of stopping.

use super::{
    dec, u64_of, AgentState, ExportRecord, SledStore, StoreError, StoreLimits, COUNTER_PREFIX,
    META_DROPPED, META_ENDPOINTS, META_HOSTS, META_SHELL, META_TLS_DROPPED, META_TLS_WITHOUT_SNI,
};
use crate::review::{ReviewEvent, ReviewRecord};
use analyzer::contain::contained;
use analyzer::inventory::{EndpointRecord, HostRecord, Inventory};
use analyzer::observation::EndpointKey;
use analyzer::tls::{TlsHostRecord, TlsInventory};
use analyzer::wire::InventoryShell;
use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::ops::Bound;
use std::path::Path;

/// sled's log segment size (its default; the store does not change it): the unit the log is
/// cut at when the end of a damaged log must be given up.
const SEGMENT: u64 = 512 * 1024;

/// A sled read error in the operator's terms (its `Display` ends in "backtrace ()").
fn sled_problem(e: &sled::Error) -> String {
    match e {
        sled::Error::Corruption { at: Some(at), .. } => {
            format!("corrupt data at byte {} of the db file", at.lid())
        }
        sled::Error::Corruption { at: None, .. } => "corrupt or missing data in the log".into(),
        other => other.to_string(),
    }
}

fn damaged(dir: &Path, what: impl Into<String>) -> StoreError {
    StoreError::Damaged {
        path: dir.display().to_string(),
        what: what.into(),
    }
}

/// The snapshot files (`snap.*`) in `dir`.
fn snapshots(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("snap."))
        .collect()
}

/// Damage visible from the file layout alone, before sled sees it: sled would recreate a
/// missing `db` and open an empty store, losing every agent's high-water mark without a word.
fn layout_damage(dir: &Path) -> Option<String> {
    let db = dir.join("db");
    let snaps = snapshots(dir);
    match std::fs::metadata(&db) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if dir.join("conf").exists() || !snaps.is_empty() {
                Some(format!(
                    "its database file {} is missing (its {} still there)",
                    db.display(),
                    if snaps.is_empty() {
                        "conf file is"
                    } else {
                        "conf and snapshot files are"
                    }
                ))
            } else {
                None
            }
        }
        Err(e) => Some(format!(
            "its database file {} cannot be read ({e})",
            db.display()
        )),
        Ok(m) if !m.is_file() => Some(format!("{} is not a file", db.display())),
        Ok(m) if m.len() == 0 && !snaps.is_empty() => Some(format!(
            "its database file {} is empty but the snapshot {} says it held data",
            db.display(),
            snaps.join(", ")
        )),
        Ok(_) => None,
    }
}

/// What sled's error or panic says about the files, in the operator's terms.
fn describe(dir: &Path, e: StoreError) -> StoreError {
    let size = std::fs::metadata(dir.join("db"))
        .map(|m| format!("db file of {} bytes", m.len()))
        .unwrap_or_else(|_| "db file unreadable".into());
    match e {
        StoreError::Open {
            source: sled::Error::Corruption { .. },
            ..
        }
        | StoreError::Db(sled::Error::Corruption { .. }) => damaged(
            dir,
            format!(
                "sled found corrupt or missing data in its log ({size}; it was truncated or \
                 overwritten, or no longer matches its snapshot)"
            ),
        ),
        StoreError::Corrupt { what, message } => damaged(
            dir,
            format!("its {what} record does not decode ({message})"),
        ),
        other => other,
    }
}

/// Open through `open` (the real sled open) unless the layout is damaged; corruption errors and
/// panics become [`StoreError::Damaged`].
pub(crate) fn open_guarded(
    dir: &Path,
    open: impl FnOnce() -> Result<SledStore, StoreError>,
) -> Result<SledStore, StoreError> {
    if let Some(what) = layout_damage(dir) {
        return Err(damaged(dir, what));
    }
    match contained(open) {
        Ok(r) => r.map_err(|e| describe(dir, e)),
        Err(panic) => {
            let size = std::fs::metadata(dir.join("db"))
                .map(|m| format!("db file of {} bytes", m.len()))
                .unwrap_or_else(|_| "db file unreadable".into());
            Err(damaged(
                dir,
                format!("sled failed while recovering its log ({size}): {panic}"),
            ))
        }
    }
}

/// Read every record of every tree (not decoded) and compare the stored endpoint and host
/// counts with what is there: sled reads pages lazily, so a store whose log was overwritten
/// can open and fail only when a page is read. Run on open, so the collector says so at start
/// rather than on its first request. Returns what is wrong.
pub(crate) fn verify(store: &SledStore) -> Result<(), String> {
    let mut problems = Vec::new();
    let mut counts = BTreeMap::new();
    for (name, tree) in store.trees() {
        let mut tally = TreeTally::default();
        // The callback never fails, so neither does the walk.
        let _ = walk_tree(tree, &mut tally, &mut |_, _| Ok(Ok(())));
        if !tally.clean() {
            problems.push(format!(
                "{} read(s) of its {name} records failed{} ({})",
                tally.unreadable,
                if tally.stopped {
                    ", the rest unreadable"
                } else {
                    ""
                },
                tally.first_problem.unwrap_or_default()
            ));
        }
        counts.insert(name, tally.records);
    }
    let stored = |key: &str| {
        contained(|| store.meta.get(key.as_bytes()))
            .ok()
            .and_then(|r| r.ok())
    };
    for (what, key, tree) in [
        ("endpoint", META_ENDPOINTS, "endpoints"),
        ("host", META_HOSTS, "hosts"),
    ] {
        let there = counts.get(tree).copied().unwrap_or(0);
        let kept = stored(key).map(u64_of);
        if kept.unwrap_or(0) != there {
            problems.push(format!(
                "it says it holds {} {what}s but {there} {what} records are there",
                kept.unwrap_or(0)
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

/// An existing store, for commands that must not create one (`store export`, `store check`).
pub fn require_store(dir: &Path) -> Result<(), StoreError> {
    let is_store = dir.join("db").exists() || dir.join("conf").exists();
    if is_store || !snapshots(dir).is_empty() {
        return Ok(());
    }
    Err(StoreError::NotAStore {
        path: dir.display().to_string(),
    })
}

/// How a salvaged copy could be opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recovery {
    /// As it is: sled saw no damage.
    AsIs,
    /// Only without its snapshot: sled rebuilt the pages from the log up to the damage.
    WithoutSnapshot,
    /// Only with the log cut to its first `kept` of `of` bytes (whole segments).
    LogPrefix { kept: u64, of: u64 },
}

impl std::fmt::Display for Recovery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Recovery::AsIs => write!(f, "opened as it is"),
            Recovery::WithoutSnapshot => write!(
                f,
                "opened only without its snapshot (rebuilt from the log up to the damage; \
                 what was written after it is lost, count unknown)"
            ),
            Recovery::LogPrefix { kept, of } => write!(
                f,
                "opened only with its log cut to the first {kept} of {of} bytes (what was \
                 written after that is lost, count unknown)"
            ),
        }
    }
}

/// A scratch copy of a store, opened. The copy is deleted on drop (after the store closes:
/// fields drop in order).
pub struct Recovered {
    pub store: SledStore,
    pub how: Recovery,
    /// Why the earlier ways of opening it failed, one line each.
    pub failures: Vec<String>,
    _copy: tempfile::TempDir,
}

fn copy_error(path: &Path, error: io::Error) -> StoreError {
    StoreError::File {
        path: path.display().to_string(),
        error,
    }
}

/// Copy the files of the store in `src` (`db`, `conf`, `snap.*` unless `snapshot` is false,
/// `blobs/`) into a new scratch directory, `db` cut to `db_limit` bytes if given.
fn copy_store(
    src: &Path,
    snapshot: bool,
    db_limit: Option<u64>,
) -> Result<tempfile::TempDir, StoreError> {
    let scratch = tempfile::Builder::new()
        .prefix("shadowtap-store-copy-")
        .tempdir()
        .map_err(|e| copy_error(&std::env::temp_dir(), e))?;
    let entries = std::fs::read_dir(src).map_err(|e| copy_error(src, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| copy_error(src, e))?;
        let name = entry.file_name();
        let name_s = name.to_string_lossy();
        let from = entry.path();
        let to = scratch.path().join(&name);
        if name_s == "blobs" && from.is_dir() {
            std::fs::create_dir_all(&to).map_err(|e| copy_error(&to, e))?;
            for blob in std::fs::read_dir(&from).map_err(|e| copy_error(&from, e))? {
                let blob = blob.map_err(|e| copy_error(&from, e))?;
                if blob.path().is_file() {
                    std::fs::copy(blob.path(), to.join(blob.file_name()))
                        .map_err(|e| copy_error(&blob.path(), e))?;
                }
            }
        } else if name_s == "db" {
            let mut input = std::fs::File::open(&from).map_err(|e| copy_error(&from, e))?;
            let mut output = std::fs::File::create(&to).map_err(|e| copy_error(&to, e))?;
            match db_limit {
                Some(n) => io::copy(&mut (&mut input).take(n), &mut output),
                None => io::copy(&mut input, &mut output),
            }
            .map_err(|e| copy_error(&from, e))?;
        } else if name_s == "conf" || (snapshot && name_s.starts_with("snap.")) {
            std::fs::copy(&from, &to).map_err(|e| copy_error(&from, e))?;
        }
    }
    Ok(scratch)
}

fn try_open(
    src: &Path,
    snapshot: bool,
    db_limit: Option<u64>,
    limits: &StoreLimits,
) -> Result<Result<(SledStore, tempfile::TempDir), String>, StoreError> {
    let copy = copy_store(src, snapshot, db_limit)?;
    let limits = limits.clone();
    let path = copy.path().to_path_buf();
    Ok(
        match contained(|| SledStore::open_unguarded(&path, limits)) {
            Ok(Ok(store)) => Ok((store, copy)),
            // The copy's path means nothing to the operator: say what sled found.
            Ok(Err(StoreError::Open { source, .. })) => Err(sled_problem(&source)),
            Ok(Err(e)) => Err(e.to_string()),
            Err(panic) => Err(format!("sled failed (internal error: {panic})")),
        },
    )
}

/// Records in all trees (0 where a tree cannot be counted).
fn records(store: &SledStore) -> u64 {
    store
        .trees()
        .iter()
        .map(|(_, t)| contained(|| t.len()).unwrap_or(0) as u64)
        .sum()
}

/// Open a scratch copy of the store in `dir`, giving up as little as it takes (see the module
/// docs). Fails with [`StoreError::Damaged`] when no way works, or the `db` file is gone.
pub fn recover(dir: &Path, limits: StoreLimits) -> Result<Recovered, StoreError> {
    require_store(dir)?;
    let db = dir.join("db");
    let len = match std::fs::metadata(&db) {
        Ok(m) => m.len(),
        Err(e) => {
            let what = layout_damage(dir).unwrap_or_else(|| {
                format!("its database file {} cannot be read ({e})", db.display())
            });
            return Err(damaged(dir, format!("{what}: nothing to salvage")));
        }
    };
    let mut failures = Vec::new();
    let done = |store, copy, how, failures| Recovered {
        store,
        how,
        failures,
        _copy: copy,
    };
    if let Some(what) = layout_damage(dir) {
        failures.push(what);
    } else {
        match try_open(dir, true, None, &limits)? {
            Ok((store, copy)) => return Ok(done(store, copy, Recovery::AsIs, failures)),
            Err(e) => failures.push(format!("as it is: {e}")),
        }
    }
    match try_open(dir, false, None, &limits)? {
        Ok((store, copy)) => return Ok(done(store, copy, Recovery::WithoutSnapshot, failures)),
        Err(e) => failures.push(format!("without its snapshot: {e}")),
    }
    // The longest log prefix, in whole segments, that sled opens: the whole log failed, no
    // log at all is useless; opening is assumed to work up to the damage and fail past it.
    let segments = len.div_ceil(SEGMENT);
    let (mut good, mut bad) = (0u64, segments);
    let mut best = None;
    while bad - good > 1 {
        let mid = good + (bad - good) / 2;
        match try_open(dir, false, Some(mid * SEGMENT), &limits)? {
            // A prefix that opens empty is no better than none.
            Ok(opened) if records(&opened.0) > 0 => {
                good = mid;
                best = Some(opened);
            }
            _ => bad = mid,
        }
    }
    match best {
        Some((store, copy)) => Ok(done(
            store,
            copy,
            Recovery::LogPrefix {
                kept: good * SEGMENT,
                of: len,
            },
            failures,
        )),
        None => {
            failures.push("with its log cut at a segment boundary: nothing readable".into());
            Err(damaged(
                dir,
                format!(
                    "no part of it can be opened ({}): nothing to salvage",
                    failures.join("; ")
                ),
            ))
        }
    }
}

/// What one tree held, as read record by record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TreeTally {
    /// Records read (decoded or not).
    pub records: u64,
    /// Records read whose key or value does not decode (skipped).
    pub undecodable: u64,
    /// Reads that failed or panicked (the records there are lost, count unknown).
    pub unreadable: u64,
    /// Reading gave up before the end of the tree.
    pub stopped: bool,
    /// The first problem, for the summary.
    pub first_problem: Option<String>,
}

impl TreeTally {
    fn problem(&mut self, p: String) {
        if self.first_problem.is_none() {
            self.first_problem = Some(p);
        }
    }

    fn clean(&self) -> bool {
        self.undecodable == 0 && self.unreadable == 0 && !self.stopped
    }
}

/// What [`walk`] found: per tree, the stored counts against what is there, the agents' marks.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub trees: BTreeMap<&'static str, TreeTally>,
    /// The endpoint and host counts the store keeps (`meta`), if readable.
    pub stored_endpoints: Option<u64>,
    pub stored_hosts: Option<u64>,
    /// Records written to the sink.
    pub written: u64,
    pub agents: BTreeMap<String, AgentState>,
}

pub const TREES: [&str; 6] = [
    "meta",
    "hosts",
    "endpoints",
    "agents",
    "reviews",
    "review_events",
];

impl Report {
    /// Everything lost or inconsistent, one line each; empty when the store is clean.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (name, t) in &self.trees {
            if t.clean() {
                continue;
            }
            let mut line = format!(
                "tree {name}: {} undecodable record(s) skipped, {} failed read(s)",
                t.undecodable, t.unreadable
            );
            if t.stopped {
                line.push_str(", rest of the tree unreadable (count unknown)");
            }
            if let Some(p) = &t.first_problem {
                line.push_str(&format!(" (first: {p})"));
            }
            out.push(line);
        }
        let count = |tree: &str| self.trees.get(tree).map(|t| t.records).unwrap_or(0);
        for (what, stored, tree) in [
            ("endpoint", self.stored_endpoints, "endpoints"),
            ("host", self.stored_hosts, "hosts"),
        ] {
            match stored {
                Some(n) if n != count(tree) => out.push(format!(
                    "stored {what} count is {n} but {} {what} record(s) are there",
                    count(tree)
                )),
                None if count(tree) > 0 => {
                    out.push(format!("the stored {what} count is missing or unreadable"))
                }
                _ => {}
            }
        }
        out
    }
}

/// What [`walk_tree`] calls per record: `Ok(Ok(()))` decoded, `Ok(Err(why))` undecodable,
/// `Err` the sink failed.
type RecordFn<'a> = dyn FnMut(&[u8], &[u8]) -> io::Result<Result<(), String>> + 'a;

/// Read every record of `tree`; `each` gets key and value and says whether they decode
/// (`Ok(Err(why))` counts the record undecodable; `Err` is a sink failure and stops the walk).
///
/// A read that fails or panics is counted; reading resumes after the last key read, and stops
/// when two failures in a row make no progress.
fn walk_tree(tree: &sled::Tree, tally: &mut TreeTally, each: &mut RecordFn<'_>) -> io::Result<()> {
    let mut after: Option<sled::IVec> = None;
    let mut progressed = true;
    loop {
        let start = after.clone();
        let mut iter = match contained(|| match &start {
            None => tree.iter(),
            Some(k) => tree.range::<sled::IVec, _>((Bound::Excluded(k.clone()), Bound::Unbounded)),
        }) {
            Ok(iter) => iter,
            Err(panic) => {
                tally.unreadable += 1;
                tally.stopped = true;
                tally.problem(format!("sled failed (internal error: {panic})"));
                return Ok(());
            }
        };
        let failure = loop {
            match contained(|| iter.next()) {
                Ok(None) => return Ok(()),
                Ok(Some(Ok((k, v)))) => {
                    tally.records += 1;
                    progressed = true;
                    if let Err(why) = each(&k, &v)? {
                        tally.undecodable += 1;
                        tally.problem(why);
                    }
                    after = Some(k);
                }
                Ok(Some(Err(e))) => break sled_problem(&e),
                Err(panic) => break format!("sled failed (internal error: {panic})"),
            }
        };
        tally.unreadable += 1;
        tally.problem(failure);
        if !progressed {
            tally.stopped = true;
            return Ok(());
        }
        progressed = false;
    }
}

fn decoded<T>(r: Result<T, StoreError>) -> Result<T, String> {
    r.map_err(|e| e.to_string())
}

fn be_u64(what: &str, v: &[u8]) -> Result<u64, String> {
    if v.len() == 8 {
        Ok(u64_of(Some(v.into())))
    } else {
        Err(format!("{what} is {} bytes, not 8", v.len()))
    }
}

/// Read the whole store record by record and hand each readable record to `sink` in the order
/// of [`super::Store::export_jsonl`] (inventory shell with hosts, endpoints, agents, counters,
/// reviews, review events). Records that do not read or decode are skipped and counted in the [`Report`].
/// Only a failing sink (the output) stops it.
pub fn walk(
    store: &SledStore,
    sink: &mut dyn FnMut(ExportRecord) -> io::Result<()>,
) -> Result<Report, StoreError> {
    let mut report = Report::default();
    let limits = store.limits.inventory.clone();
    let mut shell = Inventory::new(limits.clone());
    let mut counters: BTreeMap<String, u64> = BTreeMap::new();
    let mut dropped = 0u64;
    let mut tally = TreeTally::default();
    walk_tree(&store.meta, &mut tally, &mut |k, v| {
        Ok(if k == META_SHELL {
            decoded(dec::<InventoryShell>("inventory shell", v)).map(|s| {
                shell.timeline = s.timeline;
                shell.hosts = s.hosts;
            })
        } else if k == META_ENDPOINTS.as_bytes() {
            be_u64("endpoint count", v).map(|n| report.stored_endpoints = Some(n))
        } else if k == META_HOSTS.as_bytes() {
            be_u64("host count", v).map(|n| report.stored_hosts = Some(n))
        } else if k == META_DROPPED.as_bytes() {
            be_u64("dropped observations", v).map(|n| dropped = n)
        } else if let Some(name) = k.strip_prefix(COUNTER_PREFIX.as_bytes()) {
            let name = String::from_utf8_lossy(name).into_owned();
            be_u64(&format!("counter {name}"), v).map(|n| {
                counters.insert(name, n);
            })
        } else {
            Ok(())
        })
    })?;
    report.trees.insert("meta", tally);

    // Hosts go inside the inventory record, as the strict export writes them.
    let mut tally = TreeTally::default();
    walk_tree(&store.hosts, &mut tally, &mut |k, v| {
        Ok(decoded(dec::<HostRecord>("host", v)).map(|h| {
            shell
                .hosts
                .insert(String::from_utf8_lossy(k).into_owned(), h);
        }))
    })?;
    report.trees.insert("hosts", tally);
    shell.endpoints.clear();
    shell.dropped_observations = 0;
    let mut written = 0u64;
    let mut put = |r: ExportRecord| -> io::Result<()> {
        written += 1;
        sink(r)
    };
    put(ExportRecord::Inventory {
        fields: InventoryShell::of(&shell),
    })?;

    // TLS hosts, one record as the strict export writes them.
    let mut tls = TlsInventory::new(store.limits.tls);
    let mut tally = TreeTally::default();
    walk_tree(&store.tls, &mut tally, &mut |k, v| {
        Ok(decoded(dec::<TlsHostRecord>("TLS host", v)).map(|h| {
            tls.hosts.insert(String::from_utf8_lossy(k).into_owned(), h);
        }))
    })?;
    report.trees.insert("tls", tally);
    tls.without_sni = contained(|| store.meta.get(META_TLS_WITHOUT_SNI.as_bytes()))
        .ok()
        .and_then(|r| r.ok())
        .map_or(0, u64_of);
    tls.dropped_hosts = contained(|| store.meta.get(META_TLS_DROPPED.as_bytes()))
        .ok()
        .and_then(|r| r.ok())
        .map_or(0, u64_of);
    if !tls.is_empty() {
        put(ExportRecord::Tls {
            inventory: Box::new(tls),
        })?;
    }

    let mut tally = TreeTally::default();
    walk_tree(&store.endpoints, &mut tally, &mut |k, v| {
        let key = decoded(dec::<EndpointKey>("endpoint key", k));
        let rec = decoded(dec::<EndpointRecord>("endpoint", v));
        match (key, rec) {
            (Ok(key), Ok(record)) => put(ExportRecord::Endpoint {
                key,
                record: Box::new(record),
            })
            .map(Ok),
            (Err(e), _) | (_, Err(e)) => Ok(Err(e)),
        }
    })?;
    report.trees.insert("endpoints", tally);

    let mut tally = TreeTally::default();
    walk_tree(
        &store.agents,
        &mut tally,
        &mut |k, v| match decoded(dec::<AgentState>("agent", v)) {
            Ok(state) => {
                let id = String::from_utf8_lossy(k).into_owned();
                report.agents.insert(id.clone(), state.clone());
                put(ExportRecord::Agent { id, state }).map(Ok)
            }
            Err(e) => Ok(Err(e)),
        },
    )?;
    report.trees.insert("agents", tally);

    if dropped > 0 {
        counters.insert("store.dropped_observations".into(), dropped);
    }
    for (name, value) in counters {
        put(ExportRecord::Counter { name, value })?;
    }

    let mut tally = TreeTally::default();
    walk_tree(
        &store.reviews,
        &mut tally,
        &mut |k, v| match decoded(dec::<ReviewRecord>("review", v)) {
            Ok(record) => put(ExportRecord::Review {
                id: String::from_utf8_lossy(k).into_owned(),
                record,
            })
            .map(Ok),
            Err(e) => Ok(Err(e)),
        },
    )?;
    report.trees.insert("reviews", tally);

    let mut tally = TreeTally::default();
    walk_tree(
        &store.review_events,
        &mut tally,
        &mut |_, v| match decoded(dec::<ReviewEvent>("review event", v)) {
            Ok(event) => put(ExportRecord::ReviewEvent { event }).map(Ok),
            Err(e) => Ok(Err(e)),
        },
    )?;
    report.trees.insert("review_events", tally);
    report.written = written;
    Ok(report)
}

/// [`walk`] writing JSON lines to `out` (the format of [`super::Store::export_jsonl`]).
/// Without the per-agent contributions: a damaged store's contributions may be missing
/// records its merged trees still have, and a removal would then lose them; so what salvage
/// recovers imports as one owner, the import ([`super::contrib::IMPORT_OWNER`]).
pub fn export_jsonl(store: &SledStore, out: &mut dyn Write) -> Result<Report, StoreError> {
    let report = walk(store, &mut |r| {
        out.write_all(&super::enc(&r))?;
        out.write_all(b"\n")
    })?;
    out.flush()?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;
    use analyzer::observation::{Consumer, Observation};
    use analyzer::time::Timestamp;
    use analyzer::wire::Batch;
    use std::io::{Seek, SeekFrom};

    fn batch(seq: u64, n: usize) -> Batch {
        let mut inv = Inventory::default();
        for i in 0..n {
            let mut o = Observation::bare(
                Timestamp(1_000 + i as i64),
                EndpointKey {
                    host: format!("h{}.test", i % 7),
                    method: "GET".into(),
                    path: format!("/p{seq}/{i}"),
                },
                Consumer {
                    address: "10.0.0.1".into(),
                    credential: None,
                },
            );
            o.status = Some(200);
            inv.add(&o);
        }
        Batch::new("a1", 1, seq, &inv, BTreeMap::from([("packets".into(), 10)]))
    }

    /// A store of 1,500 endpoints written over two runs of the collector, so that sled has
    /// written a snapshot (it does on open) and a log that goes on after it.
    /// Open `dir` once the previous handle's lock is gone: sled's background threads may hold
    /// the `db` file (and its lock) a moment after the store is dropped.
    /// The store these tests damage: without per-agent contributions, so its log is laid out
    /// as the damage positions below were chosen for (where sled's live pages lie decides
    /// whether a cut is recoverable, and contributions double what each batch writes).
    fn open_unlocked(dir: &Path) -> Result<SledStore, StoreError> {
        let limits = StoreLimits {
            max_contribution_records: 0,
            ..StoreLimits::default()
        };
        SledStore::open(dir, limits)
    }

    fn make_store(dir: &Path) {
        for run in 0..2u64 {
            let store = open_unlocked(dir).expect("open");
            for seq in run * 20..run * 20 + 20 - run * 10 {
                store.apply(&batch(seq, 50)).expect("apply");
            }
        }
        assert!(!snapshots(dir).is_empty(), "sled wrote a snapshot");
    }

    fn db_len(dir: &Path) -> u64 {
        std::fs::metadata(dir.join("db")).expect("db").len()
    }

    fn truncate(dir: &Path, len: u64) {
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(dir.join("db"))
            .expect("db");
        f.set_len(len).expect("truncate");
    }

    fn overwrite(dir: &Path, from: u64, to: u64) {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(dir.join("db"))
            .expect("db");
        f.seek(SeekFrom::Start(from)).expect("seek");
        f.write_all(&vec![0xAB; (to - from) as usize])
            .expect("write");
    }

    fn damaged_message(dir: &Path) -> String {
        match open_unlocked(dir) {
            Ok(_) => panic!("a damaged store opened"),
            Err(e @ StoreError::Damaged { .. }) => e.to_string(),
            Err(e) => panic!("not reported as damaged: {e}"),
        }
    }

    fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
        std::fs::read_dir(dir)
            .expect("dir")
            .filter_map(|e| e.ok())
            .filter(|e| e.path().is_file())
            .map(|e| {
                let bytes = std::fs::read(e.path()).expect("read");
                (e.file_name().to_string_lossy().into_owned(), bytes)
            })
            .collect()
    }

    #[test]
    fn a_clean_store_walks_whole_and_checks_clean() {
        let dir = tempfile::tempdir().expect("tempdir");
        make_store(dir.path());
        let store = open_unlocked(dir.path()).expect("open");
        let mut strict = Vec::new();
        store.export_jsonl(&mut strict).expect("export");
        let mut salvaged = Vec::new();
        let report = export_jsonl(&store, &mut salvaged).expect("walk");
        assert!(report.problems().is_empty(), "{:?}", report.problems());
        assert_eq!(report.trees["endpoints"].records, 1_500);
        assert_eq!(report.stored_endpoints, Some(1_500));
        assert_eq!(report.agents["a1"].seq, 29);
        // Same records as the strict export (the order of endpoints may differ), but for the
        // per-agent contributions: salvage gives up attribution (see `export_jsonl`).
        let lines = |b: &[u8]| {
            let mut v: Vec<String> = String::from_utf8_lossy(b)
                .lines()
                .filter(|l| !l.starts_with("{\"contribution\""))
                .map(str::to_string)
                .collect();
            v.sort();
            v
        };
        assert_eq!(lines(&salvaged), lines(&strict));
        assert_eq!(report.written as usize, lines(&strict).len());
        drop(store);
        let recovered = recover(dir.path(), StoreLimits::default()).expect("recover");
        assert_eq!(recovered.how, Recovery::AsIs);
    }

    #[test]
    fn a_truncated_db_is_a_clear_error_and_its_readable_part_is_salvaged() {
        let dir = tempfile::tempdir().expect("tempdir");
        make_store(dir.path());
        truncate(dir.path(), db_len(dir.path()) / 2);
        let salvageable = |dir: &Path| {
            let r = recover(dir, StoreLimits::default()).expect("recover");
            walk(&r.store, &mut |_| Ok(())).expect("walk").trees["endpoints"].records
        };
        let first = salvageable(dir.path());
        let before = files(dir.path());
        let msg = damaged_message(dir.path());
        assert!(msg.contains(&dir.path().display().to_string()), "{msg}");
        assert!(msg.contains("store export"), "{msg}");
        assert!(msg.contains("store check"), "{msg}");
        // sled's failed recovery may zero the torn end of the log in place (bytes it cannot
        // use): nothing that salvage could get back is lost by it.
        assert_eq!(salvageable(dir.path()), first);
        let before_salvage = files(dir.path());
        let _ = before;
        let recovered = recover(dir.path(), StoreLimits::default()).expect("recover");
        assert_ne!(recovered.how, Recovery::AsIs);
        let mut out = Vec::new();
        let report = export_jsonl(&recovered.store, &mut out).expect("walk");
        // How much comes back depends on where sled's log segments lie (it reuses them, and a
        // log without its snapshot is read only up to the first gap): often 900, maybe none.
        let got = report.trees["endpoints"].records;
        assert!(got < 1_500, "{got}");
        drop(recovered);
        // Salvage works on a copy: the store itself is not changed.
        assert_eq!(files(dir.path()), before_salvage);
        // What was salvaged imports.
        let other = tempfile::tempdir().expect("tempdir");
        let fresh = SledStore::open(other.path(), StoreLimits::default()).expect("open");
        fresh.import_jsonl(&mut out.as_slice()).expect("import");
        assert_eq!(fresh.inventory().expect("inv").endpoints.len() as u64, got);
    }

    #[test]
    fn a_deleted_db_is_a_clear_error_and_is_not_recreated_empty() {
        let dir = tempfile::tempdir().expect("tempdir");
        make_store(dir.path());
        std::fs::remove_file(dir.path().join("db")).expect("rm");
        let msg = damaged_message(dir.path());
        assert!(msg.contains("is missing"), "{msg}");
        assert!(
            !dir.path().join("db").exists(),
            "sled recreated the db file"
        );
        let err = recover(dir.path(), StoreLimits::default())
            .err()
            .expect("nothing to salvage");
        assert!(err.to_string().contains("nothing to salvage"), "{err}");
    }

    #[test]
    fn garbage_in_the_middle_is_a_clear_error_not_a_panic() {
        let dir = tempfile::tempdir().expect("tempdir");
        make_store(dir.path());
        let len = db_len(dir.path());
        overwrite(dir.path(), len * 2 / 10, len * 6 / 10);
        // Depending on where the live pages lie, sled panics while recovering, or opens and
        // fails reading them (the open reads every record to find out): damaged either way.
        let msg = damaged_message(dir.path());
        assert!(msg.contains("sled") || msg.contains("read"), "{msg}");
        // Salvage opens some of it, or says clearly that nothing opens.
        match recover(dir.path(), StoreLimits::default()) {
            Ok(r) => {
                let report = walk(&r.store, &mut |_| Ok(())).expect("walk");
                assert!(r.how != Recovery::AsIs || !report.problems().is_empty());
            }
            Err(e) => assert!(matches!(e, StoreError::Damaged { .. }), "{e}"),
        }
    }

    #[test]
    fn records_that_do_not_decode_are_skipped_and_counted() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SledStore::open(dir.path(), StoreLimits::default()).expect("open");
        store.apply(&batch(0, 10)).expect("apply");
        let (k, _) = store.endpoints.first().expect("read").expect("one");
        store.endpoints.insert(k, &b"not json"[..]).expect("spoil");
        store.agents.insert(b"a2", &b"{"[..]).expect("spoil");
        store
            .meta
            .insert(META_ENDPOINTS.as_bytes(), &b"xx"[..])
            .expect("spoil");
        assert!(store.export_jsonl(&mut Vec::new()).is_err());
        let mut out = Vec::new();
        let report = export_jsonl(&store, &mut out).expect("walk");
        assert_eq!(report.trees["endpoints"].undecodable, 1);
        assert_eq!(report.trees["agents"].undecodable, 1);
        assert_eq!(report.trees["meta"].undecodable, 1);
        let problems = report.problems().join("\n");
        assert!(
            problems.contains("tree endpoints: 1 undecodable"),
            "{problems}"
        );
        assert!(
            problems.contains("stored endpoint count is missing"),
            "{problems}"
        );
        let text = String::from_utf8_lossy(&out);
        assert_eq!(text.matches("{\"endpoint\":").count(), 9);
        assert_eq!(text.matches("{\"agent\":").count(), 1);
    }
}
