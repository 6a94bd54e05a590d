"""RabbitMQ sink against the machine's RabbitMQ: confirmed publishes in order with key, metadata and
headers forwarded, delivery modes, poison and unroutable records to the DLQ, the connection lost
mid-batch, wrong credentials and a missing exchange. (TLS: see test_rabbitmq_source.py; both
connectors build their connection from the same keys.)"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from lambda_connect.api import ConnectException, RetriableException, SinkRecord, SinkTaskContext
from lambda_connect.api.records import Header
from lambda_connect.plugins.connectors.rabbitmq.sink import RabbitMQSinkTask

from tests.e2e.test_sink_delivery import Context, event_for, load_app
from tests.fixtures.messaging import TcpProxy, read_topic


class Inbox:
    def __init__(self, host: str, port: int) -> None:
        import pika

        self.connection = pika.BlockingConnection(pika.ConnectionParameters(host, port))
        self.channel = self.connection.channel()

    def take(self, queue: str) -> list[tuple[Any, bytes]]:
        out = []
        while True:
            method, properties, body = self.channel.basic_get(queue, auto_ack=True)
            if method is None:
                return out
            out.append((properties, body))

    def close(self) -> None:
        self.connection.close()


@pytest.fixture
def inbox(rabbitmq_server: tuple[str, int]) -> Iterator[Inbox]:
    box = Inbox(*rabbitmq_server)
    yield box
    box.close()


def task_for(host: str, port: int, queue: str, reporter: Any = None, **extra: str) -> RabbitMQSinkTask:
    config = {"rabbitmq.host": host, "rabbitmq.port": str(port), "rabbitmq.exchange": f"{queue}-x",
              "rabbitmq.routing.key": "rk", **extra}
    task = RabbitMQSinkTask()
    task.initialize(SinkTaskContext("rabbit-sink", 0, config, reporter))
    task.start(config)
    return task


def rec(offset: int, value: Any, key: Any = None, headers: Any = None) -> SinkRecord:
    return SinkRecord("orders", 0, None, key, None, value, offset, timestamp=1_700_000_000_000 + offset,
                      headers=headers)


def test_confirmed_publishes_in_order_with_key_metadata_and_headers(
        inbox: Inbox, rabbit_queue: Any, rabbitmq_server: tuple[str, int]) -> None:
    queue = rabbit_queue(exchange=True)
    task = task_for(*rabbitmq_server, queue, **{"rabbitmq.forward.kafka.key": "true",
                                                "rabbitmq.forward.kafka.metadata": "true",
                                                "rabbitmq.forward.kafka.headers": "true"})
    try:
        task.put([rec(i, f"v{i}".encode(), key=f"k{i}", headers=[Header("trace", "abc")]) for i in range(20)])
        task.flush({})
    finally:
        task.stop()
    got = inbox.take(queue)  # put returned: every message is confirmed, so all are there now
    assert [body for _, body in got] == [f"v{i}".encode() for i in range(20)]
    props = got[3][0]
    assert props.correlation_id == "k3" and props.delivery_mode == 2
    assert props.headers == {"kafka.topic": "orders", "kafka.partition": 0, "kafka.offset": 3,
                             "kafka.timestamp": 1_700_000_000_003, "trace": "abc"}


def test_transient_delivery_mode(inbox: Inbox, rabbit_queue: Any, rabbitmq_server: tuple[str, int]) -> None:
    queue = rabbit_queue(exchange=True)
    task = task_for(*rabbitmq_server, queue, **{"rabbitmq.delivery.mode": "transient"})
    try:
        task.put([rec(0, "text value")])
    finally:
        task.stop()
    ((props, body),) = inbox.take(queue)
    assert (props.delivery_mode, body, props.headers) == (1, b"text value", None)


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    return load_app(f"sqlite:///{tmp_path / 'state.db'}", monkeypatch)


@pytest.mark.broker
def test_poison_and_unroutable_records_go_to_the_dlq(app: ModuleType, inbox: Inbox, rabbit_queue: Any,
                                                     rabbitmq_server: tuple[str, int], kafka_broker: str,
                                                     kafka_topic: Any, unique_name: str) -> None:
    queue, dlq = rabbit_queue(exchange=True), kafka_topic()
    host, port = rabbitmq_server
    common = {"connector.class": "RabbitMQSink", "topics": "orders", "rabbitmq.host": host,
              "rabbitmq.port": str(port), "rabbitmq.exchange": f"{queue}-x",
              "key.converter": "org.apache.kafka.connect.storage.StringConverter",
              "value.converter": "org.apache.kafka.connect.json.JsonConverter",
              "value.converter.schemas.enable": "false", "errors.tolerance": "all",
              "errors.deadletterqueue.topic.name": dlq, "errors.deadletterqueue.context.headers.enable": "true"}
    app.handler.store.create_connector(unique_name, {"name": unique_name, **common, "rabbitmq.routing.key": "rk"})
    values = lambda i: b'{"an": "object"}' if i == 2 else f'"text {i}"'.encode()  # noqa: E731
    event = {**event_for("orders", kafka_broker, range(5), values), "connector": unique_name}
    assert app.lambda_handler(event, Context()) == {"batchItemFailures": []}
    assert [body for _, body in inbox.take(queue)] == [b"text 0", b"text 1", b"text 3", b"text 4"]

    nowhere = f"{unique_name}-nowhere"
    app.handler.store.create_connector(nowhere, {"name": nowhere, **common, "rabbitmq.routing.key": "no-binding"})
    event = {**event_for("orders", kafka_broker, range(5, 6), lambda i: b'"lost?"'), "connector": nowhere}
    assert app.lambda_handler(event, Context()) == {"batchItemFailures": []}
    dead = read_topic(kafka_broker, dlq, 2)
    messages = [dict(m.headers())["__connect.errors.exception.message"].decode() for m in dead]
    assert "must be bytes or text, not dict" in messages[0]
    assert "could not route the message of record orders-0@5" in messages[1] and "no-binding" in messages[1]


def test_connection_lost_mid_batch_fails_it_for_redelivery(inbox: Inbox, rabbit_queue: Any,
                                                            rabbitmq_server: tuple[str, int], tcp_proxy: Any) -> None:
    queue = rabbit_queue(exchange=True)
    proxy: TcpProxy = tcp_proxy(*rabbitmq_server)
    task = task_for("127.0.0.1", proxy.port, queue, **{"rabbitmq.connection.timeout.ms": "3000"})
    try:
        task.put([rec(0, "before")])
        proxy.cut()
        with pytest.raises(RetriableException, match="dropped the connection mid-batch"):
            task.put([rec(i, f"v{i}") for i in range(1, 4)])
        proxy.restore()
        task.put([rec(i, f"v{i}") for i in range(1, 4)])  # the redelivered batch, on a new connection
    finally:
        task.stop()
    assert [body for _, body in inbox.take(queue)] == [b"before", b"v1", b"v2", b"v3"]


def test_wrong_credentials_and_a_missing_exchange_are_named(rabbitmq_server: tuple[str, int],
                                                            unique_name: str) -> None:
    with pytest.raises(ConnectException, match="refused user 'guest'"):
        task_for(*rabbitmq_server, unique_name, **{"rabbitmq.password": "wrong"})
    task = task_for(*rabbitmq_server, f"{unique_name}-none")
    try:
        with pytest.raises(ConnectException, match=f"does exchange '{unique_name}-none-x' exist"):
            task.put([rec(0, "x")])
    finally:
        task.stop()
