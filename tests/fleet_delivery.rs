//! Agent delivery tells the truth: an agent that could not deliver exits 6 with the count and
//! the reason in one line; TLS refusals say what to fix (at the agent and, once per peer and
//! minute, at the collector); a re-run delivers what an earlier run left in the spool without
//! reading the capture again, and resent batches change nothing; `store import` refuses to add
//! to a store that holds data unless told to merge, and merges one export once.

mod fleet_support;

use fleet_support::*;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

const EXIT_UNDELIVERED: i32 = 6;

/// `agent --read` of the demo capture with the given identity and trust, giving up delivery
/// after `drain_ms`.
fn agent(
    dir: &Path,
    name: &str,
    (cert, key, ca): (&Path, &Path, &Path),
    collector: &str,
    drain_ms: u64,
) -> Command {
    let config = dir.join(format!("{name}.toml"));
    std::fs::write(
        &config,
        format!(
            "[agent]\nretry_min_ms = 50\nretry_max_ms = 200\ndrain_timeout_ms = {drain_ms}\ntimeout_ms = 5000\nwindow_secs = 60\n"
        ),
    )
    .expect("write agent config");
    let mut cmd = Command::new(bin());
    cmd.arg("agent")
        .arg("--read")
        .arg(demo_pcap())
        .args(["--collector", collector, "--learn", "all"])
        .arg("--config")
        .arg(&config)
        .arg("--catalog")
        .arg(demo_catalog())
        .arg("--cert")
        .arg(cert)
        .arg("--key")
        .arg(key)
        .arg("--ca")
        .arg(ca)
        .arg("--spool")
        .arg(dir.join(format!("spool-{name}")))
        .env("SHADOWTAP_SITE_SECRET", SECRET);
    cmd
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The one line that says what was not delivered.
fn undelivered_line(out: &Output) -> String {
    stderr(out)
        .lines()
        .find(|l| l.contains("not delivered"))
        .unwrap_or_default()
        .to_string()
}

/// Wait (bounded) for a collector log line containing every one of `parts`.
fn collector_logged(c: &Collector, parts: &[&str]) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let line = c
            .stderr
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("the collector never logged {parts:?}"));
        if parts.iter().all(|p| line.contains(p)) {
            return line;
        }
    }
}

#[test]
fn tls_refusals_say_what_to_fix_at_both_ends_and_the_agent_exits_6() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ours = dir.path().join("pki");
    let theirs = dir.path().join("other-pki");
    pki(&ours, &["e1"]);
    pki(&theirs, &["e1"]);
    let c = Collector::start(&ours, &dir.path().join("data"), "127.0.0.1:0", &[]);
    let cert = ours.join("agents/e1.pem");
    let key = ours.join("agents/e1.key");

    // The agent trusts another CA than the one that signed the collector's certificate.
    let wrong_ca = theirs.join("ca.pem");
    let out = agent(dir.path(), "a", (&cert, &key, &wrong_ca), &c.url(), 1500)
        .output()
        .expect("agent");
    assert_eq!(
        out.status.code(),
        Some(EXIT_UNDELIVERED),
        "{}",
        stderr(&out)
    );
    let line = undelivered_line(&out);
    assert!(
        line.contains("left in spool")
            && line.contains(&format!(
                "the collector's certificate is not signed by --ca {}",
                wrong_ca.display()
            )),
        "{line}"
    );
    assert!(!stderr(&out).contains("BadSignature"), "{}", stderr(&out));
    collector_logged(
        &c,
        &[
            "refused TLS handshake from 127.0.0.1",
            "refused the collector's certificate",
        ],
    );

    // The agent's certificate comes from another PKI.
    let out = agent(
        dir.path(),
        "b",
        (
            &theirs.join("agents/e1.pem"),
            &theirs.join("agents/e1.key"),
            &ours.join("ca.pem"),
        ),
        &c.url(),
        1500,
    )
    .output()
    .expect("agent");
    assert_eq!(
        out.status.code(),
        Some(EXIT_UNDELIVERED),
        "{}",
        stderr(&out)
    );
    let line = undelivered_line(&out);
    assert!(
        line.contains("the collector refused this agent's certificate: signed by another CA"),
        "{line}"
    );
    assert!(!line.contains("DecryptError received"), "{line}");
    collector_logged(
        &c,
        &[
            "refused TLS handshake from 127.0.0.1",
            "not signed by the agent CA",
        ],
    );
    // Every attempt is counted; the repeats within the minute were not logged again.
    let refused = metric(
        c.addr,
        &ours,
        "shadowtap_collector_handshake_refusals_total{reason=\"certificate_unknown_ca\"}",
    );
    let quiet = metric(
        c.addr,
        &ours,
        "shadowtap_collector_handshake_logs_suppressed_total",
    );
    assert!(refused >= 2, "{refused} refusals counted");
    assert!(quiet >= 1, "{quiet} repeats suppressed");
}

