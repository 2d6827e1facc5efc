"""The facade and its stubs type-check under mypy --strict, and so does code
that uses them (the wheel ships py.typed and _native.pyi)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("mypy", reason="mypy is in python/requirements-dev.txt")

SAMPLE = '''
from typing import List, Optional
import kwh_btc_iot as kbi

h: str = kbi.leaf_hash(kbi.example_log())
hashed: kbi.HashedLogs = kbi.hash_logs([b"{}", "{}", {"a": 1}])
first: Optional[str] = hashed[0]
errors: List[kbi.LogError] = hashed.errors
tree = kbi.MerkleTree(hashed.ok)
proof: List[str] = tree.inclusion_proof(0)
batch = kbi.build_batch([kbi.example_log()], gateway_id="gw", signing_key=kbi.generate_signing_key())
v: kbi.Verification = kbi.verify_receipt(batch.receipts[0], gateway_key=batch.public_key)
ok: bool = v.valid
codes: List[str] = [e.code for e in v.errors]
v2 = kbi.verify_receipt(batch.receipts[0], network="regtest", headers={150: "00" * 80, "151": b"\\0" * 80})
anchor: kbi.Anchor = v2.anchors[0]
height: Optional[int] = anchor.height
block_hash: Optional[str] = anchor.block_hash
calendars: tuple[str, ...] = anchor.calendars
bulk: List[kbi.Verification] = kbi.verify_receipts([batch.receipts[0]], network="signet", headers={})
try:
    kbi.normalize("{}")
except kbi.ValidationError as e:
    member: Optional[str] = e.member
'''

BAD = '''
import kwh_btc_iot as kbi
n: int = kbi.leaf_hash({})
'''


def mypy(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "mypy", "--strict", "--no-error-summary", "--cache-dir", str(tmp_path / "cache"), *args]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=600)


def test_package_and_usage_type_check(tmp_path: Path) -> None:
    (tmp_path / "sample.py").write_text(SAMPLE)
    out = mypy(tmp_path, "-p", "kwh_btc_iot")
    assert out.returncode == 0, out.stdout + out.stderr
    out = mypy(tmp_path, "sample.py")
    assert out.returncode == 0, out.stdout + out.stderr


def test_wrong_usage_is_caught(tmp_path: Path) -> None:
    (tmp_path / "bad.py").write_text(BAD)
    out = mypy(tmp_path, "bad.py")
    assert out.returncode != 0 and "incompatible types" in out.stdout.lower()
