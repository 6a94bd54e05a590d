"""The Connect data model: schemas, structs and logical types.

Values are plain Python objects so that schemaless data (JSON maps) costs nothing to carry:

    INT8..INT64 -> int            FLOAT32/FLOAT64 -> float     BOOLEAN -> bool
    STRING -> str                 BYTES -> bytes               ARRAY -> list
    MAP -> dict                   STRUCT -> Struct
    Decimal -> decimal.Decimal    Date -> datetime.date        Time -> datetime.time
    Timestamp -> datetime.datetime (timezone-aware, UTC)

Schemas are immutable and hashable, so transforms can cache derived schemas keyed by the
input schema, as Kafka's SMTs do.
"""

from __future__ import annotations

import datetime as _dt
import decimal as _decimal
import enum
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from .errors import DataException, SchemaBuilderException

__all__ = [
    "BOOLEAN_SCHEMA",
    "BYTES_SCHEMA",
    "FLOAT32_SCHEMA",
    "FLOAT64_SCHEMA",
    "INT16_SCHEMA",
    "INT32_SCHEMA",
    "INT64_SCHEMA",
    "INT8_SCHEMA",
    "OPTIONAL_BOOLEAN_SCHEMA",
    "OPTIONAL_BYTES_SCHEMA",
    "OPTIONAL_FLOAT32_SCHEMA",
    "OPTIONAL_FLOAT64_SCHEMA",
    "OPTIONAL_INT16_SCHEMA",
    "OPTIONAL_INT32_SCHEMA",
    "OPTIONAL_INT64_SCHEMA",
    "OPTIONAL_INT8_SCHEMA",
    "OPTIONAL_STRING_SCHEMA",
    "STRING_SCHEMA",
    "Date",
    "Decimal",
    "OutOfRangeTimestamp",
    "Field",
    "Schema",
    "SchemaAndValue",
    "Struct",
    "Time",
    "Timestamp",
    "Type",
    "UTC",
    "validate_value",
]

UTC = _dt.UTC
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_DATE = _dt.date(1970, 1, 1)
_MS_PER_DAY = 86_400_000


class Type(enum.Enum):
    """Connect schema types; ``value`` is the lower-case name Kafka uses in JSON schemas."""

    INT8 = "int8"
    INT16 = "int16"
    INT32 = "int32"
    INT64 = "int64"
    FLOAT32 = "float32"
    FLOAT64 = "float64"
    BOOLEAN = "boolean"
    STRING = "string"
    BYTES = "bytes"
    ARRAY = "array"
    MAP = "map"
    STRUCT = "struct"

    @property
    def is_primitive(self) -> bool:
        return self not in (Type.ARRAY, Type.MAP, Type.STRUCT)


_INT_RANGES = {
    Type.INT8: (-(2**7), 2**7 - 1),
    Type.INT16: (-(2**15), 2**15 - 1),
    Type.INT32: (-(2**31), 2**31 - 1),
    Type.INT64: (-(2**63), 2**63 - 1),
}


class Field:
    """A named, positioned member of a STRUCT schema."""

    __slots__ = ("index", "name", "schema")

    def __init__(self, name: str, index: int, schema: Schema) -> None:
        self.name = name
        self.index = index
        self.schema = schema

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Field)
            and self.name == other.name
            and self.index == other.index
            and self.schema == other.schema
        )

    def __hash__(self) -> int:
        return hash((self.name, self.index))

    def __repr__(self) -> str:
        return f"Field(name={self.name!r}, index={self.index}, schema={self.schema!r})"


