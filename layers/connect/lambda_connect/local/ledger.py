"""What ``lambda-connect up`` remembers between runs, in its state store.

Two things a restarted runtime must know about the run before it:

* **Its broker.** The embedded tansu keeps topics and committed group offsets in memory, so a
  new embedded broker starts empty while the state store still holds the source connectors'
  committed positions. Each run records the broker it used (cluster id, storage) and, every
  few seconds, how far each topic and each sink had got. A start that finds an in-memory
  broker from an earlier run reports per connector what was lost (:func:`previous_run_report`)
  instead of carrying on as if nothing happened.
* **Itself.** A runtime killed with ``kill -9`` leaves its source tasks' leases held until they
  expire (the invocation's budget plus a 30 s margin). Each run registers an instance tag that
  prefixes the request ids of its source invocations (so the lease owner names the runtime);
  a later start on the same host finds the earlier instance dead and releases its leases at
  once (:meth:`Ledger.release_dead_leases`).

The record lives in the store's resources under :data:`LEDGER_KEY`, a name with an ISO control
character, which no connector can have.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import time
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

__all__ = ["LEDGER_KEY", "Ledger", "count_positions", "previous_run_report"]

log = logging.getLogger(__name__)

#: The reserved resources entry (``\x1f``: connector names may not contain control characters).
LEDGER_KEY = "\x1flambda-connect/local-runtime"


def _process_start(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (tells a live process from a reused PID); Linux only."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _alive(pid: int, started: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process with that PID: not ours to judge, treat as alive
    return started is None or _process_start(pid) in (None, started)


class Ledger:
    """The runtime's record in the state store; read at start, written as the run goes."""

    def __init__(self, store: Any) -> None:
        self.store = store
        try:
            self.data: dict[str, Any] = dict(store.get_resources(LEDGER_KEY) or {})
        except Exception:  # a store that cannot hold it: run without memory of earlier runs
            log.warning("cannot read the local runtime's record from the state store", exc_info=True)
            self.data = {}
        self.previous_broker: dict[str, Any] | None = self.data.get("broker")
        self.previous_positions: dict[str, Any] | None = self.data.get("positions")
        self.tag = uuid.uuid4().hex[:8]

    def save(self) -> None:
        try:
            self.store.put_resources(LEDGER_KEY, self.data)
        except Exception:  # losing the record only makes the next start's report vaguer
            log.warning("cannot write the local runtime's record to the state store", exc_info=True)

    # --- the broker -------------------------------------------------------------------------
    def record_broker(self, *, cluster_id: str, bootstrap: str, storage: str | None) -> None:
        """Remember this run's broker; ``storage`` None: an external cluster."""
        self.data["broker"] = {"cluster_id": cluster_id, "bootstrap": bootstrap, "storage": storage,
                               "in_memory": bool(storage and storage.startswith("memory:")), "since": time.time()}
        self.data.pop("positions", None)
        self.save()

    def record_positions(self, topics: Mapping[str, int], sinks: Mapping[str, Mapping[str, int]]) -> None:
        """How many records each topic holds and each sink has committed, now."""
        self.data["positions"] = {"taken_at": time.time(), "topics": dict(topics),
                                  "sinks": {k: dict(v) for k, v in sinks.items()}}
        self.save()

    # --- runtime instances ------------------------------------------------------------------
    def register_instance(self) -> str:
        """Record this process; returns the tag its source invocations' request ids start with."""
        instances = self.data.setdefault("instances", {})
        instances[self.tag] = {"host": socket.gethostname(), "pid": os.getpid(), "start": _process_start(os.getpid())}
        self.save()
        return self.tag

    def unregister_instance(self) -> None:
        self.data.get("instances", {}).pop(self.tag, None)
        self.save()

    def dead_instances(self) -> list[str]:
        """Tags of earlier runtimes on this host whose process is gone."""
        host = socket.gethostname()
        return [tag for tag, info in self.data.get("instances", {}).items()
                if tag != self.tag and info.get("host") == host
                and not _alive(int(info.get("pid") or 0), info.get("start"))]

    def release_dead_leases(self, connectors: Iterable[str]) -> list[str]:
        """Release the live source-task leases held by dead runtimes of this host; forget them.

        Their invocations died with their process, so nothing is left to fence: the next tick
        runs the task at once instead of waiting for the lease to expire.
        """
        dead = self.dead_instances()
        if not dead:
            return []
        released = []
        for name in connectors:
            entry = self.store.get_connector(name)
            if entry is None:
                continue
            try:
                tasks = max(int(entry.config.get("tasks.max", 1)), 1)
            except ValueError:
                tasks = 1
            for task in range(tasks):
                lease = self.store.get_lease(name, task)
                if lease is None or lease.expires_at <= time.time():
                    continue
                if any(str(lease.owner).startswith(f"{tag}-") for tag in dead) and self.store.release_lease(lease):
                    released.append(f"{name}-{task}")
        for tag in dead:
            self.data["instances"].pop(tag, None)
        self.save()
        return released


