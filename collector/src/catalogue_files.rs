//! Reading OpenAPI documents from disk into an `analyzer::catalogue::Catalogue`.
