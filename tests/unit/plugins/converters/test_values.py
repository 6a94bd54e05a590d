"""Values.parse_string / convert_to_string / infer_schema, checked against Kafka's ValuesTest behaviour."""

from __future__ import annotations

import datetime as dt
import decimal

import pytest
from lambda_connect.api.data import (
    BOOLEAN_SCHEMA,
    FLOAT32_SCHEMA,
    FLOAT64_SCHEMA,
    INT8_SCHEMA,
    INT16_SCHEMA,
    INT32_SCHEMA,
    INT64_SCHEMA,
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
from lambda_connect.api.values import convert_to_string, infer_schema, java_double_string, parse_string


@pytest.mark.parametrize(
    ("text", "schema", "value"),
    [
        ("", STRING_SCHEMA, ""),
        ("true", BOOLEAN_SCHEMA, True),
        ("\n \t false \t\n", BOOLEAN_SCHEMA, False),
        ("1", INT8_SCHEMA, 1),
        ("127", INT8_SCHEMA, 127),
        ("-128", INT8_SCHEMA, -128),
        ("128", INT16_SCHEMA, 128),
        ("32768", INT32_SCHEMA, 32768),
        ("2147483648", INT64_SCHEMA, 2147483648),
        ("9223372036854775807", INT64_SCHEMA, 2**63 - 1),
        ("1.0", INT8_SCHEMA, 1),
        ("0012", INT8_SCHEMA, 12),
        ("1.5", FLOAT32_SCHEMA, 1.5),
        ("3.4028235E38", FLOAT32_SCHEMA, 3.4028235e38),
        ("1.7976931348623157E308", FLOAT64_SCHEMA, 1.7976931348623157e308),
        ("simple string", STRING_SCHEMA, "simple string"),
        ("true}", STRING_SCHEMA, "true}"),
        ("false]", STRING_SCHEMA, "false]"),
        ("null=", STRING_SCHEMA, "null="),
        ("[foo]", STRING_SCHEMA, "[foo]"),
        ("{foo: 3}", STRING_SCHEMA, "{foo: 3}"),
        ("{3: foo}", STRING_SCHEMA, "{3: foo}"),
        ("{6:9 4:20}", STRING_SCHEMA, "{6:9 4:20}"),
        ("[0 1 2]", STRING_SCHEMA, "[0 1 2]"),
        ("[1, 2, 3,,,]", STRING_SCHEMA, "[1, 2, 3,,,]"),
        ("{null: 3}", STRING_SCHEMA, "{null: 3}"),
        ("a:b", STRING_SCHEMA, "a:b"),
        ("\uffff", STRING_SCHEMA, "\uffff"),
    ],
)
def test_parse_string_infers_the_narrowest_schema(text: str, schema: Schema, value: object) -> None:
    parsed = parse_string(text)
    assert parsed.schema == schema
    assert parsed.value == value
    assert type(parsed.value) is type(value)


def test_null_text_and_none_are_null() -> None:
    assert tuple(parse_string("null")) == (None, None)
    assert tuple(parse_string(" null ")) == (None, None)
    assert tuple(parse_string(None)) == (None, None)


def test_integers_beyond_64_bits_become_decimals_of_scale_zero() -> None:
    parsed = parse_string(str(2**63))
    assert parsed.schema == Decimal.schema(0)
    assert parsed.value == decimal.Decimal(2**63)


def test_iso_strings_become_temporal_logical_types() -> None:
    date = parse_string("2019-08-23")
    assert (date.schema, date.value) == (Date.schema(), dt.date(2019, 8, 23))
    time = parse_string("14:34:54.346Z")
    assert (time.schema, time.value) == (Time.schema(), dt.time(14, 34, 54, 346000))
    ts = parse_string("2019-08-23T14:34:54.346Z")
    assert (ts.schema, ts.value) == (Timestamp.schema(), dt.datetime(2019, 8, 23, 14, 34, 54, 346000, tzinfo=UTC))
    escaped = parse_string("2019-08-23T14\\:34\\:54.346Z")
    assert escaped.value == ts.value
    assert parse_string("2019-13-45").schema == STRING_SCHEMA


def test_arrays_and_maps_get_element_schemas() -> None:
    arr = parse_string("[1, 2, 32768]")
    assert arr.schema == Schema.array(INT32_SCHEMA)
    assert arr.value == [1, 2, 32768]
    assert parse_string("[1, 2.5]").value == [1.0, 2.5]
    assert parse_string("[true, false]").schema == Schema.array(BOOLEAN_SCHEMA)
    m = parse_string('{ "foo" : "123", \n"bar" : "baz" } ')
    assert m.schema == Schema.map(STRING_SCHEMA, STRING_SCHEMA)
    assert m.value == {"foo": "123", "bar": "baz"}
    shorts = parse_string('{"foo":12345,"bar":0,"baz":-4321}')
    assert shorts.schema == Schema.map(STRING_SCHEMA, INT16_SCHEMA)
    dates = parse_string("[2019-08-23T14:34:54.346Z,2019-01-23T15:12:34.567Z,   2019-04-23T19:12:34.567Z]")
    assert dates.schema.value_schema == Timestamp.schema()
    assert len(dates.value) == 3
    quoted_time = parse_string('{"k1":"14:34:54.346Z"}')
    assert quoted_time.schema.value_schema == Time.schema()
    assert parse_string('["a\\"b", "c"]').value == ['a"b', "c"]


def test_mixed_and_null_elements_leave_no_element_schema() -> None:
    mixed = parse_string('[1, 2, 3, "four", 5]')
    assert mixed.schema.type is Type.ARRAY
    assert mixed.schema.value_schema is None
    assert mixed.value == [1, 2, 3, "four", 5]
    nulls = parse_string("[null]")
    assert nulls.schema.value_schema is None and nulls.value == [None]
    null_values = parse_string("{3: null}")
    assert null_values.schema.key_schema == INT8_SCHEMA
    assert null_values.value == {3: None}
    assert parse_string("{}").value == {} and parse_string("[]").value == []


def test_convert_to_string_round_trips_through_parse_string() -> None:
    value = {"a": [1, 2, None], "b": 'quote"back\\slash', "c": True}
    text = convert_to_string(None, value)
    assert text == '{"a":[1,2,null],"b":"quote\\"back\\\\slash","c":true}'
    assert parse_string(text).value == value


def test_convert_to_string_formats_like_java() -> None:
    assert convert_to_string(None, None) is None
    assert convert_to_string(BOOLEAN_SCHEMA, False) == "false"
    assert convert_to_string(FLOAT64_SCHEMA, 1.0) == "1.0"
    assert convert_to_string(FLOAT64_SCHEMA, 1e20) == "1.0E20"
    assert convert_to_string(None, b"hi") == "aGk="
    assert convert_to_string(None, decimal.Decimal("1.50")) == "1.50"
    assert convert_to_string(None, dt.date(2019, 8, 23)) == "2019-08-23"
    assert convert_to_string(None, dt.time(14, 34, 54, 346000)) == "14:34:54.346Z"
    moment = dt.datetime(2019, 8, 23, 14, 34, 54, 346000, tzinfo=UTC)
    assert convert_to_string(None, moment) == "2019-08-23T14:34:54.346Z"
    schema = Schema.struct([("id", INT32_SCHEMA), ("name", STRING_SCHEMA)])
    assert convert_to_string(schema, Struct(schema, {"id": 1, "name": "x"})) == '{"id":1,"name":"x"}'
    assert java_double_string(1.5e-5) == "1.5E-5"
    assert java_double_string(12345678.0) == "1.2345678E7"


def test_infer_schema() -> None:
    assert infer_schema("x") == STRING_SCHEMA
    assert infer_schema(1) == INT64_SCHEMA
    assert infer_schema(1.5) == FLOAT64_SCHEMA
    assert infer_schema(True) == BOOLEAN_SCHEMA
    assert infer_schema([1, 2]) == Schema.array(INT64_SCHEMA)
    assert infer_schema([1, None]) == Schema.array(Schema(Type.INT64, optional=True))
    assert infer_schema({"a": "b"}) == Schema.map(STRING_SCHEMA, STRING_SCHEMA)
    assert infer_schema([1, "a"]) is None
    assert infer_schema([]) is None
    assert infer_schema(None) is None
    assert infer_schema(decimal.Decimal("1.25")) == Decimal.schema(2)
    assert infer_schema(dt.date(2020, 1, 1)) == Date.schema()
