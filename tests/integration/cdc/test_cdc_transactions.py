"""provide.transaction.metadata: BEGIN/END records on <topic.prefix>.transaction and the
``transaction`` block of change events, for PostgreSQL and MariaDB, also across a tick cut
inside a transaction."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from lambda_connect.api import SourceRecord
from lambda_connect.plugins.connectors.cdc.mysql.connector import MariaDbTask
from lambda_connect.plugins.connectors.cdc.postgres.connector import PostgresTask

from tests.fixtures.throwaway_pg import ThrowawayPostgres
from tests.integration.cdc import test_mariadb_cdc as maria
from tests.integration.cdc import test_postgres_cdc as pgtests
from tests.integration.cdc.conftest import Offsets, run_tick

META = {"provide.transaction.metadata": "true"}


@pytest.fixture
def pg(logical_pg: ThrowawayPostgres) -> Iterator[tuple[ThrowawayPostgres, str]]:
    name = "t" + uuid.uuid4().hex[:8]
    yield logical_pg, name
    logical_pg.execute(
        f"SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = 's_{name}'",
        f"DROP PUBLICATION IF EXISTS p_{name}", f"DROP TABLE IF EXISTS {name}", f"DROP TABLE IF EXISTS {name}_b",
        f"DROP TABLE IF EXISTS {name}_other")


def shape(records: list[SourceRecord], tx_topic: str) -> list[Any]:
    """BEGIN/END as (status, count), changes as (table, op, total_order, data_collection_order)."""
    out: list[Any] = []
    for r in records:
        if r.value is None:
            continue
        if r.topic == tx_topic:
            out.append((r.value.get("status"), r.value.get("event_count")))
        else:
            block = r.value.get("transaction")
            out.append((r.topic.rsplit(".", 1)[-1], r.value.get("op"), block.get("total_order"),
                        block.get("data_collection_order")))
    return out


def check_ids(records: list[SourceRecord], tx_topic: str) -> None:
    """Every change names the transaction of the BEGIN/END around it."""
    current = None
    for r in records:
        if r.value is None:
            continue
        if r.topic == tx_topic:
            assert r.key.get("id") == r.value.get("id")
            current = r.value.get("id") if r.value.get("status") == "BEGIN" else current
        else:
            assert r.value.get("transaction").get("id") == current


def test_postgres_transactions_are_framed_by_begin_and_end(pg):
    cluster, t = pg
    cluster.execute(f"CREATE TABLE {t} (id int PRIMARY KEY)", f"CREATE TABLE {t}_b (id int PRIMARY KEY)",
                    f"CREATE TABLE {t}_other (id int PRIMARY KEY)")
    p = pgtests.props(cluster, t, **META, **{"table.include.list": f"public\\.{t}(_b)?"})
    offsets = Offsets()
    run_tick(PostgresTask, p, offsets)
    cluster.execute(f"BEGIN; INSERT INTO {t} VALUES (1), (2); INSERT INTO {t}_b VALUES (1); COMMIT",
                    f"INSERT INTO {t}_other VALUES (1)",  # touches no captured table: no BEGIN/END
                    f"UPDATE {t} SET id = 3 WHERE id = 2")
    records = run_tick(PostgresTask, p, offsets)
    assert shape(records, "srv.transaction") == [
        ("BEGIN", None), (t, "c", 1, 1), (t, "c", 2, 2), (f"{t}_b", "c", 3, 1), ("END", 3),
        ("BEGIN", None), (t, "d", 1, 1), (t, "c", 1, 1), ("END", 1)]  # a key change: one change, two events
    check_ids(records, "srv.transaction")
    begin, end = records[0], records[4]
    assert begin.key_schema.name == "io.debezium.connector.common.TransactionMetadataKey"
    assert begin.value_schema.name == "io.debezium.connector.common.TransactionMetadataValue"
    xid = records[1].value.get("source").get("txId")
    assert begin.value.get("id").startswith(f"{xid}:")
    assert [c.to_dict() for c in end.value.get("data_collections")] == [
        {"data_collection": f"public.{t}", "event_count": 2}, {"data_collection": f"public.{t}_b", "event_count": 1}]
    assert run_tick(PostgresTask, p, offsets) == []


def test_postgres_resume_inside_a_transaction_keeps_its_orders(pg):
    cluster, t = pg
    cluster.execute(f"CREATE TABLE {t} (id int PRIMARY KEY)")
    p, offsets = pgtests.props(cluster, t, **META), Offsets()
    run_tick(PostgresTask, p, offsets)
    cluster.execute(f"INSERT INTO {t} SELECT generate_series(1, 4)")
    first = run_tick(PostgresTask, p, offsets, ack=3)  # BEGIN and two inserts acknowledged
    assert shape(first, "srv.transaction")[0] == ("BEGIN", None)
    second = run_tick(PostgresTask, p, offsets)
    assert shape(second, "srv.transaction") == [(t, "c", 3, 3), (t, "c", 4, 4), ("END", 4)]
    assert second[0].value.get("transaction").get("id") == first[0].value.get("id")


def test_mariadb_transactions_are_framed_by_begin_and_end(db):
    server, d = db
    server.execute(f"CREATE TABLE {d}.t (id INT PRIMARY KEY)", f"CREATE TABLE {d}.u (id INT PRIMARY KEY)")
    p, offsets = maria.props(server, d, **META), Offsets()
    run_tick(MariaDbTask, p, offsets)
    conn = server.connect()
    with conn.cursor() as cur:
        cur.execute("BEGIN")
        cur.execute(f"INSERT INTO {d}.t VALUES (1), (2)")
        cur.execute(f"INSERT INTO {d}.u VALUES (1)")
        cur.execute("COMMIT")
        gtid = server.execute("SELECT @@gtid_binlog_pos")[0][0]
    conn.close()
    server.execute(f"DELETE FROM {d}.u WHERE id = 1")
    records = run_tick(MariaDbTask, p, offsets)
    assert shape(records, "my.transaction") == [
        ("BEGIN", None), ("t", "c", 1, 1), ("t", "c", 2, 2), ("u", "c", 3, 1), ("END", 3),
        ("BEGIN", None), ("u", "d", 1, 1), ("END", 1)]
    check_ids(records, "my.transaction")
    assert records[0].value.get("id") == gtid  # MariaDB: the transaction's GTID
    assert [c.to_dict() for c in records[4].value.get("data_collections")] == [
        {"data_collection": f"{d}.t", "event_count": 2}, {"data_collection": f"{d}.u", "event_count": 1}]


def test_mariadb_resume_inside_a_transaction_keeps_its_orders(db):
    server, d = db
    server.execute(f"CREATE TABLE {d}.t (id INT PRIMARY KEY)")
    p, offsets = maria.props(server, d, **META), Offsets()
    run_tick(MariaDbTask, p, offsets)
    conn = server.connect()
    with conn.cursor() as cur:
        cur.execute("BEGIN")
        cur.execute(f"INSERT INTO {d}.t VALUES (1), (2)")
        cur.execute(f"INSERT INTO {d}.t VALUES (3)")
        cur.execute("COMMIT")
    conn.close()
    first = run_tick(MariaDbTask, p, offsets, ack=2)  # BEGIN and the first row
    assert shape(first, "my.transaction")[:2] == [("BEGIN", None), ("t", "c", 1, 1)]
    second = run_tick(MariaDbTask, p, offsets)
    assert shape(second, "my.transaction") == [("t", "c", 2, 2), ("t", "c", 3, 3), ("END", 3)]
    assert run_tick(MariaDbTask, p, offsets) == []


def test_without_the_setting_there_are_no_transaction_records(db):
    server, d = db
    server.execute(f"CREATE TABLE {d}.t (id INT PRIMARY KEY)")
    p, offsets = maria.props(server, d), Offsets()
    run_tick(MariaDbTask, p, offsets)
    server.execute(f"INSERT INTO {d}.t VALUES (1)")
    (record,) = run_tick(MariaDbTask, p, offsets)
    assert record.value.get("transaction") is None
