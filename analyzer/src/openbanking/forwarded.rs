//! Client certificates a TLS-terminating proxy forwards in a header, as DER.
//!
//! Three spellings are read, the format told by the header's content rather than its name (so
//! any configured name works with any of them):
//! - Envoy's `X-Forwarded-Client-Cert`: comma-separated elements of `;`-separated `key=value`
//!   pairs, the certificate in `Cert="<URL-encoded PEM>"`. The last element with a `Cert` is
//!   taken: it is the one the nearest (trusted) proxy appended.
//! - PEM in a header (nginx `$ssl_client_cert` with its newlines folded to spaces or tabs,
//!   `$ssl_client_escaped_cert` URL-encoded; Apache `SSL_CLIENT_CERT`).
//! - Base64 DER without PEM armour (Berlin Group `TPP-Signature-Certificate`).
//!
//! Trust is the caller's decision (only from configured proxy addresses); this module only
//! decodes. Malformed values give `None`.

use base64::Engine;

/// Longest header value decoded.
pub const MAX_HEADER_BYTES: usize = 24 * 1024;

const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
const END: &str = "-----END CERTIFICATE-----";

/// The DER certificate a forwarded-certificate header value carries.
pub fn certificate_der(value: &[u8]) -> Option<Vec<u8>> {
    if value.len() > MAX_HEADER_BYTES {
        return None;
    }
    let text = std::str::from_utf8(value).ok()?.trim();
    if let Some(cert) = xfcc_cert(text) {
        return pem_or_base64(&percent_decode(cert));
    }
    if text.contains('%') {
        return pem_or_base64(&percent_decode(text));
    }
    pem_or_base64(text)
}

/// The `Cert` value of the last XFCC element that has one (quotes removed, still encoded).
fn xfcc_cert(text: &str) -> Option<&str> {
    let mut found = None;
    for element in split_unquoted(text, ',') {
        for pair in split_unquoted(element, ';') {
            if let Some((key, value)) = pair.split_once('=') {
                if key.trim().eq_ignore_ascii_case("cert") {
                    found = Some(value.trim().trim_matches('"'));
                }
            }
        }
    }
    found
}

/// `s` split at `sep` outside double quotes (XFCC quotes values that may hold `,` or `;`).
fn split_unquoted(s: &str, sep: char) -> impl Iterator<Item = &str> {
    let mut quoted = false;
    let mut start = 0;
    let mut parts = Vec::new();
    for (i, c) in s.char_indices() {
        match c {
            '"' => quoted = !quoted,
            c if c == sep && !quoted => {
                parts.push(&s[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts.into_iter()
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// DER from PEM armour (first certificate) or from bare base64 (standard or URL-safe
/// alphabet), whitespace anywhere ignored.
fn pem_or_base64(text: &str) -> Option<Vec<u8>> {
    let body = match text.find(BEGIN) {
        Some(start) => {
            let rest = &text[start + BEGIN.len()..];
            &rest[..rest.find(END)?]
        }
        None => text,
    };
    let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    if compact.is_empty() {
        return None;
    }
    let engines = [
        base64::engine::general_purpose::STANDARD,
        base64::engine::general_purpose::URL_SAFE,
        base64::engine::general_purpose::STANDARD_NO_PAD,
        base64::engine::general_purpose::URL_SAFE_NO_PAD,
    ];
    engines
        .iter()
        .find_map(|e| e.decode(compact.as_bytes()).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DER: &[u8] = &[0x30, 0x03, 0x02, 0x01, 0x05];

    fn pem() -> String {
        let b64 = base64::engine::general_purpose::STANDARD.encode(DER);
        format!("{BEGIN}\n{b64}\n{END}\n")
    }

    #[test]
    fn reads_every_spelling() {
        let escaped =
            percent_encoding::utf8_percent_encode(&pem(), percent_encoding::NON_ALPHANUMERIC)
                .to_string();
        let xfcc = format!(
            "By=spiffe://proxy;Hash=00;Subject=\"CN=a,O=b\";Cert=\"{escaped}\";URI=spiffe://x"
        );
        let two = format!("Hash=11;Cert=\"garbage\",{xfcc}");
        let folded = pem().replace('\n', " ");
        let tabs = pem().replace('\n', "\t");
        let bare = base64::engine::general_purpose::STANDARD.encode(DER);
        for v in [xfcc, two, escaped, folded, tabs, bare, pem()] {
            assert_eq!(certificate_der(v.as_bytes()).as_deref(), Some(DER), "{v}");
        }
    }

    #[test]
    fn malformed_values_are_none() {
        for v in [
            "".to_string(),
            "Cert=\"\"".to_string(),
            format!("{BEGIN} not base64 !!"),
            "%zz%".to_string(),
            "x".repeat(MAX_HEADER_BYTES + 1),
        ] {
            assert!(certificate_der(v.as_bytes()).is_none(), "{v:.40}");
        }
        assert!(certificate_der(&[0xff, 0xfe]).is_none());
    }
}
