//! Table tests over the fixture specs in `fixtures/catalogue/` (one per OpenAPI version, one
//! broken, one split over files), plus error cases and lookups.

use super::*;
use std::collections::BTreeMap;

const PETSTORE_V2: &str = include_str!("../../../fixtures/catalogue/petstore-v2.json");
const ACCOUNTS_V30: &str = include_str!("../../../fixtures/catalogue/accounts-v30.yaml");
const PAYMENTS_V31: &str = include_str!("../../../fixtures/catalogue/payments-v31.yaml");
const BAD_REFS: &str = include_str!("../../../fixtures/catalogue/broken/bad-refs.yaml");
const MULTI_API: &str = include_str!("../../../fixtures/catalogue/multi/api.yaml");
const MULTI_PARAMS: &str = include_str!("../../../fixtures/catalogue/multi/common/parameters.yaml");
const MULTI_USER: &str = include_str!("../../../fixtures/catalogue/multi/paths/user.yaml");

fn load(source: &str, text: &str) -> Catalogue {
    let mut cat = Catalogue::default();
    if let Err(e) = cat.add_document(source, text) {
        panic!("{source} did not load: {e}");
    }
    cat
}

/// `op!(catalogue, "host", "METHOD", "/path", |op| { asserts })`: look the operation up the way
/// the diff does and run the asserts on it; a missing operation fails with the route named.
macro_rules! op {
    ($cat:expr, $host:expr, $method:expr, $path:expr, |$op:ident| $body:block) => {{
        match $cat.find_operation($host, $method, $path) {
            Some($op) => $body,
            None => panic!("no operation for {} {} on {}", $method, $path, $host),
        }
    }};
}

