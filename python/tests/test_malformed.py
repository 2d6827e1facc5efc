"""Malformed input raises the right exception (or, for receipts, gives an
invalid result) and never crashes the interpreter."""

from __future__ import annotations

import json
import math
import pickle
from decimal import Decimal
from typing import Any, Callable, List

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import kwh_btc_iot as kbi

SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TEXT_FUNCTIONS: List[Callable[[Any], Any]] = [kbi.normalize, kbi.canonicalize, kbi.leaf_hash, kbi.canonicalize_json]


@pytest.mark.parametrize(
    "value, code, member",
    [
        ({"x": math.nan}, "number_out_of_range", "x"),
        ({"x": [1, math.inf]}, "number_out_of_range", "x[1]"),
        ({"x": 10**400}, "number_out_of_range", "x"),
        ({"x": {1, 2}}, "invalid_json", "x"),
        ({"x": b"bytes"}, "invalid_json", "x"),
        ({"x": Decimal("1.5")}, "invalid_json", "x"),
        ({1: "int key"}, "invalid_json", "value"),
        ({"x": "\ud800"}, "lone_surrogate", "x"),
        ({"\udfff": 1}, "lone_surrogate", "value"),
        (object(), "invalid_json", "value"),
    ],
)
def test_python_values_without_json_form(value: Any, code: str, member: str) -> None:
    with pytest.raises(kbi.JsonError) as info:
        kbi.canonicalize_json(value)
    assert (info.value.code, info.value.member) == (code, member)
    with pytest.raises(kbi.JsonError):
        kbi.leaf_hash(value)


def test_self_referencing_containers_stop() -> None:
    loop: List[Any] = []
    loop.append(loop)
    d: dict = {}
    d["d"] = d
    for value in (loop, d):
        with pytest.raises(kbi.JsonError) as info:
            kbi.canonicalize_json(value)
        assert info.value.code == "too_deep"


def test_deep_nesting_is_an_error_not_a_crash() -> None:
    for depth in (65, 1000, 100_000):
        with pytest.raises(kbi.JsonError) as info:
            kbi.canonicalize_json("[" * depth + "]" * depth)
        assert info.value.code == "too_deep"
    assert kbi.canonicalize_json("[" * 64 + "]" * 64) == b"[" * 64 + b"]" * 64
    nested: Any = 1
    for _ in range(64):
        nested = [nested]
    assert kbi.canonicalize_json(nested) == b"[" * 64 + b"1" + b"]" * 64
    with pytest.raises(kbi.JsonError):
        kbi.canonicalize_json([nested])


@pytest.mark.parametrize(
    "text, code",
    [
        (b"", "invalid_json"),
        (b"\xff\xfe", "invalid_utf8"),
        (b'{"a":1,"a":2}', "duplicate_member"),
        (b'"\\ud800"', "lone_surrogate"),
        (b"1e400", "number_out_of_range"),
        (b"NaN", "invalid_json"),
        (b"[1,]", "invalid_json"),
        (b"\xef\xbb\xbf{}", "invalid_json"),
        (b"{} {}", "invalid_json"),
    ],
)
def test_bad_json_text(text: bytes, code: str) -> None:
    for fn in TEXT_FUNCTIONS:
        with pytest.raises(kbi.JsonError) as info:
            fn(text)
        assert info.value.code == code
        assert info.value.family == "json"


def test_log_validation_errors_name_member_and_rule() -> None:
    cases = [
        (kbi.example_log(energy_kwh=-1), "out_of_range", "energy_kwh"),
        (kbi.example_log(colour="red"), "unknown_member", "colour"),
        (kbi.example_log(status="fine"), "invalid_value", "status"),
        (kbi.example_log(ts_end="yesterday"), "invalid_timestamp", "ts_end"),
        (kbi.example_log(schema_version="emlog-1.0"), "unsupported_version", "schema_version"),
        (kbi.example_log(tags=["a", "a"]), "duplicate_tag", "tags[1]"),
        ([kbi.example_log()], "invalid_type", "log"),
        (5, "invalid_type", "log"),
    ]
    for log, code, member in cases:
        with pytest.raises(kbi.ValidationError) as info:
            kbi.normalize(log)
        e = info.value
        assert (e.code, e.member) == (code, member), e
        assert e.member in str(e)


def test_too_large_log() -> None:
    log = kbi.example_log(site_id="x" * 70_000)
    with pytest.raises(kbi.JsonError) as info:
        kbi.leaf_hash(log)
    assert info.value.code == "too_large"


