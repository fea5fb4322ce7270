#!/usr/bin/env bash
# SIGKILL soak of the fleet path (not in CI: it runs for minutes). Each round starts a fresh
# collector and an agent replaying a capture (default: the bundled demo), SIGKILLs the collector
# at 1-3 random moments while the agent ships (restarting it on the same store), and in every
# other round SIGKILLs the agent at a random moment after it has read the whole capture (while
# it is still sending), then drains the agent's spool with an empty capture. The round passes
# when the collector's report equals `scan` of the capture: endpoints, findings and the traffic
# summary, so nothing acknowledged was lost and nothing was counted twice.
#
# Usage: scripts/soak.sh [ROUNDS] [CAPTURE]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-100}"
capture="${2:-fixtures/demo/openbanking.pcap}"
catalog=fixtures/demo/catalog
bin=target/release/shadowtap
cargo build --release --quiet --bin shadowtap
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
export SHADOWTAP_SITE_SECRET=soak-site-secret
export SHADOWTAP_API_TOKEN=soak-token-0123456789abcdef0123456789abcdef
"$bin" pki init "$work/pki" --agent soak-1 --collector-name 127.0.0.1 --collector-name localhost >/dev/null
"$bin" scan "$capture" --catalog "$catalog" --format json --learn all >"$work/scan.json" || [ $? -eq 3 ]
# An empty capture (header only) to drain a spool without reading anything new.
head -c 24 "$capture" >"$work/empty.pcap"
cat >"$work/agent.toml" <<EOF
[agent]
retry_min_ms = 20
retry_max_ms = 200
drain_timeout_ms = 120000
timeout_ms = 5000
window_secs = 1
EOF

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port)

start_collector() { # $1 store dir
    "$bin" collector --listen "127.0.0.1:$port" --data "$1" --catalog "$catalog" \
        --cert "$work/pki/collector.pem" --key "$work/pki/collector.key" --ca "$work/pki/ca.pem" \
        >/dev/null 2>>"$work/collector.log" &
    collector=$!
    for _ in $(seq 200); do
        curl -sk "https://127.0.0.1:$port/healthz" >/dev/null 2>&1 && return 0
        sleep 0.05
    done
    echo "collector did not come up" >&2
    return 1
}
agent() { # $1 capture, $2 spool; `exec`: run in the background, $! is the agent itself
    exec "$bin" agent 2> >(tee -a "$work/agent-$round.log" >>"$work/agent.log") --read "$1" --collector "https://127.0.0.1:$port" --learn all \
        --config "$work/agent.toml" --catalog "$catalog" \
        --cert "$work/pki/agents/soak-1.pem" --key "$work/pki/agents/soak-1.key" \
        --ca "$work/pki/ca.pem" --spool "$2"
}
compare() { # report.json scan.json
    python3 - "$1" "$2" <<'EOF'
import json, sys
r, s = (json.load(open(p)) for p in sys.argv[1:3])
bad = [k for k in ("endpoints", "findings") if r[k] != s[k]]
bad += [k for k in ("packets", "bytes", "tcp_flows", "http_exchanges") if r["summary"][k] != s["summary"][k]]
if bad:
    print("differs from scan:", ", ".join(bad)); sys.exit(1)
EOF
}

passed=0
collector_kills=0
agent_kills=0
for round in $(seq "$rounds"); do
    store="$work/store-$round"
    spool="$work/spool-$round"
    start_collector "$store"
    (agent "$capture" "$spool") &
    agent_pid=$!
    # Collector kills at random moments while the agent ships.
    for _ in $(seq $((RANDOM % 3 + 1))); do
        sleep "0.$((RANDOM % 9 + 1))"
        kill -9 "$collector" 2>/dev/null && collector_kills=$((collector_kills + 1))
        wait "$collector" 2>/dev/null || true
        start_collector "$store"
    done
    if [ $((round % 2)) -eq 0 ] && kill -0 "$agent_pid" 2>/dev/null; then
        # Kill the agent while it sends, once every window is spooled (its "all windows
        # spooled" line): a kill while reading loses the unread rest, which no design can
        # recover.
        # Half the time the collector is down meanwhile, so the kill finds batches unsent.
        collector_down=no
        if [ $((RANDOM % 2)) -eq 0 ] && kill -9 "$collector" 2>/dev/null; then
            collector_kills=$((collector_kills + 1))
            wait "$collector" 2>/dev/null || true
            collector_down=yes
        fi
        read_all=no
        for _ in $(seq 3000); do
            if grep -q "all windows spooled" "$work/agent-$round.log" 2>/dev/null; then
                read_all=yes
                break
            fi
            kill -0 "$agent_pid" 2>/dev/null || break
            sleep 0.02
        done
        sleep "0.0$((RANDOM % 10))"
        if [ "$read_all" = yes ] && kill -9 "$agent_pid" 2>/dev/null; then
            agent_kills=$((agent_kills + 1))
        fi
        wait "$agent_pid" 2>/dev/null || true
        if [ "$collector_down" = yes ]; then
            start_collector "$store"
        fi
        (agent "$work/empty.pcap" "$spool") || true
    else
        wait "$agent_pid" || { echo "round $round: agent failed" >&2; tail -5 "$work/agent.log" >&2; exit 1; }
    fi
    "$bin" report --collector "https://127.0.0.1:$port" --ca "$work/pki/ca.pem" --format json \
        >"$work/report.json"
    if compare "$work/report.json" "$work/scan.json"; then
        passed=$((passed + 1))
    else
        echo "round $round: FAILED (see $work)" >&2
        trap - EXIT
        kill -9 "$collector" 2>/dev/null || true
        exit 1
    fi
    kill -9 "$collector" 2>/dev/null || true
    wait "$collector" 2>/dev/null || true
    rm -rf "$store" "$spool"
    echo "round $round ok (collector kills so far $collector_kills, agent kills $agent_kills)"
done
echo "soak: $passed/$rounds rounds equal to scan; $collector_kills collector and $agent_kills agent SIGKILLs"