fn param(name: &str, location: ParamLocation, required: bool) -> ParamSpec {
    ParamSpec {
        name: name.to_string(),
        location,
        required,
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[test]
fn swagger2_petstore() {
    let cat = load("petstore-v2.json", PETSTORE_V2);
    assert_eq!(cat.problems, vec![]);
    assert_eq!(cat.apis.len(), 1);
    let api = &cat.apis[0];
    assert_eq!(
        (api.title.as_str(), api.version.as_str()),
        ("Petstore", "1.0.7")
    );
    assert_eq!(api.spec_version, SpecVersion::Swagger2);
    assert_eq!(
        api.servers,
        vec![ServerBase {
            host: Some("petstore.example.com".into()),
            prefix: "/v2".into()
        }]
    );
    assert_eq!(cat.operations.len(), 5);
    let host = "petstore.example.com";

    op!(cat, host, "GET", "/v2/pets", |op| {
        assert_eq!(op.operation_id.as_deref(), Some("listPets"));
        assert_eq!(op.spec_path, "/pets");
        assert_eq!(op.hosts, strings(&["petstore.example.com"]));
        assert_eq!(
            op.parameters,
            vec![
                param("limit", ParamLocation::Query, false),
                param("X-Trace-Id", ParamLocation::Header, false)
            ]
        );
        assert_eq!(op.responses, strings(&["200", "default"]));
        // Operation `produces` replaces the global list.
        assert_eq!(
            op.response_content_types,
            strings(&["application/xml", "application/json"])
        );
        assert_eq!(op.request_content_types, strings(&["application/json"]));
        assert_eq!(op.security, Security::Required(strings(&["api_key"])));
        assert!(op.response_schemas["200"].contains_key("application/json"));
    });
    op!(cat, host, "POST", "/v2/pets", |op| {
        // `in: body` is the request body, not a parameter; `security: []` switches auth off.
        assert!(op.parameters.is_empty());
        assert_eq!(op.security, Security::None);
        assert_eq!(
            op.request_schemas.keys().collect::<Vec<_>>(),
            vec!["application/json"]
        );
        assert_eq!(
            op.extensions.get("x-rate-limit"),
            Some(&serde_json::json!(10))
        );
    });
    op!(cat, host, "GET", "/v2/pets/{petId}", |op| {
        // Operation-level `x-tenant` overrides path-level `X-Tenant` in place (headers compare
        // case-insensitively); the `$ref`d query parameter follows.
        assert_eq!(
            op.parameters,
            vec![
                param("petId", ParamLocation::Path, true),
                param("x-tenant", ParamLocation::Header, true),
                param("verbose", ParamLocation::Query, false)
            ]
        );
        assert_eq!(op.responses, strings(&["200", "404"]));
        assert!(!op.deprecated);
    });
    op!(cat, host, "DELETE", "/v2/pets/{petId}", |op| {
        assert!(op.deprecated);
        assert_eq!(op.security, Security::Optional(strings(&["petstore_auth"])));
    });
    op!(cat, host, "POST", "/v2/pets/{petId}/photo", |op| {
        assert_eq!(
            op.parameters,
            vec![param("petId", ParamLocation::Path, true)]
        );
        assert_eq!(op.request_content_types, strings(&["multipart/form-data"]));
        assert_eq!(
            op.security,
            Security::Required(strings(&["api_key", "petstore_auth"]))
        );
    });
}

#[test]
fn openapi30_accounts() {
    let cat = load("accounts-v30.yaml", ACCOUNTS_V30);
    assert_eq!(cat.problems, vec![]);
    let api = &cat.apis[0];
    assert_eq!(api.spec_version, SpecVersion::OpenApi30);
    // `version: 3.1` unquoted is a YAML number; it still reads as text.
    assert_eq!(api.version, "3.1");
    assert_eq!(cat.operations.len(), 5);
    let host = "api.bank.example";
    let prefix = "/open-banking/v3.1/aisp";

    op!(cat, host, "GET", &format!("{prefix}/accounts"), |op| {
        // Two servers with one prefix: one operation served on both hosts.
        assert_eq!(
            op.hosts,
            strings(&["api.bank.example", "sandbox.bank.example:8443"])
        );
        assert_eq!(
            op.parameters,
            vec![
                param("x-fapi-interaction-id", ParamLocation::Header, false),
                param("page", ParamLocation::Query, false),
                param("session", ParamLocation::Cookie, false)
            ]
        );
        // `<<: *common` merged the shared responses in; `200:` unquoted is still the key "200".
        // Keys come in sorted order (the document is read into sorted maps).
        assert_eq!(op.responses, strings(&["200", "400", "403", "4XX"]));
        assert_eq!(
            op.response_content_types,
            strings(&[
                "application/jose+jwe",
                "application/json",
                "application/problem+json"
            ])
        );
        assert_eq!(
            op.security,
            Security::Required(strings(&["TPPOAuth2Security"]))
        );
    });
    op!(
        cat,
        host,
        "GET",
        &format!("{prefix}/accounts/{{AccountId}}"),
        |op| {
            assert_eq!(
                op.parameters,
                vec![
                    param("AccountId", ParamLocation::Path, true),
                    param("X-FAPI-Auth-Date", ParamLocation::Header, true)
                ]
            );
            assert_eq!(
                op.security,
                Security::Optional(strings(&["PSUOAuth2Security"]))
            );
            assert_eq!(
                op.response_content_types,
                strings(&["application/json", "application/problem+json"])
            );
        }
    );
    op!(
        cat,
        host,
        "DELETE",
        &format!("{prefix}/accounts/{{AccountId}}"),
        |op| {
            assert!(op.deprecated);
            assert_eq!(op.security, Security::None);
        }
    );
    // Operation-level servers replace the document's.
    op!(
        cat,
        "files.bank.example",
        "POST",
        "/v1/accounts/{AccountId}/statements",
        |op| {
            assert_eq!(op.hosts, strings(&["files.bank.example"]));
            assert_eq!(
                op.request_content_types,
                strings(&["application/json", "application/x-www-form-urlencoded"])
            );
        }
    );
    assert!(cat
        .find_operation(host, "POST", &format!("{prefix}/accounts/{{a}}/statements"))
        .is_none());
    // Path-level relative server: any host, its own prefix; `[{}]` alone means no credentials.
    op!(cat, "anything.internal", "GET", "/internal/health", |op| {
        assert!(op.hosts.is_empty());
        assert_eq!(op.security, Security::None);
    });
    assert_eq!(
        cat.hosts().into_iter().collect::<Vec<_>>(),
        strings(&[
            "api.bank.example",
            "files.bank.example",
            "sandbox.bank.example:8443"
        ])
    );
}

#[test]
fn openapi31_payments_with_server_variables() {
    let cat = load("payments-v31.yaml", PAYMENTS_V31);
    assert_eq!(cat.problems, vec![]);
    let api = &cat.apis[0];
    assert_eq!(api.spec_version, SpecVersion::OpenApi31);
    // `{region}` has an enum: one base per value; `{port}` defaults to 443, which normalises away.
    let on = |h: &str, p: &str| ServerBase {
        host: Some(h.into()),
        prefix: p.into(),
    };
    assert_eq!(
        api.servers,
        vec![
            on("eu.pay.example.com", "/v2"),
            on("us.pay.example.com", "/v2"),
            ServerBase {
                host: None,
                prefix: "/gateway/v2".into()
            }
        ]
    );
    // Webhooks are requests the API sends, not routes: ignored. Two prefixes x 2 operations.
    assert!(cat
        .operations
        .iter()
        .all(|op| op.operation_id.as_deref() != Some("notifyPayment")));
    assert_eq!(cat.operations.len(), 4);

    op!(cat, "us.pay.example.com", "POST", "/v2/payments", |op| {
        assert_eq!(
            op.hosts,
            strings(&["eu.pay.example.com", "us.pay.example.com"])
        );
        // `$ref` with a sibling `description` (legal in 3.1) still resolves.
        assert_eq!(
            op.parameters,
            vec![param("Idempotency-Key", ParamLocation::Header, true)]
        );
        assert_eq!(op.security, Security::Optional(strings(&["bearer"])));
        assert!(op.request_schemas.contains_key("application/json"));
    });
    op!(cat, "gw.internal", "POST", "/gateway/v2/payments", |op| {
        assert!(op.hosts.is_empty());
        assert_eq!(op.operation_id.as_deref(), Some("createPayment"));
    });
    // Path item `$ref` into `components/pathItems`.
    op!(
        cat,
        "eu.pay.example.com",
        "GET",
        "/v2/payments/{id}/refunds",
        |op| {
            assert_eq!(op.operation_id.as_deref(), Some("listRefunds"));
            assert_eq!(
                op.parameters,
                vec![param("paymentId", ParamLocation::Path, true)]
            );
            assert_eq!(
                op.extensions.get("x-internal"),
                Some(&serde_json::json!(true))
            );
        }
    );
    assert!(cat
        .find_operation("ap.pay.example.com", "GET", "/v2/payments/{id}/refunds")
        .is_none());
}

#[test]
fn broken_refs_become_problems_and_operations_still_load() {
    let cat = load("bad-refs.yaml", BAD_REFS);
    let found: Vec<(&str, &str)> = cat
        .problems
        .iter()
        .map(|p| (p.pointer.as_str(), p.message.as_str()))
        .collect();
    let has = |pointer: &str, needle: &str| {
        assert!(
            found
                .iter()
                .any(|(p, m)| *p == pointer && m.contains(needle)),
            "no problem at {pointer} containing {needle:?} in {found:#?}"
        );
    };
    has("/paths/~1things/get/parameters/0", "does not exist");
    has("/paths/~1things/get/parameters/1", "circular");
    has("/components/parameters/LoopA", "circular");
    has("/paths/~1things/get/responses/200", "does not exist");
    has(
        "/paths/~1things/get/security/0/ghost",
        "`ghost` is not defined",
    );
    assert!(cat.problems.iter().all(|p| p.source == "bad-refs.yaml"));
    // Reported once each, though both the whole-document check and the operation met them.
    let mut pairs: Vec<_> = found.clone();
    pairs.sort();
    pairs.dedup();
    assert_eq!(pairs.len(), found.len());

    op!(cat, "any.example", "GET", "/things", |op| {
        assert_eq!(
            op.parameters,
            vec![param("ok", ParamLocation::Query, false)]
        );
        assert_eq!(op.responses, strings(&["200"]));
        assert_eq!(op.security, Security::Required(strings(&["ghost"])));
    });
    assert!(cat
        .find_operation("any.example", "GET", "/things/{thingId}")
        .is_some());
}

#[test]
fn unreadable_documents_are_errors_with_a_place() {
    let mut cat = Catalogue::default();
    for (text, want_pointer, want_message) in [
        (
            "openapi: 3.0.0\npaths: [1,\n  x: 2\n",
            "line 2 column 8",
            "invalid YAML",
        ),
        (
            "{\"openapi\": \"3.0.0\",\n \"paths\": {,}}",
            "line 2 column 12",
            "invalid JSON",
        ),
        (
            "openapi: 4.0.0\npaths: {}\n",
            "/openapi",
            "unsupported OpenAPI version `4.0.0`",
        ),
        (
            "openapi: 3.2.0\npaths: {}\n",
            "/openapi",
            "unsupported OpenAPI version",
        ),
        (
            "swagger: '1.2'\n",
            "/swagger",
            "unsupported Swagger version",
        ),
        ("info: {title: x}\n", "/openapi", "not an OpenAPI document"),
        ("- just\n- a list\n", "", "root is not a mapping"),
        ("", "", "root is not a mapping"),
    ] {
        match cat.add_document("x.yaml", text) {
            Ok(()) => panic!("{text:?} loaded"),
            Err(e) => {
                assert_eq!(e.source_name, "x.yaml");
                assert_eq!(e.pointer, want_pointer, "{text:?}: {e}");
                assert!(e.message.contains(want_message), "{text:?}: {e}");
                assert!(e.to_string().starts_with("x.yaml"));
            }
        }
    }
    assert!(cat.apis.is_empty() && cat.operations.is_empty());
    assert!(cat
        .add_document("x.yaml", "info: {}\n")
        .is_err_and(|e| e.is_not_openapi()));
}

#[test]
fn alias_bombs_are_refused_not_expanded() {
    let mut bomb = String::from("openapi: 3.0.0\na: &a [x, x, x, x, x, x, x, x, x, x]\n");
    let mut prev = 'a';
    for name in 'b'..='k' {
        bomb.push_str(&format!("{name}: &{name} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"));
        prev = name;
    }
    let mut cat = Catalogue::default();
    assert!(cat.add_document("bomb.yaml", &bomb).is_err());
}

#[test]
fn unquoted_swagger_version_and_missing_host() {
    let cat = load(
        "s.yaml",
        "swagger: 2.0\ninfo: {title: t, version: v}\npaths:\n  /a:\n    get: {responses: {200: {description: ok}}}\n",
    );
    assert_eq!(
        cat.apis[0].servers,
        vec![ServerBase {
            host: None,
            prefix: String::new()
        }]
    );
    op!(cat, "whatever.example:9000", "GET", "/a", |op| {
        assert!(op.hosts.is_empty());
        assert_eq!(op.path, "/a");
    });
}

#[test]
fn find_operation_placeholders_hosts_and_ports() {
    let cat = load("accounts-v30.yaml", ACCOUNTS_V30);
    let path = "/open-banking/v3.1/aisp/accounts/{id}";
    for (host, method, found) in [
        ("api.bank.example", "GET", true),
        ("API.BANK.EXAMPLE.", "get", true),
        ("api.bank.example:443", "GET", true),
        // The spec names no port for this host: any port matches.
        ("api.bank.example:8080", "GET", true),
        ("sandbox.bank.example:8443", "GET", true),
        // The spec names :8443 for the sandbox: other ports (and none) do not match.
        ("sandbox.bank.example", "GET", false),
        ("sandbox.bank.example:9000", "GET", false),
        ("other.example", "GET", false),
        ("api.bank.example", "PATCH", false),
    ] {
        assert_eq!(
            cat.find_operation(host, method, path).is_some(),
            found,
            "{method} {path} on {host}"
        );
    }
    // Literal segments and trailing slashes must match exactly.
    assert!(cat
        .find_operation("api.bank.example", "GET", &format!("{path}/"))
        .is_none());
    assert!(cat
        .find_operation(
            "api.bank.example",
            "GET",
            "/open-banking/v3.1/aisp/Accounts/{id}"
        )
        .is_none());
    assert!(cat
        .find_operation("api.bank.example", "GET", "/accounts/{id}")
        .is_none());
}

#[test]
fn a_host_specific_operation_wins_over_an_any_host_one() {
    let mut cat = Catalogue::default();
    let doc = |server: &str, id: &str| {
        format!("openapi: 3.0.0\ninfo: {{title: t, version: '1'}}\nservers: [{{url: '{server}'}}]\npaths:\n  /x:\n    get: {{operationId: {id}, responses: {{}}}}\n")
    };
    for (server, id) in [("/", "anyHost"), ("https://named.example", "named")] {
        if let Err(e) = cat.add_document(id, &doc(server, id)) {
            panic!("{e}");
        }
    }
    let id = |host: &str| {
        cat.find_operation(host, "GET", "/x")
            .and_then(|o| o.operation_id.as_deref())
    };
    assert_eq!(id("named.example"), Some("named"));
    assert_eq!(id("other.example"), Some("anyHost"));
    assert_eq!(cat.operations[0].api, 0);
    assert_eq!(cat.operations[1].api, 1);
}

#[test]
fn operations_pushed_directly_are_still_found() {
    let mut cat = load("payments-v31.yaml", PAYMENTS_V31);
    cat.operations.push(Operation {
        method: "PUT".into(),
        path: "/manual/{id}".into(),
        hosts: strings(&["manual.example"]),
        ..Operation::default()
    });
    // The index is behind: the lookup falls back to a scan.
    assert!(cat
        .find_operation("manual.example", "PUT", "/manual/{x}")
        .is_some());
    cat.reindex();
    assert!(cat
        .find_operation("manual.example", "PUT", "/manual/{x}")
        .is_some());
    assert!(cat
        .find_operation("other.example", "PUT", "/manual/{x}")
        .is_none());
    assert!(cat
        .find_operation("us.pay.example.com", "POST", "/v2/payments")
        .is_some());
}

#[test]
fn covers_host_and_routes() {
    let pets = load("petstore-v2.json", PETSTORE_V2);
    for (host, covered) in [
        ("petstore.example.com", true),
        ("PETSTORE.example.com:443", true),
        ("petstore.example.com:8443", true),
        ("api.example.com", false),
        ("", false),
    ] {
        assert_eq!(pets.covers_host(host), covered, "{host}");
    }
    let routes = pets.routes();
    assert_eq!(routes.len(), 3);
    assert!(routes
        .iter()
        .all(|r| r.host.as_deref() == Some("petstore.example.com")));
    assert!(routes.iter().any(|r| r.path == "/v2/pets/{petId}/photo"));

    // A relative server (here a path-level one) covers every host.
    let accounts = load("accounts-v30.yaml", ACCOUNTS_V30);
    assert!(accounts.covers_host("anything.example"));

    let payments = load("payments-v31.yaml", PAYMENTS_V31);
    let mut routes: Vec<(Option<String>, String)> = payments
        .routes()
        .into_iter()
        .map(|r| (r.host, r.path))
        .collect();
    routes.sort();
    assert_eq!(
        routes,
        vec![
            (None, "/gateway/v2/payments".to_string()),
            (None, "/gateway/v2/payments/{paymentId}/refunds".to_string()),
            (
                Some("eu.pay.example.com".to_string()),
                "/v2/payments".to_string()
            ),
            (
                Some("eu.pay.example.com".to_string()),
                "/v2/payments/{paymentId}/refunds".to_string()
            ),
            (
                Some("us.pay.example.com".to_string()),
                "/v2/payments".to_string()
            ),
            (
                Some("us.pay.example.com".to_string()),
                "/v2/payments/{paymentId}/refunds".to_string()
            ),
        ]
    );
}

fn multi_files() -> BTreeMap<&'static str, &'static str> {
    BTreeMap::from([
        ("multi/common/parameters.yaml", MULTI_PARAMS),
        ("multi/paths/user.yaml", MULTI_USER),
    ])
}

#[test]
fn refs_across_files_with_a_loader() {
    let files = multi_files();
    let mut cat = Catalogue::default();
    let loaded = cat.add_document_set("multi/api.yaml", MULTI_API, |name| {
        files.get(name).map(|s| s.to_string())
    });
    assert_eq!(loaded, Ok(()));
    assert_eq!(cat.problems, vec![]);
    op!(cat, "h", "GET", "/multi/users", |op| {
        assert_eq!(
            op.parameters,
            vec![param("limit", ParamLocation::Query, false)]
        );
    });
    // The path item lives in `paths/user.yaml`, whose own `$ref` is relative to that file.
    op!(cat, "h", "GET", "/multi/users/{id}", |op| {
        assert_eq!(op.operation_id.as_deref(), Some("getUser"));
        assert_eq!(
            op.parameters,
            vec![param("userId", ParamLocation::Path, true)]
        );
        assert_eq!(
            op.extensions.get("x-owner"),
            Some(&serde_json::json!("team-users"))
        );
    });
}

#[test]
fn refs_across_files_without_the_files() {
    // One file missing: reported where it is referenced; the rest loads.
    let files = multi_files();
    let mut cat = Catalogue::default();
    let loaded = cat.add_document_set("multi/api.yaml", MULTI_API, |name| {
        (name != "multi/paths/user.yaml")
            .then(|| files.get(name).map(|s| s.to_string()))
            .flatten()
    });
    assert_eq!(loaded, Ok(()));
    assert_eq!(cat.problems.len(), 1, "{:#?}", cat.problems);
    assert_eq!(cat.problems[0].pointer, "/paths/~1users~1{userId}");
    assert!(cat.problems[0].message.contains("cannot be read"));
    assert!(cat.find_operation("h", "GET", "/multi/users").is_some());

    // Without a loader, every external `$ref` is a problem; local parts still load.
    let cat = load("multi/api.yaml", MULTI_API);
    assert_eq!(cat.problems.len(), 2, "{:#?}", cat.problems);
    assert!(cat
        .problems
        .iter()
        .all(|p| p.message.contains("not loaded")));
    op!(cat, "h", "GET", "/multi/users", |op| {
        assert!(op.parameters.is_empty())
    });
}

#[test]
fn garbage_never_panics() {
    // Shapes a hostile or sloppy document can take where a mapping is expected.
    let docs = [
        "openapi: 3.0.0\npaths: 5\n",
        "openapi: 3.0.0\nservers: {url: x}\npaths: {/a: [1]}\n",
        "openapi: 3.1.0\npaths: {/a: {get: 7, post: {parameters: {a: 1}, responses: [1], security: 3}}}\n",
        "openapi: 3.0.0\npaths: {/a: {parameters: [7, {name: x}], get: {requestBody: {content: 3}, responses: {'200': {content: {a: 1}}}}}}\n",
        "openapi: 3.0.0\nservers: [{url: 'https://{a}.x/{b'}, {url: 'https:///'}, {}]\npaths: {}\n",
        "swagger: '2.0'\nhost: 7\npaths: {a: {get: {parameters: [{name: q, in: cookie}], responses: 3}}}\n",
        "openapi: 3.0.0\npaths: {/a: {$ref: 7}}\n",
        "openapi: 3.0.0\npaths: {/a: {$ref: '#/paths/~1a'}}\n",
    ];
    for doc in docs {
        let mut cat = Catalogue::default();
        assert_eq!(cat.add_document("g.yaml", doc), Ok(()), "{doc}");
        assert!(!cat.problems.is_empty(), "no problem reported for {doc}");
    }
}

#[test]
fn openapi31_without_paths_loads_nothing_and_complains_about_nothing() {
    let cat = load(
        "hooks.yaml",
        "openapi: 3.1.0\ninfo: {title: hooks, version: '1'}\nwebhooks:\n  ping:\n    post: {responses: {'200': {description: ok}}}\n",
    );
    assert_eq!(cat.apis.len(), 1);
    assert!(cat.operations.is_empty());
    assert_eq!(cat.problems, vec![]);
    // No servers: the default `/` server, so any host.
    assert!(cat.covers_host("anything.example"));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
    /// Arbitrary YAML-ish text after a valid header: an error or problems, never a panic.
    #[test]
    fn arbitrary_documents_never_panic(body in "[a-z/{}\\[\\]$#:,' \n-]{0,200}") {
        let mut cat = Catalogue::default();
        let _ = cat.add_document("p.yaml", &format!("openapi: 3.0.0\n{body}"));
        let _ = cat.add_document("q.yaml", &format!("swagger: '2.0'\npaths:\n  /a:\n{body}"));
        for op in &cat.operations {
            proptest::prop_assert!(op.path.starts_with('/'));
        }
    }
}

/// Look `path` up in every response schema of the operation: `Some(types)` when declared.
fn response_field(cat: &Catalogue, op: &Operation, path: &str) -> Option<String> {
    use schema::{parse_field_path, Lookup};
    let segs = parse_field_path(path);
    let mut declared = Vec::new();
    for id in op.response_body.values().flat_map(|m| m.values()) {
        match cat.schemas.lookup(*id, &segs) {
            Lookup::Declared(ids) => declared.extend(ids),
            Lookup::Open => return Some("any".into()),
            Lookup::Undeclared { .. } => {}
        }
    }
    (!declared.is_empty()).then(|| cat.schemas.admitted_types(&declared).label())
}

#[test]
fn schemas_resolve_31_type_arrays_siblings_and_cycles() {
    let doc = r##"
openapi: 3.1.0
info: {title: t, version: "1"}
paths:
  /n:
    get:
      responses:
        "200":
          description: ok
          content:
            application/json:
              schema: {$ref: "#/components/schemas/Node"}
components:
  schemas:
    Node:
      type: object
      properties:
        name: {type: [string, "null"]}
        size: {type: integer}
        children: {type: array, items: {$ref: "#/components/schemas/Node"}}
        meta:
          $ref: "#/components/schemas/Meta"
          properties:
            extra: {type: boolean}
        free: {}
        anything: true
    Meta:
      type: object
      properties:
        created: {type: string, format: date-time}
      additionalProperties: false
"##;
    let cat = load("n.yaml", doc);
    assert_eq!(cat.problems, vec![]);
    op!(cat, "h", "GET", "/n", |op| {
        let f = |p: &str| response_field(&cat, op, p);
        assert_eq!(f("name").as_deref(), Some("string|null"));
        assert_eq!(f("size").as_deref(), Some("integer"));
        // Recursion through `items` is a cycle of node ids, followed as deep as traffic goes.
        assert_eq!(
            f("children[].children[].children[].size").as_deref(),
            Some("integer")
        );
        // 3.1: keywords next to `$ref` apply together with the target.
        assert_eq!(f("meta.extra").as_deref(), Some("boolean"));
        assert_eq!(f("meta.created").as_deref(), Some("string"));
        assert_eq!(f("meta.other"), None);
        assert_eq!(f("free.deep.down").as_deref(), Some("any"));
        assert_eq!(f("anything.x").as_deref(), Some("any"));
        assert_eq!(f("undeclared"), None);
    });
}

#[test]
fn swagger2_body_and_response_schemas_resolve_with_x_nullable() {
    let doc = r##"{
  "swagger": "2.0",
  "info": {"title": "t", "version": "1"},
  "paths": {"/p": {"post": {
    "consumes": ["application/json"],
    "produces": ["application/json"],
    "parameters": [
      {"name": "body", "in": "body", "schema": {"$ref": "#/definitions/In"}},
      {"name": "email", "in": "query", "type": "string", "format": "email"}
    ],
    "responses": {"200": {"description": "ok", "schema": {"$ref": "#/definitions/Out"}}}
  }}},
  "definitions": {
    "In": {"type": "object", "properties": {"amount": {"type": "number"}}},
    "Out": {"type": "object", "properties": {
      "note": {"type": "string", "x-nullable": true},
      "items": {"type": "array", "items": {"$ref": "#/definitions/In"}}
    }}
  }
}"##;
    let cat = load("p.json", doc);
    assert_eq!(cat.problems, vec![]);
    op!(cat, "h", "POST", "/p", |op| {
        assert_eq!(
            response_field(&cat, op, "note").as_deref(),
            Some("string|null")
        );
        assert_eq!(
            response_field(&cat, op, "items[].amount").as_deref(),
            Some("number")
        );
        let body = op.request_body["application/json"];
        assert!(matches!(
            cat.schemas
                .lookup(body, &schema::parse_field_path("amount")),
            schema::Lookup::Declared(_)
        ));
        // 2.0 parameters carry their format inline.
        let email = op.param_schemas["query:email"];
        let (formats, _, _) = cat.schemas.annotations(&[email]);
        assert_eq!(formats, vec!["email".to_string()]);
    });
}

#[test]
fn schemas_resolve_across_files() {
    let api = r##"
openapi: 3.0.3
info: {title: t, version: "1"}
paths:
  /x:
    get:
      responses:
        "200":
          description: ok
          content:
            application/json:
              schema: {$ref: "schemas/x.yaml#/X"}
"##;
    let x = "X:\n  type: object\n  properties:\n    y: {$ref: '#/Y'}\nY:\n  type: object\n  properties:\n    z: {type: integer}\n";
    let mut cat = Catalogue::default();
    cat.add_document_set("specs/api.yaml", api, |name| {
        (name == "specs/schemas/x.yaml").then(|| x.to_string())
    })
    .expect("loads");
    assert_eq!(cat.problems, vec![]);
    op!(cat, "h", "GET", "/x", |op| {
        // `#/Y` inside x.yaml is relative to x.yaml, not to the API document.
        assert_eq!(response_field(&cat, op, "y.z").as_deref(), Some("integer"));
        assert_eq!(response_field(&cat, op, "y.q"), None);
    });
}

#[test]
fn swagger2_form_data_becomes_a_form_body_schema() {
    let doc = r#"{"swagger": "2.0", "info": {"title": "t", "version": "1"},
      "paths": {"/token": {"post": {
        "consumes": ["application/x-www-form-urlencoded"],
        "parameters": [
          {"name": "grant_type", "in": "formData", "type": "string"},
          {"name": "scope", "in": "formData", "type": "string"}
        ],
        "responses": {"200": {"description": "ok"}}}}}}"#;
    let cat = load("t.json", doc);
    assert_eq!(cat.problems, vec![]);
    op!(cat, "h", "POST", "/token", |op| {
        let id = op.request_body["application/x-www-form-urlencoded"];
        let lookup = |p: &str| cat.schemas.lookup(id, &schema::parse_field_path(p));
        assert!(matches!(lookup("scope"), schema::Lookup::Declared(_)));
        assert_eq!(
            lookup("client_secret"),
            schema::Lookup::Undeclared { at: 0 }
        );
    });
}

