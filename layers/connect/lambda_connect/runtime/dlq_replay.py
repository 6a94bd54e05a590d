"""List a sink connector's dead letter queue and replay it to the records' original topics.

Replay is what a team does after fixing the cause of the failures: each dead-lettered record
goes back to the topic it was consumed from (or ``to_topic``) with its original key, value,
timestamp and headers, minus the ``__connect.errors.*`` context, plus a ``lambda-connect.replay``
header naming the DLQ message it came from, so the connector consumes it again.

Each DLQ message is replayed at most once. Progress lives in the consumer group
``connect-<name>-dlq-replay`` on the DLQ topic (visible to every Kafka tool) and is committed
only after the producer confirmed every record of a chunk. A filtered replay leaves the records
it skips pending: the group position stops at the first one, and the records replayed beyond
it are remembered in the state table's task storage, so neither a later replay nor the same
one repeated sends them twice. The one window left is a crash between the producer's
confirmation and the commit; the replay header lets a consumer spot such a copy.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from lambda_connect.api.errors import ConfigException, ConnectException

from .dlq_reader import DlqEntry, DlqMessage, Predicate, entry_of

__all__ = [
    "REPLAY_HEADER",
    "DlqTopicAccess",
    "ReplayRecord",
    "ReplayResult",
    "dlq_topic_of",
    "list_entries",
    "replay",
    "replay_group",
]

log = logging.getLogger(__name__)

REPLAY_HEADER = "lambda-connect.replay"
DLQ_TOPIC_KEY = "errors.deadletterqueue.topic.name"
#: Records confirmed per chunk before progress is committed (bounds what a crash can repeat).
CHUNK = 500
_STORAGE_PREFIX = "dlq-replay:"


class DlqTopicAccess(Protocol):
    """The Kafka operations listing and replay need, provided by the adapter layer."""

    def watermarks(self, topic: str) -> dict[int, tuple[int, int]]:
        """partition → (low, high) of ``topic``; empty when the topic does not exist."""
        ...

    def read(self, topic: str, ranges: Mapping[int, tuple[int, int]]) -> Iterator[DlqMessage]:
        """The messages of each partition from ``start`` up to (not including) ``end``."""
        ...

    def committed(self, group: str, topic: str, partitions: Sequence[int]) -> dict[int, int]:
        """The group's committed positions (partitions without one are left out)."""
        ...

    def commit(self, group: str, topic: str, positions: Mapping[int, int]) -> None:
        """Commit positions synchronously; raises when the broker refused."""
        ...

    def produce(self, records: Sequence[ReplayRecord]) -> None:
        """Send and wait for every acknowledgement; raises unless every record was confirmed."""
        ...


class TaskStorageLike(Protocol):
    def get(self, key: str) -> dict[str, Any] | None: ...
    def put(self, key: str, value: Mapping[str, Any]) -> None: ...
    def delete(self, keys: list[str]) -> None: ...


@dataclass(frozen=True)
class ReplayRecord:
    topic: str
    partition: int | None
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]]
    timestamp: int | None


@dataclass
class ReplayResult:
    connector: str
    dlq_topic: str
    group: str
    dry_run: bool
    replayed: int = 0
    already_replayed: int = 0
    skipped: int = 0
    entries: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "connector": self.connector, "dlq_topic": self.dlq_topic, "group": self.group, "dry_run": self.dry_run,
            "replayed": self.replayed, "already_replayed": self.already_replayed, "skipped": self.skipped,
        }
        if self.dry_run:
            out["entries"] = self.entries
        return out


def replay_group(connector: str) -> str:
    return f"connect-{connector}-dlq-replay"


def dlq_topic_of(name: str, config: Mapping[str, str]) -> str:
    """The connector's DLQ topic, or a ConfigException saying it has none."""
    topic = str(config.get(DLQ_TOPIC_KEY) or "").strip()
    if not topic:
        raise ConfigException.for_key(DLQ_TOPIC_KEY, "", f"connector {name} has no dead letter queue topic")
    return topic


def list_entries(
    access: DlqTopicAccess, topic: str, *, limit: int | None = None, matches: Predicate | None = None,
    marks: Mapping[int, tuple[int, int]] | None = None,
) -> list[DlqEntry]:
    """The DLQ's entries, oldest first (newest last); the last ``limit`` of those that match.
    ``marks`` (the topic's watermarks, read once by a caller that also reports them) keeps a
    listing and its total consistent while records keep arriving."""
    ranges = dict(access.watermarks(topic) if marks is None else marks)
    if limit is not None and matches is None:  # no filter: only the tail of each partition is needed
        ranges = {p: (max(lo, hi - limit), hi) for p, (lo, hi) in ranges.items()}
    entries = [entry_of(m) for m in access.read(topic, ranges)]
    if matches is not None:
        entries = [e for e in entries if matches(e)]
    entries.sort(key=lambda e: (e.message.timestamp or 0, e.message.partition, e.message.offset))
    return entries[-limit:] if limit else entries


def _storage_key(topic: str, partition: int) -> str:
    return f"{_STORAGE_PREFIX}{topic}:{partition}"


