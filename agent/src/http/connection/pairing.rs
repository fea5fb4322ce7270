//! Requests and responses paired into exchanges: the pending queue, body starts and ends, and
//! handing finished exchanges to the sink in request order.

use super::super::body::{
    request_framing, response_framing, BodyReader, Framing, FramingDecision, RequestMethod,
};
use super::super::decode::{BodyDecoder, DecodeLimits};
use super::super::sink::{ExchangeInfo, ExchangeSink};
use super::super::{HttpCtx, HttpLimits};
use super::half::{InBody, State};
use super::{h2, HttpConnection, Role};
use analyzer::exchange::{
    Anomaly, AnomalySet, Body, BodyDepth, BodyEnd, BodyShape, HttpVersion, RequestView,
    ResponseView,
};
use analyzer::time::Timestamp;
use std::collections::VecDeque;

/// An exchange whose request head was seen, waiting for its completion.
pub(super) struct Pending<M> {
    id: u64,
    /// First packet of the request.
    ts: Timestamp,
    request: Option<M>,
    response: Option<M>,
    flags: AnomalySet,
    /// What the request's method means for the response's framing.
    method: RequestMethod,
    http09: bool,
    /// A placeholder for client bytes that were not a request (cruft): an error response in
    /// its place is the server's answer to them and is not an exchange.
    cruft: bool,
    /// The request sent `Expect: 100-continue` with a body (RFC 9110 section 10.1.1).
    expect_continue: bool,
    /// Interim responses seen before the final one.
    interim: u16,
    req_done: bool,
    req_last_ts: Option<Timestamp>,
    resp_claimed: bool,
    resp_first_ts: Option<Timestamp>,
    resp_done: bool,
}

/// A response with no request to pair with: handed on as an exchange of its own.
pub(super) struct Unpaired<M> {
    response: M,
    first_ts: Timestamp,
    flags: AnomalySet,
}

/// Where a message's body and flags go when it completes.
pub(super) enum Target<M> {
    /// Pending exchange with this id.
    Request(u64),
    /// The pending queue was full: parsed for framing, then dropped.
    Untracked,
    Response(u64),
    Unpaired(Box<Unpaired<M>>),
}

impl<M> Target<M> {
    /// The sink's value for this message.
    pub fn message_mut<'a>(
        &'a mut self,
        pending: &'a mut VecDeque<Pending<M>>,
    ) -> Option<&'a mut M> {
        match self {
            Target::Request(id) => pending
                .iter_mut()
                .find(|p| p.id == *id)
                .and_then(|p| p.request.as_mut()),
            Target::Response(id) => pending
                .iter_mut()
                .find(|p| p.id == *id)
                .and_then(|p| p.response.as_mut()),
            Target::Unpaired(u) => Some(&mut u.response),
            Target::Untracked => None,
        }
    }
}

fn decode_limits(limits: &HttpLimits) -> DecodeLimits {
    DecodeLimits {
        sample_cap: limits.max_body_sample,
        max_decoded: limits.max_decompressed,
        max_ratio: limits.max_decompression_ratio,
    }
}

fn shape(f: &FramingDecision) -> BodyShape {
    BodyShape {
        present: match f.framing {
            Framing::Length(n) => n > 0,
            Framing::Chunked | Framing::UntilClose => true,
            Framing::None | Framing::Tunnel | Framing::Invalid => false,
        },
        identity: f.codings.is_identity(),
    }
}

impl<M> InBody<M> {
    /// A message whose body is empty (or unknowable).
    pub(super) fn empty(target: Target<M>, flags: AnomalySet, depth: BodyDepth) -> InBody<M> {
        InBody {
            reader: BodyReader::length(0),
            depth,
            decoder: None,
            wire_len: 0,
            target,
            flags,
        }
    }
}

