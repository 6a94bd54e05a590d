"""The Glue JSON Schema and Protobuf converters, the secondary deserializer and the cache
keys, against moto's Glue Schema Registry."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from lambda_connect.api.data import INT64_SCHEMA, STRING_SCHEMA, UTC, Schema, Struct, Timestamp, Type
from lambda_connect.api.errors import ConfigException, DataException
from lambda_connect.plugins.converters import _glue_registry
from lambda_connect.plugins.converters._glue_registry import ExpiringCache, glue_frame
from lambda_connect.plugins.converters.avro import AvroConverter
from lambda_connect.plugins.converters.glue_avro import AWSKafkaAvroConverter
from lambda_connect.plugins.converters.glue_json_schema import JsonSchemaConverter
from lambda_connect.plugins.converters.glue_protobuf import ProtobufSchemaConverter

from tests.fixtures.glue import glue_registry  # noqa: F401 - the "glue" fixture

ITEM = Schema.struct([("sku", STRING_SCHEMA), ("qty", INT64_SCHEMA)], name="shop.Item", optional=True)
ORDER = Schema.struct(
    [
        ("id", INT64_SCHEMA),
        ("note", Schema(Type.STRING, optional=True)),
        ("at", Timestamp.schema(optional=True)),
        ("items", Schema.array(ITEM, optional=True)),
        ("attrs", Schema.map(STRING_SCHEMA, INT64_SCHEMA, optional=True)),
    ],
    name="shop.Order",
)


def order(**over: Any) -> Struct:
    v = {
        "id": 7,
        "note": None,
        "at": dt.datetime(2024, 5, 6, 7, 8, 9, 10000, tzinfo=UTC),
        "items": [Struct(ITEM, {"sku": "a", "qty": 2})],
        "attrs": {"k": 1},
    }
    v.update(over)
    return Struct(ORDER, v)


def build(cls: type, is_key: bool = False, **props: str) -> Any:
    base = {"registry.name": "reg", "region": "us-east-1"}
    return cls(cls.config_def.parse({**base, **props}), is_key=is_key)


@pytest.mark.parametrize("cls", [JsonSchemaConverter, ProtobufSchemaConverter, AWSKafkaAvroConverter])
def test_each_format_round_trips_and_registers_its_data_format(glue: Any, cls: type) -> None:
    # Protobuf keeps a null primitive only with a nullables key (its default writes the type's default)
    keep_null = {"optional.for.nullables": "true"} if cls is ProtobufSchemaConverter else {}
    w = build(cls, schemaAutoRegistrationEnabled="true", compression="ZLIB", **keep_null)
    data = w.from_connect_data("orders", ORDER, order())
    assert data[0] == 3 and data[1] == 5
    got = build(cls, **keep_null).to_connect_data("orders", data).value
    assert got.get("id") == 7 and got.get("note") is None and got.get("attrs") == {"k": 1}
    assert got.get("at") == dt.datetime(2024, 5, 6, 7, 8, 9, 10000, tzinfo=UTC)
    assert [i.get("sku") for i in got.get("items")] == ["a"]
    version = glue.get_schema_version(SchemaVersionId=str(uuid.UUID(bytes=data[2:18])))
    assert version["DataFormat"] == cls.data_format
    assert build(cls).to_connect_data("orders", w.from_connect_data("orders", ORDER, order(note="n"))).value.get(
        "note"
    ) == "n"


def test_protobuf_nullables_keys_shape_the_glue_proto_text(glue: Any) -> None:
    """Glue's Protobuf converter shares the Confluent mapping and its nullables keys."""
    for props, note_line, note in [
        ({}, "  string note = 2;", ""),
        ({"optional.for.nullables": "true"}, "  optional string note = 2;", None),
        ({"wrapper.for.nullables": "true"}, "  .google.protobuf.StringValue note = 2;", None),
    ]:
        name = f"n{uuid.uuid4().hex[:8]}"
        conv = build(ProtobufSchemaConverter, schemaAutoRegistrationEnabled="true", schemaName=name, **props)
        data = conv.from_connect_data("orders", ORDER, order())
        text = glue.get_schema_version(SchemaVersionId=str(uuid.UUID(bytes=data[2:18])))["SchemaDefinition"]
        assert note_line in text.splitlines(), (props, text)
        read = build(ProtobufSchemaConverter, **props).to_connect_data("orders", data)
        assert read.value.get("note") == note and read.schema.field("id").schema.optional == (not props), props


