//! [`HttpConnection`]: the per-connection HTTP/1.x state machine behind the flow table.
//!
//! Each direction ("half") is a push parser in one of four states:
//!
//! - `Head`: accumulating a message head line by line into a buffer capped at
//!   `max_head_bytes`. Empty lines before a start line are skipped (RFC 9112 section 2.2).
//!   The first line is checked before anything else: before the connection is known to be
//!   HTTP it is the probe; afterwards a line that is not a start line for this direction's role
//!   is a `Desync`.
//! - `Body`: consuming a body per its framing (`body.rs`) and content decoding it
//!   (`decode.rs`).
//! - `Resync`: framing was lost (a gap in a head or framing bytes, an unparsable head, invalid
//!   framing). Bytes are dropped line by line until a line that is a plausible start line for
//!   this direction (`METHOD SP target SP HTTP/1.x` or `HTTP/1.x NNN`); that line starts a new
//!   head. Anomalies that describe the lost data are carried to that next message.
//! - `Done`: nothing more to parse (end of stream, tunnel, not HTTP).
//!
//! Probing: with a known orientation (the flow table saw the handshake) the first line of the
//! first direction that completes one decides: a request line or status line makes the
//! connection HTTP (swapping roles if the orientation was a guess and the payload says
//! otherwise), anything else stops it. When the orientation is a guess (mid-stream pickup) or
//! a direction starts with a gap, its first bytes are probably mid-message, so that direction
//! starts in `Resync` and scans up to [`PROBE_WINDOW`] bytes for a start line before giving up.
//!
//! Pairing: each request head parsed joins a FIFO of pending exchanges (capped at
//! `max_pending_requests`); each final response claims the oldest unclaimed one. An exchange
//! leaves the queue, in order, once both its request and its response are complete, or at
//! close. 1xx responses other than 101 are skipped (RFC 9110 section 15.2).

use super::body::{request_framing, response_framing, BodyReader, Framing, GapOutcome, Step};
use super::decode::{BodyDecoder, DecodeLimits};
use super::parser::{
    classify_start_line, parse_request, parse_response, prefix_may_be_start_line, salvage_request,
    salvage_response, StartLine,
};
use super::{HttpCtx, HttpLimits};
use crate::flow::{ConnInfo, Dir, Interest, StreamEvent, StreamHandler};
use analyzer::exchange::{Anomaly, Body, HttpExchange, HttpVersion, RequestHead, ResponseHead};
use analyzer::time::Timestamp;
use std::collections::VecDeque;
use std::net::SocketAddr;

/// Bytes a direction may scan for its first start line when it began mid-stream.
pub const PROBE_WINDOW: usize = 16 * 1024;

/// Who sends a half's bytes once the roles are settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Client,
    Server,
}

/// Buffered bytes of one connection, to check the caps hold (tests, debugging, metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BufferUsage {
    /// Head (or resync line) buffer of the client and server direction.
    pub head_bytes: [usize; 2],
    /// Pending (unanswered or not yet complete) exchanges.
    pub pending: usize,
    /// Body sample bytes held by bodies still being received.
    pub body_samples: usize,
}

/// Where a message's body and flags go when it completes.
enum Target {
    /// Pending exchange with this id.
    Request(u64),
    /// The pending queue was full: parsed for framing, then dropped.
    Untracked,
    Response(u64),
    /// A response with no request to pair with: emitted on its own.
    Unpaired(Box<HttpExchange>),
}

/// A body being received.
struct InBody {
    reader: BodyReader,
    decoder: BodyDecoder,
    target: Target,
    flags: Vec<Anomaly>,
}

enum State {
    Head,
    Body(Box<InBody>),
    Resync,
    Done,
}

