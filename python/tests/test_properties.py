"""Property tests on generated inputs: canonicalization against the `rfc8785`
package, Merkle trees against `pymerkle`, leaf hashes against
rfc8785 + hashlib."""

from __future__ import annotations

import hashlib
import json
from typing import Any, Dict, List

import pymerkle
import rfc8785
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import kwh_btc_iot as kbi

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SAFE_INT = 2**53 - 1

# Text without lone surrogates (those are not Unicode scalar values; a str
# holding one is rejected, see test_malformed.py).
text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20)
numbers = st.one_of(
    st.integers(min_value=-SAFE_INT, max_value=SAFE_INT),
    st.floats(allow_nan=False, allow_infinity=False),
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False).map(lambda f: round(f, 3)),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, text)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=6),
        st.dictionaries(text, children, max_size=6),
    ),
    max_leaves=40,
)


@SETTINGS
@given(json_values)
def test_canonicalize_json_matches_rfc8785(value: Any) -> None:
    want = rfc8785.dumps(value)
    # As a Python value (a top-level str is JSON text, by design), and as
    # JSON text written by the standard library.
    if not isinstance(value, str):
        assert kbi.canonicalize_json(value) == want
    assert kbi.canonicalize_json(json.dumps(value)) == want
    assert kbi.canonicalize_json(json.dumps(value, indent=2).encode()) == want
    # Canonical text is a fixed point.
    assert kbi.canonicalize_json(want) == want


@SETTINGS
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_numbers_match_rfc8785(x: float) -> None:
    assert kbi.canonicalize_json([x]) == rfc8785.dumps([x])
    assert kbi.canonicalize_json(repr(x) if "e" in repr(x) or "." in repr(x) else str(x)) == rfc8785.dumps(x)


ids = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/+#"), min_size=1, max_size=12)
energies = st.one_of(
    st.integers(min_value=0, max_value=10**6),
    st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False),
    st.decimals(min_value=0, max_value=10000, places=3).map(float),
)


@st.composite
def logs(draw: Any) -> Dict[str, Any]:
    start = draw(st.integers(min_value=1_600_000_000, max_value=1_900_000_000))
    interval = draw(st.integers(min_value=1, max_value=86_400))
    offset_min = draw(st.sampled_from([0, 60, -300, 330]))

    def ts(unix: int) -> str:
        import datetime as dt

        tz = dt.timezone(dt.timedelta(minutes=offset_min))
        return dt.datetime.fromtimestamp(unix, tz).isoformat()

    log: Dict[str, Any] = {
        "schema_version": "emlog-1.1",
        "site_id": draw(ids),
        "iot_device_id": draw(ids),
        "meter_id": draw(ids),
        "ts_start": ts(start),
        "ts_end": ts(start + interval),
        "energy_kwh": draw(energies),
        "status": draw(st.sampled_from(["ok", "estimated", "partial", "error"])),
        "tx": {
            "price_sats_per_kwh": draw(st.one_of(st.integers(0, 10_000), st.floats(0, 10_000, allow_nan=False))),
            "channel": draw(st.sampled_from(["ln", "onchain", "none"])),
        },
    }
    assume(log["energy_kwh"] * log["tx"]["price_sats_per_kwh"] < 2.1e15)
    if draw(st.booleans()):
        log["tags"] = draw(st.lists(ids, max_size=4, unique=True))
    if draw(st.booleans()):
        log["interval_s"] = interval
    return log


@SETTINGS
@given(logs())
def test_leaf_hash_matches_rfc8785_and_hashlib(log: Dict[str, Any]) -> None:
    normalized = kbi.normalize(log)
    canonical = kbi.canonicalize(log)
    # The third-party recipe of SPEC section 2 gives the same bytes and hash;
    # it needs the converter's numbers to be right (whole numbers as int).
    assert rfc8785.dumps(normalized) == canonical
    assert kbi.leaf_hash(log) == hashlib.sha256(b"\x00" + canonical).hexdigest()
    assert kbi.canonicalize(json.dumps(normalized)) == canonical
    assert kbi.normalize(normalized) == normalized
    for key in ("interval_s",):
        assert isinstance(normalized[key], int)
    assert isinstance(normalized["tx"]["amount_sats"], int)
    assert normalized["ts_start"].endswith("Z")


