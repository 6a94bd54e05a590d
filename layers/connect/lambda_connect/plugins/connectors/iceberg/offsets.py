"""Kafka offsets kept in the Iceberg table itself: the exactly-once half of the sink.

Every snapshot this connector commits carries, in its summary, the next offset to consume of
every topic-partition that ever reached the table through it::

    kafka.connect.offsets.<connector> = {"orders": {"0": 1200, "3": 877}}
    kafka.connect.commit-id           = <uuid of the commit>

The marks are read back from the newest snapshot in the current branch's history that has the
key (other writers — compaction, other connectors — commit snapshots without it, so the walk
goes past them). Records below their partition's mark are already in the table and are
skipped, so a redelivered or overlapping batch never writes a second copy, and that holds
even when the state table is gone: the table's own history is the proof.

A commit always writes the *merged* marks (the parent's plus its own), computed from the
table as it is when the commit is attempted. Iceberg's optimistic concurrency makes two
commits from the same parent conflict; the loser re-reads the marks from the new parent and
tries again, so concurrent invocations on different partitions never erase each other's
marks, and two invocations racing on one partition never both add the same records.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyiceberg.table import TableMetadata
    from pyiceberg.table.snapshots import Snapshot

__all__ = ["COMMIT_ID_KEY", "Marks", "OFFSETS_PREFIX", "decode", "encode", "merge", "read_marks", "summary_key"]

OFFSETS_PREFIX = "kafka.connect.offsets"
COMMIT_ID_KEY = "kafka.connect.commit-id"

#: (topic, partition) -> next offset to consume
Marks = dict[tuple[str, int], int]


def summary_key(connector: str) -> str:
    return f"{OFFSETS_PREFIX}.{connector}"


def encode(marks: Mapping[tuple[str, int], int]) -> str:
    nested: dict[str, dict[str, int]] = {}
    for (topic, partition), offset in sorted(marks.items()):
        nested.setdefault(topic, {})[str(partition)] = int(offset)
    return json.dumps(nested, separators=(",", ":"), sort_keys=True)


def decode(text: str) -> Marks:
    out: Marks = {}
    for topic, partitions in json.loads(text).items():
        for partition, offset in partitions.items():
            out[(topic, int(partition))] = int(offset)
    return out


def merge(*many: Mapping[tuple[str, int], int]) -> Marks:
    out: Marks = {}
    for marks in many:
        for tp, offset in marks.items():
            if offset > out.get(tp, -1):
                out[tp] = offset
    return out


def read_marks(metadata: TableMetadata, connector: str) -> tuple[Marks, Snapshot | None]:
    """The connector's marks and the snapshot that carries them (None: never committed here)."""
    key = summary_key(connector)
    for snapshot in _ancestry(metadata):
        summary = snapshot.summary
        text = summary.get(key) if summary is not None else None
        if text:
            return decode(text), snapshot
    return {}, None


def _ancestry(metadata: TableMetadata) -> Iterable[Snapshot]:
    snapshot = metadata.current_snapshot()
    while snapshot is not None:
        yield snapshot
        parent = snapshot.parent_snapshot_id
        snapshot = metadata.snapshot_by_id(parent) if parent is not None else None
