"""JDBC source against real PostgreSQL, MariaDB and SQLite: modes, offsets, resume, splits.

Each test drives the connector the way the runtime does — ``task_configs`` then, per
"invocation", a fresh task that reads committed offsets, polls, and has the offsets of the
records it returned committed — with an in-memory offset store.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import pytest
import sqlalchemy as sa
from lambda_connect.api import (
    ConfigException,
    ConnectException,
    OffsetStorageReader,
    SourceRecord,
    SourceTaskContext,
    Struct,
    Type,
)
from lambda_connect.plugins.connectors.jdbc.source import JdbcSourceConnector, JdbcSourceTask

UTC = dt.UTC


class MemoryOffsets(OffsetStorageReader):
    """What the runtime's offset store does for a source task: last committed offset per partition."""

    def __init__(self) -> None:
        self.committed: dict[str, dict[str, Any]] = {}

    @staticmethod
    def key(partition: Mapping[str, Any]) -> str:
        return json.dumps(partition, sort_keys=True)

    def offsets(self, partitions: Sequence[Mapping[str, Any]]) -> dict[Any, dict[str, Any] | None]:
        return {self.key(p): self.committed.get(self.key(p)) for p in partitions}

    def commit(self, records: Sequence[SourceRecord]) -> None:
        for r in records:
            if r.source_offset is not None:
                self.committed[self.key(r.source_partition or {})] = dict(r.source_offset)


_STARTED: list[JdbcSourceTask] = []


def start_task(props: Mapping[str, str], offsets: MemoryOffsets) -> JdbcSourceTask:
    task = JdbcSourceTask()
    task.initialize(SourceTaskContext("jdbc-test", 0, props, offsets))
    task.start(props)
    _STARTED.append(task)
    return task


def stop_all() -> None:
    """A failed test must not leave a read transaction open: DROP TABLE would wait on it."""
    while _STARTED:
        _STARTED.pop().stop()


def drain(task: JdbcSourceTask, offsets: MemoryOffsets, max_polls: int = 100) -> list[SourceRecord]:
    """Poll until the task has nothing more right now, committing as the runtime would."""
    out: list[SourceRecord] = []
    for _ in range(max_polls):
        batch = task.poll()
        if not batch:
            break
        offsets.commit(batch)
        out.extend(batch)
    return out


