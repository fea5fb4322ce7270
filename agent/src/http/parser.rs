//! Message heads: start-line recognition (probe and resync) and head parsing with httparse.
//!
//! A head reaches [`with_request`] / [`with_response`] complete (through its empty line) and
//! bounded by `max_head_bytes`; finding that end is the connection's job. The result is a
//! borrowed view (no copy of names or values) handed to a closure. A head httparse can read as
//! it is (CRLF line ends, no line starting with whitespace) is parsed in place; any other is
//! first normalised into a scratch copy: line ends become CRLF (bare LF is flagged, RFC 9112
//! section 2.2), obsolete line folding is replaced by a space (RFC 9112 section 5.2, which
//! httparse only offers for responses), and whitespace-led lines right after the start line are
//! dropped (RFC 9112 section 2.2). Header names are kept as sent.
//!
//! This module does not decide body framing (`body.rs`).

use analyzer::exchange::{Anomaly, AnomalySet, HttpVersion, RequestView, ResponseView};

/// Longest method token we consider plausible when probing or resyncing. Real extension
/// methods (`BASELINE-CONTROL`, `VERSION-CONTROL`) are far shorter.
pub(crate) const MAX_METHOD_LEN: usize = 64;

/// What a start line looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StartLine {
    /// `method SP request-target SP HTTP/1.x` (RFC 9112 section 3).
    Request,
    /// `GET SP /path` with no version: an HTTP/0.9 simple request.
    Request09,
    /// `HTTP/1.x SP 3DIGIT [SP reason]` (RFC 9112 section 4).
    Response,
    Neither,
}

/// RFC 9110 section 5.6.2 `tchar`.
pub(crate) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_version(v: &[u8]) -> bool {
    v == b"HTTP/1.1" || v == b"HTTP/1.0"
}

/// Classify one line (without its line end).
pub(crate) fn classify_start_line(line: &[u8]) -> StartLine {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if let Some(rest) = line.strip_prefix(b"HTTP/1.") {
        // Version digit, SP (httparse tolerates several), then exactly three digits.
        if let [b'0' | b'1', b' ', rest @ ..] = rest {
            let rest = rest.trim_ascii_start();
            let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
            if digits == 3 && matches!(rest.get(3), None | Some(b' ')) {
                return StartLine::Response;
            }
        }
        return StartLine::Neither;
    }
    let mut parts = line.split(|&b| b == b' ').filter(|p| !p.is_empty());
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return StartLine::Neither;
    };
    if method.len() > MAX_METHOD_LEN
        || !method.iter().all(|&b| is_tchar(b))
        || line.first() == Some(&b' ')
    {
        // NUL or other odd bytes in the method of an otherwise whole request line.
        return if lenient_request_line(line).is_some() {
            StartLine::Request
        } else {
            StartLine::Neither
        };
    }
    // The request-target has no whitespace or controls (RFC 9112 section 3.2).
    if !target.iter().all(|&b| b > b' ' && b != 0x7f) {
        return StartLine::Neither;
    }
    match (parts.next(), parts.next()) {
        (Some(version), None) if is_version(version) => StartLine::Request,
        // Spaces inside the target (`GET /a b HTTP/1.1`): lenient servers take everything
        // between the method and the version as the target.
        (Some(_), Some(_)) if lenient_request_line(line).is_some() => StartLine::Request,
        // `METHOD SP HTTP/1.x`: the target is missing; keep the request (Zeek does) with an
        // empty target rather than lose it.
        (None, None) if is_version(target) => StartLine::Request,
        // HTTP/0.9 defines only GET; POST and HEAD simple requests exist in the wild too.
        (None, None)
            if matches!(method, b"GET" | b"POST" | b"HEAD") && target.first() == Some(&b'/') =>
        {
            StartLine::Request09
        }
        _ => StartLine::Neither,
    }
}

/// Whether a UDP datagram carries HTTP/1 (HTTPU: SSDP's `M-SEARCH * HTTP/1.1` and `NOTIFY`
/// on port 1900, and their `HTTP/1.1 200 OK` answers). These are counted, not parsed: each
/// is a whole message on its own, outside any TCP stream. A prefix check only, so the cost
/// on other UDP traffic is a few byte compares.
pub fn looks_like_http_datagram(payload: &[u8]) -> bool {
    let line_end = memchr::memchr(
        b'\n',
        payload.get(..256.min(payload.len())).unwrap_or_default(),
    );
    let Some(end) = line_end else {
        return false;
    };
    let line = payload.get(..end).unwrap_or_default();
    !matches!(classify_start_line(line), StartLine::Neither)
}

