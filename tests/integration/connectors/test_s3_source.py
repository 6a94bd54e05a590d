"""S3 source against moto S3: key order, JSON lines, resume mid-object, new objects, gzip."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import boto3
import pytest
from lambda_connect.api import ConfigException, OffsetStorageReader, SourceRecord, SourceTaskContext
from lambda_connect.plugins.connectors.s3.source import S3SourceConnector, S3SourceTask
from moto import mock_aws

REGION = "eu-west-1"


class MemoryOffsets(OffsetStorageReader):
    def __init__(self) -> None:
        self.committed: dict[str, dict[str, Any]] = {}

    @staticmethod
    def key(partition: Mapping[str, Any]) -> str:
        return json.dumps(partition, sort_keys=True)

    def offsets(self, partitions: Sequence[Mapping[str, Any]]) -> dict[Any, dict[str, Any] | None]:
        return {self.key(p): self.committed.get(self.key(p)) for p in partitions}

    def commit(self, records: Sequence[SourceRecord]) -> None:
        for r in records:
            self.committed[self.key(r.source_partition or {})] = dict(r.source_offset or {})


@pytest.fixture
def s3(unique_name: str) -> Iterator[tuple[Any, str]]:
    with mock_aws():
        client = boto3.client("s3", region_name=REGION)
        client.create_bucket(Bucket=unique_name, CreateBucketConfiguration={"LocationConstraint": REGION})
        yield client, unique_name


def props(bucket: str, **extra: str) -> dict[str, str]:
    return {"s3.bucket.name": bucket, "s3.region": REGION, "topics.dir": "in", "topic": "lines", **extra}


def start(config: Mapping[str, str], offsets: MemoryOffsets) -> S3SourceTask:
    task = S3SourceTask()
    task.initialize(SourceTaskContext("s3-source", 0, config, offsets))
    task.start(config)
    return task


def drain(task: S3SourceTask, offsets: MemoryOffsets) -> list[SourceRecord]:
    out: list[SourceRecord] = []
    for _ in range(1000):
        batch = task.poll()
        if not batch:
            break
        offsets.commit(batch)
        out.extend(batch)
    return out


def put_lines(client: Any, bucket: str, key: str, values: Sequence[Any]) -> None:
    client.put_object(Bucket=bucket, Key=key, Body="".join(json.dumps(v) + "\n" for v in values).encode())


def test_reads_objects_in_key_order_as_schemaless_values(s3: tuple[Any, str]) -> None:
    client, bucket = s3
    put_lines(client, bucket, "in/b.json", [{"n": 3}, {"n": 4}])
    put_lines(client, bucket, "in/a.json", [{"n": 1}, {"n": 2}])
    put_lines(client, bucket, "other/x.json", [{"n": 99}])
    client.put_object(Bucket=bucket, Key="in/c.txt", Body=b"plain text\n\n[1, 2]\n")
    client.put_object(Bucket=bucket, Key="in/_lambda_connect/offsets/x.json", Body=b'{"internal": true}\n')
    offsets = MemoryOffsets()
    task = start(props(bucket), offsets)
    records = drain(task, offsets)
    task.stop()
    assert [r.value for r in records] == [{"n": 1}, {"n": 2}, {"n": 3}, {"n": 4}, "plain text", [1, 2]]
    first = records[0]
    assert first.topic == "lines" and first.key is None and first.value_schema is None
    assert first.source_partition == {"bucket": bucket, "prefix": "in/"}
    assert [r.source_offset for r in records[:2]] == [{"key": "in/a.json", "line": 1}, {"key": "in/a.json", "line": 2}]
    assert records[-1].source_offset == {"key": "in/c.txt", "line": 3}  # the blank line counts as read


def test_resumes_mid_object_and_picks_up_new_objects(s3: tuple[Any, str]) -> None:
    client, bucket = s3
    put_lines(client, bucket, "in/2024/01.json", [{"i": i} for i in range(5)])
    put_lines(client, bucket, "in/2024/02.json", [{"i": i} for i in range(5, 8)])
    offsets = MemoryOffsets()
    config = props(bucket, **{"batch.size": "3"})
    task = start(config, offsets)
    first = task.poll() or []
    offsets.commit(first)
    task.stop()  # the invocation ends three lines into the first object
    assert [r.value["i"] for r in first] == [0, 1, 2]
    task = start(config, offsets)
    rest = drain(task, offsets)
    task.stop()
    assert [r.value["i"] for r in rest] == [3, 4, 5, 6, 7]
    put_lines(client, bucket, "in/2024/03.json", [{"i": 8}])
    task = start(config, offsets)
    assert [r.value["i"] for r in drain(task, offsets)] == [8]
    assert drain(task, offsets) == []
    task.stop()
    task = start(config, offsets)
    assert task.poll() is None  # everything delivered: nothing is read twice
    task.stop()


def test_reads_gzip_objects_and_many_listing_pages(s3: tuple[Any, str]) -> None:
    client, bucket = s3
    data = "".join(json.dumps({"z": i}) + "\n" for i in range(3)).encode()
    client.put_object(Bucket=bucket, Key="in/0000.json.gz", Body=gzip.compress(data))
    for i in range(1, 1006):  # more keys than one ListObjectsV2 page
        client.put_object(Bucket=bucket, Key=f"in/{i:04d}.json", Body=json.dumps({"k": i}).encode())
    offsets = MemoryOffsets()
    task = start(props(bucket, **{"batch.size": "500"}), offsets)
    records = drain(task, offsets)
    task.stop()
    assert [r.value for r in records[:3]] == [{"z": 0}, {"z": 1}, {"z": 2}]
    assert [r.value["k"] for r in records[3:]] == list(range(1, 1006))


def test_single_task_and_config_errors(s3: tuple[Any, str]) -> None:
    _, bucket = s3
    connector = S3SourceConnector()
    connector.start(props(bucket))
    assert connector.task_configs(4) == [props(bucket)]
    with pytest.raises(ConfigException) as info:
        S3SourceConnector().start({"s3.bucket.name": "", "batch.size": "0"})
    assert {"s3.bucket.name", "topic", "batch.size"} <= set(info.value.errors)
