//! Exports and machine-readable reports against their formats' published schemas
//! (fixtures/schemas, provenance in its README), the OpenAPI round trip through shadowtap's own
//! catalogue loader, and hostile traffic text escaped in every output.

use analyzer::catalogue::Catalogue;
use analyzer::diff::diff;
use analyzer::export::{
    render_backstage, render_csv, render_cyclonedx, render_ndjson, render_openapi, Snapshot,
};
use analyzer::finding::Severity;
use analyzer::inventory::Inventory;
use analyzer::observation::{Consumer, EndpointKey, FieldShape, FieldType, Observation};
use analyzer::report::{render_html, render_markdown, render_sarif, CaptureTotals, ScanReport};
use analyzer::time::Timestamp;
use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn schema(rel: &str) -> Value {
    let path = root().join("fixtures/schemas").join(rel);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Validate `instance` against `schema` with extra documents registered by URI; panic with
/// every error (up to 20) and where it is.
fn assert_valid(what: &str, schema: &Value, resources: Vec<(String, Value)>, instance: &Value) {
    let mut builder = jsonschema::Registry::new();
    for (uri, doc) in resources {
        builder = builder
            .add(&uri, doc)
            .unwrap_or_else(|e| panic!("{what}: resource {uri}: {e}"));
    }
    let registry = builder
        .prepare()
        .unwrap_or_else(|e| panic!("{what}: registry: {e}"));
    let validator = jsonschema::options()
        .with_registry(&registry)
        .build(schema)
        .unwrap_or_else(|e| panic!("{what}: schema does not compile: {e}"));
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .take(20)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{what} is not valid:\n{}",
        errors.join("\n")
    );
}

/// Scan the demo once per test binary: the saved inventory and the SARIF report.
fn demo() -> &'static (PathBuf, String) {
    static DEMO: OnceLock<(PathBuf, String)> = OnceLock::new();
    DEMO.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("shadowtap-exports-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let inv = dir.join("inventory.json");
        let out = Command::new(env!("CARGO_BIN_EXE_shadowtap"))
            .current_dir(root())
            .env("SHADOWTAP_SITE_SECRET", "exports-test")
            .args(["scan", "fixtures/demo/openbanking.pcap", "--catalog"])
            .arg("fixtures/demo/catalog")
            .args(["--format", "sarif", "--no-progress", "--save-inventory"])
            .arg(&inv)
            .output()
            .expect("run shadowtap scan");
        assert!(
            out.status.success(),
            "scan failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        (inv, String::from_utf8(out.stdout).unwrap())
    })
}

