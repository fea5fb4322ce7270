//! HTTP/1.x over reassembled TCP streams: probe, parse, pair requests with responses.
//!
//! INTERFACE (owned by the HTTP work; bodies to be written there).
