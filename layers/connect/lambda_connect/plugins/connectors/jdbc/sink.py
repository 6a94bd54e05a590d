"""JDBC sink: Kafka records into PostgreSQL, MySQL/MariaDB or SQLite tables, exactly once.

Configured with Confluent's keys (``io.confluent.connect.jdbc.JdbcSinkConnector``), so a
config from a Kafka Connect cluster runs unchanged. Differences, all additive:

* schemaless records (JSON maps) work: column types are inferred from the values;
* maps, arrays and nested structs become JSON columns instead of an error;
* every batch is written in one transaction together with the highest offset per
  topic-partition (``offsets.table.name``); a redelivered record at or below it is skipped,
  so retries, overlapping redeliveries and a crash after commit never duplicate rows, even
  in ``insert`` mode (Confluent is at-least-once and relies on upserts).

``put`` only turns records into rows (a record that cannot become one is kept for the
errant record reporter); ``flush`` writes them. The task counts ``written``, ``deleted``,
``skipped_duplicates`` and ``errant`` records since it started, for the runtime's metrics.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from lambda_connect.api import (
    Config,
    ConfigDef,
    ConfigException,
    ConfigKey,
    ConfigType,
    ConfigValue,
    ConnectException,
    Importance,
    SinkConnector,
    SinkRecord,
    SinkTask,
    SinkTaskContext,
    Task,
    Width,
)
from lambda_connect.api.config import CaseInsensitiveValidString, LambdaValidator, Range
from lambda_connect.api.connector import TopicPartition

from ..positions import IdentityLookup
from .offsets import DEFAULT_OFFSETS_TABLE
from .writer import Entry, JdbcWriter

__all__ = ["JdbcSinkConnector", "JdbcSinkTask"]

log = logging.getLogger(__name__)

_CONNECTION = "Connection"
_WRITES = "Writes"
_MAPPING = "Data Mapping"
_DDL = "SQL/DDL Support"

UTC = dt.UTC


def timezone_of(name: str) -> dt.tzinfo:
    """``db.timezone`` as a tzinfo; UTC spelled any common way avoids the tz database."""
    if name.upper() in ("UTC", "Z", "GMT", "ETC/UTC"):
        return UTC
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)


def _valid_timezone(name: str, value: Any) -> None:
    try:
        timezone_of(str(value))
    except Exception:
        raise ConfigException.for_key(name, value, "Invalid time zone identifier") from None


def _valid_url(name: str, value: Any) -> None:
    from .urls import to_sqlalchemy_url

    to_sqlalchemy_url(str(value))


_CONFIG_DEF = ConfigDef(
    ConfigKey(name="connection.url", type=ConfigType.STRING, importance=Importance.HIGH, group=_CONNECTION,
              order_in_group=1, width=Width.LONG, display_name="JDBC URL",
              validator=LambdaValidator(_valid_url, "JDBC or SQLAlchemy URL"),
              doc="JDBC connection URL, e.g. ``jdbc:postgresql://localhost:5432/db``, ``jdbc:mysql://localhost/db``, "
                  "``jdbc:mariadb://localhost/db`` or ``jdbc:sqlite:/tmp/db.sqlite``. SQLAlchemy URLs "
                  "(``postgresql+psycopg://…``) are accepted too."),
    ConfigKey(name="connection.user", type=ConfigType.STRING, default=None, importance=Importance.HIGH,
              group=_CONNECTION, order_in_group=2, width=Width.MEDIUM, display_name="JDBC User",
              doc="JDBC connection user."),
    ConfigKey(name="connection.password", type=ConfigType.PASSWORD, default=None, importance=Importance.HIGH,
              group=_CONNECTION, order_in_group=3, width=Width.MEDIUM, display_name="JDBC Password",
              doc="JDBC connection password."),
    ConfigKey(name="insert.mode", type=ConfigType.STRING, default="insert",
              validator=CaseInsensitiveValidString("insert", "upsert", "update"), importance=Importance.HIGH,
              group=_WRITES, order_in_group=1, width=Width.MEDIUM, display_name="Insert Mode",
              doc="How rows are written:\n``insert``\n    plain ``INSERT``; a key that exists already fails.\n"
                  "``upsert``\n    insert, or overwrite the row with the same primary key (``ON CONFLICT … DO "
                  "UPDATE``, ``ON DUPLICATE KEY UPDATE``).\n``update``\n    ``UPDATE`` the row with the same "
                  "primary key; nothing is inserted."),
    ConfigKey(name="batch.size", type=ConfigType.INT, default=3000, validator=Range.at_least(0),
              importance=Importance.MEDIUM, group=_WRITES, order_in_group=2, width=Width.SHORT,
              display_name="Batch Size",
              doc="Upper bound on the rows sent to the database in one statement batch."),
    ConfigKey(name="delete.enabled", type=ConfigType.BOOLEAN, default=False, importance=Importance.MEDIUM,
              group=_WRITES, order_in_group=3, width=Width.SHORT, display_name="Enable deletes",
              doc="true: a record with a ``null`` value (a tombstone) deletes the row of its key; needs "
                  "``pk.mode=record_key``."),
    ConfigKey(name="table.name.format", type=ConfigType.STRING, default="${topic}", importance=Importance.MEDIUM,
              group=_MAPPING, order_in_group=1, width=Width.LONG, display_name="Table Name Format",
              doc="Name of the target table; ``${topic}`` stands for the record's topic, so ``kafka_${topic}`` "
                  "writes topic 'orders' into table 'kafka_orders'. A dot separates schema and table."),
    ConfigKey(name="pk.mode", type=ConfigType.STRING, default="none",
              validator=CaseInsensitiveValidString("none", "kafka", "record_key", "record_value"),
              importance=Importance.HIGH, group=_MAPPING, order_in_group=2, width=Width.MEDIUM,
              display_name="Primary Key Mode",
              doc="Where the primary key comes from (see ``pk.fields``):\n``none``\n    the table has no key.\n"
                  "``kafka``\n    the record's topic, partition and offset.\n``record_key``\n    the record key, a "
                  "single value or a struct.\n``record_value``\n    fields of the value, which must be a struct."),
    ConfigKey(name="pk.fields", type=ConfigType.LIST, default="", importance=Importance.MEDIUM, group=_MAPPING,
              order_in_group=3, width=Width.LONG, display_name="Primary Key Fields",
              doc="Primary key column names, comma separated; their meaning follows ``pk.mode``:\n``none``\n    "
                  "not used.\n``kafka``\n    three names for topic, partition and offset; empty means "
                  "``__connect_topic,__connect_partition,__connect_offset``.\n``record_key``\n    the key struct's "
                  "fields to use (empty: all of them); a single-value key takes exactly one name.\n"
                  "``record_value``\n    the value fields to use (empty: all of them)."),
    ConfigKey(name="fields.whitelist", type=ConfigType.LIST, default="", importance=Importance.MEDIUM,
              group=_MAPPING, order_in_group=4, width=Width.LONG, display_name="Fields Whitelist",
              doc="Value fields written as columns, comma separated; empty writes all of them. It governs the "
                  "non-key columns only: the key columns come from ``pk.fields`` either way."),
    ConfigKey(name="db.timezone", type=ConfigType.STRING, default="UTC",
              validator=LambdaValidator(_valid_timezone, "Any valid JDK time zone"), importance=Importance.MEDIUM,
              group=_MAPPING, order_in_group=5, width=Width.MEDIUM, display_name="DB Time Zone",
              doc="Time zone (IANA or JDK name) in which date and time values are written to columns "
                  "without a zone of their own."),
    ConfigKey(name="auto.create", type=ConfigType.BOOLEAN, default=False, importance=Importance.MEDIUM,
              group=_DDL, order_in_group=1, width=Width.SHORT, display_name="Auto-Create",
              doc="true: a missing target table is created (``CREATE TABLE``) from the first record's "
                  "schema."),
    ConfigKey(name="auto.evolve", type=ConfigType.BOOLEAN, default=False, importance=Importance.MEDIUM,
              group=_DDL, order_in_group=2, width=Width.SHORT, display_name="Auto-Evolve",
              doc="true: fields of a record that the table lacks are added as columns (``ALTER TABLE``)."),
    ConfigKey(name="quote.sql.identifiers", type=ConfigType.STRING, default="always",
              validator=CaseInsensitiveValidString("always", "never"), importance=Importance.MEDIUM, group=_DDL,
              order_in_group=3, width=Width.MEDIUM, display_name="Quote Identifiers",
              doc="``always`` puts table and column names in quotes in the SQL we issue (so case and "
                  "odd characters survive); ``never`` leaves them bare."),
    ConfigKey(name="offsets.table.name", type=ConfigType.STRING, default=DEFAULT_OFFSETS_TABLE,
              importance=Importance.LOW, group=_DDL, order_in_group=4, width=Width.LONG,
              display_name="Offsets Table",
              doc="(lambda-connect) Table holding the highest written offset per connector and topic-partition, "
                  "updated in the same transaction as the rows so that redelivered records are skipped."),
)


def cross_field_errors(values: Mapping[str, Any]) -> dict[str, list[str]]:
    """Checks Confluent makes when it builds ``JdbcSinkConfig``, keyed by the offending config."""
    errors: dict[str, list[str]] = {}
    pk_mode = str(values.get("pk.mode") or "none").lower()
    mode = str(values.get("insert.mode") or "insert").lower()
    if values.get("delete.enabled") and pk_mode != "record_key":
        errors.setdefault("delete.enabled", []).append(
            "delete.enabled=true needs pk.mode=record_key: a tombstone names its row only by its key")
    if mode in ("upsert", "update") and pk_mode == "none":
        errors.setdefault("insert.mode", []).append(
            f"Write in {mode.upper()} mode requires key field names to be known, check the primary key configuration")
    pk_fields = values.get("pk.fields") or []
    if pk_mode == "kafka" and len(pk_fields) not in (0, 3):
        errors.setdefault("pk.fields", []).append(
            "PK mode is KAFKA so there should either be no field names defined for defaults "
            "[__connect_topic, __connect_partition, __connect_offset] to be applicable, or exactly 3, "
            f"defined fields are: {list(pk_fields)}")
    return errors


def _connect(config: Config, *, hold: bool = False) -> tuple[Any, Any]:
    """Engine (shared per URL and credentials) and dialect of a parsed config; with ``hold``
    the engine stays open until ``release_engine`` (a task holds it from start to stop)."""
    try:
        from .dialects import dialect_for
        from .urls import acquire_engine, backend_name, engine_for
    except ImportError as e:  # pragma: no cover - depends on installed extras
        raise ConfigException("The JDBC sink needs SQLAlchemy: pip install 'lambda-connect[jdbc]'") from e
    get = acquire_engine if hold else engine_for
    engine = get(config["connection.url"], config["connection.user"], config.password("connection.password"))
    dialect = dialect_for(
        backend_name(engine.url),
        quote_identifiers=config["quote.sql.identifiers"].lower() == "always",
        timezone=timezone_of(config["db.timezone"]),
    )
    return engine, dialect


def _identity_lookup(context: SinkTaskContext | None) -> IdentityLookup:
    """``context.topic_identity`` as the positional callable the writer takes."""
    if context is None:
        return lambda topic, refresh: None
    return lambda topic, refresh: context.topic_identity(topic, refresh=refresh)


class JdbcSinkTask(SinkTask):
    """Writes each batch (plus its offsets) in one transaction; see the module docstring."""

    def __init__(self) -> None:
        super().__init__()
        self._buffer: list[Entry] = []
        self.written = 0
        self.deleted = 0
        self.skipped_duplicates = 0
        self.errant = 0
        self._engine: Any = None

    def version(self) -> str:
        return "1.0"

    def start(self, props: Mapping[str, str]) -> None:
        """Parse the config and connect (engines are shared per URL across warm invocations)."""
        config = JdbcSinkConnector.config_def.parse(props)
        errors = cross_field_errors(config)
        if errors:
            raise ConfigException(errors=errors)
        try:
            self._configure(config, props)
        except BaseException:
            self.stop()  # a task that failed to start is never stopped by the runtime: let go of the engine
            raise

    def _configure(self, config: Config, props: Mapping[str, str]) -> None:
        from .ddl import TableManager
        from .offsets import OffsetStore
        from .schema_mapping import FieldsExtractor

        engine, dialect = _connect(config, hold=True)
        self._engine = engine
        self.insert_mode = config["insert.mode"].lower()
        pk_mode = config["pk.mode"].lower()
        self.extractor = FieldsExtractor(
            table_format=config["table.name.format"],
            pk_mode=pk_mode,
            pk_fields=config["pk.fields"],
            whitelist=config["fields.whitelist"],
            delete_enabled=config["delete.enabled"],
        )
        connector = self.context.connector_name if self.context is not None else props.get("name", "jdbc-sink")
        tables = TableManager(engine, dialect, auto_create=config["auto.create"], auto_evolve=config["auto.evolve"])
        self.writer = JdbcWriter(
            engine,
            dialect,
            tables,
            OffsetStore(engine, dialect, config["offsets.table.name"], connector),
            insert_mode=self.insert_mode,
            batch_size=config["batch.size"],
            reporter=self.context.errant_record_reporter if self.context is not None else None,
            identity=_identity_lookup(self.context),
        )

    def put(self, records: Sequence[SinkRecord]) -> None:
        """Turn records into rows (a record that cannot become one is kept as ``Failed``);
        nothing touches the database until ``flush``."""
        self.extractor.plan_into(records, self._buffer)

    def flush(self, offsets: Mapping[tuple[str, int], int]) -> None:
        """Write everything put since the last flush in one transaction with its offsets.

        Raises RetriableException for transient database errors and ConnectException when a
        record cannot be written and no errant record reporter is configured; either way
        nothing of the batch is committed and the buffer is cleared for the redelivery.
        """
        entries, self._buffer = self._buffer, []
        result = self.writer.write(entries)
        self.written += result.written
        self.deleted += result.deleted
        self.skipped_duplicates += result.skipped_duplicates
        self.errant += result.errant

    def stop(self) -> None:
        """Drop the buffer and let go of the engine (the pool of a superseded password closes then)."""
        self._buffer = []
        engine, self._engine = self._engine, None
        if engine is not None:
            from .urls import release_engine

            release_engine(engine)


class JdbcSinkConnector(SinkConnector):
    """Confluent's JDBC sink, on SQLAlchemy: PostgreSQL, MySQL/MariaDB and SQLite."""

    name = "io.confluent.connect.jdbc.JdbcSinkConnector"
    version = "1.0"
    config_def = _CONFIG_DEF

    @classmethod
    def task_class(cls) -> type[Task]:
        return JdbcSinkTask

    def alter_offsets(self, props: Mapping[str, str], offsets: Mapping[TopicPartition, int | None]) -> bool:
        """Move the marks in ``offsets.table.name`` with the consumer groups (KIP-875): a rewound
        partition is written again from its new offset, in one transaction for all partitions."""
        store = self._offset_store(props)
        try:
            store.move(offsets)
        except Exception as e:
            raise ConnectException(f"Could not move the marks of connector {store.connector} in table "
                                   f"{store.table}: {e}") from e
        return True

    def reset_offsets(self, props: Mapping[str, str], partitions: Sequence[TopicPartition]) -> bool:
        """Forget every mark of the connector (all partitions, known to the groups or not)."""
        store = self._offset_store(props)
        try:
            store.forget()
        except Exception as e:
            raise ConnectException(f"Could not reset the marks of connector {store.connector} in table "
                                   f"{store.table}: {e}") from e
        return True

    def stored_offsets(self, props: Mapping[str, str]) -> tuple[str, dict[TopicPartition, int]] | None:
        """The marks ``offsets.table.name`` holds for a connector of this name (create-time check)."""
        store = self._offset_store(props)
        marks = store.stored()
        return (f"table {store.table}", marks) if marks else None

    @staticmethod
    def _offset_store(props: Mapping[str, str]) -> Any:
        from .offsets import OffsetStore

        config = JdbcSinkConnector.config_def.parse(props)
        engine, dialect = _connect(config)
        return OffsetStore(engine, dialect, config["offsets.table.name"], props.get("name", "jdbc-sink"))

    @classmethod
    def validate(cls, props: Mapping[str, str]) -> dict[str, ConfigValue]:
        parsed = {name: cv.value for name, cv in cls.config_def.validate(props).items()}
        return {name: ConfigValue(name, parsed.get(name), errors=msgs)
                for name, msgs in cross_field_errors(parsed).items()}

