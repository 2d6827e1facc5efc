#!/usr/bin/env bash
# "Anchoring never slows ingest" (issue 9), measured: single-log POST ingest
# (wrk + benches/gateway/post_log.lua, distinct logs, durable) against the
# release gateway with anchoring off (`--ots-calendars none`) and on (the
# stand-in calendar mining a block every 500 ms, the stand-in Bitcoin Core
# node mining every second, node mode every 2 s, a batch flushed every second
# so the worker always has heads to submit, upgrade and verify), alternating
# off/on ROUNDS times in the same run.
# Usage: benches/anchoring/ingest.sh [DURATION (default 15s)] [ROUNDS (default 2)]
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
DUR=${1:-15s}
ROUNDS=${2:-2}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
cargo build --release -q -p kwh-btc-iot
cargo build --release -q -p kwh-btc-iot-gateway --example standin_calendar --example standin_bitcoind
BIN=$TARGET/release/kwh-btc-iot
work=$(mktemp -d /tmp/kwh-anchor-bench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_up() { for _ in $(seq 300); do curl -sf "$1" >/dev/null && return 0; sleep 0.1; done; echo "not up: $1" >&2; exit 1; }

"$TARGET/release/examples/standin_calendar" --listen 127.0.0.1:0 --port-file "$work/cal.port" --auto-mine-ms 500 > "$work/cal.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [ -s "$work/cal.port" ] && break; sleep 0.1; done
CAL=http://127.0.0.1:$(cat "$work/cal.port")
NODE_PORT=$(free_port)
"$TARGET/release/examples/standin_bitcoind" --port "$NODE_PORT" --mine-every-s 1 > "$work/node.log" 2>&1 &
pids+=($!)
sleep 0.5

echo "# anchoring and ingest, $(date -u +%FT%TZ); $(nproc) cores, load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "wrk -t2 -c64 -d$DUR -s benches/gateway/post_log.lua, SQLite, a batch flushed every second"
echo
echo "| round | anchoring | req/s | p99 | batches | anchored (OTS) | anchored (node) |"
echo "|---|---|---|---|---|---|---|"
for r in $(seq 1 "$ROUNDS"); do
  for mode in off on; do
    PORT=$(free_port)
    args=(--listen "127.0.0.1:$PORT" --data-dir "$work/data-$r-$mode" --flush-count 0 --flush-age-s 1)
    if [ "$mode" = on ]; then
      args+=(--anchor-network regtest --ots-calendars "$CAL" --header-source "$CAL"
        --ots-upgrade-interval-s 1 --ots-upgrade-max-interval-s 1
        --bitcoind-url "http://127.0.0.1:$NODE_PORT" --bitcoind-user rpcuser --bitcoind-password rpc-secret-pw
        --bitcoind-wallet anchors --bitcoind-anchor-interval-s 2)
    else
      args+=(--ots-calendars none)
    fi
    "$BIN" serve "${args[@]}" > "$work/gw-$r-$mode.log" 2>&1 &
    gw=$!
    wait_up "http://127.0.0.1:$PORT/ready"
    out=$(wrk -t2 -c64 -d"$DUR" --latency -s benches/gateway/post_log.lua "http://127.0.0.1:$PORT")
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    p99=$(echo "$out" | awk '$1=="99%" {print $2}')
    sleep 2
    m=$(curl -s "http://127.0.0.1:$PORT/metrics")
    batches=$(echo "$m" | awk '$1=="kwh_btc_iot_batches_total" {print $2}')
    ots=$(echo "$m" | awk -F'[ ]' '/^kwh_btc_iot_anchors\{/ && /kind="opentimestamps"/ && /status="anchored"/ {print $2}')
    btc=$(echo "$m" | awk -F'[ ]' '/^kwh_btc_iot_anchors\{/ && /kind="bitcoin"/ && /status="anchored"/ {print $2}')
    echo "| $r | $mode | $rps | $p99 | ${batches:-0} | ${ots:--} | ${btc:--} |"
    kill "$gw"; wait "$gw" 2>/dev/null || true
  done
done
