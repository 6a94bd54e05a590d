"""Defect 1 of issue 11 for the Redis sink's STREAM marks, against the machine's Redis: a topic
deleted and created again is appended, not skipped; a redelivery is still skipped."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from lambda_connect.api import SinkRecord, SinkTaskContext
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


def test_rewound_stream_sink_appends_again_and_reset_forgets_every_mark(r: Any, redis_url: str,
                                                                        unique_name: str) -> None:
    """Defect 10 for Redis: PATCH/DELETE offsets of a STOPPED sink move the marks in Redis."""
    from lambda_connect.rest.http_api import build_handler
    from lambda_connect.state import open_store

    from tests.unit.rest.api_events import ApiClient, FakeSinkOffsets

    config = {"connector.class": "com.redis.kafka.connect.RedisSinkConnector", "topics": "k10",
              "redis.uri": redis_url, "redis.type": "STREAM", "redis.keyspace": unique_name}
    task = RedisSinkTask()
    task.initialize(SinkTaskContext("rewind", 0, config))
    task.start(config)
    task.put([*batch(range(10)), SinkRecord("k10", 1, None, None, None, {"id": 99}, 0)])
    groups = FakeSinkOffsets()
    groups.groups["connect-rewind"] = {("k10", 0): 10, ("k10", 1): 1}
    api = ApiClient(build_handler(open_store("memory://"), None, groups, {}))
    assert api.post("/connectors", {"name": "rewind", "config": config, "initial_state": "STOPPED"}).status == 201

    reply = api.patch("/connectors/rewind/offsets", {"offsets": [
        {"partition": {"kafka_topic": "k10", "kafka_partition": 0}, "offset": {"kafka_offset": 5}}]})
    assert reply.status == 200, reply.text
    assert reply.json["message"] == "The offsets for this connector have been altered successfully"
    task.put(batch(range(10)))  # the group redelivers from 5: offsets 5..9 are appended again
    assert r.xlen(unique_name) == 16

    assert api.delete("/connectors/rewind/offsets").status == 200
    marks = r.hgetall(f"{unique_name}:__lambda_connect_offsets")
    assert marks[b"rewind:k10:0"] == b"-1" and marks[b"rewind:k10:1"] == b"-1"
