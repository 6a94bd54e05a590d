"""The state table as the runtime sees it: the records it reads and writes, and the
``StateStore`` port that ``state/`` implements (memory, SQL, DynamoDB).

It lives in ``runtime`` because the runtime is the consumer: the reconciler and the workers
depend on this contract, and ``state/`` depends on it to implement it — never the other way
round. The concurrency rules every backend follows are described in ``state.base``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

__all__ = ["ConnectorEntry", "Lease", "StateStore", "StatusEntry", "TaskConfigs"]


@dataclass(frozen=True)
class ConnectorEntry:
    """A connector as the user configured it: the desired state the reconciler converges to."""

    name: str
    config: dict[str, str]
    version: int
    target_state: str
    created_at: float
    updated_at: float


@dataclass(frozen=True)
class TaskConfigs:
    """Task configs generated from the connector config with version ``config_version``."""

    config_version: int
    configs: list[dict[str, str]]


@dataclass(frozen=True)
class StatusEntry:
    """The last reported status of a connector or task (Kafka's ConnectorStatus/TaskStatus)."""

    state: str
    worker_id: str
    trace: str | None = None
    updated_at: float = 0.0


@dataclass(frozen=True)
class Lease:
    """Exclusive right of ``owner`` to run task ``task`` until ``expires_at``, fenced by ``epoch``."""

    connector: str
    task: int
    owner: str
    epoch: int
    expires_at: float


@runtime_checkable
class StateStore(Protocol):
    """Everything the control plane and the workers persist. All methods are safe to call from
    several threads and processes at once; see the module docstring for the concurrency rules."""

    def create_connector(
        self, name: str, config: Mapping[str, str], target_state: str = "RUNNING"
    ) -> ConnectorEntry: ...
    def get_connector(self, name: str) -> ConnectorEntry | None: ...
    def list_connectors(self) -> list[str]: ...
    def update_connector(
        self, name: str, config: Mapping[str, str], *, expected_version: int | None = None
    ) -> ConnectorEntry: ...
    def set_target_state(
        self, name: str, target_state: str, *, expected_version: int | None = None
    ) -> ConnectorEntry: ...
    def delete_connector(self, name: str) -> bool: ...
    def put_task_configs(self, name: str, config_version: int, configs: Iterable[Mapping[str, str]]) -> bool: ...
    def get_task_configs(self, name: str) -> TaskConfigs | None: ...
    def clear_task_configs(self, name: str) -> None: ...
    def put_connector_status(self, name: str, status: StatusEntry) -> None: ...
    def put_task_status(self, name: str, task: int, status: StatusEntry) -> None: ...
    def get_connector_status(self, name: str) -> StatusEntry | None: ...
    def get_task_statuses(self, name: str) -> dict[int, StatusEntry]: ...
    def clear_task_statuses(self, name: str) -> None: ...
    def get_offsets(self, name: str) -> list[tuple[dict, dict]]: ...
    def get_offset(self, name: str, partition: Mapping) -> dict | None: ...
    def commit_offsets(
        self,
        name: str,
        offsets: Iterable[tuple[Mapping, Mapping | None]],
        *,
        task: int | None = None,
        epoch: int | None = None,
    ) -> bool: ...
    def delete_offsets(self, name: str) -> None: ...
    def acquire_lease(
        self, name: str, task: int, owner: str, ttl_seconds: float, now: float | None = None
    ) -> Lease | None: ...
    def renew_lease(self, lease: Lease, ttl_seconds: float) -> Lease | None: ...
    def release_lease(self, lease: Lease) -> bool: ...
    def get_lease(self, name: str, task: int) -> Lease | None: ...
    def put_resources(self, name: str, resources: Mapping) -> None: ...
    def get_resources(self, name: str) -> dict: ...
    def connector_for_alias(self, alias: str) -> str | None: ...
    def add_active_topics(self, name: str, topics: Iterable[str]) -> None: ...
    def get_active_topics(self, name: str) -> set[str]: ...
    def reset_active_topics(self, name: str) -> None: ...
    def close(self) -> None: ...
