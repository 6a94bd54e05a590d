"""JsonConverter: envelopes, every type both ways, Kafka's error messages, the acceptance vectors."""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json
from typing import Any

import orjson
import pytest
from lambda_connect.api.converter import HeaderConverter
from lambda_connect.api.data import (
    BOOLEAN_SCHEMA,
    BYTES_SCHEMA,
    FLOAT32_SCHEMA,
    FLOAT64_SCHEMA,
    INT8_SCHEMA,
    INT16_SCHEMA,
    INT32_SCHEMA,
    INT64_SCHEMA,
    OPTIONAL_STRING_SCHEMA,
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
from lambda_connect.plugins.converters.json import ENVELOPE_ERROR, JsonConverter

from tests.acceptance.vectors import SMT_VECTORS_PATH

VECTORS = SMT_VECTORS_PATH


def converter(**props: str) -> JsonConverter:
    return JsonConverter(JsonConverter.config_def.parse(props), is_key=False)


def envelope(data: bytes | None) -> Any:
    assert data is not None
    return orjson.loads(data)


# --- configuration --------------------------------------------------------------------------


def test_config_defaults_and_validation() -> None:
    c = converter()
    assert c.schemas_enabled is True
    assert c.config["schemas.cache.size"] == 1000
    assert c.config["decimal.format"] == "BASE64"
    assert c.config["replace.null.with.default"] is True
    assert converter(**{"decimal.format": "numeric"}).codec.decimal_numeric is True
    with pytest.raises(ConfigException, match=r"decimal\.format"):
        converter(**{"decimal.format": "HEX"})


def test_usable_as_header_converter() -> None:
    c = converter()
    assert isinstance(c, HeaderConverter)
    data = c.from_connect_header("t", "h", INT32_SCHEMA, 5)
    assert envelope(data) == {"schema": {"type": "int32", "optional": False}, "payload": 5}
    assert c.to_connect_header("t", "h", data).value == 5


# --- schema JSON ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("schema", "type_name", "value", "payload"),
    [
        (BOOLEAN_SCHEMA, "boolean", True, True),
        (INT8_SCHEMA, "int8", 12, 12),
        (INT16_SCHEMA, "int16", 12, 12),
        (INT32_SCHEMA, "int32", 12, 12),
        (INT64_SCHEMA, "int64", 4398046511104, 4398046511104),
        (FLOAT32_SCHEMA, "float", 12.34, 12.34),
        (FLOAT64_SCHEMA, "double", 12.34, 12.34),
        (STRING_SCHEMA, "string", "foo-bar-baz", "foo-bar-baz"),
        (BYTES_SCHEMA, "bytes", b"test-string", base64.b64encode(b"test-string").decode()),
    ],
)
def test_primitives_round_trip(schema: Schema, type_name: str, value: Any, payload: Any) -> None:
    c = converter()
    data = c.from_connect_data("t", schema, value)
    assert envelope(data) == {"schema": {"type": type_name, "optional": False}, "payload": payload}
    back = c.to_connect_data("t", data)
    assert back.schema == schema
    assert back.value == value


def test_schema_metadata_and_default_are_emitted_and_read() -> None:
    schema = Schema(Type.INT32, optional=True, default=7, name="my.int", version=3, doc="d", parameters={"p": "v"})
    c = converter()
    data = c.from_connect_data("t", schema, 5)
    assert envelope(data)["schema"] == {
        "type": "int32",
        "optional": True,
        "name": "my.int",
        "version": 3,
        "doc": "d",
        "parameters": {"p": "v"},
        "default": 7,
    }
    assert c.to_connect_data("t", data).schema == schema


