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
                    .map(|a| a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(","))
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

/// The hash the normalised anonymous documents of the capture have (stable across runs and
/// layouts: both spellings of the inlined-literal query share it).
fn anonymous_keys(report: &Value) -> Vec<String> {
    operations(report)
        .iter()
        .filter_map(|l| l.split(" | ").nth(1))
        .filter(|k| k.starts_with("query #"))
        .map(str::to_string)
        .collect()
}

#[test]
fn the_capture_gives_its_operations_exactly() {
    let report: Value = serde_json::from_str(&scan(&["--format", "json"])).expect("JSON");
    let anon = anonymous_keys(&report);
    assert_eq!(anon.len(), 2, "{anon:?}");
    let got = operations(&report);
    println!("{got:#?}");
    let expected: Vec<String> = EXPECTED_OPERATIONS
        .iter()
        .map(|l| l.replace("ANON_ACCOUNT", &anon[0]).replace("ANON_ACCOUNTS", &anon[1]))
        .collect();
    assert_eq!(got, expected);
    let post = report["endpoints"]
        .as_array()
        .and_then(|a| a.iter().find(|e| e["method"] == "POST"))
        .expect("POST /graphql");
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
        .map(|d| format!("{}@{}", d["class"].as_str().unwrap_or("-"), d["location"].as_str().unwrap_or("-")))
        .collect();
    assert!(
        classes.contains(&"iban@request.body.variables.input.toIban".to_string()),
        "{classes:?}"
    );
}

const EXPECTED_OPERATIONS: &[&str] = &[];

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
        scan(&["--format", "json", "--catalog", &catalog, "--save-inventory", &saved]),
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
    assert!(outputs[5].lines().nth(1).is_some_and(|l| l.contains(",graphql,")), "{}", outputs[5]);
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
                    .map(|o| o.split(" #").next().unwrap_or(o).to_string())
                    .unwrap_or_else(|| v["graphql"].to_string()),
            )
        })
        .collect();
    println!("{lines:#?}");
    assert_eq!(lines, EXPECTED_EXCHANGES);
}

const EXPECTED_EXCHANGES: &[&str] = &[];
