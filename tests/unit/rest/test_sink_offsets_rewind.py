"""Defect 10 of issue 11: KIP-875 alter/reset of a sink moves the marks in its target too.

REST API (the Lambda handler of ``functions/connector_api``) over a memory state store and
in-memory consumer groups; the JDBC sink writes to SQLite, the S3 sink to moto.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from lambda_connect.api import SinkRecord, SinkTaskContext
from lambda_connect.plugins.connectors.jdbc import offsets as jdbc_offsets
from lambda_connect.plugins.connectors.jdbc.sink import JdbcSinkTask
from lambda_connect.plugins.connectors.s3 import sink as s3_sink
from lambda_connect.plugins.connectors.s3.sink import S3SinkTask
from lambda_connect.rest.http_api import build_handler
from lambda_connect.state import open_store
from moto import mock_aws

from tests.unit.rest.api_events import ApiClient, FakeSinkOffsets

TOPIC = "orders"
GROUP = "connect-sink"
ALTERED = "The offsets for this connector have been altered successfully"


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "out.db"
    jdbc_offsets._created.clear()


def jdbc_config(db: Path) -> dict[str, str]:
    return {"connector.class": "io.confluent.connect.jdbc.JdbcSinkConnector", "topics": TOPIC,
            "connection.url": f"jdbc:sqlite:{db}", "auto.create": "true", "insert.mode": "insert",
            "table.name.format": "rows"}


def start(task: Any, config: dict[str, str]) -> Any:
    task.initialize(SinkTaskContext("sink", 0, config))
    task.start(config)
    return task


def deliver(task: Any, offsets: range, partition: int = 0) -> None:
    task.put([SinkRecord(TOPIC, partition, None, None, None, {"id": o}, o) for o in offsets])
    task.flush({})


def ids(db: Path) -> list[int]:
    with sqlite3.connect(db) as conn:
        return sorted(r[0] for r in conn.execute("SELECT id FROM rows"))


def stopped_connector(config: dict[str, str], groups: FakeSinkOffsets) -> ApiClient:
    api = ApiClient(build_handler(open_store("memory://"), None, groups, {}))
    reply = api.post("/connectors", {"name": "sink", "config": config, "initial_state": "STOPPED"})
    assert reply.status == 201, reply.text
    return api


def patch(api: ApiClient, partition: int, offset: int | None) -> Any:
    return api.patch("/connectors/sink/offsets", {"offsets": [
        {"partition": {"kafka_topic": TOPIC, "kafka_partition": partition},
         "offset": None if offset is None else {"kafka_offset": offset}}]})


def test_rewound_jdbc_sink_writes_a_deleted_row_again(db: Path) -> None:
    config = jdbc_config(db)
    task = start(JdbcSinkTask(), config)
    deliver(task, range(10))
    groups = FakeSinkOffsets()
    groups.groups[GROUP] = {(TOPIC, 0): 10}
    api = stopped_connector(config, groups)

    reply = patch(api, 0, 3)
    assert reply.status == 200, reply.text
    assert reply.json["message"] == ALTERED
    assert groups.groups[GROUP] == {(TOPIC, 0): 3}
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM rows WHERE id >= 3")

    deliver(start(JdbcSinkTask(), config), range(3, 10))  # what the group redelivers after resume
    assert ids(db) == list(range(10))


def test_reset_forgets_every_mark_even_those_the_groups_do_not_know(db: Path) -> None:
    config = jdbc_config(db)
    task = start(JdbcSinkTask(), config)
    deliver(task, range(5), partition=0)
    deliver(task, range(5), partition=1)
    groups = FakeSinkOffsets()
    groups.groups[GROUP] = {(TOPIC, 0): 5}  # partition 1 unknown to the group (e.g. a new broker)
    api = stopped_connector(config, groups)

    reply = api.delete("/connectors/sink/offsets")
    assert reply.status == 200, reply.text
    assert "have been reset successfully" in reply.json["message"]
    assert GROUP not in groups.groups
    with sqlite3.connect(db) as conn:
        assert list(conn.execute("SELECT kafka_partition, kafka_offset FROM __lambda_connect_sink_offsets "
                                 "ORDER BY 1")) == [(0, -1), (1, -1)]
        conn.execute("DELETE FROM rows")
    deliver(start(JdbcSinkTask(), config), range(5), partition=1)
    assert ids(db) == list(range(5))


def test_marks_that_cannot_move_fail_the_request_and_leave_the_groups(tmp_path: Path) -> None:
    config = jdbc_config(tmp_path / "missing-dir" / "out.db")  # SQLite cannot open it
    groups = FakeSinkOffsets()
    groups.groups[GROUP] = {(TOPIC, 0): 10}
    api = stopped_connector(config, groups)

    reply = patch(api, 0, 0)
    assert reply.status == 500, reply.text
    assert "could not be moved" in reply.json["message"]
    assert "consumer group offsets were left as they were" in reply.json["message"]
    assert groups.groups[GROUP] == {(TOPIC, 0): 10}
    reply = api.delete("/connectors/sink/offsets")
    assert reply.status == 500 and groups.groups[GROUP] == {(TOPIC, 0): 10}


def test_a_group_failure_after_the_marks_moved_says_so(db: Path) -> None:
    class Broken(FakeSinkOffsets):
        def alter(self, *args: Any) -> None:
            from lambda_connect.api import ConnectException

            raise ConnectException("broker unreachable")

    config = jdbc_config(db)
    deliver(start(JdbcSinkTask(), config), range(10))
    api = stopped_connector(config, Broken())
    reply = patch(api, 0, 0)
    assert reply.status == 500
    assert "were moved, but its consumer group offsets were not" in reply.json["message"]
    assert "repeat the request" in reply.json["message"]


BUCKET = "rewind-bucket"


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        s3_sink._clients.clear()
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client
        s3_sink._clients.clear()


def test_rewound_s3_sink_writes_again(s3: Any) -> None:
    config = {"connector.class": "io.confluent.connect.s3.S3SinkConnector", "topics": TOPIC,
              "s3.bucket.name": BUCKET, "s3.region": "us-east-1", "flush.size": "100",
              "format.class": "io.confluent.connect.s3.format.json.JsonFormat"}
    deliver(start(S3SinkTask(), config), range(10))
    object_key = f"topics/{TOPIC}/partition=0/{TOPIC}+0+0000000000.json"
    s3.delete_object(Bucket=BUCKET, Key=object_key)
    groups = FakeSinkOffsets()
    groups.groups[GROUP] = {(TOPIC, 0): 10}
    api = stopped_connector(config, groups)

    reply = patch(api, 0, 0)
    assert reply.status == 200 and reply.json["message"] == ALTERED
    mark_key = f"topics/_lambda_connect/offsets/sink/{TOPIC}+0.json"
    assert json.loads(s3.get_object(Bucket=BUCKET, Key=mark_key)["Body"].read())["offset"] == -1
    deliver(start(S3SinkTask(), config), range(10))
    body = s3.get_object(Bucket=BUCKET, Key=object_key)["Body"].read().decode()
    assert [json.loads(line)["id"] for line in body.splitlines()] == list(range(10))

    assert api.delete("/connectors/sink/offsets").status == 200
    assert json.loads(s3.get_object(Bucket=BUCKET, Key=mark_key)["Body"].read())["offset"] == -1
