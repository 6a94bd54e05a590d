"""Cast, mirroring Kafka's CastTest: whole-value and per-field casts, with and without schemas."""

from __future__ import annotations

import datetime as dt
import decimal

import pytest
from lambda_connect.api.data import (
    FLOAT32_SCHEMA,
    INT32_SCHEMA,
    INT64_SCHEMA,
    OPTIONAL_INT32_SCHEMA,
    STRING_SCHEMA,
    UTC,
    Date,
    Decimal,
    Schema,
    Struct,
    Time,
    Timestamp,
    Type,
)
from lambda_connect.api.errors import ConfigException, DataException
from lambda_connect.plugins.transforms.cast import Cast

from tests.unit.plugins.transforms.smt_a_support import make, run_vector, sink, vectors_for


def cast_value(spec: str, **props: str) -> Cast:
    return make(Cast.Value, spec=spec, **props)


def whole(spec: str, value: object, schema: Schema | None = None) -> object:
    return cast_value(spec).apply(sink(value, schema)).value


# --- configuration ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "Must specify at least one field to cast."),
        ("foo:int8,int32", "must be the only entry"),
        ("foo:int8:int32", "Invalid cast mapping: foo:int8:int32"),
        ("foo:faketype", "Invalid type found in casting spec: faketype"),
        ("array", "cannot cast to ARRAY"),
        ("foo:bytes", "cannot cast to BYTES"),
        ("foo:int8,", "Invalid type found in casting spec: "),
    ],
)
def test_config_rejects_invalid_spec(spec: str, message: str) -> None:
    with pytest.raises(ConfigException) as info:
        cast_value(spec)
    assert message in str(info.value)
    assert "spec" in info.value.errors


def test_config_requires_spec() -> None:
    with pytest.raises(ConfigException, match='Missing required configuration "spec"'):
        make(Cast.Value)


def test_types_are_case_insensitive_and_trimmed() -> None:
    assert cast_value(" foo : INT8 ").apply(sink({"foo": 300})).value == {"foo": 44}


def test_variants_carry_kafka_names() -> None:
    assert Cast.Key.name == "org.apache.kafka.connect.transforms.Cast$Key"
    assert Cast.Value.name == "org.apache.kafka.connect.transforms.Cast$Value"


# --- schemaless whole-value -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("spec", "value", "expected"),
    [
        ("int8", 42, 42),
        ("int8", 300, 44),
        ("int16", 70000, 4464),
        ("int32", 2147483648, -2147483648),
        ("int64", 42.9, 42),
        ("int32", -42.9, -42),
        ("int32", 1e20, 2147483647),
        ("int8", 1e20, -1),
        ("int64", float("nan"), 0),
        ("int32", True, 1),
        ("int32", "-42", -42),
        ("float32", 0.1, 0.10000000149011612),
        ("float64", 42, 42.0),
        ("float64", "1.5e3", 1500.0),
        ("float64", " 2.5d ", 2.5),
        ("float32", "1e40", float("inf")),
        ("boolean", 42, True),
        ("boolean", 0, False),
        ("boolean", 0.5, False),
        ("boolean", "TRUE", True),
        ("boolean", "yes", False),
        ("string", 42, "42"),
        ("string", 42.0, "42.0"),
        ("string", 1e7, "1.0E7"),
        ("string", 0.0001, "1.0E-4"),
        ("string", True, "true"),
        ("string", b"bytes", "Ynl0ZXM="),
    ],
)
def test_schemaless_whole_value(spec: str, value: object, expected: object) -> None:
    result = whole(spec, value)
    assert result == expected and type(result) is type(expected)


@pytest.mark.parametrize(("spec", "text"), [("int8", "128"), ("int32", " 1"), ("int32", "1_000"), ("int64", "4.5"),
                                            ("float64", "inf"), ("float64", "abc")])
def test_schemaless_string_out_of_range(spec: str, text: str) -> None:
    with pytest.raises(DataException, match=rf"Value \({text}\) was out of range for requested data type"):
        whole(spec, text)


@pytest.mark.parametrize(("value", "message"), [
    ([1], "cannot cast from ARRAY"),
    ({"a": 1}, "cannot cast from MAP"),
    (decimal.Decimal(1), "java.math.BigDecimal, which has no Connect data type"),
])
def test_schemaless_unsupported_input(value: object, message: str) -> None:
    with pytest.raises(DataException, match=message):
        whole("int32", value)


def test_bytes_only_cast_to_string() -> None:
    with pytest.raises(DataException, match=r"Unexpected type in Cast transformation: class \[B"):
        whole("int32", b"\x01")


def test_null_passes_through_untouched() -> None:
    record = sink(None, key="k")
    assert cast_value("foo:int64").apply(record) is record


def test_key_variant_only_touches_key() -> None:
    record = sink({"v": "1"}, key=42)
    result = make(Cast.Key, spec="string").apply(record)
    assert (result.key, result.value) == ("42", {"v": "1"})


# --- schemaless fields ---------------------------------------------------------------------------
def test_schemaless_fields_cast_and_missing_added_as_null() -> None:
    transform = cast_value("int8:int16,string:int32,bool:boolean,absent:string")
    original = {"int8": 8, "string": "42", "bool": "true", "other": [1]}
    result = transform.apply(sink(original)).value
    assert result == {"int8": 8, "string": 42, "bool": True, "other": [1], "absent": None}
    assert original == {"int8": 8, "string": "42", "bool": "true", "other": [1]}


