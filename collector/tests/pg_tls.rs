//! TLS to PostgreSQL against a real PostgreSQL 15 that requires it (`hostssl` only, client
//! certificates checked): libpq's `sslmode`, `sslrootcert`, `sslcert` and `sslkey` in the store
//! URL, the server authenticated by its chain (and name, for verify-full), the collector by
//! its certificate, and clear errors for every way it can be wrong.

mod pg_support;

use analyzer::inventory::Inventory;
use analyzer::wire::{AckStatus, Batch};
use collector::pki::{init, PkiPlan};
use collector::store::pg::PgStore;
use collector::store::{Store, StoreLimits};
use pg_support::PgServer;
use std::collections::BTreeMap;
use std::path::Path;

fn pki(dir: &Path, user: &str) -> collector::pki::PkiFiles {
    init(
        dir,
        &PkiPlan {
            collector_names: vec!["127.0.0.1".into()],
            agents: vec![user.into()],
            days: 30,
        },
    )
    .expect("make a PKI")
}

fn open_err(url: &str) -> String {
    PgStore::open(url, StoreLimits::default())
        .err()
        .map(|e| e.to_string())
        .unwrap_or_else(|| format!("{url} opened"))
}

#[test]
fn the_store_speaks_tls_to_postgresql_and_refuses_what_it_cannot_verify() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The server's identity and the collector's client certificate (CN "shadowtap", the
    // database user) from one CA; a second CA the server does not chain to.
    let ours = pki(&dir.path().join("ours"), "shadowtap");
    let other = pki(&dir.path().join("other"), "shadowtap");
    let pg = PgServer::start();
    let plain_url = pg.database("inv");
    pg.enable_tls(
        &ours.collector_cert,
        &ours.collector_key,
        &ours.ca,
        &[
            "local all all trust",
            "hostssl all all 127.0.0.1/32 trust clientcert=verify-full",
            "host all all 127.0.0.1/32 reject",
        ],
    );
    let (_, client_cert, client_key) = &ours.agents[0];
    let tls = |mode: &str, host: &str, root: &Path| {
        format!(
            "postgres://shadowtap@{host}:{}/inv?sslmode={mode}&sslrootcert={}&sslcert={}&sslkey={}",
            pg.port,
            root.display(),
            client_cert.display(),
            client_key.display()
        )
    };

    // verify-full with the right CA and a client certificate: stored over TLS.
    let url = tls("verify-full", "127.0.0.1", &ours.ca);
    let store = PgStore::open(&url, StoreLimits::default()).expect("open over TLS");
    let batch = Batch::new("a1", 1, 0, &Inventory::default(), BTreeMap::new());
    assert_eq!(store.apply(&batch).expect("apply"), AckStatus::Accepted);
    assert_eq!(store.apply(&batch).expect("resend"), AckStatus::Duplicate);
    let sessions = pg.sql(
        "SELECT s.ssl, s.client_dn FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
         WHERE a.application_name = 'shadowtap collector'",
    );
    assert!(
        !sessions.trim().is_empty()
            && sessions
                .lines()
                .all(|l| l.starts_with("t|") && l.contains("CN=shadowtap")),
        "every collector session is TLS with its client certificate: {sessions:?}"
    );

    // The server requires TLS: a plain store URL is refused by the server, not downgraded.
    let err = open_err(&plain_url);
    assert!(err.contains("connect"), "{err}");
    // A root the server's chain does not lead to: refused, naming the URL.
    let err = open_err(&tls("verify-full", "127.0.0.1", &other.ca));
    assert!(
        err.contains("127.0.0.1") && err.contains("connect"),
        "{err}"
    );
    // The certificate is for 127.0.0.1, not "localhost": verify-full refuses the name,
    // verify-ca checks the chain only and connects.
    let err = open_err(&tls("verify-full", "localhost", &ours.ca));
    assert!(
        err.contains("localhost") && err.contains("connect"),
        "{err}"
    );
    PgStore::open(
        &tls("verify-ca", "localhost", &ours.ca),
        StoreLimits::default(),
    )
    .expect("verify-ca accepts another name on a good chain");
    // No client certificate: the server's clientcert=verify-full refuses.
    let err = open_err(&format!(
        "postgres://shadowtap@127.0.0.1:{}/inv?sslmode=verify-full&sslrootcert={}",
        pg.port,
        ours.ca.display()
    ));
    assert!(err.contains("connect"), "{err}");
    // A mode that would not authenticate the server, and a missing file: clear errors.
    let err = open_err(&format!("{plain_url}?sslmode=prefer"));
    assert!(
        err.contains("sslmode=prefer") && err.contains("verify-full"),
        "{err}"
    );
    let err = open_err(&tls(
        "verify-full",
        "127.0.0.1",
        &dir.path().join("nope.pem"),
    ));
    assert!(
        err.contains("sslrootcert") && err.contains("nope.pem"),
        "{err}"
    );
}
