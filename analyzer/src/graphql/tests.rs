use super::*;

fn keys(ex: &Extracted) -> Vec<String> {
    ex.ops.iter().map(OpFacts::key).collect()
}

#[test]
fn post_json_batches_graphql_documents_and_persisted_queries() {
    let one = from_body(
        Some(b"application/json"),
        br#"{"query":"query Acc($id: ID!) { account(id: $id) { iban } }","operationName":"Acc","variables":{"id":"GB82WEST12345698765432"}}"#,
    );
    assert_eq!(keys(&one), ["query Acc"]);
    assert_eq!(
        one.ops[0].paths.iter().collect::<Vec<_>>(),
        ["account", "account.iban"]
    );
    assert!(!one.batched);

    let batch = from_body(
        None,
        br#"[{"query":"{ ping }"},{"query":"mutation Pay { pay { id } }"},{"nope":1},
            {"extensions":{"persistedQuery":{"version":1,"sha256Hash":"ECF4EDB46DB40B5132295C0291D62FB65D6759A9EEDFA4D5D612DD5EC54A6B38"}}}]"#,
    );
    assert!(batch.batched);
    assert_eq!(batch.unparsed, 1);
    let anon = parse_hash("{ ping }");
    assert_eq!(
        keys(&batch),
        [
            format!("query #{anon}"),
            "mutation Pay".to_string(),
            "persisted #ecf4edb46db40b51".to_string()
        ]
    );

    let doc = from_body(
        Some(b"application/graphql; charset=utf-8"),
        b"subscription S { ticks }",
    );
    assert_eq!(keys(&doc), ["subscription S"]);

    // Two operations and no operationName: the server cannot tell which one runs.
    let two = from_body(None, br#"{"query":"query A { a } query B { b }"}"#);
    assert_eq!((two.ops.len(), two.unparsed), (0, 1));
    let named = from_body(
        None,
        br#"{"query":"query A { a } query B { b }","operationName":"B"}"#,
    );
    assert_eq!(keys(&named), ["query B"]);
    // An operationName that is not a GraphQL name is not kept.
    let odd = from_body(None, br#"{"query":"{ a }","operationName":"x y"}"#);
    assert_eq!(odd.ops[0].name, None);
    // Not GraphQL at all.
    assert!(!from_body(None, br#"{"search":"x"}"#).is_graphql());
    assert!(!from_body(None, b"\x00\xff").is_graphql());
}

fn parse_hash(text: &str) -> String {
    document::parse(text).unwrap().hash
}

#[test]
fn get_query_strings() {
    let ex = from_query_string("query=query%20Q%7Ba%20b%7D&operationName=Q&variables=%7B%7D");
    assert_eq!(keys(&ex), ["query Q"]);
    let plus = from_query_string("query=%7B+a+%7D");
    assert_eq!(plus.ops.len(), 1);
    // A search API's `query=` is not GraphQL.
    assert!(!from_query_string("query=shoes&page=2").is_graphql());
    assert!(!from_query_string("page=2").is_graphql());
}

#[test]
fn candidates_and_errors() {
    assert!(body_candidate(
        "POST",
        "/graphql",
        Some(b"application/json")
    ));
    assert!(body_candidate("POST", "/api/v1/GraphQL/", None));
    assert!(body_candidate("PUT", "/x", Some(b"application/graphql")));
    assert!(!body_candidate(
        "POST",
        "/accounts",
        Some(b"application/json")
    ));
    assert!(!body_candidate("GET", "/graphql", None));
    assert_eq!(
        response_errors(br#"{"data":null,"errors":[{"message":"x"}]}"#),
        [true]
    );
    assert_eq!(
        response_errors(br#"[{"data":{}},{"errors":[]}]"#),
        [false, false]
    );
    assert!(response_errors(b"{\"data\":").is_empty());
}

#[test]
fn records_count_and_merge_in_any_order() {
    let a_ex = from_body(
        None,
        br#"[{"query":"query A { a }"},{"query":"mutation M { m }"}]"#,
    );
    let b_ex = from_body(None, br#"{"query":"query A { a b }"}"#);
    let mut a = GraphqlRecord::default();
    a.exchange(&a_ex, Some(200), &[false, true]);
    let mut b = GraphqlRecord::default();
    b.exchange(&b_ex, Some(200), &[]);
    b.exchange(&b_ex, Some(500), &[true]);
    let mut ab = a.clone();
    ab.merge(&b);
    let mut ba = b.clone();
    ba.merge(&a);
    assert_eq!(ab, ba);
    assert_eq!((ab.requests, ab.batched), (3, 1));
    let q = &ab.operations["query A"];
    assert_eq!(q.calls, 3);
    assert_eq!((q.errors, q.responses_read), (1, 2));
    assert_eq!(q.root_fields.iter().collect::<Vec<_>>(), ["a", "b"]);
    assert_eq!(q.statuses["200"], 2);
    assert_eq!(ab.operations["mutation M"].errors, 1);
    assert_eq!(ab.totals(), (2, 4, 2));
}
