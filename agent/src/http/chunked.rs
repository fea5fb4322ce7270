//! `chunked` transfer decoding (RFC 9112 section 7.1), as browsers read it.
//!
//! The parser is a byte-level state machine with no buffer: chunk sizes accumulate with checked
//! arithmetic, so `ffffffffffffffffff` is an [`Anomaly::InvalidChunk`], not an overflow.
//! Well-formed chunk lines take the strict arms only. The lenient arms, reached only by bytes
//! the grammar forbids, follow what Firefox's chunk decoder accepts (it reads a size line with
//! `sscanf("%x")` and skips empty lines): whitespace and empty lines before a size, a `0x`
//! prefix, junk after the hex digits up to the line end, and a missing CRLF after chunk data.
//! Each repair is remembered and reported as `InvalidChunk` on the message, the body decoded as
//! the browser showed it.
//!
//! [`Sniff`] decides between chunked and raw framing from the first line of a response body,
//! for responses whose headers made chunked framing doubtful (see `body.rs`).

use super::body::Step;
use analyzer::exchange::Anomaly;

/// Longest chunk extension we skip before calling the framing broken.
const MAX_CHUNK_EXT: u32 = 4096;

/// Where the chunked parser is (RFC 9112 section 7.1 grammar).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Chunk {
    /// `chunk-size` hex digits so far.
    Size {
        value: u64,
        digits: u32,
    },
    /// Skipping `chunk-ext` (or whitespace before it) up to the line end.
    Ext {
        value: u64,
        len: u32,
    },
    /// Saw CR after the size line; LF must follow.
    SizeLf {
        value: u64,
    },
    Data {
        remaining: u64,
    },
    /// CRLF after chunk data.
    DataCr,
    DataLf,
    /// Start of a trailer line (or of the final empty line).
    TrailerStart,
    TrailerLine,
    /// Saw CR at the start of a trailer line: end of the trailer section.
    TrailerEndLf,
    Done,
}

/// A chunked body's parser state and what it had to tolerate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Chunked {
    pub state: Chunk,
    pub trailer_bytes: usize,
    pub trailer_cap: usize,
    /// A bare LF was tolerated in chunk framing.
    pub bare_lf: bool,
    /// A lenient arm repaired the framing (reported as `InvalidChunk`).
    pub repaired: bool,
}

impl Chunked {
    pub fn new(trailer_cap: usize) -> Chunked {
        Chunked {
            state: Chunk::Size {
                value: 0,
                digits: 0,
            },
            trailer_bytes: 0,
            trailer_cap,
            bare_lf: false,
            repaired: false,
        }
    }

    /// Whether the body is still inside chunk data of known extent (a gap there keeps sync).
    pub fn in_data(&mut self) -> Option<&mut u64> {
        match &mut self.state {
            Chunk::Data { remaining } => Some(remaining),
            _ => None,
        }
    }
}

fn hex_value(b: u8) -> Option<u64> {
    (b as char).to_digit(16).map(u64::from)
}

/// Whitespace `sscanf` skips before a number (and the line ends of empty lines).
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n' | 0x0b | 0x0c)
}

