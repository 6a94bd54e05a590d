"""AwsPlatform against moto: sink aliases, source schedules, and the reconciler fed by a real
DynamoDB stream of the state table (ESMs themselves are covered with Stubber: moto cannot make
Kafka ones)."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from lambda_connect.aws.platform import AwsPlatform
from lambda_connect.aws.reconciler_handler import ReconcilerHandler
from lambda_connect.runtime.platform import SinkSpec, SourceSpec
from lambda_connect.runtime.reconciler import Reconciler
from lambda_connect.state.dynamodb import DynamoDBStateStore, create_table
from moto import mock_aws

REGION = "us-east-1"
FN = "lambda-connect-sink"
SOURCE_ARN = "arn:aws:lambda:us-east-1:123456789012:function:lambda-connect-source"


def _zip(body: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("app.py", body)
    return buf.getvalue()


@pytest.fixture
def aws() -> Iterator[dict[str, Any]]:
    with mock_aws():
        iam = boto3.client("iam", region_name=REGION)
        role = iam.create_role(RoleName="fn", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17",
                               "Statement": []}))["Role"]["Arn"]
        lam = boto3.client("lambda", region_name=REGION)
        lam.create_function(FunctionName=FN, Runtime="python3.13", Role=role, Handler="app.lambda_handler",
                            Code={"ZipFile": _zip("def lambda_handler(e, c): return 1\n")})
        scheduler = boto3.client("scheduler", region_name=REGION)
        scheduler.create_schedule_group(Name="lambda-connect")  # the SAM stack's ScheduleGroup
        platform = AwsPlatform(lam, scheduler, None, sink_function_name=FN, source_function_arn=SOURCE_ARN,
                               scheduler_role_arn=role, bootstrap_servers="b-1:9092", sleep=lambda s: None)
        yield {"lambda": lam, "scheduler": scheduler, "platform": platform, "role": role}


def sink_spec(enabled: bool = True) -> SinkSpec:
    return SinkSpec(alias="connect-orders", topics=(), consumer_groups={}, enabled=enabled)


def versions(lam: Any) -> list[str]:
    return [v["Version"] for v in lam.list_versions_by_function(FunctionName=FN)["Versions"]]


def test_sink_alias_is_created_once_and_follows_new_code(aws) -> None:
    lam, platform = aws["lambda"], aws["platform"]

    first = platform.ensure_sink("orders", sink_spec(), {})
    alias = lam.get_alias(FunctionName=FN, Name="connect-orders")
    assert first["alias"] == "connect-orders" and first["alias_arn"] == alias["AliasArn"]
    assert alias["FunctionVersion"] == first["function_version"] != "$LATEST"
    published = versions(lam)

    again = platform.ensure_sink("orders", sink_spec(), first)
    assert again == first and versions(lam) == published  # idempotent: nothing published or moved

    lam.update_function_code(FunctionName=FN, ZipFile=_zip("def lambda_handler(e, c): return 2\n"))
    moved = platform.ensure_sink("orders", sink_spec(), again)
    assert moved["function_version"] != first["function_version"]
    assert lam.get_alias(FunctionName=FN, Name="connect-orders")["FunctionVersion"] == moved["function_version"]


def test_a_lost_record_adopts_the_existing_alias(aws) -> None:
    lam, platform = aws["lambda"], aws["platform"]
    first = platform.ensure_sink("orders", sink_spec(), {})
    published = versions(lam)
    adopted = platform.ensure_sink("orders", sink_spec(), {})
    assert adopted["alias_arn"] == first["alias_arn"] and versions(lam) == published


def test_removing_a_sink_deletes_its_alias(aws) -> None:
    lam, platform = aws["lambda"], aws["platform"]
    platform.ensure_sink("orders", sink_spec(), {})
    platform.remove("orders", {})  # found by its deterministic name
    assert [a["Name"] for a in lam.list_aliases(FunctionName=FN)["Aliases"]] == []
    platform.remove("orders", {})  # and removing twice is fine


def schedules(scheduler: Any) -> dict[str, dict[str, Any]]:
    names = [s["Name"] for s in scheduler.list_schedules(GroupName="lambda-connect")["Schedules"]]
    return {n: scheduler.get_schedule(Name=n, GroupName="lambda-connect") for n in sorted(names)}


def test_source_schedules_follow_tasks_rate_and_state(aws) -> None:
    scheduler, platform = aws["scheduler"], aws["platform"]
    spec = SourceSpec(alias="connect-lines", tasks=2, poll_interval_ms=150_000, enabled=True)

    resources = platform.ensure_source("lines", spec, {})

    assert resources["schedules"] == ["connect-lines-task-0", "connect-lines-task-1"]
    found = schedules(scheduler)
    assert list(found) == resources["schedules"]
    task1 = found["connect-lines-task-1"]
    assert task1["ScheduleExpression"] == "rate(3 minutes)" and task1["State"] == "ENABLED"
    assert task1["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert task1["Target"]["Arn"] == SOURCE_ARN and task1["Target"]["RoleArn"] == aws["role"]
    assert json.loads(task1["Target"]["Input"]) == {"connector": "lines", "task": 1}

    stamps = {n: s["LastModificationDate"] for n, s in found.items()}
    platform.ensure_source("lines", spec, resources)
    assert {n: s["LastModificationDate"] for n, s in schedules(scheduler).items()} == stamps  # no-op

    paused = SourceSpec(alias="connect-lines", tasks=1, poll_interval_ms=1_000, enabled=False)
    resources = platform.ensure_source("lines", paused, resources)
    found = schedules(scheduler)
    assert list(found) == ["connect-lines-task-0"] == resources["schedules"]
    assert found["connect-lines-task-0"]["State"] == "DISABLED"
    assert found["connect-lines-task-0"]["ScheduleExpression"] == "rate(1 minute)"

    platform.remove("lines", {"kind": "source", **resources})
    assert schedules(scheduler) == {}


def test_other_connectors_schedules_are_left_alone(aws) -> None:
    scheduler, platform = aws["scheduler"], aws["platform"]
    platform.ensure_source("a-task-x", SourceSpec("connect-a-task-x", 1, 60_000, True), {})
    platform.ensure_source("a", SourceSpec("connect-a", 1, 60_000, True), {})
    platform.remove("a", {"kind": "source"})
    assert list(schedules(scheduler)) == ["connect-a-task-x-task-0"]


def _stream_records(streams: Any, arn: str, iterators: dict[str, str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        sid = shard["ShardId"]
        if sid not in iterators:
            iterators[sid] = streams.get_shard_iterator(StreamArn=arn, ShardId=sid,
                                                        ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        page = streams.get_records(ShardIterator=iterators[sid])
        iterators[sid] = page["NextShardIterator"]
        out.extend(page["Records"])
    return out


def test_the_state_table_stream_drives_create_pause_and_delete(aws) -> None:
    scheduler = aws["scheduler"]
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    arn = create_table(dynamodb, "state")
    streams = boto3.client("dynamodbstreams", region_name=REGION)
    store = DynamoDBStateStore("state", client=dynamodb)
    handler = ReconcilerHandler(Reconciler(store, aws["platform"], sleep=lambda s: None))
    iterators: dict[str, str] = {}
    config = {"name": "lines", "connector.class": "FileStreamSource", "topic": "lines", "file": "/tmp/in.txt",
              "tasks.max": "2"}

    store.create_connector("lines", config)
    assert handler.handle({"Records": _stream_records(streams, arn, iterators)}) == {"batchItemFailures": []}
    assert [s["State"] for s in schedules(scheduler).values()] == ["ENABLED", "ENABLED"]
    assert store.get_connector_status("lines").state == "RUNNING"

    # The reconciler's own writes come back on the stream and change nothing.
    before = {n: s["LastModificationDate"] for n, s in schedules(scheduler).items()}
    assert handler.handle({"Records": _stream_records(streams, arn, iterators)}) == {"batchItemFailures": []}
    assert {n: s["LastModificationDate"] for n, s in schedules(scheduler).items()} == before

    store.set_target_state("lines", "PAUSED")
    handler.handle({"Records": _stream_records(streams, arn, iterators)})
    assert [s["State"] for s in schedules(scheduler).values()] == ["DISABLED", "DISABLED"]

    store.delete_connector("lines")
    records = _stream_records(streams, arn, iterators)
    assert any(r["eventName"] == "REMOVE" for r in records)
    assert handler.handle({"Records": records}) == {"batchItemFailures": []}
    assert schedules(scheduler) == {}