/// The HTTP/2 connection preface's first line (RFC 9113 section 3.4): not an HTTP/1 request.
pub(crate) fn is_h2_preface(line: &[u8]) -> bool {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line) == b"PRI * HTTP/2.0"
}

/// A request line strict parsing rejects but lenient servers (and Zeek, Suricata) read: the
/// method is the first word (it may hold NUL or other odd bytes, but starts with a letter),
/// the version the last, and the target everything between them, spaces included. Returns
/// method, target and version.
pub(crate) fn lenient_request_line(line: &[u8]) -> Option<(&str, &str, HttpVersion)> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let sp = memchr::memchr(b' ', line)?;
    let method = line.get(..sp)?;
    let rest = line.get(sp..)?.trim_ascii_start();
    let vsp = memchr::memrchr(b' ', rest)?;
    let version = rest.get(vsp + 1..)?;
    let target = rest.get(..vsp)?.trim_ascii_end();
    let ok_method = method.first().is_some_and(u8::is_ascii_alphabetic)
        && method.len() <= MAX_METHOD_LEN
        && method.iter().all(|&b| b == 0 || (b > b' ' && b != 0x7f));
    let ok_target = !target.is_empty() && target.iter().all(|&b| b >= b' ' && b != 0x7f);
    if !ok_method || !ok_target || !is_version(version) {
        return None;
    }
    let v = if version == b"HTTP/1.0" {
        HttpVersion::Http10
    } else {
        HttpVersion::Http11
    };
    Some((
        std::str::from_utf8(method).ok()?,
        std::str::from_utf8(target).ok()?,
        v,
    ))
}

/// Early verdict on the first bytes of a stream before its first line is complete: `false`
/// when they cannot begin a request or status line (a TLS record, an SSH banner's `SSH-2.0-...`
/// is still open until its line ends).
pub(crate) fn prefix_may_be_start_line(prefix: &[u8]) -> bool {
    for (i, &b) in prefix.iter().enumerate() {
        match b {
            b' ' => return i > 0,
            // `HTTP/1.1` is the only thing we accept with a `/` before the first space.
            b'/' => return prefix.get(..i) == Some(b"HTTP".as_slice()),
            _ if is_tchar(b) => {
                if i >= MAX_METHOD_LEN {
                    return false;
                }
            }
            // NUL or other odd bytes after a leading letter: a method lenient servers read
            // (`lenient_request_line`); the complete line decides.
            _ if i > 0
                && i < MAX_METHOD_LEN
                && prefix.first().is_some_and(u8::is_ascii_alphabetic)
                && (b == 0 || (b > b' ' && b != 0x7f)) => {}
            _ => return false,
        }
    }
    true
}

/// Headers parsed into a stack array first; heads with more fields get a heap array sized to
/// their line count (bounded by the head cap).
const STACK_HEADERS: usize = 64;

/// Whether a complete head (through its empty line) is already in the form httparse reads
/// without help: CRLF line ends only and no line starting with whitespace (folding, or
/// whitespace before the first field). Most heads are; the rest are normalised into a copy.
pub(crate) fn is_plain(head: &[u8]) -> bool {
    for nl in memchr::memchr_iter(b'\n', head) {
        if nl == 0 || head.get(nl - 1) != Some(&b'\r') {
            return false;
        }
        if matches!(head.get(nl + 1), Some(b' ' | b'\t')) {
            return false;
        }
    }
    true
}

