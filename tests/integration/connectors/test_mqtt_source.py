"""MQTT source against the machine's Mosquitto (and Mosquittos of the test's own for TLS and passwords).

Through ``functions/source_task/app.py`` and the embedded broker: what is published between ticks
arrives with the next tick, in order per MQTT topic, once; a message is acknowledged to MQTT only
after Kafka confirmed its record, so a failed tick, a crash or a lost connection gets it delivered
again; a record skipped by ``errors.tolerance=all`` is acknowledged, one that fails the task is not.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from lambda_connect.api import ConnectException, RetriableException, SourceTaskContext
from lambda_connect.plugins.connectors.mqtt.source import MqttSourceConnector, MqttSourceTask

from tests.e2e.test_source_delivery import Context, load_app, trigger
from tests.fixtures.messaging import Certificates, DownProducer, TcpProxy, own_mosquitto, read_topic

pytestmark = [pytest.mark.broker]


class Publisher:
    def __init__(self, host: str, port: int) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:8]}")
        self.client.connect(host, port, 30)
        self.client.loop_start()

    def send(self, topic: str, payloads: list[bytes], qos: int = 1) -> None:
        for payload in payloads:
            self.client.publish(topic, payload, qos=qos).wait_for_publish(10)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def publisher(mqtt_server: tuple[str, int]) -> Iterator[Publisher]:
    pub = Publisher(*mqtt_server)
    yield pub
    pub.close()


def numeric_topic() -> str:
    """MQTT topics of digits only, unique per test: ``Cast$Key`` can turn them into numbers."""
    return str(random.randrange(10**8, 10**9))


def source_props(server: str, topics: list[str], kafka_topic: str, client_id: str, **extra: str) -> dict[str, str]:
    return {"connector.class": "MqttSource", "mqtt.server.uri": server, "mqtt.topics": ",".join(topics),
            "kafka.topic": kafka_topic, "mqtt.qos": "1", "mqtt.clean.session.enabled": "false",
            "mqtt.client.id": client_id, "mqtt.poll.idle.ms": "400",
            "value.converter": "org.apache.kafka.connect.converters.ByteArrayConverter",
            "key.converter": "org.apache.kafka.connect.storage.StringConverter", **extra}


@pytest.fixture
def app(tmp_path: Path, kafka_broker: str, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    return load_app(tmp_path, kafka_broker, monkeypatch)


def tick(app: ModuleType, name: str) -> dict[str, Any]:
    return app.lambda_handler(trigger(name), Context())


def direct_task(server: str, topics: list[str], client_id: str, **extra: str) -> MqttSourceTask:
    props = source_props(server, topics, "unused", client_id, **extra)
    task = MqttSourceTask()
    task.initialize(SourceTaskContext("direct", 0, props, None))  # type: ignore[arg-type]
    task.start(props)
    return task


def drain(task: MqttSourceTask, expected: int, timeout: float = 20.0) -> list[Any]:
    records: list[Any] = []
    deadline = time.monotonic() + timeout
    while len(records) < expected and time.monotonic() < deadline:
        records += task.poll() or []
    return records


def test_messages_published_between_ticks_arrive_once_in_order(
        app: ModuleType, publisher: Publisher, mqtt_server: tuple[str, int], kafka_broker: str, kafka_topic: Any,
        unique_name: str) -> None:
    host, port = mqtt_server
    topic = kafka_topic(partitions=3)
    base = f"lc/{unique_name}"
    app.handler.store.create_connector(unique_name, {
        "name": unique_name, **source_props(f"tcp://{host}:{port}", [f"{base}/#"], topic, unique_name)})
    first = tick(app, unique_name)  # creates the persistent session (and its subscription)
    assert (first["outcome"], first["records_produced"]) == ("completed", 0)

    for n in range(30):  # published while no invocation runs
        publisher.send(f"{base}/{'a' if n % 3 else 'b'}", [f"m{n}".encode()])
    second = tick(app, unique_name)
    assert (second["outcome"], second["records_produced"]) == ("completed", 30), second
    third = tick(app, unique_name)
    assert third["records_produced"] == 0  # all were acknowledged: nothing comes back

    messages = read_topic(kafka_broker, topic, 30, partitions=3)
    by_key: dict[str, list[bytes]] = {}
    for m in messages:
        by_key.setdefault(m.key().decode(), []).append(m.value())
    assert by_key == {f"{base}/a": [f"m{n}".encode() for n in range(30) if n % 3],
                      f"{base}/b": [f"m{n}".encode() for n in range(30) if n % 3 == 0]}
    headers = dict(messages[0].headers())
    assert headers["mqtt.qos"] == b"1" and headers["mqtt.retained"] == b"false"


def test_a_message_is_acknowledged_only_once_kafka_confirmed_it(
        publisher: Publisher, mqtt_server: tuple[str, int], unique_name: str) -> None:
    host, port = mqtt_server
    server, topic = f"tcp://{host}:{port}", f"lc/{unique_name}/acks"
    task = direct_task(server, [topic], unique_name)
    assert task.poll() is None  # session created
    publisher.send(topic, [f"{i}".encode() for i in range(10)])
    records = drain(task, 10)
    assert [r.value for r in records] == [f"{i}".encode() for i in range(10)]
    for record in records[:6]:
        task.commit_record(record, object())  # Kafka confirmed these six only
    task.stop()  # the invocation ends (or dies) with four unconfirmed

    again = direct_task(server, [topic], unique_name)
    try:
        redelivered = drain(again, 4)
        assert [r.value for r in redelivered] == [b"6", b"7", b"8", b"9"]
        assert all(dict((h.key, h.value) for h in r.headers)["mqtt.duplicate"] for r in redelivered)
        for record in redelivered:
            again.commit_record(record, object())
    finally:
        again.stop()
    last = direct_task(server, [topic], unique_name)
    try:
        assert last.poll() is None
    finally:
        last.stop()


def test_a_tick_whose_records_kafka_never_took_leaves_the_messages_for_the_next(
        app: ModuleType, publisher: Publisher, mqtt_server: tuple[str, int], kafka_broker: str, kafka_topic: Any,
        unique_name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    host, port = mqtt_server
    topic, mqtt_topic = kafka_topic(), f"lc/{unique_name}/down"
    app.handler.store.create_connector(unique_name, {
        "name": unique_name, **source_props(f"tcp://{host}:{port}", [mqtt_topic], topic, unique_name)})
    tick(app, unique_name)
    publisher.send(mqtt_topic, [b"x", b"y", b"z"])
    worker = app.handler.worker
    real_factory = worker.producer_factory
    monkeypatch.setattr(worker, "producer_factory", lambda *a: DownProducer(real_factory(*a)))
    failed = tick(app, unique_name)
    assert failed["outcome"] == "failed" and "broker unavailable" in failed["error"]
    monkeypatch.setattr(worker, "producer_factory", real_factory)
    recovered = tick(app, unique_name)
    assert recovered["records_produced"] == 3
    assert [m.value() for m in read_topic(kafka_broker, topic, 3)] == [b"x", b"y", b"z"]


def test_poison_records_skipped_by_tolerance_are_acknowledged(
        app: ModuleType, publisher: Publisher, mqtt_server: tuple[str, int], kafka_broker: str, kafka_topic: Any,
        unique_name: str) -> None:
    host, port = mqtt_server
    good, bad = numeric_topic(), f"lc/{unique_name}/not-a-number"
    topic = kafka_topic()
    cast = {"transforms": "num", "transforms.num.type": "org.apache.kafka.connect.transforms.Cast$Key",
            "transforms.num.spec": "int32", "key.converter": "org.apache.kafka.connect.json.JsonConverter",
            "key.converter.schemas.enable": "false"}
    app.handler.store.create_connector(unique_name, {"name": unique_name, **source_props(
        f"tcp://{host}:{port}", [good, bad], topic, unique_name, **cast, **{"errors.tolerance": "all"})})
    tick(app, unique_name)
    publisher.send(good, [b"1"])
    publisher.send(bad, [b"poison"])
    publisher.send(good, [b"2"])
    run = tick(app, unique_name)
    assert (run["records_produced"], run["records_failed"]) == (2, 1), run
    assert tick(app, unique_name)["records_polled"] == 0  # the skipped one was acknowledged too
    assert [(m.key(), m.value()) for m in read_topic(kafka_broker, topic, 2)] == [
        (good.encode(), b"1"), (good.encode(), b"2")]

    # Without tolerance the poison message fails the task and stays at the broker for the next tick.
    strict = f"{unique_name}-strict"
    app.handler.store.create_connector(strict, {"name": strict, **source_props(
        f"tcp://{host}:{port}", [bad], topic, strict, **cast)})
    tick(app, strict)
    publisher.send(bad, [b"poison again"])
    for _ in range(2):
        failed = tick(app, strict)
        assert (failed["outcome"], failed["records_polled"]) == ("failed", 1), failed
        assert "out of range" in failed["error"]


def test_connection_lost_mid_tick_redelivers_the_unacknowledged(
        publisher: Publisher, mqtt_server: tuple[str, int], tcp_proxy: Any, unique_name: str) -> None:
    proxy: TcpProxy = tcp_proxy(*mqtt_server)
    server, topic = f"tcp://127.0.0.1:{proxy.port}", f"lc/{unique_name}/cut"
    task = direct_task(server, [topic], unique_name)
    assert task.poll() is None
    publisher.send(topic, [f"{i}".encode() for i in range(8)])
    records = drain(task, 8)
    assert len(records) == 8
    proxy.cut()  # the broker goes away before Kafka confirmed anything
    for record in records:
        task.commit_record(record, object())  # the acknowledgements cannot reach the broker any more
    with pytest.raises(RetriableException, match="connection is down"):
        task.poll()
    task.stop()
    proxy.restore()
    again = direct_task(server, [topic], unique_name)
    try:
        assert sorted(r.value for r in drain(again, 8)) == [f"{i}".encode() for i in range(8)]  # none lost
    finally:
        again.stop()


def test_wrong_credentials_are_refused_clearly(tmp_path: Path) -> None:
    with own_mosquitto(tmp_path, users={"sensor": "right"}) as broker:
        server = f"tcp://127.0.0.1:{broker.port}"
        with pytest.raises(ConnectException, match=r"(?i)refused client c1: (not authori[sz]ed|bad user name)"):
            direct_task(server, ["t"], "c1", **{"mqtt.username": "sensor", "mqtt.password": "wrong"})
        task = direct_task(server, ["t"], "c2", **{"mqtt.username": "sensor", "mqtt.password": "right"})
        task.stop()


def test_tls_with_the_configured_ca(tmp_path: Path, certificates: Certificates) -> None:
    with own_mosquitto(tmp_path, certificates=certificates) as broker:
        server = f"ssl://127.0.0.1:{broker.tls_port}"
        task = direct_task(server, ["secure/#"], "tls-1", **{"mqtt.ssl.trust.store.path": str(certificates.ca)})
        try:
            assert task.poll() is None
            pub = Publisher("127.0.0.1", broker.port)
            pub.send("secure/x", [b"over tls"])
            pub.close()
            (record,) = drain(task, 1)
            assert (record.key, record.value) == ("secure/x", b"over tls")
        finally:
            task.stop()
        with pytest.raises(RetriableException, match="certificate verify failed"):
            direct_task(server, ["secure/#"], "tls-2", **{"mqtt.ssl.trust.store.path": str(certificates.other_ca)})


def test_config_checks() -> None:
    result = MqttSourceConnector.config_def.validate({"mqtt.server.uri": "", "mqtt.topics": "a", "mqtt.qos": "3"})
    assert result["mqtt.server.uri"].errors and result["mqtt.qos"].errors and result["kafka.topic"].errors
    with pytest.raises(ConnectException, match="expected tcp://host:port"):
        direct_task("http://127.0.0.1:1883", ["a"], "bad-scheme")
