"""Lag reporting of the CDC tasks (``lag_metrics``): bytes of log between the connector's position
and the server's end, measured on the private servers."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from lambda_connect.api import SourceTaskContext
from lambda_connect.plugins.connectors.cdc.mysql.connector import MariaDbTask
from lambda_connect.plugins.connectors.cdc.postgres.connector import PostgresTask

from tests.fixtures.throwaway_pg import ThrowawayPostgres
from tests.integration.cdc import test_mariadb_cdc as maria
from tests.integration.cdc import test_postgres_cdc as pgtests
from tests.integration.cdc.conftest import Offsets, run_tick


@pytest.fixture
def pg(logical_pg: ThrowawayPostgres) -> Iterator[tuple[ThrowawayPostgres, str]]:
    name = "t" + uuid.uuid4().hex[:8]
    yield logical_pg, name
    logical_pg.execute(
        f"SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = 's_{name}'",
        f"DROP PUBLICATION IF EXISTS p_{name}", f"DROP TABLE IF EXISTS {name}")


def test_postgres_task_reports_slot_lag_before_and_after_catching_up(pg):
    cluster, t = pg
    cluster.execute(f"CREATE TABLE {t} (id int PRIMARY KEY, pad text NOT NULL)")
    p, offsets = pgtests.props(cluster, t), Offsets()
    run_tick(PostgresTask, p, offsets)
    cluster.execute(f"INSERT INTO {t} SELECT g, repeat('x', 200) FROM generate_series(1, 3000) g")
    behind = pgtests.slot_lag(cluster, t)
    assert behind > 500_000

    waiting = PostgresTask()  # started, nothing read: the whole backlog is lag
    waiting.initialize(SourceTaskContext("cdc-test", 0, dict(p), offsets))
    waiting.start(dict(p))
    try:
        assert waiting.lag_metrics()["source_lag_bytes"] >= behind
    finally:
        waiting.stop()

    tasks: list = []
    records = run_tick(PostgresTask, p, offsets, tasks=tasks)
    assert len(records) == 3000
    after = tasks[0].lag_metrics()  # measured in stop(), after the slot was confirmed
    assert set(after) == {"source_lag_bytes"}
    assert after["source_lag_bytes"] < behind / 10
    assert tasks[0].lag_metrics() == after  # no new query once measured after the last confirm


def test_postgres_lag_is_measured_for_an_idle_tick_too(pg):
    cluster, t = pg
    cluster.execute(f"CREATE TABLE {t} (id int PRIMARY KEY)")
    p, offsets = pgtests.props(cluster, t), Offsets()
    tasks: list = []
    assert run_tick(PostgresTask, p, offsets, tasks=tasks) == []
    value = tasks[0].lag_metrics()["source_lag_bytes"]
    assert 0 <= value < 100_000


def test_mariadb_task_reports_binlog_bytes_behind(db):
    server, d = db
    server.execute(f"CREATE TABLE {d}.t (id INT PRIMARY KEY, pad VARCHAR(300) NOT NULL)")
    p, offsets = maria.props(server, d), Offsets()
    run_tick(MariaDbTask, p, offsets)
    server.execute(f"INSERT INTO {d}.t SELECT seq, REPEAT('x', 200) FROM {d}.seq_1_to_2000")

    waiting = MariaDbTask()
    waiting.initialize(SourceTaskContext("cdc-test", 0, dict(p), offsets))
    waiting.start(dict(p))
    try:
        behind = waiting.lag_metrics()["source_lag_bytes"]
    finally:
        waiting.stop()
    assert behind > 400_000  # 2,000 rows of 200+ bytes in the binlog

    tasks: list = []
    assert len(run_tick(MariaDbTask, p, offsets, tasks=tasks)) == 2000
    assert tasks[0].lag_metrics()["source_lag_bytes"] < 10_000
