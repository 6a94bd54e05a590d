"""What the CDC sources share: Debezium's change-event shapes, filters, common keys, and the
bookkeeping that turns Kafka's acknowledgements into a position the database may forget.

Event shapes (Debezium's, so its consumers and the JDBC sink read our topics unchanged):

* key: a struct of the primary-key columns, schema ``<topic>.Key``; null for a table without one;
* value: the envelope ``before, after, source, transaction, op, ts_ms, ts_us, ts_ns`` (schema
  ``<topic>.Envelope``, version 2), ``before``/``after`` of schema ``<topic>.Value``; ``op`` is
  ``r`` (snapshot read), ``c``, ``u``, ``d`` or ``t``; ``source.snapshot`` is a string enum;
* a delete is followed by a tombstone (same key, null value) unless ``tombstones.on.delete=false``;
  an update that changes the key becomes a delete of the old key (header ``__debezium.newkey``),
  its tombstone, and a create of the new key (header ``__debezium.oldkey``).

Confirming: a task returns records in change order and keeps a list of *release points* — "once
the first N records are acknowledged, the log may be released up to position P" — so ``commit`` can
tell the database exactly how far it may discard its log, and no further. :class:`AckTracker`
learns which records Kafka acknowledged through ``commit_record`` (MySQL/MariaDB);
:class:`CommittedReleases` reads it from the offset the runtime stored (PostgreSQL), so the task
needs no call per record.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lambda_connect.api import (
    ConfigDef,
    ConfigKey,
    ConfigType,
    ConfigValue,
    Importance,
    Schema,
    SourceConnector,
    SourceRecord,
    Struct,
    Type,
)
from lambda_connect.api.config import CaseInsensitiveValidString, Range
from lambda_connect.api.errors import ConfigException
from lambda_connect.api.records import EMPTY_HEADERS, Header

log = logging.getLogger(__name__)

__all__ = [
    "COMMON_KEYS",
    "CONNECTOR_VERSION",
    "AckTracker",
    "CommittedReleases",
    "CdcSourceConnector",
    "ChangeEmitter",
    "TableFilter",
    "TableShape",
    "TransactionMetadata",
    "apply_signal",
    "chunk_size",
    "envelope_schema",
    "heartbeat_record",
    "namespace_keys",
    "patterns",
    "port_key",
    "parse_skipped",
    "snapshot_from_offset",
    "snapshot_mode",
    "snapshot_offset_fields",
    "source_record",
    "source_schema",
    "topic_safe",
]

#: ``source.version`` of our events (Debezium puts its own release there; we put ours).
CONNECTOR_VERSION = "0.1.0-lambda-connect"

_SNAPSHOT_ENUM = Schema(
    Type.STRING, optional=True, default="false", name="io.debezium.data.Enum", version=1,
    parameters={"allowed": "true,first,first_in_data_collection,last_in_data_collection,last,false,incremental"},
)
_S = Schema(Type.STRING)
_OS = Schema(Type.STRING, optional=True)
_I64 = Schema(Type.INT64)
_OI64 = Schema(Type.INT64, optional=True)
_I32 = Schema(Type.INT32)

_COMMON_SOURCE = [("version", _S), ("connector", _S), ("name", _S), ("ts_ms", _I64), ("snapshot", _SNAPSHOT_ENUM),
                  ("db", _S), ("sequence", _OS), ("ts_us", _OI64), ("ts_ns", _OI64)]
_SOURCE_TAIL = {
    "postgresql": [("schema", _S), ("table", _S), ("txId", _OI64), ("lsn", _OI64), ("xmin", _OI64),
                   ("origin", _OS), ("origin_lsn", _OI64)],
    "mysql": [("table", _OS), ("server_id", _I64), ("gtid", _OS), ("file", _S), ("pos", _I64), ("row", _I32),
              ("thread", _OI64), ("query", _OS)],
}
_SOURCE_TAIL["mariadb"] = _SOURCE_TAIL["mysql"]

TRANSACTION_SCHEMA = Schema.struct(
    [("id", _S), ("total_order", _I64), ("data_collection_order", _I64)],
    optional=True, name="event.block", version=1,
)


def source_schema(connector: str) -> Schema:
    """The ``source`` block of ``connector`` (``postgresql``, ``mysql`` or ``mariadb``)."""
    return Schema.struct(_COMMON_SOURCE + _SOURCE_TAIL[connector], name=f"io.debezium.connector.{connector}.Source")


def envelope_schema(topic: str, value: Schema, source: Schema) -> Schema:
    return Schema.struct(
        [("before", value), ("after", value), ("source", source), ("transaction", TRANSACTION_SCHEMA),
         ("op", _S), ("ts_ms", _OI64), ("ts_us", _OI64), ("ts_ns", _OI64)],
        name=f"{topic}.Envelope", version=2,
    )


_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]")


def topic_safe(name: str) -> str:
    """Topic and schema names keep letters, digits, ``_``, ``.`` and ``-``; anything else becomes ``_``."""
    return _UNSAFE.sub("_", name)


# --- configuration ---------------------------------------------------------------------------

_CONN, _FILTER, _EVENTS, _SNAP = "Connection", "Filters", "Events", "Snapshot"
SNAPSHOT_MODES = ("initial", "initial_only", "no_data", "never", "when_needed", "always")
SKIPPABLE = ("c", "u", "d", "t")

COMMON_KEYS = ConfigDef(
    ConfigKey(name="database.hostname", type=ConfigType.STRING, importance=Importance.HIGH, group=_CONN,
              doc="Host name or address of the database server."),
    ConfigKey(name="database.user", type=ConfigType.STRING, importance=Importance.HIGH, group=_CONN,
              doc="Database user the connector logs in as (it needs replication rights)."),
    ConfigKey(name="database.password", type=ConfigType.PASSWORD, default=None, importance=Importance.HIGH,
              group=_CONN, doc="Password of database.user; give a ${provider:...} reference rather than the secret."),
    ConfigKey(name="topic.prefix", type=ConfigType.STRING, importance=Importance.HIGH, group=_EVENTS,
              doc="First part of every topic name and the logical name of this server in events and offsets. "
                  "Keep it stable: the committed position is stored under it."),
    ConfigKey(name="table.include.list", type=ConfigType.LIST, default="", group=_FILTER,
              doc="Regular expressions matched against whole qualified table names; only matching tables are "
                  "captured. Empty: every table."),
    ConfigKey(name="table.exclude.list", type=ConfigType.LIST, default="", group=_FILTER,
              doc="Regular expressions of qualified table names that are never captured."),
    ConfigKey(name="column.include.list", type=ConfigType.LIST, default="", group=_FILTER,
              doc="Regular expressions matched against qualified column names (table name + '.' + column); "
                  "only matching columns appear in events. Key columns always stay."),
    ConfigKey(name="column.exclude.list", type=ConfigType.LIST, default="", group=_FILTER,
              doc="Regular expressions of qualified column names left out of events."),
    ConfigKey(name="snapshot.mode", type=ConfigType.STRING, default="initial", group=_SNAP,
              validator=CaseInsensitiveValidString(*SNAPSHOT_MODES),
              doc="initial: copy the existing rows first, then stream; initial_only: copy and stop; no_data "
                  "(old name never): stream changes only; when_needed: copy again whenever the stored position "
                  "can no longer be resumed; always: copy again at every start of the connector (created, "
                  "restarted, resumed after a stop or a pause, reconfigured), in chunks while streaming goes on "
                  "from the stored position."),
    ConfigKey(name="snapshot.fetch.size", type=ConfigType.INT, default=10240, validator=Range.at_least(1),
              group=_SNAP, doc="Rows the snapshot reads per chunk, in primary-key order; a chunk is the unit a "
                               "tick finishes before it may stop."),
    ConfigKey(name="incremental.snapshot.chunk.size", type=ConfigType.INT, default=None, group=_SNAP,
              importance=Importance.LOW, doc="Rows per snapshot chunk; overrides snapshot.fetch.size when set."),
    ConfigKey(name="tombstones.on.delete", type=ConfigType.BOOLEAN, default=True, group=_EVENTS,
              doc="Follow every delete event by a tombstone (same key, null value) so compacted topics "
                  "forget the row."),
    ConfigKey(name="skipped.operations", type=ConfigType.LIST, default="t", group=_EVENTS,
              doc="Operations not published: any of c (insert), u (update), d (delete), t (truncate), or "
                  "none to publish all."),
    ConfigKey(name="decimal.handling.mode", type=ConfigType.STRING, default="precise", group=_EVENTS,
              validator=CaseInsensitiveValidString("precise", "double", "string"),
              doc="Exact decimals as Connect Decimal (precise), as double, or as their text (string)."),
    ConfigKey(name="time.precision.mode", type=ConfigType.STRING, default="adaptive", group=_EVENTS,
              validator=CaseInsensitiveValidString("adaptive", "adaptive_time_microseconds", "connect"),
              doc="adaptive: epoch-based integers whose unit follows the column's precision (io.debezium.time.*); "
                  "adaptive_time_microseconds: the same with TIME always in microseconds; connect: Kafka "
                  "Connect's Date/Time/Timestamp (milliseconds)."),
    ConfigKey(name="binary.handling.mode", type=ConfigType.STRING, default="bytes", group=_EVENTS,
              validator=CaseInsensitiveValidString("bytes", "base64", "base64-url-safe", "hex"),
              doc="Binary columns as bytes, or as base64, URL-safe base64 or hex text."),
    ConfigKey(name="heartbeat.interval.ms", type=ConfigType.INT, default=0, validator=Range.at_least(0),
              group=_EVENTS, doc="When above 0, at most this often a heartbeat record carrying the current "
                                 "position goes to the heartbeat topic, so the position is stored even when no "
                                 "captured table changes. 0: no heartbeats."),
    ConfigKey(name="heartbeat.action.query", type=ConfigType.STRING, default=None, group=_EVENTS,
              importance=Importance.LOW, doc="A statement run in the captured database with each heartbeat "
                                             "(for example an update of a small table), so the log moves."),
    ConfigKey(name="topic.heartbeat.prefix", type=ConfigType.STRING, default="__debezium-heartbeat", group=_EVENTS,
              importance=Importance.LOW, doc="Heartbeats go to <this>.<topic.prefix>."),
    ConfigKey(name="provide.transaction.metadata", type=ConfigType.BOOLEAN, default=False, group=_EVENTS,
              importance=Importance.LOW,
              doc="When true, each database transaction with captured changes is framed by a BEGIN and an END "
                  "record on <topic.prefix>.<topic.transaction>, and every change event names its transaction "
                  "and its place in it (the transaction field of the envelope)."),
    ConfigKey(name="topic.transaction", type=ConfigType.STRING, default="transaction", group=_EVENTS,
              importance=Importance.LOW, doc="Last part of the transaction topic's name (after topic.prefix)."),
    ConfigKey(name="signal.data.collection", type=ConfigType.STRING, default=None, group=_SNAP,
              importance=Importance.LOW,
              doc="Qualified name of a signal table (columns id, type, data, in that order). A row inserted "
                  "there with type execute-snapshot and data {\"data-collections\": [\"<table>\", ...]} starts "
                  "an ad hoc chunked snapshot of those tables while streaming goes on; stop-snapshot cancels "
                  "it. The table is read from the change stream, so it must be capturable (in the publication, "
                  "or in a captured database)."),
    ConfigKey(name="max.batch.size", type=ConfigType.INT, default=2048, validator=Range.at_least(1), group=_EVENTS,
              importance=Importance.LOW, doc="Most records one poll returns."),
)


def port_key(default: int, server: str) -> ConfigKey:
    """``database.port``: the same key for every CDC source, with each server's usual port."""
    return ConfigKey(name="database.port", type=ConfigType.INT, default=default, validator=Range.between(1, 65535),
                     group=_CONN, doc=f"Port of the {server} server.")


