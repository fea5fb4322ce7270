use super::*;
use crate::flow::SeqNumber;
use std::net::{IpAddr, Ipv4Addr};

/// What the recording handler saw, per connection id (in open order).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Rec {
    Open(ConnInfo),
    Data(Dir, Vec<u8>),
    Gap(Dir, u64),
    Conflict(Dir),
    End(Dir),
    Close(CloseReason),
}

#[derive(Default)]
struct Log {
    recs: Vec<(usize, Timestamp, Rec)>,
    opened: usize,
    /// Return `Stop` once a connection has received this many data bytes.
    stop_after_bytes: Option<usize>,
}

impl Log {
    fn of(&self, id: usize) -> Vec<Rec> {
        self.recs
            .iter()
            .filter(|(i, _, _)| *i == id)
            .map(|(_, _, r)| r.clone())
            .collect()
    }

    /// All data of one connection and direction, with gaps as `?`.
    fn stream(&self, id: usize, dir: Dir) -> String {
        let mut s = String::new();
        for r in self.of(id) {
            match r {
                Rec::Data(d, b) if d == dir => s.push_str(&String::from_utf8_lossy(&b)),
                Rec::Gap(d, n) if d == dir => s.push_str(&"?".repeat(n as usize)),
                _ => {}
            }
        }
        s
    }
}

struct Recorder {
    id: usize,
    bytes: usize,
}

impl StreamHandler for Recorder {
    type Ctx = Log;

    fn open(info: &ConnInfo, ctx: &mut Log) -> Recorder {
        let id = ctx.opened;
        ctx.opened += 1;
        ctx.recs.push((id, info.started, Rec::Open(*info)));
        Recorder { id, bytes: 0 }
    }

    fn on_event(&mut self, event: StreamEvent<'_>, ctx: &mut Log) -> Interest {
        let (ts, rec) = match event {
            StreamEvent::Data { dir, ts, bytes } => {
                self.bytes += bytes.len();
                (ts, Rec::Data(dir, bytes.to_vec()))
            }
            StreamEvent::Gap { dir, ts, len } => (ts, Rec::Gap(dir, len)),
            StreamEvent::OverlapConflict { dir, ts } => (ts, Rec::Conflict(dir)),
            StreamEvent::End { dir, ts } => (ts, Rec::End(dir)),
            StreamEvent::Close { ts, reason } => (ts, Rec::Close(reason)),
        };
        ctx.recs.push((self.id, ts, rec));
        match ctx.stop_after_bytes {
            Some(n) if self.bytes >= n => Interest::Stop,
            _ => Interest::Continue,
        }
    }
}

const C: [u8; 4] = [10, 0, 0, 1];
const S: [u8; 4] = [10, 0, 0, 2];

/// A TCP packet description; `flags` is any of "S", "A", "F", "R".
#[derive(Clone, Copy)]
struct P {
    ts: i64,
    from: ([u8; 4], u16),
    to: ([u8; 4], u16),
    flags: &'static str,
    seq: u32,
    ack: u32,
    payload: &'static [u8],
}

fn pkt(p: &P) -> Packet<'static> {
    Packet {
        ts: Timestamp(p.ts),
        src: IpAddr::V4(Ipv4Addr::from(p.from.0)),
        dst: IpAddr::V4(Ipv4Addr::from(p.to.0)),
        transport: Transport::Tcp(TcpSegment {
            src_port: p.from.1,
            dst_port: p.to.1,
            seq: SeqNumber(p.seq),
            ack: SeqNumber(p.ack),
            syn: p.flags.contains('S'),
            ack_flag: p.flags.contains('A'),
            fin: p.flags.contains('F'),
            rst: p.flags.contains('R'),
            payload: p.payload,
            missing_tail: 0,
        }),
    }
}

/// Client 10.0.0.1:`cport` <-> server 10.0.0.2:80. Client ISN 100, server ISN 500.
fn c2s(ts: i64, cport: u16, flags: &'static str, seq: u32, ack: u32, payload: &'static [u8]) -> P {
    P {
        ts,
        from: (C, cport),
        to: (S, 80),
        flags,
        seq,
        ack,
        payload,
    }
}

