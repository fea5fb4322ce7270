//! Deterministic generator of shadowtap's demo capture: open-banking HTTP/1.1
//! traffic as a bank's span port behind the TLS-offloading load balancer sees
//! it, with planted shadow/zombie/orphan/drift problems (see
//! `fixtures/demo/README.md`). Same `Config`, same bytes: no clock, no OS
//! randomness.

use std::collections::BTreeMap;
use std::io::Write;

use serde_json::{json, Value};

pub mod http;
pub mod net;
pub mod openbanking;
pub mod traffic;
pub mod util;

pub use http::Op;

/// Capture start: 2026-03-02T09:00:00Z, in microseconds since the epoch.
pub const START_US: u64 = 1_772_442_000 * 1_000_000;
/// The seed of the committed demo capture.
pub const DEFAULT_SEED: u64 = 20_260_302;

#[derive(Clone, Debug)]
pub struct Config {
    pub seed: u64,
    /// How many times the ~10-minute traffic pattern repeats (fresh ports, ids, times).
    pub scale: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            seed: DEFAULT_SEED,
            scale: 1,
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct EndpointStats {
    pub exchanges: u64,
    pub statuses: BTreeMap<u16, u64>,
}

/// What was written. Exchange counts cover only pairs whose request and
/// response are both in the capture (not the hidden start of mid-stream
/// connections).
#[derive(Clone, Debug, Default)]
pub struct Stats {
    pub records: u64,
    pub bytes: u64,
    pub first_ts_us: u64,
    pub last_ts_us: u64,
    pub http_exchanges: u64,
    pub tcp_connections: u64,
    pub midstream_connections: u64,
    pub pipelined_connections: u64,
    pub reordered_responses: u64,
    pub retransmitted_segments: u64,
    pub noise_flows: u64,
    pub endpoints: BTreeMap<Op, EndpointStats>,
    /// Exchanges carrying each planted problem.
    pub planted: BTreeMap<&'static str, u64>,
}

impl Stats {
    pub(crate) fn record(&mut self, ex: &http::Ex) {
        self.http_exchanges += 1;
        let e = self.endpoints.entry(ex.op).or_default();
        e.exchanges += 1;
        *e.statuses.entry(ex.resp.status).or_default() += 1;
        if let Some(tag) = ex.tag {
            *self.planted.entry(tag).or_default() += 1;
        }
    }

