//! One direction's parser: heads (in place or accumulated), bodies, resynchronisation.

use super::super::body::{BodyReader, Step};
use super::super::decode::BodyDecoder;
use super::super::lenient::{ends_head, status_start};
use super::super::parser::{
    classify_start_line, is_h2_preface, prefix_may_be_start_line, with_request, with_response,
    Prepared, StartLine, MAX_METHOD_LEN,
};
use super::super::sink::ExchangeSink;
use super::super::HttpCtx;
use super::pairing::Target;
use super::{HttpConnection, Role, PROBE_WINDOW};
use crate::flow::{Dir, StreamEvent};
use analyzer::exchange::{Anomaly, AnomalySet, BodyDepth};
use analyzer::time::Timestamp;

/// A body being received.
pub(super) struct InBody<M> {
    pub reader: BodyReader,
    pub depth: BodyDepth,
    /// Content decoder, for [`BodyDepth::Learn`] bodies with something to decode.
    pub decoder: Option<Box<BodyDecoder>>,
    /// Body bytes after transfer decoding, gaps included.
    pub wire_len: u64,
    pub target: Target<M>,
    pub flags: AnomalySet,
}

pub(super) enum State<M> {
    Head,
    Body(InBody<M>),
    Resync,
    Done,
}

/// One direction's parser.
pub(super) struct Half<M> {
    pub state: State<M>,
    /// Head bytes (state `Head`, when a head spans several inputs) or the current line (state
    /// `Resync`). Its allocation is kept from one message to the next.
    pub buf: Vec<u8>,
    /// Start of the current (incomplete) line in `buf`.
    pub line_start: usize,
    /// Timestamp of the first byte of the current head.
    pub first_ts: Option<Timestamp>,
    /// Anomalies about data lost before the next message of this direction.
    pub carry: AnomalySet,
    /// `Resync`: inside a line we are not keeping (too long, or cut by a cap).
    pub skipping_line: bool,
    /// Bytes discarded while scanning for the first start line (mid-stream probe).
    pub probe_scanned: usize,
    /// What the first line of the head in `buf` was.
    pub first_kind: StartLine,
    pub ended: bool,
}

/// Head buffers that grew beyond this are given back rather than kept for the next head.
const KEPT_HEAD_BUFFER: usize = 4096;

impl<M> Half<M> {
    pub fn new(state: State<M>) -> Half<M> {
        Half {
            state,
            buf: Vec::new(),
            line_start: 0,
            first_ts: None,
            carry: AnomalySet::EMPTY,
            skipping_line: false,
            probe_scanned: 0,
            first_kind: StartLine::Neither,
            ended: false,
        }
    }

    pub fn clear_buf(&mut self) {
        self.buf.clear();
        self.line_start = 0;
        self.first_ts = None;
    }

    /// Enter `Resync`, scanning from the next line.
    pub fn resync(&mut self) {
        self.state = State::Resync;
        self.skipping_line = false;
    }
}

/// A head found whole in the input: where it ends and where its first line ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct InPlace {
    /// Bytes of the head, its empty line included.
    end: usize,
    /// Index of the first line's LF.
    first_lf: usize,
}

/// Where the whole head of a message starting at `input[0]` (not an empty line) ends, when it
/// is all there, plain (CRLF only, no folding, as [`super::super::parser::is_plain`] says)
/// and within `cap`: the in-place fast path. Any other head takes the line-by-line path,
/// which handles every irregularity. One pass over the line ends: the end is the first LF
/// that closes an empty line.
fn head_in_place(input: &[u8], cap: usize) -> Option<InPlace> {
    let window = input.get(..cap.min(input.len()))?;
    let mut first_lf = None;
    for nl in memchr::memchr_iter(b'\n', window) {
        if nl == 0 || window.get(nl - 1) != Some(&b'\r') {
            return None;
        }
        let first_lf = *first_lf.get_or_insert(nl);
        // Every earlier LF has its CR, so an LF two bytes back closes the line before: this
        // line is empty.
        if nl >= 2 && window.get(nl - 2) == Some(&b'\n') {
            return Some(InPlace {
                end: nl + 1,
                first_lf,
            });
        }
        if matches!(window.get(nl + 1), Some(b' ' | b'\t')) {
            return None;
        }
    }
    None
}

