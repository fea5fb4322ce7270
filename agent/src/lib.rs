//! shadowtap's capture side: frames in, observations out.
//!
//! ```text
//! FrameSource -> decode -> FlowTable (TCP reassembly) -> HttpConnection -> observe -> sink
//! ```
//! Each stage is bounded and counts what it could not see; see `counters`.

pub mod analysis;
pub mod decode;
pub mod defrag;
pub mod flow;
#[doc(hidden)]
pub mod fuzz;
pub mod http;
pub mod http2;
pub mod metrics;
pub mod pipeline;
pub mod runner;
pub mod ship;
pub mod source;
pub mod tls;
