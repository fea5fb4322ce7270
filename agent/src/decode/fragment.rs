//! IP fragments at decode time: spotting them for the defragmenter, and turning a reassembled
//! datagram back into an IP packet.
//!
//! [`fragment_of`] recognises an IPv4 fragment (MF flag or a non-zero offset, RFC 791 section
//! 3.1/3.2) or an IPv6 packet with a fragment header (RFC 8200 section 4.5, reached through
//! hop-by-hop, routing and destination options headers, section 4.1) and returns what the
//! [`crate::defrag::Defragmenter`] keys and orders it by. An atomic IPv6 fragment (offset 0, M
//! clear, RFC 6946) is a whole datagram and is not one. [`rebuild`] writes a fragment-free IP
//! header in front of a reassembled payload, so the datagram is decoded like any other packet.
//!
//! Not here: reassembly itself and its bounds (`crate::defrag`), header validation beyond what
//! keying needs (a packet too broken to key goes the ordinary way and is counted there).

use super::be16;
use crate::defrag::{FragKey, Fragment};
use std::net::IpAddr;

/// If `d` is an IP fragment, what the defragmenter needs. `None` for whole datagrams and for
/// headers too broken to tell (the ordinary path then judges and counts them).
pub(super) fn fragment_of(d: &[u8]) -> Option<Fragment<'_>> {
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

/// An IP header without fragmentation for `payload` of the datagram `key` (into `out`).
/// False when the datagram is too long for the header's length field.
pub(super) fn rebuild(key: &FragKey, payload: &[u8], out: &mut Vec<u8>) -> bool {
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

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;
    use etherparse::{LaxSlicedPacket, PacketBuilder};

    /// An IPv6 TCP packet whose next header chain is `exts` (each an 8-byte header naming
    /// the next), the last followed by TCP.
    fn ip6_with(exts: &[(u8, [u8; 8])]) -> Vec<u8> {
        let tcp = build(
            PacketBuilder::ipv6([1; 16], [2; 16], 64).tcp(1, 2, 3, 4),
            PAYLOAD,
        );
        let mut v = tcp[..40].to_vec();
        let mut body = Vec::new();
        for (_, h) in exts {
            body.extend_from_slice(h);
        }
        body.extend_from_slice(&tcp[40..]);
        let len = u16::try_from(body.len()).expect("small");
        v[4..6].copy_from_slice(&len.to_be_bytes());
        v[6] = exts.first().map_or(6, |e| e.0);
        v.extend_from_slice(&body);
        v
    }

    #[test]
    fn whole_ipv4_packets_are_not_fragments() {
        assert_eq!(fragment_of(&ip4_tcp(PAYLOAD)), None);
        assert_eq!(fragment_of(&[]), None);
    }

    #[test]
    fn ipv4_more_fragments_and_offset() {
        let mut v = ip4_tcp(PAYLOAD);
        v[4..6].copy_from_slice(&0x1234u16.to_be_bytes());
        v[6] = 0x20; // MF, offset 0
        let f = fragment_of(&v).expect("fragment");
        assert_eq!((f.offset, f.more, f.truncated), (0, true, false));
        assert_eq!((f.key.id, f.key.proto), (0x1234, 6));
        assert_eq!(f.key.src, IpAddr::from([10, 0, 0, 1]));
        assert_eq!(f.payload.len(), v.len() - 20);

        v[6..8].copy_from_slice(&3u16.to_be_bytes()); // last fragment at offset 24
        let f = fragment_of(&v).expect("fragment");
        assert_eq!((f.offset, f.more), (24, false));

        // Cut by the capture: the fragment says so.
        let f = fragment_of(&v[..v.len() - 5]).expect("fragment");
        assert!(f.truncated);
    }

    #[test]
    fn ipv4_fragment_with_a_broken_header_goes_the_ordinary_way() {
        let mut v = ip4_tcp(PAYLOAD);
        v[6] = 0x20;
        v[0] = 0x44; // IHL 16 bytes
        assert_eq!(fragment_of(&v), None);
    }

    #[test]
    fn ipv6_fragment_header_after_hop_by_hop() {
        // Hop-by-hop (next: fragment), fragment header (next: TCP, offset 2 x 8, M set).
        let v = ip6_with(&[
            (0, [44, 0, 1, 4, 0, 0, 0, 0]),
            (44, [6, 0, 0, 0x11, 0, 0, 0, 9]),
        ]);
        let f = fragment_of(&v).expect("fragment");
        assert_eq!((f.offset, f.more, f.key.id, f.key.proto), (16, true, 9, 6));
        assert_eq!(f.payload.len(), v.len() - 56);
    }

    #[test]
    fn atomic_ipv6_fragment_is_a_whole_datagram() {
        let v = ip6_with(&[(44, [6, 0, 0, 0, 0, 0, 0, 9])]);
        assert_eq!(fragment_of(&v), None);
        assert_eq!(fragment_of(&ip6_with(&[])), None);
    }

    #[test]
    fn rebuilt_headers_decode_as_whole_packets() {
        for (src, dst) in [
            (IpAddr::from([10, 0, 0, 1]), IpAddr::from([10, 0, 0, 2])),
            (IpAddr::from([1u8; 16]), IpAddr::from([2u8; 16])),
        ] {
            let key = FragKey {
                src,
                dst,
                id: 7,
                proto: 17,
            };
            let udp = [0, 53, 0, 54, 0, 11, 0, 0, b'a', b'b', b'c'];
            let mut out = Vec::new();
            assert!(rebuild(&key, &udp, &mut out));
            let sliced = LaxSlicedPacket::from_ip(&out).expect("parses");
            assert!(sliced.stop_err.is_none());
            match sliced.transport {
                Some(etherparse::TransportSlice::Udp(u)) => assert_eq!(u.payload(), b"abc"),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn rebuild_refuses_what_the_length_field_cannot_say() {
        let v4 = FragKey {
            src: IpAddr::from([10, 0, 0, 1]),
            dst: IpAddr::from([10, 0, 0, 2]),
            id: 1,
            proto: 6,
        };
        let mut out = Vec::new();
        assert!(!rebuild(&v4, &vec![0; 65_535 - 19], &mut out));
        assert!(rebuild(&v4, &vec![0; 65_535 - 20], &mut out));
        let mixed = FragKey {
            dst: IpAddr::from([2u8; 16]),
            ..v4
        };
        assert!(!rebuild(&mixed, b"x", &mut out));
    }
}
