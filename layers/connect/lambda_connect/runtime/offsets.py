"""Source offsets: what a task reads at start, and what the runtime may commit at the end.

Two halves of Kafka Connect's offset handling for source tasks:

* :class:`StoreOffsetReader` is the ``OffsetStorageReader`` a task gets in its context. It reads
  the offsets committed in the state table once, when the invocation starts (Kafka's reader
  also returns committed offsets only, never the in-flight ones of the running task).
* :class:`SubmittedOffsets` is Kafka's ``SubmittedRecords``: every record handed to the producer
  is registered in order, per source partition; a record is *acknowledged* when Kafka
  confirmed it, when a transform dropped it, or when a tolerated error skipped it. The
  committable offset of a partition is the offset of the last record such that it and every
  record submitted before it in that partition are acknowledged — so a commit never passes a
  record whose fate is unknown, even when Kafka confirms records out of order (several Kafka
  partitions, retries).

Neither half knows the state store's type: the runtime layer must not import ``state``; the
reader only needs ``get_offsets(name)``.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Hashable, Mapping, Sequence
from typing import Any, Protocol

from lambda_connect.api.connector import OffsetStorageReader

__all__ = ["OffsetSource", "StoreOffsetReader", "Submitted", "SubmittedOffsets", "partition_id"]


def partition_id(partition: Mapping[str, Any] | None) -> str:
    """Canonical JSON of a source partition (sorted keys, no spaces): the frozen key under
    which equal partitions meet, whatever their key order — the state table uses the same."""
    if partition is None:
        return "null"
    return json.dumps(partition, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _tracking_key(partition: Mapping[str, Any] | None) -> Hashable:
    """A cheap in-memory key for a partition (per record on the hot path): its items as a
    frozenset, or the canonical JSON when a value is unhashable (nested maps or lists)."""
    if partition is None:
        return None
    try:
        return frozenset(partition.items())
    except TypeError:
        return partition_id(partition)


class OffsetSource(Protocol):
    """The one state-store method the reader needs."""

    def get_offsets(self, name: str) -> list[tuple[dict, dict]]: ...


class StoreOffsetReader(OffsetStorageReader):
    """Committed offsets of one connector, read once per invocation.

    ``offsets()`` keys its answer by :func:`partition_id` (a string, so it is hashable and
    equal for equal maps). Loading everything at once costs one query, and a source task
    asks for its partitions right after ``start``, so per-partition reads would cost more.
    """

    def __init__(self, store: OffsetSource, connector: str) -> None:
        self._committed: dict[str, dict[str, Any]] = {
            partition_id(partition): dict(offset) for partition, offset in store.get_offsets(connector)
        }

    def offsets(self, partitions: Sequence[Mapping[str, Any]]) -> dict[Any, dict[str, Any] | None]:
        out: dict[Any, dict[str, Any] | None] = {}
        for partition in partitions:
            key = partition_id(partition)
            found = self._committed.get(key)
            out[key] = dict(found) if found is not None else None
        return out

    def offset(self, partition: Mapping[str, Any]) -> dict[str, Any] | None:
        found = self._committed.get(partition_id(partition))
        return dict(found) if found is not None else None

    def known(self) -> dict[str, dict[str, Any]]:
        """Every committed offset by partition id (used to tell whether a commit changes anything)."""
        return {k: dict(v) for k, v in self._committed.items()}


class Submitted:
    """One record in flight: its source partition/offset and whether its fate is settled."""

    __slots__ = ("acked", "offset", "partition")

    def __init__(self, partition: dict[str, Any] | None, offset: dict[str, Any] | None) -> None:
        self.partition = partition
        self.offset = offset
        self.acked = False

    def ack(self) -> None:
        """Kafka confirmed the record, or it was filtered/skipped: it no longer holds offsets back."""
        self.acked = True


class SubmittedOffsets:
    """Records submitted but not yet committed, per source partition, in submission order.

    Records without a source partition (Kafka allows them) carry no offset and are tracked
    only so ``pending()`` counts them.
    """

    def __init__(self) -> None:
        self._by_partition: dict[Hashable, deque[Submitted]] = {}
        self._partitions: dict[Hashable, dict[str, Any]] = {}

    def submit(self, partition: Mapping[str, Any] | None, offset: Mapping[str, Any] | None) -> Submitted:
        """Register a record about to be produced (or already settled); returns its handle."""
        part = dict(partition) if partition is not None else None
        entry = Submitted(part, dict(offset) if offset is not None else None)
        key = _tracking_key(part)
        queue = self._by_partition.get(key)
        if queue is None:
            queue = self._by_partition[key] = deque()
            if part is not None:
                self._partitions[key] = part
        queue.append(entry)
        return entry

    def committable(self) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """``(partition, offset)`` for every partition whose acknowledged prefix advanced since
        the last call; the acknowledged records are forgotten."""
        out: list[tuple[dict[str, Any], dict[str, Any]]] = []
        for key, queue in self._by_partition.items():
            last: dict[str, Any] | None = None
            while queue and queue[0].acked:
                entry = queue.popleft()
                if entry.offset is not None:
                    last = entry.offset
            if last is not None and key in self._partitions:
                out.append((self._partitions[key], last))
        return out

    def pending(self) -> int:
        """Records whose fate is not settled yet (delivery outstanding or failed)."""
        return sum(1 for queue in self._by_partition.values() for entry in queue if not entry.acked)

    def unsettled_partitions(self) -> list[dict[str, Any]]:
        """Source partitions still holding back records (for logs after a failed run)."""
        return [self._partitions[k] for k, q in self._by_partition.items() if q and k in self._partitions]

    def ack_all(self) -> None:
        """Acknowledge every submitted record: used once the Kafka transaction holding them
        has committed (its delivery reports say nothing a commit does not)."""
        for queue in self._by_partition.values():
            for entry in queue:
                entry.ack()
