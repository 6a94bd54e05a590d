"""Per connector and task totals of the metrics the task handlers emit, kept in this process.

The handlers write each invocation's figures as CloudWatch EMF (``aws.metrics.emit``); the same
call adds them here. In Lambda nobody reads this copy (CloudWatch aggregates the EMF lines); in
``lambda-connect up`` every handler runs in the one process, so ``GET /metrics`` and the status
JSON can show the figures under the EMF names without another store.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Mapping
from dataclasses import dataclass

__all__ = ["COLLECTOR", "Figure", "TaskMetrics"]


@dataclass
class Figure:
    """Running total of one metric: ``total`` of the values, ``count`` of invocations, ``last`` value.

    A ``gauge`` (a level a task reports, such as a source's lag) is read by its ``last`` value:
    adding up levels of successive runs means nothing."""

    unit: str
    total: float = 0.0
    count: int = 0
    last: float = 0.0
    gauge: bool = False


class TaskMetrics:
    """Thread-safe totals keyed by (connector, task); ``task`` None when a batch failed before
    its task was known."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._figures: dict[tuple[str, int | None], dict[str, Figure]] = {}

    def record(self, connector: str, task: int | None, values: Mapping[str, tuple[float, str]],
               gauges: Collection[str] = ()) -> None:
        """Add one invocation's ``values`` (name → (value, unit)); names in ``gauges`` are levels."""
        with self._lock:
            figures = self._figures.setdefault((connector, task), {})
            for name, (value, unit) in values.items():
                figure = figures.get(name)
                if figure is None:
                    figure = figures[name] = Figure(unit, gauge=name in gauges)
                figure.total += float(value)
                figure.count += 1
                figure.last = float(value)

    def snapshot(self) -> dict[tuple[str, int | None], dict[str, Figure]]:
        """A copy, safe to read while handlers go on recording."""
        with self._lock:
            return {k: {n: Figure(f.unit, f.total, f.count, f.last, f.gauge) for n, f in v.items()}
                    for k, v in self._figures.items()}

    def of(self, connector: str) -> dict[int | None, dict[str, Figure]]:
        return {task: figures for (name, task), figures in self.snapshot().items() if name == connector}

    def forget(self, connector: str) -> None:
        with self._lock:
            for key in [k for k in self._figures if k[0] == connector]:
                del self._figures[key]


#: The process's collector (one per container in Lambda, one per ``lambda-connect up``).
COLLECTOR = TaskMetrics()
