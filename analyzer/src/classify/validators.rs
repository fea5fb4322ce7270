//! Structural checks that turn a regex candidate into a detection.
//!
//! A pattern only says "this looks like X"; a validator says "this *is* a well-formed X" by the
//! rules of the scheme that defines X (check digits, reserved ranges, lengths). Each validator
//! takes the candidate text and returns the part of it that is the accepted value (it may trim a
//! candidate the regex over-matched, e.g. an IBAN followed by another word), or `None`.
//!
//! Validators are pure functions of their input and never allocate more than the candidate.
//! They are also used by [`crate::template`] to type path segments without a full classifier.

use base64::Engine as _;

/// The validators a rule may name (`validator = "..."` in a rules file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Validator {
    /// Accept every regex match.
    None,
    /// Payment card number: issuer prefix + length table, then the Luhn check.
    LuhnCard,
    /// ISO 13616 IBAN: per-country length, then ISO 7064 mod 97-10 == 1.
    IbanMod97,
    /// US ABA routing transit number: Federal Reserve prefix ranges and the 3-7-1 checksum.
    AbaRouting,
    /// US social security number: area, group and serial reserved values.
    UsSsn,
    /// UK National Insurance number: HMRC prefix and suffix rules.
    UkNino,
    /// UK sort code (6 digits) and/or account number (8 digits).
    UkSortCodeAccount,
    /// RFC 5321 length limits and domain label syntax.
    Email,
    /// ITU-T E.164: at most 15 digits, country code not starting with 0.
    E164Phone,
    /// RFC 7519 JWS compact form whose header decodes to a JSON object with `alg`.
    Jwt,
    /// A calendar date between 1900 and 2100 (YYYY-MM-DD, YYYY/MM/DD, DD/MM/YYYY, DD.MM.YYYY, YYYYMMDD).
    Date,
    /// A secret-looking value: not a boolean/null literal and not already masked.
    NonPlaceholder,
    /// An IPv4 address in dotted-quad form or an IPv6 address (RFC 4291 text forms), as the
    /// standard library parses them.
    IpAddress,
}

impl Validator {
    /// Parse the name used in rules files.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "none" => Validator::None,
            "luhn_card" => Validator::LuhnCard,
            "iban_mod97" => Validator::IbanMod97,
            "aba_routing" => Validator::AbaRouting,
            "us_ssn" => Validator::UsSsn,
            "uk_nino" => Validator::UkNino,
            "uk_sort_code_account" => Validator::UkSortCodeAccount,
            "email" => Validator::Email,
            "e164_phone" => Validator::E164Phone,
            "jwt" => Validator::Jwt,
            "date" => Validator::Date,
            "non_placeholder" => Validator::NonPlaceholder,
            "ip_address" => Validator::IpAddress,
            _ => return None,
        })
    }

    /// Every name accepted by [`Validator::from_name`], for error messages.
    pub const NAMES: &'static [&'static str] = &[
        "none",
        "luhn_card",
        "iban_mod97",
        "aba_routing",
        "us_ssn",
        "uk_nino",
        "uk_sort_code_account",
        "email",
        "e164_phone",
        "jwt",
        "date",
        "non_placeholder",
        "ip_address",
    ];

    /// Check `candidate`; on success return the accepted slice of it.
    pub fn check(self, candidate: &str) -> Option<&str> {
        let ok = match self {
            Validator::None => true,
            Validator::LuhnCard => is_card(candidate),
            Validator::IbanMod97 => return iban(candidate),
            Validator::AbaRouting => is_aba_routing(candidate),
            Validator::UsSsn => is_us_ssn(candidate),
            Validator::UkNino => is_uk_nino(candidate),
            Validator::UkSortCodeAccount => is_uk_sort_code_account(candidate),
            Validator::Email => is_email(candidate),
            Validator::E164Phone => is_phone(candidate),
            Validator::Jwt => is_jwt(candidate),
            Validator::Date => is_date(candidate),
            Validator::NonPlaceholder => is_non_placeholder(candidate),
            Validator::IpAddress => candidate.parse::<std::net::IpAddr>().is_ok(),
        };
        ok.then_some(candidate)
    }
}

