"""What the AWS Glue Schema Registry converters share: the AWS library's config keys, Glue's
framing, the Glue client with its bounded, expiring caches, and the secondary deserializer.

The three Glue converters (Avro, JSON Schema, Protobuf) differ only in how a schema
definition becomes Connect data; everything that talks to Glue or reads the 18-byte header
lives here so that a fix to caching or fallback reaches all three at once. boto3 is
imported when a converter is built, never when this module is imported.
"""

from __future__ import annotations

import importlib
import threading
import time
import uuid
import zlib
from abc import abstractmethod
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from lambda_connect.api.config import (
    Config,
    ConfigDef,
    ConfigKey,
    ConfigType,
    Importance,
    Range,
    ValidString,
)
from lambda_connect.api.converter import Converter
from lambda_connect.api.data import Schema, SchemaAndValue
from lambda_connect.api.errors import ConfigException, DataException
from lambda_connect.api.records import Headers

__all__ = [
    "GLUE_HEADER_VERSION",
    "ExpiringCache",
    "GlueConverter",
    "GlueRegistry",
    "glue_config_def",
    "glue_frame",
    "glue_unframe",
    "is_glue_framed",
    "secondary_converter",
    "split_glue_frame",
]

GLUE_HEADER_VERSION = 3
_COMPRESSION_NONE = 0
_COMPRESSION_ZLIB = 5
_HEADER_SIZE = 18

SECONDARY_CONFIG = "secondaryDeserializer"
CACHE_SIZE_CONFIG = "cacheSize"
CACHE_TTL_CONFIG = "timeToLiveMillis"

#: Kafka deserializer class names (what ``secondaryDeserializer`` usually holds in a Kafka
#: Connect worker) and the converter that reads the same bytes here.
_DESERIALIZER_TO_CONVERTER = {
    "io.confluent.kafka.serializers.KafkaAvroDeserializer": "io.confluent.connect.avro.AvroConverter",
    "io.confluent.kafka.serializers.protobuf.KafkaProtobufDeserializer":
        "io.confluent.connect.protobuf.ProtobufConverter",
    "io.confluent.kafka.serializers.json.KafkaJsonSchemaDeserializer": "io.confluent.connect.json.JsonSchemaConverter",
    "org.apache.kafka.common.serialization.StringDeserializer": "org.apache.kafka.connect.storage.StringConverter",
    "org.apache.kafka.common.serialization.ByteArrayDeserializer":
        "org.apache.kafka.connect.converters.ByteArrayConverter",
}


def glue_config_def(*data_formats: str) -> ConfigDef:
    """The AWS library's keys, with ``dataFormat`` limited to what the converter reads."""
    return ConfigDef(
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
            default=data_formats[0],
            validator=ValidString(*data_formats),
            importance=Importance.LOW,
            doc=f"Schema format; this converter handles {' and '.join(data_formats)}.",
        ),
        ConfigKey(
            name="compression",
            type=ConfigType.STRING,
            default="NONE",
            validator=ValidString("NONE", "ZLIB"),
            importance=Importance.MEDIUM,
            doc="Compress written bodies with zlib (ZLIB) or not (NONE); reading handles both.",
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
            name="protobufMessageType",
            type=ConfigType.STRING,
            default="DYNAMIC_MESSAGE",
            validator=ValidString("DYNAMIC_MESSAGE", "POJO"),
            importance=Importance.LOW,
            doc="Accepted for compatibility; messages are always built at run time from the schema.",
        ),
        ConfigKey(
            name="compatibility",
            type=ConfigType.STRING,
            default="BACKWARD",
            validator=ValidString(
                "NONE", "DISABLED", "BACKWARD", "BACKWARD_ALL", "FORWARD", "FORWARD_ALL", "FULL", "FULL_ALL"
            ),
            importance=Importance.LOW,
            doc="Compatibility mode given to schemas this converter creates.",
        ),
        ConfigKey(
            name="description",
            type=ConfigType.STRING,
            default="",
            importance=Importance.LOW,
            doc="Description given to schemas this converter creates.",
        ),
        ConfigKey(
            name=CACHE_SIZE_CONFIG,
            type=ConfigType.INT,
            default="200",
            validator=Range.at_least(1),
            importance=Importance.LOW,
            doc="Most schema versions (and, separately, most written schemas) kept per converter; the "
            "least recently used goes first.",
        ),
        ConfigKey(
            name=CACHE_TTL_CONFIG,
            type=ConfigType.LONG,
            default="86400000",
            validator=Range.at_least(0),
            importance=Importance.LOW,
            doc="How long a looked-up schema version stays cached, in milliseconds (default one day).",
        ),
        ConfigKey(
            name=SECONDARY_CONFIG,
            type=ConfigType.STRING,
            default="",
            importance=Importance.MEDIUM,
            doc="Converter (or Kafka deserializer such as KafkaAvroDeserializer) that reads records "
            "without Glue's header byte 3; it gets this converter's other keys. Empty: such records fail.",
        ),
        ConfigKey(
            name="userAgentApp",
            type=ConfigType.STRING,
            default="",
            importance=Importance.LOW,
            doc="Accepted for compatibility; not sent.",
        ),
    )


