//! How every dashboard page is answered: security headers, the page frame, redirects and the
//! links between pages (values percent-encoded, then escaped).

use crate::sessions::Session;
use analyzer::report::html::escape;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use std::fmt::Write;

pub(super) const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; \
                   form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

pub(super) fn secure_headers(r: &mut Response) {
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

pub(super) fn html_status(status: StatusCode, body: &str) -> Response {
    let mut r = (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body.to_string(),
    )
        .into_response();
    secure_headers(&mut r);
    r
}

pub(super) fn html(body: String) -> Response {
    html_status(StatusCode::OK, &body)
}

pub(super) fn redirect(to: &'static str) -> Response {
    redirect_to(to.to_string())
}

pub(super) fn redirect_to(to: String) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(&to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    secure_headers(&mut r);
    r
}

/// Percent-encode a query value (everything but unreserved characters).
pub(super) fn enc(s: &str) -> String {
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
pub(super) fn endpoint_href(host: &str, method: &str, path: &str) -> String {
    escape(&format!(
        "/ui/endpoint?host={}&method={}&path={}",
        enc(host),
        enc(method),
        enc(path)
    ))
}

pub(super) fn finding_href(id: &str) -> String {
    // Ids are 16 hex digits (checked on the way in); escaped anyway.
    escape(&format!("/ui/findings/{}", enc(id)))
}

/// The page around `body`: header with navigation and the signed-in user.
pub(super) fn frame(title: &str, active: &str, s: Option<&Session>, body: &str) -> String {
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
            ("/ui/capabilities", "Capabilities"),
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
