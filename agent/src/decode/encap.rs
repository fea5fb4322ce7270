//! Encapsulations between the link header and IP: VLAN tags, MPLS label stacks, PPPoE.
//!
//! - VLAN tags: IEEE 802.1Q (TPID 0x8100), 802.1ad provider bridging (0x88a8, QinQ) and the
//!   pre-standard 0x9100: a 2-byte TCI, then the next EtherType. Stacked tags are peeled one
//!   step at a time (each counts towards `MAX_ENCAP_DEPTH`); each is one `encap_vlan`.
//! - MPLS (0x8847 unicast, 0x8848 multicast): the RFC 3032 label stack, then IPv4/IPv6 by
//!   version nibble, or an Ethernet pseudowire behind the RFC 4448 control word.
//! - PPPoE session stage (0x8864, RFC 2516 section 4), carrying PPP (RFC 1661) with IPv4
//!   (0x0021) or IPv6 (0x0057).
//!
//! Each function is one step of the walk in `mod.rs`: it returns the next layer, or why the
//! frame is dropped. Not here: the Ethernet header (`link`), tunnels over IP (`tunnel`).

use super::{be16, DecodeStats, Dropped, Network};
use etherparse::EtherType;

pub(super) const ETH_VLAN: [u16; 3] = [0x8100, 0x88a8, 0x9100];
pub(super) const ETH_MPLS: [u16; 2] = [0x8847, 0x8848];
pub(super) const ETH_PPPOE_SESSION: u16 = 0x8864;

/// One VLAN tag (IEEE 802.1Q): TCI, then the next EtherType.
pub(super) fn vlan<'a>(d: &'a [u8], stats: &mut DecodeStats) -> Result<Network<'a>, Dropped> {
    let (Some(next), Some(rest)) = (be16(d, 2), d.get(4..)) else {
        return Err(Dropped::LinkError);
    };
    stats.encap_vlan += 1;
    Ok(Network::Ether(EtherType(next), rest))
}

/// An MPLS label stack (counted even when broken: the EtherType said MPLS).
pub(super) fn mpls<'a>(d: &'a [u8], stats: &mut DecodeStats) -> Result<Network<'a>, Dropped> {
    stats.encap_mpls += 1;
    mpls_payload(d).ok_or(Dropped::TunnelError)
}

/// RFC 3032 label stack entries (4 bytes, bottom-of-stack bit in byte 2), then what the
/// payload looks like: IPv4/IPv6 by version nibble, or an Ethernet pseudowire behind the
/// RFC 4448 control word (first nibble 0).
fn mpls_payload(d: &[u8]) -> Option<Network<'_>> {
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

