"""JsonSchemaConverter: Confluent's ``io.confluent.connect.json.JsonSchemaConverter``.

Messages are UTF-8 JSON behind the Confluent wire format (magic byte, 4-byte schema id);
the schema lives in Schema Registry as a JSON Schema document instead of travelling in
every message as JsonConverter's envelope does.
"""

from __future__ import annotations

from typing import Any

import orjson

from lambda_connect.api.config import Config
from lambda_connect.api.converter import Converter
from lambda_connect.api.data import Schema, SchemaAndValue
from lambda_connect.api.errors import DataException
from lambda_connect.api.records import Headers
from lambda_connect.api.values import infer_schema

from . import _json_text, _schema_registry
from ._json_codec import Codec, contains_decimal
from ._json_schema_data import connect_to_json_schema, json_schema_to_connect
from ._schema_registry import SR_CONFIG_DEF

__all__ = ["JsonSchemaConverter"]

_CODEC = Codec(decimal_numeric=True)


class JsonSchemaConverter(Converter):
    """JSON values validated by type against a JSON Schema kept in Schema Registry."""

    name = "io.confluent.connect.json.JsonSchemaConverter"
    config_def = SR_CONFIG_DEF

    def __init__(self, config: Config, *, is_key: bool = False) -> None:
        super().__init__(config, is_key=is_key)
        self._client = _schema_registry.client_for(config)
        self._ids = _schema_registry.SchemaIds(self._client, config, "JSON")
        self._strategy: str = config[
            _schema_registry.KEY_STRATEGY_CONFIG if is_key else _schema_registry.VALUE_STRATEGY_CONFIG
        ]
        self._writers: dict[Schema, tuple[str, Any]] = {}
        self._readers: dict[int, tuple[Schema, Any, bool]] = {}

    def from_connect_data(
        self, topic: str, schema: Schema | None, value: Any, headers: Headers | None = None
    ) -> bytes | None:
        if value is None:
            return None
        if schema is None:
            schema = infer_schema(value)
            if schema is None:
                raise DataException(f"JsonSchemaConverter cannot infer a schema for {type(value).__name__} values")
        writer = self._writers.get(schema)
        if writer is None:
            text = orjson.dumps(connect_to_json_schema(schema)).decode()
            writer = self._writers[schema] = (text, _CODEC.to_json(schema))
        text, convert = writer
        subject = _schema_registry.subject_name(self._strategy, topic, self.is_key, schema.name)
        schema_id, _ = self._ids.id_for(subject, text)
        return _schema_registry.frame(schema_id, _json_text.dumps(convert(value)))

    def to_connect_data(self, topic: str, data: bytes | None, headers: Headers | None = None) -> SchemaAndValue:
        if data is None:
            return SchemaAndValue(None, None)
        schema_id, payload = _schema_registry.unframe(data)
        schema, convert, exact = _schema_registry.fetch_schema(self._client, schema_id, self._readers, self._reader)
        try:
            tree = _json_text.loads_exact(bytes(payload)) if exact else _json_text.loads(bytes(payload))
        except ValueError as e:
            raise DataException(
                f"Converting byte[] to Kafka Connect data failed due to serialization error of topic {topic}: {e}"
            ) from e
        return SchemaAndValue(schema, convert(tree))

    @staticmethod
    def _reader(text: str) -> tuple[Schema, Any, bool]:
        schema = json_schema_to_connect(orjson.loads(text))
        return schema, _CODEC.to_connect(schema), contains_decimal(schema)
