//! The open-banking profile (`demogen --profile openbanking`): a bank's API behind a
//! TLS-terminating ingress that forwards each TPP's eIDAS certificate (Envoy
//! `X-Forwarded-Client-Cert`) and the TPP's address (`X-Forwarded-For`), with planted
//! open-banking problems (see `fixtures/demo-openbanking/README.md`).
//!
//! Thirty minutes of traffic in six five-minute buckets, every TPP steady except where a
//! problem is planted. Certificates are built here as DER (no certificate library: the
//! bytes must be the same on every run, and the sensor under test must read certificates it
//! did not write itself); signatures are random bytes, as a passive sensor never checks them.

use std::collections::BTreeMap;
use std::io::Write;

use crate::http::{Req, Resp};
use crate::net::{self, Conn, Ep, Sink};
use crate::util::{base64_std, base64_url, Rng};

/// 2026-03-02T10:00:00Z, microseconds.
pub const OB_START_US: u64 = 1_772_445_600 * 1_000_000;
pub const BUCKET_US: u64 = 300 * 1_000_000;
pub const BUCKETS: u64 = 6;
pub const HOST: &str = "api.alphabank.example";
/// The ingress that terminates TLS: the only peer whose certificate headers are believed.
pub const PROXY: [u8; 4] = [10, 40, 0, 5];
const SERVER: Ep = Ep {
    ip: [10, 40, 0, 10],
    port: 8080,
};
const SERVER_NAME: &str = "alphabank-gw";
const BASE: &str = "/open-banking/v3.1";

/// One endpoint of the profile: method and template (`{AccountId}` filled per call).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ObOp {
    AccountConsent,
    Accounts,
    Balances,
    Transactions,
    StandingOrders,
    Beneficiaries,
    PaymentConsent,
    Payment,
    FundsConsent,
    Funds,
}

impl ObOp {
    pub const ALL: [ObOp; 10] = [
        ObOp::AccountConsent,
        ObOp::Accounts,
        ObOp::Balances,
        ObOp::Transactions,
        ObOp::StandingOrders,
        ObOp::Beneficiaries,
        ObOp::PaymentConsent,
        ObOp::Payment,
        ObOp::FundsConsent,
        ObOp::Funds,
    ];

    /// (method, template below [`BASE`]).
    pub fn def(self) -> (&'static str, &'static str) {
        match self {
            ObOp::AccountConsent => ("POST", "/aisp/account-access-consents"),
            ObOp::Accounts => ("GET", "/aisp/accounts"),
            ObOp::Balances => ("GET", "/aisp/accounts/{AccountId}/balances"),
            ObOp::Transactions => ("GET", "/aisp/accounts/{AccountId}/transactions"),
            ObOp::StandingOrders => ("GET", "/aisp/accounts/{AccountId}/standing-orders"),
            ObOp::Beneficiaries => ("GET", "/aisp/accounts/{AccountId}/beneficiaries"),
            ObOp::PaymentConsent => ("POST", "/pisp/domestic-payment-consents"),
            ObOp::Payment => ("POST", "/pisp/domestic-payments"),
            ObOp::FundsConsent => ("POST", "/cbpii/funds-confirmation-consents"),
            ObOp::Funds => ("POST", "/cbpii/funds-confirmations"),
        }
    }

    /// The full template as the sensor reports it.
    pub fn template(self) -> String {
        format!("{BASE}{}", self.def().1)
    }

    fn creates_consent(self) -> bool {
        matches!(
            self,
            ObOp::AccountConsent | ObOp::PaymentConsent | ObOp::FundsConsent
        )
    }
}

/// A TPP of the profile.
pub struct Tpp {
    pub org_id: &'static str,
    pub name: &'static str,
    pub roles: &'static [&'static str],
    /// Validity, Unix seconds.
    pub not_before: u64,
    pub not_after: u64,
    pub ua: &'static str,
    der: Vec<u8>,
    thumbprint: Vec<u8>,
}

const Y2024: u64 = 1_704_067_200;
const Y2025_END: u64 = 1_767_139_200; // 2025-12-31T00:00:00Z
const Y2028: u64 = 1_830_297_600;

