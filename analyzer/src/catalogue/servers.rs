//! Host normalisation and server URLs (OpenAPI 3 `servers`, Swagger 2 `host` + `basePath`).
//!
//! Turns what a document says about where it is served into [`ServerBase`]s: a normalised host
//! (or none, meaning any host) and a path prefix without a trailing `/`. This module does no
//! I/O and never resolves names; a host is only ever compared as text.

use super::ServerBase;
use serde_json::Value;

/// Most server bases one server entry may expand into through `enum` variables. A document with
/// more combinations than this is almost certainly describing something other than hosts we
/// could observe, and an unbounded product would let one document eat memory.
pub(crate) const MAX_SERVER_EXPANSIONS: usize = 256;

pub use crate::host::normalize_host;

/// Strip trailing `/` and make sure a non-empty prefix starts with `/`.
pub(crate) fn clean_prefix(path: &str) -> String {
    let trimmed = path.trim().trim_end_matches('/');
    // Relative references such as `./v1` or `v1` are taken relative to the root: a catalogue is
    // matched against request paths, which are always absolute.
    let mut rest = trimmed;
    loop {
        if let Some(r) = rest.strip_prefix("./") {
            rest = r;
        } else if let Some(r) = rest.strip_prefix("../") {
            rest = r;
        } else {
            break;
        }
    }
    if rest.is_empty() || rest == "." || rest == ".." {
        return String::new();
    }
    if rest.starts_with('/') {
        rest.to_string()
    } else {
        format!("/{rest}")
    }
}

