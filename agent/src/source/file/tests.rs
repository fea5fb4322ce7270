use super::*;
use crate::source::memory::read_all;
use crate::source::testutil::{eth_tcp4, PcapNgWriter, PcapWriter};
use flate2::write::GzEncoder;
use flate2::Compression;
use std::io::Write;

fn source(bytes: Vec<u8>) -> Result<FileSource, SourceError> {
    FileSource::from_reader("capture.pcap", Box::new(Cursor::new(bytes)))
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
    enc.write_all(bytes).expect("gzip into a Vec");
    enc.finish().expect("gzip into a Vec")
}

/// Gives out one byte per `read`, like a slow pipe.
struct Trickle(Cursor<Vec<u8>>);

impl Read for Trickle {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match buf.first_mut() {
            Some(b) => self.0.read(std::slice::from_mut(b)),
            None => Ok(0),
        }
    }
}

/// Yields its bytes, then fails with an I/O error.
struct FailAfter(Cursor<Vec<u8>>);

impl Read for FailAfter {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.0.read(buf)? {
            0 => Err(io::Error::new(
                io::ErrorKind::ConnectionReset,
                "disk on fire",
            )),
            n => Ok(n),
        }
    }
}

fn two_frame_pcap(nanos: bool, big_endian: bool) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let f1 = eth_tcp4(1234, 80, 1, b"GET / HTTP/1.1\r\n\r\n");
    let f2 = eth_tcp4(80, 1234, 9, b"HTTP/1.1 200 OK\r\n\r\n");
    let frac = if nanos { 123_456_789 } else { 123_456 };
    let mut w = PcapWriter::new(1, nanos, big_endian);
    w.record(1_700_000_000, frac, &f1, f1.len() as u32).record(
        1_700_000_001,
        0,
        &f2[..30],
        f2.len() as u32,
    );
    (w.bytes, f1, f2)
}

fn check_two_frames(src: &mut FileSource, f1: &[u8], f2: &[u8]) {
    let a = src.next_frame().expect("frame 1").expect("frame 1 present");
    assert_eq!(a.ts, Timestamp::from_secs_micros(1_700_000_000, 123_456));
    assert_eq!(a.link, LinkType::Ethernet);
    assert_eq!(a.data, f1);
    assert_eq!(a.wire_len as usize, f1.len());
    let b = src.next_frame().expect("frame 2").expect("frame 2 present");
    assert_eq!(b.ts, Timestamp::from_secs_micros(1_700_000_001, 0));
    assert_eq!(
        b.data,
        &f2[..30],
        "snaplen-cut record keeps its captured bytes"
    );
    assert_eq!(b.wire_len as usize, f2.len());
    assert!(src.next_frame().expect("clean end").is_none());
    assert!(src.next_frame().expect("still ended").is_none());
}

#[test]
fn legacy_pcap_little_endian_usec() {
    let (bytes, f1, f2) = two_frame_pcap(false, false);
    let len = bytes.len() as u64;
    let mut src = source(bytes).expect("opens");
    check_two_frames(&mut src, &f1, &f2);
    assert_eq!(src.bytes_consumed(), len);
    assert_eq!(src.name(), "capture.pcap");
}

#[test]
fn legacy_pcap_nsec_magic_rounds_down_to_micros() {
    let (bytes, f1, f2) = two_frame_pcap(true, false);
    check_two_frames(&mut source(bytes).expect("opens"), &f1, &f2);
}

#[test]
fn legacy_pcap_big_endian_usec_and_nsec() {
    for nanos in [false, true] {
        let (bytes, f1, f2) = two_frame_pcap(nanos, true);
        assert_eq!(bytes[..2], [0xa1, 0xb2], "big-endian magic on disk");
        check_two_frames(&mut source(bytes).expect("opens"), &f1, &f2);
    }
}

#[test]
fn short_reads_from_a_pipe_are_fine() {
    let (bytes, f1, f2) = two_frame_pcap(false, false);
    let mut src =
        FileSource::from_reader("pipe", Box::new(Trickle(Cursor::new(bytes)))).expect("opens");
    check_two_frames(&mut src, &f1, &f2);
}

