"""Third-party conformance data: RFC 8785 pairs from the reference
implementation (cyberphone/json-canonicalization) and RFC 9162 proof cases
from transparency-dev/merkle, negative cases included."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any, Dict, List

import pytest
from conftest import THIRD_PARTY

import kwh_btc_iot as kbi

JCS_INPUTS = sorted((THIRD_PARTY / "jcs" / "input").glob("*.json"))
INCLUSION = sorted((THIRD_PARTY / "rfc9162" / "inclusion").rglob("*.json"))
CONSISTENCY = sorted((THIRD_PARTY / "rfc9162" / "consistency").rglob("*.json"))


# One upstream case accepts equal 12-byte "roots" of equal-size trees. A root
# that is not a SHA-256 value cannot be a root here, so the core refuses it
# (deliberately stricter; core/tests/third_party.rs does the same).
STRICTER = {"sizes-are-equal-one-and-proof-is-empty.json"}


def rel(p: Path) -> str:
    return str(p.relative_to(THIRD_PARTY))


def test_vectors_are_there() -> None:
    assert len(JCS_INPUTS) >= 6
    assert len(INCLUSION) >= 50
    assert len(CONSISTENCY) >= 50


@pytest.mark.parametrize("path", JCS_INPUTS, ids=rel)
def test_jcs_reference_pairs(path: Path) -> None:
    want = (THIRD_PARTY / "jcs" / "output" / path.name).read_bytes()
    want_hex = (THIRD_PARTY / "jcs" / "outhex" / path.with_suffix(".txt").name).read_text()
    assert want.hex() == "".join(want_hex.split()).lower()
    text = path.read_bytes()
    assert kbi.canonicalize_json(text) == want
    assert kbi.canonicalize_json(text.decode("utf-8")) == want
    # Through Python objects too: json.loads, then the converter.
    assert kbi.canonicalize_json(json.loads(text)) == want


def b64(items: List[str]) -> List[bytes]:
    return [base64.b64decode(x) for x in items]


def load(path: Path) -> Dict[str, Any]:
    data: Dict[str, Any] = json.loads(path.read_text())
    return data


@pytest.mark.parametrize("path", INCLUSION, ids=rel)
def test_rfc9162_inclusion(path: Path) -> None:
    c = load(path)
    args = (
        base64.b64decode(c["leafHash"]),
        c["leafIdx"],
        c["treeSize"],
        b64(c["proof"] or []),
        base64.b64decode(c["root"]),
    )
    if c["wantErr"]:
        # Hashes that are not 32 bytes are rejected input, like bad proofs.
        with pytest.raises(kbi.MerkleError):
            kbi.verify_inclusion(*args)
    else:
        assert kbi.verify_inclusion(*args) is True
        # Hex works the same as raw bytes.
        hex_args = (args[0].hex(), args[1], args[2], [p.hex() for p in args[3]], args[4].hex())
        assert kbi.verify_inclusion(*hex_args) is True


@pytest.mark.parametrize("path", CONSISTENCY, ids=rel)
def test_rfc9162_consistency(path: Path) -> None:
    c = load(path)
    args = (c["size1"], c["size2"], base64.b64decode(c["root1"]), base64.b64decode(c["root2"]), b64(c["proof"] or []))
    if path.name in STRICTER:
        assert not c["wantErr"] and len(args[2]) != 32
        with pytest.raises(kbi.MerkleError) as info:
            kbi.verify_consistency(*args)
        assert info.value.code == "invalid_hex" and info.value.member == "root1"
    elif c["wantErr"]:
        with pytest.raises(kbi.MerkleError):
            kbi.verify_consistency(*args)
    else:
        assert kbi.verify_consistency(*args) is True
