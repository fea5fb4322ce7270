//! RFC 7541 Appendix C examples, bounds, mid-stream pickup and hostile blocks.

use super::*;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

fn decode_all(d: &mut Decoder, block: &[u8]) -> Result<Vec<(String, String)>, HpackError> {
    let mut out = Vec::new();
    d.decode(block, &mut |n, v| {
        out.push((
            String::from_utf8_lossy(n).into_owned(),
            String::from_utf8_lossy(v).into_owned(),
        ))
    })?;
    Ok(out)
}

fn fields(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

include!("rfc_vectors.rs");

fn blocks(example: &str) -> Vec<Vec<u8>> {
    RFC_BLOCKS
        .iter()
        .find(|(k, _)| *k == example)
        .map(|(_, b)| b.iter().map(|s| hex(s)).collect())
        .unwrap()
}

#[test]
fn c2_single_representations() {
    let mut d = Decoder::new(HpackLimits::default());
    let got = decode_all(&mut d, &blocks("C.2.1")[0]).unwrap();
    assert_eq!(got, fields(&[("custom-key", "custom-header")]));
    assert_eq!(d.table_size(), 55);
    for (ex, want) in [
        ("C.2.2", (":path", "/sample/path")),
        ("C.2.3", ("password", "secret")),
        ("C.2.4", (":method", "GET")),
    ] {
        let mut d = Decoder::new(HpackLimits::default());
        assert_eq!(decode_all(&mut d, &blocks(ex)[0]).unwrap(), fields(&[want]));
        assert_eq!(d.table_size(), 0, "{ex} does not index");
    }
}

fn requests() -> [Vec<(String, String)>; 3] {
    let first = [
        (":method", "GET"),
        (":scheme", "http"),
        (":path", "/"),
        (":authority", "www.example.com"),
    ];
    let mut second = first.to_vec();
    second.push(("cache-control", "no-cache"));
    [
        fields(&first),
        fields(&second),
        fields(&[
            (":method", "GET"),
            (":scheme", "https"),
            (":path", "/index.html"),
            (":authority", "www.example.com"),
            ("custom-key", "custom-value"),
        ]),
    ]
}

#[test]
fn c3_c4_requests_plain_and_huffman() {
    for ex in ["C.3", "C.4"] {
        let mut d = Decoder::new(HpackLimits::default());
        for ((block, want), size) in blocks(ex).iter().zip(requests()).zip([57, 110, 164]) {
            assert_eq!(decode_all(&mut d, block).unwrap(), want, "{ex}");
            assert_eq!(d.table_size(), size, "{ex}");
        }
    }
    let mut d = Decoder::new(HpackLimits::default());
    for b in blocks("C.4") {
        decode_all(&mut d, &b).unwrap();
    }
    assert!(d.stats.huffman_strings >= 4);
}

#[test]
fn c5_c6_responses_with_eviction() {
    let date1 = "Mon, 21 Oct 2013 20:13:21 GMT";
    let loc = "https://www.example.com";
    let want = [
        fields(&[
            (":status", "302"),
            ("cache-control", "private"),
            ("date", date1),
            ("location", loc),
        ]),
        fields(&[
            (":status", "307"),
            ("cache-control", "private"),
            ("date", date1),
            ("location", loc),
        ]),
        fields(&[
            (":status", "200"),
            ("cache-control", "private"),
            ("date", "Mon, 21 Oct 2013 20:13:22 GMT"),
            ("location", loc),
            ("content-encoding", "gzip"),
            (
                "set-cookie",
                "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1",
            ),
        ]),
    ];
    for ex in ["C.5", "C.6"] {
        // The examples run with a 256-byte table; a size update block sets it.
        let mut d = Decoder::new(HpackLimits::default());
        decode_all(&mut d, &[0x3f, 0xe1, 0x01]).unwrap();
        for ((block, want), size) in blocks(ex).iter().zip(want.clone()).zip([222, 222, 215]) {
            assert_eq!(decode_all(&mut d, block).unwrap(), want, "{ex}");
            assert_eq!(d.table_size(), size, "{ex}");
        }
        assert!(d.stats.evictions >= 4, "{ex}: {:?}", d.stats);
    }
}

#[test]
fn integers_at_the_limits() {
    // C.1.2: 1337 with a 5-bit prefix.
    let mut pos = 0;
    assert_eq!(read_int(&[0x1f, 0x9a, 0x0a], &mut pos, 5), Ok(1337));
    assert_eq!(pos, 3);
    let mut pos = 0;
    assert_eq!(
        read_int(&[0x1f, 0xff, 0xff, 0xff, 0xff, 0x0f], &mut pos, 5),
        Err(HpackError::IntegerOverflow { offset: 0 })
    );
    let mut pos = 0;
    assert_eq!(
        read_int(&[0x1f, 0xff], &mut pos, 5),
        Err(HpackError::Truncated { offset: 0 })
    );
}

#[test]
fn table_size_update_bounds() {
    let limits = HpackLimits {
        max_table_size: 1000,
        ..HpackLimits::default()
    };
    // 1001 = 31 + 970: 0x3f, 970 = 0xca 0x07.
    let mut d = Decoder::new(limits.clone());
    assert_eq!(
        decode_all(&mut d, &[0x3f, 0xca, 0x07]),
        Err(HpackError::TableSizeBeyondCap {
            offset: 0,
            size: 1001
        })
    );
    assert!(d.is_desynced());
    assert_eq!(decode_all(&mut d, &[0x82]), Err(HpackError::Desynced));
    assert_eq!(d.stats.blocks_after_desync, 1);

    // A size update after a field is an error (section 4.2).
    let mut d = Decoder::new(limits.clone());
    assert_eq!(
        decode_all(&mut d, &[0x82, 0x20]),
        Err(HpackError::LateTableSizeUpdate { offset: 1 })
    );

    // Shrinking to zero empties the table.
    let mut d = Decoder::new(limits);
    decode_all(&mut d, &blocks("C.3")[0]).unwrap();
    assert_eq!(d.table_size(), 57);
    decode_all(&mut d, &[0x20, 0x82]).unwrap();
    assert_eq!(d.table_size(), 0);
    assert_eq!(d.stats.table_size_updates, 1);
}

#[test]
fn header_list_cap_stops_fields_but_keeps_the_table() {
    let mut d = Decoder::new(HpackLimits {
        max_header_list: 80,
        ..HpackLimits::default()
    });
    // C.3.1: :method GET (42), :scheme http (43) would pass 80.
    let got = decode_all(&mut d, &blocks("C.3")[0]).unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(d.stats.header_list_capped, 1);
    // The indexed :authority was still inserted: the next block refers to it.
    assert_eq!(d.table_size(), 57);
    let mut d2 = Decoder::new(HpackLimits::default());
    decode_all(&mut d2, &blocks("C.3")[0]).unwrap();
    let want = decode_all(&mut d2, &[0xbe]).unwrap();
    assert_eq!(decode_all(&mut d, &[0xbe]).unwrap(), want);
}

#[test]
fn long_strings_are_skipped_and_sized() {
    let mut d = Decoder::new(HpackLimits {
        max_string: 8,
        ..HpackLimits::default()
    });
    // custom-key (10 bytes) is beyond the cap: the field is not handed on, but the entry
    // still takes its place in the table.
    let got = decode_all(&mut d, &blocks("C.2.1")[0]).unwrap();
    assert!(got.is_empty());
    assert_eq!(d.stats.strings_too_long, 2);
    assert_eq!(d.table_size(), 55);
}

#[test]
fn mid_stream_decoder_knows_only_what_it_saw() {
    let mut d = Decoder::mid_stream(HpackLimits::default());
    // Static entries and literals decode.
    assert_eq!(
        decode_all(&mut d, &blocks("C.3")[0]).unwrap(),
        requests()[0]
    );
    // 0xbe is the entry just inserted: known.
    assert_eq!(
        decode_all(&mut d, &[0xbe]).unwrap(),
        fields(&[(":authority", "www.example.com")])
    );
    // 0xbf: an entry from before capture; the fields around it still decode.
    let mut out = Vec::new();
    let o = d
        .decode(&[0x82, 0xbf, 0x84], &mut |n, v| {
            out.push((n.to_vec(), v.to_vec()))
        })
        .unwrap();
    assert_eq!(o.unknown, 1);
    assert_eq!(out.len(), 2);
    assert_eq!(d.stats.unknown_dynamic_refs, 1);
    // A literal named by an unknown entry is inserted with an unknown name: a later
    // reference to it is unknown as well, and the known entry behind it moves to 0xbf.
    let o = d.decode(&[0x7f, 0x02, 0x01, b'x'], &mut |_, _| {}).unwrap();
    assert_eq!(o.unknown, 1);
    let o = d.decode(&[0xbe], &mut |_, _| {}).unwrap();
    assert_eq!(o.unknown, 1);
    assert_eq!(
        decode_all(&mut d, &[0xbf]).unwrap(),
        fields(&[(":authority", "www.example.com")])
    );
    assert!(!d.is_desynced());
    // From the start, the same reference is a plain error.
    let mut d = Decoder::new(HpackLimits::default());
    assert!(matches!(
        decode_all(&mut d, &[0xbf]),
        Err(HpackError::BadIndex { index: 63, .. })
    ));
}

#[test]
fn hostile_blocks_never_panic_and_stay_bounded() {
    let limits = HpackLimits {
        max_table_size: 512,
        max_string: 64,
        max_header_list: 256,
    };
    // Every prefix of every RFC block, and every single-byte mutation of them.
    for (_, list) in RFC_BLOCKS {
        for b in list.iter().map(|s| hex(s)) {
            for cut in 0..=b.len() {
                let _ = decode_all(&mut Decoder::new(limits.clone()), &b[..cut]);
            }
            for i in 0..b.len() {
                for x in [0x00, 0x7f, 0x80, 0xff] {
                    let mut m = b.clone();
                    m[i] ^= x;
                    let mut d = Decoder::new(limits.clone());
                    let _ = decode_all(&mut d, &m);
                    assert!(d.table_size() <= 512);
                }
            }
        }
    }
    // A pseudo-random byte soup through one decoder.
    let mut d = Decoder::new(limits);
    let mut x: u32 = 0x1234_5678;
    for _ in 0..2000 {
        let block: Vec<u8> = (0..64)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        let _ = decode_all(&mut d, &block);
        assert!(d.table_size() <= 512);
    }
    // Many indexed insertions evict to stay within the table.
    let mut d = Decoder::new(HpackLimits {
        max_table_size: 512,
        ..HpackLimits::default()
    });
    let mut block = vec![0x3f, 0xe1, 0x03]; // size update to 512
    for i in 0..100u8 {
        block.extend_from_slice(&[0x40, 0x01, b'a' + (i % 26), 0x01, i]);
    }
    let got = decode_all(&mut d, &block).unwrap();
    assert_eq!(got.len(), 100);
    assert!(d.table_size() <= 512);
    assert!(d.stats.evictions > 80);
}
