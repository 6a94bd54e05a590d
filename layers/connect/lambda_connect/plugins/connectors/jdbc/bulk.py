"""Statements for one run of rows, the fastest way each database offers.

    PostgreSQL  insert: COPY … FROM STDIN straight into the table
                upsert: COPY into a temporary table, then one INSERT … SELECT … ON CONFLICT DO UPDATE
                update: COPY into a temporary table, then one UPDATE … FROM
                rows are formatted by psycopg's own text-COPY row formatter, a chunk at a time
    MySQL       multi-row INSERT (… ON DUPLICATE KEY UPDATE) of up to ~1 MB per statement: for a
                run whose field types are known (built from a Bunch) the literals are made a column
                at a time; otherwise PyMySQL's executemany folds the rows the same way
    SQLite      executemany (… ON CONFLICT DO UPDATE) over one prepared statement
    deletes     executemany of DELETE … WHERE key (psycopg pipelines it)

A run holds rows that share a table, an operation and a column list, deduplicated by key
where the operation allows it, so ``ON CONFLICT`` never touches a row twice. ``batch.size``
bounds each ``executemany`` and each multi-row INSERT batch; a COPY streams the whole run,
since it has no statement size to bound and one staging table per run means one
``INSERT … SELECT`` for the server to plan. ``execute_row`` is the slow path, used only to
find the bad record after a bulk statement failed.

Rows are bound through one converter per column, chosen once per run (``Dialect.binder``):
columns whose values the driver takes as they are cost nothing per value. Every short way
here writes exactly the text the driver would (tests/integration/connectors/test_jdbc_fast_paths.py).
"""

from __future__ import annotations

import itertools
import math
import operator
import re
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain, islice, repeat
from typing import Any

from lambda_connect.api import Schema

from .dialects import Dialect, MySqlDialect, PostgresDialect, TableId
from .schema_mapping import RowPlan

__all__ = ["Run", "execute_bulk", "execute_row"]

_stage_ids = itertools.count()

_formatter: Any = None  # (format_row_text, Format.TEXT) once looked up; False when psycopg lacks them


def _psycopg_formatter() -> tuple[Callable[..., None], Any] | None:
    """psycopg's row formatter for text COPY (C in psycopg-binary), imported on first use so that
    loading the sink costs no psycopg import for MySQL or SQLite; None when psycopg has no such
    function (then rows go one by one through ``write_row``)."""
    global _formatter
    if _formatter is None:
        try:
            from psycopg._copy_base import format_row_text
            from psycopg.pq import Format

            _formatter = (format_row_text, Format.TEXT)
        except ImportError:  # pragma: no cover - psycopg reorganised
            _formatter = False
    return _formatter or None


