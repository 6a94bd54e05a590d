"""The reconciler against an in-memory platform: desired state, statuses, restarts, failures."""

from __future__ import annotations

import pytest
from lambda_connect.runtime.platform import (
    PlatformError,
    PlatformThrottled,
    SinkSpec,
    SourceSpec,
    connector_alias,
)
from lambda_connect.runtime.reconciler import Reconciler, StatusEntry
from lambda_connect.state.memory import InMemoryStateStore


class FakePlatform:
    """Keeps 'deployed' sinks and sources in dicts; can be told to fail the next calls."""

    def __init__(self, topics: list[str] | None = None) -> None:
        self.sinks: dict[str, SinkSpec] = {}
        self.sources: dict[str, SourceSpec] = {}
        self.calls: list[tuple[str, str]] = []
        self.removed: list[tuple[str, dict]] = []
        self.topics = topics or []
        self.fail_with: list[Exception] = []

    def _maybe_fail(self) -> None:
        if self.fail_with:
            raise self.fail_with.pop(0)

    def ensure_sink(self, name: str, spec: SinkSpec, current: dict) -> dict:
        self.calls.append(("ensure_sink", name))
        self._maybe_fail()
        self.sinks[name] = spec
        esms = {t: {"uuid": f"uuid-{t}", "consumer_group": spec.consumer_groups[t],
                    "state": "Enabled" if spec.enabled else "Disabled"} for t in spec.topics}
        return {"alias": spec.alias, "esms": esms}

    def ensure_source(self, name: str, spec: SourceSpec, current: dict) -> dict:
        self.calls.append(("ensure_source", name))
        self._maybe_fail()
        self.sources[name] = spec
        return {"schedules": [f"{spec.alias}-task-{n}" for n in range(spec.tasks)]}

    def remove(self, name: str, current: dict) -> None:
        self.calls.append(("remove", name))
        self._maybe_fail()
        self.removed.append((name, current))
        self.sinks.pop(name, None)
        self.sources.pop(name, None)

    def list_topics(self) -> list[str]:
        return list(self.topics)


def sink(name: str = "orders-sink", **extra: str) -> dict[str, str]:
    config = {"name": name, "connector.class": "FileStreamSink", "topics": "orders", "file": "/tmp/x.txt"}
    config.update(extra)
    return config


def source(name: str = "lines", **extra: str) -> dict[str, str]:
    config = {"name": name, "connector.class": "FileStreamSource", "topic": "lines", "file": "/tmp/in.txt"}
    config.update(extra)
    return config


@pytest.fixture
def store() -> InMemoryStateStore:
    return InMemoryStateStore()


@pytest.fixture
def platform() -> FakePlatform:
    return FakePlatform(topics=["orders", "orders.eu", "orders-dlq", "__consumer_offsets", "payments"])


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def reconciler(store: InMemoryStateStore, platform: FakePlatform, sleeps: list[float]) -> Reconciler:
    ticks = iter(range(1000, 100000))
    return Reconciler(store, platform, clock=lambda: float(next(ticks)), sleep=sleeps.append)


def test_new_sink_gets_alias_mapping_status_and_task_configs(store, platform, reconciler) -> None:
    store.create_connector("orders-sink", sink(**{"tasks.max": "2", "lambda.batch.size": "500"}))
    result = reconciler.reconcile("orders-sink")

    assert result.ok and result.state == "RUNNING"
    spec = platform.sinks["orders-sink"]
    assert spec.topics == ("orders",)
    assert spec.consumer_groups == {"orders": "connect-orders-sink"}
    assert spec.enabled and spec.settings.batch_size == 500
    resources = store.get_resources("orders-sink")
    assert resources["alias"] == "connect-orders-sink"
    assert resources["consumer_groups"] == {"orders": "connect-orders-sink"}
    assert store.connector_for_alias("connect-orders-sink") == "orders-sink"
    assert store.get_connector_status("orders-sink").state == "RUNNING"
    configs = store.get_task_configs("orders-sink")
    assert configs.config_version == 1 and len(configs.configs) == 2 and configs.configs[0]["topics"] == "orders"


def test_reconciling_an_unchanged_connector_again_writes_nothing(store, reconciler) -> None:
    store.create_connector("orders-sink", sink())
    reconciler.reconcile("orders-sink")
    status, resources = store.get_connector_status("orders-sink"), store.get_resources("orders-sink")

    reconciler.reconcile("orders-sink")

    assert store.get_connector_status("orders-sink") == status  # same updated_at: not rewritten
    assert store.get_resources("orders-sink") == resources


