"""The reconciler's :class:`~lambda_connect.runtime.platform.Platform`, in one process.

Where AWS gets a function alias and one Kafka event source mapping per topic, a sink connector
here gets one :class:`~lambda_connect.local.esm.EsmEmulator` per topic, invoking the sink
handler with a context whose ARN ends with the connector's alias. Where AWS gets an EventBridge
schedule per source task, a source task here gets a :class:`~lambda_connect.local.scheduler.
TaskSchedule`. Names (alias, consumer groups, schedule names) are the AWS platform's, so the
state table looks the same whichever platform wrote it.

Disabling (pause, stop) waits for the sink batch in flight to be committed, so once the
reconciler reports PAUSED no more sink writes happen. Source invocations already running notice
the new target state within about a second (the source worker re-reads it) and end cleanly.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from typing import Any

from lambda_connect.aws.kafka_clients import KafkaSettings, list_topics, make_admin
from lambda_connect.runtime.platform import SinkSpec, SourceSpec, connector_alias, schedule_name

from .context import LambdaContext, function_arn
from .esm import EsmEmulator
from .esm_process import EsmProcess, make_esm
from .scheduler import MIN_INTERVAL_MS, TaskSchedule

__all__ = ["LocalPlatform"]

log = logging.getLogger(__name__)

Invoker = Callable[[dict[str, Any], LambdaContext], Any]
_NAMESPACE = uuid.UUID("6f1d1c2e-6c0a-4d43-9a53-6c2b1f0c9e11")


def _esm_uuid(name: str, topic: str) -> str:
    """Deterministic, so a restarted runtime reports the same mapping ids."""
    return str(uuid.uuid5(_NAMESPACE, f"{name}\x00{topic}"))


class LocalPlatform:
    """ESM emulators and schedules as threads; see the module docstring."""

    def __init__(
        self,
        kafka: KafkaSettings,
        *,
        sink_invoke: Invoker,
        source_invoke: Invoker,
        sink_function: str = "SinkTaskFunction",
        source_function: str = "SourceTaskFunction",
        sink_timeout_ms: int = 300_000,
        source_timeout_ms: int = 300_000,
        stop_timeout: float = 60.0,
        retry_backoff_max: float = 5.0,
        consumer_overrides: dict[str, Any] | None = None,
        request_id_prefix: str | None = None,
    ) -> None:
        self.kafka = kafka
        self._request_id_prefix = request_id_prefix
        self._sink_invoke = sink_invoke
        self._source_invoke = source_invoke
        self._sink_function = sink_function
        self._source_function = source_function
        self._sink_timeout_ms = sink_timeout_ms
        self._source_timeout_ms = source_timeout_ms
        self._stop_timeout = stop_timeout
        self._retry_backoff_max = retry_backoff_max
        self._consumer_overrides = dict(consumer_overrides or {})
        self._esms: dict[str, dict[str, EsmEmulator | EsmProcess]] = {}
        self._schedules: dict[str, dict[str, TaskSchedule]] = {}
        self._lock = threading.RLock()
        self._admin: Any = None

    # ------------------------------------------------------------------ Platform
    def ensure_sink(self, name: str, spec: SinkSpec, current: dict) -> dict:
        with self._lock:
            self._stop_schedules(name)
            esms = self._esms.setdefault(name, {})
            for topic in [t for t in esms if t not in spec.topics]:
                esms.pop(topic).stop(self._stop_timeout)
            arn = function_arn(self._sink_function, spec.alias)
            for topic in spec.topics:
                group = spec.consumer_groups[topic]
                esm = esms.get(topic)
                if esm is not None and (esm.consumer_group != group or esm.settings != spec.settings):
                    esm.stop(self._stop_timeout)  # settings change: recreate (create-only fields included)
                    esm = None
                if esm is None:
                    esm = make_esm(
                        connector=name, topic=topic, consumer_group=group, settings=spec.settings,
                        invoke=self._sink_invoke, function_name=self._sink_function, function_arn=arn,
                        timeout_ms=self._sink_timeout_ms, kafka=self.kafka,
                        retry_backoff_max=self._retry_backoff_max, uuid_=_esm_uuid(name, topic),
                        consumer_overrides=self._consumer_overrides,
                    )
                    esms[topic] = esm
                if spec.enabled:
                    if esm.running and esm.state == "Disabling":
                        esm.stop(self._stop_timeout)
                    esm.start()
                else:
                    esm.stop(self._stop_timeout)
            state = "Enabled" if spec.enabled else "Disabled"
            return {
                "alias": spec.alias,
                "esms": {t: {"uuid": esms[t].uuid, "consumer_group": spec.consumer_groups[t], "state": state}
                         for t in spec.topics},
                "consumer_groups": dict(spec.consumer_groups),
            }

    def ensure_source(self, name: str, spec: SourceSpec, current: dict) -> dict:
        with self._lock:
            self._stop_esms(name)
            schedules = self._schedules.setdefault(name, {})
            wanted = [schedule_name(spec.alias, n) for n in range(spec.tasks)]
            for sched in [s for s in schedules if s not in wanted]:
                schedules.pop(sched).request_stop()
            arn = function_arn(self._source_function)
            for task, sched_name in enumerate(wanted):
                schedule = schedules.get(sched_name)
                if schedule is not None and schedule.interval_ms != max(MIN_INTERVAL_MS, spec.poll_interval_ms):
                    schedule.request_stop()  # a new rate: replace the schedule
                    schedule = None
                if schedule is None:
                    schedule = TaskSchedule(
                        name=sched_name, connector=name, task=task, interval_ms=spec.poll_interval_ms,
                        invoke=self._source_invoke, function_name=self._source_function, function_arn=arn,
                        timeout_ms=self._source_timeout_ms, request_id_prefix=self._request_id_prefix,
                    )
                    schedules[sched_name] = schedule
                if spec.enabled:
                    schedule.start()
                else:
                    schedule.request_stop()
            return {"alias": spec.alias, "schedules": wanted,
                    "schedule_state": "ENABLED" if spec.enabled else "DISABLED"}

    def remove(self, name: str, current: dict) -> None:
        with self._lock:
            self._stop_esms(name)
            self._stop_schedules(name)

    def list_topics(self) -> list[str]:
        if self._admin is None:
            self._admin = make_admin(self.kafka)
        return list_topics(self._admin)

    # ------------------------------------------------------------------ local extras
    def esms(self, name: str) -> dict[str, EsmEmulator | EsmProcess]:
        """The mappings of sink connector ``name`` (for progress displays and tests)."""
        with self._lock:
            return dict(self._esms.get(name, {}))

    def schedules(self, name: str) -> dict[str, TaskSchedule]:
        """The schedules of source connector ``name``."""
        with self._lock:
            return dict(self._schedules.get(name, {}))

    def alias(self, name: str) -> str:
        return connector_alias(name)

    def shutdown(self, timeout: float | None = None) -> None:
        """Stop every mapping (finishing and committing its batch) and schedule, then wait for
        running source invocations."""
        with self._lock:
            esms = [e for group in self._esms.values() for e in group.values()]
            schedules = [s for group in self._schedules.values() for s in group.values()]
            self._esms.clear()
            self._schedules.clear()
        for item in [*esms, *schedules]:
            item.request_stop()
        wait = self._stop_timeout if timeout is None else timeout
        for item in [*esms, *schedules]:
            item.stop(wait)

    def _stop_esms(self, name: str) -> None:
        for esm in self._esms.pop(name, {}).values():
            esm.stop(self._stop_timeout)

    def _stop_schedules(self, name: str) -> None:
        for schedule in self._schedules.pop(name, {}).values():
            schedule.request_stop()
