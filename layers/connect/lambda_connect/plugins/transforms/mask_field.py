"""MaskField: blank out fields with their type's empty value, or with a replacement text."""

from __future__ import annotations

import datetime as dt
import decimal
import re
from collections.abc import Callable
from typing import Any, ClassVar

from lambda_connect.api.config import (
    Config,
    ConfigDef,
    ConfigKey,
    ConfigType,
    Importance,
    NonEmptyList,
    NonEmptyString,
)
from lambda_connect.api.data import UTC, Schema, Struct, Type
from lambda_connect.api.errors import DataException
from lambda_connect.api.records import ConnectRecord
from lambda_connect.api.transform import Transformation

from ._java import d2l, parse_double, to_float32, wrap
from ._util import REPLACE_NULL_WITH_DEFAULT, KeyOrValue, key_value_variants, require_map, require_struct

__all__ = ["MaskField"]

_PURPOSE = "mask fields"
_FIELDS = "fields"
_REPLACEMENT = "replacement"
_BITS = {Type.INT8: 8, Type.INT16: 16, Type.INT32: 32, Type.INT64: 64}
_INTEGER = re.compile(r"\s*[+-]?\d+\s*")
_JAVA_CLASS = {bool: "java.lang.Boolean", int: "java.lang.Long", float: "java.lang.Double", str: "java.lang.String",
               bytes: "[B", bytearray: "[B", decimal.Decimal: "java.math.BigDecimal", dt.datetime: "java.util.Date",
               dt.date: "java.util.Date", dt.time: "java.util.Date", Struct: "org.apache.kafka.connect.data.Struct"}
# The "empty" value of each Python type that stands for a Java class Kafka knows how to mask.
_EMPTY: dict[type, Callable[[], Any]] = {
    bool: lambda: False,
    int: lambda: 0,
    float: lambda: 0.0,
    str: lambda: "",
    decimal.Decimal: lambda: decimal.Decimal(0),
    dt.datetime: lambda: dt.datetime(1970, 1, 1, tzinfo=UTC),
    dt.date: lambda: dt.date(1970, 1, 1),
    dt.time: lambda: dt.time(0),
    list: list,
    tuple: list,
    dict: dict,
}


def _java_class(value: Any) -> str:
    return "class " + _JAVA_CLASS.get(type(value), type(value).__qualname__)


def _as_number(text: str) -> int | float:
    """Kafka's ``Values.convertToX`` on a string: an integer literal or a floating point one."""
    if _INTEGER.fullmatch(text):
        return int(text)
    try:
        return parse_double(text)
    except ValueError:
        raise DataException(f"Unable to convert {text} (class java.lang.String) to number") from None


def _with_replacement(value: Any, schema: Schema | None, text: str) -> Any:
    kind = type(value)
    if kind is str:
        return text
    if kind is int:
        bits = _BITS.get(schema.type, 64) if schema is not None else 64
        number = _as_number(text)
        return wrap(number if isinstance(number, int) else d2l(number), bits)
    if kind is float:
        number = float(_as_number(text))
        return to_float32(number) if schema is not None and schema.type is Type.FLOAT32 else number
    if kind is decimal.Decimal:
        try:
            return decimal.Decimal(text)
        except decimal.InvalidOperation:
            raise DataException(f"Unable to convert {text} (class java.lang.String) to number") from None
    raise DataException(f"Cannot mask value of type {_java_class(value)} with custom replacement.")


@key_value_variants("MaskField")
class MaskField(KeyOrValue[Any], Transformation[Any]):
    """Blank out chosen fields with their type's empty value (0, false, "" and so on) or a replacement.

    For numeric and string fields, an optional replacement value can be specified that is
    converted to the correct type. A null key/value is an error. Use ``MaskField$Key`` or
    ``MaskField$Value``.
    """

    Key: ClassVar[type[MaskField]]
    Value: ClassVar[type[MaskField]]

    config_def = ConfigDef(
        ConfigKey(name=_FIELDS, type=ConfigType.LIST, validator=NonEmptyList(), importance=Importance.HIGH,
                  doc="Names of fields to mask."),
        ConfigKey(name=_REPLACEMENT, type=ConfigType.STRING, default=None, validator=NonEmptyString(),
                  importance=Importance.LOW,
                  doc="Value written into every masked field instead of the empty one; numeric and non-empty "
                  "string fields only."),
        REPLACE_NULL_WITH_DEFAULT,
    )

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        self._fields: tuple[str, ...] = tuple(dict.fromkeys(config[_FIELDS]))
        self._masked = frozenset(self._fields)
        self._replacement: str | None = config[_REPLACEMENT]
        self._replace_null = bool(config[REPLACE_NULL_WITH_DEFAULT.name])

    def apply(self, record: ConnectRecord) -> ConnectRecord:
        schema = self.operating_schema(record)
        if schema is None:
            original = require_map(self.operating_value(record), _PURPOSE)
            updated = dict(original)
            for name in self._fields:
                updated[name] = self._mask(original.get(name), None)
            return self.new_with(record, None, updated)
        struct = require_struct(self.operating_value(record), _PURPOSE)
        out = Struct(struct.schema)
        read = struct.get if self._replace_null else struct.get_without_default
        for field in struct.schema.fields:
            v = read(field)
            out.put(field, self._mask(v, field.schema) if field.name in self._masked else v)
        return self.new_with(record, schema, out)

    def _mask(self, value: Any, schema: Schema | None) -> Any:
        if value is None:
            return None
        if self._replacement is not None:
            return _with_replacement(value, schema, self._replacement)
        empty = _EMPTY.get(type(value))
        if empty is None:
            raise DataException(f"Cannot mask value of type: {_java_class(value)}")
        return empty()
