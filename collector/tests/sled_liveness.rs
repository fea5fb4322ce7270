//! The sled the store is built on never hangs under write load. sled 0.34.7 as published queued
//! file truncations on its shared IO pool behind writes that wait for the lock the truncation's
//! waiter holds, and every writer then hung for good; `vendor/sled` carries the fix
//! (vendor/sled/SHADOWTAP.md). Databases in one process share that pool, so many databases
//! writing and shrinking at once is a quick way to the hang: against the published sled, about
//! one run in ten of this test never ended (and one in five to fifteen of the store's unit tests).

use std::sync::mpsc;
use std::time::Duration;

const DATABASES: usize = 16;
const ROUNDS: usize = 100;
/// Far longer than a whole run takes on a loaded machine (16-33 s here): reaching it
/// means nothing is moving, not that the machine is slow.
const NO_PROGRESS_FOR: Duration = Duration::from_secs(300);

/// Fill a tree with 60 KB, empty it, flush: small segments free at the end of the log, so sled
/// truncates the file again and again.
fn churn(db: &sled::Db) -> sled::Result<()> {
    let tree = db.open_tree("t")?;
    for round in 0..ROUNDS {
        for key in 0..200u32 {
            tree.insert(key.to_be_bytes(), vec![round as u8; 300])?;
        }
        for key in 0..200u32 {
            tree.remove(key.to_be_bytes())?;
        }
        db.flush()?;
    }
    Ok(())
}

#[test]
fn many_databases_writing_and_shrinking_at_once_never_hang() {
    let dirs: Vec<_> = (0..DATABASES)
        .map(|_| tempfile::tempdir().expect("tempdir"))
        .collect();
    let (done, finished) = mpsc::channel();
    for dir in &dirs {
        let path = dir.path().to_path_buf();
        let done = done.clone();
        std::thread::spawn(move || {
            let db = sled::Config::new()
                .path(&path)
                .segment_size(4096)
                .open()
                .map_err(|e| format!("open {}: {e}", path.display()));
            let result = db.and_then(|db| churn(&db).map_err(|e| e.to_string()));
            // The receiver is gone only when the test already failed.
            let _ = done.send(result);
        });
    }
    drop(done);
    for n in 0..DATABASES {
        match finished.recv_timeout(NO_PROGRESS_FOR) {
            Ok(result) => result.expect("sled"),
            Err(_) => panic!(
                "{n} of {DATABASES} databases finished, then none for {NO_PROGRESS_FOR:?}: sled hung"
            ),
        }
    }
}
