"""The sink worker: one batch of consumed records through a connector, as Kafka's WorkerSinkTask.

Per batch (one Lambda invocation, or one local ESM poll — the same code path):

1. load the connector entry from the state table; unknown → fail loudly, PAUSED/STOPPED →
   refuse the batch (the event source mapping redelivers it once the connector resumes);
2. get the pipeline of that config version from the per-container cache;
3. per record, in event order: key → value → header conversion, then the transform chain.
   A ``RetriableException`` is retried with Kafka's backoff within ``errors.retry.timeout``
   (never past the invocation's deadline). A failure that is not retried (or ran out of
   retries) is *tolerated* with ``errors.tolerance=all`` — logged (``errors.log.*``),
   dead-lettered (``errors.deadletterqueue.*``) and skipped — or fails the batch with
   ``none``;
4. ``SinkTask.put`` with the surviving records, then ``flush`` with the next offset of every
   partition; records the task rejects through the errant record reporter (KIP-610) go the
   same way as step-3 failures, with stage ``TASK_PUT``;
5. the DLQ producer is flushed: a dead-lettered record Kafka did not acknowledge fails the
   batch, so no offset ever passes a record that went nowhere;
6. task status RUNNING (or FAILED with its trace) and the batch's topics as active topics.

Returning normally means "commit the whole batch". Raising means "commit nothing". With
``lambda.report.batch.item.failures=true`` the worker may instead commit a prefix: it
writes what it processed and returns, per partition, the first record it did not finish
(``item_failures``), which the handler returns as ``batchItemFailures``.

The task id of a batch is ``min(partition) % tasks.max``: the event source mapping spreads a
topic's partitions over concurrent invocations, and this gives each invocation a stable,
in-range id for status reports and DLQ headers (a batch from partitions 3 and 5 of a
connector with ``tasks.max=2`` reports as task 1).
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import groupby, repeat
from operator import itemgetter
from typing import Any, NamedTuple, Protocol

from lambda_connect.api.connector import SinkTask
from lambda_connect.api.errors import ConnectException, NotFoundException, RetriableException
from lambda_connect.api.records import EMPTY_HEADERS, SinkRecord

from .connector_cache import ConnectorEntryLike, PipelineCache, SinkPipeline
from .conversion import READ_FAILED
from .dlq import DeadLetterQueue, DlqTransport, consume_error, log_error
from .errors import TOLERANCE_EXCEEDED, Stage, StageError
from .registry import Registry
from .subscription import Subscription
from .task_storage import task_storage_factory
from .topic_identity import TopicIdentities

__all__ = [
    "BatchDeadlineError",
    "ConnectorNotRunningError",
    "ConsumedRecord",
    "RecordFailedError",
    "SinkBatchResult",
    "SinkStatusReporter",
    "SinkWorker",
    "UnknownConnectorError",
    "batch_task_id",
]

log = logging.getLogger(__name__)

# ConsumedRecord fields by position: a C tuple index, cheaper than a named tuple's attribute.
_topic_of = itemgetter(0)
_partition_number = itemgetter(1)
_partition_of = itemgetter(0, 1)
_offset_of = itemgetter(2)
_new_sink_record = SinkRecord.__new__

#: Default time kept in reserve for put + flush + DLQ flush once conversion stops.
DEFAULT_DEADLINE_MARGIN_MS = 5000.0


class ConsumedRecord(NamedTuple):
    """One record as the consumer delivered it; ``consume_error`` set when it could not be decoded.

    A named tuple, not a dataclass: one is built per consumed record, and the sink handler
    builds them with ``tuple.__new__`` (a C call, about a third of a slotted dataclass's
    ``__init__``), and the worker's batch path reads whole columns of them with C iterators."""

    topic: str
    partition: int
    offset: int
    timestamp: int | None
    timestamp_type: str
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes | None]] = ()
    consume_error: Exception | None = None

    @property
    def label(self) -> str:
        """``topic-partition@offset``: how errors name the record."""
        return f"{self.topic}-{self.partition}@{self.offset}"


class ConnectorSource(Protocol):
    """Where connector entries come from (the state store satisfies it)."""

    def get_connector(self, name: str) -> ConnectorEntryLike | None: ...


