"""Kafka's ``org.apache.kafka.connect.data.Values``: Connect values to and from text.

Header values travel as text (``SimpleHeaderConverter``) and SMT literals are typed in
config files (``InsertHeader``'s ``value.literal``), so both need one shared, predictable way
to read text back into typed Connect data:

* ``parse_string`` infers the narrowest schema for a piece of text: ``1`` is INT8,
  ``1.5`` FLOAT32, ``true`` BOOLEAN, ``[1, 2]`` an ARRAY, ``{"a": 1}`` a MAP,
  ``2019-08-23`` a Date, anything else the STRING itself;
* ``convert_to_string`` writes any Connect value in the syntax ``parse_string`` reads;
* ``infer_schema`` finds the schema of a plain value, or None when there is none.

Kafka's tokenizer treats ``{ } [ ] , : "`` as delimiters (a backslash escapes them) and
whitespace as part of tokens; the parser below keeps that model so odd inputs
(``"true}"``, ``"[foo]"``, ``"12:34:56.789Z"``) come out as they do in Kafka.
"""

from __future__ import annotations

import base64
import datetime as _dt
import decimal as _decimal
import re
import struct as _struct
from collections.abc import Mapping
from typing import Any

from .data import (
    BOOLEAN_SCHEMA,
    BYTES_SCHEMA,
    FLOAT32_SCHEMA,
    FLOAT64_SCHEMA,
    INT8_SCHEMA,
    INT16_SCHEMA,
    INT32_SCHEMA,
    INT64_SCHEMA,
    STRING_SCHEMA,
    UTC,
    Date,
    Decimal,
    Schema,
    SchemaAndValue,
    Struct,
    Time,
    Timestamp,
    Type,
)
from .errors import DataException

__all__ = [
    "ISO_8601_DATE_FORMAT_PATTERN",
    "ISO_8601_TIMESTAMP_FORMAT_PATTERN",
    "ISO_8601_TIME_FORMAT_PATTERN",
    "convert_to_string",
    "escape",
    "infer_schema",
    "java_double_string",
    "parse_string",
]

ISO_8601_DATE_FORMAT_PATTERN = "yyyy-MM-dd"
ISO_8601_TIME_FORMAT_PATTERN = "HH:mm:ss.SSS'Z'"
ISO_8601_TIMESTAMP_FORMAT_PATTERN = ISO_8601_DATE_FORMAT_PATTERN + "'T'" + ISO_8601_TIME_FORMAT_PATTERN

_MILLIS_PER_DAY = 86_400_000
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=UTC)
_DELIMITERS = frozenset('{}[],:"')
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_DATE_RE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_TIME_RE = re.compile(r"(\d{2}):(\d{2}):(\d{2})\.(\d{3})Z")
_TIMESTAMP_RE = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\.(\d{3})Z")
_LONG_MIN, _LONG_MAX = -(2**63), 2**63 - 1
_TEMPORAL_NAMES = frozenset({Date.LOGICAL_NAME, Time.LOGICAL_NAME, Timestamp.LOGICAL_NAME})
_NUMERIC_ORDER = (Type.INT8, Type.INT16, Type.INT32, Type.INT64, Type.FLOAT32, Type.FLOAT64)

_DATE_SCHEMA = Date.schema()
_TIME_SCHEMA = Time.schema()
_TIMESTAMP_SCHEMA = Timestamp.schema()


# --- schemas Kafka builds without element schemas ------------------------------------------


def _array_of_null() -> Schema:
    """Kafka's ``arrayOfNull``: an ARRAY whose elements share no schema (all null, or mixed).

    ``Schema`` insists on an item schema, so this is built with a placeholder and cleared:
    the result only describes parsed text, it is never used to validate values.
    """
    s = Schema(Type.ARRAY, value_schema=STRING_SCHEMA)
    s.value_schema = None
    return s


def _map_of(key_schema: Schema | None, value_schema: Schema | None) -> Schema:
    """A MAP whose key and/or value schema may be unknown (Kafka's ``mapOfNull``/``mapWithNullValues``)."""
    s = Schema(Type.MAP, key_schema=key_schema or STRING_SCHEMA, value_schema=value_schema or STRING_SCHEMA)
    s.key_schema = key_schema
    s.value_schema = value_schema
    return s


# --- tokenizer ----------------------------------------------------------------------------