/// Copy `head` into `out` in CRLF form with folded lines joined; returns the number of lines
/// and what had to be fixed.
fn normalize(head: &[u8], out: &mut Vec<u8>) -> (usize, AnomalySet) {
    let mut flags = AnomalySet::EMPTY;
    out.clear();
    out.reserve(head.len() + 16);
    let mut lines = 0;
    let mut prev_was_start = true;
    let mut consumed = 0usize;
    for (n, raw) in head.split(|&b| b == b'\n').enumerate() {
        consumed += raw.len() + 1;
        // The piece after the final LF is not a line; every other piece ended in LF.
        let terminated = consumed <= head.len();
        let line = match raw.strip_suffix(b"\r") {
            Some(l) => l,
            None => {
                if terminated {
                    flags.insert(Anomaly::BareLf);
                }
                raw
            }
        };
        if line.is_empty() {
            break;
        }
        if n > 0 && matches!(line.first(), Some(b' ' | b'\t')) {
            if prev_was_start {
                // RFC 9112 section 2.2: whitespace between the start line and the first field:
                // consume the line without processing it.
                continue;
            }
            // RFC 9112 section 5.2: replace obs-fold with SP before interpreting the value.
            flags.insert(Anomaly::ObsoleteLineFolding);
            out.truncate(out.len().saturating_sub(2));
            out.push(b' ');
            out.extend_from_slice(line.trim_ascii_start());
            out.extend_from_slice(b"\r\n");
            continue;
        }
        prev_was_start = n == 0;
        out.extend_from_slice(line);
        out.extend_from_slice(b"\r\n");
        lines += 1;
    }
    out.extend_from_slice(b"\r\n");
    (lines, flags)
}

/// A head in the form httparse reads, and what normalising it had to fix.
pub(crate) struct Prepared<'a> {
    bytes: &'a [u8],
    flags: AnomalySet,
}

impl<'a> Prepared<'a> {
    /// `head` itself when plain, else its normalised copy in `norm`.
    pub fn new(head: &'a [u8], norm: &'a mut Vec<u8>) -> Prepared<'a> {
        if is_plain(head) {
            Prepared::plain(head)
        } else {
            let (_, flags) = normalize(head, norm);
            Prepared {
                bytes: norm.as_slice(),
                flags,
            }
        }
    }

    /// A head the caller found plain already ([`is_plain`]).
    pub fn plain(head: &'a [u8]) -> Prepared<'a> {
        Prepared {
            bytes: head,
            flags: AnomalySet::EMPTY,
        }
    }
}

fn config(lenient: bool) -> httparse::ParserConfig {
    let mut c = httparse::ParserConfig::default();
    c.allow_multiple_spaces_in_request_line_delimiters(true)
        .allow_multiple_spaces_in_response_status_delimiters(true)
        .allow_spaces_after_header_name_in_responses(true)
        .ignore_invalid_headers_in_requests(lenient)
        .ignore_invalid_headers_in_responses(lenient);
    c
}

fn version(minor: Option<u8>) -> HttpVersion {
    if minor == Some(0) {
        HttpVersion::Http10
    } else {
        HttpVersion::Http11
    }
}

/// What one httparse attempt gave.
enum Attempt<R> {
    Done(R),
    /// More header fields than slots: retry with enough of them.
    TooManyHeaders,
    Failed,
}

