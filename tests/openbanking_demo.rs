//! End to end: the open-banking demo capture (`demogen --profile openbanking`, see
//! fixtures/demo-openbanking/README.md) scanned with the lens on reports exactly the planted
//! open-banking findings, with their counts, and nothing raw.

use serde_json::Value;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

fn fixture(p: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/demo-openbanking")
        .join(p)
}

fn scan(format: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_shadowtap"))
        .arg("scan")
        .arg(fixture("openbanking.pcap"))
        .arg("--catalog")
        .arg(fixture("catalog"))
        .arg("--config")
        .arg(fixture("shadowtap.toml"))
        .args(["--format", format, "--no-progress"])
        .env("SHADOWTAP_SITE_SECRET", "demo-test")
        .output()
        .expect("run shadowtap");
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

const API: &str = "/open-banking/v3.1";

/// (kind, method path, TPPs, checks) of a finding.
fn key(f: &Value) -> (String, String, Vec<String>, Vec<String>) {
    let s = |k: &str| f[k].as_str().unwrap_or_default().to_string();
    let keys = |k: &str| {
        f["evidence"][k]
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    };
    (
        s("kind"),
        format!("{} {}", s("method"), s("path")).trim().to_string(),
        keys("tpps"),
        keys("counts"),
    )
}

#[test]
fn openbanking_demo_reports_exactly_the_planted_findings() {
    let report: Value = serde_json::from_str(&scan("json")).expect("JSON report");
    let findings = report["findings"].as_array().expect("findings");
    let got: BTreeSet<_> = findings.iter().map(key).collect();
    let want: BTreeSet<_> = [
        (
            "tpp_role_mismatch",
            format!("POST {API}/pisp/domestic-payments"),
            "300003",
            "",
        ),
        (
            "tpp_certificate_invalid",
            String::new(),
            "400004",
            "expired",
        ),
        (
            "drift_fapi",
            format!("GET {API}/aisp/accounts/{{AccountId}}/standing-orders"),
            "",
            "interaction_id_not_echoed",
        ),
        (
            "drift_fapi",
            format!("POST {API}/cbpii/funds-confirmations"),
            "",
            "interaction_id_invalid,token_bound_to_other_certificate",
        ),
        (
            "consent_misuse",
            format!("GET {API}/aisp/accounts/{{AccountId}}/transactions"),
            "300003",
            "",
        ),
        (
            "consent_missing",
            format!("GET {API}/aisp/accounts/{{AccountId}}/beneficiaries"),
            "",
            "without_consent",
        ),
        (
            "consumer_anomaly",
            format!("GET {API}/aisp/accounts/{{AccountId}}/transactions"),
            "500005",
            "volume_jump",
        ),
        (
            "consumer_anomaly",
            format!("GET {API}/aisp/accounts"),
            "100001",
            "new_data_class",
        ),
        // The same IBANs, as the catalogue sees them.
        (
            "drift_data_class",
            format!("GET {API}/aisp/accounts"),
            "",
            "",
        ),
        (
            "consumer_anomaly",
            String::new(),
            "800008",
            "token_many_addresses",
        ),
        (
            "consumer_anomaly",
            format!("POST {API}/pisp/domestic-payments"),
            "900009",
            "new_consumer",
        ),
    ]
    .into_iter()
    .map(|(kind, at, tpp, checks)| {
        let tpps = if tpp.is_empty() {
            vec![]
        } else {
            vec![format!("tpp:PSDGB-FCA-{tpp}")]
        };
        let checks = checks
            .split(',')
            .filter(|c| !c.is_empty())
            .map(str::to_string)
            .collect();
        (kind.to_string(), at, tpps, checks)
    })
    .collect();
    let missing: Vec<_> = want.difference(&got).collect();
    let spurious: Vec<_> = got.difference(&want).collect();
    assert!(
        missing.is_empty() && spurious.is_empty(),
        "missing {missing:#?}\nspurious {spurious:#?}"
    );
    // The planted counts (fixtures/demo-openbanking/README.md).
    let find = |kind: &str, path_end: &str| {
        findings
            .iter()
            .find(|f| f["kind"] == kind && f["path"].as_str().unwrap_or("").ends_with(path_end))
            .unwrap_or_else(|| panic!("{kind} {path_end}"))
    };
    let ev = |f: &Value, k: &str| f["evidence"][k].clone();
    assert_eq!(
        ev(find("tpp_role_mismatch", "domestic-payments"), "exchanges"),
        2
    );
    // Delta's twelve balance reads and the consent it created.
    assert_eq!(
        ev(find("tpp_certificate_invalid", ""), "counts")["expired"],
        13
    );
    assert_eq!(
        ev(find("drift_fapi", "standing-orders"), "counts")["interaction_id_not_echoed"],
        12
    );
    let funds = ev(find("drift_fapi", "funds-confirmations"), "counts");
    assert_eq!(
        (
            funds["interaction_id_invalid"].clone(),
            funds["token_bound_to_other_certificate"].clone()
        ),
        (13.into(), 1.into())
    );
    let misuse = find("consent_misuse", "transactions");
    assert_eq!(
        ev(misuse, "created_by"),
        serde_json::json!(["tpp:PSDGB-FCA-100001"])
    );
    assert_eq!(ev(misuse, "exchanges"), 1);
    assert!(ev(misuse, "consent")
        .as_str()
        .is_some_and(|c| c.starts_with("consent:")));
    assert_eq!(
        ev(find("consent_missing", "beneficiaries"), "counts")["without_consent"],
        12
    );
    let jump = find("consumer_anomaly", "transactions");
    assert_eq!(ev(jump, "baseline")["mean_per_bucket"], "2.0");
    assert_eq!(ev(jump, "observed")["exchanges"], "40");
    let pulled = find("consumer_anomaly", "/aisp/accounts");
    assert_eq!(ev(pulled, "baseline")["classes"], "none");
    assert_eq!(ev(pulled, "observed")["new_classes"], "iban");
    let newcomer = find("consumer_anomaly", "domestic-payments");
    assert_eq!(ev(newcomer, "observed")["exchanges"], "3");
    let spread = findings
        .iter()
        .find(|f| f["kind"] == "consumer_anomaly" && f["path"].is_null())
        .expect("token finding");
    assert_eq!(ev(spread, "observed")["addresses"], "12");
    // Nothing raw: consent ids, tokens (beyond the 4-character preview every jwt finding
    // shows), certificates, client addresses.
    let text = serde_json::to_string(&report).unwrap();
    let token_start = "eyJhbGciOiJQUzI1NiIs";
    for raw in [
        "aac-",
        "pdc-",
        "fcc-",
        token_start,
        "BEGIN",
        "203.0.113.",
        "198.51.100.",
        "ALPH401276",
    ] {
        assert!(!text.contains(raw), "{raw} leaked into the report");
    }
}

#[test]
fn openbanking_demo_exposure_per_capability() {
    let report: Value = serde_json::from_str(&scan("json")).expect("JSON report");
    let rows: Vec<String> = report["capabilities"]
        .as_array()
        .expect("capabilities")
        .iter()
        .map(|c| {
            format!(
                "{} {}/{}/{} {} tpps {} consistent {}",
                c["capability"].as_str().unwrap_or_default(),
                c["declared"],
                c["shadow"],
                c["zombie"],
                c["exchanges"],
                c["tpps"],
                c["consistent_policy"]
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            "account_information 5/0/0 225 tpps 6 consistent true",
            // Payment consents are signed (signing_paths), account consents are not.
            "consents 3/0/0 14 tpps 8 consistent false",
            "funds_confirmation 1/0/0 13 tpps 1 consistent true",
            "payment_initiation 1/0/0 11 tpps 3 consistent true",
        ]
    );
    // The README's table is the markdown report's section.
    let md = scan("markdown");
    let section = md
        .split("## Exposure per capability")
        .nth(1)
        .expect("section");
    assert!(
        section.contains("| account\\_information | 5/0/0 | 225 |"),
        "{section}"
    );
}

/// Every output names the TPPs with their roles: the JSON report's endpoints, the text,
/// Markdown and HTML reports' TPP lists, and each export of the saved inventory. The saved
/// inventory keeps no consumer id under a TPP (clients are the file's own numbers).
#[test]
fn tpp_identity_reaches_every_output() {
    let acme = "tpp:PSDGB-FCA-100001";
    let report: Value = serde_json::from_str(&scan("json")).expect("JSON report");
    let accounts = report["endpoints"]
        .as_array()
        .and_then(|e| {
            e.iter()
                .find(|x| x["method"] == "GET" && x["path"] == format!("{API}/aisp/accounts"))
        })
        .expect("accounts endpoint");
    assert_eq!(accounts["tpps"][acme], serde_json::json!(["PSP_AI"]));
    assert!(scan("text").contains(&format!(
        "TPPs\n  {acme}   PSP_AI, 5 endpoints in account_information, consents\n"
    )));
    assert!(scan("markdown").contains(&format!(
        "| {acme} | PSP\\_AI | account\\_information, consents | 5 |"
    )));
    assert!(scan("html").contains(&format!("<td class=\"mono\">{acme}</td><td>PSP_AI</td>")));

    let tmp = tempfile::tempdir().expect("tempdir");
    let saved = tmp.path().join("inventory.json");
    let out = Command::new(env!("CARGO_BIN_EXE_shadowtap"))
        .arg("scan")
        .arg(fixture("openbanking.pcap"))
        .arg("--catalog")
        .arg(fixture("catalog"))
        .arg("--config")
        .arg(fixture("shadowtap.toml"))
        .args(["--no-progress", "--format", "json", "--save-inventory"])
        .arg(&saved)
        .env("SHADOWTAP_SITE_SECRET", "demo-test")
        .output()
        .expect("run shadowtap");
    assert!(out.status.success());
    let text = std::fs::read_to_string(&saved).expect("saved inventory");
    let snapshot: Value = serde_json::from_str(&text).expect("inventory json");
    for e in snapshot["endpoints"].as_array().expect("endpoints") {
        for stat in e["record"]["openbanking"]["tpps"]
            .as_object()
            .map(|m| m.values().collect::<Vec<_>>())
            .unwrap_or_default()
        {
            for client in stat["clients"].as_object().expect("clients").keys() {
                assert!(client.starts_with("consumer#"), "{client}");
            }
        }
        assert!(e["record"]["openbanking"]["behaviour"].is_null(), "{e}");
        assert!(e["record"]["openbanking"]["consents"].is_null(), "{e}");
    }
    let labelled = format!("{acme} (PSP_AI)");
    for format in ["csv", "ndjson", "cyclonedx", "backstage", "inventory"] {
        let out = Command::new(env!("CARGO_BIN_EXE_shadowtap"))
            .args(["export", "--format", format, "--inventory"])
            .arg(&saved)
            .output()
            .expect("run shadowtap export");
        assert!(out.status.success(), "{format}");
        let text = String::from_utf8_lossy(&out.stdout);
        let want = if format == "inventory" {
            acme
        } else {
            &labelled
        };
        assert!(text.contains(want), "{format} lacks {want}");
    }
}