def test_struct_array_and_maps() -> None:
    inner = Schema.struct([("x", INT16_SCHEMA)], name="Inner", optional=True)
    schema = Schema.struct(
        [
            ("first", STRING_SCHEMA),
            ("list", Schema.array(INT32_SCHEMA)),
            ("smap", Schema.map(STRING_SCHEMA, BOOLEAN_SCHEMA)),
            ("imap", Schema.map(INT32_SCHEMA, STRING_SCHEMA)),
            ("inner", inner),
        ]
    )
    value = Struct(
        schema,
        {
            "first": "é✓",
            "list": [1, 2],
            "smap": {"a": True},
            "imap": {1: "one", 2: "two"},
            "inner": Struct(inner, {"x": 3}),
        },
    )
    c = converter()
    doc = envelope(c.from_connect_data("t", schema, value))
    assert [f["field"] for f in doc["schema"]["fields"]] == ["first", "list", "smap", "imap", "inner"]
    assert doc["schema"]["fields"][3] == {
        "type": "map",
        "keys": {"type": "int32", "optional": False},
        "values": {"type": "string", "optional": False},
        "optional": False,
        "field": "imap",
    }
    assert doc["payload"] == {
        "first": "é✓",
        "list": [1, 2],
        "smap": {"a": True},
        "imap": [[1, "one"], [2, "two"]],
        "inner": {"x": 3},
    }
    back = c.to_connect_data("t", c.from_connect_data("t", schema, value))
    assert back.schema == schema
    assert back.value == value


# --- logical types -------------------------------------------------------------------------------


def test_decimal_base64_and_numeric() -> None:
    schema = Decimal.schema(2)
    assert envelope(converter().from_connect_data("t", schema, decimal.Decimal("1.56")))["payload"] == "AJw="
    numeric = converter(**{"decimal.format": "NUMERIC"})
    data = numeric.from_connect_data("t", Decimal.schema(4), decimal.Decimal("1.5600"))
    assert data is not None and data.endswith(b'"payload":1.5600}')
    back = numeric.to_connect_data("t", data)
    assert back.value == decimal.Decimal("1.5600") and str(back.value) == "1.5600"


def test_decimal_reads_numbers_exactly_and_base64() -> None:
    c = converter()
    schema = '{"type":"bytes","name":"org.apache.kafka.connect.data.Decimal","version":1,"parameters":{"scale":"2"}}'

    def read(payload: str) -> Any:
        return c.to_connect_data("t", f'{{"schema":{schema},"payload":{payload}}}'.encode()).value

    assert read("12345678901234567890.12") == decimal.Decimal("12345678901234567890.12")
    assert read('"AJw="') == decimal.Decimal("1.56")
    with pytest.raises(DataException, match="needs a number or base64 bytes, got BOOLEAN"):
        read("true")


def test_date_time_timestamp() -> None:
    c = converter()
    cases = [
        (Date.schema(), dt.date(1997, 5, 19), 10000),
        (Time.schema(), dt.time(0, 0, 14, 400000), 14400),
        (Timestamp.schema(), dt.datetime(2018, 1, 1, 0, 0, 0, 123000, tzinfo=UTC), 1514764800123),
    ]
    for schema, value, payload in cases:
        data = c.from_connect_data("t", schema, value)
        doc = envelope(data)
        assert doc["payload"] == payload
        assert doc["schema"]["name"] == schema.name and doc["schema"]["version"] == 1
        assert c.to_connect_data("t", data).value == value
    with pytest.raises(DataException, match="A Date field needs an integer"):
        c.to_connect_data("t", b'{"schema":{"type":"int32","name":"org.apache.kafka.connect.data.Date"},"payload":"x"}')
    with pytest.raises(DataException, match="Invalid type for Timestamp, expected Date but was"):
        c.from_connect_data("t", Timestamp.schema(), 5)


# --- envelopes and null handling ---------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [b'{"payload": 1}', b'{"schema": null}', b'{"schema": null, "payload": 1, "extra": 2}', b"[1, 2]", b"5", b""],
)
def test_envelope_must_have_exactly_schema_and_payload(text: bytes) -> None:
    with pytest.raises(DataException) as e:
        converter().to_connect_data("t", text)
    assert str(e.value) == ENVELOPE_ERROR


