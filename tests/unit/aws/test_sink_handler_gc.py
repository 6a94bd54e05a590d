"""A sink batch runs with CPython's automatic cycle collection off (runtime.gc_tuning) and leaves
the collector as it found it, also when the batch fails; LAMBDA_CONNECT_GC_TUNING=off keeps it on."""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

import pytest
from lambda_connect.runtime.sink_worker import SinkWorker

from tests.fixtures.sink_input import SinkRig, raw_record


def _event(count: int) -> dict[str, Any]:
    return {"eventSource": "aws:kafka", "bootstrapServers": "127.0.0.1:9",
            "records": {"orders-0": [raw_record("orders", 0, i, b'{"id": %d}' % i) for i in range(count)]}}


@pytest.fixture
def seen(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    states: list[bool] = []
    process = SinkWorker.process

    def spying(self: SinkWorker, *args: Any, **kwargs: Any) -> Any:
        states.append(gc.isenabled())
        return process(self, *args, **kwargs)

    monkeypatch.setattr(SinkWorker, "process", spying)
    return states


def _rig(tmp_path: Path) -> SinkRig:
    return SinkRig("orders-file", {"connector.class": "FileStreamSink", "topics": "orders",
                                   "file": str(tmp_path / "out.txt"),
                                   "value.converter": "org.apache.kafka.connect.storage.StringConverter"})


def test_the_batch_runs_without_automatic_collection(tmp_path: Path, seen: list[bool]) -> None:
    assert gc.isenabled()
    _rig(tmp_path)(_event(5))
    assert seen == [False]
    assert gc.isenabled()
    assert (tmp_path / "out.txt").read_text().count("\n") == 5


def test_a_failing_batch_restores_the_collector(tmp_path: Path, seen: list[bool]) -> None:
    rig = _rig(tmp_path)
    rig.handler.store.delete_connector("orders-file")
    with pytest.raises(Exception, match="orders-file"):
        rig(_event(2))
    assert seen == [False] and gc.isenabled()


def test_the_switch_leaves_the_collector_alone(tmp_path: Path, seen: list[bool],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAMBDA_CONNECT_GC_TUNING", "off")
    _rig(tmp_path)(_event(1))
    assert seen == [True]


def test_the_collection_after_the_batch_no_longer_finds_its_records(tmp_path: Path) -> None:
    """The handler drops the decoded records before the young collection that ends the batch,
    so that collection does not walk ten thousand of them for nothing."""
    from lambda_connect.runtime.sink_worker import ConsumedRecord

    alive: list[int] = []

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            alive.append(sum(type(o) is ConsumedRecord for o in gc.get_objects()))

    rig = _rig(tmp_path)
    gc.callbacks.append(on_gc)
    try:
        rig(_event(50))
    finally:
        gc.callbacks.remove(on_gc)
    assert alive and alive[-1] == 0
    assert (tmp_path / "out.txt").read_text().count("\n") == 50
