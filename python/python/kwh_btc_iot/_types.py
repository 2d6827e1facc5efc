"""Result types: small, immutable, typed views over the core's results."""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING, Any, Dict, Iterable, List, NamedTuple, Optional, Tuple

from . import _native

if TYPE_CHECKING:  # pragma: no cover
    from ._native import Batch as _NativeBatch
    from ._native import MerkleTree as _NativeTree
    from ._native import Verification as _NativeVerification

__all__ = [
    "Warning",
    "LogWarning",
    "LogError",
    "VerifyError",
    "Step",
    "Anchor",
    "Normalized",
    "HashedLogs",
    "MerkleTree",
    "Batch",
    "Verification",
]


class Warning(NamedTuple):  # noqa: A001 - the core's name for it
    """A plausibility finding that did not reject the log (e.g. ``power_mismatch``)."""

    code: str
    member: str
    message: str


class LogWarning(NamedTuple):
    """A :class:`Warning` about the log at ``index`` of a batch."""

    index: int  # type: ignore[assignment]  # shadows tuple.index on purpose
    code: str
    member: str
    message: str


class LogError(NamedTuple):
    """Why the item at ``index`` of a bulk call failed; ``code`` is a shared error code."""

    index: int  # type: ignore[assignment]  # shadows tuple.index on purpose
    code: str
    message: str


class VerifyError(NamedTuple):
    """One failed check of a receipt verification."""

    code: str
    message: str
    member: Optional[str]


class Step(NamedTuple):
    """One step of a receipt verification: ``status`` is passed, failed or skipped."""

    name: str
    status: str
    detail: str


class Anchor(NamedTuple):
    """The state of one anchor of a receipt, as the core reports it.

    Attributes:
        type: the anchor's ``type`` (``opentimestamps``, ``bitcoin``, or another).
        status: ``verified``, ``pending``, ``needs_header``, ``invalid``,
            ``unknown`` or ``not_checked``.
        detail: one sentence for people.
        failed_step: when invalid, the step that failed (``format``,
            ``network``, ``head_chain``, ``ots_parse``, ``ots_digest``,
            ``ots_replay``, ``header``, ``header_pow``, ``merkle_root``,
            ``raw_tx``, ``tx_commitment``, ``merkle_proof``, ``tx_inclusion``).
        network: the network whose proof-of-work rules were applied.
        anchored_head_hash: the head hash the anchor commits to (the
            receipt's, or the last of the anchor's ``heads`` chain).
        height: the block height (verified: the attested block;
            needs_header: the block whose header is missing).
        block_hash: the block hash (display hex): check it is block
            ``height`` of the best chain with a node or explorer you trust.
        block_time: the header's time, Unix seconds.
        txid: the Bitcoin transaction carrying the commitment, when known.
        calendars: the calendars holding pending attestations.
        not_checked: what the verifier did not check, in words.
    """

    type: str
    status: str
    detail: str
    failed_step: Optional[str] = None
    network: Optional[str] = None
    anchored_head_hash: Optional[str] = None
    height: Optional[int] = None
    block_hash: Optional[str] = None
    block_time: Optional[int] = None
    txid: Optional[str] = None
    calendars: Tuple[str, ...] = ()
    not_checked: Optional[str] = None


class Normalized(NamedTuple):
    """A normalized log (a JSON-ready dict) and the warnings found on the way."""

    log: Dict[str, Any]
    warnings: List[Warning]


class HashedLogs(List[Optional[str]]):
    """The leaf hashes of a bulk hashing call: a list with one entry per input,
    the 64-hex leaf hash or ``None`` where that input failed.

    Attributes:
        errors: a :class:`LogError` ``(index, code, message)`` per failed input.
        root: the RFC 9162 root over the leaf hashes that succeeded, in order
            (the ``merkle_root`` a batch of exactly those logs would have).
    """

    errors: List[LogError]
    root: str

    def __init__(self, hashes: Iterable[Optional[str]], errors: Iterable[LogError], root: str) -> None:
        super().__init__(hashes)
        self.errors = list(errors)
        self.root = root

    @property
    def ok(self) -> List[str]:
        """The leaf hashes that succeeded, in input order."""
        return [h for h in self if h is not None]

    def __repr__(self) -> str:
        return f"HashedLogs({len(self)} items, {len(self.errors)} errors, root={self.root!r})"


