#!/usr/bin/env bash
# Capture-only throughput of the AF_PACKET source (agent/src/source/afpacket) on a veth pair.
#
# Builds the demo generator and the `afpacket_rate` example, writes a demo capture, creates a
# network namespace holding one end of a veth pair, and replays the capture into it with
# tcpreplay at increasing rates (then --topspeed) while 1, then 2, AfPacketSource workers in one
# PACKET_FANOUT group capture on the other end. For each worker count it reports the highest
# replay rate with zero loss: no kernel ring drops and no frame missing against tcpreplay's
# count of packets sent.
#
# By default this measures capture alone (frames counted, header bytes touched, no decoding).
# With --pipeline every worker runs the agent's whole live path on its ring (decode, flows and
# reassembly, HTTP, count and learn paths with sampled learning; only shipping is left out),
# and a step counts as zero-loss only if, besides no drops, every HTTP exchange of the
# generator's truth (times the loops replayed) was counted. On a veth pair the kernel's receive work
# (delivery into the rings) runs on the sender's CPU, so tcpreplay and the capture share the
# machine's cores: the figures are a floor for the capture path on this machine, not a NIC
# line rate.
#
# Usage: scripts/live-bench.sh [--scale N] [--unit mbps|pps] [--steps "R1 R2 ..."]
#                              [--secs S] [--top-loops L] [--workers "1 2"] [--pipeline]
# Needs root (namespaces, veth, AF_PACKET). Environment: AFPACKET_RATE_BIN / DEMOGEN_BIN use
# prebuilt binaries instead of building them.
set -euo pipefail
cd "$(dirname "$0")/.."

scale=10
unit=mbps
steps=""
secs=4
top_loops=20
worker_counts="1 2"
pipeline=""
while [ $# -gt 0 ]; do
    case "$1" in
        --scale) scale="$2"; shift 2 ;;
        --unit) unit="$2"; shift 2 ;;
        --steps) steps="$2"; shift 2 ;;
        --secs) secs="$2"; shift 2 ;;
        --top-loops) top_loops="$2"; shift 2 ;;
        --workers) worker_counts="$2"; shift 2 ;;
        --pipeline) pipeline="--pipeline"; shift ;;
        -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
        *) echo "live-bench: unknown argument $1" >&2; exit 2 ;;
    esac
done
case "$unit" in
    mbps) steps="${steps:-250 500 1000 2000 4000 8000}" ;;
    pps) steps="${steps:-50000 100000 200000 400000 800000 1600000}" ;;
    *) echo "live-bench: --unit must be mbps or pps" >&2; exit 2 ;;
esac

if [ "$(id -u)" -ne 0 ]; then
    echo "live-bench: needs root (network namespaces, veth pairs, AF_PACKET sockets)" >&2
    exit 1
fi
scripts/ensure-deps.sh
if ! command -v tcpreplay >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1; then
        echo "live-bench: installing tcpreplay" >&2
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tcpreplay >/dev/null
    else
        echo "live-bench: tcpreplay is missing (Debian package tcpreplay)" >&2
        exit 1
    fi
fi

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
if [ -z "${DEMOGEN_BIN:-}" ]; then
    cargo build --release --quiet -p demogen
    DEMOGEN_BIN="$CARGO_TARGET_DIR/release/demogen"
fi
if [ -z "${AFPACKET_RATE_BIN:-}" ]; then
    cargo build --release --quiet -p agent --example afpacket_rate
    AFPACKET_RATE_BIN="$CARGO_TARGET_DIR/release/examples/afpacket_rate"
fi

mkdir -p bench-data
capture="bench-data/live-bench-x${scale}.pcap"
truth_file="bench-data/live-bench-x${scale}.expected.json"
if [ ! -s "$capture" ] || [ ! -s "$truth_file" ]; then
    "$DEMOGEN_BIN" --out "$capture" --scale "$scale" --expected "$truth_file" >/dev/null
fi
truth=$(python3 -c "import json,sys;print(json.load(open(sys.argv[1]))['http_exchanges'])" "$truth_file")
capture_bytes=$(stat -c %s "$capture")
capture_packets=$(python3 - "$capture" <<'PY'
import struct, sys
f = open(sys.argv[1], 'rb'); f.read(24); n = 0
while True:
    h = f.read(16)
    if len(h) < 16: break
    f.seek(struct.unpack('<IIII', h)[2], 1); n += 1
print(n)
PY
)

