//! Content decoding of one message body (RFC 9110 section 8.4): `gzip`/`x-gzip`, `deflate`
//! (zlib-wrapped or raw), `br`, `identity`, stacked in the order they were applied.
//!
//! Decoding is streaming and bounded: each wire chunk is pushed through a chain of push-style
//! decoders (flate2 `write::*Decoder`, brotli `DecompressorWriter`) ending in a [`Sink`] that
//! keeps at most `max_body_sample` bytes and stops the whole chain (by returning an error up
//! the chain) once `max_decompressed` bytes, or `max_decompression_ratio` times the wire bytes
//! seen so far, have come out. We never hold a whole body: memory per body is the sample, a raw
//! sample (kept so a failed decode can fall back to the bytes as sent), and the decoders' own
//! windows (32 KiB for deflate, up to the stream's declared window for brotli).
//!
//! A body whose declared codings fail to decode (or name an unknown coding) falls back to
//! `peel.rs`, which decodes the raw sample as far as its bytes allow, as a browser shows it;
//! the anomaly flag stays.
//!
//! This module does not do transfer decoding (chunked); `body.rs` does that before bytes
//! arrive here.

use super::body::{Coding, Codings};
use analyzer::exchange::{Anomaly, AnomalySet, Body};
use brotli::DecompressorWriter;
use flate2::write::{DeflateDecoder, MultiGzDecoder, ZlibDecoder};
use std::io::{self, Write};

/// Output buffer of the brotli writer; each push into the chain is at most this large.
const BROTLI_BUFFER: usize = 4096;
/// Compressed bytes are handed to the decoders in blocks of this size (the last one may be
/// shorter), and the ratio cap is checked against the wire bytes through the current block.
/// That makes where decoding stops depend only on the body, not on how TCP segmented it.
pub(crate) const DECODE_BLOCK: usize = 4096;

/// The caps one body is decoded under (copied from `HttpLimits`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct DecodeLimits {
    pub sample_cap: usize,
    pub max_decoded: u64,
    pub max_ratio: u64,
}

/// End of the decoder chain: keeps the sample, counts, and enforces the output caps.
#[derive(Debug)]
struct Sink {
    sample: Vec<u8>,
    sample_cap: usize,
    decoded: u64,
    /// `u64::MAX` for identity bodies: nothing is decompressed, so nothing to cap.
    max_decoded: u64,
    /// 0 disables the ratio cap (identity).
    max_ratio: u64,
    /// Wire bytes pushed so far, updated before each push (for the ratio cap).
    wire: u64,
    capped: bool,
    sample_overflow: bool,
}

impl Sink {
    fn new(limits: DecodeLimits, identity: bool) -> Sink {
        Sink {
            sample: Vec::new(),
            sample_cap: limits.sample_cap,
            decoded: 0,
            max_decoded: if identity {
                u64::MAX
            } else {
                limits.max_decoded
            },
            max_ratio: if identity { 0 } else { limits.max_ratio },
            wire: 0,
            capped: false,
            sample_overflow: false,
        }
    }

    /// How many more decoded bytes the caps allow right now.
    fn room(&self) -> u64 {
        let mut room = self.max_decoded.saturating_sub(self.decoded);
        if self.max_ratio > 0 {
            // The ratio cap never bites below one sample's worth: small, highly repetitive
            // JSON legitimately compresses beyond any sane ratio.
            let allowed = self
                .wire
                .saturating_mul(self.max_ratio)
                .max(self.sample_cap as u64);
            room = room.min(allowed.saturating_sub(self.decoded));
        }
        room
    }
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.capped {
            return Err(io::Error::other("decoded-size cap reached"));
        }
        let room = self.room();
        let take = usize::try_from(room).map_or(buf.len(), |r| r.min(buf.len()));
        if take == 0 && !buf.is_empty() {
            self.capped = true;
            return Err(io::Error::other("decoded-size cap reached"));
        }
        let kept = take.min(self.sample_cap.saturating_sub(self.sample.len()));
        if let Some(part) = buf.get(..kept) {
            self.sample.extend_from_slice(part);
        }
        if kept < take {
            self.sample_overflow = true;
        }
        self.decoded = self.decoded.saturating_add(take as u64);
        if take < buf.len() {
            self.capped = true;
        }
        Ok(take)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A chain of push decoders; the outermost undoes the coding applied last.
enum Chain {
    Sink(Sink),
    Gzip(Box<MultiGzDecoder<Chain>>),
    Zlib(Box<ZlibDecoder<Chain>>),
    RawDeflate(Box<DeflateDecoder<Chain>>),
    /// `deflate` means zlib-wrapped (RFC 9110 section 8.4.1.2) but many servers send raw
    /// deflate; the first two bytes decide, so they are held until both arrived.
    DeflateUndecided {
        head: Vec<u8>,
        next: Option<Box<Chain>>,
    },
    Brotli(Box<DecompressorWriter<Chain>>),
}

impl Chain {
    fn wrap(coding: Coding, inner: Chain) -> Chain {
        match coding {
            Coding::Gzip => Chain::Gzip(Box::new(MultiGzDecoder::new(inner))),
            Coding::Deflate => Chain::DeflateUndecided {
                head: Vec::new(),
                next: Some(Box::new(inner)),
            },
            Coding::Brotli => {
                Chain::Brotli(Box::new(DecompressorWriter::new(inner, BROTLI_BUFFER)))
            }
        }
    }

