//! Running third-party code that may panic on hostile bytes, as an error instead.
//!
//! sled panics on some corruptions of its files ("index out of bounds", "tried to serialize
//! Uninitialized") instead of returning an error. The collector's store and the agent's spool
//! both open sled files that may be damaged; a damaged file must be an error that names it and
//! says what to do, not exit 101. Both use [`contained`]; it lives here because `analyzer` is
//! the one crate both depend on.

use std::cell::Cell;

thread_local! {
    /// Set while [`contained`] runs on this thread: its panics are expected and reported as
    /// errors, so the panic hook stays quiet for them.
    static QUIET: Cell<bool> = const { Cell::new(false) };
}

/// Run `f`, turning a panic into `Err(message)`, without the panic hook printing it.
///
/// The default hook would still print the message to stderr, so a hook that skips panics of a
/// contained region (per thread, so other threads' panics are still printed) is installed
/// once, chained to the hook that was there. This needs `panic = "unwind"` (the workspace
/// default).
pub fn contained<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.with(Cell::get) {
                previous(info);
            }
        }));
    });
    let was = QUIET.with(|q| q.replace(true));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    QUIET.with(|q| q.set(was));
    r.map_err(|payload| {
        payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "a panic without a message".into())
    })
}

/// Whether an I/O error from opening sled files means another process holds them: sled takes
/// an exclusive lock and reports a conflict as `Other("could not acquire lock on ..: Os { code:
/// 11, kind: WouldBlock .. }")`, which the store and the spool turn into "in use".
pub fn is_lock_conflict(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::WouldBlock || e.to_string().contains("could not acquire lock")
}

/// Open sled files, retrying a lock conflict for up to 2 s before returning it. A database
/// closed by this process a moment ago can still be locked: sled's background writer holds the
/// file until its last write ends. Only a lock still held after that is another process's.
/// `conflict` says whether an error is a lock conflict (see [`is_lock_conflict`]).
pub fn retry_lock_conflict<T, E>(
    mut open: impl FnMut() -> Result<T, E>,
    conflict: impl Fn(&E) -> bool,
) -> Result<T, E> {
    const TRIES: u32 = 40;
    let mut tries = 0;
    loop {
        match open() {
            Err(e) if conflict(&e) && tries + 1 < TRIES => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            r => return r,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::contained;

    #[test]
    fn a_lock_conflict_is_retried_and_other_errors_are_not() {
        let mut calls = 0;
        let r = super::retry_lock_conflict(
            || {
                calls += 1;
                if calls < 3 {
                    Err("locked")
                } else {
                    Ok(calls)
                }
            },
            |e| *e == "locked",
        );
        assert_eq!(r, Ok(3));
        let mut calls = 0;
        let r: Result<(), &str> = super::retry_lock_conflict(
            || {
                calls += 1;
                Err("corrupt")
            },
            |e| *e == "locked",
        );
        assert_eq!((r, calls), (Err("corrupt"), 1));
    }

    #[test]
    fn a_panic_becomes_its_message_and_nesting_restores_the_quiet_flag() {
        assert_eq!(contained(|| 7), Ok(7));
        assert_eq!(
            contained(|| -> u8 { panic!("index out of bounds") }),
            Err("index out of bounds".to_string())
        );
        let inner = contained(|| contained(|| -> u8 { panic!("{}", 42) }));
        assert_eq!(inner, Ok(Err("42".to_string())));
    }
}
