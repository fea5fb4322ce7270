//! Response heads as browsers read them, for heads httparse rejects (the slow path of
//! `parser.rs`; a head that parses strictly never comes here).
//!
//! What a browser tolerates and a strict parser does not (the http-evader families): up to four
//! junk bytes before `HTTP/` and any case of it (Chrome's status line search), versions like
//! `1.01`, `1.2` or `1\0.1`, a missing or short status code (200 assumed when absent, as
//! Chrome does), a lone CR as a line end, control bytes or whitespace inside field names
//! (`Transfer\0-Encoding`, `Content-Encoding\x0c:`), and control bytes in values. The head is
//! rewritten into a clean copy httparse reads; the caller flags it `InvalidHeader`. Body
//! framing and decoding then follow what the bytes support (`chunked.rs`, `peel.rs`), so a
//! field recovered here that the browser ignored does no harm.

use super::parser::is_tchar;

/// Junk bytes a browser skips before `HTTP/` (Chrome's `LocateStartOfStatusLine` slop).
const STATUS_SLOP: usize = 4;

/// Where `HTTP/` (any case) starts in a would-be status line, within [`STATUS_SLOP`] bytes.
pub(crate) fn status_start(line: &[u8]) -> Option<usize> {
    (0..=STATUS_SLOP).find(|&i| {
        line.get(i..i + 5)
            .is_some_and(|w| w.eq_ignore_ascii_case(b"HTTP/"))
    })
}

/// A line made only of whitespace (a browser ends the head there).
pub(crate) fn is_blank(line: &[u8]) -> bool {
    line.iter()
        .all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n' | 0x0b | 0x0c))
}

/// A line a browser takes as the end of a response head although it is not empty: blank with
/// a bare LF (`" \n"`, `"\t\n"`) or with a stray CR (`"\r\r\n"`). A blank line ending in
/// CRLF (`" \r\n"`) is an obs-fold continuation, as RFC 9112 section 5.2 reads it.
pub(crate) fn ends_head(line: &[u8]) -> bool {
    is_blank(line) && (line.ends_with(b"\r\r\n") || !line.ends_with(b"\r\n"))
}

/// Logical lines of a head: LF ends a line, and so does a CR not followed by LF; a line that
/// starts with whitespace or NUL continues the previous one (obs-fold, RFC 9112 section 5.2,
/// which browsers also apply after a lone CR: `Content-Encoding:\r gzip`).
fn logical_lines(head: &[u8]) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    for line in head.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        for piece in line.split(|&b| b == b'\r') {
            let lead = piece
                .iter()
                .take_while(|b| matches!(b, b' ' | b'\t' | 0))
                .count();
            let rest = piece.get(lead..).unwrap_or_default();
            match out.last_mut() {
                Some(prev) if lead > 0 && !rest.is_empty() => {
                    prev.push(b' ');
                    prev.extend_from_slice(rest);
                }
                _ if lead > 0 && rest.is_empty() => {}
                _ => out.push(piece.to_vec()),
            }
        }
    }
    out
}

/// `HTTP/x.y` version digits and a status code from a status line, leniently.
fn status_line(line: &[u8]) -> Option<(bool, Option<u16>, &[u8])> {
    let start = status_start(line)?;
    let rest = line.get(start + 5..)?;
    let vlen = rest
        .iter()
        .take_while(|b| b.is_ascii_digit() || **b == b'.')
        .count();
    let version = rest.get(..vlen).unwrap_or_default();
    // Only an explicit 1.0 is HTTP/1.0; anything else a browser reads as 1.1.
    let http10 = matches!(version, b"1.0" | b"1.00" | b"0.9");
    let rest = rest.get(vlen..).unwrap_or_default();
    let skip = rest
        .iter()
        .take_while(|b| matches!(b, b' ' | b'\t' | 0 | 0x0b | 0x0c))
        .count();
    let rest = rest.get(skip..).unwrap_or_default();
    let digits = rest
        .iter()
        .take(3)
        .take_while(|b| b.is_ascii_digit())
        .count();
    let status = (skip > 0 && digits > 0)
        .then(|| std::str::from_utf8(rest.get(..digits).unwrap_or_default()).ok())
        .flatten()
        .and_then(|d| d.parse::<u16>().ok());
    let reason = if status.is_some() {
        rest.get(digits..).unwrap_or_default()
    } else {
        b""
    };
    Some((http10, status, reason))
}

