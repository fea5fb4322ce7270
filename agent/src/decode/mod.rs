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
//!
//! ## One file per layer
//! This file holds the types, the counters and the walk from one layer to the next
//! (`decode_network`); each layer is decoded in its own file, with its tests:
//!
//! | file | layer |
//! |---|---|
//! | `link.rs` | link headers per link type: Ethernet II, Linux SLL v1/v2, Null/Loop, Cisco HDLC |
//! | `encap.rs` | VLAN tags (802.1Q/802.1ad/QinQ), MPLS label stacks, PPPoE sessions |
//! | `ip.rs` | IPv4/IPv6 and TCP/UDP through etherparse's lax slicing: snaplen cuts, length lies |
//! | `tunnel.rs` | GRE, ERSPAN I-III (inside GRE), VXLAN |
//! | `fragment.rs` | spotting IP fragments for the defragmenter, rebuilding reassembled datagrams |
//! | `fast.rs` | the hand-written fast path for the common case, checked against the lax path |
//!
//! The fast path (Ethernet II, up to two VLAN tags, IPv4 without fragmentation or IPv6 without
//! extension headers, TCP or UDP) is tried first; anything it does not fully understand (an
//! error, a tunnel, an option it does not handle) goes the general way, so the result and the
//! counters are the same either way (a proptest oracle in `fast.rs` checks it).

use crate::defrag::{DefragLimits, Defragmenter, Fragment, Pushed};
use crate::flow::seq::SeqNumber;
use crate::source::{Frame, LinkType};
use analyzer::time::Timestamp;
use etherparse::EtherType;
use std::net::IpAddr;

mod encap;
mod fast;
mod fragment;
mod ip;
mod link;
mod tunnel;

#[cfg(test)]
mod defrag_tests;
#[cfg(test)]
mod testutil;

/// One decoded IP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<'a> {
    pub ts: Timestamp,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub transport: Transport<'a>,
}

impl Packet<'_> {
    /// A hash for choosing a worker, equal for both directions of a connection: see
    /// [`crate::flow::key::shard_hash`].
    pub fn shard_hash(&self, seed: u64) -> u64 {
        crate::flow::key::shard_hash(self, seed)
    }
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
    /// Teredo (IPv6 in UDP 3544) packets unwrapped.
    pub tunnel_teredo: u64,
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
            ("decode_tunnel_teredo", self.tunnel_teredo),
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
        self.tunnel_teredo += other.tunnel_teredo;
        self.tunnel_gre += other.tunnel_gre;
        self.tunnel_erspan += other.tunnel_erspan;
        self.tunnel_errors += other.tunnel_errors;
        self.encap_depth_exceeded += other.encap_depth_exceeded;
    }

    /// Count a frame that produced no packet.
    fn drop_frame(&mut self, why: Dropped) {
        let field = match why {
            Dropped::NonIp => &mut self.non_ip,
            Dropped::UnsupportedLink => &mut self.unsupported_link,
            Dropped::LinkError => &mut self.link_errors,
            Dropped::IpError => &mut self.ip_errors,
            Dropped::IpLengthExceedsFrame => &mut self.ip_length_exceeds_frame,
            Dropped::TcpError => &mut self.tcp_errors,
            Dropped::UdpError => &mut self.udp_errors,
            Dropped::TunnelError => &mut self.tunnel_errors,
            Dropped::EncapDepthExceeded => &mut self.encap_depth_exceeded,
        };
        *field += 1;
    }
}

/// Why a frame produced no [`Packet`]: each reason is one counter of [`DecodeStats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dropped {
    NonIp,
    UnsupportedLink,
    LinkError,
    IpError,
    IpLengthExceedsFrame,
    TcpError,
    UdpError,
    TunnelError,
    EncapDepthExceeded,
}

/// Count `why` and return no packet.
fn dropped<T>(stats: &mut DecodeStats, why: Dropped) -> Option<T> {
    stats.drop_frame(why);
    None
}

