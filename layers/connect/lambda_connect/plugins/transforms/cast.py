"""Cast: change the type of fields, or of the whole key/value, with Java's conversion rules."""

from __future__ import annotations

import base64
import datetime as dt
import decimal
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from lambda_connect.api import map_edits
from lambda_connect.api.config import Config, ConfigDef, ConfigKey, ConfigType, Importance, LambdaValidator
from lambda_connect.api.data import Date, Decimal, Schema, Struct, Time, Timestamp, Type
from lambda_connect.api.errors import ConfigException, DataException
from lambda_connect.api.records import ConnectRecord
from lambda_connect.api.transform import Transformation

from ._date_format import SimpleDateFormat
from ._java import d2l, double_to_string, float_to_string, narrow_float, parse_double, parse_int, to_float32, wrap
from ._util import (
    REPLACE_NULL_WITH_DEFAULT,
    KeyOrValue,
    PlanSource,
    SchemaCache,
    compile_plans,
    key_value_variants,
    require_map,
    require_struct,
    run_plan,
)

__all__ = ["Cast"]

_PURPOSE = "cast types"
_SPEC = "spec"
_OUTPUT_TYPES = (Type.INT8, Type.INT16, Type.INT32, Type.INT64, Type.FLOAT32, Type.FLOAT64, Type.BOOLEAN, Type.STRING)
_INPUT_TYPES = (*_OUTPUT_TYPES, Type.BYTES)
_BITS = {Type.INT8: 8, Type.INT16: 16, Type.INT32: 32, Type.INT64: 64}
_MS_PER_DAY = 86_400_000
_TIME_FORMAT = SimpleDateFormat("HH:mm:ss.SSS'Z'")
_DATE_FORMAT = SimpleDateFormat("yyyy-MM-dd")
_TIMESTAMP_FORMAT = SimpleDateFormat("yyyy-MM-dd'T'HH:mm:ss.SSS'Z'")
_TEMPORAL = {Date.LOGICAL_NAME: Date, Time.LOGICAL_NAME: Time, Timestamp.LOGICAL_NAME: Timestamp}
_LOGICAL_NAMES = (*_TEMPORAL, Decimal.LOGICAL_NAME)
# The Connect type Kafka infers from the Java class of a schemaless value.
_SCHEMALESS_TYPES: dict[type, Type] = {
    bool: Type.BOOLEAN, int: Type.INT64, float: Type.FLOAT64, str: Type.STRING, bytes: Type.BYTES,
    bytearray: Type.BYTES, list: Type.ARRAY, tuple: Type.ARRAY, dict: Type.MAP, Struct: Type.STRUCT,
}
_JAVA_CLASS = {bool: "java.lang.Boolean", int: "java.lang.Long", float: "java.lang.Double", str: "java.lang.String",
               bytes: "[B", bytearray: "[B", decimal.Decimal: "java.math.BigDecimal", dt.datetime: "java.util.Date",
               dt.date: "java.util.Date", dt.time: "java.util.Date"}
_TYPE_LIST = "[" + ", ".join(t.name for t in _INPUT_TYPES) + "]"
_OUTPUT_LIST = "[" + ", ".join(t.name for t in _OUTPUT_TYPES) + "]"

Converter = Callable[[Any], Any]


def _java_class(value: Any) -> str:
    return "class " + _JAVA_CLASS.get(type(value), type(value).__qualname__)


def _out_of_range(value: Any) -> DataException:
    return DataException(f"Value ({value}) was out of range for requested data type")


def _int_table(bits: int) -> dict[type, Converter]:
    high = (1 << (bits - 1)) - 1

    def from_str(text: str) -> int:
        # Up to 18 ASCII digits are what both int() and Java's parseInt read the same way
        # (and fit any Java long); signs, Unicode digits and errors take the exact parser.
        if text.isascii() and text.isdigit() and len(text) < 19:
            n = int(text)
            if n <= high:
                return n
        try:
            return parse_int(text, bits)
        except ValueError:
            raise _out_of_range(text) from None

    return {
        bool: lambda v: 1 if v else 0,
        int: lambda v: wrap(v, bits),
        float: lambda v: narrow_float(v, bits),
        decimal.Decimal: lambda v: wrap(int(v), bits),
        str: from_str,
    }


