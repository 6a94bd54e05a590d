"""What the reconciler asks of a platform, and the desired state it hands over.

Kafka Connect's group rebalance assigns connectors and tasks to workers. Here the
:class:`~lambda_connect.runtime.reconciler.Reconciler` computes a desired state per connector
(:class:`SinkSpec` or :class:`SourceSpec`) and a :class:`Platform` makes the world match it:

* AWS (``aws/platform.py``): per sink connector a function alias of the sink task function and
  one Kafka event source mapping per topic; per source task an EventBridge Scheduler schedule.
* Local (``local/platform.py``): ESM emulator threads and an in-process scheduler.

Contract for implementers — four methods, all idempotent:

``ensure_sink(name, spec, current) -> dict`` / ``ensure_source(name, spec, current) -> dict``
    Converge the connector's resources on ``spec`` and return what exists afterwards. ``current``
    is what the previous call returned (``{}`` the first time, or after the state was lost: then
    adopt what already exists, found by the deterministic names below). Calling it again with an
    unchanged spec must change nothing. The returned dict is stored as is in the state table and
    passed back as ``current`` next time; keep it JSON-serialisable and use these keys where they
    apply: ``alias`` (the sink alias, indexed by ``StateStore.connector_for_alias``), ``esms``
    (``{topic: {"uuid", "consumer_group", "state"}}``), ``consumer_groups`` (``{topic: group}``;
    the REST offsets API reads it), ``schedules`` (list of names).
``remove(name, current) -> None``
    Delete everything the connector owns; ``current`` may be ``{}`` (the state table item went
    with the connector), so find resources by their deterministic names too.
``list_topics() -> list[str]``
    The cluster's topic names, for resolving ``topics.regex``.

Raise :class:`PlatformThrottled` for a transient refusal that a later retry should clear (the
reconciler retries it with backoff) and :class:`PlatformError` for anything else; attach what
was already created as ``resources`` so the reconciler still records it.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from lambda_connect.api.errors import ConnectException, RetriableException

from .lambda_config import LambdaSettings

__all__ = [
    "MAX_SCHEDULE_NAME",
    "Platform",
    "PlatformError",
    "PlatformThrottled",
    "SinkSpec",
    "SourceSpec",
    "assign_consumer_groups",
    "connector_alias",
    "consumer_group",
    "schedule_name",
    "schedule_prefix",
    "schedule_rate_minutes",
]

ALIAS_PREFIX = "connect-"
MAX_ALIAS = 128
MAX_CONSUMER_GROUP = 200
MAX_SCHEDULE_NAME = 64
_TASK_DIGITS = 4  # tasks.max up to 9999 fits every schedule name
_ALIAS_CHARS = re.compile(r"[^a-zA-Z0-9_-]")
_GROUP_CHARS = re.compile(r"[^a-zA-Z0-9\-/*:_+=.@]")


class PlatformError(ConnectException):
    """The platform could not converge a connector; ``resources`` is what exists anyway."""

    def __init__(self, message: str, resources: Mapping | None = None) -> None:
        super().__init__(message)
        self.resources: dict = dict(resources or {})


class PlatformThrottled(PlatformError, RetriableException):
    """A transient refusal (throttling, a resource still changing state): retry later."""


@dataclass(frozen=True)
class SinkSpec:
    """Desired state of a sink connector: one event source mapping per topic into its alias.

    ``enabled`` is False for PAUSED and STOPPED connectors (the mappings stay, disabled, so their
    consumer groups keep the committed offsets and the offsets API can edit them).
    """

    alias: str
    topics: tuple[str, ...]
    consumer_groups: Mapping[str, str]
    enabled: bool
    settings: LambdaSettings = field(default_factory=LambdaSettings)
    config_version: int = 0


@dataclass(frozen=True)
class SourceSpec:
    """Desired state of a source connector: one schedule per task ``0 … tasks-1``.

    ``poll_interval_ms`` is the connector's ``poll.interval.ms``; AWS rounds it up to whole
    minutes (:func:`schedule_rate_minutes`), a local scheduler may honour it exactly.
    """

    alias: str
    tasks: int
    poll_interval_ms: int
    enabled: bool
    config_version: int = 0


@runtime_checkable
class Platform(Protocol):
    """Where connectors run; see the module docstring for the contract."""

    def ensure_sink(self, name: str, spec: SinkSpec, current: dict) -> dict: ...
    def ensure_source(self, name: str, spec: SourceSpec, current: dict) -> dict: ...
    def remove(self, name: str, current: dict) -> None: ...
    def list_topics(self) -> list[str]: ...


def _digest(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()[:8]


def connector_alias(name: str) -> str:
    """``connect-<name>`` as a valid Lambda alias name (``[a-zA-Z0-9-_]+``, at most 128 chars).

    When sanitising changes the name (other characters replaced by ``_``, or truncation), a hash
    of the real name is appended, so two connectors never share an alias.
    """
    cleaned = ALIAS_PREFIX + _ALIAS_CHARS.sub("_", name)
    if cleaned == ALIAS_PREFIX + name and len(cleaned) <= MAX_ALIAS:
        return cleaned
    suffix = "-" + _digest(name)
    return cleaned[: MAX_ALIAS - len(suffix)] + suffix


def consumer_group(name: str, topic: str | None = None) -> str:
    """``connect-<name>`` (Kafka Connect's sink group), or ``connect-<name>-<topic>`` when the
    connector needs one group per topic; sanitised like :func:`connector_alias` when needed
    (an ESM group id is at most 200 chars of ``[a-zA-Z0-9-/*:_+=.@]``)."""
    raw = f"connect-{name}" if topic is None else f"connect-{name}-{topic}"
    cleaned = _GROUP_CHARS.sub("_", raw)
    if cleaned == raw and len(cleaned) <= MAX_CONSUMER_GROUP:
        return cleaned
    suffix = "-" + _digest(raw)
    return cleaned[: MAX_CONSUMER_GROUP - len(suffix)] + suffix


def assign_consumer_groups(
    name: str, topics: list[str] | tuple[str, ...], current: Mapping[str, str]
) -> dict[str, str]:
    """One consumer group per topic, unique across the connector's mappings.

    Lambda gives every Kafka ESM exactly one topic and needs its group id to be unique, while a
    Kafka Connect sink uses one group, ``connect-<name>``, for all its topics. Rules:

    * a topic that already has a mapping keeps its group (a group id is create-only, and changing
      it would lose the committed offsets);
    * a connector with a single topic uses ``connect-<name>``, so offsets carry over from Kafka
      Connect unchanged;
    * otherwise each new topic gets ``connect-<name>-<topic>`` (copy offsets into it with the
      offsets API or ``kafka-consumer-groups --reset-offsets`` while the connector is STOPPED).
    """
    groups: dict[str, str] = {}
    kept = {t: g for t, g in current.items() if t in topics}
    used = set(kept.values())
    for topic in topics:
        if topic in kept:
            groups[topic] = kept[topic]
            continue
        shared = consumer_group(name)
        group = shared if len(topics) == 1 and shared not in used else consumer_group(name, topic)
        groups[topic] = group
        used.add(group)
    return groups


def schedule_prefix(alias: str) -> str:
    """``<alias>-task-``, shortened with a hash so ``<prefix><n>`` fits Scheduler's 64 chars."""
    room = MAX_SCHEDULE_NAME - len("-task-") - _TASK_DIGITS
    base = alias if len(alias) <= room else alias[: room - 9] + "-" + _digest(alias)
    return base + "-task-"


def schedule_name(alias: str, task: int) -> str:
    """The name of source task ``task``'s schedule (group ``lambda-connect``)."""
    return f"{schedule_prefix(alias)}{task}"


def schedule_rate_minutes(poll_interval_ms: int) -> int:
    """EventBridge Scheduler's finest rate is one minute: round ``poll.interval.ms`` up to whole
    minutes, at least one (within an invocation the task keeps polling until its time budget)."""
    return max(1, math.ceil(max(0, poll_interval_ms) / 60_000))
