"""JDBC source: copy rows of database tables (or one query) into Kafka topics, with the keys,
source partitions and offsets of Confluent's ``io.confluent.connect.jdbc.JdbcSourceConnector``,
so a config and its committed offsets carry over from a Kafka Connect cluster.

Work split: ``task_configs`` lists the tables (SQLAlchemy inspection, filtered by
``table.whitelist``/``table.blacklist``) and deals them into at most ``tasks.max`` contiguous
groups, each task config carrying its group under ``tables``; query mode yields one task.
Records: key None, ``kafka_partition`` None, value a Struct whose schema is built from the
table's columns (named after the table; unnamed in query mode); topic ``topic.prefix`` + table
name (query mode: ``topic.prefix`` alone). Partitions: ``{"protocol": "1", "table":
"<db>.<schema>.<table>"}`` (fully qualified as the database names it: PostgreSQL
``db.schema.table``, MySQL ``db.table``, SQLite ``table``) or ``{"query": "query"}``.
Offsets and query predicates: see ``querier.py``.

Lambda shape: a task keeps one connection and at most one open result set; ``poll`` never
sleeps — a table whose ``poll.interval.ms`` has not elapsed makes ``poll`` return None so the
runtime can end the invocation.
"""

from __future__ import annotations

import collections
import logging
import time
from collections.abc import Mapping
from typing import Any, ClassVar

from lambda_connect.api import (
    ConfigDef,
    ConfigKey,
    ConfigType,
    ConfigValue,
    ConnectException,
    Importance,
    RetriableException,
    SourceConnector,
    SourceRecord,
    SourceTask,
    Task,
)
from lambda_connect.api.config import Range, ValidString

from .columns import row_shape, zone
from .querier import Mode, Querier, TsKind

__all__ = ["JdbcSourceConnector", "JdbcSourceTask"]

log = logging.getLogger(__name__)

_DB, _MODE, _CONN = "Database", "Mode", "Connector"
_MISSING_EXTRA = "The JDBC source needs SQLAlchemy and a driver: pip install 'lambda-connect[jdbc]'"
TABLES_CONFIG = "tables"

CONFIG_DEF = ConfigDef(
    ConfigKey(name="connection.url", type=ConfigType.STRING, importance=Importance.HIGH, group=_DB,
              doc="JDBC connection URL (jdbc:postgresql://, jdbc:mysql://, jdbc:mariadb://, jdbc:sqlite:) "
                  "or a SQLAlchemy URL."),
    ConfigKey(name="connection.user", type=ConfigType.STRING, default=None, importance=Importance.HIGH, group=_DB,
              doc="JDBC connection user."),
    ConfigKey(name="connection.password", type=ConfigType.PASSWORD, default=None, importance=Importance.HIGH,
              group=_DB, doc="JDBC connection password."),
    ConfigKey(name="connection.attempts", type=ConfigType.INT, default=3, validator=Range.at_least(1), group=_DB,
              importance=Importance.LOW, doc="How many times to try connecting before the task fails."),
    ConfigKey(name="connection.backoff.ms", type=ConfigType.LONG, default=10000, validator=Range.at_least(0),
              group=_DB, importance=Importance.LOW, doc="Pause in ms between two connection attempts."),
    ConfigKey(name="table.whitelist", type=ConfigType.LIST, default="", group=_DB,
              doc="Copy only these tables (by name or schema.table); cannot be combined with table.blacklist."),
    ConfigKey(name="table.blacklist", type=ConfigType.LIST, default="", group=_DB,
              doc="Copy every table except these; cannot be combined with table.whitelist."),
    ConfigKey(name="schema.pattern", type=ConfigType.STRING, default=None, group=_DB,
              doc="Schema pattern (SQL LIKE: % and _) to fetch table metadata from the database. Unset: the "
                  "connection's default schema (Confluent scans every schema; we avoid system schemas)."),
    ConfigKey(name="catalog.pattern", type=ConfigType.STRING, default=None, group=_DB, importance=Importance.LOW,
              doc="Accepted for compatibility: a connection is bound to one database (catalog)."),
    ConfigKey(name="table.types", type=ConfigType.LIST, default="TABLE", group=_DB, importance=Importance.LOW,
              doc="Kinds of relation to copy: TABLE (the default); add VIEW to copy views too."),
    ConfigKey(name="db.timezone", type=ConfigType.STRING, default="UTC", group=_DB,
              doc="Name of the timezone in which timestamp columns without time zone hold their values."),
    ConfigKey(name="mode", type=ConfigType.STRING, default="", group=_MODE, importance=Importance.HIGH,
              validator=ValidString("", *(m.value for m in Mode)),
              doc="The mode for updating a table each time it is polled: bulk, incrementing, timestamp or "
                  "timestamp+incrementing."),
    ConfigKey(name="incrementing.column.name", type=ConfigType.STRING, default="", group=_MODE,
              doc="Column whose values only ever grow; rows above the stored value are new. Empty: the "
                  "table's auto-increment column."),
    ConfigKey(name="timestamp.column.name", type=ConfigType.LIST, default="", group=_MODE,
              doc="One or more timestamp columns (comma list) that mark a row new or changed; with several, "
                  "the first non-null one (COALESCE) counts."),
    ConfigKey(name="timestamp.initial", type=ConfigType.LONG, default=None, group=_MODE,
              doc="Epoch milliseconds to start reading timestamp columns from when there is no offset; -1 means "
                  "the current time. Unset: from the beginning."),
    ConfigKey(name="validate.non.null", type=ConfigType.BOOLEAN, default=True, group=_MODE,
              doc="true: refuse to start when an incrementing or timestamp column may hold NULL (such rows "
                  "would never be read)."),
    ConfigKey(name="query", type=ConfigType.STRING, default="", group=_MODE,
              doc="Read the rows of this SELECT instead of whole tables. It runs as a subquery, so it may carry "
                  "a WHERE clause of its own."),
    ConfigKey(name="poll.interval.ms", type=ConfigType.INT, default=5000, validator=Range.at_least(0), group=_CONN,
              importance=Importance.HIGH, doc="How often, in ms, each table is queried for new rows."),
    ConfigKey(name="batch.max.rows", type=ConfigType.INT, default=100, validator=Range.at_least(1), group=_CONN,
              doc="Upper bound on the rows one query returns."),
    ConfigKey(name="topic.prefix", type=ConfigType.STRING, importance=Importance.HIGH, group=_CONN,
              doc="Topic name = this prefix + the table name; with 'query', the whole topic name."),
    ConfigKey(name="timestamp.delay.interval.ms", type=ConfigType.LONG, default=0, validator=Range.at_least(0),
              group=_CONN, doc="A row is read only once its timestamp is at least this many ms old, so that "
                               "late commits with earlier timestamps are not skipped."),
)