impl<S: ExchangeSink> HttpConnection<S> {
    pub(super) fn request_head(
        &mut self,
        req: &RequestView<'_>,
        flags: AnomalySet,
        first_ts: Timestamp,
        ts: Timestamp,
        ctx: &mut HttpCtx<S>,
    ) {
        ctx.stats.requests += 1;
        let http09 = req.version == HttpVersion::Http09;
        let framing = if http09 {
            FramingDecision::plain(Framing::None)
        } else {
            request_framing(req.headers, req.version)
        };
        let mut all_flags = std::mem::take(&mut self.client.carry);
        all_flags.extend(flags);
        all_flags.extend(framing.flags);
        if self.pending.iter().any(|p| !p.resp_done && !p.cruft) {
            // RFC 9112 section 9.3.2: a request sent before earlier responses arrived.
            all_flags.insert(Anomaly::Pipelined);
        }
        let (target, depth) = if self.pending.len() >= ctx.limits.max_pending_requests {
            ctx.stats.pending_queue_drops += 1;
            (Target::Untracked, BodyDepth::Frame)
        } else {
            let id = self.next_id;
            self.next_id += 1;
            let (message, depth) = ctx.sink.request(&self.meta, req, shape(&framing), first_ts);
            self.pending.push_back(Pending {
                id,
                ts: first_ts,
                request: Some(message),
                response: None,
                flags: AnomalySet::EMPTY,
                method: RequestMethod::of(req.method),
                http09,
                cruft: false,
                // Only a request with a body can wait for 100 Continue; the header is looked
                // up for those alone.
                expect_continue: shape(&framing).present
                    && req.headers.iter().any(|h| {
                        h.name.eq_ignore_ascii_case("expect")
                            && h.value.trim_ascii().eq_ignore_ascii_case(b"100-continue")
                    }),
                interim: 0,
                req_done: false,
                req_last_ts: None,
                resp_claimed: false,
                resp_first_ts: None,
                resp_done: false,
            });
            (Target::Request(id), depth)
        };
        self.start_body(Role::Client, framing, target, all_flags, depth, ts, ctx);
    }

    /// Queue a cruft placeholder (see [`Pending::cruft`]), within the pending cap.
    pub(super) fn push_cruft(&mut self, ctx: &mut HttpCtx<S>) {
        if self.pending.len() >= ctx.limits.max_pending_requests {
            return;
        }
        let id = self.next_id;
        self.next_id += 1;
        self.pending.push_back(Pending {
            id,
            ts: Timestamp(0),
            request: None,
            response: None,
            flags: AnomalySet::EMPTY,
            method: RequestMethod::Other,
            http09: false,
            cruft: true,
            expect_continue: false,
            interim: 0,
            req_done: true,
            req_last_ts: None,
            resp_claimed: false,
            resp_first_ts: None,
            resp_done: false,
        });
    }

    pub(super) fn next_unclaimed_is_09(&self) -> bool {
        self.pending
            .iter()
            .find(|p| !p.resp_claimed)
            .is_some_and(|p| p.http09)
    }

    /// Attach a response to the oldest unanswered request, or make an unpaired exchange.
    /// `framing` is computed once the request (and so its method) is known.
    fn claim(
        &mut self,
        resp: &ResponseView<'_>,
        first_ts: Timestamp,
        ctx: &mut HttpCtx<S>,
    ) -> (Target<S::Message>, FramingDecision, BodyDepth) {
        let mut idx = self.pending.iter().position(|p| !p.resp_claimed);
        while let Some(i) = idx.filter(|&i| self.pending.get(i).is_some_and(|p| p.cruft)) {
            self.pending.remove(i);
            // Servers answer bytes that are not a request with an error (400, 501); that
            // answer is framed (to find the next response) and not reported. A success
            // belongs to the next real request: the server ignored the cruft.
            if resp.status >= 400 {
                ctx.stats.responses_to_cruft += 1;
                let framing = response_framing(
                    resp.status,
                    RequestMethod::Other,
                    resp.headers,
                    resp.version,
                );
                return (Target::Untracked, framing, BodyDepth::Frame);
            }
            idx = self.pending.iter().position(|p| !p.resp_claimed);
        }
        let method = idx
            .and_then(|i| self.pending.get(i))
            .map_or(RequestMethod::Other, |p| p.method);
        let framing = response_framing(resp.status, method, resp.headers, resp.version);
        let request = idx
            .and_then(|i| self.pending.get(i))
            .and_then(|p| p.request.as_ref());
        let (message, depth) =
            ctx.sink
                .response(&self.meta, request, resp, shape(&framing), first_ts);
        let target = match idx.and_then(|i| self.pending.get_mut(i)) {
            Some(p) => {
                p.resp_claimed = true;
                p.resp_first_ts = Some(first_ts);
                p.response = Some(message);
                Target::Response(p.id)
            }
            None => Target::Unpaired(Box::new(Unpaired {
                response: message,
                first_ts,
                flags: AnomalySet::of(Anomaly::UnpairedResponse),
            })),
        };
        (target, framing, depth)
    }

