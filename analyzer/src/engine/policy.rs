//! Which bodies are learned: a per-(endpoint, direction, content type) policy, dense at first,
//! then sampled at a stride that doubles while learning finds nothing new, back to dense when
//! something new appears (a field path or type, a data class, a status, a content type, an auth
//! scheme), with a floor (at least one body in `max_stride`) and a time minimum (at least one
//! body per `max_interval` of packet time), so a quiet endpoint is still re-learned.
//!
//! Decisions depend only on the order of exchanges a worker sees and on packet time, never on
//! the wall clock: an offline run is deterministic.

use crate::time::Timestamp;
use crate::FastMap;

/// How bodies are chosen for learning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LearnMode {
    /// Every body is decoded and walked (the reference mode; slowest).
    All,
    /// Dense first, then sampled, with the prefilter catching rare data in the rest.
    Sampled(SamplePolicy),
}

impl Default for LearnMode {
    fn default() -> Self {
        LearnMode::Sampled(SamplePolicy::default())
    }
}

impl LearnMode {
    /// The mode each of `workers` workers runs so that together they learn about what one
    /// would: see [`SamplePolicy::shared_by`].
    pub fn per_worker(self, workers: usize) -> LearnMode {
        match self {
            LearnMode::Sampled(p) => LearnMode::Sampled(p.shared_by(workers)),
            LearnMode::All => LearnMode::All,
        }
    }
}

/// The knobs of [`LearnMode::Sampled`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SamplePolicy {
    /// Bodies learned before sampling starts, and again after something new appears.
    pub dense: u32,
    /// Largest stride: at least one body in this many is learned.
    pub max_stride: u32,
    /// Packet time after which the next body is learned whatever the stride.
    pub max_interval_micros: i64,
}

impl Default for SamplePolicy {
    fn default() -> Self {
        SamplePolicy {
            dense: 32,
            max_stride: 256,
            max_interval_micros: 10 * 60 * Timestamp::MICROS_PER_SEC,
        }
    }
}

impl SamplePolicy {
    /// One worker's share of the policy when flows are sharded across `workers`: each sees
    /// about 1/N of an endpoint's exchanges, so it learns 1/N of the dense bodies and re-learns
    /// a quiet endpoint N times less often; the stride (a fraction) stays. Together the
    /// workers then learn about as many bodies as one worker would, rather than N times as
    /// many. An endpoint whose traffic all lands on one worker (one long connection) is
    /// re-learned at least every N x `max_interval`.
    pub fn shared_by(self, workers: usize) -> SamplePolicy {
        let n = u32::try_from(workers.max(1)).unwrap_or(u32::MAX);
        SamplePolicy {
            dense: self.dense.div_ceil(n).max(1),
            max_stride: self.max_stride,
            max_interval_micros: self.max_interval_micros.saturating_mul(i64::from(n)),
        }
    }
}

/// Direction of a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    Request,
    Response,
}

/// The key a policy is kept for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PolicyKey {
    pub endpoint: u32,
    pub side: Side,
    /// Media type id (`u32::MAX`: none).
    pub media: u32,
}

#[derive(Debug, Clone, Copy)]
struct State {
    /// Bodies still to learn densely.
    dense_left: u32,
    stride: u32,
    /// Bodies skipped since the last learned one.
    skipped: u32,
    last_learned: Timestamp,
}

/// Most policies kept per worker; keys beyond it are learned at the floor rate.
const MAX_POLICIES: usize = 1 << 18;

#[derive(Debug)]
pub struct BodyPolicy {
    mode: LearnMode,
    states: FastMap<PolicyKey, State>,
    /// Decisions for keys that found the table full (learned at `max_stride`).
    pub overflow: u64,
    overflow_skipped: u32,
}

impl BodyPolicy {
    pub fn new(mode: LearnMode) -> Self {
        BodyPolicy {
            mode,
            states: FastMap::default(),
            overflow: 0,
            overflow_skipped: 0,
        }
    }

    pub fn mode(&self) -> LearnMode {
        self.mode
    }

