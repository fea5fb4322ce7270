//! HPACK header block decoding (RFC 7541) for a passive observer.
//!
//! One [`Decoder`] per direction of a connection: it keeps the dynamic table the peer's encoder
//! built, so every header block of that direction must pass through it in order. What makes this
//! an observer's decoder rather than an endpoint's:
//!
//! - Hard bounds that do not depend on what the peers negotiated: the dynamic table is capped at
//!   [`HpackLimits::max_table_size`] (a size update beyond it is an error: we could not follow
//!   the encoder), strings at [`HpackLimits::max_string`], and the fields handed on per block at
//!   [`HpackLimits::max_header_list`] (RFC 7541 section 4.1 sizes). Past the list cap the block
//!   is still decoded, so the dynamic table stays in step, but no more fields are handed on.
//! - An error leaves the table in an unknown state: the decoder is then *desynced* and refuses
//!   every later block (decoding them could only guess). The caller counts that.
//! - A decoder that did not see the connection from its start ([`Decoder::mid_stream`]) does not
//!   know the table. Index *i* of the dynamic table is always the *i*-th newest insertion
//!   (eviction drops the oldest and never renumbers newer ones), so entries inserted since
//!   capture start are certain; a reference beyond them, or to an entry whose name was itself
//!   such a reference, is unknown. That field is not handed on (counted in
//!   [`BlockOutcome::unknown`]); the rest of the block still decodes.
//!
//! Nothing here panics on any input; every failure names the offset in the block.

mod huffman;
mod tables;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;

pub use huffman::HuffmanError;

/// Per RFC 7541 section 4.1: an entry's size is its name and value lengths plus 32.
const ENTRY_OVERHEAD: usize = 32;
/// The table size both ends start with (RFC 7540 section 6.5.2, SETTINGS_HEADER_TABLE_SIZE).
pub const DEFAULT_TABLE_SIZE: usize = 4096;
const STATIC_LEN: usize = tables::STATIC_TABLE.len();

/// Bounds of one decoder. Each one has a counter in [`HpackStats`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HpackLimits {
    /// Largest dynamic table size an encoder may switch to.
    pub max_table_size: usize,
    /// Longest string (name or value) decoded; longer ones are skipped (not handed on).
    pub max_string: usize,
    /// Fields handed on per block, by RFC 7541 size (name + value + 32).
    pub max_header_list: usize,
}

impl Default for HpackLimits {
    fn default() -> Self {
        HpackLimits {
            max_table_size: 64 * 1024,
            max_string: 16 * 1024,
            max_header_list: 64 * 1024,
        }
    }
}

/// Counters of HPACK decoding, summed over decoders.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HpackStats {
    pub blocks: u64,
    pub fields: u64,
    pub huffman_strings: u64,
    pub table_size_updates: u64,
    /// Entries evicted from dynamic tables.
    pub evictions: u64,
    /// Blocks whose fields exceeded `max_header_list` (later fields not handed on).
    pub header_list_capped: u64,
    /// Strings longer than `max_string`, skipped.
    pub strings_too_long: u64,
    /// Blocks that failed (the decoder is desynced afterwards).
    pub errors: u64,
    /// Blocks refused because their decoder was desynced earlier.
    pub blocks_after_desync: u64,
    /// References to dynamic entries a mid-stream decoder never saw.
    pub unknown_dynamic_refs: u64,
}

impl HpackStats {
    pub fn add(&mut self, o: &HpackStats) {
        self.blocks += o.blocks;
        self.fields += o.fields;
        self.huffman_strings += o.huffman_strings;
        self.table_size_updates += o.table_size_updates;
        self.evictions += o.evictions;
        self.header_list_capped += o.header_list_capped;
        self.strings_too_long += o.strings_too_long;
        self.errors += o.errors;
        self.blocks_after_desync += o.blocks_after_desync;
        self.unknown_dynamic_refs += o.unknown_dynamic_refs;
    }
}

