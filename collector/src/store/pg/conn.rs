//! Connections to PostgreSQL: a small pool of idle clients, each with its prepared statements,
//! and errors that name the database (its URL without the password) and what was being done.

use super::tls::{self, Mode};
use crate::store::StoreError;
use postgres::config::SslMode;
use postgres::{Client, Config, NoTls, Statement};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// Idle connections kept for reuse; more may be open at once (one per store call in flight,
/// bounded by the collector's blocking tasks), and those are closed after use.
const MAX_IDLE: usize = 8;
/// How long to wait for the server to answer a connection attempt.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long an idle connection may take to prove it is alive before a call that must not fail
/// halfway uses it.
const IDLE_CHECK: Duration = Duration::from_secs(2);

/// One client and the statements prepared on it.
pub(super) struct Conn {
    pub client: Client,
    pub stmts: HashMap<&'static str, Statement>,
}

pub(super) struct Pool {
    config: Config,
    /// The URL as given, without its password: for errors and logs.
    url: String,
    /// TLS to the server (`sslmode=verify-ca|verify-full`), else plain TCP.
    tls: Option<tokio_postgres_rustls::MakeRustlsConnect>,
    idle: Mutex<Vec<Conn>>,
}

/// `url` with the password (of a URL's user info, or a `password=` setting) replaced by `***`.
pub fn redact(url: &str) -> String {
    if let Some(rest) = url.split_once("://") {
        let (scheme, rest) = rest;
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        if let Some((userinfo, host)) = authority.rsplit_once('@') {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            let shown = if userinfo.contains(':') {
                format!("{user}:***")
            } else {
                user.to_string()
            };
            return redact_password_setting(&format!("{scheme}://{shown}@{host}{tail}"));
        }
    }
    redact_password_setting(url)
}

