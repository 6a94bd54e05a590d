"""Mirrors Kafka's ReplaceFieldTest."""

from __future__ import annotations

from typing import Any

import pytest
from lambda_connect.api import ConfigException, DataException, Schema, SinkRecord, Struct, Type
from lambda_connect.api.data import BOOLEAN_SCHEMA, INT32_SCHEMA, STRING_SCHEMA
from lambda_connect.plugins.transforms.replace_field import ReplaceField

from ._vector_support import build, resolve_builtin, run_vector, vectors_for


def record(value_schema: Schema | None, value: Any) -> SinkRecord:
    return SinkRecord("test", 0, None, None, value_schema, value, 0)


@pytest.mark.parametrize("vector", vectors_for(ReplaceField.Key.name, ReplaceField.Value.name))
def test_acceptance_vector(vector: dict[str, Any]) -> None:
    cls = ReplaceField.Key if vector["transform"].endswith("$Key") else ReplaceField.Value
    run_vector(cls, vector)


def test_registered_under_kafka_names() -> None:
    assert resolve_builtin("org.apache.kafka.connect.transforms.ReplaceField$Value") is ReplaceField.Value
    assert resolve_builtin("org.apache.kafka.connect.transforms.ReplaceField$Key") is ReplaceField.Key


def test_tombstone_schemaless() -> None:
    rec = record(None, None)
    assert build(ReplaceField.Value, {"include": "abc,foo", "renames": "abc:xyz,foo:bar"}).apply(rec) is rec


def test_tombstone_with_schema() -> None:
    schema = Schema.struct([("abc", INT32_SCHEMA)], optional=True)
    rec = record(schema, None)
    assert build(ReplaceField.Value, {"include": "abc", "renames": "abc:xyz"}).apply(rec) is rec


def test_schemaless() -> None:
    xform = build(ReplaceField.Value, {"exclude": "dont", "renames": "abc:xyz,foo:bar"})
    value = {"dont": "whatever", "abc": 42, "foo": True, "etc": "etc"}
    out = xform.apply(record(None, value))
    assert out.value == {"xyz": 42, "bar": True, "etc": "etc"}
    assert value == {"dont": "whatever", "abc": 42, "foo": True, "etc": "etc"}, "input must not be mutated"


def test_schemaless_include_renames_after_filtering() -> None:
    xform = build(ReplaceField.Value, {"include": "abc,foo", "renames": "abc:xyz,foo:bar"})
    out = xform.apply(record(None, {"dont": "whatever", "abc": 42, "foo": True, "etc": "etc"}))
    assert out.value == {"xyz": 42, "bar": True}


def test_exclude_wins_over_include() -> None:
    xform = build(ReplaceField.Value, {"include": "a,b", "exclude": "b"})
    assert xform.apply(record(None, {"a": 1, "b": 2, "c": 3})).value == {"a": 1}


def test_schemaless_requires_map() -> None:
    expected = r"Schemaless field replacement needs a map"
    with pytest.raises(DataException, match=expected):
        build(ReplaceField.Value, {"exclude": "a"}).apply(record(None, 42))


def test_with_schema_keeps_order_and_schema_basics() -> None:
    schema = Schema.struct(
        [("dont", STRING_SCHEMA), ("abc", INT32_SCHEMA), ("foo", BOOLEAN_SCHEMA), ("etc", STRING_SCHEMA)],
        name="com.example.Row",
        version=3,
        doc="a row",
    )
    value = Struct(schema, {"dont": "whatever", "abc": 42, "foo": True, "etc": "etc"})
    xform = build(ReplaceField.Value, {"exclude": "dont", "renames": "abc:xyz,foo:bar"})

    out = xform.apply(record(schema, value))

    assert [(f.name, f.schema) for f in out.value_schema.fields] == [
        ("xyz", INT32_SCHEMA),
        ("bar", BOOLEAN_SCHEMA),
        ("etc", STRING_SCHEMA),
    ]
    assert (out.value_schema.name, out.value_schema.version, out.value_schema.doc) == ("com.example.Row", 3, "a row")
    assert out.value.to_dict() == {"xyz": 42, "bar": True, "etc": "etc"}
    assert xform.apply(record(schema, value)).value_schema is out.value_schema


def test_key_variant_leaves_value_alone() -> None:
    key_schema = Schema.struct([("id", INT32_SCHEMA), ("tenant", STRING_SCHEMA)])
    rec = SinkRecord("t", 0, key_schema, Struct(key_schema, {"id": 1, "tenant": "x"}), STRING_SCHEMA, "v", 9)
    out = build(ReplaceField.Key, {"exclude": "tenant"}).apply(rec)
    assert out.key.to_dict() == {"id": 1}
    assert (out.value_schema, out.value) == (STRING_SCHEMA, "v")


@pytest.mark.parametrize(("replace", "expected"), [("true", 42), ("false", None)])
def test_replace_null_with_default(replace: str, expected: int | None) -> None:
    schema = Schema.struct([("abc", Schema(Type.INT32, optional=True, default=42))])
    xform = build(ReplaceField.Value, {"renames": "abc:renamed", "replace.null.with.default": replace})
    out = xform.apply(record(schema, Struct(schema, {"abc": None})))
    assert out.value.get_without_default("renamed") == expected
    assert out.value_schema.field("renamed").schema.default == 42


@pytest.mark.parametrize("renames", ["a:b:c", "ab", "a:", "a:b,c"])
def test_config_rejects_malformed_renames(renames: str) -> None:
    with pytest.raises(ConfigException, match="Invalid rename mapping") as info:
        build(ReplaceField.Value, {"renames": renames})
    assert "renames" in info.value.errors


def test_config_rejects_non_boolean_replace_null_with_default() -> None:
    with pytest.raises(ConfigException, match=r"replace\.null\.with\.default"):
        build(ReplaceField.Value, {"replace.null.with.default": "yes"})
