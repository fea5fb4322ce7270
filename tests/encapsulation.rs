//! Mirror encapsulations: the demo capture's frames wrapped the way span sessions and overlay
//! networks deliver them (802.1Q, QinQ, MPLS, VXLAN, GRE, ERSPAN II and III, nested) must give
//! exactly the inventory of the plain capture, and the decode counters must show the layers.
//!
//! Wrappers are built by hand here (checksums are left zero: shadowtap never validates them,
//! as mirror ports and offloading NICs produce wrong ones on good traffic).

mod frames_support;

use agent::analysis::AnalysisSink;
use agent::pipeline::{Pipeline, PipelineConfig, PipelineStats};
use agent::source::memory::{MemorySource, OwnedFrame};
use agent::source::LinkType;
use analyzer::catalogue::Catalogue;
use analyzer::classify::Classifier;
use analyzer::consumer::ConsumerConfig;
use analyzer::inventory::{Inventory, InventoryLimits};
use analyzer::observe::Observer;
use analyzer::template::Templater;
use frames_support::{demo_frames, fragment_all, outer_ipv4, vxlan, wrap};

fn scan(frames: Vec<OwnedFrame>) -> (Inventory, PipelineStats) {
    let catalogue = Catalogue::default();
    let observer = Observer::new(
        Templater::new(catalogue.routes()),
        Classifier::builtin(),
        ConsumerConfig::new(b"encapsulation", false),
    );
    let sink = AnalysisSink::new(&observer, InventoryLimits::default());
    let mut pipeline = Pipeline::new(PipelineConfig::default(), sink);
    pipeline
        .run(&mut MemorySource::new(frames), &mut |_| {})
        .expect("memory source");
    let (sink, stats) = pipeline.finish();
    (sink.into_inventory(), stats)
}

/// GRE with the sequence bit (ERSPAN type II), protocol 0x88BE, 8-byte ERSPAN II header.
fn erspan2(inner: &[u8], seq: u32) -> Vec<u8> {
    let mut g = vec![0x10, 0x00, 0x88, 0xbe];
    g.extend_from_slice(&seq.to_be_bytes());
    g.extend_from_slice(&[0x10, 0x01, 0x00, 0x07, 0, 0, 0, 0]);
    g.extend_from_slice(inner);
    outer_ipv4(47, &g)
}

/// GRE protocol 0x22EB, 12-byte ERSPAN III header with the O flag and its 8-byte subheader.
fn erspan3(inner: &[u8]) -> Vec<u8> {
    let mut g = vec![0x00, 0x00, 0x22, 0xeb];
    g.extend_from_slice(&[0x20, 0x01, 0x00, 0x07, 0, 0, 0, 1, 0, 0, 0, 0x01]);
    g.extend_from_slice(&[0; 8]);
    g.extend_from_slice(inner);
    outer_ipv4(47, &g)
}

/// Insert tags with these TPIDs after the MAC addresses (802.1Q 0x8100, 802.1ad 0x88a8).
fn tagged(frame: &[u8], tpids: &[u16]) -> Vec<u8> {
    let mut f = frame.get(..12).expect("ethernet").to_vec();
    for (i, tpid) in tpids.iter().enumerate() {
        f.extend_from_slice(&tpid.to_be_bytes());
        f.extend_from_slice(&(100 + i as u16).to_be_bytes());
    }
    f.extend_from_slice(frame.get(12..).expect("ethernet"));
    f
}

/// Ethernet carrying an MPLS stack of two labels over the frame's IP packet.
fn mpls(frame: &[u8]) -> Vec<u8> {
    let mut f = frame.get(..12).expect("ethernet").to_vec();
    f.extend_from_slice(&[0x88, 0x47]);
    f.extend_from_slice(&[0x00, 0x01, 0x00, 0x40]); // label 16, not bottom of stack
    f.extend_from_slice(&[0x00, 0x02, 0x01, 0x40]); // label 32, bottom of stack
    f.extend_from_slice(frame.get(14..).expect("ip"));
    f
}

fn counter(stats: &PipelineStats, name: &str) -> u64 {
    stats.counters.get(name).copied().unwrap_or(0)
}

