"""Mirrors Kafka's InsertHeaderTest."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from lambda_connect.api import ConfigException, Header, SourceRecord
from lambda_connect.api.data import BOOLEAN_SCHEMA, INT8_SCHEMA, STRING_SCHEMA, Date
from lambda_connect.plugins.transforms.insert_header import InsertHeader

from ._vector_support import build, resolve_builtin, run_vector, vectors_for


def record(*headers: tuple[str, Any]) -> SourceRecord:
    return SourceRecord(None, None, "topic", 0, None, "key", None, "value", 0, [Header(k, v) for k, v in headers])


def inserted(literal: str) -> Header:
    out = build(InsertHeader, {"header": "inserted", "value.literal": literal}).apply(record())
    return list(out.headers)[-1]


@pytest.mark.parametrize("vector", vectors_for(InsertHeader.name))
def test_acceptance_vector(vector: dict[str, Any]) -> None:
    run_vector(InsertHeader, vector)


def test_registered_under_kafka_name() -> None:
    assert resolve_builtin("org.apache.kafka.connect.transforms.InsertHeader") is InsertHeader


def test_insertion_with_existing_other_header() -> None:
    rec = record(("existing", "existing-value"))
    out = build(InsertHeader, {"header": "inserted", "value.literal": "inserted-value"}).apply(rec)
    assert [(h.key, h.value) for h in out.headers] == [("existing", "existing-value"), ("inserted", "inserted-value")]
    assert len(rec.headers) == 1, "input headers must not be mutated"
    assert (out.topic, out.key, out.value, out.timestamp) == ("topic", "key", "value", 0)


def test_insertion_with_existing_same_header_appends() -> None:
    out = build(InsertHeader, {"header": "inserted", "value.literal": "new"}).apply(record(("inserted", "old")))
    assert [(h.key, h.value) for h in out.headers] == [("inserted", "old"), ("inserted", "new")]


@pytest.mark.parametrize(
    ("literal", "value", "schema"),
    [
        ("1", 1, INT8_SCHEMA),
        ("true", True, BOOLEAN_SCHEMA),
        ("inserted-value", "inserted-value", STRING_SCHEMA),
        ("2024-02-29", dt.date(2024, 2, 29), Date.schema()),
    ],
)
def test_literal_is_parsed_like_simple_header_converter(literal: str, value: Any, schema: Any) -> None:
    header = inserted(literal)
    assert header.value == value
    assert header.schema == schema


def test_config_rejects_null_header_key() -> None:
    with pytest.raises(ConfigException, match='Missing required configuration "header"'):
        build(InsertHeader, {"value.literal": "v"})


def test_config_rejects_null_header_value() -> None:
    with pytest.raises(ConfigException, match=r'Missing required configuration "value\.literal"'):
        build(InsertHeader, {"header": "inserted"})
