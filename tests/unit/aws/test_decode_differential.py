"""The sink's two decoding paths agree: the inline fast path refuses exactly what the slow path refuses.

``consumed_records(event)`` decodes a record inline when every field has the type and range
Lambda sends and hands anything else to ``KafkaEventRecord`` (the slow path); with
``fast=False`` every record takes the slow path. For any event — the hostile shapes of
issue 11 listed below, and whatever hypothesis generates — both must give the same records
with the same fields, refuse the same records with the same message, and the strict
``KafkaEvent`` view must accept exactly the events in which nothing is refused.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lambda_connect.aws.kafka_event import KafkaEvent, MalformedEventError
from lambda_connect.aws.sink_handler import consumed_records
from lambda_connect.runtime.sink_worker import ConsumedRecord


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def good(offset: int = 5, **fields: Any) -> dict[str, Any]:
    return {"topic": "orders", "partition": 0, "offset": offset, "timestamp": 1_700_000_000_000,
            "timestampType": "CREATE_TIME", "key": b64(b"k"), "value": b64(b'{"id":1}'), "headers": [], **fields}


def event(records: dict[Any, Any]) -> dict[str, Any]:
    return {"eventSource": "aws:kafka", "records": records}


def _view(r: ConsumedRecord) -> tuple[Any, ...]:
    error = None if r.consume_error is None else (type(r.consume_error), str(r.consume_error))
    return (r.topic, r.partition, r.offset, r.timestamp, r.timestamp_type, r.key, r.value, list(r.headers), error)


def assert_paths_agree(raw_event: dict[str, Any]) -> list[ConsumedRecord]:
    fast = consumed_records(raw_event)
    slow = consumed_records(raw_event, fast=False)
    assert [_view(r) for r in fast] == [_view(r) for r in slow]
    strict = KafkaEvent(raw_event)
    if any(r.consume_error is not None for r in fast):
        with pytest.raises(MalformedEventError):
            [r.to_tuple() for r in strict.records]
    else:
        assert [tuple(r.to_tuple()) for r in strict.records] == [
            (r.topic, r.partition, r.offset, r.timestamp if r.timestamp is not None else -1, r.timestamp_type,
             r.key, r.value, list(r.headers)) for r in fast]
    return fast


#: Every hostile shape of issue 11 (defects 7, 8 and 17), one event each: (event, offsets refused).
BAD_SHAPES: dict[str, tuple[dict[str, Any], int]] = {
    "header value is an integer": (event({"orders-0": [good(headers=[{"h": 20_000_000}])]}), 1),
    "header value is a string": (event({"orders-0": [good(headers=[{"h": "YWJj"}])]}), 1),
    "header byte is a boolean": (event({"orders-0": [good(headers=[{"h": [True, 2]}])]}), 1),
    "header byte beyond 255": (event({"orders-0": [good(headers=[{"h": [256]}])]}), 1),
    "header byte below -128": (event({"orders-0": [good(headers=[{"h": [-129]}])]}), 1),
    "header byte is a float": (event({"orders-0": [good(headers=[{"h": [1.0]}])]}), 1),
    "header with two entries": (event({"orders-0": [good(headers=[{"a": [1], "b": [2]}])]}), 1),
    "headers not a list": (event({"orders-0": [good(headers={"a": [1]})]}), 1),
    "negative partition": (event({"orders-0": [good(partition=-1)]}), 1),
    "negative partition under its own key": (event({"orders--1": [good(partition=-1)]}), 1),
    "partition beyond int32": (event({"orders-2147483648": [good(partition=2**31)]}), 1),
    "record under another partition's key": (event({"orders-0": [good(partition=1)]}), 1),
    "record under another topic's key": (event({"orders-0": [good(topic="payments")]}), 1),
    "key that is not topic-partition": (event({"orders": [good()]}), 1),
    "key with a non-ASCII digit": (event({"orders-\u0663": [good()]}), 1),
    "offset -1 after five good ones": (event({"orders-0": [*[good(i) for i in range(5)], good(-1)]}), 1),
    "offset 2^63": (event({"orders-0": [good(0), good(2**63)]}), 1),
    "offset a boolean": (event({"orders-0": [good(offset=True)]}), 1),
    "timestamp below -1": (event({"orders-0": [good(timestamp=-2)]}), 1),
    "timestamp beyond int64": (event({"orders-0": [good(timestamp=2**63)]}), 1),
    "value not base64": (event({"orders-0": [good(value="eyJ*")]}), 1),
    "key a number": (event({"orders-0": [good(key=12)]}), 1),
    "record not an object": (event({"orders-0": ["nope", good(6)]}), 1),
    "a bad copy of a good record": (event({"orders-0": [good(1), good(1, headers=[{"h": 0}])]}), 1),
    "a bad copy before a good one": (event({"orders-0": [good(1, value="*"), good(1), good(1)]}), 1),
}


@pytest.mark.parametrize("shape", BAD_SHAPES, ids=list(BAD_SHAPES))
def test_fast_and_slow_paths_refuse_the_same_records(shape: str) -> None:
    raw_event, refused = BAD_SHAPES[shape]
    records = assert_paths_agree(raw_event)
    assert sum(r.consume_error is not None for r in records) == refused
    for r in records:
        if r.consume_error is not None:
            assert isinstance(r.consume_error, MalformedEventError)
            assert r.consume_error.record  # names the record
            assert r.partition == -1 or 0 <= r.partition < 2**31
            assert r.offset == -1 or 0 <= r.offset < 2**63
            assert sum(len(v or b"") for _, v in r.headers) < 1024  # nothing amplified


def test_signed_java_bytes_decode_alike_on_both_paths() -> None:
    (record,) = assert_paths_agree(event({"orders-0": [good(headers=[{"h": [-1, 65, 0, 255]}, {"n": None}])]}))
    assert list(record.headers) == [("h", b"\xffA\x00\xff"), ("n", None)]


def test_two_spellings_of_one_key_and_repeated_records_decode_alike() -> None:
    records = assert_paths_agree(event({"orders-0": [good(0), good(1), good(1)], "orders-00": [good(0), good(2)]}))
    assert [r.offset for r in records] == [0, 1, 2]


# --- generated events ---------------------------------------------------------------------------

_ints = st.one_of(st.integers(-3, 3), st.integers(), st.sampled_from([2**31 - 1, 2**31, 2**63 - 1, 2**63, -(2**63)]))
_anything = st.one_of(st.none(), st.booleans(), st.floats(allow_nan=False), st.text(max_size=4), _ints,
                      st.lists(st.integers(-2, 2), max_size=2))
_base64 = st.one_of(st.binary(max_size=8).map(b64), st.sampled_from(["", "YQ", "Y Q==", "\u00e9", "YQ==YQ=="]))
_header_value = st.one_of(st.none(), st.lists(st.one_of(st.integers(-130, 260), st.booleans(), st.floats()),
                                              max_size=4), _ints, st.text(max_size=3))
_header = st.one_of(st.dictionaries(st.text(max_size=3), _header_value, min_size=1, max_size=1),
                    st.dictionaries(st.text(max_size=3), _header_value, max_size=2), _anything)


_MUTATIONS: dict[str, st.SearchStrategy[Any]] = {
    "topic": st.one_of(st.sampled_from(["orders-eu", "payments", ""]), _anything),
    "partition": st.one_of(_ints, _anything),
    "offset": st.one_of(_ints, _anything),
    "timestamp": st.one_of(_ints, _anything),
    "timestampType": _anything,
    "key": st.one_of(_base64, _anything),
    "value": st.one_of(_base64, _anything),
    "headers": st.one_of(st.lists(_header, max_size=3), _anything),
}


_plausible_header = st.one_of(
    st.fixed_dictionaries({"h": st.binary(max_size=3).map(list)}),
    st.fixed_dictionaries({"h": _header_value}),
    _header,
)


@st.composite
def _slot_and_records(draw: st.DrawFn) -> tuple[str, list[Any]]:
    """Mostly what Lambda sends, with a few fields of a few records changed to anything."""
    topic = draw(st.sampled_from(["orders", "orders-eu"]))
    partition = draw(st.integers(0, 1))
    slot = draw(st.one_of(st.just(f"{topic}-{partition}"), st.just(f"{topic}-0{partition}"),
                          st.sampled_from(["orders", "orders--1", "orders-2147483648", "-0", "x-\u0663"]),
                          st.text(max_size=5)))
    records: list[Any] = []
    for _ in range(draw(st.integers(0, 4))):
        if draw(st.integers(0, 15)) == 0:
            records.append(draw(_anything))
            continue
        record = good(draw(st.integers(0, 3)), topic=topic, partition=partition,
                      headers=draw(st.lists(_plausible_header, max_size=2)))
        for name in draw(st.sets(st.sampled_from(sorted(_MUTATIONS)), max_size=2)):
            if draw(st.booleans()):
                record[name] = draw(_MUTATIONS[name])
            else:
                del record[name]
        records.append(record)
    return slot, records


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_slot_and_records(), max_size=3))
def test_generated_events_decode_alike_on_both_paths(slots: list[tuple[str, list[Any]]]) -> None:
    assert_paths_agree(event(dict(slots)))
