"""``kafka_event_json`` writes exactly the bytes of ``orjson.dumps(build_kafka_event(...))``.

The local event source mapping sends its events through ``kafka_event_json`` (the JSON text
written directly) instead of building the event's dicts and serialising them. That is only
allowed because the two are the same payload: compared here byte for byte, for the records a
consumer hands over (tombstones, missing keys, empty and binary values, headers with null and
empty values, Unicode and escapes in topic and header names, several partitions interleaved,
extreme offsets and timestamps) and whatever hypothesis generates; anything off the fast path
must give the plain path's bytes or its very error. Every test runs twice: with the records
rendered by the C loop (``aws/_event_render.c``) and by the Python loop it stands for.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lambda_connect.api.plans import NATIVE_SWITCH
from lambda_connect.aws import kafka_event
from lambda_connect.aws.kafka_event import KafkaRecordTuple, build_kafka_event, kafka_event_json

SERVERS = "127.0.0.1:9092,127.0.0.1:9093"


@pytest.fixture(autouse=True, scope="module", params=["native", "python"])
def renderer(request: pytest.FixtureRequest) -> Iterator[str]:
    """The C loop or the Python one (module-scoped, so that hypothesis' tests take it too)."""
    before = os.environ.get(NATIVE_SWITCH)
    os.environ[NATIVE_SWITCH] = "on" if request.param == "native" else "off"
    try:
        yield request.param
    finally:
        if before is None:
            os.environ.pop(NATIVE_SWITCH, None)
        else:
            os.environ[NATIVE_SWITCH] = before


def test_the_native_loop_is_built_and_used(renderer: str) -> None:
    assert kafka_event._native_render is not None, "aws/_event_render.c was not built at install"
    assert kafka_event.native_render_enabled() is (renderer == "native")
    rendered = kafka_event._native_render(CASES["interleaved partitions"], kafka_event._json_str,
                                          kafka_event._headers_json)
    assert rendered is not None and rendered.startswith(b'"orders-3":[{"topic":"orders","partition":3,"offset":0,')
    assert kafka_event._native_render(CASES["bool partition"], kafka_event._json_str,
                                      kafka_event._headers_json) is None  # off the path: Python decides


def plain(records: list[Any], **kwargs: Any) -> bytes:
    return orjson.dumps(build_kafka_event(records, **kwargs))


def record(offset: int = 0, **fields: Any) -> KafkaRecordTuple:
    base = KafkaRecordTuple("orders", 0, offset, 1_700_000_000_000, "CREATE_TIME", b"k", b'{"id":1}', ())
    return base._replace(**fields)


CASES = {
    "empty batch": [],
    "one record": [record()],
    "tombstone without key": [record(key=None, value=None)],
    "empty key and value": [record(key=b"", value=b"")],
    "binary value": [record(value=bytes(range(256)))],
    "no timestamp": [record(timestamp=-1, timestamp_type="NO_TIMESTAMP_TYPE")],
    "log append time": [record(timestamp_type="LOG_APPEND_TIME")],
    "headers": [record(headers=[("h", b"\xff\x01"), ("h", None), ("H", b""), ("é\"\\\n\u2028", b"x")])],
    "headers as a tuple": [record(headers=(("h", b"v"),))],
    "escapes in topic": [record(topic='or"d\\ers\u00e9\U0001f600')],
    "topic with dashes": [record(topic="a-1", partition=2), record(topic="a", partition=12, offset=1)],
    "interleaved partitions": [record(partition=p, offset=o) for o in range(3) for p in (3, 0, 1)],
    "two topics": [record(topic="a"), record(topic="b"), record(topic="a", offset=1)],
    "slot shared by two coordinates": [record(topic="a-", partition=1), record(topic="a", partition=-1)],
    "extreme numbers": [record(partition=2**31 - 1, offset=2**63 - 1, timestamp=2**63 - 1)],
    "negative numbers": [record(partition=-5, offset=-(2**63), timestamp=-(2**63))],
    "uint64 edge": [record(offset=2**64 - 1)],
    "plain tuples": [("orders", 0, 1, 5, "CREATE_TIME", b"k", b"v", [])],
    # Off the fast path: the plain path's bytes all the same.
    "bytearray value": [record(value=bytearray(b"abc"))],
    "memoryview key": [record(key=memoryview(b"abc"))],
    "header pair as a list": [record(headers=[["h", b"v"]])],
    "header value bytearray": [record(headers=[("h", bytearray(b"v"))])],
    "bool partition": [record(partition=True)],
    "int subclass offset": [record(offset=type("Int", (int,), {})(7))],
    "str subclass topic": [record(topic=type("Str", (str,), {})("orders"))],
    "fast then irregular": [record(), record(offset=1, value=bytearray(b"x"))],
}


@pytest.mark.parametrize("source", ["aws:kafka", "SelfManagedKafka"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_same_bytes_as_the_plain_path(name: str, source: str) -> None:
    records = CASES[name]
    assert kafka_event_json(records, source=source, bootstrap_servers=SERVERS) == plain(
        records, source=source, bootstrap_servers=SERVERS)


def test_cluster_arn_server_list_and_iterators() -> None:
    records = CASES["interleaved partitions"]
    arn = "arn:aws:kafka:eu-west-1:1:cluster/c/\"x\""
    assert kafka_event_json(iter(records), cluster_arn=arn, bootstrap_servers=["h1:1", "h2:2"]) == plain(
        records, cluster_arn=arn, bootstrap_servers=["h1:1", "h2:2"])


def test_parsed_payload_is_the_built_event() -> None:
    """What the mapping hands the handler equals the event ``build_kafka_event`` returns."""
    records = [r for case in ("headers", "interleaved partitions", "tombstone without key") for r in CASES[case]]
    assert orjson.loads(kafka_event_json(records)) == build_kafka_event(records)


@pytest.mark.parametrize("records, error", [
    ([record(offset=2**64)], TypeError),                     # orjson: integer beyond 64 bits
    ([record(topic="bad\ud800")], TypeError),                # orjson: a lone surrogate
    ([record(headers=[("bad\udc00", b"v")])], TypeError),
    ([("orders", 0, 1)], ValueError),                         # not a record: the plain path's unpacking error
    ([record(headers=[(1, b"v")])], TypeError),              # a non-str header name
    ([record(value="text")], TypeError),                    # a str value: b64encode refuses it
    (["not a record at all"], ValueError),
], ids=["int beyond 64 bits", "surrogate topic", "surrogate header", "short tuple", "int header name",
        "str value", "string item"])
def test_irregular_input_raises_as_the_plain_path(records: list[Any], error: type[Exception]) -> None:
    with pytest.raises(error) as plain_error:
        plain(records)
    with pytest.raises(error) as fast_error:
        kafka_event_json(records)
    assert str(fast_error.value) == str(plain_error.value)


def test_unknown_source_is_refused_as_by_build_kafka_event() -> None:
    with pytest.raises(ValueError, match="source must be one of"):
        kafka_event_json([record()], source="aws:sqs")
    with pytest.raises(ValueError, match="cluster_arn is only sent for MSK"):
        kafka_event_json([record()], source="SelfManagedKafka", cluster_arn="arn:x")


_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
_blob = st.binary(max_size=40)
_int64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
_records = st.lists(st.builds(
    KafkaRecordTuple,
    topic=st.sampled_from(["orders", "a-1", "a", "é-2"]) | _text.filter(bool),
    partition=st.integers(min_value=-2, max_value=6) | _int64,
    offset=_int64 | st.integers(min_value=0, max_value=2**64 - 1),
    timestamp=st.just(-1) | _int64,
    timestamp_type=st.sampled_from(["CREATE_TIME", "LOG_APPEND_TIME", "NO_TIMESTAMP_TYPE"]) | _text,
    key=st.none() | _blob,
    value=st.none() | _blob,
    headers=st.lists(st.tuples(_text, st.none() | _blob), max_size=3) | st.just(()),
), max_size=12)


@settings(max_examples=300, deadline=None)
@given(records=_records, source=st.sampled_from(["aws:kafka", "SelfManagedKafka"]))
def test_generated_batches_give_the_same_bytes(records: list[KafkaRecordTuple], source: str) -> None:
    assert kafka_event_json(records, source=source, bootstrap_servers=SERVERS) == plain(
        records, source=source, bootstrap_servers=SERVERS)
