//! The command line behaves like a Unix tool: `-` is standard input, outputs are checked before
//! the work, a closed pipe is not an error, usage errors exit 2, `--fail-on` and damage are
//! both reported, errors say each cause once, and completions and man pages exist.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn bin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_shadowtap"));
    cmd.env_remove("SHADOWTAP_LOG");
    cmd
}

fn demo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/demo")
        .join(p)
}

fn output(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"))
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_capture_on_standard_input_gives_the_same_report_as_the_file() {
    let from_file = output(
        bin()
            .args(["scan", "--format", "json", "--no-progress", "--catalog"])
            .arg(demo("catalog"))
            .arg(demo("openbanking.pcap")),
    );
    assert_eq!(from_file.status.code(), Some(0), "{}", stderr(&from_file));
    let capture = std::fs::read(demo("openbanking.pcap")).unwrap_or_else(|e| panic!("{e}"));
    let mut child = bin()
        .args([
            "scan",
            "-",
            "--format",
            "json",
            "--no-progress",
            "--catalog",
        ])
        .arg(demo("catalog"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let mut stdin = child.stdin.take().unwrap_or_else(|| panic!("no stdin"));
    let writer = std::thread::spawn(move || stdin.write_all(&capture));
    let from_stdin = child.wait_with_output().unwrap_or_else(|e| panic!("{e}"));
    writer
        .join()
        .unwrap_or_else(|_| panic!("writer panicked"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(from_stdin.status.code(), Some(0), "{}", stderr(&from_stdin));
    let findings = |o: &Output| -> serde_json::Value {
        let v: serde_json::Value =
            serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("json: {e}"));
        v["findings"].clone()
    };
    let file_findings = findings(&from_file);
    assert!(file_findings.as_array().is_some_and(|f| f.len() > 10));
    assert_eq!(findings(&from_stdin), file_findings);
}

#[test]
fn an_inventory_on_standard_input_exports_as_the_file_does() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let saved = tmp.path().join("inventory.json");
    let scan = output(
        bin()
            .args(["scan", "--no-progress", "--catalog"])
            .arg(demo("catalog"))
            .arg("--save-inventory")
            .arg(&saved)
            .arg(demo("openbanking.pcap")),
    );
    assert_eq!(scan.status.code(), Some(0), "{}", stderr(&scan));
    let from_file = output(
        bin()
            .args(["export", "--format", "csv", "--inventory"])
            .arg(&saved),
    );
    assert_eq!(from_file.status.code(), Some(0), "{}", stderr(&from_file));
    let inventory = std::fs::File::open(&saved).unwrap_or_else(|e| panic!("{e}"));
    let from_stdin = output(
        bin()
            .args(["export", "--format", "csv", "--inventory", "-"])
            .stdin(inventory),
    );
    assert_eq!(from_stdin.status.code(), Some(0), "{}", stderr(&from_stdin));
    assert!(from_file.stdout.len() > 100);
    assert_eq!(from_stdin.stdout, from_file.stdout);
    let neither = output(bin().args(["export", "--format", "csv"]));
    assert_eq!(neither.status.code(), Some(2), "{}", stderr(&neither));
    // The output is checked before the input is read.
    let bad_out = output(bin().args([
        "export",
        "--format",
        "csv",
        "--inventory",
        "/nonexistent/inventory.json",
        "--out",
        "/nonexistent-dir/export.csv",
    ]));
    assert_eq!(bad_out.status.code(), Some(1));
    assert!(
        stderr(&bad_out).contains("cannot write /nonexistent-dir/export.csv"),
        "{}",
        stderr(&bad_out)
    );
}

#[test]
fn an_unwritable_out_fails_before_any_capture_is_read() {
    // The capture does not exist either: the out path is what must be reported, first.
    let out = output(bin().args([
        "scan",
        "/nonexistent/capture.pcap",
        "--out",
        "/nonexistent-dir/report.txt",
    ]));
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("cannot write /nonexistent-dir/report.txt"),
        "{err}"
    );
    assert!(!err.contains("capture.pcap"), "{err}");
}

#[test]
fn a_missing_capture_is_named_without_a_meaningless_offset() {
    let out = output(bin().args(["scan", "/nonexistent/capture.pcap"]));
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("/nonexistent/capture.pcap: cannot open: No such file"),
        "{err}"
    );
    assert!(!err.contains("byte offset"), "{err}");
}

#[test]
fn a_reader_that_stops_early_is_not_an_error() {
    stops_quietly_when_its_reader_does(bin().arg("exchanges").arg(demo("openbanking.pcap")));
}

/// Run `cmd`, read the start of its output, then close the pipe, as `| head -1` does: it must
/// exit 0 without a "Broken pipe" message.
fn stops_quietly_when_its_reader_does(cmd: &mut Command) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let mut stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
    let mut first = [0u8; 64];
    let n = std::io::Read::read(&mut stdout, &mut first).unwrap_or_else(|e| panic!("{e}"));
    assert!(n > 0 && first.starts_with(b"{"));
    drop(stdout);
    let out = child.wait_with_output().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!stderr(&out).contains("Broken pipe"), "{}", stderr(&out));
}

