"""The sink worker's column reads give exactly what the per-record conversion gives.

``RecordConverters.sink_columns`` reads a batch's keys, then its values, a chunk at a time with
the converters' direct readers, and the worker builds each SinkRecord from those reads in its
own loop; a record whose direct read raised is converted on its own (``sink_reader``). These
tests run random batches — good maps, null and empty values, broken JSON, undecodable keys,
headers (one that its converter refuses), records that could not be decoded, foreign topics,
records a transform refuses, drops or the task rejects — through the worker twice, with the
column reads and with them switched off, and compare everything a user could see: what the
task was handed, the counts, the dead letter queue, the task status, the error raised.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from lambda_connect.api import ConfigDef, SchemaAndValue, SinkConnector, SinkRecord, SinkTask
from lambda_connect.api.connector import Task
from lambda_connect.api.converter import HeaderConverter
from lambda_connect.api.data import OPTIONAL_STRING_SCHEMA
from lambda_connect.plugins import BUILTINS
from lambda_connect.runtime import conversion
from lambda_connect.runtime.connector_cache import PipelineCache
from lambda_connect.runtime.conversion import READ_FAILED, RecordConverters, _read_column
from lambda_connect.runtime.registry import Registry
from lambda_connect.runtime.sink_worker import ConsumedRecord, SinkWorker
from lambda_connect.state.memory import InMemoryStateStore

from tests.unit.runtime.test_sink_worker import FakeTransport, Status

HERE = "tests.unit.runtime.test_sink_columns"
T = "org.apache.kafka.connect.transforms."


class CaptureTask(SinkTask):
    """Keeps what it is handed; rejects maps holding ``"reject"`` through the errant record reporter."""

    seen: list[Any] = []

    def start(self, props: Mapping[str, str]) -> None:
        self.reporter = self.context.errant_record_reporter if self.context else None
        self.buffer: list[SinkRecord] = []

    def put(self, records: Sequence[SinkRecord]) -> None:
        self.buffer.extend(records)

    def flush(self, offsets: Mapping[tuple[str, int], int]) -> None:
        for r in self.buffer:
            if isinstance(r.value, dict) and "reject" in r.value and self.reporter is not None:
                self.reporter(r, ValueError("value is not writable"))
                continue
            CaptureTask.seen.append(_view(r))
        CaptureTask.seen.append(("flush", sorted(offsets.items())))
        self.buffer = []


class CaptureConnector(SinkConnector):
    name = "com.example.CaptureSinkConnector"
    config_def = ConfigDef()

    @classmethod
    def task_class(cls) -> type[Task]:
        return CaptureTask


class PickyHeaderConverter(HeaderConverter):
    """Text headers; refuses a header named ``bad``."""

    name = "com.example.PickyHeaderConverter"
    config_def = ConfigDef()

    def __init__(self, config: Any = None) -> None:
        pass

    def to_connect_header(self, topic: str, header_key: str, value: bytes | None) -> SchemaAndValue:
        if header_key == "bad":
            raise ValueError(f"header {header_key} is not readable")
        return SchemaAndValue(OPTIONAL_STRING_SCHEMA, None if value is None else value.decode("latin-1"))

    def from_connect_header(self, topic: str, header_key: str, schema: Any, value: Any) -> bytes | None:
        return None if value is None else str(value).encode("latin-1")


REGISTRY = Registry([
    *BUILTINS,
    ("com.example.CaptureSinkConnector", f"{HERE}:CaptureConnector"),
    ("com.example.PickyHeaderConverter", f"{HERE}:PickyHeaderConverter"),
])


def _view(r: SinkRecord) -> tuple[Any, ...]:
    return (r.topic, r.kafka_partition, r.kafka_offset, r.original_topic, r.original_kafka_partition,
            r.original_kafka_offset, repr(r.key_schema), repr(r.key), repr(r.value_schema), repr(r.value),
            r.timestamp, r.timestamp_type, repr(list(r.headers)))


CONFIGS: dict[str, dict[str, str]] = {
    "tolerate all, DLQ": {
        "errors.tolerance": "all", "errors.deadletterqueue.topic.name": "c1-dlq",
        "errors.deadletterqueue.topic.replication.factor": "1",
        "errors.deadletterqueue.context.headers.enable": "true",
    },
    "tolerate none, partial responses": {"lambda.report.batch.item.failures": "true"},
    "tolerate none": {},
    "chain, DLQ": {
        "errors.tolerance": "all", "errors.deadletterqueue.topic.name": "c1-dlq",
        "errors.deadletterqueue.topic.replication.factor": "1",
        "transforms": "drop,cast,tag",
        "transforms.drop.type": T + "Filter", "transforms.drop.predicate": "isTomb",
        "predicates": "isTomb", "predicates.isTomb.type": "RecordIsTombstone",
        "transforms.cast.type": T + "Cast$Value", "transforms.cast.spec": "amount:float64",
        "transforms.tag.type": T + "InsertField$Value", "transforms.tag.static.field": "via",
        "transforms.tag.static.value": "lc",
    },
    "picky headers, partial responses": {
        "lambda.report.batch.item.failures": "true", "errors.tolerance": "all",
        "errors.deadletterqueue.topic.name": "c1-dlq", "errors.deadletterqueue.topic.replication.factor": "1",
        "header.converter": "com.example.PickyHeaderConverter",
    },
}


def _value(rng: random.Random, offset: int) -> bytes | None:
    roll = rng.random()
    if roll < 0.6:
        return json.dumps({"id": offset, "amount": rng.choice(["1.5", "12", "x"]), "c": "é" * rng.randint(0, 2)}
                          ).encode()
    return rng.choice([None, b"", b"{broken", b"[1, 2]", b"7", b'"text"', b'{"reject": 1}', b"null", b" {} "])


def _key(rng: random.Random, offset: int) -> bytes | None:
    return rng.choice([None, None, b"k%d" % offset, "é".encode(), b"\xff\xfe", b""])


def _headers(rng: random.Random) -> list[tuple[str, bytes | None]]:
    return rng.choice([[], [], [], [("h", b"v")], [("h", None), ("n", b"\x00")], [("bad", b"1")]])


def random_batch(rng: random.Random, size: int, *, null_keys: bool = False) -> list[ConsumedRecord]:
    records = []
    for offset in range(size):
        partition = offset * 3 // max(size, 1)
        topic = "orders" if rng.random() > 0.03 else "payments"
        error = ValueError("field 'value' is not valid base64") if rng.random() < 0.03 else None
        records.append(ConsumedRecord(topic, partition, offset, 1_700_000_000_000 + offset, "CREATE_TIME",
                                      None if null_keys else _key(rng, offset), _value(rng, offset),
                                      _headers(rng), error))
    return records


def outcome(tmp_path: Path, config: dict[str, str], records: list[ConsumedRecord]) -> tuple[Any, ...]:
    CaptureTask.seen = []
    store, status, transport = InMemoryStateStore(), Status(), FakeTransport()
    worker = SinkWorker(store, status, cache=PipelineCache(REGISTRY), sleep=lambda s: None)
    store.create_connector("c1", {
        "name": "c1", "connector.class": "com.example.CaptureSinkConnector", "topics": "orders",
        "key.converter": "org.apache.kafka.connect.storage.StringConverter",
        "value.converter": "org.apache.kafka.connect.json.JsonConverter", "value.converter.schemas.enable": "false",
        **config,
    })
    try:
        result = worker.process("c1", records, dlq_transport=transport)
        done: Any = (result.records_in, result.written, result.dropped, result.dead_lettered, result.failed,
                     [r.label for r in result.item_failures], result.topics)
    except Exception as e:
        done = (type(e).__name__, str(e))
    dlq = [(m["topic"], m["key"], m["value"], sorted((k, v) for k, v in (m.get("headers") or [])))
           for m in transport.delivered]
    return done, CaptureTask.seen, dlq, status.events


def plain(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(RecordConverters, "sink_columns", lambda self: None)


@pytest.mark.parametrize("name", sorted(CONFIGS))
@pytest.mark.parametrize("seed", range(6))
def test_column_reads_give_the_per_record_outcome(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str,
                                                  seed: int) -> None:
    monkeypatch.setattr(conversion, "COLUMN_CHUNK", 7)  # chunk edges fall inside every batch
    rng = random.Random(f"{name}-{seed}")
    records = random_batch(rng, rng.choice([1, 6, 40, 90]), null_keys=seed % 3 == 0)
    fast = outcome(tmp_path, CONFIGS[name], records)
    with monkeypatch.context() as m:
        plain(m)
        slow = outcome(tmp_path, CONFIGS[name], records)
    assert fast == slow


def test_a_clean_batch_larger_than_a_chunk_reads_alike(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    records = [ConsumedRecord("orders", p, o, 1_700_000_000_000, "CREATE_TIME", None if o % 2 else b"%d" % o,
                              json.dumps({"id": o, "amount": "1.25"}).encode()) for p in range(2) for o in range(700)]
    config = CONFIGS["chain, DLQ"]
    fast = outcome(tmp_path, config, records)
    with monkeypatch.context() as m:
        plain(m)
        slow = outcome(tmp_path, config, records)
    assert fast == slow
    assert fast[0][1] == 1400 and len(fast[1]) == 1401  # all written, one flush


def converters() -> RecordConverters:
    return RecordConverters.from_config({"key.converter": "org.apache.kafka.connect.storage.StringConverter",
                                         "value.converter": "org.apache.kafka.connect.json.JsonConverter",
                                         "value.converter.schemas.enable": "false"}, REGISTRY)


def test_sink_columns_pairs_follow_the_records_and_mark_what_the_direct_readers_refuse(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(conversion, "COLUMN_CHUNK", 2)
    records = [ConsumedRecord("t", 0, i, None, "CREATE_TIME", key, value) for i, (key, value) in enumerate([
        (b"a", b'{"x": 1}'), (None, b""), (b"\xff", b"[1]"), (None, None), (b"b", b"{bad")])]
    columns = converters().sink_columns()
    assert columns is not None
    key_schema, value_schema, pairs = columns(records)
    assert (key_schema, value_schema) == (OPTIONAL_STRING_SCHEMA, None)
    assert list(pairs) == [("a", {"x": 1}), (None, READ_FAILED), (READ_FAILED, [1]), (None, READ_FAILED),
                           ("b", READ_FAILED)]


def test_sink_columns_is_none_without_direct_readers() -> None:
    c = RecordConverters.from_config({"key.converter": "org.apache.kafka.connect.json.JsonConverter",
                                      "value.converter": "org.apache.kafka.connect.json.JsonConverter"}, REGISTRY)
    assert c.sink_columns() is None  # schemas on: no direct reader


def test_read_column_reads_a_column_of_nulls_once_and_shares_only_immutable_answers() -> None:
    calls: list[Any] = []

    def text(data: bytes | None) -> str | None:
        calls.append(data)
        return None if data is None else data.decode()

    assert _read_column(text, [None, None, None]) == [None, None, None]
    assert calls == [None]
    fresh = _read_column(lambda data: {}, [None, None])
    assert fresh == [{}, {}] and fresh[0] is not fresh[1]  # a mutable answer is read per record

    def refuse(data: bytes | None) -> Any:
        raise TypeError("no null")

    assert _read_column(refuse, [None, None]) == [READ_FAILED, READ_FAILED]
    assert _read_column(text, []) == []
    assert _read_column(text, [b"a", b"\xff", None]) == ["a", READ_FAILED, None]
