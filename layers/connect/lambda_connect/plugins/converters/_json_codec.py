"""Connect schemas and values <-> JSON trees, with JsonConverter's rules.

Per-record work is the hot path of every sink, so a schema is *compiled* once into a
closure tree that converts values without re-inspecting the schema; the converter caches
those closures per schema. Error messages follow Kafka's JsonConverter, because users
search for them and DLQ headers carry them.
"""

from __future__ import annotations

import base64
import binascii
import datetime as _dt
import decimal as _decimal
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lambda_connect.api.data import Date, Decimal, OutOfRangeTimestamp, Schema, Struct, Time, Timestamp, Type
from lambda_connect.api.errors import DataException

from ._json_plans import PLAN_LIMIT, PlanCache, filled_struct, read_step, write_step

__all__ = [
    "Codec",
    "contains_decimal",
    "java_class",
    "node_type",
    "schemaless_to_json",
]

Convert = Callable[[Any], Any]

_TYPE_NAMES: dict[Type, str] = {
    Type.INT8: "int8",
    Type.INT16: "int16",
    Type.INT32: "int32",
    Type.INT64: "int64",
    Type.FLOAT32: "float",
    Type.FLOAT64: "double",
    Type.BOOLEAN: "boolean",
    Type.STRING: "string",
    Type.BYTES: "bytes",
    Type.ARRAY: "array",
    Type.MAP: "map",
    Type.STRUCT: "struct",
}
_TYPES_BY_NAME = {v: k for k, v in _TYPE_NAMES.items()}
_INT_BOUNDS = {
    Type.INT8: (-(2**7), 2**7 - 1),
    Type.INT16: (-(2**15), 2**15 - 1),
    Type.INT32: (-(2**31), 2**31 - 1),
    Type.INT64: (-(2**63), 2**63 - 1),
}
_JAVA_CLASSES: dict[type, str] = {
    str: "java.lang.String",
    int: "java.lang.Long",
    float: "java.lang.Double",
    bool: "java.lang.Boolean",
    dict: "java.util.HashMap",
    list: "java.util.ArrayList",
    tuple: "java.util.ArrayList",
    bytes: "[B",
    bytearray: "[B",
    _decimal.Decimal: "java.math.BigDecimal",
    _dt.datetime: "java.util.Date",
    _dt.date: "java.util.Date",
    _dt.time: "java.util.Date",
    Struct: "org.apache.kafka.connect.data.Struct",
}


def java_class(value: Any) -> str:
    """``value.getClass()`` as Kafka prints it, so messages read like a Kafka worker's."""
    cls = type(value)
    name = _JAVA_CLASSES.get(cls) or f"{cls.__module__}.{cls.__qualname__}"
    return "class " + name


def node_type(value: Any) -> str:
    """Jackson's ``JsonNodeType`` name of a parsed JSON value."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "BOOLEAN"
    if isinstance(value, (int, float, _decimal.Decimal)):
        return "NUMBER"
    if isinstance(value, str):
        return "STRING"
    if isinstance(value, list):
        return "ARRAY"
    if isinstance(value, dict):
        return "OBJECT"
    return "POJO"


def contains_decimal(schema: Schema | None) -> bool:
    """Whether exact number text matters for this schema (a Decimal anywhere inside)."""
    if schema is None:
        return False
    if schema.name == Decimal.LOGICAL_NAME:
        return True
    if schema.type is Type.STRUCT:
        return any(contains_decimal(f.schema) for f in schema.fields)
    if schema.type is Type.ARRAY:
        return contains_decimal(schema.value_schema)
    if schema.type is Type.MAP:
        return contains_decimal(schema.key_schema) or contains_decimal(schema.value_schema)
    return False


def _b64(value: bytes | bytearray | memoryview) -> str:
    return base64.b64encode(value).decode("ascii")


def schemaless_to_json(value: Any) -> Any:
    """Kafka's checked conversion of a value without schema (the fallback of the orjson fast path)."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return _b64(value)
    if isinstance(value, (list, tuple)):
        return [schemaless_to_json(v) for v in value]
    if isinstance(value, dict):
        if all(isinstance(k, str) for k in value):
            return {k: schemaless_to_json(v) for k, v in value.items()}
        return [[schemaless_to_json(k), schemaless_to_json(v)] for k, v in value.items()]
    if isinstance(value, Struct):
        raise DataException("Mismatching schema.")
    raise DataException(f"Java class {java_class(value)} does not have corresponding schema type.")


