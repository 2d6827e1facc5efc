"""The functions of :mod:`kwh_btc_iot`: thin, typed wrappers over the Rust core."""

from __future__ import annotations

import copy
import datetime as _dt
import os
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Union

from . import _native
from ._errors import ValidationError
from ._types import Batch, HashedLogs, LogError, Normalized, Verification, Warning

__all__ = [
    "JsonInput",
    "HashInput",
    "KeyInput",
    "HeadersInput",
    "example_log",
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
]

#: JSON given as text (``str``, ``bytes``, ``bytearray``, ``memoryview``) or as a
#: Python value (``dict``, ``list``, ``tuple``, ``int``, ``float``, ``bool``, ``None``).
#: Text is parsed by the core's strict I-JSON parser; a Python value is written
#: out as RFC 8785 text first, so both go through the same rules.
JsonInput = Union[Mapping[str, Any], Sequence[Any], str, bytes, bytearray, memoryview, int, float, bool, None]
#: A hash: 64 lowercase hex characters, or the 32 raw bytes.
HashInput = Union[str, bytes]
#: An Ed25519 key: 32 raw bytes or 64 hex characters.
KeyInput = Union[str, bytes]
#: Block headers the caller trusts, by height: ``{height: 160 hex or 80 bytes}``.
HeadersInput = Mapping[Union[int, str], Union[str, bytes]]

_EXAMPLE_LOG: Dict[str, Any] = {
    "schema_version": "emlog-1.1",
    "site_id": "PLANT-01",
    "iot_device_id": "gw-PLANT01-003",
    "meter_id": "MTR-001",
    "ts_start": "2025-12-01T10:10:00Z",
    "ts_end": "2025-12-01T10:15:00Z",
    "interval_s": 300,
    "energy_kwh": 12.34,
    "power_kw_avg": 2.47,
    "status": "ok",
    "tags": ["peak"],
    "tx": {
        "unit": "sats",
        "price_sats_per_kwh": 100,
        "amount_sats": 1234,
        "channel": "ln",
        "settlement_status": "pending",
        "ln_invoice_id": None,
        "bitcoin_txid": None,
    },
}


def example_log(**overrides: Any) -> Dict[str, Any]:
    """The project's founding example log (a fresh dict), with top-level
    members replaced by ``overrides``. Handy for trying things out.

    >>> example_log()["energy_kwh"]
    12.34
    >>> example_log(meter_id="MTR-002")["meter_id"]
    'MTR-002'
    """
    log = copy.deepcopy(_EXAMPLE_LOG)
    log.update(overrides)
    return log


def normalize(log: JsonInput) -> Dict[str, Any]:
    """Validates an ``emlog-1.1`` log and returns its normalized form: every
    member present (derived and defaulted ones filled in), timestamps in UTC.

    Numbers that are whole and within ±2^53 come back as ``int``, others as
    ``float``, so ``json.dumps`` of the result canonicalizes to the log's
    canonical bytes.

    Raises :class:`JsonError` for input that is not I-JSON and
    :class:`ValidationError` for an invalid log; both name the member and the rule.

    >>> log = {"schema_version": "emlog-1.1", "site_id": "S", "iot_device_id": "D",
    ...        "meter_id": "M", "ts_start": "2025-12-01T11:10:00+01:00",
    ...        "ts_end": "2025-12-01T10:15:00Z", "energy_kwh": 1.5, "status": "ok",
    ...        "tx": {"price_sats_per_kwh": 100, "channel": "ln"}}
    >>> n = normalize(log)
    >>> n["ts_start"], n["interval_s"], n["power_kw_avg"], n["tx"]["amount_sats"]
    ('2025-12-01T10:10:00Z', 300, 18, 150)
    >>> normalize(dict(log, colour="red"))
    Traceback (most recent call last):
    ...
    kwh_btc_iot.ValidationError: colour: is not a member of emlog-1.1 ...
    """
    return _native.normalize(log)[0]


def normalize_with_warnings(log: JsonInput) -> Normalized:
    """Like :func:`normalize`, and also returns the plausibility warnings
    (findings that do not reject the log).

    >>> n = normalize_with_warnings(example_log())  # 2.47 kW is not 12.34 kWh over 5 minutes
    >>> [w.code for w in n.warnings], n.warnings[0].member
    (['power_mismatch'], 'power_kw_avg')
    """
    log_dict, warnings = _native.normalize(log)
    return Normalized(log_dict, [Warning(*w) for w in warnings])


