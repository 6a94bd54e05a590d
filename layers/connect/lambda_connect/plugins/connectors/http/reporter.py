"""Confluent's response reporter: one Kafka record per delivered or failed sink record.

Off unless ``reporter.bootstrap.servers`` is set. The producer is built on first use and kept
for the container's life. Every wait on it is bounded by the invocation's remaining time
(``time_left``, the runtime's ``SinkTaskContext.time_left_s``), the way the source worker bounds
its produce loop and the sink worker its DLQ flush: a Lambda killed in the middle of a wait
would fail the batch with no word of why. When the local queue stays full until then, or
``flush`` ends with reports Kafka did not acknowledge (or refused), the batch fails with a
``RetriableException`` that says so: its offsets are not committed and Kafka delivers it again
(the HTTP requests are sent again: at least once, like everything else in the sink).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from lambda_connect.api.errors import RetriableException
from lambda_connect.api.records import SinkRecord

from .config import HttpSettings

__all__ = ["ReporterError", "ResponseReporter"]

log = logging.getLogger(__name__)

_FLUSH_CAP_S = 30.0  # longest flush even when the invocation has more time
_FULL_QUEUE_POLL_S = 0.05


class ReporterError(RetriableException):
    """Kafka did not take the response reports of this batch in time: the batch is not committed."""


class ResponseReporter:
    def __init__(self, settings: HttpSettings, time_left: Callable[[], float] = lambda: float("inf")) -> None:
        self.s = settings
        self.time_left = time_left
        self._producer: Any = None
        self.failed = 0  # reports Kafka refused since the container started (for tests and logs)
        self._sent = 0  # since the last flush
        self._refused: list[str] = []  # since the last flush

    def _out(self) -> Any:
        if self._producer is None:
            from confluent_kafka import Producer

            config: dict[str, Any] = {"bootstrap.servers": self.s.reporter_servers, "linger.ms": 5}
            config.update(dict(self.s.reporter_overrides))
            self._producer = Producer(config)
        return self._producer

    def _report(self, topic: str, record: SinkRecord, value: bytes | None, extra: list[tuple[str, bytes]]) -> None:
        headers = [("input_record_topic", record.original_topic.encode()),
                   ("input_record_partition", str(record.original_kafka_partition).encode()),
                   ("input_record_offset", str(record.original_kafka_offset).encode()),
                   ("input_record_timestamp", str(record.timestamp or "").encode()), *extra]
        producer = self._out()
        while True:
            try:
                producer.produce(topic, value, on_delivery=self._delivered, headers=headers)
                self._sent += 1
                return
            except BufferError:  # local queue full: serve delivery reports, then try again while time is left
                left = self.time_left()
                if left <= 0:
                    raise ReporterError(
                        f"HTTP sink: the response reporter's producer queue stayed full until the invocation's "
                        f"deadline ({len(producer)} report(s) queued for {self.s.reporter_servers}); the report of "
                        f"record {record.original_topic}-{record.original_kafka_partition}@"
                        f"{record.original_kafka_offset} was not written, the batch is not committed and will be "
                        "delivered again") from None
                producer.poll(min(_FULL_QUEUE_POLL_S, left))

    def success(self, record: SinkRecord, status: int, body: bytes) -> None:
        self._report(self.s.reporter_result_topic, record, body, [("status_code", str(status).encode())])

    def error(self, record: SinkRecord, status: int | None, body: bytes | None, message: str) -> None:
        """``body`` and ``message`` are shown as given: the caller masks secrets first."""
        value = body if self.s.report_errors_as_response else message.encode()
        extra = [("error_message", message.encode())]
        if status is not None:
            extra.append(("status_code", str(status).encode()))
        self._report(self.s.reporter_error_topic, record, value, extra)

    def _delivered(self, err: Any, msg: Any) -> None:
        if err is not None:
            self.failed += 1
            self._refused.append(f"{msg.topic()}: {err}")

    def flush(self, cap_s: float = _FLUSH_CAP_S) -> None:
        """Wait for every report since the last flush; raise ``ReporterError`` if any is missing."""
        if self._producer is None:
            return
        sent, self._sent = self._sent, 0
        timeout = max(min(cap_s, self.time_left()), 0.0)
        left = self._producer.flush(timeout)
        refused, self._refused = self._refused, []
        if left or refused:
            detail = "; ".join(refused[:3]) or f"{left} still queued after {timeout:.1f}s"
            missing = max(left + len(refused), 1)
            raise ReporterError(f"HTTP sink: {missing} of {sent} response report(s) were not acknowledged by Kafka "
                                f"({self.s.reporter_servers}): {detail}; the batch is not committed and will be "
                                "delivered again")

    def close(self, timeout_s: float = 5.0) -> None:
        """At ``stop``: a last bounded flush; what is left is only logged, no batch is waiting on it."""
        if self._producer is not None:
            left = self._producer.flush(timeout_s)
            if left:
                log.warning("HTTP sink: %d response report(s) not acknowledged by Kafka at stop", left)
