"""State table on a SQL database through SQLAlchemy Core (``sqlite:///…``, ``postgresql://…``, ``mysql://…``).

SQLite is the local default; PostgreSQL and MySQL/MariaDB let several machines share one state.
Core only, never the ORM: it costs a fraction of the import time and every statement here is a
single-table ``INSERT``/``UPDATE`` whose row count is the concurrency check.

Tables (all names carry ``table_prefix``, default ``lc_``, so several deployments or test runs can
share a database):

=================  ==========================================  =====================================
table              key                                         columns
=================  ==========================================  =====================================
``connectors``     ``name``                                    config (JSON), version, target_state,
                                                               created_at, updated_at
``task_configs``   ``connector``                               config_version, configs (JSON list)
``statuses``       ``connector, task`` (-1 = the connector)    state, worker_id, trace, updated_at
``offsets``        ``connector, partition_hash`` (sha256 of    source_partition (canonical JSON),
                   the canonical partition JSON)               source_offset (JSON)
``leases``         ``connector, task``                         owner, epoch, expires_at
``resources``      ``connector``; unique ``alias``             resources (JSON), alias
``topics``         ``connector, topic``                        —
=================  ==========================================  =====================================

Concurrency: every compare-and-set is an ``UPDATE … WHERE version/epoch = :seen`` whose row count
tells whether we won, and every "create if absent" is an ``INSERT`` that a unique key can refuse;
a refused insert or a lost race re-runs the whole transaction, which then sees the winner's row.
A fenced offset commit locks the lease row (``SELECT … FOR UPDATE``) so a lease cannot change
hands between the epoch check and the offset writes. On SQLite every transaction starts with
``BEGIN IMMEDIATE`` (SQLite has no row locks), the file runs in WAL mode and waits on a busy
timeout, so threads and processes can share one file.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ..api.errors import AlreadyExistsException, ConflictException, NotFoundException
from .base import (
    ConnectorEntry,
    Lease,
    StatusEntry,
    TaskConfigs,
    check_config,
    dedupe_offsets,
    normalize_target_state,
    now,
    partition_digest,
    require_task,
    version_conflict,
)

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine, Table

__all__ = ["SqlStateStore", "normalize_sql_url"]

_T = TypeVar("_T")
_ATTEMPTS = 50
_CONNECTOR_ROW = -1  # statuses.task value of the connector's own status
_BUSY_TIMEOUT_MS = 30_000
_DRIVERS = {
    "postgresql": "postgresql+psycopg",
    "postgres": "postgresql+psycopg",
    "mysql": "mysql+pymysql",
    "mariadb": "mysql+pymysql",
}


def normalize_sql_url(url: str) -> str:
    """Point bare ``postgresql://``/``mysql://``/``mariadb://`` URLs at the drivers we ship
    (psycopg 3, PyMySQL); SQLAlchemy's own defaults (psycopg2, mysqlclient) are not installed."""
    scheme, sep, rest = url.partition("://")
    return _DRIVERS.get(scheme.lower(), scheme) + sep + rest


class _Retry(Exception):
    """A compare-and-set lost a race that the caller did not ask to hear about: run again."""


