//! The declared API catalogue: OpenAPI 2.0 / 3.0 / 3.1 documents turned into operations.
//!
//! INTERFACE (owned by the catalogue work; the body below is a placeholder to be replaced).

use crate::template::DeclaredRoute;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum SpecVersion {
    #[serde(rename = "2.0")]
    Swagger2,
    #[serde(rename = "3.0")]
    OpenApi30,
    #[serde(rename = "3.1")]
    OpenApi31,
}

/// A server base: the host it names (`None`: relative URL, any host) and the path prefix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServerBase {
    pub host: Option<String>,
    pub prefix: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiInfo {
    pub title: String,
    pub version: String,
    pub spec_version: SpecVersion,
    /// The file (or name) the document came from.
    pub source: String,
    pub servers: Vec<ServerBase>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ParamLocation {
    Query,
    Header,
    Path,
    Cookie,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ParamSpec {
    pub name: String,
    pub location: ParamLocation,
    pub required: bool,
}

/// What the declaration says about credentials.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Security {
    /// No security requirement (none declared, or an explicit empty list).
    None,
    /// At least one of these schemes is required (scheme names as in the document).
    Required(Vec<String>),
    /// Alternatives include the empty requirement `{}`: credentials optional.
    Optional(Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Operation {
    /// Index into `Catalogue::apis`.
    pub api: usize,
    pub operation_id: Option<String>,
    /// Upper-case method.
    pub method: String,
    /// Full template including the server prefix.
    pub path: String,
    /// The path key as written in the document.
    pub spec_path: String,
    /// Normalised hosts this operation is served on; empty means any host.
    pub hosts: Vec<String>,
    pub deprecated: bool,
    /// Path-level and operation-level parameters merged (operation wins), `$ref`s resolved.
    pub parameters: Vec<ParamSpec>,
    /// Declared response keys as written: `200`, `4XX`, `default`.
    pub responses: Vec<String>,
    pub security: Security,
    pub request_content_types: Vec<String>,
    pub response_content_types: Vec<String>,
}

/// Something in a document that could not be used; the rest still loads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub source: String,
    /// JSON pointer into the document, e.g. `/paths/~1accounts/get/parameters/0`.
    pub pointer: String,
    pub message: String,
}

/// A whole document that could not be read at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{source_name}{}: {message}", if pointer.is_empty() { String::new() } else { format!(" at {pointer}") })]
pub struct CatalogueError {
    pub source_name: String,
    /// JSON pointer, or `line N column M` for syntax errors.
    pub pointer: String,
    pub message: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Catalogue {
    pub apis: Vec<ApiInfo>,
    pub operations: Vec<Operation>,
    pub problems: Vec<Problem>,
}

impl Catalogue {
    /// Parse one document (YAML or JSON text) and add its operations.
    pub fn add_document(&mut self, _source: &str, _text: &str) -> Result<(), CatalogueError> {
        Ok(())
    }

    /// Every declared template, for the templater.
    pub fn routes(&self) -> Vec<DeclaredRoute> {
        Vec::new()
    }

    /// The operation declaring `method path` on `host` (`path` is a template from the templater).
    pub fn find_operation(&self, _host: &str, _method: &str, _path: &str) -> Option<&Operation> {
        None
    }

    /// Whether some server of the catalogue covers `host` (a relative server covers every host).
    pub fn covers_host(&self, _host: &str) -> bool {
        false
    }
}
