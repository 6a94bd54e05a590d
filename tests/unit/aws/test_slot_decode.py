"""The C pass of ``_slot_records`` (``aws/_slot_decode.c``) gives what the Python loop gives.

``_slot_records`` is the specification: with the native switch off it runs its Python loop,
with it on (and the module built) the C function, which must hand back the same records —
same fields, same types, the same records sent down the slow path with the same errors, the
same order and the same ``plain`` flag — for batches of valid records mixed with every
field missing, mistyped or out of range, bad base64, null keys and values, headers of
every shape, records of another slot and huge integers.
"""

from __future__ import annotations

import base64
import binascii
import os
import random
from collections import OrderedDict
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lambda_connect.api.plans import NATIVE_SWITCH
from lambda_connect.aws import sink_handler
from lambda_connect.aws.sink_handler import _slot_records
from lambda_connect.runtime.sink_worker import ConsumedRecord

pytestmark = pytest.mark.skipif(sink_handler._native_decode is None, reason="aws._slot_decode is not built")

SLOT = "orders-3"


def _view(r: Any) -> tuple[Any, ...]:
    """Every field with its exact type; the error as its class and message."""
    assert type(r) is ConsumedRecord
    fields = tuple((type(f), f) for f in r[:8])
    headers = tuple((type(n), n, type(v), v) for n, v in r.headers)
    error = r.consume_error
    return (*fields, headers, None if error is None else (type(error), str(error)))


def _run(slot: Any, items: list[Any], switch: str) -> Any:
    """One build's result of a slot as (views, plain), or the exception it raised as (class, message)."""
    saved = os.environ.get(NATIVE_SWITCH)
    os.environ[NATIVE_SWITCH] = switch
    try:
        records, plain = _slot_records(slot, items)
    except Exception as e:  # the other build must raise the same
        return type(e), str(e)
    finally:
        if saved is None:
            os.environ.pop(NATIVE_SWITCH, None)
        else:
            os.environ[NATIVE_SWITCH] = saved
    return [_view(r) for r in records], plain


def both(slot: Any, items: list[Any]) -> tuple[Any, Any]:
    """(python, native) results of one slot."""
    return _run(slot, items, "off"), _run(slot, items, "on")


def assert_same(slot: Any, items: list[Any]) -> tuple[list[Any], bool]:
    py, native = both(slot, items)
    assert native == py
    return py


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def good(offset: int = 7, **fields: Any) -> dict[str, Any]:
    return {"topic": "orders", "partition": 3, "offset": offset, "timestamp": 1_700_000_000_000,
            "timestampType": "CREATE_TIME", "key": b64(b"k1"), "value": b64(b'{"id":1}'), "headers": [], **fields}


MISSING = object()

#: Per field, values that must each take the slow path or the fast one exactly as Python decides.
ODD_VALUES: dict[str, list[Any]] = {
    "topic": [MISSING, None, "", "payments", "orders ", b"orders", 3, ["orders"]],
    "partition": [MISSING, None, 2, 4, -1, True, False, 3.0, "3", 2**31, 2**63, 2**64 + 3, -(2**70)],
    "offset": [MISSING, None, -1, -2, 0, 2**63 - 1, 2**63, 2**64, -(2**63), -(2**64), True, False, 1.0, "5"],
    "timestamp": [MISSING, None, -1, -2, 0, 2**63 - 1, 2**63, -(2**63), 2**100, True, False, 1.5, "1"],
    "timestampType": [MISSING, None, "", "LOG_APPEND_TIME", 0, True, ["CREATE_TIME"]],
    "key": [MISSING, None, "", b64(b""), b64(b"x"), b64(b"xy"), b64(b"\x00\xff" * 40), "QR==", "QUJ=", "eyJ*",
            "Q===", "====", "QQ", "QQ==QQ==", " QQ==", "QQ==\n", "QQ\u00e9=", "\ud800QQ=", b"QQ==", 12, True,
            ["QQ=="], {"a": 1}],
    "value": [MISSING, None, "", b64(b'{"id":2}'), "QR==", "A===", "eyJ*", "AAAA" * 100 + "=", "QQ==", 1.5, False,
              b"QQ=="],
    "headers": [MISSING, None, [], (), {}, 0, "", False, True, 1, "h", {"a": [1]}, [{"h": [1, 2]}],
                [{"h": None}], [{"h": [-128, 255]}], [{"h": [256]}], [{"h": [True]}], [{"h": "YWJj"}],
                [{"a": [1], "b": [2]}], [{}], [{3: [1]}], ["h"], [{"h": [1]}, {"h": [2]}], [{"h": 20_000_000}]],
}


def mutate(record: dict[str, Any], name: str, value: Any) -> dict[str, Any]:
    out = dict(record)
    if value is MISSING:
        out.pop(name, None)
    else:
        out[name] = value
    return out


@pytest.mark.parametrize(("name", "value"), [(n, v) for n, vs in ODD_VALUES.items() for v in vs],
                         ids=lambda x: "missing" if x is MISSING else repr(x)[:30])  # xdist: ids without addresses
def test_each_odd_field_alone_and_between_good_records(name: str, value: Any) -> None:
    odd = mutate(good(8), name, value)
    assert_same(SLOT, [odd])
    assert_same(SLOT, [good(7), odd, good(9)])


