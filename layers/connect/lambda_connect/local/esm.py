"""A Kafka event source mapping, emulated: poll a topic in a consumer group, invoke the sink
handler with Lambda's event, commit after success.

What it reproduces from the real ESM (reference aws-serverless.md §2):

* one topic per mapping, consumer group as given (``connect-<name>`` for one topic), starting
  position TRIM_HORIZON / LATEST / AT_TIMESTAMP for a group without committed offsets;
* batches of up to ``lambda.batch.size`` records gathered for up to the batching window
  (Lambda's Kafka default 0.5 s), capped by the 6 MB invoke payload;
* the event byte for byte as Lambda sends it: the JSON payload of ``build_kafka_event`` (written
  directly by ``kafka_event_json``, which a differential test holds to the same bytes) and parsed
  with ``orjson.loads`` as the Lambda runtime parses it before calling the handler; the context's
  ``invoked_function_arn`` ending with the connector's alias and its remaining time counting down
  from the function timeout — a handler that returns after it counts as timed out;
* offsets committed only after the invocation succeeded;
* on a function error: on-demand mode retries the whole batch until it succeeds (the partition is
  blocked meanwhile); provisioned mode honours ``lambda.maximum.retry.attempts``,
  ``lambda.maximum.record.age.seconds``, ``lambda.bisect.batch.on.error`` and, with
  ``lambda.report.batch.item.failures``, commits the records before the first reported failure
  and retries from it. A batch given up on goes to a ``kafka://`` on-failure destination (one
  message per record, as Lambda's Kafka destination); SQS/SNS/S3 destinations cannot be reached
  locally and are logged instead.

The handler runs on a thread of the mapping's own (one for the mapping's life, as a container
runs its invocations on one thread), so that the poller can read and render the next batch
while the handler works, as Lambda's pollers do outside the function. The next batch is only
invoked after the current one has returned (its offsets are committed while the next one runs),
and only the poller thread touches the consumer. ``lambda-connect up`` runs this whole class in
a process of its own per mapping (:mod:`lambda_connect.local.esm_process`), so that the poller
does not share the interpreter lock with the handler; only the invocation crosses over.

Stopping (pause, stop, delete, Ctrl-C) lets the batch in flight finish, commits it, and closes
the consumer so the group is empty again; a batch read ahead is dropped uncommitted.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from lambda_connect.aws.kafka_clients import KafkaSettings, make_consumer, make_producer
from lambda_connect.aws.kafka_event import KafkaRecordTuple, build_kafka_event, kafka_event_json
from lambda_connect.runtime.gc_tuning import relaxed_gc
from lambda_connect.runtime.lambda_config import LambdaSettings

from .context import LambdaContext

__all__ = [
    "DEFAULT_BATCHING_WINDOW_SECONDS",
    "MAX_PAYLOAD_BYTES",
    "TOPIC_METADATA_REFRESH_MS",
    "EsmEmulator",
    "EsmStats",
    "Invoker",
]

log = logging.getLogger(__name__)

#: Lambda's batching window for Kafka mappings when MaximumBatchingWindowInSeconds is unset.
DEFAULT_BATCHING_WINDOW_SECONDS = 0.5
#: How often a mapping's consumer re-reads topic metadata: a topic created after its mapping
#: (or partitions added to it) is picked up within this much, plus a group rebalance.
TOPIC_METADATA_REFRESH_MS = 2000
#: A synchronous invoke payload is at most 6 MB.
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024
_TIMESTAMP_TYPES = {0: "NO_TIMESTAMP_TYPE", 1: "CREATE_TIME", 2: "LOG_APPEND_TIME"}
_RECORD_OVERHEAD = 200  # JSON field names and numbers around each record
#: Read the next batch while the handler runs (``bench/drain.py --no-read-ahead`` turns it off to
#: measure what it brings; semantics are the same either way).
READ_AHEAD = True
#: While reading ahead, how often the poller looks whether the invocation has returned.
_INTERRUPT_CHECK_SECONDS = 0.02

#: ``invoke(event, context) -> result``: the sink handler, or anything shaped like it.
Invoker = Callable[[dict[str, Any], LambdaContext], Any]


class _FunctionError(Exception):
    """The invocation failed: the handler raised, timed out, or reported a bad batch item."""


@dataclass
class EsmStats:
    """Counters a progress display or a test can read without touching Kafka."""

    batches: int = 0
    records_committed: int = 0
    failed_invocations: int = 0
    records_sent_to_destination: int = 0
    last_error: str | None = None
    last_committed: dict[int, int] = field(default_factory=dict)


#: A consumed record, as ``build_kafka_event`` / ``kafka_event_json`` take it. A plain tuple:
#: cheap to make, and (with empty headers as ``()``) untracked by the cycle collector.
_Record = KafkaRecordTuple
_new_tuple = tuple.__new__


def _size(record: _Record) -> int:
    """Estimated share of the invoke payload: base64 of key, value and headers, plus JSON around."""
    key, value, headers = record[5], record[6], record[7]
    body = (len(key) if key else 0) + (len(value) if value else 0)
    if headers:
        body += sum(len(k) + 4 * len(v or b"") for k, v in headers)
    return body * 4 // 3 + _RECORD_OVERHEAD


@dataclass
class _Gathering:
    """A batch being gathered. Kept when a collection is interrupted (the invocation it ran
    alongside has returned), so that the batch's window still counts from its first record."""

    records: list[_Record] = field(default_factory=list)
    size: int = 0
    first_at: float | None = None
    complete: bool = False
    payload: bytes | None = None


