//! SOAP and ISO 20022 end to end, from the capture in fixtures/soap made with a real SOAP
//! client (zeep) against a real SOAP server (spyne); see its README and make.sh. The catalogue
//! is the WSDL spyne generates for the published operations, importing the pain.001.001.03
//! schema. The exact inventory and exactly the planted findings are asserted, and that no IBAN
//! or body text reaches any output.

use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/soap")
        .join(name)
}

fn run(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_shadowtap"))
        .args(args)
        .env("SHADOWTAP_SITE_SECRET", "soap-fixtures")
        .output()
        .expect("run shadowtap");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn pcap() -> String {
    fixture("soap_calls.pcap").to_string_lossy().into_owned()
}

fn catalog() -> String {
    fixture("catalog").to_string_lossy().into_owned()
}

fn scan(format: &str) -> String {
    run(&["scan", "--format", format, "--catalog", &catalog(), &pcap()])
}

/// Raw values the capture carries that no output may repeat: the two IBANs of the pain.001,
/// the BIC, body texts and the customer ids.
const SECRETS: &[&str] = &[
    "DE89370400440532013000",
    "GB29NWBK60161331926819",
    "COBADEFFXXX",
    "Acme Treasury",
    "MSG-0001",
    "E2E-1",
    "1250.00",
    "c-1001",
    "customer c-100",
    "ledger rows",
];

fn assert_no_secrets(what: &str, text: &str) {
    for s in SECRETS {
        assert!(!text.contains(s), "{what} carries {s:?}");
    }
}

#[test]
fn inventory_counts_each_soap_operation() {
    let report: Value = serde_json::from_str(&scan("json")).expect("JSON report");
    let endpoints = report["endpoints"].as_array().expect("endpoints");
    let lines: Vec<String> = endpoints
        .iter()
        .map(|e| {
            format!(
                "{} {} {} {} {} declared={}",
                e["host"].as_str().unwrap_or("-"),
                e["method"].as_str().unwrap_or("-"),
                e["path"].as_str().unwrap_or("-"),
                e["exchanges"],
                e["statuses"],
                e["declared"]
            )
        })
        .collect();
    assert_eq!(
        lines,
        [r#"127.0.0.1:18091 POST /soap/corebank 5 {"200":5} declared=true"#]
    );
    let e = &endpoints[0];
    assert_eq!(
        e["soap"],
        serde_json::json!({
            "versions": {"1.1": 5},
            "operations": {
                "ExportLedger": {"calls": 1},
                "GetCustomer": {"calls": 2},
                "SubmitPayment": {"calls": 2},
            },
        })
    );
    assert_eq!(
        e["soap_actions"],
        serde_json::json!({"ExportLedger": 1, "GetCustomer": 2, "SubmitPayment": 2})
    );
    assert_eq!(e["messages"]["iso20022:pain.001.001.03"], 1);
    assert_eq!(e["messages"]["iso20022:pacs.008.001.08"], 1);
    let ibans: Vec<&str> = e["data_classes"]
        .as_array()
        .expect("classes")
        .iter()
        .filter(|d| d["class"] == "iban")
        .filter_map(|d| d["location"].as_str())
        .collect();
    assert_eq!(
        ibans,
        [
            "request.body.Body.SubmitPayment.document.Document.CstmrCdtTrfInitn.PmtInf.CdtTrfTxInf.CdtrAcct.Id.IBAN",
            "request.body.Body.SubmitPayment.document.Document.CstmrCdtTrfInitn.PmtInf.DbtrAcct.Id.IBAN",
        ]
    );
}

#[test]
fn findings_are_exactly_the_planted_ones() {
    let report: Value = serde_json::from_str(&scan("json")).expect("JSON report");
    let mut lines: Vec<String> = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            format!(
                "{} {} {} {}",
                f["kind"].as_str().unwrap_or("-"),
                f["severity"].as_str().unwrap_or("-"),
                f["path"].as_str().unwrap_or("-"),
                f["operation_id"].as_str().unwrap_or("-"),
            )
        })
        .collect();
    lines.sort();
    assert_eq!(
        lines,
        [
            "orphaned_soap_operation info /soap/corebank Published.CoreBanking/CloseAccount",
            "shadow_soap_operation medium /soap/corebank ExportLedger",
            "undeclared_iso20022_message high /soap/corebank Published.CoreBanking",
        ]
    );
    let iso = report["findings"]
        .as_array()
        .and_then(|f| {
            f.iter()
                .find(|f| f["kind"] == "undeclared_iso20022_message")
        })
        .expect("iso finding");
    assert_eq!(
        iso["evidence"]["counts"],
        serde_json::json!({"pacs.008.001.08": 1})
    );
    assert_eq!(
        iso["evidence"]["declared"],
        serde_json::json!(["pain.001.001.03"])
    );
    let shadow = report["findings"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f["kind"] == "shadow_soap_operation"))
        .expect("shadow finding");
    assert_eq!(
        shadow["evidence"]["declared"],
        serde_json::json!(["CloseAccount", "GetCustomer", "SubmitPayment"])
    );
    assert_no_secrets("the JSON report", &report.to_string());
}

#[test]
fn every_output_shows_the_operations_and_no_sensitive_value() {
    let text = scan("text");
    assert!(
        text.contains(
            "SOAP 1.1 operations (calls): ExportLedger (1), GetCustomer (2), SubmitPayment (2)"
        ),
        "{text}"
    );
    assert_no_secrets("the text report", &text);
    let md = scan("markdown");
    assert!(md.contains("## SOAP operations"), "{md}");
    assert_no_secrets("the markdown report", &md);
    let ex = run(&["exchanges", &pcap()]);
    let ops: Vec<String> = ex
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("JSON line");
            v["soap_operation"].as_str().unwrap_or("-").to_string()
        })
        .collect();
    assert_eq!(
        ops,
        [
            "GetCustomer",
            "GetCustomer",
            "SubmitPayment",
            "SubmitPayment",
            "ExportLedger"
        ]
    );
    assert_no_secrets("exchanges", &ex);
    let dir = tempfile::tempdir().expect("tempdir");
    let inv = dir.path().join("inv.json");
    let inv_arg = inv.to_string_lossy().into_owned();
    run(&[
        "scan",
        "--catalog",
        &catalog(),
        "--save-inventory",
        &inv_arg,
        &pcap(),
    ]);
    for format in ["csv", "cyclonedx", "backstage"] {
        let out = run(&[
            "export",
            "--format",
            format,
            "--catalog",
            &catalog(),
            "--inventory",
            &inv_arg,
        ]);
        assert_no_secrets(format, &out);
        match format {
            "csv" => assert!(
                out.contains(",soap,,,ExportLedger=1;GetCustomer=2;SubmitPayment=2"),
                "{out}"
            ),
            "cyclonedx" => assert!(out.contains("\"shadowtap:protocol\""), "{out}"),
            _ => assert!(out.contains("type: \"wsdl\""), "{out}"),
        }
    }
    let saved = std::fs::read_to_string(&inv).expect("saved inventory");
    assert_no_secrets("the saved inventory", &saved);
}