/// A PPPoE session header (counted even when broken).
pub(super) fn pppoe<'a>(d: &'a [u8], stats: &mut DecodeStats) -> Result<Network<'a>, Dropped> {
    // RFC 2516 section 4: 6-byte PPPoE header, then the PPP protocol (RFC 1661 section 2),
    // which may be compressed to one byte (an odd first byte, RFC 1661 section 6.5).
    stats.encap_pppoe += 1;
    let (proto, at) = match d.get(6) {
        Some(&b) if b & 1 == 1 => (Some(u16::from(b)), 7),
        _ => (be16(d, 6), 8),
    };
    match (proto, d.get(at..)) {
        (Some(0x0021 | 0x0057), Some(ip)) => Ok(Network::Ip(ip)),
        (Some(_), Some(_)) => Err(Dropped::NonIp),
        _ => Err(Dropped::TunnelError),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use crate::source::LinkType;
    use etherparse::{PacketBuilder, VlanId};

    /// MPLS labels (the last one bottom-of-stack) in front of `rest`.
    fn labels(n: usize, rest: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        for i in 0..n {
            let bos = u8::from(i + 1 == n);
            v.extend_from_slice(&[0x00, 0x01, bos, 64]);
        }
        v.extend_from_slice(rest);
        v
    }

    /// A PPPoE session header with a 2-byte PPP protocol in front of `rest`.
    fn pppoe(proto: &[u8], rest: &[u8]) -> Vec<u8> {
        let len = u16::try_from(proto.len() + rest.len()).expect("small");
        let mut v = vec![0x11, 0x00, 0x00, 0x01];
        v.extend_from_slice(&len.to_be_bytes());
        v.extend_from_slice(proto);
        v.extend_from_slice(rest);
        v
    }

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
            assert_eq!((s.tcp, s.encap_vlan), (1, 1));
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
            assert_eq!((s.tcp, s.encap_vlan), (1, 2));
        }
    );

    decodes!(
        three_tags_including_0x9100,
        LinkType::Ethernet,
        eth(
            0x9100,
            &with_prefix(
                &[0, 1, 0x88, 0xa8, 0, 2, 0x81, 0x00, 0, 3, 0x08, 0x00],
                &ip4_tcp(PAYLOAD)
            )
        ),
        |p, s| {
            expect_tcp4(&p.expect("decodes"));
            assert_eq!(s.encap_vlan, 3);
        }
    );

    decodes!(
        cut_vlan_tag_is_a_link_error,
        LinkType::Ethernet,
        eth(0x8100, &[0, 1, 0x08]),
        |p, s| {
            assert!(p.is_none());
            assert_eq!((s.link_errors, s.encap_vlan), (1, 0));
        }
    );

    decodes!(
        mpls_label_stack_over_ipv4,
        LinkType::Ethernet,
        eth(0x8847, &labels(3, &ip4_tcp(PAYLOAD))),
        |p, s| {
            expect_tcp4(&p.expect("decodes"));
            assert_eq!(s.encap_mpls, 1);
        }
    );

    decodes!(
        mpls_ethernet_pseudowire_with_control_word,
        LinkType::Ethernet,
        eth(
            0x8848,
            &labels(
                1,
                &with_prefix(&[0, 0, 0, 0], &eth(0x0800, &ip4_tcp(PAYLOAD)))
            )
        ),
        |p, s| {
            expect_tcp4(&p.expect("decodes"));
            assert_eq!(s.encap_mpls, 1);
        }
    );

    decodes!(
        mpls_without_bottom_of_stack_is_a_tunnel_error,
        LinkType::Ethernet,
        eth(0x8847, &[0, 1, 0, 64, 0, 2, 0, 64]),
        |p, s| {
            assert!(p.is_none());
            assert_eq!((s.encap_mpls, s.tunnel_errors), (1, 1));
        }
    );

    decodes!(
        mpls_unknown_payload_is_a_tunnel_error,
        LinkType::Ethernet,
        eth(0x8847, &labels(1, &[0x90; 30])),
        |p, s| {
            assert!(p.is_none());
            assert_eq!(s.tunnel_errors, 1);
        }
    );

    decodes!(
        pppoe_ipv4,
        LinkType::Ethernet,
        eth(0x8864, &pppoe(&[0x00, 0x21], &ip4_tcp(PAYLOAD))),
        |p, s| {
            expect_tcp4(&p.expect("decodes"));
            assert_eq!(s.encap_pppoe, 1);
        }
    );

    decodes!(
        pppoe_compressed_protocol_field,
        LinkType::Ethernet,
        eth(0x8864, &pppoe(&[0x21], &ip4_tcp(PAYLOAD))),
        |p, s| {
            expect_tcp4(&p.expect("decodes"));
            assert_eq!(s.encap_pppoe, 1);
        }
    );

    decodes!(
        pppoe_lcp_is_not_ip,
        LinkType::Ethernet,
        eth(0x8864, &pppoe(&[0xc0, 0x21], &[1, 1, 0, 4])),
        |p, s| {
            assert!(p.is_none());
            assert_eq!((s.encap_pppoe, s.non_ip), (1, 1));
        }
    );

    decodes!(
        pppoe_cut_header_is_a_tunnel_error,
        LinkType::Ethernet,
        eth(0x8864, &[0x11, 0, 0, 1, 0]),
        |p, s| {
            assert!(p.is_none());
            assert_eq!((s.encap_pppoe, s.tunnel_errors), (1, 1));
        }
    );
}
