//! HTTP/2 for a passive observer (RFC 9113, cleartext).

pub mod hpack;
