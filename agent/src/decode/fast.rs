//! The fast path: hand-written decoding of the frames a mirror port mostly carries.
//!
//! Taken: Ethernet II with at most two VLAN tags (0x8100, 0x88a8, 0x9100), then IPv4 that is
//! not a fragment (MF clear, offset 0; RFC 791 section 3.1; options are skipped by IHL) or IPv6
//! whose next header is TCP or UDP directly (no extension headers; RFC 8200 section 3), then a
//! TCP header (RFC 9293 section 3.1; options skipped by the data offset) or a UDP header
//! (RFC 768) to any port but VXLAN's. The IP packet alone ([`ip()`]) is tried wherever the
//! general walk reaches IP (other link types, MPLS, PPPoE, tunnels' inner packets).
//!
//! Left to the general path (`ip.rs`, etherparse's lax slicing), by returning `None` before
//! anything is counted: every error (cut or invalid headers, a length field that lies), IPv4
//! lengths below the header (TSO captures), IPv6 length 0 (jumbograms), fragments, any other
//! protocol, extension headers, GRE, VXLAN, and more than two tags.
//!
//! The fast path must give the same [`Packet`] and the same [`DecodeStats`] as the general
//! path for every frame it takes: it copies etherparse's lax rules (IP length limits the
//! payload; a snaplen cut keeps what was captured and reports the missing tail; the UDP length
//! limits the UDP payload unless it is below 8 or beyond the data). The proptest oracle below
//! checks this on random and mutated frames, and the demo capture test checks that the fast
//! path really takes the common frames.

use super::ip::missing_tail;
use super::{be16, DecodeStats, Packet, TcpSegment, Transport, ETH_IPV4, ETH_IPV6};
use crate::flow::seq::SeqNumber;
use crate::source::Frame;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

const IPPROTO_TCP: u8 = 6;
const IPPROTO_UDP: u8 = 17;

/// A packet the fast path decoded, with what it adds to the counters.
pub(super) struct Fast<'a> {
    packet: Packet<'a>,
    vlan_tags: u8,
    snaplen_truncated: bool,
}

impl<'a> Fast<'a> {
    /// Count the packet as the general path would, and return it.
    #[inline]
    pub(super) fn commit(self, stats: &mut DecodeStats) -> Packet<'a> {
        stats.encap_vlan += u64::from(self.vlan_tags);
        stats.snaplen_truncated += u64::from(self.snaplen_truncated);
        match self.packet.transport {
            Transport::Tcp(_) => stats.tcp += 1,
            Transport::Udp { .. } => stats.udp += 1,
            Transport::Other => stats.other_transport += 1,
        }
        stats.decoded += 1;
        self.packet
    }
}

/// An Ethernet II frame (the whole of `frame.data`), or `None` to take the general path.
#[inline]
pub(super) fn ethernet<'a>(frame: &Frame<'a>) -> Option<Fast<'a>> {
    let d = frame.data;
    let mut ether_type = be16(d, 12)?;
    let mut at = 14;
    let mut vlan_tags = 0u8;
    // IEEE 802.1Q tags: TCI, then the next EtherType.
    while matches!(ether_type, 0x8100 | 0x88a8 | 0x9100) {
        if vlan_tags == 2 {
            return None;
        }
        ether_type = be16(d, at + 2)?;
        at += 4;
        vlan_tags += 1;
    }
    if ether_type != ETH_IPV4 && ether_type != ETH_IPV6 {
        return None;
    }
    let mut fast = ip(frame, d.get(at..)?)?;
    fast.vlan_tags = vlan_tags;
    Some(fast)
}

/// An IP packet `d` inside `frame` (version from its first nibble, as the general path does),
/// or `None` to take the general path.
#[inline]
pub(super) fn ip<'a>(frame: &Frame<'a>, d: &'a [u8]) -> Option<Fast<'a>> {
    match d.first()? >> 4 {
        4 => ipv4(frame, d),
        6 => ipv6(frame, d),
        _ => None,
    }
}

