//! What the connection does when bytes are missing or end: gaps, conflicting retransmissions,
//! heads cut short, and the end of a direction.

use super::super::body::GapOutcome;
use super::super::parser::{salvage, with_request, with_response, Prepared, StartLine};
use super::super::sink::ExchangeSink;
use super::super::HttpCtx;
use super::half::{pump, take_body, State};
use super::{HttpConnection, Role};
use crate::flow::Dir;
use analyzer::exchange::{Anomaly, AnomalySet};
use analyzer::time::Timestamp;

impl<S: ExchangeSink> HttpConnection<S> {
    /// A head in progress was cut (gap, cap, end of stream): keep its start line if complete,
    /// so pairing stays right, flagged `reason` and `TruncatedHead`.
    pub(super) fn head_lost(
        &mut self,
        role: Role,
        ts: Timestamp,
        reason: Anomaly,
        ctx: &mut HttpCtx<S>,
    ) {
        let half = self.half(role);
        let partial = std::mem::take(&mut half.buf);
        let first_ts = half.first_ts.unwrap_or(ts);
        half.clear_buf();
        if partial.is_empty() {
            half.carry.insert(reason);
            return;
        }
        let flags: AnomalySet = [reason, Anomaly::TruncatedHead].into_iter().collect();
        let kind = match role {
            Role::Client => StartLine::Request,
            Role::Server => StartLine::Response,
        };
        let mut norm = std::mem::take(&mut ctx.norm);
        // A salvaged head has no fields, so no body framing: the message ends here.
        let salvaged = salvage(&partial, kind).and_then(|line| match role {
            Role::Client => with_request(Prepared::new(&line, &mut norm), kind, |req, _| {
                self.request_head(req, flags, first_ts, ts, ctx)
            }),
            Role::Server => with_response(Prepared::new(&line, &mut norm), |resp, _| {
                if !(100..200).contains(&resp.status) {
                    self.salvaged_response(resp, flags, first_ts, ts, ctx);
                }
            }),
        });
        ctx.norm = norm;
        if salvaged.is_none() {
            ctx.stats.lost_heads += 1;
            self.half(role).carry.insert(reason);
        }
    }

    pub(super) fn on_gap(&mut self, dir: Dir, ts: Timestamp, len: u64, ctx: &mut HttpCtx<S>) {
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
                half.resync();
            }
            return;
        }
        match &mut half.state {
            State::Done => {}
            State::Resync => {
                ctx.stats.resync_bytes_discarded += half.buf.len() as u64;
                half.clear_buf();
                half.skipping_line = false;
                half.carry.insert(Anomaly::Gap);
            }
            State::Head => {
                self.head_lost(role, ts, Anomaly::Gap, ctx);
                let half = self.half(role);
                if !matches!(half.state, State::Done) {
                    half.resync();
                }
                ctx.stats.resyncs += 1;
            }
            State::Body(body) => {
                if let Some(d) = body.decoder.as_mut() {
                    d.gap(len);
                }
                body.wire_len = body.wire_len.saturating_add(len);
                body.flags.insert(Anomaly::Gap);
                match body.reader.gap(len) {
                    // The hole was body data of known extent: framing is intact.
                    GapOutcome::InSync { done: false } => {}
                    GapOutcome::InSync { done: true } => {
                        if let Some(body) = take_body(half) {
                            half.state = State::Head;
                            self.complete(body, true, ts, ctx);
                        }
                    }
                    GapOutcome::Lost => {
                        if let Some(body) = take_body(half) {
                            half.resync();
                            ctx.stats.resyncs += 1;
                            self.complete(body, false, ts, ctx);
                        }
                    }
                }
            }
        }
    }

    pub(super) fn on_overlap(&mut self, dir: Dir) {
        let role = self.role_of(dir);
        let half = self.half(role);
        match &mut half.state {
            State::Body(body) => body.flags.insert(Anomaly::OverlapConflict),
            State::Head | State::Resync => half.carry.insert(Anomaly::OverlapConflict),
            State::Done => {}
        }
    }

    /// One direction finished: close-delimited bodies complete, anything else is cut short.
    pub(super) fn on_end(&mut self, role: Role, ts: Timestamp, ctx: &mut HttpCtx<S>) {
        let half = self.half(role);
        if half.ended {
            return;
        }
        half.ended = true;
        match std::mem::replace(&mut half.state, State::Done) {
            State::Body(mut body) => {
                // A body still being sniffed is decided on what arrived.
                pump(
                    &mut body,
                    &mut self.pending,
                    &mut ctx.sink,
                    |reader, out| reader.end(out),
                );
                // RFC 9112 section 6.3 rule 8: a close-delimited body ends with the connection.
                let ok = body.reader.until_close();
                if !ok {
                    body.flags.insert(Anomaly::BodyIncomplete);
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
