//! The lens end to end over the analyzer: certificates built with rcgen (the PSD2 QCStatement as
//! a custom extension), heads through the engine, findings through `derive`.

use super::cert::{psd2_qc_statements, TppCert, QC_STATEMENTS_OID};
use super::token::{unsigned_jwt, x5t_s256};
use super::*;
use crate::catalogue::Catalogue;
use crate::classify::Classifier;
use crate::consumer::ConsumerConfig;
use crate::diff::FindingPolicy;
use crate::engine::InventoryBuilder;
use crate::exchange::{borrow_headers, BodyShape, Header, HttpVersion, RequestView, ResponseView};
use crate::finding::FindingKind;
use crate::inventory::{Inventory, InventoryLimits};
use crate::observe::Observer;
use crate::template::{TemplateConfig, Templater};
use crate::time::Timestamp;
use base64::Engine;
use std::net::IpAddr;
use std::sync::Arc;

/// A self-signed certificate for `org_id` with these PSD2 roles, valid in [from, to] (years).
fn tpp_cert(org_id: &str, roles: Option<&[&str]>, from: i32, to: i32) -> rcgen::Certificate {
    let mut params = rcgen::CertificateParams::new(vec!["tpp.example".to_string()]).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "Example TPP Ltd");
    params
        .distinguished_name
        .push(rcgen::DnType::CustomDnType(vec![2, 5, 4, 97]), org_id);
    if let Some(roles) = roles {
        params
            .custom_extensions
            .push(rcgen::CustomExtension::from_oid_content(
                QC_STATEMENTS_OID,
                psd2_qc_statements(roles, "Financial Conduct Authority", "GB-FCA"),
            ));
    }
    params.not_before = rcgen::date_time_ymd(from, 1, 1);
    params.not_after = rcgen::date_time_ymd(to, 1, 1);
    let key = rcgen::KeyPair::generate().unwrap();
    params.self_signed(&key).unwrap()
}

#[test]
fn parses_psd2_roles_nca_organisation_and_validity() {
    let c = tpp_cert("PSDGB-FCA-123456", Some(&["PSP_AI", "PSP_PI"]), 2025, 2027);
    let t = TppCert::parse(c.der()).unwrap();
    assert_eq!(t.organisation_id.as_deref(), Some("PSDGB-FCA-123456"));
    assert_eq!(t.organisation.as_deref(), Some("Example TPP Ltd"));
    assert!(t.psd2);
    assert_eq!(
        t.roles.iter().map(String::as_str).collect::<Vec<_>>(),
        ["PSP_AI", "PSP_PI"]
    );
    assert_eq!(t.nca_name.as_deref(), Some("Financial Conduct Authority"));
    assert_eq!(t.nca_id.as_deref(), Some("GB-FCA"));
    assert_eq!(t.not_before, 1_735_689_600); // 2025-01-01T00:00:00Z
    assert_eq!(t.not_after, 1_798_761_600); // 2027-01-01T00:00:00Z
    assert_eq!(t.tpp_label().as_deref(), Some("tpp:PSDGB-FCA-123456"));
    let plain = TppCert::parse(tpp_cert("PSDGB-FCA-9", None, 2025, 2027).der()).unwrap();
    assert!(!plain.psd2 && plain.roles.is_empty());
}

#[test]
fn hostile_certificates_never_panic() {
    let der = tpp_cert("PSDGB-FCA-1", Some(&["PSP_AS"]), 2025, 2027)
        .der()
        .to_vec();
    // Every truncation and a byte flipped at every offset: parse or refuse, never panic.
    for cut in 0..der.len() {
        let _ = TppCert::parse(&der[..cut]);
    }
    for i in 0..der.len() {
        let mut bad = der.clone();
        bad[i] ^= 0xa5;
        let _ = TppCert::parse(&bad);
    }
    assert!(TppCert::parse(&vec![0x30; cert::MAX_CERT_BYTES + 1]).is_none());
}

const PROXY: &str = "10.0.0.5";

