//! Frame sources: where captured frames come from (capture files, a live interface, memory in
//! tests).
//!
//! A [`FrameSource`] is a lending iterator: each [`Frame`] borrows the source's own buffer and is
//! valid until the next call, so reading a capture copies no packet bytes. This module is the I/O
//! edge of the agent; it knows nothing about IP, TCP or HTTP (see `decode` and `flow`).
//!
//! It is not a capture-file writer, and it does not reorder or deduplicate frames: frames come
//! out in the order the capture recorded them.

use analyzer::time::Timestamp;
use std::io;

pub mod afpacket;
pub mod block;
pub mod file;
pub mod live;
pub mod memory;
#[cfg(test)]
pub(crate) mod testutil;

pub use afpacket::{AfPacketConfig, AfPacketSource, AfPacketStats, AfPacketStopHandle, NextFrame};
pub use file::FileSource;
pub use live::{LiveConfig, LiveSource, LiveStats, LiveStopHandle};
pub use memory::{read_all, MemorySource, OwnedFrame};

/// Link-layer type of a frame (pcap LINKTYPE_* values mapped to what we decode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LinkType {
    Ethernet,
    /// Linux cooked capture v1 (LINKTYPE_LINUX_SLL, 113).
    LinuxSll,
    /// Linux cooked capture v2 (LINKTYPE_LINUX_SLL2, 276).
    LinuxSll2,
    /// Raw IP, version from the first nibble (LINKTYPE_RAW 101, DLT_RAW 12/14).
    RawIp,
    Ipv4,
    Ipv6,
    /// BSD loopback, 4-byte host-order family (LINKTYPE_NULL 0).
    Null,
    /// OpenBSD loopback, 4-byte network-order family (LINKTYPE_LOOP 108).
    Loop,
    /// Anything else, with its LINKTYPE number (counted, not decoded).
    Other(u32),
}

impl LinkType {
    pub fn from_linktype(value: u32) -> LinkType {
        match value {
            0 => LinkType::Null,
            1 => LinkType::Ethernet,
            12 | 14 | 101 => LinkType::RawIp,
            108 => LinkType::Loop,
            113 => LinkType::LinuxSll,
            228 => LinkType::Ipv4,
            229 => LinkType::Ipv6,
            276 => LinkType::LinuxSll2,
            other => LinkType::Other(other),
        }
    }

    /// The LINKTYPE number to write into a capture file for this link type.
    pub fn to_linktype(self) -> u32 {
        match self {
            LinkType::Null => 0,
            LinkType::Ethernet => 1,
            LinkType::RawIp => 101,
            LinkType::Loop => 108,
            LinkType::LinuxSll => 113,
            LinkType::Ipv4 => 228,
            LinkType::Ipv6 => 229,
            LinkType::LinuxSll2 => 276,
            LinkType::Other(v) => v,
        }
    }
}

/// One captured frame, borrowing the source's buffer.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    pub ts: Timestamp,
    pub link: LinkType,
    /// Captured bytes (may be shorter than `wire_len` when the snaplen cut it).
    pub data: &'a [u8],
    pub wire_len: u32,
}

/// Where frames come from. Implemented by [`FileSource`], [`LiveSource`] and [`MemorySource`].
pub trait FrameSource {
    /// The next frame, `Ok(None)` at the end of the input (for a live source: once stopped).
    ///
    /// The frame borrows the source and is valid until the next call. After an `Err` the
    /// source is finished and further calls return `Ok(None)`.
    fn next_frame(&mut self) -> Result<Option<Frame<'_>>, SourceError>;

    /// Bytes of input read so far, for progress reporting. For a file this is comparable with
    /// the file's size on disk (compressed bytes for a gzip file); 0 when not meaningful.
    fn bytes_consumed(&self) -> u64;

    /// A short human name for messages: the file path, `-`, the interface, `memory`.
    fn name(&self) -> &str;

    /// [`FrameSource::next_frame`], plus the shared block the frame lies in (with a serial
    /// that changes when the source moves to another block), so a dispatcher can hand frames
    /// to other threads by reference. The block is `None` for sources whose frames are not in
    /// shareable memory (their bytes must be copied to cross threads).
    fn next_shared(&mut self) -> Result<Option<SharedFrame<'_>>, SourceError> {
        Ok(self
            .next_frame()?
            .map(|frame| SharedFrame { frame, block: None }))
    }
}

/// A frame and, when the source reads into shareable blocks, the block it lies in.
#[derive(Debug, Clone, Copy)]
pub struct SharedFrame<'a> {
    pub frame: Frame<'a>,
    pub block: Option<(u64, &'a block::SharedBlock)>,
}

/// A frame source failed: which source, where in it, and why.
///
/// `offset` is a byte offset into the *uncompressed* capture stream (for a `.pcap.gz` it is an
/// offset into the decompressed pcap, as `zcat file | xxd` would show it); for live captures it
/// is 0.
#[derive(Debug, thiserror::Error)]
#[error("{source_name}: {}{kind}", self.position())]
pub struct SourceError {
    pub source_name: String,
    pub offset: u64,
    pub kind: SourceErrorKind,
}

/// Why a frame source failed. Every kind names what was expected.
#[derive(Debug, thiserror::Error)]
pub enum SourceErrorKind {
    /// The file could not be opened (missing, a directory, no permission).
    #[error("cannot open: {0}")]
    Open(io::Error),
    /// Reading the underlying file, pipe or decompressor failed.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
    /// The input starts with bytes that are neither a pcap, a pcapng nor a gzip magic.
    #[error("not a capture file: unknown magic {}", hex4(.magic))]
    NotACapture { magic: [u8; 4] },
    /// The input ended inside a structure (`what`: "file header", "packet record", "block").
    #[error("truncated {what} (needs {needed} more bytes)")]
    Truncated { what: &'static str, needed: u64 },
    /// The bytes are structurally wrong (bad lengths, unknown interface, oversized record).
    #[error("corrupt capture: {0}")]
    Corrupt(String),
    /// A capture format we recognise but do not read (e.g. gzip inside gzip).
    #[error("unsupported format: {0}")]
    UnsupportedFormat(String),
    /// The live capture library (libpcap) reported an error.
    #[error("capture error: {0}")]
    Capture(String),
}

fn hex4(magic: &[u8; 4]) -> String {
    format!(
        "{:02x} {:02x} {:02x} {:02x}",
        magic[0], magic[1], magic[2], magic[3]
    )
}

impl SourceError {
    /// "byte offset N: " where a position means something (not for a file never opened).
    fn position(&self) -> String {
        match self.kind {
            SourceErrorKind::Open(_) => String::new(),
            _ => format!("byte offset {}: ", self.offset),
        }
    }

    pub fn new(source_name: impl Into<String>, offset: u64, kind: SourceErrorKind) -> Self {
        SourceError {
            source_name: source_name.into(),
            offset,
            kind,
        }
    }
}
