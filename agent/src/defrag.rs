//! IPv4 and IPv6 fragment reassembly, bounded (pure; time is packet time).
//!
//! Fragments are keyed as the RFCs say a receiver must: IPv4 by (source, destination, protocol,
//! identification) (RFC 791 section 3.2), IPv6 by (source, destination, identification)
//! (RFC 8200 section 4.5). A datagram is complete when the last fragment (MF clear) fixed its
//! length and every byte below it arrived. Bytes are kept once: where fragments overlap the
//! first copy wins and the overlap is counted (`defrag_overlaps`; with different bytes also
//! `defrag_overlap_conflicts`), the same stance as TCP reassembly. RFC 5722 tells IPv6
//! receivers to drop datagrams with overlaps; a passive sensor keeps them, flagged, so a
//! crafted overlap cannot hide a request from it.
//!
//! Bounds: [`DefragLimits`] caps the datagrams in progress (the oldest is evicted), the bytes
//! of one datagram (64 KiB: the IPv4 total-length field cannot say more) and the bytes held in
//! all (oldest evicted first); datagrams idle for `timeout_micros` of packet time are dropped.
//! Every drop has a counter in [`DefragStats`].
//!
//! Not here: header parsing of the outer packet (see `decode`), checksum validation.

use analyzer::time::Timestamp;
use std::collections::HashMap;
use std::net::IpAddr;

/// Caps of one [`Defragmenter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DefragLimits {
    /// Datagrams in reassembly at once.
    pub max_datagrams: usize,
    /// Bytes of one reassembled datagram's payload (fragments reaching beyond are dropped
    /// with their datagram).
    pub max_datagram_bytes: usize,
    /// Bytes held across all datagrams in reassembly.
    pub max_total_bytes: usize,
    /// Packet-time microseconds after a datagram's first fragment before it is given up.
    pub timeout_micros: i64,
    /// Distinct fragments kept per datagram (a flood of 8-byte fragments is cut here).
    pub max_pieces: usize,
}

impl Default for DefragLimits {
    fn default() -> Self {
        DefragLimits {
            max_datagrams: 1024,
            max_datagram_bytes: 65_535,
            max_total_bytes: 8 * 1024 * 1024,
            // RFC 8200 section 4.5 and Linux both give up after 60 s; mirror traffic that has
            // not completed within 30 s of packet time is not coming back.
            timeout_micros: 30 * Timestamp::MICROS_PER_SEC,
            max_pieces: 256,
        }
    }
}

/// Counters of the defragmenter (metric names in [`DefragStats::counters`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DefragStats {
    /// Fragments given to the defragmenter.
    pub fragments: u64,
    /// Datagrams completed and decoded further.
    pub reassembled: u64,
    /// Fragments overlapping bytes already held (first copy kept).
    pub overlaps: u64,
    /// Of those, overlaps whose bytes differed from the first copy.
    pub overlap_conflicts: u64,
    /// Datagrams given up because their first fragment is older than the timeout.
    pub expired: u64,
    /// Datagrams evicted to make room (datagram or byte cap).
    pub evicted: u64,
    /// Datagrams dropped because they would exceed `max_datagram_bytes`, or whose fragments
    /// disagree on the length.
    pub too_large: u64,
    /// Datagrams dropped because they had more than `max_pieces` fragments.
    pub pieces_capped: u64,
    /// Fragments cut by the capture's snaplen (their datagram cannot complete).
    pub truncated: u64,
    /// Bytes held right now (a gauge).
    pub held_bytes: u64,
    /// Highest `held_bytes` seen.
    pub held_bytes_peak: u64,
    /// Datagrams in reassembly right now (a gauge).
    pub datagrams: u64,
}

