//! Flow identity: the directional [`FlowTuple`] of one packet and the canonical [`FlowKey`] of
//! its connection.
//!
//! Both directions of a connection map to the same `FlowKey` (the smaller endpoint first) plus
//! a [`Side`] saying which endpoint sent the packet, in the manner of retina's `FiveTuple` /
//! `ConnId`. The key is only about addresses and ports: which endpoint is the *client* is the
//! flow table's call (it needs SYN flags), not this module's.
//!
//! On the packet path the table uses `ConnKey`, the same canonical key packed into plain
//! integers (`Endpoint`: family, 128-bit address, port), ordered exactly like `SocketAddr`
//! (IPv4 before IPv6, then address, then port) so it picks the same `lo`/`hi` as `FlowKey`,
//! and hashed as five words.
//!
//! [`shard_hash`] gives a dispatcher a worker for a decoded [`Packet`]: the same for both
//! directions of a connection, and equal to [`FlowTuple::shard_hash`] of the packet's tuple.

use crate::decode::{Packet, Transport};
use std::hash::{BuildHasher, Hash, Hasher};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Source and destination of one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlowTuple {
    pub src: SocketAddr,
    pub dst: SocketAddr,
}

/// Which endpoint of a [`FlowKey`] sent a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The packet came from `FlowKey::lo`.
    Lo,
    /// The packet came from `FlowKey::hi`.
    Hi,
}

impl Side {
    pub fn other(self) -> Side {
        match self {
            Side::Lo => Side::Hi,
            Side::Hi => Side::Lo,
        }
    }
}

/// A connection's endpoints in canonical order: `lo <= hi` (by `SocketAddr` ordering, address
/// then port). The same for both directions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlowKey {
    pub lo: SocketAddr,
    pub hi: SocketAddr,
}

impl FlowTuple {
    pub fn new(src: SocketAddr, dst: SocketAddr) -> FlowTuple {
        FlowTuple { src, dst }
    }

    /// The same connection seen from the other side.
    pub fn reverse(self) -> FlowTuple {
        FlowTuple {
            src: self.dst,
            dst: self.src,
        }
    }

    /// The canonical key and which side of it sent this packet. A packet from an endpoint to
    /// itself (src == dst) is `Side::Lo`.
    pub fn canonical(self) -> (FlowKey, Side) {
        if self.src <= self.dst {
            (
                FlowKey {
                    lo: self.src,
                    hi: self.dst,
                },
                Side::Lo,
            )
        } else {
            (
                FlowKey {
                    lo: self.dst,
                    hi: self.src,
                },
                Side::Hi,
            )
        }
    }

    /// [`FlowKey::shard_hash`] of this packet's connection: equal for both directions.
    pub fn shard_hash(self, seed: u64) -> u64 {
        self.canonical().0.shard_hash(seed)
    }
}

impl FlowKey {
    /// The endpoint on `side`.
    pub fn endpoint(&self, side: Side) -> SocketAddr {
        match side {
            Side::Lo => self.lo,
            Side::Hi => self.hi,
        }
    }

    /// The packet tuple for traffic sent by `side`.
    pub fn tuple_from(&self, side: Side) -> FlowTuple {
        FlowTuple {
            src: self.endpoint(side),
            dst: self.endpoint(side.other()),
        }
    }

    /// A hash for choosing a worker: the same for both directions (the key is canonical) and
    /// the same in every thread and process given the same `seed`, so independent dispatchers
    /// agree. Pick the seed at random per deployment: with a known seed an attacker could
    /// steer many flows onto one worker. It covers addresses and ports (not an IPv6 flow
    /// label or scope id), and equals [`shard_hash`] of the connection's packets.
    pub fn shard_hash(&self, seed: u64) -> u64 {
        ConnKey::new(Endpoint::from(self.lo), Endpoint::from(self.hi))
            .0
            .shard_hash(seed)
    }
}