/// One direction's parser.
struct Half {
    state: State,
    /// Head bytes (state `Head`) or the current line (state `Resync`).
    buf: Vec<u8>,
    /// Start of the current (incomplete) line in `buf`.
    line_start: usize,
    /// Timestamp of the first byte in `buf`.
    first_ts: Option<Timestamp>,
    /// Anomalies about data lost before the next message of this direction.
    carry: Vec<Anomaly>,
    /// `Resync`: inside a line we are not keeping (too long, or cut by a cap).
    skipping_line: bool,
    /// Bytes discarded while scanning for the first start line (mid-stream probe).
    probe_scanned: usize,
    ended: bool,
}

impl Half {
    fn new(state: State) -> Half {
        Half {
            state,
            buf: Vec::new(),
            line_start: 0,
            first_ts: None,
            carry: Vec::new(),
            skipping_line: false,
            probe_scanned: 0,
            ended: false,
        }
    }

    fn carry(&mut self, a: Anomaly) {
        if !self.carry.contains(&a) {
            self.carry.push(a);
        }
    }

    fn clear_buf(&mut self) {
        self.buf.clear();
        self.line_start = 0;
        self.first_ts = None;
    }
}

/// An exchange whose request head was seen, waiting for its completion.
struct Pending {
    id: u64,
    ex: HttpExchange,
    req_done: bool,
    req_last_ts: Option<Timestamp>,
    resp_claimed: bool,
    resp_first_ts: Option<Timestamp>,
    resp_done: bool,
}

/// HTTP/1.x state of one TCP connection; see the module docs.
pub struct HttpConnection {
    client_addr: SocketAddr,
    server_addr: SocketAddr,
    orientation_known: bool,
    /// Raw `Dir::ToServer` bytes come from the server (roles swapped after probing).
    swapped: bool,
    /// The probe said HTTP.
    decided: bool,
    client: Half,
    server: Half,
    pending: VecDeque<Pending>,
    next_id: u64,
    emitted: u64,
    /// No more parsing: not HTTP, tunnel, or exchange cap. `Close` still flushes.
    stopped: bool,
    cap_hit: bool,
    closed: bool,
    /// A TLS connection whose handshake flights are still being read for certificates.
    tls: Option<Box<crate::tls::flight::TlsFlights>>,
}

impl HttpConnection {
    fn half(&mut self, role: Role) -> &mut Half {
        match role {
            Role::Client => &mut self.client,
            Role::Server => &mut self.server,
        }
    }

    fn role_of(&self, dir: Dir) -> Role {
        match (dir, self.swapped) {
            (Dir::ToServer, false) | (Dir::ToClient, true) => Role::Client,
            _ => Role::Server,
        }
    }

    /// Buffered sizes, for cap checks.
    pub fn buffer_usage(&self) -> BufferUsage {
        let body = |h: &Half| match &h.state {
            State::Body(b) => b.decoder.buffered(),
            _ => 0,
        };
        BufferUsage {
            head_bytes: [self.client.buf.len(), self.server.buf.len()],
            pending: self.pending.len(),
            body_samples: body(&self.client) + body(&self.server),
        }
    }

    fn decode_limits(limits: &HttpLimits) -> DecodeLimits {
        DecodeLimits {
            sample_cap: limits.max_body_sample,
            max_decoded: limits.max_decompressed,
            max_ratio: limits.max_decompression_ratio,
        }
    }

    fn new_exchange(&self, ts: Timestamp) -> HttpExchange {
        HttpExchange {
            client: self.client_addr,
            server: self.server_addr,
            ts,
            request: None,
            response: None,
            request_body: Body::default(),
            response_body: Body::default(),
            response_delay_micros: None,
            anomalies: Vec::new(),
        }
    }

    // ---- probing ---------------------------------------------------------------------------