@dataclass
class Run:
    """Rows for one statement shape: ``fields`` in plan order, ``columns`` as the table spells them.

    A run holds its rows either as ``plans`` or, when it was built from a ``Bunch``, as bare
    ``values`` (one mapping per row) plus ``types``, the one Python type of each field's values.
    """

    kind: str  # insert | upsert | update | delete
    table: TableId
    fields: tuple[str, ...]
    columns: tuple[str, ...]
    keys: tuple[str, ...]  # table column names of the key
    schemas: Mapping[str, Schema]
    plans: list[RowPlan] = field(default_factory=list)
    values: list[Mapping[str, Any]] | None = None
    types: Mapping[str, type] | None = None
    field_keys: tuple[str, ...] | None = None  # the key as the records name it (default: the plans')

    def bound(self, dialect: Dialect, plan: RowPlan, fields: Sequence[str]) -> tuple[Any, ...]:
        values, schemas = plan.values, self.schemas
        return tuple(dialect.bind(schemas.get(f), values.get(f)) for f in fields)

    def row_values(self) -> list[Mapping[str, Any]]:
        """Each row's values, in run order."""
        if self.values is not None:
            return self.values
        return [p.values for p in self.plans]

    def __len__(self) -> int:
        return len(self.values) if self.values is not None else len(self.plans)

    def binders(self, dialect: Dialect, fields: Sequence[str]) -> list[tuple[int, Callable[[Any], Any]]]:
        """(position, converter) for each of ``fields`` whose values the driver cannot take as they are."""
        schemas = self.schemas
        return [(i, b) for i, f in enumerate(fields) if (b := dialect.binder(schemas.get(f))) is not None]

    def rows(
        self, dialect: Dialect, values: Sequence[Mapping[str, Any]], fields: Sequence[str]
    ) -> Iterator[tuple[Any, ...]]:
        """Every row's bound values for ``fields``, in one pass with per-column binders.

        Rows of a run all carry every one of its fields (the run is grouped by them). Without
        binders the rows are a bare C-level ``map`` (no generator frame to resume per row).
        """
        pick = _picker(fields)
        convert = self.binders(dialect, fields)
        if not convert:
            return map(pick, values)
        return self._bound_rows(values, pick, convert)

    @staticmethod
    def _bound_rows(
        values: Sequence[Mapping[str, Any]], pick: Callable[[Mapping[str, Any]], tuple[Any, ...]],
        convert: list[tuple[int, Callable[[Any], Any]]],
    ) -> Iterator[tuple[Any, ...]]:
        for v in values:
            row = list(pick(v))
            for i, bind in convert:
                x = row[i]
                if x is not None:
                    row[i] = bind(x)
            yield tuple(row)

    @property
    def key_fields(self) -> tuple[str, ...]:
        if self.field_keys is not None:
            return self.field_keys
        return self.plans[0].keys if self.plans else ()

    def statement_fields(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(fields, columns) in the order the executemany statement binds them."""
        if self.kind == "delete":
            return self.key_fields, self.keys
        if self.kind == "update":
            key_fields = set(self.key_fields)
            pairs = [(f, c) for f, c in zip(self.fields, self.columns) if f not in key_fields]
            pairs += list(zip(self.key_fields, self.keys))
            return tuple(p[0] for p in pairs), tuple(p[1] for p in pairs)
        return self.fields, self.columns

    def sql(self, dialect: Dialect) -> str:
        if self.kind == "delete":
            return dialect.delete(self.table, self.keys)
        if self.kind == "update":
            return dialect.update(self.table, self.columns, self.keys)
        if self.kind == "upsert":
            return dialect.upsert(self.table, self.columns, self.keys)
        return dialect.insert(self.table, self.columns)


def _picker(fields: Sequence[str]) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    """A C-level ``values → tuple of values[f]``; itemgetter alone returns a bare value for one field."""
    if len(fields) == 1:
        only = fields[0]
        return lambda values: (values[only],)
    if not fields:
        return lambda values: ()
    return operator.itemgetter(*fields)


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    if size <= 0 or len(items) <= size:
        yield items
        return
    for i in range(0, len(items), size):
        yield items[i : i + size]


def execute_bulk(cur: Any, dialect: Dialect, run: Run, batch_size: int) -> None:
    """Write the whole run; raises the driver's error if any row is rejected."""
    fields, _ = run.statement_fields()
    if isinstance(dialect, PostgresDialect) and run.kind != "delete" and hasattr(cur, "copy"):
        _pg_copy(cur, dialect, run)
        return
    values = run.row_values()
    if run.types is not None and run.kind in ("insert", "upsert") and isinstance(dialect, MySqlDialect):
        escaper = MySqlLiterals.for_cursor(cur)
        if escaper is not None and not run.binders(dialect, fields):
            prefix, postfix = mysql_statement(dialect, run)
            sql = run.sql(dialect)
            chunks = list(_chunks(values, batch_size))
            for i, chunk in enumerate(chunks):
                parts = escaper.row_parts(chunk, fields, run.types)
                if parts is None:  # a value the column-wise text does not cover: the driver's way from here
                    for rest in chunks[i:]:
                        cur.executemany(sql, list(run.rows(dialect, rest, fields)))
                    break
                _mysql_execute(cur, prefix, parts, postfix)
            return
    sql = run.sql(dialect)
    for chunk in _chunks(values, batch_size):
        cur.executemany(sql, list(run.rows(dialect, chunk, fields)))


def execute_row(cur: Any, dialect: Dialect, run: Run, plan: RowPlan) -> None:
    fields, _ = run.statement_fields()
    cur.execute(run.sql(dialect), run.bound(dialect, plan, fields))


# --- MySQL text built a column at a time ---------------------------------------------------------
# A run built from a Bunch knows the one Python type of each field, so the literal text of a whole
# column can be made by C-level passes (``map(str, …)``, one regular-expression scan of the joined
# column to prove nothing needs escaping) and the rows assembled by one ``str.join`` over the
# columns interleaved with their separators, instead of PyMySQL's chain of Python calls per value.
# A column these cases do not cover sends the run back to ``executemany``: the text is PyMySQL's,
# byte for byte (tests/integration/connectors/test_jdbc_fast_paths.py compares them).

_NONE = type(None)
Parts = list[Iterable[str]]


# --- PostgreSQL: COPY ---------------------------------------------------------------------------
_COPY_CHUNK = 5000  # rows per COPY buffer: bounds the memory, amortises the call


def _text_row_formatter(copy: Any) -> Callable[[Iterable[tuple[Any, ...]]], None] | None:
    """``rows → None`` that formats rows with psycopg's own text-COPY row formatter (the function
    and the transformer ``Copy.write_row`` uses, so the bytes are the same) into one buffer per
    chunk and hands each chunk to ``Copy.write``: one driver call per chunk instead of two Python
    frames per row. None when this psycopg does not have the pieces (then rows go one by one)."""
    formatter = getattr(copy, "formatter", None)
    transformer = getattr(formatter, "transformer", None)
    found = _psycopg_formatter()
    if found is None or transformer is None or getattr(formatter, "format", None) != found[1]:
        return None
    write = copy.write
    fmt = found[0]

    def write_rows(rows: Iterable[tuple[Any, ...]]) -> None:
        it = iter(rows)
        while True:
            buffer = bytearray()
            deque(map(fmt, islice(it, _COPY_CHUNK), repeat(transformer), repeat(buffer)), maxlen=0)
            if not buffer:
                return
            write(buffer)

    return write_rows


# psycopg type names whose text dumpers write what psycopg's default dumper for these Python
# types writes (str(int) at any size, repr(float) with inf/nan, t/f, the encoded string with the
# same refusal of NUL): with them fixed per column, the formatter skips its per-value type lookup.
_COPY_TYPES: dict[type, str] = {int: "int8", float: "float8", str: "text", bool: "bool", type(None): "text"}


def copy_types(dialect: Dialect, run: Run) -> list[str] | None:
    """Per-column dumper types for ``Copy.set_types`` when every field of the run has one Python
    type of ``_COPY_TYPES`` and no binder (a Bunch's run, as a rule); None otherwise. Text COPY
    sends only text, so the names choose psycopg's dumpers and nothing else; the server still
    converts the text to each column's own type."""
    if run.types is None or run.binders(dialect, run.fields):
        return None
    names = [_COPY_TYPES.get(run.types[f]) for f in run.fields]
    return None if None in names else names  # type: ignore[return-value]


def _copy_into(cur: Any, dialect: Dialect, target: str, run: Run) -> None:
    with cur.copy(f"COPY {target} ({dialect.columns(run.columns)}) FROM STDIN") as copy:
        types = copy_types(dialect, run)
        if types is not None and hasattr(copy, "set_types"):
            copy.set_types(types)
        rows = run.rows(dialect, run.row_values(), run.fields)
        write_rows = _text_row_formatter(copy)
        if write_rows is not None:
            write_rows(rows)
            return
        write = copy.write_row
        for row in rows:
            write(row)


def _pg_copy(cur: Any, dialect: Dialect, run: Run) -> None:
    table = dialect.table(run.table)
    if run.kind == "insert":
        _copy_into(cur, dialect, table, run)
        return
    # A staging table with the target's column types but none of its constraints, so that
    # an UPDATE run need not carry columns the table requires only on INSERT.
    stage = dialect.quote(f"lc_stage_{next(_stage_ids)}")
    cols = dialect.columns(run.columns)
    cur.execute(f"CREATE TEMP TABLE {stage} ON COMMIT DROP AS SELECT {cols} FROM {table} WITH NO DATA")
    _copy_into(cur, dialect, stage, run)
    if run.kind == "upsert":
        cur.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {stage} "
                    + dialect.on_conflict(run.columns, run.keys))
    else:
        q = dialect.quote
        sets = ", ".join(f"{q(c)}=s.{q(c)}" for c in run.columns if c not in run.keys)
        where = " AND ".join(f"t.{q(k)}=s.{q(k)}" for k in run.keys)
        cur.execute(f"UPDATE {table} AS t SET {sets} FROM {stage} AS s WHERE {where}")
    cur.execute(f"DROP TABLE {stage}")


