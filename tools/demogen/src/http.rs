//! HTTP/1.1 messages as the span port sees them (plaintext behind the TLS-offloading LB).

use std::io::Write;

use flate2::{write::GzEncoder, Compression};

use crate::util::{http_date, Rng};

/// Every operation the traffic exercises: (host, method, template, declared in the catalogue).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Op {
    AispConsentCreate,
    AispConsentGet,
    AispConsentDelete,
    Accounts,
    Account,
    Balances,
    Transactions,
    Beneficiaries,
    PaymentConsentCreate,
    PaymentConsentGet,
    PaymentCreate,
    PaymentGet,
    CardGet,
    CardBlock,
    CustomerGet,
    Token,
    AccountExport,
    Health,
    AdminCustomers,
    AdminResetPassword,
    AccountsPreflight,
    CardHead,
    ActuatorProbe,
}

pub const API_HOST: &str = "api.northbank.example";
pub const LEGACY_HOST: &str = "legacy.northbank.example";
pub const AUTH_HOST: &str = "auth.northbank.example";
pub const INTERNAL_HOST: &str = "internal-tools.northbank.example";
pub const TLS_SNI: &str = "payments.northbank.example";

pub const AISP: &str = "/open-banking/v3.1/aisp";
pub const PISP: &str = "/open-banking/v3.1/pisp";

pub struct OpDef {
    pub host: &'static str,
    pub method: &'static str,
    pub template: &'static str,
    pub declared: bool,
}

const fn d(
    host: &'static str,
    method: &'static str,
    template: &'static str,
    declared: bool,
) -> OpDef {
    OpDef {
        host,
        method,
        template,
        declared,
    }
}

pub const ALL_OPS: [Op; 23] = [
    Op::AispConsentCreate,
    Op::AispConsentGet,
    Op::AispConsentDelete,
    Op::Accounts,
    Op::Account,
    Op::Balances,
    Op::Transactions,
    Op::Beneficiaries,
    Op::PaymentConsentCreate,
    Op::PaymentConsentGet,
    Op::PaymentCreate,
    Op::PaymentGet,
    Op::CardGet,
    Op::CardBlock,
    Op::CustomerGet,
    Op::Token,
    Op::AccountExport,
    Op::Health,
    Op::AdminCustomers,
    Op::AdminResetPassword,
    Op::AccountsPreflight,
    Op::CardHead,
    Op::ActuatorProbe,
];

const OPS: [OpDef; 23] = [
    d(
        API_HOST,
        "POST",
        "/open-banking/v3.1/aisp/account-access-consents",
        true,
    ),
    d(
        API_HOST,
        "GET",
        "/open-banking/v3.1/aisp/account-access-consents/{ConsentId}",
        true,
    ),
    d(
        API_HOST,
        "DELETE",
        "/open-banking/v3.1/aisp/account-access-consents/{ConsentId}",
        true,
    ),
    d(API_HOST, "GET", "/open-banking/v3.1/aisp/accounts", true),
    d(
        API_HOST,
        "GET",
        "/open-banking/v3.1/aisp/accounts/{AccountId}",
        true,
    ),
    d(
        API_HOST,
        "GET",
        "/open-banking/v3.1/aisp/accounts/{AccountId}/balances",
        true,
    ),
    d(
        API_HOST,
        "GET",
        "/open-banking/v3.1/aisp/accounts/{AccountId}/transactions",
        true,
    ),
    d(
        API_HOST,
        "GET",
        "/open-banking/v3.1/aisp/accounts/{AccountId}/beneficiaries",
        true,
    ),
    d(
        API_HOST,
        "POST",
        "/open-banking/v3.1/pisp/domestic-payment-consents",
        true,
    ),
    d(
        API_HOST,
        "GET",
        "/open-banking/v3.1/pisp/domestic-payment-consents/{ConsentId}",
        true,
    ),
    d(
        API_HOST,
        "POST",
        "/open-banking/v3.1/pisp/domestic-payments",
        true,
    ),
    d(
        API_HOST,
        "GET",
        "/open-banking/v3.1/pisp/domestic-payments/{DomesticPaymentId}",
        true,
    ),
    d(LEGACY_HOST, "GET", "/v1/cards/{cardId}", true),
    d(LEGACY_HOST, "POST", "/v1/cards/{cardId}/block", true),
    d(LEGACY_HOST, "GET", "/v1/customers/{customerId}", true),
    d(AUTH_HOST, "POST", "/oauth2/token", true),
    d(
        API_HOST,
        "GET",
        "/open-banking/v3.1/aisp/accounts/{accountId}/export",
        false,
    ),
    d(API_HOST, "GET", "/health", false),
    d(INTERNAL_HOST, "GET", "/admin/customers", false),
    d(
        INTERNAL_HOST,
        "POST",
        "/admin/customers/{customerId}/reset-password",
        false,
    ),
    // Quiet by default: a CORS preflight and a HEAD on declared paths are not shadow endpoints.
    d(
        API_HOST,
        "OPTIONS",
        "/open-banking/v3.1/aisp/accounts",
        false,
    ),
    d(LEGACY_HOST, "HEAD", "/v1/cards/{cardId}", false),
    // Too little evidence for a shadow endpoint: an unconfirmed one.
    d(API_HOST, "GET", "/actuator/env", false),
];

