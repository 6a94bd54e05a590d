"""Snapshots beyond the first one: ``snapshot.mode=always`` and blocking snapshot signals.

**A start, for ``snapshot.mode=always``.** Debezium copies the tables every time its task starts.
Here a task "starts" on every scheduled tick, so a tick alone cannot be the start. What marks a new
start is a new set of *task configs*: the source runtime asks the connector for task configs (and
stores them) when the connector is created, when its config changes, when it is restarted through
``POST /connectors/{name}/restart`` (the reconciler clears the stored configs), when it resumes after
STOPPED (stopping clears them), and after a pause and resume (the entry's version moves with its
target state, and the runtime regenerates task configs for every new version). A restart of one task
alone (``POST /connectors/{name}/tasks/{id}/restart``) keeps them: it is not a start here.
``CdcSourceConnector.task_configs`` therefore puts a fresh token under :data:`GENERATION_KEY`
into the task config when ``snapshot.mode=always``, and every offset the task writes carries the
token it runs with (:data:`GENERATION_FIELD`). A tick whose token differs from the stored one is
the first of a new start: it plans a snapshot of every captured table, taken in chunks across
ticks while streaming goes on from the stored position, exactly as the initial snapshot is (so no
change is lost), and ticks of the same start carry on with it.

**Blocking snapshots** (``execute-snapshot`` whose data has ``"type": "blocking"``). The task stops
streaming at the signal row, stores that position with the plan (a heartbeat record), and then
copies the listed tables in primary-key chunks, as many ticks as it takes, without reading the
change stream. Every snapshot row carries the position of the signal, so when the last table is
copied the stream resumes right after the signal: every change since then is published after the
copy (a change made while the copy ran shows up twice — in the copy and again from the stream —
but never goes missing, and the stream's last word on each key is the newest one). Rows are marked
as Debezium marks the rows of an initial or blocking snapshot: ``first`` (the first row of the first
table), ``first_in_data_collection``, ``true``, ``last_in_data_collection``, ``last`` (the last row
of the last table).

The connector classes mix :class:`SnapshotPlans` in and provide ``_blocking_rows`` (one chunk of a
table) and ``_blocking_source`` (the ``source`` block of a snapshot row).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from lambda_connect.api import SourceRecord, Struct

from .common import chunk_size, heartbeat_record, snapshot_offset_fields

__all__ = [
    "BLOCKING_FIELDS",
    "GENERATION_FIELD",
    "GENERATION_KEY",
    "Blocking",
    "SnapshotPlans",
    "blocking_signal",
    "snapshot_marker",
    "task_generation",
    "with_generation",
]

log = logging.getLogger(__name__)

#: Task-config key holding the token of the current start (set by the connector, never by users).
GENERATION_KEY = "lambda.connect.task.generation"
#: Offset field: the token of the start whose ticks wrote the offset.
GENERATION_FIELD = "snapshot_generation"
_B_TABLES, _B_AFTER, _B_TOTAL = "snapshot_blocking_tables", "snapshot_blocking_after", "snapshot_blocking_total"
BLOCKING_FIELDS = (_B_TABLES, _B_AFTER, _B_TOTAL)
#: Offset fields that describe snapshot plans rather than a place in the change stream.
_PLAN_FIELDS = frozenset({"snapshot", "snapshot_tables", "snapshot_after", "snapshot_incremental", "snapshot_first",
                          "ts_heartbeat", GENERATION_FIELD, *BLOCKING_FIELDS})


# --- snapshot.mode=always ------------------------------------------------------------------------

def _always(props: Mapping[str, Any]) -> bool:
    return str(props.get("snapshot.mode") or "").strip().lower() == "always"


def with_generation(props: Mapping[str, str]) -> dict[str, str]:
    """The task config for ``props``: with ``snapshot.mode=always``, a new start token added."""
    config = dict(props)
    if _always(props):
        config[GENERATION_KEY] = uuid.uuid4().hex
    return config


def task_generation(props: Mapping[str, Any]) -> str:
    """The start token a task runs with. A task config made without the connector (a test, a
    hand-made config) has none: then the config itself stands for the start, so that only a
    change of it counts as a new one — never every tick."""
    token = props.get(GENERATION_KEY)
    if token:
        return str(token)
    text = json.dumps({k: str(v) for k, v in props.items()}, sort_keys=True)
    return "config-" + hashlib.sha256(text.encode()).hexdigest()[:24]


# --- blocking snapshots --------------------------------------------------------------------------

@dataclass
class Blocking:
    """A blocking snapshot in progress: the tables still to copy (the first one under way, past the
    key ``after``), how many the signal listed, and the stream position of the signal."""

    tables: list[str]
    after: list | None
    total: int
    position: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_offset(cls, stored: Mapping[str, Any]) -> Blocking | None:
        tables = [t for t in str(stored.get(_B_TABLES) or "").split(",") if t]
        if not tables:
            return None
        after = json.loads(stored[_B_AFTER]) if stored.get(_B_AFTER) else None
        return cls(tables, after, int(stored.get(_B_TOTAL) or len(tables)), stream_position(stored))

    def fields(self, offset: dict[str, Any]) -> None:
        offset[_B_TABLES] = ",".join(self.tables)
        offset[_B_AFTER] = json.dumps(self.after, default=str) if self.after is not None else None
        offset[_B_TOTAL] = self.total


def stream_position(offset: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of ``offset`` that say where in the change stream it is (no snapshot plans)."""
    return {k: v for k, v in offset.items() if k not in _PLAN_FIELDS}


