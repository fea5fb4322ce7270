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
//! | `GET /ui/capabilities` | exposure per open-banking capability: the report's table, then each capability's endpoints with their status, TPPs and roles, auth and FAPI headers |
//! | `GET /ui/style.css` | the stylesheet (embedded; the report's plus the dashboard's) |
//!
//! Security by construction:
//! - Pages work without JavaScript and contain none; every response carries a Content Security
//!   Policy with `default-src 'none'` (styles from `'self'` only), `frame-ancestors 'none'`,
//!   `form-action 'self'`, so even a missed escape could not run a script.
//! - Everything from traffic or specs goes through [`analyzer::report::html::escape`] (shared with the report renderer); values put into links are
//!   percent-encoded first, then escaped.
//! - Sessions: a random 256-bit id in a `__Host-` cookie (HttpOnly, Secure, SameSite=Strict,
//!   Path=/), kept in memory, capped ([`crate::sessions::Sessions`], oldest evicted and counted) and expiring.
//!   A restart signs everyone out; review state is in the store and survives.
//! - Every POST but the login carries the session's CSRF token (compared in constant time) and
//!   is refused when the browser says it is cross-site (`Sec-Fetch-Site`).
//! - Form bodies are capped at [`MAX_FORM_BYTES`]; reasons and names are cleaned and capped
//!   ([`crate::review`]); a review names an existing finding or is refused, so the review tree
//!   cannot be grown with made-up ids.

//!
//! One module per page; [`session::SignedIn`] is the extractor every signed-in page takes, and
//! the UI depends on [`crate::state`] only (never on the server's transport), so the server can
//! mount it without an import cycle.

mod capabilities;
mod endpoint;
mod endpoints;
mod finding;
mod findings;
mod login;
mod overview;
mod respond;
pub mod session;
mod style;
mod view;

use crate::review::MAX_FORM_BYTES;
use crate::state::AppState;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use respond::redirect;
use std::sync::Arc;

/// Most rows a list page shows (the rest is counted, not rendered).
pub const MAX_ROWS: usize = 2_000;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/ui", get(overview::overview))
        .route("/ui/", get(|| async { redirect("/ui") }))
        .route("/ui/login", get(login::login_page).post(login::login))
        .route("/ui/logout", post(login::logout))
        .route("/ui/style.css", get(style::stylesheet))
        .route("/ui/findings", get(findings::findings_page))
        .route("/ui/findings/{id}", get(finding::finding_page))
        .route("/ui/findings/{id}/review", post(finding::review_form))
        .route("/ui/endpoints", get(endpoints::endpoints_page))
        .route("/ui/endpoint", get(endpoint::endpoint_page))
        .route("/ui/capabilities", get(capabilities::capabilities_page))
        .layer(DefaultBodyLimit::max(MAX_FORM_BYTES))
}

#[cfg(test)]
mod tests {
    use super::respond::{enc, endpoint_href};
    use super::session::{cookie_value, COOKIE};
    use super::view::wall_time;
    use axum::http::{header, HeaderMap, HeaderValue};

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
