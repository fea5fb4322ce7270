//! Guessing the API token or the dashboard login is throttled per address.
//!
//! Every answer of 401 (wrong or missing token, failed login) counts a failure against the
//! client's address; an address with [`MAX_FAILURES`] failures within [`WINDOW`] is answered
//! 429 for the rest of that window without its request being looked at. Wall time is right
//! here: this is a defence against live clients, not a fact about traffic.
//!
//! The table is bounded ([`MAX_ADDRESSES`]): expired entries are dropped when it is full, and
//! when every entry is live a new address is not tracked (and counted), which keeps memory flat
//! under a flood from many addresses; each of those still meets the 32-byte token.

use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failed authentications one address may make per window.
pub const MAX_FAILURES: u32 = 10;
pub const WINDOW: Duration = Duration::from_secs(60);
pub const MAX_ADDRESSES: usize = 10_000;

/// The client address of a request (inserted per connection by the server).
#[derive(Debug, Clone, Copy)]
pub struct RemoteAddr(pub IpAddr);

#[derive(Debug, Default)]
pub struct Throttle {
    table: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl Throttle {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, (Instant, u32)>> {
        // Counts only: a panic elsewhere cannot leave them inconsistent.
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether `addr` used up its failures in the current window (as of `now`).
    pub fn blocked(&self, addr: IpAddr, now: Instant) -> bool {
        self.lock()
            .get(&addr)
            .is_some_and(|(start, n)| now.duration_since(*start) < WINDOW && *n >= MAX_FAILURES)
    }

    /// Count one failure of `addr`; `false` when the table was full and it is not tracked.
    pub fn fail(&self, addr: IpAddr, now: Instant) -> bool {
        let mut table = self.lock();
        if !table.contains_key(&addr) && table.len() >= MAX_ADDRESSES {
            table.retain(|_, (start, _)| now.duration_since(*start) < WINDOW);
            if table.len() >= MAX_ADDRESSES {
                return false;
            }
        }
        let entry = table.entry(addr).or_insert((now, 0));
        if now.duration_since(entry.0) >= WINDOW {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(1);
        true
    }
}

/// Middleware: refuse throttled addresses, count 401 answers.
pub async fn guard(
    axum::extract::State(st): axum::extract::State<std::sync::Arc<crate::state::AppState>>,
    request: Request,
    next: Next,
) -> Response {
    // Unauthenticated routes have nothing to guess: a blocked address may still scrape.
    let open = matches!(request.uri().path(), "/metrics" | "/healthz");
    let addr = request
        .extensions()
        .get::<RemoteAddr>()
        .map(|a| a.0)
        .filter(|_| !open);
    if let Some(addr) = addr {
        if st.throttle.blocked(addr, Instant::now()) {
            st.metrics.auth_throttled.inc();
            let mut r = crate::state::refuse(
                StatusCode::TOO_MANY_REQUESTS,
                "too many failed authentications from this address; try again in a minute",
            )
            .into_response();
            r.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(WINDOW.as_secs()),
            );
            return r;
        }
    }
    let response = next.run(request).await;
    if let (Some(addr), StatusCode::UNAUTHORIZED) = (addr, response.status()) {
        if !st.throttle.fail(addr, Instant::now()) {
            st.metrics.auth_untracked.inc();
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_blocked_after_its_failures_until_the_window_ends() {
        let t = Throttle::default();
        let a: IpAddr = "10.0.0.7".parse().expect("ip");
        let b: IpAddr = "10.0.0.8".parse().expect("ip");
        let t0 = Instant::now();
        for _ in 0..MAX_FAILURES {
            assert!(!t.blocked(a, t0));
            t.fail(a, t0);
        }
        assert!(t.blocked(a, t0));
        assert!(!t.blocked(b, t0), "other addresses are not affected");
        assert!(!t.blocked(a, t0 + WINDOW), "the block ends with the window");
    }

    #[test]
    fn the_table_stays_bounded() {
        let t = Throttle::default();
        let t0 = Instant::now();
        for i in 0..MAX_ADDRESSES as u32 {
            assert!(t.fail(IpAddr::from(i.to_be_bytes()), t0));
        }
        assert!(
            !t.fail("192.0.2.1".parse().expect("ip"), t0),
            "full of live entries"
        );
        assert_eq!(t.lock().len(), MAX_ADDRESSES);
        // Once the window passed, expired entries make room.
        assert!(t.fail("192.0.2.1".parse().expect("ip"), t0 + WINDOW));
        assert_eq!(t.lock().len(), 1);
    }
}
