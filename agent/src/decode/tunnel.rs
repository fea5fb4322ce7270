//! Tunnels over IP that mirror sessions and overlays use: GRE, ERSPAN (inside GRE), VXLAN.
//!
//! - GRE (IP protocol 47): RFC 2784 header with the RFC 2890 key and sequence number fields;
//!   version 0 only (version 1 is PPTP's enhanced GRE, PPP inside: not a mirror
//!   encapsulation). Carries IPv4/IPv6, Ethernet (transparent Ethernet bridging, 0x6558) or
//!   ERSPAN.
//! - ERSPAN type I (no header), type II (8-byte header; GRE sequence bit set) on 0x88be, and
//!   type III (12-byte header, plus an 8-byte platform subheader when the O flag is set) on
//!   0x22eb, each followed by the mirrored Ethernet frame.
//! - VXLAN (RFC 7348 section 5): UDP destination port 4789, an 8-byte header whose I flag
//!   (0x08) marks a valid VNI, then an Ethernet frame. Without the I flag the datagram is
//!   plain UDP.
//!
//! - Teredo (RFC 4380): UDP port 3544 either way, optional authentication and origin
//!   indication headers, then an IPv6 packet. Datagrams that are not IPv6 after the indicators
//!   (bubbles, other traffic on the port) stay plain UDP.
//!
//! Each layer is counted (`tunnel_gre`, `tunnel_erspan`, `tunnel_vxlan`, `tunnel_teredo`); a
//! header too short
//! or malformed is a `tunnel_errors`. The inner frame continues the walk in `mod.rs` (and its
//! depth count). Not here: the outer IP/UDP header (`ip`), MPLS and PPPoE (`encap`).

use super::{be16, DecodeStats, Dropped, Network, ETH_IPV4, ETH_IPV6};
use etherparse::EtherType;

const ETH_TEB: u16 = 0x6558;
const ETH_ERSPAN_1_2: u16 = 0x88be;
const ETH_ERSPAN_3: u16 = 0x22eb;
pub(super) const VXLAN_PORT: u16 = 4789;
pub(super) const TEREDO_PORT: u16 = 3544;

/// What a GRE packet (RFC 2784, with the RFC 2890 key and sequence fields) carries; `None`
/// when the header is broken (the caller counts a `tunnel_errors`).
pub(super) fn gre<'a>(d: &'a [u8], stats: &mut DecodeStats) -> Option<Network<'a>> {
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

/// A UDP datagram to `dst_port` with `payload`: `None` when it is not VXLAN, else the inner
/// Ethernet frame or why it is dropped.
pub(super) fn vxlan<'a>(
    dst_port: u16,
    payload: &'a [u8],
    stats: &mut DecodeStats,
) -> Option<Result<Network<'a>, Dropped>> {
    // RFC 7348 section 5: 8-byte header whose I flag (0x08) marks a valid VNI.
    if dst_port != VXLAN_PORT || payload.first().is_none_or(|f| f & 0x08 == 0) {
        return None;
    }
    stats.tunnel_vxlan += 1;
    Some(match payload.get(8..) {
        Some(inner) => Ok(Network::Ethernet(inner)),
        None => Err(Dropped::TunnelError),
    })
}