/// Why a block did not decode; `offset` is the byte offset in the block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HpackError {
    #[error("hpack: block ends inside a representation at offset {offset}")]
    Truncated { offset: usize },
    #[error("hpack: integer at offset {offset} overflows")]
    IntegerOverflow { offset: usize },
    #[error("hpack: index {index} at offset {offset} is not in the table")]
    BadIndex { offset: usize, index: usize },
    #[error("hpack: Huffman string at offset {offset}: {kind:?}")]
    Huffman { offset: usize, kind: HuffmanError },
    #[error("hpack: table size update to {size} at offset {offset} exceeds the cap")]
    TableSizeBeyondCap { offset: usize, size: usize },
    #[error("hpack: table size update at offset {offset} after a field")]
    LateTableSizeUpdate { offset: usize },
    #[error("hpack: decoder desynced by an earlier block")]
    Desynced,
}

/// What one block yielded beyond its fields.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BlockOutcome {
    /// Fields handed on.
    pub fields: usize,
    /// Some fields were not handed on: list cap reached, strings too long, or unknown.
    pub incomplete: bool,
    /// Fields not handed on because they refer to dynamic entries from before capture start.
    pub unknown: usize,
}

/// A dynamic table entry; `None` parts are unknown (mid-stream: named by an entry from before
/// capture start).
#[derive(Debug)]
struct Entry {
    name: Option<Box<[u8]>>,
    value: Option<Box<[u8]>>,
    /// RFC size as far as known (unknown parts count as empty).
    size: usize,
}

/// A string as read: its bytes in the scratch buffer, or skipped for length.
#[derive(Debug, Clone, Copy)]
enum Str {
    At {
        start: usize,
        end: usize,
    },
    /// Longer than `max_string`: its RFC size is known, its bytes are not.
    Skipped {
        len: usize,
    },
    /// From a table entry this decoder never saw (mid-stream only).
    Unknown,
}

/// The decoding state of one direction; see the module docs.
#[derive(Debug)]
pub struct Decoder {
    limits: HpackLimits,
    /// Newest first: dynamic index 62 is `table[0]`.
    table: VecDeque<Entry>,
    size: usize,
    max_size: usize,
    /// Set by an error: later blocks are refused.
    desynced: bool,
    /// The table's history is unknown (picked up mid-connection): `table` holds only the
    /// entries inserted since capture start, which are the newest, so an index within them is
    /// certain and any index beyond them names an entry never seen.
    mid_stream: bool,
    /// Decoded names and values of the field at hand.
    scratch: Vec<u8>,
    pub stats: HpackStats,
}

impl Decoder {
    pub fn new(limits: HpackLimits) -> Decoder {
        Decoder {
            limits,
            table: VecDeque::new(),
            size: 0,
            max_size: DEFAULT_TABLE_SIZE,
            desynced: false,
            mid_stream: false,
            scratch: Vec::new(),
            stats: HpackStats::default(),
        }
    }

    /// A decoder for a connection whose start was not captured: the table's earlier entries
    /// are unknown (see the module docs). The size in force is unknown too: the table is
    /// assumed at the cap; evicting less than the encoder does is harmless, as the encoder
    /// never refers to what it evicted.
    pub fn mid_stream(limits: HpackLimits) -> Decoder {
        let mut d = Decoder::new(limits);
        d.mid_stream = true;
        d.max_size = d.limits.max_table_size;
        d
    }

    pub fn is_desynced(&self) -> bool {
        self.desynced
    }

    /// Bytes the dynamic table holds, by RFC size.
    pub fn table_size(&self) -> usize {
        self.size
    }

    /// Decode one complete header block, handing each field to `field(name, value)` in order.
    pub fn decode(
        &mut self,
        block: &[u8],
        field: &mut dyn FnMut(&[u8], &[u8]),
    ) -> Result<BlockOutcome, HpackError> {
        if self.desynced {
            self.stats.blocks_after_desync += 1;
            return Err(HpackError::Desynced);
        }
        self.stats.blocks += 1;
        match self.decode_block(block, field) {
            Ok(o) => Ok(o),
            Err(e) => {
                self.stats.errors += 1;
                self.desynced = true;
                Err(e)
            }
        }
    }

