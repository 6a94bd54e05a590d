"""AWSKafkaAvroConverter: Avro with schemas kept in the AWS Glue Schema Registry.

Glue framing: header version byte 3, a compression byte (0 none, 5 zlib), the 16-byte
schema version UUID, then the Avro binary body. Readers look the version up with
``glue:GetSchemaVersion`` (cached per container, one call per new UUID); writers find the
version with ``glue:GetSchemaByDefinition`` and, when auto-registration is on, create it
(``CreateSchema`` / ``RegisterSchemaVersion``). boto3 and fastavro load only when the
converter is built.
"""

from __future__ import annotations

import io
import uuid
import zlib
from typing import Any

import orjson

from lambda_connect.api.config import Config, ConfigDef, ConfigKey, ConfigType, Importance, ValidString
from lambda_connect.api.converter import Converter
from lambda_connect.api.data import Schema, SchemaAndValue
from lambda_connect.api.errors import DataException
from lambda_connect.api.records import Headers

from . import _avro_data

__all__ = ["GLUE_HEADER_VERSION", "AWSKafkaAvroConverter", "glue_frame", "glue_unframe"]

GLUE_HEADER_VERSION = 3
_COMPRESSION_NONE = 0
_COMPRESSION_ZLIB = 5

GLUE_CONFIG_DEF = ConfigDef(
    ConfigKey(
        name="region",
        type=ConfigType.STRING,
        default="",
        importance=Importance.HIGH,
        doc="AWS region of the Glue Schema Registry; empty takes the function's own region.",
    ),
    ConfigKey(
        name="endpoint",
        type=ConfigType.STRING,
        default="",
        importance=Importance.LOW,
        doc="Glue endpoint URL to call instead of the regional default (VPC endpoints, tests).",
    ),
    ConfigKey(
        name="registry.name",
        type=ConfigType.STRING,
        default="default-registry",
        importance=Importance.HIGH,
        doc="Glue registry that holds the schemas.",
    ),
    ConfigKey(
        name="schemaName",
        type=ConfigType.STRING,
        default="",
        importance=Importance.MEDIUM,
        doc="Schema name to write under; empty uses the topic name.",
    ),
    ConfigKey(
        name="schemaAutoRegistrationEnabled",
        type=ConfigType.BOOLEAN,
        default="false",
        importance=Importance.MEDIUM,
        doc="Whether writing may create the schema or a new version of it when Glue lacks it.",
    ),
    ConfigKey(
        name="dataFormat",
        type=ConfigType.STRING,
        default="AVRO",
        validator=ValidString("AVRO"),
        importance=Importance.LOW,
        doc="Schema format; this converter handles AVRO.",
    ),
    ConfigKey(
        name="compression",
        type=ConfigType.STRING,
        default="NONE",
        validator=ValidString("NONE", "ZLIB"),
        importance=Importance.MEDIUM,
        doc="Compress written bodies with zlib (ZLIB) or not (NONE).",
    ),
    ConfigKey(
        name="avroRecordType",
        type=ConfigType.STRING,
        default="GENERIC_RECORD",
        validator=ValidString("GENERIC_RECORD", "SPECIFIC_RECORD"),
        importance=Importance.LOW,
        doc="Accepted for compatibility; records are always read generically into Connect data.",
    ),
    ConfigKey(
        name="compatibility",
        type=ConfigType.STRING,
        default="BACKWARD",
        importance=Importance.LOW,
        doc="Compatibility mode given to schemas this converter creates.",
    ),
)


def glue_frame(version_id: uuid.UUID, body: bytes, *, zlib_compressed: bool = False) -> bytes:
    """Glue's framing around an encoded body (compressing it when asked)."""
    if zlib_compressed:
        return bytes([GLUE_HEADER_VERSION, _COMPRESSION_ZLIB]) + version_id.bytes + zlib.compress(body)
    return bytes([GLUE_HEADER_VERSION, _COMPRESSION_NONE]) + version_id.bytes + body


def glue_unframe(data: bytes) -> tuple[uuid.UUID, bytes]:
    """(schema version UUID, decompressed body) of a Glue-framed message."""
    if len(data) < 18 or data[0] != GLUE_HEADER_VERSION:
        raise DataException("Not a Glue Schema Registry record: the first byte is not header version 3")
    version_id = uuid.UUID(bytes=bytes(data[2:18]))
    if data[1] == _COMPRESSION_NONE:
        return version_id, bytes(data[18:])
    if data[1] == _COMPRESSION_ZLIB:
        try:
            return version_id, zlib.decompress(data[18:])
        except zlib.error as e:
            raise DataException(f"Corrupt Glue record for schema version {version_id}: zlib body: {e}") from e
    raise DataException(f"Glue record for schema version {version_id} has unknown compression byte {data[1]}")


