//! Test helpers shared by the layer files: frames built with etherparse's `PacketBuilder`
//! (not hand bytes, where the builder can make them) and the `decodes!` table-test macro.

use super::{Packet, TcpSegment, Transport};
use crate::flow::seq::SeqNumber;
use crate::source::{Frame, LinkType};
use analyzer::time::Timestamp;
use std::net::{IpAddr, Ipv4Addr};

pub(super) const PAYLOAD: &[u8] = b"GET /api/v1/users HTTP/1.1\r\nHost: x\r\n\r\n";

/// Write a built TCP packet with `payload` into a new buffer.
pub(super) fn build(
    builder: etherparse::PacketBuilderStep<etherparse::TcpHeader>,
    payload: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(builder.size(payload.len()));
    builder.write(&mut out, payload).expect("write to Vec");
    out
}

/// Write a built UDP packet with `payload` into a new buffer.
pub(super) fn build_udp(
    builder: etherparse::PacketBuilderStep<etherparse::UdpHeader>,
    payload: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(builder.size(payload.len()));
    builder.write(&mut out, payload).expect("write to Vec");
    out
}

/// Raw IPv4 TCP packet: 10.0.0.1:40000 -> 10.0.0.2:80, seq 1000, ack 77, PSH+ACK.
pub(super) fn ip4_tcp(payload: &[u8]) -> Vec<u8> {
    build(
        etherparse::PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .tcp(40000, 80, 1000, 1024)
            .ack(77)
            .psh(),
        payload,
    )
}

/// An Ethernet header (EtherType `ether_type`) in front of `rest`.
pub(super) fn eth(ether_type: u16, rest: &[u8]) -> Vec<u8> {
    let mut v = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1];
    v.extend_from_slice(&ether_type.to_be_bytes());
    v.extend_from_slice(rest);
    v
}

/// A complete frame (captured == wire length) at timestamp 42.
pub(super) fn frame(link: LinkType, data: &[u8]) -> Frame<'_> {
    Frame {
        ts: Timestamp(42),
        link,
        data,
        wire_len: data.len() as u32,
    }
}

pub(super) fn with_prefix(prefix: &[u8], rest: &[u8]) -> Vec<u8> {
    let mut v = prefix.to_vec();
    v.extend_from_slice(rest);
    v
}

/// A Linux cooked v1 header with protocol `proto` in front of `rest`.
pub(super) fn sll(proto: u16, rest: &[u8]) -> Vec<u8> {
    let mut h = vec![0, 0, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0];
    h.extend_from_slice(&proto.to_be_bytes());
    with_prefix(&h, rest)
}

/// A Linux cooked v2 header with protocol `proto` in front of `rest`.
pub(super) fn sll2(proto: u16, rest: &[u8]) -> Vec<u8> {
    let mut h = proto.to_be_bytes().to_vec();
    h.extend_from_slice(&[0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0]);
    with_prefix(&h, rest)
}

/// Assert `p` is [`ip4_tcp`]'s segment (with [`PAYLOAD`]); returns it without the payload.
pub(super) fn expect_tcp4(p: &Packet<'_>) -> TcpSegment<'static> {
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

/// One input, one closure of asserts (httparse's `req!` style): decodes `$bytes` as a
/// complete frame of link type `$link` and runs `$body` with the packet and the counters.
macro_rules! decodes {
    ($name:ident, $link:expr, $bytes:expr, |$p:ident, $s:ident| $body:block) => {
        #[test]
        fn $name() {
            let bytes: Vec<u8> = $bytes;
            let mut $s = $crate::decode::DecodeStats::default();
            let $p =
                $crate::decode::decode(&$crate::decode::testutil::frame($link, &bytes), &mut $s);
            assert_eq!($s.frames, 1);
            $body
        }
    };
}
pub(super) use decodes;
