//! Typed drift, one finding kind at a time: the specs in `fixtures/drift/` loaded from disk, and
//! synthetic observations (built as `Observation` values, field shapes derived from JSON bodies
//! the way the observer derives them). Each test starts from clean traffic that exercises every
//! operation of `accounts.yaml` without a single finding, adds one deviation, and requires
//! exactly the one finding it causes. Version pairs (`bank-v1.yaml` / `bank-v2*.yaml`) check
//! that traffic of an old version shows as zombie or shadow against the new one.

use analyzer::catalogue::{ApiSelector, Catalogue, CatalogueConfig, HostMapping};
use analyzer::diff::{diff_with, FindingPolicy};
use analyzer::finding::{Finding, FindingKind, Severity};
use analyzer::inventory::Inventory;
use analyzer::observation::{
    AuthScheme, Consumer, DataClassHit, EndpointKey, FieldShape, FieldType, Observation,
    TemplateSource,
};
use analyzer::time::Timestamp;
use collector::catalogue_files::load_catalogue;
use serde_json::{json, Value};
use std::path::PathBuf;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/drift")
        .join(name)
}

fn catalogue(names: &[&str]) -> Catalogue {
    let paths: Vec<PathBuf> = names.iter().map(|n| fixture(n)).collect();
    let loaded = load_catalogue(&paths).expect("fixtures load");
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    assert!(
        loaded.catalogue.problems.is_empty(),
        "{:?}",
        loaded.catalogue.problems
    );
    loaded.catalogue
}

fn severity(class: &str) -> Severity {
    match class {
        "pan" => Severity::Critical,
        "iban" => Severity::High,
        _ => Severity::Medium,
    }
}