    fn sink(&self) -> Option<&Sink> {
        match self {
            Chain::Sink(s) => Some(s),
            Chain::Gzip(d) => d.get_ref().sink(),
            Chain::Zlib(d) => d.get_ref().sink(),
            Chain::RawDeflate(d) => d.get_ref().sink(),
            Chain::DeflateUndecided { next, .. } => next.as_deref().and_then(Chain::sink),
            Chain::Brotli(d) => d.get_ref().sink(),
        }
    }

    fn sink_mut(&mut self) -> Option<&mut Sink> {
        match self {
            Chain::Sink(s) => Some(s),
            Chain::Gzip(d) => d.get_mut().sink_mut(),
            Chain::Zlib(d) => d.get_mut().sink_mut(),
            Chain::RawDeflate(d) => d.get_mut().sink_mut(),
            Chain::DeflateUndecided { next, .. } => next.as_deref_mut().and_then(Chain::sink_mut),
            Chain::Brotli(d) => d.get_mut().sink_mut(),
        }
    }

    /// Flush every stage's remaining output, outermost first, and check the streams ended.
    fn finish(&mut self) -> io::Result<()> {
        match self {
            Chain::Sink(_) => Ok(()),
            Chain::Gzip(d) => {
                d.try_finish()?;
                d.get_mut().finish()
            }
            Chain::Zlib(d) => {
                d.try_finish()?;
                d.get_mut().finish()
            }
            Chain::RawDeflate(d) => {
                d.try_finish()?;
                d.get_mut().finish()
            }
            Chain::DeflateUndecided { head, next } => {
                if head.is_empty() {
                    next.as_deref_mut().map_or(Ok(()), Chain::finish)
                } else {
                    Err(io::Error::other("deflate stream shorter than its header"))
                }
            }
            Chain::Brotli(d) => {
                d.close()?;
                d.get_mut().finish()
            }
        }
    }
}

impl Write for Chain {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.write_stage(buf)?;
        // A flate2 decoder whose stream has ended takes no more input and answers `Ok(0)`.
        // std's `write_all` turns that into an error, but the brotli writer's own `write_all`
        // retries forever: a deflate stream inside `br` followed by more bytes hung the worker
        // (fuzz/regressions/body). Bytes after the end of a compressed stream fail the decode,
        // as they already did for the outermost coding.
        if n == 0 && !buf.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "data after the end of the compressed stream",
            ));
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Chain {
    /// One write into this stage (see `write` for what `Ok(0)` means).
    fn write_stage(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Chain::Sink(s) => s.write(buf),
            Chain::Gzip(d) => d.write(buf),
            Chain::Zlib(d) => d.write(buf),
            Chain::RawDeflate(d) => d.write(buf),
            Chain::Brotli(d) => d.write(buf),
            Chain::DeflateUndecided { head, next } => {
                let want = 2usize.saturating_sub(head.len()).min(buf.len());
                head.extend_from_slice(buf.get(..want).unwrap_or_default());
                if head.len() < 2 {
                    return Ok(want);
                }
                let inner = next
                    .take()
                    .ok_or_else(|| io::Error::other("deflate chain lost"))?;
                let (cmf, flg) = (
                    head.first().copied().unwrap_or(0),
                    head.get(1).copied().unwrap_or(0),
                );
                // RFC 1950 section 2.2: CM = 8 in the low nibble of CMF and CMF*256+FLG a
                // multiple of 31 identify a zlib header; anything else is taken as raw deflate.
                let zlib = super::peel::is_zlib_header(cmf, flg);
                let held = std::mem::take(head);
                *self = if zlib {
                    Chain::Zlib(Box::new(ZlibDecoder::new(*inner)))
                } else {
                    Chain::RawDeflate(Box::new(DeflateDecoder::new(*inner)))
                };
                self.write_all(&held)?;
                Ok(want)
            }
        }
    }
}

