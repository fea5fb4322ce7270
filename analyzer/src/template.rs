//! Path templating: concrete request paths to endpoint templates.
//!
//! Two sources, in order:
//!
//! 1. **Declared.** A concrete path that matches a catalogue template takes that template
//!    verbatim (`source = Declared`, every parameter's reason `declared`). A template matches
//!    when it has the same number of segments, its literal segments are equal (case-sensitive,
//!    compared on the raw, still percent-encoded segment) and each `{param}` matches a non-empty
//!    segment; a segment may mix literals and parameters (`{id}.json`, `v{major}`). When several
//!    templates match, the one whose literals come earliest wins (segment by segment: literal
//!    beats mixed beats parameter), then the most specific host (exact host, then the host
//!    without its port, then any host). Templates are indexed in one segment trie per host, so
//!    a lookup walks the trie instead of scanning every template.
//! 2. **Learned.** Otherwise each segment is typed on its own, after percent-decoding:
//!    sensitive shapes (`pan`, `iban`, `email`, `phone`, `ssn`, `jwt`), then `date`, `integer`,
//!    `uuid`, `ulid`, `hex` and `token`; a typed segment becomes `{name}` with the type as its
//!    reason. Names come from the previous literal segment (`/accounts/123` ->
//!    `{accountId}`), else `{id}`, made unique within the template (`{id}`, `{id2}`). Version
//!    segments (`v1`, `2.0`), well-known words (`api`, `me`, `oauth2`...) and short literals are
//!    never parameters; empty segments (`//`) and a trailing slash are kept.
//!
//! Work is bounded: at most [`MAX_SEGMENTS`] segments are typed (the rest collapse into one
//! `{rest}` parameter) and a segment longer than [`MAX_TYPED_SEGMENT`] bytes becomes a
//! parameter without being typed (reason `oversized`): a long segment is more likely a token
//! than a name, and a template must not carry it.
//!
//! What this module does **not** do: cardinality learning. A segment that is a plain word here
//! (`/users/alice`, `/users/bob`) can only be recognised as a parameter by seeing many distinct
//! values at the same position; that happens at inventory level, across observations, in
//! [`crate::cardinality`], which also applies the `[templating]` overrides ([`TemplateConfig`]).

use crate::classify::validators;
use crate::observation::TemplateSource;
use crate::FastMap;
use percent_encoding::percent_decode_str;
use std::borrow::Cow;

/// Most path segments typed; the rest of a longer path becomes one `{rest}` parameter.
pub const MAX_SEGMENTS: usize = 32;
/// Longest segment (bytes, before decoding) that is typed.
pub const MAX_TYPED_SEGMENT: usize = 256;
/// Segments shorter than this that are not all digits stay literal (`en`, `gb`, `ab12`).
const MIN_TYPED_WORD: usize = 8;

/// Default for [`TemplateConfig::threshold`].
pub const DEFAULT_CARDINALITY_THRESHOLD: usize = 50;
/// Default for [`TemplateConfig::max_tracked_values`].
pub const DEFAULT_MAX_TRACKED_VALUES: usize = 1_000;

/// The `[templating]` section of the configuration file: how cardinality learning
/// ([`crate::cardinality::collapse`]) turns literal siblings into parameters, and per-host
/// patterns that override learning.
///
/// ```toml
/// [templating]
/// threshold = 50              # distinct literal values at one position that make it a parameter
/// max_tracked_values = 1000   # distinct values remembered per position (the rest are counted)
///
/// [[templating.overrides]]    # learned paths matching this take it (`...` = any remaining segments)
/// host = "api.bank.example"   # optional: every host when omitted
/// pattern = "/v1/users/{userId}/..."
///
/// [[templating.literals]]     # `*` marks positions whose values are API words, never parameters
/// pattern = "/api/v1/*"
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TemplateConfig {
    /// Distinct literal values seen at one position (same host, same parent path) at which the
    /// position becomes a parameter. Clamped to at least 2 and at most `max_tracked_values`.
    pub threshold: usize,
    /// Distinct values remembered per position; more are counted in
    /// [`crate::cardinality::CollapseReport::untracked_values`] and the position collapses.
    pub max_tracked_values: usize,
    /// Patterns that learned paths take verbatim, first match wins (host-specific ones first).
    pub overrides: Vec<PathPattern>,
    /// Positions that stay literal however many distinct values they show.
    pub literals: Vec<PathPattern>,
}

impl Default for TemplateConfig {
    fn default() -> Self {
        TemplateConfig {
            threshold: DEFAULT_CARDINALITY_THRESHOLD,
            max_tracked_values: DEFAULT_MAX_TRACKED_VALUES,
            overrides: Vec::new(),
            literals: Vec::new(),
        }
    }
}

