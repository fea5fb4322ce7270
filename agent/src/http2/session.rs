//! One HTTP/2 connection seen from the wire: frames of both directions, HPACK per direction,
//! and one exchange per stream handed to the same [`ExchangeSink`] HTTP/1 uses.
//!
//! - A stream's request is the client's first header block on it (`:method`, `:path`,
//!   `:authority` as the `host` header when none is sent); its response the server's first
//!   final (non-1xx) block; a later block on either side is trailers (RFC 9113 section 8.1).
//!   The exchange leaves when both sides ended the stream (END_STREAM), at RST_STREAM, or at
//!   close, flagged like HTTP/1 exchanges cut short.
//! - PUSH_PROMISE blocks are decoded (the server's HPACK table depends on them) and dropped:
//!   pushed responses are not client requests and are not reported.
//! - Bounds: streams tracked at once ([`H2Limits::max_streams`]; further streams are counted
//!   and not reported), header block bytes ([`H2Limits::max_header_block`]) and the HPACK
//!   limits. A header block over the cap cannot be decoded, and neither can any later block of
//!   that direction (the dynamic table is lost): the direction's headers stop, counted.
//! - A gap in a direction loses the frame boundaries: that direction stops, counted; open
//!   streams are flagged `Gap`.

use super::frame::{self, FrameEvent, FrameHeader, FrameReader};
use super::hpack::Decoder;
use super::H2Limits;
use crate::http::body::Codings;
use crate::http::decode::{BodyDecoder, DecodeLimits};
use crate::http::{ConnMeta, ExchangeInfo, ExchangeSink, HttpCtx};
use analyzer::exchange::{
    Anomaly, AnomalySet, Body, BodyDepth, BodyEnd, BodyShape, HttpVersion, RequestView,
    ResponseView,
};
use analyzer::time::Timestamp;
use std::collections::{BTreeMap, BTreeSet};

/// Client or server side (index into [`H2Session::sides`]).
const CLIENT: usize = 0;
const SERVER: usize = 1;

/// A header block being collected across HEADERS/PUSH_PROMISE and CONTINUATION frames.
#[derive(Debug)]
struct OpenBlock {
    stream: u32,
    push: bool,
    end_stream: bool,
    buf: Vec<u8>,
    too_large: bool,
}

#[derive(Debug)]
struct Side {
    reader: FrameReader,
    hpack: Decoder,
    block: Option<OpenBlock>,
    /// Bytes of the client preface still to skip (client side, prior knowledge).
    preface_left: usize,
    /// Frame sync lost (gap): nothing more is read from this direction.
    lost: bool,
}

impl Side {
    fn new(limits: &H2Limits, mid_stream: bool) -> Side {
        Side {
            reader: FrameReader::new(limits.max_header_block),
            hpack: if mid_stream {
                Decoder::mid_stream(limits.hpack.clone())
            } else {
                Decoder::new(limits.hpack.clone())
            },
            block: None,
            preface_left: 0,
            lost: false,
        }
    }
}

/// A message body on its way through.
struct InBody {
    depth: BodyDepth,
    decoder: Option<Box<BodyDecoder>>,
    wire_len: u64,
}

struct Stream<M> {
    ts: Timestamp,
    request: Option<M>,
    response: Option<M>,
    bodies: [Option<InBody>; 2],
    /// The side ended the stream (END_STREAM), or never will be seen.
    done: [bool; 2],
    flags: AnomalySet,
    req_last_ts: Option<Timestamp>,
    resp_first_ts: Option<Timestamp>,
    interim: u16,
}

/// Decoded fields of one block: bytes and (name, value) ranges.
#[derive(Default)]
struct Fields {
    bytes: Vec<u8>,
    spans: Vec<(usize, usize, usize)>,
    /// Fields the decoder could not know (mid-stream): left out of `spans`.
    unknown: usize,
}

