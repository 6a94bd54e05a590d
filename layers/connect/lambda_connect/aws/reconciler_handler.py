"""Adapts the reconciler function's three triggers to :class:`~lambda_connect.runtime.reconciler.Reconciler`.

* the state table's DynamoDB stream: the connectors named by the records' keys (key layout in
  ``state/dynamodb.py``) are reconciled once each, however many of their items changed; stream
  records of connectors that failed for a reason worth retrying come back in
  ``batchItemFailures`` (the mapping has ``ReportBatchItemFailures``), so Lambda retries from
  the first of them;
* a direct invoke ``{"connector": "name"}`` reconciles one connector and returns the outcome;
* the periodic ``{"rescan": true}`` reconciles every connector (``topics.regex`` against new
  topics, new sink code, drift).

Only the writes that change desired state wake the reconciler: the connector's config item
(create, update, pause/resume/stop, delete) and ``RESTARTING`` statuses. Task statuses, offsets,
leases and the reconciler's own resource records are ignored, or every sink batch would
trigger a reconcile.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from typing import Any

from lambda_connect.runtime.reconciler import Reconciler, ReconcileResult

__all__ = ["ReconcilerHandler", "connector_changes", "handler_from_env"]

log = logging.getLogger(__name__)

_PREFIX = "connector#"


def _string(image: Mapping[str, Any] | None, attribute: str) -> str | None:
    value = (image or {}).get(attribute)
    return value.get("S") if isinstance(value, Mapping) else None


def connector_changes(
    records: list[Mapping[str, Any]], *, partition_key_attr: str = "pk", sort_key_attr: str = "sk"
) -> dict[str, tuple[list[str], dict | None]]:
    """Per connector worth reconciling: the sequence numbers of its records and, when the stream
    shows its resources item being removed (the connector was deleted), those resources."""
    out: dict[str, tuple[list[str], dict | None]] = {}
    for record in records:
        data = record.get("dynamodb") or {}
        keys = data.get("Keys") or {}
        pk, sk = _string(keys, partition_key_attr), _string(keys, sort_key_attr)
        if not pk or not pk.startswith(_PREFIX) or sk is None:
            continue
        name = pk[len(_PREFIX):]
        new = data.get("NewImage")
        resources: dict | None = None
        restart = (sk == "status" or sk.startswith("task#")) and _string(new, "state") == "RESTARTING"
        if sk == "config" or restart:
            pass
        elif sk == "resources" and record.get("eventName") == "REMOVE":
            try:
                resources = json.loads(_string(data.get("OldImage"), "resources") or "{}")
            except ValueError:
                resources = None
        else:
            continue
        sequences, known = out.setdefault(name, ([], None))
        sequences.append(str(data.get("SequenceNumber", "")))
        out[name] = (sequences, resources or known)
    return out


class ReconcilerHandler:
    """One call per invocation: ``handle(event)``."""

    def __init__(self, reconciler: Reconciler, *, partition_key_attr: str = "pk", sort_key_attr: str = "sk") -> None:
        self.reconciler = reconciler
        self._pk, self._sk = partition_key_attr, sort_key_attr

    def handle(self, event: Mapping[str, Any]) -> dict[str, Any]:
        if "Records" in event:
            return self._stream(event["Records"])
        if event.get("connector"):
            return _summary(self.reconciler.reconcile(str(event["connector"])))
        if event.get("rescan") or (event.get("detail") or {}).get("rescan"):
            results = self.reconciler.reconcile_all()
            return {"reconciled": [_summary(r) for r in results], "failed": sum(not r.ok for r in results)}
        raise ValueError('Unrecognised reconciler event: expected DynamoDB stream records, {"connector": name} '
                         'or {"rescan": true}')

    def _stream(self, records: list[Mapping[str, Any]]) -> dict[str, Any]:
        failures: list[dict[str, str]] = []
        changes = connector_changes(records, partition_key_attr=self._pk, sort_key_attr=self._sk)
        for name, (sequences, known) in changes.items():
            try:
                result = self.reconciler.reconcile(name, known_resources=known)
            except Exception:
                log.exception("reconcile of %s raised", name)
                failures.extend({"itemIdentifier": s} for s in sequences if s)
                continue
            if not result.ok:
                log.error("reconcile of %s failed: %s", name, result.error)
                if result.retriable:
                    failures.extend({"itemIdentifier": s} for s in sequences if s)
        return {"batchItemFailures": failures}


def _summary(result: ReconcileResult) -> dict[str, Any]:
    out: dict[str, Any] = {"connector": result.name, "action": result.action, "state": result.state}
    if result.error:
        out["error"] = result.error.strip().splitlines()[-1]
    return out


def handler_from_env(env: Mapping[str, str] = os.environ) -> ReconcilerHandler:
    """The handler as the reconciler function builds it once per container."""
    from lambda_connect.state.base import open_store

    from .platform import AwsPlatform

    store = open_store(env.get("LAMBDA_CONNECT_STATE_URL"))
    return ReconcilerHandler(Reconciler(store, AwsPlatform.from_env(env)))
