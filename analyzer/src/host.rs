//! Host names as shadowtap compares them: one normalisation for HTTP `Host`, TLS SNI and
//! catalogue server URLs alike. Hosts are only ever compared as text, never resolved.

/// Normalise a host (HTTP `Host`, TLS SNI, or a host taken from a catalogue server URL).
///
/// Lowercase; strip a trailing dot (`example.com.` is the same name, RFC 1034 section 3.1); drop
/// the default ports `:80` and `:443` (shadowtap does not tell schemes apart, so both defaults
/// go); keep IPv6 literals bracketed, adding brackets to a bare literal such as `::1`.
pub fn normalize_host(host: &str) -> String {
    let host = host.trim();
    let (name, port) = split_host_port(host);
    let mut name = name.trim().to_ascii_lowercase();
    let port = port.map(str::trim);
    if name.contains(':') && !name.contains(['[', ']']) {
        // A bare IPv6 literal (more than one colon and no brackets): bracket it so a port can
        // never be confused with the last group. Stray brackets mean garbage: left alone.
        name = format!("[{name}]");
    }
    // Dots (and any space the header carried around them) at the end of the name.
    let kept = name
        .trim_end_matches(|c: char| c == '.' || c.is_whitespace())
        .len();
    name.truncate(kept);
    match port {
        Some(p) if !p.is_empty() && p != "80" && p != "443" => format!("{name}:{p}"),
        _ => name,
    }
}

/// Split `host[:port]`, understanding `[v6]:port` and bare IPv6 literals (which have no port).
fn split_host_port(host: &str) -> (&str, Option<&str>) {
    if host.starts_with('[') {
        if let Some(end) = host.find(']') {
            let rest = &host[end + 1..];
            return (&host[..=end], rest.strip_prefix(':'));
        }
        return (host, None);
    }
    match host.rfind(':') {
        // More than one colon without brackets is a bare IPv6 literal, not host:port.
        Some(i) if host[..i].contains(':') => (host, None),
        Some(i) => (&host[..i], Some(&host[i + 1..])),
        None => (host, None),
    }
}

/// Whether a normalised host carries an explicit port.
pub fn has_port(host: &str) -> bool {
    split_host_port(host).1.is_some()
}

/// The name part of a normalised host, without its port.
pub fn without_port(host: &str) -> &str {
    split_host_port(host).0
}

/// Does the declared (normalised) host serve the observed (normalised) host? Exact match, or,
/// when the declaration names no port, a match on the name alone: a spec saying `api.example.com`
/// also covers `api.example.com:8443` (the port is a deployment detail the document left out).
pub fn host_matches(declared: &str, observed: &str) -> bool {
    declared == observed || (!has_port(declared) && without_port(observed) == declared)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_case_dot_and_default_ports() {
        assert_eq!(normalize_host("API.Bank.Example.:443"), "api.bank.example");
        assert_eq!(normalize_host("api.bank.example:80"), "api.bank.example");
        assert_eq!(
            normalize_host("api.bank.example:8080"),
            "api.bank.example:8080"
        );
        assert_eq!(normalize_host("[::1]:8080"), "[::1]:8080");
        assert_eq!(normalize_host("[::1]:443"), "[::1]");
        assert_eq!(without_port("api.bank.example:8080"), "api.bank.example");
        assert_eq!(without_port("[::1]:8080"), "[::1]");
        assert!(host_matches("api.bank.example", "api.bank.example:8443"));
        assert!(!host_matches(
            "api.bank.example:8080",
            "api.bank.example:8443"
        ));
    }
}
