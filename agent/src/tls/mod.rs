//! TLS handshake metadata read in clear: ClientHello (SNI, ALPN, a JA4-style fingerprint) and
//! certificate subjects from a TLS 1.2 Certificate message (pure, bounded, never panics).
//!
//! Parsing follows RFC 8446 section 4 (record and handshake framing, ClientHello layout),
//! RFC 6066 section 3 (server_name), RFC 7301 section 3.1 (ALPN) and RFC 5246 section 7.4.2
//! (Certificate). DER is read minimally (X.690 TLV walking) to reach the certificate's subject
//! Name (RFC 5280 section 4.1), rendered as `CN=...,O=...` from the attributes we know.
//!
//! The fingerprint follows JA4's layout (`t13d1516h2_<ciphers>_<extensions>`: protocol,
//! version, SNI present, counts, first and last ALPN characters, then hashes of the sorted
//! cipher and extension lists, GREASE removed), but hashes with 48 bits of FNV-1a instead of
//! truncated SHA-256 so the agent needs no crypto dependency: it groups clients consistently
//! within shadowtap, it is not comparable with published JA4 databases.
//!
//! Not here: decryption, TLS 1.3 certificates (encrypted), validation of anything.

pub mod alpn;
pub mod flight;

/// What a ClientHello says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientHello {
    pub sni: Option<String>,
    pub alpn: Vec<String>,
    pub ja4: String,
}

/// Longest SNI kept (RFC 1035 names are at most 253 characters).
const MAX_SNI: usize = 253;
/// ALPN values kept per hello.
const MAX_ALPN: usize = 16;

fn be16(d: &[u8], at: usize) -> Option<usize> {
    let b = d.get(at..at + 2)?;
    Some(usize::from(u16::from_be_bytes([*b.first()?, *b.get(1)?])))
}

fn be24(d: &[u8], at: usize) -> Option<usize> {
    let b = d.get(at..at + 3)?;
    Some(
        (usize::from(*b.first()?) << 16) | (usize::from(*b.get(1)?) << 8) | usize::from(*b.get(2)?),
    )
}

/// GREASE values (RFC 8701): 0x?a?a with both bytes equal.
fn is_grease(v: usize) -> bool {
    v & 0x0f0f == 0x0a0a && (v >> 8) == (v & 0xff)
}

/// Whether stream bytes begin like a TLS handshake record (content type 22, version 3.x).
pub fn looks_like_tls(d: &[u8]) -> bool {
    matches!(d, [0x16, 0x03, 0..=4, ..])
}

/// The handshake bytes of consecutive handshake records at the start of `d` (record headers
/// removed; a record cut by the end of `d` contributes what there is). Bounded by `d`.
fn handshake_bytes(d: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut at = 0;
    while let (Some(&0x16), Some(len)) = (d.get(at), be16(d, at + 3)) {
        let start = at + 5;
        let end = (start + len).min(d.len());
        out.extend_from_slice(d.get(start..end).unwrap_or_default());
        at = start + len;
    }
    out
}

