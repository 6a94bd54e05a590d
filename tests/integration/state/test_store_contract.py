"""The StateStore contract, run against every backend: memory, SQLite, PostgreSQL, MariaDB and
DynamoDB (moto). Whatever passes here may be relied on by the REST API, the reconciler and the
workers, whichever backend a deployment uses."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from lambda_connect.api.errors import AlreadyExistsException, ConflictException, NotFoundException
from lambda_connect.state.base import Lease, StateStore, StatusEntry, TaskConfigs

from .conftest import Backend

CONFIG = {"connector.class": "FileStreamSink", "tasks.max": "2", "topics": "orders"}


def race(backend: Backend, n: int, action: Callable[[StateStore, int], Any]) -> list[Any]:
    """Run ``action`` on ``n`` threads, each with its own store handle, released together."""
    handles = [backend.open() for _ in range(n)]
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = action(handles[i], i)
        except Exception as e:
            results[i] = e

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


# -- connector configs -------------------------------------------------------------------------


def test_create_get_list(store: StateStore) -> None:
    entry = store.create_connector("b-sink", CONFIG)
    store.create_connector("a-source", {"connector.class": "Datagen"}, target_state="paused")

    assert (entry.name, entry.config, entry.version, entry.target_state) == ("b-sink", CONFIG, 1, "RUNNING")
    assert entry.created_at == entry.updated_at > 0
    assert store.get_connector("b-sink") == entry
    assert store.get_connector("a-source").target_state == "PAUSED"
    assert store.get_connector("missing") is None
    assert store.list_connectors() == ["a-source", "b-sink"]


def test_create_existing_name_is_refused(store: StateStore) -> None:
    store.create_connector("c", CONFIG)
    with pytest.raises(AlreadyExistsException, match="Connector c already exists"):
        store.create_connector("c", {"other": "x"})
    assert store.get_connector("c").config == CONFIG
    assert store.list_connectors() == ["c"]


def test_invalid_target_state_and_non_string_config_are_rejected(store: StateStore) -> None:
    with pytest.raises(ValueError, match="target state"):
        store.create_connector("c", CONFIG, target_state="SLEEPING")
    with pytest.raises(TypeError):
        store.create_connector("c", {"tasks.max": 2})  # type: ignore[dict-item]
    assert store.list_connectors() == []


def test_update_connector_bumps_version_and_replaces_config(store: StateStore) -> None:
    created = store.create_connector("c", CONFIG)
    updated = store.update_connector("c", {"connector.class": "FileStreamSink", "topics": "payments"})

    assert updated.version == 2
    assert updated.config == {"connector.class": "FileStreamSink", "topics": "payments"}
    assert updated.created_at == created.created_at
    assert updated.updated_at >= created.updated_at
    assert updated.target_state == "RUNNING"
    assert store.get_connector("c") == updated
    assert store.update_connector("c", CONFIG, expected_version=2).version == 3


def test_update_with_stale_version_conflicts_and_changes_nothing(store: StateStore) -> None:
    store.create_connector("c", CONFIG)
    store.update_connector("c", {"topics": "new"})
    with pytest.raises(ConflictException):
        store.update_connector("c", {"topics": "lost"}, expected_version=1)
    stored = store.get_connector("c")
    assert (stored.version, stored.config) == (2, {"topics": "new"})


def test_update_unknown_connector_is_not_found(store: StateStore) -> None:
    with pytest.raises(NotFoundException, match="Connector nope not found"):
        store.update_connector("nope", CONFIG)
    with pytest.raises(NotFoundException):
        store.set_target_state("nope", "PAUSED")


def test_set_target_state_bumps_version_and_keeps_config(store: StateStore) -> None:
    store.create_connector("c", CONFIG)
    paused = store.set_target_state("c", "PAUSED", expected_version=1)
    assert (paused.target_state, paused.version, paused.config) == ("PAUSED", 2, CONFIG)
    with pytest.raises(ConflictException):
        store.set_target_state("c", "STOPPED", expected_version=1)
    stopped = store.set_target_state("c", "stopped")
    assert (stopped.target_state, stopped.version) == ("STOPPED", 3)
    assert store.get_connector("c") == stopped


def test_delete_connector_removes_everything_under_it(store: StateStore) -> None:
    store.create_connector("gone", CONFIG)
    store.create_connector("kept", CONFIG)
    for name in ("gone", "kept"):
        store.put_task_configs(name, 1, [{"task.id": "0"}])
        store.put_connector_status(name, StatusEntry("RUNNING", "w1"))
        store.put_task_status(name, 0, StatusEntry("RUNNING", "w1"))
        store.commit_offsets(name, [({"file": "a"}, {"position": 10})])
        store.acquire_lease(name, 0, "w1", 60)
        store.put_resources(name, {"alias": f"alias-{name}", "esm": "uuid-1"})
        store.add_active_topics(name, ["orders"])

    assert store.delete_connector("gone") is True

    assert store.get_connector("gone") is None
    assert store.list_connectors() == ["kept"]
    assert store.get_task_configs("gone") is None
    assert store.get_connector_status("gone") is None
    assert store.get_task_statuses("gone") == {}
    assert store.get_offsets("gone") == []
    assert store.get_lease("gone", 0) is None
    assert store.get_resources("gone") == {}
    assert store.connector_for_alias("alias-gone") is None
    assert store.get_active_topics("gone") == set()
    assert store.delete_connector("gone") is False

    assert store.get_task_configs("kept") == TaskConfigs(1, [{"task.id": "0"}])
    assert store.get_offsets("kept") == [({"file": "a"}, {"position": 10})]
    assert store.connector_for_alias("alias-kept") == "kept"
    assert store.get_active_topics("kept") == {"orders"}

    recreated = store.create_connector("gone", {"topics": "again"})
    assert recreated.version == 1
    assert store.get_task_configs("gone") is None


# -- task configs ------------------------------------------------------------------------------


def test_task_configs_first_writer_wins_per_version_newer_replaces(store: StateStore) -> None:
    store.create_connector("c", CONFIG)
    assert store.get_task_configs("c") is None

    assert store.put_task_configs("c", 1, [{"task": "a"}, {"task": "b"}]) is True
    assert store.put_task_configs("c", 1, [{"task": "other"}]) is False
    assert store.get_task_configs("c") == TaskConfigs(1, [{"task": "a"}, {"task": "b"}])

    assert store.put_task_configs("c", 3, [{"task": "v3"}]) is True
    assert store.put_task_configs("c", 2, [{"task": "stale"}]) is False
    assert store.get_task_configs("c") == TaskConfigs(3, [{"task": "v3"}])

    store.clear_task_configs("c")
    assert store.get_task_configs("c") is None
    assert store.put_task_configs("c", 3, []) is True
    assert store.get_task_configs("c") == TaskConfigs(3, [])


def test_task_configs_for_unknown_connector_are_not_found(store: StateStore) -> None:
    with pytest.raises(NotFoundException):
        store.put_task_configs("nope", 1, [{"task": "a"}])
    assert store.get_task_configs("nope") is None


# -- statuses ----------------------------------------------------------------------------------


def test_connector_and_task_statuses(store: StateStore) -> None:
    assert store.get_connector_status("c") is None
    assert store.get_task_statuses("c") == {}

    store.put_connector_status("c", StatusEntry("RUNNING", "worker-a", updated_at=1700000000.25))
    store.put_task_status("c", 1, StatusEntry("FAILED", "worker-b", "Traceback: boom\n  line 2", 1700000001.5))
    store.put_task_status("c", 0, StatusEntry("RUNNING", "worker-a", None, 1700000002.0))

    assert store.get_connector_status("c") == StatusEntry("RUNNING", "worker-a", None, 1700000000.25)
    statuses = store.get_task_statuses("c")
    assert list(statuses) == [0, 1]
    assert statuses[1] == StatusEntry("FAILED", "worker-b", "Traceback: boom\n  line 2", 1700000001.5)

    store.put_task_status("c", 1, StatusEntry("RUNNING", "worker-c", None, 1700000003.0))
    assert store.get_task_statuses("c")[1] == StatusEntry("RUNNING", "worker-c", None, 1700000003.0)

    store.clear_task_statuses("c")
    assert store.get_task_statuses("c") == {}
    assert store.get_connector_status("c").state == "RUNNING"


# -- source offsets ----------------------------------------------------------------------------


def test_offsets_are_keyed_by_partition_content_not_order(store: StateStore) -> None:
    store.commit_offsets("src", [({"table": "orders", "db": "shop"}, {"id": 5})])
    assert store.get_offset("src", {"db": "shop", "table": "orders"}) == {"id": 5}

    store.commit_offsets("src", [({"db": "shop", "table": "orders"}, {"id": 9, "ts": 1.5})])
    assert store.get_offsets("src") == [({"db": "shop", "table": "orders"}, {"id": 9, "ts": 1.5})]


def test_offsets_commit_many_delete_with_none_and_isolate_connectors(store: StateStore) -> None:
    store.commit_offsets(
        "src",
        [
            ({"file": "a.txt"}, {"position": 1}),
            ({"file": "b.txt"}, {"position": 2, "nested": {"k": [1, 2]}}),
            ({"file": "c.txt"}, {"position": 3}),
        ],
    )
    store.commit_offsets("other", [({"file": "a.txt"}, {"position": 99})])
    store.commit_offsets("src", [({"file": "c.txt"}, None), ({"file": "a.txt"}, {"position": 4})])

    assert store.get_offsets("src") == [
        ({"file": "a.txt"}, {"position": 4}),
        ({"file": "b.txt"}, {"position": 2, "nested": {"k": [1, 2]}}),
    ]
    assert store.get_offset("src", {"file": "c.txt"}) is None
    assert store.get_offset("other", {"file": "a.txt"}) == {"position": 99}

    store.delete_offsets("src")
    assert store.get_offsets("src") == []
    assert store.get_offsets("other") == [({"file": "a.txt"}, {"position": 99})]


def test_long_source_partition_round_trips(store: StateStore) -> None:
    partition = {"path": "/data/" + "x" * 3000 + ".csv"}
    store.commit_offsets("src", [(partition, {"line": 7})])
    assert store.get_offset("src", partition) == {"line": 7}
    assert store.get_offsets("src") == [(partition, {"line": 7})]


def test_fenced_commit_is_rejected_once_the_lease_moved_on(store: StateStore) -> None:
    zombie = store.acquire_lease("src", 0, "invocation-1", ttl_seconds=10, now=1000.0)
    assert store.commit_offsets("src", [({"p": 0}, {"o": 1})], task=0, epoch=zombie.epoch) is True

    successor = store.acquire_lease("src", 0, "invocation-2", ttl_seconds=10, now=1011.0)
    assert successor.epoch == zombie.epoch + 1

    stale = [({"p": 0}, {"o": 2}), ({"p": 1}, {"o": 1})]
    assert store.commit_offsets("src", stale, task=0, epoch=zombie.epoch) is False
    assert store.get_offsets("src") == [({"p": 0}, {"o": 1})]

    assert store.commit_offsets("src", [({"p": 0}, {"o": 3})], task=0, epoch=successor.epoch) is True
    assert store.get_offset("src", {"p": 0}) == {"o": 3}


def test_fenced_commit_without_lease_or_task(store: StateStore) -> None:
    assert store.commit_offsets("src", [({"p": 0}, {"o": 1})], task=0, epoch=1) is False
    assert store.get_offsets("src") == []
    with pytest.raises(ValueError, match="task"):
        store.commit_offsets("src", [({"p": 0}, {"o": 1})], epoch=1)


# -- task leases -------------------------------------------------------------------------------


def test_lease_is_exclusive_until_it_expires(store: StateStore) -> None:
    assert store.get_lease("src", 0) is None
    first = store.acquire_lease("src", 0, "a", ttl_seconds=30, now=100.0)
    assert first == Lease("src", 0, "a", 1, 130.0)
    assert store.get_lease("src", 0) == first

    assert store.acquire_lease("src", 0, "b", ttl_seconds=30, now=129.0) is None
    assert store.acquire_lease("src", 1, "b", ttl_seconds=30, now=129.0).epoch == 1  # another task

    again = store.acquire_lease("src", 0, "a", ttl_seconds=30, now=120.0)
    assert again == Lease("src", 0, "a", 2, 150.0)

    stolen = store.acquire_lease("src", 0, "b", ttl_seconds=30, now=150.0)
    assert stolen == Lease("src", 0, "b", 3, 180.0)
    assert store.get_lease("src", 0) == stolen


def test_renew_and_release_only_with_the_current_epoch(store: StateStore) -> None:
    old = store.acquire_lease("src", 0, "a", ttl_seconds=1, now=100.0)
    current = store.acquire_lease("src", 0, "b", ttl_seconds=1, now=200.0)

    assert store.renew_lease(old, 60) is None
    assert store.release_lease(old) is False
    assert store.get_lease("src", 0) == current

    renewed = store.renew_lease(current, 60)
    assert renewed is not None
    assert (renewed.owner, renewed.epoch) == ("b", current.epoch)
    assert renewed.expires_at > current.expires_at
    assert store.get_lease("src", 0) == renewed

    assert store.release_lease(renewed) is True
    released = store.get_lease("src", 0)
    assert released.epoch == current.epoch
    assert released.expires_at <= 0

    # A released lease is free for anyone, and the epoch keeps counting up.
    taken = store.acquire_lease("src", 0, "c", ttl_seconds=60)
    assert taken.epoch == current.epoch + 1


# -- platform resources and active topics ------------------------------------------------------


def test_resources_and_alias_index(store: StateStore) -> None:
    assert store.get_resources("c") == {}
    resources = {"alias": "conn-c", "esm_uuids": ["u-1", "u-2"], "schedule": {"name": "c-0", "rate": 60}}
    store.put_resources("c", resources)
    assert store.get_resources("c") == resources
    assert store.connector_for_alias("conn-c") == "c"

    store.put_resources("c", {"alias": "conn-c2"})
    assert store.connector_for_alias("conn-c2") == "c"
    assert store.connector_for_alias("conn-c") is None

    with pytest.raises(ConflictException, match="conn-c2"):
        store.put_resources("d", {"alias": "conn-c2"})
    assert store.connector_for_alias("conn-c2") == "c"
    assert store.get_resources("d") == {}

    store.put_resources("c", {"esm_uuids": []})
    assert store.connector_for_alias("conn-c2") is None
    store.put_resources("d", {"alias": "conn-c2"})
    assert store.connector_for_alias("conn-c2") == "d"
    assert store.connector_for_alias("unknown") is None


def test_active_topics_accumulate_until_reset(store: StateStore) -> None:
    assert store.get_active_topics("c") == set()
    store.add_active_topics("c", ["orders", "payments"])
    store.add_active_topics("c", ["orders", "Orders"])
    store.add_active_topics("c", [])
    assert store.get_active_topics("c") == {"orders", "payments", "Orders"}
    store.reset_active_topics("c")
    assert store.get_active_topics("c") == set()
    store.add_active_topics("c", ["refunds"])
    assert store.get_active_topics("c") == {"refunds"}


# -- concurrent writers ------------------------------------------------------------------------


def test_racing_config_updates_exactly_one_wins(backend: Backend) -> None:
    setup = backend.open()
    for round_ in range(3):
        name = f"raced-{round_}"
        setup.create_connector(name, CONFIG)
        results = race(backend, 2, lambda s, i, n=name: s.update_connector(n, {"writer": str(i)}, expected_version=1))

        winners = [r for r in results if not isinstance(r, Exception)]
        losers = [r for r in results if isinstance(r, Exception)]
        assert len(winners) == 1, results
        assert len(losers) == 1 and isinstance(losers[0], ConflictException), results
        stored = setup.get_connector(name)
        assert stored.version == 2
        assert stored.config == winners[0].config


def test_racing_unconditional_updates_lose_nothing(backend: Backend) -> None:
    setup = backend.open()
    setup.create_connector("busy", CONFIG)
    results = race(backend, 4, lambda s, i: s.update_connector("busy", {"writer": str(i)}))

    assert all(not isinstance(r, Exception) for r in results), results
    assert sorted(r.version for r in results) == [2, 3, 4, 5]
    final = setup.get_connector("busy")
    assert final.version == 5
    assert final.config == next(r.config for r in results if r.version == 5)


def test_racing_lease_claims_exactly_one_wins(backend: Backend) -> None:
    setup = backend.open()
    for task in range(3):
        results = race(backend, 2, lambda s, i, t=task: s.acquire_lease("src", t, f"owner-{i}", 60))

        assert not any(isinstance(r, Exception) for r in results), results
        won = [r for r in results if r is not None]
        assert len(won) == 1, results
        assert won[0].epoch == 1
        assert setup.get_lease("src", task) == won[0]


def test_racing_task_config_writers_first_one_wins(backend: Backend) -> None:
    setup = backend.open()
    setup.create_connector("c", CONFIG)
    results = race(backend, 2, lambda s, i: s.put_task_configs("c", 2, [{"writer": str(i)}]))

    assert sorted(results) == [False, True], results
    winner = results.index(True)
    assert setup.get_task_configs("c") == TaskConfigs(2, [{"writer": str(winner)}])
