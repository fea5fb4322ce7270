//! Capture bytes in shareable blocks: the read buffer of a [`super::FileSource`] is a
//! reference-counted [`Block`], so a dispatcher can hand the frames it read to worker threads
//! by reference (one counted handle per batch of frames) instead of copying them.
//!
//! [`SharedReader`] is pcap-parser's streaming reader (`LegacyPcapReader`, `PcapNGReader`:
//! same `PcapReaderIterator` contract, same parse functions, same end-of-input and
//! buffer-too-small answers) over such a block. Where pcap-parser would shift unconsumed bytes
//! to the front of its buffer, this reader does so in place only while nobody else holds the
//! block; otherwise the unconsumed tail (at most one partial record) moves to a fresh block
//! taken from a [`Pool`], and the old block is freed, back to the pool, when its last holder
//! lets go. Memory is bounded by the holders: the pool keeps at most [`POOL_BLOCKS`] spare
//! blocks.

use pcap_parser::nom;
use pcap_parser::pcap::{
    parse_pcap_frame, parse_pcap_frame_be, parse_pcap_frame_modified, parse_pcap_header,
    LegacyPcapBlock, PcapHeader,
};
use pcap_parser::pcapng::{
    parse_block_be, parse_block_le, parse_sectionheaderblock, Block as NgBlock,
};
use pcap_parser::traits::PcapReaderIterator;
use pcap_parser::{PcapBlockOwned, PcapError};
use std::io::Read;
use std::sync::{Arc, Mutex};

/// Spare blocks a pool keeps for reuse.
pub const POOL_BLOCKS: usize = 16;

/// Spare buffers of one size, shared by a reader and the holders of its blocks.
#[derive(Debug)]
pub struct Pool {
    size: usize,
    spare: Mutex<Vec<Vec<u8>>>,
}

impl Pool {
    pub fn new(size: usize) -> Arc<Pool> {
        Arc::new(Pool {
            size,
            spare: Mutex::new(Vec::new()),
        })
    }

    /// A block of `len` bytes (zero-filled when newly allocated; reused ones keep old bytes,
    /// which are overwritten before they are read).
    fn take(self: &Arc<Self>, len: usize) -> Block {
        let reused = if len == self.size {
            self.spare.lock().ok().and_then(|mut s| s.pop())
        } else {
            None
        };
        Block {
            data: reused.unwrap_or_else(|| vec![0; len]),
            pool: Some(Arc::clone(self)),
        }
    }
}

/// A buffer of capture bytes; returned to its pool when dropped.
#[derive(Debug)]
pub struct Block {
    data: Vec<u8>,
    pool: Option<Arc<Pool>>,
}

impl Block {
    pub fn bytes(&self) -> &[u8] {
        &self.data
    }
}

impl Drop for Block {
    fn drop(&mut self) {
        if let Some(pool) = self.pool.take() {
            if self.data.len() == pool.size {
                if let Ok(mut spare) = pool.spare.lock() {
                    if spare.len() < POOL_BLOCKS {
                        spare.push(std::mem::take(&mut self.data));
                    }
                }
            }
        }
    }
}

/// A block shared between the reader and the batches that reference its frames.
pub type SharedBlock = Arc<Block>;

type LegacyParse =
    for<'a> fn(&'a [u8]) -> nom::IResult<&'a [u8], LegacyPcapBlock<'a>, PcapError<&'a [u8]>>;

#[derive(Clone, Copy)]
enum Kind {
    Legacy { parse: LegacyParse },
    Ng { big_endian: bool },
}

/// pcap-parser's reader contract over shareable blocks; see the module docs.
pub struct SharedReader<R: Read> {
    block: SharedBlock,
    /// Unconsumed bytes are `block[start..end]`.
    start: usize,
    end: usize,
    reader: R,
    consumed: usize,
    exhausted: bool,
    kind: Kind,
    legacy_header: Option<PcapHeader>,
    pool: Arc<Pool>,
    /// Changes whenever the reader moves to another block.
    serial: u64,
}

