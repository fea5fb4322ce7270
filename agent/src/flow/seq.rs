//! TCP sequence numbers as a type: arithmetic modulo 2^32, comparison by signed distance.
//!
//! RFC 9293 section 3.4: sequence space is finite (0 ..= 2^32 - 1) and all arithmetic on it is
//! modulo 2^32; "a < b" means "a comes before b" when the two are less than 2^31 apart, which
//! is what the wrapping signed difference computes (the same rule as smoltcp's `SeqNumber`).
//! Call sites use this type instead of bare `u32` arithmetic so no wrap is forgotten.
//!
//! The order is only meaningful for numbers within 2^31 of each other: it is not transitive
//! across the whole space (0 < 2^30 < 2^31 < 3 * 2^30 < 0), and two numbers exactly 2^31 apart
//! are each "before" the other. So `SeqNumber` is only [`PartialOrd`] (as smoltcp's is), never
//! `Ord`: it cannot be sorted, used as the key of an ordered collection or `max`ed by accident.
//! Map it to a stream offset first (see `reassembly`), or compare two numbers explicitly.

use std::cmp::Ordering;
use std::fmt;
use std::ops::{Add, AddAssign, Sub};

/// A TCP sequence (or acknowledgment) number.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SeqNumber(pub u32);

impl SeqNumber {
    /// Signed distance `self - earlier`, in -2^31 ..= 2^31 - 1.
    pub fn distance(self, earlier: SeqNumber) -> i64 {
        i64::from(self.0.wrapping_sub(earlier.0) as i32)
    }

    /// `self + n` modulo 2^32.
    pub fn wrapping_add(self, n: u32) -> SeqNumber {
        SeqNumber(self.0.wrapping_add(n))
    }
}

impl fmt::Debug for SeqNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SeqNumber({})", self.0)
    }
}

impl fmt::Display for SeqNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Advance by a byte count, modulo 2^32 (a count above 2^32 wraps around the space too, which
/// is what the sequence numbers of that many bytes would do).
impl Add<usize> for SeqNumber {
    type Output = SeqNumber;
    fn add(self, rhs: usize) -> SeqNumber {
        // Truncating the count is the modulo-2^32 reduction.
        SeqNumber(self.0.wrapping_add(rhs as u32))
    }
}

impl AddAssign<usize> for SeqNumber {
    fn add_assign(&mut self, rhs: usize) {
        *self = *self + rhs;
    }
}

/// Signed distance between two sequence numbers (see [`SeqNumber::distance`]).
impl Sub<SeqNumber> for SeqNumber {
    type Output = i64;
    fn sub(self, rhs: SeqNumber) -> i64 {
        self.distance(rhs)
    }
}

/// RFC 9293 section 3.4 comparison: `a < b` when the wrapping difference `a - b`, read as a
/// signed 32-bit number, is negative. Always `Some`, but not an order over the whole space
/// (see the module docs), hence no `Ord`.
impl PartialOrd for SeqNumber {
    fn partial_cmp(&self, other: &SeqNumber) -> Option<Ordering> {
        (self.0.wrapping_sub(other.0) as i32).partial_cmp(&0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn addition_wraps() {
        assert_eq!(SeqNumber(u32::MAX) + 1, SeqNumber(0));
        assert_eq!(SeqNumber(u32::MAX - 9) + 20, SeqNumber(10));
        let mut s = SeqNumber(4_294_967_000);
        s += 1_000;
        assert_eq!(s, SeqNumber(704));
        assert_eq!(SeqNumber(5).wrapping_add(u32::MAX), SeqNumber(4));
    }

    #[test]
    fn distance_is_signed_across_the_wrap() {
        assert_eq!(SeqNumber(10) - SeqNumber(u32::MAX - 9), 20);
        assert_eq!(SeqNumber(u32::MAX - 9) - SeqNumber(10), -20);
        assert_eq!(SeqNumber(7) - SeqNumber(7), 0);
        assert_eq!(SeqNumber(1 << 31) - SeqNumber(0), -(1i64 << 31));
        assert_eq!(SeqNumber((1 << 31) - 1) - SeqNumber(0), (1i64 << 31) - 1);
    }

    #[test]
    fn ordering_follows_rfc_comparison() {
        assert!(SeqNumber(u32::MAX) < SeqNumber(0));
        assert!(SeqNumber(5) > SeqNumber(u32::MAX - 5));
        assert!(SeqNumber(100) < SeqNumber(200));
        assert!(SeqNumber(3) <= SeqNumber(3) && SeqNumber(3) >= SeqNumber(3));
        assert_eq!(
            SeqNumber(3).partial_cmp(&SeqNumber(3)),
            Some(Ordering::Equal)
        );
        assert!(
            SeqNumber(1) > SeqNumber(u32::MAX - 1),
            "1 comes after the wrap"
        );
    }

    #[test]
    fn the_order_is_not_transitive_nor_antisymmetric_at_half_the_space() {
        let q = 1u32 << 30;
        let ring = [
            SeqNumber(0),
            SeqNumber(q),
            SeqNumber(2 * q),
            SeqNumber(3 * q),
        ];
        for i in 0..4 {
            assert!(ring[i] < ring[(i + 1) % 4], "{i}");
        }
        // Exactly 2^31 apart: each is "before" the other.
        let (a, b) = (SeqNumber(0), SeqNumber(1 << 31));
        assert!(a < b && b < a);
    }

    proptest! {
        #[test]
        fn add_then_distance_round_trips(base: u32, n in 0usize..(1 << 31)) {
            let a = SeqNumber(base);
            let b = a + n;
            prop_assert_eq!(b - a, n as i64);
            prop_assert_eq!(a - b, -(n as i64));
            prop_assert!(n == 0 || a < b);
        }
    }
}