    pub(super) fn response_head(
        &mut self,
        resp: &ResponseView<'_>,
        flags: AnomalySet,
        first_ts: Timestamp,
        ts: Timestamp,
        ctx: &mut HttpCtx<S>,
    ) {
        if (100..200).contains(&resp.status) && resp.status != 101 {
            // RFC 9110 section 15.2: interim responses precede the final one for the same
            // request; they do not complete the exchange.
            ctx.stats.interim_responses += 1;
            if let Some(p) = self.pending.iter_mut().find(|p| !p.resp_claimed) {
                p.interim = p.interim.saturating_add(1);
            }
            return;
        }
        self.h2c_accepted = resp.status == 101 && h2::upgrades_to_h2c(resp.headers);
        ctx.stats.responses += 1;
        let (target, framing, depth) = self.claim(resp, first_ts, ctx);
        if let Target::Response(id) = target {
            self.skip_unsent_body(id, resp.status, ts, ctx);
        }
        let mut all_flags = std::mem::take(&mut self.server.carry);
        all_flags.extend(flags);
        all_flags.extend(framing.flags);
        self.start_body(Role::Server, framing, target, all_flags, depth, ts, ctx);
    }

    /// RFC 9110 section 10.1.1: a client that sent `Expect: 100-continue` and got a final
    /// error status instead of 100 does not send the content (curl, browsers). If none of the
    /// request body has arrived, it ends empty here, so the client's next request is parsed as
    /// a request and not swallowed as that body. A client that sends the body anyway costs a
    /// `Desync` on it, the lesser loss.
    fn skip_unsent_body(&mut self, id: u64, status: u16, ts: Timestamp, ctx: &mut HttpCtx<S>) {
        if status < 400 {
            return;
        }
        let waiting = self
            .pending
            .iter()
            .any(|p| p.id == id && p.expect_continue && !p.req_done);
        let unsent = matches!(
            &self.client.state,
            State::Body(b) if b.wire_len == 0 && matches!(b.target, Target::Request(r) if r == id)
        );
        if !(waiting && unsent) {
            return;
        }
        if let Some(body) = super::half::take_body(&mut self.client) {
            self.client.state = State::Head;
            self.complete(body, true, ts, ctx);
        }
    }

    /// A response head that could only be salvaged (its start line): it ends here.
    pub(super) fn salvaged_response(
        &mut self,
        resp: &ResponseView<'_>,
        flags: AnomalySet,
        first_ts: Timestamp,
        ts: Timestamp,
        ctx: &mut HttpCtx<S>,
    ) {
        ctx.stats.responses += 1;
        let (target, _, depth) = self.claim(resp, first_ts, ctx);
        self.complete(InBody::empty(target, flags, depth), false, ts, ctx);
    }

