"""Defect 1 of issue 11 through the real sink handler (``functions/sink_task/app.py``) and a real
broker: a topic deleted and created again under the same name is written, not skipped.

The handler asks the broker of the event (``bootstrapServers``) for the topic's identity, as
it does in Lambda; the sinks are JDBC (SQLite, PostgreSQL) and S3 (moto).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lambda_connect.plugins.connectors import positions

from tests.e2e.test_sink_delivery import JdbcSink, S3Sink, Sink, create, event_for, load_app

pytestmark = [pytest.mark.broker]


class Context:
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:lambda-connect-sink"

    def get_remaining_time_in_millis(self) -> int:
        return 120_000


@pytest.fixture(params=["sqlite", "postgres", "s3"])
def sink(request: pytest.FixtureRequest, tmp_path: Path, unique_name: str) -> Iterator[Sink]:
    if request.param == "s3":
        import boto3
        from lambda_connect.plugins.connectors.s3 import sink as s3_sink
        from moto import mock_aws

        with mock_aws():
            boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="e2e-sink")
            s3_sink._clients.clear()
            yield S3Sink(unique_name)
            s3_sink._clients.clear()
        return
    url = f"jdbc:sqlite:{tmp_path}/sink.db" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    jdbc = JdbcSink(url, unique_name)
    try:
        yield jdbc
    finally:
        jdbc.cleanup()


def topic_id(admin: Any, topic: str) -> str | None:
    from confluent_kafka import TopicCollection

    try:
        return str(admin.describe_topics(TopicCollection([topic]), request_timeout=10)[topic].result(10).topic_id)
    except Exception:  # not (yet) there
        return None


def recreate(admin: Any, topic: str) -> None:
    """Delete ``topic`` and create it again; returns once the broker reports the new topic id."""
    from lambda_connect.aws.kafka_clients import ensure_topic

    old = topic_id(admin, topic)
    admin.delete_topics([topic], request_timeout=10)[topic].result(10)
    deadline = time.monotonic() + 30
    while topic_id(admin, topic) is not None and time.monotonic() < deadline:
        time.sleep(0.1)
    ensure_topic(admin, topic, 1, 1)
    while topic_id(admin, topic) in (None, old) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert topic_id(admin, topic) not in (None, old), "the broker never reported the recreated topic"


def test_deleted_and_recreated_topic_is_delivered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sink: Sink,
                                                  kafka_broker: str, kafka_admin: Any, kafka_topic: Any,
                                                  unique_name: str, caplog: pytest.LogCaptureFixture) -> None:
    app = load_app(f"sqlite:///{tmp_path / 'state.db'}", monkeypatch)
    topic = kafka_topic(prefix="k10")
    create(app, unique_name, topic, sink)

    def invoke(offsets: range, base: int = 0) -> None:
        values = lambda i: f'{{"id": {base + i}}}'.encode()  # noqa: E731
        app.lambda_handler({**event_for(topic, kafka_broker, offsets, values), "connector": unique_name}, Context())

    n = 100 if isinstance(sink, S3Sink) else 1000  # S3 on moto: fewer records, as many objects per batch
    for start in range(0, 3 * n, n):
        invoke(range(start, start + n))
    assert len(sink.ids()) == 3 * n
    old_id = topic_id(kafka_admin, topic)

    recreate(kafka_admin, topic)
    caplog.set_level(logging.WARNING, logger=positions.__name__)
    invoke(range(0, n // 2), base=100_000)  # the warm container: its cached identity is the old one
    invoke(range(n // 2, n), base=100_000)

    assert sink.ids() == list(range(3 * n)) + list(range(100_000, 100_000 + n)), "none were written before the fix"
    warnings = [r.getMessage() for r in caplog.records if r.name == positions.__name__]
    assert len(warnings) == 1 and topic in warnings[0] and str(old_id) in warnings[0]
    assert str(topic_id(kafka_admin, topic)) in warnings[0]

    invoke(range(0, n), base=100_000)  # a redelivery of the new topic's records: one copy still
    assert len(sink.ids()) == 4 * n

    cold = load_app(f"sqlite:///{tmp_path / 'state.db'}", monkeypatch)  # a new container: one lookup, no reset
    cold.lambda_handler({**event_for(topic, kafka_broker, range(n, n + 100), lambda i: f'{{"id": {i}}}'.encode()),
                         "connector": unique_name}, Context())
    assert len(sink.ids()) == 4 * n + 100
    transport = next(iter(cold.handler._transports.values()))
    assert transport.identities.lookups == 1