class Schema:
    """An immutable Connect schema.

    Build with the constructor or the helpers (:meth:`struct`, :meth:`array`, :meth:`map`).
    ``fields`` accepts ``(name, schema)`` pairs for STRUCT; ARRAY uses ``value_schema`` for its
    items and MAP uses ``key_schema``/``value_schema``, as in Kafka.
    """

    __slots__ = (
        "_field_index",
        "_hash",
        "default",
        "doc",
        "fields",
        "key_schema",
        "name",
        "optional",
        "parameters",
        "type",
        "value_schema",
        "version",
    )

    def __init__(
        self,
        type: Type,
        *,
        optional: bool = False,
        default: Any = None,
        name: str | None = None,
        version: int | None = None,
        doc: str | None = None,
        parameters: Mapping[str, str] | None = None,
        fields: Iterable[tuple[str, Schema]] | Iterable[Field] | None = None,
        key_schema: Schema | None = None,
        value_schema: Schema | None = None,
        validate_default: bool = True,
    ) -> None:
        self.type = type
        self.optional = optional
        self.name = name
        self.version = version
        self.doc = doc
        self.parameters = dict(parameters) if parameters else None
        if type is Type.STRUCT:
            built: list[Field] = []
            seen: set[str] = set()
            for i, f in enumerate(fields or ()):
                fname, fschema = (f.name, f.schema) if isinstance(f, Field) else f
                if fname in seen:
                    raise SchemaBuilderException(f"Field name {fname} appears twice in one struct schema")
                seen.add(fname)
                built.append(Field(fname, i, fschema))
            self.fields: tuple[Field, ...] = tuple(built)
            self._field_index = {f.name: f for f in built}
        else:
            if fields:
                raise SchemaBuilderException(f"Cannot add fields to a schema of type {type.name}")
            self.fields = ()
            self._field_index = {}
        if type is Type.ARRAY and value_schema is None:
            raise SchemaBuilderException("An ARRAY schema requires a value (item) schema")
        if type is Type.MAP and (key_schema is None or value_schema is None):
            raise SchemaBuilderException("A MAP schema requires key and value schemas")
        self.key_schema = key_schema
        self.value_schema = value_schema
        # Set before validating: a STRUCT default compares its schema with this one.
        self.default = default
        self._hash: int | None = None
        if default is not None and validate_default:
            try:
                validate_value(self, default)
            except DataException as e:
                raise SchemaBuilderException(f"Invalid default value: {e}") from e

    # --- constructors -------------------------------------------------------------------
    @classmethod
    def struct(cls, fields: Iterable[tuple[str, Schema]] | Iterable[Field], **kwargs: Any) -> Schema:
        return cls(Type.STRUCT, fields=fields, **kwargs)

    @classmethod
    def array(cls, items: Schema, **kwargs: Any) -> Schema:
        return cls(Type.ARRAY, value_schema=items, **kwargs)

    @classmethod
    def map(cls, keys: Schema, values: Schema, **kwargs: Any) -> Schema:
        return cls(Type.MAP, key_schema=keys, value_schema=values, **kwargs)

    def copy(self, **changes: Any) -> Schema:
        """A new schema with some attributes changed (name, version, optional, default ...)."""
        attrs: dict[str, Any] = {
            "optional": self.optional,
            "default": self.default,
            "name": self.name,
            "version": self.version,
            "doc": self.doc,
            "parameters": self.parameters,
            "key_schema": self.key_schema,
            "value_schema": self.value_schema,
        }
        if self.type is Type.STRUCT:
            attrs["fields"] = [(f.name, f.schema) for f in self.fields]
        attrs.update(changes)
        return Schema(self.type, **attrs)

    # --- access -------------------------------------------------------------------------
    def field(self, name: str) -> Field | None:
        """The struct field called ``name``, or None (Kafka's ``Schema.field``)."""
        if self.type is not Type.STRUCT:
            raise DataException("Cannot look up fields on non-struct type")
        return self._field_index.get(name)

    @property
    def is_optional(self) -> bool:
        return self.optional

    def _key(self) -> tuple[Any, ...]:
        return (
            self.type,
            self.optional,
            _freeze(self.default),
            self.name,
            self.version,
            self.doc,
            tuple(sorted(self.parameters.items())) if self.parameters else None,
            tuple((f.name, f.schema) for f in self.fields),
            self.key_schema,
            self.value_schema,
        )

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        return isinstance(other, Schema) and self._key() == other._key()

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(self._key())
        return self._hash

    def __repr__(self) -> str:
        parts = [self.type.name]
        if self.name:
            parts.append(f"name={self.name!r}")
        if self.optional:
            parts.append("optional")
        if self.fields:
            parts.append("fields=[" + ", ".join(f"{f.name}:{f.schema!r}" for f in self.fields) + "]")
        if self.type is Type.ARRAY:
            parts.append(f"items={self.value_schema!r}")
        if self.type is Type.MAP:
            parts.append(f"keys={self.key_schema!r}, values={self.value_schema!r}")
        return "Schema(" + ", ".join(parts) + ")"


def _freeze(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, Struct):
        return (value.schema, tuple(_freeze(v) for v in value._values))
    return value