    fn decode_block(
        &mut self,
        block: &[u8],
        field: &mut dyn FnMut(&[u8], &[u8]),
    ) -> Result<BlockOutcome, HpackError> {
        let mut pos = 0;
        let mut out = BlockOutcome::default();
        let mut list_size = 0usize;
        let mut seen_field = false;
        while let Some(&b) = block.get(pos) {
            let at = pos;
            if b & 0xe0 == 0x20 {
                // Section 6.3: dynamic table size update, only before the first field.
                let size = read_int(block, &mut pos, 5)?;
                if seen_field {
                    return Err(HpackError::LateTableSizeUpdate { offset: at });
                }
                if size > self.limits.max_table_size {
                    return Err(HpackError::TableSizeBeyondCap { offset: at, size });
                }
                self.stats.table_size_updates += 1;
                self.max_size = size;
                self.evict_to(size);
                continue;
            }
            seen_field = true;
            self.scratch.clear();
            let (name, value, index) = if b & 0x80 != 0 {
                // Section 6.1: indexed header field.
                let idx = read_int(block, &mut pos, 7)?;
                let (n, v) = self.lookup(idx, at)?;
                (n, v, false)
            } else {
                // Section 6.2: literal; 01 = incremental indexing (6-bit index), 0000 = without
                // indexing and 0001 = never indexed (4-bit index).
                let (prefix, index) = if b & 0xc0 == 0x40 {
                    (6, true)
                } else {
                    (4, false)
                };
                let idx = read_int(block, &mut pos, prefix)?;
                let name = if idx == 0 {
                    self.read_str(block, &mut pos)?
                } else {
                    let (n, _) = self.lookup(idx, at)?;
                    n
                };
                let value = self.read_str(block, &mut pos)?;
                (name, value, index)
            };
            let size = str_len(name) + str_len(value) + ENTRY_OVERHEAD;
            list_size = list_size.saturating_add(size);
            let whole = matches!((name, value), (Str::At { .. }, Str::At { .. }));
            if matches!(name, Str::Unknown) || matches!(value, Str::Unknown) {
                self.stats.unknown_dynamic_refs += 1;
                out.unknown += 1;
                out.incomplete = true;
            } else if !whole {
                out.incomplete = true;
            } else if list_size > self.limits.max_header_list {
                if !out.incomplete {
                    self.stats.header_list_capped += 1;
                }
                out.incomplete = true;
            } else {
                field(self.slice(name), self.slice(value));
                out.fields += 1;
                self.stats.fields += 1;
            }
            if index {
                self.insert(name, value);
            }
        }
        Ok(out)
    }

    fn slice(&self, s: Str) -> &[u8] {
        match s {
            Str::At { start, end } => self.scratch.get(start..end).unwrap_or_default(),
            Str::Skipped { .. } | Str::Unknown => &[],
        }
    }

    fn owned(&self, s: Str) -> Option<Box<[u8]>> {
        match s {
            Str::At { .. } => Some(self.slice(s).into()),
            Str::Skipped { .. } | Str::Unknown => None,
        }
    }

    /// Copy a table entry's name and value into scratch.
    fn lookup(&mut self, index: usize, offset: usize) -> Result<(Str, Str), HpackError> {
        let (name, value): (Option<&[u8]>, Option<&[u8]>) = match index {
            0 => return Err(HpackError::BadIndex { offset, index }),
            i if i <= STATIC_LEN => {
                let (n, v) = tables::STATIC_TABLE[i - 1];
                (Some(n), Some(v))
            }
            i => match self.table.get(i - STATIC_LEN - 1) {
                Some(e) => (e.name.as_deref(), e.value.as_deref()),
                None if self.mid_stream => (None, None),
                None => return Err(HpackError::BadIndex { offset, index }),
            },
        };
        let copy = |part: Option<&[u8]>, scratch: &mut Vec<u8>| match part {
            Some(p) => {
                let start = scratch.len();
                scratch.extend_from_slice(p);
                Str::At {
                    start,
                    end: scratch.len(),
                }
            }
            None => Str::Unknown,
        };
        let n = copy(name, &mut self.scratch);
        let v = copy(value, &mut self.scratch);
        Ok((n, v))
    }

