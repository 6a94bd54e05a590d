"""Topic identities from admin-client answers a real broker cannot be made to give (no topic ids,
no cluster id, a topic deleted between two calls); the real broker's answers are covered by
tests/integration/connectors/test_topic_reset.py."""

from __future__ import annotations

from concurrent.futures import Future
from types import SimpleNamespace
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from lambda_connect.aws.topic_identity import KafkaTopicIdentities


def done(value: Any = None, error: BaseException | None = None) -> Future[Any]:
    future: Future[Any] = Future()
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(value)
    return future


class Admin:
    """Answers like confluent-kafka's AdminClient for one topic."""

    def __init__(self, topic_id: str | None, cluster_id: str | None, missing: bool = False) -> None:
        self.topic_id, self.cluster_id, self.missing = topic_id, cluster_id, missing

    def describe_topics(self, topics: Any, request_timeout: float) -> dict[str, Future[Any]]:
        (name,) = topics.topic_names
        if self.missing:
            return {name: done(error=KafkaException(KafkaError(KafkaError.UNKNOWN_TOPIC_OR_PART)))}
        return {name: done(SimpleNamespace(name=name, topic_id=self.topic_id))}

    def describe_cluster(self, request_timeout: float) -> Future[Any]:
        return done(SimpleNamespace(cluster_id=self.cluster_id))


def test_identity_is_cluster_and_topic_id() -> None:
    assert KafkaTopicIdentities(lambda: Admin("AaJRBq", "c1")).identity("t") == "c1/AaJRBq"


def test_a_broker_without_topic_ids_still_tells_clusters_apart() -> None:
    assert KafkaTopicIdentities(lambda: Admin("AAAAAAAAAAAAAAAAAAAAAA", "c1")).identity("t") == "c1/no-topic-id"
    assert KafkaTopicIdentities(lambda: Admin(None, "c1")).identity("t") == "c1/no-topic-id"
    assert KafkaTopicIdentities(lambda: Admin("AaJRBq", None)).identity("t") == "unknown-cluster/AaJRBq"


def test_a_missing_topic_has_no_identity() -> None:
    assert KafkaTopicIdentities(lambda: Admin("x", "c1", missing=True)).identity("t") is None


def test_each_lookup_uses_a_client_of_its_own_and_the_cache_answers_the_rest() -> None:
    made: list[Admin] = []

    def factory() -> Admin:
        made.append(Admin("AaJRBq", "c1"))
        return made[-1]

    ids = KafkaTopicIdentities(factory)
    assert [ids.identity("t") for _ in range(3)] == ["c1/AaJRBq"] * 3
    assert len(made) == 1
    made[0].topic_id = "changed"  # a client kept around would now answer differently
    assert ids.identity("t", refresh=True) == "c1/AaJRBq" and len(made) == 2