impl DefragStats {
    /// Every counter with a stable metric name.
    pub fn counters(&self) -> Vec<(&'static str, u64)> {
        vec![
            ("decode_defrag_fragments", self.fragments),
            ("decode_defrag_reassembled", self.reassembled),
            ("decode_defrag_overlaps", self.overlaps),
            ("decode_defrag_overlap_conflicts", self.overlap_conflicts),
            ("decode_defrag_expired", self.expired),
            ("decode_defrag_evicted", self.evicted),
            ("decode_defrag_too_large", self.too_large),
            ("decode_defrag_pieces_capped", self.pieces_capped),
            ("decode_defrag_truncated", self.truncated),
            ("decode_defrag_held_bytes", self.held_bytes),
            ("decode_defrag_held_bytes_peak", self.held_bytes_peak),
            ("decode_defrag_datagrams", self.datagrams),
        ]
    }
}

/// Which datagram a fragment belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FragKey {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// IPv4 identification (16 bits) or IPv6 fragment identification (32 bits).
    pub id: u32,
    /// IPv4 protocol, or IPv6 next header after the fragment header.
    pub proto: u8,
}

/// One fragment as the decoder found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fragment<'a> {
    pub key: FragKey,
    /// Byte offset of `payload` in the datagram (the header field times 8).
    pub offset: usize,
    /// More fragments follow (MF / M flag).
    pub more: bool,
    pub payload: &'a [u8],
    /// The capture cut this fragment (its bytes are not all there).
    pub truncated: bool,
}

#[derive(Debug)]
struct Pending {
    first_ts: Timestamp,
    /// Payload bytes by offset; grows up to the highest fragment end.
    data: Vec<u8>,
    /// Received byte ranges `[start, end)`, sorted, disjoint, not merged across touching
    /// edges (count of pieces is what `max_pieces` caps).
    have: Vec<(usize, usize)>,
    /// Payload length, once the last fragment arrived.
    total: Option<usize>,
}

impl Pending {
    fn complete(&self) -> bool {
        let Some(total) = self.total else {
            return false;
        };
        let mut next = 0;
        for &(s, e) in &self.have {
            if s > next {
                return false;
            }
            next = next.max(e);
        }
        next >= total
    }
}

/// Reassembles fragments into datagrams. Owns the last completed datagram so the decoder can
/// hand out packets that borrow it.
#[derive(Debug, Default)]
pub struct Defragmenter {
    limits: DefragLimits,
    table: HashMap<FragKey, Pending>,
    held: usize,
    last_sweep: Option<Timestamp>,
    pub stats: DefragStats,
}

/// What [`Defragmenter::push`] did with a fragment.
#[derive(Debug, PartialEq, Eq)]
pub enum Pushed {
    /// Kept (or dropped and counted); nothing to decode yet.
    Held,
    /// The datagram is complete: its payload, in order.
    Complete(Vec<u8>),
}

impl Defragmenter {
    pub fn new(limits: DefragLimits) -> Self {
        Defragmenter {
            limits,
            ..Defragmenter::default()
        }
    }

    /// Add one fragment seen at packet time `ts`.
    pub fn push(&mut self, frag: &Fragment<'_>, ts: Timestamp) -> Pushed {
        self.stats.fragments += 1;
        self.sweep(ts);
        let out = self.insert(frag, ts);
        self.stats.held_bytes = self.held as u64;
        self.stats.held_bytes_peak = self.stats.held_bytes_peak.max(self.stats.held_bytes);
        self.stats.datagrams = self.table.len() as u64;
        out
    }

