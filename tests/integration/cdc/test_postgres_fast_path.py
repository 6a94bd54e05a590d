"""The PostgreSQL source's streaming short way (``PostgresTask._fast_change``, the C tuple decoder
when built) gives exactly the records of the general way (``_message``).

Two slots see the same changes; one tick reads each, one with the short way, one without. The
records must be equal field for field — schemas, keys, envelopes, headers, partitions, offsets —
and their JSON bytes (schemas on) equal, with only the envelope's processing times (``ts_ms``,
``ts_us``, ``ts_ns``) set aside. The changes cover every type family, nulls, column filters,
unchanged TOASTed values, key changes, REPLICA IDENTITY FULL, a table without a primary key, a
table the filters leave out, skipped operations and transactions of several tables.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from lambda_connect.api import SourceRecord, Struct
from lambda_connect.plugins.connectors.cdc.postgres import connector, pgoutput
from lambda_connect.plugins.connectors.cdc.postgres.connector import PostgresTask
from lambda_connect.plugins.converters.json import JsonConverter

from tests.fixtures.throwaway_pg import ThrowawayPostgres
from tests.integration.cdc.conftest import Offsets, run_tick

TYPES = ("id bigint PRIMARY KEY, b boolean, s smallint, i int, f real, d double precision, n numeric(8,3), "
         "nv numeric, m money, by bytea, dt date, tm time, tm3 time(3), ttz timetz, ts timestamp, ts3 timestamp(3), "
         "tz timestamptz, iv interval, u uuid, j jsonb, js json, x xml, c char(3), v varchar(10), e inet, "
         "secret text, big text")
ROW = ("true, 7, 70000, 1.5, 2.25, 12.5, 3.14159, 4.10, '\\x0102', '1970-01-02', '01:00:00.5', '00:00:01.25', "
       "'12:00:00+02', '1970-01-01 00:00:01.000002', '1970-01-01 00:00:02.5', '2024-05-06 07:08:09.123+02', "
       "'1 day 02:00:00', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{\"k\": 1}', '[1, 2]', '<a>1</a>', 'ab', 'vv', "
       "'10.0.0.1', 'hidden'")


@pytest.fixture
def tables(logical_pg: ThrowawayPostgres) -> Iterator[tuple[ThrowawayPostgres, str]]:
    name = "f" + uuid.uuid4().hex[:8]
    yield logical_pg, name
    logical_pg.execute(
        f"SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name LIKE 's_{name}%'",
        f"DROP PUBLICATION IF EXISTS p_{name}",
        *(f"DROP TABLE IF EXISTS {name}_{suffix}" for suffix in ("all", "full", "nokey", "out", "pair", "run")))


def props(cluster: ThrowawayPostgres, name: str, slot: str, **extra: str) -> dict[str, str]:
    return {"database.hostname": "127.0.0.1", "database.port": str(cluster.port), "database.user": "postgres",
            "database.dbname": "postgres", "topic.prefix": "srv", "slot.name": f"s_{name}_{slot}",
            "publication.name": f"p_{name}", "publication.autocreate.mode": "disabled",
            "table.include.list": f"public\\.{name}_(all|full|nokey|pair|run)", "snapshot.mode": "no_data",
            "column.exclude.list": f"public\\.{name}_all\\.secret,public\\.{name}_run\\.y,public\\.{name}_pair\\.note",
            **extra}


def comparable(record: SourceRecord, json: JsonConverter) -> tuple[Any, ...]:
    value = record.value
    if isinstance(value, Struct) and value.schema.name and value.schema.name.endswith(".Envelope"):
        value = Struct.from_values(value.schema, [*value._values[:5], None, None, None])
    data = json.from_connect_data(record.topic, record.value_schema, value)
    key = json.from_connect_data(record.topic, record.key_schema, record.key)
    headers = [(h.key, h.value, h.schema) for h in record.headers]
    return (record.topic, record.kafka_partition, record.key_schema, record.key, record.value_schema, value,
            record.timestamp, headers, record.source_partition, record.source_offset, key, data)


def ticks(cluster: ThrowawayPostgres, name: str, statements: list[str], min_short: int, min_deletes: int,
          **extra: str) -> list[SourceRecord]:
    """The changes ``statements`` make, read once by each way; asserts they agree, returns them."""
    ways = {"fast": (props(cluster, name, "fast", **extra), Offsets()),
            "general": (props(cluster, name, "general", **extra), Offsets())}
    for p, offsets in ways.values():
        assert run_tick(PostgresTask, p, offsets) == []  # creates the slot: it sees what follows
    # both slots at one position, so positions in sources and offsets agree
    now = cluster.scalar("SELECT pg_current_wal_lsn()::text")
    for p, _offsets in ways.values():
        cluster.execute(f"SELECT pg_replication_slot_advance('{p['slot.name']}', '{now}')")
    cluster.execute(*statements)
    read: dict[str, list[SourceRecord]] = {}
    taken = {("fast", "_fast_change"): 0, ("fast", "_fast_delete"): 0, ("general", "_fast_change"): 0,
             ("general", "_fast_delete"): 0}
    short_ways = {name: getattr(PostgresTask, name) for name in ("_fast_change", "_fast_delete")}

    def counter(name: str) -> Any:
        def counted(task: PostgresTask, lsn: int, data: bytes) -> bool:
            done = short_ways[name](task, lsn, data)
            taken[(way, name)] += done
            return done
        return counted

    for way, (p, offsets) in ways.items():
        PostgresTask.fast_stream = way == "fast"
        for name in short_ways:
            setattr(PostgresTask, name, counter(name))
        try:
            read[way] = run_tick(PostgresTask, p, offsets)
        finally:
            PostgresTask.fast_stream = True
            for name, method in short_ways.items():
                setattr(PostgresTask, name, method)
    # the short ways did run, and only where they are on
    assert taken[("general", "_fast_change")] == taken[("general", "_fast_delete")] == 0, taken
    assert taken[("fast", "_fast_change")] >= min_short and taken[("fast", "_fast_delete")] >= min_deletes, taken
    json = JsonConverter(JsonConverter.config_def.parse({"schemas.enable": "true"}))
    fast, general = ([comparable(r, json) for r in read[w]] for w in ("fast", "general"))
    assert len(fast) == len(general)
    for i, (a, b) in enumerate(zip(fast, general, strict=True)):
        assert a == b, (i, read["fast"][i], read["general"][i])
    return read["fast"]


def schema_setup(cluster: ThrowawayPostgres, t: str) -> None:
    cluster.execute(f"CREATE TABLE {t}_all ({TYPES})", f"ALTER TABLE {t}_all ALTER COLUMN big SET STORAGE EXTERNAL",
                    f"CREATE TABLE {t}_full (id int PRIMARY KEY, note text, n int)",
                    f"ALTER TABLE {t}_full REPLICA IDENTITY FULL",
                    f"CREATE TABLE {t}_nokey (a int, b text)", f"ALTER TABLE {t}_nokey REPLICA IDENTITY FULL",
                    f"CREATE TABLE {t}_out (id int PRIMARY KEY, v text)",
                    # keys of two columns: out of column order, and a run of columns
                    f"CREATE TABLE {t}_pair (a int, note text, b int, PRIMARY KEY (b, a))",
                    f"CREATE TABLE {t}_run (x text, a int, b int, y text, PRIMARY KEY (a, b))",
                    # the publication also carries a table the filters leave out
                    f"CREATE PUBLICATION p_{t} FOR TABLE {t}_all, {t}_full, {t}_nokey, {t}_out, {t}_pair, {t}_run")


@pytest.mark.parametrize("decoder", ["built", "python"])
def test_short_way_equals_the_general_way_for_every_kind_of_change(tables, decoder, monkeypatch):
    """With the decoder the install built (C when it could) and with its Python specification."""
    if decoder == "python":
        monkeypatch.setattr(connector, "fast_row_values", pgoutput._row_values_with_ops)
    cluster, t = tables
    schema_setup(cluster, t)
    big = "x" * 9000
    records = ticks(cluster, t, [
        f"INSERT INTO {t}_all VALUES (1, {ROW}, '{big}')",
        f"INSERT INTO {t}_all (id) VALUES (2)",  # every other column null
        f"INSERT INTO {t}_all SELECT g, {ROW}, 'small' FROM generate_series(3, 40) g",
        f"UPDATE {t}_all SET s = s + 1 WHERE id <= 10",  # id 1 keeps its TOASTed 'big' unchanged
        f"UPDATE {t}_all SET id = 100 WHERE id = 3",  # a key change: the old key travels along
        f"DELETE FROM {t}_all WHERE id = 4",
        f"INSERT INTO {t}_full VALUES (1, 'a', 1), (2, 'b', 2)", f"UPDATE {t}_full SET n = n + 1",
        f"UPDATE {t}_full SET id = 10 WHERE id = 1",  # REPLICA IDENTITY FULL and a key change
        f"DELETE FROM {t}_full WHERE id = 2",
        f"INSERT INTO {t}_nokey VALUES (1, 'x'), (NULL, NULL)", f"UPDATE {t}_nokey SET b = 'y'",
        f"INSERT INTO {t}_out VALUES (1, 'left out')", f"UPDATE {t}_out SET v = 'still out'",
        f"INSERT INTO {t}_pair VALUES (1, 'n', 2), (3, NULL, 4)", f"UPDATE {t}_pair SET note = 'm'",
        f"INSERT INTO {t}_run VALUES ('x', 1, 2, 'y')", f"UPDATE {t}_run SET y = 'z'",
        f"BEGIN; INSERT INTO {t}_all (id, s) VALUES (200, 1); INSERT INTO {t}_out VALUES (2, 'o'); "
        f"UPDATE {t}_all SET s = 2 WHERE id = 200; INSERT INTO {t}_nokey VALUES (3, 'z'); COMMIT",
        f"DELETE FROM {t}_all WHERE id IN (1, 2, 5)",  # a TOASTed row, a row of nulls, a plain one
        f"DELETE FROM {t}_nokey WHERE a = 3", f"DELETE FROM {t}_pair WHERE a = 1", f"DELETE FROM {t}_run",
        f"DELETE FROM {t}_out",
    ], min_short=55, min_deletes=7)
    ops = [r.value.get("op") if r.value is not None else None for r in records]
    # 40 + the key changes' creates + 2 + 2 + 2 + 1 in the other tables + 2 in the last transaction
    assert ops.count("c") == 51 and ops.count("u") == 10 + 2 + 2 + 2 + 1 + 1
    first = records[0].value.get("after")
    assert first.get("big") == big and "secret" not in [f.name for f in first.schema.fields]
    toasted = [r for r in records if r.value is not None and r.value.get("op") == "u"
               and r.topic.endswith("_all") and r.key.get("id") == 1]
    assert toasted[0].value.get("after").get("big") == "__debezium_unavailable_value"
    assert not any(r.topic.endswith("_out") for r in records)


@pytest.mark.parametrize("extra", [{"skipped.operations": "c,d", "tombstones.on.delete": "false"},
                                   {"skipped.operations": "u"}, {"skipped.operations": "none",
                                                                 "decimal.handling.mode": "string",
                                                                 "time.precision.mode": "connect",
                                                                 "binary.handling.mode": "base64"}],
                         ids=["skip-c-d", "skip-u", "other-modes"])
def test_short_way_equals_the_general_way_with_other_settings(tables, extra):
    cluster, t = tables
    schema_setup(cluster, t)
    ticks(cluster, t, [
        f"INSERT INTO {t}_all SELECT g, {ROW}, 'b' FROM generate_series(1, 20) g",
        f"UPDATE {t}_all SET i = i + 1 WHERE id % 2 = 0", f"DELETE FROM {t}_all WHERE id = 5",
        f"INSERT INTO {t}_nokey VALUES (1, 'x')", f"UPDATE {t}_nokey SET b = 'y'",
        f"INSERT INTO {t}_full VALUES (1, 'a', 1)", f"UPDATE {t}_full SET n = 5", f"DELETE FROM {t}_nokey",
        f"DELETE FROM {t}_full", f"DELETE FROM {t}_all WHERE id > 15", f"TRUNCATE {t}_run",
    ], min_short=10, min_deletes=0 if "d" in extra.get("skipped.operations", "") else 7, **extra)
