"""TimestampConverter: convert timestamps between strings, Unix epochs and Connect Date/Time/Timestamp."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, ClassVar

from lambda_connect.api import map_edits
from lambda_connect.api.config import Config, ConfigDef, ConfigKey, ConfigType, Importance, ValidString
from lambda_connect.api.data import (
    INT64_SCHEMA,
    OPTIONAL_INT64_SCHEMA,
    OPTIONAL_STRING_SCHEMA,
    STRING_SCHEMA,
    UTC,
    Date,
    Schema,
    Struct,
    Time,
    Timestamp,
    Type,
)
from lambda_connect.api.errors import ConfigException, DataException
from lambda_connect.api.records import ConnectRecord
from lambda_connect.api.transform import Transformation

from ._date_format import SimpleDateFormat
from ._util import (
    REPLACE_NULL_WITH_DEFAULT,
    KeyOrValue,
    PlanSource,
    SchemaCache,
    compile_plans,
    key_value_variants,
    require_map,
    require_struct_or_null,
    run_plan,
)

__all__ = ["TimestampConverter"]

_PURPOSE = "converting timestamp formats"
_FIELD, _TARGET, _FORMAT, _PRECISION = "field", "target.type", "format", "unix.precision"
_STRING, _UNIX, _DATE, _TIME, _TIMESTAMP = "string", "unix", "Date", "Time", "Timestamp"
_MS_PER_DAY = 86_400_000
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_DATE = dt.date(1970, 1, 1)
_LONG_MIN, _LONG_MAX = -(2**63), 2**63 - 1
# Milliseconds per unit (>= 1) or units per millisecond (as a negative divisor marker).
_TO_MS = {"seconds": 1000, "milliseconds": 1, "microseconds": -1000, "nanoseconds": -1_000_000}
_TARGET_SCHEMAS = {
    _STRING: (STRING_SCHEMA, OPTIONAL_STRING_SCHEMA),
    _UNIX: (INT64_SCHEMA, OPTIONAL_INT64_SCHEMA),
    _DATE: (Date.schema(), Date.schema(optional=True)),
    _TIME: (Time.schema(), Time.schema(optional=True)),
    _TIMESTAMP: (Timestamp.schema(), Timestamp.schema(optional=True)),
}
_JAVA_CLASS = {bool: "java.lang.Boolean", int: "java.lang.Long", float: "java.lang.Double", str: "java.lang.String",
               dict: "java.util.HashMap", list: "java.util.ArrayList", bytes: "[B",
               Struct: "org.apache.kafka.connect.data.Struct"}


def _java_class(value: Any) -> str:
    return "class " + _JAVA_CLASS.get(type(value), type(value).__qualname__)


def _trunc_div(n: int, d: int) -> int:
    """Java integer division (toward zero), which ``TimeUnit`` conversions use."""
    q = abs(n) // d
    return q if n >= 0 else -q


def _saturate(n: int) -> int:
    if _LONG_MIN <= n <= _LONG_MAX:
        return n
    return _LONG_MIN if n < 0 else _LONG_MAX


def kind_of_schema(schema: Schema) -> str:
    """The timestamp representation a schema stands for (logical name first, then the type)."""
    if schema.name == Timestamp.LOGICAL_NAME:
        return _TIMESTAMP
    if schema.name == Date.LOGICAL_NAME:
        return _DATE
    if schema.name == Time.LOGICAL_NAME:
        return _TIME
    if schema.type is Type.STRING:
        return _STRING
    if schema.type is Type.INT64:
        return _UNIX
    raise DataException(f"Schema {schema!r} is none of the timestamp forms this transform knows "
                        "(string, unix, Date, Time, Timestamp)")


def _out_of_range(value: Any) -> DataException:
    return DataException(f"Timestamp {value!r} is outside the range of dates this converter handles")


def _unsupported(value: Any) -> DataException:
    return DataException(f"TimestampConverter does not support {_java_class(value)} objects as timestamps")


# Schemaless: the representation inferred from the Python type standing for the Java class.
_KIND_OF_TYPE = {dt.datetime: _TIMESTAMP, dt.date: _DATE, dt.time: _TIME, int: _UNIX, str: _STRING}


@key_value_variants("TimestampConverter")
class TimestampConverter(KeyOrValue[Any], Transformation[Any]):
    """Convert timestamps between different formats such as Unix epoch, strings, and Connect Date/Timestamp types.

    Applies to individual fields or to the entire value. Every conversion pivots through a
    UTC instant with millisecond precision, so sub-millisecond digits are dropped. Use
    ``TimestampConverter$Key`` or ``TimestampConverter$Value``.
    """

    Key: ClassVar[type[TimestampConverter]]
    Value: ClassVar[type[TimestampConverter]]

    config_def = ConfigDef(
        ConfigKey(name=_FIELD, type=ConfigType.STRING, default="", importance=Importance.HIGH,
                  doc="Name of the field that holds the timestamp; leave empty when the whole value is the timestamp."),
        ConfigKey(name=_TARGET, type=ConfigType.STRING,
                  validator=ValidString(_STRING, _UNIX, _DATE, _TIME, _TIMESTAMP), importance=Importance.HIGH,
                  doc="The desired timestamp representation: string, unix, Date, Time, or Timestamp"),
        ConfigKey(name=_FORMAT, type=ConfigType.STRING, default="", importance=Importance.MEDIUM,
                  doc="Pattern in Java SimpleDateFormat syntax: it writes the output for target.type=string and reads "
                  "string inputs."),
        ConfigKey(name=_PRECISION, type=ConfigType.STRING, default="milliseconds",
                  validator=ValidString("nanoseconds", "microseconds", "milliseconds", "seconds"),
                  importance=Importance.LOW,
                  doc="Unit of unix timestamps (seconds, milliseconds, microseconds, nanoseconds), for writing "
                  "target.type=unix and for reading integer inputs. Conversions go through milliseconds, so digits "
                  "below a millisecond are lost."),
        REPLACE_NULL_WITH_DEFAULT,
    )

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        self._field: str = config[_FIELD]
        self._target: str = config[_TARGET]
        pattern: str = config[_FORMAT]
        if self._target == _STRING and not pattern.strip():
            message = "TimestampConverter with string timestamps needs a pattern in 'format'"
            raise ConfigException(message, {_FORMAT: [message]})
        self._format: SimpleDateFormat | None = None
        if pattern.strip():
            try:
                self._format = SimpleDateFormat(pattern)
            except ValueError:
                raise ConfigException.for_key(
                    _FORMAT, pattern,
                    "TimestampConverter cannot use this as a SimpleDateFormat pattern: " + pattern,
                ) from None
        self._unit: int = _TO_MS[config[_PRECISION]]
        self._replace_null = bool(config[REPLACE_NULL_WITH_DEFAULT.name])
        self._to_ms: dict[str, Callable[[Any], int]] = {
            _STRING: self._string_to_ms, _UNIX: self._unix_to_ms, _DATE: _date_to_ms, _TIME: _time_to_ms,
            _TIMESTAMP: _timestamp_to_ms,
        }
        self._from_ms: Callable[[int], Any] = {
            _STRING: self._ms_to_string, _UNIX: self._ms_to_unix, _DATE: _ms_to_date, _TIME: _ms_to_time,
            _TIMESTAMP: _ms_to_timestamp,
        }[self._target]
        # Per Python type of a schemaless value, the whole conversion composed once.
        self._by_type: dict[type, Callable[[Any], Any]] = {
            python_type: self._compose(self._to_ms[kind]) for python_type, kind in _KIND_OF_TYPE.items()
        }
        if self._target == _UNIX and self._unit == 1:
            self._by_type[int] = _saturate  # epoch milliseconds in and out: only Java's long range applies
        self._schemas = SchemaCache()
        source = self.schemaless_source()
        self._plan = compile_plans([source], "timestamp_converter") if source is not None else None

    def _compose(self, to_ms: Callable[[Any], int]) -> Callable[[Any], Any]:
        from_ms = self._from_ms
        return lambda value: from_ms(to_ms(value))

    def apply(self, record: ConnectRecord) -> ConnectRecord:
        schema = self.operating_schema(record)
        value = self.operating_value(record)
        if schema is None:
            if value is None or not self._field:
                return self.new_with(record, None, self.convert(value))
            updated = dict(require_map(value, _PURPOSE))
            run_plan(self._plan, updated, record)  # type: ignore[arg-type]  # a field implies a plan
            return self.new_with(record, None, updated)
        if not self._field:
            target_schema = _TARGET_SCHEMAS[self._target][schema.optional]
            return self.new_with(record, target_schema, self.convert(value, kind_of_schema(schema)))
        struct = require_struct_or_null(value, _PURPOSE)
        updated_schema = self._schemas.get_or_build(schema, lambda: self._build_schema(schema))
        return self.new_with(record, updated_schema, self._convert_struct(struct, updated_schema))

    def schemaless_source(self) -> PlanSource | None:
        """Convert ``field`` in place (only with ``field``: a whole-value conversion is no map
        edit). Epoch milliseconds to epoch milliseconds within Java's long range, the common
        case, stay untouched without a call; a missing field becomes null, as in Kafka."""
        if not self._field:
            return None
        keep_longs = self._by_type.get(int) is _saturate
        return map_edits.convert_field(
            self._field, self._by_type, _unsupported, overflow=_out_of_range,
            fast=map_edits.Fast.INT_RANGE if keep_longs else None, low=_LONG_MIN, high=_LONG_MAX,
        )

    def convert(self, value: Any, kind: str | None = None) -> Any:
        """Convert one timestamp (None stays None); ``kind`` is inferred from the value when not given."""
        if value is None:
            return None
        try:
            if kind is not None:
                return self._from_ms(self._to_ms[kind](value))
            convert = self._by_type.get(type(value))
            if convert is None:
                raise _unsupported(value)
            return convert(value)
        except OverflowError:
            raise _out_of_range(value) from None

    # --- schema'd fields ------------------------------------------------------------------
    def _convert_struct(self, struct: Struct | None, updated_schema: Schema) -> Struct | None:
        if struct is None:
            return None
        out = Struct(updated_schema)
        read = struct.get if self._replace_null else struct.get_without_default
        for field in struct.schema.fields:
            v = read(field)
            out.put(field.name, self.convert(v, kind_of_schema(field.schema)) if field.name == self._field else v)
        return out

    def _build_schema(self, schema: Schema) -> Schema:
        fields = [
            (f.name, _TARGET_SCHEMAS[self._target][f.schema.optional] if f.name == self._field else f.schema)
            for f in schema.fields
        ]
        updated = Schema.struct(fields, optional=schema.optional, name=schema.name, version=schema.version,
                                doc=schema.doc, parameters=schema.parameters)
        if isinstance(schema.default, Struct):
            updated = updated.copy(default=self._convert_struct(schema.default, updated), validate_default=False)
        return updated

    # --- representations <-> epoch milliseconds ----------------------------------------------
    def _string_to_ms(self, value: Any) -> int:
        if not isinstance(value, str):
            raise DataException(f"A string timestamp must be a string, got {_java_class(value)}")
        if self._format is None:
            raise DataException("TimestampConverter requires the format option to parse string timestamps")
        try:
            return self._format.parse(value)
        except ValueError:
            raise DataException(
                f"Could not parse timestamp: value ({value}) does not match pattern ({self._format.pattern})"
            ) from None

    def _unix_to_ms(self, value: Any) -> int:
        if type(value) is not int:
            raise DataException(f"A unix timestamp must be an integer, got {_java_class(value)}")
        unit = self._unit
        return _saturate(value * unit) if unit > 0 else _trunc_div(value, -unit)

    def _ms_to_string(self, ms: int) -> str:
        assert self._format is not None
        return self._format.format(ms)

    def _ms_to_unix(self, ms: int) -> int:
        unit = self._unit
        return _trunc_div(ms, unit) if unit > 0 else _saturate(ms * -unit)


def _date_to_ms(value: Any) -> int:
    if not isinstance(value, dt.date):
        raise DataException(f"A Date value must be a datetime, got {_java_class(value)}")
    if isinstance(value, dt.datetime):
        return _timestamp_to_ms(value)
    return (value - _EPOCH_DATE).days * _MS_PER_DAY


def _time_to_ms(value: Any) -> int:
    if isinstance(value, dt.datetime):
        return _timestamp_to_ms(value)
    if not isinstance(value, dt.time):
        raise DataException(f"A Time value must be a datetime, got {_java_class(value)}")
    return Time.from_logical(None, value)


def _timestamp_to_ms(value: Any) -> int:
    if not isinstance(value, dt.datetime):
        raise DataException(f"A Timestamp value must be a datetime, got {_java_class(value)}")
    return Timestamp.from_logical(None, value)


def _ms_to_date(ms: int) -> dt.date:
    return _EPOCH_DATE + dt.timedelta(days=ms // _MS_PER_DAY)


def _ms_to_time(ms: int) -> dt.time:
    return Time.to_logical(None, ms % _MS_PER_DAY)


def _ms_to_timestamp(ms: int) -> dt.datetime:
    return _EPOCH + dt.timedelta(milliseconds=ms)
