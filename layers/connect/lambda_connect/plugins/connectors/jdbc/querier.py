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

from lambda_connect.api import ConnectException, SourceRecord, Struct

from .columns import RowShape, shape_from_description

__all__ = ["Mode", "Querier", "TsKind", "offset_from_map", "offset_to_map"]

UTC = dt.UTC
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)
_new_struct = Struct.__new__
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
        self._group_floor = self.ts
        self._held = None
        if self._derive_shape:
            self._shape = None

    def read(self, max_rows: int) -> tuple[list[SourceRecord], bool]:
        """Up to ``max_rows`` records and whether the result set is exhausted."""
        result = self._result
        rows = result.fetchmany(max_rows)
        if self._held is not None:
            rows.insert(0, self._held)
            self._held = None
        exhausted = len(rows) < max_rows
        if self.mode is Mode.TIMESTAMP and not exhausted:
            peek = result.fetchone()
            if peek is None:
                exhausted = True
            else:
                self._held = peek
        if self._shape is None:
            self._shape = shape_from_description(
                self._description or [], rows[0] if rows else None, self._driver, self._db_tz
            )
        return self._records(rows, exhausted), exhausted

    def _records(self, rows: Sequence[Any], exhausted: bool) -> list[SourceRecord]:
        shape = self._shape
        assert shape is not None
        schema = shape.schema
        converters = shape.converters
        partition, topic, mode = self.partition, self.topic, self.mode
        inc_i = self._index(self._inc_name) if mode.uses_incrementing else -1
        ts_is = [self._index(n) for n in self._ts_names] if mode.uses_timestamp else []
        out: list[SourceRecord] = []
        append = out.append
        ts = inc = None
        n = len(rows)
        for pos, row in enumerate(rows):
            values = list(row)
            for i, convert in converters:
                values[i] = convert(values[i])
            struct = _new_struct(Struct)
            struct.schema = schema
            struct._values = values
            if mode is Mode.INCREMENTING:
                inc = values[inc_i]
                offset: dict[str, Any] | None = {"incrementing": inc}
            elif mode is Mode.BULK:
                offset = None
            else:
                ts = _first(values, ts_is)
                if mode is Mode.TIMESTAMP_INCREMENTING:
                    inc = values[inc_i]
                    offset = offset_to_map(mode, ts, inc)
                else:
                    offset = offset_to_map(mode, self._timestamp_group(ts, rows, pos, n, ts_is, exhausted), None)
            append(SourceRecord(partition, offset, topic, None, None, None, schema, struct))
        if out:
            if mode.uses_incrementing:
                self.inc = inc
            if mode is Mode.TIMESTAMP_INCREMENTING or mode is Mode.TIMESTAMP:
                self.ts = ts
        return out

    def _timestamp_group(
        self, ts: dt.datetime | None, rows: Sequence[Any], pos: int, n: int, ts_is: list[int], exhausted: bool
    ) -> dt.datetime | None:
        """Timestamp mode: the offset a record may carry without skipping rows of its group."""
        if pos + 1 < n:
            following = _first(self._converted(rows[pos + 1], ts_is), ts_is)
        elif self._held is not None:
            following = _first(self._converted(self._held, ts_is), ts_is)
        else:
            following = None if exhausted else ts
        if following is None or following != ts:
            self._group_floor = ts
            return ts
        return self._group_floor

    def _converted(self, row: Sequence[Any], ts_is: list[int]) -> list[Any]:
        values = list(row)
        assert self._shape is not None
        for i, convert in self._shape.converters:
            if i in ts_is:
                values[i] = convert(values[i])
        return values

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


def _first(values: Sequence[Any], indexes: list[int]) -> Any:
    for i in indexes:
        v = values[i]
        if v is not None:
            return v
    return None