/// A path pattern in the configuration, for one host or all of them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PathPattern {
    /// Host as in `EndpointKey::host` (lowercase, default port removed); `None`: every host.
    #[serde(default)]
    pub host: Option<String>,
    pub pattern: String,
}

/// A path template the catalogue declares, with the host it is served on (`None`: any host).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeclaredRoute {
    pub host: Option<String>,
    /// Full path template including the server prefix, e.g. `/open-banking/v3.1/aisp/accounts/{AccountId}`.
    pub path: String,
}

/// Why a path segment became a parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathParam {
    /// Parameter name as it appears in the template (without braces).
    pub name: String,
    /// Why: `declared`, `integer`, `uuid`, `hex`, `date`, `email`, `token`, ...
    pub reason: String,
}

/// The result of templating one concrete path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Templated {
    pub path: String,
    pub source: TemplateSource,
    pub params: Vec<PathParam>,
}

/// One piece of a declared segment: literal text or a parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Lit(String),
    Param(String),
}

/// A declared segment, split into pieces. `{}` without a closing brace is literal text.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SegTemplate {
    pieces: Vec<Piece>,
}

impl SegTemplate {
    fn parse(seg: &str) -> Self {
        let mut pieces = Vec::new();
        let mut rest = seg;
        while let Some(open) = rest.find('{') {
            let Some(close) = rest[open..].find('}').map(|c| open + c) else {
                break;
            };
            if open > 0 {
                pieces.push(Piece::Lit(rest[..open].to_string()));
            }
            pieces.push(Piece::Param(rest[open + 1..close].to_string()));
            rest = &rest[close + 1..];
        }
        if !rest.is_empty() || pieces.is_empty() {
            pieces.push(Piece::Lit(rest.to_string()));
        }
        SegTemplate { pieces }
    }

    fn literal(&self) -> Option<&str> {
        match self.pieces.as_slice() {
            [Piece::Lit(l)] => Some(l),
            _ => None,
        }
    }

    /// The pieces with parameter names erased: templates that differ only in names share a
    /// trie node (`{id}.json` and `{name}.json`).
    fn shape(&self) -> String {
        self.pieces
            .iter()
            .map(|p| match p {
                Piece::Lit(l) => l.replace('{', "{{"),
                Piece::Param(_) => "{}".to_string(),
            })
            .collect()
    }

    /// Literal characters in a mixed segment: more literal text is more specific.
    fn literal_len(&self) -> usize {
        self.pieces
            .iter()
            .map(|p| if let Piece::Lit(l) = p { l.len() } else { 0 })
            .sum()
    }

    /// Whether `seg` matches; each parameter takes at least one character.
    fn matches(&self, seg: &str) -> bool {
        fn go(pieces: &[Piece], s: &str) -> bool {
            match pieces {
                [] => s.is_empty(),
                [Piece::Lit(l), rest @ ..] => {
                    s.strip_prefix(l.as_str()).is_some_and(|t| go(rest, t))
                }
                [Piece::Param(_)] => !s.is_empty(),
                [Piece::Param(_), rest @ ..] => {
                    // Try every split point after at least one character; segments are short
                    // and templates have one or two parameters per segment.
                    s.char_indices()
                        .skip(1)
                        .map(|(i, _)| i)
                        .any(|i| go(rest, &s[i..]))
                }
            }
        }
        go(&self.pieces, seg)
    }

    fn param_names(&self) -> impl Iterator<Item = &str> {
        self.pieces.iter().filter_map(|p| {
            if let Piece::Param(n) = p {
                Some(n.as_str())
            } else {
                None
            }
        })
    }
}

/// A trie over declared template segments.
#[derive(Debug, Clone, Default)]
struct Node {
    literals: FastMap<String, Node>,
    /// Parameter segments, most specific first (mixed with most literal text, then bare).
    params: Vec<(SegTemplate, Node)>,
    /// The route that ends here (the first declared, if several differ only in names).
    route: Option<usize>,
}

impl Node {
    fn insert(&mut self, segs: &[SegTemplate], route: usize) {
        let Some((first, rest)) = segs.split_first() else {
            self.route.get_or_insert(route);
            return;
        };
        if let Some(lit) = first.literal() {
            return self
                .literals
                .entry(lit.to_string())
                .or_default()
                .insert(rest, route);
        }
        let shape = first.shape();
        let pos = match self.params.iter().position(|(t, _)| t.shape() == shape) {
            Some(p) => p,
            None => {
                self.params.push((first.clone(), Node::default()));
                // Mixed before bare, more literal text first; stable, so ties keep declaration order.
                self.params
                    .sort_by_key(|(t, _)| std::cmp::Reverse(t.literal_len()));
                self.params
                    .iter()
                    .position(|(t, _)| t.shape() == shape)
                    .unwrap_or(0)
            }
        };
        self.params[pos].1.insert(rest, route);
    }

