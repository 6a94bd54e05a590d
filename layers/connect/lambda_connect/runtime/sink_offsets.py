"""Sink connector offsets: they live in the connector's Kafka consumer groups, not the state table.

A sink connector consumes through Lambda event source mappings whose consumer groups are
``connect-<name>`` (one topic) or one group per topic (several topics; the reconciler records
them in the connector's resources as ``{"consumer_groups": {topic: group}}``). KIP-875's
offsets endpoints read and edit those groups. This module is the protocol the REST layer
calls plus the pure helpers; ``aws.sink_offsets.KafkaSinkOffsets`` talks to the cluster.

Kafka's shapes: a partition is ``{"kafka_topic": t, "kafka_partition": p}`` and an offset
``{"kafka_offset": n}`` — the next offset the group will consume.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "ANY_TOPIC",
    "SinkOffset",
    "SinkOffsets",
    "check_idle",
    "default_group",
    "group_for",
    "groups_by_topic",
    "sink_offset_entry",
]

#: Key of ``groups_by_topic`` naming the group of every topic not listed explicitly
#: (``*`` is not a legal Kafka topic name, so it cannot clash with one).
ANY_TOPIC = "*"

#: (topic, partition, offset) — offset None means "forget the committed offset".
SinkOffset = tuple[str, int, int | None]


def default_group(connector: str) -> str:
    """Kafka Connect's sink consumer group, so offsets carry over from a Connect cluster."""
    return f"connect-{connector}"


def groups_by_topic(connector: str, resources: Mapping[str, Any]) -> dict[str, str]:
    """The connector's consumer groups by topic as the reconciler recorded them, with the
    default group for any topic it has not (yet) mapped."""
    recorded = resources.get("consumer_groups") or {}
    out = {str(t): str(g) for t, g in recorded.items()} if isinstance(recorded, Mapping) else {}
    out.setdefault(ANY_TOPIC, default_group(connector))
    return out


def group_for(topic: str, groups: Mapping[str, str]) -> str:
    return groups.get(topic) or groups[ANY_TOPIC]


def sink_offset_entry(topic: str, partition: int, offset: int | None) -> tuple[dict[str, Any], dict[str, Any] | None]:
    return (
        {"kafka_topic": topic, "kafka_partition": partition},
        None if offset is None else {"kafka_offset": offset},
    )


@runtime_checkable
class SinkOffsets(Protocol):
    """Reads and edits the committed offsets of a sink connector's consumer groups."""

    def get(self, connector: str, groups_by_topic: Mapping[str, str]) -> list[SinkOffset]:
        """Every committed (topic, partition, offset) of the connector's groups, sorted."""
        ...

    def alter(self, connector: str, groups_by_topic: Mapping[str, str], offsets: Iterable[SinkOffset]) -> None:
        """Commit the given offsets (None resets that partition to the earliest offset)."""
        ...

    def reset(self, connector: str, groups_by_topic: Mapping[str, str]) -> None:
        """Forget every committed offset (the groups start over from the earliest offset)."""
        ...


def check_idle(sink_offsets: SinkOffsets, connector: str, groups_by_topic: Mapping[str, str]) -> None:
    """Raise ConnectException when the groups cannot be changed now (active members); a backend
    without ``check_idle`` finds out when it changes them."""
    check = getattr(sink_offsets, "check_idle", None)
    if check is not None:
        check(connector, groups_by_topic)
