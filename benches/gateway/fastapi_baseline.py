"""The founding document's own design, as the baseline of the gateway benchmark:
FastAPI + Pydantic models, in-memory storage, sorted-keys JSON hashed with
SHA-256 for the leaf, a Merkle root on flush. Run with one uvicorn worker:

    uvicorn fastapi_baseline:app --workers 1 --port 8001 --no-access-log
"""
import hashlib
import json
import threading
from datetime import datetime, timezone
from typing import List, Literal, Optional

from fastapi import FastAPI
from pydantic import BaseModel


class Tx(BaseModel):
    unit: Literal["sats"] = "sats"
    price_sats_per_kwh: float
    amount_sats: int
    channel: Literal["ln", "onchain", "none"]
    settlement_status: str = "pending"
    ln_invoice_id: Optional[str] = None
    bitcoin_txid: Optional[str] = None


class EnergyLog(BaseModel):
    schema_version: Literal["emlog-1.1"]
    site_id: str
    iot_device_id: str
    meter_id: str
    ts_start: datetime
    ts_end: datetime
    interval_s: int
    energy_kwh: float
    power_kw_avg: Optional[float] = None
    status: str
    tags: List[str] = []
    tx: Tx


def leaf_hash(log: EnergyLog) -> str:
    canonical = json.dumps(log.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def merkle_root(leaves: List[str]) -> str:
    level = [bytes.fromhex(h) for h in leaves]
    if not level:
        return hashlib.sha256(b"").hexdigest()
    while len(level) > 1:
        nxt = []
        for i in range(0, len(level), 2):
            pair = level[i : i + 2]
            nxt.append(hashlib.sha256(pair[0] + pair[-1]).digest())
        level = nxt
    return level[0].hex()


app = FastAPI(title="kwh-btc-iot (founding design baseline)")
_lock = threading.Lock()
_logs: List[dict] = []
_unbatched: List[int] = []
_batches: List[dict] = []


@app.get("/health")
def health():
    return {"status": "ok"}


@app.post("/api/v1/logs")
def post_log(log: EnergyLog):
    h = leaf_hash(log)
    with _lock:
        log_id = len(_logs) + 1
        _logs.append({"log_id": log_id, "leaf_hash": h, "log": log})
        _unbatched.append(log_id)
    return {"log_id": log_id, "leaf_hash": h}


@app.get("/api/v1/logs")
def list_logs():
    return [{"log_id": l["log_id"], "leaf_hash": l["leaf_hash"]} for l in _logs]


@app.post("/api/v1/batches/flush")
def flush():
    with _lock:
        ids = list(_unbatched)
        _unbatched.clear()
    root = merkle_root([_logs[i - 1]["leaf_hash"] for i in ids])
    batch = {
        "batch_id": "batch_" + datetime.now(timezone.utc).strftime("%Y-%m-%dT%H-%M"),
        "log_count": len(ids),
        "merkle_root": root,
        "anchor_status": "pending",
    }
    _batches.append(batch)
    return batch


@app.get("/api/v1/batches")
def list_batches():
    return _batches
