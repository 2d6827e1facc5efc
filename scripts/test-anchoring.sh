#!/usr/bin/env bash
# Bitcoin anchoring in the core (core/src/anchor, issue 9): the anchoring
# suite with the real mainnet fixtures (tests/vectors/anchoring), the core's
# unit tests of the module, the conformance-vector drift test, the WASM
# build of the core, and the interop check with the reference
# OpenTimestamps implementations (python-opentimestamps from PyPI,
# javascript-opentimestamps from npm): their files read and written back
# byte for byte by the core, the core's files read back byte for byte by
# them.
#
#   bash scripts/test-anchoring.sh
#   ANCHORING_INTEROP=0 bash scripts/test-anchoring.sh   # without PyPI/npm
#   ANCHORING_BENCH=1 bash scripts/test-anchoring.sh     # plus timings (release)
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_DISABLE_PIP_VERSION_CHECK=1

echo "test-anchoring: cargo test (anchoring suite, anchor unit tests, vectors drift)"
cargo test -p kwh-btc-iot-core --test anchoring
cargo test -p kwh-btc-iot-core --lib anchor
cargo test -p kwh-btc-iot-core --test vectors

if rustup target list --installed 2>/dev/null | grep -q wasm32-unknown-unknown; then
  echo "test-anchoring: the core builds for wasm32-unknown-unknown"
  cargo build -p kwh-btc-iot-core --target wasm32-unknown-unknown
fi

if [ "${ANCHORING_INTEROP:-1}" != 0 ]; then
  PY=${PYTHON:-python3}
  VENV=${KWH_OTS_VENV:-target/ots-interop-venv}
  if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import opentimestamps" 2>/dev/null; then
    echo "test-anchoring: pip install opentimestamps==0.4.5 (venv $VENV)"
    "$PY" -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q opentimestamps==0.4.5
  fi
  command -v node >/dev/null && command -v npm >/dev/null || { echo "test-anchoring: node and npm are needed for the interop check (ANCHORING_INTEROP=0 skips it)" >&2; exit 1; }
  interop=tests/vectors/anchoring/interop
  if [ ! -d "$interop/node_modules/opentimestamps" ]; then
    echo "test-anchoring: npm install opentimestamps@0.4.9 ($interop)"
    (cd "$interop" && npm install --ignore-scripts --no-audit --no-fund --silent)
  fi
  dir=$(mktemp -d)
  trap 'rm -rf "$dir"' EXIT
  "$VENV/bin/python" "$interop/interop.py" gen "$dir"
  node --no-deprecation "$interop/interop.js" gen "$dir"
  OTS_INTEROP_DIR="$dir" cargo test -p kwh-btc-iot-core --test anchoring interop_with_the_reference_implementations -- --ignored --nocapture
  "$VENV/bin/python" "$interop/interop.py" check "$dir"
  node --no-deprecation "$interop/interop.js" check "$dir"
fi

if [ "${ANCHORING_BENCH:-0}" != 0 ]; then
  cargo test --release -p kwh-btc-iot-core --test anchoring bench_anchor_verification -- --ignored --nocapture
fi
echo "test-anchoring: ok"
