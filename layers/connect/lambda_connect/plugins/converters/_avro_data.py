"""Connect schemas and values <-> Avro, following Confluent's ``AvroData`` conventions.

Connect types Avro lacks travel as properties (``connect.type: int8``, ``connect.name``,
``connect.parameters``), so a schema written here reads back into the same Connect schema
and other Avro consumers still see plain Avro. Values are handed to fastavro with Python's
logical types (Decimal, date, time, datetime), which fastavro encodes itself.
"""

from __future__ import annotations

import datetime as _dt
import decimal as _decimal
from typing import Any

from lambda_connect.api.data import STRING_SCHEMA, Date, Decimal, Schema, Struct, Time, Timestamp, Type
from lambda_connect.api.errors import DataException

__all__ = ["avro_to_connect_schema", "connect_to_avro_schema", "to_avro_value", "to_connect_value"]

NAMESPACE = "io.confluent.connect.avro"
DEFAULT_RECORD = "ConnectDefault"
MAP_ENTRY = "MapEntry"

_PRIMITIVES: dict[Type, str] = {
    Type.INT8: "int",
    Type.INT16: "int",
    Type.INT32: "int",
    Type.INT64: "long",
    Type.FLOAT32: "float",
    Type.FLOAT64: "double",
    Type.BOOLEAN: "boolean",
    Type.STRING: "string",
    Type.BYTES: "bytes",
}
_DEFAULT_PRECISION = 64


# --- Connect -> Avro schema -------------------------------------------------------------------


class _Names:
    """Avro forbids defining a named type twice: unnamed structs get numbered default names
    and a struct schema seen again is referenced by name."""

    def __init__(self) -> None:
        self.defined: dict[str, Schema] = {}
        self.unnamed = 0
        self.entries = 0

    def default_name(self) -> str:
        self.unnamed += 1
        return DEFAULT_RECORD if self.unnamed == 1 else f"{DEFAULT_RECORD}{self.unnamed}"


def connect_to_avro_schema(schema: Schema) -> Any:
    """The Avro schema (as a JSON-able object) for a Connect schema."""
    return _to_avro(schema, _Names())


def _to_avro(schema: Schema, names: _Names) -> Any:
    base = _to_avro_non_null(schema, names)
    if schema.optional:
        return ["null", base] if schema.default is None else [base, "null"]
    return base


def _with_connect_props(out: dict[str, Any], schema: Schema) -> dict[str, Any]:
    if schema.doc is not None:
        out["connect.doc"] = schema.doc
    if schema.version is not None:
        out["connect.version"] = schema.version
    if schema.parameters:
        out["connect.parameters"] = dict(schema.parameters)
    if schema.name is not None:
        out["connect.name"] = schema.name
    return out


def _to_avro_non_null(schema: Schema, names: _Names) -> Any:
    name, t = schema.name, schema.type
    if name == Decimal.LOGICAL_NAME:
        scale = Decimal.scale_of(schema)
        precision = int((schema.parameters or {}).get("connect.decimal.precision", _DEFAULT_PRECISION))
        out = {"type": "bytes", "scale": scale, "precision": precision, "logicalType": "decimal"}
        return _with_connect_props(out, schema)
    if name == Date.LOGICAL_NAME:
        return _with_connect_props({"type": "int", "logicalType": "date"}, schema)
    if name == Time.LOGICAL_NAME:
        return _with_connect_props({"type": "int", "logicalType": "time-millis"}, schema)
    if name == Timestamp.LOGICAL_NAME:
        return _with_connect_props({"type": "long", "logicalType": "timestamp-millis"}, schema)
    if t in _PRIMITIVES:
        out: dict[str, Any] = {"type": _PRIMITIVES[t]}
        if t in (Type.INT8, Type.INT16):
            out["connect.type"] = t.value
        _with_connect_props(out, schema)
        return out if len(out) > 1 else out["type"]
    if t is Type.ARRAY:
        assert schema.value_schema is not None
        return _with_connect_props({"type": "array", "items": _to_avro(schema.value_schema, names)}, schema)
    if t is Type.MAP:
        assert schema.key_schema is not None and schema.value_schema is not None
        if schema.key_schema.type is Type.STRING and not schema.key_schema.optional:
            return _with_connect_props({"type": "map", "values": _to_avro(schema.value_schema, names)}, schema)
        names.entries += 1
        entry_name = MAP_ENTRY if names.entries == 1 else f"{MAP_ENTRY}{names.entries}"
        entry = {
            "type": "record",
            "name": entry_name,
            "namespace": NAMESPACE,
            "fields": [
                {"name": "key", "type": _to_avro(schema.key_schema, names)},
                {"name": "value", "type": _to_avro(schema.value_schema, names)},
            ],
        }
        return _with_connect_props({"type": "array", "items": entry, "connect.type": "map"}, schema)
    full_name = name or f"{NAMESPACE}.{names.default_name()}"
    if full_name in names.defined:
        if names.defined[full_name] == schema.copy(optional=False, default=None):
            return full_name
        raise DataException(f"Cannot convert to Avro: two different struct schemas are named {full_name}")
    names.defined[full_name] = schema.copy(optional=False, default=None)
    namespace, _, short = full_name.rpartition(".")
    record: dict[str, Any] = {"type": "record", "name": short}
    if namespace:
        record["namespace"] = namespace
    if schema.doc is not None:
        record["doc"] = schema.doc
    fields = []
    for f in schema.fields:
        field: dict[str, Any] = {"name": f.name, "type": _to_avro(f.schema, names)}
        if f.schema.default is not None:
            field["default"] = _default_json(f.schema, f.schema.default)
        elif f.schema.optional:
            field["default"] = None
        fields.append(field)
    record["fields"] = fields
    out = _with_connect_props(record, schema)
    if name is None:
        out.pop("connect.name", None)
    return out


