"""The PostgreSQL task confirms its slot from the committed offset (``CommittedReleases``), with no
``commit_record``: for every acknowledged prefix of a tick's records, the position it confirms is
the one the per-record acknowledgements (``AckTracker``) would give — except where records share
an offset (a TRUNCATE of two tables), where the stored offset cannot say how many of them were
acknowledged and the slot goes only as far as the shortest such prefix allows.

One tick reads a mix — transactions of several changes, deletes with tombstones, a key change, a
TRUNCATE of two tables (two records with one offset), a change of a table the filters leave out,
a heartbeat — and logs the task's release points. The log is replayed into both trackers, which
are then told of the same prefixes, in steps as the runtime's commits would come.
"""

from __future__ import annotations

import itertools
import json
import random
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from lambda_connect.api import SourceRecord, SourceTaskContext, Task
from lambda_connect.plugins import BUILTINS
from lambda_connect.plugins.connectors.cdc.common import AckTracker, CommittedReleases
from lambda_connect.plugins.connectors.cdc.postgres.connector import PostgresConnector, PostgresTask
from lambda_connect.runtime.registry import Registry
from lambda_connect.runtime.source_worker import SourceWorker
from lambda_connect.state.memory import InMemoryStateStore

from tests.fixtures.throwaway_pg import ThrowawayPostgres
from tests.integration.cdc.conftest import Offsets, run_tick
from tests.unit.runtime.test_source_worker_twins import FakeCluster