fn s2c(ts: i64, cport: u16, flags: &'static str, seq: u32, ack: u32, payload: &'static [u8]) -> P {
    P {
        ts,
        from: (S, 80),
        to: (C, cport),
        flags,
        seq,
        ack,
        payload,
    }
}

fn run(table: &mut FlowTable<Recorder>, log: &mut Log, packets: &[P]) {
    for p in packets {
        table.process(&pkt(p), log);
    }
}

fn addr(ip: [u8; 4], port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::from(ip)), port)
}

const REQ: &[u8] = b"GET / HTTP/1.1\r\n\r\n"; // 18 bytes
const RESP: &[u8] = b"HTTP/1.1 200 OK\r\n\r\n"; // 19 bytes

#[test]
fn handshake_data_and_fin_both_ways() {
    let mut t = FlowTable::new(FlowLimits::default());
    let mut log = Log::default();
    run(
        &mut t,
        &mut log,
        &[
            c2s(1, 5000, "S", 100, 0, b""),
            s2c(2, 5000, "SA", 500, 101, b""),
            c2s(3, 5000, "A", 101, 501, b""),
            c2s(4, 5000, "A", 101, 501, REQ),
            s2c(5, 5000, "A", 501, 119, RESP),
            c2s(6, 5000, "FA", 119, 520, b""),
            s2c(7, 5000, "FA", 520, 120, b""),
            c2s(8, 5000, "A", 120, 521, b""),
        ],
    );
    let info = ConnInfo {
        client: addr(C, 5000),
        server: addr(S, 80),
        started: Timestamp(1),
        orientation_known: true,
    };
    assert_eq!(
        log.of(0),
        vec![
            Rec::Open(info),
            Rec::Data(Dir::ToServer, REQ.to_vec()),
            Rec::Data(Dir::ToClient, RESP.to_vec()),
            Rec::End(Dir::ToServer),
            Rec::End(Dir::ToClient),
            Rec::Close(CloseReason::Finished),
        ]
    );
    // Events carry the timestamp of the packet that caused them.
    let ts: Vec<i64> = log.recs.iter().map(|(_, ts, _)| ts.micros()).collect();
    assert_eq!(ts, vec![1, 4, 5, 6, 7, 7]);
    assert!(t.is_empty());
    let s = t.stats();
    assert_eq!((s.flows_created, s.closed_finished), (1, 1));
    assert_eq!(
        s.packets_without_flow, 1,
        "the last ACK does not reopen the flow"
    );
    assert_eq!(s.reasm.gaps, 0);
}

#[test]
fn mid_stream_pickup_guesses_the_server_by_port() {
    let mut t = FlowTable::new(FlowLimits::default());
    let mut log = Log::default();
    run(
        &mut t,
        &mut log,
        &[
            s2c(1, 5000, "A", 900, 300, RESP),
            c2s(2, 5000, "A", 300, 919, REQ),
        ],
    );
    let Some(Rec::Open(info)) = log.of(0).first().cloned() else {
        panic!("no open");
    };
    assert_eq!(info.server, addr(S, 80));
    assert!(!info.orientation_known);
    assert_eq!(log.stream(0, Dir::ToClient), String::from_utf8_lossy(RESP));
    assert_eq!(log.stream(0, Dir::ToServer), String::from_utf8_lossy(REQ));
    assert_eq!(t.stats().orientation_guessed, 1);

    // Neither port well known: the lower port is the server.
    let mut log = Log::default();
    let p = P {
        ts: 1,
        from: (C, 40001),
        to: (S, 7001),
        flags: "A",
        seq: 1,
        ack: 1,
        payload: b"x",
    };
    run(&mut t, &mut log, &[p]);
    assert!(matches!(log.of(0).first(), Some(Rec::Open(i)) if i.server == addr(S, 7001)));
}

#[test]
fn rst_mid_body_flushes_the_hole_then_closes() {
    let mut t = FlowTable::new(FlowLimits::default());
    let mut log = Log::default();
    run(
        &mut t,
        &mut log,
        &[
            c2s(1, 5000, "S", 100, 0, b""),
            s2c(2, 5000, "SA", 500, 101, b""),
            c2s(3, 5000, "A", 101, 501, REQ),
            s2c(4, 5000, "A", 501, 119, b"part1"),
            // 501+5..501+10 lost in the capture
            s2c(5, 5000, "A", 511, 119, b"part3"),
            c2s(6, 5000, "R", 119, 0, b"rst payload is not data"),
        ],
    );
    assert_eq!(log.stream(0, Dir::ToClient), "part1?????part3");
    assert_eq!(log.stream(0, Dir::ToServer), String::from_utf8_lossy(REQ));
    assert_eq!(log.of(0).last(), Some(&Rec::Close(CloseReason::Reset)));
    assert!(t.is_empty());
    assert_eq!(t.stats().closed_reset, 1);
}

