"""RabbitMQ source against the machine's RabbitMQ, through ``functions/source_task/app.py`` and the embedded
broker: queue order, properties and headers as Kafka headers, acks only after Kafka confirmed (a failed
tick, a lost connection and a poison record that fails the task all leave messages in the queue), a
record skipped by ``errors.tolerance=all`` acked, wrong credentials and a missing queue named.

TLS: the machine's RabbitMQ has no TLS listener (and a second node is too heavy for a test), so TLS is
checked as configuration: the connection parameters carry the verifying context, and speaking TLS to
the plain port fails instead of falling back to plaintext.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from lambda_connect.api import ConnectException, RetriableException, SourceTaskContext
from lambda_connect.api.config import ConfigDef
from lambda_connect.plugins.connectors.rabbitmq.connection import parameters
from lambda_connect.plugins.connectors.rabbitmq.source import (
    CONFIG_DEF,
    RabbitMQSourceConnector,
    RabbitMQSourceTask,
)

from tests.e2e.test_source_delivery import Context, load_app, trigger
from tests.fixtures.messaging import Certificates, DownProducer, TcpProxy, read_topic

pytestmark = [pytest.mark.broker]


class Rabbit:
    """A plain pika channel for the test's own publishing and inspection."""

    def __init__(self, host: str, port: int) -> None:
        import pika

        self.connection = pika.BlockingConnection(pika.ConnectionParameters(host, port))
        self.channel = self.connection.channel()

    def publish(self, queue: str, bodies: list[bytes], **props: Any) -> None:
        import pika

        for body in bodies:
            self.channel.basic_publish("", queue, body, pika.BasicProperties(**props))

    def depth(self, queue: str) -> int:
        return int(self.channel.queue_declare(queue, passive=True).method.message_count)

    def close(self) -> None:
        self.connection.close()


@pytest.fixture
def rabbit(rabbitmq_server: tuple[str, int]) -> Iterator[Rabbit]:
    r = Rabbit(*rabbitmq_server)
    yield r
    r.close()


def props_for(host: str, port: int, queue: str, topic: str, **extra: str) -> dict[str, str]:
    return {"connector.class": "RabbitMQSource", "rabbitmq.host": host, "rabbitmq.port": str(port),
            "rabbitmq.queue": queue, "kafka.topic": topic, "rabbitmq.poll.idle.ms": "300",
            "value.converter": "org.apache.kafka.connect.converters.ByteArrayConverter", **extra}