def _engine(config: Mapping[str, Any]) -> Any:
    try:
        from .urls import engine_for
    except ImportError as e:  # pragma: no cover - depends on the installed extras
        raise ConnectException(_MISSING_EXTRA) from e
    password = config["connection.password"]
    return engine_for(config["connection.url"], config["connection.user"], password.value() if password else None)


def _like(pattern: str) -> Any:
    import re

    return re.compile("".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern) + r"\Z")


def list_tables(conn: Any, config: Mapping[str, Any]) -> list[str]:
    """Qualified names (``schema.table``, or ``table`` in the default schema of MySQL/SQLite)
    of the tables to copy, sorted, after the white/black lists."""
    import sqlalchemy as sa

    inspector = sa.inspect(conn)
    backend = conn.dialect.name
    default = inspector.default_schema_name
    schemas: list[str | None] = [None]
    if config["schema.pattern"]:
        regex = _like(config["schema.pattern"])
        schemas = [s for s in inspector.get_schema_names() if regex.match(s)]
    types = {t.strip().upper() for t in config["table.types"]}
    names: list[str] = []
    for schema in schemas:
        found = list(inspector.get_table_names(schema=schema)) if "TABLE" in types else []
        if "VIEW" in types:
            found += inspector.get_view_names(schema=schema)
        prefix = f"{schema or default}." if backend == "postgresql" or schema not in (None, default) else ""
        names += [prefix + n for n in found]
    white, black = set(config["table.whitelist"]), set(config["table.blacklist"])

    def matches(qualified: str, wanted: set[str]) -> bool:
        return qualified in wanted or qualified.rsplit(".", 1)[-1] in wanted

    if white:
        names = [n for n in names if matches(n, white)]
    elif black:
        names = [n for n in names if not matches(n, black)]
    return sorted(names)


def group_partitions(items: list[str], groups: int) -> list[list[str]]:
    """Kafka's ``ConnectorUtils.groupPartitions``: contiguous, nearly equal groups."""
    n = min(groups, len(items))
    size, extra = divmod(len(items), n) if n else (0, 0)
    out, start = [], 0
    for i in range(n):
        end = start + size + (1 if i < extra else 0)
        out.append(items[start:end])
        start = end
    return out