class _Tables:
    """The schema, defined once per store so each ``table_prefix`` gets its own tables."""

    def __init__(self, prefix: str) -> None:
        import sqlalchemy as sa

        self.metadata = sa.MetaData()
        name = sa.String(255)
        # utf8mb4_bin: Kafka topic and connector names are case-sensitive, MySQL's default collation is not.
        opts = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}
        self.connectors = sa.Table(
            f"{prefix}connectors", self.metadata,
            sa.Column("name", name, primary_key=True),
            sa.Column("config", sa.Text, nullable=False),
            sa.Column("version", sa.Integer, nullable=False),
            sa.Column("target_state", sa.String(16), nullable=False),
            sa.Column("created_at", sa.Double, nullable=False),
            sa.Column("updated_at", sa.Double, nullable=False),
            **opts,
        )  # fmt: skip
        self.task_configs = sa.Table(
            f"{prefix}task_configs", self.metadata,
            sa.Column("connector", name, primary_key=True),
            sa.Column("config_version", sa.Integer, nullable=False),
            sa.Column("configs", sa.Text, nullable=False),
            **opts,
        )  # fmt: skip
        self.statuses = sa.Table(
            f"{prefix}statuses", self.metadata,
            sa.Column("connector", name, primary_key=True),
            sa.Column("task", sa.Integer, primary_key=True, autoincrement=False),
            sa.Column("state", sa.String(32), nullable=False),
            sa.Column("worker_id", name, nullable=False),
            sa.Column("trace", sa.Text),
            sa.Column("updated_at", sa.Double, nullable=False),
            **opts,
        )  # fmt: skip
        self.offsets = sa.Table(
            f"{prefix}offsets", self.metadata,
            sa.Column("connector", name, primary_key=True),
            sa.Column("partition_hash", sa.String(64), primary_key=True),
            sa.Column("source_partition", sa.Text, nullable=False),
            sa.Column("source_offset", sa.Text, nullable=False),
            **opts,
        )  # fmt: skip
        self.leases = sa.Table(
            f"{prefix}leases", self.metadata,
            sa.Column("connector", name, primary_key=True),
            sa.Column("task", sa.Integer, primary_key=True, autoincrement=False),
            sa.Column("owner", name, nullable=False),
            sa.Column("epoch", sa.BigInteger, nullable=False),
            sa.Column("expires_at", sa.Double, nullable=False),
            **opts,
        )  # fmt: skip
        self.resources = sa.Table(
            f"{prefix}resources", self.metadata,
            sa.Column("connector", name, primary_key=True),
            sa.Column("resources", sa.Text, nullable=False),
            sa.Column("alias", name, nullable=True),
            sa.UniqueConstraint("alias", name=f"{prefix}resources_alias_uq"),
            **opts,
        )  # fmt: skip
        self.topics = sa.Table(
            f"{prefix}topics", self.metadata,
            sa.Column("connector", name, primary_key=True),
            sa.Column("topic", name, primary_key=True),
            **opts,
        )  # fmt: skip

    @property
    def per_connector(self) -> list[Table]:
        """Every table keyed by ``connector`` (all but ``connectors`` itself)."""
        return [self.task_configs, self.statuses, self.offsets, self.leases, self.resources, self.topics]