/// A UDP datagram between `ports`: `None` when it is not Teredo-carried IPv6, else the inner
/// IPv6 packet.
pub(super) fn teredo<'a>(
    ports: (u16, u16),
    payload: &'a [u8],
    stats: &mut DecodeStats,
) -> Option<Network<'a>> {
    if ports.0 != TEREDO_PORT && ports.1 != TEREDO_PORT {
        return None;
    }
    let mut rest = payload;
    // RFC 4380 section 5.1.1: an authentication indicator (0x0001, id-len, au-len, client id,
    // authentication value, 8-byte nonce, confirmation byte), then an origin indication
    // (0x0000 and 6 bytes), each optional and in that order.
    if rest.starts_with(&[0x00, 0x01]) {
        let (id_len, au_len) = (usize::from(*rest.get(2)?), usize::from(*rest.get(3)?));
        rest = rest.get(4 + id_len + au_len + 9..)?;
    }
    if rest.starts_with(&[0x00, 0x00]) {
        rest = rest.get(8..)?;
    }
    // An IPv6 header: version 6 and room for the fixed 40 bytes.
    if rest.len() < 40 || rest[0] >> 4 != 6 {
        return None;
    }
    stats.tunnel_teredo += 1;
    Some(Network::Ip(rest))
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::super::{decode, DecodeStats, Transport, MAX_ENCAP_DEPTH};
    use crate::source::LinkType;
    use etherparse::PacketBuilder;

    /// An Ethernet + IPv4 header for an outer packet of protocol `proto` around `payload`.
    fn outer_ipv4(proto: u8, payload: &[u8]) -> Vec<u8> {
        let total = u16::try_from(20 + payload.len()).expect("small");
        let mut ip = vec![0x45, 0];
        ip.extend_from_slice(&total.to_be_bytes());
        ip.extend_from_slice(&[0, 0, 0, 0, 64, proto, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2]);
        ip.extend_from_slice(payload);
        eth(0x0800, &ip)
    }

    /// A GRE header with `flags` and protocol `proto` (optional fields zero) around `inner`.
    fn gre(flags: u16, proto: u16, inner: &[u8]) -> Vec<u8> {
        let mut v = flags.to_be_bytes().to_vec();
        v.extend_from_slice(&proto.to_be_bytes());
        for bit in [0x8000u16, 0x2000, 0x1000] {
            if flags & bit != 0 {
                v.extend_from_slice(&[0; 4]);
            }
        }
        v.extend_from_slice(inner);
        v
    }

    /// A UDP datagram to port 4789 with a VXLAN header (`flags`) around `inner`.
    fn vxlan(flags: u8, inner: &[u8]) -> Vec<u8> {
        build_udp(
            PacketBuilder::ethernet2([3; 6], [4; 6])
                .ipv4([192, 0, 2, 1], [192, 0, 2, 2], 64)
                .udp(49152, 4789),
            &[&[flags, 0, 0, 0, 0, 0, 42, 0][..], inner].concat(),
        )
    }

    fn inner_eth() -> Vec<u8> {
        eth(0x0800, &ip4_tcp(PAYLOAD))
    }

    decodes!(
        gre_ipv4,
        LinkType::Ethernet,
        outer_ipv4(47, &gre(0, 0x0800, &ip4_tcp(PAYLOAD))),
        |p, s| {
            expect_tcp4(&p.expect("decodes"));
            assert_eq!((s.tunnel_gre, s.tcp), (1, 1));
        }
    );

    decodes!(
        gre_with_checksum_key_and_sequence,
        LinkType::Ethernet,
        outer_ipv4(47, &gre(0xb000, 0x0800, &ip4_tcp(PAYLOAD))),
        |p, s| {
            expect_tcp4(&p.expect("decodes"));
            assert_eq!(s.tunnel_gre, 1);
        }
    );

    decodes!(
        gre_transparent_ethernet_bridging,
        LinkType::Ethernet,
        outer_ipv4(47, &gre(0x2000, 0x6558, &inner_eth())),
        |p, s| {
            expect_tcp4(&p.expect("decodes"));
            assert_eq!(s.tunnel_gre, 1);
        }
    );

    decodes!(
        gre_version_1_is_a_tunnel_error,
        LinkType::Ethernet,
        outer_ipv4(47, &gre(0x0001, 0x880b, &[0; 8])),
        |p, s| {
            assert!(p.is_none());
            assert_eq!((s.tunnel_gre, s.tunnel_errors), (0, 1));
        }
    );

    decodes!(
        gre_cut_optional_fields_are_a_tunnel_error,
        LinkType::Ethernet,
        outer_ipv4(47, &[0x30, 0, 0x08, 0, 0, 0]),
        |p, s| {
            assert!(p.is_none());
            assert_eq!(s.tunnel_errors, 1);
        }
    );

    decodes!(
        erspan_type_1,
        LinkType::Ethernet,
        outer_ipv4(47, &gre(0, 0x88be, &inner_eth())),
        |p, s| {
            expect_tcp4(&p.expect("decodes"));
            assert_eq!((s.tunnel_gre, s.tunnel_erspan), (1, 1));
        }
    );

    decodes!(
        erspan_type_2,
        LinkType::Ethernet,
        outer_ipv4(
            47,
            &gre(
                0x1000,
                0x88be,
                &with_prefix(&[0x10, 0, 0, 1, 0, 0, 0, 0], &inner_eth())
            )
        ),
        |p, s| {
            expect_tcp4(&p.expect("decodes"));
            assert_eq!(s.tunnel_erspan, 1);
        }
    );

    decodes!(
        erspan_type_3_with_and_without_subheader,
        LinkType::Ethernet,
        {
            let mut h = vec![0x20, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1]; // O flag set
            h.extend_from_slice(&[0; 8]);
            outer_ipv4(47, &gre(0x1000, 0x22eb, &with_prefix(&h, &inner_eth())))
        },
        |p, s| {
            expect_tcp4(&p.expect("decodes"));
            assert_eq!(s.tunnel_erspan, 1);
            let plain = outer_ipv4(
                47,
                &gre(
                    0x1000,
                    0x22eb,
                    &with_prefix(&[0x20, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0], &inner_eth()),
                ),
            );
            expect_tcp4(&decode(&frame(LinkType::Ethernet, &plain), &mut s).expect("decodes"));
        }
    );

    decodes!(
        erspan_type_3_cut_header_is_a_tunnel_error,
        LinkType::Ethernet,
        outer_ipv4(47, &gre(0x1000, 0x22eb, &[0x20, 0, 0, 1])),
        |p, s| {
            assert!(p.is_none());
            assert_eq!((s.tunnel_erspan, s.tunnel_errors), (1, 1));
        }
    );

    decodes!(
        vxlan_inner_frame,
        LinkType::Ethernet,
        vxlan(0x08, &inner_eth()),
        |p, s| {
            expect_tcp4(&p.expect("decodes"));
            assert_eq!((s.tunnel_vxlan, s.udp, s.tcp), (1, 0, 1));
        }
    );

    /// IPv6 + TCP carrying `PAYLOAD`, as Teredo wraps it.
    fn ip6_tcp() -> Vec<u8> {
        let mut v = Vec::new();
        PacketBuilder::ipv6(
            [0x20, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
            [0xfe; 16],
            64,
        )
        .tcp(49152, 80, 1, 1000)
        .write(&mut v, PAYLOAD)
        .expect("build");
        v
    }

    fn teredo(prefix: &[u8], inner: &[u8]) -> Vec<u8> {
        build_udp(
            PacketBuilder::ethernet2([3; 6], [4; 6])
                .ipv4([192, 0, 2, 1], [192, 0, 2, 2], 64)
                .udp(3544, 51000),
            &[prefix, inner].concat(),
        )
    }

    decodes!(
        teredo_ipv6_is_unwrapped,
        LinkType::Ethernet,
        teredo(&[], &ip6_tcp()),
        |p, s| {
            let p = p.expect("decodes");
            assert!(matches!(p.transport, Transport::Tcp(_)), "{p:?}");
            assert_eq!((s.tunnel_teredo, s.udp, s.tcp), (1, 0, 1));
        }
    );

    decodes!(
        teredo_with_authentication_and_origin_indicators,
        LinkType::Ethernet,
        teredo(
            &[
                &[0x00, 0x01, 2, 1, 0xaa, 0xbb, 0xcc][..],
                &[0; 9],
                &[0x00, 0x00, 0x12, 0x34, 1, 2, 3, 4],
            ]
            .concat(),
            &ip6_tcp()
        ),
        |p, s| {
            assert!(matches!(p.expect("decodes").transport, Transport::Tcp(_)));
            assert_eq!(s.tunnel_teredo, 1);
        }
    );

    decodes!(
        a_teredo_bubble_is_plain_udp,
        LinkType::Ethernet,
        teredo(&[0x00, 0x00, 0x12, 0x34, 1, 2, 3, 4], &[0x60, 0, 0, 0]),
        |p, s| {
            assert!(matches!(
                p.expect("decodes").transport,
                Transport::Udp { src_port: 3544, .. }
            ));
            assert_eq!((s.tunnel_teredo, s.udp), (0, 1));
        }
    );

    decodes!(
        port_4789_without_the_i_flag_is_plain_udp,
        LinkType::Ethernet,
        vxlan(0x00, &inner_eth()),
        |p, s| {
            assert!(matches!(
                p.expect("decodes").transport,
                Transport::Udp { dst_port: 4789, .. }
            ));
            assert_eq!((s.tunnel_vxlan, s.udp), (0, 1));
        }
    );

    decodes!(
        vxlan_cut_header_is_a_tunnel_error,
        LinkType::Ethernet,
        build_udp(
            PacketBuilder::ethernet2([3; 6], [4; 6])
                .ipv4([192, 0, 2, 1], [192, 0, 2, 2], 64)
                .udp(49152, 4789),
            &[0x08, 0, 0]
        ),
        |p, s| {
            assert!(p.is_none());
            assert_eq!((s.tunnel_vxlan, s.tunnel_errors), (1, 1));
        }
    );

    #[test]
    fn nesting_past_the_cap_is_counted_and_dropped() {
        // Each VXLAN layer takes three steps (Ethernet, EtherType, IP).
        let mut f = inner_eth();
        for _ in 0..MAX_ENCAP_DEPTH {
            f = vxlan(0x08, &f);
        }
        let mut s = DecodeStats::default();
        assert!(decode(&frame(LinkType::Ethernet, &f), &mut s).is_none());
        assert_eq!(s.encap_depth_exceeded, 1);
        assert!(s.tunnel_vxlan >= 1);
    }
}