#[test]
fn gzip_round_trip_including_multi_member() {
    let (bytes, f1, f2) = two_frame_pcap(false, false);
    let gz = gzip(&bytes);
    let gz_len = gz.len() as u64;
    let mut src = source(gz).expect("opens gzip");
    check_two_frames(&mut src, &f1, &f2);
    assert_eq!(
        src.bytes_consumed(),
        gz_len,
        "progress counts compressed bytes"
    );

    // `cat a.gz b.gz` is a valid gzip file: the second member continues the stream.
    let (head, tail) = bytes.split_at(50);
    let mut two = gzip(head);
    two.extend_from_slice(&gzip(tail));
    check_two_frames(&mut source(two).expect("opens"), &f1, &f2);
}

#[test]
fn truncated_final_record_yields_good_frames_then_names_the_offset() {
    let f1 = eth_tcp4(1234, 80, 1, b"hello");
    let f2 = eth_tcp4(1234, 80, 6, &[b'x'; 100]);
    let mut w = PcapWriter::new(1, false, false);
    w.record(10, 0, &f1, f1.len() as u32)
        .record(11, 0, &f2, f2.len() as u32);
    let mut bytes = w.bytes;
    bytes.truncate(bytes.len() - 60);
    let second_record_at = 24 + 16 + f1.len() as u64;

    let mut src = source(bytes).expect("opens");
    let first = src.next_frame().expect("first is fine").expect("present");
    assert_eq!(first.data, f1);
    let err = src.next_frame().expect_err("second is truncated");
    assert_eq!(err.offset, second_record_at);
    assert!(matches!(
        err.kind,
        SourceErrorKind::Truncated {
            what: "packet record",
            needed: 60
        }
    ));
    assert_eq!(
        err.to_string(),
        format!(
            "capture.pcap: byte offset {second_record_at}: truncated packet record (needs 60 more bytes)"
        )
    );
    assert!(src.next_frame().expect("finished").is_none());
}

#[test]
fn truncated_record_header_and_file_header() {
    let f1 = eth_tcp4(1, 2, 3, b"abc");
    let mut w = PcapWriter::new(1, false, false);
    w.record(1, 0, &f1, f1.len() as u32);
    let mut bytes = w.bytes;
    bytes.extend_from_slice(&[0; 10]); // 10 of a 16-byte record header
    let mut src = source(bytes).expect("opens");
    assert!(src.next_frame().expect("frame").is_some());
    let err = src.next_frame().expect_err("cut header");
    assert_eq!(err.offset, 24 + 16 + f1.len() as u64);
    assert!(matches!(
        err.kind,
        SourceErrorKind::Truncated { needed: 6, .. }
    ));

    let header_only = PcapWriter::new(1, false, false).bytes;
    let err = source(header_only[..20].to_vec()).expect_err("cut file header");
    assert!(matches!(
        err.kind,
        SourceErrorKind::Truncated {
            what: "file header",
            ..
        }
    ));
    let err = source(Vec::new()).expect_err("empty");
    assert!(matches!(
        err.kind,
        SourceErrorKind::Truncated { needed: 4, .. }
    ));
}

#[test]
fn garbage_input_is_not_a_capture() {
    let err = source(b"GET / HTTP/1.1\r\n".to_vec()).expect_err("not a capture");
    assert!(matches!(
        err.kind,
        SourceErrorKind::NotACapture {
            magic: [b'G', b'E', b'T', b' ']
        }
    ));
    assert_eq!(
        err.to_string(),
        "capture.pcap: byte offset 0: not a capture file: unknown magic 47 45 54 20"
    );
    let err = source(gzip(b"hello world")).expect_err("gzip of garbage");
    assert!(matches!(err.kind, SourceErrorKind::NotACapture { .. }));
    let err = source(gzip(&gzip(b"x"))).expect_err("gzip in gzip");
    assert!(matches!(err.kind, SourceErrorKind::UnsupportedFormat(_)));
}

#[test]
fn corrupt_gzip_is_an_io_error_after_the_good_frames() {
    let (bytes, _, _) = two_frame_pcap(false, false);
    let mut gz = gzip(&bytes);
    let n = gz.len();
    gz.truncate(n - 12); // lose the deflate tail and the trailer
    let mut src = source(gz).expect("header decompresses");
    let mut frames = 0;
    let err = loop {
        match src.next_frame() {
            Ok(Some(_)) => frames += 1,
            Ok(None) => panic!("a cut gzip stream must not look like a clean end"),
            Err(e) => break e,
        }
    };
    assert!(frames <= 2);
    assert!(
        matches!(
            err.kind,
            SourceErrorKind::Io(_) | SourceErrorKind::Truncated { .. }
        ),
        "{err}"
    );
}