    /// Depth-first, literal child first: the first complete match is the one whose literals
    /// come earliest. `rank` records, per segment, 0 literal / 1 mixed / 2 parameter.
    fn find(&self, segs: &[&str], rank: &mut Vec<u8>) -> Option<usize> {
        let Some((first, rest)) = segs.split_first() else {
            return self.route;
        };
        if let Some(child) = self.literals.get(*first) {
            rank.push(0);
            if let Some(r) = child.find(rest, rank) {
                return Some(r);
            }
            rank.pop();
        }
        for (t, child) in &self.params {
            if t.matches(first) {
                rank.push(if t.literal_len() > 0 { 1 } else { 2 });
                if let Some(r) = child.find(rest, rank) {
                    return Some(r);
                }
                rank.pop();
            }
        }
        None
    }
}

/// Turns concrete paths into templates, declared templates first.
#[derive(Debug, Clone, Default)]
pub struct Templater {
    routes: Vec<DeclaredRoute>,
    /// Parameter names of each route's template, in order.
    route_params: Vec<Vec<String>>,
    any_host: Node,
    by_host: FastMap<String, Node>,
}

/// Lowercase, no trailing dot: the form of `EndpointKey::host`.
fn normalise_host(h: &str) -> String {
    h.trim_end_matches('.').to_ascii_lowercase()
}

/// The path's segments: no query or fragment, no leading slash; `/` is one empty segment.
pub(crate) fn split_path(path: &str) -> Vec<&str> {
    let path = path.split(['?', '#']).next().unwrap_or_default();
    path.strip_prefix('/').unwrap_or(path).split('/').collect()
}

impl Templater {
    pub fn new(routes: impl IntoIterator<Item = DeclaredRoute>) -> Self {
        let mut t = Templater::default();
        for route in routes {
            let segs: Vec<SegTemplate> = split_path(&route.path)
                .into_iter()
                .map(SegTemplate::parse)
                .collect();
            let idx = t.routes.len();
            t.route_params.push(
                segs.iter()
                    .flat_map(|s| s.param_names().map(str::to_string))
                    .collect(),
            );
            let node = match &route.host {
                None => &mut t.any_host,
                Some(h) => t.by_host.entry(normalise_host(h)).or_default(),
            };
            node.insert(&segs, idx);
            t.routes.push(route);
        }
        t
    }

    /// Number of declared routes indexed.
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    /// Whether no route is declared (every path is learned).
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    /// `host` is normalised (see `EndpointKey::host`); `path` is the raw path without the query.
    pub fn template(&self, host: &str, path: &str) -> Templated {
        let segs = split_path(path);
        match self.declared(host, &segs) {
            Some(i) => Templated {
                path: self.routes[i].path.clone(),
                source: TemplateSource::Declared,
                params: self.route_params[i]
                    .iter()
                    .map(|n| PathParam {
                        name: n.clone(),
                        reason: "declared".into(),
                    })
                    .collect(),
            },
            None => learn(&segs, path.starts_with('/')),
        }
    }

    /// The best declared route for `host` and `segs`, if any.
    fn declared(&self, host: &str, segs: &[&str]) -> Option<usize> {
        if self.routes.is_empty() {
            return None;
        }
        let host = normalise_host(host);
        let portless = crate::host::without_port(&host);
        // (trie, host rank): exact host, then the host without its port (routes that name no
        // port match any port), then any host.
        let mut tries: Vec<(&Node, u8)> = Vec::with_capacity(3);
        if let Some(n) = self.by_host.get(&host) {
            tries.push((n, 0));
        }
        if portless != host {
            if let Some(n) = self.by_host.get(portless) {
                tries.push((n, 1));
            }
        }
        tries.push((&self.any_host, 2));
        let mut best: Option<(Vec<u8>, u8, usize)> = None;
        for (node, host_rank) in tries {
            let mut rank = Vec::with_capacity(segs.len());
            if let Some(route) = node.find(segs, &mut rank) {
                let better = match &best {
                    None => true,
                    Some((r, h, _)) => (&rank, host_rank) < (r, *h),
                };
                if better {
                    best = Some((rank, host_rank, route));
                }
            }
        }
        best.map(|(_, _, r)| r)
    }
}