/// Parse one server URL (variables already substituted) into a [`ServerBase`].
///
/// `https://api.example.com:8443/v1/` -> host `api.example.com:8443`, prefix `/v1`;
/// `//api.example.com/v1` (scheme-relative) -> the same host; `/v1`, `v1`, `` -> any host.
pub(crate) fn parse_server_url(url: &str) -> Result<ServerBase, String> {
    let url = url.trim();
    // Query and fragment never take part in routing.
    let url = url.split(['?', '#']).next().unwrap_or("");
    let after_scheme = match url.find("://") {
        Some(i) if is_scheme(&url[..i]) => Some(&url[i + 3..]),
        _ => url.strip_prefix("//"),
    };
    let Some(rest) = after_scheme else {
        return Ok(ServerBase {
            host: None,
            prefix: clean_prefix(url),
        });
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    // Userinfo (`user:pass@host`) is not part of the host.
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    if authority.is_empty() {
        return Err(format!("server URL `{url}` has an empty host"));
    }
    Ok(ServerBase {
        host: Some(normalize_host(authority)),
        prefix: clean_prefix(path),
    })
}

fn is_scheme(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// Expand `{variable}`s in an OpenAPI 3 server URL.
///
/// Each variable takes its `default`; when it also lists an `enum`, every enum value yields its
/// own URL (the default first). Returns the URLs and, if any, the problems met (an undefined
/// variable makes the whole server unusable, so no URL comes back for it).
pub(crate) fn expand_server_variables(
    url: &str,
    variables: Option<&Value>,
) -> Result<(Vec<String>, Option<String>), String> {
    // Split the URL into literal text and variable names, in order.
    let mut pieces: Vec<(bool, &str)> = Vec::new();
    let mut rest = url;
    while let Some(open) = rest.find('{') {
        let Some(close_rel) = rest[open..].find('}') else {
            return Err(format!("server URL `{url}` has an unclosed `{{`"));
        };
        pieces.push((false, &rest[..open]));
        pieces.push((true, &rest[open + 1..open + close_rel]));
        rest = &rest[open + close_rel + 1..];
    }
    pieces.push((false, rest));

    let mut urls = vec![String::new()];
    let mut truncated = None;
    for (is_var, text) in pieces {
        if !is_var {
            for u in &mut urls {
                u.push_str(text);
            }
            continue;
        }
        let values = variable_values(text, variables)?;
        let mut next = Vec::with_capacity(urls.len() * values.len());
        'outer: for u in &urls {
            for v in &values {
                if next.len() >= MAX_SERVER_EXPANSIONS {
                    truncated = Some(format!(
                        "server URL `{url}` expands to more than {MAX_SERVER_EXPANSIONS} \
                         combinations of variable values; the rest are ignored"
                    ));
                    break 'outer;
                }
                next.push(format!("{u}{v}"));
            }
        }
        urls = next;
    }
    Ok((urls, truncated))
}

/// The values a server variable can take: its default, then any other enum values.
fn variable_values(name: &str, variables: Option<&Value>) -> Result<Vec<String>, String> {
    let Some(var) = variables.and_then(|v| v.get(name)) else {
        return Err(format!(
            "server variable `{name}` is used in the URL but not defined"
        ));
    };
    let mut values = Vec::new();
    if let Some(default) = var.get("default").and_then(scalar_string) {
        values.push(default);
    }
    if let Some(list) = var.get("enum").and_then(Value::as_array) {
        for v in list.iter().filter_map(scalar_string) {
            if !values.contains(&v) {
                values.push(v);
            }
        }
    }
    if values.is_empty() {
        return Err(format!("server variable `{name}` has no `default`"));
    }
    Ok(values)
}

/// A scalar as text: YAML may turn `version: 1.0` or `port: 8443` into numbers.
pub(crate) fn scalar_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::host_matches;
    use serde_json::json;

    #[test]
    fn normalize_host_table() {
        for (input, want) in [
            ("API.Example.COM", "api.example.com"),
            ("api.example.com.", "api.example.com"),
            ("api.example.com:443", "api.example.com"),
            ("api.example.com:80", "api.example.com"),
            ("api.example.com.:8443", "api.example.com:8443"),
            ("api.example.com:", "api.example.com"),
            ("[::1]:8080", "[::1]:8080"),
            ("[::1]:443", "[::1]"),
            ("[2001:DB8::1]", "[2001:db8::1]"),
            ("::1", "[::1]"),
            ("10.0.0.1:80", "10.0.0.1"),
            // Found by the idempotence property below: stray brackets stay as they are, and
            // space around a trailing dot goes with it.
            ("::]", "::]"),
            ("0 .", "0"),
            (" Example.COM. :8080", "example.com:8080"),
        ] {
            assert_eq!(normalize_host(input), want, "input {input}");
        }
    }

    proptest::proptest! {
        #[test]
        fn normalize_host_is_idempotent(host in "[ a-zA-Z0-9.:\\[\\]-]{0,24}") {
            let once = normalize_host(&host);
            proptest::prop_assert_eq!(normalize_host(&once), once);
        }
    }

    #[test]
    fn host_matching_ignores_port_only_when_declaration_has_none() {
        assert!(host_matches("api.example.com", "api.example.com"));
        assert!(host_matches("api.example.com", "api.example.com:8443"));
        assert!(!host_matches("api.example.com:8443", "api.example.com"));
        assert!(!host_matches(
            "api.example.com:8443",
            "api.example.com:9000"
        ));
        assert!(host_matches("[::1]", "[::1]:8080"));
        assert!(!host_matches("example.com", "api.example.com"));
    }

    #[test]
    fn server_url_table() {
        let any = |p: &str| ServerBase {
            host: None,
            prefix: p.to_string(),
        };
        let on = |h: &str, p: &str| ServerBase {
            host: Some(h.to_string()),
            prefix: p.to_string(),
        };
        for (url, want) in [
            ("https://API.example.com/v1/", on("api.example.com", "/v1")),
            ("https://api.example.com", on("api.example.com", "")),
            ("https://api.example.com/", on("api.example.com", "")),
            ("http://api.example.com:80/x", on("api.example.com", "/x")),
            (
                "https://user:pw@api.example.com:8443/a/b?q=1",
                on("api.example.com:8443", "/a/b"),
            ),
            ("//cdn.example.com/v2", on("cdn.example.com", "/v2")),
            ("/open-banking/v4.0/aisp", any("/open-banking/v4.0/aisp")),
            ("/", any("")),
            ("v1/", any("/v1")),
            ("./v1", any("/v1")),
            ("", any("")),
        ] {
            assert_eq!(parse_server_url(url), Ok(want), "url {url}");
        }
        assert!(parse_server_url("https:///v1").is_err());
    }

    #[test]
    fn server_variables_default_and_enum() {
        let vars = json!({
            "region": {"default": "eu", "enum": ["us", "eu"]},
            "version": {"default": "v2"}
        });
        let (urls, truncated) =
            expand_server_variables("https://{region}.example.com/{version}", Some(&vars))
                .unwrap_or_default();
        assert_eq!(
            urls,
            vec!["https://eu.example.com/v2", "https://us.example.com/v2"]
        );
        assert!(truncated.is_none());

        let err = expand_server_variables("https://{nope}.example.com", Some(&vars));
        assert!(matches!(err, Err(m) if m.contains("`nope`")));
        assert!(expand_server_variables("https://{region.example.com", Some(&vars)).is_err());
    }

    #[test]
    fn server_variable_expansion_is_bounded() {
        let values: Vec<String> = (0..100).map(|i| i.to_string()).collect();
        let vars =
            json!({"a": {"default": "0", "enum": values}, "b": {"default": "0", "enum": values}});
        let (urls, truncated) =
            expand_server_variables("https://{a}.{b}.example.com", Some(&vars)).unwrap_or_default();
        assert_eq!(urls.len(), MAX_SERVER_EXPANSIONS);
        assert!(truncated.is_some());
    }
}
