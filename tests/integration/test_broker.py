"""Against a real Kafka-protocol broker: the embedded tansu, the client factory and the event builder."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import pytest
from lambda_connect.aws.kafka_clients import (
    KafkaSettings,
    ensure_topic,
    kafka_settings_from_env,
    list_topics,
    make_admin,
    make_consumer,
    make_producer,
)
from lambda_connect.aws.kafka_event import KafkaEvent, build_kafka_event
from lambda_connect.local.broker import BrokerError, EmbeddedBroker

from tests.fixtures.broker import consume_all, produce

pytestmark = pytest.mark.broker


def _event_from_messages(messages: list[Any], bootstrap: str) -> dict[str, Any]:
    """What the local ESM emulator does with a polled batch."""
    return build_kafka_event(
        [
            (
                m.topic(),
                m.partition(),
                m.offset(),
                m.timestamp()[1],
                "CREATE_TIME",
                m.key(),
                m.value(),
                m.headers() or [],
            )
            for m in messages
        ],
        bootstrap_servers=bootstrap,
    )


def test_produce_consume_round_trip_through_a_lambda_event(kafka_broker: str, kafka_topic: Any) -> None:
    topic = kafka_topic(3, prefix="orders-eu")
    records = [
        (b"order-1", b'{"id":1}', [("trace", b"\x00\xff"), ("Trace", b"x"), ("trace", b"y")], 0),
        (None, b"\xde\xad\xbe\xef", None, 1),
        (b"order-1", None, None, 0),
    ]
    delivered = produce(kafka_broker, topic, records)
    assert [p for p, _ in delivered] == [0, 1, 0]

    messages = consume_all(kafka_broker, topic, 3, timeout=60)
    event = KafkaEvent(_event_from_messages(messages, kafka_broker))
    by_key = {(r.partition, r.offset): r for r in event.records}
    first, tombstone = by_key[delivered[0]], by_key[delivered[2]]
    binary = by_key[delivered[1]]
    assert first.topic == topic
    assert first.key == b"order-1" and first.value == b'{"id":1}'
    assert first.headers == [("trace", b"\x00\xff"), ("Trace", b"x"), ("trace", b"y")]
    assert binary.key is None and binary.value == b"\xde\xad\xbe\xef"
    assert tombstone.is_tombstone and tombstone.key == b"order-1"
    assert [r.partition for r in event.records if r.partition == 0] == [0, 0]
    assert event.bootstrap_servers == [kafka_broker]


def test_ensure_topic_is_idempotent_and_listed(kafka_broker: str) -> None:
    admin = make_admin(KafkaSettings(kafka_broker))
    name = f"connect-dlq-{uuid.uuid4().hex[:10]}"
    try:
        assert ensure_topic(admin, name, partitions=2, replication_factor=1) is True
        assert ensure_topic(admin, name, partitions=5, replication_factor=1) is False
        assert name in list_topics(admin)
        assert len(admin.list_topics(name, timeout=10).topics[name].partitions) == 2
    finally:
        admin.delete_topics([name], request_timeout=10)[name].result(timeout=10)


def test_factory_clients_from_env_commit_and_resume(kafka_broker: str, kafka_topic: Any) -> None:
    topic = kafka_topic(1)
    settings = kafka_settings_from_env(
        {"LAMBDA_CONNECT_BOOTSTRAP_SERVERS": kafka_broker, "LAMBDA_CONNECT_KAFKA_FAST_GROUP_JOIN": "1"}
    )
    producer = make_producer(settings, {"linger.ms": 1})
    for i in range(5):
        producer.produce(topic, f"v{i}".encode(), f"k{i}".encode())
    assert producer.flush(30) == 0

    group = f"connect-{uuid.uuid4().hex[:10]}"

    def read(count: int) -> list[bytes]:
        consumer = make_consumer(settings, group)
        try:
            consumer.subscribe([topic])
            values: list[bytes] = []
            for _ in range(120):
                for message in consumer.consume(count - len(values), timeout=0.5):
                    if message.error() is None:
                        values.append(message.value())
                if len(values) >= count:
                    break
            if values:
                consumer.commit(asynchronous=False)
            return values
        finally:
            consumer.close()

    assert read(5) == [b"v0", b"v1", b"v2", b"v3", b"v4"]
    producer.produce(topic, b"v5", b"k5")
    assert producer.flush(30) == 0
    # A new member of the same group starts after the committed offsets, as a new Lambda poller would.
    assert read(1) == [b"v5"]


class TestEmbeddedBroker:
    def test_lifecycle_and_log(self, tmp_path: Path) -> None:
        log = tmp_path / "tansu.log"
        with EmbeddedBroker(log_path=log) as broker:
            assert broker.running
            pid = broker.pid
            assert pid is not None
            host, port = broker.bootstrap_servers.split(":")
            assert host == "127.0.0.1" and int(port) > 0
            assert broker.startup_seconds is not None
            assert list_topics(make_admin(KafkaSettings(broker.bootstrap_servers))) == []
        assert not broker.running
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
        assert f"127.0.0.1:{port}" in log.read_text()

    def test_temporary_log_is_removed_on_clean_exit(self) -> None:
        with EmbeddedBroker() as broker:
            log = broker.log_path
            assert log is not None and log.exists()
        assert not log.exists()

    def test_two_brokers_get_distinct_ports(self) -> None:
        with EmbeddedBroker() as first, EmbeddedBroker() as second:
            assert first.bootstrap_servers != second.bootstrap_servers

    def test_missing_binary_names_the_extra(self, tmp_path: Path) -> None:
        with pytest.raises(BrokerError, match=r"lambda-connect\[local\]"):
            EmbeddedBroker(binary=tmp_path / "tansu").start()

    def test_broker_that_exits_reports_its_log(self, tmp_path: Path) -> None:
        fake = tmp_path / "tansu"
        fake.write_text("#!/bin/sh\necho 'address already in use' >&2\nexit 3\n")
        fake.chmod(0o755)
        with pytest.raises(BrokerError, match=r"exited with code 3.*address already in use"):
            EmbeddedBroker(binary=fake, log_path=tmp_path / "fake.log", startup_timeout=10).start()
