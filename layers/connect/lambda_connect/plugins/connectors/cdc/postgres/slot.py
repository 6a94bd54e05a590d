"""The server side of PostgreSQL capture: connections, checks, the publication and the slot.

Everything here runs on the *control* connection (autocommit), never on the one that holds the
read cursor, so a catalog lookup or a slot advance cannot disturb a read in progress.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lambda_connect.api import ConnectException

__all__ = ["SlotState", "connect", "ensure_publication", "ensure_slot", "lsn_text", "parse_lsn", "slot_lag"]

log = logging.getLogger(__name__)
_MISSING = "The PostgreSQL CDC source needs psycopg: pip install 'lambda-connect[cdc]'"
#: Session settings that make the text form of values predictable (pgoutput formats values with
#: the decoding session's settings).
SESSION = {"TimeZone": "UTC", "DateStyle": "ISO", "IntervalStyle": "postgres", "bytea_output": "hex",
           "extra_float_digits": "3"}


def parse_lsn(text: str | None) -> int | None:
    if not text:
        return None
    high, low = text.split("/")
    return (int(high, 16) << 32) + int(low, 16)


def lsn_text(value: int) -> str:
    return f"{value >> 32:X}/{value & 0xFFFFFFFF:X}"


def connect(config: Mapping[str, Any], *, autocommit: bool) -> Any:
    """A psycopg connection with our session settings; a failed login names the keys to fix."""
    try:
        import psycopg
    except ImportError as e:  # pragma: no cover - depends on the installed extras
        raise ConnectException(_MISSING) from e
    password = config["database.password"]
    host, port, user, db = (config["database.hostname"], config["database.port"], config["database.user"],
                            config["database.dbname"])
    options = " ".join(f"-c {k}={v}" for k, v in SESSION.items())
    try:
        return psycopg.connect(host=host, port=port, user=user, dbname=db,
                               password=password.value() if password is not None else None,
                               sslmode=config["database.sslmode"], connect_timeout=10, autocommit=autocommit,
                               options=options, application_name="lambda-connect-cdc")
    except psycopg.OperationalError as e:
        text = str(e).strip()
        hint = ""
        if "password" in text or "authentication" in text:
            hint = " Check database.user and database.password."
        elif "does not exist" in text:
            hint = " Check database.dbname and database.user."
        else:
            hint = " Check database.hostname and database.port, and that the server accepts connections from here."
        raise ConnectException(f"Could not connect to PostgreSQL at {host}:{port} (database {db}, user {user}): "
                               f"{text}.{hint}") from e


def check_server(conn: Any) -> None:
    """Logical decoding needs ``wal_level=logical``; say so plainly rather than let slot creation fail."""
    level = conn.execute("SHOW wal_level").fetchone()[0]
    if level != "logical":
        raise ConnectException(
            f"PostgreSQL runs with wal_level={level}; change data capture needs wal_level=logical. Set it in "
            "postgresql.conf (on Amazon RDS and Aurora: the parameter rds.logical_replication=1 in the DB "
            "parameter group) and restart the server.")
    version = conn.info.server_version
    if version < 140000:
        raise ConnectException(f"PostgreSQL {version // 10000} is too old: the CDC source needs 14 or later "
                               "(pgoutput logical messages).")


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def qualified(table: str) -> str:
    schema, _, name = table.partition(".")
    return f"{quote_ident(schema)}.{quote_ident(name)}"


def ensure_publication(conn: Any, name: str, mode: str, tables: Sequence[str]) -> None:
    """Create (or, in ``filtered`` mode, re-point) the publication as ``publication.autocreate.mode`` says."""
    exists = conn.execute("SELECT puballtables FROM pg_publication WHERE pubname = %s", (name,)).fetchone()
    if mode == "disabled":
        if exists is None:
            raise ConnectException(f"Publication {name} does not exist and publication.autocreate.mode=disabled: "
                                   f"create it (CREATE PUBLICATION {quote_ident(name)} FOR TABLE ...) or choose "
                                   "another mode.")
        return
    target = ", ".join(qualified(t) for t in tables)
    try:
        if exists is None:
            if mode == "all_tables":
                conn.execute(f"CREATE PUBLICATION {quote_ident(name)} FOR ALL TABLES")
            elif mode == "filtered" and tables:
                conn.execute(f"CREATE PUBLICATION {quote_ident(name)} FOR TABLE {target}")
            else:
                conn.execute(f"CREATE PUBLICATION {quote_ident(name)}")
            log.info("Created publication %s (%s)", name, mode)
        elif mode == "filtered" and tables and not exists[0]:
            conn.execute(f"ALTER PUBLICATION {quote_ident(name)} SET TABLE {target}")
    except Exception as e:
        raise ConnectException(f"Could not create or update publication {name}: {e}".strip()) from e


@dataclass
class SlotState:
    confirmed_flush: int
    restart: int | None
    wal_status: str | None
    active_pid: int | None
    current: int
    created: bool = False

    @property
    def lag_bytes(self) -> int:
        return max(self.current - self.confirmed_flush, 0)


def slot_state(conn: Any, slot: str) -> SlotState | None:
    row = conn.execute(
        "SELECT confirmed_flush_lsn::text, restart_lsn::text, wal_status, active_pid, plugin, database, "
        "pg_current_wal_lsn()::text FROM pg_replication_slots WHERE slot_name = %s", (slot,)).fetchone()
    if row is None:
        return None
    confirmed, restart, status, pid, plugin, database, current = row
    if plugin != "pgoutput":
        raise ConnectException(f"Replication slot {slot} uses the output plugin {plugin}; this connector reads "
                               "pgoutput. Give slot.name a new slot, or drop this one.")
    own_db = conn.execute("SELECT current_database()").fetchone()[0]
    if database != own_db:
        raise ConnectException(f"Replication slot {slot} belongs to database {database}, not {own_db}.")
    return SlotState(parse_lsn(confirmed) or 0, parse_lsn(restart), status, pid, parse_lsn(current) or 0)


def ensure_slot(conn: Any, slot: str) -> SlotState:
    state = slot_state(conn, slot)
    if state is not None:
        return state
    try:
        conn.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", (slot,))
    except Exception as e:
        text = str(e).strip()
        hint = ""
        if "superuser or replication role" in text or "permission" in text:
            hint = (" The user needs the REPLICATION attribute (ALTER ROLE ... REPLICATION; on RDS: GRANT "
                    "rds_replication TO ...).")
        raise ConnectException(f"Could not create replication slot {slot}: {text}.{hint}") from e
    log.info("Created replication slot %s (pgoutput)", slot)
    state = slot_state(conn, slot)
    assert state is not None
    state.created = True
    return state


def advance_slot(conn: Any, slot: str, lsn: int) -> None:
    """Confirm the slot up to ``lsn``; a slot already at or past it is left alone (advancing backwards
    is an error in PostgreSQL)."""
    row = conn.execute("SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = %s",
                       (slot,)).fetchone()
    if row is None or (parse_lsn(row[0]) or 0) >= lsn:
        return
    conn.execute("SELECT pg_replication_slot_advance(%s, %s::pg_lsn)", (slot, lsn_text(lsn)))


def slot_lag(conn: Any, slot: str) -> int | None:
    """Bytes of WAL between the slot's confirmed position and the server's current one (None when
    the slot is gone)."""
    row = conn.execute("SELECT (pg_current_wal_lsn() - confirmed_flush_lsn)::bigint FROM pg_replication_slots "
                       "WHERE slot_name = %s", (slot,)).fetchone()
    if row is None or row[0] is None:
        return None
    return max(int(row[0]), 0)


def drop_slot(conn: Any, slot: str) -> None:
    conn.execute("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = %s",
                 (slot,))
