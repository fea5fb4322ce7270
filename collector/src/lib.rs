//! shadowtap's collector side: catalogue files, the mTLS batch ingest server with its sled
//! store, findings and the JSON API, metrics, and the first-deployment PKI.
//!
//! Depends on `analyzer` only (never on `agent`): the batch format is `analyzer::wire`.

pub mod admission;
pub mod catalogue_files;
pub mod catalogue_stamp;
pub mod config;
pub mod handshake_log;
pub mod kafka;
pub mod metrics;
pub mod pki;
pub mod report_api;
pub mod review;
pub mod review_api;
pub mod reviewing;
pub mod server;
pub mod sessions;
pub mod state;
pub mod store;
pub mod throttle;
pub mod tls;
pub mod ui;
