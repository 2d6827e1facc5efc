#!/usr/bin/env bash
# The MQTT bridge's test suite, against a real Debian Mosquitto:
#  1. a smoke test of the documented setup: Mosquitto on a loopback port with
#     the password file and ACL of docs/mqtt.md, `kwh-btc-iot serve
#     --mqtt-url ...`, a meter publishing with mosquitto_pub and reading its
#     acknowledgement with mosquitto_sub, the log read back over HTTP, a
#     publish under another device's id refused by the ACL;
#  2. the Rust tests (gateway/tests/mqtt_*.rs and the unit tests of
#     gateway/src/mqtt), which start their own brokers (restarts, TLS, ACL)
#     and kill -9 a real `kwh-btc-iot serve`.
# PostgreSQL: the PostgreSQL test runs when KWH_BTC_IOT_TEST_DATABASE_URL is
# set (scripts/test-gateway.sh sets it; it also runs these tests).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"

# --- Mosquitto, its clients and openssl (Debian) ---
need=()
command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
command -v mosquitto_pub >/dev/null || need+=(mosquitto-clients)
command -v openssl >/dev/null || need+=(openssl)
if [ ${#need[@]} -gt 0 ]; then
  echo "== apt-get install ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
MOSQUITTO=$(command -v mosquitto || echo /usr/sbin/mosquitto)
export MOSQUITTO KWH_BTC_IOT_REQUIRE_MQTT=1

# --- the CLI the smoke test and the crash test run ---
cargo build -q -p kwh-btc-iot
export KWH_BTC_IOT_BIN="$ROOT/target/debug/kwh-btc-iot"

# --- 1. smoke test of the documented setup ---
WORK=$(mktemp -d /tmp/kwh-mqtt-test.XXXXXX)
BROKER_PID=; GW_PID=
cleanup() {
  [ -n "$GW_PID" ] && kill "$GW_PID" 2>/dev/null || true
  [ -n "$BROKER_PID" ] && kill "$BROKER_PID" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PORT=$(free_port)
touch "$WORK/passwd"
mosquitto_passwd -b "$WORK/passwd" gateway gw-secret
mosquitto_passwd -b "$WORK/passwd" gw-PLANT01-003 meter-secret
cat >"$WORK/acl" <<'EOF'
user gateway
topic read energy/#
topic write energy-ack/#

pattern write energy/+/%u/+
pattern read energy-ack/+/%u/+
EOF
cat >"$WORK/mosquitto.conf" <<EOF
$( [ "$(id -u)" = 0 ] && echo "user root" )
per_listener_settings false
persistence true
persistence_location $WORK/
max_inflight_messages 1000
max_queued_messages 1000000
max_packet_size 1048576
allow_anonymous false
password_file $WORK/passwd
acl_file $WORK/acl
log_dest file $WORK/mosquitto.log
listener $PORT 127.0.0.1
EOF
echo "== mosquitto on 127.0.0.1:$PORT (password file and ACL of docs/mqtt.md)"
"$MOSQUITTO" -c "$WORK/mosquitto.conf" >/dev/null 2>&1 &
BROKER_PID=$!
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.05; done

HTTP_PORT=$(free_port)
KWH_BTC_IOT_MQTT_PASSWORD=gw-secret "$KWH_BTC_IOT_BIN" serve --data-dir "$WORK/data" --listen "127.0.0.1:$HTTP_PORT" --ots-calendars none \
  --mqtt-url "mqtt://127.0.0.1:$PORT" --mqtt-username gateway >"$WORK/serve.out" 2>"$WORK/serve.log" &
GW_PID=$!
for _ in $(seq 200); do grep -q "MQTT subscribed" "$WORK/serve.log" 2>/dev/null && break; sleep 0.05; done
grep -q "MQTT subscribed" "$WORK/serve.log" || { echo "the gateway did not subscribe" >&2; cat "$WORK/serve.log" >&2; exit 1; }
if grep -q "gw-secret" "$WORK/serve.log"; then echo "the broker password appears in the log" >&2; exit 1; fi

TOPIC=energy/PLANT-01/gw-PLANT01-003/MTR-001
mosquitto_sub -p "$PORT" -u gw-PLANT01-003 -P meter-secret -q 1 -t 'energy-ack/PLANT-01/gw-PLANT01-003/+' -C 2 -W 30 >"$WORK/acks" &
SUB_PID=$!
sleep 0.5
# Refused by the ACL (another device's id), then a good reading, then a bad one.
mosquitto_pub -p "$PORT" -u gw-PLANT01-003 -P meter-secret -q 1 -t energy/PLANT-01/gw-OTHER/MTR-001 \
  -m '{"ts_start":"2025-12-01T10:00:00Z","ts_end":"2025-12-01T10:05:00Z","energy_kwh":1,"price_sats_per_kwh":100}'
mosquitto_pub -p "$PORT" -u gw-PLANT01-003 -P meter-secret -q 1 -t "$TOPIC" \
  -m '{"ts_start":"2025-12-01T10:10:00Z","ts_end":"2025-12-01T10:15:00Z","energy_kwh":12.34,"price_sats_per_kwh":100,"channel":"ln","tags":["peak"]}'
sleep 0.3
mosquitto_pub -p "$PORT" -u gw-PLANT01-003 -P meter-secret -q 1 -t "$TOPIC" -m '{"ts_start":"2025-12-01T10:10:00Z"'
wait "$SUB_PID" || { echo "no acknowledgements" >&2; cat "$WORK/serve.log" >&2; exit 1; }
echo "acknowledgements:"; sed 's/^/  /' "$WORK/acks"
python3 - "$WORK/acks" "$HTTP_PORT" <<'PY'
import json, sys, urllib.request
acks = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
ok = [a for a in acks if "log_id" in a]
bad = [a for a in acks if "error" in a]
assert len(ok) == 1 and len(bad) == 1, acks
assert bad[0]["error"]["code"] == "invalid_json", bad
base = f"http://127.0.0.1:{sys.argv[2]}"
log = json.load(urllib.request.urlopen(f"{base}/api/v1/logs/{ok[0]['log_id']}"))
assert log["leaf_hash"] == ok[0]["leaf_hash"], log
l = log["log"]
assert (l["site_id"], l["iot_device_id"], l["meter_id"]) == ("PLANT-01", "gw-PLANT01-003", "MTR-001"), l
assert (l["status"], l["tx"]["channel"], l["tx"]["amount_sats"], l["interval_s"]) == ("ok", "ln", 1234, 300), l
logs = json.load(urllib.request.urlopen(f"{base}/api/v1/logs"))["logs"]
assert len(logs) == 1, "the ACL-refused reading was not stored"
dead = json.load(urllib.request.urlopen(f"{base}/api/v1/mqtt/dead-letters"))["dead_letters"]
assert len(dead) == 1 and dead[0]["payload"] == '{"ts_start":"2025-12-01T10:10:00Z"', dead
print("smoke test: ok (stored once, acknowledged, ACL enforced, dead letter kept)")
PY
kill "$GW_PID"; wait "$GW_PID" || true; GW_PID=

# --- 2. the Rust tests ---
cargo test -p kwh-btc-iot-gateway --lib mqtt
cargo test -p kwh-btc-iot-gateway --doc mqtt
cargo test -p kwh-btc-iot-gateway --test mqtt_bridge --test mqtt_crash -- --test-threads="${KWH_BTC_IOT_TEST_THREADS:-2}" "$@"