tag=$$
ns="stlb-$tag"
tap="stlba$tag"
peer="stlbb$tag"
work=$(mktemp -d)
cap_pid=""
cleanup() {
    if [ -n "$cap_pid" ]; then kill "$cap_pid" 2>/dev/null || true; fi
    ip link del "$tap" 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

ip netns add "$ns"
ip link add "$tap" type veth peer name "$peer"
ip link set "$peer" netns "$ns"
# No addresses and no IPv6: the only frames on the link are the replayed ones.
echo 1 > "/proc/sys/net/ipv6/conf/$tap/disable_ipv6"
ip netns exec "$ns" sh -c "echo 1 > /proc/sys/net/ipv6/conf/$peer/disable_ipv6"
ip -n "$ns" link set "$peer" up
ip link set "$tap" up

kv() { # kv KEY FILE: the value of KEY=VALUE in FILE
    tr ' ' '\n' < "$2" | sed -n "s/^$1=//p" | head -n1
}

echo "capture: $capture ($(python3 -c "print(round($capture_bytes/1e6,1))") MB, $capture_packets packets), ~$secs s per rate step, $(nproc) CPUs"
if [ -n "$pipeline" ]; then
    echo "veth pair $tap <- $ns/$peer; full pipeline per worker ($truth HTTP exchanges per loop)"
else
    echo "veth pair $tap <- $ns/$peer; capture only (no decode/flow/HTTP)"
fi
printf '%-8s %-10s %12s %12s %10s %12s %10s %8s %10s %9s %-14s %s\n' \
    workers target "sent" captured missing kernel_drop freeze_q "Mbps" "pps" "cap_cpu_s" per_worker exchanges
summary=""
for workers in $worker_counts; do
    best="none"
    any_fail=""
    for rate in $steps topspeed; do
        if [ "$rate" = topspeed ]; then
            loops=$top_loops
            speed=(--topspeed)
        elif [ "$unit" = mbps ]; then
            loops=$(python3 -c "import math;print(max(1, math.ceil($rate*1e6/8*$secs/$capture_bytes)))")
            speed=(--mbps="$rate")
        else
            loops=$(python3 -c "import math;print(max(1, math.ceil($rate*$secs/$capture_packets)))")
            speed=(--pps="$rate")
        fi
        rm -f "$work/ready"
        "$AFPACKET_RATE_BIN" --interface "$tap" --workers "$workers" --idle-exit-ms 1500 $pipeline \
            --max-secs 600 --ready-file "$work/ready" > "$work/cap.out" 2> "$work/cap.err" &
        cap_pid=$!
        for _ in $(seq 1 500); do
            [ -e "$work/ready" ] && break
            if ! kill -0 "$cap_pid" 2>/dev/null; then break; fi
            sleep 0.01
        done
        if [ ! -e "$work/ready" ]; then
            echo "live-bench: capture did not start:" >&2; cat "$work/cap.err" >&2; exit 1
        fi
        ip netns exec "$ns" tcpreplay -i "$peer" "${speed[@]}" --loop="$loops" -K "$capture" \
            > "$work/replay.out" 2>&1 || { cat "$work/replay.out" >&2; exit 1; }
        wait "$cap_pid" || { cat "$work/cap.err" >&2; exit 1; }
        cap_pid=""
        sent=$(sed -n 's/.*Successful packets:[[:space:]]*\([0-9]*\).*/\1/p' "$work/replay.out" | head -n1)
        rated=$(sed -n 's/.*Rated:.*, \([0-9.]*\) Mbps, \([0-9.]*\) pps.*/\1 \2/p' "$work/replay.out" | head -n1)
        mbps=${rated% *}
        pps=${rated#* }
        frames=$(kv frames "$work/cap.out")
        drops=$(kv kernel_drops "$work/cap.out")
        freeze=$(kv freeze_q "$work/cap.out")
        split=$(kv per_worker "$work/cap.out")
        cpu=$(kv cpu_secs "$work/cap.out")
        missing=$((sent - frames))
        exchanges_ok=yes
        exchanges="-"
        if [ -n "$pipeline" ]; then
            counted=$(kv exchanges "$work/cap.out")
            exchanges="$counted/$((truth * loops))"
            [ "$counted" -eq $((truth * loops)) ] || exchanges_ok=""
        fi
        printf '%-8s %-10s %12s %12s %10s %12s %10s %8s %10s %9s %-14s %s\n' \
            "$workers" "$rate" "$sent" "$frames" "$missing" "$drops" "$freeze" "$mbps" "$pps" "$cpu" "$split" "$exchanges"
        if [ "$missing" -eq 0 ] && [ "$drops" -eq 0 ] && [ -n "$exchanges_ok" ]; then
            best="$rate (achieved ${mbps} Mbps, ${pps} pps)"
        else
            any_fail="yes"
        fi
    done
    note=""
    [ -n "$any_fail" ] && note=", loss seen at some step"
    summary="${summary}workers=$workers: highest zero-loss replay rate: $best$note"$'\n'
done
echo
printf '%s' "$summary"
