"""The database-free parts of ``cdc/snapshots.py``: start tokens, blocking signals, row markers, and
the chunk planning of a blocking snapshot (against an in-memory table)."""

from __future__ import annotations

import json
import logging

from lambda_connect.api import Schema, Struct, Type
from lambda_connect.plugins.connectors.cdc.common import ChangeEmitter, apply_signal, snapshot_from_offset
from lambda_connect.plugins.connectors.cdc.postgres.connector import PostgresConnector
from lambda_connect.plugins.connectors.cdc.snapshots import (
    GENERATION_FIELD,
    GENERATION_KEY,
    Blocking,
    SnapshotPlans,
    blocking_signal,
    snapshot_marker,
    task_generation,
    with_generation,
)

BASE = {"database.hostname": "h", "database.user": "u", "database.dbname": "d", "topic.prefix": "p"}


def test_only_snapshot_mode_always_puts_a_new_start_token_into_each_task_config():
    assert GENERATION_KEY not in with_generation({**BASE, "snapshot.mode": "initial"})
    a, b = with_generation({**BASE, "snapshot.mode": " Always "}), with_generation({**BASE, "snapshot.mode": "always"})
    assert a[GENERATION_KEY] != b[GENERATION_KEY] and task_generation(a) == a[GENERATION_KEY]
    connector = PostgresConnector()
    connector.start({**BASE, "snapshot.mode": "always"})
    (config,) = connector.task_configs(3)
    assert config[GENERATION_KEY] and {k: v for k, v in config.items() if k != GENERATION_KEY} == {
        **BASE, "snapshot.mode": "always"}


def test_a_task_config_without_a_token_stands_for_its_own_start():
    props = {**BASE, "snapshot.mode": "always"}
    assert task_generation(props) == task_generation(dict(props))
    assert task_generation(props) != task_generation({**props, "max.batch.size": "5"})


def test_blocking_signals_name_their_captured_tables(caplog):
    def known(t: str) -> bool:
        return t.startswith("public.")

    data = json.dumps({"data-collections": ["public.a", "other.b", "public.a", "public.c"], "type": "BLOCKING"})
    with caplog.at_level(logging.WARNING):
        assert blocking_signal("s1", "execute-snapshot", data, known) == ["public.a", "public.c"]
    assert "other.b" in caplog.text
    assert blocking_signal("s2", "execute-snapshot", json.dumps({"data-collections": ["x.y"], "type": "blocking"}),
                           known) == []
    incremental = json.dumps({"data-collections": ["public.a"]})
    assert blocking_signal("s3", "execute-snapshot", incremental, known) is None
    assert blocking_signal("s4", "stop-snapshot", data, known) is None
    assert blocking_signal("s5", "execute-snapshot", "not json", known) is None
    # the incremental plan leaves blocking signals to the connector
    assert apply_signal(None, "s6", "execute-snapshot", data, known) is None


def test_markers_follow_debeziums_order_of_precedence():
    assert snapshot_marker(True, True, True, True) == "last"  # a one-row snapshot
    assert snapshot_marker(True, False, True, False) == "first"
    assert snapshot_marker(False, True, False, True) == "last"
    assert snapshot_marker(True, False, False, True) == "last_in_data_collection"
    assert snapshot_marker(False, False, True, False) == "first_in_data_collection"
    assert snapshot_marker(False, False, False, False) == "true"


def test_a_blocking_plan_round_trips_through_an_offset_without_the_stream_fields_changing():
    position = {"lsn_commit": 10, "lsn_proc": 12, "lsn_events_processed": 2, "lsn": 12, "txId": 7, "ts_usec": 1}
    state = Blocking(["public.a", "public.b"], [5, "x"], 3, position)
    offset = dict(position, snapshot=True, snapshot_tables="public.z", snapshot_after=None, ts_heartbeat=4)
    offset[GENERATION_FIELD] = "g"
    state.fields(offset)
    back = Blocking.from_offset(offset)
    assert back == state
    assert snapshot_from_offset(offset) == {"tables": ["public.z"], "after": None, "incremental": False}
    assert Blocking.from_offset(position) is None