enum Mode {
    /// No content coding: bytes go straight to the sink.
    Identity(Sink),
    Decoding(Box<Chain>),
    /// Unknown coding or a failed decode: the raw sample is the result.
    Raw,
    /// A gap broke the compressed stream: what was decoded before it is the result.
    Stopped(Sink),
}

/// Decodes one body as its bytes arrive.
pub(crate) struct BodyDecoder {
    mode: Mode,
    /// Raw (wire) sample, kept only while content decoding may still fail.
    raw: Vec<u8>,
    /// Compressed bytes not yet handed to the chain (at most `DECODE_BLOCK`).
    block: Vec<u8>,
    /// Wire bytes handed to the chain so far.
    fed: u64,
    limits: DecodeLimits,
    wire_len: u64,
    /// Bytes never seen (gaps) inside this body.
    missing: bool,
    flags: AnomalySet,
    /// A `deflate` coding was declared (or an unknown one): the fallback may try raw deflate.
    deflate_declared: bool,
    /// What the declared chain decoded before it failed (fallback candidate).
    partial: Vec<u8>,
}

impl BodyDecoder {
    /// `codings` in the order they were applied (Content-Encoding order, then transfer
    /// codings other than chunked), each already lower-cased and trimmed.
    pub(crate) fn new(codings: &Codings, limits: DecodeLimits) -> BodyDecoder {
        let mut flags = AnomalySet::EMPTY;
        let mode = if codings.unknown {
            flags.insert(Anomaly::UnknownEncoding);
            Mode::Raw
        } else if codings.is_identity() {
            Mode::Identity(Sink::new(limits, true))
        } else {
            let mut chain = Chain::Sink(Sink::new(limits, false));
            for coding in codings.iter() {
                chain = Chain::wrap(coding, chain);
            }
            Mode::Decoding(Box::new(chain))
        };
        BodyDecoder {
            mode,
            raw: Vec::new(),
            block: Vec::new(),
            fed: 0,
            limits,
            wire_len: 0,
            missing: false,
            flags,
            deflate_declared: codings.unknown || codings.iter().any(|c| c == Coding::Deflate),
            partial: Vec::new(),
        }
    }

    /// Bytes currently held for this body (sample + raw sample), for cap assertions.
    pub(crate) fn buffered(&self) -> usize {
        let sink = match &self.mode {
            Mode::Identity(s) | Mode::Stopped(s) => s.sample.len(),
            Mode::Decoding(c) => c.sink().map_or(0, |s| s.sample.len()),
            Mode::Raw => 0,
        };
        sink + self.raw.len() + self.block.len()
    }

    /// Hand the current block to the decoder chain.
    fn feed_block(&mut self) {
        if self.block.is_empty() {
            return;
        }
        let Mode::Decoding(chain) = &mut self.mode else {
            self.block.clear();
            return;
        };
        self.fed = self.fed.saturating_add(self.block.len() as u64);
        if let Some(sink) = chain.sink_mut() {
            sink.wire = self.fed;
        }
        let failed = chain.write_all(&self.block).is_err();
        self.block.clear();
        if failed {
            self.stop_decoding();
        }
    }

    /// Wire bytes (after transfer decoding) of this body, in order.
    pub(crate) fn push(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        self.wire_len = self.wire_len.saturating_add(bytes.len() as u64);
        if matches!(self.mode, Mode::Raw | Mode::Decoding(_)) && !self.missing {
            let room = self.limits.sample_cap.saturating_sub(self.raw.len());
            self.raw
                .extend_from_slice(bytes.get(..room.min(bytes.len())).unwrap_or_default());
        }
        match &mut self.mode {
            Mode::Identity(sink) => {
                if !self.missing {
                    let _ = sink.write(bytes);
                }
            }
            Mode::Decoding(_) => {
                let mut rest = bytes;
                while !rest.is_empty() && matches!(self.mode, Mode::Decoding(_)) {
                    let take = DECODE_BLOCK
                        .saturating_sub(self.block.len())
                        .min(rest.len());
                    let (now, later) = rest.split_at(take);
                    self.block.extend_from_slice(now);
                    rest = later;
                    if self.block.len() >= DECODE_BLOCK {
                        self.feed_block();
                    }
                }
            }
            Mode::Raw | Mode::Stopped(_) => {}
        }
    }