#[inline]
fn ipv4<'a>(frame: &Frame<'a>, d: &'a [u8]) -> Option<Fast<'a>> {
    let h: &[u8; 20] = d.first_chunk()?;
    let header_len = usize::from(h[0] & 0x0f) * 4;
    let total_len = usize::from(u16::from_be_bytes([h[2], h[3]]));
    // MF flag and fragment offset (the DF and reserved bits do not matter).
    let fragmenting = u16::from_be_bytes([h[6], h[7]]) & 0x3fff != 0;
    let proto = h[9];
    if header_len < 20
        || d.len() < header_len
        || total_len < header_len
        || fragmenting
        || (proto != IPPROTO_TCP && proto != IPPROTO_UDP)
    {
        return None;
    }
    let src = IpAddr::V4(Ipv4Addr::new(h[12], h[13], h[14], h[15]));
    let dst = IpAddr::V4(Ipv4Addr::new(h[16], h[17], h[18], h[19]));
    let payload = d.get(header_len..total_len.min(d.len()))?;
    let expected = total_len - header_len;
    transport(
        frame,
        src,
        dst,
        proto,
        payload,
        expected,
        d.len() < total_len,
    )
}

#[inline]
fn ipv6<'a>(frame: &Frame<'a>, d: &'a [u8]) -> Option<Fast<'a>> {
    let h: &[u8; 40] = d.first_chunk()?;
    let payload_len = usize::from(u16::from_be_bytes([h[4], h[5]]));
    let next_header = h[6];
    if (next_header != IPPROTO_TCP && next_header != IPPROTO_UDP)
        || (payload_len == 0 && d.len() > 40)
    {
        return None;
    }
    let src: [u8; 16] = *h[8..24].first_chunk()?;
    let dst: [u8; 16] = *h[24..40].first_chunk()?;
    let available = d.len() - 40;
    let payload = d.get(40..40 + payload_len.min(available))?;
    transport(
        frame,
        IpAddr::V6(Ipv6Addr::from(src)),
        IpAddr::V6(Ipv6Addr::from(dst)),
        next_header,
        payload,
        payload_len,
        available < payload_len,
    )
}

