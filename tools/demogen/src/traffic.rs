//! The bank: its accounts, clients and cards, and one round of traffic.

use std::collections::HashMap;

use serde_json::{json, Value};

use crate::http::*;
use crate::net::{self, Conn, Ep, Sink};
use crate::util::{base64_std, base64_url, gb_iban, iso, make_pan, Rng};
use crate::Stats;

pub const API_SRV: Ep = Ep {
    ip: [10, 10, 0, 10],
    port: 8080,
};
pub const LEGACY_SRV: Ep = Ep {
    ip: [10, 10, 0, 20],
    port: 80,
};
pub const AUTH_SRV: Ep = Ep {
    ip: [10, 10, 0, 30],
    port: 8080,
};
pub const INTERNAL_SRV: Ep = Ep {
    ip: [10, 10, 0, 40],
    port: 9000,
};
pub const TLS_SRV: Ep = Ep {
    ip: [10, 10, 0, 50],
    port: 443,
};
pub const SSH_SRV: Ep = Ep {
    ip: [10, 10, 0, 40],
    port: 22,
};
pub const PG_SRV: Ep = Ep {
    ip: [10, 10, 0, 60],
    port: 5432,
};
pub const DNS_SRV: Ep = Ep {
    ip: [10, 0, 0, 53],
    port: 53,
};
pub const TPP_IPS: [[u8; 4]; 4] = [
    [10, 20, 1, 11],
    [10, 20, 1, 12],
    [10, 20, 1, 13],
    [10, 20, 1, 14],
];
pub const LEGACY_IPS: [[u8; 4]; 2] = [[10, 20, 2, 21], [10, 20, 2, 22]];
pub const MONITOR_IP: [u8; 4] = [10, 30, 0, 9];
pub const ADMIN_IP: [u8; 4] = [10, 30, 0, 5];
/// A TPP's browser dashboard calling the AISP from JavaScript: CORS preflights.
pub const BROWSER_IP: [u8; 4] = [10, 20, 3, 31];
/// A scanner trying well-known framework paths.
pub const SCANNER_IP: [u8; 4] = [10, 30, 0, 66];

/// Index of the TPP that pipelines (10.20.1.12).
const PIPELINING_TPP: usize = 1;
/// Index of the TPP that adds `includeCardNumber=true` (10.20.1.13).
const DRIFT_PARAM_TPP: usize = 2;
/// Index of the TPP that calls the shadow export endpoint (10.20.1.14).
const EXPORT_TPP: usize = 3;
/// Index of the TPP that adds the undeclared `LocalInstrument` to payment consents (10.20.1.11).
const DRIFT_FIELD_TPP: usize = 0;
/// Index of the TPP that posts its token requests as JSON (10.20.1.13).
const JSON_TOKEN_TPP: usize = 2;
/// Index of the TPP that puts the customer's email into `Risk.MerchantCustomerIdentification`
/// (10.20.1.14).
const EMAIL_RISK_TPP: usize = 3;

const FIN_ID: &str = "0015800001NBNKAAA";
const API_SERVER: &str = "northbank-gw/3.1";
const LEGACY_SERVER: &str = "Apache-Coyote/1.1";
const SEC: u64 = 1_000_000;
const MS: u64 = 1_000;

pub struct Account {
    pub id: u32,
    pub iban: String,
    pub currency: &'static str,
    pub nickname: &'static str,
    pub name: String,
}

pub struct Customer {
    pub id: u32,
    pub name: String,
    pub email: String,
    pub phone: String,
}

pub struct Tpp {
    pub ip: [u8; 4],
    pub org: &'static str,
    pub client_id: String,
    pub secret: String,
    pub kid: String,
    pub ua: &'static str,
    pub accounts: Vec<usize>,
}

pub struct LegacyClient {
    pub ip: [u8; 4],
    pub api_key: String,
    pub ua: &'static str,
}

pub struct World {
    pub accounts: Vec<Account>,
    pub customers: Vec<Customer>,
    pub cards: Vec<u32>,
    pub tpps: Vec<Tpp>,
    pub legacy: Vec<LegacyClient>,
    ports: HashMap<[u8; 4], u16>,
    port_rng: Rng,
}

const FIRST: [&str; 10] = [
    "Alex", "Sam", "Jo", "Robin", "Charlie", "Morgan", "Jamie", "Taylor", "Casey", "Riley",
];
const LAST: [&str; 6] = [
    "Example",
    "Sample",
    "Testperson",
    "Placeholder",
    "Fictional",
    "Demo",
];
const NICKNAMES: [&str; 8] = [
    "Bills",
    "Household",
    "Savings",
    "Holiday",
    "Main",
    "Joint",
    "Rainy day",
    "Business",
];
const PAN_PREFIXES: [&str; 8] = [
    "411111", "424242", "400005", "401288", "491761", "450875", "476173", "455673",
];

fn distinct(rng: &mut Rng, n: usize, lo: u64, hi: u64) -> Vec<u32> {
    let mut v: Vec<u32> = Vec::with_capacity(n);
    while v.len() < n {
        let x = rng.range(lo, hi) as u32;
        if !v.contains(&x) {
            v.push(x);
        }
    }
    v
}