impl Op {
    pub fn def(self) -> &'static OpDef {
        &OPS[self as usize]
    }
}

pub struct Req {
    pub method: &'static str,
    pub target: String,
    pub host: &'static str,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl Req {
    pub fn new(method: &'static str, host: &'static str, target: String) -> Req {
        Req {
            method,
            target,
            host,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn h(mut self, name: &'static str, value: impl Into<String>) -> Req {
        self.headers.push((name, value.into()));
        self
    }

    pub fn body(mut self, content_type: &'static str, body: impl Into<Vec<u8>>) -> Req {
        self.headers
            .push(("Content-Type", content_type.to_string()));
        self.body = body.into();
        self
    }

    pub fn render(&self) -> Vec<u8> {
        let mut s = format!(
            "{} {} HTTP/1.1\r\nHost: {}\r\n",
            self.method, self.target, self.host
        );
        for (k, v) in &self.headers {
            s.push_str(k);
            s.push_str(": ");
            s.push_str(v);
            s.push_str("\r\n");
        }
        if !self.body.is_empty() || self.method == "POST" {
            s.push_str(&format!("Content-Length: {}\r\n", self.body.len()));
        }
        s.push_str("\r\n");
        let mut out = s.into_bytes();
        out.extend_from_slice(&self.body);
        out
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `Content-Length` body.
    Plain,
    /// `Content-Encoding: gzip` + `Transfer-Encoding: chunked`.
    GzipChunked,
}

pub struct Resp {
    pub status: u16,
    pub content_type: Option<&'static str>,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
    pub mode: Mode,
    pub server: &'static str,
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        404 => "Not Found",
        500 => "Internal Server Error",
        _ => "Unknown",
    }
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::new(6));
    e.write_all(data).expect("gzip to memory");
    e.finish().expect("gzip to memory")
}

impl Resp {
    pub fn json(status: u16, server: &'static str, body: String) -> Resp {
        Resp {
            status,
            content_type: Some("application/json; charset=utf-8"),
            headers: Vec::new(),
            body: body.into_bytes(),
            mode: Mode::Plain,
            server,
        }
    }

    pub fn empty(status: u16, server: &'static str) -> Resp {
        Resp {
            status,
            content_type: None,
            headers: Vec::new(),
            body: Vec::new(),
            mode: Mode::Plain,
            server,
        }
    }

    pub fn h(mut self, name: &'static str, value: impl Into<String>) -> Resp {
        self.headers.push((name, value.into()));
        self
    }

    /// Wire bytes; `now_us` feeds the `Date` header, `rng` the chunk sizes.
    pub fn render(&self, now_us: u64, rng: &mut Rng) -> Vec<u8> {
        let mut s = format!(
            "HTTP/1.1 {} {}\r\nDate: {}\r\nServer: {}\r\n",
            self.status,
            reason(self.status),
            http_date(now_us / 1_000_000),
            self.server
        );
        if let Some(ct) = self.content_type {
            s.push_str(&format!("Content-Type: {ct}\r\n"));
        }
        for (k, v) in &self.headers {
            s.push_str(&format!("{k}: {v}\r\n"));
        }
        let mut payload = Vec::new();
        match self.mode {
            Mode::Plain => {
                if self.status != 204 {
                    s.push_str(&format!("Content-Length: {}\r\n", self.body.len()));
                }
                payload.extend_from_slice(&self.body);
            }
            Mode::GzipChunked => {
                s.push_str("Content-Encoding: gzip\r\nVary: Accept-Encoding\r\nTransfer-Encoding: chunked\r\n");
                let z = gzip(&self.body);
                let mut rest = &z[..];
                while !rest.is_empty() {
                    let n = (rng.range(2048, 8192) as usize).min(rest.len());
                    payload.extend_from_slice(format!("{n:x}\r\n").as_bytes());
                    payload.extend_from_slice(&rest[..n]);
                    payload.extend_from_slice(b"\r\n");
                    rest = &rest[n..];
                }
                payload.extend_from_slice(b"0\r\n\r\n");
            }
        }
        s.push_str("\r\n");
        let mut out = s.into_bytes();
        out.extend_from_slice(&payload);
        out
    }
}

/// One request/response pair and how the server takes its time.
pub struct Ex {
    pub op: Op,
    pub req: Req,
    pub resp: Resp,
    pub think_us: u64,
    /// Marks a planted problem this exchange carries (for the stats).
    pub tag: Option<&'static str>,
}
