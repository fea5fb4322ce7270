//! Link, network and transport decoding of one frame (pure, zero-copy, tolerant of truncation).
//!
//! [`decode`] turns a [`Frame`] into a [`Packet`] whose payload slices borrow the frame. It uses
//! etherparse's lax slicing, so a frame cut by the capture's snaplen still yields the headers and
//! the part of the payload that was captured; how much TCP payload the cut removed is reported
//! as [`TcpSegment::missing_tail`] (from the IP length) so reassembly can record a gap instead of
//! silently losing bytes.
//!
//! Link types: Ethernet, Linux cooked capture v1 and v2, raw IP (v4/v6), BSD Null and OpenBSD
//! Loop, Cisco HDLC. Every frame is counted in [`DecodeStats`], including the ones that are not
//! decoded and why.
//!
//! Mirror encapsulations are peeled here, nested in any order up to [`MAX_ENCAP_DEPTH`] layers:
//! 802.1Q / 802.1ad / 0x9100 VLAN tags, MPLS label stacks (RFC 3032; an Ethernet pseudowire
//! with its control word, RFC 4448), PPPoE sessions (RFC 2516), VXLAN on UDP 4789 (RFC 7348),
//! GRE (RFC 2784/2890: IP in GRE, transparent Ethernet bridging 0x6558) and ERSPAN types I, II
//! and III inside GRE. The packet returned is the innermost one; each layer is counted
//! (`encap_*`, `tunnel_*`) and a broken tunnel header is a `tunnel_errors`.
//!
//! IP fragments (IPv4 MF/offset, RFC 791; IPv6 fragment header, RFC 8200 section 4.5) are
//! reassembled by a [`Decoder`], which owns a bounded [`Defragmenter`] and the buffer of the
//! last completed datagram: unfragmented frames stay zero-copy (the packet borrows the frame),
//! a completed datagram is decoded again from the decoder's buffer (TCP, UDP, tunnels inside).
//! The stateless [`decode`] only counts fragments (`ip_fragments`, as [`Transport::Other`]).
//!
//! This module does not validate checksums (mirror ports and offloading NICs produce wrong
//! ones on good traffic).

use crate::defrag::{DefragLimits, Defragmenter, FragKey, Fragment, Pushed};
use crate::flow::seq::SeqNumber;
use crate::source::{Frame, LinkType};
use analyzer::time::Timestamp;
use etherparse::err::Layer;
use etherparse::{EtherType, LaxNetSlice, LaxSlicedPacket, TransportSlice};
use std::net::IpAddr;

/// One decoded IP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<'a> {
    pub ts: Timestamp,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub transport: Transport<'a>,
}

/// The transport layer of a [`Packet`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport<'a> {
    Tcp(TcpSegment<'a>),
    Udp {
        src_port: u16,
        dst_port: u16,
        payload: &'a [u8],
    },
    /// Any other protocol, and IP fragments when decoded without a [`Decoder`].
    Other,
}

/// A TCP segment, with the payload as captured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpSegment<'a> {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: SeqNumber,
    /// Acknowledgment number; meaningful only when `ack_flag` is set.
    pub ack: SeqNumber,
    pub syn: bool,
    pub ack_flag: bool,
    pub fin: bool,
    pub rst: bool,
    /// Captured payload bytes.
    pub payload: &'a [u8],
    /// Payload bytes the snaplen cut off after `payload`, from the IP length. They were on the
    /// wire but are not in the capture.
    pub missing_tail: u32,
}

/// Counters for every frame given to [`decode`]: what was decoded and why the rest was not.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DecodeStats {
    /// Frames seen.
    pub frames: u64,
    /// Frames that produced a [`Packet`].
    pub decoded: u64,
    pub tcp: u64,
    pub udp: u64,
    /// IP packets with another transport (ICMP, ...), and fragments [`decode`] did not
    /// reassemble.
    pub other_transport: u64,
    /// Frames that are not IP (ARP, LLDP, unknown EtherType or address family).
    pub non_ip: u64,
    /// Frames of a link type we do not decode.
    pub unsupported_link: u64,
    /// Link header missing or cut (Ethernet, VLAN, SLL, Null/Loop header).
    pub link_errors: u64,
    /// IP header missing, cut or invalid.
    pub ip_errors: u64,
    /// IP packets whose length field claims more bytes than the frame had on the wire (not a
    /// snaplen cut: a malformed packet a receiver drops, so we drop it too).
    pub ip_length_exceeds_frame: u64,
    /// IP fragments (IPv4 MF/offset, IPv6 fragment header). A [`Decoder`] hands them to its
    /// defragmenter (`decode_defrag_*` counters); [`decode`] passes them on as `Other`.
    pub ip_fragments: u64,
    /// TCP header missing, cut or invalid.
    pub tcp_errors: u64,
    /// UDP header missing or cut.
    pub udp_errors: u64,
    /// Decoded packets whose IP payload the snaplen cut (see `TcpSegment::missing_tail`).
    pub snaplen_truncated: u64,
    /// VLAN tags (802.1Q, 802.1ad, 0x9100) peeled.
    pub encap_vlan: u64,
    /// MPLS label stacks peeled.
    pub encap_mpls: u64,
    /// PPPoE session headers peeled.
    pub encap_pppoe: u64,
    /// VXLAN, GRE and ERSPAN (inside GRE) headers peeled.
    pub tunnel_vxlan: u64,
    pub tunnel_gre: u64,
    pub tunnel_erspan: u64,
    /// Encapsulation headers that were cut or malformed (frame dropped).
    pub tunnel_errors: u64,
    /// Frames nested deeper than [`MAX_ENCAP_DEPTH`] (dropped).
    pub encap_depth_exceeded: u64,
}

