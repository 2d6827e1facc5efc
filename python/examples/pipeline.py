#!/usr/bin/env python3
"""A data pipeline with kwh_btc_iot: read a JSON Lines file of energy logs,
hash them, batch the valid ones under a signed head, write one receipt per
log, read the receipts back and verify them, print a summary.

    python examples/pipeline.py logs.jsonl --out out/            # your logs
    python examples/pipeline.py --sample 10000 --out out/        # generated logs

Outputs in --out: receipts.jsonl (one canonical receipt per line, in input
order), head.json (the signed batch head), rejected.jsonl (the lines that were
refused, with the error code and message).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List

import kwh_btc_iot as kbi


def sample_logs(n: int, seed: int = 1) -> List[str]:
    """n JSON lines: mostly valid logs, with a few broken ones mixed in."""
    rng = random.Random(seed)
    lines = []
    for i in range(n):
        start = 1_764_583_800 + 300 * (i // 50)  # 2025-12-01T10:10:00Z, a new window every 50 meters
        energy = round(rng.uniform(0, 20), 3)
        log: Dict[str, Any] = {
            "schema_version": "emlog-1.1",
            "site_id": f"PLANT-{i % 7:02d}",
            "iot_device_id": f"gw-PLANT{i % 7:02d}-{i % 5:03d}",
            "meter_id": f"MTR-{i % 50:03d}",
            "ts_start": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start)),
            "ts_end": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start + 300)),
            "energy_kwh": energy,
            "status": rng.choice(["ok", "ok", "ok", "estimated"]),
            "tags": rng.choice([[], ["peak"], ["offpeak", "solar"]]),
            "tx": {"price_sats_per_kwh": rng.choice([90, 100, 120.5]), "channel": rng.choice(["ln", "onchain", "none"])},
        }
        if i % 997 == 13:
            log["energy_kwh"] = -1  # rejected: out_of_range
        if i % 1009 == 17:
            log["colour"] = "green"  # rejected: unknown_member
        lines.append(json.dumps(log))
    if n > 3:
        lines[3] = lines[3][:-5]  # rejected: invalid_json
    return lines


def main(argv: List[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("input", nargs="?", help="JSON Lines file of emlog-1.1 logs")
    ap.add_argument("--sample", type=int, default=0, help="generate this many logs instead of reading a file")
    ap.add_argument("--out", default=None, help="output folder (default: a temporary folder)")
    ap.add_argument("--gateway-id", default="gw-pipeline")
    ap.add_argument("--key-file", help="file holding the 32-byte signing seed as hex (default: a new key)")
    args = ap.parse_args(argv)

    out = Path(args.out or tempfile.mkdtemp(prefix="kwh-pipeline-"))
    out.mkdir(parents=True, exist_ok=True)
    if args.input:
        source = Path(args.input)
    else:
        source = out / "logs.jsonl"
        source.write_text("\n".join(sample_logs(args.sample or 1000)) + "\n")

    key = bytes.fromhex(Path(args.key_file).read_text().strip()) if args.key_file else kbi.generate_signing_key()
    gateway_key = kbi.public_key(key)

    # 1. Hash every line; a bad line is reported, not fatal.
    t0 = time.perf_counter()
    hashed = kbi.hash_jsonl(source)
    t_hash = time.perf_counter() - t0
    lines = [ln for ln in source.read_bytes().split(b"\n") if ln.strip(b" \t\r")]
    assert len(lines) == len(hashed)
    with open(out / "rejected.jsonl", "w") as f:
        for e in hashed.errors:
            f.write(json.dumps({"index": e.index, "code": e.code, "message": e.message}) + "\n")
    valid = [ln for ln, h in zip(lines, hashed) if h is not None]
    if not valid:
        print("no valid logs", file=sys.stderr)
        return 1

    # 2. Batch the valid logs under a signed head; one receipt per log.
    t0 = time.perf_counter()
    batch = kbi.build_batch(valid, gateway_id=args.gateway_id, signing_key=key, batch_id=f"batch-{int(time.time())}")
    receipts = batch.receipts_json()
    t_batch = time.perf_counter() - t0
    assert batch.merkle_root == hashed.root  # the same leaves, the same order
    (out / "head.json").write_text(
        json.dumps({"head": batch.head, "head_hash": batch.head_hash, "signature": batch.signature,
                    "public_key": batch.public_key}, indent=2) + "\n"
    )
    with open(out / "receipts.jsonl", "w") as f:
        for r in receipts:
            f.write(r + "\n")

    # 3. Read the receipts back and verify them offline against the trusted key.
    t0 = time.perf_counter()
    with open(out / "receipts.jsonl", "rb") as f:
        results = kbi.verify_receipts((line for line in f if line.strip()), gateway_key=gateway_key)
    t_verify = time.perf_counter() - t0
    bad = [i for i, v in enumerate(results) if not v.valid]

    codes: Dict[str, int] = {}
    for e in hashed.errors:
        codes[e.code] = codes.get(e.code, 0) + 1
    print(f"input        {source} ({len(lines)} logs)")
    print(f"rejected     {len(hashed.errors)} {dict(sorted(codes.items()))}")
    print(f"batch        {batch.log_count} logs, merkle_root {batch.merkle_root}")
    print(f"head         {batch.head_hash} signed by {batch.public_key}")
    print(f"warnings     {len(batch.warnings)} plausibility warnings")
    print(f"receipts     {out / 'receipts.jsonl'}")
    print(f"verified     {len(results) - len(bad)}/{len(results)} valid")
    print(f"time         hash {t_hash * 1000:.1f} ms, batch {t_batch * 1000:.1f} ms, verify {t_verify * 1000:.1f} ms"
          f" ({os.cpu_count()} cores)")
    return 0 if not bad else 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
