"""The S3 source end to end: moto S3 → ``functions/source_task/app.py`` → the embedded broker.

Objects under the prefix arrive in key order (whatever order they were written in), an invocation
that ends inside an object is resumed at the next line by the next one, objects written later are
picked up by a later tick, and nothing is delivered twice.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.e2e.test_source_delivery import Context, load_app, trigger
from tests.fixtures.broker import consume_all

pytestmark = [pytest.mark.broker]

REGION = "eu-west-1"
LINES_PER_OBJECT = 50
BATCH = 7  # 7 * k is never a multiple of 50 below 350 lines: an early end always falls inside an object


@pytest.fixture
def s3(unique_name: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, str]]:
    import boto3
    from moto import mock_aws

    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        client = boto3.client("s3", region_name=REGION)
        bucket = unique_name.replace("_", "-").lower()
        client.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
        yield client, bucket


def put_lines(client: Any, bucket: str, key: str, values: Sequence[Any]) -> None:
    client.put_object(Bucket=bucket, Key=key, Body="".join(json.dumps(v) + "\n" for v in values).encode())


def rows(obj: str) -> list[dict[str, Any]]:
    return [{"object": obj, "line": n} for n in range(1, LINES_PER_OBJECT + 1)]


def s3_connector(app: ModuleType, bucket: str, topic: str) -> None:
    app.handler.store.create_connector("s3-in", {
        "name": "s3-in", "connector.class": "S3SourceConnector", "s3.bucket.name": bucket, "s3.region": REGION,
        "topics.dir": "in", "topic": topic, "batch.size": str(BATCH),
        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
        "value.converter.schemas.enable": "false",
    })


def committed(app: ModuleType) -> dict[str, Any]:
    (_, offset), = app.handler.store.get_offsets("s3-in")
    return offset


def slow_polls(monkeypatch: pytest.MonkeyPatch, real_clock: Callable[[], float]) -> Callable[[], float]:
    """A worker clock on which every S3 poll takes a second: the budget ends after a few polls
    (the rest of the run — producing, flushing — keeps real time)."""
    from lambda_connect.plugins.connectors.s3.source import S3SourceTask

    polls = itertools.count()
    seconds = [0.0]
    real_poll = S3SourceTask.poll

    def poll(self: S3SourceTask) -> Any:
        seconds[0] = float(next(polls) + 1)
        return real_poll(self)

    monkeypatch.setattr(S3SourceTask, "poll", poll)
    return lambda: real_clock() + seconds[0]


def test_objects_arrive_in_key_order_resume_mid_object_and_new_objects_are_picked_up(
        s3, tmp_path: Path, kafka_broker: str, kafka_topic: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    client, bucket = s3
    app = load_app(tmp_path, kafka_broker, monkeypatch)
    topic = kafka_topic()
    # Written out of key order; plus what must not be read.
    put_lines(client, bucket, "in/2024/02.json", rows("02"))
    put_lines(client, bucket, "in/2023/12.json", rows("12"))
    put_lines(client, bucket, "in/2024/01.json", rows("01"))
    put_lines(client, bucket, "other/x.json", [{"object": "other", "line": 1}])
    client.put_object(Bucket=bucket, Key="in/2024/", Body=b"")
    s3_connector(app, bucket, topic)

    worker = app.handler.worker
    real_clock = worker.clock
    with monkeypatch.context() as slow:
        slow.setattr(worker, "clock", slow_polls(slow, real_clock))
        first = app.lambda_handler(trigger("s3-in"), Context(remaining_ms=5_000 + 10_000))
    assert (first["outcome"], first["stop_reason"]) == ("completed", "budget")
    sent = first["records_produced"]
    assert 0 < sent < 3 * LINES_PER_OBJECT
    assert 0 < committed(app)["line"] < LINES_PER_OBJECT  # the invocation ended inside an object

    second = app.lambda_handler(trigger("s3-in"), Context())
    assert second["outcome"] == "completed" and second["records_produced"] == 3 * LINES_PER_OBJECT - sent
    assert committed(app) == {"key": "in/2024/02.json", "line": LINES_PER_OBJECT}

    put_lines(client, bucket, "in/2024/03.json", rows("03"))
    third = app.lambda_handler(trigger("s3-in"), Context())
    assert third["records_produced"] == LINES_PER_OBJECT
    idle = app.lambda_handler(trigger("s3-in"), Context())
    assert (idle["outcome"], idle["records_produced"]) == ("completed", 0)

    values = [json.loads(m.value()) for m in consume_all(kafka_broker, topic, 4 * LINES_PER_OBJECT)]
    assert values == rows("12") + rows("01") + rows("02") + rows("03")  # key order, once each
