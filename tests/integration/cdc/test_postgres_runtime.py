"""The PostgreSQL CDC task under the real source runtime (``SourceWorker``, in-memory state store,
the producer twin as Kafka): leases, exactly-once mode, and a tick killed before it confirmed."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator

import pytest
from lambda_connect.runtime.source_worker import SourceWorker
from lambda_connect.state.memory import InMemoryStateStore

from tests.fixtures.throwaway_pg import ThrowawayPostgres
from tests.unit.runtime.test_source_worker_twins import FakeCluster, registry


class Killed(BaseException):
    """The sandbox dies: nothing after it runs, not even ``except Exception`` handlers."""


@pytest.fixture
def setup(logical_pg: ThrowawayPostgres) -> Iterator[tuple[ThrowawayPostgres, str, InMemoryStateStore, FakeCluster]]:
    t = "r" + uuid.uuid4().hex[:8]
    logical_pg.execute(f"CREATE TABLE {t} (id int PRIMARY KEY)")
    store, cluster = InMemoryStateStore(), FakeCluster()
    store.create_connector("cdc", {
        "name": "cdc", "connector.class": "PostgresConnector", "database.hostname": "127.0.0.1",
        "database.port": str(logical_pg.port), "database.user": "postgres", "database.dbname": "postgres",
        "topic.prefix": "rt", "slot.name": f"s_{t}", "publication.name": f"p_{t}",
        "publication.autocreate.mode": "filtered", "table.include.list": f"public\\.{t}", "snapshot.mode": "no_data",
        "key.converter": "org.apache.kafka.connect.json.JsonConverter", "key.converter.schemas.enable": "false",
        "value.converter": "org.apache.kafka.connect.json.JsonConverter", "value.converter.schemas.enable": "false"})
    yield logical_pg, t, store, cluster
    logical_pg.execute(
        f"SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = 's_{t}'",
        f"DROP PUBLICATION IF EXISTS p_{t}", f"DROP TABLE {t}")


def worker(store: InMemoryStateStore, cluster: FakeCluster, **kw) -> SourceWorker:
    return SourceWorker(store, registry(), cluster.factory, sleep=lambda s: None, **kw)


def ids(cluster: FakeCluster, table: str) -> list[int]:
    return [json.loads(m["key"])["id"] for m in cluster.logs.get(f"rt.public.{table}", []) if m["value"] is not None]


def test_ticks_publish_each_change_once_and_a_concurrent_tick_finds_the_lease_taken(setup):
    pg, t, store, cluster = setup
    w = worker(store, cluster)
    assert w.run_task("cdc", 0, 30_000, "first").outcome == "completed"  # slot and publication
    pg.execute(f"INSERT INTO {t} SELECT generate_series(1, 3000)")
    results = []
    barrier = threading.Barrier(2)

    def tick(owner: str) -> None:
        barrier.wait()
        results.append(w.run_task("cdc", 0, 30_000, owner))

    threads = [threading.Thread(target=tick, args=(f"inv-{i}",)) for i in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sorted(r.outcome for r in results) in (["completed", "lease_held"], ["completed", "completed"])
    w.run_task("cdc", 0, 30_000, "after")
    assert ids(cluster, t) == list(range(1, 3001))  # once each, in commit order


def test_exactly_once_mode_commits_records_and_offsets_together(setup):
    pg, t, store, cluster = setup
    store.update_connector("cdc", {**store.get_connector("cdc").config, "exactly.once.support": "required"})
    w = worker(store, cluster)
    w.run_task("cdc", 0, 30_000, "a")
    pg.execute(f"INSERT INTO {t} VALUES (1), (2)", f"INSERT INTO {t} VALUES (3)")
    result = w.run_task("cdc", 0, 30_000, "b")
    assert result.exactly_once and result.records_produced == 3 and result.transactions >= 1
    assert ids(cluster, t) == [1, 2, 3]
    assert w.run_task("cdc", 0, 30_000, "c").records_produced == 0
    committed = dict(store.get_offsets("cdc")[0][1])
    assert committed["lsn_commit"] > 0


def test_a_tick_killed_before_confirming_loses_nothing(setup):
    """Kafka has the records, but the invocation dies before the offsets are stored and the slot is
    confirmed: the next tick publishes them again (at least once) and nothing is missing."""
    pg, t, store, cluster = setup
    w = worker(store, cluster)
    w.run_task("cdc", 0, 30_000, "a")
    pg.execute(f"INSERT INTO {t} SELECT generate_series(1, 50)")
    original = store.commit_offsets

    def die(*args, **kwargs):
        raise Killed()

    store.commit_offsets = die
    with pytest.raises(Killed):
        w.run_task("cdc", 0, 30_000, "doomed")
    store.commit_offsets = original
    assert ids(cluster, t) == list(range(1, 51))
    store.release_lease(store.get_lease("cdc", 0))  # the dead invocation's lease would expire by itself
    result = w.run_task("cdc", 0, 30_000, "next")
    assert result.outcome == "completed" and result.records_produced == 50  # duplicates, not loss
    assert ids(cluster, t) == list(range(1, 51)) * 2
    assert w.run_task("cdc", 0, 30_000, "later").records_produced == 0


def test_a_run_reports_the_slot_lag_the_task_measured(setup):
    pg, t, store, cluster = setup
    w = worker(store, cluster)
    w.run_task("cdc", 0, 30_000, "first")
    pg.execute(f"INSERT INTO {t} SELECT generate_series(1, 2000)")
    behind = int(pg.scalar(f"SELECT pg_current_wal_lsn() - confirmed_flush_lsn FROM pg_replication_slots "
                           f"WHERE slot_name = 's_{t}'"))
    result = w.run_task("cdc", 0, 30_000, "second")
    assert result.outcome == "completed"
    assert set(result.lag_metrics) == {"source_lag_bytes"}
    assert 0 <= result.lag_metrics["source_lag_bytes"] < behind  # measured after the confirm
