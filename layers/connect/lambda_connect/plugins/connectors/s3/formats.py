"""How records become object bytes: Confluent's ``format.class`` choices.

``JsonFormat`` writes one JSON document per line, the record value as the schemaless
JsonConverter renders it (Date as epoch days, Time/Timestamp as epoch millis, bytes as
base64, Decimal per ``json.decimal.format``), gzip'ed when ``s3.compression.type=gzip``.
``AvroFormat`` writes an Avro object container file (fastavro) whose schema is derived from
the Connect schema as Confluent's AvroData does (optional → union with null, logical types,
structs → records named after the Connect schema or ``ConnectDefault``). Avro needs a
schema, so a schemaless record is rejected naming it; a change of value schema starts a new
object, as Confluent rotates on schema change.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import gzip
import io
import json
from collections.abc import Sequence
from typing import Any

from lambda_connect.api import (
    ConfigException,
    DataException,
    Date,
    Decimal,
    Schema,
    SinkRecord,
    Struct,
    Time,
    Timestamp,
    Type,
)

__all__ = ["FORMATS", "AvroFormat", "JsonFormat", "RecordFormat", "avro_schema", "build_format"]

_NS = "io.confluent.connect.avro"


class RecordFormat:
    """Encodes one object's worth of records (all of one topic-partition and encoded partition)."""

    extension = ""

    def group_key(self, record: SinkRecord) -> Any:
        """Records with different keys never share an object (Avro: one schema per file)."""
        return None

    def check(self, record: SinkRecord) -> None:
        """Raise DataException when ``record`` cannot be written in this format."""

    def encode(self, records: Sequence[SinkRecord]) -> bytes:
        raise DataException(f"{type(self).__name__} cannot encode records")


# --- JSON ----------------------------------------------------------------------------------