/// Words that are API structure, never identifiers, even where they would type (e.g. `oauth2`).
const WELL_KNOWN: &[&str] = &[
    "api",
    "apis",
    "rest",
    "public",
    "private",
    "internal",
    "external",
    "health",
    "healthz",
    "livez",
    "readyz",
    "status",
    "me",
    "self",
    "search",
    "login",
    "logout",
    "oauth",
    "oauth2",
    "token",
    "tokens",
    "auth",
    "authorize",
    "callback",
    "admin",
    "static",
    "assets",
    "graphql",
    "metrics",
    "ping",
    "version",
    "current",
    "latest",
    "new",
    "edit",
    "all",
    "default",
    "openid",
    "userinfo",
    "jwks",
    "jwks.json",
    ".well-known",
    "well-known",
    "openapi.json",
    "swagger.json",
    "v",
    "batch",
    "bulk",
    "export",
    "import",
    "count",
    "summary",
    "details",
];

/// `v1`, `v2`, `v1.2`, `V3`, `2.0`, `1.2.3`: version segments stay literal.
fn is_version(s: &str) -> bool {
    let body = s.strip_prefix(['v', 'V']).unwrap_or(s);
    let mut parts = body.split('.');
    let first_ok = parts
        .next()
        .is_some_and(|p| !p.is_empty() && p.len() <= 4 && p.bytes().all(|b| b.is_ascii_digit()));
    let rest: Vec<&str> = parts.collect();
    let rest_ok = rest
        .iter()
        .all(|p| !p.is_empty() && p.len() <= 4 && p.bytes().all(|b| b.is_ascii_digit()));
    first_ok && rest_ok && (body.len() != s.len() || !rest.is_empty())
}

fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| {
            if matches!(i, 8 | 13 | 18 | 23) {
                *c == b'-'
            } else {
                c.is_ascii_hexdigit()
            }
        })
}

/// Crockford base32, 26 characters, first character 0-7 (48-bit timestamp).
fn is_ulid(s: &str) -> bool {
    s.len() == 26
        && matches!(s.as_bytes()[0], b'0'..=b'7')
        && s.bytes().all(|b| {
            let u = b.to_ascii_uppercase();
            u.is_ascii_digit()
                || (u.is_ascii_uppercase() && !matches!(u, b'I' | b'L' | b'O' | b'U'))
        })
        && s.bytes().any(|b| b.is_ascii_alphabetic())
}

fn is_hex_id(s: &str) -> bool {
    if !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return false;
    }
    let digit = s.bytes().any(|b| b.is_ascii_digit());
    let letter = s.bytes().any(|b| b.is_ascii_alphabetic());
    (s.len() >= 12 && digit && letter) || s.len() >= 16
}

/// `YYYY-MM-DD`, `YYYYMMDD`, or an RFC 3339 date-time starting with a date.
fn is_date_segment(s: &str) -> bool {
    let date = match s.get(..10) {
        Some(d) if s.len() > 10 && s.as_bytes()[10] == b'T' => d,
        _ => s,
    };
    let b = date.as_bytes();
    let ymd = |y: &str, m: &str, d: &str| match (y.parse(), m.parse(), d.parse()) {
        (Ok(y), Ok(m), Ok(d)) => validators::valid_ymd(y, m, d),
        _ => false,
    };
    match b.len() {
        10 if b[4] == b'-' && b[7] == b'-' => {
            date.bytes()
                .enumerate()
                .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
                && ymd(&date[..4], &date[5..7], &date[8..])
        }
        8 if b.iter().all(u8::is_ascii_digit) => ymd(&date[..4], &date[4..6], &date[6..]),
        _ => false,
    }
}

/// Random-looking identifiers: base64/base64url/alphanumeric, at least 20 characters, letters
/// and digits, frequent switches between character classes (words and slugs switch rarely) and
/// at least 3 bits of entropy per character.
fn is_token(s: &str) -> bool {
    if s.len() < 20
        || !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+/=_-.~".contains(&b))
    {
        return false;
    }
    let alnum: Vec<u8> = s.bytes().filter(u8::is_ascii_alphanumeric).collect();
    let class = |b: u8| {
        if b.is_ascii_digit() {
            0
        } else if b.is_ascii_uppercase() {
            1
        } else {
            2
        }
    };
    let has_digit = alnum.iter().any(u8::is_ascii_digit);
    let has_letter = alnum.iter().any(u8::is_ascii_alphabetic);
    let switches = alnum
        .windows(2)
        .filter(|w| class(w[0]) != class(w[1]))
        .count();
    let mut counts = [0u32; 256];
    for &b in s.as_bytes() {
        counts[usize::from(b)] += 1;
    }
    let n = s.len() as f64;
    let entropy: f64 = counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| f64::from(c) / n)
        .map(|p| -p * p.log2())
        .sum();
    has_digit && has_letter && switches * 4 >= alnum.len() && entropy >= 3.0
}

