#!/usr/bin/env bash
# End-to-end line-rate benchmark of `shadowtap scan` (not a test: figures, not pass/fail).
#
# Generates a realistic capture with the project's generator (default scale 100: ~540 MB,
# ~190,000 exchanges with JSON bodies, gzip+chunked responses and sensitive fields), measures
# the floor (a bare libpcap read loop and shadowtap's own file reader over the same file),
# then `scan` with 1 worker and with N workers (default: the number of cores), and prints
# MB/s, Gbit/s, exchanges/s, the ratio to the floor, peak RSS, and the exchanges found against
# the generator's truth. Each configuration runs RUNS times (default 3), interleaved, and the
# best time is kept: on a shared virtual machine single runs vary by 20% or more.
#
# Usage: scripts/bench.sh [SCALE] [WORKERS] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-deps.sh
scale="${1:-100}"
workers="${2:-$(nproc)}"
repeat="${3:-3}"
mkdir -p bench-data
capture="bench-data/openbanking-x${scale}.pcap"
truth="bench-data/openbanking-x${scale}.expected.json"
cargo build --release --quiet --bin shadowtap -p shadowtap
cargo build --release --quiet -p demogen
cargo build --release --quiet -p agent --example read_floor
if [ ! -s "$capture" ] || [ ! -s "$truth" ]; then
    target/release/demogen --out "$capture" --scale "$scale" --expected "$truth" >/dev/null
fi
size=$(stat -c %s "$capture")
# Warm the page cache so every run reads from memory alike.
cat "$capture" >/dev/null

floor=$(target/release/examples/read_floor "$capture")
run_scan() {
    local w="$1"
    /usr/bin/env time -f "%e %M" -o bench-data/time.txt \
        target/release/shadowtap scan "$capture" --catalog fixtures/demo/catalog --format json \
        --no-progress --workers "$w" --out "bench-data/report-w$w.json" || [ $? -eq 3 ]
    echo "$w $(cat bench-data/time.txt)"
}
runs=""
for _ in $(seq "$repeat"); do
    runs="$runs$(run_scan 1)
$(run_scan "$workers")
"
done
python3 - "$size" "$truth" "$floor" "$runs" <<'PY'
import json, sys
size = int(sys.argv[1])
truth = json.load(open(sys.argv[2]))["http_exchanges"]
floors = {}
for line in sys.argv[3].splitlines():
    name, frames, nbytes, secs = line.split()
    floors[name] = float(secs)
mb = size / 1e6
print(f"capture {mb:.1f} MB, {truth} exchanges (generator truth)")
for name, secs in floors.items():
    print(f"floor   {name:9} read loop: {mb/secs:8.0f} MB/s  {mb*8/1000/secs:6.2f} Gbit/s")
best = min(floors.values())
# Best time and highest peak RSS per worker count, in the order first run.
best_runs = {}
for line in sys.argv[4].splitlines():
    if not line.strip():
        continue
    w, secs, rss = line.split()
    t, r = best_runs.get(w, (float("inf"), 0))
    best_runs[w] = (min(t, float(secs)), max(r, int(rss)))
w1 = None
for w, (secs, rss) in best_runs.items():
    report = json.load(open(f"bench-data/report-w{w}.json"))
    found = report["summary"]["http_exchanges"]
    ok = "all found" if found == truth else f"MISMATCH (truth {truth})"
    print(f"scan --workers {w}: {secs:6.2f} s  {mb/secs:8.0f} MB/s  {mb*8/1000/secs:6.2f} Gbit/s  "
          f"{found/secs:9.0f} exchanges/s  {secs/best:5.1f}x the floor's time  "
          f"peak RSS {rss/1024:.0f} MiB  {found} exchanges, {ok}")
    if w1 is None:
        w1 = secs
    else:
        print(f"speed-up, {w} workers vs 1: {w1/secs:.2f}x")
PY
