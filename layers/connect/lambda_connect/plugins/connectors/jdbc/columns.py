"""Column types → Connect schemas, and the per-column value fix-ups the JDBC source needs.

The mapping follows Confluent's ``GenericDatabaseDialect.addFieldToSchema``: integer widths
map to INT8..INT64 (MySQL ``INT UNSIGNED`` widens to INT64, ``BIGINT UNSIGNED`` to a scale-0
Decimal), ``REAL``/``FLOAT`` to FLOAT32, ``DOUBLE`` to FLOAT64, ``NUMERIC(p, s)`` to the Decimal
logical type with scale ``s``, ``DATE``/``TIME``/``TIMESTAMP`` to the logical types, text to
STRING and binary to BYTES; a nullable column becomes an optional field. Unsupported column
types are skipped with a warning, as Confluent does ("JDBC type ... not currently supported").

One deliberate difference: an *unconstrained* ``NUMERIC`` (PostgreSQL ``numeric`` without
precision) has no fixed scale, which the Decimal logical type requires; Confluent emits scale 0
there and then fails on the first fractional value. We map it to FLOAT64 instead.

Converters are computed once per table, so the hot loop only touches columns whose driver
values differ from Connect's representation (naive timestamps, MySQL ``TIME`` as timedelta,
UUIDs, JSON documents, unconstrained numerics).
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import json
import logging
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from lambda_connect.api import ConnectException, Date, Decimal, Schema, Time, Timestamp, Type

__all__ = ["ColumnSpec", "Converter", "RowShape", "convert_column", "row_shape", "shape_from_description", "zone"]

log = logging.getLogger(__name__)

UTC = dt.UTC
Converter = Callable[[Any], Any]


@dataclass(frozen=True)
class ColumnSpec:
    """What the source needs to know about one column, independent of how it was discovered."""

    name: str
    schema: Schema
    converter: Converter | None = None


@dataclass(frozen=True)
class RowShape:
    """The value schema of a table or query, plus which result positions need converting.

    ``positions`` are the indexes of the selected result columns that make it into the
    record (unsupported columns are left out); ``converters`` pairs field indexes with their
    converter so the hot loop skips every column that needs none.
    """

    schema: Schema
    columns: tuple[ColumnSpec, ...]
    converters: tuple[tuple[int, Converter], ...]


def zone(name: str) -> dt.tzinfo:
    """The tzinfo for ``db.timezone`` (UTC shortcut avoids a zoneinfo lookup)."""
    return UTC if name.upper() in ("UTC", "Z", "ETC/UTC", "GMT") else ZoneInfo(name)


def _naive_timestamp(tz: dt.tzinfo) -> Converter:
    """Naive driver datetimes are wall-clock times in ``db.timezone``; Connect wants UTC."""
    if tz is UTC:
        return lambda v: v if v is None else v.replace(tzinfo=UTC)
    return lambda v: v if v is None else v.replace(tzinfo=tz).astimezone(UTC)


def _aware_timestamp(v: Any) -> Any:
    """Aware driver datetimes in UTC (the session may use any zone); already-UTC values are
    returned as they are, without a new datetime."""
    if v is None:
        return v
    tz = v.tzinfo
    if tz is UTC:
        return v
    return v.replace(tzinfo=UTC) if tz is None else v.astimezone(UTC)


_NOT_NONE = functools.partial(operator.is_not, None)
_TZINFO = operator.attrgetter("tzinfo")
_NONE = type(None)


def _aware_column(col: Sequence[Any]) -> list[Any] | None:
    """``_aware_timestamp`` over a column: None when every value is already UTC (or null); for
    aware datetimes of other zones (PostgreSQL sessions in ``Etc/UTC`` hand out a ``ZoneInfo``)
    one C-level ``astimezone(UTC)`` each, the converter's own call. Raises for anything else."""
    types = set(map(type, col))
    if not types <= {dt.datetime, _NONE}:
        raise LookupError("not all datetimes")
    zones = set(map(_TZINFO, filter(_NOT_NONE, col)))
    if not zones or zones == {UTC}:
        return None
    if None in zones or _NONE in types:
        raise LookupError("naive values or nulls")
    return list(map(dt.datetime.astimezone, col, itertools.repeat(UTC)))


def _float_column(col: Sequence[Any]) -> list[Any] | None:
    """``_float_value`` over a column: None when every value is a float or null."""
    if set(map(type, col)) <= {float, _NONE}:
        return None
    raise LookupError("not all floats")


_COLUMNS: dict[Converter, Callable[[Sequence[Any]], list[Any] | None]] = {}


