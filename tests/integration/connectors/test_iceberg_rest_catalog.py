"""The Iceberg sink on a REST catalog (``iceberg.catalog.type=rest``: S3 Tables, Glue's Iceberg
endpoint, Polaris...), against the test catalog of ``tests.fixtures.iceberg_rest``: pyiceberg's
REST client end to end, commit conflicts answered 409 as a REST server answers them."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.iceberg import IcebergHarness, rec
from tests.fixtures.iceberg_rest import RestCatalogServer, rest_catalog

pytest.importorskip("pyiceberg")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RestCatalogServer]:
    with rest_catalog(tmp_path) as running:
        yield running


@pytest.fixture
def h(server: RestCatalogServer, unique_name: str) -> IcebergHarness:
    return IcebergHarness(unique_name, {"type": "rest", "uri": server.uri})


def orders(start: int, end: int, *, partition: int = 0) -> list[Any]:
    return [rec("orders", i, {"id": i + 1000 * partition, "qty": i}, partition=partition) for i in range(start, end)]


def ids(h: IcebergHarness, table: str) -> list[int]:
    return sorted(r["id"] for r in h.table(table).scan().to_arrow().to_pylist())


def test_create_append_redeliver_and_evolve_through_rest(h: IcebergHarness, server: RestCatalogServer) -> None:
    table = f"{h.name}.orders"
    task = h.task(iceberg__tables=table, iceberg__tables__evolve_schema_enabled="true",
                  iceberg__tables__default_partition_by="bucket(id, 2)")
    h.deliver(task, orders(0, 5))
    h.deliver(task, orders(3, 8))  # overlaps 3 and 4
    h.deliver(task, [rec("orders", 8, {"id": 8, "qty": 8, "note": "new"})])  # an added field
    assert ids(h, table) == list(range(9))
    assert task.skipped_duplicates == 2
    assert [f.name for f in h.table(table).schema().fields] == ["id", "qty", "note"]
    summary = h.table(table).current_snapshot().summary
    assert summary[f"kafka.connect.offsets.{h.name}"] == '{"orders":{"0":9}}'
    assert server.catalog.commits >= 4  # three appends and a schema update went through the server


def test_concurrent_invocations_meet_409_and_both_land(h: IcebergHarness, server: RestCatalogServer) -> None:
    table = f"{h.name}.orders"
    h.deliver(h.task(iceberg__tables=table), orders(0, 1))
    tasks = [h.task(iceberg__tables=table) for _ in range(4)]
    start = threading.Barrier(len(tasks))
    errors: list[BaseException] = []

    def run(partition: int) -> None:
        try:
            start.wait()
            for n in range(3):
                h.deliver(tasks[partition], orders(1 + 10 * n, 11 + 10 * n, partition=partition))
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(p,)) for p in range(len(tasks))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    got = ids(h, table)
    expected = sorted([0] + [i + 1000 * p for p in range(4) for i in range(1, 31)])
    assert got == expected, "every invocation's files landed once"
    assert server.catalog.conflicts > 0, "the race was real: the server refused some commits with 409"


def test_upsert_and_deferred_commits_through_rest(h: IcebergHarness) -> None:
    users = f"{h.name}.users"
    task = h.task(iceberg__tables=users, iceberg__tables__upsert_mode_enabled="true",
                  iceberg__tables__default_id_columns="id")
    h.deliver(task, [rec("u", i, {"id": i, "name": f"n{i}"}) for i in range(3)])
    h.deliver(task, [rec("u", 3, {"id": 1, "name": "renamed"}), rec("u", 4, None, key={"id": 2})])
    assert [(r["id"], r["name"]) for r in h.rows(users)] == [(0, "n0"), (1, "renamed")]

    events = f"{h.name}.events"
    now = [1_000_000.0]
    deferred = h.task(iceberg__tables=events, iceberg__control__commit__interval_ms="60000", clock=lambda: now[0])
    h.deliver(deferred, [rec("e", 0, {"id": 0})])
    h.deliver(deferred, [rec("e", 1, {"id": 1})])
    assert h.snapshots(events) == [] and len(h.pending()) == 2
    now[0] += 61
    deferred.idle()
    assert ids(h, events) == [0, 1] and len(h.snapshots(events)) == 1 and h.pending() == {}


def test_sigv4_signs_every_catalog_request(server: RestCatalogServer, unique_name: str,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """S3 Tables and Glue's Iceberg endpoint take SigV4: with ``rest.sigv4-enabled`` every call the
    sink makes carries a signature, from the function's credentials (here: the environment's)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    h = IcebergHarness(unique_name, {"type": "rest", "uri": server.uri, "rest.sigv4-enabled": "true",
                                     "rest.signing-name": "s3tables", "rest.signing-region": "eu-west-1"})
    table = f"{unique_name}.orders"
    h.deliver(h.task(iceberg__tables=table), orders(0, 3))
    assert ids(h, table) == [0, 1, 2]
    signed = server.catalog.authorizations
    assert signed and all(a is not None and a.startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/") for a in signed)
    assert all("/eu-west-1/s3tables/aws4_request" in a for a in signed if a)