def test_null_handling() -> None:
    c = converter()
    assert c.from_connect_data("t", None, None) is None
    assert tuple(c.to_connect_data("t", None)) == (None, None)
    assert envelope(c.from_connect_data("t", OPTIONAL_STRING_SCHEMA, None)) == {
        "schema": {"type": "string", "optional": True},
        "payload": None,
    }
    with pytest.raises(DataException, match=r"^Null for a required field that has no default"):
        c.from_connect_data("t", STRING_SCHEMA, None)
    schema = Schema.struct([("a", INT32_SCHEMA)])
    with pytest.raises(DataException, match="Invalid null value for required INT32 field"):
        c.to_connect_data("t", b'{"schema":{"type":"struct","fields":[{"type":"int32","field":"a"}]},"payload":{}}')
    assert schema.field("a") is not None


def test_replace_null_with_default_both_directions() -> None:
    schema = Schema.struct([("s", Schema(Type.STRING, optional=True, default="dflt"))])
    value = Struct(schema)
    on, off = converter(), converter(**{"replace.null.with.default": "false"})
    assert envelope(on.from_connect_data("t", schema, value))["payload"] == {"s": "dflt"}
    assert envelope(off.from_connect_data("t", schema, value))["payload"] == {"s": None}
    text = off.from_connect_data("t", schema, value)
    assert on.to_connect_data("t", text).value.get_without_default("s") == "dflt"
    assert off.to_connect_data("t", text).value.get_without_default("s") is None


# --- schemaless --------------------------------------------------------------------------------


def test_schemaless_reads_like_kafka() -> None:
    c = converter(**{"schemas.enable": "false"})
    result = c.to_connect_data("t", b'{"i": 12, "f": 1.5, "b": true, "s": "x", "a": [1, null], "o": {"k": {}}}')
    assert result.schema is None
    assert result.value == {"i": 12, "f": 1.5, "b": True, "s": "x", "a": [1, None], "o": {"k": {}}}
    assert type(result.value["i"]) is int and type(result.value["f"]) is float
    assert c.to_connect_data("t", b"0012").value == 12
    assert tuple(c.to_connect_data("t", b"")) == (None, None)
    assert c.to_connect_data("t", b"null").value is None
    with pytest.raises(DataException, match=r"^JsonConverter could not read these bytes as JSON"):
        c.to_connect_data("t", b"{not json")


def test_schemaless_writes_plain_json() -> None:
    c = converter(**{"schemas.enable": "false"})
    assert c.from_connect_data("t", None, {"a": [1, 2.5, None, "x"]}) == b'{"a":[1,2.5,null,"x"]}'
    assert c.from_connect_data("t", None, {1: "one"}) == b'[[1,"one"]]'
    assert c.from_connect_data("t", None, {"b": b"\x00\x01"}) == b'{"b":"AAE="}'
    assert c.from_connect_data("t", None, 2**70) == str(2**70).encode()
    assert c.from_connect_data("t", INT32_SCHEMA, 5) == b"5"
    enveloped = converter()
    assert envelope(enveloped.from_connect_data("t", None, {"a": 1})) == {"schema": None, "payload": {"a": 1}}
    assert enveloped.to_connect_data("t", b'{"schema": null, "payload": {"a": 1}}').value == {"a": 1}


@pytest.mark.parametrize(
    "value", [dt.datetime(2020, 1, 1, tzinfo=UTC), dt.date(2020, 1, 1), dt.time(1), decimal.Decimal("1.5")]
)
def test_schemaless_temporal_and_decimal_values_cannot_be_serialised(value: Any) -> None:
    c = converter(**{"schemas.enable": "false"})
    with pytest.raises(DataException, match=r"^Java class class .* does not have corresponding schema type\.$"):
        c.from_connect_data("t", None, {"nested": [value]})


# --- type mismatches -----------------------------------------------------------------------------


