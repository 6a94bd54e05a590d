"""The local runtime's record between runs: the restart report and the leases of a dead runtime."""

from __future__ import annotations

import socket
import subprocess
import sys

from lambda_connect.local.ledger import LEDGER_KEY, Ledger, previous_run_report
from lambda_connect.state.memory import InMemoryStateStore


def _store() -> InMemoryStateStore:
    store = InMemoryStateStore()
    store.create_connector("src", {"connector.class": "DatagenConnector", "tasks.max": "2"})
    store.create_connector("snk", {"connector.class": "FileStreamSink", "topics": "orders",
                                   "errors.tolerance": "all", "errors.deadletterqueue.topic.name": "orders-dlq"})
    store.put_resources("src", {"kind": "source", "alias": "a-src"})
    store.put_resources("snk", {"kind": "sink", "alias": "a-snk"})
    store.add_active_topics("src", ["orders"])
    lease = store.acquire_lease("src", 0, "x", 30)
    assert lease is not None
    store.commit_offsets("src", [({"task": 0}, {"current.iteration": 600})], task=0, epoch=lease.epoch)
    store.release_lease(lease)
    return store


def _earlier_run(store: InMemoryStateStore) -> None:
    ledger = Ledger(store)
    ledger.record_broker(cluster_id="old", bootstrap="127.0.0.1:1", storage="memory://tansu/")
    ledger.record_positions({"orders": 600}, {"snk": {"orders": 450}})


def test_the_ledger_is_no_connector() -> None:
    store = _store()
    _earlier_run(store)
    assert store.list_connectors() == ["snk", "src"]
    assert LEDGER_KEY.startswith("\x1f")


def test_a_new_in_memory_broker_is_reported_per_connector_with_the_gap() -> None:
    store = _store()
    _earlier_run(store)
    report = previous_run_report(Ledger(store), cluster_id="new", store=store)
    assert len(report) == 2, report
    sink, source = report
    assert sink.startswith("sink connector snk: the previous run's embedded broker (old) kept its topics in memory")
    assert "received 450 record(s) of orders and not yet 150" in sink
    assert sink.endswith("Its dead letter queue topic orders-dlq is gone too.")
    assert source.startswith("source connector src:")
    assert "run ahead of what any sink received by 150 of 600 record(s) in orders (most read by a sink: 450)" in source
    assert "DELETE /connectors/src/offsets" in source


def test_nothing_is_reported_for_the_same_broker_a_durable_one_or_a_first_run() -> None:
    store = _store()
    assert previous_run_report(Ledger(store), cluster_id="new", store=store) == []
    _earlier_run(store)
    assert previous_run_report(Ledger(store), cluster_id="old", store=store) == []
    Ledger(store).record_broker(cluster_id="s3", bootstrap="127.0.0.1:2", storage="s3://b/")
    assert previous_run_report(Ledger(store), cluster_id="other", store=store) == []


def test_without_a_count_the_report_says_the_gap_cannot_be_told() -> None:
    store = _store()
    Ledger(store).record_broker(cluster_id="old", bootstrap="127.0.0.1:1", storage="memory://tansu/")
    report = previous_run_report(Ledger(store), cluster_id="new", store=store)
    assert all("cannot be told" in line for line in report), report


def test_leases_of_a_dead_runtime_on_this_host_are_released_and_others_kept() -> None:
    store = _store()
    dead = Ledger(store)
    dead_tag = dead.register_instance()
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead.data["instances"][dead_tag]["pid"] = int(gone.stdout)  # a process that has exited
    dead.data["instances"][dead_tag]["start"] = None
    dead.save()
    assert store.acquire_lease("src", 0, f"{dead_tag}-1111-2222-3333-444444444444", 300) is not None
    assert store.acquire_lease("src", 1, "someone-else", 300) is not None

    live = Ledger(store)
    assert live.release_dead_leases(store.list_connectors()) == ["src-0"]
    assert store.acquire_lease("src", 0, "next", 30) is not None  # free at once
    assert store.acquire_lease("src", 1, "next", 30) is None  # not ours to break
    assert dead_tag not in live.data["instances"]


def test_a_live_runtime_keeps_its_leases() -> None:
    store = _store()
    running = Ledger(store)
    tag = running.register_instance()  # this very process: alive
    assert running.data["instances"][tag]["host"] == socket.gethostname()
    assert store.acquire_lease("src", 0, f"{tag}-1111-2222-3333-444444444444", 300) is not None
    assert Ledger(store).release_dead_leases(store.list_connectors()) == []


def test_source_request_ids_carry_the_runtime_tag_and_stay_uuid_shaped() -> None:
    import uuid

    from lambda_connect.local.scheduler import TaskSchedule

    schedule = TaskSchedule(name="s", connector="src", task=0, interval_ms=1000, invoke=lambda e, c: None,
                            function_name="f", function_arn="arn", timeout_ms=1000, request_id_prefix="abcd1234")
    request_id = schedule._request_id()
    assert request_id.startswith("abcd1234-") and str(uuid.UUID(request_id)) == request_id


def test_a_sink_that_read_past_the_counted_end_offset_gives_no_negative_gap() -> None:
    # tansu counts a topic's end to its last batch's first offset, so a sink may have read past it
    store = _store()
    ledger = Ledger(store)
    ledger.record_broker(cluster_id="old", bootstrap="127.0.0.1:1", storage="memory://tansu/")
    ledger.record_positions({"orders": 2250}, {"snk": {"orders": 2252}})
    sink, source = previous_run_report(Ledger(store), cluster_id="new", store=store)
    assert "received 2252 record(s) of orders and not yet 0" in sink
    assert "run ahead of what any sink received by 0 of 2252 record(s) in orders (most read by a sink: 2252)" in source