class _Parser:
    """Kafka's ``Values.Parser``: delimiter-aware tokens with mark/rewind."""

    __slots__ = ("_next", "_pos", "_previous", "original")

    def __init__(self, original: str) -> None:
        self.original = original
        self._pos = 0
        self._next: str | None = None
        self._previous: str | None = None

    def _can_consume_next_token(self) -> bool:
        return self._pos < len(self.original)

    def _consume_next_token(self) -> str:
        text = self.original
        start = i = self._pos
        escaped = False
        end = len(text)
        while i < end:
            c = text[i]
            if c == "\\":
                escaped = not escaped
            elif c in _DELIMITERS:
                if not escaped:
                    if start < i:
                        self._pos = i
                        return text[start:i]
                    self._pos = i + 1
                    return c
                escaped = False
            else:
                escaped = False
            i += 1
        self._pos = end
        return text[start:end]

    def position(self) -> int:
        return self._pos

    def mark(self) -> int:
        return self._pos - len(self._next) if self._next is not None else self._pos

    def rewind_to(self, position: int) -> None:
        self._pos = position
        self._next = None
        self._previous = None

    def has_next(self) -> bool:
        return self._next is not None or self._can_consume_next_token()

    def has_more_content(self) -> bool:
        """True when a non-blank token is left (used to reject trailing garbage at top level)."""
        while self.has_next():
            if self.next().strip():
                return True
        return False

    def next(self) -> str:
        if self._next is not None:
            self._previous, self._next = self._next, None
        else:
            self._previous = self._consume_next_token()
        return self._previous

    def next_n(self, n: int) -> str | None:
        start = self.mark()
        for _ in range(n):
            if not self.has_next():
                self.rewind_to(start)
                return None
            self.next()
        return self.original[start : self.position()]

    def previous(self) -> str | None:
        return self._previous

    def is_next(self, expected: str, ignore_whitespace: bool = True) -> bool:
        if self._next is None:
            if not self.has_next():
                return False
            self._next = self._consume_next_token()
        if ignore_whitespace:
            while not self._next.strip() and self._can_consume_next_token():
                self._next = self._consume_next_token()
            return self._next.strip() == expected
        return self._next == expected

    def can_consume(self, expected: str, ignore_whitespace: bool = True) -> bool:
        if self.is_next(expected, ignore_whitespace):
            self._next = None
            return True
        return False


# --- parsing ------------------------------------------------------------------------------


class _Unparseable(Exception):
    """Internal: the text is not a number (Kafka's NumberFormatException)."""


def parse_string(text: str | None) -> SchemaAndValue:
    """Read text the way ``SimpleHeaderConverter`` does; ``null`` (or None) gives ``(None, None)``."""
    if text is None:
        return SchemaAndValue(None, None)
    if not text:
        return SchemaAndValue(STRING_SCHEMA, text)
    parser = _Parser(text)
    result = _parse(parser, embedded=False)
    if result is None:
        if parser.has_more_content():
            return SchemaAndValue(STRING_SCHEMA, text)
        return SchemaAndValue(None, None)
    if result.schema is STRING_SCHEMA and result.value is text:
        return result
    if parser.has_more_content():
        return SchemaAndValue(STRING_SCHEMA, text)
    return result


def _parse(parser: _Parser, embedded: bool) -> SchemaAndValue | None:
    if not parser.has_next():
        return None
    if embedded and parser.can_consume('"'):
        return _parse_quoted(parser)
    if parser.can_consume("null"):
        return None
    if parser.can_consume("true"):
        return SchemaAndValue(BOOLEAN_SCHEMA, True)
    if parser.can_consume("false"):
        return SchemaAndValue(BOOLEAN_SCHEMA, False)
    start = parser.mark()
    try:
        if parser.can_consume("["):
            return _parse_array(parser)
        if parser.can_consume("{"):
            return _parse_map(parser)
    except DataException:
        parser.rewind_to(start)
    token = parser.next()
    if not token.strip():
        return SchemaAndValue(STRING_SCHEMA, token)
    token = token.strip()
    first = token[0]
    if first.isdigit():
        position = parser.mark()
        remainder = parser.next_n(4)
        if remainder is not None:
            temporal = _parse_temporal(token + remainder)
            if temporal is not None:
                return temporal
        parser.rewind_to(position)
        temporal = _parse_temporal(token)
        if temporal is not None:
            return temporal
    if first.isdigit() or first in "+-":
        try:
            return _parse_number(token)
        except _Unparseable:
            pass
    if embedded:
        raise DataException("Failed to parse embedded value")
    return SchemaAndValue(STRING_SCHEMA, parser.original)