class MerkleTree:
    """An RFC 9162 Merkle tree over leaf hashes (64-hex strings or 32-byte values).

    >>> import hashlib
    >>> from kwh_btc_iot import MerkleTree, merkle_root, verify_inclusion, verify_consistency
    >>> leaves = [hashlib.sha256(b"\\x00" + bytes([i])).hexdigest() for i in range(5)]
    >>> tree = MerkleTree(leaves)
    >>> tree.size, len(tree)
    (5, 5)
    >>> tree.root == merkle_root(leaves)
    True
    >>> proof = tree.inclusion_proof(3)
    >>> verify_inclusion(leaves[3], 3, tree.size, proof, tree.root)
    True
    >>> old = MerkleTree(leaves[:2])
    >>> verify_consistency(2, 5, old.root, tree.root, tree.consistency_proof(2))
    True
    >>> MerkleTree([]).root  # SHA-256 of the empty string
    'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'
    """

    __slots__ = ("_tree",)

    def __init__(self, leaf_hashes: Iterable[Any]) -> None:
        self._tree: _NativeTree = _native.MerkleTree(leaf_hashes)

    @property
    def root(self) -> str:
        """The root hash, 64 lowercase hex characters."""
        return self._tree.root

    @property
    def size(self) -> int:
        """The number of leaves."""
        return self._tree.size

    def __len__(self) -> int:
        return self._tree.size

    def leaf_hash(self, index: int) -> str:
        """The leaf hash at ``index``."""
        return self._tree.leaf_hash(index)

    def inclusion_proof(self, index: int) -> List[str]:
        """The RFC 9162 inclusion proof (audit path, leaf to root) of leaf ``index``.

        Raises :class:`MerkleError` (``index_out_of_range``) outside the tree.
        """
        return self._tree.inclusion_proof(index)

    def consistency_proof(self, old_size: int) -> List[str]:
        """The RFC 9162 consistency proof from the first ``old_size`` leaves to the whole tree."""
        return self._tree.consistency_proof(old_size)

    def __repr__(self) -> str:
        return f"MerkleTree(size={self.size}, root={self.root!r})"


class Batch:
    """A built batch: its ``embatch-1`` head, the head's hash and signature,
    and one ``emreceipt-1`` receipt per log. Created by :func:`build_batch`."""

    __slots__ = ("_batch", "_receipts")

    def __init__(self, native: _NativeBatch) -> None:
        self._batch = native
        self._receipts: Optional[List[Dict[str, Any]]] = None

    @property
    def head(self) -> Dict[str, Any]:
        """The batch head as a JSON-ready dict (a fresh copy on each access)."""
        return self._batch.head

    @property
    def head_canonical(self) -> bytes:
        """JCS(head): the bytes that are hashed and signed."""
        return self._batch.head_canonical

    @property
    def head_hash(self) -> str:
        """SHA-256(0x02 || JCS(head)), 64 lowercase hex characters."""
        return self._batch.head_hash

    @property
    def merkle_root(self) -> str:
        """The RFC 9162 root over the logs' leaf hashes."""
        return self._batch.merkle_root

    @property
    def log_count(self) -> int:
        """The number of logs."""
        return self._batch.log_count

    @property
    def signature(self) -> Optional[str]:
        """The Ed25519 signature over JCS(head), hex, or ``None`` when unsigned."""
        return self._batch.signature

    @property
    def public_key(self) -> Optional[str]:
        """The public key that signed the head, hex, or ``None`` when unsigned."""
        return self._batch.public_key

    @property
    def leaf_hashes(self) -> List[str]:
        """The logs' leaf hashes, in input order."""
        return self._batch.leaf_hashes

    @property
    def warnings(self) -> List[LogWarning]:
        """Plausibility warnings, each with the index of its log."""
        return [LogWarning(*w) for w in self._batch.warnings]

    @property
    def receipts(self) -> List[Dict[str, Any]]:
        """One receipt per log, in input order, as JSON-ready dicts
        (converted on first access, then kept)."""
        if self._receipts is None:
            self._receipts = self._batch.receipts()
        return self._receipts

    def receipts_json(self) -> List[str]:
        """The receipts as canonical (RFC 8785) JSON text, ready to write out."""
        return self._batch.receipts_json()

    def receipt(self, index: int) -> Dict[str, Any]:
        """The receipt of the log at ``index``."""
        return self._batch.receipt(index)

    def inclusion_proof(self, index: int) -> List[str]:
        """The inclusion proof of the log at ``index``."""
        return self._batch.inclusion_proof(index)

    def __len__(self) -> int:
        return self._batch.log_count

    def __repr__(self) -> str:
        return f"Batch(log_count={self.log_count}, head_hash={self.head_hash!r}, signed={self.signature is not None})"


