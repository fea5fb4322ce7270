//! Capture files: legacy pcap (all four magics), pcapng, either of them gzip-compressed.
//!
//! [`FileSource`] sniffs the first bytes, then drives pcap-parser's streaming readers over a
//! buffer of 1 MiB (grown for oversized records up to [`MAX_RECORD_BUFFER`]). Frames borrow that
//! buffer: the bytes a frame used are consumed at the start of the *next* call, which is what
//! lets [`FrameSource::next_frame`] lend them without copying.
//!
//! Errors keep their place: all good frames before a truncated or corrupt record are returned
//! first, then one `Err` naming the byte offset of the bad record in the (uncompressed) stream.
//! Hostile or damaged files never panic.
//!
//! This module is not a general pcapng toolkit: it reads interfaces (link type, `if_tsresol`,
//! `if_tsoffset`, snaplen), Enhanced and Simple Packet Blocks, and skips everything else (name
//! resolution, statistics, decryption secrets, custom blocks).

use super::block::SharedReader;
use super::{Frame, FrameSource, LinkType, SharedFrame, SourceError, SourceErrorKind};
use analyzer::time::Timestamp;
use flate2::read::MultiGzDecoder;
use pcap_parser::traits::PcapReaderIterator;
use pcap_parser::{Block, PcapBlockOwned, PcapError};
use std::fs::File;
use std::io::{self, Cursor, Read};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Initial size of the record buffer. Large enough that refills are rare, small enough to keep
/// one per capture worker without thinking about it.
pub const INITIAL_BUFFER: usize = 1 << 20;

/// Largest record buffer we grow to. A record (or pcapng block) that needs more is reported as
/// corrupt: real frames are at most 256 KiB (the largest snaplen in use), so a bigger claim is
/// almost always a damaged length field, and following it would let a file make us allocate
/// without bound.
pub const MAX_RECORD_BUFFER: usize = 16 << 20;

/// Most interfaces one pcapng section may declare: each costs a table entry, so a hostile file
/// could otherwise grow the table with IDBs.
pub const MAX_INTERFACES: usize = 65_536;

/// What the first four bytes say the input is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Magic {
    Gzip,
    Pcap,
    PcapNg,
    Unknown([u8; 4]),
}

fn classify_magic(m: [u8; 4]) -> Magic {
    match m {
        [0x1f, 0x8b, _, _] => Magic::Gzip,
        // usec and nsec, little- and big-endian, plus the "modified" (Kuznetzov) format that
        // pcap-parser also reads.
        [0xd4, 0xc3, 0xb2, 0xa1]
        | [0xa1, 0xb2, 0xc3, 0xd4]
        | [0x4d, 0x3c, 0xb2, 0xa1]
        | [0xa1, 0xb2, 0x3c, 0x4d]
        | [0x34, 0xcd, 0xb2, 0xa1] => Magic::Pcap,
        [0x0a, 0x0d, 0x0d, 0x0a] => Magic::PcapNg,
        other => Magic::Unknown(other),
    }
}

/// State shared between the reader chain (owned by pcap-parser) and the source.
#[derive(Default)]
struct SharedIo {
    /// Bytes read from the underlying input (compressed bytes for gzip).
    bytes_in: AtomicU64,
    /// pcap-parser turns every `io::Error` into `PcapError::ReadError`; the real error is
    /// parked here so the source can report it.
    error: Mutex<Option<io::Error>>,
}

impl SharedIo {
    fn park(&self, e: io::Error) -> io::Error {
        let kind = e.kind();
        if let Ok(mut slot) = self.error.lock() {
            *slot = Some(e);
        }
        io::Error::from(kind)
    }

    fn take(&self) -> Option<io::Error> {
        self.error.lock().ok().and_then(|mut slot| slot.take())
    }
}

/// Counts bytes read from the raw input, for `bytes_consumed`.
struct CountingReader {
    inner: Box<dyn Read + Send>,
    shared: Arc<SharedIo>,
}

