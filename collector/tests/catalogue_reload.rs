//! The collector's catalogue hot reload meets a spec that `$ref`s a FIFO: the reload finishes
//! with the reference as a problem, and the watcher goes on picking up later changes (a reader
//! blocked on the FIFO used to freeze it for good).

use analyzer::classify::Classifier;
use collector::config::CollectorSettings;
use collector::pki::{self, PkiPlan};
use std::path::Path;
use std::time::{Duration, Instant};

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("write {path:?}: {e}"));
}

fn spec(extra_path: &str) -> String {
    format!(
        "openapi: 3.0.3\ninfo: {{title: t, version: '1'}}\npaths:\n  \
         /ok: {{get: {{responses: {{'200': {{description: ok}}}}}}}}\n{extra_path}"
    )
}

/// Poll `done` every 50 ms for up to 20 s.
async fn wait_for(what: &str, done: impl Fn() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hot_reload_does_not_freeze_on_a_fifo() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let plan = PkiPlan {
        collector_names: vec!["127.0.0.1".into()],
        agents: vec![],
        days: 1,
    };
    let files = pki::init(&tmp.path().join("pki"), &plan).unwrap_or_else(|e| panic!("pki: {e}"));
    let catalog = tmp.path().join("catalog");
    std::fs::create_dir(&catalog).unwrap_or_else(|e| panic!("mkdir: {e}"));
    write(&catalog.join("api.yaml"), &spec(""));
    let fifo = catalog.join("pipe.yaml");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap_or_else(|e| panic!("mkfifo: {e}"));
    assert!(status.success());

    let settings = CollectorSettings {
        listen: "127.0.0.1:0".into(),
        data: tmp.path().join("data"),
        catalog: vec![catalog.clone()],
        cert: files.collector_cert.clone(),
        key: files.collector_key.clone(),
        ca: files.ca.clone(),
        catalogue_poll_ms: 100,
        ..CollectorSettings::default()
    };
    let running = collector::server::start(settings, Classifier::builtin())
        .await
        .unwrap_or_else(|e| panic!("start: {e}"));
    let state = std::sync::Arc::clone(&running.state);
    write(
        &catalog.join("api.yaml"),
        &spec("  /piped: {$ref: 'pipe.yaml#/p'}\n"),
    );
    let result = async move {
        let reloads = || state.metrics.catalogue_reloads.get();
        let catalogue = || state.findings().map(|(_, c, _)| c).ok();
        wait_for("the reload after the FIFO $ref", || reloads() >= 1).await;
        let cat = catalogue().unwrap_or_else(|| panic!("findings"));
        assert_eq!(cat.problems.len(), 1, "{:?}", cat.problems);
        assert!(
            cat.problems[0]
                .message
                .contains("not a regular file (a FIFO)"),
            "{:?}",
            cat.problems
        );
        assert!(cat.find_operation("h", "GET", "/ok").is_some());

        // The watcher is still alive: the next change is picked up too.
        write(
            &catalog.join("api.yaml"),
            &spec("  /later: {get: {responses: {'200': {description: ok}}}}\n"),
        );
        wait_for("the next reload", || reloads() >= 2).await;
        let cat = catalogue().unwrap_or_else(|| panic!("findings"));
        assert!(cat.find_operation("h", "GET", "/later").is_some());
        assert_eq!(cat.problems, vec![]);
    };
    // Run the checks on a task, so a failure still reaches the clean-up below.
    let outcome = tokio::spawn(result).await;
    // Had a reader blocked on the FIFO, opening its write end lets it return (on a thread: the
    // open itself waits for a reader).
    let fifo_writer = fifo.clone();
    std::thread::spawn(move || drop(std::fs::OpenOptions::new().write(true).open(fifo_writer)));
    running.shutdown().await;
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}
