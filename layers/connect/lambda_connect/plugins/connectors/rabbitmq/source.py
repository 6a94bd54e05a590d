"""RabbitMQSourceConnector: messages of RabbitMQ queues into a Kafka topic, acked once Kafka has them.

Record: value = the message body (bytes), key = null; the delivery (``rabbitmq.exchange``,
``rabbitmq.routing.key``, ``rabbitmq.redelivered``, ``rabbitmq.delivery.tag``,
``rabbitmq.consumer.tag``), the message properties (``rabbitmq.content.type``,
``rabbitmq.message.id``, ``rabbitmq.correlation.id``, …) and the message's own headers
(``rabbitmq.<name>``) travel as Kafka headers. Messages arrive in queue order; a record with a
null key goes to a partition of the producer's choosing, so order holds per Kafka partition
only on a one-partition topic (or with a transform that sets a key).

Each tick opens a connection, consumes with manual acknowledgement (at most
``rabbitmq.prefetch.count`` unacked messages, 0 = no limit), polls until the budget is spent or
nothing arrived for ``rabbitmq.poll.idle.ms``, and closes. A message is acked from
``commit_record`` — only after Kafka confirmed its record (or it was dropped by a transform or
skipped by the error policy). Whatever is not acked when the connection closes (a crash, a
failed tick, a lost connection) RabbitMQ puts back in the queue and delivers again, marked
redelivered: at least once, duplicates possible.
"""

from __future__ import annotations

import datetime as _dt
import decimal
import logging
from collections.abc import Mapping
from typing import Any

from lambda_connect.api.config import ConfigDef, ConfigKey, ConfigType, Importance, NonEmptyList, Range
from lambda_connect.api.connector import SourceConnector, SourceTask, Task
from lambda_connect.api.data import BYTES_SCHEMA
from lambda_connect.api.errors import ConnectException, RetriableException
from lambda_connect.api.records import Header, SourceRecord

from .connection import COMMON_DEF, connect, describe

__all__ = ["RabbitMQSourceConnector", "RabbitMQSourceTask"]

log = logging.getLogger(__name__)

MAX_PER_POLL = 1000
_SOURCE = "Source"
_PROPERTIES = ("content_type", "content_encoding", "delivery_mode", "priority", "correlation_id", "reply_to",
               "expiration", "message_id", "timestamp", "type", "user_id", "app_id", "cluster_id")

CONFIG_DEF = COMMON_DEF + ConfigDef(
    ConfigKey(name="rabbitmq.queue", type=ConfigType.LIST, validator=NonEmptyList(), importance=Importance.HIGH,
              group=_SOURCE, order_in_group=1, doc="Queues to consume (they must exist); split over the tasks."),
    ConfigKey(name="kafka.topic", type=ConfigType.STRING, importance=Importance.HIGH, group=_SOURCE,
              order_in_group=2, doc="Kafka topic the messages are written to."),
    ConfigKey(name="rabbitmq.prefetch.count", type=ConfigType.INT, default=0, validator=Range.between(0, 65535),
              group=_SOURCE, order_in_group=3,
              doc="Most messages RabbitMQ hands over before they are acked; 0 means no limit."),
    ConfigKey(name="rabbitmq.prefetch.global", type=ConfigType.BOOLEAN, default=False, group=_SOURCE,
              order_in_group=4, doc="Apply the prefetch limit to the whole channel instead of each consumer."),
    ConfigKey(name="rabbitmq.poll.idle.ms", type=ConfigType.INT, default=1000, validator=Range.at_least(1),
              group=_SOURCE, order_in_group=5,
              doc="A tick ends once no message arrived for this long (the rest waits in the queue)."),
)


def _header_value(value: Any) -> Any:
    """AMQP field values Kafka headers carry as they are; anything else as text."""
    if value is None or isinstance(value, (str, bytes, bool, int, float)):
        return value
    if isinstance(value, (decimal.Decimal, _dt.datetime)):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_header_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _header_value(v) for k, v in value.items()}
    return str(value)


