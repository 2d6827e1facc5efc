#!/usr/bin/env bash
# Builds and runs the gateway on its embedded default: SQLite in ./data,
# listening on 127.0.0.1:8000. Extra arguments go to `kwh-btc-iot serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -x www/build.sh ] && command -v npm >/dev/null; then
  bash www/build.sh >/dev/null || echo "serve: the web page could not be built; the API runs without it" >&2
fi
exec cargo run --release -q -p kwh-btc-iot -- serve --data-dir ./data "$@"
