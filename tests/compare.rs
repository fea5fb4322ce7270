//! End to end: `shadowtap compare` on two inventories saved by `scan --save-inventory` from the
//! open-banking demo. Side A trusts the demo's ingress, so its forwarded client certificates
//! name the nine TPPs; side B believes certificate headers only from another address, so it
//! knows no TPP. The comparison must say exactly that, and nothing else.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixture(p: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/demo-openbanking")
        .join(p)
}

fn bin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_shadowtap"));
    cmd.env_remove("SHADOWTAP_LOG")
        .env("SHADOWTAP_SITE_SECRET", "compare-test");
    cmd
}

fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"))
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Scan the demo with `config`, saving the inventory to `out`.
fn save_inventory(config: &Path, out: &Path) {
    let o = run(bin()
        .arg("scan")
        .arg(fixture("openbanking.pcap"))
        .arg("--catalog")
        .arg(fixture("catalog"))
        .arg("--config")
        .arg(config)
        .args(["--no-progress", "--format", "json", "--save-inventory"])
        .arg(out));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

/// The demo inventory as is (A) and with certificate headers believed from nobody (B).
fn inventories(dir: &Path) -> (PathBuf, PathBuf) {
    let config =
        std::fs::read_to_string(fixture("shadowtap.toml")).unwrap_or_else(|e| panic!("{e}"));
    let untrusting = config.replacen(
        "trusted_proxies = [\"10.40.0.5\"]\nfapi_paths",
        "trusted_proxies = [\"192.0.2.99\"]\nfapi_paths",
        1,
    );
    assert_ne!(
        untrusting, config,
        "the demo config's lens proxy line moved"
    );
    let b_config = dir.join("untrusting.toml");
    std::fs::write(&b_config, untrusting).unwrap_or_else(|e| panic!("{e}"));
    let (a, b) = (dir.join("a.json"), dir.join("b.json"));
    save_inventory(&fixture("shadowtap.toml"), &a);
    save_inventory(&b_config, &b);
    (a, b)
}

fn names(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

const TPPS: [&str; 9] = [
    "tpp:PSDGB-FCA-100001",
    "tpp:PSDGB-FCA-200002",
    "tpp:PSDGB-FCA-300003",
    "tpp:PSDGB-FCA-400004",
    "tpp:PSDGB-FCA-500005",
    "tpp:PSDGB-FCA-600006",
    "tpp:PSDGB-FCA-700007",
    "tpp:PSDGB-FCA-800008",
    "tpp:PSDGB-FCA-900009",
];

#[test]
fn compare_names_exactly_the_tpps_one_inventory_has_and_the_other_lacks() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (a, b) = inventories(tmp.path());

    let o = run(bin()
        .arg("compare")
        .arg(&a)
        .arg(&b)
        .args(["--format", "json"]));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let c: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("json: {e}"));
    for same in ["endpoints", "auth_schemes", "data_classes"] {
        assert_eq!(
            c[same],
            serde_json::json!({"only_a": [], "only_b": []}),
            "{same}"
        );
    }
    assert_eq!(names(&c["tpps"]["only_a"]), TPPS.map(String::from).to_vec());
    assert!(names(&c["tpps"]["only_b"]).is_empty());
    // Per endpoint: the TPPs that called it, and nothing else differs.
    let changed = c["changed"].as_array().cloned().unwrap_or_default();
    let got: Vec<(String, Vec<String>)> = changed
        .iter()
        .map(|e| {
            let keys: Vec<&String> = e
                .as_object()
                .map(|m| m.keys().collect())
                .unwrap_or_default();
            assert_eq!(keys, ["endpoint", "tpps"], "{e}");
            (
                e["endpoint"].as_str().unwrap_or_default().to_string(),
                names(&e["tpps"]["only_a"]),
            )
        })
        .collect();
    let api = "api.alphabank.example/open-banking/v3.1";
    let want: Vec<(String, Vec<String>)> = EXPECTED_CHANGED
        .iter()
        .map(|(ep, tpps)| {
            (
                ep.replace("{api}", api),
                tpps.iter().map(|t| format!("tpp:PSDGB-FCA-{t}")).collect(),
            )
        })
        .collect();
    assert_eq!(got, want);

    // The same in text, and the gate.
    let o = run(bin()
        .arg("compare")
        .arg(&a)
        .arg(&b)
        .arg("--fail-on-difference"));
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("TPPs\n  only in A (9)\n    tpp:PSDGB-FCA-100001\n"),
        "{text}"
    );
    assert!(!text.contains("only in B"), "{text}");

    // An inventory against itself (one side on standard input): nothing, exit 0 even gated.
    let text = std::fs::read(&a).unwrap_or_else(|e| panic!("{e}"));
    let mut child = bin()
        .arg("compare")
        .arg(&a)
        .arg("-")
        .arg("--fail-on-difference")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap_or_else(|| panic!("no stdin"));
        stdin.write_all(&text).unwrap_or_else(|e| panic!("{e}"));
    }
    let o = child.wait_with_output().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("no differences"));
}

#[test]
fn compare_refuses_bad_input_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let report = tmp.path().join("report.json");
    std::fs::write(&report, r#"{"findings": []}"#).unwrap_or_else(|e| panic!("{e}"));
    let missing = tmp.path().join("missing.json");

    let o = run(bin().arg("compare").arg(&report).arg(&report));
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains(&format!("reading {}", report.display())),
        "{err}"
    );
    assert!(err.contains("not a shadowtap inventory"), "{err}");

    let o = run(bin().arg("compare").arg(&missing).arg(&report));
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains(&missing.display().to_string()), "{err}");

    let o = run(bin().args(["compare", "-", "-"]));
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("only one of the two"));
}

/// Endpoints whose TPPs only side A knows, with those TPPs (organisation number suffixes), in
/// the order compare lists them; they agree with fixtures/demo-openbanking/README.md's table
/// (Cobalt's payments come with a payment consent of its own).
const EXPECTED_CHANGED: &[(&str, &[&str])] = &[
    ("GET {api}/aisp/accounts", &["100001", "300003", "800008"]),
    (
        "GET {api}/aisp/accounts/{AccountId}/balances",
        &["100001", "400004"],
    ),
    (
        "GET {api}/aisp/accounts/{AccountId}/beneficiaries",
        &["700007"],
    ),
    (
        "GET {api}/aisp/accounts/{AccountId}/standing-orders",
        &["100001"],
    ),
    (
        "GET {api}/aisp/accounts/{AccountId}/transactions",
        &["100001", "300003", "500005"],
    ),
    (
        "POST {api}/aisp/account-access-consents",
        &["100001", "300003", "400004", "500005", "800008"],
    ),
    ("POST {api}/cbpii/funds-confirmation-consents", &["600006"]),
    ("POST {api}/cbpii/funds-confirmations", &["600006"]),
    (
        "POST {api}/pisp/domestic-payment-consents",
        &["200002", "300003", "900009"],
    ),
    (
        "POST {api}/pisp/domestic-payments",
        &["200002", "300003", "900009"],
    ),
];
