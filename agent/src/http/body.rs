//! Message body framing (RFC 9112 section 6): how long a body is, and transfer decoding of
//! `chunked` (RFC 9112 section 7.1).
//!
//! [`request_framing`] and [`response_framing`] apply the length rules of RFC 9112 section 6.3
//! in order and report smuggling signals as anomalies; [`BodyReader`] then consumes the body's
//! bytes as they arrive and hands the de-chunked payload to a callback (the chunk parser is in
//! `chunked.rs`). Content decoding lives in `decode.rs`.
//!
//! Requests are framed strictly (a server that disagrees with us about a request's length is
//! what smuggling is made of, and the anomaly flags say so). Responses are framed as a browser
//! reads them: `chunked` anywhere in any Transfer-Encoding field (also with HTTP/1.0, beside a
//! Content-Length, or in a repaired field) makes the body chunked if its first line is a chunk
//! size and leaves it as sent otherwise ([`FramingDecision::sniff`]); an unusable
//! Content-Length makes it run until the close. Each of these is flagged.

use super::chunked::{feed_chunked, Chunked, Sniff, Verdict, SNIFF_LEN};
use analyzer::exchange::{Anomaly, AnomalySet, HeaderLike, HttpVersion};

/// How a message body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// No body (requests without CL/TE; HEAD responses; 1xx, 204, 304).
    None,
    Length(u64),
    Chunked,
    /// Response body delimited by the server closing its side.
    UntilClose,
    /// 101 or a 2xx answer to CONNECT: the bytes that follow are not HTTP.
    Tunnel,
    /// The length cannot be determined; the parser must resync.
    Invalid,
}

/// A content coding the body decoder can undo (RFC 9110 section 8.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Coding {
    Gzip,
    Deflate,
    Brotli,
}

/// More stacked codings than this is treated as hostile and the body is kept raw.
pub(crate) const MAX_STACKED_CODINGS: usize = 4;

/// The codings applied to one body, in the order they were applied (Content-Encoding values,
/// then transfer codings other than the final chunked). No allocation: at most
/// [`MAX_STACKED_CODINGS`], beyond which (or on an unknown name) `unknown` is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Codings {
    list: [Option<Coding>; MAX_STACKED_CODINGS],
    len: usize,
    /// An unknown coding name, or too many codings: the body cannot be decoded.
    pub unknown: bool,
}

impl Codings {
    /// Add one coding by its name as sent (`identity` and empty names are no-ops).
    fn push_name(&mut self, name: &[u8]) {
        let coding = match name {
            b"" => return,
            n if n.eq_ignore_ascii_case(b"identity") => return,
            n if n.eq_ignore_ascii_case(b"gzip") || n.eq_ignore_ascii_case(b"x-gzip") => {
                Coding::Gzip
            }
            // `x-deflate`: the deflate alias browsers accept beside `x-gzip`.
            n if n.eq_ignore_ascii_case(b"deflate") || n.eq_ignore_ascii_case(b"x-deflate") => {
                Coding::Deflate
            }
            n if n.eq_ignore_ascii_case(b"br") => Coding::Brotli,
            _ => {
                self.unknown = true;
                return;
            }
        };
        match self.list.get_mut(self.len) {
            Some(slot) => {
                *slot = Some(coding);
                self.len += 1;
            }
            None => self.unknown = true,
        }
    }

    /// Codings by name, in the order they were applied (tests and `crate::fuzz`).
    pub fn from_names<'a>(names: impl IntoIterator<Item = &'a [u8]>) -> Codings {
        let mut c = Codings::default();
        names.into_iter().for_each(|n| c.push_name(n));
        c
    }

    /// The codings in the order they were applied.
    pub fn iter(&self) -> impl Iterator<Item = Coding> + '_ {
        self.list.iter().take(self.len).flatten().copied()
    }

    /// No coding to undo: the body on the wire is the content (what the prefilter can read).
    pub fn is_identity(&self) -> bool {
        self.len == 0 && !self.unknown
    }
}

