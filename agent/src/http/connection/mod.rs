//! [`HttpConnection`]: the per-connection HTTP/1.x state machine behind the flow table.
//!
//! Each direction ("half", `half.rs`) is a push parser in one of four states:
//!
//! - `Head`: at a message start. When the whole head is in the bytes at hand (the common case)
//!   it is parsed where it lies; otherwise it is accumulated line by line into a buffer capped
//!   at `max_head_bytes`. Empty lines before a start line are skipped (RFC 9112 section 2.2).
//!   The first line is checked before anything else: before the connection is known to be
//!   HTTP it is the probe; afterwards a line that is not a start line for this direction's role
//!   is a `Desync`.
//! - `Body`: consuming a body per its framing (`body.rs`) to the depth the sink asked for:
//!   framed only, scanned raw, or content decoded (`decode.rs`) for learning.
//! - `Resync`: framing was lost (a gap in a head or framing bytes, an unparsable head, invalid
//!   framing). Bytes are dropped line by line until a line that is a plausible start line for
//!   this direction (`METHOD SP target SP HTTP/1.x` or `HTTP/1.x NNN`); that line starts a new
//!   head. Anomalies that describe the lost data are carried to that next message.
//! - `Done`: nothing more to parse (end of stream, 101 tunnel, not HTTP). After a 2xx to
//!   CONNECT both halves start over in `Head`, undecided: the tunnel's content is probed like
//!   a new connection (HTTP parsed, TLS to the TLS inventory, anything else stops).
//!
//! Probing: with a known orientation (the flow table saw the handshake) the first line of the
//! first direction that completes one decides: a request line or status line makes the
//! connection HTTP (swapping roles if the orientation was a guess and the payload says
//! otherwise), anything else stops it. When the orientation is a guess (mid-stream pickup) or
//! a direction starts with a gap, its first bytes are probably mid-message, so that direction
//! starts in `Resync` and scans up to [`PROBE_WINDOW`] bytes for a start line before giving up.
//!
//! Pairing (`pairing.rs`): each request head parsed joins a FIFO of pending exchanges (capped
//! at `max_pending_requests`); each final response claims the oldest unclaimed one. An exchange
//! leaves the queue, in order, once both its request and its response are complete, or at
//! close. 1xx responses other than 101 are counted on the exchange they precede (RFC 9110
//! section 15.2). Client bytes that are not a request leave a placeholder in the queue, so an
//! error response a server gives them is not paired with the next real request.
//!
//! Losses (`losses.rs`): gaps, conflicting retransmissions and stream ends.
//!
//! What a message means is the [`ExchangeSink`]'s business: the connection hands it borrowed
//! heads and keeps the sink's per-message values in its pairing queue.

mod h2;
mod half;
mod losses;
mod pairing;

use super::sink::{ConnMeta, ExchangeSink};
use super::HttpCtx;
use crate::flow::{ConnInfo, Dir, Interest, StreamEvent, StreamHandler};
use half::{Half, State};
use pairing::Pending;
use std::collections::VecDeque;

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

/// HTTP/1.x state of one TCP connection; see the module docs.
pub struct HttpConnection<S: ExchangeSink> {
    meta: ConnMeta,
    orientation_known: bool,
    /// Raw `Dir::ToServer` bytes come from the server (roles swapped after probing).
    swapped: bool,
    /// The probe said HTTP.
    decided: bool,
    client: Half<S::Message>,
    server: Half<S::Message>,
    pending: VecDeque<Pending<S::Message>>,
    next_id: u64,
    emitted: u64,
    /// No more parsing: not HTTP, tunnel, or exchange cap. `Close` still flushes.
    stopped: bool,
    cap_hit: bool,
    closed: bool,
    /// A TLS connection whose handshake flights are still being read for certificates.
    tls: Option<Box<crate::tls::flight::TlsFlights>>,
    /// Inside an established CONNECT tunnel: its content is being probed.
    in_tunnel: bool,
    /// The connection speaks HTTP/2 (`h2.rs`): every event goes there.
    h2: Option<Box<crate::http2::H2Session<S::Message>>>,
    /// The last final response was a 101 to `h2c`.
    h2c_accepted: bool,
    /// The server's first bytes held back (at most 9) while they may be its HTTP/2 preface.
    h2_probe: Vec<u8>,
    /// The server's first bytes were judged: not an HTTP/2 preface.
    h2_probe_done: bool,
}