/// A hash for choosing the worker of a decoded packet, the same for both directions of its
/// connection: TCP and UDP by addresses and ports (equal to [`FlowTuple::shard_hash`] of the
/// packet's tuple), other transports (ICMP, unreassembled fragments) by the address pair alone
/// (as if both ports were 0), so they are symmetric too. Seeded like
/// [`FlowKey::shard_hash`]: the same in every thread and process given the same `seed`; pick
/// the seed at random per deployment. Cheap: no `SocketAddr` is built, the key is five words.
pub fn shard_hash(packet: &Packet<'_>, seed: u64) -> u64 {
    let (src_port, dst_port) = match packet.transport {
        Transport::Tcp(seg) => (seg.src_port, seg.dst_port),
        Transport::Udp {
            src_port, dst_port, ..
        } => (src_port, dst_port),
        Transport::Other => (0, 0),
    };
    let src = Endpoint::new(packet.src, src_port);
    let dst = Endpoint::new(packet.dst, dst_port);
    ConnKey::new(src, dst).0.shard_hash(seed)
}

/// One endpoint packed for the packet path. Field order makes the derived order the same as
/// `SocketAddr`'s: IPv4 before IPv6, then the address (big-endian, as 128 bits; IPv4 in the
/// low 32), then the port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Endpoint {
    v6: bool,
    /// The address as a big-endian 128-bit number, high word first.
    addr: [u64; 2],
    port: u16,
}

impl Endpoint {
    #[inline]
    pub(crate) fn new(ip: IpAddr, port: u16) -> Endpoint {
        let (v6, addr) = match ip {
            IpAddr::V4(a) => (false, u128::from(u32::from(a))),
            IpAddr::V6(a) => (true, u128::from(a)),
        };
        Endpoint {
            v6,
            addr: [(addr >> 64) as u64, addr as u64],
            port,
        }
    }

    /// `self < other` in the derived order, without branches: the sign of each field's
    /// comparison, weighted so that the first difference decides.
    #[inline]
    fn before(&self, other: &Endpoint) -> bool {
        fn sign<T: Ord>(a: T, b: T) -> i32 {
            i32::from(a > b) - i32::from(a < b)
        }
        8 * sign(self.v6, other.v6)
            + 4 * sign(self.addr[0], other.addr[0])
            + 2 * sign(self.addr[1], other.addr[1])
            + sign(self.port, other.port)
            < 0
    }

    /// `if pick_a { a } else { b }`, without branches.
    #[inline]
    fn select(pick_a: bool, a: Endpoint, b: Endpoint) -> Endpoint {
        let m = 0u64.wrapping_sub(u64::from(pick_a));
        let m16 = m as u16;
        Endpoint {
            v6: (a.v6 & pick_a) | (b.v6 & !pick_a),
            addr: [
                (a.addr[0] & m) | (b.addr[0] & !m),
                (a.addr[1] & m) | (b.addr[1] & !m),
            ],
            port: (a.port & m16) | (b.port & !m16),
        }
    }

    pub(crate) fn socket_addr(self) -> SocketAddr {
        let addr = (u128::from(self.addr[0]) << 64) | u128::from(self.addr[1]);
        let ip = if self.v6 {
            IpAddr::V6(Ipv6Addr::from(addr))
        } else {
            // The low 32 bits hold the IPv4 address (`new` put nothing above them).
            IpAddr::V4(Ipv4Addr::from(addr as u32))
        };
        SocketAddr::new(ip, self.port)
    }
}

impl From<SocketAddr> for Endpoint {
    fn from(a: SocketAddr) -> Endpoint {
        Endpoint::new(a.ip(), a.port())
    }
}

impl From<Endpoint> for SocketAddr {
    fn from(e: Endpoint) -> SocketAddr {
        e.socket_addr()
    }
}

