//! `GET /ui/findings/{id}`: one finding, its review and the review forms;
//! `POST /ui/findings/{id}/review`.

use super::respond::{enc, endpoint_href, frame, html, html_status, redirect, redirect_to};
use super::session::{check_csrf, SignedIn};
use super::view::{load_with_trail, state_chip, wall_time, View};
use crate::review::{valid_finding_id, ReviewEvent};
use crate::reviewing::apply_review;
use crate::sessions::Session;
use crate::state::AppState;
use analyzer::finding::Finding;
use analyzer::observation::EndpointKey;
use analyzer::report::html::{escape, finding_card, finding_target_text, severity_badge};
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Form;
use std::fmt::Write;
use std::sync::Arc;

pub(super) async fn finding_page(
    State(st): State<Arc<AppState>>,
    SignedIn { session: s, .. }: SignedIn,
    Path(id): Path<String>,
) -> Response {
    let v = match load_with_trail(&st, Some(id.clone())).await {
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

pub(super) fn finding_body(v: &View, f: &Finding, s: &Session, error: Option<&str>) -> String {
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
        if v.analysis.inventory.endpoints.contains_key(&EndpointKey {
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
    o.push_str("</div>");
    trail_panel(&mut o, &v.trail);
    o.push_str("<div class=\"panel\"><h2>Decide</h2>");
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
             <div class=\"row\"><input name=\"reason\" placeholder=\"why reopen (kept in the history)\" maxlength=\"500\">\
             <button type=\"submit\" class=\"secondary\" id=\"reopen\">Reopen</button></div></form>"
        );
    }
    o.push_str("</div></div></div>");
    o
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub(super) struct ReviewForm {
    csrf: String,
    action: String,
    reason: String,
    /// Suppression length in days (form text: parsed here so a bad value gets a message).
    days: String,
}

pub(super) async fn review_form(
    State(st): State<Arc<AppState>>,
    headers: HeaderMap,
    SignedIn { session: s, .. }: SignedIn,
    Path(id): Path<String>,
    form: Result<Form<ReviewForm>, FormRejection>,
) -> Response {
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
            let v = match load_with_trail(&st, Some(id.clone())).await {
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

pub(super) async fn review_error_text(r: Response) -> String {
    let body = axum::body::to_bytes(r.into_body(), 64 * 1024)
        .await
        .unwrap_or_default();
    serde_json::from_slice::<analyzer::wire::ErrorBody>(&body)
        .map(|e| e.error)
        .unwrap_or_else(|_| "refused".into())
}

/// The finding's review trail, newest first: who did what, when and why.
fn trail_panel(o: &mut String, trail: &[ReviewEvent]) {
    let _ = write!(
        o,
        "<div class=\"panel\" id=\"history\"><h2>History <span class=\"count\">{}</span></h2>",
        trail.len()
    );
    if trail.is_empty() {
        o.push_str("<p class=\"muted\">No review actions yet.</p></div>");
        return;
    }
    o.push_str(
        "<table class=\"trail\"><thead><tr><th>when</th><th>action</th><th>state</th><th>by</th>\
         <th>why</th></tr></thead><tbody>",
    );
    for e in trail.iter().rev() {
        let until = e
            .expires
            .map(|x| format!(" (until {})", escape(&wall_time(x))))
            .unwrap_or_default();
        let _ = write!(
            o,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}{until}</td></tr>",
            escape(&wall_time(e.at)),
            escape(e.action.as_str()),
            state_chip(e.state),
            escape(&e.by),
            escape(&e.reason),
        );
    }
    o.push_str("</tbody></table></div>");
}
