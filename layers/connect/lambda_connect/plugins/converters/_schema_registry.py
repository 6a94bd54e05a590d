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
BEARER_SOURCE_CONFIG = "bearer.auth.credentials.source"
BEARER_TOKEN_CONFIG = "bearer.auth.token"
_BEARER_PASSTHROUGH = (
    "bearer.auth.logical.cluster",
    "bearer.auth.identity.pool.id",
    "bearer.auth.issuer.endpoint.url",
    "bearer.auth.client.id",
    "bearer.auth.scope",
)
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
        name=BEARER_SOURCE_CONFIG,
        type=ConfigType.STRING,
        default="",
        validator=ValidString("", "STATIC_TOKEN", "OAUTHBEARER"),
        importance=Importance.MEDIUM,
        doc="Where the registry's bearer token comes from: STATIC_TOKEN (bearer.auth.token) or OAUTHBEARER "
        "(client credentials against bearer.auth.issuer.endpoint.url). Empty: no bearer token is sent.",
    ),
    ConfigKey(
        name=BEARER_TOKEN_CONFIG,
        type=ConfigType.PASSWORD,
        default="",
        importance=Importance.MEDIUM,
        doc="The token sent as Authorization: Bearer when the source is STATIC_TOKEN.",
    ),
    *(
        ConfigKey(name=key, type=ConfigType.STRING, default="", importance=Importance.LOW, doc=doc)
        for key, doc in zip(
            _BEARER_PASSTHROUGH,
            (
                "Confluent Cloud logical cluster id of the registry (sent as target-sr-cluster).",
                "Identity pool id(s) for Confluent Cloud, comma-separated.",
                "Token endpoint of the identity provider, for OAUTHBEARER.",
                "OAuth client id, for OAUTHBEARER.",
                "OAuth scope requested with the token, for OAUTHBEARER.",
            ),
            strict=True,
        )
    ),
    ConfigKey(
        name="bearer.auth.client.secret",
        type=ConfigType.PASSWORD,
        default="",
        importance=Importance.LOW,
        doc="OAuth client secret, for OAUTHBEARER.",
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
    conf.update(_bearer_settings(config))
    try:
        return _schema_registry_module().SchemaRegistryClient(conf)
    except (ValueError, TypeError) as e:
        if config[BEARER_SOURCE_CONFIG]:
            raise ConfigException.for_key(BEARER_SOURCE_CONFIG, config[BEARER_SOURCE_CONFIG], str(e)) from e
        raise ConfigException.for_key(URL_CONFIG, ",".join(urls), str(e)) from e


def _bearer_settings(config: Config) -> dict[str, Any]:
    """The registry client's bearer keys for ``bearer.auth.*`` (none when no source is set).

    The client insists on a logical cluster; outside Confluent Cloud there is none, so an
    empty one is passed (the header it becomes is ignored by self-managed registries)."""
    source: str = config[BEARER_SOURCE_CONFIG]
    if not source:
        return {}
    out: dict[str, Any] = {"bearer.auth.credentials.source": source}
    out["bearer.auth.logical.cluster"] = config["bearer.auth.logical.cluster"]
    if config["bearer.auth.identity.pool.id"]:
        out["bearer.auth.identity.pool.id"] = config["bearer.auth.identity.pool.id"]
    if source == "STATIC_TOKEN":
        token = config.password(BEARER_TOKEN_CONFIG)
        if not token:
            raise ConfigException.for_key(BEARER_TOKEN_CONFIG, "[hidden]", "it must be set for STATIC_TOKEN")
        out["bearer.auth.token"] = token
    else:
        for key in ("bearer.auth.issuer.endpoint.url", "bearer.auth.client.id", "bearer.auth.scope"):
            if not config[key]:
                raise ConfigException.for_key(key, "", f"{key} must be set for OAUTHBEARER")
            out[key] = config[key]
        secret = config.password("bearer.auth.client.secret")
        if not secret:
            raise ConfigException.for_key("bearer.auth.client.secret", "[hidden]", "must be set for OAUTHBEARER")
        out["bearer.auth.client.secret"] = secret
    return out


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
