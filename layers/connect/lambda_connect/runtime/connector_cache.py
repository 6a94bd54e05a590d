"""Per-container cache of built sink pipelines, keyed by connector name and config version.

Building a pipeline (resolving config provider references, validating, instantiating
converters, transforms and the task, opening database connections) costs far more than
processing a typical batch, and a warm Lambda container serves many batches of the same
connector. The config ``version`` in the state table changes on every config or target-state
change, so a cached pipeline is valid exactly as long as its version is current: a new
version stops the old task and builds everything afresh. Nothing cached is state that
matters if lost: a cold container simply rebuilds.

Config provider references (``${secretsmanager:...}``) are resolved when the pipeline is
built, so a rotated secret is picked up on the next config change or cold start.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from lambda_connect.api.connector import SinkConnector, SinkTask, SinkTaskContext
from lambda_connect.api.errors import ConfigException
from lambda_connect.api.records import SinkRecord
from lambda_connect.api.storage import TaskStorage

from .chain import TransformChain
from .config_providers import resolve_config
from .conversion import RecordConverters
from .errors import ErrorPolicy
from .registry import Registry
from .topic_identity import IdentityForwarder
from .validation import ConnectorConfig, parse_connector_config

__all__ = ["ConnectorEntryLike", "ErrantReporter", "PipelineCache", "SinkPipeline"]

log = logging.getLogger(__name__)

#: Connector key (owned by the reconciler's ``lambda.*`` keys) that turns on partial batch responses.
REPORT_BATCH_ITEM_FAILURES = "lambda.report.batch.item.failures"


class ConnectorEntryLike(Protocol):
    """What the pipeline needs of a state-table connector entry."""

    name: str
    config: Mapping[str, str]
    version: int
    target_state: str


class ErrantReporter:
    """The KIP-610 reporter handed to a task once; each batch plugs in its own handler.

    Tasks capture ``context.errant_record_reporter`` in ``start``, but a report belongs to
    the batch being written, so the stable callable forwards to whatever handler the
    current batch installed.
    """

    def __init__(self) -> None:
        self.handler: Callable[[SinkRecord, BaseException], None] | None = None

    def __call__(self, record: SinkRecord, error: BaseException) -> None:
        if self.handler is None:
            raise error
        self.handler(record, error)


def _bool(value: Any) -> bool:
    return str(value).strip().lower() == "true"


@dataclass
class SinkPipeline:
    """Everything built from one version of a sink connector's config."""

    name: str
    version: int
    config: ConnectorConfig
    converters: RecordConverters
    chain: TransformChain
    policy: ErrorPolicy
    task_configs: list[dict[str, str]]
    tasks: dict[int, tuple[SinkTask, ErrantReporter]] = field(default_factory=dict)
    #: ``connector -> TaskStorage`` for ``SinkTaskContext.storage`` (None: tasks get none).
    storage: Callable[[str], TaskStorage] | None = None
    #: What ``SinkTaskContext.topic_identity`` asks; the worker plugs in the batch's cluster.
    identities: IdentityForwarder = field(default_factory=IdentityForwarder)

    @property
    def props(self) -> dict[str, str]:
        return self.config.props

    @property
    def dlq_topic(self) -> str:
        return self.config.dlq_topic.strip()

    @property
    def dlq_replication_factor(self) -> int:
        return int(self.props.get("errors.deadletterqueue.topic.replication.factor", "3") or 3)

    @property
    def dlq_context_headers(self) -> bool:
        return _bool(self.props.get("errors.deadletterqueue.context.headers.enable", "false"))

    @property
    def report_batch_item_failures(self) -> bool:
        return _bool(self.props.get(REPORT_BATCH_ITEM_FAILURES, "false"))

    @property
    def tasks_max(self) -> int:
        return self.config.tasks_max

    @property
    def class_name(self) -> str:
        return self.config.class_name

    def task(self, task_id: int) -> tuple[SinkTask, ErrantReporter]:
        """The started task ``task_id`` (built on first use; a failed start is not cached)."""
        slot = self.tasks.get(task_id)
        if slot is not None:
            return slot
        task_config = self.task_configs[task_id % len(self.task_configs)] if self.task_configs else dict(self.props)
        reporter = ErrantReporter()
        # KIP-610: the reporter exists only when errors are reported somewhere (DLQ or log).
        has_reporter = bool(self.dlq_topic) or self.policy.log_enable
        task = self.config.connector_class.task_class()()
        if not isinstance(task, SinkTask):
            raise ConfigException(f"{self.class_name} is not a sink connector: its task is {type(task).__name__}")
        task.initialize(SinkTaskContext(self.name, task_id, task_config, reporter if has_reporter else None,
                                        self.identities))
        if self.storage is not None and task.context is not None:
            task.context.storage = self.storage(self.name)
        task.start(task_config)
        self.tasks[task_id] = (task, reporter)
        return task, reporter

    def close(self) -> None:
        """Stop every task and close converters and transforms (best effort, never raises)."""
        for task, _ in self.tasks.values():
            try:
                task.stop()
            except Exception:  # stop must not raise; one bad task must not keep others open
                log.warning("Failed to stop a task of connector %s", self.name, exc_info=True)
        self.tasks.clear()
        self.chain.close()
        self.converters.close()


def build_sink_pipeline(
    entry: ConnectorEntryLike, registry: Registry, storage: Callable[[str], TaskStorage] | None = None
) -> SinkPipeline:
    """Resolve, validate and instantiate one connector config version (raises ConfigException)."""
    props = resolve_config(dict(entry.config))
    props.setdefault("name", entry.name)
    config = parse_connector_config(props, registry)
    if config.type != "sink":
        raise ConfigException(f"Connector {entry.name} ({config.class_name}) is not a sink connector")
    policy = config.error_policy()
    converters = RecordConverters.from_config(props, registry)
    try:
        # Retries happen in the worker, which knows the invocation's deadline.
        chain = TransformChain.from_config(props, registry)
    except Exception:
        converters.close()
        raise
    connector = config.connector_class()
    assert isinstance(connector, SinkConnector)
    try:
        connector.start(props)
        task_configs = connector.task_configs(config.tasks_max)
    finally:
        connector.stop()
    return SinkPipeline(entry.name, entry.version, config, converters, chain, policy, task_configs, storage=storage)


class PipelineCache:
    """``(name, version) → SinkPipeline`` for one container; thread-safe for the local runtime."""

    def __init__(self, registry: Registry | None = None, storage: Callable[[str], TaskStorage] | None = None) -> None:
        self.registry = registry or Registry.default()
        self.storage = storage
        self._pipelines: dict[str, SinkPipeline] = {}
        self._lock = threading.Lock()

    def get(self, entry: ConnectorEntryLike) -> SinkPipeline:
        """The pipeline for this entry's version, rebuilding (and closing the old one) on change."""
        with self._lock:
            current = self._pipelines.get(entry.name)
            if current is not None and current.version == entry.version:
                return current
            if current is not None:
                del self._pipelines[entry.name]
                current.close()
            pipeline = build_sink_pipeline(entry, self.registry, self.storage)
            self._pipelines[entry.name] = pipeline
            return pipeline

    def evict(self, name: str) -> None:
        """Drop (and close) a connector's pipeline, e.g. after a task failed to start."""
        with self._lock:
            pipeline = self._pipelines.pop(name, None)
        if pipeline is not None:
            pipeline.close()

    def close(self) -> None:
        with self._lock:
            pipelines, self._pipelines = list(self._pipelines.values()), {}
        for pipeline in pipelines:
            pipeline.close()
