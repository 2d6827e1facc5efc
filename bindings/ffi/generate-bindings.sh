#!/usr/bin/env bash
# Generates the Kotlin and Swift bindings from the compiled kwh-btc-iot-ffi
# library (uniffi library mode, with the workspace's own uniffi-bindgen, same
# uniffi version as the library) and lays them out as the packages expect:
#
#   bindings/kotlin/src/main/kotlin/io/github/kwhbtciot/kwh_btc_iot_ffi.kt
#   bindings/swift/Sources/KwhBtcIot/KwhBtcIot.swift
#   bindings/swift/Sources/KwhBtcIotFFI/KwhBtcIotFFI.h
#   bindings/swift/Sources/KwhBtcIotFFI/module.modulemap
#
# Usage:
#   bindings/ffi/generate-bindings.sh           build, regenerate, write in place
#   bindings/ffi/generate-bindings.sh --check   build, regenerate into a temp dir and
#                                               fail (exit 1, with the diff) when the
#                                               committed files are not current
#   bindings/ffi/generate-bindings.sh --out DIR build, regenerate into DIR only
#
# The generated code depends only on the exported API (its metadata and
# checksums), not on the build profile or the host, so the debug build of
# the host is used.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"

mode=write
out=""
case "${1:-}" in
  "") ;;
  --check) mode=check ;;
  --out) mode=out; out=${2:?--out needs a directory} ;;
  *) echo "usage: $0 [--check | --out DIR]" >&2; exit 2 ;;
esac

TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
# The bindgen first, then the library alone: the library that apps link
# (and that target/debug ends up holding) is built without uniffi's CLI.
cargo build -q -p kwh-btc-iot-ffi --features cli --bin uniffi-bindgen
cargo build -q -p kwh-btc-iot-ffi --lib
case "$(uname -s)" in
  Darwin) LIB="$TARGET_DIR/debug/libkwh_btc_iot_ffi.dylib" ;;
  *) LIB="$TARGET_DIR/debug/libkwh_btc_iot_ffi.so" ;;
esac

gen=$(mktemp -d)
trap 'rm -rf "$gen"' EXIT
# --no-format: the output must not depend on whether ktlint/swiftformat are installed.
"$TARGET_DIR/debug/uniffi-bindgen" generate --library "$LIB" \
  --language kotlin --language swift --no-format --out-dir "$gen/raw" >/dev/null

layout="$gen/layout"
KT_REL=bindings/kotlin/src/main/kotlin/io/github/kwhbtciot/kwh_btc_iot_ffi.kt
SWIFT_REL=bindings/swift/Sources/KwhBtcIot/KwhBtcIot.swift
HEADER_REL=bindings/swift/Sources/KwhBtcIotFFI/KwhBtcIotFFI.h
MODULEMAP_REL=bindings/swift/Sources/KwhBtcIotFFI/module.modulemap
mkdir -p "$layout/$(dirname "$KT_REL")" "$layout/$(dirname "$SWIFT_REL")" "$layout/$(dirname "$HEADER_REL")"

# Kotlin: uniffi 0.32 gives a fielded error variant a `message` of the form
# "code=..., member=..., reason=...". The field is named `reason` for Kotlin
# (bindings/ffi/uniffi.toml) because Throwable owns `message`; make
# Throwable.message the core's message itself, as in Rust and Swift.
python3 - "$gen/raw/io/github/kwhbtciot/kwh_btc_iot_ffi.kt" "$layout/$KT_REL" <<'PY'
import sys
src, dst = sys.argv[1], sys.argv[2]
text = open(src, encoding="utf-8").read()
old = 'get() = "code=${ `code` }, member=${ `member` }, reason=${ `reason` }"'
count = text.count(old)
if count != 4:
    sys.exit(f"generate-bindings: expected 4 KwhException message getters, found {count}; "
             "uniffi's Kotlin error template changed, review this patch")
text = text.replace(old, "get() = `reason`")
open(dst, "w", encoding="utf-8").write(text)
PY

cp "$gen/raw/KwhBtcIot.swift" "$layout/$SWIFT_REL"
cp "$gen/raw/KwhBtcIotFFI.h" "$layout/$HEADER_REL"
# SwiftPM system-library targets and XCFramework headers want `module.modulemap`.
cp "$gen/raw/KwhBtcIotFFI.modulemap" "$layout/$MODULEMAP_REL"

files=("$KT_REL" "$SWIFT_REL" "$HEADER_REL" "$MODULEMAP_REL")
case "$mode" in
  write)
    for f in "${files[@]}"; do mkdir -p "$(dirname "$f")"; cp "$layout/$f" "$f"; done
    echo "generate-bindings: wrote ${files[*]}"
    ;;
  out)
    mkdir -p "$out"; cp -R "$layout/." "$out/"
    echo "generate-bindings: wrote into $out"
    ;;
  check)
    stale=0
    for f in "${files[@]}"; do
      if ! diff -u "$f" "$layout/$f" >"$gen/diff" 2>&1; then
        stale=1
        echo "generate-bindings: $f is not current:" >&2
        head -n 40 "$gen/diff" >&2
      fi
    done
    if [ "$stale" -ne 0 ]; then
      echo "generate-bindings: run bindings/ffi/generate-bindings.sh and commit the result" >&2
      exit 1
    fi
    echo "generate-bindings: Kotlin and Swift bindings are current"
    ;;
esac
