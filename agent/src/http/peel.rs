//! Content decoding as browsers show it, for bodies whose declared codings did not decode
//! (the slow path of `decode.rs`): stacked codings in the wrong order or declared twice,
//! `deflate` that is raw or zlib-wrapped, gzip with reserved header flags, a bad CRC, several
//! members, trailing garbage or a truncated end, an unknown coding name over gzip bytes.
//!
//! Browsers show what decoded before an error, and the layers here are told apart by their
//! bytes, not by the header: each round looks at the data and undoes one layer (gzip by its
//! magic, zlib by its header check, raw deflate only where a deflate coding was declared and
//! only when the stream ends cleanly, since arbitrary text can begin like a deflate block),
//! until the data no longer decodes. Input is the raw sample (at most `max_body_sample` bytes)
//! and every output is capped at the same size, so memory stays bounded whatever the body.

use flate2::{Decompress, FlushDecompress, Status};

/// What one inflate run gave.
struct Inflated {
    out: Vec<u8>,
    consumed: usize,
    ended: bool,
}

/// Inflate `input` (zlib-wrapped or raw) into at most `cap` bytes, keeping what came out
/// before an error or the end of the input.
fn inflate(input: &[u8], zlib: bool, cap: usize) -> Inflated {
    let mut d = Decompress::new(zlib);
    let mut out: Vec<u8> = Vec::with_capacity(cap.min(input.len().saturating_mul(4) + 256));
    let mut ended = false;
    loop {
        if out.len() >= cap {
            break;
        }
        if out.len() == out.capacity() {
            out.reserve((cap - out.len()).min(out.len().max(1024)));
        }
        let (in_before, out_before) = (d.total_in(), d.total_out());
        let rest = input.get(d.total_in() as usize..).unwrap_or_default();
        match d.decompress_vec(rest, &mut out, FlushDecompress::None) {
            Ok(Status::StreamEnd) => {
                ended = true;
                break;
            }
            Ok(_) if d.total_in() == in_before && d.total_out() == out_before => break,
            Ok(_) => {}
            Err(_) => break,
        }
    }
    out.truncate(cap);
    Inflated {
        out,
        consumed: d.total_in() as usize,
        ended,
    }
}

/// Where the deflate data of a gzip member starts (RFC 1952 section 2.3), reserved flag bits
/// ignored. `None` when this is not a gzip member header.
fn gzip_data_start(data: &[u8]) -> Option<usize> {
    if data.get(..3) != Some(&[0x1f, 0x8b, 8][..]) || data.len() < 10 {
        return None;
    }
    let flags = *data.get(3)?;
    let mut pos = 10usize;
    if flags & 0x04 != 0 {
        let xlen: [u8; 2] = data.get(pos..pos + 2)?.try_into().ok()?;
        pos += 2 + usize::from(u16::from_le_bytes(xlen));
    }
    for bit in [0x08, 0x10] {
        if flags & bit != 0 {
            pos += memchr::memchr(0, data.get(pos..)?)? + 1;
        }
    }
    if flags & 0x02 != 0 {
        pos += 2;
    }
    (pos <= data.len()).then_some(pos)
}

/// Gunzip every member, leniently: stop at the first thing that is not a member and keep
/// what decoded.
fn gunzip(data: &[u8], cap: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = data;
    while let Some(start) = gzip_data_start(rest) {
        let body = rest.get(start..).unwrap_or_default();
        let inflated = inflate(body, false, cap.saturating_sub(out.len()));
        out.extend_from_slice(&inflated.out);
        if !inflated.ended || out.len() >= cap {
            break;
        }
        // The 8-byte trailer (CRC32, ISIZE) is not checked: browsers show the data anyway.
        rest = body.get(inflated.consumed + 8..).unwrap_or_default();
    }
    out
}

/// RFC 1950 section 2.2: CM = 8 and the header check.
pub(crate) fn is_zlib_header(cmf: u8, flg: u8) -> bool {
    cmf & 0x0f == 8 && ((u16::from(cmf) << 8) | u16::from(flg)) % 31 == 0
}