    fn insert(&mut self, frag: &Fragment<'_>, ts: Timestamp) -> Pushed {
        if frag.truncated {
            // The datagram can never complete from this capture: free it now.
            self.stats.truncated += 1;
            self.remove(&frag.key);
            return Pushed::Held;
        }
        let start = frag.offset;
        let end = start.saturating_add(frag.payload.len());
        if end > self.limits.max_datagram_bytes {
            self.stats.too_large += 1;
            self.remove(&frag.key);
            return Pushed::Held;
        }
        if !self.table.contains_key(&frag.key) {
            while self.table.len() >= self.limits.max_datagrams.max(1) {
                if !self.evict_oldest() {
                    break;
                }
            }
            self.table.insert(
                frag.key,
                Pending {
                    first_ts: ts,
                    data: Vec::new(),
                    have: Vec::new(),
                    total: None,
                },
            );
        }
        // Room for the growth this fragment needs, evicting other datagrams (oldest first).
        let current = self.table.get(&frag.key).map_or(0, |p| p.data.len());
        let growth = end.saturating_sub(current);
        while self.held + growth > self.limits.max_total_bytes {
            if !self.evict_oldest_except(&frag.key) {
                break;
            }
        }
        if self.held + growth > self.limits.max_total_bytes {
            self.stats.evicted += 1;
            self.remove(&frag.key);
            return Pushed::Held;
        }
        let Some(p) = self.table.get_mut(&frag.key) else {
            return Pushed::Held;
        };
        // The last fragment fixes the length; fragments must agree with it (RFC 8200 section
        // 4.5: a fragment beyond the end, or a second different end, is an error).
        let bad_len = match (frag.more, p.total) {
            (false, Some(t)) => t != end,
            (false, None) => p.have.iter().any(|&(_, e)| e > end),
            (true, Some(t)) => end > t,
            (true, None) => false,
        };
        if bad_len {
            self.stats.too_large += 1;
            self.remove(&frag.key);
            return Pushed::Held;
        }
        if !frag.more {
            p.total = Some(end);
        }
        if p.have.len() >= self.limits.max_pieces {
            self.stats.pieces_capped += 1;
            self.remove(&frag.key);
            return Pushed::Held;
        }
        if p.data.len() < end {
            p.data.resize(end, 0);
            self.held += growth;
        }
        // First copy wins: write only bytes no earlier fragment covered.
        let mut overlapped = false;
        let mut conflict = false;
        let mut cursor = start;
        let mut gaps = Vec::new();
        for &(s, e) in &p.have {
            if e <= cursor || s >= end {
                continue;
            }
            if s > cursor {
                gaps.push((cursor, s));
            }
            let (os, oe) = (s.max(start), e.min(end));
            overlapped = true;
            let old = p.data.get(os..oe).unwrap_or_default();
            let new = frag.payload.get(os - start..oe - start).unwrap_or_default();
            conflict |= old != new;
            cursor = cursor.max(e);
        }
        if cursor < end {
            gaps.push((cursor, end));
        }
        for (s, e) in gaps {
            if let (Some(dst), Some(src)) =
                (p.data.get_mut(s..e), frag.payload.get(s - start..e - start))
            {
                dst.copy_from_slice(src);
            }
            let at = p.have.partition_point(|&(hs, _)| hs < s);
            p.have.insert(at, (s, e));
        }
        if overlapped {
            self.stats.overlaps += 1;
        }
        if conflict {
            self.stats.overlap_conflicts += 1;
        }
        if p.complete() {
            let total = p.total.unwrap_or(0);
            if let Some(done) = self.table.remove(&frag.key) {
                self.held = self.held.saturating_sub(done.data.len());
                let mut data = done.data;
                data.truncate(total);
                self.stats.reassembled += 1;
                return Pushed::Complete(data);
            }
        }
        Pushed::Held
    }

    /// Give up datagrams older than the timeout. Runs at most once per packet-time second.
    fn sweep(&mut self, now: Timestamp) {
        if self
            .last_sweep
            .is_some_and(|last| now.since(last) < Timestamp::MICROS_PER_SEC)
        {
            return;
        }
        self.last_sweep = Some(now);
        let timeout = self.limits.timeout_micros;
        let old: Vec<FragKey> = self
            .table
            .iter()
            .filter(|(_, p)| now.since(p.first_ts) > timeout)
            .map(|(k, _)| *k)
            .collect();
        for k in old {
            self.stats.expired += 1;
            self.remove(&k);
        }
        self.stats.held_bytes = self.held as u64;
        self.stats.datagrams = self.table.len() as u64;
    }

    fn remove(&mut self, key: &FragKey) {
        if let Some(p) = self.table.remove(key) {
            self.held = self.held.saturating_sub(p.data.len());
        }
    }

