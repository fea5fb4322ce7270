//! Privacy by construction, end to end: no raw sensitive value that the capture carries ever
//! appears in anything `shadowtap` prints or writes.
//!
//! The demo capture plants valid card numbers, IBANs, e-mail addresses, phone numbers, JWT
//! bearer tokens, API keys and Basic credentials. This test pulls every one of them out of the
//! pcap bytes itself (so it follows the generator, whatever it plants), runs `scan` in every
//! format (to stdout and with `--out`), saves the inventory, makes every export from it, runs
//! `exchanges`, and requires that no output, no file written and no diagnostic contains any of
//! them, nor the digit runs that would unmask them.
//! A failure prints the kind of value and the output it leaked into, never the value.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn demo(p: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/demo")
        .join(p)
}

/// Planted values by kind: (kind, value).
type Secrets = BTreeSet<(&'static str, String)>;

fn luhn(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| {
            let d = u32::from(d - b'0');
            if i % 2 == 1 {
                if d * 2 > 9 {
                    d * 2 - 9
                } else {
                    d * 2
                }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// Maximal runs of bytes matching `pred`, with their start offsets.
fn runs(data: &[u8], pred: impl Fn(u8) -> bool) -> Vec<(usize, &[u8])> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, &b) in data.iter().enumerate() {
        match (pred(b), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                out.push((s, &data[s..i]));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((s, &data[s..]));
    }
    out
}

/// The value after `prefix` up to the end of the header line, for every occurrence.
fn header_values(data: &[u8], prefix: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(pos) = find(&data[i..], prefix) {
        let start = i + pos + prefix.len();
        let end = data[start..]
            .iter()
            .position(|b| *b == b'\r' || *b == b'\n')
            .map_or(data.len(), |e| start + e);
        out.push(
            String::from_utf8_lossy(&data[start..end])
                .trim()
                .to_string(),
        );
        i = start;
    }
    out
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Every sensitive value visible in clear in the capture bytes.
fn planted(pcap: &[u8]) -> Secrets {
    let mut s = Secrets::new();
    for (_, run) in runs(pcap, |b| b.is_ascii_digit()) {
        // Card numbers: 15-16 digits, issuer prefix 3-6, Luhn-valid.
        if (15..=16).contains(&run.len()) && (b'3'..=b'6').contains(&run[0]) && luhn(run) {
            s.insert(("pan", String::from_utf8_lossy(run).into_owned()));
        }
    }
    for (_, run) in runs(pcap, |b| b.is_ascii_alphanumeric()) {
        // UK IBANs: GB, 2 check digits, 4-letter bank code, 14 digits.
        if run.len() == 22
            && run.starts_with(b"GB")
            && run[2..4].iter().all(u8::is_ascii_digit)
            && run[4..8].iter().all(u8::is_ascii_uppercase)
            && run[8..].iter().all(u8::is_ascii_digit)
        {
            s.insert(("iban", String::from_utf8_lossy(run).into_owned()));
        }
    }
    let email_char = |b: u8| b.is_ascii_alphanumeric() || b"._%+-@".contains(&b);
    for (_, run) in runs(pcap, email_char) {
        let text = String::from_utf8_lossy(run);
        for domain in ["@example.com", "%40example.com"] {
            if let Some(local) = text.strip_suffix(domain) {
                // A query value may follow `email=`; the local part is what precedes the domain.
                let local = local.rsplit(['=', '&']).next().unwrap_or(local);
                if !local.is_empty() {
                    s.insert(("email", format!("{local}@example.com")));
                    s.insert(("email", format!("{local}%40example.com")));
                }
            }
        }
    }
    for (start, run) in runs(pcap, |b| b.is_ascii_digit()) {
        if start > 0 && pcap[start - 1] == b'+' && run.len() == 12 && run.starts_with(b"447700900")
        {
            s.insert(("phone", format!("+{}", String::from_utf8_lossy(run))));
        }
    }
    let token_char = |b: u8| b.is_ascii_alphanumeric() || b"-_.".contains(&b);
    for (_, run) in runs(pcap, token_char) {
        let text = String::from_utf8_lossy(run);
        if let Some(i) = text.find("eyJ") {
            let jwt = &text[i..];
            if jwt.matches('.').count() >= 2 && jwt.len() > 40 {
                s.insert(("jwt", jwt.to_string()));
                // The signature alone is a secret-bearing part too.
                if let Some(sig) = jwt.rsplit('.').next().filter(|p| p.len() >= 16) {
                    s.insert(("jwt_signature", sig.to_string()));
                }
            }
        }
    }
    for v in header_values(pcap, b"X-API-Key: ") {
        s.insert(("api_key", v));
    }
    for v in header_values(pcap, b"Authorization: Basic ") {
        s.insert(("basic_credential", v));
    }
    s
}

/// What must not appear: each value, and for numeric ones their bare digits and every 8-digit
/// window of them (a preview may keep the last 4 digits, never 8 in a row).
fn forbidden(secrets: &Secrets) -> BTreeSet<(&'static str, String)> {
    let mut out = BTreeSet::new();
    for (kind, v) in secrets {
        out.insert((*kind, v.clone()));
        if matches!(*kind, "pan" | "iban" | "phone") {
            let digits: String = v.chars().filter(char::is_ascii_digit).collect();
            for w in digits.as_bytes().windows(8) {
                out.insert((*kind, String::from_utf8_lossy(w).into_owned()));
            }
        }
    }
    out
}

fn shadowtap(args: &[&str], dir: &Path) -> (String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_shadowtap"))
        .args(args)
        .current_dir(dir)
        .env("SHADOWTAP_SITE_SECRET", "privacy-test")
        .output()
        .expect("run shadowtap");
    assert!(
        out.status.code().is_some_and(|c| c == 0 || c == 3),
        "shadowtap {args:?} exited {:?}",
        out.status
    );
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn no_planted_value_reaches_any_output_or_file() {
    let pcap_path = demo("openbanking.pcap");
    let pcap = std::fs::read(&pcap_path).expect("demo capture");
    let secrets = planted(&pcap);
    // The test is only as strong as what it plants: make sure every kind was found.
    for kind in [
        "pan",
        "iban",
        "email",
        "phone",
        "jwt",
        "api_key",
        "basic_credential",
    ] {
        let n = secrets.iter().filter(|(k, _)| *k == kind).count();
        assert!(
            n >= 2,
            "found only {n} planted {kind} values in the demo capture"
        );
    }
    let bad = forbidden(&secrets);

    let dir = tempfile::tempdir().expect("temp dir");
    let pcap_arg = pcap_path.to_str().expect("utf-8 path");
    let catalog = demo("catalog");
    let catalog_arg = catalog.to_str().expect("utf-8 path");
    let mut outputs: Vec<(String, String)> = Vec::new();
    for format in ["text", "json", "markdown", "html", "sarif"] {
        let base = [
            "scan",
            pcap_arg,
            "--catalog",
            catalog_arg,
            "--no-progress",
            "--format",
            format,
        ];
        let (stdout, stderr) = shadowtap(&base, dir.path());
        outputs.push((format!("scan --format {format} (stdout)"), stdout));
        outputs.push((format!("scan --format {format} (stderr)"), stderr));
        let file = dir.path().join(format!("report.{format}"));
        let mut with_out: Vec<&str> = base.to_vec();
        let file_arg = file.to_str().expect("utf-8 path").to_string();
        with_out.extend(["--out", &file_arg]);
        let (stdout, stderr) = shadowtap(&with_out, dir.path());
        outputs.push((format!("scan --format {format} --out (stdout)"), stdout));
        outputs.push((format!("scan --format {format} --out (stderr)"), stderr));
    }
    // The saved inventory and every export made from it.
    let inventory = dir.path().join("inventory.json");
    let inventory_arg = inventory.to_str().expect("utf-8 path").to_string();
    let (stdout, stderr) = shadowtap(
        &[
            "scan",
            pcap_arg,
            "--catalog",
            catalog_arg,
            "--no-progress",
            "--save-inventory",
            &inventory_arg,
        ],
        dir.path(),
    );
    outputs.push(("scan --save-inventory (stdout)".into(), stdout));
    outputs.push(("scan --save-inventory (stderr)".into(), stderr));
    for format in ["csv", "ndjson", "openapi", "cyclonedx", "backstage"] {
        let file = dir.path().join(format!("export.{format}"));
        let file_arg = file.to_str().expect("utf-8 path").to_string();
        let (stdout, stderr) = shadowtap(
            &[
                "export",
                "--format",
                format,
                "--inventory",
                &inventory_arg,
                "--catalog",
                catalog_arg,
                "--out",
                &file_arg,
            ],
            dir.path(),
        );
        outputs.push((format!("export --format {format} (stdout)"), stdout));
        outputs.push((format!("export --format {format} (stderr)"), stderr));
    }
    let (stdout, stderr) = shadowtap(&["exchanges", pcap_arg], dir.path());
    assert!(stdout.lines().count() > 1000, "exchanges printed its lines");
    outputs.push(("exchanges (stdout)".into(), stdout));
    outputs.push(("exchanges (stderr)".into(), stderr));
    // Every file any run left in the working directory, `--out` reports included.
    let mut files = 0;
    for entry in std::fs::read_dir(dir.path()).expect("read temp dir") {
        let path = entry.expect("dir entry").path();
        let text =
            String::from_utf8_lossy(&std::fs::read(&path).expect("read output")).into_owned();
        outputs.push((format!("file {}", path.display()), text));
        files += 1;
    }
    // Five report formats, the saved inventory and five exports.
    assert_eq!(
        files, 11,
        "one file per report format, inventory and export"
    );

    // The reports did see the data: masked previews are there.
    let json_report = &outputs
        .iter()
        .find(|(name, _)| name == "scan --format json (stdout)")
        .expect("json output")
        .1;
    assert!(json_report.contains("\"pan\"") && json_report.contains("\"iban\""));
    assert!(
        json_report.contains("**** **** **** "),
        "masked PAN preview"
    );

    let mut leaks = Vec::new();
    for (name, text) in &outputs {
        for (kind, value) in &bad {
            if text.contains(value.as_str()) {
                leaks.push(format!("{kind} value ({} chars) in {name}", value.len()));
            }
        }
    }
    leaks.dedup();
    assert!(leaks.is_empty(), "raw values leaked:\n{}", leaks.join("\n"));
}