impl World {
    pub fn new(seed: u64) -> World {
        let mut rng = Rng::derive(seed, 1);
        let accounts = distinct(&mut rng, 40, 10_000, 99_999)
            .into_iter()
            .map(|id| {
                let sort = 400_000 + rng.below(100_000) as u32;
                let acct = 10_000_000 + rng.below(90_000_000) as u32;
                Account {
                    id,
                    iban: gb_iban("NBNK", sort, acct),
                    currency: if rng.chance(0.85) { "GBP" } else { "EUR" },
                    nickname: NICKNAMES[rng.below(NICKNAMES.len() as u64) as usize],
                    name: format!("{} {}", rng.pick(&FIRST), rng.pick(&LAST)),
                }
            })
            .collect();
        let customers = distinct(&mut rng, 60, 100_000, 999_999)
            .into_iter()
            .map(|id| {
                let first = *rng.pick(&FIRST);
                let last = *rng.pick(&LAST);
                Customer {
                    id,
                    name: format!("{first} {last}"),
                    email: format!(
                        "{}.{}{}@example.com",
                        first.to_lowercase(),
                        last.to_lowercase(),
                        id % 1000
                    ),
                    phone: format!("+447700900{:03}", rng.below(1000)),
                }
            })
            .collect();
        let cards = distinct(&mut rng, 80, 1_000_000, 9_999_999);
        const ORGS: [(&str, &str); 4] = [
            ("budgetly", "Budgetly/4.2 (+https://budgetly.example)"),
            ("paywise", "PayWise-Connector/1.9"),
            ("ledgerloop", "ledgerloop-aggregator/7.0.3"),
            ("quickfin", "QuickFin-OB-Client/2.11"),
        ];
        let tpps = ORGS
            .iter()
            .enumerate()
            .map(|(i, (org, ua))| {
                let start = i * 9;
                let n = 6 + rng.below(5) as usize;
                Tpp {
                    ip: TPP_IPS[i],
                    org,
                    client_id: format!("{org}-{}", rng.hex(12)),
                    secret: base64_url(&rng.bytes(24)),
                    kid: rng.hex(20),
                    ua,
                    accounts: (start..start + n).map(|a| a % 40).collect(),
                }
            })
            .collect();
        let legacy = LEGACY_IPS
            .iter()
            .zip(["card-portal/2.3 (Java/1.8.0_402)", "branch-desk/5.1"])
            .map(|(ip, ua)| LegacyClient {
                ip: *ip,
                api_key: rng.hex(32),
                ua,
            })
            .collect();
        World {
            accounts,
            customers,
            cards,
            tpps,
            legacy,
            ports: HashMap::new(),
            port_rng: Rng::derive(seed, 2),
        }
    }

    /// A fresh ephemeral port for `ip` (Linux range 32768-60999).
    fn port(&mut self, ip: [u8; 4]) -> u16 {
        let step = 1 + self.port_rng.below(4) as u16;
        let start = 33_000 + self.port_rng.below(20_000) as u16;
        let p = self.ports.entry(ip).or_insert(start);
        *p = if *p + step > 60_999 {
            32_768
        } else {
            *p + step
        };
        *p
    }
}

/// A signed-looking (not really signed) PS256 JWT access token.
fn jwt(rng: &mut Rng, tpp: &Tpp, now_s: u64) -> String {
    let header = json!({"alg": "PS256", "typ": "JWT", "kid": tpp.kid});
    let payload = json!({
        "iss": "https://auth.northbank.example",
        "client_id": tpp.client_id,
        "sub": tpp.client_id,
        "scope": "accounts",
        "iat": now_s,
        "exp": now_s + 3600,
        "jti": rng.uuid(),
    });
    format!(
        "{}.{}.{}",
        base64_url(header.to_string().as_bytes()),
        base64_url(payload.to_string().as_bytes()),
        base64_url(&rng.bytes(256))
    )
}

fn links(path: &str) -> Value {
    json!({"Self": format!("https://api.northbank.example{path}")})
}

fn meta() -> Value {
    json!({"TotalPages": 1})
}

fn money(rng: &mut Rng, lo: u64, hi: u64) -> String {
    let p = rng.range(lo, hi);
    format!("{}.{:02}", p / 100, p % 100)
}

/// Per-round context.
struct Round<'a> {
    w: &'a mut World,
    rng: Rng,
    sink: &'a mut Sink,
    stats: &'a mut Stats,
}

