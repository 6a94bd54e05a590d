"""The state table contract: what a Kafka Connect worker keeps in its config, offset and status
topics, kept instead in one store that every stateless invocation reads and writes.

Three backends implement :class:`StateStore` with identical observable behaviour (one contract
test suite runs against all of them): ``memory://`` (tests, fast local runs), SQL through
SQLAlchemy (``sqlite:///path`` is the local default, ``postgresql://`` and ``mysql://`` work
too) and ``dynamodb://TABLE`` (AWS). :func:`open_store` picks one from a URL or from the
``LAMBDA_CONNECT_STATE_URL`` environment variable.

Concurrency model (why the methods look the way they do):

* Connector configs carry a ``version``. Every change (config or target state) bumps it, and a
  caller passing ``expected_version`` gets a compare-and-set: two REST calls racing on the same
  version cannot both win; the loser gets :class:`ConflictException` and re-reads.
* Task configs are written per connector ``config_version``. Several reconcilers may generate
  them for the same version at once; the first writer wins so tasks never see two different
  assignments for one version, and a newer version always replaces an older one.
* Source tasks hold a lease with a fencing ``epoch``. The epoch only ever grows (also across
  expiry and release), and offsets committed with an epoch are written only while that epoch
  is still current, so a zombie invocation that lost its lease cannot move offsets.

Offsets are keyed by the canonical JSON (sorted keys, no spaces) of the source partition, so
equal maps always address the same entry. Timestamps are epoch seconds as floats.

Deleting a connector removes everything stored under its name, offsets included (Kafka Connect
keeps offsets of deleted connectors in its offsets topic; here a re-created connector starts
fresh unless offsets are written back through the offsets API).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterable, Mapping

from ..api.errors import ConflictException
from ..runtime.store import ConnectorEntry, Lease, StateStore, StatusEntry, TaskConfigs

__all__ = [
    "DEFAULT_STATE_URL",
    "STATE_URL_ENV",
    "TARGET_STATES",
    "ConnectorEntry",
    "Lease",
    "StateStore",
    "StatusEntry",
    "TaskConfigs",
    "check_config",
    "dedupe_offsets",
    "normalize_target_state",
    "open_store",
    "partition_digest",
    "partition_key",
    "require_task",
    "version_conflict",
]

STATE_URL_ENV = "LAMBDA_CONNECT_STATE_URL"
DEFAULT_STATE_URL = "sqlite:///.lambda-connect/state.db"
TARGET_STATES = ("RUNNING", "PAUSED", "STOPPED")


def normalize_target_state(target_state: str) -> str:
    """Accept Kafka's case-insensitive ``initial_state`` spelling (KIP-980) and reject anything else
    early, so a typo never reaches the reconciler as an unknown state."""
    value = str(target_state).upper()
    if value not in TARGET_STATES:
        raise ValueError(f"Invalid target state {target_state!r}: expected one of {', '.join(TARGET_STATES)}")
    return value


def check_config(config: Mapping[str, str]) -> dict[str, str]:
    """Copy a connector/task config, insisting on string keys and values as Kafka Connect does;
    a non-string slipping in would round-trip differently through each backend."""
    out: dict[str, str] = {}
    for key, value in config.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError(f"Connector config must map strings to strings, got {key!r}: {value!r}")
        out[key] = value
    return out


def partition_key(partition: Mapping) -> str:
    """Canonical JSON of a source partition: equal maps give equal keys whatever their order."""
    return json.dumps(partition, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def partition_digest(partition: Mapping) -> str:
    """A fixed-length key for backends whose key columns cannot hold arbitrarily long JSON."""
    return hashlib.sha256(partition_key(partition).encode()).hexdigest()


def dedupe_offsets(offsets: Iterable[tuple[Mapping, Mapping | None]]) -> dict[str, tuple[dict, dict | None]]:
    """Collapse a commit to one write per partition (the last one wins, like a compacted topic),
    keyed by :func:`partition_key`; transactional backends may not touch one row twice."""
    out: dict[str, tuple[dict, dict | None]] = {}
    for partition, offset in offsets:
        out[partition_key(partition)] = (dict(partition), None if offset is None else dict(offset))
    return out


def require_task(task: int | None) -> int:
    """An epoch fences one task's lease, so a fenced commit must say which task it is."""
    if task is None:
        raise ValueError("commit_offsets: task must be given together with epoch")
    return int(task)


def version_conflict(name: str, expected: int, found: int | None) -> ConflictException:
    """The error a lost compare-and-set on a connector config raises, worded alike everywhere."""
    seen = f", found {found}" if found is not None else ""
    return ConflictException(f"Connector {name} was modified concurrently: expected version {expected}{seen}")


def now() -> float:
    """Current time in epoch seconds (one place, so every backend stamps alike)."""
    return time.time()


def open_store(url: str | None = None) -> StateStore:
    """Open the store named by ``url``, else ``$LAMBDA_CONNECT_STATE_URL``, else the local SQLite file.

    Backends import their drivers only here, so importing the state package stays cheap and a
    Lambda that talks to DynamoDB never loads SQLAlchemy.
    """
    url = url or os.environ.get(STATE_URL_ENV) or DEFAULT_STATE_URL
    scheme = url.split(":", 1)[0].lower()
    if scheme == "memory":
        from .memory import InMemoryStateStore

        return InMemoryStateStore()
    if scheme == "dynamodb":
        from .dynamodb import DynamoDBStateStore

        return DynamoDBStateStore.from_url(url)
    from .sql import SqlStateStore

    return SqlStateStore(url)