def namespace_keys(kind: str, what: str) -> ConfigDef:
    """``<kind>.include.list`` / ``<kind>.exclude.list``: Debezium's filters on the first part of
    a qualified table name (``schema`` for PostgreSQL, ``database`` for MySQL)."""
    return ConfigDef(
        ConfigKey(name=f"{kind}.include.list", type=ConfigType.LIST, default="", group=_FILTER,
                  doc=f"Regular expressions matched against whole {what} names; only tables in a matching {what} "
                      f"are captured. Empty: every {what} (system ones aside)."),
        ConfigKey(name=f"{kind}.exclude.list", type=ConfigType.LIST, default="", group=_FILTER,
                  doc=f"Regular expressions of {what} names whose tables are never captured."),
    )


def chunk_size(config: Mapping[str, Any]) -> int:
    """Rows per snapshot chunk: incremental.snapshot.chunk.size when set, else snapshot.fetch.size."""
    return int(config["incremental.snapshot.chunk.size"] or config["snapshot.fetch.size"])


class CdcSourceConnector(SourceConnector):
    """What the CDC connectors share: validation of the common keys, one task (one change stream
    has one reader), and exactly-once support (offsets and records can be committed together)."""

    @classmethod
    def validate(cls, props: Mapping[str, str]) -> dict[str, ConfigValue]:
        """Errors the ConfigDef alone cannot see (skipped.operations values, bad regular expressions),
        by key; empty when the config is usable."""
        out: dict[str, ConfigValue] = {}
        try:
            cfg = cls.config_def.parse(props)
            snapshot_mode(cfg)
            parse_skipped(cfg["skipped.operations"])
            TableFilter(cfg)
        except ConfigException as e:
            for key, errors in (getattr(e, "errors", None) or {}).items():
                out[key] = ConfigValue(key, props.get(key), errors=list(errors))
            if not out:
                out["connector.class"] = ConfigValue("connector.class", props.get("connector.class"), errors=[str(e)])
        return out

    def task_configs(self, max_tasks: int) -> list[dict[str, str]]:
        """A slot or a binlog is read by one reader: always a single task. Under
        ``snapshot.mode=always`` its config carries a new start token (see ``snapshots``)."""
        from .snapshots import with_generation

        return [with_generation(self.props)]

    def exactly_once_support(self, props: Mapping[str, str]) -> bool | None:
        return True


