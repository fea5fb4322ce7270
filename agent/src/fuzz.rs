//! Bodies of the coverage-guided fuzz targets (`fuzz/` at the repository root, cargo-fuzz on
//! nightly) for the capture side's hostile entry points, as plain functions so the stable
//! smoke test (`tests/fuzz_regressions.rs`) runs the same code over the kept corpora.
//!
//! Each function takes arbitrary bytes, derives its input structure from them (frames,
//! segments, chunkings, codings) and panics only when an invariant is broken: a bound not
//! held, or two paths that must agree disagreeing. Hostile input itself must never panic.
//! Not an API: the layout of the input bytes may change whenever a target changes.

use crate::decode::{decode, DecodeStats, Decoder, Packet, TcpSegment, Transport};
use crate::defrag::DefragLimits;
use crate::flow::{
    CloseReason, ConnInfo, Dir, FlowLimits, FlowTable, Interest, ReasmLimits, ReasmStats,
    Reassembler, Segment, SeqNumber, StreamEvent, StreamHandler,
};
use crate::http::body::{BodyReader, Codings, Step};
use crate::http::decode::{BodyDecoder, DecodeLimits, DECODE_BLOCK};
use crate::http::{HttpConnection, HttpCtx, HttpLimits, Recorder};
use crate::source::{Frame, LinkType};
use crate::tls::flight::{FlightStats, TlsFlights, MAX_FLIGHT_BYTES};
use analyzer::time::Timestamp;
use analyzer::tls::TlsObservation;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::ops::ControlFlow;

/// A cursor over the fuzz input: every read past the end yields zeros / empty slices.
struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((b, rest)) => {
                self.data = rest;
                *b
            }
            None => 0,
        }
    }

    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }

    /// Up to `n` bytes.
    fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (a, b) = self.data.split_at(n.min(self.data.len()));
        self.data = b;
        a
    }
}

const T0: i64 = 1_700_000_000_000_000;

/// Target `decode`: frames as `[link type][len: u16][extra wire bytes: u8][bytes]...`, each
/// decoded statelessly (fast and lax path must agree) and by one stateful [`Decoder`] with
/// small defragmentation caps (fragments across frames reassemble).
pub fn decode_frames(data: &[u8]) {
    const LINKS: [LinkType; 10] = [
        LinkType::Ethernet,
        LinkType::LinuxSll,
        LinkType::LinuxSll2,
        LinkType::RawIp,
        LinkType::Ipv4,
        LinkType::Ipv6,
        LinkType::Null,
        LinkType::Loop,
        LinkType::Other(105),
        LinkType::Ethernet,
    ];
    let limits = DefragLimits {
        max_datagrams: 4,
        max_datagram_bytes: 65_535,
        max_total_bytes: 128 * 1024,
        timeout_micros: 1_000_000,
        max_pieces: 16,
    };
    let mut decoder = Decoder::new(limits);
    let mut stats = DecodeStats::default();
    let mut input = Input { data };
    let mut ts = T0;
    let mut frames = 0u64;
    while !input.is_empty() {
        let link = LINKS
            .get(usize::from(input.u8()) % LINKS.len())
            .copied()
            .unwrap_or(LinkType::Ethernet);
        let len = usize::from(input.u16());
        let extra = u32::from(input.u8());
        let bytes = input.bytes(len);
        let frame = Frame {
            ts: Timestamp(ts),
            link,
            data: bytes,
            wire_len: (bytes.len() as u32).saturating_add(extra),
        };
        ts += 1_000 * i64::from(extra);
        frames += 1;
        crate::decode::assert_paths_agree(&frame);
        if let Some(p) = decode(&frame, &mut stats) {
            check_packet(&p, bytes.len());
        }
        if let Some(p) = decoder.decode(&frame) {
            // A reassembled datagram is at most max_datagram_bytes plus its IP header.
            check_packet(&p, bytes.len().max(limits.max_datagram_bytes + 60));
        }
        let held = decoder.defrag.stats.held_bytes;
        assert!(held <= limits.max_total_bytes as u64, "defrag holds {held}");
    }
    assert_eq!(stats.frames, frames);
    assert_eq!(decoder.stats.frames, frames);
}

