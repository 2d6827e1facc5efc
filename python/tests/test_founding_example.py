"""The project's founding example log, end to end."""

from __future__ import annotations

import hashlib
import json

import rfc8785
from conftest import founding_example_text

import kwh_btc_iot as kbi

LEAF = "fcfaf9b5e51b3c919213338d87566a3d7230ce7903f00ff4e41d8a93835aff21"
CANONICAL = (
    b'{"energy_kwh":12.34,"interval_s":300,"iot_device_id":"gw-PLANT01-003","meter_id":"MTR-001",'
    b'"power_kw_avg":2.47,"schema_version":"emlog-1.1","site_id":"PLANT-01","status":"ok","tags":["peak"],'
    b'"ts_end":"2025-12-01T10:15:00Z","ts_start":"2025-12-01T10:10:00Z","tx":{"amount_sats":1234,'
    b'"bitcoin_txid":null,"channel":"ln","ln_invoice_id":null,"price_sats_per_kwh":100,'
    b'"settlement_status":"pending","unit":"sats"}}'
)


def test_accepted_with_power_mismatch_warning() -> None:
    text = founding_example_text()
    n = kbi.normalize_with_warnings(text)
    assert [w.code for w in n.warnings] == ["power_mismatch"]
    assert n.warnings[0].member == "power_kw_avg"
    assert "power_kw_avg" in n.warnings[0].message
    assert n.log == json.loads(text)  # already normal: nothing added or changed


def test_canonical_bytes_and_leaf_hash() -> None:
    text = founding_example_text()
    for form in (text, text.encode(), json.loads(text), kbi.example_log()):
        assert kbi.canonicalize(form) == CANONICAL
        assert kbi.leaf_hash(form) == LEAF
    assert rfc8785.dumps(json.loads(text)) == CANONICAL
    assert hashlib.sha256(b"\x00" + CANONICAL).hexdigest() == LEAF


def test_one_log_batch_and_receipt() -> None:
    key = hashlib.sha256(b"test key").digest()
    batch = kbi.build_batch([founding_example_text()], gateway_id="gw-PLANT01", signing_key=key,
                            batch_id="b1", created_at="2025-12-01T10:20:00Z")
    assert batch.merkle_root == LEAF  # one leaf is its own root
    assert batch.warnings == [kbi.LogWarning(0, "power_mismatch", "power_kw_avg", batch.warnings[0].message)]
    receipt = batch.receipts[0]
    assert receipt["inclusion_path"] == [] and receipt["leaf_hash"] == LEAF
    v = kbi.verify_receipt(json.dumps(receipt), gateway_key=kbi.public_key(key))
    assert v.valid and v.signature == "valid" and v.leaf_hash == LEAF
    assert [w.code for w in v.warnings] == ["power_mismatch"]
