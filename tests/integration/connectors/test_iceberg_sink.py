"""Iceberg sink against real SQL catalogs (SQLite, PostgreSQL) and a local warehouse, read back with pyiceberg."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lambda_connect.api import ConfigException, ConnectException, DataException, Schema, Struct, Type
from lambda_connect.api.data import Timestamp
from lambda_connect.plugins.connectors.iceberg import writer
from lambda_connect.plugins.connectors.iceberg.sink import IcebergSinkConnector

from tests.fixtures.iceberg import IcebergHarness, rec

pytest.importorskip("pyiceberg")


@pytest.fixture(params=["sqlite", "postgres"])
def h(request: pytest.FixtureRequest, tmp_path: Path, unique_name: str) -> Iterator[IcebergHarness]:
    if request.param == "sqlite":
        uri = f"sqlite:///{tmp_path}/catalog.db"
    else:
        uri = request.getfixturevalue("postgres_url")
    harness = IcebergHarness(unique_name, {"type": "sql", "uri": uri, "warehouse": f"file://{tmp_path}/wh"})
    harness.ns = unique_name  # type: ignore[attr-defined]
    yield harness
    if request.param == "postgres":
        cat = harness.catalog()
        for ident in cat.list_tables(unique_name) if unique_name in [n[0] for n in cat.list_namespaces()] else []:
            cat.drop_table(ident)
        if unique_name in [n[0] for n in cat.list_namespaces()]:
            cat.drop_namespace(unique_name)


@pytest.fixture
def sqlite_h(tmp_path: Path, unique_name: str) -> IcebergHarness:
    harness = IcebergHarness(unique_name, {"type": "sql", "uri": f"sqlite:///{tmp_path}/catalog.db",
                                           "warehouse": f"file://{tmp_path}/wh"})
    harness.ns = unique_name  # type: ignore[attr-defined]
    return harness


def orders(start: int, end: int, *, partition: int = 0, topic: str = "orders") -> list[Any]:
    return [rec(topic, i, {"id": i + 1000 * partition, "item": f"sku-{i}", "qty": i}, partition=partition)
            for i in range(start, end)]


def marks_of(h: IcebergHarness, table: str) -> dict[str, Any]:
    summary = h.table(table).current_snapshot().summary
    return json.loads(summary[f"kafka.connect.offsets.{h.name}"])


# --- create, append, exactly once ----------------------------------------------------------------

def test_auto_create_append_and_offsets_in_the_snapshot(h: IcebergHarness) -> None:
    table = f"{h.ns}.orders"
    task = h.task(iceberg__tables=table)
    h.deliver(task, orders(0, 5))
    assert [r["id"] for r in h.rows(table)] == [0, 1, 2, 3, 4]
    assert marks_of(h, table) == {"orders": {"0": 5}}
    schema = h.table(table).schema()
    assert [f.name for f in schema.fields] == ["id", "item", "qty"]
    assert str(schema.find_field("id").field_type) == "long"


def test_redelivery_and_overlap_leave_one_copy(h: IcebergHarness) -> None:
    table = f"{h.ns}.orders"
    task = h.task(iceberg__tables=table)
    h.deliver(task, orders(0, 5))
    h.deliver(task, orders(0, 5))          # the same batch again
    h.deliver(task, orders(3, 8))          # overlapping: 3 and 4 are old
    assert [r["id"] for r in h.rows(table)] == list(range(8))
    assert len(h.snapshots(table)) == 2     # the pure redelivery committed nothing
    assert task.skipped_duplicates == 7
    # A new task (cold container) with nothing in the state table filters by the table alone.
    fresh = IcebergHarness(h.name, h.catalog_props).task(iceberg__tables=table)
    h.deliver(fresh, orders(0, 8))
    assert len(h.rows(table)) == 8


def test_crash_between_writing_files_and_committing(sqlite_h: IcebergHarness,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    h = sqlite_h
    table = f"{h.ns}.orders"
    task = h.task(iceberg__tables=table)
    h.deliver(task, orders(0, 3))

    def die(self: Any, files: Any, extra: Any = ()) -> None:
        raise RuntimeError("invocation died after writing its files")

    with monkeypatch.context() as m:
        m.setattr(writer.TableBatch, "_commit_append", die)
        with pytest.raises(ConnectException):
            h.deliver(task, orders(3, 6))
    assert len(h.rows(table)) == 3 and len(h.snapshots(table)) == 1
    h.deliver(task, orders(3, 6))  # the redelivery
    assert [r["id"] for r in h.rows(table)] == list(range(6))


def test_concurrent_invocations_on_two_partitions_both_land(h: IcebergHarness) -> None:
    table = f"{h.ns}.orders"
    h.deliver(h.task(iceberg__tables=table), orders(0, 1))  # create the table first
    tasks = [h.task(iceberg__tables=table) for _ in range(2)]
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def run(p: int) -> None:
        try:
            start.wait()
            for n in range(3):
                h.deliver(tasks[p], orders(1 + n * 10, 1 + (n + 1) * 10, partition=p + 1))
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(p,)) for p in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors
    assert len(h.rows(table)) == 1 + 2 * 30
    assert marks_of(h, table) == {"orders": {"0": 1, "1": 31, "2": 31}}


def test_zombie_racing_on_the_same_partition_adds_nothing_twice(sqlite_h: IcebergHarness) -> None:
    h = sqlite_h
    table = f"{h.ns}.orders"
    first, zombie = h.task(iceberg__tables=table), h.task(iceberg__tables=table)
    h.deliver(first, orders(0, 2))
    # Both prepare the same batch against the same snapshot; one commits, the other must notice.
    batches = []
    for task in (first, zombie):
        batch = writer.TableBatch(task.shared, table, orders(2, 6))
        batch.prepare()
        batches.append(batch)
    batches[0].commit()
    batches[1].commit()
    assert [r["id"] for r in h.rows(table)] == list(range(6))
    assert len(h.snapshots(table)) == 2


# --- schema -------------------------------------------------------------------------------------

def test_schema_evolution_adds_fields_and_widens_types(h: IcebergHarness) -> None:
    table = f"{h.ns}.people"
    v1 = Schema.struct([("id", Schema(Type.INT32)), ("name", Schema(Type.STRING))])
    v2 = Schema.struct([("id", Schema(Type.INT64)), ("name", Schema(Type.STRING)),
                        ("email", Schema(Type.STRING, optional=True))])
    task = h.task(iceberg__tables=table, iceberg__tables__evolve_schema_enabled="true")
    task2 = h.task(iceberg__tables=table)  # evolution off: unknown fields are left out
    h.deliver(task, [rec("people", 0, Struct(v1, {"id": 1, "name": "ann"}), schema=v1)])
    assert str(h.table(table).schema().find_field("id").field_type) == "int"
    h.deliver(task, [rec("people", 1, Struct(v2, {"id": 2**40, "name": "bob", "email": "b@x"}), schema=v2)])
    schema = h.table(table).schema()
    assert str(schema.find_field("id").field_type) == "long"
    assert schema.find_field("email").optional
    h.deliver(task2, [rec("people", 2, {"id": 3, "name": "cy", "email": "c@x", "extra": True})])
    rows = h.rows(table)
    assert [(r["id"], r["name"], r["email"]) for r in rows] == [(1, "ann", None), (3, "cy", "c@x"),
                                                                 (2**40, "bob", "b@x")]
    assert "extra" not in [f.name for f in h.table(table).schema().fields]


def test_timestamps_decimals_nested_values_round_trip(sqlite_h: IcebergHarness) -> None:
    h = sqlite_h
    table = f"{h.ns}.events"
    schema = Schema.struct([
        ("id", Schema(Type.INT64)), ("at", Timestamp.schema()),
        ("tags", Schema.array(Schema(Type.STRING), optional=True)),
        ("geo", Schema.struct([("lat", Schema(Type.FLOAT64)), ("lon", Schema(Type.FLOAT64))], optional=True)),
    ])
    at = dt.datetime(2024, 3, 1, 12, 30, tzinfo=dt.UTC)
    value = Struct(schema, {"id": 1, "at": at, "tags": ["a", "b"],
                            "geo": Struct(schema.field("geo").schema, {"lat": 1.5, "lon": 2.5})})
    h.deliver(h.task(iceberg__tables=table), [rec("events", 0, value, schema=schema)])
    assert h.rows(table) == [{"id": 1, "at": at, "tags": ["a", "b"], "geo": {"lat": 1.5, "lon": 2.5}}]
    assert str(h.table(table).schema().find_field("at").field_type) == "timestamptz"


# --- partitioning ---------------------------------------------------------------------------------

def test_partitioned_table_from_partition_by(h: IcebergHarness) -> None:
    table = f"{h.ns}.clicks"
    schema = Schema.struct([("id", Schema(Type.INT64)), ("region", Schema(Type.STRING)), ("at", Timestamp.schema())])
    days = [dt.datetime(2024, 1, d, 8, tzinfo=dt.UTC) for d in (1, 1, 2)]
    records = [rec("clicks", i, Struct(schema, {"id": i, "region": r, "at": days[i]}), schema=schema)
               for i, r in enumerate(["eu", "us", "eu"])]
    h.deliver(h.task(iceberg__tables=table, **{f"iceberg.table.{table}.partition-by": "region, day(at)"}), records)
    tbl = h.table(table)
    assert [(f.name, str(f.transform)) for f in tbl.spec().fields] == [("region", "identity"), ("at_day", "day")]
    assert len(list(tbl.scan().plan_files())) == 3
    assert [r["id"] for r in tbl.scan(row_filter="region = 'eu'").to_arrow().to_pylist()] in ([0, 2], [2, 0])


# --- upsert and CDC ------------------------------------------------------------------------------

def test_upsert_replaces_by_id_and_tombstones_delete(h: IcebergHarness) -> None:
    table = f"{h.ns}.customers"
    task = h.task(iceberg__tables=table, iceberg__tables__upsert_mode_enabled="true",
                  iceberg__tables__default_id_columns="id")
    h.deliver(task, [rec("c", 0, {"id": 1, "name": "ann"}), rec("c", 1, {"id": 2, "name": "bob"}),
                     rec("c", 2, {"id": 1, "name": "ann2"})])
    assert [(r["id"], r["name"]) for r in h.rows(table)] == [(1, "ann2"), (2, "bob")]
    assert h.table(table).schema().identifier_field_names() == {"id"}
    h.deliver(task, [rec("c", 3, {"id": 2, "name": "bob2"}), rec("c", 4, None, key={"id": 1}),
                     rec("c", 5, {"id": 3, "name": "cy"})])
    assert [(r["id"], r["name"]) for r in h.rows(table)] == [(2, "bob2"), (3, "cy")]
    h.deliver(task, [rec("c", 3, {"id": 2, "name": "stale"})])  # redelivery: skipped
    assert [(r["id"], r["name"]) for r in h.rows(table)] == [(2, "bob2"), (3, "cy")]


def test_cdc_field_applies_inserts_updates_deletes(sqlite_h: IcebergHarness) -> None:
    h = sqlite_h
    table = f"{h.ns}.accounts"
    task = h.task(iceberg__tables=table, iceberg__tables__cdc_field="_op", iceberg__tables__default_id_columns="id")
    h.deliver(task, [rec("a", 0, {"id": 1, "bal": 10, "_op": "I"}), rec("a", 1, {"id": 2, "bal": 5, "_op": "I"})])
    h.deliver(task, [rec("a", 2, {"id": 1, "bal": 11, "_op": "U"}), rec("a", 3, {"id": 2, "bal": 5, "_op": "D"})])
    assert [(r["id"], r["bal"]) for r in h.rows(table)] == [(1, 11)]


# --- routing --------------------------------------------------------------------------------------

def test_static_routing_by_regex_and_fan_out(sqlite_h: IcebergHarness) -> None:
    h = sqlite_h
    eu, us = f"{h.ns}.eu", f"{h.ns}.us"
    task = h.task(iceberg__tables=f"{eu},{us}", iceberg__tables__route_field="meta.region",
                  **{f"iceberg.table.{eu}.route-regex": "eu-.*", f"iceberg.table.{us}.route-regex": "us-.*|any"})
    values = [{"id": 1, "meta": {"region": "eu-west"}}, {"id": 2, "meta": {"region": "us-east"}},
              {"id": 3, "meta": {"region": "ap-south"}}, {"id": 4, "meta": {"region": "eu-north"}}]
    h.deliver(task, [rec("t", i, v) for i, v in enumerate(values)])
    assert [r["id"] for r in h.rows(eu)] == [1, 4]
    assert [r["id"] for r in h.rows(us)] == [2]
    fan = h.task(iceberg__tables=f"{eu},{us}")
    h.deliver(fan, [rec("t", 10, {"id": 9, "meta": {"region": "x"}})])
    assert 9 in [r["id"] for r in h.rows(eu)] and 9 in [r["id"] for r in h.rows(us)]


def test_dynamic_routing_and_a_record_without_route_value(sqlite_h: IcebergHarness) -> None:
    h = sqlite_h
    task = h.task(reporter=True, iceberg__tables__dynamic_enabled="true", iceberg__tables__route_field="tbl")
    h.deliver(task, [rec("t", 0, {"id": 1, "tbl": f"{h.ns}.A"}), rec("t", 1, {"id": 2, "tbl": f"{h.ns}.b"}),
                     rec("t", 2, {"id": 3})])
    assert [r["id"] for r in h.rows(f"{h.ns}.a")] == [1]
    assert [r["id"] for r in h.rows(f"{h.ns}.b")] == [2]
    assert [(r.kafka_offset, str(e)) for r, e in h.reported] == [(2, "route field 'tbl' is missing or null")]


# --- bad records ------------------------------------------------------------------------------------

def test_bad_records_go_to_the_reporter_and_the_rest_is_written(sqlite_h: IcebergHarness) -> None:
    h = sqlite_h
    table = f"{h.ns}.orders"
    task = h.task(reporter=True, iceberg__tables=table)
    h.deliver(task, orders(0, 2))
    h.deliver(task, [rec("orders", 2, {"id": "not-a-number", "item": "x", "qty": 1}), *orders(3, 5),
                     rec("orders", 5, "just text")])
    assert [r["id"] for r in h.rows(table)] == [0, 1, 3, 4]
    assert sorted(r.kafka_offset for r, _ in h.reported) == [2, 5]
    assert all(isinstance(e, DataException) for _, e in h.reported)


def test_without_a_reporter_a_bad_record_fails_the_batch_and_writes_no_snapshot(sqlite_h: IcebergHarness) -> None:
    h = sqlite_h
    table = f"{h.ns}.orders"
    task = h.task(iceberg__tables=table)
    h.deliver(task, orders(0, 2))
    with pytest.raises(DataException, match=r"orders-0@3"):
        h.deliver(task, [*orders(2, 3), rec("orders", 3, {"id": 1.5, "item": "x", "qty": 1})])
    assert len(h.snapshots(table)) == 1 and len(h.rows(table)) == 2


# --- deferred commits ----------------------------------------------------------------------------------

class Clock:
    """Wall time that only moves when the test says so (snapshots carry the real time)."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def test_deferred_commits_gather_files_into_one_snapshot(h: IcebergHarness) -> None:
    table = f"{h.ns}.orders"
    clock = Clock()
    task = h.task(iceberg__tables=table, iceberg__control__commit__interval_ms="60000", clock=clock)
    h.deliver(task, orders(0, 3))
    assert h.snapshots(table) == [] and len(h.pending()) == 1
    clock.now += 10
    h.deliver(task, orders(3, 6))
    h.deliver(task, orders(3, 6))  # a redelivery of a pending batch adds nothing
    assert h.snapshots(table) == [] and len(h.pending()) == 2
    clock.now += 60
    h.deliver(task, orders(6, 8))   # the first invocation after the interval commits everything
    assert len(h.snapshots(table)) == 1 and h.pending() == {}
    assert [r["id"] for r in h.rows(table)] == list(range(8))
    assert marks_of(h, table) == {"orders": {"0": 8}}
    # Quiet topic: the rescan's idle() commits what is pending once the interval has passed.
    h.deliver(task, orders(8, 9))
    task.idle()
    assert len(h.snapshots(table)) == 1
    clock.now += 61
    task.idle()
    assert len(h.snapshots(table)) == 2 and [r["id"] for r in h.rows(table)][-1] == 8


