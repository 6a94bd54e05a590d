"""JDBC sink against real PostgreSQL, MariaDB and SQLite: modes, DDL, deletes, exactly-once, errors."""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from lambda_connect.api import (
    ConfigException,
    ConnectException,
    Date,
    Decimal,
    Schema,
    SinkRecord,
    SinkTaskContext,
    Struct,
    Timestamp,
    Type,
)
from lambda_connect.plugins.connectors.jdbc.dialects import dialect_for
from lambda_connect.plugins.connectors.jdbc.sink import JdbcSinkConnector, JdbcSinkTask
from lambda_connect.plugins.connectors.jdbc.urls import backend_name, engine_for, to_sqlalchemy_url
from sqlalchemy import text
from sqlalchemy.engine import make_url

BACKENDS = ["sqlite", "postgres", "mariadb"]


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    if request.param == "sqlite":
        return f"jdbc:sqlite:{tmp_path}/sink.db"
    return request.getfixturevalue("postgres_url" if request.param == "postgres" else "mariadb_url")


class Harness:
    """Builds tasks the way the runtime does, and reads back what they wrote."""

    def __init__(self, url: str, name: str) -> None:
        self.url = url
        self.name = name
        self.engine = engine_for(url)
        self.dialect = dialect_for(backend_name(self.engine.url))
        self.backend = self.dialect.name
        self.reported: list[tuple[SinkRecord, BaseException]] = []
        self.tables: set[str] = {name}

    def task(self, *, reporter: bool = False, **props: str) -> JdbcSinkTask:
        config = {"connection.url": self.url, "auto.create": "true", **props}
        task = JdbcSinkTask()
        report = (lambda r, e: self.reported.append((r, e))) if reporter else None
        task.initialize(SinkTaskContext(self.name, 0, config, report))
        task.start(config)
        return task

    def deliver(self, task: JdbcSinkTask, records: list[SinkRecord]) -> None:
        """One Lambda invocation: put the batch, then flush it."""
        task.put(records)
        task.flush({})

    def rows(self, table: str | None = None, order: str = "1") -> list[tuple[Any, ...]]:
        with self.engine.connect() as conn:
            q = self.dialect.quote(table or self.name)
            return [tuple(r) for r in conn.execute(text(f"SELECT * FROM {q} ORDER BY {order}"))]

    def execute(self, sql: str) -> None:
        with self.engine.begin() as conn:
            conn.exec_driver_sql(sql)

    def cleanup(self) -> None:
        q = self.dialect.quote
        for t in self.tables:
            self.execute(f"DROP TABLE IF EXISTS {q(t)}")
        # The offsets table does not exist when no test of this backend ever flushed.
        with contextlib.suppress(Exception):
            self.execute(f"DELETE FROM {q('__lambda_connect_sink_offsets')} WHERE {q('connector')}='{self.name}'")


@pytest.fixture
def h(db_url: str, unique_name: str) -> Iterator[Harness]:
    harness = Harness(db_url, unique_name)
    yield harness
    harness.cleanup()


def rec(topic: str, offset: int, value: Any, *, key: Any = None, value_schema: Schema | None = None,
        key_schema: Schema | None = None, partition: int = 0) -> SinkRecord:
    return SinkRecord(topic, partition, key_schema, key, value_schema, value, offset, timestamp=1_700_000_000_000)


PERSON = Schema.struct([("id", Schema(Type.INT32)), ("name", Schema(Type.STRING)),
                        ("email", Schema(Type.STRING, optional=True))], name="Person")


def person(i: int, name: str, email: str | None = None) -> Struct:
    return Struct(PERSON, {"id": i, "name": name, "email": email})


# --- insert / upsert / update -------------------------------------------------------------------


def test_insert_struct_values_with_decimal_date_timestamp(h: Harness) -> None:
    schema = Schema.struct([
        ("id", Schema(Type.INT64)),
        ("amount", Decimal.schema(2)),
        ("day", Date.schema()),
        ("at", Timestamp.schema()),
        ("ok", Schema(Type.BOOLEAN)),
        ("tags", Schema.array(Schema(Type.STRING), optional=True)),
    ])
    at = dt.datetime(2024, 3, 1, 12, 30, 15, 123000, tzinfo=dt.UTC)
    values = [Struct(schema, {"id": i, "amount": decimal.Decimal(f"{i}.25"), "day": dt.date(2024, 2, 29),
                              "at": at, "ok": i % 2 == 0, "tags": ["a", str(i)]}) for i in range(3)]
    task = h.task()
    h.deliver(task, [rec(h.name, i, v, value_schema=schema) for i, v in enumerate(values)])
    rows = h.rows()
    assert [r[0] for r in rows] == [0, 1, 2]
    assert task.written == 3
    amount, day, stamp, ok = rows[1][1], rows[1][2], rows[1][3], rows[1][4]
    assert decimal.Decimal(str(amount)) == decimal.Decimal("1.25")
    assert str(day) == "2024-02-29"
    assert str(stamp).startswith("2024-03-01 12:30:15.123")
    assert bool(ok) is False
    assert '"1"' in str(rows[1][5]) or rows[1][5] == ["a", "1"]


