"""A Kafka event source mapping, emulated: poll a topic in a consumer group, invoke the sink
handler with Lambda's event, commit after success.

What it reproduces from the real ESM (reference aws-serverless.md §2):

* one topic per mapping, consumer group as given (``connect-<name>`` for one topic), starting
  position TRIM_HORIZON / LATEST / AT_TIMESTAMP for a group without committed offsets;
* batches of up to ``lambda.batch.size`` records gathered for up to the batching window
  (Lambda's Kafka default 0.5 s), capped by the 6 MB invoke payload;
* the event byte for byte as Lambda sends it (``build_kafka_event``, through a JSON round trip),
  the context's ``invoked_function_arn`` ending with the connector's alias and its remaining time
  counting down from the function timeout — a handler that returns after it counts as timed out;
* offsets committed only after the invocation succeeded;
* on a function error: on-demand mode retries the whole batch until it succeeds (the partition is
  blocked meanwhile); provisioned mode honours ``lambda.maximum.retry.attempts``,
  ``lambda.maximum.record.age.seconds``, ``lambda.bisect.batch.on.error`` and, with
  ``lambda.report.batch.item.failures``, commits the records before the first reported failure
  and retries from it. A batch given up on goes to a ``kafka://`` on-failure destination (one
  message per record, as Lambda's Kafka destination); SQS/SNS/S3 destinations cannot be reached
  locally and are logged instead.

Stopping (pause, stop, delete, Ctrl-C) lets the batch in flight finish, commits it, and closes
the consumer so the group is empty again.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from lambda_connect.aws.kafka_clients import KafkaSettings, make_consumer, make_producer
from lambda_connect.aws.kafka_event import KafkaRecordTuple, build_kafka_event
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


@dataclass
class _Record:
    topic: str
    partition: int
    offset: int
    timestamp: int
    timestamp_type: str
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]]
    received: float

    def size(self) -> int:
        body = len(self.key or b"") + len(self.value or b"")
        body += sum(len(k) + 4 * len(v or b"") for k, v in self.headers)
        return body * 4 // 3 + _RECORD_OVERHEAD

    def as_tuple(self) -> KafkaRecordTuple:
        return KafkaRecordTuple(self.topic, self.partition, self.offset, self.timestamp, self.timestamp_type,
                                self.key, self.value, self.headers)


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
            log.error("event source mapping %s (%s) cannot start: %s", self.uuid, self.topic, e)
            return
        try:
            consumer.subscribe([self.topic], on_assign=self._on_assign)
            while not self._stop.is_set():
                batch = self._collect(consumer)
                if batch:
                    self._deliver(consumer, batch)
        except Exception as e:  # keep the runtime alive; the mapping shows the error and stops
            self.stats.last_error = repr(e)
            log.exception("event source mapping %s for %s stopped", self.uuid, self.topic)
        finally:
            try:
                consumer.close()
            except Exception as e:  # closing a consumer of a vanished broker: nothing left to do
                log.debug("closing consumer of %s: %s", self.topic, e)

    def _collect(self, consumer: Any) -> list[_Record]:
        window = self.settings.batching_window_seconds
        window = DEFAULT_BATCHING_WINDOW_SECONDS if window is None else float(window)
        batch: list[_Record] = []
        size = 0
        first_at: float | None = None
        while len(batch) < self.settings.batch_size:
            if first_at is None:
                if self._stop.is_set():
                    break
                wait = 0.2
            else:
                wait = first_at + window - time.monotonic()
                if wait <= 0:
                    break
            messages = consumer.consume(num_messages=self.settings.batch_size - len(batch), timeout=max(wait, 0.0))
            for message in messages:
                error = message.error()
                if error is not None:
                    if error.fatal():
                        raise RuntimeError(f"consumer of {self.topic} failed: {error}")
                    continue
                record = _to_record(message)
                if batch and size + record.size() > MAX_PAYLOAD_BYTES:
                    # Lambda caps a batch at the 6 MB payload: the rest goes in the next one.
                    self._rewind(consumer, [record])
                    return batch
                batch.append(record)
                size += record.size()
                if first_at is None:
                    first_at = time.monotonic()
            if first_at is None and not messages:
                continue
        return batch

    @staticmethod
    def _rewind(consumer: Any, records: Sequence[_Record]) -> None:
        from confluent_kafka import TopicPartition

        firsts: dict[int, int] = {}
        for r in records:
            firsts.setdefault(r.partition, r.offset)
        for partition, offset in firsts.items():
            consumer.seek(TopicPartition(records[0].topic, partition, offset))

    # ------------------------------------------------------------------ delivery
    def _deliver(self, consumer: Any, batch: list[_Record]) -> None:
        """Invoke until the batch is done (delivered or given up on), then commit."""
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
                remaining = self._invoke_once(current)
            except _FunctionError as e:
                self.stats.failed_invocations += 1
                self.stats.last_error = str(e)
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
            retry_ids = {id(r) for r in remaining}
            done = [r for r in current if id(r) not in retry_ids]
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

    def _invoke_once(self, records: list[_Record]) -> list[_Record]:
        """One invocation; returns the records to retry (empty on full success)."""
        event = build_kafka_event((r.as_tuple() for r in records), bootstrap_servers=self._kafka.bootstrap_servers)
        event = orjson.loads(orjson.dumps(event))  # exactly what crosses the Lambda invoke boundary
        context = LambdaContext(function_name=self._function_name, timeout_ms=self._timeout_ms,
                                invoked_function_arn=self._function_arn)
        try:
            result = self._invoke(event, context)
        except Exception as e:
            raise _FunctionError(f"{type(e).__name__}: {e}") from e
        if context.timed_out:
            raise _FunctionError(f"Task timed out after {self._timeout_ms / 1000:.2f} seconds")
        self.stats.batches += 1
        if not self.settings.report_batch_item_failures:
            return []
        return self._failed_items(result, records)

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

        last: dict[int, int] = {}
        for r in records:
            last[r.partition] = max(last.get(r.partition, -1), r.offset)
        offsets = [TopicPartition(self.topic, p, o + 1) for p, o in last.items()]
        consumer.commit(offsets=offsets, asynchronous=False)
        self.stats.records_committed += len(records)
        self.stats.last_committed.update({p: o + 1 for p, o in last.items()})

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
            payload = build_kafka_event([r.as_tuple()], bootstrap_servers=self._kafka.bootstrap_servers)
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


def _to_record(message: Any) -> _Record:
    ts_type, ts = message.timestamp()
    headers = [(k, v) for k, v in (message.headers() or [])]
    return _Record(
        topic=message.topic(), partition=message.partition(), offset=message.offset(),
        timestamp=ts if ts_type else -1, timestamp_type=_TIMESTAMP_TYPES.get(ts_type, "CREATE_TIME"),
        key=message.key(), value=message.value(), headers=headers, received=time.monotonic(),
    )
