//! The dashboard and the review API driven in-process (no sockets): login and sessions, CSRF,
//! escaping of hostile hosts and paths, review actions and their effect on the findings list,
//! expiry of suppressions, caps, and review state kept across a store reopen.

use analyzer::catalogue::Catalogue;
use analyzer::classify::Classifier;
use analyzer::inventory::Inventory;
use analyzer::wire::Batch;
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use collector::config::CollectorSettings;
use collector::review::{EventAction, ReviewEvent, ReviewState};
use collector::server::{router, AppState};
use collector::store::{SledStore, Store};
use std::path::Path;
use std::sync::Arc;
use tower::ServiceExt;

const TOKEN: &str = "dash-token";
const HOSTILE_HOST: &str = "<script>alert(1)</script>";
const HOSTILE_PATH: &str = "/\"><img src=x onerror=alert(1)>";

fn observation(host: &str, path: &str) -> analyzer::observation::Observation {
    serde_json::from_value(serde_json::json!({
        "ts": 1_700_000_000_000_000i64,
        "endpoint": {"host": host, "method": "GET", "path": path},
        "template_source": "learned",
        "status": 200,
        "request_content_type": null,
        "response_content_type": null,
        "query_params": ["<b>q</b>"], "header_params": [], "request_fields": [], "response_fields": [],
        "data_classes": [], "auth": "none",
        "consumer": {"address": "10.0.0.1", "credential": null},
        "request_body_len": 0, "response_body_len": 0, "anomalies": []
    }))
    .expect("observation json")
}

/// A store holding one hostile endpoint and one ordinary one; no catalogue, so both are shadow.
fn state(dir: &Path) -> Arc<AppState> {
    let mut inv = Inventory::default();
    inv.add(&observation(HOSTILE_HOST, HOSTILE_PATH));
    inv.add(&observation("api.test", "/ping"));
    state_holding(dir, &inv)
}

/// State over a sled store in `dir` holding `inv` as one agent's batch (applied once: a
/// reopened store keeps what it has), with no catalogue.
fn state_holding(dir: &Path, inv: &Inventory) -> Arc<AppState> {
    let settings = CollectorSettings {
        data: dir.to_path_buf(),
        api_token: Some(TOKEN.into()),
        max_sessions: 4,
        ..CollectorSettings::default()
    };
    let store = SledStore::open(dir, settings.store_limits()).expect("open store");
    if store.agents().expect("agents").is_empty() {
        let batch = Batch::new("a1", 1, 0, inv, Default::default());
        store.apply(&batch).expect("apply");
    }
    AppState::new(
        settings,
        Classifier::builtin(),
        Arc::new(store),
        Catalogue::default(),
    )
}

struct Resp {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: String,
}

async fn call(st: &Arc<AppState>, req: Request<Body>) -> Resp {
    let r = router(Arc::clone(st))
        .oneshot(req)
        .await
        .expect("infallible");
    let status = r.status();
    let headers = r.headers().clone();
    let body = axum::body::to_bytes(r.into_body(), 16 << 20)
        .await
        .expect("body");
    Resp {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

async fn get(st: &Arc<AppState>, uri: &str, cookie: &str) -> Resp {
    let req = Request::get(uri)
        .header(header::COOKIE, cookie)
        .body(Body::empty())
        .expect("request");
    call(st, req).await
}

async fn post_form(st: &Arc<AppState>, uri: &str, cookie: &str, form: &str) -> Resp {
    let req = Request::post(uri)
        .header(header::COOKIE, cookie)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(form.to_string()))
        .expect("request");
    call(st, req).await
}

async fn api(st: &Arc<AppState>, method: &str, uri: &str, token: &str, body: &str) -> Resp {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .expect("request");
    call(st, req).await
}

/// Sign in; returns the `Cookie` header value and the page's CSRF token.
async fn login(st: &Arc<AppState>, user: &str) -> (String, String) {
    let r = post_form(st, "/ui/login", "", &format!("user={user}&token={TOKEN}")).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let set = r.headers[header::SET_COOKIE].to_str().expect("ascii");
    for attr in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"] {
        assert!(set.contains(attr), "{set}");
    }
    assert!(set.starts_with("__Host-shadowtap="), "{set}");
    let cookie = set.split(';').next().expect("pair").to_string();
    let page = get(st, "/ui", &cookie).await;
    assert_eq!(page.status, StatusCode::OK);
    let csrf = page
        .body
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("csrf in page")
        .to_string();
    (cookie, csrf)
}