    /// An HTTP/0.9 response: no head, the body runs until the server closes.
    pub(super) fn start_http09_response(&mut self, ts: Timestamp, ctx: &mut HttpCtx<S>) {
        ctx.stats.responses += 1;
        let first_ts = self.server.first_ts.unwrap_or(ts);
        self.server.clear_buf();
        // HTTP/0.9 has no status line; status 0 says so rather than inventing a 200.
        let resp = ResponseView {
            status: 0,
            version: HttpVersion::Http09,
            headers: &[],
        };
        let (target, _, depth) = self.claim(&resp, first_ts, ctx);
        let framing = FramingDecision::plain(Framing::UntilClose);
        let flags = std::mem::take(&mut self.server.carry);
        self.start_body(Role::Server, framing, target, flags, depth, ts, ctx);
    }

    #[allow(clippy::too_many_arguments)]
    fn start_body(
        &mut self,
        role: Role,
        framing: FramingDecision,
        target: Target<S::Message>,
        flags: AnomalySet,
        depth: BodyDepth,
        ts: Timestamp,
        ctx: &mut HttpCtx<S>,
    ) {
        let reader = match framing.framing {
            Framing::Length(n) if n > 0 => BodyReader::length(n),
            Framing::Chunked | Framing::UntilClose if framing.sniff => {
                BodyReader::sniff(framing.fallback, ctx.limits.max_head_bytes)
            }
            Framing::Chunked => BodyReader::chunked(ctx.limits.max_head_bytes),
            Framing::UntilClose => BodyReader::UntilClose,
            Framing::None | Framing::Length(_) => {
                self.complete(InBody::empty(target, flags, depth), true, ts, ctx);
                self.half(role).state = State::Head;
                return;
            }
            Framing::Invalid => {
                // RFC 9112 section 6.3 rules 4 and 5: the length is unknowable; recipients
                // close the connection. We keep the head and look for the next message.
                self.complete(InBody::empty(target, flags, depth), true, ts, ctx);
                self.half(role).resync();
                ctx.stats.resyncs += 1;
                return;
            }
            Framing::Tunnel if role == Role::Server && self.h2c_accepted => {
                // RFC 7540 section 3.2: HTTP/2 follows the 101 at once, and the request that
                // asked for it is stream 1's; the 101 itself is not the answer.
                let request = self.take_answered(&target);
                self.flush(ctx, true);
                self.stop();
                let (message, req_ts) = request.unwrap_or((None, ts));
                self.start_h2_upgrade(message, req_ts, ctx);
                return;
            }
            Framing::Tunnel => {
                let connect = role == Role::Server && self.answers_connect(&target);
                let mut body = InBody::empty(target, flags, depth);
                body.flags.insert(Anomaly::Tunnel);
                ctx.stats.tunnels += 1;
                self.complete(body, true, ts, ctx);
                // The tunnel's own request is answered: emit it even if its body is open.
                self.flush(ctx, true);
                if connect && self.pending.is_empty() {
                    self.enter_tunnel();
                } else {
                    self.stop();
                }
                return;
            }
        };
        let decoder = (depth == BodyDepth::Learn).then(|| {
            Box::new(BodyDecoder::new(
                &framing.codings,
                decode_limits(&ctx.limits),
            ))
        });
        // A scan reads bytes as sent: only meaningful when nothing is content-coded.
        let depth = match depth {
            BodyDepth::Scan if !framing.codings.is_identity() => BodyDepth::Frame,
            d => d,
        };
        self.half(role).state = State::Body(InBody {
            reader,
            depth,
            decoder,
            wire_len: 0,
            target,
            flags,
        });
    }

    /// Remove the pending exchange `target` answers: its request's message and timestamp.
    fn take_answered(
        &mut self,
        target: &Target<S::Message>,
    ) -> Option<(Option<S::Message>, Timestamp)> {
        let Target::Response(id) = target else {
            return None;
        };
        let at = self.pending.iter().position(|p| p.id == *id)?;
        self.pending.remove(at).map(|p| (p.request, p.ts))
    }