impl<S: ExchangeSink> HttpConnection<S> {
    pub(super) fn on_data(
        &mut self,
        dir: Dir,
        ts: Timestamp,
        mut input: &[u8],
        ctx: &mut HttpCtx<S>,
    ) {
        while !input.is_empty() && !self.stopped {
            let role = self.role_of(dir);
            let half = self.half(role);
            if half.ended {
                return;
            }
            let used = match &half.state {
                State::Done => return,
                State::Head => self.head_step(role, ts, input, ctx),
                State::Body(_) => self.body_step(role, ts, input, ctx),
                State::Resync => self.resync_step(role, ts, input, ctx),
            };
            input = input.get(used..).unwrap_or_default();
            if self.h2.is_some() {
                // What follows a 101 to h2c in the same segment is HTTP/2 already.
                if !input.is_empty() {
                    self.h2_event(
                        StreamEvent::Data {
                            dir,
                            ts,
                            bytes: input,
                        },
                        ctx,
                    );
                }
                return;
            }
        }
    }

    /// Take a head: parse it in place when it is whole in `input`, else accumulate one line (or
    /// what there is of it). Returns bytes consumed.
    fn head_step(
        &mut self,
        role: Role,
        ts: Timestamp,
        input: &[u8],
        ctx: &mut HttpCtx<S>,
    ) -> usize {
        let cap = ctx.limits.max_head_bytes;
        let decided = self.decided;
        let next_is_09 = role == Role::Server && self.next_unclaimed_is_09();
        let half = self.half(role);
        if half.buf.is_empty() {
            // RFC 9112 section 2.2: ignore empty lines received before a start line.
            let skip = input
                .iter()
                .take_while(|&&b| b == b'\r' || b == b'\n')
                .count();
            if skip > 0 {
                return skip;
            }
            if next_is_09 && input.first() != Some(&b'H') {
                half.first_ts = Some(ts);
                self.start_http09_response(ts, ctx);
                return 0;
            }
            half.first_ts = Some(ts);
            if decided {
                if let Some(InPlace { end, first_lf }) = head_in_place(input, cap) {
                    let first = input.get(..end).unwrap_or_default();
                    let line = first.get(..first_lf).unwrap_or_default();
                    let kind = classify_start_line(line);
                    let fits = matches!(
                        (role, kind),
                        (Role::Client, StartLine::Request) | (Role::Server, StartLine::Response)
                    );
                    if fits {
                        self.half(role).clear_buf();
                        self.parse_head(role, Prepared::plain(first), kind, ts, ts, ctx);
                        return end;
                    }
                }
            }
        }
        let half = self.half(role);
        let nl = memchr::memchr(b'\n', input);
        let seg_len = nl.map_or(input.len(), |i| i + 1);
        if half.buf.len().saturating_add(seg_len) > cap {
            if !decided {
                self.not_http(ctx);
                return input.len();
            }
            self.head_lost(role, ts, Anomaly::HeadTooLarge, ctx);
            let half = self.half(role);
            half.state = State::Resync;
            half.skipping_line = true;
            ctx.stats.resyncs += 1;
            return 0;
        }
        half.buf
            .extend_from_slice(input.get(..seg_len).unwrap_or_default());
        if nl.is_none() {
            let probe = half
                .buf
                .get(..half.buf.len().min(MAX_METHOD_LEN + 2))
                .unwrap_or_default();
            let hopeless = !decided && half.line_start == 0 && !prefix_may_be_start_line(probe);
            if hopeless {
                self.not_http(ctx);
            }
            return seg_len;
        }
        let line = half.buf.get(half.line_start..).unwrap_or_default();
        let is_first = half.line_start == 0;
        // A browser also ends a response head at a line of whitespace only.
        let empty = line == b"\n"
            || line == b"\r\n"
            || (role == Role::Server && decided && !is_first && ends_head(line));
        half.line_start = half.buf.len();
        if is_first && role == Role::Client && is_h2_preface(line) {
            // HTTP/2 with prior knowledge: nothing more here is HTTP/1. The preface's first
            // line came in pieces; its rest and the frames go to HTTP/2.
            let rest = crate::http2::frame::PREFACE
                .len()
                .saturating_sub(line.len());
            self.stop();
            self.start_h2_prior_knowledge_after(rest, ctx);
            return seg_len;
        }
        if is_first {
            let kind = classify_start_line(line.strip_suffix(b"\n").unwrap_or(line));
            let browser_status = kind != StartLine::Response && status_start(line).is_some();
            let versioned = line.trim_ascii_end().ends_with(b" HTTP/1.1")
                || line.trim_ascii_end().ends_with(b" HTTP/1.0");
            if !decided && kind == StartLine::Neither && versioned {
                // A damaged request line (junk before the method): HTTP, but this message
                // is lost. Scan this half for the next start line and let the other one
                // decide, so its responses are still reported.
                self.desync(role, ctx);
                return seg_len;
            }
            let role = if decided {
                role
            } else {
                match self.decide(role, kind, ctx) {
                    Some(r) => r,
                    None => return seg_len,
                }
            };
            let fits = match role {
                Role::Client => matches!(kind, StartLine::Request | StartLine::Request09),
                // A status line only a browser reads (`lenient.rs`) still starts a response.
                Role::Server => kind == StartLine::Response || (decided && browser_status),
            };
            let kind = match role {
                Role::Server => StartLine::Response,
                Role::Client => kind,
            };
            if !fits {
                self.desync(role, ctx);
                return seg_len;
            }
            self.half(role).first_kind = kind;
            if kind == StartLine::Request09 {
                // HTTP/0.9: the request is this one line, no fields, no body.
                self.head_complete(role, ts, ctx);
            }
        } else if empty {
            self.head_complete(role, ts, ctx);
        }
        seg_len
    }

