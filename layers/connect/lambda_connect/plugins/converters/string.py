"""StringConverter: Kafka's ``org.apache.kafka.connect.storage.StringConverter``.

Writes any value as its text form and reads every message back as an optional STRING, so
it suits keys that are plain ids and headers that carry text.
"""

from __future__ import annotations

import base64
import codecs
import datetime as _dt
from collections.abc import Callable, Sequence
from itertools import repeat
from operator import is_
from typing import Any

from lambda_connect.api.config import Config, ConfigDef, ConfigKey, ConfigType, Importance, LambdaValidator
from lambda_connect.api.converter import Converter, HeaderConverter
from lambda_connect.api.data import OPTIONAL_STRING_SCHEMA, UTC, Date, Schema, SchemaAndValue, Struct, Time, Timestamp
from lambda_connect.api.errors import ConfigException, DataException
from lambda_connect.api.records import Headers
from lambda_connect.api.values import java_double_string

__all__ = ["StringConverter", "java_string"]

ENCODING_CONFIG = "converter.encoding"


def java_string(value: Any) -> str:
    """``value.toString()`` as the JVM writes it, because that is what Kafka's StringConverter
    emits: ``true``, ``1.0E20``, ``{a=1, b=2}``, ``[1, 2]``, ``Struct{a=1}``, and
    ``java.util.Date`` text for temporal values. Bytes, which Java would print as an object
    id, are written as base64."""
    if value is None:
        return "null"
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return java_double_string(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(java_string(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{java_string(k)}={java_string(v)}" for k, v in value.items()) + "}"
    if isinstance(value, Struct):
        parts = [f"{f.name}={java_string(value.get(f))}" for f in value.schema.fields if value.get(f) is not None]
        return "Struct{" + ",".join(parts) + "}"
    if isinstance(value, _dt.datetime):
        millis = Timestamp.from_logical(None, value)
    elif isinstance(value, _dt.date):
        millis = Date.from_logical(None, value) * 86_400_000
    elif isinstance(value, _dt.time):
        millis = Time.from_logical(None, value)
    else:
        return str(value)
    moment = _dt.datetime(1970, 1, 1, tzinfo=UTC) + _dt.timedelta(milliseconds=millis)
    return moment.strftime("%a %b %d %H:%M:%S UTC %Y")

_ASCII_BYTES = bytes(range(128))


def _check_encoding(name: str, value: Any) -> None:
    try:
        codecs.lookup(str(value))
    except LookupError:
        raise ConfigException.for_key(name, value, "Unsupported encoding") from None


class StringConverter(Converter, HeaderConverter):
    """Text in, text out; the value's Kafka string form is encoded with ``converter.encoding``."""

    name = "org.apache.kafka.connect.storage.StringConverter"
    config_def = ConfigDef(
        ConfigKey(
            name=ENCODING_CONFIG,
            type=ConfigType.STRING,
            default="UTF-8",
            validator=LambdaValidator(_check_encoding, "a charset name"),
            importance=Importance.HIGH,
            doc="Character set, by its Java name (UTF8, ISO-8859-1, ...), for turning text into bytes and back.",
            group="Converter",
            display_name="Encoding",
        ),
    )

    def __init__(self, config: Config, *, is_key: bool = False) -> None:
        Converter.__init__(self, config, is_key=is_key)
        self.encoding: str = codecs.lookup(config[ENCODING_CONFIG]).name

    def from_connect_data(
        self, topic: str, schema: Schema | None, value: Any, headers: Headers | None = None
    ) -> bytes | None:
        if value is None:
            return None
        text = value if isinstance(value, str) else java_string(value)
        try:
            return text.encode(self.encoding)
        except UnicodeEncodeError as e:
            raise DataException(f"Failed to serialize to a string: {e}") from e

    def to_connect_data(self, topic: str, data: bytes | None, headers: Headers | None = None) -> SchemaAndValue:
        if data is None:
            return SchemaAndValue(OPTIONAL_STRING_SCHEMA, None)
        try:
            return SchemaAndValue(OPTIONAL_STRING_SCHEMA, bytes(data).decode(self.encoding))
        except UnicodeDecodeError as e:
            raise DataException(f"Failed to deserialize string: {e}") from e

    def direct_reader(self) -> tuple[Schema | None, Callable[[bytes | None], Any]] | None:
        """Reading is one ``bytes.decode``, always as an optional STRING: the runtime then
        skips building a ``SchemaAndValue`` per record (most sink keys are plain ids or null).
        Anything but ``bytes`` (or null), and undecodable text, raise here, and the runtime
        calls ``to_connect_data``, which reads or reports them."""
        if type(self).to_connect_data is not StringConverter.to_connect_data:
            return None
        encoding = self.encoding

        def read(data: bytes | None) -> str | None:
            return None if data is None else data.decode(encoding)

        return OPTIONAL_STRING_SCHEMA, read

    def batch_writer(self, schema: Schema | None) -> Callable[[Sequence[Any]], list[bytes | None]] | None:
        """Many values at once for the source runtime's batch path (see ``JsonConverter.batch_writer``):
        all nulls, or all ``str`` encoded by one C-level ``map``; anything else raises and is
        converted record by record."""
        if type(self).from_connect_data is not StringConverter.from_connect_data:
            return None
        encoding = self.encoding

        def write(values: Sequence[Any]) -> list[bytes | None]:
            n = len(values)
            if values.count(None) == n:
                return [None] * n
            if all(map(is_, map(type, values), repeat(str))):
                return list(map(str.encode, values, repeat(encoding)))
            raise LookupError("not all text")

        return write

    def identity_check(self) -> Callable[[bytes], bool] | None:
        """ASCII bytes decode and encode back unchanged in every ASCII-compatible charset
        (UTF-8, ISO-8859-1, windows-1252, ...); ``bytes.isascii`` is a single C call. Other
        charsets (UTF-16, EBCDIC) get no shortcut."""
        if type(self).to_connect_data is not StringConverter.to_connect_data or \
                type(self).from_connect_data is not StringConverter.from_connect_data:
            return None
        try:
            compatible = _ASCII_BYTES.decode(self.encoding).encode(self.encoding) == _ASCII_BYTES
        except (UnicodeError, LookupError):
            compatible = False
        return bytes.isascii if compatible else None

    def from_connect_header(self, topic: str, header_key: str, schema: Schema | None, value: Any) -> bytes | None:
        return self.from_connect_data(topic, schema, value)

    def to_connect_header(self, topic: str, header_key: str, data: bytes | None) -> SchemaAndValue:
        return self.to_connect_data(topic, data)