def blocking_signal(signal_id: str, kind: str | None, data: str | None,
                    known: Callable[[str], bool]) -> list[str] | None:
    """The tables an ``execute-snapshot`` signal of type ``blocking`` asks for (only those ``known``
    accepts; possibly none), or None when the signal is not a blocking snapshot."""
    if (kind or "").strip().lower() != "execute-snapshot":
        return None
    try:
        body = json.loads(data) if data else {}
        if str(body.get("type") or "").strip().lower() != "blocking":
            return None
        tables = [str(t) for t in (body.get("data-collections") or [])]
    except (ValueError, AttributeError, TypeError):
        return None  # apply_signal reports it
    unknown = [t for t in tables if not known(t)]
    if unknown:
        log.warning("Signal %s: %s not captured by this connector's filters; left out of the blocking snapshot",
                    signal_id, ", ".join(unknown))
    wanted = list(dict.fromkeys(t for t in tables if known(t)))
    if not wanted:
        log.warning("Signal %s asks for a blocking snapshot of no captured table: ignored", signal_id)
    return wanted


def snapshot_marker(first_table: bool, last_table: bool, first_in_table: bool, last_in_table: bool) -> str:
    """``source.snapshot`` of one row of an initial or blocking snapshot, as Debezium marks it."""
    if last_in_table and last_table:
        return "last"
    if first_in_table and first_table:
        return "first"
    if last_in_table:
        return "last_in_data_collection"
    if first_in_table:
        return "first_in_data_collection"
    return "true"


