//! Shared helpers of the fleet tests: a PKI, a collector process, HTTPS calls, bounded waits.
#![allow(dead_code)]

use agent::ship::client::{client_config, CollectorUrl, HttpsClient, Response};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub const TOKEN: &str = "fleet-test-token";
pub const SECRET: &str = "fleet-site-secret";

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_shadowtap")
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn demo_pcap() -> PathBuf {
    repo().join("fixtures/demo/openbanking.pcap")
}

pub fn demo_catalog() -> PathBuf {
    repo().join("fixtures/demo/catalog")
}

/// `shadowtap pki init DIR --agent ...`.
pub fn pki(dir: &Path, agents: &[&str]) {
    let mut cmd = Command::new(bin());
    cmd.args(["pki", "init"]).arg(dir);
    for a in agents {
        cmd.args(["--agent", a]);
    }
    let out = cmd.output().expect("run pki init");
    assert!(
        out.status.success(),
        "pki init: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A collector process; killed (SIGKILL) on drop.
pub struct Collector {
    pub child: Child,
    pub addr: SocketAddr,
    pub stderr: mpsc::Receiver<String>,
}

impl Drop for Collector {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Collector {
    /// Start on `listen` (use port 0 for a free one) and wait for its "listening on" line.
    pub fn start(pki: &Path, data: &Path, listen: &str, extra: &[&str]) -> Collector {
        Collector::start_with(pki, data, listen, &demo_catalog(), extra)
    }

    /// [`Collector::start`] with another catalogue.
    pub fn start_with(
        pki: &Path,
        data: &Path,
        listen: &str,
        catalog: &Path,
        extra: &[&str],
    ) -> Collector {
        let mut child = Command::new(bin())
            .args(["collector", "--listen", listen, "--data"])
            .arg(data)
            .arg("--catalog")
            .arg(catalog)
            .arg("--cert")
            .arg(pki.join("collector.pem"))
            .arg("--key")
            .arg(pki.join("collector.key"))
            .arg("--ca")
            .arg(pki.join("ca.pem"))
            .args(extra)
            .env("SHADOWTAP_API_TOKEN", TOKEN)
            .env("SHADOWTAP_SITE_SECRET", SECRET)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn collector");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[collector] {line}");
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        // Start-up wait: bounded by a deadline, ends on the line the collector prints.
        let deadline = Instant::now() + Duration::from_secs(60);
        let addr = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = rx
                .recv_timeout(left)
                .expect("collector printed its listening line in time");
            if let Some(a) = line.strip_prefix("shadowtap collector listening on ") {
                break a.trim().parse().expect("address");
            }
        };
        Collector {
            child,
            addr,
            stderr: rx,
        }
    }

    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// SIGKILL, no goodbye.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTPS client to `addr` trusting the PKI's CA, with an optional client identity.
pub fn client(addr: SocketAddr, ca: &Path, identity: Option<(&Path, &Path)>) -> HttpsClient {
    let tls = client_config(ca, identity).expect("client TLS config");
    let url = CollectorUrl::parse(&format!("https://{addr}")).expect("url");
    HttpsClient::new(url, tls, Duration::from_secs(30))
}

pub fn api_get(addr: SocketAddr, pki: &Path, path: &str) -> Response {
    let mut c = client(addr, &pki.join("ca.pem"), None);
    let auth = format!("Bearer {TOKEN}");
    c.request("GET", path, &[("Authorization", &auth)], b"")
        .expect("API request")
}

/// A counter from the collector's /metrics (0 when absent).
pub fn metric(addr: SocketAddr, pki: &Path, line_prefix: &str) -> u64 {
    let mut c = client(addr, &pki.join("ca.pem"), None);
    let Ok(r) = c.request("GET", "/metrics", &[], b"") else {
        return 0;
    };
    String::from_utf8_lossy(&r.body)
        .lines()
        .find(|l| l.starts_with(line_prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Poll `f` until it is true or the deadline passes (start-up style waits only).
pub fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The JSON `scan` report of the demo capture (the reference the fleet must reproduce).
pub fn scan_json() -> serde_json::Value {
    let out = Command::new(bin())
        .arg("scan")
        .arg(demo_pcap())
        .arg("--catalog")
        .arg(demo_catalog())
        .args(["--format", "json", "--learn", "all"])
        .env("SHADOWTAP_SITE_SECRET", SECRET)
        .output()
        .expect("run scan");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("scan json")
}

/// `shadowtap report --collector ... --format json`.
pub fn report_json(c: &Collector, pki: &Path) -> serde_json::Value {
    let out = Command::new(bin())
        .args([
            "report",
            "--collector",
            &c.url(),
            "--format",
            "json",
            "--ca",
        ])
        .arg(pki.join("ca.pem"))
        .env("SHADOWTAP_API_TOKEN", TOKEN)
        .output()
        .expect("run report");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("report json")
}

/// Agent command replaying the demo capture as `agent_id`, with a config file for retries.
pub fn agent_replay(dir: &Path, pki: &Path, agent_id: &str, collector: &str) -> Command {
    let config = dir.join(format!("{agent_id}.toml"));
    std::fs::write(
        &config,
        "[agent]\nretry_min_ms = 50\nretry_max_ms = 300\ndrain_timeout_ms = 120000\ntimeout_ms = 5000\nwindow_secs = 1\n",
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
        .arg(pki.join(format!("agents/{agent_id}.pem")))
        .arg("--key")
        .arg(pki.join(format!("agents/{agent_id}.key")))
        .arg("--ca")
        .arg(pki.join("ca.pem"))
        .arg("--spool")
        .arg(dir.join(format!("spool-{agent_id}")))
        .env("SHADOWTAP_SITE_SECRET", SECRET);
    cmd
}

/// Assert the collector's report equals the scan of the same capture, counted `times` times.
pub fn assert_matches_scan(report: &serde_json::Value, scan: &serde_json::Value) {
    assert_eq!(
        report["endpoints"], scan["endpoints"],
        "endpoints differ from scan"
    );
    assert_eq!(
        report["findings"], scan["findings"],
        "findings differ from scan"
    );
    for k in ["packets", "bytes", "tcp_flows", "http_exchanges"] {
        assert_eq!(report["summary"][k], scan["summary"][k], "summary.{k}");
    }
}

/// An encoded one-observation batch (`GET api.test/ping`) from `agent`.
pub fn small_batch(agent: &str, seq: u64) -> Vec<u8> {
    let mut inv = analyzer::inventory::Inventory::default();
    let obs: analyzer::observation::Observation = serde_json::from_value(serde_json::json!({
        "ts": 1_700_000_000_000_000i64,
        "endpoint": {"host": "api.test", "method": "GET", "path": "/ping"},
        "template_source": "learned",
        "status": 200,
        "request_content_type": null,
        "response_content_type": null,
        "query_params": [], "header_params": [], "request_fields": [], "response_fields": [],
        "data_classes": [], "auth": "none",
        "consumer": {"address": "10.0.0.1", "credential": null},
        "request_body_len": 0, "response_body_len": 0, "anomalies": []
    }))
    .expect("observation json");
    inv.add(&obs);
    let counters = std::collections::BTreeMap::from([("packets".to_string(), 2)]);
    analyzer::wire::Batch::new(agent, 1, seq, &inv, counters).encode()
}
