//! `shadowtap exchanges`: one JSON line per HTTP exchange, in capture order (like Zeek's
//! http.log). Query values that classify as sensitive are masked.

use super::common;
use agent::pipeline::ObservationSink;
use analyzer::classify::{Classifier, Place};
use analyzer::exchange::{find_header, Header, HttpExchange};
use analyzer::observation::Observation;
use anyhow::Result;
use clap::Args;
use std::io::Write;
use std::path::PathBuf;

#[derive(Args)]
pub struct ExchangesArgs {
    #[arg(required = true)]
    captures: Vec<PathBuf>,
}

struct JsonLines<'c, W: Write> {
    out: W,
    classifier: &'c Classifier,
    error: Option<std::io::Error>,
}

impl<W: Write> ObservationSink for JsonLines<'_, W> {
    fn observation(&mut self, _obs: Observation) {}

    fn exchange(&mut self, ex: &HttpExchange) {
        if self.error.is_some() {
            return;
        }
        let line = exchange_json(ex, self.classifier);
        if let Err(e) = writeln!(self.out, "{line}") {
            self.error = Some(e);
        }
    }
}

/// Mask query values the classifier flags, keep the rest of the target as sent.
fn masked_target(target: &str, classifier: &Classifier) -> String {
    let Some((path, query)) = target.split_once('?') else {
        return target.to_string();
    };
    let parts: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) => {
                let decoded = percent_encoding::percent_decode_str(v).decode_utf8_lossy();
                let hits = classifier.classify(&decoded, Place::Query { name: k });
                match hits.first() {
                    Some(d) => format!(
                        "{k}={}",
                        percent_encoding::utf8_percent_encode(
                            &d.preview,
                            percent_encoding::NON_ALPHANUMERIC
                        )
                    ),
                    None => pair.to_string(),
                }
            }
            None => pair.to_string(),
        })
        .collect();
    format!("{path}?{}", parts.join("&"))
}

fn exchange_json(ex: &HttpExchange, classifier: &Classifier) -> serde_json::Value {
    let req = ex.request.as_ref();
    let host = req
        .and_then(|r| find_header(&r.headers, "host"))
        .and_then(Header::value_str);
    serde_json::json!({
        "ts": ex.ts.rfc3339(),
        "client": ex.client.to_string(),
        "server": ex.server.to_string(),
        "method": req.map(|r| r.method.clone()),
        "host": host,
        "uri": req.map(|r| masked_target(&r.target, classifier)),
        "version": req.map(|r| r.version.as_str()).or(ex.response.as_ref().map(|r| r.version.as_str())),
        "status": ex.response.as_ref().map(|r| r.status),
        "request_body_len": ex.request_body.decoded_len,
        "response_body_len": ex.response_body.decoded_len,
        "anomalies": ex.anomalies.iter().map(|a| a.as_str()).collect::<Vec<_>>(),
    })
}

pub fn run(args: ExchangesArgs) -> Result<u8> {
    let catalogue = analyzer::catalogue::Catalogue::default();
    let observer = common::observer(&catalogue, common::load_classifier(None)?, false);
    let stdout = std::io::stdout().lock();
    let sink = JsonLines {
        out: std::io::BufWriter::new(stdout),
        classifier: &observer.classifier,
        error: None,
    };
    let (mut sink, _stats, totals) = common::read_captures(&args.captures, &observer, sink, false)?;
    sink.out.flush()?;
    if let Some(e) = sink.error {
        // A closed pipe (e.g. `| head`) is not an error worth a message.
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            return Err(e.into());
        }
    }
    Ok(if totals.errors.is_empty() {
        0
    } else {
        super::EXIT_DAMAGED_INPUT
    })
}
