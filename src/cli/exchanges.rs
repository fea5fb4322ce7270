//! `shadowtap exchanges`: one JSON line per HTTP exchange, in capture order (like Zeek's
//! http.log). Query values that classify as sensitive are masked.
//!
//! Capture order means request order: exchanges are sorted by their timestamp (the first packet
//! of the request, or of the response when there was no request), ties kept in emission order.
//! The pipeline finishes exchanges out of that order (a slow response holds its request back),
//! so lines wait in a bounded reorder buffer ([`Reorder`]) until packet time has moved past
//! them by the flow idle timeout, after which no earlier exchange can still appear.

use super::common;
use agent::http::Forensic;
use analyzer::classify::{Classifier, Place};
use analyzer::exchange::{find_header, Header, HttpExchange};
use analyzer::time::Timestamp;
use anyhow::Result;
use clap::Args;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

#[derive(Args)]
pub struct ExchangesArgs {
    #[arg(required = true)]
    captures: Vec<PathBuf>,
}

/// Exchanges held back for ordering at most; beyond it the oldest is released early (and
/// counted in [`Reorder::released_early`]).
pub(crate) const MAX_REORDER: usize = 65_536;

/// Packet-time horizon after which a buffered exchange is released: the flow table's idle
/// timeout, since a connection silent for longer has been closed and flushed.
const REORDER_HORIZON_MICROS: i64 = 5 * 60 * Timestamp::MICROS_PER_SEC;

/// Bounded reorder buffer: exchanges keyed by (timestamp, arrival), released oldest first.
#[derive(Default)]
pub(crate) struct Reorder {
    held: BTreeMap<(Timestamp, u64), HttpExchange>,
    seq: u64,
    latest: Timestamp,
    /// Exchanges released before the horizon because the buffer was full.
    pub released_early: u64,
}

impl Reorder {
    /// Add one exchange; returns those now safe to emit, in order.
    pub fn push(&mut self, ex: &HttpExchange) -> Vec<HttpExchange> {
        self.latest = self.latest.max(ex.ts);
        self.seq += 1;
        self.held.insert((ex.ts, self.seq), ex.clone());
        let mut out = Vec::new();
        loop {
            let full = self.held.len() > MAX_REORDER;
            let Some(entry) = self.held.first_entry() else {
                break;
            };
            let old = self.latest.since(entry.key().0) > REORDER_HORIZON_MICROS;
            if !(old || full) {
                break;
            }
            if full && !old {
                self.released_early += 1;
            }
            out.push(entry.remove());
        }
        out
    }

    /// Everything still held, in order (end of input).
    pub fn drain(&mut self) -> Vec<HttpExchange> {
        std::mem::take(&mut self.held).into_values().collect()
    }
}

struct JsonLines<'c, W: Write> {
    out: W,
    classifier: &'c Classifier,
    reorder: Reorder,
    error: Option<std::io::Error>,
}

impl<W: Write> JsonLines<'_, W> {
    fn write(&mut self, ready: Vec<HttpExchange>) {
        for ex in ready {
            if self.error.is_some() {
                return;
            }
            for line in exchange_lines(&ex, self.classifier) {
                if let Err(e) = writeln!(self.out, "{line}") {
                    self.error = Some(e);
                    return;
                }
            }
        }
    }
}

impl<W: Write> JsonLines<'_, W> {
    fn exchange(&mut self, ex: &HttpExchange) {
        if self.error.is_some() {
            return;
        }
        let ready = self.reorder.push(ex);
        self.write(ready);
    }
}

/// What a masked preview must not carry raw inside a query value: what would end the value
/// (`&`, `#`), start an escape (`%`), or not print. Everything else, spaces and quotes
/// included, is shown as it is (Zeek's http.log shows the target as sent).
const PREVIEW_ESCAPES: &percent_encoding::AsciiSet =
    &percent_encoding::CONTROLS.add(b'&').add(b'#').add(b'%');

/// Mask query values the classifier flags, keep the rest of the target as sent.
pub(crate) fn masked_target(target: &str, classifier: &Classifier) -> String {
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
                        percent_encoding::utf8_percent_encode(&d.preview, PREVIEW_ESCAPES)
                    ),
                    None => pair.to_string(),
                }
            }
            None => pair.to_string(),
        })
        .collect();
    format!("{path}?{}", parts.join("&"))
}

/// A GraphQL GET's target with the document, variables and extensions withheld (they are the
/// operation's text and values; its name and fields are on the line's `graphql` part).
fn withhold_graphql_params(target: &str) -> String {
    let Some((path, query)) = target.split_once('?') else {
        return target.to_string();
    };
    let parts: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, _)) if analyzer::graphql::GET_VALUE_PARAMS.contains(&k) => {
                format!("{k}=(withheld)")
            }
            _ => pair.to_string(),
        })
        .collect();
    format!("{path}?{}", parts.join("&"))
}

