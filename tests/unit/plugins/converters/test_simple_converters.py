"""StringConverter, ByteArrayConverter and SimpleHeaderConverter."""

from __future__ import annotations

import datetime as dt

import pytest
from lambda_connect.api.converter import HeaderConverter
from lambda_connect.api.data import (
    BYTES_SCHEMA,
    INT8_SCHEMA,
    INT32_SCHEMA,
    OPTIONAL_BYTES_SCHEMA,
    OPTIONAL_STRING_SCHEMA,
    STRING_SCHEMA,
    UTC,
    Date,
    Schema,
    Struct,
    Timestamp,
)
from lambda_connect.api.errors import ConfigException, DataException
from lambda_connect.plugins.converters.bytearray import ByteArrayConverter
from lambda_connect.plugins.converters.simple_header import SimpleHeaderConverter
from lambda_connect.plugins.converters.string import StringConverter


def string_converter(**props: str) -> StringConverter:
    return StringConverter(StringConverter.config_def.parse(props), is_key=True)


def test_string_converter_round_trip_and_encoding() -> None:
    c = string_converter()
    assert c.from_connect_data("t", STRING_SCHEMA, "héllo") == "héllo".encode()
    assert tuple(c.to_connect_data("t", "héllo".encode())) == (OPTIONAL_STRING_SCHEMA, "héllo")
    assert tuple(c.to_connect_data("t", None)) == (OPTIONAL_STRING_SCHEMA, None)
    assert c.from_connect_data("t", None, None) is None
    latin = string_converter(**{"converter.encoding": "ISO-8859-1"})
    assert latin.from_connect_data("t", None, "é") == b"\xe9"
    with pytest.raises(DataException):
        c.to_connect_data("t", b"\xff\xfe")
    with pytest.raises(ConfigException, match=r"converter\.encoding"):
        string_converter(**{"converter.encoding": "NOPE-1"})


def test_string_converter_writes_java_to_string() -> None:
    c = string_converter()
    assert c.from_connect_data("t", None, True) == b"true"
    assert c.from_connect_data("t", None, 12) == b"12"
    assert c.from_connect_data("t", None, 1e20) == b"1.0E20"
    assert c.from_connect_data("t", None, {"a": [1, None]}) == b"{a=[1, null]}"
    schema = Schema.struct([("id", INT32_SCHEMA), ("name", Schema(STRING_SCHEMA.type, optional=True))])
    assert c.from_connect_data("t", schema, Struct(schema, {"id": 1})) == b"Struct{id=1}"
    moment = dt.datetime(2019, 8, 23, 14, 34, 54, tzinfo=UTC)
    assert c.from_connect_data("t", None, moment) == b"Fri Aug 23 14:34:54 UTC 2019"
    assert isinstance(c, HeaderConverter)
    assert c.to_connect_header("t", "h", b"x").value == "x"


def test_bytearray_converter() -> None:
    c = ByteArrayConverter(ByteArrayConverter.config_def.parse({}), is_key=False)
    assert c.from_connect_data("t", BYTES_SCHEMA, b"\x00\x01") == b"\x00\x01"
    assert c.from_connect_data("t", None, bytearray(b"ab")) == b"ab"
    assert c.from_connect_data("t", None, None) is None
    assert tuple(c.to_connect_data("t", b"\x00")) == (OPTIONAL_BYTES_SCHEMA, b"\x00")
    assert tuple(c.to_connect_data("t", None)) == (OPTIONAL_BYTES_SCHEMA, None)
    with pytest.raises(DataException, match="Invalid schema type for ByteArrayConverter: INT32"):
        c.from_connect_data("t", INT32_SCHEMA, 1)
    with pytest.raises(DataException, match="writes bytes only, got str"):
        c.from_connect_data("t", None, "text")
    assert isinstance(c, HeaderConverter)


def test_simple_header_converter_reads_typed_values() -> None:
    c = SimpleHeaderConverter(SimpleHeaderConverter.config_def.parse({}))
    assert tuple(c.to_connect_header("t", "h", b"1")) == (INT8_SCHEMA, 1)
    assert tuple(c.to_connect_header("t", "h", b"")) == (STRING_SCHEMA, "")
    assert tuple(c.to_connect_header("t", "h", None)) == (None, None)
    assert c.to_connect_header("t", "h", b"2019-08-23").schema == Date.schema()
    assert tuple(c.to_connect_header("t", "h", b"\xff\x00")) == (BYTES_SCHEMA, b"\xff\x00")


def test_simple_header_converter_writes_text_that_reads_back() -> None:
    c = SimpleHeaderConverter(SimpleHeaderConverter.config_def.parse({}))
    moment = dt.datetime(2019, 8, 23, 14, 34, 54, 346000, tzinfo=UTC)
    assert c.from_connect_header("t", "h", Timestamp.schema(), moment) == b"2019-08-23T14:34:54.346Z"
    assert c.from_connect_header("t", "h", None, None) is None
    for value in (True, 42, "plain text", {"k": [1, 2]}, moment):
        data = c.from_connect_header("t", "h", None, value)
        assert c.to_connect_header("t", "h", data).value == value
