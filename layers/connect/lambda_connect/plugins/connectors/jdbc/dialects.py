"""What differs between PostgreSQL, MySQL/MariaDB and SQLite: types, quoting, SQL shapes, errors.

Type mapping (Connect → column), after Confluent's ``*DatabaseDialect.getSqlType``:

    Connect            PostgreSQL         MySQL/MariaDB                  SQLite
    INT8 / INT16       SMALLINT           TINYINT / SMALLINT             INTEGER
    INT32 / INT64      INT / BIGINT       INT / BIGINT                   INTEGER
    FLOAT32 / FLOAT64  REAL / DOUBLE PR.  FLOAT / DOUBLE                 REAL
    BOOLEAN            BOOLEAN            BOOLEAN (TINYINT(1))           BOOLEAN
    STRING             TEXT               TEXT, VARCHAR(255) in keys     TEXT
    BYTES              BYTEA              BLOB, VARBINARY(767) in keys   BLOB
    Decimal            DECIMAL            DECIMAL(65, scale)             NUMERIC
    Date/Time          DATE / TIME        DATE / TIME(3)                 DATE / TIME (ISO text)
    Timestamp          TIMESTAMP          DATETIME(3)                    TIMESTAMP (ISO text)
    MAP/ARRAY/STRUCT   JSONB              JSON                           TEXT (JSON)

Beyond Confluent (which rejects them) maps, arrays and nested structs are stored as JSON
documents; schemaless JSON objects carry the ``io.debezium.data.Json`` logical name for
that. Timestamps are written as wall-clock time in ``db.timezone`` into zone-less columns,
as Confluent does with its ``db.timezone`` calendar.

Statements use the driver's positional placeholder so the bulk paths can hand rows to
``executemany``/COPY without building dicts.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import functools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from lambda_connect.api import Date, Decimal, Schema, Struct, Time, Timestamp, Type

__all__ = [
    "JSON_LOGICAL",
    "Column",
    "Dialect",
    "MySqlDialect",
    "PostgresDialect",
    "SqliteDialect",
    "TableId",
    "dialect_for",
    "json_text",
]

JSON_LOGICAL = "io.debezium.data.Json"
UTC = dt.UTC


@dataclass(frozen=True)
class TableId:
    """A table name as ``table.name.format`` produced it: ``[schema.]table`` (Confluent's TableId)."""

    table: str
    schema: str | None = None

    @classmethod
    def parse(cls, name: str) -> TableId:
        parts = name.split(".")
        if len(parts) == 1:
            return cls(parts[0])
        return cls(parts[-1], ".".join(parts[:-1]))

    def __str__(self) -> str:
        return f"{self.schema}.{self.table}" if self.schema else self.table


@dataclass(frozen=True)
class Column:
    """A column the sink needs: its Connect schema decides the SQL type and nullability."""

    name: str
    schema: Schema
    key: bool = False


def json_text(value: Any) -> str:
    """Serialise a map/array/struct (or schemaless JSON) for a JSON column."""
    return json.dumps(value, default=_json_default, separators=(",", ":"), ensure_ascii=False)


def _json_default(v: Any) -> Any:
    if isinstance(v, Struct):
        return v.to_dict()
    if isinstance(v, decimal.Decimal):
        return float(v) if v != v.to_integral_value() else int(v)
    if isinstance(v, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(v)).decode("ascii")
    if isinstance(v, (dt.datetime, dt.date, dt.time)):
        return v.isoformat()
    raise TypeError(f"{type(v).__name__} is not JSON serialisable")


# Types whose legal Connect values (int, float, bool, str) every driver binds as they are.
_PLAIN_TYPES = frozenset({Type.INT8, Type.INT16, Type.INT32, Type.INT64, Type.FLOAT32, Type.FLOAT64, Type.BOOLEAN,
                          Type.STRING})


def _is_complex(schema: Schema) -> bool:
    return schema.type in (Type.MAP, Type.ARRAY, Type.STRUCT) or schema.name == JSON_LOGICAL


class Dialect:
    """The PostgreSQL-flavoured standard; subclasses override only what their database changes."""

    name = "generic"
    placeholder = "%s"
    quote_char = '"'
    for_update = " FOR UPDATE"

    def __init__(self, quote_identifiers: bool = True, timezone: dt.tzinfo = UTC) -> None:
        self.quote_identifiers = quote_identifiers
        self.timezone = timezone

    # --- identifiers ---------------------------------------------------------------------
    def quote(self, identifier: str) -> str:
        if not self.quote_identifiers:
            return identifier
        q = self.quote_char
        return q + identifier.replace(q, q + q) + q

    def table(self, table: TableId) -> str:
        if table.schema:
            return ".".join(self.quote(p) for p in (*table.schema.split("."), table.table))
        return self.quote(table.table)

    def columns(self, names: Sequence[str]) -> str:
        return ", ".join(self.quote(n) for n in names)

    def params(self, n: int) -> str:
        return ", ".join([self.placeholder] * n)

    # --- types ---------------------------------------------------------------------------
    # Column types by Connect logical name, for nested values (maps, arrays, structs stored as
    # JSON) and by primitive type; each dialect overrides only the tables, not the dispatch.
    logical_types: ClassVar[dict[str, str]] = {
        Decimal.LOGICAL_NAME: "DECIMAL",
        Date.LOGICAL_NAME: "DATE",
        Time.LOGICAL_NAME: "TIME",
        Timestamp.LOGICAL_NAME: "TIMESTAMP",
    }
    complex_type: ClassVar[str] = "JSONB"
    primitive_types: ClassVar[dict[Type, str]] = {
        Type.INT8: "SMALLINT", Type.INT16: "SMALLINT", Type.INT32: "INT", Type.INT64: "BIGINT",
        Type.FLOAT32: "REAL", Type.FLOAT64: "DOUBLE PRECISION", Type.BOOLEAN: "BOOLEAN",
        Type.STRING: "TEXT", Type.BYTES: "BYTEA",
    }

    def sql_type(self, schema: Schema, *, key: bool = False) -> str:
        logical = self.logical_types.get(schema.name or "")
        if logical is not None:
            return logical
        if _is_complex(schema):
            return self.complex_type
        return self.primitive_type(schema.type, key=key)

    def primitive_type(self, type_: Type, *, key: bool = False) -> str:
        """The column type of a primitive; ``key`` columns may need a bounded type."""
        return self.primitive_types[type_]

    def column_definition(self, column: Column) -> str:
        schema = column.schema
        parts = [self.quote(column.name), self.sql_type(schema, key=column.key)]
        if schema.default is not None and not _is_complex(schema):
            parts.append("DEFAULT " + self.literal(schema, schema.default))
        parts.append("NULL" if schema.optional and not column.key else "NOT NULL")
        return " ".join(parts)

    def literal(self, schema: Schema, value: Any) -> str:
        """A default value as SQL text (only DDL uses this; data always goes through binds)."""
        bound = self.bind(schema, value)
        if isinstance(bound, bool):
            return self.bool_literal(bound)
        if isinstance(bound, (int, float, decimal.Decimal)):
            return str(bound)
        if isinstance(bound, (bytes, bytearray)):
            return self.bytes_literal(bytes(bound))
        text = bound.isoformat(sep=" ") if isinstance(bound, dt.datetime) else str(bound)
        return "'" + text.replace("'", "''") + "'"

    def bool_literal(self, value: bool) -> str:
        return "TRUE" if value else "FALSE"

    def bytes_literal(self, value: bytes) -> str:
        return "'\\x" + value.hex() + "'"

    # --- values --------------------------------------------------------------------------
    def bind(self, schema: Schema | None, value: Any) -> Any:
        """A Connect value in the form the driver binds for this column."""
        if value is None:
            return None
        if schema is not None:
            logical = schema.name
            if logical == Timestamp.LOGICAL_NAME:
                return self.timestamp(value)
            if _is_complex(schema):
                return value if isinstance(value, str) and logical == JSON_LOGICAL else json_text(value)
        if isinstance(value, (memoryview, bytearray)):
            return bytes(value)
        if isinstance(value, (dict, list, Struct)):
            return json_text(value)
        if isinstance(value, dt.datetime):
            return self.timestamp(value)
        return value

    def binder(self, schema: Schema | None) -> Callable[[Any], Any] | None:
        """``bind`` for one column, chosen once per column instead of once per value.

        None means "bind as is": a plain numeric, boolean or string column can only hold
        values the driver takes unchanged (Connect validates struct fields against their
        schema, and a schemaless column's schema was inferred from the values themselves).
        """
        if schema is not None and schema.name is None and schema.type in _PLAIN_TYPES:
            return None
        return functools.partial(self.bind, schema)

    def timestamp(self, value: dt.datetime) -> Any:
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return aware.astimezone(self.timezone).replace(tzinfo=None)

    # --- statements ----------------------------------------------------------------------
    def create_table(self, table: TableId, columns: Sequence[Column]) -> str:
        defs = [self.column_definition(c) for c in columns]
        keys = [c.name for c in columns if c.key]
        if keys:
            defs.append(f"PRIMARY KEY({self.columns(keys)})")
        return f"CREATE TABLE IF NOT EXISTS {self.table(table)} (\n" + ",\n".join(defs) + ")"

    def add_column(self, table: TableId, column: Column) -> str:
        return f"ALTER TABLE {self.table(table)} ADD {self.column_definition(column)}"

    def insert(self, table: TableId, columns: Sequence[str]) -> str:
        return f"INSERT INTO {self.table(table)}({self.columns(columns)}) VALUES({self.params(len(columns))})"

    def upsert(self, table: TableId, columns: Sequence[str], keys: Sequence[str]) -> str:
        return self.insert(table, columns) + " " + self.on_conflict(columns, keys)

    def on_conflict(self, columns: Sequence[str], keys: Sequence[str]) -> str:
        updates = [c for c in columns if c not in keys]
        if not updates:
            return f"ON CONFLICT ({self.columns(keys)}) DO NOTHING"
        sets = ", ".join(f"{self.quote(c)}=EXCLUDED.{self.quote(c)}" for c in updates)
        return f"ON CONFLICT ({self.columns(keys)}) DO UPDATE SET {sets}"

    def update(self, table: TableId, columns: Sequence[str], keys: Sequence[str]) -> str:
        """``UPDATE … SET non-keys … WHERE keys``; binds are the non-key values then the keys."""
        sets = ", ".join(f"{self.quote(c)}={self.placeholder}" for c in columns if c not in keys)
        return f"UPDATE {self.table(table)} SET {sets} WHERE {self._where(keys)}"

    def delete(self, table: TableId, keys: Sequence[str]) -> str:
        return f"DELETE FROM {self.table(table)} WHERE {self._where(keys)}"

    def _where(self, keys: Sequence[str]) -> str:
        return " AND ".join(f"{self.quote(k)}={self.placeholder}" for k in keys)

    def max_upsert(self, table: TableId, columns: Sequence[str], keys: Sequence[str], column: str) -> str:
        """An upsert that only ever raises ``column`` (the sink's offset high-water mark)."""
        c = self.quote(column)
        return (self.insert(table, columns) + f" ON CONFLICT ({self.columns(keys)}) DO UPDATE SET "
                f"{c}=GREATEST({self.table(table)}.{c}, EXCLUDED.{c})")

    def begin(self) -> str | None:
        """Statement that opens a write transaction, or None when the driver opens one itself."""
        return None

    # --- errors --------------------------------------------------------------------------
    def is_transient(self, exc: BaseException) -> bool:
        """True for failures that may pass on retry: lost connections, deadlocks, lock timeouts."""
        if getattr(exc, "connection_invalidated", False):
            return True
        from sqlalchemy import exc as sa_exc

        if isinstance(exc, (sa_exc.DisconnectionError, sa_exc.TimeoutError)):
            return True
        orig = getattr(exc, "orig", None) or exc
        return self._transient_driver_error(orig)

    def _transient_driver_error(self, orig: BaseException) -> bool:
        return False


class PostgresDialect(Dialect):
    name = "postgresql"

    _TRANSIENT_STATES = frozenset({"40001", "40P01", "55P03", "57P01", "57P02", "57P03", "53300", "53400"})

    def _transient_driver_error(self, orig: BaseException) -> bool:
        state = getattr(orig, "sqlstate", None)
        if state:
            return state.startswith("08") or state in self._TRANSIENT_STATES
        try:
            import psycopg
        except ImportError:  # pragma: no cover - the jdbc extra ships psycopg
            return False
        # No SQLSTATE: the server never answered (connection refused, reset, timeout).
        return isinstance(orig, psycopg.OperationalError)


class MySqlDialect(Dialect):
    name = "mysql"
    quote_char = "`"

    # lock wait timeout, deadlock, server gone/lost, can't connect, too many connections, query interrupted
    _TRANSIENT_CODES = frozenset({1205, 1213, 2002, 2003, 2006, 2013, 1040, 1053, 1927, 4031})

    logical_types: ClassVar[dict[str, str]] = {
        Date.LOGICAL_NAME: "DATE",
        Time.LOGICAL_NAME: "TIME(3)",
        Timestamp.LOGICAL_NAME: "DATETIME(3)",
    }
    complex_type: ClassVar[str] = "JSON"
    primitive_types: ClassVar[dict[Type, str]] = {
        Type.INT8: "TINYINT", Type.INT16: "SMALLINT", Type.INT32: "INT", Type.INT64: "BIGINT",
        Type.FLOAT32: "FLOAT", Type.FLOAT64: "DOUBLE", Type.BOOLEAN: "BOOLEAN",
        Type.STRING: "TEXT", Type.BYTES: "BLOB",
    }
    # MySQL cannot index TEXT/BLOB without a prefix length, so key columns get bounded types.
    _key_types: ClassVar[dict[Type, str]] = {Type.STRING: "VARCHAR(255)", Type.BYTES: "VARBINARY(767)"}

    def sql_type(self, schema: Schema, *, key: bool = False) -> str:
        if schema.name == Decimal.LOGICAL_NAME:  # MySQL's DECIMAL needs the scale in the type
            return f"DECIMAL(65,{Decimal.scale_of(schema)})"
        return super().sql_type(schema, key=key)

    def primitive_type(self, type_: Type, *, key: bool = False) -> str:
        return self._key_types.get(type_, self.primitive_types[type_]) if key else self.primitive_types[type_]

    def bytes_literal(self, value: bytes) -> str:
        return "X'" + value.hex() + "'"

    def on_conflict(self, columns: Sequence[str], keys: Sequence[str]) -> str:
        updates = [c for c in columns if c not in keys] or list(keys[:1])
        return "ON DUPLICATE KEY UPDATE " + ", ".join(f"{self.quote(c)}=VALUES({self.quote(c)})" for c in updates)

    def max_upsert(self, table: TableId, columns: Sequence[str], keys: Sequence[str], column: str) -> str:
        c = self.quote(column)
        return self.insert(table, columns) + f" ON DUPLICATE KEY UPDATE {c}=GREATEST({c}, VALUES({c}))"

    def _transient_driver_error(self, orig: BaseException) -> bool:
        args = getattr(orig, "args", ())
        code = args[0] if args and isinstance(args[0], int) else None
        return code in self._TRANSIENT_CODES


class SqliteDialect(Dialect):
    name = "sqlite"
    placeholder = "?"
    for_update = ""

    logical_types: ClassVar[dict[str, str]] = {
        Decimal.LOGICAL_NAME: "NUMERIC",
        Date.LOGICAL_NAME: "DATE",
        Time.LOGICAL_NAME: "TIME",
        Timestamp.LOGICAL_NAME: "TIMESTAMP",
    }
    complex_type: ClassVar[str] = "TEXT"
    primitive_types: ClassVar[dict[Type, str]] = {
        Type.INT8: "INTEGER", Type.INT16: "INTEGER", Type.INT32: "INTEGER", Type.INT64: "INTEGER",
        Type.FLOAT32: "REAL", Type.FLOAT64: "REAL", Type.BOOLEAN: "BOOLEAN",
        Type.STRING: "TEXT", Type.BYTES: "BLOB",
    }

    def bool_literal(self, value: bool) -> str:
        return "1" if value else "0"

    def bytes_literal(self, value: bytes) -> str:
        return "X'" + value.hex() + "'"

    def bind(self, schema: Schema | None, value: Any) -> Any:
        bound = super().bind(schema, value)
        # sqlite3 binds none of these natively (and its date adapters are deprecated).
        if isinstance(bound, decimal.Decimal):
            return str(bound)
        if isinstance(bound, dt.datetime):
            return bound.isoformat(sep=" ")
        if isinstance(bound, (dt.date, dt.time)):
            return bound.isoformat()
        return bound

    def max_upsert(self, table: TableId, columns: Sequence[str], keys: Sequence[str], column: str) -> str:
        c = self.quote(column)
        return (self.insert(table, columns) + f" ON CONFLICT ({self.columns(keys)}) DO UPDATE SET "
                f"{c}=MAX({c}, excluded.{c})")

    def begin(self) -> str | None:
        # IMMEDIATE takes the write lock up front, so two writers queue instead of deadlocking.
        return "BEGIN IMMEDIATE"

    def _transient_driver_error(self, orig: BaseException) -> bool:
        import sqlite3

        text = str(orig).lower()
        return isinstance(orig, sqlite3.OperationalError) and ("locked" in text or "busy" in text)


_DIALECTS: dict[str, type[Dialect]] = {"postgresql": PostgresDialect, "mysql": MySqlDialect, "sqlite": SqliteDialect}


def dialect_for(backend: str, *, quote_identifiers: bool = True, timezone: dt.tzinfo = UTC) -> Dialect:
    """The dialect for ``urls.backend_name(url)``; other backends get the standard SQL one."""
    return _DIALECTS.get(backend, Dialect)(quote_identifiers, timezone)