class AWSKafkaAvroConverter(Converter):
    """Avro via the AWS Glue Schema Registry (Glue's framing)."""

    name = "com.amazonaws.services.schemaregistry.kafkaconnect.AWSKafkaAvroConverter"
    config_def = GLUE_CONFIG_DEF

    def __init__(self, config: Config, *, is_key: bool = False) -> None:
        super().__init__(config, is_key=is_key)
        try:
            import boto3
            import fastavro
        except ImportError as e:  # pragma: no cover - depends on the installed extras
            raise DataException(
                "AWSKafkaAvroConverter needs boto3 and fastavro: pip install 'lambda-connect[aws,avro]'"
            ) from e
        kwargs: dict[str, Any] = {}
        if config["region"]:
            kwargs["region_name"] = config["region"]
        if config["endpoint"]:
            kwargs["endpoint_url"] = config["endpoint"]
        self._glue = boto3.client("glue", **kwargs)
        self._fastavro = fastavro
        self._registry: str = config["registry.name"]
        self._schema_name: str = config["schemaName"]
        self._auto: bool = config["schemaAutoRegistrationEnabled"]
        self._zlib = config["compression"] == "ZLIB"
        self._compat: str = config["compatibility"]
        self._readers: dict[uuid.UUID, tuple[Any, Schema]] = {}
        self._writers: dict[tuple[str, Schema], tuple[uuid.UUID, Any]] = {}

    # --- Connect -> bytes -------------------------------------------------------------------
    def from_connect_data(
        self, topic: str, schema: Schema | None, value: Any, headers: Headers | None = None
    ) -> bytes | None:
        if value is None:
            return None
        if schema is None:
            raise DataException("AWSKafkaAvroConverter needs a schema to write a value")
        name = self._schema_name or topic
        found = self._writers.get((name, schema))
        if found is None:
            avro = _avro_data.connect_to_avro_schema(schema)
            text = orjson.dumps(avro).decode()
            found = self._writers[(name, schema)] = (self._version_for(name, text), self._fastavro.parse_schema(avro))
        version_id, parsed = found
        buf = io.BytesIO()
        try:
            self._fastavro.schemaless_writer(buf, parsed, _avro_data.to_avro_value(schema, value))
        except (ValueError, TypeError, AttributeError, KeyError) as e:
            raise DataException(f"Failed to serialize Avro data from topic {topic} : {e}") from e
        return glue_frame(version_id, buf.getvalue(), zlib_compressed=self._zlib)

    def _version_for(self, name: str, text: str) -> uuid.UUID:
        ids = {"RegistryName": self._registry, "SchemaName": name}
        errors = self._glue.exceptions
        try:
            got = self._glue.get_schema_by_definition(SchemaId=ids, SchemaDefinition=text)
            return uuid.UUID(got["SchemaVersionId"])
        except errors.EntityNotFoundException:
            if not self._auto:
                raise DataException(
                    f"Glue registry {self._registry} has no version of schema {name} matching the record's schema "
                    "and schemaAutoRegistrationEnabled is false"
                ) from None
        except Exception as e:
            raise DataException(f"Glue GetSchemaByDefinition failed for schema {name}: {e}") from e
        try:
            try:
                got = self._glue.register_schema_version(SchemaId=ids, SchemaDefinition=text)
            except errors.EntityNotFoundException:
                got = self._glue.create_schema(
                    RegistryId={"RegistryName": self._registry},
                    SchemaName=name,
                    DataFormat="AVRO",
                    Compatibility=self._compat,
                    SchemaDefinition=text,
                )
        except Exception as e:
            raise DataException(f"Glue refused to register schema {name} in registry {self._registry}: {e}") from e
        return uuid.UUID(got["SchemaVersionId"])

    # --- bytes -> Connect -------------------------------------------------------------------
    def to_connect_data(self, topic: str, data: bytes | None, headers: Headers | None = None) -> SchemaAndValue:
        if data is None:
            return SchemaAndValue(None, None)
        version_id, body = glue_unframe(data)
        parsed, schema = self._reader(version_id)
        try:
            datum = self._fastavro.schemaless_reader(io.BytesIO(body), parsed, None)
        except (EOFError, ValueError, TypeError, IndexError, KeyError, UnicodeDecodeError) as e:
            raise DataException(
                f"Failed to deserialize Avro data for topic {topic} with Glue schema version {version_id}: {e}"
            ) from e
        return SchemaAndValue(schema, _avro_data.to_connect_value(schema, datum))

    def _reader(self, version_id: uuid.UUID) -> tuple[Any, Schema]:
        entry = self._readers.get(version_id)
        if entry is None:
            try:
                got = self._glue.get_schema_version(SchemaVersionId=str(version_id))
            except Exception as e:
                raise DataException(f"Error retrieving Glue schema version {version_id}: {e}") from e
            avro = orjson.loads(got["SchemaDefinition"])
            entry = self._readers[version_id] = (
                self._fastavro.parse_schema(avro),
                _avro_data.avro_to_connect_schema(avro),
            )
        return entry