# --- framing -----------------------------------------------------------------------------
def glue_frame(version_id: uuid.UUID, body: bytes, *, zlib_compressed: bool = False) -> bytes:
    """Glue's framing around an encoded body (compressing it when asked)."""
    if zlib_compressed:
        return bytes([GLUE_HEADER_VERSION, _COMPRESSION_ZLIB]) + version_id.bytes + zlib.compress(body)
    return bytes([GLUE_HEADER_VERSION, _COMPRESSION_NONE]) + version_id.bytes + body


def is_glue_framed(data: bytes) -> bool:
    """Whether the first byte is Glue's header version (what the AWS library tests too)."""
    return len(data) > 0 and data[0] == GLUE_HEADER_VERSION


def glue_unframe(data: bytes) -> tuple[uuid.UUID, bytes]:
    """(schema version UUID, decompressed body) of a Glue-framed message."""
    version, body = split_glue_frame(data)
    return uuid.UUID(bytes=version), body


def split_glue_frame(data: bytes) -> tuple[bytes, bytes]:
    """(the 16 bytes of the schema version UUID, decompressed body): ``glue_unframe`` without
    building a ``uuid.UUID``, which costs more than the rest of the split on the read path."""
    if not is_glue_framed(data):
        raise DataException(
            "Not a Glue Schema Registry record: the first byte is not header version 3 "
            f"(set {SECONDARY_CONFIG} to read such records with another converter)"
        )
    if len(data) < _HEADER_SIZE:
        raise DataException(f"Corrupt Glue record: {len(data)} bytes is shorter than the 18-byte header")
    version = bytes(data[2:_HEADER_SIZE])
    if data[1] == _COMPRESSION_NONE:
        return version, bytes(data[_HEADER_SIZE:])
    if data[1] == _COMPRESSION_ZLIB:
        try:
            return version, zlib.decompress(data[_HEADER_SIZE:])
        except zlib.error as e:
            raise DataException(
                f"Corrupt Glue record for schema version {uuid.UUID(bytes=version)}: zlib body: {e}"
            ) from e
    raise DataException(
        f"Glue record for schema version {uuid.UUID(bytes=version)} has unknown compression byte {data[1]}"
    )


# --- caching -----------------------------------------------------------------------------
K = TypeVar("K")
V = TypeVar("V")


