#!/usr/bin/env python3
"""Time receipt verification with an OpenTimestamps anchor in the Python wheel.

    python bench_python.py target/anchoring/receipt-ots-regtest.json

The receipt is written by the Rust benchmark (`cargo test --release -p
kwh-btc-iot-core --test anchoring -- --ignored bench`): a signed receipt whose
`opentimestamps` anchor carries its proof and the block header (mined at the
regtest target). The wheel's verify_receipt uses the mainnet rules, so the
anchor is refused at `header_pow` after all of its work (decode, parse,
replay, proof of work): the same cost as a verified mainnet anchor. The same
receipt without its anchor and without its signature is timed for comparison.
"""
import json
import sys
import time
import timeit

import kwh_btc_iot as kbi

path = sys.argv[1]
text = open(path).read()
r = json.loads(text)
plain = dict(r, anchors=[])
unsigned = dict(r, head_signature=None)
unsigned_plain = dict(r, head_signature=None, anchors=[])
cases = [
    ('signed, OTS anchor + header', text),
    ('signed, no anchor', json.dumps(plain)),
    ('unsigned, OTS anchor + header', json.dumps(unsigned)),
    ('unsigned, no anchor', json.dumps(unsigned_plain)),
]
v = kbi.verify_receipt(text)
anchor = v.anchors[0]
assert anchor[0] == 'opentimestamps' and anchor[1] == 'invalid' and 'proof-of-work limit' in anchor[2], anchor
for name, t in cases:
    n = 20000
    wall = min(timeit.repeat(lambda: kbi.verify_receipt(t), number=n, repeat=5)) / n
    # CPU time of this thread: on a busy machine it counts the work, not the waiting.
    cpu = min(timeit.repeat(lambda: kbi.verify_receipt(t), number=n, repeat=5, timer=time.thread_time)) / n
    print('python verify_receipt, %-32s %8.2f µs wall (best) %8.2f µs CPU' % (name + ':', wall * 1e6, cpu * 1e6))
