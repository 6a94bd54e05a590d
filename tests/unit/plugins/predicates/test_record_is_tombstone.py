"""RecordIsTombstone: true exactly when the value is null (Kafka has no unit test; behaviour from KIP-585)."""

from __future__ import annotations

from typing import Any

import pytest
from lambda_connect.api import Schema, SinkRecord, Type
from lambda_connect.plugins.predicates.record_is_tombstone import RecordIsTombstone

from ..transforms._vector_support import build, resolve_builtin, run_vector, vectors_for


@pytest.mark.parametrize("vector", vectors_for(RecordIsTombstone.name))
def test_acceptance_vector(vector: dict[str, Any]) -> None:
    run_vector(RecordIsTombstone, vector)


def test_registered_under_kafka_name() -> None:
    assert resolve_builtin("org.apache.kafka.connect.transforms.predicates.RecordIsTombstone") is RecordIsTombstone


@pytest.mark.parametrize(
    ("key", "value_schema", "value", "expected"),
    [
        ("k", None, None, True),
        (None, Schema(Type.STRING, optional=True), None, True),
        (None, None, {}, False),
        ("k", None, "", False),
        (None, None, 0, False),
    ],
)
def test_test(key: Any, value_schema: Schema | None, value: Any, expected: bool) -> None:
    rec = SinkRecord("t", 0, None, key, value_schema, value, 0)
    assert build(RecordIsTombstone, {}).test(rec) is expected