    /// The buffered head cannot be parsed: drop it and look for the next start line.
    pub(super) fn desync(&mut self, role: Role, ctx: &mut HttpCtx<S>) {
        if role == Role::Client && self.decided && !self.client.carry.contains(Anomaly::Gap) {
            // Bytes that are not a request, sent where a request was due: servers answer
            // them (400), and that answer must not claim the next real request.
            self.push_cruft(ctx);
        }
        let half = self.half(role);
        ctx.stats.resync_bytes_discarded += half.buf.len() as u64;
        ctx.stats.resyncs += 1;
        half.carry.insert(Anomaly::Desync);
        half.clear_buf();
        half.resync();
    }

    /// The accumulated head is complete: parse it from the buffer, then keep the buffer's
    /// allocation for the next head (unless a large head grew it).
    fn head_complete(&mut self, role: Role, ts: Timestamp, ctx: &mut HttpCtx<S>) {
        let half = self.half(role);
        let first_ts = half.first_ts.unwrap_or(ts);
        let kind = half.first_kind;
        let mut head = std::mem::take(&mut half.buf);
        half.clear_buf();
        let mut norm = std::mem::take(&mut ctx.norm);
        self.parse_head(
            role,
            Prepared::new(&head, &mut norm),
            kind,
            first_ts,
            ts,
            ctx,
        );
        ctx.norm = norm;
        if head.capacity() <= KEPT_HEAD_BUFFER && !self.stopped {
            head.clear();
            let half = self.half(role);
            if half.buf.capacity() == 0 {
                half.buf = head;
            }
        }
    }

    /// Parse a complete head of `role` (its start line of `kind`) and hand it on; a head that
    /// does not parse is a `Desync`.
    fn parse_head(
        &mut self,
        role: Role,
        head: Prepared<'_>,
        kind: StartLine,
        first_ts: Timestamp,
        ts: Timestamp,
        ctx: &mut HttpCtx<S>,
    ) {
        let parsed = match role {
            Role::Client => with_request(head, kind, |view, flags| {
                self.request_head(view, flags, first_ts, ts, ctx)
            }),
            Role::Server => with_response(head, |view, flags| {
                self.response_head(view, flags, first_ts, ts, ctx)
            }),
        };
        if parsed.is_none() {
            self.desync(role, ctx);
        }
    }

    fn body_step(
        &mut self,
        role: Role,
        ts: Timestamp,
        input: &[u8],
        ctx: &mut HttpCtx<S>,
    ) -> usize {
        let HttpConnection {
            client,
            server,
            pending,
            ..
        } = self;
        let half = match role {
            Role::Client => client,
            Role::Server => server,
        };
        let State::Body(body) = &mut half.state else {
            return 0;
        };
        let (used, step) = pump(body, pending, &mut ctx.sink, |reader, out| {
            reader.feed(input, out)
        });
        match step {
            Step::NeedMore => {}
            Step::Done => {
                if let Some(body) = take_body(half) {
                    half.state = State::Head;
                    self.complete(body, true, ts, ctx);
                }
            }
            Step::Invalid(anomaly) => {
                if let Some(mut body) = take_body(half) {
                    half.resync();
                    ctx.stats.resyncs += 1;
                    body.flags.insert(anomaly);
                    self.complete(body, false, ts, ctx);
                }
            }
        }
        used
    }