impl DecodeStats {
    /// Every counter with a stable name, for metrics and the scan summary.
    pub fn counters(&self) -> Vec<(&'static str, u64)> {
        vec![
            ("decode_frames", self.frames),
            ("decode_decoded", self.decoded),
            ("decode_tcp", self.tcp),
            ("decode_udp", self.udp),
            ("decode_other_transport", self.other_transport),
            ("decode_non_ip", self.non_ip),
            ("decode_unsupported_link", self.unsupported_link),
            ("decode_link_errors", self.link_errors),
            ("decode_ip_errors", self.ip_errors),
            (
                "decode_ip_length_exceeds_frame",
                self.ip_length_exceeds_frame,
            ),
            ("decode_ip_fragments", self.ip_fragments),
            ("decode_tcp_errors", self.tcp_errors),
            ("decode_udp_errors", self.udp_errors),
            ("decode_snaplen_truncated", self.snaplen_truncated),
            ("decode_encap_vlan", self.encap_vlan),
            ("decode_encap_mpls", self.encap_mpls),
            ("decode_encap_pppoe", self.encap_pppoe),
            ("decode_tunnel_vxlan", self.tunnel_vxlan),
            ("decode_tunnel_gre", self.tunnel_gre),
            ("decode_tunnel_erspan", self.tunnel_erspan),
            ("decode_tunnel_errors", self.tunnel_errors),
            ("decode_encap_depth_exceeded", self.encap_depth_exceeded),
        ]
    }

    /// Add another worker's counters.
    pub fn merge(&mut self, other: &DecodeStats) {
        self.frames += other.frames;
        self.decoded += other.decoded;
        self.tcp += other.tcp;
        self.udp += other.udp;
        self.other_transport += other.other_transport;
        self.non_ip += other.non_ip;
        self.unsupported_link += other.unsupported_link;
        self.link_errors += other.link_errors;
        self.ip_errors += other.ip_errors;
        self.ip_length_exceeds_frame += other.ip_length_exceeds_frame;
        self.ip_fragments += other.ip_fragments;
        self.tcp_errors += other.tcp_errors;
        self.udp_errors += other.udp_errors;
        self.snaplen_truncated += other.snaplen_truncated;
        self.encap_vlan += other.encap_vlan;
        self.encap_mpls += other.encap_mpls;
        self.encap_pppoe += other.encap_pppoe;
        self.tunnel_vxlan += other.tunnel_vxlan;
        self.tunnel_gre += other.tunnel_gre;
        self.tunnel_erspan += other.tunnel_erspan;
        self.tunnel_errors += other.tunnel_errors;
        self.encap_depth_exceeded += other.encap_depth_exceeded;
    }
}

/// BSD address families for IPv6 in a Null/Loop header: NetBSD/OpenBSD, FreeBSD, Darwin.
const AF_INET: u32 = 2;
const AF_INET6: [u32; 3] = [24, 28, 30];

fn be16(data: &[u8], at: usize) -> Option<u16> {
    let b: [u8; 2] = data.get(at..at + 2)?.try_into().ok()?;
    Some(u16::from_be_bytes(b))
}

/// Where the network layer starts, per link type.
enum Network<'a> {
    /// An IP packet (version from its first nibble).
    Ip(&'a [u8]),
    /// A payload with an EtherType (VLAN tags are handled by etherparse).
    Ether(EtherType, &'a [u8]),
    /// A full Ethernet II frame.
    Ethernet(&'a [u8]),
}

/// Decode one frame without state. Returns `None` (and counts why) when there is no IP packet
/// to use. Fragments are counted and returned as [`Transport::Other`]; use a [`Decoder`] to
/// reassemble them.
pub fn decode<'a>(frame: &Frame<'a>, stats: &mut DecodeStats) -> Option<Packet<'a>> {
    decode_with(frame, stats, None)
}

/// [`decode`], handing IP fragments to `frags` (when given) instead of decoding them.
fn decode_with<'a>(
    frame: &Frame<'a>,
    stats: &mut DecodeStats,
    frags: Option<&mut Option<Fragment<'a>>>,
) -> Option<Packet<'a>> {
    stats.frames += 1;
    let data = frame.data;
    let network = match frame.link {
        LinkType::Ethernet => Network::Ethernet(data),
        LinkType::RawIp | LinkType::Ipv4 | LinkType::Ipv6 => Network::Ip(data),
        // Linux cooked v1: 16-byte header, protocol (EtherType) at offset 14.
        LinkType::LinuxSll => match (be16(data, 14), data.get(16..)) {
            (Some(proto), Some(rest)) => Network::Ether(EtherType(proto), rest),
            _ => return count(stats, |s| &mut s.link_errors),
        },
        // Linux cooked v2: 20-byte header, protocol (EtherType) at offset 0.
        LinkType::LinuxSll2 => match (be16(data, 0), data.get(20..)) {
            (Some(proto), Some(rest)) => Network::Ether(EtherType(proto), rest),
            _ => return count(stats, |s| &mut s.link_errors),
        },
        LinkType::Null | LinkType::Loop => {
            let Some(family) = data.get(..4).and_then(|b| <[u8; 4]>::try_from(b).ok()) else {
                return count(stats, |s| &mut s.link_errors);
            };
            // Null is in the capturing host's byte order, which the file does not record:
            // accept either. Loop is always network order.
            let be = u32::from_be_bytes(family);
            let le = u32::from_le_bytes(family);
            let is_ip = |f: u32| f == AF_INET || AF_INET6.contains(&f);
            let ok = if frame.link == LinkType::Loop {
                is_ip(be)
            } else {
                is_ip(be) || is_ip(le)
            };
            if !ok {
                return count(stats, |s| &mut s.non_ip);
            }
            Network::Ip(data.get(4..).unwrap_or_default())
        }
        // Cisco HDLC (LINKTYPE_C_HDLC 104): address, control, then an EtherType.
        LinkType::Other(LINKTYPE_C_HDLC) => match (be16(data, 2), data.get(4..)) {
            (Some(proto), Some(rest)) => Network::Ether(EtherType(proto), rest),
            _ => return count(stats, |s| &mut s.link_errors),
        },
        LinkType::Other(_) => return count(stats, |s| &mut s.unsupported_link),
    };
    decode_network(network, frame, stats, 0, frags)
}

