"""The one place that builds confluent-kafka producers, consumers and admin clients.

Every component (source tasks, the DLQ router, the local ESM emulator, the CLI) asks this
module for its clients, so authentication, TLS and tuning are decided once, from the
environment of the function:

    LAMBDA_CONNECT_BOOTSTRAP_SERVERS      host:port[,host:port...]
    LAMBDA_CONNECT_KAFKA_AUTH             none | plain | scram-sha-256 | scram-sha-512 | iam
    LAMBDA_CONNECT_KAFKA_SECRET_ARN       Secrets Manager secret {"username", "password"} (plain/scram)
    LAMBDA_CONNECT_KAFKA_TLS              true | false (default: true for scram and iam)
    LAMBDA_CONNECT_AWS_REGION, AWS_REGION region for IAM tokens and Secrets Manager
    LAMBDA_CONNECT_KAFKA_FAST_GROUP_JOIN  1 → consumers use session.timeout.ms=6000 (tansu joins
                                          a group after ~session.timeout.ms/2)
    LAMBDA_CONNECT_KAFKA_<PROPERTY>       any librdkafka property, ``_`` → ``.``, lowercased
                                          (LAMBDA_CONNECT_KAFKA_LINGER_MS=20 → linger.ms=20)

boto3 (Secrets Manager) and the MSK IAM signer are imported only when the configuration
needs them, so plain clients cost nothing extra at cold start.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lambda_connect.api.errors import ConfigException, ConnectException

if TYPE_CHECKING:
    from confluent_kafka import Consumer, Producer
    from confluent_kafka.admin import AdminClient

__all__ = [
    "AUTH_MODES",
    "FAST_GROUP_JOIN",
    "JAVA_PARTITIONER",
    "KafkaSettings",
    "client_config",
    "consumer_config",
    "ensure_topic",
    "kafka_settings_from_env",
    "list_topics",
    "make_admin",
    "make_consumer",
    "make_producer",
    "prefixed_overrides",
    "producer_config",
    "read_secret_credentials",
]

ENV_BOOTSTRAP = "LAMBDA_CONNECT_BOOTSTRAP_SERVERS"
ENV_AUTH = "LAMBDA_CONNECT_KAFKA_AUTH"
ENV_SECRET_ARN = "LAMBDA_CONNECT_KAFKA_SECRET_ARN"
ENV_TLS = "LAMBDA_CONNECT_KAFKA_TLS"
ENV_FAST_GROUP_JOIN = "LAMBDA_CONNECT_KAFKA_FAST_GROUP_JOIN"
ENV_REGION = "LAMBDA_CONNECT_AWS_REGION"
ENV_PROPERTY_PREFIX = "LAMBDA_CONNECT_KAFKA_"
_RESERVED = frozenset({ENV_AUTH, ENV_SECRET_ARN, ENV_TLS, ENV_FAST_GROUP_JOIN})

#: Authentication mode → SASL mechanism (None: no SASL).
AUTH_MODES: Mapping[str, str | None] = {
    "none": None,
    "plain": "PLAIN",
    "scram-sha-256": "SCRAM-SHA-256",
    "scram-sha-512": "SCRAM-SHA-512",
    "iam": "OAUTHBEARER",
}
# Lambda's event source mappings speak SASL only over TLS (BASIC_AUTH and SCRAM alike); the
# functions' own clients default to the same, overridable with LAMBDA_CONNECT_KAFKA_TLS=false.
_TLS_BY_DEFAULT = frozenset({"scram-sha-256", "scram-sha-512", "iam", "plain"})
#: librdkafka's name for the Java producer's key hash (murmur2); see ``producer_config``.
JAVA_PARTITIONER = "murmur2_random"
#: Consumer timings that make tansu (and any broker) admit a member quickly; see module docstring.
FAST_GROUP_JOIN = {"session.timeout.ms": "6000", "heartbeat.interval.ms": "1000"}
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})


@dataclass(frozen=True)
class KafkaSettings:
    """Where the cluster is and how to authenticate; built once per container."""

    bootstrap_servers: str
    auth: str = "none"
    tls: bool = False
    region: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    fast_group_join: bool = False
    #: Extra librdkafka properties applied to every client (before per-client overrides).
    properties: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.auth not in AUTH_MODES:
            raise ConfigException.for_key(ENV_AUTH, self.auth, f"must be one of {', '.join(AUTH_MODES)}")
        if self.auth == "iam" and not self.tls:
            raise ConfigException.for_key(ENV_TLS, "false", "MSK IAM authentication requires TLS")


def _parse_bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigException.for_key(name, raw, "expected true or false")


def _region_of_arn(arn: str) -> str | None:
    parts = arn.split(":")
    return (parts[3] or None) if len(parts) > 3 and parts[0] == "arn" else None


def _missing(key: str, reason: str) -> ConfigException:
    message = f'Missing required configuration "{key}": {reason}'
    return ConfigException(message, {key: [message]})


def read_secret_credentials(secret_arn: str, region: str | None = None, client: Any = None) -> tuple[str, str]:
    """Fetch ``(username, password)`` from a Secrets Manager secret holding ``{"username", "password"}``.

    This is the shape MSK requires for SCRAM secrets. boto3 is imported here, and only here,
    so clusters without SASL credentials never pay for it.
    """
    if client is None:
        try:
            import boto3
        except ImportError as e:  # pragma: no cover - depends on the installed extras
            raise ConfigException(
                f"{ENV_SECRET_ARN} needs boto3: install lambda-connect[aws]", {ENV_SECRET_ARN: [str(e)]}
            ) from e
        client = boto3.client("secretsmanager", region_name=_region_of_arn(secret_arn) or region)
    secret = client.get_secret_value(SecretId=secret_arn)["SecretString"]
    try:
        data = json.loads(secret)
        username, password = data["username"], data["password"]
    except (ValueError, TypeError, KeyError) as e:
        raise ConfigException.for_key(
            ENV_SECRET_ARN, secret_arn, 'the secret must be JSON with "username" and "password"'
        ) from e
    if not isinstance(username, str) or not isinstance(password, str):
        raise ConfigException.for_key(ENV_SECRET_ARN, secret_arn, '"username" and "password" must be strings')
    return username, password


def kafka_settings_from_env(env: Mapping[str, str] = os.environ, *, secrets_client: Any = None) -> KafkaSettings:
    """Read the cluster settings from the function's environment (fetching the SASL secret once)."""
    bootstrap = env.get(ENV_BOOTSTRAP, "").strip()
    if not bootstrap:
        raise _missing(ENV_BOOTSTRAP, "the Kafka bootstrap servers must be set")
    auth = env.get(ENV_AUTH, "none").strip().lower() or "none"
    if auth not in AUTH_MODES:
        raise ConfigException.for_key(ENV_AUTH, auth, f"must be one of {', '.join(AUTH_MODES)}")
    tls_raw = env.get(ENV_TLS)
    tls = auth in _TLS_BY_DEFAULT if tls_raw is None else _parse_bool(ENV_TLS, tls_raw)
    region = env.get(ENV_REGION) or env.get("AWS_REGION") or None
    properties = {
        name[len(ENV_PROPERTY_PREFIX) :].lower().replace("_", "."): value
        for name, value in env.items()
        if name.startswith(ENV_PROPERTY_PREFIX) and name not in _RESERVED and len(name) > len(ENV_PROPERTY_PREFIX)
    }
    username = password = None
    secret_arn = env.get(ENV_SECRET_ARN)
    if AUTH_MODES[auth] in ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"):
        if secret_arn:
            username, password = read_secret_credentials(secret_arn, region, secrets_client)
        elif not ("sasl.username" in properties and "sasl.password" in properties):
            raise _missing(ENV_SECRET_ARN, f"authentication '{auth}' needs a secret with the username and password")
    elif auth == "iam" and not region:
        raise _missing(ENV_REGION, "MSK IAM authentication needs the AWS region")
    fast = _parse_bool(ENV_FAST_GROUP_JOIN, env.get(ENV_FAST_GROUP_JOIN, "0"))
    return KafkaSettings(
        bootstrap_servers=bootstrap,
        auth=auth,
        tls=tls,
        region=region,
        username=username,
        password=password,
        fast_group_join=fast,
        properties=properties,
    )


