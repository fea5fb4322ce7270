//! Path templating: concrete request paths to endpoint templates.
//!
//! INTERFACE (owned by the templating work; the body below is a placeholder to be replaced).

use crate::observation::TemplateSource;

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

/// Turns concrete paths into templates, declared templates first.
#[derive(Debug, Clone, Default)]
pub struct Templater {
    routes: Vec<DeclaredRoute>,
}

impl Templater {
    pub fn new(routes: impl IntoIterator<Item = DeclaredRoute>) -> Self {
        Templater { routes: routes.into_iter().collect() }
    }

    /// `host` is normalised (see `EndpointKey::host`); `path` is the raw path without the query.
    pub fn template(&self, _host: &str, path: &str) -> Templated {
        let _ = &self.routes;
        Templated { path: path.to_string(), source: TemplateSource::Learned, params: Vec::new() }
    }
}