proptest::proptest! {
    /// Field paths come from traffic: any string looks up without panicking, against a schema
    /// with cycles, compositions and free-form parts.
    #[test]
    fn field_lookups_never_panic(path in "[a-z\\[\\].]{0,40}") {
        let doc = r##"
openapi: 3.1.0
info: {title: t, version: "1"}
paths:
  /n:
    get:
      responses:
        "200":
          description: ok
          content:
            application/json:
              schema: {$ref: "#/components/schemas/N"}
components:
  schemas:
    N:
      anyOf:
        - type: object
          properties:
            a: {$ref: "#/components/schemas/N"}
            b: {type: array, items: {$ref: "#/components/schemas/N"}}
        - allOf: [{$ref: "#/components/schemas/N"}]
        - type: [string, "null"]
"##;
        let cat = load("n.yaml", doc);
        if let Some(op) = cat.find_operation("h", "GET", "/n") {
            for id in op.response_body.values().flat_map(|m| m.values()) {
                let segs = schema::parse_field_path(&path);
                if let schema::Lookup::Declared(ids) = cat.schemas.lookup(*id, &segs) {
                    let _ = cat.schemas.admitted_types(&ids);
                    let _ = cat.schemas.annotations(&ids);
                }
            }
        }
    }
}

#[test]
fn json_duplicate_keys_are_refused_like_yaml_ones() {
    // serde_json alone keeps the last `get`, silently dropping the first operation.
    let json = "{\"openapi\": \"3.0.0\", \"info\": {\"title\": \"t\", \"version\": \"1\"},\n \
                \"paths\": {\"/a\": {\"get\": {\"responses\": {}},\n  \"get\": {\"responses\": {}}}}}";
    let mut cat = Catalogue::default();
    let e = cat.add_document("dup.json", json).err();
    let e = e.unwrap_or_else(|| panic!("a duplicate key was accepted"));
    assert_eq!(e.source_name, "dup.json");
    assert_eq!(e.pointer, "line 3 column 7", "{e}");
    assert!(e.message.contains("duplicate key `get`"), "{e}");
    // The YAML reader refuses the same document.
    let yaml =
        "openapi: 3.0.0\npaths:\n  /a:\n    get: {responses: {}}\n    get: {responses: {}}\n";
    let e = cat.add_document("dup.yaml", yaml).err();
    assert!(e.is_some_and(|e| e.message.contains("duplicate")));
    assert!(cat.operations.is_empty());
}