#[test]
fn a_rerun_delivers_the_old_spool_once_and_imports_merge_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki_dir = dir.path().join("pki");
    pki(&pki_dir, &["e1"]);
    let scan = scan_json();
    let data = dir.path().join("data");
    let c = Collector::start(&pki_dir, &data, "127.0.0.1:0", &[]);
    let addr = c.addr;
    c.kill();
    let ident = (
        pki_dir.join("agents/e1.pem"),
        pki_dir.join("agents/e1.key"),
        pki_dir.join("ca.pem"),
    );
    let ident = (ident.0.as_path(), ident.1.as_path(), ident.2.as_path());
    let url = format!("https://{addr}");

    // The collector is down: nothing delivered, exit 6, and the line says why.
    let out = agent(dir.path(), "e1", ident, &url, 500)
        .output()
        .expect("agent");
    assert_eq!(
        out.status.code(),
        Some(EXIT_UNDELIVERED),
        "{}",
        stderr(&out)
    );
    let line = undelivered_line(&out);
    assert!(
        line.contains("left in spool") && line.contains("connecting to"),
        "{line}"
    );
    // Keep a copy of the undelivered spool, to resend it after it was delivered.
    let spool = dir.path().join("spool-e1");
    let copy = dir.path().join("spool-copy");
    copy_dir(&spool, &copy);

    // Re-run with the collector up: the old spool is reported, delivered, the file not re-read.
    let c = Collector::start(&pki_dir, &data, &addr.to_string(), &[]);
    let out = agent(dir.path(), "e1", ident, &url, 120_000)
        .output()
        .expect("agent");
    let log = stderr(&out);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("from an earlier run"), "{log}");
    assert!(log.contains("it is not read again"), "{log}");
    assert!(log.contains("spool left 0"), "{log}");
    assert_matches_scan(&report_json(&c, &pki_dir), &scan);

    // Nothing left of it: a third run refuses to count the file twice.
    let out = agent(dir.path(), "e1", ident, &url, 120_000)
        .output()
        .expect("agent");
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("already replayed"),
        "{}",
        stderr(&out)
    );

    // The old spool resent as it was: every batch is a duplicate, nothing changes.
    std::fs::remove_dir_all(&spool).expect("rm spool");
    copy_dir(&copy, &spool);
    let out = agent(dir.path(), "e1", ident, &url, 120_000)
        .output()
        .expect("agent");
    let log = stderr(&out);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("batches sent 0, duplicate "), "{log}");
    assert_matches_scan(&report_json(&c, &pki_dir), &scan);
    c.kill();

    // Export; import into an empty store; a second import refuses without --merge; merging
    // the same export changes nothing.
    let jsonl = dir.path().join("store.jsonl");
    let st = Command::new(bin())
        .args(["store", "export", "--data"])
        .arg(&data)
        .arg("--out")
        .arg(&jsonl)
        .status()
        .expect("export");
    assert!(st.success());
    let data2 = dir.path().join("data2");
    let import = |merge: bool| {
        let mut cmd = Command::new(bin());
        cmd.args(["store", "import", "--data"])
            .arg(&data2)
            .arg(&jsonl);
        if merge {
            cmd.arg("--merge");
        }
        cmd.output().expect("import")
    };
    assert!(import(false).status.success());
    let again = import(false);
    assert!(!again.status.success());
    assert!(
        stderr(&again).contains("already holds data"),
        "{}",
        stderr(&again)
    );
    let merged = import(true);
    assert!(merged.status.success(), "{}", stderr(&merged));
    assert!(
        stderr(&merged).contains("imported into"),
        "{}",
        stderr(&merged)
    );
    let c = Collector::start(&pki_dir, &data2, "127.0.0.1:0", &[]);
    let report = report_json(&c, &pki_dir);
    assert_matches_scan(&report, &scan);
    // The TLS hosts travel through export and import too.
    assert_eq!(report["summary"]["tls_hosts"], scan["summary"]["tls_hosts"]);
}

#[test]
fn an_agent_without_a_site_secret_warns_that_consumers_double_count() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki_dir = dir.path().join("pki");
    pki(&pki_dir, &["e1"]);
    let c = Collector::start(&pki_dir, &dir.path().join("data"), "127.0.0.1:0", &[]);
    let ident = (
        pki_dir.join("agents/e1.pem"),
        pki_dir.join("agents/e1.key"),
        pki_dir.join("ca.pem"),
    );
    let out = agent(
        dir.path(),
        "e1",
        (&ident.0, &ident.1, &ident.2),
        &c.url(),
        120_000,
    )
    .env_remove("SHADOWTAP_SITE_SECRET")
    .output()
    .expect("agent");
    let log = stderr(&out);
    assert!(out.status.success(), "{log}");
    assert!(
        log.contains("SHADOWTAP_SITE_SECRET is not set") && log.contains("double counted"),
        "{log}"
    );
    // With the secret set, no such warning.
    let out = agent(
        dir.path(),
        "e2",
        (&ident.0, &ident.1, &ident.2),
        &c.url(),
        120_000,
    )
    .output()
    .expect("agent");
    assert!(!stderr(&out).contains("SHADOWTAP_SITE_SECRET is not set"));
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read dir") {
        let e = e.expect("entry");
        let target = to.join(e.file_name());
        if e.file_type().expect("type").is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).expect("copy");
        }
    }
}
