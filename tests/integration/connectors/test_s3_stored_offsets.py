"""Issue 15: the S3 sink's create-time read of the marks an earlier connector of the same name left."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from lambda_connect.plugins.connectors.s3 import sink as s3_sink
from lambda_connect.plugins.connectors.s3.sink import S3SinkConnector
from moto import mock_aws

BUCKET = "marks-bucket"
PROPS = {"name": "orders-s3", "s3.bucket.name": BUCKET, "s3.region": "us-east-1", "topics": "orders",
         "format.class": "io.confluent.connect.s3.format.json.JsonFormat", "flush.size": "3"}


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        s3_sink._clients.clear()  # clients made under another mock must not leak in
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client
        s3_sink._clients.clear()


def test_marks_with_an_offset_are_found_and_a_reset_clears_them(s3: Any) -> None:
    connector = S3SinkConnector()
    assert connector.stored_offsets(PROPS) is None  # nothing written under this name yet
    connector.alter_offsets(PROPS, {("orders", 0): 42, ("orders", 1): 7, ("orders", 2): None})
    where, marks = connector.stored_offsets(PROPS) or ("", {})
    assert where == f"s3://{BUCKET}/topics/_lambda_connect/offsets/orders-s3/"
    assert marks == {("orders", 0): 41, ("orders", 1): 6}  # the highest offset written; a forgotten one is not
    assert connector.stored_offsets({**PROPS, "name": "someone-else"}) is None
    connector.reset_offsets(PROPS, [])
    assert connector.stored_offsets(PROPS) is None