#[test]
fn encapsulated_demo_gives_the_plain_inventory() {
    let frames = demo_frames();
    let n = frames.len() as u64;
    let (plain, plain_stats) = scan(frames.clone());
    assert!(plain.exchanges() > 0, "the demo capture has exchanges");
    let cases: Vec<(&str, Vec<OwnedFrame>, &[&str])> = vec![
        (
            "802.1Q",
            wrap(&frames, |d, _| tagged(d, &[0x8100])),
            &["decode.decode_encap_vlan"],
        ),
        (
            "QinQ",
            wrap(&frames, |d, _| tagged(d, &[0x88a8, 0x8100])),
            &["decode.decode_encap_vlan"],
        ),
        (
            "MPLS",
            wrap(&frames, |d, _| mpls(d)),
            &["decode.decode_encap_mpls"],
        ),
        (
            "VXLAN",
            wrap(&frames, |d, _| vxlan(d)),
            &["decode.decode_tunnel_vxlan"],
        ),
        (
            "ERSPAN II",
            wrap(&frames, erspan2),
            &["decode.decode_tunnel_gre", "decode.decode_tunnel_erspan"],
        ),
        (
            "ERSPAN III",
            wrap(&frames, |d, _| erspan3(d)),
            &["decode.decode_tunnel_erspan"],
        ),
        (
            "VXLAN in ERSPAN II over 802.1Q",
            wrap(&frames, |d, s| {
                tagged(&erspan2(&vxlan(&tagged(d, &[0x8100])), s), &[0x8100])
            }),
            &["decode.decode_tunnel_vxlan", "decode.decode_tunnel_erspan"],
        ),
    ];
    for (name, wrapped, layers) in cases {
        let (inv, stats) = scan(wrapped);
        assert_eq!(
            inv, plain,
            "{name}: inventory differs from the plain capture"
        );
        assert_eq!(stats.http_exchanges, plain_stats.http_exchanges, "{name}");
        for layer in layers {
            assert!(counter(&stats, layer) >= n, "{name}: {layer} not counted");
        }
        assert_eq!(counter(&stats, "decode.decode_tunnel_errors"), 0, "{name}");
    }
}

#[test]
fn nesting_deeper_than_the_cap_is_counted_and_dropped() {
    let frames = demo_frames();
    let first = frames.first().expect("a frame").clone();
    // 20 VLAN tags: more layers than MAX_ENCAP_DEPTH.
    let deep = tagged(&first.data, &[0x8100; 20]);
    let (_, stats) = scan(vec![OwnedFrame::new(first.ts, LinkType::Ethernet, deep)]);
    assert_eq!(counter(&stats, "decode.decode_encap_depth_exceeded"), 1);
    assert_eq!(counter(&stats, "decode.decode_decoded"), 0);
}

#[test]
fn truncated_tunnel_headers_are_errors_not_panics() {
    let frames = demo_frames();
    let first = frames.first().expect("a frame").clone();
    let mut broken = Vec::new();
    // Cut inside the tunnel headers: after outer Ethernet (14) + IPv4 (20), the GRE + ERSPAN
    // headers, or after the UDP header (8) the VXLAN header (its flag byte kept).
    let kinds = [
        (erspan2(&first.data, 1), 34..50),
        (erspan3(&first.data), 34..58),
        (vxlan(&first.data), 43..50),
    ];
    for (wrapped, cuts) in kinds {
        for cut in cuts {
            let mut d = wrapped.get(..cut).expect("long enough").to_vec();
            // Keep the IPv4 total length consistent with the cut so it is not a snaplen case.
            let total = u16::try_from(cut - 14).expect("fits").to_be_bytes();
            d[16] = total[0];
            d[17] = total[1];
            broken.push(OwnedFrame::new(first.ts, LinkType::Ethernet, d));
        }
    }
    let count = broken.len() as u64;
    let (_, stats) = scan(broken);
    assert_eq!(counter(&stats, "decode.decode_decoded"), 0);
    assert_eq!(counter(&stats, "decode.decode_tunnel_errors"), count);
    assert_eq!(counter(&stats, "decode.decode_frames"), count);
}

#[test]
fn fragmented_demo_gives_the_plain_inventory() {
    let frames = demo_frames();
    let (plain, plain_stats) = scan(frames.clone());
    let cases = [
        ("IPv4 fragments", fragment_all(&frames, 256)),
        (
            "fragmented VXLAN",
            fragment_all(&wrap(&frames, |d, _| vxlan(d)), 512),
        ),
    ];
    for (name, fragmented) in cases {
        assert!(fragmented.len() > frames.len(), "{name}: something was cut");
        let (inv, stats) = scan(fragmented);
        assert_eq!(
            inv, plain,
            "{name}: inventory differs from the plain capture"
        );
        assert_eq!(stats.http_exchanges, plain_stats.http_exchanges, "{name}");
        assert!(
            counter(&stats, "decode.decode_defrag_reassembled") > 0,
            "{name}"
        );
        for lost in [
            "decode.decode_defrag_expired",
            "decode.decode_defrag_evicted",
            "decode.decode_defrag_too_large",
            "decode.decode_defrag_truncated",
            "decode.decode_defrag_overlaps",
        ] {
            assert_eq!(counter(&stats, lost), 0, "{name}: {lost}");
        }
        assert_eq!(
            counter(&stats, "decode.decode_defrag_held_bytes"),
            0,
            "{name}"
        );
    }
}
