//! Cardinality learning: literal path segments that are really values become parameters.
//!
//! Per-segment typing ([`crate::template`]) cannot tell `/users/alice` from `/users/search`: both
//! are words. What tells them apart is the traffic: under one parent path, a position where
//! dozens of distinct literal values appear holds a parameter, a position with a handful holds
//! sibling resources. [`collapse`] is that judgement, as one pass over a (merged) [`Inventory`]:
//!
//! 1. Only **learned** endpoints are touched; a declared template always wins.
//! 2. `[templating.overrides]` patterns ([`TemplateConfig::overrides`]) rewrite the learned paths
//!    they match first (host-specific patterns before any-host ones, then config order).
//! 3. Then, position by position from the left, endpoints of one host are grouped by their
//!    parent path (methods together: `GET /users/alice` and `DELETE /users/bob` are siblings).
//!    A position collapses when its distinct literal values reach [`TemplateConfig::threshold`],
//!    or when it already holds a parameter that cardinality learned before (an inventory
//!    collapsed earlier and merged with fresh traffic converges to the same templates).
//!    Structural segments never count and never collapse: empty segments, versions (`v1`,
//!    `2.0`), well-known words (`api`, `me`, `search`...), and positions marked `*` in
//!    [`TemplateConfig::literals`]. Typed parameters at the position (`{userId}` from an integer)
//!    are the same position: the collapsed values join them under their name.
//! 4. Records whose keys now coincide are folded together with the inventory's commutative
//!    [`EndpointRecord::merge`], so counts, consumers and data classes add up.
//!
//! Each collapsed parameter records why in [`EndpointRecord::template_params`] (`cardinality`
//! or `override`, and the distinct values seen) so the report can explain it.
//!
//! Bounds: at most [`TemplateConfig::max_tracked_values`] distinct values are remembered per
//! position; values beyond it are counted ([`CollapseReport::untracked_values`]) and the position
//! collapses (the cap is never below the threshold). The pass is deterministic: it walks
//! `BTreeMap`s, and names come from the parent segment, never from a value.

use crate::inventory::{EndpointRecord, Inventory, TemplateParamStat};
use crate::observation::{EndpointKey, TemplateSource};
use crate::template::{is_structural, noun, split_path, PathPattern, TemplateConfig};
use std::collections::{BTreeMap, BTreeSet};

/// Reason recorded for a position collapsed by distinct values.
pub const REASON_CARDINALITY: &str = "cardinality";
/// Reason recorded for a per-segment typed parameter that cardinality learning joined.
pub const REASON_TYPED: &str = "typed";
/// Reason recorded for a parameter set by a `[templating.overrides]` pattern.
pub const REASON_OVERRIDE: &str = "override";

/// One position that became a parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollapsedPosition {
    pub host: String,
    /// The parent template, e.g. `/users`.
    pub parent: String,
    /// The parameter name, without braces.
    pub name: String,
    /// Distinct literal values seen there (plus those collapsed by an earlier pass).
    pub distinct: u64,
}

/// What a [`collapse`] pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CollapseReport {
    pub collapsed: Vec<CollapsedPosition>,
    /// Learned endpoints rewritten by an override pattern.
    pub overridden: u64,
    pub endpoints_before: usize,
    pub endpoints_after: usize,
    /// Distinct values not remembered because a position reached `max_tracked_values`.
    pub untracked_values: u64,
}

impl CollapseReport {
    /// Counters for the scan summary (`templating.*`).
    pub fn counters(&self) -> BTreeMap<String, u64> {
        BTreeMap::from([
            (
                "templating.collapsed_positions".to_string(),
                self.collapsed.len() as u64,
            ),
            (
                "templating.endpoints_merged".to_string(),
                self.endpoints_before.saturating_sub(self.endpoints_after) as u64,
            ),
            ("templating.overridden".to_string(), self.overridden),
            (
                "templating.untracked_values".to_string(),
                self.untracked_values,
            ),
        ])
    }
}

