"""JDBC sink batches whose records differ in shape: the per-shape caches must give the answers
record-by-record inference gives (types widen, conflicts are rejected per record, keys checked per record)."""

from __future__ import annotations

import contextlib
import decimal
from collections.abc import Iterator
from typing import Any

import pytest
from lambda_connect.api import ConnectException, Schema, SinkRecord, SinkTaskContext, Struct, Type
from lambda_connect.plugins.connectors.jdbc.dialects import dialect_for
from lambda_connect.plugins.connectors.jdbc.sink import JdbcSinkTask
from lambda_connect.plugins.connectors.jdbc.urls import backend_name, engine_for
from sqlalchemy import text


@pytest.fixture(params=["sqlite", "postgres", "mariadb"])
def db(request: pytest.FixtureRequest, tmp_path: Any, unique_name: str) -> Iterator[Db]:
    if request.param == "sqlite":
        url = f"jdbc:sqlite:{tmp_path}/shapes.db"
    else:
        url = request.getfixturevalue("postgres_url" if request.param == "postgres" else "mariadb_url")
    database = Db(url, unique_name)
    yield database
    database.cleanup()


class Db:
    def __init__(self, url: str, name: str) -> None:
        self.url = url
        self.name = name
        self.engine = engine_for(url)
        self.dialect = dialect_for(backend_name(self.engine.url))
        self.reported: list[tuple[SinkRecord, BaseException]] = []

    def task(self, **props: str) -> JdbcSinkTask:
        config = {"connection.url": self.url, "auto.create": "true", **props}
        task = JdbcSinkTask()
        task.initialize(SinkTaskContext(self.name, 0, config, lambda r, e: self.reported.append((r, e))))
        task.start(config)
        return task

    def deliver(self, task: JdbcSinkTask, values: list[Any], **kw: Any) -> None:
        task.put([SinkRecord(self.name, 0, None, None, kw.get("schema"), v, i) for i, v in enumerate(values)])
        task.flush({})

    def rows(self, columns: str, order: str = "1") -> list[tuple[Any, ...]]:
        q = self.dialect.quote
        with self.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(f"SELECT {columns} FROM {q(self.name)} ORDER BY {order}"))]

    def cleanup(self) -> None:
        q = self.dialect.quote
        with self.engine.begin() as conn:
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {q(self.name)}")
        with contextlib.suppress(Exception), self.engine.begin() as conn:
            offsets, connector = q('__lambda_connect_sink_offsets'), q('connector')
            conn.exec_driver_sql(f"DELETE FROM {offsets} WHERE {connector}='{self.name}'")


def test_nulls_ints_and_floats_across_shapes_settle_on_one_column_type(db: Db) -> None:
    task = db.task(**{"insert.mode": "upsert", "pk.mode": "record_value", "pk.fields": "id"})
    values = [{"id": 1, "note": None, "x": 1}, {"id": 2, "note": "b", "x": 2.5}, {"id": 3, "note": None, "x": 3},
              {"id": 4, "extra": True, "note": "d", "x": 4}]
    db.deliver(task, values)
    rows = [(i, n, float(x), None if e is None else bool(e)) for i, n, x, e in db.rows("id, note, x, extra")]
    assert rows == [(1, None, 1.0, None), (2, "b", 2.5, None), (3, None, 3.0, None), (4, "d", 4.0, True)]
    assert task.written == 4 and task.errant == 0


def test_every_record_of_a_conflicting_shape_is_reported_and_the_others_written(db: Db) -> None:
    task = db.task(**{"pk.mode": "record_value", "pk.fields": "id"})
    values = [{"id": i, "v": "text"} if i % 3 else {"id": i, "v": {"nested": i}} for i in range(1, 10)]
    db.deliver(task, values)
    assert db.rows("id, v") == [(i, "text") for i in range(1, 10) if i % 3]
    assert [r.kafka_offset for r, _ in db.reported] == [2, 5, 8]
    assert all("Field 'v' has conflicting types" in str(e) for _, e in db.reported)


