"""MariaDB GTID positions: offsets carry them, a tick resumes from them (also where the binlog file
names mean nothing, as after a failover), an old file/pos offset moves over to them, and a position
the server does not have is a clear error."""

from __future__ import annotations

import pytest
from lambda_connect.api import ConnectException
from lambda_connect.plugins.connectors.cdc.mysql.connector import MariaDbTask

from tests.integration.cdc import test_mariadb_cdc as maria
from tests.integration.cdc.conftest import Offsets, run_tick


def only(offsets: Offsets) -> dict:
    (offset,) = offsets.committed.values()
    return offset


def ids(records: list) -> list:
    return [r.key.get("id") for r in records if r.value is not None]


def test_offsets_and_events_carry_gtids(db):
    server, d = db
    server.execute(f"CREATE TABLE {d}.t (id INT PRIMARY KEY)")
    p, offsets = maria.props(server, d), Offsets()
    run_tick(MariaDbTask, p, offsets)
    before = server.execute("SELECT @@gtid_binlog_pos")[0][0]
    assert only(offsets)["gtids"] == before
    gtid = server.execute(f"INSERT INTO {d}.t VALUES (1)", "SELECT @@last_gtid")[0][0]  # same session
    (record,) = run_tick(MariaDbTask, p, offsets)
    assert record.value.get("source").get("gtid") == gtid
    # As with file/pos: the position before the transaction, and how much of it was published.
    assert (only(offsets)["gtids"], only(offsets)["event"], only(offsets)["row"]) == (before, 0, 1)
    assert run_tick(MariaDbTask, p, offsets) == []


def test_resume_by_gtid_ignores_a_file_name_this_server_does_not_have(db):
    server, d = db
    server.execute(f"CREATE TABLE {d}.t (id INT PRIMARY KEY)")
    p, offsets = maria.props(server, d), Offsets()
    run_tick(MariaDbTask, p, offsets)
    server.execute(f"INSERT INTO {d}.t VALUES (1), (2)")
    run_tick(MariaDbTask, p, offsets)
    server.execute(f"INSERT INTO {d}.t VALUES (3)", f"UPDATE {d}.t SET id = 4 WHERE id = 1")
    # As after a failover to another server: the file/pos are of a binlog this server never had.
    only(offsets).update({"file": "elsewhere-bin.000042", "pos": 123456})
    records = run_tick(MariaDbTask, p, offsets)
    assert [(r.value.get("op") if r.value else None, r.key.get("id")) for r in records] == [
        ("c", 3), ("d", 1), (None, 1), ("c", 4)]
    assert only(offsets)["file"].startswith("binlog.")  # the real file/pos again once read
    assert run_tick(MariaDbTask, p, offsets) == []


def test_a_gtid_tick_cut_inside_a_transaction_resumes_after_the_last_acknowledged_row(db):
    server, d = db
    server.execute(f"CREATE TABLE {d}.t (id INT PRIMARY KEY)")
    p, offsets = maria.props(server, d, **{"max.batch.size": "3"}), Offsets()
    run_tick(MariaDbTask, p, offsets)
    conn = server.connect()
    with conn.cursor() as cur:
        cur.execute("BEGIN")
        for i in range(1, 6):
            cur.execute(f"INSERT INTO {d}.t VALUES ({i})")
        cur.execute("COMMIT")
    conn.close()
    server.execute(f"INSERT INTO {d}.t VALUES (6)")
    assert "gtids" in only(offsets)
    assert ids(run_tick(MariaDbTask, p, offsets, ack=2)) == [1, 2, 3, 4, 5, 6]
    assert (only(offsets)["event"], only(offsets)["row"]) == (1, 1)  # inside the first transaction
    assert ids(run_tick(MariaDbTask, p, offsets)) == [3, 4, 5, 6]
    assert run_tick(MariaDbTask, p, offsets) == []


def test_a_file_pos_offset_moves_over_to_gtids(db):
    server, d = db
    server.execute(f"CREATE TABLE {d}.t (id INT PRIMARY KEY)")
    p, offsets = maria.props(server, d), Offsets()
    run_tick(MariaDbTask, p, offsets)
    del only(offsets)["gtids"]  # an offset written before GTIDs were stored
    before = server.execute("SELECT @@gtid_binlog_pos")[0][0]
    server.execute(f"INSERT INTO {d}.t VALUES (1)")
    assert ids(run_tick(MariaDbTask, p, offsets)) == [1]
    assert only(offsets)["gtids"] == before  # learnt from the file/pos (BINLOG_GTID_POS)
    server.execute(f"INSERT INTO {d}.t VALUES (2)")
    assert ids(run_tick(MariaDbTask, p, offsets)) == [2]  # now by GTID


def test_a_gtid_position_the_server_lacks_is_a_clear_error_or_a_new_snapshot(db):
    server, d = db
    server.execute(f"CREATE TABLE {d}.t (id INT PRIMARY KEY)", f"INSERT INTO {d}.t VALUES (1)")
    p, offsets = maria.props(server, d), Offsets()
    run_tick(MariaDbTask, p, offsets)
    server.execute(f"INSERT INTO {d}.t VALUES (2)")
    domain, server_id, _seq = server.execute("SELECT @@gtid_binlog_pos")[0][0].split("-")
    ahead = f"{domain}-{server_id}-999999"  # a transaction this server never wrote
    stale = dict(only(offsets), gtids=ahead)
    offsets.committed = {k: dict(stale) for k in offsets.committed}
    with pytest.raises(ConnectException, match=rf"GTID position {ahead}.*snapshot.mode=when_needed"):
        run_tick(MariaDbTask, p, offsets)
    again = run_tick(MariaDbTask, dict(p, **{"snapshot.mode": "when_needed"}), offsets)
    assert sorted(ids(again)) == [1, 2] and {r.value.get("op") for r in again} == {"r"}
    assert only(offsets)["gtids"] == server.execute("SELECT @@gtid_binlog_pos")[0][0]


def test_a_malformed_gtids_offset_names_the_field():
    from lambda_connect.plugins.connectors.cdc.mysql.gtid import GtidPosition

    with pytest.raises(ConnectException, match="gtids='0-1'"):
        GtidPosition.parse("0-1")