    /// The probe found `kind` as the first start line in `role`'s half. Returns the role that
    /// half now has, or `None` when the connection is not HTTP.
    fn decide(&mut self, role: Role, kind: StartLine, ctx: &mut HttpCtx) -> Option<Role> {
        let want = match kind {
            StartLine::Request | StartLine::Request09 => Role::Client,
            StartLine::Response => Role::Server,
            StartLine::Neither => {
                self.not_http(ctx);
                return None;
            }
        };
        self.decided = true;
        ctx.stats.http_connections += 1;
        if want != role && !self.orientation_known {
            // The flow table guessed; the payload knows better.
            std::mem::swap(&mut self.client, &mut self.server);
            std::mem::swap(&mut self.client_addr, &mut self.server_addr);
            self.swapped = !self.swapped;
            ctx.stats.role_swaps += 1;
            return Some(want);
        }
        Some(role)
    }

    /// After TLS flight bytes: emit the observation once both flights are read, and keep the
    /// stream coming until then.
    fn tls_progress(&mut self, ctx: &mut HttpCtx) -> Interest {
        if self.tls.as_ref().is_some_and(|t| t.done()) {
            if let Some(t) = self.tls.take() {
                ctx.tls.push(t.finish(&mut ctx.tls_flights));
            }
        }
        if self.tls.is_some() {
            Interest::Continue
        } else {
            Interest::Stop
        }
    }

    fn not_http(&mut self, ctx: &mut HttpCtx) {
        ctx.stats.non_http_connections += 1;
        self.stop();
    }

    fn stop(&mut self) {
        self.stopped = true;
        for h in [&mut self.client, &mut self.server] {
            h.state = State::Done;
            h.buf = Vec::new();
            h.line_start = 0;
        }
    }

    // ---- data ------------------------------------------------------------------------------