fn observer(lens: bool) -> Observer {
    let mut o = Observer::new(
        Templater::default(),
        Classifier::builtin(),
        ConsumerConfig::new(b"t", false),
    );
    if lens {
        let settings = ObSettings {
            enabled: true,
            trusted_proxies: vec![PROXY.into()],
            ..ObSettings::default()
        };
        o.openbanking = Lens::from_settings(&settings).unwrap().map(Arc::new);
    }
    o
}

/// A request/response pair of heads only.
struct Call<'a> {
    peer: &'a str,
    method: &'a str,
    path: &'a str,
    request: Vec<(&'a str, String)>,
    response: Vec<(&'a str, String)>,
    secs: i64,
    /// Bodies (none when empty) and the response status.
    request_body: String,
    response_body: String,
    status: u16,
}

fn call<'a>(method: &'a str, path: &'a str, request: Vec<(&'a str, String)>) -> Call<'a> {
    let echo = request
        .iter()
        .filter(|(n, _)| *n == "x-fapi-interaction-id")
        .cloned()
        .collect();
    Call {
        peer: PROXY,
        method,
        path,
        request,
        response: echo,
        secs: 1_767_225_600, // 2026-01-01
        request_body: String::new(),
        response_body: String::new(),
        status: 200,
    }
}

/// A message's body through the builder, whatever depth it chose.
fn feed_body(
    b: &mut InventoryBuilder<'_>,
    message: &mut crate::engine::Message,
    depth: crate::exchange::BodyDepth,
    body: &str,
) {
    let bytes = body.as_bytes();
    let decoded = crate::exchange::Body {
        sample: bytes.to_vec(),
        decoded_len: bytes.len() as u64,
        wire_len: bytes.len() as u64,
        truncated: false,
    };
    if depth == crate::exchange::BodyDepth::Scan {
        b.body_data(message, bytes);
    }
    let end = crate::exchange::BodyEnd {
        wire_len: bytes.len() as u64,
        complete: true,
        decoded: (depth == crate::exchange::BodyDepth::Learn).then_some(&decoded),
    };
    b.body_end(message, &end);
}

