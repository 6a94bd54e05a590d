"""The JDBC source's columnar hand-over (``poll_columns``) against its records (``poll``), on real
PostgreSQL, MariaDB and SQLite (issue 17).

Two tasks read the same table from the same (empty) offsets, one with ``poll`` and one with
``poll_columns``: the records its runs stand for must equal ``poll``'s, poll for poll, in every
mode and in query mode, across batch boundaries, timestamp groups and many column types. Then
the whole source through ``SourceWorker`` (JSON with and without schemas): the columnar path,
the batch path fed records and the per-record path give the same Kafka log, counters and
committed offsets.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
import sqlalchemy as sa
from lambda_connect.api import ColumnarRecords, SourceTaskContext
from lambda_connect.plugins import BUILTINS
from lambda_connect.plugins.connectors.jdbc.source import JdbcSourceConnector, JdbcSourceTask
from lambda_connect.runtime.registry import Registry
from lambda_connect.runtime.source_worker import SourceWorker
from lambda_connect.state.memory import InMemoryStateStore

from tests.integration.connectors.test_jdbc_source import MemoryOffsets
from tests.integration.connectors.test_jdbc_source import db as db  # the same three databases
from tests.unit.runtime.test_source_worker_twins import FakeCluster

UTC = dt.UTC
T0 = dt.datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
ROWS = 53


@pytest.fixture
def table(db: tuple[str, sa.Engine], unique_name: str) -> Iterator[str]:
    _, engine = db
    name = unique_name
    backend = engine.dialect.name
    pk = {"postgresql": "SERIAL PRIMARY KEY", "mysql": "INT AUTO_INCREMENT PRIMARY KEY",
          "sqlite": "INTEGER PRIMARY KEY AUTOINCREMENT"}[backend]
    ts = {"postgresql": "TIMESTAMP(6)", "mysql": "DATETIME(6)", "sqlite": "TIMESTAMP"}[backend]
    aware = {"postgresql": "TIMESTAMPTZ", "mysql": "TIMESTAMP(6) NULL", "sqlite": "TIMESTAMP"}[backend]
    blob = {"postgresql": "BYTEA", "mysql": "BLOB", "sqlite": "BLOB"}[backend]
    double = {"postgresql": "DOUBLE PRECISION", "mysql": "DOUBLE", "sqlite": "REAL"}[backend]
    with engine.begin() as conn:
        conn.exec_driver_sql(
            f"CREATE TABLE {name} (id {pk}, name VARCHAR(40) NOT NULL, note VARCHAR(40) NULL, qty SMALLINT NOT NULL, "
            f"big BIGINT NULL, price {double} NOT NULL, amount NUMERIC(10, 2) NULL, flag BOOLEAN NULL, "
            f"born DATE NULL, payload {blob} NULL, seen {aware}, updated {ts} NOT NULL)")
    rows = []
    for i in range(ROWS):
        rows.append({
            "name": f"row-{i}", "note": None if i % 3 else f"note {i} ünï", "qty": i % 7 - 3,
            "big": None if i % 5 == 0 else 2**40 + i, "price": i * 0.25, "amount": decimal.Decimal(i * 101) / 100,
            "flag": None if i % 4 == 0 else bool(i % 2), "born": dt.date(2000, 1, 1) + dt.timedelta(days=i),
            "payload": None if i % 2 else bytes([i, 255 - i]),
            "seen": None if i % 6 == 0 else T0 + dt.timedelta(seconds=i),
            # groups of equal timestamps, so batch boundaries fall inside them
            "updated": (T0 + dt.timedelta(seconds=i // 4)).replace(tzinfo=None)})
    reflected = sa.Table(name, sa.MetaData(), autoload_with=engine)
    with engine.begin() as conn:
        conn.execute(reflected.insert(), rows)
    yield name
    with engine.begin() as conn:
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {name}")


def _task(config: Mapping[str, str]) -> JdbcSourceTask:
    connector = JdbcSourceConnector()
    connector.start(config)
    [task_config] = connector.task_configs(1)
    task = JdbcSourceTask()
    task.initialize(SourceTaskContext("columns-test", 0, task_config, MemoryOffsets()))
    task.start(task_config)
    return task


MODES = {
    "incrementing": {"mode": "incrementing", "incrementing.column.name": "id"},
    "timestamp": {"mode": "timestamp", "timestamp.column.name": "updated"},
    "timestamp+incrementing": {"mode": "timestamp+incrementing", "timestamp.column.name": "updated",
                               "incrementing.column.name": "id"},
    "two-timestamps": {"mode": "timestamp", "timestamp.column.name": "seen,updated", "validate.non.null": "false"},
    "bulk": {"mode": "bulk"},
}


def _config(url: str, table: str, mode: str, query: bool, batch: int) -> dict[str, str]:
    config = {"connection.url": url, "poll.interval.ms": "60000", "batch.max.rows": str(batch), **MODES[mode]}
    if query:
        config.update({"query": f"SELECT * FROM {table}", "topic.prefix": "q-"})
    else:
        config.update({"table.whitelist": table, "topic.prefix": "db-"})
    return config


@pytest.mark.parametrize("query", [False, True], ids=["table", "query"])
@pytest.mark.parametrize("mode", list(MODES))
def test_poll_columns_stands_for_the_records_of_poll(db: tuple[str, sa.Engine], table: str, mode: str,
                                                     query: bool) -> None:
    url, _ = db
    config = _config(url, table, mode, query, batch=7)
    plain, columnar = _task(config), _task(config)
    try:
        polls = 0
        while True:
            records = plain.poll()
            items = columnar.poll_columns()
            assert bool(records) == bool(items)
            if not records:
                break
            polls += 1
            assert items is not None and all(isinstance(i, ColumnarRecords) for i in items)
            got = [r for i in items for r in i.records()]
            assert got == records, f"poll {polls} differs"
            assert sum(map(len, items)) == len(records)
        assert polls >= ROWS // 7
    finally:
        plain.stop()
        columnar.stop()


@pytest.mark.parametrize("schemas", ["false", "true"])
@pytest.mark.parametrize("mode", ["incrementing", "timestamp"])
def test_jdbc_source_through_the_worker_on_every_path(db: tuple[str, sa.Engine], table: str, mode: str,
                                                      schemas: str, monkeypatch: pytest.MonkeyPatch) -> None:
    url, _ = db
    calls: list[str] = []
    poll_columns = JdbcSourceTask.poll_columns

    def counted(self: JdbcSourceTask) -> Any:
        calls.append("poll_columns")
        return poll_columns(self)

    monkeypatch.setattr(JdbcSourceTask, "poll_columns", counted)
    config = {"name": "jdbc-columns", "connector.class": JdbcSourceConnector.name,
              **_config(url, table, mode, False, batch=10), "poll.interval.ms": "0",
              "value.converter": "org.apache.kafka.connect.json.JsonConverter",
              "value.converter.schemas.enable": schemas,
              "key.converter": "org.apache.kafka.connect.storage.StringConverter"}
    outcomes = []
    for options in ({"batch": True, "columns": True}, {"batch": True, "columns": False}, {"batch": False}):
        store, cluster = InMemoryStateStore(), FakeCluster()
        worker = SourceWorker(store, Registry(BUILTINS), cluster.factory, sleep=lambda s: None, **options)
        store.create_connector("jdbc-columns", config)
        result = worker.run_task("jdbc-columns", 0, 60_000, "inv").to_dict()
        result.pop("duration_ms")
        assert result["outcome"] == "completed" and result["records_produced"] == ROWS, result
        logs = {t: [(m["key"], m["value"], m["partition"], m["timestamp"]) for m in ms]
                for t, ms in cluster.logs.items()}
        outcomes.append((result, logs, store.get_offsets("jdbc-columns")))
        assert bool(calls) == options.get("columns", False), options  # the columnar path, and only there
        calls.clear()
    assert outcomes[0] == outcomes[1] == outcomes[2]
