//! Data classification: which sensitive data classes a value carries.
//!
//! INTERFACE (owned by the classification work; the body below is a placeholder to be replaced).

/// Where a value was found; gives the rules their context (field-name hints, allowed places).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place<'a> {
    /// A query parameter value; `name` is the parameter name.
    Query { name: &'a str },
    /// A request or response header value.
    Header { name: &'a str },
    /// A JSON or form body field; `name` is the last field name of its path.
    BodyField { name: &'a str },
    /// A path segment.
    PathSegment,
}

/// One detection: the class label and a masked preview (never the raw value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detection {
    pub class: String,
    pub preview: String,
}

#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    #[error("rules file {file}: {message}")]
    Invalid { file: String, message: String },
}

/// The compiled rule set.
#[derive(Debug, Clone, Default)]
pub struct Classifier {}

impl Classifier {
    /// The rules shipped in `rules/` (embedded at build time).
    pub fn builtin() -> Self {
        Classifier {}
    }

    /// Compile rules from `(file name, TOML text)` pairs.
    pub fn from_sources(_sources: &[(String, String)]) -> Result<Self, RuleError> {
        Ok(Classifier {})
    }

    /// Every data class `value` carries at `place`.
    pub fn classify(&self, _value: &str, _place: Place<'_>) -> Vec<Detection> {
        Vec::new()
    }
}
