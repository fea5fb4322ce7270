//! Dashboard sessions: a random 256-bit id per signed-in reviewer, kept in memory, capped
//! (oldest evicted and counted) and expiring. A restart signs everyone out; review state is in
//! the store and survives. (The cookie and the request extractor are in [`crate::ui::session`].)

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A signed-in reviewer.
#[derive(Debug, Clone)]
pub struct Session {
    /// The name given at login (cleaned, capped), recorded on review actions.
    pub user: String,
    /// Per-session CSRF token, required on every POST.
    pub csrf: String,
    created: Instant,
}

/// In-memory sessions: capped, expiring, random ids.
pub struct Sessions {
    inner: Mutex<HashMap<String, Session>>,
    max: usize,
    ttl: Duration,
}

/// 256 random bits as hex, from the OS generator.
fn random_token() -> Option<String> {
    use ring::rand::SecureRandom;
    let mut b = [0u8; 32];
    ring::rand::SystemRandom::new().fill(&mut b).ok()?;
    Some(analyzer::hex::encode(&b))
}

impl Sessions {
    pub fn new(max: usize, ttl: Duration) -> Self {
        Sessions {
            inner: Mutex::new(HashMap::new()),
            max: max.max(1),
            ttl,
        }
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        // The map holds no invariant a panicking holder could break half-way.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new session for `user`: `(id, session, evicted_one)`; `None` if randomness failed.
    pub fn create(&self, user: &str) -> Option<(String, Session, bool)> {
        let id = random_token()?;
        let csrf = random_token()?;
        let mut m = self.map();
        let ttl = self.ttl;
        m.retain(|_, s| s.created.elapsed() < ttl);
        let mut evicted = false;
        while m.len() >= self.max {
            let Some(oldest) = m
                .iter()
                .min_by_key(|(_, s)| s.created)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            m.remove(&oldest);
            evicted = true;
        }
        let s = Session {
            user: user.to_string(),
            csrf,
            created: Instant::now(),
        };
        m.insert(id.clone(), s.clone());
        Some((id, s, evicted))
    }

    /// The live session with this id (an expired one is removed).
    pub fn get(&self, id: &str) -> Option<Session> {
        let mut m = self.map();
        match m.get(id) {
            Some(s) if s.created.elapsed() < self.ttl => Some(s.clone()),
            Some(_) => {
                m.remove(id);
                None
            }
            None => None,
        }
    }

    pub fn remove(&self, id: &str) {
        self.map().remove(id);
    }

    pub fn len(&self) -> usize {
        self.map().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_are_capped_expire_and_have_random_ids() {
        let s = Sessions::new(2, Duration::from_secs(3600));
        let (a, _, e1) = s.create("a").expect("a");
        let (b, _, e2) = s.create("b").expect("b");
        assert!(!e1 && !e2);
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        let (c, sc, e3) = s.create("c").expect("c");
        assert!(e3, "the oldest is evicted at the cap");
        assert_eq!(s.len(), 2);
        assert!(s.get(&a).is_none() && s.get(&b).is_some());
        assert_eq!(s.get(&c).expect("c").csrf, sc.csrf);
        let short = Sessions::new(2, Duration::ZERO);
        let (d, _, _) = short.create("d").expect("d");
        assert!(short.get(&d).is_none(), "expired");
    }
}
