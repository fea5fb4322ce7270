#!/usr/bin/env bash
# End-to-end latency of the fleet, from a request on the wire to the collector's API (what the
# dashboard reads), with the real binaries on loopback: PostgreSQL 15 as the store, an agent
# capturing live on `lo` (libpcap, BPF on the probe server's port), and the batches going
#   (1) direct: agent --mTLS--> collector --> PostgreSQL
#   (2) Kafka:  agent --> Tansu topic --> collector consumer group --> PostgreSQL
# For each probe it sends one HTTP request with a Host nobody used before, then polls
# GET /v1/inventory every 50 ms until that host is there; it prints every latency, the median
# and the maximum per path. The agent ships a window after --idle-flush-ms of quiet, so the
# figure is that flush delay plus shipping, merging and reading.
#
# Usage: sudo scripts/fleet-latency.sh [--probes N] [--idle-flush-ms MS]
# Needs root (live capture), PostgreSQL 15 (apt-get install postgresql), curl, python3 and
# pip (Tansu comes from scripts/fetch-tansu.sh). SHADOWTAP_BIN uses a prebuilt binary.
set -euo pipefail
cd "$(dirname "$0")/.."

probes=10
idle_ms=200
while [ $# -gt 0 ]; do
    case "$1" in
        --probes) probes="$2"; shift 2 ;;
        --idle-flush-ms) idle_ms="$2"; shift 2 ;;
        *) echo "unknown option $1 (see the header of $0)" >&2; exit 2 ;;
    esac
done
[ "$(id -u)" = 0 ] || { echo "fleet-latency.sh captures live on lo: run it as root" >&2; exit 2; }
pgbin=${SHADOWTAP_PG_BIN:-/usr/lib/postgresql/15/bin}
[ -x "$pgbin/initdb" ] || { echo "no PostgreSQL 15 in $pgbin: apt-get install -y postgresql" >&2; exit 2; }
command -v curl >/dev/null || { echo "needs curl: apt-get install -y curl" >&2; exit 2; }

bin=${SHADOWTAP_BIN:-}
if [ -z "$bin" ]; then
    cargo build --release --quiet --bin shadowtap
    bin=target/release/shadowtap
fi
tansu=$(scripts/fetch-tansu.sh)

work=$(mktemp -d /tmp/shadowtap-latency.XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    runuser -u postgres -- "$pgbin/pg_ctl" -D "$work/pg" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }

# PostgreSQL in $work/pg, owned by postgres (it refuses to run as root).
chown postgres "$work"
pg_port=$(free_port)
runuser -u postgres -- "$pgbin/initdb" -D "$work/pg" -A trust -U shadowtap --no-sync >/dev/null
runuser -u postgres -- "$pgbin/pg_ctl" -D "$work/pg" -l "$work/pg.log" -w \
    -o "-p $pg_port -k $work -c listen_addresses=127.0.0.1" start >/dev/null
for db in direct kafka; do
    runuser -u postgres -- "$pgbin/createdb" -h 127.0.0.1 -p "$pg_port" -U shadowtap "$db"
done

"$bin" pki init "$work/pki" --agent lat-direct --agent lat-kafka >/dev/null
export SHADOWTAP_API_TOKEN=latency-bench-token SHADOWTAP_SITE_SECRET=latency-bench-secret

http_port=$(free_port)
mkdir -p "$work/www"
python3 -m http.server "$http_port" --bind 127.0.0.1 --directory "$work/www" >/dev/null 2>&1 &
pids+=($!)

tls=(--cert "$work/pki/collector.pem" --key "$work/pki/collector.key" --ca "$work/pki/ca.pem")
start_collector() { # name port extra-args...
    local name=$1 port=$2
    shift 2
    "$bin" collector --listen "127.0.0.1:$port" --store "postgres://shadowtap@127.0.0.1:$pg_port/$name" \
        --catalog fixtures/demo/catalog "${tls[@]}" "$@" >"$work/collector-$name.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 600); do
        grep -q "listening on" "$work/collector-$name.log" && return 0
        sleep 0.1
    done
    echo "collector $name did not start: $(cat "$work/collector-$name.log")" >&2
    exit 1
}
start_agent() { # id extra-args...
    local id=$1
    shift
    "$bin" agent --interface lo --bpf "tcp port $http_port" --window-secs 1 --idle-flush-ms "$idle_ms" \
        --workers 1 --cert "$work/pki/agents/$id.pem" --key "$work/pki/agents/$id.key" \
        --ca "$work/pki/ca.pem" --spool "$work/spool-$id" "$@" >"$work/agent-$id.log" 2>&1 &
    pids+=($!)
    sleep 2 # the capture handle opens before the first probe
}
probe() { # label collector-port -> one latency per line
    local label=$1 port=$2 i host t0 t1
    for i in $(seq "$probes"); do
        host="p$i-$label.latency.test"
        t0=$(now)
        curl -s -o /dev/null -H "Host: $host" "http://127.0.0.1:$http_port/latency/probe"
        for _ in $(seq 600); do
            if curl -s --cacert "$work/pki/ca.pem" -H "Authorization: Bearer $SHADOWTAP_API_TOKEN" \
                "https://127.0.0.1:$port/v1/inventory" | grep -q "$host"; then
                break
            fi
            sleep 0.05
        done
        t1=$(now)
        python3 -c "print(f'{($t1 - $t0) * 1000:.0f}')"
        sleep 0.5
    done
}
summary() { # label, latencies on stdin
    python3 -c '
import sys, statistics
ms = [float(x) for x in sys.stdin.read().split()]
print(f"{sys.argv[1]}: {len(ms)} probes, median {statistics.median(ms):.0f} ms, max {max(ms):.0f} ms; all: {[int(m) for m in ms]}")
' "$1"
}

direct_port=$(free_port)
start_collector direct "$direct_port"
start_agent lat-direct --collector "https://127.0.0.1:$direct_port"
probe direct "$direct_port" | summary "direct (agent -> collector -> PostgreSQL)"

kafka_port=$(free_port)
"$tansu" broker --listener-url "tcp://127.0.0.1:$kafka_port" \
    --advertised-listener-url "tcp://127.0.0.1:$kafka_port" --storage-engine memory://tansu/ \
    >"$work/tansu.log" 2>&1 &
pids+=($!)
for _ in $(seq 300); do (exec 3<>"/dev/tcp/127.0.0.1/$kafka_port") 2>/dev/null && break; sleep 0.1; done
"$tansu" topic create --broker "tcp://127.0.0.1:$kafka_port" --partitions 4 shadowtap-batches >/dev/null
consumer_port=$(free_port)
start_collector kafka "$consumer_port" --kafka-brokers "127.0.0.1:$kafka_port" \
    --kafka-topic shadowtap-batches --kafka-group latency
start_agent lat-kafka --kafka-brokers "127.0.0.1:$kafka_port" --kafka-topic shadowtap-batches
probe kafka "$consumer_port" | summary "Kafka (agent -> topic -> collector group -> PostgreSQL)"