def test_pending_files_committed_before_a_crash_are_not_committed_again(sqlite_h: IcebergHarness,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    h = sqlite_h
    table = f"{h.ns}.orders"
    clock = Clock()
    task = h.task(iceberg__tables=table, iceberg__control__commit__interval_ms="1000", clock=clock)
    h.deliver(task, orders(0, 4))
    clock.now += 5
    storage = task.shared.storage
    with monkeypatch.context() as m:  # the committer dies after its snapshot, before cleaning up
        m.setattr(type(storage), "delete", lambda self, keys: (_ for _ in ()).throw(RuntimeError("died")))
        with pytest.raises(ConnectException):
            task.idle()
    assert len(h.snapshots(table)) == 1 and len(h.pending()) == 1
    task.idle()
    assert len(h.snapshots(table)) == 1 and h.pending() == {}
    assert len(h.rows(table)) == 4


# --- config -----------------------------------------------------------------------------------------

def test_jdbc_catalog_spelling_and_validation(tmp_path: Path, unique_name: str) -> None:
    harness = IcebergHarness(unique_name, {"catalog-impl": "org.apache.iceberg.jdbc.JdbcCatalog",
                                           "uri": f"jdbc:sqlite:{tmp_path}/c.db", "warehouse": f"file://{tmp_path}"})
    task = harness.task(iceberg__tables=f"{unique_name}.t")
    harness.deliver(task, [rec("t", 0, {"id": 1})])
    assert task.shared.catalog.properties["uri"] == f"sqlite:///{tmp_path}/c.db"
    errors = IcebergSinkConnector.validate({"iceberg.tables.dynamic-enabled": "true", "iceberg.catalog.type": "sql",
                                            "iceberg.catalog.uri": "sqlite://"})
    assert list(errors) == ["iceberg.tables.route-field"]
    with pytest.raises(ConfigException, match=r"iceberg\.catalog\.type"):
        IcebergHarness(unique_name, {"uri": "x"}).task(iceberg__tables="a.b")


# --- the table's history as the proof --------------------------------------------------------------

def test_marks_are_found_past_snapshots_of_other_writers(sqlite_h: IcebergHarness) -> None:
    import pyarrow as pa

    h = sqlite_h
    table = f"{h.ns}.orders"
    task = h.task(iceberg__tables=table)
    h.deliver(task, orders(0, 4))
    other = h.table(table)  # e.g. a backfill job appending without any Kafka offsets
    other.append(pa.Table.from_pylist([{"id": 100, "item": "manual", "qty": 1}], schema=other.schema().as_arrow()))
    h.deliver(task, orders(0, 6))  # a redelivery overlapping the first batch
    assert sorted(r["id"] for r in h.rows(table)) == [0, 1, 2, 3, 4, 5, 100]


def test_altering_and_resetting_offsets_moves_the_tables_marks(sqlite_h: IcebergHarness) -> None:
    h = sqlite_h
    table = f"{h.ns}.orders"
    props = h.props(iceberg__tables=table)
    h.deliver(h.task(iceberg__tables=table), orders(0, 6))
    connector = IcebergSinkConnector()
    assert connector.alter_offsets(props, {("orders", 0): 4, ("orders", 7): 10}) is True
    assert marks_of(h, table) == {"orders": {"0": 4, "7": 10}}
    h.deliver(h.task(iceberg__tables=table), orders(4, 7))  # 4 and 5 again: written once more, as asked
    assert [r["id"] for r in h.rows(table)].count(4) == 2
    assert connector.reset_offsets(props, []) is True
    assert marks_of(h, table) == {}
    h.deliver(h.task(iceberg__tables=table), orders(0, 1))
    assert [r["id"] for r in h.rows(table)].count(0) == 2


def test_a_large_pending_file_list_goes_to_a_file_of_the_table(sqlite_h: IcebergHarness,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from lambda_connect.plugins.connectors.iceberg import pending

    monkeypatch.setattr(pending, "INLINE_LIMIT", 0)
    h = sqlite_h
    table = f"{h.ns}.orders"
    clock = Clock()
    task = h.task(iceberg__tables=table, iceberg__control__commit__interval_ms="1000", clock=clock,
                  iceberg__tables__default_partition_by="qty")
    h.deliver(task, orders(0, 5))  # five partition values: five files
    [item] = h.pending().values()
    assert "files" not in item and item["files_at"].endswith(".json")
    listing = Path(item["files_at"].removeprefix("file://"))
    assert listing.exists()
    clock.now += 2
    task.idle()
    assert [r["id"] for r in h.rows(table)] == list(range(5)) and h.pending() == {}
    assert len(list(h.table(table).scan().plan_files())) == 5
    assert not listing.exists()
