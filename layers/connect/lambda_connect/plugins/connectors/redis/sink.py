"""RedisSinkConnector: records into Redis data structures, Redis Kafka Connect's keys and behaviour.

``redis.type`` picks the structure. Keyed types write one Redis key per record key —
``redis.keyspace`` + ``redis.separator`` + record key (``${topic}`` in the keyspace is the
record's topic; an empty keyspace leaves just the record key):

* HASH — the value's fields (a map or struct) with HSET; a tombstone deletes the key.
* JSON — the value as a JSON document with JSON.SET (needs the RedisJSON module); a tombstone
  deletes the key.
* STRING — SET of the value as text; a tombstone deletes the key.

Collection types write into one Redis key, the keyspace (the topic by default):

* STREAM — XADD of the value's fields (a scalar value becomes the field ``value``).
* LIST — RPUSH of the record key; a tombstone removes it (LREM).
* SET — SADD of the record key; a tombstone removes it (SREM).
* ZSET — ZADD of the record key scored by the value (a number); a tombstone removes it.

Redelivery: writing a record twice leaves HASH, JSON, STRING, SET and ZSET as they were, so
those are idempotent by construction. STREAM and LIST append, so for them each batch is one
MULTI/EXEC transaction that also records, per topic-partition, the last offset written
(hash ``<keyspace>:__lambda_connect_offsets``, field ``<connector>:<topic>:<partition>``); a
redelivered record at or below it is skipped, and a transaction that did not commit wrote
nothing. Each record is therefore written once. The hash also names the topic incarnation each
offset counts in (field ``…:<partition>#topic_identity``, see ``..positions``): the mark of a topic
that was deleted and created again starts over, with a warning, instead of skipping its records.
``redis.multi.exec=true`` wraps the other
types' batches in MULTI/EXEC as well; otherwise a batch is one pipeline (one round trip).
A connection lost mid-batch raises ``RetriableException``: the batch is delivered again.
"""

from __future__ import annotations

import decimal
import logging
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from lambda_connect.api.config import (
    CaseInsensitiveValidString,
    ConfigDef,
    ConfigType,
    Importance,
    Range,
)
from lambda_connect.api.connector import SinkConnector, SinkTask, Task, TopicPartition
from lambda_connect.api.data import Struct
from lambda_connect.api.errors import ConnectException, DataException, RetriableException
from lambda_connect.api.records import SinkRecord

from .._messaging import config_key as _k
from .._messaging import json_bytes, reject
from ..positions import current_identities, reconcile, warn_resets

__all__ = ["RedisSinkConnector", "RedisSinkTask"]

log = logging.getLogger(__name__)

TYPES = ("HASH", "JSON", "STRING", "STREAM", "LIST", "SET", "ZSET")
APPENDING = ("STREAM", "LIST")
OFFSETS_SUFFIX = ":__lambda_connect_offsets"
#: Suffix of the field holding a mark's topic identity ('#' is not legal in a Kafka topic name).
IDENTITY_SUFFIX = "#topic_identity"
_R, _TLS = "Redis", "TLS"


CONFIG_DEF = ConfigDef(
    _k("redis.uri", ConfigType.STRING, "redis://localhost:6379", "Server URI: `redis://[user:password@]host:port"
       "[/db]`, or `rediss://` for TLS.", _R, 1, importance=Importance.HIGH),
    _k("redis.type", ConfigType.STRING, "STREAM", "Data structure written: " + ", ".join(TYPES) + ".", _R, 2,
       importance=Importance.HIGH, validator=CaseInsensitiveValidString(*TYPES)),
    _k("redis.keyspace", ConfigType.STRING, "${topic}", "Key prefix of keyed types, the key itself for STREAM, "
       "LIST, SET and ZSET; `${topic}` is replaced by the record's topic.", _R, 3),
    _k("redis.separator", ConfigType.STRING, ":", "Put between keyspace and record key.", _R, 4),
    _k("redis.multi.exec", ConfigType.BOOLEAN, False, "Write each batch in one MULTI/EXEC transaction (STREAM "
       "and LIST always are).", _R, 5),
    _k("redis.username", ConfigType.STRING, "", "User for AUTH (overrides the URI's).", _R, 6),
    _k("redis.password", ConfigType.PASSWORD, None, "Password for AUTH (overrides the URI's).", _R, 7),
    _k("redis.timeout.ms", ConfigType.INT, 10000, "Connect and command timeout.", _R, 8, validator=Range.at_least(1)),
    _k("redis.tls", ConfigType.BOOLEAN, False, "Use TLS even with a redis:// URI.", _TLS, 1),
    _k("redis.insecure", ConfigType.BOOLEAN, False, "Accept any server certificate.", _TLS, 2),
    _k("redis.cacert", ConfigType.STRING, "", "PEM file of the CA certificates that sign the server's certificate.",
       _TLS, 3),
    _k("redis.key.cert", ConfigType.STRING, "", "PEM file of the client certificate (mutual TLS).", _TLS, 4),
    _k("redis.key", ConfigType.STRING, "", "PEM file of the client's private key.", _TLS, 5),
    _k("redis.key.password", ConfigType.PASSWORD, None, "Password of the client's private key.", _TLS, 6),
)