@dataclass(frozen=True)
class Codec:
    """The settings that change how values map to JSON (``decimal.format``, ``replace.null.with.default``).

    ``plan_limit`` bounds the type plans per struct schema (``_json_plans``); 0 converts every
    field every time, the reference the plans are tested against.
    """

    decimal_numeric: bool = False
    replace_null_with_default: bool = True
    plan_limit: int = PLAN_LIMIT

    # --- schemas -------------------------------------------------------------------------
    def schema_to_json(self, schema: Schema | None) -> dict[str, Any] | None:
        """Kafka's ``asJsonSchema``: type first, ``optional`` always, then the metadata."""
        if schema is None:
            return None
        out: dict[str, Any] = {"type": _TYPE_NAMES[schema.type]}
        if schema.type is Type.ARRAY:
            out["items"] = self.schema_to_json(schema.value_schema)
        elif schema.type is Type.MAP:
            out["keys"] = self.schema_to_json(schema.key_schema)
            out["values"] = self.schema_to_json(schema.value_schema)
        elif schema.type is Type.STRUCT:
            fields = []
            for f in schema.fields:
                fj = self.schema_to_json(f.schema)
                assert fj is not None
                fj["field"] = f.name
                fields.append(fj)
            out["fields"] = fields
        out["optional"] = schema.optional
        if schema.name is not None:
            out["name"] = schema.name
        if schema.version is not None:
            out["version"] = schema.version
        if schema.doc is not None:
            out["doc"] = schema.doc
        if schema.parameters:
            out["parameters"] = dict(schema.parameters)
        if schema.default is not None:
            out["default"] = self.to_json(schema)(schema.default)
        return out

    def schema_from_json(self, node: Any) -> Schema | None:
        """Kafka's ``asConnectSchema``; a JSON ``null`` schema means schemaless."""
        if node is None:
            return None
        if not isinstance(node, dict):
            raise DataException("Schema must contain 'type' field")
        type_name = node.get("type")
        if not isinstance(type_name, str):
            raise DataException("Schema must contain 'type' field")
        type_ = _TYPES_BY_NAME.get(type_name)
        if type_ is None:
            raise DataException("Unknown schema type: " + type_name)
        kwargs: dict[str, Any] = {}
        if type_ is Type.ARRAY:
            if node.get("items") is None:
                raise DataException("An array schema needs an \"items\" schema for its elements")
            kwargs["value_schema"] = self.schema_from_json(node["items"])
        elif type_ is Type.MAP:
            if node.get("keys") is None:
                raise DataException("Map schema did not specify the key type")
            if node.get("values") is None:
                raise DataException("Map schema did not specify the value type")
            kwargs["key_schema"] = self.schema_from_json(node["keys"])
            kwargs["value_schema"] = self.schema_from_json(node["values"])
        elif type_ is Type.STRUCT:
            fields_node = node.get("fields")
            if not isinstance(fields_node, list):
                raise DataException('The "fields" of a struct schema must be a JSON array')
            fields = []
            for fnode in fields_node:
                fname = fnode.get("field") if isinstance(fnode, dict) else None
                if not isinstance(fname, str):
                    raise DataException('Each field of a struct schema needs a string "field" name')
                fschema = self.schema_from_json(fnode)
                assert fschema is not None
                fields.append((fname, fschema))
            kwargs["fields"] = fields
        kwargs["optional"] = node.get("optional") is True
        if isinstance(node.get("name"), str):
            kwargs["name"] = node["name"]
        version = node.get("version")
        if isinstance(version, int) and not isinstance(version, bool):
            kwargs["version"] = version
        if isinstance(node.get("doc"), str):
            kwargs["doc"] = node["doc"]
        params = node.get("parameters")
        if params is not None:
            if not isinstance(params, dict):
                raise DataException("Schema parameters must be a JSON object.")
            for k, v in params.items():
                if not isinstance(v, str):
                    raise DataException(f"Schema parameters must be strings: {k} has type {node_type(v)}")
            kwargs["parameters"] = params
        schema = Schema(type_, **kwargs)
        default_node = node.get("default")
        if default_node is not None:
            schema = schema.copy(default=self.to_connect(schema)(default_node))
        return schema

    # --- values: Connect -> JSON ------------------------------------------------------------
    def to_json(self, schema: Schema) -> Convert:
        """A function turning values of ``schema`` into a JSON tree (raises Kafka's DataExceptions)."""
        return self._json_null(schema, self._to_json_non_null(schema))

    def _json_null(self, schema: Schema, inner: Convert) -> Convert:
        has_default = schema.default is not None and self.replace_null_with_default
        default_json = inner(schema.default) if has_default else None
        optional = schema.optional

        def convert(value: Any) -> Any:
            if value is None:
                if has_default:
                    return default_json
                if optional:
                    return None
                raise DataException("Null for a required field that has no default")
            return inner(value)

        return convert

    def _to_json_non_null(self, schema: Schema) -> Convert:
        name = schema.name
        if name == Decimal.LOGICAL_NAME:
            return self._decimal_to_json(schema)
        if name == Date.LOGICAL_NAME:
            return _logical_to_json("Date", _dt.date, lambda v: Date.from_logical(schema, v))
        if name == Time.LOGICAL_NAME:
            return _logical_to_json("Time", _dt.time, lambda v: Time.from_logical(schema, v))
        if name == Timestamp.LOGICAL_NAME:
            return _logical_to_json(
                "Timestamp", (_dt.datetime, OutOfRangeTimestamp), lambda v: Timestamp.from_logical(schema, v)
            )
        t = schema.type
        if t in _INT_BOUNDS:
            lo, hi = _INT_BOUNDS[t]

            def int_to_json(v: Any) -> Any:
                if type(v) is int and lo <= v <= hi:
                    return v
                if isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi:
                    return int(v)
                raise DataException(f"Invalid type for {t.name}: {java_class(v)}")

            return int_to_json
        if t is Type.FLOAT32 or t is Type.FLOAT64:

            def float_to_json(v: Any) -> Any:
                if isinstance(v, (float, int)) and not isinstance(v, bool):
                    return float(v)
                raise DataException(f"Invalid type for {t.name}: {java_class(v)}")

            return float_to_json
        if t is Type.BOOLEAN:
            return _typed(t, bool)
        if t is Type.STRING:
            return _typed(t, str)
        if t is Type.BYTES:

            def bytes_to_json(v: Any) -> Any:
                if isinstance(v, (bytes, bytearray, memoryview)):
                    return _b64(v)
                raise DataException(f"Invalid type for BYTES: {java_class(v)}")

            return bytes_to_json
        if t is Type.ARRAY:
            assert schema.value_schema is not None
            item = self.to_json(schema.value_schema)

            def array_to_json(v: Any) -> Any:
                if not isinstance(v, (list, tuple)):
                    raise DataException(f"Invalid type for ARRAY: {java_class(v)}")
                return [item(x) for x in v]

            return array_to_json
        if t is Type.MAP:
            assert schema.key_schema is not None and schema.value_schema is not None
            key, val = self.to_json(schema.key_schema), self.to_json(schema.value_schema)
            object_mode = schema.key_schema.type is Type.STRING

            def map_to_json(v: Any) -> Any:
                if not isinstance(v, dict):
                    raise DataException(f"Invalid type for MAP: {java_class(v)}")
                if object_mode:
                    return {_as_text(key(k)): val(x) for k, x in v.items()}
                return [[key(k), val(x)] for k, x in v.items()]

            return map_to_json
        return self._struct_to_json(schema)

    def _struct_to_json(self, schema: Schema) -> Convert:
        """A STRUCT writer driven by type plans (see ``_json_plans``): the row is copied into a
        dict in one C call and only the fields that need converting are touched. Keys are plain
        ``str`` because orjson refuses ``str`` subclasses (SQLAlchemy's ``quoted_name``) as keys."""
        names = tuple(str(f.name) for f in schema.fields)
        inners = [self._to_json_non_null(f.schema) for f in schema.fields]
        fulls = [self._json_null(f.schema, inner) for f, inner in zip(schema.fields, inners)]
        replace = self.replace_null_with_default

        def step(i: int, t: type) -> Convert | None:
            return write_step(schema.fields[i].schema, t, inners[i], fulls[i], replace)

        cache = PlanCache(step, self.plan_limit)
        plans, build = cache.plans, cache.build

        def struct_to_json(v: Any) -> Any:
            if v.__class__ is not Struct or v.schema is not schema:
                if not isinstance(v, Struct):
                    raise DataException(f"Invalid type for STRUCT: {java_class(v)}")
                if v.schema is not schema and v.schema != schema:
                    raise DataException("Mismatching schema.")
            values = v._values
            steps = plans.get(tuple(map(type, values)))
            if steps is None and (steps := build(values)) is None:
                return {name: conv(x) for name, conv, x in zip(names, fulls, values)}
            out = dict(zip(names, values))
            for i, conv in steps:
                out[names[i]] = conv(values[i])
            return out

        return struct_to_json

    def _decimal_to_json(self, schema: Schema) -> Convert:
        numeric = self.decimal_numeric

        def decimal_to_json(v: Any) -> Any:
            if not isinstance(v, _decimal.Decimal):
                raise DataException(f"A Decimal field needs a decimal value, got {java_class(v)}")
            if numeric:
                return v
            return _b64(Decimal.from_logical(schema, v))

        return decimal_to_json

    # --- values: JSON -> Connect ------------------------------------------------------------
    def to_connect(self, schema: Schema) -> Convert:
        """A function turning a parsed JSON value into a Connect value of ``schema``."""
        return self._connect_null(schema, self._to_connect_non_null(schema))

    def _connect_null(self, schema: Schema, inner: Convert) -> Convert:
        has_default = schema.default is not None and self.replace_null_with_default
        default = schema.default
        optional = schema.optional
        type_name = schema.type.name

        def convert(node: Any) -> Any:
            if node is None:
                if has_default:
                    return default
                if optional:
                    return None
                raise DataException(f"Invalid null value for required {type_name} field")
            return inner(node)

        return convert

    def _to_connect_non_null(self, schema: Schema) -> Convert:
        name = schema.name
        if name == Decimal.LOGICAL_NAME:
            return _decimal_to_connect(schema)
        if name == Date.LOGICAL_NAME:
            return _temporal_to_connect("Date", "integer", Type.INT32, lambda n: Date.to_logical(schema, n))
        if name == Time.LOGICAL_NAME:
            return _temporal_to_connect("Time", "integer", Type.INT32, lambda n: Time.to_logical(schema, n))
        if name == Timestamp.LOGICAL_NAME:
            return _temporal_to_connect(
                "Timestamp", "integral", Type.INT64, lambda n: Timestamp.to_logical(schema, n)
            )
        t = schema.type
        if t in _INT_BOUNDS:
            lo, hi = _INT_BOUNDS[t]

            def int_to_connect(n: Any) -> Any:
                if type(n) is not int:
                    if isinstance(n, (float, _decimal.Decimal)) and n == int(n):
                        n = int(n)
                    else:
                        raise DataException(
                            f"Invalid value for {t.name} field: expected an integer but was {node_type(n)}"
                        )
                if not lo <= n <= hi:
                    raise DataException(f"Value {n} out of range for schema type {t.name}")
                return n

            return int_to_connect
        if t is Type.FLOAT32 or t is Type.FLOAT64:

            def float_to_connect(n: Any) -> Any:
                if isinstance(n, (float, int, _decimal.Decimal)) and not isinstance(n, bool):
                    return float(n)
                raise DataException(f"Invalid value for {t.name} field: expected a number but was {node_type(n)}")

            return float_to_connect
        if t is Type.BOOLEAN or t is Type.STRING:
            py = bool if t is Type.BOOLEAN else str
            expected = "a boolean" if t is Type.BOOLEAN else "a string"

            def simple_to_connect(n: Any) -> Any:
                if isinstance(n, py):
                    return n
                raise DataException(f"Invalid value for {t.name} field: expected {expected} but was {node_type(n)}")

            return simple_to_connect
        if t is Type.BYTES:

            def bytes_to_connect(n: Any) -> Any:
                if not isinstance(n, str):
                    raise DataException(f"Invalid value for BYTES field: expected base64 text but was {node_type(n)}")
                try:
                    return base64.b64decode(n, validate=True)
                except (binascii.Error, ValueError) as e:
                    raise DataException("Invalid bytes field") from e

            return bytes_to_connect
        if t is Type.ARRAY:
            assert schema.value_schema is not None
            item = self.to_connect(schema.value_schema)

            def array_to_connect(n: Any) -> Any:
                if not isinstance(n, list):
                    raise DataException(f"An array schema needs a JSON array, got {node_type(n)}")
                return [item(x) for x in n]

            return array_to_connect
        if t is Type.MAP:
            assert schema.key_schema is not None and schema.value_schema is not None
            key, val = self.to_connect(schema.key_schema), self.to_connect(schema.value_schema)
            if schema.key_schema.type is Type.STRING:

                def object_to_connect(n: Any) -> Any:
                    if not isinstance(n, dict):
                        raise DataException(
                            f"A map with string keys needs a JSON object, got {node_type(n)}"
                        )
                    return {k: val(x) for k, x in n.items()}

                return object_to_connect

            def pairs_to_connect(n: Any) -> Any:
                if not isinstance(n, list):
                    raise DataException(
                        "A map with non-string keys needs a JSON array of [key, value] pairs, "
                        f"but found {node_type(n)}"
                    )
                out: dict[Any, Any] = {}
                for entry in n:
                    if not isinstance(entry, list):
                        raise DataException(f"A map entry must be a [key, value] array, got {node_type(entry)}")
                    if len(entry) != 2:
                        raise DataException(f"A map entry must have 2 elements, this one has {len(entry)}")
                    out[_hashable(key(entry[0]))] = val(entry[1])
                return out

            return pairs_to_connect
        return self._struct_to_connect(schema)

    def _struct_to_connect(self, schema: Schema) -> Convert:
        """A STRUCT reader driven by type plans. Every field value comes out of a converter that
        already enforces what ``Struct.put`` would check, so the struct is filled without it;
        beyond the plan limit fields go through ``put`` one by one, as before plans existed."""
        fields = schema.fields
        names = tuple(f.name for f in fields)
        inners = [self._to_connect_non_null(f.schema) for f in fields]
        fulls = [self._connect_null(f.schema, inner) for f, inner in zip(fields, inners)]
        replace = self.replace_null_with_default

        def step(i: int, t: type) -> Convert | None:
            return read_step(fields[i].schema, t, inners[i], fulls[i], replace)

        cache = PlanCache(step, self.plan_limit)
        plans, build = cache.plans, cache.build

        def struct_to_connect(n: Any) -> Any:
            if not isinstance(n, dict):
                raise DataException(f"A struct schema needs a JSON object, got {node_type(n)}")
            values = list(map(n.get, names))
            steps = plans.get(tuple(map(type, values)))
            if steps is None and (steps := build(values)) is None:
                struct = Struct(schema)
                for f, conv, x in zip(fields, fulls, values):
                    struct.put(f, conv(x))
                return struct
            for i, conv in steps:
                values[i] = conv(values[i])
            return filled_struct(schema, values)

        return struct_to_connect