/// The framing of one message plus what was odd about its headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FramingDecision {
    pub framing: Framing,
    pub flags: AnomalySet,
    pub codings: Codings,
    /// Responses only: the headers made chunked framing doubtful; the first body line decides
    /// (chunked, or as sent up to the Content-Length in `fallback` or the close).
    pub sniff: bool,
    /// The valid Content-Length beside a doubtful Transfer-Encoding.
    pub fallback: Option<u64>,
}

impl FramingDecision {
    /// `framing` with nothing odd and nothing to decode (HTTP/0.9 messages have no fields).
    pub fn plain(framing: Framing) -> FramingDecision {
        FramingDecision {
            framing,
            flags: AnomalySet::EMPTY,
            codings: Codings::default(),
            sniff: false,
            fallback: None,
        }
    }
}

/// The comma-separated items of every header named `name`, trimmed, empty ones skipped.
fn list_items<'a, H: HeaderLike>(
    headers: &'a [H],
    name: &'a str,
) -> impl Iterator<Item = &'a [u8]> + 'a {
    headers
        .iter()
        .filter(move |h| h.name().eq_ignore_ascii_case(name))
        .flat_map(|h| h.value().split(|&b| b == b','))
        .map(<[u8]>::trim_ascii)
        .filter(|v| !v.is_empty())
}

fn has_header<H: HeaderLike>(headers: &[H], name: &str) -> bool {
    headers.iter().any(|h| h.name().eq_ignore_ascii_case(name))
}

/// Content-Length per RFC 9112 section 6.3 rule 5 and RFC 9110 section 8.6: a list of identical
/// valid values is accepted as that value; differing values or a non-digit value invalidate
/// the framing.
fn content_length<H: HeaderLike>(headers: &[H], flags: &mut AnomalySet) -> Option<Result<u64, ()>> {
    let mut found: Option<u64> = None;
    let mut any = false;
    for h in headers
        .iter()
        .filter(|h| h.name().eq_ignore_ascii_case("content-length"))
    {
        for part in h.value().split(|&b| b == b',') {
            any = true;
            let text = part.trim_ascii();
            let valid = !text.is_empty() && text.iter().all(u8::is_ascii_digit);
            let value = if valid {
                std::str::from_utf8(text)
                    .ok()
                    .and_then(|t| t.parse::<u64>().ok())
                    // RFC 9110 section 8.6: a recipient must not overflow on large values. No
                    // real body exceeds 2^63 - 1 bytes; Zeek and others treat such a value as
                    // invalid, so a smuggled request behind it is parsed, not swallowed.
                    .filter(|v| i64::try_from(*v).is_ok())
            } else {
                None
            };
            let Some(value) = value else {
                flags.insert(Anomaly::InvalidContentLength);
                return Some(Err(()));
            };
            match found {
                Some(prev) if prev != value => {
                    flags.insert(Anomaly::ConflictingContentLength);
                    return Some(Err(()));
                }
                _ => found = Some(value),
            }
        }
    }
    match (any, found) {
        (false, _) => None,
        (true, Some(v)) => Some(Ok(v)),
        (true, None) => {
            flags.insert(Anomaly::InvalidContentLength);
            Some(Err(()))
        }
    }
}

