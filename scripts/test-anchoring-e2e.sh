#!/usr/bin/env bash
# Bitcoin anchoring end to end, as an operator and a third party would see it:
# the release `kwh-btc-iot serve` anchors its batch heads through a stand-in
# OpenTimestamps calendar (the calendar HTTP protocol and an Esplora header
# API, blocks of regtest difficulty) and a stand-in Bitcoin Core node (its
# JSON-RPC, a regtest chain), survives a kill -9 between "pending" and
# "anchored", and hands out receipts whose anchors then verify offline in the
# CLI, Python, WASM (Node) and Kotlin, and with python-opentimestamps + hashlib
# alone. A tampered anchor is refused; mainnet rules refuse the regtest blocks.
#
#   bash scripts/test-anchoring-e2e.sh
#   ANCHOR_E2E_BINDINGS=0 bash scripts/test-anchoring-e2e.sh   # CLI and python-opentimestamps only
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
LOGS_PER_BATCH=${LOGS_PER_BATCH:-40}
export PIP_DISABLE_PIP_VERSION_CHECK=1

echo "== build (release): kwh-btc-iot, the stand-in calendar and node"
cargo build --release -q -p kwh-btc-iot
cargo build --release -q -p kwh-btc-iot-gateway --example standin_calendar --example standin_bitcoind
BIN=$TARGET/release/kwh-btc-iot
CAL_BIN=$TARGET/release/examples/standin_calendar
NODE_BIN=$TARGET/release/examples/standin_bitcoind

