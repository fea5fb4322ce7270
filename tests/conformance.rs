//! The shared third-party corpus (Zeek, Suricata-verify incl. http-evader, llhttp, httparse)
//! replayed through `shadowtap conformance`: fails on any regression (a case that passes today
//! failing) and when a target is missed (100% Zeek and http-evader, 98% Suricata-verify, the
//! EICAR body decoded in at least 96% of the http-evader cases, 290 of the shared 300).
//!
//! The corpus lives beside the checkout (`../shared/corpus`); without it the test says so and
//! passes.

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

/// Cases that fail today, each with the reason (see the README's conformance table).
const KNOWN_MISSES: &[(&str, &str)] = &[
    // "GET /" with no line end, then RST; the server's reply is not HTTP either, so the
    // connection never probes as HTTP. Recovering it would mean treating any
    // unterminated word pair as a request.
    ("suricata-verify", "bug-3844"),
    ("httparse", "urltest_007"),
    (
        "llhttp",
        "request/content-length.md: Content-Length reset when no body is received",
    ),
    (
        "llhttp",
        "request/pipelining.md: Should parse multiple events",
    ),
    (
        "llhttp",
        "response/content-length.md: Content-Length reset when no body is received",
    ),
    (
        "llhttp",
        "response/pipelining.md: Should parse multiple events",
    ),
];

fn corpus() -> Option<PathBuf> {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    [
        here.join("../shared/corpus"),
        PathBuf::from("/work/shared/corpus"),
    ]
    .into_iter()
    .find(|p| p.join("INDEX.md").is_file())
}

#[test]
fn corpus_conformance_holds() {
    let Some(corpus) = corpus() else {
        eprintln!("SKIP: no conformance corpus at ../shared/corpus or /work/shared/corpus");
        return;
    };
    let out = Command::new(env!("CARGO_BIN_EXE_shadowtap"))
        .args(["conformance", "--format", "json"])
        .arg(&corpus)
        .output()
        .expect("run shadowtap conformance");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut per: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    let mut regressions = Vec::new();
    let mut eicar = 0u64;
    for line in text.lines() {
        let v: Value = serde_json::from_str(line).expect("one JSON object per line");
        let source = v["source"].as_str().expect("source").to_string();
        let case = v["case"].as_str().expect("case").to_string();
        let passed = v["passed"].as_bool().expect("passed");
        if v["eicar_decoded"].as_bool() == Some(true) {
            eicar += 1;
        }
        let e = per.entry(source.clone()).or_default();
        e.0 += 1;
        if passed {
            e.1 += 1;
        } else if !KNOWN_MISSES.iter().any(|(s, c)| *s == source && *c == case) {
            regressions.push(format!("{source}/{case}: {}", v["reason"]));
        }
    }
    assert!(
        regressions.is_empty(),
        "conformance regressions:\n{}",
        regressions.join("\n")
    );
    let rate = |s: &str| per.get(s).copied().unwrap_or((0, 0));
    let (zn, z) = rate("zeek");
    let (en, e) = rate("http-evader");
    let (sn, s) = rate("suricata-verify");
    assert!(zn >= 25 && z == zn, "zeek {z}/{zn}");
    assert!(en >= 300 && e == en, "http-evader {e}/{en}");
    // The body the browser showed, decoded through every evasion family: all but the 304 and
    // 204 with a body (no body by RFC 9110, browsers agree), lzma (no browser decodes it) and
    // a few whitespace-led Transfer-Encoding lines.
    assert!(
        eicar * 100 >= en * 96,
        "http-evader: EICAR body decoded in {eicar}/{en}, want at least 96%"
    );
    assert!(sn >= 63 && s * 100 >= sn * 98, "suricata-verify {s}/{sn}");
    assert!(
        out.status.success(),
        "targets met, so exit 0: {:?}",
        out.status
    );
}