impl<R: Read> SharedReader<R> {
    fn start(capacity: usize, mut reader: R) -> Result<(Self, usize), PcapError<&'static [u8]>> {
        let pool = Pool::new(capacity);
        let mut block = pool.take(capacity);
        let filled = reader.read(&mut block.data).or(Err(PcapError::ReadError))?;
        let me = SharedReader {
            block: Arc::new(block),
            start: 0,
            end: filled.min(capacity),
            reader,
            consumed: 0,
            exhausted: false,
            kind: Kind::Ng { big_endian: false },
            legacy_header: None,
            pool,
            serial: 0,
        };
        Ok((me, filled))
    }

    /// A legacy pcap reader (the file header is parsed now and returned by the first `next`).
    pub fn legacy(capacity: usize, reader: R) -> Result<Self, PcapError<&'static [u8]>> {
        let (mut me, _) = Self::start(capacity, reader)?;
        let header = match parse_pcap_header(me.data()) {
            Ok((_, h)) => h,
            Err(nom::Err::Error(e)) | Err(nom::Err::Failure(e)) => return Err(e.to_owned_vec()),
            Err(nom::Err::Incomplete(nom::Needed::Size(n))) => {
                return Err(PcapError::Incomplete(n.into()))
            }
            Err(nom::Err::Incomplete(nom::Needed::Unknown)) => {
                return Err(PcapError::Incomplete(0))
            }
        };
        let parse: LegacyParse = if header.is_modified_format() {
            parse_pcap_frame_modified
        } else if header.is_bigendian() {
            parse_pcap_frame_be
        } else {
            parse_pcap_frame
        };
        me.kind = Kind::Legacy { parse };
        me.legacy_header = Some(header);
        Ok(me)
    }

    /// A pcapng reader (the first section header block is checked now).
    pub fn ng(capacity: usize, reader: R) -> Result<Self, PcapError<&'static [u8]>> {
        let (me, _) = Self::start(capacity, reader)?;
        match parse_sectionheaderblock(me.data()) {
            Ok(_) => Ok(me),
            Err(nom::Err::Error(e)) | Err(nom::Err::Failure(e)) => Err(e.to_owned_vec()),
            Err(nom::Err::Incomplete(nom::Needed::Size(n))) => Err(PcapError::Incomplete(n.into())),
            Err(nom::Err::Incomplete(nom::Needed::Unknown)) => Err(PcapError::Incomplete(0)),
        }
    }

    /// The block the unconsumed bytes (and the frame returned last) are in, with a serial
    /// that changes whenever the reader moves to another block.
    pub fn block(&self) -> (u64, &SharedBlock) {
        (self.serial, &self.block)
    }

    fn capacity(&self) -> usize {
        self.block.data.len()
    }

    /// Move the unconsumed bytes to the front: in place when the block is ours alone,
    /// otherwise into a fresh block of `capacity` bytes.
    fn shift_into(&mut self, capacity: usize) {
        let (start, end) = (self.start, self.end);
        if capacity == self.capacity() {
            if let Some(b) = Arc::get_mut(&mut self.block) {
                b.data.copy_within(start..end, 0);
                self.start = 0;
                self.end = end - start;
                return;
            }
        }
        let mut fresh = self.pool.take(capacity);
        let tail = self.block.data.get(start..end).unwrap_or_default();
        let n = tail.len().min(capacity);
        if let (Some(dst), Some(src)) = (fresh.data.get_mut(..n), tail.get(..n)) {
            dst.copy_from_slice(src);
        }
        self.block = Arc::new(fresh);
        self.start = 0;
        self.end = n;
        self.serial += 1;
    }
}

fn incomplete<T>(
    e: nom::Err<PcapError<&[u8]>>,
    exhausted: bool,
    available: usize,
    capacity: usize,
) -> Result<T, PcapError<&[u8]>> {
    match e {
        nom::Err::Error(e) | nom::Err::Failure(e) => Err(e),
        nom::Err::Incomplete(_) if exhausted => Err(PcapError::UnexpectedEof),
        nom::Err::Incomplete(nom::Needed::Size(n)) => {
            if available + usize::from(n) >= capacity {
                Err(PcapError::BufferTooSmall)
            } else {
                Err(PcapError::Incomplete(n.into()))
            }
        }
        nom::Err::Incomplete(nom::Needed::Unknown) => Err(PcapError::Incomplete(0)),
    }
}

impl<R: Read> PcapReaderIterator for SharedReader<R> {
    fn next(&mut self) -> Result<(usize, PcapBlockOwned<'_>), PcapError<&'_ [u8]>> {
        if self.consumed == 0 {
            if let Some(h) = &self.legacy_header {
                return Ok((h.size(), PcapBlockOwned::from(h.clone())));
            }
        }
        if self.start == self.end && self.start == 0 && self.exhausted {
            return Err(PcapError::Eof);
        }
        let capacity = self.capacity();
        let exhausted = self.exhausted;
        let data = self
            .block
            .data
            .get(self.start..self.end)
            .unwrap_or_default();
        let available = data.len();
        match self.kind {
            Kind::Legacy { parse } => match parse(data) {
                Ok((rem, b)) => Ok((available - rem.len(), PcapBlockOwned::from(b))),
                Err(e) => incomplete(e, exhausted, available, capacity),
            },
            Kind::Ng { big_endian } => {
                let parse = if big_endian {
                    parse_block_be
                } else {
                    parse_block_le
                };
                match parse(data) {
                    Ok((rem, b)) => {
                        if let NgBlock::SectionHeader(ref shb) = b {
                            self.kind = Kind::Ng {
                                big_endian: shb.big_endian(),
                            };
                        }
                        Ok((available - rem.len(), PcapBlockOwned::from(b)))
                    }
                    Err(e) => incomplete(e, exhausted, available, capacity),
                }
            }
        }
    }

    fn consume(&mut self, offset: usize) {
        self.consumed += offset;
        self.start = (self.start + offset).min(self.end);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    fn consume_noshift(&mut self, offset: usize) {
        self.consumed += offset;
        self.start = (self.start + offset).min(self.end);
    }

    fn consumed(&self) -> usize {
        self.consumed
    }

    fn refill(&mut self) -> Result<(), PcapError<&[u8]>> {
        self.shift_into(self.capacity());
        let end = self.end;
        let Some(block) = Arc::get_mut(&mut self.block) else {
            // Only reachable if someone cloned the block after the shift: never.
            return Err(PcapError::ReadError);
        };
        let space = block.data.get_mut(end..).unwrap_or_default();
        if space.is_empty() {
            return Ok(());
        }
        let n = self.reader.read(space).or(Err(PcapError::ReadError))?;
        self.exhausted = n == 0;
        self.end = (end + n).min(self.capacity());
        Ok(())
    }

    fn position(&self) -> usize {
        self.start
    }

    fn grow(&mut self, new_size: usize) -> bool {
        if new_size <= self.capacity() {
            return false;
        }
        self.shift_into(new_size);
        true
    }

    fn data(&self) -> &[u8] {
        self.block
            .data
            .get(self.start..self.end)
            .unwrap_or_default()
    }

    fn reader_exhausted(&self) -> bool {
        self.exhausted
    }
}