fn scan(observer: &Observer, calls: &[Call<'_>]) -> Inventory {
    let mut b = InventoryBuilder::new(observer, InventoryLimits::default());
    let none = BodyShape {
        present: false,
        identity: true,
    };
    for c in calls {
        let ts = Timestamp::from_secs_micros(c.secs, 0);
        let mut req: Vec<Header> = vec![Header::new("Host", "ob.bank.example")];
        req.extend(c.request.iter().map(|(n, v)| Header::new(*n, v.as_bytes())));
        let resp: Vec<Header> = c
            .response
            .iter()
            .map(|(n, v)| Header::new(*n, v.as_bytes()))
            .collect();
        let (rh, sh) = (borrow_headers(&req), borrow_headers(&resp));
        let view = RequestView {
            method: c.method,
            target: c.path,
            version: HttpVersion::Http11,
            headers: &rh,
        };
        let peer: IpAddr = c.peer.parse().unwrap();
        let server = "10.0.0.1:443".parse().unwrap();
        let shape = |body: &str| BodyShape {
            present: !body.is_empty(),
            ..none
        };
        let (mut request, depth) = b.request(peer, server, &view, shape(&c.request_body), ts);
        feed_body(&mut b, &mut request, depth, &c.request_body);
        let rview = ResponseView {
            status: c.status,
            version: HttpVersion::Http11,
            headers: &sh,
        };
        let (mut response, depth) = b.response(Some(&request), &rview, shape(&c.response_body), ts);
        feed_body(&mut b, &mut response, depth, &c.response_body);
        b.exchange(Some(request), Some(response), ts, Default::default(), None);
    }
    b.finish()
}

fn xfcc(c: &rcgen::Certificate) -> String {
    let pem = c.pem();
    let escaped = percent_encoding::utf8_percent_encode(&pem, percent_encoding::NON_ALPHANUMERIC);
    format!("By=spiffe://gw;Hash=00;Cert=\"{escaped}\";Subject=\"O=x\"")
}

const UUID: &str = "93bac548-d2de-4546-b106-880a5018460d";

fn findings(inv: Inventory) -> Vec<crate::finding::Finding> {
    findings_with(
        inv,
        ObSettings {
            enabled: true,
            fapi_paths: vec!["/open-banking/".into()],
            signing_paths: vec!["/open-banking/v3.1/pisp/".into()],
            ..ObSettings::default()
        },
    )
}

fn findings_with(inv: Inventory, openbanking: ObSettings) -> Vec<crate::finding::Finding> {
    let policy = FindingPolicy {
        openbanking,
        ..FindingPolicy::default()
    };
    crate::derive::derive(
        inv,
        crate::tls::TlsInventory::default(),
        &Catalogue::default(),
        &TemplateConfig::default(),
        &policy,
        &|_| crate::finding::Severity::Low,
    )
    .findings
    .into_iter()
    .filter(|f| {
        !matches!(
            f.kind,
            FindingKind::ShadowEndpoint
                | FindingKind::UnconfirmedEndpoint
                | FindingKind::ShadowHost
        )
    })
    .collect()
}

#[test]
fn trusted_certificate_header_makes_the_consumer_a_tpp() {
    let aisp = tpp_cert("PSDGB-FCA-111111", Some(&["PSP_AI"]), 2025, 2027);
    let token = unsigned_jwt(&serde_json::json!({
        "client_id": "aisp-app", "iss": "https://as.bank.example",
        "cnf": {"x5t#S256": x5t_s256(&TppCert::parse(aisp.der()).unwrap().sha256)}
    }));
    let headers = |cert: String| {
        vec![
            ("X-Forwarded-Client-Cert", cert),
            ("Authorization", format!("Bearer {token}")),
            ("x-fapi-interaction-id", UUID.to_string()),
        ]
    };
    let path = "/open-banking/v3.1/aisp/accounts";
    let mut untrusted = call("GET", path, headers(xfcc(&aisp)));
    untrusted.peer = "192.0.2.9";
    let pem_header = base64::engine::general_purpose::STANDARD.encode(aisp.der());
    let calls = [
        call("GET", path, headers(xfcc(&aisp))),
        call("GET", path, headers(pem_header.clone())),
        untrusted,
    ];
    let inv = scan(&observer(true), &calls);
    let rec = inv.endpoints.values().next().unwrap();
    assert_eq!(
        rec.consumers.keys().collect::<Vec<_>>(),
        ["oauth:aisp-app@as.bank.example", "tpp:PSDGB-FCA-111111"]
    );
    let ob = rec.openbanking.as_deref().unwrap();
    let tpp = &ob.tpps["tpp:PSDGB-FCA-111111"];
    assert_eq!(tpp.exchanges, 2);
    assert_eq!(
        tpp.clients.keys().collect::<Vec<_>>(),
        ["oauth:aisp-app@as.bank.example"]
    );
    assert_eq!(
        tpp.nca.as_deref(),
        Some("Financial Conduct Authority (GB-FCA)")
    );
    assert_eq!(tpp.certificates.len(), 1);
    assert!(tpp
        .certificates
        .iter()
        .all(|c| c.starts_with("cert:") && c.len() == 21));
    assert_eq!((ob.fapi.binding_match, ob.fapi.binding_mismatch), (2, 0));
    // Nothing raw leaves: no PEM, no token, no interaction id in the serialised record.
    let json = serde_json::to_string(&inv.endpoints.values().collect::<Vec<_>>()).unwrap();
    for raw in [&token[..20], "BEGIN", UUID, &pem_header[..20]] {
        assert!(!json.contains(raw), "{raw} leaked");
    }
    // A well-behaved AISP on an AIS endpoint: no finding.
    assert_eq!(findings(inv), vec![]);
    // The lens off: the same traffic keeps its old consumers and records nothing.
    let off = scan(&observer(false), &calls);
    let rec = off.endpoints.values().next().unwrap();
    assert!(rec.openbanking.is_none());
    assert_eq!(
        rec.consumers.keys().collect::<Vec<_>>(),
        ["oauth:aisp-app@as.bank.example"]
    );
}

#[test]
fn role_validity_and_fapi_findings() {
    let aisp = tpp_cert("PSDGB-FCA-111111", Some(&["PSP_AI"]), 2025, 2027);
    let expired = tpp_cert("PSDGB-FCA-222222", Some(&["PSP_PI"]), 2020, 2021);
    let other = tpp_cert("PSDGB-FCA-333333", Some(&["PSP_PI"]), 2025, 2027);
    let bound_to_other = unsigned_jwt(&serde_json::json!({
        "client_id": "pisp", "cnf": {"x5t#S256": x5t_s256(&TppCert::parse(other.der()).unwrap().sha256)}
    }));
    let unbound = unsigned_jwt(&serde_json::json!({"client_id": "pisp"}));
    let pay = "/open-banking/v3.1/pisp/domestic-payments";
    let mut not_echoed = call(
        "POST",
        pay,
        vec![
            ("x-forwarded-client-cert", xfcc(&expired)),
            ("x-fapi-interaction-id", UUID.into()),
            ("x-jws-signature", "sig".into()),
            ("authorization", format!("Bearer {bound_to_other}")),
        ],
    );
    not_echoed.response.clear();
    let calls = [
        // An AISP initiating a payment, with a bad interaction id and no signature.
        call(
            "POST",
            pay,
            vec![
                ("x-forwarded-client-cert", xfcc(&aisp)),
                ("x-fapi-interaction-id", "not-a-uuid".into()),
                ("authorization", format!("Bearer {unbound}")),
            ],
        ),
        not_echoed,
    ];
    let mut got: Vec<(FindingKind, String)> = findings(scan(&observer(true), &calls))
        .into_iter()
        .map(|f| {
            (
                f.kind,
                format!(
                    "{:?}",
                    (
                        f.evidence.tpps.keys().collect::<Vec<_>>(),
                        &f.evidence.counts
                    )
                ),
            )
        })
        .collect();
    got.sort();
    let want = [
        (
            FindingKind::TppRoleMismatch,
            r#"(["tpp:PSDGB-FCA-111111"], {})"#,
        ),
        (
            FindingKind::TppCertificateInvalid,
            r#"(["tpp:PSDGB-FCA-222222"], {"expired": 1})"#,
        ),
        (
            FindingKind::DriftFapi,
            r#"([], {"bearer_without_cnf": 1, "interaction_id_invalid": 1, "interaction_id_not_echoed": 1, "jws_signature_missing": 1, "token_bound_to_other_certificate": 1})"#,
        ),
    ];
    let mut want: Vec<(FindingKind, String)> =
        want.iter().map(|(k, s)| (*k, s.to_string())).collect();
    want.sort();
    assert_eq!(got, want);
}

#[test]
fn settings_are_validated() {
    let bad = ObSettings {
        enabled: true,
        trusted_proxies: vec!["not-an-ip".into()],
        ..ObSettings::default()
    };
    assert_eq!(
        Lens::from_settings(&bad),
        Err(ObSettingsError::BadProxy("not-an-ip".into()))
    );
    assert_eq!(Lens::from_settings(&ObSettings::default()), Ok(None));
    let toml = "enabled = true\ntrusted_proxies = [\"10.0.0.0/8\"]\n[[capabilities]]\npath = \"/x/\"\ncapability = \"bank_defined:x\"\n";
    let s: ObSettings = toml::from_str(toml).unwrap();
    assert_eq!(s.capabilities.len(), 1);
    assert!(toml::from_str::<ObSettings>("enabeld = true").is_err());
}

#[test]
fn exposure_per_capability_counts_tpps_and_policy_consistency() {
    let aisp = tpp_cert("PSDGB-FCA-111111", Some(&["PSP_AI"]), 2025, 2027);
    let pisp = tpp_cert("PSDGB-FCA-444444", Some(&["PSP_PI", "PSP_AI"]), 2025, 2027);
    let fapi = |c: &rcgen::Certificate| {
        vec![
            ("x-forwarded-client-cert", xfcc(c)),
            ("x-fapi-interaction-id", UUID.to_string()),
            ("authorization", "Bearer opaque".to_string()),
        ]
    };
    let calls = [
        call("GET", "/open-banking/v3.1/aisp/accounts", fapi(&aisp)),
        call("GET", "/open-banking/v3.1/aisp/accounts", fapi(&pisp)),
        // Same capability, no FAPI header and no credential: the policy differs.
        call(
            "GET",
            "/open-banking/v3.1/aisp/balances",
            vec![("x-forwarded-client-cert", xfcc(&aisp))],
        ),
        call(
            "POST",
            "/open-banking/v3.1/pisp/domestic-payments",
            fapi(&pisp),
        ),
        call("GET", "/health", vec![]),
    ];
    let inv = scan(&observer(true), &calls);
    let rows = exposure::exposure(&inv, &[], &[]);
    let caps: Vec<(&str, usize, usize, bool)> = rows
        .iter()
        .map(|r| {
            (
                r.capability.as_str(),
                r.endpoints.len(),
                r.tpps,
                r.consistent_policy,
            )
        })
        .collect();
    assert_eq!(
        caps,
        [
            ("account_information", 2, 2, false),
            ("payment_initiation", 1, 1, true)
        ]
    );
    assert_eq!(
        rows[0].policy_differences,
        [
            "auth: bearer | none",
            "fapi headers: none | x-fapi-interaction-id"
        ]
    );
    let table = exposure::markdown_table(&rows, &|s| s.to_string());
    assert!(table.contains("| payment_initiation | 1/0/0 | 1 | none | 1 | consistent |"));
}

#[test]
fn lens_records_travel_the_wire_and_old_documents_still_decode() {
    let aisp = tpp_cert("PSDGB-FCA-111111", Some(&["PSP_AI"]), 2025, 2027);
    let calls = [call(
        "GET",
        "/open-banking/v3.1/aisp/accounts",
        vec![("x-forwarded-client-cert", xfcc(&aisp))],
    )];
    let inv = scan(&observer(true), &calls);
    let doc = crate::wire::InventoryDoc::from_inventory(&inv);
    let json = serde_json::to_string(&doc).unwrap();
    let back: crate::wire::InventoryDoc = serde_json::from_str(&json).unwrap();
    let back = back.to_inventory(InventoryLimits::default());
    assert_eq!(back, inv);
    // Merging a batch into itself doubles counts and keeps one TPP (the collector's path).
    let mut twice = back.clone();
    twice.merge(&inv);
    let rec = twice.endpoints.values().next().unwrap();
    let ob = rec.openbanking.as_deref().unwrap();
    assert_eq!(ob.tpps["tpp:PSDGB-FCA-111111"].exchanges, 2);
    // A document written before the lens existed has no `openbanking` key and decodes.
    let mut value: serde_json::Value = serde_json::from_str(&json).unwrap();
    let record = &mut value["endpoints"][0]["record"];
    assert!(record.get("openbanking").is_some());
    record.as_object_mut().unwrap().remove("openbanking");
    let old: crate::wire::InventoryDoc = serde_json::from_value(value).unwrap();
    let old = old.to_inventory(InventoryLimits::default());
    assert!(old.endpoints.values().all(|r| r.openbanking.is_none()));
}

/// An observer with these lens settings, taking client addresses from `X-Forwarded-For`.
fn observer_with(settings: &ObSettings) -> Observer {
    let mut o = Observer::new(
        Templater::default(),
        Classifier::builtin(),
        ConsumerConfig::new(b"t", true),
    );
    o.openbanking = Lens::from_settings(settings).unwrap().map(Arc::new);
    o
}

/// A TPP's call: its certificate forwarded by the proxy, a bearer token, a valid interaction id.
fn tpp_call<'a>(
    cert: &rcgen::Certificate,
    token: &str,
    method: &'a str,
    path: &'a str,
    secs: i64,
) -> Call<'a> {
    let mut c = call(
        method,
        path,
        vec![
            ("x-forwarded-client-cert", xfcc(cert)),
            ("authorization", format!("Bearer {token}")),
            ("x-fapi-interaction-id", UUID.into()),
        ],
    );
    c.secs = secs;
    c
}

