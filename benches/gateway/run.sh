#!/usr/bin/env bash
# The gateway benchmarks of issue 6, in one run, on loopback:
#  1. single-log POST /api/v1/logs (distinct logs, wrk + post_log.lua, 64
#     connections, SQLite, durable), with the gateway's peak RSS;
#  2. bulk NDJSON ingest (post_bulk.lua), logs per second from the gateway's
#     own counter;
#  3. flush of a 1,000,000-log batch, then GET receipts from it (p99);
#  4. the founding design (FastAPI + uvicorn, one worker, in-memory) with the
#     same single-log script, in the same run.
# Usage: benches/gateway/run.sh [DURATION (default 20s)]  -> results/RUN.txt
set -euo pipefail
cd "$(dirname "$0")"
HERE=$PWD
ROOT=$(cd ../.. && pwd)
DUR=${1:-20s}
command -v wrk >/dev/null || { apt-get install -y -q wrk >/dev/null; }
python3 -c "import fastapi, uvicorn" 2>/dev/null || python3 -m pip install -q fastapi "uvicorn[standard]"
(cd "$ROOT" && cargo build -q --release -p kwh-btc-iot)
BIN=$ROOT/target/release/kwh-btc-iot
WORK=$(mktemp -d /tmp/kwh-gw-bench.XXXXXX)
mkdir -p "$HERE/results"
OUT=$HERE/results/$(date -u +%Y%m%dT%H%M%SZ).txt
PORT=18470
FPORT=18471
GW_PID=
FA_PID=
cleanup() {
  [ -n "$GW_PID" ] && kill "$GW_PID" 2>/dev/null || true
  [ -n "$FA_PID" ] && kill "$FA_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
log() { echo "$*" | tee -a "$OUT"; }
metric() { curl -s "http://127.0.0.1:$PORT/metrics" | awk -v m="$1" '$1==m {print $2}'; }
wait_up() { for _ in $(seq 100); do curl -sf "$1" >/dev/null && return 0; sleep 0.1; done; echo "not up: $1" >&2; exit 1; }

log "# kwh-btc-iot gateway benchmark, $(date -u +%FT%TZ)"
log "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), load before: $(cut -d' ' -f1-3 /proc/loadavg)"
log "gateway: $BIN serve (SQLite, WAL, fsync per commit group), wrk $(wrk -v 2>&1 | head -1 | cut -d' ' -f2)"

"$BIN" serve --listen 127.0.0.1:$PORT --ots-calendars none --data-dir "$WORK/data" --flush-count 0 --flush-age-s 0 \
  --max-batch-logs 1000000 >"$WORK/gw.out" 2>"$WORK/gw.err" &
GW_PID=$!
wait_up "http://127.0.0.1:$PORT/health"

log ""
log "## 1. single-log POST, 64 connections, $DUR: wrk -t2 -c64 -d$DUR --latency -s post_log.lua"
wrk -t2 -c64 -d"$DUR" --latency -s "$HERE/post_log.lua" "http://127.0.0.1:$PORT" | tee -a "$OUT"
log "gateway peak RSS (VmHWM) after the single-log load: $(awk '/VmHWM/ {print $2, $3}' /proc/$GW_PID/status)"
log "logs stored: $(metric kwh_btc_iot_logs_ingested_total)"

log ""
log "## 2. bulk NDJSON, 5000 logs per request, 4 connections, $DUR: BULK_N=5000 wrk -t2 -c4 -d$DUR -s post_bulk.lua"
before=$(metric kwh_btc_iot_logs_ingested_total)
t0=$(date +%s.%N)
BULK_N=5000 wrk -t2 -c4 -d"$DUR" --timeout 30s -s "$HERE/post_bulk.lua" "http://127.0.0.1:$PORT" | tee -a "$OUT"
t1=$(date +%s.%N)
after=$(metric kwh_btc_iot_logs_ingested_total)
log "bulk: $((after - before)) new logs stored durably in $(echo "$t1 - $t0" | bc) s = $(echo "($after - $before) / ($t1 - $t0)" | bc) logs/s"

log ""
log "## 3. flush of 1,000,000 logs, then receipts"
if [ "$after" -lt 1000000 ]; then
  need=$((1000000 - after + 5000))
  log "topping up with $need logs (bulk) to reach 1,000,000"
  python3 - "$PORT" "$need" <<'PY'
import sys, http.client, json
port, need = int(sys.argv[1]), int(sys.argv[2])
tmpl = '{"schema_version":"emlog-1.1","site_id":"PLANT-01","iot_device_id":"gw-PLANT01-003","meter_id":"TOP-%d","ts_start":"2025-12-01T10:10:00Z","ts_end":"2025-12-01T10:15:00Z","energy_kwh":12.34,"status":"ok","tx":{"price_sats_per_kwh":100,"channel":"ln"}}\n'
c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
i = 0
while i < need:
    n = min(20000, need - i)
    body = "".join(tmpl % (i + k) for k in range(n))
    c.request("POST", "/api/v1/logs/bulk", body, {"Content-Type": "application/x-ndjson"})
    r = c.getresponse(); r.read(); assert r.status == 200, r.status
    i += n
PY
fi
flush_json=$(curl -s -w '\n%{time_total}' -X POST "http://127.0.0.1:$PORT/api/v1/batches/flush")
log "POST /api/v1/batches/flush -> $(echo "$flush_json" | head -1)"
log "flush time (curl time_total): $(echo "$flush_json" | tail -1) s"
batch_id=$(echo "$flush_json" | head -1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["batch_id"])')
first=$(curl -s "http://127.0.0.1:$PORT/api/v1/logs?batch_id=$batch_id&limit=1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["logs"][0]["log_id"])')
last=$((first + 999999))
log "first receipt (tree rebuilt from the stored leaf hashes? no: cached by the flush): $(curl -s -o /dev/null -w '%{time_total}' "http://127.0.0.1:$PORT/api/v1/logs/$first/receipt") s"
log "receipts of random logs of the batch, 16 connections, $DUR: FIRST_ID=$first LAST_ID=$last wrk -t2 -c16 -d$DUR --latency -s get_receipt.lua"
FIRST_ID=$first LAST_ID=$last wrk -t2 -c16 -d"$DUR" --latency -s "$HERE/get_receipt.lua" "http://127.0.0.1:$PORT" | tee -a "$OUT"
log "gateway peak RSS (VmHWM) at the end: $(awk '/VmHWM/ {print $2, $3}' /proc/$GW_PID/status)"
kill "$GW_PID"; wait "$GW_PID" 2>/dev/null || true; GW_PID=

log ""
log "## 4. founding design baseline: FastAPI $(python3 -c 'import fastapi; print(fastapi.__version__)') + uvicorn $(python3 -c 'import uvicorn; print(uvicorn.__version__)') (one worker, in-memory), same script"
(cd "$HERE" && exec python3 -m uvicorn fastapi_baseline:app --workers 1 --host 127.0.0.1 --port $FPORT --no-access-log --log-level warning) >"$WORK/fa.log" 2>&1 &
FA_PID=$!
wait_up "http://127.0.0.1:$FPORT/health"
wrk -t2 -c64 -d"$DUR" --latency -s "$HERE/post_log.lua" "http://127.0.0.1:$FPORT" | tee -a "$OUT"
log "FastAPI peak RSS: $(awk '/VmHWM/ {print $2, $3}' /proc/$FA_PID/status)"
kill "$FA_PID"; wait "$FA_PID" 2>/dev/null || true; FA_PID=
log ""
log "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "results in $OUT"