/// A decoder with state: IP fragments are reassembled (bounded, see [`crate::defrag`]).
#[derive(Debug, Default)]
pub struct Decoder {
    pub stats: DecodeStats,
    pub defrag: Defragmenter,
    /// The last reassembled datagram (IP header rebuilt), which the returned packet borrows.
    datagram: Vec<u8>,
}

impl Decoder {
    pub fn new(limits: DefragLimits) -> Self {
        Decoder {
            stats: DecodeStats::default(),
            defrag: Defragmenter::new(limits),
            datagram: Vec::new(),
        }
    }

    /// Decode one frame. An unfragmented packet borrows the frame; a fragment is held until
    /// its datagram completes, and the packet of the completed datagram borrows the decoder.
    pub fn decode<'s, 'f: 's>(&'s mut self, frame: &Frame<'f>) -> Option<Packet<'s>> {
        let mut frag: Option<Fragment<'f>> = None;
        let packet = decode_with(frame, &mut self.stats, Some(&mut frag));
        if packet.is_some() {
            return packet;
        }
        let frag = frag?;
        let Pushed::Complete(payload) = self.defrag.push(&frag, frame.ts) else {
            return None;
        };
        if !rebuild(&frag.key, &payload, &mut self.datagram) {
            self.defrag.stats.too_large += 1;
            return None;
        }
        let inner = Frame {
            ts: frame.ts,
            link: LinkType::RawIp,
            data: &self.datagram,
            wire_len: u32::try_from(self.datagram.len()).unwrap_or(u32::MAX),
        };
        // Fragments inside the datagram (a fragmented packet in a fragmented tunnel) are only
        // counted: one level of reassembly per frame keeps the work per frame bounded.
        decode_network(Network::Ip(inner.data), &inner, &mut self.stats, 0, None)
    }

    /// Every counter: the decode counters, then the defragmenter's.
    pub fn counters(&self) -> Vec<(&'static str, u64)> {
        let mut out = self.stats.counters();
        out.extend(self.defrag.stats.counters());
        out
    }
}

/// An IP header without fragmentation for `payload` of the datagram `key` (into `out`).
/// False when the datagram is too long for the header's length field.
fn rebuild(key: &FragKey, payload: &[u8], out: &mut Vec<u8>) -> bool {
    out.clear();
    match (key.src, key.dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let Ok(total) = u16::try_from(payload.len() + 20) else {
                return false;
            };
            let id = u16::try_from(key.id & 0xffff).unwrap_or(0);
            out.extend_from_slice(&[0x45, 0]);
            out.extend_from_slice(&total.to_be_bytes());
            out.extend_from_slice(&id.to_be_bytes());
            out.extend_from_slice(&[0, 0, 64, key.proto, 0, 0]);
            out.extend_from_slice(&s.octets());
            out.extend_from_slice(&d.octets());
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let Ok(len) = u16::try_from(payload.len()) else {
                return false;
            };
            out.extend_from_slice(&[0x60, 0, 0, 0]);
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(&[key.proto, 64]);
            out.extend_from_slice(&s.octets());
            out.extend_from_slice(&d.octets());
        }
        _ => return false,
    }
    out.extend_from_slice(payload);
    true
}

/// If `d` is an IP fragment, what the defragmenter needs. `None` for whole datagrams and for
/// headers too broken to tell (the ordinary path then judges and counts them).
fn fragment_of(d: &[u8]) -> Option<Fragment<'_>> {
    let version = d.first()? >> 4;
    if version == 4 {
        // RFC 791 section 3.1: IHL, total length, identification, flags (MF = 0x2000) and
        // the 13-bit offset in 8-byte units.
        let ihl = usize::from(d.first()? & 0x0f) * 4;
        let total = usize::from(be16(d, 2)?);
        let flags = be16(d, 6)?;
        let more = flags & 0x2000 != 0;
        let offset = usize::from(flags & 0x1fff) * 8;
        if (!more && offset == 0) || ihl < 20 || total < ihl {
            return None;
        }
        let src: [u8; 4] = d.get(12..16)?.try_into().ok()?;
        let dst: [u8; 4] = d.get(16..20)?.try_into().ok()?;
        let payload = d.get(ihl..total.min(d.len()))?;
        return Some(Fragment {
            key: FragKey {
                src: IpAddr::from(src),
                dst: IpAddr::from(dst),
                id: u32::from(be16(d, 4)?),
                proto: *d.get(9)?,
            },
            offset,
            more,
            payload,
            truncated: total > d.len(),
        });
    }
    if version != 6 {
        return None;
    }
    // RFC 8200 section 4: walk hop-by-hop (0), routing (43) and destination options (60)
    // headers to the fragment header (44); anything else means no fragment header.
    let end = 40 + usize::from(be16(d, 4)?);
    let mut next = *d.get(6)?;
    let mut at = 40usize;
    for _ in 0..8 {
        match next {
            0 | 43 | 60 => {
                next = *d.get(at)?;
                at += (usize::from(*d.get(at + 1)?) + 1) * 8;
            }
            44 => {
                let off_m = be16(d, at + 2)?;
                let more = off_m & 1 != 0;
                let offset = usize::from(off_m >> 3) * 8;
                if !more && offset == 0 {
                    // An atomic fragment (RFC 6946): a whole datagram.
                    return None;
                }
                let id: [u8; 4] = d.get(at + 4..at + 8)?.try_into().ok()?;
                let src: [u8; 16] = d.get(8..24)?.try_into().ok()?;
                let dst: [u8; 16] = d.get(24..40)?.try_into().ok()?;
                let start = at + 8;
                if end < start {
                    return None;
                }
                return Some(Fragment {
                    key: FragKey {
                        src: IpAddr::from(src),
                        dst: IpAddr::from(dst),
                        id: u32::from_be_bytes(id),
                        proto: *d.get(at)?,
                    },
                    offset,
                    more,
                    payload: d.get(start..end.min(d.len()))?,
                    truncated: end > d.len(),
                });
            }
            _ => return None,
        }
    }
    None
}

