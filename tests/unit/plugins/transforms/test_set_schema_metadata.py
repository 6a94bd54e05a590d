"""SetSchemaMetadata, mirroring Kafka's SetSchemaMetadataTest."""

from __future__ import annotations

import pytest
from lambda_connect.api.data import INT32_SCHEMA, STRING_SCHEMA, Schema, Struct, Type
from lambda_connect.api.errors import ConfigException, DataException
from lambda_connect.plugins.transforms.set_schema_metadata import SetSchemaMetadata

from tests.unit.plugins.transforms.smt_a_support import make, run_vector, sink, vectors_for


def test_config_requires_name_or_version() -> None:
    with pytest.raises(ConfigException, match="Neither schema name nor version configured") as info:
        make(SetSchemaMetadata.Value)
    assert {"schema.name", "schema.version"} <= set(info.value.errors)


def test_config_rejects_non_integer_version() -> None:
    with pytest.raises(ConfigException) as info:
        make(SetSchemaMetadata.Value, **{"schema.version": "x"})
    assert "schema.version" in info.value.errors


def test_name_only_keeps_version() -> None:
    schema = Schema(Type.INT32, name="old", version=3, doc="d")
    result = make(SetSchemaMetadata.Key, **{"schema.name": "foo"}).apply(sink("v", key=1, key_schema=schema))
    assert (result.key_schema.name, result.key_schema.version, result.key_schema.doc) == ("foo", 3, "d")
    assert result.key == 1 and result.value == "v"


def test_version_only_keeps_name() -> None:
    schema = Schema(Type.INT32, name="old")
    result = make(SetSchemaMetadata.Value, **{"schema.version": "42"}).apply(sink(1, schema))
    assert (result.value_schema.name, result.value_schema.version) == ("old", 42)


def test_struct_rebuilt_against_new_schema_nested_untouched() -> None:
    nested = Schema.struct([("x", INT32_SCHEMA)], name="nested")
    schema = Schema.struct([("f1", STRING_SCHEMA), ("n", nested)], name="orig")
    value = Struct(schema, {"f1": "a", "n": Struct(nested, {"x": 1})})
    result = make(SetSchemaMetadata.Value, **{"schema.name": "foo", "schema.version": "2"}).apply(sink(value, schema))
    assert result.value.schema is result.value_schema
    assert result.value_schema.field("n").schema is nested
    assert result.value.to_dict() == {"f1": "a", "n": {"x": 1}}


@pytest.mark.parametrize(("replace", "expected"), [("true", "default"), ("false", None)])
def test_null_struct_field_default(replace: str, expected: str | None) -> None:
    schema = Schema.struct([("f1", Schema(Type.STRING, optional=True, default="default"))])
    transform = make(SetSchemaMetadata.Value, **{"schema.name": "foo", "replace.null.with.default": replace})
    result = transform.apply(sink(Struct(schema, {"f1": None}), schema))
    assert result.value.get_without_default("f1") == expected


def test_schemaless_value_is_rejected() -> None:
    with pytest.raises(DataException, match=r"Schema required for \[updating schema metadata\]"):
        make(SetSchemaMetadata.Value, **{"schema.name": "foo"}).apply(sink({"a": 1}))


def test_null_value_with_schema_renames_schema() -> None:
    schema = Schema(Type.INT32, optional=True, name="old")
    result = make(SetSchemaMetadata.Value, **{"schema.name": "foo"}).apply(sink(None, schema))
    assert result.value is None and result.value_schema.name == "foo" and result.value_schema.optional


@pytest.mark.parametrize("vector", vectors_for("SetSchemaMetadata"))
def test_acceptance_vector(vector: dict) -> None:
    run_vector(vector)
