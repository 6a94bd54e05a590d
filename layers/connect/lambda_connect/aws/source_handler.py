"""The source task Lambda: a schedule tick in, ``SourceWorker.run_task`` once, metrics out.

Triggers (``events/schedule.json``, ``events/schedule-eventbridge.json``):

* the EventBridge Scheduler target input the reconciler writes: ``{"connector": NAME, "task": N}``;
* an EventBridge scheduled event (a rule with ``detail``) carrying the same keys in ``detail``.

Anything else raises ``InvalidTriggerError`` naming what is missing. The time budget is the
invocation's remaining time (``context.get_remaining_time_in_millis()``) minus
``$LAMBDA_CONNECT_DEADLINE_MARGIN_MS`` (default 5000), so offsets are committed before Lambda
cuts the invocation off; the lease owner is the request id. Local invokes without a context
get ``$LAMBDA_CONNECT_SOURCE_BUDGET_MS`` (default 60000).

Kafka clients come from ``aws.kafka_clients`` (``$LAMBDA_CONNECT_BOOTSTRAP_SERVERS`` and its
auth settings), built on first use. ``$LAMBDA_CONNECT_EXACTLY_ONCE_SOURCE_SUPPORT=enabled``
plays Kafka's worker setting ``exactly.once.source.support``: every source connector then runs
transactionally, not only those with ``exactly.once.support=required``.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections.abc import Mapping
from typing import Any

from lambda_connect.api.errors import ConnectException
from lambda_connect.runtime.source_worker import SourceRunResult, SourceWorker
from lambda_connect.state.base import StateStore, open_store

from .kafka_clients import KafkaSettings, ensure_topic, kafka_settings_from_env, make_admin, make_producer
from .metrics import emit, make_metrics, worker_id
from .sink_handler import DEADLINE_MARGIN_ENV, StoreStatusReporter

__all__ = ["InvalidTriggerError", "KafkaClients", "SourceHandler", "lag_unit", "parse_trigger", "source_run_metrics"]

log = logging.getLogger(__name__)

BUDGET_ENV = "LAMBDA_CONNECT_SOURCE_BUDGET_MS"
EXACTLY_ONCE_ENV = "LAMBDA_CONNECT_EXACTLY_ONCE_SOURCE_SUPPORT"


class InvalidTriggerError(ConnectException):
    """The event is neither a schedule input nor a scheduled event naming connector and task."""


def parse_trigger(event: Any) -> tuple[str, int]:
    """``(connector, task)`` from a schedule input or an EventBridge event's ``detail``."""
    if not isinstance(event, Mapping):
        raise InvalidTriggerError(f"A source task event must be a JSON object, got {type(event).__name__}")
    body: Any = event
    if "connector" not in event and isinstance(event.get("detail"), Mapping):
        body = event["detail"]
    name = body.get("connector")
    if not isinstance(name, str) or not name.strip():
        raise InvalidTriggerError('The event names no connector: expected {"connector": NAME, "task": N} '
                                  "(or the same in an EventBridge event's detail)")
    raw_task = body.get("task", 0)
    if isinstance(raw_task, bool) or not (isinstance(raw_task, int) or (isinstance(raw_task, str)
                                                                          and raw_task.strip().isdigit())):
        raise InvalidTriggerError(f"Invalid task {raw_task!r} for connector {name}: expected an integer >= 0")
    return name.strip(), int(raw_task)


def lag_unit(name: str) -> str:
    """The EMF unit of a figure a task reports (``SourceTask.lag_metrics``), from its name's suffix."""
    for suffix, unit in (("_bytes", "Bytes"), ("_seconds", "Seconds"), ("_ms", "Milliseconds"),
                         ("_milliseconds", "Milliseconds")):
        if name.endswith(suffix):
            return unit
    return "None"


def source_run_metrics(result: SourceRunResult) -> dict[str, tuple[float, str]]:
    """The metrics of one source invocation: name → (value, unit); the task's own figures
    (``result.lag_metrics``, gauges) under the names it gave them."""
    lag = {name: (value, lag_unit(name)) for name, value in result.lag_metrics.items()}
    return {**lag, **{
        "RecordsPolled": (result.records_polled, "Count"),
        "RecordsProduced": (result.records_produced, "Count"),
        "RecordsFiltered": (result.records_filtered, "Count"),
        "RecordsFailed": (result.records_failed, "Count"),
        "OffsetsCommitted": (result.offsets_committed, "Count"),
        "TaskFailed": (1 if result.outcome == "failed" else 0, "Count"),
        "LeaseHeld": (1 if result.outcome == "lease_held" else 0, "Count"),
        "Fenced": (1 if result.outcome == "fenced" else 0, "Count"),
        "RunDuration": (result.duration_ms, "Milliseconds"),
    }}


