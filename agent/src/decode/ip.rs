//! IP and transport through etherparse's lax slicing: the general (and reference) path.
//!
//! [`decode_ip`] slices an IPv4 (RFC 791 section 3.1) or IPv6 (RFC 8200 section 3) packet,
//! its extension headers (IPv4 AH, IPv6 hop-by-hop/routing/fragment/destination options) and
//! its TCP (RFC 9293 section 3.1) or UDP (RFC 768) header with `LaxSlicedPacket`, which keeps
//! what it could decode when a frame is cut:
//!
//! - **Snaplen cuts.** The IP length says how much payload there should be; when the frame
//!   holds less *because the capture cut it* (captured < wire length), the packet is kept and
//!   the missing part of a TCP payload becomes [`TcpSegment::missing_tail`] (at most what the
//!   capture cut), counted as `snaplen_truncated`.
//! - **Length lies.** When the frame was *not* cut (captured == wire length) but the IP length
//!   claims more, the packet is malformed: a receiver drops it, so we do too
//!   (`ip_length_exceeds_frame`), and its bytes never reach reassembly.
//! - **Padding.** An IP length shorter than the frame (Ethernet minimum-size padding) limits
//!   the payload: padding is not data.
//! - **Fragments** (without a `Decoder`): counted as `ip_fragments`, returned as `Other`.
//!
//! A header etherparse rejects is counted by the layer it stopped at (`ip_errors`,
//! `tcp_errors`, `udp_errors`; a non-IP EtherType: `non_ip`). The common case is decoded by
//! `fast` before this path is tried; both give the same result.
//!
//! Not here: what GRE and VXLAN carry (`tunnel`), fragment keying and rebuilding (`fragment`),
//! checksums (never validated).

use super::{decode_network, dropped, tunnel, DecodeStats, Dropped, Packet, Path};
use super::{TcpSegment, Transport};
use crate::defrag::Fragment;
use crate::flow::seq::SeqNumber;
use crate::source::Frame;
use etherparse::err::Layer;
use etherparse::{LaxNetSlice, LaxSlicedPacket, TransportSlice};
use std::net::IpAddr;

/// Decode the IP packet `d` (version from its first nibble) and what it carries.
pub(super) fn decode_ip<'a>(
    frame: &Frame<'a>,
    d: &'a [u8],
    stats: &mut DecodeStats,
    depth: usize,
    frags: Option<&mut Option<Fragment<'a>>>,
    path: Path,
) -> Option<Packet<'a>> {
    match LaxSlicedPacket::from_ip(d) {
        Ok(sliced) => from_sliced(frame, sliced, stats, depth, frags, path),
        Err(_) => dropped(stats, Dropped::IpError),
    }
}

/// The missing payload of a packet whose IP length says `expected` payload bytes but the
/// frame holds only `captured`: `Ok(missing tail)` when the snaplen cut it, `Err` when the
/// frame was complete (the length field lies).
pub(super) fn missing_tail(
    frame: &Frame<'_>,
    expected: usize,
    captured: usize,
) -> Result<u32, Dropped> {
    let frame_missing = (frame.wire_len as usize).saturating_sub(frame.data.len());
    if frame_missing == 0 {
        return Err(Dropped::IpLengthExceedsFrame);
    }
    let missing = expected.saturating_sub(captured).min(frame_missing);
    Ok(u32::try_from(missing).unwrap_or(u32::MAX))
}

