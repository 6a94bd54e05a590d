"""Mirrors Kafka's HasHeaderKeyTest."""

from __future__ import annotations

from typing import Any

import pytest
from lambda_connect.api import ConfigException, Header, SourceRecord
from lambda_connect.plugins.predicates.has_header_key import HasHeaderKey

from ..transforms._vector_support import build, resolve_builtin, run_vector, vectors_for


def record(*names: str) -> SourceRecord:
    return SourceRecord(None, None, "topic", headers=[Header(n, None) for n in names])


@pytest.mark.parametrize("vector", vectors_for(HasHeaderKey.name))
def test_acceptance_vector(vector: dict[str, Any]) -> None:
    run_vector(HasHeaderKey, vector)


def test_registered_under_kafka_name() -> None:
    assert resolve_builtin("org.apache.kafka.connect.transforms.predicates.HasHeaderKey") is HasHeaderKey


def test_name_required_in_config() -> None:
    with pytest.raises(ConfigException, match='Missing required configuration "name"'):
        build(HasHeaderKey, {})


def test_name_may_not_be_empty_in_config() -> None:
    with pytest.raises(ConfigException, match="String must be non-empty"):
        build(HasHeaderKey, {"name": ""})


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (("foo",), True),
        (("foo", "bar"), True),
        (("bar", "foo", "bar", "foo"), True),
        (("bar",), False),
        (("bar", "bar"), False),
        ((), False),
        (("Foo",), False),
    ],
)
def test_test(headers: tuple[str, ...], expected: bool) -> None:
    assert build(HasHeaderKey, {"name": "foo"}).test(record(*headers)) is expected
