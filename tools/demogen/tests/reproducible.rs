//! The committed demo capture is exactly what the generator makes, and what it
//! makes is well-formed: pcap records walk to the end, IBANs pass mod-97,
//! card numbers pass Luhn.

use std::path::PathBuf;

use demogen::util::{iban_valid, luhn_valid};
use demogen::{expected_json, generate, Config, Stats};

fn demo_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/demo")
}

fn regenerate(cfg: &Config) -> (Vec<u8>, Stats) {
    let mut buf = Vec::new();
    let stats = generate(cfg, &mut buf).expect("generate in memory");
    (buf, stats)
}

/// Walks the pcap records; returns (records, timestamps are non-decreasing).
fn walk(pcap: &[u8]) -> u64 {
    assert!(pcap.len() >= 24, "no global header");
    assert_eq!(
        &pcap[0..4],
        &0xa1b2_c3d4u32.to_le_bytes(),
        "microsecond magic"
    );
    assert_eq!(u16::from_le_bytes([pcap[4], pcap[5]]), 2);
    assert_eq!(u16::from_le_bytes([pcap[6], pcap[7]]), 4);
    assert_eq!(
        u32::from_le_bytes(pcap[20..24].try_into().unwrap()),
        1,
        "LINKTYPE_ETHERNET"
    );
    let u32_at = |o: usize| u32::from_le_bytes(pcap[o..o + 4].try_into().unwrap());
    let mut off = 24;
    let mut n = 0;
    let mut last = 0u64;
    while off < pcap.len() {
        assert!(off + 16 <= pcap.len(), "truncated record header at {off}");
        let ts = u64::from(u32_at(off)) * 1_000_000 + u64::from(u32_at(off + 4));
        assert!(u32_at(off + 4) < 1_000_000, "usec out of range at {off}");
        let incl = u32_at(off + 8) as usize;
        let orig = u32_at(off + 12) as usize;
        assert_eq!(incl, orig, "no truncation expected");
        assert!((42..=1514).contains(&incl), "frame size {incl} at {off}");
        assert!(ts >= last, "timestamps go backwards at {off}");
        // Ethernet II carrying IPv4
        assert_eq!(&pcap[off + 16 + 12..off + 16 + 14], &[0x08, 0x00]);
        last = ts;
        off += 16 + incl;
        n += 1;
    }
    assert_eq!(
        off,
        pcap.len(),
        "records must end exactly at the end of the file"
    );
    n
}

#[test]
fn committed_capture_is_reproducible() {
    let path = demo_dir().join("openbanking.pcap");
    let committed = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let (fresh, stats) = regenerate(&Config::default());
    assert_eq!(
        fresh.len(),
        committed.len(),
        "capture length differs from the committed one"
    );
    if let Some(i) = fresh.iter().zip(&committed).position(|(a, b)| a != b) {
        panic!(
            "capture differs from {} at byte {i}; regenerate it (see fixtures/demo/README.md)",
            path.display()
        );
    }
    assert_eq!(stats.bytes, fresh.len() as u64);

    let exp_path = demo_dir().join("expected.json");
    let text = std::fs::read_to_string(&exp_path)
        .unwrap_or_else(|e| panic!("{}: {e}", exp_path.display()));
    let committed_exp: serde_json::Value =
        serde_json::from_str(&text).expect("expected.json parses");
    assert_eq!(
        committed_exp["http_exchanges"],
        serde_json::json!(stats.http_exchanges)
    );
    assert_eq!(
        committed_exp,
        expected_json(&Config::default(), &stats, "openbanking.pcap")
    );
}

#[test]
fn capture_is_well_formed() {
    let (pcap, stats) = regenerate(&Config::default());
    assert_eq!(walk(&pcap), stats.records);
    assert!(
        (2_000_000..=6_000_000).contains(&pcap.len()),
        "size {}",
        pcap.len()
    );
    assert!(
        (1_500..=3_000).contains(&stats.http_exchanges),
        "{}",
        stats.http_exchanges
    );
    assert!(stats.midstream_connections > 0 && stats.pipelined_connections > 0);
    assert!(stats.retransmitted_segments > 0 && stats.reordered_responses > 0);
}