def _parse_quoted(parser: _Parser) -> SchemaAndValue:
    parts: list[str] = []
    while parser.has_next():
        if parser.can_consume('"', ignore_whitespace=False):
            break
        parts.append(parser.next())
    content = _unescape("".join(parts))
    parsed = parse_string(content) if content else None
    if parsed is not None and parsed.schema is not None and parsed.schema.name in _TEMPORAL_NAMES:
        return parsed
    return SchemaAndValue(STRING_SCHEMA, content)


def _parse_array(parser: _Parser) -> SchemaAndValue:
    result: list[Any] = []
    common = _Common()
    while parser.has_next():
        if parser.can_consume("]"):
            element_schema = common.schema
            if element_schema is None:
                return SchemaAndValue(_array_of_null(), result)
            schema = Schema.array(element_schema)
            return SchemaAndValue(schema, [_align(element_schema, v) for v in result])
        if parser.can_consume(","):
            raise DataException("Unable to parse an empty array element: " + parser.original)
        element = _parse(parser, embedded=True)
        common.add(element)
        result.append(element.value if element is not None else None)
        position = parser.mark()
        if parser.can_consume("]"):
            parser.rewind_to(position)
        elif not parser.can_consume(","):
            raise DataException("Array elements missing ',' delimiter")
    if parser.previous() == ",":
        raise DataException("Array is missing element after ',': " + parser.original)
    raise DataException("Array is missing terminating ']': " + parser.original)


def _parse_map(parser: _Parser) -> SchemaAndValue:
    result: dict[Any, Any] = {}
    keys, values = _Common(), _Common()
    while parser.has_next():
        if parser.can_consume("}"):
            if keys.schema is not None and values.schema is not None:
                schema = Schema.map(keys.schema, values.schema)
                aligned = {_align(keys.schema, k): _align(values.schema, v) for k, v in result.items()}
                return SchemaAndValue(schema, aligned)
            if keys.schema is not None:
                aligned = {_align(keys.schema, k): v for k, v in result.items()}
                return SchemaAndValue(_map_of(keys.schema, None), aligned)
            return SchemaAndValue(_map_of(None, None), result)
        if parser.can_consume(","):
            raise DataException("A map entry needs both a key and a value: " + parser.original)
        key = _parse(parser, embedded=True)
        if key is None or key.value is None:
            raise DataException("Map entry may not have a null key: " + parser.original)
        if not parser.can_consume(":"):
            raise DataException(f"Map entry is missing ':' at {parser.position()} in {parser.original}")
        value = _parse(parser, embedded=True)
        result[_hashable(key.value)] = value.value if value is not None else None
        parser.can_consume(",")
        keys.add(key)
        values.add(value)
    if parser.previous() == ",":
        raise DataException("Map is missing element after ',': " + parser.original)
    raise DataException("Map is missing terminating '}': " + parser.original)


def _hashable(key: Any) -> Any:
    """Map keys parsed from text may be lists or maps; Python dicts need hashable keys."""
    if isinstance(key, list):
        return tuple(_hashable(k) for k in key)
    if isinstance(key, dict):
        raise DataException("Map keys may not themselves be maps")
    return key


def _unescape(text: str) -> str:
    if "\\" not in text:
        return text
    out: list[str] = []
    it = iter(text)
    for c in it:
        out.append(next(it, "\\") if c == "\\" else c)
    return "".join(out)


def _parse_temporal(token: str) -> SchemaAndValue | None:
    token = token.replace("\\:", ":")
    try:
        n = len(token)
        if n == 13:
            m = _TIME_RE.fullmatch(token)
            if m:
                h, mi, s, ms = (int(g) for g in m.groups())
                return SchemaAndValue(_TIME_SCHEMA, _dt.time(h, mi, s, ms * 1000))
        elif n == 24:
            m = _TIMESTAMP_RE.fullmatch(token)
            if m:
                y, mo, d, h, mi, s, ms = (int(g) for g in m.groups())
                return SchemaAndValue(_TIMESTAMP_SCHEMA, _dt.datetime(y, mo, d, h, mi, s, ms * 1000, tzinfo=UTC))
        elif n == 10:
            m = _DATE_RE.fullmatch(token)
            if m:
                y, mo, d = (int(g) for g in m.groups())
                return SchemaAndValue(_DATE_SCHEMA, _dt.date(y, mo, d))
    except ValueError:
        return None
    return None


