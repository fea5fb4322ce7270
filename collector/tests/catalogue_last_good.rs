//! A spec truncated mid-write on the collector: the hot reload keeps serving its last good
//! version (its host does not turn into a shadow host), says so in the catalogue's load status
//! (what the report summary and the dashboard banner show) and counts the failure in metrics.

use analyzer::classify::Classifier;
use collector::config::CollectorSettings;
use collector::pki::{self, PkiPlan};
use std::path::Path;
use std::time::{Duration, Instant};

const SPEC: &str = "{\"openapi\": \"3.0.3\", \"info\": {\"title\": \"Accounts\", \"version\": \"1\"},\n \
     \"servers\": [{\"url\": \"https://accounts.bank.example\"}],\n \
     \"paths\": {\"/accounts\": {\"get\": {\"responses\": {\"200\": {\"description\": \"ok\"}}}}}}\n";

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("write {path:?}: {e}"));
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
async fn a_truncated_spec_keeps_its_last_good_version_and_is_reported() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let plan = PkiPlan {
        collector_names: vec!["127.0.0.1".into()],
        agents: vec![],
        days: 1,
    };
    let files = pki::init(&tmp.path().join("pki"), &plan).unwrap_or_else(|e| panic!("pki: {e}"));
    let catalog = tmp.path().join("catalog");
    std::fs::create_dir(&catalog).unwrap_or_else(|e| panic!("mkdir: {e}"));
    let spec = catalog.join("accounts.json");
    write(&spec, SPEC);
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
    let result = async move {
        let failures = || state.metrics.catalogue_reload_failures.get();
        let catalogue = || {
            state
                .findings()
                .map(|(_, c, _)| c)
                .unwrap_or_else(|e| panic!("findings: {e}"))
        };
        assert!(catalogue().covers_host("accounts.bank.example"));
        write(&spec, &SPEC[..SPEC.len() / 2]);
        wait_for("the failed reload", || failures() >= 1).await;
        let cat = catalogue();
        assert!(
            cat.covers_host("accounts.bank.example"),
            "the API was dropped on a failed reload"
        );
        assert!(cat
            .find_operation("accounts.bank.example", "GET", "/accounts")
            .is_some());
        assert_eq!(cat.load.failed.len(), 1, "{:?}", cat.load);
        assert!(cat.load.failed[0].line_column().is_some());
        assert_eq!(cat.load.stale.len(), 1);
        let summary = analyzer::report::CatalogueSummary::of(&cat);
        assert!(summary.failed_files[0].stale);
        assert!(summary
            .warning
            .as_deref()
            .is_some_and(|w| w.contains("last good version")));
        assert_eq!(state.metrics.catalogue_files_failed.get(), 1);
        assert!(state
            .metrics
            .render()
            .contains("shadowtap_collector_catalogue_reload_failures_total 1"));
    };
    let outcome = tokio::spawn(result).await;
    running.shutdown().await;
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}
