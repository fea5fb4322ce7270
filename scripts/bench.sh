#!/usr/bin/env bash
# End-to-end scan throughput on a large capture (default: demo traffic at scale 60, ~250 MB).
# Prints MB/s, exchanges/s and peak memory. Usage: scripts/bench.sh [SCALE]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-deps.sh
scale="${1:-60}"
mkdir -p bench-data
capture="bench-data/openbanking-x${scale}.pcap"
cargo build --release --quiet --bin shadowtap -p shadowtap
cargo build --release --quiet -p demogen
if [ ! -s "$capture" ]; then
    target/release/demogen --out "$capture" --scale "$scale"
fi
size=$(stat -c %s "$capture")
start=$(date +%s.%N)
/usr/bin/env time -f "%M" -o bench-data/maxrss.txt \
    target/release/shadowtap scan "$capture" --catalog fixtures/demo/catalog --format json --no-progress \
    --out bench-data/report.json || [ $? -eq 3 ]
end=$(date +%s.%N)
exchanges=$(python3 -c 'import json;print(json.load(open("bench-data/report.json"))["summary"]["http_exchanges"])')
python3 - "$size" "$start" "$end" "$exchanges" "$(cat bench-data/maxrss.txt)" <<'PY'
import sys
size, start, end, ex, rss = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
t = end - start
print(f"capture {size/1e6:.1f} MB, {ex} exchanges, {t:.2f} s: {size/1e6/t:.1f} MB/s, {ex/t:.0f} exchanges/s, peak RSS {rss/1024:.0f} MiB")
PY
