//! TCP flows: canonical keys, per-direction reassembly, bounded tables, packet-time expiry.
//!
//! The flow table hands each connection's reassembled byte streams to a [`StreamHandler`]
//! (the HTTP layer) as [`StreamEvent`]s, in packet order across both directions.
//!
//! INTERFACE: the types in this file are shared by the capture and HTTP work. The table and
//! reassembler live in submodules owned by the capture work.

use analyzer::time::Timestamp;
use std::net::SocketAddr;

pub mod key;
pub mod reassembly;
pub mod seq;
pub mod table;

pub use key::{FlowKey, FlowTuple, Side};
pub use reassembly::{Delivery, ReasmLimits, ReasmStats, Reassembler, Segment};
pub use seq::SeqNumber;
pub use table::{FlowLimits, FlowStats, FlowTable};

/// Direction of bytes relative to the connection's orientation in [`ConnInfo`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dir {
    /// From `ConnInfo::client` to `ConnInfo::server`.
    ToServer,
    /// From `ConnInfo::server` to `ConnInfo::client`.
    ToClient,
}

impl Dir {
    pub fn reverse(self) -> Dir {
        match self {
            Dir::ToServer => Dir::ToClient,
            Dir::ToClient => Dir::ToServer,
        }
    }
}

/// Who is who on a connection, as well as the flow table can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnInfo {
    pub client: SocketAddr,
    pub server: SocketAddr,
    /// Timestamp of the first packet seen.
    pub started: Timestamp,
    /// True when a SYN or SYN-ACK fixed the orientation; false when guessed (mid-stream
    /// pickup). A handler may then swap roles if the payload says otherwise.
    pub orientation_known: bool,
}

/// Why a connection left the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// Both directions finished (FIN) and all data was delivered.
    Finished,
    /// An RST was seen.
    Reset,
    /// No packet for longer than the idle timeout (packet time).
    Expired,
    /// Evicted to make room when the table was full.
    Evicted,
    /// The capture ended.
    EndOfCapture,
}

/// What the flow table tells a handler, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamEvent<'a> {
    /// In-order bytes in one direction. `ts` is the timestamp of the packet that carried them
    /// (for bytes released from the out-of-order buffer: the packet that filled the hole).
    Data {
        dir: Dir,
        ts: Timestamp,
        bytes: &'a [u8],
    },
    /// `len` bytes in one direction were never captured; the stream continues after them.
    Gap { dir: Dir, ts: Timestamp, len: u64 },
    /// A retransmission carried bytes different from the first copy (the first copy was kept).
    OverlapConflict { dir: Dir, ts: Timestamp },
    /// One direction finished (FIN) and all its data before the FIN was delivered.
    End { dir: Dir, ts: Timestamp },
    /// The connection is leaving the table; no more events follow.
    Close { ts: Timestamp, reason: CloseReason },
}

/// Whether the handler still wants this connection's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interest {
    Continue,
    /// Stop reassembling: the table keeps only the tuple (and counts packets) until close.
    /// `Close` is still delivered.
    Stop,
}

/// The per-connection consumer of reassembled streams (the HTTP layer implements it).
pub trait StreamHandler: Sized {
    /// Shared context for all connections: limits, output queue, counters.
    type Ctx;

    /// A new connection appeared in the table.
    fn open(info: &ConnInfo, ctx: &mut Self::Ctx) -> Self;

    /// Handle one event. After `Close` the handler is dropped.
    fn on_event(&mut self, event: StreamEvent<'_>, ctx: &mut Self::Ctx) -> Interest;
}