def convert_column(convert: Converter, col: Sequence[Any]) -> list[Any] | None:
    """``convert`` applied to every value of a column, or None when it would change none of them.

    Why: converting row by row costs a Python call per value even where the driver already
    returned the Connect value (UTC datetimes, floats). A converter with a column shortcut checks
    the whole column in C-level calls first; whatever the shortcut does not take (it raises) is
    converted value by value, exactly as before."""
    shortcut = _COLUMNS.get(convert)
    if shortcut is not None:
        try:
            return shortcut(col)
        except Exception:  # not the plain case: the per-value converter decides (and raises)
            pass
    return list(map(convert, col))


def _time_value(v: Any) -> Any:
    """MySQL's driver returns TIME as a timedelta; Connect's Time is a time of day."""
    if isinstance(v, dt.timedelta):
        seconds = int(v.total_seconds()) % 86_400
        return dt.time(seconds // 3600, seconds // 60 % 60, seconds % 60, v.microseconds)
    if isinstance(v, dt.time) and v.tzinfo is not None:
        return v.replace(tzinfo=None)
    return v


def _date_value(v: Any) -> Any:
    return v.date() if isinstance(v, dt.datetime) else v


def _str_value(v: Any) -> Any:
    if v is None or isinstance(v, str):
        return v
    if isinstance(v, (dict, list)):
        return json.dumps(v, separators=(",", ":"))
    return str(v)


def _bytes_value(v: Any) -> Any:
    return bytes(v) if isinstance(v, (memoryview, bytearray)) else v


def _float_value(v: Any) -> Any:
    return v if v is None or isinstance(v, float) else float(v)


_COLUMNS[_aware_timestamp] = _aware_column
_COLUMNS[_float_value] = _float_column


def _bool_value(v: Any) -> Any:
    return v if v is None or isinstance(v, bool) else bool(v)


def _decimal_value(scale: int) -> Converter:
    import decimal

    quantum = decimal.Decimal(1).scaleb(-scale)

    def convert(v: Any) -> Any:
        if v is None:
            return None
        if not isinstance(v, decimal.Decimal):
            v = decimal.Decimal(str(v))
        return v if v.as_tuple().exponent == -scale else v.quantize(quantum)

    return convert


def _int(t: Type, optional: bool) -> Schema:
    return Schema(t, optional=optional)


def _from_sqlalchemy(
    type_: Any, optional: bool, dialect: str, tz: dt.tzinfo
) -> tuple[Schema, Converter | None] | None:
    """Map one reflected SQLAlchemy type; None means "not supported, skip the column"."""
    import sqlalchemy.types as st

    name = type(type_).__name__.upper()
    unsigned = bool(getattr(type_, "unsigned", False))
    if isinstance(type_, st.Boolean) or (name == "BIT" and getattr(type_, "length", None) in (None, 1)):
        return Schema(Type.BOOLEAN, optional=optional), _bool_value
    if isinstance(type_, st.Integer):
        if dialect == "sqlite":
            return _int(Type.INT64, optional), None
        if name == "TINYINT":
            return _int(Type.INT16 if unsigned else Type.INT8, optional), None
        if isinstance(type_, st.SmallInteger) or name == "SMALLINT":
            return _int(Type.INT32 if unsigned else Type.INT16, optional), None
        if isinstance(type_, st.BigInteger) or name == "BIGINT":
            if unsigned:
                return Decimal.schema(0, optional=optional), _decimal_value(0)
            return _int(Type.INT64, optional), None
        return _int(Type.INT64 if unsigned else Type.INT32, optional), None
    if isinstance(type_, st.Float):
        if name in ("REAL", "FLOAT") and dialect != "sqlite":
            return Schema(Type.FLOAT32, optional=optional), _float_value
        return Schema(Type.FLOAT64, optional=optional), _float_value
    if isinstance(type_, st.Numeric):
        scale = getattr(type_, "scale", None)
        precision = getattr(type_, "precision", None)
        if scale is None or (precision is None and dialect == "postgresql"):
            return Schema(Type.FLOAT64, optional=optional), _float_value
        # psycopg and PyMySQL return a declared NUMERIC(p, s) with exactly scale s already.
        exact = dialect in ("postgresql", "mysql")
        return Decimal.schema(int(scale), optional=optional, precision=precision), (
            None if exact else _decimal_value(int(scale))
        )
    if isinstance(type_, st.DateTime) or name in ("TIMESTAMP", "DATETIME"):
        aware = bool(getattr(type_, "timezone", False)) or (dialect == "mysql" and name == "TIMESTAMP")
        return Timestamp.schema(optional=optional), _aware_timestamp if aware else _naive_timestamp(tz)
    if isinstance(type_, st.Date):
        return Date.schema(optional=optional), _date_value
    if isinstance(type_, st.Time):
        return Time.schema(optional=optional), _time_value
    if isinstance(type_, (st.LargeBinary, st._Binary)):
        return Schema(Type.BYTES, optional=optional), _bytes_value
    if isinstance(type_, (st.String, st.Enum)):
        return Schema(Type.STRING, optional=optional), None
    if isinstance(type_, (st.Uuid, st.JSON)) or name in ("UUID", "JSON", "JSONB", "INET", "CIDR", "MACADDR", "XML"):
        return Schema(Type.STRING, optional=optional), _str_value
    return None


def row_shape(
    schema_name: str | None, columns: Sequence[dict[str, Any]], dialect: str, tz: dt.tzinfo, table: str
) -> tuple[RowShape, list[str]]:
    """The shape of a reflected table (``Inspector.get_columns`` entries) and the names of the
    columns it keeps, in table order."""
    specs: list[ColumnSpec] = []
    for col in columns:
        mapped = _from_sqlalchemy(col["type"], bool(col.get("nullable", True)), dialect, tz)
        if mapped is None:
            log.warning("JDBC type %s of column %s in %s not currently supported; skipping it",
                        col["type"], col["name"], table)
            continue
        specs.append(ColumnSpec(col["name"], mapped[0], mapped[1]))
    return _shape(schema_name, specs), [s.name for s in specs]


def _shape(schema_name: str | None, specs: Sequence[ColumnSpec]) -> RowShape:
    schema = Schema.struct([(s.name, s.schema) for s in specs], name=schema_name)
    converters = tuple((i, s.converter) for i, s in enumerate(specs) if s.converter is not None)
    return RowShape(schema, tuple(specs), converters)


# --- query mode: shapes from the DB-API cursor description ----------------------------------

_PG_TYPES: dict[str, Callable[[bool, Any, Any, dt.tzinfo], tuple[Schema, Converter | None]]] = {}


def _pg(names: str, make: Callable[[bool, Any, Any, dt.tzinfo], tuple[Schema, Converter | None]]) -> None:
    for n in names.split():
        _PG_TYPES[n] = make


_pg("bool", lambda o, p, s, tz: (Schema(Type.BOOLEAN, optional=o), None))
_pg("int2", lambda o, p, s, tz: (_int(Type.INT16, o), None))
_pg("int4", lambda o, p, s, tz: (_int(Type.INT32, o), None))
_pg("int8 oid", lambda o, p, s, tz: (_int(Type.INT64, o), None))
_pg("float4", lambda o, p, s, tz: (Schema(Type.FLOAT32, optional=o), _float_value))
_pg("float8", lambda o, p, s, tz: (Schema(Type.FLOAT64, optional=o), _float_value))
_pg(
    "numeric",
    lambda o, p, s, tz: (Decimal.schema(s, optional=o, precision=p), _decimal_value(s))
    if s is not None and p
    else (Schema(Type.FLOAT64, optional=o), _float_value),
)
_pg("date", lambda o, p, s, tz: (Date.schema(optional=o), None))
_pg("time timetz", lambda o, p, s, tz: (Time.schema(optional=o), _time_value))
_pg("timestamp", lambda o, p, s, tz: (Timestamp.schema(optional=o), _naive_timestamp(tz)))
_pg("timestamptz", lambda o, p, s, tz: (Timestamp.schema(optional=o), _aware_timestamp))
_pg("bytea", lambda o, p, s, tz: (Schema(Type.BYTES, optional=o), _bytes_value))
_pg("text varchar bpchar char name", lambda o, p, s, tz: (Schema(Type.STRING, optional=o), None))
_pg("uuid json jsonb inet cidr macaddr xml", lambda o, p, s, tz: (Schema(Type.STRING, optional=o), _str_value))


def _mysql_spec(
    code: int, optional: bool, precision: Any, scale: Any, tz: dt.tzinfo
) -> tuple[Schema, Converter | None] | None:
    from pymysql.constants import FIELD_TYPE as F

    if code == F.TINY:
        return _int(Type.INT8, optional), None
    if code in (F.SHORT, F.YEAR):
        return _int(Type.INT16, optional), None
    if code in (F.LONG, F.INT24):
        return _int(Type.INT32, optional), None
    if code == F.LONGLONG:
        return _int(Type.INT64, optional), None
    if code == F.FLOAT:
        return Schema(Type.FLOAT32, optional=optional), _float_value
    if code == F.DOUBLE:
        return Schema(Type.FLOAT64, optional=optional), _float_value
    if code in (F.DECIMAL, F.NEWDECIMAL):
        return Decimal.schema(int(scale or 0), optional=optional), _decimal_value(int(scale or 0))
    if code in (F.DATE, F.NEWDATE):
        return Date.schema(optional=optional), _date_value
    if code == F.TIME:
        return Time.schema(optional=optional), _time_value
    if code == F.DATETIME:
        return Timestamp.schema(optional=optional), _naive_timestamp(tz)
    if code == F.TIMESTAMP:
        return Timestamp.schema(optional=optional), _aware_timestamp
    if code == F.BIT:
        return Schema(Type.BYTES, optional=optional), _bytes_value
    return None  # text or binary (PyMySQL reports both alike): decided from the first value


def _from_value(value: Any, tz: dt.tzinfo) -> tuple[Schema, Converter | None]:
    """Last resort (SQLite, MySQL text/blob): the Python type of a sample value."""
    if isinstance(value, bool):
        return Schema(Type.BOOLEAN, optional=True), None
    if isinstance(value, int):
        return _int(Type.INT64, True), None
    if isinstance(value, float):
        return Schema(Type.FLOAT64, optional=True), _float_value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return Schema(Type.BYTES, optional=True), _bytes_value
    if isinstance(value, dt.datetime):
        return Timestamp.schema(optional=True), _naive_timestamp(tz) if value.tzinfo is None else _aware_timestamp
    if isinstance(value, dt.date):
        return Date.schema(optional=True), None
    if isinstance(value, (dt.time, dt.timedelta)):
        return Time.schema(optional=True), _time_value
    if type(value).__name__ == "Decimal":
        scale = -value.as_tuple().exponent if isinstance(value.as_tuple().exponent, int) else 0
        return Decimal.schema(max(scale, 0), optional=True), _decimal_value(max(scale, 0))
    return Schema(Type.STRING, optional=True), _str_value


def _text_timestamp(tz: dt.tzinfo) -> Converter:
    """SQLite keeps timestamps as ISO text (``2024-05-01 12:00:00.000``); a query's result hands
    them over as that text. Naive text is wall-clock time in ``db.timezone``, as a DATETIME is."""
    naive = _naive_timestamp(tz)

    def convert(v: Any) -> Any:
        if v is None:
            return None
        if isinstance(v, dt.datetime):
            return naive(v) if v.tzinfo is None else _aware_timestamp(v)
        try:
            parsed = dt.datetime.fromisoformat(str(v))
        except ValueError:
            raise ConnectException(f"timestamp column value {v!r} is not an ISO date and time") from None
        return naive(parsed) if parsed.tzinfo is None else _aware_timestamp(parsed)

    return convert


def shape_from_description(
    description: Sequence[Sequence[Any]], sample: Sequence[Any] | None, driver: str, tz: dt.tzinfo,
    timestamp_columns: Sequence[str] = (),
) -> RowShape:
    """The shape of a ``query`` result: Confluent reads ``ResultSetMetaData``; we read the
    DB-API description (type OIDs for psycopg, field codes for PyMySQL) and fall back to the
    first row's values where the description says nothing (SQLite). Every field is optional,
    because a driver rarely knows whether a query column can be null. The mode's
    ``timestamp_columns`` are timestamps whatever the sample says: SQLite returns them as text,
    and timestamp mode must compare and store them as times."""
    specs: list[ColumnSpec] = []
    for i, d in enumerate(description):
        name, code = d[0], d[1]
        precision, scale = (d[4], d[5]) if len(d) > 5 else (None, None)
        mapped: tuple[Schema, Converter | None] | None = None
        if driver == "psycopg" and code is not None:
            info = _pg_type_name(code)
            make = _PG_TYPES.get(info or "")
            mapped = make(True, precision, scale, tz) if make else None
        elif driver == "pymysql" and code is not None:
            mapped = _mysql_spec(code, True, precision, scale, tz)
        if mapped is None:
            value = sample[i] if sample is not None else None
            if name in timestamp_columns and not isinstance(value, dt.datetime):
                mapped = Timestamp.schema(optional=True), _text_timestamp(tz)
            else:
                mapped = _from_value(value, tz) if value is not None else (Schema(Type.STRING, optional=True),
                                                                           _str_value)
        specs.append(ColumnSpec(name, mapped[0], mapped[1]))
    return _shape(None, specs)


def _pg_type_name(oid: int) -> str | None:
    from psycopg import adapters

    info = adapters.types.get(oid)
    return info.name if info is not None else None
