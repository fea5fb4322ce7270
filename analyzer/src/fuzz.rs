//! Bodies of the coverage-guided fuzz targets (`fuzz/` at the repository root) for the
//! analyzer's hostile entry points, as plain functions so the stable smoke test
//! (`tests/fuzz_regressions.rs`) runs the same code over the kept corpora.
//!
//! Each function panics only when an invariant is broken (a cap not held, a round trip that
//! does not hold); hostile input itself must never panic. Not an API.

use crate::catalogue::Catalogue;
use crate::inventory::{Inventory, InventoryLimits};
use crate::wire::{Batch, InventoryDoc, WireLimits};

/// Separates documents in the `catalogue` target's input.
pub const DOC_SEPARATOR: &[u8] = b"\n#---8<---\n";

/// Target `catalogue`: OpenAPI/Swagger text (YAML or JSON), possibly several documents
/// separated by [`DOC_SEPARATOR`]. The first is the root (`api.yaml`); a `$ref` to a file whose
/// name holds a number `n` (`d1.yaml`, `common/d2.json#/X`) loads document `n`. The catalogue's
/// lookups then run over every declared route.
pub fn catalogue(data: &[u8]) {
    let docs: Vec<String> = split(data, DOC_SEPARATOR)
        .into_iter()
        .map(|d| String::from_utf8_lossy(d).into_owned())
        .collect();
    let Some(root) = docs.first() else {
        return;
    };
    let load = |name: &str| -> Option<String> {
        let digits: String = name
            .rsplit('/')
            .next()
            .unwrap_or(name)
            .chars()
            .filter(char::is_ascii_digit)
            .take(3)
            .collect();
        let n: usize = digits.parse().ok()?;
        docs.get(n).cloned()
    };
    let mut cat = Catalogue::default();
    // Once as a single document, once following references, into the same catalogue.
    let _ = cat.add_document("single.yaml", root);
    if cat.add_document_set("specs/api.yaml", root, load).is_err() {
        return;
    }
    let routes = cat.routes();
    let hosts = cat.hosts();
    for route in routes.iter().take(200) {
        let host = route.host.as_deref().unwrap_or("api.example.com");
        let _ = cat.covers_host(host);
        for method in ["GET", "post"] {
            let _ = cat.find_operation(host, method, &route.path);
            let concrete = route.path.replace(['{', '}'], "");
            let _ = cat.find_operation(host, method, &concrete);
        }
    }
    for host in hosts.iter().take(50) {
        let _ = cat.find_operation(host, "GET", "/");
    }
    cat.reindex();
    assert_eq!(
        cat.routes().len(),
        routes.len(),
        "reindex changed the routes"
    );
}

fn split<'a>(data: &'a [u8], sep: &[u8]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut rest = data;
    while let Some(at) = rest.windows(sep.len()).position(|w| w == sep) {
        out.push(&rest[..at]);
        rest = &rest[at + sep.len()..];
    }
    out.push(rest);
    out
}

/// Target `wire`: what the collector does with a batch body: decode and validate it, turn it
/// into an inventory, merge that into a small capped inventory and into a default one, and
/// check the accepted batch survives an encode/decode round trip.
pub fn wire_batch(data: &[u8]) {
    let limits = WireLimits::default();
    let Ok(batch) = Batch::decode(data, &limits) else {
        return;
    };
    let again = Batch::decode(&batch.encode(), &limits).expect("an accepted batch re-decodes");
    // Typed all through: unknown fields are dropped on decode, so the round trip is exact.
    assert_eq!(again, batch, "encode/decode round trip");
    let inv = batch.to_inventory(InventoryLimits::default());
    assert_eq!(
        again.to_inventory(InventoryLimits::default()),
        inv,
        "inventory round trip"
    );
    let small = InventoryLimits {
        max_endpoints: 4,
        max_names: 3,
    };
    let mut capped = Inventory::new(small.clone());
    capped.merge(&inv);
    capped.merge(&inv);
    assert!(capped.endpoints.len() <= small.max_endpoints);
    assert!(capped.hosts.len() <= small.max_endpoints);
    let mut total = Inventory::new(InventoryLimits::default());
    total.merge(&inv);
    total.merge(&capped);
    assert_eq!(total.endpoints.len(), inv.endpoints.len());
    let doc = InventoryDoc::from_inventory(&total);
    let _ = doc.to_inventory(InventoryLimits::default());
}

/// Target `xml`: an XML body walked as the learn path walks one (the classifier's visitor,
/// tight limits), twice over one path interner, which must stay within its bounds; every
/// reported field has a path.
pub fn xml_body(data: &[u8]) {
    use crate::walk::{walk_xml, Field, PathLimits, Paths, Visitor, WalkLimits};
    struct PathsNamed;
    impl Visitor for PathsNamed {
        fn field(&mut self, f: &Field<'_>) {
            assert!(!f.text.is_empty(), "a reported field has a path");
        }
    }
    let path_limits = PathLimits {
        max_paths: 64,
        ..PathLimits::default()
    };
    let mut paths = Paths::new(path_limits);
    let limits = WalkLimits {
        max_depth: 6,
        max_fields: 32,
    };
    for _ in 0..2 {
        let _ = walk_xml(data, &mut paths, &limits, &mut PathsNamed);
        assert!(paths.len() <= 64, "path interner past its bound");
    }
}

/// Target `graphql`: the same bytes as a GraphQL request body (JSON and `application/graphql`),
/// a GET query string, an SDL file, an introspection result and a response; every operation
/// stays within the path and batch caps, and counting it into a record keeps the record's
/// operation cap.
pub fn graphql(data: &[u8]) {
    use crate::graphql::{self, document, schema, GraphqlRecord};
    let mut record = GraphqlRecord::default();
    for ct in [None, Some(&b"application/graphql"[..])] {
        let ex = graphql::from_body(ct, data);
        assert!(ex.ops.len() <= graphql::MAX_BATCH, "batch past its cap");
        for op in &ex.ops {
            assert!(
                op.paths.len() <= document::MAX_PATHS,
                "paths past their cap"
            );
            assert!(!op.key().is_empty());
        }
        record.exchange(&ex, Some(200), &graphql::response_errors(data));
    }
    assert!(record.operations.len() <= graphql::MAX_OPERATIONS);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = graphql::from_query_string(text);
        if let Ok(s) = schema::parse_sdl("fuzz", text) {
            for kind in [document::OpKind::Query, document::OpKind::Mutation] {
                let _ = s.root_fields(kind).count();
                let _ = s.deprecated_on_path(kind, "a.b.c");
            }
        }
    }
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = schema::from_introspection("fuzz", &v);
    }
}
