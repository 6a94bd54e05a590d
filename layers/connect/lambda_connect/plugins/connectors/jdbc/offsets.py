"""The sink's own offset table: the exactly-once half of the JDBC sink.

The event source mapping commits Kafka offsets only after the invocation returns, so a
crash (or a timeout) between our database commit and that return makes Kafka redeliver
records that are already in the table. We therefore store, per connector and
topic-partition, the highest offset written — in the *same* transaction as the rows. On
redelivery the locked row tells which records are already in; they are skipped, whatever
the insert mode. Rows are locked ``FOR UPDATE`` so that two invocations racing on one
partition serialise instead of both writing (SQLite serialises through ``BEGIN IMMEDIATE``).

Coordinates are the record's *original* topic/partition/offset: the ones the consumer group
commits, even when a transform renamed the topic.

Each mark also records the identity of the topic incarnation it counts in
(``topic_identity``, see ``SinkTaskContext.topic_identity``): offsets of a deleted and
recreated topic, or of a new broker, start at 0 again and must not be filtered by the marks
of the old one. Tables created before that column existed get it added on first use; their
marks carry no identity until the next batch claims them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lambda_connect.api import Schema, Type

from .dialects import Column, Dialect, TableId

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

__all__ = ["DEFAULT_OFFSETS_TABLE", "Marks", "OffsetStore"]

log = logging.getLogger(__name__)

DEFAULT_OFFSETS_TABLE = "__lambda_connect_sink_offsets"

_COLUMNS = (
    Column("connector", Schema(Type.STRING), key=True),
    Column("topic", Schema(Type.STRING), key=True),
    Column("kafka_partition", Schema(Type.INT32), key=True),
    Column("kafka_offset", Schema(Type.INT64)),
    Column("topic_identity", Schema(Type.STRING, optional=True)),
)
_IDENTITY = _COLUMNS[-1]
_NAMES = tuple(c.name for c in _COLUMNS[:4])
_KEYS = _NAMES[:3]

_created: set[tuple[str, str]] = set()
_created_lock = threading.Lock()

Partition = tuple[str, int]


@dataclass
class Marks:
    """Stored marks of some partitions: highest offset written and the topic identity it counts in."""

    offsets: dict[Partition, int]
    identities: dict[Partition, str | None]


class OffsetStore:
    """Reads, locks, advances and moves the per-partition high-water marks of one connector."""

    def __init__(self, engine: Engine, dialect: Dialect, table: str, connector: str) -> None:
        self.engine = engine
        self.dialect = dialect
        self.table = TableId.parse(table)
        self.connector = connector
        self._seeded: set[Partition] = set()
        q = dialect.quote
        where = f"{q('connector')}={dialect.placeholder} AND {q('topic')}={dialect.placeholder} AND " \
                f"{q('kafka_partition')}={dialect.placeholder}"
        table_sql = dialect.table(self.table)
        self._select = f"SELECT {q('kafka_offset')}, {q('topic_identity')} FROM {table_sql} WHERE {where}"
        self._upsert = dialect.max_upsert(self.table, _NAMES, _KEYS, "kafka_offset")
        self._rekey = f"UPDATE {table_sql} SET {q('kafka_offset')}={dialect.placeholder}, " \
                      f"{q('topic_identity')}={dialect.placeholder} WHERE {where}"
        self._move = f"UPDATE {table_sql} SET {q('kafka_offset')}={dialect.placeholder} WHERE {where}"
        self._forget = f"UPDATE {table_sql} SET {q('kafka_offset')}=-1 WHERE {q('connector')}={dialect.placeholder}"

    def ensure_table(self) -> None:
        """Create the table (or add ``topic_identity`` to one made by an older version), once per process."""
        key = (str(self.engine.url), str(self.table))
        if key in _created:
            return
        with _created_lock:
            if key in _created:
                return
            try:
                with self.engine.begin() as conn:
                    conn.exec_driver_sql(self.dialect.create_table(self.table, _COLUMNS))
            except Exception:
                # PostgreSQL's IF NOT EXISTS still races on its catalog; the loser finds the table.
                if not self._exists():
                    raise
            if _IDENTITY.name not in self._column_names():
                try:
                    with self.engine.begin() as conn:
                        conn.exec_driver_sql(self.dialect.add_column(self.table, _IDENTITY))
                except Exception:
                    if _IDENTITY.name not in self._column_names():  # another container added it first
                        raise
                log.info("Added column %s to the sink offsets table %s", _IDENTITY.name, self.table)
            _created.add(key)

    def prepare(self, partitions: Iterable[Partition]) -> None:
        """Make sure the table exists and seed a row (-1) per new partition.

        Seeding in its own short transaction means the data transaction always finds a row
        to lock, even for a partition's very first batch.
        """
        self.ensure_table()
        new = [p for p in partitions if p not in self._seeded]
        if not new:
            return
        self._run(lambda cur: cur.executemany(self._upsert, [(self.connector, t, p, -1) for t, p in new]))
        self._seeded.update(new)

    def _run(self, work: Callable[[Any], None]) -> None:
        """``work(cursor)`` in a short transaction of its own."""
        raw = self.engine.raw_connection()
        try:
            cur = raw.cursor()
            begin = self.dialect.begin()
            if begin:
                cur.execute(begin)
            work(cur)
            raw.commit()
        except BaseException:
            raw.rollback()
            raise
        finally:
            raw.close()

    def _exists(self) -> bool:
        from sqlalchemy import inspect

        with self.engine.connect() as conn:
            return inspect(conn).has_table(self.table.table, schema=self.table.schema)

    def _column_names(self) -> set[str]:
        from sqlalchemy import inspect

        with self.engine.connect() as conn:
            return {c["name"].lower() for c in inspect(conn).get_columns(self.table.table, schema=self.table.schema)}

    def read(self, cur: Any, partitions: Iterable[Partition], *, lock: bool) -> Marks:
        """The stored high-water mark (-1 when nothing was written yet) and the identity of the
        topic incarnation it counts in (None when unknown), per partition."""
        sql = self._select + (self.dialect.for_update if lock else "")
        offsets: dict[Partition, int] = {}
        identities: dict[Partition, str | None] = {}
        for topic, partition in partitions:
            cur.execute(sql, (self.connector, topic, partition))
            row = cur.fetchone()
            p = (topic, partition)
            if row is None:
                offsets[p], identities[p] = -1, None
            else:
                offsets[p] = int(row[0]) if row[0] is not None else -1
                identities[p] = row[1]
        return Marks(offsets, identities)

    def advance(self, cur: Any, highest: Mapping[Partition, int]) -> None:
        """Raise each partition's mark to ``highest`` (never lowers it); call inside the data txn."""
        cur.executemany(self._upsert, [(self.connector, t, p, o) for (t, p), o in highest.items()])

    def rekey(self, cur: Any, marks: Mapping[Partition, tuple[int, str]]) -> None:
        """Set mark and identity of each partition, lowering it if need be; inside the data txn."""
        cur.executemany(self._rekey, [(o, ident, self.connector, t, p) for (t, p), (o, ident) in marks.items()])

    # --- KIP-875: moved from the REST API while the connector is stopped ----------------------
    def move(self, positions: Mapping[Partition, int | None]) -> None:
        """Set each partition's mark from the next offset to consume (None: forget it), in one transaction.

        The identity stays: the positions still count in the same incarnation of the topic.
        """
        self.ensure_table()

        def work(cur: Any) -> None:
            cur.executemany(self._upsert, [(self.connector, t, p, -1) for t, p in positions])
            cur.executemany(self._move, [(-1 if o is None else o - 1, self.connector, t, p)
                                         for (t, p), o in positions.items()])

        self._run(work)

    def stored(self) -> dict[Partition, int]:
        """Every mark (>= 0) of the connector; empty when the table does not exist (yet). One
        read, for the create-time check of a connector that inherits an earlier one's marks."""
        if not self._exists():
            return {}
        q, table_sql = self.dialect.quote, self.dialect.table(self.table)
        sql = (f"SELECT {q('topic')}, {q('kafka_partition')}, {q('kafka_offset')} FROM {table_sql} "
               f"WHERE {q('connector')}={self.dialect.placeholder} AND {q('kafka_offset')} >= 0")
        raw = self.engine.raw_connection()
        try:
            cur = raw.cursor()
            cur.execute(sql, (self.connector,))
            rows = cur.fetchall()
            raw.rollback()
        finally:
            raw.close()
        return {(str(t), int(p)): int(o) for t, p, o in rows}

    def forget(self) -> None:
        """Every mark of the connector back to -1 (KIP-875 reset): its next batches are all new."""
        self.ensure_table()
        self._run(lambda cur: cur.execute(self._forget, (self.connector,)))