const ACCOUNTS: &str = "/open-banking/v3.1/aisp/accounts";

#[test]
fn consents_created_used_by_another_tpp_and_missing() {
    let settings = ObSettings {
        enabled: true,
        trusted_proxies: vec![PROXY.into()],
        consent_paths: vec![
            ACCOUNTS.into(),
            "/open-banking/v3.1/pisp/domestic-payments".into(),
        ],
        ..ObSettings::default()
    };
    let maker = tpp_cert("PSDGB-FCA-111111", Some(&["PSP_AI"]), 2025, 2027);
    let other = tpp_cert("PSDGB-FCA-222222", Some(&["PSP_AI", "PSP_PI"]), 2025, 2027);
    let plain = unsigned_jwt(&serde_json::json!({"client_id": "x"}));
    let with_consent = unsigned_jwt(&serde_json::json!({"openbanking_intent_id": "aac-1"}));
    let t = 1_767_225_600;
    let mut create = tpp_call(
        &maker,
        &plain,
        "POST",
        "/open-banking/v3.1/aisp/account-access-consents",
        t,
    );
    create.request_body = r#"{"Data":{"Permissions":["ReadAccountsBasic"]}}"#.into();
    create.response_body =
        r#"{"Data":{"ConsentId":"aac-1","Status":"AwaitingAuthorisation"}}"#.into();
    create.status = 201;
    let mut refused = tpp_call(
        &other,
        &plain,
        "POST",
        "/open-banking/v3.1/aisp/account-access-consents",
        t,
    );
    refused.response_body = r#"{"Data":{"ConsentId":"aac-2"}}"#.into();
    refused.status = 400;
    let mut by_header = tpp_call(&other, &plain, "GET", ACCOUNTS, t + 1);
    by_header.request.push(("Consent-ID", "aac-1".into()));
    let mut pay_consent = tpp_call(
        &other,
        &plain,
        "POST",
        "/open-banking/v3.1/pisp/domestic-payment-consents",
        t,
    );
    pay_consent.response_body = r#"{"Data":{"ConsentId":"pdc-1"}}"#.into();
    pay_consent.status = 201;
    let mut pay = tpp_call(
        &other,
        &plain,
        "POST",
        "/open-banking/v3.1/pisp/domestic-payments",
        t + 2,
    );
    pay.request_body = r#"{"Data":{"ConsentId":"pdc-1","Initiation":{}}}"#.into();
    pay.status = 201;
    let calls = [
        create,
        refused,
        // The creator through its token's claim, and through the path.
        tpp_call(&maker, &with_consent, "GET", ACCOUNTS, t + 1),
        tpp_call(
            &maker,
            &plain,
            "GET",
            "/open-banking/v3.1/aisp/account-access-consents/aac-1",
            t + 1,
        ),
        by_header,
        pay_consent,
        pay,
        // No consent anywhere, on a consent-bound endpoint.
        tpp_call(
            &maker,
            &plain,
            "GET",
            "/open-banking/v3.1/aisp/accounts/acc-1/balances",
            t + 3,
        ),
    ];
    let inv = scan(&observer_with(&settings), &calls);
    let json = serde_json::to_string(&inv.endpoints.values().collect::<Vec<_>>()).unwrap();
    for raw in ["aac-1", "aac-2", "pdc-1"] {
        assert!(!json.contains(raw), "{raw} leaked");
    }
    let mut got: Vec<String> = findings_with(inv, settings)
        .into_iter()
        .filter(|f| {
            matches!(
                f.kind,
                FindingKind::ConsentMisuse | FindingKind::ConsentMissing
            )
        })
        .map(|f| {
            let e = &f.evidence;
            assert!(e
                .consent
                .as_deref()
                .is_none_or(|c| c.starts_with("consent:")));
            format!(
                "{} {} {:?} {:?} {:?}",
                f.kind,
                f.path.unwrap_or_default(),
                e.tpps,
                e.created_by,
                e.counts
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            r#"consent_missing /open-banking/v3.1/aisp/accounts/acc-1/balances {} [] {"without_consent": 1}"#,
            r#"consent_misuse /open-banking/v3.1/aisp/accounts {"tpp:PSDGB-FCA-222222": 1} ["tpp:PSDGB-FCA-111111"] {}"#,
        ]
    );
}

/// Six one-minute buckets: steady TPPs, one whose volume jumps, one new on payments, one
/// token from three addresses.
fn behaviour_calls<'a>(
    certs: &'a [rcgen::Certificate; 4],
    tokens: &'a [String; 4],
) -> Vec<Call<'a>> {
    let [steady, jumpy, payer, newcomer] = certs;
    let t0 = 1_767_225_600;
    let pay = "/open-banking/v3.1/pisp/domestic-payments";
    let mut calls = Vec::new();
    for b in 0..6i64 {
        let t = t0 + b * 60;
        for i in 0..2 {
            let mut c = tpp_call(steady, &tokens[0], "GET", ACCOUNTS, t + i);
            c.request
                .push(("X-Forwarded-For", format!("198.51.100.{}", b % 3)));
            calls.push(c);
        }
        let n = if b == 5 { 12 } else { 2 };
        for i in 0..n {
            calls.push(tpp_call(jumpy, &tokens[1], "GET", ACCOUNTS, t + 10 + i));
        }
        calls.push(tpp_call(payer, &tokens[2], "POST", pay, t + 30));
        if b >= 4 {
            calls.push(tpp_call(newcomer, &tokens[3], "POST", pay, t + 40));
        }
    }
    calls
}