_clients: dict[tuple[Any, ...], Any] = {}
_clients_lock = threading.Lock()


def _client(config: Any) -> Any:
    """One redis-py client (a connection pool) per settings, kept for the container's life."""
    uri = config["redis.uri"]
    tls = bool(config["redis.tls"]) or str(uri).startswith("rediss://")
    key = (uri, tls, config["redis.username"], config.password("redis.password"), config["redis.insecure"],
           config["redis.cacert"], config["redis.key.cert"], config["redis.key"], config["redis.timeout.ms"])
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            try:
                import redis
            except ImportError as e:
                raise ConnectException("The Redis sink needs redis-py: pip install 'lambda-connect[redis]'") from e
            timeout = config["redis.timeout.ms"] / 1000.0
            kwargs: dict[str, Any] = {"socket_timeout": timeout, "socket_connect_timeout": timeout}
            if config["redis.username"]:
                kwargs["username"] = config["redis.username"]
            if config.password("redis.password"):
                kwargs["password"] = config.password("redis.password")
            if tls:
                if str(uri).startswith("redis://"):
                    uri = "rediss://" + str(uri)[len("redis://"):]
                kwargs.update(ssl_cert_reqs="none" if config["redis.insecure"] else "required",
                              ssl_ca_certs=config["redis.cacert"] or None,
                              ssl_certfile=config["redis.key.cert"] or None,
                              ssl_keyfile=config["redis.key"] or None,
                              ssl_password=config.password("redis.key.password"),
                              ssl_check_hostname=not config["redis.insecure"])
            client = redis.Redis.from_url(uri, **kwargs)
            _clients[key] = client
        return client


def _text(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, bool):
        return b"true" if value else b"false"
    if isinstance(value, (int, float, decimal.Decimal)):
        return str(value).encode()
    return json_bytes(value)


def _where(record: SinkRecord) -> str:
    return f"{record.original_topic}-{record.original_kafka_partition}@{record.original_kafka_offset}"


def _fields(record: SinkRecord) -> dict[bytes, bytes]:
    value = record.value
    if isinstance(value, Struct):
        value = value.to_dict()
    if isinstance(value, Mapping):
        return {_text(k): _text(v) for k, v in value.items() if v is not None}
    raise DataException(f"Record {_where(record)}: redis.type=HASH needs a map or struct value, not "
                        f"{type(value).__name__}")


