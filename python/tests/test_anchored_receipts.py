"""Receipts with Bitcoin anchors: every case of tests/vectors/anchored_receipts.json
(OpenTimestamps and bitcoin anchors with regtest headers, heads chains,
pending and needs_header proofs, trusted headers, the ways each breaks), the
typed anchor results, the options' errors, and receipts from a real gateway
named by KWH_BTC_IOT_RECEIPTS_FILE."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, List

import pytest
from conftest import case_id, load_vectors

import kwh_btc_iot as kbi

VECTORS = load_vectors("anchored_receipts.json")
CASES: List[Dict[str, Any]] = VECTORS["cases"]


def _anchor_view(a: kbi.Anchor) -> Dict[str, Any]:
    return {
        "type": a.type,
        "status": a.status,
        "failed_step": a.failed_step,
        "height": a.height,
        "block_hash": a.block_hash,
        "anchored_head_hash": a.anchored_head_hash,
    }


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_anchored_receipt(case: Dict[str, Any]) -> None:
    v = kbi.verify_receipt(
        case["receipt"],
        gateway_key=case["gateway_key"],
        network=case["network"],
        headers=case["trusted_headers"],
    )
    assert v.valid is case["want_valid"], v.errors
    assert list(v.error_codes) == case["want_errors"]
    assert [e.member for e in v.errors] == case["want_error_members"]
    assert [_anchor_view(a) for a in v.anchors] == case["want_anchors"]
    for a in v.anchors:
        assert isinstance(a, kbi.Anchor) and a.detail
        if a.status == "verified":
            assert a.network == case["network"]
            assert isinstance(a.height, int) and isinstance(a.block_time, int)
            assert a.not_checked is not None and a.block_hash in a.not_checked
            assert a.txid is not None and len(a.txid) == 64
        if a.status == "invalid":
            assert a.failed_step and a.network == case["network"]
        if a.status == "pending":
            assert a.calendars == (VECTORS["calendar"],)
    # The same through the bulk call, with heights as int keys and bytes headers.
    headers = {int(h): bytes.fromhex(x) for h, x in case["trusted_headers"].items()}
    (bulk,) = kbi.verify_receipts(
        [case["receipt"]], bytes.fromhex(case["gateway_key"]), network=case["network"], headers=headers
    )
    assert bulk.to_json() == v.to_json()


def test_the_json_form_carries_the_anchor_members() -> None:
    case = CASES[0]
    v = kbi.verify_receipt(case["receipt"], network="regtest")
    a = v.to_dict()["anchors"][0]
    t = v.anchors[0]
    assert a["status"] == t.status == "verified"
    assert (a["height"], a["block_hash"], a["block_time"], a["txid"]) == (t.height, t.block_hash, t.block_time, t.txid)
    assert tuple(a["calendars"]) == t.calendars


def test_default_network_is_mainnet() -> None:
    v = kbi.verify_receipt(CASES[0]["receipt"])
    assert not v.valid
    assert (v.anchors[0].status, v.anchors[0].failed_step, v.anchors[0].network) == ("invalid", "header_pow", "mainnet")


def test_an_anchor_is_a_named_tuple_with_defaults() -> None:
    a = kbi.Anchor("future-chain", "unknown", "not checked")
    assert a.failed_step is None and a.calendars == () and a.height is None


@pytest.mark.parametrize(
    "kwargs, member, error",
    [
        ({"network": "moon"}, "network", kbi.ValidationError),
        ({"network": "Mainnet"}, "network", kbi.ValidationError),
        ({"headers": []}, "headers", kbi.ValidationError),
        ({"headers": {"0150": "00" * 80}}, "headers.0150", kbi.ValidationError),
        ({"headers": {"x": "00" * 80}}, "headers.x", kbi.ValidationError),
        ({"headers": {-1: "00" * 80}}, "headers.-1", kbi.ValidationError),
        ({"headers": {1.5: "00" * 80}}, "headers", kbi.ValidationError),
        ({"headers": {150: "00"}}, "headers.150", kbi.ValidationError),
        ({"headers": {150: "zz" * 80}}, "headers.150", kbi.ValidationError),
        ({"headers": {150: b"\0" * 79}}, "headers.150", kbi.ValidationError),
        ({"headers": {150: 5}}, "headers.150", kbi.ValidationError),
    ],
)
def test_bad_options_raise_naming_the_member(kwargs: Dict[str, Any], member: str, error: type) -> None:
    for call in (
        lambda: kbi.verify_receipt(CASES[0]["receipt"], **kwargs),
        lambda: kbi.verify_receipts([CASES[0]["receipt"]], **kwargs),
    ):
        with pytest.raises(error) as e:
            call()
        assert isinstance(e.value, kbi.KwhBtcIotError)
        assert e.value.member == member, e.value
        assert str(e.value).startswith(member), e.value


def test_receipts_from_a_gateway() -> None:
    """Every receipt (NDJSON) in $KWH_BTC_IOT_RECEIPTS_FILE is valid with a
    verified anchor under $KWH_BTC_IOT_NETWORK (default mainnet), signed by
    $KWH_BTC_IOT_GATEWAY_KEY when that is set."""
    path = os.environ.get("KWH_BTC_IOT_RECEIPTS_FILE")
    if not path:
        pytest.skip("KWH_BTC_IOT_RECEIPTS_FILE is not set: no receipts from a gateway to verify")
    network = os.environ.get("KWH_BTC_IOT_NETWORK", "mainnet")
    key = os.environ.get("KWH_BTC_IOT_GATEWAY_KEY") or None
    lines = [line for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    assert lines, f"{path} holds no receipts"
    for i, line in enumerate(lines):
        v = kbi.verify_receipt(line, key, network=network)
        assert v.valid, f"receipt {i} (line {i + 1}): {v.errors}"
        statuses = [a.status for a in v.anchors]
        assert "verified" in statuses, f"receipt {i} (line {i + 1}): anchors {[(a.type, a.status, a.detail) for a in v.anchors]}"
    assert all(json.loads(line).get("anchors") for line in lines)
