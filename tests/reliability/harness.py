"""What the reliability scenarios share: the deployed handlers, Lambda's event shapes, and a way to
read back, per sink, the Kafka coordinates of every record the target holds.

Every sink under test runs the transform ``InsertField$Value`` that copies the record's topic,
partition and offset into the value (fields ``kt``, ``kp``, ``ko``), so what a target holds can
be counted by coordinate, duplicates included (insert mode, no key: a second write is a second
row). The dead letter queue is read back from the broker by its ``__connect.errors.*`` headers.
"""

from __future__ import annotations

import importlib.util
import json
import re
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from lambda_connect.aws.kafka_event import build_kafka_event

from .ledger import Coord

ROOT = Path(__file__).parents[2]
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:lambda-connect-sink"

#: Copies the record's coordinates into its value: how a target is counted by coordinate.
COORDINATES = {
    "transforms": "coords",
    "transforms.coords.type": "org.apache.kafka.connect.transforms.InsertField$Value",
    "transforms.coords.topic.field": "kt",
    "transforms.coords.partition.field": "kp",
    "transforms.coords.offset.field": "ko",
}
JSON_VALUES = {
    "key.converter": "org.apache.kafka.connect.storage.StringConverter",
    "value.converter": "org.apache.kafka.connect.json.JsonConverter",
    "value.converter.schemas.enable": "false",
}

#: ``(topic, partition, offset, value)`` — one record of a Lambda Kafka event.
EventRecord = tuple[str, int, int, bytes | None]


class Context:
    """The Lambda context the handlers read: ARN and remaining time (a callable may shrink it)."""

    def __init__(self, remaining_ms: int | Callable[[], int] = 120_000, alias: str | None = None) -> None:
        self.invoked_function_arn = FUNCTION_ARN + (f":{alias}" if alias else "")
        self.aws_request_id = uuid.uuid4().hex
        self._remaining = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self._remaining() if callable(self._remaining) else self._remaining


