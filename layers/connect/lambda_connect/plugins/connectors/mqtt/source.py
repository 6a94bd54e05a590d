"""MqttSourceConnector: MQTT messages into one Kafka topic, acknowledged to MQTT only once Kafka has them.

Record: key = the MQTT topic (string), value = the payload (bytes), headers ``mqtt.message.id``,
``mqtt.qos``, ``mqtt.retained``, ``mqtt.duplicate``. Records of one MQTT topic share a key, so
they land in one Kafka partition in the order the broker delivered them.

How this fits scheduled invocations: a tick connects, subscribes, polls until the budget is
spent or no message came for ``mqtt.poll.idle.ms``, and disconnects. With
``mqtt.clean.session.enabled=false`` and ``mqtt.qos`` ≥ 1 the broker keeps the session while
no tick runs, so what is published between ticks is delivered by the next one. The client id is
stable per task (``<connector>-<task>``) and the task's lease makes sure two overlapping ticks
never use the session at once.

Acknowledgements: QoS ≥ 1 messages are acknowledged by hand (PUBACK/PUBCOMP) from
``commit_record``, i.e. only after Kafka confirmed the record; a record a transform dropped or
the error policy skipped is acknowledged too (it went where the config sends it). A message
whose record Kafka never confirmed (a crash, a lost connection, a failed tick) stays
unacknowledged and the broker delivers it again — at least once, so duplicates are possible.
QoS 0 is at most once by definition, and a clean session drops what arrives between ticks.
"""

from __future__ import annotations

import logging
import queue
import time
from collections.abc import Mapping
from typing import Any

from lambda_connect.api.config import ConfigDef, ConfigKey, ConfigType, Importance, NonEmptyList, Range
from lambda_connect.api.connector import SourceConnector, SourceTask, Task
from lambda_connect.api.data import BYTES_SCHEMA, STRING_SCHEMA
from lambda_connect.api.errors import ConnectException, RetriableException
from lambda_connect.api.records import Header, SourceRecord

from .client import COMMON_DEF, MqttConnection, client_id

__all__ = ["MqttSourceConnector", "MqttSourceTask"]

log = logging.getLogger(__name__)

MAX_PER_POLL = 1000
_SOURCE = "Source"

CONFIG_DEF = COMMON_DEF + ConfigDef(
    ConfigKey(name="mqtt.topics", type=ConfigType.LIST, validator=NonEmptyList(), importance=Importance.HIGH,
              group=_SOURCE, order_in_group=1,
              doc="MQTT topic filters to subscribe to; `+` and `#` wildcards allowed."),
    ConfigKey(name="kafka.topic", type=ConfigType.STRING, importance=Importance.HIGH, group=_SOURCE,
              order_in_group=2, doc="Kafka topic the messages are written to."),
    ConfigKey(name="mqtt.poll.idle.ms", type=ConfigType.INT, default=1000, validator=Range.at_least(1),
              group=_SOURCE, order_in_group=3,
              doc="A tick ends once no message arrived for this long (the broker keeps later ones for the next "
                  "tick when the session persists)."),
)


