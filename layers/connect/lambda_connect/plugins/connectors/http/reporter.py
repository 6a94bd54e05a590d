"""Confluent's response reporter: one Kafka record per delivered or failed sink record.

Off unless ``reporter.bootstrap.servers`` is set. The producer is built on first use and kept
for the container's life; ``flush`` waits for its acknowledgements before the batch's offsets
are committed, so a report is not lost silently either (a report Kafka did not take is logged:
it describes a record, it is not the record).
"""

from __future__ import annotations

import logging
from typing import Any

from lambda_connect.api.records import SinkRecord

from .config import HttpSettings

__all__ = ["ResponseReporter"]

log = logging.getLogger(__name__)


class ResponseReporter:
    def __init__(self, settings: HttpSettings) -> None:
        self.s = settings
        self._producer: Any = None
        self.failed = 0

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
                return
            except BufferError:
                producer.poll(0.05)

    def success(self, record: SinkRecord, status: int, body: bytes) -> None:
        self._report(self.s.reporter_result_topic, record, body, [("status_code", str(status).encode())])

    def error(self, record: SinkRecord, status: int | None, body: bytes | None, message: str) -> None:
        value = body if self.s.report_errors_as_response else message.encode()
        extra = [("error_message", message.encode())]
        if status is not None:
            extra.append(("status_code", str(status).encode()))
        self._report(self.s.reporter_error_topic, record, value, extra)

    def _delivered(self, err: Any, msg: Any) -> None:
        if err is not None:
            self.failed += 1
            log.warning("HTTP sink: a response report to %s was not written: %s", msg.topic(), err)

    def flush(self, timeout_s: float = 30.0) -> None:
        if self._producer is not None:
            left = self._producer.flush(timeout_s)
            if left:
                log.warning("HTTP sink: %d response report(s) not acknowledged by Kafka", left)
