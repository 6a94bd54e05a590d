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
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from lambda_connect.api import Schema, Type

from .dialects import Column, Dialect, TableId

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

__all__ = ["DEFAULT_OFFSETS_TABLE", "OffsetStore"]

DEFAULT_OFFSETS_TABLE = "__lambda_connect_sink_offsets"

_COLUMNS = (
    Column("connector", Schema(Type.STRING), key=True),
    Column("topic", Schema(Type.STRING), key=True),
    Column("kafka_partition", Schema(Type.INT32), key=True),
    Column("kafka_offset", Schema(Type.INT64)),
)
_NAMES = tuple(c.name for c in _COLUMNS)
_KEYS = _NAMES[:3]

_created: set[tuple[str, str]] = set()
_created_lock = threading.Lock()

Partition = tuple[str, int]


class OffsetStore:
    """Reads, locks and advances the per-partition high-water marks of one connector."""

    def __init__(self, engine: Engine, dialect: Dialect, table: str, connector: str) -> None:
        self.engine = engine
        self.dialect = dialect
        self.table = TableId.parse(table)
        self.connector = connector
        self._seeded: set[Partition] = set()
        q = dialect.quote
        where = f"{q('connector')}={dialect.placeholder} AND {q('topic')}={dialect.placeholder} AND " \
                f"{q('kafka_partition')}={dialect.placeholder}"
        self._select = f"SELECT {q('kafka_offset')} FROM {dialect.table(self.table)} WHERE {where}"
        self._upsert = dialect.max_upsert(self.table, _NAMES, _KEYS, "kafka_offset")

    def prepare(self, partitions: Iterable[Partition]) -> None:
        """Create the table once per process and seed a row (-1) per new partition.

        Seeding in its own short transaction means the data transaction always finds a row
        to lock, even for a partition's very first batch.
        """
        key = (str(self.engine.url), str(self.table))
        if key not in _created:
            with _created_lock:
                if key not in _created:
                    try:
                        with self.engine.begin() as conn:
                            conn.exec_driver_sql(self.dialect.create_table(self.table, _COLUMNS))
                    except Exception:
                        # PostgreSQL's IF NOT EXISTS still races on its catalog; the loser finds the table.
                        if not self._exists():
                            raise
                    _created.add(key)
        new = [p for p in partitions if p not in self._seeded]
        if not new:
            return
        raw = self.engine.raw_connection()
        try:
            cur = raw.cursor()
            begin = self.dialect.begin()
            if begin:
                cur.execute(begin)
            cur.executemany(self._upsert, [(self.connector, t, p, -1) for t, p in new])
            raw.commit()
        except BaseException:
            raw.rollback()
            raise
        finally:
            raw.close()
        self._seeded.update(new)

    def _exists(self) -> bool:
        from sqlalchemy import inspect

        with self.engine.connect() as conn:
            return inspect(conn).has_table(self.table.table, schema=self.table.schema)

    def read(self, cur: Any, partitions: Iterable[Partition], *, lock: bool) -> dict[Partition, int]:
        """The stored high-water mark per partition (-1 when nothing was written yet)."""
        sql = self._select + (self.dialect.for_update if lock else "")
        out: dict[Partition, int] = {}
        for topic, partition in partitions:
            cur.execute(sql, (self.connector, topic, partition))
            row = cur.fetchone()
            out[(topic, partition)] = int(row[0]) if row is not None and row[0] is not None else -1
        return out

    def advance(self, cur: Any, highest: Mapping[Partition, int]) -> None:
        """Raise each partition's mark to ``highest`` (never lowers it); call inside the data txn."""
        cur.executemany(self._upsert, [(self.connector, t, p, o) for (t, p), o in highest.items()])
