//! Demo-like inputs for the classification benches: the values of one open-banking round
//! (request and response headers, query parameters, JSON leaves of accounts, transactions,
//! customers, tokens) and JSON bodies shaped like `tools/demogen` traffic. Synthetic only:
//! test card numbers, mod-97-valid IBANs made here, `example.com` emails, Ofcom drama numbers.

#![allow(dead_code)]

/// A tiny deterministic generator (xorshift), so the benches need no rand crate.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    pub fn hex(&mut self, n: usize) -> String {
        const H: &[u8; 16] = b"0123456789abcdef";
        (0..n).map(|_| H[self.below(16) as usize] as char).collect()
    }
    pub fn uuid(&mut self) -> String {
        let h = self.hex(32);
        format!(
            "{}-{}-4{}-a{}-{}",
            &h[0..8],
            &h[8..12],
            &h[13..16],
            &h[17..20],
            &h[20..32]
        )
    }
    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

/// A GB IBAN with valid check digits.
pub fn gb_iban(bank: &str, sort: u32, account: u32) -> String {
    let bban = format!("{bank}{sort:06}{account:08}");
    let mut rem: u32 = 0;
    for c in format!("{bban}GB00").chars() {
        let v = c.to_digit(36).unwrap_or(0);
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    format!("GB{:02}{bban}", 98 - rem)
}

/// An ISO timestamp like demogen's.
pub fn iso(rng: &mut Rng) -> String {
    format!(
        "2026-02-{:02}T{:02}:{:02}:{:02}+00:00",
        1 + rng.below(28),
        rng.below(24),
        rng.below(60),
        rng.below(60)
    )
}

pub fn money(rng: &mut Rng) -> String {
    let p = 150 + rng.below(120_000);
    format!("{}.{:02}", p / 100, p % 100)
}

const JWT: &str = "eyJhbGciOiJQUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6IjNmYTg1ZjY0NTcxN2E5YjhjMGQxIn0.eyJpc3MiOiJodHRwczovL2F1dGgubm9ydGhiYW5rLmV4YW1wbGUiLCJjbGllbnRfaWQiOiJidWRnZXRseS0zZmE4NWY2NDU3MTciLCJzY29wZSI6ImFjY291bnRzIiwiaWF0IjoxNzY5OTA0MDAwfQ.c2lnbmF0dXJlLWJ5dGVzLW5vdC1yZWFsbHktc2lnbmVkLWJ1dC1sb25nLWVub3VnaC10by1sb29rLWxpa2UtYS1yZWFsLW9uZQ";

/// `(place, name, value)` of one demo-like round; place is `q`uery, `h`eader, `b`ody, `p`ath.
/// About one value in ten carries a data class (IBAN, JWT, email, phone, PAN, API key,
/// password, bearer token), the rest are the ids, amounts, dates and labels around them.
pub fn mix() -> Vec<(char, String, String)> {
    let mut rng = Rng::new(7);
    let mut v: Vec<(char, String, String)> = Vec::new();
    let mut push = |p: char, n: &str, val: String| v.push((p, n.to_string(), val));
    // request headers
    push('h', "host", "api.northbank.example".into());
    push(
        'h',
        "user-agent",
        "Budgetly/4.2 (+https://budgetly.example)".into(),
    );
    push('h', "accept", "application/json".into());
    push('h', "authorization", format!("Bearer {JWT}"));
    push('h', "x-fapi-financial-id", "0015800001NBNKAAA".into());
    push('h', "x-fapi-interaction-id", rng.uuid());
    push('h', "x-fapi-customer-ip-address", "10.20.1.11".into());
    push(
        'h',
        "x-fapi-auth-date",
        "Mon, 02 Feb 2026 10:11:12 GMT".into(),
    );
    push(
        'h',
        "content-type",
        "application/json; charset=utf-8".into(),
    );
    push('h', "x-api-key", rng.hex(32));
    push('h', "x-idempotency-key", rng.uuid());
    // response headers
    push('h', "server", "northbank-gw/3.1".into());
    push('h', "date", "Mon, 02 Feb 2026 10:11:12 GMT".into());
    push('h', "content-length", "1834".into());
    push('h', "x-fapi-interaction-id", rng.uuid());
    push('h', "cache-control", "no-store".into());
    // query
    push('q', "fromBookingDateTime", "2026-02-01T00:00:00".into());
    push('q', "toBookingDateTime", "2026-03-01T00:00:00".into());
    push('q', "page", "2".into());
    // path segments
    push('p', "", "open-banking".into());
    push('p', "", "v3.1".into());
    push('p', "", "48213".into());
    // account
    push('b', "AccountId", "48213".into());
    push('b', "Currency", "GBP".into());
    push('b', "AccountType", "Personal".into());
    push('b', "AccountSubType", "CurrentAccount".into());
    push('b', "Nickname", "Rainy day".into());
    push('b', "SchemeName", "UK.OBIE.IBAN".into());
    push('b', "Identification", gb_iban("NBNK", 401_234, 31_926_819));
    push('b', "Name", "Alex Example".into());
    push(
        'b',
        "Self",
        "https://api.northbank.example/open-banking/v3.1/aisp/accounts/48213".into(),
    );
    push('b', "TotalPages", "1".into());
    // two transactions
    for _ in 0..2 {
        push('b', "AccountId", "48213".into());
        push('b', "TransactionId", rng.uuid());
        push(
            'b',
            "TransactionReference",
            format!("NB{}", rng.hex(10).to_uppercase()),
        );
        push('b', "Amount", money(&mut rng));
        push('b', "Currency", "GBP".into());
        push('b', "CreditDebitIndicator", "Debit".into());
        push('b', "Status", "Booked".into());
        let when = iso(&mut rng);
        push('b', "BookingDateTime", when.clone());
        push('b', "ValueDateTime", when);
        push(
            'b',
            "TransactionInformation",
            "CARD PAYMENT GROCER EXAMPLE".into(),
        );
        push('b', "Code", "ReceivedCreditTransfer".into());
        push('b', "SubCode", "DomesticCreditTransfer".into());
        push('b', "Amount", money(&mut rng));
        push('b', "Type", "InterimBooked".into());
    }
    // customer, card, payment, token
    push('b', "customerId", "482913".into());
    push('b', "email", "alex.example913@example.com".into());
    push('b', "phone", "+447700900123".into());
    push('b', "locked", "false".into());
    push('b', "CardNumber", "4111111111111111".into());
    push('b', "ExpiryDate", "03/29".into());
    push('b', "maskedPan", "411111******1111".into());
    push(
        'b',
        "InstructionIdentification",
        format!("INSTR-{}", rng.hex(12)),
    );
    push('b', "Reference", "INV-48213".into());
    push('b', "iat", "1769904000".into());
    push('b', "access_token", rng.hex(40));
    push('b', "token_type", "Bearer".into());
    push('b', "expires_in", "3600".into());
    push('b', "client_secret", "s3cr3t-Value-xyz".into());
    v
}

/// A demo-like transactions response of about `want` bytes (the body `tools/demogen` sends for
/// `GET .../transactions`): ids, amounts, ISO timestamps, currency and labels; no sensitive
/// data except what `with_iban` adds (a creditor IBAN in every tenth transaction).
pub fn transactions_body(want: usize, with_iban: bool, seed: u64) -> String {
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
    let mut rng = Rng::new(seed);
    let mut out = String::from("{\"Data\":{\"Transaction\":[");
    let mut i = 0u32;
    while out.len() < want {
        if i > 0 {
            out.push(',');
        }
        let when = iso(&mut rng);
        let credit = rng.below(5) == 0;
        out.push_str(&format!(
            "{{\"AccountId\":\"48213\",\"TransactionId\":\"{}\",\"TransactionReference\":\"NB{}\",\
\"Amount\":{{\"Amount\":\"{}\",\"Currency\":\"GBP\"}},\"CreditDebitIndicator\":\"{}\",\
\"Status\":\"Booked\",\"BookingDateTime\":\"{when}\",\"ValueDateTime\":\"{when}\",\
\"TransactionInformation\":\"{}\",\"BankTransactionCode\":{{\"Code\":\"ReceivedCreditTransfer\",\
\"SubCode\":\"DomesticCreditTransfer\"}},",
            rng.uuid(),
            rng.hex(10).to_uppercase(),
            money(&mut rng),
            if credit { "Credit" } else { "Debit" },
            rng.pick(&INFO),
        ));
        if with_iban && i % 10 == 3 {
            let iban = gb_iban(
                "NBNK",
                400_000 + rng.below(99_999) as u32,
                10_000_000 + rng.below(89_999_999) as u32,
            );
            out.push_str(&format!(
                "\"CreditorAccount\":{{\"SchemeName\":\"UK.OBIE.IBAN\",\"Identification\":\"{iban}\",\"Name\":\"Sam Sample\"}},"
            ));
        }
        out.push_str(&format!(
            "\"Balance\":{{\"Amount\":{{\"Amount\":\"{}\",\"Currency\":\"GBP\"}},\"CreditDebitIndicator\":\"Credit\",\
\"Type\":\"InterimBooked\"}},\"ProprietaryBankTransactionCode\":{{\"Code\":\"{}\",\"Issuer\":\"NBNK\"}},\
\"BookedAtMs\":{}}}",
            money(&mut rng),
            rng.below(1000),
            1_769_904_000_000u64 + rng.below(2_419_200_000),
        ));
        i += 1;
    }
    out.push_str("]},\"Links\":{\"Self\":\"https://api.northbank.example/open-banking/v3.1/aisp/accounts/48213/transactions\"},\"Meta\":{\"TotalPages\":1}}");
    out
}

/// A demo-like accounts list (`GET .../accounts`): every account carries an IBAN.
pub fn accounts_body(n: usize, seed: u64) -> String {
    const NICK: [&str; 4] = ["Bills", "Household", "Savings", "Rainy day"];
    let mut rng = Rng::new(seed);
    let list: Vec<String> = (0..n)
        .map(|i| {
            let iban = gb_iban("NBNK", 400_000 + rng.below(99_999) as u32, 10_000_000 + rng.below(89_999_999) as u32);
            format!(
                "{{\"AccountId\":\"{}\",\"Currency\":\"GBP\",\"AccountType\":\"Personal\",\"AccountSubType\":\"CurrentAccount\",\
\"Nickname\":\"{}\",\"Account\":[{{\"SchemeName\":\"UK.OBIE.IBAN\",\"Identification\":\"{iban}\",\"Name\":\"Alex Example\"}}]}}",
                10_000 + i,
                rng.pick(&NICK)
            )
        })
        .collect();
    format!(
        "{{\"Data\":{{\"Account\":[{}]}},\"Links\":{{\"Self\":\"https://api.northbank.example/open-banking/v3.1/aisp/accounts\"}},\"Meta\":{{\"TotalPages\":1}}}}",
        list.join(",")
    )
}
