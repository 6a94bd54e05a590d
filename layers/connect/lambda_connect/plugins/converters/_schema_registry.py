"""What the Schema Registry converters share: Confluent's config keys, the registry client,
subject naming, schema-id resolution and the wire format.

The ``confluent_kafka.schema_registry`` client is imported only when a converter is built
(importing its serdes costs ~0.2 s of cold start that JSON-only functions should not pay).
``mock://<scope>`` URLs give an in-memory registry shared by every converter of the
process that names the same scope, as Confluent's ``MockSchemaRegistry`` does, so a key
and a value converter (or a test) see the same schemas.
"""

from __future__ import annotations

import struct
import threading
from collections.abc import Callable
from typing import Any

from lambda_connect.api.config import Config, ConfigDef, ConfigKey, ConfigType, Importance, ValidString
from lambda_connect.api.errors import ConfigException, DataException

__all__ = [
    "MAGIC_BYTE",
    "SR_CONFIG_DEF",
    "SchemaIds",
    "client_for",
    "fetch_schema",
    "frame",
    "mock_registry",
    "subject_name",
    "unframe",
]

MAGIC_BYTE = 0
_HEADER = struct.Struct(">bI")

URL_CONFIG = "schema.registry.url"
CREDENTIALS_SOURCE_CONFIG = "basic.auth.credentials.source"
USER_INFO_CONFIG = "basic.auth.user.info"
AUTO_REGISTER_CONFIG = "auto.register.schemas"
USE_LATEST_CONFIG = "use.latest.version"
KEY_STRATEGY_CONFIG = "key.subject.name.strategy"
VALUE_STRATEGY_CONFIG = "value.subject.name.strategy"

_STRATEGY_PREFIX = "io.confluent.kafka.serializers.subject."
_STRATEGIES = ("TopicNameStrategy", "RecordNameStrategy", "TopicRecordNameStrategy")
_DEFAULT_STRATEGY = _STRATEGY_PREFIX + "TopicNameStrategy"
_STRATEGY_VALIDATOR = ValidString(*_STRATEGIES, *(_STRATEGY_PREFIX + s for s in _STRATEGIES))

SR_CONFIG_DEF = ConfigDef(
    ConfigKey(
        name=URL_CONFIG,
        type=ConfigType.LIST,
        importance=Importance.HIGH,
        doc="Comma-separated list of URLs for Schema Registry instances that can be used to register "
        "or look up schemas. mock://<scope> uses an in-memory registry.",
    ),
    ConfigKey(
        name=CREDENTIALS_SOURCE_CONFIG,
        type=ConfigType.STRING,
        default="URL",
        validator=ValidString("URL", "USER_INFO"),
        importance=Importance.MEDIUM,
        doc="Specify how to pick the credentials for the Basic Auth header: URL (user info in the URL) "
        "or USER_INFO (basic.auth.user.info).",
    ),
    ConfigKey(
        name=USER_INFO_CONFIG,
        type=ConfigType.PASSWORD,
        default="",
        importance=Importance.MEDIUM,
        doc="Specify the user info for Basic Auth in the form of {username}:{password}.",
    ),
    ConfigKey(
        name=AUTO_REGISTER_CONFIG,
        type=ConfigType.BOOLEAN,
        default="true",
        importance=Importance.MEDIUM,
        doc="Specify if the Serializer should attempt to register the Schema with Schema Registry.",
    ),
    ConfigKey(
        name=USE_LATEST_CONFIG,
        type=ConfigType.BOOLEAN,
        default="false",
        importance=Importance.LOW,
        doc="Specify if the Serializer should use the latest subject version for serialization.",
    ),
    ConfigKey(
        name=KEY_STRATEGY_CONFIG,
        type=ConfigType.STRING,
        default=_DEFAULT_STRATEGY,
        validator=_STRATEGY_VALIDATOR,
        importance=Importance.MEDIUM,
        doc="Determines how to construct the subject name under which the key schema is registered.",
    ),
    ConfigKey(
        name=VALUE_STRATEGY_CONFIG,
        type=ConfigType.STRING,
        default=_DEFAULT_STRATEGY,
        validator=_STRATEGY_VALIDATOR,
        importance=Importance.MEDIUM,
        doc="Determines how to construct the subject name under which the value schema is registered.",
    ),
)

_MOCKS: dict[str, Any] = {}
_MOCKS_LOCK = threading.Lock()


