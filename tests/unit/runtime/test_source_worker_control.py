"""A running source task notices pause/stop/delete/reconfigure/restart within its check interval.

The worker runs on a fake clock that only moves when the task polls (``POLL_S`` per poll), so
"within the interval" is measured in polls, not in wall-clock time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from lambda_connect.runtime.source_worker import SourceWorker
from lambda_connect.state.base import StatusEntry
from lambda_connect.state.memory import InMemoryStateStore

from tests.unit.runtime import test_source_worker_twins as twins
from tests.unit.runtime.test_source_worker import Statuses, connector, offsets
from tests.unit.runtime.test_source_worker_twins import FakeCluster, FakeProducer

BUDGET_MS = 600_000
POLL_S = 0.25


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Script:
    """A poll hook: advances the clock by one poll and runs ``action`` once, at poll ``at``."""

    def __init__(self, clock: Clock, at: int, action: Callable[[], None]) -> None:
        self.clock, self.at, self.action = clock, at, action
        self.fired_at_poll: int | None = None

    def __call__(self, task: Any) -> None:
        self.clock.now += POLL_S
        if task.polls == self.at and self.fired_at_poll is None:
            self.fired_at_poll = task.polls
            self.action()


@pytest.fixture
def store() -> InMemoryStateStore:
    return InMemoryStateStore()


@pytest.fixture
def cluster() -> FakeCluster:
    return FakeCluster()


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make_worker(store: InMemoryStateStore, cluster: FakeCluster, clock: Clock, *, interval: float = 1.0,
                status: bool = True, **kw: Any) -> SourceWorker:
    return SourceWorker(store, twins.registry(), kw.pop("factory", cluster.factory), clock,
                        status=Statuses(store) if status else None, worker_id="w1", sleep=lambda s: None,
                        control_check_interval_s=interval, **kw)


def scripted(store: InMemoryStateStore, clock: Clock, at: int, action: Callable[[], None], **extra: str) -> Script:
    script = Script(clock, at, action)
    hook = f"script-{id(script)}"
    twins.HOOKS[hook] = script
    connector(store, count="100000", batch="2", **{"poll.hook": hook, **extra})
    return script


def polls_after(result: Any, script: Script, batch: int = 2) -> int:
    assert script.fired_at_poll is not None
    return result.records_polled // batch - script.fired_at_poll


@pytest.mark.parametrize("interval", [1.0, 0.5])
def test_pause_ends_the_run_within_the_check_interval_and_commits_what_kafka_confirmed(store, cluster, clock,
                                                                                       interval):
    worker = make_worker(store, cluster, clock, interval=interval)
    script = scripted(store, clock, 3, lambda: store.set_target_state("seq", "PAUSED"))
    result = worker.run_task("seq", 0, BUDGET_MS, "inv")

    assert (result.outcome, result.stop_reason) == ("paused", "paused")
    assert polls_after(result, script) * POLL_S <= interval  # noticed within one interval
    produced = result.records_produced
    assert produced == result.records_polled > 0
    assert cluster.values("out") == [f"line-0-{n}" for n in range(1, produced + 1)]
    assert offsets(store) == {0: produced}  # every acknowledged record's offset is committed
    assert store.get_lease("seq", 0).expires_at <= time.time()  # released: the next tick need not wait

    store.set_target_state("seq", "RUNNING")
    twins.HOOKS[f"script-{id(script)}"] = lambda task: None
    store.update_connector("seq", {**store.get_connector("seq").config, "count": str(produced + 3)})
    resumed = make_worker(store, cluster, clock).run_task("seq", 0, BUDGET_MS, "inv-2")
    assert resumed.outcome == "completed"
    assert cluster.values("out") == [f"line-0-{n}" for n in range(1, produced + 4)]  # no gap, no duplicate


class LazyCluster(FakeCluster):
    """Kafka confirms nothing until ``flush``: records are in flight when the pause is noticed."""

    def factory(self, overrides: Any, transactional_id: str | None) -> FakeProducer:
        producer = super().factory(overrides, transactional_id)
        producer.poll = lambda timeout=0: 0  # type: ignore[method-assign]
        return producer


def test_records_in_flight_at_the_pause_are_flushed_then_committed(store, clock):
    cluster = LazyCluster()
    worker = make_worker(store, cluster, clock)
    scripted(store, clock, 2, lambda: store.set_target_state("seq", "STOPPED"))
    result = worker.run_task("seq", 0, BUDGET_MS, "inv")

    assert result.outcome == "stopped"
    assert result.records_produced == result.records_polled > 0
    assert offsets(store) == {0: result.records_polled}


def test_a_delivery_rejected_after_the_pause_limits_the_commit_to_the_confirmed_prefix(store, clock):
    cluster = LazyCluster()
    cluster.fail = lambda topic, value: "Broker: Message size too large" if value == b"line-0-4" else None
    worker = make_worker(store, cluster, clock)
    scripted(store, clock, 2, lambda: store.set_target_state("seq", "PAUSED"))
    result = worker.run_task("seq", 0, BUDGET_MS, "inv")

    assert result.outcome == "failed" and "Message size too large" in result.error
    assert offsets(store) == {0: 3}


def test_exactly_once_pause_commits_the_open_transaction_then_its_offsets(store, cluster, clock):
    worker = make_worker(store, cluster, clock)
    scripted(store, clock, 3, lambda: store.set_target_state("seq", "PAUSED"),
             **{"exactly.once.support": "required", "transaction.boundary": "interval",
                "transaction.boundary.interval.ms": "600000"})
    result = worker.run_task("seq", 0, BUDGET_MS, "inv")

    assert result.outcome == "paused" and result.transactions == 1
    assert cluster.producers[0].calls == ["init", "begin", "commit"]
    assert len(cluster.values("out")) == result.records_polled
    assert offsets(store) == {0: result.records_polled}


def test_deleted_connector_ends_the_run_without_resurrecting_its_offsets(store, cluster, clock):
    worker = make_worker(store, cluster, clock)
    script = scripted(store, clock, 3, lambda: store.delete_connector("seq"))
    result = worker.run_task("seq", 0, BUDGET_MS, "inv")

    assert result.outcome == "deleted" and result.error is None
    assert polls_after(result, script) * POLL_S <= 1.0
    assert store.get_connector("seq") is None
    assert store.get_offsets("seq") == [] and store.get_lease("seq", 0) is None
    assert store.get_task_statuses("seq") == {}


def test_deleted_exactly_once_connector_aborts_its_open_transaction(store, cluster, clock):
    worker = make_worker(store, cluster, clock)
    scripted(store, clock, 3, lambda: store.delete_connector("seq"),
             **{"exactly.once.support": "required", "transaction.boundary": "interval",
                "transaction.boundary.interval.ms": "600000"})
    result = worker.run_task("seq", 0, BUDGET_MS, "inv")

    assert result.outcome == "deleted"
    assert cluster.producers[0].calls[-1] == "abort" and cluster.logs == {}


def test_config_change_ends_the_run_and_the_next_run_uses_the_new_config(store, cluster, clock):
    worker = make_worker(store, cluster, clock)

    def reconfigure() -> None:
        store.update_connector("seq", {**store.get_connector("seq").config, "prefix": "v2", "count": "0"})

    scripted(store, clock, 3, reconfigure)
    result = worker.run_task("seq", 0, BUDGET_MS, "inv")
    assert result.outcome == "reconfigured"
    done = result.records_produced
    assert offsets(store) == {0: done}

    store.update_connector("seq", {**store.get_connector("seq").config, "count": str(done + 2)})
    again = worker.run_task("seq", 0, BUDGET_MS, "inv-2")
    assert again.outcome == "completed"
    assert cluster.values("out")[done:] == [f"v2-0-{done + 1}", f"v2-0-{done + 2}"]


def test_task_restart_request_ends_the_run_and_the_next_run_reports_running(store, cluster, clock):
    worker = make_worker(store, cluster, clock)
    requested = StatusEntry("RESTARTING", "rest", None, time.time() + 1)
    scripted(store, clock, 3, lambda: store.put_task_status("seq", 0, requested))
    result = worker.run_task("seq", 0, BUDGET_MS, "inv")

    assert result.outcome == "restarting"
    assert offsets(store) == {0: result.records_produced}
    assert store.get_task_statuses("seq")[0].state == "RESTARTING"  # left for the reconciler to answer

    store.update_connector("seq", {**store.get_connector("seq").config, "count": str(result.records_produced + 1)})
    again = worker.run_task("seq", 0, BUDGET_MS, "inv-2")
    assert again.outcome == "completed" and again.records_produced == 1
    assert store.get_task_statuses("seq")[0].state == "RUNNING"


def test_reconciler_answer_to_a_restart_also_ends_the_run(store, cluster, clock):
    worker = make_worker(store, cluster, clock)
    answered = StatusEntry("UNASSIGNED", "reconciler", None, time.time() + 1)
    scripted(store, clock, 3, lambda: store.put_task_status("seq", 0, answered))
    assert worker.run_task("seq", 0, BUDGET_MS, "inv").outcome == "restarting"


def test_restart_request_older_than_the_run_and_other_tasks_restarts_are_ignored(store, cluster, clock):
    worker = make_worker(store, cluster, clock, status=False)  # nothing overwrites the old request
    store_status = store.put_task_status
    connector(store, count="6", batch="2")
    store_status("seq", 0, StatusEntry("RESTARTING", "rest", None, time.time() - 60))
    store_status("seq", 1, StatusEntry("RESTARTING", "rest", None, time.time() + 60))
    clock_hook = f"tick-{id(clock)}"
    twins.HOOKS[clock_hook] = lambda task: setattr(clock, "now", clock.now + POLL_S)
    store.update_connector("seq", {**store.get_connector("seq").config, "poll.hook": clock_hook})
    result = worker.run_task("seq", 0, BUDGET_MS, "inv")
    assert (result.outcome, result.records_produced) == ("completed", 6)


class FlakyStore(InMemoryStateStore):
    """Once armed, fails the second ``get_connector`` (the first in-run check) once."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = -1_000_000  # disarmed
        self.failed = 0

    def get_connector(self, name: str) -> Any:
        self.reads += 1
        if self.reads == 2:
            self.failed += 1
            raise ConnectionError("state table throttled")
        return super().get_connector(name)


