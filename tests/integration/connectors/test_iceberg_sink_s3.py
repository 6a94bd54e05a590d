"""Iceberg sink with its warehouse on S3 (moto's server: pyarrow's S3 filesystem needs an endpoint)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.iceberg import IcebergHarness, rec

pytest.importorskip("pyiceberg")


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test",
                 aws_secret_access_key="test").create_bucket(Bucket="lake")
    yield endpoint
    server.stop()


def test_warehouse_on_s3_with_deferred_commit(s3_endpoint: str, tmp_path: Path, unique_name: str) -> None:
    h = IcebergHarness(unique_name, {
        "type": "sql", "uri": f"sqlite:///{tmp_path}/catalog.db", "warehouse": f"s3://lake/{unique_name}",
        "s3.endpoint": s3_endpoint, "s3.access-key-id": "test", "s3.secret-access-key": "test",
        "s3.region": "us-east-1",
    })
    table = f"{h.name}.orders"
    task = h.task(iceberg__tables=table, iceberg__control__commit__interval_ms="3600000",
                  iceberg__tables__default_partition_by="region")
    h.deliver(task, [rec("o", i, {"id": i, "region": "eu" if i % 2 else "us"}) for i in range(6)])
    assert h.snapshots(table) == [] and len(h.pending()) == 1
    h.deliver(task, [rec("o", i, {"id": i, "region": "eu"}) for i in range(6, 8)])
    from lambda_connect.plugins.connectors.iceberg.writer import commit_pending

    assert commit_pending(task.shared, table, force=True) == 2
    tbl = h.table(table)
    assert tbl.location().startswith(f"s3://lake/{unique_name}")
    assert sorted(r["id"] for r in tbl.scan().to_arrow().to_pylist()) == list(range(8))
    assert all(t.file.file_path.startswith("s3://lake/") for t in tbl.scan().plan_files())
    assert len(h.snapshots(table)) == 1 and h.pending() == {}


def test_glue_catalog_with_the_warehouse_on_s3(s3_endpoint: str, unique_name: str) -> None:
    """``iceberg.catalog.type=glue``: tables in the Glue Data Catalog (moto), data on S3, exactly once."""
    h = IcebergHarness(unique_name, {
        "type": "glue", "glue.endpoint": s3_endpoint, "glue.region": "us-east-1",
        "glue.access-key-id": "test", "glue.secret-access-key": "test",
        "warehouse": f"s3://lake/{unique_name}", "s3.endpoint": s3_endpoint, "s3.access-key-id": "test",
        "s3.secret-access-key": "test", "s3.region": "us-east-1",
    })
    table = f"{h.name}.orders"
    task = h.task(iceberg__tables=table)
    h.deliver(task, [rec("o", i, {"id": i, "item": f"sku-{i}"}) for i in range(5)])
    h.deliver(task, [rec("o", i, {"id": i, "item": f"sku-{i}"}) for i in range(3, 9)])  # overlaps 3 and 4
    assert [r["id"] for r in h.rows(table)] == list(range(9))
    assert task.skipped_duplicates == 2
    tbl = h.table(table)
    assert tbl.location().startswith(f"s3://lake/{unique_name}")
    assert tbl.current_snapshot().summary[f"kafka.connect.offsets.{h.name}"] == '{"o":{"0":9}}'
    import boto3

    glue = boto3.client("glue", endpoint_url=s3_endpoint, region_name="us-east-1", aws_access_key_id="test",
                        aws_secret_access_key="test")
    entry = glue.get_table(DatabaseName=h.name, Name="orders")["Table"]
    assert entry["Parameters"]["table_type"].upper() == "ICEBERG"
