//! HPACK Huffman decoding (RFC 7541 section 5.2 and Appendix B).
//!
//! The code is canonical: the codes of one bit length are consecutive numbers. Decoding reads
//! one bit at a time and, at each length, checks whether the bits so far fall in that length's
//! range. That is at most 30 steps per symbol and needs no tree: a small table per length built
//! once from [`HUFFMAN_CODES`].

use super::tables::HUFFMAN_CODES;
use std::sync::OnceLock;

/// Longest code in the table (RFC 7541 Appendix B).
const MAX_CODE_LEN: usize = 30;
/// The end-of-string symbol: never valid inside a string (section 5.2).
const EOS: u16 = 256;

/// Per bit length: the first code, how many codes, where their symbols start in `symbols`.
struct Canonical {
    first: [u32; MAX_CODE_LEN + 1],
    count: [u32; MAX_CODE_LEN + 1],
    offset: [u32; MAX_CODE_LEN + 1],
    /// Symbols ordered by (length, code).
    symbols: [u16; 257],
}

fn canonical() -> &'static Canonical {
    static TABLE: OnceLock<Canonical> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut c = Canonical {
            first: [u32::MAX; MAX_CODE_LEN + 1],
            count: [0; MAX_CODE_LEN + 1],
            offset: [0; MAX_CODE_LEN + 1],
            symbols: [0; 257],
        };
        let mut order: Vec<u16> = (0..=EOS).collect();
        order.sort_by_key(|&s| {
            let (code, len) = HUFFMAN_CODES[usize::from(s)];
            (len, code)
        });
        for (i, &s) in order.iter().enumerate() {
            let (code, len) = HUFFMAN_CODES[usize::from(s)];
            let l = usize::from(len);
            if c.count[l] == 0 {
                c.first[l] = code;
                c.offset[l] = i as u32;
            }
            c.count[l] += 1;
            c.symbols[i] = s;
        }
        c
    })
}

/// Why a Huffman string did not decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HuffmanError {
    /// The EOS symbol appeared inside the string.
    Eos,
    /// More than 7 bits of padding, padding that is not all ones, or a code longer than 30 bits.
    BadPadding,
    /// The decoded string would exceed the caller's limit.
    TooLong,
}

/// Decode `src` into `out` (appending), stopping with [`HuffmanError::TooLong`] once `out`
/// would grow past `max_out` bytes.
pub fn decode(src: &[u8], out: &mut Vec<u8>, max_out: usize) -> Result<(), HuffmanError> {
    let t = canonical();
    let start = out.len();
    let mut code: u32 = 0;
    let mut len: usize = 0;
    for &byte in src {
        for shift in (0..8).rev() {
            code = (code << 1) | u32::from((byte >> shift) & 1);
            len += 1;
            if len > MAX_CODE_LEN {
                return Err(HuffmanError::BadPadding);
            }
            let n = t.count[len];
            if n == 0 || code < t.first[len] || code - t.first[len] >= n {
                continue;
            }
            let at = (t.offset[len] + code - t.first[len]) as usize;
            let sym = t.symbols.get(at).copied().unwrap_or(EOS);
            if sym == EOS {
                return Err(HuffmanError::Eos);
            }
            if out.len() - start >= max_out {
                return Err(HuffmanError::TooLong);
            }
            out.push(sym as u8);
            code = 0;
            len = 0;
        }
    }
    // Section 5.2: padding is the most significant bits of EOS (all ones), at most 7 bits.
    if len > 7 || code != (1u32 << len) - 1 {
        return Err(HuffmanError::BadPadding);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_of_one_length_are_consecutive() {
        // The decoder relies on it: within each length the codes form one range.
        let mut by_len: Vec<Vec<u32>> = vec![Vec::new(); MAX_CODE_LEN + 1];
        for &(code, len) in HUFFMAN_CODES.iter() {
            by_len[usize::from(len)].push(code);
        }
        for codes in by_len.iter_mut() {
            codes.sort_unstable();
            for w in codes.windows(2) {
                assert_eq!(w[1], w[0] + 1);
            }
        }
    }

    /// Encode with the table, for round trips.
    fn encode(s: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let (mut acc, mut bits) = (0u64, 0u32);
        for &b in s {
            let (code, len) = HUFFMAN_CODES[usize::from(b)];
            acc = (acc << len) | u64::from(code);
            bits += u32::from(len);
            while bits >= 8 {
                bits -= 8;
                out.push((acc >> bits) as u8);
            }
        }
        if bits > 0 {
            let pad = 8 - bits;
            out.push(((acc << pad) as u8) | ((1u8 << pad) - 1));
        }
        out
    }

    #[test]
    fn every_byte_round_trips() {
        let all: Vec<u8> = (0..=255).collect();
        let mut out = Vec::new();
        decode(&encode(&all), &mut out, 1024).unwrap();
        assert_eq!(out, all);
    }

    #[test]
    fn rfc_example_www_example_com() {
        // RFC 7541 C.4.1.
        let enc = [
            0xf1, 0xe3, 0xc2, 0xe5, 0xf2, 0x3a, 0x6b, 0xa0, 0xab, 0x90, 0xf4, 0xff,
        ];
        let mut out = Vec::new();
        decode(&enc, &mut out, 64).unwrap();
        assert_eq!(out, b"www.example.com");
    }

    #[test]
    fn bad_padding_eos_and_length_are_errors() {
        let mut out = Vec::new();
        // Eight bits of ones: padding longer than 7 bits.
        assert_eq!(decode(&[0xff], &mut out, 64), Err(HuffmanError::BadPadding));
        // 'a' (00011) padded with zeros.
        assert_eq!(decode(&[0x18], &mut out, 64), Err(HuffmanError::BadPadding));
        // EOS: 30 ones, then padding.
        assert_eq!(
            decode(&[0xff, 0xff, 0xff, 0xff], &mut out, 64),
            Err(HuffmanError::Eos)
        );
        out.clear();
        assert_eq!(
            decode(&encode(b"abcdef"), &mut out, 3),
            Err(HuffmanError::TooLong)
        );
        assert!(out.len() <= 3);
    }
}
