//! HTTP/2 frames (RFC 9113 section 4) read from one direction of a reassembled stream.
//!
//! [`FrameReader`] is a push parser: bytes in any split, events out. DATA payloads are handed
//! on in pieces as they arrive, with padding stripped, and are never buffered; the payloads of
//! the other frame types the session needs (HEADERS, CONTINUATION, RST_STREAM, SETTINGS,
//! GOAWAY, PUSH_PROMISE) are buffered whole up to a cap, beyond which the frame is reported
//! `truncated` and the rest skipped. PING, PRIORITY, WINDOW_UPDATE and unknown types are
//! skipped without buffering (section 4.1: unknown types are ignored).

/// The client connection preface (section 3.4).
pub const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
pub const HEADER_LEN: usize = 9;

pub const DATA: u8 = 0x0;
pub const HEADERS: u8 = 0x1;
pub const PRIORITY: u8 = 0x2;
pub const RST_STREAM: u8 = 0x3;
pub const SETTINGS: u8 = 0x4;
pub const PUSH_PROMISE: u8 = 0x5;
pub const GOAWAY: u8 = 0x7;
pub const CONTINUATION: u8 = 0x9;

pub const FLAG_END_STREAM: u8 = 0x1;
pub const FLAG_END_HEADERS: u8 = 0x4;
pub const FLAG_PADDED: u8 = 0x8;
pub const FLAG_PRIORITY: u8 = 0x20;

/// The 9-byte frame header (section 4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    pub len: u32,
    pub kind: u8,
    pub flags: u8,
    /// Stream identifier, reserved bit cleared.
    pub stream: u32,
}

impl FrameHeader {
    pub fn parse(b: &[u8; HEADER_LEN]) -> FrameHeader {
        FrameHeader {
            len: u32::from_be_bytes([0, b[0], b[1], b[2]]),
            kind: b[3],
            flags: b[4],
            stream: u32::from_be_bytes([b[5], b[6], b[7], b[8]]) & 0x7fff_ffff,
        }
    }

    pub fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }

    /// Frame types whose payload the session reads.
    fn kept(&self) -> bool {
        matches!(
            self.kind,
            HEADERS | CONTINUATION | RST_STREAM | SETTINGS | GOAWAY | PUSH_PROMISE
        )
    }
}

/// What the reader found, in stream order.
#[derive(Debug, PartialEq, Eq)]
pub enum FrameEvent<'a> {
    /// A whole frame of a kept type. `payload` is cut at the cap when `truncated`.
    Frame {
        header: FrameHeader,
        payload: &'a [u8],
        truncated: bool,
    },
    /// Content bytes of a DATA frame (padding removed), in order.
    Data { stream: u32, bytes: &'a [u8] },
    /// A DATA frame ended. `malformed`: its padding length exceeded the frame.
    DataEnd {
        stream: u32,
        end_stream: bool,
        malformed: bool,
    },
    /// A frame of a type the session does not read was skipped.
    Skipped { header: FrameHeader },
    /// A frame longer than the receiver allows (section 4.2, FRAME_SIZE_ERROR): the
    /// connection is broken, or was never HTTP/2. Nothing more is read.
    Oversized { header: FrameHeader },
}

#[derive(Debug)]
enum State {
    Header,
    /// Inside a kept frame's payload.
    Kept {
        header: FrameHeader,
        left: u32,
    },
    /// Inside a DATA frame: `pad_len` is read first when padded.
    Data {
        header: FrameHeader,
        need_pad_len: bool,
        data_left: u32,
        pad_left: u32,
        malformed: bool,
    },
    Skip {
        header: FrameHeader,
        left: u32,
    },
    /// After an oversized frame: every byte is ignored.
    Dead,
}

/// Counters of frame reading.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FrameStats {
    pub frames: u64,
    pub data_bytes: u64,
    /// Kept frames cut at the payload cap.
    pub truncated_frames: u64,
    /// Frames of types the session does not read (PING, WINDOW_UPDATE, PRIORITY, unknown).
    pub skipped_frames: u64,
    /// Frames whose padding length exceeded the payload (section 6.1: a connection error).
    pub bad_padding: u64,
}

