"""Mirrors Kafka's TopicNameMatchesTest."""

from __future__ import annotations

from typing import Any

import pytest
from lambda_connect.api import ConfigException, SourceRecord
from lambda_connect.plugins.predicates.topic_name_matches import TopicNameMatches

from ..transforms._vector_support import build, resolve_builtin, run_vector, vectors_for


def matches(pattern: str, topic: str | None) -> bool:
    return build(TopicNameMatches, {"pattern": pattern}).test(SourceRecord(None, None, topic))  # type: ignore[arg-type]


@pytest.mark.parametrize("vector", vectors_for(TopicNameMatches.name))
def test_acceptance_vector(vector: dict[str, Any]) -> None:
    run_vector(TopicNameMatches, vector)


def test_registered_under_kafka_name() -> None:
    assert resolve_builtin("org.apache.kafka.connect.transforms.predicates.TopicNameMatches") is TopicNameMatches


def test_pattern_required_in_config() -> None:
    with pytest.raises(ConfigException, match='Missing required configuration "pattern"'):
        build(TopicNameMatches, {})


def test_pattern_may_not_be_empty_in_config() -> None:
    with pytest.raises(ConfigException, match="String must be non-empty"):
        build(TopicNameMatches, {"pattern": ""})


def test_pattern_is_valid_regex_in_config() -> None:
    with pytest.raises(ConfigException, match="Invalid regex") as info:
        build(TopicNameMatches, {"pattern": "["})
    assert "pattern" in info.value.errors


def test_java_only_unicode_classes_are_rejected() -> None:
    with pytest.raises(ConfigException, match=r"Invalid regex: Unicode property classes \(\\p"):
        build(TopicNameMatches, {"pattern": r"\p{Alpha}+"})


@pytest.mark.parametrize(
    ("topic", "expected"),
    [("my-prefix-", True), ("my-prefix-foo", True), ("x-my-prefix-", False), ("x-my-prefix-foo", False), (None, False)],
)
def test_test(topic: str | None, expected: bool) -> None:
    assert matches("my-prefix-.*", topic) is expected


@pytest.mark.parametrize(
    ("pattern", "topic", "expected"),
    [
        (r"(?<env>dev|prod)\.orders", "prod.orders", True),
        (r"(?<env>dev|prod)\.\k<env>", "dev.dev", True),
        (r"(?<env>dev|prod)\.\k<env>", "dev.prod", False),
        (r"\Q.*\E", ".*", True),
        (r"\Q.*\E", "anything", False),
        (r"orders\z", "orders", True),
        (r"(?i)ORDERS", "orders", True),
        (r"\w+", "caf\u00e9", False),  # Java's \w is ASCII-only
        (r"a\hb", "a\u00a0b", True),
    ],
)
def test_java_regex_dialect(pattern: str, topic: str, expected: bool) -> None:
    assert matches(pattern, topic) is expected
