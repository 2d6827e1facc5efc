"""kwh-btc-iot for Python: energy logs to signed, Bitcoin-anchorable batches
and receipts that verify offline.

A typed facade over the Rust core (the private ``kwh_btc_iot._native``), so a
data pipeline gets exactly the bytes, hashes and verdicts that the gateway,
the browser and the mobile apps get.

>>> import kwh_btc_iot as kbi
>>> log = kbi.example_log()                       # the founding example
>>> kbi.leaf_hash(log)[:16]
'fcfaf9b5e51b3c91'
>>> batch = kbi.build_batch([log], gateway_id="gw-1", signing_key=bytes(32),
...                         created_at="2025-12-01T10:20:00Z")
>>> kbi.verify_receipt(batch.receipts[0]).valid
True
"""

from __future__ import annotations

from . import _native
from ._api import (
    HashInput,
    HeadersInput,
    JsonInput,
    KeyInput,
    build_batch,
    canonicalize,
    canonicalize_json,
    example_log,
    generate_signing_key,
    hash_jsonl,
    hash_logs,
    leaf_hash,
    merkle_root,
    normalize,
    normalize_with_warnings,
    public_key,
    verify_consistency,
    verify_inclusion,
    verify_receipt,
    verify_receipts,
)
from ._errors import (
    CODE_FAMILIES,
    CryptoError,
    ErrorCode,
    JsonError,
    KwhBtcIotError,
    MerkleError,
    ValidationError,
)
from ._types import (
    Anchor,
    Batch,
    HashedLogs,
    LogError,
    LogWarning,
    MerkleTree,
    Normalized,
    Step,
    Verification,
    VerifyError,
    Warning,
)

#: The package version: the Rust workspace's version.
__version__: str = _native.__version__

__all__ = [
    "__version__",
    # functions
    "normalize",
    "normalize_with_warnings",
    "canonicalize",
    "canonicalize_json",
    "leaf_hash",
    "hash_logs",
    "hash_jsonl",
    "merkle_root",
    "verify_inclusion",
    "verify_consistency",
    "build_batch",
    "public_key",
    "generate_signing_key",
    "verify_receipt",
    "verify_receipts",
    "example_log",
    "CODE_FAMILIES",
    "ErrorCode",
    # types
    "MerkleTree",
    "Batch",
    "Verification",
    "HashedLogs",
    "Normalized",
    "Warning",
    "LogWarning",
    "LogError",
    "VerifyError",
    "Step",
    "Anchor",
    "JsonInput",
    "HashInput",
    "KeyInput",
    "HeadersInput",
    # errors
    "KwhBtcIotError",
    "JsonError",
    "ValidationError",
    "MerkleError",
    "CryptoError",
]
