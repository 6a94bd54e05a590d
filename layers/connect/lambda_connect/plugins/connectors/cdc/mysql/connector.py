"""``io.debezium.connector.mysql.MySqlConnector`` and ``io.debezium.connector.mariadb.MariaDbConnector``:
row changes from the binlog as Debezium's change events, one scheduled tick at a time.

A tick reads the binlog from the stored position up to the end the server reported when the tick
started (``SHOW MASTER STATUS``), so it ends even on a busy server. MariaDB resumes by GTID once the
stored offset has ``gtids`` (see ``_open_reader`` for why that reader blocks); a MySQL with
``gtid_mode=ON`` by its GTID set (``gtids``, kept from the connector's first tick on; this path has
not been run against a MySQL server here — only its set logic is tested); otherwise by file and
position (``mysql-replication`` with ``is_mariadb=False``: measured to work against MariaDB too,
while its MariaDB mode ignores a start position). Column names come from the binlog's
table map, which needs ``binlog_row_metadata=FULL``; types and nullability from
``information_schema``, re-read whenever a table's columns change, so added and dropped columns show
from the next event on without a schema-history topic.

Offsets (partition ``{"server": topic.prefix}``): ``file``/``pos`` (and ``gtids``, MariaDB's GTID
position or MySQL's GTID set there) is where the transaction of the last published row began, ``event`` how many row
events of it to skip and ``row`` how many rows of the next one, so a tick cut inside a transaction
resumes exactly after the last acknowledged row.
The server keeps no reader position: when no captured table changes, only heartbeats
(``heartbeat.interval.ms``) move the stored position forward — without them a quiet table's
position can fall behind the binlog retention.

Snapshots read tables in primary-key chunks inside ``START TRANSACTION WITH CONSISTENT SNAPSHOT``;
MariaDB reports the binlog position of that snapshot (``binlog_snapshot_file``/``_position``), so a
chunk is published exactly where it belongs in the stream: after every change it contains and
before every change it does not. (On MySQL the position is read just before the snapshot starts:
a change committed in between is then published twice, never lost or reordered.) Blocking snapshot
signals and ``snapshot.mode=always`` are planned in ``..snapshots``.
"""

from __future__ import annotations

import logging
import time
import zlib
from collections import deque
from collections.abc import Mapping
from typing import Any, ClassVar

from lambda_connect.api import (
    ConfigDef,
    ConfigException,
    ConfigKey,
    ConfigType,
    ConnectException,
    Importance,
    Schema,
    SourceRecord,
    SourceTask,
    Struct,
    Task,
    Type,
)

from ..common import (
    COMMON_KEYS,
    CONNECTOR_VERSION,
    CdcSourceConnector,
    ChangeEmitter,
    TableFilter,
    TableShape,
    TransactionMetadata,
    apply_signal,
    build_shape,
    chunk_size,
    heartbeat_record,
    namespace_keys,
    parse_skipped,
    port_key,
    snapshot_from_offset,
    snapshot_mode,
    snapshot_offset_fields,
    source_schema,
    topic_safe,
)
from ..postgres.types import Modes
from ..snapshots import SnapshotPlans, blocking_signal, snapshot_marker
from .gtid import GtidPosition, GtidSet, mysql_resume
from .types import column_type

__all__ = ["MariaDbConnector", "MySqlConnector", "MySqlTask", "binlog_lag"]

log = logging.getLogger(__name__)
_MISSING = "The MySQL/MariaDB CDC source needs mysql-replication: pip install 'lambda-connect[cdc]'"
_SYSTEM_DBS = ("mysql", "information_schema", "performance_schema", "sys")

CONFIG_DEF = COMMON_KEYS + namespace_keys("database", "database") + ConfigDef(
    port_key(3306, "MySQL/MariaDB"),
    ConfigKey(name="database.server.id", type=ConfigType.LONG, default=None, group="Connection",
              doc="Replica id the connector registers with; unique among the server's replicas. Unset: derived "
                  "from topic.prefix (stable, between 5400 and 65399)."),
    ConfigKey(name="database.ssl.mode", type=ConfigType.STRING, default="disabled", group="Connection",
              importance=Importance.LOW, doc="disabled, or required to insist on TLS."),
)


def _server_id(cfg: Mapping[str, Any]) -> int:
    if cfg["database.server.id"] is not None:
        return int(cfg["database.server.id"])
    return 5400 + zlib.crc32(str(cfg["topic.prefix"]).encode()) % 60000


class MySqlConnector(CdcSourceConnector):
    """Streams row changes of MySQL tables from the binlog."""

    name: ClassVar[str] = "io.debezium.connector.mysql.MySqlConnector"
    version: ClassVar[str | None] = CONNECTOR_VERSION
    config_def: ClassVar[ConfigDef] = CONFIG_DEF
    flavour: ClassVar[str] = "mysql"

    @classmethod
    def task_class(cls) -> type[Task]:
        return MariaDbTask if cls.flavour == "mariadb" else MySqlTask


