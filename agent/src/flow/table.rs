//! The TCP flow table: one entry per connection, bounded, expired by packet time.
//!
//! [`FlowTable::process`] takes decoded packets in capture order, finds the connection by its
//! canonical [`FlowKey`](super::FlowKey), feeds the sender's [`Reassembler`] (and tells the
//! other direction what the packet acknowledged), and hands the resulting [`StreamEvent`]s to
//! the connection's [`StreamHandler`] in packet order.
//!
//! Rules, each with the reason:
//! - **Which side is the client.** SYN without ACK: the sender. SYN-ACK: the receiver
//!   (RFC 9293 3.5). Otherwise a guess (`orientation_known = false`): the endpoint on a
//!   well-known HTTP port, else the lower port, is the server; equal ports: the first packet's
//!   receiver.
//! - **When a flow is created.** On a SYN, or on a segment with payload. Pure ACK / FIN / RST
//!   packets of unknown flows are only counted (`packets_without_flow`): they are mostly the
//!   tail of a connection already closed here (the last ACK after both FINs), and opening a
//!   handler for them would be noise.
//! - **Closing.** RST: pending holes become gaps, then `Close(Reset)` (the RST's own payload is
//!   not delivered, as a receiver would not deliver it). Both directions ended (FIN and all
//!   data before it accounted for): `Close(Finished)`. Idle longer than the timeout, by packet
//!   time ([`FlowTable::expire`]): `Close(Expired)`. Table full: the least recently active flow
//!   gets `Close(Evicted)`. A SYN (no ACK) whose ISN does not match an existing flow's stream
//!   is a new connection reusing the tuple: the old one is closed as `Expired` (it ended
//!   unseen). [`FlowTable::finish`] closes everything with `EndOfCapture`, in first-seen order.
//!   Every close first flushes holes as gaps and sends `End` for directions whose FIN was seen.
//! - **Interest.** After a handler returns [`Interest::Stop`], the flow keeps only its tuple and
//!   flags (buffers are freed), counts packets, and still gets `Close`.
//!
//! Memory is bounded by `max_flows` x (two reassembler buffers capped by `FlowLimits`). The
//! flow map uses a randomly seeded hasher because its keys come from the network. Least recent
//! activity is tracked with an intrusive list over a slab, so touching a flow, evicting and
//! expiring are O(1) per flow and allocate nothing on the packet path.
//!
//! Per packet, the work is kept small and the memory touched close together: the map is keyed
//! by the packed `ConnKey` (no `SocketAddr` is built or compared; one hash of five words),
//! and the LRU links and `last_seen` live in a dense side array (`Lru`, 16 bytes a flow)
//! rather than in the flow's slot, so moving a flow to the front of the list touches its
//! neighbours' 16 bytes, not their (cold, handler-sized) slots.
//!
//! Not here: UDP, IP fragment reassembly, application protocols (the handler's job).

use super::key::{ConnKey, Endpoint, Side};
use super::reassembly::{Delivery, ReasmLimits, ReasmStats, Reassembler, Segment};
use super::{CloseReason, ConnInfo, Dir, Interest, StreamEvent, StreamHandler};
use crate::decode::{Packet, TcpSegment, Transport};
use analyzer::time::Timestamp;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::ops::ControlFlow;

/// Bounds of a flow table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowLimits {
    /// Connections tracked at once; beyond it the least recently active one is evicted.
    pub max_flows: usize,
    /// Out-of-order bytes buffered per direction.
    pub max_ooo_bytes_per_dir: usize,
    /// Out-of-order segments (chunks) buffered per direction.
    pub max_ooo_segments_per_dir: usize,
    /// A flow with no packet for longer than this (packet time) is closed by `expire`.
    pub idle_timeout_micros: i64,
}

impl Default for FlowLimits {
    fn default() -> Self {
        FlowLimits {
            max_flows: 262_144,
            max_ooo_bytes_per_dir: 256 << 10,
            max_ooo_segments_per_dir: 1024,
            idle_timeout_micros: 5 * 60 * Timestamp::MICROS_PER_SEC,
        }
    }
}

