//! One direction of a TCP connection: segments in any order in, an ordered byte stream out.
//!
//! A [`Reassembler`] turns captured segments (in capture order: reordered, duplicated,
//! overlapping, some lost, some cut by the snaplen) into [`Delivery`] callbacks: in-order
//! `Data`, `Gap { len }` for bytes that will never be seen, and `OverlapConflict` when a
//! retransmission disagrees with the bytes already kept. In-order data is handed out straight
//! from the packet (no copy); only out-of-order data is copied, into a bounded buffer.
//!
//! The model is smoltcp's assembler and retina's reassembly, but positions are kept as 64-bit
//! *stream offsets* (bytes since the stream start), so buffer bookkeeping never deals with
//! sequence-number wrap: a segment's sequence number is turned into an offset once, by its
//! signed distance from the next expected sequence number (RFC 9293 comparison, valid within
//! 2^31).
//!
//! ## Where a stream starts
//! - SYN seen: at ISN + 1 (data carried on the SYN, TCP Fast Open, is delivered from there).
//! - Otherwise (mid-stream pickup): at the first segment carrying data or FIN. Bytes before it
//!   were never seen and are not reported as a gap (nothing says how many there were).
//! - The flow table may also anchor it from the peer's SYN-ACK (`start_at`).
//!
//! ## Invariants (checked by the oracle tests)
//! 1. `next` only grows; every offset below `next` was delivered exactly once, as `Data` or as
//!    part of a `Gap`. So delivered bytes + gap bytes == `next` at all times.
//! 2. Buffered chunks are sorted by start, never overlap, and all start *after* `next` (a chunk
//!    that becomes contiguous is delivered at once).
//! 3. `buffered` == the sum of buffered data bytes <= `limits.max_bytes`, and the number of
//!    chunks <= `limits.max_segments` (known-lost snaplen tails are kept as chunks with no data:
//!    they count as segments, not bytes).
//! 4. First copy wins: a byte, once buffered or delivered, is never replaced. A later copy with
//!    different bytes is reported (`OverlapConflict`) only when it overlaps *buffered* bytes;
//!    delivered bytes are gone and cannot be compared (counted as retransmitted bytes).
//! 5. Nothing is delivered past the FIN (the first FIN seen fixes the end of the stream).
//!
//! ## When a hole is given up (`Gap`)
//! - a cap would be exceeded: the first hole is declared lost and buffered data after it is
//!   delivered, until the new segment fits (`ooo_overflow`);
//! - the peer acknowledged past it ([`Reassembler::ack`]): the receiver got bytes the capture
//!   lost, and waiting longer cannot help. An ACK exactly one past `next` with nothing buffered
//!   and no FIN seen is ignored: it is more likely the ACK of a FIN we did not capture than one
//!   lost byte;
//! - a snaplen cut: the missing tail of a segment is a gap right after its captured bytes;
//! - close (FIN both ways, RST, expiry, eviction, end of capture): [`Reassembler::flush`]
//!   declares every remaining hole lost, and the bytes up to a seen FIN.
//!
//! Not handled here: which side is the client, connection state, events to handlers (see
//! `table`), and windows (a segment more than 2^30 bytes ahead is dropped as out of window).

use super::seq::SeqNumber;
use std::collections::VecDeque;
use std::ops::ControlFlow;

/// Segments starting further than this beyond the next expected byte are dropped (counted in
/// `out_of_window`): no real window is that large, and accepting them would let one bogus
/// sequence number turn into a gigabyte gap.
pub const MAX_AHEAD: i64 = 1 << 30;

/// Caps on out-of-order storage for one direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReasmLimits {
    pub max_bytes: usize,
    pub max_segments: usize,
}

impl Default for ReasmLimits {
    fn default() -> Self {
        ReasmLimits {
            max_bytes: 256 << 10,
            max_segments: 1024,
        }
    }
}

/// Reassembly counters (summed over all directions of all flows by the table).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReasmStats {
    /// Bytes handed out as `Data`.
    pub delivered_bytes: u64,
    /// `Gap` events, and the bytes they covered.
    pub gaps: u64,
    pub gap_bytes: u64,
    /// Gaps declared because the peer acknowledged past a hole.
    pub ack_gaps: u64,
    /// Bytes lost to the snaplen (reported inside gaps too).
    pub snaplen_lost_bytes: u64,
    /// Segments (or parts) that had to be buffered out of order.
    pub ooo_segments: u64,
    /// Times a cap forced a hole to be given up.
    pub ooo_overflow: u64,
    /// Bytes received again (retransmissions, overlaps), whether identical or not.
    pub retransmitted_bytes: u64,
    /// Segments whose bytes differed from buffered bytes for the same offsets.
    pub overlap_conflicts: u64,
    /// Payload bytes carried on SYN segments (TCP Fast Open).
    pub syn_data_bytes: u64,
    /// Segments dropped for starting more than `MAX_AHEAD` beyond the next expected byte.
    pub out_of_window: u64,
    /// Bytes sent after the FIN's position (dropped).
    pub bytes_after_fin: u64,
}