    /// `len` body bytes were never captured.
    pub(crate) fn gap(&mut self, len: u64) {
        self.feed_block();
        self.wire_len = self.wire_len.saturating_add(len);
        self.missing = true;
        // A compressed stream cannot be resumed after a hole; keep what came out before it.
        if let Mode::Decoding(chain) = &mut self.mode {
            if let Some(sink) = chain.sink_mut() {
                let sink = std::mem::replace(sink, Sink::new(self.limits, true));
                self.raw = Vec::new();
                self.mode = Mode::Stopped(sink);
            }
        }
    }

    /// A write into the chain failed: either a cap (the sink says so) or corrupt data.
    fn stop_decoding(&mut self) {
        let Mode::Decoding(chain) = &mut self.mode else {
            return;
        };
        let capped = chain.sink().is_some_and(|s| s.capped);
        if capped {
            if let Some(sink) = chain.sink_mut() {
                let sink = std::mem::replace(sink, Sink::new(self.limits, true));
                self.flags.insert(Anomaly::DecompressionCapped);
                self.raw = Vec::new();
                self.mode = Mode::Stopped(sink);
            }
        } else {
            self.flags.insert(Anomaly::DecompressionFailed);
            if let Some(sink) = chain.sink_mut() {
                self.partial = std::mem::take(&mut sink.sample);
            }
            self.mode = Mode::Raw;
        }
    }