/// A JSON array of `items` zeros.
fn zeros(items: usize) -> String {
    let mut text = String::with_capacity(items * 2 + 2);
    text.push('[');
    for i in 0..items {
        text.push_str(if i == 0 { "0" } else { ",0" });
    }
    text.push(']');
    text
}

/// A 3.0 document whose `x-junk` extension holds `items` zeros, as JSON.
fn json_with_junk(items: usize) -> String {
    format!(
        r#"{{"openapi": "3.0.0", "info": {{"title": "t", "version": "1"}}, "paths": {{}}, "x-junk": {}}}"#,
        zeros(items)
    )
}

#[test]
fn json_documents_have_a_node_budget() {
    // Before the budget, JSON of any size parsed whole (38 MB of small objects: 3.3 GB).
    let mut cat = Catalogue::default();
    let e = cat
        .add_document("big.json", &json_with_junk(MAX_SET_NODES))
        .err();
    let e = e.unwrap_or_else(|| panic!("an over-budget document loaded"));
    assert!(e.pointer.starts_with("line 1 column "), "{e}");
    assert!(
        e.message
            .contains(&format!("more than {MAX_SET_NODES} nodes")),
        "{e}"
    );
    // Well under the budget loads.
    assert_eq!(cat.add_document("ok.json", &json_with_junk(1000)), Ok(()));
}