class _Table(SnapshotPlans):
    """A blocking snapshot over in-memory tables: ``_blocking_rows`` reads sorted rows."""

    def __init__(self, tables: dict[str, list[int]], size: int) -> None:
        self._cfg = {"snapshot.fetch.size": size, "incremental.snapshot.chunk.size": None,
                     "topic.heartbeat.prefix": "__hb"}
        self._partition, self._prefix, self._snapshot = {"server": "p"}, "p", None
        self._emitter = ChangeEmitter(self._partition, True, frozenset())
        self.tables = tables
        self.reads: list[tuple[str, int | None, int]] = []

    def _captured_tables(self) -> list[str]:
        return list(self.tables)

    def _blocking_rows(self, table, after, limit):
        from lambda_connect.plugins.connectors.cdc.common import build_shape, source_schema

        self.reads.append((table, after[0] if after else None, limit))
        shape = build_shape("p", "s", table, [("id", Schema(Type.INT32), None)], ["id"], lambda c: True,
                            source_schema("postgresql"))
        rows = [[i] for i in self.tables[table] if after is None or i > after[0]][:limit]
        return shape, rows, lambda raw: [raw[0]]

    def _blocking_source(self, shape, marker):
        return Struct.from_values(Schema.struct([("snapshot", Schema(Type.STRING))]), [marker])


def run_blocking(plans: _Table, tables: list[str]) -> list:
    plans._blocking_begin(tables, {"lsn_commit": 1, "lsn": 1}, "sig")
    out = []
    while (records := plans._blocking_step()) is not None:
        out.append(records)
    return out


def test_a_blocking_plan_reads_chunks_in_key_order_and_marks_rows_as_debezium_does():
    plans = _Table({"a": [1, 2, 3, 4, 5], "empty": [], "b": [7, 8]}, size=2)
    steps = run_blocking(plans, ["a", "empty", "b"])
    rows = [r for step in steps for r in step]
    assert [r.key.get("id") for r in rows] == [1, 2, 3, 4, 5, 7, 8]
    assert [r.value.get("source").get("snapshot") for r in rows] == [
        "first", "true", "true", "true", "last_in_data_collection", "first_in_data_collection", "last"]
    assert [len(s) for s in steps] == [2, 2, 1, 2]  # one chunk per step; lookahead of one row per read
    assert plans.reads[:3] == [("a", None, 3), ("a", 2, 3), ("a", 4, 3)]
    # each row's offset: the signal's position, and what is left after that row
    assert rows[1].source_offset["snapshot_blocking_after"] == "[2]"
    assert rows[4].source_offset["snapshot_blocking_tables"] == "empty,b"
    assert "snapshot_blocking_tables" not in rows[-1].source_offset and rows[-1].source_offset["lsn"] == 1
    assert plans._blocking is None


def test_a_blocking_plan_resumed_from_an_offset_continues_after_the_stored_key():
    plans = _Table({"a": [1, 2, 3, 4, 5]}, size=2)
    plans._blocking_begin(["a"], {"lsn": 1}, "sig")
    stored = plans._blocking_step()[0].source_offset  # acknowledged up to key 1 only
    plans3 = _Table({"a": [1, 2, 3, 4, 5]}, size=2)
    assert plans3._plan_start({}, "no_data", stored, None, plans3._captured_tables) is None
    assert plans3._paused
    rest = [r.key.get("id") for step in iter(plans3._blocking_step, None) for r in step]
    assert rest == [2, 3, 4, 5]


def test_a_blocking_plan_of_empty_tables_ends_with_a_heartbeat_holding_the_position():
    plans = _Table({"a": []}, size=2)
    (step,) = run_blocking(plans, ["a"])
    (record,) = step
    assert record.topic == "__hb.p" and record.source_offset == {"lsn_commit": 1, "lsn": 1}


def test_always_plans_a_full_copy_once_per_start_token():
    plans = _Table({"a": [1], "b": [2]}, size=2)
    props = {GENERATION_KEY: "g2"}
    stored = {"lsn": 5, GENERATION_FIELD: "g1", "snapshot_blocking_tables": "a"}
    assert plans._plan_start(props, "always", stored, None, plans._captured_tables) == {
        "tables": ["a", "b"], "after": None}
    assert plans._blocking is None and not plans._paused  # the full copy replaces a blocking one
    offset: dict = {}
    plans._plan_fields(offset)
    assert offset == {GENERATION_FIELD: "g2"}
    same = {"lsn": 5, GENERATION_FIELD: "g2"}
    assert plans._plan_start(props, "always", same, None, plans._captured_tables) is None
    assert plans._plan_start(props, "initial", stored, None, plans._captured_tables) is None and plans._paused