def ids(records: Sequence[SourceRecord]) -> list[int]:
    return [r.value.get("id") for r in records]


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def db(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[tuple[str, sa.Engine]]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/source.db"
    elif request.param == "postgresql":
        url = request.getfixturevalue("postgres_url")
    else:
        url = request.getfixturevalue("mariadb_url")
    engine = sa.create_engine(url)
    yield url, engine
    engine.dispose()


@pytest.fixture
def table(db: tuple[str, sa.Engine], unique_name: str) -> Iterator[str]:
    _, engine = db
    yield unique_name
    stop_all()
    with engine.begin() as conn:
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {unique_name}")


def create(engine: sa.Engine, name: str, nullable_ts: bool = False) -> None:
    backend = engine.dialect.name
    ts_type = {"postgresql": "TIMESTAMP(6)", "mysql": "DATETIME(6)", "sqlite": "TIMESTAMP"}[backend]
    pk = {"postgresql": "SERIAL PRIMARY KEY", "mysql": "INT AUTO_INCREMENT PRIMARY KEY",
          "sqlite": "INTEGER PRIMARY KEY AUTOINCREMENT"}[backend]
    null = "NULL" if nullable_ts else "NOT NULL"
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE TABLE {name} (id {pk}, name VARCHAR(40) NOT NULL, note VARCHAR(40) NULL, "
                             f"updated {ts_type} {null})")


def insert(engine: sa.Engine, name: str, rows: Sequence[tuple[str, dt.datetime]]) -> None:
    table = sa.Table(name, sa.MetaData(), autoload_with=engine)
    with engine.begin() as conn:
        for label, ts in rows:
            conn.execute(table.insert().values(name=label, updated=ts.replace(tzinfo=None)))


def props(url: str, **extra: str) -> dict[str, str]:
    return {"connection.url": url, "topic.prefix": "db-", "poll.interval.ms": "0", **extra}


T0 = dt.datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def test_incrementing_reads_new_rows_and_resumes_from_committed_offset(db: tuple[str, sa.Engine], table: str) -> None:
    url, engine = db
    create(engine, table)
    insert(engine, table, [(f"r{i}", T0) for i in range(5)])
    offsets = MemoryOffsets()
    config = props(url, mode="incrementing", **{"incrementing.column.name": "id", "table.whitelist": table,
                                                "batch.max.rows": "2"})
    connector = JdbcSourceConnector()
    connector.start(config)
    [task_config] = connector.task_configs(1)
    task = start_task(task_config, offsets)
    first = drain(task, offsets)
    task.stop()
    assert ids(first) == [1, 2, 3, 4, 5]
    rec = first[0]
    assert rec.topic == "db-" + table
    assert rec.key is None and rec.kafka_partition is None
    expected_table = {"sqlite": table, "postgresql": f"test.public.{table}", "mysql": f"test.{table}"}
    assert rec.source_partition == {"protocol": "1", "table": expected_table[engine.dialect.name]}
    assert first[-1].source_offset == {"incrementing": 5}
    assert isinstance(rec.value, Struct) and rec.value_schema is rec.value.schema
    assert rec == SourceRecord(rec.source_partition, rec.source_offset, rec.topic, None, None, None,
                               rec.value_schema, rec.value)  # the fast record path sets every field
    assert rec.value_schema.name == table
    rec.value.validate()
    assert rec.value.get("name") == "r0" and rec.value.get("note") is None
    assert rec.value_schema.field("note").schema.optional and not rec.value_schema.field("name").schema.optional

    insert(engine, table, [("late", T0)])
    task = start_task(task_config, offsets)  # the next invocation
    second = drain(task, offsets)
    task.stop()
    assert ids(second) == [6]


def test_timestamp_incrementing_keeps_rows_with_equal_timestamps_across_invocations(
    db: tuple[str, sa.Engine], table: str
) -> None:
    url, engine = db
    create(engine, table)
    insert(engine, table, [(f"same{i}", T0) for i in range(5)] + [("later", T0 + dt.timedelta(seconds=1))])
    offsets = MemoryOffsets()
    config = props(url, mode="timestamp+incrementing", tables=table,
                   **{"incrementing.column.name": "id", "timestamp.column.name": "updated", "batch.max.rows": "2"})
    seen: list[int] = []
    for _ in range(5):  # every invocation ends after one poll, mid result set
        task = start_task(config, offsets)
        batch = task.poll() or []
        offsets.commit(batch)
        seen += ids(batch)
        task.stop()
    assert seen == [1, 2, 3, 4, 5, 6]
    last = offsets.committed[next(iter(offsets.committed))]
    assert last == {"timestamp": int((T0 + dt.timedelta(seconds=1)).timestamp() * 1000), "timestamp_nanos": 0,
                    "incrementing": 6}
    # a row with an already-read timestamp but a higher id is still picked up
    insert(engine, table, [("equal-late", T0 + dt.timedelta(seconds=1))])
    task = start_task(config, offsets)
    assert ids(drain(task, offsets)) == [7]
    task.stop()


def test_timestamp_mode_never_skips_the_rest_of_a_timestamp_group(db: tuple[str, sa.Engine], table: str) -> None:
    url, engine = db
    create(engine, table)
    t1 = T0 + dt.timedelta(milliseconds=250)
    insert(engine, table, [("a", T0), ("b", T0), ("c", T0), ("d", t1), ("e", t1)])
    offsets = MemoryOffsets()
    config = props(url, mode="timestamp", tables=table, **{"timestamp.column.name": "updated", "batch.max.rows": "2"})
    seen: list[int] = []
    for _ in range(3):  # each invocation ends after two polls, in the middle of a timestamp group
        task = start_task(config, offsets)
        for _ in range(2):
            batch = task.poll() or []
            offsets.commit(batch)
            seen += ids(batch)
        task.stop()
    assert set(seen) == {1, 2, 3, 4, 5}, "no row may be skipped"
    assert seen[:4] == [1, 2, 3, 4], "rows of a group cut by an invocation are re-read, not skipped"
    partition_offset = next(iter(offsets.committed.values()))
    assert partition_offset == {"timestamp": int(t1.timestamp() * 1000), "timestamp_nanos": 250_000_000}
    task = start_task(config, offsets)
    assert drain(task, offsets) == []
    task.stop()


def test_timestamp_delay_holds_back_rows_until_the_db_clock_passes_them(db: tuple[str, sa.Engine], table: str) -> None:
    url, engine = db
    create(engine, table)
    now = dt.datetime.now(UTC)
    insert(engine, table, [("old", now - dt.timedelta(hours=2)), ("recent", now - dt.timedelta(seconds=5))])
    offsets = MemoryOffsets()
    config = props(url, mode="timestamp+incrementing", tables=table,
                   **{"incrementing.column.name": "id", "timestamp.column.name": "updated",
                      "timestamp.delay.interval.ms": str(3600 * 1000)})
    task = start_task(config, offsets)
    assert ids(drain(task, offsets)) == [1]
    task.stop()
    config["timestamp.delay.interval.ms"] = "0"
    task = start_task(config, offsets)
    assert ids(drain(task, offsets)) == [2]
    task.stop()


def test_rows_inserted_while_a_result_set_is_open_are_read_exactly_once(db: tuple[str, sa.Engine], table: str) -> None:
    url, engine = db
    create(engine, table)
    insert(engine, table, [(f"r{i}", T0) for i in range(4)])
    offsets = MemoryOffsets()
    config = props(url, mode="timestamp+incrementing", tables=table,
                   **{"incrementing.column.name": "id", "timestamp.column.name": "updated", "batch.max.rows": "2"})
    task = start_task(config, offsets)
    seen = ids(task.poll() or [])
    insert(engine, table, [("during", T0), ("during2", T0 + dt.timedelta(seconds=3))])  # committed mid-poll
    seen += ids(drain(task, offsets))
    seen += ids(drain(task, offsets))  # poll.interval.ms=0: the next query runs straight away
    task.stop()
    assert sorted(seen) == [1, 2, 3, 4, 5, 6]
    assert len(seen) == len(set(seen))


def test_bulk_mode_copies_the_whole_table_each_interval(db: tuple[str, sa.Engine], table: str) -> None:
    url, engine = db
    create(engine, table)
    insert(engine, table, [("a", T0), ("b", T0)])
    offsets = MemoryOffsets()
    task = start_task(props(url, mode="bulk", tables=table), offsets)
    first = task.poll() or []
    assert sorted(ids(first)) == [1, 2]
    assert all(r.source_offset is None for r in first)
    insert(engine, table, [("c", T0)])
    assert sorted(ids(task.poll() or [])) == [1, 2, 3]
    task.stop()


def test_poll_interval_is_respected_without_sleeping(db: tuple[str, sa.Engine], table: str) -> None:
    url, engine = db
    create(engine, table)
    insert(engine, table, [("a", T0)])
    offsets = MemoryOffsets()
    task = start_task(props(url, mode="bulk", tables=table, **{"poll.interval.ms": "3600000"}), offsets)
    assert ids(drain(task, offsets)) == [1]
    assert task.poll() is None  # not due again for an hour: the runtime may end the invocation
    task.stop()


def test_query_mode_uses_query_partition_and_prefix_as_topic(db: tuple[str, sa.Engine], table: str) -> None:
    url, engine = db
    create(engine, table)
    insert(engine, table, [("a", T0), ("b", T0), ("c", T0)])
    offsets = MemoryOffsets()
    config = props(url, mode="incrementing", query=f"SELECT id, name FROM {table} WHERE name <> 'b'",
                   **{"incrementing.column.name": "id", "topic.prefix": "only-topic"})
    connector = JdbcSourceConnector()
    connector.start(config)
    [task_config] = connector.task_configs(3)
    task = start_task(task_config, offsets)
    records = drain(task, offsets)
    task.stop()
    assert ids(records) == [1, 3]
    assert {r.topic for r in records} == {"only-topic"}
    assert records[0].source_partition == {"query": "query"}
    assert records[-1].source_offset == {"incrementing": 3}
    assert [f.name for f in records[0].value_schema.fields] == ["id", "name"]
    assert records[0].value_schema.field("name").schema.type is Type.STRING


def test_task_configs_split_tables_and_apply_lists(db: tuple[str, sa.Engine], unique_name: str) -> None:
    url, engine = db
    names = [f"{unique_name}_{i}" for i in range(5)]
    try:
        for n in names:
            create(engine, n)
        connector = JdbcSourceConnector()
        connector.start(props(url, mode="bulk", **{"table.whitelist": ",".join(names[:4])}))
        configs = connector.task_configs(3)
        groups = [c["tables"].split(",") for c in configs]
        assert [len(g) for g in groups] == [2, 1, 1]
        flat = [t.rsplit(".", 1)[-1] for g in groups for t in g]
        assert flat == names[:4]
        assert len(connector.task_configs(10)) == 4
        connector = JdbcSourceConnector()
        connector.start(props(url, mode="bulk", **{"table.blacklist": names[0]}))
        listed = {t.rsplit(".", 1)[-1] for c in connector.task_configs(1) for t in c["tables"].split(",")}
        assert names[0] not in listed and set(names[1:]) <= listed
    finally:
        with engine.begin() as conn:
            for n in names:
                conn.exec_driver_sql(f"DROP TABLE IF EXISTS {n}")


def test_validate_non_null_rejects_nullable_timestamp_column(db: tuple[str, sa.Engine], table: str) -> None:
    url, engine = db
    create(engine, table, nullable_ts=True)
    config = props(url, mode="timestamp", tables=table, **{"timestamp.column.name": "updated"})
    with pytest.raises(ConnectException, match="allows NULL, so rows with NULL"):
        start_task(config, MemoryOffsets())
    config["validate.non.null"] = "false"
    insert(engine, table, [("a", T0)])
    offsets = MemoryOffsets()
    task = start_task(config, offsets)
    assert ids(drain(task, offsets)) == [1]
    task.stop()


def test_config_errors_name_the_keys() -> None:
    with pytest.raises(ConfigException) as info:
        JdbcSourceConnector().start({"connection.url": "sqlite://", "topic.prefix": "x", "mode": "timestamp",
                                     "table.whitelist": "a", "table.blacklist": "b"})
    assert {"timestamp.column.name", "table.whitelist", "table.blacklist"} <= set(info.value.errors)
    with pytest.raises(ConfigException) as info:
        JdbcSourceConnector().start({"connection.url": "sqlite://", "topic.prefix": "x"})
    assert "mode" in info.value.errors


TYPE_TABLES = {
    "postgresql": "CREATE TABLE {t} (id SERIAL PRIMARY KEY, small SMALLINT NOT NULL, big BIGINT, flag BOOLEAN, "
                  "price NUMERIC(10,2), ratio DOUBLE PRECISION, approx REAL, born DATE, at_time TIME, "
                  "stamp TIMESTAMPTZ, payload BYTEA, doc JSONB)",
    "mysql": "CREATE TABLE {t} (id INT AUTO_INCREMENT PRIMARY KEY, small SMALLINT NOT NULL, big BIGINT, flag BOOLEAN, "
             "price DECIMAL(10,2), ratio DOUBLE, approx FLOAT, born DATE, at_time TIME, stamp TIMESTAMP(3) NULL, "
             "payload BLOB, doc TEXT)",
    "sqlite": "CREATE TABLE {t} (id INTEGER PRIMARY KEY, small SMALLINT NOT NULL, big BIGINT, flag BOOLEAN, "
              "price NUMERIC(10,2), ratio DOUBLE, approx REAL, born DATE, at_time TIME, stamp TIMESTAMP, "
              "payload BLOB, doc TEXT)",
}


def test_column_types_map_to_connect_schemas(db: tuple[str, sa.Engine], table: str) -> None:
    url, engine = db
    backend = engine.dialect.name
    with engine.begin() as conn:
        conn.exec_driver_sql(TYPE_TABLES[backend].format(t=table))
    meta = sa.Table(table, sa.MetaData(), autoload_with=engine)
    stamp = dt.datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(meta.insert().values(
            small=7, big=2**40, flag=True, price=decimal.Decimal("12.34"), ratio=0.5, approx=1.5,
            born=dt.date(2000, 2, 29), at_time=dt.time(13, 14, 15),
            stamp=stamp if backend == "postgresql" else stamp.replace(tzinfo=None),
            payload=b"\x00\x01", doc='{"a": 1}' if backend != "postgresql" else {"a": 1}))
        conn.execute(meta.insert().values(small=1))
    offsets = MemoryOffsets()
    task = start_task(props(url, mode="incrementing", tables=table), offsets)  # auto-increment column found
    first, second = drain(task, offsets)
    task.stop()
    schema = first.value_schema
    types = {f.name: (f.schema.type, f.schema.name) for f in schema.fields}
    assert types["small"][0] is Type.INT16 or backend == "sqlite"
    assert types["big"][0] is Type.INT64
    assert types["price"] == (Type.BYTES, "org.apache.kafka.connect.data.Decimal")
    assert schema.field("price").schema.parameters["scale"] == "2"
    assert types["ratio"][0] is Type.FLOAT64
    assert types["born"] == (Type.INT32, "org.apache.kafka.connect.data.Date")
    assert types["at_time"] == (Type.INT32, "org.apache.kafka.connect.data.Time")
    assert types["stamp"] == (Type.INT64, "org.apache.kafka.connect.data.Timestamp")
    assert types["payload"][0] is Type.BYTES and types["doc"][0] is Type.STRING
    assert not schema.field("small").schema.optional and schema.field("big").schema.optional
    v = first.value
    v.validate()
    second.value.validate()
    assert v.get("price") == decimal.Decimal("12.34")
    assert v.get("born") == dt.date(2000, 2, 29)
    assert v.get("at_time") == dt.time(13, 14, 15)
    assert v.get("stamp") == stamp
    assert v.get("payload") == b"\x00\x01"
    assert json.loads(v.get("doc")) == {"a": 1}
    assert v.get("ratio") == 0.5 and v.get("big") == 2**40
    assert second.value.get("price") is None and second.value.get("small") == 1