#[test]
fn json_nesting_is_capped_like_yaml() {
    // 100 levels: serde_json alone allows 128; the YAML reader stops at 64.
    let deep = format!(
        r#"{{"openapi": "3.0.0", "paths": {{}}, "x-deep": {}1{}}}"#,
        "[".repeat(100),
        "]".repeat(100)
    );
    let mut cat = Catalogue::default();
    let e = cat.add_document("deep.json", &deep).err();
    assert!(
        e.as_ref()
            .is_some_and(|e| e.message.contains("nested deeper than 64 levels")),
        "{e:?}"
    );
    let yaml = format!(
        "openapi: 3.0.0\npaths: {{}}\nx-deep: {}1{}\n",
        "[".repeat(100),
        "]".repeat(100)
    );
    assert!(cat.add_document("deep.yaml", &yaml).is_err());
}

#[test]
fn the_node_budget_spans_the_referenced_documents() {
    // Each referenced file is within the budget alone; together they are not, so the second
    // one pulled in is refused where it is referenced and the rest still loads.
    let api = r##"
openapi: 3.0.3
info: {title: t, version: "1"}
paths:
  /a: {$ref: "a.json#/p"}
  /b: {$ref: "b.json#/p"}
"##;
    let half = format!(
        r#"{{"p": {{"get": {{"responses": {{}}}}}}, "x": {}}}"#,
        zeros(MAX_SET_NODES / 2 + 10)
    );
    let mut cat = Catalogue::default();
    let loaded = cat.add_document_set("specs/api.yaml", api, |_| Some(half.clone()));
    assert_eq!(loaded, Ok(()));
    assert_eq!(cat.problems.len(), 1, "{:#?}", cat.problems);
    let p = &cat.problems[0];
    assert_eq!(
        (p.source.as_str(), p.pointer.as_str()),
        ("specs/api.yaml", "/paths/~1b")
    );
    assert!(
        p.message
            .starts_with("$ref `b.json#/p`: specs/b.json at line 1"),
        "{p:?}"
    );
    assert!(p.message.contains("nodes"), "{p:?}");
    assert!(cat.find_operation("h", "GET", "/a").is_some());
}

#[test]
fn a_loader_says_why_a_reference_was_not_read() {
    let api = "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths:\n  /a: {$ref: '../../secret/creds.yaml#/p'}\n";
    let mut cat = Catalogue::default();
    let loaded = cat.add_document_set_with("specs/api.yaml", api, |name| {
        Err(format!("document `{name}` is outside the catalogue roots"))
    });
    assert_eq!(loaded, Ok(()));
    assert_eq!(
        cat.problems,
        vec![Problem {
            source: "specs/api.yaml".into(),
            pointer: "/paths/~1a".into(),
            message: "$ref `../../secret/creds.yaml#/p`: document `../secret/creds.yaml` is \
                      outside the catalogue roots"
                .into(),
        }]
    );
}
