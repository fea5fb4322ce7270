//! Frame sources: where captured frames come from (files, a live interface, memory in tests).
//!
//! INTERFACE (owned by the capture work; bodies to be written there).

use analyzer::time::Timestamp;

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
