"""``consumed_records``: the one-pass decoding of a Lambda Kafka event into the worker's records."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from lambda_connect.aws.kafka_event import MalformedEventError, build_kafka_event
from lambda_connect.aws.sink_handler import consumed_records


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def raw(topic: str, partition: int, offset: int, **fields: Any) -> dict[str, Any]:
    return {"topic": topic, "partition": partition, "offset": offset, "timestamp": 1_700_000_000_000,
            "timestampType": "CREATE_TIME", "value": b64(b"v%d" % offset), "headers": [], **fields}


def event(records: dict[str, list[Any]]) -> dict[str, Any]:
    return {"eventSource": "aws:kafka", "records": records}


def test_a_rendered_event_decodes_field_for_field() -> None:
    rendered = build_kafka_event([
        ("orders", 1, 7, 1_700_000_000_123, "LOG_APPEND_TIME", b"k", b'{"a":1}', [("h", b"\x00\xff"), ("n", None)]),
        ("orders", 1, 8, 1_700_000_000_124, "CREATE_TIME", None, None, []),
    ])
    first, tombstone = consumed_records(rendered)
    assert (first.topic, first.partition, first.offset, first.timestamp, first.timestamp_type) == (
        "orders", 1, 7, 1_700_000_000_123, "LOG_APPEND_TIME")
    assert (first.key, first.value, list(first.headers)) == (b"k", b'{"a":1}', [("h", b"\x00\xff"), ("n", None)])
    assert (tombstone.key, tombstone.value, list(tombstone.headers), tombstone.consume_error) == (
        None, None, [], None)


def test_records_come_out_by_partition_then_offset() -> None:
    records = consumed_records(event({
        "orders-0": [raw("orders", 0, 5), raw("orders", 0, 3)],
        "orders-1": [raw("orders", 1, 2), raw("orders", 1, 1)],
        "orders-00": [raw("orders", 0, 4)],  # another spelling of orders-0
    }))
    assert [(r.partition, r.offset) for r in records] == [(0, 3), (0, 4), (0, 5), (1, 1), (1, 2)]
    assert all(r.consume_error is None for r in records)


def test_a_record_filed_under_another_partitions_key_is_refused() -> None:
    good, stray = consumed_records(event({"orders-1": [raw("orders", 1, 2), raw("orders", 0, 4)]}))
    assert good.consume_error is None
    assert isinstance(stray.consume_error, MalformedEventError)
    assert stray.consume_error.field == "partition"
    assert (stray.topic, stray.partition, stray.offset) == ("orders", 1, 4)  # named by the key it came under


def test_one_bad_record_carries_its_error_and_hides_nothing() -> None:
    records = consumed_records(event({"orders-0": [
        raw("orders", 0, 1),
        raw("orders", 0, 2, value="eyJ*not-base64*"),
        raw("orders", 0, 3, headers=[{"signed": [-1, 65]}]),
        raw("orders", 0, 4, timestampType=None, key=b64(b"k")),
    ]}))
    assert [r.offset for r in records] == [1, 2, 3, 4]
    assert records[0].consume_error is None and records[0].value == b"v1"
    assert isinstance(records[1].consume_error, MalformedEventError)
    assert "value" in str(records[1].consume_error)
    assert records[1].value == b"eyJ*not-base64*"  # the raw text, kept for the dead letter queue
    assert list(records[2].headers) == [("signed", b"\xffA")]  # Java's signed bytes, masked
    assert (records[3].timestamp_type, records[3].key) == ("NO_TIMESTAMP_TYPE", b"k")


@pytest.mark.parametrize("field", ["key", "value"])
def test_a_lone_surrogate_fails_its_record_not_the_batch(field: str) -> None:
    """JSON may escape a lone surrogate ("\\ud800"), and the Python runtime in AWS parses events
    with ``json.loads``, which keeps it: not base64, so that record goes to the error policy with
    its text kept, and the records around it are decoded as usual."""
    import json

    import orjson

    parsed = json.loads(b'{"eventSource":"aws:kafka","records":{"orders-0":['
                          + orjson.dumps(raw("orders", 0, 1)) + b","
                          + orjson.dumps(raw("orders", 0, 2))[:-1] + b',"' + field.encode() + b'":"x\\ud800"},'
                          + orjson.dumps(raw("orders", 0, 3)) + b"]}}")
    first, bad, last = consumed_records(parsed)
    assert first.consume_error is None and last.consume_error is None and last.value == b"v3"
    assert isinstance(bad.consume_error, MalformedEventError) and field in str(bad.consume_error)
    assert getattr(bad, field) == "x\ud800".encode("utf-8", "surrogatepass")


@pytest.mark.parametrize("fields", [{"partition": True}, {"offset": "12"}, {"timestamp": 1.5}, {"topic": ""}])
def test_mistyped_coordinates_are_reported_not_guessed(fields: dict[str, Any]) -> None:
    (record,) = consumed_records(event({"orders-0": [{**raw("orders", 0, 9), **fields}]}))
    assert isinstance(record.consume_error, MalformedEventError)


def test_an_event_that_is_not_a_kafka_event_fails_as_a_whole() -> None:
    with pytest.raises(MalformedEventError):
        consumed_records({"eventSource": "aws:kafka", "records": {"orders-0": "not a list"}})


# --- the shortcut for slots as Lambda sends them (one partition, offsets increasing, each once) -----------


@pytest.mark.parametrize(("offsets", "expected"), [
    ([1, 2, 3], [1, 2, 3]),  # plain: taken as it is
    ([3, 1, 2], [1, 2, 3]),  # out of order: sorted
    ([1, 2, 2, 3], [1, 2, 3]),  # a repeat: kept once
    ([5, 5], [5]),
])
def test_a_slot_is_taken_as_it_is_only_when_its_offsets_increase(offsets: list[int], expected: list[int]) -> None:
    records = consumed_records(event({"orders-0": [raw("orders", 0, o) for o in offsets]}))
    assert [r.offset for r in records] == expected
    assert [r.value for r in records] == [b"v%d" % o for o in expected]


def test_a_plain_slot_merged_with_another_spelling_of_its_partition_is_still_sorted() -> None:
    records = consumed_records(event({"orders-0": [raw("orders", 0, 2), raw("orders", 0, 4)],
                                      "orders-1": [raw("orders", 1, 0)],
                                      "orders-00": [raw("orders", 0, 1), raw("orders", 0, 4), raw("orders", 0, 3)]}))
    assert [(r.partition, r.offset) for r in records] == [(0, 1), (0, 2), (0, 3), (0, 4), (1, 0)]


def test_a_record_missing_a_field_lambda_always_sends_is_read_by_the_slow_path() -> None:
    complete = raw("orders", 0, 2, key=b64(b"k"))
    partial = {name: value for name, value in raw("orders", 0, 1).items() if name not in ("timestamp", "headers")}
    tombstone = {name: value for name, value in raw("orders", 0, 3).items() if name != "value"}
    first, second, third = consumed_records(event({"orders-0": [complete, partial, tombstone]}))
    assert (first.offset, first.timestamp, list(first.headers), first.consume_error) == (1, None, [], None)
    assert (second.offset, second.key, second.consume_error) == (2, b"k", None)
    assert (third.offset, third.value, third.consume_error) == (3, None, None)
    slow = consumed_records(event({"orders-0": [complete, partial, tombstone]}), fast=False)
    assert [(*r[:7], list(r.headers), r.consume_error) for r in slow] == [
        (*r[:7], list(r.headers), r.consume_error) for r in (first, second, third)]
