#!/usr/bin/env bash
# Mobile bindings: builds the ffi library (kwh-btc-iot-ffi) and its uniffi-bindgen,
# regenerates the Kotlin and Swift bindings, runs the Rust tests of the ffi
# crate, compiles the Kotlin package and runs its JUnit suite on the JVM
# against the host library, and fails when the committed generated Kotlin or
# Swift files are not current. Swift itself is not compiled here (no Swift
# toolchain on this machine): see bindings/swift/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

# Java 17 + Maven (Debian); everything else comes from crates.io / Maven Central.
if ! command -v mvn >/dev/null || ! command -v java >/dev/null; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends maven openjdk-17-jdk-headless >/dev/null
fi
command -v python3 >/dev/null || { echo "test-kotlin: python3 is needed by generate-bindings.sh" >&2; exit 1; }

TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}

echo "== ffi: cargo test -p kwh-btc-iot-ffi"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! cargo test -q -p kwh-btc-iot-ffi >"$log" 2>&1; then
  cat "$log" >&2
  echo "test-kotlin: cargo test -p kwh-btc-iot-ffi failed" >&2
  exit 1
fi
grep -E "^test result" "$log" || true

echo "== bindings: build the library and uniffi-bindgen, regenerate, compare with the committed files"
stale=0
bindings/ffi/generate-bindings.sh --check || stale=1
# Test what the library generates now, whatever was committed.
bindings/ffi/generate-bindings.sh >/dev/null

echo "== kotlin: mvn test (JUnit 5, JNA, host library from $TARGET_DIR/debug)"
rm -rf bindings/kotlin/target/surefire-reports
mvn_status=0
# (sed: Maven 3.8's console library prints colour resets even in batch mode.)
(cd bindings/kotlin && mvn -q -B -Dstyle.color=never test -Dkwh.native.dir="$TARGET_DIR/debug" -Dkwh.repo.root="$ROOT" 2>&1 \
  | sed -u 's/\x1b\[[0-9;]*m//g') || mvn_status=$?

# Surefire is quiet under -q: print its totals as one line.
python3 - "$ROOT/bindings/kotlin/target/surefire-reports" <<'PY'
import glob, sys, xml.etree.ElementTree as ET
t = f = e = s = 0
for path in glob.glob(sys.argv[1] + "/TEST-*.xml"):
    r = ET.parse(path).getroot()
    t += int(r.get("tests", 0)); f += int(r.get("failures", 0))
    e += int(r.get("errors", 0)); s += int(r.get("skipped", 0))
print(f"kotlin: {t - f - e - s} passed, {f + e} failed, {s} skipped")
PY

if [ "$mvn_status" -ne 0 ]; then
  echo "test-kotlin: JUnit suite failed" >&2
  exit "$mvn_status"
fi
if [ "$stale" -ne 0 ]; then
  echo "test-kotlin: the committed generated bindings were stale (now regenerated in the work tree; commit them)" >&2
  exit 1
fi
echo "test-kotlin: ok"
