"""SourceWorker against the in-memory state store and a producer twin (no broker)."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import pytest
from lambda_connect.api.errors import NotFoundException
from lambda_connect.runtime.source_worker import SourceWorker
from lambda_connect.state.base import StatusEntry
from lambda_connect.state.memory import InMemoryStateStore

from tests.unit.runtime.test_source_worker_twins import FakeCluster, SequenceSourceConnector, registry

BUDGET_MS = 30_000


class Statuses:
    def __init__(self, store: InMemoryStateStore) -> None:
        self.store = store

    def task_running(self, connector: str, task_id: int, worker_id: str) -> None:
        self.store.put_task_status(connector, task_id, StatusEntry("RUNNING", worker_id, None, time.time()))

    def task_failed(self, connector: str, task_id: int, worker_id: str, trace: str) -> None:
        self.store.put_task_status(connector, task_id, StatusEntry("FAILED", worker_id, trace, time.time()))

    def topics_active(self, connector: str, topics: Iterable[str]) -> None:
        self.store.add_active_topics(connector, topics)


@pytest.fixture
def store() -> InMemoryStateStore:
    return InMemoryStateStore()


@pytest.fixture
def cluster() -> FakeCluster:
    return FakeCluster()


@pytest.fixture
def worker(store: InMemoryStateStore, cluster: FakeCluster) -> SourceWorker:
    return SourceWorker(store, registry(), cluster.factory, status=Statuses(store), worker_id="w1",
                        sleep=lambda s: None)


def connector(store: InMemoryStateStore, name: str = "seq", **extra: str) -> str:
    config = {
        "name": name,
        "connector.class": SequenceSourceConnector.name,
        "topic": "out",
        "value.converter": "org.apache.kafka.connect.storage.StringConverter",
        "key.converter": "org.apache.kafka.connect.storage.StringConverter",
        **extra,
    }
    store.create_connector(name, config)
    return name


def offsets(store: InMemoryStateStore, name: str = "seq") -> dict[int, int]:
    return {p["part"]: o["n"] for p, o in store.get_offsets(name)}


def test_records_arrive_in_order_and_a_second_run_resumes_after_the_committed_offset(store, cluster, worker):
    connector(store, count="7", batch="3")
    first = worker.run_task("seq", 0, BUDGET_MS, "inv-1")
    assert first.outcome == "completed" and first.stop_reason == "no_data"
    assert cluster.values("out") == [f"line-0-{n}" for n in range(1, 8)]
    assert offsets(store) == {0: 7}
    assert (first.records_polled, first.records_produced, first.offsets_committed) == (7, 7, 1)
    assert store.get_task_statuses("seq")[0].state == "RUNNING"
    assert store.get_active_topics("seq") == {"out"}

    store.update_connector("seq", {**store.get_connector("seq").config, "count": "9"})
    second = worker.run_task("seq", 0, BUDGET_MS, "inv-2")
    assert cluster.values("out")[7:] == ["line-0-8", "line-0-9"]
    assert second.records_produced == 2 and offsets(store) == {0: 9}


def test_producer_gets_overrides_and_records_keep_their_kafka_partition(store, cluster, worker):
    connector(store, count="2", **{"producer.override.linger.ms": "7", "kafka.partition": "3"})
    worker.run_task("seq", 0, BUDGET_MS, "inv")
    assert cluster.producers[0].overrides == {"linger.ms": "7"}
    assert cluster.producers[0].transactional_id is None
    assert [m["partition"] for m in cluster.logs["out"]] == [3, 3]


def test_paused_or_stopped_connector_returns_without_touching_kafka(store, cluster, worker):
    connector(store)
    store.set_target_state("seq", "PAUSED")
    assert worker.run_task("seq", 0, BUDGET_MS, "inv").outcome == "paused"
    store.set_target_state("seq", "STOPPED")
    assert worker.run_task("seq", 0, BUDGET_MS, "inv").outcome == "stopped"
    assert cluster.producers == [] and store.get_lease("seq", 0) is None


def test_unknown_connector_or_task_is_a_clear_error(store, worker):
    with pytest.raises(NotFoundException, match="Connector nope not found"):
        worker.run_task("nope", 0, BUDGET_MS, "inv")
    connector(store, **{"tasks.max": "2"})
    with pytest.raises(NotFoundException, match=r"Task seq-2 not found: connector seq has tasks.max=2"):
        worker.run_task("seq", 2, BUDGET_MS, "inv")


def test_live_lease_of_another_invocation_means_no_kafka_and_no_offsets(store, cluster, worker):
    connector(store)
    held = store.acquire_lease("seq", 0, "other-invocation", 600)
    result = worker.run_task("seq", 0, BUDGET_MS, "me")
    assert result.outcome == "lease_held"
    assert cluster.producers == [] and store.get_offsets("seq") == []
    assert store.get_lease("seq", 0) == held


def test_lease_is_released_and_its_epoch_grows_per_run(store, worker):
    connector(store, count="1")
    first = worker.run_task("seq", 0, BUDGET_MS, "a")
    second = worker.run_task("seq", 0, BUDGET_MS, "b")
    assert second.epoch == first.epoch + 1
    assert store.get_lease("seq", 0).expires_at <= time.time()


def test_task_configs_are_generated_once_per_version_and_extra_tasks_idle(store, cluster, worker):
    connector(store, count="1", **{"tasks.max": "3", "task.count": "2"})
    SequenceSourceConnector.generated = 0
    worker.run_task("seq", 0, BUDGET_MS, "a")
    worker.run_task("seq", 1, BUDGET_MS, "b")
    assert SequenceSourceConnector.generated == 1
    stored = store.get_task_configs("seq")
    assert stored.config_version == store.get_connector("seq").version
    assert [c["task.index"] for c in stored.configs] == ["0", "1"]
    assert worker.run_task("seq", 2, BUDGET_MS, "c").outcome == "idle"

    store.update_connector("seq", {**store.get_connector("seq").config, "task.count": "3"})
    assert worker.run_task("seq", 2, BUDGET_MS, "d").outcome == "completed"
    assert SequenceSourceConnector.generated == 2


def test_stored_task_configs_keep_config_provider_references_not_secrets(store, worker, monkeypatch):
    monkeypatch.setenv("SEQ_TOPIC_SECRET", "out")
    connector(store, count="1", topic="${env:SEQ_TOPIC_SECRET}")
    result = worker.run_task("seq", 0, BUDGET_MS, "a")
    assert result.records_produced == 1
    assert store.get_task_configs("seq").configs[0]["topic"] == "${env:SEQ_TOPIC_SECRET}"


def test_only_the_confirmed_prefix_is_committed_when_a_delivery_fails(store, cluster, worker):
    connector(store, count="6", batch="12", partitions="2")
    cluster.reverse_delivery = True  # later records confirmed first
    cluster.fail = lambda topic, value: "Broker: Message size too large" if value == b"line-0-4" else None
    result = worker.run_task("seq", 0, BUDGET_MS, "inv")
    assert result.outcome == "failed" and "KAFKA_PRODUCE" in result.error
    # partition 0: 1..3 confirmed, 4 failed, 5..6 confirmed → only 3; partition 1 untouched by the failure
    assert offsets(store) == {0: 3, 1: 6}
    status = store.get_task_statuses("seq")[0]
    assert status.state == "FAILED" and "Message size too large" in status.trace


def test_tolerance_all_skips_failed_records_and_moves_offsets_past_them(store, cluster, worker):
    connector(store, count="4", batch="4", **{
        "errors.tolerance": "all",
        "transforms": "boom",
        "transforms.boom.type": "org.apache.kafka.connect.transforms.Cast$Value",
        "transforms.boom.spec": "int32",
    })
    # Cast of "line-0-n" to int32 fails for every record: all skipped, none produced, offsets advance
    result = worker.run_task("seq", 0, BUDGET_MS, "inv")
    assert result.outcome == "completed"
    assert result.records_failed == 4 and result.records_produced == 0
    assert offsets(store) == {0: 4}


def test_tolerated_delivery_failure_is_skipped(store, cluster, worker):
    connector(store, count="3", batch="3", **{"errors.tolerance": "all"})
    cluster.fail = lambda topic, value: "Broker: Message size too large" if value == b"line-0-2" else None
    result = worker.run_task("seq", 0, BUDGET_MS, "inv")
    assert result.outcome == "completed" and result.records_failed == 1
    assert cluster.values("out") == ["line-0-1", "line-0-3"] and offsets(store) == {0: 3}


def test_filtered_records_advance_offsets_and_are_reported_to_the_task(store, cluster, worker):
    connector(store, count="3", batch="3", **{
        "transforms": "drop",
        "transforms.drop.type": "org.apache.kafka.connect.transforms.Filter",
    })
    result = worker.run_task("seq", 0, BUDGET_MS, "inv")
    assert result.records_filtered == 3 and cluster.logs == {} and offsets(store) == {0: 3}


def test_retriable_poll_failure_polls_again_and_other_failures_fail_the_task(store, cluster, worker):
    connector(store, name="r", count="2", **{"poll.hook": "retriable-once"})
    assert worker.run_task("r", 0, BUDGET_MS, "inv").records_produced == 2
    connector(store, name="f", count="9", batch="3", **{"poll.hook": "fail-second"})
    result = worker.run_task("f", 0, BUDGET_MS, "inv")
    assert result.outcome == "failed" and "TASK_POLL" in result.error
    assert offsets(store, "f") == {0: 3}  # the first batch was confirmed before the failure
    assert store.get_task_statuses("f")[0].state == "FAILED"


def test_budget_ends_polling_and_commits_what_was_sent(store, cluster):
    now = [0.0]

    def clock() -> float:
        now[0] += 1.0  # every look at the clock costs a second
        return now[0]

    worker = SourceWorker(store, registry(), cluster.factory, clock, flush_reserve_s=0.0, commit_interval_s=1000)
    connector(store, count="1000", batch="1")
    result = worker.run_task("seq", 0, 6_000, "inv")
    assert result.stop_reason == "budget"
    assert 0 < result.records_produced < 1000
    assert offsets(store) == {0: result.records_produced}


def test_zombie_whose_lease_was_taken_over_commits_nothing(store, cluster):
    def steal(task: Any) -> None:
        if task.polls == 2:  # another invocation takes the lease mid-run (ours expired)
            store.acquire_lease("seq", 0, "newer", 600, now=time.time() + 10_000)

    from tests.unit.runtime import test_source_worker_twins as twins

    twins.HOOKS["steal"] = steal
    worker = SourceWorker(store, registry(), cluster.factory, commit_interval_s=0.0)
    connector(store, count="9", batch="3", **{"poll.hook": "steal"})
    result = worker.run_task("seq", 0, BUDGET_MS, "old")
    assert result.outcome == "fenced"
    assert offsets(store) == {0: 3}  # committed before the takeover only
    assert store.get_lease("seq", 0).owner == "newer"


def test_exactly_once_commits_offsets_only_after_each_transaction(store, cluster, worker):
    connector(store, count="5", batch="2", **{"exactly.once.support": "required"})
    result = worker.run_task("seq", 0, BUDGET_MS, "inv")
    producer = cluster.producers[0]
    assert producer.transactional_id == "seq-0"
    assert producer.calls == ["init", "begin", "commit", "begin", "commit", "begin", "commit"]
    assert result.exactly_once and result.transactions == 3
    assert cluster.values("out") == [f"line-0-{n}" for n in range(1, 6)] and offsets(store) == {0: 5}


def test_exactly_once_failed_transaction_is_aborted_and_commits_nothing(store, cluster, worker):
    connector(store, count="4", batch="4", **{"exactly.once.support": "required", "errors.tolerance": "all"})
    cluster.fail = lambda topic, value: "Broker: Not enough in-sync replicas" if value == b"line-0-2" else None
    result = worker.run_task("seq", 0, BUDGET_MS, "inv")
    assert result.outcome == "failed"
    assert cluster.producers[0].calls[-1] == "abort"
    assert cluster.logs == {} and store.get_offsets("seq") == []


def test_exactly_once_newer_producer_fences_the_older_one(store, cluster):
    older: list[Any] = []

    def takeover(task: Any) -> None:
        if task.polls == 2 and not older:
            older.append(True)
            newer = cluster.factory({}, "seq-0")
            newer.init_transactions()  # a newer invocation of the task starts its producer

    from tests.unit.runtime import test_source_worker_twins as twins

    twins.HOOKS["takeover"] = takeover
    worker = SourceWorker(store, registry(), cluster.factory)
    connector(store, count="6", batch="3", **{"exactly.once.support": "required", "poll.hook": "takeover"})
    result = worker.run_task("seq", 0, BUDGET_MS, "old")
    assert result.outcome == "fenced"
    assert cluster.values("out") == ["line-0-1", "line-0-2", "line-0-3"] and offsets(store) == {0: 3}


def test_topics_are_created_from_their_topic_creation_group(store, cluster):
    created: list[tuple[str, int, int, dict]] = []

    def factory(admin_overrides: Any) -> Any:
        def create(topic: str, partitions: int, rf: int, configs: Any) -> bool:
            created.append((topic, partitions, rf, dict(configs)))
            return True

        return create

    worker = SourceWorker(store, registry(), cluster.factory, topic_creator_factory=factory)
    connector(store, count="3", **{
        "topic.creation.default.replication.factor": "1",
        "topic.creation.default.partitions": "2",
        "topic.creation.groups": "compacted",
        "topic.creation.compacted.include": "ou.*",
        "topic.creation.compacted.cleanup.policy": "compact",
    })
    worker.run_task("seq", 0, BUDGET_MS, "inv")
    assert created == [("out", 2, 1, {"cleanup.policy": "compact"})]


@pytest.mark.parametrize(("tuning", "collector_during_run"), [(True, False), (False, True)])
def test_the_collector_is_off_while_records_are_sent_and_back_on_after(store, cluster, tuning, collector_during_run):
    import gc

    seen: list[bool] = []

    def factory(overrides: Any, transactional_id: str | None) -> Any:
        producer = cluster.factory(overrides, transactional_id)
        produce = producer.produce

        def watched(*args: Any, **kwargs: Any) -> None:
            seen.append(gc.isenabled())
            produce(*args, **kwargs)

        producer.produce = watched
        return producer

    was = gc.isenabled()
    gc.enable()
    try:
        worker = SourceWorker(store, registry(), factory, sleep=lambda s: None, gc_tuning=tuning)
        name = connector(store, count="7")
        result = worker.run_task(name, 0, BUDGET_MS, "inv")
        assert result.records_produced == 7
        assert seen == [collector_during_run] * 7
        assert gc.isenabled() is True
        assert dict(store.get_offsets(name)[0][1]) == {"n": 7}
    finally:
        if not was:
            gc.disable()
