//! The fleet on a real span port (needs root; skips with a message otherwise).
//!
//! A network namespace runs a real HTTP server and client (python3) over its loopback; `tc`
//! mirrors the loopback's ingress (`u32` match-all + `mirred egress mirror`, what this kernel
//! has) to one end of a veth pair, and the agent captures live on the other end, in our
//! namespace, shipping to a collector on our loopback over mTLS. The collector's inventory must
//! hold exactly the requests the client made.

mod fleet_support;

mod root_support;

use fleet_support::*;
use root_support::{is_root, sh};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A namespace with loopback mirrored to a veth whose other end (`tap`) stays with us.
struct SpanNs {
    ns: String,
    tap: String,
}

impl SpanNs {
    fn create() -> SpanNs {
        let pid = std::process::id() % 100_000;
        let me = SpanNs {
            ns: format!("stfleet-{pid}"),
            tap: format!("stft{pid}"),
        };
        let inner = format!("stfi{pid}");
        let ok = sh(&["ip", "netns", "add", &me.ns])
            && sh(&[
                "ip", "link", "add", &me.tap, "type", "veth", "peer", "name", &inner,
            ])
            && sh(&["ip", "link", "set", &inner, "netns", &me.ns])
            && sh(&["ip", "-n", &me.ns, "link", "set", "lo", "up"])
            && sh(&["ip", "-n", &me.ns, "link", "set", &inner, "up"])
            && sh(&["ip", "link", "set", &me.tap, "up"])
            && sh(&[
                "ip", "netns", "exec", &me.ns, "tc", "qdisc", "add", "dev", "lo", "handle",
                "ffff:", "ingress",
            ])
            && sh(&[
                "ip", "netns", "exec", &me.ns, "tc", "filter", "add", "dev", "lo", "parent",
                "ffff:", "protocol", "all", "u32", "match", "u32", "0", "0", "action", "mirred",
                "egress", "mirror", "dev", &inner,
            ]);
        assert!(
            ok,
            "running as root but could not build the namespace + veth + tc mirror"
        );
        me
    }

    fn exec(&self, args: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.ns]).args(args);
        c
    }
}

impl Drop for SpanNs {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "del", &self.tap]).status();
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).status();
    }
}

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

const SERVER: &str = r#"
import http.server, json, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def reply(self, code):
        n = int(self.headers.get("Content-Length") or 0)
        if n: self.rfile.read(n)
        body = json.dumps({"id": 7, "status": "ok"}).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self): self.reply(404 if self.path.startswith("/missing") else 200)
    def do_POST(self): self.reply(201)
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"#;

const CLIENT: &str = r#"
import http.client, json, sys, time
port = int(sys.argv[1])
deadline = time.time() + 30
while True:
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10); c.connect(); break
    except OSError:
        if time.time() > deadline: raise
        time.sleep(0.05)
def call(method, path, body=None):
    headers = {"Content-Type": "application/json"} if body else {}
    c.request(method, path, body=body, headers=headers)
    r = c.getresponse(); r.read()
for i in range(12): call("GET", "/api/accounts?page=%d" % i)
for i in range(5): call("POST", "/api/payments", json.dumps({"amount": i, "currency": "EUR"}))
for i in range(3): call("GET", "/missing")
c.close()
print("done")
"#;

#[test]
fn root_agent_on_a_mirror_port_ships_exactly_what_the_client_sent() {
    if !is_root() {
        println!("SKIP root_agent_on_a_mirror_port_ships_exactly_what_the_client_sent: needs root (netns, veth, tc)");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let pki_dir = dir.path().join("pki");
    pki(&pki_dir, &["span-1"]);
    let c = Collector::start(&pki_dir, &dir.path().join("data"), "127.0.0.1:0", &[]);
    let net = SpanNs::create();

    let mut agent = Command::new(bin())
        .args([
            "agent",
            "--interface",
            &net.tap,
            "--bpf",
            "tcp",
            "--collector",
            &c.url(),
        ])
        .args([
            "--workers",
            "2",
            "--idle-flush-ms",
            "300",
            "--window-secs",
            "60",
        ])
        .arg("--cert")
        .arg(pki_dir.join("agents/span-1.pem"))
        .arg("--key")
        .arg(pki_dir.join("agents/span-1.key"))
        .arg("--ca")
        .arg(pki_dir.join("ca.pem"))
        .arg("--spool")
        .arg(dir.path().join("spool"))
        .env("SHADOWTAP_SITE_SECRET", SECRET)
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn agent");
    let agent_pid = agent.id();
    let stderr = agent.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    let log_thread = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("[agent] {line}");
            if line.contains("capturing on") {
                let _ = tx.send(());
            }
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    rx.recv_timeout(Duration::from_secs(60))
        .expect("the agent opened its capture");
    let agent = Killed(agent);

    let port = "18080";
    let server = Killed(
        net.exec(&["python3", "-c", SERVER, port])
            .spawn()
            .expect("start python server"),
    );
    let out = net
        .exec(&["python3", "-c", CLIENT, port])
        .output()
        .expect("run python client");
    assert!(
        out.status.success(),
        "client: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // What the client sent: (method, status) -> count; 20 exchanges in all.
    let expected: BTreeMap<(String, u64), u64> = BTreeMap::from([
        (("GET".into(), 200), 12),
        (("POST".into(), 201), 5),
        (("GET".into(), 404), 3),
    ]);
    let seen = || -> (u64, BTreeMap<(String, u64), u64>, serde_json::Value) {
        let r = api_get(c.addr, &pki_dir, "/v1/inventory");
        let inv: serde_json::Value = serde_json::from_slice(&r.body).unwrap_or_default();
        let mut total = 0;
        let mut by = BTreeMap::new();
        for e in inv["endpoints"].as_array().cloned().unwrap_or_default() {
            total += e["record"]["exchanges"].as_u64().unwrap_or(0);
            let m = e["key"]["method"].as_str().unwrap_or("").to_string();
            for (s, n) in e["record"]["statuses"]
                .as_object()
                .cloned()
                .unwrap_or_default()
            {
                *by.entry((m.clone(), s.parse().unwrap_or(0))).or_insert(0) +=
                    n.as_u64().unwrap_or(0);
            }
        }
        (total, by, inv)
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (total, _, _) = seen();
        if total >= 20 || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(server);
    // Stop the agent the way systemd does; it seals and ships what it still holds.
    assert!(sh(&["kill", "-TERM", &agent_pid.to_string()]));
    let mut agent = agent;
    let status = agent.0.wait().expect("agent exits");
    let log = log_thread.join().unwrap_or_default();
    assert!(status.success(), "agent: {log}");
    assert!(log.contains("spool left 0"), "{log}");

    let (total, by, inv) = seen();
    assert_eq!(total, 20, "inventory: {inv}");
    assert_eq!(by, expected, "inventory: {inv}");
    let hosts = inv["hosts"].as_object().cloned().unwrap_or_default();
    assert_eq!(
        hosts.keys().collect::<Vec<_>>(),
        vec!["127.0.0.1:18080"],
        "{inv}"
    );
    let paths: Vec<&str> = inv["endpoints"]
        .as_array()
        .map(|a| a.iter().filter_map(|e| e["key"]["path"].as_str()).collect())
        .unwrap_or_default();
    assert!(
        paths.contains(&"/api/accounts") && paths.contains(&"/api/payments"),
        "{paths:?}"
    );
}