def _float_table(single: bool) -> dict[type, Converter]:
    def rounded(v: float) -> float:
        return to_float32(v) if single else v

    def from_str(text: str) -> float:
        # For ASCII text without '_', every string float() accepts with a finite result is
        # one Double.parseDouble accepts with the same value (both round correctly, and the
        # whitespace float() strips is whitespace Java's trim() strips). The rest, such as
        # "Infinity", "1d" or hex floats, takes the exact parser.
        if text.isascii() and "_" not in text:
            try:
                number = float(text)
            except ValueError:
                pass
            else:
                if number - number == 0.0:
                    return rounded(number) if single else number
        try:
            return rounded(parse_double(text))
        except ValueError:
            raise _out_of_range(text) from None

    return {
        bool: lambda v: 1.0 if v else 0.0,
        int: lambda v: rounded(float(v)),
        float: rounded,
        decimal.Decimal: lambda v: rounded(float(v)),
        str: from_str,
    }


def _b64(v: bytes | bytearray) -> str:
    return base64.b64encode(bytes(v)).decode("ascii")


_TABLES: dict[Type, dict[type, Converter]] = {
    **{t: _int_table(bits) for t, bits in _BITS.items()},
    Type.FLOAT32: _float_table(True),
    Type.FLOAT64: _float_table(False),
    Type.BOOLEAN: {
        bool: lambda v: v,
        int: lambda v: wrap(v, 64) != 0,
        float: lambda v: d2l(v) != 0,
        decimal.Decimal: lambda v: wrap(int(v), 64) != 0,
        str: lambda v: v.lower() == "true",
    },
    Type.STRING: {
        bool: lambda v: "true" if v else "false",
        int: str,
        float: double_to_string,
        decimal.Decimal: str,
        str: lambda v: v,
        bytes: _b64,
        bytearray: _b64,
    },
}


def _temporal_string(epoch_ms: int) -> str:
    """Kafka's ``Values.dateFormatFor``: time-only below one day, date-only on exact midnights."""
    if epoch_ms < _MS_PER_DAY:
        return _TIME_FORMAT.format(epoch_ms)
    if epoch_ms % _MS_PER_DAY == 0:
        return _DATE_FORMAT.format(epoch_ms)
    return _TIMESTAMP_FORMAT.format(epoch_ms)


def _reject(value: Any) -> DataException:
    inferred = _SCHEMALESS_TYPES.get(type(value))
    if inferred is None:
        return DataException(
            f"Cast got a {_java_class(value)}, which has no Connect data type to cast from"
        )
    if inferred not in _INPUT_TYPES:
        return DataException(f"Cast cannot cast from {inferred.name}; it casts from {_TYPE_LIST}")
    return DataException(f"Unexpected type in Cast transformation: {_java_class(value)}")


class _Caster:
    """Converts one value to ``target``; the per-type table is picked once, at configure time."""

    __slots__ = ("_table", "schemaless_table", "target")

    def __init__(self, target: Type) -> None:
        self.target = target
        self._table = _TABLES[target]
        # A schemaless BigDecimal has no Connect type in Kafka, so it is rejected there.
        self.schemaless_table = {k: v for k, v in self._table.items() if k is not decimal.Decimal}

    def schemaless(self, value: Any) -> Any:
        if value is None:
            return None
        convert = self.schemaless_table.get(type(value))
        if convert is None:
            raise _reject(value)
        return convert(value)

    def with_schema(self, schema: Schema, value: Any) -> Any:
        if value is None:
            return None
        if schema.type not in _INPUT_TYPES:
            raise DataException(f"Cast cannot cast from {schema.type.name}; it casts from {_TYPE_LIST}")
        logical = _TEMPORAL.get(schema.name or "")
        if logical is not None:
            encoded = logical.from_logical(schema, value)
            if self.target is Type.STRING:
                return _temporal_string(encoded * _MS_PER_DAY if logical is Date else encoded)
            value = encoded
        elif schema.type is Type.FLOAT32 and self.target is Type.STRING:
            return float_to_string(value)
        convert = self._table.get(type(value))
        if convert is None:
            raise _reject(value)
        return convert(value)


