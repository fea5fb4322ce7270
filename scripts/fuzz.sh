#!/usr/bin/env bash
# Coverage-guided fuzzing of every hostile entry point (cargo-fuzz, libFuzzer, nightly): runs
# each target of fuzz/ for SECONDS (default 600) at low priority, one after the other, starting
# from the kept corpus fuzz/corpus/<target>/ and the regressions fuzz/regressions/<target>/.
# New corpus entries go to fuzz/corpus-work/<target>/ (gitignored); crashes to
# fuzz/artifacts/<target>/. Prints each target's final libFuzzer line (runs, cov, ft).
#
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]
# Needs: rustup toolchain nightly, `cargo +nightly install cargo-fuzz`.
# A crash: `cargo +nightly fuzz tmin <target> <artifact>`, fix, then copy the minimised input
# into fuzz/regressions/<target>/ (tests/fuzz_regressions.rs replays it on stable).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds="${1:-600}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(decode reassembly http body tls catalogue wire xml graphql)
fi
# cargo-fuzz builds into fuzz/target; an inherited CARGO_TARGET_DIR would be shared with
# non-instrumented builds. `cargo fuzz run` builds the target first.
unset CARGO_TARGET_DIR
status=0
for t in "${targets[@]}"; do
    mkdir -p "corpus-work/$t" "regressions/$t"
    log="artifacts/$t.log"
    mkdir -p artifacts
    echo "== $t: ${seconds}s"
    if ! nice -n 19 cargo +nightly fuzz run "$t" "corpus-work/$t" "corpus/$t" "regressions/$t" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -max_len=65536 \
        -print_final_stats=1 >"$log" 2>&1; then
        echo "   CRASH (see $log and artifacts/$t/)"
        status=1
    fi
    grep -E '^#[0-9]+.*(DONE|cov:)' "$log" | tail -1 || true
    grep -E 'stat::number_of_executed_units' "$log" || true
done
exit $status