def _typed(t: Type, py: type) -> Convert:
    def convert(v: Any) -> Any:
        if isinstance(v, py):
            return v
        raise DataException(f"Invalid type for {t.name}: {java_class(v)}")

    return convert


def _as_text(key: Any) -> str:
    """Jackson's ``asText`` of a map key already converted to JSON (null keys become "null")."""
    return "null" if key is None else key


def _hashable(key: Any) -> Any:
    if isinstance(key, list):
        return tuple(_hashable(k) for k in key)
    if isinstance(key, dict):
        raise DataException("Map keys of type MAP cannot be represented in Python")
    return key


def _logical_to_json(label: str, py: type | tuple[type, ...], encode: Callable[[Any], int]) -> Convert:
    def convert(v: Any) -> Any:
        if not isinstance(v, py):
            raise DataException(f"Invalid type for {label}, expected Date but was {java_class(v)}")
        return encode(v)

    return convert


def _temporal_to_connect(label: str, kind: str, underlying: Type, decode: Callable[[int], Any]) -> Convert:
    lo, hi = _INT_BOUNDS[underlying]

    def convert(n: Any) -> Any:
        if type(n) is not int or not lo <= n <= hi:
            raise DataException(
                f"A {label} field needs an {kind} in range, got {node_type(n)}"
            )
        return decode(n)

    return convert


def _decimal_to_connect(schema: Schema) -> Convert:
    def convert(n: Any) -> Any:
        if isinstance(n, _decimal.Decimal):
            return n
        if isinstance(n, int) and not isinstance(n, bool):
            return _decimal.Decimal(n)
        if isinstance(n, float):
            return _decimal.Decimal(repr(n))
        if isinstance(n, str):
            try:
                return Decimal.to_logical(schema, base64.b64decode(n, validate=True))
            except (binascii.Error, ValueError, DataException) as e:
                raise DataException("Invalid bytes for Decimal field") from e
        raise DataException(
            f"A Decimal field needs a number or base64 bytes, got {node_type(n)}"
        )

    return convert
