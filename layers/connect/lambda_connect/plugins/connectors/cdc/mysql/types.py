"""MySQL/MariaDB column types as Debezium maps them.

The shape of a column comes from ``information_schema.COLUMNS`` (type, precision, nullability);
values come either from the binlog (``mysql-replication``'s Python values) or from a snapshot
query (PyMySQL's), which differ for a few types — each converter accepts both.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json
from collections.abc import Callable
from typing import Any

from lambda_connect.api import Schema, Type
from lambda_connect.api.data import Date as ConnectDate
from lambda_connect.api.data import Decimal as ConnectDecimal
from lambda_connect.api.data import Time as ConnectTime
from lambda_connect.api.data import Timestamp as ConnectTimestamp

from ..postgres.types import Modes

__all__ = ["column_type"]

Convert = Callable[[Any], Any] | None
_EPOCH = dt.datetime(1970, 1, 1)
_EPOCH_DATE = dt.date(1970, 1, 1)


def _text(v: Any) -> str:
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if isinstance(v, set):
        return ",".join(sorted(v))
    return str(v)


def _bytes(v: Any) -> bytes:
    return v.encode() if isinstance(v, str) else bytes(v)


def _json(v: Any) -> str:
    if isinstance(v, str | bytes):
        return _text(v)
    return json.dumps(_plain_json(v), separators=(",", ":"))


def _plain_json(v: Any) -> Any:
    if isinstance(v, dict):
        return {_text(k): _plain_json(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_plain_json(x) for x in v]
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    return v


def _micros_of_day(v: Any) -> int:
    if isinstance(v, dt.timedelta):
        return (v.days * 86_400 + v.seconds) * 1_000_000 + v.microseconds
    return ((v.hour * 60 + v.minute) * 60 + v.second) * 1_000_000 + v.microsecond


def _ts_micros(v: dt.datetime) -> int:
    d = v.replace(tzinfo=None) - _EPOCH
    return (d.days * 86_400 + d.seconds) * 1_000_000 + d.microseconds


def _zoned(v: dt.datetime) -> str:
    text = v.replace(tzinfo=None).isoformat()
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text + "Z"


def _named(t: Type, name: str, optional: bool) -> Schema:
    return Schema(t, optional=optional, name=name, version=1)


def _bits(v: Any) -> Any:
    if isinstance(v, int):
        return v.to_bytes(max((v.bit_length() + 7) // 8, 1), "little")
    return bytes(reversed(bytes(v)))  # big-endian from the server, little-endian as Debezium's Bits


def column_type(data_type: str, column_type_text: str, precision: int | None, scale: int | None,
                datetime_precision: int | None, optional: bool, modes: Modes, connector: str) -> tuple[Schema, Convert]:
    """``data_type``/``column_type_text`` are information_schema's DATA_TYPE and COLUMN_TYPE."""
    t = data_type.lower()
    unsigned = "unsigned" in column_type_text.lower()
    if t in ("tinyint", "smallint"):
        return Schema(Type.INT16 if not (unsigned and t == "smallint") else Type.INT32, optional=optional), int
    if t in ("mediumint", "int", "integer"):
        return Schema(Type.INT64 if unsigned and t != "mediumint" else Type.INT32, optional=optional), int
    if t == "bigint":
        return Schema(Type.INT64, optional=optional), int
    if t == "float":
        return Schema(Type.FLOAT32, optional=optional), float
    if t in ("double", "real"):
        return Schema(Type.FLOAT64, optional=optional), float
    if t in ("decimal", "numeric"):
        if modes.decimal == "double":
            return Schema(Type.FLOAT64, optional=optional), float
        if modes.decimal == "string":
            return Schema(Type.STRING, optional=optional), lambda v: str(v)
        s = scale or 0
        quantum = decimal.Decimal(1).scaleb(-s)
        return (ConnectDecimal.schema(s, optional=optional, precision=precision),
                lambda v: decimal.Decimal(v).quantize(quantum))
    if t == "bit":
        if precision == 1:
            return Schema(Type.BOOLEAN, optional=optional), lambda v: bool(int.from_bytes(v, "big")
                                                                            if isinstance(v, bytes) else v)
        return _named(Type.BYTES, "io.debezium.data.Bits", optional), _bits
    if t in ("char", "varchar", "tinytext", "text", "mediumtext", "longtext", "set"):
        return Schema(Type.STRING, optional=optional), _text
    if t == "enum":
        return _named(Type.STRING, "io.debezium.data.Enum", optional), _text
    if t == "json":
        return _named(Type.STRING, "io.debezium.data.Json", optional), _json
    if t in ("binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob"):
        if modes.binary == "base64":
            return Schema(Type.STRING, optional=optional), lambda v: base64.b64encode(_bytes(v)).decode()
        if modes.binary == "base64-url-safe":
            return Schema(Type.STRING, optional=optional), lambda v: base64.urlsafe_b64encode(_bytes(v)).decode()
        if modes.binary == "hex":
            return Schema(Type.STRING, optional=optional), lambda v: _bytes(v).hex()
        return Schema(Type.BYTES, optional=optional), _bytes
    connect = modes.time == "connect"
    if t == "date":
        if connect:
            return ConnectDate.schema(optional=optional), lambda v: v
        return _named(Type.INT32, "io.debezium.time.Date", optional), lambda v: (v - _EPOCH_DATE).days
    if t == "time":
        if connect:
            return ConnectTime.schema(optional=optional), lambda v: (_EPOCH + dt.timedelta(
                microseconds=_micros_of_day(v))).time()
        return _named(Type.INT64, "io.debezium.time.MicroTime", optional), _micros_of_day
    if t == "datetime":
        if connect:
            return ConnectTimestamp.schema(optional=optional), lambda v: v.replace(tzinfo=dt.UTC)
        if (datetime_precision or 0) <= 3:
            return _named(Type.INT64, "io.debezium.time.Timestamp", optional), lambda v: _ts_micros(v) // 1000
        return _named(Type.INT64, "io.debezium.time.MicroTimestamp", optional), _ts_micros
    if t == "timestamp":
        return _named(Type.STRING, "io.debezium.time.ZonedTimestamp", optional), _zoned
    if t == "year":
        return _named(Type.INT32, "io.debezium.time.Year", optional), int
    return Schema(Type.STRING, optional=optional), _text
