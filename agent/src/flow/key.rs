//! Flow identity: the directional [`FlowTuple`] of one packet and the canonical [`FlowKey`] of
//! its connection.
//!
//! Both directions of a connection map to the same `FlowKey` (the smaller endpoint first) plus
//! a [`Side`] saying which endpoint sent the packet, in the manner of retina's `FiveTuple` /
//! `ConnId`. The key is only about addresses and ports: which endpoint is the *client* is the
//! flow table's call (it needs SYN flags), not this module's.

use std::hash::BuildHasher;
use std::net::SocketAddr;

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
    /// steer many flows onto one worker.
    pub fn shard_hash(&self, seed: u64) -> u64 {
        foldhash::fast::FixedState::with_seed(seed).hash_one(self)
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

    proptest! {
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
