"""Kafka event source mappings, the calls moto cannot serve: the reconciler drives AwsPlatform over
real botocore clients under ``Stubber``, so every request is validated against Lambda's service
model and any call not listed here — a mutating call on a no-op reconcile included — fails the test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from lambda_connect.aws.platform import AwsPlatform
from lambda_connect.runtime.reconciler import Reconciler
from lambda_connect.state.memory import InMemoryStateStore

FN = "lambda-connect-sink"
ACCOUNT = "123456789012"
ALIAS = "connect-orders-sink"
ALIAS_ARN = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{FN}:{ALIAS}"
BOOTSTRAP = ["b-1.kafka.internal:9096", "b-2.kafka.internal:9096"]
SECRET = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:kafka-AbCdEf"
ACCESS = [{"Type": "SASL_SCRAM_512_AUTH", "URI": SECRET}]
LATEST = {"FunctionName": FN, "Version": "$LATEST", "CodeSha256": "c0de",
          "LastModified": "2026-11-25T10:00:00.000+0000"}
NAME = "orders-sink"
U1, U2, U3 = (f"0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f{i}" for i in range(1, 4))


class Calls:
    """Queues the expected calls of one reconcile on the two stubbed clients."""

    def __init__(self, lam: Stubber, sched: Stubber) -> None:
        self.lam, self.sched = lam, sched

    def latest(self) -> None:
        self.lam.add_response("get_function_configuration", LATEST, {"FunctionName": FN})

    def alias_found(self, version: str = "1") -> None:
        self.lam.add_response("get_alias", {"AliasArn": ALIAS_ARN, "Name": ALIAS, "FunctionVersion": version},
                              {"FunctionName": FN, "Name": ALIAS})

    def alias_missing(self) -> None:
        self.lam.add_client_error("get_alias", "ResourceNotFoundException", http_status_code=404,
                                  expected_params={"FunctionName": FN, "Name": ALIAS})

    def listing(self, *mappings: dict[str, Any]) -> None:
        self.lam.add_response("list_event_source_mappings", {"EventSourceMappings": list(mappings)},
                              {"FunctionName": ALIAS_ARN})

    def get(self, mapping: dict[str, Any]) -> None:
        self.lam.add_response("get_event_source_mapping", mapping, {"UUID": mapping["UUID"]})

    def gone(self, uuid: str) -> None:
        self.lam.add_client_error("get_event_source_mapping", "ResourceNotFoundException", http_status_code=404,
                                  expected_params={"UUID": uuid})

    def no_schedules(self) -> None:
        self.sched.add_response("list_schedules", {"Schedules": []},
                                {"GroupName": "lambda-connect", "NamePrefix": f"{ALIAS}-task-"})


def mapping(uuid: str, topic: str, group: str, state: str = "Enabled", **extra: Any) -> dict[str, Any]:
    """An ESM as Lambda describes it."""
    out = {
        "UUID": uuid, "Topics": [topic], "StartingPosition": "TRIM_HORIZON", "BatchSize": 100, "State": state,
        "FunctionArn": ALIAS_ARN,
        "SelfManagedEventSource": {"Endpoints": {"KAFKA_BOOTSTRAP_SERVERS": BOOTSTRAP}},
        "SelfManagedKafkaEventSourceConfig": {"ConsumerGroupId": group},
        "SourceAccessConfigurations": ACCESS,
    }
    out.update(extra)
    return out


def create_request(topic: str, group: str, **extra: Any) -> dict[str, Any]:
    out = {
        "FunctionName": ALIAS_ARN, "Tags": {"lambda-connect:connector": NAME}, "Topics": [topic],
        "StartingPosition": "TRIM_HORIZON", "BatchSize": 100, "Enabled": True,
        "SelfManagedEventSource": {"Endpoints": {"KAFKA_BOOTSTRAP_SERVERS": BOOTSTRAP}},
        "SelfManagedKafkaEventSourceConfig": {"ConsumerGroupId": group},
        "SourceAccessConfigurations": ACCESS,
    }
    out.update(extra)
    return out


@pytest.fixture
def clients() -> Iterator[tuple[Any, Any, Stubber, Stubber]]:
    lam = boto3.client("lambda", region_name="us-east-1")
    sched = boto3.client("scheduler", region_name="us-east-1")
    with Stubber(lam) as s1, Stubber(sched) as s2:
        yield lam, sched, s1, s2


@pytest.fixture
def world(clients):
    lam, sched, lam_stub, sched_stub = clients
    store = InMemoryStateStore()
    platform = AwsPlatform(
        lam, sched, None, sink_function_name=FN, bootstrap_servers=BOOTSTRAP, source_access_configurations=ACCESS,
        source_function_arn=f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:source", scheduler_role_arn="arn:r",
        sleep=lambda s: None,
    )
    return store, Reconciler(store, platform, sleep=lambda s: None), Calls(lam_stub, sched_stub), lam_stub, sched_stub


def config(**extra: str) -> dict[str, str]:
    out = {"name": NAME, "connector.class": "FileStreamSink", "topics": "orders", "file": "/tmp/o.txt"}
    out.update(extra)
    return out


def run(reconciler: Reconciler, *stubs: Stubber) -> None:
    result = reconciler.reconcile(NAME)
    assert result.ok, result.error
    for stub in stubs:
        stub.assert_no_pending_responses()


def test_create_pause_resume_update_topics_delete(world) -> None:
    store, reconciler, calls, lam, sched = world

    # create: publish a version, alias it, one mapping with consumer group connect-<name>
    store.create_connector(NAME, config())
    calls.latest()
    calls.alias_missing()
    lam.add_response("publish_version", {"Version": "1", "CodeSha256": "c0de"},
                     {"FunctionName": FN, "CodeSha256": "c0de", "Description": "lambda-connect sink task"})
    lam.add_response("create_alias", {"AliasArn": ALIAS_ARN, "Name": ALIAS, "FunctionVersion": "1"},
                     {"FunctionName": FN, "Name": ALIAS, "FunctionVersion": "1",
                      "Description": f"lambda-connect sink connector {NAME}"})
    calls.listing()
    lam.add_response("create_event_source_mapping", mapping(U1, "orders", "connect-orders-sink", "Creating"),
                     create_request("orders", "connect-orders-sink"))
    run(reconciler, lam)
    resources = store.get_resources(NAME)
    assert resources["esms"] == {"orders": {"uuid": U1, "consumer_group": "connect-orders-sink",
                                            "state": "Creating"}}
    assert store.connector_for_alias(ALIAS) == NAME

    # the same reconcile again: reads only
    calls.latest()
    calls.alias_found()
    calls.listing(mapping(U1, "orders", "connect-orders-sink", "Enabled"))
    run(reconciler, lam)
    assert store.get_resources(NAME)["esms"]["orders"]["state"] == "Enabled"

    # pause: the mapping is still Creating, so the reconciler waits it out, then disables it
    store.set_target_state(NAME, "PAUSED")
    calls.latest()
    calls.alias_found()
    calls.listing(mapping(U1, "orders", "connect-orders-sink", "Creating"))
    calls.get(mapping(U1, "orders", "connect-orders-sink", "Creating"))
    calls.get(mapping(U1, "orders", "connect-orders-sink", "Enabled"))
    lam.add_response("update_event_source_mapping", mapping(U1, "orders", "connect-orders-sink", "Disabling"),
                     {"UUID": U1, "Enabled": False})
    run(reconciler, lam)
    assert store.get_connector_status(NAME).state == "PAUSED"

    calls.latest()
    calls.alias_found()
    calls.listing(mapping(U1, "orders", "connect-orders-sink", "Disabled"))
    run(reconciler, lam)  # paused and disabled: nothing to do

    # resume
    store.set_target_state(NAME, "RUNNING")
    calls.latest()
    calls.alias_found()
    calls.listing(mapping(U1, "orders", "connect-orders-sink", "Disabled"))
    lam.add_response("update_event_source_mapping", mapping(U1, "orders", "connect-orders-sink", "Enabling"),
                     {"UUID": U1, "Enabled": True})
    run(reconciler, lam)
    assert store.get_connector_status(NAME).state == "RUNNING"

    # update topics: orders keeps its mapping and group, payments gets its own group
    store.update_connector(NAME, config(topics="orders,payments"))
    calls.latest()
    calls.alias_found()
    calls.listing(mapping(U1, "orders", "connect-orders-sink", "Enabled"))
    lam.add_response("create_event_source_mapping",
                     mapping(U2, "payments", "connect-orders-sink-payments", "Creating"),
                     create_request("payments", "connect-orders-sink-payments"))
    run(reconciler, lam)
    assert store.get_resources(NAME)["consumer_groups"] == {
        "orders": "connect-orders-sink", "payments": "connect-orders-sink-payments"}

    both = (mapping(U1, "orders", "connect-orders-sink"),
            mapping(U2, "payments", "connect-orders-sink-payments"))
    calls.latest()
    calls.alias_found()
    calls.listing(*both)
    run(reconciler, lam)  # no-op again

    # delete: mappings go (and are waited out) before the alias; no schedules to remove
    store.delete_connector(NAME)
    calls.alias_found()
    calls.listing(*both)
    lam.add_response("delete_event_source_mapping", mapping(U1, "orders", "connect-orders-sink", "Deleting"),
                     {"UUID": U1})
    calls.gone(U1)
    lam.add_response("delete_event_source_mapping",
                     mapping(U2, "payments", "connect-orders-sink-payments", "Deleting"), {"UUID": U2})
    calls.gone(U2)
    lam.add_response("delete_alias", {}, {"FunctionName": FN, "Name": ALIAS})
    calls.no_schedules()
    result = reconciler.reconcile(NAME)
    assert result.action == "removed", result.error
    lam.assert_no_pending_responses()
    sched.assert_no_pending_responses()

    # deleting again finds nothing and changes nothing
    calls.alias_missing()
    calls.no_schedules()
    assert reconciler.reconcile(NAME).action == "removed"
    lam.assert_no_pending_responses()
    sched.assert_no_pending_responses()


def test_create_only_change_deletes_waits_and_recreates_with_the_same_group(world) -> None:
    store, reconciler, calls, lam, _ = world
    store.create_connector(NAME, config(**{"lambda.starting.position": "LATEST"}))
    store.put_resources(NAME, {"alias": ALIAS, "alias_arn": ALIAS_ARN, "function_version": "1",
                               "function_stamp": "c0de@" + LATEST["LastModified"], "kind": "sink",
                               "consumer_groups": {"orders": "connect-orders-sink"}})
    calls.latest()
    calls.alias_found()
    calls.listing(mapping(U1, "orders", "connect-orders-sink"))
    lam.add_response("delete_event_source_mapping", mapping(U1, "orders", "connect-orders-sink", "Deleting"),
                     {"UUID": U1})
    calls.get(mapping(U1, "orders", "connect-orders-sink", "Deleting"))
    calls.gone(U1)
    lam.add_response("create_event_source_mapping", mapping(U3, "orders", "connect-orders-sink", "Creating",
                                                            StartingPosition="LATEST"),
                     create_request("orders", "connect-orders-sink", StartingPosition="LATEST"))
    run(reconciler, lam)
    assert store.get_resources(NAME)["esms"]["orders"]["uuid"] == U3


def test_provisioned_mode_settings_reach_the_mapping_and_are_updated_in_place(world) -> None:
    store, reconciler, calls, lam, _ = world
    keys = {"lambda.provisioned.pollers.min": "1", "lambda.provisioned.pollers.max": "3",
            "lambda.poller.group": "shared", "lambda.maximum.retry.attempts": "3",
            "lambda.maximum.record.age.seconds": "3600", "lambda.bisect.batch.on.error": "true",
            "lambda.report.batch.item.failures": "true", "lambda.on.failure.destination": "kafka://orders-failed",
            "lambda.batch.size": "500", "lambda.maximum.batching.window.seconds": "5"}
    store.create_connector(NAME, config(**keys))
    store.put_resources(NAME, {"alias": ALIAS, "alias_arn": ALIAS_ARN, "function_version": "1",
                               "function_stamp": "c0de@" + LATEST["LastModified"], "kind": "sink"})
    settings = {
        "BatchSize": 500, "MaximumBatchingWindowInSeconds": 5,
        "ProvisionedPollerConfig": {"MinimumPollers": 1, "MaximumPollers": 3, "PollerGroupName": "shared"},
        "MaximumRetryAttempts": 3, "MaximumRecordAgeInSeconds": 3600, "BisectBatchOnFunctionError": True,
        "FunctionResponseTypes": ["ReportBatchItemFailures"],
        "DestinationConfig": {"OnFailure": {"Destination": "kafka://orders-failed"}},
    }
    calls.latest()
    calls.alias_found()
    calls.listing()
    lam.add_response("create_event_source_mapping", mapping(U1, "orders", "connect-orders-sink", **settings),
                     create_request("orders", "connect-orders-sink", **settings))
    run(reconciler, lam)

    # back to on-demand, default batch size: one update, no re-creation
    store.update_connector(NAME, config())
    calls.latest()
    calls.alias_found()
    calls.listing(mapping(U1, "orders", "connect-orders-sink", **settings))
    lam.add_response("update_event_source_mapping", mapping(U1, "orders", "connect-orders-sink", "Updating"),
                     {"UUID": U1, "BatchSize": 100, "ProvisionedPollerConfig": {}, "MaximumRetryAttempts": -1,
                      "MaximumRecordAgeInSeconds": -1, "BisectBatchOnFunctionError": False,
                      "FunctionResponseTypes": [], "DestinationConfig": {"OnFailure": {}}})
    run(reconciler, lam)


def test_throttling_and_busy_mappings_are_retried(world) -> None:
    store, reconciler, calls, lam, _ = world
    store.create_connector(NAME, config(), target_state="PAUSED")
    store.put_resources(NAME, {"alias": ALIAS, "alias_arn": ALIAS_ARN, "function_version": "1",
                               "function_stamp": "c0de@" + LATEST["LastModified"], "kind": "sink"})
    lam.add_client_error("get_function_configuration", "TooManyRequestsException", http_status_code=429,
                         expected_params={"FunctionName": FN})
    calls.latest()
    calls.alias_found()
    calls.listing(mapping(U1, "orders", "connect-orders-sink"))
    lam.add_client_error("update_event_source_mapping", "ResourceConflictException", http_status_code=409,
                         expected_params={"UUID": U1, "Enabled": False})
    lam.add_response("update_event_source_mapping", mapping(U1, "orders", "connect-orders-sink", "Disabling"),
                     {"UUID": U1, "Enabled": False})
    run(reconciler, lam)
    assert store.get_connector_status(NAME).state == "PAUSED"


def test_new_sink_code_is_published_and_the_alias_moved(world) -> None:
    store, reconciler, calls, lam, _ = world
    store.create_connector(NAME, config())
    store.put_resources(NAME, {"alias": ALIAS, "alias_arn": ALIAS_ARN, "function_version": "1",
                               "function_stamp": "c0de@" + LATEST["LastModified"], "kind": "sink"})
    deployed = {**LATEST, "CodeSha256": "beef", "LastModified": "2026-11-26T10:00:00.000+0000"}
    lam.add_response("get_function_configuration", deployed, {"FunctionName": FN})
    calls.alias_found()
    lam.add_response("publish_version", {"Version": "2", "CodeSha256": "beef"},
                     {"FunctionName": FN, "CodeSha256": "beef", "Description": "lambda-connect sink task"})
    lam.add_response("update_alias", {"AliasArn": ALIAS_ARN, "Name": ALIAS, "FunctionVersion": "2"},
                     {"FunctionName": FN, "Name": ALIAS, "FunctionVersion": "2"})
    calls.listing(mapping(U1, "orders", "connect-orders-sink"))
    run(reconciler, lam)
    assert store.get_resources(NAME)["function_version"] == "2"


def test_an_access_error_fails_the_connector_with_the_aws_message(world) -> None:
    store, reconciler, _, lam, _ = world
    store.create_connector(NAME, config())
    lam.add_client_error("get_function_configuration", "AccessDeniedException", "not authorized to perform",
                         http_status_code=403, expected_params={"FunctionName": FN})
    result = reconciler.reconcile(NAME)
    assert not result.ok
    status = store.get_connector_status(NAME)
    assert status.state == "FAILED" and "not authorized to perform" in status.trace