impl Read for CountingReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.shared.bytes_in.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Replays the sniffed prefix, then fills each `read` completely (until the buffer is full or
/// the input ends).
///
/// Why: pcap-parser reads once in its constructor and treats a short read as the whole header,
/// and treats a 0-byte read as end of input. Pipes and decompressors return short reads, so
/// without this a valid `.pcap.gz` could fail to open.
struct FillReader {
    prefix: Cursor<Vec<u8>>,
    inner: Box<dyn Read + Send>,
    shared: Arc<SharedIo>,
    /// An error that happened after some bytes were already read; reported on the next call.
    deferred: Option<io::Error>,
}

impl Read for FillReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(e) = self.deferred.take() {
            return Err(self.shared.park(e));
        }
        let mut n = self.prefix.read(buf)?;
        while n < buf.len() {
            let Some(rest) = buf.get_mut(n..) else { break };
            match self.inner.read(rest) {
                Ok(0) => break,
                // min(): a misbehaving reader must not make us claim more than the buffer.
                Ok(k) => n += k.min(rest.len()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if n > 0 => {
                    self.deferred = Some(e);
                    break;
                }
                Err(e) => return Err(self.shared.park(e)),
            }
        }
        Ok(n)
    }
}

/// Read up to 4 bytes (fewer only at end of input).
fn sniff(reader: &mut dyn Read) -> io::Result<Vec<u8>> {
    let mut prefix = Vec::with_capacity(4);
    let mut limited = reader.take(4);
    limited.read_to_end(&mut prefix)?;
    Ok(prefix)
}

/// One pcapng interface (from an Interface Description Block).
#[derive(Debug, Clone, Copy)]
struct NgInterface {
    link: LinkType,
    /// Timestamp units per second (`if_tsresol`, power of 10 or of 2).
    units_per_sec: u64,
    /// Seconds added to every timestamp (`if_tsoffset`).
    offset_secs: i64,
    /// 0 = unlimited.
    snaplen: u32,
}

/// Format state learnt from headers while reading.
#[derive(Debug)]
enum Format {
    Legacy {
        link: LinkType,
        nanos: bool,
        big_endian: bool,
        /// Record header size: 16, or 24 for the "modified" format.
        record_header: usize,
    },
    Ng {
        big_endian: bool,
        /// Interfaces of the current section (a new SHB starts a new table).
        interfaces: Vec<NgInterface>,
        /// Last EPB timestamp: Simple Packet Blocks carry none, so they reuse it.
        last_ts: Timestamp,
    },
}

/// Where a frame's bytes are in the reader buffer, and what it is.
#[derive(Debug, Clone, Copy)]
struct FrameAt {
    /// Bytes of the record/block, to consume before the next one.
    record_len: usize,
    /// Offset of the frame bytes within `reader.data()`.
    start: usize,
    caplen: usize,
    wire_len: u32,
    ts: Timestamp,
    link: LinkType,
}

/// What one `reader.next()` produced, with no borrow of the reader left in it.
enum Step {
    Skip(usize),
    Frame(FrameAt),
    Eof,
    Refill,
    Grow,
    Truncated,
    ReadError,
    Fail(SourceErrorKind),
}

/// A pcap / pcapng / gzip capture file (or any `Read` carrying one).
pub struct FileSource {
    name: String,
    reader: SharedReader<FillReader>,
    format: Format,
    shared: Arc<SharedIo>,
    /// Record buffer capacity (grows up to `MAX_RECORD_BUFFER`).
    capacity: usize,
    /// Bytes of the frame returned last; consumed at the start of the next call so that the
    /// returned frame could borrow the buffer.
    pending_consume: usize,
    /// Set after the end of input or an error; further calls return `Ok(None)`.
    done: bool,
}

