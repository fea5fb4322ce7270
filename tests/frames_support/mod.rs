//! Frames for tests: the demo capture's frames, and ways to wrap or cut them as mirror
//! feeds deliver them (VXLAN, IPv4 fragments).
#![allow(dead_code)]

use agent::source::file::FileSource;
use agent::source::memory::{read_all, OwnedFrame};
use agent::source::LinkType;
use std::path::PathBuf;

pub fn demo_frames() -> Vec<OwnedFrame> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo/openbanking.pcap");
    let mut source = FileSource::open(&path).expect("open demo capture");
    let frames = read_all(&mut source).expect("read demo capture");
    assert!(frames.iter().all(|f| f.link == LinkType::Ethernet));
    frames
}

pub const OUTER_MACS: [u8; 12] = [2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];

/// Outer Ethernet + IPv4 (10.99.0.1 -> 10.99.0.2) with `proto`, carrying `payload`.
pub fn outer_ipv4(proto: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = OUTER_MACS.to_vec();
    f.extend_from_slice(&[0x08, 0x00]);
    let total = u16::try_from(20 + payload.len()).expect("fits");
    f.extend_from_slice(&[0x45, 0]);
    f.extend_from_slice(&total.to_be_bytes());
    f.extend_from_slice(&[0, 0, 0x40, 0, 64, proto, 0, 0]);
    f.extend_from_slice(&[10, 99, 0, 1, 10, 99, 0, 2]);
    f.extend_from_slice(payload);
    f
}

/// RFC 7348: UDP to 4789, 8-byte VXLAN header with the I flag and VNI 42.
pub fn vxlan(inner: &[u8]) -> Vec<u8> {
    let mut udp = Vec::new();
    let len = u16::try_from(8 + 8 + inner.len()).expect("fits");
    udp.extend_from_slice(&49152u16.to_be_bytes());
    udp.extend_from_slice(&4789u16.to_be_bytes());
    udp.extend_from_slice(&len.to_be_bytes());
    udp.extend_from_slice(&[0, 0]);
    udp.extend_from_slice(&[0x08, 0, 0, 0, 0, 0, 42, 0]);
    udp.extend_from_slice(inner);
    outer_ipv4(17, &udp)
}

/// Cut the IPv4 packet of an Ethernet frame into fragments of at most `size` payload bytes
/// (a multiple of 8, RFC 791 section 3.2), returned last fragment first. Frames that are not
/// plain Ethernet + IPv4, or are small enough, come back as they are.
pub fn fragment(frame: &[u8], size: usize, id: u16) -> Vec<Vec<u8>> {
    let is_v4 = frame.get(12..14) == Some(&[0x08, 0x00][..]);
    let ihl = frame.get(14).map_or(0, |b| usize::from(b & 0x0f) * 4);
    let total = frame
        .get(16..18)
        .map_or(0, |b| usize::from(u16::from_be_bytes([b[0], b[1]])));
    if !is_v4 || ihl < 20 || total <= ihl + size || frame.len() < 14 + total {
        return vec![frame.to_vec()];
    }
    let header = &frame[..14 + ihl];
    let payload = &frame[14 + ihl..14 + total];
    let mut out: Vec<Vec<u8>> = payload
        .chunks(size)
        .enumerate()
        .map(|(i, chunk)| {
            let mut f = header.to_vec();
            let len = u16::try_from(ihl + chunk.len()).expect("fits");
            f[16..18].copy_from_slice(&len.to_be_bytes());
            f[18..20].copy_from_slice(&id.to_be_bytes());
            let last = (i + 1) * size >= payload.len();
            let word = u16::try_from(i * size / 8).expect("fits") | if last { 0 } else { 0x2000 };
            f[20..22].copy_from_slice(&word.to_be_bytes());
            f.extend_from_slice(chunk);
            f
        })
        .collect();
    out.reverse();
    out
}

