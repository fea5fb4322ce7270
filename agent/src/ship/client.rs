//! A small blocking HTTPS/1.1 client over rustls for talking to the collector: POST a batch,
//! GET the API. Plain threads, no async runtime: the agent ships from one sender thread.
//!
//! It is not a general HTTP client: one origin, `Content-Length` bodies (what the collector
//! sends), bounded response size, a timeout on every read and write, keep-alive with one
//! reconnect-and-retry when a reused connection turns out to be closed (safe: the collector
//! deduplicates batches by `(agent_id, epoch, seq)`).

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Largest response accepted (the report of a big inventory fits; a hostile server cannot
/// make us buffer without bound).
pub const MAX_RESPONSE_BYTES: usize = 256 << 20;
const MAX_HEAD_BYTES: usize = 64 << 10;

/// Bodies above this size are sent with `Expect: 100-continue`: a server that will refuse them
/// (too large) says so before the body is on the wire, instead of closing under our write (which
/// reads as "broken pipe", indistinguishable from an outage).
pub const EXPECT_CONTINUE_ABOVE: usize = 256 << 10;

/// How long to wait for `100 Continue` before sending the body anyway (RFC 9110 10.1.1: the
/// server may not support it).
const CONTINUE_WAIT: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("collector URL {url:?}: {why}")]
    Url { url: String, why: &'static str },
    #[error("reading PEM {what} from {path}: {message}")]
    Pem {
        what: &'static str,
        path: String,
        message: String,
    },
    #[error("TLS configuration: {0}")]
    Tls(String),
    #[error("connecting to {addr}: {source}")]
    Connect {
        addr: String,
        source: std::io::Error,
    },
    #[error("talking to {addr}: {source}")]
    Io {
        addr: String,
        source: std::io::Error,
    },
    #[error("bad response from {addr}: {why}")]
    Response { addr: String, why: String },
    /// The TLS handshake failed; `why` says what to fix, not what rustls saw.
    #[error("TLS handshake with {addr} failed: {why}")]
    Handshake { addr: String, why: String },
}

/// What a failed handshake means for whoever runs the client: the fix, in words. `ca` names
/// the `--ca` file, `own_cert` says whether a client certificate was presented.
pub fn explain_tls(e: &rustls::Error, host: &str, ca: &str, own_cert: bool) -> String {
    use rustls::{AlertDescription as A, CertificateError as C};
    match e {
        rustls::Error::InvalidCertificate(c) => match c {
            C::BadSignature | C::UnknownIssuer => format!(
                "the collector's certificate is not signed by {ca}: give --ca the CA that \
                 signed the collector's certificate (pki/ca.pem of the same `pki init`)"
            ),
            C::Expired | C::ExpiredContext { .. } => {
                "the collector's certificate has expired (or this machine's clock is wrong)"
                    .to_string()
            }
            C::NotValidYet | C::NotValidYetContext { .. } => {
                "the collector's certificate is not valid yet (is this machine's clock right?)"
                    .to_string()
            }
            C::NotValidForName | C::NotValidForNameContext { .. } => format!(
                "the collector's certificate is not issued for the host name {host:?}: use a \
                 name or address it was issued for in --collector"
            ),
            C::Revoked => "the collector's certificate is revoked".to_string(),
            other => format!("the collector's certificate is not acceptable: {other:?}"),
        },
        rustls::Error::AlertReceived(a) if own_cert => match a {
            A::CertificateExpired => {
                "the collector refused this agent's certificate: it has expired".to_string()
            }
            A::DecryptError
            | A::BadCertificate
            | A::UnknownCA
            | A::CertificateUnknown
            | A::AccessDenied
            | A::UnsupportedCertificate => format!(
                "the collector refused this agent's certificate: signed by another CA than the \
                 collector's agent CA? (collector says {a:?})"
            ),
            other => format!("the collector ended the handshake: {other:?}"),
        },
        rustls::Error::AlertReceived(a) => format!("the collector ended the handshake: {a:?}"),
        rustls::Error::NoCertificatesPresented => {
            "the collector presented no certificate".to_string()
        }
        rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => format!(
            "the peer does not speak TLS as a collector does (is {host} the collector's HTTPS port?)"
        ),
        other => other.to_string(),
    }
}

/// `https://HOST:PORT` (a trailing `/` is allowed; IPv6 as `[::1]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectorUrl {
    pub host: String,
    pub port: u16,
}