def canonicalize(log: JsonInput) -> bytes:
    """The canonical bytes of a log: RFC 8785 (JCS) of its normalized form.

    >>> canonicalize(example_log())[:60]
    b'{"energy_kwh":12.34,"interval_s":300,"iot_device_id":"gw-PLA'
    >>> canonicalize('{"schema_version": "emlog-1.1"')
    Traceback (most recent call last):
    ...
    kwh_btc_iot.JsonError: invalid JSON at byte 30: ...
    """
    return _native.canonicalize(log)


def canonicalize_json(value: JsonInput) -> bytes:
    """RFC 8785 canonicalization of any I-JSON value, given as JSON text or
    as a Python value. Duplicate members, lone surrogates and numbers outside
    the double range raise :class:`JsonError`.

    A ``str`` is JSON *text*: to canonicalize the JSON string ``"abc"``, pass
    ``'"abc"'`` (or ``json.dumps("abc")``).

    >>> canonicalize_json('{"b": 1.0E2, "a": [true, null, "\\u00e9"]}')
    b'{"a":[true,null,"\\xc3\\xa9"],"b":100}'
    >>> canonicalize_json({"z": 1e21, "y": 0.1, "x": -0.0})
    b'{"x":0,"y":0.1,"z":1e+21}'
    >>> canonicalize_json({"x": float("nan")})
    Traceback (most recent call last):
    ...
    kwh_btc_iot.JsonError: x: NaN is not a finite number; JSON has no NaN or Infinity
    """
    return _native.canonicalize_json(value)


def leaf_hash(log: JsonInput) -> str:
    """The leaf hash of a log: SHA-256(0x00 || canonical bytes), 64 lowercase hex.

    Anyone can recompute it without this package:
    ``hashlib.sha256(b"\\x00" + rfc8785.dumps(normalize(log))).hexdigest()``.

    >>> import hashlib
    >>> h = leaf_hash(example_log())
    >>> h
    'fcfaf9b5e51b3c919213338d87566a3d7230ce7903f00ff4e41d8a93835aff21'
    >>> h == hashlib.sha256(b"\\x00" + canonicalize(example_log())).hexdigest()
    True
    """
    return _native.leaf_hash(log)


def _hashed(result: Any) -> HashedLogs:
    hashes, errors, root = result
    return HashedLogs(hashes, [LogError(*e) for e in errors], root)


def hash_logs(logs: Iterable[JsonInput], *, threads: Optional[int] = None) -> HashedLogs:
    """Leaf hashes of many logs (dicts, JSON ``str`` or ``bytes``), in order.

    The hashing runs with the GIL released, on ``threads`` threads (default:
    one per core; ``1`` for the calling thread only). A log that fails does not
    stop the others: its entry is ``None`` and ``errors`` says why.

    >>> logs = [example_log(), '{"not": "a log"}', example_log(meter_id="MTR-002")]
    >>> hashed = hash_logs(logs)
    >>> [h[:8] if h else h for h in hashed]
    ['fcfaf9b5', None, 'fc894fb1']
    >>> hashed.errors
    [LogError(index=1, code='unknown_member', message='not: is not a member of emlog-1.1 ...')]
    >>> hashed.root == merkle_root(hashed.ok)
    True
    """
    return _hashed(_native.hash_logs(logs, threads))