impl std::fmt::Debug for FileSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileSource")
            .field("name", &self.name)
            .field("format", &self.format)
            .field("capacity", &self.capacity)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl FileSource {
    /// Open a capture file (pcap, pcapng, optionally gzip-compressed).
    pub fn open(path: &Path) -> Result<FileSource, SourceError> {
        let name = path.display().to_string();
        match File::open(path) {
            Ok(file) => FileSource::from_reader(name, Box::new(file)),
            Err(e) => Err(SourceError::new(name, 0, SourceErrorKind::Open(e))),
        }
    }

    /// Read a capture from any reader (stdin, a socket, a test buffer). `name` is used in
    /// error messages.
    pub fn from_reader(
        name: impl Into<String>,
        reader: Box<dyn Read + Send>,
    ) -> Result<FileSource, SourceError> {
        let name = name.into();
        let fail = |kind| SourceError::new(name.clone(), 0, kind);
        let shared = Arc::new(SharedIo::default());
        let mut input: Box<dyn Read + Send> = Box::new(CountingReader {
            inner: reader,
            shared: Arc::clone(&shared),
        });
        let mut prefix = sniff(&mut input).map_err(|e| fail(SourceErrorKind::Io(e)))?;
        let mut magic = magic_of(&prefix);
        if magic == Some(Magic::Gzip) {
            let compressed = Cursor::new(prefix).chain(input);
            input = Box::new(MultiGzDecoder::new(compressed));
            prefix = sniff(&mut input).map_err(|e| fail(SourceErrorKind::Io(e)))?;
            magic = magic_of(&prefix);
            if magic == Some(Magic::Gzip) {
                return Err(fail(SourceErrorKind::UnsupportedFormat(
                    "gzip inside gzip".to_string(),
                )));
            }
        }
        let magic = match magic {
            Some(m) => m,
            None => {
                return Err(fail(SourceErrorKind::Truncated {
                    what: "file header",
                    needed: 4 - prefix.len() as u64,
                }))
            }
        };
        let fill = FillReader {
            prefix: Cursor::new(prefix),
            inner: input,
            shared: Arc::clone(&shared),
            deferred: None,
        };
        let open_err = |e: PcapError<&'static [u8]>, what: &'static str| match e {
            PcapError::Incomplete(n) => SourceErrorKind::Truncated {
                what,
                needed: n.max(1) as u64,
            },
            PcapError::ReadError => SourceErrorKind::Io(
                shared
                    .take()
                    .unwrap_or_else(|| io::Error::other("read error")),
            ),
            other => SourceErrorKind::Corrupt(format!("bad {what}: {}", describe(&other))),
        };
        let (reader, format) = match magic {
            Magic::Pcap => {
                let r = SharedReader::legacy(INITIAL_BUFFER, fill)
                    .map_err(|e| fail(open_err(e, "file header")))?;
                let format = Format::Legacy {
                    link: LinkType::Other(u32::MAX),
                    nanos: false,
                    big_endian: false,
                    record_header: 16,
                };
                (r, format)
            }
            Magic::PcapNg => {
                let r = SharedReader::ng(INITIAL_BUFFER, fill)
                    .map_err(|e| fail(open_err(e, "section header block")))?;
                let format = Format::Ng {
                    big_endian: false,
                    interfaces: Vec::new(),
                    last_ts: Timestamp(0),
                };
                (r, format)
            }
            Magic::Unknown(magic) => return Err(fail(SourceErrorKind::NotACapture { magic })),
            Magic::Gzip => {
                return Err(fail(SourceErrorKind::UnsupportedFormat(
                    "gzip inside gzip".to_string(),
                )))
            }
        };
        Ok(FileSource {
            name,
            reader,
            format,
            shared,
            capacity: INITIAL_BUFFER,
            pending_consume: 0,
            done: false,
        })
    }

    /// Offset of the next unconsumed byte of the uncompressed stream.
    fn offset(&self) -> u64 {
        self.reader.consumed() as u64
    }

    fn fail(&mut self, kind: SourceErrorKind) -> SourceError {
        self.done = true;
        SourceError::new(self.name.clone(), self.offset(), kind)
    }

    /// How many more bytes the record at the start of the buffer needs (from its own length
    /// field), for a truncation message. At least 1.
    fn needed(&self) -> u64 {
        let data = self.reader.data();
        let have = data.len() as u64;
        let (header, len_at, big_endian, fixed) = match &self.format {
            Format::Legacy {
                record_header,
                big_endian,
                ..
            } => (*record_header as u64, 8, *big_endian, false),
            // A pcapng block is at least 12 bytes; its total length is at offset 4.
            Format::Ng { big_endian, .. } => (12, 4, *big_endian, true),
        };
        let want = match read_u32(data, len_at, big_endian) {
            // Legacy: the length field is the caplen after the record header.
            Some(len) if !fixed => header + u64::from(len),
            Some(len) => u64::from(len).max(header),
            None => header,
        };
        want.saturating_sub(have).max(1)
    }

    fn grow(&mut self) -> Result<(), SourceError> {
        if self.capacity >= MAX_RECORD_BUFFER {
            let msg = format!(
                "record larger than the {} MiB record limit",
                MAX_RECORD_BUFFER >> 20
            );
            return Err(self.fail(SourceErrorKind::Corrupt(msg)));
        }
        self.capacity = (self.capacity * 2).min(MAX_RECORD_BUFFER);
        self.reader.grow(self.capacity);
        self.refill()
    }

    fn refill(&mut self) -> Result<(), SourceError> {
        if self.reader.refill().is_err() {
            let e = self
                .shared
                .take()
                .unwrap_or_else(|| io::Error::other("read error"));
            return Err(self.fail(SourceErrorKind::Io(e)));
        }
        Ok(())
    }
}