/// Flow table counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlowStats {
    /// UDP datagrams carrying HTTP/1 (SSDP and other HTTPU): counted, not parsed.
    pub udp_http: u64,
    /// TCP packets processed, and their captured payload bytes.
    pub packets: u64,
    pub payload_bytes: u64,
    /// Pure ACK/FIN/RST packets of flows not in the table (not tracked).
    pub packets_without_flow: u64,
    pub flows_created: u64,
    /// Flows whose client/server roles were guessed (no SYN or SYN-ACK seen first).
    pub orientation_guessed: u64,
    /// Most flows in the table at once.
    pub flows_peak: u64,
    pub closed_finished: u64,
    pub closed_reset: u64,
    pub closed_expired: u64,
    /// Flows evicted because the table was full.
    pub flows_evicted: u64,
    pub closed_end_of_capture: u64,
    /// Old flows closed because a new SYN reused their tuple (counted in `closed_expired` too).
    pub flows_replaced_by_syn: u64,
    /// Flows whose handler said `Stop`, and packets seen on them afterwards.
    pub stopped_flows: u64,
    pub stopped_packets: u64,
    /// Reassembly counters over all directions.
    pub reasm: ReasmStats,
}

impl FlowStats {
    /// Every counter with a stable name, for metrics and the scan summary.
    pub fn counters(&self) -> Vec<(&'static str, u64)> {
        let r = &self.reasm;
        vec![
            ("flow_udp_http_datagrams", self.udp_http),
            ("flow_packets", self.packets),
            ("flow_payload_bytes", self.payload_bytes),
            ("flow_packets_without_flow", self.packets_without_flow),
            ("flow_flows_created", self.flows_created),
            ("flow_orientation_guessed", self.orientation_guessed),
            ("flow_flows_peak", self.flows_peak),
            ("flow_closed_finished", self.closed_finished),
            ("flow_closed_reset", self.closed_reset),
            ("flow_closed_expired", self.closed_expired),
            ("flow_flows_evicted", self.flows_evicted),
            ("flow_closed_end_of_capture", self.closed_end_of_capture),
            ("flow_flows_replaced_by_syn", self.flows_replaced_by_syn),
            ("flow_stopped_flows", self.stopped_flows),
            ("flow_stopped_packets", self.stopped_packets),
            ("reasm_delivered_bytes", r.delivered_bytes),
            ("reasm_gaps", r.gaps),
            ("reasm_gap_bytes", r.gap_bytes),
            ("reasm_ack_gaps", r.ack_gaps),
            ("reasm_snaplen_lost_bytes", r.snaplen_lost_bytes),
            ("reasm_ooo_segments", r.ooo_segments),
            ("reasm_ooo_overflow", r.ooo_overflow),
            ("reasm_retransmitted_bytes", r.retransmitted_bytes),
            ("reasm_overlap_conflicts", r.overlap_conflicts),
            ("reasm_syn_data_bytes", r.syn_data_bytes),
            ("reasm_out_of_window", r.out_of_window),
            ("reasm_bytes_after_fin", r.bytes_after_fin),
        ]
    }
}

/// Sentinel for "no slot" in the LRU links.
const NIL: u32 = u32::MAX;

/// Ports that say "server" when guessing orientation (HTTP and common API/proxy ports).
fn is_service_port(port: u16) -> bool {
    matches!(
        port,
        80 | 81 | 443 | 591 | 3000 | 5000 | 8000 | 8008 | 8080 | 8081 | 8443 | 8888 | 9000 | 9443
    )
}

fn index(dir: Dir) -> usize {
    match dir {
        Dir::ToServer => 0,
        Dir::ToClient => 1,
    }
}

struct Flow<H> {
    key: ConnKey,
    /// Which side of `key` is the client.
    client: Side,
    handler: H,
    /// Indexed by `index(dir)`.
    dirs: [Reassembler; 2],
    /// `End` delivered (or, when stopped, FIN seen) per direction.
    ended: [bool; 2],
    stopped: bool,
    /// Creation order, for deterministic `finish`.
    serial: u64,
}

/// The part of a flow every packet's LRU update touches, kept apart from the flow (same
/// index) so that neighbours' slots stay cold.
#[derive(Debug, Clone, Copy)]
struct Lru {
    last_seen: Timestamp,
    /// LRU neighbours: `newer` is more recently active.
    newer: u32,
    older: u32,
}

/// Connections keyed by their canonical [`super::FlowKey`] (packed, see `key::ConnKey`), each
/// with a handler `H`.
pub struct FlowTable<H: StreamHandler> {
    limits: FlowLimits,
    map: HashMap<ConnKey, u32, foldhash::fast::RandomState>,
    slots: Vec<Option<Flow<H>>>,
    /// Same indices as `slots` (entries of free slots are unused).
    lru: Vec<Lru>,
    free: Vec<u32>,
    /// Most and least recently active flows.
    newest: u32,
    oldest: u32,
    serial: u64,
    stats: FlowStats,
}

