"""S3 sink against moto: object keys, formats, partitioners, gzip, and exactly one copy on redelivery."""

from __future__ import annotations

import datetime as dt
import decimal
import gzip
import io
import json
from collections.abc import Iterator
from typing import Any

import boto3
import fastavro
import pytest
from lambda_connect.api import (
    ConfigException,
    ConnectException,
    Date,
    Decimal,
    Schema,
    SinkRecord,
    SinkTaskContext,
    Struct,
    Timestamp,
    Type,
)
from lambda_connect.plugins.connectors.s3 import sink as s3_sink
from lambda_connect.plugins.connectors.s3.partitioners import format_joda
from lambda_connect.plugins.connectors.s3.sink import S3SinkConnector, S3SinkTask
from moto import mock_aws

JSON = "io.confluent.connect.s3.format.json.JsonFormat"
AVRO = "io.confluent.connect.s3.format.avro.AvroFormat"
P = "io.confluent.connect.storage.partitioner."
BUCKET = "sink-bucket"


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        s3_sink._clients.clear()  # clients made under another mock must not leak in
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client
        s3_sink._clients.clear()


class Harness:
    def __init__(self, client: Any, name: str) -> None:
        self.client = client
        self.name = name
        self.reported: list[tuple[SinkRecord, BaseException]] = []

    def task(self, *, reporter: bool = False, **props: str) -> S3SinkTask:
        config = {"s3.bucket.name": BUCKET, "s3.region": "us-east-1", "format.class": JSON, "flush.size": "3",
                  **props}
        task = S3SinkTask()
        report = (lambda r, e: self.reported.append((r, e))) if reporter else None
        task.initialize(SinkTaskContext(self.name, 0, config, report))
        task.start(config)
        return task

    @staticmethod
    def deliver(task: S3SinkTask, records: list[SinkRecord]) -> None:
        task.put(records)
        task.flush({})

    def object_keys(self, prefix: str = "topics/") -> list[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
        found = (o["Key"] for page in pages for o in page.get("Contents", []))
        return sorted(k for k in found if "/_lambda_connect/" not in k)

    def body(self, key: str) -> bytes:
        return self.client.get_object(Bucket=BUCKET, Key=key)["Body"].read()

    def json_values(self) -> list[Any]:
        out: list[Any] = []
        for key in self.object_keys():
            raw = self.body(key)
            if key.endswith(".gz"):
                raw = gzip.decompress(raw)
            out.extend(json.loads(line) for line in raw.decode().splitlines())
        return out


@pytest.fixture
def h(s3: Any, unique_name: str) -> Harness:
    return Harness(s3, unique_name)


def rec(topic: str, offset: int, value: Any, *, partition: int = 0, schema: Schema | None = None,
        timestamp: int | None = 1_700_000_000_000) -> SinkRecord:
    return SinkRecord(topic, partition, None, None, schema, value, offset, timestamp=timestamp)


def test_default_partitioner_keys_are_confluent_style_and_split_at_flush_size(h: Harness) -> None:
    task = h.task()
    h.deliver(task, [rec("orders", i, {"n": i}) for i in range(7)] + [rec("orders", 40, {"n": 40}, partition=2)])
    assert h.object_keys() == [
        "topics/orders/partition=0/orders+0+0000000000.json",
        "topics/orders/partition=0/orders+0+0000000003.json",
        "topics/orders/partition=0/orders+0+0000000006.json",
        "topics/orders/partition=2/orders+2+0000000040.json",
    ]
    assert h.json_values() == [{"n": i} for i in range(7)] + [{"n": 40}]
    assert task.written == 8 and task.objects_written == 4


def test_topics_dir_and_delimiters_are_configurable(h: Harness) -> None:
    task = h.task(**{"topics.dir": "raw/kafka", "file.delim": "_"})
    h.deliver(task, [rec("t", 5, {"a": 1})])
    assert h.object_keys("raw/") == ["raw/kafka/t/partition=0/t_0_0000000005.json"]


def test_json_renders_logical_types_like_the_json_converter(h: Harness) -> None:
    schema = Schema.struct([("d", Date.schema()), ("ts", Timestamp.schema()), ("amount", Decimal.schema(2)),
                            ("raw", Schema(Type.BYTES))])
    value = Struct(schema, {"d": dt.date(1970, 1, 3), "ts": dt.datetime(1970, 1, 1, 0, 0, 1, tzinfo=dt.UTC),
                            "amount": decimal.Decimal("1.00"), "raw": b"\x01\x02"})
    h.deliver(h.task(), [rec("t", 0, value, schema=schema)])
    h.deliver(h.task(**{"json.decimal.format": "NUMERIC"}), [rec("t", 1, value, schema=schema)])
    first, second = h.json_values()
    assert first == {"d": 2, "ts": 1000, "amount": "ZA==", "raw": "AQI="}
    assert second["amount"] == 1


def test_gzip_compression_for_json(h: Harness) -> None:
    h.deliver(h.task(**{"s3.compression.type": "gzip"}), [rec("t", i, {"i": i}) for i in range(2)])
    [key] = h.object_keys()
    assert key.endswith("t+0+0000000000.json.gz")
    assert h.body(key)[:2] == b"\x1f\x8b"
    assert h.json_values() == [{"i": 0}, {"i": 1}]


def test_avro_objects_read_back_with_fastavro_and_rotate_on_schema_change(h: Harness) -> None:
    v1 = Schema.struct([("id", Schema(Type.INT32)), ("amount", Decimal.schema(2, optional=True)),
                        ("at", Timestamp.schema())], name="shop.Order")
    v2 = Schema.struct([("id", Schema(Type.INT32)), ("note", Schema(Type.STRING, optional=True))], name="shop.Order")
    at = dt.datetime(2024, 5, 1, 10, 0, tzinfo=dt.UTC)
    records = [rec("o", 0, Struct(v1, {"id": 1, "amount": decimal.Decimal("9.99"), "at": at}), schema=v1),
               rec("o", 1, Struct(v1, {"id": 2, "at": at}), schema=v1),
               rec("o", 2, Struct(v2, {"id": 3, "note": "n"}), schema=v2)]
    h.deliver(h.task(**{"format.class": AVRO, "flush.size": "10", "avro.codec": "deflate"}), records)
    keys = h.object_keys()
    assert keys == ["topics/o/partition=0/o+0+0000000000.avro", "topics/o/partition=0/o+0+0000000002.avro"]
    reader = fastavro.reader(io.BytesIO(h.body(keys[0])))
    assert reader.writer_schema["name"] == "shop.Order"
    rows = list(reader)
    assert rows[0] == {"id": 1, "amount": decimal.Decimal("9.99"), "at": at}
    assert rows[1]["amount"] is None
    assert list(fastavro.reader(io.BytesIO(h.body(keys[1])))) == [{"id": 3, "note": "n"}]


def test_avro_rejects_schemaless_records_naming_them(h: Harness) -> None:
    task = h.task(reporter=True, **{"format.class": AVRO})
    h.deliver(task, [rec("o", 0, {"x": 1})])
    [(_, error)] = h.reported
    assert "schemaless" in str(error) and "offset=0" in str(error)
    assert h.object_keys() == []


def test_field_partitioner_encodes_field_values(h: Harness) -> None:
    task = h.task(**{"partitioner.class": P + "FieldPartitioner", "partition.field.name": "country,vip"})
    h.deliver(task, [rec("c", 0, {"country": "FR", "vip": True}), rec("c", 1, {"country": "DE", "vip": False}),
                     rec("c", 2, {"country": "FR", "vip": True})])
    assert h.object_keys() == ["topics/c/country=DE/vip=false/c+0+0000000001.json",
                        "topics/c/country=FR/vip=true/c+0+0000000000.json"]


def test_time_based_partitioner_uses_record_time_in_the_timezone(h: Harness) -> None:
    ts = int(dt.datetime(2024, 12, 31, 23, 30, tzinfo=dt.UTC).timestamp() * 1000)
    task = h.task(**{"partitioner.class": P + "TimeBasedPartitioner", "partition.duration.ms": "3600000",
                     "path.format": "'year'=YYYY/'month'=MM/'day'=dd/'hour'=HH", "locale": "en-US",
                     "timezone": "Asia/Tokyo", "timestamp.extractor": "Record"})
    h.deliver(task, [rec("e", 0, {"a": 1}, timestamp=ts)])
    assert h.object_keys() == ["topics/e/year=2025/month=01/day=01/hour=08/e+0+0000000000.json"]


def test_daily_partitioner_with_record_field_extractor(h: Harness) -> None:
    task = h.task(**{"partitioner.class": P + "DailyPartitioner", "locale": "en", "timezone": "UTC",
                     "timestamp.extractor": "RecordField", "timestamp.field": "meta.when"})
    h.deliver(task, [rec("e", 0, {"meta": {"when": "2024-02-29T22:00:00Z"}}),
                     rec("e", 1, {"meta": {"when": int(dt.datetime(2024, 3, 1, tzinfo=dt.UTC).timestamp() * 1000)}})])
    assert h.object_keys() == ["topics/e/year=2024/month=02/day=29/e+0+0000000000.json",
                        "topics/e/year=2024/month=03/day=01/e+0+0000000001.json"]


def test_time_based_partitioner_requires_timezone() -> None:
    props = {"s3.bucket.name": "b", "format.class": JSON, "flush.size": "1",
             "partitioner.class": P + "HourlyPartitioner", "locale": "en"}
    errors = S3SinkConnector.validate(props)
    assert errors["timezone"].errors == ["Invalid value  for configuration timezone: Timezone cannot be empty."]
    with pytest.raises(ConfigException, match="Timezone cannot be empty"):
        S3SinkTask().start(props)


def test_joda_patterns() -> None:
    t = dt.datetime(2015, 12, 7, 15, 4, 5)
    assert format_joda("'year'=YYYY/'month'=MM/'day'=dd/'hour'=HH", t) == "year=2015/month=12/day=07/hour=15"
    assert format_joda("yyyy-MMM-d 'o''clock' mm:ss", t) == "2015-Dec-7 o'clock 04:05"


# --- exactly once -----------------------------------------------------------------------------------


def test_same_batch_twice_leaves_one_copy(h: Harness) -> None:
    batch = [rec("t", i, {"i": i}) for i in range(5)]
    task = h.task()
    h.deliver(task, batch)
    h.deliver(h.task(), batch)  # a new container after a crash before the offsets were committed
    assert h.json_values() == [{"i": i} for i in range(5)]


def test_overlapping_redelivery_writes_only_new_records(h: Harness) -> None:
    task = h.task()
    h.deliver(task, [rec("t", i, {"i": i}) for i in range(4)])
    h.deliver(task, [rec("t", i, {"i": i}) for i in range(2, 8)])
    assert h.json_values() == [{"i": i} for i in range(8)]
    assert task.skipped_duplicates == 2
    assert [k.rsplit("+", 1)[1] for k in h.object_keys()] == ["0000000000.json", "0000000003.json", "0000000004.json",
                                                       "0000000007.json"]


def test_crash_between_data_and_mark_then_shorter_redelivery_leaves_no_stale_copies(h: Harness) -> None:
    task = h.task(**{"flush.size": "2"})
    real_write_mark = task._write_mark
    calls = {"n": 0}

    def die_on_final_mark(key: str, mark: Any) -> None:
        calls["n"] += 1
        if not mark.pending:
            raise RuntimeError("Lambda timed out")
        real_write_mark(key, mark)

    task._write_mark = die_on_final_mark  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        h.deliver(task, [rec("t", i, {"i": i}) for i in range(6)])
    assert len(h.object_keys()) == 3  # data written, mark not advanced
    retry = h.task(**{"flush.size": "2"})
    h.deliver(retry, [rec("t", i, {"i": i}) for i in range(3)])  # the ESM redelivers a smaller batch
    h.deliver(retry, [rec("t", i, {"i": i}) for i in range(3, 6)])
    assert h.json_values() == [{"i": i} for i in range(6)]


def test_tombstones_fail_or_are_ignored(h: Harness) -> None:
    task = h.task(reporter=True)
    h.deliver(task, [rec("t", 0, None), rec("t", 1, {"i": 1})])
    assert [r.kafka_offset for r, _ in h.reported] == [0]
    h.deliver(h.task(**{"behavior.on.null.values": "ignore"}), [rec("t", 2, None), rec("t", 3, {"i": 3})])
    assert h.json_values() == [{"i": 1}, {"i": 3}]


def test_bad_record_without_reporter_fails_naming_it(h: Harness) -> None:
    task = h.task(**{"partitioner.class": P + "FieldPartitioner", "partition.field.name": "k"})
    with pytest.raises(ConnectException, match=r"topic=t, partition=0, offset=1"):
        h.deliver(task, [rec("t", 0, {"k": "a"}), rec("t", 1, {"other": 1})])
    assert h.object_keys() == []


def test_missing_bucket_is_a_connect_error(h: Harness) -> None:
    task = h.task(**{"s3.bucket.name": "no-such-bucket"})
    with pytest.raises(ConnectException, match="no-such-bucket"):
        h.deliver(task, [rec("t", 0, {"i": 0})])