fn behaviour_settings() -> ObSettings {
    ObSettings {
        enabled: true,
        trusted_proxies: vec![PROXY.into()],
        anomaly: behaviour::AnomalySettings {
            enabled: true,
            bucket_secs: 60,
            baseline_buckets: 3,
            volume_factor: 4,
            min_volume: 8,
            max_token_addresses: 2,
            ..behaviour::AnomalySettings::default()
        },
        ..ObSettings::default()
    }
}

fn behaviour_certs() -> ([rcgen::Certificate; 4], [String; 4]) {
    let certs = [
        tpp_cert("PSDGB-FCA-100001", Some(&["PSP_AI"]), 2025, 2027),
        tpp_cert("PSDGB-FCA-200002", Some(&["PSP_AI"]), 2025, 2027),
        tpp_cert("PSDGB-FCA-300003", Some(&["PSP_PI"]), 2025, 2027),
        tpp_cert("PSDGB-FCA-400004", Some(&["PSP_PI"]), 2025, 2027),
    ];
    let tokens = ["a", "b", "c", "d"].map(|c| unsigned_jwt(&serde_json::json!({"client_id": c})));
    (certs, tokens)
}

fn anomalies(inv: Inventory, settings: ObSettings) -> Vec<String> {
    let mut got: Vec<String> = findings_with(inv, settings)
        .into_iter()
        .filter(|f| f.kind == FindingKind::ConsumerAnomaly)
        .map(|f| {
            let e = &f.evidence;
            format!(
                "{:?} {} {} {:?} | {:?} | {:?}",
                e.counts.keys().collect::<Vec<_>>(),
                e.consumer.clone().unwrap_or_default(),
                f.path.unwrap_or_default(),
                e.baseline,
                e.observed,
                e.endpoints,
            )
        })
        .collect();
    got.sort();
    got
}

