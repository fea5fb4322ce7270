//! The review dashboard: server-rendered HTML on the collector's TLS listener, under `/ui`.
//!
//! | route | what |
//! |---|---|
//! | `GET /ui/login`, `POST /ui/login` | sign in with the API token and a name for the audit trail |
//! | `POST /ui/logout` | end the session (CSRF token) |
//! | `GET /ui` | overview: hosts, endpoints, declared vs shadow, findings by kind and severity, traffic over time |
//! | `GET /ui/findings?kind=&severity=&host=&class=&state=&sort=` | findings list, filtered and sorted |
//! | `GET /ui/findings/{id}` | one finding, its review record and the review forms |
//! | `POST /ui/findings/{id}/review` | acknowledge, suppress (reason + days), accept, reopen (CSRF token) |
//! | `GET /ui/endpoints` | every endpoint |
//! | `GET /ui/endpoint?host=&method=&path=` | one endpoint: statuses, params, fields, data classes, consumers, its catalogue operation and findings |
//! | `GET /ui/style.css` | the stylesheet (embedded; the report's plus the dashboard's) |
//!
//! Security by construction:
//! - Pages work without JavaScript and contain none; every response carries a Content Security
//!   Policy with `default-src 'none'` (styles from `'self'` only), `frame-ancestors 'none'`,
//!   `form-action 'self'`, so even a missed escape could not run a script.
//! - Everything from traffic or specs goes through [`escape`]; values put into links are
//!   percent-encoded first, then escaped.
//! - Sessions: a random 256-bit id in a `__Host-` cookie (HttpOnly, Secure, SameSite=Strict,
//!   Path=/), kept in memory, capped ([`Sessions`], oldest evicted and counted) and expiring.
//!   A restart signs everyone out; review state is in the store and survives.
//! - Every POST but the login carries the session's CSRF token (compared in constant time) and
//!   is refused when the browser says it is cross-site (`Sec-Fetch-Site`).
//! - Form bodies are capped at [`MAX_FORM_BYTES`]; reasons and names are cleaned and capped
//!   ([`crate::review`]); a review names an existing finding or is refused, so the review tree
//!   cannot be grown with made-up ids.

use crate::metrics::CollectorMetrics;
use crate::review::{
    clean_text, decide, now_secs, valid_finding_id, ReviewAction, ReviewRecord, ReviewState,
    MAX_WHO_CHARS,
};
use crate::server::{blocking, capture_totals, refuse, same_secret, AppState};
use analyzer::catalogue::{Catalogue, Security};
use analyzer::finding::{Finding, FindingKind, Severity};
use analyzer::inventory::Inventory;
use analyzer::observation::EndpointKey;
use analyzer::report::html::{
    column_chart, escape, finding_card, finding_target_text, format_bytes, format_count,
    hbar_chart, incomplete_banner, minute_label, severity_badge, severity_color, short_time,
    STYLESHEET,
};
use analyzer::report::{EndpointView, ScanReport};
use axum::extract::rejection::FormRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Largest form or JSON body the dashboard and the review API read.
pub const MAX_FORM_BYTES: usize = 16 * 1024;
/// Most rows a list page shows (the rest is counted, not rendered).
pub const MAX_ROWS: usize = 2_000;
const COOKIE: &str = "__Host-shadowtap";
const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; \
                   form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The dashboard's own styles, on top of the report's [`STYLESHEET`].