fn magic_of(prefix: &[u8]) -> Option<Magic> {
    let m: [u8; 4] = prefix.try_into().ok()?;
    Some(classify_magic(m))
}

fn read_u32(data: &[u8], at: usize, big_endian: bool) -> Option<u32> {
    let b: [u8; 4] = data.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(if big_endian {
        u32::from_be_bytes(b)
    } else {
        u32::from_le_bytes(b)
    })
}

/// A parse error without dumping the buffer (pcap-parser's Display prints the input bytes).
fn describe<I>(e: &PcapError<I>) -> String {
    match e {
        PcapError::Eof => "end of input".to_string(),
        PcapError::BufferTooSmall => "record larger than the buffer".to_string(),
        PcapError::UnexpectedEof => "unexpected end of input".to_string(),
        PcapError::ReadError => "read error".to_string(),
        PcapError::Incomplete(n) => format!("incomplete ({n} more bytes needed)"),
        PcapError::HeaderNotRecognized => "header not recognized".to_string(),
        PcapError::NomError(_, kind) | PcapError::OwnedNomError(_, kind) => {
            format!("parse error ({kind:?})")
        }
    }
}

/// `if_tsresol` to units per second: bit 7 clear = 10^n, set = 2^n (pcapng 4.2). Our own,
/// because pcap-parser 0.17's `ts_resolution` rejects every power-of-2 value (it range-checks
/// the byte with the flag bit still set).
fn ts_units_per_sec(tsresol: u8) -> Option<u64> {
    let n = u32::from(tsresol & 0x7f);
    if tsresol & 0x80 == 0 {
        10u64.checked_pow(n)
    } else {
        1u64.checked_shl(n)
    }
}

/// pcapng timestamp (units since the epoch at `units_per_sec`) to microseconds, rounded down.
fn ng_timestamp(high: u32, low: u32, units_per_sec: u64, offset_secs: i64) -> Timestamp {
    let raw = (u128::from(high) << 32) | u128::from(low);
    let units = u128::from(units_per_sec.max(1));
    let secs = i128::try_from(raw / units).unwrap_or(i128::MAX);
    let micros = i128::try_from((raw % units) * 1_000_000 / units).unwrap_or(0);
    let total = secs
        .saturating_add(i128::from(offset_secs))
        .saturating_mul(1_000_000)
        .saturating_add(micros);
    Timestamp(i64::try_from(total).unwrap_or(if total < 0 { i64::MIN } else { i64::MAX }))
}

/// Position of `inner` within the buffer starting at `base` (both from the same buffer).
fn offset_in(base: usize, inner: &[u8]) -> Option<usize> {
    (inner.as_ptr() as usize).checked_sub(base)
}

