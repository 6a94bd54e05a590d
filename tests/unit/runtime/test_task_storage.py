"""The plugins' durable scratch area (SinkTaskContext.storage) and the rescan's SinkTask.idle turn."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytest
from lambda_connect.api import SinkConnector, SinkRecord, SinkTask, Task
from lambda_connect.runtime.reconciler import Reconciler
from lambda_connect.runtime.registry import Registry
from lambda_connect.runtime.sink_worker import SinkWorker
from lambda_connect.runtime.task_storage import SCRATCH, StateTableTaskStorage, task_storage_factory
from lambda_connect.state.memory import InMemoryStateStore
from lambda_connect.state.sql import SqlStateStore

from tests.unit.runtime.test_reconciler import FakePlatform


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    return InMemoryStateStore() if request.param == "memory" else SqlStateStore(f"sqlite:///{tmp_path}/s.db")


def test_entries_round_trip_by_prefix_and_vanish_with_the_connector(store: Any) -> None:
    store.create_connector("lake", {"connector.class": "X"})
    storage = StateTableTaskStorage(store, "lake")
    storage.put("iceberg/a/1", {"files": [{"p": "s3://x"}], "n": 1})
    storage.put("iceberg/b/2", {"n": 2})
    storage.put("other/3", {"n": 3})
    assert storage.get("iceberg/a/1") == {"files": [{"p": "s3://x"}], "n": 1}
    assert sorted(storage.items("iceberg/")) == ["iceberg/a/1", "iceberg/b/2"]
    storage.delete(["iceberg/a/1", "missing"])
    assert sorted(storage.items()) == ["iceberg/b/2", "other/3"]
    assert StateTableTaskStorage(store, "someone-else").items() == {}
    # A partition map that only looks alike is not an entry.
    store.commit_offsets("lake", [({SCRATCH: "x", "more": 1}, {"n": 9})])
    assert "x" not in storage.items()
    store.delete_connector("lake")
    assert storage.items() == {}


def test_factory_needs_an_offset_area() -> None:
    assert task_storage_factory(object()) is None
    assert task_storage_factory(InMemoryStateStore()) is not None


class IdleTask(SinkTask):
    started: ClassVar[list[Any]] = []
    idled: ClassVar[list[str]] = []
    fail = False

    def start(self, props: Mapping[str, str]) -> None:
        IdleTask.started.append(self.context.storage if self.context else None)

    def put(self, records: Sequence[SinkRecord]) -> None:
        assert self.context is not None and self.context.storage is not None
        self.context.storage.put("seen", {"n": len(records)})

    def idle(self) -> None:
        if IdleTask.fail:
            raise RuntimeError("catalog down")
        assert self.context is not None and self.context.storage is not None
        IdleTask.idled.append(self.context.connector_name)


class IdleSink(SinkConnector):
    name = "test.IdleSinkConnector"

    @classmethod
    def task_class(cls) -> type[Task]:
        return IdleTask


class PlainSink(SinkConnector):
    name = "test.PlainSinkConnector"

    @classmethod
    def task_class(cls) -> type[Task]:
        raise AssertionError("a task without idle() must never be built by the rescan")


def _registry() -> Registry:
    from lambda_connect.plugins import BUILTINS

    return Registry([*BUILTINS, ("test.IdleSinkConnector", f"{__name__}:IdleSink"),
                     ("test.PlainSinkConnector", f"{__name__}:PlainSink")])


REGISTRY = _registry()


def _sink(cls: str, name: str) -> dict[str, str]:
    return {"name": name, "connector.class": cls, "topics": "t", "value.converter": "ByteArrayConverter"}


def test_rescan_gives_running_sinks_with_idle_work_their_turn(caplog: pytest.LogCaptureFixture) -> None:
    store = InMemoryStateStore()
    store.create_connector("lake", _sink("test.IdleSinkConnector", "lake"))
    store.create_connector("paused-lake", _sink("test.IdleSinkConnector", "paused-lake"), target_state="PAUSED")
    store.create_connector("plain", _sink("test.PlainSinkConnector", "plain"))
    IdleTask.idled.clear()
    reconciler = Reconciler(store, FakePlatform(), REGISTRY)
    results = reconciler.reconcile_all()
    assert all(r.ok for r in results)
    assert IdleTask.idled == ["lake"]
    IdleTask.fail = True
    try:
        assert all(r.ok for r in reconciler.reconcile_all())  # a failing idle never fails the rescan
    finally:
        IdleTask.fail = False
    assert "idle work of sink connector lake failed" in caplog.text


def test_sink_worker_hands_tasks_the_state_table_storage() -> None:
    from lambda_connect.runtime.sink_worker import ConsumedRecord

    store = InMemoryStateStore()
    store.create_connector("lake", _sink("test.IdleSinkConnector", "lake"))

    class Status:
        def task_running(self, *a: Any) -> None: ...
        def task_failed(self, *a: Any) -> None: ...
        def topics_active(self, *a: Any) -> None: ...

    worker = SinkWorker(store, Status(), registry=REGISTRY)
    worker.process("lake", [ConsumedRecord("t", 0, 5, None, "CREATE_TIME", None, b"x")])
    assert StateTableTaskStorage(store, "lake").get("seen") == {"n": 1}