class SqlStateStore:
    """A :class:`~lambda_connect.state.base.StateStore` on any SQLAlchemy-supported database.

    ``table_prefix`` separates deployments (and parallel test runs) sharing one database;
    ``engine`` lets a caller reuse an engine it configured itself.
    """

    def __init__(self, url: str, *, table_prefix: str = "lc_", engine: Engine | None = None) -> None:
        try:
            import sqlalchemy as sa
        except ImportError as e:  # pragma: no cover - exercised only without the extra
            raise ImportError("The SQL state store needs SQLAlchemy: pip install 'lambda-connect[local]'") from e
        self._sa = sa
        self.url = normalize_sql_url(url)
        self._engine = engine if engine is not None else _create_engine(self.url)
        # SQLite in memory lives in one connection shared by all threads; serialise its use.
        self._lock: Any = threading.RLock() if _is_sqlite_memory(self._engine) else nullcontext()
        self._t = _Tables(table_prefix)
        self._run(lambda conn: self._t.metadata.create_all(conn, checkfirst=True), retry_integrity=True)

    # -- plumbing ----------------------------------------------------------------------------

    def _run(self, op: Callable[[Connection], _T], *, retry_integrity: bool = False) -> _T:
        """Run ``op`` in one transaction, re-running it after a lost race or a transient lock error."""
        exc = self._sa.exc
        for attempt in range(_ATTEMPTS):
            try:
                with self._lock, self._engine.begin() as conn:
                    return op(conn)
            except _Retry:
                pass
            except exc.IntegrityError:
                if not retry_integrity or attempt == _ATTEMPTS - 1:
                    raise
            except (exc.OperationalError, exc.ProgrammingError) as e:
                if not _is_transient(e) or attempt == _ATTEMPTS - 1:
                    raise
            time.sleep(random.uniform(0, 0.002 * min(attempt + 1, 25)))
        raise ConflictException("The state store stayed contended; giving up after repeated retries")

    def _upsert(self, conn: Connection, table: Table, keys: dict[str, Any], values: dict[str, Any]) -> None:
        """Insert or overwrite one row by primary key, without a read-then-write race."""
        dialect = conn.dialect.name
        if dialect in ("postgresql", "sqlite"):
            if dialect == "postgresql":
                from sqlalchemy.dialects.postgresql import insert
            else:
                from sqlalchemy.dialects.sqlite import insert
            stmt = insert(table).values(**keys, **values)
            if values:
                stmt = stmt.on_conflict_do_update(index_elements=list(keys), set_=values)
            else:
                stmt = stmt.on_conflict_do_nothing(index_elements=list(keys))
            conn.execute(stmt)
        elif dialect in ("mysql", "mariadb"):
            from sqlalchemy.dialects.mysql import insert

            stmt = insert(table).values(**keys, **values)
            conn.execute(stmt.on_duplicate_key_update(**(values or {k: stmt.inserted[k] for k in keys})))
        else:  # any other database: update, else insert (a racing insert is retried by _run)
            where = [table.c[k] == v for k, v in keys.items()]
            if values and conn.execute(self._sa.update(table).where(*where).values(**values)).rowcount:
                return
            if not values and conn.execute(self._sa.select(*table.primary_key.columns).where(*where)).first():
                return
            conn.execute(self._sa.insert(table).values(**keys, **values))

    @staticmethod
    def _entry(row: Any) -> ConnectorEntry:
        return ConnectorEntry(
            row.name, json.loads(row.config), row.version, row.target_state, row.created_at, row.updated_at
        )

    # -- connector configs -------------------------------------------------------------------

    def create_connector(self, name: str, config: Mapping[str, str], target_state: str = "RUNNING") -> ConnectorEntry:
        config, target_state = check_config(config), normalize_target_state(target_state)
        ts = now()
        entry = ConnectorEntry(name, config, 1, target_state, ts, ts)
        row = {**entry.__dict__, "config": json.dumps(config)}
        try:
            self._run(lambda conn: conn.execute(self._sa.insert(self._t.connectors).values(**row)))
        except self._sa.exc.IntegrityError:
            raise AlreadyExistsException(f"Connector {name} already exists") from None
        return entry

    def get_connector(self, name: str) -> ConnectorEntry | None:
        c = self._t.connectors
        row = self._run(lambda conn: conn.execute(self._sa.select(c).where(c.c.name == name)).first())
        return None if row is None else self._entry(row)

    def list_connectors(self) -> list[str]:
        c = self._t.connectors
        return sorted(self._run(lambda conn: list(conn.execute(self._sa.select(c.c.name)).scalars())))

    def _change(self, name: str, expected_version: int | None, **values: Any) -> ConnectorEntry:
        c = self._t.connectors

        def op(conn: Connection) -> ConnectorEntry:
            row = conn.execute(self._sa.select(c).where(c.c.name == name)).first()
            if row is None:
                raise NotFoundException(f"Connector {name} not found")
            if expected_version is not None and row.version != expected_version:
                raise version_conflict(name, expected_version, row.version)
            stamp = {"version": row.version + 1, "updated_at": now()}
            stored = {k: json.dumps(v) if k == "config" else v for k, v in values.items()}
            done = conn.execute(
                self._sa.update(c).where(c.c.name == name, c.c.version == row.version).values(**stamp, **stored)
            )
            if done.rowcount != 1:
                if expected_version is not None:
                    raise version_conflict(name, expected_version, None)
                raise _Retry
            current = self._entry(row)
            return ConnectorEntry(
                name,
                values.get("config", current.config),
                stamp["version"],
                values.get("target_state", current.target_state),
                current.created_at,
                stamp["updated_at"],
            )

        return self._run(op)

    def update_connector(
        self, name: str, config: Mapping[str, str], *, expected_version: int | None = None
    ) -> ConnectorEntry:
        return self._change(name, expected_version, config=check_config(config))

    def set_target_state(self, name: str, target_state: str, *, expected_version: int | None = None) -> ConnectorEntry:
        return self._change(name, expected_version, target_state=normalize_target_state(target_state))

    def delete_connector(self, name: str) -> bool:
        sa, t = self._sa, self._t

        def op(conn: Connection) -> bool:
            for table in t.per_connector:
                conn.execute(sa.delete(table).where(table.c.connector == name))
            return conn.execute(sa.delete(t.connectors).where(t.connectors.c.name == name)).rowcount == 1

        return self._run(op)

    # -- task configs ------------------------------------------------------------------------

    def put_task_configs(self, name: str, config_version: int, configs: Iterable[Mapping[str, str]]) -> bool:
        sa, t = self._sa, self._t
        payload = json.dumps([check_config(c) for c in configs])
        tc = t.task_configs

        def op(conn: Connection) -> bool:
            if conn.execute(sa.select(t.connectors.c.name).where(t.connectors.c.name == name)).first() is None:
                raise NotFoundException(f"Connector {name} not found")
            seen = conn.execute(sa.select(tc.c.config_version).where(tc.c.connector == name)).scalar()
            if seen is None:
                conn.execute(sa.insert(tc).values(connector=name, config_version=config_version, configs=payload))
                return True
            if seen >= config_version:
                return False
            done = conn.execute(
                sa.update(tc)
                .where(tc.c.connector == name, tc.c.config_version == seen)
                .values(config_version=config_version, configs=payload)
            )
            if done.rowcount != 1:
                raise _Retry
            return True

        return self._run(op, retry_integrity=True)

    def get_task_configs(self, name: str) -> TaskConfigs | None:
        tc = self._t.task_configs
        row = self._run(lambda conn: conn.execute(self._sa.select(tc).where(tc.c.connector == name)).first())
        return None if row is None else TaskConfigs(row.config_version, json.loads(row.configs))

    def clear_task_configs(self, name: str) -> None:
        tc = self._t.task_configs
        self._run(lambda conn: conn.execute(self._sa.delete(tc).where(tc.c.connector == name)))

    # -- statuses ----------------------------------------------------------------------------

    def _put_status(self, name: str, task: int, status: StatusEntry) -> None:
        values = {
            "state": status.state,
            "worker_id": status.worker_id,
            "trace": status.trace,
            "updated_at": status.updated_at,
        }
        keys = {"connector": name, "task": task}
        self._run(lambda conn: self._upsert(conn, self._t.statuses, keys, values), retry_integrity=True)

    def put_connector_status(self, name: str, status: StatusEntry) -> None:
        self._put_status(name, _CONNECTOR_ROW, status)

    def put_task_status(self, name: str, task: int, status: StatusEntry) -> None:
        self._put_status(name, int(task), status)

    def _statuses(self, name: str, *where: Any) -> list[Any]:
        s = self._t.statuses
        query = self._sa.select(s).where(s.c.connector == name, *where).order_by(s.c.task)
        return self._run(lambda conn: list(conn.execute(query)))

    def get_connector_status(self, name: str) -> StatusEntry | None:
        rows = self._statuses(name, self._t.statuses.c.task == _CONNECTOR_ROW)
        return _status(rows[0]) if rows else None

    def get_task_statuses(self, name: str) -> dict[int, StatusEntry]:
        return {row.task: _status(row) for row in self._statuses(name, self._t.statuses.c.task >= 0)}

    def clear_task_statuses(self, name: str) -> None:
        s = self._t.statuses
        self._run(lambda conn: conn.execute(self._sa.delete(s).where(s.c.connector == name, s.c.task >= 0)))

    # -- source offsets ----------------------------------------------------------------------

    def get_offsets(self, name: str) -> list[tuple[dict, dict]]:
        o = self._t.offsets
        query = self._sa.select(o.c.source_partition, o.c.source_offset).where(o.c.connector == name)
        rows = self._run(lambda conn: list(conn.execute(query)))
        rows.sort(key=lambda r: r.source_partition)
        return [(json.loads(r.source_partition), json.loads(r.source_offset)) for r in rows]

    def get_offset(self, name: str, partition: Mapping) -> dict | None:
        o = self._t.offsets
        query = self._sa.select(o.c.source_offset).where(
            o.c.connector == name, o.c.partition_hash == partition_digest(partition)
        )
        found = self._run(lambda conn: conn.execute(query).scalar())
        return None if found is None else json.loads(found)

    def commit_offsets(
        self,
        name: str,
        offsets: Iterable[tuple[Mapping, Mapping | None]],
        *,
        task: int | None = None,
        epoch: int | None = None,
    ) -> bool:
        sa, o, le = self._sa, self._t.offsets, self._t.leases
        writes = [
            (partition_digest(p), key, None if off is None else json.dumps(off))
            for key, (p, off) in dedupe_offsets(offsets).items()
        ]
        fenced_task = require_task(task) if epoch is not None else None

        def op(conn: Connection) -> bool:
            if epoch is not None:
                held = conn.execute(
                    sa.select(le.c.epoch).where(le.c.connector == name, le.c.task == fenced_task).with_for_update()
                ).scalar()
                if held != epoch:
                    return False
            for digest, key, offset in writes:
                if offset is None:
                    conn.execute(sa.delete(o).where(o.c.connector == name, o.c.partition_hash == digest))
                else:
                    keys = {"connector": name, "partition_hash": digest}
                    self._upsert(conn, o, keys, {"source_partition": key, "source_offset": offset})
            return True

        return self._run(op, retry_integrity=True)

    def delete_offsets(self, name: str) -> None:
        o = self._t.offsets
        self._run(lambda conn: conn.execute(self._sa.delete(o).where(o.c.connector == name)))

    # -- task leases -------------------------------------------------------------------------

    def acquire_lease(
        self, name: str, task: int, owner: str, ttl_seconds: float, now: float | None = None
    ) -> Lease | None:
        sa, le = self._sa, self._t.leases
        at = _now() if now is None else now

        def op(conn: Connection) -> Lease | None:
            row = conn.execute(sa.select(le).where(le.c.connector == name, le.c.task == task)).first()
            lease = Lease(name, task, owner, (row.epoch if row else 0) + 1, at + ttl_seconds)
            if row is None:
                conn.execute(sa.insert(le).values(**lease.__dict__))
                return lease
            if row.owner != owner and row.expires_at > at:
                return None
            done = conn.execute(
                sa.update(le)
                .where(le.c.connector == name, le.c.task == task, le.c.epoch == row.epoch)
                .values(owner=owner, epoch=lease.epoch, expires_at=lease.expires_at)
            )
            if done.rowcount != 1:
                raise _Retry
            return lease

        return self._run(op, retry_integrity=True)

    def _update_lease(self, lease: Lease, expires_at: float) -> bool:
        le = self._t.leases
        stmt = (
            self._sa.update(le)
            .where(
                le.c.connector == lease.connector,
                le.c.task == lease.task,
                le.c.epoch == lease.epoch,
                le.c.owner == lease.owner,
            )
            .values(expires_at=expires_at)
        )
        return self._run(lambda conn: conn.execute(stmt).rowcount == 1)

    def renew_lease(self, lease: Lease, ttl_seconds: float) -> Lease | None:
        expires_at = _now() + ttl_seconds
        if not self._update_lease(lease, expires_at):
            return None
        return Lease(lease.connector, lease.task, lease.owner, lease.epoch, expires_at)

    def release_lease(self, lease: Lease) -> bool:
        return self._update_lease(lease, 0.0)

    def get_lease(self, name: str, task: int) -> Lease | None:
        le = self._t.leases
        query = self._sa.select(le).where(le.c.connector == name, le.c.task == task)
        row = self._run(lambda conn: conn.execute(query).first())
        return None if row is None else Lease(row.connector, row.task, row.owner, row.epoch, row.expires_at)

    # -- platform resources ------------------------------------------------------------------

    def put_resources(self, name: str, resources: Mapping) -> None:
        sa, r = self._sa, self._t.resources
        payload = json.dumps(dict(resources))
        alias = resources.get("alias")
        alias = None if alias is None else str(alias)

        def op(conn: Connection) -> None:
            if alias is not None:
                holder = conn.execute(sa.select(r.c.connector).where(r.c.alias == alias)).scalar()
                if holder is not None and holder != name:
                    raise ConflictException(f"Alias {alias} already belongs to connector {holder}")
            values = {"resources": payload, "alias": alias}
            if conn.execute(sa.update(r).where(r.c.connector == name).values(**values)).rowcount == 0:
                conn.execute(sa.insert(r).values(connector=name, **values))

        self._run(op, retry_integrity=True)

    def get_resources(self, name: str) -> dict:
        r = self._t.resources
        query = self._sa.select(r.c.resources).where(r.c.connector == name)
        found = self._run(lambda conn: conn.execute(query).scalar())
        return {} if found is None else json.loads(found)

    def connector_for_alias(self, alias: str) -> str | None:
        r = self._t.resources
        return self._run(lambda conn: conn.execute(self._sa.select(r.c.connector).where(r.c.alias == alias)).scalar())

    # -- active topics -----------------------------------------------------------------------

    def add_active_topics(self, name: str, topics: Iterable[str]) -> None:
        topics = sorted(set(topics))

        def op(conn: Connection) -> None:
            for topic in topics:
                self._upsert(conn, self._t.topics, {"connector": name, "topic": topic}, {})

        if topics:
            self._run(op, retry_integrity=True)

    def get_active_topics(self, name: str) -> set[str]:
        tp = self._t.topics
        query = self._sa.select(tp.c.topic).where(tp.c.connector == name)
        return self._run(lambda conn: set(conn.execute(query).scalars()))

    def reset_active_topics(self, name: str) -> None:
        tp = self._t.topics
        self._run(lambda conn: conn.execute(self._sa.delete(tp).where(tp.c.connector == name)))

    # -- lifecycle ---------------------------------------------------------------------------

    def drop_tables(self) -> None:
        """Remove this store's tables (test clean-up and ``reset`` of a local state)."""
        self._run(lambda conn: self._t.metadata.drop_all(conn, checkfirst=True))

    def close(self) -> None:
        self._engine.dispose()


