//! Lookup index for `Catalogue::find_operation`: method + path shape -> operations.
//!
//! The shape of a template is the template with every `{placeholder}` emptied to `{}`, so
//! `/accounts/{id}` and `/accounts/{AccountId}` share a bucket: parameter names differ between a
//! catalogue and the templater (or between two specs) but the route is the same. Everything
//! else (literal segments, trailing `/`, case) must match exactly. Host checks happen on the few
//! operations in a bucket.

use crate::FastMap;

/// Operations by `METHOD shape`, extended as documents are added.
#[derive(Debug, Clone, Default)]
pub(crate) struct RouteIndex {
    buckets: FastMap<String, Vec<usize>>,
    /// How many of `Catalogue::operations` (a prefix of the vector) are indexed. If callers push
    /// operations directly, this falls behind and lookups fall back to a scan until reindexed.
    pub indexed: usize,
}

impl RouteIndex {
    pub fn insert(&mut self, method: &str, path: &str, op: usize) {
        self.buckets.entry(key(method, path)).or_default().push(op);
    }

    pub fn get(&self, method: &str, path: &str) -> &[usize] {
        self.buckets
            .get(&key(method, path))
            .map_or(&[], Vec::as_slice)
    }
}

fn key(method: &str, path: &str) -> String {
    let mut k = method.to_ascii_uppercase();
    k.push(' ');
    k.push_str(&path_shape(path));
    k
}

/// `/a/{id}/b.{ext}` -> `/a/{}/b.{}`. An unclosed `{` is kept as literal text.
pub(crate) fn path_shape(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut rest = path;
    while let Some(open) = rest.find('{') {
        match rest[open..].find('}') {
            Some(close) => {
                out.push_str(&rest[..open]);
                out.push_str("{}");
                rest = &rest[open + close + 1..];
            }
            None => break,
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_ignore_placeholder_names_only() {
        assert_eq!(path_shape("/accounts/{AccountId}/x"), "/accounts/{}/x");
        assert_eq!(path_shape("/accounts/{id}/x"), "/accounts/{}/x");
        assert_eq!(path_shape("/files/{name}.{ext}"), "/files/{}.{}");
        assert_eq!(path_shape("/odd/{unclosed"), "/odd/{unclosed");
        assert_eq!(path_shape("/plain"), "/plain");
    }

    #[test]
    fn index_buckets_by_method_and_shape() {
        let mut idx = RouteIndex::default();
        idx.insert("GET", "/a/{id}", 0);
        idx.insert("get", "/a/{other}", 1);
        idx.insert("POST", "/a/{id}", 2);
        assert_eq!(idx.get("GET", "/a/{x}"), &[0, 1]);
        assert_eq!(idx.get("post", "/a/{x}"), &[2]);
        assert!(idx.get("GET", "/a/{x}/").is_empty());
        assert!(idx.get("GET", "/A/{x}").is_empty());
    }
}
