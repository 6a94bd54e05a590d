"""Mirrors Kafka's HeaderFromTest."""

from __future__ import annotations

from typing import Any

import pytest
from lambda_connect.api import ConfigException, DataException, Header, Schema, SourceRecord, Struct, Type
from lambda_connect.api.data import INT32_SCHEMA, STRING_SCHEMA
from lambda_connect.plugins.transforms.header_from import HeaderFrom

from ._vector_support import build, resolve_builtin, run_vector, vectors_for

EXISTING = [Header("header1", "existing-value")]


def config(fields: str, headers: str, operation: str, **extra: str) -> dict[str, str]:
    return {"fields": fields, "headers": headers, "operation": operation, **extra}


def value_record(schema: Schema | None, value: Any, headers: list[Header] = EXISTING) -> SourceRecord:
    return SourceRecord(None, None, "topic", 0, None, "key", schema, value, 0, headers)


def header_pairs(rec: Any) -> list[tuple[str, Any]]:
    return [(h.key, h.value) for h in rec.headers]


@pytest.mark.parametrize("vector", vectors_for(HeaderFrom.Key.name, HeaderFrom.Value.name))
def test_acceptance_vector(vector: dict[str, Any]) -> None:
    cls = HeaderFrom.Key if vector["transform"].endswith("$Key") else HeaderFrom.Value
    run_vector(cls, vector)


def test_registered_under_kafka_names() -> None:
    assert resolve_builtin("org.apache.kafka.connect.transforms.HeaderFrom$Value") is HeaderFrom.Value
    assert resolve_builtin("org.apache.kafka.connect.transforms.HeaderFrom$Key") is HeaderFrom.Key


def test_schemaless_key_basic_move() -> None:
    rec = SourceRecord(None, None, "topic", 0, None, {"field1": "v1", "field2": "v2"}, None, "value", 0, EXISTING)
    out = build(HeaderFrom.Key, config("field1", "inserted1", "move")).apply(rec)
    assert out.key == {"field2": "v2"}
    assert out.value == "value"
    assert header_pairs(out) == [("header1", "existing-value"), ("inserted1", "v1")]
    assert rec.key == {"field1": "v1", "field2": "v2"}, "input must not be mutated"
    assert header_pairs(rec) == [("header1", "existing-value")]


def test_schemaless_copy_one_field_to_two_headers() -> None:
    xform = build(HeaderFrom.Value, config("field1,field1", "inserted1,inserted2", "copy"))
    out = xform.apply(value_record(None, {"field1": "v1", "field2": "v2"}))
    assert out.value == {"field1": "v1", "field2": "v2"}
    assert header_pairs(out) == [("header1", "existing-value"), ("inserted1", "v1"), ("inserted2", "v1")]


def test_schemaless_missing_field_gives_null_header() -> None:
    out = build(HeaderFrom.Value, config("absent", "h", "move")).apply(value_record(None, {"a": 1}))
    assert out.value == {"a": 1}
    assert header_pairs(out)[-1] == ("h", None)


def test_with_schema_move_removes_field_and_header_carries_its_schema() -> None:
    schema = Schema.struct([("field1", STRING_SCHEMA), ("field2", INT32_SCHEMA)], name="row", version=2)
    value = Struct(schema, {"field1": "v1", "field2": 2})
    xform = build(HeaderFrom.Value, config("field1,field2", "inserted1,inserted2", "move"))

    out = xform.apply(value_record(schema, value))

    assert out.value_schema.fields == () and out.value_schema.name == "row" and out.value_schema.version == 2
    added = list(out.headers)[1:]
    assert [(h.key, h.value, h.schema) for h in added] == [
        ("inserted1", "v1", STRING_SCHEMA),
        ("inserted2", 2, INT32_SCHEMA),
    ]
    assert xform.apply(value_record(schema, value)).value_schema is out.value_schema


def test_with_schema_copy_keeps_value() -> None:
    schema = Schema.struct([("field1", STRING_SCHEMA), ("field2", STRING_SCHEMA)])
    value = Struct(schema, {"field1": "v1", "field2": "v2"})
    out = build(HeaderFrom.Value, config("field2", "h", "copy")).apply(value_record(schema, value))
    assert out.value is value and out.value_schema is schema
    assert header_pairs(out)[-1] == ("h", "v2")


@pytest.mark.parametrize(("replace", "expected"), [("true", 42), ("false", None)])
def test_replace_null_with_default(replace: str, expected: int | None) -> None:
    schema = Schema.struct([("f", Schema(Type.INT32, optional=True, default=42)), ("g", INT32_SCHEMA)])
    value = Struct(schema, {"f": None, "g": 1})
    xform = build(HeaderFrom.Value, config("f", "h", "copy", **{"replace.null.with.default": replace}))
    assert header_pairs(xform.apply(value_record(schema, value)))[-1] == ("h", expected)


def test_with_schema_unknown_field_fails() -> None:
    schema = Schema.struct([("a", STRING_SCHEMA)])
    with pytest.raises(DataException, match="absent"):
        build(HeaderFrom.Value, config("absent", "h", "copy")).apply(value_record(schema, Struct(schema, {"a": "x"})))


def test_null_value_fails_schemaless_and_with_schema() -> None:
    xform = build(HeaderFrom.Value, config("a", "h", "copy"))
    with pytest.raises(DataException, match=r"Schemaless header copy needs a map"):
        xform.apply(value_record(None, None))
    schema = Schema.struct([("a", STRING_SCHEMA)], optional=True)
    with pytest.raises(DataException, match=r"Only Struct objects supported for \[header copy\]"):
        xform.apply(value_record(schema, None))


def test_config_rejects_different_list_lengths() -> None:
    with pytest.raises(ConfigException, match="'fields' config must have the same number of elements as 'headers'"):
        build(HeaderFrom.Value, config("a,b", "h", "copy"))


def test_config_rejects_unknown_operation() -> None:
    with pytest.raises(ConfigException, match="operation"):
        build(HeaderFrom.Value, config("a", "h", "steal"))


def test_config_rejects_empty_fields() -> None:
    with pytest.raises(ConfigException, match="fields"):
        build(HeaderFrom.Value, config("", "h", "copy"))


def test_config_rejects_missing_headers() -> None:
    with pytest.raises(ConfigException, match='Missing required configuration "headers"'):
        build(HeaderFrom.Value, {"fields": "a", "operation": "copy"})