def _fits_float32(value: float) -> bool:
    try:
        _struct.pack(">f", value)
    except OverflowError:
        return False
    return True


def _parse_number(token: str) -> SchemaAndValue:
    if not _NUMBER.fullmatch(token):
        raise _Unparseable(token)
    dec = _decimal.Decimal(token)
    exponent = dec.as_tuple().exponent
    assert isinstance(exponent, int)
    scale = -exponent
    if dec == dec.to_integral_value():
        integral = int(dec)
        if _LONG_MIN <= integral <= _LONG_MAX:
            for schema, bits in ((INT8_SCHEMA, 7), (INT16_SCHEMA, 15), (INT32_SCHEMA, 31)):
                if -(2**bits) <= integral < 2**bits:
                    return SchemaAndValue(schema, integral)
            return SchemaAndValue(INT64_SCHEMA, integral)
    if scale != 0:
        as_float = float(dec)
        if as_float not in (float("inf"), float("-inf")):
            if _fits_float32(as_float):
                return SchemaAndValue(FLOAT32_SCHEMA, as_float)
            return SchemaAndValue(FLOAT64_SCHEMA, as_float)
    return SchemaAndValue(Decimal.schema(scale), dec)


class _Common:
    """Tracks the schema every parsed element shares (Kafka's ``commonSchemaFor``).

    Numbers widen (INT8 then INT32 gives INT32; ints with floats give the float type); any
    other mix leaves no common schema, and it stays that way for the rest of the sequence.
    """

    __slots__ = ("_mixed", "schema")

    def __init__(self) -> None:
        self.schema: Schema | None = None
        self._mixed = False

    def add(self, latest: SchemaAndValue | None) -> None:
        if latest is None or self._mixed or latest.schema is None:
            return
        previous, new = self.schema, latest.schema
        if previous is None:
            self.schema = new
            return
        if previous.type is not new.type:
            if previous.type in _NUMERIC_ORDER and new.type in _NUMERIC_ORDER and not previous.name and not new.name:
                if _NUMERIC_ORDER.index(new.type) > _NUMERIC_ORDER.index(previous.type):
                    self.schema = new
                return
            self._conflict()
            return
        if previous.optional == new.optional:
            if previous != new and (previous.name or new.name or not previous.type.is_primitive):
                self._conflict()
                return
            self.schema = previous if previous.optional else new
            return
        if previous != new:
            self._conflict()

    def _conflict(self) -> None:
        self.schema = None
        self._mixed = True


def _align(schema: Schema, value: Any) -> Any:
    """Values of a widened numeric element schema take that schema's Python type."""
    if value is None:
        return None
    if schema.type in (Type.FLOAT32, Type.FLOAT64) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


# --- writing ------------------------------------------------------------------------------


def escape(text: str) -> str:
    """Backslash-escape ``\\`` and ``"`` so a string can be embedded between quotes."""
    return text.replace("\\", "\\\\").replace('"', '\\"')


def convert_to_string(schema: Schema | None, value: Any) -> str | None:
    """Kafka's ``Values.convertToString``: the text form ``parse_string`` reads back (None stays None)."""
    if value is None:
        return None
    out: list[str] = []
    _append(out, value, embedded=False)
    return "".join(out)


def _append(out: list[str], value: Any, embedded: bool) -> None:
    if value is None:
        out.append("null")
    elif isinstance(value, bool):
        out.append("true" if value else "false")
    elif isinstance(value, str):
        out.append('"' + escape(value) + '"' if embedded else value)
    elif isinstance(value, int):
        out.append(str(value))
    elif isinstance(value, float):
        out.append(java_double_string(value))
    elif isinstance(value, _decimal.Decimal):
        out.append(str(value))
    elif isinstance(value, (bytes, bytearray, memoryview)):
        encoded = base64.b64encode(bytes(value)).decode("ascii")
        out.append('"' + encoded + '"' if embedded else encoded)
    elif isinstance(value, (_dt.date, _dt.time)):
        formatted = _format_temporal(value)
        out.append('"' + formatted + '"' if embedded else formatted)
    elif isinstance(value, (list, tuple)):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _append(out, item, True)
        out.append("]")
    elif isinstance(value, Mapping):
        out.append("{")
        for i, (k, v) in enumerate(value.items()):
            if i:
                out.append(",")
            _append(out, k, True)
            out.append(":")
            _append(out, v, True)
        out.append("}")
    elif isinstance(value, Struct):
        out.append("{")
        for i, f in enumerate(value.schema.fields):
            if i:
                out.append(",")
            _append(out, f.name, True)
            out.append(":")
            _append(out, value.get(f), True)
        out.append("}")
    else:
        raise DataException(f"Unable to convert value of type {type(value).__name__} to a string")