impl Fields {
    fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.spans.iter().map(|&(s, m, e)| {
            (
                self.bytes.get(s..m).unwrap_or_default(),
                self.bytes.get(m..e).unwrap_or_default(),
            )
        })
    }

    fn pseudo(&self, name: &[u8]) -> Option<&[u8]> {
        self.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// Regular fields as httparse headers; names that are not UTF-8 are left out (flagged).
    fn headers(&self, flags: &mut AnomalySet) -> Vec<httparse::Header<'_>> {
        let mut out = Vec::with_capacity(self.spans.len() + 1);
        for (n, v) in self.iter() {
            if n.first() == Some(&b':') {
                continue;
            }
            match std::str::from_utf8(n) {
                Ok(name) => out.push(httparse::Header { name, value: v }),
                Err(_) => flags.insert(Anomaly::InvalidHeader),
            }
        }
        out
    }
}

/// The HTTP/2 state of one connection; see the module docs.
pub struct H2Session<M> {
    sides: [Side; 2],
    streams: BTreeMap<u32, Stream<M>>,
    /// Started without the connection's beginning: HPACK state unknown.
    mid_stream: bool,
    limits: H2Limits,
    /// A frame broke the protocol beyond repair (oversized): nothing more is read.
    broken: bool,
    /// Streams seen but not reported (see `opaque_stream`).
    opaque: BTreeSet<u32>,
}

fn content_codings(headers: &[httparse::Header<'_>]) -> Codings {
    let names = headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("content-encoding"))
        .flat_map(|h| h.value.split(|&b| b == b','))
        .map(<[u8]>::trim_ascii);
    Codings::from_names(names)
}

impl<M> H2Session<M> {
    /// A connection that began with the client preface (prior knowledge).
    pub fn with_preface(limits: &H2Limits) -> Self {
        let mut s = Self::new(limits, false);
        s.sides[CLIENT].preface_left = frame::PREFACE.len();
        s
    }

    /// A connection whose preface was partly read elsewhere: `left` bytes of it remain.
    pub fn with_preface_left(limits: &H2Limits, left: usize) -> Self {
        let mut s = Self::new(limits, false);
        s.sides[CLIENT].preface_left = left.min(frame::PREFACE.len());
        s
    }

    /// A connection switched from HTTP/1.1 by `Upgrade: h2c` (RFC 7540 section 3.2): the client
    /// still sends the preface; the server's frames follow the 101 at once.
    pub fn upgraded(limits: &H2Limits) -> Self {
        Self::with_preface(limits)
    }

    /// A connection picked up after it started (section 3 of the module docs of `http2`).
    pub fn mid_stream(limits: &H2Limits) -> Self {
        Self::new(limits, true)
    }

    fn new(limits: &H2Limits, mid_stream: bool) -> Self {
        H2Session {
            sides: [Side::new(limits, mid_stream), Side::new(limits, mid_stream)],
            streams: BTreeMap::new(),
            mid_stream,
            limits: limits.clone(),
            broken: false,
            opaque: BTreeSet::new(),
        }
    }

    pub fn is_mid_stream(&self) -> bool {
        self.mid_stream
    }

    /// The connection broke the framing (or was not HTTP/2): the caller stops reading it.
    pub fn is_broken(&self) -> bool {
        self.broken
    }

    /// Streams tracked now (cap checks).
    pub fn open_streams(&self) -> usize {
        self.streams.len()
    }

    /// Bytes buffered for unfinished frames and header blocks, both directions.
    pub fn buffered(&self) -> usize {
        self.sides
            .iter()
            .map(|s| s.reader.buffered() + s.block.as_ref().map_or(0, |b| b.buf.len()))
            .sum()
    }

    /// Stream 1 of an upgraded connection: the HTTP/1.1 request already handed to the sink
    /// (its message value) is the request of stream 1 (RFC 7540 section 3.2).
    pub fn adopt_upgrade_request(&mut self, request: M, ts: Timestamp) {
        self.streams.insert(
            1,
            Stream {
                ts,
                request: Some(request),
                response: None,
                bodies: [None, None],
                done: [true, false],
                flags: AnomalySet::EMPTY,
                req_last_ts: Some(ts),
                resp_first_ts: None,
                interim: 0,
            },
        );
    }
}