/// The TCP or UDP header in `payload` (the IP payload as captured; `expected` bytes by the IP
/// length, of which the snaplen cut some when `cut`).
#[inline]
fn transport<'a>(
    frame: &Frame<'a>,
    src: IpAddr,
    dst: IpAddr,
    proto: u8,
    payload: &'a [u8],
    expected: usize,
    cut: bool,
) -> Option<Fast<'a>> {
    let missing_tail = if cut {
        // A length lie is counted by the general path.
        missing_tail(frame, expected, payload.len()).ok()?
    } else {
        0
    };
    let transport = if proto == IPPROTO_TCP {
        let h: &[u8; 20] = payload.first_chunk()?;
        let header_len = usize::from(h[12] >> 4) * 4;
        if header_len < 20 {
            return None;
        }
        let flags = h[13];
        Transport::Tcp(TcpSegment {
            src_port: u16::from_be_bytes([h[0], h[1]]),
            dst_port: u16::from_be_bytes([h[2], h[3]]),
            seq: SeqNumber(u32::from_be_bytes([h[4], h[5], h[6], h[7]])),
            ack: SeqNumber(u32::from_be_bytes([h[8], h[9], h[10], h[11]])),
            syn: flags & 0x02 != 0,
            ack_flag: flags & 0x10 != 0,
            fin: flags & 0x01 != 0,
            rst: flags & 0x04 != 0,
            payload: payload.get(header_len..)?,
            missing_tail,
        })
    } else {
        let h: &[u8; 8] = payload.first_chunk()?;
        let src_port = u16::from_be_bytes([h[0], h[1]]);
        let dst_port = u16::from_be_bytes([h[2], h[3]]);
        // Tunnels take the full walk.
        if dst_port == super::tunnel::VXLAN_PORT
            || dst_port == super::tunnel::TEREDO_PORT
            || src_port == super::tunnel::TEREDO_PORT
        {
            return None;
        }
        // The UDP length limits the payload unless it is below the header or beyond the data
        // (etherparse's lax rule).
        let len = usize::from(u16::from_be_bytes([h[4], h[5]]));
        let end = if len < 8 || len > payload.len() {
            payload.len()
        } else {
            len
        };
        Transport::Udp {
            src_port,
            dst_port,
            payload: payload.get(8..end)?,
        }
    };
    Some(Fast {
        packet: Packet {
            ts: frame.ts,
            src,
            dst,
            transport,
        },
        vlan_tags: 0,
        snaplen_truncated: cut,
    })
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::super::{decode_with, DecodeStats, Decoder, Path};
    use super::*;
    use crate::defrag::DefragLimits;
    use crate::source::{read_all, FileSource, LinkType};
    use analyzer::time::Timestamp;
    use etherparse::{PacketBuilder, VlanId};
    use proptest::prelude::*;

    /// Decode `f` both ways (statelessly and with a `Decoder`) and require the same packet and
    /// counters; returns whether the fast path took the frame.
    fn same_both_ways(f: &Frame<'_>) -> Result<bool, TestCaseError> {
        let (mut fast_stats, mut lax_stats) = (DecodeStats::default(), DecodeStats::default());
        let fast = decode_with(f, &mut fast_stats, None, Path::FastFirst);
        let lax = decode_with(f, &mut lax_stats, None, Path::LaxOnly);
        prop_assert_eq!(fast, lax);
        prop_assert_eq!(&fast_stats, &lax_stats);

        let (mut a, mut b) = (Decoder::default(), Decoder::default());
        let pa = a.decode_by(f, Path::FastFirst);
        let pb = b.decode_by(f, Path::LaxOnly);
        prop_assert_eq!(pa, pb);
        prop_assert_eq!(&a.stats, &b.stats);
        prop_assert_eq!(&a.defrag.stats, &b.defrag.stats);

        let taken = match f.link {
            LinkType::Ethernet => ethernet(f).is_some(),
            LinkType::LinuxSll => f.data.get(16..).and_then(|d| ip(f, d)).is_some(),
            _ => ip(f, f.data).is_some(),
        };
        Ok(taken)
    }

    /// Ethernet, `tags` VLAN tags (0, 1 or 2), then an IPv4 or IPv6 header.
    fn ip_step(v6: bool, tags: u8) -> etherparse::PacketBuilderStep<etherparse::IpHeaders> {
        let eth = PacketBuilder::ethernet2([1; 6], [2; 6]);
        let vlan = |n: u16| VlanId::try_new(n).expect("vlan");
        let (src4, dst4, src6, dst6) = ([10, 0, 0, 1], [10, 0, 0, 2], [1; 16], [2; 16]);
        match (tags, v6) {
            (0, false) => eth.ipv4(src4, dst4, 64),
            (0, true) => eth.ipv6(src6, dst6, 64),
            (1, false) => eth.single_vlan(vlan(5)).ipv4(src4, dst4, 64),
            (1, true) => eth.single_vlan(vlan(5)).ipv6(src6, dst6, 64),
            (_, false) => eth.double_vlan(vlan(5), vlan(6)).ipv4(src4, dst4, 64),
            (_, true) => eth.double_vlan(vlan(5), vlan(6)).ipv6(src6, dst6, 64),
        }
    }

    /// A TCP segment (ports, seq, ack) with `flags` (FIN 0x01, SYN 0x02, RST 0x04, ACK 0x10).
    fn tcp_builder(
        v6: bool,
        tags: u8,
        tcp: (u16, u16, u32, u32),
        flags: u8,
    ) -> etherparse::PacketBuilderStep<etherparse::TcpHeader> {
        let mut b = ip_step(v6, tags).tcp(tcp.0, tcp.1, tcp.2, 1024);
        if flags & 0x10 != 0 {
            b = b.ack(tcp.3);
        }
        if flags & 0x02 != 0 {
            b = b.syn();
        }
        if flags & 0x01 != 0 {
            b = b.fin();
        }
        if flags & 0x04 != 0 {
            b = b.rst();
        }
        b
    }

    fn udp_frame(v6: bool, tags: u8, ports: (u16, u16), payload: &[u8]) -> Vec<u8> {
        build_udp(ip_step(v6, tags).udp(ports.0, ports.1), payload)
    }

    /// A valid frame of the kinds the fast path is for: Ethernet, 0-2 tags, IPv4 or IPv6, TCP
    /// (any flags) or UDP (sometimes to the VXLAN port, which the fast path leaves alone: the
    /// flag says whether it is).
    fn valid_frame() -> impl Strategy<Value = (Vec<u8>, bool)> {
        (
            any::<bool>(),
            0u8..3,
            any::<bool>(),
            (any::<u16>(), any::<u16>(), any::<u32>(), any::<u32>()),
            any::<u8>(),
            proptest::collection::vec(any::<u8>(), 0..120),
            any::<bool>(),
        )
            .prop_map(|(v6, tags, is_tcp, tcp, flags, payload, vxlan_port)| {
                if is_tcp {
                    (build(tcp_builder(v6, tags, tcp, flags), &payload), false)
                } else {
                    let dst = if vxlan_port { 4789 } else { tcp.1 };
                    // Teredo's port, either way, is a tunnel too.
                    let tunnel = dst == 4789 || dst == 3544 || tcp.0 == 3544;
                    (udp_frame(v6, tags, (tcp.0, dst), &payload), tunnel)
                }
            })
    }

    /// Where the interesting fields of a frame built by [`valid_frame`] are.
    fn ip_start(v: &[u8]) -> usize {
        let mut at = 14;
        while matches!(
            v.get(at - 2..at),
            Some([0x81, 0x00] | [0x88, 0xa8] | [0x91, 0x00])
        ) {
            at += 4;
        }
        at
    }

    /// One targeted lie or cut applied to a valid frame.
    #[derive(Debug, Clone)]
    enum Mutation {
        /// Overwrite a byte anywhere in the headers.
        Flip(usize, u8),
        /// IPv4 IHL nibble / IPv6 next header.
        IhlOrNext(u8),
        /// IPv4 total length / IPv6 payload length.
        IpLength(u16),
        /// The same, moved by a few bytes from its true value.
        IpLengthBy(i16),
        /// IPv4 flags and fragment offset.
        Fragment(u16),
        /// TCP data offset nibble (or, for UDP, the high byte of its length).
        DataOffset(u8),
        /// UDP length (or, for TCP, the window).
        UdpLength(u16),
        /// The same, moved by a few bytes from its true value.
        UdpLengthBy(i16),
        /// Append NIC padding.
        Pad(usize),
        /// Replace a VLAN TPID (or the EtherType) with another one.
        EtherType(u16),
    }

    fn mutation() -> impl Strategy<Value = Mutation> {
        prop_oneof![
            (0usize..100, any::<u8>()).prop_map(|(a, b)| Mutation::Flip(a, b)),
            any::<u8>().prop_map(Mutation::IhlOrNext),
            prop_oneof![Just(0u16), 0u16..128, any::<u16>()].prop_map(Mutation::IpLength),
            (-40i16..40).prop_map(Mutation::IpLengthBy),
            prop_oneof![
                Just(0u16),
                Just(0x2000),
                Just(0x4000),
                Just(0x8000),
                any::<u16>()
            ]
            .prop_map(Mutation::Fragment),
            (0u8..16).prop_map(Mutation::DataOffset),
            prop_oneof![Just(8u16), 0u16..16, any::<u16>()].prop_map(Mutation::UdpLength),
            (-20i16..20).prop_map(Mutation::UdpLengthBy),
            (1usize..40).prop_map(Mutation::Pad),
            prop_oneof![
                Just(0x8100u16),
                Just(0x88a8),
                Just(0x9100),
                Just(0x0800),
                Just(0x86dd),
                Just(0x8847),
                Just(0x0806),
                Just(0x05dc),
            ]
            .prop_map(Mutation::EtherType),
        ]
    }

    fn mutate(v: &mut Vec<u8>, m: &Mutation) {
        let ip = ip_start(v);
        let v6 = v.get(ip).is_some_and(|b| b >> 4 == 6);
        let l4 = if v6 {
            ip + 40
        } else {
            ip + usize::from(v.get(ip).map_or(5, |b| b & 0x0f)) * 4
        };
        let set = |v: &mut Vec<u8>, at: usize, bytes: &[u8]| {
            if let Some(dst) = v.get_mut(at..at + bytes.len()) {
                dst.copy_from_slice(bytes);
            }
        };
        let add = |v: &mut Vec<u8>, at: usize, by: i16| {
            if let Some(&[a, b]) = v.get(at..at + 2) {
                let n = u16::from_be_bytes([a, b]).wrapping_add_signed(by);
                set(v, at, &n.to_be_bytes());
            }
        };
        let ip_len_at = ip + if v6 { 4 } else { 2 };
        match *m {
            Mutation::Flip(at, b) => set(v, at, &[b]),
            Mutation::IhlOrNext(x) if v6 => set(v, ip + 6, &[x]),
            Mutation::IhlOrNext(x) => set(v, ip, &[0x40 | (x & 0x0f)]),
            Mutation::IpLength(n) => set(v, ip_len_at, &n.to_be_bytes()),
            Mutation::IpLengthBy(by) => add(v, ip_len_at, by),
            Mutation::Fragment(n) if !v6 => set(v, ip + 6, &n.to_be_bytes()),
            Mutation::Fragment(_) => {}
            Mutation::DataOffset(d) => {
                if let Some(b) = v.get_mut(l4 + 12) {
                    *b = (d << 4) | (*b & 0x0f);
                }
            }
            Mutation::UdpLength(n) => set(v, l4 + 4, &n.to_be_bytes()),
            Mutation::UdpLengthBy(by) => add(v, l4 + 4, by),
            Mutation::Pad(n) => v.extend(std::iter::repeat_n(0, n)),
            Mutation::EtherType(t) => set(v, ip - 2, &t.to_be_bytes()),
        }
    }

    /// The frame as captured: cut by `cut` bytes; the wire length is the original length
    /// (a snaplen cut) or the captured length (the frame was complete: lengths that claim
    /// more are lies).
    fn captured(v: &[u8], cut: usize, snaplen: bool, link: LinkType) -> (Vec<u8>, u32) {
        let ip = ip_start(v);
        let body = match link {
            LinkType::Ethernet => v.to_vec(),
            LinkType::LinuxSll => sll(0x0800, v.get(ip..).unwrap_or_default()),
            _ => v.get(ip..).unwrap_or_default().to_vec(),
        };
        let wire = body.len() as u32;
        let kept = body.len().saturating_sub(cut);
        let data = body.get(..kept).unwrap_or_default().to_vec();
        let wire = if snaplen { wire } else { data.len() as u32 };
        (data, wire)
    }

    fn any_link() -> impl Strategy<Value = LinkType> {
        prop_oneof![
            4 => Just(LinkType::Ethernet),
            1 => Just(LinkType::RawIp),
            1 => Just(LinkType::LinuxSll),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(10_000))]

        /// Valid frames: the fast path takes every one it is for, with the general path's
        /// result.
        #[test]
        fn fast_path_equals_lax_path_on_valid_frames(
            (v, vxlan) in valid_frame(),
            link in any_link(),
        ) {
            let (data, wire) = captured(&v, 0, false, link);
            let f = Frame { ts: Timestamp(9), link, data: &data, wire_len: wire };
            let taken = same_both_ways(&f)?;
            prop_assert_eq!(taken, !vxlan, "the fast path takes plain TCP/UDP frames");
        }

        /// Mutated frames (lies in every length and offset field, cuts, padding, other
        /// EtherTypes): whatever the fast path takes, it decodes and counts as the general path.
        #[test]
        fn fast_path_equals_lax_path_on_mutated_frames(
            (v, _) in valid_frame(),
            mutations in proptest::collection::vec(mutation(), 0..4),
            cut in prop_oneof![Just(0usize), 0usize..80],
            snaplen in any::<bool>(),
            link in any_link(),
        ) {
            let mut v = v;
            for m in &mutations {
                mutate(&mut v, m);
            }
            let (data, wire) = captured(&v, cut, snaplen, link);
            let f = Frame { ts: Timestamp(9), link, data: &data, wire_len: wire };
            same_both_ways(&f)?;
        }

        /// Random bytes after a plausible start: the rare paths agree too.
        #[test]
        fn fast_path_equals_lax_path_on_random_frames(
            head in prop_oneof![
                Just(vec![0x08u8, 0x00, 0x45]),
                Just(vec![0x86, 0xdd, 0x60]),
                Just(vec![0x81, 0x00, 0x00, 0x01, 0x08, 0x00, 0x45]),
            ],
            tail in proptest::collection::vec(any::<u8>(), 0..120),
            extra_wire in prop_oneof![Just(0u32), 0u32..100],
        ) {
            let mut data = vec![0u8; 12];
            data.extend_from_slice(&head);
            data.extend_from_slice(&tail);
            let f = Frame {
                ts: Timestamp(9),
                link: LinkType::Ethernet,
                data: &data,
                wire_len: data.len() as u32 + extra_wire,
            };
            same_both_ways(&f)?;
        }
    }

    #[test]
    fn what_the_fast_path_takes_and_leaves() {
        let plain = build(tcp_builder(false, 0, (1, 80, 5, 6), 0x10), PAYLOAD);
        let qinq6 = build(tcp_builder(true, 2, (1, 80, 5, 6), 0x12), PAYLOAD);
        let udp = udp_frame(false, 1, (53, 53), b"dns");
        let vxlan = udp_frame(false, 0, (1, 4789), &[0x08; 20]);
        let mut fragment = plain.clone();
        fragment[20] = 0x20; // MF
        let mut gre = plain.clone();
        gre[23] = 47;
        let mut options = plain.clone();
        options[46] = 0x60; // TCP data offset 24: options inside the payload bytes
        let three_tags = eth(
            0x8100,
            &[
                &[0, 1, 0x81, 0, 0, 2, 0x81, 0, 0, 3, 0x08, 0][..],
                &ip4_tcp(PAYLOAD),
            ]
            .concat(),
        );
        let cases: [(&str, &[u8], bool); 8] = [
            ("IPv4 TCP", &plain, true),
            ("QinQ IPv6 TCP", &qinq6, true),
            ("VLAN UDP", &udp, true),
            ("TCP with options", &options, true),
            ("VXLAN", &vxlan, false),
            ("fragment", &fragment, false),
            ("GRE", &gre, false),
            ("three tags", &three_tags, false),
        ];
        for (name, bytes, taken) in cases {
            let f = frame(LinkType::Ethernet, bytes);
            assert_eq!(ethernet(&f).is_some(), taken, "{name}");
            assert!(same_both_ways(&f).is_ok(), "{name}");
        }
        // Cut by the snaplen: taken, with the missing tail; the same bytes claimed complete
        // (a length lie) are left to the general path.
        let cut = Frame {
            data: &plain[..plain.len() - 7],
            ..frame(LinkType::Ethernet, &plain)
        };
        match ethernet(&cut).map(|f| f.packet.transport) {
            Some(Transport::Tcp(t)) => assert_eq!(t.missing_tail, 7),
            other => panic!("{other:?}"),
        }
        let lie = Frame {
            wire_len: cut.data.len() as u32,
            ..cut
        };
        assert!(ethernet(&lie).is_none());
        assert!(same_both_ways(&cut).is_ok() && same_both_ways(&lie).is_ok());
    }

    #[test]
    fn the_demo_capture_takes_the_fast_path_with_the_same_result() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../fixtures/demo/openbanking.pcap");
        let frames = read_all(&mut FileSource::open(&path).expect("opens")).expect("reads");
        let (mut fast, mut lax) = (Decoder::new(DefragLimits::default()), Decoder::default());
        let mut taken = 0;
        for f in &frames {
            let f = f.as_frame();
            taken += usize::from(ethernet(&f).is_some());
            assert_eq!(
                fast.decode_by(&f, Path::FastFirst),
                lax.decode_by(&f, Path::LaxOnly)
            );
        }
        assert_eq!(fast.stats, lax.stats);
        assert_eq!(
            taken,
            frames.len(),
            "every demo frame is plain Ethernet/IPv4/TCP"
        );
    }
}