/// One segment of a configured pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum PatSeg {
    Lit(String),
    /// `{name}`: any non-empty segment, which becomes `{name}`.
    Param(String),
    /// `*` (literals lists only): any segment; marks a position that stays literal.
    Star,
}

/// A configured pattern, parsed.
#[derive(Debug, Clone)]
struct Pattern {
    host: Option<String>,
    segs: Vec<PatSeg>,
    /// Ends in `...`: also matches paths with more segments, which are left as they are.
    open: bool,
}

impl Pattern {
    fn parse(p: &PathPattern) -> Self {
        let mut segs: Vec<PatSeg> = split_path(&p.pattern)
            .into_iter()
            .map(
                |s| match s.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
                    Some(name) if !name.is_empty() && !name.contains(['{', '}']) => {
                        PatSeg::Param(name.to_string())
                    }
                    _ if s == "*" => PatSeg::Star,
                    _ => PatSeg::Lit(s.to_string()),
                },
            )
            .collect();
        let open = segs.last() == Some(&PatSeg::Lit("...".into()));
        if open {
            segs.pop();
        }
        Pattern {
            host: p
                .host
                .as_ref()
                .map(|h| h.trim_end_matches('.').to_ascii_lowercase()),
            segs,
            open,
        }
    }

    fn host_matches(&self, host: &str) -> bool {
        self.host.as_deref().is_none_or(|h| h == host)
    }

    /// Whether the pattern's first `n` segments match `segs[..n]`.
    fn prefix_matches(&self, segs: &[String], n: usize) -> bool {
        self.segs.len() >= n
            && segs.len() >= n
            && self.segs[..n].iter().zip(&segs[..n]).all(|(p, s)| match p {
                PatSeg::Lit(l) => l == s,
                PatSeg::Param(_) | PatSeg::Star => !s.is_empty(),
            })
    }

    fn matches(&self, segs: &[String]) -> bool {
        let n = self.segs.len();
        (segs.len() == n || (self.open && segs.len() > n)) && self.prefix_matches(segs, n)
    }
}

/// A learned endpoint being rewritten.
struct Item {
    host: String,
    method: String,
    leading_slash: bool,
    segs: Vec<String>,
    rec: EndpointRecord,
}

impl Item {
    fn path(&self) -> String {
        join(&self.segs[..], self.leading_slash)
    }
}

fn join(segs: &[String], leading_slash: bool) -> String {
    let mut path = String::new();
    for (i, s) in segs.iter().enumerate() {
        if i > 0 || leading_slash {
            path.push('/');
        }
        path.push_str(s);
    }
    path
}

/// `{name}` -> `name` for a segment that is exactly one parameter.
fn bare_param(seg: &str) -> Option<&str> {
    let name = seg.strip_prefix('{')?.strip_suffix('}')?;
    (!name.is_empty() && !name.contains(['{', '}'])).then_some(name)
}

fn note(rec: &mut EndpointRecord, name: &str, reason: &str, distinct: u64) {
    let stat = rec
        .template_params
        .entry(name.to_string())
        .or_insert_with(|| TemplateParamStat {
            reasons: BTreeSet::new(),
            distinct: 0,
        });
    stat.reasons.insert(reason.to_string());
    stat.distinct = stat.distinct.max(distinct);
}

