"""The PostgreSQL source's columnar hand-over (``PostgresTask.poll_columns``) stands for exactly the
records of ``poll`` (issue 12).

Two slots see the same changes; one task reads each, one with ``poll`` and one with
``poll_columns``. Poll for poll, the records its ``ColumnarRecords`` runs stand for (with the
``SourceRecord`` objects between them) must equal ``poll``'s field for field — schemas, keys,
envelopes, partitions, offsets — and their JSON bytes, with only the envelope's processing times
set aside. The changes interleave tables (REPLICA IDENTITY DEFAULT and FULL, a key of two columns,
a table without a key), with updates, deletes, key changes, TOASTed values and truncates, under
small batches (runs split across polls), with transaction metadata and tombstones on and off.
Then the whole source through ``SourceWorker`` with JSON (schemas on and off), a value converter
without a column writer and a transform, processing times frozen: the Kafka log bytes, counters
and stored offsets equal with columns on and off.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from lambda_connect.api import ColumnarRecords, SourceRecord, SourceTaskContext
from lambda_connect.plugins import BUILTINS
from lambda_connect.plugins.connectors.cdc import common
from lambda_connect.plugins.connectors.cdc.postgres import connector
from lambda_connect.plugins.connectors.cdc.postgres.connector import PostgresTask
from lambda_connect.plugins.converters.json import JsonConverter
from lambda_connect.runtime.registry import Registry
from lambda_connect.runtime.source_worker import SourceWorker
from lambda_connect.state.memory import InMemoryStateStore

from tests.fixtures.throwaway_pg import ThrowawayPostgres
from tests.integration.cdc.conftest import Offsets, run_tick
from tests.integration.cdc.test_postgres_fast_path import comparable
from tests.unit.runtime.test_source_worker_twins import FakeCluster

TABLES = ("a", "full", "pair", "nokey")


@pytest.fixture
def name(logical_pg: ThrowawayPostgres) -> Iterator[str]:
    t = "col" + uuid.uuid4().hex[:8]
    logical_pg.execute(f"CREATE TABLE {t}_a (id int PRIMARY KEY, v text, big text)",
                       f"ALTER TABLE {t}_a ALTER COLUMN big SET STORAGE EXTERNAL",
                       f"CREATE TABLE {t}_full (id int PRIMARY KEY, note text, n int NOT NULL)",
                       f"ALTER TABLE {t}_full REPLICA IDENTITY FULL",
                       f"CREATE TABLE {t}_pair (a int, note text, b int, PRIMARY KEY (b, a))",
                       f"CREATE TABLE {t}_nokey (a int, b text)", f"ALTER TABLE {t}_nokey REPLICA IDENTITY FULL",
                       f"CREATE PUBLICATION p_{t} FOR TABLE " + ", ".join(f"{t}_{x}" for x in TABLES))
    yield t
    logical_pg.execute(
        f"SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name LIKE 's_{t}%'",
        f"DROP PUBLICATION IF EXISTS p_{t}", *(f"DROP TABLE IF EXISTS {t}_{x}" for x in TABLES))


def props(cluster: ThrowawayPostgres, t: str, slot: str, **extra: str) -> dict[str, str]:
    return {"database.hostname": "127.0.0.1", "database.port": str(cluster.port), "database.user": "postgres",
            "database.dbname": "postgres", "topic.prefix": "col", "slot.name": f"s_{t}_{slot}",
            "publication.name": f"p_{t}", "publication.autocreate.mode": "disabled",
            "table.include.list": f"public\\.{t}_(a|full|pair|nokey)", "snapshot.mode": "no_data",
            "skipped.operations": "none", **extra}


def statements(t: str) -> list[str]:
    big = "x" * 9000
    return [
        f"INSERT INTO {t}_a SELECT g, 'a' || g, 'small' FROM generate_series(1, 30) g",
        f"INSERT INTO {t}_a VALUES (31, 'toast', '{big}')",
        f"UPDATE {t}_a SET v = 'u' WHERE id <= 10 OR id = 31",  # 31 keeps its TOASTed value unchanged
        f"INSERT INTO {t}_full SELECT g, 'n' || g, g FROM generate_series(1, 12) g",
        f"UPDATE {t}_full SET n = n + 1 WHERE id <= 6", f"DELETE FROM {t}_full WHERE id > 9",
        f"BEGIN; INSERT INTO {t}_a VALUES (100, 'i', NULL); INSERT INTO {t}_full VALUES (100, NULL, 0); "
        f"INSERT INTO {t}_a VALUES (101, 'j', NULL); UPDATE {t}_full SET n = 5 WHERE id = 100; "
        f"INSERT INTO {t}_pair VALUES (1, 'p', 2), (3, NULL, 4); DELETE FROM {t}_a WHERE id = 101; "
        f"INSERT INTO {t}_nokey VALUES (1, 'x'), (NULL, NULL); UPDATE {t}_nokey SET b = 'y'; COMMIT",
        f"UPDATE {t}_a SET id = 1000 WHERE id = 5",  # a key change: the general way between runs
        f"UPDATE {t}_full SET id = 2000 WHERE id = 6",
        f"DELETE FROM {t}_a WHERE id BETWEEN 11 AND 20", f"DELETE FROM {t}_pair WHERE a = 1",
        f"DELETE FROM {t}_nokey WHERE a = 1", f"DELETE FROM {t}_a WHERE id = 31",
        f"BEGIN; INSERT INTO {t}_a VALUES (300, 'z', NULL); TRUNCATE {t}_pair; "
        f"INSERT INTO {t}_pair VALUES (7, 'q', 8); COMMIT",
        f"INSERT INTO {t}_a SELECT g, 'b' || g, NULL FROM generate_series(400, 440) g",
    ]


def flat(items: list[Any]) -> list[SourceRecord]:
    return [r for item in items for r in (item.records() if isinstance(item, ColumnarRecords) else [item])]


def columns_tick(p: dict[str, str], offsets: Offsets, polls: list[list[SourceRecord]], runs: list[int]) -> None:
    """``run_tick`` through ``poll_columns``: the records of each poll into ``polls``, run sizes into ``runs``."""
    task = PostgresTask()
    task.initialize(SourceTaskContext("cdc-test", 0, dict(p), offsets))
    task.start(dict(p))
    out: list[SourceRecord] = []
    try:
        while items := task.poll_columns():
            runs.extend(len(i) for i in items if isinstance(i, ColumnarRecords))
            assert all(isinstance(i, ColumnarRecords | SourceRecord) for i in items)
            records = flat(items)
            assert len(records) <= int(p["max.batch.size"]) or len(records) == 1
            polls.append(records)
            out.extend(records)
        offsets.commit(out)
        if out:
            task.commit()
    finally:
        task.stop()


def records_tick(p: dict[str, str], offsets: Offsets, polls: list[list[SourceRecord]]) -> None:
    task = PostgresTask()
    task.initialize(SourceTaskContext("cdc-test", 0, dict(p), offsets))
    task.start(dict(p))
    out: list[SourceRecord] = []
    try:
        while batch := task.poll():
            polls.append(batch)
            out.extend(batch)
        offsets.commit(out)
        if out:
            task.commit()
    finally:
        task.stop()


@pytest.mark.parametrize("batch", ["7", "500"])
@pytest.mark.parametrize("extra", [{}, {"tombstones.on.delete": "false"}, {"provide.transaction.metadata": "true"},
                                   {"provide.transaction.metadata": "true", "tombstones.on.delete": "false"}],
                         ids=["plain", "no-tombstones", "txmeta", "txmeta-no-tombstones"])
def test_poll_columns_stands_for_the_records_of_poll(logical_pg, name, extra, batch):
    cluster, t = logical_pg, name
    ways = {way: (props(cluster, t, way, **{"max.batch.size": batch, **extra}), Offsets())
            for way in ("records", "columns")}
    for p, offsets in ways.values():
        assert run_tick(PostgresTask, p, offsets) == []  # creates the slot: it sees what follows
    now = cluster.scalar("SELECT pg_current_wal_lsn()::text")
    for p, _ in ways.values():
        cluster.execute(f"SELECT pg_replication_slot_advance('{p['slot.name']}', '{now}')")
    cluster.execute(*statements(t))
    polls: dict[str, list[list[SourceRecord]]] = {"records": [], "columns": []}
    runs: list[int] = []
    records_tick(*ways["records"], polls["records"])
    columns_tick(*ways["columns"], polls["columns"], runs)
    if "provide.transaction.metadata" in extra:
        assert runs == []  # the short way is off with transaction metadata: records only
    else:
        assert len(runs) >= 8 and max(runs) > 1, runs  # runs were handed over, several tables' in turn
        if batch == "7":
            assert max(runs) <= 7
    json = JsonConverter(JsonConverter.config_def.parse({"schemas.enable": "true"}))
    assert [len(b) for b in polls["columns"]] == [len(b) for b in polls["records"]]  # poll for poll
    plain = [comparable(r, json) for b in polls["records"] for r in b]
    columnar = [comparable(r, json) for b in polls["columns"] for r in b]
    assert len(plain) > 130
    for i, (a, b) in enumerate(zip(columnar, plain, strict=True)):
        assert a == b, i
    assert ways["records"][1].committed == ways["columns"][1].committed
    # the envelope's processing times are there and plausible
    times = [r.value.get("ts_ms") for b in polls["columns"] for r in b
             if r.value is not None and r.value.schema.name.endswith(".Envelope")]
    assert times and all(abs(ts - time.time() * 1000) < 600_000 for ts in times)


class _FrozenTime:
    """The ``time`` module with a fixed ``time_ns``: the envelopes' processing times then agree."""

    def time_ns(self) -> int:
        return 1_700_000_000_123_456_789

    def __getattr__(self, attr: str) -> Any:
        return getattr(time, attr)