def test_schemaless_field_cast_needs_a_map() -> None:
    with pytest.raises(DataException, match=r"Schemaless cast types needs a map"):
        cast_value("foo:int8").apply(sink(42))


# --- with schema --------------------------------------------------------------------------------
def test_whole_value_with_schema_changes_type_and_keeps_metadata() -> None:
    schema = Schema(Type.INT32, optional=True, name="my.name", version=3, doc="d", default=7)
    result = cast_value("string").apply(sink(42, schema))
    assert result.value == "42"
    assert result.value_schema == Schema(Type.STRING, optional=True, name="my.name", version=3, doc="d", default="7")


def test_float32_to_string_uses_float_rendering() -> None:
    assert whole("string", 0.10000000149011612, FLOAT32_SCHEMA) == "0.1"


def test_struct_fields_cast_with_schema() -> None:
    schema = Schema.struct([
        ("int8", Schema(Type.INT8)),
        ("optional", OPTIONAL_INT32_SCHEMA),
        ("float64", Schema(Type.FLOAT64, default=1.5)),
        ("string", STRING_SCHEMA),
        ("untouched", INT64_SCHEMA),
    ], name="rec", version=2)
    value = Struct(schema, {"int8": 8, "optional": None, "float64": -42.125, "string": "1", "untouched": 5})
    result = cast_value("int8:int32,optional:string,float64:int32,string:boolean").apply(sink(value, schema))
    out_schema = result.value_schema
    assert (out_schema.name, out_schema.version) == ("rec", 2)
    assert [(f.name, f.schema.type, f.schema.optional) for f in out_schema.fields] == [
        ("int8", Type.INT32, False), ("optional", Type.STRING, True), ("float64", Type.INT32, False),
        ("string", Type.BOOLEAN, False), ("untouched", Type.INT64, False),
    ]
    assert out_schema.field("float64").schema.default == 1
    assert result.value.to_dict() == {"int8": 8, "optional": None, "float64": -42, "string": False, "untouched": 5}


def test_schema_is_cached_per_input_schema() -> None:
    schema = Schema.struct([("a", INT32_SCHEMA)])
    transform = cast_value("a:string")
    first = transform.apply(sink(Struct(schema, {"a": 1}), schema)).value_schema
    second = transform.apply(sink(Struct(schema, {"a": 2}), schema)).value_schema
    assert first is second


@pytest.mark.parametrize(("replace", "expected"), [("true", "10"), ("false", None)])
def test_null_field_uses_cast_default_only_when_replacing(replace: str, expected: str | None) -> None:
    schema = Schema.struct([("magic", Schema(Type.INT32, optional=True, default=10))])
    transform = cast_value("magic:string", **{"replace.null.with.default": replace})
    result = transform.apply(sink(Struct(schema, {"magic": None}), schema))
    assert result.value.get_without_default("magic") == expected
    assert result.value_schema.field("magic").schema.default == "10"


def test_logical_values_cast_to_string_in_iso_forms() -> None:
    schema = Schema.struct([
        ("date", Date.schema()), ("time", Time.schema()), ("ts", Timestamp.schema()), ("dec", Decimal.schema(2)),
    ])
    value = Struct(schema, {
        "date": dt.date(2017, 1, 3), "time": dt.time(13, 5, 1, 234000),
        "ts": dt.datetime(2017, 1, 3, 6, 30, 1, 864000, tzinfo=UTC), "dec": decimal.Decimal("1.56"),
    })
    result = cast_value("date:string,time:string,ts:string,dec:string").apply(sink(value, schema)).value
    assert result.to_dict() == {"date": "2017-01-03", "time": "13:05:01.234Z", "ts": "2017-01-03T06:30:01.864Z",
                                "dec": "1.56"}


def test_logical_values_cast_to_numbers_use_their_encoding() -> None:
    schema = Schema.struct([("date", Date.schema()), ("ts", Timestamp.schema()), ("dec", Decimal.schema(0))])
    value = Struct(schema, {"date": dt.date(1970, 1, 2), "ts": dt.datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC),
                            "dec": decimal.Decimal(2147483648)})
    result = cast_value("date:int32,ts:float64,dec:int32").apply(sink(value, schema)).value
    assert result.to_dict() == {"date": 1, "ts": 1000.0, "dec": -2147483648}
    assert [f.schema.name for f in result.schema.fields] == [None, None, None]


def test_unsupported_field_type_with_schema() -> None:
    schema = Schema.struct([("arr", Schema.array(INT32_SCHEMA))])
    with pytest.raises(DataException, match="cannot cast from ARRAY"):
        cast_value("arr:string").apply(sink(Struct(schema, {"arr": [1]}), schema))


def test_field_cast_with_schema_needs_a_struct() -> None:
    with pytest.raises(DataException, match=r"Only Struct objects supported for \[cast types\]"):
        cast_value("a:int8").apply(sink(42, INT32_SCHEMA))


# --- acceptance vectors ---------------------------------------------------------------------------
@pytest.mark.parametrize("vector", vectors_for("Cast"))
def test_acceptance_vector(vector: dict) -> None:
    run_vector(vector)