    /// Drop bytes line by line until a plausible start line. Returns bytes consumed.
    fn resync_step(
        &mut self,
        role: Role,
        ts: Timestamp,
        input: &[u8],
        ctx: &mut HttpCtx<S>,
    ) -> usize {
        let cap = ctx.limits.max_head_bytes;
        let decided = self.decided;
        let half = self.half(role);
        let nl = memchr::memchr(b'\n', input);
        let seg_len = nl.map_or(input.len(), |i| i + 1);
        let mut discarded = 0;
        if half.skipping_line {
            discarded = seg_len;
            half.skipping_line = nl.is_none();
        } else if half.buf.len().saturating_add(seg_len) > cap {
            discarded = half.buf.len() + seg_len;
            half.clear_buf();
            half.skipping_line = nl.is_none();
        } else {
            if half.buf.is_empty() {
                half.first_ts = Some(ts);
            }
            half.buf
                .extend_from_slice(input.get(..seg_len).unwrap_or_default());
            if nl.is_some() {
                let line = half.buf.strip_suffix(b"\n").unwrap_or(&half.buf);
                let mut kind = classify_start_line(line);
                if decided && role == Role::Server && status_start(line).is_some() {
                    kind = StartLine::Response;
                }
                let accept = match (decided, role, kind) {
                    (_, _, StartLine::Neither | StartLine::Request09) => false,
                    (false, _, _) => true,
                    (true, Role::Client, k) => k == StartLine::Request,
                    (true, Role::Server, k) => k == StartLine::Response,
                };
                if accept {
                    half.line_start = half.buf.len();
                    half.first_kind = kind;
                    half.state = State::Head;
                    if !decided {
                        // Only the first direction to find a start line decides roles.
                        let _ = self.decide(role, kind, ctx);
                    }
                    return seg_len;
                }
                discarded = half.buf.len();
                half.clear_buf();
            }
        }
        ctx.stats.resync_bytes_discarded += discarded as u64;
        if !decided {
            let half = self.half(role);
            half.probe_scanned = half.probe_scanned.saturating_add(discarded);
            if half.probe_scanned > PROBE_WINDOW {
                self.not_http(ctx);
            }
        }
        seg_len
    }
}

/// Run `f` over the body's reader with the output going where the body's depth says: the
/// content decoder, the sink's scan, or only the length count.
pub(super) fn pump<S: ExchangeSink, R>(
    body: &mut InBody<S::Message>,
    pending: &mut std::collections::VecDeque<super::pairing::Pending<S::Message>>,
    sink: &mut S,
    f: impl FnOnce(&mut super::super::body::BodyReader, &mut dyn FnMut(&[u8])) -> R,
) -> R {
    let InBody {
        reader,
        depth,
        decoder,
        wire_len,
        target,
        ..
    } = body;
    match (decoder, *depth) {
        (Some(decoder), _) => f(reader, &mut |bytes| {
            *wire_len += bytes.len() as u64;
            decoder.push(bytes);
        }),
        (None, BodyDepth::Scan) => {
            let mut message = target.message_mut(pending);
            f(reader, &mut |bytes| {
                *wire_len += bytes.len() as u64;
                if let Some(m) = message.as_deref_mut() {
                    sink.body_data(m, bytes);
                }
            })
        }
        (None, _) => f(reader, &mut |bytes| *wire_len += bytes.len() as u64),
    }
}

/// The body in progress, leaving the half `Done` (the caller sets the next state).
pub(super) fn take_body<M>(half: &mut Half<M>) -> Option<InBody<M>> {
    match std::mem::replace(&mut half.state, State::Done) {
        State::Body(b) => Some(b),
        other => {
            half.state = other;
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_head_is_found_whole_with_its_first_line() {
        let head = b"GET / HTTP/1.1\r\nHost: a\r\n\r\nbody";
        assert_eq!(
            head_in_place(head, 1024),
            Some(InPlace {
                end: 27,
                first_lf: 15
            })
        );
        assert_eq!(
            head_in_place(b"HTTP/1.1 204 No Content\r\n\r\n", 1024).map(|h| h.end),
            Some(27)
        );
    }

    #[test]
    fn irregular_incomplete_or_oversized_heads_take_the_line_path() {
        // A bare LF, a folded line, no empty line yet, the empty line beyond the cap.
        assert_eq!(
            head_in_place(b"GET / HTTP/1.1\nHost: a\r\n\r\n", 1024),
            None
        );
        assert_eq!(
            head_in_place(b"GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n", 1024),
            None
        );
        assert_eq!(head_in_place(b"GET / HTTP/1.1\r\nHost: a\r\n", 1024), None);
        assert_eq!(
            head_in_place(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", 20),
            None
        );
        // What follows the head is not the head's business.
        let next = b"GET / HTTP/1.1\r\n\r\nGET /x HTTP/1.1\nA: b\n\n";
        assert_eq!(head_in_place(next, 1024).map(|h| h.end), Some(18));
    }
}