/// Most decoding steps (each link header, tag, label stack, IP header and tunnel counts one)
/// followed for one frame. A VXLAN-in-ERSPAN mirror over a tagged link takes about ten; the
/// cap keeps crafted frames from walking us through thousands of tags.
pub const MAX_ENCAP_DEPTH: usize = 16;

const ETH_IPV4: u16 = 0x0800;
const ETH_IPV6: u16 = 0x86dd;

/// The big-endian `u16` at `at`, if the bytes are there.
fn be16(data: &[u8], at: usize) -> Option<u16> {
    let b: [u8; 2] = data.get(at..at + 2)?.try_into().ok()?;
    Some(u16::from_be_bytes(b))
}

/// What the next decoding step looks at.
enum Network<'a> {
    /// An IP packet (version from its first nibble).
    Ip(&'a [u8]),
    /// A payload with an EtherType.
    Ether(EtherType, &'a [u8]),
    /// A full Ethernet II frame.
    Ethernet(&'a [u8]),
}

/// Which decoder handles the IP layer: the fast path first (production), or etherparse's lax
/// slicing only (the reference the fast path is tested against).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Path {
    FastFirst,
    LaxOnly,
}

/// The fast-path oracle for the fuzz targets ([`crate::fuzz`]): `frame` decoded statelessly by
/// the fast path first and by the lax path only must give the same packet and counters (the
/// proptest in `fast.rs` checks the same on generated frames). Panics when they differ.
pub(crate) fn assert_paths_agree(frame: &Frame<'_>) {
    let (mut fast_stats, mut lax_stats) = (DecodeStats::default(), DecodeStats::default());
    let fast = decode_with(frame, &mut fast_stats, None, Path::FastFirst);
    let lax = decode_with(frame, &mut lax_stats, None, Path::LaxOnly);
    assert_eq!(fast, lax, "fast and lax decode differ");
    assert_eq!(fast_stats, lax_stats, "fast and lax counters differ");
}

/// Decode one frame without state. Returns `None` (and counts why) when there is no IP packet
/// to use. Fragments are counted and returned as [`Transport::Other`]; use a [`Decoder`] to
/// reassemble them.
pub fn decode<'a>(frame: &Frame<'a>, stats: &mut DecodeStats) -> Option<Packet<'a>> {
    decode_with(frame, stats, None, Path::FastFirst)
}

/// [`decode`], handing IP fragments to `frags` (when given) instead of decoding them.
fn decode_with<'a>(
    frame: &Frame<'a>,
    stats: &mut DecodeStats,
    frags: Option<&mut Option<Fragment<'a>>>,
    path: Path,
) -> Option<Packet<'a>> {
    stats.frames += 1;
    if path == Path::FastFirst && frame.link == LinkType::Ethernet {
        if let Some(fast) = fast::ethernet(frame) {
            return Some(fast.commit(stats));
        }
    }
    match link::network(frame) {
        Ok(network) => decode_network(network, frame, stats, 0, frags, path),
        Err(why) => dropped(stats, why),
    }
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
        self.decode_by(frame, Path::FastFirst)
    }

    fn decode_by<'s, 'f: 's>(&'s mut self, frame: &Frame<'f>, path: Path) -> Option<Packet<'s>> {
        let mut frag: Option<Fragment<'f>> = None;
        let packet = decode_with(frame, &mut self.stats, Some(&mut frag), path);
        if packet.is_some() {
            return packet;
        }
        let frag = frag?;
        let Pushed::Complete(payload) = self.defrag.push(&frag, frame.ts) else {
            return None;
        };
        if !fragment::rebuild(&frag.key, &payload, &mut self.datagram) {
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
        decode_network(
            Network::Ip(inner.data),
            &inner,
            &mut self.stats,
            0,
            None,
            path,
        )
    }

    /// Every counter: the decode counters, then the defragmenter's.
    pub fn counters(&self) -> Vec<(&'static str, u64)> {
        let mut out = self.stats.counters();
        out.extend(self.defrag.stats.counters());
        out
    }
}