/// Cisco HDLC link type number.
const LINKTYPE_C_HDLC: u32 = 104;

/// Most decoding steps (each link header, tag, label stack, IP header and tunnel counts one)
/// followed for one frame. A VXLAN-in-ERSPAN mirror over a tagged link takes about ten; the
/// cap keeps crafted frames from walking us through thousands of tags.
pub const MAX_ENCAP_DEPTH: usize = 16;

const ETH_IPV4: u16 = 0x0800;
const ETH_IPV6: u16 = 0x86dd;
const ETH_VLAN: [u16; 3] = [0x8100, 0x88a8, 0x9100];
const ETH_MPLS: [u16; 2] = [0x8847, 0x8848];
const ETH_PPPOE_SESSION: u16 = 0x8864;
const ETH_TEB: u16 = 0x6558;
const ETH_ERSPAN_1_2: u16 = 0x88be;
const ETH_ERSPAN_3: u16 = 0x22eb;
const VXLAN_PORT: u16 = 4789;

/// Peel link-level encapsulations until an IP packet (or a payload etherparse can classify).
fn decode_network<'a>(
    mut network: Network<'a>,
    frame: &Frame<'a>,
    stats: &mut DecodeStats,
    mut depth: usize,
    mut frags: Option<&mut Option<Fragment<'a>>>,
) -> Option<Packet<'a>> {
    loop {
        depth += 1;
        if depth > MAX_ENCAP_DEPTH {
            return count(stats, |s| &mut s.encap_depth_exceeded);
        }
        network = match network {
            Network::Ethernet(d) => {
                // Destination and source MAC, then the EtherType (IEEE 802.3 clause 3.2).
                let (Some(t), Some(rest)) = (be16(d, 12), d.get(14..)) else {
                    return count(stats, |s| &mut s.link_errors);
                };
                if t < 0x0600 {
                    // An 802.3 length field (LLC frames: STP, CDP...): not IP.
                    return count(stats, |s| &mut s.non_ip);
                }
                Network::Ether(EtherType(t), rest)
            }
            Network::Ether(EtherType(t), d) if ETH_VLAN.contains(&t) => {
                // IEEE 802.1Q tag: TCI, then the next EtherType.
                let (Some(next), Some(rest)) = (be16(d, 2), d.get(4..)) else {
                    return count(stats, |s| &mut s.link_errors);
                };
                stats.encap_vlan += 1;
                Network::Ether(EtherType(next), rest)
            }
            Network::Ether(EtherType(t), d) if ETH_MPLS.contains(&t) => {
                stats.encap_mpls += 1;
                match mpls(d) {
                    Some(n) => n,
                    None => return count(stats, |s| &mut s.tunnel_errors),
                }
            }
            Network::Ether(EtherType(ETH_PPPOE_SESSION), d) => {
                // RFC 2516 section 4: 6-byte PPPoE header, then the PPP protocol (RFC 1661
                // section 2), which may be compressed to one byte (an odd first byte, RFC 1661
                // section 6.5).
                stats.encap_pppoe += 1;
                let (proto, at) = match d.get(6) {
                    Some(&b) if b & 1 == 1 => (Some(u16::from(b)), 7),
                    _ => (be16(d, 6), 8),
                };
                match (proto, d.get(at..)) {
                    (Some(0x0021 | 0x0057), Some(ip)) => Network::Ip(ip),
                    (Some(_), Some(_)) => return count(stats, |s| &mut s.non_ip),
                    _ => return count(stats, |s| &mut s.tunnel_errors),
                }
            }
            Network::Ether(EtherType(ETH_IPV4 | ETH_IPV6), d) => Network::Ip(d),
            Network::Ether(t, d) => {
                let sliced = LaxSlicedPacket::from_ether_type(t, d);
                return from_sliced(frame, sliced, stats, depth, frags);
            }
            Network::Ip(d) => {
                if let Some(slot) = frags.as_deref_mut() {
                    if let Some(f) = fragment_of(d) {
                        stats.ip_fragments += 1;
                        *slot = Some(f);
                        return None;
                    }
                }
                let sliced = match LaxSlicedPacket::from_ip(d) {
                    Ok(s) => s,
                    Err(_) => return count(stats, |s| &mut s.ip_errors),
                };
                return from_sliced(frame, sliced, stats, depth, frags);
            }
        };
    }
}

/// RFC 3032 label stack entries (4 bytes, bottom-of-stack bit in byte 2), then what the
/// payload looks like: IPv4/IPv6 by version nibble, or an Ethernet pseudowire behind the
/// RFC 4448 control word (first nibble 0).
fn mpls(d: &[u8]) -> Option<Network<'_>> {
    let mut off = 0;
    loop {
        let entry = d.get(off..off + 4)?;
        off += 4;
        if entry.get(2)? & 1 == 1 {
            break;
        }
    }
    let rest = d.get(off..)?;
    match rest.first()? >> 4 {
        4 | 6 => Some(Network::Ip(rest)),
        0 => Some(Network::Ethernet(rest.get(4..)?)),
        _ => None,
    }
}