class Logged(CommittedReleases):
    """The task's tracker, with a log of what it was told (to replay into other trackers)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, Any]] = []

    def add(self, record: SourceRecord) -> None:
        self.calls.append(("submit", [record]))
        super().add(record)

    def submit(self, records: Any) -> None:
        self.calls.append(("submit", list(records)))
        super().submit(records)

    def release_point(self, position: Any) -> None:
        self.calls.append(("point", position))
        super().release_point(position)


@pytest.fixture
def name(logical_pg: ThrowawayPostgres) -> Iterator[str]:
    name = "k" + uuid.uuid4().hex[:8]
    logical_pg.execute(f"CREATE TABLE {name}_a (id int PRIMARY KEY, v text)",
                       f"CREATE TABLE {name}_b (id int PRIMARY KEY, v text)",
                       f"CREATE TABLE {name}_out (id int PRIMARY KEY)")
    yield name
    logical_pg.execute(
        f"SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name LIKE 's_{name}%'",
        f"DROP PUBLICATION IF EXISTS p_{name}", *(f"DROP TABLE {name}_{t}" for t in ("a", "b", "out")))


def tick_with_log(cluster: ThrowawayPostgres, name: str, slot: str, **extra: str) -> tuple[list[SourceRecord], Logged]:
    props = {"database.hostname": "127.0.0.1", "database.port": str(cluster.port), "database.user": "postgres",
             "database.dbname": "postgres", "topic.prefix": "cf", "slot.name": f"s_{name}_{slot}",
             "publication.name": f"p_{name}", "publication.autocreate.mode": "filtered",
             "table.include.list": f"public\\.{name}_(a|b)", "snapshot.mode": "no_data",
             "max.batch.size": "7", "skipped.operations": "none"}
    offsets = Offsets()
    assert run_tick(PostgresTask, props, offsets) == []  # creates the slot: it sees what follows
    props.update(extra)
    cluster.execute(
        f"INSERT INTO {name}_a SELECT g, 'a' || g FROM generate_series(1, 20) g",
        f"BEGIN; INSERT INTO {name}_b VALUES (1, 'x'), (2, 'y'); UPDATE {name}_a SET v = 'u' WHERE id <= 3; "
        f"DELETE FROM {name}_a WHERE id = 4; INSERT INTO {name}_out VALUES (1); COMMIT",
        f"UPDATE {name}_a SET id = 100 WHERE id = 5",
        f"DELETE FROM {name}_b WHERE id = 2",
        f"BEGIN; INSERT INTO {name}_a VALUES (200, 'z'); TRUNCATE {name}_a, {name}_b; COMMIT",
        f"INSERT INTO {name}_out VALUES (2)",
        f"INSERT INTO {name}_b VALUES (3, 'w')")
    task = PostgresTask()
    task.initialize(SourceTaskContext("cdc-test", 0, props, offsets))
    task.start(props)
    logged = Logged()
    task._tracker = logged
    out: list[SourceRecord] = []
    try:
        while batch := task.poll():
            out.extend(batch)
    finally:
        task.stop()
    return out, logged


def replay(calls: list[tuple[str, Any]]) -> tuple[AckTracker, CommittedReleases]:
    acks, committed = AckTracker(), CommittedReleases()
    for kind, arg in calls:
        for tracker in (acks, committed):
            if kind == "submit":
                tracker.submit(arg)
            else:
                tracker.release_point(arg)
    return acks, committed


def stored(record: SourceRecord) -> dict[str, Any]:
    """The offset as the state store hands it back (a copy through JSON)."""
    return json.loads(json.dumps(record.source_offset))


@pytest.mark.parametrize("extra", [{}, {"provide.transaction.metadata": "true"}, {"heartbeat.interval.ms": "1"},
                                   {"tombstones.on.delete": "false"}], ids=["plain", "txmeta", "heartbeat", "notomb"])
def test_every_acknowledged_prefix_confirms_what_the_acknowledgements_would(logical_pg, name, extra):
    slot = "m" + str(len(extra) and sorted(extra)[0][:4])
    out, logged = tick_with_log(logical_pg, name, slot, **extra)
    assert len(out) > 30
    if not extra:
        # the case only the per-record acknowledgements could tell apart: a transaction that ends
        # in two records with one offset (the TRUNCATE of two tables)
        truncates = [r for r in out if r.value is not None and r.value.get("op") == "t"]
        assert len(truncates) == 2 and truncates[0].source_offset == truncates[1].source_offset
        assert any(a.source_offset == b.source_offset for a, b in itertools.pairwise(out))
    points = [c for c in logged.calls if c[0] == "point"]
    assert len(points) >= 6
    def first_with_offset(n: int) -> int:
        """The shortest prefix whose last offset is that of the first ``n`` records: a store holding
        that offset cannot tell the two apart, so the slot may only go as far as the shorter allows."""
        while n > 1 and out[n - 2].source_offset == out[n - 1].source_offset:
            n -= 1
        return n

    cut_short = 0
    for n in range(len(out) + 1):  # one commit after n records
        acks, committed = replay(logged.calls)
        for r in out[:first_with_offset(n)]:
            acks.acked(r)
        expected = acks.releasable()
        got = committed.releasable(stored(out[n - 1]) if n else None)
        assert got == expected, (n, out[n - 1].source_offset if n else None)
        if first_with_offset(n) < n:
            full = replay(logged.calls)[0]
            for r in out[:n]:
                full.acked(r)
            cut_short += full.releasable() != expected
    if not extra:
        assert cut_short == 1  # the TRUNCATE's transaction, once both its records are acknowledged
    rng = random.Random(12)
    for _ in range(20):  # commits in steps, each told the prefix so far (never inside a shared offset)
        acks, committed = replay(logged.calls)
        n = 0
        while n < len(out):
            end = min(n + rng.randint(1, 9), len(out))
            while end < len(out) and first_with_offset(end) < end:
                end += 1
            for r in out[n:end]:
                acks.acked(r)
            n = end
            assert committed.releasable(stored(out[n - 1])) == acks.releasable(), n


def test_the_slot_is_confirmed_from_the_committed_offset(logical_pg, name):
    """run_tick stores the offset of the acknowledged prefix and calls commit(): the slot moves to the
    end of the last transaction that prefix holds whole, and a second tick carries on from there."""
    props = {"database.hostname": "127.0.0.1", "database.port": str(logical_pg.port), "database.user": "postgres",
             "database.dbname": "postgres", "topic.prefix": "cf", "slot.name": f"s_{name}_c",
             "publication.name": f"p_{name}", "publication.autocreate.mode": "filtered",
             "table.include.list": f"public\\.{name}_(a|b)", "snapshot.mode": "no_data"}
    offsets = Offsets()
    run_tick(PostgresTask, props, offsets)
    assert "commit_record" not in PostgresTask.__dict__
    logical_pg.execute(f"INSERT INTO {name}_a VALUES (1, 'p'), (2, 'q')", f"INSERT INTO {name}_a VALUES (3, 'r')")

    def confirmed() -> int:
        return int(logical_pg.scalar(f"SELECT confirmed_flush_lsn - '0/0' FROM pg_replication_slots "
                                     f"WHERE slot_name = 's_{name}_c'"))

    before = confirmed()
    first = run_tick(PostgresTask, props, offsets, ack=1)  # inside the first transaction: nothing to confirm
    assert len(first) == 3 and confirmed() == before
    again = run_tick(PostgresTask, props, offsets, ack=1)  # the first change is skipped, the second acked
    assert [r.key.get("id") for r in again] == [2, 3]
    assert confirmed() > before
    moved = confirmed()
    last = run_tick(PostgresTask, props, offsets)
    assert [r.key.get("id") for r in last] == [3]
    assert confirmed() > moved
    assert run_tick(PostgresTask, props, offsets) == []


class PerRecordTask(PostgresTask):
    """The task with a ``commit_record`` of its own: the runtime then reports every delivery to it
    (the way the task confirmed before); it learns nothing from them."""

    def commit_record(self, record: SourceRecord, metadata: Any) -> None:
        pass


class PerRecordConnector(PostgresConnector):
    name = "PerRecordPostgres"

    @classmethod
    def task_class(cls) -> type[Task]:
        return PerRecordTask


def test_the_runtime_publishes_and_confirms_the_same_with_and_without_per_record_reports(logical_pg, name):
    """Under the real runtime, the task without ``commit_record`` gets failure-only delivery reports
    (settled batches); beside the per-record reports, over the same changes on two slots, the
    Kafka logs (topics, partitions, keys, values but for processing times, headers), the stored
    offsets and the confirmed slot positions are equal."""
    store, clusters = InMemoryStateStore(), {"settled": FakeCluster(), "per_record": FakeCluster()}
    registry = Registry([*BUILTINS, (PerRecordConnector.name, f"{__name__}:PerRecordConnector")])
    for way, cls in (("settled", "PostgresConnector"), ("per_record", PerRecordConnector.name)):
        store.create_connector(way, {
            "name": way, "connector.class": cls, "database.hostname": "127.0.0.1",
            "database.port": str(logical_pg.port), "database.user": "postgres", "database.dbname": "postgres",
            "topic.prefix": "cf", "slot.name": f"s_{name}_{way}", "publication.name": f"p_{name}",
            "publication.autocreate.mode": "filtered", "table.include.list": f"public\\.{name}_(a|b)",
            "snapshot.mode": "no_data", "skipped.operations": "none", "max.batch.size": "50",
            "key.converter": "org.apache.kafka.connect.json.JsonConverter",
            "value.converter": "org.apache.kafka.connect.json.JsonConverter",
            "value.converter.schemas.enable": "false"})
    workers = {way: SourceWorker(store, registry, cluster.factory, sleep=lambda s: None)
               for way, cluster in clusters.items()}
    for way, w in workers.items():
        assert w.run_task(way, 0, 30_000, "first").outcome == "completed"
    now = logical_pg.scalar("SELECT pg_current_wal_lsn()::text")
    for way in workers:
        logical_pg.execute(f"SELECT pg_replication_slot_advance('s_{name}_{way}', '{now}')")
    logical_pg.execute(
        f"INSERT INTO {name}_a SELECT g, 'a' || g FROM generate_series(1, 400) g",
        f"BEGIN; INSERT INTO {name}_b VALUES (1, 'x'), (2, 'y'); UPDATE {name}_a SET v = 'u' WHERE id <= 30; "
        f"DELETE FROM {name}_a WHERE id BETWEEN 40 AND 60; COMMIT",
        f"UPDATE {name}_a SET id = 1000 WHERE id = 5", f"DELETE FROM {name}_b WHERE id = 2",
        f"BEGIN; INSERT INTO {name}_a VALUES (2000, 'z'); TRUNCATE {name}_a, {name}_b; COMMIT",
        f"INSERT INTO {name}_b VALUES (3, 'w')")
    for way, w in workers.items():
        result = w.run_task(way, 0, 30_000, "second")
        assert result.outcome == "completed" and result.records_produced > 400
        w.run_task(way, 0, 30_000, "idle")  # an idle tick confirms up to where the last one read

    def log(cluster: FakeCluster) -> dict[str, list[tuple[Any, ...]]]:
        out = {}
        for topic, messages in cluster.logs.items():
            rows = []
            for m in messages:
                value = json.loads(m["value"]) if m["value"] is not None else None
                if isinstance(value, dict):
                    for k in ("ts_ms", "ts_us", "ts_ns"):
                        value.pop(k, None)
                rows.append((m.get("partition"), m["key"], value, m.get("headers")))
            out[topic] = rows
        return out

    reports_only_errors = {way: {bool(p.overrides.get("delivery.report.only.error")) for p in c.producers}
                           for way, c in clusters.items()}
    assert reports_only_errors == {"settled": {True}, "per_record": {False}}
    logs = {way: log(c) for way, c in clusters.items()}
    assert logs["settled"] == logs["per_record"]
    assert sum(len(v) for v in logs["settled"].values()) > 400
    assert store.get_offsets("settled") == store.get_offsets("per_record")
    confirmed = {slot: logical_pg.scalar(f"SELECT confirmed_flush_lsn::text FROM pg_replication_slots "
                                         f"WHERE slot_name = '{slot}'") for slot in (f"s_{name}_settled",
                                                                                     f"s_{name}_per_record")}
    assert confirmed[f"s_{name}_settled"] == confirmed[f"s_{name}_per_record"]
    assert confirmed[f"s_{name}_settled"] == logical_pg.scalar("SELECT pg_current_wal_lsn()::text")
