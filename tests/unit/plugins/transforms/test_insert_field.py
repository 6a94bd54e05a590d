"""Mirrors Kafka's InsertFieldTest."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from lambda_connect.api import ConfigException, DataException, Schema, SinkRecord, SourceRecord, Struct, Type
from lambda_connect.api.data import (
    INT32_SCHEMA,
    INT64_SCHEMA,
    OPTIONAL_INT32_SCHEMA,
    OPTIONAL_INT64_SCHEMA,
    OPTIONAL_STRING_SCHEMA,
    STRING_SCHEMA,
    UTC,
    Timestamp,
)
from lambda_connect.plugins.transforms.insert_field import InsertField

from ._vector_support import build, resolve_builtin, run_vector, vectors_for

ALL_FIELDS = {
    "topic.field": "topic_field!",
    "partition.field": "partition_field",
    "timestamp.field": "timestamp_field?",
    "static.field": "instance_id",
    "static.value": "my-instance-id",
}


def xform_value(**config: str) -> Any:
    return build(InsertField.Value, {k.replace("_", "."): v for k, v in config.items()})


def source(value_schema: Schema | None, value: Any, *, timestamp: int | None = None) -> SourceRecord:
    return SourceRecord(None, None, "test", 0, None, None, value_schema, value, timestamp)


@pytest.mark.parametrize("vector", vectors_for(InsertField.Key.name, InsertField.Value.name))
def test_acceptance_vector(vector: dict[str, Any]) -> None:
    cls = InsertField.Key if vector["transform"].endswith("$Key") else InsertField.Value
    run_vector(cls, vector)


def test_registered_under_kafka_names() -> None:
    assert resolve_builtin("org.apache.kafka.connect.transforms.InsertField$Value") is InsertField.Value
    assert resolve_builtin("org.apache.kafka.connect.transforms.InsertField$Key") is InsertField.Key
    assert InsertField.Key.operates_on_key and not InsertField.Value.operates_on_key


def test_top_level_struct_required() -> None:
    with pytest.raises(DataException, match=r"Only Struct objects supported for \[field insertion\]"):
        xform_value(topic_field="topic_field").apply(source(INT32_SCHEMA, 42))


def test_schemaless_requires_map() -> None:
    with pytest.raises(DataException, match=r"Schemaless field insertion needs a map"):
        xform_value(topic_field="t").apply(source(None, "text"))


def test_copy_schema_and_insert_configured_fields() -> None:
    schema = Schema.struct([("magic", INT64_SCHEMA)], name="name", version=1, doc="doc")
    value = Struct(schema, {"magic": 42})
    xform = build(InsertField.Value, ALL_FIELDS)

    out = xform.apply(source(schema, value, timestamp=789))

    assert out.value_schema.name == "name"
    assert out.value_schema.version == 1
    assert out.value_schema.doc == "doc"
    assert out.value_schema.field("magic").schema == INT64_SCHEMA
    assert out.value_schema.field("topic_field").schema == STRING_SCHEMA
    assert out.value_schema.field("partition_field").schema == OPTIONAL_INT32_SCHEMA
    assert out.value_schema.field("timestamp_field").schema == Timestamp.schema(optional=True)
    assert out.value_schema.field("instance_id").schema == OPTIONAL_STRING_SCHEMA
    assert [f.name for f in out.value_schema.fields] == [
        "magic", "topic_field", "partition_field", "timestamp_field", "instance_id"
    ]
    assert out.value.get("magic") == 42
    assert out.value.get("topic_field") == "test"
    assert out.value.get("partition_field") == 0
    assert out.value.get("timestamp_field") == dt.datetime(1970, 1, 1, 0, 0, 0, 789_000, tzinfo=UTC)
    assert out.value.get("instance_id") == "my-instance-id"
    # the derived schema is built once per input schema
    again = xform.apply(source(schema, Struct(schema, {"magic": 43}), timestamp=790))
    assert again.value_schema is out.value_schema


def test_required_and_optional_suffixes_with_schema() -> None:
    schema = Schema.struct([("a", INT32_SCHEMA)])
    record = SinkRecord("t", 2, None, None, schema, Struct(schema, {"a": 1}), 11, 5)
    xform = build(
        InsertField.Value,
        {
            "partition.field": "p!",
            "offset.field": "o!",
            "timestamp.field": "ts!",
            "static.field": "s!",
            "static.value": "v",
        },
    )
    out = xform.apply(record)
    assert out.value_schema.field("p").schema == INT32_SCHEMA
    assert out.value_schema.field("o").schema == INT64_SCHEMA
    assert out.value_schema.field("ts").schema == Timestamp.schema()
    assert out.value_schema.field("s").schema == STRING_SCHEMA
    assert (out.value.get("p"), out.value.get("o"), out.value.get("s")) == (2, 11, "v")

    opt = build(InsertField.Value, {"offset.field": "o?"}).apply(record)
    assert opt.value_schema.field("o").schema == OPTIONAL_INT64_SCHEMA


def test_copy_schemaless_and_insert_configured_fields() -> None:
    xform = build(InsertField.Value, ALL_FIELDS)
    value = {"magic": 42}

    out = xform.apply(source(None, value, timestamp=789))

    assert out.value == {
        "magic": 42,
        "topic_field": "test",
        "partition_field": 0,
        "timestamp_field": 789,
        "instance_id": "my-instance-id",
    }
    assert value == {"magic": 42}, "the input map must not be mutated"
    assert out.value_schema is None


def test_schemaless_overwrites_existing_field() -> None:
    out = xform_value(topic_field="magic").apply(source(None, {"magic": 42}))
    assert out.value == {"magic": "test"}


def test_with_schema_name_clash_fails() -> None:
    schema = Schema.struct([("topic_field", STRING_SCHEMA)])
    with pytest.raises(DataException, match="appears twice"):
        xform_value(topic_field="topic_field").apply(source(schema, Struct(schema, {"topic_field": "x"})))


def test_offset_only_for_sink_records() -> None:
    xform = xform_value(offset_field="off")
    sink = SinkRecord("orders", 3, None, None, None, {"a": 1}, 5)
    assert xform.apply(sink).value == {"a": 1, "off": 5}
    with pytest.raises(DataException, match=r"Only SinkRecord supported for \[field insertion\]"):
        xform.apply(source(None, {"a": 1}))


def test_missing_partition_and_timestamp_are_skipped() -> None:
    record = SourceRecord(None, None, "t", None, None, None, None, {"a": 1}, None)
    out = build(InsertField.Value, {"partition.field": "p", "timestamp.field": "ts"}).apply(record)
    assert out.value == {"a": 1}

    schema = Schema.struct([("a", INT32_SCHEMA)])
    record = SourceRecord(None, None, "t", None, None, None, schema, Struct(schema, {"a": 1}), None)
    out = build(InsertField.Value, {"partition.field": "p", "timestamp.field": "ts"}).apply(record)
    assert out.value.get("p") is None and out.value.get("ts") is None
    assert [f.name for f in out.value_schema.fields] == ["a", "p", "ts"]


def test_insert_configured_fields_into_tombstone_event_with_schema_leaves_value_unchanged() -> None:
    schema = Schema.struct([("magic", INT64_SCHEMA)], optional=True)
    record = source(schema, None)
    out = build(InsertField.Value, ALL_FIELDS).apply(record)
    assert out is record


def test_insert_key_fields_with_schema_keeps_value() -> None:
    key_schema = Schema.struct([("id", INT32_SCHEMA)])
    record = SinkRecord("t", 1, key_schema, Struct(key_schema, {"id": 7}), STRING_SCHEMA, "v", 3)
    out = build(InsertField.Key, {"topic.field": "topic"}).apply(record)
    assert out.key.get("id") == 7 and out.key.get("topic") == "t"
    assert out.key_schema.field("topic").schema == OPTIONAL_STRING_SCHEMA
    assert (out.value_schema, out.value, out.kafka_offset) == (STRING_SCHEMA, "v", 3)


@pytest.mark.parametrize(("replace", "expected"), [("true", 42), ("false", None)])
def test_replace_null_with_default(replace: str, expected: int | None) -> None:
    field_schema = Schema(Type.INT64, optional=True, default=42)
    schema = Schema.struct([("magic_with_default", field_schema)])
    value = Struct(schema, {"magic_with_default": None})
    xform = build(InsertField.Value, {"topic.field": "t", "replace.null.with.default": replace})
    out = xform.apply(source(schema, value))
    assert out.value.get_without_default("magic_with_default") == expected


def test_config_rejects_no_insertion() -> None:
    with pytest.raises(ConfigException, match="No field insertion configured"):
        build(InsertField.Value, {})


def test_config_rejects_static_field_without_value() -> None:
    with pytest.raises(ConfigException, match=r"static\.value") as info:
        build(InsertField.Value, {"static.field": "instance_id"})
    assert "No value specified for static field: instance_id" in str(info.value)
    assert "static.value" in info.value.errors


def test_config_rejects_non_boolean_replace_null_with_default() -> None:
    with pytest.raises(ConfigException, match=r"replace\.null\.with\.default"):
        build(InsertField.Value, {"topic.field": "t", "replace.null.with.default": "maybe"})