def test_exceptions_are_value_errors_and_pickle() -> None:
    with pytest.raises(ValueError):
        kbi.normalize("{}")
    try:
        kbi.normalize("{}")
    except kbi.KwhBtcIotError as e:
        back = pickle.loads(pickle.dumps(e))
        assert type(back) is kbi.ValidationError
        assert (back.code, back.member, str(back)) == (e.code, e.member, str(e))
        assert repr(back).startswith("ValidationError(")


@pytest.mark.parametrize(
    "call, exc, code",
    [
        (lambda: kbi.MerkleTree(["zz" * 32]), kbi.MerkleError, "invalid_hex"),
        (lambda: kbi.MerkleTree(["AB" * 32]), kbi.MerkleError, "invalid_hex"),
        (lambda: kbi.MerkleTree([b"short"]), kbi.MerkleError, "invalid_hex"),
        (lambda: kbi.MerkleTree([42]), kbi.MerkleError, "invalid_hex"),
        (lambda: kbi.MerkleTree("00" * 32), kbi.MerkleError, "invalid_hex"),
        (lambda: kbi.MerkleTree(["00" * 32]).inclusion_proof(1), kbi.MerkleError, "index_out_of_range"),
        (lambda: kbi.MerkleTree(["00" * 32]).inclusion_proof(-1), kbi.MerkleError, "index_out_of_range"),
        (lambda: kbi.MerkleTree(["00" * 32]).consistency_proof(0), kbi.MerkleError, "index_out_of_range"),
        (lambda: kbi.MerkleTree(["00" * 32]).consistency_proof(2), kbi.MerkleError, "index_out_of_range"),
        (lambda: kbi.verify_inclusion("00" * 32, -1, 1, [], "00" * 32), kbi.MerkleError, "index_out_of_range"),
        (lambda: kbi.verify_inclusion("00" * 32, 1, 1, [], "00" * 32), kbi.MerkleError, "index_out_of_range"),
        (lambda: kbi.verify_inclusion("00" * 32, 0, 1, ["00" * 32], "00" * 32), kbi.MerkleError, "invalid_proof"),
        (lambda: kbi.verify_consistency(2, 1, "00" * 32, "00" * 32, []), kbi.MerkleError, "invalid_proof"),
        (lambda: kbi.verify_consistency(0, 1, "00" * 32, "00" * 32, []), kbi.MerkleError, "invalid_proof"),
        (lambda: kbi.build_batch([], gateway_id="gw"), kbi.MerkleError, "empty_batch"),
        (lambda: kbi.build_batch([kbi.example_log()], gateway_id=""), kbi.ValidationError, "invalid_length"),
        (lambda: kbi.build_batch([kbi.example_log()], gateway_id="g\n"), kbi.ValidationError, "forbidden_character"),
        (lambda: kbi.build_batch([kbi.example_log()], gateway_id="gw", seq=0), kbi.ValidationError, "out_of_range"),
        (lambda: kbi.build_batch([kbi.example_log()], gateway_id="gw", seq=-3), kbi.ValidationError, "out_of_range"),
        (lambda: kbi.build_batch([kbi.example_log()], gateway_id="gw", seq=2), kbi.ValidationError, "invalid_value"),
        (lambda: kbi.build_batch([kbi.example_log()], gateway_id="gw", prev_head_hash="00" * 32), kbi.ValidationError, "invalid_value"),
        (lambda: kbi.build_batch([kbi.example_log()], gateway_id="gw", seq=2, prev_head_hash="xyz"), kbi.MerkleError, "invalid_hex"),
        (lambda: kbi.build_batch([kbi.example_log()], gateway_id="gw", created_at="noon"), kbi.ValidationError, "invalid_timestamp"),
        (lambda: kbi.build_batch([kbi.example_log()], gateway_id="gw", signing_key=b"short"), kbi.CryptoError, "invalid_key"),
        (lambda: kbi.build_batch([kbi.example_log()], gateway_id="gw", signing_key="nothex"), kbi.CryptoError, "invalid_key"),
        (lambda: kbi.build_batch([kbi.example_log()], gateway_id="gw", signing_key=123), kbi.CryptoError, "invalid_key"),
        (lambda: kbi.public_key("00" * 31), kbi.CryptoError, "invalid_key"),
        (lambda: kbi.verify_receipt("{}", gateway_key="00"), kbi.CryptoError, "invalid_key"),
        (lambda: kbi.verify_receipt("{}", gateway_key=b"\x00" * 31), kbi.CryptoError, "invalid_key"),
        (lambda: kbi.verify_receipts(["{}"], gateway_key=7), kbi.CryptoError, "invalid_key"),
    ],
)
def test_argument_errors(call: Callable[[], Any], exc: type, code: str) -> None:
    with pytest.raises(exc) as info:
        call()
    assert info.value.code == code, info.value


