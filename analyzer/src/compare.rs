//! `shadowtap compare A B`: what one saved inventory has that the other lacks. Staging against
//! production, or last month against today: endpoints, auth schemes, data classes and TPPs
//! present on one side only, overall and per endpoint both sides share ("policy drift").
//!
//! Pure: two [`Snapshot`]s in, one [`Comparison`] out. Only names leave a snapshot here
//! (hosts, templates, scheme, class and TPP labels), never a preview or a count of who.

use crate::export::Snapshot;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// How endpoints of the two sides are paired.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CompareOptions {
    /// Pair endpoints by method and path template alone: staging and production usually serve
    /// the same API under different host names.
    pub ignore_hosts: bool,
}

/// Names present on one side only (each list sorted).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SetDiff {
    pub only_a: Vec<String>,
    pub only_b: Vec<String>,
}

impl SetDiff {
    fn of(a: &BTreeSet<String>, b: &BTreeSet<String>) -> SetDiff {
        SetDiff {
            only_a: a.difference(b).cloned().collect(),
            only_b: b.difference(a).cloned().collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.only_a.is_empty() && self.only_b.is_empty()
    }
}

/// How one endpoint both sides have differs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EndpointDrift {
    /// `METHOD host/path` (`METHOD /path` when hosts are ignored).
    pub endpoint: String,
    /// Whether the catalogue declares it, on side A and side B, when that differs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub declared: Option<(bool, bool)>,
    #[serde(skip_serializing_if = "SetDiff::is_empty")]
    pub auth_schemes: SetDiff,
    #[serde(skip_serializing_if = "SetDiff::is_empty")]
    pub data_classes: SetDiff,
    #[serde(skip_serializing_if = "SetDiff::is_empty")]
    pub tpps: SetDiff,
}

/// The differences between inventory A and inventory B.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Comparison {
    /// What A and B are (file names, as the caller gave them).
    pub a: String,
    pub b: String,
    pub endpoints: SetDiff,
    pub auth_schemes: SetDiff,
    pub data_classes: SetDiff,
    pub tpps: SetDiff,
    /// Endpoints on both sides whose declaration, schemes, classes or TPPs differ.
    pub changed: Vec<EndpointDrift>,
}

/// What one side says about one endpoint (unioned over hosts when hosts are ignored).
#[derive(Default)]
struct Side {
    declared: bool,
    auth: BTreeSet<String>,
    classes: BTreeSet<String>,
    tpps: BTreeSet<String>,
}

fn sides(snap: &Snapshot, opts: CompareOptions) -> BTreeMap<String, Side> {
    let mut out: BTreeMap<String, Side> = BTreeMap::new();
    for e in &snap.endpoints {
        let name = if opts.ignore_hosts {
            format!("{} {}", e.key.method, e.key.path)
        } else {
            format!("{} {}{}", e.key.method, e.key.host, e.key.path)
        };
        let s = out.entry(name).or_default();
        s.declared |= e.declared.is_some();
        s.auth.extend(e.record.auth.keys().cloned());
        s.classes.extend(e.record.data_classes.keys().cloned());
        if let Some(ob) = &e.record.openbanking {
            s.tpps.extend(ob.tpps.keys().cloned());
        }
    }
    out
}

fn union<'a>(
    m: &'a BTreeMap<String, Side>,
    f: fn(&'a Side) -> &'a BTreeSet<String>,
) -> BTreeSet<String> {
    m.values().flat_map(f).cloned().collect()
}

/// Compare A with B.
pub fn compare(
    a: &Snapshot,
    a_name: &str,
    b: &Snapshot,
    b_name: &str,
    opts: CompareOptions,
) -> Comparison {
    let (sa, sb) = (sides(a, opts), sides(b, opts));
    let keys = |m: &BTreeMap<String, Side>| m.keys().cloned().collect::<BTreeSet<_>>();
    let changed = sa
        .iter()
        .filter_map(|(name, x)| {
            let y = sb.get(name)?;
            let d = EndpointDrift {
                endpoint: name.clone(),
                declared: (x.declared != y.declared).then_some((x.declared, y.declared)),
                auth_schemes: SetDiff::of(&x.auth, &y.auth),
                data_classes: SetDiff::of(&x.classes, &y.classes),
                tpps: SetDiff::of(&x.tpps, &y.tpps),
            };
            let same = d.declared.is_none()
                && d.auth_schemes.is_empty()
                && d.data_classes.is_empty()
                && d.tpps.is_empty();
            (!same).then_some(d)
        })
        .collect();
    Comparison {
        a: a_name.to_string(),
        b: b_name.to_string(),
        endpoints: SetDiff::of(&keys(&sa), &keys(&sb)),
        auth_schemes: SetDiff::of(&union(&sa, |s| &s.auth), &union(&sb, |s| &s.auth)),
        data_classes: SetDiff::of(&union(&sa, |s| &s.classes), &union(&sb, |s| &s.classes)),
        tpps: SetDiff::of(&union(&sa, |s| &s.tpps), &union(&sb, |s| &s.tpps)),
        changed,
    }
}