/// Digits of `s` when every other character is one separator kind from `seps`, used the same
/// way throughout (a card written `4111 1111-1111 1111` is not a card, it is two numbers).
fn digits_with_consistent_separator(s: &str, seps: &[u8]) -> Option<Vec<u8>> {
    let mut digits = Vec::with_capacity(s.len());
    let mut sep: Option<u8> = None;
    let mut prev_sep = true; // a leading separator is not allowed either
    for &b in s.as_bytes() {
        if b.is_ascii_digit() {
            digits.push(b - b'0');
            prev_sep = false;
        } else if seps.contains(&b) {
            if prev_sep || sep.is_some_and(|s| s != b) {
                return None;
            }
            sep = Some(b);
            prev_sep = true;
        } else {
            return None;
        }
    }
    (!prev_sep).then_some(digits)
}

/// The Luhn (mod 10) check of ISO/IEC 7812-1 Annex B.
pub fn luhn(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 {
                    x - 9
                } else {
                    x
                }
            } else {
                d
            }
        })
        .sum();
    !digits.is_empty() && sum.is_multiple_of(10)
}

/// Leading `n` digits as a number (n <= 8).
fn prefix(digits: &[u8], n: usize) -> u32 {
    digits
        .iter()
        .take(n)
        .fold(0, |acc, &d| acc * 10 + u32::from(d))
}

/// The card scheme an issuer identification number and length belong to, if any.
///
/// Prefix ranges and lengths follow the schemes' published IIN tables (ISO/IEC 7812 issuer
/// ranges): Visa 4 (13, 16, 19); Mastercard 51-55 and 2221-2720 (16); Amex 34, 37 (15);
/// Discover 6011, 644-649, 65, 622126-622925 (16-19); JCB 3528-3589 (16-19); UnionPay 62
/// (16-19); Diners 300-305, 3095, 36, 38, 39 (14-19); Maestro 50, 56-58, 6304, 639, 67 (12-19).
pub fn card_scheme(digits: &[u8]) -> Option<&'static str> {
    let len = digits.len();
    let p1 = prefix(digits, 1);
    let p2 = prefix(digits, 2);
    let p3 = prefix(digits, 3);
    let p4 = prefix(digits, 4);
    let p6 = prefix(digits, 6);
    let within = |lo: usize, hi: usize| (lo..=hi).contains(&len);
    if p1 == 4 && matches!(len, 13 | 16 | 19) {
        return Some("visa");
    }
    if ((51..=55).contains(&p2) || (2221..=2720).contains(&p4)) && len == 16 {
        return Some("mastercard");
    }
    if (p2 == 34 || p2 == 37) && len == 15 {
        return Some("amex");
    }
    if (p4 == 6011 || p2 == 65 || (644..=649).contains(&p3) || (622126..=622925).contains(&p6))
        && within(16, 19)
    {
        return Some("discover");
    }
    if (3528..=3589).contains(&p4) && within(16, 19) {
        return Some("jcb");
    }
    if p2 == 62 && within(16, 19) {
        return Some("unionpay");
    }
    if ((300..=305).contains(&p3) || p4 == 3095 || p2 == 36 || p2 == 38 || p2 == 39)
        && within(14, 19)
    {
        return Some("diners");
    }
    if (p2 == 50 || (56..=58).contains(&p2) || p4 == 6304 || p3 == 639 || p2 == 67)
        && within(12, 19)
    {
        return Some("maestro");
    }
    None
}

/// A payment card number: 12-19 digits, optionally grouped by one consistent separator
/// (space or dash), a known scheme prefix and length, and a valid Luhn check digit.
pub fn is_card(s: &str) -> bool {
    match digits_with_consistent_separator(s, b" -") {
        Some(d) if (12..=19).contains(&d.len()) => card_scheme(&d).is_some() && luhn(&d),
        _ => false,
    }
}

