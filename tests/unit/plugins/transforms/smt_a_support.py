"""Test support for the SMT unit tests: records, JSON envelopes and the shared acceptance vectors.

The acceptance vectors (``tests/acceptance/smt_vectors.json``) give schema'd keys and
values as JsonConverter envelopes. Until the real JsonConverter is wired into these unit tests,
``envelope_to_connect``/``connect_to_envelope`` translate between envelopes and Connect data
following reference §4.1, so each vector runs straight against the transform class.
"""

from __future__ import annotations

import base64
import decimal
import importlib
import json
from typing import Any

import pytest
from lambda_connect.api.config import Config
from lambda_connect.api.data import Date, Decimal, Schema, Struct, Time, Timestamp, Type
from lambda_connect.api.errors import ConfigException
from lambda_connect.api.records import ConnectRecord, Header, SinkRecord, SourceRecord
from lambda_connect.plugins import BUILTINS

from tests.acceptance.vectors import SMT_VECTORS_PATH, assert_names_the_same_facts

VECTORS_PATH = SMT_VECTORS_PATH
_JSON_TYPES = {"float": Type.FLOAT32, "double": Type.FLOAT64}
_TYPE_JSON = {Type.FLOAT32: "float", Type.FLOAT64: "double"}
_LOGICAL = {Date.LOGICAL_NAME: Date, Time.LOGICAL_NAME: Time, Timestamp.LOGICAL_NAME: Timestamp}


def transform_class(kafka_name: str) -> type[Any]:
    """Resolve a Kafka class name through ``BUILTINS``, exactly as the registry would."""
    target = dict(BUILTINS)[kafka_name]
    module_name, attr = target.split(":")
    obj: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def make(cls: type[Any], **props: Any) -> Any:
    """Build a transform the way the runtime does: parse the config, then construct."""
    config: Config = cls.config_def.parse({k: str(v) if not isinstance(v, str) else v for k, v in props.items()})
    return cls(config)


def sink(value: Any = None, value_schema: Schema | None = None, key: Any = None, key_schema: Schema | None = None,
         topic: str = "topic", timestamp: int | None = None) -> SinkRecord:
    return SinkRecord(topic, 0, key_schema, key, value_schema, value, 0, timestamp)


# --- JsonConverter envelopes ------------------------------------------------------------------
def schema_from_json(js: dict[str, Any], replace_null: bool = True) -> Schema:
    type_name = js["type"]
    schema_type = _JSON_TYPES.get(type_name) or Type(type_name)
    kwargs: dict[str, Any] = {
        "optional": js.get("optional", False),
        "name": js.get("name"),
        "version": js.get("version"),
        "doc": js.get("doc"),
        "parameters": js.get("parameters"),
    }
    if schema_type is Type.STRUCT:
        kwargs["fields"] = [(f["field"], schema_from_json(f, replace_null)) for f in js["fields"]]
    elif schema_type is Type.ARRAY:
        kwargs["value_schema"] = schema_from_json(js["items"], replace_null)
    elif schema_type is Type.MAP:
        kwargs["key_schema"] = schema_from_json(js["keys"], replace_null)
        kwargs["value_schema"] = schema_from_json(js["values"], replace_null)
    schema = Schema(schema_type, **kwargs)
    if js.get("default") is not None:
        schema = schema.copy(default=value_from_json(schema, js["default"], replace_null))
    return schema


def value_from_json(schema: Schema, payload: Any, replace_null: bool = True) -> Any:
    if payload is None:
        return schema.default if replace_null else None
    if schema.name == Decimal.LOGICAL_NAME:
        if isinstance(payload, str):
            return Decimal.to_logical(schema, base64.b64decode(payload))
        return decimal.Decimal(str(payload))
    if schema.name in _LOGICAL:
        return _LOGICAL[schema.name].to_logical(schema, payload)
    if schema.type is Type.BYTES:
        return base64.b64decode(payload)
    if schema.type in (Type.FLOAT32, Type.FLOAT64):
        return float(payload)
    if schema.type is Type.STRUCT:
        struct = Struct(schema)
        for f in schema.fields:
            struct.put(f, value_from_json(f.schema, payload.get(f.name), replace_null))
        return struct
    if schema.type is Type.ARRAY:
        assert schema.value_schema is not None
        return [value_from_json(schema.value_schema, v, replace_null) for v in payload]
    if schema.type is Type.MAP:
        assert schema.value_schema is not None
        return {k: value_from_json(schema.value_schema, v, replace_null) for k, v in payload.items()}
    return payload


def schema_to_json(schema: Schema) -> dict[str, Any]:
    js: dict[str, Any] = {"type": _TYPE_JSON.get(schema.type, schema.type.value), "optional": schema.optional}
    if schema.type is Type.STRUCT:
        js["fields"] = [{**schema_to_json(f.schema), "field": f.name} for f in schema.fields]
    elif schema.type is Type.ARRAY:
        assert schema.value_schema is not None
        js["items"] = schema_to_json(schema.value_schema)
    elif schema.type is Type.MAP:
        assert schema.key_schema is not None and schema.value_schema is not None
        js["keys"] = schema_to_json(schema.key_schema)
        js["values"] = schema_to_json(schema.value_schema)
    for attr in ("name", "version", "doc", "parameters"):
        if getattr(schema, attr) is not None:
            js[attr] = getattr(schema, attr)
    if schema.default is not None:
        js["default"] = value_to_json(schema, schema.default)
    return js