def _field_edit(name: str, caster: _Caster) -> PlanSource:
    """The map edit casting one field. Fast paths, each giving what the table gives:
    up to 18 ASCII digits read the same in int() and Java's parseInt (see ``_int_table``;
    longer text and values out of range take the exact parser), and finite float() results
    of ASCII text without '_' are Double.parseDouble's (see ``_float_table``)."""
    table = caster.schemaless_table
    bits = _BITS.get(caster.target)
    if bits is not None:
        low, high = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        return map_edits.convert_field(name, table, _reject, fast=map_edits.Fast.INT_RANGE | map_edits.Fast.DIGITS,
                                       low=low, high=high, parse=table[str])
    if caster.target is Type.FLOAT64:
        return map_edits.convert_field(name, table, _reject, fast=map_edits.Fast.FLOAT | map_edits.Fast.DECIMAL_TEXT,
                                       parse=table[str])
    if caster.target is Type.STRING:
        return map_edits.convert_field(name, table, _reject, fast=map_edits.Fast.STR)
    return map_edits.convert_field(name, table, _reject)


def parse_spec(entries: Sequence[str]) -> dict[str | None, Type]:
    """``field:type`` pairs, or a single type keyed by None for a whole-value cast."""
    if not entries:
        raise ConfigException.for_key(_SPEC, "", "Must specify at least one field to cast.")
    casts: dict[str | None, Type] = {}
    whole = False
    for entry in entries:
        parts = entry.split(":")
        if len(parts) > 2:
            raise ConfigException.for_key(_SPEC, ",".join(entries), f"Invalid cast mapping: {entry}")
        type_name = parts[-1].strip()
        target = next((t for t in Type if t.name == type_name.upper()), None)
        if target is None:
            raise ConfigException.for_key(_SPEC, ",".join(entries), f"Invalid type found in casting spec: {type_name}")
        if target not in _OUTPUT_TYPES:
            raise ConfigException.for_key(
                _SPEC, ",".join(entries),
                f"Cast cannot cast to {target.name}; it casts to {_OUTPUT_LIST}",
            )
        if len(parts) == 1:
            whole = True
            casts[None] = target
        else:
            casts[parts[0].strip()] = target
    if whole and len(entries) > 1:
        raise ConfigException.for_key(
            _SPEC, ",".join(entries),
            "A spec that casts the whole value (a bare type) must be the only entry of the list",
        )
    return casts