class KafkaClients:
    """Producers and topic creation for source tasks, from the function's Kafka settings.

    Settings are read on first use, so importing the handler never needs the environment.
    One admin client per distinct ``admin.override.*`` set is kept for the container.
    """

    def __init__(self, env: Mapping[str, str] = os.environ, settings: KafkaSettings | None = None) -> None:
        self.env = env
        self._settings = settings
        self._admins: dict[tuple[tuple[str, str], ...], Any] = {}
        self._lock = threading.Lock()

    @property
    def settings(self) -> KafkaSettings:
        with self._lock:
            if self._settings is None:
                self._settings = kafka_settings_from_env(self.env)
            return self._settings

    def producer(self, overrides: Mapping[str, Any], transactional_id: str | None) -> Any:
        return make_producer(self.settings, overrides, transactional_id=transactional_id)

    def topic_creator(self, admin_overrides: Mapping[str, Any]) -> Any:
        key = tuple(sorted((str(k), str(v)) for k, v in admin_overrides.items()))

        def create(topic: str, partitions: int, replication_factor: int, configs: Mapping[str, str]) -> bool:
            with self._lock:
                admin = self._admins.get(key)
            if admin is None:
                admin = make_admin(self.settings, dict(admin_overrides))
                with self._lock:
                    self._admins.setdefault(key, admin)
            return ensure_topic(admin, topic, partitions, replication_factor, configs)

        return create


class SourceHandler:
    """Everything one container needs, built once; call it with ``(event, context)``."""

    def __init__(
        self,
        store: StateStore | None = None,
        *,
        env: Mapping[str, str] = os.environ,
        worker: SourceWorker | None = None,
        clients: KafkaClients | None = None,
        metrics: Any = None,
    ) -> None:
        self.env = env
        self.store = store if store is not None else open_store(env.get("LAMBDA_CONNECT_STATE_URL"))
        self.margin_ms = float(env.get(DEADLINE_MARGIN_ENV, "5000"))
        self.default_budget_ms = float(env.get(BUDGET_ENV, "60000"))
        self.clients = clients or KafkaClients(env)
        self.worker = worker or SourceWorker(
            self.store,
            producer_factory=self.clients.producer,
            topic_creator_factory=self.clients.topic_creator,
            status=StoreStatusReporter(self.store),
            worker_id=worker_id(None, env),
            exactly_once_default=env.get(EXACTLY_ONCE_ENV, "").strip().lower() == "enabled",
        )
        self.metrics = metrics if metrics is not None else make_metrics("source-task")

    def budget_ms(self, context: Any) -> float:
        """Time left for polling and committing: the invocation's remaining time minus the margin."""
        remaining = getattr(context, "get_remaining_time_in_millis", None)
        total = float(remaining()) if callable(remaining) else self.default_budget_ms
        return max(total - self.margin_ms, 0.0)

    def __call__(self, event: Any, context: Any) -> dict[str, Any]:
        name, task = parse_trigger(event)
        owner = str(getattr(context, "aws_request_id", None) or uuid.uuid4())
        result = self.worker.run_task(name, task, self.budget_ms(context), owner)
        idle = result.stop_reason == "no_data" and not result.records_polled and not result.records_failed
        log.log(logging.DEBUG if idle else logging.INFO,  # an idle tick is noise at INFO
                "Source task %s-%s: %s (%s); polled %d, produced %d, filtered %d, failed %d, %d offset(s) committed",
                name, task, result.outcome, result.stop_reason, result.records_polled, result.records_produced,
                result.records_filtered, result.records_failed, result.offsets_committed,
                extra={"connector": name, "task": task})
        try:
            emit(self.metrics, name, source_run_metrics(result), task=task, gauges=result.lag_metrics.keys())
        except Exception:  # metrics must never turn a finished run into a failed invocation
            log.warning("Emitting metrics failed", exc_info=True)
        return result.to_dict()