fn redact_password_setting(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("password=") {
        let (head, tail) = rest.split_at(i + "password=".len());
        out.push_str(head);
        out.push_str("***");
        let end = tail.find(['&', ' ']).unwrap_or(tail.len());
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

impl Pool {
    pub fn new(url: &str) -> Result<Pool, StoreError> {
        let shown = redact(url);
        let settings_err = |message: String| StoreError::PostgresSettings {
            url: shown.clone(),
            message,
        };
        let settings = tls::settings(url).map_err(settings_err)?;
        let tls = match settings.mode {
            Mode::Plain => None,
            _ => Some(tokio_postgres_rustls::MakeRustlsConnect::new(
                tls::client_config(&settings).map_err(settings_err)?,
            )),
        };
        let mut config: Config = settings.rest.parse().map_err(|e| StoreError::Postgres {
            url: shown.clone(),
            what: "parse the connection URL".into(),
            error: e,
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("shadowtap collector");
        }
        if tls.is_some() {
            // Never fall back to plaintext once TLS is asked for.
            config.ssl_mode(SslMode::Require);
        }
        Ok(Pool {
            config,
            url: shown,
            tls,
            idle: Mutex::new(Vec::new()),
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn err(&self, what: &str, error: postgres::Error) -> StoreError {
        StoreError::Postgres {
            url: self.url.clone(),
            what: what.to_string(),
            error,
        }
    }

    pub fn connect(&self) -> Result<Client, StoreError> {
        match &self.tls {
            Some(tls) => self.config.connect(tls.clone()),
            None => self.config.connect(NoTls),
        }
        .map_err(|e| self.err("connect", e))
    }

    /// Run `f` on an idle connection (or a new one), for calls not safe to repeat: an idle
    /// connection is first checked to be alive (one empty query), since a restarted server
    /// leaves every idle connection dead and `f` must not fail on one halfway. A connection
    /// that saw an error is dropped, not reused: its session state (an aborted transaction,
    /// statements prepared in it) is not worth reasoning about.
    pub fn with<T>(
        &self,
        f: impl FnOnce(&mut Conn) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.with_conn(f, true).0
    }

    /// Run `f` on a live connection, and say whether the connection was lost: closed, or
    /// closed by the server (shutdown, restart: SQLSTATE class 57P), or failing below SQL
    /// (I/O). `check_idle`: make sure an idle connection is alive before using it.
    fn with_conn<T>(
        &self,
        f: impl FnOnce(&mut Conn) -> Result<T, StoreError>,
        check_idle: bool,
    ) -> (Result<T, StoreError>, bool) {
        let mut conn = loop {
            let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
            match idle {
                Some(c) if c.client.is_closed() => continue,
                Some(mut c) => {
                    if check_idle && c.client.is_valid(IDLE_CHECK).is_err() {
                        continue;
                    }
                    break c;
                }
                None => match self.connect() {
                    Ok(client) => {
                        break Conn {
                            client,
                            stmts: HashMap::new(),
                        }
                    }
                    Err(e) => return (Err(e), false),
                },
            }
        };
        let r = f(&mut conn);
        let lost = match &r {
            Ok(_) => false,
            Err(StoreError::Postgres { error, .. }) => {
                conn.client.is_closed()
                    || error.is_closed()
                    || error
                        .as_db_error()
                        .is_none_or(|db| db.code().code().starts_with("57P"))
            }
            Err(_) => false,
        };
        if r.is_ok() && !conn.client.is_closed() {
            let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
            if idle.len() < MAX_IDLE {
                idle.push(conn);
            }
        }
        (r, lost)
    }

    /// [`Pool::with`], tried once more on a fresh connection when the first one was lost (a
    /// restarted server closes every idle connection). Only for calls that are safe to repeat:
    /// reads, and batches (a batch applied before the connection dropped is a duplicate the
    /// second time: the high-water mark commits with it).
    pub fn with_retry<T>(
        &self,
        mut f: impl FnMut(&mut Conn) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        match self.with_conn(&mut f, false) {
            (Err(_), true) => {
                // The others went with the same server.
                self.idle.lock().unwrap_or_else(|p| p.into_inner()).clear();
                self.with(f)
            }
            (r, _) => r,
        }
    }
}

impl Drop for Pool {
    /// Closing a client blocks on its own runtime, which panics on a thread that drives async
    /// tasks (a collector dropping its state at shutdown): close them on a thread of their own.
    fn drop(&mut self) {
        let idle = std::mem::take(self.idle.get_mut().unwrap_or_else(|p| p.into_inner()));
        if !idle.is_empty() {
            let closing = std::thread::Builder::new()
                .name("pg-close".into())
                .spawn(move || drop(idle));
            if let Err(e) = closing {
                tracing::debug!("closing PostgreSQL connections: no thread ({e}); left to exit");
            }
        }
    }
}

/// PostgreSQL text cannot hold NUL: a NUL in a name or record (hostile traffic can put one in
/// a field name) is stored as U+2400 SYMBOL FOR NULL instead of failing the batch forever.
pub(super) fn text_safe(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains('\0') {
        std::borrow::Cow::Owned(s.replace('\0', "\u{2400}"))
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}

/// A record's JSON for a `jsonb` column: `jsonb` refuses the escape `\u0000`, so strings
/// holding NUL are rewritten as in [`text_safe`] (rare: checked by a scan first).
pub(super) fn jsonb_safe(json: &[u8]) -> Result<std::borrow::Cow<'_, str>, StoreError> {
    let text = std::str::from_utf8(json).map_err(|e| StoreError::Corrupt {
        what: "record for PostgreSQL".into(),
        message: e.to_string(),
    })?;
    if !text.contains("\\u0000") {
        return Ok(std::borrow::Cow::Borrowed(text));
    }
    let mut v: serde_json::Value = serde_json::from_str(text).map_err(|e| StoreError::Corrupt {
        what: "record for PostgreSQL".into(),
        message: e.to_string(),
    })?;
    scrub(&mut v);
    Ok(std::borrow::Cow::Owned(v.to_string()))
}

fn scrub(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::String(s) => *s = text_safe(s).into_owned(),
        serde_json::Value::Array(a) => a.iter_mut().for_each(scrub),
        serde_json::Value::Object(o) => {
            let old = std::mem::take(o);
            for (k, mut val) in old {
                scrub(&mut val);
                o.insert(text_safe(&k).into_owned(), val);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_an_error_message() {
        assert_eq!(
            redact("postgres://shadow:s3cret@db.bank:5432/inv?sslmode=require"),
            "postgres://shadow:***@db.bank:5432/inv?sslmode=require"
        );
        assert_eq!(
            redact("postgresql://shadow@db/inv"),
            "postgresql://shadow@db/inv"
        );
        assert_eq!(
            redact("host=db user=u password=s3cret dbname=inv"),
            "host=db user=u password=*** dbname=inv"
        );
        assert_eq!(
            redact("postgres://db/inv?password=s3cret&user=u"),
            "postgres://db/inv?password=***&user=u"
        );
        let err = Pool::new("postgres://u:s3cret@db:notaport/x")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            !err.contains("s3cret") && err.contains("db:notaport"),
            "{err}"
        );
    }

    #[test]
    fn nul_in_names_and_records_is_stored_as_a_visible_symbol() {
        assert_eq!(text_safe("a\0b"), "a\u{2400}b");
        let json = serde_json::json!({"na\0me": ["x\0", "\\u0000 stays"]}).to_string();
        let safe = jsonb_safe(json.as_bytes()).expect("utf-8");
        let back: serde_json::Value = serde_json::from_str(&safe).expect("json");
        assert_eq!(
            back,
            serde_json::json!({"na\u{2400}me": ["x\u{2400}", "\\u0000 stays"]})
        );
    }
}