    fn on_data(&mut self, dir: Dir, ts: Timestamp, mut input: &[u8], ctx: &mut HttpCtx) {
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
        }
    }

    /// Accumulate one line (or what there is of it) of a head. Returns bytes consumed.
    fn head_step(&mut self, role: Role, ts: Timestamp, input: &[u8], ctx: &mut HttpCtx) -> usize {
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
        }
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
                .get(..half.buf.len().min(super::parser::MAX_METHOD_LEN + 2))
                .unwrap_or_default();
            let hopeless = !decided && half.line_start == 0 && !prefix_may_be_start_line(probe);
            if hopeless {
                self.not_http(ctx);
            }
            return seg_len;
        }
        let line = half.buf.get(half.line_start..).unwrap_or_default();
        let is_first = half.line_start == 0;
        let empty = line == b"\n" || line == b"\r\n";
        half.line_start = half.buf.len();
        if is_first {
            let kind = classify_start_line(line.strip_suffix(b"\n").unwrap_or(line));
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
                Role::Server => kind == StartLine::Response,
            };
            if !fits {
                self.desync(role, ctx);
                return seg_len;
            }
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
    fn desync(&mut self, role: Role, ctx: &mut HttpCtx) {
        let half = self.half(role);
        ctx.stats.resync_bytes_discarded += half.buf.len() as u64;
        ctx.stats.resyncs += 1;
        half.carry(Anomaly::Desync);
        half.clear_buf();
        half.state = State::Resync;
        half.skipping_line = false;
    }

    fn head_complete(&mut self, role: Role, ts: Timestamp, ctx: &mut HttpCtx) {
        let half = self.half(role);
        let first_ts = half.first_ts.unwrap_or(ts);
        let head = std::mem::take(&mut half.buf);
        half.clear_buf();
        match role {
            Role::Client => match parse_request(&head) {
                Some((req, flags)) => self.request_head(req, flags, first_ts, ts, ctx),
                None => self.desync(role, ctx),
            },
            Role::Server => match parse_response(&head) {
                Some((resp, flags)) => self.response_head(resp, flags, first_ts, ts, ctx),
                None => self.desync(role, ctx),
            },
        }
        // Give the buffer's allocation back if a large head grew it.
        let half = self.half(role);
        if half.buf.capacity() > 4096 {
            half.buf = Vec::new();
        }
    }

    fn request_head(
        &mut self,
        req: RequestHead,
        flags: Vec<Anomaly>,
        first_ts: Timestamp,
        ts: Timestamp,
        ctx: &mut HttpCtx,
    ) {
        ctx.stats.requests += 1;
        let framing = if req.version == HttpVersion::Http09 {
            None
        } else {
            Some(request_framing(&req.headers, req.version))
        };
        let mut all_flags = std::mem::take(&mut self.client.carry);
        all_flags.extend(flags);
        if let Some(f) = &framing {
            all_flags.extend(f.flags.iter().copied());
        }
        if self.pending.iter().any(|p| !p.resp_done) {
            // RFC 9112 section 9.3.2: a request sent before earlier responses arrived.
            all_flags.push(Anomaly::Pipelined);
        }
        let target = if self.pending.len() >= ctx.limits.max_pending_requests {
            ctx.stats.pending_queue_drops += 1;
            Target::Untracked
        } else {
            let id = self.next_id;
            self.next_id += 1;
            let mut ex = self.new_exchange(first_ts);
            ex.request = Some(req);
            self.pending.push_back(Pending {
                id,
                ex,
                req_done: false,
                req_last_ts: None,
                resp_claimed: false,
                resp_first_ts: None,
                resp_done: false,
            });
            Target::Request(id)
        };
        let (framing, codings) = match framing {
            Some(f) => (f.framing, f.codings),
            None => (Framing::None, Vec::new()),
        };
        self.start_body(Role::Client, framing, codings, target, all_flags, ts, ctx);
    }

    fn next_unclaimed(&mut self) -> Option<&mut Pending> {
        self.pending.iter_mut().find(|p| !p.resp_claimed)
    }

    fn next_unclaimed_is_09(&self) -> bool {
        self.pending
            .iter()
            .find(|p| !p.resp_claimed)
            .is_some_and(|p| {
                p.ex.request
                    .as_ref()
                    .is_some_and(|r| r.version == HttpVersion::Http09)
            })
    }

    /// Attach a response head to the oldest unanswered request, or make an unpaired exchange.
    fn claim(&mut self, resp: ResponseHead, first_ts: Timestamp) -> (Target, Option<String>) {
        if let Some(p) = self.next_unclaimed() {
            p.resp_claimed = true;
            p.resp_first_ts = Some(first_ts);
            p.ex.response = Some(resp);
            let method = p.ex.request.as_ref().map(|r| r.method.clone());
            return (Target::Response(p.id), method);
        }
        let mut ex = self.new_exchange(first_ts);
        ex.response = Some(resp);
        ex.flag(Anomaly::UnpairedResponse);
        (Target::Unpaired(Box::new(ex)), None)
    }

    fn response_head(
        &mut self,
        resp: ResponseHead,
        flags: Vec<Anomaly>,
        first_ts: Timestamp,
        ts: Timestamp,
        ctx: &mut HttpCtx,
    ) {
        if (100..200).contains(&resp.status) && resp.status != 101 {
            // RFC 9110 section 15.2: interim responses precede the final one for the same
            // request; they do not complete the exchange.
            ctx.stats.interim_responses += 1;
            return;
        }
        ctx.stats.responses += 1;
        let (status, version) = (resp.status, resp.version);
        let headers = resp.headers.clone();
        let (target, method) = self.claim(resp, first_ts);
        let f = response_framing(status, method.as_deref(), &headers, version);
        let mut all_flags = std::mem::take(&mut self.server.carry);
        all_flags.extend(flags);
        all_flags.extend(f.flags.iter().copied());
        self.start_body(
            Role::Server,
            f.framing,
            f.codings,
            target,
            all_flags,
            ts,
            ctx,
        );
    }

    /// An HTTP/0.9 response: no head, the body runs until the server closes.
    fn start_http09_response(&mut self, ts: Timestamp, ctx: &mut HttpCtx) {
        ctx.stats.responses += 1;
        let first_ts = self.server.first_ts.unwrap_or(ts);
        self.server.clear_buf();
        // HTTP/0.9 has no status line; status 0 says so rather than inventing a 200.
        let resp = ResponseHead {
            status: 0,
            version: HttpVersion::Http09,
            headers: Vec::new(),
        };
        let (target, _) = self.claim(resp, first_ts);
        let flags = std::mem::take(&mut self.server.carry);
        self.start_body(
            Role::Server,
            Framing::UntilClose,
            Vec::new(),
            target,
            flags,
            ts,
            ctx,
        );
    }

    #[allow(clippy::too_many_arguments)]
    fn start_body(
        &mut self,
        role: Role,
        framing: Framing,
        codings: Vec<String>,
        target: Target,
        flags: Vec<Anomaly>,
        ts: Timestamp,
        ctx: &mut HttpCtx,
    ) {
        let limits = Self::decode_limits(&ctx.limits);
        let reader = match framing {
            Framing::Length(n) if n > 0 => BodyReader::length(n),
            Framing::Chunked => BodyReader::chunked(ctx.limits.max_head_bytes),
            Framing::UntilClose => BodyReader::UntilClose,
            Framing::None | Framing::Length(_) => {
                self.complete(InBody::empty(target, flags, limits), true, ts, ctx);
                self.half(role).state = State::Head;
                return;
            }
            Framing::Invalid => {
                // RFC 9112 section 6.3 rules 4 and 5: the length is unknowable; recipients
                // close the connection. We keep the head and look for the next message.
                self.complete(InBody::empty(target, flags, limits), true, ts, ctx);
                let half = self.half(role);
                half.state = State::Resync;
                half.skipping_line = false;
                ctx.stats.resyncs += 1;
                return;
            }
            Framing::Tunnel => {
                let mut body = InBody::empty(target, flags, limits);
                body.flags.push(Anomaly::Tunnel);
                ctx.stats.tunnels += 1;
                self.complete(body, true, ts, ctx);
                // The tunnel's own request is answered: emit it even if its body is open.
                self.flush(ctx, true);
                self.stop();
                return;
            }
        };
        let decoder = BodyDecoder::new(&codings, limits);
        self.half(role).state = State::Body(Box::new(InBody {
            reader,
            decoder,
            target,
            flags,
        }));
    }

    fn body_step(&mut self, role: Role, ts: Timestamp, input: &[u8], ctx: &mut HttpCtx) -> usize {
        let half = self.half(role);
        let State::Body(body) = &mut half.state else {
            return 0;
        };
        let InBody {
            reader, decoder, ..
        } = body.as_mut();
        let (used, step) = reader.feed(input, &mut |bytes| decoder.push(bytes));
        match step {
            Step::NeedMore => {}
            Step::Done => {
                if let Some(body) = take_body(half) {
                    half.state = State::Head;
                    self.complete(*body, true, ts, ctx);
                }
            }
            Step::Invalid(anomaly) => {
                if let Some(mut body) = take_body(half) {
                    half.state = State::Resync;
                    half.skipping_line = false;
                    ctx.stats.resyncs += 1;
                    body.flags.push(anomaly);
                    self.complete(*body, false, ts, ctx);
                }
            }
        }
        used
    }

    /// Drop bytes line by line until a plausible start line. Returns bytes consumed.
    fn resync_step(&mut self, role: Role, ts: Timestamp, input: &[u8], ctx: &mut HttpCtx) -> usize {
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
                let kind = classify_start_line(line);
                let accept = match (decided, role, kind) {
                    (_, _, StartLine::Neither | StartLine::Request09) => false,
                    (false, _, _) => true,
                    (true, Role::Client, k) => k == StartLine::Request,
                    (true, Role::Server, k) => k == StartLine::Response,
                };
                if accept {
                    half.line_start = half.buf.len();
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

    // ---- completion and output ---------------------------------------------------------------

    /// A message of `role` finished (`ok`: its framing completed normally).
    fn complete(&mut self, body: InBody, ok: bool, ts: Timestamp, ctx: &mut HttpCtx) {
        let bare_lf = body.reader.saw_bare_lf();
        let (decoded, dec_flags) = body.decoder.finish(ok);
        let mut flags = body.flags;
        flags.extend(dec_flags);
        if bare_lf {
            flags.push(Anomaly::BareLf);
        }
        match body.target {
            Target::Untracked => {}
            Target::Request(id) => {
                if let Some(p) = self.pending.iter_mut().find(|p| p.id == id) {
                    p.ex.request_body = decoded;
                    flags.iter().for_each(|&a| p.ex.flag(a));
                    p.req_done = true;
                    p.req_last_ts = Some(ts);
                }
            }
            Target::Response(id) => {
                if let Some(p) = self.pending.iter_mut().find(|p| p.id == id) {
                    p.ex.response_body = decoded;
                    flags.iter().for_each(|&a| p.ex.flag(a));
                    p.resp_done = true;
                }
            }
            Target::Unpaired(mut ex) => {
                ex.response_body = decoded;
                flags.iter().for_each(|&a| ex.flag(a));
                self.emit(*ex, ctx);
            }
        }
        self.flush(ctx, false);
    }

    /// Emit finished exchanges in request order; with `force`, emit everything (close).
    fn flush(&mut self, ctx: &mut HttpCtx, force: bool) {
        while let Some(front) = self.pending.front() {
            // After a tunnel or cap (`stopped`) a finished response need not wait for its
            // request body, which will never be parsed.
            let ready = front.resp_done && (front.req_done || self.stopped);
            if !force && !ready {
                break;
            }
            let Some(mut p) = self.pending.pop_front() else {
                break;
            };
            if !p.resp_claimed {
                p.ex.flag(Anomaly::UnpairedRequest);
            }
            if let (Some(resp), Some(req)) = (p.resp_first_ts, p.req_last_ts) {
                p.ex.response_delay_micros = Some(resp.since(req));
            }
            self.emit(p.ex, ctx);
        }
    }

    fn emit(&mut self, mut ex: HttpExchange, ctx: &mut HttpCtx) {
        if self.cap_hit {
            ctx.stats.exchange_cap_drops += 1;
            return;
        }
        self.emitted += 1;
        if self.emitted >= ctx.limits.max_exchanges_per_conn {
            ex.flag(Anomaly::ExchangeCapReached);
            ctx.stats.exchange_cap_hits += 1;
            self.cap_hit = true;
            self.stop();
        }
        ctx.stats.exchanges += 1;
        for &a in &ex.anomalies {
            ctx.stats.count_anomaly(a);
        }
        ctx.exchanges.push(ex);
    }

    // ---- gaps, overlaps, end -----------------------------------------------------------------

    /// A head in progress was cut (gap, cap, end of stream): keep its start line if complete,
    /// so pairing stays right, flagged `reason` and `TruncatedHead`.
    fn head_lost(&mut self, role: Role, ts: Timestamp, reason: Anomaly, ctx: &mut HttpCtx) {
        let half = self.half(role);
        let partial = std::mem::take(&mut half.buf);
        let first_ts = half.first_ts.unwrap_or(ts);
        half.clear_buf();
        if partial.is_empty() {
            half.carry(reason);
            return;
        }
        let flags = vec![reason, Anomaly::TruncatedHead];
        let limits = Self::decode_limits(&ctx.limits);
        match role {
            // A salvaged head has no fields, so no body framing: the message ends here.
            Role::Client => match salvage_request(&partial) {
                Some(req) => self.request_head(req, flags, first_ts, ts, ctx),
                None => {
                    ctx.stats.lost_heads += 1;
                    self.half(role).carry(reason);
                }
            },
            Role::Server => match salvage_response(&partial) {
                Some(resp) if (100..200).contains(&resp.status) => {}
                Some(resp) => {
                    ctx.stats.responses += 1;
                    let (target, _) = self.claim(resp, first_ts);
                    self.complete(InBody::empty(target, flags, limits), false, ts, ctx);
                }
                None => {
                    ctx.stats.lost_heads += 1;
                    self.half(role).carry(reason);
                }
            },
        }
    }

    fn on_gap(&mut self, dir: Dir, ts: Timestamp, len: u64, ctx: &mut HttpCtx) {
        ctx.stats.gaps += 1;
        let role = self.role_of(dir);
        let decided = self.decided;
        let half = self.half(role);
        if half.ended {
            return;
        }
        if !decided {
            // Probe not done: scan for a start line after the hole.
            half.clear_buf();
            if !matches!(half.state, State::Done) {
                half.state = State::Resync;
                half.skipping_line = false;
            }
            return;
        }
        match &mut half.state {
            State::Done => {}
            State::Resync => {
                ctx.stats.resync_bytes_discarded += half.buf.len() as u64;
                half.clear_buf();
                half.skipping_line = false;
                half.carry(Anomaly::Gap);
            }
            State::Head => {
                self.head_lost(role, ts, Anomaly::Gap, ctx);
                let half = self.half(role);
                if !matches!(half.state, State::Done) {
                    half.state = State::Resync;
                    half.skipping_line = false;
                }
                ctx.stats.resyncs += 1;
            }
            State::Body(body) => {
                body.decoder.gap(len);
                if !body.flags.contains(&Anomaly::Gap) {
                    body.flags.push(Anomaly::Gap);
                }
                match body.reader.gap(len) {
                    // The hole was body data of known extent: framing is intact.
                    GapOutcome::InSync { done: false } => {}
                    GapOutcome::InSync { done: true } => {
                        if let Some(body) = take_body(half) {
                            half.state = State::Head;
                            self.complete(*body, true, ts, ctx);
                        }
                    }
                    GapOutcome::Lost => {
                        if let Some(body) = take_body(half) {
                            half.state = State::Resync;
                            half.skipping_line = false;
                            ctx.stats.resyncs += 1;
                            self.complete(*body, false, ts, ctx);
                        }
                    }
                }
            }
        }
    }

    fn on_overlap(&mut self, dir: Dir) {
        let role = self.role_of(dir);
        let half = self.half(role);
        match &mut half.state {
            State::Body(body) => {
                if !body.flags.contains(&Anomaly::OverlapConflict) {
                    body.flags.push(Anomaly::OverlapConflict);
                }
            }
            State::Head | State::Resync => half.carry(Anomaly::OverlapConflict),
            State::Done => {}
        }
    }

    /// One direction finished: close-delimited bodies complete, anything else is cut short.
    fn on_end(&mut self, role: Role, ts: Timestamp, ctx: &mut HttpCtx) {
        let half = self.half(role);
        if half.ended {
            return;
        }
        half.ended = true;
        match std::mem::replace(&mut half.state, State::Done) {
            State::Body(body) => {
                // RFC 9112 section 6.3 rule 8: a close-delimited body ends with the connection.
                let ok = matches!(body.reader, BodyReader::UntilClose);
                let mut body = *body;
                if !ok {
                    body.flags.push(Anomaly::BodyIncomplete);
                }
                self.complete(body, ok, ts, ctx);
            }
            State::Head if self.decided && !self.stopped && !self.half(role).buf.is_empty() => {
                self.head_lost(role, ts, Anomaly::TruncatedHead, ctx);
            }
            _ => {}
        }
        let half = self.half(role);
        half.state = State::Done;
        half.buf = Vec::new();
        half.line_start = 0;
    }
}

impl InBody {
    fn empty(target: Target, flags: Vec<Anomaly>, limits: DecodeLimits) -> InBody {
        InBody {
            reader: BodyReader::length(0),
            decoder: BodyDecoder::new(&[], limits),
            target,
            flags,
        }
    }
}

fn take_body(half: &mut Half) -> Option<Box<InBody>> {
    match std::mem::replace(&mut half.state, State::Done) {
        State::Body(b) => Some(b),
        other => {
            half.state = other;
            None
        }
    }
}

impl StreamHandler for HttpConnection {
    type Ctx = HttpCtx;

    fn open(info: &ConnInfo, ctx: &mut HttpCtx) -> Self {
        ctx.stats.connections += 1;
        // Without the handshake the first bytes are likely mid-message: scan, don't judge.
        let initial = || {
            if info.orientation_known {
                State::Head
            } else {
                State::Resync
            }
        };
        HttpConnection {
            client_addr: info.client,
            server_addr: info.server,
            orientation_known: info.orientation_known,
            swapped: false,
            decided: false,
            client: Half::new(initial()),
            server: Half::new(initial()),
            pending: VecDeque::new(),
            next_id: 0,
            emitted: 0,
            stopped: false,
            cap_hit: false,
            closed: false,
            tls: None,
        }
    }

    fn on_event(&mut self, event: StreamEvent<'_>, ctx: &mut HttpCtx) -> Interest {
        if self.closed {
            return Interest::Stop;
        }
        match event {
            StreamEvent::Data { dir, ts, bytes } => {
                if let Some(t) = self.tls.as_mut() {
                    t.data(dir, bytes, &mut ctx.tls_flights);
                    return self.tls_progress(ctx);
                }
                if !self.decided && !self.stopped && crate::tls::looks_like_tls(bytes) {
                    // Not HTTP, but the handshake names the host: keep that much (only the
                    // first segment is read; a ClientHello cut there still yields its SNI),
                    // then read the first flights for certificate subjects (TLS 1.2).
                    if let Some(hello) = crate::tls::parse_client_hello(bytes) {
                        ctx.stats.tls_client_hellos += 1;
                        let client = match dir {
                            Dir::ToServer => self.client_addr,
                            Dir::ToClient => self.server_addr,
                        };
                        let obs = analyzer::tls::TlsObservation {
                            ts,
                            sni: hello.sni,
                            alpn: hello.alpn,
                            ja4: hello.ja4,
                            server_cert_subject: None,
                            client_cert_subject: None,
                            consumer: client.ip().to_string(),
                        };
                        self.tls = Some(Box::new(crate::tls::flight::TlsFlights::new(
                            obs,
                            dir,
                            bytes,
                            &mut ctx.tls_flights,
                        )));
                        self.not_http(ctx);
                        return self.tls_progress(ctx);
                    }
                }
                self.on_data(dir, ts, bytes, ctx)
            }
            StreamEvent::Gap { dir, ts, len } => {
                if let Some(t) = self.tls.as_mut() {
                    // Bytes after a hole cannot be framed as records: read what came before.
                    t.settle(dir, &mut ctx.tls_flights);
                    return self.tls_progress(ctx);
                }
                if !self.stopped {
                    self.on_gap(dir, ts, len, ctx);
                }
            }
            StreamEvent::OverlapConflict { dir, .. } => {
                if !self.stopped {
                    self.on_overlap(dir);
                }
            }
            StreamEvent::End { dir, ts } => {
                if let Some(t) = self.tls.as_mut() {
                    t.settle(dir, &mut ctx.tls_flights);
                    return self.tls_progress(ctx);
                }
                if !self.stopped {
                    let role = self.role_of(dir);
                    self.on_end(role, ts, ctx);
                }
            }
            StreamEvent::Close { ts, .. } => {
                if let Some(t) = self.tls.take() {
                    ctx.tls.push(t.finish(&mut ctx.tls_flights));
                }
                if self.decided && !self.stopped {
                    self.on_end(Role::Client, ts, ctx);
                    self.on_end(Role::Server, ts, ctx);
                }
                // Requests never answered leave now, flagged UnpairedRequest.
                self.flush(ctx, true);
                self.closed = true;
                return Interest::Stop;
            }
        }
        if self.stopped && self.tls.is_none() {
            Interest::Stop
        } else {
            Interest::Continue
        }
    }
}