/// (org id, name, roles, not_before, not_after, user agent).
type TppDef = (
    &'static str,
    &'static str,
    &'static [&'static str],
    u64,
    u64,
    &'static str,
);
const TPPS: [TppDef; 9] = [
    (
        "PSDGB-FCA-100001",
        "Acme Accounts Ltd",
        &["PSP_AI"],
        Y2024,
        Y2028,
        "acme-aggregator/4.2",
    ),
    (
        "PSDGB-FCA-200002",
        "Beta Payments Ltd",
        &["PSP_PI"],
        Y2024,
        Y2028,
        "beta-pay/2.0",
    ),
    (
        "PSDGB-FCA-300003",
        "Cobalt Data Ltd",
        &["PSP_AI"],
        Y2024,
        Y2028,
        "cobalt/1.7",
    ),
    (
        "PSDGB-FCA-400004",
        "Delta Pay Ltd",
        &["PSP_AI", "PSP_PI"],
        Y2024,
        Y2025_END,
        "delta/3.1",
    ),
    (
        "PSDGB-FCA-500005",
        "Echo Analytics Ltd",
        &["PSP_AI"],
        Y2024,
        Y2028,
        "echo-insights/0.9",
    ),
    (
        "PSDGB-FCA-600006",
        "Fern Cards Ltd",
        &["PSP_IC"],
        Y2024,
        Y2028,
        "fern-cards/5.5",
    ),
    (
        "PSDGB-FCA-700007",
        "Gamma Budget Ltd",
        &["PSP_AI"],
        Y2024,
        Y2028,
        "gamma-budget/1.0",
    ),
    (
        "PSDGB-FCA-800008",
        "Hotel Money Ltd",
        &["PSP_AI"],
        Y2024,
        Y2028,
        "hotel-money/2.3",
    ),
    (
        "PSDGB-FCA-900009",
        "India Pay Ltd",
        &["PSP_PI"],
        Y2024,
        Y2028,
        "india-pay/1.0",
    ),
];
// Indexes into TPPS.
const ACME: usize = 0;
const BETA: usize = 1;
const COBALT: usize = 2;
const DELTA: usize = 3;
const ECHO: usize = 4;
const FERN: usize = 5;
const GAMMA: usize = 6;
const HOTEL: usize = 7;
const INDIA: usize = 8;

// ---- DER, just enough for a certificate ----

fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let n = content.len();
    if n < 0x80 {
        out.push(n as u8);
    } else {
        let bytes: Vec<u8> = n
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

fn seq(parts: &[Vec<u8>]) -> Vec<u8> {
    tlv(0x30, &parts.concat())
}

fn oid(arcs: &[u64]) -> Vec<u8> {
    let mut body = vec![(arcs[0] * 40 + arcs[1]) as u8];
    for &a in &arcs[2..] {
        let mut chunk = vec![(a & 0x7f) as u8];
        let mut rest = a >> 7;
        while rest > 0 {
            chunk.push(0x80 | (rest & 0x7f) as u8);
            rest >>= 7;
        }
        chunk.reverse();
        body.extend(chunk);
    }
    tlv(0x06, &body)
}

fn utf8(s: &str) -> Vec<u8> {
    tlv(0x0c, s.as_bytes())
}

/// `YYMMDDHHMMSSZ` (UTCTime; every date here is before 2050).
fn utc_time(secs: u64) -> Vec<u8> {
    let iso = crate::util::iso(secs); // 2026-03-02T09:00:00+00:00
    let digits: String = iso[2..19].chars().filter(char::is_ascii_digit).collect();
    tlv(0x17, format!("{digits}Z").as_bytes())
}

fn name(attrs: &[(&[u64], &str)]) -> Vec<u8> {
    let rdns: Vec<Vec<u8>> = attrs
        .iter()
        .map(|(o, v)| tlv(0x31, &seq(&[oid(o), utf8(v)])))
        .collect();
    seq(&rdns)
}

/// The qcStatements extension value with the ETSI TS 119 495 PSD2 statement.
fn psd2_statement(roles: &[&str]) -> Vec<u8> {
    const ROLES: [&str; 4] = ["PSP_AS", "PSP_PI", "PSP_AI", "PSP_IC"];
    let roles: Vec<Vec<u8>> = roles
        .iter()
        .map(|r| {
            let arc = ROLES
                .iter()
                .position(|n| n == r)
                .map_or(0, |i| i as u64 + 1);
            seq(&[oid(&[0, 4, 0, 19495, 1, arc]), utf8(r)])
        })
        .collect();
    let info = seq(&[
        seq(&roles),
        utf8("Financial Conduct Authority"),
        utf8("GB-FCA"),
    ]);
    seq(&[seq(&[oid(&[0, 4, 0, 19495, 2]), info])])
}

const ED25519: &[u64] = &[1, 3, 101, 112];

fn certificate(rng: &mut Rng, t: &TppDef) -> Vec<u8> {
    let (org_id, org, roles, not_before, not_after, _) = *t;
    let alg = seq(&[oid(ED25519)]);
    let mut serial = rng.bytes(8);
    serial[0] = (serial[0] & 0x7f) | 0x01;
    let issuer = name(&[
        (&[2, 5, 4, 6], "GB"),
        (&[2, 5, 4, 10], "Demo QTSP Ltd"),
        (&[2, 5, 4, 3], "Demo QTSP Issuing CA"),
    ]);
    let subject = name(&[
        (&[2, 5, 4, 6], "GB"),
        (&[2, 5, 4, 10], org),
        (&[2, 5, 4, 97], org_id),
        (&[2, 5, 4, 3], org_id),
    ]);
    let mut key = vec![0u8];
    key.extend(rng.bytes(32));
    let spki = seq(&[alg.clone(), tlv(0x03, &key)]);
    let qc = seq(&[
        oid(&[1, 3, 6, 1, 5, 5, 7, 1, 3]),
        tlv(0x04, &psd2_statement(roles)),
    ]);
    let tbs = seq(&[
        tlv(0xa0, &tlv(0x02, &[2])),
        tlv(0x02, &serial),
        alg.clone(),
        issuer,
        seq(&[utc_time(not_before), utc_time(not_after)]),
        subject,
        spki,
        tlv(0xa3, &seq(&[qc])),
    ]);
    let mut sig = vec![0u8];
    sig.extend(rng.bytes(64));
    seq(&[tbs, alg, tlv(0x03, &sig)])
}

fn pem(der: &[u8]) -> String {
    let b64 = base64_std(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap_or_default())
        .collect();
    format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        lines.join("\n")
    )
}

