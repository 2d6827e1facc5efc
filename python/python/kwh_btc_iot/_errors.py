"""The exception hierarchy.

Every error raised by the core is a :class:`KwhBtcIotError`, of the subclass
of its family, carrying the shared, stable error ``code`` (the same string the
gateway's HTTP error bodies, the WASM package and the mobile bindings use) and
the ``member`` it concerns (a path such as ``"tx.amount_sats"`` or ``"tags[2]"``,
or ``None``).

>>> import kwh_btc_iot as kbi
>>> try:
...     kbi.canonicalize_json('{"a": 1, "a": 2}')
... except kbi.JsonError as e:
...     print(e.code, e.member)
duplicate_member a
>>> issubclass(kbi.ValidationError, kbi.KwhBtcIotError), issubclass(kbi.KwhBtcIotError, ValueError)
(True, True)
"""

from __future__ import annotations

from typing import Dict, Literal, Optional, Tuple

__all__ = [
    "CODE_FAMILIES",
    "ErrorCode",
    "KwhBtcIotError",
    "JsonError",
    "ValidationError",
    "MerkleError",
    "CryptoError",
]


ErrorCode = Literal[
    "invalid_utf8",
    "invalid_json",
    "duplicate_member",
    "lone_surrogate",
    "number_out_of_range",
    "too_deep",
    "too_large",
    "unknown_member",
    "missing_member",
    "invalid_type",
    "invalid_value",
    "unsupported_version",
    "invalid_length",
    "forbidden_character",
    "out_of_range",
    "not_an_integer",
    "invalid_timestamp",
    "invalid_time_range",
    "interval_mismatch",
    "amount_mismatch",
    "duplicate_tag",
    "too_many_tags",
    "invalid_hex",
    "leaf_hash_mismatch",
    "invalid_proof",
    "index_out_of_range",
    "empty_batch",
    "invalid_key",
    "invalid_signature",
    "untrusted_key",
    "missing_signature",
    "invalid_anchor",
]
"""Every code the core raises (the project's code registry, checked by
``core/tests/codes.rs``)."""

#: The family (exception class) of every code the core raises.
CODE_FAMILIES: Dict[str, str] = {
    "invalid_utf8": "json",
    "invalid_json": "json",
    "duplicate_member": "json",
    "lone_surrogate": "json",
    "number_out_of_range": "json",
    "too_deep": "json",
    "too_large": "json",
    "unknown_member": "validation",
    "missing_member": "validation",
    "invalid_type": "validation",
    "invalid_value": "validation",
    "unsupported_version": "validation",
    "invalid_length": "validation",
    "forbidden_character": "validation",
    "out_of_range": "validation",
    "not_an_integer": "validation",
    "invalid_timestamp": "validation",
    "invalid_time_range": "validation",
    "interval_mismatch": "validation",
    "amount_mismatch": "validation",
    "duplicate_tag": "validation",
    "too_many_tags": "validation",
    "invalid_hex": "merkle",
    "leaf_hash_mismatch": "merkle",
    "invalid_proof": "merkle",
    "index_out_of_range": "merkle",
    "empty_batch": "merkle",
    "invalid_key": "crypto",
    "invalid_signature": "crypto",
    "untrusted_key": "crypto",
    "missing_signature": "crypto",
    "invalid_anchor": "crypto",
}


class KwhBtcIotError(ValueError):
    """Base class of every error of the core.

    Attributes:
        code: the stable snake_case error code, e.g. ``"unknown_member"``.
        member: the member path the error concerns, or ``None``.
        message: the human message; it names the member and the rule.

    >>> e = KwhBtcIotError("energy_kwh: must be >= 0", "out_of_range", "energy_kwh")
    >>> e
    KwhBtcIotError('energy_kwh: must be >= 0', code='out_of_range', member='energy_kwh')
    >>> str(e), e.code, e.member
    ('energy_kwh: must be >= 0', 'out_of_range', 'energy_kwh')
    """

    #: The error family's name, as in the core (``json``, ``validation``, ``merkle``, ``crypto``).
    family: str = ""

    def __init__(self, message: str, code: str, member: Optional[str] = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.member = member

    def __reduce__(self) -> Tuple[type, Tuple[str, str, Optional[str]]]:
        return (type(self), (self.message, self.code, self.member))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, code={self.code!r}, member={self.member!r})"


class JsonError(KwhBtcIotError):
    """The input is not I-JSON: a syntax error, a duplicate member, a lone
    surrogate, a number out of range, too deep, too large, or a Python object
    that has no JSON form."""

    family = "json"


class ValidationError(KwhBtcIotError):
    """Valid JSON, but not a valid ``emlog-1.1`` log (or batch parameter):
    unknown or missing members, wrong types, values out of range, ..."""

    family = "validation"


class MerkleError(KwhBtcIotError):
    """Hashes, trees and proofs: malformed hex, an index outside the tree,
    a proof that does not verify, an empty batch."""

    family = "merkle"


class CryptoError(KwhBtcIotError):
    """Keys and signatures: a malformed key, a signature that does not verify."""

    family = "crypto"


# Shown and pickled as kwh_btc_iot.<Name>, where users import them from.
for _cls in (KwhBtcIotError, JsonError, ValidationError, MerkleError, CryptoError):
    _cls.__module__ = "kwh_btc_iot"
del _cls