impl Round<'_> {
    fn account_json(&self, a: &Account) -> Value {
        json!({
            "AccountId": a.id.to_string(),
            "Currency": a.currency,
            "AccountType": "Personal",
            "AccountSubType": "CurrentAccount",
            "Nickname": a.nickname,
            "Account": [{
                "SchemeName": "UK.OBIE.IBAN",
                "Identification": a.iban,
                "Name": a.name,
            }]
        })
    }

    fn tpp_req(
        &mut self,
        tpp: usize,
        token: &str,
        method: &'static str,
        target: String,
    ) -> (Req, String) {
        let fapi = self.rng.uuid();
        let t = &self.w.tpps[tpp];
        let req = Req::new(method, API_HOST, target)
            .h("User-Agent", t.ua)
            .h("Accept", "application/json")
            .h("Accept-Encoding", "gzip, deflate")
            .h("Authorization", format!("Bearer {token}"))
            .h("x-fapi-financial-id", FIN_ID)
            .h("x-fapi-interaction-id", fapi.clone());
        (req, fapi)
    }

    fn api_resp(&mut self, status: u16, body: Option<Value>, fapi: String) -> Resp {
        let r = match body {
            Some(b) => Resp::json(status, API_SERVER, b.to_string()),
            None => Resp::empty(status, API_SERVER),
        };
        r.h("x-fapi-interaction-id", fapi)
    }

    fn think(&mut self, lo_ms: u64, hi_ms: u64) -> u64 {
        self.rng.range(lo_ms * MS, hi_ms * MS)
    }

    fn consent_perms() -> Value {
        json!([
            "ReadAccountsDetail",
            "ReadBalances",
            "ReadBeneficiariesDetail",
            "ReadTransactionsDetail"
        ])
    }

    fn aisp_journey(&mut self, tpp: usize, token: &str, now_s: u64, out: &mut Vec<Ex>) {
        // consent create + get
        let consent = self.rng.uuid();
        let exp = iso(now_s + 90 * 86_400);
        let (req, fapi) = self.tpp_req(
            tpp,
            token,
            "POST",
            format!("{AISP}/account-access-consents"),
        );
        let body = json!({
            "Data": {
                "Permissions": Self::consent_perms(),
                "ExpirationDateTime": exp,
                "TransactionFromDateTime": "2025-12-01T00:00:00+00:00",
                "TransactionToDateTime": exp,
            },
            "Risk": {}
        });
        let req = req.body("application/json", body.to_string());
        let consent_data = |status: &str| {
            json!({
                "Data": {
                    "ConsentId": consent,
                    "CreationDateTime": iso(now_s),
                    "Status": status,
                    "StatusUpdateDateTime": iso(now_s),
                    "Permissions": Self::consent_perms(),
                    "ExpirationDateTime": exp,
                },
                "Risk": {},
                "Links": links(&format!("{AISP}/account-access-consents/{consent}")),
                "Meta": meta(),
            })
        };
        let resp = self.api_resp(201, Some(consent_data("AwaitingAuthorisation")), fapi);
        let think = self.think(20, 120);
        out.push(Ex {
            op: Op::AispConsentCreate,
            req,
            resp,
            think_us: think,
            tag: None,
        });
        let (req, fapi) = self.tpp_req(
            tpp,
            token,
            "GET",
            format!("{AISP}/account-access-consents/{consent}"),
        );
        let resp = self.api_resp(200, Some(consent_data("Authorised")), fapi);
        let think = self.think(5, 40);
        out.push(Ex {
            op: Op::AispConsentGet,
            req,
            resp,
            think_us: think,
            tag: None,
        });
        // accounts list
        let (req, fapi) = self.tpp_req(tpp, token, "GET", format!("{AISP}/accounts"));
        let accts: Vec<usize> = self.w.tpps[tpp].accounts.clone();
        let list: Vec<Value> = accts
            .iter()
            .map(|&a| self.account_json(&self.w.accounts[a]))
            .collect();
        let body = json!({"Data": {"Account": list}, "Links": links(&format!("{AISP}/accounts")), "Meta": meta()});
        let resp = self.api_resp(200, Some(body), fapi);
        let think = self.think(15, 90);
        out.push(Ex {
            op: Op::Accounts,
            req,
            resp,
            think_us: think,
            tag: None,
        });
        let k = 1 + self.rng.below(3);
        for _ in 0..k {
            let a = *self.rng.pick(&accts);
            self.account_ops(tpp, token, a, now_s, true, out);
        }
    }

    fn account_ops(
        &mut self,
        tpp: usize,
        token: &str,
        a: usize,
        now_s: u64,
        full: bool,
        out: &mut Vec<Ex>,
    ) {
        let id = self.w.accounts[a].id;
        if full || self.rng.chance(0.4) {
            if self.rng.chance(0.06) {
                // an account the TPP mistyped or that was closed
                let bad = self.rng.range(10_000, 99_999);
                let (req, fapi) = self.tpp_req(tpp, token, "GET", format!("{AISP}/accounts/{bad}"));
                let body = json!({
                    "Code": "404",
                    "Id": self.rng.uuid(),
                    "Message": "Resource not found",
                    "Errors": [{"ErrorCode": "UK.OBIE.Resource.NotFound", "Message": "Account not found"}],
                });
                let resp = self.api_resp(404, Some(body), fapi);
                let think = self.think(5, 30);
                out.push(Ex {
                    op: Op::Account,
                    req,
                    resp,
                    think_us: think,
                    tag: None,
                });
            }
            let (req, fapi) = self.tpp_req(tpp, token, "GET", format!("{AISP}/accounts/{id}"));
            let acct = self.account_json(&self.w.accounts[a]);
            let body = json!({"Data": {"Account": [acct]}, "Links": links(&format!("{AISP}/accounts/{id}")), "Meta": meta()});
            let resp = self.api_resp(200, Some(body), fapi);
            let think = self.think(8, 60);
            out.push(Ex {
                op: Op::Account,
                req,
                resp,
                think_us: think,
                tag: None,
            });
        }
        // balances
        let (req, fapi) = self.tpp_req(tpp, token, "GET", format!("{AISP}/accounts/{id}/balances"));
        let cur = self.w.accounts[a].currency;
        // A newer gateway build on part of the fleet adds the OBIE `CreditLine` array that the
        // bank's published spec does not declare (drift_response_field).
        let credit_line = self.rng.chance(0.3);
        let bal: Vec<Value> = ["InterimAvailable", "InterimBooked"]
            .iter()
            .map(|ty| {
                let mut b = json!({
                    "AccountId": id.to_string(),
                    "Amount": {"Amount": money(&mut self.rng, 1_000, 2_500_000), "Currency": cur},
                    "CreditDebitIndicator": "Credit",
                    "Type": ty,
                    "DateTime": iso(now_s),
                });
                if credit_line {
                    b["CreditLine"] = json!([{
                        "Included": true,
                        "Type": "Pre-Agreed",
                        "Amount": {"Amount": "500.00", "Currency": cur},
                    }]);
                }
                b
            })
            .collect();
        let body = json!({"Data": {"Balance": bal}, "Links": links(&format!("{AISP}/accounts/{id}/balances")), "Meta": meta()});
        let resp = self.api_resp(200, Some(body), fapi);
        let think = self.think(10, 80);
        out.push(Ex {
            op: Op::Balances,
            req,
            resp,
            think_us: think,
            tag: credit_line.then_some("drift_response_field_credit_line"),
        });
        if self.rng.chance(if full { 0.12 } else { 0.06 }) {
            self.transactions(tpp, token, a, now_s, out);
        }
        if self.rng.chance(if full { 0.3 } else { 0.1 }) {
            let (req, fapi) = self.tpp_req(
                tpp,
                token,
                "GET",
                format!("{AISP}/accounts/{id}/beneficiaries"),
            );
            let n = 1 + self.rng.below(4);
            let list: Vec<Value> = (0..n)
                .map(|_| {
                    let b = &self.w.accounts[self.rng.below(40) as usize];
                    json!({
                        "AccountId": id.to_string(),
                        "BeneficiaryId": self.rng.uuid(),
                        "Reference": format!("REF{}", self.rng.range(1000, 9999)),
                        "CreditorAccount": {"SchemeName": "UK.OBIE.IBAN", "Identification": b.iban, "Name": b.name},
                    })
                })
                .collect();
            let body = json!({"Data": {"Beneficiary": list}, "Links": links(&format!("{AISP}/accounts/{id}/beneficiaries")), "Meta": meta()});
            let resp = self.api_resp(200, Some(body), fapi);
            let think = self.think(10, 70);
            out.push(Ex {
                op: Op::Beneficiaries,
                req,
                resp,
                think_us: think,
                tag: Some("zombie_beneficiaries"),
            });
        }
    }

    fn transactions(&mut self, tpp: usize, token: &str, a: usize, _now_s: u64, out: &mut Vec<Ex>) {
        let id = self.w.accounts[a].id;
        let cur = self.w.accounts[a].currency;
        let mut target = format!(
            "{AISP}/accounts/{id}/transactions?fromBookingDateTime=2026-02-01T00:00:00&toBookingDateTime=2026-03-01T00:00:00"
        );
        let drift = tpp == DRIFT_PARAM_TPP && self.rng.chance(0.5);
        if drift {
            target.push_str("&includeCardNumber=true");
        }
        let (req, fapi) = self.tpp_req(tpp, token, "GET", target);
        let want = self.rng.range(20_000, 80_000) as usize;
        let mut txs: Vec<Value> = Vec::new();
        let mut size = 200;
        let feb1 = 1_769_904_000u64; // 2026-02-01T00:00:00Z
        let mut bal = self.rng.range(50_000, 900_000) as i64;
        const INFO: [&str; 8] = [
            "CARD PAYMENT GROCER EXAMPLE",
            "DIRECT DEBIT ENERGY CO EXAMPLE",
            "FASTER PAYMENT RECEIVED",
            "STANDING ORDER RENT",
            "CARD PAYMENT COFFEE EXAMPLE",
            "ATM WITHDRAWAL",
            "SALARY EXAMPLE LTD",
            "ONLINE TRANSFER",
        ];
        while size < want {
            let credit = self.rng.chance(0.2);
            let amt = self.rng.range(150, 120_000) as i64;
            bal += if credit { amt } else { -amt };
            let when = feb1 + self.rng.below(28 * 86_400);
            let tx = json!({
                "AccountId": id.to_string(),
                "TransactionId": self.rng.uuid(),
                "TransactionReference": format!("NB{}", self.rng.hex(10).to_uppercase()),
                "Amount": {"Amount": format!("{}.{:02}", amt / 100, amt % 100), "Currency": cur},
                "CreditDebitIndicator": if credit { "Credit" } else { "Debit" },
                "Status": "Booked",
                "BookingDateTime": iso(when),
                "ValueDateTime": iso(when),
                "TransactionInformation": self.rng.pick(&INFO),
                "BankTransactionCode": {"Code": "ReceivedCreditTransfer", "SubCode": "DomesticCreditTransfer"},
                "Balance": {
                    "Amount": {"Amount": format!("{}.{:02}", bal.abs() / 100, bal.abs() % 100), "Currency": cur},
                    "CreditDebitIndicator": if bal >= 0 { "Credit" } else { "Debit" },
                    "Type": "InterimBooked",
                },
            });
            size += tx.to_string().len() + 1;
            txs.push(tx);
        }
        let body = json!({"Data": {"Transaction": txs}, "Links": links(&format!("{AISP}/accounts/{id}/transactions")), "Meta": meta()});
        let mut resp = self.api_resp(200, Some(body), fapi);
        if self.rng.chance(0.6) {
            resp.mode = Mode::GzipChunked;
        }
        let think = self.think(80, 400);
        out.push(Ex {
            op: Op::Transactions,
            req,
            resp,
            think_us: think,
            tag: drift.then_some("drift_param_includeCardNumber"),
        });
    }

    fn initiation(&mut self) -> Value {
        let b = &self.w.accounts[self.rng.below(40) as usize];
        json!({
            "InstructionIdentification": format!("INSTR-{}", self.rng.hex(12)),
            "EndToEndIdentification": format!("E2E-{}", self.rng.hex(12)),
            "InstructedAmount": {"Amount": money(&mut self.rng, 100, 250_000), "Currency": "GBP"},
            "CreditorAccount": {"SchemeName": "UK.OBIE.IBAN", "Identification": b.iban, "Name": b.name},
            "RemittanceInformation": {"Reference": format!("INV-{}", self.rng.range(10_000, 99_999))},
        })
    }

    fn pisp_journey(&mut self, tpp: usize, token: &str, now_s: u64, out: &mut Vec<Ex>) {
        let consent = self.rng.uuid();
        let init = self.initiation();
        let risk = json!({"PaymentContextCode": "EcommerceGoods"});
        let (req, fapi) = self.tpp_req(
            tpp,
            token,
            "POST",
            format!("{PISP}/domestic-payment-consents"),
        );
        let idem = self.rng.uuid();
        // One TPP's client library sends a field the consent schema does not declare.
        let local_instrument = tpp == DRIFT_FIELD_TPP;
        let mut sent_init = init.clone();
        if local_instrument {
            sent_init["LocalInstrument"] = json!("UK.OBIE.FPS");
        }
        let req = req.h("x-idempotency-key", idem).body(
            "application/json",
            json!({"Data": {"Initiation": sent_init}, "Risk": risk}).to_string(),
        );
        let consent_body = |status: &str| {
            json!({
                "Data": {
                    "ConsentId": consent,
                    "CreationDateTime": iso(now_s),
                    "Status": status,
                    "StatusUpdateDateTime": iso(now_s),
                    "Initiation": init,
                },
                "Risk": risk,
                "Links": links(&format!("{PISP}/domestic-payment-consents/{consent}")),
                "Meta": meta(),
            })
        };
        let resp = self.api_resp(201, Some(consent_body("AwaitingAuthorisation")), fapi);
        let think = self.think(30, 150);
        out.push(Ex {
            op: Op::PaymentConsentCreate,
            req,
            resp,
            think_us: think,
            tag: local_instrument.then_some("drift_request_field_local_instrument"),
        });
        let (req, fapi) = self.tpp_req(
            tpp,
            token,
            "GET",
            format!("{PISP}/domestic-payment-consents/{consent}"),
        );
        let resp = self.api_resp(200, Some(consent_body("Authorised")), fapi);
        let think = self.think(5, 40);
        out.push(Ex {
            op: Op::PaymentConsentGet,
            req,
            resp,
            think_us: think,
            tag: None,
        });
        let pay = self.rng.uuid();
        let (req, fapi) = self.tpp_req(tpp, token, "POST", format!("{PISP}/domestic-payments"));
        let idem = self.rng.uuid();
        // One TPP fills the declared free-text merchant id with the customer's email address:
        // personal data where the contract promises none (drift_data_class).
        let email_risk = tpp == EMAIL_RISK_TPP;
        let mut pay_risk = risk.clone();
        if email_risk {
            let c = self.rng.below(self.w.customers.len() as u64) as usize;
            pay_risk["MerchantCustomerIdentification"] = json!(self.w.customers[c].email);
        }
        let req = req.h("x-idempotency-key", idem).body(
            "application/json",
            json!({"Data": {"ConsentId": consent, "Initiation": init}, "Risk": pay_risk})
                .to_string(),
        );
        let pay_body = |status: &str| {
            json!({
                "Data": {
                    "DomesticPaymentId": pay,
                    "ConsentId": consent,
                    "CreationDateTime": iso(now_s),
                    "Status": status,
                    "StatusUpdateDateTime": iso(now_s),
                    "Initiation": init,
                },
                "Links": links(&format!("{PISP}/domestic-payments/{pay}")),
                "Meta": meta(),
            })
        };
        let resp = self.api_resp(201, Some(pay_body("AcceptedSettlementInProcess")), fapi);
        let think = self.think(60, 300);
        out.push(Ex {
            op: Op::PaymentCreate,
            req,
            resp,
            think_us: think,
            tag: email_risk.then_some("drift_data_class_email_in_risk"),
        });
        for _ in 0..1 + self.rng.below(2) {
            let (req, fapi) =
                self.tpp_req(tpp, token, "GET", format!("{PISP}/domestic-payments/{pay}"));
            let resp = self.api_resp(200, Some(pay_body("AcceptedSettlementCompleted")), fapi);
            let think = self.think(5, 40);
            out.push(Ex {
                op: Op::PaymentGet,
                req,
                resp,
                think_us: think,
                tag: None,
            });
        }
    }

    fn revoke(&mut self, tpp: usize, token: &str, out: &mut Vec<Ex>) {
        let consent = self.rng.uuid();
        let (req, fapi) = self.tpp_req(
            tpp,
            token,
            "DELETE",
            format!("{AISP}/account-access-consents/{consent}"),
        );
        let resp = self.api_resp(204, None, fapi);
        let think = self.think(10, 60);
        out.push(Ex {
            op: Op::AispConsentDelete,
            req,
            resp,
            think_us: think,
            tag: None,
        });
    }

    fn export(&mut self, tpp: usize, token: &str, out: &mut Vec<Ex>) {
        let a = *self.rng.pick(&self.w.tpps[tpp].accounts);
        let id = self.w.accounts[a].id;
        let (req, fapi) = self.tpp_req(tpp, token, "GET", format!("{AISP}/accounts/{id}/export"));
        let n = 2 + self.rng.below(5);
        let cards: Vec<Value> = (0..n)
            .map(|_| {
                let prefix = *self.rng.pick(&PAN_PREFIXES);
                let pan = make_pan(&mut self.rng, prefix);
                json!({
                    "CardNumber": pan,
                    "ExpiryDate": format!("{:02}/{}", 1 + self.rng.below(12), 27 + self.rng.below(4)),
                    "CardholderName": self.w.accounts[a].name.to_uppercase(),
                })
            })
            .collect();
        let acct = &self.w.accounts[a];
        let body = json!({
            "Data": {
                "AccountId": id.to_string(),
                "Iban": acct.iban,
                "Name": acct.name,
                "Cards": cards,
            }
        });
        let resp = self.api_resp(200, Some(body), fapi);
        let think = self.think(100, 600);
        out.push(Ex {
            op: Op::AccountExport,
            req,
            resp,
            think_us: think,
            tag: Some("shadow_export"),
        });
    }

    fn tpp_exchanges(&mut self, tpp: usize, token: &str, now_s: u64, n: usize) -> Vec<Ex> {
        let mut out = Vec::new();
        let weights = if tpp == EXPORT_TPP { 20 } else { 14 };
        while out.len() < n {
            match self.rng.below(weights) {
                0..=4 => self.aisp_journey(tpp, token, now_s, &mut out),
                5..=8 => {
                    let accts = self.w.tpps[tpp].accounts.clone();
                    let a = *self.rng.pick(&accts);
                    self.account_ops(tpp, token, a, now_s, false, &mut out);
                }
                9..=11 => self.pisp_journey(tpp, token, now_s, &mut out),
                12 => self.revoke(tpp, token, &mut out),
                13 => {
                    let accts = self.w.tpps[tpp].accounts.clone();
                    let a = *self.rng.pick(&accts);
                    let before = out.len();
                    self.transactions(tpp, token, a, now_s, &mut out);
                    debug_assert!(out.len() > before);
                }
                _ => {
                    for _ in 0..1 + self.rng.below(2) {
                        self.export(tpp, token, &mut out);
                    }
                }
            }
        }
        out.truncate(n);
        out
    }

    fn legacy_exchanges(&mut self, client: usize, n: usize) -> Vec<Ex> {
        let mut out = Vec::new();
        let key = self.w.legacy[client].api_key.clone();
        let ua = self.w.legacy[client].ua;
        for _ in 0..n {
            let roll = self.rng.below(100);
            let base = |m: &'static str, target: String| {
                Req::new(m, LEGACY_HOST, target)
                    .h("User-Agent", ua)
                    .h("Accept", "application/json")
            };
            if roll < 62 {
                let card = *self.rng.pick(&self.w.cards);
                let req = base("GET", format!("/v1/cards/{card}")).h("X-API-Key", key.clone());
                if self.rng.chance(0.03) {
                    let mut resp = Resp::empty(500, LEGACY_SERVER);
                    resp.content_type = Some("text/html;charset=utf-8");
                    resp.body = b"<html><head><title>Error</title></head><body><h1>HTTP Status 500 - Internal Server Error</h1></body></html>".to_vec();
                    let think = self.think(800, 3000);
                    out.push(Ex {
                        op: Op::CardGet,
                        req,
                        resp,
                        think_us: think,
                        tag: Some("drift_status_500"),
                    });
                } else {
                    let pan = make_pan(&mut self.rng, PAN_PREFIXES[(card % 8) as usize]);
                    let masked = format!("{}******{}", &pan[..6], &pan[12..]);
                    let body = json!({"cardId": card, "maskedPan": masked, "status": "ACTIVE"});
                    let resp = Resp::json(200, LEGACY_SERVER, body.to_string());
                    let think = self.think(20, 250);
                    out.push(Ex {
                        op: Op::CardGet,
                        req,
                        resp,
                        think_us: think,
                        tag: None,
                    });
                }
            } else if roll < 70 {
                let card = *self.rng.pick(&self.w.cards);
                let reason = *self.rng.pick(&["LOST", "STOLEN", "FRAUD_SUSPECTED"]);
                let req = base("POST", format!("/v1/cards/{card}/block"))
                    .h("X-API-Key", key.clone())
                    .body("application/json", json!({"reason": reason}).to_string());
                let body = json!({"cardId": card, "status": "BLOCKED"});
                let resp = Resp::json(200, LEGACY_SERVER, body.to_string());
                let think = self.think(50, 400);
                out.push(Ex {
                    op: Op::CardBlock,
                    req,
                    resp,
                    think_us: think,
                    tag: Some("zombie_block"),
                });
            } else {
                let c = self.rng.below(self.w.customers.len() as u64) as usize;
                let cust = &self.w.customers[c];
                let mut req = base("GET", format!("/v1/customers/{}", cust.id));
                let anon = self.rng.chance(0.10);
                if !anon {
                    req = req.h("X-API-Key", key.clone());
                }
                let body = json!({"customerId": cust.id, "name": cust.name, "email": cust.email, "phone": cust.phone});
                let resp = Resp::json(200, LEGACY_SERVER, body.to_string());
                let think = self.think(20, 200);
                out.push(Ex {
                    op: Op::CustomerGet,
                    req,
                    resp,
                    think_us: think,
                    tag: anon.then_some("drift_auth_no_key"),
                });
            }
        }
        out
    }

    fn token_exchange(&mut self, tpp: usize, token: &str) -> Ex {
        let t = &self.w.tpps[tpp];
        let basic = base64_std(format!("{}:{}", t.client_id, t.secret).as_bytes());
        let req = Req::new("POST", AUTH_HOST, "/oauth2/token".to_string())
            .h("User-Agent", t.ua)
            .h("Accept", "application/json")
            .h("Authorization", format!("Basic {basic}"));
        // One TPP posts its token request as JSON; the server accepts it although the contract
        // (RFC 6749 section 4.4.2) and the catalogue say form-encoded (drift_content_type).
        let json_body = tpp == JSON_TOKEN_TPP;
        let req = if json_body {
            req.body(
                "application/json",
                json!({"grant_type": "client_credentials", "scope": "accounts"}).to_string(),
            )
        } else {
            req.body(
                "application/x-www-form-urlencoded",
                "grant_type=client_credentials&scope=accounts",
            )
        };
        let body = json!({"access_token": token, "token_type": "Bearer", "expires_in": 3600, "scope": "accounts"});
        let resp = Resp::json(200, "northbank-auth/1.4", body.to_string())
            .h("Cache-Control", "no-store")
            .h("Pragma", "no-cache");
        let think = self.think(30, 120);
        Ex {
            op: Op::Token,
            req,
            resp,
            think_us: think,
            tag: json_body.then_some("drift_content_type_json_token"),
        }
    }

    fn health_exchange(&mut self) -> Ex {
        let req = Req::new("GET", API_HOST, "/health".to_string())
            .h("User-Agent", "kube-probe/1.29")
            .h("Accept", "*/*")
            .h("Connection", "close");
        let resp = Resp::json(200, API_SERVER, json!({"status": "UP"}).to_string())
            .h("Connection", "close");
        let think = self.think(1, 4);
        Ex {
            op: Op::Health,
            req,
            resp,
            think_us: think,
            tag: Some("shadow_health"),
        }
    }

    fn admin_exchanges(&mut self, n: usize) -> Vec<Ex> {
        let mut out = Vec::new();
        while out.len() < n {
            let c = self.rng.below(self.w.customers.len() as u64) as usize;
            let (email, id) = (self.w.customers[c].email.clone(), self.w.customers[c].id);
            let req = Req::new(
                "GET",
                INTERNAL_HOST,
                format!("/admin/customers?email={}", email.replace('@', "%40")),
            )
            .h("User-Agent", "python-requests/2.31.0")
            .h("Accept", "*/*")
            .h("Accept-Encoding", "gzip, deflate");
            let mut list = vec![c];
            for _ in 0..self.rng.below(3) {
                list.push(self.rng.below(self.w.customers.len() as u64) as usize);
            }
            let items: Vec<Value> = list
                .iter()
                .map(|&i| {
                    let cu = &self.w.customers[i];
                    json!({"customerId": cu.id, "name": cu.name, "email": cu.email, "phone": cu.phone, "locked": false})
                })
                .collect();
            let resp = Resp::json(
                200,
                "Werkzeug/3.0.1 Python/3.11.8",
                Value::Array(items).to_string(),
            );
            let think = self.think(30, 200);
            out.push(Ex {
                op: Op::AdminCustomers,
                req,
                resp,
                think_us: think,
                tag: Some("shadow_host"),
            });
            if self.rng.chance(0.6) {
                let req = Req::new(
                    "POST",
                    INTERNAL_HOST,
                    format!("/admin/customers/{id}/reset-password"),
                )
                .h("User-Agent", "python-requests/2.31.0")
                .h("Accept", "*/*")
                .h("Accept-Encoding", "gzip, deflate");
                let resp = Resp::empty(204, "Werkzeug/3.0.1 Python/3.11.8");
                let think = self.think(40, 300);
                out.push(Ex {
                    op: Op::AdminResetPassword,
                    req,
                    resp,
                    think_us: think,
                    tag: Some("shadow_host"),
                });
            }
        }
        out
    }

    /// Runs HTTP exchanges over one TCP connection.
    fn http_conn(
        &mut self,
        client: [u8; 4],
        server: Ep,
        start: u64,
        exs: Vec<Ex>,
        pipeline: bool,
        midstream: bool,
    ) {
        let c = Ep {
            ip: client,
            port: self.w.port(client),
        };
        let mut conn = Conn::open(self.sink, &mut self.rng, c, server, start, !midstream);
        self.stats.tcp_connections += 1;
        if midstream {
            self.stats.midstream_connections += 1;
        }
        if pipeline {
            self.stats.pipelined_connections += 1;
        }
        let mut i = 0;
        while i < exs.len() {
            if midstream && i == 1 {
                conn.visible = true;
            }
            let group = if pipeline { 3.min(exs.len() - i) } else { 1 };
            conn.t += if i == 0 {
                self.rng.range(300, 3_000)
            } else {
                self.rng.range(5 * MS, 900 * MS)
            };
            for (g, ex) in exs[i..i + group].iter().enumerate() {
                if g > 0 {
                    conn.t += self.rng.range(20, 300);
                }
                conn.send(self.sink, &mut self.rng, true, &ex.req.render(), false);
            }
            for ex in &exs[i..i + group] {
                conn.t += ex.think_us;
                let bytes = ex.resp.render(conn.t, &mut self.rng);
                let reorder = bytes.len() > 4 * net::MSS && self.rng.chance(0.2);
                if reorder && conn.visible {
                    self.stats.reordered_responses += 1;
                }
                conn.send(self.sink, &mut self.rng, false, &bytes, reorder);
                if conn.visible {
                    self.stats.record(ex);
                }
            }
            i += group;
        }
        conn.t += self.rng.range(MS, 2_000 * MS);
        conn.close(self.sink, &mut self.rng);
    }

    fn noise(&mut self, t0: u64) {
        // DNS lookups of the bank's names
        const NAMES: [(&str, [u8; 4]); 5] = [
            ("api.northbank.example", [10, 10, 0, 10]),
            ("legacy.northbank.example", [10, 10, 0, 20]),
            ("auth.northbank.example", [10, 10, 0, 30]),
            ("payments.northbank.example", [10, 10, 0, 50]),
            ("db.northbank.example", [10, 10, 0, 60]),
        ];
        let clients: Vec<[u8; 4]> = TPP_IPS
            .iter()
            .chain(LEGACY_IPS.iter())
            .copied()
            .chain([MONITOR_IP, ADMIN_IP])
            .collect();
        for _ in 0..40 {
            let ip = *self.rng.pick(&clients);
            let c = Ep {
                ip,
                port: self.w.port(ip),
            };
            let (name, addr) = *self.rng.pick(&NAMES);
            let t = t0 + self.rng.range(0, 590 * SEC);
            net::dns_exchange(self.sink, &mut self.rng, c, DNS_SRV, t, name, addr);
            self.stats.noise_flows += 1;
        }
        // TLS to the payments front door (opaque)
        for _ in 0..12 {
            let ip = *self.rng.pick(&TPP_IPS);
            let c = Ep {
                ip,
                port: self.w.port(ip),
            };
            let t = t0 + self.rng.range(0, 590 * SEC);
            let mut conn = Conn::open(self.sink, &mut self.rng, c, TLS_SRV, t, true);
            conn.retransmit_p = 0.0;
            conn.t += self.rng.range(100, 800);
            let hello = net::tls_client_hello(&mut self.rng, TLS_SNI);
            conn.send(self.sink, &mut self.rng, true, &hello, false);
            conn.t += self.rng.range(MS, 5 * MS);
            let flight = net::tls_server_flight(&mut self.rng);
            conn.send(self.sink, &mut self.rng, false, &flight, false);
            for _ in 0..1 + self.rng.below(3) {
                conn.t += self.rng.range(5 * MS, 300 * MS);
                let len = self.rng.range(300, 1400) as usize;
                let rec = net::tls_app_data(&mut self.rng, len);
                conn.send(self.sink, &mut self.rng, true, &rec, false);
                conn.t += self.rng.range(10 * MS, 150 * MS);
                let len = self.rng.range(200, 4000) as usize;
                let rec = net::tls_app_data(&mut self.rng, len);
                conn.send(self.sink, &mut self.rng, false, &rec, false);
            }
            conn.t += self.rng.range(MS, 500 * MS);
            conn.close(self.sink, &mut self.rng);
            self.stats.noise_flows += 1;
        }
        // SSH banner exchanges to the tools box
        for _ in 0..2 {
            let c = Ep {
                ip: ADMIN_IP,
                port: self.w.port(ADMIN_IP),
            };
            let t = t0 + self.rng.range(0, 590 * SEC);
            let mut conn = Conn::open(self.sink, &mut self.rng, c, SSH_SRV, t, true);
            conn.retransmit_p = 0.0;
            conn.t += self.rng.range(2 * MS, 10 * MS);
            conn.send(
                self.sink,
                &mut self.rng,
                false,
                b"SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13.5\r\n",
                false,
            );
            conn.t += self.rng.range(MS, 5 * MS);
            conn.send(
                self.sink,
                &mut self.rng,
                true,
                b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n",
                false,
            );
            for from_client in [true, false] {
                conn.t += self.rng.range(MS, 3 * MS);
                let pkt = net::ssh_kexinit(&mut self.rng);
                conn.send(self.sink, &mut self.rng, from_client, &pkt, false);
            }
            conn.t += self.rng.range(50 * MS, 500 * MS);
            conn.close(self.sink, &mut self.rng);
            self.stats.noise_flows += 1;
        }
        // PostgreSQL startups from the legacy service to its database
        for _ in 0..4 {
            let ip = LEGACY_SRV.ip;
            let c = Ep {
                ip,
                port: self.w.port(ip),
            };
            let t = t0 + self.rng.range(0, 590 * SEC);
            let mut conn = Conn::open(self.sink, &mut self.rng, c, PG_SRV, t, true);
            conn.retransmit_p = 0.0;
            conn.t += self.rng.range(100, 500);
            conn.send(
                self.sink,
                &mut self.rng,
                true,
                &net::pg_startup("legacy_app", "cards"),
                false,
            );
            conn.t += self.rng.range(200, 2_000);
            conn.send(self.sink, &mut self.rng, false, &net::pg_auth_sasl(), false);
            conn.t += self.rng.range(200, 2_000);
            conn.send(self.sink, &mut self.rng, true, &[b'X', 0, 0, 0, 4], false);
            conn.t += self.rng.range(100, 500);
            conn.close(self.sink, &mut self.rng);
            self.stats.noise_flows += 1;
        }
    }
}