class RedisSinkTask(SinkTask):
    """Writes each batch in one pipeline (a transaction where redelivery must not append twice)."""

    def __init__(self) -> None:
        super().__init__()
        self._config: Any = None
        self._type = "STREAM"
        self.skipped_duplicates = 0  # records of a redelivered batch that were already written

    def version(self) -> str:
        return RedisSinkConnector.version or "unknown"

    def start(self, props: Mapping[str, str]) -> None:
        self._config = CONFIG_DEF.parse(props)
        self._type = str(self._config["redis.type"]).upper()
        self._connector = self.context.connector_name if self.context is not None else "redis-sink"
        self._keyspace = str(props.get("redis.keyspace", "${topic}"))  # unstripped, as given
        self._separator = str(props.get("redis.separator", ":"))

    def _collection(self, record: SinkRecord) -> str:
        return self._keyspace.replace("${topic}", record.topic)

    def _key(self, record: SinkRecord) -> bytes:
        key = record.key
        if key is None:
            raise DataException(f"Record {_where(record)} has no key; redis.type={self._type} needs one")
        text = _text(key.to_dict() if isinstance(key, Struct) else key)
        prefix = self._collection(record)
        if self._type in ("HASH", "JSON", "STRING") and prefix:
            return prefix.encode() + self._separator.encode() + text
        return text

    def put(self, records: Sequence[SinkRecord]) -> None:
        import redis

        if self._config is None:
            raise ConnectException("RedisSinkTask.put called before start")
        if not records:
            return
        client = _client(self._config)
        appending = self._type in APPENDING
        try:
            marks, rekey = self._marks(client, records) if appending else ({}, {})
            pipe = client.pipeline(transaction=appending or bool(self._config["redis.multi.exec"]))
            written: dict[tuple[str, str, int], int] = {}
            for record in records:
                tp = (self._collection(record), record.original_topic, record.original_kafka_partition)
                if appending and record.original_kafka_offset <= marks.get(tp, -1):
                    self.skipped_duplicates += 1
                    continue
                try:
                    self._write(pipe, record)
                except DataException as e:
                    self._reject(record, e)
                    continue
                if appending:
                    written[tp] = max(written.get(tp, -1), record.original_kafka_offset)
            for (collection, topic, partition), (offset, identity) in rekey.items():
                field = f"{self._connector}:{topic}:{partition}"
                pipe.hset(collection + OFFSETS_SUFFIX, mapping={field: offset, field + IDENTITY_SUFFIX: identity})
            for (collection, topic, partition), offset in written.items():
                pipe.hset(collection + OFFSETS_SUFFIX, f"{self._connector}:{topic}:{partition}", offset)
            results = pipe.execute(raise_on_error=False)
        except redis.exceptions.AuthenticationError as e:
            raise ConnectException(f"Redis at {self._config['redis.uri']} refused the credentials: {e}") from e
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as e:
            raise RetriableException(f"Redis at {self._config['redis.uri']} went away mid-batch: {e}; the batch "
                                     "will be delivered again") from e
        except redis.exceptions.ResponseError as e:
            raise ConnectException(f"Redis refused the batch: {e}") from e
        failures = [r for r in results if isinstance(r, Exception)]
        if failures:
            hint = " (JSON needs the RedisJSON module on the server)" if self._type == "JSON" else ""
            raise ConnectException(f"Redis refused {len(failures)} command(s) of the batch{hint}: {failures[0]}")

    def _marks(
        self, client: Any, records: Sequence[SinkRecord]
    ) -> tuple[dict[tuple[str, str, int], int], dict[tuple[str, str, int], tuple[int, str]]]:
        """The last offset already written per (collection, topic, partition) of this batch — -1 for a
        mark of an earlier incarnation of the topic — and the marks to re-key in the batch's transaction."""
        lowest: dict[tuple[str, str, int], int] = {}
        for r in records:
            tp = (self._collection(r), r.original_topic, r.original_kafka_partition)
            if r.original_kafka_offset < lowest.get(tp, r.original_kafka_offset + 1):
                lowest[tp] = r.original_kafka_offset
        wanted = sorted(lowest)
        pipe = client.pipeline(transaction=False)
        for collection, topic, partition in wanted:
            field = f"{self._connector}:{topic}:{partition}"
            pipe.hmget(collection + OFFSETS_SUFFIX, [field, field + IDENTITY_SUFFIX])
        marks: dict[tuple[str, str, int], int] = {}
        rekey: dict[tuple[str, str, int], tuple[int, str]] = {}
        by_collection: dict[str, dict[tuple[str, int], tuple[int, str | None]]] = {}
        for (collection, topic, partition), (offset, identity) in zip(wanted, pipe.execute()):
            if isinstance(identity, bytes):
                identity = identity.decode()
            stored = (-1 if offset is None else int(offset), identity)
            by_collection.setdefault(collection, {})[(topic, partition)] = stored
        lookup = self._identity_lookup()
        for collection, stored in by_collection.items():
            offsets = {p: o for p, (o, _) in stored.items()}
            identities = {p: i for p, (_, i) in stored.items()}
            low = {(t, p): lowest[(collection, t, p)] for t, p in stored}
            check = reconcile(offsets, identities, current_identities(low, offsets, identities, lookup))
            warn_resets(self._connector, check.resets, f"Redis hash {collection}{OFFSETS_SUFFIX}")
            marks.update({(collection, t, p): o for (t, p), o in check.offsets.items() if o >= 0})
            rekey.update({(collection, t, p): mark for (t, p), mark in check.rekey.items()})
        return marks, rekey

    def _identity_lookup(self) -> Any:
        context = self.context
        if context is None:
            return lambda topic, refresh: None
        return lambda topic, refresh: context.topic_identity(topic, refresh=refresh)

    def _write(self, pipe: Any, record: SinkRecord) -> None:
        kind, value = self._type, record.value
        if kind == "STREAM":
            if value is None:
                return  # a stream has nothing to delete
            if isinstance(value, (Mapping, Struct)):
                pipe.xadd(self._collection(record), _fields(record) or {b"value": b""})
            else:
                pipe.xadd(self._collection(record), {b"value": _text(value)})
            return
        if kind in ("HASH", "JSON", "STRING"):
            key = self._key(record)
            if value is None:
                pipe.delete(key)
            elif kind == "HASH":
                fields = _fields(record)
                if fields:
                    pipe.hset(key, mapping=fields)
            elif kind == "JSON":
                pipe.execute_command("JSON.SET", key, "$", json_bytes(value))
            else:
                pipe.set(key, _text(value))
            return
        member, collection = self._key(record), self._collection(record)
        if kind == "LIST":
            pipe.lrem(collection, 0, member) if value is None else pipe.rpush(collection, member)
        elif kind == "SET":
            pipe.srem(collection, member) if value is None else pipe.sadd(collection, member)
        elif value is None:
            pipe.zrem(collection, member)
        else:
            try:
                score = float(value if not isinstance(value, (bytes, str)) else _text(value).decode())
            except (TypeError, ValueError):
                raise DataException(f"Record {_where(record)}: redis.type=ZSET needs a numeric value as the score, "
                                    f"not {value!r}") from None
            pipe.zadd(collection, {member: score})

    def _reject(self, record: SinkRecord, error: ConnectException) -> None:
        reject(self, record, error, "Redis sink")