class SinkStatusReporter(Protocol):
    """Where task status and active topics go (the adapter layer writes them to the state table)."""

    def task_running(self, connector: str, task_id: int, worker_id: str) -> None: ...
    def task_failed(self, connector: str, task_id: int, worker_id: str, trace: str) -> None: ...
    def topics_active(self, connector: str, topics: Iterable[str]) -> None: ...


class UnknownConnectorError(NotFoundException):
    """The batch names no known connector: it must fail, never be committed."""


class ConnectorNotRunningError(RetriableException):
    """The connector is PAUSED or STOPPED; the batch is refused so it is redelivered later."""


class BatchDeadlineError(RetriableException):
    """The invocation ran out of time before the batch was done; nothing of it was committed."""


class RecordFailedError(ConnectException):
    """A record failed and the failure is not tolerated; names the record and the stage."""

    def __init__(self, record: ConsumedRecord, error: StageError, connector: str, task_id: int) -> None:
        self.record = record
        self.stage_error = error
        super().__init__(
            f"{TOLERANCE_EXCEEDED}: connector {connector} task {task_id} failed on record {record.label} "
            f"in stage {error.stage.value} ({error.plugin_class}): {error.exception_class}: {error.message}"
        )
        self.__cause__ = error


@dataclass
class SinkBatchResult:
    """What one batch did, for metrics, logs and the handler's response."""

    connector: str
    task_id: int
    records_in: int = 0
    written: int = 0
    dropped: int = 0
    dead_lettered: int = 0
    failed: int = 0
    #: Records the task recognised as already written (redelivery), when it counts them.
    skipped_duplicates: int = 0
    put_latency_ms: float = 0.0
    topics: list[str] = field(default_factory=list)
    #: First unfinished record of each partition (only with partial batch responses).
    item_failures: list[ConsumedRecord] = field(default_factory=list)


def batch_task_id(records: Sequence[ConsumedRecord], tasks_max: int) -> int:
    """``min(partition) % tasks.max`` (see the module docstring)."""
    if not records:
        return 0
    return min(map(_partition_number, records)) % max(tasks_max, 1)


class _Deadline:
    """The point (on ``clock``) after which no new work may start."""

    def __init__(self, remaining_ms: Callable[[], float] | None, margin_ms: float, clock: Callable[[], float]) -> None:
        self._clock = clock
        self.at = float("inf") if remaining_ms is None else clock() + (remaining_ms() - margin_ms) / 1000.0
        self.flush_by = float("inf") if remaining_ms is None else clock() + max(remaining_ms() - 500.0, 0.0) / 1000.0

    def flush_timeout(self, cap_s: float = 30.0) -> float:
        return max(min(self.flush_by - self._clock(), cap_s), 0.0)


class _Batch:
    """State of one batch while it runs; keeps ``SinkWorker`` itself stateless per call."""

    def __init__(
        self,
        pipeline: SinkPipeline,
        records: Sequence[ConsumedRecord],
        task_id: int,
        dlq: DeadLetterQueue | None,
        result: SinkBatchResult,
    ) -> None:
        self.pipeline = pipeline
        self.records = records
        self.task_id = task_id
        self.dlq = dlq
        self.result = result
        self._by_coordinates: dict[tuple[str, int, int], ConsumedRecord] | None = None

    def consumed_at(self, coordinates: tuple[str, int, int]) -> ConsumedRecord | None:
        """The consumed record at ``(topic, partition, offset)``; the index is built on the
        first errant record, since most batches have none."""
        if self._by_coordinates is None:
            self._by_coordinates = {(r.topic, r.partition, r.offset): r for r in self.records}
        return self._by_coordinates.get(coordinates)


