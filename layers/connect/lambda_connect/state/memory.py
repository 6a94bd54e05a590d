"""In-process twin of the state table (``memory://``).

Behaves exactly like the persistent backends (same contract suite) so unit tests and the local
runtime's default mode exercise the real concurrency rules. One lock guards everything: the
store is tiny and every operation is a few dictionary touches, so finer locking would buy
nothing but risk. Values are copied in and out so callers can never mutate stored state.
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from ..api.errors import AlreadyExistsException, ConflictException, NotFoundException
from .base import (
    ConnectorEntry,
    Lease,
    StatusEntry,
    TaskConfigs,
    check_config,
    dedupe_offsets,
    normalize_target_state,
    now,
    partition_key,
    require_task,
    version_conflict,
)

__all__ = ["InMemoryStateStore"]


@dataclass
class _Connector:
    """Everything stored under one connector name."""

    entry: ConnectorEntry | None = None
    task_configs: TaskConfigs | None = None
    status: StatusEntry | None = None
    task_statuses: dict[int, StatusEntry] = field(default_factory=dict)
    offsets: dict[str, tuple[dict, dict]] = field(default_factory=dict)
    leases: dict[int, Lease] = field(default_factory=dict)
    resources: dict = field(default_factory=dict)
    topics: set[str] = field(default_factory=set)


class InMemoryStateStore:
    """A :class:`~lambda_connect.state.base.StateStore` held in process memory."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._data: dict[str, _Connector] = {}
        self._aliases: dict[str, str] = {}

    def _slot(self, name: str) -> _Connector:
        return self._data.setdefault(name, _Connector())

    def _entry(self, name: str) -> ConnectorEntry:
        slot = self._data.get(name)
        if slot is None or slot.entry is None:
            raise NotFoundException(f"Connector {name} not found")
        return slot.entry

    @staticmethod
    def _copy(entry: ConnectorEntry) -> ConnectorEntry:
        return replace(entry, config=dict(entry.config))

    # -- connector configs -------------------------------------------------------------------

    def create_connector(self, name: str, config: Mapping[str, str], target_state: str = "RUNNING") -> ConnectorEntry:
        config, target_state = check_config(config), normalize_target_state(target_state)
        with self._lock:
            slot = self._slot(name)
            if slot.entry is not None:
                raise AlreadyExistsException(f"Connector {name} already exists")
            ts = now()
            slot.entry = ConnectorEntry(name, config, 1, target_state, ts, ts)
            return self._copy(slot.entry)

    def get_connector(self, name: str) -> ConnectorEntry | None:
        with self._lock:
            slot = self._data.get(name)
            return None if slot is None or slot.entry is None else self._copy(slot.entry)

    def list_connectors(self) -> list[str]:
        with self._lock:
            return sorted(name for name, slot in self._data.items() if slot.entry is not None)

    def _change(self, name: str, expected_version: int | None, **changes: object) -> ConnectorEntry:
        with self._lock:
            entry = self._entry(name)
            if expected_version is not None and entry.version != expected_version:
                raise version_conflict(name, expected_version, entry.version)
            entry = replace(entry, version=entry.version + 1, updated_at=now(), **changes)
            self._data[name].entry = entry
            return self._copy(entry)

    def update_connector(
        self, name: str, config: Mapping[str, str], *, expected_version: int | None = None
    ) -> ConnectorEntry:
        return self._change(name, expected_version, config=check_config(config))

    def set_target_state(self, name: str, target_state: str, *, expected_version: int | None = None) -> ConnectorEntry:
        return self._change(name, expected_version, target_state=normalize_target_state(target_state))

    def delete_connector(self, name: str) -> bool:
        with self._lock:
            slot = self._data.pop(name, None)
            if slot is None:
                return False
            alias = slot.resources.get("alias")
            if alias is not None and self._aliases.get(alias) == name:
                del self._aliases[alias]
            return slot.entry is not None

    # -- task configs ------------------------------------------------------------------------

    def put_task_configs(self, name: str, config_version: int, configs: Iterable[Mapping[str, str]]) -> bool:
        configs = [check_config(c) for c in configs]
        with self._lock:
            self._entry(name)
            slot = self._data[name]
            if slot.task_configs is not None and slot.task_configs.config_version >= config_version:
                return False
            slot.task_configs = TaskConfigs(config_version, configs)
            return True

    def get_task_configs(self, name: str) -> TaskConfigs | None:
        with self._lock:
            slot = self._data.get(name)
            if slot is None or slot.task_configs is None:
                return None
            return copy.deepcopy(slot.task_configs)

    def clear_task_configs(self, name: str) -> None:
        with self._lock:
            if name in self._data:
                self._data[name].task_configs = None

    # -- statuses ----------------------------------------------------------------------------

    def put_connector_status(self, name: str, status: StatusEntry) -> None:
        with self._lock:
            self._slot(name).status = status

    def put_task_status(self, name: str, task: int, status: StatusEntry) -> None:
        with self._lock:
            self._slot(name).task_statuses[int(task)] = status

    def get_connector_status(self, name: str) -> StatusEntry | None:
        with self._lock:
            slot = self._data.get(name)
            return None if slot is None else slot.status

    def get_task_statuses(self, name: str) -> dict[int, StatusEntry]:
        with self._lock:
            slot = self._data.get(name)
            return {} if slot is None else dict(sorted(slot.task_statuses.items()))

    def clear_task_statuses(self, name: str) -> None:
        with self._lock:
            if name in self._data:
                self._data[name].task_statuses.clear()

    # -- source offsets ----------------------------------------------------------------------

    def get_offsets(self, name: str) -> list[tuple[dict, dict]]:
        with self._lock:
            slot = self._data.get(name)
            if slot is None:
                return []
            return [copy.deepcopy(slot.offsets[k]) for k in sorted(slot.offsets)]

    def get_offset(self, name: str, partition: Mapping) -> dict | None:
        with self._lock:
            slot = self._data.get(name)
            found = None if slot is None else slot.offsets.get(partition_key(partition))
            return None if found is None else copy.deepcopy(found[1])

    def commit_offsets(
        self,
        name: str,
        offsets: Iterable[tuple[Mapping, Mapping | None]],
        *,
        task: int | None = None,
        epoch: int | None = None,
    ) -> bool:
        # A JSON round trip gives the same value semantics as the persistent backends
        # (tuples become lists, non-serialisable values fail here rather than in production).
        writes = json.loads(json.dumps(list(dedupe_offsets(offsets).items())))
        with self._lock:
            if epoch is not None:
                lease = self._data.get(name, _Connector()).leases.get(require_task(task))
                if lease is None or lease.epoch != epoch:
                    return False
            slot = self._slot(name)
            for key, (partition, offset) in writes:
                if offset is None:
                    slot.offsets.pop(key, None)
                else:
                    slot.offsets[key] = (partition, offset)
            return True

    def delete_offsets(self, name: str) -> None:
        with self._lock:
            if name in self._data:
                self._data[name].offsets.clear()

    # -- task leases -------------------------------------------------------------------------

    def acquire_lease(
        self, name: str, task: int, owner: str, ttl_seconds: float, now: float | None = None
    ) -> Lease | None:
        at = _now() if now is None else now
        with self._lock:
            leases = self._slot(name).leases
            current = leases.get(task)
            if current is not None and current.owner != owner and current.expires_at > at:
                return None
            lease = Lease(name, task, owner, (current.epoch if current else 0) + 1, at + ttl_seconds)
            leases[task] = lease
            return lease

    def renew_lease(self, lease: Lease, ttl_seconds: float) -> Lease | None:
        with self._lock:
            leases = self._slot(lease.connector).leases
            current = leases.get(lease.task)
            if current is None or current.epoch != lease.epoch or current.owner != lease.owner:
                return None
            leases[lease.task] = replace(current, expires_at=_now() + ttl_seconds)
            return leases[lease.task]

    def release_lease(self, lease: Lease) -> bool:
        with self._lock:
            leases = self._slot(lease.connector).leases
            current = leases.get(lease.task)
            if current is None or current.epoch != lease.epoch or current.owner != lease.owner:
                return False
            leases[lease.task] = replace(current, expires_at=0.0)
            return True

    def get_lease(self, name: str, task: int) -> Lease | None:
        with self._lock:
            slot = self._data.get(name)
            return None if slot is None else slot.leases.get(task)

    # -- platform resources ------------------------------------------------------------------

    def put_resources(self, name: str, resources: Mapping) -> None:
        resources = json.loads(json.dumps(dict(resources)))
        with self._lock:
            alias = resources.get("alias")
            if alias is not None and self._aliases.get(alias, name) != name:
                raise ConflictException(f"Alias {alias} already belongs to connector {self._aliases[alias]}")
            slot = self._slot(name)
            old = slot.resources.get("alias")
            if old is not None and old != alias and self._aliases.get(old) == name:
                del self._aliases[old]
            if alias is not None:
                self._aliases[alias] = name
            slot.resources = resources

    def get_resources(self, name: str) -> dict:
        with self._lock:
            slot = self._data.get(name)
            return {} if slot is None else copy.deepcopy(slot.resources)

    def connector_for_alias(self, alias: str) -> str | None:
        with self._lock:
            return self._aliases.get(alias)

    # -- active topics -----------------------------------------------------------------------

    def add_active_topics(self, name: str, topics: Iterable[str]) -> None:
        topics = set(topics)
        if not topics:
            return
        with self._lock:
            self._slot(name).topics |= topics

    def get_active_topics(self, name: str) -> set[str]:
        with self._lock:
            slot = self._data.get(name)
            return set() if slot is None else set(slot.topics)

    def reset_active_topics(self, name: str) -> None:
        with self._lock:
            if name in self._data:
                self._data[name].topics.clear()

    def close(self) -> None:
        """Nothing to release; kept so callers can treat every backend alike."""


_now = now