pub(crate) fn feed_chunked(
    c: &mut Chunked,
    input: &[u8],
    out: &mut dyn FnMut(&[u8]),
) -> (usize, Step) {
    let Chunked {
        state,
        trailer_bytes,
        trailer_cap,
        bare_lf,
        repaired,
    } = c;
    let mut i = 0;
    while i < input.len() {
        if let Chunk::Data { remaining } = state {
            let rest = input.get(i..).unwrap_or_default();
            let take = usize::try_from(*remaining).map_or(rest.len(), |r| r.min(rest.len()));
            out(rest.get(..take).unwrap_or_default());
            *remaining -= take as u64;
            i += take;
            if *remaining == 0 {
                *state = Chunk::DataCr;
            }
            continue;
        }
        let Some(&b) = input.get(i) else { break };
        i += 1;
        let invalid = (i, Step::Invalid(Anomaly::InvalidChunk));
        *state = match *state {
            Chunk::Size { value, digits } => match (b, hex_value(b)) {
                (_, Some(d)) => match value.checked_mul(16).and_then(|v| v.checked_add(d)) {
                    Some(value) => Chunk::Size {
                        value,
                        digits: digits + 1,
                    },
                    None => return invalid,
                },
                (b';' | b' ' | b'\t', None) if digits > 0 => Chunk::Ext { value, len: 0 },
                (b'\r', None) if digits > 0 => Chunk::SizeLf { value },
                (b'\n', None) if digits > 0 => {
                    *bare_lf = true;
                    after_size(value)
                }
                // Lenient: whitespace or an empty line before the size.
                (_, None) if digits == 0 && is_space(b) => {
                    *repaired = true;
                    Chunk::Size { value, digits }
                }
                // Lenient: `0x` prefix.
                (b'x' | b'X', None) if digits == 1 && value == 0 => {
                    *repaired = true;
                    Chunk::Size {
                        value: 0,
                        digits: 0,
                    }
                }
                // Lenient: junk after the digits is ignored up to the line end.
                (_, None) if digits > 0 => {
                    *repaired = true;
                    Chunk::Ext { value, len: 0 }
                }
                _ => return invalid,
            },
            // RFC 9112 section 7.1.1: extensions are ignored by recipients that do not
            // understand them; we skip them, bounded.
            Chunk::Ext { value, len } => match b {
                b'\r' => Chunk::SizeLf { value },
                b'\n' => {
                    *bare_lf = true;
                    after_size(value)
                }
                _ if len >= MAX_CHUNK_EXT => return invalid,
                _ => Chunk::Ext {
                    value,
                    len: len + 1,
                },
            },
            Chunk::SizeLf { value } => match b {
                b'\n' => after_size(value),
                _ => return invalid,
            },
            Chunk::DataCr => match (b, hex_value(b)) {
                (b'\r', _) => Chunk::DataLf,
                (b'\n', _) => {
                    *bare_lf = true;
                    Chunk::Size {
                        value: 0,
                        digits: 0,
                    }
                }
                // Lenient: no line end after the data; the next size line follows directly.
                (_, Some(d)) => {
                    *repaired = true;
                    Chunk::Size {
                        value: d,
                        digits: 1,
                    }
                }
                _ => return invalid,
            },
            Chunk::DataLf => match b {
                b'\n' => Chunk::Size {
                    value: 0,
                    digits: 0,
                },
                _ => return invalid,
            },
            // RFC 9112 section 7.1.2: trailer fields; skipped (not merged into the head),
            // bounded like a head.
            Chunk::TrailerStart => match b {
                b'\r' => Chunk::TrailerEndLf,
                b'\n' => {
                    *bare_lf = true;
                    *state = Chunk::Done;
                    return (i, Step::Done);
                }
                _ => Chunk::TrailerLine,
            },
            Chunk::TrailerLine => match b {
                b'\n' => Chunk::TrailerStart,
                _ => Chunk::TrailerLine,
            },
            Chunk::TrailerEndLf => match b {
                b'\n' => {
                    *state = Chunk::Done;
                    return (i, Step::Done);
                }
                _ => return invalid,
            },
            Chunk::Data { .. } | Chunk::Done => return (i - 1, Step::Done),
        };
        if matches!(
            state,
            Chunk::TrailerStart | Chunk::TrailerLine | Chunk::TrailerEndLf
        ) {
            *trailer_bytes += 1;
            if *trailer_bytes > *trailer_cap {
                return (i, Step::Invalid(Anomaly::HeadTooLarge));
            }
        }
    }
    (
        i,
        if *state == Chunk::Done {
            Step::Done
        } else {
            Step::NeedMore
        },
    )
}

