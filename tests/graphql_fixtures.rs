//! GraphQL end to end through `scan`, `exchanges` and the exports, from the capture in
//! fixtures/graphql made with a real server (ariadne on graphql-core, served by hypercorn) and
//! real clients (gql over requests, and requests; see its README and make.sh). The inventory
//! of operations is asserted exactly, the catalogue plants one finding of each GraphQL kind,
//! and no document text or variable value appears in any output.

use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;

const CAPTURE: &str = "graphql_calls.pcap";

fn fixture(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/graphql")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

fn run(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_shadowtap"))
        .args(args)
        .env("SHADOWTAP_SITE_SECRET", "graphql-fixtures")
        .output()
        .expect("run shadowtap");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn scan(extra: &[&str]) -> String {
    let capture = fixture(CAPTURE);
    let mut args = vec!["scan", "--learn", "all"];
    args.extend_from_slice(extra);
    args.push(&capture);
    run(&args)
}

/// Every operation of the report's GraphQL endpoints as
/// `METHOD path | key | root fields | calls | statuses | errors/read`.
fn operations(report: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for e in report["endpoints"].as_array().expect("endpoints") {
        let Some(ops) = e["graphql"]["operations"].as_object() else {
            continue;
        };
        for (key, op) in ops {
            out.push(format!(
                "{} {} | {key} | {} | {} | {} | {}/{}",
                e["method"].as_str().unwrap_or("-"),
                e["path"].as_str().unwrap_or("-"),
                op["root_fields"]
                    .as_array()
                    .map(|a| a
                        .iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(","))
                    .unwrap_or_default(),
                op["calls"],
                op["statuses"],
                op["errors"].as_u64().unwrap_or(0),
                op["responses_read"].as_u64().unwrap_or(0),
            ));
        }
    }
    out
}

#[test]
fn the_capture_gives_its_operations_exactly() {
    let report: Value = serde_json::from_str(&scan(&["--format", "json"])).expect("JSON");
    // The anonymous queries are known by their normalised document's hash: the two layouts of
    // the inlined-literal query (6, 7) are one operation. The batch (9) got one error answer
    // for both its operations; the application/graphql answer (10) was not JSON, so not read.
    assert_eq!(
        operations(&report),
        [
            "GET /graphql | query Owners | accounts | 1 | {\"200\":1} | 0/1",
            "POST /graphql | mutation CloseAccount | closeAccount | 1 | {\"200\":1} | 0/1",
            "POST /graphql | mutation Pay | pay | 1 | {\"200\":1} | 0/1",
            "POST /graphql | persisted GetAccount |  | 1 | {\"400\":1} | 1/1",
            "POST /graphql | query #70ed69a07de61a0e | accounts | 1 | {\"400\":1} | 1/1",
            "POST /graphql | query #c2572ddc4876c30a | account | 2 | {\"200\":2} | 0/2",
            "POST /graphql | query GetAccount | account | 3 | {\"200\":2,\"400\":1} | 2/3",
            "POST /graphql | query Ids | accounts | 1 | {\"400\":1} | 0/0",
            "POST /graphql | query LegacyNumbers | accounts | 1 | {\"200\":1} | 0/1",
        ]
    );
    assert_eq!(
        post_op(&report, "persisted GetAccount")["hash"],
        "ecf4edb46db40b51"
    );
    let post = post_endpoint(&report);
    assert_eq!(post["graphql"]["requests"], 10);
    assert_eq!(post["graphql"]["batched"], 1);
    assert!(post["graphql"].get("unparsed").is_none(), "{post:#}");
    // Selected paths, with the fragment inlined.
    assert_eq!(
        post["graphql"]["operations"]["query LegacyNumbers"]["fields"],
        serde_json::json!(["accounts", "accounts.id", "accounts.number"])
    );
    // Variables are classified like body fields: the IBAN the Pay mutation sent.
    let classes: Vec<String> = post["data_classes"]
        .as_array()
        .expect("data classes")
        .iter()
        .map(|d| {
            format!(
                "{}@{}",
                d["class"].as_str().unwrap_or("-"),
                d["location"].as_str().unwrap_or("-")
            )
        })
        .collect();
    assert!(
        classes.contains(&"iban@request.body.variables.input.toIban".to_string()),
        "{classes:?}"
    );
}

fn post_endpoint(report: &Value) -> &Value {
    report["endpoints"]
        .as_array()
        .and_then(|a| a.iter().find(|e| e["method"] == "POST"))
        .expect("POST /graphql")
}

fn post_op<'a>(report: &'a Value, key: &str) -> &'a Value {
    &post_endpoint(report)["graphql"]["operations"][key]
}

/// Without `--learn all`, every operation is still counted (the body of a GraphQL request is
/// kept whatever the learn decision); only the responses read for `errors` depend on learning.
#[test]
fn sampled_learning_still_counts_every_operation() {
    let capture = fixture(CAPTURE);
    let report: Value =
        serde_json::from_str(&run(&["scan", "--format", "json", &capture])).expect("JSON");
    let calls: Vec<String> = operations(&report)
        .iter()
        .map(|l| {
            let parts: Vec<&str> = l.split(" | ").collect();
            format!("{} {}", parts[1], parts[3])
        })
        .collect();
    assert_eq!(
        calls,
        [
            "query Owners 1",
            "mutation CloseAccount 1",
            "mutation Pay 1",
            "persisted GetAccount 1",
            "query #70ed69a07de61a0e 1",
            "query #c2572ddc4876c30a 2",
            "query GetAccount 3",
            "query Ids 1",
            "query LegacyNumbers 1",
        ]
    );
}