/// Parse the ClientHello at the start of a client stream. `None` when it is not one or is cut
/// before its extensions.
pub fn parse_client_hello(stream: &[u8]) -> Option<ClientHello> {
    let hs = handshake_bytes(stream);
    // Handshake header: msg_type 1 (client_hello), 24-bit length.
    if hs.first() != Some(&1) {
        return None;
    }
    let body = hs.get(4..)?;
    let legacy_version = be16(body, 0)?;
    let mut at = 2 + 32; // version, random
    let sid_len = usize::from(*body.get(at)?);
    at += 1 + sid_len;
    let cs_len = be16(body, at)?;
    let ciphers: Vec<usize> = body
        .get(at + 2..at + 2 + cs_len)?
        .chunks_exact(2)
        .map(|c| usize::from(u16::from_be_bytes([c[0], c[1]])))
        .filter(|&c| !is_grease(c))
        .collect();
    at += 2 + cs_len;
    let comp_len = usize::from(*body.get(at)?);
    at += 1 + comp_len;
    let ext_total = be16(body, at).unwrap_or(0);
    let exts_data = body.get(at + 2..).unwrap_or_default();
    let exts_data = exts_data
        .get(..ext_total.min(exts_data.len()))
        .unwrap_or_default();
    let mut exts = Vec::new();
    let mut sni = None;
    let mut alpn = Vec::new();
    let mut versions = Vec::new();
    let mut sig_algs = Vec::new();
    let mut e = 0;
    while let (Some(ty), Some(len)) = (be16(exts_data, e), be16(exts_data, e + 2)) {
        let data = exts_data.get(e + 4..e + 4 + len).unwrap_or_default();
        e += 4 + len;
        if is_grease(ty) {
            continue;
        }
        exts.push(ty);
        match ty {
            // server_name: list length, then (type 0 = host_name, 16-bit length, name).
            0 => {
                if let (Some(0), Some(n)) = (data.get(2), be16(data, 3)) {
                    let name = data.get(5..5 + n.min(MAX_SNI)).unwrap_or_default();
                    if name.iter().all(|b| b.is_ascii_graphic()) && !name.is_empty() {
                        sni = Some(String::from_utf8_lossy(name).to_ascii_lowercase());
                    }
                }
            }
            // ALPN: list length, then 8-bit-length protocol names.
            16 => {
                let mut p = 2;
                while let Some(&n) = data.get(p) {
                    let n = usize::from(n);
                    if let Some(name) = data.get(p + 1..p + 1 + n) {
                        if alpn.len() < MAX_ALPN {
                            alpn.push(String::from_utf8_lossy(name).into_owned());
                        }
                    }
                    p += 1 + n;
                }
            }
            // supported_versions (RFC 8446 section 4.2.1): 8-bit length, 16-bit versions.
            43 => {
                versions.extend(
                    data.get(1..)
                        .unwrap_or_default()
                        .chunks_exact(2)
                        .map(|c| usize::from(u16::from_be_bytes([c[0], c[1]])))
                        .filter(|&v| !is_grease(v)),
                );
            }
            // signature_algorithms: 16-bit length, 16-bit schemes (kept in order for JA4).
            13 => {
                sig_algs.extend(
                    data.get(2..)
                        .unwrap_or_default()
                        .chunks_exact(2)
                        .map(|c| usize::from(u16::from_be_bytes([c[0], c[1]]))),
                );
            }
            _ => {}
        }
    }
    let version = versions.iter().copied().max().unwrap_or(legacy_version);
    let ver = match version {
        0x0304 => "13",
        0x0303 => "12",
        0x0302 => "11",
        0x0301 => "10",
        0x0300 => "s3",
        _ => "00",
    };
    let alpn_tag = match alpn.first().map(|a| a.as_bytes()) {
        Some([only]) => format!("{}{}", *only as char, *only as char),
        Some([first, .., last])
            if first.is_ascii_alphanumeric() && last.is_ascii_alphanumeric() =>
        {
            format!("{}{}", *first as char, *last as char)
        }
        Some(_) => "99".to_string(),
        None => "00".to_string(),
    };
    let mut sorted_ciphers = ciphers.clone();
    sorted_ciphers.sort_unstable();
    // JA4: extensions sorted, without SNI (0) and ALPN (16), then the signature algorithms.
    let mut sorted_exts: Vec<usize> = exts
        .iter()
        .copied()
        .filter(|&t| t != 0 && t != 16)
        .collect();
    sorted_exts.sort_unstable();
    let hex_list = |v: &[usize]| {
        v.iter()
            .map(|x| format!("{x:04x}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    let ext_text = if sig_algs.is_empty() {
        hex_list(&sorted_exts)
    } else {
        format!("{}_{}", hex_list(&sorted_exts), hex_list(&sig_algs))
    };
    let ja4 = format!(
        "t{ver}{}{:02}{:02}{alpn_tag}_{}_{}",
        if sni.is_some() { 'd' } else { 'i' },
        ciphers.len().min(99),
        exts.len().min(99),
        short_hash(&hex_list(&sorted_ciphers)),
        short_hash(&ext_text),
    );
    Some(ClientHello { sni, alpn, ja4 })
}

/// 48 bits of FNV-1a as 12 hex digits ("000000000000" for an empty list, as JA4 does).
fn short_hash(text: &str) -> String {
    if text.is_empty() {
        return "000000000000".into();
    }
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{:012x}", h >> 16)
}

/// The subject of the first (end-entity) certificate in a TLS 1.2 Certificate handshake
/// message (type 11) found among the handshake records at the start of `stream` (a server
/// flight: ServerHello, Certificate, ...; or a client's second flight).
pub fn first_certificate_subject(stream: &[u8]) -> Option<String> {
    cert_subject(&first_certificate_der(stream)?)
}

/// The DER of the first (end-entity) certificate of the TLS 1.2 Certificate message among the
/// handshake records at the start of `stream` (records cut across TCP segments are joined by
/// the caller's flight buffer). `None` when there is none or it is cut short.
pub fn first_certificate_der(stream: &[u8]) -> Option<Vec<u8>> {
    let hs = handshake_bytes(stream);
    let mut at = 0;
    while let (Some(&ty), Some(len)) = (hs.get(at), be24(&hs, at + 1)) {
        let body = hs
            .get(at + 4..(at + 4 + len).min(hs.len()))
            .unwrap_or_default();
        if ty == 11 {
            // certificate_list length (24), then the first certificate's length (24) and DER.
            let n = be24(body, 3)?;
            return body.get(6..6 + n).map(<[u8]>::to_vec);
        }
        at += 4 + len;
    }
    None
}

/// One DER TLV: (tag, content, total length). Long-form lengths up to 4 bytes.
fn tlv(d: &[u8]) -> Option<(u8, &[u8], usize)> {
    let tag = *d.first()?;
    let first = *d.get(1)?;
    let (len, hdr) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for i in 0..n {
            len = (len << 8) | usize::from(*d.get(2 + i)?);
        }
        (len, 2 + n)
    };
    let content = d.get(hdr..hdr.checked_add(len)?)?;
    Some((tag, content, hdr + len))
}

/// RFC 5280 section 4.1: Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { [0] version
/// OPTIONAL, serialNumber, signature, issuer, validity, subject, ... } ... }.
pub fn cert_subject(der: &[u8]) -> Option<String> {
    let (0x30, cert, _) = tlv(der)? else {
        return None;
    };
    let (0x30, tbs, _) = tlv(cert)? else {
        return None;
    };
    let mut rest = tbs;
    let mut fields = Vec::new();
    while let Some((tag, content, used)) = tlv(rest) {
        fields.push((tag, content));
        rest = rest.get(used..).unwrap_or_default();
        if fields.len() > 8 {
            break;
        }
    }
    // Skip the explicit [0] version when present; the subject is then the 5th field.
    let skip = usize::from(fields.first().map(|f| f.0) == Some(0xa0));
    let (tag, subject) = *fields.get(skip + 4)?;
    (tag == 0x30).then(|| render_name(subject))
}

/// Render a Name (SEQUENCE OF SET OF AttributeTypeAndValue) as `CN=..,O=..`.
fn render_name(mut d: &[u8]) -> String {
    let mut parts = Vec::new();
    while let Some((_, set, used)) = tlv(d) {
        d = d.get(used..).unwrap_or_default();
        let Some((_, atv, _)) = tlv(set) else {
            continue;
        };
        let Some((0x06, oid, oid_used)) = tlv(atv) else {
            continue;
        };
        let Some((_, value, _)) = tlv(atv.get(oid_used..).unwrap_or_default()) else {
            continue;
        };
        // id-at (2.5.4.x) attribute names; other OIDs are omitted.
        let name = match oid {
            [0x55, 0x04, 0x03] => "CN",
            [0x55, 0x04, 0x0a] => "O",
            [0x55, 0x04, 0x0b] => "OU",
            [0x55, 0x04, 0x06] => "C",
            [0x55, 0x04, 0x61] => "organizationIdentifier",
            _ => continue,
        };
        let text: String = String::from_utf8_lossy(value)
            .chars()
            .filter(|c| !c.is_control())
            .take(128)
            .collect();
        parts.push(format!("{name}={text}"));
        if parts.len() >= 8 {
            break;
        }
    }
    parts.join(",")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A ClientHello with SNI, ALPN (h2, http/1.1), supported_versions (1.3) and a GREASE
    /// cipher.
    pub(crate) fn hello(sni: &str) -> Vec<u8> {
        let mut exts = Vec::new();
        let mut sn = vec![0u8];
        sn.extend_from_slice(&(sni.len() as u16).to_be_bytes());
        sn.extend_from_slice(sni.as_bytes());
        let mut sn_list = (sn.len() as u16).to_be_bytes().to_vec();
        sn_list.extend_from_slice(&sn);
        let mut push = |ty: u16, data: &[u8]| {
            exts.extend_from_slice(&ty.to_be_bytes());
            exts.extend_from_slice(&(data.len() as u16).to_be_bytes());
            exts.extend_from_slice(data);
        };
        push(0, &sn_list);
        push(16, b"\x00\x0c\x02h2\x08http/1.1");
        push(43, b"\x04\x03\x04\x03\x03");
        push(13, b"\x00\x04\x04\x03\x08\x04");
        push(0x0a0a, b"");
        let mut body = vec![0x03, 0x03];
        body.extend_from_slice(&[7; 32]);
        body.push(0);
        body.extend_from_slice(&[0x00, 0x06, 0x0a, 0x0a, 0x13, 0x01, 0xc0, 0x2f]);
        body.extend_from_slice(&[1, 0]);
        body.extend_from_slice(&(exts.len() as u16).to_be_bytes());
        body.extend_from_slice(&exts);
        let mut hs = vec![1, 0];
        hs.extend_from_slice(&(body.len() as u16).to_be_bytes());
        hs.extend_from_slice(&body);
        let mut rec = vec![0x16, 0x03, 0x01];
        rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
        rec.extend_from_slice(&hs);
        rec
    }

    #[test]
    fn client_hello_fields() {
        let h = parse_client_hello(&hello("Payments.Example")).expect("parses");
        assert_eq!(h.sni.as_deref(), Some("payments.example"));
        assert_eq!(h.alpn, vec!["h2", "http/1.1"]);
        // TLS 1.3, SNI present, 2 ciphers (GREASE dropped), 4 extensions, ALPN "h2".
        assert!(h.ja4.starts_with("t13d0204h2_"), "{}", h.ja4);
        assert_eq!(h.ja4.len(), "t13d0204h2_".len() + 12 + 1 + 12);
        assert!(looks_like_tls(&hello("a")));
    }

    #[test]
    fn cut_hello_and_garbage_do_not_panic() {
        let full = hello("bank.example");
        for cut in 0..full.len() {
            let _ = parse_client_hello(&full[..cut]);
        }
        assert_eq!(parse_client_hello(b"GET / HTTP/1.1\r\n"), None);
    }

    pub(crate) fn der(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut v = vec![tag];
        if content.len() < 0x80 {
            v.push(content.len() as u8);
        } else {
            v.push(0x82);
            v.extend_from_slice(&(content.len() as u16).to_be_bytes());
        }
        v.extend_from_slice(content);
        v
    }

    pub(crate) fn name(cn: &str, o: &str) -> Vec<u8> {
        let atv = |oid: u8, v: &str| {
            der(
                0x31,
                &der(
                    0x30,
                    &[der(0x06, &[0x55, 0x04, oid]), der(0x0c, v.as_bytes())].concat(),
                ),
            )
        };
        der(0x30, &[atv(0x03, cn), atv(0x0a, o)].concat())
    }

    /// A Certificate handshake message (type 11, RFC 5246 section 7.4.2) holding one
    /// certificate whose subject is `CN=<cn>,O=<o>`.
    pub(crate) fn certificate_msg(cn: &str, o: &str) -> Vec<u8> {
        let tbs = der(
            0x30,
            &[
                der(0xa0, &der(0x02, &[2])),
                der(0x02, &[1]),
                der(0x30, &der(0x06, &[0x2a])),
                name("Issuing CA", "Bank"),
                der(
                    0x30,
                    &[der(0x17, b"250101000000Z"), der(0x17, b"260101000000Z")].concat(),
                ),
                name(cn, o),
            ]
            .concat(),
        );
        let cert = der(
            0x30,
            &[tbs, der(0x30, &der(0x06, &[0x2a])), der(0x03, &[0])].concat(),
        );
        let mut list = Vec::new();
        list.extend_from_slice(&(cert.len() as u32).to_be_bytes()[1..]);
        list.extend_from_slice(&cert);
        let mut body = (list.len() as u32).to_be_bytes()[1..].to_vec();
        body.extend_from_slice(&list);
        let mut hs = vec![11];
        hs.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        hs.extend_from_slice(&body);
        hs
    }

    #[test]
    fn certificate_subject_from_a_tls12_flight() {
        let tbs = der(
            0x30,
            &[
                der(0xa0, &der(0x02, &[2])),
                der(0x02, &[1]),
                der(0x30, &der(0x06, &[0x2a])),
                name("Issuing CA", "Bank"),
                der(
                    0x30,
                    &[der(0x17, b"250101000000Z"), der(0x17, b"260101000000Z")].concat(),
                ),
                name("tpp-client-001", "Fintech Ltd"),
            ]
            .concat(),
        );
        let cert = der(
            0x30,
            &[tbs, der(0x30, &der(0x06, &[0x2a])), der(0x03, &[0])].concat(),
        );
        let mut list = Vec::new();
        list.extend_from_slice(&(cert.len() as u32).to_be_bytes()[1..]);
        list.extend_from_slice(&cert);
        let mut body = (list.len() as u32).to_be_bytes()[1..].to_vec();
        body.extend_from_slice(&list);
        let mut hs = vec![11];
        hs.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        hs.extend_from_slice(&body);
        // A ServerHello-like message first, then the Certificate, in one record.
        let mut msgs = vec![2, 0, 0, 2, 3, 3];
        msgs.extend_from_slice(&hs);
        let mut rec = vec![0x16, 0x03, 0x03];
        rec.extend_from_slice(&(msgs.len() as u16).to_be_bytes());
        rec.extend_from_slice(&msgs);
        assert_eq!(
            first_certificate_subject(&rec).as_deref(),
            Some("CN=tpp-client-001,O=Fintech Ltd")
        );
        for cut in 0..rec.len() {
            let _ = first_certificate_subject(&rec[..cut]);
        }
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..600)) {
            let mut rec = vec![0x16, 0x03, 0x01];
            rec.extend_from_slice(&(data.len() as u16).to_be_bytes());
            rec.extend_from_slice(&data);
            let _ = parse_client_hello(&rec);
            let _ = first_certificate_subject(&rec);
            let _ = cert_subject(&data);
        }
    }
}