def test_a_failed_state_read_does_not_fail_the_task(cluster, clock):
    store = FlakyStore()
    worker = make_worker(store, cluster, clock)
    script = scripted(store, clock, 2, lambda: None)
    store.update_connector("seq", {**store.get_connector("seq").config, "count": "20"})
    store.reads = 0
    result = worker.run_task("seq", 0, BUDGET_MS, "inv")
    assert script.fired_at_poll == 2
    assert store.failed == 1 and store.reads > 2  # it looked again after the failure
    assert (result.outcome, result.records_produced) == ("completed", 20)
    assert offsets(store) == {0: 20}


def test_request_stop_ends_running_runs_committed_and_refuses_new_ones(store, cluster, clock):
    holder: list[SourceWorker] = []
    worker = make_worker(store, cluster, clock)
    holder.append(worker)
    script = scripted(store, clock, 3, lambda: holder[0].request_stop())
    result = worker.run_task("seq", 0, BUDGET_MS, "inv")

    assert result.outcome == "shutdown"
    assert polls_after(result, script) * POLL_S <= 1.0
    assert offsets(store) == {0: result.records_produced}
    assert store.get_lease("seq", 0).expires_at <= time.time()
    later = worker.run_task("seq", 0, BUDGET_MS, "inv-2")
    assert later.outcome == "shutdown" and later.records_polled == 0