work=$(mktemp -d /tmp/kwh-anchor-e2e.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() { # seconds, description, command...
  local t=$1 what=$2; shift 2
  for _ in $(seq 1 $((t * 5))); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  echo "timed out after ${t}s waiting for: $what" >&2
  tail -20 "$work"/*.log >&2 || true
  exit 1
}

# --- the stand-ins ------------------------------------------------------------
"$CAL_BIN" --listen 127.0.0.1:0 --port-file "$work/cal.port" > "$work/calendar.log" 2>&1 &
pids+=($!)
wait_for 20 "the stand-in calendar" test -s "$work/cal.port"
CAL=http://127.0.0.1:$(cat "$work/cal.port")
NODE_PORT=$(free_port)
"$NODE_BIN" --port "$NODE_PORT" --mine-every-s 1 > "$work/node.log" 2>&1 &
pids+=($!)
wait_for 20 "the stand-in node" grep -q listening "$work/node.log"

# --- the gateway ----------------------------------------------------------------
PORT=$(free_port)
GW=http://127.0.0.1:$PORT
serve() {
  "$BIN" serve --listen "127.0.0.1:$PORT" --data-dir "$work/data" \
    --flush-count 0 --flush-age-s 0 \
    --anchor-network regtest --ots-calendars "$CAL" --header-source "$CAL" \
    --ots-upgrade-interval-s 1 --ots-upgrade-max-interval-s 2 \
    --bitcoind-url "http://127.0.0.1:$NODE_PORT" --bitcoind-user rpcuser \
    --bitcoind-password rpc-secret-pw --bitcoind-wallet anchors \
    --bitcoind-anchor-interval-s 2 --bitcoind-confirmations 1 \
    >> "$work/gateway.log" 2>&1 &
  GW_PID=$!
  pids+=("$GW_PID")
  wait_for 60 "the gateway" curl -sf "$GW/ready"
}
serve

# Three batches of logs, the founding example first.
python3 scripts/gen_logs.py $((3 * LOGS_PER_BATCH)) > "$work/logs.jsonl"
for b in 0 1 2; do
  if [ "$b" = 0 ]; then
    curl -sf -X POST "$GW/api/v1/logs" -H 'content-type: application/json' \
      --data-binary @tests/vectors/founding_example.json > /dev/null
  fi
  sed -n "$((b * LOGS_PER_BATCH + 1)),$(((b + 1) * LOGS_PER_BATCH))p" "$work/logs.jsonl" \
    | curl -sf -X POST "$GW/api/v1/logs/bulk" -H 'content-type: application/x-ndjson' --data-binary @- > /dev/null
  curl -sf -X POST "$GW/api/v1/batches/flush" > "$work/flush$b.json"
done
batches=$(curl -sf "$GW/api/v1/batches" | python3 -c 'import json,sys; print(" ".join(b["batch_id"] for b in json.load(sys.stdin)["batches"]))')
echo "batches: $batches"
[ "$(echo "$batches" | wc -w)" = 3 ] || { echo "expected 3 batches"; exit 1; }

ots_status() { # batch_id -> status of its opentimestamps anchor (or none)
  curl -sf "$GW/api/v1/batches/$1" | python3 -c '
import json, sys
a = [x for x in json.load(sys.stdin)["anchors"] if x["type"] == "opentimestamps"]
print(a[0]["status"] if a else "none")'
}
all_ots() { for b in $batches; do [ "$(ots_status "$b")" = "$1" ] || return 1; done; }

# Every head is at the calendar: pending proofs, already in the receipts.
wait_for 60 "pending OpenTimestamps proofs for every batch" all_ots pending
curl -sf "$GW/api/v1/logs/1/receipt" > "$work/pending.json"
"$BIN" verify "$work/pending.json" --network regtest --json > "$work/pending.out" || { cat "$work/pending.out"; exit 1; }
python3 - "$work/pending.out" <<'PY'
import json, sys
v = json.loads(open(sys.argv[1]).readline())
st = [a["status"] for a in v["anchors"] if a["type"] == "opentimestamps"]
assert v["valid"] and st == ["pending"], (v["valid"], st)
print("receipt of log 1 before any block: valid, OpenTimestamps anchor pending")
PY

# kill -9 between pending and anchored: nothing is lost.
kill -9 "$GW_PID"; wait "$GW_PID" 2>/dev/null || true
echo "gateway killed (-9) with pending anchors; the calendar mines a block; restarting"
curl -sf -X POST "$CAL/mine" > /dev/null
serve
wait_for 90 "every batch anchored through the calendar" all_ots anchored

# Node mode anchors the newest head; earlier batches get it through `heads`.
newest=$(echo "$batches" | tr ' ' '\n' | sort | tail -1)
btc_anchored() {
  curl -sf "$GW/api/v1/batches/$newest" | python3 -c '
import json, sys
sys.exit(0 if any(x["type"] == "bitcoin" and x["status"] == "anchored" for x in json.load(sys.stdin)["anchors"]) else 1)'
}
wait_for 90 "a bitcoin anchor of the newest head through the node" btc_anchored
sleep 2.5 # receipts of other instances' changes are cached for 2 s at most

# All receipts, one per line.
ids=$(curl -sf "$GW/api/v1/logs?limit=1000" | python3 -c 'import json,sys; print(" ".join(str(l["log_id"]) for l in json.load(sys.stdin)["logs"]))')
: > "$work/receipts.ndjson"
for id in $ids; do
  curl -sf "$GW/api/v1/logs/$id/receipt" | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin), separators=(",",":")))' >> "$work/receipts.ndjson"
done
n=$(wc -l < "$work/receipts.ndjson")
echo "receipts fetched: $n"
[ "$n" -eq $((3 * LOGS_PER_BATCH + 1)) ]
KEY=$(curl -sf "$GW/api/v1/gateway" | python3 -c 'import json,sys; print(json.load(sys.stdin)["public_key"])')

echo "== CLI: kwh-btc-iot verify --network regtest"
"$BIN" verify "$work/receipts.ndjson" --network regtest --gateway-key "$KEY" --json > "$work/verify.json"
python3 - "$work/verify.json" <<'PY'
import collections, json, sys
c = collections.Counter()
for line in open(sys.argv[1]):
    v = json.loads(line)
    assert v["valid"], v["errors"]
    kinds = {a["type"]: a for a in v["anchors"]}
    assert kinds["opentimestamps"]["status"] == "verified", kinds
    assert kinds["bitcoin"]["status"] == "verified", kinds
    for t, a in kinds.items():
        c[(t, a["height"])] += 1
print("every receipt valid, both anchors verified:", dict(c))
PY
echo "== CLI: mainnet rules refuse the regtest blocks"
if "$BIN" verify "$work/receipts.ndjson" --gateway-key "$KEY" --json > "$work/mainnet.json"; then
  echo "mainnet verification accepted regtest anchors"; exit 1
fi
grep -q header_pow "$work/mainnet.json"

echo "== a tampered anchor is refused"
python3 - "$work/receipts.ndjson" "$work/tampered.json" <<'PY'
import json, sys
r = json.loads(open(sys.argv[1]).readline())
a = next(a for a in r["anchors"] if a["type"] == "opentimestamps")
h = next(iter(a["headers"]))
hdr = bytearray.fromhex(a["headers"][h]); hdr[40] ^= 1   # a byte of the merkle root
a["headers"][h] = hdr.hex()
open(sys.argv[2], "w").write(json.dumps(r))
PY
if "$BIN" verify "$work/tampered.json" --network regtest > "$work/tampered.out"; then
  echo "tampered anchor accepted"; exit 1
fi
grep -q "invalid" "$work/tampered.out"

echo "== python-opentimestamps + hashlib, without the core"
VENV=${KWH_OTS_VENV:-target/ots-interop-venv}
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import opentimestamps, rfc8785" 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q opentimestamps==0.4.5 rfc8785
fi
"$VENV/bin/python" scripts/check_anchors.py "$work/receipts.ndjson" --network regtest --require verified

echo "== javascript-opentimestamps (npm) reads the gateway's .ots"
interop=tests/vectors/anchoring/interop
if [ ! -d "$interop/node_modules/opentimestamps" ]; then
  (cd "$interop" && npm install --ignore-scripts --no-audit --no-fund --silent)
fi
node --no-deprecation "$interop/check_receipts.js" "$work/receipts.ndjson"

if [ "${ANCHOR_E2E_BINDINGS:-1}" != 0 ]; then
  export KWH_BTC_IOT_RECEIPTS_FILE=$work/receipts.ndjson KWH_BTC_IOT_NETWORK=regtest KWH_BTC_IOT_GATEWAY_KEY=$KEY

  echo "== Python wheel"
  PYV=${KWH_PYTHON_VENV:-target/python-venv}
  if [ ! -x "$PYV/bin/python" ] || ! "$PYV/bin/python" -c "import kwh_btc_iot" 2>/dev/null; then
    python3 -m venv --system-site-packages "$PYV"
    "$PYV/bin/python" -m pip install -q --no-build-isolation --no-deps --force-reinstall ./python
  fi
  (cd python && "../$PYV/bin/python" -m pytest -q -p no:cacheprovider tests/test_anchored_receipts.py -k gateway -rA 2>&1 | tail -3)
  (cd python && "../$PYV/bin/python" -m pytest -q -p no:cacheprovider tests/test_anchored_receipts.py -k gateway -rs | grep -q "1 passed")

  echo "== WASM (Node)"
  [ -d bindings/wasm/pkg/node ] || bash bindings/wasm/build.sh
  node bindings/wasm/tools/verify-receipts.mjs "$work/receipts.ndjson" --network regtest --gateway-key "$KEY" | tail -1

  echo "== Kotlin (JVM)"
  cargo build -q -p kwh-btc-iot-ffi
  (cd bindings/kotlin && mvn -q -B -Dstyle.color=never test -Dtest='AnchoredReceiptVectorsTest#receiptsFromAGateway' \
     -Dsurefire.failIfNoSpecifiedTests=false -Dkwh.native.dir="$TARGET/debug" -Dkwh.repo.root="$ROOT" 2>&1 | sed -u 's/\x1b\[[0-9;]*m//g')
  python3 - bindings/kotlin/target/surefire-reports <<'PY'
import glob, sys, xml.etree.ElementTree as ET
t = f = s = 0
for p in glob.glob(sys.argv[1] + "/TEST-*AnchoredReceiptVectorsTest.xml"):
    r = ET.parse(p).getroot()
    t += int(r.get("tests", 0)); f += int(r.get("failures", 0)) + int(r.get("errors", 0)); s += int(r.get("skipped", 0))
assert t == 1 and f == 0 and s == 0, (t, f, s)
print("kotlin: the gateway's receipts verified (1 test, not skipped)")
PY
fi
echo "anchoring e2e: ok ($n receipts anchored twice, verified in every language)"
