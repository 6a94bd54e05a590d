"""Topic creation for source connectors (KIP-158): the ``topic.creation.*`` groups.

Kafka's rules, kept as they are:

* Topic creation is on for a connector as soon as its config has a ``topic.creation.`` key;
  ``topic.creation.default.replication.factor`` and ``.partitions`` are then required (the
  connector config definition enforces that). ``-1`` means "the broker's default".
* ``topic.creation.groups`` lists extra groups. A group matches a topic when the topic fully
  matches one of its ``include`` regexes and none of its ``exclude`` regexes. Groups are tried
  in the listed order, the first match wins, and ``default`` (which matches everything; its
  include/exclude are ignored) comes last.
* A group's ``replication.factor`` / ``partitions`` default to the default group's; every other
  key under ``topic.creation.<group>.`` is a topic config applied at creation only.
* A topic is checked once per task lifetime, before the first record is sent to it; a topic
  that exists already is left as it is.

The creating call itself is injected (the AWS layer passes an admin-client based one), so this
module needs no Kafka client.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from lambda_connect.api.errors import ConfigException

__all__ = ["DEFAULT_GROUP", "CreateTopic", "TopicCreation", "TopicCreationGroup", "TopicCreator"]

log = logging.getLogger(__name__)

PREFIX = "topic.creation."
DEFAULT_GROUP = "default"
_OWN_KEYS = ("include", "exclude", "replication.factor", "partitions")

#: ``create(topic, partitions, replication_factor, topic_configs) -> created?``
CreateTopic = Callable[[str, int, int, Mapping[str, str]], bool]


def _list(value: Any) -> list[str]:
    return [item.strip() for item in str(value or "").split(",") if item.strip()]


def _pattern(regexes: list[str], key: str) -> re.Pattern[str] | None:
    if not regexes:
        return None
    try:
        return re.compile("|".join(f"(?:{r})" for r in regexes))
    except re.error as e:
        raise ConfigException.for_key(key, ",".join(regexes), f"invalid regex: {e}") from e


def _int(props: Mapping[str, Any], key: str, fallback: int | None) -> int:
    raw = props.get(key)
    if raw is None or not str(raw).strip():
        if fallback is None:
            raise ConfigException(f'Missing required configuration "{key}" which has no default value.', {key: [
                f'Missing required configuration "{key}" which has no default value.']})
        return fallback
    try:
        value = int(str(raw).strip())
    except ValueError as e:
        raise ConfigException.for_key(key, raw, "Not a number of type INT") from e
    if value != -1 and value < 1:
        raise ConfigException.for_key(key, raw, "Value must be -1 or at least 1")
    return value


@dataclass(frozen=True)
class TopicCreationGroup:
    """One group: which topics it claims and how it creates them."""

    name: str
    replication_factor: int
    partitions: int
    include: re.Pattern[str] | None = None
    exclude: re.Pattern[str] | None = None
    configs: dict[str, str] = field(default_factory=dict)

    def matches(self, topic: str) -> bool:
        if self.name == DEFAULT_GROUP:
            return True
        if self.exclude is not None and self.exclude.fullmatch(topic):
            return False
        return self.include is not None and self.include.fullmatch(topic) is not None


@dataclass(frozen=True)
class TopicCreation:
    """The groups of one connector, in match order (``default`` last)."""

    groups: tuple[TopicCreationGroup, ...]

    @classmethod
    def from_config(cls, props: Mapping[str, Any]) -> TopicCreation | None:
        """The groups of ``props``, or None when the connector does not use topic creation."""
        if not any(str(k).startswith(PREFIX) for k in props):
            return None
        default_prefix = f"{PREFIX}{DEFAULT_GROUP}."
        rf = _int(props, default_prefix + "replication.factor", None)
        partitions = _int(props, default_prefix + "partitions", None)
        groups: list[TopicCreationGroup] = []
        for name in dict.fromkeys(_list(props.get(PREFIX + "groups"))):
            if name == DEFAULT_GROUP:
                continue
            prefix = f"{PREFIX}{name}."
            groups.append(TopicCreationGroup(
                name=name,
                replication_factor=_int(props, prefix + "replication.factor", rf),
                partitions=_int(props, prefix + "partitions", partitions),
                include=_pattern(_list(props.get(prefix + "include")), prefix + "include"),
                exclude=_pattern(_list(props.get(prefix + "exclude")), prefix + "exclude"),
                configs=_topic_configs(props, prefix),
            ))
        groups.append(TopicCreationGroup(DEFAULT_GROUP, rf, partitions, configs=_topic_configs(props, default_prefix)))
        return cls(tuple(groups))

    def group_for(self, topic: str) -> TopicCreationGroup:
        """The first group claiming ``topic``; ``default`` claims everything."""
        return next(g for g in self.groups if g.matches(topic))


def _topic_configs(props: Mapping[str, Any], prefix: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in props.items():
        if str(key).startswith(prefix):
            sub = str(key)[len(prefix):]
            if sub and sub not in _OWN_KEYS:
                out[sub] = str(value)
    return out


class TopicCreator:
    """Makes sure each topic a task writes to exists, asking the broker once per topic.

    Kept per container (keyed by connector config version): a warm container does not
    re-check topics it has already seen.
    """

    def __init__(self, creation: TopicCreation, create: CreateTopic) -> None:
        self._creation = creation
        self._create = create
        self._known: set[str] = set()

    def ensure(self, topic: str) -> None:
        """Create ``topic`` from its group's settings unless it was seen already."""
        if topic in self._known:
            return
        group = self._creation.group_for(topic)
        created = self._create(topic, group.partitions, group.replication_factor, group.configs)
        if created:
            log.info("Created topic %s (group %s, partitions %s, replication factor %s)",
                     topic, group.name, group.partitions, group.replication_factor)
        self._known.add(topic)