class SnapshotPlans:
    """What both CDC tasks share for ``snapshot.mode=always`` and blocking snapshots (see the
    module docstring). Expects ``_cfg``, ``_partition``, ``_prefix``, ``_emitter`` and ``_snapshot``
    of the task, and the two hooks ``_blocking_rows`` and ``_blocking_source``."""

    _cfg: Mapping[str, Any]
    _partition: dict[str, Any]
    _prefix: str
    _snapshot: dict[str, Any] | None
    _emitter: Any
    _generation: str | None = None
    _blocking: Blocking | None = None
    #: The stream is not read in this tick any more: a blocking snapshot holds it at its signal.
    _paused: bool = False

    #: Hook: up to ``limit`` rows of ``table`` past the key ``after`` in key order, as (the table's
    #: shape, the raw rows, a function giving a raw row's key as an offset stores it).
    _blocking_rows: Callable[[str, list | None, int], tuple[Any, list[list], Callable[[list], list]]]
    #: Hook: the ``source`` block of a snapshot row of ``shape`` marked ``marker``.
    _blocking_source: Callable[[Any, str], Struct]
    #: The tasks' own: every table the filters capture, as qualified names.
    _captured_tables: Callable[[], list[str]]

    # starts ---------------------------------------------------------------------------------
    def _plan_start(self, props: Mapping[str, Any], mode: str, stored: Mapping[str, Any],
                    snapshot: dict[str, Any] | None, captured: Callable[[], list[str]]) -> dict[str, Any] | None:
        """At task start: the blocking snapshot the stored offset holds, and under
        ``snapshot.mode=always`` a new full snapshot when this tick is the first of a new start.
        Returns the (initial or incremental) snapshot plan to follow."""
        self._blocking = Blocking.from_offset(stored)
        self._generation = task_generation(props) if mode == "always" else None
        if self._generation is not None and stored.get(GENERATION_FIELD) != self._generation:
            tables = captured()
            log.info("snapshot.mode=always: connector started anew (created, restarted, resumed after a stop or "
                     "reconfigured): copying %d table(s) again while streaming goes on from %s", len(tables),
                     "the stored position" if stored else "the current position")
            self._blocking = None  # the full copy covers its tables; the stream stays where it was
            snapshot = {"tables": tables, "after": None}
        self._paused = self._blocking is not None
        return snapshot

    def _plan_fields(self, offset: dict[str, Any], blocking: Blocking | None = None) -> None:
        """The start token and the blocking snapshot (``blocking``, else the current one) of an offset."""
        if self._generation is not None:
            offset[GENERATION_FIELD] = self._generation
        state = blocking if blocking is not None else self._blocking
        if state is not None:
            state.fields(offset)

    # blocking snapshots ---------------------------------------------------------------------
    def _existing(self, known: Callable[[str], bool]) -> Callable[[str], bool]:
        """``known`` narrowed to tables that exist now (asked once, on the first table checked)."""
        tables: set[str] | None = None

        def check(table: str) -> bool:
            nonlocal tables
            if not known(table):
                return False
            if tables is None:
                tables = set(self._captured_tables())
            return table in tables

        return check

    def _blocking_begin(self, tables: list[str], offset: Mapping[str, Any], signal_id: str) -> SourceRecord:
        """A blocking signal was read at ``offset``: hold the stream there and plan the copy. The
        returned heartbeat stores the plan with the signal's position."""
        self._blocking = Blocking(list(tables), None, len(tables), stream_position(offset))
        self._paused = True
        log.info("Signal %s: blocking snapshot of %s; streaming resumes after the signal once it is copied",
                 signal_id, ", ".join(tables))
        out = dict(offset)
        self._plan_fields(out)
        return self._plan_heartbeat(out)

    def _blocking_step(self) -> list[SourceRecord] | None:
        """The records of the next chunk of the blocking snapshot; None when none is in progress.
        The last row's offset (or a heartbeat, when the last tables were empty) holds the signal's
        position without the plan, so the next tick streams on from there."""
        state = self._blocking
        if state is None:
            return None
        size = chunk_size(self._cfg)
        tables, after = list(state.tables), state.after
        while tables:
            table = tables[0]
            first_table = len(tables) == state.total
            shape, rows, key_of = self._blocking_rows(table, after, size + 1)
            more = len(rows) > size
            rows = rows[:size]
            if not rows:
                tables, after = tables[1:], None
                continue
            last_table = len(tables) == 1
            records: list[SourceRecord] = []
            for i, raw in enumerate(rows):
                first_in, last_in = after is None and i == 0, not more and i == len(rows) - 1
                rest = Blocking(tables[1:], None, state.total, state.position) if last_in else \
                    Blocking(tables, key_of(raw), state.total, state.position)
                left: Blocking | None = rest if rest.tables else None
                offset = dict(state.position)
                snapshot_offset_fields(self._snapshot, offset)
                if self._generation is not None:
                    offset[GENERATION_FIELD] = self._generation
                if left is not None:
                    left.fields(offset)
                marker = snapshot_marker(first_table, last_table, first_in, last_in)
                records.extend(self._emitter.records(shape, "r", None, shape.value(raw),
                                                     self._blocking_source(shape, marker), shape.key(raw), None,
                                                     None, offset))
            self._blocking = left
            if left is None:
                log.info("Blocking snapshot finished: streaming resumes after its signal at the next tick")
            return records
        self._blocking = None
        offset = dict(state.position)
        snapshot_offset_fields(self._snapshot, offset)
        if self._generation is not None:
            offset[GENERATION_FIELD] = self._generation
        log.info("Blocking snapshot finished: streaming resumes after its signal at the next tick")
        return [self._plan_heartbeat(offset)]

    def _plan_heartbeat(self, offset: dict[str, Any]) -> SourceRecord:
        return heartbeat_record(self._partition, offset, self._cfg["topic.heartbeat.prefix"], self._prefix,
                                int(time.time() * 1000))