impl Comparison {
    /// A and B have the same endpoints, schemes, classes and TPPs, endpoint by endpoint.
    pub fn is_empty(&self) -> bool {
        self.endpoints.is_empty()
            && self.auth_schemes.is_empty()
            && self.data_classes.is_empty()
            && self.tpps.is_empty()
            && self.changed.is_empty()
    }

    /// The comparison for a person: one block per kind of name, then per endpoint. Names come
    /// from traffic, so control characters are shown escaped (a hostile path cannot rewrite
    /// the terminal or forge a line).
    pub fn text(&self) -> String {
        let (a, b) = (clean(&self.a), clean(&self.b));
        let mut o = format!("compare A = {a}\n        B = {b}\n");
        if self.is_empty() {
            o.push_str("\nno differences: same endpoints, auth schemes, data classes and TPPs\n");
            return o;
        }
        for (title, d) in [
            ("endpoints", &self.endpoints),
            ("auth schemes", &self.auth_schemes),
            ("data classes", &self.data_classes),
            ("TPPs", &self.tpps),
        ] {
            if d.is_empty() {
                continue;
            }
            o.push_str(&format!("\n{title}\n"));
            list(&mut o, "  only in A", &d.only_a);
            list(&mut o, "  only in B", &d.only_b);
        }
        if !self.changed.is_empty() {
            o.push_str(&format!(
                "\nendpoints on both sides that differ ({})\n",
                self.changed.len()
            ));
        }
        for c in &self.changed {
            o.push_str(&format!("  {}\n", clean(&c.endpoint)));
            if let Some((da, db)) = c.declared {
                let word = |d: bool| if d { "declared" } else { "undeclared" };
                o.push_str(&format!("    {} in A, {} in B\n", word(da), word(db)));
            }
            for (title, d) in [
                ("auth schemes", &c.auth_schemes),
                ("data classes", &c.data_classes),
                ("TPPs", &c.tpps),
            ] {
                if !d.only_a.is_empty() {
                    o.push_str(&format!("    {title} only in A: {}\n", joined(&d.only_a)));
                }
                if !d.only_b.is_empty() {
                    o.push_str(&format!("    {title} only in B: {}\n", joined(&d.only_b)));
                }
            }
        }
        o
    }
}

fn list(o: &mut String, head: &str, names: &[String]) {
    if names.is_empty() {
        return;
    }
    o.push_str(&format!("{head} ({})\n", names.len()));
    for n in names {
        o.push_str(&format!("    {}\n", clean(n)));
    }
}

fn joined(names: &[String]) -> String {
    names
        .iter()
        .map(|n| clean(n))
        .collect::<Vec<_>>()
        .join(", ")
}

