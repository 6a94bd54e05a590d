"""Topic identities from the cluster itself: ``describe_topics`` (topic id, KIP-516) and
``describe_cluster`` (cluster id), with the confluent-kafka AdminClient.

A Lambda Kafka event names topics but not their incarnation, so the sink handler asks the
cluster the event came from, once per container and topic (see ``runtime.topic_identity``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lambda_connect.runtime.topic_identity import CachedTopicIdentities, format_identity

__all__ = ["KafkaTopicIdentities"]

_ZERO_UUID = "AAAAAAAAAAAAAAAAAAAAAA"  # Kafka's Uuid.ZERO_UUID in its base64 form


class KafkaTopicIdentities(CachedTopicIdentities):
    """Identities of the topics of one cluster; ``admin`` makes a client for each lookup.

    The client is dropped right after the lookup instead of kept for the container's life:
    lookups are rare (once per container and topic, plus refreshes), and an idle client that
    has cached a topic's metadata keeps refreshing it for as long as it lives — librdkafka
    has been seen to crash in that refresh once the topic was deleted and the broker gone.
    """

    def __init__(self, admin: Callable[[], Any], *, timeout: float = 5.0) -> None:
        super().__init__()
        self._admin_factory = admin
        self.timeout = timeout

    def _lookup(self, topic: str) -> str | None:
        from confluent_kafka import KafkaError, KafkaException, TopicCollection

        admin = self._admin_factory()
        future = admin.describe_topics(TopicCollection([topic]), request_timeout=self.timeout)[topic]
        try:
            described = future.result(timeout=self.timeout)
        except KafkaException as e:
            error = e.args[0] if e.args else None
            if isinstance(error, KafkaError) and error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                return None  # deleted meanwhile: nothing to compare against until it exists again
            raise
        topic_id = str(described.topic_id) if described.topic_id is not None else None
        if topic_id == _ZERO_UUID:
            topic_id = None
        # Asked with every lookup: a new broker behind the same address, such as a restarted
        # embedded broker, has a new cluster id.
        cluster = admin.describe_cluster(request_timeout=self.timeout).result(timeout=self.timeout).cluster_id
        return format_identity(str(cluster) if cluster else None, topic_id)