/// IBAN lengths per country code, from the SWIFT IBAN registry (ISO 13616), including the
/// French overseas territories that issue FR-format IBANs under their own code.
const IBAN_LENGTHS: &[(&str, usize)] = &[
    ("AD", 24),
    ("AE", 23),
    ("AL", 28),
    ("AT", 20),
    ("AZ", 28),
    ("BA", 20),
    ("BE", 16),
    ("BG", 22),
    ("BH", 22),
    ("BI", 27),
    ("BL", 27),
    ("BR", 29),
    ("BY", 28),
    ("CH", 21),
    ("CR", 22),
    ("CY", 28),
    ("CZ", 24),
    ("DE", 22),
    ("DJ", 27),
    ("DK", 18),
    ("DO", 28),
    ("EE", 20),
    ("EG", 29),
    ("ES", 24),
    ("FI", 18),
    ("FK", 18),
    ("FO", 18),
    ("FR", 27),
    ("GB", 22),
    ("GE", 22),
    ("GF", 27),
    ("GI", 23),
    ("GL", 18),
    ("GP", 27),
    ("GR", 27),
    ("GT", 28),
    ("HN", 28),
    ("HR", 21),
    ("HU", 28),
    ("IE", 22),
    ("IL", 23),
    ("IQ", 23),
    ("IS", 26),
    ("IT", 27),
    ("JO", 30),
    ("KW", 30),
    ("KZ", 20),
    ("LB", 28),
    ("LC", 32),
    ("LI", 21),
    ("LT", 20),
    ("LU", 20),
    ("LV", 21),
    ("LY", 25),
    ("MC", 27),
    ("MD", 24),
    ("ME", 22),
    ("MF", 27),
    ("MK", 19),
    ("MN", 20),
    ("MQ", 27),
    ("MR", 27),
    ("MT", 31),
    ("MU", 30),
    ("NC", 27),
    ("NI", 28),
    ("NL", 18),
    ("NO", 15),
    ("OM", 23),
    ("PF", 27),
    ("PK", 24),
    ("PL", 28),
    ("PM", 27),
    ("PS", 29),
    ("PT", 25),
    ("QA", 29),
    ("RE", 27),
    ("RO", 24),
    ("RS", 22),
    ("RU", 33),
    ("SA", 24),
    ("SC", 31),
    ("SD", 18),
    ("SE", 24),
    ("SI", 19),
    ("SK", 24),
    ("SM", 27),
    ("SO", 23),
    ("ST", 25),
    ("SV", 28),
    ("TF", 27),
    ("TL", 23),
    ("TN", 24),
    ("TR", 26),
    ("UA", 29),
    ("VA", 22),
    ("VG", 24),
    ("WF", 27),
    ("XK", 20),
    ("YE", 30),
    ("YT", 27),
];

/// [`IBAN_LENGTHS`] as a table indexed by the two letters (`(a - 'A') * 26 + (b - 'A')`);
/// 0 for an unregistered code.
static IBAN_LENGTH_TABLE: [u8; 26 * 26] = {
    let mut t = [0u8; 26 * 26];
    let mut i = 0;
    while i < IBAN_LENGTHS.len() {
        let (c, n) = IBAN_LENGTHS[i];
        let b = c.as_bytes();
        t[(b[0] - b'A') as usize * 26 + (b[1] - b'A') as usize] = n as u8;
        i += 1;
    }
    t
};

/// The registered IBAN length for a country code.
pub fn iban_length(country: &str) -> Option<usize> {
    match country.as_bytes() {
        &[a @ b'A'..=b'Z', b @ b'A'..=b'Z'] => {
            let n = IBAN_LENGTH_TABLE[usize::from(a - b'A') * 26 + usize::from(b - b'A')];
            (n != 0).then_some(usize::from(n))
        }
        _ => None,
    }
}

