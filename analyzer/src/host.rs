//! Host name normalisation, one rule for traffic and catalogue alike.

/// Lowercase, strip a trailing dot and a default port (`:80`, `:443`); IPv6 literals stay
/// bracketed. `API.Bank.example.:443` -> `api.bank.example`.
pub fn normalize_host(raw: &str) -> String {
    let raw = raw.trim();
    let (name, port) = split_port(raw);
    let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
    match port {
        Some("80") | Some("443") | Some("") | None => name,
        Some(p) => format!("{name}:{p}"),
    }
}

/// The host without its port (`api.bank.example:8080` -> `api.bank.example`).
pub fn host_without_port(host: &str) -> &str {
    split_port(host).0
}

fn split_port(raw: &str) -> (&str, Option<&str>) {
    if raw.starts_with('[') {
        // IPv6 literal: `[::1]:8080` or `[::1]`.
        return match raw.find(']') {
            Some(end) => {
                let (name, rest) = raw.split_at(end + 1);
                (name, rest.strip_prefix(':'))
            }
            None => (raw, None),
        };
    }
    match raw.rsplit_once(':') {
        // More than one colon and no brackets: a bare IPv6 address, no port.
        Some((name, _)) if name.contains(':') => (raw, None),
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => (name, Some(port)),
        _ => (raw, None),
    }
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
        assert_eq!(normalize_host("::1"), "::1");
        assert_eq!(normalize_host("10.0.0.1:"), "10.0.0.1");
        assert_eq!(
            host_without_port("api.bank.example:8080"),
            "api.bank.example"
        );
    }
}
