"""Connect schemas <-> JSON Schema documents, following Confluent's ``JsonSchemaData``.

JSON Schema has no int8 or bytes, so Connect types ride along as ``connect.type`` hints,
logical types as ``title`` + ``connect.version``/``connect.parameters``, and optional
values as ``oneOf [null, T]``. Documents from other producers (no hints) still map:
``integer`` to INT64, ``number`` to FLOAT64, ``object`` with properties to a STRUCT.
Maps with non-string keys are arrays of ``[key, value]`` pairs, as JsonConverter writes them.
"""

from __future__ import annotations

from typing import Any

from lambda_connect.api.data import STRING_SCHEMA, Date, Decimal, Schema, Time, Timestamp, Type
from lambda_connect.api.errors import DataException

from ._json_codec import Codec

__all__ = ["connect_to_json_schema", "json_schema_to_connect"]

_HINTS: dict[Type, tuple[str, str | None]] = {
    Type.INT8: ("integer", "int8"),
    Type.INT16: ("integer", "int16"),
    Type.INT32: ("integer", "int32"),
    Type.INT64: ("integer", "int64"),
    Type.FLOAT32: ("number", "float32"),
    Type.FLOAT64: ("number", "float64"),
    Type.BOOLEAN: ("boolean", None),
    Type.STRING: ("string", None),
    Type.BYTES: ("string", "bytes"),
}
_BY_HINT = {hint: t for t, (_, hint) in _HINTS.items() if hint}
_LOGICAL = {Decimal.LOGICAL_NAME, Date.LOGICAL_NAME, Time.LOGICAL_NAME, Timestamp.LOGICAL_NAME}
_CODEC = Codec(decimal_numeric=True)


def connect_to_json_schema(schema: Schema) -> dict[str, Any]:
    """A draft-07 JSON Schema document for a Connect schema."""
    return {"$schema": "http://json-schema.org/draft-07/schema#", **_to_json_schema(schema)}


def _to_json_schema(schema: Schema) -> dict[str, Any]:
    base = _non_null(schema)
    if schema.default is not None:
        base["default"] = _CODEC.to_json(schema)(schema.default)
    if schema.optional:
        return {"oneOf": [{"type": "null"}, base]}
    return base


def _non_null(schema: Schema) -> dict[str, Any]:
    t = schema.type
    out: dict[str, Any]
    if schema.name == Decimal.LOGICAL_NAME:
        out = {"type": "number"}
    elif t in _HINTS:
        json_type, hint = _HINTS[t]
        out = {"type": json_type}
        if hint:
            out["connect.type"] = hint
    elif t is Type.ARRAY:
        assert schema.value_schema is not None
        out = {"type": "array", "items": _to_json_schema(schema.value_schema)}
    elif t is Type.MAP:
        assert schema.key_schema is not None and schema.value_schema is not None
        if schema.key_schema.type is Type.STRING:
            values = _to_json_schema(schema.value_schema)
            out = {"type": "object", "additionalProperties": values, "connect.type": "map"}
        else:
            pair = [_to_json_schema(schema.key_schema), _to_json_schema(schema.value_schema)]
            out = {"type": "array", "items": {"type": "array", "items": pair}, "connect.type": "map"}
    else:
        properties = {}
        for f in schema.fields:
            properties[f.name] = {**_to_json_schema(f.schema), "connect.index": f.index}
        out = {"type": "object", "properties": properties, "additionalProperties": False}
        required = [f.name for f in schema.fields if not f.schema.optional]
        if required:
            out["required"] = required
    if schema.name is not None:
        out["title"] = schema.name
    if schema.version is not None:
        out["connect.version"] = schema.version
    if schema.doc is not None:
        out["description"] = schema.doc
    if schema.parameters:
        out["connect.parameters"] = dict(schema.parameters)
    return out


def json_schema_to_connect(doc: Any) -> Schema:
    """The Connect schema for a JSON Schema document (ours or another producer's)."""
    return _from(doc, optional=False)


def _from(node: Any, optional: bool) -> Schema:
    if node is True or node == {}:
        raise DataException("JSON Schemas without a type cannot be mapped to a Connect schema")
    if not isinstance(node, dict):
        raise DataException(f"Invalid JSON Schema: {node!r}")
    for union in ("oneOf", "anyOf"):
        if union in node:
            branches = [b for b in node[union] if not (isinstance(b, dict) and b.get("type") == "null")]
            if len(branches) != 1:
                raise DataException(f"JSON Schema {union} other than [null, T] is not supported")
            return _from(branches[0], optional=len(branches) < len(node[union]) or optional)
    json_type = node.get("type")
    if isinstance(json_type, list):
        kinds = [k for k in json_type if k != "null"]
        if len(kinds) != 1:
            raise DataException(f"JSON Schema type lists other than [null, T] are not supported: {json_type}")
        return _from({**node, "type": kinds[0]}, optional=optional or "null" in json_type)
    props: dict[str, Any] = {"optional": optional}
    title = node.get("title")
    if isinstance(title, str):
        props["name"] = title
    if "connect.version" in node:
        props["version"] = int(node["connect.version"])
    if isinstance(node.get("description"), str):
        props["doc"] = node["description"]
    if isinstance(node.get("connect.parameters"), dict):
        props["parameters"] = {str(k): str(v) for k, v in node["connect.parameters"].items()}
    hint = node.get("connect.type")
    schema: Schema
    if title == Decimal.LOGICAL_NAME:
        schema = Schema(Type.BYTES, **props)
    elif title in _LOGICAL:
        schema = Schema(Type.INT64 if title == Timestamp.LOGICAL_NAME else Type.INT32, **props)
    elif json_type in ("integer", "number", "boolean", "string") and hint != "map":
        default = {"integer": Type.INT64, "number": Type.FLOAT64, "boolean": Type.BOOLEAN, "string": Type.STRING}
        schema = Schema(_BY_HINT.get(hint, default[json_type]), **props)
    elif json_type == "array" and hint == "map":
        items = node.get("items", {}).get("items")
        if not isinstance(items, list) or len(items) != 2:
            raise DataException("A connect.type=map array schema needs [key, value] item schemas")
        schema = Schema.map(_from(items[0], False), _from(items[1], False), **props)
    elif json_type == "array":
        schema = Schema.array(_from(node.get("items"), False), **props)
    elif json_type == "object" and (hint == "map" or "properties" not in node):
        values = node.get("additionalProperties")
        if not isinstance(values, dict):
            raise DataException("JSON Schema objects need properties or an additionalProperties schema")
        schema = Schema.map(STRING_SCHEMA, _from(values, False), **props)
    elif json_type == "object":
        required = set(node.get("required", ()))
        entries = sorted(
            node["properties"].items(),
            key=lambda kv: kv[1].get("connect.index", 1 << 30) if isinstance(kv[1], dict) else 1 << 30,
        )
        fields = [(name, _from(sub, name not in required)) for name, sub in entries]
        schema = Schema.struct(fields, **props)
    else:
        raise DataException(f"Unsupported JSON Schema type: {json_type}")
    if "default" in node and node["default"] is not None:
        schema = schema.copy(default=_CODEC.to_connect(schema)(node["default"]))
    return schema