def test_naive_datetime_is_refused() -> None:
    import datetime as dt

    with pytest.raises(kbi.ValidationError) as info:
        kbi.build_batch([kbi.example_log()], gateway_id="gw", created_at=dt.datetime(2025, 1, 1))
    assert (info.value.code, info.value.member) == ("invalid_timestamp", "created_at")


def test_signing_key_never_appears_in_errors() -> None:
    secret = "ab" * 31 + "zz"
    with pytest.raises(kbi.CryptoError) as info:
        kbi.public_key(secret)
    assert secret not in str(info.value) and "ab" * 8 not in repr(info.value)


def test_invalid_log_in_a_batch_names_its_index() -> None:
    logs = [kbi.example_log(), kbi.example_log(meter_id=""), kbi.example_log()]
    with pytest.raises(kbi.ValidationError) as info:
        kbi.build_batch(logs, gateway_id="gw")
    assert info.value.code == "invalid_length" and info.value.member == "[1].meter_id"
    with pytest.raises(kbi.JsonError) as info2:
        kbi.build_batch([kbi.example_log(), {"x": math.nan}], gateway_id="gw")
    assert info2.value.member == "[1].x" and str(info2.value).startswith("log 1: ")


def test_single_value_where_an_iterable_is_expected() -> None:
    for fn in (kbi.hash_logs, kbi.verify_receipts):
        for single in ('{"a":1}', b"{}", {"a": 1}):
            with pytest.raises(TypeError):
                fn(single)
    with pytest.raises(TypeError):
        kbi.hash_logs(5)  # type: ignore[arg-type]


def test_iterator_errors_propagate() -> None:
    def broken() -> Any:
        yield kbi.example_log()
        raise RuntimeError("source failed")

    with pytest.raises(RuntimeError, match="source failed"):
        kbi.hash_logs(broken())


def test_hash_jsonl_missing_file() -> None:
    with pytest.raises(FileNotFoundError):
        kbi.hash_jsonl("/nonexistent/dir/logs.jsonl")


@SETTINGS
@given(st.binary(max_size=300))
def test_random_bytes_never_crash(data: bytes) -> None:
    for fn in TEXT_FUNCTIONS:
        try:
            fn(data)
        except kbi.KwhBtcIotError as e:
            assert e.code and str(e)
    v = kbi.verify_receipt(data)
    assert not v.valid and v.errors


def _mutations(text: str) -> Any:
    return st.tuples(st.integers(0, len(text)), st.integers(0, 8), st.text(max_size=6))


RECEIPT = kbi.build_batch(
    [kbi.example_log(), kbi.example_log(meter_id="M2"), kbi.example_log(meter_id="M3")],
    gateway_id="gw",
    signing_key=bytes(32),
    created_at="2025-12-01T10:20:00Z",
).receipts_json()[1]


@SETTINGS
@given(_mutations(RECEIPT))
def test_mutated_receipts_give_results_not_exceptions(m: Any) -> None:
    at, cut, insert = m
    text = RECEIPT[:at] + insert + RECEIPT[at + cut :]
    v = kbi.verify_receipt(text.encode("utf-8", "surrogatepass"), gateway_key=kbi.public_key(bytes(32)))
    if text == RECEIPT:
        assert v.valid
    if not v.valid:
        assert v.errors and all(e.code and e.message for e in v.errors)
        assert len(v.steps) == 7


@SETTINGS
@given(st.recursive(st.one_of(st.none(), st.integers(), st.floats(), st.text(), st.binary()),
                    lambda c: st.one_of(st.lists(c, max_size=4), st.dictionaries(st.text(max_size=4), c, max_size=4),
                                        st.frozensets(st.integers(), max_size=2)),
                    max_leaves=15))
def test_arbitrary_python_values_never_crash(value: Any) -> None:
    for fn in TEXT_FUNCTIONS:
        try:
            fn(value)
        except kbi.KwhBtcIotError:
            pass
    v = kbi.verify_receipt(value) if not isinstance(value, (str, bytes)) else kbi.verify_receipt(json.dumps(None))
    assert not v.valid
    [bulk] = kbi.verify_receipts([value])
    assert not bulk.valid


def test_unconvertible_receipt_is_an_invalid_result() -> None:
    r = json.loads(RECEIPT)
    r["log"]["energy_kwh"] = math.nan
    for v in (kbi.verify_receipt(r), kbi.verify_receipts([r])[0]):
        assert not v.valid
        assert v.error_codes == ("number_out_of_range",)
        assert v.errors[0].member == "log.energy_kwh"
        assert [s.status for s in v.steps] == ["failed"] + ["skipped"] * 6
        assert v.signature == "not_checked"
