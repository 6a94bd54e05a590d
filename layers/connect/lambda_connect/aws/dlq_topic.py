"""Kafka access for DLQ listing and replay (``runtime.dlq_replay.DlqTopicAccess``).

Reads assign partitions explicitly (no group membership, so listing never disturbs anything
and needs no rebalance); the replay group's positions are read and committed on the same
consumer. Every record is produced by the project's producer factory (``make_producer``:
idempotent, ``acks=all``, murmur2 key hashing like Java clients).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from lambda_connect.api.errors import ConnectException
from lambda_connect.runtime.dlq_reader import DlqMessage
from lambda_connect.runtime.dlq_replay import ReplayRecord

from .kafka_clients import KafkaSettings, kafka_settings_from_env, make_consumer, make_producer

__all__ = ["KafkaDlqTopicAccess"]

_READER_GROUP = "lambda-connect-dlq-reader"
_POLL_S = 0.5
_PARTITION_EOF = -191  # confluent_kafka.KafkaError._PARTITION_EOF
#: How long a read waits for the broker to hand over the messages it said exist.
_READ_DEADLINE_S = 30.0


class KafkaDlqTopicAccess:
    """One cluster's DLQ operations; clients are built per call (listing and replay are rare)."""

    def __init__(self, settings: KafkaSettings | None = None, *, timeout: float = 15.0) -> None:
        self._settings = settings
        self.timeout = timeout
        self._lock = threading.Lock()
        self._producer: Any = None

    @property
    def settings(self) -> KafkaSettings:
        if self._settings is None:
            self._settings = kafka_settings_from_env()
        return self._settings

    def _consumer(self, group: str = _READER_GROUP) -> Any:
        return make_consumer(self.settings, group, {"enable.partition.eof": True})

    def watermarks(self, topic: str) -> dict[int, tuple[int, int]]:
        """Low and high offsets per partition. The high one is taken from a fetch at the end of
        the partition, not from a ListOffsets answer alone: some Kafka-compatible brokers (tansu)
        answer ListOffsets with the last batch's base offset + 1, which hides all but the first
        record of a multi-record batch."""
        from confluent_kafka import TopicPartition

        consumer = self._consumer()
        try:
            metadata = consumer.list_topics(topic, timeout=self.timeout).topics.get(topic)
            if metadata is None or metadata.error is not None or not metadata.partitions:
                return {}
            marks = {p: tuple(consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=self.timeout))
                     for p in sorted(metadata.partitions)}
            consumer.assign([TopicPartition(topic, p, max(lo, hi - 1)) for p, (lo, hi) in marks.items()])
            waiting = set(marks)
            deadline = time.monotonic() + self.timeout
            while waiting and time.monotonic() < deadline:
                for msg in consumer.consume(500, _POLL_S):
                    if msg.error() is not None and msg.error().code() == _PARTITION_EOF:
                        waiting.discard(msg.partition())
            out: dict[int, tuple[int, int]] = {}
            for p, (lo, hi) in marks.items():
                _, fetched = consumer.get_watermark_offsets(TopicPartition(topic, p), cached=True)
                out[p] = (lo, max(hi, fetched))
            return out
        finally:
            consumer.close()

    def read(self, topic: str, ranges: Mapping[int, tuple[int, int]]) -> Iterator[DlqMessage]:
        from confluent_kafka import TopicPartition

        wanted = {p: (lo, hi) for p, (lo, hi) in ranges.items() if lo < hi}
        if not wanted:
            return
        consumer = self._consumer()
        try:
            consumer.assign([TopicPartition(topic, p, lo) for p, (lo, _) in wanted.items()])
            remaining = dict(wanted)
            deadline = time.monotonic() + _READ_DEADLINE_S
            while remaining:
                if time.monotonic() > deadline:
                    raise ConnectException(f"Reading DLQ topic {topic} stalled: partitions {sorted(remaining)} "
                                           f"did not deliver up to their end offsets within {_READ_DEADLINE_S:.0f}s")
                for msg in consumer.consume(500, _POLL_S):
                    partition = msg.partition()
                    if msg.error() is not None:
                        if msg.error().code() == _PARTITION_EOF:  # the end came before the expected one
                            remaining.pop(partition, None)
                        continue
                    offset = msg.offset()
                    end = remaining.get(partition, (0, 0))[1]
                    if partition not in remaining or offset >= end:
                        continue
                    kind, ts = msg.timestamp()
                    yield DlqMessage(partition, offset, msg.key(), msg.value(), list(msg.headers() or []),
                                     ts if kind != 0 else None)
                    deadline = time.monotonic() + _READ_DEADLINE_S
                    if offset + 1 >= end:
                        remaining.pop(partition, None)
        finally:
            consumer.close()

    def committed(self, group: str, topic: str, partitions: Sequence[int]) -> dict[int, int]:
        from confluent_kafka import TopicPartition

        consumer = self._consumer(group)
        try:
            found = consumer.committed([TopicPartition(topic, p) for p in partitions], timeout=self.timeout)
        finally:
            consumer.close()
        return {tp.partition: tp.offset for tp in found if tp.error is None and tp.offset >= 0}

    def commit(self, group: str, topic: str, positions: Mapping[int, int]) -> None:
        from confluent_kafka import KafkaException, TopicPartition

        if not positions:
            return
        consumer = self._consumer(group)
        try:
            result = consumer.commit(offsets=[TopicPartition(topic, p, o) for p, o in positions.items()],
                                     asynchronous=False)
        except KafkaException as e:
            raise ConnectException(f"Committing DLQ replay progress of group {group} failed: {e}") from e
        finally:
            consumer.close()
        failed = [tp for tp in result or [] if tp.error is not None]
        if failed:
            raise ConnectException(f"Committing DLQ replay progress of group {group} failed: {failed[0].error}")

    def _the_producer(self) -> Any:
        with self._lock:
            if self._producer is None:
                self._producer = make_producer(self.settings)
            return self._producer

    def produce(self, records: Sequence[ReplayRecord]) -> None:
        producer = self._the_producer()
        errors: list[str] = []
        confirmed = [0]

        def on_delivery(err: Any, _msg: Any) -> None:
            if err is None:
                confirmed[0] += 1
            else:
                errors.append(str(err))

        for record in records:
            kwargs: dict[str, Any] = {"headers": record.headers, "on_delivery": on_delivery}
            if record.partition is not None:
                kwargs["partition"] = record.partition
            if record.timestamp is not None and record.timestamp >= 0:
                kwargs["timestamp"] = record.timestamp
            while True:
                try:
                    producer.produce(record.topic, record.value, record.key, **kwargs)
                    break
                except BufferError:
                    producer.poll(0.05)
        left = producer.flush(self.timeout * 2)
        if left or errors or confirmed[0] < len(records):
            detail = "; ".join(errors[:3]) or f"{len(records) - confirmed[0]} not acknowledged"
            raise ConnectException(f"Replaying {len(records)} record(s) failed, nothing was committed: {detail}")