/// ISO 7064 MOD 97-10 over an IBAN (country + check digits moved to the end, letters as 10..35).
fn iban_mod97(compact: &[u8]) -> bool {
    let rearranged = compact[4..].iter().chain(&compact[..4]);
    let mut rem: u32 = 0;
    for &b in rearranged {
        let v = match b {
            b'0'..=b'9' => u32::from(b - b'0'),
            b'A'..=b'Z' => u32::from(b - b'A') + 10,
            _ => return false,
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem == 1
}

/// An IBAN in electronic (`GB82WEST...`) or print (`GB82 WEST ...`) form.
///
/// The regex may over-match into a following word (`GB82 WEST 1234 5698 7654 32 EUR`), so the
/// candidate is cut at the registered length for its country, provided the cut falls at the end
/// or at a space. Returns the accepted prefix of `s`.
pub fn iban(s: &str) -> Option<&str> {
    let bytes = s.as_bytes();
    if bytes.len() < 4 {
        return None;
    }
    let country = [bytes[0].to_ascii_uppercase(), bytes[1].to_ascii_uppercase()];
    let want = std::str::from_utf8(&country).ok().and_then(iban_length)?;
    // The longest registered IBAN is 33 characters: no allocation.
    let mut compact = [0u8; 34];
    let mut n = 0;
    let mut end = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if n == want {
            break;
        }
        if b == b' ' {
            if i < 4 {
                // print form groups in fours: no space inside the country code + check digits
                return None;
            }
            continue;
        }
        if !b.is_ascii_alphanumeric() {
            return None;
        }
        compact[n] = b.to_ascii_uppercase();
        n += 1;
        end = i + 1;
    }
    let compact = &compact[..n];
    if n != want || bytes.get(end).is_some_and(|&b| b != b' ') {
        return None;
    }
    if !compact[2].is_ascii_digit() || !compact[3].is_ascii_digit() {
        return None;
    }
    iban_mod97(compact).then(|| &s[..end])
}

/// ABA routing number: 9 digits, a Federal Reserve routing symbol prefix (00-12 banks, 21-32
/// thrifts, 61-72 electronic, 80 traveller's cheques) and `3(d1+d4+d7) + 7(d2+d5+d8) +
/// (d3+d6+d9) ≡ 0 (mod 10)`.
pub fn is_aba_routing(s: &str) -> bool {
    let d: Vec<u32> = s
        .bytes()
        .filter(u8::is_ascii_digit)
        .map(|b| u32::from(b - b'0'))
        .collect();
    if d.len() != 9 || s.len() != 9 {
        return false;
    }
    let p = d[0] * 10 + d[1];
    let prefix_ok = p <= 12 || (21..=32).contains(&p) || (61..=72).contains(&p) || p == 80;
    let sum = 3 * (d[0] + d[3] + d[6]) + 7 * (d[1] + d[4] + d[7]) + (d[2] + d[5] + d[8]);
    prefix_ok && sum.is_multiple_of(10) && d.iter().any(|&x| x != 0)
}

/// US SSN (`AAA-GG-SSSS` or 9 bare digits): SSA never issues area 000, 666 or 900-999, group
/// 00 or serial 0000; 078-05-1120 and 219-09-9999 are the well-known advertising numbers.
pub fn is_us_ssn(s: &str) -> bool {
    let Some(d) = digits_with_consistent_separator(s, b"- ") else {
        return false;
    };
    let seps = s.len() - d.len();
    if d.len() != 9 || (seps != 0 && seps != 2) {
        return false;
    }
    if seps == 2 && (s.as_bytes()[3].is_ascii_digit() || s.as_bytes()[6].is_ascii_digit()) {
        return false;
    }
    let area = prefix(&d, 3);
    let group = prefix(&d[3..], 2);
    let serial = prefix(&d[5..], 4);
    let whole = prefix(&d, 9);
    area != 0
        && area != 666
        && area < 900
        && group != 0
        && serial != 0
        && whole != 78_051_120
        && whole != 219_099_999
}

/// UK National Insurance number: two prefix letters (not D, F, I, Q, U, V; second not O;
/// not BG, GB, KN, NK, NT, TN, ZZ), six digits, suffix A-D (HMRC NIM39110).
pub fn is_uk_nino(s: &str) -> bool {
    let c: Vec<u8> = s
        .bytes()
        .filter(|b| *b != b' ')
        .map(|b| b.to_ascii_uppercase())
        .collect();
    if c.len() != 9 {
        return false;
    }
    let bad1 = b"DFIQUV";
    let bad2 = b"DFIOQUV";
    let forbidden: [&[u8; 2]; 7] = [b"BG", b"GB", b"KN", b"NK", b"NT", b"TN", b"ZZ"];
    c[0].is_ascii_uppercase()
        && c[1].is_ascii_uppercase()
        && !bad1.contains(&c[0])
        && !bad2.contains(&c[1])
        && !forbidden.iter().any(|f| f[..] == c[..2])
        && c[2..8].iter().all(u8::is_ascii_digit)
        && matches!(c[8], b'A'..=b'D')
}

/// UK sort code (`NN-NN-NN` or 6 digits), account number (8 digits), or both separated by
/// spaces, `/` or `,`. Sort code 00-00-00 is not allocated. (The Vocalink modulus tables that
/// would validate an account against its sort code are not embedded.)
pub fn is_uk_sort_code_account(s: &str) -> bool {
    let digits = s.bytes().filter(u8::is_ascii_digit).count();
    let all_digits: Vec<u8> = s.bytes().filter(u8::is_ascii_digit).collect();
    if !s
        .bytes()
        .all(|b| b.is_ascii_digit() || b" -/,".contains(&b))
    {
        return false;
    }
    match digits {
        6 | 14 => all_digits[..6].iter().any(|&b| b != b'0'),
        8 => all_digits.iter().any(|&b| b != b'0'),
        _ => false,
    }
}

/// File extensions that follow an `@` in asset names like `icon@2x.png`.
const NOT_TLDS: &[&str] = &[
    "png", "jpg", "jpeg", "gif", "svg", "webp", "ico", "css", "js", "json", "html", "xml", "txt",
    "pdf", "map", "woff", "woff2", "ttf",
];

/// An email address within RFC 5321 limits (local part <= 64, total <= 254), with DNS label
/// syntax for the domain (RFC 1035 §2.3.1) and an alphabetic top-level label.
pub fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.rsplit_once('@') else {
        return false;
    };
    if local.is_empty() || local.len() > 64 || s.len() > 254 || domain.len() > 253 {
        return false;
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return false;
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 {
        return false;
    }
    let labels_ok = labels.iter().all(|l| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    });
    let tld = labels.last().copied().unwrap_or_default();
    labels_ok
        && tld.len() >= 2
        && tld.bytes().all(|b| b.is_ascii_alphabetic())
        && !NOT_TLDS.contains(&tld.to_ascii_lowercase().as_str())
}

