"""Source offsets: what a task reads at start, and what the runtime may commit at the end.

Two halves of Kafka Connect's offset handling for source tasks:

* :class:`StoreOffsetReader` is the ``OffsetStorageReader`` a task gets in its context. It reads
  the offsets committed in the state table once, when the invocation starts, and then those the
  run itself stores (``committed``, before the task's ``commit``); like Kafka's reader it returns
  committed offsets only, never the in-flight ones of the running task.
* :class:`SubmittedOffsets` is Kafka's ``SubmittedRecords``: every record handed to the producer
  is registered in order, per source partition; a record is *acknowledged* when Kafka
  confirmed it, when a transform dropped it, or when a tolerated error skipped it. The
  committable offset of a partition is the offset of the last record such that it and every
  record submitted before it in that partition are acknowledged — so a commit never passes a
  record whose fate is unknown, even when Kafka confirms records out of order (several Kafka
  partitions, retries). Tracking is per partition with counters (see :class:`PartitionTrack`),
  so a record in flight costs one list slot rather than objects the garbage collector walks.

Neither half knows the state store's type: the runtime layer must not import ``state``; the
reader only needs ``get_offsets(name)``.
"""

from __future__ import annotations

import json
from collections.abc import Hashable, Mapping, Sequence
from typing import Any, Protocol

from lambda_connect.api.connector import OffsetStorageReader

__all__ = ["OffsetSource", "PartitionTrack", "StoreOffsetReader", "Submitted", "SubmittedOffsets", "partition_id"]


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

    def committed(self, offsets: Sequence[tuple[Mapping[str, Any], Mapping[str, Any] | None]]) -> None:
        """The runtime stored ``offsets`` (``(partition, offset)``): later reads return them, so a
        task's ``commit`` can see how far the store now holds."""
        for partition, offset in offsets:
            key = partition_id(partition)
            if offset is None:
                self._committed.pop(key, None)
            else:
                self._committed[key] = dict(offset)

    def known(self) -> dict[str, dict[str, Any]]:
        """Every committed offset by partition id (used to tell whether a commit changes anything)."""
        return {k: dict(v) for k, v in self._committed.items()}


class PartitionTrack:
    """The in-flight records of one source partition, as counters rather than objects.

    Records get consecutive sequence numbers; ``done`` is how many of them, from the first,
    are acknowledged, and ``early`` holds the few acknowledged out of order (several Kafka
    partitions confirm independently). Per record that is one list slot for its offset —
    no handle object, no copied dicts — which matters at a million records an invocation.
    """

    __slots__ = ("barrier", "base", "done", "early", "offsets", "partition")

    def __init__(self, partition: dict[str, Any] | None) -> None:
        self.partition = partition
        self.offsets: list[Mapping[str, Any] | None] = []  # of sequence numbers base, base+1, ...
        self.base = 0
        self.done = 0
        self.early: set[int] = set()
        #: The first record ``settle`` must not pass (its delivery failed, or it was never sent).
        self.barrier: int | None = None

    def submit(self, offset: Mapping[str, Any] | None) -> int:
        """Register the next record (by reference: records are values); its sequence number."""
        offsets = self.offsets
        offsets.append(offset)
        return self.base + len(offsets) - 1

    def submit_many(self, offsets: list[Mapping[str, Any] | None]) -> int:
        """Register consecutive records at once (the batch path); the first one's sequence number."""
        first = self.base + len(self.offsets)
        self.offsets.extend(offsets)
        return first

    def block(self, seq: int) -> None:
        """``settle`` stops before record ``seq``: its fate is unknown or it failed for good."""
        if self.barrier is None or seq < self.barrier:
            self.barrier = seq

    def settle(self) -> None:
        """Every record submitted so far, up to the barrier, is acknowledged: the batch path calls
        this once the producer holds no record any more (``flush`` returned 0) — every delivery
        outcome is then known, and a failed one has set the barrier."""
        end = self.base + len(self.offsets)
        if self.barrier is not None and self.barrier < end:
            end = self.barrier
        if end > self.done:
            self.done = end
            early = self.early
            if early:
                self.early = {s for s in early if s > end}
                while self.done in self.early:
                    self.early.discard(self.done)
                    self.done += 1

    def ack(self, seq: int) -> None:
        """Record ``seq`` was confirmed, filtered or skipped; acknowledging twice is harmless."""
        done = self.done
        if seq == done:
            done += 1
            early = self.early
            while early and done in early:
                early.discard(done)
                done += 1
            self.done = done
        elif seq > done:
            self.early.add(seq)

    def take(self) -> dict[str, Any] | None:
        """The offset of the last record of the newly acknowledged prefix (None if it did not
        advance or carries no offset); that prefix is forgotten."""
        n = self.done - self.base
        if n <= 0:
            return None
        offsets = self.offsets
        last = None
        for i in range(n - 1, -1, -1):
            if offsets[i] is not None:
                last = offsets[i]
                break
        del offsets[:n]
        self.base = self.done
        return dict(last) if last is not None else None

    def pending(self) -> int:
        return self.base + len(self.offsets) - self.done - len(self.early)

    def ack_all(self) -> None:
        self.done = self.base + len(self.offsets)
        self.early.clear()