def test_pause_resume_and_stop_follow_the_target_state(store, platform, reconciler) -> None:
    store.create_connector("orders-sink", sink())
    reconciler.reconcile("orders-sink")

    store.set_target_state("orders-sink", "PAUSED")
    assert reconciler.reconcile("orders-sink").state == "PAUSED"
    assert not platform.sinks["orders-sink"].enabled
    assert store.get_connector_status("orders-sink").state == "PAUSED"

    store.set_target_state("orders-sink", "RUNNING")
    reconciler.reconcile("orders-sink")
    assert platform.sinks["orders-sink"].enabled
    assert store.get_connector_status("orders-sink").state == "RUNNING"

    store.put_task_status("orders-sink", 0, StatusEntry("RUNNING", "w"))
    store.set_target_state("orders-sink", "STOPPED")
    reconciler.reconcile("orders-sink")
    assert not platform.sinks["orders-sink"].enabled  # mappings stay (disabled): their groups keep offsets
    assert store.get_connector_status("orders-sink").state == "STOPPED"
    assert store.get_task_configs("orders-sink") is None
    assert store.get_task_statuses("orders-sink") == {}


def test_topics_regex_is_resolved_against_the_cluster(store, platform, reconciler) -> None:
    store.create_connector("orders-sink", sink(topics="", **{
        "topics.regex": "orders.*|__.*", "errors.deadletterqueue.topic.name": "orders-dlq",
        "errors.tolerance": "all"}))
    refused = reconciler.reconcile("orders-sink")  # the DLQ may not match the regex
    assert not refused.ok and "The DLQ topic 'orders-dlq' may not be included" in refused.error
    store.update_connector("orders-sink", sink(topics="", **{"topics.regex": "orders(\\..*)?|__.*"}))

    reconciler.reconcile("orders-sink")

    spec = platform.sinks["orders-sink"]
    assert spec.topics == ("orders", "orders.eu")  # internal __ topics never match
    assert spec.consumer_groups == {"orders": "connect-orders-sink-orders",
                                    "orders.eu": "connect-orders-sink-orders.eu"}


def test_rescan_picks_up_new_matching_topics_and_keeps_existing_groups(store, platform, reconciler) -> None:
    store.create_connector("orders-sink", sink(topics="", **{"topics.regex": "orders.*"}))
    platform.topics = ["orders"]
    reconciler.reconcile_all()
    assert platform.sinks["orders-sink"].consumer_groups == {"orders": "connect-orders-sink"}

    platform.topics = ["orders", "orders.us"]
    reconciler.reconcile_all()

    groups = platform.sinks["orders-sink"].consumer_groups
    assert groups == {"orders": "connect-orders-sink", "orders.us": "connect-orders-sink-orders.us"}
    assert store.get_resources("orders-sink")["consumer_groups"] == groups


def test_several_topics_get_one_unique_group_each(store, platform, reconciler) -> None:
    store.create_connector("orders-sink", sink(topics="orders,payments"))
    reconciler.reconcile("orders-sink")
    groups = platform.sinks["orders-sink"].consumer_groups
    assert groups == {"orders": "connect-orders-sink-orders", "payments": "connect-orders-sink-payments"}
    assert len(set(groups.values())) == 2


def test_platform_failure_marks_the_connector_failed_with_a_trace(store, platform, reconciler) -> None:
    store.create_connector("orders-sink", sink())
    platform.fail_with = [PlatformError("AccessDeniedException: not allowed", {"alias": "connect-orders-sink"})]

    result = reconciler.reconcile("orders-sink")

    assert not result.ok and result.retriable
    status = store.get_connector_status("orders-sink")
    assert status.state == "FAILED" and "AccessDeniedException: not allowed" in status.trace
    assert store.get_resources("orders-sink")["alias"] == "connect-orders-sink"  # partial work is recorded

    assert reconciler.reconcile("orders-sink").ok
    assert store.get_connector_status("orders-sink").state == "RUNNING"
    assert store.get_connector_status("orders-sink").trace is None


def test_throttling_is_retried_with_backoff(store, platform, reconciler, sleeps) -> None:
    store.create_connector("orders-sink", sink())
    platform.fail_with = [PlatformThrottled("TooManyRequestsException"), PlatformThrottled("TooManyRequestsException")]

    assert reconciler.reconcile("orders-sink").ok

    assert platform.calls.count(("ensure_sink", "orders-sink")) == 3
    assert sleeps == [1.0, 2.0]


def test_throttling_that_never_ends_fails_retriably(store, platform, reconciler) -> None:
    store.create_connector("orders-sink", sink())
    platform.fail_with = [PlatformThrottled("TooManyRequestsException")] * 5
    result = reconciler.reconcile("orders-sink")
    assert not result.ok and result.retriable
    assert store.get_connector_status("orders-sink").state == "FAILED"


