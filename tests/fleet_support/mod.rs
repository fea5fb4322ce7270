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
        let store = [std::ffi::OsStr::new("--data"), data.as_os_str()];
        Collector::start_on(pki, &store, listen, catalog, extra)
    }

    /// [`Collector::start_with`] on the store the `store` arguments name (`--data DIR` or
    /// `--store URL`).
    pub fn start_on(
        pki: &Path,
        store: &[&std::ffi::OsStr],
        listen: &str,
        catalog: &Path,
        extra: &[&str],
    ) -> Collector {
        let mut child = Command::new(bin())
            .args(["collector", "--listen", listen])
            .args(store)
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
/// A value of an agent's plain-HTTP metrics endpoint (`--metrics-listen`): the number after
/// the line starting with `name`; 0 while the endpoint is not up or the line is absent.
pub fn agent_metric(metrics_port: u16, name: &str) -> u64 {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", metrics_port)) else {
        return 0;
    };
    let _ = s.write_all(b"GET /metrics HTTP/1.1\r\n\r\n");
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    text.lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

pub fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The JSON `scan` report of the demo capture (the reference the fleet must reproduce).
pub fn scan_json() -> serde_json::Value {
    scan_json_of(&demo_pcap())
}

/// The JSON `scan` report of `capture` against the demo catalogue.
pub fn scan_json_of(capture: &Path) -> serde_json::Value {
    let out = Command::new(bin())
        .arg("scan")
        .arg(capture)
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
    agent_replay_of(dir, pki, agent_id, collector, &demo_pcap())
}

/// Agent command replaying `capture` as `agent_id`, with a config file for retries.
pub fn agent_replay_of(
    dir: &Path,
    pki: &Path,
    agent_id: &str,
    collector: &str,
    capture: &Path,
) -> Command {
    let config = dir.join(format!("{agent_id}.toml"));
    std::fs::write(
        &config,
        "[agent]\nretry_min_ms = 50\nretry_max_ms = 300\ndrain_timeout_ms = 120000\ntimeout_ms = 5000\nwindow_secs = 1\n",
    )
    .expect("write agent config");
    let mut cmd = Command::new(bin());
    cmd.arg("agent")
        .arg("--read")
        .arg(capture)
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

/// Split a legacy pcap into `parts` files by flow: every packet of one TCP/UDP conversation
/// (either direction) goes to the same part, as a span port per link would see it. Packets
/// that are not IPv4/IPv6 TCP/UDP go to part 0. Returns the paths written.
pub fn split_by_flow(pcap: &Path, dir: &Path, parts: usize) -> Vec<PathBuf> {
    let bytes = std::fs::read(pcap).expect("read pcap");
    assert!(bytes.len() >= 24, "pcap header");
    let le = match &bytes[..4] {
        [0xd4, 0xc3, 0xb2, 0xa1] | [0x4d, 0x3c, 0xb2, 0xa1] => true,
        [0xa1, 0xb2, 0xc3, 0xd4] | [0xa1, 0xb2, 0x3c, 0x4d] => false,
        m => panic!("not a legacy pcap: magic {m:?}"),
    };
    let u32_at = |b: &[u8], at: usize| {
        let w = [b[at], b[at + 1], b[at + 2], b[at + 3]];
        if le {
            u32::from_le_bytes(w)
        } else {
            u32::from_be_bytes(w)
        }
    };
    let mut outs: Vec<Vec<u8>> = (0..parts).map(|_| bytes[..24].to_vec()).collect();
    let mut at = 24;
    while at + 16 <= bytes.len() {
        let caplen = u32_at(&bytes, at + 8) as usize;
        let end = at + 16 + caplen;
        assert!(end <= bytes.len(), "record at {at} runs past the end");
        let frame = &bytes[at + 16..end];
        let part = flow_key(frame).map_or(0, |k| (k % parts as u64) as usize);
        outs[part].extend_from_slice(&bytes[at..end]);
        at = end;
    }
    outs.into_iter()
        .enumerate()
        .map(|(i, b)| {
            let path = dir.join(format!("part{i}.pcap"));
            std::fs::write(&path, b).expect("write part");
            path
        })
        .collect()
}

/// A direction-free hash of an Ethernet frame's addresses and ports (IPv4/IPv6, TCP/UDP,
/// one optional VLAN tag).
fn flow_key(frame: &[u8]) -> Option<u64> {
    let mut off = 12;
    let mut ethertype = u16::from_be_bytes([*frame.get(off)?, *frame.get(off + 1)?]);
    off += 2;
    if ethertype == 0x8100 {
        ethertype = u16::from_be_bytes([*frame.get(off + 2)?, *frame.get(off + 3)?]);
        off += 4;
    }
    let (src, dst, proto, l4) = match ethertype {
        0x0800 => {
            let ihl = usize::from(frame.get(off)? & 0x0f) * 4;
            (
                frame.get(off + 12..off + 16)?,
                frame.get(off + 16..off + 20)?,
                *frame.get(off + 9)?,
                off + ihl,
            )
        }
        0x86dd => (
            frame.get(off + 8..off + 24)?,
            frame.get(off + 24..off + 40)?,
            *frame.get(off + 6)?,
            off + 40,
        ),
        _ => return None,
    };
    if proto != 6 && proto != 17 {
        return None;
    }
    let ports = frame.get(l4..l4 + 4)?;
    let a = [src, &ports[..2]].concat();
    let b = [dst, &ports[2..]].concat();
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    // FNV-1a over both ends, lower first: the same for either direction.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in lo.iter().chain(&hi) {
        h ^= u64::from(*byte);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    Some(h)
}