# --- MySQL/MariaDB: multi-row INSERT -----------------------------------------------------------------
# What PyMySQL's escape_string escapes (NUL, backslash, \n, \r, \x1a and both quotes).
_MYSQL_SPECIAL = re.compile(r"[\x00\\\n\r\x1a'\"]")
_MYSQL_BOOL = {True: "1", False: "0"}


class MySqlLiterals:
    """Row literals as PyMySQL's ``executemany`` writes them (its ``escape`` per value), made a
    column at a time: ints ``str``, booleans ``1``/``0``, floats ``repr`` + ``e0`` when repr has no
    exponent, strings quoted, escaped only when the column has a character that needs it (with
    the connection's escaping mode), nulls ``NULL``."""

    def __init__(self, connection: Any) -> None:
        from pymysql.constants import SERVER_STATUS
        from pymysql.converters import escape_string

        self.connection = connection
        self._no_backslash = SERVER_STATUS.SERVER_STATUS_NO_BACKSLASH_ESCAPES
        self._escape_string = escape_string

    @classmethod
    def for_cursor(cls, cur: Any) -> MySqlLiterals | None:
        """None unless ``cur`` is a PyMySQL cursor (other drivers keep ``executemany``)."""
        conn = getattr(cur, "connection", None)
        if conn is None or not hasattr(conn, "server_status") or not hasattr(conn, "escape"):
            return None
        try:
            return cls(conn)
        except ImportError:  # pragma: no cover - a mysql URL without PyMySQL
            return None

    def row_parts(
        self, values: Sequence[Mapping[str, Any]], fields: Sequence[str], types: Mapping[str, type]
    ) -> Parts | None:
        """Separators and column texts that zip into ``(…),`` per row; None for a column of a
        type this does not cover or a float that is not finite (the driver's way rejects it)."""
        no_backslash = bool(self.connection.server_status & self._no_backslash)
        parts: Parts = []
        sep = "("
        for i, f in enumerate(fields):
            if i:
                sep += ","
            t = types[f]
            if t is _NONE:
                sep += "NULL"
                continue
            column = list(map(operator.itemgetter(f), values))
            if t is int:
                text: Iterable[str] = map(str, column)
            elif t is bool:
                text = map(_MYSQL_BOOL.__getitem__, column)
            elif t is str:
                if _MYSQL_SPECIAL.search("".join(column)):
                    if no_backslash:
                        text = map(str.replace, column, repeat("'"), repeat("''"))
                    else:
                        text = map(self._escape_string, column)
                else:
                    text = column
                sep += "'"
                parts.append(repeat(sep))
                parts.append(text)
                sep = "'"
                continue
            elif t is float:
                if not all(map(math.isfinite, column)):
                    return None
                reprs = list(map(repr, column))
                if "e" in "".join(reprs):
                    text = [r if "e" in r else r + "e0" for r in reprs]
                else:
                    parts.append(repeat(sep))
                    parts.append(reprs)
                    sep = "e0"
                    continue
            else:
                return None
            parts.append(repeat(sep))
            parts.append(text)
            sep = ""
        if not parts:
            return None  # every column null: nothing to zip the rows by
        parts.append(repeat(sep + "),"))
        return parts


