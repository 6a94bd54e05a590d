"""Keep CPython's cyclic garbage collector out of the record hot path while a task runs.

Why: a source poll (or a sink batch) keeps thousands of records alive at once — Structs, value
lists, records, offset handles, delivery callbacks — until Kafka confirms them. Every 700 net
container allocations CPython runs a young collection, survivors climb the generations, and
the whole heap keeps getting walked by full collections that find nothing: measured at ~60 %
of the source runtime's CPU (``bench/README.md``, ``source_jdbc.py``). Records die by reference
counting the moment they are confirmed; the cycle collector has nothing to do with them.

:func:`relaxed_gc` therefore switches automatic collection off for the duration of one run and
collects explicitly instead:

* **during the run**, :meth:`GcGuard.check` (called by the worker once per poll/batch) runs a
  young collection (generations 0 and 1) only when the container objects allocated and not yet
  freed since the last collection exceed ``young_limit`` — the memory bound. Objects that die
  by reference counting (every record) lower that count, so an ordinary run never collects;
  a plugin that leaks reference cycles gets them collected every ``young_limit`` objects;
* **at the end**, a young collection frees whatever cycles the run made, and automatic
  collection comes back with the thresholds it had (full collections resume on CPython's own
  schedule, between invocations' worth of allocations rather than inside every batch).

Why this is safe in Lambda: one container serves one invocation at a time, a run is bounded
(a poll budget, an event batch), and the explicit collection afterwards leaves the container
as tidy as the automatic collector would before it is frozen. In the local runtime several
tasks may run on threads of one process: the guard is reference-counted, so collection stays
off while any run is in progress, each run's checks still bound the young objects, and the
last run to finish restores automatic collection.

``LAMBDA_CONNECT_GC_TUNING=off`` (also ``false``/``0``/``no``) leaves the collector alone;
``LAMBDA_CONNECT_GC_YOUNG_LIMIT`` sets ``young_limit`` (default 500,000 objects: at 100-200
bytes per leaked container object, at most ~100 MB of uncollected cycles inside the stack's
default 1,024 MB task function, while a 10,000-record poll in flight is ~100,000 objects).
"""

from __future__ import annotations

import gc
import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

__all__ = ["DEFAULT_YOUNG_LIMIT", "GcGuard", "freeze_startup_heap", "gc_tuning_enabled", "relaxed_gc"]

#: Net container objects allocated since the last collection that trigger one mid-run.
DEFAULT_YOUNG_LIMIT = 500_000
ENV_SWITCH = "LAMBDA_CONNECT_GC_TUNING"
ENV_YOUNG_LIMIT = "LAMBDA_CONNECT_GC_YOUNG_LIMIT"
_OFF = frozenset({"off", "false", "0", "no", "disabled"})

_lock = threading.Lock()
_active = 0  # runs inside relaxed_gc() right now (threads of the local runtime)
_was_enabled = True  # the collector's state before the first of them entered


def gc_tuning_enabled(env: Mapping[str, str] | None = None) -> bool:
    """Whether runs relax the collector (``LAMBDA_CONNECT_GC_TUNING``, default on)."""
    value = (os.environ if env is None else env).get(ENV_SWITCH, "on")
    return value.strip().lower() not in _OFF


def young_limit_from_env(env: Mapping[str, str] | None = None) -> int:
    """``LAMBDA_CONNECT_GC_YOUNG_LIMIT`` as a positive int, else :data:`DEFAULT_YOUNG_LIMIT`."""
    raw = (os.environ if env is None else env).get(ENV_YOUNG_LIMIT, "").strip()
    try:
        value = int(raw) if raw else DEFAULT_YOUNG_LIMIT
    except ValueError:
        return DEFAULT_YOUNG_LIMIT
    return value if value > 0 else DEFAULT_YOUNG_LIMIT


class GcGuard:
    """Handed to the code inside :func:`relaxed_gc`; ``check()`` is the mid-run memory bound."""

    __slots__ = ("active", "collections", "young_limit")

    def __init__(self, active: bool, young_limit: int) -> None:
        self.active = active
        self.young_limit = young_limit
        #: Young collections this guard ran mid-run (a test and a log line read it).
        self.collections = 0

    def check(self) -> None:
        """Collect the young generations if too many objects piled up since the last
        collection; costs one C call otherwise. Meant for once per poll or batch."""
        if self.active and gc.get_count()[0] > self.young_limit:
            gc.collect(1)
            self.collections += 1


@contextmanager
def relaxed_gc(enabled: bool | None = None, young_limit: int | None = None) -> Iterator[GcGuard]:
    """Run the body with automatic collection off (see module docstring). ``enabled`` and
    ``young_limit`` default to the environment; a disabled guard's ``check()`` does nothing."""
    on = gc_tuning_enabled() if enabled is None else enabled
    guard = GcGuard(on, young_limit_from_env() if young_limit is None else young_limit)
    if not on:
        yield guard
        return
    global _active, _was_enabled
    with _lock:
        if _active == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _active += 1
    try:
        yield guard
    finally:
        gc.collect(1)
        with _lock:
            _active -= 1
            if _active == 0 and _was_enabled:
                gc.enable()


def freeze_startup_heap() -> None:
    """Collect once, then move every surviving object into the permanent generation, so later
    full collections no longer walk the modules, clients and plugins a container built at
    start-up. Call it at the end of a handler module's import, after the objects it keeps for
    the container's life are built (``gc.freeze`` is what CPython recommends for this)."""
    gc.collect()
    gc.freeze()
