//! TLS to PostgreSQL, configured as libpq is: `sslmode`, `sslrootcert`, `sslcert` and `sslkey`
//! in the store URL (`postgres://...?sslmode=verify-full&sslrootcert=/etc/shadowtap/pg-ca.pem`)
//! or in a key=value connection string. The client library (rust-postgres) knows only
//! disable/prefer/require and none of the files, so these settings are taken out of the URL
//! here and turned into a rustls configuration; what is left goes to rust-postgres.
//!
//! Only modes that authenticate the server when they encrypt are offered: `prefer` and `allow`
//! fall back to plaintext without saying so, and `require` without a root certificate accepts
//! any server, so both are refused with the fix rather than silently weakened.

use crate::tls::{load_certs, load_key, provider};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use std::path::PathBuf;
use std::sync::Arc;

/// How the collector talks to PostgreSQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    /// No TLS (no `sslmode`, or `sslmode=disable`).
    Plain,
    /// TLS; the server's chain must lead to `sslrootcert` (any host name): `verify-ca`, or
    /// `require` with `sslrootcert` (as libpq treats it).
    VerifyCa,
    /// TLS; chain and host name (the URL's host, a DNS name or an IP address) checked.
    VerifyFull,
}

/// The TLS settings of a store URL, and the URL without them.
#[derive(Debug)]
pub(super) struct Settings {
    pub mode: Mode,
    pub root_cert: Option<PathBuf>,
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    /// The URL or connection string as rust-postgres should see it.
    pub rest: String,
}

/// Take the libpq TLS settings out of `url`. Errors say which setting and what to do.
pub(super) fn settings(url: &str) -> Result<Settings, String> {
    let mut mode = None;
    let mut s = Settings {
        mode: Mode::Plain,
        root_cert: None,
        client_cert: None,
        client_key: None,
        rest: String::new(),
    };
    let mut take = |key: &str, value: String| -> Result<bool, String> {
        match key {
            "sslmode" => mode = Some(value),
            "sslrootcert" => s.root_cert = Some(PathBuf::from(value)),
            "sslcert" => s.client_cert = Some(PathBuf::from(value)),
            "sslkey" => s.client_key = Some(PathBuf::from(value)),
            _ => return Ok(false),
        }
        Ok(true)
    };
    let rest = if url.contains("://") {
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            if !take(k, percent_decode(v)?)? {
                kept.push(pair);
            }
        }
        if kept.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{}", kept.join("&"))
        }
    } else {
        let mut kept = Vec::new();
        for word in url.split_whitespace() {
            let (k, v) = word.split_once('=').unwrap_or((word, ""));
            let k = k.trim();
            if matches!(k, "sslmode" | "sslrootcert" | "sslcert" | "sslkey") && v.starts_with('\'')
            {
                return Err(format!(
                    "{k}: quoted values are not read here; give the path without quotes or use \
                     the postgres:// URL form"
                ));
            }
            if !take(k, v.to_string())? {
                kept.push(word);
            }
        }
        kept.join(" ")
    };
    s.rest = rest;
    s.mode = match mode.as_deref() {
        None | Some("disable") => Mode::Plain,
        Some("verify-full") => Mode::VerifyFull,
        Some("verify-ca") => Mode::VerifyCa,
        Some("require") if s.root_cert.is_some() => Mode::VerifyCa,
        Some("require") => {
            return Err(
                "sslmode=require without sslrootcert would accept any server: give \
                        sslrootcert=FILE (the CA that signed PostgreSQL's certificate), or use \
                        sslmode=verify-full"
                    .into(),
            )
        }
        Some(m @ ("prefer" | "allow")) => {
            return Err(format!(
                "sslmode={m} falls back to plaintext without saying so and is not offered: use \
                 sslmode=verify-full with sslrootcert=FILE, or sslmode=disable on a trusted \
                 network"
            ))
        }
        Some(other) => {
            return Err(format!(
                "sslmode={other:?} is not a mode: use disable, require, verify-ca or verify-full"
            ))
        }
    };
    if s.mode != Mode::Plain && s.root_cert.is_none() {
        return Err(format!(
            "sslmode={} needs sslrootcert=FILE: the CA that signed PostgreSQL's certificate",
            mode.unwrap_or_default()
        ));
    }
    if s.mode == Mode::Plain && (s.root_cert.is_some() || s.client_cert.is_some()) {
        return Err("sslrootcert/sslcert are given but TLS is off: add sslmode=verify-full".into());
    }
    if s.client_cert.is_some() != s.client_key.is_some() {
        return Err(
            "sslcert and sslkey go together: give both (the client certificate and its \
                    key) or neither"
                .into(),
        );
    }
    Ok(s)
}

