"""MQTT sink against the machine's Mosquitto (own Mosquittos for TLS and passwords): records arrive
in order per topic, a topic renamed by RegexRouter, retained messages and their clearing by a
tombstone, poison records to the DLQ, the broker going away before its acknowledgements."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from lambda_connect.api import ConnectException, RetriableException, SinkRecord, SinkTaskContext
from lambda_connect.plugins.connectors.mqtt.sink import MqttSinkTask

from tests.e2e.test_sink_delivery import Context, event_for, load_app
from tests.fixtures.messaging import Certificates, TcpProxy, own_mosquitto, read_topic


class Subscriber:
    """Collects (topic, payload, retain) of everything published under a filter."""

    def __init__(self, host: str, port: int, topic_filter: str, **tls: Any) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self.messages: list[tuple[str, bytes, bool]] = []
        self._lock = threading.Lock()
        subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"sub-{uuid.uuid4().hex[:8]}")
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *a: subscribed.set()
        self.client.connect(host, port, 30)
        self.client.loop_start()
        self.client.subscribe(topic_filter, qos=1)
        assert subscribed.wait(10)

    def _on_message(self, _c: Any, _u: Any, message: Any) -> None:
        with self._lock:
            self.messages.append((message.topic, bytes(message.payload), bool(message.retain)))

    def wait_for(self, count: int, timeout: float = 15.0) -> list[tuple[str, bytes, bool]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.messages) >= count:
                    return list(self.messages)
            time.sleep(0.02)
        raise AssertionError(f"{len(self.messages)} of {count} MQTT messages arrived")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def rec(topic: str, offset: int, value: Any, partition: int = 0) -> SinkRecord:
    return SinkRecord(topic, partition, None, None, None, value, offset)


def task_for(server: str, reporter: Any = None, **props: str) -> MqttSinkTask:
    config = {"mqtt.server.uri": server, "mqtt.qos": "1", **props}
    task = MqttSinkTask()
    task.initialize(SinkTaskContext("mqtt-sink", 0, config, reporter))
    task.start(config)
    return task


@pytest.fixture
def server(mqtt_server: tuple[str, int]) -> str:
    return f"tcp://{mqtt_server[0]}:{mqtt_server[1]}"


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    return load_app(f"sqlite:///{tmp_path / 'state.db'}", monkeypatch)


@pytest.mark.broker
def test_records_arrive_in_order_under_the_renamed_topic_and_poison_goes_to_the_dlq(
        app: ModuleType, mqtt_server: tuple[str, int], server: str, kafka_broker: str, kafka_topic: Any,
        unique_name: str) -> None:
    dlq = kafka_topic()
    subscriber = Subscriber(*mqtt_server, f"lc/{unique_name}/#")
    try:
        app.handler.store.create_connector(unique_name, {
            "name": unique_name, "connector.class": "MqttSink", "topics": "orders", "mqtt.server.uri": server,
            "mqtt.qos": "1", "key.converter": "org.apache.kafka.connect.storage.StringConverter",
            "value.converter": "org.apache.kafka.connect.json.JsonConverter",
            "value.converter.schemas.enable": "false",
            "transforms": "route", "transforms.route.type": "org.apache.kafka.connect.transforms.RegexRouter",
            "transforms.route.regex": "(.*)", "transforms.route.replacement": f"lc/{unique_name}/$1",
            "errors.tolerance": "all", "errors.deadletterqueue.topic.name": dlq,
            "errors.deadletterqueue.context.headers.enable": "true"})
        values = lambda i: b'{"not": "bytes"}' if i == 4 else f'"reading {i}"'.encode()  # noqa: E731
        response = app.lambda_handler({**event_for("orders", kafka_broker, range(10), values),
                                       "connector": unique_name}, Context())
        assert response == {"batchItemFailures": []}
        got = subscriber.wait_for(9)
        assert got == [(f"lc/{unique_name}/orders", f"reading {i}".encode(), False) for i in range(10) if i != 4]
        (dead,) = read_topic(kafka_broker, dlq, 1)
        headers = dict(dead.headers())
        assert headers["__connect.errors.offset"] == b"4" and headers["__connect.errors.stage"] == b"TASK_PUT"
        assert b"must be bytes or text, not dict" in headers["__connect.errors.exception.message"]
    finally:
        subscriber.close()


def test_retained_messages_and_tombstones_clear_them(mqtt_server: tuple[str, int], server: str,
                                                    unique_name: str) -> None:
    topic = f"lc/{unique_name}/state"
    task = task_for(server, **{"mqtt.retain": "true"})
    try:
        task.put([rec(topic, 0, "on"), rec(topic, 1, b"off")])
        task.flush({})
        late = Subscriber(*mqtt_server, topic)  # subscribes after the fact: gets the retained one
        assert late.wait_for(1) == [(topic, b"off", True)]
        late.close()
        task.put([rec(topic, 2, None)])  # a tombstone: empty retained payload clears it
        task.flush({})
        time.sleep(0.2)
        later = Subscriber(*mqtt_server, topic)
        time.sleep(0.5)
        assert later.messages == []
        later.close()
    finally:
        task.stop()


def test_the_broker_going_away_before_acknowledging_fails_the_batch_for_redelivery(
        mqtt_server: tuple[str, int], tcp_proxy: Any, unique_name: str) -> None:
    proxy: TcpProxy = tcp_proxy(*mqtt_server)
    topic = f"lc/{unique_name}/cut"
    subscriber = Subscriber(*mqtt_server, topic)
    task = task_for(f"tcp://127.0.0.1:{proxy.port}", **{"mqtt.publish.timeout.ms": "3000"})
    try:
        proxy.cut()
        # Depending on when the client notices, put (publish refused) or flush (no PUBACK) fails.
        with pytest.raises(RetriableException, match=r"did not acknowledge|cannot complete|connection is down"):
            task.put([rec(topic, i, f"v{i}") for i in range(5)])
            task.flush({})
        proxy.restore()
        redelivered = task_for(f"tcp://127.0.0.1:{proxy.port}")  # the batch again, in a fresh container
        redelivered.put([rec(topic, i, f"v{i}") for i in range(5)])
        redelivered.flush({})
        redelivered.stop()
        payloads = [p for _, p, _ in subscriber.wait_for(5)]
        assert sorted(set(payloads)) == [f"v{i}".encode() for i in range(5)]  # at least once: none lost
    finally:
        task.stop()
        subscriber.close()


def test_wrong_credentials_and_tls(tmp_path: Path, certificates: Certificates) -> None:
    with own_mosquitto(tmp_path, certificates=certificates, users={"writer": "pw"}) as broker:
        with pytest.raises(ConnectException, match="refused client"):
            task_for(f"tcp://127.0.0.1:{broker.port}", **{"mqtt.username": "writer", "mqtt.password": "nope"})
        secure = task_for(f"ssl://127.0.0.1:{broker.tls_port}", **{
            "mqtt.username": "writer", "mqtt.password": "pw", "mqtt.ssl.trust.store.path": str(certificates.ca)})
        try:
            secure.put([rec("t/secure", 0, "sealed")])
            secure.flush({})  # QoS 1: returns once the broker acknowledged over TLS
        finally:
            secure.stop()


@pytest.fixture
def no_reporter_task(server: str) -> Iterator[MqttSinkTask]:
    task = task_for(server)
    yield task
    task.stop()


def test_without_a_reporter_a_bad_value_fails_the_batch_naming_the_record(no_reporter_task: MqttSinkTask) -> None:
    with pytest.raises(ConnectException, match=r"Record orders-0@7: an MQTT payload must be bytes or text"):
        no_reporter_task.put([rec("orders", 7, {"a": 1})])
