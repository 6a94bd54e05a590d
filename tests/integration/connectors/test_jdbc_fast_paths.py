"""The JDBC sink's short ways (bunches of one shape, rows formatted in bulk, MySQL literals built a
column at a time) against the plain way, on SQLite, PostgreSQL and MariaDB.

"Plain" is the sink with every short way switched off: one RowPlan per record through the general
writer, rows handed to psycopg one ``write_row`` at a time and to PyMySQL's ``executemany``. Both
write the same random batches into tables of their own; the tables must hold the same rows.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import random
from collections.abc import Iterator
from itertools import chain, repeat
from typing import Any

import pytest
from lambda_connect.api import SinkRecord, SinkTaskContext
from lambda_connect.plugins.connectors.jdbc import bulk, schema_mapping
from lambda_connect.plugins.connectors.jdbc.dialects import dialect_for
from lambda_connect.plugins.connectors.jdbc.offsets import OffsetStore
from lambda_connect.plugins.connectors.jdbc.sink import JdbcSinkTask
from lambda_connect.plugins.connectors.jdbc.urls import backend_name, engine_for
from sqlalchemy import text


@pytest.fixture(params=["sqlite", "postgres", "mariadb"])
def db_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    if request.param == "sqlite":
        return f"jdbc:sqlite:{tmp_path}/fast.db"
    return request.getfixturevalue("postgres_url" if request.param == "postgres" else "mariadb_url")


class Db:
    def __init__(self, url: str, name: str) -> None:
        self.url = url
        self.name = name
        self.engine = engine_for(url)
        self.dialect = dialect_for(backend_name(self.engine.url))
        self.tables: set[str] = set()
        self.reported: list[tuple[SinkRecord, BaseException]] = []

    def task(self, table: str, **props: str) -> JdbcSinkTask:
        self.tables.add(table)
        config = {"connection.url": self.url, "auto.create": "true", "auto.evolve": "true",
                  "table.name.format": table, "name": self.name, **props}
        task = JdbcSinkTask()
        task.initialize(SinkTaskContext(f"{self.name}-{table}", 0, config,
                                        lambda r, e: self.reported.append((r, e))))
        task.start(config)
        return task

    def rows(self, table: str, order: str = "1") -> list[tuple[Any, ...]]:
        q = self.dialect.quote
        with self.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(f"SELECT * FROM {q(table)} ORDER BY {order}"))]

    def cleanup(self) -> None:
        q = self.dialect.quote
        for t in self.tables:
            with self.engine.begin() as conn:
                conn.exec_driver_sql(f"DROP TABLE IF EXISTS {q(t)}")
        with contextlib.suppress(Exception), self.engine.begin() as conn:
            conn.exec_driver_sql(f"DELETE FROM {q('__lambda_connect_sink_offsets')} "
                                 f"WHERE {q('connector')} LIKE '{self.name}%'")


@pytest.fixture
def db(db_url: str, unique_name: str) -> Iterator[Db]:
    database = Db(db_url, unique_name)
    yield database
    database.cleanup()


@contextlib.contextmanager
def plain_way(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every short way off: RowPlans record by record, psycopg ``write_row``, PyMySQL ``executemany``."""
    with monkeypatch.context() as m:
        def plan_into(self: Any, records: Any, out: list[Any]) -> None:
            for record in records:
                try:
                    out.append(self.plan(record))
                except schema_mapping.DataException as e:
                    out.append(schema_mapping.Failed(record, e))

        m.setattr(schema_mapping.FieldsExtractor, "plan_into", plan_into)
        m.setattr(bulk, "_text_row_formatter", lambda copy: None)
        m.setattr(bulk.MySqlLiterals, "for_cursor", classmethod(lambda cls, cur: None))
        yield


