//! shadowtap's pure logic, shared by the agent and the collector.
//!
//! Everything here works on values already in memory: no file or network I/O, no clock reads,
//! no threads. Time is whatever the caller says it is (packet timestamps), so results are
//! deterministic for a given input.

pub mod cardinality;
pub mod catalogue;
pub mod classify;
pub mod compare;
pub mod consumer;
pub mod contain;
pub mod derive;
pub mod diff;
pub mod engine;
pub mod exchange;
pub mod export;
pub mod finding;
#[doc(hidden)]
pub mod fuzz;
pub mod graphql;
pub mod grpc;
pub mod hex;
pub mod host;
pub mod inventory;
pub mod kafka;
pub mod observation;
pub mod observe;
pub mod openbanking;
pub mod report;
pub mod soap;
pub mod template;
pub mod time;
pub mod tls;
pub mod walk;
pub mod wire;

/// Hash maps keyed by attacker-controlled data use a randomly seeded fast hasher.
pub type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