    fn evict_oldest(&mut self) -> bool {
        let oldest = self
            .table
            .iter()
            .min_by_key(|(_, p)| p.first_ts)
            .map(|(k, _)| *k);
        match oldest {
            Some(k) => {
                self.stats.evicted += 1;
                self.remove(&k);
                true
            }
            None => false,
        }
    }

    fn evict_oldest_except(&mut self, keep: &FragKey) -> bool {
        let oldest = self
            .table
            .iter()
            .filter(|(k, _)| *k != keep)
            .min_by_key(|(_, p)| p.first_ts)
            .map(|(k, _)| *k);
        match oldest {
            Some(k) => {
                self.stats.evicted += 1;
                self.remove(&k);
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn key(id: u32) -> FragKey {
        FragKey {
            src: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            dst: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
            id,
            proto: 6,
        }
    }

    fn frag(id: u32, offset: usize, more: bool, payload: &[u8]) -> Fragment<'_> {
        Fragment {
            key: key(id),
            offset,
            more,
            payload,
            truncated: false,
        }
    }

    #[test]
    fn out_of_order_fragments_complete() {
        let mut d = Defragmenter::new(DefragLimits::default());
        let data: Vec<u8> = (0..40u8).collect();
        assert_eq!(
            d.push(&frag(1, 32, false, &data[32..]), Timestamp(0)),
            Pushed::Held
        );
        assert_eq!(
            d.push(&frag(1, 0, true, &data[..16]), Timestamp(1)),
            Pushed::Held
        );
        assert_eq!(
            d.push(&frag(1, 16, true, &data[16..32]), Timestamp(2)),
            Pushed::Complete(data.clone())
        );
        assert_eq!((d.stats.reassembled, d.stats.held_bytes), (1, 0));
    }

    #[test]
    fn overlap_keeps_the_first_copy_and_counts() {
        let mut d = Defragmenter::new(DefragLimits::default());
        let _ = d.push(&frag(1, 0, true, b"AAAAAAAABBBBBBBB"), Timestamp(0));
        // Same range, different bytes, plus the tail.
        let out = d.push(&frag(1, 8, false, b"XXXXXXXXCCCCCCCC"), Timestamp(1));
        assert_eq!(out, Pushed::Complete(b"AAAAAAAABBBBBBBBCCCCCCCC".to_vec()));
        assert_eq!((d.stats.overlaps, d.stats.overlap_conflicts), (1, 1));
    }

    #[test]
    fn expiry_is_by_packet_time() {
        let mut d = Defragmenter::new(DefragLimits::default());
        let _ = d.push(&frag(1, 0, true, &[0; 8]), Timestamp(0));
        let late = Timestamp(31 * Timestamp::MICROS_PER_SEC);
        assert_eq!(d.push(&frag(1, 8, false, &[0; 8]), late), Pushed::Held);
        assert_eq!(d.stats.expired, 1);
        // The late tail started a new datagram that cannot complete.
        assert_eq!(d.stats.datagrams, 1);
    }

    #[test]
    fn caps_hold_under_a_flood() {
        let limits = DefragLimits {
            max_datagrams: 8,
            max_total_bytes: 4096,
            ..DefragLimits::default()
        };
        let mut d = Defragmenter::new(limits);
        for id in 0..1000u32 {
            let _ = d.push(&frag(id, 1000, true, &[1; 8]), Timestamp(i64::from(id)));
            assert!(d.stats.held_bytes <= 4096);
            assert!(d.stats.datagrams <= 8);
        }
        assert!(d.stats.held_bytes_peak <= 4096);
        assert!(d.stats.evicted >= 992, "{:?}", d.stats);
        // Beyond 64 KiB.
        let _ = d.push(&frag(5000, 65_530, true, &[1; 16]), Timestamp(2000));
        assert_eq!(d.stats.too_large, 1);
        // Piece cap.
        let mut d = Defragmenter::new(DefragLimits {
            max_pieces: 4,
            ..DefragLimits::default()
        });
        for i in 0..10 {
            let _ = d.push(&frag(1, i * 16, true, &[0; 8]), Timestamp(0));
        }
        assert!(d.stats.pieces_capped >= 1);
    }
}
