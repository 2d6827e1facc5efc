#!/usr/bin/env bash
# Generates and packages the Swift package.
#
# Everywhere: rebuilds the ffi library and regenerates Sources/KwhBtcIot/KwhBtcIot.swift
# and Sources/KwhBtcIotFFI/{KwhBtcIotFFI.h,module.modulemap} (bindings/ffi/generate-bindings.sh).
#
# On macOS with Xcode, also builds KwhBtcIotFFI.xcframework from release static
# libraries (iOS device arm64; iOS simulator arm64 + x86_64; macOS arm64 + x86_64),
# which Package.swift then uses instead of the host library, and zips it with its
# SwiftPM checksum for a release (.binaryTarget(url:checksum:)).
#
# Usage: bindings/swift/build.sh [--no-xcframework]
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
cd "$ROOT"

bindings/ffi/generate-bindings.sh

if [ "${1:-}" = "--no-xcframework" ] || [ "$(uname -s)" != Darwin ] || ! command -v xcodebuild >/dev/null; then
  echo "build.sh: Swift sources generated; the XCFramework needs macOS with Xcode (run this script there)."
  echo "build.sh: on a host with Swift: cargo build -p kwh-btc-iot-ffi && (cd bindings/swift && swift test)"
  exit 0
fi

TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
export IPHONEOS_DEPLOYMENT_TARGET=${IPHONEOS_DEPLOYMENT_TARGET:-13.0}
export MACOSX_DEPLOYMENT_TARGET=${MACOSX_DEPLOYMENT_TARGET:-11.0}
TRIPLES=(aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios aarch64-apple-darwin x86_64-apple-darwin)
rustup target add "${TRIPLES[@]}"
for t in "${TRIPLES[@]}"; do
  cargo build -q -p kwh-btc-iot-ffi --lib --release --target "$t"
done
lib() { echo "$TARGET_DIR/$1/release/libkwh_btc_iot_ffi.a"; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/headers" "$work/ios-sim" "$work/macos"
cp bindings/swift/Sources/KwhBtcIotFFI/KwhBtcIotFFI.h bindings/swift/Sources/KwhBtcIotFFI/module.modulemap "$work/headers/"
lipo -create "$(lib aarch64-apple-ios-sim)" "$(lib x86_64-apple-ios)" -output "$work/ios-sim/libkwh_btc_iot_ffi.a"
lipo -create "$(lib aarch64-apple-darwin)" "$(lib x86_64-apple-darwin)" -output "$work/macos/libkwh_btc_iot_ffi.a"

out="$HERE/KwhBtcIotFFI.xcframework"
rm -rf "$out" "$out.zip"
xcodebuild -create-xcframework \
  -library "$(lib aarch64-apple-ios)" -headers "$work/headers" \
  -library "$work/ios-sim/libkwh_btc_iot_ffi.a" -headers "$work/headers" \
  -library "$work/macos/libkwh_btc_iot_ffi.a" -headers "$work/headers" \
  -output "$out"
(cd "$HERE" && zip -qry KwhBtcIotFFI.xcframework.zip KwhBtcIotFFI.xcframework)
echo "build.sh: $out"
echo "build.sh: KwhBtcIotFFI.xcframework.zip checksum $(cd "$HERE" && swift package compute-checksum KwhBtcIotFFI.xcframework.zip)"