/// Why a decoded segment is a parameter, or `None` if it stays literal.
fn type_segment(s: &str) -> Option<&'static str> {
    if s.is_empty() || is_version(s) || WELL_KNOWN.contains(&s.to_ascii_lowercase().as_str()) {
        return None;
    }
    let all_digits = s.bytes().all(|b| b.is_ascii_digit());
    // Sensitive shapes first: the reason tells the inventory what the path carries.
    if s.contains('@') && validators::is_email(s) {
        return Some("email");
    }
    if all_digits && validators::is_card(s) {
        return Some("pan");
    }
    if s.len() >= 15 && validators::iban(s).is_some_and(|v| v.len() == s.len()) {
        return Some("iban");
    }
    if s.starts_with('+') && validators::is_phone(s) {
        return Some("phone");
    }
    if s.len() == 11 && s.as_bytes()[3] == b'-' && validators::is_us_ssn(s) {
        return Some("ssn");
    }
    if s.starts_with("eyJ") && validators::is_jwt(s) {
        return Some("jwt");
    }
    if is_date_segment(s) {
        return Some("date");
    }
    if all_digits {
        return Some("integer");
    }
    if s.len() < MIN_TYPED_WORD {
        return None;
    }
    if is_uuid(s) {
        return Some("uuid");
    }
    if is_ulid(s) {
        return Some("ulid");
    }
    if is_hex_id(s) {
        return Some("hex");
    }
    if is_token(s) {
        return Some("token");
    }
    None
}

/// `{id}.json`: a typed stem with a short alphabetic extension.
fn split_extension(s: &str) -> Option<(&str, &str)> {
    let (stem, ext) = s.rsplit_once('.')?;
    let ok = !stem.is_empty()
        && (1..=5).contains(&ext.len())
        && ext.bytes().all(|b| b.is_ascii_alphabetic());
    ok.then_some((stem, &s[stem.len()..]))
}

/// Singular of a simple English plural: `accounts` -> `account`, `categories` -> `category`,
/// `addresses` -> `address`, `batches` -> `batch`, `statuses` -> `status`.
fn singular(w: &str) -> Cow<'_, str> {
    if let Some(stem) = w.strip_suffix("ies") {
        return Cow::Owned(format!("{stem}y"));
    }
    for es in ["sses", "xes", "ches", "shes", "uses"] {
        if w.ends_with(es) {
            return Cow::Borrowed(&w[..w.len() - 2]);
        }
    }
    if w.ends_with("ss") || w.ends_with("us") || w.ends_with("is") || !w.ends_with('s') {
        return Cow::Borrowed(w);
    }
    Cow::Borrowed(&w[..w.len() - 1])
}

/// Parameter name from the previous literal segment: `direct-debits` -> `directDebitId`.
fn param_name(prev: Option<&str>) -> String {
    match noun(prev) {
        Some(mut n) => {
            n.push_str("Id");
            n
        }
        None => "id".into(),
    }
}

/// Whether a literal segment is API structure that no learning may turn into a parameter:
/// empty, a version (`v1`, `2.0`) or a well-known word (`api`, `me`, `search`...).
pub(crate) fn is_structural(seg: &str) -> bool {
    seg.is_empty() || is_version(seg) || WELL_KNOWN.contains(&seg.to_ascii_lowercase().as_str())
}

/// The singular camelCase noun of a previous literal segment (`direct-debits` ->
/// `directDebit`), or `None` when it is not a plain word (a version, a well-known word, digits).
pub(crate) fn noun(prev: Option<&str>) -> Option<String> {
    let prev = prev?;
    let wordy = !prev.is_empty()
        && prev.len() <= 40
        && prev
            .bytes()
            .all(|b| b.is_ascii_alphabetic() || b == b'-' || b == b'_')
        && !is_version(prev)
        && !WELL_KNOWN.contains(&prev.to_ascii_lowercase().as_str());
    if !wordy {
        return None;
    }
    let words = crate::classify::rules::name_words(prev);
    let mut name = String::new();
    for (i, w) in words.iter().enumerate() {
        let w = if i + 1 == words.len() {
            singular(w)
        } else {
            Cow::Borrowed(w.as_str())
        };
        if i == 0 {
            name.push_str(&w);
        } else {
            let mut cs = w.chars();
            if let Some(c) = cs.next() {
                name.extend(c.to_uppercase());
                name.push_str(cs.as_str());
            }
        }
    }
    (!name.is_empty()).then_some(name)
}