class RedisSinkConnector(SinkConnector):
    """Redis Kafka Connect's ``com.redis.kafka.connect.RedisSinkConnector``: records into Redis structures."""

    name = "com.redis.kafka.connect.RedisSinkConnector"
    version = "0.9.1"
    config_def = CONFIG_DEF

    @classmethod
    def task_class(cls) -> type[Task]:
        return RedisSinkTask

    def alter_offsets(self, props: Mapping[str, str], offsets: Mapping[TopicPartition, int | None]) -> bool:
        """KIP-875 for STREAM and LIST: each partition's mark goes just below the next offset to
        consume (None: nothing written), so a rewound partition is appended again. The other types
        keep no marks (writing twice changes nothing) and answer False."""
        config = CONFIG_DEF.parse(props)
        if str(config["redis.type"]).upper() not in APPENDING:
            return False
        connector = props.get("name", "redis-sink")
        keyspace = str(props.get("redis.keyspace", "${topic}"))
        try:
            pipe = _client(config).pipeline(transaction=True)
            for (topic, partition), offset in sorted(offsets.items()):
                pipe.hset(keyspace.replace("${topic}", topic) + OFFSETS_SUFFIX, f"{connector}:{topic}:{partition}",
                          -1 if offset is None else offset - 1)
            pipe.execute()
        except Exception as e:
            raise ConnectException(f"Could not move the marks of connector {connector} in Redis at "
                                   f"{config['redis.uri']}: {e}") from e
        return True

    def reset_offsets(self, props: Mapping[str, str], partitions: Sequence[TopicPartition]) -> bool:
        """Every mark of the connector back to -1, in every hash its keyspace can name."""
        config = CONFIG_DEF.parse(props)
        if str(config["redis.type"]).upper() not in APPENDING:
            return False
        connector = props.get("name", "redis-sink")
        pattern = str(props.get("redis.keyspace", "${topic}")).replace("${topic}", "*") + OFFSETS_SUFFIX
        try:
            client = _client(config)
            for key in client.scan_iter(match=pattern):
                fields = [f for f, _ in client.hscan_iter(key, match=f"{connector}:*") if not f.endswith(
                    IDENTITY_SUFFIX.encode())]
                if fields:
                    client.hset(key, mapping=dict.fromkeys(fields, -1))
        except Exception as e:
            raise ConnectException(f"Could not reset the marks of connector {connector} in Redis at "
                                   f"{config['redis.uri']}: {e}") from e
        return True