def test_valid_batch_is_plain_and_decoded_natively() -> None:
    items = [good(i, key=None if i % 3 == 0 else b64(f"k{i}".encode()), value=b64(b"v" * (i % 7)),
                  headers=[{"h": [i % 256]}] if i % 5 == 0 else []) for i in range(200)]
    records, plain = assert_same(SLOT, items)
    assert plain and len(records) == 200 and all(r[-1] is None for r in records)


def test_order_and_plain_flag_follow_offsets() -> None:
    assert assert_same(SLOT, [good(5), good(4)])[1] is False
    assert assert_same(SLOT, [good(5), good(5)])[1] is False
    assert assert_same(SLOT, [good(0), good(2**63 - 1)])[1] is True
    assert assert_same(SLOT, [good(1), good(2, partition=4), good(3)])[1] is False
    assert assert_same(SLOT, [])[1] is True


def test_non_dict_records_and_other_containers() -> None:
    for odd in (None, 3, "x", [good()], (1, 2), OrderedDict(good())):
        assert_same(SLOT, [good(1), odd, good(2)])
    # A slot the C pass does not take runs the Python loop.
    ctx = sink_handler._NATIVE_CONTEXT
    assert sink_handler._native_decode([good(1), OrderedDict(good(2))], SLOT, "orders", 3, ctx) is None

    class Items(list):
        pass

    assert sink_handler._native_decode(Items([good(1)]), SLOT, "orders", 3, ctx) is None
    assert_same(SLOT, Items([good(1), good(2)]))


def test_base64_texts_decode_as_strict_a2b_base64() -> None:
    rng = random.Random(17)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    texts = [b64(rng.randbytes(n)) for n in range(40)]
    for _ in range(3000):  # near-valid texts: a valid one with a character changed, added or dropped
        text = list(rng.choice(texts))
        edit = rng.randrange(3)
        spot = rng.randrange(len(text) + 1)
        char = rng.choice(alphabet + "=-_ \n\u00e9")
        if edit == 0 and text and spot < len(text):
            text[spot] = char
        elif edit == 1:
            text.insert(spot, char)
        elif text:
            del text[min(spot, len(text) - 1)]
        texts.append("".join(text))
    items = [good(i, key=t, value=t[::-1]) for i, t in enumerate(texts)]
    records, _ = assert_same(SLOT, items)
    for text, record in zip(texts, records, strict=True):  # and the fast ones are what a2b_base64 gives
        try:
            expected = binascii.a2b_base64(text, strict_mode=True)
        except (binascii.Error, ValueError):
            assert record[-1] is not None
        else:
            assert record[-1] is not None or record[5] == (bytes, expected)


def test_slot_of_another_topic_and_malformed_slots() -> None:
    items = [good(1), good(2, topic="orders-3"), good(3, partition=0)]
    assert_same("orders-03", items)
    assert_same("orders-0", items)
    assert_same("other-3", items)
    assert_same("orders", items)
    assert_same("orders-3-3", [good(1, topic="orders-3")])


def test_an_error_the_python_loop_lets_through_is_raised_by_both() -> None:
    class Loud(str):
        __hash__ = str.__hash__

        def __eq__(self, other: object) -> bool:
            raise RuntimeError("compared")

    record = {Loud("topic"): "orders", **{k: v for k, v in good().items() if k != "topic"}}
    for switch in ("off", "on"):
        os.environ[NATIVE_SWITCH] = switch
        try:
            with pytest.raises(RuntimeError, match="compared"):
                _slot_records(SLOT, [good(1), record])
        finally:
            os.environ.pop(NATIVE_SWITCH, None)


def test_switch_off_never_calls_the_native_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = sink_handler._native_decode
    monkeypatch.setattr(sink_handler, "_native_decode", lambda *a: calls.append(a) or real(*a))
    monkeypatch.setenv(NATIVE_SWITCH, "off")
    _slot_records(SLOT, [good()])
    assert calls == []
    monkeypatch.setenv(NATIVE_SWITCH, "on")
    _slot_records(SLOT, [good()])
    assert len(calls) == 1


def _field_values(name: str) -> st.SearchStrategy[Any]:
    odd = st.sampled_from(ODD_VALUES[name])
    return st.one_of(st.just(good()[name]), odd) if name in good() else odd


@st.composite
def records(draw: st.DrawFn) -> Any:
    if draw(st.integers(0, 30)) == 0:
        return draw(st.sampled_from([None, 1, "r", [], OrderedDict(good())]))
    record = good(draw(st.one_of(st.integers(0, 50), st.integers(-(2**65), 2**65))))
    for name in ODD_VALUES:
        if draw(st.integers(0, 6)) == 0:
            record = mutate(record, name, draw(_field_values(name)))
    if draw(st.booleans()):
        record["key"] = draw(st.one_of(st.none(), st.binary(max_size=20).map(b64)))
    return record


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(records(), max_size=12), st.sampled_from([SLOT, "orders-03", "orders-4", "orders", "x-3"]))
def test_generated_batches(items: list[Any], slot: str) -> None:
    assert_same(slot, items)
