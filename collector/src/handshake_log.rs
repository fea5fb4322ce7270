//! Refused TLS handshakes, said once: each failure is classified into a reason an operator can
//! act on, counted by reason in the metrics, and logged once per peer address and reason per
//! minute, so a misconfigured agent retrying every second yields one line a minute, not sixty.
//!
//! The table of what was logged is bounded ([`MAX_PEERS`]): entries older than the quiet
//! period are dropped when it fills, and a failure that finds it full of fresh entries is
//! counted but not logged. Wall time here is the rate limiter's clock, not data time.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Peers remembered at once.
pub const MAX_PEERS: usize = 4096;
/// One line per peer and reason this often at most.
pub const QUIET: Duration = Duration::from_secs(60);

/// Why a handshake failed: a fixed `label` (metrics) and the sentence to log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub label: &'static str,
    pub why: String,
}

/// Classify a failed `accept` (the io error carries the rustls error).
pub fn classify(e: &std::io::Error) -> Refusal {
    use rustls::CertificateError as C;
    let refusal = |label, why: String| Refusal { label, why };
    let Some(tls) = e.get_ref().and_then(|x| x.downcast_ref::<rustls::Error>()) else {
        return refusal(
            "other",
            format!("connection failed during the handshake: {e}"),
        );
    };
    match tls {
        rustls::Error::InvalidCertificate(C::UnknownIssuer | C::BadSignature) => refusal(
            "certificate_unknown_ca",
            "its client certificate is not signed by the agent CA (collector --ca): an agent of \
             another PKI?"
                .into(),
        ),
        rustls::Error::InvalidCertificate(C::Expired | C::ExpiredContext { .. }) => refusal(
            "certificate_expired",
            "its client certificate has expired (or a clock is wrong)".into(),
        ),
        rustls::Error::InvalidCertificate(c) => refusal(
            "certificate_invalid",
            format!("its client certificate is not acceptable: {c:?}"),
        ),
        rustls::Error::AlertReceived(a) => refusal(
            "client_refused_ours",
            format!(
                "the client refused the collector's certificate ({a:?}): is its --ca the CA that \
                 signed the collector's certificate?"
            ),
        ),
        rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => refusal(
            "not_tls",
            "it does not speak TLS (plain HTTP to the HTTPS port?)".into(),
        ),
        other => refusal("other", other.to_string()),
    }
}

/// The refusal of a handshake that did not finish in time.
pub fn timed_out(after: Duration) -> Refusal {
    Refusal {
        label: "timeout",
        why: format!("no TLS handshake within {} ms", after.as_millis()),
    }
}

/// What was logged lately, per peer address and reason.
#[derive(Debug, Default)]
pub struct HandshakeLog {
    logged: Mutex<HashMap<(IpAddr, &'static str), Instant>>,
}

impl HandshakeLog {
    /// Whether a failure of `peer` for `reason` at `now` should be logged (and if so, remember
    /// it). `false` when it was logged less than [`QUIET`] ago or the table is full.
    pub fn should_log(&self, peer: IpAddr, reason: &'static str, now: Instant) -> bool {
        let mut logged = self.logged.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(at) = logged.get(&(peer, reason)) {
            if now.saturating_duration_since(*at) < QUIET {
                return false;
            }
        } else if logged.len() >= MAX_PEERS {
            logged.retain(|_, at| now.saturating_duration_since(*at) < QUIET);
            if logged.len() >= MAX_PEERS {
                return false;
            }
        }
        logged.insert((peer, reason), now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn once_per_peer_and_reason_per_minute_in_a_bounded_table() {
        let log = HandshakeLog::default();
        let t0 = Instant::now();
        let a: IpAddr = [10, 0, 0, 1].into();
        assert!(log.should_log(a, "x", t0));
        assert!(!log.should_log(a, "x", t0 + Duration::from_secs(59)));
        assert!(log.should_log(a, "y", t0), "another reason is another line");
        assert!(log.should_log(a, "x", t0 + QUIET));
        // Full of fresh entries: counted by the caller, not logged, no growth.
        for i in 0..MAX_PEERS as u32 {
            log.should_log(IpAddr::from(i.to_be_bytes()), "z", t0);
        }
        let n = log.logged.lock().map(|m| m.len()).unwrap_or(0);
        assert!(n <= MAX_PEERS);
        assert!(!log.should_log([192, 168, 0, 1].into(), "z", t0));
        // A minute later the stale entries make room.
        assert!(log.should_log([192, 168, 0, 1].into(), "z", t0 + QUIET * 2));
    }

    #[test]
    fn plain_io_errors_are_other() {
        let e = std::io::Error::other("reset");
        assert_eq!(classify(&e).label, "other");
        let e = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        );
        assert_eq!(classify(&e).label, "certificate_unknown_ca");
    }
}
