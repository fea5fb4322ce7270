//! Several collector URLs and which one the sender uses.
//!
//! Policy: the sender stays on the collector that works. When a send to it fails in a way
//! another collector may not (connect, TLS, I/O, 5xx or any other retried answer), the next
//! URL is tried at once; only after every URL failed in a row does the sender back off. It does
//! not move back to the first URL when that one recovers: collectors that share one store
//! are equivalent, and staying put avoids flapping between a flaky collector and a healthy
//! one. Meanwhile batches stay in the spool, as with one collector, and a batch sent twice
//! (once to each) is a no-op the second time: the store deduplicates by `(agent_id, epoch,
//! seq)`.

use super::client::{ClientError, CollectorUrl};

/// Most collector URLs one agent takes (a cap like every list of the agent).
pub const MAX_COLLECTORS: usize = 16;

/// Parse `--collector` values: each may be a comma-separated list of `https://HOST:PORT`.
/// Order is kept (the first is tried first); repeats are dropped.
pub fn parse_collectors<S: AsRef<str>>(values: &[S]) -> Result<Vec<CollectorUrl>, ClientError> {
    let mut urls: Vec<CollectorUrl> = Vec::new();
    for part in values
        .iter()
        .flat_map(|v| v.as_ref().split(','))
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        let url = CollectorUrl::parse(part)?;
        if urls.contains(&url) {
            continue;
        }
        if urls.len() == MAX_COLLECTORS {
            return Err(ClientError::Url {
                url: part.to_string(),
                why: "more than 16 collector URLs",
            });
        }
        urls.push(url);
    }
    if urls.is_empty() {
        return Err(ClientError::Url {
            url: String::new(),
            why: "no collector URL given",
        });
    }
    Ok(urls)
}

/// Which of `n` collectors to use, and whether a failed send should back off.
#[derive(Debug, Clone)]
pub struct Rotation {
    n: usize,
    current: usize,
    /// Failed sends in a row since the last success.
    failed_in_row: usize,
}

impl Rotation {
    pub fn new(n: usize) -> Rotation {
        Rotation {
            n: n.max(1),
            current: 0,
            failed_in_row: 0,
        }
    }

    /// The collector to send to.
    pub fn current(&self) -> usize {
        self.current
    }

    /// A send was acknowledged: stay on this collector.
    pub fn succeeded(&mut self) {
        self.failed_in_row = 0;
    }

    /// A send failed: move to the next collector. True when every collector has failed in a
    /// row since the last success (time to back off before trying again), false when the next
    /// one should be tried at once.
    pub fn failed(&mut self) -> bool {
        self.failed_in_row += 1;
        self.current = (self.current + 1) % self.n;
        if self.failed_in_row >= self.n {
            self.failed_in_row = 0;
            return true;
        }
        false
    }

    /// Whether more than one collector is configured (a failure moves to another).
    pub fn several(&self) -> bool {
        self.n > 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_flags_and_comma_lists_give_one_ordered_list() {
        let urls = parse_collectors(&["https://a:1, https://b:2", "https://a:1", "https://c:3/"])
            .expect("valid");
        let hosts: Vec<_> = urls.iter().map(|u| u.host.as_str()).collect();
        assert_eq!(hosts, ["a", "b", "c"]);
        let e = parse_collectors(&["https://a:1,http://b:2"]).expect_err("http");
        assert!(e.to_string().contains("http://b:2"), "{e}");
        assert!(parse_collectors(&[" , "]).is_err());
        let many: Vec<String> = (1..=17).map(|p| format!("https://h:{p}")).collect();
        assert!(parse_collectors(&many).is_err());
    }

    #[test]
    fn failures_move_on_and_back_off_only_after_a_full_round() {
        let mut r = Rotation::new(3);
        assert_eq!(r.current(), 0);
        assert!(!r.failed());
        assert_eq!(r.current(), 1);
        r.succeeded();
        // Sticky: stays on the one that works.
        assert_eq!(r.current(), 1);
        assert!(!r.failed());
        assert!(!r.failed());
        assert!(r.failed(), "all three failed in a row");
        // A full round ends where it started: the next try after the back-off goes there.
        assert_eq!(r.current(), 1);
        let mut one = Rotation::new(1);
        assert!(one.failed(), "one collector: every failure backs off");
        assert_eq!(one.current(), 0);
    }
}
