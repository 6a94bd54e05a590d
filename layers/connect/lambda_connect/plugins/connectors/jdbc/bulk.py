"""Statements for one run of rows, the fastest way each database offers.

    PostgreSQL  insert: COPY … FROM STDIN straight into the table
                upsert: COPY into a temporary table, then one INSERT … SELECT … ON CONFLICT DO UPDATE
                update: COPY into a temporary table, then one UPDATE … FROM
    MySQL       multi-row INSERT (… ON DUPLICATE KEY UPDATE): PyMySQL folds executemany into
                statements of up to ~1 MB
    SQLite      executemany (… ON CONFLICT DO UPDATE) over one prepared statement
    deletes     executemany of DELETE … WHERE key (psycopg pipelines it)

A run holds rows that share a table, an operation and a column list, deduplicated by key
where the operation allows it, so ``ON CONFLICT`` never touches a row twice. ``batch.size``
bounds each ``executemany``; a COPY streams the whole run, since it has no statement size
to bound and one staging table per run means one ``INSERT … SELECT`` for the server to plan.
``execute_row`` is the slow path, used only to find the bad record after a bulk statement failed.

Rows are bound through one converter per column, chosen once per run (``Dialect.binder``):
columns whose values the driver takes as they are cost nothing per value.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lambda_connect.api import Schema

from .dialects import Dialect, PostgresDialect, TableId
from .schema_mapping import RowPlan

__all__ = ["Run", "execute_bulk", "execute_row"]

_stage_ids = itertools.count()


@dataclass
class Run:
    """Rows for one statement shape: ``fields`` in plan order, ``columns`` as the table spells them."""

    kind: str  # insert | upsert | update | delete
    table: TableId
    fields: tuple[str, ...]
    columns: tuple[str, ...]
    keys: tuple[str, ...]  # table column names of the key
    schemas: Mapping[str, Schema]
    plans: list[RowPlan] = field(default_factory=list)

    def bound(self, dialect: Dialect, plan: RowPlan, fields: Sequence[str]) -> tuple[Any, ...]:
        values, schemas = plan.values, self.schemas
        return tuple(dialect.bind(schemas.get(f), values.get(f)) for f in fields)

    def rows(self, dialect: Dialect, plans: Sequence[RowPlan], fields: Sequence[str]) -> Iterator[tuple[Any, ...]]:
        """Every plan's bound values for ``fields``, in one pass with per-column binders.

        Plans of a run all carry every one of its fields (the run is grouped by them).
        """
        pick = _picker(fields)
        schemas = self.schemas
        convert = [(i, b) for i, f in enumerate(fields) if (b := dialect.binder(schemas.get(f))) is not None]
        if not convert:
            for plan in plans:
                yield pick(plan.values)
            return
        for plan in plans:
            row = list(pick(plan.values))
            for i, bind in convert:
                v = row[i]
                if v is not None:
                    row[i] = bind(v)
            yield tuple(row)

    @property
    def key_fields(self) -> tuple[str, ...]:
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
    sql = run.sql(dialect)
    for chunk in _chunks(run.plans, batch_size):
        cur.executemany(sql, list(run.rows(dialect, chunk, fields)))


def execute_row(cur: Any, dialect: Dialect, run: Run, plan: RowPlan) -> None:
    fields, _ = run.statement_fields()
    cur.execute(run.sql(dialect), run.bound(dialect, plan, fields))


def _copy_into(cur: Any, dialect: Dialect, target: str, run: Run) -> None:
    with cur.copy(f"COPY {target} ({dialect.columns(run.columns)}) FROM STDIN") as copy:
        write = copy.write_row
        for row in run.rows(dialect, run.plans, run.fields):
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
