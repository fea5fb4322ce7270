//! The configuration file (TOML): raw sections as written, each validated by the crate that
//! uses it. Every section is optional; unknown keys are errors that name the key.
//!
//! ```toml
//! [templating]   # analyzer::template::TemplateConfig
//! [consumers]    # analyzer::consumer::ConsumerSettings
//! [catalogue]    # analyzer::catalogue::CatalogueConfig
//! [findings]     # analyzer::diff::FindingPolicy (preflights, HEAD, evidence for shadows)
//! [agent]        # agent::ship::settings::AgentSettings
//! [collector]    # collector::config::CollectorSettings
//! ```

use anyhow::{Context, Result};
use serde::Deserialize;
use std::path::Path;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub templating: analyzer::template::TemplateConfig,
    #[serde(default)]
    pub consumers: analyzer::consumer::ConsumerSettings,
    #[serde(default)]
    pub catalogue: analyzer::catalogue::CatalogueConfig,
    #[serde(default)]
    pub findings: analyzer::diff::FindingPolicy,
    #[serde(default)]
    pub agent: agent::ship::settings::AgentSettings,
    #[serde(default)]
    pub collector: collector::config::CollectorSettings,
}

impl Config {
    /// Read `path`, or the defaults when none is given.
    pub fn load(path: Option<&Path>) -> Result<Config> {
        let Some(path) = path else {
            return Ok(Config::default());
        };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading config {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("config {}", path.display()))
    }
}
