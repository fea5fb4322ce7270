//! Masked previews: what a human may see of a detected value.
//!
//! A preview is built from the accepted candidate and never contains more of it than its style
//! allows. The limits are part of the privacy contract and are asserted by the tests below:
//!
//! | style   | keeps                                           | example                         |
//! |---------|-------------------------------------------------|---------------------------------|
//! | `last4` | separators and the last 4 alphanumerics (at most half of them) | `**** **** **** 4242`, `***-**-6789` |
//! | `iban`  | the country code and the last 4 characters, in groups of four | `GB** **** **** **** **54 32` |
//! | `email` | the first character of the local part and the domain | `j***@example.com`           |
//! | `token` | the first 4 characters (at most a quarter) and the length | `eyJh… (212 chars)`         |
//! | `full`  | nothing                                          | `********`                      |

/// How a class's values are shown (`mask = "..."` in a rules file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MaskStyle {
    Last4,
    Iban,
    Email,
    Token,
    Full,
}

/// Longest preview produced; a defensive bound for odd candidates.
const MAX_PREVIEW: usize = 48;

impl MaskStyle {
    /// Parse the name used in rules files.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "last4" => MaskStyle::Last4,
            "iban" => MaskStyle::Iban,
            "email" => MaskStyle::Email,
            "token" => MaskStyle::Token,
            "full" => MaskStyle::Full,
            _ => return None,
        })
    }

    /// Every name accepted by [`MaskStyle::from_name`], for error messages.
    pub const NAMES: &'static [&'static str] = &["last4", "iban", "email", "token", "full"];

    /// The masked preview of `value`.
    pub fn apply(self, value: &str) -> String {
        match self {
            MaskStyle::Last4 => last4(value),
            MaskStyle::Iban => iban(value),
            MaskStyle::Email => email(value),
            MaskStyle::Token => token(value),
            MaskStyle::Full => "********".to_string(),
        }
    }
}

/// Separators kept in place so the preview shows the value's layout (`***-**-6789`).
fn is_layout(c: char) -> bool {
    matches!(c, ' ' | '-' | '.' | '/' | '(' | ')' | '+')
}

fn last4(value: &str) -> String {
    let n = value.chars().filter(char::is_ascii_alphanumeric).count();
    // Short values (a 6-digit sort code) would be mostly revealed by "last 4": keep at most half.
    let keep = 4.min(n / 2);
    let has_layout = value.chars().any(|c| is_layout(c) && c != '+');
    let mut out = String::with_capacity(value.len() + 4);
    let mut seen = 0usize;
    for c in value.chars() {
        if c.is_ascii_alphanumeric() {
            seen += 1;
            if !has_layout && n >= 12 && seen > 1 && (seen - 1).is_multiple_of(4) {
                // Bare card numbers read better grouped in fours, like a printed card.
                out.push(' ');
            }
            out.push(if seen > n - keep { c } else { '*' });
        } else if is_layout(c) {
            out.push(c);
        } else {
            out.push('*');
        }
        if out.len() >= MAX_PREVIEW {
            break;
        }
    }
    out
}

fn iban(value: &str) -> String {
    let compact: Vec<char> = value
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let n = compact.len();
    if n < 10 {
        return "********".to_string();
    }
    let mut out = String::with_capacity(n + n / 4);
    for (i, &c) in compact.iter().enumerate().take(MAX_PREVIEW) {
        if i > 0 && i % 4 == 0 {
            out.push(' ');
        }
        out.push(if i < 2 || i >= n - 4 { c } else { '*' });
    }
    out
}

fn email(value: &str) -> String {
    match value.rsplit_once('@') {
        Some((local, domain)) => {
            let first = local
                .chars()
                .next()
                .filter(char::is_ascii_alphanumeric)
                .unwrap_or('*');
            let domain: String = domain.chars().take(MAX_PREVIEW).collect();
            format!("{first}***@{domain}")
        }
        None => "***".to_string(),
    }
}

fn token(value: &str) -> String {
    let n = value.chars().count();
    let keep = 4.min(n / 4);
    let head: String = value.chars().take(keep).collect();
    format!("{head}… ({n} chars)")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn digits(s: &str) -> usize {
        s.chars().filter(char::is_ascii_digit).count()
    }

    #[test]
    fn examples_from_the_contract() {
        assert_eq!(
            MaskStyle::Last4.apply("4242424242424242"),
            "**** **** **** 4242"
        );
        assert_eq!(
            MaskStyle::Last4.apply("4242 4242 4242 4242"),
            "**** **** **** 4242"
        );
        assert_eq!(MaskStyle::Last4.apply("123-45-6789"), "***-**-6789");
        assert_eq!(MaskStyle::Last4.apply("+44 7700 900123"), "+** **** **0123");
        assert_eq!(
            MaskStyle::Iban.apply("GB82WEST12345698765432"),
            "GB** **** **** **** **54 32"
        );
        assert_eq!(
            MaskStyle::Iban.apply("GB82 WEST 1234 5698 7654 32"),
            "GB** **** **** **** **54 32"
        );
        assert_eq!(
            MaskStyle::Email.apply("jane.doe@example.com"),
            "j***@example.com"
        );
        assert_eq!(
            MaskStyle::Token.apply("eyJhbGciOiJIUzI1NiJ9.e30.abc"),
            "eyJh… (28 chars)"
        );
        assert_eq!(MaskStyle::Full.apply("hunter2"), "********");
    }

    #[test]
    fn short_values_reveal_at_most_half() {
        assert_eq!(MaskStyle::Last4.apply("20-00-00"), "**-*0-00");
        assert_eq!(MaskStyle::Token.apply("abcdefgh"), "ab… (8 chars)");
    }

    proptest! {
        #[test]
        fn last4_never_shows_more_than_four_digits(s in "[0-9]{6,19}( ?[0-9]{1,4}){0,4}") {
            let m = MaskStyle::Last4.apply(&s);
            prop_assert!(digits(&m) <= 4, "{m}");
            let tail: String = s.chars().filter(char::is_ascii_digit).rev().take(digits(&m)).collect();
            let shown: String = m.chars().filter(char::is_ascii_digit).rev().collect();
            prop_assert_eq!(tail, shown, "only the trailing digits are shown");
        }

        #[test]
        fn iban_shows_country_and_four(s in "[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}") {
            let m = MaskStyle::Iban.apply(&s);
            let shown: Vec<char> = m.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
            prop_assert_eq!(shown.len(), 6, "{}", m);
            prop_assert_eq!(&shown[..2], &s.chars().take(2).collect::<Vec<_>>()[..]);
        }

        #[test]
        fn token_shows_at_most_four_chars(s in "[A-Za-z0-9_-]{1,300}") {
            let m = MaskStyle::Token.apply(&s);
            let (head, tail) = m.split_once('…').unwrap_or_default();
            prop_assert!(head.chars().count() <= 4);
            prop_assert!(s.starts_with(head));
            prop_assert_eq!(tail.to_string(), format!(" ({} chars)", s.chars().count()));
        }

        #[test]
        fn email_hides_all_but_first_of_local(local in "[a-z0-9][a-z0-9._]{0,29}", domain in "[a-z]{2,10}\\.com") {
            let m = MaskStyle::Email.apply(&format!("{local}@{domain}"));
            let (l, d) = m.split_once('@').unwrap_or_default();
            prop_assert_eq!(l.chars().filter(|c| *c != '*').count(), 1);
            prop_assert_eq!(d, domain.as_str());
        }
    }
}