class ExpiringCache(Generic[K, V]):
    """A size-bounded LRU map whose entries also expire, like the AWS library's cache:
    ``ttl_ms`` 0 keeps nothing. Losing an entry costs one more Glue call, never a record."""

    def __init__(self, size: int, ttl_ms: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._size = size
        self._ttl = ttl_ms / 1000.0
        self._clock = clock
        self._data: OrderedDict[K, tuple[float, V]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        """The live entry for ``key`` (marked as just used), or None; takes no lock, since
        dict reads are atomic and this is the per-record path."""
        hit = self._data.get(key)
        if hit is None or hit[0] <= self._clock():
            return None
        try:  # noqa: SIM105 - contextlib.suppress costs more on this per-record path
            self._data.move_to_end(key)
        except KeyError:  # evicted by another thread just now; still a good value
            pass
        return hit[1]

    def get_or_load(self, key: K, load: Callable[[], V]) -> V:
        """The live entry for ``key``, else ``load()`` stored (unless ``ttl_ms`` is 0)."""
        found = self.get(key)
        if found is not None:
            return found
        now = self._clock()
        value = load()
        if self._ttl > 0:
            with self._lock:
                self._data[key] = (now + self._ttl, value)
                self._data.move_to_end(key)
                while len(self._data) > self._size:
                    self._data.popitem(last=False)
        return value

    def __len__(self) -> int:
        return len(self._data)


# --- the Glue client ---------------------------------------------------------------------
class GlueRegistry:
    """The Glue calls of one converter: version lookup by UUID (``GetSchemaVersion``) and
    find-or-register on write (``GetSchemaByDefinition`` then ``RegisterSchemaVersion`` /
    ``CreateSchema``), each behind an ``ExpiringCache`` sized by ``cacheSize`` and
    ``timeToLiveMillis``."""

    def __init__(self, config: Config, data_format: str, converter_name: str) -> None:
        try:
            import boto3
        except ImportError as e:  # pragma: no cover - depends on the installed extras
            raise DataException(f"{converter_name} needs boto3: pip install 'lambda-connect[aws]'") from e
        kwargs: dict[str, Any] = {}
        if config["region"]:
            kwargs["region_name"] = config["region"]
        if config["endpoint"]:
            kwargs["endpoint_url"] = config["endpoint"]
        self._glue = boto3.client("glue", **kwargs)
        self.registry: str = config["registry.name"]
        self.data_format = data_format
        self._auto: bool = config["schemaAutoRegistrationEnabled"]
        self._compat: str = config["compatibility"]
        self._description: str = config["description"]
        size, ttl = config[CACHE_SIZE_CONFIG], config[CACHE_TTL_CONFIG]
        self._readers: ExpiringCache[bytes, Any] = ExpiringCache(size, ttl)
        self._writers: ExpiringCache[tuple[str, str], uuid.UUID] = ExpiringCache(size, ttl)

    def reader(self, version: bytes, build: Callable[[str], Any]) -> Any:
        """``build(schema definition)`` for the 16 bytes of a version UUID, cached."""
        hit = self._readers.get(version)
        if hit is not None:
            return hit
        return self._readers.get_or_load(version, lambda: build(self._definition(uuid.UUID(bytes=version))))

    def _definition(self, version_id: uuid.UUID) -> str:
        try:
            got = self._glue.get_schema_version(SchemaVersionId=str(version_id))
        except Exception as e:
            raise DataException(f"Error retrieving Glue schema version {version_id}: {e}") from e
        fmt = got.get("DataFormat")
        if fmt and fmt != self.data_format:
            raise DataException(
                f"Glue schema version {version_id} is {fmt}, but this converter reads {self.data_format}"
            )
        return str(got["SchemaDefinition"])

    def version_for(self, name: str, definition: str) -> uuid.UUID:
        """The version UUID of ``definition`` under schema ``name``, registering it if allowed."""
        return self._writers.get_or_load((name, definition), lambda: self._find_or_register(name, definition))

    def _find_or_register(self, name: str, text: str) -> uuid.UUID:
        ids = {"RegistryName": self.registry, "SchemaName": name}
        errors = self._glue.exceptions
        try:
            got = self._glue.get_schema_by_definition(SchemaId=ids, SchemaDefinition=text)
            return uuid.UUID(got["SchemaVersionId"])
        except errors.EntityNotFoundException:
            if not self._auto:
                raise DataException(
                    f"Glue registry {self.registry} has no version of schema {name} matching the record's schema "
                    "and schemaAutoRegistrationEnabled is false"
                ) from None
        except Exception as e:
            raise DataException(f"Glue GetSchemaByDefinition failed for schema {name}: {e}") from e
        try:
            try:
                got = self._glue.register_schema_version(SchemaId=ids, SchemaDefinition=text)
            except errors.EntityNotFoundException:
                extra = {"Description": self._description} if self._description else {}
                got = self._glue.create_schema(
                    RegistryId={"RegistryName": self.registry},
                    SchemaName=name,
                    DataFormat=self.data_format,
                    Compatibility=self._compat,
                    SchemaDefinition=text,
                    **extra,
                )
        except Exception as e:
            raise DataException(f"Glue refused to register schema {name} in registry {self.registry}: {e}") from e
        return uuid.UUID(got["SchemaVersionId"])


# --- the secondary deserializer ----------------------------------------------------------
def _converter_class(name: str) -> type[Converter]:
    from lambda_connect.plugins import BUILTINS

    by_simple = {k.rsplit(".", 1)[-1]: v for k, v in _DESERIALIZER_TO_CONVERTER.items()}
    wanted = _DESERIALIZER_TO_CONVERTER.get(name) or by_simple.get(name, name)
    simple = wanted.rsplit(".", 1)[-1]
    matches = [target for cls_name, target in BUILTINS if cls_name == wanted]
    if not matches:
        matches = [target for cls_name, target in BUILTINS if cls_name.rsplit(".", 1)[-1] == simple]
    matches = [t for t in matches if ".converters." in t]
    if len(matches) != 1:
        why = "is not a known converter or deserializer" if not matches else "names more than one converter"
        raise ConfigException.for_key(SECONDARY_CONFIG, name, f"{name} {why}; give a converter's full class name")
    module, _, attr = matches[0].partition(":")
    obj: Any = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj  # type: ignore[no-any-return]


def secondary_converter(config: Config, is_key: bool) -> Converter | None:
    """The converter named by ``secondaryDeserializer``, configured with the same keys."""
    name: str = config[SECONDARY_CONFIG]
    if not name:
        return None
    cls = _converter_class(name)
    props = {k: v for k, v in config.originals.items() if k != SECONDARY_CONFIG}
    try:
        return cls(cls.config_def.parse(props), is_key=is_key)
    except ConfigException as e:
        raise ConfigException.for_key(SECONDARY_CONFIG, name, f"the secondary converter's settings: {e}") from e


# --- the converter skeleton --------------------------------------------------------------
class GlueConverter(Converter):
    """Framing, fallback, error wrapping and Glue calls for the three formats.

    A subclass names its ``data_format`` and the module it needs (``requires``: import name,
    pip extra; imported here, when a config names the converter, and kept as ``self._lib``),
    and supplies ``_writer(schema) -> (definition, encode)`` and ``_reader(definition) ->
    decode``, where ``encode(value) -> body`` and ``decode(body) -> SchemaAndValue``. Any
    error they raise becomes a DataException naming the topic and the schema version."""

    data_format: str = ""
    requires: tuple[str, str] | None = None

    def __init__(self, config: Config, *, is_key: bool = False) -> None:
        super().__init__(config, is_key=is_key)
        self._lib: Any = None
        if self.requires is not None:
            module, extra = self.requires
            try:
                self._lib = importlib.import_module(module)
            except ImportError as e:  # pragma: no cover - depends on the installed extras
                raise DataException(f"{type(self).__name__} needs {module}: pip install '{extra}'") from e
        self._registry = GlueRegistry(config, self.data_format, type(self).__name__)
        self._schema_name: str = config["schemaName"]
        self._zlib = config["compression"] == "ZLIB"
        self._secondary = secondary_converter(config, is_key)
        self._writers: dict[Schema, tuple[str, Callable[[Any], bytes]]] = {}

    def from_connect_data(
        self, topic: str, schema: Schema | None, value: Any, headers: Headers | None = None
    ) -> bytes | None:
        if value is None:
            return None
        if schema is None:
            raise DataException(f"{type(self).__name__} needs a schema to write a value of topic {topic}")
        writer = self._writers.get(schema)
        if writer is None:
            writer = self._writers[schema] = self._writer(schema)
        definition, encode = writer
        version_id = self._registry.version_for(self._schema_name or topic, definition)
        try:
            body = encode(value)
        except DataException:
            raise
        except (ValueError, TypeError, AttributeError, KeyError) as e:
            raise DataException(f"Failed to serialize {self.data_format} data from topic {topic} : {e}") from e
        return glue_frame(version_id, body, zlib_compressed=self._zlib)

    def to_connect_data(self, topic: str, data: bytes | None, headers: Headers | None = None) -> SchemaAndValue:
        if data is None:
            return SchemaAndValue(None, None)
        if self._secondary is not None and not is_glue_framed(data):
            return self._secondary.to_connect_data(topic, data, headers)
        version, body = split_glue_frame(data)
        decode = self._registry.reader(version, self._reader)
        try:
            result: SchemaAndValue = decode(body)
        except Exception as e:  # the format libraries raise their own types for a bad body
            raise DataException(
                f"Failed to deserialize {self.data_format} data for topic {topic} with Glue schema version "
                f"{uuid.UUID(bytes=version)}: {e}"
            ) from e
        return result

    @abstractmethod
    def _writer(self, schema: Schema) -> tuple[str, Callable[[Any], bytes]]:
        """The schema definition Glue keeps for ``schema``, and the body encoder for its values."""

    @abstractmethod
    def _reader(self, definition: str) -> Callable[[bytes], SchemaAndValue]:
        """The body decoder for values written with the Glue schema ``definition``."""

    def close(self) -> None:
        if self._secondary is not None:
            self._secondary.close()
