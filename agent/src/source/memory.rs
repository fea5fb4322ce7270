//! In-memory frames: a [`FrameSource`] over owned frames, for tests and for re-ordering captures.
//!
//! This is not a capture buffer for production use: every frame is an owned `Vec<u8>`.

use super::{Frame, FrameSource, LinkType, SourceError};
use analyzer::time::Timestamp;

/// A frame that owns its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedFrame {
    pub ts: Timestamp,
    pub link: LinkType,
    pub data: Vec<u8>,
    pub wire_len: u32,
}

impl OwnedFrame {
    /// A complete (not snaplen-cut) frame: `wire_len` is the data length.
    pub fn new(ts: Timestamp, link: LinkType, data: Vec<u8>) -> OwnedFrame {
        let wire_len = u32::try_from(data.len()).unwrap_or(u32::MAX);
        OwnedFrame {
            ts,
            link,
            data,
            wire_len,
        }
    }

    /// Copy a borrowed frame.
    pub fn from_frame(frame: &Frame<'_>) -> OwnedFrame {
        OwnedFrame {
            ts: frame.ts,
            link: frame.link,
            data: frame.data.to_vec(),
            wire_len: frame.wire_len,
        }
    }

    /// Borrow as a [`Frame`].
    pub fn as_frame(&self) -> Frame<'_> {
        Frame {
            ts: self.ts,
            link: self.link,
            data: &self.data,
            wire_len: self.wire_len,
        }
    }
}

/// Frames from a `Vec`, in order.
#[derive(Debug, Clone)]
pub struct MemorySource {
    frames: Vec<OwnedFrame>,
    next: usize,
    bytes: u64,
}

impl MemorySource {
    pub fn new(frames: Vec<OwnedFrame>) -> MemorySource {
        MemorySource {
            frames,
            next: 0,
            bytes: 0,
        }
    }
}

impl FrameSource for MemorySource {
    fn next_frame(&mut self) -> Result<Option<Frame<'_>>, SourceError> {
        let Some(frame) = self.frames.get(self.next) else {
            return Ok(None);
        };
        self.next += 1;
        self.bytes += frame.data.len() as u64;
        Ok(Some(frame.as_frame()))
    }

    /// Sum of the data lengths of the frames returned so far.
    fn bytes_consumed(&self) -> u64 {
        self.bytes
    }

    fn name(&self) -> &str {
        "memory"
    }
}

/// Read every frame of a source into memory (tests, small captures). Stops at the first error.
pub fn read_all(src: &mut dyn FrameSource) -> Result<Vec<OwnedFrame>, SourceError> {
    let mut out = Vec::new();
    while let Some(frame) = src.next_frame()? {
        out.push(OwnedFrame::from_frame(&frame));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_source_yields_frames_in_order_then_none() {
        let frames = vec![
            OwnedFrame::new(Timestamp(1), LinkType::RawIp, vec![1, 2, 3]),
            OwnedFrame::new(Timestamp(2), LinkType::Ethernet, vec![4]),
        ];
        let mut src = MemorySource::new(frames.clone());
        let got = read_all(&mut src).expect("memory never fails");
        assert_eq!(got, frames);
        assert_eq!(src.bytes_consumed(), 4);
        assert!(src.next_frame().expect("no error").is_none());
        assert_eq!(src.name(), "memory");
    }
}
