"""The reconciler: Kafka Connect's rebalance, as a loop that makes a platform match the state table.

Each call looks at one connector as it is *now* in the state table — never at the change that
triggered it — so stream events may arrive twice, late or out of order and the outcome is the
same. For a connector that exists it derives the desired state (target state, config, topics
with ``topics.regex`` resolved against the cluster), asks the :class:`Platform` to converge,
records the resources it reports, and writes the connector status (RUNNING, PAUSED, STOPPED, or
FAILED with the trace). For a name with no connector it removes whatever the platform still has.

Besides the platform it keeps the bits of Kafka Connect's herder that no task can own:

* sink task configs are ``tasks.max`` copies of the connector config (Kafka's usual shape),
  written per config version; STOPPED erases task configs and task statuses (KIP-875);
* restart requests — statuses ``RESTARTING`` written by the REST layer — are answered: the
  connector is re-converged (re-enabling what is disabled), a restarted sink task reports the
  connector's state until its next batch, a restarted source task UNASSIGNED until its next
  tick, and a restarted source connector regenerates its task configs;
* statuses are written only when they change, so the reconciler's own writes, seen again on
  the table stream, settle after one more pass.
"""

from __future__ import annotations

import logging
import re
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from lambda_connect.api.connector import SinkTask
from lambda_connect.api.errors import ConfigException, RetriableException

from .connector_cache import build_sink_pipeline
from .lambda_config import lambda_settings
from .platform import (
    Platform,
    PlatformError,
    SinkSpec,
    SourceSpec,
    assign_consumer_groups,
    connector_alias,
)
from .registry import Registry
from .store import StatusEntry
from .task_storage import task_storage_factory
from .validation import ConnectorConfig, parse_connector_config

__all__ = ["DEFAULT_POLL_INTERVAL_MS", "ReconcileResult", "Reconciler", "ReconcilerStore", "StatusEntry"]

log = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_POLL_INTERVAL_MS = 60_000
RESTARTING = "RESTARTING"
_INTERNAL_TOPIC = "__"


class ReconcilerStore(Protocol):
    """The part of ``state.base.StateStore`` the reconciler uses."""

    def get_connector(self, name: str) -> Any: ...
    def list_connectors(self) -> list[str]: ...
    def get_task_configs(self, name: str) -> Any: ...
    def put_task_configs(self, name: str, config_version: int, configs: Any) -> bool: ...
    def clear_task_configs(self, name: str) -> None: ...
    def put_connector_status(self, name: str, status: Any) -> None: ...
    def put_task_status(self, name: str, task: int, status: Any) -> None: ...
    def get_connector_status(self, name: str) -> Any: ...
    def get_task_statuses(self, name: str) -> dict[int, Any]: ...
    def clear_task_statuses(self, name: str) -> None: ...
    def put_resources(self, name: str, resources: Mapping) -> None: ...
    def get_resources(self, name: str) -> dict: ...


@dataclass(frozen=True)
class ReconcileResult:
    """What one reconcile did. ``retriable`` marks failures worth another attempt (a platform
    refusal), as opposed to a config that will fail the same way every time."""

    name: str
    action: str  # "ensured" | "removed" | "failed"
    state: str | None = None
    resources: dict = field(default_factory=dict)
    error: str | None = None
    retriable: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None