impl<M> H2Session<M> {
    /// Bytes from the client (`side` 0) or server (1).
    pub fn data<S: ExchangeSink<Message = M>>(
        &mut self,
        side: usize,
        ts: Timestamp,
        mut bytes: &[u8],
        meta: &ConnMeta,
        ctx: &mut HttpCtx<S>,
    ) {
        let Some(s) = self.sides.get_mut(side) else {
            return;
        };
        if s.lost {
            return;
        }
        if s.preface_left > 0 {
            let take = s.preface_left.min(bytes.len());
            let from = frame::PREFACE.len() - s.preface_left;
            if frame::PREFACE.get(from..from + take) != bytes.get(..take) {
                // Section 3.4: not the client preface, so not HTTP/2 after all.
                ctx.stats.h2.protocol_errors += 1;
                self.broken = true;
                return;
            }
            s.preface_left -= take;
            bytes = bytes.get(take..).unwrap_or_default();
        }
        // The reader leaves its side while it reads, so events can change the session.
        let mut reader = std::mem::replace(&mut s.reader, FrameReader::new(0));
        reader.feed(bytes, &mut |e| self.event(side, ts, e, meta, ctx));
        if let Some(s) = self.sides.get_mut(side) {
            s.reader = reader;
        }
    }

    /// `len` bytes of a direction were never captured.
    pub fn gap<S: ExchangeSink<Message = M>>(&mut self, side: usize, ctx: &mut HttpCtx<S>) {
        let Some(s) = self.sides.get_mut(side) else {
            return;
        };
        if !s.lost {
            s.lost = true;
            ctx.stats.h2.gap_stops += 1;
        }
        for st in self.streams.values_mut() {
            st.flags.insert(Anomaly::Gap);
        }
    }

    /// The connection ends: every stream still open leaves, flagged as cut short.
    pub fn close<S: ExchangeSink<Message = M>>(
        &mut self,
        ts: Timestamp,
        meta: &ConnMeta,
        ctx: &mut HttpCtx<S>,
    ) {
        let ids: Vec<u32> = self.streams.keys().copied().collect();
        for id in ids {
            self.finish_stream(id, ts, false, meta, ctx);
        }
        for s in &self.sides {
            ctx.stats.h2.hpack.add(&s.hpack.stats);
            ctx.stats.h2.frames.add(&s.reader.stats);
        }
        for s in &mut self.sides {
            s.hpack.stats = Default::default();
            s.reader.stats = Default::default();
        }
    }