@SETTINGS
@given(st.lists(logs(), min_size=1, max_size=8))
def test_bulk_equals_one_by_one(batch: List[Dict[str, Any]]) -> None:
    want = [kbi.leaf_hash(log) for log in batch]
    assert list(kbi.hash_logs(batch)) == want
    assert list(kbi.hash_logs([json.dumps(log).encode() for log in batch], threads=1)) == want
    jsonl = "\n".join(json.dumps(log) for log in batch).encode()
    assert list(kbi.hash_jsonl(jsonl)) == want
    built = kbi.build_batch(batch, gateway_id="gw", created_at="2025-01-01T00:00:00Z")
    assert built.leaf_hashes == want
    assert built.merkle_root == kbi.merkle_root(want) == kbi.hash_logs(batch).root


def root_of(tree: Any, size: Any = None) -> bytes:
    """pymerkle 7 calls it get_root; pymerkle 6 (the last for Python 3.9) get_state."""
    get = tree.get_root if hasattr(tree, "get_root") else tree.get_state
    root: bytes = get(size)
    return root


def pymerkle_tree(data: List[bytes]) -> pymerkle.InmemoryTree:
    # pymerkle's defaults are RFC 9162 hashing: SHA-256, leaf prefix 0x00 and
    # node prefix 0x01 ("security" on), the split at the largest power of two,
    # no duplication of odd nodes. Its indexes count from 1.
    tree = pymerkle.InmemoryTree(algorithm="sha256")
    for d in data:
        tree.append_entry(d)
    return tree


@SETTINGS
@given(st.lists(st.binary(max_size=16), max_size=70), st.data())
def test_merkle_tree_matches_pymerkle(data: List[bytes], draw: Any) -> None:
    leaves = [hashlib.sha256(b"\x00" + d).hexdigest() for d in data]
    ours = kbi.MerkleTree(leaves)
    theirs = pymerkle_tree(data)
    assert ours.size == theirs.get_size() == len(data)
    assert ours.root == root_of(theirs).hex() == kbi.merkle_root(leaves)
    if not data:
        return
    n = len(data)
    i = draw.draw(st.integers(min_value=0, max_value=n - 1))
    assert theirs.get_leaf(i + 1).hex() == leaves[i]
    proof = ours.inclusion_proof(i)
    # pymerkle's path starts with the leaf itself, then the RFC 9162 audit path.
    their_proof = theirs.prove_inclusion(i + 1)
    assert [h.hex() for h in their_proof.path[1:]] == proof
    pymerkle.verify_inclusion(bytes.fromhex(leaves[i]), root_of(theirs), their_proof)
    assert kbi.verify_inclusion(leaves[i], i, n, proof, root_of(theirs))
    m = draw.draw(st.integers(min_value=1, max_value=n))
    consistency = ours.consistency_proof(m)
    assert kbi.verify_consistency(m, n, root_of(theirs, m), root_of(theirs), consistency)
    pymerkle.verify_consistency(root_of(theirs, m), root_of(theirs), theirs.prove_consistency(m))


@SETTINGS
@given(st.lists(st.binary(max_size=8), min_size=2, max_size=40), st.data())
def test_tampered_proofs_are_rejected(data: List[bytes], draw: Any) -> None:
    leaves = [hashlib.sha256(b"\x00" + d).digest() for d in data]
    assume(len(set(leaves)) == len(leaves))
    tree = kbi.MerkleTree(leaves)
    n = len(leaves)
    i = draw.draw(st.integers(min_value=0, max_value=n - 1))
    proof = tree.inclusion_proof(i)
    assume(proof)
    j = draw.draw(st.integers(min_value=0, max_value=n - 1).filter(lambda j: j != i))
    for bad in (
        (leaves[j], i, n, proof, tree.root),  # another leaf
        (leaves[i], i, n, proof + [tree.root], tree.root),  # extra hash
        (leaves[i], i, n, proof[:-1], tree.root),  # hash missing
        (leaves[i], i, n, proof, leaves[i]),  # other root
    ):
        try:
            kbi.verify_inclusion(*bad)
        except kbi.MerkleError as e:
            assert e.code in ("invalid_proof", "index_out_of_range")
        else:
            raise AssertionError(f"accepted a tampered proof {bad!r}")


def test_pymerkle_without_prefixes_is_not_rfc9162() -> None:
    # The configuration matters: with its "security" switched off pymerkle
    # hashes without the 0x00/0x01 prefixes, which is not RFC 9162.
    data = [b"a", b"b", b"c"]
    plain = pymerkle.InmemoryTree(algorithm="sha256", disable_security=True)
    for d in data:
        plain.append_entry(d)
    rfc = kbi.MerkleTree([hashlib.sha256(b"\x00" + d).digest() for d in data])
    assert root_of(plain).hex() != rfc.root
    assert root_of(pymerkle_tree(data)).hex() == rfc.root