def _format_temporal(value: _dt.date | _dt.time) -> str:
    """Kafka formats every ``java.util.Date`` by its millis: under a day is a time, a whole
    number of days is a date, anything else a timestamp. Python types are mapped to millis
    first so the text matches what a Kafka worker would write."""
    if isinstance(value, _dt.datetime):
        millis = Timestamp.from_logical(None, value)
    elif isinstance(value, _dt.date):
        millis = Date.from_logical(None, value) * _MILLIS_PER_DAY
    else:
        millis = Time.from_logical(None, value)
    moment = _EPOCH + _dt.timedelta(milliseconds=millis)
    ms = f"{moment.microsecond // 1000:03d}"
    if 0 <= millis < _MILLIS_PER_DAY:
        return moment.strftime("%H:%M:%S.") + ms + "Z"
    if millis % _MILLIS_PER_DAY == 0:
        return f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"
    return f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T" + moment.strftime("%H:%M:%S.") + ms + "Z"


def java_double_string(value: float) -> str:
    """``Double.toString``: plain notation in [1e-3, 1e7), otherwise ``d.dddE<n>``."""
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0 or 1e-3 <= abs(value) < 1e7:
        text = repr(value)
        return text if ("." in text or "e" in text) else text + ".0"
    sign = "-" if value < 0 else ""
    t = _decimal.Decimal(repr(abs(value))).normalize().as_tuple()
    digits = "".join(str(d) for d in t.digits)
    assert isinstance(t.exponent, int)
    return f"{sign}{digits[0]}.{digits[1:] or '0'}E{t.exponent + len(digits) - 1}"


# --- inference ----------------------------------------------------------------------------


def infer_schema(value: Any) -> Schema | None:
    """The schema a plain value implies, or None when it implies none (null, empty or mixed
    collections, unknown types). Python ints are INT64 and floats FLOAT64, as JSON reads them."""
    if value is None:
        return None
    if isinstance(value, bool):
        return BOOLEAN_SCHEMA
    if isinstance(value, str):
        return STRING_SCHEMA
    if isinstance(value, int):
        return INT64_SCHEMA if _LONG_MIN <= value <= _LONG_MAX else Decimal.schema(0)
    if isinstance(value, float):
        return FLOAT64_SCHEMA
    if isinstance(value, _decimal.Decimal):
        exponent = value.as_tuple().exponent
        return Decimal.schema(-exponent) if isinstance(exponent, int) else None
    if isinstance(value, (bytes, bytearray, memoryview)):
        return BYTES_SCHEMA
    if isinstance(value, _dt.datetime):
        return _TIMESTAMP_SCHEMA
    if isinstance(value, _dt.date):
        return _DATE_SCHEMA
    if isinstance(value, _dt.time):
        return _TIME_SCHEMA
    if isinstance(value, Struct):
        return value.schema
    if isinstance(value, (list, tuple)):
        items = _detect(value)
        return Schema.array(items) if items is not None else None
    if isinstance(value, Mapping):
        if not value:
            return None
        keys, values = _detect(value.keys()), _detect(value.values())
        return Schema.map(keys, values) if keys is not None and values is not None else None
    return None


def _detect(items: Any) -> Schema | None:
    """The one schema every non-null item shares (optional when some are null), else None."""
    found: Schema | None = None
    optional = False
    for item in items:
        if item is None:
            optional = True
            continue
        schema = infer_schema(item)
        if schema is None:
            return None
        if found is None:
            found = schema
        elif found != schema:
            return None
    if found is None:
        return None
    return found.copy(optional=True) if optional and not found.optional else found