/// Turn reassembler output for `dir` into handler events.
fn deliver_to<'h, H: StreamHandler>(
    handler: &'h mut H,
    ctx: &'h mut H::Ctx,
    dir: Dir,
    ts: Timestamp,
) -> impl FnMut(Delivery<'_>) -> ControlFlow<()> + 'h {
    move |d| {
        let event = match d {
            Delivery::Data(bytes) => StreamEvent::Data { dir, ts, bytes },
            Delivery::Gap(len) => StreamEvent::Gap { dir, ts, len },
            Delivery::OverlapConflict => StreamEvent::OverlapConflict { dir, ts },
        };
        interest(handler.on_event(event, ctx))
    }
}

fn interest(i: Interest) -> ControlFlow<()> {
    match i {
        Interest::Continue => ControlFlow::Continue(()),
        Interest::Stop => ControlFlow::Break(()),
    }
}

impl<H: StreamHandler> FlowTable<H> {
    pub fn new(limits: FlowLimits) -> FlowTable<H> {
        FlowTable {
            limits,
            map: HashMap::with_hasher(foldhash::fast::RandomState::default()),
            slots: Vec::new(),
            lru: Vec::new(),
            free: Vec::new(),
            newest: NIL,
            oldest: NIL,
            serial: 0,
            stats: FlowStats::default(),
        }
    }

    pub fn limits(&self) -> &FlowLimits {
        &self.limits
    }

    pub fn stats(&self) -> &FlowStats {
        &self.stats
    }

    /// Flows currently in the table.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Take one decoded packet (in capture order). Non-TCP packets are ignored.
    pub fn process(&mut self, pkt: &Packet<'_>, ctx: &mut H::Ctx) {
        let seg = match &pkt.transport {
            Transport::Tcp(seg) => seg,
            Transport::Udp { payload, .. } => {
                // Not silently skipped: HTTP over UDP is visible in the counters.
                if crate::http::looks_like_http_datagram(payload) {
                    self.stats.udp_http += 1;
                }
                return;
            }
            Transport::Other => return,
        };
        self.stats.packets += 1;
        self.stats.payload_bytes += seg.payload.len() as u64;
        let (key, side) = ConnKey::new(
            Endpoint::new(pkt.src, seg.src_port),
            Endpoint::new(pkt.dst, seg.dst_port),
        );
        let ts = pkt.ts;
        let mut found = self.map.get(&key).copied();
        if let Some(idx) = found {
            if self.is_new_connection(idx, side, seg) {
                self.stats.flows_replaced_by_syn += 1;
                self.close(idx, CloseReason::Expired, ts, ctx);
                found = None;
            }
        }
        let idx = match found {
            Some(idx) => idx,
            None => {
                let opens = seg.syn || !seg.payload.is_empty() || seg.missing_tail > 0;
                if !opens {
                    self.stats.packets_without_flow += 1;
                    return;
                }
                self.create(key, side, seg, ts, ctx)
            }
        };
        self.touch(idx, ts);
        self.on_packet(idx, side, seg, ts, ctx);
    }

    /// Close flows idle for longer than the idle timeout at packet time `now` (their `Close`
    /// carries `now`, the time the expiry was noticed). Cheap when
    /// nothing expires (looks at the least recently active flow only), so it can be called
    /// every few thousand packets or whenever packet time advances.
    pub fn expire(&mut self, now: Timestamp, ctx: &mut H::Ctx) {
        while self.slot(self.oldest).is_some() {
            let Some(lru) = self.lru.get(self.oldest as usize) else {
                break;
            };
            if now.since(lru.last_seen) <= self.limits.idle_timeout_micros {
                break;
            }
            self.close(self.oldest, CloseReason::Expired, now, ctx);
        }
    }

    /// End of capture: flush and close every flow (`Close(EndOfCapture)` at `now`), in the
    /// order the flows were first seen.
    pub fn finish(&mut self, now: Timestamp, ctx: &mut H::Ctx) {
        let mut live: Vec<(u64, u32)> = self
            .slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.as_ref().map(|f| (f.serial, i as u32)))
            .collect();
        live.sort_unstable();
        for (_, idx) in live {
            self.close(idx, CloseReason::EndOfCapture, now, ctx);
        }
    }

    fn slot(&self, idx: u32) -> Option<&Flow<H>> {
        self.slots.get(idx as usize).and_then(Option::as_ref)
    }

    /// A SYN without ACK from a side whose stream already started elsewhere: the tuple was
    /// reused by a new connection (a retransmitted SYN has the same ISN).
    fn is_new_connection(&self, idx: u32, side: Side, seg: &TcpSegment<'_>) -> bool {
        if !seg.syn || seg.ack_flag {
            return false;
        }
        let Some(flow) = self.slot(idx) else {
            return false;
        };
        let dir = if side == flow.client {
            Dir::ToServer
        } else {
            Dir::ToClient
        };
        flow.dirs[index(dir)]
            .stream_start()
            .is_some_and(|start| start != seg.seq + 1)
    }

    fn create(
        &mut self,
        key: ConnKey,
        side: Side,
        seg: &TcpSegment<'_>,
        ts: Timestamp,
        ctx: &mut H::Ctx,
    ) -> u32 {
        // Slot indices are u32 (NIL is the sentinel): that bounds the table size too.
        let max_flows = self.limits.max_flows.clamp(1, NIL as usize - 1);
        if self.map.len() >= max_flows && self.oldest != NIL {
            self.stats.flows_evicted += 1;
            self.close(self.oldest, CloseReason::Evicted, ts, ctx);
        }
        let (client, orientation_known) = match (seg.syn, seg.ack_flag) {
            (true, false) => (side, true),
            (true, true) => (side.other(), true),
            _ => {
                let (src, dst) = (seg.src_port, seg.dst_port);
                let dst_is_server = match (is_service_port(src), is_service_port(dst)) {
                    (false, true) => true,
                    (true, false) => false,
                    _ => dst <= src,
                };
                let client = if dst_is_server { side } else { side.other() };
                (client, false)
            }
        };
        if !orientation_known {
            self.stats.orientation_guessed += 1;
        }
        let info = ConnInfo {
            client: SocketAddr::from(key.endpoint(client)),
            server: SocketAddr::from(key.endpoint(client.other())),
            started: ts,
            orientation_known,
        };
        let handler = H::open(&info, ctx);
        let reasm = ReasmLimits {
            max_bytes: self.limits.max_ooo_bytes_per_dir,
            max_segments: self.limits.max_ooo_segments_per_dir,
        };
        self.serial += 1;
        let flow = Flow {
            key,
            client,
            handler,
            dirs: [Reassembler::new(reasm), Reassembler::new(reasm)],
            ended: [false; 2],
            stopped: false,
            serial: self.serial,
        };
        let lru = Lru {
            last_seen: ts,
            newer: NIL,
            older: NIL,
        };
        let idx = match self.free.pop() {
            Some(i) => {
                if let Some(s) = self.slots.get_mut(i as usize) {
                    *s = Some(flow);
                }
                if let Some(l) = self.lru.get_mut(i as usize) {
                    *l = lru;
                }
                i
            }
            None => {
                self.slots.push(Some(flow));
                self.lru.push(lru);
                (self.slots.len() - 1) as u32
            }
        };
        self.map.insert(key, idx);
        self.link_newest(idx);
        self.stats.flows_created += 1;
        self.stats.flows_peak = self.stats.flows_peak.max(self.map.len() as u64);
        idx
    }

    /// Mark `idx` (a live flow) as the most recently active flow, at packet time `ts`.
    fn touch(&mut self, idx: u32, ts: Timestamp) {
        if let Some(l) = self.lru.get_mut(idx as usize) {
            // Packet time can step back in merged captures; activity never does.
            l.last_seen = l.last_seen.max(ts);
        }
        if self.newest != idx {
            self.unlink(idx);
            self.link_newest(idx);
        }
    }

    /// Put the live flow `idx` (not in the list) at the newest end of the list.
    fn link_newest(&mut self, idx: u32) {
        let old_newest = self.newest;
        if let Some(l) = self.lru.get_mut(idx as usize) {
            l.newer = NIL;
            l.older = old_newest;
        }
        if let Some(n) = self.lru.get_mut(old_newest as usize) {
            n.newer = idx;
        }
        self.newest = idx;
        if self.oldest == NIL {
            self.oldest = idx;
        }
    }

    /// Take the live flow `idx` out of the list. (Links of free slots are stale: only live
    /// flows are ever linked or unlinked, and `NIL` is never a valid index.)
    fn unlink(&mut self, idx: u32) {
        if self.slot(idx).is_none() {
            return;
        }
        let Some(&Lru { newer, older, .. }) = self.lru.get(idx as usize) else {
            return;
        };
        match self.lru.get_mut(newer as usize) {
            Some(n) => n.older = older,
            None => self.newest = older,
        }
        match self.lru.get_mut(older as usize) {
            Some(o) => o.newer = newer,
            None => self.oldest = newer,
        }
    }

    fn on_packet(
        &mut self,
        idx: u32,
        side: Side,
        seg: &TcpSegment<'_>,
        ts: Timestamp,
        ctx: &mut H::Ctx,
    ) {
        let stats = &mut self.stats;
        let Some(flow) = self.slots.get_mut(idx as usize).and_then(Option::as_mut) else {
            return;
        };
        let dir = if side == flow.client {
            Dir::ToServer
        } else {
            Dir::ToClient
        };
        let (me, peer) = (index(dir), index(dir.reverse()));
        if flow.stopped {
            stats.stopped_packets += 1;
            if seg.fin {
                flow.ended[me] = true;
            }
        } else {
            let Flow {
                handler,
                dirs,
                ended,
                ..
            } = flow;
            let [to_server, to_client] = dirs;
            let (this, other) = match dir {
                Dir::ToServer => (to_server, to_client),
                Dir::ToClient => (to_client, to_server),
            };
            let run = (|| -> ControlFlow<()> {
                // RFC 9293 3.5: a SYN-ACK acknowledges the peer's ISN; that anchors the peer's
                // stream even when its SYN was not captured.
                if seg.syn && seg.ack_flag {
                    other.start_at(seg.ack);
                }
                if seg.ack_flag {
                    let mut emit = deliver_to(&mut *handler, &mut *ctx, dir.reverse(), ts);
                    other.ack(seg.ack, &mut stats.reasm, &mut emit)?;
                }
                if !seg.rst {
                    let input = Segment {
                        seq: seg.seq,
                        syn: seg.syn,
                        fin: seg.fin,
                        payload: seg.payload,
                        missing_tail: seg.missing_tail,
                    };
                    let mut emit = deliver_to(&mut *handler, &mut *ctx, dir, ts);
                    this.segment(&input, &mut stats.reasm, &mut emit)?;
                }
                for (i, d, r) in [(peer, dir.reverse(), &*other), (me, dir, &*this)] {
                    if !ended[i] && r.is_finished() {
                        ended[i] = true;
                        interest(handler.on_event(StreamEvent::End { dir: d, ts }, ctx))?;
                    }
                }
                ControlFlow::Continue(())
            })();
            if run.is_break() {
                stats.stopped_flows += 1;
                flow.stopped = true;
                for r in &mut flow.dirs {
                    r.discard_buffer();
                }
                // FINs already accounted for still count towards closing.
                for (i, r) in flow.dirs.iter().enumerate() {
                    if r.fin_seen() {
                        flow.ended[i] = true;
                    }
                }
            }
        }
        let both_ended = flow.ended[0] && flow.ended[1];
        if seg.rst {
            self.close(idx, CloseReason::Reset, ts, ctx);
        } else if both_ended {
            self.close(idx, CloseReason::Finished, ts, ctx);
        }
    }

    /// Remove a flow: flush its holes as gaps, send `End` where a FIN was seen, then `Close`.
    fn close(&mut self, idx: u32, reason: CloseReason, ts: Timestamp, ctx: &mut H::Ctx) {
        self.unlink(idx);
        let Some(mut flow) = self.slots.get_mut(idx as usize).and_then(Option::take) else {
            return;
        };
        self.map.remove(&flow.key);
        self.free.push(idx);
        if !flow.stopped {
            let Flow {
                handler,
                dirs,
                ended,
                ..
            } = &mut flow;
            let stats = &mut self.stats.reasm;
            let _ = (|| -> ControlFlow<()> {
                for dir in [Dir::ToServer, Dir::ToClient] {
                    let i = index(dir);
                    {
                        let mut emit = deliver_to(&mut *handler, &mut *ctx, dir, ts);
                        dirs[i].flush(stats, &mut emit)?;
                    }
                    if !ended[i] && dirs[i].is_finished() {
                        ended[i] = true;
                        interest(handler.on_event(StreamEvent::End { dir, ts }, ctx))?;
                    }
                }
                ControlFlow::Continue(())
            })();
        }
        flow.handler
            .on_event(StreamEvent::Close { ts, reason }, ctx);
        match reason {
            CloseReason::Finished => self.stats.closed_finished += 1,
            CloseReason::Reset => self.stats.closed_reset += 1,
            CloseReason::Expired => self.stats.closed_expired += 1,
            // Counted where the eviction is decided.
            CloseReason::Evicted => {}
            CloseReason::EndOfCapture => self.stats.closed_end_of_capture += 1,
        }
    }
}

#[cfg(test)]
mod lru_oracle;
#[cfg(test)]
mod tests;