/// What a GRE packet (RFC 2784, with the RFC 2890 key and sequence fields) carries.
fn gre<'a>(d: &'a [u8], stats: &mut DecodeStats) -> Option<Network<'a>> {
    let flags = be16(d, 0)?;
    let proto = be16(d, 2)?;
    if flags & 0x7 != 0 {
        // Version 1 is PPTP's enhanced GRE (PPP inside): not a mirror encapsulation.
        return None;
    }
    let mut off = 4;
    for bit in [0x8000u16, 0x2000, 0x1000] {
        // Checksum (+reserved), key, sequence number: 4 bytes each when flagged.
        if flags & bit != 0 {
            off += 4;
        }
    }
    let payload = d.get(off..)?;
    stats.tunnel_gre += 1;
    Some(match proto {
        ETH_TEB => Network::Ethernet(payload),
        ETH_IPV4 | ETH_IPV6 => Network::Ip(payload),
        ETH_ERSPAN_1_2 => {
            stats.tunnel_erspan += 1;
            // Type II sets the GRE sequence bit and has an 8-byte header; type I has none.
            if flags & 0x1000 != 0 {
                Network::Ethernet(payload.get(8..)?)
            } else {
                Network::Ethernet(payload)
            }
        }
        ETH_ERSPAN_3 => {
            stats.tunnel_erspan += 1;
            // Type III: 12-byte header; the O flag (lowest bit of byte 11) adds an 8-byte
            // platform-specific subheader.
            let o = payload.get(11)? & 1 == 1;
            Network::Ethernet(payload.get(if o { 20 } else { 12 }..)?)
        }
        other => Network::Ether(EtherType(other), payload),
    })
}

fn count<T>(
    stats: &mut DecodeStats,
    field: impl FnOnce(&mut DecodeStats) -> &mut u64,
) -> Option<T> {
    *field(stats) += 1;
    None
}

fn from_sliced<'a>(
    frame: &Frame<'a>,
    sliced: LaxSlicedPacket<'a>,
    stats: &mut DecodeStats,
    depth: usize,
    frags: Option<&mut Option<Fragment<'a>>>,
) -> Option<Packet<'a>> {
    let stop_layer = sliced.stop_err.as_ref().map(|(_, layer)| *layer);
    let (src, dst, ip_payload, expected_len) = match &sliced.net {
        Some(LaxNetSlice::Ipv4(v4)) => {
            let h = v4.header();
            let ext_len = v4.extensions().auth.map_or(0, |a| a.slice().len());
            let expected = usize::from(h.total_len()).saturating_sub(h.slice().len() + ext_len);
            (
                IpAddr::V4(h.source_addr()),
                IpAddr::V4(h.destination_addr()),
                v4.payload(),
                expected,
            )
        }
        Some(LaxNetSlice::Ipv6(v6)) => {
            let h = v6.header();
            let expected =
                usize::from(h.payload_length()).saturating_sub(v6.extensions().slice().len());
            (
                IpAddr::V6(h.source_addr()),
                IpAddr::V6(h.destination_addr()),
                v6.payload(),
                expected,
            )
        }
        Some(LaxNetSlice::Arp(_)) => return count(stats, |s| &mut s.non_ip),
        None => {
            return match stop_layer {
                None | Some(Layer::Arp) => count(stats, |s| &mut s.non_ip),
                Some(
                    Layer::IpHeader
                    | Layer::Ipv4Header
                    | Layer::Ipv4Packet
                    | Layer::Ipv6Header
                    | Layer::Ipv6Packet,
                ) => count(stats, |s| &mut s.ip_errors),
                Some(_) => count(stats, |s| &mut s.link_errors),
            }
        }
    };
    // The IP length says how much payload there should be; the frame holds less when the
    // snaplen cut it. If the frame was NOT cut (captured == wire length) the length field lies:
    // a receiver drops such a packet, so we must not feed its bytes to reassembly either.
    let mut missing_tail = 0u32;
    if ip_payload.incomplete {
        let frame_missing = (frame.wire_len as usize).saturating_sub(frame.data.len());
        if frame_missing == 0 {
            return count(stats, |s| &mut s.ip_length_exceeds_frame);
        }
        let missing = expected_len
            .saturating_sub(ip_payload.payload.len())
            .min(frame_missing);
        missing_tail = u32::try_from(missing).unwrap_or(u32::MAX);
        stats.snaplen_truncated += 1;
    }
    if !ip_payload.fragmented {
        // Tunnels: decode what they carry instead of the outer packet.
        if ip_payload.ip_number == etherparse::IpNumber::GRE {
            return match gre(ip_payload.payload, stats) {
                Some(inner) => decode_network(inner, frame, stats, depth, frags),
                None => count(stats, |s| &mut s.tunnel_errors),
            };
        }
        if let Some(TransportSlice::Udp(udp)) = &sliced.transport {
            let payload = udp.payload();
            // RFC 7348 section 5: 8-byte header whose I flag (0x08) marks a valid VNI.
            if udp.destination_port() == VXLAN_PORT
                && payload.first().is_some_and(|f| f & 0x08 != 0)
            {
                stats.tunnel_vxlan += 1;
                return match payload.get(8..) {
                    Some(inner) => {
                        decode_network(Network::Ethernet(inner), frame, stats, depth, frags)
                    }
                    None => count(stats, |s| &mut s.tunnel_errors),
                };
            }
        }
    }
    let transport = if ip_payload.fragmented {
        stats.ip_fragments += 1;
        stats.other_transport += 1;
        Transport::Other
    } else {
        match &sliced.transport {
            Some(TransportSlice::Tcp(tcp)) => {
                stats.tcp += 1;
                Transport::Tcp(TcpSegment {
                    src_port: tcp.source_port(),
                    dst_port: tcp.destination_port(),
                    seq: SeqNumber(tcp.sequence_number()),
                    ack: SeqNumber(tcp.acknowledgment_number()),
                    syn: tcp.syn(),
                    ack_flag: tcp.ack(),
                    fin: tcp.fin(),
                    rst: tcp.rst(),
                    payload: tcp.payload(),
                    missing_tail,
                })
            }
            Some(TransportSlice::Udp(udp)) => {
                stats.udp += 1;
                Transport::Udp {
                    src_port: udp.source_port(),
                    dst_port: udp.destination_port(),
                    payload: udp.payload(),
                }
            }
            Some(_) => {
                stats.other_transport += 1;
                Transport::Other
            }
            None => match stop_layer {
                Some(Layer::TcpHeader) => return count(stats, |s| &mut s.tcp_errors),
                Some(Layer::UdpHeader | Layer::UdpPayload) => {
                    return count(stats, |s| &mut s.udp_errors)
                }
                // Broken IPv4 auth / IPv6 extension headers: no transport to find.
                Some(_) => return count(stats, |s| &mut s.ip_errors),
                None => {
                    stats.other_transport += 1;
                    Transport::Other
                }
            },
        }
    };
    stats.decoded += 1;
    Some(Packet {
        ts: frame.ts,
        src,
        dst,
        transport,
    })
}

