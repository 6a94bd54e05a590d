"""The JDBC source in ``query`` mode on SQLite with a timestamp column: SQLite hands a query's
timestamps over as ISO text, which the task must still read as times — to compare them with its
offset, store the offset in Confluent's shape and give the records a Timestamp field, as the same
table read in table mode does."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from lambda_connect.api import ConnectException, SourceTaskContext
from lambda_connect.plugins.connectors.jdbc.columns import shape_from_description
from lambda_connect.plugins.connectors.jdbc.source import JdbcSourceConnector, JdbcSourceTask

from tests.integration.connectors.test_jdbc_source import MemoryOffsets

UTC = dt.UTC


def _task(config: dict[str, str], offsets: MemoryOffsets) -> JdbcSourceTask:
    connector = JdbcSourceConnector()
    connector.start(config)
    [task_config] = connector.task_configs(1)
    task = JdbcSourceTask()
    task.initialize(SourceTaskContext("sqlite-query", 0, task_config, offsets))
    task.start(task_config)
    return task


def _drain(task: JdbcSourceTask, offsets: MemoryOffsets) -> list[Any]:
    records: list[Any] = []
    while batch := task.poll():
        offsets.commit(batch)
        records.extend(batch)
    return records


def test_timestamp_mode_over_a_query_reads_text_timestamps_as_times(tmp_path: Any) -> None:
    import sqlalchemy as sa

    url = f"sqlite:///{tmp_path}/q.db"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE orders (id INTEGER PRIMARY KEY, item TEXT, updated TIMESTAMP)")
        conn.exec_driver_sql("INSERT INTO orders VALUES (1, 'a', '2024-05-01 12:00:00.000'), "
                             "(2, 'b', '2024-05-01 12:00:01.250')")
    config = {"connection.url": url, "mode": "timestamp", "timestamp.column.name": "updated",
              "query": "SELECT id, item, updated FROM orders", "topic.prefix": "q-",
              "poll.interval.ms": "60000", "timestamp.delay.interval.ms": "0"}
    offsets = MemoryOffsets()
    task = _task(config, offsets)
    try:
        first = _drain(task, offsets)
        assert [r.value.get("item") for r in first] == ["a", "b"]
        assert first[1].value.get("updated") == dt.datetime(2024, 5, 1, 12, 0, 1, 250000, tzinfo=UTC)
        assert first[1].source_offset == {"timestamp": 1714564801250, "timestamp_nanos": 250000000}
        with engine.begin() as conn:
            conn.exec_driver_sql("INSERT INTO orders VALUES (3, 'c', '2024-05-01 12:00:02.000')")
    finally:
        task.stop()
    task = _task(config, offsets)  # the next invocation: it starts from the committed offset
    try:
        later = _drain(task, offsets)
        assert [r.value.get("item") for r in later] == ["c"]
    finally:
        task.stop()
        engine.dispose()


def test_a_timestamp_column_that_is_not_a_time_is_named() -> None:
    shape = shape_from_description([("updated", None)], ["yesterday"], "pysqlite", UTC, ["updated"])
    [(_, convert)] = shape.converters
    with pytest.raises(ConnectException, match="timestamp column value 'yesterday' is not an ISO date and time"):
        convert("yesterday")
    assert convert("2024-05-01 12:00:00+02:00") == dt.datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
    assert convert(None) is None
