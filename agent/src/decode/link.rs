//! Link layer: where the network layer starts, per capture link type.
//!
//! - Ethernet II (IEEE 802.3 clause 3.2: destination and source MAC, then the EtherType; a
//!   value below 0x0600 is an 802.3 length, i.e. an LLC frame such as STP or CDP: not IP).
//! - Linux cooked capture v1 (`LINKTYPE_LINUX_SLL`, 16-byte header, protocol at offset 14) and
//!   v2 (`LINKTYPE_LINUX_SLL2`, 20-byte header, protocol at offset 0).
//! - BSD Null (4-byte address family in the capturing host's byte order) and OpenBSD Loop
//!   (the same, always network order).
//! - Cisco HDLC (`LINKTYPE_C_HDLC` 104: address, control, then an EtherType).
//! - Raw IP (`LINKTYPE_RAW`, `LINKTYPE_IPV4`, `LINKTYPE_IPV6`).
//!
//! Not here: what follows the link header (VLAN tags, MPLS, PPPoE: `encap`; IP: `ip`), and
//! other link types (counted as `unsupported_link`).

use super::{be16, Dropped, Network};
use crate::source::{Frame, LinkType};
use etherparse::EtherType;

/// BSD address families for IPv4 and IPv6 in a Null/Loop header (IPv6: NetBSD/OpenBSD,
/// FreeBSD, Darwin).
const AF_INET: u32 = 2;
const AF_INET6: [u32; 3] = [24, 28, 30];

/// Cisco HDLC link type number.
const LINKTYPE_C_HDLC: u32 = 104;

/// The first network-layer step of `frame`, by its link type.
pub(super) fn network<'a>(frame: &Frame<'a>) -> Result<Network<'a>, Dropped> {
    let data = frame.data;
    match frame.link {
        LinkType::Ethernet => Ok(Network::Ethernet(data)),
        LinkType::RawIp | LinkType::Ipv4 | LinkType::Ipv6 => Ok(Network::Ip(data)),
        // Linux cooked v1: 16-byte header, protocol (EtherType) at offset 14.
        LinkType::LinuxSll => ether_at(data, 14, 16),
        // Linux cooked v2: 20-byte header, protocol (EtherType) at offset 0.
        LinkType::LinuxSll2 => ether_at(data, 0, 20),
        LinkType::Null | LinkType::Loop => null_loop(data, frame.link == LinkType::Loop),
        // Cisco HDLC: address, control, then an EtherType.
        LinkType::Other(LINKTYPE_C_HDLC) => ether_at(data, 2, 4),
        LinkType::Other(_) => Err(Dropped::UnsupportedLink),
    }
}

/// A link header of `header_len` bytes with the EtherType at `proto_at`.
fn ether_at(data: &[u8], proto_at: usize, header_len: usize) -> Result<Network<'_>, Dropped> {
    match (be16(data, proto_at), data.get(header_len..)) {
        (Some(proto), Some(rest)) => Ok(Network::Ether(EtherType(proto), rest)),
        _ => Err(Dropped::LinkError),
    }
}

/// BSD Null / OpenBSD Loop: a 4-byte address family, then the IP packet.
fn null_loop(data: &[u8], is_loop: bool) -> Result<Network<'_>, Dropped> {
    let Some(family) = data.get(..4).and_then(|b| <[u8; 4]>::try_from(b).ok()) else {
        return Err(Dropped::LinkError);
    };
    // Null is in the capturing host's byte order, which the file does not record: accept
    // either. Loop is always network order.
    let be = u32::from_be_bytes(family);
    let le = u32::from_le_bytes(family);
    let is_ip = |f: u32| f == AF_INET || AF_INET6.contains(&f);
    let ok = if is_loop {
        is_ip(be)
    } else {
        is_ip(be) || is_ip(le)
    };
    if !ok {
        return Err(Dropped::NonIp);
    }
    Ok(Network::Ip(data.get(4..).unwrap_or_default()))
}

/// An Ethernet II header: destination and source MAC, then the EtherType (IEEE 802.3 clause
/// 3.2).
pub(super) fn ethernet(d: &[u8]) -> Result<Network<'_>, Dropped> {
    let (Some(t), Some(rest)) = (be16(d, 12), d.get(14..)) else {
        return Err(Dropped::LinkError);
    };
    if t < 0x0600 {
        // An 802.3 length field (LLC frames: STP, CDP...): not IP.
        return Err(Dropped::NonIp);
    }
    Ok(Network::Ether(EtherType(t), rest))
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::super::{decode, DecodeStats, Transport};
    use crate::source::LinkType;
    use etherparse::PacketBuilder;

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
        ethernet_802_3_length_is_not_ip,
        LinkType::Ethernet,
        with_prefix(
            &[1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 0x00, 0x26],
            &[0x42; 38]
        ),
        |p, s| {
            assert!(p.is_none());
            assert_eq!(s.non_ip, 1);
        }
    );

    decodes!(
        ethernet_arp_is_not_ip,
        LinkType::Ethernet,
        with_prefix(&[0xff; 12], &with_prefix(&[0x08, 0x06], &[0; 28])),
        |p, s| {
            assert!(p.is_none());
            assert_eq!(s.non_ip, 1);
        }
    );

    decodes!(short_ethernet, LinkType::Ethernet, vec![1, 2, 3], |p, s| {
        assert!(p.is_none());
        assert_eq!(s.link_errors, 1);
    });

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

    decodes!(null_short_header, LinkType::Null, vec![2, 0], |p, s| {
        assert!(p.is_none());
        assert_eq!(s.link_errors, 1);
    });

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
        cisco_hdlc,
        LinkType::Other(104),
        with_prefix(&[0x0f, 0x00, 0x08, 0x00], &ip4_tcp(PAYLOAD)),
        |p, s| {
            expect_tcp4(&p.expect("decodes"));
            assert_eq!(s.tcp, 1);
        }
    );

    decodes!(
        cisco_hdlc_short_header,
        LinkType::Other(104),
        vec![0x0f, 0x00, 0x08],
        |p, s| {
            assert!(p.is_none());
            assert_eq!(s.link_errors, 1);
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

    #[test]
    fn every_link_type_gives_the_same_packet() {
        let ip = ip4_tcp(PAYLOAD);
        let eth = build(
            PacketBuilder::ethernet2([1; 6], [2; 6])
                .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
                .tcp(40000, 80, 1000, 1024)
                .ack(77)
                .psh(),
            PAYLOAD,
        );
        let frames = [
            (LinkType::Ethernet, eth),
            (LinkType::RawIp, ip.clone()),
            (LinkType::LinuxSll, sll(0x0800, &ip)),
            (LinkType::LinuxSll2, sll2(0x0800, &ip)),
            (LinkType::Null, with_prefix(&[2, 0, 0, 0], &ip)),
            (LinkType::Loop, with_prefix(&[0, 0, 0, 2], &ip)),
            (LinkType::Other(104), with_prefix(&[0x0f, 0, 0x08, 0], &ip)),
        ];
        let mut s = DecodeStats::default();
        let packets: Vec<_> = frames
            .iter()
            .map(|(link, data)| decode(&frame(*link, data), &mut s).expect("decodes"))
            .collect();
        assert!(packets.windows(2).all(|w| w[0] == w[1]));
        assert_eq!(s.tcp, frames.len() as u64);
    }
}