/// Interpret one block. Takes the format state, not `&mut FileSource`, because the block
/// still borrows the reader.
fn on_block(
    format: &mut Format,
    record_len: usize,
    block: &PcapBlockOwned<'_>,
    base: usize,
) -> Step {
    let corrupt = |msg: String| Step::Fail(SourceErrorKind::Corrupt(msg));
    match (format, block) {
        (
            Format::Legacy {
                link,
                nanos,
                big_endian,
                record_header,
            },
            PcapBlockOwned::LegacyHeader(h),
        ) => {
            // The upper bits of the link-type field carry FCS information; the type is the
            // low 16 bits.
            *link = LinkType::from_linktype((h.network.0 as u32) & 0xffff);
            *nanos = h.is_nanosecond_precision();
            *big_endian = h.is_bigendian();
            *record_header = if h.is_modified_format() { 24 } else { 16 };
            Step::Skip(record_len)
        }
        (Format::Legacy { link, nanos, .. }, PcapBlockOwned::Legacy(b)) => {
            let frac = if *nanos {
                i64::from(b.ts_usec / 1000)
            } else {
                i64::from(b.ts_usec)
            };
            let ts = Timestamp(i64::from(b.ts_sec) * Timestamp::MICROS_PER_SEC + frac);
            match offset_in(base, b.data) {
                Some(start) => Step::Frame(FrameAt {
                    record_len,
                    start,
                    caplen: b.data.len(),
                    wire_len: b.origlen,
                    ts,
                    link: *link,
                }),
                None => corrupt("record outside the read buffer".to_string()),
            }
        }
        (
            Format::Ng {
                big_endian,
                interfaces,
                ..
            },
            PcapBlockOwned::NG(Block::SectionHeader(shb)),
        ) => {
            interfaces.clear();
            *big_endian = shb.big_endian();
            Step::Skip(record_len)
        }
        (Format::Ng { interfaces, .. }, PcapBlockOwned::NG(Block::InterfaceDescription(idb))) => {
            if interfaces.len() >= MAX_INTERFACES {
                return corrupt(format!(
                    "more than {MAX_INTERFACES} interfaces in one section"
                ));
            }
            let Some(units_per_sec) = ts_units_per_sec(idb.if_tsresol) else {
                return corrupt(format!(
                    "interface {} has an invalid if_tsresol {:#04x}",
                    interfaces.len(),
                    idb.if_tsresol
                ));
            };
            interfaces.push(NgInterface {
                link: LinkType::from_linktype((idb.linktype.0 as u32) & 0xffff),
                units_per_sec,
                offset_secs: idb.if_tsoffset,
                snaplen: idb.snaplen,
            });
            Step::Skip(record_len)
        }
        (
            Format::Ng {
                interfaces,
                last_ts,
                ..
            },
            PcapBlockOwned::NG(Block::EnhancedPacket(epb)),
        ) => {
            let Some(iface) = interfaces.get(epb.if_id as usize) else {
                return corrupt(format!(
                    "enhanced packet block names interface {} but the section declares {}",
                    epb.if_id,
                    interfaces.len()
                ));
            };
            let Some(data) = epb.data.get(..epb.caplen as usize) else {
                return corrupt(format!(
                    "enhanced packet block caplen {} exceeds its block",
                    epb.caplen
                ));
            };
            let ts = ng_timestamp(
                epb.ts_high,
                epb.ts_low,
                iface.units_per_sec,
                iface.offset_secs,
            );
            *last_ts = ts;
            match offset_in(base, data) {
                Some(start) => Step::Frame(FrameAt {
                    record_len,
                    start,
                    caplen: data.len(),
                    wire_len: epb.origlen,
                    ts,
                    link: iface.link,
                }),
                None => corrupt("block outside the read buffer".to_string()),
            }
        }
        (
            Format::Ng {
                interfaces,
                last_ts,
                ..
            },
            PcapBlockOwned::NG(Block::SimplePacket(spb)),
        ) => {
            // RFC draft (pcapng) 4.4: an SPB belongs to interface 0 and its captured length is
            // min(original length, snaplen); it has no timestamp, so reuse the last one.
            let Some(iface) = interfaces.first() else {
                return corrupt("simple packet block before any interface".to_string());
            };
            let mut caplen = (spb.origlen as usize).min(spb.data.len());
            if iface.snaplen > 0 {
                caplen = caplen.min(iface.snaplen as usize);
            }
            let Some(data) = spb.data.get(..caplen) else {
                return corrupt("simple packet block shorter than its length".to_string());
            };
            match offset_in(base, data) {
                Some(start) => Step::Frame(FrameAt {
                    record_len,
                    start,
                    caplen,
                    wire_len: spb.origlen,
                    ts: *last_ts,
                    link: iface.link,
                }),
                None => corrupt("block outside the read buffer".to_string()),
            }
        }
        (Format::Ng { .. }, PcapBlockOwned::NG(_)) => Step::Skip(record_len),
        _ => corrupt("block of the other capture format".to_string()),
    }
}

