"""The reconciler function's triggers, with the payloads in events/: stream batches, direct invokes, rescans."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from lambda_connect.aws.reconciler_handler import ReconcilerHandler, connector_changes
from lambda_connect.runtime.platform import PlatformThrottled
from lambda_connect.runtime.reconciler import Reconciler
from lambda_connect.state.memory import InMemoryStateStore

from .test_reconciler import FakePlatform, sink

EVENTS = Path(__file__).parents[3] / "events"


def load(name: str) -> dict:
    return json.loads((EVENTS / name).read_text())


@pytest.fixture
def parts() -> tuple[InMemoryStateStore, FakePlatform, ReconcilerHandler]:
    store, platform = InMemoryStateStore(), FakePlatform()
    return store, platform, ReconcilerHandler(Reconciler(store, platform, sleep=lambda s: None))


def test_only_desired_state_changes_wake_the_reconciler() -> None:
    changes = connector_changes(load("dynamodb-stream.json")["Records"])
    # orders-sink: its config changed (the task status and offset writes are ignored);
    # payments-sink: a task restart was requested.
    assert changes == {"orders-sink": (["4100000000019001"], None), "payments-sink": (["4100000000019003"], None)}


def test_a_deleted_connectors_resources_are_read_from_the_old_image() -> None:
    changes = connector_changes(load("dynamodb-stream-delete.json")["Records"])
    sequences, known = changes["orders-sink"]
    assert sequences == ["4100000000019101", "4100000000019103"]
    assert known["alias"] == "connect-orders-sink"
    assert known["esms"]["orders"]["uuid"] == "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f1"


def test_stream_batch_reconciles_each_connector_once(parts) -> None:
    store, platform, handler = parts
    store.create_connector("orders-sink", sink())
    store.create_connector("payments-sink", sink(name="payments-sink", topics="payments"))

    assert handler.handle(load("dynamodb-stream.json")) == {"batchItemFailures": []}

    assert sorted(platform.calls) == [("ensure_sink", "orders-sink"), ("ensure_sink", "payments-sink")]


def test_delete_event_removes_with_the_resources_from_the_stream(parts) -> None:
    _, platform, handler = parts
    assert handler.handle(load("dynamodb-stream-delete.json")) == {"batchItemFailures": []}
    assert platform.removed[0][0] == "orders-sink"
    assert platform.removed[0][1]["consumer_groups"] == {"orders": "connect-orders-sink"}


def test_retriable_failures_are_reported_per_record(parts) -> None:
    store, platform, handler = parts
    store.create_connector("orders-sink", sink())
    store.create_connector("payments-sink", sink(name="payments-sink", topics="payments",
                                                 **{"lambda.batch.size": "0"}))  # fails for good
    platform.fail_with = [PlatformThrottled("TooManyRequestsException")] * 5  # orders-sink runs first

    result = handler.handle(load("dynamodb-stream.json"))

    # orders-sink is retried by Lambda; payments-sink's invalid config would fail forever, so it is
    # only recorded as FAILED (the stream moves on)
    assert result == {"batchItemFailures": [{"itemIdentifier": "4100000000019001"}]}
    assert store.get_connector_status("payments-sink").state == "FAILED"


def test_direct_invoke_and_rescan(parts) -> None:
    store, _, handler = parts
    store.create_connector("orders-sink", sink())
    store.create_connector("other", sink(name="other", topics="other"))

    assert handler.handle(load("reconcile.json")) == {"connector": "orders-sink", "action": "ensured",
                                                      "state": "RUNNING"}
    summary = handler.handle({"rescan": True})
    assert summary["failed"] == 0 and [r["connector"] for r in summary["reconciled"]] == ["orders-sink", "other"]


def test_unknown_events_are_refused(parts) -> None:
    with pytest.raises(ValueError, match="Unrecognised reconciler event"):
        parts[2].handle({"hello": "world"})
