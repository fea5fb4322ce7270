//! The request target split into its parts without copying (RFC 9112 section 3.2): an
//! absolute-form target names its authority; the path and the query follow; the fragment, which
//! clients should not send, is dropped.

/// A request target's parts, borrowed from the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target<'a> {
    /// Authority from an absolute-form target (`http://host/path`), userinfo removed.
    pub authority: Option<&'a str>,
    /// The path, `/` when empty.
    pub path: &'a str,
    /// The query without its `?` (empty when none).
    pub query: &'a str,
}

pub fn split(raw: &str) -> Target<'_> {
    // Origin form (`/path?query`), nearly every request, has no scheme to look for.
    let (authority, rest) = if raw.starts_with('/') {
        (None, raw)
    } else {
        absolute_form(raw)
    };
    // One scan for the first `?` or `#`: the path ends there; a query runs to the fragment.
    let bytes = rest.as_bytes();
    let (path, query) = match memchr::memchr2(b'?', b'#', bytes) {
        Some(q) if bytes[q] == b'?' => {
            let after = &rest[q + 1..];
            let end = memchr::memchr(b'#', after.as_bytes()).unwrap_or(after.len());
            (&rest[..q], &after[..end])
        }
        Some(f) => (&rest[..f], ""),
        None => (rest, ""),
    };
    Target {
        authority,
        path: if path.is_empty() { "/" } else { path },
        query,
    }
}

/// The authority of an absolute-form target (`http://host/path`) and the rest after it, or no
/// authority and the whole target (asterisk form, authority form, or no scheme).
fn absolute_form(raw: &str) -> (Option<&str>, &str) {
    match raw.find("://") {
        Some(i) if raw[..i].bytes().all(|b| b.is_ascii_alphabetic()) => {
            let after = &raw[i + 3..];
            let end = after.find(['/', '?']).unwrap_or(after.len());
            let auth = &after[..end];
            // Drop userinfo: it is a credential, not a host.
            let auth = auth.rsplit_once('@').map_or(auth, |(_, h)| h);
            (Some(auth), &after[end..])
        }
        _ => (None, raw),
    }
}

/// `a=1&b=2` pairs as raw slices (not decoded), empty pieces skipped, at most `max`.
pub fn raw_pairs(text: &str, max: usize) -> impl Iterator<Item = (&str, &str)> {
    text.split('&')
        .filter(|p| !p.is_empty())
        .take(max)
        .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
}

/// Percent- and plus-decoding of one query or form component.
pub fn decode_component(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.contains(['+', '%']) {
        return std::borrow::Cow::Borrowed(s);
    }
    let plus = s.replace('+', " ");
    std::borrow::Cow::Owned(
        percent_encoding::percent_decode_str(&plus)
            .decode_utf8_lossy()
            .into_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_of_targets() {
        let t = split("http://user:pw@Other.example:80/x?y=1#frag");
        assert_eq!(
            (t.authority, t.path, t.query),
            (Some("Other.example:80"), "/x", "y=1")
        );
        let t = split("/a/b?c");
        assert_eq!((t.authority, t.path, t.query), (None, "/a/b", "c"));
        assert_eq!(split("?q").path, "/");
        assert_eq!(split("*").path, "*");
        let t = split("/p#frag?not-a-query");
        assert_eq!((t.path, t.query), ("/p", ""));
        let t = split("/p?a=1#frag");
        assert_eq!((t.path, t.query), ("/p", "a=1"));
        let t = split("http://h.example?x=1");
        assert_eq!(
            (t.authority, t.path, t.query),
            (Some("h.example"), "/", "x=1")
        );
    }

    #[test]
    fn pairs_and_decoding() {
        let pairs: Vec<_> = raw_pairs("a=1&&from+date=2024&x", 10).collect();
        assert_eq!(pairs, vec![("a", "1"), ("from+date", "2024"), ("x", "")]);
        assert_eq!(decode_component("from+date%21"), "from date!");
        assert!(matches!(
            decode_component("plain"),
            std::borrow::Cow::Borrowed(_)
        ));
    }
}
