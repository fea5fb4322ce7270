//! HTTP/2 for a passive observer (RFC 9113, cleartext): frames, HPACK, one exchange per stream.
//!
//! - `hpack`: header block decoding with the dynamic table, bounded, and honest about what a
//!   decoder that missed the connection's start cannot know.
//! - `frame`: the frame layer of one direction, a push parser for any split of the bytes.
//! - `session`: both directions of one connection; streams become exchanges handed to the
//!   HTTP layer's [`ExchangeSink`](crate::http::ExchangeSink), so `scan`, the agent and
//!   `exchanges` see HTTP/2 streams like HTTP/1 exchanges.
//!
//! The HTTP/1 connection (`crate::http`) hands a connection over here when it opens with the
//! client preface (prior knowledge) or after a `101 Switching Protocols` to `h2c`.

pub mod frame;
pub mod hpack;
pub mod session;
#[cfg(test)]
mod tests;

pub use session::H2Session;

/// Caps of one HTTP/2 connection. Each has a counter in [`Http2Stats`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct H2Limits {
    /// Streams tracked at once; further streams are counted (`stream_cap_drops`), not reported.
    pub max_streams: usize,
    /// Bytes of one header block (HEADERS + CONTINUATION); beyond it the block, and with it
    /// the direction's HPACK state, is lost (`header_blocks_capped`).
    pub max_header_block: usize,
    pub hpack: hpack::HpackLimits,
}

impl Default for H2Limits {
    fn default() -> Self {
        H2Limits {
            max_streams: 256,
            max_header_block: 64 * 1024,
            hpack: hpack::HpackLimits::default(),
        }
    }
}

/// Counters of the HTTP/2 layer, summed over connections.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Http2Stats {
    /// Connections that opened with the client preface (prior knowledge).
    pub prior_knowledge: u64,
    /// Connections upgraded from HTTP/1.1 (`Upgrade: h2c`, 101).
    pub upgrades: u64,
    /// Connections recognised as HTTP/2 from their frames without the preface: their HPACK
    /// state is unknown ("HTTP/2, opaque since capture start").
    pub mid_stream: u64,
    /// Bytes of those connections (both directions).
    pub mid_stream_bytes: u64,
    pub streams: u64,
    pub exchanges: u64,
    /// Streams seen but not reported because their request or status could not be known
    /// for certain (mid-stream HPACK state, undecodable blocks).
    pub opaque_streams: u64,
    /// Streams not tracked because `max_streams` were open.
    pub stream_cap_drops: u64,
    pub trailers: u64,
    pub rst_streams: u64,
    pub goaways: u64,
    pub settings: u64,
    /// PUSH_PROMISE frames (decoded for HPACK, not reported).
    pub push_promises: u64,
    /// Header blocks over `max_header_block`.
    pub header_blocks_capped: u64,
    /// Header blocks that could not be decoded (HPACK error, unknown entry, earlier loss).
    pub undecodable_blocks: u64,
    /// Directions whose header decoding stopped for good.
    pub header_directions_lost: u64,
    /// Directions that stopped at a gap.
    pub gap_stops: u64,
    /// DATA bytes of streams not tracked.
    pub data_bytes_untracked: u64,
    /// Frames that break the protocol (bad padding, stray CONTINUATION, ...).
    pub protocol_errors: u64,
    pub hpack: hpack::HpackStats,
    pub frames: frame::FrameStats,
}

impl Http2Stats {
    /// Every counter with a stable metric name.
    pub fn counters(&self) -> Vec<(&'static str, u64)> {
        vec![
            ("http2_prior_knowledge", self.prior_knowledge),
            ("http2_upgrades", self.upgrades),
            ("http2_mid_stream_connections", self.mid_stream),
            ("http2_mid_stream_bytes", self.mid_stream_bytes),
            ("http2_streams", self.streams),
            ("http2_exchanges", self.exchanges),
            ("http2_opaque_streams", self.opaque_streams),
            ("http2_stream_cap_drops", self.stream_cap_drops),
            ("http2_trailers", self.trailers),
            ("http2_rst_streams", self.rst_streams),
            ("http2_goaways", self.goaways),
            ("http2_settings", self.settings),
            ("http2_push_promises", self.push_promises),
            ("http2_header_blocks_capped", self.header_blocks_capped),
            ("http2_undecodable_blocks", self.undecodable_blocks),
            ("http2_header_directions_lost", self.header_directions_lost),
            ("http2_gap_stops", self.gap_stops),
            ("http2_data_bytes_untracked", self.data_bytes_untracked),
            ("http2_protocol_errors", self.protocol_errors),
            ("http2_frames", self.frames.frames),
            ("http2_data_bytes", self.frames.data_bytes),
            ("http2_truncated_frames", self.frames.truncated_frames),
            ("http2_skipped_frames", self.frames.skipped_frames),
            ("http2_bad_padding", self.frames.bad_padding),
            ("http2_hpack_blocks", self.hpack.blocks),
            ("http2_hpack_fields", self.hpack.fields),
            (
                "http2_hpack_table_size_updates",
                self.hpack.table_size_updates,
            ),
            ("http2_hpack_evictions", self.hpack.evictions),
            (
                "http2_hpack_header_list_capped",
                self.hpack.header_list_capped,
            ),
            ("http2_hpack_strings_too_long", self.hpack.strings_too_long),
            ("http2_hpack_errors", self.hpack.errors),
            (
                "http2_hpack_blocks_after_desync",
                self.hpack.blocks_after_desync,
            ),
            (
                "http2_hpack_unknown_dynamic_refs",
                self.hpack.unknown_dynamic_refs,
            ),
        ]
    }
}
