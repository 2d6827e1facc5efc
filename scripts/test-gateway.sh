#!/usr/bin/env bash
# The gateway's test suite: builds the CLI (the crash test kills a real
# `kwh-btc-iot serve`, the receipt test runs `kwh-btc-iot verify`), starts a
# private PostgreSQL on a loopback port (unless KWH_BTC_IOT_TEST_DATABASE_URL
# is already set), and runs `cargo test -p kwh-btc-iot-gateway`.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

# --- PostgreSQL (Debian package) ---
if [ -z "${KWH_BTC_IOT_TEST_DATABASE_URL:-}" ]; then
  if ! ls -d /usr/lib/postgresql/*/bin >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      echo "== installing postgresql (apt)"
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >/dev/null || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >/dev/null; }
    fi
  fi
  PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  [ -n "$PGBIN" ] || { echo "PostgreSQL is not installed and could not be installed" >&2; exit 1; }
  PGDIR=$(mktemp -d /tmp/kwh-gw-pg.XXXXXX)
  PGPORT=${KWH_BTC_IOT_TEST_PG_PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')}
  AS=()
  if [ "$(id -u)" = 0 ]; then
    chown postgres: "$PGDIR"
    AS=(runuser -u postgres --)
  fi
  echo "== starting PostgreSQL ($PGBIN) on 127.0.0.1:$PGPORT, data in $PGDIR"
  "${AS[@]}" "$PGBIN/initdb" -D "$PGDIR/data" -A trust -U postgres -E UTF8 >"$PGDIR/initdb.log" 2>&1 || { cat "$PGDIR/initdb.log"; exit 1; }
  "${AS[@]}" "$PGBIN/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $PGPORT -k $PGDIR -c max_connections=200 -c fsync=on" start >/dev/null
  cleanup() {
    "${AS[@]}" "$PGBIN/pg_ctl" -D "$PGDIR/data" -m fast -w stop >/dev/null 2>&1 || true
    rm -rf "$PGDIR"
  }
  trap cleanup EXIT
  export KWH_BTC_IOT_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$PGPORT/postgres"
fi
echo "== PostgreSQL for tests: $KWH_BTC_IOT_TEST_DATABASE_URL"

# --- build the CLI binary the process-level tests run ---
cargo build -q -p kwh-btc-iot
export KWH_BTC_IOT_BIN="$ROOT/target/debug/kwh-btc-iot"
"$KWH_BTC_IOT_BIN" serve --help >/dev/null

# --- the suite ---
cargo test -p kwh-btc-iot-gateway -- --test-threads="${KWH_BTC_IOT_TEST_THREADS:-2}" "$@"
