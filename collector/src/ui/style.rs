//! The dashboard's stylesheet: the report's ([`STYLESHEET`]) plus the dashboard's own rules.

use analyzer::report::html::STYLESHEET;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};

/// The dashboard's own styles, on top of the report's [`STYLESHEET`].
pub(super) const DASHBOARD_CSS: &str = r#"
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

/// `GET /ui/style.css`
pub(super) async fn stylesheet() -> Response {
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
