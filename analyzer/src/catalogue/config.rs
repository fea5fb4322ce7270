//! The `[catalogue]` section of the configuration file: where specs are really served, and which
//! API versions are retired.
//!
//! Many banks' specs name a sandbox, a documentation host or only a relative server URL, not
//! the hosts traffic goes to; `hosts` maps them. `retired` marks whole API versions whose every
//! call is a `zombie` finding, whether or not each operation says `deprecated`.
//!
//! ```toml
//! [catalogue]
//! retired = ["Northbank AISP@3.0", "legacy-cards.json"]
//!
//! [[catalogue.hosts]]
//! spec = "aisp.yaml"                      # file name or path suffix, title, or title@version
//! hosts = ["api.northbank.example"]
//! prefix = "/open-banking/v3.1/aisp"      # optional: replaces the servers' path prefix
//! ```

use super::operations::join_path;
use super::servers::{clean_prefix, normalize_host};
use super::{ApiInfo, Catalogue, ServerBase};
use serde::Deserialize;
use std::collections::HashSet;

/// The `[catalogue]` section (see the module docs for an example).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogueConfig {
    /// Where specs whose servers do not name the real hosts are served.
    #[serde(default)]
    pub hosts: Vec<HostMapping>,
    /// APIs (or API versions) retired: any call to them is a zombie.
    #[serde(default)]
    pub retired: Vec<ApiSelector>,
    /// Who owns which API, for exports (CSV, Backstage, CycloneDX): overrides what the specs
    /// say (`info.x-shadowtap-owner`, `info.x-owner`, `info.contact`, operations' `x-owner`).
    #[serde(default)]
    pub owners: Vec<OwnerOverride>,
}

/// One `[[catalogue.owners]]` entry: the config counterpart of `info.x-shadowtap-owner`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OwnerOverride {
    /// Which API(s): see [`ApiSelector`].
    pub spec: ApiSelector,
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub system: Option<String>,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
}

/// One `[[catalogue.hosts]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostMapping {
    /// Which API(s): see [`ApiSelector`].
    pub spec: ApiSelector,
    /// The hosts (with a port when not 80/443) the API is served on.
    pub hosts: Vec<String>,
    /// The path prefix in front of the spec's paths; when absent the servers' prefixes stay.
    #[serde(default)]
    pub prefix: Option<String>,
}

/// Names an API: its file (`aisp.yaml`, or any trailing part of its path), its title
/// (case-insensitive), or `title@version`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct ApiSelector(pub String);

impl ApiSelector {
    pub fn matches(&self, api: &ApiInfo) -> bool {
        let sel = self.0.trim();
        if sel.is_empty() {
            return false;
        }
        if let Some((title, version)) = sel.rsplit_once('@') {
            if title.trim().eq_ignore_ascii_case(api.title.trim()) && version.trim() == api.version
            {
                return true;
            }
        }
        if sel.eq_ignore_ascii_case(api.title.trim()) || sel == api.source {
            return true;
        }
        // A path suffix at a component boundary: `catalog/aisp.yaml` matches
        // `fixtures/demo/catalog/aisp.yaml`, `p.yaml` does not match `aisp.yaml`.
        api.source
            .strip_suffix(sel)
            .is_some_and(|head| head.ends_with('/') || head.ends_with('\\'))
    }
}