#[test]
fn out_of_order_in_both_directions_is_delivered_in_packet_order() {
    let mut t = FlowTable::new(FlowLimits::default());
    let mut log = Log::default();
    // Server acks stay at what it had received when it sent, so no hole is acked away.
    run(
        &mut t,
        &mut log,
        &[
            c2s(1, 5000, "S", 100, 0, b""),
            s2c(2, 5000, "SA", 500, 101, b""),
            c2s(3, 5000, "A", 104, 501, b"DEF"), // client bytes 3..6 first
            s2c(4, 5000, "A", 504, 101, b"def"), // server bytes 3..6 first
            c2s(5, 5000, "A", 101, 501, b"ABC"),
            s2c(6, 5000, "A", 501, 107, b"abc"),
        ],
    );
    let recs = log.of(0);
    assert_eq!(
        recs[1..],
        [
            Rec::Data(Dir::ToServer, b"ABC".to_vec()),
            Rec::Data(Dir::ToServer, b"DEF".to_vec()),
            Rec::Data(Dir::ToClient, b"abc".to_vec()),
            Rec::Data(Dir::ToClient, b"def".to_vec()),
        ]
    );
}

#[test]
fn an_ack_past_lost_request_bytes_reports_the_gap_before_the_response() {
    let mut t = FlowTable::new(FlowLimits::default());
    let mut log = Log::default();
    run(
        &mut t,
        &mut log,
        &[
            c2s(1, 5000, "S", 100, 0, b""),
            s2c(2, 5000, "SA", 500, 101, b""),
            // The request (18 bytes) was not captured; the response acks it.
            s2c(3, 5000, "A", 501, 119, RESP),
        ],
    );
    assert_eq!(
        log.of(0)[1..],
        [
            Rec::Gap(Dir::ToServer, 18),
            Rec::Data(Dir::ToClient, RESP.to_vec())
        ]
    );
    assert_eq!(t.stats().reasm.ack_gaps, 1);
}

#[test]
fn idle_flows_expire_by_packet_time() {
    let limits = FlowLimits {
        idle_timeout_micros: 100,
        ..FlowLimits::default()
    };
    let mut t = FlowTable::new(limits);
    let mut log = Log::default();
    run(&mut t, &mut log, &[c2s(1_000, 5000, "A", 1, 1, b"a")]);
    run(&mut t, &mut log, &[c2s(1_050, 5001, "A", 1, 1, b"b")]);
    t.expire(Timestamp(1_100), &mut log);
    assert_eq!(t.len(), 2, "exactly the timeout is not idle yet");
    t.expire(Timestamp(1_101), &mut log);
    assert_eq!(t.len(), 1);
    assert_eq!(log.of(0).last(), Some(&Rec::Close(CloseReason::Expired)));
    assert_eq!(log.recs.last().map(|r| r.1), Some(Timestamp(1_101)));
    // Activity refreshes: flow 1 gets a packet and survives past its original deadline.
    run(&mut t, &mut log, &[c2s(1_140, 5001, "A", 2, 1, b"c")]);
    t.expire(Timestamp(1_200), &mut log);
    assert_eq!(t.len(), 1);
    t.expire(Timestamp(1_241), &mut log);
    assert!(t.is_empty());
    assert_eq!(t.stats().closed_expired, 2);
}

