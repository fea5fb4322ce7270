//! Sign in with the API token and a name for the audit trail; sign out.

use super::respond::{frame, html, html_status, redirect};
use super::session::{check_csrf, session_of, SignedIn, COOKIE};
use crate::metrics::CollectorMetrics;
use crate::review::{clean_text, MAX_WHO_CHARS};
use crate::state::{refuse, same_secret, AppState};
use analyzer::report::html::escape;
use axum::extract::rejection::FormRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use axum::Form;
use std::fmt::Write;
use std::sync::Arc;
use std::time::Duration;

pub(super) fn login_body(message: Option<&str>, api_on: bool) -> String {
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

pub(super) async fn login_page(State(st): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if session_of(&st, &headers).is_some() {
        return redirect("/ui");
    }
    html(frame(
        "Sign in",
        "",
        None,
        &login_body(None, api_token(&st).is_some()),
    ))
}

pub(super) fn api_token(st: &AppState) -> Option<&str> {
    st.settings.api_token.as_deref().filter(|t| !t.is_empty())
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub(super) struct LoginForm {
    user: String,
    token: String,
}

pub(super) async fn login(
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
pub(super) struct CsrfForm {
    csrf: String,
}

pub(super) async fn logout(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    SignedIn { id, session: s }: SignedIn,
    form: Result<Form<CsrfForm>, FormRejection>,
) -> Response {
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