def _default_json(schema: Schema, value: Any) -> Any:
    """Avro field defaults are JSON: bytes as ISO-8859-1 text, logical values as their base type."""
    if isinstance(value, _decimal.Decimal):
        value = Decimal.from_logical(schema, value)
    elif isinstance(value, _dt.datetime):
        return Timestamp.from_logical(schema, value)
    elif isinstance(value, _dt.date):
        return Date.from_logical(schema, value)
    elif isinstance(value, _dt.time):
        return Time.from_logical(schema, value)
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("latin-1")
    if isinstance(value, Struct):
        return {f.name: _default_json(f.schema, value.get(f)) for f in value.schema.fields}
    if isinstance(value, list):
        assert schema.value_schema is not None
        return [_default_json(schema.value_schema, v) for v in value]
    if isinstance(value, dict):
        assert schema.value_schema is not None
        return {k: _default_json(schema.value_schema, v) for k, v in value.items()}
    return value


# --- Avro -> Connect schema -------------------------------------------------------------------


def avro_to_connect_schema(avro: Any) -> Schema:
    """The Connect schema for an Avro schema (parsed JSON) written by any producer."""
    return _from_avro(avro, {}, optional=False)


def _from_avro(avro: Any, named: dict[str, Schema], optional: bool, namespace: str = "") -> Schema:
    if isinstance(avro, list):
        branches = [b for b in avro if b != "null"]
        if len(branches) != 1:
            raise DataException(f"Avro unions other than [null, T] are not supported: {avro}")
        return _from_avro(branches[0], named, optional=len(avro) > 1 or optional, namespace=namespace)
    if isinstance(avro, str):
        if avro in named or f"{namespace}.{avro}" in named:
            found = named.get(avro) or named[f"{namespace}.{avro}"]
            return found.copy(optional=optional)
        avro = {"type": avro}
    if not isinstance(avro, dict):
        raise DataException(f"Invalid Avro schema: {avro!r}")
    t = avro.get("type")
    if isinstance(t, (dict, list)):
        return _from_avro(t, named, optional, namespace)
    props: dict[str, Any] = {"optional": optional}
    if "connect.doc" in avro:
        props["doc"] = avro["connect.doc"]
    if "connect.version" in avro:
        props["version"] = int(avro["connect.version"])
    if isinstance(avro.get("connect.parameters"), dict):
        props["parameters"] = {str(k): str(v) for k, v in avro["connect.parameters"].items()}
    if "connect.name" in avro:
        props["name"] = avro["connect.name"]
    logical = avro.get("logicalType")
    if logical == "decimal" and t in ("bytes", "fixed"):
        params = dict(props.get("parameters") or {})
        params.setdefault("scale", str(avro.get("scale", 0)))
        if "precision" in avro and int(avro["precision"]) != _DEFAULT_PRECISION:
            params.setdefault("connect.decimal.precision", str(avro["precision"]))
        return Schema(Type.BYTES, **{**props, "name": Decimal.LOGICAL_NAME, "version": 1, "parameters": params})
    if logical == "date" and t == "int":
        return Schema(Type.INT32, **{**props, "name": Date.LOGICAL_NAME, "version": 1})
    if logical == "time-millis" and t == "int":
        return Schema(Type.INT32, **{**props, "name": Time.LOGICAL_NAME, "version": 1})
    if logical == "timestamp-millis" and t == "long":
        return Schema(Type.INT64, **{**props, "name": Timestamp.LOGICAL_NAME, "version": 1})
    if t == "int":
        kind = {"int8": Type.INT8, "int16": Type.INT16}.get(avro.get("connect.type", ""), Type.INT32)
        return Schema(kind, **props)
    simple = {"long": Type.INT64, "float": Type.FLOAT32, "double": Type.FLOAT64, "boolean": Type.BOOLEAN,
              "string": Type.STRING, "bytes": Type.BYTES, "fixed": Type.BYTES, "enum": Type.STRING}
    if t in simple:
        return Schema(simple[t], **props)
    if t == "array":
        items = avro.get("items")
        if avro.get("connect.type") == "map" and isinstance(items, dict) and items.get("type") == "record":
            fields = {f["name"]: f["type"] for f in items.get("fields", [])}
            key = _from_avro(fields["key"], named, False, namespace)
            value = _from_avro(fields["value"], named, False, namespace)
            return Schema.map(key, value, **props)
        return Schema.array(_from_avro(items, named, False, namespace), **props)
    if t == "map":
        return Schema.map(STRING_SCHEMA, _from_avro(avro.get("values"), named, False, namespace), **props)
    if t == "record":
        ns = avro.get("namespace", namespace)
        short = avro["name"]
        full = short if "." in short else (f"{ns}.{short}" if ns else short)
        if "name" not in props and not full.startswith(f"{NAMESPACE}.{DEFAULT_RECORD}"):
            props["name"] = full
        if "doc" not in props and isinstance(avro.get("doc"), str):
            props["doc"] = avro["doc"]
        fields = [(f["name"], _from_avro(f["type"], named, False, ns)) for f in avro.get("fields", [])]
        schema = Schema.struct(fields, **props)
        named[full] = schema.copy(optional=False)
        return schema
    raise DataException(f"Unsupported Avro type: {t}")