def mysql_statement(dialect: Dialect, run: Run) -> tuple[str, str]:
    """``run.sql`` split around its one ``(…)`` of placeholders: ``INSERT … VALUES`` and the
    ``ON DUPLICATE KEY UPDATE …`` of an upsert (empty for an insert)."""
    prefix = f"INSERT INTO {dialect.table(run.table)}({dialect.columns(run.columns)}) VALUES"
    postfix = " " + dialect.on_conflict(run.columns, run.keys) if run.kind == "upsert" else ""
    return prefix, postfix


def _mysql_execute(cur: Any, prefix: str, parts: Parts, postfix: str) -> None:
    """``prefix`` + the rows + ``postfix`` as one statement, or in statements of at most the
    cursor's ``max_stmt_length`` bytes (the bound PyMySQL's ``executemany`` keeps) when one
    would be longer."""
    limit = getattr(cur, "max_stmt_length", 1024000)
    encoding = cur.connection.encoding
    head = prefix.encode(encoding)
    tail = postfix.encode(encoding)
    budget = limit - len(head) - len(tail)
    materialised = [p if isinstance(p, (repeat, list)) else list(p) for p in parts]
    body = "".join(chain.from_iterable(zip(*materialised)))[:-1].encode(encoding)
    if len(body) <= budget:
        cur.execute(head + body + tail)
        return
    rows = [r[:-1].encode(encoding) for r in map("".join, zip(*materialised))]
    start, n = 0, len(rows)
    while start < n:
        size = len(rows[start])
        end = start + 1
        while end < n and size + 1 + len(rows[end]) <= budget:
            size += 1 + len(rows[end])
            end += 1
        cur.execute(head + b",".join(rows[start:end]) + tail)
        start = end