/// All `needle<digits>` runs in `hay`, where the run is exactly `len` digits.
fn digit_runs_after<'a>(hay: &'a [u8], needle: &[u8], len: usize) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut i = 0;
    while i + needle.len() + len <= hay.len() {
        if &hay[i..i + needle.len()] == needle {
            let start = i + needle.len();
            let end = start
                + hay[start..]
                    .iter()
                    .take_while(|b| b.is_ascii_digit())
                    .count();
            if end - start == len {
                out.push(&hay[start..end]);
            }
            i = end.max(i + 1);
        } else {
            i += 1;
        }
    }
    out
}

#[test]
fn ibans_and_card_numbers_are_valid() {
    let (pcap, _) = regenerate(&Config::default());
    // GB IBANs of the synthetic bank: GBkk NBNK + 6-digit sort code + 8-digit account
    let mut ibans = 0;
    let mut i = 0;
    while i + 22 <= pcap.len() {
        let w = &pcap[i..i + 22];
        if &w[0..2] == b"GB"
            && &w[4..8] == b"NBNK"
            && w[2..4].iter().chain(&w[8..22]).all(u8::is_ascii_digit)
        {
            let s = std::str::from_utf8(w).unwrap();
            assert!(iban_valid(s), "IBAN {s} fails mod-97");
            ibans += 1;
            i += 22;
        } else {
            i += 1;
        }
    }
    assert!(ibans > 1_000, "only {ibans} IBANs seen");
    let pans = digit_runs_after(&pcap, b"\"CardNumber\":\"", 16);
    assert!(pans.len() > 50, "only {} card numbers seen", pans.len());
    for p in pans {
        let s = std::str::from_utf8(p).unwrap();
        assert!(luhn_valid(s), "card number {s} fails Luhn");
    }
}

#[test]
fn scale_repeats_the_pattern_with_fresh_traffic() {
    let cfg = Config {
        scale: 2,
        ..Config::default()
    };
    let (pcap, stats) = regenerate(&cfg);
    let (one, one_stats) = regenerate(&Config::default());
    assert_eq!(walk(&pcap), stats.records);
    assert_eq!(
        &pcap[..one.len()],
        &one[..],
        "round 1 of scale 2 is the scale-1 capture"
    );
    assert!(stats.http_exchanges > one_stats.http_exchanges * 3 / 2);
    let n = 1 << 20;
    assert_ne!(
        &pcap[one.len()..one.len() + n],
        &one[24..24 + n],
        "round 2 is fresh"
    );
}

#[test]
fn committed_openbanking_capture_is_exactly_what_the_profile_makes() {
    let path = demo_dir().join("../demo-openbanking/openbanking.pcap");
    let committed = std::fs::read(&path).expect("fixtures/demo-openbanking/openbanking.pcap");
    let mut buf = Vec::new();
    let stats = demogen::openbanking::generate(demogen::DEFAULT_SEED, &mut buf).expect("generate");
    assert_eq!(buf.len(), committed.len(), "length differs");
    assert!(
        buf == committed,
        "bytes differ: regenerate with --profile openbanking"
    );
    assert_eq!(walk(&buf), stats.records);
    // The planted problems, as fixtures/demo-openbanking/README.md lists them.
    let planted = |tag: &str| stats.planted.get(tag).copied().unwrap_or(0);
    assert_eq!(planted("role_mismatch"), 2);
    assert_eq!(planted("consent_foreign_use"), 1);
    assert_eq!(planted("volume_jump"), 40);
    assert_eq!(planted("new_consumer"), 3);
    assert_eq!(planted("token_bound_to_other_certificate"), 1);
}
