"""ByteArrayConverter: Kafka's ``org.apache.kafka.connect.converters.ByteArrayConverter``.

Passes bytes through untouched, for pipelines that copy messages without reading them
(mirroring, archiving to S3): nothing is parsed, so nothing can be lost in translation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lambda_connect.api.config import Config, ConfigDef
from lambda_connect.api.converter import Converter, HeaderConverter
from lambda_connect.api.data import OPTIONAL_BYTES_SCHEMA, Schema, SchemaAndValue, Type
from lambda_connect.api.errors import DataException
from lambda_connect.api.records import Headers

__all__ = ["ByteArrayConverter"]


class ByteArrayConverter(Converter, HeaderConverter):
    """Bytes in, bytes out; only BYTES schemas (or none) and bytes-like values are accepted."""

    name = "org.apache.kafka.connect.converters.ByteArrayConverter"
    config_def = ConfigDef()

    def __init__(self, config: Config, *, is_key: bool = False) -> None:
        Converter.__init__(self, config, is_key=is_key)

    def identity_check(self) -> Callable[[bytes], bool] | None:
        """Bytes come back exactly as they went in, whatever they hold."""
        if type(self).to_connect_data is not ByteArrayConverter.to_connect_data or \
                type(self).from_connect_data is not ByteArrayConverter.from_connect_data:
            return None
        return _always

    def from_connect_data(
        self, topic: str, schema: Schema | None, value: Any, headers: Headers | None = None
    ) -> bytes | None:
        if schema is not None and schema.type is not Type.BYTES:
            raise DataException(f"Invalid schema type for ByteArrayConverter: {schema.type.name}")
        if value is None:
            return None
        if isinstance(value, bytes):
            return value
        if isinstance(value, (bytearray, memoryview)):
            return bytes(value)
        raise DataException(f"ByteArrayConverter writes bytes only, got {type(value).__name__}")

    def to_connect_data(self, topic: str, data: bytes | None, headers: Headers | None = None) -> SchemaAndValue:
        return SchemaAndValue(OPTIONAL_BYTES_SCHEMA, None if data is None else bytes(data))

    def from_connect_header(self, topic: str, header_key: str, schema: Schema | None, value: Any) -> bytes | None:
        return self.from_connect_data(topic, schema, value)

    def to_connect_header(self, topic: str, header_key: str, data: bytes | None) -> SchemaAndValue:
        return self.to_connect_data(topic, data)


def _always(data: bytes) -> bool:
    return True