impl ReasmStats {
    pub fn merge(&mut self, o: &ReasmStats) {
        self.delivered_bytes += o.delivered_bytes;
        self.gaps += o.gaps;
        self.gap_bytes += o.gap_bytes;
        self.ack_gaps += o.ack_gaps;
        self.snaplen_lost_bytes += o.snaplen_lost_bytes;
        self.ooo_segments += o.ooo_segments;
        self.ooo_overflow += o.ooo_overflow;
        self.retransmitted_bytes += o.retransmitted_bytes;
        self.overlap_conflicts += o.overlap_conflicts;
        self.syn_data_bytes += o.syn_data_bytes;
        self.out_of_window += o.out_of_window;
        self.bytes_after_fin += o.bytes_after_fin;
    }
}

/// What a reassembler hands out, in stream order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery<'a> {
    Data(&'a [u8]),
    Gap(u64),
    OverlapConflict,
}

/// One segment's worth of input for one direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment<'a> {
    pub seq: SeqNumber,
    pub syn: bool,
    pub fin: bool,
    pub payload: &'a [u8],
    /// Payload bytes after `payload` that the snaplen cut off.
    pub missing_tail: u32,
}

/// Out-of-order bytes `[start, start + data.len())`, followed by `lost` bytes known to be
/// missing (a snaplen cut).
#[derive(Debug)]
struct Chunk {
    start: u64,
    data: Vec<u8>,
    lost: u64,
}

impl Chunk {
    fn data_end(&self) -> u64 {
        self.start + self.data.len() as u64
    }
    fn end(&self) -> u64 {
        self.data_end() + self.lost
    }
}

/// The incoming segment in stream offsets: data `[start, data_end)`, then lost bytes up to the
/// end of its range. `start` may be negative (data before the stream start).
#[derive(Clone, Copy)]
struct Span<'a> {
    start: i64,
    data_end: i64,
    payload: &'a [u8],
}

impl<'a> Span<'a> {
    /// The data bytes of `[x, y)`.
    fn data(&self, x: u64, y: u64) -> &'a [u8] {
        let lo = (x as i64).max(self.start);
        let hi = (y as i64).min(self.data_end);
        if lo >= hi {
            return &[];
        }
        let from = usize::try_from(lo - self.start).unwrap_or(usize::MAX);
        let to = usize::try_from(hi - self.start).unwrap_or(usize::MAX);
        self.payload.get(from..to).unwrap_or_default()
    }

    /// How many bytes of `[x, y)` are in the lost tail.
    fn lost(&self, x: u64, y: u64) -> u64 {
        let lo = (x as i64).max(self.data_end);
        u64::try_from((y as i64) - lo).unwrap_or(0)
    }
}

type Emit<'e> = dyn FnMut(Delivery<'_>) -> ControlFlow<()> + 'e;

/// Reassembly state for one direction. Holds no memory until a segment arrives out of order.
#[derive(Debug, Default)]
pub struct Reassembler {
    /// Sequence number of stream offset 0 (None until the stream start is known).
    base: Option<SeqNumber>,
    /// Stream offset of the next byte to deliver.
    next: u64,
    /// Stream offset of the FIN (end of stream), once seen.
    fin: Option<u64>,
    chunks: VecDeque<Chunk>,
    buffered: usize,
    limits: ReasmLimits,
}

impl Reassembler {
    pub fn new(limits: ReasmLimits) -> Reassembler {
        Reassembler {
            limits,
            ..Reassembler::default()
        }
    }

    /// Whether the stream start is known.
    pub fn is_started(&self) -> bool {
        self.base.is_some()
    }

    /// Anchor the stream start at `seq` if not yet known (e.g. from the peer's SYN-ACK, whose
    /// acknowledgment number is this side's ISN + 1).
    pub fn start_at(&mut self, seq: SeqNumber) {
        if self.base.is_none() {
            self.base = Some(seq);
        }
    }

    /// Sequence number of the first stream byte (ISN + 1 when the SYN was seen), once known.
    pub fn stream_start(&self) -> Option<SeqNumber> {
        self.base
    }