@key_value_variants("Cast")
class Cast(KeyOrValue[Any], Transformation[Any]):
    """Change the type of chosen fields, or of the whole key or value (say, narrow an int64 field to int16).

    Casts from integers, floats, boolean and string to any of those types, and from binary to
    string (base64). Numbers narrow like Java (``2147483648`` as int32 is ``-2147483648``).
    Use ``Cast$Key`` for the record key and ``Cast$Value`` for the value.
    """

    Key: ClassVar[type[Cast]]
    Value: ClassVar[type[Cast]]

    config_def = ConfigDef(
        ConfigKey(
            name=_SPEC,
            type=ConfigType.LIST,
            validator=LambdaValidator(lambda _name, value: parse_spec(value),
                                      "list of colon-delimited pairs, e.g. foo:bar,abc:xyz"),
            importance=Importance.HIGH,
            doc="Comma list of field:type pairs (field1:type,field2:type) for fields of a map or struct, or one bare "
            "type for the whole value. Types: int8, int16, int32, int64, float32, float64, boolean, string; a "
            "binary field casts to string only.",
        ),
        REPLACE_NULL_WITH_DEFAULT,
    )

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        casts = parse_spec(config[_SPEC])
        whole = casts.pop(None, None)
        self._whole = _Caster(whole) if whole is not None else None
        self._fields = {name: _Caster(target) for name, target in casts.items() if name is not None}
        self._replace_null = bool(config[REPLACE_NULL_WITH_DEFAULT.name])
        self._schemas = SchemaCache()
        source = self.schemaless_source()
        self._plan = compile_plans([source], "cast") if source is not None else None

    def apply(self, record: ConnectRecord) -> ConnectRecord:
        value = self.operating_value(record)
        if value is None:
            return record
        schema = self.operating_schema(record)
        if schema is None:
            if self._whole is not None:
                return self.new_with(record, None, self._whole.schemaless(value))
            updated = dict(require_map(value, _PURPOSE))
            run_plan(self._plan, updated, record)  # type: ignore[arg-type]  # no whole-value cast: a plan
            return self.new_with(record, None, updated)
        if self._whole is not None:
            return self.new_with(record, self._updated_schema(schema), self._whole.with_schema(schema, value))
        struct = require_struct(value, _PURPOSE)
        updated_schema = self._updated_schema(schema)
        return self.new_with(record, updated_schema, self._cast_struct(struct, updated_schema))

    def schemaless_source(self) -> PlanSource | None:
        """Cast each listed field in place; a missing field becomes null, as in Kafka.

        Per field, the input that needs no work (an int already in range, a float for
        float64, a str for string) is not even stored again, plain decimal text is read
        without a table call, and everything else goes to the exact per-type converter."""
        if self._whole is not None:
            return None
        return map_edits.join([_field_edit(name, caster) for name, caster in self._fields.items()])

    # --- schema'd path ------------------------------------------------------------------------
    def _cast_struct(self, struct: Struct, updated_schema: Schema) -> Struct:
        out = Struct(updated_schema)
        read = struct.get if self._replace_null else struct.get_without_default
        for field in struct.schema.fields:
            v = read(field)
            caster = self._fields.get(field.name)
            out.put(field.name, caster.with_schema(field.schema, v) if caster is not None else v)
        return out

    def _updated_schema(self, schema: Schema) -> Schema:
        return self._schemas.get_or_build(schema, lambda: self._build_schema(schema))

    def _build_schema(self, schema: Schema) -> Schema:
        if self._whole is not None:
            # Kafka keeps a logical name here, which then contradicts the primitive value it
            # carries; dropping it keeps the record valid for every converter.
            keep_name = schema.name not in _LOGICAL_NAMES
            return Schema(
                self._whole.target,
                optional=schema.optional,
                name=schema.name if keep_name else None,
                version=schema.version if keep_name else None,
                doc=schema.doc,
                parameters=schema.parameters if keep_name else None,
                default=self._whole.with_schema(schema, schema.default),
            )
        if schema.type is not Type.STRUCT:
            raise DataException(f"Only Struct objects supported for [{_PURPOSE}], found: {schema.type.name}")
        fields = []
        for field in schema.fields:
            caster = self._fields.get(field.name)
            if caster is None:
                fields.append((field.name, field.schema))
            else:
                fields.append((field.name, Schema(
                    caster.target,
                    optional=field.schema.optional,
                    default=caster.with_schema(field.schema, field.schema.default),
                )))
        updated = Schema.struct(fields, optional=schema.optional, name=schema.name, version=schema.version,
                                doc=schema.doc, parameters=schema.parameters)
        if isinstance(schema.default, Struct):
            default = self._cast_struct(schema.default, updated)
            updated = updated.copy(default=default, validate_default=False)
        return updated
