"""MqttSinkConnector: Kafka records published to MQTT; with QoS ≥ 1 a batch counts only once the broker has it.

The MQTT topic is the record's Kafka topic (rename it with ``RegexRouter``); the payload is the
value: bytes as they are, strings as UTF-8, numbers and booleans as their text, and a null
value as an empty payload (with ``mqtt.retain=true`` that clears the topic's retained message,
MQTT's own tombstone). A value of any other shape is reported on the shared error path.

``put`` publishes the batch; ``flush`` waits until the broker acknowledged every message
(PUBACK for QoS 1, PUBCOMP for QoS 2) within ``mqtt.publish.timeout.ms``. A lost connection or
a missing acknowledgement raises ``RetriableException``: the batch is not committed and is
delivered again, so delivery is at least once (duplicates possible after a failure). QoS 0
has no acknowledgement: published is all it gets.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

from lambda_connect.api.config import ConfigDef, ConfigKey, ConfigType, Range
from lambda_connect.api.connector import SinkConnector, SinkTask, Task, TopicPartition
from lambda_connect.api.errors import ConnectException, DataException, RetriableException
from lambda_connect.api.records import SinkRecord

from .._messaging import reject
from .client import COMMON_DEF, MqttConnection, client_id

__all__ = ["MqttSinkConnector", "MqttSinkTask"]

log = logging.getLogger(__name__)

CONFIG_DEF = COMMON_DEF + ConfigDef(
    ConfigKey(name="mqtt.retain", type=ConfigType.BOOLEAN, default=False, group="Sink", order_in_group=1,
              doc="Publish with the retain flag: the broker keeps the last message of each topic for new "
                  "subscribers."),
    ConfigKey(name="mqtt.publish.timeout.ms", type=ConfigType.INT, default=30000, validator=Range.at_least(1),
              group="Sink", order_in_group=2,
              doc="How long flush waits for the broker to acknowledge a batch before it is delivered again."),
)


def payload(record: SinkRecord) -> bytes:
    value = record.value
    if value is None:
        return b""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, bool):
        return b"true" if value else b"false"
    if isinstance(value, (int, float)):
        return str(value).encode()
    raise DataException(
        f"Record {record.original_topic}-{record.original_kafka_partition}@{record.original_kafka_offset}: an MQTT "
        f"payload must be bytes or text, not {type(value).__name__} (use ByteArrayConverter or StringConverter)")


class MqttSinkTask(SinkTask):
    """Publishes in ``put``, waits for the broker's acknowledgements in ``flush``."""

    def __init__(self) -> None:
        super().__init__()
        self._connection: MqttConnection | None = None
        self._in_flight: list[tuple[Any, SinkRecord]] = []
        self._qos = 0
        self._retain = False
        self._timeout_s = 30.0

    def version(self) -> str:
        return MqttSinkConnector.version or "unknown"

    def start(self, props: Mapping[str, str]) -> None:
        config = CONFIG_DEF.parse(props)
        self._qos, self._retain = config["mqtt.qos"], config["mqtt.retain"]
        self._timeout_s = config["mqtt.publish.timeout.ms"] / 1000.0
        name = self.context.connector_name if self.context is not None else "mqtt-sink"
        task = self.context.task_id if self.context is not None else 0
        tasks_max = int(str(props.get("tasks.max", "1")).strip() or 1)
        # Several containers may run the same task id at once (one per partition batch): the
        # sink never needs a persistent session, so its client id only has to be unique.
        unique = f"{client_id(config, name, task, tasks_max)}-{time.time_ns() % 10**12:x}"
        self._connection = MqttConnection(config, unique)
        self._connection.open(manual_ack=False)

    def put(self, records: Sequence[SinkRecord]) -> None:
        connection = self._connection
        if connection is None or connection.client is None:
            raise ConnectException("MqttSinkTask.put called before start")
        client = connection.client
        for record in records:
            try:
                body = payload(record)
            except DataException as e:
                reject(self, record, e, "MQTT sink")
                continue
            info = client.publish(record.topic, body, qos=self._qos, retain=self._retain)
            if info.rc != 0:
                self._in_flight.clear()
                raise RetriableException(f"MQTT publish to {record.topic} failed (rc={info.rc}): the connection "
                                         "is down; the batch will be delivered again")
            self._in_flight.append((info, record))

    def flush(self, offsets: Mapping[TopicPartition, int]) -> None:
        in_flight, self._in_flight = self._in_flight, []
        if self._qos == 0 or not in_flight:
            return
        deadline = time.monotonic() + self._timeout_s
        connection = self._connection
        lost_before = connection.lost if connection is not None else 0
        for info, record in in_flight:
            while not info.is_published():
                if time.monotonic() >= deadline or (connection is not None and connection.lost > lost_before):
                    waiting = sum(1 for i, _ in in_flight if not i.is_published())
                    raise RetriableException(
                        f"The MQTT broker did not acknowledge {waiting} message(s) (first: {record.topic} from "
                        f"{record.original_topic}-{record.original_kafka_partition}@{record.original_kafka_offset}); "
                        "the batch will be delivered again")
                try:
                    info.wait_for_publish(0.05)
                except (RuntimeError, ValueError) as e:  # paho: the message can no longer be sent
                    raise RetriableException(f"MQTT publish to {record.topic} cannot complete: {e}; the batch "
                                             "will be delivered again") from e

    def stop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()


class MqttSinkConnector(SinkConnector):
    """Confluent's ``io.confluent.connect.mqtt.MqttSinkConnector``: Kafka records published to MQTT topics."""

    name = "io.confluent.connect.mqtt.MqttSinkConnector"
    version = "1.7.0"
    config_def = CONFIG_DEF

    @classmethod
    def task_class(cls) -> type[Task]:
        return MqttSinkTask
