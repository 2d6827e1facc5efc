#!/usr/bin/env bash
# Builds and runs the gateway on its embedded default: SQLite in ./data,
# listening on 127.0.0.1:8000. Extra arguments go to `kwh-btc-iot serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
# The web page (www/dist) is embedded in the binary at build time.
exec cargo run --release -q -p kwh-btc-iot -- serve --data-dir ./data "$@"