/// Field shapes of a JSON body, as `analyzer::observe` records them (containers included).
fn shapes(v: &Value) -> Vec<FieldShape> {
    fn walk(v: &Value, path: &mut String, out: &mut Vec<FieldShape>) {
        let ty = match v {
            Value::Null => FieldType::Null,
            Value::Bool(_) => FieldType::Boolean,
            Value::Number(n) if n.is_i64() || n.is_u64() => FieldType::Integer,
            Value::Number(_) => FieldType::Number,
            Value::String(_) => FieldType::String,
            Value::Array(_) => FieldType::Array,
            Value::Object(_) => FieldType::Object,
        };
        if !path.is_empty() {
            out.push(FieldShape {
                path: path.clone(),
                ty,
            });
        }
        match v {
            Value::Array(items) => {
                let len = path.len();
                path.push_str("[]");
                for item in items {
                    walk(item, path, out);
                }
                path.truncate(len);
            }
            Value::Object(map) => {
                for (k, item) in map {
                    let len = path.len();
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(k);
                    walk(item, path, out);
                    path.truncate(len);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(v, &mut String::new(), &mut out);
    out.sort();
    out.dedup();
    out
}

/// One exchange, clean by default: bearer credentials, JSON both ways when bodies are given.
struct Call {
    host: &'static str,
    method: &'static str,
    path: &'static str,
    status: u16,
    query: Vec<&'static str>,
    request: Option<Value>,
    request_type: Option<&'static str>,
    response: Option<Value>,
    response_type: Option<&'static str>,
    classes: Vec<(&'static str, &'static str)>,
    auth: AuthScheme,
}

fn call(method: &'static str, path: &'static str, status: u16) -> Call {
    Call {
        host: "api.drift.example",
        method,
        path,
        status,
        query: vec![],
        request: None,
        request_type: None,
        response: None,
        response_type: None,
        classes: vec![],
        auth: AuthScheme::Bearer,
    }
}

impl Call {
    fn on(mut self, host: &'static str) -> Self {
        self.host = host;
        self
    }
    fn request(mut self, body: Value) -> Self {
        self.request = Some(body);
        self.request_type.get_or_insert("application/json");
        self
    }
    fn response(mut self, body: Value) -> Self {
        self.response = Some(body);
        self.response_type.get_or_insert("application/json");
        self
    }
    fn class(mut self, class: &'static str, location: &'static str) -> Self {
        self.classes.push((class, location));
        self
    }
    fn observation(&self, ts: i64) -> Observation {
        Observation {
            template_source: TemplateSource::Declared,
            status: Some(self.status),
            request_content_type: self.request_type.map(str::to_string),
            response_content_type: self.response_type.map(str::to_string),
            query_params: self.query.iter().map(|q| q.to_string()).collect(),
            request_fields: self.request.as_ref().map(shapes).unwrap_or_default(),
            response_fields: self.response.as_ref().map(shapes).unwrap_or_default(),
            data_classes: self
                .classes
                .iter()
                .map(|(c, l)| DataClassHit {
                    class: c.to_string(),
                    location: l.to_string(),
                    preview: "***".into(),
                })
                .collect(),
            auth: self.auth.clone(),
            ..Observation::bare(
                Timestamp(ts),
                EndpointKey {
                    host: self.host.into(),
                    method: self.method.into(),
                    path: self.path.into(),
                },
                Consumer {
                    address: "10.0.0.1".into(),
                    credential: Some("key:1".into()),
                },
            )
        }
    }
}

fn account_body() -> Value {
    json!({
        "Data": {"Account": [{
            "AccountId": "22289",
            "Balance": {"Amount": "10.00", "Currency": "GBP"},
            "Overdraft": 250,
            "Parent": {"AccountId": "1", "Parent": {"AccountId": "0", "Overdraft": 1.5}},
            "Account": [{"SchemeName": "UK.OBIE.IBAN", "Identification": "GB00", "Name": "A"}]
        }]},
        "Links": {"Self": "https://api.drift.example/v1/accounts/22289"}
    })
}

fn payment_body() -> Value {
    json!({"Data": {
        "InstructedAmount": {"Amount": "5.00", "Currency": "GBP"},
        "CreditorAccount": {"SchemeName": "UK.OBIE.IBAN", "Identification": "GB00", "Name": "B"},
        "Reference": "INV-1"
    }})
}

/// Traffic that exercises every operation of `accounts.yaml` as declared.
fn clean_calls() -> Vec<Call> {
    vec![
        call("GET", "/v1/accounts/{AccountId}", 200)
            .response(account_body())
            .class(
                "iban",
                "response.body.Data.Account[].Account[].Identification",
            ),
        // A null balance (oneOf with `type: "null"`) and a 404 with the error schema.
        call("GET", "/v1/accounts/{AccountId}", 200)
            .response(json!({"Data": {"Account": [{"AccountId": "1", "Balance": null}]}})),
        call("GET", "/v1/accounts/{AccountId}", 404)
            .response(json!({"Code": "404", "Message": "no such account"})),
        call("POST", "/v1/payments", 201)
            .request(payment_body())
            .response(json!({"PaymentId": "5b1c", "Status": "Pending"}))
            .class("iban", "request.body.Data.CreditorAccount.Identification"),
        {
            let mut c = call("GET", "/v1/customers/{CustomerId}/contact", 200)
                .response(json!({
                    "email": "a@example.com", "mobile": "+447700900123", "note": null,
                    "tags": {"segment": "retail"}, "extra": {"free": {"form": [1, 2]}}
                }))
                .class("email", "request.query.email")
                .class("email", "response.body.email")
                .class("phone", "response.body.mobile");
            c.query = vec!["email"];
            c
        },
    ]
}

fn run(catalogue: &Catalogue, calls: &[Call]) -> Vec<Finding> {
    let mut inv = Inventory::default();
    for (i, c) in calls.iter().enumerate() {
        inv.add(&c.observation(1_000 + i as i64));
    }
    // These calls are a handful of exchanges within milliseconds: about what the diff calls
    // each endpoint, not whether there is evidence enough (analyzer::diff::evidence tests that),
    // so the raw policy: every undeclared endpoint is a shadow endpoint.
    diff_with(&inv, catalogue, &severity, &FindingPolicy::raw()).findings
}

/// Clean traffic plus `extra`, against `accounts.yaml`: exactly one finding, of `kind`.
fn only(kind: FindingKind, extra: Vec<Call>) -> Finding {
    let cat = catalogue(&["accounts.yaml"]);
    let mut calls = clean_calls();
    calls.extend(extra);
    let findings = run(&cat, &calls);
    assert_eq!(
        findings.iter().map(|f| f.kind).collect::<Vec<_>>(),
        vec![kind],
        "{findings:#?}"
    );
    findings.into_iter().next().expect("one finding")
}

#[test]
fn clean_traffic_gives_no_finding() {
    let cat = catalogue(&["accounts.yaml"]);
    let findings = run(&cat, &clean_calls());
    assert!(findings.is_empty(), "{findings:#?}");
}

#[test]
fn drift_response_field_undeclared_and_mistyped() {
    let mut body = account_body();
    body["Data"]["Account"][0]["InternalRiskScore"] = json!({"Score": 7, "Model": "x"});
    body["Links"]["Self"] = json!(17);
    let f = only(
        FindingKind::DriftResponseField,
        vec![call("GET", "/v1/accounts/{AccountId}", 200).response(body)],
    );
    assert_eq!(
        f.evidence
            .undeclared_fields
            .keys()
            .cloned()
            .collect::<Vec<_>>(),
        vec!["Data.Account[].InternalRiskScore"]
    );
    assert_eq!(
        f.evidence.field_type_mismatches["Links.Self"],
        "integer (declared: string)"
    );
    assert!(f.detail.contains("2 fields below"), "{}", f.detail);
    assert_eq!(f.severity, Severity::Low);
}

#[test]
fn drift_request_field_on_a_write_is_medium() {
    let mut body = payment_body();
    body["Data"]["Debtor"] = json!({"Name": "C", "Override": true});
    let f = only(
        FindingKind::DriftRequestField,
        vec![call("POST", "/v1/payments", 201)
            .request(body)
            .response(json!({"PaymentId": "x", "Status": "Pending"}))],
    );
    assert_eq!(
        f.evidence
            .undeclared_fields
            .keys()
            .cloned()
            .collect::<Vec<_>>(),
        vec!["Data.Debtor"]
    );
    assert_eq!(f.severity, Severity::Medium);
    assert!(f.severity_reason.contains("POST"), "{}", f.severity_reason);
}

#[test]
fn drift_content_type_on_a_request() {
    let mut c = call("POST", "/v1/payments", 201).response(json!({"PaymentId": "x"}));
    c.request_type = Some("application/xml");
    let f = only(FindingKind::DriftContentType, vec![c]);
    assert_eq!(
        f.evidence
            .undeclared_content_types
            .keys()
            .collect::<Vec<_>>(),
        vec!["request:application/xml"]
    );
    assert_eq!(f.severity, Severity::Medium);
}

#[test]
fn html_error_pages_of_undeclared_statuses_are_not_content_type_drift() {
    let mut c = call("GET", "/v1/accounts/{AccountId}", 500);
    c.response_type = Some("text/html");
    // The 500 is drift_status; its HTML body is the same problem, not a second one.
    only(FindingKind::DriftStatus, vec![c]);
}

#[test]
fn drift_data_class_in_a_declared_field_and_a_parameter() {
    let mut body = payment_body();
    body["Data"]["Reference"] = json!("jane@example.com");
    let f = only(
        FindingKind::DriftDataClass,
        vec![call("POST", "/v1/payments", 201)
            .request(body)
            .response(json!({"PaymentId": "x", "Status": "Pending"}))
            .class("email", "request.body.Data.Reference")],
    );
    assert_eq!(
        f.evidence.data_classes,
        vec!["email@request.body.Data.Reference"]
    );
    assert_eq!(f.severity, Severity::Medium);

    // A card number in a declared query parameter that is not declared to carry one.
    let mut c = call("GET", "/v1/accounts/{AccountId}", 200)
        .response(account_body())
        .class("pan", "request.query.expand");
    c.query = vec!["expand"];
    let f = only(FindingKind::DriftDataClass, vec![c]);
    assert_eq!(f.severity, Severity::Critical);
    assert_eq!(f.evidence.data_classes, vec!["pan@request.query.expand"]);
}

#[test]
fn an_iban_where_x_data_classes_names_another_class_is_drift() {
    // `Identification` admits exactly [iban]: an email there is drift even though the field is
    // declared.
    let f = only(
        FindingKind::DriftDataClass,
        vec![call("POST", "/v1/payments", 201)
            .request(payment_body())
            .response(json!({"PaymentId": "x"}))
            .class("email", "request.body.Data.CreditorAccount.Identification")],
    );
    assert!(f
        .detail
        .contains("email@request.body.Data.CreditorAccount.Identification"));
}

#[test]
fn drift_param_status_and_auth_stay_one_finding_each() {
    let mut c = call("GET", "/v1/accounts/{AccountId}", 200).response(account_body());
    c.query = vec!["debug"];
    only(FindingKind::DriftParam, vec![c]);
    only(
        FindingKind::DriftStatus,
        vec![call("GET", "/v1/accounts/{AccountId}", 503)
            .response(json!({"Code": "503", "Message": "later"}))],
    );
    let mut c = call("GET", "/v1/accounts/{AccountId}", 200).response(account_body());
    c.auth = AuthScheme::None;
    let f = only(FindingKind::DriftAuth, vec![c]);
    assert!(f.severity >= Severity::High);
}

#[test]
fn shadow_endpoint_shadow_host_and_orphaned() {
    only(
        FindingKind::ShadowEndpoint,
        vec![call("GET", "/v1/accounts/{AccountId}/export", 200)],
    );
    only(
        FindingKind::ShadowHost,
        vec![call("GET", "/internal", 200).on("admin.drift.example")],
    );
    let cat = catalogue(&["accounts.yaml"]);
    let calls: Vec<Call> = clean_calls()
        .into_iter()
        .filter(|c| !c.path.contains("contact"))
        .collect();
    let findings = run(&cat, &calls);
    assert_eq!(findings.len(), 1, "{findings:#?}");
    assert_eq!(findings[0].kind, FindingKind::Orphaned);
    assert_eq!(findings[0].evidence.host_seen, Some(true));
    assert!(
        findings[0].detail.contains("between"),
        "{}",
        findings[0].detail
    );
}

#[test]
fn aggregation_counts_instead_of_repeating() {
    let cat = catalogue(&["accounts.yaml"]);
    let mut calls = clean_calls();
    for _ in 0..25 {
        let mut c = call("GET", "/v1/accounts/{AccountId}", 200).response(account_body());
        c.query = vec!["debug"];
        calls.push(c);
    }
    let findings = run(&cat, &calls);
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].evidence.undeclared_params["query:debug"], 25);
}

/// Traffic of v1 clients of the card API.
fn v1_calls() -> Vec<Call> {
    [
        "/api/cards",
        "/api/cards/{cardId}",
        "/api/cards/{cardId}/pin",
    ]
    .into_iter()
    .map(|p| call("GET", p, 200).on("cards.drift.example"))
    .chain([call("POST", "/api/cards/{cardId}/block", 200).on("cards.drift.example")])
    .map(|mut c| {
        c.auth = AuthScheme::None;
        c
    })
    .collect()
}

fn kinds(findings: &[Finding]) -> Vec<(FindingKind, String, String)> {
    let mut v: Vec<_> = findings
        .iter()
        .map(|f| {
            (
                f.kind,
                f.method.clone().unwrap_or_default(),
                f.path.clone().unwrap_or_default(),
            )
        })
        .collect();
    v.sort();
    v
}

fn k(kind: FindingKind, m: &str, p: &str) -> (FindingKind, String, String) {
    (kind, m.to_string(), p.to_string())
}

#[test]
fn old_traffic_against_the_new_version_same_base_path() {
    let findings = run(&catalogue(&["bank-v2.yaml"]), &v1_calls());
    assert_eq!(
        kinds(&findings),
        vec![
            k(
                FindingKind::ShadowEndpoint,
                "GET",
                "/api/cards/{cardId}/pin"
            ),
            k(FindingKind::Orphaned, "POST", "/api/cards/{cardId}/freeze"),
            k(FindingKind::Zombie, "POST", "/api/cards/{cardId}/block"),
        ]
    );
}

#[test]
fn old_traffic_against_the_new_version_under_a_new_base_path() {
    let findings = run(&catalogue(&["bank-v2-moved.yaml"]), &v1_calls());
    assert_eq!(
        kinds(&findings),
        vec![
            k(FindingKind::ShadowEndpoint, "GET", "/api/cards"),
            k(FindingKind::ShadowEndpoint, "GET", "/api/cards/{cardId}"),
            k(
                FindingKind::ShadowEndpoint,
                "GET",
                "/api/cards/{cardId}/pin"
            ),
            k(
                FindingKind::ShadowEndpoint,
                "POST",
                "/api/cards/{cardId}/block"
            ),
            k(FindingKind::Orphaned, "GET", "/api/v2/cards"),
            k(FindingKind::Orphaned, "GET", "/api/v2/cards/{cardId}"),
        ]
    );
}

#[test]
fn a_version_marked_retired_makes_every_call_a_zombie() {
    let mut cat = catalogue(&["bank-v1.yaml", "bank-v2-moved.yaml"]);
    let warnings = cat.apply_config(&CatalogueConfig {
        retired: vec![ApiSelector("Drift Bank Cards@1.0".into())],
        ..CatalogueConfig::default()
    });
    assert!(warnings.is_empty(), "{warnings:?}");
    let findings = run(&cat, &v1_calls());
    let zombies: Vec<_> = findings
        .iter()
        .filter(|f| f.kind == FindingKind::Zombie)
        .collect();
    assert_eq!(zombies.len(), 4, "{findings:#?}");
    assert!(zombies.iter().all(|f| f.evidence.retired == Some(true)));
    // The block call writes: above the reads.
    let block = zombies
        .iter()
        .find(|f| f.method.as_deref() == Some("POST"))
        .expect("POST block");
    assert_eq!(block.severity, Severity::High);
    assert_eq!(findings.len(), 6, "4 zombies + 2 orphaned v2 operations");
}

#[test]
fn host_mapping_names_the_real_hosts_of_a_relative_server() {
    // The spec declares no security: calls without credentials are clean.
    let anonymous = |host: &'static str| {
        let mut c = call("GET", "/statements/v1/statements", 200).on(host);
        c.auth = AuthScheme::None;
        c
    };
    let stmt = || anonymous("statements.drift.example");
    let elsewhere = || anonymous("evil.drift.example");

    // Unmapped, a relative server matches any host: the second host looks declared too.
    let cat = catalogue(&["relative-server.yaml"]);
    assert!(run(&cat, &[stmt(), elsewhere()]).is_empty());

    let mut cat = catalogue(&["relative-server.yaml"]);
    let warnings = cat.apply_config(&CatalogueConfig {
        hosts: vec![HostMapping {
            spec: ApiSelector("relative-server.yaml".into()),
            hosts: vec!["Statements.Drift.Example".into()],
            prefix: None,
        }],
        ..CatalogueConfig::default()
    });
    assert!(warnings.is_empty(), "{warnings:?}");
    let findings = run(&cat, &[stmt(), elsewhere()]);
    assert_eq!(
        findings
            .iter()
            .map(|f| (f.kind, f.host.as_str()))
            .collect::<Vec<_>>(),
        vec![(FindingKind::ShadowHost, "evil.drift.example")]
    );

    // A prefix replaces the server's path prefix.
    let mut cat = catalogue(&["relative-server.yaml"]);
    cat.apply_config(&CatalogueConfig {
        hosts: vec![HostMapping {
            spec: ApiSelector("Drift Bank Statements".into()),
            hosts: vec!["statements.drift.example".into()],
            prefix: Some("/stmts/".into()),
        }],
        ..CatalogueConfig::default()
    });
    assert!(cat
        .find_operation("statements.drift.example", "GET", "/stmts/statements")
        .is_some());
    assert!(cat
        .find_operation(
            "statements.drift.example",
            "GET",
            "/statements/v1/statements"
        )
        .is_none());

    // Entries that match nothing are reported, naming the entry.
    let warnings = cat.apply_config(&CatalogueConfig {
        retired: vec![ApiSelector("nope.yaml".into())],
        ..CatalogueConfig::default()
    });
    assert_eq!(warnings.len(), 1);
    assert!(warnings[0].contains("retired[0]"), "{warnings:?}");
}
