"""Run acceptance vectors (``tests/acceptance/smt_vectors.json``) directly against one plugin class.

Schema'd vectors carry JsonConverter envelopes; until the JsonConverter exists these helpers
translate envelopes to Connect schemas/values and back (a subset of the JsonConverter rules:
logical Timestamp/Date/Time, structs, arrays, maps). The end-to-end run through the real
converters and the CLI path is owned elsewhere; this checks the transform's own behaviour.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from lambda_connect.api import (
    ConfigException,
    ConnectException,
    Header,
    Schema,
    SinkRecord,
    SourceRecord,
    Struct,
    Type,
)
from lambda_connect.api.data import Date, Time, Timestamp

from tests.acceptance.vectors import SMT_VECTORS_PATH, assert_names_the_same_facts

VECTORS_PATH = SMT_VECTORS_PATH

_JSON_TYPES = {
    "int8": Type.INT8,
    "int16": Type.INT16,
    "int32": Type.INT32,
    "int64": Type.INT64,
    "float": Type.FLOAT32,
    "double": Type.FLOAT64,
    "boolean": Type.BOOLEAN,
    "string": Type.STRING,
    "bytes": Type.BYTES,
    "array": Type.ARRAY,
    "map": Type.MAP,
    "struct": Type.STRUCT,
}
_TYPE_NAMES = {v: k for k, v in _JSON_TYPES.items()}


def vectors_for(*class_names: str) -> list[Any]:
    """``pytest.param``s for every vector whose ``transform`` is one of ``class_names``."""
    if not VECTORS_PATH.exists():
        return [pytest.param(None, marks=pytest.mark.skip(reason=f"acceptance vectors not found at {VECTORS_PATH}"))]
    vectors = json.loads(VECTORS_PATH.read_text())
    return [pytest.param(v, id=v["id"]) for v in vectors if v.get("transform") in class_names]


# --- envelopes <-> Connect ----------------------------------------------------------------------


def schema_from_json(js: dict[str, Any] | None, replace_null_with_default: bool = True) -> Schema | None:
    if js is None:
        return None
    type_ = _JSON_TYPES[js["type"]]
    kwargs: dict[str, Any] = {
        "optional": js.get("optional", False),
        "name": js.get("name"),
        "version": js.get("version"),
        "doc": js.get("doc"),
        "parameters": js.get("parameters"),
    }
    if type_ is Type.STRUCT:
        kwargs["fields"] = [(f["field"], schema_from_json(f, replace_null_with_default)) for f in js["fields"]]
    elif type_ is Type.ARRAY:
        kwargs["value_schema"] = schema_from_json(js["items"], replace_null_with_default)
    elif type_ is Type.MAP:
        kwargs["key_schema"] = schema_from_json(js["keys"], replace_null_with_default)
        kwargs["value_schema"] = schema_from_json(js["values"], replace_null_with_default)
    schema = Schema(type_, **kwargs)
    if "default" in js and js["default"] is not None:
        schema = schema.copy(default=value_from_json(schema, js["default"], replace_null_with_default))
    return schema


def value_from_json(schema: Schema | None, payload: Any, replace_null_with_default: bool = True) -> Any:
    if schema is None:
        return payload
    if payload is None:
        return schema.default if replace_null_with_default else None
    if schema.name == Timestamp.LOGICAL_NAME:
        return Timestamp.to_logical(schema, payload)
    if schema.name == Date.LOGICAL_NAME:
        return Date.to_logical(schema, payload)
    if schema.name == Time.LOGICAL_NAME:
        return Time.to_logical(schema, payload)
    if schema.type is Type.STRUCT:
        struct = Struct(schema)
        for f in schema.fields:
            struct.put(f.name, value_from_json(f.schema, payload.get(f.name), replace_null_with_default))
        return struct
    if schema.type is Type.ARRAY:
        return [value_from_json(schema.value_schema, x, replace_null_with_default) for x in payload]
    if schema.type is Type.MAP:
        return {k: value_from_json(schema.value_schema, x, replace_null_with_default) for k, x in payload.items()}
    if schema.type in (Type.FLOAT32, Type.FLOAT64):
        return float(payload)
    return payload


def schema_to_json(schema: Schema | None) -> dict[str, Any] | None:
    if schema is None:
        return None
    out: dict[str, Any] = {"type": _TYPE_NAMES[schema.type], "optional": schema.optional}
    if schema.type is Type.STRUCT:
        out["fields"] = [{**schema_to_json(f.schema), "field": f.name} for f in schema.fields]  # type: ignore[dict-item]
    elif schema.type is Type.ARRAY:
        out["items"] = schema_to_json(schema.value_schema)
    elif schema.type is Type.MAP:
        out["keys"] = schema_to_json(schema.key_schema)
        out["values"] = schema_to_json(schema.value_schema)
    if schema.default is not None:
        out["default"] = value_to_json(schema, schema.default, True)
    for attr in ("name", "version", "doc", "parameters"):
        if getattr(schema, attr) is not None:
            out[attr] = getattr(schema, attr)
    return out


def value_to_json(schema: Schema | None, value: Any, replace_null_with_default: bool = True) -> Any:
    if value is None:
        if schema is not None and replace_null_with_default and schema.default is not None:
            return value_to_json(schema, schema.default, replace_null_with_default)
        return None
    if isinstance(value, dt.datetime):
        return Timestamp.from_logical(schema, value)
    if isinstance(value, dt.date):
        return Date.from_logical(schema, value)
    if isinstance(value, dt.time):
        return Time.from_logical(schema, value)
    if isinstance(value, Struct):
        return {
            f.name: value_to_json(f.schema, value.get_without_default(f), replace_null_with_default)
            for f in value.schema.fields
        }
    if isinstance(value, list):
        items = schema.value_schema if schema is not None else None
        return [value_to_json(items, x, replace_null_with_default) for x in value]
    if isinstance(value, dict):
        values = schema.value_schema if schema is not None else None
        return {k: value_to_json(values, x, replace_null_with_default) for k, x in value.items()}
    return value


# --- records -------------------------------------------------------------------------------------


def _side_in(vector: dict[str, Any], side: str) -> tuple[Schema | None, Any]:
    raw = vector["input"][side]
    if not vector.get("schemas_enable") or raw is None:
        return None, raw
    rnwd = vector.get("converter_config", {}).get("replace.null.with.default", "true") == "true"
    schema = schema_from_json(raw["schema"], rnwd)
    return schema, value_from_json(schema, raw["payload"], rnwd)


def record_from_vector(vector: dict[str, Any]) -> SinkRecord | SourceRecord:
    """A SinkRecord, or a SourceRecord when ``offset`` is null, as the vector format says."""
    inp = vector["input"]
    key_schema, key = _side_in(vector, "key")
    value_schema, value = _side_in(vector, "value")
    headers = [Header(name, value) for name, value in inp.get("headers", [])]
    if inp.get("offset") is None:
        return SourceRecord(
            None, None, inp["topic"], inp["partition"], key_schema, key, value_schema, value, inp["timestamp"], headers
        )
    return SinkRecord(
        inp["topic"], inp["partition"], key_schema, key, value_schema, value, inp["offset"], inp["timestamp"],
        headers=headers,
    )


def record_to_vector_output(vector: dict[str, Any], record: Any) -> dict[str, Any]:
    rnwd = vector.get("converter_config", {}).get("replace.null.with.default", "true") == "true"

    def side(schema: Schema | None, value: Any) -> Any:
        if not vector.get("schemas_enable") or (schema is None and value is None):
            # the JsonConverter writes a null with no schema as a null message, not an envelope
            return value_to_json(None, value)
        return {"schema": schema_to_json(schema), "payload": value_to_json(schema, value, rnwd)}

    return {
        "topic": record.topic,
        "partition": record.kafka_partition,
        "key": side(record.key_schema, record.key),
        "value": side(record.value_schema, record.value),
        "timestamp": record.timestamp,
        "headers": [[h.key, value_to_json(h.schema, h.value)] for h in record.headers],
    }


# --- running -----------------------------------------------------------------------------------


def _check_message(vector: dict[str, Any], error: BaseException) -> None:
    if "error_message" in vector:
        assert_names_the_same_facts(str(error), vector["error_message"])
    if "error_message_contains" in vector:
        assert vector["error_message_contains"] in str(error)


def build(cls: type[Any], config: dict[str, str]) -> Any:
    """How the runtime builds a plugin: parse with its ConfigDef, then construct."""
    return cls(cls.config_def.parse(config))


def run_vector(cls: type[Any], vector: dict[str, Any]) -> None:
    """Configure ``cls`` with the vector's config, run it on the vector's record, check the outcome."""
    if vector.get("expect_error") and vector["error_phase"] == "configure":
        with pytest.raises(ConfigException) as info:
            build(cls, vector["config"])
        _check_message(vector, info.value)
        return
    plugin = build(cls, vector["config"])
    record = record_from_vector(vector)
    if vector.get("expect_error"):
        with pytest.raises(ConnectException) as err:
            plugin.apply(record)
        _check_message(vector, err.value)
        return
    if vector["kind"] == "predicate":
        assert plugin.test(record) is vector["expect"]["matches"]
        return
    result = plugin.apply(record)
    if vector["expect"].get("dropped"):
        assert result is None
        return
    assert result is not None
    assert record_to_vector_output(vector, result) == vector["expect"]


def resolve_builtin(kafka_name: str) -> Any:
    """The class ``plugins.BUILTINS`` registers under ``kafka_name`` (``module:Attr.Nested``)."""
    import importlib

    from lambda_connect.plugins import BUILTINS

    target = dict(BUILTINS)[kafka_name]
    module_name, _, attr_path = target.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in attr_path.split("."):
        obj = getattr(obj, part)
    return obj