def test_protobuf_schema_is_proto_text_with_glue_message_index(glue: Any) -> None:
    data = build(ProtobufSchemaConverter, schemaAutoRegistrationEnabled="true").from_connect_data(
        "orders", ORDER, order()
    )
    version = glue.get_schema_version(SchemaVersionId=str(uuid.UUID(bytes=data[2:18])))
    text = version["SchemaDefinition"]
    assert text.startswith('syntax = "proto3";') and "message Order {" in text and "map<string, int64>" in text
    # sorted by full name: shop.Order, shop.Order.AttrsEntry, shop.Order.Item -> Order is 0
    assert data[18] == 0
    # a schema written by another producer: the second message by name is read by its index
    other = 'syntax = "proto3";\npackage p;\nmessage B { string s = 1; }\nmessage A { int64 n = 1; }\n'
    got = glue.create_schema(
        RegistryId={"RegistryName": "reg"}, SchemaName="o", DataFormat="PROTOBUF", Compatibility="NONE",
        SchemaDefinition=other,
    )
    vid = uuid.UUID(got["SchemaVersionId"])
    schema, value = build(ProtobufSchemaConverter).to_connect_data("o", glue_frame(vid, b"\x01\x0a\x02hi"))
    assert schema.name == "B" and value.get("s") == "hi"
    with pytest.raises(DataException, match="Message index 5 does not exist"):
        build(ProtobufSchemaConverter).to_connect_data("o", glue_frame(vid, b"\x05"))


def test_wrong_format_version_and_unknown_uuid_name_the_version(glue: Any) -> None:
    data = build(JsonSchemaConverter, schemaAutoRegistrationEnabled="true").from_connect_data("t", ORDER, order())
    with pytest.raises(DataException, match="is JSON, but this converter reads PROTOBUF"):
        build(ProtobufSchemaConverter).to_connect_data("t", data)
    missing = uuid.uuid4()
    with pytest.raises(DataException, match=str(missing)):
        build(JsonSchemaConverter).to_connect_data("t", glue_frame(missing, b"{}"))
    with pytest.raises(DataException, match="shorter than the 18-byte header"):
        build(JsonSchemaConverter).to_connect_data("t", b"\x03\x00\x01")


def test_secondary_deserializer_reads_confluent_framed_records(glue: Any) -> None:
    url = f"mock://{uuid.uuid4().hex}"
    confluent = AvroConverter(AvroConverter.config_def.parse({"schema.registry.url": url}))
    old = confluent.from_connect_data("users", ORDER, order())
    conv = build(
        AWSKafkaAvroConverter,
        secondaryDeserializer="io.confluent.kafka.serializers.KafkaAvroDeserializer",
        **{"schema.registry.url": url, "schemaAutoRegistrationEnabled": "true"},
    )
    assert conv.to_connect_data("users", old).value.get("id") == 7  # not Glue-framed: the secondary reads it
    new = conv.from_connect_data("users", ORDER, order(id=8))
    assert new[0] == 3 and conv.to_connect_data("users", new).value.get("id") == 8
    with pytest.raises(DataException, match="secondaryDeserializer"):
        build(AWSKafkaAvroConverter).to_connect_data("users", old)
    by_converter_name = build(JsonSchemaConverter, secondaryDeserializer="StringConverter")
    assert by_converter_name.to_connect_data("t", b"plain").value == "plain"


