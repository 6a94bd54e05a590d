"""AWSKafkaAvroConverter: Avro with schemas kept in the AWS Glue Schema Registry.

Glue framing: header version byte 3, a compression byte (0 none, 5 zlib), the 16-byte
schema version UUID, then the Avro binary body. Glue calls, caching, error wrapping and the
secondary deserializer live in ``_glue_registry``; this module only turns Avro schemas and
bodies into Connect data and back. fastavro loads only when the converter is built.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import orjson

from lambda_connect.api.data import Schema, SchemaAndValue

from . import _avro_data
from ._glue_registry import GLUE_HEADER_VERSION, GlueConverter, glue_config_def, glue_frame, glue_unframe

__all__ = ["GLUE_HEADER_VERSION", "AWSKafkaAvroConverter", "glue_frame", "glue_unframe"]


class AWSKafkaAvroConverter(GlueConverter):
    """Avro via the AWS Glue Schema Registry (Glue's framing)."""

    name = "com.amazonaws.services.schemaregistry.kafkaconnect.AWSKafkaAvroConverter"
    config_def = glue_config_def("AVRO")
    data_format = "AVRO"
    requires = ("fastavro", "lambda-connect[aws,avro]")

    def _writer(self, schema: Schema) -> tuple[str, Callable[[Any], bytes]]:
        avro = _avro_data.connect_to_avro_schema(schema)
        parsed = self._lib.parse_schema(avro)
        write = self._lib.schemaless_writer

        def encode(value: Any) -> bytes:
            buf = io.BytesIO()
            write(buf, parsed, _avro_data.to_avro_value(schema, value))
            return buf.getvalue()

        return orjson.dumps(avro).decode(), encode

    def _reader(self, definition: str) -> Callable[[bytes], SchemaAndValue]:
        avro = orjson.loads(definition)
        parsed = self._lib.parse_schema(avro)
        schema = _avro_data.avro_to_connect_schema(avro)
        read = self._lib.schemaless_reader
        to_connect = _avro_data.to_connect_value
        return lambda body: SchemaAndValue(schema, to_connect(schema, read(io.BytesIO(body), parsed, None)))