    /// Whether to learn the next body of `key`, at packet time `now`.
    pub fn decide(&mut self, key: PolicyKey, now: Timestamp) -> bool {
        let LearnMode::Sampled(p) = self.mode else {
            return true;
        };
        if !self.states.contains_key(&key) && self.states.len() >= MAX_POLICIES {
            self.overflow += 1;
            self.overflow_skipped += 1;
            if self.overflow_skipped >= p.max_stride {
                self.overflow_skipped = 0;
                return true;
            }
            return false;
        }
        let s = self.states.entry(key).or_insert(State {
            dense_left: p.dense,
            stride: 1,
            skipped: 0,
            last_learned: now,
        });
        let learn = if s.dense_left > 0 {
            s.dense_left -= 1;
            true
        } else {
            s.skipped + 1 >= s.stride || now.since(s.last_learned) >= p.max_interval_micros
        };
        if learn {
            s.skipped = 0;
            s.last_learned = now;
        } else {
            s.skipped += 1;
        }
        learn
    }

    /// A learned body of `key` showed nothing new: sample it more sparsely.
    pub fn nothing_new(&mut self, key: PolicyKey) {
        let LearnMode::Sampled(p) = self.mode else {
            return;
        };
        if let Some(s) = self.states.get_mut(&key) {
            if s.dense_left == 0 {
                s.stride = (s.stride.saturating_mul(2)).min(p.max_stride.max(1));
            }
        }
    }

    /// Something new appeared for `endpoint` (any side): learn densely again.
    pub fn something_new(&mut self, endpoint: u32) {
        let LearnMode::Sampled(p) = self.mode else {
            return;
        };
        // Few keys per endpoint; the scan is over a small map only when novelty appears,
        // which after warm-up is rare.
        for (k, s) in self.states.iter_mut() {
            if k.endpoint == endpoint {
                s.dense_left = s.dense_left.max(p.dense / 4).max(1);
                s.stride = 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> PolicyKey {
        PolicyKey {
            endpoint: 1,
            side: Side::Response,
            media: 0,
        }
    }

    #[test]
    fn workers_share_the_dense_bodies_and_the_time_minimum() {
        let p = SamplePolicy::default();
        assert_eq!(LearnMode::Sampled(p).per_worker(1), LearnMode::Sampled(p));
        let half = p.shared_by(2);
        assert_eq!(half.dense, 16);
        assert_eq!(half.max_stride, p.max_stride);
        assert_eq!(half.max_interval_micros, 2 * p.max_interval_micros);
        // Never below one dense body, whatever the worker count.
        assert_eq!(p.shared_by(1000).dense, 1);
        assert_eq!(LearnMode::All.per_worker(4), LearnMode::All);
    }

    #[test]
    fn dense_then_sparser_while_nothing_is_new() {
        let p = SamplePolicy {
            dense: 3,
            max_stride: 8,
            max_interval_micros: i64::MAX,
        };
        let mut b = BodyPolicy::new(LearnMode::Sampled(p));
        let mut learned = Vec::new();
        for i in 0..40 {
            let l = b.decide(key(), Timestamp(i));
            if l {
                b.nothing_new(key());
            }
            learned.push(l);
        }
        let picks: Vec<usize> = (0..40).filter(|&i| learned[i]).collect();
        // 3 dense, then strides 2, 4, 8, 8...
        assert_eq!(picks, vec![0, 1, 2, 4, 8, 16, 24, 32]);
        b.something_new(1);
        assert!(
            b.decide(key(), Timestamp(41)),
            "novelty makes it dense again"
        );
    }

    #[test]
    fn quiet_endpoints_are_relearned_by_time_and_all_learns_everything() {
        let p = SamplePolicy {
            dense: 1,
            max_stride: 1000,
            max_interval_micros: 100,
        };
        let mut b = BodyPolicy::new(LearnMode::Sampled(p));
        assert!(b.decide(key(), Timestamp(0)));
        b.nothing_new(key());
        b.nothing_new(key());
        assert!(!b.decide(key(), Timestamp(50)));
        assert!(b.decide(key(), Timestamp(150)), "time minimum");
        let mut all = BodyPolicy::new(LearnMode::All);
        assert!((0..100).all(|i| all.decide(key(), Timestamp(i))));
    }
}
