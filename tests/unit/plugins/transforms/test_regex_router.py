"""Mirrors Kafka's RegexRouterTest, plus the Java-vs-Python regex differences we translate."""

from __future__ import annotations

from typing import Any

import pytest
from lambda_connect.api import ConfigException, SinkRecord
from lambda_connect.plugins.transforms.regex_router import RegexRouter

from ._vector_support import build, resolve_builtin, run_vector, vectors_for


def apply(regex: str, replacement: str, topic: str) -> str:
    rec = SinkRecord(topic, 0, None, None, None, None, 0)
    return build(RegexRouter, {"regex": regex, "replacement": replacement}).apply(rec).topic


@pytest.mark.parametrize("vector", vectors_for(RegexRouter.name))
def test_acceptance_vector(vector: dict[str, Any]) -> None:
    run_vector(RegexRouter, vector)


def test_registered_under_kafka_name() -> None:
    assert resolve_builtin("org.apache.kafka.connect.transforms.RegexRouter") is RegexRouter


@pytest.mark.parametrize(
    ("regex", "replacement", "topic", "expected"),
    [
        ("foo", "bar", "foo", "bar"),  # staticReplacement
        ("foo", "bar", "orig", "orig"),  # doesntMatch
        ("(.*)", "$1", "orig", "orig"),  # identity
        ("(.*)", "prefix-$1", "orig", "prefix-orig"),  # addPrefix
        ("(.*)", "$1-suffix", "orig", "orig-suffix"),  # addSuffix
        (r"(.*)-(\d\d\d\d\d\d\d\d)", "$1", "index-20160117", "index"),  # slice
        ("foo", "bar", "foobar", "foobar"),  # only a whole-topic match routes
        (r"(?<name>[a-z]+)\.v(?<ver>\d+)", "${name}_${ver}", "orders.v2", "orders_2"),
        ("(.*)", r"\$1-$1", "t", "$1-t"),  # backslash escapes the dollar
        ("(a)", "$10", "a", "a0"),  # $10 is group 1 then '0' when there is no group 10
        ("a|ab", "X", "ab", "Xb"),  # replaceFirst re-searches: the first match is 'a'
        ("(x)?y", "[$1]", "y", "[]"),  # an unmatched group expands to nothing
        (r"\Qa.b\E", "dot", "a.b", "dot"),  # \Q..\E quotes
        (r"\Qa.b\E", "dot", "axb", "axb"),
        (r"(\d+)", "n$1", "\u0663", "\u0663"),  # Java's \d is ASCII-only
    ],
)
def test_routes(regex: str, replacement: str, topic: str, expected: str) -> None:
    assert apply(regex, replacement, topic) == expected


def test_keeps_everything_but_the_topic() -> None:
    rec = SinkRecord("index-1", 4, None, "k", None, {"v": 1}, 17, 99)
    out = build(RegexRouter, {"regex": r"(.*)-\d", "replacement": "$1"}).apply(rec)
    assert out.topic == "index"
    assert (out.kafka_partition, out.key, out.value, out.timestamp, out.kafka_offset) == (4, "k", {"v": 1}, 99, 17)
    assert (out.original_topic, out.original_kafka_partition, out.original_kafka_offset) == ("index-1", 4, 17)


@pytest.mark.parametrize(
    ("regex", "message"),
    [
        ("[", "Invalid regex"),
        (r"\p{Lu}+", r"\p"),
        ("[a-z&&[^aeiou]]", "Invalid regex"),
    ],
)
def test_config_rejects_invalid_regex(regex: str, message: str) -> None:
    with pytest.raises(ConfigException, match="regex") as info:
        build(RegexRouter, {"regex": regex, "replacement": "x"})
    assert message in str(info.value)
    assert "regex" in info.value.errors


@pytest.mark.parametrize(
    ("replacement", "message"),
    [
        ("$2", "No group 2"),
        ("${missing}", "No group with name {missing}"),
        ("end$", "group index is missing"),
        ("end\\", "character to be escaped is missing"),
        ("$x", "Illegal group reference"),
    ],
)
def test_config_rejects_bad_group_references(replacement: str, message: str) -> None:
    with pytest.raises(ConfigException, match="replacement") as info:
        build(RegexRouter, {"regex": "(.*)", "replacement": replacement})
    assert message in str(info.value)


def test_config_rejects_missing_replacement() -> None:
    with pytest.raises(ConfigException, match='Missing required configuration "replacement"'):
        build(RegexRouter, {"regex": "(.*)"})
