//! gRPC's length-prefixed messages (PROTOCOL-HTTP2.md "Length-Prefixed-Message": a compressed
//! flag byte, a 4-byte big-endian length, the message): counted as body bytes arrive on the
//! count path, and split out of a kept body prefix for the learn path.

/// Bytes of a message prefix.
const PREFIX: usize = 5;

/// The count path's reader of one direction's messages: five bytes of state, no copy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Frames {
    head: [u8; PREFIX],
    /// Prefix bytes collected of the next message.
    have: u8,
    /// Bytes of the current message still to come.
    remaining: u64,
    /// Messages whose prefix was read.
    pub messages: u64,
    /// Of those, with the compressed flag set.
    pub compressed: u64,
    /// A flag byte other than 0 or 1: not gRPC framing; nothing more is counted.
    pub broken: bool,
    /// Bytes were pushed (the count path saw the body).
    pub fed: bool,
}

impl Frames {
    /// The next body bytes, in order.
    pub fn push(&mut self, mut bytes: &[u8]) {
        self.fed = true;
        while !bytes.is_empty() && !self.broken {
            if self.remaining > 0 {
                let take = usize::try_from(self.remaining)
                    .unwrap_or(usize::MAX)
                    .min(bytes.len());
                self.remaining -= take as u64;
                bytes = bytes.get(take..).unwrap_or_default();
                continue;
            }
            let need = PREFIX - usize::from(self.have);
            let take = need.min(bytes.len());
            let start = usize::from(self.have);
            if let (Some(dst), Some(src)) =
                (self.head.get_mut(start..start + take), bytes.get(..take))
            {
                dst.copy_from_slice(src);
            }
            self.have += take as u8;
            bytes = bytes.get(take..).unwrap_or_default();
            if usize::from(self.have) == PREFIX {
                self.have = 0;
                let [flag, a, b, c, d] = self.head;
                if flag > 1 {
                    self.broken = true;
                    return;
                }
                self.messages += 1;
                self.compressed += u64::from(flag);
                self.remaining = u64::from(u32::from_be_bytes([a, b, c, d]));
            }
        }
    }
}

/// One message split out of a body: its compressed flag and its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message<'a> {
    pub compressed: bool,
    pub bytes: &'a [u8],
}

/// The whole messages at the start of `body`; a message cut short by the end of the bytes (a
/// sample cap) or a broken prefix ends the iteration.
pub fn messages(body: &[u8]) -> impl Iterator<Item = Message<'_>> + '_ {
    let mut rest = body;
    std::iter::from_fn(move || {
        let (&flag, after) = rest.split_first()?;
        let len: [u8; 4] = after.get(..4)?.try_into().ok()?;
        let len = usize::try_from(u32::from_be_bytes(len)).ok()?;
        let bytes = after.get(4..4usize.checked_add(len)?)?;
        if flag > 1 {
            return None;
        }
        rest = after.get(4 + len..).unwrap_or_default();
        Some(Message {
            compressed: flag == 1,
            bytes,
        })
    })
}

/// A gzip-compressed message inflated to at most `max` bytes; `None` when it is not gzip or
/// inflates past `max` (a message cut at the cap would not parse whole anyway).
pub fn gunzip(bytes: &[u8], max: usize) -> Option<Vec<u8>> {
    use std::io::Read;
    let mut out = Vec::new();
    let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    flate2::read::GzDecoder::new(bytes)
        .take(limit)
        .read_to_end(&mut out)
        .ok()?;
    (out.len() <= max).then_some(out)
}

/// A length-prefixed message (tests build bodies with it).
#[cfg(test)]
pub(crate) fn frame(flag: u8, msg: &[u8]) -> Vec<u8> {
    let mut v = vec![flag];
    v.extend_from_slice(&(msg.len() as u32).to_be_bytes());
    v.extend_from_slice(msg);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_messages_at_every_split() {
        let mut body = frame(0, b"\x0a\x03abc");
        body.extend(frame(1, b"zzzz"));
        body.extend(frame(0, b""));
        for cut in 0..=body.len() {
            let mut f = Frames::default();
            f.push(&body[..cut]);
            f.push(&body[cut..]);
            assert_eq!((f.messages, f.compressed, f.broken), (3, 1, false), "{cut}");
        }
        let whole: Vec<_> = messages(&body).collect();
        assert_eq!(whole.len(), 3);
        assert_eq!(whole[0].bytes, b"\x0a\x03abc");
        assert!(whole[1].compressed);
        // A message cut short is not handed out.
        assert_eq!(messages(&body[..body.len() - 6]).count(), 1);
    }

    #[test]
    fn a_bad_flag_stops_counting() {
        let mut f = Frames::default();
        f.push(b"\x07\0\0\0\x01a\0\0\0\0\0");
        assert!(f.broken);
        assert_eq!(f.messages, 0);
        assert_eq!(messages(b"\x07\0\0\0\x01a").count(), 0);
        // A huge declared length is skipped lazily, never allocated.
        let mut f = Frames::default();
        f.push(b"\0\xff\xff\xff\xffabc");
        assert_eq!((f.messages, f.remaining), (1, 0xffff_ffff - 3));
        assert_eq!(messages(b"\0\xff\xff\xff\xffabc").count(), 0);
    }

    #[test]
    fn gzip_is_inflated_within_the_bound() {
        use std::io::Write;
        let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(&[b'a'; 10_000]).unwrap();
        let packed = z.finish().unwrap();
        assert_eq!(gunzip(&packed, 10_000).map(|v| v.len()), Some(10_000));
        assert_eq!(gunzip(&packed, 9_999), None);
        assert_eq!(gunzip(b"not gzip", 100), None);
        assert_eq!(gunzip(&packed[..packed.len() / 2], 10_000), None);
    }
}