def snapshot_from_offset(stored: Mapping[str, Any]) -> dict[str, Any] | None:
    """The snapshot in progress that a stored offset describes (None when there is none)."""
    if not stored.get("snapshot"):
        return None
    snap = {"tables": [t for t in str(stored.get("snapshot_tables") or "").split(",") if t],
            "after": json.loads(stored["snapshot_after"]) if stored.get("snapshot_after") else None,
            "incremental": bool(stored.get("snapshot_incremental"))}
    if stored.get("snapshot_first"):
        snap["first"] = str(stored["snapshot_first"])  # the plan's first table (its first row is "first")
    return snap


def snapshot_offset_fields(snap: Mapping[str, Any] | None, offset: dict[str, Any],
                           after: Any = None) -> None:
    """Write the snapshot in progress into ``offset`` (``after``: the last key the offset covers,
    when it is not the snapshot's own)."""
    if snap is None:
        return
    offset["snapshot"] = True
    offset["snapshot_tables"] = ",".join(snap["tables"])
    last = snap["after"] if after is None else after
    offset["snapshot_after"] = json.dumps(last, default=str) if last is not None else None
    if snap.get("incremental"):
        offset["snapshot_incremental"] = True
    if snap.get("first"):
        offset["snapshot_first"] = snap["first"]