fn check_packet(p: &Packet<'_>, max_payload: usize) {
    let len = match p.transport {
        Transport::Tcp(t) => t.payload.len(),
        Transport::Udp { payload, .. } => payload.len(),
        Transport::Other => 0,
    };
    assert!(len <= max_payload, "payload {len} > {max_payload}");
}

/// Records what one connection was told and checks the order of events.
struct Checker {
    closed: bool,
    delivered: [u64; 2],
}

#[derive(Default)]
struct CheckCtx {
    opened: u64,
    closed: u64,
}

fn dir_index(dir: Dir) -> usize {
    match dir {
        Dir::ToServer => 0,
        Dir::ToClient => 1,
    }
}

impl StreamHandler for Checker {
    type Ctx = CheckCtx;

    fn open(_: &ConnInfo, ctx: &mut CheckCtx) -> Checker {
        ctx.opened += 1;
        Checker {
            closed: false,
            delivered: [0; 2],
        }
    }

    fn on_event(&mut self, event: StreamEvent<'_>, ctx: &mut CheckCtx) -> Interest {
        assert!(!self.closed, "event after Close: {event:?}");
        match event {
            StreamEvent::Data { dir, bytes, .. } => {
                assert!(!bytes.is_empty(), "empty Data event");
                let d = &mut self.delivered[dir_index(dir)];
                *d += bytes.len() as u64;
            }
            StreamEvent::Gap { len, dir, .. } => {
                assert!(len > 0, "empty gap");
                let d = &mut self.delivered[dir_index(dir)];
                *d += len;
            }
            StreamEvent::Close { .. } => {
                self.closed = true;
                ctx.closed += 1;
            }
            StreamEvent::OverlapConflict { .. } | StreamEvent::End { .. } => {}
        }
        Interest::Continue
    }
}

