//! Oracle test of the table's bookkeeping (smoltcp's `test_random` style): random packets,
//! including packet time stepping back, and expiry sweeps over a few connections and a small
//! table, checked against an obviously correct model of "least recently active" (a `Vec` in
//! activity order): which flow is evicted or expired, when, in which order, and the order of
//! `finish`.

use super::*;
use crate::flow::SeqNumber;
use proptest::prelude::*;
use std::net::{IpAddr, Ipv4Addr};

/// Which client port opened or closed, and why it closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    Open(u16),
    Close(u16, CloseReason),
}

struct Client(u16);

impl StreamHandler for Client {
    type Ctx = Vec<Seen>;

    fn open(info: &ConnInfo, log: &mut Vec<Seen>) -> Client {
        log.push(Seen::Open(info.client.port()));
        Client(info.client.port())
    }

    fn on_event(&mut self, event: StreamEvent<'_>, log: &mut Vec<Seen>) -> Interest {
        if let StreamEvent::Close { reason, .. } = event {
            log.push(Seen::Close(self.0, reason));
        }
        Interest::Continue
    }
}

#[derive(Debug, Clone, Copy)]
enum Op {
    /// A data packet from client port `port` to 10.0.0.2:80, `dt` after the clock.
    Packet { port: u16, dt: i64 },
    /// Advance the clock by `dt` and sweep idle flows.
    Expire { dt: i64 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (1000u16..1006, -5i64..15).prop_map(|(port, dt)| Op::Packet { port, dt }),
        1 => (0i64..40).prop_map(|dt| Op::Expire { dt }),
    ]
}

/// The model: live flows as (client port, last activity, first-seen order), least recently
/// active first.
#[derive(Default)]
struct Model {
    lru: Vec<(u16, i64, u64)>,
    serial: u64,
}

const TIMEOUT: i64 = 20;

impl Model {
    fn packet(&mut self, port: u16, ts: i64, max_flows: usize, out: &mut Vec<Seen>) {
        if let Some(i) = self.lru.iter().position(|f| f.0 == port) {
            let (p, last, serial) = self.lru.remove(i);
            self.lru.push((p, last.max(ts), serial));
            return;
        }
        if self.lru.len() >= max_flows {
            let (p, _, _) = self.lru.remove(0);
            out.push(Seen::Close(p, CloseReason::Evicted));
        }
        self.serial += 1;
        out.push(Seen::Open(port));
        self.lru.push((port, ts, self.serial));
    }

    fn expire(&mut self, now: i64, out: &mut Vec<Seen>) {
        while self.lru.first().is_some_and(|f| now - f.1 > TIMEOUT) {
            let (p, _, _) = self.lru.remove(0);
            out.push(Seen::Close(p, CloseReason::Expired));
        }
    }

    fn finish(&mut self, out: &mut Vec<Seen>) {
        let mut live = std::mem::take(&mut self.lru);
        live.sort_by_key(|f| f.2);
        out.extend(
            live.iter()
                .map(|f| Seen::Close(f.0, CloseReason::EndOfCapture)),
        );
    }
}

fn data(port: u16, ts: i64, seq: u32) -> Packet<'static> {
    Packet {
        ts: Timestamp(ts),
        src: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
        dst: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
        transport: Transport::Tcp(TcpSegment {
            src_port: port,
            dst_port: 80,
            seq: SeqNumber(seq),
            ack: SeqNumber(1),
            syn: false,
            ack_flag: true,
            fin: false,
            rst: false,
            payload: b"x",
            missing_tail: 0,
        }),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn eviction_expiry_and_finish_follow_the_lru_model(
        ops in proptest::collection::vec(op(), 1..80),
        max_flows in 1usize..5,
    ) {
        let limits = FlowLimits {
            max_flows,
            idle_timeout_micros: TIMEOUT,
            ..FlowLimits::default()
        };
        let mut table: FlowTable<Client> = FlowTable::new(limits);
        let (mut got, mut want) = (Vec::new(), Vec::new());
        let mut model = Model::default();
        let mut clock = 1_000i64;
        for (n, op) in ops.iter().enumerate() {
            match *op {
                Op::Packet { port, dt } => {
                    let ts = clock + dt;
                    // Each packet carries the next byte of its stream.
                    table.process(&data(port, ts, 1 + n as u32), &mut got);
                    model.packet(port, ts, max_flows, &mut want);
                }
                Op::Expire { dt } => {
                    clock += dt;
                    table.expire(Timestamp(clock), &mut got);
                    model.expire(clock, &mut want);
                }
            }
            prop_assert_eq!(&got, &want);
            prop_assert_eq!(table.len(), model.lru.len());
        }
        table.finish(Timestamp(clock), &mut got);
        model.finish(&mut want);
        prop_assert_eq!(&got, &want);
        prop_assert!(table.is_empty());
    }
}