def previous_run_report(ledger: Ledger, *, cluster_id: str, store: Any) -> list[str]:
    """What a new broker means for each connector, when the previous run's broker kept its topics
    in memory (empty when there is nothing to report). One line per connector."""
    previous = ledger.previous_broker
    if not previous or not previous.get("in_memory") or previous.get("cluster_id") == cluster_id:
        return []
    positions = ledger.previous_positions or {}
    topics: dict[str, int] = positions.get("topics") or {}
    sinks: dict[str, dict[str, int]] = positions.get("sinks") or {}
    when = positions.get("taken_at")
    as_of = f" (last counted at {time.strftime('%H:%M:%S', time.localtime(when))})" if when else ""
    gone = (f"the previous run's embedded broker ({previous.get('cluster_id')}) kept its topics in memory; "
            "they are gone")
    lines = []
    for name in store.list_connectors():
        entry = store.get_connector(name)
        if entry is None:
            continue
        kind = (store.get_resources(name) or {}).get("kind")
        if kind == "sink":
            line = _sink_line(name, sinks.get(name), topics, gone, as_of)
            dlq = str(entry.config.get("errors.deadletterqueue.topic.name") or "").strip()
            lines.append(f"{line} Its dead letter queue topic {dlq} is gone too." if dlq else line)
        elif kind == "source":
            line = _source_line(name, store, topics, sinks, gone, as_of)
            if line:
                lines.append(line)
    return lines


def _sink_line(name: str, committed: Mapping[str, int] | None, topics: Mapping[str, int], gone: str,
               as_of: str) -> str:
    text = f"sink connector {name}: {gone}; this broker starts them empty."
    if committed:
        unread = sum(max(topics.get(t, 0) - n, 0) for t, n in committed.items())
        text += (f" It had received {sum(committed.values())} record(s) of {', '.join(sorted(committed))} and not yet "
                 f"{unread}{as_of}; those are lost.")
    else:
        text += " How many records it had not received yet cannot be told (no count was taken)."
    return text + (" Positions it keeps in its target (JDBC, S3, Redis and Iceberg sinks) are re-keyed to the new"
                   " broker when its first record arrives, so new records are not taken for redeliveries.")


def _source_line(name: str, store: Any, topics: Mapping[str, int], sinks: Mapping[str, Mapping[str, int]],
                 gone: str, as_of: str) -> str | None:
    if not store.get_offsets(name):
        return None
    written = sorted(store.get_active_topics(name))
    text = (f"source connector {name}: {gone}. Its committed positions stay, so it will not send again what it wrote"
            f" to {', '.join(written) or 'its topics'}.")
    ahead = []
    for topic in written:
        if topic not in topics:
            continue
        readers = {sink: n[topic] for sink, n in sinks.items() if topic in n}
        best = max(readers.values(), default=0)
        # tansu's end offset can trail the records really there (it counts to the last batch's
        # first offset), so a sink may have read past it: the topic held at least what was read.
        total = max(topics[topic], best)
        ahead.append(f"{total - best} of {total} record(s) in {topic}"
                     + (f" (most read by a sink: {best})" if readers else " (no sink read it)"))
    if ahead:
        text += f" Its positions run ahead of what any sink received by {'; '.join(ahead)}{as_of}: those are lost."
    else:
        text += " How far its positions run ahead of what the sinks received cannot be told (no count was taken)."
    return text + (f" To send everything again: PUT /connectors/{name}/stop, DELETE /connectors/{name}/offsets,"
                   f" PUT /connectors/{name}/resume.")


def count_positions(admin: Any, esms: Mapping[str, Mapping[str, Any]], store: Any,
                    timeout: float = 5.0) -> tuple[dict[str, int], dict]:
    """``(records per topic, records committed per sink and topic)`` for the topics the connectors
    use (``esms``: connector → topic → its mapping). Sinks' counts come from their mappings' last
    commits (no broker round trip), topics' from one ListOffsets request. On an in-memory broker
    every topic starts at offset 0, so an end offset is a record count."""
    from confluent_kafka import TopicPartition
    from confluent_kafka.admin import OffsetSpec

    sinks: dict[str, dict[str, int]] = {}
    wanted: set[str] = set()
    for name, mappings in esms.items():
        for topic, esm in mappings.items():
            sinks.setdefault(name, {})[topic] = sum(esm.stats.last_committed.values())
            wanted.add(topic)
    for name in store.list_connectors():
        if (store.get_resources(name) or {}).get("kind") == "source":
            wanted |= set(store.get_active_topics(name))
    topics: dict[str, int] = {}
    if not wanted:
        return topics, sinks
    metadata = admin.list_topics(timeout=timeout).topics
    request = {TopicPartition(t, p): OffsetSpec.latest() for t in wanted if t in metadata
               for p in metadata[t].partitions}
    if request:
        for tp, future in admin.list_offsets(request, request_timeout=timeout).items():
            topics[tp.topic] = topics.get(tp.topic, 0) + max(future.result(timeout=timeout).offset, 0)
    return topics, sinks
