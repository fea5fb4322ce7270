//! The JSONL export format of every store: written from the [`Store`] reads alone, read line
//! by line into [`ExportRecord`]s that each backend applies in its own transactions.

use super::merge::Delta;
use super::{enc, AgentState, ExportRecord, Store, StoreError};
use analyzer::wire::InventoryShell;
use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::Path;

/// The whole store as JSON lines: the inventory shell (hosts, timeline), TLS hosts,
/// endpoints, agents, counters, review records, then the review trail. Returns the lines.
pub(crate) fn export(store: &dyn Store, out: &mut dyn Write) -> Result<u64, StoreError> {
    let mut lines = 0;
    let mut put = |r: ExportRecord, out: &mut dyn Write| -> Result<(), StoreError> {
        out.write_all(&enc(&r))?;
        out.write_all(b"\n")?;
        lines += 1;
        Ok(())
    };
    let inv = store.inventory()?;
    let dropped = inv.dropped_observations;
    put(
        ExportRecord::Inventory {
            fields: InventoryShell {
                hosts: inv.hosts,
                dropped_observations: 0,
                timeline: inv.timeline,
            },
        },
        out,
    )?;
    let tls = store.tls()?;
    if !tls.is_empty() {
        put(
            ExportRecord::Tls {
                inventory: Box::new(tls),
            },
            out,
        )?;
    }
    for (key, record) in inv.endpoints {
        put(
            ExportRecord::Endpoint {
                key,
                record: Box::new(record),
            },
            out,
        )?;
    }
    for (id, state) in store.agents()? {
        put(ExportRecord::Agent { id, state }, out)?;
    }
    let mut counters = store.counters()?;
    if dropped > 0 {
        counters.insert("store.dropped_observations".into(), dropped);
    }
    for (name, value) in counters {
        put(ExportRecord::Counter { name, value }, out)?;
    }
    for (id, record) in store.reviews()? {
        put(ExportRecord::Review { id, record }, out)?;
    }
    for event in store.review_events(None)? {
        put(ExportRecord::ReviewEvent { event }, out)?;
    }
    out.flush()?;
    Ok(lines)
}

/// Read JSON lines written by [`export`], handing each record to `apply`. Returns the lines
/// read; a line that is not a record is an error naming it.
pub(crate) fn read(
    input: &mut dyn BufRead,
    apply: &mut dyn FnMut(&ExportRecord) -> Result<(), StoreError>,
) -> Result<u64, StoreError> {
    let mut n = 0u64;
    let mut line = String::new();
    loop {
        line.clear();
        if input.read_line(&mut line)? == 0 {
            break;
        }
        n += 1;
        if line.trim().is_empty() {
            continue;
        }
        let rec: ExportRecord = serde_json::from_str(&line).map_err(|e| StoreError::Import {
            line: n,
            message: e.to_string(),
        })?;
        apply(&rec)?;
    }
    Ok(n)
}

/// The agent update of an imported agent record: the higher marks win, totals are summed.
pub(crate) fn absorb(state: &AgentState) -> impl Fn(Option<AgentState>) -> Option<AgentState> + '_ {
    move |old: Option<AgentState>| {
        let mut s = old.unwrap_or_default();
        s.absorb(state);
        Some(s)
    }
}

impl<'a> Delta<'a> {
    /// What an imported inventory, TLS, endpoint or counter record adds (`counter` holds the
    /// one counter of a counter record). Other records add nothing here.
    pub(crate) fn of_record(
        rec: &'a ExportRecord,
        counter: &'a mut BTreeMap<String, u64>,
    ) -> Delta<'a> {
        let mut delta = Delta::default();
        match rec {
            ExportRecord::Endpoint { key, record } => delta.endpoints.push((key, record)),
            ExportRecord::Inventory { fields } => {
                delta.hosts = Some(&fields.hosts);
                delta.timeline = Some(&fields.timeline);
                delta.dropped = fields.dropped_observations;
            }
            ExportRecord::Tls { inventory } => delta.tls = Some(inventory),
            ExportRecord::Counter { name, value } => {
                if name == "store.dropped_observations" {
                    delta.dropped = *value;
                } else {
                    counter.insert(name.clone(), *value);
                    delta.counters = Some(counter);
                }
            }
            ExportRecord::Agent { .. }
            | ExportRecord::Review { .. }
            | ExportRecord::ReviewEvent { .. }
            | ExportRecord::Contribution { .. } => {}
        }
        delta
    }
}

/// SHA-256 of the file at `path`, hex: the mark of an imported export.
pub(crate) fn file_digest(path: &Path) -> Result<String, StoreError> {
    let file_err = |error| StoreError::File {
        path: path.display().to_string(),
        error,
    };
    let mut f = std::fs::File::open(path).map_err(file_err)?;
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = std::io::Read::read(&mut f, &mut buf).map_err(file_err)?;
        if n == 0 {
            break;
        }
        ctx.update(&buf[..n]);
    }
    Ok(analyzer::hex::encode(ctx.finish().as_ref()))
}