/// Target `reassembly`. First byte: mode bits. Then segments `[flags][seq delta: u16]
/// [len: u8][missing tail: u8][payload]`: one [`Reassembler`] direction fed directly (stream
/// offsets and buffer caps checked after every segment), and the same segments as packets of a
/// few connections through a small [`FlowTable`] (event order, open/close pairing, table cap).
pub fn reassembly(data: &[u8]) {
    let mut input = Input { data };
    let mode = input.u8();
    let reasm_limits = ReasmLimits {
        max_bytes: 2048,
        max_segments: 8,
    };
    let flow_limits = FlowLimits {
        max_flows: 3,
        max_ooo_bytes_per_dir: reasm_limits.max_bytes,
        max_ooo_segments_per_dir: reasm_limits.max_segments,
        idle_timeout_micros: 50_000,
    };
    let mut reasm = Reassembler::new(reasm_limits);
    let mut stats = ReasmStats::default();
    let mut table: FlowTable<Checker> = FlowTable::new(flow_limits);
    let mut ctx = CheckCtx::default();
    let isn = if mode & 1 == 0 {
        SeqNumber(0xffff_ff00)
    } else {
        SeqNumber(1000)
    };
    let mut seq = [isn, SeqNumber(isn.0.wrapping_add(0x1000_0000))];
    let mut ts = T0;
    // Per stream offsets seen by the direct reassembler's callback.
    let mut offset = 0u64;
    let mut stopped = false;
    while !input.is_empty() {
        let flags = input.u8();
        let delta = input.u16();
        let len = usize::from(input.u8());
        let missing_tail = u32::from(input.u8() & 0x3f);
        let payload = input.bytes(len);
        let dir = usize::from(flags & 1);
        // Bits 1-2: SYN, FIN; bit 3: RST; bit 4: backwards; bit 5: ACK; bits 6-7: connection.
        let (syn, fin, rst) = (flags & 2 != 0, flags & 4 != 0, flags & 8 != 0);
        let step = u32::from(delta);
        let this = if flags & 16 != 0 {
            SeqNumber(seq[dir].0.wrapping_sub(step))
        } else {
            SeqNumber(seq[dir].0.wrapping_add(step))
        };
        seq[dir] = SeqNumber(this.0.wrapping_add(payload.len() as u32));
        ts += i64::from(delta & 0xff) * 100;

        // One direction fed straight into a reassembler (direction 0 only).
        if dir == 0 && !stopped {
            if syn && !reasm.is_started() {
                reasm.start_at(this);
            }
            let seg = Segment {
                seq: this,
                syn,
                fin,
                payload,
                missing_tail,
            };
            let mut emit = |d: crate::flow::Delivery<'_>| {
                match d {
                    crate::flow::Delivery::Data(b) => offset += b.len() as u64,
                    crate::flow::Delivery::Gap(n) => offset += n,
                    crate::flow::Delivery::OverlapConflict => {}
                }
                if mode & 2 != 0 && offset > 4096 {
                    return ControlFlow::Break(());
                }
                ControlFlow::Continue(())
            };
            let flow = if flags & 32 != 0 && !syn {
                reasm.ack(this, &mut stats, &mut emit)
            } else {
                reasm.segment(&seg, &mut stats, &mut emit)
            };
            stopped = flow.is_break();
            if !stopped {
                assert_eq!(offset, reasm.stream_offset(), "delivered != stream offset");
            }
            assert!(reasm.buffered_bytes() <= reasm_limits.max_bytes);
            assert!(reasm.buffered_segments() <= reasm_limits.max_segments);
        }

        // The same segment through a flow table, on one of a few connections.
        let conn = u16::from(flags >> 6);
        let (client, server) = (
            (Ipv4Addr::new(10, 0, 0, 1), 40_000 + conn),
            (Ipv4Addr::new(10, 0, 0, 2), 80),
        );
        let ((src, sp), (dst, dp)) = if dir == 0 {
            (client, server)
        } else {
            (server, client)
        };
        let pkt = Packet {
            ts: Timestamp(ts),
            src: IpAddr::V4(src),
            dst: IpAddr::V4(dst),
            transport: Transport::Tcp(TcpSegment {
                src_port: sp,
                dst_port: dp,
                seq: this,
                ack: seq[1 - dir],
                syn,
                ack_flag: flags & 32 != 0,
                fin,
                rst,
                payload,
                missing_tail,
            }),
        };
        table.process(&pkt, &mut ctx);
        if delta & 0x8000 != 0 {
            table.expire(Timestamp(ts), &mut ctx);
        }
        assert!(table.len() <= flow_limits.max_flows);
        assert_eq!(ctx.opened - ctx.closed, table.len() as u64);
    }
    if !stopped {
        let _ = reasm.flush(&mut stats, &mut |_| ControlFlow::Continue(()));
        assert_eq!(reasm.buffered_bytes(), 0);
    }
    table.finish(Timestamp(ts), &mut ctx);
    assert_eq!(ctx.opened, ctx.closed, "every opened connection is closed");
    assert!(table.is_empty());
}

