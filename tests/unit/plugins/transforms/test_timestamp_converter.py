"""TimestampConverter, mirroring Kafka's TimestampConverterTest (UTC, millisecond pivot)."""

from __future__ import annotations

import datetime as dt

import pytest
from lambda_connect.api.data import (
    INT64_SCHEMA,
    OPTIONAL_INT64_SCHEMA,
    STRING_SCHEMA,
    UTC,
    Date,
    Schema,
    Struct,
    Time,
    Timestamp,
    Type,
)
from lambda_connect.api.errors import ConfigException, DataException
from lambda_connect.plugins.transforms.timestamp_converter import TimestampConverter

from tests.unit.plugins.transforms.smt_a_support import make, run_vector, sink, vectors_for

FORMAT = "yyyy MM dd HH mm ss SSS z"
DATE_PLUS_TIME_MS = 86_401_234  # 1970-01-02T00:00:01.234Z
DATE_PLUS_TIME_STRING = "1970 01 02 00 00 01 234 UTC"
TIMESTAMP = dt.datetime(1970, 1, 2, 0, 0, 1, 234000, tzinfo=UTC)


def converter(target: str, **props: str) -> TimestampConverter:
    return make(TimestampConverter.Value, **{"target.type": target, **props})


def convert(target: str, value: object, schema: Schema | None = None, **props: str) -> tuple[Schema | None, object]:
    result = converter(target, **props).apply(sink(value, schema))
    return result.value_schema, result.value


# --- configuration ------------------------------------------------------------------------------
def test_config_requires_target_type() -> None:
    with pytest.raises(ConfigException, match=r'Missing required configuration "target\.type"'):
        make(TimestampConverter.Value)


@pytest.mark.parametrize("target", ["invalid", "timestamp", "STRING"])
def test_config_target_type_is_case_sensitive(target: str) -> None:
    with pytest.raises(ConfigException) as info:
        converter(target)
    assert "target.type" in info.value.errors


def test_config_string_target_requires_format() -> None:
    with pytest.raises(ConfigException, match="needs a pattern in 'format'") as info:
        converter("string")
    assert "format" in info.value.errors


def test_config_rejects_invalid_format() -> None:
    with pytest.raises(ConfigException, match="cannot use this as a SimpleDateFormat pattern") as info:
        converter("string", format="bad-pattern")
    assert "format" in info.value.errors


def test_config_rejects_invalid_unix_precision() -> None:
    with pytest.raises(ConfigException) as info:
        converter("unix", **{"unix.precision": "minutes"})
    assert "unix.precision" in info.value.errors


# --- schemaless ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("target", "props", "value", "expected"),
    [
        ("Timestamp", {}, TIMESTAMP, TIMESTAMP),
        ("Date", {}, TIMESTAMP, dt.date(1970, 1, 2)),
        ("Time", {}, TIMESTAMP, dt.time(0, 0, 1, 234000)),
        ("unix", {}, TIMESTAMP, DATE_PLUS_TIME_MS),
        ("string", {"format": FORMAT}, TIMESTAMP, DATE_PLUS_TIME_STRING),
        ("Timestamp", {}, DATE_PLUS_TIME_MS, TIMESTAMP),
        ("Timestamp", {"format": FORMAT}, DATE_PLUS_TIME_STRING, TIMESTAMP),
        ("unix", {"format": FORMAT}, DATE_PLUS_TIME_STRING, DATE_PLUS_TIME_MS),
        ("string", {"format": "yyyy-MM-dd'T'HH:mm:ss.SSSXXX"}, dt.date(1970, 1, 2), "1970-01-02T00:00:00.000Z"),
        ("unix", {}, dt.time(0, 0, 1, 234000), 1234),
    ],
)
def test_schemaless_conversions(target: str, props: dict, value: object, expected: object) -> None:
    assert convert(target, value, **props) == (None, expected)


@pytest.mark.parametrize(
    ("precision", "unix_input", "expected_ms"),
    [("seconds", 86401, 86_401_000), ("milliseconds", 86401234, 86_401_234),
     ("microseconds", 86401234123, 86_401_234), ("nanoseconds", 86401234123456, 86_401_234),
     ("microseconds", -1500, -1)],
)
def test_unix_precision_interprets_long_input(precision: str, unix_input: int, expected_ms: int) -> None:
    _, value = convert("Timestamp", unix_input, **{"unix.precision": precision})
    assert Timestamp.from_logical(None, value) == expected_ms


@pytest.mark.parametrize(
    ("precision", "expected"),
    [("seconds", 86401), ("milliseconds", 86401234), ("microseconds", 86401234000), ("nanoseconds", 86401234000000)],
)
def test_unix_precision_scales_output(precision: str, expected: int) -> None:
    assert convert("unix", TIMESTAMP, **{"unix.precision": precision}) == (None, expected)