const DASHBOARD_CSS: &str = r#"
header.top{display:flex;align-items:center;gap:28px;padding:0 32px;height:56px}
header.top .brand{font-weight:700;font-size:18px;letter-spacing:.3px;color:#fff;text-decoration:none}
header.top .brand span{color:#8fb3ff}
header.top nav{display:flex;gap:4px;flex:1}
header.top nav a{color:#c9d3e3;text-decoration:none;padding:8px 12px;border-radius:6px;font-size:14px}
header.top nav a:hover{background:#22345c;color:#fff}
header.top nav a.on{background:#22345c;color:#fff;font-weight:600}
header.top .who{color:#c9d3e3;font-size:13px;display:flex;gap:10px;align-items:center}
header.top .who button{background:transparent;border:1px solid #4a5d85;color:#fff;border-radius:6px;padding:4px 10px;cursor:pointer;font-size:12px}
a{color:var(--accent)}
.pagehead{display:flex;align-items:baseline;gap:12px;flex-wrap:wrap}
.pagehead h1{font-size:21px;margin:4px 0 2px}
.crumbs{color:var(--muted);font-size:12px;margin-bottom:4px}
.crumbs a{color:var(--muted)}
form.filters{display:flex;gap:10px;flex-wrap:wrap;align-items:flex-end;background:var(--card);border:1px solid var(--line);border-radius:8px;padding:12px 14px;margin:12px 0}
form.filters label{display:flex;flex-direction:column;font-size:11px;color:var(--muted);text-transform:uppercase;letter-spacing:.5px;gap:3px}
input,select,textarea{font:inherit;font-size:13px;padding:6px 8px;border:1px solid #c5ccd8;border-radius:6px;background:#fff;color:var(--ink)}
textarea{width:100%;min-height:60px}
button,.btn{font:inherit;font-size:13px;font-weight:600;padding:7px 14px;border-radius:6px;border:1px solid var(--accent);background:var(--accent);color:#fff;cursor:pointer;text-decoration:none;display:inline-block}
button.secondary,.btn.secondary{background:#fff;color:var(--accent)}
button.warn{background:var(--med);border-color:var(--med)}
button.ok{background:var(--ok);border-color:var(--ok)}
.state{display:inline-block;border-radius:10px;padding:1px 9px;font-size:12px;font-weight:600;border:1px solid}
.st-open{color:#1565c0;border-color:#90b4e8;background:#eef4fd}
.st-acknowledged{color:#6d4c00;border-color:#e6c66a;background:#fff8e1}
.st-suppressed{color:#555;border-color:#bbb;background:#f1f1f1}
.st-accepted{color:#2e7d32;border-color:#9ccc9c;background:#eef7ee}
.grid2{display:grid;grid-template-columns:minmax(0,3fr) minmax(280px,2fr);gap:16px;align-items:start}
.panel{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:14px 16px;margin-bottom:14px}
.panel h2{margin-top:0;font-size:15px}
.panel form{margin:10px 0;padding-top:10px;border-top:1px solid var(--line)}
.panel form:first-of-type{border-top:0;padding-top:0}
.panel .row{display:flex;gap:8px;align-items:center;flex-wrap:wrap;margin:6px 0}
dl.kv{display:grid;grid-template-columns:max-content 1fr;gap:4px 14px;margin:0;font-size:13px}
dl.kv dt{color:var(--muted)}dl.kv dd{margin:0;word-break:break-all}
.notice{background:#fff6f5;border:1px solid #f0c2bd;color:#8a1c13;border-radius:6px;padding:8px 12px;margin:10px 0}
.login{max-width:380px;margin:80px auto;background:var(--card);border:1px solid var(--line);border-radius:10px;padding:28px}
.login h1{margin:0 0 4px;font-size:22px}
.login label{display:block;font-size:12px;color:var(--muted);margin:14px 0 4px}
.login input{width:100%}
.login button{margin-top:18px;width:100%}
table a{text-decoration:none}
th a{color:inherit}
.count{color:var(--muted);font-size:13px}
main .badge.shadow{background:var(--high)}main .badge.declared{background:var(--ok)}
main .charts{grid-template-columns:repeat(auto-fit,minmax(300px,1fr))}
a.card{display:block;text-decoration:none;color:inherit}
a.card:hover{border-color:var(--accent)}
"#;

// ---------------------------------------------------------------------------------------------
// Sessions

/// A signed-in reviewer.
#[derive(Debug, Clone)]
pub struct Session {
    /// The name given at login (cleaned, capped), recorded on review actions.
    pub user: String,
    /// Per-session CSRF token, required on every POST.
    pub csrf: String,
    created: Instant,
}

/// In-memory sessions: capped, expiring, random ids.
pub struct Sessions {
    inner: Mutex<HashMap<String, Session>>,
    max: usize,
    ttl: Duration,
}

/// 256 random bits as hex, from the OS generator.
fn random_token() -> Option<String> {
    use ring::rand::SecureRandom;
    let mut b = [0u8; 32];
    ring::rand::SystemRandom::new().fill(&mut b).ok()?;
    Some(b.iter().map(|x| format!("{x:02x}")).collect())
}

impl Sessions {
    pub fn new(max: usize, ttl: Duration) -> Self {
        Sessions {
            inner: Mutex::new(HashMap::new()),
            max: max.max(1),
            ttl,
        }
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        // The map holds no invariant a panicking holder could break half-way.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new session for `user`: `(id, session, evicted_one)`; `None` if randomness failed.
    pub fn create(&self, user: &str) -> Option<(String, Session, bool)> {
        let id = random_token()?;
        let csrf = random_token()?;
        let mut m = self.map();
        let ttl = self.ttl;
        m.retain(|_, s| s.created.elapsed() < ttl);
        let mut evicted = false;
        while m.len() >= self.max {
            let Some(oldest) = m
                .iter()
                .min_by_key(|(_, s)| s.created)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            m.remove(&oldest);
            evicted = true;
        }
        let s = Session {
            user: user.to_string(),
            csrf,
            created: Instant::now(),
        };
        m.insert(id.clone(), s.clone());
        Some((id, s, evicted))
    }

    /// The live session with this id (an expired one is removed).
    pub fn get(&self, id: &str) -> Option<Session> {
        let mut m = self.map();
        match m.get(id) {
            Some(s) if s.created.elapsed() < self.ttl => Some(s.clone()),
            Some(_) => {
                m.remove(id);
                None
            }
            None => None,
        }
    }

    pub fn remove(&self, id: &str) {
        self.map().remove(id);
    }

    pub fn len(&self) -> usize {
        self.map().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|kv| {
            let (k, v) = kv.trim().split_once('=')?;
            (k == name).then_some(v)
        })
}

/// The request's session, or a redirect to the login page.
#[allow(clippy::result_large_err)]
fn session(st: &AppState, headers: &HeaderMap) -> Result<(String, Session), Response> {
    cookie_value(headers, COOKIE)
        .filter(|id| id.len() == 64)
        .and_then(|id| st.sessions.get(id).map(|s| (id.to_string(), s)))
        .ok_or_else(|| redirect("/ui/login"))
}

/// Refuse a POST whose CSRF token is wrong or that the browser marks as cross-site.
#[allow(clippy::result_large_err)]
fn check_csrf(
    st: &AppState,
    headers: &HeaderMap,
    s: &Session,
    given: &str,
) -> Result<(), Response> {
    let cross_site = headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == "cross-site");
    if cross_site || !same_secret(given, &s.csrf) {
        CollectorMetrics::bump(&st.metrics.reviews_refused, &[("reason", "csrf")]);
        return Err(html_status(
            StatusCode::FORBIDDEN,
            &frame(
                "Refused",
                "",
                Some(s),
                "<div class=\"notice\">The form was stale or came from another site (CSRF \
                 check failed). Reload the page and try again.</div>",
            ),
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Responses

fn secure_headers(r: &mut Response) {
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

fn html_status(status: StatusCode, body: &str) -> Response {
    let mut r = (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body.to_string(),
    )
        .into_response();
    secure_headers(&mut r);
    r
}

fn html(body: String) -> Response {
    html_status(StatusCode::OK, &body)
}

fn redirect(to: &'static str) -> Response {
    redirect_to(to.to_string())
}

fn redirect_to(to: String) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(&to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    secure_headers(&mut r);
    r
}

/// Percent-encode a query value (everything but unreserved characters).
fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// `href` to an endpoint's page, escaped for an attribute.
fn endpoint_href(host: &str, method: &str, path: &str) -> String {
    escape(&format!(
        "/ui/endpoint?host={}&method={}&path={}",
        enc(host),
        enc(method),
        enc(path)
    ))
}

fn finding_href(id: &str) -> String {
    // Ids are 16 hex digits (checked on the way in); escaped anyway.
    escape(&format!("/ui/findings/{}", enc(id)))
}

/// The page around `body`: header with navigation and the signed-in user.
fn frame(title: &str, active: &str, s: Option<&Session>, body: &str) -> String {
    let mut o = String::with_capacity(body.len() + 4096);
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"referrer\" content=\"no-referrer\">\
         <title>{} &middot; shadowtap</title><link rel=\"stylesheet\" href=\"/ui/style.css\"></head><body>\
         <header class=\"top\"><a class=\"brand\" href=\"/ui\">shadow<span>tap</span></a>",
        escape(title)
    );
    if let Some(s) = s {
        o.push_str("<nav>");
        for (href, name) in [
            ("/ui", "Overview"),
            ("/ui/findings", "Findings"),
            ("/ui/endpoints", "Endpoints"),
        ] {
            let _ = write!(
                o,
                "<a href=\"{href}\"{}>{name}</a>",
                if active == name { " class=\"on\"" } else { "" }
            );
        }
        let _ = write!(
            o,
            "</nav><div class=\"who\">signed in as <strong>{}</strong>\
             <form method=\"post\" action=\"/ui/logout\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">\
             <button type=\"submit\">Sign out</button></form></div>",
            escape(&s.user),
            escape(&s.csrf)
        );
    }
    o.push_str("</header><main>");
    o.push_str(body);
    let _ = write!(
        o,
        "</main><footer>shadowtap {} collector dashboard &middot; values are masked previews and \
         keyed fingerprints only &middot; traffic times are packet times (UTC)</footer></body></html>",
        env!("CARGO_PKG_VERSION")
    );
    o
}

// ---------------------------------------------------------------------------------------------
// Data

/// Everything a page needs, computed once per request off the async threads.
struct View {
    report: ScanReport,
    inventory: Inventory,
    catalogue: Arc<Catalogue>,
    reviews: BTreeMap<String, ReviewRecord>,
    agents: usize,
    now: u64,
}

impl View {
    fn state_of(&self, id: &str) -> ReviewState {
        self.reviews
            .get(id)
            .map(|r| r.effective(self.now))
            .unwrap_or(ReviewState::Open)
    }
}

#[allow(clippy::result_large_err)]
async fn load(st: &Arc<AppState>) -> Result<View, Response> {
    let s = Arc::clone(st);
    blocking(move || {
        let (inventory, catalogue, findings) = s.findings()?;
        let agents = s.store.agents()?;
        let totals = capture_totals(&s.store.counters()?, &agents);
        let report = ScanReport::build(totals, &inventory, &catalogue, findings);
        Ok(View {
            report,
            inventory,
            catalogue,
            reviews: s.store.reviews()?,
            agents: agents.len(),
            now: now_secs(),
        })
    })
    .await
}

/// Data classes a finding's evidence names (`class@location` -> `class`).
fn finding_classes(f: &Finding) -> Vec<String> {
    let mut out: Vec<String> = f
        .evidence
        .data_classes
        .iter()
        .chain(f.evidence.undeclared_data_classes.keys())
        .map(|c| c.split('@').next().unwrap_or(c).to_string())
        .collect();
    out.sort();
    out.dedup();
    out
}

fn state_chip(s: ReviewState) -> String {
    format!("<span class=\"state st-{0}\">{0}</span>", s.as_str())
}

/// Unix seconds -> `2026-03-02 09:00 UTC` (civil date from days since the epoch).
fn wall_time(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rem / 3600,
        (rem % 3600) / 60
    )
}

// ---------------------------------------------------------------------------------------------
// Routes

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/ui", get(overview))
        .route("/ui/", get(|| async { redirect("/ui") }))
        .route("/ui/login", get(login_page).post(login))
        .route("/ui/logout", post(logout))
        .route("/ui/style.css", get(stylesheet))
        .route("/ui/findings", get(findings_page))
        .route("/ui/findings/{id}", get(finding_page))
        .route("/ui/findings/{id}/review", post(review_form))
        .route("/ui/endpoints", get(endpoints_page))
        .route("/ui/endpoint", get(endpoint_page))
        .layer(DefaultBodyLimit::max(MAX_FORM_BYTES))
}

async fn stylesheet() -> Response {
    let mut r = (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        format!("{STYLESHEET}{DASHBOARD_CSS}"),
    )
        .into_response();
    r.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}

fn login_body(message: Option<&str>, api_on: bool) -> String {
    let mut o = String::from(
        "<div class=\"login\"><h1>Sign in</h1><p class=\"muted\">shadowtap collector: shadow-API \
         review</p>",
    );
    if let Some(m) = message {
        let _ = write!(o, "<div class=\"notice\">{}</div>", escape(m));
    }
    if !api_on {
        o.push_str(
            "<div class=\"notice\">The dashboard is disabled: the collector has no API token \
             configured (--api-token-file or SHADOWTAP_API_TOKEN).</div>",
        );
    }
    let _ = write!(
        o,
        "<form method=\"post\" action=\"/ui/login\">\
         <label for=\"user\">Your name (recorded on review actions)</label>\
         <input id=\"user\" name=\"user\" maxlength=\"{MAX_WHO_CHARS}\" required autocomplete=\"username\">\
         <label for=\"token\">API token</label>\
         <input id=\"token\" name=\"token\" type=\"password\" required autocomplete=\"current-password\">\
         <button type=\"submit\">Sign in</button></form></div>"
    );
    o
}

async fn login_page(State(st): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if session(&st, &headers).is_ok() {
        return redirect("/ui");
    }
    html(frame(
        "Sign in",
        "",
        None,
        &login_body(None, api_token(&st).is_some()),
    ))
}

fn api_token(st: &AppState) -> Option<&str> {
    st.settings.api_token.as_deref().filter(|t| !t.is_empty())
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct LoginForm {
    user: String,
    token: String,
}

async fn login(
    State(st): State<Arc<AppState>>,
    form: Result<Form<LoginForm>, FormRejection>,
) -> Response {
    let Ok(Form(f)) = form else {
        return html_status(
            StatusCode::BAD_REQUEST,
            &frame(
                "Sign in",
                "",
                None,
                &login_body(Some("Unreadable form."), true),
            ),
        );
    };
    let Some(expected) = api_token(&st) else {
        return html_status(
            StatusCode::FORBIDDEN,
            &frame("Sign in", "", None, &login_body(None, false)),
        );
    };
    let user = clean_text(&f.user, MAX_WHO_CHARS);
    if !same_secret(&f.token, expected) || user.is_empty() {
        CollectorMetrics::bump(&st.metrics.logins, &[("result", "refused")]);
        // Slow down guessing; the connection cap bounds how many wait at once.
        tokio::time::sleep(Duration::from_millis(300)).await;
        return html_status(
            StatusCode::UNAUTHORIZED,
            &frame(
                "Sign in",
                "",
                None,
                &login_body(Some("Wrong token, or no name given."), true),
            ),
        );
    }
    let Some((id, _, evicted)) = st.sessions.create(&user) else {
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "no randomness for a session id",
        );
    };
    if evicted {
        st.metrics.sessions_evicted.inc();
    }
    st.metrics.sessions.set(st.sessions.len() as i64);
    CollectorMetrics::bump(&st.metrics.logins, &[("result", "ok")]);
    let mut r = redirect("/ui");
    let cookie = format!(
        "{COOKIE}={id}; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age={}",
        st.settings.session_ttl_secs.max(60)
    );
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct CsrfForm {
    csrf: String,
}

async fn logout(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    form: Result<Form<CsrfForm>, FormRejection>,
) -> Response {
    let (id, s) = match session(&st, &headers) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let given = form.map(|Form(f)| f.csrf).unwrap_or_default();
    if let Err(r) = check_csrf(&st, &headers, &s, &given) {
        return r;
    }
    st.sessions.remove(&id);
    st.metrics.sessions.set(st.sessions.len() as i64);
    let mut r = redirect("/ui/login");
    r.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static(
            "__Host-shadowtap=; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=0",
        ),
    );
    r
}

// ---------------------------------------------------------------------------------------------
// Overview

async fn overview(State(st): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let (_, s) = match session(&st, &headers) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let v = match load(&st).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    html(frame("Overview", "Overview", Some(&s), &overview_body(&v)))
}

fn card(o: &mut String, k: &str, value: &str, note: &str, href: Option<&str>) {
    let inner = format!(
        "<div class=\"k\">{}</div><div class=\"v\">{}</div><div class=\"n\">{}</div>",
        escape(k),
        escape(value),
        escape(note)
    );
    match href {
        Some(h) => {
            let _ = write!(o, "<a class=\"card\" href=\"{}\">{inner}</a>", escape(h));
        }
        None => {
            let _ = write!(o, "<div class=\"card\">{inner}</div>");
        }
    }
}

fn overview_body(v: &View) -> String {
    let r = &v.report;
    let s = &r.summary;
    let mut o = String::with_capacity(32 * 1024);
    let window = match (&s.window_start, &s.window_end) {
        (Some(a), Some(b)) => format!("{} to {}", short_time(a), short_time(b)),
        _ => "no traffic yet".to_string(),
    };
    let _ = write!(
        o,
        "<div class=\"pagehead\"><h1>Overview</h1><span class=\"muted\">traffic {} &middot; {} agent{}</span></div>",
        escape(&window),
        v.agents,
        if v.agents == 1 { "" } else { "s" }
    );
    o.push_str(&incomplete_banner(s));
    let visible: Vec<&Finding> = r
        .findings
        .iter()
        .filter(|f| !v.state_of(&f.id).hidden_by_default())
        .collect();
    let hidden = r.findings.len() - visible.len();
    let high = visible
        .iter()
        .filter(|f| f.severity >= Severity::High)
        .count();
    let shadow = s.endpoints - s.declared_endpoints;
    o.push_str("<div class=\"cards\">");
    card(
        &mut o,
        "Hosts",
        &format_count(s.hosts as u64),
        "seen carrying HTTP",
        None,
    );
    card(
        &mut o,
        "Endpoints",
        &format_count(s.endpoints as u64),
        &format!("{} declared, {shadow} shadow", s.declared_endpoints),
        Some("/ui/endpoints"),
    );
    card(
        &mut o,
        "Open findings",
        &format_count(visible.len() as u64),
        &format!("{high} high or critical, {hidden} suppressed or accepted"),
        Some("/ui/findings"),
    );
    card(
        &mut o,
        "HTTP exchanges",
        &format_count(s.http_exchanges),
        &format!(
            "{} packets, {}",
            format_count(s.packets),
            format_bytes(s.bytes)
        ),
        None,
    );
    card(
        &mut o,
        "Catalogue",
        &format!("{} APIs", s.catalogue.apis),
        &format!("{} operations", s.catalogue.operations),
        None,
    );
    o.push_str("</div>");

    let sev_rows: Vec<(String, u64, &str)> = Severity::ALL
        .iter()
        .map(|sev| {
            (
                sev.as_str().to_string(),
                visible.iter().filter(|f| f.severity == *sev).count() as u64,
                severity_color(*sev),
            )
        })
        .collect();
    let mut kinds: BTreeMap<&str, u64> = BTreeMap::new();
    for f in &visible {
        *kinds.entry(f.kind.as_str()).or_default() += 1;
    }
    let mut kind_rows: Vec<(String, u64, &str)> = kinds
        .into_iter()
        .map(|(k, n)| (k.to_string(), n, "#1565c0"))
        .collect();
    kind_rows.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let declared_rows = vec![
        (
            "declared".to_string(),
            s.declared_endpoints as u64,
            "#2e7d32",
        ),
        ("shadow".to_string(), shadow as u64, "#c62828"),
    ];
    let points: Vec<(String, u64)> = r
        .timeline
        .iter()
        .map(|(m, n)| (minute_label(*m), *n))
        .collect();
    let _ = write!(
        o,
        "<div class=\"charts\">\
         <div class=\"chart\"><h3>Open findings by severity</h3>{}</div>\
         <div class=\"chart\"><h3>Open findings by kind</h3>{}</div>\
         <div class=\"chart\"><h3>Endpoints: declared vs shadow</h3>{}</div>\
         <div class=\"chart\"><h3>Exchanges per minute (UTC, packet time)</h3>{}</div></div>",
        hbar_chart(&sev_rows),
        hbar_chart(&kind_rows),
        hbar_chart(&declared_rows),
        column_chart(&points, "#1565c0")
    );

    // The most severe open findings.
    let mut top = visible.clone();
    top.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.id.cmp(&b.id)));
    o.push_str("<h2>Most severe open findings</h2>");
    findings_table(&mut o, v, &top[..top.len().min(10)]);
    let _ = write!(
        o,
        "<p><a class=\"btn secondary\" href=\"/ui/findings\">All findings</a></p>"
    );

    // Hosts.
    let mut hosts: BTreeMap<&str, (u64, u64, u64, usize)> = BTreeMap::new();
    for e in &r.endpoints {
        let h = hosts.entry(e.host.as_str()).or_default();
        h.0 += 1;
        if e.declared {
            h.1 += 1;
        }
        h.2 += e.exchanges;
    }
    for f in &visible {
        if let Some(h) = hosts.get_mut(f.host.as_str()) {
            h.3 += 1;
        }
    }
    o.push_str(
        "<h2>Hosts</h2><table><thead><tr><th>host</th><th class=\"num\">endpoints</th>\
         <th class=\"num\">declared</th><th class=\"num\">shadow</th><th class=\"num\">exchanges</th>\
         <th class=\"num\">open findings</th></tr></thead><tbody>",
    );
    for (host, (n, declared, ex, fs)) in hosts.iter().take(MAX_ROWS) {
        let _ = write!(
            o,
            "<tr{}><td class=\"mono\"><a href=\"{}\">{}</a></td><td class=\"num\">{n}</td><td class=\"num\">{declared}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\"><a href=\"{}\">{fs}</a></td></tr>",
            if declared == &0 { " class=\"undeclared\"" } else { "" },
            escape(&format!("/ui/endpoints?host={}", enc(host))),
            escape(host),
            n - declared,
            format_count(*ex),
            escape(&format!("/ui/findings?host={}", enc(host))),
        );
    }
    o.push_str("</tbody></table>");
    o
}

// ---------------------------------------------------------------------------------------------
// Findings

/// Filters and sort of the findings list (all optional; unknown values are ignored).
#[derive(serde::Deserialize, Default, Clone)]
#[serde(default)]
struct FindingsQuery {
    kind: String,
    severity: String,
    host: String,
    class: String,
    /// `open`, `acknowledged`, `suppressed`, `accepted`, `all`; empty: everything not hidden.
    state: String,
    /// `severity` (default), `kind`, `host`, `confidence`, `state`, `exchanges`.
    sort: String,
}

impl FindingsQuery {
    fn matches(&self, v: &View, f: &Finding) -> bool {
        let state = v.state_of(&f.id);
        let state_ok = match self.state.as_str() {
            "all" => true,
            "" => !state.hidden_by_default(),
            s => s.parse::<ReviewState>().map_or(true, |want| want == state),
        };
        let kind_ok = self
            .kind
            .parse::<FindingKind>()
            .map_or(true, |k| k == f.kind);
        let sev_ok = self
            .severity
            .parse::<Severity>()
            .map_or(true, |s| s == f.severity);
        let host_ok = self.host.is_empty()
            || f.host
                .to_ascii_lowercase()
                .contains(&self.host.to_ascii_lowercase());
        let class_ok = self.class.is_empty() || finding_classes(f).contains(&self.class);
        state_ok && kind_ok && sev_ok && host_ok && class_ok
    }

    fn with_sort(&self, sort: &str) -> String {
        format!(
            "/ui/findings?kind={}&severity={}&host={}&class={}&state={}&sort={}",
            enc(&self.kind),
            enc(&self.severity),
            enc(&self.host),
            enc(&self.class),
            enc(&self.state),
            enc(sort)
        )
    }
}

fn sort_findings(v: &View, list: &mut [&Finding], sort: &str) {
    let by_sev = |a: &&Finding, b: &&Finding| b.severity.cmp(&a.severity).then(a.id.cmp(&b.id));
    match sort {
        "kind" => list.sort_by(|a, b| a.kind.cmp(&b.kind).then(by_sev(a, b))),
        "host" => list.sort_by(|a, b| a.host.cmp(&b.host).then(by_sev(a, b))),
        "confidence" => list.sort_by(|a, b| {
            b.confidence
                .partial_cmp(&a.confidence)
                .unwrap_or(std::cmp::Ordering::Equal)
                .then(by_sev(a, b))
        }),
        "state" => {
            list.sort_by(|a, b| v.state_of(&a.id).cmp(&v.state_of(&b.id)).then(by_sev(a, b)))
        }
        "exchanges" => list.sort_by(|a, b| {
            b.evidence
                .exchanges
                .cmp(&a.evidence.exchanges)
                .then(by_sev(a, b))
        }),
        _ => list.sort_by(by_sev),
    }
}

fn findings_table(o: &mut String, v: &View, list: &[&Finding]) {
    findings_table_with(o, v, list, None);
}

fn findings_table_with(o: &mut String, v: &View, list: &[&Finding], q: Option<&FindingsQuery>) {
    if list.is_empty() {
        o.push_str("<p class=\"muted\">No findings match.</p>");
        return;
    }
    let head = |key: &str, label: &str| match q {
        Some(q) => format!(
            "<a href=\"{}\">{}{}</a>",
            escape(&q.with_sort(key)),
            label,
            if q.sort == key || (q.sort.is_empty() && key == "severity") {
                " &#9662;"
            } else {
                ""
            }
        ),
        None => label.to_string(),
    };
    let _ = write!(
        o,
        "<table><thead><tr><th>{}</th><th>{}</th><th>{}</th><th>detail</th><th>data classes</th>\
         <th>{}</th><th class=\"num\">{}</th></tr></thead><tbody>",
        head("severity", "severity"),
        head("kind", "kind"),
        head("host", "target"),
        head("state", "review"),
        head("confidence", "confidence"),
    );
    for f in list.iter().take(MAX_ROWS) {
        let classes = finding_classes(f)
            .iter()
            .map(|c| format!("<span class=\"chip\">{}</span>", escape(c)))
            .collect::<Vec<_>>()
            .join(" ");
        let _ = write!(
            o,
            "<tr><td>{}</td><td><span class=\"chip\">{}</span></td>\
             <td class=\"mono\"><a href=\"{}\">{}</a></td><td>{}</td><td>{classes}</td><td>{}</td>\
             <td class=\"num\">{:.0}%</td></tr>",
            severity_badge(f.severity),
            escape(f.kind.as_str()),
            finding_href(&f.id),
            escape(&finding_target_text(f)),
            escape(&f.detail),
            state_chip(v.state_of(&f.id)),
            f.confidence * 100.0
        );
    }
    o.push_str("</tbody></table>");
    if list.len() > MAX_ROWS {
        let _ = write!(
            o,
            "<p class=\"muted\">{} more not shown: narrow the filters.</p>",
            list.len() - MAX_ROWS
        );
    }
}

fn select(o: &mut String, name: &str, label: &str, current: &str, options: &[(&str, &str)]) {
    let _ = write!(o, "<label>{label}<select name=\"{name}\">");
    for (value, text) in options {
        let _ = write!(
            o,
            "<option value=\"{}\"{}>{}</option>",
            escape(value),
            if *value == current { " selected" } else { "" },
            escape(text)
        );
    }
    o.push_str("</select></label>");
}

async fn findings_page(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    q: Result<Query<FindingsQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let (_, s) = match session(&st, &headers) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let q = q.map(|Query(q)| q).unwrap_or_default();
    let v = match load(&st).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let mut list: Vec<&Finding> = v
        .report
        .findings
        .iter()
        .filter(|f| q.matches(&v, f))
        .collect();
    sort_findings(&v, &mut list, &q.sort);
    let mut o = String::with_capacity(32 * 1024);
    let _ = write!(
        o,
        "<div class=\"pagehead\"><h1>Findings</h1><span class=\"count\">{} of {} shown</span></div>\
         <form class=\"filters\" method=\"get\" action=\"/ui/findings\">",
        list.len(),
        v.report.findings.len()
    );
    let mut kinds = vec![("", "any")];
    kinds.extend(FindingKind::ALL.iter().map(|k| (k.as_str(), k.as_str())));
    select(&mut o, "kind", "kind", &q.kind, &kinds);
    let mut sevs = vec![("", "any")];
    sevs.extend(Severity::ALL.iter().map(|s| (s.as_str(), s.as_str())));
    select(&mut o, "severity", "severity", &q.severity, &sevs);
    let _ = write!(
        o,
        "<label>host<input name=\"host\" value=\"{}\" placeholder=\"contains\"></label>",
        escape(&q.host)
    );
    let mut classes: Vec<String> = v.report.findings.iter().flat_map(finding_classes).collect();
    classes.sort();
    classes.dedup();
    let mut class_opts = vec![("", "any")];
    class_opts.extend(classes.iter().map(|c| (c.as_str(), c.as_str())));
    select(&mut o, "class", "data class", &q.class, &class_opts);
    select(
        &mut o,
        "state",
        "review state",
        &q.state,
        &[
            ("", "not hidden"),
            ("open", "open"),
            ("acknowledged", "acknowledged"),
            ("suppressed", "suppressed"),
            ("accepted", "accepted"),
            ("all", "all, hidden too"),
        ],
    );
    select(
        &mut o,
        "sort",
        "sort by",
        &q.sort,
        &[
            ("", "severity"),
            ("kind", "kind"),
            ("host", "host"),
            ("confidence", "confidence"),
            ("state", "review state"),
            ("exchanges", "exchanges"),
        ],
    );
    o.push_str(
        "<button type=\"submit\">Apply</button><a class=\"btn secondary\" href=\"/ui/findings\">Reset</a></form>",
    );
    findings_table_with(&mut o, &v, &list, Some(&q));
    html(frame("Findings", "Findings", Some(&s), &o))
}

async fn finding_page(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let (_, s) = match session(&st, &headers) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let v = match load(&st).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let Some(f) = v.report.findings.iter().find(|f| f.id == id) else {
        return html_status(
            StatusCode::NOT_FOUND,
            &frame(
                "Not found",
                "Findings",
                Some(&s),
                "<div class=\"notice\">No such finding (it may have been fixed, or the catalogue \
                 changed).</div><p><a href=\"/ui/findings\">All findings</a></p>",
            ),
        );
    };
    html(frame(
        &format!("Finding {}", f.id),
        "Findings",
        Some(&s),
        &finding_body(&v, f, &s, None),
    ))
}

fn finding_body(v: &View, f: &Finding, s: &Session, error: Option<&str>) -> String {
    let mut o = String::with_capacity(16 * 1024);
    let _ = write!(
        o,
        "<div class=\"crumbs\"><a href=\"/ui/findings\">Findings</a> / {}</div>\
         <div class=\"pagehead\"><h1>{} {}</h1>{} {}</div>",
        escape(&f.id),
        escape(f.kind.as_str()),
        escape(&finding_target_text(f)),
        severity_badge(f.severity),
        state_chip(v.state_of(&f.id)),
    );
    if let Some(e) = error {
        let _ = write!(o, "<div class=\"notice\">{}</div>", escape(e));
    }
    o.push_str("<div class=\"grid2\"><div>");
    finding_card(&mut o, f);
    if let (Some(m), Some(p)) = (&f.method, &f.path) {
        if v.inventory.endpoints.contains_key(&EndpointKey {
            host: f.host.clone(),
            method: m.clone(),
            path: p.clone(),
        }) {
            let _ = write!(
                o,
                "<p><a class=\"btn secondary\" href=\"{}\">Endpoint details</a></p>",
                endpoint_href(&f.host, m, p)
            );
        }
    }
    o.push_str("</div><div><div class=\"panel\"><h2>Review</h2>");
    match v.reviews.get(&f.id) {
        Some(r) => {
            let _ = write!(
                o,
                "<dl class=\"kv\"><dt>state</dt><dd>{}</dd><dt>by</dt><dd>{}</dd><dt>at</dt><dd>{}</dd>",
                state_chip(r.effective(v.now)),
                escape(&r.by),
                escape(&wall_time(r.at))
            );
            if !r.reason.is_empty() {
                let _ = write!(o, "<dt>reason</dt><dd>{}</dd>", escape(&r.reason));
            }
            if let Some(e) = r.expires {
                let _ = write!(
                    o,
                    "<dt>{}</dt><dd>{}</dd>",
                    if e <= v.now { "expired" } else { "until" },
                    escape(&wall_time(e))
                );
            }
            o.push_str("</dl>");
        }
        None => o.push_str("<p class=\"muted\">Not reviewed yet.</p>"),
    }
    o.push_str("</div><div class=\"panel\"><h2>Decide</h2>");
    let action = escape(&format!("/ui/findings/{}/review", enc(&f.id)));
    let csrf = escape(&s.csrf);
    let _ = write!(
        o,
        "<form method=\"post\" action=\"{action}\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <input type=\"hidden\" name=\"action\" value=\"acknowledge\">\
         <div class=\"row\"><input name=\"reason\" placeholder=\"note (optional)\" maxlength=\"500\">\
         <button type=\"submit\" id=\"acknowledge\">Acknowledge</button></div>\
         <div class=\"muted\">Seen and being handled; stays in the list.</div></form>\
         <form method=\"post\" action=\"{action}\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <input type=\"hidden\" name=\"action\" value=\"suppress\">\
         <textarea name=\"reason\" placeholder=\"reason (required)\" maxlength=\"500\" required></textarea>\
         <div class=\"row\"><label>for <input name=\"days\" type=\"number\" min=\"1\" max=\"366\" value=\"30\"> days</label>\
         <button type=\"submit\" class=\"warn\" id=\"suppress\">Suppress</button></div>\
         <div class=\"muted\">Hidden until the expiry, then open again.</div></form>\
         <form method=\"post\" action=\"{action}\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <input type=\"hidden\" name=\"action\" value=\"accept\">\
         <div class=\"row\"><input name=\"reason\" placeholder=\"why this is expected\" maxlength=\"500\">\
         <button type=\"submit\" class=\"ok\" id=\"accept\">Accept into baseline</button></div>\
         <div class=\"muted\">Expected behaviour; hidden from the default view.</div></form>"
    );
    if v.reviews.contains_key(&f.id) {
        let _ = write!(
            o,
            "<form method=\"post\" action=\"{action}\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
             <input type=\"hidden\" name=\"action\" value=\"reopen\">\
             <button type=\"submit\" class=\"secondary\" id=\"reopen\">Reopen</button></form>"
        );
    }
    o.push_str("</div></div></div>");
    o
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct ReviewForm {
    csrf: String,
    action: String,
    reason: String,
    /// Suppression length in days (form text: parsed here so a bad value gets a message).
    days: String,
}

async fn review_form(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: Result<Form<ReviewForm>, FormRejection>,
) -> Response {
    let (_, s) = match session(&st, &headers) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let f = form.map(|Form(f)| f).unwrap_or_default();
    if let Err(r) = check_csrf(&st, &headers, &s, &f.csrf) {
        return r;
    }
    let secs = f
        .days
        .trim()
        .parse::<u64>()
        .ok()
        .map(|d| d.saturating_mul(86_400));
    match apply_review(&st, &id, &f.action, &f.reason, secs, &s.user, "dashboard").await {
        Ok(_) => redirect_to(format!("/ui/findings/{}", enc(&id))),
        Err(r) if r.status() == StatusCode::BAD_REQUEST && valid_finding_id(&id) => {
            // Show the finding again with the reason the action was refused.
            let msg = review_error_text(r).await;
            let v = match load(&st).await {
                Ok(v) => v,
                Err(r) => return r,
            };
            match v.report.findings.iter().find(|x| x.id == id) {
                Some(fnd) => html_status(
                    StatusCode::BAD_REQUEST,
                    &frame(
                        "Review refused",
                        "Findings",
                        Some(&s),
                        &finding_body(&v, fnd, &s, Some(&msg)),
                    ),
                ),
                None => redirect("/ui/findings"),
            }
        }
        Err(r) => r,
    }
}

async fn review_error_text(r: Response) -> String {
    let body = axum::body::to_bytes(r.into_body(), 64 * 1024)
        .await
        .unwrap_or_default();
    serde_json::from_slice::<analyzer::wire::ErrorBody>(&body)
        .map(|e| e.error)
        .unwrap_or_else(|_| "refused".into())
}

/// Validate and store a review action (dashboard and JSON API alike).
///
/// Returns the state in force and the stored record (`None` after a reopen), or the refusal.
pub async fn apply_review(
    st: &Arc<AppState>,
    id: &str,
    action: &str,
    reason: &str,
    suppress_secs: Option<u64>,
    by: &str,
    via: &'static str,
) -> Result<(ReviewState, Option<ReviewRecord>), Response> {
    let invalid = |msg: String| {
        CollectorMetrics::bump(&st.metrics.reviews_refused, &[("reason", "invalid")]);
        refuse(StatusCode::BAD_REQUEST, msg)
    };
    if !valid_finding_id(id) {
        return Err(invalid(format!(
            "{:?} is not a finding id (16 hex digits)",
            clean_text(id, 40)
        )));
    }
    let action: ReviewAction = action.parse().map_err(invalid)?;
    let now = now_secs();
    let record =
        decide(&action, reason, suppress_secs, by, now).map_err(|e| invalid(e.to_string()))?;
    let s = Arc::clone(st);
    let (id2, rec2) = (id.to_string(), record.clone());
    let stored = blocking(move || {
        let (_, _, findings) = s.findings()?;
        if !findings.iter().any(|f| f.id == id2) {
            return Ok(false);
        }
        s.store.set_review(&id2, rec2.as_ref())?;
        Ok(true)
    })
    .await;
    match stored {
        Ok(true) => {}
        Ok(false) => {
            CollectorMetrics::bump(
                &st.metrics.reviews_refused,
                &[("reason", "unknown_finding")],
            );
            return Err(refuse(
                StatusCode::NOT_FOUND,
                format!("no current finding has id {id}"),
            ));
        }
        Err(r) => {
            if r.status() == StatusCode::SERVICE_UNAVAILABLE {
                CollectorMetrics::bump(&st.metrics.reviews_refused, &[("reason", "store")]);
            }
            return Err(r);
        }
    }
    let label = match action {
        ReviewAction::Acknowledge => "acknowledge",
        ReviewAction::Suppress => "suppress",
        ReviewAction::Accept => "accept",
        ReviewAction::Reopen => "reopen",
    };
    CollectorMetrics::bump(&st.metrics.reviews, &[("action", label), ("via", via)]);
    let state = record
        .as_ref()
        .map(|r| r.effective(now))
        .unwrap_or(ReviewState::Open);
    Ok((state, record))
}

// ---------------------------------------------------------------------------------------------
// Endpoints

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct EndpointsQuery {
    host: String,
}

async fn endpoints_page(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    q: Result<Query<EndpointsQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let (_, s) = match session(&st, &headers) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let q = q.map(|Query(q)| q).unwrap_or_default();
    let v = match load(&st).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let list: Vec<&EndpointView> = v
        .report
        .endpoints
        .iter()
        .filter(|e| q.host.is_empty() || e.host == q.host)
        .collect();
    let mut o = String::new();
    let _ =
        write!(
        o,
        "<div class=\"pagehead\"><h1>Endpoints</h1><span class=\"count\">{} shown{}</span></div>\
         <form class=\"filters\" method=\"get\" action=\"/ui/endpoints\"><label>host\
         <input name=\"host\" value=\"{}\"></label><button type=\"submit\">Apply</button>\
         <a class=\"btn secondary\" href=\"/ui/endpoints\">Reset</a></form>",
        list.len(),
        if q.host.is_empty() { "" } else { " for one host" },
        escape(&q.host)
    );
    o.push_str(
        "<table><thead><tr><th>host</th><th>method</th><th>path</th><th>declared</th>\
         <th class=\"num\">exchanges</th><th>data classes</th><th class=\"num\">consumers</th>\
         <th>last seen</th></tr></thead><tbody>",
    );
    for e in list.iter().take(MAX_ROWS) {
        let mut classes: Vec<&str> = e.data_classes.iter().map(|d| d.class.as_str()).collect();
        classes.sort();
        classes.dedup();
        let _ = write!(
            o,
            "<tr{}><td class=\"mono\">{}</td><td><span class=\"chip\">{}</span></td>\
             <td class=\"mono\"><a href=\"{}\">{}</a></td><td>{}</td><td class=\"num\">{}</td><td>{}</td>\
             <td class=\"num\">{}</td><td>{}</td></tr>",
            if e.declared { "" } else { " class=\"undeclared\"" },
            escape(&e.host),
            escape(&e.method),
            endpoint_href(&e.host, &e.method, &e.path),
            escape(&e.path),
            yes_no(e.declared),
            format_count(e.exchanges),
            classes
                .iter()
                .map(|c| format!("<span class=\"chip\">{}</span>", escape(c)))
                .collect::<Vec<_>>()
                .join(" "),
            e.consumers,
            escape(&short_time(&e.last_seen)),
        );
    }
    o.push_str("</tbody></table>");
    if list.len() > MAX_ROWS {
        let _ = write!(
            o,
            "<p class=\"muted\">{} more not shown.</p>",
            list.len() - MAX_ROWS
        );
    }
    html(frame("Endpoints", "Endpoints", Some(&s), &o))
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "<span class=\"yes\">yes</span>"
    } else {
        "<span class=\"no\">no (shadow)</span>"
    }
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct EndpointQuery {
    host: String,
    method: String,
    path: String,
}

async fn endpoint_page(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    q: Result<Query<EndpointQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let (_, s) = match session(&st, &headers) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let q = q.map(|Query(q)| q).unwrap_or_default();
    let v = match load(&st).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let key = EndpointKey {
        host: q.host.clone(),
        method: q.method.clone(),
        path: q.path.clone(),
    };
    let (Some(rec), Some(view)) = (
        v.inventory.endpoints.get(&key),
        v.report
            .endpoints
            .iter()
            .find(|e| e.host == key.host && e.method == key.method && e.path == key.path),
    ) else {
        return html_status(
            StatusCode::NOT_FOUND,
            &frame(
                "Not found",
                "Endpoints",
                Some(&s),
                "<div class=\"notice\">No such endpoint in the inventory.</div>\
                 <p><a href=\"/ui/endpoints\">All endpoints</a></p>",
            ),
        );
    };
    let mut o = String::with_capacity(16 * 1024);
    let _ = write!(
        o,
        "<div class=\"crumbs\"><a href=\"/ui/endpoints\">Endpoints</a> / {}</div>\
         <div class=\"pagehead\"><h1><span class=\"chip\">{}</span> <span class=\"mono\">{}{}</span></h1>{}</div>",
        escape(&view.host),
        escape(&view.method),
        escape(&view.host),
        escape(&view.path),
        if view.declared {
            "<span class=\"badge declared\">declared</span>"
        } else {
            "<span class=\"badge shadow\">shadow</span>"
        }
    );
    o.push_str("<div class=\"grid2\"><div>");
    // Traffic facts.
    let _ = write!(
        o,
        "<div class=\"panel\"><h2>Traffic</h2><dl class=\"kv\"><dt>exchanges</dt><dd>{}</dd>\
         <dt>first seen</dt><dd>{}</dd><dt>last seen</dt><dd>{}</dd><dt>confidence</dt><dd>{:.0}%</dd>\
         <dt>statuses</dt><dd>{}</dd><dt>auth</dt><dd>{}</dd><dt>template</dt><dd>{}</dd></dl></div>",
        format_count(view.exchanges),
        escape(&short_time(&view.first_seen)),
        escape(&short_time(&view.last_seen)),
        view.confidence * 100.0,
        view.statuses
            .iter()
            .map(|(c, n)| format!("<span class=\"chip\">{} &times; {}</span>", escape(c), format_count(*n)))
            .collect::<Vec<_>>()
            .join(" "),
        escape(&view.auth.join(", ")),
        view.template_params
            .iter()
            .map(|p| format!("{{{}}}: {}", escape(&p.name), escape(&p.reason)))
            .collect::<Vec<_>>()
            .join(", "),
    );
    // Parameters.
    o.push_str("<div class=\"panel\"><h2>Parameters</h2>");
    if rec.query_params.is_empty() && rec.header_params.is_empty() {
        o.push_str("<p class=\"muted\">None observed.</p>");
    } else {
        o.push_str("<table><thead><tr><th>in</th><th>name</th><th class=\"num\">exchanges</th></tr></thead><tbody>");
        for (loc, map) in [("query", &rec.query_params), ("header", &rec.header_params)] {
            for (name, n) in map.iter().take(MAX_ROWS) {
                let _ = write!(
                    o,
                    "<tr><td>{loc}</td><td class=\"mono\">{}</td><td class=\"num\">{}</td></tr>",
                    escape(name),
                    format_count(*n)
                );
            }
        }
        o.push_str("</tbody></table>");
    }
    o.push_str("</div>");
    // Body fields with the data classes found at them.
    o.push_str("<div class=\"panel\"><h2>Body fields</h2>");
    if rec.request_fields.is_empty() && rec.response_fields.is_empty() {
        o.push_str("<p class=\"muted\">No JSON body fields observed.</p>");
    } else {
        o.push_str("<table><thead><tr><th>in</th><th>field</th><th>types</th><th>data classes</th></tr></thead><tbody>");
        for (side, map) in [
            ("request", &rec.request_fields),
            ("response", &rec.response_fields),
        ] {
            for (path, types) in map.iter().take(MAX_ROWS) {
                let types: Vec<String> = types
                    .iter()
                    .map(|t| {
                        serde_json::to_value(t)
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_string))
                            .unwrap_or_default()
                    })
                    .collect();
                let suffix = format!(".{path}");
                let classes: Vec<String> = rec
                    .data_classes
                    .iter()
                    .filter(|(_, locs)| {
                        locs.keys()
                            .any(|l| l.starts_with(side) && l.ends_with(&suffix))
                    })
                    .map(|(c, _)| format!("<span class=\"chip\">{}</span>", escape(c)))
                    .collect();
                let _ = write!(
                    o,
                    "<tr><td>{side}</td><td class=\"mono\">{}</td><td>{}</td><td>{}</td></tr>",
                    escape(path),
                    escape(&types.join(", ")),
                    classes.join(" ")
                );
            }
        }
        o.push_str("</tbody></table>");
    }
    o.push_str("</div>");
    // Data classes.
    o.push_str("<div class=\"panel\"><h2>Data classes</h2>");
    if view.data_classes.is_empty() {
        o.push_str("<p class=\"muted\">No sensitive data classes observed.</p>");
    } else {
        o.push_str("<table><thead><tr><th>class</th><th>where</th><th class=\"num\">count</th><th>masked preview</th></tr></thead><tbody>");
        for d in view.data_classes.iter().take(MAX_ROWS) {
            let _ = write!(
                o,
                "<tr><td><span class=\"chip\">{}</span></td><td class=\"mono\">{}</td><td class=\"num\">{}</td><td class=\"mono\">{}</td></tr>",
                escape(&d.class),
                escape(&d.location),
                format_count(d.count),
                escape(&d.preview)
            );
        }
        o.push_str("</tbody></table>");
    }
    o.push_str("</div>");
    // Consumers.
    let _ = write!(
        o,
        "<div class=\"panel\"><h2>Consumers <span class=\"count\">{}</span></h2>",
        view.consumers
    );
    if view.consumer_list.is_empty() {
        o.push_str("<p class=\"muted\">None identified.</p>");
    } else {
        o.push_str("<table><thead><tr><th>consumer</th><th>kind</th><th class=\"num\">exchanges</th></tr></thead><tbody>");
        for c in &view.consumer_list {
            let _ = write!(
                o,
                "<tr><td class=\"mono\">{}{}</td><td>{}{}</td><td class=\"num\">{}</td></tr>",
                escape(c.label.as_deref().unwrap_or(&c.id)),
                if c.label.is_some() {
                    format!(" <span class=\"muted\">{}</span>", escape(&c.id))
                } else {
                    String::new()
                },
                escape(&c.kind),
                if c.unverified {
                    " (unverified claims)"
                } else {
                    ""
                },
                format_count(c.exchanges)
            );
        }
        o.push_str("</tbody></table>");
        if view.consumers_not_listed > 0 {
            let _ = write!(
                o,
                "<p class=\"muted\">{} more not listed.</p>",
                view.consumers_not_listed
            );
        }
    }
    o.push_str("</div></div><div>");
    // The catalogue side and how traffic differs from it.
    o.push_str("<div class=\"panel\"><h2>Catalogue operation</h2>");
    match v
        .catalogue
        .find_operation(&key.host, &key.method, &key.path)
    {
        Some(op) => {
            let api = v.catalogue.apis.get(op.api);
            let security = match &op.security {
                Security::None => "none".to_string(),
                Security::Required(s) => format!("required: {}", s.join(", ")),
                Security::Optional(s) => format!("optional: {}", s.join(", ")),
            };
            let _ = write!(
                o,
                "<dl class=\"kv\"><dt>operation</dt><dd class=\"mono\">{}</dd><dt>API</dt><dd>{}</dd>\
                 <dt>declared in</dt><dd class=\"mono\">{}</dd><dt>spec path</dt><dd class=\"mono\">{} {}</dd>\
                 <dt>deprecated</dt><dd>{}</dd><dt>parameters</dt><dd class=\"mono\">{}</dd>\
                 <dt>responses</dt><dd>{}</dd><dt>security</dt><dd>{}</dd>\
                 <dt>request types</dt><dd>{}</dd><dt>response types</dt><dd>{}</dd></dl>",
                escape(op.operation_id.as_deref().unwrap_or("(no operationId)")),
                escape(&api.map(|a| format!("{} {}", a.title, a.version)).unwrap_or_default()),
                escape(&api.map(|a| a.source.clone()).unwrap_or_default()),
                escape(&op.method),
                escape(&op.spec_path),
                if op.deprecated { "<span class=\"no\">yes</span>" } else { "no" },
                escape(
                    &op.parameters
                        .iter()
                        .map(|p| format!(
                            "{}:{}{}",
                            serde_json::to_value(p.location)
                                .ok()
                                .and_then(|v| v.as_str().map(str::to_string))
                                .unwrap_or_default(),
                            p.name,
                            if p.required { " (required)" } else { "" }
                        ))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                escape(&op.responses.join(", ")),
                escape(&security),
                escape(&op.request_content_types.join(", ")),
                escape(&op.response_content_types.join(", ")),
            );
        }
        None => o.push_str(
            "<p><span class=\"no\">No catalogue operation matches.</span> This is a shadow \
             endpoint: traffic shows it, no spec declares it.</p>",
        ),
    }
    o.push_str("</div><div class=\"panel\"><h2>How traffic differs</h2>");
    let related: Vec<&Finding> = v
        .report
        .findings
        .iter()
        .filter(|f| {
            f.host == key.host
                && f.method.as_deref() == Some(key.method.as_str())
                && f.path.as_deref() == Some(key.path.as_str())
        })
        .collect();
    if related.is_empty() {
        o.push_str("<p class=\"muted\">No findings: traffic matches the declaration.</p>");
    } else {
        for f in related {
            let _ = write!(
                o,
                "<p>{} <span class=\"chip\">{}</span> {} <a href=\"{}\">{}</a><br>{}</p>",
                severity_badge(f.severity),
                escape(f.kind.as_str()),
                state_chip(v.state_of(&f.id)),
                finding_href(&f.id),
                escape(&f.id),
                escape(&f.detail)
            );
        }
    }
    o.push_str("</div></div></div>");
    html(frame("Endpoint", "Endpoints", Some(&s), &o))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_are_capped_expire_and_have_random_ids() {
        let s = Sessions::new(2, Duration::from_secs(3600));
        let (a, _, e1) = s.create("a").expect("a");
        let (b, _, e2) = s.create("b").expect("b");
        assert!(!e1 && !e2);
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        let (c, sc, e3) = s.create("c").expect("c");
        assert!(e3, "the oldest is evicted at the cap");
        assert_eq!(s.len(), 2);
        assert!(s.get(&a).is_none() && s.get(&b).is_some());
        assert_eq!(s.get(&c).expect("c").csrf, sc.csrf);
        let short = Sessions::new(2, Duration::ZERO);
        let (d, _, _) = short.create("d").expect("d");
        assert!(short.get(&d).is_none(), "expired");
    }

    #[test]
    fn cookies_parse_and_values_encode() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("x=1; __Host-shadowtap=abc; y=2"),
        );
        assert_eq!(cookie_value(&h, COOKIE), Some("abc"));
        assert_eq!(enc("a b/<\"&"), "a%20b%2F%3C%22%26");
        assert!(!endpoint_href("<h>", "GET", "/\"x").contains('<'));
        assert_eq!(wall_time(0), "1970-01-01 00:00 UTC");
        assert_eq!(wall_time(1_772_442_000), "2026-03-02 09:00 UTC");
    }
}
