//! IP fragment reassembly through [`Decoder`]: whole datagrams built with etherparse's
//! `PacketBuilder`, then cut into fragments by hand (RFC 791 section 3.2 for IPv4, RFC 8200
//! section 4.5 for IPv6) and fed in various orders.

use super::*;
use crate::source::LinkType;
use etherparse::PacketBuilder;

const MACS: ([u8; 6], [u8; 6]) = ([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);

fn frame(data: &[u8], ts: i64) -> Frame<'_> {
    Frame {
        ts: Timestamp(ts),
        link: LinkType::Ethernet,
        data,
        wire_len: u32::try_from(data.len()).expect("small"),
    }
}

/// An Ethernet frame with an IPv4 TCP segment carrying `payload`.
fn tcp4(payload: &[u8]) -> Vec<u8> {
    let b = PacketBuilder::ethernet2(MACS.0, MACS.1)
        .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
        .tcp(40_000, 80, 1, 65_535);
    let mut out = Vec::new();
    b.write(&mut out, payload).expect("Vec write");
    out
}

/// Cut the IPv4 packet of an Ethernet frame into fragments at `cuts` (payload offsets, each a
/// multiple of 8); `id` goes into every fragment. Returns Ethernet frames in datagram order.
fn fragment4(eth: &[u8], cuts: &[usize], id: u16) -> Vec<Vec<u8>> {
    let ip = &eth[14..];
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    let payload = &ip[ihl..];
    let mut bounds = vec![0];
    bounds.extend_from_slice(cuts);
    bounds.push(payload.len());
    bounds
        .windows(2)
        .map(|w| {
            let (s, e) = (w[0], w[1]);
            let mut f = eth[..14].to_vec();
            let mut h = ip[..ihl].to_vec();
            let total = u16::try_from(ihl + e - s).expect("fits");
            h[2..4].copy_from_slice(&total.to_be_bytes());
            h[4..6].copy_from_slice(&id.to_be_bytes());
            let mf = if e < payload.len() { 0x2000 } else { 0 };
            let off = u16::try_from(s / 8).expect("fits") | mf;
            h[6..8].copy_from_slice(&off.to_be_bytes());
            f.extend_from_slice(&h);
            f.extend_from_slice(&payload[s..e]);
            f
        })
        .collect()
}

/// An Ethernet frame with an IPv6 TCP segment, cut into fragments at `cuts` with a fragment
/// header (next header 44) after the fixed header.
fn fragments6(payload: &[u8], cuts: &[usize], id: u32) -> Vec<Vec<u8>> {
    let b = PacketBuilder::ethernet2(MACS.0, MACS.1)
        .ipv6([0x20; 16], [0x21; 16], 64)
        .tcp(40_000, 80, 1, 65_535);
    let mut whole = Vec::new();
    b.write(&mut whole, payload).expect("Vec write");
    let ip = &whole[14..];
    let upper = &ip[40..];
    let mut bounds = vec![0];
    bounds.extend_from_slice(cuts);
    bounds.push(upper.len());
    bounds
        .windows(2)
        .map(|w| {
            let (s, e) = (w[0], w[1]);
            let mut f = whole[..14].to_vec();
            let mut h = ip[..40].to_vec();
            let plen = u16::try_from(8 + e - s).expect("fits");
            h[4..6].copy_from_slice(&plen.to_be_bytes());
            h[6] = 44;
            f.extend_from_slice(&h);
            let m = u16::from(e < upper.len());
            let off = (u16::try_from(s / 8).expect("fits") << 3) | m;
            f.extend_from_slice(&[6, 0]);
            f.extend_from_slice(&off.to_be_bytes());
            f.extend_from_slice(&id.to_be_bytes());
            f.extend_from_slice(&upper[s..e]);
            f
        })
        .collect()
}

fn tcp_payload(p: &Packet<'_>) -> Vec<u8> {
    match p.transport {
        Transport::Tcp(t) => t.payload.to_vec(),
        other => panic!("not TCP: {other:?}"),
    }
}