/// One round (about ten minutes) of traffic starting at `t0` (microseconds).
pub fn round(w: &mut World, rng: Rng, sink: &mut Sink, stats: &mut Stats, t0: u64) {
    let mut r = Round {
        w,
        rng,
        sink,
        stats,
    };
    // tokens: each TPP fetches one per 5-minute epoch
    let mut tokens: Vec<[String; 2]> = Vec::new();
    for (tpp, &ip) in TPP_IPS.iter().enumerate() {
        let mut pair: [String; 2] = Default::default();
        for (e, slot) in pair.iter_mut().enumerate() {
            let t = t0 + e as u64 * 300 * SEC + r.rng.range(0, 1_500 * MS);
            let tok = jwt(&mut r.rng, &r.w.tpps[tpp], t / SEC);
            let ex = r.token_exchange(tpp, &tok);
            r.http_conn(ip, AUTH_SRV, t, vec![ex], false, false);
            *slot = tok;
        }
        tokens.push(pair);
    }
    // TPP traffic on keep-alive connections
    for tpp in 0..4 {
        for _ in 0..22 {
            let e = r.rng.below(2) as usize;
            let start = t0 + e as u64 * 300 * SEC + r.rng.range(2 * SEC, 280 * SEC);
            let n = r.rng.range(5, 30) as usize;
            let exs = r.tpp_exchanges(tpp, &tokens[tpp][e], start / SEC, n);
            let pipeline = tpp == PIPELINING_TPP && r.rng.chance(0.4);
            let midstream = !pipeline && n >= 6 && r.rng.chance(0.04);
            r.http_conn(TPP_IPS[tpp], API_SRV, start, exs, pipeline, midstream);
        }
    }
    // legacy card service
    for (client, &ip) in LEGACY_IPS.iter().enumerate() {
        for _ in 0..9 {
            let start = t0 + r.rng.range(SEC, 570 * SEC);
            let n = r.rng.range(5, 30) as usize;
            let exs = r.legacy_exchanges(client, n);
            let midstream = n >= 6 && r.rng.chance(0.05);
            r.http_conn(ip, LEGACY_SRV, start, exs, false, midstream);
        }
    }
    // monitoring probe on the API gateway, one connection per check
    let mut t = t0 + 5 * SEC;
    while t < t0 + 585 * SEC {
        let ex = r.health_exchange();
        let start = t + r.rng.range(0, 400 * MS);
        r.http_conn(MONITOR_IP, API_SRV, start, vec![ex], false, false);
        t += 15 * SEC;
    }
    // someone on the admin subnet using the internal tool directly
    for _ in 0..3 {
        let start = t0 + r.rng.range(10 * SEC, 560 * SEC);
        let n = r.rng.range(2, 6) as usize;
        let exs = r.admin_exchanges(n);
        r.http_conn(ADMIN_IP, INTERNAL_SRV, start, exs, false, false);
    }
    r.noise(t0);
    // Last, so that everything above is byte for byte what it was before these were added.
    r.quiet_traffic(t0);
}