/// Peel encapsulations, one layer per step, until an IP packet is decoded (or the frame is
/// dropped and counted). `depth` counts the steps taken so far (tunnels continue the count).
fn decode_network<'a>(
    mut network: Network<'a>,
    frame: &Frame<'a>,
    stats: &mut DecodeStats,
    mut depth: usize,
    mut frags: Option<&mut Option<Fragment<'a>>>,
    path: Path,
) -> Option<Packet<'a>> {
    loop {
        depth += 1;
        if depth > MAX_ENCAP_DEPTH {
            return dropped(stats, Dropped::EncapDepthExceeded);
        }
        let next = match network {
            Network::Ethernet(d) => link::ethernet(d),
            Network::Ether(EtherType(t), d) if encap::ETH_VLAN.contains(&t) => {
                encap::vlan(d, stats)
            }
            Network::Ether(EtherType(t), d) if encap::ETH_MPLS.contains(&t) => {
                encap::mpls(d, stats)
            }
            Network::Ether(EtherType(encap::ETH_PPPOE_SESSION), d) => encap::pppoe(d, stats),
            Network::Ether(EtherType(ETH_IPV4 | ETH_IPV6), d) => Ok(Network::Ip(d)),
            Network::Ether(t, d) => {
                let sliced = etherparse::LaxSlicedPacket::from_ether_type(t, d);
                return ip::from_sliced(frame, sliced, stats, depth, frags, path);
            }
            Network::Ip(d) => {
                if path == Path::FastFirst {
                    // A packet the fast path takes is never a fragment (see `fast`).
                    if let Some(fast) = fast::ip(frame, d) {
                        return Some(fast.commit(stats));
                    }
                }
                if let Some(slot) = frags.as_deref_mut() {
                    if let Some(f) = fragment::fragment_of(d) {
                        stats.ip_fragments += 1;
                        *slot = Some(f);
                        return None;
                    }
                }
                return ip::decode_ip(frame, d, stats, depth, frags, path);
            }
        };
        network = match next {
            Ok(n) => n,
            Err(why) => return dropped(stats, why),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::testutil::*;
    use super::*;
    use crate::source::{read_all, FileSource};
    use etherparse::{PacketBuilder, VlanId};
    use proptest::prelude::*;

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
        assert_eq!(c.len(), 23);
        let mut sum = DecodeStats::default();
        sum.merge(&s);
        sum.merge(&s);
        assert_eq!((sum.frames, sum.tcp), (6, 4));
    }

    #[test]
    fn every_drop_reason_has_its_own_counter() {
        let all = [
            Dropped::NonIp,
            Dropped::UnsupportedLink,
            Dropped::LinkError,
            Dropped::IpError,
            Dropped::IpLengthExceedsFrame,
            Dropped::TcpError,
            Dropped::UdpError,
            Dropped::TunnelError,
            Dropped::EncapDepthExceeded,
        ];
        let mut s = DecodeStats::default();
        for (n, why) in all.iter().enumerate() {
            for _ in 0..=n {
                s.drop_frame(*why);
            }
        }
        let c = s.counters();
        for (n, name) in [
            "decode_non_ip",
            "decode_unsupported_link",
            "decode_link_errors",
            "decode_ip_errors",
            "decode_ip_length_exceeds_frame",
            "decode_tcp_errors",
            "decode_udp_errors",
            "decode_tunnel_errors",
            "decode_encap_depth_exceeded",
        ]
        .iter()
        .enumerate()
        {
            assert!(c.contains(&(*name, n as u64 + 1)), "{name}");
        }
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

    #[test]
    fn packet_shard_hash_is_the_same_both_ways() {
        let a = ip4_tcp(PAYLOAD);
        let mut s = DecodeStats::default();
        let p = decode(&frame(LinkType::RawIp, &a), &mut s).expect("decodes");
        let back = build(
            PacketBuilder::ipv4([10, 0, 0, 2], [10, 0, 0, 1], 64).tcp(80, 40000, 1, 1024),
            b"",
        );
        let q = decode(&frame(LinkType::RawIp, &back), &mut s).expect("decodes");
        assert_eq!(p.shard_hash(7), q.shard_hash(7));
        assert_eq!(
            p.shard_hash(7),
            crate::flow::key::shard_hash(&p, 7),
            "the method is the function"
        );
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