def apply_signal(snap: dict[str, Any] | None, signal_id: str, kind: str | None, data: str | None,
                 known: Callable[[str], bool]) -> dict[str, Any] | None:
    """The snapshot state after one row of the signal table. ``execute-snapshot`` queues the listed
    tables (those ``known`` accepts) for an incremental snapshot; ``stop-snapshot`` removes the
    listed tables, or all when none are listed. A signal that cannot be read is logged with its id
    and ignored: a typo in a signal must not stop the capture of every table."""
    kind = (kind or "").strip().lower()
    if kind not in ("execute-snapshot", "stop-snapshot"):
        log.info("Signal %s of type %r ignored: only execute-snapshot and stop-snapshot are handled", signal_id, kind)
        return snap
    try:
        body = json.loads(data) if data else {}
        tables = [str(t) for t in (body.get("data-collections") or [])]
    except (ValueError, AttributeError, TypeError) as e:
        log.warning("Signal %s ignored: its data is not a JSON object with data-collections (%s): %r",
                    signal_id, e, data)
        return snap
    if kind == "stop-snapshot":
        if snap is None:
            return None
        left = [t for t in snap["tables"] if tables and t not in tables]
        log.info("Signal %s: snapshot of %s stopped", signal_id, ", ".join(tables) or "every table")
        if not left:
            return None
        return {"tables": left, "after": snap["after"] if left[0] == snap["tables"][0] else None,
                "incremental": snap.get("incremental", True)}
    snapshot_type = str(body.get("type") or "incremental").lower()
    if snapshot_type == "blocking":
        return snap  # the connector runs it (snapshots.blocking_signal), not as part of this plan
    if snapshot_type != "incremental":
        log.warning("Signal %s asks for a snapshot of type %r, which is neither incremental nor blocking: it is "
                    "read incrementally (in chunks, streaming goes on)", signal_id, snapshot_type)
    unknown = [t for t in tables if not known(t)]
    if unknown:
        log.warning("Signal %s: %s not captured by this connector's filters; left out of the snapshot",
                    signal_id, ", ".join(unknown))
    wanted = [t for t in tables if known(t)]
    if not wanted:
        return snap
    if snap is None:
        log.info("Signal %s: incremental snapshot of %s", signal_id, ", ".join(wanted))
        return {"tables": wanted, "after": None, "incremental": True}
    queued = list(snap["tables"]) + [t for t in wanted if t not in snap["tables"]]
    return {"tables": queued, "after": snap["after"], "incremental": snap.get("incremental", False),
            **({"first": snap["first"]} if snap.get("first") else {})}


_HEARTBEAT_KEY = Schema.struct([("serverName", _S)], name="io.debezium.connector.common.ServerNameKey")
_HEARTBEAT_VALUE = Schema.struct([("ts_ms", _I64)], name="io.debezium.connector.common.Heartbeat")


def heartbeat_record(partition: Mapping[str, Any], offset: Mapping[str, Any], topic_prefix: str, server: str,
                     now_ms: int) -> SourceRecord:
    """A Debezium heartbeat (topic ``<topic.heartbeat.prefix>.<topic.prefix>``) carrying ``offset``:
    how a position is stored when no captured change carries it."""
    return SourceRecord(dict(partition), dict(offset), topic_safe(f"{topic_prefix}.{server}"), None, _HEARTBEAT_KEY,
                        Struct.from_values(_HEARTBEAT_KEY, [server]), _HEARTBEAT_VALUE,
                        Struct.from_values(_HEARTBEAT_VALUE, [now_ms]))