/// Every finding id linked from the findings list.
fn finding_ids(html: &str) -> Vec<String> {
    html.split("href=\"/ui/findings/")
        .skip(1)
        .filter_map(|s| s.get(..16))
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn hostile_hosts_and_paths_are_escaped_on_every_page() {
    let dir = tempfile::tempdir().expect("tempdir");
    let st = state(dir.path());
    let (cookie, _) = login(&st, "ana").await;
    let list = get(&st, "/ui/findings", &cookie).await;
    let ids = finding_ids(&list.body);
    assert!(!ids.is_empty(), "{}", list.body);
    let hostile_id = {
        let (_, _, findings) = st.findings().expect("findings");
        findings
            .iter()
            .find(|f| f.host == HOSTILE_HOST)
            .expect("hostile finding")
            .id
            .clone()
    };
    let endpoint = format!(
        "/ui/endpoint?host={}&method=GET&path={}",
        "%3Cscript%3Ealert%281%29%3C%2Fscript%3E",
        "%2F%22%3E%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E"
    );
    let pages = [
        "/ui".to_string(),
        "/ui/findings".to_string(),
        "/ui/findings?state=all&sort=host".to_string(),
        format!("/ui/findings/{hostile_id}"),
        "/ui/endpoints".to_string(),
        endpoint,
        format!("/ui/findings?host={}", "%3Cscript%3E"),
    ];
    for uri in &pages {
        let r = get(&st, uri, &cookie).await;
        assert_eq!(r.status, StatusCode::OK, "{uri}: {}", r.body);
        let lower = r.body.to_ascii_lowercase();
        assert!(!lower.contains("<script"), "{uri} has a script tag");
        assert!(!lower.contains("<img"), "{uri} has an img tag");
        assert!(
            !lower.contains("onerror=alert(1)>"),
            "{uri} has a live attribute"
        );
        assert!(
            !r.body.contains("<b>q</b>"),
            "{uri} has raw markup from a param name"
        );
        let csp = r.headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .expect("csp");
        assert!(csp.contains("default-src 'none'"), "{csp}");
        assert_eq!(r.headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    }
    // The escaped forms are what is shown.
    let finding = get(&st, &format!("/ui/findings/{hostile_id}"), &cookie).await;
    assert!(finding
        .body
        .contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    let endpoint_page = get(&st, &pages[5], &cookie).await;
    assert!(endpoint_page
        .body
        .contains("&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"));
    assert!(endpoint_page.body.contains("&lt;b&gt;q&lt;/b&gt;"));
    let endpoints = get(&st, "/ui/endpoints", &cookie).await;
    assert!(endpoints
        .body
        .contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    // The stylesheet is embedded and references nothing.
    let css = get(&st, "/ui/style.css", "").await;
    assert_eq!(css.status, StatusCode::OK);
    assert!(!css.body.contains("url(") && !css.body.contains("@import"));
}

#[tokio::test]
async fn login_sessions_and_csrf_guard_the_review_workflow() {
    let dir = tempfile::tempdir().expect("tempdir");
    let st = state(dir.path());
    // Not signed in: every page sends to the login form.
    for uri in ["/ui", "/ui/findings", "/ui/endpoints"] {
        let r = get(&st, uri, "").await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{uri}");
        assert_eq!(r.headers[header::LOCATION], "/ui/login");
    }
    let r = get(&st, "/ui", "__Host-shadowtap=forged").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let r = post_form(&st, "/ui/login", "", "user=eve&token=wrong").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.headers.get(header::SET_COOKIE).is_none());
    let (cookie, csrf) = login(&st, "ana").await;
    let ids = finding_ids(&get(&st, "/ui/findings", &cookie).await.body);
    let id = ids[0].clone();
    let review = format!("/ui/findings/{id}/review");

    // No or wrong CSRF token, or a cross-site POST: refused, nothing stored.
    let r = post_form(&st, &review, &cookie, "action=accept").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = post_form(&st, &review, &cookie, "action=accept&csrf=00").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let req = Request::post(&review)
        .header(header::COOKIE, &cookie)
        .header("sec-fetch-site", "cross-site")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(format!("action=accept&csrf={csrf}")))
        .expect("req");
    assert_eq!(call(&st, req).await.status, StatusCode::FORBIDDEN);
    assert!(st.store.reviews().expect("reviews").is_empty());

    // A suppression without a reason is refused with a message on the page.
    let r = post_form(
        &st,
        &review,
        &cookie,
        &format!("action=suppress&csrf={csrf}&days=7&reason="),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("needs a reason"), "{}", r.body);

    // Suppress: recorded with who and when, hidden by default, shown with state=all.
    let r = post_form(
        &st,
        &review,
        &cookie,
        &format!("action=suppress&csrf={csrf}&days=7&reason=pen+test+%3Cwindow%3E"),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let rec = st.store.reviews().expect("reviews")[&id].clone();
    assert_eq!(rec.state, ReviewState::Suppressed);
    assert_eq!(rec.by, "ana");
    assert_eq!(rec.reason, "pen test <window>");
    assert!(rec.expires.expect("expiry") >= rec.at + 7 * 86_400);
    let page = get(&st, &format!("/ui/findings/{id}"), &cookie).await;
    assert!(
        page.body.contains("pen test &lt;window&gt;"),
        "{}",
        page.body
    );
    assert!(!finding_ids(&get(&st, "/ui/findings", &cookie).await.body).contains(&id));
    assert!(finding_ids(&get(&st, "/ui/findings?state=all", &cookie).await.body).contains(&id));
    assert!(
        finding_ids(
            &get(&st, "/ui/findings?state=suppressed", &cookie)
                .await
                .body
        ) == vec![id.clone()]
    );

    // Filters and sorting by query parameters.
    let by_host = finding_ids(
        &get(&st, "/ui/findings?state=all&sort=host", &cookie)
            .await
            .body,
    );
    let mut expected = st.findings().expect("findings").2;
    expected.sort_by(|a, b| {
        a.host
            .cmp(&b.host)
            .then(b.severity.cmp(&a.severity))
            .then(a.id.cmp(&b.id))
    });
    let expected: Vec<String> = expected.into_iter().map(|f| f.id).collect();
    assert_eq!(by_host, expected);
    let none = get(&st, "/ui/findings?class=iban&kind=zombie", &cookie).await;
    assert!(finding_ids(&none.body).is_empty() && none.body.contains("No findings match"));
    let junk = get(&st, "/ui/findings?severity=%FF%FE&sort=%00&kind=", &cookie).await;
    assert_eq!(junk.status, StatusCode::OK, "junk filters are ignored");

    // Reopen removes the decision.
    let r = post_form(&st, &review, &cookie, &format!("action=reopen&csrf={csrf}")).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(st.store.reviews().expect("reviews").is_empty());

    // Sign out: the session is gone, and its CSRF token with it.
    let r = post_form(&st, "/ui/logout", &cookie, &format!("csrf={csrf}")).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(get(&st, "/ui", &cookie).await.status, StatusCode::SEE_OTHER);
    let r = post_form(&st, &review, &cookie, &format!("action=accept&csrf={csrf}")).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "redirected to the login");
    assert!(st.store.reviews().expect("reviews").is_empty());

    // The session cap (4) holds: the oldest is signed out.
    let first = login(&st, "u0").await.0;
    for i in 1..=4 {
        login(&st, &format!("u{i}")).await;
    }
    assert_eq!(get(&st, "/ui", &first).await.status, StatusCode::SEE_OTHER);
    assert!(st
        .metrics
        .render()
        .contains("shadowtap_collector_ui_sessions_evicted_total 1"));
}

#[tokio::test]
async fn review_api_applies_filters_expires_and_survives_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let id = {
        let st = state(dir.path());
        let (_, _, findings) = st.findings().expect("findings");
        let id = findings[0].id.clone();
        let uri = format!("/v1/findings/{id}/review");
        let r = api(&st, "POST", &uri, "wrong", r#"{"action":"accept"}"#).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        let r = api(
            &st,
            "POST",
            "/v1/findings/zz/review",
            TOKEN,
            r#"{"action":"accept"}"#,
        )
        .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        let r = api(
            &st,
            "POST",
            "/v1/findings/0000000000000000/review",
            TOKEN,
            r#"{"action":"accept"}"#,
        )
        .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
        let r = api(&st, "POST", &uri, TOKEN, r#"{"action":"nope"}"#).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        let r = api(&st, "POST", &uri, TOKEN, r#"{"action":"accept","extra":1}"#).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
        let big = format!(r#"{{"action":"accept","reason":"{}"}}"#, "x".repeat(20_000));
        let r = api(&st, "POST", &uri, TOKEN, &big).await;
        assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.body);
        let r = api(
            &st,
            "POST",
            &uri,
            TOKEN,
            r#"{"action":"suppress","reason":"vendor fix due","expires_in_secs":3600,"by":"ci"}"#,
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let v: serde_json::Value = serde_json::from_str(&r.body).expect("json");
        assert_eq!(v["state"], "suppressed");
        assert_eq!(v["record"]["by"], "api:ci");
        let all = api(&st, "GET", "/v1/reviews", TOKEN, "").await;
        let all: serde_json::Value = serde_json::from_str(&all.body).expect("json");
        assert_eq!(all[&id]["state"], "suppressed");

        // An expired suppression comes back: open in the API and in the default list.
        let other = findings[1].id.clone();
        let past = ReviewEvent {
            finding: other.clone(),
            seq: 0,
            action: EventAction::Suppress,
            state: ReviewState::Suppressed,
            reason: "old".into(),
            expires: Some(1),
            by: "ana".into(),
            at: 0,
        };
        st.store.record_review(&past).expect("set");
        let all = api(&st, "GET", "/v1/reviews", TOKEN, "").await;
        let all: serde_json::Value = serde_json::from_str(&all.body).expect("json");
        assert_eq!(all[&other]["state"], "open");
        let (cookie, _) = login(&st, "ana").await;
        let shown = finding_ids(&get(&st, "/ui/findings", &cookie).await.body);
        assert!(shown.contains(&other) && !shown.contains(&id));
        let metrics = st.metrics.render();
        assert!(
            metrics
                .contains("shadowtap_collector_reviews_total{action=\"suppress\",via=\"api\"} 1"),
            "{metrics}"
        );
        id
    };
    // Reopen the store (as after a restart): the decision is still there.
    let st = state(dir.path());
    let rec = st.store.reviews().expect("reviews")[&id].clone();
    assert_eq!(rec.state, ReviewState::Suppressed);
    assert_eq!(rec.reason, "vendor fix due");
}

#[tokio::test]
async fn every_review_action_is_kept_in_the_trail_shown_exported_and_moved_with_the_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (id, trail) = {
        let st = state(dir.path());
        let (_, _, findings) = st.findings().expect("findings");
        let id = findings[0].id.clone();
        // Suppress in the dashboard, accept and reopen through the API.
        let (cookie, csrf) = login(&st, "ana").await;
        let r = post_form(
            &st,
            &format!("/ui/findings/{id}/review"),
            &cookie,
            &format!("csrf={csrf}&action=suppress&reason=%3Dpen+test+window&days=7"),
        )
        .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let uri = format!("/v1/findings/{id}/review");
        for body in [
            r#"{"action":"accept","reason":"vendor API, contract signed","by":"bob"}"#,
            r#"{"action":"reopen","reason":"contract ended","by":"cy"}"#,
        ] {
            let r = api(&st, "POST", &uri, TOKEN, body).await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        }
        // Reopen kept who suppressed and accepted, when and why.
        let h = api(&st, "GET", &format!("/v1/reviews/{id}/history"), TOKEN, "").await;
        assert_eq!(h.status, StatusCode::OK, "{}", h.body);
        let h: serde_json::Value = serde_json::from_str(&h.body).expect("json");
        assert_eq!(h["state"], "open");
        let events = h["events"].as_array().expect("events");
        let seen: Vec<(&str, &str, &str)> = events
            .iter()
            .map(|e| {
                (
                    e["action"].as_str().unwrap_or(""),
                    e["by"].as_str().unwrap_or(""),
                    e["reason"].as_str().unwrap_or(""),
                )
            })
            .collect();
        assert_eq!(
            seen,
            [
                ("suppress", "ana", "=pen test window"),
                ("accept", "api:bob", "vendor API, contract signed"),
                ("reopen", "api:cy", "contract ended"),
            ]
        );
        assert!(events[0]["expires"]
            .as_u64()
            .is_some_and(|e| e > events[0]["at"].as_u64().unwrap_or(u64::MAX)));
        let wrong = api(&st, "GET", &format!("/v1/reviews/{id}/history"), "x", "").await;
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
        let bad = api(&st, "GET", "/v1/reviews/zz/history", TOKEN, "").await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST);

        // The finding page shows the history, newest first.
        let page = get(&st, &format!("/ui/findings/{id}"), &cookie).await.body;
        let hist = page.split("id=\"history\"").nth(1).expect("history panel");
        let (reopen, suppress) = (
            hist.find("contract ended").expect("reopen row"),
            hist.find("=pen test window").expect("suppress row"),
        );
        assert!(reopen < suppress, "newest first");
        assert!(hist.contains("api:bob"));

        // Auditors' export: CSV (formula-safe) and NDJSON, the same events.
        let csv = api(&st, "GET", "/v1/reviews/export?format=csv", TOKEN, "").await;
        assert_eq!(csv.status, StatusCode::OK);
        assert!(csv.headers[header::CONTENT_TYPE]
            .to_str()
            .is_ok_and(|c| c.starts_with("text/csv")));
        let rows: Vec<&str> = csv.body.lines().collect();
        assert_eq!(rows[0], collector::review::TRAIL_CSV_HEADER);
        assert_eq!(rows.len(), 4, "{}", csv.body);
        assert!(rows[1].contains(",'=pen test window,"), "{}", rows[1]);
        assert!(
            rows[2].contains("\"vendor API, contract signed\""),
            "{}",
            rows[2]
        );
        let nd = api(&st, "GET", "/v1/reviews/export?format=ndjson", TOKEN, "").await;
        let nd: Vec<serde_json::Value> = nd
            .body
            .lines()
            .map(|l| serde_json::from_str(l).expect("ndjson line"))
            .collect();
        assert_eq!(nd.len(), 3);
        assert_eq!(&nd[..], &events[..]);
        let r = api(&st, "GET", "/v1/reviews/export?format=xml", TOKEN, "").await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
        (id, st.store.review_events(None).expect("trail"))
    };
    // After a restart the trail is the same...
    let st = state(dir.path());
    assert_eq!(st.store.review_events(Some(&id)).expect("trail"), trail);
    // ...and `store export` / `store import` carry it to another store.
    let mut buf = Vec::new();
    st.store.export_jsonl(&mut buf).expect("export");
    let other = tempfile::tempdir().expect("tempdir");
    let moved = SledStore::open(other.path(), Default::default()).expect("open");
    moved.import_jsonl(&mut buf.as_slice()).expect("import");
    assert_eq!(moved.review_events(None).expect("trail"), trail);
}

/// A store whose open-banking endpoints carry TPPs (one with a hostile label): the
/// capabilities page shows the report's exposure table and each endpoint's TPPs and roles.
#[tokio::test]
async fn the_capabilities_page_shows_exposure_and_tpps_escaped() {
    use analyzer::openbanking::record::{ObRecord, TppStat};
    let dir = tempfile::tempdir().expect("tempdir");
    let mut inv = Inventory::default();
    inv.add(&observation("api.bank", "/open-banking/v3.1/aisp/accounts"));
    inv.add(&observation(
        "api.bank",
        "/open-banking/v3.1/pisp/domestic-payments",
    ));
    for (key, rec) in inv.endpoints.iter_mut() {
        let mut ob = ObRecord::default();
        let (tpp, role) = if key.path.contains("aisp") {
            ("tpp:PSDGB-FCA-100001", "PSP_AI")
        } else {
            (HOSTILE_HOST, "PSP_PI")
        };
        ob.tpps.insert(
            tpp.to_string(),
            TppStat {
                exchanges: 1,
                psd2: true,
                roles: [role.to_string()].into(),
                ..TppStat::default()
            },
        );
        rec.openbanking = Some(Box::new(ob));
    }
    let st = state_holding(dir.path(), &inv);
    let r = get(&st, "/ui/capabilities", "").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "signed out goes to login");
    let (cookie, _) = login(&st, "ana").await;
    let r = get(&st, "/ui/capabilities", &cookie).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let body = &r.body;
    // The summary table, as the report renders it: no catalogue, so each endpoint is shadow.
    assert!(
        body.contains("<tr><td>account_information</td><td>0</td><td>1</td><td>0</td><td>1</td>"),
        "{body}"
    );
    assert!(
        body.contains("<tr><td>payment_initiation</td><td>0</td><td>1</td>"),
        "{body}"
    );
    // Per endpoint: TPP and roles; the hostile label escaped, never live.
    assert!(
        body.contains("<span class=\"chip\">tpp:PSDGB-FCA-100001</span> PSP_AI"),
        "{body}"
    );
    assert!(body.contains("&lt;script&gt;alert(1)&lt;/script&gt;</span> PSP_PI"));
    assert!(!body.to_ascii_lowercase().contains("<script"));
    assert!(body.contains("<a href=\"/ui/capabilities\" class=\"on\">Capabilities</a>"));
    // The endpoint page names its TPPs too.
    let ep = get(
        &st,
        "/ui/endpoint?host=api.bank&method=GET&path=%2Fopen-banking%2Fv3.1%2Faisp%2Faccounts",
        &cookie,
    )
    .await;
    assert_eq!(ep.status, StatusCode::OK, "{}", ep.body);
    assert!(
        ep.body
            .contains("<td class=\"mono\">tpp:PSDGB-FCA-100001</td><td>PSP_AI</td>"),
        "{}",
        ep.body
    );
}

