"""AvroConverter and JsonSchemaConverter against the in-memory (mock://) Schema Registry."""

from __future__ import annotations

import datetime as dt
import decimal
import subprocess
import sys
import uuid
from typing import Any

import pytest
from lambda_connect.api.converter import Converter
from lambda_connect.api.data import (
    BYTES_SCHEMA,
    FLOAT32_SCHEMA,
    FLOAT64_SCHEMA,
    INT8_SCHEMA,
    INT16_SCHEMA,
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
from lambda_connect.api.errors import ConfigException, DataException
from lambda_connect.plugins.converters._schema_registry import mock_registry
from lambda_connect.plugins.converters.avro import AvroConverter
from lambda_connect.plugins.converters.json_schema import JsonSchemaConverter

CONVERTERS = [AvroConverter, JsonSchemaConverter]

INNER = Schema.struct([("x", INT64_SCHEMA)], name="com.example.Inner")
SCHEMA = Schema.struct(
    [
        ("i8", INT8_SCHEMA),
        ("i16", INT16_SCHEMA),
        ("f32", FLOAT32_SCHEMA),
        ("f64", FLOAT64_SCHEMA),
        ("flag", Schema(Type.BOOLEAN, optional=True)),
        ("text", STRING_SCHEMA),
        ("opt", Schema(Type.STRING, optional=True)),
        ("blob", BYTES_SCHEMA),
        ("amount", Decimal.schema(2)),
        ("day", Date.schema()),
        ("at", Time.schema()),
        ("ts", Timestamp.schema(optional=True)),
        ("tags", Schema.array(STRING_SCHEMA)),
        ("attrs", Schema.map(STRING_SCHEMA, INT64_SCHEMA)),
        ("codes", Schema.map(INT64_SCHEMA, STRING_SCHEMA)),
        ("inner", INNER),
    ],
    name="com.example.Order",
    version=1,
    doc="an order",
)


def value() -> Struct:
    return Struct(
        SCHEMA,
        {
            "i8": -5,
            "i16": 300,
            "f32": 1.5,
            "f64": 2.25,
            "text": "ünïcode ✓",
            "blob": b"\x00\xff",
            "amount": decimal.Decimal("12345.67"),
            "day": dt.date(1997, 5, 19),
            "at": dt.time(14, 34, 54, 346000),
            "ts": dt.datetime(2019, 8, 23, 14, 34, 54, 346000, tzinfo=UTC),
            "tags": ["a", "b"],
            "attrs": {"k": 1},
            "codes": {7: "seven"},
            "inner": Struct(INNER, {"x": 2**40}),
        },
    )


def build(cls: type[Converter], scope: str, is_key: bool = False, **props: str) -> Any:
    return cls(cls.config_def.parse({"schema.registry.url": f"mock://{scope}", **props}), is_key=is_key)


@pytest.mark.parametrize("cls", CONVERTERS)
def test_struct_round_trip_uses_wire_format_and_registers_subject(cls: type[Converter]) -> None:
    scope = uuid.uuid4().hex
    writer, reader = build(cls, scope), build(cls, scope)
    data = writer.from_connect_data("orders", SCHEMA, value())
    assert data[0] == 0
    schema_id = int.from_bytes(data[1:5], "big")
    registry = mock_registry(f"mock://{scope}")
    assert registry.get_latest_version("orders-value").schema_id == schema_id
    result = reader.to_connect_data("orders", data)
    assert result.schema == SCHEMA
    assert result.value == value()


@pytest.mark.parametrize("cls", CONVERTERS)
def test_tombstones_and_primitives(cls: type[Converter]) -> None:
    c = build(cls, uuid.uuid4().hex, is_key=True)
    assert c.from_connect_data("t", SCHEMA, None) is None
    assert tuple(c.to_connect_data("t", None)) == (None, None)
    data = c.from_connect_data("t", STRING_SCHEMA, "id-1")
    assert c.to_connect_data("t", data).value == "id-1"
    assert mock_registry(c.config["schema.registry.url"][0]).get_latest_version("t-key") is not None


@pytest.mark.parametrize("cls", CONVERTERS)
def test_wrong_magic_byte_and_unknown_id(cls: type[Converter]) -> None:
    c = build(cls, uuid.uuid4().hex)
    with pytest.raises(DataException, match="Unknown magic byte!"):
        c.to_connect_data("t", b"\x01\x00\x00\x00\x01abc")
    with pytest.raises(DataException, match="Unknown magic byte!"):
        c.to_connect_data("t", b"\x00\x00")
    with pytest.raises(DataException, match="Error retrieving schema for id 4242"):
        c.to_connect_data("t", b"\x00\x00\x00\x10\x92{}")


@pytest.mark.parametrize("cls", CONVERTERS)
def test_record_name_strategies(cls: type[Converter]) -> None:
    scope = uuid.uuid4().hex
    prefix = "io.confluent.kafka.serializers.subject."
    record = build(cls, scope, **{"value.subject.name.strategy": prefix + "RecordNameStrategy"})
    record.from_connect_data("orders", SCHEMA, value())
    topic_record = build(cls, scope, **{"value.subject.name.strategy": "TopicRecordNameStrategy"})
    topic_record.from_connect_data("orders", SCHEMA, value())
    subjects = set(mock_registry(f"mock://{scope}").get_subjects())
    assert {"com.example.Order", "orders-com.example.Order"} <= subjects
    with pytest.raises(ConfigException):
        build(cls, scope, **{"value.subject.name.strategy": "NoSuchStrategy"})


@pytest.mark.parametrize("cls", CONVERTERS)
def test_without_auto_register_the_schema_must_exist(cls: type[Converter]) -> None:
    scope = uuid.uuid4().hex
    strict = build(cls, scope, **{"auto.register.schemas": "false"})
    with pytest.raises(DataException, match="Error retrieving schema ID for subject orders-value"):
        strict.from_connect_data("orders", SCHEMA, value())
    build(cls, scope).from_connect_data("orders", SCHEMA, value())
    assert strict.from_connect_data("orders", SCHEMA, value())[0] == 0


def test_use_latest_version_writes_with_the_registered_schema() -> None:
    scope = uuid.uuid4().hex
    build(AvroConverter, scope).from_connect_data("t", STRING_SCHEMA, "v1")
    latest = build(AvroConverter, scope, **{"use.latest.version": "true", "auto.register.schemas": "false"})
    data = latest.from_connect_data("t", STRING_SCHEMA, "v2")
    assert int.from_bytes(data[1:5], "big") == mock_registry(f"mock://{scope}").get_latest_version("t-value").schema_id


def test_avro_schema_carries_connect_hints() -> None:
    import json

    scope = uuid.uuid4().hex
    build(AvroConverter, scope).from_connect_data("orders", SCHEMA, value())
    text = mock_registry(f"mock://{scope}").get_latest_version("orders-value").schema.schema_str
    avro = json.loads(text)
    assert avro["type"] == "record" and avro["name"] == "Order" and avro["namespace"] == "com.example"
    fields = {f["name"]: f["type"] for f in avro["fields"]}
    assert fields["i8"] == {"type": "int", "connect.type": "int8"}
    assert fields["opt"] == ["null", "string"]
    assert fields["amount"]["logicalType"] == "decimal" and fields["amount"]["scale"] == 2
    assert fields["day"]["logicalType"] == "date"
    assert fields["ts"] == ["null", {"type": "long", "logicalType": "timestamp-millis", "connect.version": 1,
                                     "connect.name": Timestamp.LOGICAL_NAME}]


def test_missing_registry_url_is_a_config_error() -> None:
    with pytest.raises(ConfigException, match=r"schema\.registry\.url"):
        AvroConverter(AvroConverter.config_def.parse({}))


def test_importing_the_modules_does_not_import_the_registry_client() -> None:
    code = (
        "import sys, lambda_connect.plugins.converters.avro, lambda_connect.plugins.converters.json_schema\n"
        "bad = [m for m in ('confluent_kafka.schema_registry', 'fastavro') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
