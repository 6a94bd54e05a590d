"""The JSON-lines record format of ``lambda-connect transform``, both ways.

Input line: ``{"topic","partition","offset","timestamp","key","value","headers"}``.

* ``key``/``value`` hold message content as JSON; the bytes handed to the converter are
  its JSON serialization, except that a JSON string given to the StringConverter or the
  ByteArrayConverter is the message text itself (UTF-8). ``null`` means no bytes (a
  tombstone value / no key).
* ``headers`` is a list of ``[name, value]``; a value is handed to the header converter
  the same way: its JSON serialization, except that a JSON string given to the
  SimpleHeaderConverter or the StringConverter is the header text itself; ``null`` is a
  header without value.
* ``offset`` an integer: the record is replayed as a consumed Kafka record (sink side,
  a SinkRecord). ``offset`` null: it is replayed as a source task's record (a
  SourceRecord decoded by the converters), so offset-dependent SMTs behave as in Kafka.

Output: the same shape. Converter output is shown parsed as JSON for the JsonConverter,
as text for the StringConverter, base64 otherwise. Header output from the
SimpleHeaderConverter is shown as the value that converter reads back (``1`` for an
INT8 header, ``"x"`` for a string), text when that value has no JSON form.
"""

from __future__ import annotations

import base64
import datetime as _dt
import decimal
from typing import Any

import orjson

from lambda_connect.api.data import Struct

__all__ = [
    "BYTE_ARRAY_CONVERTER",
    "JSON_CONVERTER",
    "SIMPLE_HEADER_CONVERTER",
    "STRING_CONVERTER",
    "decode_content",
    "decode_header",
    "encode_content",
    "encode_header",
]

JSON_CONVERTER = "org.apache.kafka.connect.json.JsonConverter"
STRING_CONVERTER = "org.apache.kafka.connect.storage.StringConverter"
BYTE_ARRAY_CONVERTER = "org.apache.kafka.connect.converters.ByteArrayConverter"
SIMPLE_HEADER_CONVERTER = "org.apache.kafka.connect.storage.SimpleHeaderConverter"
_TEXT_IN = frozenset({STRING_CONVERTER, BYTE_ARRAY_CONVERTER})
_TEXT_HEADERS_IN = frozenset({STRING_CONVERTER, SIMPLE_HEADER_CONVERTER})


def _json_bytes(value: Any) -> bytes:
    try:
        return orjson.dumps(value)
    except TypeError:  # integers beyond 64 bits
        import json

        return json.dumps(value, separators=(",", ":")).encode()


def encode_content(value: Any, converter_class: str) -> bytes | None:
    """Input JSON value → the message bytes a converter of ``converter_class`` receives."""
    if value is None:
        return None
    if isinstance(value, str) and converter_class in _TEXT_IN:
        return value.encode("utf-8")
    return _json_bytes(value)


def encode_header(value: Any, converter_class: str) -> bytes | None:
    if value is None:
        return None
    if isinstance(value, str) and converter_class in _TEXT_HEADERS_IN:
        return value.encode("utf-8")
    return _json_bytes(value)


def _loads(data: bytes) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        import json

        return json.loads(data)  # big integers and the like that orjson refuses


def decode_content(data: bytes | None, converter_class: str) -> Any:
    """Converter output bytes → the JSON shown for them."""
    if data is None:
        return None
    if converter_class == JSON_CONVERTER:
        try:
            return _loads(data)
        except ValueError:
            pass
    elif converter_class == STRING_CONVERTER:
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            pass
    return base64.b64encode(data).decode("ascii")


def jsonable(value: Any) -> Any:
    """A Connect value in JSON terms, or raise TypeError when it has none."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, Struct):
        return {f.name: jsonable(value.get(f.name)) for f in (value.schema.fields or [])}
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, (_dt.date, _dt.time, _dt.datetime)):
        raise TypeError("temporal values are shown as text")
    raise TypeError(type(value).__name__)


def decode_header(data: bytes | None, converter: Any, converter_class: str, topic: str, name: str) -> Any:
    """Header bytes → the JSON shown for them (see module docstring)."""
    if data is None:
        return None
    if converter_class == SIMPLE_HEADER_CONVERTER:
        text = data.decode("utf-8", errors="replace")
        try:
            return jsonable(converter.to_connect_header(topic, name, data).value)
        except Exception:  # no JSON form, or unreadable: show the text
            return text
    return decode_content(data, converter_class)
