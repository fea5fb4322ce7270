//! For tests that build network namespaces: whether we are root, and running a command.
#![allow(dead_code)]

use std::process::Command;

/// Namespaces, veth pairs and raw sockets need root; such tests say so and skip without it.
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// Run `args[0]` with the rest as arguments; whether it succeeded.
pub fn sh(args: &[&str]) -> bool {
    Command::new(args[0])
        .args(&args[1..])
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}