const BODY: &[u8] = b"POST /payments HTTP/1.1\r\nHost: api.bank.example\r\nContent-Length: 24\r\n\r\n{\"amount\":\"100.00\",\"x\":1}";

#[test]
fn fragmented_ipv4_tcp_segment_reassembles_in_any_order() {
    let frags = fragment4(&tcp4(BODY), &[24, 56], 7);
    for order in [[0, 1, 2], [2, 1, 0], [1, 2, 0]] {
        let mut d = Decoder::new(DefragLimits::default());
        let mut got = None;
        for (n, &i) in order.iter().enumerate() {
            let out = d
                .decode(&frame(&frags[i], 10 + n as i64))
                .map(|p| tcp_payload(&p));
            if n < 2 {
                assert_eq!(out, None, "order {order:?}");
            } else {
                got = out;
            }
        }
        assert_eq!(got.as_deref(), Some(BODY), "order {order:?}");
        assert_eq!(d.stats.ip_fragments, 3);
        assert_eq!((d.stats.tcp, d.defrag.stats.reassembled), (1, 1));
    }
}

#[test]
fn unfragmented_frames_stay_zero_copy() {
    let whole = tcp4(BODY);
    let mut d = Decoder::new(DefragLimits::default());
    let p = d.decode(&frame(&whole, 1)).expect("decodes");
    match p.transport {
        // The payload points into the frame itself.
        Transport::Tcp(t) => assert!(whole.as_ptr_range().contains(&t.payload.as_ptr())),
        other => panic!("{other:?}"),
    }
    assert_eq!(d.defrag.stats.fragments, 0);
}

#[test]
fn fragmented_ipv6_tcp_segment_reassembles() {
    let frags = fragments6(BODY, &[16, 48], 0xdead_beef);
    let mut d = Decoder::new(DefragLimits::default());
    assert!(d.decode(&frame(&frags[1], 1)).is_none());
    assert!(d.decode(&frame(&frags[0], 2)).is_none());
    let p = d.decode(&frame(&frags[2], 3)).expect("complete");
    assert_eq!(tcp_payload(&p), BODY);
    assert!(matches!(p.src, IpAddr::V6(_)));
}

#[test]
fn fragmented_vxlan_packet_reassembles_and_decodes_the_inner_frame() {
    let inner = tcp4(BODY);
    let mut vx = vec![0x08, 0, 0, 0, 0, 0, 42, 0];
    vx.extend_from_slice(&inner);
    let b = PacketBuilder::ethernet2(MACS.0, MACS.1)
        .ipv4([10, 99, 0, 1], [10, 99, 0, 2], 64)
        .udp(55_555, 4789);
    let mut outer = Vec::new();
    b.write(&mut outer, &vx).expect("Vec write");
    let frags = fragment4(&outer, &[64], 99);
    let mut d = Decoder::new(DefragLimits::default());
    assert!(d.decode(&frame(&frags[1], 1)).is_none());
    let p = d.decode(&frame(&frags[0], 2)).expect("complete");
    assert_eq!(tcp_payload(&p), BODY);
    assert_eq!(p.dst, IpAddr::from([10, 0, 0, 2]));
    assert_eq!(d.stats.tunnel_vxlan, 1);
}