/// The lines of one exchange: one, or one per GraphQL operation it carried (each with a
/// `graphql` part: operation key, type, name, hash, root fields, its index in a batch).
pub(crate) fn exchange_lines(ex: &HttpExchange, classifier: &Classifier) -> Vec<serde_json::Value> {
    let Some(extracted) = analyzer::graphql::of_exchange(ex) else {
        return vec![exchange_json(ex, classifier)];
    };
    let mut base = exchange_json(ex, classifier);
    if let Some(uri) = base.get("uri").and_then(|u| u.as_str()) {
        base["uri"] = serde_json::Value::String(withhold_graphql_params(uri));
    }
    let mut out: Vec<serde_json::Value> = extracted
        .ops
        .iter()
        .enumerate()
        .map(|(i, op)| {
            let mut line = base.clone();
            line["graphql"] = serde_json::json!({
                "operation": if op.name.as_deref().is_some_and(|n| !classifier
                    .classify(n, Place::Query { name: "operationName" })
                    .is_empty())
                {
                    format!("{} #{}", op.kind, op.hash.as_deref().unwrap_or_default())
                } else {
                    op.key()
                },
                "type": op.kind,
                // A name is kept as written unless the classifier sees a value in it.
                "name": op.name.as_deref().filter(|n| classifier
                    .classify(n, Place::Query { name: "operationName" })
                    .is_empty()),
                "hash": op.hash,
                "root_fields": op.root_fields,
                "index": i,
                "batched": extracted.batched,
            });
            line
        })
        .collect();
    if extracted.unparsed > 0 {
        let mut line = base;
        line["graphql"] = serde_json::json!({ "unparsed": extracted.unparsed });
        out.push(line);
    }
    out
}

pub(crate) fn exchange_json(ex: &HttpExchange, classifier: &Classifier) -> serde_json::Value {
    let req = ex.request.as_ref();
    let host = req
        .and_then(|r| find_header(&r.headers, "host"))
        .and_then(Header::value_str);
    let header = |name| {
        req.and_then(|r| find_header(&r.headers, name))
            .and_then(Header::value_str)
    };
    let soap_operation = analyzer::soap::request_operation(
        header("content-type"),
        header("soapaction"),
        &ex.request_body.sample,
        |action| {
            !classifier
                .classify(action, Place::Header { name: "soapaction" })
                .is_empty()
        },
    );
    let mut line = serde_json::json!({
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
    });
    // A SOAP exchange names its operation (one line per call, as for gRPC streams).
    if let Some(op) = soap_operation {
        line["soap_operation"] = serde_json::Value::String(op);
    }
    line
}

pub fn run(args: ExchangesArgs) -> Result<u8> {
    let catalogue = analyzer::catalogue::Catalogue::default();
    let observer = common::observer(&catalogue, common::load_classifier(None)?, false);
    let mut lines = JsonLines {
        out: std::io::BufWriter::new(std::io::stdout()),
        classifier: &observer.classifier,
        reorder: Reorder::default(),
        error: None,
    };
    // One worker: exchanges come out in the order its connections finish them.
    let sink = Forensic(|ex: HttpExchange| lines.exchange(&ex));
    let (_, _stats, totals) = common::read_captures(&args.captures, vec![sink], false)?;
    let mut sink = lines;
    let rest = sink.reorder.drain();
    sink.write(rest);
    if sink.reorder.released_early > 0 {
        eprintln!(
            "shadowtap: warning: {} exchanges printed before older ones (reorder buffer of {MAX_REORDER} full)",
            sink.reorder.released_early
        );
    }
    let flushed = sink.out.flush();
    super::stdout_written(sink.error.map_or(flushed, Err))?;
    Ok(if totals.errors.is_empty() {
        0
    } else {
        super::EXIT_DAMAGED_INPUT
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_printed_as_sent_with_only_sensitive_values_masked() {
        let c = Classifier::builtin();
        let plain = "/search?q=a b \"c\"&x=1=2&flag&e=%41";
        assert_eq!(masked_target(plain, &c), plain, "nothing re-encoded");
        let card = "/pay?card=4111111111111111&note=hi there";
        let masked = masked_target(card, &c);
        assert!(!masked.contains("4111111111111111"), "{masked}");
        assert!(masked.starts_with("/pay?card="), "{masked}");
        assert!(masked.ends_with("&note=hi there"), "{masked}");
        assert!(
            !masked.contains("%2A") && !masked.contains("%20"),
            "{masked}"
        );
    }
}