#[test]
fn a_full_table_evicts_the_least_recently_active_flow() {
    let limits = FlowLimits {
        max_flows: 2,
        ..FlowLimits::default()
    };
    let mut t = FlowTable::new(limits);
    let mut log = Log::default();
    run(
        &mut t,
        &mut log,
        &[
            c2s(1, 5000, "A", 1, 1, b"a"), // id 0
            c2s(2, 5001, "A", 1, 1, b"b"), // id 1
            c2s(3, 5000, "A", 2, 1, b"c"), // id 0 active again
            c2s(4, 5002, "A", 1, 1, b"d"), // id 2: evicts id 1
        ],
    );
    assert_eq!(t.len(), 2);
    assert_eq!(log.of(1).last(), Some(&Rec::Close(CloseReason::Evicted)));
    assert!(!log.of(0).contains(&Rec::Close(CloseReason::Evicted)));
    assert_eq!(t.stats().flows_evicted, 1);
    // Evicted at the time of the packet that needed the room, before that flow opened.
    let pos_close = log
        .recs
        .iter()
        .position(|r| r.0 == 1 && r.2 == Rec::Close(CloseReason::Evicted));
    let pos_open = log
        .recs
        .iter()
        .position(|r| r.0 == 2 && matches!(r.2, Rec::Open(_)));
    assert!(pos_close < pos_open);
}

#[test]
fn stop_interest_keeps_only_the_tuple() {
    let mut t = FlowTable::new(FlowLimits::default());
    let mut log = Log {
        stop_after_bytes: Some(1),
        ..Log::default()
    };
    run(
        &mut t,
        &mut log,
        &[
            c2s(1, 5000, "S", 100, 0, b""),
            s2c(2, 5000, "SA", 500, 101, b""),
            c2s(3, 5000, "A", 101, 501, b"\x16\x03\x01 not http"),
            c2s(4, 5000, "A", 200, 501, b"more"), // out of order: would be buffered
            s2c(5, 5000, "A", 501, 112, b"tls reply"),
            c2s(6, 5000, "FA", 112, 510, b""),
            s2c(7, 5000, "FA", 510, 113, b""),
        ],
    );
    assert_eq!(
        log.of(0)[1..],
        [
            Rec::Data(Dir::ToServer, b"\x16\x03\x01 not http".to_vec()),
            Rec::Close(CloseReason::Finished)
        ]
    );
    let s = t.stats();
    assert_eq!((s.stopped_flows, s.stopped_packets), (1, 4));
    assert!(t.is_empty());
}

#[test]
fn fast_open_data_on_the_syn_is_delivered() {
    let mut t = FlowTable::new(FlowLimits::default());
    let mut log = Log::default();
    run(
        &mut t,
        &mut log,
        &[
            c2s(1, 5000, "S", 100, 0, REQ),
            s2c(2, 5000, "SA", 500, 119, b""),
            s2c(3, 5000, "A", 501, 119, RESP),
        ],
    );
    assert!(
        matches!(&log.of(0)[0], Rec::Open(i) if i.orientation_known && i.client == addr(C, 5000))
    );
    assert_eq!(log.of(0)[1], Rec::Data(Dir::ToServer, REQ.to_vec()));
    assert_eq!(log.stream(0, Dir::ToClient), String::from_utf8_lossy(RESP));
    assert_eq!(t.stats().reasm.syn_data_bytes, REQ.len() as u64);
    assert_eq!(t.stats().reasm.gaps, 0);
}

#[test]
fn syn_ack_first_fixes_orientation_and_anchors_the_client_stream() {
    let mut t = FlowTable::new(FlowLimits::default());
    let mut log = Log::default();
    run(
        &mut t,
        &mut log,
        &[
            s2c(1, 5000, "SA", 500, 101, b""),
            // The first 5 request bytes were lost; later ones arrive, then the server acks all.
            c2s(2, 5000, "A", 106, 501, b"/ HTTP/1.1\r\n\r\n"),
            s2c(3, 5000, "A", 501, 119, b""),
        ],
    );
    assert!(
        matches!(&log.of(0)[0], Rec::Open(i) if i.orientation_known && i.client == addr(C, 5000))
    );
    assert_eq!(log.stream(0, Dir::ToServer), "?????/ HTTP/1.1\r\n\r\n");
}