def load_app(function: str, env: Mapping[str, str | None], monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """A fresh container of ``functions/<function>/app.py`` (a cold start) under ``env``."""
    for name, value in env.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    path = ROOT / "functions" / function / "app.py"
    spec = importlib.util.spec_from_file_location(f"{function}_app_{uuid.uuid4().hex}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def value_of(seq: int, **overrides: Any) -> bytes:
    """A good record value: a JSON object the sinks of every kind accept."""
    return json.dumps({"id": seq, "name": f"customer-{seq:06d}", "amount": round(seq * 1.25, 2), **overrides}).encode()


def kafka_event(records: Iterable[EventRecord], bootstrap: str, *,
                connector: str | None = None) -> dict[str, Any]:
    """A self-managed-Kafka-shaped event (what the event source mapping sends) for ``records``."""
    event = build_kafka_event(
        [(t, p, o, 1_700_000_000_000 + o, "CREATE_TIME", f"k{o}".encode(), v, [("src", b"reliability")])
         for t, p, o, v in records],
        bootstrap_servers=bootstrap,
    )
    if connector:
        event["connector"] = connector
    return event


# --- targets ---------------------------------------------------------------------------------
class Target:
    """A sink connector's config and the coordinates of every record it holds."""

    kind = "abstract"
    exactly_once = True

    def config(self) -> dict[str, str]:
        raise NotImplementedError

    def coords(self) -> list[Coord]:
        raise NotImplementedError

    def cleanup(self) -> None:
        """Drop what the test created."""


class JdbcTarget(Target):
    def __init__(self, kind: str, url: str, table: str) -> None:
        from lambda_connect.plugins.connectors.jdbc.urls import engine_for

        self.kind, self.url, self.table = kind, url, table
        self.engine = engine_for(url)

    @property
    def quote(self) -> str:
        return "`" if self.engine.dialect.name in ("mysql", "mariadb") else '"'

    def config(self) -> dict[str, str]:
        return {"connector.class": "io.confluent.connect.jdbc.JdbcSinkConnector", "connection.url": self.url,
                "auto.create": "true", "auto.evolve": "false", "insert.mode": "insert", "pk.mode": "none",
                "table.name.format": self.table}

    def execute(self, *statements: str) -> None:
        from sqlalchemy import text

        with self.engine.begin() as conn:
            for statement in statements:
                conn.execute(text(statement.replace("`", self.quote)))

    def coords(self) -> list[Coord]:
        from sqlalchemy import inspect, text

        if not inspect(self.engine).has_table(self.table):
            return []
        q = self.quote
        with self.engine.connect() as conn:
            rows = conn.execute(text(f"SELECT {q}kt{q}, {q}kp{q}, {q}ko{q} FROM {q}{self.table}{q}"))
            return [(str(t), int(p), int(o)) for t, p, o in rows]

    def cleanup(self) -> None:
        from sqlalchemy import inspect, text

        try:
            if inspect(self.engine).has_table(self.table):
                with self.engine.begin() as conn:
                    conn.execute(text(f"DROP TABLE {self.quote}{self.table}{self.quote}"))
        except Exception:  # a database the test took down; nothing left to clean
            pass


class S3Target(Target):
    kind = "s3"
    bucket = "reliability-sink"

    def __init__(self, prefix: str) -> None:
        import boto3

        self.prefix = prefix
        self.client = boto3.client("s3", region_name="us-east-1")
        self.client.create_bucket(Bucket=self.bucket)

    def config(self) -> dict[str, str]:
        return {"connector.class": "io.confluent.connect.s3.S3SinkConnector", "s3.bucket.name": self.bucket,
                "s3.region": "us-east-1", "topics.dir": self.prefix, "flush.size": "64",
                "format.class": "io.confluent.connect.s3.format.json.JsonFormat"}

    def coords(self) -> list[Coord]:
        out: list[Coord] = []
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix + "/")
        for page in pages:
            for obj in page.get("Contents", []):
                if "/_lambda_connect/" in obj["Key"]:
                    continue
                body = self.client.get_object(Bucket=self.bucket, Key=obj["Key"])["Body"].read().decode()
                for line in body.splitlines():
                    if line:
                        value = json.loads(line)
                        out.append((value["kt"], value["kp"], value["ko"]))
        return out


_FILE_FIELDS = {name: re.compile(rf"[{{ ]{name}=([^,}}]*)") for name in ("kt", "kp", "ko")}


class FileTarget(Target):
    kind = "file"
    exactly_once = False  # FileStreamSink appends, as Kafka's does: at least once

    def __init__(self, path: Path) -> None:
        self.path = path

    def config(self) -> dict[str, str]:
        return {"connector.class": "FileStreamSinkConnector", "file": str(self.path)}

    def coords(self) -> list[Coord]:
        if not self.path.exists():
            return []
        out: list[Coord] = []
        for line in self.path.read_text().splitlines():
            found = {name: pattern.search(line) for name, pattern in _FILE_FIELDS.items()}
            assert all(found.values()), f"line without coordinates in {self.path}: {line!r}"
            out.append((found["kt"].group(1), int(found["kp"].group(1)), int(found["ko"].group(1))))  # type: ignore[union-attr]
        return out


ALL_SINKS = ["sqlite", "postgres", "mariadb", "s3", "file"]
JDBC_SINKS = ["sqlite", "postgres", "mariadb"]


def make_target(kind: str, request: pytest.FixtureRequest, tmp_path: Path, name: str) -> Target:
    if kind == "s3":
        return S3Target(name)
    if kind == "file":
        return FileTarget(tmp_path / f"{name}.txt")
    url = f"sqlite:///{tmp_path}/{name}.db" if kind == "sqlite" else request.getfixturevalue(f"{kind}_url")
    return JdbcTarget(kind, url, name)


def create_sink(app: ModuleType, name: str, topics: str, target: Target, **extra: str) -> None:
    """Store a sink connector the way the REST API would, with the coordinates transform first."""
    transforms = extra.pop("transforms", "")
    config = {"name": name, "topics": topics, **JSON_VALUES, **COORDINATES, **target.config(), **extra}
    if transforms:
        config["transforms"] = f"coords,{transforms}"
    app.handler.store.create_connector(name, config)


# --- the dead letter queue -------------------------------------------------------------------
def read_topic(bootstrap: str, topic: str, expected: int = 0, *, timeout: float = 30.0,
               idle: float = 1.5) -> list[Any]:
    """Every message of ``topic``: read until ``expected`` arrived (at most ``timeout`` s) and then
    until nothing more comes for ``idle`` s, so extra copies are seen too. The high watermarks are
    not used: tansu reports them per record batch, not per record."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"read-{uuid.uuid4().hex[:8]}",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    try:
        metadata = consumer.list_topics(topic, timeout=10).topics.get(topic)
        if metadata is None or metadata.error is not None or not metadata.partitions:
            assert expected == 0, f"topic {topic} does not exist, {expected} record(s) expected"
            return []
        consumer.assign([TopicPartition(topic, p, 0) for p in metadata.partitions])
        out: list[Any] = []
        deadline = time.monotonic() + timeout
        quiet_since = time.monotonic()
        while time.monotonic() < deadline:
            batch = [m for m in consumer.consume(num_messages=1000, timeout=0.3) if m.error() is None]
            out += batch
            if batch:
                quiet_since = time.monotonic()
            elif len(out) >= expected and time.monotonic() - quiet_since >= idle:
                break
        return out
    finally:
        consumer.close()


def dlq_messages(bootstrap: str, topic: str, expected: int, timeout: float = 30.0) -> list[Any]:
    """Every message of the DLQ topic (see ``read_topic``)."""
    return read_topic(bootstrap, topic, expected, timeout=timeout)


def headers_of(message: Any) -> dict[str, bytes]:
    return {k: v for k, v in (message.headers() or [])}


def dlq_coords(messages: Sequence[Any]) -> list[Coord]:
    """The original coordinates of each dead-lettered record, from its error-context headers."""
    out: list[Coord] = []
    for message in messages:
        h = headers_of(message)
        out.append((h["__connect.errors.topic"].decode(), int(h["__connect.errors.partition"]),
                    int(h["__connect.errors.offset"])))
    return out
