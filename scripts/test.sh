#!/usr/bin/env bash
# Runs every test suite: Rust (core, CLI, gateway), WASM (Node + Chromium),
# Python, Kotlin (+ Swift freshness), end to end, Bitcoin anchoring end to end.
# The README's test command;
# CI (.ci/run) calls it after scripts/setup.sh.
#
#   bash scripts/test.sh            # everything
#   bash scripts/test.sh rust wasm  # only the named suites
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}

# Installs what is missing first (idempotent; quick when all is there).
[ "${SKIP_SETUP:-}" = 1 ] || bash scripts/setup.sh

suites=("$@")
[ ${#suites[@]} -eq 0 ] && suites=(rust wasm python kotlin gateway mqtt www anchoring e2e anchoring-e2e)

# Each step must pass (set -e does not apply inside a function called with ||).
run_rust() {
  cargo fmt --all -- --check &&
  cargo clippy --workspace --all-targets -- -D warnings &&
  cargo test --workspace --exclude kwh-btc-iot-gateway &&
  offline_cli &&
  echo "(the gateway's tests run in the gateway suite, with PostgreSQL)"
}

# The offline CLI (canon, hash, batch, merkle, verify, keygen, anchor
# template) builds without the gateway: `--no-default-features`.
offline_cli() {
  cargo clippy -q -p kwh-btc-iot --no-default-features -- -D warnings &&
  if cargo tree -p kwh-btc-iot --no-default-features -e normal --prefix none | grep -q '^kwh-btc-iot-gateway '; then
    echo "the offline CLI links the gateway" >&2; return 1
  fi &&
  echo "(the offline CLI builds without the gateway)"
}

run_e2e() { bash scripts/test-e2e.sh; }

failed=()
for s in "${suites[@]}"; do
  echo "=== suite: $s ==="
  start=$(date +%s)
  case "$s" in
    rust) run_rust || failed+=("$s") ;;
    e2e) run_e2e || failed+=("$s") ;;
    *)
      if [ -f "scripts/test-$s.sh" ]; then
        bash "scripts/test-$s.sh" || failed+=("$s")
      else
        echo "no scripts/test-$s.sh" >&2; failed+=("$s")
      fi ;;
  esac
  echo "=== suite $s: $(( $(date +%s) - start ))s ==="
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "FAILED suites: ${failed[*]}" >&2
  exit 1
fi
echo "all suites passed: ${suites[*]}"