class Verification:
    """The structured result of verifying one receipt. Immutable, like a frozen
    dataclass: assigning an attribute raises ``dataclasses.FrozenInstanceError``.

    Attributes:
        valid: ``True`` when every check passed.
        leaf_hash: the recomputed leaf hash, when the log could be normalized.
        merkle_root: the root the inclusion path leads to, when it could be folded.
        head_hash: the hash of the batch head, when it could be read.
        signature: the head signature's state: ``valid``, ``absent``, ``invalid``,
            ``untrusted_key`` or ``not_checked``.
        signer: the public key that signed the head (hex), when there is a signature.
        log_signature: the device signature's state (same values).
        anchors: each anchor's state (:class:`Anchor`: status, failed step,
            height, block hash, ...).
        steps: each check, in order.
        errors: what failed (empty when valid).
        warnings: plausibility warnings about the log.
    """

    __slots__ = ("_v",)
    _v: _NativeVerification

    def __init__(self, native: _NativeVerification) -> None:
        object.__setattr__(self, "_v", native)

    def __setattr__(self, name: str, value: object) -> None:
        raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")

    @property
    def valid(self) -> bool:
        return self._v.valid

    @property
    def leaf_hash(self) -> Optional[str]:
        return self._v.leaf_hash

    @property
    def merkle_root(self) -> Optional[str]:
        return self._v.merkle_root

    @property
    def head_hash(self) -> Optional[str]:
        return self._v.head_hash

    @property
    def signature(self) -> str:
        return self._v.signature

    @property
    def signer(self) -> Optional[str]:
        return self._v.signer

    @property
    def log_signature(self) -> str:
        return self._v.log_signature

    @property
    def anchors(self) -> Tuple[Anchor, ...]:
        return tuple(Anchor(*a[:10], tuple(a[10]), a[11]) for a in self._v.anchors)

    @property
    def steps(self) -> Tuple[Step, ...]:
        return tuple(Step(*s) for s in self._v.steps)

    @property
    def errors(self) -> Tuple[VerifyError, ...]:
        return tuple(VerifyError(*e) for e in self._v.errors)

    @property
    def error_codes(self) -> Tuple[str, ...]:
        """Just the codes of :attr:`errors`."""
        return tuple(e[0] for e in self._v.errors)

    @property
    def warnings(self) -> Tuple[Warning, ...]:
        return tuple(Warning(*w) for w in self._v.warnings)

    def to_json(self) -> str:
        """The result as JSON text (the same shape every binding returns)."""
        return self._v.to_json()

    def to_dict(self) -> Dict[str, Any]:
        """The result as a JSON-ready dict."""
        result: Dict[str, Any] = json.loads(self._v.to_json())
        return result

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Verification):
            return NotImplemented
        return self.to_json() == other.to_json()

    def __hash__(self) -> int:
        return hash(self.to_json())

    def __repr__(self) -> str:
        return (
            f"Verification(valid={self.valid}, signature={self.signature!r}, "
            f"errors={[e.code for e in self.errors]!r})"
        )