/// `base`, or `base2`, `base3`... whichever is not taken yet.
fn unique(base: String, taken: &[PathParam]) -> String {
    if !taken.iter().any(|p| p.name == base) {
        return base;
    }
    (2..)
        .map(|n| format!("{base}{n}"))
        .find(|c| !taken.iter().any(|p| p.name == *c))
        .unwrap_or(base)
}

/// Per-segment typing of a path no declared template matched.
fn learn(segs: &[&str], leading_slash: bool) -> Templated {
    let mut out: Vec<Cow<'_, str>> = Vec::with_capacity(segs.len().min(MAX_SEGMENTS + 1));
    let mut params: Vec<PathParam> = Vec::new();
    let mut prev_literal: Option<&str> = None;
    for (i, &raw) in segs.iter().enumerate() {
        if i == MAX_SEGMENTS {
            let name = unique("rest".into(), &params);
            out.push(Cow::Owned(format!("{{{name}}}")));
            params.push(PathParam {
                name,
                reason: "too_many_segments".into(),
            });
            break;
        }
        let typed: Option<(&'static str, &str)> = if raw.len() > MAX_TYPED_SEGMENT {
            Some(("oversized", ""))
        } else {
            let decoded = percent_decode_str(raw).decode_utf8_lossy();
            match type_segment(&decoded) {
                Some(reason) => Some((reason, "")),
                None => split_extension(raw).and_then(|(stem, ext)| {
                    let stem = percent_decode_str(stem).decode_utf8_lossy();
                    type_segment(&stem).map(|reason| (reason, ext))
                }),
            }
        };
        match typed {
            Some((reason, suffix)) => {
                let name = unique(param_name(prev_literal), &params);
                out.push(Cow::Owned(format!("{{{name}}}{suffix}")));
                params.push(PathParam {
                    name,
                    reason: reason.into(),
                });
                prev_literal = None;
            }
            None => {
                out.push(Cow::Borrowed(raw));
                prev_literal = Some(raw);
            }
        }
    }
    let mut path = String::with_capacity(out.iter().map(|s| s.len() + 1).sum());
    for (i, s) in out.iter().enumerate() {
        if i > 0 || leading_slash {
            path.push('/');
        }
        path.push_str(s);
    }
    Templated {
        path,
        source: TemplateSource::Learned,
        params,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn learned() -> Templater {
        Templater::default()
    }

    fn declared(routes: &[(Option<&str>, &str)]) -> Templater {
        Templater::new(routes.iter().map(|(h, p)| DeclaredRoute {
            host: h.map(str::to_string),
            path: p.to_string(),
        }))
    }

    fn reasons(t: &Templated) -> Vec<(&str, &str)> {
        t.params
            .iter()
            .map(|p| (p.name.as_str(), p.reason.as_str()))
            .collect()
    }

    /// One input, one closure of asserts (httparse's `req!` shape).
    macro_rules! tpl {
        ($name:ident, $templater:expr, $host:expr, $path:expr, |$t:ident| $body:block) => {
            #[test]
            fn $name() {
                let templater = $templater;
                let $t = templater.template($host, $path);
                $body
            }
        };
    }

    tpl!(
        template_version_is_not_an_id,
        learned(),
        "h",
        "/v2/users",
        |t| {
            assert_eq!(t.path, "/v2/users");
            assert!(t.params.is_empty());
            assert_eq!(t.source, TemplateSource::Learned);
        }
    );

    tpl!(
        template_ids_in_the_middle,
        learned(),
        "h",
        "/api/v1/accounts/12345/transactions/3f2b1c9e-8d4a-4e6b-9a7c-1d2e3f4a5b6c",
        |t| {
            assert_eq!(
                t.path,
                "/api/v1/accounts/{accountId}/transactions/{transactionId}"
            );
            assert_eq!(
                reasons(&t),
                [("accountId", "integer"), ("transactionId", "uuid")]
            );
        }
    );

    tpl!(
        template_siblings_stay_apart,
        learned(),
        "h",
        "/accounts/balances",
        |t| {
            assert_eq!(t.path, "/accounts/balances");
            assert_eq!(
                learned().template("h", "/accounts/transactions").path,
                "/accounts/transactions"
            );
        }
    );

    tpl!(
        template_dates,
        learned(),
        "h",
        "/statements/2024-01-31/lines/20240131",
        |t| {
            assert_eq!(t.path, "/statements/{statementId}/lines/{lineId}");
            assert_eq!(reasons(&t), [("statementId", "date"), ("lineId", "date")]);
        }
    );

    tpl!(
        template_percent_encoded_email,
        learned(),
        "h",
        "/customers/jane.doe%40example.com/addresses",
        |t| {
            assert_eq!(t.path, "/customers/{customerId}/addresses");
            assert_eq!(reasons(&t), [("customerId", "email")]);
        }
    );

    tpl!(
        template_sensitive_shapes_are_named_by_class,
        learned(),
        "h",
        "/cards/4111111111111111/iban/GB82WEST12345698765432/phone/+447700900123",
        |t| {
            assert_eq!(
                reasons(&t),
                [("cardId", "pan"), ("ibanId", "iban"), ("phoneId", "phone")]
            );
            assert!(!t.path.contains("4111"), "{}", t.path);
        }
    );

    tpl!(template_hex_ulid_token, learned(), "h",
        "/objects/507f1f77bcf86cd799439011/events/01ARZ3NDEKTSV4RRFFQ69G5FAV/links/dozjgNryP4J3jVmNHl0w5N_XgL0n3I9P", |t| {
        assert_eq!(reasons(&t), [("objectId", "hex"), ("eventId", "ulid"), ("linkId", "token")]);
    });

    tpl!(
        template_words_and_slugs_stay_literal,
        learned(),
        "h",
        "/api/public/open-banking-v3-1-accounts-2024/health/deadbeefcafe/me/oauth2/token",
        |t| {
            assert_eq!(
                t.path,
                "/api/public/open-banking-v3-1-accounts-2024/health/deadbeefcafe/me/oauth2/token"
            );
            assert!(t.params.is_empty());
        }
    );

    tpl!(
        template_unique_names_and_fallback,
        learned(),
        "h",
        "/123/456/v1/789",
        |t| {
            assert_eq!(t.path, "/{id}/{id2}/v1/{id3}");
        }
    );

    tpl!(
        template_naming_singularises_and_camelcases,
        learned(),
        "h",
        "/direct-debits/1/categories/2/addresses/3/batches/4/statuses/5/standing_orders/6",
        |t| {
            let names: Vec<&str> = t.params.iter().map(|p| p.name.as_str()).collect();
            assert_eq!(
                names,
                [
                    "directDebitId",
                    "categoryId",
                    "addressId",
                    "batchId",
                    "statusId",
                    "standingOrderId"
                ]
            );
        }
    );

    tpl!(
        template_empty_segments_and_trailing_slash_kept,
        learned(),
        "h",
        "/a//b/42/",
        |t| {
            assert_eq!(t.path, "/a//b/{bId}/");
            assert_eq!(learned().template("h", "/").path, "/");
        }
    );

    tpl!(
        template_extension_kept_as_suffix,
        learned(),
        "h",
        "/reports/12345.json",
        |t| {
            assert_eq!(t.path, "/reports/{reportId}.json");
            assert_eq!(
                learned().template("h", "/docs/readme.md").path,
                "/docs/readme.md"
            );
        }
    );

    tpl!(
        template_bounded_segments,
        learned(),
        "h",
        &format!("/a{}", "/1".repeat(40)),
        |t| {
            assert_eq!(t.path.matches('/').count(), MAX_SEGMENTS + 1);
            assert!(t.path.ends_with("/{rest}"), "{}", t.path);
            let long = format!("/files/{}", "a".repeat(MAX_TYPED_SEGMENT + 1));
            assert_eq!(learned().template("h", &long).path, "/files/{fileId}");
        }
    );

    tpl!(
        template_declared_wins_verbatim,
        declared(&[(
            None,
            "/open-banking/v3.1/aisp/accounts/{AccountId}/balances"
        )]),
        "api.bank.example",
        "/open-banking/v3.1/aisp/accounts/acc-001/balances",
        |t| {
            assert_eq!(
                t.path,
                "/open-banking/v3.1/aisp/accounts/{AccountId}/balances"
            );
            assert_eq!(t.source, TemplateSource::Declared);
            assert_eq!(reasons(&t), [("AccountId", "declared")]);
        }
    );

    tpl!(
        template_declared_over_learned,
        declared(&[(None, "/users/{userName}")]),
        "h",
        "/users/12345",
        |t| {
            assert_eq!(t.path, "/users/{userName}");
            // Not declared: learned typing takes over.
            let other =
                declared(&[(None, "/users/{userName}")]).template("h", "/users/12345/cards");
            assert_eq!(
                (other.path.as_str(), other.source),
                ("/users/{userId}/cards", TemplateSource::Learned)
            );
        }
    );

    tpl!(
        template_literal_beats_param,
        declared(&[
            (None, "/accounts/{id}"),
            (None, "/accounts/me"),
            (None, "/{a}/{b}/x"),
            (None, "/{a}/y/{b}"),
            (None, "/{a}/y/x")
        ]),
        "h",
        "/accounts/me",
        |t| {
            assert_eq!(t.path, "/accounts/me");
            let tp = declared(&[(None, "/accounts/{id}"), (None, "/accounts/me")]);
            assert_eq!(tp.template("h", "/accounts/42").path, "/accounts/{id}");
            // Earliest literal wins: /{a}/y/{b} over /{a}/{b}/x; all-literal tail wins over both.
            let tp = declared(&[(None, "/{a}/{b}/x"), (None, "/{a}/y/{b}")]);
            assert_eq!(tp.template("h", "/q/y/x").path, "/{a}/y/{b}");
        }
    );

    tpl!(
        template_mixed_segments,
        declared(&[
            (None, "/files/{name}"),
            (None, "/files/{id}.json"),
            (None, "/v{major}/ping")
        ]),
        "h",
        "/files/42.json",
        |t| {
            assert_eq!(t.path, "/files/{id}.json", "mixed beats bare parameter");
            let tp = declared(&[
                (None, "/files/{name}"),
                (None, "/files/{id}.json"),
                (None, "/v{major}/ping"),
            ]);
            assert_eq!(tp.template("h", "/files/42.xml").path, "/files/{name}");
            assert_eq!(tp.template("h", "/v3/ping").path, "/v{major}/ping");
            assert_eq!(
                tp.template("h", "/files/.json").path,
                "/files/{name}",
                "a parameter is never empty"
            );
        }
    );

    tpl!(
        template_host_specific_routes,
        declared(&[
            (None, "/accounts/{id}"),
            (Some("api.bank.example"), "/accounts/{AccountId}"),
            (Some("other.example:8443"), "/x/{y}")
        ]),
        "api.bank.example",
        "/accounts/7",
        |t| {
            assert_eq!(
                t.path, "/accounts/{AccountId}",
                "host-specific over any-host"
            );
            let tp = declared(&[
                (None, "/accounts/{id}"),
                (Some("api.bank.example"), "/accounts/{AccountId}"),
                (Some("other.example:8443"), "/x/{y}"),
            ]);
            assert_eq!(
                tp.template("api.bank.example:8443", "/accounts/7").path,
                "/accounts/{AccountId}",
                "route names no port"
            );
            assert_eq!(
                tp.template("elsewhere.example", "/accounts/7").path,
                "/accounts/{id}"
            );
            assert_eq!(
                tp.template("other.example:8443", "/x/1").source,
                TemplateSource::Declared
            );
            assert_eq!(
                tp.template("other.example", "/x/1").source,
                TemplateSource::Learned,
                "route names a port"
            );
        }
    );

    tpl!(
        template_literal_beats_host,
        declared(&[(Some("h"), "/a/{id}"), (None, "/a/b")]),
        "h",
        "/a/b",
        |t| {
            assert_eq!(
                t.path, "/a/b",
                "literal precedence comes before host precedence"
            );
        }
    );

    tpl!(
        template_case_sensitive_literals,
        declared(&[(None, "/Accounts/{id}")]),
        "h",
        "/accounts/1",
        |t| {
            assert_eq!(t.source, TemplateSource::Learned);
            assert_eq!(t.path, "/accounts/{accountId}");
        }
    );

    #[test]
    fn template_index_scales_to_thousands_of_routes() {
        // 5 000 declared routes; each lookup walks one trie path, so this stays fast in debug.
        let routes: Vec<DeclaredRoute> = (0..5000)
            .map(|i| DeclaredRoute {
                host: None,
                path: format!("/v1/resource{i}/{{id}}/sub{}", i % 7),
            })
            .collect();
        let t = Templater::new(routes);
        assert_eq!(t.len(), 5000);
        for i in (0..5000).step_by(97) {
            let got = t.template("h", &format!("/v1/resource{i}/abc/sub{}", i % 7));
            assert_eq!(got.path, format!("/v1/resource{i}/{{id}}/sub{}", i % 7));
        }
    }

    #[test]
    fn template_helpers() {
        assert!(
            is_version("v1")
                && is_version("v1.2")
                && is_version("2.0")
                && !is_version("2")
                && !is_version("va")
        );
        assert_eq!(crate::host::without_port("[::1]:8080"), "[::1]");
        assert_eq!(crate::host::without_port("host:443"), "host");
        assert_eq!(crate::host::without_port("host"), "host");
        assert_eq!(singular("accounts"), "account");
        assert_eq!(singular("address"), "address");
        assert!(!is_token("transaction-history-export-2024"));
    }
}