INT8_SCHEMA = Schema(Type.INT8)
INT16_SCHEMA = Schema(Type.INT16)
INT32_SCHEMA = Schema(Type.INT32)
INT64_SCHEMA = Schema(Type.INT64)
FLOAT32_SCHEMA = Schema(Type.FLOAT32)
FLOAT64_SCHEMA = Schema(Type.FLOAT64)
BOOLEAN_SCHEMA = Schema(Type.BOOLEAN)
STRING_SCHEMA = Schema(Type.STRING)
BYTES_SCHEMA = Schema(Type.BYTES)
OPTIONAL_INT8_SCHEMA = Schema(Type.INT8, optional=True)
OPTIONAL_INT16_SCHEMA = Schema(Type.INT16, optional=True)
OPTIONAL_INT32_SCHEMA = Schema(Type.INT32, optional=True)
OPTIONAL_INT64_SCHEMA = Schema(Type.INT64, optional=True)
OPTIONAL_FLOAT32_SCHEMA = Schema(Type.FLOAT32, optional=True)
OPTIONAL_FLOAT64_SCHEMA = Schema(Type.FLOAT64, optional=True)
OPTIONAL_BOOLEAN_SCHEMA = Schema(Type.BOOLEAN, optional=True)
OPTIONAL_STRING_SCHEMA = Schema(Type.STRING, optional=True)
OPTIONAL_BYTES_SCHEMA = Schema(Type.BYTES, optional=True)


class SchemaAndValue:
    """A schema (or None for schemaless) with its value: what converters return."""

    __slots__ = ("schema", "value")

    def __init__(self, schema: Schema | None, value: Any) -> None:
        self.schema = schema
        self.value = value

    def __iter__(self) -> Iterator[Any]:
        yield self.schema
        yield self.value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SchemaAndValue) and self.schema == other.schema and self.value == other.value

    def __repr__(self) -> str:
        return f"SchemaAndValue({self.schema!r}, {self.value!r})"


class Struct:
    """A value of a STRUCT schema; fields are set by name and checked against their schema."""

    __slots__ = ("_values", "schema")

    def __init__(self, schema: Schema, values: Mapping[str, Any] | None = None) -> None:
        if schema.type is not Type.STRUCT:
            raise DataException("Not a struct schema: " + repr(schema))
        self.schema = schema
        self._values: list[Any] = [None] * len(schema.fields)
        if values:
            for k, v in values.items():
                self.put(k, v)

    @classmethod
    def from_values(cls, schema: Schema, values: list[Any]) -> Struct:
        """A struct from field values in schema order, without per-field validation.

        For sources that build values already shaped by the schema they derived (a JDBC row
        in column order): checking every field again costs more than reading the row. The
        list is taken as is, not copied. Call ``validate()`` if the values are not trusted.
        """
        struct = cls.__new__(cls)
        struct.schema = schema
        struct._values = values
        return struct

    def _lookup(self, name: str) -> Field:
        f = self.schema._field_index.get(name)
        if f is None:
            raise DataException(f"{name} is not a valid field name")
        return f

    def get(self, name: str | Field) -> Any:
        """The field's value, or its schema default when unset (Kafka's ``Struct.get``)."""
        f = name if isinstance(name, Field) else self._lookup(name)
        v = self._values[f.index]
        if v is None and f.schema.default is not None:
            return f.schema.default
        return v

    def get_without_default(self, name: str | Field) -> Any:
        f = name if isinstance(name, Field) else self._lookup(name)
        return self._values[f.index]

    def put(self, name: str | Field, value: Any) -> Struct:
        f = name if isinstance(name, Field) else self._lookup(name)
        validate_value(f.schema, value, f.name)
        self._values[f.index] = value
        return self

    def validate(self) -> None:
        """Checks every field, including required ones left unset."""
        for f in self.schema.fields:
            validate_value(f.schema, self._values[f.index], f.name)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Struct) and self.schema == other.schema and self._values == other._values

    def __hash__(self) -> int:
        return hash((self.schema, tuple(_freeze(v) for v in self._values)))

    def __repr__(self) -> str:
        inner = ", ".join(f"{f.name}={self._values[f.index]!r}" for f in self.schema.fields)
        return f"Struct{{{inner}}}"

    def to_dict(self) -> dict[str, Any]:
        """Field name -> value (nested structs converted too); useful for schemaless sinks."""
        out: dict[str, Any] = {}
        for f in self.schema.fields:
            v = self._values[f.index]
            out[f.name] = _plain(v)
        return out