/// Envoy's XFCC element for a client certificate (`Cert` URL-encoded PEM).
fn xfcc(der: &[u8], thumbprint: &[u8]) -> String {
    let encoded: String = pem(der)
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect();
    let hash: String = thumbprint.iter().map(|b| format!("{b:02x}")).collect();
    format!("By=spiffe://alphabank.example/gateway;Hash={hash};Cert=\"{encoded}\"")
}

fn sha256(data: &[u8]) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, data)
        .as_ref()
        .to_vec()
}

// ---- the traffic ----

/// What the profile wrote.
#[derive(Clone, Debug, Default)]
pub struct ObStats {
    pub records: u64,
    pub bytes: u64,
    pub exchanges: u64,
    /// (endpoint, TPP org id) -> exchanges.
    pub calls: BTreeMap<(ObOp, &'static str), u64>,
    /// Planted problem -> exchanges carrying it.
    pub planted: BTreeMap<&'static str, u64>,
}

/// One call of the plan.
struct Call {
    t: u64,
    tpp: usize,
    op: ObOp,
    /// The consent the call names (token claim, body), or the one it creates.
    consent: Option<String>,
    token: String,
    client: [u8; 4],
    /// The interaction id sent; `None`: a valid UUID is made.
    interaction: Option<String>,
    tag: Option<&'static str>,
}

struct Plan {
    rng: Rng,
    tpps: Vec<Tpp>,
    calls: Vec<Call>,
    seq: u64,
}

impl Plan {
    fn token(&mut self, tpp: usize, consent: Option<&str>, bound_to: usize) -> String {
        let (org_id, ..) = TPPS[tpp];
        let mut claims = format!(
            "{{\"iss\":\"https://auth.alphabank.example\",\"client_id\":\"{}\",\"scope\":\"accounts payments fundsconfirmations\",\"jti\":\"{}\",\"cnf\":{{\"x5t#S256\":\"{}\"}}",
            org_id.to_ascii_lowercase(),
            self.rng.uuid(),
            base64_url(&self.tpps[bound_to].thumbprint),
        );
        if let Some(c) = consent {
            claims.push_str(&format!(",\"openbanking_intent_id\":\"{c}\""));
        }
        claims.push('}');
        let header = base64_url(br#"{"alg":"PS256","kid":"alphabank-as-2026"}"#);
        let sig = base64_url(&self.rng.bytes(64));
        format!("{header}.{}.{sig}", base64_url(claims.as_bytes()))
    }

    fn consent_id(&mut self, op: ObOp) -> String {
        let prefix = match op {
            ObOp::AccountConsent => "aac",
            ObOp::PaymentConsent => "pdc",
            _ => "fcc",
        };
        format!("{prefix}-{}", self.rng.hex(12))
    }

    /// `n` calls spread over bucket `b` (offsets drawn so that calls never share a time).
    #[allow(clippy::too_many_arguments)]
    fn calls(
        &mut self,
        b: u64,
        n: u64,
        tpp: usize,
        op: ObOp,
        consent: Option<&str>,
        token: &str,
        clients: &[[u8; 4]],
        tag: Option<&'static str>,
    ) {
        for i in 0..n {
            let t = OB_START_US + b * BUCKET_US + self.rng.range(5_000_000, BUCKET_US - 30_000_000);
            self.calls.push(Call {
                t,
                tpp,
                op,
                consent: consent.map(str::to_string),
                token: token.to_string(),
                client: clients[(i as usize) % clients.len()],
                interaction: None,
                tag,
            });
        }
    }

    /// A consent created by `tpp` early in bucket `b`, and the token that then names it.
    fn create(&mut self, b: u64, tpp: usize, op: ObOp, client: [u8; 4]) -> (String, String) {
        let id = self.consent_id(op);
        let cc_token = self.token(tpp, None, tpp);
        self.calls.push(Call {
            t: OB_START_US + b * BUCKET_US + self.rng.range(1_000_000, 4_000_000),
            tpp,
            op,
            consent: Some(id.clone()),
            token: cc_token,
            client,
            interaction: None,
            tag: None,
        });
        let token = self.token(tpp, Some(&id), tpp);
        (id, token)
    }
}

fn ip(a: u8, b: u8, c: u8, d: u8) -> [u8; 4] {
    [a, b, c, d]
}

/// The calls of the whole capture, by plan (see the module docs and the fixture README).
fn plan(seed: u64) -> Plan {
    let mut rng = Rng::derive(seed, 0x0b);
    let tpps = TPPS
        .iter()
        .map(|t| {
            let der = certificate(&mut rng, t);
            let thumbprint = sha256(&der);
            Tpp {
                org_id: t.0,
                name: t.1,
                roles: t.2,
                not_before: t.3,
                not_after: t.4,
                ua: t.5,
                der,
                thumbprint,
            }
        })
        .collect();
    let mut p = Plan {
        rng,
        tpps,
        calls: Vec::new(),
        seq: 0,
    };
    let acme_ips = [ip(198, 51, 100, 10), ip(198, 51, 100, 11)];
    let one = |d: u8| [ip(192, 0, 2, d)];

    // Acme (PSP_AI): the steady aggregator; one consent, a fresh token each bucket.
    let (acme_consent, _) = p.create(0, ACME, ObOp::AccountConsent, acme_ips[0]);
    for b in 0..BUCKETS {
        let tok = p.token(ACME, Some(&acme_consent), ACME);
        for (op, n) in [
            (ObOp::Accounts, 6),
            (ObOp::Balances, 6),
            (ObOp::Transactions, 4),
            (ObOp::StandingOrders, 2),
        ] {
            let tag = match op {
                ObOp::StandingOrders => Some("fapi_not_echoed"),
                // The gateway starts returning full IBANs on the accounts list.
                ObOp::Accounts if b == BUCKETS - 1 => Some("new_data_class"),
                _ => None,
            };
            p.calls(b, n, ACME, op, Some(&acme_consent), &tok, &acme_ips, tag);
        }
    }
    // Beta (PSP_PI): one payment consent and one payment per bucket.
    for b in 0..BUCKETS {
        let (c, tok) = p.create(b, BETA, ObOp::PaymentConsent, one(20)[0]);
        p.calls(b, 1, BETA, ObOp::Payment, Some(&c), &tok, &one(20), None);
    }
    // Cobalt (PSP_AI only): initiates payments, and reads with Acme's consent once.
    let (cobalt_consent, cobalt_tok) = p.create(0, COBALT, ObOp::AccountConsent, one(30)[0]);
    for b in 0..BUCKETS {
        p.calls(
            b,
            3,
            COBALT,
            ObOp::Accounts,
            Some(&cobalt_consent),
            &cobalt_tok,
            &one(30),
            None,
        );
        p.calls(
            b,
            2,
            COBALT,
            ObOp::Transactions,
            Some(&cobalt_consent),
            &cobalt_tok,
            &one(30),
            None,
        );
    }
    let (pay, pay_tok) = p.create(1, COBALT, ObOp::PaymentConsent, one(30)[0]);
    p.calls(
        1,
        2,
        COBALT,
        ObOp::Payment,
        Some(&pay),
        &pay_tok,
        &one(30),
        Some("role_mismatch"),
    );
    let foreign = p.token(COBALT, Some(&acme_consent), COBALT);
    p.calls(
        4,
        1,
        COBALT,
        ObOp::Transactions,
        Some(&acme_consent),
        &foreign,
        &one(30),
        Some("consent_foreign_use"),
    );
    // Delta (PSP_AI, PSP_PI): its certificate expired on 2025-12-31.
    let (c, tok) = p.create(0, DELTA, ObOp::AccountConsent, one(40)[0]);
    for b in 0..BUCKETS {
        p.calls(
            b,
            2,
            DELTA,
            ObOp::Balances,
            Some(&c),
            &tok,
            &one(40),
            Some("expired_certificate"),
        );
    }
    // Echo (PSP_AI): two reads a bucket, then forty in the last one.
    let (c, tok) = p.create(0, ECHO, ObOp::AccountConsent, one(50)[0]);
    for b in 0..BUCKETS {
        let (n, tag) = if b == BUCKETS - 1 {
            (40, Some("volume_jump"))
        } else {
            (2, None)
        };
        p.calls(
            b,
            n,
            ECHO,
            ObOp::Transactions,
            Some(&c),
            &tok,
            &one(50),
            tag,
        );
    }
    // Fern (PSP_IC): interaction ids that are not UUIDs; once a token bound to Beta's certificate.
    let (c, tok) = p.create(0, FERN, ObOp::FundsConsent, one(60)[0]);
    for b in 0..BUCKETS {
        let start = p.calls.len();
        p.calls(
            b,
            2,
            FERN,
            ObOp::Funds,
            Some(&c),
            &tok,
            &one(60),
            Some("fapi_interaction_invalid"),
        );
        for (i, call) in p.calls[start..].iter_mut().enumerate() {
            call.interaction = Some(format!("fern-{b}-{i}"));
        }
    }
    let stolen = p.token(FERN, Some(&c), BETA);
    let start = p.calls.len();
    p.calls(
        3,
        1,
        FERN,
        ObOp::Funds,
        Some(&c),
        &stolen,
        &one(60),
        Some("token_bound_to_other_certificate"),
    );
    p.calls[start].interaction = Some("fern-3-stolen".into());
    // Gamma (PSP_AI): reads beneficiaries with a token that names no consent.
    let tok = p.token(GAMMA, None, GAMMA);
    for b in 0..BUCKETS {
        p.calls(
            b,
            2,
            GAMMA,
            ObOp::Beneficiaries,
            None,
            &tok,
            &one(70),
            Some("consent_missing"),
        );
    }
    // Hotel (PSP_AI): one token for the whole capture, from twelve addresses.
    let (c, tok) = p.create(0, HOTEL, ObOp::AccountConsent, one(80)[0]);
    let spread: Vec<[u8; 4]> = (1..=12).map(|d| ip(203, 0, 113, d)).collect();
    for b in 0..BUCKETS {
        let from = &spread[(b as usize * 2) % spread.len()..][..2];
        p.calls(
            b,
            2,
            HOTEL,
            ObOp::Accounts,
            Some(&c),
            &tok,
            from,
            Some("token_many_addresses"),
        );
    }
    // India (PSP_PI): first seen in the last bucket, initiating payments.
    let (c, tok) = p.create(BUCKETS - 1, INDIA, ObOp::PaymentConsent, one(90)[0]);
    p.calls(
        BUCKETS - 1,
        3,
        INDIA,
        ObOp::Payment,
        Some(&c),
        &tok,
        &one(90),
        Some("new_consumer"),
    );
    p.calls.sort_by_key(|c| c.t);
    p
}

fn account_id(rng: &mut Rng) -> String {
    format!("acc-{}", rng.range(10_000, 10_050))
}

impl Plan {
    fn exchange(&mut self, call: &Call) -> (Req, Resp) {
        let tpp = &self.tpps[call.tpp];
        let (method, template) = call.op.def();
        let account = account_id(&mut self.rng);
        let path = format!("{BASE}{}", template.replace("{AccountId}", &account));
        let interaction = call.interaction.clone().unwrap_or_else(|| self.rng.uuid());
        let cert = xfcc(&tpp.der, &tpp.thumbprint);
        let client = call.client;
        let mut req = Req::new(method, HOST, path)
            .h("Authorization", format!("Bearer {}", call.token))
            .h("x-fapi-financial-id", "0015800001041RHAAY")
            .h("x-fapi-interaction-id", interaction.clone())
            .h(
                "X-Forwarded-For",
                format!("{}.{}.{}.{}", client[0], client[1], client[2], client[3]),
            )
            .h("X-Forwarded-Client-Cert", cert)
            .h("User-Agent", tpp.ua)
            .h("Accept", "application/json");
        let consent = call.consent.clone().unwrap_or_default();
        let now = (call.t / 1_000_000).to_string();
        let (status, body) = match call.op {
            ObOp::AccountConsent => {
                req = req.h("x-idempotency-key", self.rng.hex(16)).body(
                    "application/json",
                    r#"{"Data":{"Permissions":["ReadAccountsBasic","ReadBalances","ReadTransactionsDetail"]},"Risk":{}}"#,
                );
                (
                    201,
                    format!(
                        r#"{{"Data":{{"ConsentId":"{consent}","Status":"AwaitingAuthorisation","CreationDateTime":"{now}"}},"Risk":{{}}}}"#
                    ),
                )
            }
            ObOp::PaymentConsent | ObOp::Payment => {
                let amount = format!("{}.{:02}", self.rng.range(5, 400), self.rng.below(100));
                let consent_field = if call.op == ObOp::Payment {
                    format!(r#""ConsentId":"{consent}","#)
                } else {
                    String::new()
                };
                let body = format!(
                    r#"{{"Data":{{{consent_field}"Initiation":{{"InstructionIdentification":"{}","EndToEndIdentification":"{}","InstructedAmount":{{"Amount":"{amount}","Currency":"GBP"}}}}}},"Risk":{{}}}}"#,
                    self.rng.hex(10),
                    self.rng.hex(10)
                );
                req = req
                    .h("x-idempotency-key", self.rng.hex(16))
                    .h(
                        "x-jws-signature",
                        format!(
                            "{}..{}",
                            base64_url(br#"{"alg":"PS256"}"#),
                            base64_url(&self.rng.bytes(48))
                        ),
                    )
                    .body("application/json", body);
                let resp = if call.op == ObOp::Payment {
                    format!(
                        r#"{{"Data":{{"DomesticPaymentId":"dp-{}","ConsentId":"{consent}","Status":"AcceptedSettlementInProcess"}}}}"#,
                        self.rng.hex(10)
                    )
                } else {
                    format!(
                        r#"{{"Data":{{"ConsentId":"{consent}","Status":"AwaitingAuthorisation"}},"Risk":{{}}}}"#
                    )
                };
                (201, resp)
            }
            ObOp::FundsConsent => {
                req = req.body(
                    "application/json",
                    r#"{"Data":{"ExpirationDateTime":"2026-09-01T00:00:00+00:00"}}"#,
                );
                (
                    201,
                    format!(
                        r#"{{"Data":{{"ConsentId":"{consent}","Status":"AwaitingAuthorisation"}}}}"#
                    ),
                )
            }
            ObOp::Funds => {
                let amount = format!("{}.00", self.rng.range(5, 400));
                req = req.body(
                    "application/json",
                    format!(r#"{{"Data":{{"ConsentId":"{consent}","Reference":"Purchase","InstructedAmount":{{"Amount":"{amount}","Currency":"GBP"}}}}}}"#),
                );
                (201, r#"{"Data":{"FundsAvailable":true}}"#.to_string())
            }
            ObOp::Accounts if call.tag == Some("new_data_class") => {
                let number: u32 = account.trim_start_matches("acc-").parse().unwrap_or(10_000);
                let iban = crate::util::gb_iban("ALPH", 401_276, 30_000_000 + number);
                (
                    200,
                    format!(
                        r#"{{"Data":{{"Account":[{{"AccountId":"{account}","Currency":"GBP","AccountType":"Personal","AccountSubType":"CurrentAccount","Account":[{{"SchemeName":"UK.OBIE.IBAN","Identification":"{iban}"}}]}}]}}}}"#
                    ),
                )
            }
            ObOp::Accounts => (
                200,
                format!(
                    r#"{{"Data":{{"Account":[{{"AccountId":"{account}","Currency":"GBP","AccountType":"Personal","AccountSubType":"CurrentAccount"}}]}}}}"#
                ),
            ),
            ObOp::Balances => (
                200,
                format!(
                    r#"{{"Data":{{"Balance":[{{"AccountId":"{account}","Amount":{{"Amount":"{}.{:02}","Currency":"GBP"}},"CreditDebitIndicator":"Credit","Type":"InterimAvailable"}}]}}}}"#,
                    self.rng.range(10, 9000),
                    self.rng.below(100)
                ),
            ),
            ObOp::Transactions => (
                200,
                format!(
                    r#"{{"Data":{{"Transaction":[{{"AccountId":"{account}","TransactionId":"tx-{}","Amount":{{"Amount":"{}.00","Currency":"GBP"}},"CreditDebitIndicator":"Debit","Status":"Booked"}}]}}}}"#,
                    self.rng.hex(8),
                    self.rng.range(1, 300)
                ),
            ),
            ObOp::StandingOrders => (
                200,
                format!(
                    r#"{{"Data":{{"StandingOrder":[{{"AccountId":"{account}","Frequency":"EvryWorkgDay","NextPaymentAmount":{{"Amount":"25.00","Currency":"GBP"}}}}]}}}}"#
                ),
            ),
            ObOp::Beneficiaries => (
                200,
                format!(
                    r#"{{"Data":{{"Beneficiary":[{{"AccountId":"{account}","BeneficiaryId":"bnf-{}","Reference":"Rent"}}]}}}}"#,
                    self.rng.hex(6)
                ),
            ),
        };
        let mut resp = Resp::json(status, SERVER_NAME, body);
        // The gateway's standing-orders route was deployed without the FAPI filter: it does
        // not echo the interaction id.
        if call.op != ObOp::StandingOrders {
            resp = resp.h("x-fapi-interaction-id", interaction);
        }
        (req, resp)
    }
}

/// Writes the open-banking profile's capture (legacy pcap, Ethernet) to `out`.
pub fn generate(seed: u64, out: &mut impl Write) -> anyhow::Result<ObStats> {
    let mut p = plan(seed);
    let mut stats = ObStats::default();
    let mut sink = Sink::default();
    let calls = std::mem::take(&mut p.calls);
    for call in &calls {
        let (req, resp) = p.exchange(call);
        p.seq += 1;
        let c = Ep {
            ip: PROXY,
            port: 20_000 + (p.seq % 40_000) as u16,
        };
        let mut rng = Rng::derive(seed, 0x0b00 + p.seq);
        let mut conn = Conn::open(&mut sink, &mut rng, c, SERVER, call.t, true);
        conn.retransmit_p = 0.0;
        conn.t += rng.range(200, 900);
        conn.send(&mut sink, &mut rng, true, &req.render(), false);
        conn.t += rng.range(2_000, 40_000);
        let bytes = resp.render(conn.t, &mut rng);
        conn.send(&mut sink, &mut rng, false, &bytes, false);
        conn.t += rng.range(1_000, 5_000);
        conn.close(&mut sink, &mut rng);
        stats.exchanges += 1;
        *stats.calls.entry((call.op, TPPS[call.tpp].0)).or_default() += 1;
        if let Some(tag) = call.tag {
            *stats.planted.entry(tag).or_default() += 1;
        }
        if call.op.creates_consent() {
            *stats.planted.entry("consents_created").or_default() += 1;
        }
    }
    net::write_pcap_header(out)?;
    stats.bytes = 24;
    sink.pkts.sort_unstable_by_key(|p| (p.ts, p.ord));
    for pkt in &sink.pkts {
        stats.bytes += net::write_pcap_record(out, pkt.ts, &pkt.frame)?;
    }
    stats.records = sink.pkts.len() as u64;
    out.flush()?;
    Ok(stats)
}

/// The TPPs of the profile (org id, name, roles, validity), for the fixture README and tests.
pub fn tpps() -> Vec<(
    &'static str,
    &'static str,
    &'static [&'static str],
    u64,
    u64,
)> {
    TPPS.iter().map(|t| (t.0, t.1, t.2, t.3, t.4)).collect()
}
