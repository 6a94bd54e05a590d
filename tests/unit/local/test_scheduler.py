"""Source task schedules: asynchronous invocations that really overlap."""

from __future__ import annotations

import threading
import time
from typing import Any

from lambda_connect.local.context import LambdaContext
from lambda_connect.local.scheduler import MIN_INTERVAL_MS, TaskSchedule


def make(invoke: Any, interval_ms: int = MIN_INTERVAL_MS) -> TaskSchedule:
    return TaskSchedule(name="connect-src-task-1", connector="src", task=1, interval_ms=interval_ms, invoke=invoke,
                        function_name="SourceTaskFunction", function_arn="arn:x", timeout_ms=5000)


def test_ticks_overlap_when_an_invocation_outlasts_the_rate() -> None:
    running = 0
    peak = 0
    lock = threading.Lock()
    events: list[dict[str, Any]] = []

    def invoke(event: dict[str, Any], context: LambdaContext) -> None:
        nonlocal running, peak
        with lock:
            events.append(event)
            running += 1
            peak = max(peak, running)
        time.sleep(0.6)
        with lock:
            running -= 1

    schedule = make(invoke)
    schedule.start()
    time.sleep(1.0)
    assert schedule.stop(5)
    assert peak >= 2
    assert events[0] == {"connector": "src", "task": 1}


def test_stop_ends_ticking_and_waits_for_running_invocations() -> None:
    finished = threading.Event()

    def invoke(event: dict[str, Any], context: LambdaContext) -> None:
        time.sleep(0.3)
        finished.set()

    schedule = make(invoke, 60_000)
    schedule.start()
    time.sleep(0.05)
    assert schedule.stop(5) and finished.is_set()
    count = schedule.stats.invocations
    time.sleep(0.3)
    assert schedule.stats.invocations == count == 1 and schedule.state == "DISABLED"


def test_failures_are_counted_not_raised() -> None:
    def invoke(event: dict[str, Any], context: LambdaContext) -> None:
        raise RuntimeError("source down")

    schedule = make(invoke, 60_000)
    thread = schedule.fire()
    assert thread is not None
    thread.join(5)
    assert schedule.stats.failures == 1 and "source down" in (schedule.stats.last_error or "")


def test_interval_has_a_local_floor() -> None:
    assert make(lambda e, c: None, 1).interval_ms == MIN_INTERVAL_MS