/// A header line cleaned: the name without bytes a token cannot hold, the value without
/// control bytes. `None` for a line with no `:` or no name left.
fn clean_field(line: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let colon = memchr::memchr(b':', line)?;
    let name: Vec<u8> = line
        .get(..colon)?
        .iter()
        .copied()
        .filter(|&b| is_tchar(b))
        .collect();
    if name.is_empty() {
        return None;
    }
    let value: Vec<u8> = line
        .get(colon + 1..)?
        .iter()
        .copied()
        .filter(|&b| b == b'\t' || (b >= b' ' && b != 0x7f))
        .collect();
    Some((name, value.trim_ascii().to_vec()))
}

/// Rewrite a complete response head (through its empty line) into a form httparse reads.
/// `None` when no status line can be found in it.
pub(crate) fn repair_response_head(head: &[u8]) -> Option<Vec<u8>> {
    let lines = logical_lines(head);
    let first = lines.iter().position(|l| status_start(l).is_some())?;
    let lines: Vec<&[u8]> = lines.iter().map(Vec::as_slice).collect();
    let (http10, mut status, reason) = status_line(lines.get(first)?)?;
    let mut rest = lines.get(first + 1..).unwrap_or_default();
    // `HTTP/1.1\r 200 ok`: the code came after a lone CR.
    if status.is_none() {
        if let Some(next) = rest.first().filter(|l| l.first() == Some(&b' ')) {
            let t = next.trim_ascii_start();
            let digits = t.iter().take(3).take_while(|b| b.is_ascii_digit()).count();
            if digits > 0 {
                status = std::str::from_utf8(t.get(..digits).unwrap_or_default())
                    .ok()
                    .and_then(|d| d.parse().ok());
                rest = rest.get(1..).unwrap_or_default();
            }
        }
    }
    let mut out = Vec::with_capacity(head.len() + 32);
    out.extend_from_slice(if http10 { b"HTTP/1.0 " } else { b"HTTP/1.1 " });
    out.extend_from_slice(format!("{:03}", status.unwrap_or(200)).as_bytes());
    let reason: Vec<u8> = reason
        .iter()
        .copied()
        .filter(|&b| b == b'\t' || (b >= b' ' && b != 0x7f))
        .collect();
    if !reason.trim_ascii().is_empty() {
        out.push(b' ');
        out.extend_from_slice(reason.trim_ascii());
    }
    out.extend_from_slice(b"\r\n");
    for line in rest {
        if is_blank(line) {
            continue;
        }
        if let Some((name, value)) = clean_field(line.trim_ascii_start()) {
            out.extend_from_slice(&name);
            out.extend_from_slice(b": ");
            out.extend_from_slice(&value);
            out.extend_from_slice(b"\r\n");
        }
    }
    out.extend_from_slice(b"\r\n");
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repaired(head: &[u8]) -> String {
        String::from_utf8_lossy(&repair_response_head(head).unwrap_or_default()).into_owned()
    }

    #[test]
    fn http_status_lines_browsers_accept() {
        assert_eq!(status_start(b"\x00HTTP/1.1 200 ok"), Some(1));
        assert_eq!(status_start(b"http/1.1 200"), Some(0));
        assert_eq!(status_start(b"xxxxxHTTP/1.1 200"), None);
        assert_eq!(
            repaired(b"HTTP/1.2 200 ok\r\n\r\n"),
            "HTTP/1.1 200 ok\r\n\r\n"
        );
        assert_eq!(repaired(b"http/1.0 404\r\n\r\n"), "HTTP/1.0 404\r\n\r\n");
        assert_eq!(
            repaired(b"HTTP/1.1 2 ok\r\n\r\n"),
            "HTTP/1.1 002 ok\r\n\r\n"
        );
        assert_eq!(repaired(b"HTTP/1.1foobar\r\n\r\n"), "HTTP/1.1 200\r\n\r\n");
        assert_eq!(
            repaired(b"HTTP/1.1\r 201 ok\r\n\r\n"),
            "HTTP/1.1 201 ok\r\n\r\n"
        );
        assert_eq!(
            repaired(b"HTTP/1\x00.1 204\r\n\r\n"),
            "HTTP/1.1 200\r\n\r\n"
        );
        assert_eq!(repair_response_head(b"SSH-2.0-x\r\n\r\n"), None);
    }

    #[test]
    fn http_mangled_fields_are_recovered() {
        let head = b"HTTP/1.1 200 ok\rTransfer\x00-Encoding\x0b:\x0cchunked\r\n\
            Content-Encoding : gzip\x7f\r\nX-A: b\rX-C: d\r\nX-F:\r  f\r\nX-G:\n\x00g\r\n\r\n";
        assert_eq!(
            repaired(head),
            "HTTP/1.1 200 ok\r\nTransfer-Encoding: chunked\r\nContent-Encoding: gzip\r\n\
             X-A: b\r\nX-C: d\r\nX-F: f\r\nX-G: g\r\n\r\n"
        );
    }
}
