//! A damaged collector store (issue 15 item 8): the collector, `store export`, `store import`
//! and `store check` say what is wrong and what to do (exit 1, no panic); `store export
//! --salvage` writes what is readable and reports the losses (exit 4); `store check` reports
//! the damage (exit 4) and a clean store as clean (exit 0).

mod fleet_support;

use analyzer::inventory::Inventory;
use analyzer::observation::{Consumer, EndpointKey, Observation};
use analyzer::time::Timestamp;
use analyzer::wire::Batch;
use collector::store::{SledStore, Store, StoreLimits};
use fleet_support::*;
use std::collections::BTreeMap;
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn batch(seq: u64) -> Batch {
    let mut inv = Inventory::default();
    for i in 0..50 {
        let mut o = Observation::bare(
            Timestamp(1_000 + i),
            EndpointKey {
                host: format!("h{}.test", i % 7),
                method: "GET".into(),
                path: format!("/p{seq}/{i}"),
            },
            Consumer {
                address: "10.0.0.1".into(),
                credential: None,
            },
        );
        o.status = Some(200);
        inv.add(&o);
    }
    Batch::new(
        "edge-1",
        1,
        seq,
        &inv,
        BTreeMap::from([("packets".into(), 10)]),
    )
}

/// Open once the previous handle's lock is gone (sled's threads may hold it a moment).
/// The store these tests damage: without per-agent contributions, so its sled log is laid out
/// as the damage positions were chosen for (contributions double what each batch writes, and
/// where the live pages lie decides whether a cut leaves anything to salvage).
fn open_unlocked(dir: &Path) -> SledStore {
    let limits = StoreLimits {
        max_contribution_records: 0,
        ..StoreLimits::default()
    };
    SledStore::open(dir, limits).unwrap_or_else(|e| panic!("open {}: {e}", dir.display()))
}

/// 1,500 endpoints applied over two runs (sled writes its snapshot when it opens a store).
fn make_store(dir: &Path) {
    for seqs in [0..20, 20..30] {
        let store = open_unlocked(dir);
        for seq in seqs {
            store.apply(&batch(seq)).expect("apply");
        }
    }
}

fn db_len(dir: &Path) -> u64 {
    std::fs::metadata(dir.join("db")).expect("db").len()
}

fn truncate(dir: &Path) {
    let len = db_len(dir);
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(dir.join("db"))
        .expect("db");
    f.set_len(len / 2).expect("truncate");
}

fn overwrite(dir: &Path) {
    let len = db_len(dir);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(dir.join("db"))
        .expect("db");
    f.seek(SeekFrom::Start(len * 2 / 10)).expect("seek");
    f.write_all(&vec![0xAB; (len * 4 / 10) as usize])
        .expect("write");
}

