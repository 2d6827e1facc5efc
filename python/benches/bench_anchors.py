#!/usr/bin/env python3
"""Time verify_receipt of a signed receipt with an OpenTimestamps anchor and
its block header, in the wheel, next to the same receipt without anchor or
signature, under the rules that verify it (regtest: the header is mined at
the regtest target) and under mainnet's (refused at header_pow after all of
the anchor's work).

    python benches/bench_anchors.py [RECEIPT.json]

RECEIPT.json defaults to target/anchoring/receipt-ots-regtest.json, written by
the native benchmark (`cargo test --release -p kwh-btc-iot-core --test
anchoring -- --ignored --nocapture bench`), so that the three sides time the
same bytes; without it, the first case of tests/vectors/anchored_receipts.json
is used. Prints the best wall time of 5 runs and this thread's CPU time per call.
"""

from __future__ import annotations

import json
import sys
import time
import timeit
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import kwh_btc_iot as kbi

REPO = Path(__file__).resolve().parents[2]


def load(argv: List[str]) -> str:
    if len(argv) > 1:
        return Path(argv[1]).read_text(encoding="utf-8")
    p = REPO / "target/anchoring/receipt-ots-regtest.json"
    if p.is_file():
        return p.read_text(encoding="utf-8")
    doc = json.loads((REPO / "tests/vectors/anchored_receipts.json").read_text(encoding="utf-8"))
    text: str = doc["cases"][0]["receipt"]
    return text


def main(argv: List[str]) -> int:
    text = load(argv)
    r = json.loads(text)
    anchor = r["anchors"][0]
    assert anchor["type"] == "opentimestamps" and anchor.get("headers"), anchor
    headers: Dict[str, str] = anchor["headers"]
    bare = dict(r, anchors=[{k: v for k, v in anchor.items() if k != "headers"}])
    cases: List[Tuple[str, str, Dict[str, Any], Optional[str]]] = [
        ("signed, OTS anchor + header (regtest)", text, {"network": "regtest"}, "verified"),
        ("signed, OTS anchor, trusted header", json.dumps(bare), {"network": "regtest", "headers": headers}, "verified"),
        ("signed, OTS anchor + header (mainnet)", text, {}, "invalid"),
        ("signed, no anchor", json.dumps(dict(r, anchors=[])), {}, None),
        ("unsigned, OTS anchor + header (regtest)", json.dumps(dict(r, head_signature=None)), {"network": "regtest"}, "verified"),
        ("unsigned, no anchor", json.dumps(dict(r, head_signature=None, anchors=[])), {}, None),
    ]
    print(f"kwh_btc_iot {kbi.__version__}; receipt {len(text)} bytes")
    for name, t, opts, want in cases:
        v = kbi.verify_receipt(t, **opts)
        got = v.anchors[0].status if v.anchors else None
        assert got == want, (name, got, v.anchors)
        n = 20000
        wall = min(timeit.repeat(lambda: kbi.verify_receipt(t, **opts), number=n, repeat=5)) / n
        # CPU time of this thread: on a busy machine it counts the work, not the waiting.
        cpu = min(timeit.repeat(lambda: kbi.verify_receipt(t, **opts), number=n, repeat=5, timer=time.thread_time)) / n
        print("python verify_receipt, %-42s %8.2f µs wall (best) %8.2f µs CPU" % (name + ":", wall * 1e6, cpu * 1e6))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
