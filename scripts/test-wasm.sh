#!/usr/bin/env bash
# The WASM package's suites, from a clean checkout (after scripts/setup.sh):
#   1. build the npm package (bindings/wasm/build.sh: cargo wasm-release,
#      wasm-bindgen 0.2.130 web + nodejs, wasm-opt -Oz from npm binaryen)
#   2. wasm-bindgen-test in Node            (bindings/wasm/tests/*.rs)
#   3. wasm-bindgen-test in headless Chromium (Debian chromium + chromedriver)
#   4. the Node suite (node --test) against the packed package, installed
#      from its npm tarball as a user would
#
#   bash scripts/test-wasm.sh
#   WASM_SUITES="node" bash scripts/test-wasm.sh   # only some of: rust-node rust-chromium node
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
W="$ROOT/bindings/wasm"
SUITES="${WASM_SUITES:-rust-node rust-chromium node}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

log() { echo "test-wasm: $*" >&2; }

# --- tools (scripts/setup.sh installs most; these are the checks) -------------
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  log "node/npm missing: apt-get install nodejs npm"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nodejs npm >/dev/null
fi
node_major="$(node -p 'process.versions.node.split(".")[0]')"
[ "$node_major" -ge 18 ] || { log "Node >= 18 needed, found $(node --version)"; exit 1; }
(cd "$W" && npm ci --no-audit --no-fund --loglevel=error)

# --- 1. build ---------------------------------------------------------------------
bash "$W/build.sh"

# --- 2./3. Rust wasm-bindgen tests --------------------------------------------------
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner
export WASM_BINDGEN_TEST_TIMEOUT="${WASM_BINDGEN_TEST_TIMEOUT:-300}"
for suite in $SUITES; do
  case "$suite" in
    rust-node)
      log "wasm-bindgen-test in Node"
      (cd "$W" && cargo test -p kwh-btc-iot-wasm --target wasm32-unknown-unknown)
      ;;
    rust-chromium)
      log "wasm-bindgen-test in headless Chromium"
      command -v chromium >/dev/null && command -v chromedriver >/dev/null \
        || { log "chromium and chromium-driver are needed (scripts/setup.sh installs them)"; exit 1; }
      # webdriver.json in bindings/wasm (the runner's working directory)
      # passes --headless --no-sandbox --disable-gpu
      # --disable-background-networking and the Debian chromium binary.
      (cd "$W" && CHROMEDRIVER="$(command -v chromedriver)" WASM_BINDGEN_USE_BROWSER=1 \
        cargo test -p kwh-btc-iot-wasm --target wasm32-unknown-unknown)
      ;;
  esac
done

# --- 4. Node suite against the packed package ---------------------------------------
if [[ " $SUITES " == *" node "* ]]; then
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  (cd "$W/pkg" && npm pack --silent --pack-destination "$tmp" >/dev/null)
  tarball="$(ls "$tmp"/kwh-btc-iot-*.tgz)"
  log "installing $(basename "$tarball") into bindings/wasm/node_modules"
  (cd "$W" && npm install --no-save --no-audit --no-fund --loglevel=error "$tarball")
  log "node --test"
  (cd "$W" && node --test tests/node/*.test.mjs)
fi

raw=$(wc -c < "$W/pkg/web/kwh_btc_iot_wasm_bg.wasm")
gz=$(gzip -9c "$W/pkg/web/kwh_btc_iot_wasm_bg.wasm" | wc -c)
log "ok; pkg/web/kwh_btc_iot_wasm_bg.wasm: $raw bytes, $gz bytes gzip -9 (budget 122880)"
