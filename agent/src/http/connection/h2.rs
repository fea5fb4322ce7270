//! Handing a connection over to HTTP/2 (`crate::http2`): at the client preface (prior
//! knowledge, RFC 9113 section 3.3) or after a 101 to `h2c` (RFC 7540 section 3.2). From then
//! on every event of the connection goes to its [`H2Session`].

use super::super::sink::ExchangeSink;
use super::super::HttpCtx;
use super::HttpConnection;
use crate::flow::{Dir, Interest, StreamEvent};
use crate::http2::frame::PREFACE;
use crate::http2::H2Session;
use analyzer::time::Timestamp;

/// Bytes of the preface that must be seen to call a connection HTTP/2: its whole first line.
const PREFACE_PROBE: usize = 16;

/// The first bytes of a direction are the HTTP/2 client preface (or a long enough start of it).
pub(super) fn is_preface_start(bytes: &[u8]) -> bool {
    bytes.len() >= PREFACE_PROBE && PREFACE.starts_with(bytes.get(..PREFACE.len()).unwrap_or(bytes))
}

/// Whether `head` (the first bytes a server sent, up to 9) can be the server connection preface
/// (RFC 9113 section 3.4): a SETTINGS frame header, no flags, stream 0, a length that is a
/// multiple of 6. `None` until all 9 bytes are there and no byte has ruled it out.
pub(super) fn server_preface(head: &[u8]) -> Option<bool> {
    let want: [Option<u8>; 9] = [
        None,
        None,
        None,
        Some(4),
        Some(0),
        Some(0),
        Some(0),
        Some(0),
        Some(0),
    ];
    if head
        .iter()
        .zip(want)
        .any(|(b, w)| w.is_some_and(|w| w != *b))
    {
        return Some(false);
    }
    if let [a, b, c, ..] = *head {
        let len = u32::from_be_bytes([0, a, b, c]);
        if !len.is_multiple_of(6) || len > crate::http2::frame::DEFAULT_MAX_FRAME {
            return Some(false);
        }
    }
    (head.len() >= 9).then_some(true)
}

