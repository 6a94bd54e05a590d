"""Defect 1 of issue 11: sink marks tied to the topic's incarnation (JDBC on SQLite, S3 on moto).

A "cluster" here is the runtime's real per-container cache (``CachedTopicIdentities``) in
front of a dict saying what the broker would answer now, so the tests control exactly when a
topic is recreated and can count how often the cluster is asked.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from lambda_connect.api import SinkRecord, SinkTaskContext
from lambda_connect.plugins.connectors import positions
from lambda_connect.plugins.connectors.jdbc import offsets as jdbc_offsets
from lambda_connect.plugins.connectors.jdbc.sink import JdbcSinkTask
from lambda_connect.plugins.connectors.s3 import sink as s3_sink
from lambda_connect.plugins.connectors.s3.sink import S3SinkTask
from lambda_connect.runtime.topic_identity import CachedTopicIdentities, IdentityForwarder
from moto import mock_aws

TOPIC = "k10"
OFFSETS_TABLE = "__lambda_connect_sink_offsets"


class Cluster(CachedTopicIdentities):
    """What the broker says now; every lookup that reaches it is counted."""

    def __init__(self, **now: str | None) -> None:
        super().__init__()
        self.now: dict[str, str | None] = dict(now)
        self.asked = 0

    def _lookup(self, topic: str) -> str | None:
        self.asked += 1
        return self.now.get(topic)


def context(name: str, config: dict[str, str], cluster: CachedTopicIdentities | None) -> SinkTaskContext:
    forwarder = IdentityForwarder()
    forwarder.source = cluster
    return SinkTaskContext(name, 0, config, None, forwarder)


def records(offsets: range, *, partition: int = 0, base: int = 0) -> list[SinkRecord]:
    return [SinkRecord(TOPIC, partition, None, None, None, {"id": base + o}, o) for o in offsets]


# --- JDBC on SQLite --------------------------------------------------------------------------


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "out.db"
    jdbc_offsets._created.clear()  # per-process "table exists" memo: the next test has a new file


def jdbc_task(db: Path, cluster: CachedTopicIdentities | None, name: str = "sink") -> JdbcSinkTask:
    config = {"connection.url": f"jdbc:sqlite:{db}", "auto.create": "true", "insert.mode": "insert",
              "table.name.format": "rows"}
    task = JdbcSinkTask()
    task.initialize(context(name, config, cluster))
    task.start(config)
    return task


def deliver(task: Any, batch: list[SinkRecord]) -> None:
    task.put(batch)
    task.flush({})


def ids(db: Path) -> list[int]:
    with sqlite3.connect(db) as conn:
        return sorted(r[0] for r in conn.execute("SELECT id FROM rows"))


def marks(db: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return list(conn.execute(f"SELECT kafka_partition, kafka_offset, topic_identity FROM {OFFSETS_TABLE} "
                                 "ORDER BY kafka_partition"))


def test_recreated_topic_is_written_not_skipped(db: Path, caplog: pytest.LogCaptureFixture) -> None:
    cluster = Cluster(k10="c1/topic-A")
    task = jdbc_task(db, cluster)
    for start in range(0, 3000, 500):
        deliver(task, records(range(start, start + 500)))
    assert len(ids(db)) == 3000
    assert marks(db) == [(0, 2999, "c1/topic-A")]

    cluster.now[TOPIC] = "c1/topic-B"  # deleted and created again while the container stays warm
    caplog.set_level(logging.WARNING, logger=positions.__name__)
    deliver(task, records(range(0, 500), base=10_000))
    deliver(task, records(range(500, 1000), base=10_000))

    assert len(ids(db)) == 4000, "every record of the new topic is written"
    assert marks(db) == [(0, 999, "c1/topic-B")]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "k10" in warnings[0] and "c1/topic-A" in warnings[0] and "c1/topic-B" in warnings[0]
    assert "2999" in warnings[0]

    deliver(task, records(range(0, 1000), base=10_000))  # a redelivery of the new topic: still exactly once
    assert len(ids(db)) == 4000


def test_identity_is_looked_up_once_per_container_and_topic_on_the_hot_path(db: Path) -> None:
    cluster = Cluster(k10="c1/topic-A")
    task = jdbc_task(db, cluster)
    for start in range(0, 1000, 100):
        deliver(task, records(range(start, start + 100)))
    assert cluster.asked == 1

    deliver(task, records(range(900, 1000)))  # looks like a redelivery: ask again, same topic
    assert cluster.asked == 2
    assert len(ids(db)) == 1000 and task.skipped_duplicates == 100


def test_a_cold_container_sees_the_new_topic_at_once(db: Path) -> None:
    deliver(jdbc_task(db, Cluster(k10="c1/topic-A")), records(range(0, 300)))
    cold = jdbc_task(db, Cluster(k10="c2/topic-B"))  # a new embedded broker: new cluster, new topic id
    deliver(cold, records(range(0, 100), base=1000))
    assert len(ids(db)) == 400
    assert marks(db) == [(0, 99, "c2/topic-B")]


def test_a_stale_container_does_not_undo_a_reset_another_one_recorded(db: Path) -> None:
    stale = Cluster(k10="c1/topic-A")
    old = jdbc_task(db, stale, name="sink")
    deliver(old, records(range(0, 300)))
    fresh = jdbc_task(db, Cluster(k10="c1/topic-B"), name="sink")
    deliver(fresh, records(range(0, 100), base=1000))  # the new topic, re-keyed by another container
    assert len(ids(db)) == 400

    stale.now[TOPIC] = "c1/topic-B"  # the broker's answer; ``old`` still has topic-A cached
    deliver(old, records(range(0, 100), base=1000))  # a redelivery to the stale container
    assert len(ids(db)) == 400, "no second copy: the stale cache is refreshed, not trusted"
    assert marks(db) == [(0, 99, "c1/topic-B")]


def test_marks_of_an_older_version_are_migrated_and_claimed(db: Path) -> None:
    with sqlite3.connect(db) as conn:  # the table as versions before topic identities made it
        conn.execute(f'CREATE TABLE "{OFFSETS_TABLE}" (connector TEXT NOT NULL, topic TEXT NOT NULL, '
                     "kafka_partition INTEGER NOT NULL, kafka_offset INTEGER NOT NULL, "
                     "PRIMARY KEY(connector, topic, kafka_partition))")
        conn.execute(f'INSERT INTO "{OFFSETS_TABLE}" VALUES (?, ?, 0, 199)', ("sink", TOPIC))
        conn.execute("CREATE TABLE rows (id INTEGER)")
        conn.executemany("INSERT INTO rows VALUES (?)", [(i,) for i in range(200)])
    cluster = Cluster(k10="c1/topic-A")
    task = jdbc_task(db, cluster)
    deliver(task, records(range(150, 250)))  # overlaps what the old version wrote
    assert ids(db) == list(range(250)), "the old marks still filter: no duplicates after the upgrade"
    assert marks(db) == [(0, 249, "c1/topic-A")]

    cluster.now[TOPIC] = "c1/topic-B"
    deliver(task, records(range(0, 10), base=5000))
    assert len(ids(db)) == 260


def test_unknown_identity_keeps_the_marks_as_they_are(db: Path) -> None:
    task = jdbc_task(db, None)  # no cluster to ask (e.g. no metadata access)
    deliver(task, records(range(0, 100)))
    deliver(task, records(range(50, 150)))
    assert ids(db) == list(range(150))
    assert marks(db) == [(0, 149, None)]


def test_failed_lookup_answers_none_and_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    class Down(CachedTopicIdentities):
        def _lookup(self, topic: str) -> str | None:
            raise ConnectionError("broker unreachable")

    down = Down()
    caplog.set_level(logging.WARNING)
    assert down.identity(TOPIC) is None
    assert down.identity(TOPIC, refresh=True) is None
    assert down.identity(TOPIC) is None
    assert down.lookups == 2
    assert sum("k10" in r.getMessage() for r in caplog.records) == 1


def test_reconcile_rules() -> None:
    p0, p1, p2 = (TOPIC, 0), (TOPIC, 1), (TOPIC, 2)
    check = positions.reconcile({p0: 10, p1: 20, p2: 30}, {p0: "A", p1: None, p2: "B"}, {TOPIC: "A"})
    assert check.offsets == {p0: 10, p1: 20, p2: -1}
    assert check.rekey == {p1: (20, "A"), p2: (-1, "A")}
    assert [(r.partition, r.old_identity, r.new_identity, r.old_offset) for r in check.resets] == [(p2, "B", "A", 30)]
    assert positions.reconcile({p0: 10}, {p0: "A"}, {TOPIC: None}).offsets == {p0: 10}


# --- S3 on moto ---------------------------------------------------------------------------------

BUCKET = "reset-bucket"


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        s3_sink._clients.clear()
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client
        s3_sink._clients.clear()


def s3_task(cluster: CachedTopicIdentities | None) -> S3SinkTask:
    config = {"s3.bucket.name": BUCKET, "s3.region": "us-east-1", "flush.size": "100",
              "format.class": "io.confluent.connect.s3.format.json.JsonFormat"}
    task = S3SinkTask()
    task.initialize(context("s3sink", config, cluster))
    task.start(config)
    return task


def s3_values(client: Any) -> tuple[list[str], list[int]]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix="topics/")
    keys = sorted(o["Key"] for page in pages for o in page.get("Contents", []) if "/_lambda_connect/" not in o["Key"])
    values = [json.loads(line)["id"] for k in keys
              for line in client.get_object(Bucket=BUCKET, Key=k)["Body"].read().decode().splitlines()]
    return keys, sorted(values)


def s3_mark(client: Any, partition: int = 0) -> dict[str, Any]:
    key = f"topics/_lambda_connect/offsets/s3sink/{TOPIC}+{partition}.json"
    return json.loads(client.get_object(Bucket=BUCKET, Key=key)["Body"].read())


def test_s3_recreated_topic_is_written_next_to_the_old_objects(s3: Any, caplog: pytest.LogCaptureFixture) -> None:
    cluster = Cluster(k10="c1/topic-A")
    task = s3_task(cluster)
    deliver(task, records(range(0, 300)))
    old_keys, values = s3_values(s3)
    assert len(values) == 300 and s3_mark(s3)["topic_identity"] == "c1/topic-A"

    cluster.now[TOPIC] = "c1/topic-B"
    caplog.set_level(logging.WARNING, logger=positions.__name__)
    deliver(task, records(range(0, 100), base=1000))
    deliver(task, records(range(100, 400), base=1000))
    keys, values = s3_values(s3)
    assert values == sorted(list(range(300)) + list(range(1000, 1400))), "nothing skipped, nothing overwritten"
    assert set(old_keys) <= set(keys)
    assert f"topics/{TOPIC}/partition=0/{TOPIC}+0+0000000000+1.json" in keys  # the reset count keeps names apart
    assert f"topics/{TOPIC}/partition=0/{TOPIC}+0+0000000300.json" in keys  # above every old offset: plain name
    assert s3_mark(s3) == {"offset": 399, "pending": [], "topic_identity": "c1/topic-B", "generation": 1,
                           "floor": 299}
    assert any("c1/topic-A" in r.getMessage() and "c1/topic-B" in r.getMessage() for r in caplog.records)

    deliver(task, records(range(0, 400), base=1000))  # redelivery after the reset: still one copy
    assert len(s3_values(s3)[1]) == 700


def test_s3_marks_without_identity_are_claimed(s3: Any) -> None:
    s3.put_object(Bucket=BUCKET, Key=f"topics/_lambda_connect/offsets/s3sink/{TOPIC}+0.json",
                  Body=json.dumps({"offset": 99, "pending": []}).encode())
    task = s3_task(Cluster(k10="c1/topic-A"))
    deliver(task, records(range(50, 150)))
    assert s3_values(s3)[1] == list(range(100, 150))
    assert s3_mark(s3)["topic_identity"] == "c1/topic-A" and s3_mark(s3)["offset"] == 149
