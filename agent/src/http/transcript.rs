//! Test support: HTTP transcripts (`fixtures/http/*.t`) and their replay through
//! [`HttpConnection`] without TCP.
//!
//! Format (see `fixtures/http/README.md` for the full rules): `>>>` starts client bytes, `<<<`
//! server bytes, `--- gap N` is a hole of N bytes and `--- end` a FIN in the current direction,
//! `--- overlap` a conflicting retransmission. Lines in between are literal and end in CRLF
//! (LF with `# bare-lf`); a line ending in `\` gets no line end. Leading `#` lines are comments
//! or directives.
//!
//! [`replay_all`] runs one transcript whole, byte by byte, and split at every offset of every
//! chunk, and asserts every run produced the same exchanges (one expectation, every
//! configuration, as in ripgrep's `testutil`).

use super::{HttpConnection, HttpCtx, HttpLimits, HttpStats, Recorder};
use crate::flow::{CloseReason, ConnInfo, Dir, Interest, StreamEvent, StreamHandler};
use analyzer::exchange::HttpExchange;
use analyzer::time::Timestamp;

/// First event's timestamp; each transcript step is 1 ms later than the previous one.
pub(crate) const T0: i64 = 1_700_000_000_000_000;
pub(crate) const STEP_MICROS: i64 = 1_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    Data(Dir, Vec<u8>),
    Gap(Dir, u64),
    End(Dir),
    Overlap(Dir),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Transcript {
    pub steps: Vec<Step>,
    pub orientation_known: bool,
}

impl Default for Transcript {
    fn default() -> Self {
        Transcript {
            steps: Vec::new(),
            orientation_known: true,
        }
    }
}

impl Transcript {
    /// Parse the `.t` text.
    pub(crate) fn parse(text: &str) -> Transcript {
        let mut t = Transcript::default();
        let bare_lf = text
            .lines()
            .take_while(|l| l.starts_with('#'))
            .any(|l| l.trim() == "# bare-lf");
        t.orientation_known = !text
            .lines()
            .take_while(|l| l.starts_with('#'))
            .any(|l| l.trim() == "# orientation-unknown");
        let eol: &[u8] = if bare_lf { b"\n" } else { b"\r\n" };
        let mut dir: Option<Dir> = None;
        let mut data: Vec<u8> = Vec::new();
        let mut in_header = true;
        let flush = |t: &mut Transcript, dir: Option<Dir>, data: &mut Vec<u8>| {
            if let (Some(d), false) = (dir, data.is_empty()) {
                t.steps.push(Step::Data(d, std::mem::take(data)));
            }
        };
        for line in text.split_inclusive('\n') {
            let content = line.strip_suffix('\n').unwrap_or(line);
            if in_header && content.starts_with('#') {
                continue;
            }
            in_header = false;
            if content.starts_with(">>>") || content.starts_with("<<<") {
                flush(&mut t, dir, &mut data);
                dir = Some(if content.starts_with(">>>") {
                    Dir::ToServer
                } else {
                    Dir::ToClient
                });
                continue;
            }
            if let Some(cmd) = content.strip_prefix("--- ") {
                flush(&mut t, dir, &mut data);
                let d = dir.unwrap_or(Dir::ToServer);
                let mut words = cmd.split_whitespace();
                match (
                    words.next(),
                    words.next().and_then(|n| n.parse::<u64>().ok()),
                ) {
                    (Some("gap"), Some(n)) => t.steps.push(Step::Gap(d, n)),
                    (Some("end"), _) => t.steps.push(Step::End(d)),
                    (Some("overlap"), _) => t.steps.push(Step::Overlap(d)),
                    _ => panic!("bad transcript directive {content:?}"),
                }
                continue;
            }
            if dir.is_none() {
                continue;
            }
            match content.strip_suffix('\\') {
                Some(no_eol) => data.extend_from_slice(no_eol.as_bytes()),
                None => {
                    data.extend_from_slice(content.as_bytes());
                    if line.ends_with('\n') {
                        data.extend_from_slice(eol);
                    }
                }
            }
        }
        flush(&mut t, dir, &mut data);
        t
    }

    /// Load `fixtures/http/<name>`.
    pub(crate) fn load(name: &str) -> Transcript {
        let path = format!("{}/../fixtures/http/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        Transcript::parse(&text)
    }

    pub(crate) fn client(mut self, bytes: impl AsRef<[u8]>) -> Self {
        self.steps
            .push(Step::Data(Dir::ToServer, bytes.as_ref().to_vec()));
        self
    }

    pub(crate) fn server(mut self, bytes: impl AsRef<[u8]>) -> Self {
        self.steps
            .push(Step::Data(Dir::ToClient, bytes.as_ref().to_vec()));
        self
    }

    pub(crate) fn step(mut self, step: Step) -> Self {
        self.steps.push(step);
        self
    }
}

/// How data steps are cut into `Data` events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Split {
    Whole,
    ByteByByte,
    /// Data step `step` is cut in two at `offset`; the others stay whole.
    At {
        step: usize,
        offset: usize,
    },
}

/// What one replay produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Outcome {
    pub exchanges: Vec<HttpExchange>,
    /// Interim responses counted on each exchange, in the same order.
    pub interim: Vec<u16>,
    pub stats: HttpStats,
    /// Whether the handler asked to stop before the close.
    pub stopped: bool,
}