fn export(format: &str) -> String {
    let (inv, _) = demo();
    let out = Command::new(env!("CARGO_BIN_EXE_shadowtap"))
        .current_dir(root())
        .args(["export", "--format", format, "--inventory"])
        .arg(inv)
        .output()
        .expect("run shadowtap export");
    assert!(
        out.status.success(),
        "export {format} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn cyclonedx_resources() -> Vec<(String, Value)> {
    // bom-1.6 refs its neighbours by relative name against its `$id`.
    ["spdx.SNAPSHOT.schema.json", "jsf-0.82.SNAPSHOT.schema.json"]
        .iter()
        .map(|f| {
            (
                format!("http://cyclonedx.org/schema/{f}"),
                schema(&format!("cyclonedx/{f}")),
            )
        })
        .collect()
}

#[test]
fn cyclonedx_export_validates_against_cyclonedx_1_6() {
    let bom: Value = serde_json::from_str(&export("cyclonedx")).unwrap();
    assert_valid(
        "CycloneDX export",
        &schema("cyclonedx/bom-1.6.SNAPSHOT.schema.json"),
        cyclonedx_resources(),
        &bom,
    );
    let services = bom["services"].as_array().unwrap();
    assert!(services.len() >= 4, "declared APIs plus shadow hosts");
    let endpoints: Vec<&str> = services
        .iter()
        .flat_map(|s| s["endpoints"].as_array().unwrap())
        .filter_map(Value::as_str)
        .collect();
    assert!(endpoints
        .iter()
        .all(|e| !e.contains('{') && !e.contains('}')));
    assert!(endpoints.iter().any(|e| e.contains("%7BAccountId%7D")));
    // The planted shadow host carries personal data in both directions.
    let internal = services
        .iter()
        .find(|s| s["name"] == "internal-tools.northbank.example")
        .expect("shadow host service");
    assert_eq!(internal["properties"][0]["value"], "false");
    assert!(internal["data"].as_array().is_some_and(|d| !d.is_empty()));
}

#[test]
fn openapi_export_validates_as_3_1_and_loads_back_without_problems() {
    let text = export("openapi");
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_valid(
        "OpenAPI export",
        &schema("openapi/schema-3.1.json"),
        vec![],
        &doc,
    );
    let mut back = Catalogue::default();
    back.add_document("shadow.json", &text).expect("loads");
    assert!(back.problems.is_empty(), "{:?}", back.problems);
    // Every undeclared endpoint of the demo is an operation of the exported document.
    let (inv, _) = demo();
    let snap = Snapshot::from_json(&std::fs::read_to_string(inv).unwrap()).unwrap();
    let undeclared: Vec<_> = snap
        .endpoints
        .iter()
        .filter(|e| e.declared.is_none())
        .collect();
    assert!(!undeclared.is_empty());
    for e in undeclared {
        assert!(
            back.find_operation(&e.key.host, &e.key.method, &e.key.path)
                .is_some(),
            "{} {} {} missing from the export",
            e.key.host,
            e.key.method,
            e.key.path
        );
    }
}

#[test]
fn sarif_report_validates_against_sarif_2_1_0() {
    let (_, sarif) = demo();
    let log: Value = serde_json::from_str(sarif).unwrap();
    assert_valid(
        "SARIF report",
        &schema("sarif/sarif-schema-2.1.0.json"),
        vec![],
        &log,
    );
    let run = &log["runs"][0];
    let rules: Vec<&str> = run["tool"]["driver"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["id"].as_str())
        .collect();
    let results = run["results"].as_array().unwrap();
    assert!(!results.is_empty());
    for r in results {
        let idx = r["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[idx], r["ruleId"].as_str().unwrap());
        assert_eq!(
            r["partialFingerprints"]["shadowtapFindingId/v1"]
                .as_str()
                .unwrap()
                .len(),
            16
        );
    }
    // Zombies are declared: they point at their spec file.
    let zombie = results.iter().find(|r| r["ruleId"] == "zombie").unwrap();
    let uri = zombie["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        .as_str()
        .unwrap();
    assert!(uri.starts_with("fixtures/demo/catalog/"), "{uri}");
}

fn backstage_resources() -> Vec<(String, Value)> {
    ["Entity", "EntityEnvelope", "EntityMeta", "common"]
        .iter()
        .map(|n| (backstage_uri(n), backstage_schema(n)))
        .collect()
}

fn backstage_uri(name: &str) -> String {
    format!("https://backstage.io/schema/{name}")
}

/// Backstage's schemas name each other by bare ids (`Entity`, `common#relation`), resolved by
/// its own registry; give each an absolute `$id` so relative references resolve the same way.
fn backstage_schema(file: &str) -> Value {
    let mut s = schema(&format!("backstage/{file}.schema.json"));
    let id = s["$id"].as_str().unwrap().to_string();
    s["$id"] = Value::String(backstage_uri(&id));
    s
}

#[test]
fn backstage_entities_validate_against_backstage_schemas() {
    let text = export("backstage");
    let docs: Vec<Value> = text
        .split("---\n")
        .filter(|d| !d.trim().is_empty())
        .map(|d| serde_saphyr::from_str::<Value>(d).expect("entity is valid YAML"))
        .collect();
    assert!(docs.len() >= 5);
    for doc in &docs {
        let kind = doc["kind"].as_str().unwrap();
        let file = match kind {
            "API" => "API.v1alpha1",
            "Component" => "Component.v1alpha1",
            "System" => "System.v1alpha1",
            other => panic!("unexpected kind {other}"),
        };
        assert_valid(
            &format!("Backstage {kind} {}", doc["metadata"]["name"]),
            &backstage_schema(file),
            backstage_resources(),
            doc,
        );
        if kind == "API" {
            let def: Value =
                serde_json::from_str(doc["spec"]["definition"].as_str().unwrap()).unwrap();
            assert_eq!(def["openapi"], "3.1.0");
        }
    }
}

#[test]
fn csv_and_ndjson_have_one_record_per_endpoint() {
    let (inv, _) = demo();
    let snap = Snapshot::from_json(&std::fs::read_to_string(inv).unwrap()).unwrap();
    let csv = export("csv");
    assert!(csv.ends_with("\r\n"));
    assert_eq!(
        csv.split("\r\n").filter(|l| !l.is_empty()).count(),
        snap.endpoints.len() + 1
    );
    let nd = export("ndjson");
    let lines: Vec<Value> = nd
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), snap.endpoints.len());
    // Privacy by construction: no consumer id or client address reaches an export.
    for text in [&csv, &nd, &std::fs::read_to_string(inv).unwrap()] {
        assert!(!text.contains("addr:") && !text.contains("key:"));
    }
}

#[test]
fn a_wrong_inventory_file_is_refused_clearly() {
    let dir = std::env::temp_dir().join(format!("shadowtap-badinv-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("report.json");
    std::fs::write(&bad, r#"{"summary": {}}"#).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_shadowtap"))
        .args(["export", "--format", "csv", "--inventory"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a shadowtap inventory"));
}

// ---- hostile traffic text ----

const SCRIPT: &str = "<script>alert(1)</script>";
const IMG: &str = "\"><img src=x onerror=alert(1)>";
const FORMULA: &str = "=cmd|' /C calc'!A0";

fn hostile_obs(host: &str, path: &str) -> Observation {
    Observation {
        status: Some(200),
        request_content_type: Some("application/json".into()),
        response_content_type: Some("application/json".into()),
        query_params: vec![format!("q{SCRIPT}")],
        request_fields: vec![FieldShape {
            path: format!("f{IMG}"),
            ty: FieldType::String,
        }],
        ..Observation::bare(
            Timestamp::from_secs_micros(1_772_442_000, 0),
            EndpointKey {
                host: host.into(),
                method: "POST".into(),
                path: path.into(),
            },
            Consumer {
                address: "10.0.0.9".into(),
                credential: None,
            },
        )
    }
}

/// An inventory of hostile hosts and paths, a catalogue, and the report of their diff.
fn hostile() -> (Inventory, Catalogue, ScanReport) {
    let mut inv = Inventory::default();
    inv.add(&hostile_obs(
        &format!("{SCRIPT}.example"),
        &format!("/a/{IMG}"),
    ));
    inv.add(&hostile_obs(
        &format!("{IMG}.example"),
        &format!("/{SCRIPT}"),
    ));
    inv.add(&hostile_obs(FORMULA, &format!("/{FORMULA}")));
    inv.add(&hostile_obs(
        "ok.example",
        &format!("/x\n---\nkind: Evil\n{FORMULA}"),
    ));
    let cat = Catalogue::default();
    let findings = diff(&inv, &cat, &|_: &str| Severity::High);
    let report = ScanReport::build(CaptureTotals::default(), &inv, &cat, findings);
    assert!(!report.findings.is_empty());
    (inv, cat, report)
}

#[test]
fn hostile_hosts_and_paths_are_escaped_in_every_output() {
    let (inv, cat, report) = hostile();

    let html = render_html(&report);
    assert!(
        !html.contains(SCRIPT) && !html.contains("<img"),
        "HTML markup injected"
    );
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!html.to_ascii_lowercase().contains("<script"));

    let md = render_markdown(&report);
    // Markdown escapes by backslash: every `<` from traffic must come out as `\<`.
    for line in md.lines() {
        let raw_lt = line
            .char_indices()
            .any(|(i, c)| c == '<' && !line[..i].ends_with('\\'));
        assert!(!raw_lt, "Markdown markup injected: {line}");
    }

    let sarif: Value = serde_json::from_str(&render_sarif(&report, &cat)).expect("SARIF is JSON");
    let hosts: Vec<&str> = sarif["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["properties"]["host"].as_str())
        .collect();
    assert!(
        hosts.contains(&FORMULA),
        "hostile text survives as data, not structure"
    );

    let snap = Snapshot::build(&inv, &cat);
    let csv = render_csv(&snap);
    for line in csv.split("\r\n") {
        assert!(
            !line.starts_with(['=', '+', '-', '@']),
            "formula cell: {line}"
        );
        assert!(
            !line.contains(&format!(",{FORMULA}")),
            "formula cell: {line}"
        );
    }
    assert!(csv.contains(&format!("'{FORMULA}")));

    let yaml = render_backstage(&snap);
    assert!(!yaml.lines().any(|l| l.starts_with("kind: Evil")));
    let docs: Vec<Value> = yaml
        .split("---\n")
        .filter(|d| !d.trim().is_empty())
        .map(|d| serde_saphyr::from_str::<Value>(d).expect("YAML parses"))
        .collect();
    assert!(
        docs.iter().all(|d| d["kind"] == "API"),
        "no injected entity"
    );
    assert!(docs
        .iter()
        .any(|d| d["metadata"]["annotations"]["shadowtap.io/host"] == FORMULA));

    for line in render_ndjson(&snap).lines() {
        serde_json::from_str::<Value>(line).expect("one record per line");
    }
    let openapi: Value = serde_json::from_str(&render_openapi(&snap)).unwrap();
    assert_valid(
        "OpenAPI export of hostile traffic",
        &schema("openapi/schema-3.1.json"),
        vec![],
        &openapi,
    );
    let bom: Value = serde_json::from_str(&render_cyclonedx(&snap)).unwrap();
    assert_valid(
        "CycloneDX export of hostile traffic",
        &schema("cyclonedx/bom-1.6.SNAPSHOT.schema.json"),
        cyclonedx_resources(),
        &bom,
    );
}