class JdbcSourceConnector(SourceConnector):
    """Copies tables or a query from PostgreSQL, MySQL/MariaDB or SQLite into Kafka."""

    name: ClassVar[str] = "io.confluent.connect.jdbc.JdbcSourceConnector"
    version: ClassVar[str | None] = "10.8.0"
    config_def: ClassVar[ConfigDef] = CONFIG_DEF

    @classmethod
    def task_class(cls) -> type[Task]:
        return JdbcSourceTask

    @classmethod
    def validate(cls, props: Mapping[str, str]) -> dict[str, ConfigValue]:
        """Cross-key rules Confluent checks in ``JdbcSourceConnectorConfig``."""
        errors: dict[str, list[str]] = collections.defaultdict(list)
        mode = (props.get("mode") or "").strip()
        if not mode:
            errors["mode"].append(
                "Invalid value  for configuration mode: String must be one of: bulk, incrementing, timestamp, "
                "timestamp+incrementing"
            )
        if mode in ("timestamp", "timestamp+incrementing") and not (props.get("timestamp.column.name") or "").strip():
            errors["timestamp.column.name"].append(f"timestamp.column.name must be set in mode {mode}")
        if (props.get("table.whitelist") or "").strip() and (props.get("table.blacklist") or "").strip():
            msg = "table.whitelist and table.blacklist are exclusive."
            errors["table.whitelist"].append(msg)
            errors["table.blacklist"].append(msg)
        if (props.get("query") or "").strip() and (
            (props.get("table.whitelist") or "").strip() or (props.get("table.blacklist") or "").strip()
        ):
            errors["query"].append("Do not specify table filtering when using a query.")
        return {k: ConfigValue(k, props.get(k), errors=v) for k, v in errors.items()}

    def start(self, props: Mapping[str, str]) -> None:
        problems = self.validate(props)
        self.config = self.config_def.parse(props)
        if problems:
            from lambda_connect.api import ConfigException

            raise ConfigException(errors={k: v.errors for k, v in problems.items()})
        super().start(props)

    def task_configs(self, max_tasks: int) -> list[dict[str, str]]:
        """Query mode: one task. Table mode: the tables found now, split across tasks; no
        table → no task (Confluent does the same and logs it)."""
        if self.config["query"]:
            return [dict(self.props, **{TABLES_CONFIG: ""})]
        engine = _engine(self.config)
        with engine.connect() as conn:
            tables = list_tables(conn, self.config)
        if not tables:
            log.warning("JDBC source: no table matches the whitelist/blacklist and table.types; nothing to copy")
            return []
        return [dict(self.props, **{TABLES_CONFIG: ",".join(g)}) for g in group_partitions(tables, max_tasks)]


