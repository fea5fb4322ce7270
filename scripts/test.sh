#!/usr/bin/env bash
# Every test of the workspace (unit, transcript, oracle, corpus, end-to-end).
# The corpus tests read ../shared/corpus when it is there and say so when they skip.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-deps.sh --tests
cargo test --workspace --release "$@"