@pytest.fixture
def app(tmp_path: Path, kafka_broker: str, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    return load_app(tmp_path, kafka_broker, monkeypatch)


def tick(app: ModuleType, name: str) -> dict[str, Any]:
    return app.lambda_handler(trigger(name), Context())


def wait_depth(rabbit: Rabbit, queue: str, expected: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while rabbit.depth(queue) != expected and time.monotonic() < deadline:
        time.sleep(0.05)
    assert rabbit.depth(queue) == expected


def test_queue_order_and_properties_as_headers_once(app: ModuleType, rabbit: Rabbit, rabbit_queue: Any,
                                                    rabbitmq_server: tuple[str, int], kafka_broker: str,
                                                    kafka_topic: Any, unique_name: str) -> None:
    queue, topic = rabbit_queue(), kafka_topic()
    rabbit.publish(queue, [f"m{i}".encode() for i in range(40)], content_type="text/plain", message_id="id-1",
                   headers={"tenant": "acme", "attempt": 3})
    app.handler.store.create_connector(unique_name, {"name": unique_name, **props_for(*rabbitmq_server, queue, topic)})
    run = tick(app, unique_name)
    assert (run["outcome"], run["records_produced"]) == ("completed", 40), run
    assert tick(app, unique_name)["records_polled"] == 0
    wait_depth(rabbit, queue, 0)
    messages = read_topic(kafka_broker, topic, 40)
    assert [m.value() for m in messages] == [f"m{i}".encode() for i in range(40)]
    headers = dict(messages[0].headers())
    assert headers["rabbitmq.routing.key"] == queue.encode() and headers["rabbitmq.exchange"] == b""
    assert headers["rabbitmq.content.type"] == b"text/plain" and headers["rabbitmq.message.id"] == b"id-1"
    assert headers["rabbitmq.tenant"] == b"acme" and headers["rabbitmq.attempt"] == b"3"
    assert headers["rabbitmq.redelivered"] == b"false"


def test_messages_kafka_did_not_take_go_back_to_the_queue(app: ModuleType, rabbit: Rabbit, rabbit_queue: Any,
                                                          rabbitmq_server: tuple[str, int], kafka_broker: str,
                                                          kafka_topic: Any, unique_name: str,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    queue, topic = rabbit_queue(), kafka_topic()
    rabbit.publish(queue, [b"a", b"b", b"c"])
    app.handler.store.create_connector(unique_name, {"name": unique_name, **props_for(*rabbitmq_server, queue, topic)})
    worker = app.handler.worker
    real = worker.producer_factory
    monkeypatch.setattr(worker, "producer_factory", lambda *a: DownProducer(real(*a)))
    failed = tick(app, unique_name)
    assert failed["outcome"] == "failed" and failed["records_polled"] >= 1
    wait_depth(rabbit, queue, 3)  # nothing was acked
    monkeypatch.setattr(worker, "producer_factory", real)
    assert tick(app, unique_name)["records_produced"] == 3
    messages = read_topic(kafka_broker, topic, 3)
    assert [m.value() for m in messages] == [b"a", b"b", b"c"]
    assert dict(messages[0].headers())["rabbitmq.redelivered"] == b"true"


POISON = {"transforms": "fail", "transforms.fail.type": "org.apache.kafka.connect.transforms.Cast$Value",
          "transforms.fail.spec": "int32", "transforms.fail.predicate": "marked",
          "predicates": "marked", "predicates.marked.type":
              "org.apache.kafka.connect.transforms.predicates.HasHeaderKey",
          "predicates.marked.name": "rabbitmq.poison"}


def test_poison_skipped_by_tolerance_is_acked_and_without_tolerance_stays_queued(
        app: ModuleType, rabbit: Rabbit, rabbit_queue: Any, rabbitmq_server: tuple[str, int], kafka_broker: str,
        kafka_topic: Any, unique_name: str) -> None:
    queue, strict_queue, topic = rabbit_queue(), rabbit_queue(), kafka_topic()
    rabbit.publish(queue, [b"1"])
    rabbit.publish(queue, [b"bad"], headers={"poison": "yes"})
    rabbit.publish(queue, [b"2"])
    app.handler.store.create_connector(unique_name, {"name": unique_name, **props_for(
        *rabbitmq_server, queue, topic, **POISON, **{"errors.tolerance": "all"})})
    run = tick(app, unique_name)
    assert (run["records_produced"], run["records_failed"]) == (2, 1), run
    wait_depth(rabbit, queue, 0)
    assert [m.value() for m in read_topic(kafka_broker, topic, 2)] == [b"1", b"2"]

    rabbit.publish(strict_queue, [b"ok"])
    rabbit.publish(strict_queue, [b"bad"], headers={"poison": "yes"})
    strict = f"{unique_name}-strict"
    app.handler.store.create_connector(strict, {"name": strict, **props_for(*rabbitmq_server, strict_queue, topic,
                                                                            **POISON)})
    failed = tick(app, strict)
    assert failed["outcome"] == "failed" and "Cast" in failed["error"]
    wait_depth(rabbit, strict_queue, 1)  # the good one acked after Kafka took it; the poison stays


def direct_task(host: str, port: int, queue: str, **extra: str) -> RabbitMQSourceTask:
    props = props_for(host, port, queue, "unused", **extra)
    task = RabbitMQSourceTask()
    task.initialize(SourceTaskContext("direct", 0, props, None))  # type: ignore[arg-type]
    task.start(props)
    return task


def drain(task: RabbitMQSourceTask, expected: int, timeout: float = 20.0) -> list[Any]:
    """Poll until ``expected`` records came (one poll returns what has arrived so far)."""
    records: list[Any] = []
    deadline = time.monotonic() + timeout
    while len(records) < expected and time.monotonic() < deadline:
        records += task.poll() or []
    return records


def test_connection_lost_mid_tick_requeues_the_unacked(rabbit: Rabbit, rabbit_queue: Any,
                                                       rabbitmq_server: tuple[str, int], tcp_proxy: Any) -> None:
    queue = rabbit_queue()
    proxy: TcpProxy = tcp_proxy(*rabbitmq_server)
    rabbit.publish(queue, [f"{i}".encode() for i in range(6)])
    task = direct_task("127.0.0.1", proxy.port, queue)
    records = drain(task, 6)
    assert len(records) == 6
    task.commit_record(records[0], object())  # acked while the connection holds
    task._channel.basic_qos(prefetch_count=0)  # a synchronous round trip: the ack has reached RabbitMQ
    proxy.cut()
    for record in records[1:]:
        task.commit_record(record, object())  # the channel is gone: these acks cannot happen
    with pytest.raises(ConnectException, match="dropped the connection"):
        task.poll()
    task.stop()
    wait_depth(rabbit, queue, 5)  # RabbitMQ put the five unacked ones back
    proxy.restore()
    again = direct_task("127.0.0.1", proxy.port, queue)
    try:
        assert [r.value for r in drain(again, 5)] == [f"{i}".encode() for i in range(1, 6)]
    finally:
        again.stop()


def test_wrong_credentials_and_a_missing_queue_are_named(rabbitmq_server: tuple[str, int], unique_name: str) -> None:
    with pytest.raises(ConnectException, match="refused user 'guest'"):
        direct_task(*rabbitmq_server, "q", **{"rabbitmq.password": "wrong"})
    with pytest.raises(ConnectException, match=f"refused to consume \\['{unique_name}-missing'\\]"):
        direct_task(*rabbitmq_server, f"{unique_name}-missing")
    with pytest.raises(RetriableException, match="cannot be reached"):
        direct_task("127.0.0.1", 1, "q")


def test_tls_configuration_reaches_the_connection(rabbitmq_server: tuple[str, int],
                                                  certificates: Certificates) -> None:
    tls = {"rabbitmq.security.protocol": "SSL", "rabbitmq.ssl.truststore.location": str(certificates.ca)}
    config = CONFIG_DEF.parse(props_for(*rabbitmq_server, "q", "t", **tls))
    params = parameters(config)
    assert params.ssl_options is not None and params.ssl_options.server_hostname == rabbitmq_server[0]
    context = params.ssl_options.context
    assert context.check_hostname and any(c["subject"] for c in context.get_ca_certs())
    with pytest.raises(ConnectException, match="TLS with RabbitMQ"):  # no plaintext fallback on the plain port
        direct_task(*rabbitmq_server, "q", **tls, **{"rabbitmq.connection.timeout.ms": "3000"})
    bad = props_for(*rabbitmq_server, "q", "t", **{**tls, "rabbitmq.ssl.truststore.location": "/nonexistent.pem"})
    with pytest.raises(ConnectException, match=r"rabbitmq\.ssl\.truststore\.location"):
        parameters(CONFIG_DEF.parse(bad))


def test_queues_are_dealt_out_over_the_tasks() -> None:
    connector = RabbitMQSourceConnector()
    connector.start({"rabbitmq.queue": "a,b,c", "kafka.topic": "t"})
    assert [c["rabbitmq.queue"] for c in connector.task_configs(2)] == ["a,c", "b"]
    assert [c["rabbitmq.queue"] for c in connector.task_configs(5)] == ["a", "b", "c"]
    assert isinstance(RabbitMQSourceConnector.config_def, ConfigDef)
