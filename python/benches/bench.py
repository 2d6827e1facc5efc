#!/usr/bin/env python3
"""kwh_btc_iot against the pure-Python pipeline a Python user would write
with the usual packages (json + rfc8785 + hashlib for leaf hashes, pymerkle
for the tree, cryptography for Ed25519), in the same run, on the same inputs.

    python benches/bench.py                      # 100,000 logs / receipts, best of 3
    python benches/bench.py --n 20000 --repeat 1 # quicker
    python benches/bench.py --write PERFORMANCE.md

Tasks:
  hash+root   100,000 JSON lines -> leaf hashes + RFC 9162 root
  verify      100,000 receipts (JSON text) of one signed batch -> verdicts

The pure-Python side is a lower bound on the work of an honest re-implementation:
it parses, canonicalizes and hashes, but it does not validate or normalize the
logs (the core does both), and it is given logs already in normalized form so
that both sides produce the same hashes. Each result is checked against the
other side before any time is reported.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import random
import sys
import time
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Tuple

import pymerkle
import rfc8785

import kwh_btc_iot as kbi

try:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
except ImportError:  # pragma: no cover
    sys.exit("bench.py needs the cryptography package for the pure-Python Ed25519 side")


# --- inputs --------------------------------------------------------------


def make_logs(n: int, seed: int = 7) -> List[bytes]:
    """n normalized logs as JSON lines (the form a pipeline reads from files)."""
    rng = random.Random(seed)
    out = []
    t0 = 1_764_583_800
    for i in range(n):
        start = t0 + 300 * (i // 100)
        energy = rng.randrange(0, 200_000) / 1000
        price = rng.choice([90, 100, 120.5])
        log = {
            "schema_version": "emlog-1.1",
            "site_id": f"PLANT-{i % 13:02d}",
            "iot_device_id": f"gw-PLANT{i % 13:02d}-{i % 7:03d}",
            "meter_id": f"MTR-{i % 100:04d}",
            "ts_start": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start)),
            "ts_end": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start + 300)),
            "interval_s": 300,
            "energy_kwh": energy,
            "power_kw_avg": energy * 3600 / 300,
            "status": "ok",
            "tags": ["peak"] if i % 3 == 0 else [],
            "tx": {
                "unit": "sats",
                "price_sats_per_kwh": price,
                "amount_sats": int(energy * price + 0.5),
                "channel": "ln",
                "settlement_status": "pending",
                "ln_invoice_id": None,
                "bitcoin_txid": None,
            },
        }
        out.append(json.dumps(log).encode())
    return out


# --- the pure-Python pipeline ---------------------------------------------


def _root_hex(tree: Any) -> str:
    # pymerkle 7 calls it get_root, pymerkle 6 (the last for Python 3.9) get_state.
    get = tree.get_root if hasattr(tree, "get_root") else tree.get_state
    root: bytes = get()
    return root.hex()


def py_hash_and_root(lines: List[bytes]) -> Tuple[List[bytes], str]:
    tree = pymerkle.InmemoryTree(algorithm="sha256")  # RFC 9162 hashing (0x00/0x01 prefixes)
    leaves = []
    sha256 = hashlib.sha256
    for line in lines:
        canonical = rfc8785.dumps(json.loads(line))
        leaves.append(sha256(b"\x00" + canonical).digest())
        tree.append_entry(canonical)
    return leaves, _root_hex(tree)


def py_build_batch(lines: List[bytes], seed: bytes, created_at: str) -> Tuple[str, List[str]]:
    """build_batch in pure Python: leaf hashes, pymerkle tree, head, Ed25519
    signature (cryptography), one receipt per log with its inclusion path
    (pymerkle's path without its first entry, the leaf), written as JSON."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    signer = Ed25519PrivateKey.from_private_bytes(seed)
    tree = pymerkle.InmemoryTree(algorithm="sha256")
    logs, leaves = [], []
    for line in lines:
        log = json.loads(line)
        canonical = rfc8785.dumps(log)
        logs.append(log)
        leaves.append(hashlib.sha256(b"\x00" + canonical).hexdigest())
        tree.append_entry(canonical)
    head = {
        "batch_id": "batch-1", "created_at": created_at, "gateway_id": "gw-bench", "head_version": "embatch-1",
        "log_count": len(logs), "merkle_root": _root_hex(tree), "prev_head_hash": None, "seq": 1,
    }
    head_bytes = rfc8785.dumps(head)
    signature = {
        "alg": "ed25519",
        "public_key": signer.public_key().public_bytes_raw().hex(),
        "signature": signer.sign(head_bytes).hex(),
    }
    out = []
    for i, log in enumerate(logs):
        receipt = {
            "anchors": [], "batch_head": head, "head_signature": signature,
            "inclusion_path": [h.hex() for h in tree.prove_inclusion(i + 1).path[1:]],
            "leaf_hash": leaves[i], "leaf_index": i, "log": log, "receipt_version": "emreceipt-1",
        }
        out.append(json.dumps(receipt, sort_keys=True, separators=(",", ":")))
    return hashlib.sha256(b"\x02" + head_bytes).hexdigest(), out


def _fold(leaf: bytes, index: int, size: int, path: List[bytes]) -> Optional[bytes]:
    """RFC 9162 section 2.1.3.2, with hashlib."""
    if index >= size:
        return None
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = hashlib.sha256(b"\x01" + p + r).digest()
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = hashlib.sha256(b"\x01" + r + p).digest()
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None


def py_verify(texts: List[bytes], trusted_key: bytes, cache_heads: bool) -> List[bool]:
    """The checks of SPEC section 5 for each receipt: leaf hash of the log,
    inclusion path to the head's merkle_root, head hash, Ed25519 signature by
    the trusted key. With cache_heads, each distinct signed head is verified
    once (an optimization the core does not make)."""
    seen: Dict[Tuple[bytes, str], bool] = {}
    out = []
    for text in texts:
        r = json.loads(text)
        ok = r.get("receipt_version") == "emreceipt-1"
        leaf = hashlib.sha256(b"\x00" + rfc8785.dumps(r["log"])).digest()
        ok = ok and leaf.hex() == r["leaf_hash"]
        head = r["batch_head"]
        root = _fold(leaf, r["leaf_index"], head["log_count"], [bytes.fromhex(h) for h in r["inclusion_path"]])
        ok = ok and root is not None and root.hex() == head["merkle_root"]
        head_bytes = rfc8785.dumps(head)
        hashlib.sha256(b"\x02" + head_bytes).hexdigest()  # the head hash, reported by the core too
        sig = r["head_signature"]
        key = (head_bytes, sig["signature"])
        good = seen.get(key) if cache_heads else None
        if good is None:
            pk = bytes.fromhex(sig["public_key"])
            try:
                Ed25519PublicKey.from_public_bytes(pk).verify(bytes.fromhex(sig["signature"]), head_bytes)
                good = pk == trusted_key
            except InvalidSignature:
                good = False
            if cache_heads:
                seen[key] = good
        out.append(bool(ok and good))
    return out


# --- timing -----------------------------------------------------------------


class Timing(NamedTuple):
    wall: float  # seconds, best run
    cpu: float  # CPU seconds of that run, all threads of the process


def best_of(repeat: int, fn: Callable[[], Any]) -> Tuple[Timing, Any]:
    best, result = Timing(float("inf"), 0.0), None
    for _ in range(repeat):
        c0, t0 = time.process_time(), time.perf_counter()
        result = fn()
        t = Timing(time.perf_counter() - t0, time.process_time() - c0)
        if t.wall < best.wall:
            best = t
    return best, result


Row = Tuple[str, Timing, str, Timing]


def main(argv: List[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3, help="best of this many runs per measurement")
    ap.add_argument("--write", metavar="MARKDOWN", help="append the results to this markdown file")
    args = ap.parse_args(argv)
    n, rep = args.n, args.repeat

    print(f"generating {n} logs ...", flush=True)
    lines = make_logs(n)
    jsonl = b"\n".join(lines)
    seed = hashlib.sha256(b"bench gateway key").digest()
    trusted = bytes.fromhex(kbi.public_key(seed))
    created = "2025-12-01T12:00:00Z"
    rows: List[Row] = []

    def report(task: str, py: Timing, impl: str, rs: Timing) -> None:
        rows.append((task, py, impl, rs))
        print(f"  {task:<15} {impl:<52} {rs.wall * 1000:8.0f} ms (cpu {rs.cpu * 1000:6.0f})"
              f"  pure Python {py.wall * 1000:8.0f} ms (cpu {py.cpu * 1000:6.0f})"
              f"  {py.wall / rs.wall:5.1f}x wall {py.cpu / rs.cpu:5.1f}x cpu", flush=True)

    def batch_of(key: Optional[bytes]) -> Any:
        return kbi.build_batch(lines, gateway_id="gw-bench", batch_id="batch-1", signing_key=key, created_at=created)

    # 1. leaf hashes + root
    print("hash+root: pure Python: json + rfc8785 + hashlib + pymerkle ...", flush=True)
    py, (py_leaves, py_root) = best_of(rep, lambda: py_hash_and_root(lines))
    t, hashed = best_of(rep, lambda: kbi.hash_logs(lines))
    assert hashed.errors == [] and hashed.root == py_root and hashed[0] == py_leaves[0].hex()
    report("hash+root", py, "hash_logs(lines).root", t)
    t, hashed = best_of(rep, lambda: kbi.hash_logs(lines, threads=1))
    assert hashed.root == py_root
    report("hash+root", py, "hash_logs(lines, threads=1).root", t)
    t, hashed = best_of(rep, lambda: kbi.hash_jsonl(jsonl))
    assert hashed.root == py_root
    report("hash+root", py, "hash_jsonl(bytes).root", t)
    t, batch = best_of(rep, lambda: batch_of(None))
    assert batch.merkle_root == py_root
    report("hash+root", py, "build_batch(lines).merkle_root", t)

    # 2. a signed batch with its receipts, as JSON text
    print("batch+receipts: pure Python: the above + cryptography + pymerkle proofs + json.dumps ...", flush=True)
    py, (py_head_hash, py_receipts) = best_of(rep, lambda: py_build_batch(lines, seed, created))
    t, (batch, receipts) = best_of(rep, lambda: (lambda b: (b, b.receipts_json()))(batch_of(seed)))
    assert batch.head_hash == py_head_hash and kbi.canonicalize_json(py_receipts[7]).decode() == receipts[7]
    report("batch+receipts", py, "build_batch(lines, signing_key).receipts_json()", t)

    # 3. verify receipts (JSON text, as read from a file)
    texts = [r.encode() for r in receipts]
    print("verify: pure Python: json + rfc8785 + hashlib + cryptography, signature checked per receipt ...", flush=True)
    py_full, ok = best_of(rep, lambda: py_verify(texts, trusted, cache_heads=False))
    assert all(ok)
    print("verify: pure Python, each distinct signed head checked once ...", flush=True)
    py_once, ok = best_of(rep, lambda: py_verify(texts, trusted, cache_heads=True))
    assert all(ok)
    t, results = best_of(rep, lambda: kbi.verify_receipts(texts, gateway_key=trusted))
    assert len(results) == n and all(v.valid for v in results)
    report("verify", py_full, "verify_receipts(receipts, key)", t)
    report("verify", py_once, "same, vs Python checking each head once", t)
    t, results = best_of(rep, lambda: kbi.verify_receipts(texts, gateway_key=trusted, threads=1))
    assert all(v.valid for v in results)
    report("verify", py_full, "verify_receipts(receipts, key, threads=1)", t)
    # Without signatures, to show what the Ed25519 check costs each side.
    unsigned = [r.encode() for r in batch_of(None).receipts_json()]
    t, results = best_of(rep, lambda: kbi.verify_receipts(unsigned, threads=1))
    assert all(v.valid and v.signature == "absent" for v in results)
    report("verify", py_once, "unsigned receipts, threads=1", t)
    # A tampered receipt is caught by both sides.
    bad = json.loads(texts[5])
    bad["log"]["energy_kwh"] += 1
    assert not kbi.verify_receipt(bad).valid and not py_verify([json.dumps(bad).encode()], trusted, False)[0]

    if args.write:
        write_markdown(args.write, argv, n, rep, rows)
        print(f"results appended to {args.write}")
    return 0


def write_markdown(path: str, argv: List[str], n: int, rep: int, rows: List[Row]) -> None:
    import importlib.metadata as md

    def ver(p: str) -> str:
        try:
            return md.version(p)
        except md.PackageNotFoundError:
            return "?"

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines = [
        "",
        f"### Run of {dt.datetime.now(dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
        "",
        f"Command: `python benches/bench.py {' '.join(argv)}` (from `python/`, wheel built by maturin `--release`).",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, 1-minute load average {load:.1f} at the end; "
        f"CPython {platform.python_version()}; kwh_btc_iot {kbi.__version__}, rfc8785 {ver('rfc8785')}, "
        f"pymerkle {ver('pymerkle')}, cryptography {ver('cryptography')}; n = {n}, best wall time of {rep}.",
        "",
        "| task | kwh_btc_iot call | time (cpu) | pure Python (cpu) | ratio wall | ratio cpu |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for task, py, impl, rs in rows:
        lines.append(
            f"| {task} | `{impl}` | {rs.wall * 1000:.0f} ms ({rs.cpu * 1000:.0f}) | "
            f"{py.wall * 1000:.0f} ms ({py.cpu * 1000:.0f}) | {py.wall / rs.wall:.1f}x | {py.cpu / rs.cpu:.1f}x |"
        )
    with open(path, "a", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
