"""Topic identities: which incarnation of a topic a batch of records comes from.

Kafka offsets restart at 0 when a topic is deleted and created again, and an embedded
broker started anew has empty topics. A sink that deduplicates by offset (the JDBC and S3
sinks keep a high-water mark per partition) would then take every new record for one it
already wrote. The identity tells the incarnations apart: Kafka's topic id (KIP-516) where
the broker has one, qualified by the cluster id, so a new embedded broker (a new cluster
id) is a new incarnation even on a broker without topic ids.

The lookup is a metadata request to the cluster, far too slow for every batch, so a
:class:`CachedTopicIdentities` answers from a per-container cache and asks the cluster
again only when a sink asks for a refresh (its batch looked like a redelivery, or the stored
identity differs). Sinks reach it through ``SinkTaskContext.topic_identity``; the runtime
plugs the container's source into each pipeline's :class:`IdentityForwarder`.
"""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from typing import Protocol

__all__ = ["CachedTopicIdentities", "IdentityForwarder", "TopicIdentities", "format_identity"]

log = logging.getLogger(__name__)

#: What stands in for a missing topic id: the broker reports none (older Kafka) or all zeros.
NO_TOPIC_ID = "no-topic-id"


def format_identity(cluster_id: str | None, topic_id: str | None) -> str | None:
    """``<cluster id>/<topic id>``; None when neither is known (nothing honest to compare)."""
    if not cluster_id and not topic_id:
        return None
    return f"{cluster_id or 'unknown-cluster'}/{topic_id or NO_TOPIC_ID}"


class TopicIdentities(Protocol):
    """Answers ``SinkTaskContext.topic_identity`` for one cluster."""

    def identity(self, topic: str, refresh: bool = False) -> str | None: ...


class CachedTopicIdentities(ABC):
    """Per-container cache in front of a cluster lookup; thread-safe for the local runtime.

    A failed lookup answers None (the sink then keeps its positions as they are) and is
    logged once per topic; it is tried again on the next refresh.
    """

    def __init__(self) -> None:
        self._known: dict[str, str | None] = {}
        self._warned: set[str] = set()
        self._lock = threading.Lock()
        self.lookups = 0

    def identity(self, topic: str, refresh: bool = False) -> str | None:
        if not refresh:
            try:
                return self._known[topic]
            except KeyError:
                pass
        with self._lock:
            if not refresh and topic in self._known:
                return self._known[topic]
            self.lookups += 1
            try:
                found = self._lookup(topic)
            except Exception as e:  # no access to cluster metadata: positions stay as they are
                if topic not in self._warned:
                    self._warned.add(topic)
                    log.warning("Cannot tell which incarnation of topic %s this is (%s): a deleted and recreated "
                                "topic will not be detected", topic, e)
                found = self._known.get(topic)
            self._known[topic] = found
            return found

    @abstractmethod
    def _lookup(self, topic: str) -> str | None:
        """Ask the cluster; raise when it cannot be asked."""


class IdentityForwarder:
    """The stable callable a task's context holds; each batch plugs in its container's source.

    Tasks live as long as their pipeline, while the source belongs to the cluster a batch
    came from, so the context forwards to whatever source the current batch installed.
    """

    def __init__(self) -> None:
        self.source: TopicIdentities | None = None

    def __call__(self, topic: str, refresh: bool) -> str | None:
        source = self.source
        return None if source is None else source.identity(topic, refresh)