def test_upsert_by_record_key_last_write_wins_within_a_batch(h: Harness) -> None:
    task = h.task(**{"insert.mode": "upsert", "pk.mode": "record_key", "pk.fields": "id"})
    batch = [rec(h.name, i, {"name": f"v{i}"}, key=i % 2) for i in range(6)]
    h.deliver(task, batch)
    assert h.rows() == [(0, "v4"), (1, "v5")]
    h.deliver(task, [rec(h.name, 6, {"name": "later"}, key=0)])
    assert h.rows() == [(0, "later"), (1, "v5")]


def test_update_mode_changes_existing_rows_only(h: Harness) -> None:
    h.execute(f"CREATE TABLE {h.dialect.quote(h.name)} (id INT PRIMARY KEY, name VARCHAR(40) NOT NULL, "
              "email VARCHAR(40))")
    h.execute(f"INSERT INTO {h.dialect.quote(h.name)} VALUES (1, 'old', 'keep@x')")
    task = h.task(**{"insert.mode": "update", "pk.mode": "record_value", "pk.fields": "id",
                     "fields.whitelist": "name"})
    h.deliver(task, [rec(h.name, 0, person(1, "new", "ignored@x"), value_schema=PERSON),
                     rec(h.name, 1, person(2, "absent"), value_schema=PERSON)])
    assert h.rows() == [(1, "new", "keep@x")]


def test_pk_mode_kafka_uses_connect_coordinates(h: Harness) -> None:
    task = h.task(**{"pk.mode": "kafka"})
    h.deliver(task, [rec(h.name, 7, {"v": 1}, partition=3), rec(h.name, 8, {"v": 2}, partition=3)])
    with h.engine.connect() as conn:
        q = h.dialect.quote
        got = conn.execute(text(f"SELECT {q('__connect_topic')}, {q('__connect_partition')}, "
                                f"{q('__connect_offset')}, {q('v')} FROM {q(h.name)} ORDER BY 3")).all()
    assert [tuple(r) for r in got] == [(h.name, 3, 7, 1), (h.name, 3, 8, 2)]


def test_record_value_pk_and_whitelist_and_table_name_format(h: Harness) -> None:
    table = f"kafka_{h.name}"
    h.tables.add(table)
    task = h.task(**{"pk.mode": "record_value", "pk.fields": "id", "fields.whitelist": "name",
                     "insert.mode": "upsert", "table.name.format": "kafka_${topic}"})
    h.deliver(task, [rec(h.name, 0, person(5, "ann", "a@x"), value_schema=PERSON)])
    assert h.rows(table) == [(5, "ann")]


# --- deletes, DDL ---------------------------------------------------------------------------------


def test_tombstone_deletes_row_when_delete_enabled(h: Harness) -> None:
    task = h.task(**{"pk.mode": "record_key", "pk.fields": "id", "delete.enabled": "true", "insert.mode": "upsert"})
    h.deliver(task, [rec(h.name, 0, {"name": "a"}, key=1), rec(h.name, 1, {"name": "b"}, key=2)])
    h.deliver(task, [rec(h.name, 2, None, key=1), rec(h.name, 3, {"name": "c"}, key=3)])
    assert h.rows() == [(2, "b"), (3, "c")]
    assert task.deleted == 1


def test_insert_mode_keeps_order_of_insert_delete_insert(h: Harness) -> None:
    task = h.task(**{"pk.mode": "record_key", "pk.fields": "id", "delete.enabled": "true"})
    h.deliver(task, [rec(h.name, 0, {"name": "a"}, key=1), rec(h.name, 1, None, key=1),
                     rec(h.name, 2, {"name": "again"}, key=1)])
    assert h.rows() == [(1, "again")]


def test_delete_enabled_requires_record_key_pk_mode(h: Harness) -> None:
    props = {"connection.url": h.url, "delete.enabled": "true", "pk.mode": "record_value"}
    errors = JdbcSinkConnector.validate(props)
    assert errors["delete.enabled"].errors == [
        "delete.enabled=true needs pk.mode=record_key: a tombstone names its row only by its key"]
    with pytest.raises(ConfigException, match="record_key"):
        h.task(**{"delete.enabled": "true", "pk.mode": "record_value"})