class _Progress:
    """Per DLQ partition: the committed position and the offsets replayed beyond it."""

    def __init__(self, storage: TaskStorageLike | None, topic: str, positions: Mapping[int, int]) -> None:
        self.storage = storage
        self.topic = topic
        self.position = dict(positions)
        self.saved = dict(positions)
        self.beyond: dict[int, set[int]] = {}
        for partition, position in positions.items():
            stored = storage.get(_storage_key(topic, partition)) if storage is not None else None
            self.beyond[partition] = {o for o in (stored or {}).get("offsets", []) if o >= position}

    def done(self, partition: int, offset: int) -> bool:
        return offset < self.position[partition] or offset in self.beyond[partition]

    def mark(self, partition: int, offset: int, contiguous: bool) -> None:
        """Record one handled offset; the position moves only while nothing before it is pending."""
        beyond = self.beyond[partition]
        if contiguous and offset == self.position[partition]:
            beyond.discard(offset)
            self.position[partition] = offset + 1
            while self.position[partition] in beyond:
                beyond.discard(self.position[partition])
                self.position[partition] += 1
        else:
            beyond.add(offset)

    def unsaved(self) -> list[int]:
        return [p for p, o in self.position.items() if self.saved.get(p) != o]

    def save(self, access: DlqTopicAccess, group: str, partitions: Sequence[int]) -> None:
        """Remember the sparse offsets first, then commit positions (a crash between the two only
        leaves offsets that the position already covers, which are ignored when read)."""
        if self.storage is not None:
            for partition in partitions:
                offsets = sorted(self.beyond[partition])
                if offsets:
                    self.storage.put(_storage_key(self.topic, partition), {"offsets": offsets})
                else:
                    self.storage.delete([_storage_key(self.topic, partition)])
        access.commit(group, self.topic, {p: self.position[p] for p in partitions})
        self.saved.update({p: self.position[p] for p in partitions})


def _record_of(entry: DlqEntry, dlq_topic: str, to_topic: str | None) -> ReplayRecord:
    target = to_topic or entry.topic
    if not target:
        raise ConnectException(
            f"DLQ message {dlq_topic}/{entry.message.partition}/{entry.message.offset} has no "
            "__connect.errors.topic header (errors.deadletterqueue.context.headers.enable was off): "
            "replay it with an explicit target topic"
        )
    marker = f"{dlq_topic}/{entry.message.partition}/{entry.message.offset}".encode()
    same_place = to_topic is None or to_topic == entry.topic
    return ReplayRecord(
        topic=target,
        partition=entry.partition if same_place and entry.partition is not None else None,
        key=entry.message.key,
        value=entry.message.value,
        headers=[*entry.original_headers, (REPLAY_HEADER, marker)],
        timestamp=entry.message.timestamp,
    )


def replay(
    access: DlqTopicAccess,
    connector: str,
    dlq_topic: str,
    *,
    storage: TaskStorageLike | None,
    matches: Predicate | None = None,
    to_topic: str | None = None,
    dry_run: bool = False,
    chunk: int = CHUNK,
    on_chunk: Callable[[int], None] | None = None,
) -> ReplayResult:
    """Replay what is pending in ``dlq_topic`` as of now (messages arriving meanwhile wait for the next run)."""
    group = replay_group(connector)
    result = ReplayResult(connector, dlq_topic, group, dry_run)
    marks = access.watermarks(dlq_topic)
    if not marks:
        return result
    partitions = sorted(marks)
    committed = access.committed(group, dlq_topic, partitions)
    starts = {p: max(committed.get(p, marks[p][0]), marks[p][0]) for p in partitions}
    progress = _Progress(storage, dlq_topic, starts)
    pending_before: dict[int, bool] = dict.fromkeys(partitions, False)
    batch: list[ReplayRecord] = []
    batch_marks: list[tuple[int, int]] = []

    def flush() -> None:
        if not batch:
            return
        access.produce(batch)
        touched = sorted({p for p, _ in batch_marks})
        for partition, offset in batch_marks:
            progress.mark(partition, offset, contiguous=not pending_before[partition])
        progress.save(access, group, touched)
        result.replayed += len(batch)
        if on_chunk is not None:
            on_chunk(result.replayed)
        batch.clear()
        batch_marks.clear()

    ranges = {p: (starts[p], marks[p][1]) for p in partitions if starts[p] < marks[p][1]}
    for message in access.read(dlq_topic, ranges):
        partition, offset = message.partition, message.offset
        if progress.done(partition, offset):
            result.already_replayed += 1
            if not dry_run and not pending_before[partition]:
                progress.mark(partition, offset, contiguous=True)
            continue
        entry = entry_of(message)
        if matches is not None and not matches(entry):
            result.skipped += 1
            if not dry_run and not pending_before[partition]:
                flush()  # everything before the first skipped record is committed as one position
            pending_before[partition] = True
            continue
        record = _record_of(entry, dlq_topic, to_topic)
        if dry_run:
            result.replayed += 1
            result.entries.append(entry.as_json())
            continue
        batch.append(record)
        batch_marks.append((partition, offset))
        if len(batch) >= chunk:
            flush()
    if not dry_run:
        flush()
        moved = progress.unsaved()
        if moved:  # positions that passed records replayed by an earlier run
            progress.save(access, group, moved)
    log.info("DLQ replay of %s from %s: %d replayed, %d already replayed, %d skipped by the filter%s",
             connector, dlq_topic, result.replayed, result.already_replayed, result.skipped,
             " (dry run)" if dry_run else "")
    return result