def test_sub_millisecond_digits_are_truncated() -> None:
    value = dt.datetime(1970, 1, 2, 0, 0, 1, 234567, tzinfo=UTC)
    assert convert("unix", value, **{"unix.precision": "microseconds"}) == (None, 86401234000)


def test_schemaless_field_conversion_keeps_other_fields() -> None:
    original = {"ts": DATE_PLUS_TIME_MS, "other": "x"}
    _, value = convert("string", original, field="ts", format=FORMAT)
    assert value == {"ts": DATE_PLUS_TIME_STRING, "other": "x"}
    assert original["ts"] == DATE_PLUS_TIME_MS


def test_schemaless_null_value_and_null_field() -> None:
    assert convert("Date", None, field="ts") == (None, None)
    assert convert("Date", {"ts": None}, field="ts") == (None, {"ts": None})


def test_unparseable_string_names_value_and_pattern() -> None:
    with pytest.raises(DataException, match=r"Could not parse timestamp: value \(garbage\) does not match pattern "
                                            r"\(yyyy MM dd HH mm ss SSS z\)"):
        convert("unix", "garbage", format=FORMAT)


@pytest.mark.parametrize("value", [1.5, True, [1]])
def test_schemaless_unsupported_types(value: object) -> None:
    with pytest.raises(DataException, match="TimestampConverter does not support"):
        convert("unix", value)


def test_schemaless_field_requires_map() -> None:
    with pytest.raises(DataException, match=r"Schemaless .* needs a map"):
        convert("unix", 42, field="ts")


# --- with schema --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("target", "props", "expected_schema", "expected"),
    [
        ("Timestamp", {}, Timestamp.schema(), TIMESTAMP),
        ("Date", {}, Date.schema(), dt.date(1970, 1, 2)),
        ("Time", {}, Time.schema(), dt.time(0, 0, 1, 234000)),
        ("unix", {}, INT64_SCHEMA, DATE_PLUS_TIME_MS),
        ("string", {"format": FORMAT}, STRING_SCHEMA, DATE_PLUS_TIME_STRING),
    ],
)
def test_with_schema_whole_value(target: str, props: dict, expected_schema: Schema, expected: object) -> None:
    assert convert(target, TIMESTAMP, Timestamp.schema(), **props) == (expected_schema, expected)


def test_with_schema_string_input() -> None:
    assert convert("Timestamp", DATE_PLUS_TIME_STRING, STRING_SCHEMA, format=FORMAT) == (Timestamp.schema(), TIMESTAMP)


def test_with_schema_keeps_optionality() -> None:
    assert convert("Date", None, OPTIONAL_INT64_SCHEMA) == (Date.schema(optional=True), None)


def test_with_schema_rejects_unknown_timestamp_schema() -> None:
    with pytest.raises(DataException, match="none of the timestamp forms"):
        convert("unix", 1.5, Schema(Type.FLOAT64))


def test_with_schema_field_conversion_drops_default_and_keeps_others() -> None:
    schema = Schema.struct([("ts", Schema(Type.INT64, optional=True, default=5)), ("other", STRING_SCHEMA)],
                           name="rec")
    value = Struct(schema, {"ts": DATE_PLUS_TIME_MS, "other": "x"})
    out_schema, out = convert("Timestamp", value, schema, field="ts")
    assert out_schema == Schema.struct([("ts", Timestamp.schema(optional=True)), ("other", STRING_SCHEMA)],
                                       name="rec")
    assert out.to_dict() == {"ts": TIMESTAMP, "other": "x"}


@pytest.mark.parametrize(("replace", "expected"), [("true", dt.datetime(1970, 1, 1, 0, 0, 0, 5000, tzinfo=UTC)),
                                                   ("false", None)])
def test_with_schema_null_field_default_follows_replace_null(replace: str, expected: object) -> None:
    schema = Schema.struct([("ts", Schema(Type.INT64, optional=True, default=5))])
    _, out = convert("Timestamp", Struct(schema, {"ts": None}), schema, field="ts",
                     **{"replace.null.with.default": replace})
    assert out.get("ts") == expected


def test_with_schema_null_struct_keeps_converted_schema() -> None:
    schema = Schema.struct([("ts", INT64_SCHEMA)], optional=True)
    out_schema, out = convert("Date", None, schema, field="ts")
    assert out is None and out_schema.field("ts").schema == Date.schema()


def test_key_variant() -> None:
    transform = make(TimestampConverter.Key, **{"target.type": "unix"})
    result = transform.apply(sink("v", key=TIMESTAMP))
    assert (result.key, result.value) == (DATE_PLUS_TIME_MS, "v")


@pytest.mark.parametrize("vector", vectors_for("TimestampConverter"))
def test_acceptance_vector(vector: dict) -> None:
    run_vector(vector)
