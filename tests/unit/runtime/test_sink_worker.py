"""SinkWorker: one batch through converters, chain, task, DLQ and status — with the real file sink."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from lambda_connect.api import ConfigDef, RetriableException, SchemaAndValue, SinkConnector, SinkRecord, SinkTask
from lambda_connect.api.connector import Task
from lambda_connect.api.converter import Converter
from lambda_connect.api.data import OPTIONAL_STRING_SCHEMA
from lambda_connect.plugins import BUILTINS
from lambda_connect.runtime.connector_cache import PipelineCache
from lambda_connect.runtime.registry import Registry
from lambda_connect.runtime.sink_worker import (
    BatchDeadlineError,
    ConnectorNotRunningError,
    ConsumedRecord,
    RecordFailedError,
    SinkWorker,
    UnknownConnectorError,
    batch_task_id,
)
from lambda_connect.state.memory import InMemoryStateStore

HERE = "tests.unit.runtime.test_sink_worker"


class FlakyConverter(Converter):
    """Text converter that fails with RetriableException the first ``FAILURES`` times it sees 'flaky'."""

    name = "com.example.FlakyConverter"
    config_def = ConfigDef()
    failures_left = 0

    def __init__(self, config: Any, *, is_key: bool = False) -> None:
        self.is_key = is_key

    def to_connect_data(self, topic: str, data: bytes | None, headers: Any = None) -> SchemaAndValue:
        if data is None:
            return SchemaAndValue(None, None)
        text = data.decode()
        if text == "flaky" and FlakyConverter.failures_left > 0:
            FlakyConverter.failures_left -= 1
            raise RetriableException("store briefly unavailable")
        return SchemaAndValue(OPTIONAL_STRING_SCHEMA, text)

    def from_connect_data(self, topic: str, schema: Any, value: Any, headers: Any = None) -> bytes | None:
        return None if value is None else str(value).encode()


class RejectingTask(SinkTask):
    """Rejects values equal to 'reject' through the errant record reporter; keeps the rest."""

    written: list[str] = []

    def start(self, props: Mapping[str, str]) -> None:
        self.reporter = self.context.errant_record_reporter if self.context else None
        self.buffer: list[SinkRecord] = []

    def put(self, records: Sequence[SinkRecord]) -> None:
        self.buffer.extend(records)

    def flush(self, offsets: Mapping[tuple[str, int], int]) -> None:
        for r in self.buffer:
            if r.value == "reject":
                if self.reporter is None:
                    raise ValueError(f"cannot write {r.kafka_offset}")
                self.reporter(r, ValueError("value is not writable"))
            else:
                RejectingTask.written.append(r.value)
        self.buffer = []


class RejectingConnector(SinkConnector):
    name = "com.example.RejectingSinkConnector"
    config_def = ConfigDef()

    @classmethod
    def task_class(cls) -> type[Task]:
        return RejectingTask


class FakeProducer:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.pending: list[tuple[Any, dict[str, Any]]] = []
        self.delivered: list[dict[str, Any]] = []

    def produce(self, topic: str, value: Any = None, key: Any = None, **kwargs: Any) -> None:
        self.pending.append((kwargs.pop("on_delivery"), {"topic": topic, "value": value, "key": key, **kwargs}))

    def poll(self, timeout: float = 0) -> int:
        return 0

    def flush(self, timeout: float = 0) -> int:
        for callback, msg in self.pending:
            callback("broker said no" if self.fail else None, msg)
            if not self.fail:
                self.delivered.append(msg)
        self.pending = []
        return 0


class FakeTransport:
    def __init__(self, fail: bool = False) -> None:
        self._producer = FakeProducer(fail)
        self.created: list[tuple[str, int]] = []

    def producer(self) -> FakeProducer:
        return self._producer

    def ensure_topic(self, topic: str, replication_factor: int) -> None:
        self.created.append((topic, replication_factor))

    @property
    def delivered(self) -> list[dict[str, Any]]:
        return self._producer.delivered


class Status:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, int]] = []
        self.traces: list[str] = []
        self.topics: set[str] = set()

    def task_running(self, connector: str, task_id: int, worker_id: str) -> None:
        self.events.append(("RUNNING", connector, task_id))

    def task_failed(self, connector: str, task_id: int, worker_id: str, trace: str) -> None:
        self.events.append(("FAILED", connector, task_id))
        self.traces.append(trace)

    def topics_active(self, connector: str, topics: Any) -> None:
        self.topics |= set(topics)


REGISTRY = Registry([
    *BUILTINS,
    ("com.example.FlakyConverter", f"{HERE}:FlakyConverter"),
    ("com.example.RejectingSinkConnector", f"{HERE}:RejectingConnector"),
])


def rec(offset: int, value: bytes | None, partition: int = 0, topic: str = "orders", **kw: Any) -> ConsumedRecord:
    return ConsumedRecord(topic, partition, offset, 1_700_000_000_000 + offset, "CREATE_TIME", b"k%d" % offset,
                          value, kw.pop("headers", [("h", b"v")]), **kw)


def good(offset: int, partition: int = 0) -> ConsumedRecord:
    return rec(offset, json.dumps({"id": offset}).encode(), partition)


class Harness:
    def __init__(self, tmp_path: Path, **config: str) -> None:
        self.store = InMemoryStateStore()
        self.status = Status()
        self.file = tmp_path / "out.txt"
        self.sleeps: list[float] = []
        self.worker = SinkWorker(self.store, self.status, cache=PipelineCache(REGISTRY), sleep=self.sleeps.append)
        self.transport = FakeTransport()
        self.config = {
            "connector.class": "FileStreamSink",
            "file": str(self.file),
            "topics": "orders",
            "value.converter": "org.apache.kafka.connect.json.JsonConverter",
            "value.converter.schemas.enable": "false",
            "key.converter": "org.apache.kafka.connect.storage.StringConverter",
            **config,
        }
        self.store.create_connector("c1", {"name": "c1", **self.config})

    def run(self, records: list[ConsumedRecord], **kw: Any) -> Any:
        return self.worker.process("c1", records, dlq_transport=self.transport, **kw)

    def lines(self) -> list[str]:
        return self.file.read_text().splitlines() if self.file.exists() else []


DLQ = {
    "errors.tolerance": "all",
    "errors.deadletterqueue.topic.name": "c1-dlq",
    "errors.deadletterqueue.context.headers.enable": "true",
    "errors.deadletterqueue.topic.replication.factor": "1",
}


def test_batch_is_written_and_status_is_running(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    result = h.run([good(0), good(1), good(2, partition=1)])
    assert h.lines() == ["{id=0}", "{id=1}", "{id=2}"]
    assert (result.records_in, result.written, result.failed, result.dead_lettered) == (3, 3, 0, 0)
    assert h.status.events == [("RUNNING", "c1", 0)]
    assert h.status.topics == {"orders"}


def test_unknown_connector_fails_loudly(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    with pytest.raises(UnknownConnectorError, match="Unknown connector nope"):
        h.worker.process("nope", [good(0)])
    assert h.lines() == []


@pytest.mark.parametrize("state", ["PAUSED", "STOPPED"])
def test_paused_or_stopped_connector_refuses_the_batch(tmp_path: Path, state: str) -> None:
    h = Harness(tmp_path)
    h.store.set_target_state("c1", state)
    with pytest.raises(ConnectorNotRunningError, match=state):
        h.run([good(0)])
    assert h.lines() == []


def test_tolerance_all_dead_letters_bad_records_with_context_headers(tmp_path: Path) -> None:
    h = Harness(tmp_path, **DLQ)
    result = h.run([good(0), rec(1, b"{not json"), good(2)])
    assert h.lines() == ["{id=0}", "{id=2}"]
    assert (result.written, result.failed, result.dead_lettered) == (2, 1, 1)
    assert h.transport.created == [("c1-dlq", 1)]
    [msg] = h.transport.delivered
    assert (msg["topic"], msg["key"], msg["value"], msg["timestamp"]) == ("c1-dlq", b"k1", b"{not json",
                                                                          1_700_000_000_001)
    headers = dict(msg["headers"])
    assert headers["h"] == b"v"  # the original header is kept
    assert headers["__connect.errors.topic"] == b"orders"
    assert headers["__connect.errors.partition"] == b"0"
    assert headers["__connect.errors.offset"] == b"1"
    assert headers["__connect.errors.connector.name"] == b"c1"
    assert headers["__connect.errors.task.id"] == b"0"
    assert headers["__connect.errors.stage"] == b"VALUE_CONVERTER"
    assert headers["__connect.errors.class.name"] == b"org.apache.kafka.connect.json.JsonConverter"
    assert headers["__connect.errors.exception.class.name"] == b"org.apache.kafka.connect.errors.DataException"
    assert headers["__connect.errors.exception.message"]
    assert b"Traceback" in headers["__connect.errors.exception.stacktrace"]
    assert h.status.events == [("RUNNING", "c1", 0)]


def test_context_headers_are_off_by_default(tmp_path: Path) -> None:
    h = Harness(tmp_path, **{**DLQ, "errors.deadletterqueue.context.headers.enable": "false"})
    h.run([rec(0, b"nope")])
    [msg] = h.transport.delivered
    assert msg["headers"] == [("h", b"v")]


def test_unacknowledged_dlq_record_fails_the_batch(tmp_path: Path) -> None:
    h = Harness(tmp_path, **DLQ)
    h.transport = FakeTransport(fail=True)
    with pytest.raises(Exception, match="dead letter queue topic 'c1-dlq'"):
        h.run([good(0), rec(1, b"{bad")])


def test_tolerance_none_commits_nothing_and_names_the_record(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    with pytest.raises(RecordFailedError, match=r"orders-0@1 in stage VALUE_CONVERTER") as info:
        h.run([good(0), rec(1, b"{bad"), good(2)])
    assert "Tolerance exceeded in error handler" in str(info.value)
    assert h.lines() == []
    assert h.status.events == [("FAILED", "c1", 0)]
    assert "DataException" in h.status.traces[0]


def test_partial_batch_response_writes_the_prefix_and_reports_the_failing_record(tmp_path: Path) -> None:
    h = Harness(tmp_path, **{"lambda.report.batch.item.failures": "true",
                                     "lambda.provisioned.pollers.min": "1"})
    batch = [good(0), rec(1, b"{bad"), good(2), good(5, partition=1), good(6, partition=1)]
    result = h.run(batch)
    assert h.lines() == ["{id=0}"]
    assert [(r.partition, r.offset) for r in result.item_failures] == [(0, 1), (1, 5)]
    assert h.status.events[-1] == ("FAILED", "c1", 0)


def test_transform_error_and_filtered_records(tmp_path: Path) -> None:
    h = Harness(tmp_path, **DLQ, **{
        "transforms": "cast,drop",
        "transforms.cast.type": "org.apache.kafka.connect.transforms.Cast$Value",
        "transforms.cast.spec": "id:int32",
        "transforms.drop.type": "Filter",
        "transforms.drop.predicate": "isTomb",
        "predicates": "isTomb",
        "predicates.isTomb.type": "RecordIsTombstone",
    })
    result = h.run([good(0), rec(1, b'{"id": "x"}'), rec(2, None), good(3)])
    assert h.lines() == ["{id=0}", "{id=3}"]
    assert (result.dropped, result.dead_lettered) == (1, 1)
    headers = dict(h.transport.delivered[0]["headers"])
    assert headers["__connect.errors.stage"] == b"TRANSFORMATION"
    assert headers["__connect.errors.class.name"] == b"org.apache.kafka.connect.transforms.Cast$Value"


def test_retriable_conversion_errors_are_retried_with_backoff(tmp_path: Path) -> None:
    h = Harness(tmp_path, **{"value.converter": "com.example.FlakyConverter", "errors.retry.timeout": "60000"})
    FlakyConverter.failures_left = 2
    h.run([rec(0, b"flaky")])
    assert h.lines() == ["flaky"]
    assert h.sleeps == [0.3, 0.6]


def test_retries_exhausted_fail_even_a_retriable_error(tmp_path: Path) -> None:
    h = Harness(tmp_path, **{"value.converter": "com.example.FlakyConverter"})
    FlakyConverter.failures_left = 1
    with pytest.raises(RecordFailedError, match="RetriableException"):
        h.run([rec(0, b"flaky")])
    assert h.sleeps == []


def test_deadline_stops_new_work_and_fails_the_batch(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    with pytest.raises(BatchDeadlineError, match="ran out of time after 0 of 2"):
        h.run([good(0), good(1)], remaining_ms=lambda: 3000.0)
    assert h.lines() == []
    assert h.status.events == []  # running out of time is not a task failure


def test_deadline_with_partial_response_reports_the_first_unprocessed_record(tmp_path: Path) -> None:
    h = Harness(tmp_path, **{"lambda.report.batch.item.failures": "true",
                                     "lambda.provisioned.pollers.min": "1"})
    result = h.run([good(0), good(1)], remaining_ms=lambda: 1000.0)
    assert [r.offset for r in result.item_failures] == [0]
    assert h.lines() == []


def test_config_change_rebuilds_the_pipeline(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    h.run([good(0)])
    other = tmp_path / "other.txt"
    h.store.update_connector("c1", {"name": "c1", **h.config, "file": str(other)})
    h.run([good(1)])
    assert h.lines() == ["{id=0}"]
    assert other.read_text().splitlines() == ["{id=1}"]


def test_errant_record_reporter_sends_put_failures_to_the_dlq(tmp_path: Path) -> None:
    RejectingTask.written = []
    h = Harness(tmp_path, **DLQ, **{"connector.class": "com.example.RejectingSinkConnector",
                                    "value.converter": "org.apache.kafka.connect.storage.StringConverter"})
    result = h.run([rec(0, b"a"), rec(1, b"reject"), rec(2, b"b")])
    assert RejectingTask.written == ["a", "b"]
    assert (result.written, result.dead_lettered) == (2, 1)
    headers = dict(h.transport.delivered[0]["headers"])
    assert headers["__connect.errors.stage"] == b"TASK_PUT"
    assert headers["__connect.errors.offset"] == b"1"


def test_errant_record_with_tolerance_none_fails_the_batch(tmp_path: Path) -> None:
    h = Harness(tmp_path, **{"connector.class": "com.example.RejectingSinkConnector", "errors.log.enable": "true",
                             "value.converter": "org.apache.kafka.connect.storage.StringConverter"})
    with pytest.raises(RecordFailedError, match=r"orders-0@1 in stage TASK_PUT"):
        h.run([rec(0, b"a"), rec(1, b"reject")])
    assert h.status.events[-1][0] == "FAILED"


def test_undecodable_record_is_dead_lettered_only_with_a_dlq(tmp_path: Path) -> None:
    broken = rec(1, b"eyJ*not-base64*", consume_error=ValueError("field 'value' is not valid base64"))
    h = Harness(tmp_path, **DLQ)
    h.run([good(0), broken])
    assert dict(h.transport.delivered[0]["headers"])["__connect.errors.stage"] == b"KAFKA_CONSUME"
    (tmp_path / "no-dlq").mkdir()
    h2 = Harness(tmp_path / "no-dlq", **{"errors.tolerance": "all"})
    with pytest.raises(RecordFailedError, match="KAFKA_CONSUME"):
        h2.run([good(0), broken])


def test_task_id_is_lowest_partition_modulo_tasks_max() -> None:
    assert batch_task_id([good(0, partition=5), good(0, partition=3)], 2) == 1
    assert batch_task_id([good(0, partition=4)], 1) == 0
    assert batch_task_id([], 3) == 0
