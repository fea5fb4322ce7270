#!/usr/bin/env bash
# The demo: scan the bundled open-banking capture against its catalogue.
# Extra arguments go to `shadowtap scan` (e.g. --format json).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-deps.sh
cargo build --release --quiet --bin shadowtap
status=0
target/release/shadowtap scan fixtures/demo/openbanking.pcap --catalog fixtures/demo/catalog "$@" || status=$?
# Exit status 3 means "findings at or above --fail-on": expected for the demo.
if [ "$status" -ne 0 ] && [ "$status" -ne 3 ]; then exit "$status"; fi