impl CollectorUrl {
    pub fn parse(url: &str) -> Result<CollectorUrl, ClientError> {
        let bad = |why| ClientError::Url {
            url: url.to_string(),
            why,
        };
        let rest = url
            .strip_prefix("https://")
            .ok_or_else(|| bad("must start with https://"))?;
        let rest = rest.trim_end_matches('/');
        if rest.contains('/') {
            return Err(bad("must not have a path"));
        }
        let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
            let (h, p) = v6
                .split_once("]:")
                .ok_or_else(|| bad("IPv6 needs [addr]:port"))?;
            (h.to_string(), p)
        } else {
            let (h, p) = rest.rsplit_once(':').ok_or_else(|| bad("needs a :PORT"))?;
            (h.to_string(), p)
        };
        if host.is_empty() {
            return Err(bad("empty host"));
        }
        let port = port
            .parse()
            .map_err(|_| bad("port is not a number 1-65535"))?;
        Ok(CollectorUrl { host, port })
    }

    fn addr(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

fn pem_err<'a>(
    what: &'static str,
    path: &'a Path,
) -> impl Fn(rustls_pki_types::pem::Error) -> ClientError + 'a {
    move |e| ClientError::Pem {
        what,
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

/// TLS client config trusting `ca`, presenting `cert`/`key` when given.
pub fn client_config(
    ca: &Path,
    identity: Option<(&Path, &Path)>,
) -> Result<Arc<ClientConfig>, ClientError> {
    let mut roots = RootCertStore::empty();
    let cas = CertificateDer::pem_file_iter(ca)
        .map_err(pem_err("CA certificates", ca))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(pem_err("CA certificates", ca))?;
    if cas.is_empty() {
        return Err(ClientError::Tls(format!(
            "no CA certificate in {}",
            ca.display()
        )));
    }
    for c in cas {
        roots
            .add(c)
            .map_err(|e| ClientError::Tls(format!("CA {}: {e}", ca.display())))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ClientError::Tls(e.to_string()))?
        .with_root_certificates(roots);
    let mut config = match identity {
        Some((cert, key)) => {
            let chain = CertificateDer::pem_file_iter(cert)
                .map_err(pem_err("certificate", cert))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(pem_err("certificate", cert))?;
            let key_der = PrivateKeyDer::from_pem_file(key).map_err(pem_err("private key", key))?;
            builder.with_client_auth_cert(chain, key_der).map_err(|e| {
                ClientError::Tls(format!("client certificate {}: {e}", cert.display()))
            })?
        }
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A response: status, headers and body.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    /// Header names lowercased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The first value of header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The `error` of an [`analyzer::wire::ErrorBody`], or the body as text.
    pub fn error_text(&self) -> String {
        serde_json::from_slice::<analyzer::wire::ErrorBody>(&self.body)
            .map(|e| e.error)
            .unwrap_or_else(|_| {
                String::from_utf8_lossy(&self.body)
                    .chars()
                    .take(500)
                    .collect()
            })
    }
}

type Conn = StreamOwned<ClientConnection, TcpStream>;

pub struct HttpsClient {
    url: CollectorUrl,
    config: Arc<ClientConfig>,
    timeout: Duration,
    conn: Option<Conn>,
    /// How handshake errors name the trusted CA (the `--ca` file).
    ca_name: String,
}

impl std::fmt::Debug for HttpsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpsClient")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl HttpsClient {
    pub fn new(url: CollectorUrl, config: Arc<ClientConfig>, timeout: Duration) -> HttpsClient {
        HttpsClient {
            url,
            config,
            timeout,
            conn: None,
            ca_name: "the CA given with --ca".to_string(),
        }
    }

    /// Name the trusted CA file in handshake errors.
    pub fn naming_ca(mut self, ca: &Path) -> HttpsClient {
        self.ca_name = format!("--ca {}", ca.display());
        self
    }

    /// An I/O error, or the handshake failure it carries, explained.
    fn io(&self, source: std::io::Error) -> ClientError {
        let tls = source
            .get_ref()
            .and_then(|e| e.downcast_ref::<rustls::Error>());
        match tls {
            Some(e) => ClientError::Handshake {
                addr: self.url.addr(),
                why: explain_tls(
                    e,
                    &self.url.host,
                    &self.ca_name,
                    self.config.client_auth_cert_resolver.has_certs(),
                ),
            },
            None => ClientError::Io {
                addr: self.url.addr(),
                source,
            },
        }
    }

    fn connect(&self) -> Result<Conn, ClientError> {
        let addr = self.url.addr();
        let cerr = |source| ClientError::Connect {
            addr: addr.clone(),
            source,
        };
        let sock = addr
            .to_socket_addrs()
            .map_err(cerr)?
            .next()
            .ok_or_else(|| cerr(std::io::Error::other("no address")))?;
        let tcp = TcpStream::connect_timeout(&sock, self.timeout).map_err(cerr)?;
        tcp.set_read_timeout(Some(self.timeout)).map_err(cerr)?;
        tcp.set_write_timeout(Some(self.timeout)).map_err(cerr)?;
        let _ = tcp.set_nodelay(true);
        let name = ServerName::try_from(self.url.host.clone())
            .map_err(|e| ClientError::Tls(format!("server name {:?}: {e}", self.url.host)))?;
        let conn = ClientConnection::new(Arc::clone(&self.config), name)
            .map_err(|e| ClientError::Tls(e.to_string()))?;
        Ok(StreamOwned::new(conn, tcp))
    }

    /// Send one request and read the whole response.
    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Response, ClientError> {
        let reused = self.conn.is_some();
        match self.try_request(method, path, headers, body) {
            Ok(r) => Ok(r),
            Err(e) if reused => {
                // A kept-alive connection the server closed: one fresh attempt.
                tracing::debug!("retrying on a new connection after: {e}");
                self.conn = None;
                self.try_request(method, path, headers, body)
            }
            Err(e) => Err(e),
        }
    }

    fn try_request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Response, ClientError> {
        let mut conn = match self.conn.take() {
            Some(c) => c,
            None => self.connect()?,
        };
        let expect = body.len() > EXPECT_CONTINUE_ABOVE;
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\n",
            self.url.addr(),
            body.len()
        );
        if expect {
            head.push_str("Expect: 100-continue\r\n");
        }
        for (k, v) in headers {
            head.push_str(k);
            head.push_str(": ");
            head.push_str(v);
            head.push_str("\r\n");
        }
        head.push_str("\r\n");
        let mut wire = head.into_bytes();
        let mut pending = Vec::new();
        if expect {
            conn.write_all(&wire).map_err(|e| self.io(e))?;
            conn.flush().map_err(|e| self.io(e))?;
            match self.await_continue(&mut conn)? {
                Continue::Go(rest) => pending = rest,
                // The server answered before the body: it is not on the wire, so this
                // connection cannot carry another request.
                Continue::Final(resp) => return Ok(resp),
            }
            wire.clear();
        }
        wire.extend_from_slice(body);
        conn.write_all(&wire).map_err(|e| self.io(e))?;
        conn.flush().map_err(|e| self.io(e))?;
        let (resp, keep) = self.read_response(&mut conn, pending)?;
        if keep {
            self.conn = Some(conn);
        }
        Ok(resp)
    }

    /// After a head with `Expect: 100-continue`: `Go` on `100 Continue` (with any bytes read
    /// past it) or when the server stays silent for [`CONTINUE_WAIT`]; `Final` when it answers
    /// at once.
    fn await_continue(&self, conn: &mut Conn) -> Result<Continue, ClientError> {
        let wait = CONTINUE_WAIT.min(self.timeout);
        conn.sock
            .set_read_timeout(Some(wait))
            .map_err(|e| self.io(e))?;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let outcome = loop {
            match conn.read(&mut chunk) {
                Ok(0) => break Err(self.io(std::io::ErrorKind::UnexpectedEof.into())),
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    break Ok(Continue::Go(buf));
                }
                Err(e) => break Err(self.io(e)),
            }
            let mut hdrs = [httparse::EMPTY_HEADER; 32];
            let mut resp = httparse::Response::new(&mut hdrs);
            match resp.parse(&buf) {
                Ok(httparse::Status::Complete(off)) if resp.code == Some(100) => {
                    break Ok(Continue::Go(buf.split_off(off)));
                }
                Ok(httparse::Status::Complete(_)) => {
                    break self
                        .read_response(conn, std::mem::take(&mut buf))
                        .map(|(r, _)| Continue::Final(r));
                }
                Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD_BYTES => {}
                Ok(httparse::Status::Partial) => {
                    break Err(ClientError::Response {
                        addr: self.url.addr(),
                        why: format!("response head over {MAX_HEAD_BYTES} bytes"),
                    })
                }
                Err(e) => {
                    break Err(ClientError::Response {
                        addr: self.url.addr(),
                        why: format!("response head: {e}"),
                    })
                }
            }
        };
        conn.sock
            .set_read_timeout(Some(self.timeout))
            .map_err(|e| self.io(e))?;
        outcome
    }

    /// Read one response; `buf` holds bytes of it already read.
    fn read_response(
        &self,
        conn: &mut Conn,
        mut buf: Vec<u8>,
    ) -> Result<(Response, bool), ClientError> {
        let bad = |why: String| ClientError::Response {
            addr: self.url.addr(),
            why,
        };
        let mut chunk = [0u8; 16 << 10];
        let (status, headers, body_start, len, keep) = loop {
            if buf.is_empty() || !self.head_complete(&buf) {
                let n = conn.read(&mut chunk).map_err(|e| self.io(e))?;
                if n == 0 {
                    return Err(bad("connection closed before a response".into()));
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            let mut hdrs = [httparse::EMPTY_HEADER; 32];
            let mut resp = httparse::Response::new(&mut hdrs);
            match resp.parse(&buf) {
                Ok(httparse::Status::Complete(off)) => {
                    let status = resp.code.unwrap_or(0);
                    let mut len = None;
                    let mut keep = true;
                    let headers = resp
                        .headers
                        .iter()
                        .map(|h| {
                            (
                                h.name.to_ascii_lowercase(),
                                String::from_utf8_lossy(h.value).into_owned(),
                            )
                        })
                        .collect();
                    for h in resp.headers.iter() {
                        if h.name.eq_ignore_ascii_case("content-length") {
                            len = std::str::from_utf8(h.value)
                                .ok()
                                .and_then(|v| v.trim().parse::<usize>().ok());
                        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                            return Err(bad("chunked responses are not supported".into()));
                        } else if h.name.eq_ignore_ascii_case("connection")
                            && h.value.eq_ignore_ascii_case(b"close")
                        {
                            keep = false;
                        }
                    }
                    break (status, headers, off, len, keep);
                }
                Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD_BYTES => {}
                Ok(httparse::Status::Partial) => {
                    return Err(bad(format!("response head over {MAX_HEAD_BYTES} bytes")))
                }
                Err(e) => return Err(bad(format!("response head: {e}"))),
            }
        };
        let mut body = buf.split_off(body_start);
        match len {
            Some(len) if len > MAX_RESPONSE_BYTES => Err(bad(format!(
                "response body of {len} bytes is over {MAX_RESPONSE_BYTES}"
            ))),
            Some(len) => {
                while body.len() < len {
                    let n = conn.read(&mut chunk).map_err(|e| self.io(e))?;
                    if n == 0 {
                        return Err(bad(format!("body ended at {} of {len} bytes", body.len())));
                    }
                    body.extend_from_slice(&chunk[..n]);
                }
                body.truncate(len);
                Ok((
                    Response {
                        status,
                        headers,
                        body,
                    },
                    keep,
                ))
            }
            None => {
                // No length: the body runs to the end of the connection.
                loop {
                    let n = match conn.read(&mut chunk) {
                        Ok(n) => n,
                        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => 0,
                        Err(e) => return Err(self.io(e)),
                    };
                    if n == 0 {
                        break;
                    }
                    if body.len() + n > MAX_RESPONSE_BYTES {
                        return Err(bad(format!(
                            "response body over {MAX_RESPONSE_BYTES} bytes"
                        )));
                    }
                    body.extend_from_slice(&chunk[..n]);
                }
                Ok((
                    Response {
                        status,
                        headers,
                        body,
                    },
                    false,
                ))
            }
        }
    }
}

/// What the server said to `Expect: 100-continue`.
enum Continue {
    /// Send the body; the bytes already read past the interim response.
    Go(Vec<u8>),
    /// The final response, before any body was sent.
    Final(Response),
}

impl HttpsClient {
    /// Whether `buf` holds a whole response head.
    fn head_complete(&self, buf: &[u8]) -> bool {
        let mut hdrs = [httparse::EMPTY_HEADER; 32];
        matches!(
            httparse::Response::new(&mut hdrs).parse(buf),
            Ok(httparse::Status::Complete(_)) | Err(_)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_or_say_why_not() {
        assert_eq!(
            CollectorUrl::parse("https://collector.bank:7443/").expect("ok"),
            CollectorUrl {
                host: "collector.bank".into(),
                port: 7443
            }
        );
        assert_eq!(
            CollectorUrl::parse("https://[::1]:9").expect("ok").host,
            "::1"
        );
        for (bad, why) in [
            ("http://x:1", "https://"),
            ("https://x", ":PORT"),
            ("https://x:99999", "port"),
            ("https://x:1/api", "path"),
        ] {
            let e = CollectorUrl::parse(bad).expect_err(bad).to_string();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }
}