class JdbcSourceTask(SourceTask):
    """Polls its tables (or the query) round-robin over one connection."""

    def start(self, props: Mapping[str, str]) -> None:
        problems = JdbcSourceConnector.validate(props)
        if problems:
            from lambda_connect.api import ConfigException

            raise ConfigException(errors={k: v.errors for k, v in problems.items()})
        cfg = CONFIG_DEF.parse(props)
        self._mode = Mode(cfg["mode"])
        self._batch = cfg["batch.max.rows"]
        self._interval = cfg["poll.interval.ms"] / 1000.0
        self._tz = zone(cfg["db.timezone"])
        self._cfg = cfg
        try:
            import sqlalchemy  # noqa: F401
        except ImportError as e:  # pragma: no cover - depends on the installed extras
            raise ConnectException(_MISSING_EXTRA) from e
        self._conn = self._connect(cfg)
        self._backend = self._conn.dialect.name
        self._driver = self._conn.dialect.driver
        # Rows are fetched from the DB-API cursor directly, so driver errors arrive unwrapped.
        self._driver_error: type[Exception] = self._conn.dialect.loaded_dbapi.Error
        try:
            if cfg["query"]:
                queriers = [self._query_querier(cfg)]
            else:
                tables = [t for t in (props.get(TABLES_CONFIG) or "").split(",") if t]
                if not tables:
                    raise ConnectException("Invalid configuration: each JdbcSourceTask must have at least one table "
                                           "assigned to it or one query specified")
                queriers = [self._table_querier(cfg, t) for t in tables]
        finally:
            self._conn.rollback()
        self._queue: collections.deque[Querier] = collections.deque(queriers)

    # --- setup --------------------------------------------------------------------------
    def _connect(self, cfg: Mapping[str, Any]) -> Any:
        attempts, backoff = cfg["connection.attempts"], cfg["connection.backoff.ms"] / 1000.0
        for attempt in range(1, attempts + 1):
            try:
                conn = _engine(cfg).connect()
                if conn.dialect.name == "mysql":
                    # TIMESTAMP columns then read and compare in UTC; reset in stop().
                    conn.exec_driver_sql("SET time_zone = '+00:00'")
                return conn
            except Exception as e:
                if attempt == attempts or not _is_transient(e):
                    raise ConnectException(f"Failed to connect to the database after {attempt} attempt(s): {e}") from e
                time.sleep(backoff)
        raise AssertionError("unreachable")

    def _stored_offset(self, partitions: list[dict[str, Any]]) -> Mapping[str, Any] | None:
        reader = self.context.offset_storage_reader if self.context is not None else None
        if reader is None:
            return None
        for p in partitions:  # protocol 1 first, then Confluent's legacy {"table": name}
            found = reader.offset(p)
            if found:
                return found
        return None

    def _table_querier(self, cfg: Mapping[str, Any], qualified: str) -> Querier:
        import sqlalchemy as sa

        conn = self._conn
        schema, _, name = qualified.rpartition(".")
        table = sa.Table(name, sa.MetaData(), schema=schema or None, autoload_with=conn)
        # SQLite reports INTEGER PRIMARY KEY as nullable; a primary key never holds NULL.
        cols = [{"name": c.name, "type": c.type, "nullable": c.nullable and not c.primary_key} for c in table.columns]
        shape, _kept = row_shape(name, cols, self._backend, self._tz, qualified)
        inc_name = self._incrementing_column(cfg, table) if self._mode.uses_incrementing else None
        ts_names = list(cfg["timestamp.column.name"]) if self._mode.uses_timestamp else []
        for col in [c for c in [inc_name, *ts_names] if c]:
            if col not in table.c:
                raise ConnectException(f"Column {col} not found in table {qualified}")
            if shape.schema.field(col) is None:
                raise ConnectException(f"Column {col} of table {qualified} has an unsupported type")
        if cfg["validate.non.null"]:
            if inc_name and table.c[inc_name].nullable and not table.c[inc_name].primary_key:
                raise ConnectException(f"Incrementing column {inc_name} of {qualified} allows NULL, so rows with NULL "
                                       "there would never be read: make it NOT NULL or set validate.non.null=false")
            for ts in ts_names:
                if table.c[ts].nullable:
                    raise ConnectException(f"Timestamp column {ts} of {qualified} allows NULL, so rows with NULL there "
                                           "would never be read: make it NOT NULL or set validate.non.null=false")
        fq = self._fully_qualified(schema, name)
        partition = {"protocol": "1", "table": fq}
        return Querier(
            mode=self._mode, partition=partition, topic=cfg["topic.prefix"] + name, source=table, shape=shape,
            timestamp_columns=ts_names, incrementing_column=inc_name,
            ts_kind=self._ts_kind(table.c[ts_names[0]].type if ts_names else None),
            db_tz=self._tz, backend=self._backend, driver=self._driver, delay_ms=cfg["timestamp.delay.interval.ms"],
            offset=self._stored_offset([partition, {"table": name}]), timestamp_initial=cfg["timestamp.initial"],
        )

    def _query_querier(self, cfg: Mapping[str, Any]) -> Querier:
        import sqlalchemy as sa

        query = cfg["query"].strip().rstrip(";")
        probe = self._conn.exec_driver_sql(f"SELECT * FROM ({query}) lc_probe WHERE 1 = 0")
        description = probe.cursor.description or []
        probe.close()
        names = [d[0] for d in description]
        source = sa.text(query).columns(*[sa.column(n) for n in names]).subquery("lc_query")
        ts_names = list(cfg["timestamp.column.name"]) if self._mode.uses_timestamp else []
        inc_name = cfg["incrementing.column.name"] or None
        if self._mode.uses_incrementing and not inc_name:
            raise ConnectException("Query mode with an incrementing column needs incrementing.column.name")
        for col in [c for c in [inc_name, *ts_names] if c]:
            if col not in names:
                raise ConnectException(f"Column {col} not found in the result of the query")
        ts_kind = self._ts_kind(None, description[names.index(ts_names[0])][1] if ts_names else None)
        return Querier(
            mode=self._mode, partition={"query": "query"}, topic=cfg["topic.prefix"], source=source, shape=None,
            timestamp_columns=ts_names, incrementing_column=inc_name, ts_kind=ts_kind, db_tz=self._tz,
            backend=self._backend, driver=self._driver, delay_ms=cfg["timestamp.delay.interval.ms"],
            offset=self._stored_offset([{"query": "query"}]), timestamp_initial=cfg["timestamp.initial"],
        )

    def _incrementing_column(self, cfg: Mapping[str, Any], table: Any) -> str:
        if cfg["incrementing.column.name"]:
            return str(cfg["incrementing.column.name"])
        import sqlalchemy as sa

        pk = list(table.primary_key.columns)
        candidates = [c for c in table.columns if c.autoincrement is True] or (
            pk if len(pk) == 1 and isinstance(pk[0].type, sa.Integer) else []
        )
        if len(candidates) != 1:
            raise ConnectException(f"Cannot find an auto-increment column in table {table.fullname}: set "
                                   "incrementing.column.name")
        return str(candidates[0].name)

    def _ts_kind(self, sa_type: Any, type_code: Any = None) -> TsKind:
        backend = self._backend
        if backend == "sqlite":
            return TsKind.TEXT
        if backend == "mysql":
            if sa_type is not None:
                timestamp = type(sa_type).__name__.upper() == "TIMESTAMP"
            else:
                from pymysql.constants import FIELD_TYPE

                timestamp = type_code == FIELD_TYPE.TIMESTAMP
            return TsKind.NAIVE_UTC if timestamp else TsKind.NAIVE_LOCAL
        if sa_type is not None:
            return TsKind.AWARE if getattr(sa_type, "timezone", False) else TsKind.NAIVE_LOCAL
        if backend == "postgresql" and type_code is not None:
            from psycopg import adapters

            info = adapters.types.get(type_code)
            return TsKind.AWARE if info is not None and info.name == "timestamptz" else TsKind.NAIVE_LOCAL
        return TsKind.AWARE

    def _fully_qualified(self, schema: str, name: str) -> str:
        """The partition's table name as Confluent builds it from JDBC metadata."""
        if self._backend == "sqlite":
            return name
        if self._backend == "mysql":
            database = schema or self._conn.exec_driver_sql("SELECT DATABASE()").scalar()
            return f"{database}.{name}"
        database = self._conn.exec_driver_sql("SELECT current_database()").scalar()
        return f"{database}.{schema or self._conn.dialect.default_schema_name}.{name}"

    # --- polling ------------------------------------------------------------------------
    def poll(self) -> list[SourceRecord] | None:
        """Records from the first due table; None when no table is due yet (the runtime
        should end the invocation rather than wait)."""
        return self._poll(False)

    def poll_columns(self) -> list[Any] | None:
        """What ``poll`` returns, as one ``ColumnarRecords`` run of the table's rows: the
        converted result columns themselves, no Struct or SourceRecord per row."""
        return self._poll(True)

    def _poll(self, columns: bool) -> list[Any] | None:
        from sqlalchemy.exc import DBAPIError

        queue = self._queue
        for _ in range(len(queue)):
            querier = queue[0]
            try:
                if not querier.active:
                    now = time.monotonic()
                    if querier.next_due > now:
                        return None
                    querier.execute(self._conn, self._batch, now)
                records, exhausted = querier.read(self._batch, columns)
            except (DBAPIError, self._driver_error) as e:
                self._reset(querier)
                if _is_transient(e):
                    raise RetriableException(f"Failed to run query for {querier.partition}: {e}") from e
                raise ConnectException(f"Failed to run query for {querier.partition}: {e}") from e
            if exhausted:
                querier.close(self._conn)
                querier.next_due = querier.last_started + self._interval
                queue.rotate(-1)
            if records:
                return records
        return []

    def _reset(self, querier: Querier) -> None:
        try:
            querier.close(self._conn)
        except Exception:  # the connection is already broken; a new one comes next
            self._conn.invalidate()
            self._conn = self._connect(self._cfg)

    def stop(self) -> None:
        conn = getattr(self, "_conn", None)
        if conn is None:
            return
        try:
            for querier in getattr(self, "_queue", ()):
                querier.close(conn)
            if self._backend == "mysql":
                conn.exec_driver_sql("SET time_zone = DEFAULT")
            conn.close()
        except Exception as e:  # stop must not raise
            log.warning("Closing the JDBC source connection failed: %s", e)
        self._conn = None


def _is_transient(error: BaseException) -> bool:
    """Connection loss and the like: worth a retry on a fresh connection."""
    from sqlalchemy.exc import DBAPIError, OperationalError

    if isinstance(error, OperationalError) or (isinstance(error, DBAPIError) and error.connection_invalidated):
        return True
    return type(error).__name__ in ("OperationalError", "InterfaceError")