/// A 101 response switches to HTTP/2 over cleartext.
pub(super) fn upgrades_to_h2c(headers: &[httparse::Header<'_>]) -> bool {
    headers.iter().any(|h| {
        h.name.eq_ignore_ascii_case("upgrade") && h.value.trim_ascii().eq_ignore_ascii_case(b"h2c")
    })
}

/// Frames of a connection picked up mid-stream: `bytes` is one or more whole frames whose
/// headers are all valid for their type (RFC 9113 section 6: stream 0 or not, fixed lengths,
/// defined flags) and end exactly where the bytes end. Text protocols cannot pass (their first
/// three bytes read as a length far above 16,384), and a chain of binary junk that happens to
/// end on the segment's end with every header valid is not a thing to expect.
pub(super) fn looks_like_frames(bytes: &[u8]) -> bool {
    use crate::http2::frame::{FrameHeader, DEFAULT_MAX_FRAME, HEADER_LEN};
    let mut rest = bytes;
    let mut frames = 0;
    while !rest.is_empty() {
        let Some(head) = rest
            .get(..HEADER_LEN)
            .and_then(|h| <&[u8; HEADER_LEN]>::try_from(h).ok())
        else {
            return false;
        };
        let h = FrameHeader::parse(head);
        let on_stream = h.stream != 0;
        // (needs a stream, fixed length if any, allowed flags)
        let (stream_ok, len_ok, flags) = match h.kind {
            0x0 => (on_stream, true, 0x09),
            0x1 => (on_stream, true, 0x2d),
            0x2 => (on_stream, h.len == 5, 0),
            0x3 => (on_stream, h.len == 4, 0),
            0x4 => (!on_stream, h.len.is_multiple_of(6), 0x01),
            0x5 => (on_stream, h.len >= 4, 0x0c),
            0x6 => (!on_stream, h.len == 8, 0x01),
            0x7 => (!on_stream, h.len >= 8, 0),
            0x8 => (true, h.len == 4, 0),
            0x9 => (on_stream, true, 0x04),
            _ => return false,
        };
        if !stream_ok || !len_ok || h.flags & !flags != 0 || h.len > DEFAULT_MAX_FRAME {
            return false;
        }
        let Some(next) = rest.get(HEADER_LEN + h.len as usize..) else {
            return false;
        };
        rest = next;
        frames += 1;
    }
    frames > 0
}

impl<S: ExchangeSink> HttpConnection<S> {
    /// A connection picked up mid-stream whose bytes are HTTP/2 frames: its HPACK state is
    /// unknown, so only what is certain is reported ("HTTP/2, opaque since capture start").
    pub(super) fn start_h2_mid_stream(&mut self, ctx: &mut HttpCtx<S>) {
        ctx.stats.h2.mid_stream += 1;
        self.decided = true;
        self.h2 = Some(Box::new(H2Session::mid_stream(&ctx.h2_limits)));
    }

    /// The connection opened with the client preface in `dir`.
    pub(super) fn start_h2_prior_knowledge(&mut self, dir: Dir, ctx: &mut HttpCtx<S>) {
        ctx.stats.http2_prefaces += 1;
        ctx.stats.h2.prior_knowledge += 1;
        if dir == Dir::ToClient {
            // The flow table guessed the orientation; the preface says who the client is.
            std::mem::swap(&mut self.meta.client, &mut self.meta.server);
            self.swapped = !self.swapped;
            ctx.stats.role_swaps += 1;
        }
        self.decided = true;
        self.h2 = Some(Box::new(H2Session::with_preface(&ctx.h2_limits)));
    }

    /// The server spoke first (known orientation, nothing decided): its first 9 bytes say
    /// whether this is HTTP/2 whose server sent its preface before the client's arrived.
    /// Returns the interest when the bytes were taken here, `None` to go on with HTTP/1.
    pub(super) fn probe_server_first(
        &mut self,
        ts: Timestamp,
        bytes: &[u8],
        ctx: &mut HttpCtx<S>,
    ) -> Option<Interest> {
        let had = self.h2_probe.len();
        let take = (9 - had.min(9)).min(bytes.len());
        self.h2_probe
            .extend_from_slice(bytes.get(..take).unwrap_or_default());
        match server_preface(&self.h2_probe) {
            None => Some(Interest::Continue),
            Some(true) => {
                ctx.stats.h2.prior_knowledge += 1;
                self.decided = true;
                self.h2 = Some(Box::new(H2Session::with_preface(&ctx.h2_limits)));
                let head = std::mem::take(&mut self.h2_probe);
                let ev = |b| StreamEvent::Data {
                    dir: Dir::ToClient,
                    ts,
                    bytes: b,
                };
                self.h2_event(ev(&head[..had]), ctx);
                Some(self.h2_event(ev(bytes), ctx))
            }
            Some(false) => {
                // Not HTTP/2: the bytes held back go to HTTP/1 first.
                self.h2_probe_done = true;
                let head = std::mem::take(&mut self.h2_probe);
                if had > 0 {
                    self.on_data(Dir::ToClient, ts, &head[..had], ctx);
                }
                None
            }
        }
    }

    /// The HTTP/1 parser read the preface's first line in the client's half: `rest` bytes of
    /// the preface are still to come.
    pub(super) fn start_h2_prior_knowledge_after(&mut self, rest: usize, ctx: &mut HttpCtx<S>) {
        ctx.stats.http2_prefaces += 1;
        ctx.stats.h2.prior_knowledge += 1;
        self.decided = true;
        self.h2 = Some(Box::new(H2Session::with_preface_left(&ctx.h2_limits, rest)));
    }

    /// 0 for the client's bytes, 1 for the server's.
    fn h2_side(&self, dir: Dir) -> usize {
        usize::from(self.role_of(dir) != super::Role::Client)
    }

    /// An event of a connection that speaks HTTP/2.
    pub(super) fn h2_event(&mut self, event: StreamEvent<'_>, ctx: &mut HttpCtx<S>) -> Interest {
        let Some(mut h2) = self.h2.take() else {
            return Interest::Stop;
        };
        let interest = match event {
            StreamEvent::Data { dir, ts, bytes } => {
                let side = self.h2_side(dir);
                if h2.is_mid_stream() {
                    ctx.stats.h2.mid_stream_bytes += bytes.len() as u64;
                }
                h2.data(side, ts, bytes, &self.meta, ctx);
                if h2.is_broken() {
                    h2.close(ts, &self.meta, ctx);
                    self.stopped = true;
                    Interest::Stop
                } else {
                    Interest::Continue
                }
            }
            StreamEvent::Gap { dir, .. } => {
                h2.gap(self.h2_side(dir), ctx);
                Interest::Continue
            }
            StreamEvent::OverlapConflict { .. } | StreamEvent::End { .. } => Interest::Continue,
            StreamEvent::Close { ts, .. } => {
                h2.close(ts, &self.meta, ctx);
                self.closed = true;
                Interest::Stop
            }
        };
        if !self.closed {
            self.h2 = Some(h2);
        }
        interest
    }

    /// Stream 1 of an upgraded connection carries the HTTP/1.1 request that asked for it.
    pub(super) fn start_h2_upgrade(
        &mut self,
        request: Option<S::Message>,
        ts: Timestamp,
        ctx: &mut HttpCtx<S>,
    ) {
        ctx.stats.h2.upgrades += 1;
        let mut h2 = H2Session::upgraded(&ctx.h2_limits);
        if let Some(r) = request {
            h2.adopt_upgrade_request(r, ts);
        }
        self.h2 = Some(Box::new(h2));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_chains_are_recognised_and_text_is_not() {
        let settings_ack = b"\0\0\0\x04\x01\0\0\0\0";
        let window = b"\0\0\x04\x08\0\0\0\0\x01\0\0\x10\0";
        let mut both = settings_ack.to_vec();
        both.extend_from_slice(window);
        assert!(looks_like_frames(settings_ack));
        assert!(looks_like_frames(&both));
        // Cut short, or with a byte more: not a chain that ends with the bytes.
        assert!(!looks_like_frames(&both[..both.len() - 1]));
        both.push(0);
        assert!(!looks_like_frames(&both));
        assert!(!looks_like_frames(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
        assert!(!looks_like_frames(b"HTTP/1.1 200 OK\r\n\r\n"));
        // SETTINGS on a stream, PING of the wrong length, undefined flags.
        assert!(!looks_like_frames(b"\0\0\0\x04\0\0\0\0\x01"));
        assert!(!looks_like_frames(b"\0\0\x01\x06\0\0\0\0\0\0"));
        assert!(!looks_like_frames(b"\0\0\0\x04\x02\0\0\0\0"));
        assert!(!looks_like_frames(b""));
    }
}