fn clean(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::{DeclaredRef, SnapshotEndpoint, SNAPSHOT_FORMAT, SNAPSHOT_VERSION};
    use crate::inventory::EndpointRecord;
    use crate::observation::EndpointKey;
    use crate::openbanking::record::{ObRecord, TppStat};

    fn empty_record() -> EndpointRecord {
        let v = serde_json::json!({
            "template_source": "learned", "exchanges": 1, "complete_exchanges": 1,
            "statuses": {}, "no_response": 0, "query_params": {}, "header_params": {},
            "request_fields": {}, "response_fields": {}, "request_content_types": {},
            "response_content_types": {}, "data_classes": {}, "consumers": {}, "auth": {},
            "anomalies": {}, "first_seen": 0, "last_seen": 0, "overflow": 0
        });
        serde_json::from_value(v).unwrap_or_else(|e| panic!("record: {e}"))
    }

    fn endpoint(host: &str, method: &str, path: &str) -> SnapshotEndpoint {
        SnapshotEndpoint {
            key: EndpointKey {
                host: host.into(),
                method: method.into(),
                path: path.into(),
            },
            host_declared: true,
            declared: None,
            consumers: 1,
            consumer_refs: Vec::new(),
            record: empty_record(),
        }
    }

    fn with(
        mut e: SnapshotEndpoint,
        auth: &[&str],
        classes: &[&str],
        tpps: &[&str],
    ) -> SnapshotEndpoint {
        for a in auth {
            e.record.auth.insert(a.to_string(), 1);
        }
        for c in classes {
            e.record.data_classes.insert(c.to_string(), BTreeMap::new());
        }
        if !tpps.is_empty() {
            let mut ob = ObRecord::default();
            for t in tpps {
                ob.tpps.insert(t.to_string(), TppStat::default());
            }
            e.record.openbanking = Some(Box::new(ob));
        }
        e
    }

    fn declared(mut e: SnapshotEndpoint) -> SnapshotEndpoint {
        e.declared = Some(DeclaredRef {
            api: 0,
            operation_id: None,
            path: e.key.path.clone(),
            deprecated: false,
            security: Vec::new(),
            owner: None,
            tags: Vec::new(),
        });
        e
    }

    fn snap(endpoints: Vec<SnapshotEndpoint>) -> Snapshot {
        Snapshot {
            format: SNAPSHOT_FORMAT.into(),
            version: SNAPSHOT_VERSION,
            apis: Vec::new(),
            endpoints,
            hosts: BTreeMap::new(),
            dropped_observations: 0,
            timeline: BTreeMap::new(),
        }
    }

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn an_inventory_compared_with_itself_has_no_differences() {
        let s = snap(vec![with(
            endpoint("api.bank", "GET", "/accounts"),
            &["bearer"],
            &["iban"],
            &["tpp:PSDGB-FCA-1"],
        )]);
        let c = compare(&s, "a.json", &s, "b.json", CompareOptions::default());
        assert!(c.is_empty(), "{c:?}");
        assert!(c.text().contains("no differences"));
    }

    #[test]
    fn names_on_one_side_only_are_listed_overall_and_per_endpoint() {
        let a = snap(vec![
            declared(with(
                endpoint("api.bank", "GET", "/accounts"),
                &["bearer"],
                &["iban"],
                &["tpp:PSDGB-FCA-1"],
            )),
            with(endpoint("api.bank", "GET", "/debug"), &[], &[], &[]),
        ]);
        let b = snap(vec![
            with(
                endpoint("api.bank", "GET", "/accounts"),
                &["bearer", "api_key"],
                &[],
                &["tpp:PSDGB-FCA-1", "tpp:PSDGB-FCA-2"],
            ),
            with(
                endpoint("api.bank", "POST", "/payments"),
                &["bearer"],
                &["pan"],
                &[],
            ),
        ]);
        let c = compare(
            &a,
            "staging.json",
            &b,
            "prod.json",
            CompareOptions::default(),
        );
        assert_eq!(c.endpoints.only_a, names(&["GET api.bank/debug"]));
        assert_eq!(c.endpoints.only_b, names(&["POST api.bank/payments"]));
        assert_eq!(c.auth_schemes.only_b, names(&["api_key"]));
        assert!(c.auth_schemes.only_a.is_empty());
        assert_eq!(c.data_classes.only_a, names(&["iban"]));
        assert_eq!(c.data_classes.only_b, names(&["pan"]));
        assert_eq!(c.tpps.only_b, names(&["tpp:PSDGB-FCA-2"]));
        assert_eq!(c.changed.len(), 1);
        let d = &c.changed[0];
        assert_eq!(d.endpoint, "GET api.bank/accounts");
        assert_eq!(d.declared, Some((true, false)));
        assert_eq!(d.auth_schemes.only_b, names(&["api_key"]));
        assert_eq!(d.data_classes.only_a, names(&["iban"]));
        assert_eq!(d.tpps.only_b, names(&["tpp:PSDGB-FCA-2"]));
        let text = c.text();
        assert!(text.contains("declared in A, undeclared in B"), "{text}");
        assert!(text.contains("TPPs only in B: tpp:PSDGB-FCA-2"), "{text}");
    }

    #[test]
    fn hosts_can_be_ignored_so_staging_pairs_with_production() {
        let a = snap(vec![with(
            endpoint("api.staging.bank", "GET", "/accounts"),
            &["bearer"],
            &[],
            &[],
        )]);
        let b = snap(vec![with(
            endpoint("api.bank", "GET", "/accounts"),
            &["bearer"],
            &[],
            &[],
        )]);
        let by_host = compare(&a, "a", &b, "b", CompareOptions::default());
        assert_eq!(
            by_host.endpoints.only_a,
            names(&["GET api.staging.bank/accounts"])
        );
        let opts = CompareOptions { ignore_hosts: true };
        assert!(compare(&a, "a", &b, "b", opts).is_empty());
    }

    #[test]
    fn control_characters_in_names_are_escaped_in_text() {
        let a = snap(vec![endpoint("api.bank", "GET", "/x\n\u{1b}[2J")]);
        let c = compare(&a, "a", &snap(Vec::new()), "b", CompareOptions::default());
        let text = c.text();
        assert!(text.contains("GET api.bank/x\\n\\u{1b}[2J"), "{text}");
        assert!(!text.contains('\u{1b}'));
    }
}