def value_to_json(schema: Schema, value: Any, replace_null: bool = True) -> Any:
    if value is None:
        return value_to_json(schema, schema.default) if replace_null and schema.default is not None else None
    if schema.name == Decimal.LOGICAL_NAME:
        return base64.b64encode(Decimal.from_logical(schema, value)).decode()
    if schema.name in _LOGICAL:
        return _LOGICAL[schema.name].from_logical(schema, value)
    if schema.type is Type.BYTES:
        return base64.b64encode(value).decode()
    if schema.type is Type.STRUCT:
        return {f.name: value_to_json(f.schema, value.get_without_default(f), replace_null) for f in schema.fields}
    if schema.type is Type.ARRAY:
        assert schema.value_schema is not None
        return [value_to_json(schema.value_schema, v, replace_null) for v in value]
    if schema.type is Type.MAP:
        assert schema.value_schema is not None
        return {k: value_to_json(schema.value_schema, v, replace_null) for k, v in value.items()}
    return value


def envelope_to_connect(envelope: Any, replace_null: bool) -> tuple[Schema | None, Any]:
    if envelope is None or envelope.get("schema") is None:
        return None, None if envelope is None else envelope.get("payload")
    schema = schema_from_json(envelope["schema"], replace_null)
    return schema, value_from_json(schema, envelope["payload"], replace_null)


def connect_to_envelope(schema: Schema | None, value: Any, replace_null: bool) -> Any:
    if schema is None and value is None:
        return None
    if schema is None:
        return {"schema": None, "payload": value}
    return {"schema": schema_to_json(schema), "payload": value_to_json(schema, value, replace_null)}


# --- acceptance vectors -----------------------------------------------------------------------
def vectors_for(*simple_names: str) -> list[Any]:
    """pytest params for every transform vector whose class is one of ``simple_names``."""
    if not VECTORS_PATH.exists():
        return [pytest.param(None, marks=pytest.mark.skip(reason=f"acceptance vectors not found at {VECTORS_PATH}"))]
    wanted = {f"org.apache.kafka.connect.transforms.{n}" for n in simple_names}
    out = []
    for v in json.loads(VECTORS_PATH.read_text()):
        base = (v.get("transform") or "").split("$")[0]
        if v.get("kind") == "transform" and base in wanted:
            out.append(pytest.param(v, id=v["id"]))
    return out


def _record_from(vector: dict[str, Any], replace_null: bool) -> ConnectRecord:
    inp = vector["input"]
    if vector.get("schemas_enable"):
        key_schema, key = envelope_to_connect(inp["key"], replace_null)
        value_schema, value = envelope_to_connect(inp["value"], replace_null)
    else:
        key_schema, key, value_schema, value = None, inp["key"], None, inp["value"]
    headers = [Header(name, v) for name, v in inp.get("headers", [])]
    if inp.get("offset") is None:
        return SourceRecord(None, None, inp["topic"], inp["partition"], key_schema, key, value_schema, value,
                            inp["timestamp"], headers)
    return SinkRecord(inp["topic"], inp["partition"], key_schema, key, value_schema, value, inp["offset"],
                      inp["timestamp"], headers=headers)


def run_vector(vector: dict[str, Any]) -> None:
    """Configure the vector's transform, apply it, and check the outcome the vector states."""
    cls = transform_class(vector["transform"])
    replace_null = (vector.get("converter_config") or {}).get("replace.null.with.default", "true") == "true"
    if vector.get("expect_error") and vector.get("error_phase") == "configure":
        with pytest.raises(ConfigException) as info:
            make(cls, **vector["config"])
        if vector.get("error_message"):
            assert_names_the_same_facts(str(info.value), vector["error_message"])
        return
    transform = make(cls, **vector["config"])
    record = _record_from(vector, replace_null)
    if vector.get("expect_error"):
        with pytest.raises(Exception) as info:  # any failure counts; the message is checked below
            transform.apply(record)
        if vector.get("error_message"):
            assert_names_the_same_facts(str(info.value), vector["error_message"])
        return
    result = transform.apply(record)
    expect = vector["expect"]
    if expect.get("dropped"):
        assert result is None
        return
    assert result is not None
    if vector.get("schemas_enable"):
        key = connect_to_envelope(result.key_schema, result.key, replace_null)
        value = connect_to_envelope(result.value_schema, result.value, replace_null)
    else:
        assert result.key_schema is None and result.value_schema is None
        key, value = result.key, result.value
    assert (result.topic, result.kafka_partition, key, value, result.timestamp) == (
        expect["topic"], expect["partition"], expect["key"], expect["value"], expect["timestamp"],
    )
    assert [[h.key, h.value] for h in result.headers] == expect.get("headers", [])
