"""A small durable key/value area in the state table that a sink task may use.

Why it exists: a Lambda invocation keeps nothing for the next one, but some sinks do work in
two steps that may land in different invocations — the Iceberg sink writes data files in one
invocation and commits them into a snapshot later. What lies between the steps must survive a
lost container, so it goes to the state table, under the connector's name (deleting the
connector deletes it too).

Values are small JSON-compatible maps (the DynamoDB backend keeps an item under 400 KB).
Writes of one key are last-writer-wins; tasks that may race should write under keys of their
own (a UUID per invocation) instead of updating a shared one.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any

__all__ = ["TaskStorage"]


class TaskStorage(ABC):
    """Durable scratch entries of one connector: ``key -> JSON map``."""

    @abstractmethod
    def get(self, key: str) -> dict[str, Any] | None:
        """The entry stored under ``key``, or None."""

    @abstractmethod
    def put(self, key: str, value: Mapping[str, Any]) -> None:
        """Store ``value`` under ``key`` (replacing what was there)."""

    @abstractmethod
    def delete(self, keys: list[str]) -> None:
        """Remove the entries (missing keys are ignored)."""

    @abstractmethod
    def items(self, prefix: str = "") -> dict[str, dict[str, Any]]:
        """Every entry whose key starts with ``prefix``, read consistently after a ``put``."""
