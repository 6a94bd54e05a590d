"""RabbitMQSinkConnector: Kafka records published to a RabbitMQ exchange with publisher confirms.

Every record becomes one message to ``rabbitmq.exchange`` with ``rabbitmq.routing.key``;
the body is the value (bytes as they are, text as UTF-8 — use ByteArrayConverter or
StringConverter), the delivery mode PERSISTENT or TRANSIENT. Optional extras: the Kafka key as
the ``correlation_id`` (``rabbitmq.forward.kafka.key``), the record's coordinates as headers
``kafka.topic``/``kafka.partition``/``kafka.offset``/``kafka.timestamp``
(``rabbitmq.forward.kafka.metadata``) and the Kafka headers (``rabbitmq.forward.kafka.headers``).

The channel runs in confirm mode and publishes ``mandatory``: ``put`` returns only after the
broker confirmed each message, so a returned batch is in RabbitMQ. A message the broker cannot
route to any queue, or a value of the wrong shape, goes to the shared error path (tolerance,
DLQ) instead of vanishing. A lost connection raises ``RetriableException``: the batch is not
committed and is delivered again (at least once; a message confirmed before the loss is sent
again).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from lambda_connect.api.config import CaseInsensitiveValidString, ConfigDef, ConfigKey, ConfigType, Importance
from lambda_connect.api.connector import SinkConnector, SinkTask, Task
from lambda_connect.api.errors import ConnectException, DataException, RetriableException
from lambda_connect.api.records import SinkRecord

from .._messaging import reject
from .connection import COMMON_DEF, connect, describe

__all__ = ["RabbitMQSinkConnector", "RabbitMQSinkTask"]

log = logging.getLogger(__name__)

_SINK = "Sink"
CONFIG_DEF = COMMON_DEF + ConfigDef(
    ConfigKey(name="rabbitmq.exchange", type=ConfigType.STRING, importance=Importance.HIGH, group=_SINK,
              order_in_group=1, doc="Exchange the messages are published to (it must exist; empty is the "
                                    "default exchange)."),
    ConfigKey(name="rabbitmq.routing.key", type=ConfigType.STRING, importance=Importance.HIGH, group=_SINK,
              order_in_group=2, doc="Routing key of every message."),
    ConfigKey(name="rabbitmq.delivery.mode", type=ConfigType.STRING, default="PERSISTENT", group=_SINK,
              order_in_group=3, validator=CaseInsensitiveValidString("PERSISTENT", "TRANSIENT"),
              doc="PERSISTENT messages survive a broker restart (on a durable queue); TRANSIENT ones need not."),
    ConfigKey(name="rabbitmq.forward.kafka.key", type=ConfigType.BOOLEAN, default=False, group=_SINK,
              order_in_group=4, doc="Send the record key as the message's correlation_id."),
    ConfigKey(name="rabbitmq.forward.kafka.metadata", type=ConfigType.BOOLEAN, default=False, group=_SINK,
              order_in_group=5, doc="Send topic, partition, offset and timestamp as kafka.* message headers."),
    ConfigKey(name="rabbitmq.forward.kafka.headers", type=ConfigType.BOOLEAN, default=False, group=_SINK,
              order_in_group=6, doc="Copy the record's Kafka headers into the message headers."),
)


def _body(record: SinkRecord) -> bytes:
    value = record.value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, str):
        return value.encode()
    raise DataException(
        f"Record {record.original_topic}-{record.original_kafka_partition}@{record.original_kafka_offset}: a "
        f"RabbitMQ message body must be bytes or text, not {type(value).__name__} (use ByteArrayConverter or "
        "StringConverter)")


def _text(value: Any) -> Any:
    if value is None or isinstance(value, (str, bytes, bool, int, float)):
        return value
    return str(value)


class RabbitMQSinkTask(SinkTask):
    """One confirm-mode channel per container, reopened after a loss."""

    def __init__(self) -> None:
        super().__init__()
        self._config: Any = None
        self._connection: Any = None
        self._channel: Any = None

    def version(self) -> str:
        return RabbitMQSinkConnector.version or "unknown"

    def start(self, props: Mapping[str, str]) -> None:
        self._config = CONFIG_DEF.parse(props)
        self._open()

    def _open(self) -> Any:
        if self._channel is not None and self._channel.is_open:
            return self._channel
        self._close()
        self._connection = connect(self._config)
        channel = self._connection.channel()
        channel.confirm_delivery()
        self._channel = channel
        return channel

    def _properties(self, record: SinkRecord) -> Any:
        import pika

        c = self._config
        headers: dict[str, Any] = {}
        if c["rabbitmq.forward.kafka.metadata"]:
            headers.update({"kafka.topic": record.topic, "kafka.partition": record.kafka_partition,
                            "kafka.offset": record.kafka_offset, "kafka.timestamp": record.timestamp})
        if c["rabbitmq.forward.kafka.headers"]:
            for h in record.headers:
                headers[h.key] = _text(h.value)
        correlation = None
        if c["rabbitmq.forward.kafka.key"] and record.key is not None:
            key = record.key
            correlation = bytes(key).decode("utf-8", "replace") if isinstance(key, (bytes, bytearray)) else str(key)
        mode = 2 if str(c["rabbitmq.delivery.mode"]).upper() == "PERSISTENT" else 1
        return pika.BasicProperties(delivery_mode=mode, headers=headers or None, correlation_id=correlation)

    def put(self, records: Sequence[SinkRecord]) -> None:
        import pika.exceptions as px

        if self._config is None:
            raise ConnectException("RabbitMQSinkTask.put called before start")
        exchange, routing_key = self._config["rabbitmq.exchange"] or "", self._config["rabbitmq.routing.key"]
        try:
            channel = self._open()
            for record in records:
                try:
                    body = _body(record)
                    channel.basic_publish(exchange, routing_key, body, self._properties(record), mandatory=True)
                except DataException as e:
                    self._reject(record, e)
                except px.UnroutableError as e:
                    self._reject(record, ConnectException(
                        f"RabbitMQ could not route the message of record {record.original_topic}-"
                        f"{record.original_kafka_partition}@{record.original_kafka_offset} from exchange "
                        f"'{exchange}' with routing key '{routing_key}' to any queue: {e}"))
                except px.NackError as e:
                    raise RetriableException(f"RabbitMQ refused (nacked) a message of the batch: {e}") from e
        except px.ChannelClosedByBroker as e:
            self._close()
            raise ConnectException(f"RabbitMQ at {describe(self._config)} closed the channel: {e.reply_code} "
                                   f"{e.reply_text} (does exchange '{exchange}' exist?)") from e
        except px.AMQPError as e:
            self._close()
            raise RetriableException(f"RabbitMQ at {describe(self._config)} dropped the connection mid-batch: "
                                     f"{e!r}; the batch will be delivered again") from e

    def _reject(self, record: SinkRecord, error: ConnectException) -> None:
        reject(self, record, error, "RabbitMQ sink")

    def _close(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None and connection.is_open:
            try:
                connection.close()
            except Exception:  # a dead connection cannot be closed cleanly; nothing is pending on it
                log.debug("RabbitMQ close failed", exc_info=True)

    def stop(self) -> None:
        self._close()


class RabbitMQSinkConnector(SinkConnector):
    """Confluent's ``io.confluent.connect.rabbitmq.sink.RabbitMQSinkConnector``: records to a RabbitMQ exchange."""

    name = "io.confluent.connect.rabbitmq.sink.RabbitMQSinkConnector"
    version = "1.7.0"
    config_def = CONFIG_DEF

    @classmethod
    def task_class(cls) -> type[Task]:
        return RabbitMQSinkTask
