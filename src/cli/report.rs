//! `shadowtap report --collector URL`: the `scan` report, computed by the collector from every
//! agent's batches against its catalogue, fetched over HTTPS with the API token.
//!
//! Takes `scan`'s output options ([`common::OutputArgs`]): every format, `--out`, `--baseline`
//! (the file is checked here, then sent) and `--fail-on`. The collector builds and renders the
//! report with the same `ScanReport::build` and `ScanReport::render` that `scan` uses, with the
//! review state in force; findings a reviewer suppressed or accepted do not trip `--fail-on`.
//! `--review-trail csv|ndjson` writes the append-only review trail instead, for auditors.

use super::common;
use super::EXIT_FAIL_ON;
use agent::ship::client::{client_config, CollectorUrl, HttpsClient};
use anyhow::{bail, Context, Result};
use clap::Args;
use std::path::PathBuf;
use std::time::Duration;

/// Where the collector is and how to reach it (shared by `report` and `export --collector`).
#[derive(Args)]
pub struct CollectorAccess {
    /// Collector URL, https://HOST:PORT.
    #[arg(long, value_name = "URL")]
    pub collector: String,
    /// CA certificate that signed the collector's certificate (PEM).
    #[arg(long, value_name = "FILE")]
    pub ca: PathBuf,
    /// File holding the API bearer token (else $SHADOWTAP_API_TOKEN).
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
}

impl CollectorAccess {
    /// `method path` with the bearer token; a non-200 answer is an error naming the status and
    /// the collector's reason.
    pub fn fetch(
        &self,
        what: &str,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> Result<agent::ship::client::Response> {
        let token = match &self.token_file {
            Some(f) => super::collector::read_token(f)?,
            None => std::env::var("SHADOWTAP_API_TOKEN")
                .ok()
                .filter(|t| !t.is_empty())
                .with_context(|| {
                    format!("{what}: no API token (--token-file or SHADOWTAP_API_TOKEN)")
                })?,
        };
        let url = CollectorUrl::parse(&self.collector)?;
        let tls = client_config(&self.ca, None)?;
        let mut client = HttpsClient::new(url, tls, Duration::from_secs(120));
        let auth = format!("Bearer {token}");
        let mut headers = vec![("Authorization", auth.as_str())];
        if !body.is_empty() {
            headers.push(("Content-Type", "application/json"));
        }
        let resp = client.request(method, path, &headers, body)?;
        if resp.status != 200 {
            bail!(
                "{what}: collector answered {}: {}",
                resp.status,
                resp.error_text()
            );
        }
        Ok(resp)
    }
}

#[derive(Args)]
pub struct ReportArgs {
    #[command(flatten)]
    access: CollectorAccess,
    #[command(flatten)]
    output: common::OutputArgs,
    /// Instead of the report, write the review trail for auditors: every review action and
    /// expiry with who, when and why (`csv` or `ndjson`; to --out or stdout).
    #[arg(long, value_name = "FORMAT", value_parser = ["csv", "ndjson"],
          conflicts_with_all = ["fail_on", "baseline"])]
    review_trail: Option<String>,
}

/// Percent-encode a query value.
pub fn query_value(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

pub fn run(args: ReportArgs) -> Result<u8> {
    if let Some(format) = &args.review_trail {
        let path = format!("/v1/reviews/export?format={format}");
        let resp = args.access.fetch("review trail", "GET", &path, b"")?;
        args.output.write(&resp.body)?;
        return Ok(0);
    }
    args.output.check()?;
    let baseline = args.output.load_baseline()?;
    let format: analyzer::report::Format = args.output.format.into();
    let mut path = format!("/v1/report?format={}", format.as_str());
    if let Some(t) = args.output.fail_on {
        path.push_str(&format!("&fail_on={}", t.as_str()));
    }
    let resp = match &baseline {
        Some((source, b)) => {
            path.push_str(&format!("&baseline_source={}", query_value(source)));
            args.access
                .fetch("report", "POST", &path, b.to_json().as_bytes())?
        }
        None => args.access.fetch("report", "GET", &path, b"")?,
    };
    args.output.write(&resp.body)?;
    if args.output.fail_on.is_some() {
        match resp.header(collector::report_api::FAIL_ON_HEADER) {
            Some("tripped") => return Ok(EXIT_FAIL_ON),
            Some("clear") => {}
            other => bail!(
                "report: the collector did not say whether --fail-on is tripped ({other:?}): \
                 is it older than this shadowtap?"
            ),
        }
    }
    Ok(0)
}
