#!/usr/bin/env bash
# Sustained MQTT ingest, durable: Debian Mosquitto on a loopback port, a
# release `kwh-btc-iot serve --mqtt-url ...` (SQLite, synchronous=FULL, group
# commit, auto flush every 10,000 logs), and benches/mqtt/publisher (rumqttc,
# QoS 1, distinct compact readings from several connections).
#
#   bash benches/mqtt/run.sh [MESSAGES] [CLIENTS]      # defaults: 200000 8
#
# For each scenario it prints the wall-clock rate until the last reading was
# durable (acknowledged, or counted in the gateway's /metrics), and the CPU
# time the gateway, the broker and the publisher spent per message (the
# machine may be shared, so CPU per message is the steadier figure). Results
# go to stdout and benches/mqtt/last-run.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
MESSAGES=${1:-200000}
CLIENTS=${2:-8}
MOSQUITTO=${MOSQUITTO:-$(command -v mosquitto || echo /usr/sbin/mosquitto)}
[ -x "$MOSQUITTO" ] || { echo "mosquitto is not installed (apt-get install mosquitto)" >&2; exit 1; }

if [ -z "${SKIP_BUILD:-}" ]; then
  cargo build -q --release -p kwh-btc-iot
  CARGO_TARGET_DIR="$ROOT/target" cargo build -q --release --manifest-path benches/mqtt/publisher/Cargo.toml
fi
BIN="$ROOT/target/release/kwh-btc-iot"
PUB="$ROOT/target/release/mqtt-publisher"

WORK=$(mktemp -d /tmp/kwh-mqtt-bench.XXXXXX)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
MQTT_PORT=$(free_port)
HTTP_PORT=$(free_port)
# The broker settings docs/mqtt.md recommends for the gateway.
cat >"$WORK/mosquitto.conf" <<EOF
$( [ "$(id -u)" = 0 ] && echo "user root" )
per_listener_settings false
persistence true
persistence_location $WORK/
autosave_interval 60
max_inflight_messages 1000
max_queued_messages 1000000
max_packet_size 1048576
log_dest file $WORK/mosquitto.log
listener $MQTT_PORT 127.0.0.1
allow_anonymous true
EOF
"$MOSQUITTO" -c "$WORK/mosquitto.conf" >/dev/null 2>&1 &
BROKER_PID=$!
GW_PID=
cleanup() {
  [ -n "$GW_PID" ] && kill "$GW_PID" 2>/dev/null && wait "$GW_PID" 2>/dev/null || true
  kill "$BROKER_PID" 2>/dev/null || true
  wait "$BROKER_PID" 2>/dev/null || true
  [ -n "${KEEP_WORK:-}" ] && echo "kept $WORK" >&2 || rm -rf "$WORK"
}
trap cleanup EXIT
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$MQTT_PORT") 2>/dev/null && break; sleep 0.05; done

start_gateway() { # extra serve options...
  KWH_BTC_IOT_LOG=info "$BIN" serve --ots-calendars none --data-dir "$WORK/data" --listen "127.0.0.1:$HTTP_PORT" \
    --mqtt-url "mqtt://127.0.0.1:$MQTT_PORT" --mqtt-client-id bench-gateway "$@" >"$WORK/serve.out" 2>>"$WORK/serve.log" &
  GW_PID=$!
  for _ in $(seq 200); do grep -q "MQTT subscribed\|session_present=true" "$WORK/serve.log" 2>/dev/null && return; sleep 0.05; done
  echo "the gateway did not subscribe:" >&2; cat "$WORK/serve.log" >&2; exit 1
}
stop_gateway() { kill "$GW_PID"; wait "$GW_PID" || true; GW_PID=; }
cpu() { awk '{printf "%.2f", ($14+$15)/100}' "/proc/$1/stat"; }

START=0
ROWS=()
run() { # name, publisher options...
  local name=$1; shift
  local g0 m0 g1 m1 out pubcpu
  g0=$(cpu "$GW_PID"); m0=$(cpu "$BROKER_PID")
  out=$( { /usr/bin/time -f "PUBCPU %U %S" "$PUB" --port "$MQTT_PORT" --clients "$CLIENTS" --messages "$MESSAGES" --start "$START" "$@"; } 2>"$WORK/pub.err" ) \
    || { cat "$WORK/pub.err" >&2; exit 1; }
  g1=$(cpu "$GW_PID"); m1=$(cpu "$BROKER_PID")
  pubcpu=$(awk '/^PUBCPU/ {print $2+$3}' "$WORK/pub.err")
  START=$((START + MESSAGES))
  echo "$name: $out" >&2
  ROWS+=("$(python3 - "$name" "$out" "$g0" "$g1" "$m0" "$m1" "$pubcpu" <<'PY'
import json, sys
name, out, g0, g1, m0, m1, p = sys.argv[1], json.loads(sys.argv[2]), *map(float, sys.argv[3:])
n = out["messages"]
us = lambda s: f"{s * 1e6 / n:.0f}"
print(f"| {name} | {n} | {out['clients']} | {out['publish_per_s']:,.0f} | **{out['durable_per_s']:,.0f}** | {us(g1-g0)} | {us(m1-m0)} | {us(p)} | {out['errors']} |")
PY
)")
}

LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
start_gateway
"$PUB" --port "$MQTT_PORT" --clients "$CLIENTS" --messages 20000 --start 900000000 >/dev/null  # warm-up
run "compact; each device reads its acks (QoS 1)"
run "full emlog; each device reads its acks (QoS 1)" --form full
run "compact; one subscriber reads all acks (QoS 1)" --ack-listener
run "compact; nobody reads acks, durable count from /metrics" --metrics "127.0.0.1:$HTTP_PORT"
stop_gateway
start_gateway --mqtt-ack-qos 0
run "compact; each device reads its acks (--mqtt-ack-qos 0)"
stop_gateway

STORED=$(python3 -c "import sqlite3,sys; c=sqlite3.connect('file:$WORK/data/kwh-btc-iot.sqlite3?mode=ro', uri=True); print(c.execute('select count(*), count(distinct leaf_hash) from logs').fetchone())")
{
  echo "Run $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(nproc) CPUs, load average at start: $LOAD; $(mosquitto -h 2>/dev/null | head -1 || true)"
  echo
  echo "Command: \`bash benches/mqtt/run.sh $MESSAGES $CLIENTS\`"
  echo
  echo "| scenario | messages | publishers | published/s | durable/s | gateway CPU µs/msg | broker CPU µs/msg | publisher CPU µs/msg | errors |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
  printf '%s\n' "${ROWS[@]}"
  echo
  echo "Stored (rows, distinct leaf hashes), including the 20,000 warm-up readings: $STORED"
} | tee "$ROOT/benches/mqtt/last-run.md"
