"""The Iceberg sink's tables read by a second engine: DuckDB's Iceberg reader (issue 13).

pyiceberg writes the tables and pyiceberg reads them back in the other tests; a reader that
shares no code with the writer catches what a round trip through one library cannot
(metadata, manifests or partition values that only pyiceberg accepts). DuckDB reads the
table's current metadata file, without the catalog, as a query engine pointed at the
warehouse would. Its extensions come from wheels (``duckdb-ext-iceberg``, ``duckdb-ext-avro``
in ``[dev]``), so nothing is downloaded at run time.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.iceberg import IcebergHarness, rec

pytest.importorskip("pyiceberg")


@pytest.fixture(scope="module")
def duck() -> Any:
    """A DuckDB connection with the Iceberg extension loaded from the installed wheels."""
    try:
        import duckdb
        import duckdb_ext  # type: ignore[import-not-found]
    except ImportError as e:
        if os.environ.get("CI") == "true":
            pytest.fail(f"DuckDB or its Iceberg extension is not installed ({e}); it is part of [dev]")
        pytest.skip(f"DuckDB's Iceberg reader is not installed ({e}): pip install -e '.[dev]'")
    extensions = Path(next(iter(duckdb_ext.__path__))) / "extensions"
    con = duckdb.connect(config={"extension_directory": str(extensions), "autoinstall_known_extensions": False})
    con.execute("LOAD iceberg")
    yield con
    con.close()


@pytest.fixture
def h(tmp_path: Path, unique_name: str) -> IcebergHarness:
    return IcebergHarness(unique_name, {"type": "sql", "uri": f"sqlite:///{tmp_path}/catalog.db",
                                        "warehouse": f"file://{tmp_path}/wh"})


def read(duck: Any, h: IcebergHarness, table: str) -> list[dict[str, Any]]:
    location = h.table(table).metadata_location
    cursor = duck.execute("SELECT * FROM iceberg_scan(?) ORDER BY id", [location])
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def test_duckdb_reads_an_evolved_partitioned_table_as_pyiceberg_does(duck: Any, h: IcebergHarness) -> None:
    table = f"{h.name}.orders"
    task = h.task(iceberg__tables=table, iceberg__tables__evolve_schema_enabled="true",
                  iceberg__tables__default_partition_by="bucket(id, 4)")
    h.deliver(task, [rec("orders", i, {"id": i, "item": f"sku-{i}", "qty": i % 3}) for i in range(40)])
    h.deliver(task, [rec("orders", i, {"id": i, "item": f"sku-{i}", "qty": i % 3, "note": "late"})
                     for i in range(40, 60)])  # an added field: the table evolves
    h.deliver(task, [rec("orders", i, {"id": i, "item": "again", "qty": 0}) for i in range(30, 50)])  # overlap
    rows = read(duck, h, table)
    assert rows == h.rows(table)
    assert [r["id"] for r in rows] == list(range(60))
    assert {r["note"] for r in rows[:40]} == {None} and {r["note"] for r in rows[40:]} == {"late"}
    assert len(list(h.table(table).scan().plan_files())) > 1  # several partitions, several files


def test_duckdb_sees_upserts_and_deletes(duck: Any, h: IcebergHarness) -> None:
    table = f"{h.name}.users"
    task = h.task(iceberg__tables=table, iceberg__tables__upsert_mode_enabled="true",
                  iceberg__tables__default_id_columns="id")
    h.deliver(task, [rec("users", i, {"id": i, "name": f"user-{i}"}) for i in range(5)])
    h.deliver(task, [rec("users", 5, {"id": 2, "name": "renamed"}), rec("users", 6, None, key={"id": 3}),
                     rec("users", 7, {"id": 9, "name": "new"})])
    assert read(duck, h, table) == [{"id": 0, "name": "user-0"}, {"id": 1, "name": "user-1"},
                                    {"id": 2, "name": "renamed"}, {"id": 4, "name": "user-4"},
                                    {"id": 9, "name": "new"}]


def test_duckdb_sees_deferred_files_only_once_committed(duck: Any, h: IcebergHarness) -> None:
    table = f"{h.name}.events"
    now = [1_000_000.0]
    task = h.task(iceberg__tables=table, iceberg__control__commit__interval_ms="60000", clock=lambda: now[0])
    h.deliver(task, [rec("events", 0, {"id": 0})])
    now[0] += 61
    h.deliver(task, [rec("events", 1, {"id": 1})])  # commits 0 and 1
    h.deliver(task, [rec("events", 2, {"id": 2})])  # pending: written, not in any snapshot yet
    assert [r["id"] for r in read(duck, h, table)] == [0, 1]
    now[0] += 61
    task.idle()
    assert [r["id"] for r in read(duck, h, table)] == [0, 1, 2]