class JsonFormat(RecordFormat):
    def __init__(self, *, gzip_level: int | None, decimal_numeric: bool) -> None:
        self.gzip_level = gzip_level
        self.decimal_numeric = decimal_numeric
        self.extension = ".json.gz" if gzip_level is not None else ".json"

    def encode(self, records: Sequence[SinkRecord]) -> bytes:
        lines = [json.dumps(self._plain(r.value_schema, r.value), separators=(",", ":"), ensure_ascii=False)
                 for r in records]
        body = ("\n".join(lines) + "\n").encode("utf-8")
        if self.gzip_level is None:
            return body
        # mtime=0: the same batch gives the same bytes, so a rewrite is a no-op for readers.
        return gzip.compress(body, compresslevel=self.gzip_level if self.gzip_level >= 0 else 6, mtime=0)

    def _plain(self, schema: Schema | None, value: Any) -> Any:
        if value is None:
            return None
        logical = schema.name if schema is not None else None
        if logical == Date.LOGICAL_NAME or (logical is None and type(value) is dt.date):
            return Date.from_logical(schema, value)
        if logical == Time.LOGICAL_NAME or (logical is None and isinstance(value, dt.time)):
            return Time.from_logical(schema, value)
        if logical == Timestamp.LOGICAL_NAME or (logical is None and isinstance(value, dt.datetime)):
            return Timestamp.from_logical(schema, value)
        if isinstance(value, decimal.Decimal):
            if self.decimal_numeric:
                return float(value) if value != value.to_integral_value() else int(value)
            s = schema if schema is not None and logical == Decimal.LOGICAL_NAME else Decimal.schema(
                max(-int(value.as_tuple().exponent), 0))
            return base64.b64encode(Decimal.from_logical(s, value)).decode("ascii")
        if isinstance(value, Struct):
            return {f.name: self._plain(f.schema, value.get(f)) for f in value.schema.fields}
        if isinstance(value, dict):
            vs = schema.value_schema if schema is not None else None
            return {str(k): self._plain(vs, v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            vs = schema.value_schema if schema is not None else None
            return [self._plain(vs, v) for v in value]
        if isinstance(value, (bytes, bytearray, memoryview)):
            return base64.b64encode(bytes(value)).decode("ascii")
        return value


# --- Avro ----------------------------------------------------------------------------------

_AVRO_PRIMITIVES = {
    Type.INT8: "int", Type.INT16: "int", Type.INT32: "int", Type.INT64: "long", Type.FLOAT32: "float",
    Type.FLOAT64: "double", Type.BOOLEAN: "boolean", Type.STRING: "string", Type.BYTES: "bytes",
}


def avro_schema(schema: Schema) -> Any:
    """The Avro schema (as JSON-able data) for a Connect schema, after Confluent's AvroData."""
    names: dict[str, int] = {}
    return _avro(schema, names)


def _record_name(schema: Schema, names: dict[str, int]) -> tuple[str, str]:
    if schema.name:
        ns, _, name = schema.name.rpartition(".")
        return name, ns
    n = names.get("ConnectDefault", 0) + 1
    names["ConnectDefault"] = n
    return ("ConnectDefault" if n == 1 else f"ConnectDefault{n}"), _NS


def _avro(schema: Schema, names: dict[str, int]) -> Any:
    logical = schema.name
    if logical == Decimal.LOGICAL_NAME:
        precision = int((schema.parameters or {}).get("connect.decimal.precision", 64))
        t: Any = {"type": "bytes", "logicalType": "decimal", "precision": precision, "scale": Decimal.scale_of(schema)}
    elif logical == Date.LOGICAL_NAME:
        t = {"type": "int", "logicalType": "date"}
    elif logical == Time.LOGICAL_NAME:
        t = {"type": "int", "logicalType": "time-millis"}
    elif logical == Timestamp.LOGICAL_NAME:
        t = {"type": "long", "logicalType": "timestamp-millis"}
    elif schema.type in _AVRO_PRIMITIVES:
        t = _AVRO_PRIMITIVES[schema.type]
        if schema.type in (Type.INT8, Type.INT16):
            t = {"type": "int", "connect.type": schema.type.value}
    elif schema.type is Type.ARRAY:
        assert schema.value_schema is not None
        t = {"type": "array", "items": _avro(schema.value_schema, names)}
    elif schema.type is Type.MAP:
        assert schema.key_schema is not None and schema.value_schema is not None
        if schema.key_schema.type is Type.STRING and not schema.key_schema.optional:
            t = {"type": "map", "values": _avro(schema.value_schema, names)}
        else:
            n = names.get("MapEntry", 0) + 1
            names["MapEntry"] = n
            t = {"type": "array", "items": {
                "type": "record", "name": "MapEntry" if n == 1 else f"MapEntry{n}", "namespace": _NS,
                "fields": [{"name": "key", "type": _avro(schema.key_schema, names)},
                           {"name": "value", "type": _avro(schema.value_schema, names)}]}}
    else:
        name, ns = _record_name(schema, names)
        fields = []
        for f in schema.fields:
            entry: dict[str, Any] = {"name": f.name, "type": _avro(f.schema, names)}
            if f.schema.optional:
                entry["default"] = None
            fields.append(entry)
        t = {"type": "record", "name": name, "fields": fields}
        if ns:
            t["namespace"] = ns
    return ["null", t] if schema.optional else t


def _avro_value(schema: Schema, value: Any) -> Any:
    if value is None:
        return None
    if schema.name in (Decimal.LOGICAL_NAME, Date.LOGICAL_NAME, Time.LOGICAL_NAME, Timestamp.LOGICAL_NAME):
        return value  # fastavro takes decimal.Decimal, date, time and datetime for these logical types
    if schema.type is Type.STRUCT:
        return {f.name: _avro_value(f.schema, value.get(f)) for f in schema.fields}
    if schema.type is Type.ARRAY:
        assert schema.value_schema is not None
        return [_avro_value(schema.value_schema, v) for v in value]
    if schema.type is Type.MAP:
        assert schema.key_schema is not None and schema.value_schema is not None
        vs = schema.value_schema
        if schema.key_schema.type is Type.STRING and not schema.key_schema.optional:
            return {k: _avro_value(vs, v) for k, v in value.items()}
        return [{"key": _avro_value(schema.key_schema, k), "value": _avro_value(vs, v)} for k, v in value.items()]
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    return value


class AvroFormat(RecordFormat):
    extension = ".avro"

    def __init__(self, *, codec: str) -> None:
        try:
            import fastavro  # noqa: F401
        except ImportError as e:  # pragma: no cover - depends on installed extras
            raise ConfigException("AvroFormat needs fastavro: pip install fastavro") from e
        self.codec = codec
        self._parsed: dict[Schema, Any] = {}

    def group_key(self, record: SinkRecord) -> Any:
        return record.value_schema

    def check(self, record: SinkRecord) -> None:
        if record.value_schema is None:
            raise DataException(
                f"AvroFormat needs a value schema, but the record at (topic='{record.topic}', "
                f"partition={record.kafka_partition}, offset={record.kafka_offset}) is schemaless"
            )

    def encode(self, records: Sequence[SinkRecord]) -> bytes:
        import fastavro

        schema = records[0].value_schema
        assert schema is not None
        parsed = self._parsed.get(schema)
        if parsed is None:
            parsed = self._parsed[schema] = fastavro.parse_schema(avro_schema(schema))
        out = io.BytesIO()
        # A fixed sync marker makes the bytes a function of the records alone (rewrites are identical).
        fastavro.writer(out, parsed, (_avro_value(schema, r.value) for r in records), codec=self.codec,
                        sync_marker=b"lambda-connect\x00\x00")
        return out.getvalue()


FORMATS = {
    "io.confluent.connect.s3.format.json.JsonFormat": "json",
    "io.confluent.connect.s3.format.avro.AvroFormat": "avro",
}


def build_format(class_name: str, *, gzip_level: int | None, decimal_numeric: bool, avro_codec: str) -> RecordFormat:
    """The format for ``format.class`` (Confluent's class name or its simple name)."""
    kind = FORMATS.get(class_name) or {"JsonFormat": "json", "AvroFormat": "avro"}.get(class_name)
    if kind == "json":
        return JsonFormat(gzip_level=gzip_level, decimal_numeric=decimal_numeric)
    if kind == "avro":
        return AvroFormat(codec=avro_codec)
    raise ConfigException.for_key("format.class", class_name, "Unsupported format; use one of " + ", ".join(FORMATS))
