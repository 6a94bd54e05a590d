"""One table (or the configured query) of a JDBC source task: its statement, its open result
set and how far it has read — Confluent's ``TableQuerier`` family folded into one class.

Why the queries look the way they do (the same predicates Confluent's
``TimestampIncrementingCriteria`` builds):

* ``incrementing``: ``inc > :last ORDER BY inc``.
* ``timestamp``: ``ts > :last AND ts < :end ORDER BY ts`` where ``:end`` is the database's
  own clock minus ``timestamp.delay.interval.ms``: a row is read only once the clock has
  passed it, so rows still being written "now" with the same timestamp are not split.
* ``timestamp+incrementing``: ``ts < :end AND ((ts = :last AND inc > :last_inc) OR ts > :last)
  ORDER BY ts, inc``: rows that share a timestamp are told apart by the incrementing column,
  so none is missed however a batch boundary falls.
* Several ``timestamp.column.name`` entries are combined with ``COALESCE`` (first non-null).

A result set stays open across ``poll`` calls (server-side cursor, ``batch.max.rows`` rows per
poll), so a batch boundary never re-runs the query. A Lambda invocation can still end in the
middle of a result set, and the next one restarts from the committed offset; in plain
``timestamp`` mode that would skip the unread rows of a timestamp group, so a record's offset
only moves to its timestamp once the *next* row has a later one (otherwise it stays at the
previous complete group). The price is at-least-once re-delivery of that partial group after a
restart, never loss.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping, Sequence
from typing import Any

from lambda_connect.api import ColumnarRecords, ConnectException, Headers, SourceRecord, Struct, StructColumn

from .columns import RowShape, convert_column, shape_from_description

__all__ = ["Mode", "Querier", "TsKind", "offset_from_map", "offset_to_map"]

UTC = dt.UTC
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)
_new_record = SourceRecord.__new__
_NO_HEADERS = Headers()
_SQLITE_TS = "%Y-%m-%d %H:%M:%f"  # SQLite's %f is "SS.SSS"


class Mode(enum.StrEnum):
    BULK = "bulk"
    INCREMENTING = "incrementing"
    TIMESTAMP = "timestamp"
    TIMESTAMP_INCREMENTING = "timestamp+incrementing"

    @property
    def uses_timestamp(self) -> bool:
        return self in (Mode.TIMESTAMP, Mode.TIMESTAMP_INCREMENTING)

    @property
    def uses_incrementing(self) -> bool:
        return self in (Mode.INCREMENTING, Mode.TIMESTAMP_INCREMENTING)


class TsKind(enum.Enum):
    """How the database wants a timestamp bound: that decides correct comparisons."""

    NAIVE_LOCAL = "naive wall-clock time in db.timezone"  # PostgreSQL timestamp, MySQL DATETIME
    NAIVE_UTC = "naive UTC"  # MySQL TIMESTAMP (the session time zone is set to UTC)
    AWARE = "timezone-aware"  # PostgreSQL timestamptz
    TEXT = "ISO text, compared at millisecond precision"  # SQLite stores timestamps as text


def offset_to_map(mode: Mode, ts: dt.datetime | None, inc: int | None) -> dict[str, Any] | None:
    """Confluent's ``TimestampIncrementingOffset.toMap`` shapes: ``timestamp`` is epoch
    milliseconds and ``timestamp_nanos`` the nanoseconds within that second."""
    if mode is Mode.BULK:
        return None
    out: dict[str, Any] = {}
    if mode.uses_timestamp and ts is not None:
        delta = ts - _EPOCH
        seconds = delta.days * 86_400 + delta.seconds
        out["timestamp"] = seconds * 1000 + delta.microseconds // 1000
        out["timestamp_nanos"] = delta.microseconds * 1000
    if mode.uses_incrementing and inc is not None:
        out["incrementing"] = inc
    return out


def offset_from_map(offset: Mapping[str, Any] | None) -> tuple[dt.datetime | None, int | None]:
    if not offset:
        return None, None
    ts = None
    if offset.get("timestamp") is not None:
        ms = int(offset["timestamp"])
        nanos = offset.get("timestamp_nanos")
        micros = int(nanos) // 1000 if nanos is not None else (ms % 1000) * 1000
        ts = _EPOCH + dt.timedelta(seconds=ms // 1000, microseconds=micros)
    inc = offset.get("incrementing")
    return ts, None if inc is None else int(inc)


def db_now(conn: Any, backend: str) -> dt.datetime:
    """The database's clock (UTC): the upper bound must not depend on the Lambda's clock."""
    if backend == "postgresql":
        value = conn.exec_driver_sql("SELECT CURRENT_TIMESTAMP").scalar()
    elif backend == "mysql":
        value = conn.exec_driver_sql("SELECT UTC_TIMESTAMP(6)").scalar()
    elif backend == "sqlite":
        text = conn.exec_driver_sql("SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')").scalar()
        value = dt.datetime.fromisoformat(text)
    else:
        value = conn.exec_driver_sql("SELECT CURRENT_TIMESTAMP").scalar()
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Querier:
    """Reads one table or query incrementally; see the module docstring for the predicates."""

    def __init__(
        self,
        *,
        mode: Mode,
        partition: dict[str, Any],
        topic: str,
        source: Any,
        shape: RowShape | None,
        timestamp_columns: Sequence[str],
        incrementing_column: str | None,
        ts_kind: TsKind,
        db_tz: dt.tzinfo,
        backend: str,
        driver: str,
        delay_ms: int,
        offset: Mapping[str, Any] | None,
        timestamp_initial: int | None,
    ) -> None:
        self.mode = mode
        self.partition = partition
        self.topic = topic
        self._source = source  # a Table, or a subquery wrapping the user's query
        self._shape = shape
        self._derive_shape = shape is None  # query mode: the shape comes from each result set
        self._ts_names = list(timestamp_columns)
        self._inc_name = incrementing_column
        self._ts_kind = ts_kind
        self._db_tz = db_tz
        self._backend = backend
        self._driver = driver
        self._delay = dt.timedelta(milliseconds=delay_ms)
        self.ts, self.inc = offset_from_map(offset)
        self._timestamp_initial = timestamp_initial
        if self.inc is None and mode.uses_incrementing:
            self.inc = -1  # Confluent starts below any id, so a row with id 0 is read
        self._result: Any = None
        self._description: Any = None
        self._prefetched: list[Any] = []
        self._held: Any = None  # timestamp mode: the row read ahead to close a group
        self._group_floor: dt.datetime | None = None
        self.next_due = 0.0
        self.last_started = 0.0

    @property
    def active(self) -> bool:
        return self._result is not None

    # --- statements ---------------------------------------------------------------------
    def _column(self, name: str) -> Any:
        try:
            return self._source.c[name]
        except KeyError:
            raise ConnectException(f"Column {name} not found in {self.partition}") from None

    def _ts_expr(self) -> Any:
        import sqlalchemy as sa

        cols = [self._column(n) for n in self._ts_names]
        expr = cols[0] if len(cols) == 1 else sa.func.coalesce(*cols)
        if self._ts_kind is TsKind.TEXT:
            expr = sa.func.strftime(_SQLITE_TS, expr, type_=sa.String)
        return expr

    def _bind_ts(self, ts: dt.datetime) -> Any:
        kind = self._ts_kind
        if kind is TsKind.AWARE:
            return ts
        if kind is TsKind.NAIVE_UTC:
            return ts.astimezone(UTC).replace(tzinfo=None)
        local = ts.astimezone(self._db_tz).replace(tzinfo=None)
        if kind is TsKind.TEXT:
            # SQLite rounds to milliseconds; normalising the bound the same way keeps
            # "=" and ">" consistent with the column side.
            import sqlalchemy as sa

            return sa.func.strftime(_SQLITE_TS, local.strftime("%Y-%m-%d %H:%M:%S.%f"), type_=sa.String)
        return local

    def statement(self, now: dt.datetime | None) -> Any:
        """The SELECT for the current offset (Confluent's criteria, see module docstring)."""
        import sqlalchemy as sa

        if not self._derive_shape and self._shape is not None:
            stmt = sa.select(*[self._column(c.name) for c in self._shape.columns])
        else:
            stmt = sa.select(self._source)
        mode = self.mode
        if mode is Mode.BULK:
            return stmt
        if mode.uses_incrementing:
            inc = self._column(self._inc_name or "")
        if mode is Mode.INCREMENTING:
            return stmt.where(inc > self.inc).order_by(inc.asc())
        assert now is not None
        ts = self._ts_expr()
        last = self._bind_ts(self._start_ts(now))
        end = self._bind_ts(now - self._delay)
        if mode is Mode.TIMESTAMP:
            stmt = stmt.where(ts > last, ts < end).order_by(ts.asc())
        else:
            stmt = stmt.where(ts < end, sa.or_(sa.and_(ts == last, inc > self.inc), ts > last))
            stmt = stmt.order_by(ts.asc(), inc.asc())
        return stmt

    def _start_ts(self, now: dt.datetime) -> dt.datetime:
        if self.ts is None:
            if self._timestamp_initial == -1:
                self.ts = now - self._delay
            elif self._timestamp_initial is not None:
                self.ts = _EPOCH + dt.timedelta(milliseconds=self._timestamp_initial)
            else:
                self.ts = _EPOCH
        return self.ts

    # --- reading ------------------------------------------------------------------------
    def execute(self, conn: Any, batch_rows: int, started: float) -> None:
        """Open the result set for the current offset (one query per poll interval)."""
        now = db_now(conn, self._backend) if self.mode.uses_timestamp else None
        stmt = self.statement(now)
        self.last_started = started
        result = conn.execution_options(yield_per=max(batch_rows, 1)).execute(stmt)
        self._description = result.cursor.description if result.cursor is not None else None
        if self._backend == "sqlite":
            # An open SQLite read holds the database lock and blocks every writer until the
            # result set is exhausted; buffering the result keeps the application writable.
            frozen = result.freeze()
            conn.rollback()
            result = frozen()
        self._result = result
        # PostgreSQL and MySQL drivers already return Connect-ready Python values for the
        # reflected types (remaining differences are our converters), so rows come straight
        # from the DB-API cursor: SQLAlchemy's Row layer would double the per-row cost.
        # SQLAlchemy's streaming strategy buffers exactly the first row at execute time; it
        # is taken through the public API first so that no row is skipped.
        raw = result.cursor if self._backend in ("postgresql", "mysql") and result.cursor is not None else None
        self._prefetched = list(result.fetchmany(1)) if raw is not None else []
        if not self._prefetched:
            raw = None  # an empty result: SQLAlchemy has already closed the DB-API cursor
        self._fetchmany = raw.fetchmany if raw is not None else result.fetchmany
        self._fetchone = raw.fetchone if raw is not None else result.fetchone
        self._group_floor = self.ts
        self._held = None
        if self._derive_shape:
            self._shape = None

    def read(self, max_rows: int, columns: bool = False) -> tuple[list[Any], bool]:
        """Up to ``max_rows`` records and whether the result set is exhausted; with ``columns``
        the records as one ``ColumnarRecords`` run (an empty list for none)."""
        head = self._prefetched + ([self._held] if self._held is not None else [])
        self._prefetched, self._held = [], None
        want = max_rows - len(head)
        fetched = list(self._fetchmany(want)) if want > 0 else []
        rows = head + fetched
        exhausted = len(fetched) < want
        if self.mode is Mode.TIMESTAMP and not exhausted:
            peek = self._fetchone()
            if peek is None:
                exhausted = True
            else:
                self._held = peek
        if self._shape is None:
            self._shape = shape_from_description(
                self._description or [], rows[0] if rows else None, self._driver, self._db_tz,
                self._ts_names if self.mode.uses_timestamp else (),
            )
        if columns:
            run = self._columns(rows, exhausted)
            return ([run] if run is not None else []), exhausted
        return self._records(rows, exhausted), exhausted

    def _values(self, rows: Sequence[Any]) -> list[list[Any]]:
        """Driver rows → Connect field values; the hot loop, so it only touches columns that
        need converting, a column at a time (``convert_column``: C-level checks first)."""
        assert self._shape is not None
        converters = self._shape.converters
        if not converters or not rows:
            return list(map(list, rows))
        columns: list[Any] = list(zip(*rows))
        changed = False
        for i, convert in converters:
            converted = convert_column(convert, columns[i])
            if converted is not None:
                columns[i] = converted
                changed = True
        return list(map(list, zip(*columns) if changed else rows))

    def _records(self, rows: Sequence[Any], exhausted: bool) -> list[SourceRecord]:
        shape = self._shape
        assert shape is not None
        schema = shape.schema
        partition, topic, mode = self.partition, self.topic, self.mode
        all_values = self._values(rows)
        from_values = Struct.from_values
        structs = [from_values(schema, values) for values in all_values]
        if not structs:
            return []
        make = _record_maker(partition, topic, schema)
        if mode is Mode.BULK:
            return [make(None, st) for st in structs]
        inc_i = self._index(self._inc_name) if mode.uses_incrementing else -1
        if mode is Mode.INCREMENTING:
            self.inc = all_values[-1][inc_i]
            return [make({"incrementing": v[inc_i]}, st) for v, st in zip(all_values, structs)]
        ts_is = [self._index(n) for n in self._ts_names]
        timestamps = [_first(v, ts_is) for v in all_values]
        if mode is Mode.TIMESTAMP_INCREMENTING:
            offsets = [offset_to_map(mode, ts, v[inc_i]) for ts, v in zip(timestamps, all_values)]
            self.inc = all_values[-1][inc_i]
        else:
            offsets = self._timestamp_offsets(timestamps, ts_is, exhausted)
        self.ts = timestamps[-1]
        return [make(offset, st) for offset, st in zip(offsets, structs)]

    def _columns(self, rows: Sequence[Any], exhausted: bool) -> ColumnarRecords | None:
        """``_records`` by column: the same offsets and querier state, the values as the
        converted result columns (``StructColumn``) instead of a Struct per row."""
        shape = self._shape
        assert shape is not None
        if not rows:
            return None
        schema = shape.schema
        cols: list[Any] = list(zip(*rows))
        if len(cols) != len(schema.fields):
            raise ConnectException(f"The query for {self.partition} returned {len(cols)} column(s) for "
                                   f"{len(schema.fields)} field(s)")
        for i, convert in shape.converters:
            converted = convert_column(convert, cols[i])
            if converted is not None:
                cols[i] = converted
        mode = self.mode
        n = len(rows)
        offsets: list[dict[str, Any] | None]
        if mode is Mode.BULK:
            offsets = [None] * n
        elif mode is Mode.INCREMENTING:
            incs = cols[self._index(self._inc_name)]
            offsets = [{"incrementing": v} for v in incs]
            self.inc = incs[-1]
        else:
            ts_is = [self._index(name) for name in self._ts_names]
            timestamps = list(cols[ts_is[0]]) if len(ts_is) == 1 else [
                _first(row, ts_is) for row in zip(*cols)]
            if mode is Mode.TIMESTAMP_INCREMENTING:
                incs = cols[self._index(self._inc_name)]
                offsets = [offset_to_map(mode, ts, inc) for ts, inc in zip(timestamps, incs)]
                self.inc = incs[-1]
            else:
                offsets = self._timestamp_offsets(timestamps, ts_is, exhausted)
            self.ts = timestamps[-1]
        return ColumnarRecords(self.topic, self.partition, offsets, schema, StructColumn(schema, cols))

    def _timestamp_offsets(
        self, timestamps: list[dt.datetime | None], ts_is: list[int], exhausted: bool
    ) -> list[dict[str, Any] | None]:
        """Timestamp mode: each record's offset moves to its timestamp only once the next
        row is known to be later (module docstring); until then it stays at the last
        complete group."""
        if self._held is not None:
            following: dt.datetime | None = _first(self._values([self._held])[0], ts_is)
        else:
            following = None if exhausted else timestamps[-1]
        out: list[dict[str, Any] | None] = []
        for pos, ts in enumerate(timestamps):
            nxt = timestamps[pos + 1] if pos + 1 < len(timestamps) else following
            if nxt is None or nxt != ts:
                self._group_floor = ts
            out.append(offset_to_map(Mode.TIMESTAMP, self._group_floor, None))
        return out

    def _index(self, name: str | None) -> int:
        assert self._shape is not None
        field = self._shape.schema.field(name or "")
        if field is None:
            raise ConnectException(f"Column {name} is not part of the records of {self.partition}")
        return field.index

    def close(self, conn: Any) -> None:
        """Close the result set and end the read transaction, so the next query sees new rows
        (MariaDB's REPEATABLE READ would otherwise keep showing the old snapshot)."""
        result, self._result, self._held = self._result, None, None
        if result is not None:
            try:
                result.close()
            finally:
                if conn is not None and not conn.closed:
                    conn.rollback()


def _record_maker(partition: dict[str, Any], topic: str, schema: Any) -> Any:
    """Build records without ``SourceRecord.__init__``'s per-record copies and checks: at a
    million rows that is a fifth of the source's time. Every record of a table shares its
    partition dict (records are values; nobody mutates them) and sets every slot the
    constructor would (a test compares both)."""

    def make(offset: dict[str, Any] | None, struct: Struct) -> SourceRecord:
        record = _new_record(SourceRecord)
        record.topic = topic
        record.kafka_partition = None
        record.key_schema = None
        record.key = None
        record.value_schema = schema
        record.value = struct
        record.timestamp = None
        record.headers = _NO_HEADERS
        record.source_partition = partition
        record.source_offset = offset
        return record

    return make


def _first(values: Sequence[Any], indexes: list[int]) -> Any:
    for i in indexes:
        v = values[i]
        if v is not None:
            return v
    return None
