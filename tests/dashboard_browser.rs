//! The dashboard in a real browser: a collector fed the demo capture by an agent, headless
//! Chromium signs in through the login form, opens a finding, suppresses it through the page's
//! form, and after a collector restart (new process, same store) the decision is still shown.
//! Screenshots of the overview and the finding page are written under the cargo target tmp dir;
//! their paths are printed.
//!
//! Chromium is driven over the Chrome DevTools Protocol with a minimal WebSocket client below
//! (text frames only: all the protocol needs), so no browser-automation crate is needed. The
//! test skips, saying so, when no `chromium` is installed (`apt-get install -y chromium`); CI
//! installs it, so there it always runs. Waits are on browser events (`Page.loadEventFired`),
//! bounded by deadlines; only process start-up is polled.

mod fleet_support;

use base64::Engine;
use fleet_support::*;
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const USER: &str = "Ana Reviewer";
const REASON: &str = "Known pen-test window, ticket SEC-142";

fn chromium() -> Option<PathBuf> {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// A headless Chromium process; killed on drop.
struct Browser {
    child: Child,
    port: u16,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Browser {
    fn launch(exe: &Path, profile: &Path) -> Browser {
        let mut child = Command::new(exe)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--ignore-certificate-errors",
                "--remote-debugging-port=0",
                "--remote-debugging-address=127.0.0.1",
                "--window-size=1400,1000",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn chromium");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        // Start-up: Chromium prints the DevTools address once it listens.
        let deadline = Instant::now() + Duration::from_secs(60);
        let port = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = rx
                .recv_timeout(left)
                .expect("chromium printed its DevTools address in time");
            if let Some(rest) = line.split("ws://127.0.0.1:").nth(1) {
                break rest
                    .split('/')
                    .next()
                    .and_then(|p| p.parse().ok())
                    .expect("port");
            }
        };
        Browser { child, port }
    }

    /// The WebSocket path of the first page target (polled: the page appears at start-up).
    fn page_path(&self) -> String {
        let mut found = None;
        wait_until("a Chromium page target", Duration::from_secs(30), || {
            found = http_get_json(self.port, "/json/list").and_then(|list| {
                list.as_array()?.iter().find_map(|t| {
                    (t["type"] == "page").then(|| {
                        let url = t["webSocketDebuggerUrl"].as_str()?;
                        Some(format!("/{}", url.split_once("//")?.1.split_once('/')?.1))
                    })?
                })
            });
            found.is_some()
        });
        found.expect("page target")
    }
}

fn http_get_json(port: u16, path: &str) -> Option<Value> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    serde_json::from_str(text.split_once("\r\n\r\n")?.1).ok()
}

/// A CDP session over one WebSocket (client frames masked, as RFC 6455 section 5.3 requires).
struct Cdp {
    sock: TcpStream,
    next_id: u64,
    events: VecDeque<Value>,
}