/// After a complete chunk-size line: a zero size starts the trailer section (last-chunk).
fn after_size(value: u64) -> Chunk {
    if value == 0 {
        Chunk::TrailerStart
    } else {
        Chunk::Data { remaining: value }
    }
}

/// Bytes of a response body's first line held to decide whether it is chunked.
pub(crate) const SNIFF_LEN: usize = 32;

/// The first bytes of a response body whose headers made chunked framing doubtful (`chunked`
/// not final, several Transfer-Encoding fields, HTTP/1.0, Content-Length as well, a repaired
/// header): held until the first size line is complete, then the body is read as chunked when
/// that line is a chunk size (as Firefox would), else as sent (as a browser ignoring the
/// header would), up to `fallback` bytes or the close. Both readings are what some browser
/// showed; the one the bytes support wins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Sniff {
    held: [u8; SNIFF_LEN],
    len: usize,
    /// Content-Length to frame by when the body is not chunked (`None`: until close).
    pub fallback: Option<u64>,
}

/// What the first line said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Undecided,
    Chunked,
    Raw,
}

impl Sniff {
    pub fn new(fallback: Option<u64>) -> Sniff {
        Sniff {
            held: [0; SNIFF_LEN],
            len: 0,
            fallback,
        }
    }

    /// The bytes held so far.
    pub fn held(&self) -> &[u8] {
        self.held.get(..self.len).unwrap_or_default()
    }

    /// Hold bytes of `input` until the first line decides; returns bytes taken and the verdict.
    pub fn take(&mut self, input: &[u8]) -> (usize, Verdict) {
        let mut used = 0;
        for &b in input {
            let full = self.len >= SNIFF_LEN
                || self
                    .fallback
                    .is_some_and(|n| self.len as u64 >= n.min(SNIFF_LEN as u64));
            if full {
                return (used, self.verdict(true));
            }
            if let Some(slot) = self.held.get_mut(self.len) {
                *slot = b;
            }
            self.len += 1;
            used += 1;
            let v = self.verdict(false);
            if v != Verdict::Undecided {
                return (used, v);
            }
        }
        let full = self.len >= SNIFF_LEN
            || self
                .fallback
                .is_some_and(|n| self.len as u64 >= n.min(SNIFF_LEN as u64));
        (
            used,
            if full {
                self.verdict(true)
            } else {
                Verdict::Undecided
            },
        )
    }

