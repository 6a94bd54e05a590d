"""``GET /metrics`` (Prometheus text format 0.0.4) and the ``lambda_connect`` extension of a
connector's status JSON: the task handlers' figures under one set of names.

A metric keeps its EMF name in the status JSON (``RecordsIn``) and becomes snake case in
Prometheus (``lambda_connect_records_in_total``): counts are counters (``_total``), durations
summaries in milliseconds (``_milliseconds_sum``/``_count``). Consumer lag is a gauge per
partition, read from the cluster when asked. Figures a source task reports about itself
(``SourceTask.lag_metrics``, e.g. ``source_lag_bytes``) are gauges of their last value under
their own name (``lambda_connect_source_lag_bytes``; in the status JSON per task, and summed
over tasks for the connector).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from typing import Any

from lambda_connect.runtime.task_metrics import Figure, TaskMetrics

from .router import Request, Response, error_response

__all__ = ["STATUS_KEY", "MetricsView", "attach", "prometheus_name", "serve_metrics"]

log = logging.getLogger(__name__)

STATUS_KEY = "lambda_connect"
PREFIX = "lambda_connect_"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LagRows = Callable[[str], Sequence[tuple[str, int, int, int, int]]]
_HELP = {
    "RecordsIn": "Records handed to a sink task", "RecordsWritten": "Records a sink task wrote",
    "RecordsDeadLettered": "Records sent to the dead letter queue", "RecordsFailed": "Records that failed",
    "RecordsDropped": "Records dropped by a transform or a tolerated error",
    "RecordsSkippedDuplicate": "Records a sink skipped as already written",
    "BatchFailed": "Sink batches that failed", "PutLatency": "Time a sink task spent writing a batch",
    "RecordsPolled": "Records a source task polled", "RecordsProduced": "Records a source task produced",
    "RecordsFiltered": "Records a source transform dropped", "OffsetsCommitted": "Source offsets committed",
    "TaskFailed": "Source runs that failed", "LeaseHeld": "Source runs skipped: another run held the task",
    "Fenced": "Source runs fenced by a newer one", "RunDuration": "Time a source run took",
    "source_lag_bytes": "Bytes of log the source trails its system by, as the task last reported",
}


def prometheus_name(emf_name: str, unit: str, gauge: bool = False) -> str:
    """``RecordsDeadLettered``/Count → ``lambda_connect_records_dead_lettered_total``; a gauge
    keeps its (snake case) name: ``source_lag_bytes`` → ``lambda_connect_source_lag_bytes``."""
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", emf_name).lower()
    if gauge:
        return PREFIX + re.sub(r"[^a-z0-9_]", "_", snake)
    return PREFIX + snake + ("_milliseconds" if unit == "Milliseconds" else "_total")


def _label(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(**labels: object) -> str:
    return "{" + ",".join(f'{k}="{_label(v)}"' for k, v in labels.items()) + "}"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _figure_json(figure: Figure) -> Any:
    if figure.gauge:
        return int(figure.last) if figure.last.is_integer() else figure.last
    if figure.unit == "Milliseconds":
        return {"sum": round(figure.total, 3), "count": figure.count, "last": round(figure.last, 3)}
    return int(figure.total) if figure.total.is_integer() else figure.total


class MetricsView:
    """The collector's totals, plus consumer lag when the runtime knows a cluster."""

    def __init__(self, collector: TaskMetrics, store: Any, lag: LagRows | None = None) -> None:
        self.collector = collector
        self.store = store
        self.lag = lag

    def _lag(self, connector: str) -> list[tuple[str, int, int, int, int]]:
        if self.lag is None:
            return []
        try:
            return list(self.lag(connector))
        except Exception as e:  # a cluster that is away must not break status or scraping
            log.debug("consumer lag of %s unavailable: %s", connector, e)
            return []

    def status_extension(self, connector: str, kind: str) -> dict[str, Any]:
        tasks = self.collector.of(connector)
        totals: dict[str, Figure] = {}
        for figures in tasks.values():
            for name, f in figures.items():
                t = totals.setdefault(name, Figure(f.unit, gauge=f.gauge))
                t.total, t.count = t.total + f.total, t.count + f.count
                t.last = t.last + f.last if f.gauge else f.last  # a connector's level: its tasks' levels added
        out: dict[str, Any] = {
            "metrics": {name: _figure_json(f) for name, f in sorted(totals.items())},
            "task_metrics": {("unknown" if task is None else str(task)): {n: _figure_json(f) for n, f in
                                                                           sorted(figures.items())}
                             for task, figures in sorted(tasks.items(), key=lambda kv: (kv[0] is None, kv[0] or 0))},
        }
        if kind == "sink":
            out["consumer_lag"] = [{"topic": t, "partition": p, "committed_offset": o, "end_offset": e, "lag": lag}
                                   for t, p, o, e, lag in self._lag(connector)]
        return out

    def prometheus_text(self) -> str:
        families: dict[str, tuple[str, str, list[str]]] = {}
        for (connector, task), figures in sorted(self.collector.snapshot().items(),
                                                 key=lambda kv: (kv[0][0], kv[0][1] is None, kv[0][1] or 0)):
            labels = {"connector": connector, "task": "unknown" if task is None else task}
            for emf, figure in sorted(figures.items()):
                name = prometheus_name(emf, figure.unit, figure.gauge)
                kind = "gauge" if figure.gauge else "summary" if figure.unit == "Milliseconds" else "counter"
                help_ = f"{_HELP.get(emf, emf)} (EMF metric {emf})"
                lines = families.setdefault(name, (kind, help_, []))[2]
                if kind == "gauge":
                    lines.append(f"{name}{_labels(**labels)} {_number(figure.last)}")
                elif kind == "summary":
                    lines.append(f"{name}_sum{_labels(**labels)} {_number(round(figure.total, 3))}")
                    lines.append(f"{name}_count{_labels(**labels)} {figure.count}")
                else:
                    lines.append(f"{name}{_labels(**labels)} {_number(figure.total)}")
        lag_lines: list[str] = []
        for connector in sorted(self.store.list_connectors()):
            for topic, partition, _offset, _end, lag in self._lag(connector) if self.lag else []:
                lag_lines.append(f"{PREFIX}consumer_lag{_labels(connector=connector, topic=topic, partition=partition)}"
                                 f" {lag}")
        out: list[str] = []
        for name, (kind, help_, lines) in families.items():
            out += [f"# HELP {name} {help_}", f"# TYPE {name} {kind}", *lines]
        if lag_lines:
            out += [f"# HELP {PREFIX}consumer_lag Records between a sink's committed offset and the partition's end",
                    f"# TYPE {PREFIX}consumer_lag gauge", *lag_lines]
        return "\n".join(out) + "\n"


def attach(service: Any, view: MetricsView | None) -> None:
    """Serve ``/metrics`` and the status extension from ``view`` (``lambda-connect up`` does)."""
    service.metrics = view


def serve_metrics(request: Request, view: MetricsView) -> Response:
    if request.method.upper() not in ("GET", "HEAD"):
        return error_response(405, "HTTP 405 Method Not Allowed", {"Allow": "GET, HEAD, OPTIONS"})
    body = view.prometheus_text().encode()
    return Response(200, {"Content-Type": CONTENT_TYPE, "Cache-Control": "no-store"},
                    b"" if request.method.upper() == "HEAD" else body)
