//! TCP flows: canonical keys, per-direction reassembly, bounded tables, packet-time expiry.
//!
//! INTERFACE (owned by the capture work; bodies to be written there).