/// [`FlowKey`] packed for the packet path: `lo <= hi` in the same order, so `lo`/`hi` and the
/// [`Side`] are the ones [`FlowTuple::canonical`] gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ConnKey {
    pub(crate) lo: Endpoint,
    pub(crate) hi: Endpoint,
}

impl ConnKey {
    /// The canonical key of a packet from `src` to `dst`, and which side sent it (an endpoint
    /// talking to itself is `Side::Lo`). Without branches: which way a packet goes is as good
    /// as random, so a branch here would be mispredicted about every other packet.
    #[inline]
    pub(crate) fn new(src: Endpoint, dst: Endpoint) -> (ConnKey, Side) {
        let swap = dst.before(&src);
        let key = ConnKey {
            lo: Endpoint::select(swap, dst, src),
            hi: Endpoint::select(swap, src, dst),
        };
        (key, if swap { Side::Hi } else { Side::Lo })
    }

    pub(crate) fn endpoint(&self, side: Side) -> Endpoint {
        match side {
            Side::Lo => self.lo,
            Side::Hi => self.hi,
        }
    }

    /// The seeded worker hash (see [`FlowKey::shard_hash`]).
    pub(crate) fn shard_hash(&self, seed: u64) -> u64 {
        foldhash::fast::FixedState::with_seed(seed).hash_one(self)
    }
}

