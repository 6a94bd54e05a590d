"""The dead-letter queue of a sink connector and the error log (KIP-298 reporters).

A dead-lettered record is the record exactly as it was consumed — raw key and value bytes,
original headers, original timestamp — so a user can replay it after fixing the cause.
With ``errors.deadletterqueue.context.headers.enable=true`` the ``__connect.errors.*``
headers say where it came from and why it failed, with Kafka's names and encodings.

Nothing here knows Kafka clients: the transport (producer + topic creation) is injected by
the adapter layer, so the runtime stays free of client configuration and the tests can use
a real broker or a recording fake alike. Deliveries are tracked, and ``flush`` raises when
any record could not be written: a record that went nowhere must fail the batch, so its
offset is never committed.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from lambda_connect.api.errors import ConnectException

from .errors import Stage, StageError

__all__ = [
    "DeadLetterQueue",
    "DeadLetterQueueError",
    "DlqTransport",
    "RawRecord",
    "context_headers",
    "log_error",
]

log = logging.getLogger(__name__)

HEADER_PREFIX = "__connect.errors."
_PRODUCE_RETRY_POLL_S = 0.05


class RawRecord(Protocol):
    """A consumed record as Kafka delivered it (the fields a DLQ record copies)."""

    topic: str
    partition: int
    offset: int
    timestamp: int | None
    timestamp_type: str
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes | None]]


class ProducerLike(Protocol):
    """The part of ``confluent_kafka.Producer`` the DLQ uses."""

    def produce(self, topic: str, value: Any = ..., key: Any = ..., **kwargs: Any) -> None: ...
    def poll(self, timeout: float = ...) -> int: ...
    def flush(self, timeout: float = ...) -> int: ...


class DlqTransport(Protocol):
    """Kafka access for the DLQ, provided by the adapter layer and reused across invocations."""

    def producer(self) -> ProducerLike:
        """The (container-wide) producer; built on first use."""
        ...

    def ensure_topic(self, topic: str, replication_factor: int) -> None:
        """Create ``topic`` with one partition unless it exists (RF capped to the cluster size)."""
        ...


class DeadLetterQueueError(ConnectException):
    """Dead-lettered records were not acknowledged by Kafka; the batch must not be committed."""


def _text(value: object) -> bytes:
    return str(value).encode("utf-8")


def context_headers(
    record: RawRecord, error: StageError, connector: str, task_id: int
) -> list[tuple[str, bytes | None]]:
    """Kafka's ``__connect.errors.*`` headers (reference §3.4), UTF-8 strings in Kafka's order.

    The message header is present with a null value when the exception has no message, as
    Kafka writes ``getMessage() == null``.
    """
    cause = error.cause
    message = str(cause)
    trace = "".join(traceback.format_exception(type(cause), cause, cause.__traceback__))
    return [
        (HEADER_PREFIX + "topic", _text(record.topic)),
        (HEADER_PREFIX + "partition", _text(record.partition)),
        (HEADER_PREFIX + "offset", _text(record.offset)),
        (HEADER_PREFIX + "connector.name", _text(connector)),
        (HEADER_PREFIX + "task.id", _text(task_id)),
        (HEADER_PREFIX + "stage", _text(error.stage.value)),
        (HEADER_PREFIX + "class.name", _text(error.plugin_class)),
        (HEADER_PREFIX + "exception.class.name", _text(error.exception_class)),
        (HEADER_PREFIX + "exception.message", _text(message) if message else None),
        (HEADER_PREFIX + "exception.stacktrace", _text(trace)),
    ]


def log_error(
    record: RawRecord, error: StageError, connector: str, task_id: int, *, include_messages: bool
) -> None:
    """Kafka's ``LogReporter`` line: which task, stage and class failed, and optionally where
    the record was consumed (never its content — sink logs carry coordinates only)."""
    where = ""
    if include_messages:
        where = (
            f", where consumed record is {{topic='{record.topic}', partition={record.partition}, "
            f"offset={record.offset}, timestamp={record.timestamp}, timestampType={record.timestamp_type}}}"
        )
    log.error(
        "Error encountered in task %s-%d. Executing stage '%s' with class '%s'%s.",
        connector,
        task_id,
        error.stage.value,
        error.plugin_class,
        where,
        exc_info=error.cause,
        extra={"connector": connector, "task": task_id, "stage": error.stage.value},
    )


class DeadLetterQueue:
    """One batch's view of a connector's DLQ topic: send records, then ``flush`` before returning."""

    def __init__(
        self,
        topic: str,
        transport: DlqTransport,
        *,
        connector: str,
        replication_factor: int = 3,
        include_context_headers: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.topic = topic
        self.transport = transport
        self.connector = connector
        self.replication_factor = replication_factor
        self.include_context_headers = include_context_headers
        self._clock = clock
        self._producer: ProducerLike | None = None
        self._sent = 0
        self._acked = 0
        self._failures: list[str] = []

    @property
    def sent(self) -> int:
        """Records handed to the producer by this batch."""
        return self._sent

    def _ready(self) -> ProducerLike:
        if self._producer is None:
            self.transport.ensure_topic(self.topic, self.replication_factor)
            self._producer = self.transport.producer()
        return self._producer

    def _on_delivery(self, err: Any, _msg: Any) -> None:
        if err is None:
            self._acked += 1
        else:
            self._failures.append(str(err))

    def send(self, record: RawRecord, error: StageError, task_id: int) -> None:
        """Queue the original record (with context headers when enabled) for the DLQ topic."""
        producer = self._ready()
        headers = list(record.headers)
        if self.include_context_headers:
            headers.extend(context_headers(record, error, self.connector, task_id))
        kwargs: dict[str, Any] = {"headers": headers, "on_delivery": self._on_delivery}
        if record.timestamp is not None and record.timestamp >= 0:
            kwargs["timestamp"] = record.timestamp
        while True:
            try:
                producer.produce(self.topic, record.value, record.key, **kwargs)
                break
            except BufferError:  # local queue full: serve delivery reports, then try again
                producer.poll(_PRODUCE_RETRY_POLL_S)
        self._sent += 1

    def flush(self, timeout_s: float) -> None:
        """Wait until Kafka acknowledged every record sent by this batch; raise otherwise."""
        if self._producer is None or self._sent == 0:
            return
        remaining = self._producer.flush(max(timeout_s, 0.0))
        if remaining or self._failures or self._acked < self._sent:
            detail = "; ".join(self._failures[:3]) or f"{self._sent - self._acked} not acknowledged in {timeout_s:.1f}s"
            raise DeadLetterQueueError(
                f"Failed to write {self._sent - self._acked} of {self._sent} record(s) to the dead letter queue "
                f"topic '{self.topic}': {detail}"
            )


def consume_error(cause: BaseException) -> StageError:
    """A record the event could not even decode, as Kafka's ``KAFKA_CONSUME`` stage failure."""
    return StageError(Stage.KAFKA_CONSUME, "org.apache.kafka.clients.consumer.KafkaConsumer", cause)