#[test]
fn the_sdl_catalogue_plants_one_finding_of_each_graphql_kind() {
    for catalog in ["catalog", "catalog_introspection"] {
        let catalog = fixture(catalog);
        let report: Value =
            serde_json::from_str(&scan(&["--format", "json", "--catalog", &catalog]))
                .expect("JSON");
        let findings: Vec<String> = report["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .map(|f| {
                format!(
                    "{} {} {} {} {}",
                    f["kind"].as_str().unwrap_or("-"),
                    f["severity"].as_str().unwrap_or("-"),
                    f["path"].as_str().unwrap_or("-"),
                    f["operation_id"].as_str().unwrap_or("-"),
                    f["evidence"]["graphql_operations"]
                )
            })
            .collect();
        assert_eq!(
            findings,
            [
                "graphql_shadow_field high /graphql mutation.closeAccount {\"mutation CloseAccount\":1}",
                "graphql_deprecated_field medium /graphql Account.number {\"query LegacyNumbers\":1}",
                "graphql_orphaned_field info - query.statements null",
            ],
            "{catalog}"
        );
    }
}

/// Strings of the documents and variables the clients sent (and values the server answered
/// with): none may appear in any output.
const SECRETS: &[&str] = &[
    "FR1420041010050500013M02606",
    "GB82WEST12345698765432",
    "DE89370400440532013000",
    "acc-404",
    "acc-2",
    "account(id",
    "fragment Legacy",
    "$input",
    "accounts { owner }",
    "accounts+%7B",
    "12345698",
    "ecf4edb46db40b5132295c0291d62fb65d6759a9eedfa4d5d612dd5ec54a6b38",
];

#[test]
fn no_document_or_variable_value_in_any_output() {
    let dir = std::env::temp_dir().join(format!("shadowtap-graphql-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let saved = dir.join("inventory.json").to_string_lossy().into_owned();
    let catalog = fixture("catalog");
    let mut outputs = vec![
        scan(&[
            "--format",
            "json",
            "--catalog",
            &catalog,
            "--save-inventory",
            &saved,
        ]),
        scan(&["--format", "text", "--catalog", &catalog]),
        scan(&["--format", "markdown", "--catalog", &catalog]),
        run(&["exchanges", &fixture(CAPTURE)]),
    ];
    outputs.push(std::fs::read_to_string(&saved).expect("saved inventory"));
    for format in ["csv", "cyclonedx", "backstage"] {
        outputs.push(run(&["export", "--format", format, "--inventory", &saved]));
    }
    let _ = std::fs::remove_dir_all(&dir);
    for (i, out) in outputs.iter().enumerate() {
        for s in SECRETS {
            assert!(!out.contains(s), "output {i} carries {s:?}");
        }
    }
    // The text report lists the operations, one line each.
    assert!(outputs[1].contains("GRAPHQL OPERATIONS"), "{}", outputs[1]);
    assert!(outputs[1].contains("mutation CloseAccount"));
    assert!(outputs[2].contains("## GraphQL operations"));
    // The exports give GraphQL its own API type.
    assert!(
        outputs[5]
            .lines()
            .nth(1)
            .is_some_and(|l| l.contains(",graphql,")),
        "{}",
        outputs[5]
    );
    assert!(outputs[6].contains("\"graphql\""), "{}", outputs[6]);
    assert!(outputs[7].contains("type: \"graphql\""), "{}", outputs[7]);
}

#[test]
fn exchanges_print_one_line_per_operation() {
    let lines: Vec<String> = run(&["exchanges", &fixture(CAPTURE)])
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("JSON line");
            format!(
                "{} {} {} {}",
                v["method"].as_str().unwrap_or("-"),
                v["uri"].as_str().unwrap_or("-"),
                v["status"],
                v["graphql"]["operation"]
                    .as_str()
                    .map_or_else(|| v["graphql"].to_string(), str::to_string),
            )
        })
        .collect();
    // The batch (9) is two lines; the GET's document is withheld from its uri.
    assert_eq!(
        lines,
        [
            "POST /graphql 200 query GetAccount",
            "POST /graphql 200 query GetAccount",
            "POST /graphql 200 query LegacyNumbers",
            "POST /graphql 200 mutation Pay",
            "POST /graphql 200 mutation CloseAccount",
            "POST /graphql 200 query #c2572ddc4876c30a",
            "POST /graphql 200 query #c2572ddc4876c30a",
            "GET /graphql?query=(withheld)&operationName=Owners 200 query Owners",
            "POST /graphql 400 query GetAccount",
            "POST /graphql 400 query #70ed69a07de61a0e",
            "POST /graphql 400 query Ids",
            "POST /graphql 400 persisted GetAccount",
        ]
    );
}