def snapshot_mode(config: Mapping[str, Any]) -> str:
    mode = str(config["snapshot.mode"]).strip().lower()
    if mode == "never":
        return "no_data"
    return mode


def parse_skipped(values: Sequence[str]) -> frozenset[str]:
    ops = {v.strip().lower() for v in values if v.strip()}
    if "none" in ops:
        if len(ops) > 1:
            raise ConfigException.for_key("skipped.operations", ",".join(values),
                                          "'none' cannot be combined with other operations")
        return frozenset()
    unknown = ops - set(SKIPPABLE)
    if unknown:
        raise ConfigException.for_key("skipped.operations", ",".join(values),
                                      f"unknown operation(s) {sorted(unknown)}: use c, u, d, t or none")
    return frozenset(ops)


def patterns(key: str, values: Sequence[str]) -> list[re.Pattern[str]]:
    """Compile a list key's regular expressions (case-insensitive); a bad one names the key."""
    out = []
    for v in values:
        try:
            out.append(re.compile(v.strip(), re.IGNORECASE))
        except re.error as e:
            raise ConfigException.for_key(key, v, f"not a regular expression: {e}") from e
    return out


class TableFilter:
    """``table.include/exclude.list`` and ``column.include/exclude.list``: whole-name regex matches;
    also ``schema.*`` or ``database.*.list`` on the first part of the name, when the config has them."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.tables_in = patterns("table.include.list", config["table.include.list"])
        self.tables_out = patterns("table.exclude.list", config["table.exclude.list"])
        self.cols_in = patterns("column.include.list", config["column.include.list"])
        self.cols_out = patterns("column.exclude.list", config["column.exclude.list"])
        self.ns_in: list[re.Pattern[str]] = []
        self.ns_out: list[re.Pattern[str]] = []
        for kind in ("schema", "database"):
            if f"{kind}.include.list" in config:
                self.ns_in = patterns(f"{kind}.include.list", config[f"{kind}.include.list"])
                self.ns_out = patterns(f"{kind}.exclude.list", config[f"{kind}.exclude.list"])

    def namespace(self, name: str) -> bool:
        """Whether tables of the schema or database ``name`` may be captured."""
        if self.ns_in and not any(p.fullmatch(name) for p in self.ns_in):
            return False
        return not any(p.fullmatch(name) for p in self.ns_out)

    def table(self, qualified: str) -> bool:
        if (self.ns_in or self.ns_out) and not self.namespace(qualified.partition(".")[0]):
            return False
        if self.tables_in and not any(p.fullmatch(qualified) for p in self.tables_in):
            return False
        return not any(p.fullmatch(qualified) for p in self.tables_out)

    def column(self, qualified_table: str, column: str) -> bool:
        name = f"{qualified_table}.{column}"
        if self.cols_in and not any(p.fullmatch(name) for p in self.cols_in):
            return False
        return not any(p.fullmatch(name) for p in self.cols_out)


# --- events ----------------------------------------------------------------------------------

Convert = Callable[[Any], Any] | None


@dataclass
class TableShape:
    """How the rows of one table become Connect values: the kept columns (positions in the raw
    row, converters) and the key, value and envelope schemas."""

    schema_or_db: str
    table: str
    topic: str
    positions: list[int]  # raw row index of each kept column
    converters: list[Convert]
    key_positions: list[int]  # raw row index of each key column
    key_converters: list[Convert]
    key_schema: Schema | None
    value_schema: Schema
    envelope: Schema

    def value(self, raw: Sequence[Any], placeholder: Callable[[int], Any] | None = None) -> Struct:
        out = []
        for i, conv in zip(self.positions, self.converters):
            v = raw[i]
            if v is not None and conv is not None:
                v = conv(v)
            out.append(v)
        return Struct.from_values(self.value_schema, out)

    def partial_value(self, raw: Sequence[Any]) -> Struct:
        """A row image that carries only some columns (a delete's old key under REPLICA IDENTITY
        DEFAULT): a missing required column gets its type's zero value, as Debezium does, so the
        struct stays valid for its schema."""
        value = self.value(raw)
        self.fill_missing(value._values)
        return value

    def fill_missing(self, values: list[Any]) -> None:
        """Give each required field of a value list that holds None its default or zero value
        (what ``partial_value`` does to the row it converted)."""
        for f in self.value_schema.fields:
            if values[f.index] is None and not f.schema.optional:
                values[f.index] = f.schema.default if f.schema.default is not None else zero_value(f.schema)

    def key(self, raw: Sequence[Any]) -> Struct | None:
        if self.key_schema is None:
            return None
        out = []
        for i, conv in zip(self.key_positions, self.key_converters):
            v = raw[i]
            if v is not None and conv is not None:
                v = conv(v)
            out.append(v)
        return Struct.from_values(self.key_schema, out)


def zero_value(schema: Schema) -> Any:
    """The value a required column gets when a change does not carry it."""
    import datetime as dt
    import decimal

    name = schema.name or ""
    if name == "org.apache.kafka.connect.data.Decimal":
        return decimal.Decimal(0)
    if name == "org.apache.kafka.connect.data.Date":
        return dt.date(1970, 1, 1)
    if name == "org.apache.kafka.connect.data.Time":
        return dt.time(0)
    if name == "org.apache.kafka.connect.data.Timestamp":
        return dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    t = schema.type
    if t is Type.STRUCT:
        return Struct.from_values(schema, [zero_value(f.schema) if not f.schema.optional else None
                                           for f in schema.fields])
    return {Type.BOOLEAN: False, Type.STRING: "", Type.BYTES: b"", Type.FLOAT32: 0.0, Type.FLOAT64: 0.0,
            Type.ARRAY: [], Type.MAP: {}}.get(t, 0)


def build_shape(prefix: str, schema_or_db: str, table: str, columns: Sequence[tuple[str, Schema, Convert]],
                key_columns: Sequence[str], keep: Callable[[str], bool], source: Schema) -> TableShape:
    """``columns``: every column of the raw row in order, as (name, value schema, converter)."""
    topic = topic_safe(f"{prefix}.{schema_or_db}.{table}")
    kept = [i for i, (name, _s, _c) in enumerate(columns) if name in key_columns or keep(name)]
    value_schema = Schema.struct([(columns[i][0], columns[i][1]) for i in kept], optional=True, name=f"{topic}.Value")
    by_name = {c[0]: i for i, c in enumerate(columns)}
    key_pos = [by_name[k] for k in key_columns if k in by_name]
    key_schema = None
    if key_pos:
        key_schema = Schema.struct([(columns[i][0], columns[i][1].copy(optional=False, default=None))
                                    for i in key_pos], name=f"{topic}.Key")
    return TableShape(schema_or_db, table, topic, kept, [columns[i][2] for i in kept], key_pos,
                      [columns[i][2] for i in key_pos], key_schema, value_schema,
                      envelope_schema(topic, value_schema, source))


_new_record = SourceRecord.__new__


def source_record(partition: dict[str, Any], offset: dict[str, Any], topic: str, key_schema: Schema | None,
                  key: Any, value_schema: Schema | None, value: Any) -> SourceRecord:
    """``SourceRecord(partition, offset, topic, None, key_schema, key, value_schema, value)`` without
    its per-record work: ``partition`` and ``offset`` are taken as they are, not copied (the
    caller hands over dicts nobody changes afterwards; one partition dict may serve many records),
    no Kafka partition, timestamp or headers. For the streaming hot path; the unit tests compare
    it with the constructor slot for slot."""
    record = _new_record(SourceRecord)
    record.topic = topic
    record.kafka_partition = None
    record.key_schema = key_schema
    record.key = key
    record.value_schema = value_schema
    record.value = value
    record.timestamp = None
    record.headers = EMPTY_HEADERS
    record.source_partition = partition
    record.source_offset = offset
    return record


class ChangeEmitter:
    """Builds the records of one change (event, tombstone, key-change trio) in Debezium's shape."""

    def __init__(self, partition: Mapping[str, Any], tombstones: bool, skipped: frozenset[str]) -> None:
        self.partition = dict(partition)
        self.tombstones = tombstones
        self.skipped = skipped

    def records(self, shape: TableShape, op: str, before: Struct | None, after: Struct | None, source: Struct,
                key: Struct | None, old_key: Struct | None, offset_before: Mapping[str, Any] | None,
                offset: Mapping[str, Any], transaction: Struct | None = None) -> list[SourceRecord]:
        """The records of one change. All but the last carry ``offset_before`` (the position
        before this change), so a resume after a partial acknowledgement replays the whole change.
        ``transaction`` is the envelope's ``transaction`` block (see :class:`TransactionMetadata`)."""
        if op in self.skipped:
            return []
        now_ns = time.time_ns()
        out: list[SourceRecord] = []
        if op == "u" and old_key is not None and key is not None and old_key != key:
            d = self._envelope(shape, "d", before, None, source, now_ns, transaction)
            c = self._envelope(shape, "c", None, after, source, now_ns, transaction)
            new_key_header = Header("__debezium.newkey", key, shape.key_schema)
            old_key_header = Header("__debezium.oldkey", old_key, shape.key_schema)
            out.append(SourceRecord(self.partition, offset_before, shape.topic, None, shape.key_schema, old_key,
                                    shape.envelope, d, headers=[new_key_header]))
            if self.tombstones:
                out.append(SourceRecord(self.partition, offset_before, shape.topic, None, shape.key_schema, old_key,
                                        None, None))
            out.append(SourceRecord(self.partition, offset, shape.topic, None, shape.key_schema, key, shape.envelope,
                                    c, headers=[old_key_header]))
            return out
        value = self._envelope(shape, op, before, after, source, now_ns, transaction)
        if op == "d" and self.tombstones and key is not None:
            out.append(SourceRecord(self.partition, offset_before, shape.topic, None, shape.key_schema, key,
                                    shape.envelope, value))
            out.append(SourceRecord(self.partition, offset, shape.topic, None, shape.key_schema, key, None, None))
            return out
        out.append(SourceRecord(self.partition, offset, shape.topic, None, shape.key_schema, key, shape.envelope,
                                value))
        return out

    @staticmethod
    def _envelope(shape: TableShape, op: str, before: Struct | None, after: Struct | None, source: Struct,
                  now_ns: int, transaction: Struct | None = None) -> Struct:
        return Struct.from_values(shape.envelope, [before, after, source, transaction, op, now_ns // 1_000_000,
                                                   now_ns // 1_000, now_ns])


# --- transaction metadata ----------------------------------------------------------------------

TX_KEY_SCHEMA = Schema.struct([("id", _S)], name="io.debezium.connector.common.TransactionMetadataKey")
_TX_COLLECTION = Schema.struct([("data_collection", _S), ("event_count", _I64)])
TX_VALUE_SCHEMA = Schema.struct(
    [("status", _S), ("id", _S), ("event_count", _OI64),
     ("data_collections", Schema.array(_TX_COLLECTION, optional=True)), ("ts_ms", _I64)],
    name="io.debezium.connector.common.TransactionMetadataValue",
)


class TransactionMetadata:
    """``provide.transaction.metadata``: the BEGIN/END records of a transaction and the
    ``transaction`` block of its change events.

    BEGIN is produced at the transaction's first captured change, so transactions that touch no
    captured table leave no trace; END at its commit, when a BEGIN was produced. A tick that
    resumes inside a transaction whose BEGIN is already published calls ``count`` for each change
    it skips, so the orders in the block continue where the earlier tick left them.
    """

    def __init__(self, partition: Mapping[str, Any], topic: str) -> None:
        self.partition = dict(partition)
        self.topic = topic
        self.id: str | None = None
        self.total = 0
        self.per_collection: dict[str, int] = {}

    def reset(self) -> None:
        self.id = None
        self.total = 0
        self.per_collection = {}

    def begin(self, tx_id: str, ts_ms: int, offset: Mapping[str, Any]) -> SourceRecord:
        self.reset()
        self.id = tx_id
        value = Struct.from_values(TX_VALUE_SCHEMA, ["BEGIN", tx_id, None, None, ts_ms])
        return self._record(value, offset)

    def resume(self, tx_id: str) -> None:
        """Continue a transaction whose BEGIN an earlier tick published."""
        self.reset()
        self.id = tx_id

    def count(self, collection: str) -> Struct:
        """Count one change of ``collection``; returns its ``transaction`` block."""
        self.total += 1
        n = self.per_collection.get(collection, 0) + 1
        self.per_collection[collection] = n
        return Struct.from_values(TRANSACTION_SCHEMA, [self.id, self.total, n])

    def end(self, ts_ms: int, offset: Mapping[str, Any]) -> SourceRecord | None:
        """The END record (None when the transaction had no BEGIN)."""
        if self.id is None:
            return None
        collections = [Struct.from_values(_TX_COLLECTION, [name, n]) for name, n in self.per_collection.items()]
        value = Struct.from_values(TX_VALUE_SCHEMA, ["END", self.id, self.total, collections, ts_ms])
        record = self._record(value, offset)
        self.reset()
        return record

    def _record(self, value: Struct, offset: Mapping[str, Any]) -> SourceRecord:
        key = Struct.from_values(TX_KEY_SCHEMA, [value.get("id")])
        return SourceRecord(self.partition, dict(offset), self.topic, None, TX_KEY_SCHEMA, key, TX_VALUE_SCHEMA,
                            value)


# --- acknowledgements ------------------------------------------------------------------------


class AckTracker:
    """Which prefix of the returned records Kafka acknowledged, and how far that lets the log go.

    ``submit`` numbers records in the order ``poll`` returned them; ``acked`` marks one (from
    ``commit_record``); ``release_point(n, position)`` says that once the first ``n`` records
    are acknowledged, everything up to ``position`` may be discarded. ``releasable`` gives the
    furthest such position. Records the runtime skipped without telling the task (a tolerated
    error) hold the prefix back: the log is then kept longer, never released too early.
    """

    def __init__(self) -> None:
        self._waiting: deque[SourceRecord] = deque()  # submitted, not yet in the acknowledged prefix
        #: Records acknowledged ahead of an earlier one, by id; held so their ids stay unique.
        self._early: dict[int, SourceRecord] = {}
        self.submitted = 0
        self.done = 0
        self._points: deque[tuple[int, Any]] = deque()

    def submit(self, records: Iterable[SourceRecord]) -> None:
        before = len(self._waiting)
        self._waiting.extend(records)
        self.submitted += len(self._waiting) - before

    def add(self, record: SourceRecord) -> None:
        """``submit([record])``, for one record."""
        self._waiting.append(record)
        self.submitted += 1

    def acked(self, record: SourceRecord) -> None:
        waiting = self._waiting
        if waiting and waiting[0] is record:  # in order: the usual case
            waiting.popleft()
            self.done += 1
            if self._early:
                self._catch_up()
        else:
            # Out of order (another Kafka partition confirmed first), or a record that is not (or
            # no longer) waiting: remembered, and counted once every record before it is. One
            # never submitted simply stays here; it can hold nothing back and release nothing.
            self._early[id(record)] = record

    def _catch_up(self) -> None:
        waiting, early = self._waiting, self._early
        while waiting and early.pop(id(waiting[0]), None) is not None:
            waiting.popleft()
            self.done += 1

    def release_point(self, position: Any) -> None:
        """Everything submitted so far, once acknowledged, lets the log go up to ``position``."""
        points = self._points
        if points and points[-1][0] == self.submitted:
            points[-1] = (self.submitted, position)
        else:
            points.append((self.submitted, position))

    def releasable(self) -> Any:
        """The furthest position whose records are all acknowledged (None if none is new)."""
        found = None
        points = self._points
        while points and points[0][0] <= self.done:
            found = points.popleft()[1]
        return found

    def all_acked(self) -> bool:
        return self.done == self.submitted


class CommittedReleases:
    """How far the log may go, told by the committed offset instead of per-record acknowledgements.

    The same release points as :class:`AckTracker` (``release_point(position)``: once everything
    submitted so far is acknowledged, the log may go up to ``position``), answered from the
    offset the runtime committed for the source partition (the offset of the last record of the
    acknowledged prefix). It relies on two facts of the records' offsets: every record submitted
    after a release point carries ``lsn_commit`` at least that point's position, so a committed
    ``lsn_commit`` of at least the position means the point's records are all acknowledged; and
    the point's last record is acknowledged when the committed offset is that record's offset
    (unless the record before it carries the same offset, as several tables of one TRUNCATE do:
    then only a later record's offset releases the point). A point before which nothing was
    submitted is released at once.
    """

    def __init__(self) -> None:
        self.submitted = 0
        self._last: Any = None  # offset of the last submitted record
        self._before_last: Any = None  # and of the one before it
        #: (last record's offset or None, whether the record before it has the same offset, position)
        self._points: deque[tuple[Any, bool, Any]] = deque()

    def add(self, record: SourceRecord) -> None:
        self._before_last, self._last = self._last, record.source_offset
        self.submitted += 1

    def add_offset(self, offset: Any) -> None:
        """``add`` for a record handed over by column, by its offset alone."""
        self._before_last, self._last = self._last, offset
        self.submitted += 1

    def submit(self, records: Sequence[SourceRecord]) -> None:
        n = len(records)
        if n:
            self._before_last = records[-2].source_offset if n > 1 else self._last
            self._last = records[-1].source_offset
            self.submitted += n

    def release_point(self, position: Any) -> None:
        last = self._last
        shared = last is not None and last == self._before_last
        points = self._points
        if points and points[-1][0] is last:  # nothing submitted since the previous point
            points[-1] = (last, shared, position)
        else:
            points.append((last, shared, position))

    def releasable(self, committed: Mapping[str, Any] | None) -> Any:
        """The furthest position whose records the ``committed`` offset covers (None if none is new)."""
        found = None
        points = self._points
        mark = int(committed.get("lsn_commit") or 0) if committed else -1
        while points:
            last, _shared, position = points[0]
            if last is None or position <= mark:
                found = points.popleft()[2]
            else:
                break
        # Only the first point left can end at the committed record: a record after it would have
        # carried lsn_commit up to its position.
        if points and committed is not None:
            last, shared, position = points[0]
            if not shared and last == committed:
                points.popleft()
                found = position
        return found