impl Catalogue {
    /// Apply the `[catalogue]` section: host mappings, then retired marks. Returns one message
    /// per entry that could not be used (naming the entry), and applies the rest.
    pub fn apply_config(&mut self, config: &CatalogueConfig) -> Vec<String> {
        let mut warnings = Vec::new();
        for (i, mapping) in config.hosts.iter().enumerate() {
            let here = format!("[catalogue] hosts[{i}] (spec = {:?})", mapping.spec.0);
            let hosts: Vec<String> = {
                let mut h: Vec<String> = mapping
                    .hosts
                    .iter()
                    .map(|h| normalize_host(h))
                    .filter(|h| !h.is_empty())
                    .collect();
                h.sort();
                h.dedup();
                h
            };
            if hosts.is_empty() {
                warnings.push(format!("{here}: `hosts` is empty; entry ignored"));
                continue;
            }
            let apis: Vec<usize> = (0..self.apis.len())
                .filter(|&a| mapping.spec.matches(&self.apis[a]))
                .collect();
            if apis.is_empty() {
                warnings.push(format!("{here}: matches no loaded API"));
                continue;
            }
            let prefix = mapping.prefix.as_deref().map(clean_prefix);
            for a in apis {
                self.map_hosts(a, &hosts, prefix.as_deref());
            }
        }
        for (i, sel) in config.retired.iter().enumerate() {
            let mut any = false;
            for api in self.apis.iter_mut().filter(|api| sel.matches(api)) {
                api.retired = true;
                any = true;
            }
            if !any {
                warnings.push(format!(
                    "[catalogue] retired[{i}] ({:?}): matches no loaded API",
                    sel.0
                ));
            }
        }
        for (i, o) in config.owners.iter().enumerate() {
            let mut any = false;
            for api in self.apis.iter_mut().filter(|api| o.spec.matches(api)) {
                any = true;
                if let Some(owner) = &o.owner {
                    api.owner = Some(owner.clone());
                    api.owner_overridden = true;
                }
                if let Some(system) = &o.system {
                    api.system = Some(system.clone());
                }
                if let Some(tags) = &o.tags {
                    api.tags = tags.clone();
                }
            }
            if !any {
                warnings.push(format!(
                    "[catalogue] owners[{i}] (spec = {:?}): matches no loaded API",
                    o.spec.0
                ));
            }
        }
        self.reindex();
        warnings
    }

    /// Serve API `a` on `hosts`, under `prefix` when given (else under its own prefixes).
    fn map_hosts(&mut self, a: usize, hosts: &[String], prefix: Option<&str>) {
        let mut seen: HashSet<(String, String)> = HashSet::new();
        self.operations.retain_mut(|op| {
            if op.api != a {
                return true;
            }
            op.hosts = hosts.to_vec();
            if let Some(p) = prefix {
                op.path = join_path(p, &op.spec_path);
            }
            // With one prefix for all, operations that differed only by server prefix merge.
            seen.insert((op.method.clone(), op.path.clone()))
        });
        let api = &mut self.apis[a];
        let mut prefixes: Vec<String> = match prefix {
            Some(p) => vec![p.to_string()],
            None => api.servers.iter().map(|s| s.prefix.clone()).collect(),
        };
        prefixes.dedup();
        let mut servers = Vec::new();
        for p in &prefixes {
            for h in hosts {
                let base = ServerBase {
                    host: Some(h.clone()),
                    prefix: p.clone(),
                };
                if !servers.contains(&base) {
                    servers.push(base);
                }
            }
        }
        api.servers = servers;
        api.host_mapped = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn section_parses_from_toml_and_refuses_unknown_keys() {
        let cfg: CatalogueConfig = toml::from_str(
            r#"
            retired = ["Drift Bank Cards@1.0"]
            [[hosts]]
            spec = "relative-server.yaml"
            hosts = ["statements.drift.example"]
            prefix = "/statements/v1"
            "#,
        )
        .expect("parses");
        assert_eq!(
            cfg.retired,
            vec![ApiSelector("Drift Bank Cards@1.0".into())]
        );
        assert_eq!(cfg.hosts[0].prefix.as_deref(), Some("/statements/v1"));
        let err = toml::from_str::<CatalogueConfig>("[[hosts]]\nspec = \"a\"\nhost = []\n")
            .expect_err("unknown key");
        assert!(err.to_string().contains("host"), "{err}");
    }

    #[test]
    fn selectors_match_file_title_and_version() {
        let api = ApiInfo {
            title: "Northbank AISP".into(),
            version: "3.1.0".into(),
            spec_version: super::super::SpecVersion::OpenApi30,
            source: "fixtures/demo/catalog/aisp.yaml".into(),
            servers: vec![],
            retired: false,
            host_mapped: false,
            owner: None,
            owner_overridden: false,
            system: None,
            tags: Vec::new(),
        };
        for (sel, want) in [
            ("aisp.yaml", true),
            ("catalog/aisp.yaml", true),
            ("isp.yaml", false),
            ("northbank aisp", true),
            ("Northbank AISP@3.1.0", true),
            ("Northbank AISP@3.0", false),
            ("", false),
        ] {
            assert_eq!(ApiSelector(sel.into()).matches(&api), want, "{sel}");
        }
    }
}