/// Shared part of RFC 9112 section 6.3 rules 3 to 5 (Transfer-Encoding, Content-Length).
/// Returns `None` when neither header is present.
fn te_cl_framing<H: HeaderLike>(
    headers: &[H],
    version: HttpVersion,
    is_request: bool,
    d: &mut FramingDecision,
) -> Option<Framing> {
    if has_header(headers, "transfer-encoding") {
        // Rule 3: TE overrides CL; both present is a smuggling signal.
        if has_header(headers, "content-length") {
            d.flags.insert(Anomaly::ContentLengthWithTransferEncoding);
        }
        // RFC 9112 section 6.1: TE in an HTTP/1.0 message means faulty framing. We flag it and
        // still follow the coding, as the peer we observe evidently did something with it.
        if version != HttpVersion::Http11 {
            d.flags.insert(Anomaly::InvalidTransferEncoding);
        }
        // One pass: every item but the last is a coding applied before the final one.
        let mut last: Option<&[u8]> = None;
        let mut chunked_elsewhere = false;
        let mut before_last = Codings::default();
        for item in list_items(headers, "transfer-encoding") {
            if let Some(prev) = last.replace(item) {
                if prev.eq_ignore_ascii_case(b"chunked") {
                    chunked_elsewhere = true;
                } else {
                    before_last.push_name(prev);
                }
            }
        }
        let chunked_last = last.is_some_and(|c| c.eq_ignore_ascii_case(b"chunked"));
        if chunked_last && !chunked_elsewhere {
            d.codings.append(&before_last);
            return Some(Framing::Chunked);
        }
        // Rule 4: chunked not final. A request's length is then unknowable; a response
        // runs until the connection closes.
        d.flags.insert(Anomaly::InvalidTransferEncoding);
        if is_request {
            return Some(Framing::Invalid);
        }
        d.codings.append(&before_last);
        if let Some(l) = last.filter(|c| !c.eq_ignore_ascii_case(b"chunked")) {
            d.codings.push_name(l);
        }
        return Some(Framing::UntilClose);
    }
    match content_length(headers, &mut d.flags) {
        None => None,
        Some(Ok(n)) => Some(Framing::Length(n)),
        // Rule 5: an invalid Content-Length is an unrecoverable framing error.
        Some(Err(())) => Some(Framing::Invalid),
    }
}

impl Codings {
    fn append(&mut self, other: &Codings) {
        for c in other.iter() {
            match self.list.get_mut(self.len) {
                Some(slot) => {
                    *slot = Some(c);
                    self.len += 1;
                }
                None => self.unknown = true,
            }
        }
        self.unknown |= other.unknown;
    }
}

fn new_decision<H: HeaderLike>(headers: &[H]) -> FramingDecision {
    let mut d = FramingDecision::plain(Framing::None);
    for item in list_items(headers, "content-encoding") {
        d.codings.push_name(item);
    }
    d
}

/// Flag an unknown coding once the framing says there is a body: it will be kept as sent.
fn finish(mut d: FramingDecision) -> FramingDecision {
    let has_body = match d.framing {
        Framing::Length(n) => n > 0,
        Framing::Chunked | Framing::UntilClose => true,
        Framing::None | Framing::Tunnel | Framing::Invalid => false,
    };
    if d.codings.unknown && has_body {
        d.flags.insert(Anomaly::UnknownEncoding);
    }
    d
}

/// RFC 9112 section 6.3 for a request.
pub(crate) fn request_framing<H: HeaderLike>(
    headers: &[H],
    version: HttpVersion,
) -> FramingDecision {
    let mut d = new_decision(headers);
    // Rule 6: a request without TE or CL has no body.
    d.framing = te_cl_framing(headers, version, true, &mut d).unwrap_or(Framing::None);
    finish(d)
}

/// What the request a response answers says about the response's framing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RequestMethod {
    Head,
    Connect,
    /// Any other method (and GET assumed when the request was not seen).
    Other,
}

impl RequestMethod {
    pub fn of(method: &str) -> RequestMethod {
        if method.eq_ignore_ascii_case("HEAD") {
            RequestMethod::Head
        } else if method.eq_ignore_ascii_case("CONNECT") {
            RequestMethod::Connect
        } else {
            RequestMethod::Other
        }
    }
}

/// RFC 9112 section 6.3 for a response to a request made with `method`.
pub(crate) fn response_framing<H: HeaderLike>(
    status: u16,
    method: RequestMethod,
    headers: &[H],
    version: HttpVersion,
) -> FramingDecision {
    let mut d = new_decision(headers);
    d.framing = if status == 101
        || (method == RequestMethod::Connect && (200..300).contains(&status))
    {
        // Rule 2 and RFC 9110 section 15.2.2: the connection now carries another protocol.
        Framing::Tunnel
    } else if method == RequestMethod::Head
        || (100..200).contains(&status)
        || status == 204
        || status == 304
    {
        // Rule 1: these responses never have content, whatever their headers say.
        Framing::None
    } else {
        // Rule 7: otherwise the body runs until the server closes.
        let framing = te_cl_framing(headers, version, false, &mut d).unwrap_or(Framing::UntilClose);
        browser_framing(headers, version, framing, &mut d)
    };
    finish(d)
}

