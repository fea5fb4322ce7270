//! A bounded GraphQL lexer (the October 2021 spec's lexical grammar): names, punctuators,
//! numbers and strings (block strings included), with whitespace, commas, comments and a BOM
//! skipped. Input past [`MAX_DOCUMENT`] bytes or [`MAX_TOKENS`] tokens is refused rather than
//! read, and an error names the byte offset; nothing here can panic on hostile input.

/// Longest document read, in bytes (a request body sample is at most 64 KiB).
pub const MAX_DOCUMENT: usize = 64 * 1024;
/// Most tokens one document may have.
pub const MAX_TOKENS: usize = 16 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tok<'a> {
    /// One of `! $ & ( ) : = @ [ ] { } |`.
    Punct(u8),
    /// `...`
    Spread,
    Name(&'a str),
    /// An int or float literal, as written.
    Number(&'a str),
    /// A string or block string literal, quotes included, as written.
    Str(&'a str),
}

impl Tok<'_> {
    /// Whether the token is a literal value (what normalisation takes out of a document).
    pub fn is_literal(&self) -> bool {
        matches!(self, Tok::Number(_) | Tok::Str(_))
    }
}

/// Why a document could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LexError {
    TooLong(usize),
    TooManyTokens(usize),
    /// An unexpected byte or unterminated literal at this offset.
    Bad(usize),
}

impl std::fmt::Display for LexError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LexError::TooLong(n) => write!(f, "document of {n} bytes is over {MAX_DOCUMENT}"),
            LexError::TooManyTokens(at) => {
                write!(f, "more than {MAX_TOKENS} tokens (at byte {at})")
            }
            LexError::Bad(at) => write!(f, "unexpected input at byte {at}"),
        }
    }
}

/// The tokens of `text`, each with its byte offset.
pub fn tokens(text: &str) -> Result<Vec<(usize, Tok<'_>)>, LexError> {
    if text.len() > MAX_DOCUMENT {
        return Err(LexError::TooLong(text.len()));
    }
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let start = i;
        let tok = match c {
            b' ' | b'\t' | b'\n' | b'\r' | b',' => {
                i += 1;
                continue;
            }
            b'#' => {
                while i < b.len() && b[i] != b'\n' && b[i] != b'\r' {
                    i += 1;
                }
                continue;
            }
            0xEF if b.get(i..i + 3) == Some(&[0xEF, 0xBB, 0xBF]) => {
                i += 3;
                continue;
            }
            b'!' | b'$' | b'&' | b'(' | b')' | b':' | b'=' | b'@' | b'[' | b']' | b'{' | b'}'
            | b'|' => {
                i += 1;
                Tok::Punct(c)
            }
            b'.' => {
                if b.get(i..i + 3) != Some(b"...") {
                    return Err(LexError::Bad(i));
                }
                i += 3;
                Tok::Spread
            }
            b'_' | b'a'..=b'z' | b'A'..=b'Z' => {
                while i < b.len() && (b[i] == b'_' || b[i].is_ascii_alphanumeric()) {
                    i += 1;
                }
                Tok::Name(text.get(start..i).ok_or(LexError::Bad(start))?)
            }
            b'-' | b'0'..=b'9' => {
                i = number_end(b, i).ok_or(LexError::Bad(start))?;
                Tok::Number(text.get(start..i).ok_or(LexError::Bad(start))?)
            }
            b'"' => {
                i = string_end(b, i).ok_or(LexError::Bad(start))?;
                Tok::Str(text.get(start..i).ok_or(LexError::Bad(start))?)
            }
            _ => return Err(LexError::Bad(i)),
        };
        if out.len() >= MAX_TOKENS {
            return Err(LexError::TooManyTokens(start));
        }
        out.push((start, tok));
    }
    Ok(out)
}

fn digits(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    i
}

/// End of the number starting at `i` (`-?digits(.digits)?([eE][+-]?digits)?`).
fn number_end(b: &[u8], mut i: usize) -> Option<usize> {
    if b.get(i) == Some(&b'-') {
        i += 1;
    }
    let int_end = digits(b, i);
    if int_end == i {
        return None;
    }
    i = int_end;
    if b.get(i) == Some(&b'.') {
        let frac = digits(b, i + 1);
        if frac == i + 1 {
            return None;
        }
        i = frac;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let exp = digits(b, i);
        if exp == i {
            return None;
        }
        i = exp;
    }
    // A number runs straight into a name or a dot only in malformed input.
    match b.get(i) {
        Some(c) if *c == b'.' || *c == b'_' || c.is_ascii_alphabetic() => None,
        _ => Some(i),
    }
}

/// End of the string or block string starting at `i` (just past its closing quote).
fn string_end(b: &[u8], i: usize) -> Option<usize> {
    if b.get(i..i + 3) == Some(b"\"\"\"") {
        let mut j = i + 3;
        while j < b.len() {
            if b.get(j..j + 4) == Some(b"\\\"\"\"") {
                j += 4;
            } else if b.get(j..j + 3) == Some(b"\"\"\"") {
                return Some(j + 3);
            } else {
                j += 1;
            }
        }
        return None;
    }
    let mut j = i + 1;
    while j < b.len() {
        match b[j] {
            b'\\' => j += 2,
            b'"' => return Some(j + 1),
            b'\n' | b'\r' => return None,
            _ => j += 1,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_of_a_query() {
        let t =
            tokens("# c\n{ a(x: -1.5e3, s: \"q\\\"\", b: \"\"\"x\\\"\"\"y\"\"\") ...F }").unwrap();
        let toks: Vec<Tok<'_>> = t.into_iter().map(|(_, t)| t).collect();
        assert_eq!(
            toks,
            [
                Tok::Punct(b'{'),
                Tok::Name("a"),
                Tok::Punct(b'('),
                Tok::Name("x"),
                Tok::Punct(b':'),
                Tok::Number("-1.5e3"),
                Tok::Name("s"),
                Tok::Punct(b':'),
                Tok::Str("\"q\\\"\""),
                Tok::Name("b"),
                Tok::Punct(b':'),
                Tok::Str("\"\"\"x\\\"\"\"y\"\"\""),
                Tok::Punct(b')'),
                Tok::Spread,
                Tok::Name("F"),
                Tok::Punct(b'}'),
            ]
        );
    }

    #[test]
    fn bad_input_is_an_error_with_its_offset() {
        assert_eq!(tokens("{ a \"open"), Err(LexError::Bad(4)));
        assert_eq!(tokens("{ 12ab }"), Err(LexError::Bad(2)));
        assert_eq!(tokens("{ .. }"), Err(LexError::Bad(2)));
        assert_eq!(tokens("{ ~ }"), Err(LexError::Bad(2)));
        assert_eq!(tokens("\"\"\"never"), Err(LexError::Bad(0)));
        assert!(matches!(
            tokens(&"a ".repeat(MAX_TOKENS + 1)),
            Err(LexError::TooManyTokens(_))
        ));
        assert!(matches!(
            tokens(&" ".repeat(MAX_DOCUMENT + 1)),
            Err(LexError::TooLong(_))
        ));
    }
}
