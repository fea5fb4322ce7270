//! `shadowtap report --collector URL`: the `scan` report, computed by the collector from every
//! agent's batches against its catalogue, fetched over HTTPS with the API token.

use agent::ship::client::{client_config, CollectorUrl, HttpsClient};
use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use std::path::PathBuf;
use std::time::Duration;

/// Formats the collector renders (the `scan` renderers, run on the collector).
#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    Text,
    Json,
    Markdown,
}

#[derive(Args)]
pub struct ReportArgs {
    /// Collector URL, https://HOST:PORT.
    #[arg(long, value_name = "URL")]
    collector: String,
    /// CA certificate that signed the collector's certificate (PEM).
    #[arg(long, value_name = "FILE")]
    ca: PathBuf,
    /// File holding the API bearer token (else $SHADOWTAP_API_TOKEN).
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// Write the report here instead of stdout.
    #[arg(long, value_name = "PATH")]
    out: Option<PathBuf>,
}

pub fn run(args: ReportArgs) -> Result<u8> {
    let token = match &args.token_file {
        Some(f) => super::collector::read_token(f)?,
        None => std::env::var("SHADOWTAP_API_TOKEN")
            .ok()
            .filter(|t| !t.is_empty())
            .context("report: no API token (--token-file or SHADOWTAP_API_TOKEN)")?,
    };
    let url = CollectorUrl::parse(&args.collector)?;
    let tls = client_config(&args.ca, None)?;
    let mut client = HttpsClient::new(url, tls, Duration::from_secs(120));
    let format = match args.format {
        Format::Text => "text",
        Format::Json => "json",
        Format::Markdown => "markdown",
    };
    let auth = format!("Bearer {token}");
    let resp = client.request(
        "GET",
        &format!("/v1/report?format={format}"),
        &[("Authorization", &auth)],
        b"",
    )?;
    if resp.status != 200 {
        bail!(
            "report: collector answered {}: {}",
            resp.status,
            resp.error_text()
        );
    }
    match &args.out {
        Some(path) => std::fs::write(path, &resp.body)
            .with_context(|| format!("writing {}", path.display()))?,
        None => {
            use std::io::Write;
            std::io::stdout().write_all(&resp.body)?;
        }
    }
    Ok(0)
}