class Submitted:
    """A handle on one submitted record, for callers that prefer an object to ``(track, seq)``."""

    __slots__ = ("seq", "track")

    def __init__(self, track: PartitionTrack, seq: int) -> None:
        self.track = track
        self.seq = seq

    def ack(self) -> None:
        """Kafka confirmed the record, or it was filtered/skipped: it no longer holds offsets back."""
        self.track.ack(self.seq)


class SubmittedOffsets:
    """Records submitted but not yet committed, per source partition, in submission order.

    Records without a source partition (Kafka allows them) carry no offset and are tracked
    only so ``pending()`` counts them. The hot path is ``track(partition).submit(offset)``
    and ``track.ack(seq)``; ``submit`` wraps both in a :class:`Submitted` handle.
    """

    def __init__(self) -> None:
        self._tracks: dict[Hashable, PartitionTrack] = {}
        self._last: PartitionTrack | None = None  # consecutive records mostly share a partition

    def track(self, partition: Mapping[str, Any] | None) -> PartitionTrack:
        """The tracker of ``partition`` (equal maps share one, whatever their key order)."""
        last = self._last
        if last is not None and partition is not None and last.partition == partition:
            return last
        key = _tracking_key(partition)
        found = self._tracks.get(key)
        if found is None:
            found = self._tracks[key] = PartitionTrack(dict(partition) if partition is not None else None)
        if partition is not None:
            self._last = found
        return found

    def submit(self, partition: Mapping[str, Any] | None, offset: Mapping[str, Any] | None) -> Submitted:
        """Register a record about to be produced (or already settled); returns its handle."""
        track = self.track(partition)
        return Submitted(track, track.submit(offset))

    def committable(self) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """``(partition, offset)`` for every partition whose acknowledged prefix advanced since
        the last call; the acknowledged records are forgotten."""
        out: list[tuple[dict[str, Any], dict[str, Any]]] = []
        for track in self._tracks.values():
            last = track.take()
            if last is not None and track.partition is not None:
                out.append((dict(track.partition), last))
        return out

    def pending(self) -> int:
        """Records whose fate is not settled yet (delivery outstanding or failed)."""
        return sum(track.pending() for track in self._tracks.values())

    def unsettled_partitions(self) -> list[dict[str, Any]]:
        """Source partitions still holding back records (for logs after a failed run)."""
        return [dict(t.partition) for t in self._tracks.values() if t.partition is not None and t.pending()]

    def ack_all(self) -> None:
        """Acknowledge every submitted record: used once the Kafka transaction holding them
        has committed (its delivery reports say nothing a commit does not)."""
        for track in self._tracks.values():
            track.ack_all()

    def settle(self) -> None:
        """``PartitionTrack.settle`` of every partition: the producer holds nothing any more."""
        for track in self._tracks.values():
            track.settle()