    /// The next sequence number expected, once started.
    pub fn next_seq(&self) -> Option<SeqNumber> {
        self.base.map(|b| b + self.next as usize)
    }

    /// Bytes accounted for so far (delivered + gaps).
    pub fn stream_offset(&self) -> u64 {
        self.next
    }

    pub fn fin_seen(&self) -> bool {
        self.fin.is_some()
    }

    /// FIN seen and everything before it delivered (or declared lost).
    pub fn is_finished(&self) -> bool {
        self.fin == Some(self.next)
    }

    pub fn buffered_bytes(&self) -> usize {
        self.buffered
    }

    pub fn buffered_segments(&self) -> usize {
        self.chunks.len()
    }

    /// Drop buffered data (the handler lost interest); positions are kept.
    pub fn discard_buffer(&mut self) {
        self.chunks = VecDeque::new();
        self.buffered = 0;
    }

    /// Stream offset of `seq` (relative to the next expected byte; valid within 2^31).
    fn offset_of(&self, seq: SeqNumber) -> Option<i64> {
        let next_seq = self.next_seq()?;
        Some(i64::try_from(self.next).unwrap_or(i64::MAX) + (seq - next_seq))
    }

    /// Process one segment of this direction.
    pub fn segment<F>(
        &mut self,
        seg: &Segment<'_>,
        stats: &mut ReasmStats,
        emit: &mut F,
    ) -> ControlFlow<()>
    where
        F: FnMut(Delivery<'_>) -> ControlFlow<()>,
    {
        // RFC 9293 3.4: the SYN occupies one sequence number; its data starts after it.
        let data_seq = if seg.syn { seg.seq + 1 } else { seg.seq };
        let has_data = !seg.payload.is_empty() || seg.missing_tail > 0;
        if self.base.is_none() {
            if !(seg.syn || has_data || seg.fin) {
                // A pure ACK: its seq would be a guess at the stream start (keepalives use
                // seq - 1), so wait for data.
                return ControlFlow::Continue(());
            }
            self.base = Some(data_seq);
        }
        let Some(start) = self.offset_of(data_seq) else {
            return ControlFlow::Continue(());
        };
        let next = i64::try_from(self.next).unwrap_or(i64::MAX);
        if start - next > MAX_AHEAD {
            stats.out_of_window += 1;
            return ControlFlow::Continue(());
        }
        if seg.syn {
            stats.syn_data_bytes += seg.payload.len() as u64;
        }
        let data_end = start + seg.payload.len() as i64;
        let mut end = data_end + i64::from(seg.missing_tail);
        if seg.fin && self.fin.is_none() && end >= next {
            self.fin = Some(end as u64);
            self.trim_after_fin(stats);
        }
        if let Some(fin) = self.fin.map(|f| f as i64) {
            if end > fin {
                stats.bytes_after_fin += (end - start.max(fin)) as u64;
                end = fin;
            }
        }
        if end <= next {
            stats.retransmitted_bytes += (end - start).max(0) as u64;
            return ControlFlow::Continue(());
        }
        if start < next {
            stats.retransmitted_bytes += (next - start) as u64;
        }
        if end <= start.max(next) {
            // Nothing left after trimming at the FIN (or a bare FIN).
            return ControlFlow::Continue(());
        }
        let span = Span {
            start,
            data_end,
            payload: seg.payload,
        };
        self.place(span, start.max(next) as u64, end as u64, stats, emit)
    }

    /// The peer acknowledged everything before `ack`: holes below it will never be filled.
    pub fn ack<F>(
        &mut self,
        ack: SeqNumber,
        stats: &mut ReasmStats,
        emit: &mut F,
    ) -> ControlFlow<()>
    where
        F: FnMut(Delivery<'_>) -> ControlFlow<()>,
    {
        let Some(next_seq) = self.next_seq() else {
            return ControlFlow::Continue(());
        };
        let rel = ack - next_seq;
        if rel <= 0 || rel > MAX_AHEAD {
            return ControlFlow::Continue(());
        }
        let mut target = self.next + rel as u64;
        match self.fin {
            // The FIN takes one sequence number: an ACK of the FIN is one past the data.
            Some(fin) => target = target.min(fin),
            None if self.chunks.is_empty() && rel == 1 => return ControlFlow::Continue(()),
            None => {}
        }
        while self.next < target {
            let before = self.next;
            let hole_end = self.chunks.front().map_or(target, |c| c.start.min(target));
            if hole_end > self.next {
                stats.ack_gaps += 1;
                let len = hole_end - self.next;
                self.next = hole_end;
                gap(len, stats, emit)?;
            }
            self.drain(stats, emit)?;
            if self.next == before {
                break;
            }
        }
        ControlFlow::Continue(())
    }

    /// Give up every hole: deliver all buffered data with gaps in between, then a gap up to the
    /// FIN if one was seen. Used when the connection closes.
    pub fn flush<F>(&mut self, stats: &mut ReasmStats, emit: &mut F) -> ControlFlow<()>
    where
        F: FnMut(Delivery<'_>) -> ControlFlow<()>,
    {
        while let Some(start) = self.chunks.front().map(|c| c.start) {
            if start > self.next {
                let len = start - self.next;
                self.next = start;
                gap(len, stats, emit)?;
            }
            self.drain(stats, emit)?;
        }
        if let Some(fin) = self.fin {
            if fin > self.next {
                let len = fin - self.next;
                self.next = fin;
                gap(len, stats, emit)?;
            }
        }
        ControlFlow::Continue(())
    }

    /// A FIN fixed the end of the stream: drop buffered bytes beyond it.
    fn trim_after_fin(&mut self, stats: &mut ReasmStats) {
        let Some(fin) = self.fin else { return };
        while let Some(last) = self.chunks.back_mut() {
            if last.start >= fin {
                stats.bytes_after_fin += last.end() - last.start;
                self.buffered -= last.data.len();
                self.chunks.pop_back();
                continue;
            }
            if last.end() > fin {
                stats.bytes_after_fin += last.end() - fin;
                let keep = (fin - last.start).min(last.data.len() as u64) as usize;
                self.buffered -= last.data.len() - keep;
                last.data.truncate(keep);
                last.lost = fin - last.data_end();
            }
            break;
        }
    }

    /// Put `[from, to)` of `span` (with `from >= next`) into the stream.
    fn place(
        &mut self,
        span: Span<'_>,
        mut from: u64,
        to: u64,
        stats: &mut ReasmStats,
        emit: &mut Emit<'_>,
    ) -> ControlFlow<()> {
        loop {
            if from <= self.next {
                return self.deliver(span, self.next, to, stats, emit);
            }
            let (pieces, bytes) = self.plan(span, from, to);
            if self.chunks.len() + pieces <= self.limits.max_segments
                && self.buffered + bytes <= self.limits.max_bytes
            {
                return self.insert(span, from, to, stats, emit);
            }
            // Over a cap: the first hole will not be filled in time. Declare it lost and move
            // on, which delivers (and frees) the buffered data after it.
            stats.ooo_overflow += 1;
            let hole_end = self.chunks.front().map_or(from, |c| c.start.min(from));
            let len = hole_end - self.next;
            self.next = hole_end;
            gap(len, stats, emit)?;
            self.drain(stats, emit)?;
            if self.next >= to {
                // Draining covered the whole segment: it was a copy of buffered bytes.
                return ControlFlow::Continue(());
            }
            if self.next > from {
                stats.retransmitted_bytes += self.next - from;
                from = self.next;
            }
        }
    }

    /// How many new chunks and data bytes inserting `[from, to)` would add.
    fn plan(&self, span: Span<'_>, from: u64, to: u64) -> (usize, usize) {
        let mut cursor = from;
        let (mut pieces, mut bytes) = (0, 0);
        let first = self.chunks.partition_point(|c| c.end() <= from);
        for c in self.chunks.range(first..) {
            if c.start >= to {
                break;
            }
            if c.start > cursor {
                pieces += 1;
                bytes += span.data(cursor, c.start).len();
            }
            cursor = cursor.max(c.end());
            if cursor >= to {
                break;
            }
        }
        if cursor < to {
            pieces += 1;
            bytes += span.data(cursor, to).len();
        }
        (pieces, bytes)
    }

    /// Buffer the parts of `[from, to)` (all beyond `next`) not already buffered.
    fn insert(
        &mut self,
        span: Span<'_>,
        from: u64,
        to: u64,
        stats: &mut ReasmStats,
        emit: &mut Emit<'_>,
    ) -> ControlFlow<()> {
        let mut i = self.chunks.partition_point(|c| c.end() <= from);
        let mut cursor = from;
        let mut conflict = false;
        while cursor < to {
            match self.chunks.get(i) {
                Some(c) if c.start <= cursor => {
                    let overlap_end = c.end().min(to);
                    stats.retransmitted_bytes += overlap_end - cursor;
                    conflict |= differs(span, c, cursor, overlap_end);
                    cursor = cursor.max(overlap_end);
                    i += 1;
                }
                following => {
                    let upto = following.map_or(to, |c| c.start.min(to));
                    let data = span.data(cursor, upto).to_vec();
                    let lost = span.lost(cursor, upto);
                    self.buffered += data.len();
                    self.chunks.insert(
                        i,
                        Chunk {
                            start: cursor,
                            data,
                            lost,
                        },
                    );
                    i += 1;
                    cursor = upto;
                }
            }
        }
        stats.ooo_segments += 1;
        if conflict {
            stats.overlap_conflicts += 1;
            emit(Delivery::OverlapConflict)?;
        }
        ControlFlow::Continue(())
    }

    /// Deliver `[from, to)` (`from == next`), interleaving buffered chunks (first copy wins),
    /// then everything buffered that became contiguous.
    fn deliver(
        &mut self,
        span: Span<'_>,
        from: u64,
        to: u64,
        stats: &mut ReasmStats,
        emit: &mut Emit<'_>,
    ) -> ControlFlow<()> {
        let mut cursor = from;
        let mut conflict = false;
        while cursor < to {
            match self.chunks.front() {
                Some(c) if c.start <= cursor => {
                    let overlap_end = c.end().min(to);
                    stats.retransmitted_bytes += overlap_end.saturating_sub(cursor);
                    if !conflict && differs(span, c, cursor, overlap_end) {
                        conflict = true;
                        stats.overlap_conflicts += 1;
                        emit(Delivery::OverlapConflict)?;
                    }
                    cursor = cursor.max(self.drain_one(stats, emit)?);
                }
                following => {
                    let upto = following.map_or(to, |c| c.start.min(to));
                    let data = span.data(cursor, upto);
                    let lost = span.lost(cursor, upto);
                    self.next = upto;
                    cursor = upto;
                    if !data.is_empty() {
                        stats.delivered_bytes += data.len() as u64;
                        emit(Delivery::Data(data))?;
                    }
                    stats.snaplen_lost_bytes += lost;
                    gap(lost, stats, emit)?;
                }
            }
        }
        self.drain(stats, emit)
    }

    /// Deliver buffered chunks while the first one is contiguous with `next`.
    fn drain(&mut self, stats: &mut ReasmStats, emit: &mut Emit<'_>) -> ControlFlow<()> {
        while self.chunks.front().is_some_and(|c| c.start <= self.next) {
            self.drain_one(stats, emit)?;
        }
        ControlFlow::Continue(())
    }

    /// Pop and deliver the first chunk (from `next` on); returns the new `next`.
    fn drain_one(&mut self, stats: &mut ReasmStats, emit: &mut Emit<'_>) -> ControlFlow<(), u64> {
        let Some(c) = self.chunks.pop_front() else {
            return ControlFlow::Continue(self.next);
        };
        self.buffered -= c.data.len();
        if c.end() <= self.next {
            return ControlFlow::Continue(self.next);
        }
        let skip = usize::try_from(self.next.saturating_sub(c.start)).unwrap_or(usize::MAX);
        let data = c.data.get(skip..).unwrap_or_default();
        let lost = c.end() - self.next.max(c.data_end());
        self.next = c.end();
        if !data.is_empty() {
            stats.delivered_bytes += data.len() as u64;
            emit(Delivery::Data(data))?;
        }
        stats.snaplen_lost_bytes += lost;
        gap(lost, stats, emit)?;
        ControlFlow::Continue(self.next)
    }
}

fn gap(len: u64, stats: &mut ReasmStats, emit: &mut Emit<'_>) -> ControlFlow<()> {
    if len == 0 {
        return ControlFlow::Continue(());
    }
    stats.gaps += 1;
    stats.gap_bytes += len;
    emit(Delivery::Gap(len))
}

/// Whether the new segment's data and the chunk's data disagree anywhere in `[x, y)`.
fn differs(span: Span<'_>, c: &Chunk, x: u64, y: u64) -> bool {
    let lo = x.max(c.start);
    let hi = y.min(c.data_end());
    if lo >= hi {
        return false;
    }
    let new = span.data(lo, hi);
    let from = usize::try_from(lo - c.start).unwrap_or(usize::MAX);
    let to = usize::try_from(hi - c.start).unwrap_or(usize::MAX);
    let kept = c.data.get(from..to).unwrap_or_default();
    // Compare only where both copies have bytes (the new one may be shorter: lost tail).
    let n = new.len().min(kept.len());
    new.get(..n) != kept.get(..n)
}

#[cfg(test)]
mod tests;
