//! Consent ids where open banking puts them, read in memory and handed to the caller to
//! fingerprint at once (raw ids never leave the lens):
//! - a header: Berlin Group `Consent-ID`;
//! - the path: the segment after a `...consents` segment (`/account-access-consents/{ConsentId}`,
//!   Berlin Group `/v1/consents/{consentId}`);
//! - a JSON body: UK OB `"ConsentId"` (`Data.ConsentId` of payment and funds-confirmation
//!   requests, and of the response that creates a consent), Berlin Group `"consentId"`;
//! - an access token's claims ([`super::token`]).
//!
//! The body is searched for the key rather than parsed: a sampled copy may be cut short, and
//! the key sits near the start of every document that carries it.

/// Longest consent id read (UK OB allows 128 characters).
pub const MAX_ID: usize = 128;
/// Body bytes searched for a consent id.
pub const MAX_BODY: usize = 16 * 1024;

/// Whether a request to `path` with `method` creates a consent (its response names it):
/// `POST` on a path whose last segment ends in `consents`.
pub fn creates_consent(method: &str, path: &str) -> bool {
    method.eq_ignore_ascii_case("POST")
        && path
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .is_some_and(|s| s.to_ascii_lowercase().ends_with("consents"))
}

/// The consent id a raw request path names (the segment after `...consents`).
pub fn in_path(path: &str) -> Option<&str> {
    let mut segments = path.split('/');
    while let Some(s) = segments.next() {
        if s.to_ascii_lowercase().ends_with("consents") {
            return segments.next().filter(|id| valid(id.as_bytes()));
        }
    }
    None
}

/// The first `"ConsentId"` / `"consentId"` string value of a JSON body.
pub fn in_body(body: &[u8]) -> Option<&[u8]> {
    let body = body.get(..MAX_BODY).unwrap_or(body);
    let mut rest = body;
    loop {
        let at = find_key(rest)?;
        let after = rest.get(at + KEY_LEN..)?;
        rest = after;
        let value = after
            .trim_ascii_start()
            .strip_prefix(b":")?
            .trim_ascii_start();
        let Some(value) = value.strip_prefix(b"\"") else {
            continue;
        };
        let end = value.iter().position(|b| *b == b'"')?;
        let id = value.get(..end)?;
        if valid(id) {
            return Some(id);
        }
    }
}

/// `"consentId"` with its quotes, either case of the first letter.
const KEY_LEN: usize = 11;

fn find_key(hay: &[u8]) -> Option<usize> {
    hay.windows(KEY_LEN).position(|w| {
        w[0] == b'"' && (w[1] == b'C' || w[1] == b'c') && &w[2..10] == b"onsentId" && w[10] == b'"'
    })
}

/// A plausible id: 1..=[`MAX_ID`] printable ASCII bytes without `{` (a template placeholder).
fn valid(id: &[u8]) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID
        && !id.contains(&b'{')
        && id.iter().all(|b| b.is_ascii_graphic())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_ids_in_paths_and_bodies() {
        assert_eq!(
            in_path("/open-banking/v3.1/aisp/account-access-consents/aac-1"),
            Some("aac-1")
        );
        assert_eq!(in_path("/v1/consents/abc/status"), Some("abc"));
        assert_eq!(in_path("/v1/consents"), None);
        assert_eq!(in_path("/v1/consents/{consentId}"), None);
        assert_eq!(in_path("/v1/accounts/x"), None);
        let ob = br#"{"Data":{"ConsentId" : "pdc-9","Initiation":{}}}"#;
        assert_eq!(in_body(ob), Some(&b"pdc-9"[..]));
        let bg = br#"{"consentStatus":"received","consentId":"1234-wertiq"}"#;
        assert_eq!(in_body(bg), Some(&b"1234-wertiq"[..]));
        // A non-string value is skipped for a later string one.
        let later = br#"{"ConsentId":7,"x":{"ConsentId":"c-2"}}"#;
        assert_eq!(in_body(later), Some(&b"c-2"[..]));
        for none in [
            &br#"{"ConsentIdentifier":"x"}"#[..],
            br#"{"ConsentId":""}"#,
            br#"{"ConsentId":"cut"#,
            b"",
            br#""ConsentId""#,
        ] {
            assert_eq!(in_body(none), None, "{}", String::from_utf8_lossy(none));
        }
        assert!(creates_consent(
            "POST",
            "/open-banking/v3.1/aisp/account-access-consents"
        ));
        assert!(creates_consent("post", "/v1/consents/"));
        assert!(!creates_consent("GET", "/v1/consents"));
        assert!(!creates_consent("POST", "/v1/consents/abc"));
    }

    #[test]
    fn hostile_bodies_never_panic() {
        let doc = br#"{"Data":{"ConsentId":"pdc-9"}}"#;
        for cut in 0..doc.len() {
            let _ = in_body(&doc[..cut]);
        }
        let long = format!(r#"{{"ConsentId":"{}"}}"#, "a".repeat(MAX_ID + 1));
        assert_eq!(in_body(long.as_bytes()), None);
    }
}
