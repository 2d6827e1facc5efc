#!/usr/bin/env bash
# Builds the npm package `kwh-btc-iot` into bindings/wasm/pkg/:
#   pkg/web/   ES module for browsers and bundlers (call the default export, init, first)
#   pkg/node/  CommonJS for Node (ready on require/import)
#   pkg/package.json, pkg/README.md
# Steps: cargo (profile wasm-release) -> wasm-bindgen 0.2.130 (web, nodejs)
# -> wasm-opt -Oz from the npm package `binaryen` (never Debian's binaryen).
#
# Usage: bindings/wasm/build.sh            (from anywhere)
# Needs: rustup target wasm32-unknown-unknown, wasm-bindgen-cli 0.2.130,
# node + npm (both installed here when missing, see below).
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
WASM_BINDGEN_VERSION=0.2.130   # must equal the `wasm-bindgen = "=..."` pin in Cargo.toml
CRATE=kwh-btc-iot-wasm
STEM=kwh_btc_iot_wasm
PKG="$HERE/pkg"

log() { echo "wasm build: $*" >&2; }

# --- tools ---------------------------------------------------------------
rustup target list --installed 2>/dev/null | grep -q '^wasm32-unknown-unknown$' \
  || rustup target add wasm32-unknown-unknown
if ! wasm-bindgen --version 2>/dev/null | grep -q " $WASM_BINDGEN_VERSION\$"; then
  log "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (about 3 minutes)"
  cargo install -q wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"
fi
pinned="$(sed -n 's/^wasm-bindgen = "=\(.*\)"/\1/p' "$HERE/Cargo.toml")"
if [ "$pinned" != "$WASM_BINDGEN_VERSION" ]; then
  echo "wasm build: Cargo.toml pins wasm-bindgen $pinned but this script uses $WASM_BINDGEN_VERSION" >&2
  exit 1
fi
if [ ! -x "$HERE/node_modules/.bin/wasm-opt" ]; then
  log "npm dev dependencies (binaryen, ...)"
  (cd "$HERE" && { npm ci --no-audit --no-fund --loglevel=error || npm install --no-audit --no-fund --loglevel=error; })
fi
WASM_OPT="$HERE/node_modules/.bin/wasm-opt"

# --- compile ---------------------------------------------------------------
# WASM_OPT_LEVEL=s (or 3, z) overrides the profile's opt-level for a
# measurement without editing the root Cargo.toml (see PERFORMANCE.md).
cfg=()
[ -n "${WASM_OPT_LEVEL:-}" ] && cfg=(--config "profile.wasm-release.opt-level=\"$WASM_OPT_LEVEL\"")
[ "${WASM_OPT_LEVEL:-}" = 3 ] && cfg=(--config "profile.wasm-release.opt-level=3")
log "cargo build -p $CRATE --target wasm32-unknown-unknown --profile wasm-release ${cfg[*]}"
(cd "$ROOT" && cargo build -q -p "$CRATE" --target wasm32-unknown-unknown --profile wasm-release "${cfg[@]}")
TARGET_DIR="$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps 2>/dev/null \
  | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).target_directory))')"
WASM="$TARGET_DIR/wasm32-unknown-unknown/wasm-release/$STEM.wasm"

# --- bindgen + optimize ------------------------------------------------------
rm -rf "$PKG"
mkdir -p "$PKG"
for target in web nodejs; do
  out="$PKG/${target/nodejs/node}"
  log "wasm-bindgen --target $target -> ${out#"$HERE"/}"
  wasm-bindgen --target "$target" --out-dir "$out" "$WASM"
  log "wasm-opt -Oz ${out#"$HERE"/}/${STEM}_bg.wasm"
  "$WASM_OPT" -Oz "$out/${STEM}_bg.wasm" -o "$out/${STEM}_bg.wasm"
done
# The JS snippets (js/*.js) are ES modules; the nodejs glue require()s them,
# which only Node >= 20.19 can do with an ES module. Rewrite the node copies
# as CommonJS (the snippets use nothing but `export function NAME`).
find "$PKG/node/snippets" -name '*.js' 2>/dev/null | while read -r f; do
  names="$(sed -n 's/^export function \([A-Za-z0-9_$]*\).*/\1/p' "$f" | paste -sd, -)"
  if grep -Eq '^\s*(import|export)\b' <(sed 's/^export function /function /' "$f"); then
    echo "wasm build: $f uses import/export forms build.sh cannot convert" >&2; exit 1
  fi
  sed -i 's/^export function /function /' "$f"
  printf '\nmodule.exports = { %s };\n' "$names" >> "$f"
done
# The web build is ES modules, the node build CommonJS; say so to Node.
echo '{ "type": "module" }' > "$PKG/web/package.json"
echo '{ "type": "commonjs" }' > "$PKG/node/package.json"

# --- package.json and README -------------------------------------------------
VERSION="$(sed -n 's/^version = "\(.*\)"/\1/p' "$ROOT/Cargo.toml" | head -1)"
sed "s/\"version\": \"0.0.0-template\"/\"version\": \"$VERSION\"/" "$HERE/npm/package.json" > "$PKG/package.json"
cp "$HERE/README.md" "$PKG/README.md"

raw=$(wc -c < "$PKG/web/${STEM}_bg.wasm")
gz=$(gzip -9c "$PKG/web/${STEM}_bg.wasm" | wc -c)
log "done: pkg/web/${STEM}_bg.wasm is $raw bytes, $gz bytes gzip -9"