impl FrameStats {
    pub fn add(&mut self, o: &FrameStats) {
        self.frames += o.frames;
        self.data_bytes += o.data_bytes;
        self.truncated_frames += o.truncated_frames;
        self.skipped_frames += o.skipped_frames;
        self.bad_padding += o.bad_padding;
    }
}

/// One direction's frame parser; see the module docs.
#[derive(Debug)]
pub struct FrameReader {
    head: [u8; HEADER_LEN],
    have: usize,
    state: State,
    payload: Vec<u8>,
    /// Payload bytes of a kept frame buffered at most.
    max_payload: usize,
    /// SETTINGS_MAX_FRAME_SIZE of the receiving side (section 6.5.2).
    max_frame: u32,
    pub stats: FrameStats,
}

/// SETTINGS_MAX_FRAME_SIZE before any SETTINGS, and its bounds (RFC 9113 section 6.5.2).
pub const DEFAULT_MAX_FRAME: u32 = 16_384;
const LARGEST_MAX_FRAME: u32 = (1 << 24) - 1;

impl FrameReader {
    pub fn new(max_payload: usize) -> FrameReader {
        FrameReader {
            head: [0; HEADER_LEN],
            have: 0,
            state: State::Header,
            payload: Vec::new(),
            max_payload,
            max_frame: DEFAULT_MAX_FRAME,
            stats: FrameStats::default(),
        }
    }

    /// The receiver announced SETTINGS_MAX_FRAME_SIZE (values outside the legal range are
    /// ignored, as the receiver would be in error).
    pub fn set_max_frame(&mut self, value: u32) {
        if (DEFAULT_MAX_FRAME..=LARGEST_MAX_FRAME).contains(&value) {
            self.max_frame = value;
        }
    }

    /// Bytes held for an unfinished frame.
    pub fn buffered(&self) -> usize {
        self.payload.len() + self.have
    }

