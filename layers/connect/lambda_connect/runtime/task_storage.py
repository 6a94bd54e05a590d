"""``api.storage.TaskStorage`` on the state table, without a new table shape.

A sink connector's offsets live in its Kafka consumer groups (``sink_offsets``), so the state
table's offset area under a *sink* connector's name is otherwise unused. Its entries are
addressed by a partition map; here every key becomes the partition ``{SCRATCH: key}``. That
gives every backend (memory, SQL, DynamoDB) the area for free, keeps the reads consistent
(each backend's offset reads are), and deleting the connector removes the entries with it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from lambda_connect.api.storage import TaskStorage

__all__ = ["SCRATCH", "StateTableTaskStorage", "task_storage_factory"]

#: The partition field that marks a scratch entry (never a field of a real source partition).
SCRATCH = "lambda_connect.task_storage"


class OffsetArea(Protocol):
    """The part of the state store this needs."""

    def get_offsets(self, name: str) -> list[tuple[dict, dict]]: ...
    def get_offset(self, name: str, partition: Mapping) -> dict | None: ...
    def commit_offsets(self, name: str, offsets: Iterable[tuple[Mapping, Mapping | None]]) -> bool: ...


class StateTableTaskStorage(TaskStorage):
    """Scratch entries of one connector in the state table's offset area."""

    def __init__(self, store: OffsetArea, connector: str) -> None:
        self.store = store
        self.connector = connector

    def get(self, key: str) -> dict[str, Any] | None:
        return self.store.get_offset(self.connector, {SCRATCH: key})

    def put(self, key: str, value: Mapping[str, Any]) -> None:
        self.store.commit_offsets(self.connector, [({SCRATCH: key}, dict(value))])

    def delete(self, keys: list[str]) -> None:
        if keys:
            self.store.commit_offsets(self.connector, [({SCRATCH: k}, None) for k in keys])

    def items(self, prefix: str = "") -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for partition, value in self.store.get_offsets(self.connector):
            key = partition.get(SCRATCH) if len(partition) == 1 else None
            if isinstance(key, str) and key.startswith(prefix):
                out[key] = value
        return out


def task_storage_factory(store: Any) -> Callable[[str], TaskStorage] | None:
    """``connector name -> TaskStorage`` for a store with an offset area, else None."""
    if not all(hasattr(store, m) for m in ("get_offsets", "get_offset", "commit_offsets")):
        return None
    return lambda connector: StateTableTaskStorage(store, connector)
