"""MariaDB CDC against a private server with a row-based binlog: events, resume, snapshot, errors."""

from __future__ import annotations

from typing import Any

import pytest
from lambda_connect.api import ConnectException, SourceRecord
from lambda_connect.plugins.connectors.cdc.mysql.connector import MariaDbTask, MySqlTask

from tests.integration.cdc.conftest import Offsets, ThrowawayMariaDB, run_tick


def props(server: ThrowawayMariaDB, database: str, **extra: str) -> dict[str, str]:
    return {"database.hostname": "127.0.0.1", "database.port": str(server.port), "database.user": "root",
            "topic.prefix": "my", "database.include.list": database, "snapshot.mode": "no_data", **extra}


def events(records: list[SourceRecord]) -> list[tuple[str, Any]]:
    return [("tombstone" if r.value is None else r.value.get("op"), r.key.get("id") if r.key else None)
            for r in records]


def test_row_changes_arrive_as_debezium_envelopes(db):
    server, d = db
    server.execute(f"CREATE TABLE {d}.t (id INT PRIMARY KEY, name VARCHAR(20) NOT NULL, amount DECIMAL(10,2), "
                   "at DATETIME(6), stamp TIMESTAMP(3) NULL, doc JSON, raw VARBINARY(8), d DATE, tm TIME(6))")
    p, offsets = props(server, d), Offsets()
    (anchor,) = run_tick(MariaDbTask, p, offsets)  # the starting position, stored through a heartbeat
    assert anchor.topic == "__debezium-heartbeat.my" and anchor.source_offset["file"].startswith("binlog.")
    server.execute(f"INSERT INTO {d}.t VALUES (1, 'a', 1.50, '2024-01-02 03:04:05.000006', '2024-01-02 03:04:05.5', "
                   "'{\"k\": [1, 2]}', x'0102', '1970-01-03', '01:00:00')",
                   f"UPDATE {d}.t SET name = 'b' WHERE id = 1", f"DELETE FROM {d}.t WHERE id = 1")
    records = run_tick(MariaDbTask, p, offsets)
    assert events(records) == [("c", 1), ("u", 1), ("d", 1), ("tombstone", 1)]
    create, update = records[0].value, records[1].value
    assert records[0].topic == f"my.{d}.t" and records[0].value_schema.name == f"my.{d}.t.Envelope"
    after = create.get("after").to_dict()
    import decimal

    assert after == {"id": 1, "name": "a", "amount": decimal.Decimal("1.50"), "at": 1704164645000006,
                     "stamp": "2024-01-02T03:04:05.5Z", "doc": '{"k": [1, 2]}', "raw": b"\x01\x02", "d": 2,
                     "tm": 3_600_000_000}
    source = create.get("source")
    assert source.schema.name == "io.debezium.connector.mariadb.Source"
    assert (source.get("connector"), source.get("db"), source.get("table"), source.get("snapshot")) == (
        "mariadb", d, "t", "false")
    assert source.get("file").startswith("binlog.") and source.get("pos") > 0 and source.get("server_id") == 1
    assert update.get("before").get("name") == "a" and update.get("after").get("name") == "b"  # full row image
    assert {"file", "pos", "event", "row", "server_id", "ts_sec"} <= set(records[-1].source_offset)
    assert run_tick(MariaDbTask, p, offsets) == []


def test_a_tick_cut_inside_a_transaction_resumes_after_the_last_acknowledged_row(db):
    server, d = db
    server.execute(f"CREATE TABLE {d}.t (id INT PRIMARY KEY)")
    p, offsets = props(server, d), Offsets()
    run_tick(MySqlTask, p, offsets)
    conn = server.connect()
    with conn.cursor() as cur:
        cur.execute("BEGIN")
        cur.execute(f"INSERT INTO {d}.t VALUES (1), (2), (3)")
        cur.execute(f"INSERT INTO {d}.t VALUES (4)")
        cur.execute(f"INSERT INTO {d}.t VALUES (5), (6)")
        cur.execute("COMMIT")
    conn.close()
    first = run_tick(MySqlTask, p, offsets, ack=4)
    assert [k for _, k in events(first)] == [1, 2, 3, 4, 5, 6]
    assert [k for _, k in events(run_tick(MySqlTask, p, offsets))] == [5, 6]
    assert run_tick(MySqlTask, p, offsets) == []


def test_added_and_dropped_columns_show_without_a_restart(db):
    server, d = db
    server.execute(f"CREATE TABLE {d}.t (id INT PRIMARY KEY, a INT)")
    p, offsets = props(server, d), Offsets()
    run_tick(MariaDbTask, p, offsets)
    server.execute(f"INSERT INTO {d}.t VALUES (1, 1)", f"ALTER TABLE {d}.t ADD COLUMN b VARCHAR(5)",
                   f"INSERT INTO {d}.t VALUES (2, 2, 'two')")
    first = run_tick(MariaDbTask, p, offsets)
    server.execute(f"ALTER TABLE {d}.t DROP COLUMN a", f"INSERT INTO {d}.t VALUES (3, 'three')")
    second = run_tick(MariaDbTask, p, offsets)
    assert [r.value.get("after").to_dict() for r in first + second] == [
        {"id": 1, "a": 1}, {"id": 2, "a": 2, "b": "two"}, {"id": 3, "b": "three"}]


def test_snapshot_in_chunks_across_ticks_with_concurrent_writes(db):
    server, d = db
    server.execute(f"CREATE TABLE {d}.t (id INT PRIMARY KEY, v INT NOT NULL)",
                   f"INSERT INTO {d}.t SELECT seq, 0 FROM {d}.seq_1_to_60")
    p = props(server, d, **{"snapshot.mode": "initial", "snapshot.fetch.size": "10", "max.batch.size": "10"})
    offsets, state, ticks = Offsets(), {}, 0
    while True:
        records = run_tick(MariaDbTask, p, offsets, max_polls=2)
        ticks += 1
        for r in records:
            if r.value is None:
                continue
            if r.value.get("op") == "d":
                state.pop(r.key.get("id"), None)
            else:
                state[r.key.get("id")] = r.value.get("after").get("v")
        if ticks <= 6:
            n = ticks * 7
            server.execute(f"UPDATE {d}.t SET v = v + 1 WHERE id IN ({n}, {n + 20}, {n + 40})",
                           f"DELETE FROM {d}.t WHERE id = {n + 1}", f"INSERT INTO {d}.t VALUES ({100 + ticks}, 1)")
        if not records and ticks > 6:
            break
        assert ticks < 40
    assert ticks >= 5 and "snapshot" not in next(iter(offsets.committed.values()))
    assert state == dict(server.execute(f"SELECT id, v FROM {d}.t"))


def test_a_server_without_binlog_is_a_clear_error(mariadb_url):
    from sqlalchemy.engine import make_url

    url = make_url(mariadb_url)
    p = {"database.hostname": url.host or "127.0.0.1", "database.port": str(url.port or 3306),
         "database.user": url.username or "root", "topic.prefix": "my", "snapshot.mode": "no_data"}
    with pytest.raises(ConnectException, match=r"log_bin=OFF.*needs\s+log_bin=ON.*binlog_row_metadata=FULL"):
        run_tick(MariaDbTask, p, Offsets())


def test_bad_credentials_are_a_clear_error(db):
    server, d = db
    p = props(server, d, **{"database.user": "nobody", "database.password": "wrong"})
    with pytest.raises(ConnectException, match=r"Could not connect.*Check database.user and database.password"):
        run_tick(MariaDbTask, p, Offsets())