class SinkWorker:
    """Runs batches for any sink connector; one per container, safe to reuse across invocations."""

    def __init__(
        self,
        connectors: ConnectorSource,
        status: SinkStatusReporter,
        *,
        registry: Registry | None = None,
        cache: PipelineCache | None = None,
        deadline_margin_ms: float = DEFAULT_DEADLINE_MARGIN_MS,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.connectors = connectors
        self.status = status
        self.cache = cache or PipelineCache(registry, storage=task_storage_factory(connectors))
        self.deadline_margin_ms = deadline_margin_ms
        self._sleep = sleep
        self._clock = clock
        self._subscriptions: dict[str, tuple[SinkPipeline, Subscription]] = {}

    # --- entry point ------------------------------------------------------------------------
    def process(
        self,
        connector: str,
        records: Sequence[ConsumedRecord],
        *,
        dlq_transport: DlqTransport | None = None,
        remaining_ms: Callable[[], float] | None = None,
        worker_id: str = "lambda",
        topic_identities: TopicIdentities | None = None,
    ) -> SinkBatchResult:
        """Process one batch; return normally only when every offset may be committed (or,
        with partial batch responses, every offset before ``item_failures``).

        ``topic_identities`` answers the task's ``context.topic_identity`` for the cluster the
        batch came from (None: unknown, positions are then kept as they are)."""
        entry = self.connectors.get_connector(connector)
        if entry is None:
            raise UnknownConnectorError(f"Unknown connector {connector}: the batch of {len(records)} record(s) "
                                        "is not committed")
        if entry.target_state != "RUNNING":
            raise ConnectorNotRunningError(
                f"Connector {connector} is {entry.target_state}: refusing the batch so that it is redelivered later"
            )
        deadline = _Deadline(remaining_ms, self.deadline_margin_ms, self._clock)
        task_id = 0
        try:
            pipeline = self.cache.get(entry)
            task_id = batch_task_id(records, pipeline.tasks_max)
            pipeline.identities.source = topic_identities
            task, reporter = pipeline.task(task_id)
        except Exception as e:
            self.cache.evict(connector)
            self.status.task_failed(connector, task_id, worker_id, _trace(e))
            raise
        records, topics = self._subscribed(connector, pipeline, records)
        result = SinkBatchResult(connector, task_id, records_in=len(records))
        result.topics = topics
        dlq = None
        if pipeline.dlq_topic and dlq_transport is not None:
            dlq = DeadLetterQueue(
                pipeline.dlq_topic,
                dlq_transport,
                connector=connector,
                replication_factor=pipeline.dlq_replication_factor,
                include_context_headers=pipeline.dlq_context_headers,
            )
        batch = _Batch(pipeline, records, task_id, dlq, result)
        reporter.handler = lambda record, error: self._errant(batch, record, error)
        if task.context is not None:  # SinkTaskContext.time_left_s: waits in put/flush end before the invocation
            task.context.deadline_source = lambda: deadline.flush_by - self._clock()
        try:
            failure = self._run(batch, task, deadline)
            if dlq is not None:
                dlq.flush(deadline.flush_timeout())
        except Exception as e:
            if not isinstance(e, RetriableException):
                self.status.task_failed(connector, task_id, worker_id, _trace(e))
            raise
        finally:
            reporter.handler = None
            if task.context is not None:
                task.context.deadline_source = None
        self.status.topics_active(connector, result.topics)
        if isinstance(failure, RecordFailedError):
            # Partial batch response: the prefix is written, the task still failed on a record.
            self.status.task_failed(connector, task_id, worker_id, _trace(failure))
            log.error("%s", failure, extra={"connector": connector, "task": task_id})
        elif failure is None:
            self.status.task_running(connector, task_id, worker_id)
        return result

    def _subscribed(
        self, connector: str, pipeline: SinkPipeline, records: Sequence[ConsumedRecord]
    ) -> tuple[Sequence[ConsumedRecord], list[str]]:
        """The batch with every record of a topic the connector does not read refused (it then
        takes the error path like an undecodable record), and the batch's subscribed topics.

        Checked per distinct topic, so a batch of one subscribed topic costs one set lookup."""
        topics = set(map(_topic_of, records))
        cached = self._subscriptions.get(connector)
        if cached is None or cached[0] is not pipeline:
            config = pipeline.config
            cached = self._subscriptions[connector] = (
                pipeline, Subscription(config.topics, config.topics_regex, config.dlq_topic))
        subscription = cached[1]
        foreign = {t for t in topics if t not in subscription}
        if not foreign:
            return records, sorted(topics)
        refused = [
            r._replace(consume_error=subscription.refusal(connector, r.label, r.topic))
            if r.topic in foreign and r.consume_error is None else r
            for r in records
        ]
        return refused, sorted(topics - foreign)

    # --- the batch ----------------------------------------------------------------------------
    def _run(self, batch: _Batch, task: SinkTask, deadline: _Deadline) -> Exception | None:
        """Convert, transform, put and flush; returns the failure a partial response reports."""
        pipeline, result = batch.pipeline, batch.result
        records = batch.records
        ready: list[SinkRecord] = []
        stop_at = len(records)
        failure: Exception | None = None
        # The loop runs once per consumed record, so everything it needs is hoisted into
        # locals and the smooth case is inline: one clock read, one SinkRecord built from the
        # converters' column reads (``RecordConverters.sink_columns``: keys, then values, each
        # by one C-level pass per chunk) and its headers, one chain call. A record those reads
        # did not give (READ_FAILED) is converted on its own (``sink_reader``), the converters'
        # own way: key, value and headers in that order, failures naming their stage. A record
        # that fails anywhere continues on the slow path with the failure in hand (never
        # re-running what already ran), which applies retries and the error policy.
        converters = pipeline.converters
        convert, read_headers = converters.sink_reader(), converters.header_reader()
        columns = converters.sink_columns()
        pairs: Iterable[tuple[Any, Any]]
        if columns is None:
            key_schema = value_schema = None
            pairs = repeat((READ_FAILED, READ_FAILED))
        else:
            key_schema, value_schema, pairs = columns(records)
        transform = pipeline.chain.apply_owned if len(pipeline.chain) else None
        clock, at = self._clock, deadline.at
        append = ready.append
        new, failed, no_headers = _new_sink_record, READ_FAILED, EMPTY_HEADERS
        dropped = 0
        for index, (consumed, (k, v)) in enumerate(zip(records, pairs)):
            if clock() >= at:
                stop_at = index
                failure = BatchDeadlineError(
                    f"Connector {result.connector} task {result.task_id} ran out of time after {index} of "
                    f"{len(records)} record(s); the rest (from {consumed.label}) is redelivered"
                )
                break
            # One unpacking instead of an attribute read per field (a named tuple's are not slots).
            topic, partition, offset, timestamp, timestamp_type, _, _, headers, error = consumed
            if error is None:
                try:
                    if k is failed or v is failed:
                        record = convert(consumed)
                    else:
                        record = new(SinkRecord)
                        record.topic = record.original_topic = topic
                        record.kafka_partition = record.original_kafka_partition = partition
                        record.kafka_offset = record.original_kafka_offset = offset
                        record.key_schema = key_schema
                        record.key = k
                        record.value_schema = value_schema
                        record.value = v
                        record.timestamp = timestamp
                        record.timestamp_type = timestamp_type
                        record.headers = read_headers(topic, headers) if headers else no_headers
                    if transform is not None:
                        record = transform(record)
                except StageError as e:
                    first = e
                else:
                    if record is None:
                        dropped += 1
                    else:
                        append(record)
                    continue
            else:
                first = consume_error(consumed.consume_error)
            try:
                record = self._retry(pipeline, consumed, first, deadline)
            except StageError as e:
                if self._tolerate(batch, consumed, e):
                    continue
                stop_at, failure = index, RecordFailedError(consumed, e, result.connector, result.task_id)
                break
            if record is None:
                dropped += 1
            else:
                append(record)
        result.dropped += dropped
        if failure is not None:
            # Without partial responses (or when the record cannot be named to Lambda) the
            # whole batch fails and nothing is written: redelivery starts from its beginning.
            if not pipeline.report_batch_item_failures or records[stop_at].offset < 0:
                raise failure
            if isinstance(failure, RecordFailedError):
                result.failed += 1
            result.item_failures = _first_unfinished(records, stop_at)
        self._put(batch, task, ready, _next_offsets(records, stop_at), deadline)
        return failure

    def _retry(
        self, pipeline: SinkPipeline, consumed: ConsumedRecord, first: StageError, deadline: _Deadline
    ) -> SinkRecord | None:
        """After conversion or the chain failed with ``first``: retry a RetriableException
        (conversion and chain again, from the record's bytes) within ``errors.retry.timeout``
        and the invocation's deadline; otherwise raise the StageError. An undecodable
        record (``KAFKA_CONSUME``) is never retried: the same bytes would fail again."""
        if (first.stage is Stage.KAFKA_CONSUME or not isinstance(first.cause, RetriableException)
                or pipeline.policy.retry_timeout_ms == 0):
            raise first

        def retry() -> SinkRecord | None:
            try:
                record = pipeline.converters.sink_reader()(consumed)
                return pipeline.chain.apply_owned(record) if len(pipeline.chain) else record
            except StageError as e:
                if isinstance(e.cause, RetriableException):
                    raise e.cause from e
                raise

        return pipeline.policy.execute(
            retry, first.stage, first.plugin_class, sleep=self._sleep, deadline=deadline.at, clock=self._clock,
            first_failure=first.cause,  # type: ignore[arg-type]
        )

    def _put(
        self,
        batch: _Batch,
        task: SinkTask,
        records: list[SinkRecord],
        offsets: Mapping[tuple[str, int], int],
        deadline: _Deadline,
    ) -> None:
        pipeline, result = batch.pipeline, batch.result
        if not offsets:
            return

        def put_and_flush() -> None:
            if records:
                task.put(records)
            task.flush(offsets)

        started = self._clock()
        errant_before = result.failed
        duplicates_before = getattr(task, "skipped_duplicates", 0)
        dropped_before = getattr(task, "records_dropped", 0)  # records a task chose to skip (HTTP behavior.on.error)
        try:
            pipeline.policy.execute(
                put_and_flush, Stage.TASK_PUT, pipeline.class_name, sleep=self._sleep, deadline=deadline.flush_by,
                clock=self._clock,
            )
        except StageError as e:
            if isinstance(e.cause, RecordFailedError):
                raise e.cause from None  # an errant record that is not tolerated: name the record
            raise
        result.put_latency_ms = (self._clock() - started) * 1000.0
        result.skipped_duplicates = int(getattr(task, "skipped_duplicates", 0) - duplicates_before)
        task_dropped = int(getattr(task, "records_dropped", 0) - dropped_before)
        result.dropped += task_dropped
        result.written = len(records) - (result.failed - errant_before) - result.skipped_duplicates - task_dropped

    # --- failures -----------------------------------------------------------------------------
    def _tolerate(self, batch: _Batch, consumed: ConsumedRecord, error: StageError) -> bool:
        """Report a failed record; True when it is skipped (tolerated), False when it fails the batch."""
        pipeline, result = batch.pipeline, batch.result
        policy = pipeline.policy
        if policy.log_enable:
            log_error(consumed, error, result.connector, result.task_id, include_messages=policy.log_include_messages)
        if not policy.tolerates():
            return False
        if error.stage is Stage.KAFKA_CONSUME and batch.dlq is None:
            return False  # an undecodable record may only be skipped when it is kept in a DLQ
        result.failed += 1
        if batch.dlq is not None:
            batch.dlq.send(consumed, error, result.task_id)
            result.dead_lettered += 1
        return True

    def _errant(self, batch: _Batch, record: SinkRecord, error: BaseException) -> None:
        """KIP-610: a record the task could not write, reported from ``put``/``flush``."""
        key = (record.original_topic, record.original_kafka_partition, record.original_kafka_offset)
        consumed = batch.consumed_at(key)
        stage_error = error if isinstance(error, StageError) else StageError(
            Stage.TASK_PUT, batch.pipeline.class_name, error
        )
        if consumed is None:
            raise ConnectException(f"Errant record {key} was not part of the batch") from error
        if not self._tolerate(batch, consumed, stage_error):
            raise RecordFailedError(consumed, stage_error, batch.result.connector, batch.result.task_id)


def _next_offsets(records: Sequence[ConsumedRecord], stop_at: int) -> dict[tuple[str, int], int]:
    """The next offset to consume per partition of ``records[:stop_at]``, as ``SinkTask.flush``
    expects. Lambda groups a batch by partition, so this walks runs of one partition with C
    iterators (``groupby``, ``max``) instead of a Python step per record."""
    out: dict[tuple[str, int], int] = {}
    head = records if stop_at == len(records) else records[:stop_at]
    for tp, run in groupby(head, _partition_of):
        last = max(map(_offset_of, run)) + 1
        if last > out.get(tp, -1):
            out[tp] = last
    return out


def _first_unfinished(records: Sequence[ConsumedRecord], stop_at: int) -> list[ConsumedRecord]:
    """The first record at or after ``stop_at`` of each partition: where each one resumes."""
    seen: set[tuple[str, int]] = set()
    out: list[ConsumedRecord] = []
    for r in records[stop_at:]:
        tp = (r.topic, r.partition)
        if tp not in seen:
            seen.add(tp)
            out.append(r)
    return out


def _trace(error: BaseException) -> str:
    return "".join(traceback.format_exception(type(error), error, error.__traceback__))