    fn event<S: ExchangeSink<Message = M>>(
        &mut self,
        side: usize,
        ts: Timestamp,
        e: FrameEvent<'_>,
        meta: &ConnMeta,
        ctx: &mut HttpCtx<S>,
    ) {
        match e {
            FrameEvent::Frame {
                header,
                payload,
                truncated,
            } => self.frame(side, ts, header, payload, truncated, meta, ctx),
            FrameEvent::Data { stream, bytes } => self.body_bytes(side, stream, bytes, ctx),
            FrameEvent::DataEnd {
                stream,
                end_stream,
                malformed,
            } => {
                if malformed {
                    ctx.stats.h2.protocol_errors += 1;
                }
                if end_stream {
                    self.end_side(side, stream, ts, true, meta, ctx);
                }
            }
            FrameEvent::Skipped { .. } => {}
            FrameEvent::Oversized { .. } => {
                ctx.stats.h2.protocol_errors += 1;
                self.broken = true;
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn frame<S: ExchangeSink<Message = M>>(
        &mut self,
        side: usize,
        ts: Timestamp,
        h: FrameHeader,
        payload: &[u8],
        truncated: bool,
        meta: &ConnMeta,
        ctx: &mut HttpCtx<S>,
    ) {
        let limit = self.limits.max_header_block;
        match h.kind {
            frame::HEADERS | frame::PUSH_PROMISE => {
                if self.sides[side].block.is_some() {
                    // Section 6.10: only CONTINUATION may follow an unfinished block.
                    ctx.stats.h2.protocol_errors += 1;
                    self.sides[side].block = None;
                    self.header_lost(side, ctx);
                }
                let fragment = frame::block_fragment(&h, payload);
                if fragment.is_none() {
                    ctx.stats.h2.protocol_errors += 1;
                }
                if h.kind == frame::PUSH_PROMISE {
                    ctx.stats.h2.push_promises += 1;
                }
                self.sides[side].block = Some(OpenBlock {
                    stream: h.stream,
                    push: h.kind == frame::PUSH_PROMISE,
                    end_stream: h.kind == frame::HEADERS && h.has(frame::FLAG_END_STREAM),
                    buf: fragment.unwrap_or_default().to_vec(),
                    too_large: truncated || fragment.is_none(),
                });
                if h.has(frame::FLAG_END_HEADERS) {
                    self.block_done(side, ts, meta, ctx);
                }
            }
            frame::CONTINUATION => {
                let Some(b) = self.sides[side]
                    .block
                    .as_mut()
                    .filter(|b| b.stream == h.stream)
                else {
                    ctx.stats.h2.protocol_errors += 1;
                    return;
                };
                if truncated || b.buf.len() + payload.len() > limit {
                    b.too_large = true;
                } else {
                    b.buf.extend_from_slice(payload);
                }
                if h.has(frame::FLAG_END_HEADERS) {
                    self.block_done(side, ts, meta, ctx);
                }
            }
            frame::RST_STREAM => {
                ctx.stats.h2.rst_streams += 1;
                if let Some(st) = self.streams.get_mut(&h.stream) {
                    st.flags.insert(Anomaly::BodyIncomplete);
                }
                self.finish_stream(h.stream, ts, false, meta, ctx);
            }
            frame::GOAWAY => ctx.stats.h2.goaways += 1,
            frame::SETTINGS => {
                ctx.stats.h2.settings += 1;
                // Section 6.5.2: SETTINGS_MAX_FRAME_SIZE (0x5) bounds what the peer sends.
                for entry in payload.chunks_exact(6) {
                    if let [0, 5, a, b, c, d] = *entry {
                        let other = 1 - side.min(1);
                        self.sides[other]
                            .reader
                            .set_max_frame(u32::from_be_bytes([a, b, c, d]));
                    }
                }
            }
            _ => {}
        }
    }

    /// A stream whose exchange cannot be told for certain: its frames are counted, not
    /// reported. The set of such ids is bounded like the streams.
    fn opaque_stream<S: ExchangeSink<Message = M>>(&mut self, id: u32, ctx: &mut HttpCtx<S>) {
        ctx.stats.h2.opaque_streams += 1;
        if self.opaque.len() >= self.limits.max_streams {
            self.opaque.pop_first();
        }
        self.opaque.insert(id);
    }

    /// A direction's header blocks can no longer be decoded.
    fn header_lost<S: ExchangeSink<Message = M>>(&mut self, side: usize, ctx: &mut HttpCtx<S>) {
        if !self.sides[side].hpack.is_desynced() {
            ctx.stats.h2.header_directions_lost += 1;
        }
        // A block that cannot be fed leaves the table unknown: refuse the rest.
        let _ = self.sides[side]
            .hpack
            .decode(&[0x3f, 0xff, 0xff, 0xff, 0xff], &mut |_, _| {});
    }

    fn block_done<S: ExchangeSink<Message = M>>(
        &mut self,
        side: usize,
        ts: Timestamp,
        meta: &ConnMeta,
        ctx: &mut HttpCtx<S>,
    ) {
        let Some(block) = self.sides[side].block.take() else {
            return;
        };
        if block.too_large {
            ctx.stats.h2.header_blocks_capped += 1;
            self.header_lost(side, ctx);
        }
        let mut fields = Fields::default();
        let outcome = if block.too_large {
            None
        } else {
            self.sides[side]
                .hpack
                .decode(&block.buf, &mut |n, v| {
                    let s = fields.bytes.len();
                    fields.bytes.extend_from_slice(n);
                    let m = fields.bytes.len();
                    fields.bytes.extend_from_slice(v);
                    fields.spans.push((s, m, fields.bytes.len()));
                })
                .ok()
        };
        let decoded = outcome.is_some();
        fields.unknown = outcome.map_or(0, |o| o.unknown);
        if block.push {
            return;
        }
        if !decoded {
            ctx.stats.h2.undecodable_blocks += 1;
            if !self.streams.contains_key(&block.stream) {
                self.opaque_stream(block.stream, ctx);
            }
            // The stream exists but what it is cannot be told: it is not reported.
            if let Some(st) = self.streams.get_mut(&block.stream) {
                st.flags.insert(Anomaly::TruncatedHead);
            }
            if block.end_stream {
                self.end_side(side, block.stream, ts, true, meta, ctx);
            }
            return;
        }
        if side == CLIENT {
            self.client_block(block.stream, &fields, block.end_stream, ts, meta, ctx);
        } else {
            self.server_block(block.stream, &fields, block.end_stream, ts, meta, ctx);
        }
    }

    fn client_block<S: ExchangeSink<Message = M>>(
        &mut self,
        id: u32,
        fields: &Fields,
        end_stream: bool,
        ts: Timestamp,
        meta: &ConnMeta,
        ctx: &mut HttpCtx<S>,
    ) {
        if self.streams.get(&id).is_some_and(|s| s.request.is_some()) {
            ctx.stats.h2.trailers += 1;
        } else if !self.streams.contains_key(&id) {
            let known = |name: &[u8]| fields.pseudo(name).is_some_and(|v| !v.is_empty());
            // A request is reported only when what names its endpoint is certain: with
            // fields the decoder could not know, the authority must be among those it knows.
            let certain = known(b":method")
                && known(b":path")
                && (fields.unknown == 0 || known(b":authority"));
            if !certain {
                self.opaque_stream(id, ctx);
                if end_stream {
                    self.end_side(CLIENT, id, ts, true, meta, ctx);
                }
                return;
            }
            if self.streams.len() >= self.limits.max_streams {
                ctx.stats.h2.stream_cap_drops += 1;
                return;
            }
            ctx.stats.h2.streams += 1;
            let mut flags = AnomalySet::EMPTY;
            let mut headers = fields.headers(&mut flags);
            let authority = fields.pseudo(b":authority").unwrap_or_default();
            if !authority.is_empty() && !headers.iter().any(|h| h.name.eq_ignore_ascii_case("host"))
            {
                headers.push(httparse::Header {
                    name: "host",
                    value: authority,
                });
            }
            let method =
                std::str::from_utf8(fields.pseudo(b":method").unwrap_or_default()).unwrap_or("");
            let target =
                std::str::from_utf8(fields.pseudo(b":path").unwrap_or_default()).unwrap_or("");
            let view = RequestView {
                method,
                target,
                version: HttpVersion::Http2,
                headers: &headers,
            };
            let codings = content_codings(&headers);
            let shape = BodyShape {
                present: !end_stream,
                identity: codings.is_identity(),
            };
            let (msg, depth) = ctx.sink.request(meta, &view, shape, ts);
            let body = start_body(depth, &codings, ctx);
            self.streams.insert(
                id,
                Stream {
                    ts,
                    request: Some(msg),
                    response: None,
                    bodies: [Some(body), None],
                    done: [false, false],
                    flags,
                    req_last_ts: None,
                    resp_first_ts: None,
                    interim: 0,
                },
            );
        }
        if end_stream {
            self.end_side(CLIENT, id, ts, true, meta, ctx);
        }
    }

    fn server_block<S: ExchangeSink<Message = M>>(
        &mut self,
        id: u32,
        fields: &Fields,
        end_stream: bool,
        ts: Timestamp,
        meta: &ConnMeta,
        ctx: &mut HttpCtx<S>,
    ) {
        let status = std::str::from_utf8(fields.pseudo(b":status").unwrap_or_default())
            .ok()
            .and_then(|s| s.parse::<u16>().ok());
        if self.opaque.contains(&id) {
            return;
        }
        if status.is_none() && fields.unknown > 0 {
            // The status is among the unknown fields: what answered the request is not
            // certain, so neither is the exchange.
            if let Some(st) = self.streams.get(&id) {
                if st.response.is_none() {
                    self.streams.remove(&id);
                    self.opaque_stream(id, ctx);
                }
            }
            return;
        }
        if !self.streams.contains_key(&id) && self.mid_stream {
            // Its request went by before capture start.
            self.opaque_stream(id, ctx);
            return;
        }
        if !self.streams.contains_key(&id) {
            // A response whose request was not seen (its block was lost).
            if self.streams.len() >= self.limits.max_streams || status.is_none() {
                ctx.stats.h2.stream_cap_drops += u64::from(status.is_some());
                return;
            }
            ctx.stats.h2.streams += 1;
            let mut flags = AnomalySet::EMPTY;
            flags.insert(Anomaly::UnpairedResponse);
            self.streams.insert(
                id,
                Stream {
                    ts,
                    request: None,
                    response: None,
                    bodies: [None, None],
                    done: [true, false],
                    flags,
                    req_last_ts: None,
                    resp_first_ts: None,
                    interim: 0,
                },
            );
        }
        let Some(st) = self.streams.get_mut(&id) else {
            return;
        };
        match status {
            Some(code) if st.response.is_none() && (100..200).contains(&code) => {
                st.interim = st.interim.saturating_add(1);
            }
            Some(code) if st.response.is_none() => {
                let mut flags = AnomalySet::EMPTY;
                let headers = fields.headers(&mut flags);
                st.flags.extend(flags);
                let view = ResponseView {
                    status: code,
                    version: HttpVersion::Http2,
                    headers: &headers,
                };
                let codings = content_codings(&headers);
                let shape = BodyShape {
                    present: !end_stream,
                    identity: codings.is_identity(),
                };
                let (msg, depth) = ctx
                    .sink
                    .response(meta, st.request.as_ref(), &view, shape, ts);
                st.response = Some(msg);
                st.resp_first_ts = Some(ts);
                st.bodies[SERVER] = Some(start_body(depth, &codings, ctx));
            }
            _ if st.response.is_some() => {
                ctx.stats.h2.trailers += 1;
                let mut flags = AnomalySet::EMPTY;
                let headers = fields.headers(&mut flags);
                if let Some(m) = st.response.as_mut() {
                    ctx.sink.trailers(m, &headers);
                }
            }
            _ => ctx.stats.h2.protocol_errors += 1,
        }
        if end_stream {
            self.end_side(SERVER, id, ts, true, meta, ctx);
        }
    }

    fn body_bytes<S: ExchangeSink<Message = M>>(
        &mut self,
        side: usize,
        id: u32,
        bytes: &[u8],
        ctx: &mut HttpCtx<S>,
    ) {
        let Some(st) = self.streams.get_mut(&id) else {
            ctx.stats.h2.data_bytes_untracked += bytes.len() as u64;
            return;
        };
        let msg = if side == CLIENT {
            st.request.as_mut()
        } else {
            st.response.as_mut()
        };
        let Some(b) = st.bodies.get_mut(side).and_then(Option::as_mut) else {
            return;
        };
        b.wire_len += bytes.len() as u64;
        match (&mut b.decoder, b.depth, msg) {
            (Some(d), _, _) => d.push(bytes),
            (None, BodyDepth::Scan, Some(m)) => ctx.sink.body_data(m, bytes),
            _ => {}
        }
    }

    /// One side of a stream ended (`ok`: by END_STREAM).
    fn end_side<S: ExchangeSink<Message = M>>(
        &mut self,
        side: usize,
        id: u32,
        ts: Timestamp,
        ok: bool,
        meta: &ConnMeta,
        ctx: &mut HttpCtx<S>,
    ) {
        let Some(st) = self.streams.get_mut(&id) else {
            return;
        };
        if st.done.get(side).copied().unwrap_or(true) {
            return;
        }
        if let Some(d) = st.done.get_mut(side) {
            *d = true;
        }
        if side == CLIENT {
            st.req_last_ts = Some(ts);
        }
        end_body(st, side, ok, ctx);
        if st.done == [true, true] {
            self.finish_stream(id, ts, true, meta, ctx);
        }
    }

    /// The stream leaves: open bodies end (cut short unless `ok`), the exchange is emitted.
    fn finish_stream<S: ExchangeSink<Message = M>>(
        &mut self,
        id: u32,
        _ts: Timestamp,
        ok: bool,
        meta: &ConnMeta,
        ctx: &mut HttpCtx<S>,
    ) {
        let Some(mut st) = self.streams.remove(&id) else {
            return;
        };
        for side in [CLIENT, SERVER] {
            if !st.done[side] {
                st.done[side] = true;
                if !ok {
                    st.flags.insert(Anomaly::BodyIncomplete);
                }
                end_body(&mut st, side, ok, ctx);
            }
        }
        if st.request.is_none() && st.response.is_none() {
            return;
        }
        if st.response.is_none() {
            st.flags.insert(Anomaly::UnpairedRequest);
        }
        ctx.stats.h2.exchanges += 1;
        ctx.stats.exchanges += 1;
        ctx.stats.count_anomalies(st.flags);
        let info = ExchangeInfo {
            ts: st.ts,
            anomalies: st.flags,
            response_delay_micros: match (st.resp_first_ts, st.req_last_ts) {
                (Some(r), Some(q)) => Some(r.since(q).max(0)),
                _ => None,
            },
            interim_responses: st.interim,
        };
        ctx.sink.exchange(meta, st.request, st.response, &info);
    }
}

fn start_body<S: ExchangeSink>(depth: BodyDepth, codings: &Codings, ctx: &HttpCtx<S>) -> InBody {
    let decoder = (depth == BodyDepth::Learn).then(|| {
        Box::new(BodyDecoder::new(
            codings,
            DecodeLimits {
                sample_cap: ctx.limits.max_body_sample,
                max_decoded: ctx.limits.max_decompressed,
                max_ratio: ctx.limits.max_decompression_ratio,
            },
        ))
    });
    let depth = match depth {
        BodyDepth::Scan if !codings.is_identity() => BodyDepth::Frame,
        d => d,
    };
    InBody {
        depth,
        decoder,
        wire_len: 0,
    }
}

fn end_body<M, S: ExchangeSink<Message = M>>(
    st: &mut Stream<M>,
    side: usize,
    ok: bool,
    ctx: &mut HttpCtx<S>,
) {
    let Some(body) = st.bodies.get_mut(side).and_then(Option::take) else {
        return;
    };
    let decoded = match body.decoder {
        Some(d) => {
            let (decoded, flags) = d.finish(ok);
            st.flags.extend(flags);
            Some(decoded)
        }
        None if body.depth == BodyDepth::Learn => Some(Body {
            sample: Vec::new(),
            decoded_len: body.wire_len,
            wire_len: body.wire_len,
            truncated: !ok,
        }),
        None => None,
    };
    let end = BodyEnd {
        wire_len: body.wire_len,
        complete: ok,
        decoded: decoded.as_ref(),
    };
    let msg = if side == CLIENT {
        st.request.as_mut()
    } else {
        st.response.as_mut()
    };
    if let Some(m) = msg {
        ctx.sink.body_end(m, &end);
    }
}
