"""An in-memory DLQ cluster for the DLQ reader/replayer tests: topics as lists of messages, group
positions as a dict, produced records kept per topic, and a switch that makes the producer fail."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

from lambda_connect.runtime.dlq import HEADER_PREFIX
from lambda_connect.runtime.dlq_reader import DlqMessage
from lambda_connect.runtime.dlq_replay import ReplayRecord


def context(topic: str, partition: int, offset: int, stage: str = "TASK_PUT",
            error: str = "org.postgresql.util.PSQLException", message: str | None = "rejected by trigger",
            ) -> list[tuple[str, bytes | None]]:
    def b(v: object) -> bytes:
        return str(v).encode()

    return [(HEADER_PREFIX + "topic", b(topic)), (HEADER_PREFIX + "partition", b(partition)),
            (HEADER_PREFIX + "offset", b(offset)), (HEADER_PREFIX + "connector.name", b"sink"),
            (HEADER_PREFIX + "task.id", b"0"), (HEADER_PREFIX + "stage", b(stage)),
            (HEADER_PREFIX + "class.name", b"JdbcSinkTask"), (HEADER_PREFIX + "exception.class.name", b(error)),
            (HEADER_PREFIX + "exception.message", b(message) if message is not None else None),
            (HEADER_PREFIX + "exception.stacktrace", b"Traceback ...")]


class FakeCluster:
    def __init__(self) -> None:
        self.topics: dict[str, dict[int, list[DlqMessage]]] = {}
        self.groups: dict[tuple[str, str], dict[int, int]] = {}
        self.produced: list[ReplayRecord] = []
        self.fail_produce = False
        self.commits = 0

    def add(self, topic: str, partition: int, key: bytes | None, value: bytes | None,
            headers: Sequence[tuple[str, bytes | None]] = (), timestamp: int | None = None) -> DlqMessage:
        log = self.topics.setdefault(topic, {}).setdefault(partition, [])
        message = DlqMessage(partition, len(log), key, value, list(headers), timestamp)
        log.append(message)
        return message

    def watermarks(self, topic: str) -> dict[int, tuple[int, int]]:
        return {p: (0, len(log)) for p, log in self.topics.get(topic, {}).items()}

    def read(self, topic: str, ranges: Mapping[int, tuple[int, int]]) -> Iterator[DlqMessage]:
        for partition, (start, end) in sorted(ranges.items()):
            yield from self.topics[topic][partition][start:end]

    def committed(self, group: str, topic: str, partitions: Sequence[int]) -> dict[int, int]:
        found = self.groups.get((group, topic), {})
        return {p: found[p] for p in partitions if p in found}

    def commit(self, group: str, topic: str, positions: Mapping[int, int]) -> None:
        self.commits += 1
        self.groups.setdefault((group, topic), {}).update(positions)

    def produce(self, records: Sequence[ReplayRecord]) -> None:
        if self.fail_produce:
            raise RuntimeError("broker said no")
        self.produced.extend(records)


class DictStorage:
    def __init__(self) -> None:
        self.data: dict[str, dict] = {}

    def get(self, key: str) -> dict | None:
        return self.data.get(key)

    def put(self, key: str, value: Mapping) -> None:
        self.data[key] = dict(value)

    def delete(self, keys: list[str]) -> None:
        for k in keys:
            self.data.pop(k, None)
