"""Connectors and tasks: the plugin contract for moving data in and out of Kafka.

Lifecycle in lambda-connect (what differs from a Kafka Connect worker is that a task lives
for one invocation, or for as long as a container keeps it warm — never longer):

Sink, per Lambda invocation with a batch of records from an event source mapping:
    task = TaskClass(); task.initialize(context); task.start(task_config)   # once per container/config version
    task.put(records)      # the whole (converted, transformed) batch, in partition order
    task.flush(offsets)    # must make everything put so far durable before returning
    -> returning from the invocation commits the batch's offsets in the consumer group;
       raising makes the event source mapping redeliver the batch (at least once).
    task.stop()            # when the container is recycled or the config changes (best effort)

Source, per scheduled invocation:
    task.initialize(context); task.start(task_config)
    repeatedly: records = task.poll()    # until the time budget is spent or poll returns None/[]
    -> the runtime produces the records, waits for Kafka's acknowledgements, then commits the
       source offsets of acknowledged records; ``commit_record``/``commit`` tell the task.
    task.stop()

Connectors themselves only validate configuration and split work into task configs:
``task_configs(max_tasks)`` returns at most ``max_tasks`` string maps.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from .config import ConfigDef, ConfigValue
from .records import SinkRecord, SourceRecord
from .storage import TaskStorage

if TYPE_CHECKING:
    from .columns import ColumnarRecords

__all__ = [
    "Connector",
    "OffsetStorageReader",
    "SinkConnector",
    "SinkTask",
    "SinkTaskContext",
    "SourceConnector",
    "SourceTask",
    "SourceTaskContext",
    "Task",
    "TopicIdentitySource",
    "TopicPartition",
]

TopicPartition = tuple[str, int]
ErrantRecordReporter = Callable[[SinkRecord, BaseException], None]
#: ``(topic, refresh) -> identity or None``: see :meth:`SinkTaskContext.topic_identity`.
TopicIdentitySource = Callable[[str, bool], "str | None"]


class Task(ABC):
    """Common task lifecycle; ``start`` receives the task's own config (a string map)."""

    def version(self) -> str:
        return "unknown"

    @abstractmethod
    def start(self, props: Mapping[str, str]) -> None:
        """Called once before any data; open connections here, not in ``__init__``."""

    def stop(self) -> None:
        """Called when the task is discarded; release connections. Must not raise."""


class Connector(ABC):
    """A connector plugin: configuration definition plus the split into task configs.

    ``name`` is the class name users put in ``connector.class`` (Kafka-style, e.g.
    ``org.apache.kafka.connect.file.FileStreamSinkConnector``); aliases are derived from it.
    """

    name: ClassVar[str] = ""
    version: ClassVar[str | None] = None
    config_def: ClassVar[ConfigDef] = ConfigDef()

    def __init__(self) -> None:
        self.props: dict[str, str] = {}

    @classmethod
    @abstractmethod
    def task_class(cls) -> type[Task]:
        """The task implementation."""

    def start(self, props: Mapping[str, str]) -> None:
        """Remember the connector config; called before ``task_configs``."""
        self.props = dict(props)

    @abstractmethod
    def task_configs(self, max_tasks: int) -> list[dict[str, str]]:
        """Split the work into at most ``max_tasks`` task configs."""

    def stop(self) -> None:
        """Release anything ``start`` opened."""

    @classmethod
    def validate(cls, props: Mapping[str, str]) -> dict[str, ConfigValue]:
        """Cross-field checks beyond ``config_def``; returned values are merged into the
        validation result (errors keyed by config name). The default checks nothing."""
        return {}