/// Whether a Transfer-Encoding item names `chunked` once junk around it is ignored (a browser
/// matches the token; `x chunked`, `chunked\x7f`, `\xa0chunked` all carry it).
fn names_chunked(item: &[u8]) -> bool {
    item.split(|&b| !is_tchar_byte(b))
        .any(|word| word.eq_ignore_ascii_case(b"chunked"))
}

fn is_tchar_byte(b: u8) -> bool {
    super::parser::is_tchar(b)
}

/// RFC 9112 section 6.3 gives up on a response whose Transfer-Encoding does not end in a clean
/// `chunked` or whose Content-Length is unusable; browsers do not. Called on the strict
/// framing of a response: where it is doubtful, say how a browser reads the body.
fn browser_framing<H: HeaderLike>(
    headers: &[H],
    version: HttpVersion,
    strict: Framing,
    d: &mut FramingDecision,
) -> Framing {
    let clean_chunked = strict == Framing::Chunked
        && version == HttpVersion::Http11
        && !d.flags.contains(Anomaly::ContentLengthWithTransferEncoding)
        && headers
            .iter()
            .filter(|h| h.name().eq_ignore_ascii_case("transfer-encoding"))
            .count()
            == 1;
    if clean_chunked {
        // Even a clean `chunked` is sniffed: a browser shows a body that is not chunked as
        // sent (a malformed field name httparse accepted, a server that lies). Costs one
        // short first line per chunked response.
        d.sniff = true;
        return strict;
    }
    if !matches!(
        strict,
        Framing::Chunked | Framing::UntilClose | Framing::Invalid
    ) {
        return strict;
    }
    let chunked = headers
        .iter()
        .filter(|h| h.name().eq_ignore_ascii_case("transfer-encoding"))
        .any(|h| names_chunked(h.value()));
    let mut scratch = AnomalySet::EMPTY;
    let fallback = match content_length(headers, &mut scratch) {
        Some(Ok(n)) => Some(n),
        _ => None,
    };
    if chunked {
        d.sniff = true;
        d.fallback = fallback;
        d.flags.insert(Anomaly::InvalidTransferEncoding);
        return if strict == Framing::Invalid {
            Framing::UntilClose
        } else {
            strict
        };
    }
    if strict == Framing::Invalid {
        // Differing or unparsable Content-Length values: browsers show what came until the
        // close (the flags already say the length was unusable).
        return Framing::UntilClose;
    }
    strict
}

/// Result of feeding bytes to a [`BodyReader`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    NeedMore,
    Done,
    /// The framing broke (bad chunk line); the caller must resync.
    Invalid(Anomaly),
}

/// What a gap did to the body's framing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GapOutcome {
    /// The gap lay inside body data of known length: still in sync. `Done` when the gap
    /// ended exactly at the body's end.
    InSync { done: bool },
    /// The gap covered framing bytes (or ran past the body): the caller must resync.
    Lost,
}

/// Consumes one body's bytes according to its framing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BodyReader {
    Length {
        remaining: u64,
    },
    Chunked(Chunked),
    /// Chunked or not, as the body's first line says (`chunked.rs`).
    Sniff {
        sniff: Sniff,
        trailer_cap: usize,
    },
    UntilClose,
    /// Read as sent although the headers said chunked (after [`BodyReader::Sniff`]).
    Unchunked(Box<BodyReader>),
}

impl BodyReader {
    pub(crate) fn length(n: u64) -> BodyReader {
        BodyReader::Length { remaining: n }
    }

    /// `trailer_cap` bounds the trailer section like a head.
    pub(crate) fn chunked(trailer_cap: usize) -> BodyReader {
        BodyReader::Chunked(Chunked::new(trailer_cap))
    }

    /// Chunked if the first line is a chunk size, else up to `fallback` bytes (or the close).
    pub(crate) fn sniff(fallback: Option<u64>, trailer_cap: usize) -> BodyReader {
        BodyReader::Sniff {
            sniff: Sniff::new(fallback),
            trailer_cap,
        }
    }

    /// Whether a bare LF was tolerated in chunk framing.
    pub(crate) fn saw_bare_lf(&self) -> bool {
        matches!(self, BodyReader::Chunked(Chunked { bare_lf: true, .. }))
    }

