//! A catalogue that fails to load is a finding about the catalogue: named (file, line, column)
//! in every report format, a distinct exit status (5) unless `--allow-partial-catalogue`, and a
//! loud warning when no catalogue was given at all.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn demo(p: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/demo")
        .join(p)
}

fn scan(catalogues: &[&Path], extra: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_shadowtap"));
    cmd.arg("scan").arg(demo("openbanking.pcap"));
    for c in catalogues {
        cmd.arg("--catalog").arg(c);
    }
    cmd.args(extra)
        .env("SHADOWTAP_SITE_SECRET", "catalogue-test")
        .output()
        .expect("run shadowtap")
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "JSON report: {e}; stderr {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// The demo catalogue copied into a fresh folder, plus `extra` files.
fn catalogue_with(extra: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for entry in std::fs::read_dir(demo("catalog")).expect("demo catalogue") {
        let path = entry.expect("entry").path();
        if let Some(name) = path.file_name() {
            std::fs::copy(&path, dir.path().join(name)).expect("copy");
        }
    }
    for (name, text) in extra {
        std::fs::write(dir.path().join(name), text).expect("write");
    }
    dir
}

const BAD_YAML: &str =
    "openapi: 3.0.0\ninfo: {title: broken, version: '1'}\npaths:\n  /a: [unclosed\n";

#[test]
fn a_lone_invalid_catalogue_exits_5_and_is_named_with_line_and_column() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, BAD_YAML).expect("write");
    let out = scan(&[&bad], &["--format", "json"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{stderr}");
    assert!(
        stderr.contains("bad.yaml") && stderr.contains("failed to load"),
        "{stderr}"
    );
    let report = json(&out);
    let cat = &report["summary"]["catalogue"];
    assert_eq!(cat["apis"], 0);
    let problems = cat["problems"].as_array().expect("problems");
    assert!(
        problems
            .iter()
            .any(|p| p.as_str().is_some_and(|p| p.contains("bad.yaml"))),
        "{cat}"
    );
    let failed = &cat["failed_files"][0];
    assert!(
        failed["file"]
            .as_str()
            .is_some_and(|f| f.ends_with("bad.yaml")),
        "{cat}"
    );
    assert!(failed["line"].as_u64().is_some_and(|l| l >= 4), "{cat}");
    assert!(failed["column"].as_u64().is_some(), "{cat}");
    assert!(cat["warning"]
        .as_str()
        .is_some_and(|w| w.contains("failed to load")));
}

#[test]
fn one_bad_file_among_good_ones_exits_5_unless_accepted() {
    let dir = catalogue_with(&[("zz-broken.json", "{\"openapi\": \"3.0.0\",\n \"paths\": {")]);
    let out = scan(&[dir.path()], &["--format", "json"]);
    assert_eq!(
        out.status.code(),
        Some(5),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = json(&out);
    let cat = &report["summary"]["catalogue"];
    assert_eq!(cat["apis"], 4, "the good files still load: {cat}");
    assert_eq!(
        cat["failed_files"].as_array().map(Vec::len),
        Some(1),
        "{cat}"
    );
    assert_eq!(cat["failed_files"][0]["line"], 2, "{cat}");

    // Accepted: exit 0, and the text, markdown and SARIF outputs still say it.
    let out = scan(&[dir.path()], &["--allow-partial-catalogue"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("WARNING") && text.contains("zz-broken.json"),
        "{text}"
    );
    let out = scan(
        &[dir.path()],
        &["--allow-partial-catalogue", "--format", "markdown"],
    );
    let md = String::from_utf8_lossy(&out.stdout);
    assert!(
        md.contains("## Catalogue problems") && md.contains("zz-broken.json"),
        "{md}"
    );
    let out = scan(
        &[dir.path()],
        &["--allow-partial-catalogue", "--format", "sarif"],
    );
    let sarif: Value = serde_json::from_slice(&out.stdout).expect("sarif");
    let notes = &sarif["runs"][0]["invocations"][0]["toolExecutionNotifications"];
    let note = notes
        .as_array()
        .and_then(|n| {
            n.iter()
                .find(|n| n["descriptor"]["id"] == "catalogue-file-failed")
        })
        .unwrap_or_else(|| panic!("no catalogue notification: {notes}"));
    assert_eq!(note["level"], "error");
    assert_eq!(
        note["locations"][0]["physicalLocation"]["region"]["startLine"],
        2
    );
    let out = scan(
        &[dir.path()],
        &["--allow-partial-catalogue", "--format", "html"],
    );
    let html = String::from_utf8_lossy(&out.stdout);
    assert!(html.contains("role=\"alert\"") && html.contains("zz-broken.json"));
}

#[test]
fn a_catalogue_failure_wins_over_fail_on() {
    let dir = catalogue_with(&[("zz-broken.yaml", BAD_YAML)]);
    let out = scan(&[dir.path()], &["--fail-on", "info"]);
    assert_eq!(out.status.code(), Some(5));
    let out = scan(
        &[dir.path()],
        &["--fail-on", "info", "--allow-partial-catalogue"],
    );
    assert_eq!(out.status.code(), Some(3));
}

#[test]
fn no_catalogue_warns_loudly_and_says_so_in_the_summary() {
    let out = scan(&[], &["--format", "json"]);
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("WARNING: no --catalog given"), "{stderr}");
    let report = json(&out);
    let warning = report["summary"]["catalogue"]["warning"]
        .as_str()
        .unwrap_or_default();
    assert!(warning.contains("no catalogue was given"), "{warning}");
}