class MqttSourceTask(SourceTask):
    """One subscription per tick; messages acknowledged from ``commit_record``."""

    def __init__(self) -> None:
        super().__init__()
        self._inbox: queue.Queue[Any] = queue.Queue()
        self._connection: MqttConnection | None = None
        self._topic = ""
        self._qos = 0
        self._idle_s = 1.0
        # id(record) -> (record, mid, qos) awaiting Kafka; the record is held so its id stays unique
        self._pending: dict[int, tuple[SourceRecord, int, int]] = {}
        self.acknowledged = 0

    def version(self) -> str:
        return MqttSourceConnector.version or "unknown"

    def start(self, props: Mapping[str, str]) -> None:
        config = CONFIG_DEF.parse(props)
        self._topic = config["kafka.topic"]
        self._qos = config["mqtt.qos"]
        self._idle_s = config["mqtt.poll.idle.ms"] / 1000.0
        filters = [(f, self._qos) for f in config["mqtt.topics"]]
        name = self.context.connector_name if self.context is not None else "mqtt-source"
        task = self.context.task_id if self.context is not None else 0
        tasks_max = int(str(props.get("tasks.max", "1")).strip() or 1)
        connection = MqttConnection(config, client_id(config, name, task, tasks_max), self._inbox.put)
        connection.on_connected = lambda client: self._subscribe(client, filters, connection.v5)
        connection.open(manual_ack=True)
        self._connection = connection

    @staticmethod
    def _subscribe(client: Any, filters: list[tuple[str, int]], v5: bool) -> None:
        if v5:
            from paho.mqtt.subscribeoptions import SubscribeOptions

            # retainHandling=1: retained messages only on a new subscription, not on every tick.
            client.subscribe([(f, SubscribeOptions(qos=q, retainHandling=1)) for f, q in filters])
        else:
            client.subscribe(filters)

    def poll(self) -> list[SourceRecord] | None:
        connection = self._connection
        if connection is None:
            raise ConnectException("MqttSourceTask.poll called before start")
        try:
            first = self._inbox.get(timeout=self._idle_s)
        except queue.Empty:
            if not connection.connected.is_set():
                raise RetriableException("The MQTT connection is down; the client is reconnecting") from None
            return None
        messages = [first]
        while len(messages) < MAX_PER_POLL:
            try:
                messages.append(self._inbox.get_nowait())
            except queue.Empty:
                break
        return [self._record(m) for m in messages]

    def _record(self, message: Any) -> SourceRecord:
        headers = [Header("mqtt.message.id", message.mid, None), Header("mqtt.qos", message.qos, None),
                   Header("mqtt.retained", bool(message.retain), None),
                   Header("mqtt.duplicate", bool(message.dup), None)]
        record = SourceRecord(None, None, self._topic, None, STRING_SCHEMA, message.topic, BYTES_SCHEMA,
                              bytes(message.payload), int(time.time() * 1000), headers)
        if message.qos > 0:
            self._pending[id(record)] = (record, message.mid, message.qos)
        return record

    def commit_record(self, record: SourceRecord, metadata: Any) -> None:
        """Kafka has the record (or it was dropped on purpose): acknowledge the message to MQTT."""
        pending = self._pending.pop(id(record), None)
        connection = self._connection
        if pending is None or connection is None or connection.client is None:
            return
        _, mid, qos = pending
        connection.client.ack(mid, qos)
        self.acknowledged += 1

    def stop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            if self.acknowledged and not connection.barrier():
                log.warning("MQTT client %s: the broker did not confirm it took the last acknowledgements; those "
                            "messages may be delivered again", connection.client_id)
            if self._pending:
                log.info("MQTT client %s: %d message(s) not confirmed by Kafka stay unacknowledged and will be "
                         "delivered again", connection.client_id, len(self._pending))
            connection.close()
        self._pending.clear()


class MqttSourceConnector(SourceConnector):
    """Confluent's ``io.confluent.connect.mqtt.MqttSourceConnector``: MQTT topics into a Kafka topic."""

    name = "io.confluent.connect.mqtt.MqttSourceConnector"
    version = "1.7.0"
    config_def = CONFIG_DEF

    @classmethod
    def task_class(cls) -> type[Task]:
        return MqttSourceTask

    def task_configs(self, max_tasks: int) -> list[dict[str, str]]:
        """One task: every subscriber of a filter gets every message, so more tasks would only duplicate."""
        return [dict(self.props)]

    def exactly_once_support(self, props: Mapping[str, str]) -> bool | None:
        return False

    def alter_offsets(self, props: Mapping[str, str], offsets: Mapping[Any, Any]) -> bool:
        """The broker keeps the position (the session); there are no offsets here to alter."""
        return True