fn percent_decode(v: &str) -> Result<String, String> {
    let bytes = v.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("bad percent-encoding in {v:?}"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("{v:?} is not UTF-8 once decoded"))
}

/// The rustls configuration for `s` (not [`Mode::Plain`]); errors name the file.
pub(super) fn client_config(s: &Settings) -> Result<ClientConfig, String> {
    let root = s.root_cert.as_deref().ok_or("sslrootcert is required")?;
    let mut roots = RootCertStore::empty();
    for cert in load_certs(root).map_err(|e| format!("sslrootcert: {e}"))? {
        roots
            .add(cert)
            .map_err(|e| format!("sslrootcert {}: {e}", root.display()))?;
    }
    let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
        .build()
        .map_err(|e| format!("sslrootcert {}: {e}", root.display()))?;
    let verifier: Arc<dyn ServerCertVerifier> = match s.mode {
        Mode::VerifyCa => Arc::new(AnyName(webpki)),
        _ => webpki,
    };
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    match (&s.client_cert, &s.client_key) {
        (Some(cert), Some(key)) => {
            let chain = load_certs(cert).map_err(|e| format!("sslcert: {e}"))?;
            let key = load_key(key).map_err(|e| format!("sslkey: {e}"))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| format!("sslcert/sslkey: {e}"))
        }
        _ => Ok(builder.with_no_client_auth()),
    }
}

/// `verify-ca`: the chain must lead to the root, whatever name the certificate carries.
#[derive(Debug)]
struct AnyName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_settings_leave_the_url_and_modes_map_as_libpq_does() {
        let s = settings(
            "postgres://u:p@db:5432/inv?application_name=x&sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem",
        )
        .expect("settings");
        assert_eq!(s.mode, Mode::VerifyFull);
        assert_eq!(
            s.root_cert.as_deref(),
            Some(std::path::Path::new("/etc/ca.pem"))
        );
        assert_eq!(s.rest, "postgres://u:p@db:5432/inv?application_name=x");
        let s = settings("postgres://db/inv?sslmode=require&sslrootcert=/ca.pem").expect("require");
        assert_eq!(s.mode, Mode::VerifyCa);
        assert_eq!(s.rest, "postgres://db/inv");
        let s = settings(
            "host=db dbname=inv sslmode=verify-ca sslrootcert=/ca.pem sslcert=/c.pem sslkey=/c.key",
        )
        .expect("key=value");
        assert_eq!(s.mode, Mode::VerifyCa);
        assert_eq!(s.rest, "host=db dbname=inv");
        assert!(s.client_cert.is_some() && s.client_key.is_some());
        let s = settings("postgres://db/inv").expect("plain");
        assert_eq!(s.mode, Mode::Plain);
        assert_eq!(s.rest, "postgres://db/inv");
    }

    #[test]
    fn modes_that_would_not_authenticate_the_server_are_refused_with_the_fix() {
        let err = |u: &str| settings(u).err().unwrap_or_default();
        assert!(err("postgres://db/x?sslmode=prefer").contains("verify-full"));
        assert!(err("postgres://db/x?sslmode=allow").contains("plaintext"));
        assert!(err("postgres://db/x?sslmode=require").contains("sslrootcert"));
        assert!(err("postgres://db/x?sslmode=verify-full").contains("sslrootcert"));
        assert!(err("postgres://db/x?sslmode=bogus").contains("not a mode"));
        assert!(err("postgres://db/x?sslrootcert=/ca.pem").contains("TLS is off"));
        assert!(
            err("postgres://db/x?sslmode=verify-full&sslrootcert=/a&sslcert=/c")
                .contains("go together")
        );
        assert!(err("postgres://db/x?sslmode=verify-full&sslrootcert=%zz").contains("percent"));
    }
}
