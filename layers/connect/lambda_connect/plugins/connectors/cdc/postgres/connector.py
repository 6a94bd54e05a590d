"""``io.debezium.connector.postgresql.PostgresConnector``: PostgreSQL changes through a logical
replication slot and pgoutput, as Debezium's change events, one scheduled tick at a time.

A tick (one task invocation):

1. ``start`` connects twice — a *read* connection that holds the cursor over the slot and a
   *control* connection (autocommit) for the catalog, watermarks and confirming — checks
   ``wal_level``, creates the publication and slot when asked to, and fixes the end of this
   tick's read: the server's current WAL position (``upto_lsn``). Changes committed later wait
   for the next tick, so a busy database cannot keep one invocation reading forever.
2. ``poll`` reads the slot with ``pg_logical_slot_peek_binary_changes`` through a server-side
   cursor (bounded client memory), at most ``slot.read.max.changes`` changes per call (PostgreSQL
   stops at the first commit past that count), and turns pgoutput messages into records. Peeking
   confirms nothing.
3. ``commit`` — called by the runtime after the offsets of acknowledged records are stored —
   confirms the slot (``pg_replication_slot_advance``) up to the last transaction whose records
   Kafka acknowledged, or up to the end of the read when the rest held nothing captured, so an
   idle table does not pin WAL. Which records were acknowledged it reads from the stored offset
   of its partition (``CommittedReleases``), not from a ``commit_record`` per record, so the
   runtime gives it failure-only delivery reports.

Offsets (partition ``{"server": topic.prefix}``): ``lsn_commit`` is the end of the last
transaction fully published; ``txId``, ``lsn_proc`` and ``lsn_events_processed`` locate the last
published change inside a transaction (several changes can share an LSN). A tick that stopped
in the middle of a transaction re-reads it and skips what was already published. Because the
slot is confirmed only after the offsets are stored, a crash in between replays changes
(at least once); nothing is skipped.

Snapshots (``snapshot.mode=initial``): tables are copied in primary-key chunks, each bracketed by
two logical-message watermarks written into the WAL; a streamed change to a key of the chunk
between the watermarks replaces that key's snapshot row, so no key goes back in time. Progress is
part of the offset, so a snapshot spans as many ticks as it needs. A row inserted into the
``signal.data.collection`` table queues more tables for the same kind of snapshot, on demand, or
(type ``blocking``) holds the stream at the signal while they are copied; ``snapshot.mode=always``
copies every table again at each start of the connector (both in ``..snapshots``).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import deque
from collections.abc import Mapping, Sequence
from operator import itemgetter
from typing import Any, ClassVar

from lambda_connect.api import (
    ColumnarRecords,
    ConfigDef,
    ConfigException,
    ConfigKey,
    ConfigType,
    ConnectException,
    Importance,
    SourceRecord,
    SourceTask,
    Struct,
    StructColumn,
    Task,
    Type,
)
from lambda_connect.api.config import CaseInsensitiveValidString, Range, ValidString

from ..common import (
    COMMON_KEYS,
    CONNECTOR_VERSION,
    CdcSourceConnector,
    ChangeEmitter,
    CommittedReleases,
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
    source_record,
    source_schema,
    topic_safe,
)
from ..snapshots import SnapshotPlans, blocking_signal, snapshot_marker
from . import pgoutput
from . import slot as slots
from .pgoutput import UNCHANGED_TOAST, fast_row_values
from .types import Modes, column_type, row_ops

__all__ = ["PostgresConnector", "PostgresTask"]

log = logging.getLogger(__name__)

WATERMARK_PREFIX = "lambda-connect.watermark"
_CHANGE_KINDS = frozenset(b"IUDT")
PLACEHOLDER_DEFAULT = "__debezium_unavailable_value"
_PG = "PostgreSQL"
_new_struct = Struct.__new__

CONFIG_DEF = COMMON_KEYS + namespace_keys("schema", "schema") + ConfigDef(
    port_key(5432, "PostgreSQL"),
    ConfigKey(name="database.dbname", type=ConfigType.STRING, importance=Importance.HIGH, group="Connection",
              doc="Database whose changes are captured (a slot belongs to one database)."),
    ConfigKey(name="database.sslmode", type=ConfigType.STRING, default="prefer", group="Connection",
              validator=ValidString("disable", "allow", "prefer", "require", "verify-ca", "verify-full"),
              doc="libpq sslmode of the connections."),
    ConfigKey(name="plugin.name", type=ConfigType.STRING, default="pgoutput", group=_PG,
              validator=CaseInsensitiveValidString("pgoutput"),
              doc="Logical decoding output plugin. Only pgoutput, which every PostgreSQL since 10 has built in, "
                  "is read."),
    ConfigKey(name="slot.name", type=ConfigType.STRING, default="debezium", group=_PG,
              doc="Logical replication slot the connector reads; created when missing."),
    ConfigKey(name="slot.drop.on.stop", type=ConfigType.BOOLEAN, default=False, group=_PG,
              doc="Drop the slot when a task stops. A scheduled task stops after every tick, so changes made "
                  "between ticks are then lost: meant for tests and throwaway setups only."),
    ConfigKey(name="publication.name", type=ConfigType.STRING, default="dbz_publication", group=_PG,
              doc="Publication that chooses the tables pgoutput sends."),
    ConfigKey(name="publication.autocreate.mode", type=ConfigType.STRING, default="all_tables", group=_PG,
              validator=CaseInsensitiveValidString("all_tables", "disabled", "filtered", "no_tables"),
              doc="all_tables: create the publication FOR ALL TABLES when missing (needs a superuser); filtered: "
                  "create it for the tables the filters select and re-point it at every start; no_tables: create "
                  "it empty; disabled: it must exist."),
    ConfigKey(name="slot.read.max.changes", type=ConfigType.INT, default=500000, validator=Range.at_least(1),
              group=_PG, importance=Importance.LOW,
              doc="Changes one read of the slot asks for; PostgreSQL finishes the transaction that crosses "
                  "the count. Reads repeat until the end of the tick's range."),
    ConfigKey(name="unavailable.value.placeholder", type=ConfigType.STRING, default=PLACEHOLDER_DEFAULT,
              group=_PG, importance=Importance.LOW,
              doc="Stands for an unchanged TOASTed value that the change does not carry."),
)


class PostgresConnector(CdcSourceConnector):
    """Streams inserts, updates, deletes (and, when asked, truncates) of PostgreSQL tables."""

    name: ClassVar[str] = "io.debezium.connector.postgresql.PostgresConnector"
    version: ClassVar[str | None] = CONNECTOR_VERSION
    config_def: ClassVar[ConfigDef] = CONFIG_DEF

    @classmethod
    def task_class(cls) -> type[Task]:
        return PostgresTask


def _picker(positions: list[int]) -> tuple[Any, bool]:
    """A C-level getter of the items at ``positions`` of a list, and whether it returns a new list
    (a run of consecutive positions, as a slice) rather than a tuple."""
    if not positions or positions == list(range(positions[0], positions[-1] + 1)):
        start = positions[0] if positions else 0
        return itemgetter(slice(start, start + len(positions))), True
    return itemgetter(*positions), False


class _Relation:
    """A relation from a Relation message: the raw columns and, when captured, its shape.

    For the streaming short way (``PostgresTask._fast_change``), built once per Relation message:
    ``fast``, one converter per raw column for ``pgoutput.row_values`` (``SKIP`` for a column the
    filters drop; None when the relation must take the general way: not captured, or the signal
    table) and ``ops``, their op bytes for its C version; ``whole``, whether every raw column is in
    the value (the converted row then *is* the value list); ``key_of`` / ``value_of`` pick the
    key's and the value's columns from the converted row; and the ``source`` block's values that
    stay the same within one transaction (``PostgresTask._source_for``)."""

    __slots__ = ("captured", "fast", "key_list", "key_of", "name", "ops", "raw_columns", "sequence_head", "shape",
                 "source_of", "source_pos", "source_tx", "toast_fill", "value_list", "value_of", "whole")

    def __init__(self, name: str, captured: bool, shape: TableShape | None, raw_columns: list[str],
                 toast_fill: list[Any], fast: tuple | None = None) -> None:
        self.name = name
        self.captured = captured
        self.shape = shape
        self.raw_columns = raw_columns
        self.toast_fill = toast_fill
        self.fast = fast
        self.ops = row_ops(fast, pgoutput.SKIP) if fast is not None else b""
        self.whole = shape is not None and shape.positions == list(range(len(raw_columns)))
        # the key's and the value's columns out of the converted row, in one C call each
        self.key_of, self.key_list = _picker(shape.key_positions if shape is not None else [])
        self.value_of, self.value_list = _picker(shape.positions if shape is not None else [])
        self.source_tx: pgoutput.Begin | None = None
        self.source_pos = -1
        self.source_of: list[Any] = []
        self.sequence_head = ""


class _Chunk:
    """One snapshot chunk between its watermarks: rows by raw key, until the high mark is read."""

    first = False  # the chunk starts its table

    def __init__(self, mark: str, table: str, rows: dict[tuple, list], last_key: list | None, full: bool) -> None:
        self.mark = mark
        self.table = table
        self.rows = rows
        self.last_key = last_key
        self.full = full  # as many rows as asked for: more may follow
        self.window_open = False


class _Run:
    """Consecutive short-way changes of one relation, kept until ``poll_columns`` hands them over
    (``columns``): one tuple per change (``add``) of its key values, ``before`` and ``after``
    values (None when absent), the ``source`` block's prepared values (the relation's list for
    its transaction, ``PostgresTask._source_for``, shared), ``sequence``, LSN, op, processing
    time and offset — turned into columns in one transposition."""

    __slots__ = ("partition", "rel", "rows", "source_schema")

    def __init__(self, rel: _Relation, partition: dict[str, Any], source_schema: Any) -> None:
        self.rel = rel
        self.partition = partition
        self.source_schema = source_schema
        self.rows: list[tuple[Any, ...]] = []

    def __len__(self) -> int:
        return len(self.rows)

    def add(self, key: Any, before: Any, after: Any, rel: _Relation, lsn: int, op: str,
            offset: dict[str, Any]) -> None:
        self.rows.append((key, before, after, rel.source_of, f'{rel.sequence_head}{lsn}"]', lsn, op,
                          time.time_ns(), offset))

    def columns(self, n: int) -> ColumnarRecords:
        """The first ``n`` changes as a ``ColumnarRecords`` run, taken out of this one."""
        shape = self.rel.shape
        assert shape is not None
        if n == len(self.rows):
            rows, self.rows = self.rows, []
        else:
            rows = self.rows[:n]
            del self.rows[:n]
        keys, befores, afters, sources, sequences, lsns, ops, nows, offsets = zip(*rows)
        value_schema = shape.value_schema
        source_columns: list[Any] = list(zip(*sources))
        source_columns[6] = sequences
        source_columns[12] = lsns
        ms = [t // 1_000_000 for t in nows]
        us = [t // 1_000 for t in nows]
        envelope = StructColumn(shape.envelope, [
            _struct_column(value_schema, befores), _struct_column(value_schema, afters),
            StructColumn(self.source_schema, source_columns), [None] * n, ops, ms, us, nows])
        key_schema = shape.key_schema
        key_column = None
        if key_schema is not None:
            key_column = StructColumn(key_schema, list(zip(*keys)) if key_schema.fields else [], length=n)
        return ColumnarRecords(shape.topic, self.partition, list(offsets), shape.envelope, envelope,
                               key_schema=key_schema, keys=key_column)


def _struct_column(schema: Any, rows: Sequence[Any]) -> StructColumn:
    """A ``StructColumn`` of ``rows`` (each a value list, or None for no struct)."""
    width = len(schema.fields)
    if None not in rows:
        return StructColumn(schema, list(zip(*rows)) if width else [], length=len(rows))
    present = [r is not None for r in rows]
    held = [r for r in rows if r is not None]
    return StructColumn(schema, list(zip(*held)) if held else [[] for _ in range(width)], present)


class PostgresTask(SnapshotPlans, SourceTask):
    """Reads one slot for one tick; see the module docstring."""

    def start(self, props: Mapping[str, str]) -> None:
        problems = PostgresConnector.validate(props)
        if problems:
            raise ConfigException(errors={k: v.errors for k, v in problems.items()})
        cfg = CONFIG_DEF.parse(props)
        self._cfg = cfg
        self._props = dict(props)
        self._prefix = cfg["topic.prefix"]
        self._slot = cfg["slot.name"]
        self._publication = cfg["publication.name"]
        self._filter = TableFilter(cfg)
        self._modes = Modes(cfg["decimal.handling.mode"].lower(), cfg["time.precision.mode"].lower(),
                            cfg["binary.handling.mode"].lower())
        self._batch = cfg["max.batch.size"]
        self._read_max = cfg["slot.read.max.changes"]
        self._placeholder = cfg["unavailable.value.placeholder"]
        self._partition = {"server": self._prefix}
        self._emitter = ChangeEmitter(self._partition, cfg["tombstones.on.delete"],
                                      parse_skipped(cfg["skipped.operations"]))
        self._fast_ops = ("c" in self._emitter.skipped, "u" in self._emitter.skipped, "d" in self._emitter.skipped)
        self._source_schema = source_schema("postgresql")
        self._txmeta = (TransactionMetadata(self._partition, topic_safe(f"{self._prefix}.{cfg['topic.transaction']}"))
                        if cfg["provide.transaction.metadata"] else None)
        self._tracker = CommittedReleases()
        self._relations: dict[int, _Relation] = {}
        self._cursor: Any = None
        self._prefetched: list | None = None
        self._read_done = False
        self._read_rows = 0
        self._read_limit = cfg["slot.read.max.changes"]
        self._pending: deque[Any] = deque()  # SourceRecords, and _Runs once poll_columns is used
        self._columnar = False  # poll_columns was called: the short way fills _Runs
        self._chunk: _Chunk | None = None
        self._tx: pgoutput.Begin | None = None
        self._skip_tx = False
        self._skip_upto: tuple[int, int] | None = None
        self._lsn_count = (0, 0)
        self._busy = False
        self._heartbeat_ms = cfg["heartbeat.interval.ms"]
        self._heartbeat_sent = False
        signal = cfg["signal.data.collection"]
        self._signal = signal.strip() if signal else None
        self._signal_oids: set[int] = set()
        self._lag: int | None = None  # bytes the slot is behind, as last measured
        self._lag_fresh = False  # measured after the last confirm
        self._ctl = slots.connect(cfg, autocommit=True)
        self._conn: Any = None
        try:
            self._db = self._ctl.execute("SELECT current_database()").fetchone()[0]
            slots.check_server(self._ctl)
            self._prepare_server(cfg)
        except BaseException:
            self.stop()
            raise

    # --- setup --------------------------------------------------------------------------
    def _prepare_server(self, cfg: Mapping[str, Any]) -> None:
        mode = cfg["publication.autocreate.mode"].lower()
        captured = self._captured_tables()
        published = captured
        if self._signal and self._signal not in captured:
            if self._ctl.execute("SELECT to_regclass(%s)", (slots.qualified(self._signal),)).fetchone()[0] is None:
                raise ConnectException(f"signal.data.collection names {self._signal}, which does not exist: create it "
                                       "(id varchar(42) PRIMARY KEY, type varchar(32) NOT NULL, data varchar(2048)) "
                                       "or remove the setting.")
            published = [*captured, self._signal]
        slots.ensure_publication(self._ctl, self._publication, mode, published)
        state = slots.ensure_slot(self._ctl, self._slot)
        stored = self._stored_offset()
        snap_mode = snapshot_mode(cfg)
        if state.wal_status == "lost":
            if snap_mode != "when_needed":
                raise ConnectException(
                    f"Replication slot {self._slot} was invalidated (wal_status=lost): the server removed WAL it "
                    "still needed, usually because the slot fell further behind than max_slot_wal_keep_size "
                    "allows. Changes since the last tick are gone. Drop the slot (SELECT "
                    f"pg_drop_replication_slot('{self._slot}')) and reset the connector's offsets to copy the "
                    "tables again, or set snapshot.mode=when_needed to do both automatically.")
            log.warning("Replication slot %s was invalidated: recreating it and copying the tables again",
                        self._slot)
            slots.drop_slot(self._ctl, self._slot)
            state = slots.ensure_slot(self._ctl, self._slot)
            stored = None
        if state.active_pid is not None:
            log.warning("Replication slot %s is being read by server process %s", self._slot, state.active_pid)
        self.slot_state = state
        self._lag = state.lag_bytes
        log.info("Slot %s: confirmed %s, %d bytes behind the server", self._slot,
                 slots.lsn_text(state.confirmed_flush), state.lag_bytes)
        stored = dict(stored or {})
        # The stored offset is durable: the slot may always be confirmed up to it.
        durable = int(stored.get("lsn_commit") or 0)
        if durable > state.confirmed_flush:
            self._advance(durable)
        self._pos = max(durable, state.confirmed_flush)
        self._resume_tx = stored.get("txId") if stored.get("lsn_proc") is not None else None
        self._resume_at = (int(stored.get("lsn_proc") or 0), int(stored.get("lsn_events_processed") or 0))
        self._snapshot = snapshot_from_offset(stored)
        if self._snapshot is None and not stored and snap_mode in ("initial", "initial_only", "when_needed"):
            self._snapshot = {"tables": captured, "after": None}
        self._snapshot = self._plan_start(self._props, snap_mode, stored, self._snapshot, lambda: captured)
        self._stream = snap_mode != "initial_only"
        self._last_heartbeat = int(stored.get("ts_heartbeat") or 0)
        self._target = slots.parse_lsn(self._ctl.execute("SELECT pg_current_wal_lsn()::text").fetchone()[0]) or 0

    def _stored_offset(self) -> dict[str, Any] | None:
        reader = self.context.offset_storage_reader if self.context is not None else None
        return reader.offset(self._partition) if reader is not None else None

    def _captured_tables(self) -> list[str]:
        rows = self._ctl.execute(
            "SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
            "AND n.nspname NOT LIKE 'pg_toast%%' AND n.nspname NOT LIKE 'pg_temp%%' ORDER BY 1").fetchall()
        return [r[0] for r in rows if self._filter.table(r[0])]

    # --- shapes -------------------------------------------------------------------------
    def _catalog(self, oid: int) -> tuple[dict[str, bool], list[str]]:
        notnull = dict(self._ctl.execute(
            "SELECT attname, attnotnull FROM pg_attribute WHERE attrelid = %s AND attnum > 0 AND NOT attisdropped",
            (oid,)).fetchall())
        pk = [r[0] for r in self._ctl.execute(
            "SELECT a.attname FROM pg_index i, unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord), pg_attribute a "
            "WHERE i.indrelid = %s AND i.indisprimary AND a.attrelid = i.indrelid AND a.attnum = k.attnum "
            "ORDER BY k.ord", (oid,)).fetchall()]
        return notnull, pk

    def _shape(self, oid: int, schema: str, table: str, columns: list[tuple[str, int, int]]) -> _Relation:
        qualified = f"{schema}.{table}"
        if qualified == self._signal:
            self._signal_oids.add(oid)
        if not self._filter.table(qualified):
            return _Relation(qualified, False, None, [c[0] for c in columns], [])
        notnull, pk = self._catalog(oid)
        built = []
        fill = []
        for name, type_oid, typmod in columns:
            col_schema, conv = column_type(type_oid, typmod, not notnull.get(name, False), self._modes)
            built.append((name, col_schema, conv))
            fill.append(self._placeholder if col_schema.type is Type.STRING
                        else self._placeholder.encode() if col_schema.type is Type.BYTES else None)
        shape = build_shape(self._prefix, schema, table, built, pk,
                            lambda col: self._filter.column(qualified, col), self._source_schema)
        needed = set(shape.positions) | set(shape.key_positions)
        fast = None if oid in self._signal_oids else tuple(
            conv if i in needed else pgoutput.SKIP for i, (_n, _s, conv) in enumerate(built))
        return _Relation(qualified, True, shape, [c[0] for c in columns], fill, fast)

    # --- polling ------------------------------------------------------------------------
    def poll(self) -> list[SourceRecord] | None:
        if self._busy:
            return []
        out: list[SourceRecord] = []
        pending = self._pending
        while len(out) < self._batch:
            if pending:
                take = self._batch - len(out)
                if take >= len(pending):
                    out.extend(pending)
                    pending.clear()
                else:
                    out.extend(pending.popleft() for _ in range(take))
                continue
            if not self._read_more():
                break
        if not out and self._heartbeat_due():
            out.append(self._heartbeat())
        return out

    def poll_columns(self) -> list[Any] | None:
        """What ``poll`` would return, with the changes of the streaming short way handed over as
        ``ColumnarRecords`` runs (``api.columns``): consecutive changes of one relation make one
        run whose value is a ``StructColumn`` of the envelope and whose key a ``StructColumn`` of
        the key. Every other record (tombstones, snapshot rows, transaction metadata, heartbeats,
        key changes, TOASTed rows, truncates, signals) stays a ``SourceRecord`` between the runs.
        Same loop as ``poll``; at most ``max.batch.size`` records, a run split where needed. Once
        called, the task keeps building runs: the runtime asks one way for a whole run."""
        self._columnar = True
        if self._busy:
            return []
        out: list[Any] = []
        held = 0  # records in ``out``
        batch = self._batch
        pending = self._pending
        while held < batch:
            if pending:
                while pending and held < batch:
                    item = pending[0]
                    if type(item) is _Run:
                        room, size = batch - held, len(item)
                        if size <= room:
                            pending.popleft()
                            out.append(item.columns(size))
                            held += size
                        else:
                            out.append(item.columns(room))
                            held += room
                    else:
                        pending.popleft()
                        out.append(item)
                        held += 1
                continue
            if not self._read_more():
                break
        if not out and self._heartbeat_due():
            out.append(self._heartbeat())
        return out

    def _read_more(self) -> bool:
        """One step of reading for ``poll`` and ``poll_columns``: a blocking snapshot's next chunk, a
        snapshot chunk or the slot's next rows, decoded into ``_pending``. False when this tick has
        nothing more to read."""
        if self._cursor is None:
            if self._paused:  # a blocking snapshot holds the stream at its signal
                records = self._blocking_step()
                if not records:
                    return False
                self._tracker.submit(records)
                self._pending.extend(records)
                return True
            if self._read_done and self._chunk is None:
                if self._snapshot is not None and self._snapshot["tables"]:
                    self._start_chunk()
                else:
                    return False
            if not self._stream and self._snapshot is None:
                return False
            if not self._open_read():
                return False
        rows, self._prefetched = self._prefetched or self._cursor.fetchmany(self._batch), None
        if not rows:
            self._close_read()
            return True
        self._read_rows += len(rows)
        self._rows(rows)
        return True

    def _run_for(self, rel: _Relation) -> _Run:
        """The open run of ``rel``'s changes: the last pending item when it is one, else a new one."""
        pending = self._pending
        if pending:
            last = pending[-1]
            if type(last) is _Run and last.rel is rel:
                return last
        run = _Run(rel, self._emitter.partition, self._source_schema)
        pending.append(run)
        return run

    def _column_delete(self, rel: _Relation, lsn: int, count: int, previous: tuple[int, int], key: Struct | None,
                       values: list) -> None:
        """``_fast_delete``'s records with the event in a run: the same offsets, the tombstone
        (when on and the table has a key) a ``SourceRecord`` after it."""
        shape = rel.shape
        assert shape is not None
        tx, pos = self._tx, self._pos
        assert tx is not None
        offset = {"lsn_commit": pos, "lsn_proc": lsn, "lsn_events_processed": count, "lsn": lsn, "txId": tx.xid,
                  "ts_usec": tx.commit_ts_us}
        key_values = None if key is None else key._values
        if self._emitter.tombstones and key is not None:
            prior = self._offset(*previous) if previous[0] else self._position_offset()
            self._run_for(rel).add(key_values, values, None, rel, lsn, "d", prior)
            self._tracker.add_offset(prior)
            tombstone = source_record(self._emitter.partition, offset, shape.topic, shape.key_schema, key, None, None)
            self._tracker.add(tombstone)
            self._pending.append(tombstone)
        else:
            self._run_for(rel).add(key_values, values, None, rel, lsn, "d", offset)
            self._tracker.add_offset(offset)

    def _open_read(self) -> bool:
        """Start a peek from the slot's confirmed position up to this tick's target."""
        if self._conn is None:
            self._conn = slots.connect(self._cfg, autocommit=False)
        cursor = self._conn.cursor(name=f"lc_cdc_{uuid.uuid4().hex[:8]}")
        cursor.itersize = self._batch
        try:
            cursor.execute(
                "SELECT (lsn - '0/0'::pg_lsn)::bigint, data FROM pg_logical_slot_peek_binary_changes("
                "%s, %s::pg_lsn, %s, 'proto_version', '1', 'publication_names', %s, 'messages', 'true')",
                (self._slot, slots.lsn_text(self._target), self._read_limit, self._publication))
            self._prefetched = cursor.fetchmany(self._batch)  # runs the function: its errors surface here
        except Exception as e:
            self._conn.rollback()
            text = str(e)
            if "is active for PID" in text:
                log.warning("Replication slot %s is being read by another session (%s): this tick ends without "
                            "reading", self._slot, text.strip())
                self._busy = True
                return False
            raise ConnectException(f"Reading replication slot {self._slot} failed: {text.strip()}") from e
        self._cursor = cursor
        self._read_rows = 0
        self._in_tx = False
        return True

    def _close_read(self) -> None:
        rows = self._read_rows
        try:
            self._cursor.close()
            self._conn.commit()
        finally:
            self._cursor = None
        if rows < self._read_limit:
            # The read reached the target: nothing captured lies between the last commit and the target.
            self._read_done = True
            self._read_limit = self._read_max
            if self._chunk is None:
                self._pos = max(self._pos, self._target)
                self._tracker.release_point(self._pos)
                if self._tracker.submitted == 0:
                    # Nothing captured this tick, so the runtime will not call commit(): confirm here,
                    # or an idle table would pin WAL forever.
                    self._confirm()
        else:
            # A peek starts where the slot is confirmed, and the slot is confirmed only after Kafka
            # acknowledged: the next read asks for more, and what this tick already published is skipped.
            self._read_limit += self._read_max

    # --- messages -----------------------------------------------------------------------
    #: The streaming short way (``_fast_change``); tests turn it off to compare it with the general one.
    fast_stream: ClassVar[bool] = True

    def _rows(self, rows: list) -> None:
        """Messages ``(lsn, data)`` in slot order. While nothing needs the general way (no snapshot
        or chunk, no transaction metadata, no resumed transaction to skip into), inserts and
        updates that keep the key go the short way; every other message, and every change the
        short way declines, goes through ``_message``, which gives the same records. Deletes of
        captured tables go the short way too (``_fast_delete``)."""
        message, fast, fast_delete = self._message, self._fast_change, self._fast_delete
        ready = self._fast_ready()
        for lsn, data in rows:
            kind = data[0]
            if ready and (kind == 0x49 or kind == 0x55) and fast(lsn, data):
                continue
            if ready and kind == 0x44 and fast_delete(lsn, data):
                continue
            message(lsn, data)
            ready = self._fast_ready()  # a commit, a watermark, a signal may change what is needed

    def _fast_ready(self) -> bool:
        # (snapshot.mode=always: offsets carry the start token, which only the general way writes)
        return (self.fast_stream and self._tx is not None and not self._skip_tx and self._skip_upto is None
                and self._txmeta is None and self._snapshot is None and self._chunk is None
                and self._generation is None)

    def _fast_change(self, lsn: int, data: bytes) -> bool:
        """An insert, or an update that keeps the key (no old tuple, or the whole old row under
        REPLICA IDENTITY FULL), of a captured table: its record straight from the message bytes —
        one pass over each tuple that converts each kept column (``row_values``), the ``source``
        block from the transaction's prepared values. False, having changed nothing, for anything
        else: a change of the signal table, an update that changes the key, an unchanged TOASTed
        value, a skipped operation. A change of a table the filters leave out is only counted."""
        rel = self._relations.get(int.from_bytes(data[1:5], "big"))
        if rel is None:
            return False
        if not rel.captured:
            if rel.name == self._signal:
                return False
            count = self._lsn_count[1] + 1 if self._lsn_count[0] == lsn else 1
            self._lsn_count = (lsn, count)  # counted at its LSN, as every change is, and dropped
            return True
        fast = rel.fast
        if fast is None:
            return False
        old = None
        start = 6
        if data[0] == 0x49:
            if self._fast_ops[0]:
                return False
            op = "c"
        else:
            marker = data[5]
            if self._fast_ops[1] or marker == 0x4B:  # a skipped 'u', or the old key ('K'): the key changed
                return False
            op = "u"
            if marker == 0x4F:  # the whole old row (REPLICA IDENTITY FULL)
                old, end, toasted = fast_row_values(data, 6, fast, rel.ops, UNCHANGED_TOAST)
                if toasted or end >= len(data) or data[end] != 0x4E:
                    return False
                start = end + 1
        values, _end, toasted = fast_row_values(data, start, fast, rel.ops, UNCHANGED_TOAST)
        if toasted:
            return False
        if old is not None and rel.key_of(old) != rel.key_of(values):
            return False  # the key changed: a delete and a create, the general way
        previous = self._lsn_count
        count = previous[1] + 1 if previous[0] == lsn else 1
        self._lsn_count = (lsn, count)
        shape = rel.shape
        assert shape is not None
        tx, pos = self._tx, self._pos
        assert tx is not None
        if rel.source_tx is not tx or rel.source_pos != pos:
            self._source_for(rel, tx, pos)
        if self._columnar:  # (_Run.add, inlined)
            offset = {"lsn_commit": pos, "lsn_proc": lsn, "lsn_events_processed": count, "lsn": lsn,
                      "txId": tx.xid, "ts_usec": tx.commit_ts_us}
            pending = self._pending
            run = pending[-1] if pending else None
            if type(run) is not _Run or run.rel is not rel:
                run = self._run_for(rel)
            run.rows.append((rel.key_of(values) if shape.key_schema is not None else None,
                             None if old is None else old if rel.whole else rel.value_of(old),
                             values if rel.whole else rel.value_of(values), rel.source_of,
                             f'{rel.sequence_head}{lsn}"]', lsn, op, time.time_ns(), offset))
            self._tracker.add_offset(offset)
            return True
        # Structs made as Struct.from_values makes them, without its call (four per change)
        key_schema = shape.key_schema
        key = None
        if key_schema is not None:
            key = _new_struct(Struct)
            key.schema = key_schema
            key._values = rel.key_of(values) if rel.key_list else list(rel.key_of(values))
        after = _new_struct(Struct)
        after.schema = shape.value_schema
        after._values = values if rel.whole else rel.value_of(values) if rel.value_list else list(rel.value_of(values))
        source_values = rel.source_of.copy()
        source_values[6] = f'{rel.sequence_head}{lsn}"]'
        source_values[12] = lsn
        source = _new_struct(Struct)
        source.schema = self._source_schema
        source._values = source_values
        now = time.time_ns()
        envelope = _new_struct(Struct)
        envelope.schema = shape.envelope
        before = None
        if old is not None:
            before = _new_struct(Struct)
            before.schema = shape.value_schema
            before._values = old if rel.whole else rel.value_of(old) if rel.value_list else list(rel.value_of(old))
        envelope._values = [before, after, source, None, op, now // 1_000_000, now // 1_000, now]
        record = source_record(self._emitter.partition, {
            "lsn_commit": pos, "lsn_proc": lsn, "lsn_events_processed": count, "lsn": lsn, "txId": tx.xid,
            "ts_usec": tx.commit_ts_us}, shape.topic, key_schema, key, shape.envelope, envelope)
        self._tracker.add(record)
        self._pending.append(record)
        return True

    def _fast_delete(self, lsn: int, data: bytes) -> bool:
        """A delete of a captured table the short way: the event (with the position before it,
        so a resume replays the whole change) and, when tombstones are on and the table has a
        key, its tombstone. ``before`` is the old key with zero values in the required columns
        (REPLICA IDENTITY DEFAULT) or the whole old row (FULL). False, having changed nothing,
        for the signal table, an unchanged TOASTed value, skipped deletes, other tables."""
        rel = self._relations.get(int.from_bytes(data[1:5], "big"))
        if rel is None or rel.fast is None or self._fast_ops[2]:
            return False
        old, _end, toasted = fast_row_values(data, 6, rel.fast, rel.ops, UNCHANGED_TOAST)
        if toasted:
            return False
        previous = self._lsn_count
        count = previous[1] + 1 if previous[0] == lsn else 1
        self._lsn_count = (lsn, count)
        shape = rel.shape
        assert shape is not None
        tx, pos = self._tx, self._pos
        assert tx is not None
        if rel.source_tx is not tx or rel.source_pos != pos:
            self._source_for(rel, tx, pos)
        key_schema = shape.key_schema
        key = None
        if key_schema is not None:
            key = Struct.from_values(key_schema, rel.key_of(old) if rel.key_list else list(rel.key_of(old)))
        values = list(old) if rel.whole else rel.value_of(old) if rel.value_list else list(rel.value_of(old))
        if data[5] == 0x4B:  # only the key: the other required columns get their zero values
            shape.fill_missing(values)
        if self._columnar:
            self._column_delete(rel, lsn, count, previous, key, values)
            return True
        source_values = rel.source_of.copy()
        source_values[6] = f'{rel.sequence_head}{lsn}"]'
        source_values[12] = lsn
        now = time.time_ns()
        before = Struct.from_values(shape.value_schema, values)
        source = Struct.from_values(self._source_schema, source_values)
        envelope = Struct.from_values(shape.envelope, [before, None, source, None, "d", now // 1_000_000, now // 1_000,
                                                       now])
        offset = {"lsn_commit": pos, "lsn_proc": lsn, "lsn_events_processed": count, "lsn": lsn, "txId": tx.xid,
                  "ts_usec": tx.commit_ts_us}
        partition, topic = self._emitter.partition, shape.topic
        if self._emitter.tombstones and key is not None:
            prior = self._offset(*previous) if previous[0] else self._position_offset()
            records = [source_record(partition, prior, topic, key_schema, key, shape.envelope, envelope),
                       source_record(partition, offset, topic, key_schema, key, None, None)]
        else:
            records = [source_record(partition, offset, topic, key_schema, key, shape.envelope, envelope)]
        self._tracker.submit(records)
        self._pending.extend(records)
        return True

    def _source_for(self, rel: _Relation, tx: pgoutput.Begin, pos: int) -> None:
        """Prepare the ``source`` values of ``rel``'s changes in ``tx`` read at position ``pos``
        (as ``_source`` gives them): all but ``sequence`` (whose start is ``sequence_head``) and
        ``lsn``, which each change fills in."""
        ts_us = tx.commit_ts_us
        shape = rel.shape
        assert shape is not None
        rel.source_of = [CONNECTOR_VERSION, "postgresql", self._prefix, ts_us // 1000, "false", self._db, None, ts_us,
                         ts_us * 1000, shape.schema_or_db, shape.table, tx.xid, None, None, None, None]
        rel.sequence_head = f'["{pos}","'
        rel.source_tx, rel.source_pos = tx, pos

    def _message(self, lsn: int, data: bytes) -> None:
        if self._skip_tx and data[0] in _CHANGE_KINDS:
            return  # a transaction this tick (or a committed offset) already covers: do not even decode it
        msg = pgoutput.decode(data)
        if msg is None:
            return
        kind = type(msg)
        if kind is pgoutput.Begin:
            self._tx = msg
            self._skip_tx = msg.final_lsn < self._pos or self._paused
            self._lsn_count = (0, 0)
            self._skip_upto = self._resume_at if str(msg.xid) == str(self._resume_tx) else None
            if self._txmeta is not None:
                self._txmeta.reset()
                if self._skip_upto is not None:  # an earlier tick published this transaction's BEGIN
                    self._txmeta.resume(self._tx_id(msg))
            return
        if kind is pgoutput.Commit:
            if not self._skip_tx:
                self._pos = max(self._pos, msg.end_lsn)
                if self._txmeta is not None and self._tx is not None:
                    end = self._txmeta.end(self._tx.commit_ts_us // 1000, self._position_offset())
                    if end is not None:
                        self._tracker.submit([end])
                        self._pending.append(end)
                self._tracker.release_point(self._pos)
            self._tx = None
            self._skip_upto = None
            return
        if kind is pgoutput.Relation:
            self._relations[msg.oid] = self._shape(msg.oid, msg.namespace, msg.name,
                                                   [(c.name, c.type_oid, c.type_modifier) for c in msg.columns])
            return
        if kind is pgoutput.Message:
            if msg.prefix == WATERMARK_PREFIX:
                self._watermark(msg.content.decode())
            return
        if self._skip_tx:
            return
        # a change: count it at its LSN, then skip it when a resumed tick already published it
        count = self._lsn_count[1] + 1 if self._lsn_count[0] == lsn else 1
        previous = self._lsn_count
        self._lsn_count = (lsn, count)
        if self._skip_upto is not None and (lsn, count) <= self._skip_upto:
            if self._txmeta is not None:
                self._count_skipped(kind, msg)
            return
        if kind is pgoutput.Truncate:
            for oid in msg.relations:
                rel = self._relations.get(oid)
                if rel is not None and rel.captured:
                    self._truncate(rel, lsn, previous)
            return
        if kind is pgoutput.Insert and msg.relation in self._signal_oids:
            self._on_signal(msg.new, lsn, count)
        rel = self._relations.get(msg.relation)
        if rel is None or not rel.captured:
            return
        shape = rel.shape
        assert shape is not None
        if kind is pgoutput.Insert:
            after, before, key, old_key, op = msg.new, None, shape.key(msg.new), None, "c"
            self._chunk_conflict(rel, msg.new)
        elif kind is pgoutput.Update:
            new, old = msg.new, msg.old
            after_struct = self._value_with_toast(rel, new) if pgoutput.UNCHANGED_TOAST in new else None
            before_struct = None
            if old is not None and msg.old_is_key:
                before_struct = shape.partial_value(old)
            elif old is not None and pgoutput.UNCHANGED_TOAST in old:
                before_struct = self._value_with_toast(rel, old)
            key = shape.key(new)
            old_key = shape.key(old) if old is not None else None
            self._chunk_conflict(rel, new)
            if old is not None:
                self._chunk_conflict(rel, old)
            self._emit(shape, "u", old, new, key, old_key, lsn, count, previous, after_struct, before_struct)
            return
        else:  # Delete
            old = msg.old
            after, before, key, old_key, op = None, old, shape.key(old), None, "d"
            self._chunk_conflict(rel, old)
            if msg.old_is_key:
                self._emit(shape, op, None, None, key, None, lsn, count, previous, None, shape.partial_value(old))
                return
        self._emit(shape, op, before, after, key, old_key, lsn, count, previous, None)

    def _tx_id(self, begin: pgoutput.Begin) -> str:
        """Debezium's PostgreSQL transaction id: ``txId:LSN`` (the commit LSN)."""
        return f"{begin.xid}:{begin.final_lsn}"

    def _count_skipped(self, kind: type, msg: Any) -> None:
        """A change an earlier tick published: count it so the transaction orders carry on."""
        txmeta = self._txmeta
        assert txmeta is not None
        op = {pgoutput.Insert: "c", pgoutput.Update: "u", pgoutput.Delete: "d", pgoutput.Truncate: "t"}[kind]
        if op in self._emitter.skipped:
            return
        oids = msg.relations if kind is pgoutput.Truncate else (msg.relation,)
        for oid in oids:
            rel = self._relations.get(oid)
            if rel is not None and rel.captured:
                txmeta.count(rel.name)

    def _transaction_block(self, shape: TableShape, op: str, previous: tuple[int, int]) -> Struct | None:
        """With provide.transaction.metadata: the BEGIN record at the first captured change of a
        transaction (its offset is the position before that change), then this change's block."""
        txmeta, tx = self._txmeta, self._tx
        if txmeta is None or tx is None or op in self._emitter.skipped:
            return None
        if txmeta.id is None:
            begin = txmeta.begin(self._tx_id(tx), tx.commit_ts_us // 1000,
                                 self._offset(*previous) if previous[0] else self._position_offset())
            self._tracker.submit([begin])
            self._pending.append(begin)
        return txmeta.count(f"{shape.schema_or_db}.{shape.table}")

    @staticmethod
    def _value_with_toast(rel: _Relation, raw: list) -> Struct:
        """The row with the placeholder where the change does not carry an unchanged TOASTed value."""
        shape = rel.shape
        assert shape is not None
        values = []
        for i, conv in zip(shape.positions, shape.converters):
            v = raw[i]
            if v is pgoutput.UNCHANGED_TOAST:
                v = rel.toast_fill[i]
            elif v is not None and conv is not None:
                v = conv(v)
            values.append(v)
        return Struct.from_values(shape.value_schema, values)

    def _offset(self, lsn: int, count: int) -> dict[str, Any]:
        tx = self._tx
        offset: dict[str, Any] = {"lsn_commit": self._pos, "lsn_proc": lsn, "lsn_events_processed": count,
                                  "lsn": lsn, "txId": tx.xid if tx is not None else None,
                                  "ts_usec": tx.commit_ts_us if tx is not None else None}
        self._snapshot_fields(offset)
        return offset

    def _position_offset(self) -> dict[str, Any]:
        offset: dict[str, Any] = {"lsn_commit": self._pos, "lsn": self._pos}
        self._snapshot_fields(offset)
        return offset

    def _snapshot_fields(self, offset: dict[str, Any]) -> None:
        snapshot_offset_fields(self._snapshot, offset)
        if self._generation is not None or self._blocking is not None:
            self._plan_fields(offset)

    def _source(self, shape: TableShape, lsn: int | None, snapshot: str = "false") -> Struct:
        tx = self._tx if snapshot == "false" else None
        ts_us = tx.commit_ts_us if tx is not None else time.time_ns() // 1000
        return Struct.from_values(self._source_schema, [
            CONNECTOR_VERSION, "postgresql", self._prefix, ts_us // 1000, snapshot, self._db,
            f'["{self._pos}","{lsn}"]' if lsn is not None else None, ts_us, ts_us * 1000,
            shape.schema_or_db, shape.table, tx.xid if tx is not None else None, lsn, None, None, None])

    def _emit(self, shape: TableShape, op: str, before: list | None, after: list | None, key: Any, old_key: Any,
              lsn: int, count: int, previous: tuple[int, int], after_struct: Struct | None,
              before_struct: Struct | None = None) -> None:
        if before_struct is None and before is not None:
            before_struct = shape.value(before)
        if after_struct is None and after is not None:
            after_struct = shape.value(after)
        prior = None
        if op == "d" or (op == "u" and old_key is not None and old_key != key):  # changes that yield 2-3 records
            prior = self._offset(*previous) if previous[0] else self._position_offset()
        block = self._transaction_block(shape, op, previous) if self._txmeta is not None else None
        records = self._emitter.records(shape, op, before_struct, after_struct, self._source(shape, lsn), key,
                                        old_key, prior, self._offset(lsn, count), block)
        self._tracker.submit(records)
        self._pending.extend(records)

    def _truncate(self, rel: _Relation, lsn: int, previous: tuple[int, int]) -> None:
        shape = rel.shape
        assert shape is not None
        count = self._lsn_count[1]
        block = self._transaction_block(shape, "t", previous) if self._txmeta is not None else None
        records = self._emitter.records(shape, "t", None, None, self._source(shape, lsn), None, None,
                                        None, self._offset(lsn, count), block)
        for r in records:
            r.key_schema = None
        self._tracker.submit(records)
        self._pending.extend(records)

    # --- snapshot -------------------------------------------------------------------------
    def _emit_watermark(self, text: str) -> None:
        self._ctl.execute("SELECT pg_logical_emit_message(true, %s, %s)", (WATERMARK_PREFIX, text))

    def _start_chunk(self) -> None:
        """Low watermark, one chunk read in primary-key order, high watermark; then stream to the high mark."""
        snap = self._snapshot
        assert snap is not None
        table = snap["tables"][0]
        mark = uuid.uuid4().hex
        cols, pk = self._chunk_layout(table)
        size = chunk_size(self._cfg)
        self._emit_watermark("low:" + mark)
        rows = self._select_chunk(table, cols, pk, snap["after"], size + 1)  # one more: is this the end?
        self._emit_watermark("high:" + mark)
        more, rows = len(rows) > size, rows[:size]
        key_idx = [cols.index(k) for k in pk]
        by_key = {tuple(r[i] for i in key_idx): list(r) for r in rows}
        last = [rows[-1][i] for i in key_idx] if rows else None
        self._chunk = _Chunk(mark, table, by_key, last, more)
        self._chunk.first = snap["after"] is None
        snap.setdefault("first", table)  # the plan's first table: its first row is marked "first"
        self._chunk_columns = cols
        self._read_limit = self._read_max
        self._target = slots.parse_lsn(self._ctl.execute("SELECT pg_current_wal_lsn()::text").fetchone()[0]) or 0
        self._read_done = False

    def _chunk_layout(self, table: str) -> tuple[list[str], list[str]]:
        """A table's columns and primary key (a table without one cannot be read in chunks)."""
        oid = self._ctl.execute("SELECT %s::regclass::oid", (slots.qualified(table),)).fetchone()[0]
        _notnull, pk = self._catalog(oid)
        if not pk:
            raise ConnectException(f"Table {table} has no primary key: the chunked snapshot reads tables in "
                                   "primary-key order. Add a primary key or leave the table out of the filters.")
        cols = [r[0] for r in self._ctl.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = %s AND attnum > 0 AND NOT attisdropped "
            "ORDER BY attnum", (oid,)).fetchall()]
        return cols, pk

    def _select_chunk(self, table: str, cols: list[str], pk: list[str], after: list | None, limit: int) -> list:
        """Up to ``limit`` rows past the key ``after``, in key order, every column as text."""
        select = ", ".join(f"src.{slots.quote_ident(c)}::text" for c in cols)
        keys = ", ".join(f"src.{slots.quote_ident(c)}" for c in pk)  # typed, not the text output columns
        where, params = "", []
        if after is not None:
            where = f" WHERE ({keys}) > ({', '.join('%s' for _ in pk)})"
            params = list(after)
        return self._ctl.execute(
            f"SELECT {select} FROM {slots.qualified(table)} AS src{where} ORDER BY {keys} LIMIT {int(limit)}",
            params).fetchall()

    def _chunk_conflict(self, rel: _Relation, raw: list) -> None:
        chunk = self._chunk
        if chunk is None or not chunk.window_open or chunk.table != rel.name:
            return
        shape = rel.shape
        assert shape is not None
        chunk.rows.pop(tuple(raw[i] for i in shape.key_positions), None)

    def _watermark(self, text: str) -> None:
        kind, _, mark = text.partition(":")
        chunk = self._chunk
        if chunk is None or mark != chunk.mark or self._paused:
            return  # a mark of a chunk an earlier tick started and did not finish: that chunk is redone
        if kind == "low":
            chunk.window_open = True
            return
        self._finish_chunk(chunk)

    def _finish_chunk(self, chunk: _Chunk) -> None:
        """The high mark was read: publish the chunk's remaining rows as ``r`` events. Each row's
        offset says the snapshot got past that row, so a tick that ends inside the chunk resumes
        after the last acknowledged row; the last row's offset holds the state after the chunk."""
        snap = self._snapshot
        if snap is None or not snap["tables"] or snap["tables"][0] != chunk.table:
            self._chunk = None  # a stop-snapshot signal read inside the chunk's window cancelled it
            return
        rel = self._relation_for(chunk.table)
        shape = rel.shape
        assert shape is not None
        tables = list(snap["tables"])
        if chunk.full:
            snap["after"] = chunk.last_key
        else:
            snap["tables"] = snap["tables"][1:]
            snap["after"] = None
        last_chunk = not snap["tables"]
        final = self._position_offset()
        if last_chunk:
            self._snapshot = None
            final = self._position_offset()
        rows = list(chunk.rows.items())
        self._chunk = None
        incremental = bool(snap.get("incremental"))
        during = {"tables": tables, "after": None, "incremental": incremental, "first": snap.get("first")}
        first_table, last_table = chunk.table == snap.get("first"), len(tables) == 1
        records: list[SourceRecord] = []
        for i, (key_text, raw) in enumerate(rows):
            end = i == len(rows) - 1
            if end:
                offset = final
            else:
                offset = {"lsn_commit": self._pos, "lsn": self._pos}
                snapshot_offset_fields(during, offset, after=list(key_text))
                self._plan_fields(offset)
            marker = "incremental" if incremental else snapshot_marker(
                first_table, last_table, chunk.first and i == 0, not chunk.full and end)
            records.extend(self._emitter.records(
                shape, "r", None, shape.value(raw), self._source(shape, None, marker), shape.key(raw), None,
                None, offset))
        self._tracker.submit(records)
        self._pending.extend(records)

    def _relation_for(self, table: str) -> _Relation:
        for rel in self._relations.values():
            if rel.name == table and rel.captured and [c for c in rel.raw_columns] == self._chunk_columns:
                return rel
        schema, _, name = table.partition(".")
        oid = self._ctl.execute("SELECT %s::regclass::oid", (slots.qualified(table),)).fetchone()[0]
        cols = self._ctl.execute(
            "SELECT attname, atttypid, atttypmod FROM pg_attribute WHERE attrelid = %s AND attnum > 0 "
            "AND NOT attisdropped ORDER BY attnum", (oid,)).fetchall()
        return self._shape(oid, schema, name, [(c[0], int(c[1]), int(c[2])) for c in cols])

    # --- signals --------------------------------------------------------------------------
    def _on_signal(self, raw: list, lsn: int, count: int) -> None:
        """A row inserted into signal.data.collection: update the snapshot plan, and publish the new
        plan in an offset at once (a heartbeat record), since the slot moves past the signal."""
        if len(raw) < 3:
            log.warning("Signal table %s needs the columns id, type, data; the row %r is ignored", self._signal, raw)
            return
        signal_id, kind, data = (None if v is None else str(v) for v in raw[:3])
        known = lambda t: t != self._signal and self._filter.table(t)  # noqa: E731
        blocking = blocking_signal(str(signal_id), kind, data, self._existing(known))
        if blocking:
            self._pause_at_signal(blocking, lsn, count, str(signal_id))
            return
        before = self._snapshot
        after = apply_signal(before, str(signal_id), kind, data, known)
        if after is before:
            return
        self._snapshot = after
        offset = self._offset(lsn, count)
        record = self._heartbeat_record(offset, int(time.time() * 1000))
        self._tracker.submit([record])
        self._pending.append(record)

    def _pause_at_signal(self, tables: list[str], lsn: int, count: int, signal_id: str) -> None:
        """A blocking snapshot signal: publish its position and plan (a heartbeat), and read no more
        of the slot in this tick; the rest of the transaction and later ones wait for the copy."""
        record = self._blocking_begin(tables, self._offset(lsn, count), signal_id)
        self._tracker.submit([record])
        self._pending.append(record)
        self._skip_tx = True
        self._prefetched = None
        if self._cursor is not None:
            try:
                self._cursor.close()
                self._conn.commit()
            finally:
                self._cursor = None
        self._read_done = True

    def _blocking_rows(self, table: str, after: list | None, limit: int) -> tuple[Any, list[list], Any]:
        cols, pk = self._chunk_layout(table)
        rows = self._select_chunk(table, cols, pk, after, limit)
        self._chunk_columns = cols
        shape = self._relation_for(table).shape
        key_idx = [cols.index(k) for k in pk]
        return shape, [list(r) for r in rows], lambda raw: [raw[i] for i in key_idx]

    def _blocking_source(self, shape: TableShape, marker: str) -> Struct:
        return self._source(shape, None, marker)

    # --- heartbeats -----------------------------------------------------------------------
    def _heartbeat_due(self) -> bool:
        if self._heartbeat_ms <= 0 or self._busy or self._heartbeat_sent or self._paused:
            return False  # one per tick at most: a tick is short next to any useful interval
        return time.time() * 1000 - self._last_heartbeat >= self._heartbeat_ms

    def _heartbeat(self) -> SourceRecord:
        now = int(time.time() * 1000)
        self._last_heartbeat = now
        self._heartbeat_sent = True
        query = self._cfg["heartbeat.action.query"]
        if query:
            self._ctl.execute(query)
        offset = self._position_offset()
        offset["ts_heartbeat"] = now
        record = self._heartbeat_record(offset, now)
        self._tracker.submit([record])
        self._tracker.release_point(self._pos)
        return record

    def _heartbeat_record(self, offset: dict[str, Any], now_ms: int) -> SourceRecord:
        return heartbeat_record(self._partition, offset, self._cfg["topic.heartbeat.prefix"], self._prefix, now_ms)

    # --- confirming -----------------------------------------------------------------------
    def commit(self) -> None:
        """The runtime stored the offsets of what Kafka acknowledged: confirm the slot as far as the
        stored offset of this task's partition covers (``CommittedReleases``), no further."""
        self._confirm()

    def _confirm(self) -> None:
        position = self._tracker.releasable(self._stored_offset())
        if position is not None:
            self._advance(position)

    def _advance(self, lsn: int) -> None:
        self._lag_fresh = False
        try:
            slots.advance_slot(self._ctl, self._slot, lsn)
        except Exception as e:  # the next tick confirms again from the stored offset
            log.warning("Confirming replication slot %s up to %s failed: %s", self._slot, slots.lsn_text(lsn), e)

    # --- lag ----------------------------------------------------------------------------
    def lag_metrics(self) -> Mapping[str, float]:
        """How far the slot trails the server's WAL, in bytes (``source_lag_bytes``): WAL the server
        keeps for this connector and changes not yet confirmed. It is measured once after the last
        confirm (one query), before ``stop`` closes the connection or on the first call after it."""
        self._measure_lag()
        lag = getattr(self, "_lag", None)
        return {} if lag is None else {"source_lag_bytes": float(lag)}

    def _measure_lag(self) -> None:
        ctl = getattr(self, "_ctl", None)
        if ctl is None or getattr(self, "_lag_fresh", True):
            return
        try:
            lag = slots.slot_lag(ctl, self._slot)
        except Exception as e:  # a metric must never fail the tick
            log.warning("Measuring the lag of replication slot %s failed: %s", self._slot, e)
            return
        self._lag_fresh = True
        if lag is not None:
            self._lag = lag

    def stop(self) -> None:
        if getattr(self, "_ctl", None) is not None and getattr(self, "_cfg", None) is not None \
                and not self._cfg["slot.drop.on.stop"]:
            self._measure_lag()
        for conn in (getattr(self, "_conn", None), getattr(self, "_ctl", None)):
            if conn is None:
                continue
            try:
                if conn is getattr(self, "_ctl", None) and self._cfg["slot.drop.on.stop"]:
                    # Only what Kafka acknowledged is confirmed; dropping the slot forgets the rest.
                    self._confirm()
                    slots.drop_slot(conn, self._slot)
                conn.close()
            except Exception as e:  # stop must not raise
                log.warning("Closing a PostgreSQL CDC connection failed: %s", e)
        self._conn = self._ctl = None
        self._cursor = None