/// Target `http`: one connection's events as `[op][args]...`. The first byte picks the limits
/// (tiny caps or the defaults) and whether the orientation is known. Ops: data in either
/// direction (length from the input: arbitrary chunkings), gaps, ends, overlap conflicts; the
/// buffer caps are checked after every event and the exchanges after the close.
pub fn http_connection(data: &[u8]) {
    let mut input = Input { data };
    let mode = input.u8();
    let limits = if mode & 1 == 0 {
        HttpLimits {
            max_head_bytes: 512,
            max_body_sample: 256,
            max_decompressed: 64 * 1024,
            max_decompression_ratio: 50,
            max_pending_requests: 4,
            max_exchanges_per_conn: 16,
        }
    } else {
        HttpLimits::default()
    };
    let mut ctx = HttpCtx::new(limits.clone(), Recorder::default());
    let info = ConnInfo {
        client: SocketAddr::from(([10, 0, 0, 1], 40000)),
        server: SocketAddr::from(([10, 0, 0, 2], 8080)),
        started: Timestamp(T0),
        orientation_known: mode & 2 == 0,
    };
    let mut conn = HttpConnection::open(&info, &mut ctx);
    let mut ts = T0;
    while !input.is_empty() {
        let op = input.u8();
        let dir = if op & 1 == 0 {
            Dir::ToServer
        } else {
            Dir::ToClient
        };
        ts += 1_000;
        let now = Timestamp(ts);
        let event = match (op >> 1) % 8 {
            // Data with a one-byte length (most ops: small chunkings are the interesting ones).
            0..=4 => {
                let n = usize::from(input.u8());
                StreamEvent::Data {
                    dir,
                    ts: now,
                    bytes: input.bytes(n),
                }
            }
            5 => {
                let n = usize::from(input.u16());
                StreamEvent::Data {
                    dir,
                    ts: now,
                    bytes: input.bytes(n),
                }
            }
            6 => {
                let len = match op >> 4 {
                    0..=7 => u64::from(input.u8()),
                    8..=13 => u64::from(input.u32()),
                    _ => u64::from(input.u32()) << 16,
                };
                if len == 0 {
                    StreamEvent::End { dir, ts: now }
                } else {
                    StreamEvent::Gap { dir, ts: now, len }
                }
            }
            _ => StreamEvent::OverlapConflict { dir, ts: now },
        };
        if let StreamEvent::Data { bytes: &[], .. } = event {
            continue;
        }
        let interest = conn.on_event(event, &mut ctx);
        check_http_usage(&conn, &limits);
        if interest == Interest::Stop {
            break;
        }
    }
    let _ = conn.on_event(
        StreamEvent::Close {
            ts: Timestamp(ts + 1),
            reason: CloseReason::Finished,
        },
        &mut ctx,
    );
    check_http_usage(&conn, &limits);
    assert!(ctx.sink.exchanges.len() as u64 <= limits.max_exchanges_per_conn);
    for ex in &ctx.sink.exchanges {
        for body in [&ex.request_body, &ex.response_body] {
            assert!(
                body.sample.len() <= limits.max_body_sample,
                "sample too big"
            );
        }
    }
}

fn check_http_usage(conn: &HttpConnection<Recorder>, limits: &HttpLimits) {
    let u = conn.buffer_usage();
    assert!(
        u.head_bytes.iter().all(|&b| b <= limits.max_head_bytes),
        "{u:?}"
    );
    assert!(u.pending <= limits.max_pending_requests, "{u:?}");
    assert!(
        u.body_samples <= 2 * (2 * limits.max_body_sample + DECODE_BLOCK),
        "{u:?}"
    );
}