_now = now


def _status(row: Any) -> StatusEntry:
    return StatusEntry(row.state, row.worker_id, row.trace, row.updated_at)


def _is_transient(error: Exception) -> bool:
    """Deadlocks, serialisation failures and SQLite's busy lock: the retry will succeed."""
    orig = getattr(error, "orig", None)
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if code in ("40001", "40P01"):
        return True
    args = getattr(orig, "args", ())
    if args and args[0] in (1205, 1213):  # MySQL lock wait timeout, deadlock
        return True
    text = str(orig).lower()
    return "database is locked" in text or "database table is locked" in text


def _is_sqlite_memory(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite" and engine.url.database in (None, "", ":memory:")


def _create_engine(url: str) -> Engine:
    """An engine tuned per database: SQLite gets WAL, a busy timeout and ``BEGIN IMMEDIATE``."""
    import sqlalchemy as sa
    from sqlalchemy.pool import StaticPool

    parsed = sa.make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return sa.create_engine(url, pool_pre_ping=True)
    database = parsed.database
    memory = database in (None, "", ":memory:")
    if memory:
        engine = sa.create_engine(url, poolclass=StaticPool, connect_args={"check_same_thread": False})
    else:
        if not database.startswith("file:"):
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": _BUSY_TIMEOUT_MS / 1000, "check_same_thread": False})

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take over transaction control from the sqlite3 module so BEGIN IMMEDIATE is ours to emit.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
        if not memory:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine
