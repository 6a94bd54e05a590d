"""PostgreSQL column types as Debezium maps them, from the text form pgoutput (and a snapshot
query read as text) carries.

``column_type(type_oid, typmod, optional, modes)`` returns the Connect schema of the column and a
function from the server's text to the Connect value (None when the text is the value). Types we
do not know become strings holding the server's text, where Debezium would drop the column unless
told otherwise: losing a column silently is worse than an unexpected string.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lambda_connect.api import Schema, Type
from lambda_connect.api.data import Date as ConnectDate
from lambda_connect.api.data import Decimal as ConnectDecimal
from lambda_connect.api.data import Time as ConnectTime
from lambda_connect.api.data import Timestamp as ConnectTimestamp

__all__ = ["Modes", "column_type", "row_ops"]

Convert = Callable[[Any], Any] | None
_EPOCH_DATE = dt.date(1970, 1, 1)
_EPOCH = dt.datetime(1970, 1, 1)
_UTC = dt.UTC


@dataclass(frozen=True)
class Modes:
    decimal: str = "precise"
    time: str = "adaptive"
    binary: str = "bytes"


def _bool(text: str) -> bool:
    return text in ("t", "true")  # pgoutput sends the output function's t/f; bool::text says true/false


def _days(text: str) -> int:
    return (dt.date.fromisoformat(text) - _EPOCH_DATE).days


def _date(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def _time_micros(text: str) -> int:
    if text == "24:00:00":
        return 86_400_000_000
    t = dt.time.fromisoformat(text)
    return ((t.hour * 60 + t.minute) * 60 + t.second) * 1_000_000 + t.microsecond


def _time_millis(text: str) -> int:
    return _time_micros(text) // 1000


def _time(text: str) -> dt.time:
    return dt.time.fromisoformat(text)


def _ts_micros(text: str) -> int:
    d = dt.datetime.fromisoformat(text) - _EPOCH
    return (d.days * 86_400 + d.seconds) * 1_000_000 + d.microseconds


def _ts_millis(text: str) -> int:
    return _ts_micros(text) // 1000


def _ts(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=_UTC)


def _iso_utc(value: dt.datetime | dt.time) -> str:
    text = value.isoformat()
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text + "Z"


def _zoned_ts(text: str) -> str:
    if len(text) >= 22 and text[-3:] == "+00" and text[4] == "-" and not text.endswith(" BC+00"):
        # the session runs in UTC and PostgreSQL already trims trailing zeros of the fraction
        return text[:10] + "T" + text[11:-3] + "Z"
    value = dt.datetime.fromisoformat(text).astimezone(_UTC).replace(tzinfo=None)
    return _iso_utc(value)


def _zoned_time(text: str) -> str:
    value = dt.time.fromisoformat(text)
    offset = value.utcoffset() or dt.timedelta()
    moment = dt.datetime.combine(_EPOCH_DATE, value.replace(tzinfo=None)) - offset
    return _iso_utc(moment.time())


_INTERVAL_PART = re.compile(r"([+-]?\d+) (year|mon|day)s?")
_INTERVAL_CLOCK = re.compile(r"([+-])?(\d+):(\d+):(\d+)(?:\.(\d+))?")
_DAYS_PER_MONTH = 365.25 / 12


def _interval_micros(text: str) -> int:
    """The ``postgres`` interval style (``1 year 2 mons 3 days 04:05:06.5``) in microseconds,
    months counted as an average month, as Debezium's MicroDuration does."""
    years = months = days = 0
    for amount, unit in _INTERVAL_PART.findall(text):
        if unit == "year":
            years += int(amount)
        elif unit == "mon":
            months += int(amount)
        else:
            days += int(amount)
    clock = 0
    found = _INTERVAL_CLOCK.search(text)
    if found:
        sign, h, m, s, frac = found.groups()
        clock = ((int(h) * 60 + int(m)) * 60 + int(s)) * 1_000_000 + int(((frac or "") + "000000")[:6])
        if sign == "-":
            clock = -clock
    total_days = (years * 12 + months) * _DAYS_PER_MONTH + days
    return round(total_days * 86_400_000_000) + clock


def _bytes(text: str) -> bytes:
    if text.startswith("\\x"):
        return bytes.fromhex(text[2:])
    raise ValueError("bytea values must use bytea_output=hex")


def _money(text: str) -> decimal.Decimal:
    negative = text.startswith("-") or text.startswith("(")
    digits = re.sub(r"[^0-9.]", "", text)
    value = decimal.Decimal(digits)
    return -value if negative else value


def _variable_decimal_schema(optional: bool) -> Schema:
    return Schema.struct([("scale", Schema(Type.INT32)), ("value", Schema(Type.BYTES))], optional=optional,
                         name="io.debezium.data.VariableScaleDecimal", version=1,
                         doc="Variable scaled decimal")


def _decimal_converter(mode: str, scale: int | None, optional: bool, precision: int | None,
                       to_decimal: Callable[[str], decimal.Decimal]) -> tuple[Schema, Convert]:
    if mode == "double":
        return Schema(Type.FLOAT64, optional=optional), lambda t: float(to_decimal(t))
    if mode == "string":
        return Schema(Type.STRING, optional=optional), lambda t: str(to_decimal(t))
    if scale is not None:
        schema = ConnectDecimal.schema(scale, optional=optional, precision=precision)
        quantum = decimal.Decimal(1).scaleb(-scale)
        return schema, lambda t: to_decimal(t).quantize(quantum)
    vschema = _variable_decimal_schema(optional)

    def variable(text: str) -> Any:
        from lambda_connect.api import Struct

        value = to_decimal(text)
        exponent = int(value.as_tuple().exponent)
        scale_ = max(-exponent, 0)
        unscaled = int(value.scaleb(scale_))
        raw = unscaled.to_bytes((unscaled.bit_length() + 8) // 8 or 1, "big", signed=True)
        return Struct.from_values(vschema, [scale_, raw])

    return vschema, variable


def _binary(mode: str, optional: bool) -> tuple[Schema, Convert]:
    if mode == "base64":
        return Schema(Type.STRING, optional=optional), lambda t: base64.b64encode(_bytes(t)).decode()
    if mode == "base64-url-safe":
        return Schema(Type.STRING, optional=optional), lambda t: base64.urlsafe_b64encode(_bytes(t)).decode()
    if mode == "hex":
        return Schema(Type.STRING, optional=optional), lambda t: _bytes(t).hex()
    return Schema(Type.BYTES, optional=optional), _bytes


def _named(type_: Type, name: str, optional: bool) -> Schema:
    return Schema(type_, optional=optional, name=name, version=1)


# type oid -> (schema type, converter) for the types with one mapping
_SIMPLE: dict[int, tuple[Type, Convert]] = {
    16: (Type.BOOLEAN, _bool),
    21: (Type.INT16, int), 23: (Type.INT32, int), 20: (Type.INT64, int), 26: (Type.INT64, int),
    700: (Type.FLOAT32, float), 701: (Type.FLOAT64, float),
    25: (Type.STRING, None), 1043: (Type.STRING, None), 1042: (Type.STRING, None), 19: (Type.STRING, None),
    18: (Type.STRING, None),
}
_NAMED_STRINGS = {2950: "io.debezium.data.Uuid", 114: "io.debezium.data.Json", 3802: "io.debezium.data.Json",
                  142: "io.debezium.data.Xml"}
NUMERIC, MONEY, BYTEA, DATE, TIME, TIMETZ, TIMESTAMP, TIMESTAMPTZ, INTERVAL = (
    1700, 790, 17, 1082, 1083, 1266, 1114, 1184, 1186)


def _time_precision(typmod: int) -> int:
    return 6 if typmod < 0 else typmod


def column_type(type_oid: int, typmod: int, optional: bool, modes: Modes) -> tuple[Schema, Convert]:
    simple = _SIMPLE.get(type_oid)
    if simple is not None:
        return Schema(simple[0], optional=optional), simple[1]
    named = _NAMED_STRINGS.get(type_oid)
    if named is not None:
        return _named(Type.STRING, named, optional), None
    if type_oid == NUMERIC:
        precision = scale = None
        if typmod >= 4:
            precision, scale = ((typmod - 4) >> 16) & 0xFFFF, (typmod - 4) & 0xFFFF
        return _decimal_converter(modes.decimal, scale, optional, precision, decimal.Decimal)
    if type_oid == MONEY:
        return _decimal_converter(modes.decimal, 2, optional, None, _money)
    if type_oid == BYTEA:
        return _binary(modes.binary, optional)
    connect = modes.time == "connect"
    if type_oid == DATE:
        if connect:
            return ConnectDate.schema(optional=optional), _date
        return _named(Type.INT32, "io.debezium.time.Date", optional), _days
    if type_oid == TIME:
        if connect:
            return ConnectTime.schema(optional=optional), _time
        if modes.time == "adaptive" and _time_precision(typmod) <= 3:
            return _named(Type.INT32, "io.debezium.time.Time", optional), _time_millis
        return _named(Type.INT64, "io.debezium.time.MicroTime", optional), _time_micros
    if type_oid == TIMESTAMP:
        if connect:
            return ConnectTimestamp.schema(optional=optional), _ts
        if _time_precision(typmod) <= 3:
            return _named(Type.INT64, "io.debezium.time.Timestamp", optional), _ts_millis
        return _named(Type.INT64, "io.debezium.time.MicroTimestamp", optional), _ts_micros
    if type_oid == TIMESTAMPTZ:
        return _named(Type.STRING, "io.debezium.time.ZonedTimestamp", optional), _zoned_ts
    if type_oid == TIMETZ:
        return _named(Type.STRING, "io.debezium.time.ZonedTime", optional), _zoned_time
    if type_oid == INTERVAL:
        return _named(Type.INT64, "io.debezium.time.MicroDuration", optional), _interval_micros
    return Schema(Type.STRING, optional=optional), None


# Op bytes of ``_pgoutput.row_values`` (keep in step with the enum in _pgoutput.c): the converters
# the C loop runs itself; every other one it calls.
_OP_SKIP, _OP_TEXT, _OP_INT, _OP_FLOAT, _OP_BOOL, _OP_ZONED, _OP_CALL = range(7)
_OPS: dict[Any, int] = {None: _OP_TEXT, int: _OP_INT, float: _OP_FLOAT, _bool: _OP_BOOL, _zoned_ts: _OP_ZONED}


def row_ops(converters: tuple, skip: object) -> bytes:
    """One op byte per converter for ``pgoutput.fast_row_values`` (``skip``: pgoutput.SKIP)."""
    return bytes(_OP_SKIP if c is skip else _OPS.get(c, _OP_CALL) for c in converters)
