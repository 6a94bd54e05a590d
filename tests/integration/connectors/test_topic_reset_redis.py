"""Defect 1 of issue 11 for the Redis sink's STREAM marks, against the machine's Redis: a topic
deleted and created again is appended, not skipped; a redelivery is still skipped."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from lambda_connect.api import SinkRecord
from lambda_connect.plugins.connectors import positions
from lambda_connect.plugins.connectors.redis import sink as redis_sink
from lambda_connect.plugins.connectors.redis.sink import RedisSinkTask

from tests.unit.plugins.connectors.test_topic_reset import Cluster, context


@pytest.fixture
def r(redis_url: str, unique_name: str) -> Iterator[Any]:
    import redis

    redis_sink._clients.clear()
    client = redis.Redis.from_url(redis_url)
    yield client
    for key in client.scan_iter(f"{unique_name}*"):
        client.delete(key)
    redis_sink._clients.clear()


def batch(offsets: range, base: int = 0) -> list[SinkRecord]:
    return [SinkRecord("k10", 0, None, None, None, {"id": base + o}, o) for o in offsets]


def test_recreated_topic_is_appended_to_the_stream(r: Any, redis_url: str, unique_name: str,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    config = {"redis.uri": redis_url, "redis.type": "STREAM", "redis.keyspace": unique_name}
    cluster = Cluster(k10="c1/topic-A")
    task = RedisSinkTask()
    task.initialize(context("redis-reset", config, cluster))
    task.start(config)
    task.put(batch(range(300)))
    task.put(batch(range(200, 300)))  # a redelivery
    assert r.xlen(unique_name) == 300

    cluster.now["k10"] = "c1/topic-B"
    caplog.set_level(logging.WARNING, logger=positions.__name__)
    task.put(batch(range(100), base=1000))
    assert r.xlen(unique_name) == 400, "none of the new topic's records were appended before the fix"
    assert any("c1/topic-A" in m and "c1/topic-B" in m for m in caplog.messages)
    marks = r.hgetall(f"{unique_name}:__lambda_connect_offsets")
    assert marks == {b"redis-reset:k10:0": b"99", b"redis-reset:k10:0#topic_identity": b"c1/topic-B"}
    task.put(batch(range(100), base=1000))  # and the new topic's redelivery is skipped again
    assert r.xlen(unique_name) == 400