/// A finished TLS connection's observation (and the TPP its client certificate named) to the
/// sink.
fn hand_over<S: ExchangeSink>(t: Box<crate::tls::flight::TlsFlights>, ctx: &mut HttpCtx<S>) {
    let (observation, tpp) = t.finish(&mut ctx.tls_flights);
    if let Some(tpp) = &tpp {
        ctx.sink.tls_tpp(&observation, tpp);
    }
    ctx.sink.tls(observation);
}

impl<S: ExchangeSink> HttpConnection<S> {
    fn half(&mut self, role: Role) -> &mut Half<S::Message> {
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
        let body = |h: &Half<S::Message>| match &h.state {
            State::Body(b) => b.decoder.as_ref().map_or(0, |d| d.buffered()),
            _ => 0,
        };
        BufferUsage {
            head_bytes: [self.client.buf.len(), self.server.buf.len()],
            pending: self.pending.len(),
            body_samples: body(&self.client) + body(&self.server),
        }
    }

    // ---- probing ---------------------------------------------------------------------------

    /// The probe found `kind` as the first start line in `role`'s half. Returns the role that
    /// half now has, or `None` when the connection is not HTTP.
    fn decide(
        &mut self,
        role: Role,
        kind: super::parser::StartLine,
        ctx: &mut HttpCtx<S>,
    ) -> Option<Role> {
        use super::parser::StartLine;
        let want = match kind {
            StartLine::Request | StartLine::Request09 => Role::Client,
            StartLine::Response => Role::Server,
            StartLine::Neither => {
                self.not_http(ctx);
                return None;
            }
        };
        self.decided = true;
        if self.in_tunnel {
            ctx.stats.tunnels_http += 1;
        } else {
            ctx.stats.http_connections += 1;
        }
        if want != role && !self.orientation_known {
            // The flow table guessed; the payload knows better.
            std::mem::swap(&mut self.client, &mut self.server);
            std::mem::swap(&mut self.meta.client, &mut self.meta.server);
            self.swapped = !self.swapped;
            ctx.stats.role_swaps += 1;
            return Some(want);
        }
        Some(role)
    }

    /// After TLS flight bytes: hand the observation over once both flights are read, and keep
    /// the stream coming until then.
    fn tls_progress(&mut self, ctx: &mut HttpCtx<S>) -> Interest {
        if self.tls.as_ref().is_some_and(|t| t.done()) {
            if let Some(t) = self.tls.take() {
                hand_over(t, ctx);
            }
        }
        if self.tls.is_some() {
            Interest::Continue
        } else {
            Interest::Stop
        }
    }

    fn not_http(&mut self, ctx: &mut HttpCtx<S>) {
        match (self.in_tunnel, self.tls.is_some()) {
            (false, _) => ctx.stats.non_http_connections += 1,
            (true, true) => ctx.stats.tunnels_tls += 1,
            (true, false) => ctx.stats.tunnels_opaque += 1,
        }
        self.stop();
    }

    /// A CONNECT was answered 2xx: what follows is another connection's bytes, end to end.
    /// Both directions are probed afresh (roles stay: the client opened the tunnel), the way
    /// Suricata parses HTTP inside CONNECT; TLS inside goes to the TLS inventory.
    pub(super) fn enter_tunnel(&mut self) {
        self.in_tunnel = true;
        self.decided = false;
        self.orientation_known = true;
        for h in [&mut self.client, &mut self.server] {
            *h = Half::new(State::Head);
        }
    }

    fn stop(&mut self) {
        self.stopped = true;
        for h in [&mut self.client, &mut self.server] {
            h.state = State::Done;
            h.buf = Vec::new();
            h.line_start = 0;
        }
    }