#[cfg(test)]
mod defrag_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::{read_all, FileSource, LinkType};
    use etherparse::{PacketBuilder, VlanId};
    use proptest::prelude::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    const PAYLOAD: &[u8] = b"GET /api/v1/users HTTP/1.1\r\nHost: x\r\n\r\n";

    fn build(
        builder: etherparse::PacketBuilderStep<etherparse::TcpHeader>,
        payload: &[u8],
    ) -> Vec<u8> {
        let mut out = Vec::with_capacity(builder.size(payload.len()));
        builder.write(&mut out, payload).expect("write to Vec");
        out
    }

    /// Raw IPv4 TCP packet: 10.0.0.1:40000 -> 10.0.0.2:80, seq 1000, ack 77, PSH+ACK.
    fn ip4_tcp(payload: &[u8]) -> Vec<u8> {
        build(
            PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
                .tcp(40000, 80, 1000, 1024)
                .ack(77)
                .psh(),
            payload,
        )
    }

    fn frame(link: LinkType, data: &[u8]) -> Frame<'_> {
        Frame {
            ts: Timestamp(42),
            link,
            data,
            wire_len: data.len() as u32,
        }
    }

    fn with_prefix(prefix: &[u8], rest: &[u8]) -> Vec<u8> {
        let mut v = prefix.to_vec();
        v.extend_from_slice(rest);
        v
    }

    fn sll(proto: u16, rest: &[u8]) -> Vec<u8> {
        let mut h = vec![0, 0, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0];
        h.extend_from_slice(&proto.to_be_bytes());
        with_prefix(&h, rest)
    }

    fn sll2(proto: u16, rest: &[u8]) -> Vec<u8> {
        let mut h = proto.to_be_bytes().to_vec();
        h.extend_from_slice(&[0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0]);
        with_prefix(&h, rest)
    }

    fn expect_tcp4(p: &Packet<'_>) -> TcpSegment<'static> {
        assert_eq!(p.src, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(p.dst, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)));
        assert_eq!(p.ts, Timestamp(42));
        match p.transport {
            Transport::Tcp(t) => {
                assert_eq!((t.src_port, t.dst_port), (40000, 80));
                assert_eq!((t.seq, t.ack), (SeqNumber(1000), SeqNumber(77)));
                assert!(t.ack_flag && !t.syn && !t.fin && !t.rst);
                assert_eq!(t.payload, PAYLOAD);
                assert_eq!(t.missing_tail, 0);
                TcpSegment { payload: &[], ..t }
            }
            other => panic!("expected TCP, got {other:?}"),
        }
    }

    /// One input, one closure of asserts (httparse's `req!` style).
    macro_rules! decodes {
        ($name:ident, $link:expr, $bytes:expr, |$p:ident, $s:ident| $body:block) => {
            #[test]
            fn $name() {
                let bytes: Vec<u8> = $bytes;
                let mut $s = DecodeStats::default();
                let $p = decode(&frame($link, &bytes), &mut $s);
                assert_eq!($s.frames, 1);
                $body
            }
        };
    }

    decodes!(
        ethernet_ipv4_tcp,
        LinkType::Ethernet,
        build(
            PacketBuilder::ethernet2([1; 6], [2; 6])
                .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
                .tcp(40000, 80, 1000, 1024)
                .ack(77)
                .psh(),
            PAYLOAD
        ),
        |p, s| {
            expect_tcp4(&p.expect("decodes"));
            assert_eq!((s.decoded, s.tcp), (1, 1));
        }
    );

    decodes!(
        ethernet_vlan,
        LinkType::Ethernet,
        build(
            PacketBuilder::ethernet2([1; 6], [2; 6])
                .single_vlan(VlanId::try_new(42).expect("vlan"))
                .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
                .tcp(40000, 80, 1000, 1024)
                .ack(77)
                .psh(),
            PAYLOAD
        ),
        |p, s| {
            expect_tcp4(&p.expect("decodes"));
            assert_eq!(s.tcp, 1);
        }
    );

    decodes!(
        ethernet_qinq,
        LinkType::Ethernet,
        build(
            PacketBuilder::ethernet2([1; 6], [2; 6])
                .double_vlan(
                    VlanId::try_new(100).expect("vlan"),
                    VlanId::try_new(7).expect("vlan")
                )
                .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
                .tcp(40000, 80, 1000, 1024)
                .ack(77)
                .psh(),
            PAYLOAD
        ),
        |p, s| {
            expect_tcp4(&p.expect("decodes"));
            assert_eq!(s.tcp, 1);
        }
    );

    decodes!(
        ethernet_ipv6_tcp_syn,
        LinkType::Ethernet,
        build(
            PacketBuilder::ethernet2([1; 6], [2; 6])
                .ipv6(
                    Ipv6Addr::LOCALHOST.octets(),
                    [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
                    64
                )
                .tcp(5555, 8080, u32::MAX, 1024)
                .syn(),
            b""
        ),
        |p, s| {
            let p = p.expect("decodes");
            assert_eq!(p.src, IpAddr::V6(Ipv6Addr::LOCALHOST));
            match p.transport {
                Transport::Tcp(t) => {
                    assert!(t.syn && !t.ack_flag);
                    assert_eq!(
                        (t.dst_port, t.seq, t.payload.len()),
                        (8080, SeqNumber(u32::MAX), 0)
                    );
                }
                other => panic!("{other:?}"),
            }
            assert_eq!(s.tcp, 1);
        }
    );

    decodes!(
        linux_sll,
        LinkType::LinuxSll,
        sll(0x0800, &ip4_tcp(PAYLOAD)),
        |p, _s| {
            expect_tcp4(&p.expect("decodes"));
        }
    );

    decodes!(
        linux_sll2,
        LinkType::LinuxSll2,
        sll2(0x0800, &ip4_tcp(PAYLOAD)),
        |p, _s| {
            expect_tcp4(&p.expect("decodes"));
        }
    );

    decodes!(
        linux_sll_arp_is_not_ip,
        LinkType::LinuxSll,
        sll(0x0806, &[0; 28]),
        |p, s| {
            assert!(p.is_none());
            assert_eq!(s.non_ip, 1);
        }
    );

    decodes!(
        linux_sll_short_header,
        LinkType::LinuxSll,
        vec![0; 10],
        |p, s| {
            assert!(p.is_none());
            assert_eq!(s.link_errors, 1);
        }
    );

    decodes!(raw_ipv4, LinkType::RawIp, ip4_tcp(PAYLOAD), |p, _s| {
        expect_tcp4(&p.expect("decodes"));
    });

    decodes!(ipv4_link_type, LinkType::Ipv4, ip4_tcp(PAYLOAD), |p, _s| {
        expect_tcp4(&p.expect("decodes"));
    });

    decodes!(
        null_little_endian_inet,
        LinkType::Null,
        with_prefix(&[2, 0, 0, 0], &ip4_tcp(PAYLOAD)),
        |p, _s| {
            expect_tcp4(&p.expect("decodes"));
        }
    );

    decodes!(
        null_big_endian_inet,
        LinkType::Null,
        with_prefix(&[0, 0, 0, 2], &ip4_tcp(PAYLOAD)),
        |p, _s| {
            expect_tcp4(&p.expect("decodes"));
        }
    );

    decodes!(
        null_darwin_inet6,
        LinkType::Null,
        with_prefix(
            &[30, 0, 0, 0],
            &build(
                PacketBuilder::ipv6([1; 16], [2; 16], 64).tcp(1, 2, 3, 4),
                b"x"
            )
        ),
        |p, s| {
            assert!(matches!(p.expect("decodes").transport, Transport::Tcp(_)));
            assert_eq!(s.tcp, 1);
        }
    );

    decodes!(
        null_unknown_family,
        LinkType::Null,
        with_prefix(&[7, 0, 0, 0], &ip4_tcp(PAYLOAD)),
        |p, s| {
            assert!(p.is_none());
            assert_eq!(s.non_ip, 1);
        }
    );

    decodes!(
        loop_is_network_order_only,
        LinkType::Loop,
        with_prefix(&[0, 0, 0, 2], &ip4_tcp(PAYLOAD)),
        |p, _s| {
            expect_tcp4(&p.expect("decodes"));
        }
    );

    decodes!(
        loop_rejects_host_order,
        LinkType::Loop,
        with_prefix(&[2, 0, 0, 0], &ip4_tcp(PAYLOAD)),
        |p, s| {
            assert!(p.is_none());
            assert_eq!(s.non_ip, 1);
        }
    );

    decodes!(
        unsupported_link,
        LinkType::Other(147),
        ip4_tcp(PAYLOAD),
        |p, s| {
            assert!(p.is_none());
            assert_eq!(s.unsupported_link, 1);
        }
    );

    decodes!(
        udp,
        LinkType::RawIp,
        {
            let b = PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64).udp(53, 5353);
            let mut v = Vec::new();
            b.write(&mut v, b"dns").expect("write");
            v
        },
        |p, s| {
            assert_eq!(
                p.expect("decodes").transport,
                Transport::Udp {
                    src_port: 53,
                    dst_port: 5353,
                    payload: b"dns"
                }
            );
            assert_eq!(s.udp, 1);
        }
    );

    decodes!(
        ipv4_fragment_is_counted_not_decoded,
        LinkType::RawIp,
        {
            let mut v = ip4_tcp(PAYLOAD);
            v[6] |= 0x20; // More Fragments
            v
        },
        |p, s| {
            assert_eq!(p.expect("IP still decodes").transport, Transport::Other);
            assert_eq!((s.ip_fragments, s.tcp), (1, 0));
        }
    );

    decodes!(garbage_ip, LinkType::RawIp, vec![0x45, 1, 2], |p, s| {
        assert!(p.is_none());
        assert_eq!(s.ip_errors, 1);
    });

    decodes!(short_ethernet, LinkType::Ethernet, vec![1, 2, 3], |p, s| {
        assert!(p.is_none());
        assert_eq!(s.link_errors, 1);
    });

    #[test]
    fn snaplen_cut_payload_reports_missing_tail() {
        let full = build(
            PacketBuilder::ethernet2([1; 6], [2; 6])
                .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
                .tcp(40000, 80, 1000, 1024)
                .ack(77),
            &[b'z'; 100],
        );
        let cut = &full[..full.len() - 40];
        let f = Frame {
            ts: Timestamp(1),
            link: LinkType::Ethernet,
            data: cut,
            wire_len: full.len() as u32,
        };
        let mut s = DecodeStats::default();
        match decode(&f, &mut s).expect("decodes").transport {
            Transport::Tcp(t) => {
                assert_eq!(t.payload.len(), 60);
                assert_eq!(t.missing_tail, 40);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(s.snaplen_truncated, 1);

        // Same bytes, but the capture says the frame was complete: the IP length lies.
        let lie = Frame {
            wire_len: cut.len() as u32,
            ..f
        };
        assert!(decode(&lie, &mut s).is_none());
        assert_eq!(s.ip_length_exceeds_frame, 1);

        // Cut inside the TCP header: nothing usable.
        let in_header = Frame {
            data: &full[..14 + 20 + 10],
            ..f
        };
        assert!(decode(&in_header, &mut s).is_none());
        assert_eq!(s.tcp_errors, 1);
    }

    #[test]
    fn ethernet_padding_is_not_payload() {
        let mut v = build(
            PacketBuilder::ethernet2([1; 6], [2; 6])
                .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
                .tcp(40000, 80, 1000, 1024)
                .ack(77),
            b"",
        );
        v.resize(60, 0); // minimum Ethernet frame, padded by the NIC
        let mut s = DecodeStats::default();
        match decode(&frame(LinkType::Ethernet, &v), &mut s)
            .expect("decodes")
            .transport
        {
            Transport::Tcp(t) => assert_eq!((t.payload.len(), t.missing_tail), (0, 0)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn counters_name_every_field() {
        let s = DecodeStats {
            frames: 3,
            tcp: 2,
            ..DecodeStats::default()
        };
        let c = s.counters();
        assert!(c.contains(&("decode_frames", 3)));
        assert!(c.contains(&("decode_tcp", 2)));
        assert_eq!(c.len(), 22);
        let mut sum = DecodeStats::default();
        sum.merge(&s);
        sum.merge(&s);
        assert_eq!((sum.frames, sum.tcp), (6, 4));
    }

    #[test]
    fn corpus_ipv6_over_null_decodes_as_tcp() {
        let path = std::path::Path::new("/work/shared/corpus/suricata-verify/http-ipv6/input.pcap");
        if !path.exists() {
            println!(
                "SKIP corpus_ipv6_over_null_decodes_as_tcp: {} not present",
                path.display()
            );
            return;
        }
        let frames = read_all(&mut FileSource::open(path).expect("opens")).expect("reads");
        let mut s = DecodeStats::default();
        let mut http = 0;
        for f in &frames {
            let p = decode(&f.as_frame(), &mut s).expect("every frame is TCP/IPv6");
            assert!(p.src.is_ipv6());
            if let Transport::Tcp(t) = p.transport {
                assert!(t.src_port == 8000 || t.dst_port == 8000);
                http +=
                    usize::from(t.payload.starts_with(b"GET ") || t.payload.starts_with(b"HTTP/"));
            }
        }
        assert_eq!(s.tcp as usize, frames.len());
        assert_eq!(http, 2, "one request, one response head");
    }

    fn any_link() -> impl Strategy<Value = LinkType> {
        prop_oneof![
            Just(LinkType::Ethernet),
            Just(LinkType::LinuxSll),
            Just(LinkType::LinuxSll2),
            Just(LinkType::RawIp),
            Just(LinkType::Ipv4),
            Just(LinkType::Ipv6),
            Just(LinkType::Null),
            Just(LinkType::Loop),
            Just(LinkType::Other(9)),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn decode_never_panics_and_counts_every_frame(
            link in any_link(),
            data in proptest::collection::vec(any::<u8>(), 0..200),
            extra_wire in 0u32..100,
        ) {
            let f = Frame { ts: Timestamp(0), link, data: &data, wire_len: data.len() as u32 + extra_wire };
            let mut s = DecodeStats::default();
            let decoded = decode(&f, &mut s).is_some();
            prop_assert_eq!(s.frames, 1);
            prop_assert_eq!(s.decoded, u64::from(decoded));
            // Broken tunnel headers and nesting past the cap end decoding too: each frame
            // lands in exactly one outcome.
            let not_decoded = s.non_ip + s.unsupported_link + s.link_errors + s.ip_errors
                + s.ip_length_exceeds_frame + s.tcp_errors + s.udp_errors
                + s.tunnel_errors + s.encap_depth_exceeded;
            prop_assert_eq!(s.decoded + not_decoded, 1, "{:?}", s);
        }

        #[test]
        fn decode_never_panics_on_mutated_valid_frames(
            flips in proptest::collection::vec((0usize..80, any::<u8>()), 1..6),
            cut in 0usize..100,
        ) {
            let mut v = build(PacketBuilder::ethernet2([1; 6], [2; 6])
                .double_vlan(VlanId::try_new(1).expect("vlan"), VlanId::try_new(2).expect("vlan"))
                .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64).tcp(1, 2, 3, 4), PAYLOAD);
            for (at, b) in flips {
                if let Some(x) = v.get_mut(at) { *x = b; }
            }
            let wire = v.len() as u32;
            v.truncate(v.len().saturating_sub(cut));
            let f = Frame { ts: Timestamp(0), link: LinkType::Ethernet, data: &v, wire_len: wire };
            let mut s = DecodeStats::default();
            let _ = decode(&f, &mut s);
            prop_assert_eq!(s.frames, 1);
        }
    }
}
