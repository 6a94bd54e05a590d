"""AvroConverter: Confluent's ``io.confluent.connect.avro.AvroConverter``.

Messages use the Confluent wire format (magic byte, 4-byte schema id, Avro binary), so
topics written by Confluent producers, ksqlDB or a Kafka Connect cluster read here
unchanged, and the other way round. The registry client and fastavro are imported when
the converter is built, never when this module is imported.
"""

from __future__ import annotations

import io
from typing import Any

import orjson

from lambda_connect.api.config import Config
from lambda_connect.api.converter import Converter
from lambda_connect.api.data import Schema, SchemaAndValue, Type
from lambda_connect.api.errors import DataException
from lambda_connect.api.records import Headers
from lambda_connect.api.values import infer_schema

from . import _avro_data, _schema_registry
from ._schema_registry import SR_CONFIG_DEF

__all__ = ["AvroConverter"]


class _Writer:
    """A Connect schema ready to write: its Avro JSON text and parsed form."""

    __slots__ = ("parsed", "record_name", "text")

    def __init__(self, avro: Any, parsed: Any) -> None:
        self.text = orjson.dumps(avro).decode()
        self.parsed = parsed
        self.record_name: str | None = None
        if isinstance(avro, dict) and avro.get("type") == "record":
            ns = avro.get("namespace")
            self.record_name = f"{ns}.{avro['name']}" if ns else avro["name"]


class AvroConverter(Converter):
    """Avro with schemas kept in Confluent Schema Registry (``schema.registry.url``)."""

    name = "io.confluent.connect.avro.AvroConverter"
    config_def = SR_CONFIG_DEF

    def __init__(self, config: Config, *, is_key: bool = False) -> None:
        super().__init__(config, is_key=is_key)
        try:
            import fastavro
        except ImportError as e:  # pragma: no cover - depends on the installed extras
            raise DataException("AvroConverter needs fastavro: pip install 'lambda-connect[avro]'") from e
        self._fastavro = fastavro
        self._client = _schema_registry.client_for(config)
        self._ids = _schema_registry.SchemaIds(self._client, config, "AVRO")
        self._strategy: str = config[
            _schema_registry.KEY_STRATEGY_CONFIG if is_key else _schema_registry.VALUE_STRATEGY_CONFIG
        ]
        self._writers: dict[Schema, _Writer] = {}
        self._parsed_by_text: dict[str, Any] = {}
        self._readers: dict[int, tuple[Any, Schema]] = {}

    # --- Connect -> bytes -------------------------------------------------------------------
    def from_connect_data(
        self, topic: str, schema: Schema | None, value: Any, headers: Headers | None = None
    ) -> bytes | None:
        if value is None:
            return None
        if schema is None:
            schema = infer_schema(value)
            if schema is None or schema.type is Type.STRUCT:
                raise DataException(f"AvroConverter cannot infer an Avro schema for {type(value).__name__} values")
        writer = self._writer_for(schema)
        subject = _schema_registry.subject_name(self._strategy, topic, self.is_key, writer.record_name)
        schema_id, text = self._ids.id_for(subject, writer.text)
        parsed = writer.parsed if text == writer.text else self._parse(text)
        datum = _avro_data.to_avro_value(schema, value)
        buf = io.BytesIO()
        try:
            self._fastavro.schemaless_writer(buf, parsed, datum)
        except (ValueError, TypeError, AttributeError, KeyError) as e:
            raise DataException(f"Failed to serialize Avro data from topic {topic} : {e}") from e
        return _schema_registry.frame(schema_id, buf.getvalue())

    def _writer_for(self, schema: Schema) -> _Writer:
        writer = self._writers.get(schema)
        if writer is None:
            avro = _avro_data.connect_to_avro_schema(schema)
            writer = self._writers[schema] = _Writer(avro, self._fastavro.parse_schema(avro))
        return writer

    def _parse(self, text: str) -> Any:
        parsed = self._parsed_by_text.get(text)
        if parsed is None:
            parsed = self._parsed_by_text[text] = self._fastavro.parse_schema(orjson.loads(text))
        return parsed

    # --- bytes -> Connect -------------------------------------------------------------------
    def to_connect_data(self, topic: str, data: bytes | None, headers: Headers | None = None) -> SchemaAndValue:
        if data is None:
            return SchemaAndValue(None, None)
        schema_id, payload = _schema_registry.unframe(data)
        parsed, schema = _schema_registry.fetch_schema(self._client, schema_id, self._readers, self._reader)
        try:
            datum = self._fastavro.schemaless_reader(io.BytesIO(payload), parsed, None)
        except (EOFError, ValueError, TypeError, IndexError, KeyError, UnicodeDecodeError) as e:
            raise DataException(f"Failed to deserialize data for topic {topic} to Avro: {e}") from e
        return SchemaAndValue(schema, _avro_data.to_connect_value(schema, datum))

    def _reader(self, text: str) -> tuple[Any, Schema]:
        avro = orjson.loads(text)
        return self._fastavro.parse_schema(avro), _avro_data.avro_to_connect_schema(avro)
