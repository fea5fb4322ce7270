//! The HTML report of the demo: self-contained (no script, no external reference of any kind)
//! and rendered by a real browser (headless Chromium) into a non-trivial screenshot.
//!
//! The browser test skips, saying so, when no `chromium` is installed (`apt-get install -y
//! chromium`); CI installs it, so there it always runs.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("shadowtap-html-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Scan the demo into an HTML file in `dir`.
fn demo_html(dir: &Path) -> PathBuf {
    let out = dir.join("report.html");
    let run = Command::new(env!("CARGO_BIN_EXE_shadowtap"))
        .current_dir(root())
        .env("SHADOWTAP_SITE_SECRET", "html-test")
        .args(["scan", "fixtures/demo/openbanking.pcap", "--catalog"])
        .arg("fixtures/demo/catalog")
        .args(["--format", "html", "--no-progress", "--out"])
        .arg(&out)
        .output()
        .expect("run shadowtap scan");
    assert!(
        run.status.success(),
        "scan failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    out
}

#[test]
fn html_report_is_self_contained() {
    let html = std::fs::read_to_string(demo_html(&scratch("static"))).unwrap();
    let lower = html.to_ascii_lowercase();
    assert!(lower.starts_with("<!doctype html>"));
    for banned in [
        "http://",
        "https://",
        "<script",
        "javascript:",
        "@import",
        "url(",
        "<link",
        "<img",
        "<iframe",
    ] {
        assert!(!lower.contains(banned), "HTML contains {banned:?}");
    }
    // Protocol-relative references: `src="//..."` / `href='//...'`.
    for attr in ["src=", "href="] {
        for quote in ["\"", "'", ""] {
            assert!(
                !lower.contains(&format!("{attr}{quote}//")),
                "protocol-relative {attr}"
            );
        }
    }
    // The report's parts are all there, with the demo's planted problems.
    for part in [
        "Summary",
        "Findings by severity",
        "Exchanges per minute",
        "Endpoints",
        "Capture quality",
        "internal-tools.northbank.example",
        "Why critical:",
    ] {
        assert!(html.contains(part), "missing {part:?}");
    }
    assert!(html.matches("<svg").count() >= 3, "three inline charts");
}

fn chromium() -> Option<PathBuf> {
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|name| {
            let out = Command::new("sh")
                .args(["-c", &format!("command -v {name}")])
                .output()
                .ok()?;
            let path = String::from_utf8(out.stdout).ok()?.trim().to_string();
            (!path.is_empty()).then(|| PathBuf::from(path))
        })
}

#[test]
fn html_report_renders_in_headless_chromium() {
    let Some(browser) = chromium() else {
        eprintln!(
            "SKIPPED html_report_renders_in_headless_chromium: no chromium on PATH \
             (install it with `apt-get install -y chromium`)"
        );
        return;
    };
    let dir = scratch("browser");
    let html = demo_html(&dir);
    let shot = dir.join("report.png");
    let profile = dir.join("profile");
    let _ = std::fs::remove_file(&shot);
    let out = Command::new(&browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", shot.display()))
        .arg("--window-size=1400,2000")
        .arg(format!("file://{}", html.display()))
        .output()
        .expect("run chromium");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let png = std::fs::read(&shot).expect("screenshot written");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "a PNG");
    // 1400x2000 with text, charts and colour: a blank page compresses to a few kB.
    assert!(png.len() > 50_000, "screenshot is {} bytes", png.len());
    let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
    assert_eq!(width, 1400);
}
