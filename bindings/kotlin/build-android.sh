#!/usr/bin/env bash
# Builds libkwh_btc_iot_ffi.so for Android in the jniLibs layout an Android
# Gradle module expects, and refreshes the generated Kotlin:
#
#   <out>/arm64-v8a/libkwh_btc_iot_ffi.so
#   <out>/armeabi-v7a/libkwh_btc_iot_ffi.so
#   <out>/x86_64/libkwh_btc_iot_ffi.so
#   <out>/x86/libkwh_btc_iot_ffi.so
#
# Usage: bindings/kotlin/build-android.sh [OUT_DIR]   (default: bindings/kotlin/android/jniLibs)
#   ABIS="arm64-v8a x86_64" restricts the ABIs; ANDROID_API (default 21) is the minSdk.
#
# Needs an Android NDK (r27 or newer; ANDROID_NDK_HOME, or Android Studio's default
# location) and `cargo install cargo-ndk`. Every library is linked with
# -z max-page-size=16384 so it loads on devices with 16 KB memory pages (required
# for apps targeting Android 15+ on Google Play); the script checks the alignment
# of the result with llvm-readelf from the NDK.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OUT=${1:-$HERE/android/jniLibs}
ABIS=${ABIS:-"arm64-v8a armeabi-v7a x86_64 x86"}
ANDROID_API=${ANDROID_API:-21}

if ! cargo ndk --version >/dev/null 2>&1; then
  echo "build-android: cargo-ndk is missing: cargo install cargo-ndk" >&2
  exit 1
fi
if [ -z "${ANDROID_NDK_HOME:-}" ] && [ -z "${ANDROID_HOME:-}" ] && [ -z "${ANDROID_SDK_ROOT:-}" ]; then
  echo "build-android: set ANDROID_NDK_HOME to an Android NDK (r27 or newer)" >&2
  exit 1
fi

triple_of() {
  case "$1" in
    arm64-v8a) echo aarch64-linux-android ;;
    armeabi-v7a) echo armv7-linux-androideabi ;;
    x86_64) echo x86_64-linux-android ;;
    x86) echo i686-linux-android ;;
    *) echo "build-android: unknown ABI $1" >&2; exit 1 ;;
  esac
}

targets=()
ndk_args=()
for abi in $ABIS; do
  triple=$(triple_of "$abi")
  targets+=("$triple")
  ndk_args+=(-t "$abi")
  # 16 KB pages: per target, so host build scripts and proc-macros are untouched.
  var="CARGO_TARGET_$(echo "$triple" | tr 'a-z-' 'A-Z_')_RUSTFLAGS"
  export "$var=${!var:-} -C link-arg=-Wl,-z,max-page-size=16384"
done
rustup target add "${targets[@]}"

cd "$ROOT"
# The Kotlin sources are the same for the JVM and Android (no object handles,
# so no Cleaner): regenerate them from the host build first.
bindings/ffi/generate-bindings.sh

mkdir -p "$OUT"
cargo ndk "${ndk_args[@]}" --platform "$ANDROID_API" -o "$OUT" \
  build -p kwh-btc-iot-ffi --lib --release

# Check the 16 KB alignment of every LOAD segment.
readelf=$(command -v llvm-readelf || true)
if [ -z "$readelf" ] && [ -n "${ANDROID_NDK_HOME:-}" ]; then
  readelf=$(ls "$ANDROID_NDK_HOME"/toolchains/llvm/prebuilt/*/bin/llvm-readelf 2>/dev/null | head -n 1 || true)
fi
for abi in $ABIS; do
  so="$OUT/$abi/libkwh_btc_iot_ffi.so"
  [ -f "$so" ] || { echo "build-android: $so was not produced" >&2; exit 1; }
  if [ -n "$readelf" ]; then
    if "$readelf" -lW "$so" | awk '$1 == "LOAD" { if ($NF != "0x4000" && $NF != "0x10000") bad = 1 } END { exit bad }'; then
      echo "build-android: $abi ok (LOAD segments aligned to 16 KB)"
    else
      echo "build-android: $so is not 16 KB aligned" >&2; exit 1
    fi
  else
    echo "build-android: $abi built (llvm-readelf not found, alignment not checked)"
  fi
done
echo "build-android: jniLibs in $OUT; Kotlin sources in bindings/kotlin/src/main/kotlin"
