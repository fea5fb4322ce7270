//! Message heads: start-line recognition (probe and resync) and head parsing with httparse.
//!
//! A head reaches [`parse_request`] / [`parse_response`] complete (through its empty line) and
//! bounded by `max_head_bytes`; finding that end is the connection's job. Before httparse sees
//! a head we normalise it into a copy: line ends become CRLF (bare LF is flagged, RFC 9112
//! section 2.2), obsolete line folding is replaced by a space (RFC 9112 section 5.2, which
//! httparse only offers for responses), and whitespace-led lines right after the start line are
//! dropped (RFC 9112 section 2.2). Header names are kept as sent.
//!
//! This module does not decide body framing (`body.rs`).

use analyzer::exchange::{Anomaly, Header, HttpVersion, RequestHead, ResponseHead};

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
        return StartLine::Neither;
    }
    // The request-target has no whitespace or controls (RFC 9112 section 3.2).
    if !target.iter().all(|&b| b > b' ' && b != 0x7f) {
        return StartLine::Neither;
    }
    match (parts.next(), parts.next()) {
        (Some(version), None) if is_version(version) => StartLine::Request,
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
            _ => return false,
        }
    }
    true
}

/// A head copied to CRLF form with folded lines joined, plus what had to be fixed.
struct Normalized {
    bytes: Vec<u8>,
    lines: usize,
    flags: Vec<Anomaly>,
}

fn normalize(head: &[u8]) -> Normalized {
    let mut flags = Vec::new();
    let mut bytes = Vec::with_capacity(head.len() + 16);
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
                if terminated && !flags.contains(&Anomaly::BareLf) {
                    flags.push(Anomaly::BareLf);
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
            if !flags.contains(&Anomaly::ObsoleteLineFolding) {
                flags.push(Anomaly::ObsoleteLineFolding);
            }
            bytes.truncate(bytes.len().saturating_sub(2));
            bytes.push(b' ');
            bytes.extend_from_slice(line.trim_ascii_start());
            bytes.extend_from_slice(b"\r\n");
            continue;
        }
        prev_was_start = n == 0;
        bytes.extend_from_slice(line);
        bytes.extend_from_slice(b"\r\n");
        lines += 1;
    }
    bytes.extend_from_slice(b"\r\n");
    Normalized {
        bytes,
        lines,
        flags,
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

fn headers(parsed: &[httparse::Header<'_>]) -> Vec<Header> {
    parsed
        .iter()
        .map(|h| Header::new(h.name, h.value))
        .collect()
}

/// Parse a complete request head (start line through the empty line).
pub(crate) fn parse_request(head: &[u8]) -> Option<(RequestHead, Vec<Anomaly>)> {
    let first = head.split(|&b| b == b'\n').next().unwrap_or_default();
    if classify_start_line(first) == StartLine::Request09 {
        let line = String::from_utf8_lossy(first.strip_suffix(b"\r").unwrap_or(first)).into_owned();
        let mut parts = line.split(' ').filter(|p| !p.is_empty());
        let method = parts.next().unwrap_or_default().to_string();
        let target = parts.next().unwrap_or_default().to_string();
        let flags = if first.ends_with(b"\r") {
            Vec::new()
        } else {
            vec![Anomaly::BareLf]
        };
        return Some((
            RequestHead {
                method,
                target,
                version: HttpVersion::Http09,
                headers: Vec::new(),
            },
            flags,
        ));
    }
    let mut norm = normalize(head);
    // `METHOD SP HTTP/1.x` (no target): give httparse a placeholder target, report it empty.
    let no_target = {
        let line = norm.bytes.split(|&b| b == b'\r').next().unwrap_or_default();
        let mut parts = line.split(|&b| b == b' ').filter(|p| !p.is_empty());
        match (parts.next(), parts.next(), parts.next()) {
            (Some(m), Some(v), None) if is_version(v) => Some(m.len()),
            _ => None,
        }
    };
    if let Some(mlen) = no_target {
        let rest = norm.bytes.split_off(mlen);
        norm.bytes.extend_from_slice(b" /");
        norm.bytes.extend_from_slice(&rest);
    }
    let mut flags = norm.flags;
    for lenient in [false, true] {
        let mut slots = vec![httparse::EMPTY_HEADER; norm.lines + 1];
        let mut req = httparse::Request::new(&mut slots);
        if let Ok(httparse::Status::Complete(_)) =
            config(lenient).parse_request(&mut req, &norm.bytes)
        {
            if lenient || no_target.is_some() {
                flags.push(Anomaly::InvalidHeader);
            }
            let head = RequestHead {
                method: req.method.unwrap_or_default().to_string(),
                target: if no_target.is_some() {
                    String::new()
                } else {
                    req.path.unwrap_or_default().to_string()
                },
                version: version(req.version),
                headers: headers(req.headers),
            };
            return Some((head, flags));
        }
    }
    None
}

/// Parse a complete response head.
pub(crate) fn parse_response(head: &[u8]) -> Option<(ResponseHead, Vec<Anomaly>)> {
    let norm = normalize(head);
    let mut flags = norm.flags;
    for lenient in [false, true] {
        let mut slots = vec![httparse::EMPTY_HEADER; norm.lines + 1];
        let mut resp = httparse::Response::new(&mut slots);
        if let Ok(httparse::Status::Complete(_)) =
            config(lenient).parse_response(&mut resp, &norm.bytes)
        {
            if lenient {
                flags.push(Anomaly::InvalidHeader);
            }
            let head = ResponseHead {
                status: resp.code.unwrap_or_default(),
                version: version(resp.version),
                headers: headers(resp.headers),
            };
            return Some((head, flags));
        }
    }
    None
}

/// The start line of an incomplete head, when it was complete and valid: keeps a request
/// pairable after a gap, a cap, or the end of the stream cut its head.
pub(crate) fn salvage_request(partial: &[u8]) -> Option<RequestHead> {
    let end = memchr::memchr(b'\n', partial)?;
    let line = partial.get(..=end)?;
    match classify_start_line(line.strip_suffix(b"\n").unwrap_or(line)) {
        StartLine::Request => {
            let mut head = Vec::with_capacity(line.len() + 2);
            head.extend_from_slice(line);
            head.extend_from_slice(b"\r\n");
            parse_request(&head).map(|(h, _)| h)
        }
        _ => None,
    }
}

/// See [`salvage_request`].
pub(crate) fn salvage_response(partial: &[u8]) -> Option<ResponseHead> {
    let end = memchr::memchr(b'\n', partial)?;
    let line = partial.get(..=end)?;
    match classify_start_line(line.strip_suffix(b"\n").unwrap_or(line)) {
        StartLine::Response => {
            let mut head = Vec::with_capacity(line.len() + 2);
            head.extend_from_slice(line);
            head.extend_from_slice(b"\r\n");
            parse_response(&head).map(|(h, _)| h)
        }
        _ => None,
    }
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
        let (head, flags) = parse_request(b"GET / HTTP/1.1\nHost: a\nX-Long: one\n  two\n\n")
            .unwrap_or_else(|| panic!("parse"));
        assert_eq!(head.headers.len(), 2);
        assert_eq!(head.headers[1].value, b"one two");
        assert_eq!(flags, vec![Anomaly::BareLf, Anomaly::ObsoleteLineFolding]);
        let (_, flags) =
            parse_response(b"HTTP/1.1 200 OK\r\nA: b\r\n\r\n").unwrap_or_else(|| panic!("parse"));
        assert!(flags.is_empty(), "{flags:?}");
    }
}