#[test]
fn consumers_against_their_own_baseline() {
    let settings = behaviour_settings();
    let (certs, tokens) = behaviour_certs();
    let calls = behaviour_calls(&certs, &tokens);
    let inv = scan(&observer_with(&settings), &calls);
    let json = serde_json::to_string(&inv.endpoints.values().collect::<Vec<_>>()).unwrap();
    for raw in ["198.51.100", &tokens[0][..20]] {
        assert!(!json.contains(raw), "{raw} leaked");
    }
    let got = anomalies(inv, settings.clone());
    assert_eq!(got.len(), 3, "{got:#?}");
    assert!(got[0].starts_with(r#"["new_consumer"] tpp:PSDGB-FCA-400004 /open-banking/v3.1/pisp/domestic-payments {"consumers": "1", "endpoint_since": "2026-01-01T00:00:00.000000Z", "history_buckets": "4""#), "{}", got[0]);
    assert!(got[0].contains(r#""exchanges": "2""#), "{}", got[0]);
    assert!(got[1].starts_with(r#"["token_many_addresses"] tpp:PSDGB-FCA-100001  {"max_addresses_per_token": "2"} | {"addresses": "3", "token": "token:"#), "{}", got[1]);
    assert!(
        got[1].ends_with(r#"["GET /open-banking/v3.1/aisp/accounts"]"#),
        "{}",
        got[1]
    );
    assert_eq!(
        got[2],
        r#"["volume_jump"] tpp:PSDGB-FCA-200002 /open-banking/v3.1/aisp/accounts {"active_buckets": "5", "addresses": "1", "errors": "0", "max_per_bucket": "2", "mean_per_bucket": "2.0", "since": "2026-01-01T00:00:00.000000Z", "user_agents": "0"} | {"addresses": "1", "bucket": "2026-01-01T00:05:00.000000Z", "errors": "0", "exchanges": "12", "user_agents": "0"} | []"#
    );
    // Off: the same traffic keeps no baseline and says nothing.
    let off = ObSettings {
        anomaly: behaviour::AnomalySettings::default(),
        ..settings
    };
    let inv = scan(&observer_with(&off), &calls);
    assert!(inv.endpoints.values().all(|r| r
        .openbanking
        .as_ref()
        .is_none_or(|o| o.behaviour.is_empty())));
    assert_eq!(anomalies(inv, off), Vec::<String>::new());
}

#[test]
fn baselines_merge_across_windows_through_the_wire() {
    let settings = behaviour_settings();
    let (certs, tokens) = behaviour_certs();
    let calls = behaviour_calls(&certs, &tokens);
    let observer = observer_with(&settings);
    let whole = anomalies(scan(&observer, &calls), settings.clone());
    // Two agents' windows (the calls split by time), each through the wire, merged.
    let cut = 1_767_225_600 + 3 * 60;
    let (early, late): (Vec<_>, Vec<_>) = calls.into_iter().partition(|c| c.secs < cut);
    let mut merged = Inventory::default();
    for part in [late, early] {
        let doc = crate::wire::InventoryDoc::from_inventory(&scan(&observer, &part));
        let json = serde_json::to_string(&doc).unwrap();
        let back: crate::wire::InventoryDoc = serde_json::from_str(&json).unwrap();
        merged.merge(&back.to_inventory(InventoryLimits::default()));
    }
    assert_eq!(anomalies(merged, settings), whole);
    assert_eq!(whole.len(), 3);
}

#[test]
fn behaviour_tables_are_capped_and_count_what_did_not_fit() {
    let mut b = behaviour::Behaviour::default();
    for i in 0..(behaviour::MAX_BUCKETS as i64 + 10) {
        b.add(&behaviour::Sighting {
            bucket: i,
            consumer: "c",
            ..Default::default()
        });
    }
    assert_eq!(b.consumers["c"].len(), behaviour::MAX_BUCKETS);
    assert_eq!(b.consumers["c"].keys().next(), Some(&10));
    assert_eq!(b.overflow, 10);
    for i in 0..behaviour::MAX_CONSUMERS + 3 {
        b.add(&behaviour::Sighting {
            bucket: 0,
            consumer: &format!("k{i}"),
            ..Default::default()
        });
    }
    assert_eq!(b.consumers.len(), behaviour::MAX_CONSUMERS);
    assert_eq!(b.overflow, 10 + 4);
}

#[test]
fn a_consumer_pulling_a_data_class_it_never_did() {
    let settings = behaviour_settings();
    let (certs, tokens) = behaviour_certs();
    let mut calls = Vec::new();
    for b in 0..6i64 {
        for i in 0..2 {
            let mut c = tpp_call(
                &certs[0],
                &tokens[0],
                "GET",
                ACCOUNTS,
                1_767_225_600 + b * 60 + i,
            );
            c.response_body = if b == 5 {
                r#"{"Data":{"Account":[{"Identification":"GB82WEST12345698765432"}]}}"#.into()
            } else {
                r#"{"Data":{"Account":[{"Nickname":"Bills"}]}}"#.into()
            };
            calls.push(c);
        }
    }
    let got = anomalies(scan(&observer_with(&settings), &calls), settings);
    assert_eq!(got.len(), 1, "{got:#?}");
    assert!(
        got[0].starts_with(r#"["new_data_class"] tpp:PSDGB-FCA-100001 /open-banking/v3.1/aisp/accounts {"classes": "none", "classified_responses": "10""#),
        "{}",
        got[0]
    );
    assert!(got[0].contains(r#""new_classes": "iban""#), "{}", got[0]);
}
