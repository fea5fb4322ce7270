//! GraphQL declarations in the catalogue: SDL files (`.graphql`, `.graphqls`, `.gql`) and
//! introspection results (JSON with `__schema`), merged into [`Catalogue::graphql`]. They
//! declare no HTTP operation (the schema does not say at which path it is served): the GraphQL
//! diff (`crate::graphql::findings`) reads them, and GraphQL endpoints are then judged by their
//! operations rather than as undeclared HTTP endpoints.

use super::{Catalogue, CatalogueError};
use crate::graphql::schema;

/// Whether a file name is a GraphQL SDL file.
pub fn is_graphql_sdl(name: &str) -> bool {
    name.rsplit_once('.').is_some_and(|(_, ext)| {
        matches!(
            ext.to_ascii_lowercase().as_str(),
            "graphql" | "graphqls" | "gql"
        )
    })
}

/// Whether JSON text is a GraphQL introspection result rather than an OpenAPI document.
pub fn is_graphql_introspection(text: &str) -> bool {
    // Only documents that mention it are parsed a second time.
    text.contains("\"__schema\"")
        && serde_json::from_str::<serde_json::Value>(text)
            .is_ok_and(|v| schema::is_introspection(&v))
}

impl Catalogue {
    /// Add an SDL file. Errors name the file and the byte offset.
    pub fn add_graphql_sdl(&mut self, source: &str, text: &str) -> Result<(), CatalogueError> {
        let parsed =
            schema::parse_sdl(source, text).map_err(|m| CatalogueError::new(source, "", m))?;
        self.graphql.merge(parsed);
        Ok(())
    }

    /// Add an introspection result. Errors name the file and what was missing.
    pub fn add_graphql_introspection(
        &mut self,
        source: &str,
        text: &str,
    ) -> Result<(), CatalogueError> {
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
            CatalogueError::new(
                source,
                &format!("line {} column {}", e.line(), e.column()),
                e.to_string(),
            )
        })?;
        let parsed = schema::from_introspection(source, &value)
            .map_err(|m| CatalogueError::new(source, "/__schema", m))?;
        self.graphql.merge(parsed);
        Ok(())
    }
}