/// Five words: both addresses, then ports and families together.
impl Hash for ConnKey {
    #[inline]
    fn hash<S: Hasher>(&self, state: &mut S) {
        let (lo, hi) = (&self.lo, &self.hi);
        state.write_u64(lo.addr[0]);
        state.write_u64(lo.addr[1]);
        state.write_u64(hi.addr[0]);
        state.write_u64(hi.addr[1]);
        state.write_u64(
            u64::from(lo.port)
                | (u64::from(hi.port) << 16)
                | (u64::from(lo.v6) << 32)
                | (u64::from(hi.v6) << 33),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    fn v4(a: u8, port: u16) -> SocketAddr {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, a)), port)
    }

    #[test]
    fn both_directions_share_one_key_with_opposite_sides() {
        let t = FlowTuple::new(v4(2, 40000), v4(1, 80));
        let (k1, s1) = t.canonical();
        let (k2, s2) = t.reverse().canonical();
        assert_eq!(k1, k2);
        assert_eq!(k1.lo, v4(1, 80));
        assert_eq!((s1, s2), (Side::Hi, Side::Lo));
        assert_eq!(k1.tuple_from(s1), t);
        assert_eq!(k1.tuple_from(s2), t.reverse());
        assert_eq!(s1.other(), s2);
    }

    #[test]
    fn same_address_orders_by_port_and_mixed_families_are_canonical() {
        let (k, s) = FlowTuple::new(v4(1, 9000), v4(1, 80)).canonical();
        assert_eq!((k.lo.port(), k.hi.port(), s), (80, 9000, Side::Hi));
        let v6 = SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 1);
        let (k, _) = FlowTuple::new(v6, v4(1, 2)).canonical();
        let (k2, _) = FlowTuple::new(v4(1, 2), v6).canonical();
        assert_eq!(k, k2);
        let (_, side) = FlowTuple::new(v4(3, 3), v4(3, 3)).canonical();
        assert_eq!(side, Side::Lo);
    }

    #[test]
    fn shard_hash_depends_on_seed_and_connection() {
        let t = FlowTuple::new(v4(2, 40000), v4(1, 80));
        let other = FlowTuple::new(v4(2, 40001), v4(1, 80));
        assert_ne!(t.shard_hash(1), other.shard_hash(1));
        assert_ne!(t.shard_hash(1), t.shard_hash(2));
    }

    fn any_ip() -> impl Strategy<Value = IpAddr> {
        prop_oneof![
            any::<[u8; 4]>().prop_map(IpAddr::from),
            any::<[u8; 16]>().prop_map(IpAddr::from),
            // Few distinct values, so equal addresses (ordered by port) come up.
            (0u8..3).prop_map(|a| IpAddr::from([10, 0, 0, a])),
            (0u8..3).prop_map(|a| IpAddr::from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 10, 0, 0, a])),
        ]
    }

    fn tcp_packet(src: SocketAddr, dst: SocketAddr) -> Packet<'static> {
        Packet {
            ts: analyzer::time::Timestamp(0),
            src: src.ip(),
            dst: dst.ip(),
            transport: Transport::Tcp(crate::decode::TcpSegment {
                src_port: src.port(),
                dst_port: dst.port(),
                seq: crate::flow::SeqNumber(1),
                ack: crate::flow::SeqNumber(2),
                syn: false,
                ack_flag: true,
                fin: false,
                rst: false,
                payload: b"x",
                missing_tail: 0,
            }),
        }
    }

    #[test]
    fn packet_shard_hash_covers_udp_and_other_transports() {
        let (a, b) = (v4(1, 53), v4(2, 5353));
        let udp = |s: SocketAddr, d: SocketAddr| Packet {
            transport: Transport::Udp {
                src_port: s.port(),
                dst_port: d.port(),
                payload: b"",
            },
            ..tcp_packet(s, d)
        };
        assert_eq!(shard_hash(&udp(a, b), 3), shard_hash(&udp(b, a), 3));
        assert_eq!(
            shard_hash(&udp(a, b), 3),
            FlowTuple::new(a, b).shard_hash(3)
        );
        let other = |s: SocketAddr, d: SocketAddr| Packet {
            transport: Transport::Other,
            ..tcp_packet(s, d)
        };
        assert_eq!(shard_hash(&other(a, b), 3), shard_hash(&other(b, a), 3));
        assert_eq!(
            shard_hash(&other(a, b), 3),
            FlowTuple::new(v4(1, 0), v4(2, 0)).shard_hash(3),
            "the address pair alone"
        );
        assert_ne!(shard_hash(&other(a, b), 3), shard_hash(&other(a, b), 4));
    }

    proptest! {
        #[test]
        fn conn_key_is_flow_key_packed(
            a in any_ip(), b in any_ip(), pa in 0u16..4, pb in 0u16..4, seed: u64,
        ) {
            let (src, dst) = (SocketAddr::new(a, pa), SocketAddr::new(b, pb));
            let (key, side) = FlowTuple::new(src, dst).canonical();
            let (packed, packed_side) = ConnKey::new(Endpoint::from(src), Endpoint::from(dst));
            prop_assert_eq!(packed_side, side);
            prop_assert_eq!(packed.lo.socket_addr(), key.lo);
            prop_assert_eq!(packed.hi.socket_addr(), key.hi);
            prop_assert_eq!(packed.endpoint(side).socket_addr(), src);
            prop_assert_eq!(Endpoint::from(src).cmp(&Endpoint::from(dst)), src.cmp(&dst));
            // Both hashes agree, both ways round.
            let p = tcp_packet(src, dst);
            prop_assert_eq!(shard_hash(&p, seed), FlowTuple::new(src, dst).shard_hash(seed));
            prop_assert_eq!(shard_hash(&p, seed), shard_hash(&tcp_packet(dst, src), seed));
        }

        #[test]
        fn shard_hash_is_symmetric(a: [u8; 4], b: [u8; 4], pa: u16, pb: u16, seed: u64) {
            let src = SocketAddr::new(IpAddr::V4(Ipv4Addr::from(a)), pa);
            let dst = SocketAddr::new(IpAddr::V4(Ipv4Addr::from(b)), pb);
            let t = FlowTuple::new(src, dst);
            prop_assert_eq!(t.shard_hash(seed), t.reverse().shard_hash(seed));
            let (k, side) = t.canonical();
            prop_assert!(k.lo <= k.hi);
            prop_assert_eq!(k.tuple_from(side), t);
        }
    }
}
