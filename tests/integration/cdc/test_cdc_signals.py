"""signal.data.collection: an execute-snapshot row in the signal table starts an ad hoc chunked
snapshot that spans ticks while changes keep streaming; bad signals are ignored, not fatal."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest
from lambda_connect.api import ConnectException
from lambda_connect.plugins.connectors.cdc.mysql.connector import MariaDbTask
from lambda_connect.plugins.connectors.cdc.postgres.connector import PostgresTask

from tests.fixtures.throwaway_pg import ThrowawayPostgres
from tests.integration.cdc import test_mariadb_cdc as maria
from tests.integration.cdc import test_postgres_cdc as pgtests
from tests.integration.cdc.conftest import Offsets, run_tick

SIGNAL_DDL = "(id varchar(42) PRIMARY KEY, type varchar(32) NOT NULL, data varchar(2048))"


@pytest.fixture
def pg(logical_pg: ThrowawayPostgres) -> Iterator[tuple[ThrowawayPostgres, str]]:
    name = "t" + uuid.uuid4().hex[:8]
    yield logical_pg, name
    logical_pg.execute(
        f"SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = 's_{name}'",
        f"DROP PUBLICATION IF EXISTS p_{name}", f"DROP TABLE IF EXISTS {name}", f"DROP TABLE IF EXISTS {name}_sig")


def signal(table: str, *tables: str, kind: str = "execute-snapshot") -> str:
    data = json.dumps({"data-collections": list(tables), "type": "incremental"}).replace("'", "''")
    return f"INSERT INTO {table} VALUES ('{uuid.uuid4().hex}', '{kind}', '{data}')"


def replay(records: list, state: dict, markers: list) -> None:
    for r in records:
        if r.value is None or r.topic.startswith("__debezium-heartbeat"):
            continue
        key = r.key.get("id")
        if r.value.get("op") == "d":
            state.pop(key, None)
        else:
            state[key] = r.value.get("after").get("v")
        if r.value.get("op") == "r":
            markers.append(r.value.get("source").get("snapshot"))


def changes(records: list) -> list:
    """Change events only (no heartbeats, no tombstones)."""
    return [r for r in records if r.value is not None and not r.topic.startswith("__debezium-heartbeat")]


def reads(records: list) -> list:
    return [r for r in changes(records) if r.value.get("op") == "r"]


def run_until_idle(task: type, p: dict, offsets: Offsets, state: dict, markers: list, writes) -> int:
    ticks = 0
    while True:
        records = run_tick(task, p, offsets, max_polls=2)
        ticks += 1
        replay(records, state, markers)
        if ticks <= 6:
            writes(ticks)
        if not records and ticks > 6:
            return ticks
        assert ticks < 40


def test_postgres_execute_snapshot_signal_copies_a_table_across_ticks(pg):
    cluster, t = pg
    cluster.execute(f"CREATE TABLE {t} (id int PRIMARY KEY, v int NOT NULL)",
                    f"INSERT INTO {t} SELECT g, 0 FROM generate_series(1, 60) g", f"CREATE TABLE {t}_sig {SIGNAL_DDL}")
    p = pgtests.props(cluster, t, **{"signal.data.collection": f"public.{t}_sig", "snapshot.fetch.size": "10",
                                      "max.batch.size": "10"})
    offsets, state, markers = Offsets(), {}, []
    run_tick(PostgresTask, p, offsets)
    assert run_tick(PostgresTask, p, offsets) == []  # no_data: the existing rows are not copied
    cluster.execute(signal(f"{t}_sig", f"public.{t}", "public.not_captured"),
                    signal(f"{t}_sig", f"public.{t}", kind="log"),  # other signal types are ignored
                    f"INSERT INTO {t}_sig VALUES ('bad', 'execute-snapshot', 'not json')")

    def writes(n: int) -> None:
        k = n * 7
        cluster.execute(f"UPDATE {t} SET v = v + 1 WHERE id IN ({k}, {k + 20}, {k + 40})",
                        f"DELETE FROM {t} WHERE id = {k + 1}", f"INSERT INTO {t} VALUES ({100 + n}, 1)")

    ticks = run_until_idle(PostgresTask, p, offsets, state, markers, writes)
    assert ticks >= 5
    table = cluster.scalar(f"SELECT coalesce(json_object_agg(id, v), '{{}}') FROM {t}")
    assert state == {int(k): v for k, v in table.items()}
    assert markers and set(markers) == {"incremental"}
    assert "snapshot" not in next(iter(offsets.committed.values()))


def test_postgres_a_missing_signal_table_is_a_clear_error(pg):
    cluster, t = pg
    cluster.execute(f"CREATE TABLE {t} (id int PRIMARY KEY)")
    p = pgtests.props(cluster, t, **{"signal.data.collection": f"public.{t}_sig"})
    with pytest.raises(ConnectException, match=rf"signal.data.collection names public.{t}_sig, which does not"):
        run_tick(PostgresTask, p, Offsets())


def test_mariadb_execute_snapshot_signal_copies_a_table_across_ticks(db):
    server, d = db
    server.execute(f"CREATE TABLE {d}.t (id INT PRIMARY KEY, v INT NOT NULL)",
                   f"INSERT INTO {d}.t SELECT seq, 0 FROM {d}.seq_1_to_60", f"CREATE TABLE {d}.sig {SIGNAL_DDL}")
    p = maria.props(server, d, **{"signal.data.collection": f"{d}.sig", "snapshot.fetch.size": "10",
                                  "max.batch.size": "10", "table.exclude.list": f"{d}\\.sig"})
    offsets, state, markers = Offsets(), {}, []
    run_tick(MariaDbTask, p, offsets)
    server.execute(signal(f"{d}.sig", f"{d}.t"))

    def writes(n: int) -> None:
        k = n * 7
        server.execute(f"UPDATE {d}.t SET v = v + 1 WHERE id IN ({k}, {k + 20}, {k + 40})",
                       f"DELETE FROM {d}.t WHERE id = {k + 1}", f"INSERT INTO {d}.t VALUES ({100 + n}, 1)")

    ticks = run_until_idle(MariaDbTask, p, offsets, state, markers, writes)
    assert ticks >= 5
    assert state == dict(server.execute(f"SELECT id, v FROM {d}.t"))
    assert markers and set(markers) == {"incremental"}


def test_postgres_stop_snapshot_signal_ends_an_ad_hoc_snapshot(pg):
    cluster, t = pg
    cluster.execute(f"CREATE TABLE {t} (id int PRIMARY KEY, v int NOT NULL)",
                    f"INSERT INTO {t} SELECT g, 0 FROM generate_series(1, 100) g", f"CREATE TABLE {t}_sig {SIGNAL_DDL}")
    p = pgtests.props(cluster, t, **{"signal.data.collection": f"public.{t}_sig", "snapshot.fetch.size": "10",
                                      "max.batch.size": "10"})
    offsets = Offsets()
    run_tick(PostgresTask, p, offsets)
    cluster.execute(signal(f"{t}_sig", f"public.{t}"))
    copied = []
    for _ in range(2):
        copied += reads(run_tick(PostgresTask, p, offsets, max_polls=2))
    assert copied and "snapshot" in next(iter(offsets.committed.values()))
    cluster.execute(signal(f"{t}_sig", kind="stop-snapshot"))
    for _ in range(4):
        copied += reads(run_tick(PostgresTask, p, offsets))
    assert len(copied) < 100  # stopped before the end of the table
    assert "snapshot" not in next(iter(offsets.committed.values()))
    cluster.execute(f"UPDATE {t} SET v = 1 WHERE id = 100")
    assert [r.value.get("op") for r in changes(run_tick(PostgresTask, p, offsets))] == ["u"]
