//! Shipping observations to the collector: aggregate per window, spool on disk, send over mTLS.
//!
//! ```text
//! dispatcher --packet batches (bounded, sharded by flow)--> worker threads (Pipeline + AnalysisSink, windows)
//!   --Sealed window (bounded)--> spooler thread --> Spool (sled, bounded, drop-oldest)
//!   --> sender thread --HTTPS + client cert--> collector --Ack--> remove from spool
//! ```
//!
//! Capture never waits on shipping: every hand-off is a bounded queue with a drop counter, and
//! only the sender thread touches the network. A batch leaves the spool only when the collector
//! acknowledged it (accepted or duplicate): with TLS 1.3 a refused client certificate shows up
//! after `connect` returned, so nothing short of the acknowledgement counts as delivered.

pub mod aggregator;
pub mod capture;
pub mod client;
pub mod failover;
pub mod kafka;
pub mod settings;
pub mod shipper;
pub mod spool;