/// Undo one layer of `data`, told apart by its bytes. `None`: no layer recognised.
fn peel_once(data: &[u8], raw_deflate: bool, cap: usize) -> Option<Vec<u8>> {
    let out = match data {
        [0x1f, 0x8b, ..] => gunzip(data, cap),
        [cmf, flg, ..] if is_zlib_header(*cmf, *flg) => inflate(data, true, cap).out,
        _ if raw_deflate => {
            let inflated = inflate(data, false, cap);
            // Only a stream that ends where the data ends: text can start like a block.
            if !inflated.ended || inflated.consumed + 8 < data.len() {
                return None;
            }
            inflated.out
        }
        _ => return None,
    };
    (!out.is_empty()).then_some(out)
}

/// Decode as many layers of `raw` as its bytes support (at most `max_layers`). `None` when not
/// even one decoded; else the innermost data reached, at most `cap` bytes.
pub(crate) fn peel(
    raw: &[u8],
    raw_deflate: bool,
    max_layers: usize,
    cap: usize,
) -> Option<Vec<u8>> {
    let mut current: Option<Vec<u8>> = None;
    // Line ends before the data: a head that ended one line early (`lenient.rs`).
    let skip = raw
        .iter()
        .take_while(|&&b| b == b'\r' || b == b'\n')
        .count();
    let raw = raw.get(skip..).unwrap_or_default();
    for layer in 0..max_layers {
        let data = current.as_deref().unwrap_or(raw);
        // Raw deflate is only tried on the body as sent, where a deflate coding was declared.
        match peel_once(data, raw_deflate && layer == 0, cap) {
            Some(next) => current = Some(next),
            None => break,
        }
    }
    current
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::{DeflateEncoder, GzEncoder, ZlibEncoder};
    use flate2::Compression;
    use std::io::Write;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        let _ = e.write_all(data);
        e.finish().unwrap_or_default()
    }

    fn raw_deflate(data: &[u8]) -> Vec<u8> {
        let mut e = DeflateEncoder::new(Vec::new(), Compression::default());
        let _ = e.write_all(data);
        e.finish().unwrap_or_default()
    }

    const TEXT: &[u8] = b"X5O!P%@AP[4 the body a browser shows";

    #[test]
    fn http_peel_gzip_variants_browsers_show() {
        let good = gz(TEXT);
        // Reserved flag bits set, a bad CRC, trailing garbage, a truncated end, two members.
        let mut reserved = good.clone();
        reserved[3] = 0xe0;
        let mut bad_crc = good.clone();
        let n = bad_crc.len();
        bad_crc[n - 6] ^= 0xff;
        let mut garbage = good.clone();
        garbage.extend_from_slice(b"garbage after the member");
        let truncated = good[..good.len() - 12].to_vec();
        let mut two = gz(b"first ");
        two.extend_from_slice(&gz(b"second"));
        for (name, wire) in [
            ("reserved", &reserved),
            ("crc", &bad_crc),
            ("garbage", &garbage),
        ] {
            assert_eq!(
                peel(wire, false, 4, 1 << 16).as_deref(),
                Some(TEXT),
                "{name}"
            );
        }
        let cut = peel(&truncated, false, 4, 1 << 16).unwrap_or_default();
        assert!(TEXT.starts_with(&cut) && !cut.is_empty(), "{cut:?}");
        assert_eq!(
            peel(&two, false, 4, 1 << 16).as_deref(),
            Some(&b"first second"[..])
        );
        // Gzip inside gzip inside zlib, however the header named them.
        let mut z = ZlibEncoder::new(Vec::new(), Compression::default());
        let _ = z.write_all(&gz(&gz(TEXT)));
        let stacked = z.finish().unwrap_or_default();
        assert_eq!(peel(&stacked, false, 4, 1 << 16).as_deref(), Some(TEXT));
        assert_eq!(
            peel(&gz(TEXT), false, 4, 8).map(|v| v.len()),
            Some(8),
            "capped"
        );
    }

    #[test]
    fn http_peel_raw_deflate_only_when_declared_and_whole() {
        let wire = raw_deflate(TEXT);
        assert_eq!(peel(&wire, true, 4, 1 << 16).as_deref(), Some(TEXT));
        assert_eq!(peel(&wire, false, 4, 1 << 16), None);
        assert_eq!(peel(TEXT, true, 4, 1 << 16), None, "text is not a layer");
        assert_eq!(peel(b"{\"json\":[1,2,3]}", true, 4, 1 << 16), None);
        assert_eq!(peel(b"", true, 4, 1 << 16), None);
    }
}
