use super::*;
use proptest::prelude::*;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Ev {
    Data(Vec<u8>),
    Gap(u64),
    Conflict,
}

/// Feeds segments and acks to one reassembler and records what comes out.
struct Harness {
    r: Reassembler,
    stats: ReasmStats,
    evs: Vec<Ev>,
}

impl Harness {
    fn new(limits: ReasmLimits) -> Harness {
        Harness {
            r: Reassembler::new(limits),
            stats: ReasmStats::default(),
            evs: Vec::new(),
        }
    }

    fn big() -> Harness {
        Harness::new(ReasmLimits {
            max_bytes: 1 << 30,
            max_segments: 1 << 20,
        })
    }

    fn seg(&mut self, s: Segment<'_>) -> &mut Self {
        let evs = &mut self.evs;
        let mut emit = |d: Delivery<'_>| {
            evs.push(match d {
                Delivery::Data(b) => Ev::Data(b.to_vec()),
                Delivery::Gap(n) => Ev::Gap(n),
                Delivery::OverlapConflict => Ev::Conflict,
            });
            ControlFlow::Continue(())
        };
        let _ = self.r.segment(&s, &mut self.stats, &mut emit);
        self
    }

    fn data(&mut self, seq: u32, payload: &[u8]) -> &mut Self {
        self.seg(seg(seq, payload))
    }

    fn ack(&mut self, ack: u32) -> &mut Self {
        let evs = &mut self.evs;
        let mut emit = |d: Delivery<'_>| {
            evs.push(match d {
                Delivery::Data(b) => Ev::Data(b.to_vec()),
                Delivery::Gap(n) => Ev::Gap(n),
                Delivery::OverlapConflict => Ev::Conflict,
            });
            ControlFlow::Continue(())
        };
        let _ = self.r.ack(SeqNumber(ack), &mut self.stats, &mut emit);
        self
    }

    fn flush(&mut self) -> &mut Self {
        let evs = &mut self.evs;
        let mut emit = |d: Delivery<'_>| {
            evs.push(match d {
                Delivery::Data(b) => Ev::Data(b.to_vec()),
                Delivery::Gap(n) => Ev::Gap(n),
                Delivery::OverlapConflict => Ev::Conflict,
            });
            ControlFlow::Continue(())
        };
        let _ = self.r.flush(&mut self.stats, &mut emit);
        self
    }

    /// Delivered bytes, with gaps as `?` placeholders.
    fn text(&self) -> String {
        let mut out = String::new();
        for e in &self.evs {
            match e {
                Ev::Data(d) => out.push_str(&String::from_utf8_lossy(d)),
                Ev::Gap(n) => out.push_str(&"?".repeat(*n as usize)),
                Ev::Conflict => out.push('!'),
            }
        }
        out
    }
}

fn seg(seq: u32, payload: &[u8]) -> Segment<'_> {
    Segment {
        seq: SeqNumber(seq),
        syn: false,
        fin: false,
        payload,
        missing_tail: 0,
    }
}

fn syn(isn: u32) -> Segment<'static> {
    Segment {
        seq: SeqNumber(isn),
        syn: true,
        fin: false,
        payload: b"",
        missing_tail: 0,
    }
}

#[test]
fn in_order_data_is_delivered_at_once_without_copying() {
    let mut r = Reassembler::new(ReasmLimits::default());
    let mut stats = ReasmStats::default();
    let payload = b"GET / HTTP/1.1\r\n".to_vec();
    let mut seen: Vec<*const u8> = Vec::new();
    let mut emit = |d: Delivery<'_>| {
        if let Delivery::Data(b) = d {
            seen.push(b.as_ptr());
        }
        ControlFlow::Continue(())
    };
    let _ = r.segment(&syn(99), &mut stats, &mut emit);
    let _ = r.segment(&seg(100, &payload), &mut stats, &mut emit);
    assert_eq!(
        seen,
        vec![payload.as_ptr()],
        "the packet's own bytes are lent"
    );
    assert_eq!(r.buffered_segments(), 0);
    assert_eq!(r.next_seq(), Some(SeqNumber(100 + payload.len() as u32)));
}

