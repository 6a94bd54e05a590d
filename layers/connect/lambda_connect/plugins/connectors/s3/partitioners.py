"""Where in the bucket a record goes: Confluent's storage partitioners.

    DefaultPartitioner     partition=<kafka partition>
    FieldPartitioner       <field>=<value>[/<field>=<value>…] from ``partition.field.name``
    TimeBasedPartitioner   ``path.format`` (a Joda-Time pattern) of the record's time, floored to
                           ``partition.duration.ms`` in ``timezone``
    HourlyPartitioner      'year'=YYYY/'month'=MM/'day'=dd/'hour'=HH, one hour
    DailyPartitioner       'year'=YYYY/'month'=MM/'day'=dd, one day

The time comes from ``timestamp.extractor``: ``Record`` (the Kafka timestamp), ``RecordField``
(``timestamp.field`` of the value: epoch millis, a Timestamp or an ISO-8601 string; dots
reach into nested fields) or ``Wallclock`` (now — which makes object names depend on when a
batch is written, so only Record/RecordField keep redeliveries exactly-once). Month and day
names are English whatever ``locale`` says.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from lambda_connect.api import ConfigException, DataException, SinkRecord, Struct

__all__ = ["PARTITIONERS", "Partitioner", "build_partitioner", "format_joda"]

_PKG = "io.confluent.connect.storage.partitioner."
HOURLY_FORMAT = "'year'=YYYY/'month'=MM/'day'=dd/'hour'=HH"
DAILY_FORMAT = "'year'=YYYY/'month'=MM/'day'=dd"

Partitioner = Callable[[SinkRecord], str]


def _default(delim: str) -> Partitioner:
    return lambda record: f"partition={record.kafka_partition}"


def _field_value(value: Any, path: str) -> Any:
    current = value
    for part in path.split("."):
        if isinstance(current, Struct):
            field = current.schema.field(part)
            current = current.get(field) if field is not None else None
        elif isinstance(current, Mapping):
            current = current.get(part)
        else:
            return None
        if current is None:
            return None
    return current


def _field(fields: Sequence[str], delim: str) -> Partitioner:
    if not fields:
        raise ConfigException.for_key("partition.field.name", "", "FieldPartitioner needs at least one field name")

    def encode(record: SinkRecord) -> str:
        parts = []
        for name in fields:
            v = _field_value(record.value, name)
            if v is None or isinstance(v, (Struct, Mapping, list, bytes)):
                raise DataException(f"Error encoding partition: field '{name}' of record value is "
                                    f"{'missing' if v is None else 'not a primitive'}")
            parts.append(f"{name}={str(v).lower() if isinstance(v, bool) else v}")
        return delim.join(parts)

    return encode


# --- time-based ----------------------------------------------------------------------------

_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"]
_DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def _token(letter: str, n: int, t: dt.datetime) -> str:
    if letter in "yYu":
        return f"{t.year % 100:02d}" if n == 2 else f"{t.year:0{n}d}"
    if letter == "M":
        if n >= 4:
            return _MONTHS[t.month - 1]
        if n == 3:
            return _MONTHS[t.month - 1][:3]
        return f"{t.month:0{n}d}"
    if letter == "E":
        return _DAYS[t.weekday()] if n >= 4 else _DAYS[t.weekday()][:3]
    if letter == "a":
        return "AM" if t.hour < 12 else "PM"
    if letter == "S":
        return f"{t.microsecond // 1000:03d}"[:n].ljust(n, "0")
    number = {
        "d": t.day, "D": t.timetuple().tm_yday, "H": t.hour, "k": t.hour or 24, "h": (t.hour % 12) or 12,
        "K": t.hour % 12, "m": t.minute, "s": t.second, "w": t.isocalendar()[1], "e": t.isoweekday(),
    }.get(letter)
    if number is None:
        raise ConfigException.for_key("path.format", letter * n, f"Unsupported Joda-Time pattern letter '{letter}'")
    return f"{number:0{n}d}"


_PATTERN = re.compile(r"'((?:[^']|'')*)'|([A-Za-z])\2*|[^A-Za-z']+")


def format_joda(pattern: str, t: dt.datetime) -> str:
    """Format ``t`` with a Joda-Time ``DateTimeFormat`` pattern (quoted literals, letter runs)."""
    out = []
    for m in _PATTERN.finditer(pattern):
        text = m.group(0)
        if m.group(1) is not None:
            out.append(m.group(1).replace("''", "'") if m.group(1) else "'")
        elif m.group(2) is not None:
            out.append(_token(m.group(2), len(text), t))
        else:
            out.append(text)
    return "".join(out)


def _tz(name: str) -> dt.tzinfo:
    if name.upper() in ("UTC", "Z", "GMT"):
        return dt.UTC
    from zoneinfo import ZoneInfo

    try:
        return ZoneInfo(name)
    except Exception:
        raise ConfigException.for_key("timezone", name, "Invalid timezone") from None


def _extractor(kind: str, field: str) -> Callable[[SinkRecord], int]:
    short = kind.rsplit(".", 1)[-1].removesuffix("TimestampExtractor") or kind
    if short == "Wallclock":
        return lambda record: time.time_ns() // 1_000_000
    if short == "Record":
        def from_record(record: SinkRecord) -> int:
            if record.timestamp is None:
                raise DataException("Unable to determine timestamp using timestamp.extractor Record: "
                                    "the record has no timestamp")
            return int(record.timestamp)
        return from_record
    if short == "RecordField":
        def from_field(record: SinkRecord) -> int:
            v = _field_value(record.value, field)
            if isinstance(v, dt.datetime):
                aware = v if v.tzinfo else v.replace(tzinfo=dt.UTC)
                return int(aware.timestamp() * 1000)
            if isinstance(v, int) and not isinstance(v, bool):
                return v
            if isinstance(v, str):
                try:
                    parsed = dt.datetime.fromisoformat(v.replace("Z", "+00:00"))
                except ValueError:
                    pass
                else:
                    return int((parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)).timestamp() * 1000)
            raise DataException(f"Unable to extract timestamp from field '{field}': {v!r} is not a timestamp")
        return from_field
    raise ConfigException.for_key("timestamp.extractor", kind, "Must be Wallclock, Record or RecordField")


def _time_based(duration_ms: int, path_format: str, locale: str, timezone: str, extractor: str,
                field: str) -> Partitioner:
    if not locale:
        raise ConfigException.for_key("locale", locale, "Locale cannot be empty.")
    if not timezone:
        raise ConfigException.for_key("timezone", timezone, "Timezone cannot be empty.")
    if not path_format:
        raise ConfigException.for_key("path.format", path_format, "Path format cannot be empty.")
    if duration_ms <= 0:
        raise ConfigException.for_key("partition.duration.ms", duration_ms,
                                      "Partition duration needs to be a positive.")
    tz = _tz(timezone)
    format_joda(path_format, dt.datetime(2000, 1, 1, tzinfo=tz))  # reject bad patterns at start, not per record
    when = _extractor(extractor, field)

    def encode(record: SinkRecord) -> str:
        ts = when(record)
        offset = int(dt.datetime.fromtimestamp(ts / 1000, tz).utcoffset().total_seconds() * 1000)  # type: ignore[union-attr]
        local = ts + offset
        start = local - local % duration_ms - offset
        return format_joda(path_format, dt.datetime.fromtimestamp(start / 1000, tz))

    return encode


PARTITIONERS = ("DefaultPartitioner", "FieldPartitioner", "TimeBasedPartitioner", "HourlyPartitioner",
                "DailyPartitioner")


def build_partitioner(class_name: str, settings: Mapping[str, Any]) -> Partitioner:
    """The partitioner for ``partitioner.class`` (full Confluent name or simple name)."""
    short = class_name.removeprefix(_PKG)
    delim = settings["directory.delim"]
    if short == "DefaultPartitioner":
        return _default(delim)
    if short == "FieldPartitioner":
        return _field(settings["partition.field.name"], delim)
    locale, timezone = settings["locale"], settings["timezone"]
    extractor, field = settings["timestamp.extractor"], settings["timestamp.field"]
    if short == "TimeBasedPartitioner":
        return _time_based(settings["partition.duration.ms"], settings["path.format"], locale, timezone, extractor,
                           field)
    if short == "HourlyPartitioner":
        return _time_based(3_600_000, HOURLY_FORMAT, locale, timezone, extractor, field)
    if short == "DailyPartitioner":
        return _time_based(86_400_000, DAILY_FORMAT, locale, timezone, extractor, field)
    raise ConfigException.for_key("partitioner.class", class_name,
                                  "Unknown partitioner; use one of " + ", ".join(_PKG + p for p in PARTITIONERS))
