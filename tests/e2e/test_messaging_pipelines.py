"""``lambda-connect up`` in-process with messaging connectors, driven through its REST API only:

* MQTT (Mosquitto) → Kafka → HTTP webhook (the test's own server): QoS 1 messages published while the
  source is scheduled arrive at the webhook in order, as JSON arrays of 10;
* RabbitMQ → Kafka → Redis STREAM: queue order kept, each message once, the queue drained (acked).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from lambda_connect.local.runtime import LocalRuntime, RuntimeOptions

from tests.fixtures.messaging import Webhook

pytestmark = [pytest.mark.broker, pytest.mark.slow]

FAST_GROUP = {"session.timeout.ms": 6000, "heartbeat.interval.ms": 1000}
BYTES = "org.apache.kafka.connect.converters.ByteArrayConverter"


def wait_for(condition: Callable[[], bool], timeout: float = 60.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"{what} not met within {timeout}s")


@pytest.fixture
def runtime(tmp_path: Path, kafka_broker: str, kafka_topic: Any) -> Iterator[LocalRuntime]:
    # Depends on kafka_topic so that the test's topics are deleted only after the runtime stopped:
    # librdkafka (2.x) can crash in its metadata cache when a topic vanishes under a live client.
    options = RuntimeOptions(state_url=f"sqlite:///{tmp_path}/state.db", port=0, bootstrap_servers=kafka_broker,
                             reconcile_interval=1.0, esm_consumer_overrides=FAST_GROUP)
    rt = LocalRuntime(options).start()
    yield rt
    rt.stop(20)


def create(runtime: LocalRuntime, name: str, config: dict[str, str]) -> None:
    r = requests.post(f"{runtime.url}/connectors", json={"name": name, "config": config}, timeout=30)
    assert r.status_code == 201, r.text


def task_running(runtime: LocalRuntime, name: str) -> bool:
    r = requests.get(f"{runtime.url}/connectors/{name}/status", timeout=10)
    tasks = r.json().get("tasks", []) if r.status_code == 200 else []
    return bool(tasks) and tasks[0]["state"] == "RUNNING"


def test_mqtt_to_kafka_to_http_webhook(runtime: LocalRuntime, webhook: Webhook, mqtt_server: tuple[str, int],
                                       kafka_topic: Any) -> None:
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    host, port = mqtt_server
    suffix = uuid.uuid4().hex[:8]
    topic, mqtt_topic = kafka_topic(), f"lc/e2e/{suffix}/temperature"
    create(runtime, "webhook", {
        "connector.class": "HttpSink", "topics": topic, "http.api.url": webhook.url + "/readings",
        "batch.max.size": "10", "batch.json.as.array": "true", "value.converter": BYTES,
        "key.converter": "org.apache.kafka.connect.storage.StringConverter",
        "lambda.maximum.batching.window.seconds": "0"})
    create(runtime, "sensors", {
        "connector.class": "MqttSource", "mqtt.server.uri": f"tcp://{host}:{port}", "mqtt.topics": mqtt_topic,
        "kafka.topic": topic, "mqtt.qos": "1", "mqtt.clean.session.enabled": "false",
        "mqtt.client.id": f"e2e-{suffix}", "mqtt.poll.idle.ms": "300", "poll.interval.ms": "500",
        "value.converter": BYTES, "key.converter": "org.apache.kafka.connect.storage.StringConverter"})
    wait_for(lambda: task_running(runtime, "sensors"), what="the MQTT source's first tick")
    time.sleep(1.0)  # its session (with the subscription) now exists at the broker

    publisher = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"pub-{suffix}")
    publisher.connect(host, port, 30)
    publisher.loop_start()
    try:
        for n in range(30):
            publisher.publish(mqtt_topic, json.dumps({"n": n, "celsius": 20 + n / 10}), qos=1).wait_for_publish(10)
    finally:
        publisher.disconnect()
        publisher.loop_stop()

    readings = lambda: [item for r in webhook.delivered for item in r.json()]  # noqa: E731
    wait_for(lambda: len(readings()) >= 30, what="30 readings at the webhook")
    time.sleep(1.0)
    assert [item["n"] for item in readings()] == list(range(30))  # in order, once each
    assert all(r.path == "/readings" and r.headers["content-type"] == "application/json" for r in webhook.delivered)


def test_rabbitmq_to_kafka_to_redis_stream(runtime: LocalRuntime, rabbit_queue: Any,
                                           rabbitmq_server: tuple[str, int], redis_url: str, kafka_topic: Any) -> None:
    import pika
    import redis

    host, port = rabbitmq_server
    queue, topic = rabbit_queue(), kafka_topic()
    stream_key = f"lc-e2e-{uuid.uuid4().hex[:8]}"
    connection = pika.BlockingConnection(pika.ConnectionParameters(host, port))
    channel = connection.channel()
    for n in range(40):
        channel.basic_publish("", queue, json.dumps({"order": n, "sku": f"sku-{n % 3}"}).encode())
    create(runtime, "orders-in", {
        "connector.class": "RabbitMQSource", "rabbitmq.host": host, "rabbitmq.port": str(port),
        "rabbitmq.queue": queue, "kafka.topic": topic, "rabbitmq.poll.idle.ms": "300", "poll.interval.ms": "500",
        "value.converter": BYTES})
    create(runtime, "orders-cache", {
        "connector.class": "RedisSink", "topics": topic, "redis.uri": redis_url, "redis.type": "STREAM",
        "redis.keyspace": stream_key, "value.converter": "org.apache.kafka.connect.json.JsonConverter",
        "value.converter.schemas.enable": "false", "lambda.maximum.batching.window.seconds": "0"})
    r = redis.Redis.from_url(redis_url)
    try:
        wait_for(lambda: r.xlen(stream_key) >= 40, what="40 entries in the Redis stream")
        time.sleep(1.0)
        entries = [fields for _, fields in r.xrange(stream_key)]
        assert [int(f[b"order"]) for f in entries] == list(range(40))
        assert entries[4] == {b"order": b"4", b"sku": b"sku-1"}
        assert channel.queue_declare(queue, passive=True).method.message_count == 0  # acked
    finally:
        r.delete(stream_key, stream_key + ":__lambda_connect_offsets")
        r.close()
        connection.close()