    /// Whether chunk framing was repaired, or a body declared chunked was read as sent.
    pub(crate) fn repaired(&self) -> bool {
        match self {
            BodyReader::Chunked(c) => c.repaired,
            BodyReader::Unchunked(_) => true,
            _ => false,
        }
    }

    /// Whether the body ends with the connection (what a stream end completes normally).
    pub(crate) fn until_close(&self) -> bool {
        match self {
            BodyReader::UntilClose => true,
            BodyReader::Unchunked(inner) => inner.until_close(),
            _ => false,
        }
    }

    /// The stream ended while the first line was still being sniffed: decide on what is held
    /// and hand it on.
    pub(crate) fn end(&mut self, out: &mut dyn FnMut(&[u8])) {
        if let BodyReader::Sniff { sniff, .. } = self {
            let verdict = sniff.verdict(true);
            let _ = self.settle(verdict, out);
        }
    }

    /// Replace a sniffing reader by the framing its verdict chose and replay the held bytes.
    fn settle(&mut self, verdict: Verdict, out: &mut dyn FnMut(&[u8])) -> Step {
        let BodyReader::Sniff { sniff, trailer_cap } = self else {
            return Step::NeedMore;
        };
        let (held, n) = {
            let h = sniff.held();
            let mut buf = [0u8; SNIFF_LEN];
            let n = h.len().min(SNIFF_LEN);
            if let (Some(dst), Some(src)) = (buf.get_mut(..n), h.get(..n)) {
                dst.copy_from_slice(src);
            }
            (buf, n)
        };
        *self = match verdict {
            Verdict::Chunked => BodyReader::chunked(*trailer_cap),
            Verdict::Raw | Verdict::Undecided => {
                BodyReader::Unchunked(Box::new(match sniff.fallback {
                    Some(len) => BodyReader::length(len),
                    None => BodyReader::UntilClose,
                }))
            }
        };
        let (_, step) = self.feed(held.get(..n).unwrap_or_default(), out);
        step
    }

    /// Feed `input`; payload bytes go to `out`. Returns how many bytes were consumed (all of
    /// `input` unless the body ended or broke inside it) and the state.
    pub(crate) fn feed(&mut self, input: &[u8], out: &mut dyn FnMut(&[u8])) -> (usize, Step) {
        match self {
            BodyReader::Length { remaining } => {
                let take = usize::try_from(*remaining).map_or(input.len(), |r| r.min(input.len()));
                let (body, _) = input.split_at(take);
                out(body);
                *remaining -= take as u64;
                (
                    take,
                    if *remaining == 0 {
                        Step::Done
                    } else {
                        Step::NeedMore
                    },
                )
            }
            BodyReader::UntilClose => {
                out(input);
                (input.len(), Step::NeedMore)
            }
            BodyReader::Chunked(c) => feed_chunked(c, input, out),
            BodyReader::Unchunked(inner) => inner.feed(input, out),
            BodyReader::Sniff { sniff, .. } => {
                let (used, verdict) = sniff.take(input);
                if verdict == Verdict::Undecided {
                    return (used, Step::NeedMore);
                }
                match self.settle(verdict, out) {
                    Step::NeedMore => {
                        let (more, step) = self.feed(input.get(used..).unwrap_or_default(), out);
                        (used + more, step)
                    }
                    step => (used, step),
                }
            }
        }
    }

