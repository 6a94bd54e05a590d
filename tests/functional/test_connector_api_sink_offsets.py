"""Sink connector offsets through the REST API against a real Kafka-protocol broker: the
consumer group ``connect-<name>`` is read, altered and reset with the AdminClient."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from lambda_connect.aws.kafka_clients import KafkaSettings
from lambda_connect.aws.sink_offsets import KafkaSinkOffsets
from lambda_connect.rest.http_api import build_handler
from lambda_connect.state import open_store

from tests.unit.rest.api_events import ApiClient

pytestmark = pytest.mark.broker


def committed(bootstrap: str, group: str, topic: str, partitions: int) -> dict[int, int]:
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        found = consumer.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=10)
        return {tp.partition: tp.offset for tp in found if tp.offset >= 0}
    finally:
        consumer.close()


def commit(bootstrap: str, group: str, topic: str, offsets: dict[int, int]) -> None:
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        consumer.commit(offsets=[TopicPartition(topic, p, o) for p, o in offsets.items()], asynchronous=False)
    finally:
        consumer.close()


def test_sink_offsets_get_alter_reset_on_a_broker(kafka_broker: str, kafka_topic: Any) -> None:
    topic = kafka_topic(partitions=2)
    name = "sink-" + uuid.uuid4().hex[:8]
    group = f"connect-{name}"
    commit(kafka_broker, group, topic, {0: 3, 1: 2})
    sink_offsets = KafkaSinkOffsets.from_settings(KafkaSettings(bootstrap_servers=kafka_broker), timeout=15)
    api = ApiClient(build_handler(open_store("memory://"), None, sink_offsets, {}))
    config = {"connector.class": "FileStreamSink", "topics": topic, "file": "/tmp/unused"}
    assert api.post("/connectors", {"name": name, "config": config, "initial_state": "STOPPED"}).status == 201

    offsets = api.get(f"/connectors/{name}/offsets").json["offsets"]
    assert offsets == [
        {"partition": {"kafka_topic": topic, "kafka_partition": 0}, "offset": {"kafka_offset": 3}},
        {"partition": {"kafka_topic": topic, "kafka_partition": 1}, "offset": {"kafka_offset": 2}},
    ]
    body = {"offsets": [
        {"partition": {"kafka_topic": topic, "kafka_partition": 1}, "offset": {"kafka_offset": 1}},
        {"partition": {"kafka_topic": topic, "kafka_partition": 0}, "offset": None},  # back to the earliest
    ]}
    reply = api.patch(f"/connectors/{name}/offsets", body)
    assert reply.status == 200, reply.text
    assert committed(kafka_broker, group, topic, 2) == {0: 0, 1: 1}

    reply = api.delete(f"/connectors/{name}/offsets")
    assert reply.status == 200, reply.text
    assert committed(kafka_broker, group, topic, 2) == {}
    assert api.get(f"/connectors/{name}/offsets").json == {"offsets": []}