impl Round<'_> {
    /// What a shadow-API tool must not shout about: CORS preflights and HEAD requests on
    /// declared paths (quiet), and a scanner's three 404 probes (an unconfirmed endpoint).
    fn quiet_traffic(&mut self, t0: u64) {
        for i in 0..6 {
            let req = Req::new("OPTIONS", API_HOST, format!("{AISP}/accounts"))
                .h("Origin", "https://dashboard.tpp-one.example")
                .h("Access-Control-Request-Method", "GET")
                .h(
                    "Access-Control-Request-Headers",
                    "authorization,x-fapi-financial-id",
                );
            let resp = Resp::empty(204, API_SERVER)
                .h(
                    "Access-Control-Allow-Origin",
                    "https://dashboard.tpp-one.example",
                )
                .h("Access-Control-Allow-Methods", "GET, POST, DELETE")
                .h("Access-Control-Max-Age", "60");
            let think = self.think(1, 5);
            let ex = Ex {
                op: Op::AccountsPreflight,
                req,
                resp,
                think_us: think,
                tag: Some("quiet_preflight"),
            };
            let start = t0 + (40 + 90 * i) * SEC + self.rng.range(0, 2_000 * MS);
            self.http_conn(BROWSER_IP, API_SRV, start, vec![ex], false, false);
        }
        let cards = self.w.cards.clone();
        let mut exs = Vec::new();
        for _ in 0..4 {
            let card = *self.rng.pick(&cards);
            let req = Req::new("HEAD", LEGACY_HOST, format!("/v1/cards/{card}"))
                .h("X-API-Key", self.w.legacy[0].api_key.clone())
                .h("User-Agent", "linkcheck/2.0");
            let think = self.think(2, 10);
            exs.push(Ex {
                op: Op::CardHead,
                req,
                resp: Resp::empty(200, LEGACY_SERVER),
                think_us: think,
                tag: Some("quiet_head"),
            });
        }
        let start = t0 + 200 * SEC + self.rng.range(0, 5 * SEC);
        self.http_conn(LEGACY_IPS[0], LEGACY_SRV, start, exs, false, false);
        let mut exs = Vec::new();
        for _ in 0..3 {
            let req = Req::new("GET", API_HOST, "/actuator/env".to_string())
                .h("User-Agent", "Mozilla/5.0 (compatible; Nuclei)")
                .h("Accept", "*/*");
            let resp = Resp::json(
                404,
                API_SERVER,
                json!({"Code": "404", "Message": "Not Found"}).to_string(),
            );
            let think = self.think(1, 3);
            exs.push(Ex {
                op: Op::ActuatorProbe,
                req,
                resp,
                think_us: think,
                tag: Some("unconfirmed_probe"),
            });
        }
        let start = t0 + 333 * SEC + self.rng.range(0, 5 * SEC);
        self.http_conn(SCANNER_IP, API_SRV, start, exs, false, false);
    }
}
