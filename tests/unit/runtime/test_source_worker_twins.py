"""In-memory twins for source runtime tests: a Kafka cluster/producer and a sequence source plugin.

``FakeCluster`` keeps what was durably written per topic; ``FakeProducer`` mimics the parts of
``confluent_kafka.Producer`` the worker uses — delivery callbacks served by ``poll``/``flush``,
transactions with fencing by ``transactional.id`` — so the worker's bookkeeping can be checked
without a broker.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from lambda_connect.api import ConfigDef, ConfigKey, ConfigType, SourceConnector, SourceRecord, SourceTask, Task
from lambda_connect.api.data import STRING_SCHEMA
from lambda_connect.api.errors import ConnectException, RetriableException
from lambda_connect.plugins import BUILTINS
from lambda_connect.runtime.registry import Registry

P = "com.example."


class FakeMessage:
    def __init__(self, topic: str, partition: int, offset: int) -> None:
        self._t, self._p, self._o = topic, partition, offset

    def topic(self) -> str:
        return self._t

    def partition(self) -> int:
        return self._p

    def offset(self) -> int:
        return self._o


class FakeError:
    def __init__(self, text: str) -> None:
        self.text = text

    def __str__(self) -> str:
        return self.text


class FakeCluster:
    """Durable topic logs plus the current epoch of every transactional id."""

    def __init__(self) -> None:
        self.logs: dict[str, list[dict[str, Any]]] = {}
        self.txn_epochs: dict[str, int] = {}
        self.producers: list[FakeProducer] = []
        #: ``fail(topic, value) -> error text or None``: a delivery failure to simulate.
        self.fail: Callable[[str, bytes | None], str | None] = lambda topic, value: None
        self.reverse_delivery = False

    def values(self, topic: str) -> list[str]:
        return [m["value"].decode() for m in self.logs.get(topic, [])]

    def factory(self, overrides: Mapping[str, Any], transactional_id: str | None) -> FakeProducer:
        producer = FakeProducer(self, dict(overrides), transactional_id)
        self.producers.append(producer)
        return producer


class FakeProducer:
    def __init__(self, cluster: FakeCluster, overrides: dict[str, Any], transactional_id: str | None) -> None:
        self.cluster = cluster
        self.overrides = overrides
        self.transactional_id = transactional_id
        self.epoch: int | None = None
        self.pending: list[tuple[dict[str, Any], Any]] = []
        self.txn: list[dict[str, Any]] | None = None
        self.calls: list[str] = []

    # --- plain producing ---------------------------------------------------------------
    def produce(self, topic: str, value: Any = None, key: Any = None, partition: int = -1, on_delivery: Any = None,
                timestamp: int = 0, headers: Any = None) -> None:
        if self.transactional_id is not None and self.txn is None:
            raise ConnectException("produce outside a transaction")
        self._check_fenced()
        message = {"topic": topic, "value": value, "key": key, "partition": max(partition, 0),
                   "timestamp": timestamp, "headers": headers}
        self.pending.append((message, on_delivery))

    def poll(self, timeout: float = 0) -> int:
        return self._deliver()

    def flush(self, timeout: float | None = None) -> int:
        self._deliver()
        return 0

    def _deliver(self) -> int:
        batch, self.pending = self.pending, []
        errors = [self.cluster.fail(message["topic"], message["value"]) for message, _ in batch]
        for (message, _), error in zip(batch, errors):  # durable in produce order
            if error is None:
                if self.txn is not None:
                    self.txn.append(message)
                else:
                    self._append(message)
        reports = list(zip(batch, errors))
        default = self.overrides.get("on_delivery")  # confluent-kafka's producer-wide callback
        for (message, callback), error in reversed(reports) if self.cluster.reverse_delivery else reports:
            callback = callback if callback is not None else default
            if callback is not None:
                meta = FakeMessage(message["topic"], message["partition"], message.get("offset", -1))
                callback(FakeError(error) if error else None, meta)
        return len(batch)

    def _append(self, message: dict[str, Any]) -> None:
        log = self.cluster.logs.setdefault(message["topic"], [])
        message["offset"] = len(log)
        log.append(message)

    # --- transactions -------------------------------------------------------------------
    def _check_fenced(self) -> None:
        if self.transactional_id is not None and self.cluster.txn_epochs.get(self.transactional_id) != self.epoch:
            raise ConnectException("KafkaError{FATAL,code=_FENCED}: This instance has been fenced by a newer instance")

    def init_transactions(self, timeout: float = -1) -> None:
        self.calls.append("init")
        assert self.transactional_id is not None
        self.epoch = self.cluster.txn_epochs.get(self.transactional_id, 0) + 1
        self.cluster.txn_epochs[self.transactional_id] = self.epoch

    def begin_transaction(self) -> None:
        self.calls.append("begin")
        self._check_fenced()
        self.txn = []

    def commit_transaction(self, timeout: float = -1) -> None:
        self.calls.append("commit")
        self._deliver()
        self._check_fenced()
        assert self.txn is not None
        for message in self.txn:
            self._append(message)
        self.txn = None

    def abort_transaction(self, timeout: float = -1) -> None:
        self.calls.append("abort")
        self.pending = []
        self.txn = None


class SequenceSourceTask(SourceTask):
    """Emits ``line-<n>`` for n = committed + 1 … ``count`` over ``partitions`` source partitions,
    ``batch`` records per poll; ``poll.hook`` names a callable in ``HOOKS`` run before each poll."""

    def start(self, props: Mapping[str, str]) -> None:
        self.topic = props["topic"]
        self.count = int(props.get("count", "10"))
        self.batch = int(props.get("batch", "3"))
        self.kafka_partition = int(props["kafka.partition"]) if props.get("kafka.partition") else None
        self.parts = int(props.get("partitions", "1"))
        self.hook = HOOKS.get(props.get("poll.hook", ""))
        self.prefix = props.get("prefix", "line")
        assert self.context is not None
        self.next = {}
        for p in range(self.parts):
            found = self.context.offset_storage_reader.offset({"part": p})
            self.next[p] = (found["n"] + 1) if found else 1
        self.committed_records: list[Any] = []
        self.polls = 0

    def poll(self) -> list[SourceRecord] | None:
        self.polls += 1
        if self.hook is not None:
            self.hook(self)
        out: list[SourceRecord] = []
        for p in range(self.parts):
            while self.next[p] <= self.count and len(out) < self.batch:
                n = self.next[p]
                out.append(SourceRecord({"part": p}, {"n": n}, self.topic, self.kafka_partition, None, None,
                                        STRING_SCHEMA, f"{self.prefix}-{p}-{n}"))
                self.next[p] += 1
        return out or None

    def commit_record(self, record: SourceRecord, metadata: Any) -> None:
        self.committed_records.append((record.value, metadata))


HOOKS: dict[str, Callable[[SequenceSourceTask], None]] = {}


def _fail_retriable_once(task: SequenceSourceTask) -> None:
    if task.polls == 1:
        raise RetriableException("database busy")


def _fail_on_second_poll(task: SequenceSourceTask) -> None:
    if task.polls == 2:
        raise ConnectException("the source went away")


HOOKS["retriable-once"] = _fail_retriable_once
HOOKS["fail-second"] = _fail_on_second_poll


class SequenceSourceConnector(SourceConnector):
    """One task config per ``tasks.max`` unless ``task.count`` says fewer (JDBC with few tables)."""

    name = P + "SequenceSourceConnector"
    version = "1.0"
    config_def = ConfigDef(
        ConfigKey(name="topic", type=ConfigType.STRING, doc="Topic."),
        ConfigKey(name="count", type=ConfigType.INT, default="10", doc="Records per source partition."),
        ConfigKey(name="task.count", type=ConfigType.INT, default="-1", doc="Task configs to generate."),
    )
    generated = 0

    @classmethod
    def task_class(cls) -> type[Task]:
        return SequenceSourceTask

    def task_configs(self, max_tasks: int) -> list[dict[str, str]]:
        type(self).generated += 1
        n = int(self.props.get("task.count", "-1"))
        n = max_tasks if n < 0 else n
        return [dict(self.props, **{"task.index": str(i)}) for i in range(n)]

    def exactly_once_support(self, props: Mapping[str, str]) -> bool | None:
        return True


def registry() -> Registry:
    return Registry([*BUILTINS, (SequenceSourceConnector.name, f"{__name__}:SequenceSourceConnector")])