/// The endpoint page shows what one path hides: a gRPC method's streaming kind, messages and
/// statuses, and a GraphQL endpoint's operations (names escaped, never the document).
#[tokio::test]
async fn the_endpoint_page_shows_grpc_and_graphql_operations_escaped() {
    use analyzer::graphql::{GraphqlRecord, OperationRecord};
    use analyzer::grpc::{GrpcRecord, StreamingKind};
    let dir = tempfile::tempdir().expect("tempdir");
    let mut inv = Inventory::default();
    inv.add(&observation("api.bank", "/bank.Accounts/Exchange"));
    inv.add(&observation("api.bank", "/graphql"));
    for (key, rec) in inv.endpoints.iter_mut() {
        if key.path == "/graphql" {
            let mut gq = GraphqlRecord::default();
            gq.operations.insert(
                format!("query {HOSTILE_HOST}"),
                OperationRecord {
                    kind: "query".into(),
                    root_fields: ["accounts".to_string()].into(),
                    calls: 7,
                    errors: 2,
                    ..OperationRecord::default()
                },
            );
            rec.graphql = Some(Box::new(gq));
        } else {
            rec.grpc = Some(Box::new(GrpcRecord {
                service: "bank.Accounts".into(),
                method: "Exchange".into(),
                calls: 3,
                request_messages: 6,
                response_messages: 5,
                streaming: StreamingKind::Bidi,
                statuses: [("OK".to_string(), 3)].into(),
                ..GrpcRecord::default()
            }));
        }
    }
    let st = state_holding(dir.path(), &inv);
    let (cookie, _) = login(&st, "ana").await;
    let grpc = get(
        &st,
        "/ui/endpoint?host=api.bank&method=GET&path=%2Fbank.Accounts%2FExchange",
        &cookie,
    )
    .await;
    assert_eq!(grpc.status, StatusCode::OK, "{}", grpc.body);
    for shown in [
        "<h2>gRPC</h2>",
        "<td class=\"mono\">bank.Accounts/Exchange</td>",
        "<th>streaming</th><td>bidi</td>",
        "<td class=\"num\">6 / 5</td>",
        "<th>grpc-status</th><td>OK 3</td>",
    ] {
        assert!(grpc.body.contains(shown), "{shown}: {}", grpc.body);
    }
    let gq = get(
        &st,
        "/ui/endpoint?host=api.bank&method=GET&path=%2Fgraphql",
        &cookie,
    )
    .await;
    assert_eq!(gq.status, StatusCode::OK, "{}", gq.body);
    assert!(
        gq.body.contains("<h2>GraphQL operations</h2>"),
        "{}",
        gq.body
    );
    assert!(
        gq.body.contains(
            "<td class=\"mono\">query &lt;script&gt;alert(1)&lt;/script&gt;</td><td class=\"mono\">accounts</td><td class=\"num\">7</td><td class=\"num\">2</td>"
        ),
        "{}",
        gq.body
    );
    assert!(!gq.body.to_ascii_lowercase().contains("<script"));
    assert!(!grpc.body.contains("GraphQL operations") && !gq.body.contains("<h2>gRPC</h2>"));
}