impl Cdp {
    fn connect(port: u16, path: &str) -> Cdp {
        let mut sock = TcpStream::connect(("127.0.0.1", port)).expect("connect devtools");
        sock.set_read_timeout(Some(Duration::from_secs(60)))
            .expect("timeout");
        write!(
            sock,
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: c2hhZG93dGFwLWRhc2hib2FyZA==\r\n\
             Sec-WebSocket-Version: 13\r\n\r\n"
        )
        .expect("handshake");
        // Read the 101 response head byte by byte: frames may follow it at once.
        let mut head = Vec::new();
        let mut b = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            sock.read_exact(&mut b).expect("handshake response");
            head.push(b[0]);
            assert!(head.len() < 8192, "handshake response too long");
        }
        let head = String::from_utf8_lossy(&head);
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        Cdp {
            sock,
            next_id: 0,
            events: VecDeque::new(),
        }
    }

    fn send_text(&mut self, text: &str) {
        let data = text.as_bytes();
        let mut frame = vec![0x81u8];
        match data.len() {
            n if n < 126 => frame.push(0x80 | n as u8),
            n if n <= 0xffff => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                frame.push(0x80 | 127);
                frame.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        let mask = [0x5a, 0x17, 0xc3, 0x8e];
        frame.extend_from_slice(&mask);
        frame.extend(data.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.sock.write_all(&frame).expect("send frame");
    }

    /// The next whole text message (continuation frames joined, control frames skipped).
    fn recv_text(&mut self) -> String {
        let mut message = Vec::new();
        loop {
            let mut h = [0u8; 2];
            self.sock.read_exact(&mut h).expect("frame header");
            let (fin, opcode) = (h[0] & 0x80 != 0, h[0] & 0x0f);
            let len = match h[1] & 0x7f {
                126 => {
                    let mut l = [0u8; 2];
                    self.sock.read_exact(&mut l).expect("len16");
                    u16::from_be_bytes(l) as u64
                }
                127 => {
                    let mut l = [0u8; 8];
                    self.sock.read_exact(&mut l).expect("len64");
                    u64::from_be_bytes(l)
                }
                n => n as u64,
            };
            assert!(len < 256 << 20, "frame of {len} bytes");
            let mut payload = vec![0u8; len as usize];
            self.sock.read_exact(&mut payload).expect("payload");
            match opcode {
                0x8 => panic!("devtools closed the connection"),
                0x9 | 0xa => continue,
                _ => message.extend_from_slice(&payload),
            }
            if fin {
                return String::from_utf8(message).expect("utf-8 message");
            }
        }
    }

    fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        self.send_text(&json!({"id": id, "method": method, "params": params}).to_string());
        loop {
            let msg: Value = serde_json::from_str(&self.recv_text()).expect("json message");
            if msg["id"] == id {
                assert!(msg.get("error").is_none(), "{method}: {msg}");
                return msg["result"].clone();
            }
            if msg.get("method").is_some() {
                self.events.push_back(msg);
            }
        }
    }

    fn wait_event(&mut self, method: &str) {
        if let Some(i) = self.events.iter().position(|e| e["method"] == method) {
            self.events.drain(..=i);
            return;
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            assert!(Instant::now() < deadline, "no {method} in time");
            let msg: Value = serde_json::from_str(&self.recv_text()).expect("json message");
            if msg["method"] == method {
                return;
            }
        }
    }

    /// Evaluate an expression in the page and return its value.
    fn eval(&mut self, expr: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            json!({"expression": expr, "returnByValue": true}),
        );
        assert!(r.get("exceptionDetails").is_none(), "{expr}: {r}");
        r["result"]["value"].clone()
    }

    /// Run `expr` (which navigates: a click on a submit button, a location change) and wait
    /// for the new page's load event.
    fn navigate_by(&mut self, expr: &str) {
        self.events.clear();
        self.eval(expr);
        self.wait_event("Page.loadEventFired");
    }

    fn goto(&mut self, url: &str) {
        self.events.clear();
        self.call("Page.navigate", json!({"url": url}));
        self.wait_event("Page.loadEventFired");
    }

    fn path(&mut self) -> String {
        self.eval("location.pathname + location.search")
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    fn text(&mut self) -> String {
        self.eval("document.body.textContent")
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    /// A PNG of the whole page (up to 4000 px tall) written to `out`.
    fn screenshot(&mut self, out: &Path) {
        let m = self.call("Page.getLayoutMetrics", json!({}));
        let w = m["cssContentSize"]["width"].as_f64().unwrap_or(1400.0);
        let h = m["cssContentSize"]["height"]
            .as_f64()
            .unwrap_or(1000.0)
            .min(4000.0);
        let r = self.call(
            "Page.captureScreenshot",
            json!({"format": "png", "captureBeyondViewport": true,
                   "clip": {"x": 0, "y": 0, "width": w, "height": h, "scale": 1}}),
        );
        let png = base64::engine::general_purpose::STANDARD
            .decode(r["data"].as_str().expect("data"))
            .expect("base64");
        assert!(
            png.starts_with(b"\x89PNG") && png.len() > 10_000,
            "a real image"
        );
        std::fs::write(out, png).expect("write screenshot");
    }

    fn login(&mut self, base: &str) {
        self.goto(&format!("{base}/ui"));
        assert_eq!(
            self.path(),
            "/ui/login",
            "signed out sends to the login form"
        );
        self.navigate_by(&format!(
            "document.getElementById('user').value = {}; \
             document.getElementById('token').value = {}; \
             document.querySelector('form[action=\"/ui/login\"] button').click(); true",
            json!(USER),
            json!(TOKEN)
        ));
        assert_eq!(self.path(), "/ui", "signed in lands on the overview");
    }
}

#[test]
fn a_review_taken_in_the_browser_survives_a_collector_restart() {
    let Some(exe) = chromium() else {
        eprintln!(
            "SKIPPED: no chromium installed (apt-get install -y chromium); \
             the dashboard browser test did not run"
        );
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let pki_dir = dir.path().join("pki");
    pki(&pki_dir, &["edge-1"]);
    let data = dir.path().join("data");
    let collector = Collector::start(&pki_dir, &data, "127.0.0.1:0", &[]);
    let out = agent_replay(dir.path(), &pki_dir, "edge-1", &collector.url())
        .output()
        .expect("run agent");
    assert!(
        out.status.success(),
        "agent: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dashboard-screenshots");
    std::fs::create_dir_all(&shots).expect("screenshot dir");

    let browser = Browser::launch(&exe, &dir.path().join("chromium-profile"));
    let mut cdp = Cdp::connect(browser.port, &browser.page_path());
    cdp.call("Page.enable", json!({}));
    cdp.call(
        "Emulation.setDeviceMetricsOverride",
        json!({"width": 1400, "height": 1000, "deviceScaleFactor": 1, "mobile": false}),
    );

    cdp.login(&collector.url());
    let overview = cdp.text();
    for part in [
        "Overview",
        "Open findings",
        "Endpoints: declared vs shadow",
        "Exchanges per minute",
        "internal-tools.northbank.example",
        USER,
    ] {
        assert!(
            overview.contains(part),
            "overview lacks {part:?}: {overview}"
        );
    }
    let overview_png = shots.join("overview.png");
    cdp.screenshot(&overview_png);

    // The most severe finding, reached through the findings list.
    cdp.goto(&format!("{}/ui/findings", collector.url()));
    let list_png = shots.join("findings.png");
    cdp.screenshot(&list_png);
    let href =
        cdp.eval("document.querySelector('table a[href^=\"/ui/findings/\"]').getAttribute('href')");
    let href = href.as_str().expect("a finding link").to_string();
    let id = href.trim_start_matches("/ui/findings/").to_string();
    cdp.navigate_by(&format!(
        "document.querySelector('table a[href=\"{href}\"]').click(); true"
    ));
    assert_eq!(cdp.path(), href);
    assert!(cdp.text().contains("Not reviewed yet"));

    // Suppress it through the page's form.
    cdp.navigate_by(&format!(
        "const f = document.getElementById('suppress').form; \
         f.querySelector('textarea[name=reason]').value = {}; \
         f.querySelector('input[name=days]').value = '30'; \
         document.getElementById('suppress').click(); true",
        json!(REASON)
    ));
    assert_eq!(cdp.path(), href, "redirected back to the finding");
    let page = cdp.text();
    assert!(page.contains(REASON) && page.contains(USER), "{page}");
    assert!(page.to_lowercase().contains("suppressed"), "{page}");
    let finding_png = shots.join("finding.png");
    cdp.screenshot(&finding_png);

    // Its endpoint: traffic facts, and no catalogue operation for a shadow endpoint.
    let has_endpoint =
        cdp.eval("document.querySelector('a.btn[href^=\"/ui/endpoint?\"]') !== null");
    let endpoint_png = shots.join("endpoint.png");
    if has_endpoint == json!(true) {
        cdp.navigate_by("document.querySelector('a.btn[href^=\"/ui/endpoint?\"]').click(); true");
        let page = cdp.text();
        assert!(
            page.contains("Catalogue operation") && page.contains("Consumers"),
            "{page}"
        );
        cdp.screenshot(&endpoint_png);
    }

    // Hidden from the default list now, listed under its state.
    cdp.goto(&format!("{}/ui/findings", collector.url()));
    let listed = |cdp: &mut Cdp| {
        cdp.eval(&format!(
            "document.querySelector('a[href=\"{href}\"]') !== null"
        ))
    };
    assert_eq!(
        listed(&mut cdp),
        json!(false),
        "suppressed is hidden by default"
    );
    cdp.goto(&format!("{}/ui/findings?state=suppressed", collector.url()));
    assert_eq!(listed(&mut cdp), json!(true));

    // Restart the collector on the same store: sessions are gone, the decision is not.
    collector.kill();
    let collector = Collector::start(&pki_dir, &data, "127.0.0.1:0", &[]);
    cdp.login(&collector.url());
    cdp.goto(&format!("{}/ui/findings/{id}", collector.url()));
    let page = cdp.text();
    assert!(page.contains(REASON) && page.contains(USER), "{page}");
    cdp.goto(&format!("{}/ui/findings", collector.url()));
    assert_eq!(
        listed(&mut cdp),
        json!(false),
        "still hidden after the restart"
    );
    let reviews = api_get(collector.addr, &pki_dir, "/v1/reviews");
    let reviews: Value = serde_json::from_slice(&reviews.body).expect("json");
    assert_eq!(reviews[&id]["state"], "suppressed", "{reviews}");
    assert_eq!(reviews[&id]["record"]["by"], USER);

    // Reopen with a reason: the decision goes, the history keeps both, newest first.
    cdp.goto(&format!("{}/ui/findings/{id}", collector.url()));
    cdp.navigate_by(
        "const f = document.getElementById('reopen').form; \
         f.querySelector('input[name=reason]').value = 'retest after the window'; \
         document.getElementById('reopen').click(); true",
    );
    let history = cdp.eval("document.getElementById('history').textContent");
    let history = history.as_str().unwrap_or("");
    let (reopened, suppressed) = (
        history.find("retest after the window"),
        history.find(REASON),
    );
    assert!(
        reopened.zip(suppressed).is_some_and(|(r, s)| r < s),
        "{history}"
    );
    assert!(
        history.contains(USER) && history.contains("reopen"),
        "{history}"
    );
    let trail = api_get(
        collector.addr,
        &pki_dir,
        &format!("/v1/reviews/{id}/history"),
    );
    let trail: Value = serde_json::from_slice(&trail.body).expect("json");
    assert_eq!(trail["state"], "open");
    assert_eq!(trail["events"][0]["by"], USER);
    assert_eq!(trail["events"][0]["reason"], REASON);
    assert_eq!(trail["events"][1]["action"], "reopen");

    println!("dashboard screenshots:");
    println!("  {}", overview_png.display());
    println!("  {}", list_png.display());
    println!("  {}", finding_png.display());
    if endpoint_png.exists() {
        println!("  {}", endpoint_png.display());
    }
}