    /// A TLS ClientHello opened the connection: keep its metadata (only the first segment is
    /// read; a ClientHello cut there still yields its SNI), then read the first flights for
    /// certificate subjects (TLS 1.2). `false` when the bytes are not a ClientHello after all.
    fn start_tls(
        &mut self,
        dir: Dir,
        ts: analyzer::time::Timestamp,
        bytes: &[u8],
        ctx: &mut HttpCtx<S>,
    ) -> bool {
        let Some(hello) = crate::tls::parse_client_hello(bytes) else {
            return false;
        };
        ctx.stats.tls_client_hellos += 1;
        let client = match dir {
            Dir::ToServer => self.meta.client,
            Dir::ToClient => self.meta.server,
        };
        let obs = analyzer::tls::TlsObservation {
            ts,
            sni: hello.sni,
            alpn: hello.alpn,
            ja4: hello.ja4,
            server_cert_subject: None,
            client_cert_subject: None,
            consumer: client.ip().to_string(),
            server_alpn: None,
        };
        self.tls = Some(Box::new(crate::tls::flight::TlsFlights::new(
            obs,
            dir,
            bytes,
            &mut ctx.tls_flights,
        )));
        self.not_http(ctx);
        true
    }
}

impl<S: ExchangeSink> StreamHandler for HttpConnection<S> {
    type Ctx = HttpCtx<S>;

    fn open(info: &ConnInfo, ctx: &mut HttpCtx<S>) -> Self {
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
            meta: ConnMeta {
                client: info.client,
                server: info.server,
            },
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
            in_tunnel: false,
            h2: None,
            h2c_accepted: false,
            h2_probe: Vec::new(),
            h2_probe_done: false,
        }
    }

    fn on_event(&mut self, event: StreamEvent<'_>, ctx: &mut HttpCtx<S>) -> Interest {
        if self.closed {
            return Interest::Stop;
        }
        if self.h2.is_some() {
            return self.h2_event(event, ctx);
        }
        if let StreamEvent::Data { dir, bytes, .. } = event {
            let fresh = !self.decided && !self.stopped && !self.in_tunnel && self.tls.is_none();
            if fresh && h2::is_preface_start(bytes) {
                self.start_h2_prior_knowledge(dir, ctx);
                return self.h2_event(event, ctx);
            }
            if fresh && !self.orientation_known && h2::looks_like_frames(bytes) {
                self.start_h2_mid_stream(ctx);
                return self.h2_event(event, ctx);
            }
            let client_quiet = self.client.buf.is_empty() && self.client.first_ts.is_none();
            if fresh
                && self.orientation_known
                && dir == Dir::ToClient
                && client_quiet
                && !self.h2_probe_done
            {
                if let StreamEvent::Data { ts, .. } = event {
                    if let Some(interest) = self.probe_server_first(ts, bytes, ctx) {
                        return interest;
                    }
                }
            }
            if dir == Dir::ToServer && !self.h2_probe.is_empty() {
                // The client spoke after all: what the server sent first is HTTP/1's.
                self.h2_probe_done = true;
                let head = std::mem::take(&mut self.h2_probe);
                if let StreamEvent::Data { ts, .. } = event {
                    self.on_data(Dir::ToClient, ts, &head, ctx);
                }
            }
        }
        match event {
            StreamEvent::Data { dir, ts, bytes } => {
                if let Some(t) = self.tls.as_mut() {
                    t.data(dir, bytes, &mut ctx.tls_flights);
                    return self.tls_progress(ctx);
                }
                // Inside a CONNECT tunnel, line ends left over from the CONNECT exchange may
                // precede the ClientHello.
                let hello = if self.in_tunnel && !self.decided {
                    let n = bytes
                        .iter()
                        .take_while(|&&b| b == b'\r' || b == b'\n')
                        .count();
                    bytes.get(n..).unwrap_or_default()
                } else {
                    bytes
                };
                if !self.decided
                    && !self.stopped
                    && crate::tls::looks_like_tls(hello)
                    && self.start_tls(dir, ts, hello, ctx)
                {
                    return self.tls_progress(ctx);
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
                    hand_over(t, ctx);
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
        if self.stopped && self.tls.is_none() && self.h2.is_none() {
            Interest::Stop
        } else {
            Interest::Continue
        }
    }
}