def test_null_key_is_caught_in_every_record_of_a_known_shape(db: Db) -> None:
    task = db.task(**{"insert.mode": "upsert", "pk.mode": "record_value", "pk.fields": "id"})
    db.deliver(task, [{"id": 1, "v": "a"}, {"id": 2, "v": "b"}, {"id": None, "v": "c"}, {"id": 4, "v": "d"}])
    assert db.rows("id, v") == [(1, "a"), (2, "b"), (4, "d")]
    [(record, error)] = db.reported
    assert record.kafka_offset == 2
    assert f"Primary key field 'id' of table '{db.name}' is null" in str(error)


def test_upsert_keeps_the_last_record_per_key_across_shapes(db: Db) -> None:
    task = db.task(**{"insert.mode": "upsert", "pk.mode": "record_value", "pk.fields": "id"})
    db.deliver(task, [{"id": 1, "v": "old"}, {"id": 2, "v": "two"}, {"id": 1, "v": "new", "w": 7},
                      {"id": 2, "v": "two again"}])
    assert db.rows("id, v, w") == [(1, "new", 7), (2, "two again", None)]


def test_missing_pk_field_is_named_for_each_record_of_that_shape(db: Db) -> None:
    task = db.task(**{"pk.mode": "record_value", "pk.fields": "id"})
    db.deliver(task, [{"id": 1, "v": "a"}, {"v": "b"}, {"v": "c"}])
    assert db.rows("id, v") == [(1, "a")]
    assert [r.kafka_offset for r, _ in db.reported] == [1, 2]
    assert all("does not contain field: id" in str(e) for _, e in db.reported)


def test_struct_values_with_equal_but_distinct_schemas_land_in_one_table(db: Db) -> None:
    def schema() -> Schema:
        return Schema.struct([("id", Schema(Type.INT64)), ("name", Schema(Type.STRING, optional=True))])

    first, second = schema(), schema()
    values = [Struct(first if i % 2 else second, {"id": i, "name": f"n{i}"}) for i in range(6)]
    task = db.task(**{"insert.mode": "upsert", "pk.mode": "record_value", "pk.fields": "id"})
    task.put([SinkRecord(db.name, 0, None, None, v.schema, v, i) for i, v in enumerate(values)])
    task.flush({})
    assert db.rows("id, name") == [(i, f"n{i}") for i in range(6)]


def test_schemaless_decimals_keep_the_scale_of_the_first_record(db: Db) -> None:
    task = db.task(**{"pk.mode": "record_value", "pk.fields": "id"})
    db.deliver(task, [{"id": 1, "amount": decimal.Decimal("1.25")}, {"id": 2, "amount": decimal.Decimal("2.50")}])
    assert [(i, decimal.Decimal(str(a))) for i, a in db.rows("id, amount")] == [
        (1, decimal.Decimal("1.25")), (2, decimal.Decimal("2.50"))]


def test_a_large_batch_with_a_small_batch_size_writes_every_row_once(db: Db) -> None:
    task = db.task(**{"insert.mode": "upsert", "pk.mode": "record_value", "pk.fields": "id", "batch.size": "100"})
    values = [{"id": i % 1500, "v": f"value-{i}", "amount": i / 4} for i in range(3000)]
    db.deliver(task, values)
    rows = db.rows("id, v, amount")
    assert len(rows) == 1500
    assert rows[0] == (0, "value-1500", 375.0) and rows[-1] == (1499, "value-2999", 749.75)
    assert task.written == 3000


def test_record_key_mode_ignores_a_value_field_named_like_the_key(db: Db) -> None:
    task = db.task(**{"insert.mode": "upsert", "pk.mode": "record_key", "pk.fields": "id"})
    records = [SinkRecord(db.name, 0, None, k, None, {"id": "ignored", "v": i}, i) for i, k in enumerate([5, 6, 5])]
    task.put(records)
    task.flush({})
    assert db.rows("id, v") == [(5, 2), (6, 1)]


def test_a_batch_that_cannot_be_written_names_the_first_bad_record_without_a_reporter(db: Db) -> None:
    config = {"connection.url": db.url, "auto.create": "true", "pk.mode": "record_value", "pk.fields": "id"}
    task = JdbcSinkTask()
    task.initialize(SinkTaskContext(db.name, 0, config, None))
    task.start(config)
    with pytest.raises(ConnectException, match=r"offset=1\)"):
        db.deliver(task, [{"id": 1, "v": 1}, {"id": 2, "v": "x"}, {"id": 3, "v": "y"}])
