"""Shared fixtures: where the conformance vectors are, and a guard that the
tests run against the installed wheel (not the source folder)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, List

import pytest

import kwh_btc_iot

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
VECTORS = REPO / "tests" / "vectors"


def _third_party() -> Path:
    """The third-party vectors: the repository's copy, else shared/ beside the checkout."""
    candidates = [
        os.environ.get("KWH_THIRD_PARTY_VECTORS"),
        str(VECTORS / "third_party"),
        str(REPO.parent / "shared" / "vectors"),
    ]
    for c in candidates:
        if c and (Path(c) / "jcs").is_dir() and (Path(c) / "rfc9162").is_dir():
            return Path(c)
    raise RuntimeError(f"third-party vectors not found in any of {candidates}")


THIRD_PARTY = _third_party()


def load_vectors(name: str) -> Dict[str, Any]:
    path = VECTORS / name
    with open(path, encoding="utf-8") as f:
        data: Dict[str, Any] = json.load(f)
    return data


def founding_example_text() -> str:
    for p in (VECTORS / "founding_example.json", REPO.parent / "shared" / "examples" / "canonical_log_example.json"):
        if p.is_file():
            return p.read_text(encoding="utf-8")
    raise RuntimeError("founding example not found")


def case_id(case: Dict[str, Any]) -> str:
    return str(case.get("desc", "case"))[:80]


def pytest_report_header(config: Any) -> List[str]:
    return [f"kwh_btc_iot {kwh_btc_iot.__version__} from {Path(kwh_btc_iot.__file__).parent}"]


@pytest.fixture(scope="session", autouse=True)
def _installed_package() -> None:
    # The native module must be importable: running from the source tree
    # without an installed wheel would fail every test with the same error.
    assert kwh_btc_iot._native.__version__ == kwh_btc_iot.__version__