fn run(args: &[&str], data: &Path, rest: &[&str]) -> Output {
    let out = Command::new(bin())
        .args(args)
        .arg(data)
        .args(rest)
        .output()
        .expect("run shadowtap");
    eprintln!(
        "$ shadowtap {} {} {}\nexit {:?}\nstdout:\n{}stderr:\n{}",
        args.join(" "),
        data.display(),
        rest.join(" "),
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The collector on `data` must exit by itself (bounded wait) with 1 and a clear message.
fn collector_refuses(pki: &Path, data: &Path) -> String {
    let mut child = Command::new(bin())
        .args(["collector", "--listen", "127.0.0.1:0", "--data"])
        .arg(data)
        .arg("--catalog")
        .arg(demo_catalog())
        .arg("--cert")
        .arg(pki.join("collector.pem"))
        .arg("--key")
        .arg(pki.join("collector.key"))
        .arg("--ca")
        .arg(pki.join("ca.pem"))
        .env("SHADOWTAP_API_TOKEN", TOKEN)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn collector");
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the collector started on a damaged store");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = child.wait_with_output().expect("output");
    let err = stderr(&out);
    eprintln!("collector on {}: {status}\n{err}", data.display());
    assert_eq!(status.code(), Some(1), "{err}");
    assert_clear(&err, data);
    err
}

/// Names the directory, says it is damaged and what to do; no panic.
fn assert_clear(err: &str, data: &Path) {
    assert!(err.contains(&data.display().to_string()), "{err}");
    assert!(err.contains("is damaged"), "{err}");
    assert!(err.contains("shadowtap store check"), "{err}");
    assert!(err.contains("--salvage"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

fn last_line(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .last()
        .unwrap_or("")
        .to_string()
}

#[test]
fn a_clean_store_checks_clean_and_exports_whole() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    make_store(&data);
    let check = run(&["store", "check"], &data, &[]);
    assert_eq!(check.status.code(), Some(0));
    assert_eq!(
        last_line(&check),
        "verdict: OK: 1500 endpoints, 7 hosts, 1 agents"
    );
    let stdout = String::from_utf8_lossy(&check.stdout);
    assert!(
        stdout.contains("agent edge-1: high-water mark epoch 1 seq 29"),
        "{stdout}"
    );
    let out = dir.path().join("store.jsonl");
    let export = run(
        &["store", "export", "--data"],
        &data,
        &["--out", &out.display().to_string()],
    );
    assert_eq!(export.status.code(), Some(0));
    assert!(
        stderr(&export).contains("exported 1503 records"),
        "{}",
        stderr(&export)
    );
    // Neither a store nor a directory: an error, not an empty export.
    let missing = run(
        &["store", "export", "--data"],
        &dir.path().join("nope"),
        &[],
    );
    assert_eq!(missing.status.code(), Some(1));
    assert!(stderr(&missing).contains("is not a collector store"));
}

#[test]
fn a_truncated_store_is_refused_clearly_and_its_readable_part_is_salvaged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki_dir = dir.path().join("pki");
    pki(&pki_dir, &["edge-1"]);
    let data = dir.path().join("data");
    make_store(&data);
    truncate(&data);

    collector_refuses(&pki_dir, &data);
    let export = run(&["store", "export", "--data"], &data, &[]);
    assert_eq!(export.status.code(), Some(1));
    assert_clear(&stderr(&export), &data);
    let import = run(&["store", "import", "--data"], &data, &["/dev/null"]);
    assert_eq!(import.status.code(), Some(1));
    assert_clear(&stderr(&import), &data);

    let check = run(&["store", "check"], &data, &[]);
    assert_eq!(check.status.code(), Some(4));
    assert!(last_line(&check).starts_with("verdict: DAMAGED: "));

    let out = dir.path().join("salvaged.jsonl");
    let salvage = run(
        &["store", "export", "--salvage", "--data"],
        &data,
        &["--out", &out.display().to_string()],
    );
    assert_eq!(salvage.status.code(), Some(4));
    let err = stderr(&salvage);
    assert!(err.contains("store export: "), "{err}");
    assert!(err.contains("the export holds what was readable"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    // What was written is a valid export: it imports into a fresh store.
    let fresh = dir.path().join("fresh");
    let import = run(
        &["store", "import", "--data"],
        &fresh,
        &[&out.display().to_string()],
    );
    assert_eq!(import.status.code(), Some(0));
}

#[test]
fn a_store_without_its_db_file_is_refused_clearly_and_not_recreated() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki_dir = dir.path().join("pki");
    pki(&pki_dir, &["edge-1"]);
    let data = dir.path().join("data");
    make_store(&data);
    std::fs::remove_file(data.join("db")).expect("rm");

    let err = collector_refuses(&pki_dir, &data);
    assert!(err.contains("is missing"), "{err}");
    assert!(
        !data.join("db").exists(),
        "an empty store was created over it"
    );
    let check = run(&["store", "check"], &data, &[]);
    assert_eq!(check.status.code(), Some(4));
    assert!(last_line(&check).contains("nothing to salvage"));
    let salvage = run(&["store", "export", "--salvage", "--data"], &data, &[]);
    assert_eq!(salvage.status.code(), Some(1));
    assert!(stderr(&salvage).contains("nothing to salvage"));
}

#[test]
fn a_store_overwritten_in_the_middle_is_refused_clearly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki_dir = dir.path().join("pki");
    pki(&pki_dir, &["edge-1"]);
    let data = dir.path().join("data");
    make_store(&data);
    overwrite(&data);

    collector_refuses(&pki_dir, &data);
    let check = run(&["store", "check"], &data, &[]);
    assert_eq!(check.status.code(), Some(4));
    assert!(last_line(&check).starts_with("verdict: DAMAGED: "));
    let salvage = run(&["store", "export", "--salvage", "--data"], &data, &[]);
    // Some of it, or nothing that opens: never a panic, never exit 0.
    assert!(matches!(salvage.status.code(), Some(1) | Some(4)));
    assert!(!stderr(&salvage).contains("panicked"));
}
