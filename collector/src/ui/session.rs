//! The session cookie as an axum extractor ([`SignedIn`]) and the CSRF check of every POST.

use super::respond::{frame, html_status, redirect};
use crate::metrics::CollectorMetrics;
use crate::sessions::Session;
use crate::state::{same_secret, AppState};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use std::sync::Arc;

pub(super) const COOKIE: &str = "__Host-shadowtap";

pub(super) fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
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

/// The live session named by the request's cookie, with its id.
pub(super) fn session_of(st: &AppState, headers: &HeaderMap) -> Option<(String, Session)> {
    cookie_value(headers, COOKIE)
        .filter(|id| id.len() == 64)
        .and_then(|id| st.sessions.get(id).map(|s| (id.to_string(), s)))
}

/// A signed-in reviewer, as a handler argument: a request without a live session never reaches
/// the handler and is redirected to the login page instead.
pub struct SignedIn {
    /// The session id (the cookie value), for sign-out.
    pub id: String,
    pub session: Session,
}

impl FromRequestParts<Arc<AppState>> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        st: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        session_of(st, &parts.headers)
            .map(|(id, session)| SignedIn { id, session })
            .ok_or_else(|| redirect("/ui/login"))
    }
}

/// Refuse a POST whose CSRF token is wrong or that the browser marks as cross-site.
#[allow(clippy::result_large_err)]
pub(super) fn check_csrf(
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
