"""Make the destination table fit the records: ``auto.create`` and ``auto.evolve`` (Confluent's DbStructure).

Table definitions are cached per task and re-read only when a record brings a column the
cache does not know, so a steady stream costs no reflection queries. DDL runs in its own
transaction before the data transaction, because MySQL commits implicitly around DDL and a
half-written batch must never be committed by a side effect.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from lambda_connect.api import ConnectException

from .dialects import Column, Dialect, TableId

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

__all__ = ["TableAlterOrCreateException", "TableManager"]

log = logging.getLogger(__name__)


class TableAlterOrCreateException(ConnectException):
    """The table is missing or lacks columns and the config forbids (or cannot) fix it."""

    java_name = "io.confluent.connect.jdbc.sink.TableAlterOrCreateException"


class TableManager:
    """Knows the columns of each destination table and creates/extends tables on demand."""

    def __init__(self, engine: Engine, dialect: Dialect, *, auto_create: bool, auto_evolve: bool) -> None:
        self.engine = engine
        self.dialect = dialect
        self.auto_create = auto_create
        self.auto_evolve = auto_evolve
        self._columns: dict[TableId, dict[str, str]] = {}  # lower-case name → name as the table spells it

    def ensure(self, table: TableId, columns: Sequence[Column]) -> dict[str, str]:
        """Create or amend ``table`` so every column exists; returns field → actual column name."""
        known = self._columns.get(table)
        if known is None or any(_find(known, c.name) is None for c in columns):
            known = self._reflect(table)
        if known is None:
            if not self.auto_create:
                raise TableAlterOrCreateException(f'Table "{table}" is missing and auto-creation is disabled')
            try:
                self._ddl(self.dialect.create_table(table, columns))
                log.info("Created table %s with columns %s", table, [c.name for c in columns])
            except Exception:
                if self._reflect(table) is None:  # not a lost race with another task: a real failure
                    raise
            known = self._reflect(table)
            if known is None:
                raise TableAlterOrCreateException(f'Table "{table}" could not be created')
        missing = [c for c in columns if _find(known, c.name) is None]
        if missing:
            self._amend(table, missing)
            known = self._reflect(table) or {}
        return {c.name: _find(known, c.name) or c.name for c in columns}

    def existing_columns(self, table: TableId) -> Callable[[str], bool]:
        """``field → True`` when the table already has a column for it (False for a missing table).

        Served from the cached definition; the table is reflected only when nothing is cached."""
        known = self._columns.get(table)
        if known is None:
            known = self._reflect(table) or {}
        return lambda name: _find(known, name) is not None

    def forget(self, table: TableId) -> None:
        """Drop the cached definition (after a write failed, the table may have changed)."""
        self._columns.pop(table, None)

    def _amend(self, table: TableId, missing: Sequence[Column]) -> None:
        names = ", ".join(c.name for c in missing)
        if not self.auto_evolve:
            raise TableAlterOrCreateException(
                f'Table "{table}" is missing fields ({names}) and auto-evolution is disabled'
            )
        for column in missing:
            if column.key or (not column.schema.optional and column.schema.default is None):
                raise TableAlterOrCreateException(
                    f'Cannot ALTER TABLE "{table}" to add missing field {column.name}, as the field is not '
                    "optional and does not have a default value"
                )
        for column in missing:
            try:
                self._ddl(self.dialect.add_column(table, column))
            except Exception:
                # Another task may have added it a moment ago; only a still-missing column is an error.
                refreshed = self._reflect(table) or {}
                if _find(refreshed, column.name) is None:
                    raise
        log.info("Amended table %s with columns %s", table, names)

    def _ddl(self, sql: str) -> None:
        with self.engine.begin() as conn:
            conn.exec_driver_sql(sql)

    def _reflect(self, table: TableId) -> dict[str, str] | None:
        from sqlalchemy import inspect

        with self.engine.connect() as conn:
            inspector = inspect(conn)
            if not inspector.has_table(table.table, schema=table.schema):
                self._columns.pop(table, None)
                return None
            cols = inspector.get_columns(table.table, schema=table.schema)
        known = {c["name"].lower(): c["name"] for c in cols}
        exact = {c["name"]: c["name"] for c in cols}
        known.update(exact)
        self._columns[table] = known
        return known


def _find(known: dict[str, str], name: str) -> str | None:
    """The table's column for a field: exact match first, then case-insensitive (as Confluent)."""
    return known.get(name) or known.get(name.lower())