def test_auto_evolve_adds_optional_columns_and_rejects_required_ones(h: Harness) -> None:
    task = h.task(**{"auto.evolve": "true"})
    h.deliver(task, [rec(h.name, 0, {"id": 1})])
    h.deliver(task, [rec(h.name, 1, {"id": 2, "extra": "x"})])
    assert h.rows() == [(1, None), (2, "x")]
    required = Schema.struct([("id", Schema(Type.INT64, optional=True)), ("must", Schema(Type.STRING))])
    with pytest.raises(ConnectException, match="not optional and does not have a default value"):
        h.deliver(task, [rec(h.name, 2, Struct(required, {"id": 3, "must": "y"}), value_schema=required)])


def test_missing_table_without_auto_create_fails_naming_it(h: Harness) -> None:
    task = h.task(**{"auto.create": "false"})
    with pytest.raises(ConnectException, match="is missing and auto-creation is disabled"):
        h.deliver(task, [rec(h.name, 0, {"id": 1})])


def test_missing_columns_without_auto_evolve_fail(h: Harness) -> None:
    task = h.task()
    h.deliver(task, [rec(h.name, 0, {"id": 1})])
    with pytest.raises(ConnectException, match=r"missing fields \(extra\) and auto-evolution is disabled"):
        h.deliver(task, [rec(h.name, 1, {"id": 2, "extra": "x"})])


# --- schemaless inference -------------------------------------------------------------------------


def test_schemaless_maps_infer_column_types(h: Harness) -> None:
    task = h.task()
    h.deliver(task, [rec(h.name, 0, {"i": 1, "f": 1.5, "b": True, "s": "x", "doc": {"k": [1, 2]}, "n": None}),
                     rec(h.name, 1, {"i": 2, "f": 2, "b": False, "s": "y", "doc": [], "n": "now"})])
    rows = h.rows(order="1")
    assert [(r[0], float(r[1]), bool(r[2]), r[3], r[5]) for r in rows] == [
        (1, 1.5, True, "x", None), (2, 2.0, False, "y", "now")]
    doc = rows[0][4]
    assert (doc if isinstance(doc, dict) else __import__("json").loads(doc)) == {"k": [1, 2]}


def test_conflicting_schemaless_types_go_to_the_reporter_naming_the_field(h: Harness) -> None:
    task = h.task(reporter=True)
    h.deliver(task, [rec(h.name, 0, {"id": 1, "v": "text"}), rec(h.name, 1, {"id": 2, "v": {"nested": True}})])
    assert h.rows() == [(1, "text")]
    [(record, error)] = h.reported
    assert record.kafka_offset == 1
    assert "'v'" in str(error)


# --- errors ---------------------------------------------------------------------------------------


def _narrow_table(h: Harness) -> None:
    h.execute(f"CREATE TABLE {h.dialect.quote(h.name)} (id INT PRIMARY KEY, name VARCHAR(5) "
              "CHECK (LENGTH(name) <= 5))")


def test_bad_record_goes_to_errant_reporter_and_the_rest_is_written(h: Harness) -> None:
    _narrow_table(h)
    task = h.task(reporter=True, **{"pk.mode": "record_value", "pk.fields": "id"})
    h.deliver(task, [rec(h.name, 0, {"id": 1, "name": "ok"}), rec(h.name, 1, {"id": 2, "name": "far too long"}),
                     rec(h.name, 2, {"id": 3, "name": "fine"})])
    assert h.rows() == [(1, "ok"), (3, "fine")]
    assert [r.kafka_offset for r, _ in h.reported] == [1]
    assert task.errant == 1
    # A redelivery of the same batch neither writes nor reports anything again.
    h.deliver(h.task(reporter=True, **{"pk.mode": "record_value", "pk.fields": "id"}),
              [rec(h.name, i, {"id": 9, "name": "x"}) for i in range(3)])
    assert len(h.reported) == 1 and len(h.rows()) == 2


def test_bad_record_without_reporter_fails_the_batch_naming_its_coordinates(h: Harness) -> None:
    _narrow_table(h)
    task = h.task(**{"pk.mode": "record_value", "pk.fields": "id"})
    with pytest.raises(ConnectException, match=rf"topic={h.name}, partition=0, offset=1"):
        h.deliver(task, [rec(h.name, 0, {"id": 1, "name": "ok"}), rec(h.name, 1, {"id": 2, "name": "far too long"})])
    assert h.rows() == []  # nothing of the failed batch was committed
    h.deliver(task, [rec(h.name, 0, {"id": 1, "name": "ok"})])
    assert h.rows() == [(1, "ok")]


def test_null_value_without_delete_enabled_is_rejected(h: Harness) -> None:
    task = h.task(reporter=True)
    h.deliver(task, [rec(h.name, 0, {"id": 1}), rec(h.name, 1, None)])
    assert [r.kafka_offset for r, _ in h.reported] == [1]
    assert "delete.enabled=false" in str(h.reported[0][1])