/// `YYYY-MM-DD`-shaped strings (with `-` or `/`) are dates, not phone numbers.
fn looks_like_iso_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && (b[4] == b'-' || b[4] == b'/')
        && b[7] == b[4]
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}

/// A telephone number: E.164 (ITU-T E.164 §6: country code + national number, at most 15
/// digits; we require at least 8) with an optional leading `+` (or `00` international prefix),
/// grouped by spaces, dashes, dots or parentheses. Without `+` the rules require a phone-ish
/// field name, so bare national numbers (a leading trunk `0`) are accepted here.
pub fn is_phone(s: &str) -> bool {
    let plus = s.starts_with('+');
    let body = if plus { &s[1..] } else { s };
    if looks_like_iso_date(body) {
        return false;
    }
    let mut digits = 0usize;
    let mut prev_sep = false;
    let mut first_digit = None;
    let mut open_paren = false;
    for b in body.bytes() {
        match b {
            b'0'..=b'9' => {
                first_digit.get_or_insert(b);
                digits += 1;
                prev_sep = false;
            }
            b' ' | b'-' | b'.' => {
                if prev_sep {
                    return false;
                }
                prev_sep = true;
            }
            b'(' if !open_paren => {
                open_paren = true;
                prev_sep = false;
            }
            b')' if open_paren => {
                open_paren = false;
                prev_sep = false;
            }
            _ => return false,
        }
    }
    if open_paren || !(8..=15).contains(&digits) {
        return false;
    }
    // E.164 country codes never start with 0.
    !(plus && first_digit == Some(b'0'))
}