#[test]
fn syn_anchors_the_stream_and_fast_open_data_is_delivered() {
    let mut h = Harness::big();
    h.seg(Segment {
        payload: b"hello",
        ..syn(1000)
    })
    .data(1006, b" world");
    assert_eq!(h.text(), "hello world");
    assert_eq!(h.stats.syn_data_bytes, 5);
    // A retransmitted SYN with the same data is old news.
    h.seg(Segment {
        payload: b"hello",
        ..syn(1000)
    });
    assert_eq!(h.text(), "hello world");
    assert_eq!(h.stats.retransmitted_bytes, 5);
}

#[test]
fn mid_stream_pickup_starts_at_the_first_data_not_at_a_pure_ack() {
    let mut h = Harness::big();
    h.data(500, b""); // pure ACK: no anchor
    assert!(!h.r.is_started());
    h.data(700, b"abc").data(703, b"def");
    assert_eq!(h.text(), "abcdef");
    // Bytes before the pickup point are not a gap: nothing says how many there were.
    h.data(690, b"0123456789");
    assert_eq!(h.text(), "abcdef");
    assert_eq!(h.stats.gaps, 0);
}

#[test]
fn out_of_order_segments_are_buffered_then_released_in_order() {
    let mut h = Harness::big();
    h.seg(syn(0)).data(7, b"ghi").data(4, b"def");
    assert_eq!(h.text(), "");
    assert_eq!(h.r.buffered_segments(), 2);
    assert_eq!(h.r.buffered_bytes(), 6);
    h.data(1, b"abc");
    assert_eq!(h.text(), "abcdefghi");
    assert_eq!(h.r.buffered_bytes(), 0);
}

#[test]
fn first_copy_wins_and_a_different_copy_is_a_conflict() {
    let mut h = Harness::big();
    h.seg(syn(0)).data(5, b"EFGH").data(5, b"efgh"); // buffered, then a different copy
    assert_eq!(h.evs, vec![Ev::Conflict]);
    h.data(1, b"abcdXY"); // in order, overlapping the kept "EF" with "XY"
    assert_eq!(h.text(), "!abcd!EFGH");
    assert_eq!(h.stats.overlap_conflicts, 2);
    // Identical overlap: no conflict, counted as retransmitted.
    let mut h = Harness::big();
    h.seg(syn(0)).data(3, b"cdef").data(1, b"abcd");
    assert_eq!(h.text(), "abcdef");
    assert_eq!(h.stats.overlap_conflicts, 0);
    assert_eq!(h.stats.retransmitted_bytes, 2);
}

#[test]
fn peer_ack_past_a_hole_declares_it_lost_at_once() {
    let mut h = Harness::big();
    h.seg(syn(0)).data(1, b"ab").data(6, b"fg");
    h.ack(3); // nothing missing yet
    assert_eq!(h.text(), "ab");
    h.ack(8); // the receiver has everything up to 8: "cde" will never be captured
    assert_eq!(h.text(), "ab???fg");
    assert_eq!(h.evs.get(1), Some(&Ev::Gap(3)));
    assert_eq!(h.stats.ack_gaps, 1);
    // Past the buffered data too.
    h.ack(10);
    assert_eq!(h.text(), "ab???fg??");
}

#[test]
fn ack_one_past_with_nothing_buffered_is_treated_as_a_fin_ack() {
    let mut h = Harness::big();
    h.seg(syn(0)).data(1, b"abc").ack(5);
    assert_eq!(
        h.text(),
        "abc",
        "ACK of an uncaptured FIN is not a 1-byte gap"
    );
    h.ack(6);
    assert_eq!(h.text(), "abc??");
}

#[test]
fn fin_bounds_the_stream_and_flush_reports_the_missing_tail() {
    let mut h = Harness::big();
    h.seg(syn(0)).data(1, b"abc").seg(Segment {
        fin: true,
        ..seg(8, b"hi")
    });
    assert!(h.r.fin_seen());
    assert!(!h.r.is_finished());
    h.data(10, b"after the fin");
    assert_eq!(h.stats.bytes_after_fin, 13);
    h.flush();
    assert_eq!(h.text(), "abc????hi");
    assert!(h.r.is_finished());
    // An ACK of the FIN (one past the data) is not a gap.
    let mut h = Harness::big();
    h.seg(syn(0)).seg(Segment {
        fin: true,
        ..seg(1, b"xy")
    });
    assert!(h.r.is_finished());
    h.ack(4);
    assert_eq!(h.text(), "xy");
}

