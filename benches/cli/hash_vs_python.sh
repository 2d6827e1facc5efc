#!/usr/bin/env bash
# `kwh-btc-iot hash` over a JSON Lines file of N normalized logs, against a
# Python script using rfc8785 + hashlib over the same file, in the same run.
# Both must print the same hashes.   N=1000000 bash benches/cli/hash_vs_python.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${N:-1000000}
cargo build --release -q -p kwh-btc-iot
BIN=${CARGO_TARGET_DIR:-$PWD/target}/release/kwh-btc-iot
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
python3 scripts/gen_logs.py "$N" | $BIN canon - > "$work/logs.jsonl"   # normalized, so Python needs no normalizer
cat > "$work/py_hash.py" <<'PY'
import hashlib, json, sys, rfc8785
out = sys.stdout
with open(sys.argv[1], "rb") as f:
    for line in f:
        out.write(hashlib.sha256(b"\x00" + rfc8785.dumps(json.loads(line))).hexdigest() + "\n")
PY
t() { local s=$(date +%s.%N); "$@"; echo "$(date +%s.%N) - $s" | bc; }
rs1=$( { /usr/bin/time -f %e $BIN hash --threads 1 "$work/logs.jsonl" > "$work/rs1.txt"; } 2>&1 )
rsn=$( { /usr/bin/time -f %e $BIN hash "$work/logs.jsonl" > "$work/rsn.txt"; } 2>&1 )
py=$( { /usr/bin/time -f %e python3 "$work/py_hash.py" "$work/logs.jsonl" > "$work/py.txt"; } 2>&1 )
cmp "$work/rs1.txt" "$work/py.txt" && cmp "$work/rsn.txt" "$work/py.txt"
python3 - "$N" "$rs1" "$rsn" "$py" <<'PY'
import sys
n, rs1, rsn, py = int(sys.argv[1]), *map(float, sys.argv[2:])
print(f"logs: {n}")
print(f"kwh-btc-iot hash --threads 1: {rs1:.2f} s ({n/rs1:,.0f} logs/s)")
print(f"kwh-btc-iot hash (all cores): {rsn:.2f} s ({n/rsn:,.0f} logs/s)")
print(f"python rfc8785 + hashlib:     {py:.2f} s ({n/py:,.0f} logs/s)")
print(f"ratio: {py/rs1:.1f}x on one thread, {py/rsn:.1f}x on all cores; identical output")
PY