    fn planted(&self, tag: &str) -> u64 {
        self.planted.get(tag).copied().unwrap_or(0)
    }
}

/// Writes the whole capture (legacy pcap, microseconds, Ethernet) to `out`,
/// one ~10-minute round at a time.
pub fn generate(cfg: &Config, out: &mut impl Write) -> anyhow::Result<Stats> {
    anyhow::ensure!(cfg.scale >= 1, "scale must be at least 1");
    let mut stats = Stats::default();
    net::write_pcap_header(out)?;
    stats.bytes = 24;
    let mut world = traffic::World::new(cfg.seed);
    let mut t0 = START_US;
    for r in 0..cfg.scale {
        let mut sink = net::Sink::default();
        let rng = util::Rng::derive(cfg.seed, 0x1000 + u64::from(r));
        traffic::round(&mut world, rng, &mut sink, &mut stats, t0);
        sink.pkts.sort_unstable_by_key(|p| (p.ts, p.ord));
        for p in &sink.pkts {
            stats.bytes += net::write_pcap_record(out, p.ts, &p.frame)?;
        }
        if r == 0 {
            stats.first_ts_us = sink.pkts.first().map_or(0, |p| p.ts);
        }
        stats.records += sink.pkts.len() as u64;
        stats.retransmitted_segments += sink.retransmits;
        stats.last_ts_us = sink.max_ts();
        t0 = stats.last_ts_us + 3_000_000;
    }
    out.flush()?;
    Ok(stats)
}

fn op_json(op: Op) -> (Value, Value, Value) {
    let d = op.def();
    (json!(d.host), json!(d.method), json!(d.template))
}

fn finding(kind: &str, op: Option<Op>, host: &str, count: u64, why: String) -> Value {
    let (h, m, p) = match op {
        Some(op) => op_json(op),
        None => (json!(host), Value::Null, Value::Null),
    };
    json!({"kind": kind, "host": h, "method": m, "path": p, "count": count, "why": why})
}

/// The `expected.json` of a capture generated with `cfg`.
pub fn expected_json(cfg: &Config, stats: &Stats, capture: &str) -> Value {
    use http::*;
    let ep = |op: Op| stats.endpoints.get(&op).map_or(0, |e| e.exchanges);
    let status = |op: Op, s: u16| {
        stats
            .endpoints
            .get(&op)
            .and_then(|e| e.statuses.get(&s).copied())
            .unwrap_or(0)
    };
    let findings = vec![
        finding(
            "shadow_endpoint",
            Some(Op::AccountExport),
            "",
            ep(Op::AccountExport),
            format!(
                "undeclared bulk export called {} times, only by TPP 10.20.1.14; 200 responses carry full card numbers (Luhn-valid PANs) and IBANs",
                ep(Op::AccountExport)
            ),
        ),
        finding(
            "shadow_endpoint",
            Some(Op::Health),
            "",
            ep(Op::Health),
            format!(
                "monitoring probe from 10.30.0.9 ({} calls, no credentials) on a path outside every declared server prefix of api.northbank.example",
                ep(Op::Health)
            ),
        ),
        finding(
            "unconfirmed_endpoint",
            Some(Op::ActuatorProbe),
            "",
            stats.planted("unconfirmed_probe"),
            format!(
                "a scanner at 10.30.0.66 tried it {} times within seconds and got 404 each time: \
                 too little evidence for a shadow endpoint (the CORS preflights from 10.20.3.31 \
                 ({} OPTIONS) and the HEAD requests on /v1/cards/{{cardId}} ({}) are not findings at all)",
                stats.planted("unconfirmed_probe"),
                stats.planted("quiet_preflight"),
                stats.planted("quiet_head")
            ),
        ),
        finding(
            "shadow_host",
            None,
            INTERNAL_HOST,
            ep(Op::AdminCustomers) + ep(Op::AdminResetPassword),
            format!(
                "HTTP on odd port 9000 ({} exchanges from 10.30.0.5, no credentials: customer search by email returning emails and phones, password resets); no catalogue server covers this host",
                ep(Op::AdminCustomers) + ep(Op::AdminResetPassword)
            ),
        ),
        json!({
            "kind": "orphaned", "host": API_HOST, "method": "GET",
            "path": "/open-banking/v3.1/aisp/accounts/{AccountId}/statements", "count": 0,
            "why": "declared in aisp.yaml, never called although api.northbank.example is well covered by the capture",
        }),
        json!({
            "kind": "orphaned", "host": API_HOST, "method": "GET",
            "path": "/open-banking/v3.1/pisp/domestic-payments/{DomesticPaymentId}/payment-details", "count": 0,
            "why": "declared in pisp.yaml, never called although the other PISP operations are",
        }),
        finding(
            "zombie",
            Some(Op::Beneficiaries),
            "",
            ep(Op::Beneficiaries),
            format!("declared deprecated: true in aisp.yaml, still called {} times by the TPPs", ep(Op::Beneficiaries)),
        ),
        finding(
            "zombie",
            Some(Op::CardBlock),
            "",
            ep(Op::CardBlock),
            format!("declared deprecated: true in legacy-cards.json, still called {} times", ep(Op::CardBlock)),
        ),
        finding(
            "drift_param",
            Some(Op::Transactions),
            "",
            stats.planted("drift_param_includeCardNumber"),
            format!(
                "{} of {} calls (all from TPP 10.20.1.13) add the undeclared query parameter includeCardNumber=true",
                stats.planted("drift_param_includeCardNumber"),
                ep(Op::Transactions)
            ),
        ),
        finding(
            "drift_status",
            Some(Op::CardGet),
            "",
            status(Op::CardGet, 500),
            format!(
                "{} responses with status 500; the catalogue declares only 200 and 404",
                status(Op::CardGet, 500)
            ),
        ),
        finding(
            "drift_response_field",
            Some(Op::Balances),
            "",
            stats.planted("drift_response_field_credit_line"),
            format!(
                "{} of {} responses carry Data.Balance[].CreditLine, which the AISP schema does not declare",
                stats.planted("drift_response_field_credit_line"),
                ep(Op::Balances)
            ),
        ),
        finding(
            "drift_request_field",
            Some(Op::PaymentConsentCreate),
            "",
            stats.planted("drift_request_field_local_instrument"),
            format!(
                "{} of {} consent requests (all from TPP 10.20.1.11) send Data.Initiation.LocalInstrument, which the consent schema does not declare",
                stats.planted("drift_request_field_local_instrument"),
                ep(Op::PaymentConsentCreate)
            ),
        ),
        finding(
            "drift_content_type",
            Some(Op::Token),
            "",
            stats.planted("drift_content_type_json_token"),
            format!(
                "{} of {} token requests (all from TPP 10.20.1.13) are sent as application/json; the catalogue declares only application/x-www-form-urlencoded",
                stats.planted("drift_content_type_json_token"),
                ep(Op::Token)
            ),
        ),
        finding(
            "drift_data_class",
            Some(Op::PaymentCreate),
            "",
            stats.planted("drift_data_class_email_in_risk"),
            format!(
                "{} of {} payment requests (all from TPP 10.20.1.14) put the customer's email address into Risk.MerchantCustomerIdentification, declared as an opaque merchant id",
                stats.planted("drift_data_class_email_in_risk"),
                ep(Op::PaymentCreate)
            ),
        ),
        finding(
            "drift_auth",
            Some(Op::CustomerGet),
            "",
            stats.planted("drift_auth_no_key"),
            format!(
                "apiKey security (X-API-Key) declared globally, yet {} of {} calls carry no credential and are answered 200",
                stats.planted("drift_auth_no_key"),
                ep(Op::CustomerGet)
            ),
        ),
    ];
    let mut hosts: Vec<&str> = stats.endpoints.keys().map(|op| op.def().host).collect();
    hosts.sort_unstable();
    hosts.dedup();
    let endpoints: Vec<Value> = stats
        .endpoints
        .iter()
        .map(|(op, e)| {
            let d = op.def();
            json!({
                "host": d.host, "method": d.method, "path": d.template, "declared": d.declared,
                "exchanges": e.exchanges,
                "statuses": e.statuses.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
            })
        })
        .collect();
    json!({
        "capture": capture,
        "catalog": "catalog",
        "generator": {"seed": cfg.seed, "scale": cfg.scale},
        "http_exchanges": stats.http_exchanges,
        "hosts": hosts,
        "tls_sni": [TLS_SNI],
        "endpoints": endpoints,
        "findings": findings,
    })
}