#[test]
fn usage_errors_exit_2_everywhere() {
    let agent = output(bin().args(["agent", "--read", "x.pcap"]));
    assert_eq!(agent.status.code(), Some(2), "{}", stderr(&agent));
    assert!(stderr(&agent).contains("--collector or --kafka-brokers is required"));
    let baseline = output(bin().args(["baseline", "--out", "/tmp/shadowtap-unused.json"]));
    assert_eq!(baseline.status.code(), Some(2), "{}", stderr(&baseline));
    let flag = output(bin().args(["scan", "--no-such-flag", "x.pcap"]));
    assert_eq!(flag.status.code(), Some(2));
}

#[test]
fn fail_on_wins_over_damage_and_both_are_said() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let capture = std::fs::read(demo("openbanking.pcap")).unwrap_or_else(|e| panic!("{e}"));
    // Cut inside a packet record: read up to there, then damaged.
    let cut = tmp.path().join("cut.pcap");
    std::fs::write(&cut, &capture[..capture.len() / 2 + 7]).unwrap_or_else(|e| panic!("{e}"));
    let scan = |fail_on: Option<&str>| {
        let mut cmd = bin();
        cmd.args(["scan", "--no-progress", "--catalog"])
            .arg(demo("catalog"))
            .arg(&cut);
        if let Some(level) = fail_on {
            cmd.args(["--fail-on", level]);
        }
        output(&mut cmd)
    };
    let damaged = scan(None);
    assert_eq!(damaged.status.code(), Some(4), "{}", stderr(&damaged));
    let both = scan(Some("info"));
    assert_eq!(both.status.code(), Some(3), "{}", stderr(&both));
    let err = stderr(&both);
    assert!(err.contains("byte offset"), "damage not named: {err}");
    assert!(
        err.contains("exit 4 otherwise"),
        "hidden exit 4 not said: {err}"
    );
}

#[test]
fn completions_and_man_pages_come_from_the_command_line_itself() {
    let bash = output(bin().args(["completions", "bash"]));
    assert_eq!(bash.status.code(), Some(0));
    let script = String::from_utf8_lossy(&bash.stdout);
    assert!(
        script.contains("add-agent") && script.contains("--fail-on"),
        "incomplete"
    );
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let man = output(bin().arg("man").arg(tmp.path()));
    assert_eq!(man.status.code(), Some(0), "{}", stderr(&man));
    let scan = std::fs::read_to_string(tmp.path().join("shadowtap-scan.1"))
        .unwrap_or_else(|e| panic!("shadowtap-scan.1: {e}"));
    assert!(
        scan.contains(".TH") && scan.contains("fail\\-on"),
        "not a man page"
    );
    assert!(tmp.path().join("shadowtap-store-export.1").is_file());
    let version = output(bin().arg("--version"));
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!("shadowtap {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn logs_carry_no_colour_codes_when_not_on_a_terminal() {
    // An agent whose collector is not there logs its retries through tracing.
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let pki = tmp.path().join("pki");
    let init = output(bin().args(["pki", "init"]).arg(&pki));
    assert_eq!(init.status.code(), Some(0), "{}", stderr(&init));
    let config = tmp.path().join("agent.toml");
    std::fs::write(
        &config,
        "[agent]\nretry_min_ms = 10\nretry_max_ms = 20\ndrain_timeout_ms = 300\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let out = output(
        bin()
            .env("SHADOWTAP_LOG", "info")
            .args(["agent", "--collector", "https://127.0.0.1:9"])
            .arg("--cert")
            .arg(pki.join("agents/agent-1.pem"))
            .arg("--key")
            .arg(pki.join("agents/agent-1.key"))
            .arg("--ca")
            .arg(pki.join("ca.pem"))
            .arg("--spool")
            .arg(tmp.path().join("spool"))
            .arg("--config")
            .arg(&config)
            .arg("--read")
            .arg(demo("openbanking.pcap")),
    );
    let err = stderr(&out);
    assert!(err.contains("WARN"), "no log lines: {err}");
    assert!(
        !err.contains('\u{1b}'),
        "ANSI escape in a non-terminal log: {err}"
    );
}

#[test]
fn a_store_export_read_partly_is_not_an_error() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    // A store larger than a pipe's buffer, made by importing endpoint records.
    let record = r#"{"template_source":"learned","exchanges":1,"complete_exchanges":1,"statuses":{"200":1},"no_response":0,"query_params":{},"header_params":{},"request_fields":{},"response_fields":{},"request_content_types":{},"response_content_types":{},"data_classes":{},"consumers":{"addr:10.0.0.1":1},"auth":{"none":1},"anomalies":{},"first_seen":1000,"last_seen":1000,"overflow":0}"#;
    let lines: String = (0..2_000)
        .map(|i| {
            format!(
                "{{\"endpoint\":{{\"key\":{{\"host\":\"api.test\",\"method\":\"GET\",\"path\":\"/p/{i}\"}},\"record\":{record}}}}}\n"
            )
        })
        .collect();
    let jsonl = tmp.path().join("in.jsonl");
    std::fs::write(&jsonl, lines).unwrap_or_else(|e| panic!("{e}"));
    let data = tmp.path().join("data");
    let import = output(
        bin()
            .args(["store", "import", "--data"])
            .arg(&data)
            .arg(&jsonl),
    );
    assert_eq!(import.status.code(), Some(0), "{}", stderr(&import));
    stops_quietly_when_its_reader_does(bin().args(["store", "export", "--data"]).arg(&data));
}