class Reconciler:
    """Converges connectors in ``store`` onto ``platform``; safe to run anywhere, any number of times.

    ``clock`` stamps statuses; ``sleep`` and ``attempts`` bound the retries of throttled platform
    calls (each retry re-runs the idempotent ensure from the top).
    """

    def __init__(
        self,
        store: ReconcilerStore,
        platform: Platform,
        registry: Registry | None = None,
        clock: Callable[[], float] = time.time,
        *,
        worker_id: str = "lambda-connect-reconciler",
        sleep: Callable[[float], None] = time.sleep,
        attempts: int = 5,
        backoff_seconds: float = 1.0,
    ) -> None:
        self.store = store
        self.platform = platform
        self.registry = registry or Registry.default()
        self.clock = clock
        self.worker_id = worker_id
        self._sleep = sleep
        self._attempts = max(1, attempts)
        self._backoff = backoff_seconds

    # -- public ------------------------------------------------------------------------------

    def reconcile(self, name: str, *, known_resources: Mapping | None = None) -> ReconcileResult:
        """Converge connector ``name``. ``known_resources`` stands in for the state table's record
        when that is already gone (a deleted connector's resources, read from the stream's old image)."""
        entry = self.store.get_connector(name)
        current = self.store.get_resources(name) or dict(known_resources or {})
        if entry is None:
            return self._remove(name, current)
        return self._ensure(entry, current)

    def reconcile_all(self) -> list[ReconcileResult]:
        """Every connector in the state table: the periodic re-scan that picks up new topics for
        ``topics.regex``, new sink function code, and any drift made outside lambda-connect."""
        results = [self.reconcile(name) for name in self.store.list_connectors()]
        self.idle_sinks([r.name for r in results if r.action == "ensured" and r.state == "RUNNING"])
        return results

    def idle_sinks(self, names: list[str]) -> None:
        """Give each running sink connector whose task defers work (``SinkTask.idle``) a turn.

        The rescan is the only thing that runs when a topic has gone quiet, so it is what
        finishes work a task left for a later invocation (the Iceberg sink's pending files).
        Other connectors cost one class lookup; a failure is logged and never fails the rescan.
        """
        storage = task_storage_factory(self.store)
        for name in names:
            entry = self.store.get_connector(name)
            if entry is None or entry.target_state != "RUNNING":
                continue
            try:
                cfg = parse_connector_config(entry.config, self.registry)
                if cfg.type != "sink" or cfg.connector_class.task_class().idle is SinkTask.idle:
                    continue
                pipeline = build_sink_pipeline(entry, self.registry, storage)
                try:
                    task, _ = pipeline.task(0)
                    task.idle()
                finally:
                    pipeline.close()
            except Exception:
                log.exception("idle work of sink connector %s failed", name)

    # -- delete ------------------------------------------------------------------------------

    def _remove(self, name: str, current: dict) -> ReconcileResult:
        try:
            self._retrying(lambda: self.platform.remove(name, current))
        except Exception as e:
            log.exception("removing connector %s failed", name)
            return ReconcileResult(name, "failed", None, current, _trace(e), _retriable(e))
        if self.store.get_connector(name) is None and self.store.get_resources(name):
            self.store.put_resources(name, {})
        return ReconcileResult(name, "removed")

    # -- create / update ---------------------------------------------------------------------

    def _ensure(self, entry: Any, current: dict) -> ReconcileResult:
        name = entry.name
        restart = self._restart_requested(name)
        try:
            cfg = parse_connector_config(entry.config, self.registry)
            if current.get("kind") not in (None, cfg.type):
                # connector.class moved between sink and source: nothing of the old kind survives.
                self._retrying(lambda: self.platform.remove(name, current))
                current = {}
            if cfg.type == "sink":
                resources = self._ensure_sink(entry, cfg, current)
            else:
                resources = self._ensure_source(entry, cfg, current)
        except Exception as e:
            log.exception("reconciling connector %s failed", name)
            partial = e.resources if isinstance(e, PlatformError) and e.resources else None
            if partial is not None:
                self._record(name, {**current, **partial})
            self._put_status(name, "FAILED", _trace(e))
            return ReconcileResult(name, "failed", "FAILED", partial or current, _trace(e), _retriable(e))
        state = entry.target_state
        self._after_converge(entry, cfg, restart)
        self._put_status(name, state, None)
        return ReconcileResult(name, "ensured", state, resources)

    def _ensure_sink(self, entry: Any, cfg: ConnectorConfig, current: dict) -> dict:
        settings = lambda_settings(entry.config)
        topics = tuple(cfg.topics) if cfg.topics else tuple(self._match(cfg.topics_regex, cfg.dlq_topic))
        groups = assign_consumer_groups(entry.name, topics, current.get("consumer_groups") or {})
        spec = SinkSpec(
            alias=connector_alias(entry.name),
            topics=topics,
            consumer_groups=groups,
            enabled=entry.target_state == "RUNNING",
            settings=settings,
            config_version=entry.version,
        )
        resources = self._retrying(lambda: self.platform.ensure_sink(entry.name, spec, current))
        resources = {"consumer_groups": dict(groups), **resources, "kind": "sink", "topics": list(topics),
                     "config_version": entry.version}
        self._record(entry.name, resources)
        return resources

    def _ensure_source(self, entry: Any, cfg: ConnectorConfig, current: dict) -> dict:
        spec = SourceSpec(
            alias=connector_alias(entry.name),
            tasks=cfg.tasks_max,
            poll_interval_ms=_poll_interval_ms(cfg, self.registry),
            enabled=entry.target_state == "RUNNING",
            config_version=entry.version,
        )
        resources = self._retrying(lambda: self.platform.ensure_source(entry.name, spec, current))
        resources = {**resources, "kind": "source", "config_version": entry.version}
        self._record(entry.name, resources)
        return resources

    def _match(self, regex: str, dlq: str) -> list[str]:
        """Topics of the cluster matching ``topics.regex`` as a whole name, like a Kafka pattern
        subscription (internal ``__`` topics excluded, and never the connector's own DLQ)."""
        pattern = re.compile(regex)
        return sorted(
            t for t in self._retrying(self.platform.list_topics)
            if pattern.fullmatch(t) and not t.startswith(_INTERNAL_TOPIC) and t != dlq
        )

    def _after_converge(self, entry: Any, cfg: ConnectorConfig, restart: set[int | None]) -> None:
        name, state = entry.name, entry.target_state
        if state == "STOPPED":
            if self.store.get_task_configs(name) is not None:
                self.store.clear_task_configs(name)
            if self.store.get_task_statuses(name):
                self.store.clear_task_statuses(name)
            return
        if cfg.type == "sink":
            stored = self.store.get_task_configs(name)
            if stored is None or stored.config_version < entry.version:
                self.store.put_task_configs(name, entry.version, [dict(entry.config)] * cfg.tasks_max)
        elif None in restart:
            # Kafka restarts a connector by starting it again, which regenerates its task configs;
            # the next source task invocation does that when it finds none.
            self.store.clear_task_configs(name)
        for task, status in self.store.get_task_statuses(name).items():
            if status.state == RESTARTING:
                new_state = state if cfg.type == "sink" else "UNASSIGNED"
                self.store.put_task_status(name, task, StatusEntry(new_state, self.worker_id, None, self.clock()))

    # -- helpers -----------------------------------------------------------------------------

    def _restart_requested(self, name: str) -> set[int | None]:
        """``None`` for the connector, task numbers for tasks: what the REST layer asked to restart."""
        wanted: set[int | None] = set()
        status = self.store.get_connector_status(name)
        if status is not None and status.state == RESTARTING:
            wanted.add(None)
        wanted.update(t for t, s in self.store.get_task_statuses(name).items() if s.state == RESTARTING)
        return wanted

    def _record(self, name: str, resources: dict) -> None:
        if self.store.get_resources(name) != resources:
            self.store.put_resources(name, resources)

    def _put_status(self, name: str, state: str, trace: str | None) -> None:
        old = self.store.get_connector_status(name)
        if old is not None and old.state == state and old.trace == trace:
            return
        self.store.put_connector_status(name, StatusEntry(state, self.worker_id, trace, self.clock()))

    def _retrying(self, call: Callable[[], T]) -> T:
        """Run ``call``; retry a transient refusal (throttling) with exponential backoff."""
        for attempt in range(self._attempts):
            try:
                return call()
            except RetriableException:
                if attempt == self._attempts - 1:
                    raise
                self._sleep(self._backoff * 2**attempt)
        raise AssertionError("unreachable")  # pragma: no cover


def _poll_interval_ms(cfg: ConnectorConfig, registry: Registry) -> int:
    """The connector's ``poll.interval.ms`` (its own default when it defines the key), else the
    plugin's natural cadence, else one minute."""
    value = cfg.values.get("poll.interval.ms") if "poll.interval.ms" in cfg.values else None
    if value is None:
        raw = cfg.props.get("poll.interval.ms")
        natural = getattr(registry.resolve(cfg.class_name), "natural_poll_interval_ms", None)
        try:
            value = int(raw) if raw is not None else (natural or DEFAULT_POLL_INTERVAL_MS)
        except ValueError as e:
            raise ConfigException.for_key("poll.interval.ms", raw, "Not a number of type LONG") from e
    return int(value)


def _trace(e: BaseException) -> str:
    return "".join(traceback.format_exception(e))


def _retriable(e: BaseException) -> bool:
    return not isinstance(e, ConfigException)
