"""PostgreSQL CDC against a private cluster with ``wal_level=logical``: events, offsets, slot handling.

Each test drives the task as the runtime does (``run_tick``: start, poll to the end, acknowledge,
commit offsets, ``commit``, stop) with its own table, slot and publication.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from lambda_connect.api import ConnectException, SourceRecord, Struct
from lambda_connect.plugins.connectors.cdc.postgres.connector import PostgresConnector, PostgresTask

from tests.fixtures.throwaway_pg import ThrowawayPostgres
from tests.integration.cdc.conftest import Offsets, run_tick


@pytest.fixture
def pg(logical_pg: ThrowawayPostgres) -> Iterator[tuple[ThrowawayPostgres, str]]:
    """The cluster and a fresh table name; its slot and publication are dropped afterwards."""
    name = "t" + uuid.uuid4().hex[:8]
    yield logical_pg, name
    logical_pg.execute(
        f"SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = 's_{name}'",
        f"DROP PUBLICATION IF EXISTS p_{name}", f"DROP TABLE IF EXISTS {name}")


def props(cluster: ThrowawayPostgres, name: str, **extra: str) -> dict[str, str]:
    return {"database.hostname": "127.0.0.1", "database.port": str(cluster.port), "database.user": "postgres",
            "database.dbname": "postgres", "topic.prefix": "srv", "slot.name": f"s_{name}",
            "publication.name": f"p_{name}", "publication.autocreate.mode": "filtered",
            "table.include.list": f"public\\.{name}", "snapshot.mode": "no_data", **extra}


def events(records: list[SourceRecord]) -> list[tuple[str, Any]]:
    """(op or 'tombstone', id of the key) of each record."""
    return [("tombstone" if r.value is None else r.value.get("op"), r.key.get("id") if r.key else None)
            for r in records]


def slot_lag(cluster: ThrowawayPostgres, name: str) -> int:
    return int(cluster.scalar(f"SELECT pg_current_wal_lsn() - confirmed_flush_lsn FROM pg_replication_slots "
                              f"WHERE slot_name = 's_{name}'"))


def wal_now(cluster: ThrowawayPostgres) -> int:
    return int(cluster.scalar("SELECT pg_current_wal_lsn() - '0/0'"))


def confirmed(cluster: ThrowawayPostgres, name: str) -> int:
    """Where the slot is confirmed (other sessions may write WAL meanwhile, so tests compare with a
    position taken before the tick rather than expect zero lag)."""
    return int(cluster.scalar(f"SELECT confirmed_flush_lsn - '0/0' FROM pg_replication_slots "
                              f"WHERE slot_name = 's_{name}'"))


def test_inserts_updates_deletes_arrive_as_debezium_envelopes(pg):
    cluster, t = pg
    cluster.execute(f"CREATE TABLE {t} (id int PRIMARY KEY, name text NOT NULL, note varchar(20))")
    p, offsets = props(cluster, t), Offsets()
    assert run_tick(PostgresTask, p, offsets) == []  # creates slot and publication
    cluster.execute(f"INSERT INTO {t} VALUES (1, 'a', NULL), (2, 'b', 'x')", f"UPDATE {t} SET name = 'A' WHERE id = 1",
                    f"DELETE FROM {t} WHERE id = 2")
    records = run_tick(PostgresTask, p, offsets)
    assert events(records) == [("c", 1), ("c", 2), ("u", 1), ("d", 2), ("tombstone", 2)]
    create, update, delete = records[0], records[2], records[3]
    topic = f"srv.public.{t}"
    assert {r.topic for r in records} == {topic}
    env = create.value_schema
    assert env.name == f"{topic}.Envelope" and env.version == 2
    assert [f.name for f in env.fields] == ["before", "after", "source", "transaction", "op", "ts_ms", "ts_us",
                                            "ts_ns"]
    assert env.field("after").schema.name == f"{topic}.Value" and create.key_schema.name == f"{topic}.Key"
    assert create.value.get("after").to_dict() == {"id": 1, "name": "a", "note": None}
    assert create.value.get("before") is None
    source = create.value.get("source")
    assert source.schema.name == "io.debezium.connector.postgresql.Source"
    assert [f.name for f in source.schema.fields][:9] == ["version", "connector", "name", "ts_ms", "snapshot", "db",
                                                          "sequence", "ts_us", "ts_ns"]
    assert (source.get("connector"), source.get("name"), source.get("snapshot"), source.get("db"),
            source.get("schema"), source.get("table")) == ("postgresql", "srv", "false", "postgres", "public", t)
    assert isinstance(source.get("txId"), int) and isinstance(source.get("lsn"), int)
    # REPLICA IDENTITY DEFAULT: no before image of an update, only the key in a delete's
    assert update.value.get("before") is None and update.value.get("after").get("name") == "A"
    # only the key is logged; a required column gets its zero value, an optional one null
    assert delete.value.get("before").to_dict() == {"id": 2, "name": "", "note": None}
    assert records[4].value is None and records[4].value_schema is None and records[4].key.get("id") == 2
    # offsets in Debezium's shape, all under the server partition
    last = records[-1]
    assert last.source_partition == {"server": "srv"}
    assert {"lsn", "lsn_commit", "lsn_proc", "lsn_events_processed", "txId", "ts_usec"} <= set(last.source_offset)
    # everything was acknowledged: the slot is confirmed to the end and the next tick is empty
    before = wal_now(cluster)
    assert run_tick(PostgresTask, p, offsets) == []
    assert confirmed(cluster, t) >= before


def test_replica_identity_full_toast_and_key_change(pg):
    cluster, t = pg
    cluster.execute(f"CREATE TABLE {t} (id int PRIMARY KEY, big text, n int)", f"ALTER TABLE {t} REPLICA IDENTITY FULL",
                    f"ALTER TABLE {t} ALTER COLUMN big SET STORAGE EXTERNAL")
    p, offsets = props(cluster, t, **{"tombstones.on.delete": "false"}), Offsets()
    run_tick(PostgresTask, p, offsets)
    big = "x" * 10_000
    cluster.execute(f"INSERT INTO {t} VALUES (1, '{big}', 1)", f"UPDATE {t} SET n = 2 WHERE id = 1",
                    f"UPDATE {t} SET id = 5 WHERE id = 1", f"DELETE FROM {t} WHERE id = 5")
    records = run_tick(PostgresTask, p, offsets)
    assert events(records) == [("c", 1), ("u", 1), ("d", 1), ("c", 5), ("d", 5)]
    update = records[1].value
    assert update.get("before").to_dict() == {"id": 1, "big": big, "n": 1}  # FULL: the old row has it
    # the unchanged TOASTed value is not in the WAL record: the placeholder stands for it
    assert update.get("after").to_dict() == {"id": 1, "big": "__debezium_unavailable_value", "n": 2}
    old_key, new_key = records[2], records[3]
    assert old_key.headers.last_with_name("__debezium.newkey").value == Struct(records[3].key_schema, {"id": 5})
    assert new_key.headers.last_with_name("__debezium.oldkey").value.get("id") == 1
    assert records[4].value.get("before").get("n") == 2  # FULL: the whole old row


def test_types_map_as_debezium_maps_them(pg):
    cluster, t = pg
    cluster.execute(
        f"CREATE TABLE {t} (id bigint PRIMARY KEY, b boolean, s smallint, f real, d double precision, "
        "n numeric(8,3), nv numeric, m money, by bytea, dt date, tm time, tm3 time(3), ts timestamp, ts3 timestamp(3), "
        "tz timestamptz, iv interval, u uuid, j jsonb, c char(3), e inet)")
    p, offsets = props(cluster, t), Offsets()
    run_tick(PostgresTask, p, offsets)
    cluster.execute(
        f"INSERT INTO {t} VALUES (1, true, 7, 1.5, 2.25, 12.5, 3.14159, 4.10, '\\x0102', '1970-01-02', '01:00:00.5', "
        "'00:00:01.25', '1970-01-01 00:00:01.000002', '1970-01-01 00:00:02.5', '2024-05-06 07:08:09.123+02', "
        "'1 day 02:00:00', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{\"k\": 1}', 'ab', '10.0.0.1')")
    (record,) = run_tick(PostgresTask, p, offsets)
    after = record.value.get("after")
    schema = after.schema
    import decimal

    assert after.to_dict() == {
        "id": 1, "b": True, "s": 7, "f": 1.5, "d": 2.25, "n": decimal.Decimal("12.500"),
        "nv": {"scale": 5, "value": (314159).to_bytes(3, "big", signed=True)},
        "m": decimal.Decimal("4.10"), "by": b"\x01\x02", "dt": 1, "tm": 3_600_500_000,
        "tm3": 1250, "ts": 1_000_002, "ts3": 2500, "tz": "2024-05-06T05:08:09.123Z", "iv": 93_600_000_000,
        "u": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "j": '{"k": 1}', "c": "ab ", "e": "10.0.0.1"}
    names = {f.name: f.schema.name for f in schema.fields}
    assert names["dt"] == "io.debezium.time.Date" and names["tm"] == "io.debezium.time.MicroTime"
    assert names["tm3"] == "io.debezium.time.Time" and names["ts"] == "io.debezium.time.MicroTimestamp"
    assert names["ts3"] == "io.debezium.time.Timestamp" and names["tz"] == "io.debezium.time.ZonedTimestamp"
    assert names["n"] == "org.apache.kafka.connect.data.Decimal" and names["j"] == "io.debezium.data.Json"
    assert names["nv"] == "io.debezium.data.VariableScaleDecimal" and names["iv"] == "io.debezium.time.MicroDuration"
    assert not schema.field("id").schema.optional and schema.field("b").schema.optional


def test_a_tick_cut_inside_a_transaction_resumes_without_loss(pg):
    """Kafka acknowledged only part of one transaction before the tick ended (or crashed): the slot
    is not confirmed past it, and the next tick publishes the rest — including changes that share
    one LSN (a multi-row insert)."""
    cluster, t = pg
    cluster.execute(f"CREATE TABLE {t} (id int PRIMARY KEY)")
    p, offsets = props(cluster, t), Offsets()
    run_tick(PostgresTask, p, offsets)
    cluster.execute(f"INSERT INTO {t} SELECT g FROM generate_series(1, 10) g", f"INSERT INTO {t} VALUES (11)")
    first = run_tick(PostgresTask, p, offsets, ack=4)
    assert [k for _, k in events(first)] == list(range(1, 12))
    assert slot_lag(cluster, t) > 0  # not confirmed past the cut transaction
    second = run_tick(PostgresTask, p, offsets)
    assert [k for _, k in events(second)] == list(range(5, 12))  # the rest, nothing twice that was committed
    before = wal_now(cluster)
    assert run_tick(PostgresTask, p, offsets) == [] and confirmed(cluster, t) >= before


def test_unacknowledged_records_are_read_again(pg):
    cluster, t = pg
    cluster.execute(f"CREATE TABLE {t} (id int PRIMARY KEY)")
    p, offsets = props(cluster, t), Offsets()
    run_tick(PostgresTask, p, offsets)
    cluster.execute(f"INSERT INTO {t} VALUES (1)", f"INSERT INTO {t} VALUES (2)")
    assert len(run_tick(PostgresTask, p, offsets, ack=0)) == 2  # crash before any acknowledgement
    assert [k for _, k in events(run_tick(PostgresTask, p, offsets))] == [1, 2]


def test_an_idle_captured_table_does_not_pin_wal(pg):
    cluster, t = pg
    cluster.execute(f"CREATE TABLE {t} (id int PRIMARY KEY)", f"CREATE TABLE {t}_other (id int)")
    p, offsets = props(cluster, t), Offsets()
    run_tick(PostgresTask, p, offsets)
    try:
        cluster.execute(f"INSERT INTO {t}_other SELECT generate_series(1, 5000)")
        assert slot_lag(cluster, t) > 100_000
        before = wal_now(cluster)
        assert run_tick(PostgresTask, p, offsets) == []
        assert confirmed(cluster, t) >= before
    finally:
        cluster.execute(f"DROP TABLE {t}_other")


def test_heartbeat_records_carry_the_position(pg):
    cluster, t = pg
    cluster.execute(f"CREATE TABLE {t} (id int PRIMARY KEY)", f"CREATE TABLE {t}_hb (n int)")
    p = props(cluster, t, **{"heartbeat.interval.ms": "1", "heartbeat.action.query": f"INSERT INTO {t}_hb VALUES (1)"})
    offsets = Offsets()
    try:
        (beat,) = run_tick(PostgresTask, p, offsets)
        assert beat.topic == "__debezium-heartbeat.srv" and beat.key.get("serverName") == "srv"
        assert beat.value_schema.name == "io.debezium.connector.common.Heartbeat"
        assert offsets.committed and "lsn_commit" in next(iter(offsets.committed.values()))
        assert cluster.scalar(f"SELECT count(*) FROM {t}_hb") == 1
    finally:
        cluster.execute(f"DROP TABLE {t}_hb")


def test_schema_change_shows_in_the_next_event(pg):
    cluster, t = pg
    cluster.execute(f"CREATE TABLE {t} (id int PRIMARY KEY, a int)")
    p, offsets = props(cluster, t), Offsets()
    run_tick(PostgresTask, p, offsets)
    cluster.execute(f"INSERT INTO {t} VALUES (1, 1)", f"ALTER TABLE {t} ADD COLUMN b text",
                    f"INSERT INTO {t} VALUES (2, 2, 'two')", f"ALTER TABLE {t} DROP COLUMN a",
                    f"INSERT INTO {t} VALUES (3, 'three')")
    records = run_tick(PostgresTask, p, offsets)
    assert [r.value.get("after").to_dict() for r in records] == [
        {"id": 1, "a": 1}, {"id": 2, "a": 2, "b": "two"}, {"id": 3, "b": "three"}]


def test_filters_skipped_operations_and_truncate(pg):
    cluster, t = pg
    cluster.execute(f"CREATE TABLE {t} (id int PRIMARY KEY, secret text, keep text)")
    p = props(cluster, t, **{"column.exclude.list": f"public\\.{t}\\.secret", "skipped.operations": "u"})
    offsets = Offsets()
    run_tick(PostgresTask, p, offsets)
    cluster.execute(f"INSERT INTO {t} VALUES (1, 's', 'k')", f"UPDATE {t} SET keep = 'K'", f"TRUNCATE {t}")
    records = run_tick(PostgresTask, p, offsets)
    assert [r.value.get("op") for r in records] == ["c", "t"]
    assert records[0].value.get("after").to_dict() == {"id": 1, "keep": "k"}
    assert records[1].key is None and records[1].value.get("source").get("table") == t


def test_slot_and_publication_are_created_and_dropped(pg):
    cluster, t = pg
    cluster.execute(f"CREATE TABLE {t} (id int PRIMARY KEY)")
    p = props(cluster, t, **{"slot.drop.on.stop": "true"})
    run_tick(PostgresTask, p, Offsets())
    assert cluster.scalar(f"SELECT count(*) FROM pg_publication_tables WHERE pubname = 'p_{t}'") == 1
    assert cluster.scalar(f"SELECT count(*) FROM pg_replication_slots WHERE slot_name = 's_{t}'") == 0


def test_missing_logical_wal_level_is_a_clear_error(postgres_url):
    from sqlalchemy.engine import make_url

    url = make_url(postgres_url)
    p = {"database.hostname": url.host or "127.0.0.1", "database.port": str(url.port or 5432),
         "database.user": url.username or "postgres", "database.dbname": url.database or "postgres",
         "topic.prefix": "srv", "snapshot.mode": "no_data"}
    with pytest.raises(ConnectException, match=r"wal_level=replica.*needs wal_level=logical.*rds.logical_replication"):
        run_tick(PostgresTask, p, Offsets())


def test_bad_credentials_are_a_clear_error(pg):
    cluster, t = pg
    cluster.execute(f"CREATE ROLE {t} LOGIN REPLICATION PASSWORD 'right'")
    hba = cluster.data / "pg_hba.conf"
    original = hba.read_text()
    hba.write_text(f"host all {t} 127.0.0.1/32 scram-sha-256\n" + original)
    cluster.execute("SELECT pg_reload_conf()")
    try:
        p = props(cluster, t, **{"database.user": t, "database.password": "wrong"})
        with pytest.raises(ConnectException, match=r"Could not connect.*password authentication failed.*"
                                                   r"database\.user and database\.password"):
            run_tick(PostgresTask, p, Offsets())
    finally:
        hba.write_text(original)
        cluster.execute("SELECT pg_reload_conf()", f"DROP ROLE {t}")


def test_config_errors_name_the_key():
    problems = PostgresConnector.validate({"database.hostname": "h", "database.user": "u", "database.dbname": "d",
                                          "topic.prefix": "p", "skipped.operations": "x"})
    assert "skipped.operations" in problems and "unknown operation" in problems["skipped.operations"].errors[0]
    problems = PostgresConnector.validate({"database.hostname": "h", "database.user": "u", "database.dbname": "d",
                                          "topic.prefix": "p", "snapshot.mode": "sometimes"})
    assert "snapshot.mode" in problems


def fold(records: list[SourceRecord], state: dict[int, dict[str, Any]]) -> None:
    """Apply change events to a table image, as a sink with upsert and deletes would."""
    for r in records:
        if r.value is None or r.value.get("op") == "t":
            continue
        if r.value.get("op") == "d":
            state.pop(r.key.get("id"), None)
        else:
            state[r.key.get("id")] = r.value.get("after").to_dict()


def test_snapshot_in_chunks_across_ticks_with_concurrent_writes(pg):
    """60 rows, chunks of 10, each tick stops after two polls of 10 records (as a spent budget would),
    while rows are updated, deleted and inserted between ticks: the folded events equal the table."""
    cluster, t = pg
    cluster.execute(f"CREATE TABLE {t} (id int PRIMARY KEY, v int NOT NULL)",
                    f"INSERT INTO {t} SELECT g, 0 FROM generate_series(1, 60) g")
    p = props(cluster, t, **{"snapshot.mode": "initial", "snapshot.fetch.size": "10", "max.batch.size": "10"})
    offsets, state = Offsets(), {}
    ticks, reads = 0, 0
    while True:
        records = run_tick(PostgresTask, p, offsets, max_polls=2)
        ticks += 1
        reads += sum(1 for r in records if r.value is not None and r.value.get("op") == "r")
        fold(records, state)
        if ticks <= 6:  # concurrent writes while the snapshot runs
            n = ticks * 7
            cluster.execute(f"UPDATE {t} SET v = v + 1 WHERE id IN ({n}, {n + 20}, {n + 40})",
                            f"DELETE FROM {t} WHERE id = {n + 1}", f"INSERT INTO {t} VALUES ({100 + ticks}, {ticks})")
        if not records and ticks > 6:
            break
        assert ticks < 40
    snapshot_state = next(iter(offsets.committed.values()))
    assert "snapshot" not in snapshot_state  # finished
    assert ticks >= 5 and reads >= 50
    rows = dict(cluster_rows(cluster, t))
    assert state == {k: {"id": k, "v": v} for k, v in rows.items()}


def cluster_rows(cluster: ThrowawayPostgres, table: str) -> list[tuple[int, int]]:
    import psycopg

    with psycopg.connect(host="127.0.0.1", port=cluster.port, user="postgres", dbname="postgres") as conn:
        return [tuple(r) for r in conn.execute(f"SELECT id, v FROM {table} ORDER BY id").fetchall()]