pub fn fragment_all(frames: &[OwnedFrame], size: usize) -> Vec<OwnedFrame> {
    frames
        .iter()
        .enumerate()
        .flat_map(|(i, fr)| {
            let id = u16::try_from(i % 65_536).expect("fits");
            fragment(&fr.data, size, id)
                .into_iter()
                .map(|d| OwnedFrame::new(fr.ts, LinkType::Ethernet, d))
        })
        .collect()
}

pub fn wrap(frames: &[OwnedFrame], f: impl Fn(&[u8], u32) -> Vec<u8>) -> Vec<OwnedFrame> {
    frames
        .iter()
        .enumerate()
        .map(|(i, fr)| {
            let seq = u32::try_from(i).expect("fits");
            OwnedFrame::new(fr.ts, LinkType::Ethernet, f(&fr.data, seq))
        })
        .collect()
}

/// One TCP segment as an Ethernet/IPv4 frame (checksums left zero: never validated).
fn segment(
    src: ([u8; 4], u16),
    dst: ([u8; 4], u16),
    seq: u32,
    ack: u32,
    flags: u8,
    payload: &[u8],
) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
    let total = u16::try_from(40 + payload.len()).expect("fits");
    f.extend_from_slice(&[0x45, 0]);
    f.extend_from_slice(&total.to_be_bytes());
    f.extend_from_slice(&[0, 1, 0x40, 0, 64, 6, 0, 0]);
    f.extend_from_slice(&src.0);
    f.extend_from_slice(&dst.0);
    f.extend_from_slice(&src.1.to_be_bytes());
    f.extend_from_slice(&dst.1.to_be_bytes());
    f.extend_from_slice(&seq.to_be_bytes());
    f.extend_from_slice(&ack.to_be_bytes());
    f.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    f.extend_from_slice(payload);
    f
}

/// A whole keep-alive HTTP connection as frames: handshake, each (request, response) in
/// segments of at most 1448 bytes with ACKs, then FIN both ways. Packet time starts at
/// `t0_micros` and advances 100 µs per frame.
pub fn http_connection(
    client: ([u8; 4], u16),
    server: ([u8; 4], u16),
    exchanges: &[(Vec<u8>, Vec<u8>)],
    t0_micros: i64,
) -> Vec<OwnedFrame> {
    const SYN: u8 = 0x02;
    const SYN_ACK: u8 = 0x12;
    const ACK: u8 = 0x10;
    const PSH_ACK: u8 = 0x18;
    const FIN_ACK: u8 = 0x11;
    let mut frames = Vec::new();
    let mut t = t0_micros;
    let mut push = |data: Vec<u8>| {
        t += 100;
        frames.push(OwnedFrame::new(
            analyzer::time::Timestamp(t),
            LinkType::Ethernet,
            data,
        ));
    };
    let (mut cseq, mut sseq) = (1_000u32, 50_000u32);
    push(segment(client, server, cseq, 0, SYN, b""));
    push(segment(server, client, sseq, cseq + 1, SYN_ACK, b""));
    cseq += 1;
    sseq += 1;
    push(segment(client, server, cseq, sseq, ACK, b""));
    for (request, response) in exchanges {
        for chunk in request.chunks(1448) {
            push(segment(client, server, cseq, sseq, PSH_ACK, chunk));
            cseq = cseq.wrapping_add(chunk.len() as u32);
        }
        push(segment(server, client, sseq, cseq, ACK, b""));
        for chunk in response.chunks(1448) {
            push(segment(server, client, sseq, cseq, PSH_ACK, chunk));
            sseq = sseq.wrapping_add(chunk.len() as u32);
        }
        push(segment(client, server, cseq, sseq, ACK, b""));
    }
    push(segment(client, server, cseq, sseq, FIN_ACK, b""));
    push(segment(server, client, sseq, cseq + 1, FIN_ACK, b""));
    push(segment(client, server, cseq + 1, sseq + 1, ACK, b""));
    frames
}

/// An HTTP/1.1 JSON response with `body`.
pub fn json_response(body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}
