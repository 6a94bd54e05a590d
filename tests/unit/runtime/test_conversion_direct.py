"""RecordConverters' direct paths (``direct_reader``/``direct_writer``) must match the
converters' own ``to_connect_data``/``from_connect_data`` byte for byte and error for error."""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any

import pytest
from lambda_connect.api.data import OPTIONAL_STRING_SCHEMA, Schema, Struct, Type
from lambda_connect.api.records import Header, SinkRecord, SourceRecord
from lambda_connect.runtime.conversion import RecordConverters
from lambda_connect.runtime.errors import Stage, StageError
from lambda_connect.runtime.registry import Registry

JSON = "org.apache.kafka.connect.json.JsonConverter"
STRING = "org.apache.kafka.connect.storage.StringConverter"


def converters(schemas: str = "false") -> RecordConverters:
    return RecordConverters.from_config({
        "key.converter": STRING, "value.converter": JSON, "value.converter.schemas.enable": schemas,
        "header.converter": STRING,
    }, Registry.default())


def test_json_without_schemas_offers_direct_paths_and_with_schemas_does_not() -> None:
    assert converters("false").value.direct_reader() is not None
    assert converters("false").value.direct_writer() is not None
    assert converters("true").value.direct_reader() is None
    assert converters("true").value.direct_writer() is None


@pytest.mark.parametrize("raw", [
    b'{"a":1,"b":[true,null,1.5],"c":{"d":"e"}}', b"0012", b'{"n": 0012}', b"", None, b"[1,2]", b'"text"',
    b"123456789012345678901234567890", b"-0.0", bytearray(b'{"x":1}'),
])
def test_to_sink_record_reads_like_the_converter(raw: bytes | None) -> None:
    c = converters()
    expected = c.value.to_connect_data("t", raw)
    record = c.to_sink_record("t", 2, 17, 1000, "LOG_APPEND_TIME", b"key", raw, [("h", b"x")])
    assert record == SinkRecord("t", 2, OPTIONAL_STRING_SCHEMA, "key", expected.schema, expected.value, 17, 1000,
                                "LOG_APPEND_TIME", [Header("h", "x", OPTIONAL_STRING_SCHEMA)])
    assert (record.original_topic, record.original_kafka_partition, record.original_kafka_offset) == ("t", 2, 17)


@pytest.mark.parametrize("raw", [b"{not json", b'{"a":', b"\xff\xfe"])
def test_unreadable_json_fails_the_value_converter_stage_with_the_converters_message(raw: bytes) -> None:
    c = converters()
    with pytest.raises(Exception) as direct_error:
        c.value.to_connect_data("t", raw)
    with pytest.raises(StageError) as info:
        c.to_sink_record("t", 0, 0, None, "CREATE_TIME", None, raw, ())
    assert info.value.stage is Stage.VALUE_CONVERTER and info.value.plugin_class == JSON
    assert info.value.message == str(direct_error.value)


def test_source_records_use_the_same_reading() -> None:
    c = converters()
    record = c.to_source_record("t", None, 5, b"k", b'{"a":1}', (), {"f": 1}, {"o": 2})
    assert record == SourceRecord({"f": 1}, {"o": 2}, "t", None, OPTIONAL_STRING_SCHEMA, "k", None, {"a": 1}, 5)


class Opaque:
    pass


@pytest.mark.parametrize("value", [
    {"a": 1, "b": [True, None, 1.5], "c": {"d": "e"}}, {"blob": b"\x00\xff"}, {"big": 2**70}, [2**64, -(2**65)],
    {"when": dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC)}, {"price": decimal.Decimal("1.50")}, "text", 0,
    {1: "non-string key"}, None,
])
def test_serialize_writes_like_the_converter(value: Any) -> None:
    c = converters()
    record = SinkRecord("t", 0, OPTIONAL_STRING_SCHEMA, "k", None, value, 0)
    try:
        expected: Any = c.value.from_connect_data("t", None, value)
    except Exception as e:
        expected = e
    if isinstance(expected, Exception):
        with pytest.raises(StageError) as info:
            c.serialize(record)
        assert info.value.stage is Stage.VALUE_CONVERTER and info.value.message == str(expected)
    else:
        assert c.serialize(record) == (b"k", expected, [])


def test_unsupported_value_fails_the_value_converter_stage() -> None:
    with pytest.raises(StageError) as info:
        converters().serialize(SinkRecord("t", 0, None, None, None, {"x": Opaque()}, 0))
    assert info.value.stage is Stage.VALUE_CONVERTER and info.value.plugin_class == JSON


def test_a_schemad_value_takes_the_converters_own_path() -> None:
    schema = Schema.struct([("n", Schema(Type.INT32))])
    record = SinkRecord("t", 0, None, None, schema, Struct(schema).put("n", 5), 0)
    assert converters("false").serialize(record) == (None, b'{"n":5}', [])
    assert converters("true").serialize(record)[1].startswith(b'{"schema":{"type":"struct"')
