"""The Python API: conversions, bulk paths, batches and verification results."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, List

import pytest
import rfc8785

import kwh_btc_iot as kbi


def make_log(**members: Any) -> Any:
    """The founding example with power and amount left to be derived."""
    log = kbi.example_log()
    del log["power_kw_avg"]
    log["tx"] = {"price_sats_per_kwh": 100, "channel": "ln"}
    log.update(members)
    return log


def test_version_is_the_workspace_version() -> None:
    cargo = Path(__file__).resolve().parents[2] / "Cargo.toml"
    if cargo.is_file():
        text = cargo.read_text()
        section = text[text.index("[workspace.package]") :]
        version = section.split('version = "', 1)[1].split('"', 1)[0]
        assert kbi.__version__ == version


def test_numbers_come_back_as_int_when_whole_and_safe() -> None:
    n = kbi.normalize(make_log(energy_kwh=3.0, tx={"price_sats_per_kwh": 100.0, "channel": "ln"}))
    assert n["energy_kwh"] == 3 and type(n["energy_kwh"]) is int
    assert type(n["tx"]["price_sats_per_kwh"]) is int and type(n["interval_s"]) is int
    n = kbi.normalize(make_log(energy_kwh=1e-7))
    assert type(n["energy_kwh"]) is float and n["energy_kwh"] == 1e-7
    # Whole numbers beyond 2^53 stay floats; json.dumps keeps them canonical.
    big = {"schema_version": "emlog-1.1", "site_id": "S", "iot_device_id": "D", "meter_id": "M",
           "ts_start": "2025-01-01T00:00:00Z", "ts_end": "2025-01-01T01:00:00Z",
           "energy_kwh": 1e17, "status": "ok", "tx": {"price_sats_per_kwh": 0, "channel": "none"}}
    n = kbi.normalize(big)
    assert type(n["energy_kwh"]) is float
    assert kbi.canonicalize_json(json.dumps(n)) == kbi.canonicalize(big) == rfc8785.dumps(n)


def test_receipts_are_json_ready() -> None:
    batch = kbi.build_batch([make_log(energy_kwh=e) for e in (0, 0.5, 12.34, 1e-7)],
                           gateway_id="gw", signing_key=bytes(32), created_at="2025-12-01T10:20:00Z")
    for receipt, text in zip(batch.receipts, batch.receipts_json()):
        assert json.loads(json.dumps(receipt)) == receipt
        assert kbi.canonicalize_json(json.dumps(receipt)).decode() == text
        assert rfc8785.dumps(receipt).decode() == text
    assert batch.receipt(2) == batch.receipts[2]
    assert batch.inclusion_proof(3) == batch.receipts[3]["inclusion_path"]
    assert len(batch) == batch.log_count == 4
    assert "Batch(log_count=4" in repr(batch)


def test_batch_chain_and_defaults() -> None:
    import datetime as dt

    key = kbi.generate_signing_key()
    first = kbi.build_batch([kbi.example_log()], gateway_id="gw", signing_key=key)
    assert first.head["batch_id"] == "batch-1" and first.head["seq"] == 1
    assert first.head["prev_head_hash"] is None
    assert first.head["created_at"].endswith("Z")
    when = dt.datetime(2025, 12, 1, 11, 20, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    second = kbi.build_batch([kbi.example_log(), kbi.example_log(meter_id="M2")], gateway_id="gw",
                             signing_key=key.hex(), seq=2, prev_head_hash=first.head_hash, created_at=when)
    assert second.head["prev_head_hash"] == first.head_hash
    assert second.head["created_at"] == "2025-12-01T10:20:00Z"
    assert second.public_key == first.public_key == kbi.public_key(key)
    unsigned = kbi.build_batch([kbi.example_log()], gateway_id="gw", created_at=when)
    assert unsigned.signature is None and unsigned.public_key is None
    v = kbi.verify_receipt(unsigned.receipts[0])
    assert v.valid and v.signature == "absent" and v.signer is None
    v = kbi.verify_receipt(unsigned.receipts[0], gateway_key=bytes.fromhex(first.public_key))
    assert not v.valid and v.error_codes == ("missing_signature",)


def test_verification_is_frozen_and_comparable() -> None:
    batch = kbi.build_batch([kbi.example_log()], gateway_id="gw", signing_key=bytes(32),
                            created_at="2025-12-01T10:20:00Z")
    v = kbi.verify_receipt(batch.receipts[0])
    with pytest.raises(dataclasses.FrozenInstanceError):
        v.valid = False  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del v.errors  # type: ignore[misc]
    assert v == kbi.verify_receipt(batch.receipts_json()[0]) and hash(v) == hash(kbi.verify_receipt(batch.receipts[0]))
    assert v.signer == batch.public_key and v.head_hash == batch.head_hash
    assert v.merkle_root == batch.merkle_root and v.leaf_hash == batch.leaf_hashes[0]
    assert v.log_signature == "absent" and v.anchors == ()
    assert [w.code for w in v.warnings] == ["power_mismatch"]
    d = v.to_dict()
    assert d["valid"] is True and d["signature"] == "valid" and len(d["steps"]) == 7
    assert json.loads(v.to_json()) == d
    assert repr(v) == "Verification(valid=True, signature='valid', errors=[])"


def test_anchor_results() -> None:
    batch = kbi.build_batch([kbi.example_log()], gateway_id="gw", created_at="2025-12-01T10:20:00Z")
    r = batch.receipts[0]
    r["anchors"] = [{"type": "future-chain", "height": 1}]
    v = kbi.verify_receipt(r)
    assert v.valid and v.anchors == (kbi.Anchor("future-chain", "unknown", v.anchors[0].detail),)


def test_hashed_logs() -> None:
    logs: List[Any] = [kbi.example_log(), "{", kbi.example_log(meter_id="M2"), b"[]", {"x": float("inf")}]
    hashed = kbi.hash_logs(logs)
    assert isinstance(hashed, list) and len(hashed) == 5
    assert hashed[0] == kbi.leaf_hash(logs[0]) and hashed[2] == kbi.leaf_hash(logs[2])
    assert hashed[1] is None and hashed[3] is None and hashed[4] is None
    assert [(e.index, e.code) for e in hashed.errors] == [(1, "invalid_json"), (3, "invalid_type"), (4, "number_out_of_range")]
    index, code, message = hashed.errors[0]  # plain (index, code, message) tuples
    assert message.startswith("invalid JSON")
    assert hashed.ok == [hashed[0], hashed[2]] and hashed.root == kbi.merkle_root(hashed.ok)
    empty = kbi.hash_logs([])
    assert list(empty) == [] and empty.errors == [] and empty.root == kbi.MerkleTree([]).root
    assert list(kbi.hash_logs(iter(logs[:1]))) == [hashed[0]]  # any iterable


def test_hash_jsonl_file(tmp_path: Path) -> None:
    good = json.dumps(kbi.example_log())
    text = f"{good}\r\n\n   \n{{broken\n{good}\n"
    path = tmp_path / "logs.jsonl"
    path.write_text(text)
    for source in (path, str(path), text.encode(), bytearray(text.encode()), memoryview(text.encode())):
        hashed = kbi.hash_jsonl(source)
        assert list(hashed) == [kbi.leaf_hash(good), None, kbi.leaf_hash(good)]
        assert hashed.errors == [kbi.LogError(1, "invalid_json", hashed.errors[0].message)]
        assert hashed.errors[0].message.startswith("line 4: ")
    assert list(kbi.hash_jsonl(b"")) == []


def test_threads_give_the_same_results() -> None:
    logs = [json.dumps(make_log(energy_kwh=i / 8)) for i in range(5000)]
    logs[1234] = "{}"
    one = kbi.hash_logs(logs, threads=1)
    many = kbi.hash_logs(logs, threads=3)
    default = kbi.hash_logs(logs)
    assert list(one) == list(many) == list(default)
    assert one.errors == many.errors and [e.index for e in one.errors] == [1234]
    assert one.root == many.root
    jsonl = "\n".join(logs).encode()
    assert list(kbi.hash_jsonl(jsonl, threads=1)) == list(kbi.hash_jsonl(jsonl, threads=4)) == list(one)


def test_concurrent_callers() -> None:
    logs = [make_log(energy_kwh=i) for i in range(3000)]
    want = list(kbi.hash_logs(logs, threads=1))
    results: List[Any] = [None] * 4

    def work(i: int) -> None:
        results[i] = list(kbi.hash_logs(logs))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [want] * 4


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs a named pipe")
def test_hash_jsonl_releases_the_gil(tmp_path: Path) -> None:
    # hash_jsonl(path) reads the file with the GIL released. Reading a named
    # pipe blocks until a Python thread has written it: with the GIL held
    # that thread could never run and the call would never return. The
    # subprocess timeout only turns such a hang into a failure.
    script = f"""
import json, os, threading, kwh_btc_iot as kbi
fifo = {str(tmp_path / "pipe")!r}
os.mkfifo(fifo)
def writer():
    with open(fifo, "w") as f:
        f.write(json.dumps(kbi.example_log()) + "\\n")
threading.Thread(target=writer).start()
print(kbi.hash_jsonl(fifo)[0])
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == kbi.leaf_hash(kbi.example_log())


def test_typing_files_are_installed() -> None:
    pkg = Path(kbi.__file__).parent
    assert (pkg / "py.typed").is_file()
    assert (pkg / "_native.pyi").is_file()
    assert kbi._native.__name__ == "kwh_btc_iot._native"
    assert set(kbi.__all__) <= set(dir(kbi))