/// Collapse high-cardinality literal positions of learned endpoints and apply overrides.
/// Run it after merging inventories (it is idempotent, and a collapsed inventory merged with new
/// traffic and collapsed again gives the templates the whole traffic would have given).
pub fn collapse(inv: &mut Inventory, cfg: &TemplateConfig) -> CollapseReport {
    let cap = cfg.max_tracked_values.max(2);
    let threshold = cfg.threshold.clamp(2, cap);
    let mut report = CollapseReport {
        endpoints_before: inv.endpoints.len(),
        ..CollapseReport::default()
    };
    let mut overrides: Vec<Pattern> = cfg.overrides.iter().map(Pattern::parse).collect();
    // Host-specific first; the sort is stable, so config order decides among equals.
    overrides.sort_by_key(|p| p.host.is_none());
    let literals: Vec<Pattern> = cfg.literals.iter().map(Pattern::parse).collect();

    let learned: Vec<EndpointKey> = inv
        .endpoints
        .iter()
        .filter(|(_, r)| r.template_source == TemplateSource::Learned)
        .map(|(k, _)| k.clone())
        .collect();
    let mut items: Vec<Item> = learned
        .into_iter()
        .filter_map(|k| inv.endpoints.remove_entry(&k))
        .map(|(k, rec)| Item {
            leading_slash: k.path.starts_with('/'),
            segs: split_path(&k.path)
                .into_iter()
                .map(str::to_string)
                .collect(),
            host: k.host,
            method: k.method,
            rec,
        })
        .collect();

    for item in &mut items {
        let Some(p) = overrides
            .iter()
            .find(|p| p.host_matches(&item.host) && p.matches(&item.segs))
        else {
            continue;
        };
        let mut changed = false;
        for (seg, pat) in item.segs.iter_mut().zip(&p.segs) {
            if let PatSeg::Param(name) = pat {
                let want = format!("{{{name}}}");
                if *seg != want {
                    *seg = want;
                    changed = true;
                }
                note(&mut item.rec, name, REASON_OVERRIDE, 0);
            }
        }
        report.overridden += u64::from(changed);
    }

    let max_depth = items.iter().map(|i| i.segs.len()).max().unwrap_or(0);
    for depth in 0..max_depth {
        // (host, parent segments) -> items; owned keys because the pass rewrites segments.
        let mut groups: BTreeMap<(String, Vec<String>), Vec<usize>> = BTreeMap::new();
        for (i, item) in items.iter().enumerate() {
            if item.segs.len() > depth {
                groups
                    .entry((item.host.clone(), item.segs[..depth].to_vec()))
                    .or_default()
                    .push(i);
            }
        }
        for ((host, parent), members) in groups {
            let protected = literals.iter().any(|p| {
                p.host_matches(&host)
                    && p.segs.get(depth) == Some(&PatSeg::Star)
                    && p.prefix_matches(&parent, depth)
            });
            if protected {
                continue;
            }
            let candidate = |seg: &str| !seg.contains(['{', '}']) && !is_structural(seg);
            let mut values: BTreeSet<&str> = BTreeSet::new();
            let mut untracked = 0u64;
            let mut existing: BTreeSet<&str> = BTreeSet::new();
            let mut prior = 0u64;
            for &i in &members {
                let seg = items[i].segs[depth].as_str();
                if let Some(name) = bare_param(seg) {
                    existing.insert(name);
                    if let Some(stat) = items[i].rec.template_params.get(name) {
                        if stat.reasons.contains(REASON_CARDINALITY) {
                            prior = prior.max(stat.distinct);
                        }
                    }
                } else if candidate(seg) && !values.contains(seg) {
                    if values.len() < cap {
                        values.insert(seg);
                    } else {
                        untracked += 1;
                    }
                }
            }
            let seen = values.len() as u64 + untracked;
            if seen == 0 || (seen < threshold as u64 && prior == 0) {
                continue;
            }
            report.untracked_values += untracked;
            let distinct = prior + seen;
            let name = match existing.iter().next() {
                Some(n) => n.to_string(),
                None => fresh_name(&parent),
            };
            let param = format!("{{{name}}}");
            for &i in &members {
                let item = &mut items[i];
                if candidate(&item.segs[depth]) {
                    item.segs[depth] = param.clone();
                } else if item.segs[depth] == param && !item.rec.template_params.contains_key(&name)
                {
                    // A parameter the segment's own shape made (`{userId}` from `123`): keep
                    // that reason next to the new one.
                    note(&mut item.rec, &name, REASON_TYPED, 0);
                }
                if item.segs[depth] == param {
                    note(&mut item.rec, &name, REASON_CARDINALITY, distinct);
                }
            }
            report.collapsed.push(CollapsedPosition {
                host,
                parent: join(&parent, true),
                name,
                distinct,
            });
        }
    }

    let cap = inv.limits.max_names;
    for item in items {
        let key = EndpointKey {
            path: item.path(),
            host: item.host,
            method: item.method,
        };
        match inv.endpoints.get_mut(&key) {
            Some(mine) => mine.merge(&item.rec, cap),
            // Never above `max_endpoints`: at most as many keys come back as were taken out.
            None => {
                inv.endpoints.insert(key, item.rec);
            }
        }
    }
    report.endpoints_after = inv.endpoints.len();
    report
}