/// Turn etherparse's slices into a [`Packet`] (or a tunnel's inner packet), counting.
pub(super) fn from_sliced<'a>(
    frame: &Frame<'a>,
    sliced: LaxSlicedPacket<'a>,
    stats: &mut DecodeStats,
    depth: usize,
    frags: Option<&mut Option<Fragment<'a>>>,
    path: Path,
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
        Some(LaxNetSlice::Arp(_)) => return dropped(stats, Dropped::NonIp),
        None => {
            return match stop_layer {
                None | Some(Layer::Arp) => dropped(stats, Dropped::NonIp),
                Some(
                    Layer::IpHeader
                    | Layer::Ipv4Header
                    | Layer::Ipv4Packet
                    | Layer::Ipv6Header
                    | Layer::Ipv6Packet,
                ) => dropped(stats, Dropped::IpError),
                Some(_) => dropped(stats, Dropped::LinkError),
            }
        }
    };
    // The IP length says how much payload there should be; the frame holds less when the
    // snaplen cut it. If the frame was NOT cut (captured == wire length) the length field lies:
    // a receiver drops such a packet, so we must not feed its bytes to reassembly either.
    let mut missing = 0u32;
    if ip_payload.incomplete {
        missing = match missing_tail(frame, expected_len, ip_payload.payload.len()) {
            Ok(m) => m,
            Err(why) => return dropped(stats, why),
        };
        stats.snaplen_truncated += 1;
    }
    if !ip_payload.fragmented {
        // Tunnels: decode what they carry instead of the outer packet.
        if ip_payload.ip_number == etherparse::IpNumber::GRE {
            return match tunnel::gre(ip_payload.payload, stats) {
                Some(inner) => decode_network(inner, frame, stats, depth, frags, path),
                None => dropped(stats, Dropped::TunnelError),
            };
        }
        if let Some(TransportSlice::Udp(udp)) = &sliced.transport {
            if let Some(inner) = tunnel::vxlan(udp.destination_port(), udp.payload(), stats) {
                return match inner {
                    Ok(inner) => decode_network(inner, frame, stats, depth, frags, path),
                    Err(why) => dropped(stats, why),
                };
            }
            let ports = (udp.source_port(), udp.destination_port());
            if let Some(inner) = tunnel::teredo(ports, udp.payload(), stats) {
                return decode_network(inner, frame, stats, depth, frags, path);
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
                    missing_tail: missing,
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
                Some(Layer::TcpHeader) => return dropped(stats, Dropped::TcpError),
                Some(Layer::UdpHeader | Layer::UdpPayload) => {
                    return dropped(stats, Dropped::UdpError)
                }
                // Broken IPv4 auth / IPv6 extension headers: no transport to find.
                Some(_) => return dropped(stats, Dropped::IpError),
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
mod tests {
    use super::super::testutil::*;
    use super::super::{decode, DecodeStats, Transport};
    use crate::flow::seq::SeqNumber;
    use crate::source::{Frame, LinkType};
    use analyzer::time::Timestamp;
    use etherparse::PacketBuilder;
    use std::net::{IpAddr, Ipv6Addr};

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
        udp,
        LinkType::RawIp,
        build_udp(
            PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64).udp(53, 5353),
            b"dns"
        ),
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
        udp_length_field_limits_the_payload,
        LinkType::RawIp,
        {
            let mut v = build_udp(
                PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64).udp(53, 5353),
                b"dns+trailer",
            );
            v[24..26].copy_from_slice(&11u16.to_be_bytes()); // UDP length: 8 + "dns"
            v
        },
        |p, _s| {
            assert!(matches!(
                p.expect("decodes").transport,
                Transport::Udp {
                    payload: b"dns",
                    ..
                }
            ));
        }
    );

    decodes!(
        icmp_is_other_transport,
        LinkType::RawIp,
        {
            let mut v = ip4_tcp(b"");
            v[9] = 1; // ICMP
            v[20..28].copy_from_slice(&[8, 0, 0, 0, 0, 1, 0, 1]);
            v
        },
        |p, s| {
            assert_eq!(p.expect("decodes").transport, Transport::Other);
            assert_eq!(s.other_transport, 1);
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

    decodes!(
        ip_version_5_is_an_ip_error,
        LinkType::RawIp,
        {
            let mut v = ip4_tcp(PAYLOAD);
            v[0] = 0x55;
            v
        },
        |p, s| {
            assert!(p.is_none());
            assert_eq!(s.ip_errors, 1);
        }
    );

    decodes!(
        ihl_below_five_is_an_ip_error,
        LinkType::RawIp,
        {
            let mut v = ip4_tcp(PAYLOAD);
            v[0] = 0x44;
            v
        },
        |p, s| {
            assert!(p.is_none());
            assert_eq!(s.ip_errors, 1);
        }
    );

    decodes!(
        tcp_data_offset_below_five_is_a_tcp_error,
        LinkType::RawIp,
        {
            let mut v = ip4_tcp(PAYLOAD);
            v[20 + 12] = 0x40;
            v
        },
        |p, s| {
            assert!(p.is_none());
            assert_eq!(s.tcp_errors, 1);
        }
    );

    decodes!(
        cut_udp_header_is_a_udp_error,
        LinkType::RawIp,
        {
            let mut v = build_udp(
                PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64).udp(53, 5353),
                b"",
            );
            v.truncate(24);
            v[2..4].copy_from_slice(&24u16.to_be_bytes());
            v
        },
        |p, s| {
            assert!(p.is_none());
            assert_eq!(s.udp_errors, 1);
        }
    );

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
    fn missing_tail_is_at_most_what_the_capture_cut() {
        // The IP length claims 1,000 more bytes, the capture cut only 10 of them.
        let mut v = ip4_tcp(PAYLOAD);
        let total = u16::try_from(v.len() + 1000).expect("small");
        v[2..4].copy_from_slice(&total.to_be_bytes());
        let f = Frame {
            ts: Timestamp(1),
            link: LinkType::RawIp,
            data: &v,
            wire_len: v.len() as u32 + 10,
        };
        let mut s = DecodeStats::default();
        match decode(&f, &mut s).expect("decodes").transport {
            Transport::Tcp(t) => assert_eq!((t.payload, t.missing_tail), (PAYLOAD, 10)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn ipv6_snaplen_cut_reports_missing_tail() {
        let full = build(
            PacketBuilder::ipv6([1; 16], [2; 16], 64).tcp(1, 2, 3, 4),
            &[b'q'; 50],
        );
        let f = Frame {
            ts: Timestamp(1),
            link: LinkType::Ipv6,
            data: &full[..full.len() - 20],
            wire_len: full.len() as u32,
        };
        let mut s = DecodeStats::default();
        match decode(&f, &mut s).expect("decodes").transport {
            Transport::Tcp(t) => assert_eq!((t.payload.len(), t.missing_tail), (30, 20)),
            other => panic!("{other:?}"),
        }
        assert_eq!(s.snaplen_truncated, 1);
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
}
