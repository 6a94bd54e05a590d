"""Powertools logging and metrics shared by the sink and source task handlers.

Metrics are CloudWatch EMF lines on stdout (no API call, no added latency), in the namespace
``$POWERTOOLS_METRICS_NAMESPACE`` (default ``lambda-connect``) with one dimension,
``connector``, so a dashboard can chart each connector. Each invocation emits its metrics
itself (``emit``) rather than through a decorator, so a failed batch still reports what it
did before failing.

Logs are JSON lines keyed by ``connector`` and ``task``. The runtime logs through the
standard ``logging`` module (it knows nothing of Lambda); ``configure_logging`` routes the
``lambda_connect`` logger tree through the Powertools formatter, and only inside Lambda (or
when asked), so importing a handler in a test never rewires the test's logging. Tracer is
never imported: it costs ~0.4 s of cold start.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING

from lambda_connect.runtime.task_metrics import COLLECTOR

if TYPE_CHECKING:
    from aws_lambda_powertools import Logger, Metrics

__all__ = [
    "DEFAULT_NAMESPACE",
    "configure_logging",
    "emit",
    "make_logger",
    "make_metrics",
    "sink_batch_metrics",
    "worker_id",
]
#: Overrides the ``worker_id`` tasks report (``lambda-connect up`` sets its REST host:port).
WORKER_ID_ENV = "LAMBDA_CONNECT_WORKER_ID"

DEFAULT_NAMESPACE = "lambda-connect"
_JSON_LOGS_ENV = "LAMBDA_CONNECT_JSON_LOGS"
_PACKAGE_LOGGER = "lambda_connect"
# Powertools keeps metrics, dimensions and metadata in class attributes shared by every
# Metrics instance, and the local runtime runs several handlers in one process on threads:
# one emit at a time keeps each blob to one connector's numbers.
_EMIT_LOCK = threading.Lock()


def make_logger(service: str) -> Logger:
    """A Powertools logger for one function (``$POWERTOOLS_SERVICE_NAME`` wins when set)."""
    from aws_lambda_powertools import Logger

    return Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME") or service)


def make_metrics(service: str) -> Metrics:
    """A Powertools metrics collector in the lambda-connect namespace."""
    from aws_lambda_powertools import Metrics

    namespace = os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or DEFAULT_NAMESPACE
    return Metrics(namespace=namespace, service=os.environ.get("POWERTOOLS_SERVICE_NAME") or service)


def configure_logging(logger: Logger, env: Mapping[str, str] = os.environ) -> bool:
    """Send the package's standard-library logs through ``logger``'s JSON formatter.

    Done only in Lambda (``AWS_LAMBDA_FUNCTION_NAME`` set) or with
    ``LAMBDA_CONNECT_JSON_LOGS=1``; returns whether it was done.
    """
    if not (env.get("AWS_LAMBDA_FUNCTION_NAME") or env.get(_JSON_LOGS_ENV, "") in ("1", "true")):
        return False
    from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers

    logging.getLogger(_PACKAGE_LOGGER)  # register the tree's root so it can be configured
    copy_config_to_registered_loggers(source_logger=logger, include={_PACKAGE_LOGGER})
    return True


def sink_batch_metrics(
    *,
    records_in: int,
    written: int,
    dead_lettered: int,
    failed: int,
    dropped: int = 0,
    skipped_duplicates: int = 0,
    put_latency_ms: float | None = None,
    batch_failed: bool = False,
) -> dict[str, tuple[float, str]]:
    """The metrics of one sink batch: name → (value, unit)."""
    out: dict[str, tuple[float, str]] = {
        "RecordsIn": (records_in, "Count"),
        "RecordsWritten": (written, "Count"),
        "RecordsDeadLettered": (dead_lettered, "Count"),
        "RecordsFailed": (failed, "Count"),
        "RecordsDropped": (dropped, "Count"),
        "RecordsSkippedDuplicate": (skipped_duplicates, "Count"),
        "BatchFailed": (1 if batch_failed else 0, "Count"),
    }
    if put_latency_ms is not None:
        out["PutLatency"] = (put_latency_ms, "Milliseconds")
    return out


def emit(metrics: Metrics, connector: str, values: Mapping[str, tuple[float, str]], task: int | None = None,
         gauges: Collection[str] = ()) -> None:
    """Write ``values`` as one EMF blob with the ``connector`` dimension, now, and add them to
    the process's totals (``runtime.task_metrics``: ``lambda-connect up`` serves them at ``/metrics``).

    Each call is its own flush cycle: whatever the outcome, the collector is cleared
    afterwards. Powertools clears only after it has printed, so with metrics disabled
    (``POWERTOOLS_METRICS_DISABLED``, the local runtime's human-log mode) the dimension of
    the previous batch stayed behind — one container serving several connectors then
    warned "Dimension 'connector' has already been added" on every batch — and the values
    piled up until Powertools' 100-value overflow printed EMF lines despite the switch.
    Clearing also recovers from a batch whose metrics failed half-way. Names in ``gauges`` are
    levels (a source's lag): EMF carries them like any value, the process's totals keep their last.
    """
    if not values:  # Powertools warns about an empty flush; nothing to report anyway
        return
    from aws_lambda_powertools.metrics import MetricUnit

    COLLECTOR.record(connector or "unknown", task, values, gauges)

    with _EMIT_LOCK:
        try:
            metrics.add_dimension(name="connector", value=connector or "unknown")
            for name, (value, unit) in values.items():
                metrics.add_metric(name=name, unit=MetricUnit(unit), value=value)
            metrics.flush_metrics()
        finally:
            metrics.clear_metrics()


def worker_id(context: object, env: Mapping[str, str] = os.environ) -> str:
    """Where a task runs, as status shows it: ``$LAMBDA_CONNECT_WORKER_ID`` when set (``up``'s
    host:port), else the invoked function and its alias (``sink_task:connect-orders``, the tail of
    ``invoked_function_arn``), else the function name; ``local`` outside any of those."""
    override = env.get(WORKER_ID_ENV, "").strip()
    if override:
        return override
    arn = str(getattr(context, "invoked_function_arn", "") or "")
    parts = arn.split(":")
    if len(parts) >= 7 and parts[5] == "function":
        return ":".join(parts[6:8])
    return env.get("AWS_LAMBDA_FUNCTION_NAME") or str(getattr(context, "function_name", "") or "") or "local"