def _plain(v: Any) -> Any:
    if isinstance(v, Struct):
        return v.to_dict()
    if isinstance(v, list):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    return v


# --- logical types ---------------------------------------------------------------------


class Decimal:
    """``org.apache.kafka.connect.data.Decimal``: BYTES holding a big-endian two's-complement
    unscaled integer, with ``scale`` in the schema parameters."""

    LOGICAL_NAME = "org.apache.kafka.connect.data.Decimal"
    SCALE_FIELD = "scale"

    @staticmethod
    def schema(scale: int, *, optional: bool = False, default: Any = None, precision: int | None = None) -> Schema:
        params = {Decimal.SCALE_FIELD: str(scale)}
        if precision is not None:
            params["connect.decimal.precision"] = str(precision)
        return Schema(
            Type.BYTES, name=Decimal.LOGICAL_NAME, version=1, optional=optional, parameters=params, default=default
        )

    @staticmethod
    def scale_of(schema: Schema) -> int:
        raw = (schema.parameters or {}).get(Decimal.SCALE_FIELD)
        if raw is None:
            raise DataException("Invalid Decimal schema: scale parameter not found.")
        return int(raw)

    @staticmethod
    def from_logical(schema: Schema, value: _decimal.Decimal) -> bytes:
        scale = Decimal.scale_of(schema)
        exp = value.as_tuple().exponent
        # A value with fewer decimals than the schema's scale converts exactly; more would lose digits.
        if isinstance(exp, int) and -exp > scale:
            raise DataException(
                "BigDecimal has mismatching scale value for given Decimal schema. "
                f"Schema has scale {scale}, value has scale {-exp}."
            )
        unscaled = int(value.scaleb(scale).to_integral_value())
        length = max(1, (unscaled + (unscaled < 0)).bit_length() // 8 + 1)
        return unscaled.to_bytes(length, "big", signed=True)

    @staticmethod
    def to_logical(schema: Schema, value: bytes) -> _decimal.Decimal:
        scale = Decimal.scale_of(schema)
        unscaled = int.from_bytes(value, "big", signed=True)
        return _decimal.Decimal(unscaled).scaleb(-scale)


class Date:
    """``org.apache.kafka.connect.data.Date``: INT32 days since the epoch."""

    LOGICAL_NAME = "org.apache.kafka.connect.data.Date"

    @staticmethod
    def schema(*, optional: bool = False, default: Any = None) -> Schema:
        return Schema(Type.INT32, name=Date.LOGICAL_NAME, version=1, optional=optional, default=default)

    @staticmethod
    def from_logical(schema: Schema | None, value: _dt.date) -> int:
        if isinstance(value, _dt.datetime):
            value = value.astimezone(UTC) if value.tzinfo else value
            if value.time() != _dt.time(0):
                raise DataException("A Date value must be midnight: no hours, minutes, seconds or fractions")
            value = value.date()
        return (value - _EPOCH_DATE).days

    @staticmethod
    def to_logical(schema: Schema | None, value: int) -> _dt.date:
        return _EPOCH_DATE + _dt.timedelta(days=value)


class Time:
    """``org.apache.kafka.connect.data.Time``: INT32 milliseconds since midnight."""

    LOGICAL_NAME = "org.apache.kafka.connect.data.Time"

    @staticmethod
    def schema(*, optional: bool = False, default: Any = None) -> Schema:
        return Schema(Type.INT32, name=Time.LOGICAL_NAME, version=1, optional=optional, default=default)

    @staticmethod
    def from_logical(schema: Schema | None, value: _dt.time) -> int:
        return ((value.hour * 60 + value.minute) * 60 + value.second) * 1000 + value.microsecond // 1000

    @staticmethod
    def to_logical(schema: Schema | None, value: int) -> _dt.time:
        if value < 0 or value >= _MS_PER_DAY:
            raise DataException("A Time value is milliseconds since midnight, from 0 up to but excluding 86400000")
        s, ms = divmod(value, 1000)
        m, s = divmod(s, 60)
        h, m = divmod(m, 60)
        return _dt.time(h, m, s, ms * 1000)


class OutOfRangeTimestamp(int):
    """A Timestamp whose epoch milliseconds lie outside ``datetime``'s years 1-9999.

    Java's ``Date`` holds any 64-bit millisecond value (Kafka's own tests use Long.MAX_VALUE),
    so such values must survive conversion; they are carried as their raw milliseconds.
    """

    __slots__ = ()


class Timestamp:
    """``org.apache.kafka.connect.data.Timestamp``: INT64 milliseconds since the epoch (UTC).

    Values are aware ``datetime`` objects, or ``OutOfRangeTimestamp`` beyond datetime's range.
    """

    LOGICAL_NAME = "org.apache.kafka.connect.data.Timestamp"

    @staticmethod
    def schema(*, optional: bool = False, default: Any = None) -> Schema:
        return Schema(Type.INT64, name=Timestamp.LOGICAL_NAME, version=1, optional=optional, default=default)

    @staticmethod
    def from_logical(schema: Schema | None, value: _dt.datetime | OutOfRangeTimestamp) -> int:
        if isinstance(value, OutOfRangeTimestamp):
            return int(value)
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        delta = value - _EPOCH
        return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000

    @staticmethod
    def to_logical(schema: Schema | None, value: int) -> _dt.datetime | OutOfRangeTimestamp:
        try:
            return _EPOCH + _dt.timedelta(milliseconds=value)
        except OverflowError:
            return OutOfRangeTimestamp(value)


LOGICAL_TYPES = {
    Decimal.LOGICAL_NAME: Decimal,
    Date.LOGICAL_NAME: Date,
    Time.LOGICAL_NAME: Time,
    Timestamp.LOGICAL_NAME: Timestamp,
}

_LOGICAL_PY = {
    Decimal.LOGICAL_NAME: (_decimal.Decimal,),
    Date.LOGICAL_NAME: (_dt.date,),
    Time.LOGICAL_NAME: (_dt.time,),
    Timestamp.LOGICAL_NAME: (_dt.datetime, OutOfRangeTimestamp),
}

_PY_TYPES: dict[Type, tuple[type, ...]] = {
    Type.INT8: (int,),
    Type.INT16: (int,),
    Type.INT32: (int,),
    Type.INT64: (int,),
    Type.FLOAT32: (float,),
    Type.FLOAT64: (float,),
    Type.BOOLEAN: (bool,),
    Type.STRING: (str,),
    Type.BYTES: (bytes, bytearray, memoryview),
    Type.ARRAY: (list, tuple),
    Type.MAP: (dict,),
    Type.STRUCT: (Struct,),
}


def validate_value(schema: Schema, value: Any, field_name: str | None = None) -> None:
    """Raise DataException unless ``value`` is valid for ``schema`` (Kafka's ``validateValue``)."""
    where = f' for field: "{field_name}"' if field_name else ""
    if value is None:
        if not schema.optional and schema.default is None:
            raise DataException(f"Invalid value: null used for required field{where}, schema type: {schema.type.name}")
        return
    if schema.name in _LOGICAL_PY:
        expected = _LOGICAL_PY[schema.name]
        if isinstance(value, expected) and not (
            schema.name == Date.LOGICAL_NAME and isinstance(value, _dt.datetime) and value.time() != _dt.time(0)
        ):
            return
        raise DataException(
            f'Invalid Java object for schema "{schema.name}" with type {schema.type.name}: '
            f"{type(value).__name__}{where}"
        )
    expected = _PY_TYPES[schema.type]
    ok = isinstance(value, expected)
    if ok and schema.type in _INT_RANGES:
        ok = not isinstance(value, bool)
        lo, hi = _INT_RANGES[schema.type]
        if ok and not lo <= value <= hi:
            raise DataException(f"Value {value} out of range for schema type {schema.type.name}{where}")
    if schema.type is Type.FLOAT32 or schema.type is Type.FLOAT64:
        ok = isinstance(value, (float, int)) and not isinstance(value, bool)
    if not ok:
        raise DataException(
            f"Invalid Java object for schema with type {schema.type.name}: {type(value).__name__}{where}"
        )
    if schema.type is Type.STRUCT:
        if value.schema != schema:
            raise DataException("Struct schemas do not match.")
        value.validate()
    elif schema.type is Type.ARRAY:
        assert schema.value_schema is not None
        for item in value:
            validate_value(schema.value_schema, item, "element of array" if field_name is None else field_name)
    elif schema.type is Type.MAP:
        assert schema.key_schema is not None and schema.value_schema is not None
        for k, v in value.items():
            validate_value(schema.key_schema, k, "key of map")
            validate_value(schema.value_schema, v, "value of map")