/// Decode one base64url JWT segment (RFC 7515 §2: no padding; padded input is tolerated).
fn b64url_decode(seg: &str) -> Option<Vec<u8>> {
    let seg = seg.trim_end_matches('=');
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(seg)
        .ok()
}

/// A JWS in compact serialisation (RFC 7515 §7.1): three base64url segments whose first
/// decodes to a JSON object with a string `alg` (RFC 7515 §4.1.1). The payload must decode too
/// (it need not be JSON: RFC 7519 allows nested JWTs); an empty signature is the unsecured form.
pub fn is_jwt(s: &str) -> bool {
    let mut parts = s.split('.');
    let (Some(h), Some(p), Some(_sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    if p.is_empty() || !is_jws_header(h) {
        return false;
    }
    b64url_decode(p).is_some()
}

/// A JWS header segment (RFC 7515 §4.1.1): at most 2048 base64url characters decoding to a
/// JSON object with a string `alg`.
pub fn is_jws_header(h: &str) -> bool {
    if h.len() > 2048 {
        return false;
    }
    let Some(header) = b64url_decode(h) else {
        return false;
    };
    match serde_json::from_slice::<serde_json::Value>(&header) {
        Ok(serde_json::Value::Object(m)) => m.get("alg").is_some_and(|a| a.is_string()),
        _ => false,
    }
}

/// Days in a month of the proleptic Gregorian calendar.
fn days_in_month(y: u32, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Whether `(y, m, d)` is a real calendar date with 1900 <= y <= 2100.
pub fn valid_ymd(y: u32, m: u32, d: u32) -> bool {
    (1900..=2100).contains(&y) && (1..=12).contains(&m) && d >= 1 && d <= days_in_month(y, m)
}

fn num(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// A calendar date: `YYYY-MM-DD`, `YYYY/MM/DD`, `DD/MM/YYYY`, `DD.MM.YYYY`, `DD-MM-YYYY` or
/// `YYYYMMDD`. Day-first forms are read as day/month (the European and UK convention); an
/// unambiguous month-first date (`12/31/1990`) is accepted too.
pub fn is_date(s: &str) -> bool {
    if s.len() == 8 {
        return match (num(&s[..4]), num(&s[4..6]), num(&s[6..])) {
            (Some(y), Some(m), Some(d)) => valid_ymd(y, m, d),
            _ => false,
        };
    }
    let parts: Vec<&str> = s.split(['-', '/', '.']).collect();
    if parts.len() != 3 || s.len() != 10 {
        return false;
    }
    let n: Vec<Option<u32>> = parts.iter().map(|p| num(p)).collect();
    let (Some(a), Some(b), Some(c)) = (n[0], n[1], n[2]) else {
        return false;
    };
    if parts[0].len() == 4 {
        valid_ymd(a, b, c)
    } else {
        valid_ymd(c, b, a) || valid_ymd(c, a, b)
    }
}

/// Values that fill a secret field without being a secret: booleans, null, masks.
pub fn is_non_placeholder(s: &str) -> bool {
    let t = s.trim();
    let lower = t.to_ascii_lowercase();
    let literal = matches!(
        lower.as_str(),
        "true" | "false" | "null" | "none" | "undefined" | "[redacted]" | "redacted"
    );
    // A run of mask characters is a value someone already redacted.
    let masked =
        t.chars().count() >= 3 && t.chars().all(|c| matches!(c, '*' | 'x' | 'X' | '.' | '•'));
    !t.is_empty() && !literal && !masked
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_accepts_test_cards_and_rejects_off_by_one() {
        assert!(is_card("4111111111111111"));
        assert!(is_card("4111 1111 1111 1111"));
        assert!(is_card("5555-5555-5555-4444"));
        assert!(is_card("378282246310005"));
        assert!(!is_card("4111111111111112"));
        assert!(!is_card("4111 1111-1111 1111"), "mixed separators");
        assert!(!is_card("1700000000123"), "timestamp: no scheme");
    }

    #[test]
    fn card_scheme_respects_lengths() {
        let d = |s: &str| s.bytes().map(|b| b - b'0').collect::<Vec<_>>();
        assert_eq!(card_scheme(&d("378282246310005")), Some("amex"));
        assert_eq!(
            card_scheme(&d("3782822463100051")),
            None,
            "amex is 15 digits"
        );
        assert_eq!(card_scheme(&d("2223000048400011")), Some("mastercard"));
        assert_eq!(card_scheme(&d("6011111111111117")), Some("discover"));
        assert_eq!(card_scheme(&d("3530111333300000")), Some("jcb"));
        assert_eq!(card_scheme(&d("30569309025904")), Some("diners"));
    }

    #[test]
    fn iban_checks_length_and_mod97_and_trims() {
        assert_eq!(
            iban("GB82WEST12345698765432"),
            Some("GB82WEST12345698765432")
        );
        assert_eq!(
            iban("GB82 WEST 1234 5698 7654 32"),
            Some("GB82 WEST 1234 5698 7654 32")
        );
        assert_eq!(
            iban("GB82 WEST 1234 5698 7654 32 EUR"),
            Some("GB82 WEST 1234 5698 7654 32")
        );
        assert_eq!(iban("GB83WEST12345698765432"), None, "bad check digits");
        assert_eq!(iban("GB82WEST1234569876543"), None, "short for GB");
        assert_eq!(iban("XX82WEST12345698765432"), None, "unknown country");
        assert_eq!(
            iban("GB82WEST123456987654321"),
            None,
            "runs on without a break"
        );
    }

    #[test]
    fn iban_length_table_is_the_registry() {
        for (c, n) in IBAN_LENGTHS {
            assert_eq!(iban_length(c), Some(*n), "{c}");
        }
        assert_eq!(iban_length("XX"), None);
        assert_eq!(iban_length("gb"), None);
        assert_eq!(iban_length("GBR"), None);
        assert_eq!(iban_length(""), None);
    }

    #[test]
    fn aba_ssn_nino_rules() {
        assert!(is_aba_routing("011000015"));
        assert!(!is_aba_routing("011000016"));
        assert!(!is_aba_routing("991000015"), "prefix 99 unused");
        assert!(is_us_ssn("123-45-6789"));
        assert!(is_us_ssn("123456789"));
        assert!(!is_us_ssn("666-45-6789"));
        assert!(!is_us_ssn("912-45-6789"));
        assert!(!is_us_ssn("123-00-6789"));
        assert!(!is_us_ssn("123-45-0000"));
        assert!(!is_us_ssn("12-345-6789"), "wrong grouping");
        assert!(is_uk_nino("AB123456C"));
        assert!(is_uk_nino("AB 12 34 56 C"));
        assert!(!is_uk_nino("BG123456C"));
        assert!(!is_uk_nino("AB123456E"));
        assert!(!is_uk_nino("AO123456C"));
    }

    #[test]
    fn email_phone_date_rules() {
        assert!(is_email("jane.doe@example.co.uk"));
        assert!(!is_email("icon@2x.png"));
        assert!(!is_email("a..b@example.com"));
        assert!(!is_email("user@localhost"));
        assert!(is_phone("+44 7700 900123"));
        assert!(is_phone("(212) 555-0123"));
        assert!(!is_phone("+0123456789"));
        assert!(!is_phone("+1234567"), "7 digits");
        assert!(!is_phone("+1234567890123456"), "16 digits");
        assert!(!is_phone("2024-01-15"));
        assert!(is_date("1990-02-28"));
        assert!(is_date("19900228"));
        assert!(is_date("28/02/1990"));
        assert!(!is_date("1990-02-30"));
        assert!(!is_date("1700000000"));
    }

    #[test]
    fn jwt_header_must_be_json_with_alg() {
        // {"alg":"HS256","typ":"JWT"} . {"sub":"1"} . sig
        assert!(is_jwt(
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxIn0.c2ln"
        ));
        // {"typ":"JWT"} has no alg
        assert!(!is_jwt("eyJ0eXAiOiJKV1QifQ.eyJzdWIiOiIxIn0.c2ln"));
        assert!(
            !is_jwt("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0"),
            "two segments"
        );
    }
}