def test_invalid_lambda_keys_fail_the_connector_without_touching_the_platform(store, platform, reconciler) -> None:
    store.create_connector("orders-sink", sink(**{"lambda.maximum.retry.attempts": "3"}))

    result = reconciler.reconcile("orders-sink")

    assert not result.ok and not result.retriable
    assert "lambda.maximum.retry.attempts" in store.get_connector_status("orders-sink").trace
    assert "provisioned mode" in store.get_connector_status("orders-sink").trace
    assert ("ensure_sink", "orders-sink") not in platform.calls


def test_deleted_connector_loses_all_resources(store, platform, reconciler) -> None:
    store.create_connector("orders-sink", sink())
    reconciler.reconcile("orders-sink")
    known = store.get_resources("orders-sink")
    store.delete_connector("orders-sink")

    result = reconciler.reconcile("orders-sink", known_resources=known)

    assert result.action == "removed"
    assert platform.removed == [("orders-sink", known)]
    assert "orders-sink" not in platform.sinks
    assert store.connector_for_alias("connect-orders-sink") is None


def test_restart_requests_are_answered(store, platform, reconciler) -> None:
    store.create_connector("orders-sink", sink(**{"tasks.max": "2"}))
    reconciler.reconcile("orders-sink")
    calls = len(platform.calls)
    store.put_connector_status("orders-sink", StatusEntry("RESTARTING", "rest"))
    store.put_task_status("orders-sink", 0, StatusEntry("RESTARTING", "rest"))
    store.put_task_status("orders-sink", 1, StatusEntry("FAILED", "sink", "boom"))

    reconciler.reconcile("orders-sink")

    assert len(platform.calls) == calls + 1  # re-converged (re-enables anything disabled)
    assert store.get_connector_status("orders-sink").state == "RUNNING"
    tasks = store.get_task_statuses("orders-sink")
    assert tasks[0].state == "RUNNING" and tasks[0].trace is None
    assert tasks[1].state == "FAILED"  # not asked to restart: untouched


def test_source_connector_gets_one_schedule_per_task(store, platform, reconciler) -> None:
    store.create_connector("lines", source(**{"tasks.max": "3", "poll.interval.ms": "150000"}))

    reconciler.reconcile("lines")

    spec = platform.sources["lines"]
    assert spec.tasks == 3 and spec.poll_interval_ms == 150000 and spec.enabled
    assert spec.alias == connector_alias("lines")
    assert store.get_resources("lines")["schedules"] == [f"connect-lines-task-{n}" for n in range(3)]
    assert store.get_connector_status("lines").state == "RUNNING"
    assert store.get_task_configs("lines") is None  # generated by the source tasks themselves

    store.set_target_state("lines", "PAUSED")
    reconciler.reconcile("lines")
    assert not platform.sources["lines"].enabled


def test_restarting_a_source_connector_regenerates_its_task_configs(store, reconciler) -> None:
    store.create_connector("lines", source())
    reconciler.reconcile("lines")
    store.put_task_configs("lines", 1, [{"file": "/tmp/in.txt"}])
    store.put_task_status("lines", 0, StatusEntry("RESTARTING", "rest"))
    store.put_connector_status("lines", StatusEntry("RESTARTING", "rest"))

    reconciler.reconcile("lines")

    assert store.get_task_configs("lines") is None
    assert store.get_task_statuses("lines")[0].state == "UNASSIGNED"


def test_switching_a_connector_from_sink_to_source_removes_the_sink(store, platform, reconciler) -> None:
    store.create_connector("flip", sink(name="flip"))
    reconciler.reconcile("flip")
    store.update_connector("flip", source(name="flip"))

    reconciler.reconcile("flip")

    assert [c for c in platform.calls if c[1] == "flip"] == [
        ("ensure_sink", "flip"), ("remove", "flip"), ("ensure_source", "flip")]
    assert store.get_resources("flip")["kind"] == "source"


def test_default_poll_interval_follows_the_connectors_natural_cadence(store, platform, reconciler) -> None:
    """FileStreamSource tails its file (Kafka's task waits one second); it ticked once a minute."""
    store.create_connector("lines", source())
    reconciler.reconcile("lines")
    assert platform.sources["lines"].poll_interval_ms == 1000


def test_default_poll_interval_is_a_minute_without_a_natural_cadence(store, platform, reconciler) -> None:
    store.create_connector("gen", {"name": "gen", "connector.class": "DatagenConnector", "kafka.topic": "t",
                                   "quickstart": "orders"})
    reconciler.reconcile("gen")
    assert platform.sources["gen"].poll_interval_ms == 60_000
