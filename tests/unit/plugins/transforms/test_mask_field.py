"""MaskField, mirroring Kafka's MaskFieldTest."""

from __future__ import annotations

import datetime as dt
import decimal

import pytest
from lambda_connect.api.data import (
    BYTES_SCHEMA,
    FLOAT32_SCHEMA,
    INT8_SCHEMA,
    INT32_SCHEMA,
    STRING_SCHEMA,
    UTC,
    Date,
    Decimal,
    Schema,
    Struct,
    Timestamp,
    Type,
)
from lambda_connect.api.errors import ConfigException, DataException
from lambda_connect.plugins.transforms.mask_field import MaskField

from tests.unit.plugins.transforms.smt_a_support import make, run_vector, sink, vectors_for

VALUES = {"magic": 42, "bool": True, "long": 42, "double": 42.0, "string": "55.121.20.20", "list": [42],
          "map": {"key": "value"}, "decimal": decimal.Decimal("4.2"), "date": dt.date(2020, 1, 2)}


def mask(fields: str, **props: str) -> MaskField:
    return make(MaskField.Value, fields=fields, **props)


def test_config_requires_non_empty_fields() -> None:
    with pytest.raises(ConfigException) as info:
        mask("")
    assert "fields" in info.value.errors


def test_config_rejects_empty_replacement() -> None:
    with pytest.raises(ConfigException, match="String must be non-empty") as info:
        mask("a", replacement="")
    assert "replacement" in info.value.errors


def test_schemaless_masks_to_empty_values() -> None:
    result = mask("bool,long,double,string,list,map,decimal,date").apply(sink(dict(VALUES))).value
    assert result == {"magic": 42, "bool": False, "long": 0, "double": 0.0, "string": "", "list": [], "map": {},
                      "decimal": decimal.Decimal(0), "date": dt.date(1970, 1, 1)}


def test_schemaless_does_not_mutate_input_and_adds_missing_fields() -> None:
    original = {"a": 1}
    assert mask("a,absent").apply(sink(original)).value == {"a": 0, "absent": None}
    assert original == {"a": 1}


@pytest.mark.parametrize(
    ("field", "replacement", "expected"),
    [("long", "123", 123), ("double", "123", 123.0), ("string", "xxx", "xxx"), ("long", "12.7", 12),
     ("decimal", "12.5", decimal.Decimal("12.5"))],
)
def test_schemaless_replacement_converted_to_value_type(field: str, replacement: str, expected: object) -> None:
    result = mask(field, replacement=replacement).apply(sink(dict(VALUES))).value[field]
    assert result == expected and type(result) is type(expected)


@pytest.mark.parametrize("field", ["bool", "list", "map", "date"])
def test_replacement_for_unsupported_types_fails(field: str) -> None:
    with pytest.raises(DataException, match=r"Cannot mask value of type .* with custom replacement\."):
        mask(field, replacement="123").apply(sink(dict(VALUES)))


def test_replacement_not_a_number_fails() -> None:
    with pytest.raises(DataException, match=r"Unable to convert foo \(class java.lang.String\) to number"):
        mask("long", replacement="foo").apply(sink(dict(VALUES)))


def test_unmaskable_type_fails() -> None:
    with pytest.raises(DataException, match=r"Cannot mask value of type: class \[B"):
        mask("b").apply(sink({"b": b"raw"}))


@pytest.mark.parametrize("schema", [None, Schema.struct([("a", INT32_SCHEMA)], optional=True)])
def test_null_value_fails(schema: Schema | None) -> None:
    with pytest.raises(DataException, match=r"Schemaless .* needs a map|Only Struct objects supported"):
        mask("a").apply(sink(None, schema))


def test_with_schema_masks_and_keeps_schema() -> None:
    schema = Schema.struct([
        ("magic", INT32_SCHEMA), ("byte", INT8_SCHEMA), ("float", FLOAT32_SCHEMA), ("string", STRING_SCHEMA),
        ("date", Date.schema()), ("ts", Timestamp.schema()), ("dec", Decimal.schema(2)),
        ("arr", Schema.array(INT32_SCHEMA)), ("opt", Schema(Type.STRING, optional=True)),
    ])
    value = Struct(schema, {"magic": 42, "byte": 42, "float": 4.5, "string": "s", "date": dt.date(2020, 1, 1),
                            "ts": dt.datetime(2020, 1, 1, tzinfo=UTC), "dec": decimal.Decimal("4.20"),
                            "arr": [1], "opt": None})
    result = mask("byte,float,string,date,ts,dec,arr,opt,absent").apply(sink(value, schema))
    assert result.value_schema is schema
    assert result.value.to_dict() == {
        "magic": 42, "byte": 0, "float": 0.0, "string": "", "date": dt.date(1970, 1, 1),
        "ts": dt.datetime(1970, 1, 1, tzinfo=UTC), "dec": decimal.Decimal(0), "arr": [], "opt": None,
    }


def test_with_schema_replacement_narrows_to_field_width() -> None:
    schema = Schema.struct([("byte", INT8_SCHEMA), ("float", FLOAT32_SCHEMA)])
    value = Struct(schema, {"byte": 1, "float": 1.0})
    result = mask("byte,float", replacement="300.1").apply(sink(value, schema)).value
    assert result.to_dict() == {"byte": 44, "float": 300.1000061035156}


def test_with_schema_bytes_cannot_be_masked() -> None:
    schema = Schema.struct([("b", BYTES_SCHEMA)])
    with pytest.raises(DataException, match="Cannot mask value of type"):
        mask("b").apply(sink(Struct(schema, {"b": b"x"}), schema))


@pytest.mark.parametrize(("replace", "expected"), [("true", ""), ("false", None)])
def test_null_field_with_default(replace: str, expected: str | None) -> None:
    schema = Schema.struct([("f", Schema(Type.STRING, optional=True, default="default"))])
    result = mask("f", **{"replace.null.with.default": replace}).apply(sink(Struct(schema, {"f": None}), schema))
    assert result.value.get_without_default("f") == expected


def test_key_variant() -> None:
    result = make(MaskField.Key, fields="k").apply(sink("v", key={"k": "secret"}))
    assert (result.key, result.value) == ({"k": ""}, "v")


@pytest.mark.parametrize("vector", vectors_for("MaskField"))
def test_acceptance_vector(vector: dict) -> None:
    run_vector(vector)