pub(crate) fn addrs() -> (std::net::SocketAddr, std::net::SocketAddr) {
    (
        std::net::SocketAddr::from(([10, 0, 0, 1], 40000)),
        std::net::SocketAddr::from(([10, 0, 0, 2], 8080)),
    )
}

/// Replay `t` once. `check` sees the connection after every event (cap assertions).
pub(crate) fn replay_with(
    t: &Transcript,
    split: Split,
    limits: &HttpLimits,
    check: &mut dyn FnMut(&HttpConnection<Recorder>, &HttpLimits),
) -> Outcome {
    let mut ctx = HttpCtx::new(limits.clone(), Recorder::default());
    let (client, server) = addrs();
    let info = ConnInfo {
        client,
        server,
        started: Timestamp(T0),
        orientation_known: t.orientation_known,
    };
    let mut conn = HttpConnection::open(&info, &mut ctx);
    let mut stopped = false;
    let mut ts = T0;
    let mut deliver = |conn: &mut HttpConnection<Recorder>,
                       ctx: &mut HttpCtx<Recorder>,
                       ev: StreamEvent<'_>,
                       stopped: &mut bool| {
        if *stopped {
            return;
        }
        if conn.on_event(ev, ctx) == Interest::Stop {
            *stopped = true;
        }
        check(conn, &ctx.limits);
    };
    for (i, step) in t.steps.iter().enumerate() {
        let now = Timestamp(ts);
        match step {
            Step::Data(dir, bytes) => {
                // Cut points as (start, end) pairs.
                let cut = |bytes: &[u8]| -> Vec<(usize, usize)> {
                    match split {
                        Split::Whole => vec![(0, bytes.len())],
                        Split::ByteByByte => (0..bytes.len()).map(|i| (i, i + 1)).collect(),
                        Split::At { step, offset } if step == i && offset < bytes.len() => {
                            vec![(0, offset), (offset, bytes.len())]
                        }
                        Split::At { .. } => vec![(0, bytes.len())],
                    }
                };
                for (a, b) in cut(bytes) {
                    let piece = bytes.get(a..b).unwrap_or_default();
                    deliver(
                        &mut conn,
                        &mut ctx,
                        StreamEvent::Data {
                            dir: *dir,
                            ts: now,
                            bytes: piece,
                        },
                        &mut stopped,
                    );
                }
            }
            Step::Gap(dir, len) => deliver(
                &mut conn,
                &mut ctx,
                StreamEvent::Gap {
                    dir: *dir,
                    ts: now,
                    len: *len,
                },
                &mut stopped,
            ),
            Step::End(dir) => deliver(
                &mut conn,
                &mut ctx,
                StreamEvent::End { dir: *dir, ts: now },
                &mut stopped,
            ),
            Step::Overlap(dir) => deliver(
                &mut conn,
                &mut ctx,
                StreamEvent::OverlapConflict { dir: *dir, ts: now },
                &mut stopped,
            ),
        }
        ts += STEP_MICROS;
    }
    let was_stopped = stopped;
    // The flow table always delivers Close, also after Stop.
    let _ = conn.on_event(
        StreamEvent::Close {
            ts: Timestamp(ts),
            reason: CloseReason::Finished,
        },
        &mut ctx,
    );
    check(&conn, &ctx.limits);
    Outcome {
        exchanges: ctx.sink.exchanges,
        interim: ctx.sink.interim,
        stats: ctx.stats,
        stopped: was_stopped,
    }
}

pub(crate) fn replay(t: &Transcript, split: Split, limits: &HttpLimits) -> Outcome {
    replay_with(t, split, limits, &mut |_, _| {})
}

/// Offsets to split a data step of `len` bytes at: all of them for small steps, an even
/// spread plus both ends for big, code-built ones.
fn offsets(len: usize) -> Vec<usize> {
    const ALL_UP_TO: usize = 4096;
    if len <= ALL_UP_TO {
        return (1..len).collect();
    }
    let mut v: Vec<usize> = (1..64).chain(len - 64..len).collect();
    v.extend((1..256).map(|k| k * len / 256));
    v.sort_unstable();
    v.dedup();
    v
}

/// Replay whole, byte by byte and split at every offset; all runs must agree. Returns the
/// whole-run outcome for the test's own assertions.
pub(crate) fn replay_all(t: &Transcript, limits: &HttpLimits) -> Outcome {
    let whole = replay(t, Split::Whole, limits);
    let bytewise = replay(t, Split::ByteByByte, limits);
    assert_eq!(
        whole.exchanges, bytewise.exchanges,
        "byte-by-byte replay differs"
    );
    assert_eq!(
        whole.stopped, bytewise.stopped,
        "byte-by-byte replay stopped differently"
    );
    for (i, step) in t.steps.iter().enumerate() {
        if let Step::Data(_, bytes) = step {
            for offset in offsets(bytes.len()) {
                let run = replay(t, Split::At { step: i, offset }, limits);
                assert_eq!(
                    whole.exchanges, run.exchanges,
                    "split of step {i} at offset {offset} differs"
                );
            }
        }
    }
    whole
}