def _msk_iam_token_callback(region: str) -> Callable[[str], tuple[str, float]]:
    try:
        from aws_msk_iam_sasl_signer import MSKAuthTokenProvider
    except ImportError as e:
        raise ConfigException(
            "MSK IAM authentication needs aws-msk-iam-sasl-signer-python: install lambda-connect[msk-iam]",
            {ENV_AUTH: [str(e)]},
        ) from e

    # confluent-kafka calls this while constructing a client (and again before expiry), so a
    # signing failure surfaces when the client is created, not on the first request.
    def oauth_cb(_oauth_config: str) -> tuple[str, float]:
        # librdkafka wants the expiry in seconds since the epoch; the signer returns milliseconds.
        token, expiry_ms = MSKAuthTokenProvider.generate_auth_token(region)
        return token, expiry_ms / 1000

    return oauth_cb


def client_config(settings: KafkaSettings, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """librdkafka configuration for any client: connection and auth, then settings, then overrides."""
    mechanism = AUTH_MODES[settings.auth]
    if mechanism is None:
        protocol = "SSL" if settings.tls else "PLAINTEXT"
    else:
        protocol = "SASL_SSL" if settings.tls else "SASL_PLAINTEXT"
    config: dict[str, Any] = {"bootstrap.servers": settings.bootstrap_servers, "security.protocol": protocol}
    if mechanism is not None:
        config["sasl.mechanism"] = mechanism
    if mechanism == "OAUTHBEARER":
        if not settings.region:
            raise _missing(ENV_REGION, "MSK IAM authentication needs the AWS region")
        config["oauth_cb"] = _msk_iam_token_callback(settings.region)
    elif mechanism is not None and settings.username is not None:
        config["sasl.username"] = settings.username
        config["sasl.password"] = settings.password
    config.update(settings.properties)
    config.update(overrides or {})
    return config


def prefixed_overrides(props: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    """Client overrides from connector config, e.g. ``producer.override.linger.ms`` → ``linger.ms``."""
    return {key[len(prefix) :]: value for key, value in props.items() if key.startswith(prefix) and key != prefix}


def producer_config(
    settings: KafkaSettings, overrides: Mapping[str, Any] | None = None, *, transactional_id: str | None = None
) -> dict[str, Any]:
    """Configuration of ``make_producer``: idempotent, ``acks=all``, Java's key placement, then
    the overrides.

    As in Kafka, idempotence is implicitly turned off when the overrides ask for ``acks``
    other than ``all`` without setting ``enable.idempotence``.

    ``partitioner=murmur2_random`` hashes a key exactly as Kafka's Java producer does
    (murmur2, sign bit cleared, modulo the partition count); librdkafka's own default
    (``consistent_random``, CRC32) would put the same key on another partition, so a source
    replacing a Kafka Connect one would break per-key order across the migration. Records
    without a key are spread at random (Java sticks to a partition per batch; order is not
    defined for them either way).
    """
    extra = dict(overrides or {})
    defaults: dict[str, Any] = {"enable.idempotence": True, "acks": "all", "partitioner": JAVA_PARTITIONER}
    if str(extra.get("acks", "all")).lower() not in ("all", "-1") and "enable.idempotence" not in extra:
        defaults["enable.idempotence"] = False
    if transactional_id is not None:
        defaults["transactional.id"] = transactional_id
    return client_config(settings, {**defaults, **extra})


def make_producer(
    settings: KafkaSettings, overrides: Mapping[str, Any] | None = None, *, transactional_id: str | None = None
) -> Producer:
    """A producer for source tasks and the DLQ; ``producer.override.*`` values come in as ``overrides``.

    With ``transactional_id`` the caller still calls ``init_transactions()``, which talks to
    the broker and fences older producers with the same id.
    """
    from confluent_kafka import Producer

    return Producer(producer_config(settings, overrides, transactional_id=transactional_id))


def consumer_config(
    settings: KafkaSettings,
    group_id: str,
    overrides: Mapping[str, Any] | None = None,
    *,
    fast_group_join: bool | None = None,
) -> dict[str, Any]:
    """Configuration of ``make_consumer``: Kafka Connect's sink-consumer defaults, then the overrides.

    Like Connect's sink tasks it starts from the earliest offset and commits explicitly.
    librdkafka's fetch-queue defaults are kept on purpose: shrinking ``queued.min.messages``
    makes it back off a full second per fetch and collapses throughput. ``fast_group_join``
    (default: the settings' ``LAMBDA_CONNECT_KAFKA_FAST_GROUP_JOIN``) shortens the session
    timeout so brokers like tansu admit members quickly.
    """
    defaults: dict[str, Any] = {"group.id": group_id, "enable.auto.commit": False, "auto.offset.reset": "earliest"}
    if settings.fast_group_join if fast_group_join is None else fast_group_join:
        defaults.update(FAST_GROUP_JOIN)
    return client_config(settings, {**defaults, **(overrides or {})})


def make_consumer(
    settings: KafkaSettings,
    group_id: str,
    overrides: Mapping[str, Any] | None = None,
    *,
    fast_group_join: bool | None = None,
) -> Consumer:
    """A consumer in ``group_id``; see ``consumer_config`` for its defaults."""
    from confluent_kafka import Consumer

    return Consumer(consumer_config(settings, group_id, overrides, fast_group_join=fast_group_join))


def make_admin(settings: KafkaSettings, overrides: Mapping[str, Any] | None = None) -> AdminClient:
    """An admin client for topic management."""
    from confluent_kafka.admin import AdminClient

    return AdminClient(client_config(settings, overrides))


def ensure_topic(
    admin: AdminClient,
    name: str,
    partitions: int = 1,
    replication_factor: int = -1,
    config: Mapping[str, str] | None = None,
    *,
    timeout: float = 30.0,
) -> bool:
    """Create ``name`` unless it exists; True when this call created it.

    A topic that already exists is left as it is (partition count and configs included), so
    concurrent callers — several Lambda containers starting at once — all succeed.
    ``replication_factor=-1`` takes the broker's default.
    """
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import NewTopic

    topic = NewTopic(name, num_partitions=partitions, replication_factor=replication_factor, config=dict(config or {}))
    future = admin.create_topics([topic], request_timeout=timeout)[name]
    try:
        future.result(timeout=timeout)
    except KafkaException as e:
        error = e.args[0] if e.args else None
        if isinstance(error, KafkaError) and error.code() == KafkaError.TOPIC_ALREADY_EXISTS:
            return False
        raise ConnectException(f"Failed to create topic {name}: {e}") from e
    except TimeoutError as e:
        raise ConnectException(f"Failed to create topic {name}: no answer within {timeout}s") from e
    return True


def list_topics(admin: AdminClient, *, timeout: float = 10.0) -> list[str]:
    """Names of the topics on the cluster, sorted."""
    return sorted(admin.list_topics(timeout=timeout).topics)