#[test]
fn a_late_fin_trims_buffered_data_beyond_it() {
    let mut h = Harness::big();
    h.seg(syn(0)).data(5, b"efghij").seg(Segment {
        fin: true,
        ..seg(1, b"abcdefg")
    });
    assert_eq!(h.text(), "abcdefg");
    assert!(h.r.is_finished());
    assert_eq!(h.stats.bytes_after_fin, 3);
    assert_eq!(h.r.buffered_bytes(), 0);
}

#[test]
fn cap_overflow_gives_up_the_first_hole() {
    let mut h = Harness::new(ReasmLimits {
        max_bytes: 1024,
        max_segments: 2,
    });
    h.seg(syn(0)).data(1, b"a").data(3, b"c").data(5, b"e");
    assert_eq!(h.r.buffered_segments(), 2);
    h.data(7, b"g"); // a third chunk does not fit: the hole at 2 is given up
    assert_eq!(h.text(), "a?c");
    assert_eq!(h.stats.ooo_overflow, 1);
    assert_eq!(h.r.buffered_segments(), 2);
    h.flush();
    assert_eq!(h.text(), "a?c?e?g");

    // Byte cap: a segment bigger than the whole buffer skips straight to itself.
    let mut h = Harness::new(ReasmLimits {
        max_bytes: 4,
        max_segments: 100,
    });
    h.seg(syn(0)).data(1, b"a").data(4, b"defgh");
    assert_eq!(h.text(), "a??defgh");
}

#[test]
fn snaplen_cut_segments_become_gaps_in_order_and_out_of_order() {
    let mut h = Harness::big();
    h.seg(syn(0))
        .seg(Segment {
            missing_tail: 4,
            ..seg(1, b"ab")
        })
        .data(7, b"gh");
    assert_eq!(h.text(), "ab????gh");
    let mut h = Harness::big();
    h.seg(syn(0))
        .seg(Segment {
            missing_tail: 3,
            ..seg(4, b"de")
        })
        .data(9, b"ij");
    assert_eq!(h.text(), "");
    h.data(1, b"abc");
    assert_eq!(h.text(), "abcde???ij");
    assert_eq!(h.stats.snaplen_lost_bytes, 3);
    assert_eq!(h.stats.gap_bytes, 3);
}

#[test]
fn sequence_numbers_wrap() {
    let mut h = Harness::big();
    h.seg(syn(u32::MAX - 2))
        .data(1, b"defg") // crosses nothing, but arrives first: out of order
        .data(u32::MAX - 1, b"abc"); // MAX-1, MAX, 0
    assert_eq!(h.text(), "abcdefg");
    assert_eq!(h.r.next_seq(), Some(SeqNumber(5)));
}

#[test]
fn far_away_segments_are_out_of_window() {
    let mut h = Harness::big();
    h.seg(syn(0))
        .data(1 + (1 << 31) + 5, b"x")
        .data(1 + (1 << 30) + 1, b"y");
    assert_eq!(h.stats.out_of_window, 1, "2^30 + 1 ahead is too far");
    assert_eq!(
        h.stats.retransmitted_bytes, 1,
        "more than 2^31 ahead reads as old"
    );
    assert_eq!(h.r.buffered_segments(), 0);
    h.data(1, b"a");
    assert_eq!(h.text(), "a");
}

/// (ISN, stream, segment spans as byte ranges, duplicate picks).
type Case = (u32, Vec<u8>, Vec<(usize, usize)>, Vec<usize>);