impl FileSource {
    /// Read up to the next frame; its bytes are then at `at` in `reader.data()`.
    fn advance(&mut self) -> Result<Option<FrameAt>, SourceError> {
        if self.done {
            return Ok(None);
        }
        if self.pending_consume > 0 {
            self.reader.consume(self.pending_consume);
            self.pending_consume = 0;
        }
        loop {
            // The block's slices point into `reader.data()`; remember its start so a frame can
            // be found again by offset once the parse borrow has ended.
            let base = self.reader.data().as_ptr() as usize;
            let step = match self.reader.next() {
                Ok((len, block)) => on_block(&mut self.format, len, &block, base),
                Err(PcapError::Eof) => Step::Eof,
                Err(PcapError::Incomplete(_)) => Step::Refill,
                Err(PcapError::BufferTooSmall) => Step::Grow,
                Err(PcapError::UnexpectedEof) => Step::Truncated,
                Err(PcapError::ReadError) => Step::ReadError,
                Err(e) => Step::Fail(SourceErrorKind::Corrupt(describe(&e))),
            };
            match step {
                Step::Skip(len) => self.reader.consume(len),
                Step::Frame(at) => {
                    let end = at.start.saturating_add(at.caplen);
                    if self.reader.data().get(at.start..end).is_none() {
                        let kind = SourceErrorKind::Corrupt("frame outside the buffer".into());
                        return Err(self.fail(kind));
                    }
                    self.pending_consume = at.record_len;
                    return Ok(Some(at));
                }
                Step::Eof => {
                    self.done = true;
                    return Ok(None);
                }
                Step::Refill => {
                    let before = self.reader.data().len();
                    self.refill()?;
                    // A parser that wants more while the buffer is already full (and the input
                    // not finished) needs a bigger buffer, not another read.
                    if self.reader.data().len() == before && !self.reader.reader_exhausted() {
                        self.grow()?;
                    }
                }
                Step::Grow => self.grow()?,
                Step::Truncated => {
                    let what = match self.format {
                        Format::Legacy { .. } => "packet record",
                        Format::Ng { .. } => "block",
                    };
                    let needed = self.needed();
                    return Err(self.fail(SourceErrorKind::Truncated { what, needed }));
                }
                Step::ReadError => {
                    let e = self
                        .shared
                        .take()
                        .unwrap_or_else(|| io::Error::other("read error"));
                    return Err(self.fail(SourceErrorKind::Io(e)));
                }
                Step::Fail(kind) => return Err(self.fail(kind)),
            }
        }
    }

    fn frame_at(&self, at: &FrameAt) -> Frame<'_> {
        let end = at.start.saturating_add(at.caplen);
        Frame {
            ts: at.ts,
            link: at.link,
            data: self.reader.data().get(at.start..end).unwrap_or_default(),
            wire_len: at.wire_len,
        }
    }
}

impl FrameSource for FileSource {
    fn next_frame(&mut self) -> Result<Option<Frame<'_>>, SourceError> {
        Ok(self.advance()?.map(|at| self.frame_at(&at)))
    }

    fn next_shared(&mut self) -> Result<Option<SharedFrame<'_>>, SourceError> {
        Ok(self.advance()?.map(|at| SharedFrame {
            frame: self.frame_at(&at),
            block: Some(self.reader.block()),
        }))
    }

    fn bytes_consumed(&self) -> u64 {
        self.shared.bytes_in.load(Ordering::Relaxed)
    }

    fn name(&self) -> &str {
        &self.name
    }
}

#[cfg(test)]
mod tests;