#[test]
fn io_error_is_reported_with_its_cause() {
    let (bytes, _, _) = two_frame_pcap(false, false);
    let mut src =
        FileSource::from_reader("sock", Box::new(FailAfter(Cursor::new(bytes)))).expect("opens");
    assert!(src.next_frame().expect("frame 1").is_some());
    assert!(src.next_frame().expect("frame 2").is_some());
    let err = src.next_frame().expect_err("then the read error");
    match err.kind {
        SourceErrorKind::Io(e) => assert_eq!(e.kind(), io::ErrorKind::ConnectionReset),
        other => panic!("expected Io, got {other:?}"),
    }
}

#[test]
fn big_record_grows_the_buffer() {
    let big = vec![0x5a; 3 << 20];
    let mut w = PcapWriter::new(101, false, false);
    w.record(1, 0, &big, big.len() as u32)
        .record(2, 0, b"tail", 4);
    let mut src = source(w.bytes).expect("opens");
    let f = src.next_frame().expect("big frame").expect("present");
    assert_eq!(f.data.len(), big.len());
    assert!(f.data.iter().all(|&b| b == 0x5a));
    assert_eq!(
        src.next_frame().expect("tail").expect("present").data,
        b"tail"
    );
    assert!(src.next_frame().expect("end").is_none());
}

#[test]
fn record_beyond_the_cap_is_corrupt_and_names_its_offset() {
    let mut w = PcapWriter::new(1, false, false);
    w.record(1, 0, b"ok", 2);
    let mut bytes = w.bytes;
    let bad_at = bytes.len() as u64;
    // A record header claiming 32 MiB, followed by an endless stream of zeros.
    for v in [1u32, 0, 32 << 20, 32 << 20] {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    let reader = Cursor::new(bytes).chain(io::repeat(0));
    let mut src = FileSource::from_reader("huge", Box::new(reader)).expect("opens");
    assert!(src.next_frame().expect("first").is_some());
    let err = src.next_frame().expect_err("oversized record");
    assert_eq!(err.offset, bad_at);
    assert!(matches!(err.kind, SourceErrorKind::Corrupt(_)), "{err}");
}

#[test]
fn pcapng_two_interfaces_of_different_link_types() {
    let eth = eth_tcp4(1000, 80, 1, b"over ethernet");
    let raw = &eth[14..]; // the same IP packet without its Ethernet header
    let mut w = PcapNgWriter::new();
    // if0: Ethernet, microseconds (default). if1: raw IP, nanoseconds, offset +10 s.
    w.idb(1, None, None)
        .idb(101, Some(9), Some(10))
        .nrb()
        .epb(0, 1_700_000_000_250_000, &eth, eth.len() as u32)
        .epb(1, 1_700_000_000_999_999_999, raw, raw.len() as u32 + 5)
        .spb(&eth);
    let mut src = source(w.bytes).expect("opens pcapng");

    let a = src.next_frame().expect("epb 0").expect("present");
    assert_eq!(
        (a.link, a.ts),
        (
            LinkType::Ethernet,
            Timestamp::from_secs_micros(1_700_000_000, 250_000)
        )
    );
    assert_eq!(a.data, eth);
    let b = src.next_frame().expect("epb 1").expect("present");
    assert_eq!(b.link, LinkType::RawIp);
    assert_eq!(b.ts, Timestamp::from_secs_micros(1_700_000_010, 999_999));
    assert_eq!(b.data, raw);
    assert_eq!(b.wire_len as usize, raw.len() + 5);
    let b_ts = b.ts;
    let c = src.next_frame().expect("spb").expect("present");
    assert_eq!(c.link, LinkType::Ethernet, "SPB belongs to interface 0");
    assert_eq!(c.ts, b_ts, "SPB has no timestamp: the last one is reused");
    assert_eq!(c.data, eth);
    assert!(src.next_frame().expect("end").is_none());
}

#[test]
fn pcapng_power_of_two_resolution() {
    let mut w = PcapNgWriter::new();
    // 2^10 units per second: 1536 units = 1.5 s.
    w.idb(1, Some(0x80 | 10), None).epb(0, 1536, b"x", 1);
    let mut src = source(w.bytes).expect("opens");
    let f = src.next_frame().expect("epb").expect("present");
    assert_eq!(f.ts, Timestamp::from_secs_micros(1, 500_000));
}

#[test]
fn pcapng_new_section_resets_interfaces_and_unknown_interface_is_corrupt() {
    let mut w = PcapNgWriter::new();
    w.idb(1, None, None).idb(101, None, None).epb(1, 5, b"a", 1);
    w.shb().idb(1, None, None);
    let bad_at = w.bytes.len() as u64;
    w.epb(1, 6, b"b", 1);
    let mut src = source(w.bytes).expect("opens");
    let f = src.next_frame().expect("first section").expect("present");
    assert_eq!(f.link, LinkType::RawIp);
    let err = src
        .next_frame()
        .expect_err("interface 1 is gone in section 2");
    assert_eq!(err.offset, bad_at);
    assert!(
        err.to_string()
            .contains("names interface 1 but the section declares 1"),
        "{err}"
    );
}

#[test]
fn pcapng_truncated_block() {
    let mut w = PcapNgWriter::new();
    w.idb(1, None, None).epb(0, 1, b"good", 4);
    let bad_at = w.bytes.len() as u64;
    w.epb(0, 2, &[7; 40], 40);
    let mut bytes = w.bytes;
    bytes.truncate(bytes.len() - 20);
    let mut src = source(bytes).expect("opens");
    assert!(src.next_frame().expect("good").is_some());
    let err = src.next_frame().expect_err("truncated");
    assert_eq!(err.offset, bad_at);
    assert!(matches!(
        err.kind,
        SourceErrorKind::Truncated {
            what: "block",
            needed: 20
        }
    ));
}

#[test]
fn hostile_bytes_after_a_valid_header_never_panic() {
    // Deterministic pseudo-random tails after each kind of header.
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    for round in 0..200 {
        let mut bytes = if round % 2 == 0 {
            PcapWriter::new(1, false, false).bytes
        } else {
            PcapNgWriter::new().bytes
        };
        for _ in 0..(round * 7 % 300) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            bytes.push(state as u8);
        }
        if let Ok(mut src) = source(bytes) {
            let mut n = 0;
            while let Ok(Some(_)) = src.next_frame() {
                n += 1;
                assert!(n < 10_000);
            }
        }
    }
}

