"""KIP-875 offsets of sink connectors, read and edited in their Kafka consumer groups with the
confluent-kafka AdminClient (``list_consumer_group_offsets``, ``alter_consumer_group_offsets``,
``delete_consumer_groups``; ``list_offsets`` finds the earliest offset of a partition reset).

The REST layer only edits offsets of STOPPED connectors, whose event source mappings are
disabled, so the groups have no active members and the broker accepts the changes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from lambda_connect.api.errors import ConnectException
from lambda_connect.runtime.sink_offsets import SinkOffset, group_for

from .kafka_clients import KafkaSettings, kafka_settings_from_env, make_admin

if TYPE_CHECKING:
    from confluent_kafka.admin import AdminClient

__all__ = ["KafkaSinkOffsets"]

#: Group states in which the broker accepts offset changes from outside the group.
_IDLE_STATES = frozenset({"EMPTY", "DEAD"})


class KafkaSinkOffsets:
    """:class:`~lambda_connect.runtime.sink_offsets.SinkOffsets` against a Kafka cluster."""

    def __init__(self, admin_factory: Callable[[], AdminClient], *, timeout: float = 30.0) -> None:
        self._admin_factory = admin_factory
        self._admin: AdminClient | None = None
        self.timeout = timeout

    @classmethod
    def from_settings(cls, settings: KafkaSettings, **kwargs: Any) -> KafkaSinkOffsets:
        return cls(lambda: make_admin(settings), **kwargs)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> KafkaSinkOffsets:
        """Cluster settings are read on first use, so an API without Kafka access still serves
        every endpoint except sink offsets."""
        import os

        return cls(lambda: make_admin(kafka_settings_from_env(os.environ if env is None else env)))

    @property
    def admin(self) -> AdminClient:
        if self._admin is None:
            self._admin = self._admin_factory()
        return self._admin

    def cluster_id(self) -> str:
        """The Kafka cluster id (``GET /`` reports it as ``kafka_cluster_id``)."""
        return str(self.admin.describe_cluster(request_timeout=self.timeout).result(timeout=self.timeout).cluster_id)

    def _groups(self, groups_by_topic: Mapping[str, str]) -> list[str]:
        return sorted(set(groups_by_topic.values()))

    def _owns(self, group: str, topic: str, groups_by_topic: Mapping[str, str]) -> bool:
        return group_for(topic, groups_by_topic) == group

    def get(self, connector: str, groups_by_topic: Mapping[str, str]) -> list[SinkOffset]:
        from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException

        out: list[SinkOffset] = []
        for group in self._groups(groups_by_topic):
            future = self.admin.list_consumer_group_offsets(
                [ConsumerGroupTopicPartitions(group)], request_timeout=self.timeout
            )[group]
            try:
                result = future.result(timeout=self.timeout)
            except KafkaException as e:
                raise ConnectException(f"Failed to read the offsets of consumer group {group}: {e}") from e
            for tp in result.topic_partitions or []:
                if tp.error is not None or tp.offset < 0:
                    continue
                if self._owns(group, tp.topic, groups_by_topic):
                    out.append((tp.topic, tp.partition, tp.offset))
        return sorted(out)

    def _earliest(self, partitions: Iterable[tuple[str, int]]) -> dict[tuple[str, int], int]:
        from confluent_kafka import TopicPartition
        from confluent_kafka.admin import OffsetSpec

        request = {TopicPartition(t, p): OffsetSpec.earliest() for t, p in partitions}
        if not request:
            return {}
        futures = self.admin.list_offsets(request, request_timeout=self.timeout)
        return {(tp.topic, tp.partition): f.result(timeout=self.timeout).offset for tp, f in futures.items()}

    def alter(self, connector: str, groups_by_topic: Mapping[str, str], offsets: Iterable[SinkOffset]) -> None:
        from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException, TopicPartition

        wanted = list(offsets)
        earliest = self._earliest((t, p) for t, p, o in wanted if o is None)
        by_group: dict[str, list[TopicPartition]] = {}
        for topic, partition, offset in wanted:
            value = earliest[(topic, partition)] if offset is None else offset
            by_group.setdefault(group_for(topic, groups_by_topic), []).append(TopicPartition(topic, partition, value))
        for group, partitions in sorted(by_group.items()):
            future = self.admin.alter_consumer_group_offsets(
                [ConsumerGroupTopicPartitions(group, partitions)], request_timeout=self.timeout
            )[group]
            try:
                result = future.result(timeout=self.timeout)
            except KafkaException as e:
                raise ConnectException(f"Failed to alter the offsets of consumer group {group}: {e}") from e
            failed = [f"{tp.topic}-{tp.partition}: {tp.error}" for tp in result.topic_partitions if tp.error]
            if failed:
                raise ConnectException(f"Failed to alter the offsets of consumer group {group}: {'; '.join(failed)}")

    def check_idle(self, connector: str, groups_by_topic: Mapping[str, str]) -> None:
        """Raise ConnectException while a group still has members: the broker would refuse the
        change, and the connector's own positions must not move before the groups can."""
        from confluent_kafka import KafkaError, KafkaException

        groups = self._groups(groups_by_topic)
        futures = self.admin.describe_consumer_groups(groups, request_timeout=self.timeout)
        for group in groups:
            try:
                described = futures[group].result(timeout=self.timeout)
            except KafkaException as e:
                error = e.args[0] if e.args else None
                if isinstance(error, KafkaError) and error.code() == KafkaError.GROUP_ID_NOT_FOUND:
                    continue
                raise ConnectException(f"Failed to describe consumer group {group}: {e}") from e
            members = len(described.members or [])
            state = getattr(described.state, "name", str(described.state))
            if members or state not in _IDLE_STATES:
                raise ConnectException(
                    f"Consumer group {group} of connector {connector} is not idle yet ({members} member(s), state "
                    f"{state}): its event source mapping is still stopping. Nothing was changed; try again in a "
                    "few seconds"
                )

    def reset(self, connector: str, groups_by_topic: Mapping[str, str]) -> None:
        from confluent_kafka import KafkaError, KafkaException

        groups = self._groups(groups_by_topic)
        futures = self.admin.delete_consumer_groups(groups, request_timeout=self.timeout)
        for group in groups:
            try:
                futures[group].result(timeout=self.timeout)
            except KafkaException as e:
                error = e.args[0] if e.args else None
                if isinstance(error, KafkaError) and error.code() == KafkaError.GROUP_ID_NOT_FOUND:
                    continue
                raise ConnectException(f"Failed to reset the offsets of consumer group {group}: {e}") from e

