"""Which topics a sink connector reads, and the refusal of records from any other topic.

A batch is trusted to hold only the connector's topics (the event source mapping is built
from ``topics`` / ``topics.regex``), but nothing in a Kafka event proves it: a mapping left
over from an earlier config, a hand-made ``lambda-connect invoke`` event or a bug upstream
would otherwise make a sink write a topic nobody asked for (the JDBC sink would even create
a table named after it). So the worker checks every batch's topics against the connector's
own subscription, the way a Kafka consumer only ever returns records of topics it subscribed
to, and refuses the rest record by record through the connector's error policy.

``topics.regex`` matches whole topic names, never internal (``__``-prefixed) topics and
never the connector's own dead letter queue, as the reconciler subscribes them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from lambda_connect.api.errors import ConnectException

__all__ = ["INTERNAL_TOPIC_PREFIX", "Subscription", "UnsubscribedTopicError"]

#: Topics Kafka keeps for itself; a pattern subscription never includes them.
INTERNAL_TOPIC_PREFIX = "__"
# Verdicts are cached per topic; a batch naming ever-new topics must not grow the cache unbounded.
_MAX_CACHED = 1024


class UnsubscribedTopicError(ConnectException):
    """A record of a topic the connector does not read."""


class Subscription:
    """``topics`` by name or ``topics.regex`` as a whole-name pattern; ``topic in subscription``."""

    def __init__(self, topics: Iterable[str], regex: str = "", dlq_topic: str = "") -> None:
        self.topics = frozenset(t.strip() for t in topics if t.strip())
        self.regex = regex.strip()
        self.dlq_topic = dlq_topic.strip()
        self._pattern = re.compile(self.regex) if self.regex and not self.topics else None
        self._verdicts: dict[str, bool] = {}

    def __contains__(self, topic: object) -> bool:
        if not isinstance(topic, str):
            return False
        verdict = self._verdicts.get(topic)
        if verdict is None:
            verdict = self._decide(topic)
            if len(self._verdicts) >= _MAX_CACHED:
                self._verdicts.clear()
            self._verdicts[topic] = verdict
        return verdict

    def _decide(self, topic: str) -> bool:
        if self.topics:
            return topic in self.topics
        if self._pattern is None:
            return False
        return (self._pattern.fullmatch(topic) is not None and not topic.startswith(INTERNAL_TOPIC_PREFIX)
                and topic != self.dlq_topic)

    def describe(self) -> str:
        """The subscription as the connector config spells it, for error messages."""
        if self.topics:
            return "topics=" + ",".join(sorted(self.topics))
        return f"topics.regex={self.regex}"

    def refusal(self, connector: str, label: str, topic: str) -> UnsubscribedTopicError:
        """The error a record of ``topic`` (named ``label``) carries."""
        return UnsubscribedTopicError(
            f"Record {label} is from topic '{topic}', which connector {connector} does not read "
            f"({self.describe()}); it is refused and nothing of it is written"
        )