UNWRAP = {"transforms": "unwrap", "transforms.unwrap.type": "io.debezium.transforms.ExtractNewRecordState"}


@pytest.mark.parametrize(("schemas", "extra", "columnar"), [
    ("false", {}, True), ("true", {}, True),
    # a converter without a column writer: the runs' records are converted one by one
    ("false", {"value.converter": "org.apache.kafka.connect.storage.StringConverter"}, True),
    ("true", UNWRAP, False),  # a transform: the runtime asks for records
], ids=["json", "json-schemas", "string-values", "transform"])
def test_the_worker_logs_the_same_bytes_with_columns_on_and_off(logical_pg, name, schemas, extra, columnar,
                                                                monkeypatch):
    monkeypatch.setattr(connector, "time", _FrozenTime())
    monkeypatch.setattr(common, "time", _FrozenTime())
    asked: list[str] = []
    poll_columns = PostgresTask.poll_columns

    def counted(self: PostgresTask) -> Any:
        asked.append("columns")
        return poll_columns(self)

    monkeypatch.setattr(PostgresTask, "poll_columns", counted)
    t = name
    store = InMemoryStateStore()
    clusters = {"on": FakeCluster(), "off": FakeCluster()}
    for way in clusters:
        store.create_connector(way, {
            "name": way, "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
            **props(logical_pg, t, way, **{"max.batch.size": "25"}),
            "key.converter": "org.apache.kafka.connect.json.JsonConverter",
            "key.converter.schemas.enable": schemas,
            "value.converter": "org.apache.kafka.connect.json.JsonConverter",
            "value.converter.schemas.enable": schemas, **extra})
    workers = {way: SourceWorker(store, Registry(BUILTINS), cluster.factory, sleep=lambda s: None,
                                 columns=way == "on") for way, cluster in clusters.items()}
    for way, w in workers.items():
        assert w.run_task(way, 0, 30_000, "first").outcome == "completed"
    now = logical_pg.scalar("SELECT pg_current_wal_lsn()::text")
    for way in workers:
        logical_pg.execute(f"SELECT pg_replication_slot_advance('s_{t}_{way}', '{now}')")
    logical_pg.execute(*statements(t))
    results = {}
    for way, w in workers.items():
        asked.clear()
        result = w.run_task(way, 0, 30_000, "second").to_dict()
        result.pop("duration_ms")
        assert result.pop("connector") == way
        assert result["outcome"] == "completed" and result["records_produced"] > 130, result
        assert bool(asked) == (way == "on" and columnar)  # the columnar path, and only there
        results[way] = result
    logs = {way: {topic: [(m["key"], m["value"], m["partition"], m.get("headers")) for m in ms]
                  for topic, ms in c.logs.items()} for way, c in clusters.items()}
    assert logs["on"] == logs["off"]
    assert sum(len(v) for v in logs["on"].values()) > 130
    assert results["on"] == results["off"]
    assert store.get_offsets("on") == store.get_offsets("off")
