"""The collector stays out of a run's hot path, comes back afterwards, and still bounds memory."""

from __future__ import annotations

import gc
import threading
import weakref

import pytest
from lambda_connect.runtime.gc_tuning import (
    DEFAULT_YOUNG_LIMIT,
    freeze_startup_heap,
    gc_tuning_enabled,
    relaxed_gc,
    young_limit_from_env,
)


class Node:
    """A container that can sit in a reference cycle and be watched through a weakref."""

    def __init__(self) -> None:
        self.me: Node | None = None


def cycle() -> weakref.ref[Node]:
    node = Node()
    node.me = node
    return weakref.ref(node)


@pytest.fixture(autouse=True)
def collector_on():
    was = gc.isenabled()
    gc.enable()
    yield
    if was:
        gc.enable()
    else:
        gc.disable()


@pytest.mark.parametrize("value", ["off", "OFF", "false", "0", "no", " disabled "])
def test_the_environment_switch_turns_tuning_off(value):
    assert gc_tuning_enabled({"LAMBDA_CONNECT_GC_TUNING": value}) is False


@pytest.mark.parametrize("env", [{}, {"LAMBDA_CONNECT_GC_TUNING": "on"}, {"LAMBDA_CONNECT_GC_TUNING": "true"}])
def test_tuning_is_on_by_default(env):
    assert gc_tuning_enabled(env) is True


@pytest.mark.parametrize(("raw", "expected"), [("", DEFAULT_YOUNG_LIMIT), ("1234", 1234), ("x", DEFAULT_YOUNG_LIMIT),
                                               ("-5", DEFAULT_YOUNG_LIMIT)])
def test_young_limit_comes_from_the_environment_when_valid(raw, expected):
    assert young_limit_from_env({"LAMBDA_CONNECT_GC_YOUNG_LIMIT": raw}) == expected


def test_automatic_collection_is_off_inside_and_back_on_after_with_the_runs_cycles_freed():
    with relaxed_gc(True) as guard:
        assert gc.isenabled() is False
        refs = [cycle() for _ in range(5_000)]  # well past the 700-object threshold
        assert all(r() is not None for r in refs)  # nothing collected them mid-run
        guard.check()  # far below the young limit: no collection
        assert guard.collections == 0
    assert gc.isenabled() is True
    assert all(r() is None for r in refs)  # the collection on the way out freed them


def test_a_failing_run_still_restores_the_collector():
    with pytest.raises(RuntimeError), relaxed_gc(True):
        raise RuntimeError("task failed")
    assert gc.isenabled() is True


def test_check_collects_once_too_many_young_objects_piled_up():
    with relaxed_gc(True, young_limit=1_000) as guard:
        refs = [cycle() for _ in range(2_000)]
        guard.check()
        assert guard.collections == 1
        assert all(r() is None for r in refs)  # leaked cycles do not grow without bound
        guard.check()
        assert guard.collections == 1  # the count started again from zero


def test_a_collector_the_application_switched_off_stays_off():
    gc.disable()
    with relaxed_gc(True):
        pass
    assert gc.isenabled() is False


def test_tuning_off_leaves_the_collector_alone():
    with relaxed_gc(False, young_limit=1) as guard:
        assert gc.isenabled() is True
        [cycle() for _ in range(10)]
        guard.check()
        assert guard.collections == 0


def test_concurrent_runs_keep_it_off_until_the_last_one_ends():
    first_in, second_done, release_first = threading.Event(), threading.Event(), threading.Event()
    seen: dict[str, bool] = {}

    def first() -> None:
        with relaxed_gc(True):
            first_in.set()
            release_first.wait(10)
            seen["first, after the second ended"] = gc.isenabled()

    def second() -> None:
        first_in.wait(10)
        with relaxed_gc(True):
            pass
        second_done.set()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    assert second_done.wait(10)
    assert gc.isenabled() is False  # the first run is still going
    release_first.set()
    for t in threads:
        t.join(10)
    assert seen == {"first, after the second ended": False}
    assert gc.isenabled() is True


def test_freeze_moves_the_startup_heap_out_of_later_collections():
    try:
        freeze_startup_heap()
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