/// Target `body`: `[codings][framing][chunk sizes seed][body bytes]`. The codings byte picks up
/// to three content codings (gzip, deflate, br, identity, an unknown one); the framing byte a
/// length, chunked or close-delimited body; the body is fed in chunk sizes drawn from the
/// seed, through the transfer decoder ([`BodyReader`]) into the content decoder.
pub fn body_decoding(data: &[u8]) {
    const NAMES: [&[u8]; 8] = [
        b"gzip",
        b"deflate",
        b"br",
        b"identity",
        b"x-gzip",
        b"zstd",
        b"gzip",
        b"deflate",
    ];
    let mut input = Input { data };
    let c = input.u8();
    let framing = input.u8();
    let mut seed = u32::from(input.u16()) | 1;
    let count = usize::from(c >> 6);
    let names: Vec<&[u8]> = (0..count)
        .map(|i| NAMES[usize::from((c >> (i * 2)) & 7) % NAMES.len()])
        .collect();
    let codings = Codings::from_names(names.iter().copied());
    let limits = DecodeLimits {
        sample_cap: 1024,
        max_decoded: 256 * 1024,
        max_ratio: 100,
    };
    let mut decoder = BodyDecoder::new(&codings, limits);
    let body = input.data;
    let mut reader = match framing % 3 {
        0 => BodyReader::chunked(256),
        1 => BodyReader::length(u64::from(framing) * body.len() as u64 / 128),
        _ => BodyReader::UntilClose,
    };
    let mut rest = body;
    let mut complete = false;
    let mut transfer_out = 0u64;
    while !rest.is_empty() {
        // xorshift32 for the chunk sizes: 1..=64 bytes, sometimes a whole block.
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        let n = if seed % 16 == 0 {
            DECODE_BLOCK + 3
        } else {
            (seed % 64 + 1) as usize
        };
        let (now, later) = rest.split_at(n.min(rest.len()));
        let (used, step) = reader.feed(now, &mut |b| {
            transfer_out += b.len() as u64;
            decoder.push(b);
        });
        assert!(used <= now.len());
        if seed % 97 == 0 {
            decoder.gap(u64::from(seed % 1000));
        }
        match step {
            Step::NeedMore => {
                assert_eq!(used, now.len(), "NeedMore must consume everything");
                rest = later;
            }
            Step::Done => {
                complete = true;
                break;
            }
            Step::Invalid(_) => break,
        }
        assert!(decoder.buffered() <= 2 * limits.sample_cap + DECODE_BLOCK);
    }
    assert!(transfer_out <= body.len() as u64);
    let (out, _flags) = decoder.finish(complete);
    assert!(out.sample.len() <= limits.sample_cap, "sample over cap");
    assert!(out.decoded_len <= limits.max_decoded.max(out.wire_len));
}

/// Target `tls`: the ClientHello parser, the certificate subject readers and the flight
/// buffers. `[mode][split: u16][client bytes...][server bytes...]`; the server bytes are also
/// handed to the certificate parsers whole and in record-sized pieces to a [`TlsFlights`].
pub fn tls_handshake(data: &[u8]) {
    let mut input = Input { data };
    let mode = input.u8();
    let split = usize::from(input.u16());
    let client = input.bytes(split);
    let server = input.data;
    let _ = crate::tls::looks_like_tls(client);
    if let Some(hello) = crate::tls::parse_client_hello(client) {
        assert!(hello.sni.as_ref().is_none_or(|s| s.len() <= 253));
        assert!(hello.alpn.len() <= 16);
    }
    let _ = crate::tls::first_certificate_subject(server);
    let _ = crate::tls::cert_subject(server);
    let _ = crate::tls::first_certificate_subject(client);

    let mut stats = FlightStats {
        budget: if mode & 1 == 0 {
            MAX_FLIGHT_BYTES * 4
        } else {
            100
        },
        ..Default::default()
    };
    let obs = TlsObservation {
        ts: Timestamp(T0),
        sni: None,
        alpn: Vec::new(),
        ja4: String::new(),
        server_cert_subject: None,
        client_cert_subject: None,
        consumer: "10.0.0.1".to_string(),
        server_alpn: None,
    };
    let client_dir = if mode & 2 == 0 {
        Dir::ToServer
    } else {
        Dir::ToClient
    };
    let (c1, c2) = client.split_at(client.len().min(usize::from(mode >> 2) * 8));
    let mut flights = TlsFlights::new(obs, client_dir, c1, &mut stats);
    let piece = usize::from(mode >> 4) * 97 + 1;
    for part in server.chunks(piece) {
        flights.data(client_dir.reverse(), part, &mut stats);
        assert!(stats.buffered <= stats.budget);
    }
    flights.data(client_dir, c2, &mut stats);
    assert!(stats.buffered <= stats.budget);
    let _ = flights.done();
    let _ = flights.finish(&mut stats);
    assert_eq!(
        stats.buffered, 0,
        "a finished connection holds no flight bytes"
    );
}