/// Run httparse over `bytes` with header slots on the stack (or, for a head with more fields
/// than fit, on the heap, sized by its line count), strict first and then ignoring invalid
/// header lines.
fn with_slots<'b, R>(
    bytes: &[u8],
    modes: &[bool],
    mut parse: impl FnMut(&mut [httparse::Header<'b>], bool) -> Attempt<R>,
) -> Option<R> {
    let mut stack: [httparse::Header<'b>; STACK_HEADERS] = [httparse::EMPTY_HEADER; STACK_HEADERS];
    let mut heap = Vec::new();
    for &lenient in modes {
        let mut attempt = parse(&mut stack, lenient);
        if matches!(attempt, Attempt::TooManyHeaders) {
            if heap.is_empty() {
                let lines = memchr::memchr_iter(b'\n', bytes).count();
                heap = vec![httparse::EMPTY_HEADER; lines + 1];
            }
            attempt = parse(&mut heap, lenient);
        }
        if let Attempt::Done(r) = attempt {
            return Some(r);
        }
    }
    None
}

fn attempt<T, R>(
    result: Result<httparse::Status<T>, httparse::Error>,
    done: impl FnOnce() -> Option<R>,
) -> Attempt<R> {
    match result {
        Ok(httparse::Status::Complete(_)) => done().map_or(Attempt::Failed, Attempt::Done),
        Err(httparse::Error::TooManyHeaders) => Attempt::TooManyHeaders,
        _ => Attempt::Failed,
    }
}

/// Parse a complete request head (start line through the empty line) whose start line the
/// caller classified as `kind`, and call `f` with the borrowed view and what was odd about it.
/// `None` when the head does not parse.
pub(crate) fn with_request<R>(
    head: Prepared<'_>,
    kind: StartLine,
    f: impl FnOnce(&RequestView<'_>, AnomalySet) -> R,
) -> Option<R> {
    if kind == StartLine::Request09 {
        let first = head.bytes.split(|&b| b == b'\n').next().unwrap_or_default();
        let line = first.strip_suffix(b"\r").unwrap_or(first);
        let line = std::str::from_utf8(line).ok()?;
        let mut parts = line.split(' ').filter(|p| !p.is_empty());
        let view = RequestView {
            method: parts.next().unwrap_or_default(),
            target: parts.next().unwrap_or_default(),
            version: HttpVersion::Http09,
            headers: &[],
        };
        let mut flags = head.flags;
        if !first.ends_with(b"\r") {
            flags.insert(Anomaly::BareLf);
        }
        return Some(f(&view, flags));
    }
    let Prepared { mut bytes, flags } = head;
    // `METHOD SP HTTP/1.x` (no target): give httparse a placeholder target, report it empty.
    let no_target = {
        let line = bytes.split(|&b| b == b'\r').next().unwrap_or_default();
        let mut parts = line.split(|&b| b == b' ').filter(|p| !p.is_empty());
        match (parts.next(), parts.next(), parts.next()) {
            (Some(m), Some(v), None) if is_version(v) => Some(m.len()),
            _ => None,
        }
    };
    let mut patched = Vec::new();
    if let Some(mlen) = no_target {
        patched.reserve(bytes.len() + 2);
        patched.extend_from_slice(bytes.get(..mlen).unwrap_or_default());
        patched.extend_from_slice(b" /");
        patched.extend_from_slice(bytes.get(mlen..).unwrap_or_default());
        bytes = &patched;
    }
    let mut f = Some(f);
    let parsed = with_slots(bytes, &[false, true], |slots, lenient| {
        let mut req = httparse::Request::new(slots);
        let result = config(lenient).parse_request(&mut req, bytes);
        attempt(result, || {
            let mut flags = flags;
            if lenient || no_target.is_some() {
                flags.insert(Anomaly::InvalidHeader);
            }
            let view = RequestView {
                method: req.method.unwrap_or_default(),
                target: if no_target.is_some() {
                    ""
                } else {
                    req.path.unwrap_or_default()
                },
                version: version(req.version),
                headers: req.headers,
            };
            f.take().map(|f| f(&view, flags))
        })
    });
    if parsed.is_some() {
        return parsed;
    }
    // Slow path: a request line only a lenient server reads (`lenient_request_line`). The
    // fields are parsed behind a placeholder line; method and target are reported as sent.
    let line_end = memchr::memchr(b'\n', bytes)?;
    let (method, target, version) = lenient_request_line(bytes.get(..line_end)?)?;
    let mut patched = Vec::with_capacity(bytes.len());
    patched.extend_from_slice(b"GET / HTTP/1.1\r\n");
    patched.extend_from_slice(bytes.get(line_end + 1..)?);
    with_slots(&patched, &[true], |slots, _| {
        let mut req = httparse::Request::new(slots);
        let result = config(true).parse_request(&mut req, &patched);
        attempt(result, || {
            let mut flags = flags;
            flags.insert(Anomaly::InvalidHeader);
            let view = RequestView {
                method,
                target,
                version,
                headers: req.headers,
            };
            f.take().map(|f| f(&view, flags))
        })
    })
}

/// Parse a complete response head; see [`with_request`]. A head httparse rejects is read as a
/// browser reads it (`lenient.rs`) and flagged `InvalidHeader`.
pub(crate) fn with_response<R>(
    head: Prepared<'_>,
    f: impl FnOnce(&ResponseView<'_>, AnomalySet) -> R,
) -> Option<R> {
    let Prepared { bytes, flags } = head;
    let mut f = Some(f);
    let mut parse = |bytes: &[u8], flags: AnomalySet, modes: &[bool]| {
        with_slots(bytes, modes, |slots, lenient| {
            let mut resp = httparse::Response::new(slots);
            let result = config(lenient).parse_response(&mut resp, bytes);
            attempt(result, || {
                let mut flags = flags;
                if lenient {
                    flags.insert(Anomaly::InvalidHeader);
                }
                let view = ResponseView {
                    status: resp.code.unwrap_or_default(),
                    version: version(resp.version),
                    headers: resp.headers,
                };
                f.take().map(|f| f(&view, flags))
            })
        })
    };
    if let Some(r) = parse(bytes, flags, &[false]) {
        return Some(r);
    }
    // Slow path: httparse rejected the head.
    let repaired = super::lenient::repair_response_head(bytes)?;
    let mut flags = flags;
    flags.insert(Anomaly::InvalidHeader);
    parse(&repaired, flags, &[true])
}

/// The start line of an incomplete head, when it was complete and valid: keeps a message
/// pairable after a gap, a cap, or the end of the stream cut its head. Returns the line as a
/// head of its own (start line plus the empty line), ready for [`with_request`] /
/// [`with_response`], when it is a start line of `kind`.
pub(crate) fn salvage(partial: &[u8], kind: StartLine) -> Option<Vec<u8>> {
    let end = memchr::memchr(b'\n', partial)?;
    let line = partial.get(..=end)?;
    if classify_start_line(line.strip_suffix(b"\n").unwrap_or(line)) != kind {
        return None;
    }
    let mut head = Vec::with_capacity(line.len() + 2);
    head.extend_from_slice(line);
    head.extend_from_slice(b"\r\n");
    Some(head)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_start_lines() {
        assert_eq!(classify_start_line(b"GET / HTTP/1.1\r"), StartLine::Request);
        assert_eq!(
            classify_start_line(b"QUERY /q HTTP/1.1"),
            StartLine::Request
        );
        assert_eq!(
            classify_start_line(b"PROPFIND  /dav  HTTP/1.0"),
            StartLine::Request
        );
        assert_eq!(classify_start_line(b"GET /old"), StartLine::Request09);
        assert_eq!(classify_start_line(b"POST /old"), StartLine::Request09);
        assert_eq!(classify_start_line(b"PATCH /old"), StartLine::Neither);
        assert_eq!(classify_start_line(b"GET HTTP/1.1"), StartLine::Request);
        assert_eq!(classify_start_line(b"HTTP/1.1 200 OK"), StartLine::Response);
        assert_eq!(classify_start_line(b"HTTP/1.0 404"), StartLine::Response);
        assert_eq!(classify_start_line(b"HTTP/1.1 20 OK"), StartLine::Neither);
        assert_eq!(classify_start_line(b"HTTP/2 200"), StartLine::Neither);
        assert_eq!(
            classify_start_line(b"SSH-2.0-OpenSSH_9.6"),
            StartLine::Neither
        );
        assert_eq!(
            classify_start_line(b"220 mail.example.com ESMTP Postfix"),
            StartLine::Neither
        );
        assert!(prefix_may_be_start_line(b"GE"));
        assert!(prefix_may_be_start_line(b"HTTP/1"));
        assert!(!prefix_may_be_start_line(b"\x16\x03\x01"));
        assert!(!prefix_may_be_start_line(b"SSH-2.0-/"));
    }

    #[test]
    fn http_head_normalisation() {
        let mut norm = Vec::new();
        let (head, flags) = with_request(
            Prepared::new(
                b"GET / HTTP/1.1\nHost: a\nX-Long: one\n  two\n\n",
                &mut norm,
            ),
            StartLine::Request,
            |v, f| (analyzer::exchange::RequestHead::from_view(v), f),
        )
        .unwrap_or_else(|| panic!("parse"));
        assert_eq!(head.headers.len(), 2);
        assert_eq!(head.headers[1].value, b"one two");
        assert_eq!(
            flags,
            [Anomaly::BareLf, Anomaly::ObsoleteLineFolding]
                .into_iter()
                .collect()
        );
        let flags = with_response(
            Prepared::new(b"HTTP/1.1 200 OK\r\nA: b\r\n\r\n", &mut norm),
            |_, f| f,
        )
        .unwrap_or_else(|| panic!("parse"));
        assert!(flags.is_empty(), "{flags:?}");
    }

    #[test]
    fn plain_heads_are_parsed_in_place() {
        assert!(is_plain(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
        assert!(!is_plain(b"GET / HTTP/1.1\nHost: a\r\n\r\n"));
        assert!(!is_plain(b"GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n"));
        let many: String = (0..200).map(|i| format!("X-{i}: {i}\r\n")).collect();
        let head = format!("GET / HTTP/1.1\r\n{many}\r\n");
        let n = with_request(
            Prepared::plain(head.as_bytes()),
            StartLine::Request,
            |v, _| v.headers.len(),
        );
        assert_eq!(n, Some(200), "more fields than the stack array holds");
    }
}
