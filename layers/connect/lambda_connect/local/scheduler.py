"""Schedules for source tasks, emulated: invoke the source handler on a rate, asynchronously.

EventBridge Scheduler invokes the source function with ``{"connector": NAME, "task": N}`` on a
``rate(N minutes)`` schedule and does not wait for the invocation to end, so a slow run and the
next tick overlap and the task lease decides which one works. This scheduler does the same with
a thread per invocation, so overlaps really happen locally and the lease is exercised.

The one difference: AWS's finest rate is one minute, while a local schedule ticks every
``poll.interval.ms`` (at least :data:`MIN_INTERVAL_MS`), so a laptop pipeline moves at the pace
the connector asks for.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from typing import Any

from .context import LambdaContext

__all__ = ["MAX_OVERLAPPING", "MIN_INTERVAL_MS", "ScheduleStats", "TaskSchedule"]

log = logging.getLogger(__name__)

#: Ticks closer than this would only pile up invocations that find the lease taken.
MIN_INTERVAL_MS = 250
#: A safety valve: beyond this many invocations of one task still running, a tick is skipped.
MAX_OVERLAPPING = 4

Invoker = Callable[[dict[str, Any], LambdaContext], Any]


class ScheduleStats:
    """Counts a test or progress display can read."""

    def __init__(self) -> None:
        self.invocations = 0
        self.failures = 0
        self.skipped_ticks = 0
        self.last_error: str | None = None
        self.last_result: Any = None


class TaskSchedule:
    """One source task's schedule: ticks every ``interval_ms`` while enabled."""

    def __init__(
        self,
        *,
        name: str,
        connector: str,
        task: int,
        interval_ms: int,
        invoke: Invoker,
        function_name: str,
        function_arn: str,
        timeout_ms: int,
        request_id_prefix: str | None = None,
    ) -> None:
        self.name = name
        #: First group of each invocation's request id: the source task's lease owner then names
        #: the runtime that ran it (``local.ledger`` releases the leases of a runtime that died).
        self.request_id_prefix = request_id_prefix
        self.connector = connector
        self.task = task
        self.interval_ms = max(MIN_INTERVAL_MS, int(interval_ms))
        self._invoke = invoke
        self._function_name = function_name
        self._function_arn = function_arn
        self._timeout_ms = timeout_ms
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self._inflight: set[threading.Thread] = set()
        self._lock = threading.Lock()
        self.stats = ScheduleStats()

    @property
    def running(self) -> bool:
        return self._ticker is not None and self._ticker.is_alive()

    @property
    def state(self) -> str:
        return "ENABLED" if self.running and not self._stop.is_set() else "DISABLED"

    def start(self) -> None:
        if self.running:
            return
        self._stop.clear()
        self._ticker = threading.Thread(target=self._tick_loop, name=f"schedule-{self.name}", daemon=True)
        self._ticker.start()

    def request_stop(self) -> None:
        """No more ticks; invocations already running go on to their end, as in AWS."""
        self._stop.set()

    def stop(self, timeout: float | None = None) -> bool:
        """Stop ticking and wait for running invocations; True when all have ended."""
        self.request_stop()
        if self._ticker is not None:
            self._ticker.join(timeout)
        with self._lock:
            inflight = list(self._inflight)
        for thread in inflight:
            thread.join(timeout)
        return not any(t.is_alive() for t in inflight)

    def _tick_loop(self) -> None:
        while not self._stop.is_set():
            self.fire()
            self._stop.wait(self.interval_ms / 1000)

    def fire(self) -> threading.Thread | None:
        """One tick: start an invocation in its own thread and return at once."""
        with self._lock:
            self._inflight = {t for t in self._inflight if t.is_alive()}
            if len(self._inflight) >= MAX_OVERLAPPING:
                self.stats.skipped_ticks += 1
                return None
            thread = threading.Thread(target=self._run_once, name=f"invoke-{self.name}", daemon=True)
            self._inflight.add(thread)
        thread.start()
        return thread

    def _request_id(self) -> str:
        """A UUID-shaped request id, as Lambda's, whose first group is the prefix when given."""
        request_id = str(uuid.uuid4())
        return f"{self.request_id_prefix}{request_id[8:]}" if self.request_id_prefix else request_id

    def _run_once(self) -> None:
        event = {"connector": self.connector, "task": self.task}
        context = LambdaContext(function_name=self._function_name, timeout_ms=self._timeout_ms,
                                invoked_function_arn=self._function_arn, aws_request_id=self._request_id())
        self.stats.invocations += 1
        try:
            self.stats.last_result = self._invoke(event, context)
        except Exception as e:  # an async invoke's error goes to logs / the failure destination
            self.stats.failures += 1
            self.stats.last_error = f"{type(e).__name__}: {e}"
            log.warning("source task %s-%d failed: %s", self.connector, self.task, self.stats.last_error)