@dataclass
class _Call:
    """One invocation on its way through the function: the payload goes in, and once ``done`` is
    set, either the handler's result (and whether it returned after the deadline) or the text of
    the error it raised comes back."""

    payload: bytes
    done: threading.Event = field(default_factory=threading.Event)
    result: Any = None
    timed_out: bool = False
    error: str | None = None

    def finish(self, result: Any, timed_out: bool, error: str | None) -> None:
        self.result, self.timed_out, self.error = result, timed_out, error
        self.done.set()

    def outcome(self) -> tuple[Any, bool]:
        self.done.wait()
        if self.error is not None:
            raise _FunctionError(self.error)
        return self.result, self.timed_out


@dataclass(frozen=True)
class FunctionTarget:
    """What the invoking side needs to call the handler as Lambda does: the function's name, its
    timeout (the context's deadline) and the ARN the mapping invokes (ending with the alias)."""

    function_name: str
    function_arn: str
    timeout_ms: int


def load_ahead(invoke: Invoker) -> None:
    """Lambda runs a function's init (the handler module's import) before the first invoke and
    outside its timeout; loading a lazily loaded handler up front does the same, while the poller
    is still joining the group, instead of inside the first invocation's deadline."""
    load = getattr(invoke, "load", None)
    if callable(load):
        try:
            load()
        except Exception as e:  # the first invocation loads it again and fails as the function
            log.debug("loading the sink handler ahead of the first batch failed: %s", e)


#: ``deliver(result, timed_out, error text)``: hands an invocation's outcome to the mapping.
Deliver = Callable[[Any, bool, "str | None"], None]


def run_invocation(invoke: Invoker, target: FunctionTarget, payload: bytes | memoryview, deliver: Deliver) -> None:
    """One invocation as the Lambda runtime makes it: the payload parsed with ``orjson.loads`` (the
    handler gets objects of its own, never shared with the mapping or another attempt), a fresh
    context counting down from the timeout. The outcome goes to ``deliver`` the moment the handler
    returns; freeing the parsed event (~100,000 objects for 10,000 records) and the young
    collection come after, so the mapping's next step does not wait for them."""
    context = LambdaContext(function_name=target.function_name, timeout_ms=target.timeout_ms,
                            invoked_function_arn=target.function_arn)
    # Parsing a 10,000-record event makes ~100,000 containers at once: with automatic cycle
    # collection on, the parse alone set off several full collections per batch locally (the
    # handlers relax the collector themselves, but only once they run).
    with relaxed_gc():
        event: Any = None
        try:
            event = orjson.loads(payload)
            result = invoke(event, context)
        except BaseException as e:  # the function failed: the mapping retries or gives up, as Lambda's does
            deliver(None, False, f"{type(e).__name__}: {e}")
        else:
            deliver(result, context.timed_out, None)
        del event


class _InvokerThread:
    """The thread the handler runs on, one per mapping for as long as the mapping polls (as a Lambda
    container runs every invocation on its runtime's thread). The mapping's own thread is thereby
    free to read the next batch while the handler works, as Lambda's pollers do outside the function.
    """

    def __init__(self, invoke: Invoker, target: FunctionTarget, name: str) -> None:
        self._invoke = invoke
        self._target = target
        self._calls: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        load_ahead(self._invoke)
        while (call := self._calls.get()) is not None:
            try:
                run_invocation(self._invoke, self._target, call.payload, call.finish)
            finally:
                call.done.set()  # (already set by finish, unless delivering itself failed)

    def submit(self, payload: bytes) -> _Call:
        call = _Call(payload)
        self._calls.put(call)
        return call

    def close(self) -> None:
        self._calls.put(None)