/// A name for a new parameter under `parent`: the singular of the parent's last literal
/// (`/users` -> `user`), else `param`; unique among the parent's parameters.
fn fresh_name(parent: &[String]) -> String {
    let prev = parent.last().filter(|s| bare_param(s).is_none());
    let base = noun(prev.map(String::as_str)).unwrap_or_else(|| "param".into());
    let taken: Vec<&str> = parent.iter().filter_map(|s| bare_param(s)).collect();
    if !taken.contains(&base.as_str()) {
        return base;
    }
    (2..)
        .map(|n| format!("{base}{n}"))
        .find(|c| !taken.contains(&c.as_str()))
        .unwrap_or(base)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observation::{Consumer, Observation};
    use crate::template::Templater;
    use crate::time::Timestamp;

    /// Observations of `method path` on host `h`, templated per segment as the observer does.
    fn obs(method: &str, path: &str, who: &str) -> Observation {
        let t = Templater::default().template("h", path);
        Observation {
            template_source: t.source,
            status: Some(200),
            ..Observation::bare(
                Timestamp(1),
                EndpointKey {
                    host: "h".into(),
                    method: method.into(),
                    path: t.path,
                },
                Consumer {
                    address: who.into(),
                    credential: None,
                },
            )
        }
    }

    fn inventory(paths: &[String]) -> Inventory {
        let mut inv = Inventory::default();
        for p in paths {
            let (m, p) = p.split_once(' ').unwrap_or(("GET", p));
            inv.add(&obs(m, p, "c"));
        }
        inv
    }

    fn names(n: usize) -> Vec<String> {
        // Words, not typed: lowercase letters only, short.
        (0..n)
            .map(|i| {
                let a = (b'a' + (i % 26) as u8) as char;
                let b = (b'a' + (i / 26 % 26) as u8) as char;
                format!("user{a}{b}")
            })
            .collect()
    }

    fn keys(inv: &Inventory) -> Vec<String> {
        inv.endpoints
            .iter()
            .map(|(k, r)| format!("{} {} x{}", k.method, k.path, r.exchanges))
            .collect()
    }

    fn cfg() -> TemplateConfig {
        TemplateConfig::default()
    }

    /// One set of paths, one config, one closure of asserts (httparse's `req!` shape).
    macro_rules! card {
        ($name:ident, $paths:expr, $cfg:expr, |$inv:ident, $rep:ident| $body:block) => {
            #[test]
            fn $name() {
                let paths: Vec<String> = $paths;
                let mut $inv = inventory(&paths);
                let $rep = collapse(&mut $inv, &$cfg);
                $body
            }
        };
    }

    card!(
        cardinality_many_names_collapse,
        names(50).iter().map(|n| format!("/users/{n}")).collect(),
        cfg(),
        |inv, rep| {
            assert_eq!(keys(&inv), ["GET /users/{user} x50"]);
            let rec = inv.endpoints.values().next().unwrap();
            let stat = &rec.template_params["user"];
            assert_eq!(stat.reasons, BTreeSet::from(["cardinality".to_string()]));
            assert_eq!(stat.distinct, 50);
            assert_eq!(rep.collapsed[0].parent, "/users");
            assert_eq!((rep.endpoints_before, rep.endpoints_after), (50, 1));
        }
    );

    card!(
        cardinality_below_threshold_stays,
        names(49).iter().map(|n| format!("/users/{n}")).collect(),
        cfg(),
        |inv, rep| {
            assert_eq!(inv.endpoints.len(), 49);
            assert!(rep.collapsed.is_empty());
        }
    );

    card!(
        cardinality_versions_never_collapse,
        (1..=80).map(|v| format!("/v{v}/users")).collect(),
        cfg(),
        |inv, rep| {
            assert_eq!(inv.endpoints.len(), 80, "/v2 is never {{id}}");
            assert!(rep.collapsed.is_empty());
        }
    );

    card!(
        cardinality_well_known_words_stay_literal,
        {
            let mut p: Vec<String> = names(60).iter().map(|n| format!("/users/{n}")).collect();
            p.extend(["/users/me", "/users/search", "/users/v2"].map(String::from));
            p
        },
        cfg(),
        |inv, _rep| {
            assert_eq!(
                keys(&inv),
                [
                    "GET /users/me x1",
                    "GET /users/search x1",
                    "GET /users/v2 x1",
                    "GET /users/{user} x60"
                ]
            );
        }
    );

    card!(
        cardinality_ids_in_the_middle_merge_methods_apart,
        names(50)
            .iter()
            .flat_map(|n| {
                [
                    format!("GET /users/{n}/orders"),
                    format!("DELETE /users/{n}"),
                    format!("GET /users/{n}/orders/2024-01-0{}", n.len() % 9 + 1),
                ]
            })
            .collect(),
        cfg(),
        |inv, _rep| {
            assert_eq!(
                keys(&inv),
                [
                    "DELETE /users/{user} x50",
                    "GET /users/{user}/orders x50",
                    "GET /users/{user}/orders/{orderId} x50",
                ]
            );
        }
    );

    card!(
        cardinality_siblings_stay_apart,
        {
            let mut p: Vec<String> = [
                "/accounts/balances",
                "/accounts/transactions",
                "/accounts/standing-orders",
                "/accounts/direct-debits",
            ]
            .map(String::from)
            .to_vec();
            p.extend((1..40).map(|i| format!("/accounts/{i}")));
            p
        },
        cfg(),
        |inv, rep| {
            assert!(rep.collapsed.is_empty());
            assert_eq!(
                keys(&inv),
                [
                    "GET /accounts/balances x1",
                    "GET /accounts/direct-debits x1",
                    "GET /accounts/standing-orders x1",
                    "GET /accounts/transactions x1",
                    "GET /accounts/{accountId} x39",
                ]
            );
        }
    );

    card!(
        cardinality_joins_a_typed_parameter,
        {
            let mut p: Vec<String> = names(50).iter().map(|n| format!("/users/{n}")).collect();
            p.extend((1..5).map(|i| format!("/users/{i}")));
            p
        },
        cfg(),
        |inv, _rep| {
            assert_eq!(keys(&inv), ["GET /users/{userId} x54"]);
            let rec = inv.endpoints.values().next().unwrap();
            assert_eq!(rec.template_params["userId"].distinct, 50);
            assert_eq!(
                rec.template_params["userId"].reasons,
                BTreeSet::from(["cardinality".to_string(), "typed".to_string()])
            );
        }
    );

    card!(
        cardinality_declared_endpoints_untouched,
        names(50).iter().map(|n| format!("/users/{n}")).collect(),
        cfg(),
        |inv, _rep| {
            let mut inv2 = inventory(
                &names(50)
                    .iter()
                    .map(|n| format!("/users/{n}"))
                    .collect::<Vec<_>>(),
            );
            for rec in inv2.endpoints.values_mut() {
                rec.template_source = TemplateSource::Declared;
            }
            let rep2 = collapse(&mut inv2, &cfg());
            assert_eq!(inv2.endpoints.len(), 50);
            assert!(rep2.collapsed.is_empty());
            assert_eq!(inv.endpoints.len(), 1);
        }
    );

    card!(
        cardinality_overrides_win_and_explain,
        [
            "/v1/users/alice/profile",
            "/v1/users/bob",
            "/v2/users/carol/profile"
        ]
        .map(String::from)
        .to_vec(),
        TemplateConfig {
            overrides: vec![
                PathPattern {
                    host: None,
                    pattern: "/{version}/users/{userName}/...".into()
                },
                PathPattern {
                    host: Some("h".into()),
                    pattern: "/v1/users/{userId}/...".into()
                },
                PathPattern {
                    host: Some("other".into()),
                    pattern: "/v1/users/{nope}".into()
                },
            ],
            ..cfg()
        },
        |inv, rep| {
            assert_eq!(
                keys(&inv),
                [
                    "GET /v1/users/{userId} x1",
                    "GET /v1/users/{userId}/profile x1",
                    "GET /{version}/users/{userName}/profile x1",
                ],
                "host-specific first; `...` is zero or more segments"
            );
            assert_eq!(rep.overridden, 3);
            let rec = &inv.endpoints[&EndpointKey {
                host: "h".into(),
                method: "GET".into(),
                path: "/v1/users/{userId}/profile".into(),
            }];
            assert!(rec.template_params["userId"].reasons.contains("override"));
        }
    );

    card!(
        cardinality_literal_positions_from_config,
        (0..60)
            .map(|i| format!(
                "/api/v1/res{}{}",
                (b'a' + (i % 26) as u8) as char,
                "x".repeat(i / 26)
            ))
            .collect(),
        TemplateConfig {
            literals: vec![PathPattern {
                host: None,
                pattern: "/api/v1/*".into()
            }],
            ..cfg()
        },
        |inv, rep| {
            assert_eq!(inv.endpoints.len(), 60);
            assert!(rep.collapsed.is_empty());
        }
    );

    card!(
        cardinality_cap_counts_untracked_values,
        names(30).iter().map(|n| format!("/users/{n}")).collect(),
        TemplateConfig {
            threshold: 100,
            max_tracked_values: 10,
            ..cfg()
        },
        |inv, rep| {
            // The threshold is clamped to the cap; values past the cap are counted.
            assert_eq!(inv.endpoints.len(), 1);
            assert_eq!(rep.untracked_values, 20);
            assert_eq!(rep.collapsed[0].distinct, 30);
        }
    );

    #[test]
    fn cardinality_is_idempotent_and_converges_under_merge() {
        let all: Vec<String> = names(80).iter().map(|n| format!("/users/{n}")).collect();
        let mut whole = inventory(&all);
        collapse(&mut whole, &cfg());
        let again = whole.clone();
        assert!(
            collapse(&mut whole, &cfg()).collapsed.is_empty(),
            "nothing left to collapse"
        );
        assert_eq!(keys(&whole), keys(&again));

        // Agent A collapsed its 60; agent B saw 20 more it could not collapse alone.
        let mut a = inventory(&all[..60]);
        collapse(&mut a, &cfg());
        let mut b = inventory(&all[60..]);
        assert!(collapse(&mut b, &cfg()).collapsed.is_empty());
        let (mut ab, mut ba) = (a.clone(), b.clone());
        ab.merge(&b);
        ba.merge(&a);
        collapse(&mut ab, &cfg());
        collapse(&mut ba, &cfg());
        assert_eq!(keys(&ab), ["GET /users/{user} x80"]);
        assert_eq!(ab, ba);
    }

    #[test]
    fn cardinality_names_are_unique_and_never_values() {
        let paths: Vec<String> = names(50)
            .iter()
            .flat_map(|n| names(2).into_iter().map(move |m| format!("/{n}/{m}")))
            .collect();
        let mut inv = inventory(&paths);
        collapse(&mut inv, &cfg());
        assert_eq!(
            keys(&inv),
            ["GET /{param}/useraa x50", "GET /{param}/userba x50"]
        );
        assert_eq!(fresh_name(&["users".into(), "{user}".into()]), "param");
        assert_eq!(
            fresh_name(&["{user}".into(), "users".into()]),
            "user2",
            "unique within the template"
        );
    }
}