class RabbitMQSourceTask(SourceTask):
    """Consumes with manual acks; acks from ``commit_record`` on the worker's thread."""

    def __init__(self) -> None:
        super().__init__()
        self._connection: Any = None
        self._channel: Any = None
        self._inbox: list[SourceRecord] = []
        self._pending: dict[int, tuple[SourceRecord, Any, int]] = {}  # id(record) -> (record, channel, tag)
        self._topic = ""
        self._idle_s = 1.0
        self._where = ""
        self.acknowledged = 0

    def version(self) -> str:
        return RabbitMQSourceConnector.version or "unknown"

    def start(self, props: Mapping[str, str]) -> None:
        config = CONFIG_DEF.parse(props)
        self._topic = config["kafka.topic"]
        self._idle_s = config["rabbitmq.poll.idle.ms"] / 1000.0
        self._where = describe(config)
        import pika.exceptions as px

        self._connection = connect(config)
        try:
            channel = self._connection.channel()
            channel.basic_qos(prefetch_count=config["rabbitmq.prefetch.count"],
                              global_qos=config["rabbitmq.prefetch.global"])
            for queue in config["rabbitmq.queue"]:
                channel.basic_consume(queue, self._on_message, auto_ack=False)
        except px.ChannelClosedByBroker as e:
            self.stop()
            raise ConnectException(f"RabbitMQ at {self._where} refused to consume {config['rabbitmq.queue']} "
                                   f"(does the queue exist?): {e.reply_text}") from e
        except px.AMQPError as e:
            self.stop()
            raise RetriableException(f"RabbitMQ at {self._where} dropped the connection: {e!r}") from e
        self._channel = channel

    def _on_message(self, channel: Any, method: Any, properties: Any, body: bytes) -> None:
        headers = [Header("rabbitmq.consumer.tag", method.consumer_tag), Header("rabbitmq.delivery.tag",
                   method.delivery_tag), Header("rabbitmq.redelivered", bool(method.redelivered)),
                   Header("rabbitmq.exchange", method.exchange), Header("rabbitmq.routing.key", method.routing_key)]
        for name in _PROPERTIES:
            value = getattr(properties, name, None)
            if value is not None:
                headers.append(Header("rabbitmq." + name.replace("_", "."), _header_value(value)))
        for name, value in (properties.headers or {}).items():
            headers.append(Header(f"rabbitmq.{name}", _header_value(value)))
        timestamp = properties.timestamp * 1000 if isinstance(properties.timestamp, int) else None
        record = SourceRecord(None, None, self._topic, None, None, None, BYTES_SCHEMA, body, timestamp, headers)
        self._pending[id(record)] = (record, channel, method.delivery_tag)
        self._inbox.append(record)

    def poll(self) -> list[SourceRecord] | None:
        import pika.exceptions as px

        if self._connection is None:
            raise ConnectException("RabbitMQSourceTask.poll called before start")
        if self._channel is None:
            raise ConnectException(f"RabbitMQ at {self._where} dropped the connection; unacked messages go back "
                                   "to the queue")
        try:
            if not self._inbox:
                self._connection.process_data_events(time_limit=self._idle_s)
            self._connection.process_data_events(time_limit=0)
        except px.AMQPError as e:
            raise ConnectException(f"RabbitMQ at {self._where} dropped the connection: {e!r}; unacked messages "
                                   "go back to the queue") from e
        if not self._inbox:
            return None
        records, self._inbox = self._inbox[:MAX_PER_POLL], self._inbox[MAX_PER_POLL:]
        return records

    def commit_record(self, record: SourceRecord, metadata: Any) -> None:
        pending = self._pending.pop(id(record), None)
        if pending is None:
            return
        _, channel, tag = pending
        if channel is not self._channel or not channel.is_open:
            return  # that channel is gone and RabbitMQ requeued the message: acking here would ack another
        import pika.exceptions as px

        try:
            channel.basic_ack(delivery_tag=tag)
        except px.AMQPError as e:  # the connection just died: RabbitMQ requeues, the next poll reports it
            log.warning("RabbitMQ source: ack of delivery %s failed (%r); the message will be delivered again",
                        tag, e)
            self._channel = None
            return
        self.acknowledged += 1

    def stop(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        if self._pending:
            log.info("RabbitMQ source: %d message(s) not confirmed by Kafka go back to the queue", len(self._pending))
        self._pending.clear()
        self._inbox.clear()
        if connection is not None and connection.is_open:
            try:
                connection.close()
            except Exception:  # the server requeues unacked messages whether or not the close is clean
                log.debug("RabbitMQ close failed", exc_info=True)


class RabbitMQSourceConnector(SourceConnector):
    """Confluent's ``io.confluent.connect.rabbitmq.RabbitMQSourceConnector``: RabbitMQ queues into Kafka."""

    name = "io.confluent.connect.rabbitmq.RabbitMQSourceConnector"
    version = "1.7.0"
    config_def = CONFIG_DEF

    @classmethod
    def task_class(cls) -> type[Task]:
        return RabbitMQSourceTask

    def task_configs(self, max_tasks: int) -> list[dict[str, str]]:
        """The queues dealt out over at most ``max_tasks`` tasks, each consuming its share."""
        queues = [q.strip() for q in str(self.props.get("rabbitmq.queue", "")).split(",") if q.strip()]
        count = max(1, min(max_tasks, len(queues)))
        return [{**self.props, "rabbitmq.queue": ",".join(queues[i::count])} for i in range(count)]

    def exactly_once_support(self, props: Mapping[str, str]) -> bool | None:
        return False

    def alter_offsets(self, props: Mapping[str, str], offsets: Mapping[Any, Any]) -> bool:
        """RabbitMQ keeps the position (what is acked is gone); there are no offsets to alter."""
        return True