# --- exactly once ---------------------------------------------------------------------------------


def test_same_batch_twice_gives_one_copy_even_in_insert_mode(h: Harness) -> None:
    task = h.task()
    batch = [rec(h.name, i, {"n": i}) for i in range(5)]
    h.deliver(task, batch)
    h.deliver(task, batch)
    assert h.rows() == [(i,) for i in range(5)]
    assert task.written == 5 and task.skipped_duplicates == 5


def test_overlapping_redelivery_writes_only_the_new_tail(h: Harness) -> None:
    task = h.task()
    h.deliver(task, [rec(h.name, i, {"n": i}) for i in range(0, 6)])
    h.deliver(task, [rec(h.name, i, {"n": i}) for i in range(3, 10)])
    assert h.rows() == [(i,) for i in range(10)]
    assert task.skipped_duplicates == 3


def test_crash_after_commit_before_return_is_not_duplicated(h: Harness) -> None:
    batch = [rec(h.name, i, {"n": i}, partition=p) for p in (0, 1) for i in range(4)]
    h.deliver(h.task(), batch)  # wrote and committed, then the container died before returning
    fresh = h.task()  # a new container gets the very same batch again
    h.deliver(fresh, batch)
    assert len(h.rows()) == 8
    assert fresh.written == 0 and fresh.skipped_duplicates == 8


def test_offsets_are_per_connector(h: Harness) -> None:
    batch = [rec(h.name, i, {"n": i}) for i in range(3)]
    h.deliver(h.task(), batch)
    other = Harness(h.url, h.name + "b")
    try:
        t = other.task(**{"table.name.format": h.name})
        other.deliver(t, batch)
        assert t.written == 3
    finally:
        other.tables = set()
        other.cleanup()


# --- dialect specifics ----------------------------------------------------------------------------


def test_db_timezone_writes_wall_clock_time_of_that_zone(h: Harness) -> None:
    schema = Schema.struct([("at", Timestamp.schema())])
    task = h.task(**{"db.timezone": "America/New_York"})
    h.deliver(task, [rec(h.name, 0, Struct(schema, {"at": dt.datetime(2024, 1, 15, 17, 0, tzinfo=dt.UTC)}),
                         value_schema=schema)])
    assert str(h.rows()[0][0]).startswith("2024-01-15 12:00:00")


def test_quote_never_leaves_identifiers_bare(h: Harness) -> None:
    task = h.task(**{"quote.sql.identifiers": "never"})
    h.deliver(task, [rec(h.name, 0, {"plain": 1})])
    with h.engine.connect() as conn:
        assert conn.execute(text(f"SELECT plain FROM {h.name}")).scalar() == 1


def test_jdbc_url_form_reaches_the_same_database(h: Harness) -> None:
    url = to_sqlalchemy_url(h.url)
    if h.backend == "sqlite":
        jdbc = f"jdbc:sqlite:{url.database}"
    else:
        sub = "postgresql" if h.backend == "postgresql" else "mariadb"
        jdbc = f"jdbc:{sub}://{url.host}:{url.port}/{url.database}?user={url.username}"
    task = h.task(**{"connection.url": jdbc})
    h.deliver(task, [rec(h.name, 0, {"n": 1})])
    assert h.rows() == [(1,)]


@pytest.mark.parametrize("backend", ["postgresql"])
def test_postgres_upsert_goes_through_copy(backend: str, postgres_url: str, unique_name: str,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """The bulk path for PostgreSQL is COPY (checked by watching the statements the cursor sees)."""
    h = Harness(postgres_url, unique_name)
    seen: list[str] = []
    import psycopg

    original: Callable[..., Any] = psycopg.Cursor.copy

    def spy(self: Any, statement: Any, *a: Any, **kw: Any) -> Any:
        seen.append(str(statement))
        return original(self, statement, *a, **kw)

    monkeypatch.setattr(psycopg.Cursor, "copy", spy)
    try:
        task = h.task(**{"insert.mode": "upsert", "pk.mode": "record_key", "pk.fields": "id"})
        h.deliver(task, [rec(h.name, i, {"v": i}, key=i % 3) for i in range(9)])
        assert sorted(h.rows()) == [(0, 6), (1, 7), (2, 8)]
        assert any(s.startswith("COPY") and "lc_stage_" in s for s in seen)
    finally:
        h.cleanup()


def test_sqlalchemy_url_for_server_backends_is_kept(h: Harness) -> None:
    assert make_url(str(to_sqlalchemy_url(h.url))).get_backend_name() in ("postgresql", "mysql", "mariadb", "sqlite")