class EsmEmulator:
    """One emulated event source mapping (one topic → one alias of the sink function)."""

    def __init__(
        self,
        *,
        connector: str,
        topic: str,
        consumer_group: str,
        settings: LambdaSettings,
        invoke: Invoker,
        function_name: str,
        function_arn: str,
        timeout_ms: int,
        kafka: KafkaSettings,
        retry_backoff_max: float = 5.0,
        uuid_: str | None = None,
        consumer_overrides: dict[str, Any] | None = None,
    ) -> None:
        self.connector = connector
        self.topic = topic
        self.consumer_group = consumer_group
        self.settings = settings
        self.uuid = uuid_ or str(uuid.uuid4())
        self._invoke = invoke
        self._function_name = function_name
        self._function_arn = function_arn
        self._timeout_ms = timeout_ms
        self._kafka = kafka
        self._retry_backoff_max = retry_backoff_max
        self._extra_overrides = dict(consumer_overrides or {})
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._invoker: Any = None
        #: Read once, so that a test or benchmark changing the module's values before it creates a
        #: mapping affects that mapping, wherever its poller runs.
        self._max_payload = MAX_PAYLOAD_BYTES
        self._read_ahead_on = READ_AHEAD
        #: The batch read ahead while the handler ran (see ``_read_ahead``).
        self._next: _Gathering | None = None
        #: The invocation of ``_next`` already started (see ``_pipeline``): it must be delivered
        #: and committed even when a stop comes, as any batch in flight is.
        self._in_flight: _Call | None = None
        self.stats = EsmStats()

    # ------------------------------------------------------------------ lifecycle
    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def state(self) -> str:
        """The ESM ``State`` Lambda would report."""
        if self.running:
            return "Disabling" if self._stop.is_set() else "Enabled"
        return "Disabled"

    def start(self) -> None:
        if self.running:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"esm-{self.connector}-{self.topic}", daemon=True)
        self._thread.start()

    def request_stop(self) -> None:
        """Ask the poller to stop after the batch in flight (it commits, then closes)."""
        self._stop.set()

    def stop(self, timeout: float | None = None) -> bool:
        """Stop and wait; True when the poller has exited."""
        self.request_stop()
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True

    # ------------------------------------------------------------------ poller
    def _consumer_overrides(self) -> dict[str, Any]:
        position = self.settings.starting_position
        return {
            "auto.offset.reset": "latest" if position == "LATEST" else "earliest",
            # Retries of a failing batch can outlast the default 5 minutes between polls; the
            # real ESM keeps its group membership meanwhile, so this one must too.
            "max.poll.interval.ms": 86_400_000,
            "client.id": f"lambda-connect-esm-{self.connector}",
            # A mapping may be created before its topic exists: librdkafka then learns of the
            # topic only on its next metadata refresh, every 5 minutes by default.
            "topic.metadata.refresh.interval.ms": TOPIC_METADATA_REFRESH_MS,
            **self._extra_overrides,
        }

    def _on_assign(self, consumer: Any, partitions: list[Any]) -> None:
        if self.settings.starting_position != "AT_TIMESTAMP" or self.settings.starting_position_timestamp_ms is None:
            return
        from confluent_kafka import TopicPartition

        committed = consumer.committed(partitions, timeout=10)
        fresh = [TopicPartition(p.topic, p.partition, self.settings.starting_position_timestamp_ms)
                 for p in committed if p.offset < 0]
        if fresh:
            positions = {(p.topic, p.partition): p.offset for p in consumer.offsets_for_times(fresh, timeout=10)}
            for p in partitions:
                if (p.topic, p.partition) in positions:
                    p.offset = positions[(p.topic, p.partition)]
            consumer.assign(partitions)

    def _run(self) -> None:
        try:
            consumer = make_consumer(self._kafka, self.consumer_group, self._consumer_overrides(), fast_group_join=True)
        except Exception as e:  # bad cluster settings: the mapping cannot start, as in Lambda
            self.stats.last_error = f"cannot create consumer: {e}"
            self._stats_changed()
            log.error("event source mapping %s (%s) cannot start: %s", self.uuid, self.topic, e)
            return
        self._invoker = self._make_invoker()
        self._next = self._in_flight = None
        try:
            consumer.subscribe([self.topic], on_assign=self._on_assign)
            while not self._stop.is_set() or self._in_flight is not None:
                gathering, self._next = self._next, None
                if gathering is None or not gathering.complete:
                    gathering = self._collect(consumer, gathering)
                if gathering.records:
                    self._deliver(consumer, gathering.records, gathering.payload)
        except Exception as e:  # keep the runtime alive; the mapping shows the error and stops
            self.stats.last_error = repr(e)
            self._stats_changed()
            log.exception("event source mapping %s for %s stopped", self.uuid, self.topic)
        finally:
            # A batch read ahead and not delivered is not committed: the group's next consumer
            # gets it again.
            self._next = self._in_flight = None
            self._invoker.close()
            try:
                consumer.close()
            except Exception as e:  # closing a consumer of a vanished broker: nothing left to do
                log.debug("closing consumer of %s: %s", self.topic, e)

    @property
    def target(self) -> FunctionTarget:
        return FunctionTarget(self._function_name, self._function_arn, self._timeout_ms)

    def _make_invoker(self) -> Any:
        """Where invocations go: a thread of this process running the handler (see the module
        docstring); a poller in a process of its own sends them to its parent instead."""
        return _InvokerThread(self._invoke, self.target, f"esm-{self.connector}-{self.topic}-invoke")

    def _stats_changed(self) -> None:
        """Called whenever ``stats`` changed; a poller in its own process reports them to its parent."""

    def _payload(self, records: list[_Record]) -> bytes:
        """The invoke payload: ``orjson.dumps(build_kafka_event(records))``, written directly."""
        return kafka_event_json(records, bootstrap_servers=self._kafka.bootstrap_servers)

    def _collect(self, consumer: Any, gathering: _Gathering | None = None,
                 interrupt: threading.Event | None = None) -> _Gathering:
        """Gather a batch (or go on with ``gathering``): up to ``batch_size`` records, for up to the
        batching window after the first, capped by the invoke payload. With ``interrupt``, return
        (not ``complete``) as soon as it is set; otherwise the batch comes back ``complete``
        (empty when stopping before any record came)."""
        window = self.settings.batching_window_seconds
        window = DEFAULT_BATCHING_WINDOW_SECONDS if window is None else float(window)
        g = gathering if gathering is not None else _Gathering()
        batch, limit = g.records, self.settings.batch_size
        while len(batch) < limit:
            if interrupt is not None and interrupt.is_set():
                return g
            if g.first_at is None:
                if self._stop.is_set():
                    break
                wait = 0.2
            else:
                wait = g.first_at + window - time.monotonic()
                if wait <= 0:
                    break
            if interrupt is not None:
                wait = min(wait, _INTERRUPT_CHECK_SECONDS)
            messages = consumer.consume(num_messages=limit - len(batch), timeout=max(wait, 0.0))
            for index, message in enumerate(messages):
                error = message.error()
                if error is not None:
                    if error.fatal():
                        raise RuntimeError(f"consumer of {self.topic} failed: {error}")
                    continue
                record = _to_record(message)
                record_size = _size(record)
                if batch and g.size + record_size > self._max_payload:
                    # Lambda caps a batch at the 6 MB payload: this record and the rest of what
                    # was consumed go in the next one.
                    rest = [_to_record(m) for m in messages[index + 1:] if m.error() is None]
                    self._rewind(consumer, [record, *rest])
                    g.complete = True
                    return g
                batch.append(record)
                g.size += record_size
                if g.first_at is None:
                    g.first_at = time.monotonic()
        g.complete = True
        return g

    @staticmethod
    def _rewind(consumer: Any, records: Sequence[_Record]) -> None:
        from confluent_kafka import TopicPartition

        firsts: dict[int, int] = {}
        for r in records:
            firsts.setdefault(r.partition, r.offset)
        for partition, offset in firsts.items():
            consumer.seek(TopicPartition(records[0].topic, partition, offset))

    # ------------------------------------------------------------------ delivery
    def _deliver(self, consumer: Any, batch: list[_Record], payload: bytes | None = None) -> None:
        """Invoke until the batch is done (delivered or given up on), then commit. ``payload`` is
        the batch's rendered event, reused while the whole batch is what is invoked."""
        pending: list[list[_Record]] = [batch]
        attempts = 0
        backoff = 0.25
        while pending:
            current = pending[0]
            current = self._drop_expired(current)
            if not current:
                pending.pop(0)
                continue
            try:
                first_try = self._read_ahead_on and current is batch and attempts == 0
                remaining = self._invoke_once(current, payload if current is batch else None,
                                              consumer if first_try else None)
            except _FunctionError as e:
                self.stats.failed_invocations += 1
                self.stats.last_error = str(e)
                self._stats_changed()
                attempts += 1
                log.warning("sink invocation for %s failed (attempt %d, %d records): %s",
                            self.connector, attempts, len(current), e)
                if self._retries_exhausted(attempts):
                    self._give_up(current, f"RetryAttemptsExhausted: {e}")
                    self._commit(consumer, current)
                    pending.pop(0)
                    continue
                if self.settings.bisect_batch_on_error and len(current) > 1:
                    half = len(current) // 2
                    pending[0:1] = [current[:half], current[half:]]
                if self._stop.wait(backoff):
                    return  # stopping: nothing committed, the batch is redelivered next time
                backoff = min(backoff * 2, self._retry_backoff_max)
                continue
            if remaining:
                retry_ids = {id(r) for r in remaining}
                done = [r for r in current if id(r) not in retry_ids]
            else:
                done = current
            self._commit(consumer, done)
            if remaining:
                attempts += 1
                if self._retries_exhausted(attempts):
                    self._give_up(remaining, "RetryAttemptsExhausted: batch item failure")
                    self._commit(consumer, remaining)
                    pending.pop(0)
                elif self._stop.wait(backoff):
                    return
                else:
                    pending[0] = remaining
                    backoff = min(backoff * 2, self._retry_backoff_max)
                continue
            pending.pop(0)
            attempts = 0
            backoff = 0.25

    def _retries_exhausted(self, attempts: int) -> bool:
        if not self.settings.provisioned:
            return False  # on-demand: retried until it succeeds or the records age out
        limit = self.settings.maximum_retry_attempts
        if limit is None or limit < 0:
            # Infinite retries with a failure destination are limited to 10 by Lambda.
            return self.settings.on_failure_destination is not None and attempts > 10
        return attempts > limit

    def _drop_expired(self, records: list[_Record]) -> list[_Record]:
        age = self.settings.maximum_record_age_seconds
        if not self.settings.provisioned or age is None or age < 0:
            return records
        cutoff_ms = (time.time() - age) * 1000
        expired = [r for r in records if 0 <= r.timestamp < cutoff_ms]
        if expired:
            self._give_up(expired, "MaximumRecordAgeExceeded")
        expired_ids = {id(r) for r in expired}
        return [r for r in records if id(r) not in expired_ids]

    def _invoke_once(self, records: list[_Record], payload: bytes | None = None,
                     consumer: Any = None) -> list[_Record]:
        """One invocation; returns the records to retry (empty on full success). With ``consumer``,
        the next batch is read (and, once whole, rendered) while the handler runs."""
        if consumer is not None and self._in_flight is not None:  # started by _pipeline: its first try
            call, self._in_flight = self._in_flight, None
        else:
            call = self._invoker.submit(payload if payload is not None else self._payload(records))
        poller_error: Exception | None = None
        if consumer is not None and not self._stop.is_set():
            try:
                self._read_ahead(consumer, call.done)
            except Exception as e:  # the consumer's, not the function's: raised once the call is done
                poller_error = e
        try:
            result, timed_out = call.outcome()
        except _FunctionError as e:
            if poller_error is not None:
                raise poller_error from e
            raise
        if poller_error is not None:
            raise poller_error  # the batch stays uncommitted; the mapping stops with the error
        if timed_out:
            raise _FunctionError(f"Task timed out after {self._timeout_ms / 1000:.2f} seconds")
        self.stats.batches += 1
        remaining = self._failed_items(result, records) if self.settings.report_batch_item_failures else []
        if not remaining and consumer is not None:
            self._pipeline()
        return remaining

    def _pipeline(self) -> None:
        """Start the invocation of the batch read ahead before this one's offsets are committed.

        Invocations stay one at a time and in order (this one has returned); only the commit
        round trip and the hand-over overlap the next invocation instead of idling the
        function between batches. Not when records can age out: the next batch's first try
        must then be filtered first (``_drop_expired``), which happens at its delivery."""
        following = self._next
        if (following is None or not following.complete or following.payload is None or self._stop.is_set()
                or self._ages_out()):
            return
        self._in_flight = self._invoker.submit(following.payload)

    def _ages_out(self) -> bool:
        age = self.settings.maximum_record_age_seconds
        return bool(self.settings.provisioned and age is not None and age >= 0)

    def _read_ahead(self, consumer: Any, invocation_done: threading.Event) -> None:
        """Gather the next batch until the invocation returns; render it if it is whole by then."""
        gathering = self._collect(consumer, self._next, interrupt=invocation_done)
        self._next = gathering
        if gathering.complete and gathering.records and gathering.payload is None:
            gathering.payload = self._payload(gathering.records)

    @staticmethod
    def _failed_items(result: Any, records: list[_Record]) -> list[_Record]:
        failures = result.get("batchItemFailures") if isinstance(result, dict) else None
        if not failures:
            return []
        first: dict[int, int] = {}
        known = {(f"{r.topic}-{r.partition}", r.offset) for r in records}
        for item in failures:
            ident = item.get("itemIdentifier") if isinstance(item, dict) else None
            if not isinstance(ident, dict):
                raise _FunctionError(f"invalid batchItemFailures entry {item!r}")
            key = (str(ident.get("partition")), ident.get("offset"))
            if key not in known:
                # An identifier that was not in the event fails the whole batch (as Lambda does).
                raise _FunctionError(f"batchItemFailures names {key[0]}@{key[1]}, which is not in the batch")
            partition = int(key[0].rsplit("-", 1)[1])
            first[partition] = min(first.get(partition, key[1]), key[1])
        return [r for r in records if r.partition in first and r.offset >= first[r.partition]]

    def _commit(self, consumer: Any, records: Sequence[_Record]) -> None:
        if not records:
            return
        from confluent_kafka import TopicPartition

        # Every list handed here keeps the order records were consumed in, so within a partition
        # offsets ascend and its last record is its highest (a lower one would only mean a
        # redelivery, never a skip).
        last = {r[1]: r[2] for r in records}
        offsets = [TopicPartition(self.topic, p, o + 1) for p, o in last.items()]
        consumer.commit(offsets=offsets, asynchronous=False)
        self.stats.records_committed += len(records)
        self.stats.last_committed.update({p: o + 1 for p, o in last.items()})
        self._stats_changed()

    def _give_up(self, records: Sequence[_Record], condition: str) -> None:
        destination = self.settings.on_failure_destination
        if not destination:
            log.error("event source mapping %s dropped %d records of %s (%s, no on-failure destination)",
                      self.uuid, len(records), self.topic, condition)
            return
        if not destination.startswith("kafka://"):
            log.error("event source mapping %s: %d records of %s go to %s (%s); a local run cannot reach it",
                      self.uuid, len(records), self.topic, destination, condition)
            return
        topic = destination[len("kafka://"):]
        producer = make_producer(self._kafka)
        for r in records:
            payload = build_kafka_event([r], bootstrap_servers=self._kafka.bootstrap_servers)
            body = {
                "requestContext": {"requestId": str(uuid.uuid4()), "functionArn": self._function_arn,
                                   "condition": condition.split(":", 1)[0], "approximateInvokeCount": 1},
                "version": "1.0",
                "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
                "KafkaBatchInfo": {"batchSize": 1, "bootstrapServers": self._kafka.bootstrap_servers,
                                   "recordInfo": {"offset": str(r.offset), "timestamp": str(r.timestamp)}},
                "payload": orjson.dumps(payload).decode(),
            }
            producer.produce(topic, orjson.dumps(body), r.key)
        remaining = producer.flush(30)
        if remaining:
            raise RuntimeError(f"could not deliver {remaining} failed records to {destination}")
        self.stats.records_sent_to_destination += len(records)
        self._stats_changed()


def _to_record(message: Any) -> _Record:
    """The fields of a consumed message; the tuple is made directly (a NamedTuple's own
    constructor costs twice as much, and this runs for every record)."""
    ts_type, ts = message.timestamp()
    return _new_tuple(_Record, (
        message.topic(), message.partition(), message.offset(), ts if ts_type else -1,
        _TIMESTAMP_TYPES.get(ts_type, "CREATE_TIME"), message.key(), message.value(), message.headers() or (),
    ))