# --- values -----------------------------------------------------------------------------------


def to_avro_value(schema: Schema, value: Any) -> Any:
    """A fastavro datum for a Connect value: structs become dicts, non-string-key maps entry records."""
    if value is None:
        return None
    t = schema.type
    if t is Type.STRUCT:
        if not isinstance(value, Struct):
            raise DataException(f"Invalid type for STRUCT: {type(value).__name__}")
        return {f.name: to_avro_value(f.schema, value.get(f)) for f in schema.fields}
    if t is Type.ARRAY:
        assert schema.value_schema is not None
        return [to_avro_value(schema.value_schema, v) for v in value]
    if t is Type.MAP:
        assert schema.key_schema is not None and schema.value_schema is not None
        ks, vs = schema.key_schema, schema.value_schema
        if ks.type is Type.STRING and not ks.optional:
            return {k: to_avro_value(vs, v) for k, v in value.items()}
        return [{"key": to_avro_value(ks, k), "value": to_avro_value(vs, v)} for k, v in value.items()]
    if t is Type.BYTES and isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    return value


def to_connect_value(schema: Schema, datum: Any) -> Any:
    """The Connect value for a fastavro datum read with the writer schema ``schema`` maps to."""
    if datum is None:
        return None
    t = schema.type
    if t is Type.STRUCT:
        struct = Struct(schema)
        for f in schema.fields:
            struct.put(f, to_connect_value(f.schema, datum.get(f.name)))
        return struct
    if t is Type.ARRAY:
        assert schema.value_schema is not None
        return [to_connect_value(schema.value_schema, v) for v in datum]
    if t is Type.MAP:
        assert schema.key_schema is not None and schema.value_schema is not None
        if isinstance(datum, dict):
            return {k: to_connect_value(schema.value_schema, v) for k, v in datum.items()}
        return {to_connect_value(schema.key_schema, e["key"]): to_connect_value(schema.value_schema, e["value"])
                for e in datum}
    if schema.name == Timestamp.LOGICAL_NAME and isinstance(datum, _dt.datetime) and datum.tzinfo is None:
        return datum.replace(tzinfo=_dt.UTC)
    return datum
