"""Snapshots after the first one, against the private PostgreSQL and MariaDB: ``snapshot.mode=always``
(a new copy at every start of the connector, streaming on from the stored position) and blocking
snapshot signals (the stream waits at the signal while the tables are copied, then resumes there)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from lambda_connect.plugins.connectors.cdc.mysql.connector import MariaDbConnector, MariaDbTask
from lambda_connect.plugins.connectors.cdc.postgres.connector import PostgresConnector, PostgresTask
from lambda_connect.plugins.connectors.cdc.snapshots import BLOCKING_FIELDS, GENERATION_FIELD, GENERATION_KEY
from lambda_connect.rest.resources import ConnectService
from lambda_connect.runtime.reconciler import Reconciler
from lambda_connect.runtime.source_worker import SourceWorker
from lambda_connect.state.memory import InMemoryStateStore

from tests.fixtures.throwaway_pg import ThrowawayPostgres
from tests.integration.cdc import test_mariadb_cdc as maria
from tests.integration.cdc import test_postgres_cdc as pgtests
from tests.integration.cdc.conftest import Offsets, run_tick
from tests.unit.runtime.test_reconciler import FakePlatform
from tests.unit.runtime.test_source_worker_twins import FakeCluster, registry

SIGNAL_DDL = "(id varchar(42) PRIMARY KEY, type varchar(32) NOT NULL, data varchar(2048))"


@pytest.fixture
def pg(logical_pg: ThrowawayPostgres) -> Iterator[tuple[ThrowawayPostgres, str]]:
    name = "b" + uuid.uuid4().hex[:8]
    yield logical_pg, name
    logical_pg.execute(
        f"SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = 's_{name}'",
        f"DROP PUBLICATION IF EXISTS p_{name}", f"DROP TABLE IF EXISTS {name}", f"DROP TABLE IF EXISTS {name}_b",
        f"DROP TABLE IF EXISTS {name}_sig")


def blocking(table: str, *tables: str) -> str:
    data = json.dumps({"data-collections": list(tables), "type": "blocking"})
    return f"INSERT INTO {table} VALUES ('{uuid.uuid4().hex}', 'execute-snapshot', '{data}')"


def changes(records: list) -> list:
    return [r for r in records if r.value is not None and not r.topic.startswith("__debezium-heartbeat")]


def fold(records: list, state: dict[str, dict[Any, Any]]) -> None:
    """Apply change events to one image per topic, as an upserting sink with deletes would."""
    for r in changes(records):
        table = state.setdefault(r.topic, {})
        if r.value.get("op") == "d":
            table.pop(r.key.get("id"), None)
        else:
            table[r.key.get("id")] = r.value.get("after").get("v")


def ops(records: list) -> list[str]:
    return [r.value.get("op") for r in changes(records)]


def assert_blocking_order(records: list) -> None:
    """Every snapshot read forms one run: no streamed change inside the copy."""
    kinds = ops(records)
    first, last = kinds.index("r"), len(kinds) - 1 - kinds[::-1].index("r")
    assert set(kinds[first:last + 1]) == {"r"}


# --- blocking snapshots ----------------------------------------------------------------------------

def test_postgres_blocking_snapshot_holds_the_stream_at_the_signal(pg):
    cluster, t = pg
    cluster.execute(f"CREATE TABLE {t} (id int PRIMARY KEY, v int NOT NULL)",
                    f"CREATE TABLE {t}_b (id int PRIMARY KEY, v int NOT NULL)",
                    f"INSERT INTO {t} SELECT g, 0 FROM generate_series(1, 25) g",
                    f"INSERT INTO {t}_b SELECT g, 0 FROM generate_series(1, 7) g",
                    f"CREATE TABLE {t}_sig {SIGNAL_DDL}")
    p = pgtests.props(cluster, t, **{"signal.data.collection": f"public.{t}_sig", "snapshot.fetch.size": "10",
                                      "max.batch.size": "10", "table.include.list": f"public\\.{t}(_b)?"})
    offsets, state, seen = Offsets(), {}, []
    run_tick(PostgresTask, p, offsets)  # slot and publication; no_data: nothing copied
    # One transaction: a change before the signal, the signal, changes after it.
    cluster.execute(f"BEGIN; UPDATE {t} SET v = 1 WHERE id = 1; {blocking(f'{t}_sig', f'public.{t}', f'public.{t}_b')};"
                    f" UPDATE {t} SET v = 2 WHERE id = 2; DELETE FROM {t} WHERE id = 3; COMMIT",
                    f"INSERT INTO {t} VALUES (100, 100)")
    ticks = 0
    while True:
        records = run_tick(PostgresTask, p, offsets, max_polls=2)
        ticks += 1
        seen += records
        fold(records, state)
        if ticks in (2, 3):  # changes while the copy runs wait for it, then stream
            cluster.execute(f"UPDATE {t} SET v = v + 10 WHERE id IN (4, 24)", f"DELETE FROM {t}_b WHERE id = 7",
                            f"INSERT INTO {t} VALUES ({200 + ticks}, 1)")
        if not records and ticks > 4:
            break
        assert ticks < 40
    assert ticks >= 5  # 32 rows in chunks of 10, two polls of 10 records per tick
    assert ops(seen)[0] == "u" and sum(1 for o in ops(seen) if o == "r") >= 32
    assert_blocking_order(seen)
    reads = [r for r in changes(seen) if r.value.get("op") == "r"]
    markers = [r.value.get("source").get("snapshot") for r in reads]
    topics = [r.topic for r in reads]
    assert markers[0] == "first" and markers[-1] == "last"
    assert markers[topics.index(f"srv.public.{t}_b")] == "first_in_data_collection"
    assert markers[len(topics) - 1 - topics[::-1].index(f"srv.public.{t}")] == "last_in_data_collection"
    assert set(markers[1:-1]) <= {"true", "first_in_data_collection", "last_in_data_collection"}
    after = [r for r in changes(seen)[ops(seen).index("r"):] if r.value.get("op") != "r"]
    assert [(r.value.get("op"), r.key.get("id")) for r in after[:3]] == [("u", 2), ("d", 3), ("c", 100)]
    for table in (t, f"{t}_b"):
        rows = dict(pgtests.cluster_rows(cluster, table))
        assert state[f"srv.public.{table}"] == rows
    final = next(iter(offsets.committed.values()))
    assert not set(BLOCKING_FIELDS) & {k for k, v in final.items() if v is not None}
    assert run_tick(PostgresTask, p, offsets) == []


def test_postgres_blocking_snapshot_killed_mid_copy_resumes_the_copy(pg):
    """A tick whose records were only partly acknowledged: the copy goes on after the last
    acknowledged row, and streaming still waits for its end."""
    cluster, t = pg
    cluster.execute(f"CREATE TABLE {t} (id int PRIMARY KEY, v int NOT NULL)",
                    f"INSERT INTO {t} SELECT g, 0 FROM generate_series(1, 30) g", f"CREATE TABLE {t}_sig {SIGNAL_DDL}")
    p = pgtests.props(cluster, t, **{"signal.data.collection": f"public.{t}_sig", "snapshot.fetch.size": "10",
                                      "max.batch.size": "10"})
    offsets = Offsets()
    run_tick(PostgresTask, p, offsets)
    cluster.execute(blocking(f"{t}_sig", f"public.{t}"), f"UPDATE {t} SET v = 5 WHERE id = 30")
    first = run_tick(PostgresTask, p, offsets, max_polls=3, ack=16)  # heartbeat + 15 reads acknowledged
    assert "snapshot_blocking_tables" in next(iter(offsets.committed.values()))
    rest, state = [], {}
    for _ in range(6):
        rest += run_tick(PostgresTask, p, offsets)
    fold(first[:16] + rest, state)
    reads = [r.key.get("id") for r in changes(rest) if r.value.get("op") == "r"]
    assert reads == list(range(16, 31))
    assert ops(rest)[-1] == "u" and state[f"srv.public.{t}"] == dict(pgtests.cluster_rows(cluster, t))


def test_mariadb_blocking_snapshot_holds_the_binlog_at_the_signal(db):
    server, d = db
    server.execute(f"CREATE TABLE {d}.t (id INT PRIMARY KEY, v INT NOT NULL)",
                   f"INSERT INTO {d}.t SELECT seq, 0 FROM {d}.seq_1_to_35", f"CREATE TABLE {d}.sig {SIGNAL_DDL}")
    p = maria.props(server, d, **{"signal.data.collection": f"{d}.sig", "snapshot.fetch.size": "10",
                                  "max.batch.size": "10", "table.exclude.list": f"{d}\\.sig"})
    offsets, state, seen = Offsets(), {}, []
    run_tick(MariaDbTask, p, offsets)
    conn = server.connect()
    with conn.cursor() as cur:
        cur.execute("BEGIN")
        cur.execute(f"UPDATE {d}.t SET v = 1 WHERE id = 1")
        cur.execute(blocking(f"{d}.sig", f"{d}.t", f"{d}.not_captured"))
        cur.execute(f"UPDATE {d}.t SET v = 2 WHERE id = 2")
        cur.execute(f"DELETE FROM {d}.t WHERE id = 3")
        cur.execute("COMMIT")
    conn.close()
    ticks = 0
    while True:
        records = run_tick(MariaDbTask, p, offsets, max_polls=2)
        ticks += 1
        seen += records
        fold(records, state)
        if ticks in (2, 3):
            server.execute(f"UPDATE {d}.t SET v = v + 10 WHERE id IN (4, 34)", f"INSERT INTO {d}.t VALUES "
                           f"({200 + ticks}, 1)")
        if not records and ticks > 4:
            break
        assert ticks < 40
    assert ticks >= 4
    assert_blocking_order(seen)
    reads = [r for r in changes(seen) if r.value.get("op") == "r"]
    assert [r.value.get("source").get("snapshot") for r in reads][::len(reads) - 1] == ["first", "last"]
    assert {r.value.get("source").get("connector") for r in reads} == {"mariadb"}
    after = [r for r in changes(seen)[ops(seen).index("r"):] if r.value.get("op") != "r"]
    assert [(r.value.get("op"), r.key.get("id")) for r in after[:2]] == [("u", 2), ("d", 3)]
    assert ops(seen)[0] == "u"
    assert state[f"my.{d}.t"] == dict(server.execute(f"SELECT id, v FROM {d}.t"))
    final = next(iter(offsets.committed.values()))
    assert final.get("snapshot_blocking_tables") is None and final.get("gtids")
    assert run_tick(MariaDbTask, p, offsets) == []


# --- snapshot.mode=always ------------------------------------------------------------------------

def task_config(connector_class: type, props: dict[str, str]) -> dict[str, str]:
    """The task config the runtime would store at a start of the connector."""
    connector = connector_class()
    connector.start(props)
    try:
        (config,) = connector.task_configs(1)
    finally:
        connector.stop()
    return config


def test_postgres_always_copies_again_at_each_start_and_streams_on_from_the_stored_position(pg):
    cluster, t = pg
    cluster.execute(f"CREATE TABLE {t} (id int PRIMARY KEY, v int NOT NULL)",
                    f"INSERT INTO {t} SELECT g, 0 FROM generate_series(1, 30) g")
    p = pgtests.props(cluster, t, **{"snapshot.mode": "always", "snapshot.fetch.size": "10", "max.batch.size": "10"})
    offsets, state = Offsets(), {}
    first = task_config(PostgresConnector, p)
    assert first[GENERATION_KEY] != task_config(PostgresConnector, p)[GENERATION_KEY]

    def run(config: dict[str, str], writes: bool) -> list:
        out, ticks = [], 0
        while True:
            records = run_tick(PostgresTask, config, offsets, max_polls=2)
            ticks += 1
            out += records
            fold(records, state)
            if writes and ticks <= 3:
                cluster.execute(f"UPDATE {t} SET v = v + 1 WHERE id IN ({ticks * 7}, 29)",
                                f"DELETE FROM {t} WHERE id = {ticks * 7 + 1}", f"INSERT INTO {t} VALUES "
                                f"({100 + ticks + len(out)}, 1)")
            if not records and ticks > 3:
                return out
            assert ticks < 40

    copied = run(first, writes=True)
    assert sum(1 for o in ops(copied) if o == "r") >= 25
    marks = [r.value.get("source").get("snapshot") for r in changes(copied) if r.value.get("op") == "r"]
    assert marks[0] == "first" and marks[-1] == "last" and set(marks[1:-1]) == {"true"}  # one table
    assert state[f"srv.public.{t}"] == dict(pgtests.cluster_rows(cluster, t))
    stored = next(iter(offsets.committed.values()))
    assert stored[GENERATION_FIELD] == first[GENERATION_KEY] and "snapshot" not in stored
    # Ticks of the same start stream only: every streamed offset keeps the start's token.
    for v in (50, 51, 52):
        cluster.execute(f"UPDATE {t} SET v = {v} WHERE id = 2", f"INSERT INTO {t} VALUES ({1000 + v}, 0)")
        assert ops(run_tick(PostgresTask, first, offsets)) == ["u", "c"]
        assert next(iter(offsets.committed.values()))[GENERATION_FIELD] == first[GENERATION_KEY]
    # Changes made while the connector was "down", then a new start: they stream, and a copy follows.
    cluster.execute(f"UPDATE {t} SET v = 60 WHERE id = 2", f"DELETE FROM {t} WHERE id = 4")
    again = run(task_config(PostgresConnector, p), writes=False)
    assert ops(again)[:2] == ["u", "d"]  # the stream first, from the stored position; the copy follows
    assert sum(1 for o in ops(again) if o == "r") == len(pgtests.cluster_rows(cluster, t))
    assert state[f"srv.public.{t}"] == dict(pgtests.cluster_rows(cluster, t))


def test_mariadb_always_copies_again_at_each_start(db):
    server, d = db
    server.execute(f"CREATE TABLE {d}.t (id INT PRIMARY KEY, v INT NOT NULL)",
                   f"INSERT INTO {d}.t SELECT seq, 0 FROM {d}.seq_1_to_25")
    p = maria.props(server, d, **{"snapshot.mode": "always", "snapshot.fetch.size": "10", "max.batch.size": "10"})
    offsets, state = Offsets(), {}

    def run(config: dict[str, str]) -> list:
        out = []
        for _ in range(10):
            records = run_tick(MariaDbTask, config, offsets, max_polls=2)
            out += records
            fold(records, state)
        return out

    server.execute(f"CREATE TABLE {d}.u (id INT PRIMARY KEY, v INT NOT NULL)",
                   f"INSERT INTO {d}.u VALUES (1, 0), (2, 0)")
    start = task_config(MariaDbConnector, p)
    copied = run(start)
    assert [(r.topic[-1], r.value.get("source").get("snapshot")) for r in changes(copied)][::-1][:3] == [
        ("u", "last"), ("u", "first_in_data_collection"), ("t", "last_in_data_collection")]
    assert changes(copied)[0].value.get("source").get("snapshot") == "first"
    assert sum(1 for r in changes(copied) if r.topic.endswith(".t")) == 25
    server.execute(f"DROP TABLE {d}.u")
    server.execute(f"UPDATE {d}.t SET v = 7 WHERE id = 7")
    assert ops(run(start)) == ["u"]
    server.execute(f"DELETE FROM {d}.t WHERE id = 8")
    again = run(task_config(MariaDbConnector, p))
    assert ops(again)[0] == "d" and sum(1 for o in ops(again) if o == "r") == 24
    assert state[f"my.{d}.t"] == dict(server.execute(f"SELECT id, v FROM {d}.t"))


@pytest.fixture
def runtime(logical_pg: ThrowawayPostgres) -> Iterator[tuple[ThrowawayPostgres, str, Any]]:
    t = "a" + uuid.uuid4().hex[:8]
    logical_pg.execute(f"CREATE TABLE {t} (id int PRIMARY KEY, v int NOT NULL)",
                       f"INSERT INTO {t} SELECT g, 0 FROM generate_series(1, 12) g")
    store, cluster = InMemoryStateStore(), FakeCluster()
    service = ConnectService(store, registry(), None, None)
    reconciler = Reconciler(store, FakePlatform(), registry=registry())
    worker = SourceWorker(store, registry(), cluster.factory, sleep=lambda s: None)
    config = {
        "connector.class": "PostgresConnector", "database.hostname": "127.0.0.1",
        "database.port": str(logical_pg.port), "database.user": "postgres", "database.dbname": "postgres",
        "topic.prefix": "rt", "slot.name": f"s_{t}", "publication.name": f"p_{t}",
        "publication.autocreate.mode": "filtered", "table.include.list": f"public\\.{t}", "snapshot.mode": "always",
        "snapshot.fetch.size": "5", "key.converter": "org.apache.kafka.connect.json.JsonConverter",
        "key.converter.schemas.enable": "false", "value.converter": "org.apache.kafka.connect.json.JsonConverter",
        "value.converter.schemas.enable": "false"}
    service.create_connector({"name": "cdc", "config": config})
    reconciler.reconcile("cdc")

    class Harness:
        def tick(self) -> list[str]:
            """Run the task once; the ops it published."""
            before = len(cluster.logs.get(f"rt.public.{t}", []))
            result = worker.run_task("cdc", 0, 30_000, uuid.uuid4().hex)
            assert result.outcome == "completed", result.error
            return [json.loads(m["value"])["op"] for m in cluster.logs.get(f"rt.public.{t}", [])[before:]
                    if m["value"] is not None]

    yield logical_pg, t, (service, reconciler, Harness(), config)
    logical_pg.execute(
        f"SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = 's_{t}'",
        f"DROP PUBLICATION IF EXISTS p_{t}", f"DROP TABLE {t}")


def test_always_under_the_runtime_what_counts_as_a_start(runtime):
    """Created, restarted (with or without its tasks), resumed after STOPPED, reconfigured — and
    paused then resumed, since the runtime regenerates the task configs after any change of the
    connector's entry: a new copy each time, after the changes made meanwhile are streamed. A
    task restarted alone keeps its configs: no copy."""
    pg, t, (service, reconciler, harness, config) = runtime
    assert harness.tick() == ["r"] * 12  # created
    for v in (1, 2):  # later ticks of the same start only stream
        pg.execute(f"UPDATE {t} SET v = {v} WHERE id = 1")
        assert harness.tick() == ["u"]

    def copied_after(step) -> list[str]:
        pg.execute(f"UPDATE {t} SET v = v + 1 WHERE id = 2")
        step()
        reconciler.reconcile("cdc")
        return harness.tick()

    assert copied_after(lambda: service.restart("cdc", False, False)) == ["u"] + ["r"] * 12
    assert copied_after(lambda: service.restart("cdc", True, False)) == ["u"] + ["r"] * 12
    assert copied_after(lambda: (service.pause("cdc"), service.resume("cdc"))) == ["u"] + ["r"] * 12
    assert copied_after(lambda: service.restart_task("cdc", 0)) == ["u"]
    assert copied_after(lambda: (service.stop("cdc"), service.resume("cdc"))) == ["u"] + ["r"] * 12
    assert copied_after(lambda: service.put_config("cdc", {**config, "snapshot.fetch.size": "4"})) == \
        ["u"] + ["r"] * 12
    assert harness.tick() == []


def test_postgres_initial_snapshot_rows_carry_debeziums_marks_even_when_chunks_end_with_the_table(pg):
    """20 rows in chunks of 10: each chunk reads one row more to know whether its table ends there,
    so the last row is marked although the second chunk is full."""
    cluster, t = pg
    cluster.execute(f"CREATE TABLE {t} (id int PRIMARY KEY, v int NOT NULL)",
                    f"CREATE TABLE {t}_b (id int PRIMARY KEY, v int NOT NULL)",
                    f"INSERT INTO {t} SELECT g, 0 FROM generate_series(1, 20) g", f"INSERT INTO {t}_b VALUES (1, 0)")
    p = pgtests.props(cluster, t, **{"snapshot.mode": "initial", "snapshot.fetch.size": "10",
                                      "table.include.list": f"public\\.{t}(_b)?"})
    offsets, reads = Offsets(), []
    for _ in range(4):
        reads += [r for r in changes(run_tick(PostgresTask, p, offsets, max_polls=1)) if r.value.get("op") == "r"]
    assert [r.value.get("source").get("snapshot") for r in reads] == ["first"] + ["true"] * 18 + [
        "last_in_data_collection", "last"]
    assert "snapshot" not in next(iter(offsets.committed.values()))