#[test]
fn overlapping_fragments_keep_the_first_copy() {
    let whole = tcp4(BODY);
    let frags = fragment4(&whole, &[32], 5);
    // A crafted fragment over bytes 16..32 with different content, sent before the real one.
    let mut evil = fragment4(&whole, &[16, 32], 5).remove(1);
    let n = evil.len();
    evil[n - 16..].copy_from_slice(&[b'Z'; 16]);
    let mut d = Decoder::new(DefragLimits::default());
    assert!(d.decode(&frame(&evil, 1)).is_none());
    assert!(d.decode(&frame(&frags[0], 2)).is_none());
    let p = d.decode(&frame(&frags[1], 3)).expect("complete");
    // Bytes 16..32 of the IP payload (TCP header offset 16.. and payload 0..12) are the
    // crafted copy: first wins, and the overlap is counted as a conflict.
    let got = tcp_payload(&p);
    assert_eq!(&got[..12], &[b'Z'; 12]);
    assert_eq!(&got[12..], &BODY[12..]);
    assert_eq!(
        (d.defrag.stats.overlaps, d.defrag.stats.overlap_conflicts),
        (1, 1)
    );
}

#[test]
fn incomplete_datagrams_expire_by_packet_time() {
    let frags = fragment4(&tcp4(BODY), &[24], 3);
    let mut d = Decoder::new(DefragLimits::default());
    assert!(d.decode(&frame(&frags[0], 0)).is_none());
    let later = 31 * Timestamp::MICROS_PER_SEC;
    assert!(d.decode(&frame(&frags[1], later)).is_none());
    assert_eq!(d.defrag.stats.expired, 1);
    assert_eq!(d.defrag.stats.reassembled, 0);
}

#[test]
fn a_fragment_flood_stays_within_the_caps() {
    let limits = DefragLimits {
        max_datagrams: 16,
        max_total_bytes: 16 * 1024,
        ..DefragLimits::default()
    };
    let mut d = Decoder::new(limits);
    let whole = tcp4(&[b'x'; 1200]);
    for id in 0..2000u16 {
        // First fragments only: none ever completes.
        let first = fragment4(&whole, &[1000], id).remove(0);
        assert!(d.decode(&frame(&first, i64::from(id))).is_none());
        assert!(d.defrag.stats.held_bytes <= 16 * 1024);
        assert!(d.defrag.stats.datagrams <= 16);
    }
    let s = &d.defrag.stats;
    assert_eq!(s.fragments, 2000);
    assert!(s.held_bytes_peak <= 16 * 1024);
    assert_eq!(s.evicted, 2000 - s.datagrams);
    // The table still works afterwards.
    let frags = fragment4(&tcp4(BODY), &[24], 60_000);
    assert!(d.decode(&frame(&frags[0], 3000)).is_none());
    assert!(d.decode(&frame(&frags[1], 3001)).is_some());
}

mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Arbitrary fragments (any offset, flags, length, a few datagram ids, IPv4 or IPv6
        /// headers with arbitrary tails) never panic, and the held bytes never pass the cap.
        #[test]
        fn arbitrary_fragments_never_panic_and_stay_bounded(
            frags in proptest::collection::vec(
                (0u16..8, 0u16..0x2000, any::<bool>(), proptest::collection::vec(any::<u8>(), 0..300)),
                1..60,
            )
        ) {
            let limits = DefragLimits {
                max_datagrams: 4,
                max_total_bytes: 2048,
                ..DefragLimits::default()
            };
            let mut d = Decoder::new(limits);
            for (n, (id, off, more, body)) in frags.iter().enumerate() {
                let mut f = MACS.0.to_vec();
                f.extend_from_slice(&MACS.1);
                f.extend_from_slice(&[0x08, 0x00]);
                let total = u16::try_from(20 + body.len()).unwrap_or(u16::MAX);
                f.extend_from_slice(&[0x45, 0]);
                f.extend_from_slice(&total.to_be_bytes());
                f.extend_from_slice(&id.to_be_bytes());
                let word = off | if *more { 0x2000 } else { 0 };
                f.extend_from_slice(&word.to_be_bytes());
                f.extend_from_slice(&[64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
                f.extend_from_slice(body);
                let _ = d.decode(&frame(&f, i64::try_from(n).unwrap_or(0)));
                prop_assert!(d.defrag.stats.held_bytes <= 2048);
                prop_assert!(d.defrag.stats.datagrams <= 4);
            }
        }
    }
}