def test_secondary_deserializer_config_errors_name_the_key(glue: Any) -> None:
    with pytest.raises(ConfigException, match=r"secondaryDeserializer: com\.example\.Nope is not a known"):
        build(AWSKafkaAvroConverter, secondaryDeserializer="com.example.Nope")
    with pytest.raises(ConfigException, match=r"secondaryDeserializer.*schema\.registry\.url"):
        build(AWSKafkaAvroConverter, secondaryDeserializer="io.confluent.connect.avro.AvroConverter")


def test_cache_keys_bound_and_expire_glue_lookups(glue: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    w = build(AWSKafkaAvroConverter, schemaAutoRegistrationEnabled="true")
    v2 = Schema.struct([*[(f.name, f.schema) for f in ORDER.fields], ("x", Schema(Type.INT64, optional=True))],
                       name="shop.Order")
    a = w.from_connect_data("orders", ORDER, order())
    b = w.from_connect_data("orders", v2, Struct(v2, {**order().to_dict(), "items": None, "x": 1}))
    calls: list[str] = []
    reader = build(AWSKafkaAvroConverter, cacheSize="1")
    real = reader._registry._glue.get_schema_version
    monkeypatch.setattr(reader._registry._glue, "get_schema_version",
                        lambda **kw: calls.append(kw["SchemaVersionId"]) or real(**kw))
    for data in (a, a, b, a):
        reader.to_connect_data("orders", data)
    assert len(calls) == 3  # a, b (evicts a), a again
    no_cache = build(AWSKafkaAvroConverter, timeToLiveMillis="0")
    real2 = no_cache._registry._glue.get_schema_version
    monkeypatch.setattr(no_cache._registry._glue, "get_schema_version",
                        lambda **kw: calls.append("again") or real2(**kw))
    no_cache.to_connect_data("orders", a)
    no_cache.to_connect_data("orders", a)
    assert calls.count("again") == 2
    with pytest.raises(ConfigException, match="cacheSize"):
        build(AWSKafkaAvroConverter, cacheSize="0")


def test_expiring_cache_evicts_by_age_and_size() -> None:
    now = [0.0]
    cache: ExpiringCache[str, int] = ExpiringCache(2, 1000, clock=lambda: now[0])
    loads: list[str] = []

    def load(k: str) -> Any:
        return lambda: loads.append(k) or len(loads)

    assert cache.get_or_load("a", load("a")) == 1 and cache.get_or_load("a", load("a")) == 1
    now[0] = 1.5
    assert cache.get_or_load("a", load("a")) == 2  # expired after one second
    cache.get_or_load("b", load("b"))
    cache.get_or_load("c", load("c"))
    assert len(cache) == 2 and loads == ["a", "a", "b", "c"]


def test_plugin_names_resolve() -> None:
    from lambda_connect.runtime.registry import Registry

    reg = Registry.default()
    for cls in (JsonSchemaConverter, ProtobufSchemaConverter):
        assert reg.resolve(cls.name, {"converter"}) is cls
    assert _glue_registry._converter_class("KafkaProtobufDeserializer").__name__ == "ProtobufConverter"


@pytest.mark.parametrize("cls", [JsonSchemaConverter, ProtobufSchemaConverter, AWSKafkaAvroConverter])
def test_corrupt_body_names_topic_and_version(glue: Any, cls: type) -> None:
    good = build(cls, schemaAutoRegistrationEnabled="true").from_connect_data("orders", ORDER, order())
    version = str(uuid.UUID(bytes=good[2:18]))
    with pytest.raises(DataException, match=f"data for topic orders with Glue schema version {version}"):
        build(cls).to_connect_data("orders", good[:18] + b"\x00\xff\xff\xfe")


def test_importing_the_converter_modules_loads_no_format_or_aws_library() -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import lambda_connect.plugins.converters.glue_avro, lambda_connect.plugins.converters.glue_json_schema\n"
        "import lambda_connect.plugins.converters.glue_protobuf, lambda_connect.plugins.converters.protobuf\n"
        "print(sorted(m for m in ('boto3', 'botocore', 'fastavro', 'google.protobuf', "
        "'confluent_kafka.schema_registry') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
