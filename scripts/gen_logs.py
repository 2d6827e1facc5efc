#!/usr/bin/env python3
"""Writes N distinct emlog-1.1 logs as JSON Lines (for benchmarks and e2e tests)."""
import json
import sys

n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
out = sys.stdout
base_ts = 1764583800  # 2025-12-01T10:10:00Z
for i in range(n):
    start = base_ts + (i // 50) * 300
    t0 = "%04d-%02d-%02dT%02d:%02d:%02dZ"
    import time as _t
    s = _t.gmtime(start)
    e = _t.gmtime(start + 300)
    energy = round(0.5 + (i % 997) * 0.013, 3)
    log = {
        "schema_version": "emlog-1.1",
        "site_id": "PLANT-%02d" % (i % 7),
        "iot_device_id": "gw-PLANT%02d-%03d" % (i % 7, i % 50),
        "meter_id": "MTR-%06d" % (i % 50),
        "ts_start": t0 % s[:6],
        "ts_end": t0 % e[:6],
        "interval_s": 300,
        "energy_kwh": energy,
        "status": "ok",
        "tags": ["peak"] if i % 3 == 0 else [],
        "tx": {"unit": "sats", "price_sats_per_kwh": 100, "channel": "ln", "settlement_status": "pending"},
    }
    out.write(json.dumps(log, separators=(",", ":")) + "\n")
