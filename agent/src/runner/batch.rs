//! What the dispatcher hands a worker: decoded packets in batches, their bytes by reference.
//!
//! A [`Batch`] holds one counted handle on the source block its packets' payloads lie in (a
//! capture file is read into shared blocks, see `source::block`), plus a small side buffer for
//! the few payloads that are not in it (reassembled IP datagrams, frames from sources without
//! shared blocks). A packet is a [`Desc`]: its decoded headers and where its payload is. The
//! worker turns it back into a [`Packet`] borrowing the batch: nothing is decoded twice and
//! no frame is copied.

use crate::decode::{Packet, TcpSegment, Transport};
use crate::flow::SeqNumber;
use crate::pipeline::PipelineStats;
use crate::source::block::SharedBlock;
use analyzer::time::Timestamp;
use std::net::IpAddr;

/// Where a payload is: in the batch's block or in its side buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Block,
    Side,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Tcp {
        src_port: u16,
        dst_port: u16,
        seq: u32,
        ack: u32,
        /// SYN, ACK, FIN, RST as bits 0..4.
        flags: u8,
        missing_tail: u32,
    },
    Udp {
        src_port: u16,
        dst_port: u16,
    },
    Other,
}

/// One decoded packet of a batch.
#[derive(Debug, Clone, Copy)]
pub struct Desc {
    ts: Timestamp,
    src: IpAddr,
    dst: IpAddr,
    kind: Kind,
    place: Place,
    start: u32,
    len: u32,
}

const SYN: u8 = 1;
const ACK: u8 = 2;
const FIN: u8 = 4;
const RST: u8 = 8;

/// Decoded packets for one worker.
#[derive(Debug, Default)]
pub struct Batch {
    block: Option<SharedBlock>,
    side: Vec<u8>,
    packets: Vec<Desc>,
    /// Counters the dispatcher accumulated (frames read, decode outcomes) since its last
    /// report, carried to the worker that reports them.
    pub counters: Option<Box<PipelineStats>>,
}

impl Batch {
    /// A batch carrying only counters.
    pub fn counters_only(counters: Box<PipelineStats>) -> Batch {
        Batch {
            counters: Some(counters),
            ..Batch::default()
        }
    }

    pub fn len(&self) -> usize {
        self.packets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.packets.is_empty() && self.counters.is_none()
    }

    /// Add a decoded packet. Its payload is referenced in `block` when it lies there, else
    /// copied into the side buffer.
    pub fn push(&mut self, packet: &Packet<'_>, block: Option<&SharedBlock>) {
        let (kind, payload) = match packet.transport {
            Transport::Tcp(t) => {
                let flags = (u8::from(t.syn) * SYN)
                    | (u8::from(t.ack_flag) * ACK)
                    | (u8::from(t.fin) * FIN)
                    | (u8::from(t.rst) * RST);
                (
                    Kind::Tcp {
                        src_port: t.src_port,
                        dst_port: t.dst_port,
                        seq: t.seq.0,
                        ack: t.ack.0,
                        flags,
                        missing_tail: t.missing_tail,
                    },
                    t.payload,
                )
            }
            // The flow table reads TCP payloads only; other packets only move packet time,
            // except a UDP datagram carrying HTTP, which it counts (its payload is kept).
            Transport::Udp {
                src_port,
                dst_port,
                payload,
            } => (
                Kind::Udp { src_port, dst_port },
                if crate::http::looks_like_http_datagram(payload) {
                    payload
                } else {
                    &[][..]
                },
            ),
            Transport::Other => (Kind::Other, &[][..]),
        };
        let in_block = block.and_then(|b| offset_in(b.bytes(), payload));
        let (place, start) = match in_block {
            Some(start) => {
                if self.block.is_none() {
                    self.block = block.cloned();
                }
                (Place::Block, start)
            }
            None => {
                let start = self.side.len();
                self.side.extend_from_slice(payload);
                (Place::Side, start)
            }
        };
        self.packets.push(Desc {
            ts: packet.ts,
            src: packet.src,
            dst: packet.dst,
            kind,
            place,
            start: u32::try_from(start).unwrap_or(u32::MAX),
            len: u32::try_from(payload.len()).unwrap_or(0),
        });
    }

    /// The packets, rebuilt to borrow this batch.
    pub fn packets(&self) -> impl Iterator<Item = Packet<'_>> + '_ {
        self.packets.iter().map(move |d| {
            let bytes = match d.place {
                Place::Block => self.block.as_ref().map_or(&[][..], |b| b.bytes()),
                Place::Side => &self.side,
            };
            let (start, len) = (d.start as usize, d.len as usize);
            let payload = bytes.get(start..start + len).unwrap_or_default();
            let transport = match d.kind {
                Kind::Tcp {
                    src_port,
                    dst_port,
                    seq,
                    ack,
                    flags,
                    missing_tail,
                } => Transport::Tcp(TcpSegment {
                    src_port,
                    dst_port,
                    seq: SeqNumber(seq),
                    ack: SeqNumber(ack),
                    syn: flags & SYN != 0,
                    ack_flag: flags & ACK != 0,
                    fin: flags & FIN != 0,
                    rst: flags & RST != 0,
                    payload,
                    missing_tail,
                }),
                Kind::Udp { src_port, dst_port } => Transport::Udp {
                    src_port,
                    dst_port,
                    payload,
                },
                Kind::Other => Transport::Other,
            };
            Packet {
                ts: d.ts,
                src: d.src,
                dst: d.dst,
                transport,
            }
        })
    }
}

/// Offset of `inner` within `outer`, when `inner` lies inside it (pointer comparison only; no
/// memory is read).
fn offset_in(outer: &[u8], inner: &[u8]) -> Option<usize> {
    let start = (inner.as_ptr() as usize).checked_sub(outer.as_ptr() as usize)?;
    (start.checked_add(inner.len())? <= outer.len()).then_some(start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_offsets_only_inside_the_block() {
        let outer = [0u8; 16];
        assert_eq!(offset_in(&outer, &outer[4..8]), Some(4));
        assert_eq!(offset_in(&outer, &outer[16..]), Some(16));
        assert_eq!(
            offset_in(&outer[..8], &outer[6..10]),
            None,
            "runs past the end"
        );
    }
}