    /// `len` bytes of this body were not captured.
    pub(crate) fn gap(&mut self, len: u64) -> GapOutcome {
        match self {
            BodyReader::Length { remaining } if len <= *remaining => {
                *remaining -= len;
                GapOutcome::InSync {
                    done: *remaining == 0,
                }
            }
            BodyReader::Chunked(c) => match c.in_data() {
                Some(remaining) if len <= *remaining => {
                    *remaining -= len;
                    GapOutcome::InSync { done: false }
                }
                _ => GapOutcome::Lost,
            },
            BodyReader::Unchunked(inner) => inner.gap(len),
            BodyReader::UntilClose => GapOutcome::InSync { done: false },
            _ => GapOutcome::Lost,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use analyzer::exchange::Header;

    fn h(name: &str, value: &str) -> Header {
        Header::new(name, value.as_bytes())
    }

    fn dechunk(wire: &[u8], step: usize) -> (Vec<u8>, Step, usize) {
        let mut r = BodyReader::chunked(1024);
        let mut out = Vec::new();
        let mut used = 0;
        let mut last = Step::NeedMore;
        for part in wire.chunks(step) {
            let (n, s) = r.feed(part, &mut |b| out.extend_from_slice(b));
            used += n;
            last = s;
            if s != Step::NeedMore {
                break;
            }
        }
        (out, last, used)
    }

    #[test]
    fn http_chunked_with_extensions_and_trailers() {
        let wire = b"5;name=val\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\nNEXT";
        for step in 1..wire.len() {
            let (out, s, used) = dechunk(wire, step);
            assert_eq!(out, b"hello world");
            assert_eq!(s, Step::Done);
            assert_eq!(used, wire.len() - 4, "step {step}");
        }
    }

    #[test]
    fn http_chunk_size_overflow_is_invalid() {
        let (_, s, _) = dechunk(b"10000000000000000\r\n", 3);
        assert_eq!(s, Step::Invalid(Anomaly::InvalidChunk));
        let (_, s, _) = dechunk(b"zz\r\n", 1);
        assert_eq!(s, Step::Invalid(Anomaly::InvalidChunk));
    }

    #[test]
    fn http_framing_rules() {
        let v = HttpVersion::Http11;
        let te_cl = [h("Transfer-Encoding", "chunked"), h("Content-Length", "5")];
        let d = request_framing(&te_cl, v);
        assert_eq!(d.framing, Framing::Chunked);
        assert_eq!(
            d.flags,
            AnomalySet::of(Anomaly::ContentLengthWithTransferEncoding)
        );

        let bad_te = [h("Transfer-Encoding", "chunked, gzip")];
        assert_eq!(request_framing(&bad_te, v).framing, Framing::Invalid);
        assert_eq!(
            response_framing(200, RequestMethod::Other, &bad_te, v).framing,
            Framing::UntilClose
        );

        let cl2 = [h("Content-Length", "5"), h("Content-Length", "6")];
        let d = request_framing(&cl2, v);
        assert_eq!(
            (d.framing, d.flags),
            (
                Framing::Invalid,
                AnomalySet::of(Anomaly::ConflictingContentLength)
            )
        );
        let same = [h("Content-Length", "5, 5")];
        assert_eq!(request_framing(&same, v).framing, Framing::Length(5));
        let neg = [h("Content-Length", "-1")];
        assert_eq!(
            request_framing(&neg, v).flags,
            AnomalySet::of(Anomaly::InvalidContentLength)
        );

        let none: [Header; 0] = [];
        let other = RequestMethod::Other;
        assert_eq!(request_framing(&none, v).framing, Framing::None);
        assert_eq!(
            response_framing(200, other, &none, v).framing,
            Framing::UntilClose
        );
        let cl = [h("Content-Length", "10")];
        assert_eq!(
            response_framing(200, RequestMethod::Head, &cl, v).framing,
            Framing::None
        );
        assert_eq!(response_framing(304, other, &cl, v).framing, Framing::None);
        assert_eq!(response_framing(204, other, &cl, v).framing, Framing::None);
        assert_eq!(
            response_framing(101, other, &none, v).framing,
            Framing::Tunnel
        );
        assert_eq!(
            response_framing(200, RequestMethod::Connect, &none, v).framing,
            Framing::Tunnel
        );
        assert_eq!(
            response_framing(407, RequestMethod::Connect, &cl, v).framing,
            Framing::Length(10)
        );

        let stacked = [
            h("Content-Encoding", "GZIP, identity"),
            h("Transfer-Encoding", "br, chunked"),
        ];
        let d = response_framing(200, other, &stacked, v);
        assert_eq!(d.framing, Framing::Chunked);
        assert_eq!(
            d.codings.iter().collect::<Vec<_>>(),
            vec![Coding::Gzip, Coding::Brotli]
        );
        let odd = [h("Content-Encoding", "zstd")];
        let d = response_framing(200, other, &odd, v);
        assert!(d.codings.unknown && d.flags.contains(Anomaly::UnknownEncoding));
    }
}