def hash_jsonl(source: Union[str, "os.PathLike[str]", bytes, bytearray, memoryview], *, threads: Optional[int] = None) -> HashedLogs:
    """Leaf hashes of a JSON Lines file (a path) or text (``bytes``), one log
    per line; blank lines are skipped. Errors carry the index among the
    non-blank lines and name the line number in their message. The file is
    read and hashed with the GIL released.

    >>> import json
    >>> text = (json.dumps(example_log()) + "\\n\\n" + "{oops\\n").encode()
    >>> hashed = hash_jsonl(text)
    >>> len(hashed), hashed.errors[0].index, hashed.errors[0].code
    (2, 1, 'invalid_json')
    >>> hashed.errors[0].message.startswith("line 3: ")
    True
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        return _hashed(_native.hash_jsonl_bytes(bytes(source), threads))
    return _hashed(_native.hash_jsonl_path(os.fspath(source), threads))


def merkle_root(leaf_hashes: Iterable[HashInput]) -> str:
    """The RFC 9162 root over leaf hashes, without keeping the tree.

    >>> merkle_root([])
    'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'
    >>> merkle_root(["00" * 32])  # a single leaf is its own root
    '0000000000000000000000000000000000000000000000000000000000000000'
    """
    return _native.merkle_root(leaf_hashes)


def verify_inclusion(leaf_hash: HashInput, index: int, size: int, path: Iterable[HashInput], root: HashInput) -> bool:
    """Verifies an RFC 9162 inclusion proof. Returns ``True``; raises
    :class:`MerkleError` when the proof does not lead to ``root`` (``invalid_proof``),
    the index is outside the tree (``index_out_of_range``) or a hash is
    malformed (``invalid_hex``).

    >>> import hashlib
    >>> leaves = [hashlib.sha256(b"\\x00" + d).digest() for d in (b"a", b"b", b"c")]
    >>> tree = MerkleTree(leaves)
    >>> verify_inclusion(leaves[2], 2, 3, tree.inclusion_proof(2), tree.root)
    True
    >>> verify_inclusion(leaves[1], 2, 3, tree.inclusion_proof(2), tree.root)
    Traceback (most recent call last):
    ...
    kwh_btc_iot.MerkleError: inclusion_path: leads to root ... instead of ...
    """
    return _native.verify_inclusion(leaf_hash, index, size, path, root)


def verify_consistency(size1: int, size2: int, root1: HashInput, root2: HashInput, proof: Iterable[HashInput]) -> bool:
    """Verifies an RFC 9162 consistency proof between a tree of ``size1``
    leaves with ``root1`` and one of ``size2`` leaves with ``root2``. Returns
    ``True``; raises :class:`MerkleError` (``invalid_proof``) otherwise.

    >>> leaves = ["%064x" % i for i in range(7)]
    >>> old, new = MerkleTree(leaves[:3]), MerkleTree(leaves)
    >>> verify_consistency(3, 7, old.root, new.root, new.consistency_proof(3))
    True
    >>> verify_consistency(3, 7, new.root, old.root, new.consistency_proof(3))
    Traceback (most recent call last):
    ...
    kwh_btc_iot.MerkleError: consistency_proof: ...
    """
    return _native.verify_consistency(size1, size2, root1, root2, proof)


def _timestamp(created_at: Union[None, str, _dt.datetime]) -> str:
    if created_at is None:
        return _dt.datetime.now(_dt.timezone.utc).isoformat()
    if isinstance(created_at, _dt.datetime):
        if created_at.tzinfo is None or created_at.utcoffset() is None:
            raise ValidationError(
                "created_at: must be a timezone-aware datetime (naive datetimes have no UTC instant)",
                "invalid_timestamp",
                "created_at",
            )
        return created_at.isoformat()
    return created_at


def build_batch(
    logs: Iterable[JsonInput],
    *,
    gateway_id: str,
    signing_key: Optional[KeyInput] = None,
    batch_id: Optional[str] = None,
    seq: int = 1,
    prev_head_hash: Optional[HashInput] = None,
    created_at: Union[None, str, _dt.datetime] = None,
) -> Batch:
    """Builds an ``embatch-1`` batch over logs (dicts, JSON ``str`` or ``bytes``)
    and a receipt for each, with the GIL released.

    Args:
        logs: the logs, in the order the gateway accepted them.
        gateway_id: the gateway's id (1..128 characters).
        signing_key: the gateway's Ed25519 key (32-byte seed or 64 hex); ``None`` leaves the head unsigned.
        batch_id: unique per gateway; default ``"batch-<seq>"``.
        seq: 1, 2, 3, ... per gateway.
        prev_head_hash: the previous head's hash; required exactly when ``seq > 1``.
        created_at: RFC 3339 text or an aware ``datetime``; default: now.

    The first invalid log stops the build: the error's ``member`` starts with
    ``[index]``.

    >>> key = bytes(range(32))
    >>> batch = build_batch([example_log(), example_log(meter_id="MTR-002")], gateway_id="gw-1",
    ...                     signing_key=key, batch_id="b-1", created_at="2025-12-01T10:20:00Z")
    >>> batch.head["log_count"], batch.head["merkle_root"] == merkle_root(batch.leaf_hashes)
    (2, True)
    >>> batch.public_key == public_key(key)
    True
    >>> receipt = batch.receipts[1]
    >>> receipt["leaf_index"], receipt["log"]["meter_id"]
    (1, 'MTR-002')
    >>> verify_receipt(receipt, gateway_key=batch.public_key).valid
    True
    >>> build_batch([example_log(energy_kwh=-1)], gateway_id="gw-1")
    Traceback (most recent call last):
    ...
    kwh_btc_iot.ValidationError: log 0: energy_kwh: ...
    """
    native = _native.build_batch(
        logs,
        gateway_id=gateway_id,
        batch_id=batch_id if batch_id is not None else f"batch-{seq}",
        seq=seq,
        prev_head_hash=prev_head_hash,
        created_at=_timestamp(created_at),
        signing_key=signing_key,
    )
    return Batch(native)


def public_key(signing_key: KeyInput) -> str:
    """The Ed25519 public key (64 hex) of a signing key (32-byte seed or 64 hex).

    >>> public_key(bytes(32))
    '3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29'
    """
    return _native.public_key(signing_key)


def generate_signing_key() -> bytes:
    """A new random 32-byte Ed25519 seed from the operating system's CSPRNG.
    Keep it secret; publish :func:`public_key` of it.

    >>> len(generate_signing_key())
    32
    """
    return os.urandom(32)


def verify_receipt(
    receipt: JsonInput,
    gateway_key: Optional[KeyInput] = None,
    *,
    network: str = "mainnet",
    headers: Optional[HeadersInput] = None,
) -> Verification:
    """Verifies an ``emreceipt-1`` receipt (a dict, or JSON ``str``/``bytes``),
    offline. Never raises for a malformed receipt: the result is invalid and
    its ``errors`` say why. ``gateway_key`` (64 hex or 32 bytes) is the key you
    trust; when given, the head must be signed by it. A malformed
    ``gateway_key`` raises :class:`CryptoError`.

    Anchors (``v.anchors``, each an :class:`Anchor`) are checked with the
    proof-of-work rules of ``network`` (``mainnet``, ``testnet``, ``signet``
    or ``regtest``) and against ``headers``, block headers you trust, by
    height (``{height: header}``, the header as 160 hex characters or 80
    bytes; they take precedence over headers carried in the receipt). A bad
    ``network`` or header raises :class:`ValidationError` naming it
    (``network``, ``headers.<height>``).

    >>> batch = build_batch([example_log()], gateway_id="gw-1", signing_key=bytes(32),
    ...                     created_at="2025-12-01T10:20:00Z")
    >>> v = verify_receipt(batch.receipts[0])
    >>> v.valid, v.signature, v.errors
    (True, 'valid', ())
    >>> [s.name for s in v.steps]
    ['parse', 'leaf_hash', 'inclusion', 'head', 'signature', 'log_signature', 'anchors']
    >>> v = verify_receipt(batch.receipts[0], gateway_key=public_key(bytes(range(32))))
    >>> v.valid, v.signature, v.error_codes
    (False, 'untrusted_key', ('untrusted_key',))
    >>> verify_receipt("{not json").error_codes
    ('invalid_json',)
    >>> verify_receipt(batch.receipts[0], network="moon")
    Traceback (most recent call last):
    ...
    kwh_btc_iot.ValidationError: network: "moon" is not mainnet, testnet, signet or regtest
    """
    return Verification(_native.verify_receipt(receipt, gateway_key, network, headers))


def verify_receipts(
    receipts: Iterable[JsonInput],
    gateway_key: Optional[KeyInput] = None,
    *,
    threads: Optional[int] = None,
    network: str = "mainnet",
    headers: Optional[HeadersInput] = None,
) -> List[Verification]:
    """Verifies many receipts, in order, with the GIL released and on
    ``threads`` threads (default: one per core). Like :func:`verify_receipt`,
    a malformed receipt gives an invalid result, never an exception;
    ``network`` and ``headers`` are as there.

    >>> batch = build_batch([example_log(), example_log(meter_id="X")], gateway_id="gw-1",
    ...                     created_at="2025-12-01T10:20:00Z")
    >>> [v.valid for v in verify_receipts(batch.receipts_json() + ["[]"])]
    [True, True, False]
    """
    return [Verification(v) for v in _native.verify_receipts(receipts, gateway_key, threads, network, headers)]


# The MerkleTree class is used in the doctests above.
from ._types import MerkleTree  # noqa: E402
