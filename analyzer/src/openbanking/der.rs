//! Just enough DER (ITU-T X.690) for the ETSI TS 119 495 PSD2 QCStatement: reading the
//! tag-length-value elements of an extension value, and writing them (tests and the demo
//! generator build certificates with the statement).
//!
//! Not a general ASN.1 library: single-byte tags only (the statement uses none above 30),
//! definite lengths of at most 4 length bytes. Anything else reads as `None`, never a panic.

/// SEQUENCE, OBJECT IDENTIFIER, UTF8String, PrintableString (X.690 8.9, 8.19; X.680 41).
pub const SEQUENCE: u8 = 0x30;
pub const OID: u8 = 0x06;
pub const UTF8_STRING: u8 = 0x0c;
pub const PRINTABLE_STRING: u8 = 0x13;

/// One element: its tag byte and content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tlv<'a> {
    pub tag: u8,
    pub content: &'a [u8],
}

/// The first element of `input` and what follows it.
pub fn read(input: &[u8]) -> Option<(Tlv<'_>, &[u8])> {
    let (&tag, rest) = input.split_first()?;
    // X.690 8.1.2.4: 0x1f in the low bits starts a multi-byte tag.
    if tag & 0x1f == 0x1f {
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        // X.690 8.1.3.5: long form; 0x80 alone is the indefinite form DER forbids.
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let (bytes, rest) = rest.split_at(n);
        let len = bytes
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, rest)
    };
    if rest.len() < len {
        return None;
    }
    let (content, rest) = rest.split_at(len);
    Some((Tlv { tag, content }, rest))
}

/// Every element of `input` in order (stops at the first malformed one).
pub fn elements(mut input: &[u8]) -> impl Iterator<Item = Tlv<'_>> {
    std::iter::from_fn(move || {
        let (tlv, rest) = read(input)?;
        input = rest;
        Some(tlv)
    })
}

/// The content bytes of an OBJECT IDENTIFIER with these arcs (X.690 8.19): what an OID
/// element's content is compared with.
pub fn oid_content(arcs: &[u64]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut push = |mut v: u64| {
        let mut bytes = vec![(v & 0x7f) as u8];
        v >>= 7;
        while v > 0 {
            bytes.push((v & 0x7f) as u8 | 0x80);
            v >>= 7;
        }
        out.extend(bytes.iter().rev());
    };
    match arcs {
        [a, b, rest @ ..] => {
            push(a * 40 + b);
            rest.iter().for_each(|v| push(*v));
        }
        [a] => push(a * 40),
        [] => {}
    }
    out
}

/// A DER element with `tag` around `content`.
pub fn encode(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oid_content_matches_x690_examples() {
        // 1.3.6.1.5.5.7.1.3 (id-pe-qcStatements) as every certificate carries it.
        assert_eq!(
            oid_content(&[1, 3, 6, 1, 5, 5, 7, 1, 3]),
            [0x2b, 6, 1, 5, 5, 7, 1, 3]
        );
        // 0.4.0.19495.2: 19495 = 1*128^2 + 24*128 + 39.
        assert_eq!(
            oid_content(&[0, 4, 0, 19495, 2]),
            [4, 0, 0x81, 0x98, 0x27, 2]
        );
    }

    #[test]
    fn round_trips_short_and_long_lengths() {
        for n in [0usize, 1, 127, 128, 300, 70_000] {
            let content = vec![7u8; n];
            let enc = encode(SEQUENCE, &content);
            let (tlv, rest) = read(&enc).unwrap();
            assert_eq!((tlv.tag, tlv.content.len(), rest.len()), (SEQUENCE, n, 0));
        }
    }

    #[test]
    fn malformed_input_reads_as_none() {
        for bad in [
            &[][..],
            &[0x30],
            &[0x30, 0x05, 1, 2],
            &[0x30, 0x80],
            &[0x30, 0x85, 1, 1, 1, 1, 1],
            &[0x1f, 0x01, 0x00],
            &[0x30, 0x84, 0xff, 0xff, 0xff, 0xff],
        ] {
            assert!(read(bad).is_none(), "{bad:?}");
        }
        assert_eq!(elements(&[0x05, 0x00, 0x30]).count(), 1);
    }
}