    /// Section 5.2: a string literal, into scratch.
    fn read_str(&mut self, block: &[u8], pos: &mut usize) -> Result<Str, HpackError> {
        let at = *pos;
        let huffman = block.get(at).is_some_and(|b| b & 0x80 != 0);
        let len = read_int(block, pos, 7)?;
        let end = pos
            .checked_add(len)
            .filter(|&e| e <= block.len())
            .ok_or(HpackError::Truncated { offset: at })?;
        let raw = block.get(*pos..end).unwrap_or_default();
        *pos = end;
        if len > self.limits.max_string {
            self.stats.strings_too_long += 1;
            // A Huffman string decodes to at most 8/5 of its length; its exact size is unknown
            // but it is above the cap, which is all an entry size check needs.
            return Ok(Str::Skipped { len });
        }
        let start = self.scratch.len();
        if huffman {
            self.stats.huffman_strings += 1;
            match huffman::decode(raw, &mut self.scratch, self.limits.max_string) {
                Ok(()) => {}
                Err(HuffmanError::TooLong) => {
                    self.stats.strings_too_long += 1;
                    self.scratch.truncate(start);
                    return Ok(Str::Skipped {
                        len: self.limits.max_string + 1,
                    });
                }
                Err(kind) => return Err(HpackError::Huffman { offset: at, kind }),
            }
        } else {
            self.scratch.extend_from_slice(raw);
        }
        Ok(Str::At {
            start,
            end: self.scratch.len(),
        })
    }

    /// Section 4.4: add an entry, evicting from the end; an entry larger than the table
    /// empties it and is not added.
    fn insert(&mut self, name: Str, value: Str) {
        let size = str_len(name) + str_len(value) + ENTRY_OVERHEAD;
        if size > self.max_size {
            self.evict_to(0);
            return;
        }
        self.evict_to(self.max_size - size);
        let entry = Entry {
            name: self.owned(name),
            value: self.owned(value),
            size,
        };
        self.size += size;
        self.table.push_front(entry);
    }

    fn evict_to(&mut self, target: usize) {
        while self.size > target {
            match self.table.pop_back() {
                Some(e) => {
                    self.size -= e.size;
                    self.stats.evictions += 1;
                }
                None => {
                    self.size = 0;
                    break;
                }
            }
        }
    }
}

fn str_len(s: Str) -> usize {
    match s {
        Str::At { start, end } => end - start,
        Str::Skipped { len } => len,
        Str::Unknown => 0,
    }
}

/// Section 5.1: an integer with an N-bit prefix. Values beyond 2^28 are rejected: no sane
/// index, length or table size is that large, and the shift stays in range.
fn read_int(block: &[u8], pos: &mut usize, prefix: u8) -> Result<usize, HpackError> {
    let at = *pos;
    let first = *block.get(at).ok_or(HpackError::Truncated { offset: at })?;
    let max_prefix = (1usize << prefix) - 1;
    let mut value = usize::from(first) & max_prefix;
    *pos += 1;
    if value < max_prefix {
        return Ok(value);
    }
    let mut shift = 0u32;
    loop {
        let b = *block
            .get(*pos)
            .ok_or(HpackError::Truncated { offset: at })?;
        *pos += 1;
        value += usize::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(value);
        }
        shift += 7;
        if shift > 21 {
            return Err(HpackError::IntegerOverflow { offset: at });
        }
    }
}