def test_value_not_matching_schema_is_rejected() -> None:
    c = converter()
    with pytest.raises(DataException, match=r"Invalid type for INT32: class java\.lang\.String"):
        c.from_connect_data("t", INT32_SCHEMA, "x")
    with pytest.raises(DataException, match="Invalid type for INT8"):
        c.from_connect_data("t", INT8_SCHEMA, 300)
    other = Schema.struct([("a", INT32_SCHEMA)])
    schema = Schema.struct([("b", INT32_SCHEMA)])
    with pytest.raises(DataException, match=r"Mismatching schema\."):
        c.from_connect_data("t", schema, Struct(other, {"a": 1}))
    with pytest.raises(DataException, match="Unknown schema type: uuid"):
        c.to_connect_data("t", b'{"schema":{"type":"uuid"},"payload":1}')
    with pytest.raises(DataException, match="Schema must contain 'type' field"):
        c.to_connect_data("t", b'{"schema":{"optional":true},"payload":1}')
    with pytest.raises(DataException, match="A struct schema needs a JSON object, got ARRAY"):
        c.to_connect_data("t", b'{"schema":{"type":"struct","fields":[]},"payload":[]}')


# --- size, depth, unicode, caching -------------------------------------------------------------


def test_deep_nesting_round_trips() -> None:
    schemaless = converter(**{"schemas.enable": "false"})
    deep: Any = "leaf"
    for _ in range(200):
        deep = {"n": deep}
    assert schemaless.to_connect_data("t", schemaless.from_connect_data("t", None, deep)).value == deep
    schema = Schema.struct([("leaf", STRING_SCHEMA)])
    value = Struct(schema, {"leaf": "x"})
    for _ in range(100):  # Schema equality (api/data.py) recurses several frames per level
        schema = Schema.struct([("n", schema)])
        value = Struct(schema, {"n": value})
    c = converter()
    data = c.from_connect_data("t", schema, value)
    back = c.to_connect_data("t", data)
    # compared through their JSON: Schema equality itself recurses once per level
    assert c.from_connect_data("t", back.schema, back.value) == data
    node = back.value
    for _ in range(100):
        node = node.get("n")
    assert node.get("leaf") == "x"


def test_one_megabyte_record_round_trips() -> None:
    c = converter()
    schema = Schema.struct([("blob", BYTES_SCHEMA), ("text", STRING_SCHEMA)])
    value = Struct(schema, {"blob": bytes(range(256)) * 2048, "text": "ü" * 300_000})
    data = c.from_connect_data("t", schema, value)
    assert data is not None and len(data) > 1_000_000
    assert c.to_connect_data("t", data).value == value


def test_unicode_survives_both_modes() -> None:
    for c in (converter(), converter(**{"schemas.enable": "false"})):
        data = c.from_connect_data("t", STRING_SCHEMA if c.schemas_enabled else None, "日本語 🚀 \u0000 \"q\"")
        assert c.to_connect_data("t", data).value == "日本語 🚀 \u0000 \"q\""


def test_schema_caches_are_bounded() -> None:
    c = converter(**{"schemas.cache.size": "2"})
    for i in range(5):
        schema = Schema.struct([(f"f{i}", INT32_SCHEMA)])
        c.to_connect_data("t", c.from_connect_data("t", schema, Struct(schema, {f"f{i}": i})))
    assert len(c._outgoing) == 2 and len(c._incoming) == 2


# --- acceptance vectors ----------------------------------------------------------------------------


def _vectors() -> list[dict[str, Any]]:
    return [v for v in json.loads(VECTORS.read_text()) if v["kind"] == "json_converter"]


def _typed(value: Any, value_type: str | None) -> Any:
    return decimal.Decimal(value) if value_type == "decimal" else value


@pytest.mark.parametrize("vector", _vectors(), ids=lambda v: v["id"])
def test_acceptance_vector(vector: dict[str, Any]) -> None:
    c = converter(**vector["config"])
    codec = c.codec
    if vector["direction"] == "to_connect":
        text = vector["input"].get("bytes_utf8")
        result = c.to_connect_data("t", None if text is None else text.encode())
        expect = vector["expect"]
        assert codec.schema_to_json(result.schema) == expect["schema"]
        assert result.value == _typed(expect["value"], expect.get("value_type"))
    else:
        schema = codec.schema_from_json(vector["input"]["schema"])
        value = _typed(vector["input"]["value"], vector["input"].get("value_type"))
        assert envelope(c.from_connect_data("t", schema, value)) == vector["expect"]["json"]


def test_all_seven_vectors_are_present() -> None:
    assert len(_vectors()) == 7
