"""Mirrors Kafka's ValueToKeyTest."""

from __future__ import annotations

from typing import Any

import pytest
from lambda_connect.api import ConfigException, DataException, Schema, SinkRecord, Struct, Type
from lambda_connect.api.data import INT32_SCHEMA, STRING_SCHEMA
from lambda_connect.plugins.transforms.value_to_key import ValueToKey

from ._vector_support import build, resolve_builtin, run_vector, vectors_for


def record(value_schema: Schema | None, value: Any) -> SinkRecord:
    return SinkRecord("", 0, None, None, value_schema, value, 0)


@pytest.mark.parametrize("vector", vectors_for(ValueToKey.name))
def test_acceptance_vector(vector: dict[str, Any]) -> None:
    run_vector(ValueToKey, vector)


def test_registered_under_kafka_name() -> None:
    assert resolve_builtin("org.apache.kafka.connect.transforms.ValueToKey") is ValueToKey


def test_schemaless() -> None:
    out = build(ValueToKey, {"fields": "a,b"}).apply(record(None, {"a": 1, "b": 2, "c": 3}))
    assert out.key == {"a": 1, "b": 2}
    assert out.key_schema is None
    assert out.value == {"a": 1, "b": 2, "c": 3}


def test_schemaless_missing_field_is_null() -> None:
    out = build(ValueToKey, {"fields": "a,zz"}).apply(record(None, {"a": 1}))
    assert out.key == {"a": 1, "zz": None}


def test_with_schema_key_follows_config_order() -> None:
    schema = Schema.struct([("a", INT32_SCHEMA), ("b", STRING_SCHEMA), ("c", INT32_SCHEMA)], name="value.Row")
    value = Struct(schema, {"a": 1, "b": "two", "c": 3})
    xform = build(ValueToKey, {"fields": "b,a"})

    out = xform.apply(record(schema, value))

    assert out.key_schema == Schema.struct([("b", STRING_SCHEMA), ("a", INT32_SCHEMA)])
    assert out.key_schema.name is None and not out.key_schema.optional
    assert out.key.to_dict() == {"b": "two", "a": 1}
    assert out.value is value and out.value_schema is schema
    assert xform.apply(record(schema, value)).key_schema is out.key_schema


def test_non_existing_field() -> None:
    schema = Schema.struct([("a", INT32_SCHEMA)])
    with pytest.raises(DataException, match=r"^Field does not exist: not_exist$"):
        build(ValueToKey, {"fields": "not_exist"}).apply(record(schema, Struct(schema, {"a": 1})))


@pytest.mark.parametrize(("replace", "expected"), [("true", 42), ("false", None)])
def test_replace_null_with_default(replace: str, expected: int | None) -> None:
    schema = Schema.struct([("optional_with_default", Schema(Type.INT32, optional=True, default=42))])
    xform = build(ValueToKey, {"fields": "optional_with_default", "replace.null.with.default": replace})
    out = xform.apply(record(schema, Struct(schema, {"optional_with_default": None})))
    assert out.key.get_without_default("optional_with_default") == expected


def test_tombstone_fails() -> None:
    with pytest.raises(DataException, match=r"copying fields from value to key"):
        build(ValueToKey, {"fields": "a"}).apply(record(None, None))


def test_config_rejects_empty_fields() -> None:
    with pytest.raises(ConfigException, match="fields"):
        build(ValueToKey, {"fields": ""})


def test_config_rejects_missing_fields() -> None:
    with pytest.raises(ConfigException, match='Missing required configuration "fields"'):
        build(ValueToKey, {})