class MariaDbConnector(MySqlConnector):
    """The same for MariaDB (events name ``mariadb`` as their connector)."""

    name: ClassVar[str] = "io.debezium.connector.mariadb.MariaDbConnector"
    flavour: ClassVar[str] = "mariadb"


def _pos_key(file: str, pos: int) -> tuple[str, int]:
    return (file, pos)


class _Chunk:
    first = False  # the chunk starts its table

    def __init__(self, table: str, rows: list[dict[str, Any]], last_key: list | None, full: bool,
                 at: tuple[str, int]) -> None:
        self.table = table
        self.rows = rows
        self.last_key = last_key
        self.full = full
        self.at = at


class MySqlTask(SnapshotPlans, SourceTask):
    """Reads the binlog for one tick; see the module docstring."""

    flavour: ClassVar[str] = "mysql"

    def start(self, props: Mapping[str, str]) -> None:
        problems = MySqlConnector.validate(props)
        if problems:
            raise ConfigException(errors={k: v.errors for k, v in problems.items()})
        try:
            import pymysqlreplication  # noqa: F401
        except ImportError as e:  # pragma: no cover - depends on the installed extras
            raise ConnectException(_MISSING) from e
        cfg = CONFIG_DEF.parse(props)
        self._cfg = cfg
        self._props = dict(props)
        self._prefix = cfg["topic.prefix"]
        self._filter = TableFilter(cfg)
        self._modes = Modes(cfg["decimal.handling.mode"].lower(), "adaptive_time_microseconds"
                            if cfg["time.precision.mode"].lower() == "adaptive" else cfg["time.precision.mode"].lower(),
                            cfg["binary.handling.mode"].lower())
        self._batch = cfg["max.batch.size"]
        self._partition = {"server": self._prefix}
        self._emitter = ChangeEmitter(self._partition, cfg["tombstones.on.delete"],
                                      parse_skipped(cfg["skipped.operations"]))
        self._source_schema = source_schema(self.flavour)
        self._txmeta = (TransactionMetadata(self._partition, topic_safe(f"{self._prefix}.{cfg['topic.transaction']}"))
                        if cfg["provide.transaction.metadata"] else None)
        self._server_id = _server_id(cfg)
        self._shapes: dict[str, tuple[tuple[str, ...], TableShape, list[str]]] = {}
        self._pending: deque[SourceRecord] = deque()
        self._reader: Any = None
        self._chunk: _Chunk | None = None
        self._heartbeat_sent = False
        signal = cfg["signal.data.collection"]
        self._signal = signal.strip() if signal else None
        self._lag: int | None = None
        self._conn = self._connect()
        try:
            self._check_server()
            self._prepare()
        except BaseException:
            self.stop()
            raise

    # --- setup --------------------------------------------------------------------------
    def _settings(self) -> dict[str, Any]:
        cfg = self._cfg
        password = cfg["database.password"]
        settings: dict[str, Any] = {"host": cfg["database.hostname"], "port": cfg["database.port"],
                                    "user": cfg["database.user"], "password": password.value() if password else ""}
        if str(cfg["database.ssl.mode"]).lower() not in ("disabled", "disable", ""):
            settings["ssl"] = {}
        return settings

    def _connect(self) -> Any:
        import pymysql

        s = self._settings()
        try:
            conn = pymysql.connect(host=s["host"], port=s["port"], user=s["user"], password=s["password"],
                                   autocommit=True, connect_timeout=10, ssl=s.get("ssl"))
        except pymysql.err.OperationalError as e:
            code = e.args[0] if e.args else None
            hint = (" Check database.user and database.password." if code == 1045
                    else " Check database.hostname and database.port.")
            raise ConnectException(f"Could not connect to {self.flavour} at {s['host']}:{s['port']} as "
                                   f"{s['user']}: {e.args[-1] if e.args else e}.{hint}") from e
        with conn.cursor() as cur:
            cur.execute("SET time_zone = '+00:00'")
        return conn

    def _query(self, sql: str, args: Any = None) -> list[tuple]:
        with self._conn.cursor() as cur:
            cur.execute(sql, args)
            return list(cur.fetchall())

    def _variable(self, name: str) -> str | None:
        rows = self._query("SHOW GLOBAL VARIABLES LIKE %s", (name,))
        return str(rows[0][1]) if rows else None

    def _check_server(self) -> None:
        wanted = {"log_bin": "ON", "binlog_format": "ROW", "binlog_row_image": "FULL", "binlog_row_metadata": "FULL"}
        wrong = []
        for name, value in wanted.items():
            found = self._variable(name)
            if found is not None and found.upper() != value:
                wrong.append(f"{name}={found}")
        if wrong:
            raise ConnectException(
                f"The server's binlog is not set up for change data capture ({', '.join(wrong)}): it needs "
                "log_bin=ON, binlog_format=ROW, binlog_row_image=FULL and binlog_row_metadata=FULL (MariaDB 10.5+, "
                "MySQL 8.0+). On Amazon RDS/Aurora set them in the parameter group, turn on automated backups "
                "and keep the binlog long enough (mysql.rds_set_configuration('binlog retention hours', N)).")

    def _master_status(self) -> tuple[str, int]:
        for sql in ("SHOW MASTER STATUS", "SHOW BINARY LOG STATUS"):
            try:
                rows = self._query(sql)
            except Exception:  # MySQL 8.4 renamed the statement
                continue
            if rows:
                return str(rows[0][0]), int(rows[0][1])
        raise ConnectException("The server reports no binlog position (SHOW MASTER STATUS is empty): is log_bin on?")

    def _prepare(self) -> None:
        reader = self.context.offset_storage_reader if self.context is not None else None
        stored = dict((reader.offset(self._partition) if reader is not None else None) or {})
        mode = snapshot_mode(self._cfg)
        self._target = self._master_status()
        files = [str(r[0]) for r in self._query("SHOW BINARY LOGS")]
        # MariaDB: GTIDs read to their end, per domain; MySQL with gtid_mode=ON: the set read so far
        self._gtids: GtidPosition | GtidSet | None = None
        self._use_gtid = False
        self._target_gtids = self._mysql_gtids() if self.flavour == "mysql" else None
        if self.flavour == "mariadb" and stored.get("gtids"):
            self._gtids = GtidPosition.parse(str(stored["gtids"]))
            self._use_gtid = bool(self._gtids)
        elif self._target_gtids is not None and stored.get("gtids"):
            stored = self._mysql_resume(stored, mode)
        if stored.get("file") and stored["file"] not in files and not self._use_gtid:
            if mode != "when_needed":
                raise ConnectException(
                    f"The stored binlog position {stored['file']}:{stored.get('pos')} is gone: the server purged "
                    f"that file (oldest kept: {files[0] if files else 'none'}). Changes since then are lost. Keep the "
                    "binlog longer than the tick interval, then reset the connector's offsets to copy the tables "
                    "again (or set snapshot.mode=when_needed).")
            stored = {}
        if stored.get("file"):
            self._pos = (str(stored["file"]), int(stored["pos"]))
            self._skip = (int(stored.get("event") or 0), int(stored.get("row") or 0))
        else:
            self._pos = self._target
            self._skip = (0, 0)
        if self.flavour == "mariadb" and self._gtids is None:
            self._gtids = self._gtid_at(self._pos)
        elif self._target_gtids is not None and self._gtids is None and self._pos == self._target:
            self._gtids = self._target_gtids.copy()  # the set at the end of the binlog, where this tick starts
        self._gtids_text = str(self._gtids) if self._gtids else None
        self._tx_gtid: str | None = None
        self._tx_seen = False
        self._snapshot = snapshot_from_offset(stored)
        if self._snapshot is None and not stored and mode in ("initial", "initial_only", "when_needed"):
            self._snapshot = {"tables": self._captured_tables(), "after": None}
        self._snapshot = self._plan_start(self._props, mode, stored, self._snapshot, self._captured_tables)
        self._stream = mode != "initial_only"
        self._read_done = False
        self._last_heartbeat = int(stored.get("ts_heartbeat") or 0)
        self._unanchored = not stored.get("file")
        self._produced = 0

    def _mysql_gtids(self) -> GtidSet | None:
        """On a MySQL with ``gtid_mode=ON``: the GTID set at the end of the binlog, read in the same
        ``SHOW MASTER STATUS`` as the tick's target position (which it refreshes). None elsewhere
        (MariaDB, GTIDs off, tagged GTIDs the binlog reader cannot send): file/pos only."""
        try:
            mode = self._variable("gtid_mode")
            if str(mode or "").upper() != "ON":
                return None
            for sql in ("SHOW MASTER STATUS", "SHOW BINARY LOG STATUS"):
                try:
                    rows = self._query(sql)
                except Exception:  # MySQL 8.4 renamed the statement
                    continue
                if rows and len(rows[0]) >= 5:
                    found = GtidSet.parse(str(rows[0][4] or ""), key="Executed_Gtid_Set")
                    if any(":" in source for source in found.ranges):
                        log.warning("The server uses tagged GTIDs, which the binlog reader cannot send: resuming by "
                                    "file and position")
                        return None
                    self._target = (str(rows[0][0]), int(rows[0][1]))
                    return found
        except ConnectException:
            raise
        except Exception as e:  # not a MySQL, or one that does not say: file/pos, as before
            log.info("No MySQL GTID set available (%s): resuming by file and position", e)
        return None

    def _mysql_resume(self, stored: dict[str, Any], mode: str) -> dict[str, Any]:
        """Resume a stored MySQL GTID set, unless the server purged transactions it lacks (then the
        task fails naming them, or starts over under ``snapshot.mode=when_needed``)."""
        wanted = GtidSet.parse(str(stored["gtids"]))
        purged = GtidSet.parse(self._variable("gtid_purged") or "", key="gtid_purged")
        lost = mysql_resume(wanted, purged)
        if lost:
            if mode != "when_needed":
                raise ConnectException(
                    f"The server purged transactions the stored GTID set {wanted} has not read ({lost}): their "
                    "changes are lost. Keep the binlog longer than the tick interval, then reset the connector's "
                    "offsets to copy the tables again (or set snapshot.mode=when_needed).")
            log.warning("The server purged transactions %s the stored GTID set lacks: copying the tables again "
                        "(snapshot.mode=when_needed)", lost)
            return {}
        self._gtids = wanted
        self._use_gtid = bool(wanted)
        return stored

    def _gtid_at(self, position: tuple[str, int]) -> GtidPosition:
        """MariaDB's GTID position at a binlog file/pos (empty before the first GTID, or when the
        server cannot tell)."""
        try:
            rows = self._query("SELECT BINLOG_GTID_POS(%s, %s)", position)
        except Exception as e:  # an old server or a purged file: resume by file/pos only
            log.info("No GTID position for %s:%s (%s): resuming by file and position", position[0], position[1], e)
            return GtidPosition()
        return GtidPosition.parse(str(rows[0][0] or "")) if rows else GtidPosition()

    def _captured(self, db: str, table: str) -> bool:
        return db.lower() not in _SYSTEM_DBS and self._filter.table(f"{db}.{table}")

    def _captured_tables(self) -> list[str]:
        rows = self._query("SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES WHERE TABLE_TYPE = "
                           "'BASE TABLE' ORDER BY TABLE_SCHEMA, TABLE_NAME")
        return [f"{db}.{t}" for db, t in rows if self._captured(db, t)]

    # --- shapes -------------------------------------------------------------------------
    def _shape(self, db: str, table: str, names: tuple[str, ...] | None) -> tuple[TableShape, list[str]]:
        key = f"{db}.{table}"
        cached = self._shapes.get(key)
        if cached is not None and (names is None or cached[0] == names):
            return cached[1], cached[2]
        rows = self._query(
            "SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, NUMERIC_PRECISION, NUMERIC_SCALE, DATETIME_PRECISION, "
            "IS_NULLABLE, COLUMN_KEY FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s "
            "ORDER BY ORDINAL_POSITION", (db, table))
        info = {r[0]: r for r in rows}
        order = list(names) if names is not None else [r[0] for r in rows]
        columns = []
        for name in order:
            r = info.get(name)
            if r is None:  # dropped since the event was written: keep its values as text
                columns.append((name, Schema(Type.STRING, optional=True), str))
                continue
            col_schema, conv = column_type(r[1], r[2], r[3], r[4], r[5], r[6] == "YES", self._modes, self.flavour)
            columns.append((name, col_schema, conv))
        pk = [r[0] for r in rows if r[7] == "PRI"]
        shape = build_shape(self._prefix, db, table, columns, pk, lambda c: self._filter.column(key, c),
                            self._source_schema)
        self._shapes[key] = (tuple(order), shape, order)
        return shape, order

    # --- polling ------------------------------------------------------------------------
    def poll(self) -> list[SourceRecord] | None:
        out: list[SourceRecord] = []
        while len(out) < self._batch:
            if self._pending:
                take = min(self._batch - len(out), len(self._pending))
                out.extend(self._pending.popleft() for _ in range(take))
                continue
            if self._paused:  # a blocking snapshot holds the stream at its signal
                records = self._blocking_step()
                if not records:
                    break
                self._pending.extend(records)
                continue
            if self._read_done:
                if self._chunk is not None:
                    self._finish_chunk()
                    continue
                if self._snapshot is not None and self._snapshot["tables"]:
                    self._start_chunk()
                    continue
                break
            if not self._stream and self._snapshot is None:
                break
            self._read_some()
        self._produced += len(out)
        if not out and (self._heartbeat_due() or (self._unanchored and self._produced == 0)):
            # Unlike a PostgreSQL slot the server keeps no position for us: a first tick with nothing to
            # publish stores where it started through one heartbeat, or the next tick would start later.
            out.append(self._heartbeat())
            self._produced += 1
        return out

    def _open_reader(self) -> Any:
        """A reader from the current position: by GTID when the stored offset has one (MariaDB), else
        by file and pos.

        By file/pos the reader is non-blocking (``is_mariadb=False``: the library's MariaDB mode
        ignores a file/pos) and ends at the end of the binlog. By GTID, MariaDB drops a non-blocking
        dump in the middle of a large transaction and the library reconnects from the start position,
        re-reading it forever (measured on 10.11); so that reader blocks, asks the server for a
        heartbeat every second of silence, and the read ends at the tick's target position or at
        the first heartbeat (nothing more to send)."""
        from pymysqlreplication import BinLogStreamReader
        from pymysqlreplication.event import (
            GtidEvent,
            HeartbeatLogEvent,
            MariadbGtidEvent,
            QueryEvent,
            RotateEvent,
            XidEvent,
        )
        from pymysqlreplication.row_event import DeleteRowsEvent, UpdateRowsEvent, WriteRowsEvent

        events = [WriteRowsEvent, UpdateRowsEvent, DeleteRowsEvent, XidEvent, QueryEvent, RotateEvent,
                  MariadbGtidEvent, GtidEvent]
        if self._use_gtid and self.flavour == "mysql":
            # MySQL: the server sends every transaction not in the set, then ends (non-blocking dump).
            return BinLogStreamReader(
                connection_settings=self._settings(), server_id=self._server_id, blocking=False, is_mariadb=False,
                auto_position=self._gtids_text, only_events=events, enable_logging=False)
        if self._use_gtid:
            return BinLogStreamReader(
                connection_settings=self._settings(), server_id=self._server_id, blocking=True, is_mariadb=True,
                auto_position=self._gtids_text, slave_heartbeat=1.0, only_events=[*events, HeartbeatLogEvent],
                enable_logging=False)
        return BinLogStreamReader(
            connection_settings=self._settings(), server_id=self._server_id, resume_stream=True,
            log_file=self._pos[0], log_pos=self._pos[1], blocking=False, is_mariadb=False,
            only_events=events, enable_logging=False)

    def _read_some(self) -> None:
        """Read up to about one batch of rows, or to the target."""
        import pymysql
        from pymysqlreplication.event import (
            GtidEvent,
            HeartbeatLogEvent,
            MariadbGtidEvent,
            QueryEvent,
            RotateEvent,
            XidEvent,
        )
        from pymysqlreplication.row_event import DeleteRowsEvent, UpdateRowsEvent, WriteRowsEvent

        if self._reader is None:
            if self._use_gtid and self.flavour == "mariadb" and self._gtids_text == str(self._gtid_at(self._target)):
                self._read_done = True  # nothing new: a blocking reader would only wait for its heartbeat
                return
            self._reader = self._open_reader()
            self._tx_events = 0
            self._tx_gtid, self._tx_seen = None, False
        reader = self._reader
        produced = 0
        while produced < self._batch:
            try:
                event = reader.fetchone()
            except pymysql.err.OperationalError as e:
                if e.args and e.args[0] == 1236:  # the server no longer has the position asked for
                    self._position_lost(e)
                    return
                raise
            kind = type(event)
            if event is None or kind is HeartbeatLogEvent:
                self._end_read()
                return
            here = (reader.log_file, reader.log_pos)
            if kind is RotateEvent:
                if event.position and here > self._pos and event.next_binlog != self._pos[0]:
                    self._pos = (event.next_binlog, event.position)
                continue
            if here > self._target or (here[0] == self._target[0] and here[1] > self._target[1]):
                self._end_read()
                return
            if kind is MariadbGtidEvent or kind is GtidEvent:
                if self._txmeta is not None:
                    self._txmeta.reset()
                self._tx_gtid = event.gtid
                # A transaction the position already covers (the server re-sent it): read past it.
                self._tx_seen = self._gtids is not None and (
                    kind is MariadbGtidEvent or isinstance(self._gtids, GtidSet)) and self._gtids.covers(event.gtid)
                continue
            if kind is XidEvent or (kind is QueryEvent and _ends_transaction(event)):
                if not self._tx_seen:
                    self._pos = here
                    self._tx_events = 0
                    self._skip = (0, 0)
                    if self._gtids is not None and self._tx_gtid is not None:
                        self._gtids.advance(self._tx_gtid)
                        self._gtids_text = str(self._gtids)
                    if self._txmeta is not None:
                        end = self._txmeta.end(int(event.timestamp) * 1000, self._position_offset())
                        if end is not None:
                            self._pending.append(end)
                            produced += 1
                self._tx_gtid, self._tx_seen = None, False
                if here >= self._target:
                    self._end_read()
                    return
                continue
            if kind in (WriteRowsEvent, UpdateRowsEvent, DeleteRowsEvent):
                if self._tx_seen:
                    continue
                index = self._tx_events
                self._tx_events += 1
                if index < self._skip[0]:
                    if self._txmeta is not None:
                        self._count_published(event, kind, len(event.rows))
                    continue
                produced += self._rows(event, kind, index)
                if self._paused:
                    return  # a blocking snapshot signal: the stream waits at it
            elif kind is QueryEvent and self._txmeta is not None and (event.query or "").strip().upper() == "BEGIN":
                self._txmeta.reset()
        return

    def _position_lost(self, error: Exception) -> None:
        """The stored GTID or file/pos is older than anything the server still keeps."""
        where = (f"GTID position {self._gtids_text}" if self._use_gtid
                 else f"binlog position {self._pos[0]}:{self._pos[1]}")
        self._end_read()
        if snapshot_mode(self._cfg) != "when_needed":
            raise ConnectException(
                f"The server no longer has the stored {where} ({error.args[-1]}): the binlog holding it was purged "
                "and the changes since then are lost. Keep the binlog longer than the tick interval, then reset "
                "the connector's offsets to copy the tables again (or set snapshot.mode=when_needed).")
        log.warning("The stored %s is gone from the server: copying the tables again (snapshot.mode=when_needed)",
                    where)
        self._use_gtid = False
        self._pos = self._target
        self._skip = (0, 0)
        self._gtids = (self._gtid_at(self._pos) if self.flavour == "mariadb"
                       else self._target_gtids.copy() if self._target_gtids is not None else None)
        self._gtids_text = str(self._gtids) if self._gtids else None
        self._pending.clear()
        self._chunk = None
        self._snapshot = {"tables": self._captured_tables(), "after": None}

    def _end_read(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        self._read_done = True

    def _tx_id(self) -> str:
        """The transaction's GTID, or ``file:pos`` of its start where the server writes none."""
        return self._tx_gtid or f"{self._pos[0]}:{self._pos[1]}"

    def _count_published(self, event: Any, kind: type, rows: int) -> None:
        """Rows of the current transaction that an earlier tick published (a resume inside it):
        counted, so the transaction block's orders carry on, and the BEGIN is not produced again."""
        from pymysqlreplication.row_event import DeleteRowsEvent, WriteRowsEvent

        txmeta = self._txmeta
        assert txmeta is not None
        op = "c" if kind is WriteRowsEvent else "d" if kind is DeleteRowsEvent else "u"
        if rows <= 0 or op in self._emitter.skipped or not self._captured(event.schema, event.table):
            return
        if txmeta.id is None:
            txmeta.resume(self._tx_id())
        for _ in range(rows):
            txmeta.count(f"{event.schema}.{event.table}")

    def _rows(self, event: Any, kind: type, index: int) -> int:
        from pymysqlreplication.row_event import DeleteRowsEvent, WriteRowsEvent

        db, table = event.schema, event.table
        if self._signal is not None and kind is WriteRowsEvent and f"{db}.{table}" == self._signal:
            return self._on_signal(event, index)
        if not self._captured(db, table):
            return 0
        rows = event.rows
        if not rows:
            return 0
        sample = rows[0].get("values") or rows[0].get("after_values") or {}
        shape, order = self._shape(db, table, tuple(sample.keys()))
        skip_rows = self._skip[1] if index == self._skip[0] else 0
        ts_ms = int(event.timestamp) * 1000
        count = 0
        txmeta = self._txmeta
        if txmeta is not None and skip_rows:
            self._count_published(event, kind, min(skip_rows, len(rows)))
        for i, row in enumerate(rows):
            if i < skip_rows:
                continue
            if kind is WriteRowsEvent:
                op, before_raw, after_raw = "c", None, row["values"]
            elif kind is DeleteRowsEvent:
                op, before_raw, after_raw = "d", row["values"], None
            else:
                op, before_raw, after_raw = "u", row["before_values"], row["after_values"]
            before = self._raw(before_raw, order) if before_raw is not None else None
            after = self._raw(after_raw, order) if after_raw is not None else None
            key = shape.key(after if after is not None else before)
            old_key = shape.key(before) if op == "u" and before is not None else None
            source = Struct.from_values(self._source_schema, [
                CONNECTOR_VERSION, self.flavour, self._prefix, ts_ms, "false", db, None, ts_ms * 1000,
                ts_ms * 1_000_000, table, int(event.packet.server_id), self._tx_gtid, self._pos[0],
                int(event.packet.log_pos),
                i, None, None])
            prior = self._offset(index, i)
            offset = self._offset(index, i + 1)
            block = None
            if txmeta is not None and op not in self._emitter.skipped:
                if txmeta.id is None:
                    self._pending.append(txmeta.begin(self._tx_id(), ts_ms, prior))
                    count += 1
                block = txmeta.count(f"{db}.{table}")
            records = self._emitter.records(shape, op, shape.value(before) if before is not None else None,
                                            shape.value(after) if after is not None else None, source, key, old_key,
                                            prior, offset, block)
            self._pending.extend(records)
            count += len(records)
        return count

    @staticmethod
    def _raw(values: Mapping[str, Any], order: list[str]) -> list[Any]:
        return [values.get(name) for name in order]

    def _offset(self, event: int, row: int) -> dict[str, Any]:
        offset: dict[str, Any] = {"file": self._pos[0], "pos": self._pos[1], "event": event, "row": row,
                                  "server_id": self._server_id, "ts_sec": int(time.time())}
        if self._gtids_text:
            offset["gtids"] = self._gtids_text
        self._snapshot_fields(offset)
        return offset

    def _position_offset(self) -> dict[str, Any]:
        offset: dict[str, Any] = {"file": self._pos[0], "pos": self._pos[1], "server_id": self._server_id,
                                  "ts_sec": int(time.time())}
        if self._gtids_text:
            offset["gtids"] = self._gtids_text
        self._snapshot_fields(offset)
        return offset

    def _snapshot_fields(self, offset: dict[str, Any]) -> None:
        snapshot_offset_fields(self._snapshot, offset)
        if self._generation is not None or self._blocking is not None:
            self._plan_fields(offset)

    def _on_signal(self, event: Any, index: int) -> int:
        """Rows inserted into signal.data.collection: update the snapshot plan, and store the new plan
        at once through a heartbeat record, since the position moves past the signal."""
        skip_rows = self._skip[1] if index == self._skip[0] else 0
        produced = 0
        for i, row in enumerate(event.rows):
            if i < skip_rows:
                continue
            values = list((row.get("values") or {}).values())
            if len(values) < 3:
                log.warning("Signal table %s needs the columns id, type, data; the row %r is ignored", self._signal,
                            values)
                continue
            signal_id, kind, data = (None if v is None else str(v) for v in values[:3])
            known = lambda t: t != self._signal and self._captured(*t.partition(".")[::2])  # noqa: E731
            blocking = blocking_signal(str(signal_id), kind, data, self._existing(known))
            if blocking:
                # Published at the signal, with the plan; the rest of the binlog waits for the copy.
                self._pending.append(self._blocking_begin(blocking, self._offset(index, i + 1), str(signal_id)))
                self._end_read()
                return produced + 1
            before = self._snapshot
            after = apply_signal(before, str(signal_id), kind, data, known)
            if after is before:
                continue
            self._snapshot = after
            self._pending.append(heartbeat_record(self._partition, self._offset(index, i + 1),
                                                  self._cfg["topic.heartbeat.prefix"], self._prefix,
                                                  int(time.time() * 1000)))
            produced += 1
        return produced

    # --- snapshot -------------------------------------------------------------------------
    def _start_chunk(self) -> None:
        """Read one chunk in a consistent snapshot and learn its binlog position; the stream is then
        read up to that position before the chunk is published."""
        snap = self._snapshot
        assert snap is not None
        table = snap["tables"][0]
        size = chunk_size(self._cfg)
        _shape, order, pk, sql, args = self._chunk_query(table, snap["after"], size + 1)  # one more: the end?
        before_pos = self._master_status()
        with self._conn.cursor() as cur:
            cur.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT")
            try:
                cur.execute("SHOW STATUS LIKE 'binlog_snapshot_%'")
                status = dict(cur.fetchall())
                at = before_pos
                if status.get("binlog_snapshot_file"):
                    at = (str(status["binlog_snapshot_file"]), int(status["binlog_snapshot_position"]))
                cur.execute(sql, args)
                rows = list(cur.fetchall())
            finally:
                cur.execute("COMMIT")
        key_idx = [order.index(k) for k in pk]
        more, rows = len(rows) > size, rows[:size]
        last = [_jsonable(rows[-1][i]) for i in key_idx] if rows else None
        self._chunk = _Chunk(table, [list(r) for r in rows], last, more, at)
        self._chunk.first = snap["after"] is None
        snap.setdefault("first", table)  # the plan's first table: its first row is marked "first"
        self._target = max(self._target, at)
        self._read_done = False

    def _chunk_query(self, table: str, after: list | None,
                     limit: int) -> tuple[TableShape, list[str], list[str], str, list]:
        """The shape, column order and key of ``table``, and the statement reading up to ``limit``
        of its rows past the key ``after`` in key order (a table without a key cannot be chunked)."""
        db, _, name = table.partition(".")
        shape, order = self._shape(db, name, None)
        pk = [f.name for f in shape.key_schema.fields] if shape.key_schema is not None else []
        if not pk:
            raise ConnectException(f"Table {table} has no primary key: the chunked snapshot reads tables in "
                                   "primary-key order. Add a primary key or leave the table out of the filters.")
        q = lambda n: "`" + n.replace("`", "``") + "`"  # noqa: E731
        keys = ", ".join(q(k) for k in pk)
        where, args = "", []
        if after is not None:
            where = f" WHERE ({keys}) > ({', '.join('%s' for _ in pk)})"
            args = list(after)
        columns = ", ".join(q(c) for c in order)
        sql = f"SELECT {columns} FROM {q(db)}.{q(name)}{where} ORDER BY {keys} LIMIT {int(limit)}"
        return shape, order, pk, sql, args

    def _blocking_rows(self, table: str, after: list | None, limit: int) -> tuple[Any, list[list], Any]:
        shape, order, pk, sql, args = self._chunk_query(table, after, limit)
        key_idx = [order.index(k) for k in pk]
        return shape, [list(r) for r in self._query(sql, args)], lambda raw: [_jsonable(raw[i]) for i in key_idx]

    def _blocking_source(self, shape: TableShape, marker: str) -> Struct:
        now_ms = int(time.time() * 1000)
        return Struct.from_values(self._source_schema, [
            CONNECTOR_VERSION, self.flavour, self._prefix, now_ms, marker, shape.schema_or_db, None, now_ms * 1000,
            now_ms * 1_000_000, shape.table, 0, None, self._pos[0], self._pos[1], 0, None, None])

    def _finish_chunk(self) -> None:
        chunk = self._chunk
        snap = self._snapshot
        assert chunk is not None
        self._chunk = None
        if snap is None or not snap["tables"] or snap["tables"][0] != chunk.table:
            return  # a stop-snapshot signal read before the chunk's position cancelled it
        db, _, name = chunk.table.partition(".")
        shape, _ = self._shape(db, name, None)
        tables = list(snap["tables"])
        if chunk.full:
            snap["after"] = chunk.last_key
        else:
            snap["tables"] = snap["tables"][1:]
            snap["after"] = None
        last_chunk = not snap["tables"]
        if last_chunk:
            self._snapshot = None
        final = self._position_offset()
        now_ms = int(time.time() * 1000)
        key_idx = shape.key_positions
        incremental = bool(snap.get("incremental"))
        during = {"tables": tables, "after": None, "incremental": incremental, "first": snap.get("first")}
        first_table, last_table = chunk.table == snap.get("first"), len(tables) == 1
        for i, raw in enumerate(chunk.rows):
            end = i == len(chunk.rows) - 1
            if end:
                offset = final
            else:
                offset = {"file": self._pos[0], "pos": self._pos[1], "server_id": self._server_id,
                          "ts_sec": now_ms // 1000}
                snapshot_offset_fields(during, offset, after=[_jsonable(raw[k]) for k in key_idx])
                self._plan_fields(offset)
                if self._gtids_text:
                    offset["gtids"] = self._gtids_text
            source = Struct.from_values(self._source_schema, [
                CONNECTOR_VERSION, self.flavour, self._prefix, now_ms,
                "incremental" if incremental else snapshot_marker(
                    first_table, last_table, chunk.first and i == 0, not chunk.full and end), db,
                None, now_ms * 1000, now_ms * 1_000_000, name, 0, None, chunk.at[0], chunk.at[1], 0, None, None])
            self._pending.extend(self._emitter.records(shape, "r", None, shape.value(raw), source, shape.key(raw),
                                                       None, None, offset))

    # --- heartbeats -----------------------------------------------------------------------
    def _heartbeat_due(self) -> bool:
        if self._cfg["heartbeat.interval.ms"] <= 0 or self._heartbeat_sent or self._paused:
            return False
        return time.time() * 1000 - self._last_heartbeat >= self._cfg["heartbeat.interval.ms"]

    def _heartbeat(self) -> SourceRecord:
        now = int(time.time() * 1000)
        self._heartbeat_sent = True
        query = self._cfg["heartbeat.action.query"]
        if query:
            self._query(query)
        offset = self._position_offset()
        offset["ts_heartbeat"] = now
        return heartbeat_record(self._partition, offset, self._cfg["topic.heartbeat.prefix"], self._prefix, now)

    # --- lag ----------------------------------------------------------------------------
    def lag_metrics(self) -> Mapping[str, float]:
        """Bytes of binlog between where this tick stopped reading and the end of the server's
        binlog (``source_lag_bytes``), from one ``SHOW BINARY LOGS``, taken before ``stop`` closes
        the connection or on the first call after it. The server keeps no reader position, so this
        is measured from the task's own: after a tick whose records were all acknowledged, the
        stored offset."""
        self._measure_lag()
        lag = getattr(self, "_lag", None)
        return {} if lag is None else {"source_lag_bytes": float(lag)}

    def _measure_lag(self) -> None:
        if getattr(self, "_conn", None) is None or getattr(self, "_lag", None) is not None \
                or getattr(self, "_pos", None) is None:
            return
        try:
            files = [(str(r[0]), int(r[1])) for r in self._query("SHOW BINARY LOGS")]
        except Exception as e:  # a metric must never fail the tick
            log.warning("Measuring the binlog lag failed: %s", e)
            return
        self._lag = binlog_lag(files, self._pos)

    def stop(self) -> None:
        self._measure_lag()
        try:
            if getattr(self, "_reader", None) is not None:
                self._reader.close()
            if getattr(self, "_conn", None) is not None:
                self._conn.close()
        except Exception as e:  # stop must not raise
            log.warning("Closing the binlog reader failed: %s", e)
        self._reader = None
        self._conn = None


class MariaDbTask(MySqlTask):
    flavour: ClassVar[str] = "mariadb"


def binlog_lag(files: list[tuple[str, int]], position: tuple[str, int]) -> int | None:
    """Bytes from ``position`` (file, offset) to the end of the binlog, given every binlog file and
    its size in order (``SHOW BINARY LOGS``); None when the file is no longer listed."""
    names = [f for f, _ in files]
    if position[0] not in names:
        return None
    i = names.index(position[0])
    return max(files[i][1] - position[1], 0) + sum(size for _, size in files[i + 1:])


def _ends_transaction(event: Any) -> bool:
    """A COMMIT of a non-transactional engine, or a DDL statement (its own transaction)."""
    query = (event.query or "").strip().upper()
    return query != "BEGIN" and not query.startswith("SAVEPOINT")


def _jsonable(value: Any) -> Any:
    if isinstance(value, int | float | str) or value is None:
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)