    /// The verdict on the held bytes; `end`: no more bytes will be held (buffer full, body
    /// shorter, or the stream ended).
    pub fn verdict(&self, end: bool) -> Verdict {
        let held = self.held();
        let start = held.iter().take_while(|&&b| is_space(b)).count();
        let rest = held.get(start..).unwrap_or_default();
        let rest = rest
            .strip_prefix(b"0x")
            .or_else(|| rest.strip_prefix(b"0X"))
            .filter(|r| r.first().is_some_and(|b| b.is_ascii_hexdigit()))
            .unwrap_or(rest);
        let digits = rest.iter().take_while(|b| b.is_ascii_hexdigit()).count();
        match rest.get(digits) {
            _ if rest.is_empty() => {
                if end {
                    Verdict::Raw
                } else {
                    Verdict::Undecided
                }
            }
            _ if digits == 0 => Verdict::Raw,
            // A size, then its line end or an extension: a chunk-size line.
            Some(b'\r' | b'\n' | b';') => Verdict::Chunked,
            // Whitespace after the size: only if the line ends or an extension follows.
            Some(b' ' | b'\t') => {
                let after = rest.get(digits..).unwrap_or_default();
                match after.iter().find(|&&b| b != b' ' && b != b'\t') {
                    Some(b'\r' | b'\n' | b';') => Verdict::Chunked,
                    Some(_) => Verdict::Raw,
                    None if end => Verdict::Chunked,
                    None => Verdict::Undecided,
                }
            }
            // Other bytes after the digits: chunked only if the line ends soon (Firefox
            // ignores them); a body of text that starts with hex letters does not.
            Some(_) => {
                let line = rest.get(digits..).unwrap_or_default();
                match line.iter().position(|&b| b == b'\n') {
                    Some(p) if p <= 4 => Verdict::Chunked,
                    Some(_) => Verdict::Raw,
                    None if end || line.len() > 4 => Verdict::Raw,
                    None => Verdict::Undecided,
                }
            }
            None if end => Verdict::Raw,
            None => Verdict::Undecided,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dechunk(wire: &[u8], step: usize) -> (Vec<u8>, Step, bool) {
        let mut c = Chunked::new(1024);
        let mut out = Vec::new();
        let mut last = Step::NeedMore;
        for part in wire.chunks(step) {
            let (_, s) = feed_chunked(&mut c, part, &mut |b| out.extend_from_slice(b));
            last = s;
            if s != Step::NeedMore {
                break;
            }
        }
        (out, last, c.repaired)
    }

    #[test]
    fn http_chunk_lines_browsers_accept_are_repaired_and_flagged() {
        let cases: [&[u8]; 8] = [
            b"\r\n5\r\nhello\r\n\r\n6\r\n world\r\n0\r\n\r\n",
            b" 5\r\nhello\r\n\x0c6\r\n world\r\n0\r\n\r\n",
            b"0x5\r\nhello\r\n0X6\r\n world\r\n0\r\n\r\n",
            b"5x\r\nhello\r\n6,\r\n world\r\n0\r\n\r\n",
            b"5\r\nhello6\r\n world\r\n0\r\n\r\n",
            b"\n5\r\nhello\r\n\r6\r\n world\r\n0\r\n\r\n",
            b"5\rhello\r\n6\r\n world\r\n0\r\n\r\n",
            b"\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
        ];
        for (n, wire) in cases.iter().enumerate() {
            for step in [1, 3, wire.len()] {
                let (out, s, repaired) = dechunk(wire, step);
                if n == 6 {
                    // A lone CR after a non-zero size is not a line end: still broken.
                    assert_eq!(s, Step::Invalid(Anomaly::InvalidChunk), "case {n}");
                    continue;
                }
                assert_eq!(out, b"hello world", "case {n} step {step}");
                assert_eq!(s, Step::Done, "case {n}");
                assert!(repaired, "case {n} must be flagged");
            }
        }
        let (_, _, repaired) = dechunk(b"5\r\nhello\r\n0\r\n\r\n", 1);
        assert!(!repaired, "well-formed framing is not flagged");
        let (_, s, _) = dechunk(b"zz\r\n", 1);
        assert_eq!(s, Step::Invalid(Anomaly::InvalidChunk));
    }

    fn sniff(bytes: &[u8], fallback: Option<u64>) -> (usize, Verdict) {
        let mut s = Sniff::new(fallback);
        let mut used = 0;
        for b in bytes.chunks(1) {
            let (n, v) = s.take(b);
            used += n;
            if v != Verdict::Undecided {
                return (used, v);
            }
        }
        (used, s.verdict(true))
    }

    #[test]
    fn http_sniff_first_body_line() {
        assert_eq!(sniff(b"5\r\nhello", None), (2, Verdict::Chunked));
        assert_eq!(sniff(b"\r\n0f;x\r\n", None).1, Verdict::Chunked);
        assert_eq!(sniff(b"fx\r\n", None).1, Verdict::Chunked);
        assert_eq!(sniff(b"X5O!P%@AP", None), (1, Verdict::Raw));
        assert_eq!(sniff(b"{\"a\":1}", Some(7)).1, Verdict::Raw);
        assert_eq!(sniff(b"deadbeef is a word\n", None).1, Verdict::Raw);
        assert_eq!(sniff(b"ab", Some(2)), (2, Verdict::Raw));
        assert_eq!(sniff(b"", None), (0, Verdict::Raw));
    }
}