/// A random stream cut into segments, some extended to overlap their successor with the same
/// bytes, shuffled, some duplicated; the sequence space starts near u32::MAX so it wraps.
fn segments_strategy() -> impl Strategy<Value = Case> {
    (
        0u32..4096,
        proptest::collection::vec(any::<u8>(), 0..2000),
        proptest::collection::vec(1usize..200, 1..40),
        proptest::collection::vec(0usize..100, 0..60),
        any::<u64>(),
    )
        .prop_map(|(below_max, stream, cuts, extra, shuffle_seed)| {
            let isn = u32::MAX - below_max;
            // Cut points.
            let mut spans = Vec::new();
            let mut at = 0;
            let mut i = 0;
            while at < stream.len() {
                let len = cuts[i % cuts.len()].min(stream.len() - at);
                // Every third segment overlaps the next by up to 7 identical bytes.
                let ext = if i % 3 == 0 { 7 } else { 0 };
                spans.push((at, (at + len + ext).min(stream.len())));
                at += len;
                i += 1;
            }
            // Duplicates.
            let n = spans.len();
            if n > 0 {
                for e in &extra {
                    spans.push(spans[e % n]);
                }
            }
            // Deterministic Fisher-Yates from the seed.
            let mut s = shuffle_seed | 1;
            let mut order: Vec<usize> = (0..spans.len()).collect();
            for k in (1..order.len()).rev() {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                order.swap(k, (s % (k as u64 + 1)) as usize);
            }
            let spans = order.into_iter().map(|k| spans[k]).collect();
            (isn, stream, spans, extra)
        })
}

fn feed(h: &mut Harness, isn: u32, stream: &[u8], spans: &[(usize, usize)]) {
    h.seg(syn(isn));
    for &(a, b) in spans {
        let seq = SeqNumber(isn) + 1 + a;
        h.seg(Segment {
            seq,
            syn: false,
            fin: b == stream.len(),
            payload: &stream[a..b],
            missing_tail: 0,
        });
    }
    // An empty stream still ends with a FIN.
    h.seg(Segment {
        fin: true,
        ..seg((SeqNumber(isn) + 1 + stream.len()).0, b"")
    });
}

/// Checks every delivered byte against the original at its offset; returns (data, gap) bytes.
fn account(h: &Harness, stream: &[u8]) -> (usize, u64) {
    let (mut at, mut data, mut gaps) = (0usize, 0usize, 0u64);
    for e in &h.evs {
        match e {
            Ev::Data(d) => {
                assert_eq!(&stream[at..at + d.len()], &d[..], "bytes at offset {at}");
                at += d.len();
                data += d.len();
            }
            Ev::Gap(n) => {
                at += *n as usize;
                gaps += n;
            }
            Ev::Conflict => panic!("identical copies never conflict"),
        }
    }
    (data, gaps)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn oracle_shuffled_duplicated_overlapping_segments_rebuild_the_stream(
        (isn, stream, spans, _) in segments_strategy()
    ) {
        let mut h = Harness::big();
        feed(&mut h, isn, &stream, &spans);
        let delivered: Vec<u8> = h.evs.iter().flat_map(|e| match e {
            Ev::Data(d) => d.clone(),
            other => panic!("unexpected {other:?}"),
        }).collect();
        prop_assert_eq!(&delivered, &stream);
        prop_assert!(h.r.is_finished());
        prop_assert_eq!(h.stats.gaps, 0);
        prop_assert_eq!(h.r.buffered_bytes(), 0);
        prop_assert_eq!(h.stats.delivered_bytes, stream.len() as u64);
    }

    #[test]
    fn oracle_with_drops_and_small_caps_accounts_for_every_byte(
        (isn, stream, spans, _) in segments_strategy(),
        drop_every in 2usize..6,
        max_segments in 1usize..8,
        max_bytes in 1usize..300,
    ) {
        let kept: Vec<_> = spans.iter().enumerate()
            .filter(|(i, _)| i % drop_every != 0)
            .map(|(_, s)| *s)
            .collect();
        let mut h = Harness::new(ReasmLimits { max_bytes, max_segments });
        feed(&mut h, isn, &stream, &kept);
        h.flush();
        let (data, gaps) = account(&h, &stream);
        prop_assert_eq!(data as u64 + gaps, stream.len() as u64);
        prop_assert!(h.r.is_finished());
        prop_assert!(h.r.buffered_segments() <= max_segments);
        prop_assert_eq!(h.stats.gap_bytes, gaps);
    }
}