def spy_short_way(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Notes each batch the writer finished the short way (one bunch per table)."""
    from lambda_connect.plugins.connectors.jdbc import writer

    seen: list[str] = []
    original = writer.JdbcWriter._write_bunches

    def spy(self: Any, *args: Any) -> Any:
        result = original(self, *args)
        if result is not None and result is not writer._BULK_FAILED:
            seen.append("bunches")
        return result

    monkeypatch.setattr(writer.JdbcWriter, "_write_bunches", spy)
    return seen


SAFE_TEXT = "abcxyz ÄÖüß日本語🙂-_.:/@#%&*()[]{}<>|~^`+=?!;,"
ODD_TEXT = "'\"\\\t\n\r\x1a\x08\x0b\x0c$%s{}"


def random_text(rng: random.Random, odd: bool) -> str:
    chars = SAFE_TEXT + (ODD_TEXT if odd and rng.random() < 0.3 else "")
    return "".join(rng.choice(chars) for _ in range(rng.randint(0, 24)))


def random_float(rng: random.Random) -> float:
    return rng.choice([0.0, -0.0, 1.5, -2.25, 1e16, 1.2345e-7, 123456789.125, 3.141592653589793,
                       rng.uniform(-1e6, 1e6), rng.uniform(-1, 1) * 10 ** rng.randint(-20, 20)])


def random_batch(rng: random.Random, n: int, *, odd_text: bool, first_id: int = 0,
                 mixed: bool = False) -> list[dict[str, Any]]:
    """One shape (the short way), or with ``mixed`` records of another shape among them."""
    out = []
    for _ in range(n):
        value: dict[str, Any] = {
            "id": first_id + rng.randrange(n * 2),  # duplicate keys within a batch
            "big": rng.choice([0, -1, 2**31, -(2**63), 2**63 - 1, rng.randint(-(2**62), 2**62)]),
            "x": random_float(rng),
            "s": random_text(rng, odd_text),
            "flag": rng.random() < 0.5,
            "nothing": None,
        }
        if mixed and rng.random() < 0.1:
            value["s"] = None  # a null where the batch's shape has a string: a shape of its own
        out.append(value)
    return out


def deliver(task: JdbcSinkTask, topic: str, values: list[dict[str, Any]], first_offset: int,
            partitions: int = 2) -> None:
    task.put([SinkRecord(topic, i % partitions, None, None, None, v, first_offset + i)
              for i, v in enumerate(values)])
    task.flush({})


def normalise(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Booleans as 0/1 (MariaDB's BOOLEAN is TINYINT(1)), so rows compare across backends' drivers."""
    return [tuple(int(v) if isinstance(v, bool) else v for v in row) for row in rows]


@pytest.mark.parametrize("mode", ["upsert", "insert"])
def test_short_ways_write_the_rows_of_the_plain_way(db: Db, mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(f"{mode}-{db.dialect.name}")
    props = {"insert.mode": mode, "pk.mode": "record_value", "pk.fields": "id"} if mode == "upsert" \
        else {"insert.mode": "insert", "pk.mode": "none"}
    batches = [random_batch(rng, n, odd_text=True, first_id=k * 1000, mixed=k % 2 == 1)
               for k, n in enumerate([300, 7, 1, 300, 50, 300])]
    fast = db.task(db.name + "_f", **props)
    with plain_way(monkeypatch):
        plain = db.task(db.name + "_p", **props)
    short = spy_short_way(monkeypatch)
    offset = 0
    for batch in batches:
        deliver(fast, "orders", batch, offset)
        with plain_way(monkeypatch):
            deliver(plain, "orders", batch, offset)
        offset += len(batch)
    order = "1" if mode == "upsert" else "1, 2, 3, 4, 5"
    got, want = normalise(db.rows(db.name + "_f", order)), normalise(db.rows(db.name + "_p", order))
    assert got == want
    assert len(got) > 300
    assert fast.written == plain.written and fast.errant == plain.errant == 0
    assert short.count("bunches") >= 3  # the uniform batches went the short way


def test_decimals_timestamps_and_json_columns_match_the_plain_way(db: Db, monkeypatch: pytest.MonkeyPatch) -> None:
    """Values that need binding (or that the short way leaves to the long one) land alike."""
    when = dt.datetime(2024, 2, 29, 23, 59, 58, 123000, tzinfo=dt.UTC)
    timed = [{"id": i, "at": when + dt.timedelta(seconds=i), "doc": {"k": [i, "é"]}, "n": i * 7} for i in range(50)]
    money = [{"id": 100 + i, "amount": decimal.Decimal(f"{i}.25"), "n": i} for i in range(20)]
    props = {"insert.mode": "upsert", "pk.mode": "record_value", "pk.fields": "id"}
    fast = db.task(db.name + "_f", **props)
    with plain_way(monkeypatch):
        plain = db.task(db.name + "_p", **props)
    for offset, batch in ((0, timed), (50, money), (70, timed[:5] + money[:5])):
        deliver(fast, "orders", batch, offset)
        with plain_way(monkeypatch):
            deliver(plain, "orders", batch, offset)
    assert db.rows(db.name + "_f") == db.rows(db.name + "_p")
    assert len(db.rows(db.name + "_f")) == 70


def test_last_record_of_a_key_wins_in_a_one_shape_batch(db: Db) -> None:
    task = db.task(db.name + "_f", **{"insert.mode": "upsert", "pk.mode": "record_value", "pk.fields": "id"})
    deliver(task, "orders", [{"id": i % 5, "v": i} for i in range(23)], 0)
    assert db.rows(db.name + "_f") == [(k, max(i for i in range(23) if i % 5 == k)) for k in range(5)]
    assert task.written == 23


def test_redelivered_one_shape_batch_is_skipped_even_in_insert_mode(db: Db) -> None:
    task = db.task(db.name + "_f", **{"insert.mode": "insert"})
    batch = [{"n": i, "s": f"r{i}"} for i in range(40)]
    deliver(task, "orders", batch, 0)
    deliver(task, "orders", [*batch[20:], {"n": 40, "s": "r40"}], 20)
    assert db.rows(db.name + "_f") == [(i, f"r{i}") for i in range(41)]
    assert task.skipped_duplicates == 20


def test_a_refused_row_in_a_one_shape_batch_is_reported_alone(db: Db) -> None:
    table = db.name + "_f"
    q = db.dialect.quote
    with db.engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE TABLE {q(table)} ({q('id')} INT PRIMARY KEY, {q('v')} INT NOT NULL, "
                             f"CHECK ({q('v')} < 100))")
    task = db.task(table, **{"pk.mode": "record_value", "pk.fields": "id"})
    deliver(task, "orders", [{"id": i, "v": 500 if i == 7 else i} for i in range(12)], 0, partitions=1)
    assert db.rows(table) == [(i, i) for i in range(12) if i != 7]
    assert [r.kafka_offset for r, _ in db.reported] == [7]
    assert "offset=7" in str(db.reported[0][1])


def test_marks_moved_before_the_lock_send_the_batch_through_the_filter(
    postgres_url: str, unique_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another invocation commits overlapping records between the unlocked and the locked read:
    the short way must not write them twice."""
    db = Db(postgres_url, unique_name)
    try:
        table = db.name + "_f"
        first = db.task(table, **{"insert.mode": "insert"})
        second = db.task(table, **{"insert.mode": "insert"})
        second.writer.offsets.connector = first.writer.offsets.connector  # one connector, two containers
        batch = [{"n": i} for i in range(20)]
        original = OffsetStore.read
        raced = []

        def read(self: OffsetStore, cur: Any, partitions: Any, *, lock: bool) -> Any:
            if lock and not raced:
                raced.append(True)
                deliver(second, "orders", batch[:15], 0, partitions=1)  # a redelivery commits first
            return original(self, cur, partitions, lock=lock)

        monkeypatch.setattr(OffsetStore, "read", read)
        deliver(first, "orders", batch, 0, partitions=1)
        monkeypatch.setattr(OffsetStore, "read", original)
        assert raced
        assert db.rows(table) == [(i,) for i in range(20)]
        assert first.written == 5 and first.skipped_duplicates == 15
    finally:
        db.cleanup()


def test_bulk_row_formatting_is_active_for_this_psycopg(postgres_url: str) -> None:
    """The COPY short way relies on psycopg's row formatter; a psycopg without it must be noticed."""
    import psycopg

    with psycopg.connect(postgres_url.replace("postgresql+psycopg://", "postgresql://")) as conn, \
            conn.cursor() as cur:
        cur.execute("CREATE TEMP TABLE fmt_probe (a BIGINT, b TEXT)")
        with cur.copy("COPY fmt_probe (a, b) FROM STDIN") as copy:
            write_rows = bulk._text_row_formatter(copy)
            assert write_rows is not None
            write_rows([(1, "x\ty"), (None, "日本")])
        cur.execute("SELECT a, b FROM fmt_probe ORDER BY b")
        assert cur.fetchall() == [(1, "x\ty"), (None, "日本")]


@pytest.mark.parametrize("no_backslash", [False, True])
def test_mysql_literals_are_pymysqls_byte_for_byte(mariadb_url: str, no_backslash: bool) -> None:
    import pymysql
    from sqlalchemy.engine import make_url

    u = make_url(mariadb_url)
    conn = pymysql.connect(host=u.host, port=u.port or 3306, user=u.username, password=u.password or "",
                           database=u.database)
    try:
        cur = conn.cursor()
        if no_backslash:
            cur.execute("SET SESSION sql_mode = CONCAT(@@sql_mode, ',NO_BACKSLASH_ESCAPES')")
        cur.execute("SELECT 1")
        rng = random.Random(7)
        fields = ("id", "big", "x", "s", "flag", "nothing")
        for odd in (False, True):
            values = random_batch(rng, 200, odd_text=True)
            values = [v for v in values if v["s"] is not None] if odd else \
                [v for v in values if v["s"] is not None and not any(c in v["s"] for c in ODD_TEXT)]
            types = {f: type(values[0][f]) for f in fields}
            parts = bulk.MySqlLiterals(conn).row_parts(values, fields, types)
            assert parts is not None
            body = "".join(chain.from_iterable(zip(*_materialise(parts))))[:-1]
            want = ",".join(cur.mogrify("(" + ",".join(["%s"] * len(fields)) + ")", tuple(v[f] for f in fields))
                            for v in values)
            assert body == want
        plain_floats = [{"x": x} for x in (0.0, -0.0, 1.5, -2.25, 123456789.125, 0.1, 3.141592653589793)]
        parts = bulk.MySqlLiterals(conn).row_parts(plain_floats, ("x",), {"x": float})
        assert parts is not None
        body = "".join(chain.from_iterable(zip(*_materialise(parts))))[:-1]
        assert body == ",".join(cur.mogrify("(%s)", (v["x"],)) for v in plain_floats)
        assert bulk.MySqlLiterals(conn).row_parts([{"x": float("nan")}], ("x",), {"x": float}) is None
    finally:
        conn.close()


def _materialise(parts: list[Any]) -> list[Any]:
    return [p if isinstance(p, (repeat, list)) else list(p) for p in parts]


def test_mysql_statement_matches_the_runs_sql() -> None:
    from lambda_connect.api import Schema, Type
    from lambda_connect.plugins.connectors.jdbc.dialects import MySqlDialect, TableId

    dialect = MySqlDialect()
    schemas = {"id": Schema(Type.INT64), "v": Schema(Type.STRING)}
    for kind in ("insert", "upsert"):
        run = bulk.Run(kind, TableId("t", "s"), ("id", "v"), ("id", "v"), ("id",), schemas)
        prefix, postfix = bulk.mysql_statement(dialect, run)
        assert prefix + "(%s, %s)" + postfix == run.sql(dialect)


def test_copy_rows_with_fixed_dumper_types_are_psycopgs_bytes(postgres_url: str) -> None:
    """``copy_types`` fixes one dumper per column; the text must be what psycopg writes choosing a
    dumper per value (ints beyond int8, inf/nan, -0.0, escapes, unicode, nulls, booleans)."""
    import psycopg
    from lambda_connect.api import Schema, Type
    from lambda_connect.plugins.connectors.jdbc.dialects import PostgresDialect, TableId

    rng = random.Random(3)
    fields = ("id", "big", "x", "s", "flag", "nothing")
    values = [v for v in random_batch(rng, 400, odd_text=True) if v["s"] is not None]
    values += [dict(values[0], big=10**30, x=float("inf")), dict(values[0], big=-(2**70), x=float("nan"))]
    types = {f: type(values[0][f]) for f in fields}
    plain = {int: Type.INT64, float: Type.FLOAT64, str: Type.STRING, bool: Type.BOOLEAN}
    schemas = {f: Schema(plain.get(t, Type.STRING), optional=True) for f, t in types.items()}
    run = bulk.Run("insert", TableId("t"), fields, fields, (), schemas, values=values, types=types)
    dialect = PostgresDialect()
    assert bulk.copy_types(dialect, run) == ["int8", "int8", "float8", "text", "bool", "text"]
    rows = list(run.rows(dialect, values, fields))
    written: dict[bool, bytes] = {}
    with psycopg.connect(postgres_url.replace("postgresql+psycopg://", "postgresql://")) as conn, \
            conn.cursor() as cur:
        cur.execute("CREATE TEMP TABLE probe (a NUMERIC, b NUMERIC, x FLOAT8, s TEXT, f BOOLEAN, n TEXT)")
        for fixed in (False, True):
            with cur.copy("COPY probe FROM STDIN") as copy:
                if fixed:
                    copy.set_types(bulk.copy_types(dialect, run))
                buffer = bytearray()
                found = bulk._psycopg_formatter()
                assert found is not None
                for row in rows:
                    found[0](row, copy.formatter.transformer, buffer)
                written[fixed] = bytes(buffer)
                copy.write(buffer)
        cur.execute("SELECT count(*) FROM probe")
        assert cur.fetchone() == (2 * len(values),)
    assert written[True] == written[False]
    with_binder = bulk.Run("insert", TableId("t"), ("at",), ("at",), (), {"at": Schema(Type.INT64, name=
                           "org.apache.kafka.connect.data.Timestamp")}, values=[], types={"at": int})
    assert bulk.copy_types(dialect, with_binder) is None  # a column with a binder keeps per-value dumpers