    /// Read `input`, calling `on` for each event.
    pub fn feed(&mut self, mut input: &[u8], on: &mut dyn FnMut(FrameEvent<'_>)) {
        while !input.is_empty() || self.zero_left() {
            match &mut self.state {
                State::Dead => return,
                State::Header => {
                    let take = (HEADER_LEN - self.have).min(input.len());
                    let (now, rest) = input.split_at(take);
                    self.head[self.have..self.have + take].copy_from_slice(now);
                    self.have += take;
                    input = rest;
                    if self.have == HEADER_LEN {
                        self.have = 0;
                        let header = FrameHeader::parse(&self.head);
                        if header.len > self.max_frame {
                            self.state = State::Dead;
                            on(FrameEvent::Oversized { header });
                            return;
                        }
                        self.start(header);
                    }
                }
                State::Kept { header, left } => {
                    let take = (*left as usize).min(input.len());
                    let (now, rest) = input.split_at(take);
                    let room = self.max_payload.saturating_sub(self.payload.len());
                    self.payload
                        .extend_from_slice(now.get(..room.min(now.len())).unwrap_or_default());
                    *left -= take as u32;
                    input = rest;
                    if *left == 0 {
                        let header = *header;
                        let truncated = self.payload.len() < header.len as usize;
                        if truncated {
                            self.stats.truncated_frames += 1;
                        }
                        on(FrameEvent::Frame {
                            header,
                            payload: &self.payload,
                            truncated,
                        });
                        self.payload.clear();
                        self.state = State::Header;
                    }
                }
                State::Data {
                    header,
                    need_pad_len,
                    data_left,
                    pad_left,
                    malformed,
                } => {
                    if *need_pad_len {
                        if let Some((&pad, rest)) = input.split_first() {
                            input = rest;
                            *need_pad_len = false;
                            let body = header.len.saturating_sub(1);
                            if u32::from(pad) > body {
                                *malformed = true;
                                self.stats.bad_padding += 1;
                                *pad_left = body;
                                *data_left = 0;
                            } else {
                                *pad_left = u32::from(pad);
                                *data_left = body - u32::from(pad);
                            }
                        }
                        continue;
                    }
                    if *data_left > 0 {
                        let take = (*data_left as usize).min(input.len());
                        let (now, rest) = input.split_at(take);
                        *data_left -= take as u32;
                        input = rest;
                        self.stats.data_bytes += take as u64;
                        on(FrameEvent::Data {
                            stream: header.stream,
                            bytes: now,
                        });
                        continue;
                    }
                    let take = (*pad_left as usize).min(input.len());
                    *pad_left -= take as u32;
                    input = input.get(take..).unwrap_or_default();
                    if *pad_left == 0 {
                        on(FrameEvent::DataEnd {
                            stream: header.stream,
                            end_stream: header.has(FLAG_END_STREAM),
                            malformed: *malformed,
                        });
                        self.state = State::Header;
                    }
                }
                State::Skip { header, left } => {
                    let take = (*left as usize).min(input.len());
                    *left -= take as u32;
                    input = input.get(take..).unwrap_or_default();
                    if *left == 0 {
                        on(FrameEvent::Skipped { header: *header });
                        self.state = State::Header;
                    }
                }
            }
        }
    }

    /// A frame (or its remaining part) of zero length finishes without more input.
    fn zero_left(&self) -> bool {
        match &self.state {
            State::Header | State::Dead => false,
            State::Kept { left, .. } | State::Skip { left, .. } => *left == 0,
            State::Data {
                need_pad_len,
                data_left,
                pad_left,
                ..
            } => !*need_pad_len && *data_left == 0 && *pad_left == 0,
        }
    }

    fn start(&mut self, header: FrameHeader) {
        self.stats.frames += 1;
        self.payload.clear();
        self.state = if header.kind == DATA {
            let padded = header.has(FLAG_PADDED) && header.len > 0;
            State::Data {
                header,
                need_pad_len: padded,
                data_left: if padded { 0 } else { header.len },
                pad_left: 0,
                malformed: header.has(FLAG_PADDED) && header.len == 0,
            }
        } else if header.kept() {
            State::Kept {
                header,
                left: header.len,
            }
        } else {
            self.stats.skipped_frames += 1;
            State::Skip {
                header,
                left: header.len,
            }
        };
    }
}

/// A HEADERS or PUSH_PROMISE payload without padding and priority fields: the header block
/// fragment (sections 6.2 and 6.6). `None` when the padding exceeds the payload.
pub fn block_fragment<'a>(header: &FrameHeader, payload: &'a [u8]) -> Option<&'a [u8]> {
    let mut p = payload;
    let mut pad = 0usize;
    if header.has(FLAG_PADDED) {
        let (&n, rest) = p.split_first()?;
        pad = usize::from(n);
        p = rest;
    }
    if header.kind == HEADERS && header.has(FLAG_PRIORITY) {
        p = p.get(5..)?;
    }
    if header.kind == PUSH_PROMISE {
        p = p.get(4..)?;
    }
    p.get(..p.len().checked_sub(pad)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let len = payload.len() as u32;
        let mut f = len.to_be_bytes()[1..].to_vec();
        f.extend_from_slice(&[kind, flags]);
        f.extend_from_slice(&stream.to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    /// Events of `input` fed in the given pieces, DATA pieces merged per frame.
    fn events(input: &[u8], cuts: &[usize]) -> Vec<String> {
        let mut r = FrameReader::new(32);
        let mut out: Vec<String> = Vec::new();
        let mut data = Vec::new();
        let mut last = 0;
        for &c in cuts.iter().chain(std::iter::once(&input.len())) {
            r.feed(&input[last..c], &mut |e| match e {
                FrameEvent::Data { bytes, .. } => data.extend_from_slice(bytes),
                FrameEvent::DataEnd {
                    stream,
                    end_stream,
                    malformed,
                } => {
                    out.push(format!(
                        "data {stream} {:?} end={end_stream} bad={malformed}",
                        String::from_utf8_lossy(&data)
                    ));
                    data.clear();
                }
                other => out.push(format!("{other:?}")),
            });
            last = c;
        }
        out
    }

    fn sample() -> Vec<u8> {
        let mut s = Vec::new();
        s.extend(frame(SETTINGS, 0, 0, &[0, 1, 0, 0, 0x10, 0]));
        s.extend(frame(
            HEADERS,
            FLAG_END_HEADERS | FLAG_PADDED,
            1,
            b"\x02\x82\x84\0\0",
        ));
        s.extend(frame(DATA, 0, 1, b"hello"));
        s.extend(frame(
            DATA,
            FLAG_PADDED | FLAG_END_STREAM,
            1,
            b"\x03abc\0\0\0",
        ));
        s.extend(frame(0x6, 0, 0, &[0; 8])); // PING
        s.extend(frame(DATA, FLAG_END_STREAM, 3, b""));
        s.extend(frame(DATA, FLAG_PADDED, 3, b"\x09xy"));
        s.extend(frame(GOAWAY, 0, 0, &[0u8; 40]));
        s
    }

    #[test]
    fn frames_split_at_every_offset_read_the_same() {
        let input = sample();
        let whole = events(&input, &[]);
        assert_eq!(whole.len(), 8, "{whole:#?}");
        assert!(whole[2].starts_with("data 1 \"hello\" end=false"));
        assert!(whole[3].starts_with("data 1 \"abc\" end=true bad=false"));
        assert!(whole[5].starts_with("data 3 \"\" end=true"));
        assert!(whole[6].contains("bad=true"), "{}", whole[6]);
        assert!(whole[7].contains("truncated: true"), "{}", whole[7]);
        for i in 0..=input.len() {
            assert_eq!(events(&input, &[i]), whole, "split at {i}");
        }
        let bytewise: Vec<usize> = (1..input.len()).collect();
        assert_eq!(events(&input, &bytewise), whole);
    }

    #[test]
    fn oversized_frame_stops_the_reader() {
        let mut r = FrameReader::new(32);
        let mut input = b"\x00\x40\x01\x00\x00\x00\x00\x00\x01".to_vec(); // 16385 bytes
        input.extend_from_slice(&[0; 64]);
        let mut seen = Vec::new();
        r.feed(&input, &mut |e| seen.push(format!("{e:?}")));
        assert_eq!(seen.len(), 1);
        assert!(seen[0].starts_with("Oversized"));
        r.feed(&input, &mut |e| seen.push(format!("{e:?}")));
        assert_eq!(seen.len(), 1);
        // After SETTINGS_MAX_FRAME_SIZE = 32768 the same frame is fine.
        let mut r = FrameReader::new(32);
        r.set_max_frame(32_768);
        let mut later = Vec::new();
        r.feed(&input, &mut |e| later.push(format!("{e:?}")));
        assert_eq!(later.len(), 1);
        assert!(later[0].starts_with("Data"), "{later:?}");
    }

    #[test]
    fn block_fragment_strips_padding_and_priority() {
        let h = |kind, flags| FrameHeader {
            len: 0,
            kind,
            flags,
            stream: 1,
        };
        assert_eq!(
            block_fragment(&h(HEADERS, FLAG_PADDED), b"\x02\x82\x84\0\0"),
            Some(&b"\x82\x84"[..])
        );
        assert_eq!(
            block_fragment(&h(HEADERS, FLAG_PRIORITY), b"\0\0\0\x03\x10\x82"),
            Some(&b"\x82"[..])
        );
        assert_eq!(block_fragment(&h(HEADERS, FLAG_PADDED), b"\x09\x82"), None);
        assert_eq!(
            block_fragment(&h(PUSH_PROMISE, 0), b"\0\0\0\x02\x82"),
            Some(&b"\x82"[..])
        );
    }
}