#[test]
fn corpus_http_ipv6_pcap() {
    let path = Path::new("/work/shared/corpus/suricata-verify/http-ipv6/input.pcap");
    if !path.exists() {
        println!("SKIP corpus_http_ipv6_pcap: {} not present", path.display());
        return;
    }
    let mut src = FileSource::open(path).expect("corpus file opens");
    let frames = read_all(&mut src).expect("corpus file reads cleanly");
    assert!(frames.len() >= 10, "got {} frames", frames.len());
    assert!(frames.iter().all(|f| f.link == LinkType::Null));
    // 2021-07-21, from the first record header.
    assert_eq!(frames[0].ts.micros() / 1_000_000, 0x60f8_0bce);
    assert!(frames.windows(2).all(|w| w[0].ts <= w[1].ts));
    assert_eq!(
        src.bytes_consumed(),
        std::fs::metadata(path).expect("stat").len()
    );
}

#[test]
fn corpus_every_suricata_verify_pcap_reads_without_panicking() {
    let dir = Path::new("/work/shared/corpus/suricata-verify");
    let Ok(entries) = std::fs::read_dir(dir) else {
        println!("SKIP corpus scan: {} not present", dir.display());
        return;
    };
    let mut files = 0;
    let mut frames = 0;
    for entry in entries.flatten() {
        let Ok(inner) = std::fs::read_dir(entry.path()) else {
            continue;
        };
        for f in inner.flatten() {
            let p = f.path();
            if !p.extension().is_some_and(|e| e == "pcap" || e == "pcapng") {
                continue;
            }
            files += 1;
            let mut src = FileSource::open(&p).expect("corpus files are captures");
            match read_all(&mut src) {
                Ok(v) => frames += v.len(),
                Err(e) => println!("corpus file with an error (allowed): {e}"),
            }
        }
    }
    println!("read {frames} frames from {files} corpus captures");
    assert!(files > 0 && frames > 0);
}
