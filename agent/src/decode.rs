//! Link, network and transport decoding of one frame (pure, zero-copy, tolerant of truncation).
//!
//! INTERFACE (owned by the capture work; bodies to be written there).
