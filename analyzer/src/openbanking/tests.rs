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
    }
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
        let (request, _) = b.request(peer, server, &view, none, ts);
        let rview = ResponseView {
            status: 200,
            version: HttpVersion::Http11,
            headers: &sh,
        };
        let (response, _) = b.response(Some(&request), &rview, none, ts);
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
    let policy = FindingPolicy {
        openbanking: ObSettings {
            enabled: true,
            fapi_paths: vec!["/open-banking/".into()],
            signing_paths: vec!["/open-banking/v3.1/pisp/".into()],
            ..ObSettings::default()
        },
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