def _schema_registry_module() -> Any:
    try:
        from confluent_kafka import schema_registry
    except ImportError as e:  # pragma: no cover - depends on the installed extras
        raise ConfigException(
            "The Schema Registry converters need confluent-kafka with the schemaregistry extra: "
            "pip install 'confluent-kafka[avro,schemaregistry,jsonschema]'"
        ) from e
    return schema_registry


def mock_registry(url: str) -> Any:
    """The in-memory registry of one ``mock://`` scope (created on first use)."""
    with _MOCKS_LOCK:
        client = _MOCKS.get(url)
        if client is None:
            client = _schema_registry_module().SchemaRegistryClient.new_client({"url": url})
            _MOCKS[url] = client
        return client


def client_for(config: Config) -> Any:
    """A registry client for the converter's settings."""
    urls: list[str] = config[URL_CONFIG]
    if not urls:
        raise ConfigException.for_key(URL_CONFIG, "", "Missing Schema Registry url!")
    if urls[0].startswith("mock://"):
        return mock_registry(urls[0])
    conf: dict[str, Any] = {"url": ",".join(urls)}
    if config[CREDENTIALS_SOURCE_CONFIG] == "USER_INFO":
        user_info = config.password(USER_INFO_CONFIG)
        if not user_info:
            raise ConfigException.for_key(
                USER_INFO_CONFIG, "[hidden]", "basic.auth.user.info must be set when the source is USER_INFO"
            )
        conf["basic.auth.user.info"] = user_info
    return _schema_registry_module().SchemaRegistryClient(conf)


def subject_name(strategy: str, topic: str, is_key: bool, record_name: str | None) -> str:
    """Confluent's subject name strategies; record strategies need a named record schema."""
    short = strategy.removeprefix(_STRATEGY_PREFIX)
    if short == "TopicNameStrategy":
        return f"{topic}-{'key' if is_key else 'value'}"
    if not record_name:
        raise DataException(f"{short} requires a named record schema, but the schema has no name")
    return record_name if short == "RecordNameStrategy" else f"{topic}-{record_name}"


def frame(schema_id: int, payload: bytes) -> bytes:
    """Confluent wire format: magic byte 0, the schema id (4 bytes big-endian), the payload."""
    return _HEADER.pack(MAGIC_BYTE, schema_id) + payload


def unframe(data: bytes) -> tuple[int, memoryview]:
    """Split a Confluent message into (schema id, payload); anything else is a DataException."""
    if len(data) < _HEADER.size:
        raise DataException("Unknown magic byte!")
    magic, schema_id = _HEADER.unpack_from(data)
    if magic != MAGIC_BYTE:
        raise DataException("Unknown magic byte!")
    return schema_id, memoryview(data)[_HEADER.size :]


class SchemaIds:
    """Finds the id to write a schema under, as Confluent's serializer does, with a cache:
    register it (``auto.register.schemas``), take the subject's latest version
    (``use.latest.version``), or look up an existing registration."""

    def __init__(self, client: Any, config: Config, schema_type: str) -> None:
        self._client = client
        self._auto_register: bool = config[AUTO_REGISTER_CONFIG]
        self._use_latest: bool = config[USE_LATEST_CONFIG]
        self._schema_type = schema_type
        self._cache: dict[tuple[str, str], tuple[int, str]] = {}

    def id_for(self, subject: str, schema_str: str) -> tuple[int, str]:
        """(schema id, the schema text to write with) for ``schema_str`` under ``subject``."""
        key = (subject, schema_str)
        found = self._cache.get(key)
        if found is not None:
            return found
        sr = _schema_registry_module()
        try:
            if self._use_latest:
                latest = self._client.get_latest_version(subject)
                found = (latest.schema_id, latest.schema.schema_str)
            elif self._auto_register:
                found = (self._client.register_schema(subject, sr.Schema(schema_str, self._schema_type)), schema_str)
            else:
                registered = self._client.lookup_schema(subject, sr.Schema(schema_str, self._schema_type))
                found = (registered.schema_id, schema_str)
        except sr.SchemaRegistryError as e:
            raise DataException(f"Error retrieving schema ID for subject {subject}: {e}") from e
        self._cache[key] = found
        return found


def fetch_schema(client: Any, schema_id: int, cache: dict[int, Any], build: Callable[[str], Any]) -> Any:
    """The (cached) result of ``build(schema text)`` for a writer schema id."""
    entry = cache.get(schema_id)
    if entry is None:
        sr = _schema_registry_module()
        try:
            registered = client.get_schema(schema_id)
        except sr.SchemaRegistryError as e:
            raise DataException(f"Error retrieving schema for id {schema_id}: {e}") from e
        entry = cache[schema_id] = build(registered.schema_str)
    return entry