class SinkTaskContext:
    """What the runtime offers a sink task: identity, an errant record reporter (KIP-610) and
    the identity of the topics it reads (:meth:`topic_identity`)."""

    #: lambda-connect: a durable key/value area in the state table for work that spans
    #: invocations (set by the runtime; None when the task runs outside it).
    storage: TaskStorage | None = None
    #: lambda-connect: seconds left for the current batch's ``put``/``flush`` (set by the runtime
    #: per batch from the invocation's deadline; None outside a batch). Read it via ``time_left_s``.
    deadline_source: Callable[[], float] | None = None

    def __init__(
        self,
        connector_name: str,
        task_id: int,
        config: Mapping[str, str],
        errant_record_reporter: ErrantRecordReporter | None = None,
        topic_identity_source: TopicIdentitySource | None = None,
    ) -> None:
        self.connector_name = connector_name
        self.task_id = task_id
        self.config = dict(config)
        self.errant_record_reporter = errant_record_reporter
        self.topic_identity_source = topic_identity_source

    def time_left_s(self) -> float:
        """How long the task may still wait on anything (a queue, a retry, a flush) in this batch.

        A Lambda invocation has a hard end; a wait that runs past it is killed mid-batch with
        no error of the task's own. Bound waits by this and fail the batch clearly (nothing is
        committed, Kafka delivers it again) when it runs out. Infinite outside the runtime."""
        source = self.deadline_source
        return float("inf") if source is None else max(source(), 0.0)

    def topic_identity(self, topic: str, *, refresh: bool = False) -> str | None:
        """Which incarnation of ``topic`` the records come from, or None when it cannot be known.

        Offsets only mean something within one incarnation of a topic: a topic deleted and
        created again (or a new broker with empty topics) counts from 0 again. A sink that
        keeps its own positions stores this string next to them; a position stored under a
        different identity belongs to an earlier incarnation and must not filter new records.

        The answer is cached per container and topic, so asking costs a dict lookup. Ask with
        ``refresh=True`` when a batch looks like a redelivery (its records are at or below the
        stored position) or the stored identity differs: only then does the runtime ask the
        cluster again, since a warm container may have cached the identity of a topic that
        has since been recreated.
        """
        source = self.topic_identity_source
        return None if source is None else source(topic, refresh)


class SinkTask(Task):
    """Writes records to an external system.

    ``put`` may buffer; ``flush`` must make everything durable. Raise
    ``RetriableException`` for a transient failure (the runtime retries the batch within the
    invocation's budget, then fails it for redelivery); any other exception fails the
    batch and marks the task FAILED. To reject single records without failing the batch,
    call ``context.errant_record_reporter(record, error)`` when it is set.
    """

    def __init__(self) -> None:
        self.context: SinkTaskContext | None = None

    def initialize(self, context: SinkTaskContext) -> None:
        self.context = context

    @abstractmethod
    def put(self, records: Sequence[SinkRecord]) -> None:
        """Deliver (or buffer) a batch; records of one partition are in offset order."""

    def flush(self, offsets: Mapping[TopicPartition, int]) -> None:
        """Make every record passed to ``put`` durable. ``offsets`` maps each partition to
        the next offset to consume; returning means the runtime may commit them."""

    def pre_commit(self, offsets: Mapping[TopicPartition, int]) -> Mapping[TopicPartition, int]:
        """Offsets safe to commit (Kafka's ``preCommit``); flushes by default."""
        self.flush(offsets)
        return offsets

    def idle(self) -> None:
        """lambda-connect: called from the reconciler's periodic rescan, outside any batch, so a
        task can finish work it deferred (e.g. commit files earlier invocations wrote) when its
        topics have gone quiet. Must be safe to run at any time and concurrently with batches.
        The default does nothing, and then the runtime never builds a task for it."""


class SinkConnector(Connector):
    """A connector whose tasks read from Kafka topics (``topics`` or ``topics.regex``)."""

    def task_configs(self, max_tasks: int) -> list[dict[str, str]]:
        """Kafka's usual shape: ``max_tasks`` copies of the connector config."""
        return [dict(self.props) for _ in range(max_tasks)]

    def alter_offsets(self, props: Mapping[str, str], offsets: Mapping[TopicPartition, int | None]) -> bool:
        """Move positions the connector keeps outside Kafka before the consumer groups move (KIP-875).

        Called for a STOPPED connector when its offsets are altered (``offsets`` maps each
        partition to the next offset to consume) or reset (every partition maps to None:
        forget the position, start over). ``props`` is the resolved connector config.
        Return True when every externally kept position now matches, False when the
        connector keeps none (the default). Raise ``ConnectException`` when the positions
        cannot be moved: the request then fails and the consumer groups stay as they were.
        """
        return False

    def reset_offsets(self, props: Mapping[str, str], partitions: Sequence[TopicPartition]) -> bool:
        """Forget every externally kept position (KIP-875 reset), before the consumer groups are reset.

        ``partitions`` are those the consumer groups know; a connector that keeps positions
        should forget all of its own, known there or not (after a broker change the groups may
        know none). The default treats it as an alter of each partition to None.
        """
        return self.alter_offsets(props, dict.fromkeys(partitions))

    def stored_offsets(self, props: Mapping[str, str]) -> tuple[str, dict[TopicPartition, int]] | None:
        """lambda-connect: the positions the target already holds for a connector named
        ``props["name"]`` — where they are and the highest offset written per partition — or None
        when there are none (the default: the connector keeps no positions of its own).

        Read when a connector is created: positions left there by an earlier connector of the
        same name would make the new one skip records as already written, and the create says
        so. Keep it to a read or two; raise anything when the target cannot be reached (the
        create goes on regardless).
        """
        return None


