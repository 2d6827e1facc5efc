#!/usr/bin/env bash
# The web page (www/): builds the WASM package (bindings/wasm/build.sh), type-
# checks and builds www/dist, builds the CLI (whose gateway embeds www/dist),
# then runs the end-to-end tests in headless Chromium (Debian's, driven by
# playwright-core; no browser is downloaded) against a real
# `kwh-btc-iot serve` on a free loopback port with a temporary data dir.
# Screenshots (desktop and phone width) and downloaded receipts go to
# artifacts/www/.
#
#   bash scripts/test-www.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

command -v node >/dev/null && command -v npm >/dev/null || { echo "test-www: node and npm are needed" >&2; exit 1; }
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$CHROMIUM" ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
export CHROMIUM

echo "== www: WASM package (bindings/wasm/build.sh)"
bash bindings/wasm/build.sh

echo "== www: npm ci, tsc, esbuild -> www/dist"
(cd www && npm ci --no-audit --no-fund --loglevel=error)
(cd www && npx --no-install tsc --noEmit -p . && node build.mjs)

echo "== www: cargo build -p kwh-btc-iot (embeds www/dist)"
cargo build -q -p kwh-btc-iot
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
export KWH_BTC_IOT_BIN="$TARGET_DIR/debug/kwh-btc-iot"

echo "== www: end-to-end tests in headless Chromium"
export WWW_ARTIFACTS="$ROOT/artifacts/www"
rm -rf "$WWW_ARTIFACTS"
mkdir -p "$WWW_ARTIFACTS"
(cd www && node --test --test-reporter=spec --test-timeout=600000 test/*.test.mjs)
echo "screenshots: $(ls "$WWW_ARTIFACTS"/*.png | wc -l) in artifacts/www/"

# www/dist is committed so that a plain `cargo build` serves the page; say so
# when this build made something else (e.g. after a change to the core).
if ! git diff --quiet -- www/dist 2>/dev/null; then
  echo "test-www: note: www/dist differs from the committed build; commit it so that cargo build embeds the current page" >&2
  if [ "${WWW_DIST_STRICT:-0}" = 1 ]; then exit 1; fi
fi
