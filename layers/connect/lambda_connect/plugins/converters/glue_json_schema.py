"""Glue's JsonSchemaConverter: JSON Schema kept in the AWS Glue Schema Registry.

``com.amazonaws.services.schemaregistry.kafkaconnect.jsonschema.JsonSchemaConverter`` as the
AWS library names it: Glue's 18-byte header, then the UTF-8 JSON document. The Connect
mapping of the schema document is the one the Confluent JSON Schema converter uses here
(``_json_schema_data``), so a JSON Schema topic reads the same from either registry.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from lambda_connect.api.data import Schema, SchemaAndValue
from lambda_connect.api.errors import DataException

from . import _json_text
from ._glue_registry import GlueConverter, glue_config_def
from ._json_codec import Codec, contains_decimal
from ._json_schema_data import connect_to_json_schema, json_schema_to_connect

__all__ = ["JsonSchemaConverter"]

_CODEC = Codec(decimal_numeric=True)


class JsonSchemaConverter(GlueConverter):
    """JSON documents described by a JSON Schema in the Glue Schema Registry."""

    name = "com.amazonaws.services.schemaregistry.kafkaconnect.jsonschema.JsonSchemaConverter"
    config_def = glue_config_def("JSON")
    data_format = "JSON"

    def _writer(self, schema: Schema) -> tuple[str, Callable[[Any], bytes]]:
        convert = _CODEC.to_json(schema)
        return orjson.dumps(connect_to_json_schema(schema)).decode(), lambda value: _json_text.dumps(convert(value))

    def _reader(self, definition: str) -> Callable[[bytes], SchemaAndValue]:
        try:
            schema = json_schema_to_connect(orjson.loads(definition))
        except orjson.JSONDecodeError as e:
            raise DataException(f"The Glue JSON schema definition is not JSON: {e}") from e
        convert = _CODEC.to_connect(schema)
        loads = _json_text.loads_exact if contains_decimal(schema) else _json_text.loads
        return lambda body: SchemaAndValue(schema, convert(loads(body)))