class OffsetStorageReader(ABC):
    """Committed source offsets, by source partition (Kafka's ``OffsetStorageReader``)."""

    @abstractmethod
    def offsets(self, partitions: Sequence[Mapping[str, Any]]) -> dict[Any, dict[str, Any] | None]:
        """Map each requested partition (as a frozen key) to its committed offset or None."""

    def offset(self, partition: Mapping[str, Any]) -> dict[str, Any] | None:
        """The committed offset of one source partition, or None if never committed."""
        found = self.offsets([partition])
        return next(iter(found.values()), None)


class SourceTaskContext:
    """What the runtime offers a source task: identity and committed offsets."""

    def __init__(
        self,
        connector_name: str,
        task_id: int,
        config: Mapping[str, str],
        offset_storage_reader: OffsetStorageReader,
    ) -> None:
        self.connector_name = connector_name
        self.task_id = task_id
        self.config = dict(config)
        self.offset_storage_reader = offset_storage_reader


class SourceTask(Task):
    """Reads from an external system.

    ``poll`` returns the next records (or ``None``/``[]`` when there is nothing right now);
    it should return within about a second so the runtime can respect the Lambda deadline.
    Raise ``RetriableException`` for a transient failure (logged, ``poll`` called again).
    """

    def __init__(self) -> None:
        self.context: SourceTaskContext | None = None

    def initialize(self, context: SourceTaskContext) -> None:
        self.context = context

    @abstractmethod
    def poll(self) -> list[SourceRecord] | None:
        """The next batch of records, each with its source partition and offset."""

    def poll_columns(self) -> list[SourceRecord | ColumnarRecords] | None:
        """Optional: the next batch as ``poll`` would return it, with runs of records handed over
        column by column (``api.columns.ColumnarRecords``), so the runtime can convert them
        without a Struct and a SourceRecord per row. The runtime calls it instead of ``poll``
        when it can use columns (the source batch path); a task overriding it keeps ``poll``
        returning the same records. The contract is in ``lambda_connect.api.columns``; this
        default returns ``poll()``."""
        return self.poll()

    def commit(self) -> None:
        """Offsets of everything acknowledged so far have been committed."""

    def commit_record(self, record: SourceRecord, metadata: Any) -> None:
        """Kafka acknowledged ``record`` (metadata: topic, partition, offset), or None when
        it was filtered by a transform or skipped by ``errors.tolerance=all``. Sources whose
        system wants an acknowledgement (MQTT, AMQP) give it here."""

    def lag_metrics(self) -> Mapping[str, float]:
        """Figures the source itself knows about how far it trails its system, by metric name
        (``{"source_lag_bytes": 12345.0}``: a replication slot's bytes behind). The runtime
        reads them once per run, after ``stop``, and publishes each as a gauge next to its own
        metrics; a task that knows nothing of the kind keeps this default."""
        return {}


class SourceConnector(Connector):
    """A connector whose tasks write to Kafka."""

    #: How often a task should run when the config sets no ``poll.interval.ms``: a source that
    #: tails a file or a queue wants seconds, not the one-minute default of a schedule. AWS
    #: rounds any interval up to EventBridge Scheduler's one-minute floor.
    natural_poll_interval_ms: ClassVar[int | None] = None

    def exactly_once_support(self, props: Mapping[str, str]) -> bool | None:
        """True when tasks can run in exactly-once mode (KIP-618); None means unknown."""
        return None

    def alter_offsets(self, props: Mapping[str, str], offsets: Mapping[Any, Any]) -> bool:
        """Called before offsets are altered/reset through the REST API; return True when
        the connector manages no external offsets (the message says 'altered successfully')."""
        return False
