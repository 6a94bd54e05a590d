"""``/connectors/{name}/dlq`` and ``/connectors/{name}/dlq/replay``: lambda-connect's extensions
to Kafka Connect's API for reading and replaying a sink connector's dead letter queue.

The logic is ``runtime.dlq_replay``; this module binds it to the state table (which connector,
which DLQ topic, where sparse replay progress lives, one replay per connector at a time through
a state-table lease) and to the cluster the API already talks to.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from lambda_connect.api.errors import ConnectException, NotFoundException
from lambda_connect.runtime.dlq_reader import parse_filters
from lambda_connect.runtime.dlq_replay import DlqTopicAccess, dlq_topic_of, list_entries, replay, replay_group
from lambda_connect.runtime.task_storage import StateTableTaskStorage

from .errors import BadRequest, RestError, ServerError

__all__ = ["DEFAULT_LIST_LIMIT", "REPLAY_LEASE_TASK", "DlqResource", "attach", "dlq_of"]

DEFAULT_LIST_LIMIT = 100
MAX_LIST_LIMIT = 10_000
#: The lease slot a replay holds (source tasks use 0..n; no task is ever -1).
REPLAY_LEASE_TASK = -1
_LEASE_TTL_S = 300.0
_REPLAY_FIELDS = frozenset({"to_topic", "dry_run", "filter"})


def _limit(raw: list[str] | None) -> int:
    if not raw:
        return DEFAULT_LIST_LIMIT
    try:
        value = int(raw[-1])
    except ValueError as e:
        raise BadRequest(f"limit must be an integer from 1 to {MAX_LIST_LIMIT}, got {raw[-1]!r}") from e
    if not 1 <= value <= MAX_LIST_LIMIT:
        raise BadRequest(f"limit must be an integer from 1 to {MAX_LIST_LIMIT}, got {value}")
    return value


def _filters(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise BadRequest('"filter" must be a string or a list of strings such as "stage=VALUE_CONVERTER"')


def _predicate(specs: list[str]) -> Any:
    try:
        return parse_filters(specs) if specs else None
    except ConnectException as e:
        raise BadRequest(str(e)) from e


class DlqResource:
    """DLQ listing and replay over one state store and one cluster."""

    def __init__(self, store: Any, access_factory: Callable[[], DlqTopicAccess]) -> None:
        self.store = store
        self._access_factory = access_factory
        self._access: DlqTopicAccess | None = None

    @property
    def access(self) -> DlqTopicAccess:
        if self._access is None:
            self._access = self._access_factory()
        return self._access

    def _topic(self, name: str) -> str:
        entry = self.store.get_connector(name)
        if entry is None:
            raise NotFoundException(f"Connector {name} not found")
        try:
            return dlq_topic_of(name, entry.config)
        except ConnectException as e:
            raise BadRequest(str(e)) from e

    def list(self, name: str, query: dict[str, list[str]]) -> dict[str, Any]:
        topic = self._topic(name)
        limit = _limit(query.get("limit"))
        matches = _predicate(query.get("filter") or [])
        marks = self.access.watermarks(topic)
        entries = list_entries(self.access, topic, limit=limit, matches=matches, marks=marks)
        positions = self.access.committed(replay_group(name), topic, sorted(marks)) if marks else {}
        total = sum(hi - lo for lo, hi in marks.values())
        return {
            "connector": name, "dlq_topic": topic, "total": total,
            "replay_group": replay_group(name),
            "replay_positions": {str(p): o for p, o in sorted(positions.items())},
            "entries": [e.as_json() for e in entries],
        }

    def replay(self, name: str, body: Any) -> dict[str, Any]:
        if body is None:
            body = {}
        if not isinstance(body, dict):
            raise BadRequest(f"The replay request must be a JSON object, got {type(body).__name__}")
        unknown = sorted(set(body) - _REPLAY_FIELDS)
        if unknown:
            raise BadRequest(f'Unknown field "{unknown[0]}" in the replay request (known: dry_run, filter, to_topic)')
        to_topic = body.get("to_topic")
        if to_topic is not None and (not isinstance(to_topic, str) or not to_topic.strip()):
            raise BadRequest('"to_topic" must be a non-empty topic name')
        dry_run = body.get("dry_run", False)
        if not isinstance(dry_run, bool):
            raise BadRequest('"dry_run" must be true or false')
        matches = _predicate(_filters(body.get("filter")))
        topic = self._topic(name)
        owner = f"dlq-replay-{uuid.uuid4()}"
        lease = None
        if not dry_run:
            lease = self.store.acquire_lease(name, REPLAY_LEASE_TASK, owner, _LEASE_TTL_S)
            if lease is None:
                raise RestError(409, f"A replay of connector {name}'s dead letter queue is already running")
        try:
            def renew(_count: int) -> None:
                nonlocal lease
                if lease is not None:
                    lease = self.store.renew_lease(lease, _LEASE_TTL_S) or lease

            result = replay(self.access, name, topic, storage=StateTableTaskStorage(self.store, name),
                            matches=matches, to_topic=to_topic.strip() if to_topic else None, dry_run=dry_run,
                            on_chunk=renew)
        finally:
            if lease is not None:
                self.store.release_lease(lease)
        return result.as_json()


def attach(service: Any, access_factory: Callable[[], DlqTopicAccess] | None) -> None:
    """Give a ``ConnectService`` its DLQ endpoints; the adapter layer supplies the Kafka access
    (``aws.dlq_topic.KafkaDlqTopicAccess``), since this layer knows no Kafka client."""
    service.dlq = DlqResource(service.store, access_factory) if access_factory is not None else None


def dlq_of(service: Any) -> DlqResource:
    """The service's DLQ resource; a 500 naming the cause when the API has no cluster to read."""
    found = getattr(service, "dlq", None)
    if found is None:
        raise ServerError("Dead letter queues are unavailable: no Kafka cluster is configured for the API")
    return found