    /// The body ended. `complete` is false when it ended early (close, gap, bad framing):
    /// then an unfinished compressed stream is not reported as a decoding failure.
    pub(crate) fn finish(mut self, complete: bool) -> (Body, AnomalySet) {
        self.feed_block();
        if let Mode::Decoding(chain) = &mut self.mode {
            if complete && self.wire_len > 0 && chain.finish().is_err() {
                self.stop_decoding();
            }
        }
        let wire_len = self.wire_len;
        let mut truncated = self.missing || !complete;
        let (sample, decoded_len) = match self.mode {
            Mode::Identity(sink) | Mode::Stopped(sink) => {
                if sink.sample_overflow {
                    self.flags.insert(Anomaly::BodySampleCapped);
                }
                if sink.capped {
                    truncated = true;
                }
                truncated |= sink.sample_overflow;
                (sink.sample, sink.decoded)
            }
            Mode::Decoding(mut chain) => match chain.sink_mut() {
                Some(sink) => {
                    if sink.sample_overflow {
                        self.flags.insert(Anomaly::BodySampleCapped);
                    }
                    truncated |= sink.sample_overflow || sink.capped;
                    let mut sample = std::mem::take(&mut sink.sample);
                    let mut decoded = sink.decoded;
                    // Cut short: the decoders still hold output a browser would have shown.
                    if !complete && !sink.capped && !self.missing {
                        if let Some(p) = super::peel::peel(
                            &self.raw,
                            self.deflate_declared,
                            super::body::MAX_STACKED_CODINGS + 1,
                            self.limits.sample_cap,
                        )
                        .filter(|p| p.len() > sample.len())
                        {
                            decoded = p.len() as u64;
                            sample = p;
                        }
                    }
                    (sample, decoded)
                }
                None => (Vec::new(), 0),
            },
            Mode::Raw => {
                let overflow = wire_len > self.raw.len() as u64;
                // Slow path: the declared codings failed; decode what the bytes support.
                let peeled = super::peel::peel(
                    &self.raw,
                    self.deflate_declared,
                    super::body::MAX_STACKED_CODINGS + 1,
                    self.limits.sample_cap,
                );
                let best = match peeled {
                    Some(p) if p.len() >= self.partial.len() => Some(p),
                    _ if !self.partial.is_empty() => Some(std::mem::take(&mut self.partial)),
                    _ => None,
                };
                match best {
                    Some(decoded) => {
                        truncated |= overflow || decoded.len() >= self.limits.sample_cap;
                        let len = decoded.len() as u64;
                        (decoded, len)
                    }
                    None => {
                        if overflow && !self.missing {
                            self.flags.insert(Anomaly::BodySampleCapped);
                        }
                        truncated |= overflow;
                        (self.raw, wire_len)
                    }
                }
            }
        };
        if self.flags.contains(Anomaly::DecompressionCapped) {
            truncated = true;
        }
        (
            Body {
                sample,
                decoded_len,
                wire_len,
                truncated,
            },
            self.flags,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::{DeflateEncoder, GzEncoder, ZlibEncoder};
    use flate2::Compression;

    fn limits() -> DecodeLimits {
        DecodeLimits {
            sample_cap: 64,
            max_decoded: 1 << 20,
            max_ratio: 200,
        }
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        let _ = e.write_all(data);
        e.finish().unwrap_or_default()
    }

    fn run(codings: &[&str], wire: &[u8], chunk: usize) -> (Body, Vec<Anomaly>) {
        let codings = Codings::from_names(codings.iter().map(|c| c.as_bytes()));
        let mut d = BodyDecoder::new(&codings, limits());
        for part in wire.chunks(chunk.max(1)) {
            d.push(part);
        }
        let (body, flags) = d.finish(true);
        (body, flags.iter().collect())
    }

    #[test]
    fn http_decode_gzip_in_any_chunking() {
        let wire = gzip(b"hello world");
        for chunk in [1, 2, 3, 7, 1000] {
            let (body, flags) = run(&["gzip"], &wire, chunk);
            assert_eq!(body.sample, b"hello world");
            assert_eq!(body.decoded_len, 11);
            assert_eq!(body.wire_len, wire.len() as u64);
            assert!(!body.truncated);
            assert!(flags.is_empty(), "{flags:?}");
        }
    }

    #[test]
    fn http_decode_deflate_zlib_and_raw() {
        let mut z = ZlibEncoder::new(Vec::new(), Compression::default());
        let _ = z.write_all(b"zlib body");
        let zlib = z.finish().unwrap_or_default();
        let mut r = DeflateEncoder::new(Vec::new(), Compression::default());
        let _ = r.write_all(b"raw body");
        let raw = r.finish().unwrap_or_default();
        for chunk in [1, 5, 100] {
            assert_eq!(run(&["deflate"], &zlib, chunk).0.sample, b"zlib body");
            assert_eq!(run(&["deflate"], &raw, chunk).0.sample, b"raw body");
        }
    }

    #[test]
    fn http_decode_stacked_and_identity() {
        let once = gzip(b"twice");
        let twice = gzip(&once);
        let (body, flags) = run(&["gzip", "identity", "x-gzip"], &twice, 3);
        assert_eq!(body.sample, b"twice");
        assert!(flags.is_empty());
    }

    #[test]
    fn http_decode_failure_keeps_raw() {
        let (body, flags) = run(&["gzip"], b"not gzip at all", 4);
        assert_eq!(body.sample, b"not gzip at all");
        assert_eq!(flags, vec![Anomaly::DecompressionFailed]);
    }

    #[test]
    fn http_decode_unknown_keeps_raw() {
        let (body, flags) = run(&["zstd"], b"abc", 1);
        assert_eq!(body.sample, b"abc");
        assert_eq!(body.decoded_len, 3);
        assert_eq!(flags, vec![Anomaly::UnknownEncoding]);
    }

    /// Fuzz regression: a deflate stream with bytes after its end, inside `br`. The brotli
    /// writer retried the finished deflate decoder's `Ok(0)` forever.
    #[test]
    fn http_decode_data_after_inner_stream_end_fails_instead_of_hanging() {
        let mut r = DeflateEncoder::new(Vec::new(), Compression::default());
        let _ = r.write_all(b"raw body");
        let mut inner = r.finish().unwrap_or_default();
        inner.extend_from_slice(b"trailing bytes");
        let mut wire = Vec::new();
        {
            let mut br = brotli::CompressorWriter::new(&mut wire, 4096, 5, 22);
            let _ = br.write_all(&inner);
        }
        for chunk in [1, 7, 4096] {
            let (_, flags) = run(&["deflate", "br"], &wire, chunk);
            assert!(flags.contains(&Anomaly::DecompressionFailed), "{flags:?}");
        }
        // The input the fuzzer found (agent::fuzz::body_decoding layout).
        let found: &[u8] = &[
            137, 121, 41, 169, 64, 1, 29, 211, 67, 0, 61, 15, 66, 2, 1, 0, 27, 3, 39, 248, 90, 5,
            61, 37, 140, 140, 140, 140, 140, 140, 140, 140, 140, 140, 140, 140, 1, 0,
        ];
        crate::fuzz::body_decoding(found);
    }

    #[test]
    fn http_decode_bomb_is_capped_by_ratio() {
        let wire = gzip(&vec![0u8; 4 << 20]);
        let (body, flags) = run(&["gzip"], &wire, 1460);
        assert!(flags.contains(&Anomaly::DecompressionCapped), "{flags:?}");
        assert!(body.truncated);
        assert!(body.decoded_len <= body.wire_len * 200 + 64);
        assert_eq!(body.sample.len(), 64);
    }
}
