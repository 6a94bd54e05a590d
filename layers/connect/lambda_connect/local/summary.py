"""The periodic one-line INFO summary per connector of ``lambda-connect up``.

Routine work (a no-op reconcile pass, an idle source tick) is logged at DEBUG, so without a
heartbeat an operator could not tell a quiet connector from a stuck one. Every
``summary_interval`` seconds this says, per connector, its state and the totals since ``up``
started — records in and out, failures, records dead-lettered and, for a sink, its consumer lag.
The figures are the connector's status JSON (``GET /connectors/{name}/status``, whose
``lambda_connect`` key carries the task handlers' metric totals and the lag), so the log and the
API never disagree and no second set of counters exists. A line identical to the connector's
previous one is not repeated (at DEBUG instead): an idle connector is reported once, and again
when something about it changes.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = ["DEFAULT_SUMMARY_INTERVAL_S", "SUMMARY_INTERVAL_ENV", "ConnectorSummaries", "summary_line"]

log = logging.getLogger(__name__)

#: Seconds between two summaries unless ``--summary-interval`` or the variable below says otherwise.
DEFAULT_SUMMARY_INTERVAL_S = 60.0
SUMMARY_INTERVAL_ENV = "LAMBDA_CONNECT_SUMMARY_INTERVAL"


def _count(metrics: Mapping[str, Any], *names: str) -> int:
    """The sum of some count metrics of the status extension (absent: 0)."""
    total = 0.0
    for name in names:
        value = metrics.get(name, 0)
        total += float(value) if isinstance(value, (int, float)) else 0.0
    return int(total)


def summary_line(name: str, status: Mapping[str, Any]) -> str:
    """``connector NAME (sink, RUNNING): …`` from the connector's status JSON."""
    kind = str(status.get("type") or "unknown")
    state = str((status.get("connector") or {}).get("state") or "UNASSIGNED")
    odd = [f"task {t.get('id')} {t.get('state')}" for t in status.get("tasks") or [] if t.get("state") != state]
    extension = status.get("lambda_connect") or {}
    metrics = extension.get("metrics") or {}
    if kind == "source":
        figures = [f"{_count(metrics, 'RecordsPolled')} polled", f"{_count(metrics, 'RecordsProduced')} produced",
                   f"{_count(metrics, 'TaskFailed')} failed runs"]
        rare = {"filtered": _count(metrics, "RecordsFiltered")}
    else:
        figures = [f"{_count(metrics, 'RecordsIn')} in", f"{_count(metrics, 'RecordsWritten')} written",
                   f"{_count(metrics, 'RecordsFailed')} failed"]
        rare = {"failed batches": _count(metrics, "BatchFailed"),
                "skipped as already written": _count(metrics, "RecordsSkippedDuplicate")}
    figures.append(f"{_count(metrics, 'RecordsDeadLettered')} dead-lettered")
    figures += [f"{n} {what}" for what, n in rare.items() if n]  # said only when they happened
    lag = extension.get("consumer_lag")
    if kind == "sink" and lag:  # known once the connector's groups have committed something
        figures.append(f"lag {sum(int(row.get('lag') or 0) for row in lag)}")
    head = ", ".join([state, *odd])
    return f"connector {name} ({kind}, {head}): {', '.join(figures)} since start"


class ConnectorSummaries:
    """A daemon thread logging :func:`summary_line` for every connector each ``interval`` seconds.

    ``names`` lists the connectors, ``status`` answers one connector's status JSON (the REST
    service's); a connector that vanished in between, or a status that cannot be read now, is
    skipped until the next round.
    """

    def __init__(self, names: Callable[[], Iterable[str]], status: Callable[[str], Mapping[str, Any]],
                 interval: float) -> None:
        self._names = names
        self._status = status
        self.interval = interval
        self._last: dict[str, str] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> ConnectorSummaries:
        if self.interval > 0:
            self._thread = threading.Thread(target=self._loop, name="connector-summaries", daemon=True)
            self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.log_once()

    def log_once(self) -> list[str]:
        """One round; returns the lines logged at INFO (tests call this directly)."""
        logged: list[str] = []
        try:
            names = sorted(self._names())
        except Exception as e:  # the state table may be going away with the runtime
            log.debug("listing connectors for the summary failed: %s", e)
            return logged
        for name in names:
            try:
                line = summary_line(name, self._status(name))
            except Exception as e:  # deleted meanwhile, or its lag cannot be read now
                log.debug("no summary of connector %s: %s", name, e)
                continue
            if self._last.get(name) == line:
                log.debug("%s", line)
                continue
            self._last[name] = line
            log.info("%s", line)
            logged.append(line)
        for gone in set(self._last) - set(names):
            del self._last[gone]
        return logged

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
