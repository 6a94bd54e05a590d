"""SimpleHeaderConverter: Kafka's ``org.apache.kafka.connect.storage.SimpleHeaderConverter``.

The worker's default header converter: headers are written as readable text and read back
with type inference (``1`` is INT8, ``true`` BOOLEAN, ``2019-08-23`` a Date), so headers
set by non-Connect producers arrive with useful types.
"""

from __future__ import annotations

from typing import Any

from lambda_connect.api.config import ConfigDef
from lambda_connect.api.converter import HeaderConverter
from lambda_connect.api.data import BYTES_SCHEMA, STRING_SCHEMA, Schema, SchemaAndValue
from lambda_connect.api.errors import DataException
from lambda_connect.api.values import convert_to_string, parse_string

__all__ = ["SimpleHeaderConverter"]


class SimpleHeaderConverter(HeaderConverter):
    """Header values as UTF-8 text: typed on the way in, rendered by ``Values`` on the way out.

    Bytes that are not UTF-8 come back unchanged as BYTES rather than failing the record,
    as in Kafka.
    """

    name = "org.apache.kafka.connect.storage.SimpleHeaderConverter"
    config_def = ConfigDef()

    def to_connect_header(self, topic: str, header_key: str, data: bytes | None) -> SchemaAndValue:
        if data is None:
            return SchemaAndValue(None, None)
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError:
            return SchemaAndValue(BYTES_SCHEMA, bytes(data))
        if not text:
            return SchemaAndValue(STRING_SCHEMA, text)
        return parse_string(text)

    def from_connect_header(self, topic: str, header_key: str, schema: Schema | None, value: Any) -> bytes | None:
        if value is None:
            return None
        try:
            text = convert_to_string(schema, value)
        except DataException as e:
            raise DataException(f"Failed to serialize value for header '{header_key}' on topic '{topic}'") from e
        return None if text is None else text.encode("utf-8")