    /// Whether `target` is the response to a CONNECT request.
    fn answers_connect(&self, target: &Target<S::Message>) -> bool {
        match target {
            Target::Response(id) => self
                .pending
                .iter()
                .any(|p| p.id == *id && p.method == RequestMethod::Connect),
            _ => false,
        }
    }

    /// A message of `role` finished (`ok`: its framing completed normally).
    pub(super) fn complete(
        &mut self,
        body: InBody<S::Message>,
        ok: bool,
        ts: Timestamp,
        ctx: &mut HttpCtx<S>,
    ) {
        let InBody {
            reader,
            depth,
            decoder,
            wire_len,
            mut target,
            mut flags,
        } = body;
        if reader.saw_bare_lf() {
            flags.insert(Anomaly::BareLf);
        }
        if reader.repaired() {
            flags.insert(Anomaly::InvalidChunk);
        }
        let decoded = match decoder {
            Some(d) => {
                let (decoded, dec_flags) = d.finish(ok);
                flags.extend(dec_flags);
                Some(decoded)
            }
            // Nothing was decoded (an empty or unknowable body): it is what the framing says.
            None if depth == BodyDepth::Learn => Some(Body {
                sample: Vec::new(),
                decoded_len: wire_len,
                wire_len,
                truncated: !ok,
            }),
            None => None,
        };
        let end = BodyEnd {
            wire_len,
            complete: ok,
            decoded: decoded.as_ref(),
        };
        if let Some(message) = target.message_mut(&mut self.pending) {
            ctx.sink.body_end(message, &end);
        }
        match target {
            Target::Untracked => {}
            Target::Request(id) => {
                if let Some(p) = self.pending.iter_mut().find(|p| p.id == id) {
                    p.flags.extend(flags);
                    p.req_done = true;
                    p.req_last_ts = Some(ts);
                }
            }
            Target::Response(id) => {
                if let Some(p) = self.pending.iter_mut().find(|p| p.id == id) {
                    p.flags.extend(flags);
                    p.resp_done = true;
                }
            }
            Target::Unpaired(u) => {
                let Unpaired {
                    response,
                    first_ts,
                    flags: mut all,
                } = *u;
                all.extend(flags);
                let info = ExchangeInfo {
                    ts: first_ts,
                    anomalies: all,
                    response_delay_micros: None,
                    interim_responses: 0,
                };
                self.emit(None, Some(response), info, ctx);
            }
        }
        self.flush(ctx, false);
    }

    /// Hand finished exchanges on in request order; with `force`, everything (close).
    pub(super) fn flush(&mut self, ctx: &mut HttpCtx<S>, force: bool) {
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
            if p.cruft {
                // Never answered: nothing to report (the Desync flag is on the next request).
                continue;
            }
            if !p.resp_claimed {
                p.flags.insert(Anomaly::UnpairedRequest);
            }
            let info = ExchangeInfo {
                ts: p.ts,
                anomalies: p.flags,
                response_delay_micros: match (p.resp_first_ts, p.req_last_ts) {
                    (Some(resp), Some(req)) => Some(resp.since(req)),
                    _ => None,
                },
                interim_responses: p.interim,
            };
            self.emit(p.request, p.response, info, ctx);
        }
    }

    fn emit(
        &mut self,
        request: Option<S::Message>,
        response: Option<S::Message>,
        mut info: ExchangeInfo,
        ctx: &mut HttpCtx<S>,
    ) {
        if self.cap_hit {
            ctx.stats.exchange_cap_drops += 1;
            return;
        }
        self.emitted += 1;
        if self.emitted >= ctx.limits.max_exchanges_per_conn {
            info.anomalies.insert(Anomaly::ExchangeCapReached);
            ctx.stats.exchange_cap_hits += 1;
            self.cap_hit = true;
            self.stop();
        }
        ctx.stats.exchanges += 1;
        if request.is_none() {
            ctx.stats.exchanges_without_request += 1;
        }
        ctx.stats.count_anomalies(info.anomalies);
        ctx.sink.exchange(&self.meta, request, response, &info);
    }
}
