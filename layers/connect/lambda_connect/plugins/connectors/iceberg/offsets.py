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

Offsets count within one incarnation of a topic: a topic deleted and created again (or a new
embedded broker) starts at 0, and marks of the old one would make every new record look
like a copy. So the same snapshot names the incarnation each topic's marks count in
(``SinkTaskContext.topic_identity``, see ``..positions``)::

    lambda-connect.topic-identities.<connector> = {"orders": "<cluster id>/<topic id>"}

Marks and ends whose identities are both known and differ never meet: they neither filter
each other's records nor merge (:func:`agree`, :func:`applicable`, :func:`advance`). A mark
without an identity (an older version wrote it, or the identity could not be known) is
used as it is and claimed by the next commit that knows the identity.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyiceberg.table import TableMetadata
    from pyiceberg.table.snapshots import Snapshot

__all__ = ["COMMIT_ID_KEY", "IDENTITIES_PREFIX", "Identities", "Marks", "OFFSETS_PREFIX", "advance", "agree",
           "applicable", "decode", "encode", "identities_key", "merge", "read_identities", "read_marks",
           "summary_key"]

OFFSETS_PREFIX = "kafka.connect.offsets"
COMMIT_ID_KEY = "kafka.connect.commit-id"
IDENTITIES_PREFIX = "lambda-connect.topic-identities"

#: (topic, partition) -> next offset to consume
Marks = dict[tuple[str, int], int]
#: topic -> the identity of the incarnation its marks count in
Identities = dict[str, str]


def summary_key(connector: str) -> str:
    return f"{OFFSETS_PREFIX}.{connector}"


def identities_key(connector: str) -> str:
    return f"{IDENTITIES_PREFIX}.{connector}"


def read_identities(snapshot: Snapshot | None, connector: str) -> Identities:
    """The topic identities stored next to the marks of ``snapshot`` (empty: none known)."""
    text = (snapshot.summary or {}).get(identities_key(connector)) if snapshot is not None else None
    if not text:
        return {}
    try:
        raw = json.loads(text)
    except ValueError:  # written by hand or damaged: the marks then count as identity-less
        return {}
    return {str(t): str(i) for t, i in raw.items() if isinstance(i, str)} if isinstance(raw, dict) else {}


def encode_identities(identities: Mapping[str, str]) -> str:
    return json.dumps(dict(sorted(identities.items())), separators=(",", ":"))


def agree(stored: str | None, current: str | None) -> bool:
    """Whether a position under ``stored`` counts in the incarnation ``current`` (unknown agrees)."""
    return stored is None or current is None or stored == current


def applicable(marks: Mapping[tuple[str, int], int], stored: Mapping[str, str],
               current: Mapping[str, str]) -> Marks:
    """The marks that may filter records of the ``current`` incarnations."""
    return {tp: m for tp, m in marks.items() if agree(stored.get(tp[0]), current.get(tp[0]))}


def advance(marks: Mapping[tuple[str, int], int], stored: Mapping[str, str],
            ends: Mapping[tuple[str, int], int], current: Mapping[str, str]) -> tuple[Marks, Identities]:
    """Marks and identities after committing records up to ``ends`` of the ``current``
    incarnations: ends of another incarnation than the table's do not move its marks (their
    records are still committed: nothing is lost), and identity-less marks are claimed."""
    out, ids = dict(marks), dict(stored)
    for tp, end in ends.items():
        if agree(ids.get(tp[0]), current.get(tp[0])) and end > out.get(tp, -1):
            out[tp] = end
    for topic, identity in current.items():
        if topic not in ids and any(tp[0] == topic for tp in ends):
            ids[topic] = identity
    return out, ids


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
