"""AWSKafkaAvroConverter: Avro with schemas kept in the AWS Glue Schema Registry.

Glue framing: header version byte 3, a compression byte (0 none, 5 zlib), the 16-byte
schema version UUID, then the Avro binary body. Glue calls, caching and the secondary
deserializer live in ``_glue_registry``; this module only turns Avro schemas and bodies
into Connect data and back. fastavro loads only when the converter is built.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable
from typing import Any

import orjson

from lambda_connect.api.config import Config
from lambda_connect.api.data import Schema, SchemaAndValue
from lambda_connect.api.errors import DataException

from . import _avro_data
from ._glue_registry import GLUE_HEADER_VERSION, GlueConverter, glue_config_def, glue_frame, glue_unframe

__all__ = ["GLUE_HEADER_VERSION", "AWSKafkaAvroConverter", "glue_frame", "glue_unframe"]


class AWSKafkaAvroConverter(GlueConverter):
    """Avro via the AWS Glue Schema Registry (Glue's framing)."""

    name = "com.amazonaws.services.schemaregistry.kafkaconnect.AWSKafkaAvroConverter"
    config_def = glue_config_def("AVRO")
    data_format = "AVRO"

    def __init__(self, config: Config, *, is_key: bool = False) -> None:
        try:
            import fastavro
        except ImportError as e:  # pragma: no cover - depends on the installed extras
            raise DataException("AWSKafkaAvroConverter needs fastavro: pip install 'lambda-connect[aws,avro]'") from e
        self._fastavro = fastavro
        super().__init__(config, is_key=is_key)

    def _writer(self, schema: Schema) -> tuple[str, Callable[[Any], bytes]]:
        avro = _avro_data.connect_to_avro_schema(schema)
        parsed = self._fastavro.parse_schema(avro)

        def encode(value: Any) -> bytes:
            buf = io.BytesIO()
            self._fastavro.schemaless_writer(buf, parsed, _avro_data.to_avro_value(schema, value))
            return buf.getvalue()

        return orjson.dumps(avro).decode(), encode

    def _reader(self, definition: str) -> Callable[[bytes, str, uuid.UUID], SchemaAndValue]:
        avro = orjson.loads(definition)
        parsed = self._fastavro.parse_schema(avro)
        schema = _avro_data.avro_to_connect_schema(avro)
        reader = self._fastavro.schemaless_reader

        def decode(body: bytes, topic: str, version_id: uuid.UUID) -> SchemaAndValue:
            try:
                datum = reader(io.BytesIO(body), parsed, None)
            except (EOFError, ValueError, TypeError, IndexError, KeyError, UnicodeDecodeError) as e:
                raise DataException(
                    f"Failed to deserialize Avro data for topic {topic} with Glue schema version {version_id}: {e}"
                ) from e
            return SchemaAndValue(schema, _avro_data.to_connect_value(schema, datum))

        return decode