#[test]
fn finish_flushes_holes_and_closes_in_first_seen_order() {
    let mut t = FlowTable::new(FlowLimits::default());
    let mut log = Log::default();
    run(
        &mut t,
        &mut log,
        &[
            c2s(1, 6000, "S", 100, 0, b""),
            c2s(2, 5000, "S", 100, 0, b""),
            c2s(3, 5000, "A", 105, 0, b"late"), // hole of 4 bytes
            c2s(4, 6000, "FA", 101, 0, b"x"),   // FIN: End on flush
            c2s(5, 6000, "A", 101, 0, b""),     // touch: LRU order differs from first-seen
        ],
    );
    t.finish(Timestamp(99), &mut log);
    let closes: Vec<(usize, Rec)> = log
        .recs
        .iter()
        .filter(|r| r.1 == Timestamp(99))
        .map(|r| (r.0, r.2.clone()))
        .collect();
    assert_eq!(
        closes,
        vec![
            (0, Rec::Close(CloseReason::EndOfCapture)),
            (1, Rec::Gap(Dir::ToServer, 4)),
            (1, Rec::Data(Dir::ToServer, b"late".to_vec())),
            (1, Rec::Close(CloseReason::EndOfCapture)),
        ]
    );
    assert!(log.of(0).contains(&Rec::End(Dir::ToServer)));
    assert!(t.is_empty());
    assert_eq!(t.stats().closed_end_of_capture, 2);
}

#[test]
fn a_new_syn_on_a_used_tuple_replaces_the_old_connection() {
    let mut t = FlowTable::new(FlowLimits::default());
    let mut log = Log::default();
    run(
        &mut t,
        &mut log,
        &[
            c2s(1, 5000, "S", 100, 0, b""),
            c2s(2, 5000, "A", 101, 0, b"old"),
            c2s(3, 5000, "S", 100, 0, b""), // retransmitted SYN: same connection
            c2s(4, 5000, "S", 9000, 0, b""), // new ISN: new connection
            c2s(5, 5000, "A", 9001, 0, b"new"),
        ],
    );
    assert_eq!(log.of(0).last(), Some(&Rec::Close(CloseReason::Expired)));
    assert_eq!(log.stream(1, Dir::ToServer), "new");
    assert_eq!(t.stats().flows_replaced_by_syn, 1);
    assert_eq!(t.len(), 1);
}

#[test]
fn non_tcp_and_stray_packets_create_nothing() {
    let mut t: FlowTable<Recorder> = FlowTable::new(FlowLimits::default());
    let mut log = Log::default();
    let udp = Packet {
        ts: Timestamp(1),
        src: IpAddr::V4(Ipv4Addr::from(C)),
        dst: IpAddr::V4(Ipv4Addr::from(S)),
        transport: Transport::Udp {
            src_port: 1,
            dst_port: 2,
            payload: b"x",
        },
    };
    t.process(&udp, &mut log);
    run(
        &mut t,
        &mut log,
        &[c2s(2, 5000, "A", 1, 1, b""), c2s(3, 5000, "R", 1, 1, b"")],
    );
    assert!(t.is_empty());
    assert!(log.recs.is_empty());
    let s = t.stats();
    assert_eq!((s.packets, s.packets_without_flow), (2, 2));
    assert!(s.counters().contains(&("flow_packets_without_flow", 2)));
}

#[test]
fn http_over_udp_is_counted_not_skipped() {
    let mut t: FlowTable<Recorder> = FlowTable::new(FlowLimits::default());
    let mut log = Log::default();
    let datagram = |payload: &'static [u8]| Packet {
        ts: Timestamp(1),
        src: IpAddr::V4(Ipv4Addr::from(C)),
        dst: IpAddr::V4(Ipv4Addr::new(239, 255, 255, 250)),
        transport: Transport::Udp {
            src_port: 50000,
            dst_port: 1900,
            payload,
        },
    };
    let search: &[u8] = b"M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\n\
        MAN: \"ssdp:discover\"\r\nMX: 1\r\nST: ssdp:all\r\n\r\n";
    t.process(&datagram(search), &mut log);
    t.process(
        &datagram(b"HTTP/1.1 200 OK\r\nST: upnp:rootdevice\r\n\r\n"),
        &mut log,
    );
    t.process(&datagram(b"\x12\x34\x01\x00\x00\x01 dns query\n"), &mut log);
    assert_eq!(t.stats().udp_http, 2);
    assert!(t
        .stats()
        .counters()
        .contains(&("flow_udp_http_datagrams", 2)));
    assert!(t.is_empty() && log.recs.is_empty(), "counted, not parsed");
}
