"""End to end through ``functions/sink_task/app.py``: Lambda events in, rows/objects/lines out, DLQ on a
real broker. Every sink: redelivery, overlapping batches and a crash between write and return leave
exactly one copy of each record (file sink: at least once); poison records land in the DLQ with
Kafka's headers while the rest is written; with ``errors.tolerance=none`` nothing is committed.
"""

from __future__ import annotations

import importlib.util
import json
import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from lambda_connect.aws.kafka_event import build_kafka_event
from lambda_connect.runtime.sink_worker import RecordFailedError

from tests.fixtures.broker import consume_all

ROOT = Path(__file__).parents[2]
pytestmark = [pytest.mark.broker]


class Context:
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:lambda-connect-sink"

    def get_remaining_time_in_millis(self) -> int:
        return 120_000


def load_app(state_url: str, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.setenv("LAMBDA_CONNECT_STATE_URL", state_url)
    for var in ("LAMBDA_CONNECT_CONNECTOR", "LAMBDA_CONNECT_BOOTSTRAP_SERVERS"):
        monkeypatch.delenv(var, raising=False)
    spec = importlib.util.spec_from_file_location(f"sink_app_{uuid.uuid4().hex}", ROOT / "functions/sink_task/app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- the sinks under test: config + "what landed" ----------------------------------------------
class Sink:
    """A sink connector config and a way to read back every record value it holds."""

    exactly_once = True

    def config(self) -> dict[str, str]:
        raise AssertionError("abstract")

    def ids(self) -> list[int]:
        raise AssertionError("abstract")

    def cleanup(self) -> None:
        """Drop what the test created."""


class JdbcSink(Sink):
    def __init__(self, url: str, table: str) -> None:
        from lambda_connect.plugins.connectors.jdbc.urls import engine_for

        self.url, self.table = url, table
        self.engine = engine_for(url)

    def config(self) -> dict[str, str]:
        return {"connector.class": "io.confluent.connect.jdbc.JdbcSinkConnector", "connection.url": self.url,
                "auto.create": "true", "insert.mode": "insert", "pk.mode": "none", "table.name.format": self.table}

    def ids(self) -> list[int]:
        from sqlalchemy import inspect, text

        if not inspect(self.engine).has_table(self.table):
            return []
        quote = "`" if self.engine.dialect.name in ("mysql", "mariadb") else '"'
        with self.engine.connect() as conn:
            return sorted(r[0] for r in conn.execute(text(f"SELECT id FROM {quote}{self.table}{quote}")))

    def cleanup(self) -> None:
        from sqlalchemy import MetaData, Table

        metadata = MetaData()
        for name in (self.table, "__lambda_connect_sink_offsets"):
            try:
                table = Table(name, metadata, autoload_with=self.engine)
            except Exception:  # not created by this test
                continue
            if name == self.table:
                table.drop(self.engine)


class S3Sink(Sink):
    def __init__(self, prefix: str) -> None:
        import boto3

        self.prefix = prefix
        self.client = boto3.client("s3", region_name="us-east-1")
        self.client.create_bucket(Bucket="e2e-sink")

    def config(self) -> dict[str, str]:
        return {"connector.class": "io.confluent.connect.s3.S3SinkConnector", "s3.bucket.name": "e2e-sink",
                "s3.region": "us-east-1", "topics.dir": self.prefix, "flush.size": "50",
                "format.class": "io.confluent.connect.s3.format.json.JsonFormat"}

    def ids(self) -> list[int]:
        out: list[int] = []
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket="e2e-sink", Prefix=self.prefix + "/")
        for page in pages:
            for obj in page.get("Contents", []):
                if "/_lambda_connect/" in obj["Key"]:
                    continue
                body = self.client.get_object(Bucket="e2e-sink", Key=obj["Key"])["Body"].read().decode()
                out.extend(json.loads(line)["id"] for line in body.splitlines() if line)
        return sorted(out)


class FileSink(Sink):
    exactly_once = False  # Kafka's FileStreamSink appends: at least once

    def __init__(self, path: Path) -> None:
        self.path = path

    def config(self) -> dict[str, str]:
        return {"connector.class": "FileStreamSinkConnector", "file": str(self.path)}

    def ids(self) -> list[int]:
        if not self.path.exists():
            return []
        # Lines are Java's Map.toString of the value: {id=7, name=customer-00007, ...}
        return sorted(int(re.match(r"\{id=(\d+)", line).group(1))  # type: ignore[union-attr]
                      for line in self.path.read_text().splitlines())


ALL_SINKS = ["sqlite", "postgres", "mariadb", "s3", "file"]
# Only a typed sink can reject the schema-mismatch poison record; S3 and file accept any value.
TYPED_SINKS = ["sqlite", "postgres", "mariadb"]


@pytest.fixture
def sink(request: pytest.FixtureRequest, tmp_path: Path, unique_name: str) -> Iterator[Sink]:
    kind = request.param
    if kind == "s3":
        from lambda_connect.plugins.connectors.s3 import sink as s3_sink
        from moto import mock_aws

        with mock_aws():
            s3_sink._clients.clear()
            yield S3Sink(unique_name)
            s3_sink._clients.clear()
        return
    if kind == "file":
        yield FileSink(tmp_path / "out.jsonl")
        return
    url = {"sqlite": f"jdbc:sqlite:{tmp_path}/sink.db"}.get(kind) or request.getfixturevalue(f"{kind}_url")
    jdbc = JdbcSink(url, unique_name)
    try:
        yield jdbc
    finally:
        jdbc.cleanup()


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    return load_app(f"sqlite:///{tmp_path / 'state.db'}", monkeypatch)


def record_value(i: int) -> bytes:
    return json.dumps({"id": i, "name": f"customer-{i:05d}", "amount": i * 1.25, "vip": i % 7 == 0}).encode()


def event_for(topic: str, bootstrap: str, offsets: range, values: Callable[[int], bytes] = record_value,
              partition: int = 0) -> dict[str, Any]:
    return build_kafka_event(
        [(topic, partition, i, 1_700_000_000_000 + i, "CREATE_TIME", str(i).encode(), values(i), [("src", b"e2e")])
         for i in offsets],
        bootstrap_servers=bootstrap,
    )


def create(app: ModuleType, name: str, topic: str, sink: Sink, **extra: str) -> None:
    app.handler.store.create_connector(name, {
        "name": name, "topics": topic, "key.converter": "org.apache.kafka.connect.storage.StringConverter",
        "value.converter": "org.apache.kafka.connect.json.JsonConverter", "value.converter.schemas.enable": "false",
        **sink.config(), **extra,
    })


@pytest.mark.parametrize("sink", ALL_SINKS, indirect=True)
def test_redelivery_overlap_and_crash_leave_one_copy(app: ModuleType, sink: Sink, kafka_broker: str,
                                                     unique_name: str) -> None:
    topic = f"orders-{unique_name}"
    create(app, unique_name, topic, sink)
    invoke = lambda offsets: app.lambda_handler({**event_for(topic, kafka_broker, offsets),  # noqa: E731
                                                 "connector": unique_name}, Context())
    invoke(range(0, 200))
    invoke(range(0, 200))  # the same batch delivered twice
    invoke(range(100, 300))  # an overlapping batch
    # A crash after the sink wrote but before the invocation returned: the batch comes again.
    store = app.handler.store
    original = store.add_active_topics
    store.add_active_topics = lambda *a: (_ for _ in ()).throw(RuntimeError("container died"))
    app.handler.worker.status._topics.clear()
    with pytest.raises(RuntimeError, match="container died"):
        invoke(range(300, 400))
    store.add_active_topics = original
    invoke(range(300, 400))
    expected = list(range(400))
    if sink.exactly_once:
        assert sink.ids() == expected
    else:
        assert sorted(set(sink.ids())) == expected  # at least once: duplicates are allowed, loss is not
    assert store.get_task_statuses(unique_name)[0].state == "RUNNING"
    assert store.get_active_topics(unique_name) == {topic}


POISON = {
    37: b'{"id": 37, "name": "broken',  # not JSON: VALUE_CONVERTER
    111: json.dumps({"id": "one-hundred-eleven", "name": "x", "amount": 1.0, "vip": False}).encode(),  # Cast fails
    222: json.dumps({"id": 222, "name": True, "amount": 1.0, "vip": False}).encode(),  # schema mismatch in the sink
}
CAST = {"transforms": "cast", "transforms.cast.type": "org.apache.kafka.connect.transforms.Cast$Value",
        "transforms.cast.spec": "id:int64"}


@pytest.mark.parametrize("sink", TYPED_SINKS, indirect=True)
def test_poison_records_go_to_the_dlq_with_context_headers(app: ModuleType, sink: Sink, kafka_broker: str,
                                                          unique_name: str) -> None:
    topic, dlq = f"orders-{unique_name}", f"dlq-{unique_name}"
    create(app, unique_name, topic, sink, **CAST, **{
        "errors.tolerance": "all", "errors.deadletterqueue.topic.name": dlq,
        "errors.deadletterqueue.context.headers.enable": "true", "errors.log.enable": "true",
    })
    values = lambda i: POISON.get(i) or record_value(i)  # noqa: E731
    response = app.lambda_handler({**event_for(topic, kafka_broker, range(300), values), "connector": unique_name},
                                  Context())
    assert response == {"batchItemFailures": []}
    assert sink.ids() == [i for i in range(300) if i not in POISON]
    messages = sorted(consume_all(kafka_broker, dlq, 3), key=lambda m: int(dict(m.headers())[
        "__connect.errors.offset"]))
    stages = []
    for message, offset in zip(messages, sorted(POISON)):
        headers = dict(message.headers())
        assert message.value() == POISON[offset] and message.key() == str(offset).encode()
        assert message.timestamp()[1] == 1_700_000_000_000 + offset
        assert headers["src"] == b"e2e"
        assert headers["__connect.errors.topic"] == topic.encode()
        assert headers["__connect.errors.partition"] == b"0"
        assert headers["__connect.errors.offset"] == str(offset).encode()
        assert headers["__connect.errors.connector.name"] == unique_name.encode()
        assert headers["__connect.errors.task.id"] == b"0"
        assert headers["__connect.errors.exception.message"]
        stages.append((headers["__connect.errors.stage"], headers["__connect.errors.class.name"]))
    assert stages == [
        (b"VALUE_CONVERTER", b"org.apache.kafka.connect.json.JsonConverter"),
        (b"TRANSFORMATION", b"org.apache.kafka.connect.transforms.Cast$Value"),
        (b"TASK_PUT", b"io.confluent.connect.jdbc.JdbcSinkConnector"),
    ]


@pytest.mark.parametrize("sink", ALL_SINKS, indirect=True)
def test_tolerance_none_commits_nothing_and_names_the_record(app: ModuleType, sink: Sink, kafka_broker: str,
                                                            unique_name: str) -> None:
    topic = f"orders-{unique_name}"
    create(app, unique_name, topic, sink, **CAST)
    values = lambda i: POISON.get(i) or record_value(i)  # noqa: E731
    with pytest.raises(RecordFailedError, match=rf"record {topic}-0@37 in stage VALUE_CONVERTER"):
        app.lambda_handler({**event_for(topic, kafka_broker, range(100), values), "connector": unique_name},
                           Context())
    assert sink.ids() == []
    status = app.handler.store.get_task_statuses(unique_name)[0]
    assert status.state == "FAILED" and "orders" in status.trace
